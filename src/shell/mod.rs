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
pub mod history;
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

/// Command-line arguments of `wirelab shell`, read the way dash reads its own (see
/// [`Invocation::parse`]): `-c`, `-s`, `-i`, `-l`, the `set` letters with `-` or `+` and
/// clustered (`-ec`, `-eu`), `-o NAME` (several: `-oo errexit noglob`), `-`/`--` to end them.
#[derive(clap::Args, Clone, Debug, Default)]
#[command(disable_help_flag = true)]
pub struct ShellArgs {
    /// [-abCefimnsuvx] [-o NAME]… [-c COMMAND [NAME [ARGS…]] | -s [ARGS…] | FILE [ARGS…]]
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0..)]
    pub args: Vec<String>,
}

/// What the command line asks of the shell.
#[derive(Clone, Debug, Default)]
pub struct Invocation {
    /// `-c`: the command string.
    pub command: Option<String>,
    /// `-l` or `--login`: read `/etc/profile` and `$HOME/.profile` first.
    pub login: bool,
    /// The operands after the options (`$0`/`$1…`, or the script file and its arguments).
    pub operands: Vec<String>,
}

impl Invocation {
    /// Reads the options into `sh.opts` and returns the rest; `Err` with the exit status after
    /// printing the error. As in dash, `+c` is `-c` too and the command string is the first
    /// operand; `--login` is bash's spelling of `-l`.
    pub fn parse(sh: &mut Shell, args: &[String]) -> Result<Invocation, i32> {
        let mut inv = Invocation::default();
        let mut minus_c = false;
        let mut i = 0;
        while let Some(arg) = args.get(i) {
            let on = match arg.as_bytes().first() {
                Some(b'-') => true,
                Some(b'+') => false,
                _ => break,
            };
            i += 1;
            if arg == "-" || arg == "--" {
                break;
            }
            if arg == "--login" {
                inv.login = true;
                continue;
            }
            for c in arg[1..].chars() {
                match c {
                    'c' => minus_c = true,
                    'l' => inv.login = true,
                    'i' => sh.opts.interactive = on,
                    's' => sh.opts.stdin = on,
                    'o' => {
                        let Some(name) = args.get(i) else {
                            let _ = sh.eval_string(if on { "set -o" } else { "set +o" });
                            continue;
                        };
                        i += 1;
                        match sh.opts.flag_mut('\0', name) {
                            Some(f) => *f = on,
                            None => {
                                sh.error(&format!("Illegal option -o {name}"));
                                return Err(2);
                            }
                        }
                    }
                    c => match sh.opts.flag_mut(c, "") {
                        Some(f) if c != '\0' => *f = on,
                        _ => {
                            sh.error(&format!("Illegal option -{c}"));
                            return Err(2);
                        }
                    },
                }
            }
        }
        let mut rest = args[i.min(args.len())..].iter().cloned();
        if minus_c {
            let Some(cmd) = rest.next() else {
                sh.error("-c requires an argument");
                return Err(2);
            };
            inv.command = Some(cmd);
        }
        inv.operands = rest.collect();
        if inv.command.is_none() && inv.operands.is_empty() {
            sh.opts.stdin = true;
        }
        Ok(inv)
    }
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
    if args.args.first().is_some_and(|a| a == "--help") {
        builtins::write_fd(
            1,
            b"usage: wirelab shell [-abCefilmnsuvx] [-o option]... [-c command [name [arg...]] | -s [arg...] | file [arg...]]\n",
        );
        return 0;
    }
    let inv = match Invocation::parse(&mut sh, &args.args) {
        Ok(inv) => inv,
        Err(st) => return st,
    };
    input::set_verbose(sh.opts.verbose);
    // SAFETY: isatty only inspects the fds.
    let tty = unsafe { libc::isatty(0) == 1 && libc::isatty(2) == 1 };
    if sh.opts.stdin && inv.command.is_none() && tty {
        sh.opts.interactive = true;
    }
    if inv.login {
        for profile in ["/etc/profile".to_string(), "$HOME/.profile".to_string()] {
            let cmd = format!("if [ -r \"{profile}\" ]; then . \"{profile}\"; fi");
            if let Err(Flow::Exit(s)) = sh.eval_string(&cmd) {
                return finish(&mut sh, Err(Flow::Exit(s)));
            }
        }
    }
    let result = if let Some(cmd) = inv.command {
        let mut ops = inv.operands.into_iter();
        if let Some(name) = ops.next() {
            sh.arg0 = name;
        }
        sh.positional = ops.collect();
        if sh.opts.interactive && !tty {
            builtins::write_fd(
                2,
                format!("{}: 0: can't access tty; job control turned off\n", sh.arg0).as_bytes(),
            );
        }
        sh.run_source(Box::new(input::LinesSource::command_string(cmd)))
    } else if !sh.opts.stdin {
        let file = &inv.operands[0];
        sh.positional = inv.operands[1..].to_vec();
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
        sh.positional = inv.operands;
        if sh.opts.interactive {
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
