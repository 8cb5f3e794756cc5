//! The dashboard's shell: one wirelab [`Shell`] with the lab builtins, on a thread of its own
//! (a `Shell` is not `Send`, and a command may block for seconds). Every key action, the `:`
//! command bar and the tour send command strings here; each runs as
//! `eval 'CMD' </dev/null >FILE 2>&1` so its output lands in a file the command log shows.
//! Commands run one at a time, in order (a shell redirection moves the process's fd 1).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc::UnboundedSender;

use crate::lab::LabHost;
use crate::lab::builtins::LabBuiltins;
use crate::shell::Shell;

/// A finished command.
#[derive(Clone, Debug)]
pub struct ShellDone {
    /// The id [`ShellWorker::run`] returned.
    pub id: u64,
    /// Exit status.
    pub status: i32,
    /// stdout and stderr, interleaved as written.
    pub output: String,
    /// How long it ran.
    pub elapsed: Duration,
}

enum Request {
    Run(u64, String),
    Interactive(mpsc::Sender<i32>),
}

/// The handle the UI keeps.
pub struct ShellWorker {
    tx: mpsc::Sender<Request>,
    next_id: u64,
    out_path: PathBuf,
}

/// Quotes `s` for the shell in single quotes.
pub fn single_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

fn new_shell(host: &LabHost) -> Shell {
    let mut sh = Shell::new("wirelab");
    // A SIGINT recorded by [`ShellWorker::cancel`] aborts the whole command line (a loop
    // included), as Ctrl-C does at an interactive prompt. No handler is installed: the
    // dashboard's own SIGINT handler stays in place.
    sh.traps.interactive_int = true;
    sh.add_provider(Arc::new(LabBuiltins::new(
        host.clone(),
        crate::registry::labs(),
    )));
    sh
}

impl ShellWorker {
    /// Starts the worker; results arrive on `done`.
    pub fn start(host: LabHost, done: UnboundedSender<ShellDone>) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::channel::<Request>();
        let out_path: PathBuf = std::env::temp_dir().join(format!(
            "wirelab-dashboard-{}-{}.out",
            std::process::id(),
            rand::random::<u32>()
        ));
        let worker_path = out_path.clone();
        std::thread::Builder::new()
            .name("dashboard-shell".into())
            .spawn(move || {
                let out_path = worker_path;
                let mut sh = new_shell(&host);
                while let Ok(req) = rx.recv() {
                    match req {
                        Request::Run(id, cmd) => {
                            let t = Instant::now();
                            // An interrupt meant for an earlier command that ended first.
                            let _ = crate::shell::traps::take_sigint();
                            let _ = std::fs::remove_file(&out_path);
                            let line = format!(
                                "eval {} </dev/null >{} 2>&1\n",
                                single_quote(&cmd),
                                single_quote(&out_path.to_string_lossy())
                            );
                            let status = match sh.eval_string(&line) {
                                Ok(s) => s,
                                Err(flow) => crate::shell::exec::flow_status(&sh, flow),
                            };
                            let output = std::fs::read(&out_path)
                                .map(|b| String::from_utf8_lossy(&b).into_owned())
                                .unwrap_or_default();
                            let _ = std::fs::remove_file(&out_path);
                            let _ = done.send(ShellDone {
                                id,
                                status,
                                output,
                                elapsed: t.elapsed(),
                            });
                        }
                        Request::Interactive(reply) => {
                            let code = run_interactive(&host);
                            let _ = reply.send(code);
                        }
                    }
                }
            })?;
        Ok(Self {
            tx,
            next_id: 1,
            out_path,
        })
    }

    /// What the running command has written so far (its output streams into the log).
    pub fn partial_output(&self) -> Option<String> {
        std::fs::read(&self.out_path)
            .ok()
            .map(|b| String::from_utf8_lossy(&b).into_owned())
    }

    /// Queues a command; returns its id.
    pub fn run(&mut self, cmd: &str) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        let _ = self.tx.send(Request::Run(id, cmd.to_string()));
        id
    }

    /// Interrupts the running command: the shell aborts the line at its next step, and the
    /// processes it started (this process's descendants in its own process group: the lab
    /// nodes have groups of their own) get SIGINT, as a terminal's Ctrl-C would send them.
    pub fn cancel(&self) {
        crate::shell::traps::request_interrupt();
        for pid in command_processes() {
            // SAFETY: kill on a pid read from /proc; at worst it is gone (ESRCH).
            unsafe { libc::kill(pid, libc::SIGINT) };
        }
    }

    /// Runs the interactive shell on the terminal and waits for its `exit` (the caller left
    /// full-screen mode first).
    pub fn interactive(&self) -> i32 {
        let (tx, rx) = mpsc::channel();
        if self.tx.send(Request::Interactive(tx)).is_err() {
            return 2;
        }
        rx.recv().unwrap_or(2)
    }
}

impl Drop for ShellWorker {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.out_path);
    }
}

