//! The Raft dashboard's model: what the supervisor's events and node snapshots tell, turned
//! into a node table, an event timeline (elections with the time without a leader, kills,
//! restarts, pauses, partitions, heals, snapshots), log lines and chart series.

use std::collections::{BTreeMap, VecDeque};

use serde_json::Value;

use crate::cluster::{NodeEvent, NodeInfo, NodeStatus, SupEvent, SupEventKind};
use crate::raft::load::LoadSnapshot;
use crate::tui::dash::logbook::LogBook;
pub use crate::tui::dash::{LogLine, SERIES_CAPACITY, TIMELINE_CAPACITY};

/// The kind of a timeline entry (colours it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimelineKind {
    /// A leader was elected.
    Election,
    /// The cluster lost its leader.
    NoLeader,
    /// A fault was injected (kill, pause, partition).
    Fault,
    /// A fault was undone (restart, resume, heal).
    Repair,
    /// A snapshot was taken.
    Snapshot,
    /// Anything else.
    Info,
}

/// One entry of the event timeline.
#[derive(Clone, Debug, PartialEq)]
pub struct TimelineEntry {
    /// Milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// The kind.
    pub kind: TimelineKind,
    /// What happened.
    pub text: String,
}

/// The model.
#[derive(Clone, Debug, Default)]
pub struct RaftModel {
    /// The latest node snapshots.
    pub nodes: Vec<NodeInfo>,
    /// The leader as the events tell it.
    pub leader: Option<(u64, u64)>,
    /// Since when the cluster has had no leader (ms), if it has none.
    pub leaderless_since: Option<u64>,
    /// Event timeline, oldest first.
    pub timeline: VecDeque<TimelineEntry>,
    /// Merged log lines, oldest first.
    pub logs: LogBook,
    /// Commit index per node over time.
    pub commits: BTreeMap<u64, VecDeque<u64>>,
    /// The workload's metrics.
    pub load: LoadSnapshot,
    /// Bumped on every change the view should show.
    pub version: u64,
    status: BTreeMap<u64, NodeStatus>,
    roles: BTreeMap<u64, (String, u64)>,
    snapshots: BTreeMap<u64, u64>,
}

fn state_u64(fields: &serde_json::Map<String, Value>, k: &str) -> Option<u64> {
    fields.get(k).and_then(Value::as_u64)
}

impl RaftModel {
    /// An empty model.
    pub fn new() -> Self {
        Self::default()
    }

    fn push(&mut self, at_ms: u64, kind: TimelineKind, text: String) {
        self.timeline.push_back(TimelineEntry { at_ms, kind, text });
        while self.timeline.len() > TIMELINE_CAPACITY {
            self.timeline.pop_front();
        }
    }

    fn log(&mut self, at_ms: u64, node: u64, level: &str, msg: String) {
        self.logs.push(at_ms, node, level, msg);
    }

    /// Folds one supervisor event in.
    pub fn on_event(&mut self, ev: &SupEvent) {
        self.version += 1;
        let (n, at) = (ev.node, ev.at_ms);
        match &ev.kind {
            SupEventKind::Spawned { pid } => {
                let again = self.status.contains_key(&n);
                self.status.insert(n, NodeStatus::Running);
                self.roles.remove(&n);
                if again {
                    self.push(
                        at,
                        TimelineKind::Repair,
                        format!("node {n} restarted (pid {pid}), recovering from its disk"),
                    );
                }
                self.log(at, n, "info", format!("started (pid {pid})"));
            }
            SupEventKind::Killed => {
                self.status.insert(n, NodeStatus::Killed);
                self.push(
                    at,
                    TimelineKind::Fault,
                    format!("node {n} killed (SIGKILL)"),
                );
            }
            SupEventKind::Paused => {
                self.status.insert(n, NodeStatus::Paused);
                self.push(
                    at,
                    TimelineKind::Fault,
                    format!("node {n} paused (SIGSTOP)"),
                );
            }
            SupEventKind::Resumed => {
                self.status.insert(n, NodeStatus::Running);
                self.push(
                    at,
                    TimelineKind::Repair,
                    format!("node {n} resumed (SIGCONT)"),
                );
            }
            SupEventKind::Exited { code, signal } => {
                if self.status.get(&n) != Some(&NodeStatus::Killed) {
                    self.status.insert(n, NodeStatus::Exited);
                    let how = match (code, signal) {
                        (Some(c), _) => format!("exited with status {c}"),
                        (_, Some(s)) => format!("ended by signal {s}"),
                        _ => "ended".into(),
                    };
                    self.push(at, TimelineKind::Info, format!("node {n} {how}"));
                }
            }
            SupEventKind::Faults { rules } if rules.is_clear() => {
                if self
                    .timeline
                    .back()
                    .is_none_or(|e| e.text != "network healed")
                {
                    self.push(at, TimelineKind::Repair, "network healed".into());
                }
            }
            SupEventKind::Faults { rules } => {
                // Every node gets its own rules; name only the side cut from most peers
                // (the isolated node, not the majority that merely stops hearing it).
                let peers = self.status.len().max(rules.cut.len() + 1) - 1;
                if rules.cut.len() * 2 > peers {
                    let cut: Vec<String> = rules.cut.iter().map(u64::to_string).collect();
                    self.push(
                        at,
                        TimelineKind::Fault,
                        format!("node {n} partitioned (cut from {})", cut.join(",")),
                    );
                }
            }
            SupEventKind::Stderr { line } => self.log(at, n, "stderr", line.clone()),
            SupEventKind::Node { event } => match event {
                NodeEvent::Log { level, msg } => self.log(at, n, level, msg.clone()),
                NodeEvent::Fatal { msg } => {
                    self.log(at, n, "fatal", msg.clone());
                    self.push(at, TimelineKind::Fault, format!("node {n} FATAL: {msg}"));
                }
                NodeEvent::State { fields } => {
                    let role = fields.get("role").and_then(Value::as_str).unwrap_or("?");
                    let term = state_u64(fields, "term").unwrap_or(0);
                    self.roles.insert(n, (role.to_string(), term));
                    if let Some(s) = state_u64(fields, "snapshot_index")
                        && s > 0
                        && self.snapshots.insert(n, s) != Some(s)
                    {
                        self.push(
                            at,
                            TimelineKind::Snapshot,
                            format!("node {n} snapshot through index {s}"),
                        );
                    }
                }
                NodeEvent::Ready { .. } | NodeEvent::Metrics { .. } => {}
            },
        }
        self.update_leader(at);
    }

