//! The executor: walks the syntax tree. Lists, and-or lists, pipelines (every member of a
//! multi-command pipeline runs in a forked child, like dash), simple commands (special builtins,
//! functions, builtins, then `$PATH`), compound commands, `set -e` and `set -x`.

use std::rc::Rc;

use super::ast::*;
use super::builtins;
use super::lexer::{Lexer, LineSource, StrSource};
use super::parser::Parser;
use super::process::ForkMode;
use super::state::{Flow, MAX_FUNC_DEPTH, Shell, Status};
use super::sys;

/// Quotes a word for `set -x` and `set` output when it needs it.
pub fn quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./:=@%+,^".contains(c))
    {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', "'\\''"))
}

impl Shell {
    /// Reads, parses and runs commands one at a time until the input ends.
    /// Returns the final status; `Flow::Exit` propagates for the caller to finish the shell.
    pub fn run_source(&mut self, source: Box<dyn LineSource + '_>) -> Status {
        let mut lex = Lexer::new(source);
        let mut status = 0;
        loop {
            lex.compact();
            let aliases = Rc::new(self.aliases.clone());
            lex.aliases = (!aliases.is_empty()).then(|| aliases.clone());
            let parsed = Parser::new(&mut lex, Some(&aliases)).next_command();
            match parsed {
                Ok(None) => break,
                Ok(Some(prog)) => {
                    if self.opts.noexec && !self.interactive() {
                        continue;
                    }
                    match self.run_program(&prog) {
                        Ok(s) => status = s,
                        Err(Flow::Abort(s)) => {
                            status = s;
                            self.last_status = s;
                            // An error aborts the whole `eval`/`.` it happened in; Ctrl-C the
                            // whole input line, as in bash.
                            if self.source_depth > 0 || s == 130 {
                                return Err(Flow::Abort(s));
                            }
                        }
                        Err(f) => return Err(f),
                    }
                }
                Err(e) => {
                    self.lineno = e.line;
                    let line = if self.interactive() {
                        String::new()
                    } else {
                        format!("{}: ", e.line)
                    };
                    builtins::write_fd(
                        2,
                        format!(
                            "{}: {line}{}{}\n",
                            self.arg0,
                            self.parse_context.as_deref().unwrap_or(""),
                            e.msg
                        )
                        .as_bytes(),
                    );
                    self.last_status = 2;
                    return Err(self.fatal(2));
                }
            }
        }
        Ok(status)
    }

    /// `eval`: runs a string in the current shell.
    pub fn eval_string(&mut self, s: &str) -> Status {
        if self.source_depth >= MAX_FUNC_DEPTH / 4 {
            self.error("eval: nesting too deep");
            return Err(self.fatal(2));
        }
        let line = self.lineno;
        self.source_depth += 1;
        let r = self.run_source(Box::new(StrSource::new(s)));
        self.source_depth -= 1;
        self.lineno = line;
        r
    }

    /// Runs a list.
    pub fn run_program(&mut self, prog: &Program) -> Status {
        let mut status = 0;
        for item in &prog.items {
            if self.opts.noexec && !self.interactive() {
                return Ok(0);
            }
            status = if item.background {
                self.run_background(&item.and_or)?
            } else {
                self.run_and_or(&item.and_or)?
            };
            self.last_status = status;
            self.check_signals()?;
            if self.opts.interactive && !self.in_subshell {
                self.jobs.reap();
            }
        }
        Ok(status)
    }

    fn run_background(&mut self, ao: &AndOr) -> Status {
        let text = super::display::and_or_text(ao);
        let pids: Vec<i32> = if ao.rest.is_empty() && !ao.first.bang {
            self.spawn_pipeline(&ao.first.commands, ForkMode::Background)?
        } else {
            let ao = ao.clone();
            let pid = self.fork_child(ForkMode::Background, 0, move |sh| {
                sh.run_and_or(&ao).unwrap_or_else(|f| flow_status(sh, f))
            })?;
            vec![pid]
        };
        let pgid = pids.first().copied().unwrap_or(0);
        let id = self.jobs.add(pgid, &pids, &text);
        self.last_bg = pids.last().copied();
        if self.interactive() {
            builtins::write_fd(2, format!("[{id}] {pgid}\n").as_bytes());
        }
        Ok(0)
    }

