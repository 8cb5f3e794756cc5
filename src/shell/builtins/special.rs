//! The POSIX special builtins: `: . break continue eval exec exit export readonly return set
//! shift times trap unset`. Their variable assignments persist and their errors end a script.

use crate::shell::lexer::StrSource;
use crate::shell::parser::is_name;
use crate::shell::state::{Flow, OPTION_NAMES, Shell, Status};
use crate::shell::traps::{TrapAction, signal_name, signal_number};

use super::number_arg;

/// Name → function for the special builtins.
pub const TABLE: &[(&str, super::CoreBuiltin)] = &[
    (":", colon),
    (".", dot),
    ("break", brk),
    ("continue", cont),
    ("eval", eval),
    ("exec", exec),
    ("exit", exit),
    ("export", export),
    ("readonly", readonly),
    ("return", ret),
    ("set", set),
    ("shift", shift),
    ("times", times),
    ("trap", trap),
    ("unset", unset),
];

fn colon(_: &mut Shell, _: &[String]) -> Status {
    Ok(0)
}

/// `. file [args]` (also `source`).
pub fn dot(sh: &mut Shell, argv: &[String]) -> Status {
    let Some(name) = argv.get(1) else {
        return Ok(sh.usage(&argv[0], "filename argument required"));
    };
    let path = if name.contains('/') {
        Some(name.clone())
    } else {
        let path = sh.get("PATH").unwrap_or("").to_string();
        path.split(':')
            .map(|d| format!("{}/{name}", if d.is_empty() { "." } else { d }))
            .find(|p| std::path::Path::new(p).is_file())
    };
    let text = path.and_then(|p| std::fs::read(p).ok());
    let Some(text) = text else {
        sh.error(&format!("{}: cannot open {name}: No such file", argv[0]));
        return Err(sh.fatal(2));
    };
    let text = String::from_utf8_lossy(&text).into_owned();
    if sh.source_depth >= crate::shell::state::MAX_FUNC_DEPTH / 4 {
        sh.error(&format!("{}: nesting too deep", argv[0]));
        return Err(sh.fatal(2));
    }
    // Like dash, extra operands of `.` do not replace the positional parameters.
    sh.source_depth += 1;
    let line = sh.lineno;
    let r = sh.run_source(Box::new(StrSource::new(&text)));
    sh.lineno = line;
    sh.source_depth -= 1;
    match r {
        Err(Flow::Return(s)) => Ok(s),
        other => other,
    }
}

fn loop_count(sh: &Shell, argv: &[String]) -> Result<u32, Flow> {
    match argv.get(1) {
        None => Ok(1),
        Some(s) => match s.parse::<u32>() {
            Ok(n) if n > 0 => Ok(n.min(sh.loop_depth.max(1))),
            _ => {
                sh.usage(&argv[0], &format!("Illegal number: {s}"));
                Err(sh.fatal(2))
            }
        },
    }
}

fn brk(sh: &mut Shell, argv: &[String]) -> Status {
    let n = loop_count(sh, argv)?;
    if sh.loop_depth == 0 {
        return Ok(0);
    }
    Err(Flow::Break(n))
}

fn cont(sh: &mut Shell, argv: &[String]) -> Status {
    let n = loop_count(sh, argv)?;
    if sh.loop_depth == 0 {
        return Ok(0);
    }
    Err(Flow::Continue(n))
}

fn eval(sh: &mut Shell, argv: &[String]) -> Status {
    let s = argv[1..].join(" ");
    let saved = sh.parse_context.replace("eval: ".into());
    let r = sh.eval_string(&s);
    sh.parse_context = saved;
    r
}

/// `exec [-a NAME] [--] [COMMAND [ARG…]]`: `-a` and `--` as in bash (dash takes them for the
/// command's name); any other word is the command.
fn exec(sh: &mut Shell, argv: &[String]) -> Status {
    let mut i = 1;
    let mut arg0 = None;
    while let Some(a) = argv.get(i) {
        match a.as_str() {
            "--" => {
                i += 1;
                break;
            }
            "-a" => {
                let Some(name) = argv.get(i + 1) else {
                    sh.error("exec: -a: option requires an argument");
                    return Err(sh.fatal(2));
                };
                arg0 = Some(name.as_str());
                i += 2;
            }
            _ => break,
        }
    }
    if i >= argv.len() {
        return Ok(0);
    }
    if sh.find_in_path(&argv[i]).is_none() {
        sh.error(&format!("exec: {}: not found", argv[i]));
        return Err(Flow::Exit(127));
    }
    let st = sh.exec_external_as(&argv[i..], &[], "exec: ", arg0);
    Err(Flow::Exit(st))
}

