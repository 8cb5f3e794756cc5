//! `read` (one byte at a time from fd 0, so it never consumes input meant for the next command)
//! and `getopts`.

use crate::shell::parser::is_name;
use crate::shell::state::{Shell, Status};
use crate::shell::sys;
use crate::shell::traps;

use super::write_fd;

/// Name → function.
pub const TABLE: &[(&str, super::CoreBuiltin)] = &[("read", read), ("getopts", getopts)];

use crate::shell::limits::MAX_READ_LINE;

fn is_ws(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n')
}

/// Splits a line into `n` fields with IFS; the last field takes the rest of the line.
fn split_fields(line: &[(char, bool)], n: usize, ifs: &str) -> Vec<String> {
    let is_sep = |&(c, q): &(char, bool)| !q && ifs.contains(c);
    let is_ws_sep = |x: &(char, bool)| is_sep(x) && is_ws(x.0);
    let mut i = 0;
    while i < line.len() && is_ws_sep(&line[i]) {
        i += 1;
    }
    let mut out = Vec::new();
    while out.len() + 1 < n && i < line.len() {
        let mut field = String::new();
        while i < line.len() && !is_sep(&line[i]) {
            field.push(line[i].0);
            i += 1;
        }
        out.push(field);
        // Consume one delimiter: IFS whitespace around at most one non-whitespace separator.
        while i < line.len() && is_ws_sep(&line[i]) {
            i += 1;
        }
        if i < line.len() && is_sep(&line[i]) && !is_ws(line[i].0) {
            i += 1;
            while i < line.len() && is_ws_sep(&line[i]) {
                i += 1;
            }
        }
    }
    let mut end = line.len();
    while end > i && is_ws_sep(&line[end - 1]) {
        end -= 1;
    }
    if n > 0 {
        out.push(line[i.min(end)..end].iter().map(|x| x.0).collect());
    }
    while out.len() < n {
        out.push(String::new());
    }
    out
}

fn read(sh: &mut Shell, argv: &[String]) -> Status {
    let mut raw = false;
    let mut i = 1;
    while let Some(a) = argv.get(i) {
        match a.as_str() {
            "-r" => raw = true,
            "-p" => {
                i += 1;
                if let Some(p) = argv.get(i) {
                    write_fd(2, p.as_bytes());
                }
            }
            "--" => {
                i += 1;
                break;
            }
            s if s.starts_with('-') && s.len() > 1 => {
                return Ok(sh.usage("read", &format!("Illegal option {s}")));
            }
            _ => break,
        }
        i += 1;
    }
    if i >= argv.len() {
        return Ok(sh.usage("read", "arg count"));
    }
    let names: Vec<String> = argv[i..].to_vec();
    for n in &names {
        if !is_name(n) {
            sh.error(&format!("read: {n}: bad variable name"));
            return Ok(2);
        }
    }
    let mut bytes: Vec<(u8, bool)> = Vec::new();
    let mut eof = false;
    let mut escaped = false;
    let mut b = [0u8; 1];
    loop {
        // A signal caught between two bytes interrupts `read` too.
        if let Some(sig) = traps::first_pending() {
            sh.check_signals()?;
            return Ok(128 + sig);
        }
        match sys::read_once(0, &mut b) {
            Ok(1) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {
                // A caught signal (Ctrl-C at the prompt, a trap) interrupts `read`.
                if let Some(sig) = traps::first_pending() {
                    sh.check_signals()?;
                    return Ok(128 + sig);
                }
                continue;
            }
            _ => {
                eof = true;
                break;
            }
        }
        let c = b[0];
        if bytes.len() >= MAX_READ_LINE && c != b'\n' {
            // Too long to keep: drop the rest of the line (without storing it) and fail.
            while let Ok(1) = sys::read(0, &mut b) {
                if b[0] == b'\n' {
                    break;
                }
            }
            sh.error(&format!("read: line exceeds {MAX_READ_LINE} bytes"));
            return Ok(2);
        }
        if escaped {
            escaped = false;
            if c != b'\n' {
                bytes.push((c, true));
            }
            continue;
        }
        if c == b'\\' && !raw {
            escaped = true;
            continue;
        }
        if c == b'\n' {
            break;
        }
        bytes.push((c, false));
    }
    // Decode as UTF-8 keeping each character's quoted flag.
    let raw_bytes: Vec<u8> = bytes.iter().map(|b| b.0).collect();
    let text = String::from_utf8_lossy(&raw_bytes).into_owned();
    let mut flags = bytes.iter().map(|b| b.1);
    let line: Vec<(char, bool)> = text
        .chars()
        .map(|c| {
            let q = flags.next().unwrap_or(false);
            for _ in 1..c.len_utf8() {
                flags.next();
            }
            (c, q)
        })
        .collect();
    let fields = split_fields(&line, names.len(), &sh.ifs());
    for (n, v) in names.iter().zip(fields) {
        if let Err(e) = sh.set_var(n, &v) {
            sh.error(&format!("read: {e}"));
            return Ok(2);
        }
    }
    Ok(if eof { 1 } else { 0 })
}

