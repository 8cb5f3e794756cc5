//! The forge lab dashboard (`wirelab lab forge`): the HTTP server node and the load generator
//! node of the forge lab, live. Every action is a shell command (`w` → `forge load start`, `x`
//! → `forge smuggle`, `g` → `forge reload`…) that the app runs through its shell and shows in
//! the command log, as on the Raft dashboard.
//!
//! - [`model`]: supervisor events → node table, load and server figures, status counts.
//! - [`series`]: per-second traffic (req/s, p50/p99, open connections, failed requests).
//! - [`timeline`]: the timeline (bursts coalesced) and the attacks' outcomes.
//! - [`view`]: drawing the tabs (overview, logs, timeline, commands).
//!
//! The log pane, the command records and the drawing of tabs, command log, timeline and log
//! panes are the Raft dashboard's ([`crate::tui::dash`]).

pub mod model;
pub mod series;
pub mod timeline;
pub mod view;

use super::dash::logbook::LogBook;
use super::dash::shared;
use super::dash::{DashModel, Dashboard};
use super::keys::{Action, Cmd, Key};
use super::shell_worker::ShellDone;
use crate::cluster::{NodeInfo, SupEvent};
use crate::forge::lab::{LOAD, SERVER};
use model::ForgeModel;

/// The dashboard's tabs.
pub const TABS: [&str; 4] = ["Overview", "Logs", "Timeline", "Commands"];

/// Slowloris connections `s` opens.
pub const SLOWLORIS_CONNECTIONS: usize = 100;

/// The forge dashboard's state.
pub type ForgeView = Dashboard<ForgeModel>;

impl DashModel for ForgeModel {
    const TABS: &'static [&'static str] = &TABS;
    const FIRST_NODE: u64 = SERVER;

    fn fold(&mut self, ev: &SupEvent) {
        self.on_event(ev);
    }

    fn update(&mut self, nodes: Vec<NodeInfo>, now_ms: u64) {
        self.refresh(nodes, now_ms);
    }

    fn forget(&mut self, now_ms: u64) {
        self.detach(now_ms);
    }

    fn nodes(&self) -> &[NodeInfo] {
        &self.nodes
    }

    fn log_book(&mut self) -> &mut LogBook {
        &mut self.logs
    }

    /// The server and the load generator, the lab's two nodes, up or not.
    fn selectable(&self) -> Vec<u64> {
        vec![SERVER, LOAD]
    }

    /// A slowloris flood's start goes on the timeline.
    fn command_queued(&mut self, cmd: &str, now_ms: u64) {
        if cmd.starts_with("forge slowloris") {
            self.on_attack_sent(now_ms, cmd);
        }
    }

    /// So does an attack's result.
    fn command_done(&mut self, cmd: &str, done: &ShellDone, now_ms: u64) {
        self.on_attack_result(now_ms, cmd, done.status, &done.output);
    }
}

crate::tui::dash::dashboard::dash_view!(ForgeModel, crate::forge::lab::cli::NAME, view::draw);

impl Dashboard<ForgeModel> {
    /// Whether `forge up` was queued and has not finished.
    pub fn starting(&self) -> bool {
        self.running("forge up")
    }

    /// The commands the dashboard offers (keys, hint bar and help come from here).
    pub fn commands(&self) -> Vec<Cmd> {
        let mut c = vec![
            Cmd::new(
                &[Key::Char('w')],
                "load",
                "forge load start|stop: keep-alive clients on/off",
                Action::Workload,
            ),
            Cmd::new(
                &[Key::Char('s')],
                "slowloris",
                "forge slowloris 100: slow request heads (408)",
                Action::Shell("forge slowloris 100"),
            ),
            Cmd::new(
                &[Key::Char('x')],
                "smuggle",
                "forge smuggle: a CL.TE request (400, closed)",
                Action::Shell("forge smuggle"),
            ),
            Cmd::new(
                &[Key::Char('g'), Key::Char('R')],
                "reload",
                "forge reload: new server pid, old drains",
                Action::Shell("forge reload"),
            ),
            Cmd::new(
                &[Key::Char('k')],
                "kill",
                "forge kill N: SIGKILL the node",
                Action::Shell("forge kill {node}"),
            ),
            Cmd::new(
                &[Key::Char('p')],
                "pause",
                "forge pause|resume N: SIGSTOP/SIGCONT",
                Action::PauseResume,
            ),
            Cmd::new(
                &[Key::Char('r')],
                "restart",
                "forge restart N: start the node again",
                Action::Shell("forge restart {node}"),
            ),
        ];
        c.extend(shared::shared_commands(
            &shared::SharedKeys {
                node_keys: &NODE_KEYS,
                node: "select node: 1 server, 2 load",
                ..shared::SharedKeys::DEFAULT
            },
            self.logs_shown(),
        ));
        c
    }

    /// Handles a dashboard action; returns the shell command to run, if any.
    pub fn act(&mut self, action: &Action) -> Option<String> {
        match action {
            Action::Shell(t) => Some(self.expand(t)),
            Action::PauseResume => Some(self.pause_or_resume("forge")),
            Action::Workload => Some(if self.model.load.running {
                "forge load stop".into()
            } else {
                "forge load start".into()
            }),
            a => self.navigate(a),
        }
    }
}

const NODE_KEYS: [Key; 2] = [Key::Char('1'), Key::Char('2')];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::keys::dispatch;
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

    fn key(c: char) -> KeyEvent {
        KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
    }

    #[test]
    fn every_action_key_is_a_forge_shell_command() {
        let mut v = ForgeView::new();
        v.selected = LOAD;
        let mut run = |c: char| {
            let action = dispatch(&v.commands(), &key(c)).expect("a command");
            v.act(&action)
        };
        assert_eq!(run('w').as_deref(), Some("forge load start"));
        assert_eq!(run('s').as_deref(), Some("forge slowloris 100"));
        assert_eq!(run('x').as_deref(), Some("forge smuggle"));
        assert_eq!(run('g').as_deref(), Some("forge reload"));
        assert_eq!(run('R').as_deref(), Some("forge reload"));
        assert_eq!(run('k').as_deref(), Some("forge kill 2"));
        assert_eq!(run('p').as_deref(), Some("forge pause 2"));
        assert_eq!(run('r').as_deref(), Some("forge restart 2"));
    }

    #[test]
    fn w_stops_running_load_and_only_two_nodes_are_selectable() {
        let mut v = ForgeView::new();
        v.model.load.running = true;
        assert_eq!(v.act(&Action::Workload).as_deref(), Some("forge load stop"));
        v.act(&Action::SelectNode(2));
        assert_eq!(v.selected, LOAD);
        v.act(&Action::SelectNode(7));
        assert_eq!(v.selected, LOAD);
        v.act(&Action::Down);
        assert_eq!(v.selected, SERVER);
    }
}