fn exit(sh: &mut Shell, argv: &[String]) -> Status {
    let st = match argv.get(1) {
        None => sh.last_status,
        Some(s) => match number_arg(sh, "exit", s) {
            Ok(n) => n as i32,
            Err(_) => return Err(sh.fatal(2)),
        },
    };
    Err(Flow::Exit(st))
}

fn declare(sh: &mut Shell, argv: &[String], readonly: bool) -> Status {
    let args: Vec<&String> = argv[1..].iter().filter(|a| a.as_str() != "-p").collect();
    if args.is_empty() {
        let mut names: Vec<&String> = sh
            .vars
            .iter()
            .filter(|(_, v)| if readonly { v.readonly } else { v.exported })
            .map(|(k, _)| k)
            .collect();
        names.sort();
        let mut out = String::new();
        for n in names {
            match sh.vars.get(n).and_then(|v| v.value.as_deref()) {
                Some(v) => out.push_str(&format!("{} {n}={}\n", argv[0], quote_always(v))),
                None => out.push_str(&format!("{} {n}\n", argv[0])),
            }
        }
        sh.out(&out);
        return Ok(0);
    }
    for a in args {
        let (name, value) = match a.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (a.as_str(), None),
        };
        if !is_name(name) {
            sh.error(&format!("{}: {name}: bad variable name", argv[0]));
            return Err(sh.fatal(2));
        }
        if let Some(v) = value
            && let Err(e) = sh.set_var(name, v)
        {
            sh.error(&format!("{}: {e}", argv[0]));
            return Err(sh.fatal(2));
        }
        let var = sh.vars.entry(name.to_string()).or_default();
        if readonly {
            var.readonly = true;
        } else {
            var.exported = true;
        }
    }
    Ok(0)
}

fn export(sh: &mut Shell, argv: &[String]) -> Status {
    declare(sh, argv, false)
}

fn readonly(sh: &mut Shell, argv: &[String]) -> Status {
    declare(sh, argv, true)
}

fn ret(sh: &mut Shell, argv: &[String]) -> Status {
    let st = match argv.get(1) {
        None => sh.last_status,
        Some(s) => match number_arg(sh, "return", s) {
            Ok(n) => n as i32,
            Err(_) => return Err(sh.fatal(2)),
        },
    };
    Err(Flow::Return(st))
}

fn print_options(sh: &mut Shell, reusable: bool) {
    let mut out = String::new();
    if !reusable {
        out.push_str("Current option settings\n");
    }
    for (c, long) in OPTION_NAMES {
        let on = sh.opts.flag_mut(*c, long).is_some_and(|f| *f);
        if reusable {
            out.push_str(&format!("set {}o {long}\n", if on { '-' } else { '+' }));
        } else {
            out.push_str(&format!("{long:<16}{}\n", if on { "on" } else { "off" }));
        }
    }
    sh.out(&out);
}

/// `set`: options and positional parameters.
pub fn set(sh: &mut Shell, argv: &[String]) -> Status {
    if argv.len() == 1 {
        let mut names: Vec<&String> = sh.vars.keys().collect();
        names.sort();
        let mut out = String::new();
        for n in names {
            if let Some(v) = sh.get(n) {
                out.push_str(&format!("{n}={}\n", quote_always(v)));
            }
        }
        sh.out(&out);
        return Ok(0);
    }
    let mut i = 1;
    while i < argv.len() {
        let a = &argv[i];
        if a == "--" {
            i += 1;
            sh.positional = argv[i..].to_vec();
            return Ok(0);
        }
        if a == "-" {
            sh.opts.xtrace = false;
            sh.opts.verbose = false;
            i += 1;
            break;
        }
        let on = a.starts_with('-');
        if !(on || a.starts_with('+')) || a.len() < 2 {
            break;
        }
        for c in a[1..].chars() {
            if c == 'o' {
                i += 1;
                let Some(name) = argv.get(i) else {
                    print_options(sh, !on);
                    return Ok(0);
                };
                match sh.opts.flag_mut('\0', name) {
                    Some(f) => *f = on,
                    None => {
                        sh.error(&format!("set: Illegal option -o {name}"));
                        return Err(sh.fatal(2));
                    }
                }
                continue;
            }
            match sh.opts.flag_mut(c, "") {
                Some(f) => *f = on,
                None => {
                    sh.error(&format!(
                        "set: Illegal option {}{c}",
                        if on { '-' } else { '+' }
                    ));
                    return Err(sh.fatal(2));
                }
            }
        }
        crate::shell::input::set_verbose(sh.opts.verbose);
        i += 1;
    }
    if i < argv.len() {
        sh.positional = argv[i..].to_vec();
    }
    Ok(0)
}

