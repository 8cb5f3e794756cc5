//! What the chat lab's nodes report in their `state` events (see [`crate::chat`] for the
//! fields), decoded for the dashboard: a client's session and delivery figures, the proxy's
//! mode, attacks and leaked PSKs, the server's rooms (with their last messages), rejects by
//! reason and revocations. Malformed or oversized fields decode to empty values, never to a
//! panic.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde_json::{Map, Value};

/// Messages kept per room.
pub const ROOM_CAPACITY: usize = 200;
/// Longest message text kept (characters).
const TEXT_MAX: usize = 200;
/// Rooms and clients decoded at most (a larger report is cut).
const MAX_ENTRIES: usize = 1000;

/// The server's reject reasons as the dashboard names them, in display order.
pub const REASONS: [(&str, &str); 5] = [
    ("aead", "AEAD failure"),
    ("bad_handshake", "bad handshake"),
    ("unknown_client", "unknown client"),
    ("revoked", "revoked"),
    ("protocol", "protocol"),
];

/// A client bot as it reports itself.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ClientState {
    /// Its name (`c1`).
    pub name: String,
    /// Its room.
    pub room: String,
    /// `handshaking`, `established`, `rekeyed`, `broken`.
    pub session: String,
    /// The last room id it holds.
    pub last_id: u64,
    /// Messages it posted.
    pub sent: u64,
    /// Of those, acknowledged (durable).
    pub acked: u64,
    /// Room messages received.
    pub received: u64,
    /// Received per second.
    pub msgs_per_s: u64,
    /// Delivery latency p50, ms.
    pub p50_ms: f64,
    /// Delivery latency p99, ms.
    pub p99_ms: f64,
    /// Sessions re-established.
    pub reconnects: u64,
    /// Rekeys.
    pub rekeys: u64,
    /// Why its sessions ended, by reason.
    pub rejects: BTreeMap<String, u64>,
}

/// One leaked PSK and what the attacker made of it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Leak {
    /// The server accepted the attacker as the client.
    pub accepted: bool,
    /// The id its forged message got.
    pub forged_id: Option<u64>,
    /// Room history it read as the client.
    pub history_read: u64,
    /// Recorded sessions of the client it tried to decrypt.
    pub tried: u64,
    /// Of those, message 1 verified with the PSK (the PSK is right).
    pub msg1_verified: u64,
    /// Of those, transport frames decrypted (0: forward secrecy held).
    pub decrypted: u64,
}

/// The proxy as it reports itself.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProxyState {
    /// `drop 10% + reorder`, or `pass-through`.
    pub mode: String,
    /// Rate of the probabilistic attacks, %.
    pub rate_pct: u64,
    /// Open client connections.
    pub connections: u64,
    /// Frames relayed.
    pub frames: u64,
    /// Attacks done, by kind.
    pub attacks: BTreeMap<String, u64>,
    /// Recorded sessions.
    pub captures: u64,
    /// Leaked PSKs, by client.
    pub leaked: BTreeMap<String, Leak>,
}

/// A room as the server reports it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RoomState {
    /// The last id in its log.
    pub last_id: u64,
    /// Clients in it now.
    pub members: Vec<String>,
    /// Its last messages (id, from, text), oldest first.
    pub messages: VecDeque<(u64, String, String)>,
}

/// The server as it reports itself.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ServerState {
    /// Rooms by name.
    pub rooms: BTreeMap<String, RoomState>,
    /// Rejected or broken connections, by reason.
    pub rejects: BTreeMap<String, u64>,
    /// Messages accepted.
    pub msgs_total: u64,
    /// Accepted per second.
    pub msgs_per_s: u64,
    /// Sessions established.
    pub handshakes: u64,
    /// Open connections.
    pub connections: u64,
    /// Enrolled names.
    pub enrolled: BTreeSet<String>,
    /// Revoked names.
    pub revoked: BTreeSet<String>,
    /// The server's view of each client's session (`established`, `broken`, `revoked`, …).
    pub sessions: BTreeMap<String, String>,
}

fn u(f: &Map<String, Value>, k: &str) -> u64 {
    f.get(k).and_then(Value::as_u64).unwrap_or(0)
}

fn s(f: &Map<String, Value>, k: &str) -> String {
    f.get(k)
        .and_then(Value::as_str)
        .map(|v| v.chars().take(TEXT_MAX).collect())
        .unwrap_or_default()
}

fn counts(v: Option<&Value>) -> BTreeMap<String, u64> {
    match v {
        Some(Value::Object(m)) => m
            .iter()
            .take(MAX_ENTRIES)
            .filter_map(|(k, n)| n.as_u64().map(|n| (k.clone(), n)))
            .collect(),
        _ => BTreeMap::new(),
    }
}

