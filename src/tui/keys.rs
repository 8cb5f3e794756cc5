//! Commands: each view lists the commands it offers ([`Cmd`]: keys, a short label, a
//! description, the [`Action`]). The same list dispatches key presses, fills the bottom hint bar
//! and the `?` help overlay, so the keymap and its documentation cannot drift apart.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};

use super::theme::Theme;

/// A key a command answers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Key {
    /// A character (case matters).
    Char(char),
    /// Ctrl + a letter.
    Ctrl(char),
    /// Arrow up.
    Up,
    /// Arrow down.
    Down,
    /// Arrow left.
    Left,
    /// Arrow right.
    Right,
    /// Enter.
    Enter,
    /// Escape.
    Esc,
    /// Tab.
    Tab,
    /// Shift-Tab.
    BackTab,
    /// Page up.
    PageUp,
    /// Page down.
    PageDown,
}

impl Key {
    /// Whether a key event is this key.
    pub fn matches(self, ev: &KeyEvent) -> bool {
        match (self, ev.code) {
            (Key::Ctrl(c), KeyCode::Char(k)) => {
                ev.modifiers.contains(KeyModifiers::CONTROL) && k.eq_ignore_ascii_case(&c)
            }
            (Key::Char(c), KeyCode::Char(k)) => {
                !ev.modifiers.contains(KeyModifiers::CONTROL) && k == c
            }
            (Key::Up, KeyCode::Up)
            | (Key::Down, KeyCode::Down)
            | (Key::Left, KeyCode::Left)
            | (Key::Right, KeyCode::Right)
            | (Key::Enter, KeyCode::Enter)
            | (Key::Esc, KeyCode::Esc)
            | (Key::Tab, KeyCode::Tab)
            | (Key::BackTab, KeyCode::BackTab)
            | (Key::PageUp, KeyCode::PageUp)
            | (Key::PageDown, KeyCode::PageDown) => true,
            _ => false,
        }
    }

    /// How the key is written in the help.
    pub fn name(self) -> String {
        match self {
            Key::Char(' ') => "Space".into(),
            Key::Char(c) => c.to_string(),
            Key::Ctrl(c) => format!("Ctrl-{}", c.to_ascii_uppercase()),
            Key::Up => "↑".into(),
            Key::Down => "↓".into(),
            Key::Left => "←".into(),
            Key::Right => "→".into(),
            Key::Enter => "Enter".into(),
            Key::Esc => "Esc".into(),
            Key::Tab => "Tab".into(),
            Key::BackTab => "S-Tab".into(),
            Key::PageUp => "PgUp".into(),
            Key::PageDown => "PgDn".into(),
        }
    }
}

/// What a command does; views turn actions into state changes (and shell commands).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Leave the program (stopping every node it started).
    Quit,
    /// Go back one screen (quit from the first one).
    Back,
    /// Toggle the help overlay.
    Help,
    /// Dark ↔ light.
    ToggleTheme,
    /// Selection up.
    Up,
    /// Selection down.
    Down,
    /// Page up.
    PageUp,
    /// Page down.
    PageDown,
    /// Next tab.
    NextTab,
    /// Previous tab.
    PrevTab,
    /// Open the selection.
    Open,
    /// Launch (or show) the project's lab.
    LaunchLab,
    /// Show the project's scenario scripts.
    Scenarios,
    /// Run the project's verification commands.
    Verify,
    /// Select node N (1-based).
    SelectNode(u64),
    /// Run a shell command template (`{node}` is the selected node).
    Shell(&'static str),
    /// `p`: pause, or resume when paused.
    PauseResume,
    /// `w`: start or stop the workload.
    Workload,
    /// Open the command bar.
    CommandBar,
    /// Leave the full screen for the interactive shell.
    InteractiveShell,
    /// Logs: follow on/off.
    Follow,
    /// Logs: search.
    Search,
    /// Logs: next level filter.
    LevelFilter,
    /// Logs: merged view or the selected node only.
    Merged,
    /// Tour: next step.
    TourNext,
    /// Tour: previous step.
    TourPrev,
}

