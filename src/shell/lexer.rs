//! The tokenizer: words with their quoting, operators, io numbers, comments and here-documents.
//!
//! Input arrives line by line from a [`LineSource`], so a script on standard input is read only as
//! far as the parser needs (a `read` in the script then sees the script's next line). Command
//! substitutions `$(…)` are parsed recursively on the same input by the parser, so `)` inside a
//! nested `case` is handled as POSIX requires.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use super::ast::{HereDoc, ParamExpr, ParamOp, Word, WordPart};
use super::limits::MAX_COMMAND;
use super::parser::ParseError;

mod words;

/// Nesting deeper than this is a syntax error rather than a stack overflow.
pub const MAX_DEPTH: usize = 200;

/// Where the lexer gets more input from.
pub trait LineSource {
    /// The next line including its `\n` (the last line may lack it), or `None` at end of input.
    fn next_line(&mut self) -> Option<String>;
}

/// A source over an in-memory string, handed out all at once.
pub struct StrSource(Option<String>);

impl StrSource {
    /// A source that yields `s`.
    pub fn new(s: &str) -> StrSource {
        StrSource(Some(s.to_string()))
    }
}

impl LineSource for StrSource {
    fn next_line(&mut self) -> Option<String> {
        self.0.take()
    }
}

/// Operators of the grammar.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `&&`
    AndIf,
    /// `||`
    OrIf,
    /// `;;`
    DSemi,
    /// `;&`
    SemiAnd,
    /// `;`
    Semi,
    /// `&`
    Amp,
    /// `|`
    Pipe,
    /// `(`
    LParen,
    /// `)`
    RParen,
    /// `<`
    Less,
    /// `>`
    Great,
    /// `>>`
    DGreat,
    /// `>|`
    Clobber,
    /// `<&`
    LessAnd,
    /// `>&`
    GreatAnd,
    /// `<>`
    LessGreat,
    /// `<<`
    DLess,
    /// `<<-`
    DLessDash,
}

impl Op {
    /// The operator as written.
    pub fn text(self) -> &'static str {
        match self {
            Op::AndIf => "&&",
            Op::OrIf => "||",
            Op::DSemi => ";;",
            Op::SemiAnd => ";&",
            Op::Semi => ";",
            Op::Amp => "&",
            Op::Pipe => "|",
            Op::LParen => "(",
            Op::RParen => ")",
            Op::Less => "<",
            Op::Great => ">",
            Op::DGreat => ">>",
            Op::Clobber => ">|",
            Op::LessAnd => "<&",
            Op::GreatAnd => ">&",
            Op::LessGreat => "<>",
            Op::DLess => "<<",
            Op::DLessDash => "<<-",
        }
    }
}

/// A token.
#[derive(Clone, Debug, PartialEq)]
pub enum Token {
    /// A word (keywords are words the parser recognises by position).
    Word(Word),
    /// Digits directly before `<` or `>`.
    IoNumber(u32),
    /// An operator.
    Op(Op),
    /// A newline.
    Newline,
    /// End of input.
    Eof,
}

/// How a run of characters is being scanned.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Unquoted,
    /// The word of `${x-word}`; `dq` when the expansion is inside double quotes.
    Brace {
        dq: bool,
    },
    DQuote,
    /// A here-document body or an arithmetic expression: `"` and `'` are ordinary.
    Plain,
}

/// The tokenizer state.
pub struct Lexer<'s> {
    buf: Vec<char>,
    pos: usize,
    source: Box<dyn LineSource + 's>,
    exhausted: bool,
    /// Current line number (1-based).
    pub line: usize,
    pending: Vec<Rc<RefCell<HereDoc>>>,
    /// Current nesting depth (compound commands and substitutions).
    pub depth: usize,
    /// Aliases being expanded and the buffer index where their text ends.
    pub(crate) active_aliases: Vec<(String, usize)>,
    /// Buffer index where the last token started.
    pub(crate) token_start: usize,
    /// Where the text of the last alias ending in a blank ends: the next token there is
    /// checked for alias substitution too (POSIX's trailing-blank rule).
    blank_alias_end: Option<usize>,
    /// Set once the buffered input passes [`MAX_COMMAND`]: the input is then treated as ended
    /// and every later token is an error.
    overflow: bool,
    /// The aliases in force, for command substitutions parsed inside words (as in dash, an
    /// alias works inside `$(…)` and backquotes).
    pub aliases: Option<Rc<HashMap<String, String>>>,
}