fn names(v: Option<&Value>) -> BTreeSet<String> {
    match v {
        Some(Value::Array(a)) => a
            .iter()
            .take(MAX_ENTRIES)
            .filter_map(|n| n.as_str().map(String::from))
            .collect(),
        _ => BTreeSet::new(),
    }
}

impl ClientState {
    /// Decodes a client's state event.
    pub fn from_fields(f: &Map<String, Value>) -> Self {
        let ms = |k: &str| f.get(k).and_then(Value::as_f64).unwrap_or(0.0);
        ClientState {
            name: s(f, "name"),
            room: s(f, "room"),
            session: s(f, "session"),
            last_id: u(f, "last_id"),
            sent: u(f, "sent"),
            acked: u(f, "acked"),
            received: u(f, "received"),
            msgs_per_s: u(f, "msgs_per_s"),
            p50_ms: ms("p50_ms"),
            p99_ms: ms("p99_ms"),
            reconnects: u(f, "reconnects"),
            rekeys: u(f, "rekeys"),
            rejects: counts(f.get("rejects")),
        }
    }
}

impl ProxyState {
    /// Decodes the proxy's state event.
    pub fn from_fields(f: &Map<String, Value>) -> Self {
        let leaked = match f.get("leaked") {
            Some(Value::Object(m)) => m
                .iter()
                .take(MAX_ENTRIES)
                .map(|(name, v)| {
                    let imp = &v["impersonation"];
                    let leak = Leak {
                        accepted: imp["accepted"].as_bool().unwrap_or(false),
                        forged_id: imp["forged_id"].as_u64(),
                        history_read: imp["history_read"].as_u64().unwrap_or(0),
                        tried: v["captures_tried"].as_u64().unwrap_or(0),
                        msg1_verified: v["msg1_verified_with_psk"].as_u64().unwrap_or(0),
                        decrypted: v["captures_decrypted"].as_u64().unwrap_or(0),
                    };
                    (name.clone(), leak)
                })
                .collect(),
            _ => BTreeMap::new(),
        };
        ProxyState {
            mode: s(f, "mode"),
            rate_pct: u(f, "rate_pct"),
            connections: u(f, "connections"),
            frames: u(f, "frames"),
            attacks: counts(f.get("attacks")),
            captures: u(f, "captures"),
            leaked,
        }
    }

    /// Whether any attack is on.
    pub fn attacking(&self) -> bool {
        !self.mode.is_empty() && self.mode != "pass-through"
    }
}

impl ServerState {
    /// Decodes the server's state event; `prev` keeps each room's earlier messages.
    pub fn from_fields(f: &Map<String, Value>, prev: Option<&ServerState>) -> Self {
        let mut rooms = BTreeMap::new();
        if let Some(Value::Object(m)) = f.get("rooms") {
            for (name, r) in m.iter().take(MAX_ENTRIES) {
                let mut room = prev
                    .and_then(|p| p.rooms.get(name))
                    .cloned()
                    .unwrap_or_default();
                room.last_id = r["last_id"].as_u64().unwrap_or(0);
                room.members = names(r.get("members")).into_iter().collect();
                let newest = room.messages.back().map_or(0, |m| m.0);
                for m in r["last"].as_array().into_iter().flatten() {
                    let id = m["id"].as_u64().unwrap_or(0);
                    if id > newest {
                        let from = m["from"].as_str().unwrap_or("?").chars().take(64);
                        let text = m["text"].as_str().unwrap_or("").chars().take(TEXT_MAX);
                        room.messages
                            .push_back((id, from.collect(), text.collect()));
                    }
                }
                while room.messages.len() > ROOM_CAPACITY {
                    room.messages.pop_front();
                }
                rooms.insert(name.clone(), room);
            }
        }
        let sessions = match f.get("clients") {
            Some(Value::Object(m)) => m
                .iter()
                .take(MAX_ENTRIES)
                .map(|(n, v)| (n.clone(), v["session"].as_str().unwrap_or("").to_string()))
                .collect(),
            _ => BTreeMap::new(),
        };
        ServerState {
            rooms,
            rejects: counts(f.get("rejects")),
            msgs_total: u(f, "msgs_total"),
            msgs_per_s: u(f, "msgs_per_s"),
            handshakes: u(f, "handshakes"),
            connections: u(f, "connections"),
            enrolled: names(f.get("enrolled")),
            revoked: names(f.get("revoked")),
            sessions,
        }
    }

    /// Rejects of every reason.
    pub fn rejects_total(&self) -> u64 {
        self.rejects.values().sum()
    }
}

/// The dashboard's name for a reject reason (`aead` → `AEAD failure`).
pub fn reason_name(r: &str) -> &str {
    REASONS
        .iter()
        .find(|(k, _)| *k == r)
        .map_or(r, |(_, name)| name)
}
