//! The KDC dashboard's model: supervisor events and node snapshots → authority rows, the
//! signing rounds the authorities report (grouped by round id across authorities), tickets per
//! second, the service's rejections by reason, the attacker's holdings (the run dir's
//! `attacker.json`), a timeline and the node logs.

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;

use serde_json::Value;

use crate::cluster::event::NodeEvent;
use crate::cluster::{NodeInfo, NodeStatus, SupEvent, SupEventKind, Supervisor};
use crate::kdc::attack::Attacker;
use crate::kdc::config::SERVICE_NODE;
use crate::tui::dash::TIMELINE_CAPACITY;
use crate::tui::dash::logbook::LogBook;

/// Ticket-rate points kept for the sparkline (one per second).
pub const RATE_POINTS: usize = 120;
/// Rounds shown.
pub const ROUNDS_SHOWN: usize = 8;

/// What a timeline entry is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// A fault: kill, pause, partition, compromise, rejected share.
    Fault,
    /// A repair: restart, resume, heal, refresh.
    Repair,
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

/// One authority's part in a round.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Part {
    /// Authority id.
    pub id: u64,
    /// `signed`, `garbage share sent`, `refused`.
    pub result: String,
    /// Why, when refused.
    pub reason: Option<String>,
}

/// A signing round as the authorities reported it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Round {
    /// Short id (hash of the ticket).
    pub id: String,
    /// Client and service.
    pub client: String,
    /// Service.
    pub service: String,
    /// Who committed (the package's commitment list).
    pub committed: Vec<u64>,
    /// What each authority that received it did.
    pub parts: Vec<Part>,
    /// The coordinator's report: the aggregate verified, with these shares rejected.
    pub verified: bool,
    /// Shares the coordinator rejected (reported).
    pub rejected: Vec<u64>,
    /// When the last report of it was made.
    pub at_ms: u64,
}

/// The dashboard's model.
#[derive(Default)]
pub struct KdcModel {
    /// Node snapshots.
    pub nodes: Vec<NodeInfo>,
    /// Node logs.
    pub logs: LogBook,
    /// Timeline, oldest first.
    pub timeline: VecDeque<Entry>,
    /// Recent rounds, newest last.
    pub rounds: Vec<Round>,
    /// Tickets per second, one point a second, newest last.
    pub rate: VecDeque<u64>,
    /// Tickets counted so far (signed shares / threshold), and when.
    last_count: Option<(u64, u64)>,
    /// What the attacker holds.
    pub attacker: Attacker,
    last_attacker_read: u64,
    run_dir: Option<PathBuf>,
    /// Per authority: (compromised, epoch, culprit report time) last seen, for the timeline.
    seen: BTreeMap<u64, (bool, Option<u64>, Option<u64>)>,
    /// Per node: last status, for the timeline.
    status: BTreeMap<u64, NodeStatus>,
}

/// A node's role word.
pub fn who(n: u64) -> String {
    if n == SERVICE_NODE {
        "service files".into()
    } else {
        format!("authority {n}")
    }
}

impl KdcModel {
    /// Appends to the timeline.
    pub fn note(&mut self, at_ms: u64, kind: EventKind, text: String) {
        self.timeline.push_back(Entry { at_ms, kind, text });
        while self.timeline.len() > TIMELINE_CAPACITY {
            self.timeline.pop_front();
        }
    }

    /// Reads the run dir of an attached lab.
    pub fn attach(&mut self, sup: &Supervisor) {
        self.run_dir = Some(sup.run_dir().to_path_buf());
        self.last_attacker_read = 0;
    }

