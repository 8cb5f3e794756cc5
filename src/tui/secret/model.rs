//! The secret dashboard's model: supervisor events, the courier's and the scanner's `state`
//! reports, and the output of the lab's commands run from the dashboard (the last link sent,
//! race outcomes, tamper detections by a reader, what the scanner's preview left, the last
//! `secret snoop URL --json`) → counters, panels, a timeline and the logs.
//!
//! The server knows what it stored and handed out; only a client knows whether a claim
//! decrypted. So tamper detections and race outcomes come from the commands' own output
//! (the lines `secret open` and `secret race` print), the counters from the courier.

use std::collections::{BTreeMap, VecDeque};

use serde_json::{Map, Value};

use crate::cluster::event::NodeEvent;
use crate::cluster::{NodeInfo, NodeStatus, SupEvent, SupEventKind};
use crate::secret::format::{self, FormatError};
use crate::secret::lab::{SCANNER, SERVER, STORE};
use crate::tui::dash::TIMELINE_CAPACITY;
use crate::tui::dash::logbook::LogBook;
use crate::tui::shell_worker::ShellDone;

/// Races kept.
pub const RACES_KEPT: usize = 20;
/// Characters of a snooped view kept (the panel shows fewer).
const VIEW_KEPT: usize = 2048;

/// What a timeline entry is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// A fault or an attack: kill, pause, tamper, a violated property.
    Fault,
    /// A repair or a property holding: restart, resume, a race with one winner.
    Good,
    /// Anything else.
    Info,
}

/// One timeline entry.
#[derive(Clone, Debug)]
pub struct Entry {
    /// Unix ms.
    pub at_ms: u64,
    /// Kind.
    pub kind: EventKind,
    /// Text.
    pub text: String,
}

/// One race, as `secret race` reported it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Race {
    /// Concurrent claimers.
    pub claimers: u64,
    /// 200s.
    pub winners: u64,
    /// 404s.
    pub not_found: u64,
    /// Anything else.
    pub other: u64,
    /// Views burned by losers (must be 0).
    pub burned: u64,
    /// Whether the race held its property (the command's exit status was 0).
    pub ok: bool,
    /// When it finished.
    pub at_ms: u64,
}

/// The last `secret snoop URL --json`: the server's view of a secret next to the client's.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snoop {
    /// The secret's id prefix.
    pub id: String,
    /// The store it came from.
    pub store: String,
    /// The ciphertext the server holds (base64).
    pub server_view: String,
    /// What the client decrypts with the key from the link (None: it does not decrypt).
    pub client_view: Option<String>,
    /// Bytes searched on the server's side for the key, the token and the plaintext.
    pub searched_bytes: u64,
    /// Whether the key, the token or the plaintext was found there.
    pub leaked: bool,
    /// When it was taken.
    pub at_ms: u64,
}

/// What the readers of the dashboard's commands saw.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Readers {
    /// Authentication failures (a tampered ciphertext, or a wrong key): detections.
    pub tamper_detected: u64,
    /// Refusals: already opened, expired, unknown.
    pub refused: u64,
    /// Previews after which the secret survived.
    pub scans_survived: u64,
    /// Previews that burned it (must stay 0).
    pub scans_burned: u64,
}

/// The dashboard's model.
#[derive(Default)]
pub struct SecretModel {
    /// Node snapshots.
    pub nodes: Vec<NodeInfo>,
    /// Node logs.
    pub logs: LogBook,
    /// Timeline, oldest first.
    pub timeline: VecDeque<Entry>,
    /// Races, newest last.
    pub races: VecDeque<Race>,
    /// The last snoop.
    pub snoop: Option<Snoop>,
    /// What readers saw.
    pub readers: Readers,
    /// The id prefix of the last link the dashboard's commands created.
    pub last_link: Option<String>,
    /// Per node: last status, for the timeline.
    status: BTreeMap<u64, NodeStatus>,
}

/// A node's role word.
pub fn who(n: u64) -> &'static str {
    match n {
        SERVER => "courier (node 1)",
        SCANNER => "link scanner (node 2)",
        STORE => "redis (node 3)",
        _ => "node",
    }
}

/// A counter of a node's state report.
pub fn count(state: &Map<String, Value>, key: &str) -> u64 {
    state.get(key).and_then(Value::as_u64).unwrap_or(0)
}

