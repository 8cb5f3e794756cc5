//! The Raft lab dashboard: state ([`LabView`]), its commands, and what its keys do. Every
//! action is a shell command (`k` → `raft kill N`) that the app runs through its shell and
//! shows in the command log.
//!
//! - [`model`]: supervisor events and node snapshots → table, timeline, logs, series.
//! - [`view`]: drawing the tabs (overview, logs, timeline, commands);
//!   [`scope`]: the RaftScope-like view and the charts.
//! - [`logs`]: the log pane (follow, search highlighting, level filter, merged view).
//! - [`shared`]: what every lab dashboard shares: the keys besides its own actions, what
//!   they do, and the command log's bookkeeping.

pub mod logs;
pub mod model;
pub mod scope;
pub mod shared;
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
        shared::drain_events(&mut self.events, |ev| self.model.on_event(ev))
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
        ];
        c.extend(shared::shared_commands(
            &shared::SharedKeys::DEFAULT,
            TABS[self.tab] == "Logs" || TABS[self.tab] == "Overview",
        ));
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
            a => {
                let nav =
                    shared::navigate(a, &TABS, &mut self.tab, &mut self.scroll, &mut self.logs);
                if let shared::Navigated::StepNode(up) = nav {
                    self.step_node(up);
                }
                None
            }
        }
    }

    fn step_node(&mut self, up: bool) {
        let ids: Vec<u64> = self.model.nodes.iter().map(|n| n.id).collect();
        if let Some(id) = shared::step_id(&ids, self.selected, up) {
            self.selected = id;
        }
    }

    /// Records a queued command.
    pub fn record(&mut self, id: u64, cmd: &str, source: &str) {
        shared::push_command(&mut self.commands, id, cmd, source);
        self.scroll = 0;
    }

    /// Fills in a finished command; true if it was one of ours.
    pub fn finish(&mut self, done: &super::shell_worker::ShellDone) -> bool {
        shared::finish_command(&mut self.commands, done).is_some()
    }
}

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
