//! Word expansion in POSIX order: tilde, parameters, command substitution and arithmetic, then
//! field splitting by `$IFS`, pathname expansion and quote removal.
//!
//! Expansion produces characters tagged with whether they were quoted ([`QChar`]); splitting and
//! globbing only look at unquoted characters, which is what makes `"$@"` and `"$x"` exact.

use super::arith::{self, ArithEnv, ArithError};
use super::ast::{ParamExpr, ParamOp, Word, WordPart};
use super::pattern::{self, Pattern, QChar};
use super::state::Shell;

/// An expansion error; the shell reports it and (when not interactive) exits with status 2.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ExpandError {
    /// `set -u` and an unset parameter.
    #[error("{0}: parameter not set")]
    Unset(String),
    /// `${x?message}` and other messages.
    #[error("{0}")]
    Message(String),
    /// A bad arithmetic expression.
    #[error(transparent)]
    Arith(#[from] ArithError),
    /// Ctrl-C during a command substitution in an interactive shell: the line is abandoned.
    #[error("interrupted")]
    Interrupted,
}

/// Collects expanded characters into fields, splitting unquoted expansion results on IFS.
struct Fields {
    fields: Vec<Vec<QChar>>,
    cur: Vec<QChar>,
    started: bool,
    after_ws_delim: bool,
    split: bool,
    ifs: Vec<char>,
}

fn is_ifs_ws(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n')
}

impl Fields {
    fn new(split: bool, ifs: &str) -> Fields {
        Fields {
            fields: Vec::new(),
            cur: Vec::new(),
            started: false,
            after_ws_delim: false,
            split,
            ifs: ifs.chars().collect(),
        }
    }

    fn lit(&mut self, s: &str, quoted: bool) {
        self.cur.extend(s.chars().map(|c| QChar { c, quoted }));
        if quoted || !s.is_empty() {
            self.started = true;
            self.after_ws_delim = false;
        }
    }

    fn expanded(&mut self, s: &str, quoted: bool) {
        if quoted || !self.split {
            return self.lit(s, quoted);
        }
        for c in s.chars() {
            if self.ifs.contains(&c) {
                if is_ifs_ws(c) {
                    if self.started {
                        self.brk();
                        self.after_ws_delim = true;
                    }
                } else {
                    if self.started || !self.after_ws_delim {
                        self.fields.push(std::mem::take(&mut self.cur));
                    }
                    self.cur.clear();
                    self.started = false;
                    self.after_ws_delim = false;
                }
            } else {
                self.cur.push(QChar { c, quoted: false });
                self.started = true;
                self.after_ws_delim = false;
            }
        }
    }

    fn brk(&mut self) {
        if self.started {
            self.fields.push(std::mem::take(&mut self.cur));
        }
        self.cur.clear();
        self.started = false;
        self.after_ws_delim = false;
    }

    fn finish(mut self) -> Vec<Vec<QChar>> {
        self.brk();
        self.fields
    }

    fn joined(self) -> Vec<QChar> {
        let mut out = Vec::new();
        for (i, f) in self
            .fields
            .into_iter()
            .chain(std::iter::once(self.cur))
            .enumerate()
        {
            if i > 0 && !out.is_empty() {
                out.push(QChar {
                    c: ' ',
                    quoted: true,
                });
            }
            out.extend(f);
        }
        out
    }
}

fn text(q: &[QChar]) -> String {
    q.iter().map(|q| q.c).collect()
}

struct ArithVars<'a>(&'a mut Shell);

impl ArithEnv for ArithVars<'_> {
    fn get_var(&mut self, name: &str) -> Result<i64, String> {
        match self.0.get(name) {
            None | Some("") => {
                if self.0.opts.nounset && self.0.get(name).is_none() {
                    return Err(format!("{name}: parameter not set"));
                }
                Ok(0)
            }
            Some(v) => arith::parse_number(v).ok_or_else(|| format!("Illegal number: {v}")),
        }
    }

    fn set_var(&mut self, name: &str, value: i64) -> Result<(), String> {
        self.0.set_var(name, &value.to_string())
    }
}

impl Shell {
    /// Expands words into fields (splitting and globbing), as for command arguments.
    pub fn expand_words(&mut self, words: &[Word]) -> Result<Vec<String>, ExpandError> {
        let mut out = Vec::new();
        for w in words {
            let mut f = Fields::new(true, &self.ifs());
            self.expand_word_into(w, &mut f, true)?;
            for field in f.finish() {
                if !self.opts.noglob && pattern::has_glob_chars(&field) {
                    match pattern::glob(&field) {
                        Some(paths) => out.extend(paths),
                        None => out.push(text(&field)),
                    }
                } else {
                    out.push(text(&field));
                }
            }
        }
        Ok(out)
    }