impl SecretModel {
    /// Appends to the timeline.
    pub fn note(&mut self, at_ms: u64, kind: EventKind, text: String) {
        self.timeline.push_back(Entry { at_ms, kind, text });
        while self.timeline.len() > TIMELINE_CAPACITY {
            self.timeline.pop_front();
        }
    }

    /// Folds one supervisor event in.
    pub fn on_event(&mut self, ev: &SupEvent) {
        let (n, at) = (ev.node, ev.at_ms);
        match &ev.kind {
            SupEventKind::Spawned { pid } => {
                if self.status.insert(n, NodeStatus::Running).is_some() {
                    let text = if n == SERVER {
                        format!(
                            "{} restarted (pid {pid}): its store read back from disk",
                            who(n)
                        )
                    } else {
                        format!("{} restarted (pid {pid})", who(n))
                    };
                    self.note(at, EventKind::Good, text);
                }
                self.logs
                    .push(at, n, "info", format!("started (pid {pid})"));
            }
            SupEventKind::Killed => {
                self.status.insert(n, NodeStatus::Killed);
                self.note(at, EventKind::Fault, format!("{} killed (SIGKILL)", who(n)));
            }
            SupEventKind::Paused => {
                self.status.insert(n, NodeStatus::Paused);
                self.note(at, EventKind::Fault, format!("{} paused (SIGSTOP)", who(n)));
            }
            SupEventKind::Resumed => {
                self.status.insert(n, NodeStatus::Running);
                self.note(at, EventKind::Good, format!("{} resumed", who(n)));
            }
            SupEventKind::Exited { code, signal } => {
                if self.status.get(&n) != Some(&NodeStatus::Killed) {
                    self.status.insert(n, NodeStatus::Exited);
                    let how = match (code, signal) {
                        (Some(c), _) => format!("exited with status {c}"),
                        (_, Some(s)) => format!("ended by signal {s}"),
                        _ => "ended".into(),
                    };
                    self.note(at, EventKind::Info, format!("{} {how}", who(n)));
                }
            }
            SupEventKind::Faults { .. } => {}
            SupEventKind::Stderr { line } => self.logs.push(at, n, "stderr", line.clone()),
            SupEventKind::Node { event } => {
                if let NodeEvent::Log { level, msg } = event {
                    self.logs.push(at, n, level, msg.clone());
                    if n == SERVER {
                        self.on_server_log(at, msg);
                    }
                }
            }
        }
    }

    /// The courier's notable log lines become timeline entries.
    fn on_server_log(&mut self, at: u64, msg: &str) {
        let kind = if msg.starts_with("attacker ") {
            EventKind::Fault
        } else if msg.starts_with("created ")
            || msg.starts_with("claimed ")
            || msg.starts_with("expired ")
        {
            EventKind::Info
        } else {
            return;
        };
        self.note(at, kind, msg.to_string());
    }

    /// Takes fresh node snapshots.
    pub fn refresh(&mut self, nodes: Vec<NodeInfo>) {
        self.nodes = nodes;
    }

    /// The lab stopped.
    pub fn forget_lab(&mut self, now_ms: u64) {
        if !self.nodes.is_empty() {
            self.note(now_ms, EventKind::Info, "lab stopped".into());
        }
        self.nodes.clear();
        self.status.clear();
    }

    /// The courier's node.
    pub fn server(&self) -> Option<&NodeInfo> {
        self.nodes.iter().find(|n| n.id == SERVER)
    }

    /// The scanner's node.
    pub fn scanner(&self) -> Option<&NodeInfo> {
        self.nodes.iter().find(|n| n.id == SCANNER)
    }

    /// The lab's own Redis (`secret up --store redis`), if it has one.
    pub fn redis(&self) -> Option<&NodeInfo> {
        self.nodes.iter().find(|n| n.id == STORE)
    }

    /// A counter of the courier's last report (0 without one).
    pub fn server_count(&self, key: &str) -> u64 {
        self.server().map_or(0, |n| count(&n.state, key))
    }

    /// Views burned without reaching a reader: the courier's count of views taken from the
    /// store but not delivered, plus what races measured (claims the server answered minus
    /// winners). Must stay 0.
    pub fn burned(&self) -> u64 {
        self.server_count("burned_undelivered") + self.races.iter().map(|r| r.burned).sum::<u64>()
    }