pub(crate) fn is_meta(c: char) -> bool {
    matches!(
        c,
        ' ' | '\t' | '\n' | ';' | '&' | '|' | '<' | '>' | '(' | ')'
    )
}

/// True for characters that may start a variable name.
pub fn is_name_start(c: char) -> bool {
    c == '_' || c.is_ascii_alphabetic()
}

/// True for characters that may continue a variable name.
pub fn is_name_char(c: char) -> bool {
    c == '_' || c.is_ascii_alphanumeric()
}

impl<'s> Lexer<'s> {
    /// A lexer over a line source.
    pub fn new(source: Box<dyn LineSource + 's>) -> Lexer<'s> {
        Lexer {
            buf: Vec::new(),
            pos: 0,
            source,
            exhausted: false,
            line: 1,
            pending: Vec::new(),
            depth: 0,
            active_aliases: Vec::new(),
            token_start: 0,
            blank_alias_end: None,
            overflow: false,
            aliases: None,
        }
    }

    /// A lexer over a string.
    pub fn from_text(s: &str) -> Lexer<'static> {
        Lexer::new(Box::new(StrSource::new(s)))
    }

    /// Appends the source's next line to the buffer, within [`MAX_COMMAND`].
    fn pull_line(&mut self) {
        match self.source.next_line() {
            Some(l) => self.buf.extend(l.chars()),
            None => self.exhausted = true,
        }
        if self.buf.len() > MAX_COMMAND {
            self.exhausted = true;
            self.overflow = true;
        }
    }

    fn fill(&mut self) -> bool {
        while self.pos >= self.buf.len() {
            if self.exhausted {
                return false;
            }
            self.pull_line();
        }
        true
    }

    /// The next character without consuming it.
    pub fn peek(&mut self) -> Option<char> {
        if self.fill() {
            Some(self.buf[self.pos])
        } else {
            None
        }
    }

    pub(crate) fn peek_at(&mut self, n: usize) -> Option<char> {
        while self.pos + n >= self.buf.len() {
            if self.exhausted {
                return None;
            }
            self.pull_line();
        }
        Some(self.buf[self.pos + n])
    }

