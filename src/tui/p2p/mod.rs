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

use super::dash::logbook::LogBook;
use super::dash::shared;
use super::dash::{DashModel, Dashboard};
use super::keys::{Action, Cmd, Key};
use super::shell_worker::ShellDone;
use crate::cluster::{NodeInfo, SupEvent};
use model::P2pModel;

/// The dashboard's tabs.
pub const TABS: [&str; 4] = ["Overview", "Logs", "Timeline", "Commands"];

/// The P2P dashboard's state.
pub type P2pLabView = Dashboard<P2pModel>;

impl DashModel for P2pModel {
    const TABS: &'static [&'static str] = &TABS;
    /// The first leecher.
    const FIRST_NODE: u64 = 4;

    fn fold(&mut self, ev: &SupEvent) {
        self.on_event(ev);
    }

    fn update(&mut self, nodes: Vec<NodeInfo>, _now_ms: u64) {
        self.refresh(nodes);
    }

    fn forget(&mut self, _now_ms: u64) {
        self.forget_lab();
    }

    fn nodes(&self) -> &[NodeInfo] {
        &self.nodes
    }

    fn log_book(&mut self) -> &mut LogBook {
        &mut self.logs
    }

    /// A successful `p2p corrupt` goes on the timeline: only the command knows it happened.
    fn command_done(&mut self, cmd: &str, done: &ShellDone, now_ms: u64) {
        if done.status == 0
            && let Some(rest) = cmd.strip_prefix("p2p corrupt ")
        {
            let text = format!("p2p corrupt {rest}: garbage on disk, still served");
            self.note(now_ms, model::EventKind::Fault, text);
        }
    }
}

crate::tui::dash::dashboard::dash_view!(P2pModel, crate::p2p::cli::NAME, view::draw);

impl Dashboard<P2pModel> {
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
                "p2p corrupt 3 --piece P: garbage in a seeder piece (then a new round if all are done)",
                Action::Shell("p2p corrupt 3 --piece {piece}"),
            ),
            Cmd::new(
                &[Key::Char('a')],
                "again",
                "p2p round: every leecher starts over from nothing",
                Action::Shell("p2p round"),
            ),
        ];
        c.extend(shared::shared_commands(
            &shared::SharedKeys {
                level: "logs: minimum level (debug shows tracker ops)",
                merged: "logs: every node, or the selected one",
                ..shared::SharedKeys::DEFAULT
            },
            self.logs_shown(),
        ));
        c
    }

    /// Handles a dashboard action; returns the shell command to run, if any.
    pub fn act(&mut self, action: &Action) -> Option<String> {
        match action {
            Action::Shell(t) if t.contains("{piece}") => {
                Some(match self.model.leechers_complete() {
                    // Nobody downloads from a finished swarm, so a corrupted piece would go
                    // unseen: a new round, keeping one complete leecher as a good second
                    // source of the 16 bad pieces (the round can finish), and enough of them
                    // that the restarted leechers surely fetch some from the seeder.
                    Some(keep) => format!(
                        "{} && p2p round --keep {keep}",
                        self.expand(t).replace("{piece}", "0-15")
                    ),
                    None => self
                        .expand(t)
                        .replace("{piece}", &self.model.piece_to_corrupt().to_string()),
                })
            }
            Action::Shell(t) => Some(self.expand(t)),
            a => self.navigate(a),
        }
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
        assert_eq!(run('a').as_deref(), Some("p2p round"));
        assert_eq!(run('2'), None);
    }
}
