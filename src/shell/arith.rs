//! Arithmetic expansion `$(( … ))`: integer expressions with every C operator POSIX names
//! (unary `+ - ~ !`, `* / %`, `+ -`, `<< >>`, comparisons, `& ^ |`, `&& ||`, `?:` and the
//! assignment operators), on wrapping 64-bit integers like dash.

/// An arithmetic error; the message follows dash's wording.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("arithmetic expression: {msg}: \"{expr}\"")]
pub struct ArithError {
    /// What went wrong.
    pub msg: String,
    /// The expression text.
    pub expr: String,
}

/// How the evaluator reads and writes shell variables.
pub trait ArithEnv {
    /// The value of a variable (unset or empty is 0).
    fn get_var(&mut self, name: &str) -> Result<i64, String>;
    /// Assigns a variable.
    fn set_var(&mut self, name: &str, value: i64) -> Result<(), String>;
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Num(i64),
    Name(String),
    Op(&'static str),
}

const OPS: &[&str] = &[
    "<<=", ">>=", "<<", ">>", "<=", ">=", "==", "!=", "&&", "||", "*=", "/=", "%=", "+=", "-=",
    "&=", "^=", "|=", "+", "-", "*", "/", "%", "<", ">", "&", "^", "|", "!", "~", "?", ":", "=",
    "(", ")",
];

const MAX_NEST: usize = 200;

/// Parses an integer constant in C syntax (decimal, `0` octal, `0x` hex), with optional sign.
pub fn parse_number(s: &str) -> Option<i64> {
    let t = s.trim_matches(|c: char| c == ' ' || c == '\t' || c == '\n');
    let (neg, t) = match t.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    if t.is_empty() {
        return None;
    }
    let v = if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        u64::from_str_radix(h, 16).ok()? as i64
    } else if t.len() > 1 && t.starts_with('0') {
        u64::from_str_radix(&t[1..], 8).ok()? as i64
    } else {
        t.parse::<u64>().ok()? as i64
    };
    Some(if neg { v.wrapping_neg() } else { v })
}

fn tokenize(s: &str) -> Result<Vec<Tok>, String> {
    let b: Vec<char> = s.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    while i < b.len() {
        let c = b[i];
        if c.is_whitespace() {
            i += 1;
        } else if c.is_ascii_digit() {
            let st = i;
            while i < b.len() && b[i].is_ascii_alphanumeric() {
                i += 1;
            }
            let text: String = b[st..i].iter().collect();
            let n = parse_number(&text).ok_or_else(|| format!("Illegal number: {text}"))?;
            out.push(Tok::Num(n));
        } else if c == '_' || c.is_ascii_alphabetic() {
            let st = i;
            while i < b.len() && (b[i] == '_' || b[i].is_ascii_alphanumeric()) {
                i += 1;
            }
            out.push(Tok::Name(b[st..i].iter().collect()));
        } else {
            let rest: String = b[i..b.len().min(i + 3)].iter().collect();
            let op = OPS
                .iter()
                .find(|o| rest.starts_with(*o))
                .ok_or_else(|| format!("expecting primary: \"{}\"", &s[s.len().min(i)..]))?;
            i += op.chars().count();
            out.push(Tok::Op(op));
        }
    }
    Ok(out)
}

struct Eval<'e> {
    toks: Vec<Tok>,
    pos: usize,
    env: &'e mut dyn ArithEnv,
    depth: usize,
}

fn binary_prec(op: &str) -> Option<u8> {
    Some(match op {
        "||" => 1,
        "&&" => 2,
        "|" => 3,
        "^" => 4,
        "&" => 5,
        "==" | "!=" => 6,
        "<" | "<=" | ">" | ">=" => 7,
        "<<" | ">>" => 8,
        "+" | "-" => 9,
        "*" | "/" | "%" => 10,
        _ => return None,
    })
}

fn apply(op: &str, a: i64, b: i64, skip: bool) -> Result<i64, String> {
    Ok(match op {
        "|" => a | b,
        "^" => a ^ b,
        "&" => a & b,
        "==" => (a == b) as i64,
        "!=" => (a != b) as i64,
        "<" => (a < b) as i64,
        "<=" => (a <= b) as i64,
        ">" => (a > b) as i64,
        ">=" => (a >= b) as i64,
        "<<" => a.wrapping_shl(b as u32),
        ">>" => a.wrapping_shr(b as u32),
        "+" => a.wrapping_add(b),
        "-" => a.wrapping_sub(b),
        "*" => a.wrapping_mul(b),
        "/" | "%" if b == 0 => {
            if skip {
                return Ok(0);
            }
            return Err("division by zero".into());
        }
        "/" => a.wrapping_div(b),
        "%" => a.wrapping_rem(b),
        _ => return Err(format!("unknown operator {op}")),
    })
}