    /// A dashboard command finished: reads what its output says.
    pub fn on_command_done(&mut self, cmd: &str, done: &ShellDone, at: u64) {
        let out = &done.output;
        let open_err = |e: &str| format!("secret: open: {e}");
        let tampered = open_err(&FormatError::Tampered.to_string());
        for line in out.lines() {
            let line = line.trim_end();
            if let Some(url) = line.strip_prefix("http://")
                && let Ok(link) = format::Link::parse(&format!("http://{url}"))
            {
                self.last_link = Some(format::id_prefix(&link.id));
            } else if let Some([claimers, winners, not_found, other, burned]) =
                crate::secret::verbs::parse_race_summary(line)
            {
                let ok = done.status == 0 && burned == 0;
                self.races.push_back(Race {
                    claimers,
                    winners,
                    not_found,
                    other,
                    burned,
                    ok,
                    at_ms: at,
                });
                while self.races.len() > RACES_KEPT {
                    self.races.pop_front();
                }
                let text = format!(
                    "race: {claimers} claimers → {winners} won, {not_found} got 404{}; burned by losers: {burned}",
                    if other > 0 {
                        format!(", {other} other")
                    } else {
                        String::new()
                    }
                );
                let kind = if ok {
                    EventKind::Good
                } else {
                    EventKind::Fault
                };
                self.note(at, kind, text);
            } else if line == tampered {
                self.readers.tamper_detected += 1;
                let text = "reader: authentication failed, the altered ciphertext was refused (nothing decrypted)";
                self.note(at, EventKind::Good, text.into());
            } else if let Some(why) = line.strip_prefix("secret: open: ")
                && ["already opened", "expired", "no such secret"]
                    .iter()
                    .any(|w| why.starts_with(w))
            {
                self.readers.refused += 1;
                self.note(at, EventKind::Info, format!("reader refused: {why}"));
            } else if line.starts_with("the secret survived the preview") {
                self.readers.scans_survived += 1;
                let text = "scanner previewed the link: the secret survived";
                self.note(at, EventKind::Good, text.into());
            } else if line.starts_with("the preview burned the secret") {
                self.readers.scans_burned += 1;
                let text = "scanner previewed the link: the secret BURNED";
                self.note(at, EventKind::Fault, text.into());
            } else if line.starts_with('{')
                && let Ok(v) = serde_json::from_str::<Value>(line)
                && let Some(s) = snoop_of(&v, at)
            {
                let text = if s.leaked {
                    format!("snoop {}: LEAK on the server's side", s.id)
                } else {
                    format!(
                        "snoop {}: the server holds ciphertext only ({} bytes searched)",
                        s.id, s.searched_bytes
                    )
                };
                let kind = if s.leaked {
                    EventKind::Fault
                } else {
                    EventKind::Good
                };
                self.note(at, kind, text);
                self.snoop = Some(s);
            }
        }
        let _ = cmd;
    }
}

fn shorten(s: &str) -> String {
    s.chars().take(VIEW_KEPT).collect()
}

/// The snoop of `secret snoop URL --json`'s object, if it has one.
pub fn snoop_of(v: &Value, at_ms: u64) -> Option<Snoop> {
    let s = v.get("secret")?;
    let flag = |k: &str| s[k].as_bool() == Some(true);
    Some(Snoop {
        id: s["id"].as_str()?.to_string(),
        store: v["store"].as_str().unwrap_or("?").to_string(),
        server_view: shorten(s["server_view"].as_str()?),
        client_view: s["client_view"].as_str().map(shorten),
        searched_bytes: s["searched_bytes"].as_u64().unwrap_or(0),
        leaked: flag("key_found") || flag("token_found") || flag("plaintext_found"),
        at_ms,
    })
}