    /// Expands a word to one string without splitting or globbing (assignments, redirections).
    pub fn expand_string(&mut self, w: &Word) -> Result<String, ExpandError> {
        self.expand_string_with(w, true)
    }

    /// [`Shell::expand_string`], with or without the tilde prefix at the word's start.
    pub(super) fn expand_string_with(
        &mut self,
        w: &Word,
        tilde: bool,
    ) -> Result<String, ExpandError> {
        let mut f = Fields::new(false, &self.ifs());
        self.expand_word_into(w, &mut f, tilde)?;
        Ok(text(&f.joined()))
    }

    /// Expands a word into a pattern (`case` patterns): quoted characters match literally.
    pub fn expand_pattern(&mut self, w: &Word) -> Result<Pattern, ExpandError> {
        let mut f = Fields::new(false, &self.ifs());
        self.expand_word_into(w, &mut f, true)?;
        Ok(Pattern::new(&f.joined()))
    }

    fn expand_word_into(
        &mut self,
        w: &Word,
        f: &mut Fields,
        tilde: bool,
    ) -> Result<(), ExpandError> {
        let mut parts = w.parts.as_slice();
        if tilde
            && let Some(WordPart::Literal(s)) = parts.first()
            && s.starts_with('~')
        {
            let (prefix, rest) = match s.find('/') {
                Some(i) => (&s[1..i], &s[i..]),
                None if parts.len() == 1 => (&s[1..], ""),
                None => ("\u{0}", ""),
            };
            if let Some(home) = self.tilde(prefix) {
                f.lit(&home, true);
                f.lit(rest, false);
                parts = &parts[1..];
            }
        }
        for p in parts {
            self.expand_part(p, false, f)?;
        }
        Ok(())
    }

    fn expand_part(&mut self, p: &WordPart, dq: bool, f: &mut Fields) -> Result<(), ExpandError> {
        match p {
            WordPart::Literal(s) => f.lit(s, dq),
            WordPart::Quoted(s) => f.lit(s, true),
            WordPart::DoubleQuoted(ps) => {
                let only_at = ps.iter().all(|p| {
                    matches!(p, WordPart::Param(pe) if pe.name == "@" && pe.op == ParamOp::Plain)
                });
                if !only_at || ps.is_empty() {
                    f.lit("", true);
                }
                for p in ps {
                    self.expand_part(p, true, f)?;
                }
            }
            WordPart::Param(pe) => self.expand_param(pe, dq, f)?,
            WordPart::Command(prog) => {
                let out = self.command_subst(prog)?;
                f.expanded(&out, dq);
            }
            WordPart::Arith(ps) => {
                let mut inner = Fields::new(false, "");
                for p in ps {
                    self.expand_part(p, true, &mut inner)?;
                }
                let expr = text(&inner.joined());
                let v = arith::eval(&expr, &mut ArithVars(self))?;
                f.expanded(&v.to_string(), dq);
            }
        }
        Ok(())
    }

    /// The word of `${x-word}`/`${x+word}`: its unquoted text is part of the expansion's result,
    /// so outside double quotes it is field-split like any expansion.
    fn expand_brace_word(&mut self, w: &Word, dq: bool, f: &mut Fields) -> Result<(), ExpandError> {
        for p in &w.parts {
            match p {
                WordPart::Literal(s) if !dq => f.expanded(s, false),
                _ => self.expand_part(p, dq, f)?,
            }
        }
        Ok(())
    }

    /// The value of a parameter by name (variables, positional and special parameters).
    pub fn param_value(&self, name: &str) -> Option<String> {
        let first = name.chars().next()?;
        if first.is_ascii_digit() {
            let n: usize = name.parse().ok()?;
            return if n == 0 {
                Some(self.arg0.clone())
            } else {
                self.positional.get(n - 1).cloned()
            };
        }
        match name {
            "?" => Some(self.last_status.to_string()),
            "$" => Some(self.shell_pid.to_string()),
            "!" => self.last_bg.map(|p| p.to_string()),
            "#" => Some(self.positional.len().to_string()),
            "-" => Some(self.opts.dash_flags()),
            "@" | "*" => Some(self.positional.join(" ")),
            _ => {
                if matches!(first, 'L' | 'P' | 'R')
                    && let Some(v) = self.bash_param(name)
                {
                    return v;
                }
                self.get(name).map(str::to_string)
            }
        }
    }