    fn run_and_or(&mut self, ao: &AndOr) -> Status {
        let n = ao.rest.len();
        if n > 0 {
            self.cond_depth += 1;
        }
        let first = self.run_pipeline(&ao.first);
        if n > 0 {
            self.cond_depth -= 1;
        }
        let mut status = first?;
        for (i, (op, p)) in ao.rest.iter().enumerate() {
            self.last_status = status;
            // Traps run between the parts of `a && b` too; Ctrl-C stops the list.
            self.check_signals()?;
            let run = match op {
                AndOrOp::And => status == 0,
                AndOrOp::Or => status != 0,
            };
            if !run {
                continue;
            }
            let last = i + 1 == n;
            if !last {
                self.cond_depth += 1;
            }
            let r = self.run_pipeline(p);
            if !last {
                self.cond_depth -= 1;
            }
            status = r?;
            if last && !p.bang {
                self.errexit_check(status)?;
            }
        }
        if n == 0 && !ao.first.bang {
            self.errexit_check(status)?;
        }
        Ok(status)
    }

    fn errexit_check(&mut self, status: i32) -> Result<(), Flow> {
        if status != 0 && self.opts.errexit && self.cond_depth == 0 {
            return Err(Flow::Exit(status));
        }
        Ok(())
    }

    fn run_pipeline(&mut self, p: &Pipeline) -> Status {
        if let Some(posix) = p.time {
            let start = Timing::now();
            let untimed = Pipeline {
                time: None,
                ..p.clone()
            };
            let r = self.run_pipeline(&untimed);
            start.report(posix);
            return r;
        }
        if p.bang {
            self.cond_depth += 1;
        }
        let r = if p.commands.len() == 1 {
            self.run_command(&p.commands[0], false)
        } else {
            match self.spawn_pipeline(&p.commands, ForkMode::Foreground) {
                Ok(pids) => {
                    let text = super::display::pipeline_text(p);
                    let id = self
                        .jobs
                        .add(pids.first().copied().unwrap_or(0), &pids, &text);
                    Ok(self.wait_foreground(id))
                }
                Err(f) => Err(f),
            }
        };
        if p.bang {
            self.cond_depth -= 1;
        }
        let st = r?;
        if p.commands.len() == 1 {
            // A multi-command pipeline's statuses were kept by the wait for its job.
            self.pipestatus.clear();
            self.pipestatus.push(st);
        }
        Ok(if p.bang { (st == 0) as i32 } else { st })
    }

    /// Forks every command of a pipeline with pipes between them; returns the pids.
    fn spawn_pipeline(&mut self, cmds: &[Command], mode: ForkMode) -> Result<Vec<i32>, Flow> {
        let mut pids = Vec::new();
        let mut pgid = 0;
        let mut prev_read: Option<i32> = None;
        let n = cmds.len();
        for (i, cmd) in cmds.iter().enumerate() {
            let (next_read, write) = if i + 1 < n {
                match sys::pipe() {
                    Ok((r, w)) => (Some(r), Some(w)),
                    Err(e) => {
                        self.error(&format!("pipe: {e}"));
                        return Err(self.fatal(2));
                    }
                }
            } else {
                (None, None)
            };
            let pid = self.fork_child(mode, pgid, |sh| {
                if let Some(r) = next_read {
                    sys::close(r);
                }
                if let Some(r) = prev_read {
                    let _ = sys::dup2(r, 0);
                    sys::close(r);
                }
                if let Some(w) = write {
                    let _ = sys::dup2(w, 1);
                    sys::close(w);
                }
                sh.run_command(cmd, true)
                    .unwrap_or_else(|f| flow_status(sh, f))
            });
            if let Some(r) = prev_read {
                sys::close(r);
            }
            if let Some(w) = write {
                sys::close(w);
            }
            prev_read = next_read;
            let pid = match pid {
                Ok(p) => p,
                Err(f) => {
                    if let Some(r) = prev_read {
                        sys::close(r);
                    }
                    return Err(f);
                }
            };
            if pgid == 0 {
                pgid = pid;
            }
            pids.push(pid);
        }
        Ok(pids)
    }

