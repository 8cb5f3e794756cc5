//! The job table: background and stopped pipelines, job ids (`%1 %% %+ %- %name %?text`),
//! status changes from `waitpid`, and the reports printed before the next prompt.

use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

/// The state of one process of a job.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProcState {
    /// Still running.
    Running,
    /// Stopped by a signal.
    Stopped(i32),
    /// Exited with this status.
    Done(i32),
    /// Terminated by this signal (status 128+n).
    Killed(i32),
}

impl ProcState {
    /// True once the process has ended (exited or killed).
    pub fn finished(self) -> bool {
        matches!(self, ProcState::Done(_) | ProcState::Killed(_))
    }
}

/// One process of a job.
#[derive(Clone, Debug)]
pub struct Proc {
    /// Its pid.
    pub pid: i32,
    /// What we last heard of it.
    pub state: ProcState,
}

/// A job: the processes of one pipeline.
#[derive(Clone, Debug)]
pub struct Job {
    /// The job number (`%N`).
    pub id: usize,
    /// Process group (the first process's pid when job control is on).
    pub pgid: i32,
    /// The processes, in pipeline order.
    pub procs: Vec<Proc>,
    /// The command text.
    pub cmd: String,
    /// False when its latest state change has not been reported.
    pub notified: bool,
    /// Terminal modes saved when it stopped.
    pub tmodes: Option<nix::sys::termios::Termios>,
}

impl Job {
    /// The job's overall state: done when all are done (with the last one's status).
    pub fn state(&self) -> ProcState {
        if self.procs.iter().any(|p| p.state == ProcState::Running) {
            return ProcState::Running;
        }
        if let Some(p) = self
            .procs
            .iter()
            .find(|p| matches!(p.state, ProcState::Stopped(_)))
        {
            return p.state;
        }
        self.procs
            .last()
            .map(|p| p.state)
            .unwrap_or(ProcState::Done(0))
    }

    /// The status a `wait` or foreground wait reports (pipefail picks the last failure).
    pub fn status(&self, pipefail: bool) -> i32 {
        let st = |p: &Proc| proc_status(p.state);
        if pipefail && let Some(p) = self.procs.iter().rev().find(|p| st(p) != 0) {
            return st(p);
        }
        self.procs.last().map(st).unwrap_or(0)
    }
}

/// The exit status a process state stands for (128+n for a signal).
pub fn proc_status(state: ProcState) -> i32 {
    match state {
        ProcState::Done(s) => s,
        ProcState::Killed(sig) | ProcState::Stopped(sig) => 128 + sig,
        ProcState::Running => 0,
    }
}

/// Converts a wait status to the process state it means.
pub fn proc_state(ws: WaitStatus) -> Option<(i32, ProcState)> {
    match ws {
        WaitStatus::Exited(pid, code) => Some((pid.as_raw(), ProcState::Done(code))),
        WaitStatus::Signaled(pid, sig, _) => Some((pid.as_raw(), ProcState::Killed(sig as i32))),
        WaitStatus::Stopped(pid, sig) => Some((pid.as_raw(), ProcState::Stopped(sig as i32))),
        WaitStatus::Continued(pid) => Some((pid.as_raw(), ProcState::Running)),
        _ => None,
    }
}

/// All jobs, most recently used last in `order`.
#[derive(Clone, Debug, Default)]
pub struct JobTable {
    /// Jobs by ascending id.
    pub jobs: Vec<Job>,
    order: Vec<usize>,
}

impl JobTable {
    /// Adds a job; it becomes the current job. Returns its id.
    pub fn add(&mut self, pgid: i32, pids: &[i32], cmd: &str) -> usize {
        let id = self.jobs.iter().map(|j| j.id).max().unwrap_or(0) + 1;
        let procs = pids
            .iter()
            .map(|&pid| Proc {
                pid,
                state: ProcState::Running,
            })
            .collect();
        if pids.first() == Some(&pgid) {
            // A process group of its own (job control): SIGHUP to the shell reaches it.
            super::traps::register_job_group(pgid);
        }
        self.jobs.push(Job {
            id,
            pgid,
            procs,
            cmd: cmd.to_string(),
            notified: true,
            tmodes: None,
        });
        self.order.push(id);
        id
    }

