//! The replicated state machine: a string → bytes map with get, put, delete and compare-and-set,
//! plus a session table that makes writes exactly-once.
//!
//! A log entry carries `(client, seq, op)`. The session table remembers, per client, the last
//! `seq` applied and its reply; a write that arrives again with the same `(client, seq)` — the
//! client retried after a timeout or a failover — returns the remembered reply instead of being
//! applied twice. The table lives in the state machine, so it is replicated and snapshotted with
//! the data and every replica makes the same decision.

use imbl::{HashMap, OrdMap};

use super::codec::{Op, Reply, get_op, get_reply, put_op, put_reply};
use super::message::Index;
use crate::wire::{DecodeError, Decoder, Encoder};

/// Most client sessions remembered; past it the least recently used one is forgotten (a client
/// idle that long that retries gets its write applied again, the documented cost of a bound).
pub const MAX_SESSIONS: usize = 100_000;

/// A write as stored in the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Command {
    /// Client session id.
    pub client: u64,
    /// Client sequence number.
    pub seq: u64,
    /// The operation (never a `Get`).
    pub op: Op,
}

/// Encodes a command as a log entry payload.
pub fn encode_command(c: &Command) -> Vec<u8> {
    let mut e = Encoder::new();
    e.u64(c.client).u64(c.seq);
    put_op(&mut e, &c.op);
    e.finish()
}

/// Decodes a log entry payload.
pub fn decode_command(buf: &[u8]) -> Result<Command, DecodeError> {
    let mut d = Decoder::new(buf);
    let c = Command {
        client: d.u64("client")?,
        seq: d.u64("seq")?,
        op: get_op(&mut d)?,
    };
    d.finish()?;
    Ok(c)
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Session {
    seq: u64,
    reply: Reply,
    last_index: Index,
}

/// The key-value state machine. Its maps are persistent (`imbl`): a clone costs O(1) and
/// shares structure, and later writes copy only the paths they touch, so the node can hand a
/// frozen copy to a snapshot writer thread and encode it there while it keeps applying.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KvStore {
    data: OrdMap<String, Vec<u8>>,
    sessions: HashMap<u64, Session>,
    applied: Index,
}

