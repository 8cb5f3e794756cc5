//! The one-time secret lab's dashboard (`wirelab lab secret`): the courier and the link-scanner
//! bot, live. Its state is [`SecretLabView`]; every action is a shell command run through the
//! dashboard's one persistent shell, so the link `s` sends is kept in the shell variable `url`
//! and the next keys use it (`o` → `secret open "$url"`, `x` → `secret race "$url"`,
//! `t` tampers with it then opens it, `n` snoops it), as the tour's steps do.
//!
//! - [`model`]: supervisor events, the courier's counters, the scanner's reports and the
//!   commands' output → secrets created / claimed / expired / burned, scanner fetches, races,
//!   tamper detections, the server's view next to the client's, a timeline and the logs.
//! - [`view`]: drawing the tabs (overview, logs, timeline, commands).

pub mod model;
pub mod view;

use super::dash::logbook::LogBook;
use super::dash::shared;
use super::dash::{DashModel, Dashboard};
use super::keys::{Action, Cmd, Key};
use crate::cluster::{NodeInfo, SupEvent};
use crate::tui::shell_worker::ShellDone;
use model::SecretModel;

/// The dashboard's tabs.
pub const TABS: [&str; 4] = ["Overview", "Logs", "Timeline", "Commands"];

/// The command `s` runs: a new secret, its link kept in `$url` for the next keys.
pub const SEND: &str = "url=$(echo 'sent from the dashboard' | secret send) && echo \"$url\"";

/// The secret dashboard's state.
pub type SecretLabView = Dashboard<SecretModel>;

impl DashModel for SecretModel {
    const TABS: &'static [&'static str] = &TABS;
    const FIRST_NODE: u64 = crate::secret::lab::SERVER;

    fn fold(&mut self, ev: &SupEvent) {
        self.on_event(ev);
    }

    fn update(&mut self, nodes: Vec<NodeInfo>, _now_ms: u64) {
        self.refresh(nodes);
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

    fn command_done(&mut self, cmd: &str, done: &ShellDone, now_ms: u64) {
        self.on_command_done(cmd, done, now_ms);
    }
}

crate::tui::dash::dashboard::dash_view!(SecretModel, crate::secret::lab::NAME, view::draw);

impl Dashboard<SecretModel> {
    /// The commands the dashboard offers: key dispatch, the hint bar and the `?` help all come
    /// from this one list.
    pub fn commands(&self) -> Vec<Cmd> {
        macro_rules! shell {
            ($key:literal, $label:literal, $help:literal, $cmd:expr $(,)?) => {
                Cmd::new(&[Key::Char($key)], $label, $help, Action::Shell($cmd))
            };
        }
        let mut c = vec![
            shell!(
                's',
                "send",
                "secret send: a new secret; its link is kept in $url for the next keys",
                SEND,
            ),
            shell!(
                'o',
                "open",
                "secret open \"$url\": claim and decrypt it (a second open is refused)",
                "secret open \"$url\"",
            ),
            shell!(
                'c',
                "scan",
                "secret scan \"$url\": the scanner bot previews the link; the secret survives",
                "secret scan \"$url\"",
            ),
            shell!(
                'x',
                "race",
                "secret race \"$url\" --claimers 100: exactly one claim wins",
                "secret race \"$url\" --claimers 100",
            ),
            shell!(
                'z',
                "tamper",
                "secret tamper \"$url\", then open it: an authentication failure, not garbage",
                "secret tamper \"$url\" && secret open \"$url\"",
            ),
            shell!(
                'n',
                "snoop",
                "secret snoop \"$url\" --json: the server's view next to the client's",
                "secret snoop \"$url\" --json",
            ),
            shell!(
                'k',
                "kill",
                "secret kill N: SIGKILL the selected node",
                "secret kill {node}",
            ),
            Cmd::new(
                &[Key::Char('p')],
                "pause",
                "secret pause|resume N: SIGSTOP/SIGCONT",
                Action::PauseResume,
            ),
            shell!(
                'r',
                "restart",
                "secret restart N: restart it (the courier reads its store back from disk)",
                "secret restart {node}",
            ),
        ];
        c.extend(shared::shared_commands(
            &shared::SharedKeys {
                node: "select node N (1 the courier, 2 the link scanner)",
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
            Action::PauseResume => Some(self.pause_or_resume(crate::secret::lab::NAME)),
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
    fn every_action_key_is_a_secret_shell_command_on_the_last_link() {
        let mut lab = SecretLabView::new();
        let mut run = |c: char| {
            let action = dispatch(&lab.commands(), &key(c)).expect("a command");
            lab.act(&action)
        };
        assert_eq!(run('s').as_deref(), Some(SEND));
        assert_eq!(run('o').as_deref(), Some("secret open \"$url\""));
        assert_eq!(run('c').as_deref(), Some("secret scan \"$url\""));
        assert_eq!(
            run('x').as_deref(),
            Some("secret race \"$url\" --claimers 100")
        );
        assert_eq!(
            run('z').as_deref(),
            Some("secret tamper \"$url\" && secret open \"$url\"")
        );
        assert_eq!(run('n').as_deref(), Some("secret snoop \"$url\" --json"));
        assert_eq!(run('k').as_deref(), Some("secret kill 1"));
        assert_eq!(run('p').as_deref(), Some("secret pause 1"));
        assert_eq!(run('r').as_deref(), Some("secret restart 1"));
    }
}
