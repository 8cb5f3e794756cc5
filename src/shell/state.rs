//! The shell's state: variables with their export/readonly flags, positional parameters,
//! options (`set -e …`), functions, aliases and the bookkeeping the executor needs.

use std::collections::HashMap;
use std::ffi::CString;
use std::rc::Rc;

use super::ast::FunctionDef;
use super::builtins::BuiltinRegistry;
use super::jobs::JobTable;
use super::traps::Traps;

/// A shell variable.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Var {
    /// `None` when declared (export/readonly/local) but unset.
    pub value: Option<String>,
    /// Passed to the environment of commands.
    pub exported: bool,
    /// Cannot be changed or unset.
    pub readonly: bool,
}

/// The `set` options.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// `-a`
    pub allexport: bool,
    /// `-C`
    pub noclobber: bool,
    /// `-e`
    pub errexit: bool,
    /// `-f`
    pub noglob: bool,
    /// `-m`
    pub monitor: bool,
    /// `-n`
    pub noexec: bool,
    /// `-u`
    pub nounset: bool,
    /// `-v`
    pub verbose: bool,
    /// `-x`
    pub xtrace: bool,
    /// `-o pipefail`
    pub pipefail: bool,
    /// `-i`
    pub interactive: bool,
    /// `-s`
    pub stdin: bool,
}

/// Letters and long names of the options, in dash's order (`set -o`, `set +o`).
pub const OPTION_NAMES: &[(char, &str)] = &[
    ('e', "errexit"),
    ('f', "noglob"),
    ('m', "monitor"),
    ('n', "noexec"),
    ('x', "xtrace"),
    ('v', "verbose"),
    ('C', "noclobber"),
    ('a', "allexport"),
    ('u', "nounset"),
    ('\0', "pipefail"),
];

impl Options {
    /// The flag behind a letter or long name.
    pub fn flag_mut(&mut self, letter: char, long: &str) -> Option<&mut bool> {
        Some(match (letter, long) {
            ('a', _) | (_, "allexport") => &mut self.allexport,
            ('C', _) | (_, "noclobber") => &mut self.noclobber,
            ('e', _) | (_, "errexit") => &mut self.errexit,
            ('f', _) | (_, "noglob") => &mut self.noglob,
            ('m', _) | (_, "monitor") => &mut self.monitor,
            ('n', _) | (_, "noexec") => &mut self.noexec,
            ('u', _) | (_, "nounset") => &mut self.nounset,
            ('v', _) | (_, "verbose") => &mut self.verbose,
            ('x', _) | (_, "xtrace") => &mut self.xtrace,
            (_, "pipefail") => &mut self.pipefail,
            _ => return None,
        })
    }

    /// The value of `$-`, its letters in dash's order.
    pub fn dash_flags(&self) -> String {
        let mut s = String::new();
        let mut o = self.clone();
        for c in "uaCvxsnmife".chars() {
            let on = match c {
                'i' => self.interactive,
                's' => self.stdin,
                c => o.flag_mut(c, "").is_some_and(|f| *f),
            };
            if on {
                s.push(c);
            }
        }
        s
    }
}

/// Non-local control flow out of a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    /// `break n`
    Break(u32),
    /// `continue n`
    Continue(u32),
    /// `return n`
    Return(i32),
    /// Leave the shell (or the subshell) with a status.
    Exit(i32),
    /// An error that aborts the current command line (interactive shells only).
    Abort(i32),
}

/// The result of running a command.
pub type Status = Result<i32, Flow>;

