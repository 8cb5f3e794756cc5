//! The recursive-descent parser for the POSIX shell grammar (XCU 2.10).
//!
//! A [`Parser`] reads one complete command at a time ([`Parser::next_command`]) so that a script
//! runs command by command like dash: an alias defined on one line applies to the next, and a
//! syntax error late in a file does not stop the lines before it. Errors that stem from reaching
//! the end of the input are marked [`ParseError::incomplete`], which the line editor uses to ask
//! for another line.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use super::ast::*;
use super::lexer::{Lexer, MAX_DEPTH, Op, Token, is_name_char, is_name_start};

mod clauses;

/// A syntax error.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{line}: {msg}")]
pub struct ParseError {
    /// The line where it was found.
    pub line: usize,
    /// The message (dash's wording where there is one).
    pub msg: String,
    /// True when more input could complete the command.
    pub incomplete: bool,
}

const RESERVED: &[&str] = &[
    "if", "then", "else", "elif", "fi", "do", "done", "case", "esac", "while", "until", "for", "{",
    "}", "!", "in",
];

/// Parses commands from a [`Lexer`].
pub struct Parser<'a, 's> {
    lex: &'a mut Lexer<'s>,
    peeked: Option<(Token, usize)>,
    aliases: Option<&'a HashMap<String, String>>,
}

/// True when `s` is a valid variable name.
pub fn is_name(s: &str) -> bool {
    let mut cs = s.chars();
    cs.next().is_some_and(is_name_start) && cs.all(is_name_char)
}

/// Parses a whole string (used by tests and for `$(…)` text from backquotes).
pub fn parse_program(src: &str) -> Result<Program, ParseError> {
    let mut lex = Lexer::from_text(src);
    let mut p = Parser::new(&mut lex, None);
    let mut prog = Program::default();
    while let Some(c) = p.next_command()? {
        prog.items.extend(c.items);
    }
    Ok(prog)
}

/// Parses the body of `$(…)` after the `(`, consuming the closing `)`.
pub fn parse_subst(lex: &mut Lexer<'_>) -> Result<Program, ParseError> {
    let aliases = lex.aliases.clone();
    let mut p = Parser::new(lex, aliases.as_deref());
    let prog = p.list_until_terminator(false, None)?;
    match p.next()? {
        (Token::Op(Op::RParen), _) => Ok(prog),
        (t, l) => Err(p.unexpected(t, l, Some(")"))),
    }
}

/// Parses the whole text of a backquoted command substitution.
pub fn parse_subst_string(lex: &mut Lexer<'_>) -> Result<Program, ParseError> {
    let aliases = lex.aliases.clone();
    let mut p = Parser::new(lex, aliases.as_deref());
    let prog = p.list_until_terminator(false, None)?;
    match p.next()? {
        (Token::Eof, _) => Ok(prog),
        (t, l) => Err(p.unexpected(t, l, None)),
    }
}

fn describe(t: &Token) -> String {
    match t {
        // Like dash: keywords by name, any other word as "word".
        Token::Word(w) => match w.as_literal() {
            Some(kw) if RESERVED.contains(&kw) => format!("\"{kw}\""),
            _ => "word".into(),
        },
        Token::IoNumber(n) => format!("\"{n}\""),
        // dash has one token for every redirection operator.
        Token::Op(
            Op::Less
            | Op::Great
            | Op::DGreat
            | Op::Clobber
            | Op::LessAnd
            | Op::GreatAnd
            | Op::LessGreat
            | Op::DLess
            | Op::DLessDash,
        ) => "redirection".into(),
        Token::Op(op) => format!("\"{}\"", op.text()),
        Token::Newline => "newline".into(),
        Token::Eof => "end of file".into(),
    }
}

fn is_kw(t: &Token, kw: &str) -> bool {
    matches!(t, Token::Word(w) if w.as_literal() == Some(kw))
}

impl<'a, 's> Parser<'a, 's> {
    /// A parser over `lex`, expanding `aliases` in command position when given.
    pub fn new(lex: &'a mut Lexer<'s>, aliases: Option<&'a HashMap<String, String>>) -> Self {
        Parser {
            lex,
            peeked: None,
            aliases,
        }
    }

    fn peek(&mut self) -> Result<&Token, ParseError> {
        if self.peeked.is_none() {
            let line = self.lex.line;
            let t = self.lex.next_token()?;
            self.peeked = Some((t, line));
        }
        match &self.peeked {
            Some((t, _)) => Ok(t),
            None => Err(self.lex.err("internal: no token")),
        }
    }

