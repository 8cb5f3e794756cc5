//! The wirelab shell: a POSIX `sh` (dash is the behavioural reference) that is the product's
//! one command language — `wirelab shell`, the scripts in `labs/`, the dashboard's key actions,
//! the tour and the tests all run through it.
//!
//! # Layout
//! - `lexer.rs`: tokens, quoting, here-documents, operators, io numbers; reads input line by line.
//! - `ast.rs`: the syntax tree; words keep their quoting.
//! - `parser.rs`: the POSIX grammar, one complete command at a time; syntax errors carry a line
//!   number and say whether more input could complete them (the line editor's multi-line mode).
//! - `expand.rs`: tilde, parameter, command and arithmetic expansion, IFS splitting, globbing,
//!   quote removal; `arith.rs` evaluates `$(( ))`; `pattern.rs` matches `case`/`#`/glob patterns.
//! - `exec.rs`: walks the tree (lists, pipelines, compound commands, `set -e`); `simple.rs`:
//!   simple commands, lookup order, functions, `set -x`;
//!   `process.rs`: fork/exec, redirections, process groups, waits, command substitution;
//!   `spawn.rs`: the posix_spawn fast path for plain foreground commands; `sys.rs`: raw fd
//!   system calls; `display.rs`: commands back to text for job reports.
//! - `jobs.rs`: the job table and job ids; `traps.rs`: `trap` and signal dispositions.
//! - `state.rs`: variables, options, the [`Shell`] struct; `input.rs`: line sources (stdin is
//!   read one byte at a time so `read` in a piped script sees the script's next lines).
//! - `builtins/`: special and regular builtins and the lab-builtin extension point.
//! - `editor.rs`: the interactive line editor (reedline) with a plain fallback;
//!   `complete.rs`: its completion, highlighting and multi-line validation.
//! - `capture.rs`: run a command string with its output captured (dashboard, tour).
//!
//! # Lab builtins (extension point)
//! A system registers its commands on a [`Shell`] before running it, either one closure per
//! name with [`Shell::register_builtin`]`(name, Rc<dyn Fn(&mut BuiltinCtx, &[String]) -> i32>)`
//! or a whole family with [`Shell::add_provider`]`(Arc<dyn BuiltinProvider>)` (`Send + Sync`, so the line editor can
//! ask it for completions), whose
//! [`BuiltinProvider::complete`] also feeds tab completion (`raft kill <TAB>`). The builtin
//! reads fd 0 and writes fds 1 and 2 through [`BuiltinCtx::stdin`]/[`BuiltinCtx::stdout`]/
//! [`BuiltinCtx::stderr`] (or an owned duplicate from [`BuiltinCtx::dup_file`]): redirections and
//! pipes are already in place. Alone on its line (with or without redirections) it runs inside
//! the shell process, so it can share state such as a supervisor; inside a multi-command
//! pipeline it runs in a forked child, as dash runs builtins there. A long-running builtin polls
//! [`BuiltinCtx::interrupted`] to stop on Ctrl-C in an interactive shell.
//! [`run_cli_with`] takes the providers for the `wirelab shell` command; the dashboard can hold
//! its own [`Shell`] and call [`Shell::run_captured`] (output captured for its command log) or
//! [`Shell::eval_string`] (output to the real fds).

#![deny(missing_docs)]

pub mod arith;
pub mod assign;
pub mod ast;
pub mod builtins;
pub mod capture;
pub mod complete;
pub mod display;
pub mod editor;
pub mod exec;
pub mod expand;
pub mod input;
pub mod jobs;
pub mod lexer;
pub mod limits;
pub mod parser;
pub mod pattern;
pub mod process;
pub mod simple;
pub mod spawn;
pub mod state;
pub mod sys;
pub mod traps;

use std::sync::Arc;

pub use builtins::{BuiltinCtx, BuiltinProvider, FdReader, FdWriter, LabBuiltinFn};
pub use capture::Captured;
pub use state::{Flow, Shell};