/// One command a view offers.
#[derive(Clone, Debug)]
pub struct Cmd {
    /// The keys that run it.
    pub keys: &'static [Key],
    /// Short label for the hint bar.
    pub label: &'static str,
    /// What it does, for the help overlay.
    pub desc: &'static str,
    /// The action.
    pub action: Action,
    /// Shown in the hint bar (all commands show in the help).
    pub hint: bool,
}

impl Cmd {
    /// A command shown in the hint bar.
    pub const fn new(
        keys: &'static [Key],
        label: &'static str,
        desc: &'static str,
        action: Action,
    ) -> Self {
        Self {
            keys,
            label,
            desc,
            action,
            hint: true,
        }
    }

    /// A command shown only in the help overlay.
    pub const fn quiet(
        keys: &'static [Key],
        label: &'static str,
        desc: &'static str,
        action: Action,
    ) -> Self {
        Self {
            keys,
            label,
            desc,
            action,
            hint: false,
        }
    }

    /// The keys as text (`k`, `↑/k`, `1…9`).
    pub fn key_names(&self) -> String {
        if self.keys.len() > 3 {
            let first = self.keys.first().map(|k| k.name()).unwrap_or_default();
            let last = self.keys.last().map(|k| k.name()).unwrap_or_default();
            return format!("{first}…{last}");
        }
        self.keys
            .iter()
            .map(|k| k.name())
            .collect::<Vec<_>>()
            .join("/")
    }
}

/// The commands every screen offers.
pub fn global_commands() -> Vec<Cmd> {
    vec![
        Cmd::new(
            &[Key::Char('?')],
            "help",
            "show or hide this help",
            Action::Help,
        ),
        Cmd::new(
            &[Key::Char('q'), Key::Esc],
            "back",
            "back (quit from the first screen)",
            Action::Back,
        ),
        Cmd::quiet(
            &[Key::Char('Q'), Key::Ctrl('c')],
            "quit",
            "quit, stopping every node it started",
            Action::Quit,
        ),
        Cmd::quiet(
            &[Key::Char('t')],
            "theme",
            "dark or light theme",
            Action::ToggleTheme,
        ),
    ]
}

/// The action of the first command answering `ev`.
pub fn dispatch(cmds: &[Cmd], ev: &KeyEvent) -> Option<Action> {
    cmds.iter()
        .find(|c| c.keys.iter().any(|k| k.matches(ev)))
        .map(|c| c.action.clone())
}

/// The bottom hint bar: `key label` pairs that fit in the width. `? help` and `q back` are
/// always shown (they are how to learn the rest and how to leave): the others take the room
/// left, in order, and a `…` says some did not fit (the help overlay lists them all).
pub fn hint_line(cmds: &[Cmd], theme: &Theme, width: u16) -> Line<'static> {
    let width = width as usize;
    let essential = |c: &Cmd| matches!(c.action, Action::Help | Action::Back);
    let pair = |c: &Cmd| {
        let key = c.keys.first().map(|k| k.name()).unwrap_or_default();
        let len = key.chars().count() + c.label.chars().count() + 3;
        (key, len)
    };
    let hinted: Vec<&Cmd> = cmds.iter().filter(|c| c.hint).collect();
    let reserved: usize = hinted
        .iter()
        .filter(|c| essential(c))
        .map(|c| pair(c).1)
        .sum();
    let others: Vec<&Cmd> = hinted.iter().copied().filter(|c| !essential(c)).collect();
    let all_len: usize = others.iter().map(|c| pair(c).1).sum();
    // Room for the others, keeping 3 columns for "…  " when they do not all fit.
    let room = if reserved + all_len <= width {
        width - reserved
    } else {
        width.saturating_sub(reserved + 3)
    };
    let mut spans = Vec::new();
    let mut used = 0usize;
    let mut cut = false;
    for c in &others {
        let (key, len) = pair(c);
        if used + len > room {
            cut = true;
            break;
        }
        used += len;
        spans.push(Span::styled(key, theme.title()));
        spans.push(Span::raw(format!(" {}  ", c.label)));
    }
    if cut {
        spans.push(Span::styled("…  ", theme.title()));
    }
    for c in hinted.iter().filter(|c| essential(c)) {
        let (key, _) = pair(c);
        spans.push(Span::styled(key, theme.title()));
        spans.push(Span::raw(format!(" {}  ", c.label)));
    }
    Line::from(spans)
}

