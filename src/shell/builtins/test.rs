//! `test` and `[`: POSIX's rules by argument count, then a recursive-descent parser for longer
//! expressions with `! -a -o ( )`.

use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};

use crate::shell::state::{Shell, Status};

/// Name → function.
pub const TABLE: &[(&str, super::CoreBuiltin)] = &[("test", test), ("[", bracket)];

fn bracket(sh: &mut Shell, argv: &[String]) -> Status {
    if argv.last().map(String::as_str) != Some("]") {
        sh.error("[: missing ]");
        return Ok(2);
    }
    run(sh, "[", &argv[1..argv.len() - 1])
}

fn test(sh: &mut Shell, argv: &[String]) -> Status {
    run(sh, "test", &argv[1..])
}

fn run(sh: &mut Shell, name: &str, args: &[String]) -> Status {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match eval(&args) {
        Ok(b) => Ok(if b { 0 } else { 1 }),
        Err(e) => {
            sh.error(&format!("{name}: {e}"));
            Ok(2)
        }
    }
}

const UNARY: &[&str] = &[
    "-b", "-c", "-d", "-e", "-f", "-g", "-h", "-k", "-L", "-n", "-p", "-r", "-s", "-S", "-t", "-u",
    "-w", "-x", "-z", "-O", "-G",
];
const BINARY: &[&str] = &[
    "=", "!=", "<", ">", "-eq", "-ne", "-lt", "-le", "-gt", "-ge", "-nt", "-ot", "-ef",
];

fn int(s: &str) -> Result<i64, String> {
    let t = s.trim_start_matches([' ', '\t']);
    t.parse::<i64>().map_err(|_| format!("Illegal number: {s}"))
}

fn unary(op: &str, a: &str) -> Result<bool, String> {
    let access = |mode: i32| {
        std::ffi::CString::new(a)
            // SAFETY: c is a valid C string.
            .map(|c| unsafe { libc::access(c.as_ptr(), mode) } == 0)
            .unwrap_or(false)
    };
    let meta = || std::fs::metadata(a).ok();
    Ok(match op {
        "-n" => !a.is_empty(),
        "-z" => a.is_empty(),
        "-e" => meta().is_some(),
        "-f" => meta().is_some_and(|m| m.is_file()),
        "-d" => meta().is_some_and(|m| m.is_dir()),
        "-b" => meta().is_some_and(|m| m.file_type().is_block_device()),
        "-c" => meta().is_some_and(|m| m.file_type().is_char_device()),
        "-p" => meta().is_some_and(|m| m.file_type().is_fifo()),
        "-S" => meta().is_some_and(|m| m.file_type().is_socket()),
        "-h" | "-L" => std::fs::symlink_metadata(a).is_ok_and(|m| m.file_type().is_symlink()),
        "-s" => meta().is_some_and(|m| m.len() > 0),
        "-g" => meta().is_some_and(|m| m.permissions().mode() & 0o2000 != 0),
        "-u" => meta().is_some_and(|m| m.permissions().mode() & 0o4000 != 0),
        "-k" => meta().is_some_and(|m| m.permissions().mode() & 0o1000 != 0),
        "-O" => meta().is_some_and(|m| m.uid() == nix::unistd::geteuid().as_raw()),
        "-G" => meta().is_some_and(|m| m.gid() == nix::unistd::getegid().as_raw()),
        "-r" => access(libc::R_OK),
        "-w" => access(libc::W_OK),
        "-x" => access(libc::X_OK),
        "-t" => {
            let fd = int(a)?;
            // SAFETY: isatty only inspects the fd.
            unsafe { libc::isatty(fd as i32) == 1 }
        }
        _ => return Err(format!("{op}: unexpected operator")),
    })
}

