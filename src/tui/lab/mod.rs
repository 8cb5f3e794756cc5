//! The Raft lab dashboard: state ([`LabView`]), its commands, and what its keys do. Every
//! action is a shell command (`k` → `raft kill N`) that the app runs through its shell and
//! shows in the command log.
//!
//! - [`model`]: supervisor events and node snapshots → table, timeline, logs, series.
//! - [`view`]: drawing the tabs (overview, logs, timeline, commands);
//!   [`scope`]: the RaftScope-like view and the charts.
//! - [`logs`]: the log pane (follow, search highlighting, level filter, merged view).

pub mod logs;
pub mod model;
pub mod scope;
pub mod view;

use std::time::{Duration, Instant};

use tokio::sync::broadcast;

use super::keys::{Action, Cmd, Key};
use crate::cluster::{NodeStatus, SupEvent, Supervisor};
use logs::LogPane;
use model::LabModel;

/// The dashboard's tabs.
pub const TABS: [&str; 5] = ["Overview", "Scope", "Logs", "Timeline", "Commands"];

/// One command as the command log shows it.
#[derive(Clone, Debug)]
pub struct CommandRecord {
    /// The shell worker's id.
    pub id: u64,
    /// The command line.
    pub cmd: String,
    /// Where it came from (`key k`, `:`, `tour`).
    pub source: String,
    /// When it was queued.
    pub started: Instant,
    /// Exit status once finished.
    pub status: Option<i32>,
    /// Its output.
    pub output: String,
    /// How long it ran.
    pub elapsed: Option<Duration>,
}

/// The dashboard's state.
pub struct LabView {
    /// The model.
    pub model: LabModel,
    /// The current tab (index into [`TABS`]).
    pub tab: usize,
    /// The selected node id.
    pub selected: u64,
    /// The log pane.
    pub logs: LogPane,
    /// The command log, oldest first.
    pub commands: Vec<CommandRecord>,
    /// Scroll of the command/timeline tabs (lines from the bottom).
    pub scroll: usize,
    /// The cluster, once up.
    pub sup: Option<Supervisor>,
    events: Option<broadcast::Receiver<SupEvent>>,
}

impl Default for LabView {
    fn default() -> Self {
        Self::new()
    }
}

impl LabView {
    /// A dashboard waiting for its cluster.
    pub fn new() -> Self {
        Self {
            model: LabModel::new(),
            tab: 0,
            selected: 1,
            logs: LogPane::default(),
            commands: Vec::new(),
            scroll: 0,
            sup: None,
            events: None,
        }
    }

    /// Attaches the running cluster (subscribes to its events).
    pub fn attach(&mut self, sup: Supervisor) {
        self.events = Some(sup.subscribe());
        self.sup = Some(sup);
    }

    /// Forgets a stopped cluster.
    pub fn detach(&mut self) {
        self.sup = None;
        self.events = None;
        self.model.nodes.clear();
        self.model.leader = None;
    }

    /// Drains pending supervisor events into the model; true when any arrived.
    pub fn drain_events(&mut self) -> bool {
        let Some(rx) = self.events.as_mut() else {
            return false;
        };
        let mut any = false;
        loop {
            match rx.try_recv() {
                Ok(ev) => {
                    self.model.on_event(&ev);
                    any = true;
                }
                Err(broadcast::error::TryRecvError::Lagged(_)) => continue,
                Err(_) => break,
            }
        }
        any
    }

    /// Waits for the next supervisor event (never resolves without a cluster).
    pub async fn next_event(&mut self) -> Option<SupEvent> {
        match self.events.as_mut() {
            Some(rx) => loop {
                match rx.recv().await {
                    Ok(ev) => return Some(ev),
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => {
                        self.events = None;
                        return None;
                    }
                }
            },
            None => std::future::pending().await,
        }
    }

    /// Fresh node snapshots and workload metrics.
    pub fn refresh(&mut self, now_ms: u64) {
        if let Some(sup) = &self.sup {
            self.model
                .refresh(sup.nodes(), crate::raft::load::snapshot(), now_ms);
        }
    }

    /// The status of the selected node.
    pub fn selected_status(&self) -> Option<NodeStatus> {
        self.model
            .nodes
            .iter()
            .find(|n| n.id == self.selected)
            .map(|n| n.status)
    }