/// A node's state word: up, down, paused.
pub fn state_word(n: &NodeInfo) -> &'static str {
    match n.status {
        NodeStatus::Running if !n.ready => "starting",
        NodeStatus::Running => "up",
        NodeStatus::Paused => "paused",
        _ => "down",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::verbs::{RaceOutcome, race_summary};
    use serde_json::json;
    use std::time::Duration;

    fn done(status: i32, output: &str) -> ShellDone {
        ShellDone {
            id: 1,
            status,
            output: output.into(),
            elapsed: Duration::from_millis(5),
        }
    }

    #[test]
    fn command_output_feeds_races_readers_links_and_the_snoop() {
        let mut m = SecretModel::default();
        m.on_command_done(
            "url=$(echo hi | secret send) && echo \"$url\"",
            &done(0, "http://127.0.0.1:4000/s/AAAAAAAAAAAAAAAAAAAAAA#AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n"),
            1,
        );
        assert_eq!(m.last_link.as_deref(), Some("AAAAAA…"));
        let o = RaceOutcome {
            winners: 1,
            not_found: 99,
            ..RaceOutcome::default()
        };
        let out = format!(
            "{}\n  the winner's ciphertext decrypted with the link's key\nexactly 1 winner(s), as allowed: the claim is atomic\n",
            race_summary(100, &o, 0)
        );
        m.on_command_done("secret race \"$url\"", &done(0, &out), 2);
        assert_eq!(m.races.len(), 1);
        assert_eq!(
            (m.races[0].winners, m.races[0].not_found, m.races[0].ok),
            (1, 99, true)
        );
        assert_eq!(m.burned(), 0);
        let tampered = format!("secret: open: {}\n", FormatError::Tampered);
        m.on_command_done("secret open \"$url\"", &done(1, &tampered), 3);
        m.on_command_done(
            "secret open \"$url\"",
            &done(
                1,
                "secret: open: already opened: this secret was read and deleted\n",
            ),
            4,
        );
        assert_eq!(m.readers.tamper_detected, 1);
        assert_eq!(m.readers.refused, 1);
        m.on_command_done(
            "secret scan \"$url\"",
            &done(0, "link scanner (node 2) previewed the link, as chat apps do:\nthe secret survived the preview: still 1 view(s) left for its reader\n"),
            5,
        );
        assert_eq!(m.readers.scans_survived, 1);
        let snoop = json!({"store": "embedded", "live": 1, "secret": {
            "id": "AAAAAA…", "server_view": "q83v", "client_view": "hi\n",
            "searched_bytes": 900, "key_found": false, "token_found": false,
            "plaintext_found": false}});
        m.on_command_done(
            "secret snoop \"$url\" --json",
            &done(0, &format!("{snoop}\n")),
            6,
        );
        let s = m.snoop.as_ref().expect("a snoop");
        assert_eq!(s.server_view, "q83v");
        assert_eq!(s.client_view.as_deref(), Some("hi\n"));
        assert!(!s.leaked);
        let texts: Vec<&str> = m.timeline.iter().map(|e| e.text.as_str()).collect();
        assert!(
            texts
                .iter()
                .any(|t| t.starts_with("race: 100 claimers → 1 won"))
        );
        assert!(
            texts
                .iter()
                .any(|t| t.starts_with("reader: authentication failed"))
        );
        assert!(texts.iter().any(|t| t.contains("ciphertext only")));
        // A race that burned a view is a violation, whatever the exit status said.
        let bad = RaceOutcome {
            winners: 1,
            not_found: 98,
            ..RaceOutcome::default()
        };
        m.on_command_done("", &done(0, &race_summary(100, &bad, 1)), 7);
        assert!(!m.races[1].ok);
        assert_eq!(m.burned(), 1);
    }

    #[test]
    fn server_logs_and_supervisor_events_make_the_timeline() {
        let mut m = SecretModel::default();
        let ev = |node, at_ms, kind| SupEvent { node, at_ms, kind };
        m.on_event(&ev(SERVER, 1, SupEventKind::Spawned { pid: 10 }));
        m.on_event(&ev(
            SERVER,
            2,
            SupEventKind::Node {
                event: NodeEvent::Log {
                    level: "info".into(),
                    msg: "created AAAAAA… (3 bytes of ciphertext, 1 view(s), ttl 3600s)".into(),
                },
            },
        ));
        m.on_event(&ev(SERVER, 3, SupEventKind::Killed));
        m.on_event(&ev(SERVER, 4, SupEventKind::Spawned { pid: 11 }));
        let texts: Vec<&str> = m.timeline.iter().map(|e| e.text.as_str()).collect();
        assert_eq!(texts.len(), 3, "{texts:?}");
        assert!(texts[0].starts_with("created"));
        assert_eq!(texts[1], "courier (node 1) killed (SIGKILL)");
        assert!(texts[2].contains("restarted (pid 11)"));
    }
}