fn getopts(sh: &mut Shell, argv: &[String]) -> Status {
    if argv.len() < 3 {
        return Ok(sh.usage("getopts", "usage: getopts optstring var [arg]"));
    }
    let optstring = argv[1].clone();
    let name = argv[2].clone();
    let args: Vec<String> = if argv.len() > 3 {
        argv[3..].to_vec()
    } else {
        sh.positional.clone()
    };
    let silent = optstring.starts_with(':');
    let mut optind: usize = sh
        .get("OPTIND")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
        .max(1);
    if sh.getopts_state.0 != optind {
        sh.getopts_state = (optind, 1);
    }
    let mut charpos = sh.getopts_state.1;
    let finish = |sh: &mut Shell, optind: usize, charpos: usize, var: &str| {
        sh.getopts_state = (optind, charpos);
        let _ = sh.set_var("OPTIND", &optind.to_string());
        let _ = sh.set_var(&name, var);
    };
    let Some(arg) = args.get(optind - 1).cloned() else {
        finish(sh, optind, 1, "?");
        return Ok(1);
    };
    if charpos == 1 {
        if arg == "--" {
            finish(sh, optind + 1, 1, "?");
            return Ok(1);
        }
        if !arg.starts_with('-') || arg == "-" {
            finish(sh, optind, 1, "?");
            return Ok(1);
        }
    }
    let chars: Vec<char> = arg.chars().collect();
    let Some(&c) = chars.get(charpos) else {
        finish(sh, optind + 1, 1, "?");
        return Ok(1);
    };
    charpos += 1;
    let at_end = charpos >= chars.len();
    if at_end {
        optind += 1;
        charpos = 1;
    }
    let spec = optstring.trim_start_matches(':');
    let pos = if c == ':' { None } else { spec.find(c) };
    let Some(pos) = pos else {
        if silent {
            let _ = sh.set_var("OPTARG", &c.to_string());
        } else {
            let _ = sh.unset_var("OPTARG");
            write_fd(2, format!("Illegal option -{c}\n").as_bytes());
        }
        finish(sh, optind, charpos, "?");
        return Ok(0);
    };
    let takes_arg = spec[pos + c.len_utf8()..].starts_with(':');
    if takes_arg {
        if !at_end {
            let rest: String = chars[charpos..].iter().collect();
            let _ = sh.set_var("OPTARG", &rest);
            optind += 1;
            charpos = 1;
        } else if let Some(a) = args.get(optind - 1) {
            let _ = sh.set_var("OPTARG", a);
            optind += 1;
        } else {
            if silent {
                let _ = sh.set_var("OPTARG", &c.to_string());
                finish(sh, optind, charpos, ":");
            } else {
                let _ = sh.unset_var("OPTARG");
                write_fd(2, format!("No arg for -{c} option\n").as_bytes());
                finish(sh, optind, charpos, "?");
            }
            return Ok(0);
        }
    } else {
        let _ = sh.unset_var("OPTARG");
    }
    finish(sh, optind, charpos, &c.to_string());
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::split_fields;

    fn line(s: &str) -> Vec<(char, bool)> {
        s.chars().map(|c| (c, false)).collect()
    }

    #[test]
    fn last_variable_takes_the_rest() {
        assert_eq!(
            split_fields(&line("  a b  c d  "), 2, " \t\n"),
            vec!["a", "b  c d"]
        );
        assert_eq!(split_fields(&line("a:b:c"), 2, ":"), vec!["a", "b:c"]);
        assert_eq!(split_fields(&line("a"), 3, " "), vec!["a", "", ""]);
        assert_eq!(split_fields(&line(" x "), 1, " "), vec!["x"]);
    }
}
