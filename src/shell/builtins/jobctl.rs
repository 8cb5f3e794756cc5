//! Job control builtins: `jobs fg bg wait kill`.

use nix::sys::signal::{Signal, kill as send_signal, killpg};
use nix::sys::wait::{WaitPidFlag, waitpid};
use nix::unistd::Pid;

use crate::shell::jobs::{ProcState, proc_state, signal_text};
use crate::shell::state::{Shell, Status};
use crate::shell::traps::{self, signal_name, signal_number};

use super::write_fd;

/// Name → function.
pub const TABLE: &[(&str, super::CoreBuiltin)] = &[
    ("jobs", jobs),
    ("fg", fg),
    ("bg", bg),
    ("wait", wait),
    ("kill", kill),
];

fn jobs(sh: &mut Shell, argv: &[String]) -> Status {
    sh.jobs.reap();
    let long = argv.iter().any(|a| a == "-l");
    let pids_only = argv.iter().any(|a| a == "-p");
    let specs: Vec<&String> = argv[1..].iter().filter(|a| !a.starts_with('-')).collect();
    if !specs.is_empty() {
        // Only the jobs named (`jobs %2`, `jobs -p %1`).
        let mut out = String::new();
        let mut status = 0;
        for spec in specs {
            match resolve(sh, "jobs", Some(spec)) {
                Ok(id) => {
                    if let Some(j) = sh.jobs.get(id) {
                        if pids_only {
                            out.push_str(&format!("{}\n", j.pgid));
                        } else {
                            out.push_str(&sh.jobs.format(j, long));
                            out.push('\n');
                        }
                    }
                }
                Err(st) => status = st,
            }
        }
        sh.out(&out);
        return Ok(status);
    }
    if pids_only {
        let out: String = sh
            .jobs
            .jobs
            .iter()
            .map(|j| format!("{}\n", j.pgid))
            .collect();
        sh.out(&out);
        return Ok(0);
    }
    let out = sh.jobs.report(true, long);
    sh.out(&out);
    Ok(0)
}

fn resolve(sh: &Shell, name: &str, spec: Option<&String>) -> Result<usize, i32> {
    let r = match spec {
        Some(s) => sh.jobs.resolve(s),
        None => sh
            .jobs
            .current()
            .ok_or_else(|| "No current job".to_string()),
    };
    r.map_err(|e| sh.usage(name, &e))
}

fn continue_job(sh: &mut Shell, id: usize) {
    let Some(job) = sh.jobs.get_mut(id) else {
        return;
    };
    for p in job.procs.iter_mut() {
        if matches!(p.state, ProcState::Stopped(_)) {
            p.state = ProcState::Running;
        }
    }
    let pgid = job.pgid;
    if killpg(Pid::from_raw(pgid), Signal::SIGCONT).is_err() {
        let _ = send_signal(Pid::from_raw(pgid), Signal::SIGCONT);
    }
}

fn fg(sh: &mut Shell, argv: &[String]) -> Status {
    let id = match resolve(sh, "fg", argv.get(1)) {
        Ok(id) => id,
        Err(s) => return Ok(s),
    };
    let Some(job) = sh.jobs.get(id) else {
        return Ok(1);
    };
    let (pgid, cmd, modes) = (job.pgid, job.cmd.clone(), job.tmodes.clone());
    sh.out(&format!("{cmd}\n"));
    sh.jobs.touch(id);
    if sh.opts.monitor
        && let Some(tty) = sh.tty_fd
    {
        // SAFETY: tty is an fd the shell keeps open for its lifetime.
        let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(tty) };
        let _ = nix::unistd::tcsetpgrp(fd, Pid::from_raw(pgid));
        if let Some(m) = modes {
            let _ = nix::sys::termios::tcsetattr(fd, nix::sys::termios::SetArg::TCSADRAIN, &m);
        }
    }
    continue_job(sh, id);
    Ok(sh.wait_foreground(id))
}

