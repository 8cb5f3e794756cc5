//! Regular builtins: `true false echo cd pwd alias unalias type command hash umask history
//! source local`.

use crate::shell::parser::is_name;
use crate::shell::process::is_executable;
use crate::shell::state::{Shell, Status};

use super::Lookup;
use super::write_fd;

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
    ("builtin", builtin),
    ("hash", hash),
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

/// `echo`: dash's in scripts (only `-n`; backslash escapes always). An interactive shell also
/// takes bash's `-e` (escapes, already the default) and `-E` (none), clustered (`-nE`).
fn echo(sh: &mut Shell, argv: &[String]) -> Status {
    let mut args = &argv[1..];
    let mut newline = true;
    let mut escapes = true;
    let bash_flags = sh.interactive();
    while let Some(flags) = args.first().and_then(|a| a.strip_prefix('-')) {
        let known = if bash_flags { "neE" } else { "n" };
        if flags.is_empty() || !flags.chars().all(|c| known.contains(c)) {
            break;
        }
        for c in flags.chars() {
            match c {
                'n' => newline = false,
                'e' => escapes = true,
                _ => escapes = false,
            }
        }
        args = &args[1..];
        if !bash_flags {
            break;
        }
    }
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        if !escapes {
            out.push_str(a);
        } else if !echo_escapes(a, &mut out) {
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
    // POSIX lets a leading `//` (exactly two) mean something else; dash keeps it.
    let root = if path.starts_with("//") && !path.starts_with("///") {
        "//"
    } else {
        "/"
    };
    format!("{root}{}", parts.join("/"))
}

/// Options the way dash's `nextopt` reads them: clustered letters from `allowed`, `--` ends
/// them, `-` alone is an operand. Returns the letters in order and the index of the first
/// operand, or the status after an `Illegal option` message.
pub fn options(sh: &Shell, argv: &[String], allowed: &str) -> Result<(Vec<char>, usize), i32> {
    let mut flags = Vec::new();
    let mut i = 1;
    while let Some(letters) = argv
        .get(i)
        .and_then(|a| a.strip_prefix('-'))
        .filter(|l| !l.is_empty())
    {
        i += 1;
        if letters == "-" {
            break;
        }
        for c in letters.chars() {
            if !allowed.contains(c) {
                return Err(sh.usage(&argv[0], &format!("Illegal option -{c}")));
            }
            flags.push(c);
        }
    }
    Ok((flags, i))
}

fn cd(sh: &mut Shell, argv: &[String]) -> Status {
    let (flags, first) = match options(sh, argv, "LP") {
        Ok(o) => o,
        Err(st) => return Ok(st),
    };
    let physical = flags.last() == Some(&'P');
    let args = &argv[first..];
    let mut print = false;
    let target = match args.first().map(String::as_str) {
        // No HOME: nothing to do, as in dash (POSIX leaves it to the shell).
        None => match sh.get("HOME") {
            Some(h) => h.to_string(),
            None => return Ok(0),
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
    let physical = match options(sh, argv, "LP") {
        Ok((flags, _)) => flags.last() == Some(&'P'),
        Err(st) => return Ok(st),
    };
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
    // As in dash: an alias's value quoted with '"'"' for a quote, a miss reported on stderr
    // without the script-name prefix. Listing every alias sorts them by name (as bash does;
    // dash lists them in its hash order).
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
        // The name may not be empty: `=x` is looked up, as in dash.
        match a.char_indices().skip(1).find(|(_, c)| *c == '=') {
            Some((i, _)) => {
                sh.aliases
                    .insert(a[..i].to_string(), a[i + 1..].to_string());
            }
            None => match sh.aliases.get(a) {
                Some(v) => {
                    let line = format!("{a}={}\n", quote_sq(v));
                    sh.out(&line);
                }
                None => {
                    write_fd(2, format!("alias: {a} not found\n").as_bytes());
                    status = 1;
                }
            },
        }
    }
    Ok(status)
}

fn quote_sq(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\"'\"'"))
}

fn unalias(sh: &mut Shell, argv: &[String]) -> Status {
    let (flags, i) = match options(sh, argv, "a") {
        Ok(o) => o,
        Err(st) => return Ok(st),
    };
    if !flags.is_empty() {
        sh.aliases.clear();
        return Ok(0);
    }
    let mut status = 0;
    for a in &argv[i..] {
        if sh.aliases.remove(a).is_none() {
            write_fd(2, format!("unalias: {a} not found\n").as_bytes());
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

/// The search path of `command -p`, dash's default.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The first executable `name` in the directories of `path` (no hash table involved).
fn search_path(path: &str, name: &str) -> Option<String> {
    if name.contains('/') {
        return Some(name.to_string());
    }
    path.split(':')
        .map(|d| format!("{}/{name}", if d.is_empty() { "." } else { d }))
        .find(|c| is_executable(c))
}

/// `command [-pvV] NAME [ARG…]`. With `-v`/`-V`, every name is looked up (as in bash; dash
/// looks at the first only).
fn command(sh: &mut Shell, argv: &[String]) -> Status {
    let (flags, i) = match options(sh, argv, "pvV") {
        Ok(o) => o,
        Err(st) => return Ok(st),
    };
    let default_path = flags.contains(&'p');
    let big_v = flags.contains(&'V');
    let v = flags.contains(&'v');
    let args = &argv[i..];
    if args.is_empty() {
        return Ok(0);
    }
    if v || big_v {
        let mut status = 0;
        for n in args {
            let external = |sh: &mut Shell| {
                if default_path {
                    search_path(DEFAULT_PATH, n)
                } else {
                    sh.find_in_path(n)
                }
                .filter(|p| is_executable(p))
            };
            let line = if big_v {
                match describe(sh, n) {
                    Some(d) if default_path && d.starts_with(&format!("{n} is /")) => {
                        external(sh).map(|p| format!("{n} is {p}"))
                    }
                    d => d,
                }
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
                external(sh)
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
    let mut args = args.to_vec();
    let mut arg0 = None;
    if default_path {
        let Some(path) = search_path(DEFAULT_PATH, &args[0]) else {
            sh.error(&format!("{}: not found", args[0]));
            return Ok(127);
        };
        arg0 = Some(std::mem::replace(&mut args[0], path));
    }
    let pid = sh.fork_child(crate::shell::process::ForkMode::Foreground, 0, move |sh| {
        sh.exec_external_as(&args, &[], "", arg0.as_deref())
    })?;
    let id = sh.jobs.add(pid, &[pid], &argv[i..].join(" "));
    Ok(sh.wait_foreground(id))
}

/// `builtin NAME [ARG…]` (bash): runs the builtin NAME even when a function has that name.
fn builtin(sh: &mut Shell, argv: &[String]) -> Status {
    let Some(name) = argv.get(1) else {
        return Ok(0);
    };
    let reg = sh.builtins.clone();
    match reg.special(name).or_else(|| reg.lookup_builtin(name)) {
        Some(f) => f(sh, &argv[1..]),
        None => {
            sh.error(&format!("builtin: {name}: not a shell builtin"));
            Ok(1)
        }
    }
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