    /// The leader: the running node claiming leadership with the highest term.
    fn update_leader(&mut self, at: u64) {
        let leader = self
            .roles
            .iter()
            .filter(|(id, (role, _))| {
                role == "leader" && self.status.get(id).copied() == Some(NodeStatus::Running)
            })
            .max_by_key(|(_, (_, term))| *term)
            .map(|(id, (_, term))| (*id, *term));
        if leader == self.leader {
            return;
        }
        match leader {
            Some((id, term)) => {
                let gap = self
                    .leaderless_since
                    .take()
                    .map(|since| format!(" after {} ms without a leader", at.saturating_sub(since)))
                    .unwrap_or_default();
                self.push(
                    at,
                    TimelineKind::Election,
                    format!("node {id} elected leader for term {term}{gap}"),
                );
            }
            None => {
                self.leaderless_since = Some(at);
                if let Some((old, _)) = self.leader {
                    self.push(
                        at,
                        TimelineKind::NoLeader,
                        format!("no leader (node {old} lost it)"),
                    );
                }
            }
        }
        self.leader = leader;
    }

    /// Takes fresh node snapshots and workload metrics (once per UI tick).
    pub fn refresh(&mut self, nodes: Vec<NodeInfo>, load: LoadSnapshot, now_ms: u64) {
        for n in &nodes {
            // Nodes that started before the dashboard subscribed.
            self.status.entry(n.id).or_insert(n.status);
            if !self.roles.contains_key(&n.id)
                && let Some(role) = n.state.get("role").and_then(Value::as_str)
            {
                let term = n.state.get("term").and_then(Value::as_u64).unwrap_or(0);
                self.roles.insert(n.id, (role.to_string(), term));
            }
            let commit = n.state.get("commit").and_then(Value::as_u64).unwrap_or(0);
            let s = self.commits.entry(n.id).or_default();
            s.push_back(commit);
            while s.len() > SERIES_CAPACITY {
                s.pop_front();
            }
        }
        self.nodes = nodes;
        self.load = load;
        self.version += 1;
        self.update_leader(now_ms);
    }

    /// Whether node `n` is on the minority side of a partition (cut from most of its peers)
    /// in a cluster of `total` nodes.
    pub fn partitioned(n: &NodeInfo, total: usize) -> bool {
        let peers = total.max(n.faults.cut.len() + 1) - 1;
        !n.faults.cut.is_empty() && n.faults.cut.len() * 2 > peers
    }

    /// `running`, `paused`, `killed`, `exited`, or `partitioned`.
    pub fn state_word(n: &NodeInfo, total: usize) -> &'static str {
        if n.status == NodeStatus::Running && Self::partitioned(n, total) {
            "partitioned"
        } else {
            n.status.as_str()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn state(node: u64, at_ms: u64, role: &str, term: u64) -> SupEvent {
        let fields = json!({"role": role, "term": term})
            .as_object()
            .cloned()
            .unwrap_or_default();
        SupEvent {
            node,
            at_ms,
            kind: SupEventKind::Node {
                event: NodeEvent::State { fields },
            },
        }
    }

    fn ev(node: u64, at_ms: u64, kind: SupEventKind) -> SupEvent {
        SupEvent { node, at_ms, kind }
    }

    #[test]
    fn killing_the_leader_records_the_time_without_one() {
        let mut m = RaftModel::new();
        for i in 1..=3 {
            m.on_event(&ev(
                i,
                0,
                SupEventKind::Spawned {
                    pid: 100 + i as u32,
                },
            ));
        }
        m.on_event(&state(1, 10, "leader", 1));
        m.on_event(&state(2, 10, "follower", 1));
        assert_eq!(m.leader, Some((1, 1)));
        m.on_event(&ev(1, 1000, SupEventKind::Killed));
        assert_eq!(m.leader, None);
        m.on_event(&state(2, 1240, "leader", 2));
        assert_eq!(m.leader, Some((2, 2)));
        let texts: Vec<&str> = m.timeline.iter().map(|e| e.text.as_str()).collect();
        assert!(texts.contains(&"node 1 killed (SIGKILL)"));
        assert!(texts.contains(&"node 2 elected leader for term 2 after 240 ms without a leader"));
    }
}
