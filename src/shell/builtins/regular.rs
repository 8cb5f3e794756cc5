//! Regular builtins: `true false echo cd pwd alias unalias type command hash umask history
//! source local`.

use crate::shell::parser::is_name;
use crate::shell::process::is_executable;
use crate::shell::state::{Shell, Status};
use crate::shell::sys;

use super::Lookup;

/// Name → function for the regular builtins of this file.
pub const TABLE: &[(&str, super::CoreBuiltin)] = &[
    ("true", |_, _| Ok(0)),
    ("false", |_, _| Ok(1)),
    ("echo", echo),
    ("cd", cd),
    ("pwd", pwd),
    ("alias", alias),
    ("unalias", unalias),
    ("type", type_),
    ("command", command),
    ("hash", hash),
    ("umask", umask),
    ("history", history),
    ("source", super::special::dot),
    ("local", local),
];

const KEYWORDS: &[&str] = &[
    "!", "{", "}", "case", "do", "done", "elif", "else", "esac", "fi", "for", "if", "in", "then",
    "until", "while",
];

/// Interprets the backslash escapes of dash's `echo` (and `printf %b`); `\c` stops output.
pub fn echo_escapes(s: &str, out: &mut String) -> bool {
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match it.next() {
            Some('a') => out.push('\x07'),
            Some('b') => out.push('\x08'),
            Some('c') => return false,
            Some('e') => out.push('\x1b'),
            Some('f') => out.push('\x0c'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('t') => out.push('\t'),
            Some('v') => out.push('\x0b'),
            Some('\\') => out.push('\\'),
            Some('0') => {
                let mut v = 0u32;
                for _ in 0..3 {
                    match it.peek().and_then(|d| d.to_digit(8)) {
                        Some(d) => {
                            v = v * 8 + d;
                            it.next();
                        }
                        None => break,
                    }
                }
                out.push(char::from_u32(v & 0xff).unwrap_or('?'));
            }
            Some(o) => {
                out.push('\\');
                out.push(o);
            }
            None => out.push('\\'),
        }
    }
    true
}

fn echo(sh: &mut Shell, argv: &[String]) -> Status {
    let mut args = &argv[1..];
    let mut newline = true;
    if args.first().is_some_and(|a| a == "-n") {
        newline = false;
        args = &args[1..];
    }
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        if !echo_escapes(a, &mut out) {
            newline = false;
            break;
        }
    }
    if newline {
        out.push('\n');
    }
    Ok(sh.out_status(&out))
}

/// Lexically resolves `.` and `..` in an absolute path.
fn normalize(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    format!("/{}", parts.join("/"))
}

fn cd(sh: &mut Shell, argv: &[String]) -> Status {
    let mut args = &argv[1..];
    let mut physical = false;
    while let Some(a) = args.first() {
        match a.as_str() {
            "-P" => physical = true,
            "-L" => physical = false,
            "--" => {
                args = &args[1..];
                break;
            }
            _ => break,
        }
        args = &args[1..];
    }
    let mut print = false;
    let target = match args.first().map(String::as_str) {
        None => match sh.get("HOME") {
            Some(h) => h.to_string(),
            None => return Ok(sh.usage("cd", "HOME not set")),
        },
        Some("-") => {
            print = true;
            sh.get("OLDPWD").unwrap_or("").to_string()
        }
        Some(d) => d.to_string(),
    };
    let mut candidates = Vec::new();
    if !target.starts_with('/')
        && !target.starts_with('.')
        && let Some(cdpath) = sh.get("CDPATH")
    {
        for d in cdpath.split(':').filter(|d| !d.is_empty()) {
            candidates.push((format!("{}/{target}", d.trim_end_matches('/')), true));
        }
    }
    candidates.push((target.clone(), false));
    let pwd = sh.get("PWD").unwrap_or("/").to_string();
    for (cand, from_cdpath) in candidates {
        let logical = if cand.starts_with('/') {
            normalize(&cand)
        } else {
            normalize(&format!("{pwd}/{cand}"))
        };
        let dest = if physical {
            cand.clone()
        } else {
            logical.clone()
        };
        if std::env::set_current_dir(&dest).is_ok() {
            let new_pwd = if physical {
                std::env::current_dir()
                    .map(|p| p.to_string_lossy().into_owned())
                    .unwrap_or(logical)
            } else {
                logical
            };
            let _ = sh.set_var("OLDPWD", &pwd);
            let _ = sh.set_var("PWD", &new_pwd);
            if print || from_cdpath {
                sh.out(&format!("{new_pwd}\n"));
            }
            return Ok(0);
        }
    }
    sh.error(&format!("cd: can't cd to {target}"));
    Ok(2)
}