fn shift(sh: &mut Shell, argv: &[String]) -> Status {
    let n = match argv.get(1) {
        None => 1,
        Some(s) => match number_arg(sh, "shift", s) {
            Ok(n) => n as usize,
            Err(_) => return Err(sh.fatal(2)),
        },
    };
    if n > sh.positional.len() {
        sh.error("shift: can't shift that many");
        return Err(sh.fatal(2));
    }
    sh.positional.drain(..n);
    Ok(0)
}

fn times(sh: &mut Shell, _: &[String]) -> Status {
    let mut t: libc::tms = libc::tms {
        tms_utime: 0,
        tms_stime: 0,
        tms_cutime: 0,
        tms_cstime: 0,
    };
    // SAFETY: t is a valid tms struct for times() to fill.
    unsafe { libc::times(&mut t) };
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let f = |v: libc::clock_t| {
        let s = v as f64 / hz;
        format!("{}m{:.6}s", (s / 60.0) as u64, s % 60.0)
    };
    sh.out(&format!(
        "{} {}\n{} {}\n",
        f(t.tms_utime),
        f(t.tms_stime),
        f(t.tms_cutime),
        f(t.tms_cstime)
    ));
    Ok(0)
}

fn trap(sh: &mut Shell, argv: &[String]) -> Status {
    let args = &argv[1..];
    let args = if args.first().is_some_and(|a| a == "--") {
        &args[1..]
    } else {
        args
    };
    if args.is_empty() {
        let mut out = String::new();
        for (sig, act) in &sh.traps.actions {
            let cmd = match act {
                TrapAction::Ignore => String::new(),
                TrapAction::Command(c) => c.clone(),
            };
            out.push_str(&format!(
                "trap -- {} {}\n",
                quote_always(&cmd),
                signal_name(*sig)
            ));
        }
        sh.out(&out);
        return Ok(0);
    }
    if args[0] == "-l" {
        let names: Vec<String> = (1..32).map(signal_name).collect();
        sh.out(&format!("{}\n", names.join(" ")));
        return Ok(0);
    }
    let (action, sigs) = if args[0].parse::<u32>().is_ok() || args.len() == 1 {
        (None, args)
    } else if args[0] == "-" {
        (None, &args[1..])
    } else if args[0].is_empty() {
        (Some(TrapAction::Ignore), &args[1..])
    } else {
        (Some(TrapAction::Command(args[0].clone())), &args[1..])
    };
    let mut status = 0;
    for s in sigs {
        match signal_number(s) {
            Some(n) => sh.traps.set(n, action.clone()),
            None => {
                super::write_fd(2, format!("trap: {s}: bad trap\n").as_bytes());
                status = 1;
            }
        }
    }
    Ok(status)
}

fn quote_always(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

fn unset(sh: &mut Shell, argv: &[String]) -> Status {
    let mut funcs = false;
    let mut names = &argv[1..];
    while let Some(first) = names.first() {
        match first.as_str() {
            "-f" => funcs = true,
            "-v" => funcs = false,
            _ => break,
        }
        names = &names[1..];
    }
    for n in names {
        if funcs {
            sh.functions.remove(n);
        } else if let Err(e) = sh.unset_var(n) {
            sh.error(&format!("unset: {e}"));
            return Err(sh.fatal(2));
        }
    }
    Ok(0)
}
