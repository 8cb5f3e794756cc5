//! Process machinery: redirections on fd numbers (saved and restored around builtins), fork
//! with process groups and terminal hand-over, exec with a PATH search, foreground waits with
//! Ctrl-Z handling, and command substitution.

use std::ffi::CString;

use nix::sys::signal::Signal;
use nix::sys::wait::{WaitPidFlag, waitpid};
use nix::unistd::{ForkResult, Pid, fork, getpgrp, setpgid, tcsetpgrp};

use super::ast::{RedirOp, RedirTarget, Redirect};
use super::jobs::{ProcState, proc_state, signal_text};
use super::state::{Flow, Shell};
use super::sys;
use super::traps::{self, default_signal, ignore_signal};

/// A redirection failed (the message has been printed).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("redirection failed")]
pub struct RedirectError;

/// Descriptors saved while a builtin's redirections are in force: (fd, saved copy).
#[derive(Debug, Default)]
pub struct SavedFds(Vec<(i32, Option<i32>)>);

/// How a forked child relates to job control.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ForkMode {
    /// A foreground job member: joins `pgid` and takes the terminal.
    Foreground,
    /// A background job member.
    Background,
    /// No job control (command substitution, here-doc writer).
    Plain,
}

fn borrow_fd(fd: i32) -> std::os::fd::BorrowedFd<'static> {
    // SAFETY: only used for the duration of a syscall on an fd the shell keeps open.
    unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) }
}

impl Shell {
    /// Applies redirections; with `save`, remembers the previous fds for [`Shell::restore_fds`].
    /// On error the message is printed, earlier redirections are undone and `Err` returned.
    pub fn apply_redirects(
        &mut self,
        redirs: &[Redirect],
        save: bool,
    ) -> Result<SavedFds, RedirectError> {
        let mut saved = SavedFds::default();
        for r in redirs {
            if let Err(msg) = self.apply_redirect(r, save, &mut saved) {
                self.error(&msg);
                self.restore_fds(saved);
                return Err(RedirectError);
            }
        }
        Ok(saved)
    }

    fn apply_redirect(
        &mut self,
        r: &Redirect,
        save: bool,
        saved: &mut SavedFds,
    ) -> Result<(), String> {
        let fd = r.fd.unwrap_or_else(|| r.op.default_fd()) as i32;
        let newfd: Option<i32> = match (&r.op, &r.target) {
            (RedirOp::HereDoc, RedirTarget::HereDoc(doc)) => {
                let (body, quoted) = {
                    let d = doc.borrow();
                    (d.body.clone(), d.quoted)
                };
                let text = if quoted {
                    body.unquoted_text()
                } else {
                    self.expand_string(&body).map_err(|e| e.to_string())?
                };
                Some(self.heredoc_fd(&text)?)
            }
            (_, RedirTarget::Word(w)) => {
                let target = self.expand_string(w).map_err(|e| e.to_string())?;
                match r.op {
                    RedirOp::DupIn | RedirOp::DupOut => {
                        if target == "-" {
                            None
                        } else {
                            let n: i32 = target
                                .parse()
                                .map_err(|_| format!("{target}: Bad fd number"))?;
                            if !sys::is_open(n) {
                                return Err(format!("{n}: Bad file descriptor"));
                            }
                            if save {
                                self.save_fd(fd, saved);
                            }
                            if n != fd {
                                sys::dup2(n, fd)
                                    .map_err(|e| format!("{n}: {}", sys::errno_text(&e)))?;
                            }
                            return Ok(());
                        }
                    }
                    _ => Some(self.open_redirect(r.op, &target)?),
                }
            }
            _ => return Err("bad redirection".into()),
        };
        if save {
            self.save_fd(fd, saved);
        }
        match newfd {
            None => sys::close(fd),
            Some(n) if n == fd => sys::set_cloexec(fd, false),
            Some(n) => {
                let r = sys::dup2(n, fd);
                sys::close(n);
                r.map_err(|e| format!("{fd}: {}", sys::errno_text(&e)))?;
            }
        }
        Ok(())
    }

    fn save_fd(&self, fd: i32, saved: &mut SavedFds) {
        if !saved.0.iter().any(|(f, _)| *f == fd) {
            saved.0.push((fd, sys::dup_high(fd)));
        }
    }

