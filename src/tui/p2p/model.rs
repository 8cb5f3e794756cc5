//! The P2P dashboard's model: supervisor events and node snapshots turned into peer rows (with
//! their piece bitfields), tracker rows, an event timeline, log lines, tracker op logs and the
//! aggregate throughput series. Every buffer is bounded.
//!
//! The timeline is derived from what the nodes report: a peer's `tracker` changing is a
//! failover, its `bad_pieces`/`banned` counters growing a detection or a ban, the first report
//! after a restart says how many pieces re-verified on disk; the trackers' digests differing
//! while they are cut apart (or one is down) is a divergence, and equal digests after that a
//! convergence.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde_json::{Map, Value};

pub use super::report::{PeerState, TrackerState};
use crate::cluster::{NodeEvent, NodeInfo, NodeStatus, SupEvent, SupEventKind};
use crate::tui::dash::logbook::LogBook;
use crate::tui::raft::model::{SERIES_CAPACITY, TIMELINE_CAPACITY};

/// Op log lines kept per tracker.
pub const OP_LOG_CAPACITY: usize = 50;

/// The kind of a timeline entry (colours it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// A fault: a kill, a partition, a corruption, a bad piece, a ban, a divergence.
    Fault,
    /// A repair: a restart, a heal, a failover.
    Repair,
    /// Something good: a download complete, a resume, a convergence.
    Good,
    /// Anything else.
    Info,
}

/// One entry of the timeline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// The kind.
    pub kind: EventKind,
    /// What happened.
    pub text: String,
}

/// The model.
#[derive(Clone, Debug, Default)]
pub struct P2pModel {
    /// The latest node snapshots (status, pid, RSS, CPU, faults, raw state).
    pub nodes: Vec<NodeInfo>,
    /// Peers' decoded states, by node id.
    pub peers: BTreeMap<u64, PeerState>,
    /// Trackers' decoded states, by node id.
    pub trackers: BTreeMap<u64, TrackerState>,
    /// Timeline, oldest first.
    pub timeline: VecDeque<Entry>,
    /// Merged log lines, oldest first.
    pub logs: LogBook,
    /// The latest op log lines of each tracker, oldest first.
    pub op_logs: BTreeMap<u64, VecDeque<String>>,
    /// Aggregate download rate (bytes/s) per refresh.
    pub down_series: VecDeque<u64>,
    /// Aggregate upload rate (bytes/s) per refresh.
    pub up_series: VecDeque<u64>,
    /// When the series last got a point: one a second, whatever the refresh rate.
    series_at: Option<std::time::Instant>,
    /// Whether the trackers hold the same state (`None` until two report).
    pub converged: Option<bool>,
    /// Whether a running tracker is cut off from the other.
    pub cut_apart: bool,
    /// Trackers that are not running (killed, paused, exited): while one is, "converged"
    /// cannot be measured and is not claimed.
    pub trackers_down: Vec<u64>,
    /// Bumped on every change.
    pub version: u64,
    status: BTreeMap<u64, NodeStatus>,
    restarted: BTreeSet<u64>,
    /// When the current round of downloads began (a leecher first reported missing pieces).
    round_started: Option<u64>,
    diverged: bool,
}

impl P2pModel {
    /// An empty model.
    pub fn new() -> Self {
        Self::default()
    }

    fn push(&mut self, at_ms: u64, kind: EventKind, text: String) {
        self.timeline.push_back(Entry { at_ms, kind, text });
        while self.timeline.len() > TIMELINE_CAPACITY {
            self.timeline.pop_front();
        }
    }

    fn log(&mut self, at_ms: u64, node: u64, level: &str, msg: String) {
        self.logs.push(at_ms, node, level, msg);
    }

    /// Adds what a command of the dashboard did to the timeline (a corruption is no process
    /// event: only the command knows it happened).
    pub fn note(&mut self, at_ms: u64, kind: EventKind, text: String) {
        self.version += 1;
        self.push(at_ms, kind, text);
    }