/// The whole interpreter state.
pub struct Shell {
    /// Variables by name.
    pub vars: HashMap<String, Var>,
    /// `$1 …`
    pub positional: Vec<String>,
    /// `$0`
    pub arg0: String,
    /// Defined functions.
    pub functions: HashMap<String, Rc<FunctionDef>>,
    /// Aliases.
    pub aliases: HashMap<String, String>,
    /// `set` options.
    pub opts: Options,
    /// `$?`
    pub last_status: i32,
    /// `$!`
    pub last_bg: Option<i32>,
    /// `$$` (the top shell's pid, also in subshells).
    pub shell_pid: i32,
    /// True in a forked child (subshell, pipeline member, command substitution).
    pub in_subshell: bool,
    /// Current line, for messages and `$LINENO`.
    pub lineno: usize,
    /// Depth of conditions where `set -e` does not apply.
    pub cond_depth: usize,
    /// Nesting of loops, for `break`/`continue`.
    pub loop_depth: u32,
    /// Nesting of function calls.
    pub func_depth: usize,
    /// Saved variables of `local` declarations, one frame per function call.
    pub local_frames: Vec<Vec<(String, Option<Var>)>>,
    /// Nesting of `.` scripts (for `return`).
    pub source_depth: usize,
    /// Trap actions.
    pub traps: Traps,
    /// Jobs.
    pub jobs: JobTable,
    /// Builtins, core and registered.
    pub builtins: Rc<BuiltinRegistry>,
    /// Remembered command locations (`hash`).
    pub hash: HashMap<String, String>,
    /// History lines (shared with the line editor).
    pub history: Vec<String>,
    /// The terminal fd when job control is on.
    pub tty_fd: Option<i32>,
    /// The shell's terminal modes, put back after every foreground job.
    pub shell_tmodes: Option<nix::sys::termios::Termios>,
    /// Status of the last command substitution in the current simple command.
    pub subst_status: Option<i32>,
    /// Prefix for syntax errors (`eval: `) while parsing a string for a builtin.
    pub parse_context: Option<String>,
    /// `getopts` bookkeeping: the OPTIND it last set and the position inside that argument.
    pub getopts_state: (usize, usize),
    /// The interactive shell already moved to a new line after a Ctrl-C (a foreground job died
    /// of it), so aborting the command line does not print another.
    pub sigint_newline_done: bool,
    /// `$PIPESTATUS`: the exit status of each command of the last foreground pipeline.
    pub pipestatus: Vec<i32>,
    /// `$RANDOM`'s generator state and the pid it belongs to (a subshell starts a sequence of
    /// its own).
    pub random: std::cell::Cell<(u64, i32)>,
}

/// Deepest allowed function recursion.
pub const MAX_FUNC_DEPTH: usize = 1000;

impl Shell {
    /// A shell with the environment imported and the core builtins.
    pub fn new(arg0: &str) -> Shell {
        let mut vars = HashMap::new();
        for (k, v) in std::env::vars_os() {
            if let (Some(k), Some(v)) = (k.to_str(), v.to_str())
                && super::parser::is_name(k)
            {
                vars.insert(
                    k.to_string(),
                    Var {
                        value: Some(v.to_string()),
                        exported: true,
                        readonly: false,
                    },
                );
            }
        }
        let mut sh = Shell {
            vars,
            positional: Vec::new(),
            arg0: arg0.to_string(),
            functions: HashMap::new(),
            aliases: HashMap::new(),
            opts: Options::default(),
            last_status: 0,
            last_bg: None,
            shell_pid: std::process::id() as i32,
            in_subshell: false,
            lineno: 0,
            cond_depth: 0,
            loop_depth: 0,
            func_depth: 0,
            local_frames: Vec::new(),
            source_depth: 0,
            traps: Traps::default(),
            jobs: JobTable::default(),
            builtins: Rc::new(BuiltinRegistry::with_core()),
            hash: HashMap::new(),
            history: Vec::new(),
            tty_fd: None,
            shell_tmodes: None,
            subst_status: None,
            getopts_state: (1, 1),
            parse_context: None,
            sigint_newline_done: false,
            pipestatus: Vec::new(),
            random: std::cell::Cell::new((0, 0)),
        };
        if !sh.vars.contains_key("IFS") {
            sh.vars.insert(
                "IFS".into(),
                Var {
                    value: Some(" \t\n".into()),
                    ..Var::default()
                },
            );
        }
        let defaults = [("PS2", "> "), ("PS4", "+ "), ("OPTIND", "1")];
        for (k, v) in defaults {
            sh.vars.entry(k.into()).or_insert(Var {
                value: Some(v.into()),
                ..Var::default()
            });
        }
        // `$PPID`: the parent of the shell (subshells keep it, as POSIX says).
        let ppid = nix::unistd::getppid().as_raw().to_string();
        sh.vars.entry("PPID".into()).or_default().value = Some(ppid);
        if let Ok(cwd) = std::env::current_dir() {
            let cwd = cwd.to_string_lossy().into_owned();
            let keep = sh.get("PWD").is_some_and(|p| {
                p.starts_with('/')
                    && same_file(p, &cwd)
                    && !p.split('/').any(|c| c == "." || c == "..")
            });
            if !keep {
                let _ = sh.set_var("PWD", &cwd);
            }
        }
        sh
    }

