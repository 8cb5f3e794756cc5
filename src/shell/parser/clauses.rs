//! The compound clauses with their own keywords: `if`, `for` and `case`.

use super::{ParseError, Parser, is_kw, is_name};
use crate::shell::ast::*;
use crate::shell::lexer::{Op, Token};

impl Parser<'_, '_> {
    pub(super) fn if_clause(&mut self) -> Result<CompoundCommand, ParseError> {
        self.enter()?;
        let mut branches = Vec::new();
        let mut otherwise = None;
        loop {
            let cond = self.list_until_terminator(true, Some("then"))?;
            self.expect_kw("then")?;
            let body = self.list_until_terminator(true, Some("fi"))?;
            branches.push((cond, body));
            let (t, l) = self.next()?;
            if is_kw(&t, "elif") {
                continue;
            }
            if is_kw(&t, "else") {
                otherwise = Some(self.list_until_terminator(true, Some("fi"))?);
                self.expect_kw("fi")?;
                break;
            }
            if is_kw(&t, "fi") {
                break;
            }
            return Err(self.unexpected(t, l, Some("fi")));
        }
        Ok(CompoundCommand::If {
            branches,
            otherwise,
        })
    }

    pub(super) fn for_clause(&mut self) -> Result<CompoundCommand, ParseError> {
        self.enter()?;
        let (t, l) = self.next()?;
        let var = match &t {
            Token::Word(w) => match w.as_literal() {
                Some(n) if is_name(n) => n.to_string(),
                _ => {
                    return Err(ParseError {
                        line: l,
                        msg: "Syntax error: Bad for loop variable".to_string(),
                        incomplete: false,
                    });
                }
            },
            _ => return Err(self.unexpected(t, l, None)),
        };
        self.skip_newlines()?;
        let mut words = None;
        if is_kw(self.peek()?, "in") {
            self.next()?;
            let mut list = Vec::new();
            loop {
                let (t, l) = self.next()?;
                match t {
                    Token::Word(w) => list.push(w),
                    Token::Op(Op::Semi) | Token::Newline => break,
                    t => return Err(self.unexpected(t, l, Some("do"))),
                }
            }
            words = Some(list);
        } else if *self.peek()? == Token::Op(Op::Semi) {
            self.next()?;
        }
        self.skip_newlines()?;
        self.expect_kw("do")?;
        let body = self.list_until_terminator(true, Some("done"))?;
        self.expect_kw("done")?;
        Ok(CompoundCommand::For { var, words, body })
    }

    pub(super) fn case_clause(&mut self) -> Result<CompoundCommand, ParseError> {
        self.enter()?;
        let (t, l) = self.next()?;
        let Token::Word(word) = t else {
            return Err(self.unexpected(t, l, None));
        };
        self.skip_newlines()?;
        self.expect_kw("in")?;
        self.skip_newlines()?;
        let mut arms = Vec::new();
        loop {
            let (t, l) = self.next()?;
            let first = match t {
                Token::Word(ref w) if w.as_literal() == Some("esac") => break,
                Token::Op(Op::LParen) => match self.next()? {
                    (Token::Word(w), _) => w,
                    (t, l) => return Err(self.unexpected(t, l, None)),
                },
                Token::Word(w) => w,
                t => return Err(self.unexpected(t, l, Some(")"))),
            };
            let mut patterns = vec![first];
            loop {
                let (t, l) = self.next()?;
                match t {
                    Token::Op(Op::Pipe) => match self.next()? {
                        (Token::Word(w), _) => patterns.push(w),
                        (t, l) => return Err(self.unexpected(t, l, None)),
                    },
                    Token::Op(Op::RParen) => break,
                    t => return Err(self.unexpected(t, l, Some(")"))),
                }
            }
            let body = self.list_until_terminator(false, None)?;
            let (t, l) = self.next()?;
            let fallthrough = match t {
                Token::Op(Op::DSemi) => false,
                Token::Op(Op::SemiAnd) => true,
                Token::Word(ref w) if w.as_literal() == Some("esac") => {
                    arms.push(CaseArm {
                        patterns,
                        body,
                        fallthrough: false,
                    });
                    break;
                }
                t => return Err(self.unexpected(t, l, Some(";;"))),
            };
            arms.push(CaseArm {
                patterns,
                body,
                fallthrough,
            });
            self.skip_newlines()?;
        }
        let _ = l;
        Ok(CompoundCommand::Case { word, arms })
    }
}
