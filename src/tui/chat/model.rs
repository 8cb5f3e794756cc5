//! The chat dashboard's model: the nodes' state events (server, proxy, clients; see
//! [`crate::chat`] for their fields) decoded into client rows, the server's rejects by reason,
//! what the proxy does, each room's last messages, the message-rate series and a timeline.
//! Every buffer is bounded; a malformed field decodes to an empty value, never a panic.
//!
//! The timeline is derived from what the nodes report: the server's reject counters growing
//! is an attack detected (by reason), clients' reconnect counters growing are sessions
//! re-established, the proxy's mode changing is an attack started or cleared, a new entry in
//! its `leaked` map is a leaked PSK with what the attacker got from it (impersonation) and
//! did not (the recorded sessions: forward secrecy), a name moving to or from the server's
//! `revoked` list a revocation or an enrolment. Entries about the same ongoing thing (the
//! AEAD rejects of one attack) are updated in place for a few seconds rather than repeated.

use std::collections::{BTreeMap, VecDeque};

use serde_json::{Map, Value};

pub use super::report::{
    ClientState, Leak, ProxyState, REASONS, ROOM_CAPACITY, RoomState, ServerState, reason_name,
};
use crate::cluster::{NodeEvent, NodeInfo, NodeStatus, SupEvent, SupEventKind};
use crate::tui::dash::logbook::LogBook;
use crate::tui::dash::{SERIES_CAPACITY, TIMELINE_CAPACITY};

/// How long an entry about an ongoing thing is updated in place.
const MERGE_MS: u64 = 5_000;

/// The server's node id.
pub const SERVER: u64 = crate::chat::lab::SERVER;
/// The proxy's node id.
pub const MITM: u64 = crate::chat::lab::MITM;

/// The kind of a timeline entry (colours it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// An attack, a kill, a rejected connection, a leak.
    Fault,
    /// A restart, sessions re-established, attacks cleared.
    Repair,
    /// Something good: forward secrecy held, logs identical.
    Good,
    /// Anything else.
    Info,
}

/// One entry of the timeline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Milliseconds since the Unix epoch (of its latest update).
    pub at_ms: u64,
    /// The kind.
    pub kind: EventKind,
    /// What happened.
    pub text: String,
    /// Entries with the same key within [`MERGE_MS`] are one entry, updated.
    key: String,
}

/// The model.
#[derive(Clone, Debug, Default)]
pub struct ChatModel {
    /// The latest node snapshots.
    pub nodes: Vec<NodeInfo>,
    /// Clients by node id.
    pub clients: BTreeMap<u64, ClientState>,
    /// The server, once it reported.
    pub server: Option<ServerState>,
    /// The proxy, once it reported.
    pub proxy: Option<ProxyState>,
    /// Messages accepted per second, one point per server report.
    pub rate_series: VecDeque<u64>,
    /// Timeline, oldest first.
    pub timeline: VecDeque<Entry>,
    /// Merged log lines.
    pub logs: LogBook,
    /// Bumped on every change.
    pub version: u64,
    status: BTreeMap<u64, NodeStatus>,
    /// Reconnects seen per client since the last aggregated timeline entry.
    reconnected: BTreeMap<String, u64>,
    /// Attacks the clients caught themselves, so far.
    client_caught: u64,
}

impl ChatModel {
    /// An empty model.
    pub fn new() -> Self {
        Self::default()
    }

    fn push(&mut self, at_ms: u64, kind: EventKind, key: &str, text: String) {
        // The same ongoing thing a moment ago: that entry moves here, updated (the timeline
        // stays in time order and one attack is one line).
        if !key.is_empty() {
            let len = self.timeline.len();
            if let Some(i) = (len.saturating_sub(6)..len).rev().find(|&i| {
                self.timeline[i].key == key
                    && at_ms.saturating_sub(self.timeline[i].at_ms) <= MERGE_MS
            }) {
                self.timeline.remove(i);
            }
        }
        self.timeline.push_back(Entry {
            at_ms,
            kind,
            text,
            key: key.to_string(),
        });
        while self.timeline.len() > TIMELINE_CAPACITY {
            self.timeline.pop_front();
        }
    }