fn binary(a: &str, op: &str, b: &str) -> Result<bool, String> {
    let mtime = |p: &str| {
        std::fs::metadata(p)
            .ok()
            .map(|m| (m.mtime(), m.mtime_nsec()))
    };
    Ok(match op {
        "=" => a == b,
        "!=" => a != b,
        "<" => a < b,
        ">" => a > b,
        "-eq" => int(a)? == int(b)?,
        "-ne" => int(a)? != int(b)?,
        "-lt" => int(a)? < int(b)?,
        "-le" => int(a)? <= int(b)?,
        "-gt" => int(a)? > int(b)?,
        "-ge" => int(a)? >= int(b)?,
        "-nt" => match (mtime(a), mtime(b)) {
            (Some(x), Some(y)) => x > y,
            (Some(_), None) => true,
            _ => false,
        },
        "-ot" => match (mtime(a), mtime(b)) {
            (Some(x), Some(y)) => x < y,
            (None, Some(_)) => true,
            _ => false,
        },
        "-ef" => match (std::fs::metadata(a), std::fs::metadata(b)) {
            (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
            _ => false,
        },
        _ => return Err(format!("{op}: unexpected operator")),
    })
}

/// Evaluates a test expression.
pub fn eval(args: &[&str]) -> Result<bool, String> {
    match args.len() {
        0 => Ok(false),
        1 => Ok(!args[0].is_empty()),
        2 if args[0] == "!" => Ok(args[1].is_empty()),
        2 if UNARY.contains(&args[0]) => unary(args[0], args[1]),
        3 if BINARY.contains(&args[1]) => binary(args[0], args[1], args[2]),
        3 if args[0] == "!" => eval(&args[1..]).map(|b| !b),
        3 if args[0] == "(" && args[2] == ")" => eval(&args[1..2]),
        4 if args[0] == "!" => eval(&args[1..]).map(|b| !b),
        4 if args[0] == "(" && args[3] == ")" => eval(&args[1..3]),
        _ => {
            let mut p = Parser {
                args,
                pos: 0,
                depth: 0,
            };
            let v = p.or()?;
            if p.pos < args.len() {
                return Err(format!("{}: unexpected operator", args[p.pos]));
            }
            Ok(v)
        }
    }
}

struct Parser<'a> {
    args: &'a [&'a str],
    pos: usize,
    depth: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<&'a str> {
        self.args.get(self.pos).copied()
    }

    fn or(&mut self) -> Result<bool, String> {
        let mut v = self.and()?;
        while self.peek() == Some("-o") {
            self.pos += 1;
            let r = self.and()?;
            v = v || r;
        }
        Ok(v)
    }

    fn and(&mut self) -> Result<bool, String> {
        let mut v = self.not()?;
        while self.peek() == Some("-a") {
            self.pos += 1;
            let r = self.not()?;
            v = v && r;
        }
        Ok(v)
    }

    fn not(&mut self) -> Result<bool, String> {
        self.depth += 1;
        if self.depth > 200 {
            return Err("expression too complex".into());
        }
        let r = if self.peek() == Some("!") {
            self.pos += 1;
            self.not().map(|b| !b)
        } else {
            self.primary()
        };
        self.depth -= 1;
        r
    }

    fn primary(&mut self) -> Result<bool, String> {
        let Some(a) = self.peek() else {
            return Err("argument expected".into());
        };
        if a == "(" {
            self.pos += 1;
            let v = self.or()?;
            if self.peek() != Some(")") {
                return Err("closing paren expected".into());
            }
            self.pos += 1;
            return Ok(v);
        }
        if let Some(op) = self.args.get(self.pos + 1).copied()
            && BINARY.contains(&op)
            && let Some(b) = self.args.get(self.pos + 2).copied()
        {
            self.pos += 3;
            return binary(a, op, b);
        }
        if UNARY.contains(&a)
            && let Some(b) = self.args.get(self.pos + 1).copied()
        {
            self.pos += 2;
            return unary(a, b);
        }
        self.pos += 1;
        Ok(!a.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::eval;

    #[test]
    fn posix_argument_count_rules() {
        assert_eq!(eval(&[]), Ok(false));
        assert_eq!(eval(&["-n"]), Ok(true));
        assert_eq!(eval(&["!", ""]), Ok(true));
        assert_eq!(eval(&["a", "=", "a"]), Ok(true));
        assert_eq!(eval(&["1", "-lt", "2", "-a", "3", "-gt", "4"]), Ok(false));
        assert_eq!(eval(&["(", "x", ")"]), Ok(true));
        assert!(eval(&["a", "-eq", "1"]).is_err());
    }
}