    /// Makes a job current (`fg`, `bg`, stop).
    pub fn touch(&mut self, id: usize) {
        self.order.retain(|&j| j != id);
        self.order.push(id);
    }

    /// The current job id (`%+`).
    pub fn current(&self) -> Option<usize> {
        self.order.last().copied()
    }

    /// The previous job id (`%-`).
    pub fn previous(&self) -> Option<usize> {
        self.order
            .len()
            .checked_sub(2)
            .and_then(|i| self.order.get(i))
            .copied()
    }

    /// A job by id.
    pub fn get(&self, id: usize) -> Option<&Job> {
        self.jobs.iter().find(|j| j.id == id)
    }

    /// A job by id, mutably.
    pub fn get_mut(&mut self, id: usize) -> Option<&mut Job> {
        self.jobs.iter_mut().find(|j| j.id == id)
    }

    /// Removes a job.
    pub fn remove(&mut self, id: usize) {
        if let Some(j) = self.get(id) {
            super::traps::unregister_job_group(j.pgid);
        }
        self.jobs.retain(|j| j.id != id);
        self.order.retain(|&j| j != id);
    }

    /// Resolves a job spec: `%%`, `%+`, `%`, `%-`, `%N`, `%name` (prefix), `%?text`, or a pid.
    pub fn resolve(&self, spec: &str) -> Result<usize, String> {
        let none = || format!("{spec}: no such job");
        let Some(rest) = spec.strip_prefix('%') else {
            let pid: i32 = spec.parse().map_err(|_| format!("{spec}: bad job spec"))?;
            return self
                .jobs
                .iter()
                .find(|j| j.procs.iter().any(|p| p.pid == pid))
                .map(|j| j.id)
                .ok_or_else(none);
        };
        match rest {
            "" | "%" | "+" => self.current().ok_or_else(none),
            "-" => self.previous().ok_or_else(none),
            _ => {
                if let Ok(n) = rest.parse::<usize>() {
                    return self.get(n).map(|j| j.id).ok_or_else(none);
                }
                let found: Vec<usize> = if let Some(text) = rest.strip_prefix('?') {
                    self.jobs
                        .iter()
                        .filter(|j| j.cmd.contains(text))
                        .map(|j| j.id)
                        .collect()
                } else {
                    self.jobs
                        .iter()
                        .filter(|j| j.cmd.starts_with(rest))
                        .map(|j| j.id)
                        .collect()
                };
                match found.as_slice() {
                    [one] => Ok(*one),
                    [] => Err(none()),
                    _ => Err(format!("{spec}: ambiguous")),
                }
            }
        }
    }

    /// Records a process's new state. Returns the id of its job.
    pub fn update(&mut self, pid: i32, state: ProcState) -> Option<usize> {
        for j in self.jobs.iter_mut() {
            if let Some(p) = j.procs.iter_mut().find(|p| p.pid == pid) {
                if p.state != state {
                    p.state = state;
                    // Stops and ends are news; being continued (by fg, bg or kill) is not.
                    if state != ProcState::Running {
                        j.notified = false;
                    }
                }
                return Some(j.id);
            }
        }
        None
    }

    /// Collects status changes of any child without blocking.
    pub fn reap(&mut self) {
        let flags = WaitPidFlag::WNOHANG | WaitPidFlag::WUNTRACED | WaitPidFlag::WCONTINUED;
        while !self.jobs.is_empty() {
            match waitpid(Pid::from_raw(-1), Some(flags)) {
                Ok(WaitStatus::StillAlive) | Err(_) => break,
                Ok(ws) => {
                    if let Some((pid, st)) = proc_state(ws) {
                        self.update(pid, st);
                    }
                }
            }
        }
    }

    /// True when some job is stopped (an interactive shell warns before exiting).
    pub fn has_stopped(&self) -> bool {
        self.jobs
            .iter()
            .any(|j| matches!(j.state(), ProcState::Stopped(_)))
    }

