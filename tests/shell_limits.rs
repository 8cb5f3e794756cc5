//! The bounds on input-driven buffers (`src/shell/limits.rs`): command-substitution output,
//! here-document bodies, `read` lines and the history file each fail with a clear error past
//! their limit instead of growing without bound.

mod common;

use common::{wirelab, wirelab_c};

/// Runs `wirelab shell SCRIPT` in `dir` with a generous deadline (the big inputs take a few
/// seconds in a debug build on a loaded machine).
fn run_script(dir: &std::path::Path, script: &str) -> common::Outcome {
    let child = std::process::Command::new(wirelab())
        .args(["shell", script])
        .current_dir(dir)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    common::wait_with_deadline(child, std::time::Duration::from_secs(120))
}

#[test]
fn endless_command_substitution_fails_with_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = wirelab_c(dir.path(), "x=$(cat /dev/zero); echo after");
    assert_eq!(out.status, 2, "{out:?}");
    assert_eq!(out.stdout, "");
    assert_eq!(
        out.stderr,
        "wirelab: 1: command substitution output exceeds 268435456 bytes\n"
    );
}

#[test]
fn command_substitution_that_ignores_sigpipe_is_still_stopped() {
    let dir = tempfile::tempdir().expect("tempdir");
    // The substituted shell ignores SIGPIPE and would write forever; it must be killed.
    let out = wirelab_c(
        dir.path(),
        "x=$(trap '' PIPE; cat /dev/zero; while :; do :; done) || :; echo after",
    );
    assert_eq!(out.status, 2, "{out:?}");
    assert!(out.stderr.contains("output exceeds"), "{out:?}");
}

#[test]
fn overlong_read_line_fails_and_the_next_line_is_intact() {
    let dir = tempfile::tempdir().expect("tempdir");
    let script = "{ head -c 1100000 /dev/zero | tr '\\0' a; echo; echo next; } | \
                  { read x; echo st=$? ${#x}; read y; echo $y; }";
    let out = wirelab_c(dir.path(), script);
    assert_eq!(out.stdout, "st=2 0\nnext\n", "{}", out.stderr);
    assert_eq!(out.stderr, "wirelab: 1: read: line exceeds 1048576 bytes\n");
}

#[test]
fn read_accepts_a_long_line_under_the_limit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let script = "head -c 100000 /dev/zero | tr '\\0' a | { read x; echo st=$? ${#x}; }";
    let out = wirelab_c(dir.path(), script);
    assert_eq!(out.stdout, "st=1 100000\n", "{}", out.stderr);
}

#[test]
fn oversized_here_document_is_a_syntax_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let line = "x".repeat(1023) + "\n";
    let mut script = String::from("cat <<EOF | wc -c\n");
    for _ in 0..(33 << 10) {
        script.push_str(&line);
    }
    script.push_str("EOF\necho after\n");
    std::fs::write(dir.path().join("big.sh"), &script).expect("write");
    let out = run_script(dir.path(), "big.sh");
    assert_eq!(out.status, 2, "{out:?}");
    assert_eq!(out.stdout, "");
    assert!(
        out.stderr.contains("here-document exceeds 33554432 bytes"),
        "{out:?}"
    );
}

#[test]
fn history_file_lines_past_the_limit_are_skipped_with_a_warning() {
    let dir = tempfile::tempdir().expect("tempdir");
    let hist = dir.path().join("wirelab");
    std::fs::create_dir_all(&hist).expect("mkdir");
    let long = "y".repeat(70_000);
    std::fs::write(
        hist.join("history"),
        format!("echo one\n{long}\necho two\n"),
    )
    .expect("write");
    let out = std::process::Command::new(wirelab())
        .args(["shell", "-i"])
        .env("XDG_STATE_HOME", dir.path())
        .env("TERM", "dumb")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            if let Some(mut i) = c.stdin.take() {
                i.write_all(b"history\nexit\n")?;
            }
            c.wait_with_output()
        })
        .expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stdout.contains("echo one") && stdout.contains("echo two"),
        "{stdout}"
    );
    assert!(!stdout.contains("yyyy"), "{stdout}");
    assert!(
        stderr.contains("history: skipped 1 lines longer than 65536 bytes"),
        "{stderr}"
    );
}

#[test]
fn oversized_history_file_is_not_loaded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let hist = dir.path().join("wirelab");
    std::fs::create_dir_all(&hist).expect("mkdir");
    let f = std::fs::File::create(hist.join("history")).expect("create");
    f.set_len((16 << 20) + 1).expect("set_len");
    let out = std::process::Command::new(wirelab())
        .args(["shell", "-i"])
        .env("XDG_STATE_HOME", dir.path())
        .env("TERM", "dumb")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("exceeds 16777216 bytes; not loaded"),
        "{stderr}"
    );
    let len = std::fs::metadata(hist.join("history")).expect("meta").len();
    assert_eq!(len, (16 << 20) + 1, "the file is left alone");
}

#[test]
fn oversized_command_is_a_syntax_error_not_a_truncated_command() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut script = String::from("echo start\necho ");
    script.push_str(&"a".repeat((64 << 20) + 10));
    script.push_str("\necho after\n");
    std::fs::write(dir.path().join("long.sh"), &script).expect("write");
    drop(script);
    let out = run_script(dir.path(), "long.sh");
    assert_eq!(out.status, 2, "{}", out.stderr);
    assert_eq!(out.stdout, "start\n");
    assert_eq!(
        out.stderr,
        "long.sh: 2: command exceeds 67108864 characters\n"
    );
}

#[test]
fn here_document_cut_off_by_the_input_bound_is_not_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Under the here-document bound per line count, but one line past the command bound.
    let mut script = String::from("cat <<EOF | wc -c\n");
    script.push_str(&"z".repeat((64 << 20) + 10));
    script.push_str("\nEOF\necho after\n");
    std::fs::write(dir.path().join("cut.sh"), &script).expect("write");
    drop(script);
    let out = run_script(dir.path(), "cut.sh");
    assert_eq!(out.status, 2, "{}", out.stderr);
    assert_eq!(out.stdout, "");
    assert!(out.stderr.contains("command exceeds"), "{}", out.stderr);
}
