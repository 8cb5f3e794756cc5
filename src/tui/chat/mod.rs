//! The secure multi-client (chat) lab's dashboard (`wirelab lab chat`): the server, the man in
//! the middle and the client bots live — each client's session state (handshaking,
//! established, rekeyed, broken, revoked), messages per second, delivery latency p50/p99, the
//! server's rejects by reason, what the proxy does and what that did, a room's last messages,
//! and a timeline. Every key is a shell command (`k` → `chat kill N`, `d` → `chat mitm drop
//! 10%`) run through the app's shell and shown in the command log, as in the other dashboards.
//!
//! - [`report`]: the nodes' state events decoded.
//! - [`model`]: the dashboard's model: the decoded reports, the timeline derived from them.
//! - [`view`]: drawing the tabs (overview, rooms, logs, timeline, commands).

pub mod model;
pub mod report;
pub mod view;

use super::dash::logbook::LogBook;
use super::dash::shared;
use super::dash::{DashModel, Dashboard};
use super::keys::{Action, Cmd, Key};
use super::shell_worker::ShellDone;
use crate::cluster::{NodeInfo, SupEvent};
use model::{ChatModel, EventKind};

/// The dashboard's tabs.
pub const TABS: [&str; 5] = ["Overview", "Rooms", "Logs", "Timeline", "Commands"];

/// The chat dashboard's state.
pub type ChatLabView = Dashboard<ChatModel>;

impl DashModel for ChatModel {
    const TABS: &'static [&'static str] = &TABS;
    /// The first client.
    const FIRST_NODE: u64 = 3;

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

    /// What only the command knows goes on the timeline: `chat check`'s verdict, a message
    /// said from the dashboard.
    fn command_done(&mut self, cmd: &str, done: &ShellDone, now_ms: u64) {
        if cmd.starts_with("chat check") {
            let (kind, text) = if done.status == 0 {
                let first = done
                    .output
                    .lines()
                    .find(|l| l.contains("identical"))
                    .unwrap_or("every room's log identical at every member");
                (EventKind::Good, format!("chat check: {}", first.trim()))
            } else {
                let why = done.output.lines().next().unwrap_or("logs differ");
                (
                    EventKind::Fault,
                    format!("chat check FAILED: {}", why.trim()),
                )
            };
            self.note(now_ms, kind, text);
        }
    }
}

crate::tui::dash::dashboard::dash_view!(ChatModel, crate::chat::lab::NAME, view::draw);