/// This process's descendants that share its process group: what the dashboard's shell
/// started (the supervisor puts each lab node in a group of its own).
fn command_processes() -> Vec<i32> {
    let me = std::process::id() as i32;
    // SAFETY: getpgrp only reads the process's group.
    let group = unsafe { libc::getpgrp() };
    let mut procs: Vec<(i32, i32, i32)> = Vec::new(); // (pid, ppid, pgrp)
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    for e in dir.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // "pid (comm) state ppid pgrp …": comm may hold spaces and parentheses.
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            continue;
        };
        let f: Vec<&str> = rest.split_whitespace().collect();
        if let (Some(ppid), Some(pgrp)) = (
            f.get(1).and_then(|s| s.parse().ok()),
            f.get(2).and_then(|s| s.parse().ok()),
        ) {
            procs.push((pid, ppid, pgrp));
        }
    }
    let mut ours = vec![me];
    let mut found = Vec::new();
    while let Some(parent) = ours.pop() {
        for &(pid, ppid, pgrp) in &procs {
            if ppid == parent && pgrp == group && pid != me {
                found.push(pid);
                ours.push(pid);
            }
        }
    }
    found
}

/// The signals an interactive shell re-disposes (job control, SIGINT, SIGTERM…): saved and put
/// back afterwards, so the dashboard's own handlers work again.
const SAVED_SIGNALS: [i32; 8] = [
    libc::SIGINT,
    libc::SIGQUIT,
    libc::SIGTERM,
    libc::SIGHUP,
    libc::SIGTSTP,
    libc::SIGTTIN,
    libc::SIGTTOU,
    libc::SIGCHLD,
];

fn run_interactive(host: &LabHost) -> i32 {
    // SAFETY: sigaction with a null new action only reads the current one into `old`.
    let saved: Vec<(i32, libc::sigaction)> = SAVED_SIGNALS
        .iter()
        .filter_map(|&s| unsafe {
            let mut old: libc::sigaction = std::mem::zeroed();
            (libc::sigaction(s, std::ptr::null(), &mut old) == 0).then_some((s, old))
        })
        .collect();
    // SAFETY: getpgrp and tcgetpgrp only read the process's and the terminal's groups.
    let (old_pgrp, old_fg) = unsafe { (libc::getpgrp(), libc::tcgetpgrp(0)) };
    // A hang-up of the terminal must end the program as it ends a login shell: the line
    // editor would otherwise spin on the dead terminal (the dashboard's own SIGHUP handler only
    // sets a flag, and its loop is waiting for this session). The nodes die with the process.
    // SAFETY: resetting a disposition to its default; the saved one is restored below.
    unsafe { libc::signal(libc::SIGHUP, libc::SIG_DFL) };
    let mut sh = new_shell(host);
    sh.opts.interactive = true;
    sh.opts.stdin = true;
    let code = crate::shell::editor::run_interactive(&mut sh);
    if let Some(fd) = sh.tty_fd.take() {
        // SAFETY: the shell opened this descriptor for job control and is done with it.
        unsafe { libc::close(fd) };
    }
    // Job control moved this process into a group of its own and gave it the terminal: move
    // back, and give the terminal back, before SIGTTOU may stop us again.
    // SAFETY: plain process-group and terminal calls on our own process and fd 0.
    unsafe {
        libc::signal(libc::SIGTTOU, libc::SIG_IGN);
        libc::signal(libc::SIGTTIN, libc::SIG_IGN);
        if libc::getpgrp() != old_pgrp && old_pgrp > 0 {
            libc::setpgid(0, old_pgrp);
        }
        let fg = if libc::getpgrp() == old_pgrp && old_fg > 0 {
            old_fg
        } else {
            libc::getpgrp()
        };
        libc::tcsetpgrp(0, fg);
    }
    for (s, old) in saved {
        // SAFETY: restoring a disposition read above.
        unsafe { libc::sigaction(s, &old, std::ptr::null_mut()) };
    }
    code
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A worker moves the process's fd 1 and 2 while a command runs: two workers at once in
    /// this test binary would catch each other's output.
    static ONE_WORKER: std::sync::Mutex<()> = std::sync::Mutex::new(());

    #[test]
    fn exit_in_a_command_does_not_end_the_worker() {
        let _one = ONE_WORKER.lock().unwrap_or_else(|p| p.into_inner());
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let mut w = ShellWorker::start(LabHost::new(), tx).expect("start");
        w.run("exit 3");
        assert_eq!(rx.blocking_recv().expect("result").status, 3);
        w.run("X=\"it's\"; echo \"$X still here\"");
        let done = rx.blocking_recv().expect("result");
        assert!(
            done.output.starts_with("it's still here"),
            "{:?}",
            done.output
        );
    }

    #[test]
    fn quoting_survives_single_quotes() {
        assert_eq!(single_quote("echo 'a b'"), r"'echo '\''a b'\'''");
    }

    #[test]
    fn a_command_output_is_captured() {
        let _one = ONE_WORKER.lock().unwrap_or_else(|p| p.into_inner());
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let mut w = ShellWorker::start(LabHost::new(), tx).expect("start");
        let id = w.run("echo out; echo err >&2; false");
        let done = rx.blocking_recv().expect("result");
        assert_eq!(done.id, id);
        assert_eq!(done.status, 1);
        // (Other tests of this binary may write to the shared fd 2 meanwhile.)
        assert!(done.output.starts_with("out\n"), "{:?}", done.output);
        assert!(done.output.contains("err\n"), "{:?}", done.output);
    }
}
