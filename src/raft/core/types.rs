//! The public types of the core's API (see `core_api.md`): configuration, what storage restores,
//! what [`super::RaftCore::ready`] hands out, status, errors.

use crate::raft::message::{Entry, Envelope, HardState, Index, NodeId, Snapshot, Term};

/// How a core behaves. Times are in ticks; the runtime decides how long a tick is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// This node.
    pub id: NodeId,
    /// Every voter, including `id`.
    pub peers: Vec<NodeId>,
    /// Election timeout: each wait is drawn from `[election_ticks, 2 * election_ticks)`. It is
    /// also the check-quorum period and the length of a follower's leader lease.
    pub election_ticks: u32,
    /// A leader sends heartbeats every this many ticks.
    pub heartbeat_ticks: u32,
    /// Run a pre-vote round before a real election, so that a node cut off from the cluster
    /// does not inflate terms and depose a healthy leader when it returns.
    pub pre_vote: bool,
    /// A leader steps down when a majority has not answered within an election timeout, and a
    /// follower that heard from a leader within one ignores vote requests.
    pub check_quorum: bool,
    /// Entries per Append message.
    pub max_append_entries: usize,
    /// Payload bytes per Append message (an Append holds at least one entry, whatever its size).
    pub max_append_bytes: usize,
    /// Pipelined Append messages per follower before waiting for acknowledgements.
    pub max_inflight: usize,
    /// Seed of the election-timeout randomness (give each node its own).
    pub seed: u64,
}

impl Config {
    /// A configuration with the defaults the labs use: 10-tick elections, 2-tick heartbeats,
    /// pre-vote and check-quorum on, 1024 entries or 1 MiB per Append, 64 Appends in flight.
    pub fn new(id: NodeId, peers: Vec<NodeId>) -> Config {
        Config {
            id,
            peers,
            election_ticks: 10,
            heartbeat_ticks: 2,
            pre_vote: true,
            check_quorum: true,
            max_append_entries: 1024,
            max_append_bytes: 1 << 20,
            max_inflight: 64,
            seed: id,
        }
    }

    /// Clamps values that would stop the core from working (zero timeouts or windows).
    pub(super) fn normalized(mut self) -> Config {
        self.heartbeat_ticks = self.heartbeat_ticks.max(1);
        self.election_ticks = self.election_ticks.max(self.heartbeat_ticks + 1);
        self.max_append_entries = self.max_append_entries.max(1);
        self.max_append_bytes = self.max_append_bytes.max(1);
        self.max_inflight = self.max_inflight.max(1);
        self.peers.sort_unstable();
        self.peers.dedup();
        self
    }
}

/// What storage recovered at start-up.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Restored {
    /// Term and vote.
    pub hard_state: HardState,
    /// The latest durable snapshot, if any. The runtime restores its state machine from it; the
    /// core starts with `commit = applied = snapshot.meta.last_index`.
    pub snapshot: Option<Snapshot>,
    /// Entries after the snapshot, contiguous.
    pub entries: Vec<Entry>,
}

/// A node's role.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Follows a leader (or waits for one).
    Follower,
    /// Asking whether it could win an election, without changing its term.
    PreCandidate,
    /// Campaigning in a term it started.
    Candidate,
    /// Leading its term.
    Leader,
}

/// A snapshot of a core's state for status displays.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    /// This node.
    pub id: NodeId,
    /// Its role.
    pub role: Role,
    /// Its term.
    pub term: Term,
    /// The leader it knows of in `term`.
    pub leader: Option<NodeId>,
    /// Highest index known committed.
    pub commit: Index,
    /// Highest index handed out for applying.
    pub applied: Index,
    /// Index of the last log entry.
    pub last_index: Index,
    /// Highest index durable on this node.
    pub persisted: Index,
    /// Last index covered by the latest snapshot.
    pub snapshot_index: Index,
    /// Ticks since the election timer was reset.
    pub election_elapsed: u32,
    /// Ticks at which the timer fires (randomized per reset).
    pub election_timeout: u32,
    /// Leader only: `(node, match, next)` for every voter, itself included.
    pub progress: Vec<(NodeId, Index, Index)>,
}

/// Everything the runtime must do after the core changed, taken at once by
/// [`super::RaftCore::ready`]. Handle the parts in this order: send `messages`; persist `snapshot`,
/// `hard_state`, `truncate_from`, `entries` (one durable write, see
/// [`crate::raft::storage::Storage::persist`]); then call [`super::RaftCore::on_persisted`] with
/// [`Ready::persist_point`] and send `persisted_messages`; apply `snapshot` then `committed` to
/// the state machine; serve `read_states` once applied reaches their index.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ready {
    /// Term or vote changed since the last Ready: persist atomically.
    pub hard_state: Option<HardState>,
    /// A snapshot received with InstallSnapshot: persist it, then restore the state machine
    /// from it before applying `committed`.
    pub snapshot: Option<Snapshot>,
    /// Drop stored entries with index >= this, before appending `entries`.
    pub truncate_from: Option<Index>,
    /// Append to the stored log (after the truncation).
    pub entries: Vec<Entry>,
    /// Send right away (leader Appends and heartbeats, pre-votes, rejections).
    pub messages: Vec<Envelope>,
    /// Send only once the writes of this Ready *and of every earlier Ready* are durable (vote
    /// grants, Append acknowledgements, vote requests after voting for oneself). Pass them
    /// through the same FIFO as the writes.
    pub persisted_messages: Vec<Envelope>,
    /// Newly committed entries, in order: apply them.
    pub committed: Vec<Entry>,
    /// `(ctx given to read_index, read index)`: answer the read once applied >= read index.
    pub read_states: Vec<(u64, Index)>,
    /// `read_index` requests that can no longer be answered (leadership lost): fail them.
    pub dropped_reads: Vec<u64>,
}

impl Ready {
    /// What to report to [`super::RaftCore::on_persisted`] once this Ready's writes are durable: the
    /// last entry written, else the snapshot installed, else nothing.
    pub fn persist_point(&self) -> Option<(Index, Term)> {
        match (self.entries.last(), &self.snapshot) {
            (Some(e), _) => Some((e.index, e.term)),
            (None, Some(s)) => Some((s.meta.last_index, s.meta.last_term)),
            (None, None) => None,
        }
    }

    /// Whether this Ready writes anything to disk.
    pub fn has_writes(&self) -> bool {
        self.hard_state.is_some()
            || self.snapshot.is_some()
            || self.truncate_from.is_some()
            || !self.entries.is_empty()
    }
}

/// A request that only the leader can serve reached another node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not the leader (leader hint: {leader:?})")]
pub struct NotLeader {
    /// The leader this node knows of, to redirect the client to.
    pub leader: Option<NodeId>,
}
