//! Assignment-style expansion: tilde prefixes after the `=` of an assignment and after each
//! unquoted `:` in its value (`PATH=~/bin:~/.local/bin`), as POSIX requires, and the words of the
//! declaration utilities `export`, `readonly` and `local`, whose `NAME=value` operands expand
//! like assignments (tildes, no field splitting or globbing), as dash does.

use super::ast::{Word, WordPart};
use super::expand::ExpandError;
use super::parser;
use super::state::Shell;

impl Shell {
    /// The home directory a tilde prefix names: `$HOME` for `~`, the password database for
    /// `~user`; `None` leaves the prefix as it is.
    pub(super) fn tilde(&self, user: &str) -> Option<String> {
        if user.is_empty() {
            return self.get("HOME").map(str::to_string);
        }
        if !user
            .chars()
            .all(|c| c.is_alphanumeric() || "._-".contains(c))
        {
            return None;
        }
        nix::unistd::User::from_name(user)
            .ok()
            .flatten()
            .map(|u| u.dir.to_string_lossy().into_owned())
    }

    /// Expands the value of an assignment: tildes after `=` and after unquoted `:`, then the
    /// other expansions without field splitting or globbing.
    pub fn expand_assign_value(&mut self, w: &Word) -> Result<String, ExpandError> {
        match self.assign_tildes(w) {
            Some(done) => self.expand_string_with(&done, false),
            None => self.expand_string(w),
        }
    }

    /// The value word with its tilde prefixes replaced by quoted home directories, or `None`
    /// when it has no tilde to expand.
    fn assign_tildes(&self, w: &Word) -> Option<Word> {
        if !w
            .parts
            .iter()
            .any(|p| matches!(p, WordPart::Literal(s) if s.contains('~')))
        {
            return None;
        }
        let mut parts = Vec::with_capacity(w.parts.len() + 2);
        let last = w.parts.len() - 1;
        for (i, p) in w.parts.iter().enumerate() {
            let WordPart::Literal(s) = p else {
                parts.push(p.clone());
                continue;
            };
            let eligible =
                i == 0 || matches!(&w.parts[i - 1], WordPart::Literal(t) if t.ends_with(':'));
            self.tilde_segments(s, eligible, i == last, &mut parts);
        }
        Some(Word { parts })
    }

    /// Splits one unquoted literal of an assignment value at its tilde prefixes.
    fn tilde_segments(&self, s: &str, mut at_start: bool, is_last: bool, out: &mut Vec<WordPart>) {
        let mut lit = String::new();
        let mut pos = 0;
        while pos < s.len() {
            let rest = &s[pos..];
            if at_start && rest.starts_with('~') {
                let end = rest[1..].find(['/', ':']).map(|e| e + 1);
                // A prefix running into a quoted or expanded part is not a tilde prefix.
                let end = end.or(is_last.then_some(rest.len()));
                if let Some(end) = end
                    && let Some(home) = self.tilde(&rest[1..end])
                {
                    if !lit.is_empty() {
                        out.push(WordPart::Literal(std::mem::take(&mut lit)));
                    }
                    out.push(WordPart::Quoted(home));
                    pos += end;
                    at_start = false;
                    continue;
                }
            }
            match rest.find(':') {
                Some(c) => {
                    lit.push_str(&rest[..=c]);
                    pos += c + 1;
                    at_start = true;
                }
                None => {
                    lit.push_str(rest);
                    pos = s.len();
                }
            }
        }
        if !lit.is_empty() {
            out.push(WordPart::Literal(lit));
        }
    }

    /// Expands a simple command's words into its arguments; after `export`, `readonly` or
    /// `local` (possibly behind `command`), operands of the form `NAME=value` expand as
    /// assignments, as dash does for its declaration utilities.
    pub fn expand_command_words(&mut self, words: &[Word]) -> Result<Vec<String>, ExpandError> {
        let mut out: Vec<String> = Vec::with_capacity(words.len());
        let mut decl = false;
        for w in words {
            if decl && let Some(a) = parser::as_assignment(w) {
                let v = self.expand_assign_value(&a.value)?;
                out.push(format!("{}={v}", a.name));
                continue;
            }
            out.extend(self.expand_words(std::slice::from_ref(w))?);
            decl = matches!(
                out.iter().find(|s| *s != "command").map(String::as_str),
                Some("export" | "readonly" | "local")
            );
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shell::parser::parse_program;

    fn assign(sh: &mut Shell, src: &str) -> String {
        let p = parse_program(src).expect("parse");
        let Some(crate::shell::ast::Command::Simple(sc)) =
            p.items[0].and_or.first.commands.first().cloned()
        else {
            panic!("not simple")
        };
        sh.expand_assign_value(&sc.assigns[0].value)
            .expect("expand")
    }

    #[test]
    fn tildes_after_equals_and_colons() {
        let mut sh = Shell::new("test");
        let _ = sh.set_var("HOME", "/h");
        assert_eq!(assign(&mut sh, "x=~/a:~/b"), "/h/a:/h/b");
        assert_eq!(assign(&mut sh, "x=~:~"), "/h:/h");
        assert_eq!(assign(&mut sh, "x=a~:b:~"), "a~:b:/h");
        assert_eq!(assign(&mut sh, "x=~\"\":'~':\\~"), "~:~:~");
        assert_eq!(assign(&mut sh, "x=$HOME:~/c"), "/h:/h/c");
        assert_eq!(
            assign(&mut sh, "x=~no_such_user_here:~"),
            "~no_such_user_here:/h"
        );
    }
}
