//! `printf FORMAT [ARG…]`: conversions `d i o u x X c s b e E f F g G %`, flags `- + space # 0`,
//! width and precision (also `*`), the format reused until the arguments run out.

use crate::shell::state::{Shell, Status};

use super::regular::echo_escapes;

/// Name → function.
pub const TABLE: &[(&str, super::CoreBuiltin)] = &[("printf", printf)];

struct Spec {
    flags: String,
    width: Option<usize>,
    prec: Option<usize>,
}

fn pad(s: String, spec: &Spec, numeric: bool) -> String {
    let Some(w) = spec.width else { return s };
    let len = s.chars().count();
    if len >= w {
        return s;
    }
    let fill = w - len;
    if spec.flags.contains('-') {
        format!("{s}{}", " ".repeat(fill))
    } else if numeric && spec.flags.contains('0') && spec.prec.is_none() {
        let (sign, digits) = match s.chars().next() {
            Some(c @ ('-' | '+' | ' ')) => (c.to_string(), s[1..].to_string()),
            _ => (String::new(), s.clone()),
        };
        let (pfx, digits) = if digits.starts_with("0x") || digits.starts_with("0X") {
            (digits[..2].to_string(), digits[2..].to_string())
        } else {
            (String::new(), digits)
        };
        format!("{sign}{pfx}{}{digits}", "0".repeat(fill))
    } else {
        format!("{}{s}", " ".repeat(fill))
    }
}

struct Args<'a> {
    items: &'a [String],
    pos: usize,
    error: bool,
}

impl Args<'_> {
    fn next(&mut self) -> Option<&str> {
        let r = self.items.get(self.pos).map(String::as_str);
        self.pos += 1;
        r
    }

    /// The next argument as a signed number, the way dash's `strtoimax` check reads it.
    fn number(&mut self, sh: &Shell) -> i64 {
        let Some(a) = self.next().map(str::to_string) else {
            return 0;
        };
        if let Some(c) = char_constant(&a) {
            return c;
        }
        let (neg, mag, used) = c_strtonum(&a);
        let (v, range) = match (neg, i64::try_from(mag)) {
            (false, Ok(v)) => (v, false),
            (false, Err(_)) => (i64::MAX, true),
            (true, _) if mag <= 1u128 << 63 => ((mag as i128).wrapping_neg() as i64, false),
            (true, _) => (i64::MIN, true),
        };
        self.check(sh, &a, used, range);
        v
    }

    /// The next argument as an unsigned number (`%o %u %x %X`): dash's `strtoumax`.
    fn unsigned(&mut self, sh: &Shell) -> u64 {
        let Some(a) = self.next().map(str::to_string) else {
            return 0;
        };
        if let Some(c) = char_constant(&a) {
            return c as u64;
        }
        let (neg, mag, used) = c_strtonum(&a);
        let (v, range) = match u64::try_from(mag) {
            Ok(v) if neg => (v.wrapping_neg(), false),
            Ok(v) => (v, false),
            Err(_) => (u64::MAX, true),
        };
        self.check(sh, &a, used, range);
        v
    }

    /// dash's check after a conversion: the whole argument must be a number.
    fn check(&mut self, sh: &Shell, a: &str, used: usize, range: bool) {
        if used < a.len() {
            let why = if used == 0 {
                "expected numeric value"
            } else {
                "not completely converted"
            };
            sh.error(&format!("printf: {a}: {why}"));
            self.error = true;
        } else if range {
            sh.error(&format!("printf: {a}: Numerical result out of range"));
            self.error = true;
        }
    }

    fn float(&mut self, sh: &Shell) -> f64 {
        let Some(a) = self.next().map(str::to_string) else {
            return 0.0;
        };
        if let Some(c) = char_constant(&a) {
            return c as f64;
        }
        let t = a.trim_start_matches([' ', '\t', '\n', '\x0b', '\x0c', '\r']);
        let lead = a.len() - t.len();
        // The longest prefix that is a number, as strtod takes it.
        let used = (0..=t.len())
            .rev()
            .filter(|&n| t.is_char_boundary(n))
            .find(|&n| n > 0 && t[..n].parse::<f64>().is_ok() && !t[..n].ends_with(['e', 'E']))
            .unwrap_or(0);
        let v = t[..used].parse::<f64>().unwrap_or(0.0);
        let used = if used == 0 && t.is_empty() {
            a.len()
        } else if used == 0 {
            0
        } else {
            lead + used
        };
        self.check(sh, &a, used, false);
        v
    }
}

/// `'c` or `"c`: the value of the character after the quote (0 when there is none).
fn char_constant(a: &str) -> Option<i64> {
    let rest = a.strip_prefix('\'').or_else(|| a.strip_prefix('"'))?;
    Some(rest.bytes().next().map_or(0, i64::from))
}

