//! Colours: a dark and a light theme, and none at all when `NO_COLOR` is set.

use ratatui::style::{Color, Modifier, Style};

/// The palette the views draw with.
#[derive(Clone, Debug, PartialEq)]
pub struct Theme {
    /// `dark`, `light` or `no-color`.
    pub name: &'static str,
    /// Headings and the selection.
    pub accent: Color,
    /// Secondary text.
    pub dim: Color,
    /// Healthy.
    pub good: Color,
    /// Attention.
    pub warn: Color,
    /// Broken.
    pub bad: Color,
    /// The leader's row.
    pub leader: Color,
    /// Search matches.
    pub search: Color,
    /// Colours for Raft terms (cycled).
    pub terms: [Color; 6],
    /// No colour at all (NO_COLOR).
    pub mono: bool,
}

impl Theme {
    /// For dark terminals.
    pub fn dark() -> Self {
        Self {
            name: "dark",
            accent: Color::Cyan,
            dim: Color::DarkGray,
            good: Color::Green,
            warn: Color::Yellow,
            bad: Color::Red,
            leader: Color::LightYellow,
            search: Color::Magenta,
            terms: [
                Color::Blue,
                Color::Green,
                Color::Magenta,
                Color::Yellow,
                Color::Cyan,
                Color::Red,
            ],
            mono: false,
        }
    }

    /// For light terminals.
    pub fn light() -> Self {
        Self {
            name: "light",
            accent: Color::Blue,
            dim: Color::Gray,
            good: Color::Green,
            warn: Color::Rgb(160, 110, 0),
            bad: Color::Red,
            leader: Color::Rgb(150, 80, 0),
            search: Color::Magenta,
            terms: [
                Color::Blue,
                Color::Green,
                Color::Magenta,
                Color::Rgb(160, 110, 0),
                Color::Cyan,
                Color::Red,
            ],
            mono: false,
        }
    }

    /// No colours: emphasis by bold, reverse and underline only.
    pub fn no_color() -> Self {
        Self {
            name: "no-color",
            mono: true,
            ..Self::dark()
        }
    }

    /// From the environment: `NO_COLOR` (any non-empty value) wins, then
    /// `WIRELAB_THEME=light`, else dark.
    pub fn from_env() -> Self {
        if std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()) {
            return Self::no_color();
        }
        match std::env::var("WIRELAB_THEME").as_deref() {
            Ok("light") => Self::light(),
            _ => Self::dark(),
        }
    }

    /// The other theme (dark ↔ light); NO_COLOR stays.
    pub fn toggled(&self) -> Self {
        match self.name {
            "dark" => Self::light(),
            "light" => Self::dark(),
            _ => self.clone(),
        }
    }

    /// Foreground `c` (plain under NO_COLOR).
    pub fn fg(&self, c: Color) -> Style {
        if self.mono {
            Style::default()
        } else {
            Style::default().fg(c)
        }
    }

    /// Headings.
    pub fn title(&self) -> Style {
        self.fg(self.accent).add_modifier(Modifier::BOLD)
    }

    /// Secondary text.
    pub fn muted(&self) -> Style {
        self.fg(self.dim)
    }

    /// The selected row.
    pub fn selected(&self) -> Style {
        if self.mono {
            Style::default().add_modifier(Modifier::REVERSED)
        } else {
            Style::default()
                .fg(Color::Black)
                .bg(self.accent)
                .add_modifier(Modifier::BOLD)
        }
    }

    /// A search match.
    pub fn matched(&self) -> Style {
        if self.mono {
            Style::default().add_modifier(Modifier::REVERSED | Modifier::UNDERLINED)
        } else {
            Style::default().fg(Color::Black).bg(self.search)
        }
    }

    /// The colour of Raft term `t`.
    pub fn term(&self, t: u64) -> Style {
        if self.mono {
            return Style::default();
        }
        self.fg(self.terms[(t as usize) % self.terms.len()])
    }

    /// A log level.
    pub fn level(&self, level: &str) -> Style {
        match level {
            "error" | "fatal" | "stderr" => self.fg(self.bad).add_modifier(Modifier::BOLD),
            "warn" => self.fg(self.warn),
            "debug" => self.muted(),
            _ => Style::default(),
        }
    }
}
