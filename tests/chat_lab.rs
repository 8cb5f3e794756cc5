//! The chat lab's scenario scripts, each run as `wirelab shell labs/chat/FILE.sh` against real
//! node processes: every attack is detected and counted, sessions are re-established, and
//! `chat check` finds every room's log identical at every member.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

fn scripts() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("labs/chat");
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "sh"))
        .collect();
    v.sort();
    let embedded = wirelab::lab::scenario::of("chat");
    for s in &v {
        let name = s.file_stem().unwrap().to_str().unwrap();
        assert!(
            embedded.iter().any(|e| e.name == name),
            "{name}.sh is not embedded"
        );
        let text = std::fs::read_to_string(s).unwrap();
        assert!(text.starts_with("# "), "{name}.sh lacks its summary line");
    }
    assert!(v.len() >= 6, "{v:?}");
    v
}

fn run(script: &Path) {
    let state = tempfile::tempdir().unwrap();
    let o = Command::new(common::wirelab())
        .arg("shell")
        .arg(script)
        .env("XDG_STATE_HOME", state.path())
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run wirelab shell");
    let out = String::from_utf8_lossy(&o.stdout);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{} failed:\n{out}\n{err}",
        script.display()
    );
    assert!(out.contains("identical at"), "{out}");
    assert!(
        !out.contains("differs") && !out.contains("did not catch up"),
        "{out}"
    );
}

#[test]
fn every_chat_scenario_script_passes_with_identical_logs_at_the_end() {
    let scripts = scripts();
    // Two at a time: each script runs ten processes.
    for pair in scripts.chunks(2) {
        std::thread::scope(|scope| {
            for s in pair {
                scope.spawn(move || run(s));
            }
        });
    }
}