    /// Folds one supervisor event in.
    pub fn on_event(&mut self, ev: &SupEvent) {
        let (n, at) = (ev.node, ev.at_ms);
        match &ev.kind {
            SupEventKind::Spawned { pid } => {
                if self.status.insert(n, NodeStatus::Running).is_some() {
                    let text = format!("{} restarted (pid {pid}) on its data dir", who(n));
                    self.note(at, EventKind::Repair, text);
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
                self.note(at, EventKind::Repair, format!("{} resumed", who(n)));
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
            SupEventKind::Faults { rules } => {
                if rules.is_clear() {
                    if self
                        .timeline
                        .back()
                        .is_none_or(|e| e.text != "network healed")
                    {
                        self.note(at, EventKind::Repair, "network healed".into());
                    }
                } else if n != SERVICE_NODE && rules.cut.contains(&SERVICE_NODE) {
                    let text = format!("{} partitioned: cut off from clients and peers", who(n));
                    self.note(at, EventKind::Fault, text);
                }
            }
            SupEventKind::Stderr { line } => self.logs.push(at, n, "stderr", line.clone()),
            SupEventKind::Node { event } => match event {
                NodeEvent::Log { level, msg } => self.logs.push(at, n, level, msg.clone()),
                NodeEvent::State { fields } => self.on_state(n, at, fields),
                _ => {}
            },
        }
    }

    fn on_state(&mut self, n: u64, at: u64, f: &serde_json::Map<String, Value>) {
        if f.get("role").and_then(Value::as_str) != Some("authority") {
            return;
        }
        let compromised = f.get("compromised").and_then(Value::as_bool) == Some(true);
        let epoch = f.get("epoch").and_then(Value::as_u64);
        let culprit_at = f["last_culprit"].get("at_ms").and_then(Value::as_u64);
        let before = self.seen.insert(n, (compromised, epoch, culprit_at));
        let Some((was_compromised, was_epoch, was_culprit)) = before else {
            return;
        };
        if compromised && !was_compromised {
            let text = format!(
                "authority {n} compromised: its share (epoch {}) and database leaked",
                epoch.unwrap_or(0)
            );
            self.note(at, EventKind::Fault, text);
        }
        if let (Some(old), Some(new)) = (was_epoch, epoch)
            && new > old
            && self
                .timeline
                .back()
                .is_none_or(|e| !e.text.starts_with("refresh"))
        {
            let text = format!("refresh: shares moved to epoch {new}, group key unchanged");
            self.note(at, EventKind::Repair, text);
        }
        if culprit_at.is_some() && culprit_at != was_culprit {
            let c = f["last_culprit"]["culprit"].as_u64().unwrap_or(0);
            let text = format!("authority {c}'s signature share rejected by the coordinator");
            if self.timeline.back().is_none_or(|e| e.text != text) {
                self.note(at, EventKind::Fault, text);
            }
        }
    }

    /// Takes fresh snapshots: rounds, rates, the attacker's file (once a second).
    pub fn refresh(&mut self, nodes: Vec<NodeInfo>, now_ms: u64) {
        self.nodes = nodes;
        self.rounds = merge_rounds(&self.nodes);
        let signed: u64 = self
            .authorities()
            .filter_map(|n| n.state.get("signed").and_then(Value::as_u64))
            .sum();
        let tickets = signed / 2;
        match self.last_count {
            Some((t, c)) if now_ms >= t + 1000 => {
                let per_s = tickets.saturating_sub(c) * 1000 / (now_ms - t);
                self.rate.push_back(per_s);
                while self.rate.len() > RATE_POINTS {
                    self.rate.pop_front();
                }
                self.last_count = Some((now_ms, tickets));
            }
            Some(_) => {}
            None => self.last_count = Some((now_ms, tickets)),
        }
        if now_ms >= self.last_attacker_read + 1000 {
            self.last_attacker_read = now_ms;
            if let Some(dir) = &self.run_dir {
                self.attacker = Attacker::load_dir(dir);
            }
        }
    }

    /// The lab stopped.
    pub fn forget_lab(&mut self, now_ms: u64) {
        if !self.nodes.is_empty() {
            self.note(now_ms, EventKind::Info, "lab stopped".into());
        }
        self.nodes.clear();
        self.rounds.clear();
        self.seen.clear();
        self.status.clear();
        self.last_count = None;
        self.run_dir = None;
    }

    /// The authority nodes.
    pub fn authorities(&self) -> impl Iterator<Item = &NodeInfo> {
        self.nodes.iter().filter(|n| n.id != SERVICE_NODE)
    }

    /// The service node.
    pub fn service(&self) -> Option<&NodeInfo> {
        self.nodes.iter().find(|n| n.id == SERVICE_NODE)
    }

    /// The latest tickets per second.
    pub fn tickets_per_s(&self) -> u64 {
        self.rate.back().copied().unwrap_or(0)
    }

    /// How many honest authorities can sign now (running, not cut off, holding a share, not
    /// compromised: a compromised one sends garbage shares, which are rejected).
    pub fn able(&self) -> usize {
        self.authorities().filter(|n| state_word(n) == "up").count()
    }
}

/// An authority's (or the service's) state word: up, down, paused, partitioned, compromised.
pub fn state_word(n: &NodeInfo) -> &'static str {
    match n.status {
        NodeStatus::Running if !n.faults.cut.is_empty() => "partitioned",
        NodeStatus::Running
            if n.state.get("compromised").and_then(Value::as_bool) == Some(true) =>
        {
            "compromised"
        }
        NodeStatus::Running if n.id != SERVICE_NODE && !n.ready => "keygen",
        NodeStatus::Running => "up",
        NodeStatus::Paused => "paused",
        _ => "down",
    }
}

fn ids(v: &Value) -> Vec<u64> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_default()
}

