//! The interactive shell on a bare pseudo-terminal that never answers terminal queries (the
//! kind `expect`, editors' shell buffers and CI systems give): signals and job control.
//! The shell asks for the cursor position once, gets no answer and uses its plain reader; the
//! prompt must not wait for that, nor may keys typed meanwhile be lost. Each Ctrl-C is sent
//! 100 ms after the command's line, as a person would. Each test owns its terminal and shell
//! and kills both (and the shell's jobs, by hanging it up) when done.

mod common;

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A shell on the slave side of a fresh pty; everything it writes is collected.
struct Pty {
    master: std::fs::File,
    child: Child,
    out: Arc<Mutex<Vec<u8>>>,
    _home: tempfile::TempDir,
}

const GAP: Duration = Duration::from_millis(100);

/// The prompt after a command ended with status 130.
const PROMPT_130: &str = "[130] $ ";

impl Pty {
    fn start() -> Pty {
        let home = tempfile::tempdir().expect("tempdir");
        let pty = nix::pty::openpty(None, None).expect("openpty");
        let slave: OwnedFd = pty.slave;
        let io = |fd: &OwnedFd| Stdio::from(fd.try_clone().expect("dup slave"));
        let mut cmd = Command::new(common::wirelab());
        cmd.arg("shell")
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", home.path())
            .env("XDG_STATE_HOME", home.path().join("state"))
            .env("TERM", "xterm-256color")
            .current_dir(home.path())
            .stdin(io(&slave))
            .stdout(io(&slave))
            .stderr(io(&slave));
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().expect("spawn the shell");
        drop(slave);
        let master = std::fs::File::from(pty.master);
        let out = Arc::new(Mutex::new(Vec::new()));
        let mut reader = master.try_clone().expect("dup master");
        let sink = out.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            // Ends with EIO once the shell and its jobs have closed the terminal.
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .expect("output lock")
                    .extend_from_slice(&buf[..n]);
            }
        });
        Pty {
            master,
            child,
            out,
            _home: home,
        }
    }

    /// A shell past its terminal probe: a first command has run through the plain reader.
    fn ready() -> Pty {
        let p = Pty::start();
        p.line("echo ready-$((6*7))");
        p.wait_for("ready-42");
        p
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.out.lock().expect("output lock")).into_owned()
    }

    fn send(&self, bytes: &[u8]) {
        (&self.master).write_all(bytes).expect("write to the pty");
    }

    /// Types a line and Enter.
    fn line(&self, s: &str) {
        self.send(format!("{s}\r").as_bytes());
    }

    /// Ctrl-C, `GAP` after the line before it was typed.
    fn interrupt(&self) {
        std::thread::sleep(GAP);
        self.send(b"\x03");
    }

    /// Waits until `text` occurs at least `n` times in the output; panics after 10 s.
    fn wait_count(&self, text: &str, n: usize) -> String {
        let start = Instant::now();
        loop {
            let s = self.text();
            if s.matches(text).count() >= n {
                return s;
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "timed out waiting for {n}x {text:?}; output:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn wait_for(&self, text: &str) -> String {
        self.wait_count(text, 1)
    }

    /// Waits until the terminal's foreground process group is not the shell's (a job runs).
    fn wait_job_foreground(&self) {
        let shell = self.child.id() as i32;
        let start = Instant::now();
        loop {
            // SAFETY: tcgetpgrp only reads the terminal's foreground group.
            let pg = unsafe { libc::tcgetpgrp(self.master.as_raw_fd()) };
            if pg > 0 && pg != shell {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "no job took the terminal; output:\n{}",
                self.text()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Runs `cmd`, interrupts it after `GAP`, and checks `$?` is 130 well before the command
    /// could have ended by itself. `n` counts the `st=130` lines expected so far.
    fn interrupted(&self, cmd: &str, n: usize) {
        let start = Instant::now();
        let prompts = self.text().matches(PROMPT_130).count();
        self.line(cmd);
        self.interrupt();
        // The next line is typed at the new prompt, as a person would: typed at once, it
        // could reach the interrupted `read` before the Ctrl-C does.
        self.wait_count(PROMPT_130, prompts + 1);
        self.line("echo st=$?");
        self.wait_count("st=130", n);
        assert!(
            start.elapsed() < Duration::from_secs(4),
            "`{cmd}` ran to its end: {:?}; output:\n{}",
            start.elapsed(),
            self.text()
        );
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        // A hangup makes the shell hang up its jobs and exit; kill it if it does not.
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGHUP);
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(3) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn ctrl_c_interrupts_commands_reads_waits_and_substitutions() {
    let p = Pty::ready();
    p.line("sleep 30 & echo bg-$((1+1))");
    p.wait_for("bg-2");
    for (i, cmd) in [
        "sleep 5",
        "sleep 5 | cat",
        "read x",
        "wait",
        "wait -n",
        "echo $(sleep 5) subst-$((1+1))",
    ]
    .iter()
    .enumerate()
    {
        p.interrupted(cmd, i + 1);
    }
    let s = p.text();
    assert!(!s.contains("subst-2"), "{s}");
    // The background job was not touched by any of the Ctrl-Cs.
    p.line("jobs; kill %1");
    p.wait_for("Running");
}

#[test]
fn ctrl_c_ends_a_whole_loop_and_a_whole_line() {
    let p = Pty::ready();
    p.interrupted("while true; do sleep 0.2; done", 1);
    p.interrupted("for i in 1 2 3; do sleep 5; echo loop-$i; done", 2);
    p.interrupted("sleep 5; echo no-$((1+1))", 3);
    p.interrupted("sleep 5 && echo and-$((1+1)) || echo or-$((1+1))", 4);
    p.line("echo end-$((1+1))");
    let s = p.wait_for("end-2");
    for never in ["loop-1", "no-2", "and-2", "or-2"] {
        assert!(!s.contains(never), "{never} printed:\n{s}");
    }
}

#[test]
fn trapped_signals_interrupt_wait_at_once_and_trap_reset_restores_ctrl_c() {
    let p = Pty::ready();
    p.line(
        "trap 'echo got\"\"-int' INT; trap 'echo got\"\"-hup' HUP; trap 'echo got\"\"-winch' WINCH",
    );
    p.line("sleep 30 & echo bg-$((1+1))");
    p.wait_for("bg-2");
    let shell = nix::unistd::Pid::from_raw(p.child.id() as i32);
    let start = Instant::now();
    p.line("wait; echo st=$?");
    p.interrupt();
    p.wait_for("got-int");
    p.wait_for("st=130");
    for (sig, name, st) in [
        (nix::sys::signal::Signal::SIGHUP, "got-hup", "st=129"),
        (nix::sys::signal::Signal::SIGWINCH, "got-winch", "st=156"),
    ] {
        p.line("wait; echo st=$?");
        std::thread::sleep(GAP);
        nix::sys::signal::kill(shell, sig).expect("signal the shell");
        p.wait_for(name);
        p.wait_for(st);
    }
    assert!(start.elapsed() < Duration::from_secs(10), "{}", p.text());
    p.line("trap - INT");
    p.interrupted("sleep 5; echo no-$((1+1))", 2);
    p.line("echo end-$((1+1))");
    let s = p.wait_for("end-2");
    assert_eq!(s.matches("got-int").count(), 1, "{s}");
    assert!(!s.contains("no-2"), "{s}");
    p.line("kill %1");
}

#[test]
fn ctrl_z_and_fg_repeated_on_a_job_and_a_pipeline_then_ctrl_c() {
    let p = Pty::ready();
    for (round, cmd) in ["sleep 30", "sleep 30 | cat"].iter().enumerate() {
        p.line(cmd);
        for _ in 0..3 {
            p.wait_job_foreground();
            let stopped = p.text().matches("Stopped").count();
            std::thread::sleep(GAP);
            p.send(b"\x1a");
            p.wait_count("Stopped", stopped + 1);
            p.line("fg");
        }
        p.wait_job_foreground();
        p.interrupt();
        p.line("echo st=$?");
        p.wait_count("st=130", round + 1);
    }
}

#[test]
fn fg_after_the_job_exited_is_an_error_not_fatal() {
    let p = Pty::ready();
    p.line("sleep 0.1 &");
    p.line("sleep 0.5");
    p.line("fg; fg; echo ali\"\"ve-st=$?");
    let s = p.wait_for("alive-st=");
    p.line("echo end-$((1+1))");
    p.wait_for("end-2");
    assert!(s.contains("fg:"), "no error message:\n{s}");
    assert!(!p.text().contains("alive-st=0"), "{}", p.text());
}

#[test]
fn a_syntax_error_at_the_prompt_sets_status_2() {
    let p = Pty::ready();
    p.line("if then");
    p.line("echo st=$?");
    p.wait_for("st=2");
    p.line(")");
    p.line("echo st2=$?");
    p.wait_for("st2=2");
}

#[test]
fn the_prompt_comes_first_and_keys_typed_during_the_probe_are_kept() {
    let p = Pty::start();
    // Typed at once, while the shell still waits for an answer to its query.
    p.line("echo early-$((1+0))");
    p.line("echo early-$((1+1))");
    let s = p.wait_for("early-2\r");
    let one = s.find("early-1\r").expect("the first line ran");
    assert!(one < s.find("early-2\r").unwrap_or(0), "{s}");
    // The prompt was written before the query, so it did not wait for the answer.
    let query = s.find("\x1b[6n").expect("the terminal was asked once");
    assert!(s[..query].contains(" $ "), "prompt after the query:\n{s:?}");
    // A Ctrl-C typed before the probe ends still interrupts. (Typed once the prompt is up:
    // before its signal handlers are in place, Ctrl-C would end any shell.)
    drop(p);
    let p = Pty::start();
    p.wait_for(" $ ");
    p.interrupted("sleep 5", 1);
    // Asked once: later prompts use the plain reader without asking again.
    p.line("echo end-$((1+1))");
    let s = p.wait_for("end-2");
    assert_eq!(s.matches("\x1b[6n").count(), 1, "{s:?}");
}

#[test]
fn lines_typed_while_a_command_runs_all_run_in_order() {
    let p = Pty::ready();
    p.line("sleep 1");
    p.wait_job_foreground();
    for i in 1..=3 {
        p.line(&format!("echo ahead-$(({i}*10))"));
    }
    let s = p.wait_for("ahead-30\r");
    let at = |w: &str| s.find(w).unwrap_or(usize::MAX);
    assert!(
        at("ahead-10\r") < at("ahead-20\r") && at("ahead-20\r") < at("ahead-30\r"),
        "{s}"
    );
}

#[test]
fn bash_extras_at_the_prompt() {
    let p = Pty::ready();
    p.line("false | true; echo ps=${PIPESTATUS[@]}-x");
    p.wait_for("ps=1 0-x");
    p.line("echo -e 'e\\tflag'; echo -E 'big\\tE'");
    p.wait_for("e\tflag");
    p.wait_for("big\\tE\r");
    p.line("[ $RANDOM -lt 32768 ] && [ $PPID -gt 0 ] && echo vars-$((1+1))");
    p.wait_for("vars-2");
}