    fn open_redirect(&self, op: RedirOp, path: &str) -> Result<i32, String> {
        use libc::{O_APPEND, O_CREAT, O_RDONLY, O_RDWR, O_TRUNC, O_WRONLY};
        let flags = match op {
            RedirOp::In => O_RDONLY,
            RedirOp::Out if self.opts.noclobber => {
                if std::fs::metadata(path).is_ok_and(|m| m.is_file()) {
                    return Err(format!("cannot create {path}: File exists"));
                }
                O_WRONLY | O_CREAT | O_TRUNC
            }
            RedirOp::Out | RedirOp::Clobber => O_WRONLY | O_CREAT | O_TRUNC,
            RedirOp::Append => O_WRONLY | O_CREAT | O_APPEND,
            _ => O_RDWR | O_CREAT,
        };
        sys::open(path, flags).map_err(|e| {
            if op == RedirOp::In {
                let why = match e.raw_os_error() {
                    Some(libc::ENOENT) => "No such file".to_string(),
                    _ => sys::errno_text(&e),
                };
                format!("cannot open {path}: {why}")
            } else {
                let why = match e.raw_os_error() {
                    Some(libc::ENOENT) => "Directory nonexistent".to_string(),
                    _ => sys::errno_text(&e),
                };
                format!("cannot create {path}: {why}")
            }
        })
    }

    /// A readable fd with `text`: a pipe, filled by a child when it would not fit the buffer.
    fn heredoc_fd(&mut self, text: &str) -> Result<i32, String> {
        let (r, w) = sys::pipe().map_err(|e| e.to_string())?;
        if text.len() <= 4096 {
            let _ = sys::write_all(w, text.as_bytes());
            sys::close(w);
            return Ok(r);
        }
        let bytes = text.as_bytes().to_vec();
        // Double fork: the writer is adopted by init, so no zombie is left behind and the
        // shell's job bookkeeping never sees it.
        // SAFETY: the children only fork, write to a pipe and exit.
        match unsafe { fork() } {
            Ok(ForkResult::Child) => {
                sys::close(r);
                // SAFETY: as above.
                if let Ok(ForkResult::Child) = unsafe { fork() } {
                    default_signal(Signal::SIGPIPE);
                    let _ = sys::write_all(w, &bytes);
                }
                sys::exit_now(0);
            }
            Ok(ForkResult::Parent { child }) => {
                sys::close(w);
                while let Err(nix::errno::Errno::EINTR) = waitpid(child, None) {}
                Ok(r)
            }
            Err(e) => {
                sys::close(r);
                sys::close(w);
                Err(format!("fork: {e}"))
            }
        }
    }

    /// Undoes redirections applied with `save`.
    pub fn restore_fds(&mut self, saved: SavedFds) {
        for (fd, copy) in saved.0.into_iter().rev() {
            match copy {
                Some(c) => {
                    let _ = sys::dup2(c, fd);
                    sys::close(c);
                }
                None => sys::close(fd),
            }
        }
    }

    /// Forks; the child runs `body` and exits with its status. Returns the child's pid.
    pub fn fork_child(
        &mut self,
        mode: ForkMode,
        pgid: i32,
        body: impl FnOnce(&mut Shell) -> i32,
    ) -> Result<i32, Flow> {
        let monitor = self.opts.monitor && mode != ForkMode::Plain && !self.in_subshell;
        // SAFETY: the child continues as a single-threaded shell process.
        match unsafe { fork() } {
            Ok(ForkResult::Child) => {
                // The thread's random generator was copied with the process: without a fresh
                // seed, a builtin in this child (`url=$(secret send)`, `$(kdc ticket …)`)
                // would draw the very numbers the parent, or its next child, draws too.
                let _ = rand::rng().reseed();
                self.in_subshell = true;
                self.jobs = Default::default();
                self.traps.reset_for_subshell();
                if monitor {
                    let _ = setpgid(Pid::from_raw(0), Pid::from_raw(pgid));
                    if mode == ForkMode::Foreground
                        && let Some(tty) = self.tty_fd
                    {
                        let pg = if pgid == 0 {
                            getpgrp()
                        } else {
                            Pid::from_raw(pgid)
                        };
                        let _ = tcsetpgrp(borrow_fd(tty), pg);
                    }
                    for s in [Signal::SIGTSTP, Signal::SIGTTIN, Signal::SIGTTOU] {
                        default_signal(s);
                    }
                }
                if self.opts.interactive && !self.traps.actions.contains_key(&libc::SIGINT) {
                    default_signal(Signal::SIGINT);
                }
                if self.opts.interactive {
                    for s in [Signal::SIGQUIT, Signal::SIGTERM] {
                        if !self.traps.actions.contains_key(&(s as i32)) {
                            default_signal(s);
                        }
                    }
                }
                if mode == ForkMode::Background && !monitor {
                    ignore_signal(Signal::SIGINT);
                    ignore_signal(Signal::SIGQUIT);
                    if let Ok(n) = sys::open("/dev/null", libc::O_RDONLY) {
                        let _ = sys::dup2(n, 0);
                        sys::close(n);
                    }
                }
                self.opts.monitor = false;
                let st = body(self);
                let st = self.run_exit_trap(st);
                sys::exit_now(st);
            }
            Ok(ForkResult::Parent { child }) => {
                if monitor {
                    let pg = if pgid == 0 {
                        child
                    } else {
                        Pid::from_raw(pgid)
                    };
                    let _ = setpgid(child, pg);
                }
                Ok(child.as_raw())
            }
            Err(e) => {
                self.error(&format!("fork: {e}"));
                Err(self.fatal(2))
            }
        }
    }