    /// Forgets a stopped lab's nodes (the timeline, logs and series stay), so that the next
    /// lab's nodes start afresh rather than as restarts.
    pub fn forget_lab(&mut self) {
        self.nodes.clear();
        self.peers.clear();
        self.trackers.clear();
        self.op_logs.clear();
        self.status.clear();
        self.restarted.clear();
        self.round_started = None;
        self.converged = None;
        self.cut_apart = false;
        self.trackers_down.clear();
        self.diverged = false;
        self.version += 1;
    }

    /// Whether node `id` is a tracker (they are nodes 1 and 2 of the lab, and say so).
    pub fn is_tracker(&self, id: u64) -> bool {
        self.trackers.contains_key(&id)
            || self
                .nodes
                .iter()
                .any(|n| n.id == id && n.role == "p2p-tracker")
    }

    /// `tracker 1`, `seeder 3`, `leecher 5`.
    pub fn who(&self, id: u64) -> String {
        if self.is_tracker(id) {
            return format!("tracker {id}");
        }
        match self.peers.get(&id) {
            Some(p) => format!("{} {id}", p.role),
            None => format!("node {id}"),
        }
    }

    /// Folds one supervisor event in.
    pub fn on_event(&mut self, ev: &SupEvent) {
        self.version += 1;
        let (n, at) = (ev.node, ev.at_ms);
        match &ev.kind {
            SupEventKind::Spawned { pid } => {
                let again = self.status.contains_key(&n);
                self.status.insert(n, NodeStatus::Running);
                if again {
                    self.restarted.insert(n);
                    let who = self.who(n);
                    self.push(
                        at,
                        EventKind::Repair,
                        format!("{who} restarted (pid {pid}) on its data dir"),
                    );
                }
                self.log(at, n, "info", format!("started (pid {pid})"));
            }
            SupEventKind::Killed => {
                self.status.insert(n, NodeStatus::Killed);
                let who = self.who(n);
                let mid = self.transfer_running();
                self.push(
                    at,
                    EventKind::Fault,
                    format!(
                        "{who} killed (SIGKILL){}",
                        if mid { " mid-transfer" } else { "" }
                    ),
                );
            }
            SupEventKind::Paused => {
                self.status.insert(n, NodeStatus::Paused);
                let who = self.who(n);
                self.push(at, EventKind::Fault, format!("{who} paused (SIGSTOP)"));
            }
            SupEventKind::Resumed => {
                self.status.insert(n, NodeStatus::Running);
                let who = self.who(n);
                self.push(at, EventKind::Repair, format!("{who} resumed (SIGCONT)"));
            }
            SupEventKind::Exited { code, signal } => {
                if self.status.get(&n) != Some(&NodeStatus::Killed) {
                    self.status.insert(n, NodeStatus::Exited);
                    let how = match (code, signal) {
                        (Some(c), _) => format!("exited with status {c}"),
                        (_, Some(s)) => format!("ended by signal {s}"),
                        _ => "ended".into(),
                    };
                    let who = self.who(n);
                    self.push(at, EventKind::Info, format!("{who} {how}"));
                }
            }
            SupEventKind::Faults { rules } if rules.is_clear() => {
                if self
                    .timeline
                    .back()
                    .is_none_or(|e| e.text != "network healed")
                {
                    self.push(at, EventKind::Repair, "network healed".into());
                }
            }
            SupEventKind::Faults { rules } => {
                // Every node gets rules, but only trackers filter frames (replication); name
                // the partition once, from the lower tracker's side.
                let other: Vec<String> = rules
                    .cut
                    .iter()
                    .filter(|c| self.is_tracker(**c))
                    .map(u64::to_string)
                    .collect();
                if self.is_tracker(n)
                    && !other.is_empty()
                    && rules
                        .cut
                        .iter()
                        .filter(|c| self.is_tracker(**c))
                        .all(|c| *c > n)
                {
                    self.push(
                        at,
                        EventKind::Fault,
                        format!(
                            "trackers partitioned: tracker {n} cut from tracker {}",
                            other.join(",")
                        ),
                    );
                }
            }
            SupEventKind::Stderr { line } => self.log(at, n, "stderr", line.clone()),
            SupEventKind::Node { event } => match event {
                NodeEvent::Log { level, msg } => {
                    if let Some(op) = msg.strip_prefix("op ") {
                        let ops = self.op_logs.entry(n).or_default();
                        ops.push_back(op.chars().take(200).collect());
                        while ops.len() > OP_LOG_CAPACITY {
                            ops.pop_front();
                        }
                    }
                    self.log(at, n, level, msg.clone());
                }
                NodeEvent::Fatal { msg } => {
                    self.log(at, n, "fatal", msg.clone());
                    let who = self.who(n);
                    self.push(at, EventKind::Fault, format!("{who} FATAL: {msg}"));
                }
                NodeEvent::State { fields } => self.on_state(n, at, fields),
                NodeEvent::Ready { .. } | NodeEvent::Metrics { .. } => {}
            },
        }
        // A tracker's life changed: what the panel may claim about agreement changes with it.
        if self.is_tracker(n) && !matches!(ev.kind, SupEventKind::Node { .. }) {
            self.update_convergence(at);
        }
    }