    fn next(&mut self) -> Result<(Token, usize), ParseError> {
        self.peek()?;
        self.peeked
            .take()
            .ok_or_else(|| self.lex.err("internal: no token"))
    }

    fn peek_line(&mut self) -> Result<usize, ParseError> {
        self.peek()?;
        Ok(self.peeked.as_ref().map(|p| p.1).unwrap_or(self.lex.line))
    }

    fn unexpected(&self, t: Token, line: usize, expecting: Option<&str>) -> ParseError {
        let incomplete = t == Token::Eof || (t == Token::Newline && self.lex.heredocs_pending());
        let mut msg = format!("Syntax error: {} unexpected", describe(&t));
        if let Some(e) = expecting {
            msg.push_str(&format!(" (expecting \"{e}\")"));
        }
        let _ = line;
        ParseError {
            line: self.lex.line,
            msg,
            incomplete,
        }
    }

    fn expect_kw(&mut self, kw: &str) -> Result<(), ParseError> {
        let (t, l) = self.next()?;
        if is_kw(&t, kw) {
            Ok(())
        } else {
            Err(self.unexpected(t, l, Some(kw)))
        }
    }

    fn skip_newlines(&mut self) -> Result<(), ParseError> {
        while *self.peek()? == Token::Newline {
            self.next()?;
        }
        Ok(())
    }

    fn enter(&mut self) -> Result<(), ParseError> {
        self.lex.depth += 1;
        if self.lex.depth > MAX_DEPTH {
            return Err(self.lex.err("Syntax error: nesting too deep"));
        }
        Ok(())
    }

    /// The next complete command (an and-or list up to a newline), or `None` at end of input.
    pub fn next_command(&mut self) -> Result<Option<Program>, ParseError> {
        self.skip_newlines()?;
        if *self.peek()? == Token::Eof {
            return Ok(None);
        }
        let mut prog = Program::default();
        loop {
            let and_or = self.and_or()?;
            let sep = self.separator_op()?;
            prog.items.push(ListItem {
                and_or,
                background: sep == Some(Op::Amp),
            });
            let (t, l) = self.next()?;
            match t {
                Token::Newline => break,
                Token::Eof => {
                    if self.lex.heredocs_pending() {
                        return Err(ParseError {
                            line: self.lex.line,
                            msg: "Syntax error: here-document not terminated".into(),
                            incomplete: true,
                        });
                    }
                    break;
                }
                t if sep.is_some() && starts_command(&t) => self.peeked = Some((t, l)),
                t => return Err(self.unexpected(t, l, None)),
            }
        }
        Ok(Some(prog))
    }

    fn separator_op(&mut self) -> Result<Option<Op>, ParseError> {
        match self.peek()? {
            Token::Op(op @ (Op::Amp | Op::Semi)) => {
                let op = *op;
                self.next()?;
                Ok(Some(op))
            }
            _ => Ok(None),
        }
    }

    fn at_list_end(&mut self) -> Result<bool, ParseError> {
        Ok(match self.peek()? {
            Token::Eof => true,
            Token::Op(Op::RParen | Op::DSemi | Op::SemiAnd) => true,
            Token::Word(w) => matches!(
                w.as_literal(),
                Some("then" | "else" | "elif" | "fi" | "do" | "done" | "esac" | "}")
            ),
            _ => false,
        })
    }

    /// A compound list: and-or lists separated by `;`, `&` or newlines, up to a closing word.
    fn list_until_terminator(
        &mut self,
        required: bool,
        expect: Option<&str>,
    ) -> Result<Program, ParseError> {
        let mut prog = Program::default();
        self.skip_newlines()?;
        loop {
            if self.at_list_end()? {
                break;
            }
            let and_or = self.and_or()?;
            let sep = self.separator_op()?;
            prog.items.push(ListItem {
                and_or,
                background: sep == Some(Op::Amp),
            });
            let newline = *self.peek()? == Token::Newline;
            self.skip_newlines()?;
            if sep.is_none() && !newline {
                break;
            }
        }
        if required && prog.items.is_empty() {
            let (t, l) = self.next()?;
            let e = if t == Token::Eof { expect } else { None };
            return Err(self.unexpected(t, l, e));
        }
        Ok(prog)
    }

    fn and_or(&mut self) -> Result<AndOr, ParseError> {
        let first = self.pipeline()?;
        let mut rest = Vec::new();
        loop {
            let op = match self.peek()? {
                Token::Op(Op::AndIf) => AndOrOp::And,
                Token::Op(Op::OrIf) => AndOrOp::Or,
                _ => break,
            };
            self.next()?;
            self.skip_newlines()?;
            rest.push((op, self.pipeline()?));
        }
        Ok(AndOr { first, rest })
    }

