//! `umask [-S] [-p] [MODE]`: the file-creation mask, octal or symbolic, as dash reads it
//! (`u=rwx,g-w,o=`, `a`, bare operators, `X`, `s`, copies like `g=u`); `-p` prints a command
//! that restores the mask, as in bash.

use crate::shell::state::{Shell, Status};
use crate::shell::sys;

/// Name → function.
pub const TABLE: &[(&str, super::CoreBuiltin)] = &[("umask", umask)];

fn symbolic_text(mask: u32) -> String {
    let perms = !mask;
    let part = |who: char, shift: u32| {
        let mut s = format!("{who}=");
        for (bit, c) in [(4, 'r'), (2, 'w'), (1, 'x')] {
            if perms >> shift & bit != 0 {
                s.push(c);
            }
        }
        s
    };
    format!("{},{},{}", part('u', 6), part('g', 3), part('o', 0))
}

/// Applies a symbolic mode to the permissions `perms` (the complement of the mask), the way
/// dash does; `None` when the text is not a mode.
fn apply_symbolic(text: &str, perms: u32) -> Option<u32> {
    let b = text.as_bytes();
    let mut new = perms;
    let mut i = 0;
    let mut positions = 0u32;
    while i < b.len() {
        while let Some(c) = b.get(i).filter(|c| b"augo".contains(c)) {
            positions |= match c {
                b'a' => 0o111,
                b'u' => 0o100,
                b'g' => 0o010,
                _ => 0o001,
            };
            i += 1;
        }
        if positions == 0 {
            positions = 0o111;
        }
        let op = *b.get(i).filter(|c| b"=+-".contains(c))?;
        i += 1;
        let mut val = 0u32;
        while let Some(c) = b.get(i).filter(|c| b"rwxugoXs".contains(c)) {
            val |= match c {
                b'r' => 4,
                b'w' => 2,
                b'x' => 1,
                b'u' => perms >> 6,
                b'g' => perms >> 3,
                b'o' => perms,
                b'X' if perms & 0o111 != 0 => 1,
                _ => 0,
            };
            i += 1;
        }
        let val = (val & 7) * positions;
        match op {
            b'-' => new &= !val,
            b'=' => new = val | (new & !(positions * 7)),
            _ => new |= val,
        }
        match b.get(i) {
            Some(b',') => {
                positions = 0;
                i += 1;
            }
            Some(b'=' | b'+' | b'-') => {}
            Some(_) => return None,
            None => break,
        }
    }
    (i >= b.len()).then_some(new)
}

fn umask(sh: &mut Shell, argv: &[String]) -> Status {
    let (mut symbolic, mut reusable) = (false, false);
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
            match c {
                'S' => symbolic = true,
                'p' => reusable = true,
                c => return Ok(sh.usage("umask", &format!("Illegal option -{c}"))),
            }
        }
    }
    let cur = sys::get_umask();
    let Some(arg) = argv.get(i) else {
        let text = if symbolic {
            symbolic_text(cur)
        } else {
            format!("{cur:04o}")
        };
        let line = match (reusable, symbolic) {
            (true, true) => format!("umask -S {text}\n"),
            (true, false) => format!("umask {text}\n"),
            _ => format!("{text}\n"),
        };
        sh.out(&line);
        return Ok(0);
    };
    let mask = if arg.starts_with(|c: char| c.is_ascii_digit()) {
        let mut m: u32 = 0;
        for c in arg.chars() {
            match c.to_digit(8) {
                Some(d) => m = (m << 3 | d) & 0o7777,
                None => return Ok(sh.usage("umask", &format!("Illegal number: {arg}"))),
            }
        }
        m
    } else {
        match apply_symbolic(arg, !cur & 0o777) {
            Some(perms) => !perms & 0o777,
            None => return Ok(sh.usage("umask", &format!("Illegal mode: {arg}"))),
        }
    };
    sys::set_umask(mask & 0o777);
    Ok(0)
}