    fn transfer_running(&self) -> bool {
        self.peers
            .values()
            .any(|p| p.role == "leecher" && !p.complete)
    }

    fn on_state(&mut self, n: u64, at: u64, fields: &Map<String, Value>) {
        if fields.get("role").and_then(Value::as_str) == Some("tracker") {
            self.trackers.insert(n, TrackerState::from_fields(fields));
            self.update_convergence(at);
            return;
        }
        let new = PeerState::from_fields(fields);
        let old = self.peers.insert(n, new.clone());
        let who = self.who(n);
        if self.restarted.remove(&n) {
            let text = if new.verified_at_start > 0 {
                format!(
                    "{who} resumed with {} of {} pieces verified on disk",
                    new.verified_at_start, new.pieces
                )
            } else {
                format!("{who} started again from zero (no piece verified on disk)")
            };
            self.push(at, EventKind::Good, text);
        } else if let Some(old) = &old {
            match (old.tracker, new.tracker) {
                (Some(a), Some(b)) if a != b => self.push(
                    at,
                    EventKind::Repair,
                    format!("{who} failed over from tracker {a} to tracker {b}"),
                ),
                _ => {}
            }
            if new.bad_pieces > old.bad_pieces {
                self.push(
                    at,
                    EventKind::Fault,
                    format!(
                        "{who} detected a bad piece by SHA-1 ({} so far), fetching it elsewhere",
                        new.bad_pieces
                    ),
                );
            }
            if new.banned > old.banned {
                self.push(
                    at,
                    EventKind::Fault,
                    format!("{who} banned a peer for bad pieces ({} banned)", new.banned),
                );
            }
        }
        let was_complete = old.as_ref().is_some_and(|o| o.complete);
        if new.role == "leecher" && !new.complete && self.round_started.is_none() {
            self.round_started = Some(at);
        }
        if new.complete && !was_complete && new.role == "leecher" {
            self.push(
                at,
                EventKind::Good,
                format!("{who} complete: {} pieces verified", new.pieces),
            );
            self.end_round(at);
        }
    }

    /// When every running leecher is complete: how long the round took, and the aggregate rate.
    fn end_round(&mut self, at: u64) {
        let Some(start) = self.round_started else {
            return;
        };
        let running = |id: &u64| self.status.get(id).is_none_or(|s| s.is_alive());
        let leechers: Vec<&PeerState> = self
            .peers
            .iter()
            .filter(|(id, p)| p.role == "leecher" && running(id))
            .map(|(_, p)| p)
            .collect();
        if leechers.is_empty() || !leechers.iter().all(|p| p.complete) {
            return;
        }
        self.round_started = None;
        let ms = at.saturating_sub(start).max(1);
        let bytes: u64 = leechers.iter().map(|p| p.size).sum();
        let took = if ms < 10_000 {
            format!("{ms} ms")
        } else {
            format!("{:.1} s", ms as f64 / 1000.0)
        };
        let text = format!(
            "every running leecher complete ({}) {took} after the first missing piece: {:.0} MB/s aggregate",
            leechers.len(),
            bytes as f64 / 1e6 / (ms as f64 / 1000.0)
        );
        self.push(at, EventKind::Good, text);
    }