    /// The commands the dashboard offers (keys, hint bar and help come from here).
    pub fn commands(&self) -> Vec<Cmd> {
        let mut c = vec![
            Cmd::new(
                &[Key::Char('k')],
                "kill",
                "raft kill N: SIGKILL the node",
                Action::Shell("raft kill {node}"),
            ),
            Cmd::new(
                &[Key::Char('p')],
                "pause",
                "raft pause|resume N: SIGSTOP/SIGCONT",
                Action::PauseResume,
            ),
            Cmd::new(
                &[Key::Char('r')],
                "restart",
                "raft restart N: restart from its disk",
                Action::Shell("raft restart {node}"),
            ),
            Cmd::new(
                &[Key::Char('n')],
                "partition",
                "raft partition N: cut it off",
                Action::Shell("raft partition {node}"),
            ),
            Cmd::new(
                &[Key::Char('h')],
                "heal",
                "raft heal: end every partition",
                Action::Shell("raft heal"),
            ),
            Cmd::new(
                &[Key::Char('w')],
                "workload",
                "raft load start|stop: writes (stop checks them)",
                Action::Workload,
            ),
            Cmd::new(
                &[Key::Char('c')],
                "chaos",
                "raft nemesis: 5 s of random faults",
                Action::Shell("raft nemesis --duration 5s"),
            ),
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
            Cmd::quiet(&NODE_KEYS, "node", "select node N", Action::SelectNode(0)),
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
        if TABS[self.tab] == "Logs" || TABS[self.tab] == "Overview" {
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
                Cmd::quiet(
                    &[Key::Char('v')],
                    "level",
                    "logs: minimum level",
                    Action::LevelFilter,
                ),
                Cmd::quiet(
                    &[Key::Char('m')],
                    "merged",
                    "logs: merged, or one pane per node",
                    Action::Merged,
                ),
            ]);
        }
        c
    }

    /// Handles a dashboard action; returns the shell command to run, if any.
    pub fn act(&mut self, action: &Action) -> Option<String> {
        let n = self.selected;
        match action {
            Action::Shell(t) => Some(t.replace("{node}", &n.to_string())),
            Action::PauseResume => Some(match self.selected_status() {
                Some(NodeStatus::Paused) => format!("raft resume {n}"),
                _ => format!("raft pause {n}"),
            }),
            Action::Workload => Some(if self.model.load.running {
                "raft load stop".into()
            } else {
                "raft load start --clients 4".into()
            }),
            Action::SelectNode(id) => {
                if *id > 0 {
                    self.selected = *id;
                }
                None
            }
            Action::NextTab => {
                self.tab = (self.tab + 1) % TABS.len();
                None
            }
            Action::PrevTab => {
                self.tab = (self.tab + TABS.len() - 1) % TABS.len();
                None
            }
            Action::Up | Action::Down => {
                let up = *action == Action::Up;
                match TABS[self.tab] {
                    "Logs" => self.logs.scroll(if up { 1 } else { -1 }),
                    "Timeline" | "Commands" => {
                        self.scroll = if up {
                            self.scroll + 1
                        } else {
                            self.scroll.saturating_sub(1)
                        }
                    }
                    _ => self.step_node(up),
                }
                None
            }
            Action::PageUp => {
                self.logs.scroll(10);
                self.scroll += 10;
                None
            }
            Action::PageDown => {
                self.logs.scroll(-10);
                self.scroll = self.scroll.saturating_sub(10);
                None
            }
            Action::Follow => {
                self.logs.follow = !self.logs.follow;
                self.logs.offset = 0;
                None
            }
            Action::LevelFilter => {
                self.logs.next_level();
                None
            }
            Action::Merged => {
                self.logs.merged = !self.logs.merged;
                None
            }
            _ => None,
        }
    }

    fn step_node(&mut self, up: bool) {
        let ids: Vec<u64> = self.model.nodes.iter().map(|n| n.id).collect();
        if ids.is_empty() {
            return;
        }
        let pos = ids.iter().position(|&i| i == self.selected).unwrap_or(0);
        let next = if up {
            (pos + ids.len() - 1) % ids.len()
        } else {
            (pos + 1) % ids.len()
        };
        self.selected = ids[next];
    }

    /// Records a queued command.
    pub fn record(&mut self, id: u64, cmd: &str, source: &str) {
        self.commands.push(CommandRecord {
            id,
            cmd: cmd.to_string(),
            source: source.to_string(),
            started: Instant::now(),
            status: None,
            output: String::new(),
            elapsed: None,
        });
        if self.commands.len() > 200 {
            self.commands.remove(0);
        }
        self.scroll = 0;
    }

    /// Fills in a finished command; true if it was one of ours.
    pub fn finish(&mut self, done: &super::shell_worker::ShellDone) -> bool {
        match self.commands.iter_mut().find(|c| c.id == done.id) {
            Some(c) => {
                c.status = Some(done.status);
                c.output = done.output.clone();
                c.elapsed = Some(done.elapsed);
                true
            }
            None => false,
        }
    }
}

const NODE_KEYS: [Key; 9] = [
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::keys::dispatch;
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

    fn key(c: char) -> KeyEvent {
        KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
    }

    #[test]
    fn every_action_key_is_a_shell_command_on_the_selected_node() {
        let mut lab = LabView::new();
        lab.selected = 2;
        let mut run = |c: char| {
            let action = dispatch(&lab.commands(), &key(c)).expect("a command");
            lab.act(&action)
        };
        assert_eq!(run('k').as_deref(), Some("raft kill 2"));
        assert_eq!(run('p').as_deref(), Some("raft pause 2"));
        assert_eq!(run('r').as_deref(), Some("raft restart 2"));
        assert_eq!(run('n').as_deref(), Some("raft partition 2"));
        assert_eq!(run('h').as_deref(), Some("raft heal"));
        assert_eq!(run('w').as_deref(), Some("raft load start --clients 4"));
        assert_eq!(run('c').as_deref(), Some("raft nemesis --duration 5s"));
    }

    #[test]
    fn w_stops_a_running_workload() {
        let mut lab = LabView::new();
        lab.model.load.running = true;
        assert_eq!(
            lab.act(&Action::Workload).as_deref(),
            Some("raft load stop")
        );
    }
}