    /// A variable's value.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars.get(name).and_then(|v| v.value.as_deref())
    }

    /// Sets a variable, honouring readonly and `set -a`.
    pub fn set_var(&mut self, name: &str, value: &str) -> Result<(), String> {
        if name == "RANDOM" {
            // As in bash, assigning to RANDOM seeds its sequence.
            let seed = value.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
            });
            self.random.set((seed | 1, std::process::id() as i32));
            return Ok(());
        }
        let allexport = self.opts.allexport;
        let v = self.vars.entry(name.to_string()).or_default();
        if v.readonly {
            return Err(format!("{name}: is read only"));
        }
        v.value = Some(value.to_string());
        if allexport {
            v.exported = true;
        }
        if name == "PATH" {
            self.hash.clear();
        }
        Ok(())
    }

    /// Unsets a variable.
    pub fn unset_var(&mut self, name: &str) -> Result<(), String> {
        if self.vars.get(name).is_some_and(|v| v.readonly) {
            return Err(format!("{name}: is read only"));
        }
        self.vars.remove(name);
        if name == "PATH" {
            self.hash.clear();
        }
        Ok(())
    }

    /// `local name`: remember the current value so the function's return restores it.
    pub fn make_local(&mut self, name: &str) {
        let old = self.vars.get(name).cloned();
        if let Some(frame) = self.local_frames.last_mut()
            && !frame.iter().any(|(n, _)| n == name)
        {
            frame.push((name.to_string(), old));
        }
    }

    /// The environment for an exec: exported variables plus `extra`.
    pub fn environ(&self, extra: &[(String, String)]) -> Vec<CString> {
        let mut env: Vec<CString> = Vec::new();
        for (k, v) in &self.vars {
            if v.exported
                && let Some(val) = &v.value
                && !extra.iter().any(|(n, _)| n == k)
                && let Ok(c) = CString::new(format!("{k}={val}"))
            {
                env.push(c);
            }
        }
        for (k, v) in extra {
            if let Ok(c) = CString::new(format!("{k}={v}")) {
                env.push(c);
            }
        }
        env
    }

    /// Field separators (`$IFS`, default when unset).
    pub fn ifs(&self) -> String {
        match self.vars.get("IFS") {
            Some(Var { value: Some(v), .. }) => v.clone(),
            Some(Var { value: None, .. }) | None => " \t\n".into(),
        }
    }

    /// True when the shell was started interactive.
    pub fn interactive(&self) -> bool {
        self.opts.interactive && !self.in_subshell
    }

    /// Prints `prefix: line: msg` to stderr the way dash does.
    pub fn error(&self, msg: &str) {
        let line = if self.interactive() {
            String::new()
        } else {
            format!("{}: ", self.lineno)
        };
        super::builtins::write_fd(2, format!("{}: {line}{msg}\n", self.arg0).as_bytes());
    }

    /// The flow for a fatal error: exit a script, abort the line in an interactive shell.
    pub fn fatal(&self, status: i32) -> Flow {
        if self.interactive() {
            Flow::Abort(status)
        } else {
            Flow::Exit(status)
        }
    }
}

fn same_file(a: &str, b: &str) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}
