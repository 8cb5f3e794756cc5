//! The drone-fleet lab's dashboard (`wirelab lab uav`): the fleet on a live map, each drone's
//! mode, link and battery, link stats, the group-key epoch, the attacks refused and a
//! timeline. Every action is a shell command (`k` → `uav kill N`, `a` → `uav attack replay`)
//! that the app runs through its shell and shows in the command log.
//!
//! - [`model`]: supervisor events and node snapshots → drone rows, trails, timeline, logs.
//! - [`view`]: drawing the tabs (overview with the map, logs, timeline, commands).

pub mod model;
pub mod view;

use super::dash::logbook::LogBook;
use super::dash::shared;
use super::dash::{DashModel, Dashboard};
use super::keys::{Action, Cmd, Key};
use crate::cluster::{NodeInfo, SupEvent};
use model::UavModel;

/// The dashboard's tabs.
pub const TABS: [&str; 4] = ["Overview", "Logs", "Timeline", "Commands"];

/// The drone-fleet dashboard's state.
pub type UavLabView = Dashboard<UavModel>;

impl DashModel for UavModel {
    const TABS: &'static [&'static str] = &TABS;
    /// The first drone.
    const FIRST_NODE: u64 = 2;

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
}

crate::tui::dash::dashboard::dash_view!(UavModel, crate::uav::lab::NAME, view::draw);

/// (key, label, help, command) of the dashboard's own commands.
#[allow(clippy::type_complexity)]
const KEYS: &[(&[Key], &str, &str, &str)] = &[
    (
        &[Key::Char('k')],
        "kill",
        "uav kill N: SIGKILL the selected node",
        "uav kill {node}",
    ),
    (
        &[Key::Char('r')],
        "restart",
        "uav restart N: start it again on its data dir",
        "uav restart {node}",
    ),
    (
        &[Key::Char('n')],
        "partition",
        "uav partition N: cut the selected node off",
        "uav partition {node}",
    ),
    (
        &[Key::Char('h')],
        "heal",
        "uav heal: end every partition",
        "uav heal",
    ),
    (
        &[Key::Char('o')],
        "orbit",
        "uav mission orbit: one broadcast under the fleet key",
        "uav mission orbit",
    ),
    (
        &[Key::Char('s')],
        "survey",
        "uav mission survey",
        "uav mission survey",
    ),
    (
        &[Key::Char('w')],
        "formation",
        "uav mission formation",
        "uav mission formation",
    ),
    (
        &[Key::Char('b')],
        "rtl all",
        "uav broadcast rtl: every drone returns to launch",
        "uav broadcast rtl",
    ),
    (
        &[Key::Char('l')],
        "land all",
        "uav broadcast land",
        "uav broadcast land",
    ),
    (
        &[Key::Char('y')],
        "low battery",
        "uav battery N 15: the drone's charge drops to 15%, and it returns to launch",
        "uav battery {node} 15",
    ),
    (
        &[Key::Char('x')],
        "revoke",
        "uav revoke N: rotate the fleet key without it",
        "uav revoke {node}",
    ),
    (
        &[Key::Char('e')],
        "enroll",
        "uav enroll N: a fresh key, and it rejoins",
        "uav enroll {node}",
    ),
    (
        &[Key::Char('a')],
        "replay",
        "uav attack replay: a captured record sent again",
        "uav attack replay",
    ),
    (
        &[Key::Char('z')],
        "tamper",
        "uav attack tamper: a flipped byte",
        "uav attack tamper",
    ),
    (
        &[Key::Char('g')],
        "rogue",
        "uav attack rogue: a drone with an unenrolled key",
        "uav attack rogue",
    ),
    (
        &[Key::Char('i')],
        "mitm",
        "uav attack mitm: a swapped handshake key",
        "uav attack mitm",
    ),
    (
        &[Key::Char('d')],
        "downgrade",
        "uav attack downgrade: a weaker group offered",
        "uav attack downgrade",
    ),
];

impl Dashboard<UavModel> {
    /// The commands the dashboard offers: key dispatch, the hint bar and the `?` help all come
    /// from this one list.
    pub fn commands(&self) -> Vec<Cmd> {
        let mut c: Vec<Cmd> = KEYS
            .iter()
            .map(|(k, label, help, cmd)| Cmd::new(k, label, help, Action::Shell(cmd)))
            .collect();
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
    fn every_action_key_is_a_uav_shell_command() {
        let mut lab = UavLabView::new();
        lab.selected = 3;
        let mut run = |c: char| {
            let action = dispatch(&lab.commands(), &key(c)).expect("a command");
            lab.act(&action)
        };
        assert_eq!(run('k').as_deref(), Some("uav kill 3"));
        assert_eq!(run('x').as_deref(), Some("uav revoke 3"));
        assert_eq!(run('a').as_deref(), Some("uav attack replay"));
        assert_eq!(run('o').as_deref(), Some("uav mission orbit"));
        assert_eq!(run('2'), None);
    }
}