fn pwd(sh: &mut Shell, argv: &[String]) -> Status {
    let physical = argv.iter().any(|a| a == "-P");
    let p = match (physical, sh.get("PWD")) {
        (false, Some(p)) => p.to_string(),
        _ => std::env::current_dir()
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default(),
    };
    sh.out(&format!("{p}\n"));
    Ok(0)
}

fn alias(sh: &mut Shell, argv: &[String]) -> Status {
    if argv.len() == 1 {
        let mut names: Vec<_> = sh.aliases.iter().collect();
        names.sort();
        let out: String = names
            .iter()
            .map(|(k, v)| format!("{k}={}\n", quote_sq(v)))
            .collect();
        sh.out(&out);
        return Ok(0);
    }
    let mut status = 0;
    for a in &argv[1..] {
        match a.split_once('=') {
            Some((n, v)) => {
                sh.aliases.insert(n.to_string(), v.to_string());
            }
            None => match sh.aliases.get(a) {
                Some(v) => {
                    let line = format!("{a}={}\n", quote_sq(v));
                    sh.out(&line);
                }
                None => {
                    sh.error(&format!("alias: {a} not found"));
                    status = 1;
                }
            },
        }
    }
    Ok(status)
}

fn quote_sq(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

fn unalias(sh: &mut Shell, argv: &[String]) -> Status {
    let mut status = 0;
    for a in &argv[1..] {
        if a == "-a" {
            sh.aliases.clear();
        } else if sh.aliases.remove(a).is_none() {
            sh.error(&format!("unalias: {a} not found"));
            status = 1;
        }
    }
    Ok(status)
}

/// Describes a command name like `type` does; `None` when not found.
pub fn describe(sh: &mut Shell, name: &str) -> Option<String> {
    if let Some(a) = sh.aliases.get(name) {
        return Some(format!("{name} is an alias for {a}"));
    }
    if KEYWORDS.contains(&name) {
        return Some(format!("{name} is a shell keyword"));
    }
    match sh.builtins.clone().lookup(name, &sh.functions) {
        Lookup::Special(_) => Some(format!("{name} is a special shell builtin")),
        Lookup::Function(_) => Some(format!("{name} is a shell function")),
        Lookup::Builtin(_) => Some(format!("{name} is a shell builtin")),
        Lookup::External => {
            let p = sh.find_in_path(name)?;
            if name.contains('/') && !is_executable(&p) {
                return None;
            }
            Some(format!("{name} is {p}"))
        }
    }
}

fn type_(sh: &mut Shell, argv: &[String]) -> Status {
    let mut status = 0;
    for n in &argv[1..] {
        match describe(sh, n) {
            Some(d) => sh.out(&format!("{d}\n")),
            None => {
                sh.out(&format!("{n}: not found\n"));
                status = 127;
            }
        }
    }
    Ok(status)
}

fn command(sh: &mut Shell, argv: &[String]) -> Status {
    let mut i = 1;
    let (mut v, mut big_v) = (false, false);
    while let Some(a) = argv.get(i) {
        match a.as_str() {
            "-v" => v = true,
            "-V" => big_v = true,
            "-p" => {}
            "--" => {
                i += 1;
                break;
            }
            _ => break,
        }
        i += 1;
    }
    let args = &argv[i..];
    if args.is_empty() {
        return Ok(0);
    }
    if v || big_v {
        let mut status = 0;
        for n in args {
            let line = if big_v {
                describe(sh, n)
            } else if let Some(a) = sh.aliases.get(n) {
                Some(format!("alias {n}={}", quote_sq(a)))
            } else if KEYWORDS.contains(&n.as_str())
                || sh.functions.contains_key(n)
                || !matches!(
                    sh.builtins.clone().lookup(n, &sh.functions),
                    Lookup::External
                )
            {
                Some(n.clone())
            } else {
                sh.find_in_path(n).filter(|p| is_executable(p))
            };
            match line {
                Some(l) => sh.out(&format!("{l}\n")),
                None => {
                    if big_v {
                        sh.out(&format!("{n}: not found\n"));
                    }
                    status = 127;
                }
            }
        }
        return Ok(status);
    }
    let reg = sh.builtins.clone();
    if let Some(f) = reg
        .special(&args[0])
        .or_else(|| reg.lookup_builtin(&args[0]))
    {
        return f(sh, args);
    }
    let args = args.to_vec();
    let pid = sh.fork_child(crate::shell::process::ForkMode::Foreground, 0, move |sh| {
        sh.exec_external(&args, &[])
    })?;
    let id = sh.jobs.add(pid, &[pid], &argv[i..].join(" "));
    Ok(sh.wait_foreground(id))
}

fn hash(sh: &mut Shell, argv: &[String]) -> Status {
    if argv.get(1).is_some_and(|a| a == "-r") {
        sh.hash.clear();
        return Ok(0);
    }
    if argv.len() == 1 {
        let mut v: Vec<String> = sh.hash.values().cloned().collect();
        v.sort();
        let out: String = v.iter().map(|p| format!("{p}\n")).collect();
        sh.out(&out);
        return Ok(0);
    }
    let mut status = 0;
    for n in &argv[1..] {
        if sh.find_in_path(n).is_none() {
            sh.error(&format!("hash: {n}: not found"));
            status = 1;
        }
    }
    Ok(status)
}

fn umask(sh: &mut Shell, argv: &[String]) -> Status {
    let symbolic = argv.get(1).is_some_and(|a| a == "-S");
    let arg = argv.iter().skip(1).find(|a| a.as_str() != "-S");
    let cur = sys::get_umask();
    let Some(arg) = arg else {
        if symbolic {
            let perm = |shift: u32| {
                let m = !cur >> shift & 7;
                let mut s = String::new();
                for (bit, c) in [(4, 'r'), (2, 'w'), (1, 'x')] {
                    if m & bit != 0 {
                        s.push(c);
                    }
                }
                s
            };
            sh.out(&format!("u={},g={},o={}\n", perm(6), perm(3), perm(0)));
        } else {
            sh.out(&format!("{cur:04o}\n"));
        }
        return Ok(0);
    };
    if let Ok(m) = u32::from_str_radix(arg, 8) {
        sys::set_umask(m & 0o777);
        return Ok(0);
    }
    // Symbolic: who=perms[,…] with = only (u=rwx,g=rx,o=).
    let mut mask = cur;
    for clause in arg.split(',') {
        let Some((who, perms)) = clause.split_once('=') else {
            return Ok(sh.usage("umask", &format!("Illegal mode: {arg}")));
        };
        let mut bits = 0;
        for c in perms.chars() {
            bits |= match c {
                'r' => 4,
                'w' => 2,
                'x' => 1,
                _ => return Ok(sh.usage("umask", &format!("Illegal mode: {arg}"))),
            };
        }
        let who = if who.is_empty() || who == "a" {
            "ugo"
        } else {
            who
        };
        for w in who.chars() {
            let shift = match w {
                'u' => 6,
                'g' => 3,
                'o' => 0,
                _ => return Ok(sh.usage("umask", &format!("Illegal mode: {arg}"))),
            };
            mask = (mask & !(7 << shift)) | ((!bits & 7) << shift);
        }
    }
    sys::set_umask(mask);
    Ok(0)
}

fn history(sh: &mut Shell, argv: &[String]) -> Status {
    let n = argv
        .get(1)
        .and_then(|a| a.parse::<usize>().ok())
        .unwrap_or(sh.history.len());
    let start = sh.history.len().saturating_sub(n);
    let out: String = sh.history[start..]
        .iter()
        .enumerate()
        .map(|(i, l)| format!("{:5}  {l}\n", start + i + 1))
        .collect();
    sh.out(&out);
    Ok(0)
}

fn local(sh: &mut Shell, argv: &[String]) -> Status {
    if sh.func_depth == 0 {
        return Ok(sh.usage("local", "not in a function"));
    }
    for a in &argv[1..] {
        let (name, value) = match a.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (a.as_str(), None),
        };
        if !is_name(name) {
            sh.error(&format!("local: {name}: bad variable name"));
            return Ok(2);
        }
        sh.make_local(name);
        if let Some(v) = value
            && let Err(e) = sh.set_var(name, v)
        {
            sh.error(&format!("local: {e}"));
            return Ok(2);
        }
    }
    Ok(0)
}