    fn pipeline(&mut self) -> Result<Pipeline, ParseError> {
        let line = self.peek_line()?;
        // bash's `time [-p] PIPELINE` (dash would run an external `time`, which cannot time
        // a brace group or a pipeline).
        let mut time = None;
        if is_kw(self.peek()?, "time") {
            self.next()?;
            time = Some(false);
            if is_kw(self.peek()?, "-p") {
                self.next()?;
                time = Some(true);
            }
        }
        let mut bang = false;
        if is_kw(self.peek()?, "!") {
            self.next()?;
            bang = true;
        }
        let mut commands = vec![self.command()?];
        while *self.peek()? == Token::Op(Op::Pipe) {
            self.next()?;
            self.skip_newlines()?;
            commands.push(self.command()?);
        }
        Ok(Pipeline {
            bang,
            time,
            commands,
            line,
        })
    }

    fn expand_alias(&mut self) -> Result<(), ParseError> {
        let Some(aliases) = self.aliases else {
            return Ok(());
        };
        for _ in 0..64 {
            self.peek()?;
            self.lex.take_blank_alias();
            let name = match self.peek()? {
                Token::Word(w) => match w.as_literal() {
                    Some(n) if aliases.contains_key(n) => n.to_string(),
                    _ => return Ok(()),
                },
                _ => return Ok(()),
            };
            if self.lex.alias_active(&name) {
                return Ok(());
            }
            self.next()?;
            let text = aliases.get(&name).cloned().unwrap_or_default();
            self.lex.push_alias(&name, &text);
        }
        Ok(())
    }

    fn command(&mut self) -> Result<Command, ParseError> {
        self.expand_alias()?;
        let (t, l) = self.next()?;
        let compound = match &t {
            Token::Op(Op::LParen) => {
                self.enter()?;
                let body = self.list_until_terminator(true, Some(")"))?;
                let (t2, l2) = self.next()?;
                if t2 != Token::Op(Op::RParen) {
                    return Err(self.unexpected(t2, l2, Some(")")));
                }
                Some(CompoundCommand::Subshell(body))
            }
            Token::Word(w) => match w.as_literal() {
                Some("{") => {
                    self.enter()?;
                    let body = self.list_until_terminator(true, Some("}"))?;
                    self.expect_kw("}")?;
                    Some(CompoundCommand::Brace(body))
                }
                Some("if") => Some(self.if_clause()?),
                Some(kw @ ("while" | "until")) => {
                    let until = kw == "until";
                    self.enter()?;
                    let cond = self.list_until_terminator(true, Some("do"))?;
                    self.expect_kw("do")?;
                    let body = self.list_until_terminator(true, Some("done"))?;
                    self.expect_kw("done")?;
                    Some(CompoundCommand::Loop { until, cond, body })
                }
                Some("for") => Some(self.for_clause()?),
                Some("case") => Some(self.case_clause()?),
                Some(
                    "then" | "else" | "elif" | "fi" | "do" | "done" | "esac" | "}" | "in" | "!",
                ) => return Err(self.unexpected(t, l, None)),
                _ => None,
            },
            _ => None,
        };
        if let Some(c) = compound {
            self.lex.depth = self.lex.depth.saturating_sub(1);
            let redirects = self.redirects()?;
            return Ok(Command::Compound(Box::new(c), redirects));
        }
        self.simple_command(t, l)
    }

    fn redirects(&mut self) -> Result<Vec<Redirect>, ParseError> {
        let mut v = Vec::new();
        while let Some(r) = self.try_redirect()? {
            v.push(r);
        }
        Ok(v)
    }

