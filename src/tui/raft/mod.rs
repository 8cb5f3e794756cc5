//! The Raft lab dashboard: state ([`RaftView`], a [`Dashboard`] over [`model::RaftModel`]),
//! its commands, and what its keys do. Every action is a shell command (`k` → `raft kill N`)
//! that the app runs through its shell and shows in the command log.
//!
//! - [`model`]: supervisor events and node snapshots → table, timeline, logs, series.
//! - [`view`]: drawing the tabs (overview, logs, timeline, commands);
//!   [`scope`]: the RaftScope-like view and the charts.

pub mod model;
pub mod scope;
pub mod view;

use super::keys::{Action, Cmd, Key};
use crate::cluster::{NodeInfo, SupEvent};
use crate::tui::dash::logbook::LogBook;
use crate::tui::dash::{DashModel, Dashboard, shared};
use model::RaftModel;

/// The dashboard's tabs.
pub const TABS: [&str; 5] = ["Overview", "Scope", "Logs", "Timeline", "Commands"];

/// The Raft dashboard's state.
pub type RaftView = Dashboard<RaftModel>;

impl DashModel for RaftModel {
    const TABS: &'static [&'static str] = &TABS;
    const FIRST_NODE: u64 = 1;

    fn fold(&mut self, ev: &SupEvent) {
        self.on_event(ev);
    }

    /// Node snapshots, and the workload's metrics with them.
    fn update(&mut self, nodes: Vec<NodeInfo>, now_ms: u64) {
        self.refresh(nodes, crate::raft::load::snapshot(), now_ms);
    }

    fn forget(&mut self, _now_ms: u64) {
        self.nodes.clear();
        self.leader = None;
    }

    fn nodes(&self) -> &[NodeInfo] {
        &self.nodes
    }

    fn log_book(&mut self) -> &mut LogBook {
        &mut self.logs
    }
}

crate::tui::dash::dashboard::dash_view!(RaftModel, crate::raft::cli::NAME, view::draw);

impl Dashboard<RaftModel> {
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
            self.logs_shown(),
        ));
        c
    }

    /// Handles a dashboard action; returns the shell command to run, if any.
    pub fn act(&mut self, action: &Action) -> Option<String> {
        match action {
            Action::Shell(t) => Some(self.expand(t)),
            Action::PauseResume => Some(self.pause_or_resume("raft")),
            Action::Workload => Some(if self.model.load.running {
                "raft load stop".into()
            } else {
                "raft load start --clients 4".into()
            }),
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
    fn every_action_key_is_a_shell_command_on_the_selected_node() {
        let mut lab = RaftView::new();
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
        let mut lab = RaftView::new();
        lab.model.load.running = true;
        assert_eq!(
            lab.act(&Action::Workload).as_deref(),
            Some("raft load stop")
        );
    }
}