    /// Runs one command. `in_child` means this process exists only for it (exec in place).
    pub fn run_command(&mut self, cmd: &Command, in_child: bool) -> Status {
        match cmd {
            Command::Simple(sc) => self.run_simple(sc, in_child),
            Command::FunctionDef(f) => {
                self.functions.insert(f.name.clone(), Rc::clone(f));
                Ok(0)
            }
            Command::Compound(c, redirs) => {
                if let CompoundCommand::Subshell(prog) = c.as_ref()
                    && !in_child
                {
                    return self.run_subshell(prog, redirs);
                }
                let Ok(saved) = self.apply_redirects(redirs, true) else {
                    return Ok(2);
                };
                let r = self.run_compound(c);
                self.restore_fds(saved);
                r
            }
        }
    }

    fn run_subshell(&mut self, prog: &Program, redirs: &[Redirect]) -> Status {
        let prog = prog.clone();
        let redirs = redirs.to_vec();
        let pid = self.fork_child(ForkMode::Foreground, 0, move |sh| {
            if sh.apply_redirects(&redirs, false).is_err() {
                return 2;
            }
            sh.run_program(&prog).unwrap_or_else(|f| flow_status(sh, f))
        })?;
        let id = self.jobs.add(pid, &[pid], "(…)");
        Ok(self.wait_foreground(id))
    }

    fn run_compound(&mut self, c: &CompoundCommand) -> Status {
        match c {
            CompoundCommand::Brace(p) => self.run_program(p),
            CompoundCommand::Subshell(p) => {
                let r = self.run_program(p);
                r.or_else(|f| Ok(flow_status(self, f)))
            }
            CompoundCommand::If {
                branches,
                otherwise,
            } => {
                for (cond, body) in branches {
                    self.cond_depth += 1;
                    let c = self.run_program(cond);
                    self.cond_depth -= 1;
                    if c? == 0 {
                        return self.run_program(body);
                    }
                }
                match otherwise {
                    Some(p) => self.run_program(p),
                    None => Ok(0),
                }
            }
            CompoundCommand::Loop { until, cond, body } => {
                let mut status = 0;
                self.loop_depth += 1;
                let r = loop {
                    self.cond_depth += 1;
                    let c = self.run_program(cond);
                    self.cond_depth -= 1;
                    let c = match c {
                        Ok(c) => c,
                        Err(f) => break Err(f),
                    };
                    if (c == 0) == *until {
                        break Ok(status);
                    }
                    match self.run_program(body) {
                        Ok(s) => status = s,
                        Err(Flow::Break(n)) => {
                            break if n > 1 {
                                Err(Flow::Break(n - 1))
                            } else {
                                Ok(0)
                            };
                        }
                        Err(Flow::Continue(n)) if n > 1 => break Err(Flow::Continue(n - 1)),
                        Err(Flow::Continue(_)) => status = 0,
                        Err(f) => break Err(f),
                    }
                };
                self.loop_depth -= 1;
                r
            }
            CompoundCommand::For { var, words, body } => {
                let items = match words {
                    Some(ws) => match self.expand_words(ws) {
                        Ok(v) => v,
                        Err(e) => return Err(self.expand_failed(&e)),
                    },
                    None => self.positional.clone(),
                };
                let mut status;
                self.loop_depth += 1;
                let mut r = Ok(0);
                for it in items {
                    if let Err(e) = self.set_var(var, &it) {
                        self.error(&e);
                        r = Err(self.fatal(2));
                        break;
                    }
                    match self.run_program(body) {
                        Ok(s) => status = s,
                        Err(Flow::Break(n)) => {
                            if n > 1 {
                                r = Err(Flow::Break(n - 1));
                            }
                            break;
                        }
                        Err(Flow::Continue(n)) if n > 1 => {
                            r = Err(Flow::Continue(n - 1));
                            break;
                        }
                        Err(Flow::Continue(_)) => status = 0,
                        Err(f) => {
                            r = Err(f);
                            break;
                        }
                    }
                    r = Ok(status);
                }
                self.loop_depth -= 1;
                r
            }
            CompoundCommand::Case { word, arms } => {
                let subject = match self.expand_string(word) {
                    Ok(s) => s,
                    Err(e) => return Err(self.expand_failed(&e)),
                };
                let mut matched = false;
                for arm in arms {
                    if !matched {
                        for p in &arm.patterns {
                            let pat = match self.expand_pattern(p) {
                                Ok(p) => p,
                                Err(e) => return Err(self.expand_failed(&e)),
                            };
                            if pat.matches(&subject) {
                                matched = true;
                                break;
                            }
                        }
                    }
                    if matched {
                        let s = self.run_program(&arm.body)?;
                        if !arm.fallthrough {
                            return Ok(s);
                        }
                    }
                }
                Ok(0)
            }
        }
    }

