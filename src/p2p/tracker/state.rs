//! The trackers' replicated state: idempotent ops with (origin, sequence), no consensus, no acks.
//!
//! The state is a join-semilattice: each torrent and each (torrent, peer) record is a
//! last-writer-wins register ordered by the op's [`Stamp`] (origin wall clock, origin, sequence),
//! a total order every replica agrees on. Applying an op twice, or two ops in either order, gives
//! the same state, so a replica may receive ops late, duplicated or out of order and still end
//! where the others end. Lost ops are found by anti-entropy: a replica sends its version vector
//! (the highest contiguous sequence it holds per origin) and is answered with the ops after it,
//! or with a snapshot (state + version vector) when those ops have left the bounded log.
//! A snapshot merges by the same join, so bootstrap and healing are the same operation.
//!
//! Each tracker incarnation is a new origin (id and start time), so a restarted tracker that
//! lost its memory never reuses a sequence number the other already holds.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use crate::wire::{DecodeError, Decoder, Encoder};

/// A 20-byte info hash or peer id.
pub type Id20 = [u8; 20];

/// The order of writes to one register: later stamps win.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Stamp {
    /// Origin wall clock, ms since the epoch.
    pub at_ms: u64,
    /// The origin replica incarnation.
    pub origin: u64,
    /// Its sequence number.
    pub seq: u64,
}

/// A torrent as the trackers know it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TorrentInfo {
    /// File name.
    pub name: String,
    /// Bytes.
    pub size: u64,
    /// Pieces.
    pub pieces: u32,
}

/// A peer in a swarm.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerRecord {
    /// Where it accepts peer-wire connections.
    pub addr: String,
    /// Its client session (0 for HTTP announces).
    pub session: u64,
    /// Pieces held (BitTorrent bitfield bytes; empty when unknown).
    pub pieces: Vec<u8>,
    /// Whether it holds the whole file.
    pub seeder: bool,
    /// Whether it left the swarm.
    pub left: bool,
}

/// What an op changes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OpKind {
    /// Register (or re-register) a torrent.
    Torrent {
        /// Its info hash.
        info_hash: Id20,
        /// Metadata.
        info: TorrentInfo,
    },
    /// Set a peer's record in a swarm.
    Peer {
        /// The swarm.
        info_hash: Id20,
        /// The peer.
        peer_id: Id20,
        /// Its record.
        record: PeerRecord,
    },
}

/// One replicated change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Op {
    /// Who made it and when.
    pub stamp: Stamp,
    /// What it does.
    pub kind: OpKind,
}

/// The replicated maps.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct State {
    /// Torrents by info hash.
    pub torrents: BTreeMap<Id20, (Stamp, TorrentInfo)>,
    /// Swarm members by (info hash, peer id).
    pub peers: BTreeMap<(Id20, Id20), (Stamp, PeerRecord)>,
}

impl State {
    /// Applies an op (idempotent, commutative).
    pub fn apply(&mut self, op: &Op) {
        match &op.kind {
            OpKind::Torrent { info_hash, info } => {
                let e = self
                    .torrents
                    .entry(*info_hash)
                    .or_insert((op.stamp, info.clone()));
                if op.stamp > e.0 {
                    *e = (op.stamp, info.clone());
                }
            }
            OpKind::Peer {
                info_hash,
                peer_id,
                record,
            } => {
                let e = self
                    .peers
                    .entry((*info_hash, *peer_id))
                    .or_insert((op.stamp, record.clone()));
                if op.stamp > e.0 {
                    *e = (op.stamp, record.clone());
                }
            }
        }
    }

    /// Joins another state into this one.
    pub fn merge(&mut self, other: &State) {
        for (k, (s, info)) in &other.torrents {
            self.apply(&Op {
                stamp: *s,
                kind: OpKind::Torrent {
                    info_hash: *k,
                    info: info.clone(),
                },
            });
        }
        for ((h, p), (s, record)) in &other.peers {
            self.apply(&Op {
                stamp: *s,
                kind: OpKind::Peer {
                    info_hash: *h,
                    peer_id: *p,
                    record: record.clone(),
                },
            });
        }
    }

    /// Live members of a swarm.
    pub fn swarm(&self, info_hash: &Id20) -> impl Iterator<Item = (&Id20, &Stamp, &PeerRecord)> {
        self.peers
            .range((*info_hash, [0u8; 20])..=(*info_hash, [0xffu8; 20]))
            .filter(|(_, (_, r))| !r.left)
            .map(|((_, p), (s, r))| (p, s, r))
    }
}

/// A version vector: highest contiguous sequence held per origin.
pub type VersionVector = BTreeMap<u64, u64>;

/// What a replica sends a peer that is behind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SyncReply {
    /// The ops it lacks.
    Ops(Vec<Op>),
    /// Everything: the log no longer reaches back far enough.
    Snapshot(State, VersionVector),
}

