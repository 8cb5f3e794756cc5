//! What the line editor knows about the shell: tab completion (builtins, functions, aliases,
//! `$PATH` commands, files, `$VARS`, and lab words from builtin providers), syntax highlighting
//! (existing vs unknown commands, strings, operators, variables, comments) and the validator
//! that asks for another line while the parser reports incomplete input.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use reedline::{
    Color, Completer, CompletionResult, Highlighter, Span, StyledText, Suggestion,
    ValidationResult, Validator,
};

use super::builtins::BuiltinProvider;
use super::lexer::Lexer;
use super::parser::Parser;
use super::process::is_executable;

/// A snapshot of the shell's names, refreshed before each prompt.
#[derive(Default)]
pub struct Snapshot {
    /// Builtins, functions, aliases and keywords.
    pub commands: BTreeSet<String>,
    /// Variable names.
    pub vars: Vec<String>,
    /// `$PATH`.
    pub path: String,
    /// Lab builtin providers.
    pub providers: Vec<Arc<dyn BuiltinProvider>>,
    /// `$HOME`, for completing `~/…`.
    pub home: Option<String>,
    path_cache: Option<(String, BTreeSet<String>)>,
}

/// The shared snapshot.
pub type SharedSnapshot = Arc<Mutex<Snapshot>>;

impl Snapshot {
    fn path_commands(&mut self) -> &BTreeSet<String> {
        let stale = self
            .path_cache
            .as_ref()
            .is_none_or(|(p, _)| *p != self.path);
        if stale {
            let mut set = BTreeSet::new();
            for dir in self.path.split(':').filter(|d| !d.is_empty()) {
                if let Ok(rd) = std::fs::read_dir(dir) {
                    for e in rd.flatten().take(10_000) {
                        let name = e.file_name().to_string_lossy().into_owned();
                        if is_executable(&format!("{dir}/{name}")) {
                            set.insert(name);
                        }
                    }
                }
            }
            self.path_cache = Some((self.path.clone(), set));
        }
        match &self.path_cache {
            Some((_, s)) => s,
            None => unreachable_empty(),
        }
    }

    /// True when `name` would run something.
    pub fn command_exists(&mut self, name: &str) -> bool {
        if name.contains('/') {
            return is_executable(name);
        }
        self.commands.contains(name) || self.path_commands().contains(name)
    }
}

fn unreachable_empty() -> &'static BTreeSet<String> {
    static EMPTY: BTreeSet<String> = BTreeSet::new();
    &EMPTY
}

fn is_op_char(c: char) -> bool {
    matches!(c, '|' | '&' | ';' | '(' | ')' | '<' | '>')
}

/// Splits a line up to `pos` into (words of the current command, start of the word at `pos`).
fn current_command(line: &str, pos: usize) -> (Vec<String>, usize) {
    let head = &line[..pos.min(line.len())];
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut start = 0;
    let mut quote: Option<char> = None;
    for (i, c) in head.char_indices() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => cur.push(c),
            None if c == '\'' || c == '"' => {
                if cur.is_empty() {
                    start = i;
                }
                quote = Some(c);
            }
            None if c == ' ' || c == '\t' || c == '\n' => {
                if !cur.is_empty() {
                    words.push(std::mem::take(&mut cur));
                }
                start = i + 1;
            }
            None if is_op_char(c) => {
                words.clear();
                cur.clear();
                start = i + 1;
            }
            None => {
                if cur.is_empty() {
                    start = i;
                }
                cur.push(c);
            }
        }
    }
    (words, start)
}

/// Tab completion.
pub struct ShellCompleter {
    /// The names to complete from.
    pub snap: SharedSnapshot,
}

fn suggestion(value: String, start: usize, end: usize, space: bool) -> Suggestion {
    Suggestion {
        value,
        display_override: None,
        description: None,
        style: None,
        extra: None,
        span: Span { start, end },
        append_whitespace: space,
        match_indices: None,
    }
}