fn bg(sh: &mut Shell, argv: &[String]) -> Status {
    let specs: Vec<Option<&String>> = if argv.len() > 1 {
        argv[1..].iter().map(Some).collect()
    } else {
        vec![None]
    };
    for spec in specs {
        let id = match resolve(sh, "bg", spec) {
            Ok(id) => id,
            Err(s) => return Ok(s),
        };
        continue_job(sh, id);
        if let Some(j) = sh.jobs.get(id) {
            let line = format!("[{}] {} &\n", j.id, j.cmd);
            sh.out(&line);
        }
    }
    Ok(0)
}

/// Blocks until every process of job `id` is done; a trapped signal interrupts with 128+n.
fn wait_job(sh: &mut Shell, id: usize, report: bool) -> Result<i32, i32> {
    loop {
        let Some(job) = sh.jobs.get(id) else {
            return Ok(127);
        };
        let Some(pid) = job
            .procs
            .iter()
            .find(|p| p.state == ProcState::Running)
            .map(|p| p.pid)
        else {
            let st = job.status(sh.opts.pipefail);
            if job.state().finished() {
                if report
                    && let Some(ProcState::Killed(sig)) = job.procs.last().map(|p| p.state)
                    && sig != libc::SIGINT
                    && sig != libc::SIGPIPE
                {
                    write_fd(2, format!("{}\n", signal_text(sig)).as_bytes());
                }
                sh.jobs.remove(id);
            }
            return Ok(st);
        };
        match waitpid(Pid::from_raw(pid), Some(WaitPidFlag::WUNTRACED)) {
            Ok(ws) => {
                if let Some((p, st)) = proc_state(ws) {
                    sh.jobs.update(p, st);
                }
            }
            Err(nix::errno::Errno::EINTR) => {
                if let Some(sig) = interrupted() {
                    return Err(sig);
                }
            }
            Err(_) => {
                sh.jobs.update(pid, ProcState::Done(127));
            }
        }
    }
}

/// After an interrupted `waitpid`: `128 + n` for the caught signal that ends a `wait` (its trap
/// runs once `wait` returns; an interactive shell's Ctrl-C aborts the line).
fn interrupted() -> Option<i32> {
    traps::first_pending().map(|sig| 128 + sig)
}

/// `wait -n [ID…]`: waits until one of the jobs (all jobs when none are named) ends, removes
/// it and returns its status; 127 when there is none to wait for.
fn wait_next(sh: &mut Shell, specs: &[String]) -> Status {
    let mut ids = Vec::new();
    for spec in specs {
        match sh.jobs.resolve(spec) {
            Ok(id) => ids.push(id),
            Err(_) if spec.starts_with('%') => {
                sh.error(&format!("wait: {spec}: no such job"));
            }
            Err(_) => {}
        }
    }
    if !specs.is_empty() && ids.is_empty() {
        return Ok(127);
    }
    loop {
        let eligible: Vec<usize> = sh
            .jobs
            .jobs
            .iter()
            .filter(|j| ids.is_empty() || ids.contains(&j.id))
            .map(|j| j.id)
            .collect();
        if let Some(&id) = eligible
            .iter()
            .find(|id| sh.jobs.get(**id).is_some_and(|j| j.state().finished()))
        {
            let st = sh
                .jobs
                .get(id)
                .map(|j| j.status(sh.opts.pipefail))
                .unwrap_or(127);
            sh.jobs.remove(id);
            return Ok(st);
        }
        let running = eligible.iter().any(|id| {
            sh.jobs
                .get(*id)
                .is_some_and(|j| j.procs.iter().any(|p| p.state == ProcState::Running))
        });
        if !running {
            return Ok(127);
        }
        match waitpid(Pid::from_raw(-1), None) {
            Ok(ws) => {
                if let Some((p, st)) = proc_state(ws) {
                    sh.jobs.update(p, st);
                }
            }
            Err(nix::errno::Errno::EINTR) => {
                if let Some(st) = interrupted() {
                    return Ok(st);
                }
            }
            Err(_) => return Ok(127),
        }
    }
}