/// One tracker's replica: state, what it has seen, and a bounded log for catching others up.
#[derive(Debug)]
pub struct Replica {
    origin: u64,
    next_seq: u64,
    state: State,
    contiguous: VersionVector,
    ahead: BTreeMap<u64, BTreeSet<u64>>,
    log: VecDeque<Op>,
    log_limit: usize,
}

impl Replica {
    /// An empty replica for `origin`, keeping at most `log_limit` ops for catch-up.
    pub fn new(origin: u64, log_limit: usize) -> Replica {
        Replica {
            origin,
            next_seq: 1,
            state: State::default(),
            contiguous: BTreeMap::new(),
            ahead: BTreeMap::new(),
            log: VecDeque::new(),
            log_limit: log_limit.max(1),
        }
    }

    /// This replica's origin id.
    pub fn origin(&self) -> u64 {
        self.origin
    }

    /// The state.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// The version vector.
    pub fn version_vector(&self) -> &VersionVector {
        &self.contiguous
    }

    /// Total ops held (sum of the version vector).
    pub fn ops_held(&self) -> u64 {
        self.contiguous.values().sum()
    }

    /// Makes, applies and logs a local op.
    pub fn local(&mut self, kind: OpKind, at_ms: u64) -> Op {
        let op = Op {
            stamp: Stamp {
                at_ms,
                origin: self.origin,
                seq: self.next_seq,
            },
            kind,
        };
        self.next_seq += 1;
        self.apply(op.clone());
        op
    }

    fn seen(&self, s: &Stamp) -> bool {
        s.seq <= self.contiguous.get(&s.origin).copied().unwrap_or(0)
            || self
                .ahead
                .get(&s.origin)
                .is_some_and(|a| a.contains(&s.seq))
    }

    /// Applies an op from anywhere; returns whether it was new.
    pub fn apply(&mut self, op: Op) -> bool {
        if op.stamp.seq == 0 || self.seen(&op.stamp) {
            return false;
        }
        self.state.apply(&op);
        let o = op.stamp.origin;
        let ahead = self.ahead.entry(o).or_default();
        ahead.insert(op.stamp.seq);
        let c = self.contiguous.entry(o).or_insert(0);
        while ahead.remove(&(*c + 1)) {
            *c += 1;
        }
        if ahead.is_empty() {
            self.ahead.remove(&o);
        }
        self.log.push_back(op);
        while self.log.len() > self.log_limit {
            self.log.pop_front();
        }
        true
    }

    /// What a replica whose version vector is `theirs` lacks.
    pub fn sync_for(&self, theirs: &VersionVector) -> SyncReply {
        // The log can serve an origin only if it still holds the op right after theirs.
        let mut oldest: BTreeMap<u64, u64> = BTreeMap::new();
        for op in &self.log {
            oldest.entry(op.stamp.origin).or_insert(op.stamp.seq);
        }
        for (o, &mine) in &self.contiguous {
            let have = theirs.get(o).copied().unwrap_or(0);
            if mine > have && oldest.get(o).is_none_or(|&first| first > have + 1) {
                return SyncReply::Snapshot(self.state.clone(), self.contiguous.clone());
            }
        }
        SyncReply::Ops(
            self.log
                .iter()
                .filter(|op| op.stamp.seq > theirs.get(&op.stamp.origin).copied().unwrap_or(0))
                .cloned()
                .collect(),
        )
    }

    /// Joins a snapshot (bootstrap or catch-up).
    pub fn merge_snapshot(&mut self, state: &State, vv: &VersionVector) {
        self.state.merge(state);
        for (o, &s) in vv {
            let c = self.contiguous.entry(*o).or_insert(0);
            if s > *c {
                *c = s;
            }
            if let Some(a) = self.ahead.get_mut(o) {
                a.retain(|&q| q > s);
                while a.remove(&(*c + 1)) {
                    *c += 1;
                }
            }
        }
        self.ahead.retain(|_, a| !a.is_empty());
    }
}

/// Wire encoding of ops, states and version vectors (inside the tracker frames).
pub mod codec {
    use super::*;

    /// Largest collection count accepted when decoding.
    const MAX_ITEMS: u32 = 1 << 20;

    fn id20(d: &mut Decoder<'_>, what: &'static str) -> Result<Id20, DecodeError> {
        let b = d.bytes(what)?;
        b.try_into().map_err(|_| DecodeError::Invalid {
            what,
            value: b.len() as u64,
        })
    }

    fn count(d: &mut Decoder<'_>, what: &'static str) -> Result<u32, DecodeError> {
        let n = d.u32(what)?;
        // Each item takes at least one byte: a count beyond the input is a lie.
        if n > MAX_ITEMS || n as usize > d.remaining() {
            return Err(DecodeError::Invalid {
                what,
                value: n as u64,
            });
        }
        Ok(n)
    }

