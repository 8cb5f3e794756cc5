//! Helpers shared by the shell integration tests: running the built binary and dash with a
//! deadline, and deciding whether a missing external tool skips or fails a test.

#![allow(dead_code)]

pub mod cluster;

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// What a finished process produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
    /// Exit status (128+n for a signal, -1 on timeout).
    pub status: i32,
}

/// The path of the built `wirelab` binary.
pub fn wirelab() -> &'static str {
    env!("CARGO_BIN_EXE_wirelab")
}

/// True when `tool` is on PATH. When it is not: prints why the test is skipped and returns
/// false, or panics when `WIRELAB_REQUIRE_EXTERNAL=1` (CI installs the tools).
pub fn require_tool(tool: &str) -> bool {
    let found = std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .any(|d| Path::new(d).join(tool).is_file());
    if found {
        return true;
    }
    if std::env::var("WIRELAB_REQUIRE_EXTERNAL").as_deref() == Ok("1") {
        panic!("{tool} is required (WIRELAB_REQUIRE_EXTERNAL=1) but not installed");
    }
    eprintln!("skipping: {tool} is not installed (apt-get install {tool})");
    false
}

/// Waits for a child with a deadline; kills it (and reports -1) when the deadline passes.
pub fn wait_with_deadline(mut child: Child, deadline: Duration) -> Outcome {
    let mut out = child.stdout.take();
    let mut err = child.stderr.take();
    let t_out = std::thread::spawn(move || {
        let mut s = Vec::new();
        if let Some(o) = out.as_mut() {
            let _ = o.read_to_end(&mut s);
        }
        s
    });
    let t_err = std::thread::spawn(move || {
        let mut s = Vec::new();
        if let Some(e) = err.as_mut() {
            let _ = e.read_to_end(&mut s);
        }
        s
    });
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => {
                use std::os::unix::process::ExitStatusExt;
                break st.code().unwrap_or_else(|| 128 + st.signal().unwrap_or(0));
            }
            Ok(None) if start.elapsed() < deadline => {
                std::thread::sleep(Duration::from_millis(2));
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                break -1;
            }
        }
    };
    let stdout = String::from_utf8_lossy(&t_out.join().unwrap_or_default()).into_owned();
    let stderr = String::from_utf8_lossy(&t_err.join().unwrap_or_default()).into_owned();
    Outcome {
        stdout,
        stderr,
        status,
    }
}

/// Runs `program args…` in `dir` with stdin from `/dev/null` (or `stdin` when given).
pub fn run_in(dir: &Path, program: &str, args: &[&str], stdin: Option<&str>) -> Outcome {
    run_in_as(dir, program, None, args, stdin)
}

/// Like [`run_in`], with `argv[0]` set to `arg0` when given.
pub fn run_in_as(
    dir: &Path,
    program: &str,
    arg0: Option<&str>,
    args: &[&str],
    stdin: Option<&str>,
) -> Outcome {
    use std::os::unix::process::CommandExt;
    let mut cmd = Command::new(program);
    if let Some(a) = arg0 {
        cmd.arg0(a);
    }
    cmd.args(args)
        .current_dir(dir)
        .env("PWD", dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            return Outcome {
                stdout: String::new(),
                stderr: e.to_string(),
                status: -2,
            };
        }
    };
    if let Some(input) = stdin {
        let mut sin = child.stdin.take();
        let data = input.to_string();
        std::thread::spawn(move || {
            use std::io::Write;
            if let Some(s) = sin.as_mut() {
                let _ = s.write_all(data.as_bytes());
            }
        });
    }
    wait_with_deadline(child, Duration::from_secs(20))
}

/// Runs `wirelab shell -c script wirelab` in `dir`.
pub fn wirelab_c(dir: &Path, script: &str) -> Outcome {
    run_in(dir, wirelab(), &["shell", "-c", script, "wirelab"], None)
}

/// One case of a conformance table.
#[derive(Debug, Clone)]
pub struct Case {
    /// What it checks.
    pub name: String,
    /// The script.
    pub script: String,
    /// Compare stderr too.
    pub check_stderr: bool,
    /// Why wirelab deliberately differs from dash here (the case is then not compared; its
    /// behaviour is pinned in `shell_features.rs`).
    pub differs: Option<String>,
}

/// Parses a `.cases` file: `#### name [flags]` headers, each followed by its script.
/// The flag `nostderr` skips the stderr comparison; `differs: REASON` marks a deliberate
/// difference from dash.
pub fn parse_cases(text: &str) -> Vec<Case> {
    let mut cases: Vec<Case> = Vec::new();
    for line in text.split_inclusive('\n') {
        if let Some(h) = line.strip_prefix("#### ") {
            let h = h.trim_end();
            let (name, flags) = match h.find(" [") {
                Some(i) => (&h[..i], &h[i..]),
                None => (h, ""),
            };
            let differs = flags
                .find("differs:")
                .map(|i| flags[i + 8..].trim_end_matches(']').trim().to_string());
            cases.push(Case {
                name: name.to_string(),
                script: String::new(),
                check_stderr: !flags.contains("nostderr"),
                differs,
            });
        } else if let Some(c) = cases.last_mut() {
            c.script.push_str(line);
        }
    }
    cases
}