/// C's `strto[iu]max(s, &end, 0)`: leading blanks, a sign, `0x` hex or `0` octal or decimal.
/// Returns (negative, magnitude saturated past u64, bytes used); 0 bytes when no number, except
/// that an empty or all-blank argument counts as a complete 0, as dash takes it.
fn c_strtonum(s: &str) -> (bool, u128, usize) {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r') {
        i += 1;
    }
    if i == b.len() {
        return (false, 0, b.len());
    }
    let neg = b[i] == b'-';
    if matches!(b[i], b'-' | b'+') {
        i += 1;
    }
    let (radix, start) = if b.get(i) == Some(&b'0')
        && matches!(b.get(i + 1), Some(b'x' | b'X'))
        && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit)
    {
        (16, i + 2)
    } else if b.get(i) == Some(&b'0') {
        (8, i)
    } else {
        (10, i)
    };
    let mut mag: u128 = 0;
    let mut j = start;
    while let Some(d) = b.get(j).and_then(|c| (*c as char).to_digit(radix)) {
        mag = (mag * u128::from(radix) + u128::from(d)).min(u128::from(u64::MAX) + 1);
        j += 1;
    }
    if j == start {
        return (false, 0, 0);
    }
    (neg, mag, j)
}

fn fmt_float(conv: char, v: f64, spec: &Spec) -> String {
    let p = spec.prec.unwrap_or(6);
    let mut s = match conv {
        'f' | 'F' => format!("{v:.p$}"),
        'e' | 'E' => {
            let s = format!("{v:.p$e}");
            // Rust prints 1e2; C prints 1e+02.
            let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
            let (sign, digits) = match e.strip_prefix('-') {
                Some(d) => ('-', d),
                None => ('+', e),
            };
            format!("{m}e{sign}{digits:0>2}")
        }
        _ => {
            let p = if p == 0 { 1 } else { p };
            let exp = if v == 0.0 {
                0
            } else {
                v.abs().log10().floor() as i32
            };
            if exp < -4 || exp >= p as i32 {
                let s = fmt_float(
                    'e',
                    v,
                    &Spec {
                        flags: String::new(),
                        width: None,
                        prec: Some(p - 1),
                    },
                );
                let (m, e) = s.split_once('e').unwrap_or((&s, ""));
                let m = if m.contains('.') {
                    m.trim_end_matches('0').trim_end_matches('.')
                } else {
                    m
                };
                format!("{m}e{e}")
            } else {
                let decimals = (p as i32 - 1 - exp).max(0) as usize;
                let s = format!("{v:.decimals$}");
                if s.contains('.') {
                    s.trim_end_matches('0').trim_end_matches('.').to_string()
                } else {
                    s
                }
            }
        }
    };
    if conv.is_ascii_uppercase() {
        s = s.to_uppercase();
    }
    if v >= 0.0 && spec.flags.contains('+') {
        s.insert(0, '+');
    } else if v >= 0.0 && spec.flags.contains(' ') {
        s.insert(0, ' ');
    }
    s
}

fn format_escape(chars: &[char], i: &mut usize, out: &mut String) {
    // chars[*i] is the char after the backslash.
    let c = chars[*i];
    *i += 1;
    match c {
        'a' => out.push('\x07'),
        'b' => out.push('\x08'),
        'e' => out.push('\x1b'),
        'f' => out.push('\x0c'),
        'n' => out.push('\n'),
        'r' => out.push('\r'),
        't' => out.push('\t'),
        'v' => out.push('\x0b'),
        '\\' => out.push('\\'),
        '"' => out.push('"'),
        '\'' => out.push('\''),
        '0'..='7' => {
            let mut v = c.to_digit(8).unwrap_or(0);
            for _ in 0..2 {
                match chars.get(*i).and_then(|d| d.to_digit(8)) {
                    Some(d) => {
                        v = v * 8 + d;
                        *i += 1;
                    }
                    None => break,
                }
            }
            out.push(char::from_u32(v & 0xff).unwrap_or('?'));
        }
        other => {
            out.push('\\');
            out.push(other);
        }
    }
}