impl KvStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Index of the last entry applied.
    pub fn applied(&self) -> Index {
        self.applied
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Whether there are no keys.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Reads a key.
    pub fn get(&self, key: &str) -> Option<&[u8]> {
        self.data.get(key).map(|v| v.as_slice())
    }

    /// Every key and value, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.data.iter().map(|(k, v)| (k.as_str(), v.as_slice()))
    }

    /// Marks `index` applied without a command (no-op entries).
    pub fn skip(&mut self, index: Index) {
        self.applied = self.applied.max(index);
    }

    /// Applies the command in the entry at `index` and returns its reply. A payload that does
    /// not decode is applied as nothing (every replica decides the same) and reported.
    pub fn apply(&mut self, index: Index, payload: &[u8]) -> Result<(Command, Reply), DecodeError> {
        self.applied = self.applied.max(index);
        let cmd = decode_command(payload)?;
        if let Some(s) = self.sessions.get(&cmd.client) {
            if cmd.seq == s.seq {
                return Ok((cmd, s.reply.clone()));
            }
            if cmd.seq < s.seq {
                // An older retry that nobody waits for any more.
                return Ok((cmd, Reply::Error("stale request".into())));
            }
        }
        let reply = self.execute(&cmd.op);
        if self.sessions.len() >= MAX_SESSIONS && !self.sessions.contains_key(&cmd.client) {
            self.evict_oldest_session();
        }
        self.sessions.insert(
            cmd.client,
            Session {
                seq: cmd.seq,
                reply: reply.clone(),
                last_index: index,
            },
        );
        Ok((cmd, reply))
    }

    fn evict_oldest_session(&mut self) {
        if let Some((&client, _)) = self
            .sessions
            .iter()
            .min_by_key(|(c, s)| (s.last_index, **c))
        {
            self.sessions.remove(&client);
        }
    }

    fn execute(&mut self, op: &Op) -> Reply {
        match op {
            Op::Get { key } => Reply::Value(self.data.get(key).cloned()),
            Op::Put { key, value } => {
                self.data.insert(key.clone(), value.clone());
                Reply::Done
            }
            Op::Del { key } => Reply::Deleted(self.data.remove(key).is_some()),
            Op::Cas { key, expected, new } => {
                let current = self.data.get(key).cloned();
                let swapped = current.as_deref() == Some(expected.as_slice());
                if swapped {
                    self.data.insert(key.clone(), new.clone());
                }
                Reply::Cas { swapped, current }
            }
        }
    }

    /// Serializes the whole state (data, sessions, applied index).
    pub fn snapshot(&self) -> Vec<u8> {
        let mut e = Encoder::new();
        e.u32(1).u64(self.applied).u64(self.data.len() as u64);
        for (k, v) in &self.data {
            e.str(k).bytes(v);
        }
        let mut sessions: Vec<_> = self.sessions.iter().collect();
        sessions.sort_by_key(|(c, _)| **c);
        e.u64(sessions.len() as u64);
        for (client, s) in sessions {
            e.u64(*client).u64(s.seq).u64(s.last_index);
            put_reply(&mut e, &s.reply);
        }
        e.finish()
    }

    /// Rebuilds a store from [`KvStore::snapshot`] bytes.
    pub fn restore(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut d = Decoder::new(bytes);
        let version = d.u32("snapshot version")?;
        if version != 1 {
            return Err(DecodeError::Invalid {
                what: "snapshot version",
                value: version as u64,
            });
        }
        let applied = d.u64("applied")?;
        let n = d.u64("key count")?;
        let mut data = OrdMap::new();
        for _ in 0..n {
            let k = d.str("key")?.to_string();
            let v = d.bytes("value")?.to_vec();
            data.insert(k, v);
        }
        let m = d.u64("session count")?;
        let mut sessions = HashMap::new();
        for _ in 0..m {
            let client = d.u64("client")?;
            let seq = d.u64("seq")?;
            let last_index = d.u64("last index")?;
            let reply = get_reply(&mut d)?;
            sessions.insert(
                client,
                Session {
                    seq,
                    reply,
                    last_index,
                },
            );
        }
        d.finish()?;
        Ok(Self {
            data,
            sessions,
            applied,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(client: u64, seq: u64, op: Op) -> Vec<u8> {
        encode_command(&Command { client, seq, op })
    }

    fn put(k: &str, v: &str) -> Op {
        Op::Put {
            key: k.into(),
            value: v.as_bytes().to_vec(),
        }
    }

    #[test]
    fn retried_write_is_applied_exactly_once() {
        let mut kv = KvStore::new();
        kv.apply(1, &cmd(7, 1, put("k", "a"))).unwrap();
        let cas = Op::Cas {
            key: "k".into(),
            expected: b"a".to_vec(),
            new: b"b".to_vec(),
        };
        let (_, first) = kv.apply(2, &cmd(7, 2, cas.clone())).unwrap();
        assert_eq!(
            first,
            Reply::Cas {
                swapped: true,
                current: Some(b"a".to_vec())
            }
        );
        // The same (client, seq) again: the remembered reply, and no second swap attempt.
        let (_, again) = kv.apply(3, &cmd(7, 2, cas)).unwrap();
        assert_eq!(again, first);
        assert_eq!(kv.get("k"), Some(&b"b"[..]));
    }

    #[test]
    fn cas_on_missing_or_different_value_fails() {
        let mut kv = KvStore::new();
        let cas = Op::Cas {
            key: "k".into(),
            expected: b"a".to_vec(),
            new: b"b".to_vec(),
        };
        let (_, r) = kv.apply(1, &cmd(1, 1, cas)).unwrap();
        assert_eq!(
            r,
            Reply::Cas {
                swapped: false,
                current: None
            }
        );
        assert_eq!(kv.get("k"), None);
    }

    #[test]
    fn snapshot_round_trips_data_and_sessions() {
        let mut kv = KvStore::new();
        kv.apply(1, &cmd(1, 1, put("a", "1"))).unwrap();
        kv.apply(2, &cmd(2, 1, put("b", "2"))).unwrap();
        kv.apply(3, &cmd(1, 2, Op::Del { key: "a".into() }))
            .unwrap();
        let restored = KvStore::restore(&kv.snapshot()).unwrap();
        assert_eq!(restored, kv);
        assert!(KvStore::restore(&kv.snapshot()[..10]).is_err());
        assert!(KvStore::restore(b"").is_err());
    }

    #[test]
    fn a_clone_is_a_frozen_copy_that_later_writes_do_not_reach() {
        let mut kv = KvStore::new();
        for i in 0..1000 {
            kv.apply(i + 1, &cmd(1, i + 1, put(&format!("k{i}"), "v")))
                .unwrap();
        }
        let frozen = kv.clone();
        let bytes = kv.snapshot();
        kv.apply(1001, &cmd(1, 1001, put("k1", "changed"))).unwrap();
        kv.apply(1002, &cmd(2, 1, Op::Del { key: "k2".into() }))
            .unwrap();
        assert_eq!(frozen.snapshot(), bytes);
        assert_eq!(frozen.get("k1"), Some(&b"v"[..]));
        assert_eq!(kv.get("k1"), Some(&b"changed"[..]));
        assert_eq!(KvStore::restore(&bytes).unwrap(), frozen);
    }

    #[test]
    fn garbage_payload_is_an_error_not_a_panic() {
        let mut kv = KvStore::new();
        assert!(kv.apply(1, b"\xff\x00").is_err());
        assert_eq!(kv.applied(), 1);
    }
}