fn wait(sh: &mut Shell, argv: &[String]) -> Status {
    if argv.get(1).is_some_and(|a| a == "-n") {
        return wait_next(sh, &argv[2..]);
    }
    if argv.len() == 1 {
        let ids: Vec<usize> = sh.jobs.jobs.iter().map(|j| j.id).collect();
        for id in ids {
            if let Err(s) = wait_job(sh, id, false) {
                return Ok(s);
            }
        }
        return Ok(0);
    }
    let mut status = 0;
    for spec in &argv[1..] {
        status = match sh.jobs.resolve(spec) {
            Ok(id) => match wait_job(sh, id, true) {
                Ok(s) => s,
                Err(s) => return Ok(s),
            },
            Err(_) if spec.starts_with('%') => {
                sh.error(&format!("wait: {spec}: no such job"));
                127
            }
            Err(_) => 127,
        };
    }
    Ok(status)
}

fn kill(sh: &mut Shell, argv: &[String]) -> Status {
    let mut sig = libc::SIGTERM;
    let mut i = 1;
    match argv.get(1).map(String::as_str) {
        Some("-l") | Some("-L") => {
            if let Some(st) = argv.get(2) {
                let n: i32 = st.parse().unwrap_or(0);
                let n = if n > 128 { n - 128 } else { n };
                sh.out(&format!("{}\n", signal_name(n)));
            } else {
                let names: Vec<String> = (1..32).map(signal_name).collect();
                sh.out(&format!("{}\n", names.join("\n")));
            }
            return Ok(0);
        }
        Some("-s") | Some("-n") => {
            let Some(n) = argv.get(2).and_then(|s| signal_number(s)) else {
                return Ok(sh.usage("kill", "invalid signal"));
            };
            sig = n;
            i = 3;
        }
        Some(s) if s.starts_with('-') && s.len() > 1 && s != "--" => {
            let Some(n) = signal_number(&s[1..]) else {
                return Ok(sh.usage(
                    "kill",
                    &format!("invalid signal number or name: {}", &s[1..]),
                ));
            };
            sig = n;
            i = 2;
        }
        Some("--") => i = 2,
        _ => {}
    }
    if i >= argv.len() {
        return Ok(sh.usage(
            "kill",
            "usage: kill [-s sigspec | -signum | -sigspec] [pid | job]... or\nkill -l [exitstatus]",
        ));
    }
    let signal = if sig == 0 {
        None
    } else {
        Signal::try_from(sig).ok()
    };
    let mut status = 0;
    for t in &argv[i..] {
        let target = if t.starts_with('%') {
            match sh.jobs.resolve(t) {
                Ok(id) if !sh.opts.monitor => {
                    // Without job control the job has no process group of its own.
                    let pids: Vec<i32> = sh
                        .jobs
                        .get(id)
                        .map(|j| j.procs.iter().map(|p| p.pid).collect())
                        .unwrap_or_default();
                    for pid in pids {
                        let _ = send_signal(Pid::from_raw(pid), signal);
                    }
                    continue;
                }
                Ok(id) => {
                    let Some(job) = sh.jobs.get(id) else { continue };
                    let pgid = job.pgid;
                    let stopped = matches!(job.state(), ProcState::Stopped(_));
                    if let Err(e) = send_signal(Pid::from_raw(-pgid), signal) {
                        write_fd(2, format!("{}: kill: {}\n", sh.arg0, e.desc()).as_bytes());
                        status = 1;
                    } else if stopped
                        && signal.is_some()
                        && sig != libc::SIGSTOP
                        && sig != libc::SIGCONT
                    {
                        // A stopped job only acts on the signal once it runs again.
                        let _ = send_signal(Pid::from_raw(-pgid), Signal::SIGCONT);
                    }
                    continue;
                }
                Err(e) => {
                    sh.error(&format!("kill: {e}"));
                    status = 1;
                    continue;
                }
            }
        } else {
            match t.parse::<i32>() {
                Ok(p) => p,
                Err(_) => {
                    sh.error(&format!("kill: Illegal number: {t}"));
                    status = 1;
                    continue;
                }
            }
        };
        if let Err(e) = send_signal(Pid::from_raw(target), signal) {
            write_fd(2, format!("{}: kill: {}\n", sh.arg0, e.desc()).as_bytes());
            status = 1;
        } else if t.starts_with('%') && sig == libc::SIGCONT {
            sh.jobs.reap();
        }
    }
    Ok(status)
}
