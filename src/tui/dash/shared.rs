//! What every lab dashboard (Raft, forge, P2P) has in common: the keys besides its own actions
//! (command bar, shell, node selection, tabs, scrolling, the log pane's keys), what those keys
//! do, and the command log's bookkeeping.

use std::time::Instant;

use tokio::sync::broadcast;

use super::CommandRecord;
use super::logs::LogPane;
use crate::cluster::SupEvent;
use crate::tui::keys::{Action, Cmd, Key};
use crate::tui::shell_worker::ShellDone;

/// The most commands a dashboard's command log keeps (the oldest go first).
pub const COMMANDS_KEPT: usize = 200;

/// Node selection by digit: `1`…`9`.
pub const NODE_KEYS_1_TO_9: [Key; 9] = [
    Key::Char('1'),
    Key::Char('2'),
    Key::Char('3'),
    Key::Char('4'),
    Key::Char('5'),
    Key::Char('6'),
    Key::Char('7'),
    Key::Char('8'),
    Key::Char('9'),
];

/// How a dashboard words its shared keys in the help overlay.
pub struct SharedKeys {
    /// The digit keys that select a node.
    pub node_keys: &'static [Key],
    /// Help for them.
    pub node: &'static str,
    /// Help for `v` (the log level filter).
    pub level: &'static str,
    /// Help for `m` (merged log view).
    pub merged: &'static str,
}

impl SharedKeys {
    /// The wording of the Raft dashboard, which the others share unless they say otherwise.
    pub const DEFAULT: SharedKeys = SharedKeys {
        node_keys: &NODE_KEYS_1_TO_9,
        node: "select node N",
        level: "logs: minimum level",
        merged: "logs: merged, or one pane per node",
    };
}

/// The shared keys, after a dashboard's own: `:`, `!`, node selection, tabs, scrolling and, on
/// a tab that shows logs, the log pane's keys.
pub fn shared_commands(keys: &SharedKeys, logs_shown: bool) -> Vec<Cmd> {
    let mut c = vec![
        Cmd::new(
            &[Key::Char(':')],
            "cmd",
            "command bar: any shell command",
            Action::CommandBar,
        ),
        Cmd::new(
            &[Key::Char('!')],
            "shell",
            "interactive shell (exit comes back)",
            Action::InteractiveShell,
        ),
        Cmd::quiet(keys.node_keys, "node", keys.node, Action::SelectNode(0)),
        Cmd::quiet(
            &[Key::Tab, Key::Right],
            "next tab",
            "next tab",
            Action::NextTab,
        ),
        Cmd::quiet(
            &[Key::BackTab, Key::Left],
            "prev tab",
            "previous tab",
            Action::PrevTab,
        ),
        Cmd::quiet(&[Key::Up], "up", "previous node / scroll up", Action::Up),
        Cmd::quiet(
            &[Key::Down, Key::Char('j')],
            "down",
            "next node / scroll down",
            Action::Down,
        ),
        Cmd::quiet(
            &[Key::PageUp],
            "page up",
            "scroll up a page",
            Action::PageUp,
        ),
        Cmd::quiet(
            &[Key::PageDown],
            "page down",
            "scroll down a page",
            Action::PageDown,
        ),
    ];
    if logs_shown {
        c.extend([
            Cmd::quiet(
                &[Key::Char('/')],
                "search",
                "logs: search (Esc clears)",
                Action::Search,
            ),
            Cmd::quiet(
                &[Key::Char('f')],
                "follow",
                "logs: follow on/off",
                Action::Follow,
            ),
            Cmd::quiet(&[Key::Char('v')], "level", keys.level, Action::LevelFilter),
            Cmd::quiet(&[Key::Char('m')], "merged", keys.merged, Action::Merged),
        ]);
    }
    c
}

/// What a shared navigation key did.
#[derive(Debug, PartialEq, Eq)]
pub enum Navigated {
    /// Handled here (tab, scroll, log pane).
    Done,
    /// Up/Down on a tab with a node list: the dashboard moves its selection (`true`: up).
    StepNode(bool),
    /// Not a navigation key.
    Other,
}

/// Applies a tab, scroll or log-pane key to a dashboard's `tab` (an index into `tabs`),
/// `scroll` (lines up from the bottom of the Timeline and Commands tabs) and log pane.
pub fn navigate(
    action: &Action,
    tabs: &[&str],
    tab: &mut usize,
    scroll: &mut usize,
    logs: &mut LogPane,
) -> Navigated {
    match action {
        Action::NextTab => *tab = (*tab + 1) % tabs.len(),
        Action::PrevTab => *tab = (*tab + tabs.len() - 1) % tabs.len(),
        Action::Up | Action::Down => {
            let up = *action == Action::Up;
            match tabs.get(*tab).copied() {
                Some("Logs") => logs.scroll(if up { 1 } else { -1 }),
                Some("Timeline" | "Commands") => {
                    *scroll = if up {
                        scroll.saturating_add(1)
                    } else {
                        scroll.saturating_sub(1)
                    }
                }
                _ => return Navigated::StepNode(up),
            }
        }
        Action::PageUp => {
            logs.scroll(10);
            *scroll = scroll.saturating_add(10);
        }
        Action::PageDown => {
            logs.scroll(-10);
            *scroll = scroll.saturating_sub(10);
        }
        Action::Follow => {
            logs.follow = !logs.follow;
            logs.offset = 0;
        }
        Action::LevelFilter => logs.next_level(),
        Action::Merged => logs.merged = !logs.merged,
        _ => return Navigated::Other,
    }
    Navigated::Done
}

