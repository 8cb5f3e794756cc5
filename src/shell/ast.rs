//! The syntax tree the parser builds and the executor walks.
//!
//! Words keep their quoting structure ([`WordPart`]) because expansion needs to know which
//! characters were quoted: quoted text is never field-split or globbed.

use std::cell::RefCell;
use std::rc::Rc;

/// A list of and-or lists separated by `;`, `&` or newlines.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Program {
    /// The items in source order.
    pub items: Vec<ListItem>,
}

/// One and-or list and whether it runs in the background (`&`).
#[derive(Clone, Debug, PartialEq)]
pub struct ListItem {
    /// The and-or list.
    pub and_or: AndOr,
    /// True when terminated by `&`.
    pub background: bool,
}

/// `a && b || c`.
#[derive(Clone, Debug, PartialEq)]
pub struct AndOr {
    /// The first pipeline.
    pub first: Pipeline,
    /// The following pipelines with the operator that joins each to what precedes it.
    pub rest: Vec<(AndOrOp, Pipeline)>,
}

/// `&&` or `||`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AndOrOp {
    /// `&&`
    And,
    /// `||`
    Or,
}

/// `[!] cmd | cmd | ...`.
#[derive(Clone, Debug, PartialEq)]
pub struct Pipeline {
    /// True when prefixed by `!`.
    pub bang: bool,
    /// Prefixed by bash's `time` keyword: `Some(true)` for `time -p` (POSIX format).
    pub time: Option<bool>,
    /// The commands, at least one.
    pub commands: Vec<Command>,
    /// Line number of the first command (for `$LINENO` and error messages).
    pub line: usize,
}

/// One command of a pipeline.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    /// Assignments, words and redirections.
    Simple(SimpleCommand),
    /// A compound command with its trailing redirections.
    Compound(Box<CompoundCommand>, Vec<Redirect>),
    /// `name() compound-command`.
    FunctionDef(Rc<FunctionDef>),
}

/// A function definition; the body is shared so defining it is cheap.
#[derive(Clone, Debug, PartialEq)]
pub struct FunctionDef {
    /// The function's name.
    pub name: String,
    /// The body with its redirections.
    pub body: Command,
}

/// `VAR=value ... word ... redirections`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SimpleCommand {
    /// Leading `NAME=value` words.
    pub assigns: Vec<Assign>,
    /// The command name and its arguments.
    pub words: Vec<Word>,
    /// Redirections, in order.
    pub redirects: Vec<Redirect>,
    /// Source line.
    pub line: usize,
}

/// `NAME=value`.
#[derive(Clone, Debug, PartialEq)]
pub struct Assign {
    /// The variable name.
    pub name: String,
    /// The value word (after the `=`).
    pub value: Word,
}

/// The compound commands of the grammar.
#[derive(Clone, Debug, PartialEq)]
pub enum CompoundCommand {
    /// `{ list; }`
    Brace(Program),
    /// `( list )`
    Subshell(Program),
    /// `for name [in words]; do list; done`
    For {
        /// Loop variable.
        var: String,
        /// `None` means `"$@"`.
        words: Option<Vec<Word>>,
        /// Loop body.
        body: Program,
    },
    /// `case word in pattern) list ;; esac`
    Case {
        /// The subject.
        word: Word,
        /// The arms in order.
        arms: Vec<CaseArm>,
    },
    /// `if c; then b; elif c; then b; else b; fi`
    If {
        /// Condition/body pairs (`if` and each `elif`).
        branches: Vec<(Program, Program)>,
        /// The `else` part.
        otherwise: Option<Program>,
    },
    /// `while c; do b; done` (`until` when `until` is true).
    Loop {
        /// True for `until`.
        until: bool,
        /// The condition list.
        cond: Program,
        /// The body.
        body: Program,
    },
}

/// `pat | pat) list ;;`
#[derive(Clone, Debug, PartialEq)]
pub struct CaseArm {
    /// Alternative patterns.
    pub patterns: Vec<Word>,
    /// The list to run when one matches.
    pub body: Program,
    /// True when terminated by `;&` (fall through); POSIX 2024.
    pub fallthrough: bool,
}

/// A redirection such as `2>&1` or `<<EOF`.
#[derive(Clone, Debug, PartialEq)]
pub struct Redirect {
    /// The explicit fd number, if given.
    pub fd: Option<u32>,
    /// The operator.
    pub op: RedirOp,
    /// The target word (file name, fd number or `-`), or the here-document.
    pub target: RedirTarget,
}

/// Redirection operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RedirOp {
    /// `<`
    In,
    /// `>`
    Out,
    /// `>|`
    Clobber,
    /// `>>`
    Append,
    /// `<>`
    ReadWrite,
    /// `<&`
    DupIn,
    /// `>&`
    DupOut,
    /// `<<` and `<<-`
    HereDoc,
}