impl Dashboard<ChatModel> {
    /// The commands the dashboard offers: key dispatch, the hint bar and the `?` help all come
    /// from this one list.
    pub fn commands(&self) -> Vec<Cmd> {
        let shell = |keys: &'static [Key], label: &'static str, help: &'static str, cmd| {
            Cmd::new(keys, label, help, Action::Shell(cmd))
        };
        let quiet = |keys: &'static [Key], label: &'static str, help: &'static str, cmd| {
            Cmd::quiet(keys, label, help, Action::Shell(cmd))
        };
        let mut c = vec![
            shell(
                &[Key::Char('k')],
                "kill",
                "chat kill N: SIGKILL the selected node",
                "chat kill {node}",
            ),
            shell(
                &[Key::Char('r')],
                "restart",
                "chat restart N: a client resumes from its last id",
                "chat restart {node}",
            ),
            Cmd::new(
                &[Key::Char('p')],
                "pause",
                "chat pause|resume N: SIGSTOP/SIGCONT",
                Action::PauseResume,
            ),
            shell(
                &[Key::Char('d')],
                "drop",
                "chat mitm drop 10%: the proxy drops frames",
                "chat mitm drop 10%",
            ),
            shell(
                &[Key::Char('o')],
                "reorder",
                "chat mitm reorder: swap frames",
                "chat mitm reorder",
            ),
            shell(
                &[Key::Char('u')],
                "dup",
                "chat mitm duplicate: send frames twice",
                "chat mitm duplicate",
            ),
            shell(
                &[Key::Char('x')],
                "tamper",
                "chat mitm tamper: flip a bit",
                "chat mitm tamper",
            ),
            shell(
                &[Key::Char('c')],
                "cut",
                "chat mitm cut: reset every connection",
                "chat mitm cut",
            ),
            shell(
                &[Key::Char('h')],
                "clear",
                "chat mitm clear: stop every attack",
                "chat mitm clear",
            ),
            shell(
                &[Key::Char('e')],
                "leak-psk",
                "chat leak-psk NAME: the attacker learns the selected client's PSK",
                "chat leak-psk {name}",
            ),
            quiet(
                &[Key::Char('y')],
                "replay",
                "chat mitm replay: send a recorded frame again later",
                "chat mitm replay",
            ),
            quiet(
                &[Key::Char('i')],
                "inject",
                "chat mitm inject: forged frames and connections",
                "chat mitm inject",
            ),
            quiet(
                &[Key::Char('l')],
                "delay",
                "chat mitm delay 200: hold every frame 200 ms",
                "chat mitm delay 200",
            ),
            quiet(
                &[Key::Char('s')],
                "say",
                "chat say NAME TEXT: the selected client posts a message",
                "chat say {name} 'hello from the dashboard'",
            ),
            quiet(
                &[Key::Char('R')],
                "revoke",
                "chat revoke NAME: end its session, refuse its handshakes",
                "chat revoke {name}",
            ),
            quiet(
                &[Key::Char('E')],
                "enroll",
                "chat enroll NAME: a fresh PSK (lifts a revocation)",
                "chat enroll {name}",
            ),
            quiet(
                &[Key::Char('g')],
                "check",
                "chat check: every room's log identical at every member?",
                "chat check",
            ),
        ];
        c.extend(shared::shared_commands(
            &shared::SharedKeys {
                node: "select node N (1 server, 2 mitm, 3… clients)",
                merged: "logs: every node, or the selected one",
                ..shared::SharedKeys::DEFAULT
            },
            self.logs_shown(),
        ));
        c
    }

    /// The client a `{name}` command acts on: the selected node when it is a client, else
    /// the first client.
    pub fn target_client(&self) -> String {
        self.model
            .client_name(self.selected)
            .unwrap_or_else(|| "c1".into())
    }

    /// Handles a dashboard action; returns the shell command to run, if any.
    pub fn act(&mut self, action: &Action) -> Option<String> {
        match action {
            Action::Shell(t) => Some(self.expand(t).replace("{name}", &self.target_client())),
            Action::PauseResume => Some(self.pause_or_resume(crate::chat::lab::NAME)),
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
    fn every_action_key_is_a_chat_shell_command_on_the_selected_node() {
        let mut lab = ChatLabView::new();
        lab.selected = 5;
        let mut run = |c: char| {
            let action = dispatch(&lab.commands(), &key(c)).expect("a command");
            lab.act(&action)
        };
        assert_eq!(run('k').as_deref(), Some("chat kill 5"));
        assert_eq!(run('r').as_deref(), Some("chat restart 5"));
        assert_eq!(run('p').as_deref(), Some("chat pause 5"));
        assert_eq!(run('d').as_deref(), Some("chat mitm drop 10%"));
        assert_eq!(run('o').as_deref(), Some("chat mitm reorder"));
        assert_eq!(run('u').as_deref(), Some("chat mitm duplicate"));
        assert_eq!(run('x').as_deref(), Some("chat mitm tamper"));
        assert_eq!(run('c').as_deref(), Some("chat mitm cut"));
        assert_eq!(run('h').as_deref(), Some("chat mitm clear"));
        assert_eq!(run('e').as_deref(), Some("chat leak-psk c3"));
        assert_eq!(run('R').as_deref(), Some("chat revoke c3"));
        assert_eq!(run('g').as_deref(), Some("chat check"));
        assert_eq!(run('2'), None);
    }

    #[test]
    fn name_commands_on_the_server_act_on_the_first_client() {
        let mut lab = ChatLabView::new();
        lab.selected = 1;
        let action = dispatch(&lab.commands(), &key('e')).expect("a command");
        assert_eq!(lab.act(&action).as_deref(), Some("chat leak-psk c1"));
    }
}