    /// Reports an expansion error and returns the flow for it (exit 2 when not interactive).
    pub fn expand_failed(&mut self, e: &super::expand::ExpandError) -> Flow {
        if *e == super::expand::ExpandError::Interrupted {
            super::traps::take_sigint();
            self.last_status = 130;
            return Flow::Abort(130);
        }
        self.error(&e.to_string());
        self.last_status = 2;
        self.fatal(2)
    }
}

/// Wall and CPU time (the shell's and its waited-for children's) when `time` began.
struct Timing {
    wall: std::time::Instant,
    user: f64,
    sys: f64,
}

impl Timing {
    fn now() -> Timing {
        let cpu = |who| {
            let mut ru = std::mem::MaybeUninit::<libc::rusage>::zeroed();
            // SAFETY: getrusage fills the struct it is given.
            let ru = unsafe {
                libc::getrusage(who, ru.as_mut_ptr());
                ru.assume_init()
            };
            let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
            (secs(ru.ru_utime), secs(ru.ru_stime))
        };
        let (su, ss) = cpu(libc::RUSAGE_SELF);
        let (cu, cs) = cpu(libc::RUSAGE_CHILDREN);
        Timing {
            wall: std::time::Instant::now(),
            user: su + cu,
            sys: ss + cs,
        }
    }

    /// Prints the times since `self` to stderr the way bash does (`-p`: POSIX's format).
    fn report(&self, posix: bool) {
        let end = Timing::now();
        let real = self.wall.elapsed().as_secs_f64();
        let (user, sys) = (end.user - self.user, end.sys - self.sys);
        let text = if posix {
            format!("real {real:.2}\nuser {user:.2}\nsys {sys:.2}\n")
        } else {
            let f = |t: f64| format!("{}m{:.3}s", (t / 60.0) as u64, t % 60.0);
            format!("\nreal\t{}\nuser\t{}\nsys\t{}\n", f(real), f(user), f(sys))
        };
        builtins::write_fd(2, text.as_bytes());
    }
}

/// The exit status a flow means when it ends a child process.
pub fn flow_status(sh: &Shell, f: Flow) -> i32 {
    match f {
        Flow::Exit(s) | Flow::Abort(s) | Flow::Return(s) => s,
        Flow::Break(_) | Flow::Continue(_) => sh.last_status,
    }
}