fn printf(sh: &mut Shell, argv: &[String]) -> Status {
    let mut rest = &argv[1..];
    if rest.first().is_some_and(|a| a == "--") {
        rest = &rest[1..];
    }
    let Some(format) = rest.first() else {
        return Ok(sh.usage("printf", "usage: printf format [arg ...]"));
    };
    let fmt: Vec<char> = format.chars().collect();
    let mut args = Args {
        items: &rest[1..],
        pos: 0,
        error: false,
    };
    let mut out = String::new();
    loop {
        let start_pos = args.pos;
        let mut i = 0;
        let mut stop = false;
        while i < fmt.len() && !stop {
            let c = fmt[i];
            i += 1;
            if c == '\\' && i < fmt.len() {
                // `\c` ends the output in a `%b` argument only; in the format it is text, as in
                // dash and bash.
                format_escape(&fmt, &mut i, &mut out);
                continue;
            }
            if c != '%' {
                out.push(c);
                continue;
            }
            if fmt.get(i) == Some(&'%') {
                out.push('%');
                i += 1;
                continue;
            }
            let directive = i - 1;
            let mut spec = Spec {
                flags: String::new(),
                width: None,
                prec: None,
            };
            while let Some(&f) = fmt.get(i) {
                if "-+ #0".contains(f) {
                    spec.flags.push(f);
                    i += 1;
                } else {
                    break;
                }
            }
            if fmt.get(i) == Some(&'*') {
                i += 1;
                let w = args.number(sh);
                if w < 0 {
                    spec.flags.push('-');
                }
                spec.width = Some(w.unsigned_abs().min(1 << 16) as usize);
            } else {
                let mut w = String::new();
                while let Some(d) = fmt.get(i).filter(|d| d.is_ascii_digit()) {
                    w.push(*d);
                    i += 1;
                }
                spec.width = w.parse::<usize>().ok().map(|w| w.min(1 << 16));
            }
            if fmt.get(i) == Some(&'.') {
                i += 1;
                if fmt.get(i) == Some(&'*') {
                    i += 1;
                    spec.prec = Some(args.number(sh).clamp(0, 1 << 16) as usize);
                } else {
                    let mut p = String::new();
                    while let Some(d) = fmt.get(i).filter(|d| d.is_ascii_digit()) {
                        p.push(*d);
                        i += 1;
                    }
                    spec.prec = Some(p.parse::<usize>().unwrap_or(0).min(1 << 16));
                }
            }
            let Some(&conv) = fmt.get(i) else {
                sh.out(&out);
                sh.error("printf: missing format character");
                return Ok(2);
            };
            i += 1;
            let s = match conv {
                'd' | 'i' => {
                    let v = args.number(sh);
                    let mut s = v.unsigned_abs().to_string();
                    if let Some(p) = spec.prec
                        && s.len() < p
                    {
                        s = format!("{}{s}", "0".repeat(p - s.len()));
                    }
                    let sign = if v < 0 {
                        "-"
                    } else if spec.flags.contains('+') {
                        "+"
                    } else if spec.flags.contains(' ') {
                        " "
                    } else {
                        ""
                    };
                    pad(format!("{sign}{s}"), &spec, true)
                }
                'o' | 'u' | 'x' | 'X' => {
                    let v = args.unsigned(sh);
                    let mut s = match conv {
                        'o' => format!("{v:o}"),
                        'u' => v.to_string(),
                        'x' => format!("{v:x}"),
                        _ => format!("{v:X}"),
                    };
                    if let Some(p) = spec.prec
                        && s.len() < p
                    {
                        s = format!("{}{s}", "0".repeat(p - s.len()));
                    }
                    if spec.flags.contains('#') && v != 0 {
                        s = match conv {
                            'o' if !s.starts_with('0') => format!("0{s}"),
                            'x' => format!("0x{s}"),
                            'X' => format!("0X{s}"),
                            _ => s,
                        };
                    }
                    pad(s, &spec, true)
                }
                // An empty argument gives a NUL byte, as in dash and bash.
                'c' => pad(
                    args.next()
                        .map(|a| a.chars().next().unwrap_or('\0'))
                        .map(String::from)
                        .unwrap_or_default(),
                    &spec,
                    false,
                ),
                's' | 'b' => {
                    let a = args.next().unwrap_or("").to_string();
                    let mut s = if conv == 'b' {
                        let mut o = String::new();
                        if !echo_escapes(&a, &mut o) {
                            stop = true;
                            args.pos = args.items.len();
                        }
                        o
                    } else {
                        a
                    };
                    if let Some(p) = spec.prec {
                        s = s.chars().take(p).collect();
                    }
                    pad(s, &spec, false)
                }
                'e' | 'E' | 'f' | 'F' | 'g' | 'G' => {
                    let v = args.float(sh);
                    pad(fmt_float(conv, v, &spec), &spec, true)
                }
                _ => {
                    let text: String = fmt[directive..i].iter().collect();
                    sh.out(&out);
                    sh.error(&format!("printf: {text}: invalid directive"));
                    return Ok(2);
                }
            };
            out.push_str(&s);
        }
        if stop || args.pos >= args.items.len() || args.pos == start_pos {
            break;
        }
    }
    let st = sh.out_status(&out);
    Ok(if args.error { 1 } else { st })
}