/// The rounds every authority reported, merged by round id, newest last.
pub fn merge_rounds(nodes: &[NodeInfo]) -> Vec<Round> {
    let mut by_id: BTreeMap<String, Round> = BTreeMap::new();
    for n in nodes.iter().filter(|n| n.id != SERVICE_NODE) {
        let Some(list) = n.state.get("rounds").and_then(Value::as_array) else {
            continue;
        };
        for r in list {
            let Some(id) = r["round"].as_str() else {
                continue;
            };
            // One line per attempt: a retry of the same ticket with other signers is another
            // commitment list.
            let committed = ids(&r["committed"]);
            let key = format!("{id}/{committed:?}");
            let e = by_id.entry(key).or_insert_with(|| Round {
                id: id.to_string(),
                committed,
                ..Round::default()
            });
            if let Some(c) = r["client"].as_str() {
                e.client = c.to_string();
            }
            if let Some(s) = r["service"].as_str() {
                e.service = s.to_string();
            }
            e.parts.push(Part {
                id: n.id,
                result: r["result"].as_str().unwrap_or("?").to_string(),
                reason: r["reason"].as_str().map(str::to_string),
            });
            e.parts.sort_by_key(|p| p.id);
            if r["aggregate"] == "verified" {
                e.verified = true;
                e.rejected = ids(&r["rejected"]);
            }
            e.at_ms = e.at_ms.max(r["at_ms"].as_u64().unwrap_or(0));
        }
    }
    let mut v: Vec<Round> = by_id.into_values().collect();
    v.sort_by_key(|r| r.at_ms);
    let skip = v.len().saturating_sub(ROUNDS_SHOWN);
    v.split_off(skip)
}

/// The attacker panel's verdict: what the threshold arithmetic says about the shares held.
pub fn forgery_verdict(a: &Attacker) -> (bool, String) {
    if a.holdings.is_empty() {
        return (false, "forgery impossible: no share held".into());
    }
    if let Some((x, y)) = a.quorum() {
        return (
            true,
            format!(
                "forgery POSSIBLE: shares {} and {} of epoch {} reach the threshold",
                x.id, y.id, x.epoch
            ),
        );
    }
    let newest = a.holdings.iter().map(|h| h.epoch).max().unwrap_or(0);
    let same = a.holdings.iter().filter(|h| h.epoch == newest).count();
    (
        false,
        format!("forgery impossible: {same} share of epoch {newest}, threshold 2"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(id: u64, rounds: Value) -> NodeInfo {
        let mut n = NodeInfo {
            id,
            role: "kdc-authority".into(),
            pid: Some(1),
            status: NodeStatus::Running,
            addr: String::new(),
            http: None,
            data_dir: PathBuf::new(),
            uptime_ms: 0,
            rss_bytes: 0,
            cpu_percent: 0.0,
            incarnation: 1,
            faults: Default::default(),
            ready: true,
            state: Default::default(),
        };
        n.state.insert("rounds".into(), rounds);
        n
    }

    #[test]
    fn rounds_from_each_authority_merge_into_one_line_per_round() {
        let a1 = node(
            1,
            json!([{"round": "aa", "committed": [1, 2], "client": "alice", "service": "files",
                "result": "garbage share sent", "at_ms": 5}]),
        );
        let a2 = node(
            2,
            json!([{"round": "aa", "committed": [1, 2], "client": "alice", "service": "files",
                "result": "signed", "at_ms": 6},
                {"round": "bb", "committed": [2, 3], "result": "signed", "at_ms": 9,
                "aggregate": "verified", "rejected": [1]}]),
        );
        let r = merge_rounds(&[a1, a2]);
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].id, "aa");
        assert_eq!(r[0].committed, vec![1, 2]);
        assert_eq!(r[0].parts.len(), 2);
        assert_eq!(r[0].parts[0].result, "garbage share sent");
        assert!(!r[0].verified);
        assert!(r[1].verified);
        assert_eq!(r[1].rejected, vec![1]);
    }

    #[test]
    fn the_verdict_follows_threshold_arithmetic() {
        let h = |id, epoch| crate::kdc::attack::Holding {
            id,
            epoch,
            share: String::new(),
            group_key: String::new(),
            verifying_shares: Default::default(),
            how: String::new(),
        };
        let mut a = Attacker::default();
        assert!(!forgery_verdict(&a).0);
        a.holdings.push(h(1, 0));
        assert!(!forgery_verdict(&a).0);
        a.holdings.push(h(2, 1));
        assert!(
            !forgery_verdict(&a).0,
            "shares of two epochs do not combine"
        );
        a.holdings.push(h(3, 1));
        assert!(forgery_verdict(&a).0);
    }
}