    /// Waits for a foreground job; gives the terminal back; reports a stop. Returns the status.
    pub fn wait_foreground(&mut self, id: usize) -> i32 {
        let monitor = self.opts.monitor && !self.in_subshell;
        // The shell's own terminal modes, restored after any job, even one killed by a signal.
        let saved_modes = self.shell_tmodes.clone().or_else(|| {
            self.tty_fd
                .and_then(|t| nix::sys::termios::tcgetattr(borrow_fd(t)).ok())
        });
        loop {
            let Some(job) = self.jobs.get(id) else {
                return 0;
            };
            let Some(pid) = job
                .procs
                .iter()
                .find(|p| p.state == ProcState::Running)
                .map(|p| p.pid)
            else {
                break;
            };
            let flags = if monitor {
                Some(WaitPidFlag::WUNTRACED)
            } else {
                None
            };
            match waitpid(Pid::from_raw(pid), flags) {
                Ok(ws) => {
                    if let Some((p, st)) = proc_state(ws) {
                        self.jobs.update(p, st);
                    }
                }
                Err(nix::errno::Errno::EINTR) => {}
                Err(_) => {
                    self.jobs.update(pid, ProcState::Done(127));
                }
            }
        }
        if monitor && let Some(tty) = self.tty_fd {
            if let Some(j) = self.jobs.get_mut(id)
                && matches!(j.state(), ProcState::Stopped(_))
            {
                // Remember the stopped job's modes so `fg` can give them back.
                j.tmodes = nix::sys::termios::tcgetattr(borrow_fd(tty)).ok();
            }
            let _ = tcsetpgrp(borrow_fd(tty), getpgrp());
            if let Some(m) = &saved_modes {
                let _ = nix::sys::termios::tcsetattr(
                    borrow_fd(tty),
                    nix::sys::termios::SetArg::TCSADRAIN,
                    m,
                );
            }
        }
        let Some(job) = self.jobs.get(id) else {
            return 0;
        };
        let status = job.status(self.opts.pipefail);
        self.pipestatus.clear();
        self.pipestatus
            .extend(job.procs.iter().map(|p| super::jobs::proc_status(p.state)));
        match job.state() {
            ProcState::Stopped(sig) => {
                self.jobs.touch(id);
                let line = self
                    .jobs
                    .get(id)
                    .map(|j| self.jobs.format(j, false))
                    .unwrap_or_default();
                if let Some(j) = self.jobs.get_mut(id) {
                    j.notified = true;
                }
                super::builtins::write_fd(2, format!("\n{line}\n").as_bytes());
                128 + sig
            }
            _ => {
                // Like dash, say how a foreground job died (not for Ctrl-C or a broken pipe).
                if let Some(j) = self.jobs.get(id)
                    && let Some(ProcState::Killed(sig)) = j.procs.last().map(|p| p.state)
                {
                    if sig == libc::SIGINT {
                        if self.interactive() {
                            super::builtins::write_fd(2, b"\n");
                        }
                    } else if sig != libc::SIGPIPE {
                        super::builtins::write_fd(2, format!("{}\n", signal_text(sig)).as_bytes());
                    }
                }
                // The job had the terminal, so the Ctrl-C reached only its process group: the
                // interactive shell acts as if it had been interrupted too (the rest of the
                // line, a loop around the command, do not run; a SIGINT trap runs).
                if monitor
                    && self.interactive()
                    && self.jobs.get(id).is_some_and(|j| {
                        j.procs
                            .iter()
                            .any(|p| p.state == ProcState::Killed(libc::SIGINT))
                    })
                {
                    traps::request_interrupt();
                    self.sigint_newline_done = true;
                }
                self.jobs.remove(id);
                status
            }
        }
    }

