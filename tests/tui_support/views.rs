//! What the TUI view tests share: an app with redaction on and no measured claims, drawing it
//! into ratatui's `TestBackend`, synthetic supervisor events, keys and mouse clicks.

#![allow(dead_code)]

use std::collections::BTreeMap;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use wirelab::cluster::{NodeEvent, SupEvent, SupEventKind};
use wirelab::portfolio::Portfolio;
use wirelab::tui::app::App;
use wirelab::tui::theme::Theme;
use wirelab::tui::{Click, Mode, new_app};

/// The sizes every snapshot is taken at.
pub const SIZES: [(u16, u16); 2] = [(80, 24), (120, 40)];

/// An app in `mode` with redaction on (no pids, sizes, rates or times), no queued effects and
/// no measured claims.
pub fn app(mode: Mode) -> App {
    let mut app = new_app(
        mode,
        Portfolio::builtin().expect("portfolio"),
        Theme::dark(),
    );
    app.hide = true;
    app.queued.clear();
    app.measured = BTreeMap::new();
    app
}

/// The app drawn on a `w`×`h` terminal, as text.
pub fn render(app: &mut App, w: u16, h: u16) -> String {
    let mut term = Terminal::new(TestBackend::new(w, h)).expect("terminal");
    term.draw(|f| app.draw(f)).expect("draw");
    term.backend().to_string()
}

/// A supervisor event.
pub fn ev(node: u64, at_ms: u64, kind: SupEventKind) -> SupEvent {
    SupEvent { node, at_ms, kind }
}

/// A node's own event, through the supervisor.
pub fn node_ev(node: u64, at_ms: u64, event: NodeEvent) -> SupEvent {
    ev(node, at_ms, SupEventKind::Node { event })
}

/// A node's log line.
pub fn log_ev(node: u64, at_ms: u64, level: &str, msg: &str) -> SupEvent {
    node_ev(
        node,
        at_ms,
        NodeEvent::Log {
            level: level.into(),
            msg: msg.into(),
        },
    )
}

/// A plain key press.
pub fn key(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
}

/// A left click on the target `want` of the last drawn frame.
pub fn click_on(app: &App, want: Click) -> MouseEvent {
    let (r, _) = app
        .hits
        .iter()
        .find(|(_, c)| *c == want)
        .expect("a click target");
    MouseEvent {
        kind: MouseEventKind::Down(MouseButton::Left),
        column: r.x + 1,
        row: r.y,
        modifiers: KeyModifiers::NONE,
    }
}