/// The id before (`up`) or after `selected` in `ids`, wrapping; `None` without ids.
pub fn step_id(ids: &[u64], selected: u64, up: bool) -> Option<u64> {
    if ids.is_empty() {
        return None;
    }
    let pos = ids.iter().position(|&i| i == selected).unwrap_or(0);
    let next = if up {
        (pos + ids.len() - 1) % ids.len()
    } else {
        (pos + 1) % ids.len()
    };
    Some(ids[next])
}

/// Hands every pending supervisor event to `on` (skipping what a lagging receiver lost);
/// true when any arrived.
pub fn drain_events(
    events: &mut Option<broadcast::Receiver<SupEvent>>,
    mut on: impl FnMut(&SupEvent),
) -> bool {
    let Some(rx) = events.as_mut() else {
        return false;
    };
    let mut any = false;
    loop {
        match rx.try_recv() {
            Ok(ev) => {
                on(&ev);
                any = true;
            }
            Err(broadcast::error::TryRecvError::Lagged(_)) => continue,
            Err(_) => break,
        }
    }
    any
}

/// Waits for the next supervisor event; never resolves without a receiver, and drops one
/// whose supervisor is gone.
pub async fn next_event(events: &mut Option<broadcast::Receiver<SupEvent>>) -> Option<SupEvent> {
    match events.as_mut() {
        Some(rx) => loop {
            match rx.recv().await {
                Ok(ev) => return Some(ev),
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => {
                    *events = None;
                    return None;
                }
            }
        },
        None => std::future::pending().await,
    }
}

/// Appends a queued command to a command log, dropping the oldest past [`COMMANDS_KEPT`].
pub fn push_command(log: &mut Vec<CommandRecord>, id: u64, cmd: &str, source: &str) {
    log.push(CommandRecord {
        id,
        cmd: cmd.to_string(),
        source: source.to_string(),
        started: Instant::now(),
        status: None,
        output: String::new(),
        elapsed: None,
    });
    if log.len() > COMMANDS_KEPT {
        log.remove(0);
    }
}

/// Fills in a finished command; the record, if it is in this log.
pub fn finish_command<'a>(
    log: &'a mut [CommandRecord],
    done: &ShellDone,
) -> Option<&'a CommandRecord> {
    let c = log.iter_mut().find(|c| c.id == done.id)?;
    c.status = Some(done.status);
    c.output = done.output.clone();
    c.elapsed = Some(done.elapsed);
    Some(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_id_wraps_both_ways() {
        assert_eq!(step_id(&[], 1, true), None);
        assert_eq!(step_id(&[1, 2, 3], 1, true), Some(3));
        assert_eq!(step_id(&[1, 2, 3], 3, false), Some(1));
        assert_eq!(step_id(&[1, 2, 3], 9, false), Some(2));
    }

    #[test]
    fn navigation_keys_move_tabs_scroll_and_the_log_pane() {
        let tabs = ["Overview", "Logs", "Timeline"];
        let (mut tab, mut scroll, mut logs) = (0, 0, LogPane::default());
        let mut nav = |a: Action, tab: &mut usize, scroll: &mut usize| {
            navigate(&a, &tabs, tab, scroll, &mut logs)
        };
        assert_eq!(nav(Action::PrevTab, &mut tab, &mut scroll), Navigated::Done);
        assert_eq!(tab, 2);
        assert_eq!(nav(Action::Up, &mut tab, &mut scroll), Navigated::Done);
        assert_eq!(scroll, 1);
        assert_eq!(nav(Action::NextTab, &mut tab, &mut scroll), Navigated::Done);
        assert_eq!(tab, 0);
        assert_eq!(
            nav(Action::Down, &mut tab, &mut scroll),
            Navigated::StepNode(false)
        );
        assert_eq!(
            nav(Action::CommandBar, &mut tab, &mut scroll),
            Navigated::Other
        );
    }

    #[test]
    fn the_command_log_is_bounded_and_fills_in_what_finished() {
        let mut log = Vec::new();
        for id in 0..(COMMANDS_KEPT as u64 + 5) {
            push_command(&mut log, id, "raft status", "key");
        }
        assert_eq!(log.len(), COMMANDS_KEPT);
        assert_eq!(log[0].id, 5);
        let done = ShellDone {
            id: 7,
            status: 3,
            output: "out".into(),
            elapsed: std::time::Duration::from_millis(5),
        };
        assert_eq!(
            finish_command(&mut log, &done).map(|c| c.status),
            Some(Some(3))
        );
        let missing = ShellDone { id: 1, ..done };
        assert!(finish_command(&mut log, &missing).is_none());
    }
}
