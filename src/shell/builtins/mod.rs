//! Builtin commands and the extension point for lab builtins.
//!
//! Core builtins are plain functions over the [`Shell`]; lab builtins (`raft …`, `labs`,
//! `logs`) come from a [`BuiltinProvider`] or a closure given to
//! [`Shell::register_builtin`], and see the shell through a [`BuiltinCtx`]. Either kind writes to
//! fds 0/1/2, which the executor has already pointed at the command's redirections and pipes: a
//! builtin alone on its line runs in the shell process, one inside a multi-command pipeline
//! runs in a forked child (as in dash).
//!
//! Files: `special.rs` (POSIX special builtins), `regular.rs` (cd, echo, type, command, …),
//! `printf.rs`, `test.rs`, `read.rs` (read, getopts), `jobctl.rs` (jobs, fg, bg, wait, kill),
//! `ulimit.rs`, `umask.rs`.

mod jobctl;
mod printf;
mod read;
mod regular;
mod special;
mod test;
mod ulimit;
mod umask;

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::rc::Rc;
use std::sync::Arc;

use super::ast::FunctionDef;
use super::state::{Shell, Status};
use super::sys;

/// A core builtin as a plain function (the tables in this module's files).
pub type CoreBuiltin = fn(&mut Shell, &[String]) -> Status;

/// The signature of a core builtin.
pub type BuiltinFn = Rc<dyn Fn(&mut Shell, &[String]) -> Status>;

/// The signature of a lab builtin registered with [`Shell::register_builtin`].
pub type LabBuiltinFn = Rc<dyn Fn(&mut BuiltinCtx<'_>, &[String]) -> i32>;

/// Writes bytes to an fd, ignoring errors (a closed pipe is the reader's business).
pub fn write_fd(fd: i32, bytes: &[u8]) {
    let _ = sys::write_all(fd, bytes);
}

/// An unbuffered writer on a raw fd (1 or 2 for builtins).
#[derive(Clone, Copy, Debug)]
pub struct FdWriter(pub i32);

impl Write for FdWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        sys::write_all(self.0, buf)?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// An unbuffered reader on a raw fd (0 for builtins).
#[derive(Clone, Copy, Debug)]
pub struct FdReader(pub i32);

impl Read for FdReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        sys::read(self.0, buf)
    }
}

/// What a lab builtin sees: its standard streams (already redirected) and the shell's variables.
pub struct BuiltinCtx<'a> {
    shell: &'a mut Shell,
}

impl<'a> BuiltinCtx<'a> {
    /// Every builtin name of this shell (for `help`).
    pub fn builtin_names(&self) -> Vec<String> {
        self.shell.builtins.names()
    }

    /// Standard input (fd 0), honouring `<` redirections and pipes.
    pub fn stdin(&self) -> FdReader {
        FdReader(0)
    }
    /// Standard output (fd 1).
    pub fn stdout(&self) -> FdWriter {
        FdWriter(1)
    }
    /// Standard error (fd 2).
    pub fn stderr(&self) -> FdWriter {
        FdWriter(2)
    }
    /// A `File` on a duplicate of fd 0, 1 or 2 (for APIs that want an owned handle; closing it
    /// leaves the shell's fd alone).
    pub fn dup_file(&self, fd: i32) -> io::Result<std::fs::File> {
        use std::os::fd::FromRawFd;
        match sys::dup_high(fd) {
            // SAFETY: the descriptor was just created and is owned by nothing else.
            Some(new) => Ok(unsafe { std::fs::File::from_raw_fd(new) }),
            None => Err(io::Error::last_os_error()),
        }
    }
    /// True when the user pressed Ctrl-C (SIGINT arrived) while this builtin ran in the shell
    /// process; a long-running builtin (`logs -f`) should poll it and return 130.
    pub fn interrupted(&self) -> bool {
        super::traps::sigint_pending()
    }
    /// Writes a line to stdout.
    pub fn println(&self, s: &str) {
        write_fd(1, format!("{s}\n").as_bytes());
    }
    /// Writes `name: message` to stderr in the shell's error format.
    pub fn error(&self, msg: &str) {
        self.shell.error(msg);
    }
    /// A shell variable.
    pub fn var(&self, name: &str) -> Option<&str> {
        self.shell.get(name)
    }
    /// Sets a shell variable (fails on readonly ones).
    pub fn set_var(&mut self, name: &str, value: &str) -> Result<(), String> {
        self.shell.set_var(name, value)
    }
    /// True when running in a forked child (inside a pipeline or subshell).
    pub fn in_child(&self) -> bool {
        self.shell.in_subshell
    }
    /// The whole shell, for builtins that need more (e.g. running a command string).
    pub fn shell(&mut self) -> &mut Shell {
        self.shell
    }
}