    /// Sends SIGHUP, then SIGCONT (so a stopped job sees the hangup), to every job that has
    /// not finished: what an exiting interactive shell does to the jobs it leaves behind.
    /// Jobs in a process group of their own get the signals as a group.
    pub fn hangup_all(&mut self) {
        use nix::sys::signal::{Signal, kill, killpg};
        self.reap();
        let shell_group = nix::unistd::getpgrp().as_raw();
        for j in self.jobs.iter().filter(|j| !j.state().finished()) {
            for sig in [Signal::SIGHUP, Signal::SIGCONT] {
                if j.pgid > 0 && j.pgid != shell_group {
                    let _ = killpg(Pid::from_raw(j.pgid), sig);
                } else {
                    for p in j.procs.iter().filter(|p| !p.state.finished()) {
                        let _ = kill(Pid::from_raw(p.pid), sig);
                    }
                }
            }
        }
    }

    /// One line of `jobs` output for a job.
    pub fn format(&self, j: &Job, with_pid: bool) -> String {
        let mark = if Some(j.id) == self.current() {
            '+'
        } else if Some(j.id) == self.previous() {
            '-'
        } else {
            ' '
        };
        let state = match j.state() {
            ProcState::Running => "Running".to_string(),
            ProcState::Stopped(_) => "Stopped".to_string(),
            ProcState::Done(0) => "Done".to_string(),
            ProcState::Killed(sig) => signal_text(sig),
            ProcState::Done(s) => format!("Done({s})"),
        };
        let pid = if with_pid {
            format!("{} ", j.pgid)
        } else {
            String::new()
        };
        format!("[{}] {} {}{:<27}{}", j.id, mark, pid, state, j.cmd)
    }

    /// Reports jobs whose state changed (done ones are then removed). With `all`, every job.
    pub fn report(&mut self, all: bool, with_pid: bool) -> String {
        let mut out = String::new();
        let ids: Vec<usize> = self.jobs.iter().map(|j| j.id).collect();
        for id in ids {
            let Some(j) = self.get(id) else { continue };
            // A job still running is no news, even when one of its processes has ended or
            // it was continued on the way to being killed (`kill %1` on a stopped pipeline).
            if all || (!j.notified && j.state() != ProcState::Running) {
                out.push_str(&self.format(j, with_pid));
                out.push('\n');
            }
            let done = j.state().finished();
            if let Some(j) = self.get_mut(id) {
                j.notified = true;
            }
            if done && (all || out.contains(&format!("[{id}]"))) {
                self.remove(id);
            }
        }
        out
    }
}

/// How a job killed by signal `n` is described (`Killed`, `Terminated`, …).
pub fn signal_text(n: i32) -> String {
    match n {
        libc::SIGKILL => "Killed".into(),
        libc::SIGTERM => "Terminated".into(),
        libc::SIGINT => "Interrupt".into(),
        libc::SIGHUP => "Hangup".into(),
        libc::SIGQUIT => "Quit".into(),
        libc::SIGSEGV => "Segmentation fault".into(),
        libc::SIGABRT => "Aborted".into(),
        libc::SIGPIPE => "Broken pipe".into(),
        _ => format!("Signal {n}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_specs_resolve() {
        let mut t = JobTable::default();
        t.add(10, &[10], "sleep 100");
        t.add(20, &[20, 21], "vim notes");
        assert_eq!(t.resolve("%%"), Ok(2));
        assert_eq!(t.resolve("%+"), Ok(2));
        assert_eq!(t.resolve("%-"), Ok(1));
        assert_eq!(t.resolve("%1"), Ok(1));
        assert_eq!(t.resolve("%sle"), Ok(1));
        assert_eq!(t.resolve("%?note"), Ok(2));
        assert_eq!(t.resolve("21"), Ok(2));
        assert!(t.resolve("%9").is_err());
        t.touch(1);
        assert_eq!(t.resolve("%+"), Ok(1));
    }

    #[test]
    fn job_state_follows_processes() {
        let mut t = JobTable::default();
        let id = t.add(10, &[10, 11], "a | b");
        t.update(10, ProcState::Done(0));
        assert_eq!(t.get(id).map(|j| j.state()), Some(ProcState::Running));
        t.update(11, ProcState::Done(3));
        assert_eq!(t.get(id).map(|j| j.state()), Some(ProcState::Done(3)));
        assert!(t.report(false, false).contains("Done(3)"));
        assert!(t.get(id).is_none());
    }
}