/// Files and directories completing `word` (`~/` means `$HOME`); `dirs_only` for `cd`.
fn file_candidates(word: &str, home: Option<&str>, dirs_only: bool) -> Vec<(String, bool)> {
    let (dir, prefix) = match word.rfind('/') {
        Some(i) => (&word[..=i], &word[i + 1..]),
        None => ("", word),
    };
    let expanded_dir = match (dir.strip_prefix("~/"), home) {
        (Some(rest), Some(h)) => format!("{}/{rest}", h.trim_end_matches('/')),
        _ => dir.to_string(),
    };
    let read_from = if expanded_dir.is_empty() {
        "."
    } else {
        expanded_dir.as_str()
    };
    let Ok(rd) = std::fs::read_dir(read_from) else {
        return Vec::new();
    };
    let mut out: Vec<(String, bool)> = rd
        .flatten()
        .take(10_000)
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            if !name.starts_with(prefix) || (name.starts_with('.') && !prefix.starts_with('.')) {
                return None;
            }
            let is_dir = e.file_type().map(|t| t.is_dir()).unwrap_or(false)
                || std::fs::metadata(e.path()).is_ok_and(|m| m.is_dir());
            if dirs_only && !is_dir {
                return None;
            }
            Some(if is_dir {
                (format!("{dir}{name}/"), false)
            } else {
                (format!("{dir}{name}"), true)
            })
        })
        .collect();
    out.sort();
    out
}

impl ShellCompleter {
    /// Candidates as (text, append a space) for the word at `pos`; also its start.
    pub fn candidates(&self, line: &str, pos: usize) -> (Vec<(String, bool)>, usize) {
        let (words, start) = current_command(line, pos);
        let word = &line[start.min(pos)..pos.min(line.len())];
        let Ok(mut snap) = self.snap.lock() else {
            return (Vec::new(), start);
        };
        let mut out: Vec<(String, bool)> = Vec::new();
        if let Some(v) = word.strip_prefix('$') {
            let v = v.trim_start_matches('{');
            let brace = word.starts_with("${");
            out = snap
                .vars
                .iter()
                .filter(|n| n.starts_with(v))
                .map(|n| {
                    (
                        if brace {
                            format!("${{{n}}}")
                        } else {
                            format!("${n}")
                        },
                        true,
                    )
                })
                .collect();
        } else if words.is_empty() && !word.contains('/') {
            let mut set: BTreeSet<String> = snap
                .commands
                .iter()
                .filter(|c| c.starts_with(word))
                .cloned()
                .collect();
            set.extend(
                snap.path_commands()
                    .iter()
                    .filter(|c| c.starts_with(word))
                    .cloned(),
            );
            out = set.into_iter().map(|c| (c, true)).collect();
        } else {
            for p in &snap.providers {
                out.extend(p.complete(&words, word).into_iter().map(|c| (c, true)));
            }
            if out.is_empty() {
                let dirs_only = words.first().is_some_and(|w| w == "cd");
                out = file_candidates(word, snap.home.as_deref(), dirs_only);
            }
        }
        out.truncate(500);
        (out, start)
    }
}

impl Completer for ShellCompleter {
    fn complete(&mut self, line: &str, pos: usize) -> CompletionResult {
        let (cands, start) = self.candidates(line, pos);
        let v: Vec<Suggestion> = cands
            .into_iter()
            .map(|(c, space)| suggestion(c, start, pos, space))
            .collect();
        CompletionResult::fresh(v)
    }
}

/// Syntax highlighting.
pub struct ShellHighlighter {
    /// Names of existing commands.
    pub snap: SharedSnapshot,
}

const KEYWORDS: &[&str] = &[
    "if", "then", "else", "elif", "fi", "do", "done", "case", "esac", "while", "until", "for",
    "in", "{", "}", "!",
];