impl Eval<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn peek_op(&self) -> Option<&'static str> {
        match self.peek() {
            Some(Tok::Op(o)) => Some(o),
            _ => None,
        }
    }

    fn assign(&mut self, skip: bool) -> Result<i64, String> {
        if let (Some(Tok::Name(name)), Some(Tok::Op(op))) = (
            self.toks.get(self.pos).cloned(),
            self.toks.get(self.pos + 1).cloned(),
        ) && op.ends_with('=')
            && !matches!(op, "==" | "!=" | "<=" | ">=")
        {
            self.pos += 2;
            let rhs = self.assign(skip)?;
            if skip {
                return Ok(0);
            }
            let v = if op == "=" {
                rhs
            } else {
                let cur = self.env.get_var(&name)?;
                apply(&op[..op.len() - 1], cur, rhs, false)?
            };
            self.env.set_var(&name, v)?;
            return Ok(v);
        }
        self.ternary(skip)
    }

    fn ternary(&mut self, skip: bool) -> Result<i64, String> {
        let c = self.binary(1, skip)?;
        if self.peek_op() != Some("?") {
            return Ok(c);
        }
        self.pos += 1;
        let a = self.assign(skip || c == 0)?;
        if self.peek_op() != Some(":") {
            return Err("expecting ':'".into());
        }
        self.pos += 1;
        let b = self.ternary(skip || c != 0)?;
        Ok(if c != 0 { a } else { b })
    }

    fn binary(&mut self, min: u8, skip: bool) -> Result<i64, String> {
        let mut lhs = self.unary(skip)?;
        while let Some(op) = self.peek_op() {
            let Some(p) = binary_prec(op) else { break };
            if p < min {
                break;
            }
            self.pos += 1;
            lhs = match op {
                "&&" => {
                    let r = self.binary(p + 1, skip || lhs == 0)?;
                    (lhs != 0 && r != 0) as i64
                }
                "||" => {
                    let r = self.binary(p + 1, skip || lhs != 0)?;
                    (lhs != 0 || r != 0) as i64
                }
                _ => {
                    let r = self.binary(p + 1, skip)?;
                    apply(op, lhs, r, skip)?
                }
            };
        }
        Ok(lhs)
    }

    fn unary(&mut self, skip: bool) -> Result<i64, String> {
        self.depth += 1;
        if self.depth > MAX_NEST {
            return Err("expression nested too deeply".into());
        }
        let r = self.unary_inner(skip);
        self.depth -= 1;
        r
    }

    fn unary_inner(&mut self, skip: bool) -> Result<i64, String> {
        let tok = self.peek().cloned();
        self.pos += 1;
        match tok {
            Some(Tok::Op("+")) => self.unary(skip),
            Some(Tok::Op("-")) => Ok(self.unary(skip)?.wrapping_neg()),
            Some(Tok::Op("~")) => Ok(!self.unary(skip)?),
            Some(Tok::Op("!")) => Ok((self.unary(skip)? == 0) as i64),
            Some(Tok::Op("(")) => {
                let v = self.assign(skip)?;
                if self.peek_op() != Some(")") {
                    return Err("expecting ')'".into());
                }
                self.pos += 1;
                Ok(v)
            }
            Some(Tok::Num(n)) => Ok(n),
            Some(Tok::Name(n)) => {
                if skip {
                    Ok(0)
                } else {
                    self.env.get_var(&n)
                }
            }
            _ => Err("expecting primary".into()),
        }
    }
}

/// Evaluates an (already expanded) arithmetic expression.
pub fn eval(expr: &str, env: &mut dyn ArithEnv) -> Result<i64, ArithError> {
    let err = |msg: String| ArithError {
        msg,
        expr: expr.to_string(),
    };
    let toks = tokenize(expr).map_err(err)?;
    if toks.is_empty() {
        return Ok(0);
    }
    let mut ev = Eval {
        toks,
        pos: 0,
        env,
        depth: 0,
    };
    let v = ev.assign(false).map_err(err)?;
    if ev.pos != ev.toks.len() {
        return Err(err("expecting EOF".into()));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct Env(HashMap<String, i64>);
    impl ArithEnv for Env {
        fn get_var(&mut self, n: &str) -> Result<i64, String> {
            Ok(*self.0.get(n).unwrap_or(&0))
        }
        fn set_var(&mut self, n: &str, v: i64) -> Result<(), String> {
            self.0.insert(n.into(), v);
            Ok(())
        }
    }

    fn ev(s: &str) -> Result<i64, ArithError> {
        eval(s, &mut Env(HashMap::new()))
    }

    #[test]
    fn precedence_follows_c() {
        let cases = [
            ("1+2*3", 7),
            ("(1+2)*3", 9),
            ("1<<2+1", 8),
            ("7&3|8", 11),
            ("1?2:3", 2),
            ("0?2:0?4:5", 5),
            ("-3/2", -1),
            ("-7%3", -1),
            ("!0+~0", 0),
            ("010+0x10", 24),
            ("1==1&&2!=2||3>=3", 1),
            ("2^3", 1),
        ];
        for (e, want) in cases {
            assert_eq!(ev(e), Ok(want), "{e}");
        }
    }

    #[test]
    fn assignment_and_short_circuit() {
        let mut env = Env(HashMap::new());
        assert!(eval("x=5, 1", &mut env).is_err());
        assert_eq!(eval("x=5", &mut env), Ok(5));
        assert_eq!(eval("x+=2", &mut env), Ok(7));
        assert_eq!(eval("0 && (x=100)", &mut env), Ok(0));
        assert_eq!(eval("1 || 1/0", &mut env), Ok(1));
        assert_eq!(env.0["x"], 7);
    }

    #[test]
    fn errors_do_not_panic() {
        assert!(ev("1/0").is_err());
        assert!(ev("(").is_err());
        assert!(ev("1 +").is_err());
        assert!(ev(&"(".repeat(1000)).is_err());
        assert_eq!(ev("-9223372036854775807-1"), Ok(i64::MIN));
        assert!(ev("08").is_err());
    }
}