    pub(crate) fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += 1;
        if c == '\n' {
            self.line += 1;
        }
        Some(c)
    }

    /// Drops consumed input so long scripts do not grow the buffer without bound.
    pub fn compact(&mut self) {
        if self.active_aliases.is_empty() && self.pos > 0 {
            self.buf.drain(..self.pos);
            self.pos = 0;
            self.token_start = 0;
            self.blank_alias_end = None;
        }
    }

    /// True when all input has been consumed.
    pub fn at_eof(&mut self) -> bool {
        self.peek().is_none()
    }

    /// Inserts alias text at the current position.
    pub(crate) fn push_alias(&mut self, name: &str, text: &str) {
        let chars: Vec<char> = text.chars().collect();
        let end = self.pos + chars.len();
        for (_, e) in self.active_aliases.iter_mut() {
            *e += chars.len();
        }
        let blank = matches!(chars.last(), Some(' ' | '\t'));
        match self.blank_alias_end.as_mut() {
            _ if blank => self.blank_alias_end = Some(end),
            Some(e) if *e >= self.pos => *e += chars.len(),
            _ => {}
        }
        self.buf.splice(self.pos..self.pos, chars);
        self.active_aliases.push((name.to_string(), end));
    }

    /// True once for the first token after the text of an alias that ends in a blank: that
    /// token is checked for alias substitution as well.
    pub(crate) fn take_blank_alias(&mut self) -> bool {
        match self.blank_alias_end {
            Some(end) if self.token_start >= end => {
                self.blank_alias_end = None;
                true
            }
            _ => false,
        }
    }

    /// Whether `name` is being expanded at the last token's position.
    pub(crate) fn alias_active(&mut self, name: &str) -> bool {
        let start = self.token_start;
        self.active_aliases.retain(|(_, end)| *end > start);
        self.active_aliases.iter().any(|(n, _)| n == name)
    }

    /// Registers a here-document whose body starts after the next newline.
    pub fn push_heredoc(&mut self, doc: Rc<RefCell<HereDoc>>) {
        self.pending.push(doc);
    }

    /// True when here-documents are waiting for their bodies.
    pub fn heredocs_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    pub(crate) fn err(&self, msg: impl Into<String>) -> ParseError {
        if self.overflow {
            return self.overflow_err();
        }
        ParseError {
            line: self.line,
            msg: msg.into(),
            incomplete: false,
        }
    }

    pub(crate) fn eof_err(&self, msg: impl Into<String>) -> ParseError {
        if self.overflow {
            return self.overflow_err();
        }
        ParseError {
            line: self.line,
            msg: msg.into(),
            incomplete: true,
        }
    }

    fn overflow_err(&self) -> ParseError {
        ParseError {
            line: self.line,
            msg: format!("command exceeds {MAX_COMMAND} characters"),
            incomplete: false,
        }
    }

    /// The next token.
    pub fn next_token(&mut self) -> Result<Token, ParseError> {
        if self.overflow {
            return Err(self.overflow_err());
        }
        loop {
            match self.peek() {
                Some(' ') | Some('\t') => {
                    self.bump();
                }
                Some('\\') if self.peek_at(1) == Some('\n') => {
                    self.bump();
                    self.bump();
                }
                Some('#') => {
                    while let Some(c) = self.peek() {
                        if c == '\n' {
                            break;
                        }
                        self.bump();
                    }
                }
                _ => break,
            }
        }
        self.token_start = self.pos;
        let Some(c) = self.peek() else {
            return Ok(Token::Eof);
        };
        if c == '\n' {
            self.bump();
            self.read_heredocs()?;
            return Ok(Token::Newline);
        }
        if let Some(op) = self.scan_op() {
            return Ok(Token::Op(op));
        }
        let word = self.scan_parts(Mode::Unquoted)?;
        if let [WordPart::Literal(s)] = word.as_slice()
            && !s.is_empty()
            && s.chars().all(|c| c.is_ascii_digit())
            && matches!(self.peek(), Some('<') | Some('>'))
        {
            return match s.parse::<u32>() {
                Ok(n) => Ok(Token::IoNumber(n)),
                Err(_) => Err(self.err("Bad fd number")),
            };
        }
        Ok(Token::Word(Word { parts: word }))
    }

    fn scan_op(&mut self) -> Option<Op> {
        let c = self.peek()?;
        let n = self.peek_at(1);
        let (op, len) = match (c, n) {
            ('&', Some('&')) => (Op::AndIf, 2),
            ('&', _) => (Op::Amp, 1),
            ('|', Some('|')) => (Op::OrIf, 2),
            ('|', _) => (Op::Pipe, 1),
            (';', Some(';')) => (Op::DSemi, 2),
            (';', Some('&')) => (Op::SemiAnd, 2),
            (';', _) => (Op::Semi, 1),
            ('(', _) => (Op::LParen, 1),
            (')', _) => (Op::RParen, 1),
            ('<', Some('<')) => {
                if self.peek_at(2) == Some('-') {
                    (Op::DLessDash, 3)
                } else {
                    (Op::DLess, 2)
                }
            }
            ('<', Some('&')) => (Op::LessAnd, 2),
            ('<', Some('>')) => (Op::LessGreat, 2),
            ('<', _) => (Op::Less, 1),
            ('>', Some('>')) => (Op::DGreat, 2),
            ('>', Some('|')) => (Op::Clobber, 2),
            ('>', Some('&')) => (Op::GreatAnd, 2),
            ('>', _) => (Op::Great, 1),
            _ => return None,
        };
        for _ in 0..len {
            self.bump();
        }
        Some(op)
    }

    fn read_heredocs(&mut self) -> Result<(), ParseError> {
        let docs = std::mem::take(&mut self.pending);
        for doc in docs {
            let (delim, strip, quoted) = {
                let d = doc.borrow();
                (d.delimiter.clone(), d.strip_tabs, d.quoted)
            };
            let mut body = String::new();
            let mut found = false;
            while self.peek().is_some() {
                let mut line = String::new();
                let mut ended = false;
                while let Some(c) = self.bump() {
                    if c == '\n' {
                        ended = true;
                        break;
                    }
                    line.push(c);
                }
                let text = if strip {
                    line.trim_start_matches('\t')
                } else {
                    line.as_str()
                };
                if text == delim {
                    found = true;
                    break;
                }
                body.push_str(text);
                if ended {
                    body.push('\n');
                }
                if body.len() > super::limits::MAX_HEREDOC {
                    return Err(self.err(format!(
                        "here-document exceeds {} bytes",
                        super::limits::MAX_HEREDOC
                    )));
                }
            }
            if self.overflow {
                // Cut off by the input bound, not ended by the input: never run it truncated.
                return Err(self.overflow_err());
            }
            if !found && !self.exhausted {
                return Err(self.eof_err("here-document not terminated"));
            }
            let word = if quoted {
                Word {
                    parts: vec![WordPart::Quoted(body)],
                }
            } else {
                let mut sub = Lexer::from_text(&body);
                sub.depth = self.depth;
                Word {
                    parts: sub.scan_parts(Mode::Plain)?,
                }
            };
            doc.borrow_mut().body = word;
        }
        Ok(())
    }
}

