//! A terminal as a person sees it: the built binary in a detached tmux session on a private
//! tmux server, driven with `send-keys` and read with `capture-pane`. Dropping the driver kills
//! the server, and then any node process left under its state dir.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// A running tmux session.
pub struct Tmux {
    socket: String,
    /// The `XDG_STATE_HOME` of the program (a temp dir).
    pub state: tempfile::TempDir,
}

impl Tmux {
    /// Starts `program args…` in a `w`×`h` terminal.
    pub fn start(program: &str, args: &[&str], w: u16, h: u16) -> Tmux {
        let state = tempfile::tempdir().expect("temp state dir");
        let socket = format!("wirelab-test-{}-{}", std::process::id(), rand_suffix());
        let mut cmd = format!(
            "env XDG_STATE_HOME={} TERM=xterm-256color {}",
            shell_quote(&state.path().to_string_lossy()),
            shell_quote(program)
        );
        for a in args {
            cmd.push(' ');
            cmd.push_str(&shell_quote(a));
        }
        let t = Tmux { socket, state };
        let out = t.tmux(&[
            "new-session",
            "-d",
            "-s",
            "t",
            "-x",
            &w.to_string(),
            "-y",
            &h.to_string(),
            &cmd,
        ]);
        assert!(out.status.success(), "tmux new-session: {out:?}");
        t
    }

    fn tmux(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .args(["-L", &self.socket, "-f", "/dev/null"])
            .args(args)
            .output()
            .expect("run tmux")
    }

    /// Sends tmux key names (`Enter`, `Tab`, `q`, `C-c`).
    pub fn keys(&self, keys: &[&str]) {
        let mut a = vec!["send-keys", "-t", "t"];
        a.extend_from_slice(keys);
        self.tmux(&a);
    }

    /// Types text literally.
    pub fn text(&self, text: &str) {
        self.tmux(&["send-keys", "-t", "t", "-l", text]);
    }

    /// The screen as text.
    pub fn screen(&self) -> String {
        String::from_utf8_lossy(&self.tmux(&["capture-pane", "-p", "-t", "t"]).stdout).into_owned()
    }

    /// The screen with its colours (escape sequences), for recordings.
    pub fn screen_ansi(&self) -> String {
        String::from_utf8_lossy(&self.tmux(&["capture-pane", "-p", "-e", "-t", "t"]).stdout)
            .into_owned()
    }

    /// Closes the terminal (the program gets SIGHUP).
    pub fn hang_up(&self) {
        self.tmux(&["kill-server"]);
    }

    /// Resizes the terminal.
    pub fn resize(&self, w: u16, h: u16) {
        self.tmux(&[
            "resize-window",
            "-t",
            "t",
            "-x",
            &w.to_string(),
            "-y",
            &h.to_string(),
        ]);
    }

    /// Whether the program still runs.
    pub fn alive(&self) -> bool {
        self.tmux(&["has-session", "-t", "t"]).status.success()
    }

    /// Waits until `pred` holds for the screen; the screen, or an error showing it.
    pub fn wait_for(
        &self,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&str) -> bool,
    ) -> Result<String, String> {
        let start = Instant::now();
        loop {
            let s = self.screen();
            if pred(&s) {
                return Ok(s);
            }
            if start.elapsed() > timeout || !self.alive() {
                return Err(format!("timed out waiting for {what}; screen:\n{s}"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until `needle` shows.
    pub fn wait_text(&self, needle: &str, timeout: Duration) -> Result<String, String> {
        self.wait_for(needle, timeout, |s| s.contains(needle))
    }

    /// Waits for the program to end.
    pub fn wait_exit(&self, timeout: Duration) -> bool {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if !self.alive() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }

    /// Pids of `wirelab node` processes whose command line names this state dir.
    pub fn node_processes(&self) -> Vec<u32> {
        node_processes_under(self.state.path())
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        self.tmux(&["kill-server"]);
        let deadline = Instant::now() + Duration::from_secs(5);
        while !self.node_processes().is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        // Whatever is left of the program this test started (matched by its private state
        // dir: the app by its environment, the nodes by their command line), never anyone
        // else's: a failed test must not leave a process behind.
        let mut left = self.node_processes();
        left.extend(processes_with_env(&format!(
            "XDG_STATE_HOME={}",
            self.state.path().to_string_lossy()
        )));
        for pid in left {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        }
    }
}

/// Pids of `wirelab node` processes whose command line contains `dir`.
pub fn node_processes_under(dir: &Path) -> Vec<u32> {
    let needle = dir.to_string_lossy().into_owned();
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in entries.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let path: PathBuf = e.path().join("cmdline");
        let Ok(raw) = std::fs::read(path) else {
            continue;
        };
        let cmd = String::from_utf8_lossy(&raw).replace('\0', " ");
        if cmd.contains(" node ") && cmd.contains(&needle) {
            out.push(pid);
        }
    }
    out
}

/// Pids of processes whose environment holds exactly `entry` (`NAME=value`).
pub fn processes_with_env(entry: &str) -> Vec<u32> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in entries.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(raw) = std::fs::read(e.path().join("environ")) else {
            continue;
        };
        if raw.split(|b| *b == 0).any(|v| v == entry.as_bytes()) {
            out.push(pid);
        }
    }
    out
}

fn rand_suffix() -> u64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos() as u64)
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}
