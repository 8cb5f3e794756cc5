//! Every registered dashboard, walked generically: each key its `?` help lists reaches its own
//! command through a real key event (no key shadowed by another), and each key that stands
//! for a shell command produces that lab's command (refused with the one "not up" wording
//! while the lab is down).

#[path = "tui_support/views.rs"]
mod views;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use views::app;
use wirelab::tui::Mode;
use wirelab::tui::app::{Effect, Screen};
use wirelab::tui::keys::{Action, Key, dispatch};

fn event(k: Key) -> KeyEvent {
    let code = match k {
        Key::Char(c) => KeyCode::Char(c),
        Key::Ctrl(c) => return KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL),
        Key::Up => KeyCode::Up,
        Key::Down => KeyCode::Down,
        Key::Left => KeyCode::Left,
        Key::Right => KeyCode::Right,
        Key::Enter => KeyCode::Enter,
        Key::Esc => KeyCode::Esc,
        Key::Tab => KeyCode::Tab,
        Key::BackTab => KeyCode::BackTab,
        Key::PageUp => KeyCode::PageUp,
        Key::PageDown => KeyCode::PageDown,
    };
    let modifiers = if k == Key::BackTab {
        KeyModifiers::SHIFT
    } else {
        KeyModifiers::NONE
    };
    KeyEvent::new(code, modifiers)
}

/// Actions that leave the dashboard or open something over it.
fn leaves(a: &Action) -> bool {
    matches!(
        a,
        Action::Quit
            | Action::Back
            | Action::Help
            | Action::CommandBar
            | Action::InteractiveShell
            | Action::Search
    )
}

#[test]
fn every_key_in_every_dashboards_help_dispatches_through_a_real_key_event() {
    let dashboards = wirelab::tui::boards::dashboards();
    assert!(dashboards.len() >= 3, "the registry lists the dashboards");
    for d in &dashboards {
        let lab = d.lab();
        let mut a = app(Mode::Lab(lab));
        assert_eq!(a.screen(), Screen::Dashboard(lab));
        let mut produced = 0;
        for c in a.commands() {
            for k in c.keys {
                let ev = event(*k);
                // The key reaches this command, not another listed before it.
                let cmds = a.commands();
                let got = dispatch(&cmds, &ev);
                let expected = match (&c.action, &got) {
                    // The digit keys share one command; the digit is the node.
                    (Action::SelectNode(0), Some(Action::SelectNode(_))) => got.clone(),
                    _ => Some(c.action.clone()),
                };
                assert_eq!(got, expected, "{lab}: key {k:?} of {:?}", c.label);
                if leaves(&c.action) {
                    continue;
                }
                a.flash = None;
                match a.on_key(&ev) {
                    Some(Effect::Run(cmd, source)) => {
                        assert!(cmd.starts_with(&format!("{lab} ")), "{lab}: {cmd}");
                        assert!(source.starts_with("key "), "{source}");
                        produced += 1;
                    }
                    None => {
                        if let Some(flash) = &a.flash {
                            assert_eq!(
                                flash,
                                &format!("the {lab} lab is not up: `:` then `{lab} up`"),
                                "{lab}: key {k:?}"
                            );
                            produced += 1;
                        }
                    }
                    Some(other) => panic!("{lab}: key {k:?} gave {other:?}"),
                }
                assert_eq!(a.screen(), Screen::Dashboard(lab), "{lab}: key {k:?}");
            }
        }
        assert!(produced >= 3, "{lab}: only {produced} keys ran a command");
    }
}

#[test]
fn a_lab_without_a_dashboard_says_so_instead_of_opening_another() {
    let mut a = app(Mode::Explorer);
    assert_eq!(a.open_dashboard("pingpong"), None);
    assert_eq!(a.screen(), Screen::Home);
    assert!(
        a.flash
            .as_deref()
            .is_some_and(|f| f.contains("pingpong lab has no dashboard")),
        "{:?}",
        a.flash
    );
}