/// The help overlay, centred in `area`: one line per command, in two columns when one does
/// not fit the height.
pub fn draw_help(f: &mut Frame, area: Rect, title: &str, cmds: &[Cmd], theme: &Theme) {
    let key_w = cmds
        .iter()
        .map(|c| c.key_names().chars().count())
        .max()
        .unwrap_or(1);
    let desc_w = cmds
        .iter()
        .map(|c| c.desc.chars().count())
        .max()
        .unwrap_or(1);
    let room_h = area.height.saturating_sub(2) as usize;
    let cols = if cmds.len() + 2 > room_h && area.width >= 60 {
        2
    } else {
        1
    };
    let rows = cmds.len().div_ceil(cols);
    let col_w = (key_w + 2 + desc_w).min((area.width.saturating_sub(4) as usize) / cols);
    let w = ((col_w + 1) * cols + 2).min(area.width as usize) as u16;
    let h = ((rows + 2).min(area.height as usize)) as u16;
    let rect = Rect {
        x: area.x + (area.width.saturating_sub(w)) / 2,
        y: area.y + (area.height.saturating_sub(h)) / 2,
        width: w,
        height: h,
    };
    let cell = |c: &Cmd| -> Vec<Span<'static>> {
        let key = format!("{:>key_w$}  ", c.key_names());
        let room = col_w.saturating_sub(key_w + 2);
        let mut desc: String = c.desc.chars().take(room).collect();
        if c.desc.chars().count() > room && room > 0 {
            desc.pop();
            desc.push('…');
        }
        let pad = room.saturating_sub(desc.chars().count());
        vec![
            Span::styled(key, theme.title()),
            Span::raw(format!("{desc}{} ", " ".repeat(pad))),
        ]
    };
    let lines: Vec<Line> = (0..rows)
        .map(|r| {
            let mut spans = Vec::new();
            for col in 0..cols {
                if let Some(c) = cmds.get(col * rows + r) {
                    spans.extend(cell(c));
                }
            }
            Line::from(spans)
        })
        .collect();
    f.render_widget(Clear, rect);
    f.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(format!(" {title}: keys (? closes) "))),
        rect,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ctrl_c_is_not_plain_c() {
        let cmds = vec![
            Cmd::new(&[Key::Ctrl('c')], "quit", "", Action::Quit),
            Cmd::new(&[Key::Char('c')], "chaos", "", Action::Workload),
        ];
        let ctrl = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        let plain = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::NONE);
        assert_eq!(dispatch(&cmds, &ctrl), Some(Action::Quit));
        assert_eq!(dispatch(&cmds, &plain), Some(Action::Workload));
    }

    #[test]
    fn the_hint_bar_always_shows_help_and_back_and_marks_what_it_left_out() {
        let theme = Theme::dark();
        let mut cmds: Vec<Cmd> = (0..20)
            .map(|i| {
                Cmd::new(
                    Box::leak(Box::new([Key::Char((b'a' + i as u8) as char)])),
                    "something long",
                    "a command",
                    Action::Help,
                )
            })
            .map(|mut c| {
                c.action = Action::ToggleTheme;
                c
            })
            .collect();
        cmds.extend(global_commands());
        for width in [40u16, 80, 100, 200] {
            let text: String = hint_line(&cmds, &theme, width)
                .spans
                .iter()
                .map(|s| s.content.to_string())
                .collect();
            assert!(
                text.contains("? help") && text.contains("q back"),
                "{width}: {text}"
            );
            assert!(
                text.trim_end().chars().count() <= width as usize,
                "{width}: {text}"
            );
            assert!(text.contains('…'), "{width}: {text}");
        }
        let few: Vec<Cmd> = global_commands();
        let text: String = hint_line(&few, &theme, 80)
            .spans
            .iter()
            .map(|s| s.content.to_string())
            .collect();
        assert!(!text.contains('…'), "{text}");
    }
}