/// Command-line arguments of `wirelab shell`.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct ShellArgs {
    /// Run the first operand as a command string; further operands set `$0` and then `$1…`
    /// (as in dash, everything after the command string is an operand, `--` and `-x` too).
    #[arg(short = 'c')]
    pub command: bool,
    /// Interactive even when stdin is not a terminal.
    #[arg(short = 'i')]
    pub interactive: bool,
    /// Read commands from standard input (operands set `$1…`).
    #[arg(short = 's')]
    pub stdin: bool,
    /// Exit when a command fails (`set -e`).
    #[arg(short = 'e')]
    pub errexit: bool,
    /// Trace commands (`set -x`).
    #[arg(short = 'x')]
    pub xtrace: bool,
    /// Unset parameters are an error (`set -u`).
    #[arg(short = 'u')]
    pub nounset: bool,
    /// Print input lines as they are read (`set -v`).
    #[arg(short = 'v')]
    pub verbose: bool,
    /// Read commands but do not run them (`set -n`).
    #[arg(short = 'n')]
    pub noexec: bool,
    /// No pathname expansion (`set -f`).
    #[arg(short = 'f')]
    pub noglob: bool,
    /// Job control (`set -m`; on by default when interactive).
    #[arg(short = 'm')]
    pub monitor: bool,
    /// `>` does not overwrite files (`set -C`).
    #[arg(short = 'C')]
    pub noclobber: bool,
    /// Export every assigned variable (`set -a`).
    #[arg(short = 'a')]
    pub allexport: bool,
    /// Long option names (`-o pipefail`).
    #[arg(short = 'o', value_name = "OPTION")]
    pub options: Vec<String>,
    /// FILE [ARGS…], or COMMAND [NAME [ARGS…]] with -c, or ARGS… with -s.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

/// Runs `wirelab shell …` with the core builtins only; returns the exit status.
pub fn run_cli(args: ShellArgs) -> i32 {
    run_cli_with(args, Vec::new())
}

/// Runs `wirelab shell …` with lab builtins from `providers`; returns the exit status.
pub fn run_cli_with(args: ShellArgs, providers: Vec<Arc<dyn BuiltinProvider>>) -> i32 {
    traps::default_signal(nix::sys::signal::Signal::SIGPIPE);
    let mut sh = Shell::new("wirelab");
    for p in providers {
        sh.add_provider(p);
    }
    let o = &mut sh.opts;
    o.errexit = args.errexit;
    o.xtrace = args.xtrace;
    o.nounset = args.nounset;
    o.verbose = args.verbose;
    o.noexec = args.noexec;
    o.noglob = args.noglob;
    o.monitor = args.monitor;
    o.noclobber = args.noclobber;
    o.allexport = args.allexport;
    for name in &args.options {
        match sh.opts.flag_mut('\0', name) {
            Some(f) => *f = true,
            None => {
                sh.error(&format!("Illegal option -o {name}"));
                return 2;
            }
        }
    }
    input::set_verbose(sh.opts.verbose);
    let result = if args.command {
        let Some(cmd) = args.args.first() else {
            builtins::write_fd(2, b"wirelab: 0: -c requires an argument\n");
            return 2;
        };
        if let Some(name) = args.args.get(1) {
            sh.arg0 = name.clone();
        }
        sh.positional = args.args.iter().skip(2).cloned().collect();
        sh.opts.interactive = args.interactive;
        sh.run_source(Box::new(input::LinesSource::command_string(cmd.clone())))
    } else if !args.stdin && !args.args.is_empty() {
        let file = &args.args[0];
        sh.positional = args.args[1..].to_vec();
        match std::fs::read(file) {
            Ok(bytes) => {
                sh.arg0 = file.clone();
                let text = String::from_utf8_lossy(&bytes).into_owned();
                sh.run_source(Box::new(input::LinesSource::new(text)))
            }
            Err(e) => {
                let why = match e.raw_os_error() {
                    Some(libc::ENOENT) => "No such file".to_string(),
                    _ => sys::errno_text(&e),
                };
                builtins::write_fd(
                    2,
                    format!("wirelab: 0: cannot open {file}: {why}\n").as_bytes(),
                );
                return if e.raw_os_error() == Some(libc::ENOENT) {
                    127
                } else {
                    126
                };
            }
        }
    } else {
        sh.positional = args.args.clone();
        sh.opts.stdin = true;
        // SAFETY: isatty only inspects the fds.
        let tty = unsafe { libc::isatty(0) == 1 && libc::isatty(2) == 1 };
        if args.interactive || tty {
            sh.opts.interactive = true;
            return editor::run_interactive(&mut sh);
        }
        sh.run_source(Box::new(input::StdinSource::new()))
    };
    finish(&mut sh, result)
}

/// Ends a shell run: the final status after the EXIT trap.
pub fn finish(sh: &mut Shell, result: Result<i32, Flow>) -> i32 {
    let status = match result {
        Ok(s) => s,
        Err(f) => exec::flow_status(sh, f),
    };
    sh.run_exit_trap(status)
}
