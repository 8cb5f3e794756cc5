//! The KDC triad lab's dashboard (`wirelab lab kdc`): three FROST authorities and the `files`
//! service, live. Its state is [`KdcLabView`]; every action is a shell command (`k` →
//! `kdc kill N`, `c` → `kdc compromise N`, `g` → `kdc forge alice files`) that the app runs
//! through its shell and shows in the command log, as in the other dashboards.
//!
//! - [`model`]: supervisor events and node snapshots → authority rows (state, share epoch),
//!   the signing rounds the authorities report (who committed, who signed, which share was
//!   rejected, whether the aggregate verified), tickets per second, the service's rejections
//!   by reason, the attacker's holdings and last forgery, a timeline and the logs.
//! - [`view`]: drawing the tabs (overview, logs, timeline, commands).

pub mod model;
pub mod view;

use super::dash::logbook::LogBook;
use super::dash::shared;
use super::dash::{DashModel, Dashboard};
use super::keys::{Action, Cmd, Key};
use crate::cluster::{NodeInfo, SupEvent, Supervisor};
use model::KdcModel;

/// The dashboard's tabs.
pub const TABS: [&str; 4] = ["Overview", "Logs", "Timeline", "Commands"];

/// The KDC dashboard's state.
pub type KdcLabView = Dashboard<KdcModel>;

impl DashModel for KdcModel {
    const TABS: &'static [&'static str] = &TABS;
    const FIRST_NODE: u64 = 1;

    fn fold(&mut self, ev: &SupEvent) {
        self.on_event(ev);
    }

    fn update(&mut self, nodes: Vec<NodeInfo>, now_ms: u64) {
        self.refresh(nodes, now_ms);
    }

    fn forget(&mut self, now_ms: u64) {
        self.forget_lab(now_ms);
    }

    fn nodes(&self) -> &[NodeInfo] {
        &self.nodes
    }

    fn log_book(&mut self) -> &mut LogBook {
        &mut self.logs
    }

    fn attached(&mut self, sup: &Supervisor, now_ms: u64) {
        self.attach(sup);
        self.logs.backfill_from(sup, now_ms);
    }
}

crate::tui::dash::dashboard::dash_view!(KdcModel, crate::kdc::cli::NAME, view::draw);

impl Dashboard<KdcModel> {
    /// The commands the dashboard offers: key dispatch, the hint bar and the `?` help all come
    /// from this one list.
    pub fn commands(&self) -> Vec<Cmd> {
        macro_rules! shell {
            ($key:literal, $label:literal, $help:literal, $cmd:literal $(,)?) => {
                Cmd::new(&[Key::Char($key)], $label, $help, Action::Shell($cmd))
            };
        }
        let mut c = vec![
            shell!(
                'a',
                "access",
                "kdc access alice files: login, ticket, AP exchange",
                "kdc access alice files",
            ),
            shell!(
                'k',
                "kill",
                "kdc kill N: SIGKILL the selected node",
                "kdc kill {node}",
            ),
            Cmd::new(
                &[Key::Char('p')],
                "pause",
                "kdc pause|resume N: SIGSTOP/SIGCONT",
                Action::PauseResume,
            ),
            shell!(
                'r',
                "restart",
                "kdc restart N: restart it on its data dir",
                "kdc restart {node}",
            ),
            shell!(
                'n',
                "partition",
                "kdc partition N: cut it off from clients and peers",
                "kdc partition {node}",
            ),
            shell!('h', "heal", "kdc heal: end every partition", "kdc heal"),
            shell!(
                'c',
                "compromise",
                "kdc compromise N: the attacker takes its share and database",
                "kdc compromise {node}",
            ),
            shell!(
                'g',
                "forge",
                "kdc forge alice files: mint a ticket with what the attacker holds",
                "kdc forge alice files",
            ),
            shell!(
                'e',
                "refresh",
                "kdc refresh: re-randomize every share (group key unchanged)",
                "kdc refresh",
            ),
            shell!(
                'x',
                "nonce reuse",
                "kdc attack nonce-reuse --victim N: recover a share from reused nonces",
                "kdc attack nonce-reuse --victim {node}",
            ),
            shell!(
                'y',
                "replay",
                "kdc replay: replay a captured authenticator to the service",
                "kdc replay",
            ),
            shell!(
                'b',
                "bench",
                "kdc bench --duration 2s: tickets/s and latency, 8 clients",
                "kdc bench --duration 2s",
            ),
        ];
        c.extend(shared::shared_commands(
            &shared::SharedKeys {
                node: "select node N (1-3 authorities, 4 the service)",
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
            Action::PauseResume => Some(self.pause_or_resume(crate::kdc::cli::NAME)),
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
    fn every_action_key_is_a_kdc_shell_command() {
        let mut lab = KdcLabView::new();
        lab.selected = 2;
        let mut run = |c: char| {
            let action = dispatch(&lab.commands(), &key(c)).expect("a command");
            lab.act(&action)
        };
        assert_eq!(run('k').as_deref(), Some("kdc kill 2"));
        assert_eq!(run('p').as_deref(), Some("kdc pause 2"));
        assert_eq!(run('r').as_deref(), Some("kdc restart 2"));
        assert_eq!(run('n').as_deref(), Some("kdc partition 2"));
        assert_eq!(run('h').as_deref(), Some("kdc heal"));
        assert_eq!(run('c').as_deref(), Some("kdc compromise 2"));
        assert_eq!(run('g').as_deref(), Some("kdc forge alice files"));
        assert_eq!(run('e').as_deref(), Some("kdc refresh"));
        assert_eq!(
            run('x').as_deref(),
            Some("kdc attack nonce-reuse --victim 2")
        );
        assert_eq!(run('a').as_deref(), Some("kdc access alice files"));
        assert_eq!(run('3'), None);
    }
}