    /// Adds what a command of the dashboard did to the timeline.
    pub fn note(&mut self, at_ms: u64, kind: EventKind, text: String) {
        self.version += 1;
        self.push(at_ms, kind, "", text);
    }

    /// Forgets a stopped lab's nodes (the timeline and logs stay).
    pub fn forget_lab(&mut self) {
        self.nodes.clear();
        self.clients.clear();
        self.server = None;
        self.proxy = None;
        self.status.clear();
        self.reconnected.clear();
        self.client_caught = 0;
        self.version += 1;
    }

    /// `server`, `mitm`, `c3`, or `node N`.
    pub fn who(&self, id: u64) -> String {
        match id {
            SERVER => "server".into(),
            MITM => "mitm proxy".into(),
            _ => self
                .clients
                .get(&id)
                .map(|c| c.name.clone())
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| format!("client node {id}")),
        }
    }

    /// The name of client node `id` (`c{id-2}` before it reported: the lab's naming).
    pub fn client_name(&self, id: u64) -> Option<String> {
        if id <= MITM {
            return None;
        }
        Some(
            self.clients
                .get(&id)
                .map(|c| c.name.clone())
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| format!("c{}", id - MITM)),
        )
    }

    /// The session word a client row shows: the server's `revoked` wins, a dead process is
    /// `down`, else what the client says.
    pub fn session_of(&self, id: u64) -> String {
        let name = self.client_name(id).unwrap_or_default();
        if self
            .server
            .as_ref()
            .is_some_and(|s| s.revoked.contains(&name))
        {
            return "revoked".into();
        }
        let alive = self
            .nodes
            .iter()
            .find(|n| n.id == id)
            .is_none_or(|n| n.status.is_alive());
        if !alive {
            return "down".into();
        }
        self.clients
            .get(&id)
            .map(|c| c.session.clone())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "starting".into())
    }

    /// Delivery latency over the live clients: (median of their p50s, worst p99).
    pub fn latency(&self) -> (f64, f64) {
        let mut p50: Vec<f64> = self
            .clients
            .values()
            .filter(|c| c.received > 0)
            .map(|c| c.p50_ms)
            .collect();
        p50.sort_by(f64::total_cmp);
        let mid = p50.get(p50.len() / 2).copied().unwrap_or(0.0);
        let worst = self.clients.values().map(|c| c.p99_ms).fold(0.0, f64::max);
        (mid, worst)
    }

    /// Client sessions now usable (established or rekeyed), and clients.
    pub fn established(&self) -> (usize, usize) {
        let ids: Vec<u64> = self.clients.keys().copied().collect();
        let up = ids
            .iter()
            .filter(|id| matches!(self.session_of(**id).as_str(), "established" | "rekeyed"))
            .count();
        (up, ids.len())
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
                    let who = self.who(n);
                    let how = if n > MITM {
                        " (resumes from its last id)"
                    } else {
                        " on its data dir"
                    };
                    self.push(
                        at,
                        EventKind::Repair,
                        "",
                        format!("{who} restarted (pid {pid}){how}"),
                    );
                }
                self.logs
                    .push(at, n, "info", format!("started (pid {pid})"));
            }
            SupEventKind::Killed => {
                self.status.insert(n, NodeStatus::Killed);
                let who = self.who(n);
                self.push(at, EventKind::Fault, "", format!("{who} killed (SIGKILL)"));
            }
            SupEventKind::Paused => {
                self.status.insert(n, NodeStatus::Paused);
                let who = self.who(n);
                self.push(at, EventKind::Fault, "", format!("{who} paused (SIGSTOP)"));
            }
            SupEventKind::Resumed => {
                self.status.insert(n, NodeStatus::Running);
                let who = self.who(n);
                self.push(
                    at,
                    EventKind::Repair,
                    "",
                    format!("{who} resumed (SIGCONT)"),
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
                    let who = self.who(n);
                    self.push(at, EventKind::Info, "", format!("{who} {how}"));
                }
            }
            SupEventKind::Faults { .. } => {}
            SupEventKind::Stderr { line } => self.logs.push(at, n, "stderr", line.clone()),
            SupEventKind::Node { event } => match event {
                NodeEvent::Log { level, msg } => self.logs.push(at, n, level, msg.clone()),
                NodeEvent::Fatal { msg } => {
                    self.logs.push(at, n, "fatal", msg.clone());
                    let who = self.who(n);
                    self.push(at, EventKind::Fault, "", format!("{who} FATAL: {msg}"));
                }
                NodeEvent::State { fields } => self.on_state(n, at, fields),
                NodeEvent::Ready { .. } | NodeEvent::Metrics { .. } => {}
            },
        }
    }

    fn on_state(&mut self, n: u64, at: u64, f: &Map<String, Value>) {
        match f.get("role").and_then(Value::as_str) {
            Some("server") => self.on_server(at, f),
            Some("mitm") => self.on_proxy(at, f),
            Some("client") => self.on_client(n, at, f),
            _ => {}
        }
    }

    fn on_server(&mut self, at: u64, f: &Map<String, Value>) {
        let new = ServerState::from_fields(f, self.server.as_ref());
        let old = self.server.take();
        if let Some(old) = &old {
            for (reason, label) in REASONS {
                let (a, b) = (
                    old.rejects.get(reason).copied().unwrap_or(0),
                    new.rejects.get(reason).copied().unwrap_or(0),
                );
                if b > a {
                    self.push(
                        at,
                        EventKind::Fault,
                        &format!("reject {reason}"),
                        format!("attack detected by the server: {label} ({b} so far)"),
                    );
                }
            }
            for name in new.revoked.difference(&old.revoked) {
                self.push(
                    at,
                    EventKind::Fault,
                    "",
                    format!("{name} revoked: its session ends, its handshakes are refused"),
                );
            }
            for name in old.revoked.difference(&new.revoked) {
                self.push(
                    at,
                    EventKind::Repair,
                    "",
                    format!("{name} enrolled again with a fresh PSK"),
                );
            }
            for name in new.enrolled.difference(&old.enrolled) {
                if !old.revoked.contains(name) {
                    self.push(at, EventKind::Info, "", format!("{name} enrolled"));
                }
            }
        }
        let m = new.msgs_per_s;
        self.rate_series.push_back(m);
        while self.rate_series.len() > SERIES_CAPACITY {
            self.rate_series.pop_front();
        }
        self.server = Some(new);
        self.flush_reconnects(at);
    }

    /// One timeline entry for the sessions re-established since the last server report.
    fn flush_reconnects(&mut self, at: u64) {
        if self.reconnected.is_empty() {
            return;
        }
        let total: u64 = self.reconnected.values().sum();
        let who: Vec<String> = self.reconnected.keys().cloned().collect();
        self.reconnected.clear();
        let shown = if who.len() > 6 {
            format!("{} and {} more", who[..5].join(" "), who.len() - 5)
        } else {
            who.join(" ")
        };
        let plural = if total == 1 { "" } else { "s" };
        self.push(
            at,
            EventKind::Repair,
            "reconnects",
            format!(
                "sessions re-established: {shown} ({total} new handshake{plural}), each resuming after its last id"
            ),
        );
    }

    fn on_proxy(&mut self, at: u64, f: &Map<String, Value>) {
        let new = ProxyState::from_fields(f);
        let old = self.proxy.take().unwrap_or_default();
        if !old.mode.is_empty() && new.mode != old.mode {
            if new.attacking() {
                self.push(at, EventKind::Fault, "", format!("mitm now: {}", new.mode));
            } else {
                self.push(
                    at,
                    EventKind::Repair,
                    "",
                    "mitm cleared: pass-through".into(),
                );
            }
        }
        let cuts = |p: &ProxyState| p.attacks.get("cut").copied().unwrap_or(0);
        if cuts(&new) > cuts(&old) {
            self.push(
                at,
                EventKind::Fault,
                "",
                "mitm reset every client connection (cut)".into(),
            );
        }
        for (name, l) in &new.leaked {
            if old.leaked.get(name) == Some(l) {
                continue;
            }
            let imp = if l.accepted {
                format!(
                    "the attacker logged in as {name} (forged message id {}, read {} messages of history)",
                    l.forged_id.map_or("?".into(), |i| i.to_string()),
                    l.history_read
                )
            } else {
                format!("the attacker could not log in as {name}")
            };
            self.push(
                at,
                EventKind::Fault,
                "",
                format!("{name}'s PSK leaked: {imp}"),
            );
            let (kind, fs) = if l.decrypted == 0 {
                (
                    EventKind::Good,
                    format!(
                        "forward secrecy held: 0 of {} recorded {name} sessions decrypted with the leaked PSK (message 1 verified in {})",
                        l.tried, l.msg1_verified
                    ),
                )
            } else {
                (
                    EventKind::Fault,
                    format!(
                        "FORWARD SECRECY BROKEN: {} of {} recorded {name} sessions decrypted",
                        l.decrypted, l.tried
                    ),
                )
            };
            self.push(at, kind, "", fs);
        }
        self.proxy = Some(new);
    }

    fn on_client(&mut self, n: u64, at: u64, f: &Map<String, Value>) {
        let new = ClientState::from_fields(f);
        if let Some(old) = self.clients.get(&n) {
            if new.reconnects > old.reconnects {
                *self.reconnected.entry(new.name.clone()).or_default() +=
                    new.reconnects - old.reconnects;
            }
            // What a client caught itself (frames from the server tampered with, dropped…).
            let grew: Vec<(String, u64)> = ["aead", "bad_handshake", "protocol"]
                .into_iter()
                .filter_map(|r| {
                    let (a, b) = (
                        old.rejects.get(r).copied().unwrap_or(0),
                        new.rejects.get(r).copied().unwrap_or(0),
                    );
                    (b > a).then(|| (r.to_string(), b - a))
                })
                .collect();
            for (r, _) in grew {
                self.client_caught += 1;
                let total = self.client_caught;
                self.push(
                    at,
                    EventKind::Fault,
                    &format!("client {r}"),
                    format!(
                        "attack detected by {}: {} on a server frame ({total} caught by clients)",
                        new.name,
                        reason_name(&r)
                    ),
                );
            }
        }
        self.clients.insert(n, new);
    }

    /// Client-detected rejects by reason, summed over the clients: (AEAD, bad handshake,
    /// protocol, everything else by name).
    pub fn client_rejects(&self) -> BTreeMap<String, u64> {
        let mut out = BTreeMap::new();
        for c in self.clients.values() {
            for (k, n) in &c.rejects {
                *out.entry(k.clone()).or_default() += n;
            }
        }
        out
    }

    /// Takes fresh node snapshots (once per UI tick).
    pub fn refresh(&mut self, nodes: Vec<NodeInfo>) {
        for n in &nodes {
            self.status.entry(n.id).or_insert(n.status);
            // Nodes that reported before the dashboard subscribed.
            if n.status.is_alive() && !n.state.is_empty() {
                match n.state.get("role").and_then(Value::as_str) {
                    Some("server") if self.server.is_none() => {
                        self.server = Some(ServerState::from_fields(&n.state, None));
                    }
                    Some("mitm") if self.proxy.is_none() => {
                        self.proxy = Some(ProxyState::from_fields(&n.state));
                    }
                    Some("client") if !self.clients.contains_key(&n.id) => {
                        self.clients
                            .insert(n.id, ClientState::from_fields(&n.state));
                    }
                    _ => {}
                }
            }
        }
        self.nodes = nodes;
        self.version += 1;
    }

    /// The room a view should show: the selected client's, else the busiest.
    pub fn room_for(&self, selected: u64) -> Option<String> {
        if let Some(c) = self.clients.get(&selected)
            && !c.room.is_empty()
        {
            return Some(c.room.clone());
        }
        self.server.as_ref().and_then(|s| {
            s.rooms
                .iter()
                .max_by_key(|(_, r)| r.last_id)
                .map(|(n, _)| n.clone())
        })
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

    fn texts(m: &ChatModel) -> Vec<&str> {
        m.timeline.iter().map(|e| e.text.as_str()).collect()
    }

    fn server(aead: u64, revoked: &[&str], last: Value) -> Value {
        json!({"role":"server","rejects":{"aead":aead,"bad_handshake":0},"msgs_total":10,
               "msgs_per_s":3,"enrolled":["c1","c2"],"revoked":revoked,
               "rooms":{"lobby":{"last_id":10,"members":["c1"],"last":last}},
               "clients":{"c1":{"session":"established"}}})
    }

    #[test]
    fn attacks_reconnects_and_a_leak_reach_the_timeline_once_each() {
        let mut m = ChatModel::new();
        m.on_event(&state(2, 0, json!({"role":"mitm","mode":"pass-through"})));
        m.on_event(&state(1, 0, server(0, &[], json!([]))));
        let client = |rc: u64| json!({"role":"client","name":"c1","room":"lobby","session":"established","reconnects":rc});
        m.on_event(&state(3, 0, client(0)));
        m.on_event(&state(2, 100, json!({"role":"mitm","mode":"tamper"})));
        m.on_event(&state(1, 1000, server(2, &[], json!([]))));
        m.on_event(&state(3, 1500, client(2)));
        // A second reject a second later updates the same entry.
        m.on_event(&state(1, 2000, server(5, &[], json!([]))));
        let leak = json!({"c1":{"impersonation":{"accepted":true,"forged_id":11,"history_read":10},
            "captures_tried":3,"msg1_verified_with_psk":3,"captures_decrypted":0,"forward_secrecy_held":true}});
        m.on_event(&state(
            2,
            3000,
            json!({"role":"mitm","mode":"pass-through","leaked":leak}),
        ));
        m.on_event(&state(1, 4000, server(5, &["c2"], json!([]))));
        assert_eq!(
            texts(&m),
            vec![
                "mitm now: tamper",
                "attack detected by the server: AEAD failure (5 so far)",
                "sessions re-established: c1 (2 new handshakes), each resuming after its last id",
                "mitm cleared: pass-through",
                "c1's PSK leaked: the attacker logged in as c1 (forged message id 11, read 10 messages of history)",
                "forward secrecy held: 0 of 3 recorded c1 sessions decrypted with the leaked PSK (message 1 verified in 3)",
                "c2 revoked: its session ends, its handshakes are refused",
            ]
        );
        assert_eq!(m.session_of(3), "established");
    }

    #[test]
    fn room_messages_accumulate_by_id_and_are_bounded() {
        let mut m = ChatModel::new();
        for k in 0..100u64 {
            let last: Vec<Value> = (k * 5 + 1..=k * 5 + 5)
                .map(|id| json!({"id": id, "from": "c1", "text": format!("m{id}")}))
                .collect();
            m.on_event(&state(1, k, server(0, &[], json!(last))));
            // The same report twice adds nothing.
            m.on_event(&state(1, k, server(0, &[], json!(last))));
        }
        let room = &m.server.as_ref().unwrap().rooms["lobby"];
        assert_eq!(room.messages.len(), ROOM_CAPACITY);
        assert_eq!(room.messages.back().unwrap().0, 500);
        assert_eq!(room.messages.front().unwrap().0, 301);
    }

    #[test]
    fn malformed_reports_decode_to_empty_values() {
        let mut m = ChatModel::new();
        m.on_event(&state(
            1,
            0,
            json!({"role":"server","rooms":[1,2],"rejects":"x","clients":7}),
        ));
        m.on_event(&state(
            2,
            0,
            json!({"role":"mitm","leaked":{"c1":5},"attacks":[]}),
        ));
        m.on_event(&state(
            3,
            0,
            json!({"role":"client","name":7,"p99_ms":"slow"}),
        ));
        assert!(m.server.as_ref().unwrap().rooms.is_empty());
        assert_eq!(m.clients[&3].name, "");
        assert_eq!(m.client_name(3).as_deref(), Some("c1"));
        assert!(!m.proxy.as_ref().unwrap().leaked["c1"].accepted);
    }
}