    /// Divergence is named only while the trackers are cut apart or one is down (replication
    /// takes milliseconds, so two samples taken at different instants differ all the time in
    /// a busy swarm); convergence once the digests agree again.
    fn update_convergence(&mut self, at: u64) {
        self.trackers_down = self
            .trackers
            .keys()
            .filter(|id| {
                self.status
                    .get(id)
                    .is_some_and(|s| *s != NodeStatus::Running)
            })
            .copied()
            .collect();
        let running: Vec<&TrackerState> = self
            .trackers
            .iter()
            .filter(|(id, _)| {
                self.status
                    .get(id)
                    .is_none_or(|s| *s == NodeStatus::Running)
            })
            .map(|(_, t)| t)
            .collect();
        if running.len() < 2 {
            // Nothing to compare: no claim either way until two run again.
            self.converged = None;
            return;
        }
        let same = running.iter().all(|t| t.digest == running[0].digest);
        let cut = running.iter().any(|t| t.partitioned);
        self.converged = Some(same);
        self.cut_apart = cut;
        if !same && cut && !self.diverged {
            self.diverged = true;
            let digests: Vec<&str> = running.iter().map(|t| t.digest.as_str()).collect();
            self.push(
                at,
                EventKind::Fault,
                format!("trackers diverged: digests {}", digests.join(" ≠ ")),
            );
        } else if same && self.diverged && !cut {
            self.diverged = false;
            let d = running[0].digest.clone();
            self.push(
                at,
                EventKind::Good,
                format!("trackers converged: digest {d} on both"),
            );
        }
    }

    /// Takes fresh node snapshots (once per UI tick) and samples the aggregate rates.
    pub fn refresh(&mut self, nodes: Vec<NodeInfo>) {
        let mut down = 0;
        let mut up = 0;
        for n in &nodes {
            self.status.entry(n.id).or_insert(n.status);
            // Nodes that reported before the dashboard subscribed.
            if n.status.is_alive() && !n.state.is_empty() {
                let tracker = n.state.get("role").and_then(Value::as_str) == Some("tracker");
                if tracker && !self.trackers.contains_key(&n.id) {
                    self.trackers
                        .insert(n.id, TrackerState::from_fields(&n.state));
                } else if !tracker && !self.peers.contains_key(&n.id) {
                    self.peers.insert(n.id, PeerState::from_fields(&n.state));
                }
            }
            if n.status.is_alive()
                && let Some(p) = self.peers.get(&n.id)
            {
                down += p.down_rate;
                up += p.up_rate;
            }
        }
        let due = self
            .series_at
            .is_none_or(|t| t.elapsed() >= std::time::Duration::from_secs(1));
        if due {
            self.series_at = Some(std::time::Instant::now());
            for (series, v) in [(&mut self.down_series, down), (&mut self.up_series, up)] {
                series.push_back(v);
                while series.len() > SERIES_CAPACITY {
                    series.pop_front();
                }
            }
        }
        self.nodes = nodes;
        self.version += 1;
    }

    /// When every leecher holds every piece (the swarm is done: nobody fetches any more), the
    /// first leecher's id.
    pub fn leechers_complete(&self) -> Option<u64> {
        let leechers: Vec<(&u64, &PeerState)> = self
            .peers
            .iter()
            .filter(|(_, p)| p.role == "leecher")
            .collect();
        let done = !leechers.is_empty()
            && leechers
                .iter()
                .all(|(_, p)| !p.bits.is_empty() && p.bits.iter().all(|&b| b));
        done.then(|| leechers.iter().map(|(id, _)| **id).min())
            .flatten()
    }