    fn stamp(e: &mut Encoder, s: &Stamp) {
        e.u64(s.at_ms).u64(s.origin).u64(s.seq);
    }

    fn read_stamp(d: &mut Decoder<'_>) -> Result<Stamp, DecodeError> {
        Ok(Stamp {
            at_ms: d.u64("at_ms")?,
            origin: d.u64("origin")?,
            seq: d.u64("seq")?,
        })
    }

    fn info(e: &mut Encoder, i: &TorrentInfo) {
        e.str(&i.name).u64(i.size).u32(i.pieces);
    }

    fn read_info(d: &mut Decoder<'_>) -> Result<TorrentInfo, DecodeError> {
        Ok(TorrentInfo {
            name: d.str("name")?.to_string(),
            size: d.u64("size")?,
            pieces: d.u32("pieces")?,
        })
    }

    fn record(e: &mut Encoder, r: &PeerRecord) {
        e.str(&r.addr)
            .u64(r.session)
            .bytes(&r.pieces)
            .bool(r.seeder)
            .bool(r.left);
    }

    fn read_record(d: &mut Decoder<'_>) -> Result<PeerRecord, DecodeError> {
        Ok(PeerRecord {
            addr: d.str("addr")?.to_string(),
            session: d.u64("session")?,
            pieces: d.bytes("pieces")?.to_vec(),
            seeder: d.bool("seeder")?,
            left: d.bool("left")?,
        })
    }

    /// Encodes an op.
    pub fn op(e: &mut Encoder, op: &Op) {
        stamp(e, &op.stamp);
        match &op.kind {
            OpKind::Torrent { info_hash, info: i } => {
                e.u8(1).bytes(info_hash);
                info(e, i);
            }
            OpKind::Peer {
                info_hash,
                peer_id,
                record: r,
            } => {
                e.u8(2).bytes(info_hash).bytes(peer_id);
                record(e, r);
            }
        }
    }

    /// Decodes an op.
    pub fn read_op(d: &mut Decoder<'_>) -> Result<Op, DecodeError> {
        let stamp = read_stamp(d)?;
        let kind = match d.u8("op kind")? {
            1 => OpKind::Torrent {
                info_hash: id20(d, "info_hash")?,
                info: read_info(d)?,
            },
            2 => OpKind::Peer {
                info_hash: id20(d, "info_hash")?,
                peer_id: id20(d, "peer_id")?,
                record: read_record(d)?,
            },
            v => {
                return Err(DecodeError::Invalid {
                    what: "op kind",
                    value: v as u64,
                });
            }
        };
        Ok(Op { stamp, kind })
    }

    /// Encodes a list of ops.
    pub fn ops(e: &mut Encoder, ops: &[Op]) {
        e.u32(ops.len() as u32);
        ops.iter().for_each(|o| op(e, o));
    }

    /// Decodes a list of ops.
    pub fn read_ops(d: &mut Decoder<'_>) -> Result<Vec<Op>, DecodeError> {
        let n = count(d, "op count")?;
        (0..n).map(|_| read_op(d)).collect()
    }

    /// Encodes a version vector.
    pub fn vv(e: &mut Encoder, vv: &VersionVector) {
        e.u32(vv.len() as u32);
        for (o, s) in vv {
            e.u64(*o).u64(*s);
        }
    }

    /// Decodes a version vector.
    pub fn read_vv(d: &mut Decoder<'_>) -> Result<VersionVector, DecodeError> {
        let n = count(d, "vv count")?;
        (0..n)
            .map(|_| Ok((d.u64("origin")?, d.u64("seq")?)))
            .collect()
    }

    /// Encodes a state.
    pub fn state(e: &mut Encoder, s: &State) {
        e.u32(s.torrents.len() as u32);
        for (h, (st, i)) in &s.torrents {
            e.bytes(h);
            stamp(e, st);
            info(e, i);
        }
        e.u32(s.peers.len() as u32);
        for ((h, p), (st, r)) in &s.peers {
            e.bytes(h).bytes(p);
            stamp(e, st);
            record(e, r);
        }
    }

    /// Decodes a state.
    pub fn read_state(d: &mut Decoder<'_>) -> Result<State, DecodeError> {
        let mut s = State::default();
        for _ in 0..count(d, "torrent count")? {
            let h = id20(d, "info_hash")?;
            let st = read_stamp(d)?;
            s.torrents.insert(h, (st, read_info(d)?));
        }
        for _ in 0..count(d, "peer count")? {
            let h = id20(d, "info_hash")?;
            let p = id20(d, "peer_id")?;
            let st = read_stamp(d)?;
            s.peers.insert((h, p), (st, read_record(d)?));
        }
        Ok(s)
    }
}

#[cfg(test)]
mod tests;