/// A family of lab builtins (e.g. everything a running Raft lab offers).
pub trait BuiltinProvider: Send + Sync {
    /// The command names this provider answers to.
    fn names(&self) -> Vec<String>;
    /// Runs `argv[0]` with its arguments; returns the exit status.
    fn run(&self, ctx: &mut BuiltinCtx<'_>, argv: &[String]) -> i32;
    /// Completion candidates for the word `partial` after `words` (e.g. node ids after
    /// `raft kill`).
    fn complete(&self, _words: &[String], _partial: &str) -> Vec<String> {
        Vec::new()
    }
    /// A short status for the interactive prompt (e.g. `raft:3/3`), when something runs.
    fn prompt_segment(&self) -> Option<String> {
        None
    }
}

/// How a command name resolves.
pub enum Lookup {
    /// A POSIX special builtin.
    Special(BuiltinFn),
    /// A shell function.
    Function(Rc<FunctionDef>),
    /// A regular or lab builtin.
    Builtin(BuiltinFn),
    /// Search `$PATH`.
    External,
}

/// All builtins by name.
#[derive(Clone)]
pub struct BuiltinRegistry {
    special: HashMap<String, BuiltinFn>,
    regular: HashMap<String, BuiltinFn>,
    providers: Vec<Arc<dyn BuiltinProvider>>,
}

fn core(f: CoreBuiltin) -> BuiltinFn {
    Rc::new(f)
}

impl BuiltinRegistry {
    /// The registry with every core builtin.
    pub fn with_core() -> BuiltinRegistry {
        let mut special = HashMap::new();
        for (n, f) in special::TABLE {
            special.insert(n.to_string(), core(*f));
        }
        let mut regular = HashMap::new();
        let tables = [
            regular::TABLE,
            printf::TABLE,
            test::TABLE,
            read::TABLE,
            jobctl::TABLE,
            ulimit::TABLE,
            umask::TABLE,
        ];
        for t in tables {
            for (n, f) in t {
                regular.insert(n.to_string(), core(*f));
            }
        }
        BuiltinRegistry {
            special,
            regular,
            providers: Vec::new(),
        }
    }

    /// Resolves a name: special builtins, then functions, then builtins, then `$PATH`.
    pub fn lookup(&self, name: &str, functions: &HashMap<String, Rc<FunctionDef>>) -> Lookup {
        if let Some(f) = self.special.get(name) {
            return Lookup::Special(f.clone());
        }
        if let Some(f) = functions.get(name) {
            return Lookup::Function(f.clone());
        }
        self.lookup_builtin(name)
            .map(Lookup::Builtin)
            .unwrap_or(Lookup::External)
    }

    /// A regular or lab builtin by name (what `command` may run).
    pub fn lookup_builtin(&self, name: &str) -> Option<BuiltinFn> {
        if let Some(f) = self.regular.get(name) {
            return Some(f.clone());
        }
        let p = self
            .providers
            .iter()
            .find(|p| p.names().iter().any(|n| n == name))?
            .clone();
        Some(Rc::new(move |sh: &mut Shell, argv: &[String]| {
            let mut ctx = BuiltinCtx { shell: sh };
            Ok(p.run(&mut ctx, argv))
        }))
    }

    /// True for POSIX special builtins.
    pub fn is_special(&self, name: &str) -> bool {
        self.special.contains_key(name)
    }

    /// A special builtin by name (for `command`, which strips its specialness).
    pub fn special(&self, name: &str) -> Option<BuiltinFn> {
        self.special.get(name).cloned()
    }

    /// Every builtin name (for completion and highlighting).
    pub fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .special
            .keys()
            .chain(self.regular.keys())
            .cloned()
            .collect();
        for p in &self.providers {
            v.extend(p.names());
        }
        v.sort();
        v.dedup();
        v
    }

    /// The registered providers (the line editor asks them for completions and prompt text).
    pub fn providers(&self) -> Vec<Arc<dyn BuiltinProvider>> {
        self.providers.clone()
    }
}

impl Shell {
    /// Registers a lab builtin under `name` (replacing a regular builtin of that name).
    pub fn register_builtin(&mut self, name: &str, f: LabBuiltinFn) {
        let wrapped: BuiltinFn = Rc::new(move |sh: &mut Shell, argv: &[String]| {
            let mut ctx = BuiltinCtx { shell: sh };
            Ok(f(&mut ctx, argv))
        });
        Rc::make_mut(&mut self.builtins)
            .regular
            .insert(name.to_string(), wrapped);
    }

    /// Adds a provider of lab builtins (looked up after the core builtins).
    pub fn add_provider(&mut self, p: Arc<dyn BuiltinProvider>) {
        Rc::make_mut(&mut self.builtins).providers.push(p);
    }

    /// Writes to stdout (fd 1).
    pub fn out(&self, s: &str) {
        write_fd(1, s.as_bytes());
    }

    /// Writes to stdout; the status a builtin returns (1 when the write failed).
    pub fn out_status(&self, s: &str) -> i32 {
        match sys::write_all(1, s.as_bytes()) {
            Ok(()) => 0,
            Err(e) => {
                self.error(&format!("write error: {}", sys::errno_text(&e)));
                1
            }
        }
    }

    /// Reports a builtin's usage error (`name: msg`) and returns status 2.
    pub fn usage(&self, name: &str, msg: &str) -> i32 {
        self.error(&format!("{name}: {msg}"));
        2
    }
}

/// Parses a non-negative decimal argument the way dash does (`Illegal number` otherwise).
pub fn number_arg(sh: &Shell, name: &str, s: &str) -> Result<i64, i32> {
    match s.parse::<i64>() {
        Ok(n) if n >= 0 => Ok(n),
        _ => Err(sh.usage(name, &format!("Illegal number: {s}"))),
    }
}
