//! Scanning the inside of words: quotes, backslashes, `$name`, `${…}`, `$(…)`, `$((…))` and
//! backquotes. Command substitutions are parsed recursively on the same input.

use std::rc::Rc;

use super::{Lexer, MAX_DEPTH, Mode, is_meta, is_name_char, is_name_start, param};
use crate::shell::ast::{ParamOp, Word, WordPart};
use crate::shell::parser::{self, ParseError};

impl Lexer<'_> {
    /// Scans word parts until the mode's terminator (not consumed, except `"` and `}`).
    pub(super) fn scan_parts(&mut self, mode: Mode) -> Result<Vec<WordPart>, ParseError> {
        let mut parts: Vec<WordPart> = Vec::new();
        let mut lit = String::new();
        let flush = |lit: &mut String, parts: &mut Vec<WordPart>| {
            if !lit.is_empty() {
                parts.push(WordPart::Literal(std::mem::take(lit)));
            }
        };
        loop {
            let Some(c) = self.peek() else {
                match mode {
                    Mode::Unquoted | Mode::Plain => break,
                    Mode::DQuote => {
                        return Err(ParseError {
                            line: self.line,
                            msg: "Syntax error: Unterminated quoted string".into(),
                            incomplete: true,
                        });
                    }
                    Mode::Brace { .. } => return Err(self.eof_err("Syntax error: Missing '}'")),
                }
            };
            match mode {
                Mode::Unquoted if is_meta(c) => break,
                Mode::DQuote if c == '"' => {
                    self.bump();
                    break;
                }
                Mode::Brace { .. } if c == '}' => {
                    self.bump();
                    break;
                }
                _ => {}
            }
            let quoting_active = matches!(mode, Mode::Unquoted | Mode::Brace { dq: false });
            match c {
                '\'' if quoting_active => {
                    self.bump();
                    let mut s = String::new();
                    loop {
                        match self.bump() {
                            Some('\'') => break,
                            Some(ch) => s.push(ch),
                            None => {
                                return Err(ParseError {
                                    line: self.line,
                                    msg: "Syntax error: Unterminated quoted string".into(),
                                    incomplete: true,
                                });
                            }
                        }
                    }
                    flush(&mut lit, &mut parts);
                    parts.push(WordPart::Quoted(s));
                }
                '"' if mode != Mode::Plain => {
                    self.bump();
                    flush(&mut lit, &mut parts);
                    let inner = self.scan_parts(Mode::DQuote)?;
                    parts.push(WordPart::DoubleQuoted(inner));
                }
                '\\' => {
                    self.bump();
                    let Some(n) = self.peek() else {
                        lit.push('\\');
                        continue;
                    };
                    if n == '\n' {
                        self.bump();
                        continue;
                    }
                    let escapes = quoting_active
                        || matches!(n, '$' | '`' | '\\')
                        || (n == '"' && matches!(mode, Mode::DQuote | Mode::Brace { dq: true }))
                        || (n == '}' && matches!(mode, Mode::Brace { .. }));
                    if escapes {
                        self.bump();
                        flush(&mut lit, &mut parts);
                        parts.push(WordPart::Quoted(n.to_string()));
                    } else {
                        lit.push('\\');
                    }
                }
                '$' => {
                    self.bump();
                    match self.scan_dollar(mode)? {
                        Some(p) => {
                            flush(&mut lit, &mut parts);
                            parts.push(p);
                        }
                        None => lit.push('$'),
                    }
                }
                '`' => {
                    self.bump();
                    flush(&mut lit, &mut parts);
                    parts.push(self.scan_backquote(mode)?);
                }
                _ => {
                    self.bump();
                    lit.push(c);
                }
            }
        }
        flush(&mut lit, &mut parts);
        Ok(parts)
    }

    fn enter(&mut self) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            Err(self.err("Syntax error: nesting too deep"))
        } else {
            Ok(())
        }
    }

    /// After a `$`: an expansion, or `None` when the `$` is literal.
    fn scan_dollar(&mut self, mode: Mode) -> Result<Option<WordPart>, ParseError> {
        let Some(c) = self.peek() else {
            return Ok(None);
        };
        match c {
            '(' => {
                self.enter()?;
                let r = if self.peek_at(1) == Some('(') {
                    self.scan_arith_or_subst()
                } else {
                    self.bump();
                    parser::parse_subst(self).map(|p| WordPart::Command(Rc::new(p)))
                };
                self.depth -= 1;
                r.map(Some)
            }
            '{' => {
                self.bump();
                self.enter()?;
                let r = self.scan_braced(mode);
                self.depth -= 1;
                r.map(Some)
            }
            c if is_name_start(c) => {
                let mut name = String::new();
                while let Some(c) = self.peek() {
                    if !is_name_char(c) {
                        break;
                    }
                    name.push(c);
                    self.bump();
                }
                Ok(Some(param(name, ParamOp::Plain)))
            }
            c if c.is_ascii_digit() || "@*#?-$!".contains(c) => {
                self.bump();
                Ok(Some(param(c.to_string(), ParamOp::Plain)))
            }
            _ => Ok(None),
        }
    }

    fn scan_arith_or_subst(&mut self) -> Result<WordPart, ParseError> {
        // Positioned at "((": find the matching "))" at paren depth 0.
        let save = (self.pos, self.line);
        self.bump();
        self.bump();
        let mut depth = 0usize;
        let mut text = String::new();
        loop {
            let Some(c) = self.bump() else {
                return Err(self.eof_err("Syntax error: Missing '))'"));
            };
            match c {
                '(' => depth += 1,
                ')' if depth > 0 => depth -= 1,
                ')' => {
                    if self.peek() == Some(')') {
                        self.bump();
                        let mut sub = Lexer::from_text(&text);
                        sub.depth = self.depth;
                        sub.line = save.1;
                        return Ok(WordPart::Arith(sub.scan_parts(Mode::Plain)?));
                    }
                    // "$( (…) …)": a command substitution starting with a subshell.
                    self.pos = save.0 + 1;
                    self.line = save.1;
                    return match parser::parse_subst(self) {
                        Ok(prog) => Ok(WordPart::Command(Rc::new(prog))),
                        Err(e) if e.incomplete => Err(self.eof_err("Syntax error: Missing '))'")),
                        Err(e) => Err(e),
                    };
                }
                _ => {}
            }
            text.push(c);
        }
    }

    fn scan_braced(&mut self, mode: Mode) -> Result<WordPart, ParseError> {
        let dq = matches!(mode, Mode::DQuote | Mode::Brace { dq: true } | Mode::Plain);
        let mut length = false;
        if self.peek() == Some('#') {
            let n = self.peek_at(1);
            if n.is_some_and(|n| is_name_char(n) || "@*#?-$!".contains(n)) && n != Some('}') {
                // "${#-}" and "${#?}" would be ambiguous; "${#x}" is the length of x.
                if !(matches!(n, Some('-') | Some('?') | Some('#'))
                    && self.peek_at(2).is_some_and(|c| c != '}'))
                {
                    self.bump();
                    length = true;
                }
            }
        }
        let mut name = String::new();
        match self.peek() {
            Some(c) if is_name_start(c) => {
                while let Some(c) = self.peek() {
                    if !is_name_char(c) {
                        break;
                    }
                    name.push(c);
                    self.bump();
                }
                // bash's one array the shell has: `${PIPESTATUS[@]}`, `${PIPESTATUS[1]}`.
                if name == "PIPESTATUS" && self.peek() == Some('[') {
                    let mut n = 1;
                    while let Some(c) = self
                        .peek_at(n)
                        .filter(|c| c.is_ascii_digit() || "@*".contains(*c))
                    {
                        let _ = c;
                        n += 1;
                        if n > 12 {
                            break;
                        }
                    }
                    if n > 1 && self.peek_at(n) == Some(']') {
                        for _ in 0..=n {
                            if let Some(c) = self.bump() {
                                name.push(c);
                            }
                        }
                    }
                }
            }
            Some(c) if c.is_ascii_digit() => {
                while let Some(c) = self.peek() {
                    if !c.is_ascii_digit() {
                        break;
                    }
                    name.push(c);
                    self.bump();
                }
            }
            Some(c) if "@*#?-$!".contains(c) => {
                name.push(c);
                self.bump();
            }
            Some(_) => return Err(self.err("Bad substitution")),
            None => return Err(self.eof_err("Syntax error: Missing '}'")),
        }
        if length {
            return match self.bump() {
                Some('}') => Ok(param(name, ParamOp::Length)),
                None => Err(self.eof_err("Syntax error: Missing '}'")),
                _ => Err(self.err("Bad substitution")),
            };
        }
        let colon = self.peek() == Some(':');
        if colon {
            self.bump();
        }
        let Some(c) = self.peek() else {
            return Err(self.eof_err("Syntax error: Missing '}'"));
        };
        if !"}-=?+%#".contains(c) {
            return Err(self.bad_substitution());
        }
        self.bump();
        let inner = Mode::Brace { dq };
        let op = match c {
            '}' if !colon => ParamOp::Plain,
            '-' => ParamOp::Default(
                colon,
                Word {
                    parts: self.scan_parts(inner)?,
                },
            ),
            '=' => ParamOp::Assign(
                colon,
                Word {
                    parts: self.scan_parts(inner)?,
                },
            ),
            '?' => ParamOp::Error(
                colon,
                Word {
                    parts: self.scan_parts(inner)?,
                },
            ),
            '+' => ParamOp::Alternative(
                colon,
                Word {
                    parts: self.scan_parts(inner)?,
                },
            ),
            '%' | '#' if !colon => {
                let longest = self.peek() == Some(c);
                if longest {
                    self.bump();
                }
                // Patterns use unquoted rules even inside double quotes.
                let w = Word {
                    parts: self.scan_parts(Mode::Brace { dq: false })?,
                };
                if c == '%' {
                    ParamOp::RemoveSuffix(longest, w)
                } else {
                    ParamOp::RemovePrefix(longest, w)
                }
            }
            _ => return Err(self.bad_substitution()),
        };
        Ok(param(name, op))
    }

    /// dash's two messages for a malformed `${…}`: "Missing '}'" when no `}` follows before the
    /// end of input (more input could fix it), else "Bad substitution".
    fn bad_substitution(&mut self) -> ParseError {
        let mut n = 0;
        while let Some(c) = self.peek_at(n) {
            if c == '}' {
                return self.err("Bad substitution");
            }
            n += 1;
        }
        let e = self.eof_err("Syntax error: Missing '}'");
        while self.bump().is_some() {}
        e
    }

    fn scan_backquote(&mut self, mode: Mode) -> Result<WordPart, ParseError> {
        let start_line = self.line;
        let mut text = String::new();
        loop {
            match self.bump() {
                None => {
                    return Err(ParseError {
                        line: self.line,
                        msg: "Syntax error: EOF in backquote substitution".into(),
                        incomplete: true,
                    });
                }
                Some('`') => break,
                Some('\\') => match self.peek() {
                    Some(n @ ('$' | '`' | '\\')) => {
                        self.bump();
                        text.push(n);
                    }
                    Some('"') if matches!(mode, Mode::DQuote) => {
                        self.bump();
                        text.push('"');
                    }
                    Some('\n') => {
                        self.bump();
                    }
                    _ => text.push('\\'),
                },
                Some(c) => text.push(c),
            }
        }
        self.enter()?;
        let mut sub = Lexer::from_text(&text);
        sub.aliases = self.aliases.clone();
        sub.depth = self.depth;
        sub.line = start_line;
        let r = parser::parse_subst_string(&mut sub);
        self.depth -= 1;
        Ok(WordPart::Command(Rc::new(r?)))
    }
}
