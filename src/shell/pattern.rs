//! Pattern matching (XCU 2.13): `*`, `?` and bracket expressions, used by `case`, the
//! `${x#p}` family and pathname expansion.

use std::path::Path;

/// One character of an expanded word and whether it was quoted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QChar {
    /// The character.
    pub c: char,
    /// True when it came from quoting (it then matches itself only).
    pub quoted: bool,
}

#[derive(Clone, Debug, PartialEq)]
enum ClassItem {
    Char(char),
    Range(char, char),
    Named(String),
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Char(char),
    Any,
    Star,
    Class {
        negated: bool,
        items: Vec<ClassItem>,
    },
}

/// A compiled pattern.
#[derive(Clone, Debug, PartialEq)]
pub struct Pattern {
    toks: Vec<Tok>,
}

/// True when the word has an unquoted `*`, `?` or a complete bracket expression
/// (a lone `[`, as in the `[` command, is not a pattern and costs no directory read).
pub fn has_glob_chars(w: &[QChar]) -> bool {
    w.iter().enumerate().any(|(i, q)| {
        !q.quoted
            && match q.c {
                '*' | '?' => true,
                '[' => {
                    let rest = &w[i + 1..];
                    let end = rest.iter().position(|q| q.c == '/').unwrap_or(rest.len());
                    Pattern::bracket(&rest[..end]).is_some()
                }
                _ => false,
            }
    })
}

fn class_matches(name: &str, c: char) -> bool {
    match name {
        "alpha" => c.is_alphabetic(),
        "digit" => c.is_ascii_digit(),
        "alnum" => c.is_alphanumeric(),
        "upper" => c.is_uppercase(),
        "lower" => c.is_lowercase(),
        "space" => c.is_whitespace(),
        "blank" => c == ' ' || c == '\t',
        "punct" => c.is_ascii_punctuation(),
        "print" => !c.is_control(),
        "graph" => !c.is_control() && !c.is_whitespace(),
        "cntrl" => c.is_control(),
        "xdigit" => c.is_ascii_hexdigit(),
        _ => false,
    }
}

impl Pattern {
    /// Compiles a pattern from characters with quoting.
    pub fn new(w: &[QChar]) -> Pattern {
        let mut toks = Vec::new();
        let mut i = 0;
        while i < w.len() {
            let q = w[i];
            if q.quoted {
                toks.push(Tok::Char(q.c));
                i += 1;
                continue;
            }
            match q.c {
                '*' => {
                    if toks.last() != Some(&Tok::Star) {
                        toks.push(Tok::Star);
                    }
                    i += 1;
                }
                '?' => {
                    toks.push(Tok::Any);
                    i += 1;
                }
                '[' => match Self::bracket(&w[i + 1..]) {
                    Some((tok, used)) => {
                        toks.push(tok);
                        i += 1 + used;
                    }
                    None => {
                        toks.push(Tok::Char('['));
                        i += 1;
                    }
                },
                '\\' if i + 1 < w.len() => {
                    toks.push(Tok::Char(w[i + 1].c));
                    i += 2;
                }
                c => {
                    toks.push(Tok::Char(c));
                    i += 1;
                }
            }
        }
        Pattern { toks }
    }

    /// A pattern matching `s` literally.
    pub fn literal(s: &str) -> Pattern {
        Pattern {
            toks: s.chars().map(Tok::Char).collect(),
        }
    }

    /// Parses a bracket expression after `[`; returns the token and the chars consumed.
    fn bracket(w: &[QChar]) -> Option<(Tok, usize)> {
        let mut i = 0;
        let mut negated = false;
        if i < w.len() && !w[i].quoted && matches!(w[i].c, '!' | '^') {
            negated = true;
            i += 1;
        }
        let mut items = Vec::new();
        let mut first = true;
        loop {
            let q = *w.get(i)?;
            if q.c == ']' && !q.quoted && !first {
                return Some((Tok::Class { negated, items }, i + 1));
            }
            first = false;
            if q.c == '[' && !q.quoted && w.get(i + 1).is_some_and(|n| n.c == ':') {
                let rest: String = w[i + 2..].iter().map(|q| q.c).collect();
                if let Some(end) = rest.find(":]") {
                    items.push(ClassItem::Named(rest[..end].to_string()));
                    i += 2 + rest[..end].chars().count() + 2;
                    continue;
                }
            }
            let lo = q.c;
            if w.get(i + 1).is_some_and(|d| d.c == '-' && !d.quoted)
                && w.get(i + 2).is_some_and(|h| h.c != ']' || h.quoted)
            {
                let hi = w[i + 2].c;
                items.push(ClassItem::Range(lo, hi));
                i += 3;
            } else {
                items.push(ClassItem::Char(lo));
                i += 1;
            }
        }
    }

    fn tok_matches(t: &Tok, c: char) -> bool {
        match t {
            Tok::Char(x) => *x == c,
            Tok::Any => true,
            Tok::Star => true,
            Tok::Class { negated, items } => {
                let hit = items.iter().any(|it| match it {
                    ClassItem::Char(x) => *x == c,
                    ClassItem::Range(a, b) => *a <= c && c <= *b,
                    ClassItem::Named(n) => class_matches(n, c),
                });
                hit != *negated
            }
        }
    }

