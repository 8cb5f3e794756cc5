//! The P2P lab dashboard (`wirelab lab p2p`): two replicated trackers, a seeder and four
//! leechers, live. Its state is [`P2pLabView`]; every action is a shell command (`k` →
//! `p2p kill N`) that the app runs through its shell and shows in the command log, as in the
//! Raft dashboard, whose command log and log pane it reuses.
//!
//! - [`model`]: supervisor events and node snapshots → peer and tracker rows, piece bitfields,
//!   timeline, logs, tracker op logs, throughput.
//! - [`report`]: the nodes' state events decoded (peer bitfields and counters, tracker
//!   replication state).
//! - [`view`]: drawing the tabs (overview, logs, timeline, commands).

pub mod model;
pub mod report;
pub mod view;

use tokio::sync::broadcast;

use super::keys::{Action, Cmd, Key};
use super::lab::CommandRecord;
use super::lab::logs::LogPane;
use super::lab::shared;
use crate::cluster::{SupEvent, Supervisor};
use model::P2pModel;

/// The dashboard's tabs.
pub const TABS: [&str; 4] = ["Overview", "Logs", "Timeline", "Commands"];

/// The dashboard's state.
pub struct P2pLabView {
    /// The model.
    pub model: P2pModel,
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
    /// The lab, once up.
    pub sup: Option<Supervisor>,
    events: Option<broadcast::Receiver<SupEvent>>,
}

impl Default for P2pLabView {
    fn default() -> Self {
        Self::new()
    }
}

impl P2pLabView {
    /// A dashboard waiting for its lab.
    pub fn new() -> Self {
        Self {
            model: P2pModel::new(),
            tab: 0,
            selected: 4,
            logs: LogPane::default(),
            commands: Vec::new(),
            scroll: 0,
            sup: None,
            events: None,
        }
    }

    /// Attaches the running lab (subscribes to its events).
    pub fn attach(&mut self, sup: Supervisor) {
        self.events = Some(sup.subscribe());
        self.sup = Some(sup);
    }

    /// Forgets a stopped lab (the timeline and logs stay).
    pub fn detach(&mut self) {
        self.sup = None;
        self.events = None;
        self.model.forget_lab();
    }

    /// Drains pending supervisor events into the model; true when any arrived.
    pub fn drain_events(&mut self) -> bool {
        shared::drain_events(&mut self.events, |ev| self.model.on_event(ev))
    }

    /// Waits for the next supervisor event (never resolves without a lab).
    pub async fn next_event(&mut self) -> Option<SupEvent> {
        shared::next_event(&mut self.events).await
    }

    /// Fresh node snapshots (pid, RSS, CPU, state).
    pub fn refresh(&mut self) {
        if let Some(sup) = &self.sup {
            self.model.refresh(sup.nodes());
        }
    }

    /// The commands the dashboard offers: key dispatch, the hint bar and the `?` help all come
    /// from this one list.
    pub fn commands(&self) -> Vec<Cmd> {
        let mut c = vec![
            Cmd::new(
                &[Key::Char('k')],
                "kill",
                "p2p kill N: SIGKILL the selected node",
                Action::Shell("p2p kill {node}"),
            ),
            Cmd::new(
                &[Key::Char('r')],
                "restart",
                "p2p restart N: restart it on its data dir",
                Action::Shell("p2p restart {node}"),
            ),
            Cmd::new(
                &[Key::Char('n')],
                "partition",
                "p2p partition 1: cut the trackers apart",
                Action::Shell("p2p partition 1"),
            ),
            Cmd::new(
                &[Key::Char('h')],
                "heal",
                "p2p heal: end the partition",
                Action::Shell("p2p heal"),
            ),
            Cmd::new(
                &[Key::Char('x')],
                "corrupt",
                "p2p corrupt 3 --piece P: garbage in a seeder piece",
                Action::Shell("p2p corrupt 3 --piece {piece}"),
            ),
        ];
        c.extend(shared::shared_commands(
            &shared::SharedKeys {
                level: "logs: minimum level (debug shows tracker ops)",
                merged: "logs: every node, or the selected one",
                ..shared::SharedKeys::DEFAULT
            },
            TABS[self.tab] == "Logs" || TABS[self.tab] == "Overview",
        ));
        c
    }

    /// Handles a dashboard action; returns the shell command to run, if any.
    pub fn act(&mut self, action: &Action) -> Option<String> {
        match action {
            Action::Shell(t) => Some(
                t.replace("{node}", &self.selected.to_string())
                    .replace("{piece}", &self.model.piece_to_corrupt().to_string()),
            ),
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

    /// Fills in a finished command; true if it was one of ours. A successful `p2p corrupt`
    /// goes on the timeline too.
    pub fn finish(&mut self, done: &super::shell_worker::ShellDone) -> bool {
        let Some(c) = shared::finish_command(&mut self.commands, done) else {
            return false;
        };
        if done.status == 0
            && let Some(rest) = c.cmd.strip_prefix("p2p corrupt ")
        {
            let text = format!("p2p corrupt {rest}: garbage on disk, still served");
            self.model
                .note(super::clock::now_ms(), model::EventKind::Fault, text);
        }
        true
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
    fn every_action_key_is_a_p2p_shell_command() {
        let mut lab = P2pLabView::new();
        lab.selected = 5;
        let mut run = |c: char| {
            let action = dispatch(&lab.commands(), &key(c)).expect("a command");
            lab.act(&action)
        };
        assert_eq!(run('k').as_deref(), Some("p2p kill 5"));
        assert_eq!(run('r').as_deref(), Some("p2p restart 5"));
        assert_eq!(run('n').as_deref(), Some("p2p partition 1"));
        assert_eq!(run('h').as_deref(), Some("p2p heal"));
        assert_eq!(run('x').as_deref(), Some("p2p corrupt 3 --piece 0"));
        assert_eq!(run('2'), None);
    }
}