    /// bash's dynamic parameters: the current line, each command's status in the last
    /// pipeline, a random number in 0..32768 at each reference (assigning to RANDOM seeds it).
    /// `None` for any other name.
    fn bash_param(&self, name: &str) -> Option<Option<String>> {
        Some(match name {
            "LINENO" => Some(self.lineno.to_string()),
            "PIPESTATUS" | "PIPESTATUS[0]" => self.pipestatus.first().map(i32::to_string),
            "PIPESTATUS[@]" | "PIPESTATUS[*]" => Some(
                self.pipestatus
                    .iter()
                    .map(i32::to_string)
                    .collect::<Vec<_>>()
                    .join(" "),
            ),
            _ if name.starts_with("PIPESTATUS[") => name
                .strip_prefix("PIPESTATUS[")
                .and_then(|r| r.strip_suffix(']'))
                .and_then(|i| i.parse::<usize>().ok())
                .and_then(|i| self.pipestatus.get(i))
                .map(i32::to_string),
            "RANDOM" => Some(self.next_random().to_string()),
            _ => return None,
        })
    }

    /// The next `$RANDOM`: xorshift64*, seeded from the clock and the pid in each process.
    fn next_random(&self) -> u32 {
        let pid = std::process::id() as i32;
        let (mut x, owner) = self.random.get();
        if owner != pid || x == 0 {
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
            x = t ^ (u64::from(pid as u32) << 32) | 1;
        }
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.random.set((x, pid));
        (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 49) as u32
    }