    /// A piece that one live leecher holds and another lacks (corrupting it on the seeder is
    /// then likely to be caught and can be fetched elsewhere); else the first piece.
    pub fn piece_to_corrupt(&self) -> u32 {
        let leechers: Vec<&PeerState> = self
            .peers
            .iter()
            .filter(|(id, p)| {
                p.role == "leecher" && self.status.get(id).is_none_or(|s| s.is_alive())
            })
            .map(|(_, p)| p)
            .collect();
        let pieces = leechers.iter().map(|p| p.bits.len()).max().unwrap_or(0);
        (0..pieces)
            .find(|&i| {
                let held = |p: &&PeerState| p.bits.get(i).copied().unwrap_or(false);
                leechers.iter().any(held) && !leechers.iter().all(held)
            })
            .unwrap_or(0) as u32
    }

    /// `running`, `paused`, `killed`, `exited`, or `partitioned` (a tracker cut off from the
    /// other: peers apply no fault rules, so they are never partitioned).
    pub fn state_word(&self, n: &NodeInfo) -> &'static str {
        let cut_from_tracker = n.faults.cut.iter().any(|c| self.is_tracker(*c));
        if n.status == NodeStatus::Running && self.is_tracker(n.id) && cut_from_tracker {
            "partitioned"
        } else {
            n.status.as_str()
        }
    }

    /// How the trackers stand: `tracker N down` (one is not running: nothing to compare),
    /// `converged` (same digest, measured), `diverged` (different digests while cut apart),
    /// `replicating` (different digests a moment apart in a busy swarm), or `waiting for both`.
    pub fn agreement(&self) -> String {
        if !self.trackers_down.is_empty() {
            let ids: Vec<String> = self.trackers_down.iter().map(u64::to_string).collect();
            let noun = if ids.len() == 1 {
                "tracker"
            } else {
                "trackers"
            };
            return format!("{noun} {} down", ids.join(", "));
        }
        match (self.converged, self.cut_apart) {
            (None, _) => "waiting for both",
            (Some(true), _) => "converged",
            (Some(false), true) => "diverged",
            (Some(false), false) => "replicating",
        }
        .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn state(node: u64, at_ms: u64, v: Value) -> SupEvent {
        SupEvent {
            node,
            at_ms,
            kind: SupEventKind::Node {
                event: NodeEvent::State {
                    fields: v.as_object().cloned().unwrap_or_default(),
                },
            },
        }
    }

    fn ev(node: u64, at_ms: u64, kind: SupEventKind) -> SupEvent {
        SupEvent { node, at_ms, kind }
    }

    fn texts(m: &P2pModel) -> Vec<&str> {
        m.timeline.iter().map(|e| e.text.as_str()).collect()
    }

    #[test]
    fn failover_bad_pieces_bans_resume_and_completion_reach_the_timeline() {
        let mut m = P2pModel::new();
        for i in 1..=5 {
            m.on_event(&ev(i, 0, SupEventKind::Spawned { pid: 100 }));
        }
        m.on_event(&state(1, 1, json!({"role":"tracker","digest":"aa"})));
        let leech = |tracker: u64, bad: u64, banned: u64, have: u64, complete: bool| {
            json!({"role":"leecher","pieces":8,"have":have,"tracker":tracker,"size":4_000_000,
                   "bad_pieces":bad,"banned":banned,"complete":complete,"bitfield":"f0"})
        };
        m.on_event(&state(5, 10, leech(1, 0, 0, 4, false)));
        m.on_event(&ev(1, 20, SupEventKind::Killed));
        m.on_event(&state(5, 30, leech(2, 0, 0, 5, false)));
        m.on_event(&state(5, 40, leech(2, 2, 1, 8, true)));
        m.on_event(&ev(5, 50, SupEventKind::Killed));
        m.on_event(&ev(5, 60, SupEventKind::Spawned { pid: 200 }));
        let mut resumed = leech(2, 0, 0, 6, false);
        resumed["verified_at_start"] = json!(6);
        m.on_event(&state(5, 70, resumed));
        assert_eq!(
            texts(&m),
            vec![
                "tracker 1 killed (SIGKILL) mid-transfer",
                "leecher 5 failed over from tracker 1 to tracker 2",
                "leecher 5 detected a bad piece by SHA-1 (2 so far), fetching it elsewhere",
                "leecher 5 banned a peer for bad pieces (1 banned)",
                "leecher 5 complete: 8 pieces verified",
                "every running leecher complete (1) 30 ms after the first missing piece: 133 MB/s aggregate",
                "leecher 5 killed (SIGKILL)",
                "leecher 5 restarted (pid 200) on its data dir",
                "leecher 5 resumed with 6 of 8 pieces verified on disk",
            ]
        );
        assert_eq!(m.peers[&5].bits.iter().filter(|b| **b).count(), 4);
    }

    #[test]
    fn trackers_diverge_only_while_cut_apart_and_converge_after() {
        let mut m = P2pModel::new();
        let t = |d: &str, cut: bool| json!({"role":"tracker","digest":d,"partitioned":cut});
        m.on_event(&state(1, 0, t("aa", false)));
        m.on_event(&state(2, 0, t("bb", false)));
        assert!(
            texts(&m).is_empty(),
            "a busy swarm's samples differ: no event"
        );
        m.on_event(&state(1, 10, t("aa", true)));
        m.on_event(&state(2, 11, t("cc", true)));
        m.on_event(&state(1, 20, t("dd", false)));
        m.on_event(&state(2, 21, t("dd", false)));
        assert_eq!(
            texts(&m),
            vec![
                "trackers diverged: digests aa ≠ bb",
                "trackers converged: digest dd on both"
            ]
        );
        assert_eq!(m.converged, Some(true));
    }

    #[test]
    fn a_new_lab_after_a_stop_is_not_a_restart() {
        let mut m = P2pModel::new();
        m.on_event(&ev(4, 0, SupEventKind::Spawned { pid: 1 }));
        m.forget_lab();
        m.on_event(&ev(4, 10, SupEventKind::Spawned { pid: 2 }));
        assert!(texts(&m).is_empty(), "{:?}", texts(&m));
    }

    #[test]
    fn op_logs_are_kept_per_tracker_and_bounded() {
        let mut m = P2pModel::new();
        for i in 0..(OP_LOG_CAPACITY + 10) {
            m.on_event(&ev(
                2,
                i as u64,
                SupEventKind::Node {
                    event: NodeEvent::Log {
                        level: "debug".into(),
                        msg: format!("op 2:{i} peer 127.0.0.1:1 3 pieces"),
                    },
                },
            ));
        }
        let ops = &m.op_logs[&2];
        assert_eq!(ops.len(), OP_LOG_CAPACITY);
        assert!(ops.back().is_some_and(|l| l.starts_with("2:59 ")));
    }

    #[test]
    fn a_tracker_down_is_said_and_never_called_converged() {
        let mut m = P2pModel::default();
        for (id, digest) in [(1u64, "aa"), (2, "aa")] {
            m.on_event(&SupEvent {
                node: id,
                at_ms: 1,
                kind: SupEventKind::Spawned {
                    pid: 10 + id as u32,
                },
            });
            m.on_event(&SupEvent {
                node: id,
                at_ms: 2,
                kind: SupEventKind::Node {
                    event: NodeEvent::State {
                        fields: serde_json::from_value(json!({
                            "role": "tracker", "digest": digest, "torrents": 1, "peers": 2
                        }))
                        .unwrap(),
                    },
                },
            });
        }
        assert_eq!(m.agreement(), "converged");
        m.on_event(&SupEvent {
            node: 1,
            at_ms: 3,
            kind: SupEventKind::Killed,
        });
        assert_eq!(m.agreement(), "tracker 1 down");
        m.on_event(&SupEvent {
            node: 1,
            at_ms: 4,
            kind: SupEventKind::Spawned { pid: 99 },
        });
        assert_ne!(m.agreement(), "tracker 1 down");
    }
}
