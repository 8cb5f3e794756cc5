//! The log pane: every node's lines merged (or one node's), newest at the bottom, with follow,
//! scrolling, a minimum level and `/` search whose matches are highlighted.

use ratatui::text::{Line, Span};

use super::LogLine;
use crate::tui::theme::Theme;

/// Minimum levels the filter cycles through.
pub const LEVELS: [&str; 4] = ["debug", "info", "warn", "error"];

/// The log pane's state.
#[derive(Clone, Debug)]
pub struct LogPane {
    /// Stick to the newest line.
    pub follow: bool,
    /// Lines scrolled up from the bottom (when not following).
    pub offset: usize,
    /// Index into [`LEVELS`].
    pub level: usize,
    /// All nodes (true) or the selected node only.
    pub merged: bool,
    /// The search text (highlighted).
    pub query: String,
    /// The search bar is open.
    pub editing: bool,
}

impl Default for LogPane {
    fn default() -> Self {
        Self {
            follow: true,
            offset: 0,
            level: 1,
            merged: true,
            query: String::new(),
            editing: false,
        }
    }
}

fn rank(level: &str) -> usize {
    match level {
        "debug" => 0,
        "info" => 1,
        "warn" => 2,
        _ => 3,
    }
}

impl LogPane {
    /// Scrolls up (positive) or down (negative); scrolling up stops following.
    pub fn scroll(&mut self, by: isize) {
        if by > 0 {
            self.follow = false;
            self.offset = self.offset.saturating_add(by as usize);
        } else {
            self.offset = self.offset.saturating_sub(by.unsigned_abs());
            if self.offset == 0 {
                self.follow = true;
            }
        }
    }

    /// The next minimum level.
    pub fn next_level(&mut self) {
        self.level = (self.level + 1) % LEVELS.len();
    }

    /// A one-line description of the filters.
    pub fn describe(&self, selected: u64) -> String {
        let who = if self.merged {
            "all nodes".to_string()
        } else {
            format!("node {selected}")
        };
        let mut s = format!(
            "{who} · level ≥ {} · {}",
            LEVELS[self.level],
            if self.follow { "following" } else { "scrolled" }
        );
        if !self.query.is_empty() {
            s.push_str(&format!(" · /{}", self.query));
        }
        s
    }

    /// The visible lines of node `selected` (0: every node) for a pane `height` rows tall.
    pub fn render<'a>(
        &mut self,
        logs: impl DoubleEndedIterator<Item = &'a LogLine>,
        selected: u64,
        height: usize,
        theme: &Theme,
        redact: bool,
    ) -> Vec<Line<'static>> {
        let kept: Vec<&LogLine> = logs
            .filter(|l| selected == 0 || l.node == selected)
            .filter(|l| rank(&l.level) >= self.level)
            .collect();
        let max_offset = kept.len().saturating_sub(height);
        self.offset = self.offset.min(max_offset);
        let offset = if self.follow { 0 } else { self.offset };
        let end = kept.len().saturating_sub(offset);
        let start = end.saturating_sub(height);
        kept[start..end]
            .iter()
            .map(|l| self.line(l, theme, redact))
            .collect()
    }

    fn line(&self, l: &LogLine, theme: &Theme, redact: bool) -> Line<'static> {
        let time = if redact {
            "--:--:--.---".to_string()
        } else {
            let ms = l.at_ms;
            let s = ms / 1000;
            format!(
                "{:02}:{:02}:{:02}.{:03}",
                s / 3600 % 24,
                s / 60 % 60,
                s % 60,
                ms % 1000
            )
        };
        let mut spans = vec![
            Span::styled(format!("{time} "), theme.muted()),
            Span::styled(format!("n{} ", l.node), theme.term(l.node)),
            Span::styled(format!("{:<5} ", l.level), theme.level(&l.level)),
        ];
        let msg = if redact {
            crate::tui::redact(&l.msg)
        } else {
            l.msg.clone()
        };
        spans.extend(highlight(&msg, &self.query, theme));
        Line::from(spans)
    }
}

/// `text` split into spans with every case-insensitive match of `query` highlighted.
pub fn highlight(text: &str, query: &str, theme: &Theme) -> Vec<Span<'static>> {
    if query.is_empty() {
        return vec![Span::raw(text.to_string())];
    }
    let lower = text.to_lowercase();
    let q = query.to_lowercase();
    // Lower-casing can change byte lengths outside ASCII; then only show the text.
    if lower.len() != text.len() {
        return vec![Span::raw(text.to_string())];
    }
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(i) = lower[at..].find(&q) {
        let s = at + i;
        let e = s + q.len();
        if !text.is_char_boundary(s) || !text.is_char_boundary(e) {
            break;
        }
        if s > at {
            out.push(Span::raw(text[at..s].to_string()));
        }
        out.push(Span::styled(text[s..e].to_string(), theme.matched()));
        at = e;
    }
    if at < text.len() {
        out.push(Span::raw(text[at..].to_string()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_highlights_every_match() {
        let spans = highlight("Elected leader; elected again", "elected", &Theme::dark());
        let texts: Vec<String> = spans.iter().map(|s| s.content.to_string()).collect();
        assert_eq!(texts, vec!["Elected", " leader; ", "elected", " again"]);
    }

    #[test]
    fn scrolling_down_to_the_bottom_follows_again() {
        let mut p = LogPane::default();
        p.scroll(3);
        assert!(!p.follow);
        p.scroll(-5);
        assert!(p.follow);
    }
}