    /// Runs `$(…)`: the output with trailing newlines removed; sets the substitution status.
    pub fn command_subst(
        &mut self,
        prog: &super::ast::Program,
    ) -> Result<String, super::expand::ExpandError> {
        let Ok((r, w)) = sys::pipe() else {
            self.error("cannot create pipe");
            return Ok(String::new());
        };
        let prog = prog.clone();
        let pid = self.fork_child(ForkMode::Plain, 0, move |sh| {
            sys::close(r);
            let _ = sys::dup2(w, 1);
            sys::close(w);
            match sh.run_program(&prog) {
                Ok(s) | Err(Flow::Exit(s)) | Err(Flow::Abort(s)) | Err(Flow::Return(s)) => s,
                Err(_) => sh.last_status,
            }
        });
        sys::close(w);
        let max = super::limits::MAX_SUBST_OUTPUT;
        let read = sys::read_to_end_max(r, max);
        sys::close(r);
        if read.is_err()
            && let Ok(pid) = pid
        {
            // Whatever it is doing, the substituted command's output can no longer be used.
            let _ = nix::sys::signal::kill(Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
        }
        let status = match pid {
            Ok(pid) => loop {
                match waitpid(Pid::from_raw(pid), None) {
                    Ok(ws) => break proc_state(ws).map(|(_, s)| s),
                    Err(nix::errno::Errno::EINTR) => continue,
                    Err(_) => break None,
                }
            },
            Err(_) => None,
        };
        self.subst_status = Some(match status {
            Some(ProcState::Done(s)) => s,
            Some(ProcState::Killed(sig)) => 128 + sig,
            _ => 0,
        });
        if self.interactive()
            && self.traps.interactive_int
            && self.traps.command(libc::SIGINT).is_none()
            && traps::sigint_pending()
        {
            return Err(super::expand::ExpandError::Interrupted);
        }
        let Ok(out) = read else {
            return Err(super::expand::ExpandError::Message(format!(
                "command substitution output exceeds {max} bytes"
            )));
        };
        let mut s = String::from_utf8(out)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
        while s.ends_with('\n') {
            s.pop();
        }
        Ok(s)
    }

    /// Finds a command in `$PATH` (remembered in the hash table).
    pub fn find_in_path(&mut self, name: &str) -> Option<String> {
        if name.contains('/') {
            return Some(name.to_string());
        }
        if let Some(p) = self.hash.get(name) {
            return Some(p.clone());
        }
        let path = self
            .get("PATH")
            .unwrap_or("/usr/local/bin:/usr/bin:/bin")
            .to_string();
        for dir in path.split(':') {
            let dir = if dir.is_empty() { "." } else { dir };
            let cand = format!("{dir}/{name}");
            if is_executable(&cand) {
                self.hash.insert(name.to_string(), cand.clone());
                return Some(cand);
            }
        }
        None
    }

    /// Replaces the process with an external command (in a child or for `exec`).
    pub fn exec_external(&mut self, argv: &[String], extra_env: &[(String, String)]) -> i32 {
        self.exec_external_as(argv, extra_env, "", None)
    }

    /// [`Shell::exec_external`] for `exec`: `prefix` before the command's name in messages
    /// (`exec: `), and the program's `argv[0]` replaced by `arg0` (`exec -a NAME`).
    pub fn exec_external_as(
        &mut self,
        argv: &[String],
        extra_env: &[(String, String)],
        prefix: &str,
        arg0: Option<&str>,
    ) -> i32 {
        let name = &format!("{prefix}{}", argv[0]);
        let Some(path) = self.find_in_path(&argv[0]) else {
            self.error(&format!("{name}: not found"));
            return 127;
        };
        let cargs: Vec<CString> = arg0
            .into_iter()
            .chain(
                argv.iter()
                    .skip(usize::from(arg0.is_some()))
                    .map(String::as_str),
            )
            .filter_map(|a| CString::new(a.as_bytes()).ok())
            .collect();
        let env = self.environ(extra_env);
        let Ok(cpath) = CString::new(path.as_bytes()) else {
            return 127;
        };
        default_signal(Signal::SIGPIPE);
        let err = nix::unistd::execve(&cpath, &cargs, &env).err();
        match err {
            Some(nix::errno::Errno::ENOEXEC) => {
                // A script without #!: run it with this shell, as POSIX asks.
                if let Ok(me) = std::env::current_exe()
                    && let Ok(me_c) = CString::new(me.to_string_lossy().as_bytes())
                {
                    let mut a = vec![me_c.clone()];
                    a.extend(
                        ["shell", path.as_str()]
                            .iter()
                            .filter_map(|s| CString::new(*s).ok()),
                    );
                    a.extend(cargs.iter().skip(1).cloned());
                    let _ = nix::unistd::execve(&me_c, &a, &env);
                }
                self.error(&format!("{name}: cannot execute"));
                126
            }
            Some(nix::errno::Errno::ENOENT) | Some(nix::errno::Errno::ENOTDIR) => {
                self.hash.remove(&argv[0]);
                self.error(&format!("{name}: not found"));
                127
            }
            Some(e) => {
                let msg = sys::errno_text(&std::io::Error::from_raw_os_error(e as i32));
                self.error(&format!("{name}: {msg}"));
                126
            }
            None => 126,
        }
    }

    /// Runs the signal traps that fired; SIGINT in an interactive shell aborts the line.
    pub fn check_signals(&mut self) -> Result<(), Flow> {
        if !traps::any_pending() {
            return Ok(());
        }
        for sig in traps::take_pending() {
            if let Some(cmd) = self.traps.command(sig).map(str::to_string) {
                let saved = self.last_status;
                let r = self.eval_string(&cmd);
                self.last_status = saved;
                if let Err(f @ Flow::Exit(_)) = r {
                    return Err(f);
                }
            } else if sig == libc::SIGINT && self.traps.interactive_int {
                return Err(Flow::Abort(130));
            }
        }
        Ok(())
    }

    /// Runs the EXIT trap once (when set) and returns the status to exit with.
    pub fn run_exit_trap(&mut self, status: i32) -> i32 {
        if let Some(cmd) = self.traps.command(0).map(str::to_string) {
            self.traps.actions.remove(&0);
            self.last_status = status;
            if let Err(Flow::Exit(s)) = self.eval_string(&cmd) {
                return s;
            }
        }
        status
    }
}

/// True for a regular file with an execute bit for us.
pub fn is_executable(path: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    match std::fs::metadata(path) {
        Ok(m) => {
            m.is_file()
                && m.permissions().mode() & 0o111 != 0
                && CString::new(path)
                    // SAFETY: c is a valid C string.
                    .map(|c| unsafe { libc::access(c.as_ptr(), libc::X_OK) } == 0)
                    .unwrap_or(false)
        }
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    #[test]
    fn a_forked_child_draws_other_random_numbers_than_its_parent() {
        // Before the reseed, `said=$(chat say …)` and the next `chat say` drew the same
        // "random" tag: the child's generator was the parent's, copied.
        let mut sh = Shell::new("test");
        let (r, w) = sys::pipe().expect("pipe");
        let _ = rand::rng().random::<u64>();
        let pid = sh
            .fork_child(ForkMode::Plain, 0, move |_| {
                let drawn: u64 = rand::rng().random();
                let _ = sys::write_all(w, &drawn.to_be_bytes());
                0
            })
            .unwrap_or_else(|_| panic!("fork"));
        sys::close(w);
        let mut got = [0u8; 8];
        // SAFETY: `r` is the read end of the pipe made above, owned by nothing else.
        let mut file = unsafe { <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(r) };
        std::io::Read::read_exact(&mut file, &mut got).expect("the child's number");
        let _ = waitpid(Pid::from_raw(pid), None);
        let mine: u64 = rand::rng().random();
        assert_ne!(u64::from_be_bytes(got), mine);
    }
}