    fn try_redirect(&mut self) -> Result<Option<Redirect>, ParseError> {
        let mut fd = None;
        if let Token::IoNumber(n) = self.peek()? {
            fd = Some(*n);
            self.next()?;
        }
        let op = match self.peek()? {
            Token::Op(op) => match op {
                Op::Less => RedirOp::In,
                Op::Great => RedirOp::Out,
                Op::DGreat => RedirOp::Append,
                Op::Clobber => RedirOp::Clobber,
                Op::LessAnd => RedirOp::DupIn,
                Op::GreatAnd => RedirOp::DupOut,
                Op::LessGreat => RedirOp::ReadWrite,
                Op::DLess | Op::DLessDash => RedirOp::HereDoc,
                _ => return Ok(None),
            },
            _ => return Ok(None),
        };
        let strip_tabs = *self.peek()? == Token::Op(Op::DLessDash);
        self.next()?;
        let (t, l) = self.next()?;
        let Token::Word(word) = t else {
            return Err(self.unexpected(t, l, None));
        };
        let target = if op == RedirOp::HereDoc {
            let doc = Rc::new(RefCell::new(HereDoc {
                delimiter: word.unquoted_text(),
                quoted: word.has_quotes(),
                strip_tabs,
                body: Word::default(),
            }));
            self.lex.push_heredoc(doc.clone());
            RedirTarget::HereDoc(doc)
        } else {
            RedirTarget::Word(word)
        };
        Ok(Some(Redirect { fd, op, target }))
    }

    fn simple_command(&mut self, first: Token, line: usize) -> Result<Command, ParseError> {
        let mut cmd = SimpleCommand {
            line,
            ..Default::default()
        };
        self.peeked = Some((first, line));
        loop {
            let is_word = matches!(self.peek()?, Token::Word(_));
            if self.lex.take_blank_alias() && is_word {
                self.expand_alias()?;
            }
            if let Some(r) = self.try_redirect()? {
                cmd.redirects.push(r);
                continue;
            }
            if !matches!(self.peek()?, Token::Word(_)) {
                break;
            }
            let Token::Word(w) = self.next()?.0 else {
                break;
            };
            if cmd.words.is_empty()
                && let Some(a) = as_assignment(&w)
            {
                cmd.assigns.push(a);
                continue;
            }
            if cmd.words.is_empty()
                && cmd.assigns.is_empty()
                && cmd.redirects.is_empty()
                && *self.peek()? == Token::Op(Op::LParen)
            {
                return self.function_def(w);
            }
            cmd.words.push(w);
        }
        if cmd.words.is_empty() && cmd.assigns.is_empty() && cmd.redirects.is_empty() {
            let (t, l) = self.next()?;
            return Err(self.unexpected(t, l, None));
        }
        Ok(Command::Simple(cmd))
    }

    fn function_def(&mut self, name: Word) -> Result<Command, ParseError> {
        let line = self.lex.line;
        let name = match name.as_literal() {
            Some(n) if is_fname(n) => n.to_string(),
            _ => {
                return Err(ParseError {
                    line,
                    msg: "Syntax error: Bad function name".into(),
                    incomplete: false,
                });
            }
        };
        self.next()?;
        let (t, l) = self.next()?;
        if t != Token::Op(Op::RParen) {
            return Err(self.unexpected(t, l, Some(")")));
        }
        self.skip_newlines()?;
        self.enter()?;
        let body = self.command()?;
        self.lex.depth -= 1;
        if !matches!(body, Command::Compound(..)) {
            return Err(ParseError {
                line: self.lex.line,
                msg: "Syntax error: function body must be a compound command".into(),
                incomplete: false,
            });
        }
        Ok(Command::FunctionDef(Rc::new(FunctionDef { name, body })))
    }
}

fn starts_command(t: &Token) -> bool {
    match t {
        Token::Word(w) => !matches!(
            w.as_literal(),
            Some("then" | "else" | "elif" | "fi" | "do" | "done" | "esac" | "}" | "in")
        ),
        Token::IoNumber(_) => true,
        Token::Op(op) => matches!(
            op,
            Op::LParen
                | Op::Less
                | Op::Great
                | Op::DGreat
                | Op::Clobber
                | Op::LessAnd
                | Op::GreatAnd
                | Op::LessGreat
                | Op::DLess
                | Op::DLessDash
        ),
        _ => false,
    }
}

fn is_fname(s: &str) -> bool {
    is_name(s) && !RESERVED.contains(&s)
}

/// Splits `NAME=value` into an assignment when the word starts with a valid name and `=`.
pub(super) fn as_assignment(w: &Word) -> Option<Assign> {
    let WordPart::Literal(first) = w.parts.first()? else {
        return None;
    };
    let eq = first.find('=')?;
    let name = &first[..eq];
    if !is_name(name) {
        return None;
    }
    let mut parts = Vec::new();
    let rest = &first[eq + 1..];
    if !rest.is_empty() {
        parts.push(WordPart::Literal(rest.to_string()));
    }
    parts.extend(w.parts[1..].iter().cloned());
    Some(Assign {
        name: name.to_string(),
        value: Word { parts },
    })
}

#[cfg(test)]
mod tests;
