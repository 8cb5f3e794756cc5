//! The simulated node's durable state (`MemDisk`, with the same semantics as
//! [`crate::raft::storage::Storage`]) and a tiny state machine whose whole state is a hash chain
//! over the entries it applied, so that two nodes agree on their state exactly when they applied
//! the same entries in the same order.

use std::sync::Arc;

use crate::raft::core::Restored;
use crate::raft::message::{Entry, EntryKind, HardState, Index, Snapshot, SnapshotMeta, Term};

/// One node's disk: what survives a crash.
#[derive(Clone, Debug, Default)]
pub struct MemDisk {
    /// Term and vote.
    pub hard_state: HardState,
    /// Latest snapshot.
    pub snapshot: Option<Snapshot>,
    /// Entries after the snapshot.
    pub entries: Vec<Entry>,
}

/// A write the runtime queued for a node's disk, performed in FIFO order.
#[derive(Clone, Debug)]
pub(crate) enum IoJob {
    /// The write part of a Ready, and the messages to send once it is durable.
    Ready {
        hard_state: Option<HardState>,
        snapshot: Option<Snapshot>,
        truncate_from: Option<Index>,
        entries: Vec<Entry>,
        persist_point: Option<(Index, Term)>,
        persisted_messages: Vec<crate::raft::message::Envelope>,
    },
    /// A snapshot the runtime took of its state machine (then compacting the log).
    SaveSnapshot(Snapshot),
}

impl IoJob {
    /// How many separately durable steps the job has (a crash may stop after any of them).
    pub(crate) fn units(&self) -> usize {
        match self {
            IoJob::Ready { entries, .. } => 3 + entries.len(),
            IoJob::SaveSnapshot(_) => 1,
        }
    }
}

impl MemDisk {
    /// Index of the last stored entry (or of the snapshot).
    pub fn last_index(&self) -> Index {
        self.entries.last().map_or_else(
            || self.snapshot.as_ref().map_or(0, |s| s.meta.last_index),
            |e| e.index,
        )
    }

    /// Performs the first `units` steps of `job` (all of them for a completed write). Panics if
    /// the core asked for something storage must refuse (a gap in the log).
    pub(crate) fn perform(&mut self, job: &IoJob, units: usize) {
        match job {
            IoJob::SaveSnapshot(snapshot) => {
                if units >= 1 {
                    self.save_snapshot(snapshot);
                }
            }
            IoJob::Ready {
                hard_state,
                snapshot,
                truncate_from,
                entries,
                ..
            } => {
                if let (1.., Some(s)) = (units, snapshot) {
                    self.save_snapshot(s);
                }
                if let (2.., Some(hs)) = (units, hard_state) {
                    self.hard_state = *hs;
                }
                if let (3.., Some(from)) = (units, truncate_from) {
                    self.entries.retain(|e| e.index < *from);
                }
                let count = units.saturating_sub(3).min(entries.len());
                for entry in &entries[..count] {
                    let expected = self.last_index() + 1;
                    assert_eq!(
                        entry.index, expected,
                        "the core asked storage to append with a gap"
                    );
                    self.entries.push(entry.clone());
                }
            }
        }
    }

    fn save_snapshot(&mut self, snapshot: &Snapshot) {
        if self
            .snapshot
            .as_ref()
            .is_some_and(|s| s.meta.last_index >= snapshot.meta.last_index)
        {
            return;
        }
        let last = snapshot.meta.last_index;
        self.entries.retain(|e| e.index > last);
        self.snapshot = Some(snapshot.clone());
    }

    /// What a restarting node recovers.
    pub fn restored(&self) -> Restored {
        Restored {
            hard_state: self.hard_state,
            snapshot: self.snapshot.clone(),
            entries: self.entries.clone(),
        }
    }
}

/// FNV-1a, 64 bits: a deterministic hash for the simulated state machine.
pub(crate) fn fnv(mut hash: u64, bytes: &[u8]) -> u64 {
    for b in bytes {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// The hash that identifies one entry.
pub(crate) fn entry_hash(entry: &Entry) -> u64 {
    let kind = match entry.kind {
        EntryKind::Normal => 1u8,
        EntryKind::Noop => 2u8,
    };
    let h = fnv(0xcbf2_9ce4_8422_2325, &entry.term.to_be_bytes());
    let h = fnv(h, &[kind]);
    fnv(h, &entry.data)
}

/// The simulated state machine: the chain hash of everything applied.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HashMachine {
    /// Last applied index.
    pub applied: Index,
    /// Its term.
    pub applied_term: Term,
    /// Chain hash after applying it.
    pub hash: u64,
}

impl HashMachine {
    /// Applies one entry (must be `applied + 1`).
    pub(crate) fn apply(&mut self, entry: &Entry) {
        assert_eq!(
            entry.index,
            self.applied + 1,
            "committed entries must be handed out in order without gaps"
        );
        self.hash = chain(self.hash, entry_hash(entry));
        self.applied = entry.index;
        self.applied_term = entry.term;
    }

    /// The state as snapshot bytes.
    pub(crate) fn snapshot(&self) -> Snapshot {
        let mut data = Vec::with_capacity(8);
        data.extend_from_slice(&self.hash.to_be_bytes());
        Snapshot {
            meta: SnapshotMeta {
                last_index: self.applied,
                last_term: self.applied_term,
            },
            data: Arc::new(data),
        }
    }

    /// The state a snapshot describes.
    pub(crate) fn restore(snapshot: &Snapshot) -> HashMachine {
        let mut hash = [0u8; 8];
        if let Some(bytes) = snapshot.data.get(..8) {
            hash.copy_from_slice(bytes);
        }
        HashMachine {
            applied: snapshot.meta.last_index,
            applied_term: snapshot.meta.last_term,
            hash: u64::from_be_bytes(hash),
        }
    }
}

/// The chain step: state after applying an entry with hash `entry` to state `prev`.
pub(crate) fn chain(prev: u64, entry: u64) -> u64 {
    fnv(fnv(prev, &prev.to_be_bytes()), &entry.to_be_bytes())
}