impl RedirOp {
    /// The fd used when none is written.
    pub fn default_fd(self) -> u32 {
        match self {
            RedirOp::In | RedirOp::ReadWrite | RedirOp::DupIn | RedirOp::HereDoc => 0,
            _ => 1,
        }
    }
}

/// What a redirection points at.
#[derive(Clone, Debug, PartialEq)]
pub enum RedirTarget {
    /// A word to expand.
    Word(Word),
    /// A here-document body, filled in when the parser reaches the end of its line.
    HereDoc(Rc<RefCell<HereDoc>>),
}

/// A here-document.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HereDoc {
    /// The delimiter after quote removal.
    pub delimiter: String,
    /// True when any part of the delimiter was quoted: the body is then literal.
    pub quoted: bool,
    /// True for `<<-`: leading tabs are stripped.
    pub strip_tabs: bool,
    /// The body (expanded like a double-quoted string unless `quoted`).
    pub body: Word,
}

/// A shell word: a sequence of parts with their quoting.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Word {
    /// The parts in order.
    pub parts: Vec<WordPart>,
}

impl Word {
    /// A word made of one unquoted literal.
    pub fn literal(s: &str) -> Word {
        Word {
            parts: vec![WordPart::Literal(s.to_string())],
        }
    }

    /// The text if the word is a single unquoted literal (keywords, alias names).
    pub fn as_literal(&self) -> Option<&str> {
        match self.parts.as_slice() {
            [WordPart::Literal(s)] => Some(s),
            _ => None,
        }
    }

    /// True when some part is quoted (used for here-doc delimiters).
    pub fn has_quotes(&self) -> bool {
        self.parts
            .iter()
            .any(|p| matches!(p, WordPart::Quoted(_) | WordPart::DoubleQuoted(_)))
    }

    /// The text after quote removal, without expansions (for delimiters and names).
    pub fn unquoted_text(&self) -> String {
        let mut s = String::new();
        for p in &self.parts {
            p.push_source_text(&mut s);
        }
        s
    }
}

/// A piece of a word.
#[derive(Clone, Debug, PartialEq)]
pub enum WordPart {
    /// Unquoted text: subject to globbing (and tilde expansion at word start).
    Literal(String),
    /// Text quoted by `'…'` or `\`: taken literally.
    Quoted(String),
    /// `"…"`: expansions inside, no field splitting or globbing of the results.
    DoubleQuoted(Vec<WordPart>),
    /// `$name`, `${…}`.
    Param(Box<ParamExpr>),
    /// `$(…)` or `` `…` ``.
    Command(Rc<Program>),
    /// `$((…))`: the parts are expanded, then evaluated.
    Arith(Vec<WordPart>),
}

impl WordPart {
    fn push_source_text(&self, s: &mut String) {
        match self {
            WordPart::Literal(t) | WordPart::Quoted(t) => s.push_str(t),
            WordPart::DoubleQuoted(parts) => {
                for p in parts {
                    p.push_source_text(s);
                }
            }
            WordPart::Param(p) if p.op == ParamOp::Plain && p.name.chars().count() == 1 => {
                s.push('$');
                s.push_str(&p.name);
            }
            WordPart::Param(p)
                if p.op == ParamOp::Plain && p.name.starts_with(|c: char| !c.is_ascii_digit()) =>
            {
                s.push('$');
                s.push_str(&p.name);
            }
            WordPart::Param(p) => {
                s.push_str("${");
                s.push_str(&p.name);
                s.push('}');
            }
            WordPart::Command(_) => s.push_str("$(…)"),
            WordPart::Arith(_) => s.push_str("$((…))"),
        }
    }
}

/// A parameter expansion.
#[derive(Clone, Debug, PartialEq)]
pub struct ParamExpr {
    /// Name, positional number or special character.
    pub name: String,
    /// The operation.
    pub op: ParamOp,
}

/// The forms of `${…}`.
#[derive(Clone, Debug, PartialEq)]
pub enum ParamOp {
    /// `$x`, `${x}`
    Plain,
    /// `${#x}`
    Length,
    /// `${x-w}` / `${x:-w}` (bool: colon form).
    Default(bool, Word),
    /// `${x=w}` / `${x:=w}`
    Assign(bool, Word),
    /// `${x?w}` / `${x:?w}`
    Error(bool, Word),
    /// `${x+w}` / `${x:+w}`
    Alternative(bool, Word),
    /// `${x%p}` (false) / `${x%%p}` (true)
    RemoveSuffix(bool, Word),
    /// `${x#p}` (false) / `${x##p}` (true)
    RemovePrefix(bool, Word),
}