/// Parses text the way a here-document body is parsed (expansions, no quote removal), e.g. PS1.
pub fn parse_plain_word(text: &str) -> Result<Word, ParseError> {
    let mut lx = Lexer::from_text(text);
    Ok(Word {
        parts: lx.scan_parts(Mode::Plain)?,
    })
}

pub(crate) fn param(name: String, op: ParamOp) -> WordPart {
    WordPart::Param(Box::new(ParamExpr { name, op }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(s: &str) -> Vec<Token> {
        let mut lx = Lexer::from_text(s);
        let mut v = Vec::new();
        loop {
            let t = lx.next_token().unwrap_or(Token::Eof);
            if t == Token::Eof {
                return v;
            }
            v.push(t);
        }
    }

    #[test]
    fn operators_are_longest_match() {
        let t = tokens("a&&b||c;;d>>e<<-f 2>&1");
        assert!(t.contains(&Token::Op(Op::AndIf)));
        assert!(t.contains(&Token::Op(Op::OrIf)));
        assert!(t.contains(&Token::Op(Op::DSemi)));
        assert!(t.contains(&Token::Op(Op::DGreat)));
        assert!(t.contains(&Token::Op(Op::DLessDash)));
        assert!(t.contains(&Token::IoNumber(2)));
        assert!(t.contains(&Token::Op(Op::GreatAnd)));
    }

    #[test]
    fn quotes_keep_structure() {
        let t = tokens("a'b c'\"d $x\"\\e");
        let Token::Word(w) = &t[0] else {
            panic!("not a word")
        };
        assert_eq!(w.parts.len(), 4);
        assert_eq!(w.parts[1], WordPart::Quoted("b c".into()));
    }

    #[test]
    fn comment_is_skipped_and_digits_without_redirect_are_words() {
        let t = tokens("echo 12 # hi\n");
        assert_eq!(t.len(), 3);
        assert_eq!(t[1], Token::Word(Word::literal("12")));
    }

    #[test]
    fn unterminated_quote_is_incomplete() {
        let mut lx = Lexer::from_text("echo 'abc");
        lx.next_token().ok();
        let e = lx.next_token().err();
        assert!(e.is_some_and(|e| e.incomplete));
    }
}
