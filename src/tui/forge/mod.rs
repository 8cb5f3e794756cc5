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
//! panes are the Raft dashboard's ([`crate::tui::lab`]).

pub mod model;
pub mod series;
pub mod timeline;
pub mod view;

use tokio::sync::broadcast;

use super::keys::{Action, Cmd, Key};
use super::lab::CommandRecord;
use super::lab::logs::LogPane;
use super::lab::shared;
use super::shell_worker::ShellDone;
use crate::cluster::{NodeStatus, SupEvent, Supervisor};
use crate::forge::lab::{LOAD, SERVER};
use model::ForgeModel;

/// The dashboard's tabs.
pub const TABS: [&str; 4] = ["Overview", "Logs", "Timeline", "Commands"];

/// Slowloris connections `s` opens.
pub const SLOWLORIS_CONNECTIONS: usize = 100;

/// The forge dashboard's state.
pub struct ForgeView {
    /// The model.
    pub model: ForgeModel,
    /// The current tab (index into [`TABS`]).
    pub tab: usize,
    /// The selected node: 1 the server, 2 the load generator.
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

impl Default for ForgeView {
    fn default() -> Self {
        Self::new()
    }
}

impl ForgeView {
    /// A dashboard waiting for its lab.
    pub fn new() -> Self {
        Self {
            model: ForgeModel::new(),
            tab: 0,
            selected: SERVER,
            logs: LogPane::default(),
            commands: Vec::new(),
            scroll: 0,
            sup: None,
            events: None,
        }
    }

    /// Attaches the running lab: its nodes' log lines so far (the tail of each `node-N.log`),
    /// then its events from now on. It subscribes before reading the files, so no line falls
    /// between the two; the model drops an event that repeats a line just read.
    pub fn attach(&mut self, sup: Supervisor) {
        self.events = Some(sup.subscribe());
        let now = super::clock::now_ms();
        for id in sup.ids() {
            let path = sup.run_dir().join(format!("node-{id}.log"));
            if let Some(text) = log_tail(&path, LOG_BACKFILL_BYTES) {
                self.model.backfill_logs(id, &text, now);
            }
        }
        self.sup = Some(sup);
    }

    /// Forgets a stopped lab.
    pub fn detach(&mut self) {
        self.sup = None;
        self.events = None;
        self.model.detach(super::clock::now_ms());
    }

    /// Drains pending supervisor events into the model; true when any arrived.
    pub fn drain_events(&mut self) -> bool {
        shared::drain_events(&mut self.events, |ev| self.model.on_event(ev))
    }

    /// Fresh node snapshots.
    pub fn refresh(&mut self, now_ms: u64) {
        if let Some(sup) = &self.sup {
            self.model.refresh(sup.nodes(), now_ms);
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

    /// Whether the lab's nodes are known (it is up and attached).
    pub fn up(&self) -> bool {
        !self.model.nodes.is_empty()
    }

    /// Whether `forge up` was queued and has not finished.
    pub fn starting(&self) -> bool {
        self.commands
            .iter()
            .any(|c| c.cmd.starts_with("forge up") && c.status.is_none())
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
                Some(NodeStatus::Paused) => format!("forge resume {n}"),
                _ => format!("forge pause {n}"),
            }),
            Action::Workload => Some(if self.model.load.running {
                "forge load stop".into()
            } else {
                "forge load start".into()
            }),
            Action::SelectNode(id) => {
                if *id == SERVER || *id == LOAD {
                    self.selected = *id;
                }
                None
            }
            a => {
                let nav =
                    shared::navigate(a, &TABS, &mut self.tab, &mut self.scroll, &mut self.logs);
                if let shared::Navigated::StepNode(_) = nav {
                    // Two nodes: up and down both go to the other one.
                    self.selected = if self.selected == SERVER {
                        LOAD
                    } else {
                        SERVER
                    };
                }
                None
            }
        }
    }

    /// Records a queued command (and, for a slowloris flood, its start in the timeline).
    pub fn record(&mut self, id: u64, cmd: &str, source: &str) {
        shared::push_command(&mut self.commands, id, cmd, source);
        self.scroll = 0;
        if cmd.starts_with("forge slowloris") {
            self.model.on_attack_sent(super::clock::now_ms(), cmd);
        }
    }

    /// Fills in a finished command (an attack's result also goes to the timeline); true if it
    /// was one of ours.
    pub fn finish(&mut self, done: &ShellDone) -> bool {
        let Some(c) = shared::finish_command(&mut self.commands, done) else {
            return false;
        };
        let cmd = c.cmd.clone();
        self.model
            .on_attack_result(super::clock::now_ms(), &cmd, done.status, &done.output);
        true
    }
}

const NODE_KEYS: [Key; 2] = [Key::Char('1'), Key::Char('2')];

/// How much of each node's log file [`ForgeView::attach`] reads.
const LOG_BACKFILL_BYTES: u64 = 64 * 1024;

/// The last `max` bytes of the file at `path`, from its first whole line.
fn log_tail(path: &std::path::Path, max: u64) -> Option<String> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(path).ok()?;
    let len = f.metadata().ok()?.len();
    let start = len.saturating_sub(max);
    f.seek(SeekFrom::Start(start)).ok()?;
    let mut buf = Vec::new();
    f.take(max).read_to_end(&mut buf).ok()?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    Some(if start > 0 {
        text.split_once('\n')
            .map_or(String::new(), |(_, rest)| rest.to_string())
    } else {
        text
    })
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