    fn expand_param(
        &mut self,
        pe: &ParamExpr,
        dq: bool,
        f: &mut Fields,
    ) -> Result<(), ExpandError> {
        let name = pe.name.as_str();
        let is_list = name == "@" || name == "*";
        if is_list && pe.op == ParamOp::Plain {
            let params = self.positional.clone();
            if dq && name == "*" {
                let sep = self
                    .ifs()
                    .chars()
                    .next()
                    .map(String::from)
                    .unwrap_or_default();
                f.lit(&params.join(&sep), true);
            } else if !f.split {
                f.expanded(&params.join(" "), dq);
            } else {
                for (i, p) in params.iter().enumerate() {
                    if i > 0 {
                        f.brk();
                    }
                    f.expanded(p, dq);
                }
            }
            return Ok(());
        }
        let value = self.param_value(name);
        let unset_check = |sh: &Shell| -> Result<(), ExpandError> {
            if value.is_none() && sh.opts.nounset && !is_list && name != "!" {
                Err(ExpandError::Unset(name.to_string()))
            } else {
                Ok(())
            }
        };
        let missing = |colon: bool| value.is_none() || (colon && value.as_deref() == Some(""));
        match &pe.op {
            ParamOp::Plain => {
                unset_check(self)?;
                f.expanded(value.as_deref().unwrap_or(""), dq);
            }
            ParamOp::Length => {
                unset_check(self)?;
                let n = if is_list {
                    self.positional.join(" ").chars().count()
                } else if name == "PIPESTATUS[@]" || name == "PIPESTATUS[*]" {
                    self.pipestatus.len()
                } else {
                    value.as_deref().unwrap_or("").chars().count()
                };
                f.expanded(&n.to_string(), dq);
            }
            ParamOp::Default(colon, w) => {
                if missing(*colon) {
                    self.expand_brace_word(w, dq, f)?;
                } else {
                    self.expand_param(
                        &ParamExpr {
                            name: pe.name.clone(),
                            op: ParamOp::Plain,
                        },
                        dq,
                        f,
                    )?;
                }
            }
            ParamOp::Alternative(colon, w) => {
                if !missing(*colon) {
                    self.expand_brace_word(w, dq, f)?;
                } else if dq {
                    f.lit("", true);
                }
            }
            ParamOp::Assign(colon, w) => {
                let v = if missing(*colon) {
                    let v = self.expand_string(w)?;
                    if !super::parser::is_name(name) {
                        return Err(ExpandError::Message(format!("{name}: bad variable name")));
                    }
                    self.set_var(name, &v).map_err(ExpandError::Message)?;
                    v
                } else {
                    value.clone().unwrap_or_default()
                };
                f.expanded(&v, dq);
            }
            ParamOp::Error(colon, w) => {
                if missing(*colon) {
                    let msg = self.expand_string(w)?;
                    let msg = if !msg.is_empty() {
                        msg
                    } else if *colon {
                        "parameter not set or null".into()
                    } else {
                        "parameter not set".into()
                    };
                    return Err(ExpandError::Message(format!("{name}: {msg}")));
                }
                f.expanded(value.as_deref().unwrap_or(""), dq);
            }
            ParamOp::RemovePrefix(longest, w) | ParamOp::RemoveSuffix(longest, w) => {
                unset_check(self)?;
                let suffix = matches!(pe.op, ParamOp::RemoveSuffix(..));
                let pat = self.expand_pattern(w)?;
                let v = value.unwrap_or_default();
                f.expanded(&pattern::remove_affix(&v, &pat, suffix, *longest), dq);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shell::parser::parse_program;

    fn words(sh: &mut Shell, src: &str) -> Vec<String> {
        let p = parse_program(&format!("x {src}")).expect("parse");
        let Some(crate::shell::ast::Command::Simple(sc)) =
            p.items[0].and_or.first.commands.first().cloned()
        else {
            panic!("not simple")
        };
        sh.expand_words(&sc.words[1..]).expect("expand")
    }

    fn shell() -> Shell {
        let mut sh = Shell::new("test");
        sh.positional = vec!["a b".into(), String::new(), "c".into()];
        for (k, v) in [
            ("e", ""),
            ("s", "one  two"),
            ("HOME", "/home/u"),
            ("IFS", " \t\n"),
        ] {
            let _ = sh.set_var(k, v);
        }
        sh
    }

    #[test]
    fn quoted_at_keeps_each_parameter_exactly() {
        let mut sh = shell();
        assert_eq!(words(&mut sh, "\"$@\""), vec!["a b", "", "c"]);
        assert_eq!(words(&mut sh, "\"x$@y\""), vec!["xa b", "", "cy"]);
        assert_eq!(words(&mut sh, "$@"), vec!["a", "b", "c"]);
        assert_eq!(words(&mut sh, "\"$*\""), vec!["a b  c"]);
        sh.positional.clear();
        assert!(words(&mut sh, "\"$@\"").is_empty());
        assert_eq!(words(&mut sh, "\"$*\""), vec![""]);
    }

    #[test]
    fn field_splitting_applies_to_unquoted_expansions_only() {
        let mut sh = shell();
        assert_eq!(words(&mut sh, "$s"), vec!["one", "two"]);
        assert_eq!(words(&mut sh, "\"$s\""), vec!["one  two"]);
        assert!(words(&mut sh, "$e").is_empty());
        assert_eq!(words(&mut sh, "\"$e\""), vec![""]);
        assert_eq!(words(&mut sh, "pre$s"), vec!["preone", "two"]);
        let _ = sh.set_var("IFS", ":");
        let _ = sh.set_var("v", "a::b:");
        assert_eq!(words(&mut sh, "$v"), vec!["a", "", "b"]);
    }

    #[test]
    fn tilde_and_parameter_operators() {
        let mut sh = shell();
        assert_eq!(words(&mut sh, "~/x \"~\""), vec!["/home/u/x", "~"]);
        assert_eq!(
            words(&mut sh, "${u-def} ${e:-d2} ${s:+alt} ${#s}"),
            vec!["def", "d2", "alt", "8"]
        );
        assert_eq!(words(&mut sh, "${n:=set} $n"), vec!["set", "set"]);
        let _ = sh.set_var("p", "dir/sub/file.tar.gz");
        assert_eq!(
            words(&mut sh, "${p##*/} ${p%%.*} ${p#*/} ${p%.*}"),
            vec![
                "file.tar.gz",
                "dir/sub/file",
                "sub/file.tar.gz",
                "dir/sub/file.tar"
            ]
        );
        assert!(
            sh.expand_words(&[crate::shell::ast::Word::default()])
                .is_ok()
        );
    }

    #[test]
    fn nounset_and_error_operator_fail() {
        let mut sh = shell();
        let p = parse_program("x ${missing?gone}").expect("parse");
        let Some(crate::shell::ast::Command::Simple(sc)) =
            p.items[0].and_or.first.commands.first().cloned()
        else {
            panic!()
        };
        assert_eq!(
            sh.expand_words(&sc.words[1..]),
            Err(ExpandError::Message("missing: gone".into()))
        );
        sh.opts.nounset = true;
        let p = parse_program("x $missing").expect("parse");
        let Some(crate::shell::ast::Command::Simple(sc)) =
            p.items[0].and_or.first.commands.first().cloned()
        else {
            panic!()
        };
        assert_eq!(
            sh.expand_words(&sc.words[1..]),
            Err(ExpandError::Unset("missing".into()))
        );
    }

    #[test]
    fn arithmetic_expansion_reads_and_assigns_variables() {
        let mut sh = shell();
        let _ = sh.set_var("i", "41");
        assert_eq!(
            words(&mut sh, "$((i+1)) $((j=i*2)) $j"),
            vec!["42", "82", "82"]
        );
    }
}