    /// True when the whole of `s` matches.
    pub fn matches(&self, s: &str) -> bool {
        let chars: Vec<char> = s.chars().collect();
        self.matches_chars(&chars)
    }

    fn matches_chars(&self, s: &[char]) -> bool {
        let (mut p, mut i) = (0usize, 0usize);
        let mut star: Option<(usize, usize)> = None;
        while i < s.len() {
            if p < self.toks.len() && self.toks[p] == Tok::Star {
                star = Some((p, i));
                p += 1;
            } else if p < self.toks.len() && Self::tok_matches(&self.toks[p], s[i]) {
                p += 1;
                i += 1;
            } else if let Some((sp, si)) = star {
                p = sp + 1;
                i = si + 1;
                star = Some((sp, si + 1));
            } else {
                return false;
            }
        }
        while p < self.toks.len() && self.toks[p] == Tok::Star {
            p += 1;
        }
        p == self.toks.len()
    }

    /// True when the pattern starts with a literal `.` (needed to match dot files).
    fn starts_with_dot(&self) -> bool {
        self.toks.first() == Some(&Tok::Char('.'))
    }
}

/// Removes the shortest or longest prefix or suffix of `s` matching `pat` (`${x#p}` and friends).
pub fn remove_affix(s: &str, pat: &Pattern, suffix: bool, longest: bool) -> String {
    let chars: Vec<char> = s.chars().collect();
    let n = chars.len();
    let cut: Box<dyn Iterator<Item = usize>> = match (suffix, longest) {
        (false, false) => Box::new(0..=n),
        (false, true) => Box::new((0..=n).rev()),
        (true, false) => Box::new((0..=n).rev()),
        (true, true) => Box::new(0..=n),
    };
    for k in cut {
        let (part, rest) = if suffix {
            (&chars[k..], &chars[..k])
        } else {
            (&chars[..k], &chars[k..])
        };
        if pat.matches_chars(part) {
            return rest.iter().collect();
        }
    }
    s.to_string()
}

/// Pathname expansion of one field; `None` when nothing matches (the word then stays as is).
pub fn glob(w: &[QChar]) -> Option<Vec<String>> {
    let comps: Vec<&[QChar]> = w.split(|q| q.c == '/').collect();
    let absolute = w.first().is_some_and(|q| q.c == '/');
    let mut paths: Vec<String> = vec![if absolute {
        "/".to_string()
    } else {
        String::new()
    }];
    let last = comps.len().saturating_sub(1);
    for (idx, comp) in comps.iter().enumerate() {
        if comp.is_empty() {
            if idx != 0 && idx == last {
                for p in paths.iter_mut() {
                    if !p.ends_with('/') {
                        p.push('/');
                    }
                }
            }
            continue;
        }
        let mut next = Vec::new();
        if !has_glob_chars(comp) {
            let lit: String = comp.iter().map(|q| q.c).collect();
            for p in &paths {
                let mut np = p.clone();
                if !np.is_empty() && !np.ends_with('/') {
                    np.push('/');
                }
                np.push_str(&lit);
                if idx == last || Path::new(&np).is_dir() {
                    next.push(np);
                }
            }
        } else {
            let pat = Pattern::new(comp);
            for p in &paths {
                let dir = if p.is_empty() { "." } else { p.as_str() };
                let Ok(rd) = std::fs::read_dir(dir) else {
                    continue;
                };
                let mut names: Vec<String> = rd
                    .filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| (!n.starts_with('.') || pat.starts_with_dot()) && pat.matches(n))
                    .collect();
                names.sort();
                for n in names {
                    let mut np = p.clone();
                    if !np.is_empty() && !np.ends_with('/') {
                        np.push('/');
                    }
                    np.push_str(&n);
                    if idx == last || Path::new(&np).is_dir() {
                        next.push(np);
                    }
                }
            }
        }
        paths = next;
        if paths.is_empty() {
            return None;
        }
    }
    if !has_glob_chars(w) {
        return None;
    }
    // A trailing literal component must exist.
    paths.retain(|p| std::fs::symlink_metadata(p).is_ok());
    if paths.is_empty() {
        None
    } else {
        paths.sort();
        Some(paths)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pat(s: &str) -> Pattern {
        let w: Vec<QChar> = s.chars().map(|c| QChar { c, quoted: false }).collect();
        Pattern::new(&w)
    }

    #[test]
    fn glob_operators_match() {
        assert!(pat("a*c").matches("abbbc"));
        assert!(pat("*").matches(""));
        assert!(!pat("a?c").matches("ac"));
        assert!(pat("[a-c]x").matches("bx"));
        assert!(pat("[!a-c]x").matches("dx"));
        assert!(pat("[[:digit:]]*").matches("1abc"));
        assert!(pat("[]]").matches("]"));
        assert!(pat("[").matches("["));
        assert!(pat("*a*b*").matches("xxaxxbxx"));
    }

    #[test]
    fn affix_removal_shortest_and_longest() {
        let p = pat("*/");
        assert_eq!(remove_affix("a/b/c", &pat("*/"), false, false), "b/c");
        assert_eq!(remove_affix("a/b/c", &p, false, true), "c");
        assert_eq!(remove_affix("a.tar.gz", &pat(".*"), true, false), "a.tar");
        assert_eq!(remove_affix("a.tar.gz", &pat(".*"), true, true), "a");
    }
}