impl Highlighter for ShellHighlighter {
    fn highlight(&self, line: &str, _cursor: usize) -> StyledText {
        let mut out = StyledText::new();
        let plain = Color::Default.normal();
        let mut snap = self.snap.lock().ok();
        let chars: Vec<char> = line.chars().collect();
        let mut i = 0;
        let mut command_pos = true;
        while i < chars.len() {
            let c = chars[i];
            if c == ' ' || c == '\t' || c == '\n' {
                out.push((plain, c.to_string()));
                i += 1;
                if c == '\n' {
                    command_pos = true;
                }
                continue;
            }
            if c == '#' {
                let rest: String = chars[i..].iter().take_while(|c| **c != '\n').collect();
                i += rest.chars().count();
                out.push((Color::DarkGray.normal(), rest));
                continue;
            }
            if is_op_char(c) {
                let mut op = String::new();
                while i < chars.len() && is_op_char(chars[i]) {
                    op.push(chars[i]);
                    i += 1;
                }
                command_pos = !op.starts_with('<') && !op.starts_with('>');
                out.push((Color::Cyan.normal(), op));
                continue;
            }
            // A word: pieces of quoted strings, variables and plain text.
            let mut pieces: Vec<(u8, String)> = Vec::new();
            let mut raw = String::new();
            while i < chars.len() {
                let c = chars[i];
                if c == ' ' || c == '\t' || c == '\n' || is_op_char(c) {
                    break;
                }
                if c == '\'' || c == '"' {
                    let mut s = c.to_string();
                    i += 1;
                    while i < chars.len() && chars[i] != c {
                        s.push(chars[i]);
                        i += 1;
                    }
                    if i < chars.len() {
                        s.push(c);
                        i += 1;
                    }
                    raw.push_str(&s);
                    pieces.push((1, s));
                } else if c == '$' {
                    let mut s = "$".to_string();
                    i += 1;
                    while i < chars.len()
                        && (chars[i].is_alphanumeric() || "_{}?#@*!$-".contains(chars[i]))
                    {
                        s.push(chars[i]);
                        i += 1;
                    }
                    raw.push_str(&s);
                    pieces.push((2, s));
                } else {
                    let s = if c == '\\' && i + 1 < chars.len() {
                        i += 2;
                        format!("\\{}", chars[i - 1])
                    } else {
                        i += 1;
                        c.to_string()
                    };
                    raw.push_str(&s);
                    pieces.push((0, s));
                }
            }
            let is_assign = command_pos
                && raw
                    .split_once('=')
                    .is_some_and(|(n, _)| super::parser::is_name(n));
            let cmd_style = if command_pos && !is_assign {
                if KEYWORDS.contains(&raw.as_str()) {
                    Some(Color::Magenta.bold())
                } else if snap.as_mut().is_some_and(|s| s.command_exists(&raw)) {
                    Some(Color::Green.bold())
                } else {
                    Some(Color::Red.bold())
                }
            } else {
                None
            };
            for (kind, s) in pieces {
                let style = match (kind, cmd_style) {
                    (1, _) => Color::Yellow.normal(),
                    (2, _) => Color::Purple.normal(),
                    (_, Some(st)) => st,
                    _ => plain,
                };
                out.push((style, s));
            }
            if !(is_assign || (command_pos && KEYWORDS.contains(&raw.as_str()))) {
                command_pos = false;
            }
        }
        out
    }
}

/// True when `text` needs more lines to be a complete command (open quote, `if` without `fi`,
/// trailing `|` or `&&`, unfinished here-document, trailing backslash).
pub fn is_incomplete(text: &str) -> bool {
    let trailing = text.chars().rev().take_while(|c| *c == '\\').count();
    if trailing % 2 == 1 {
        return true;
    }
    let mut lex = Lexer::from_text(text);
    let mut p = Parser::new(&mut lex, None);
    loop {
        match p.next_command() {
            Ok(Some(_)) => continue,
            Ok(None) => return false,
            Err(e) => return e.incomplete,
        }
    }
}

/// The multi-line validator.
pub struct ShellValidator;

impl Validator for ShellValidator {
    fn validate(&self, line: &str) -> ValidationResult {
        if is_incomplete(line) {
            ValidationResult::Incomplete
        } else {
            ValidationResult::Complete
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unfinished_constructs_are_incomplete() {
        for s in [
            "if true; then",
            "echo 'abc",
            "a |",
            "a &&",
            "cat <<EOF",
            "echo \\",
            "f() {",
            "$(echo",
        ] {
            assert!(is_incomplete(s), "{s}");
        }
        for s in [
            "echo hi",
            "if true; then :; fi",
            "cat <<EOF\nx\nEOF",
            "echo )",
        ] {
            assert!(!is_incomplete(s), "{s}");
        }
    }

    #[test]
    fn command_position_is_found() {
        let (w, s) = current_command("ls | gr", 7);
        assert!(w.is_empty());
        assert_eq!(s, 5);
        let (w, s) = current_command("raft kill 2", 11);
        assert_eq!(w, vec!["raft", "kill"]);
        assert_eq!(s, 10);
    }

    #[test]
    fn files_complete_with_home_and_cd_takes_directories_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("subdir")).expect("mkdir");
        std::fs::write(dir.path().join("subfile"), "").expect("write");
        let home = dir.path().display().to_string();
        let all = file_candidates("~/sub", Some(&home), false);
        assert_eq!(
            all,
            vec![
                ("~/subdir/".to_string(), false),
                ("~/subfile".to_string(), true)
            ]
        );
        let dirs = file_candidates("~/sub", Some(&home), true);
        assert_eq!(dirs, vec![("~/subdir/".to_string(), false)]);
    }
}
