//! The vocabulary of the Raft core: log entries, persistent state, snapshots and the messages
//! peers exchange. These types are pure data; the byte encoding lives in [`super::codec`].

use std::sync::Arc;

/// A node's id inside one cluster (1-based in every lab).
pub type NodeId = u64;
/// A Raft term.
pub type Term = u64;
/// A position in the replicated log (the first real entry has index 1; 0 means "none").
pub type Index = u64;

/// What a log entry carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryKind {
    /// A client command for the state machine.
    Normal,
    /// The empty entry a new leader appends so that it can commit entries of earlier terms.
    Noop,
}

/// One replicated log entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Term of the leader that created the entry.
    pub term: Term,
    /// Position in the log.
    pub index: Index,
    /// Whether the state machine sees it.
    pub kind: EntryKind,
    /// The encoded command (empty for [`EntryKind::Noop`]).
    pub data: Vec<u8>,
}

/// State that must be on disk before a node answers a vote or takes part in an election.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HardState {
    /// The latest term this node has seen.
    pub term: Term,
    /// Whom it voted for in `term`, if anyone.
    pub vote: Option<NodeId>,
}

/// Where a snapshot ends in the log.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SnapshotMeta {
    /// Index of the last entry the snapshot covers.
    pub last_index: Index,
    /// Term of that entry.
    pub last_term: Term,
}

/// A state-machine snapshot: everything up to `meta.last_index`, as bytes the state machine
/// itself produced. The data is shared because a leader may send it to several followers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// Position in the log.
    pub meta: SnapshotMeta,
    /// The serialized state machine.
    pub data: Arc<Vec<u8>>,
}

/// A message between two Raft peers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// "Would you vote for me in `term`?" sent before a real election (the sender's own term is
    /// still `term - 1`), so that a node cut off from the cluster cannot inflate terms.
    PreVote {
        /// The term the sender would campaign in.
        term: Term,
        /// Index of the sender's last log entry.
        last_index: Index,
        /// Term of the sender's last log entry.
        last_term: Term,
    },
    /// Answer to [`Message::PreVote`]. `term` is the term asked about when granted, else the
    /// responder's own term.
    PreVoteResp {
        /// See above.
        term: Term,
        /// Whether the responder would vote.
        granted: bool,
    },
    /// RequestVote.
    Vote {
        /// The candidate's term.
        term: Term,
        /// Index of the candidate's last log entry.
        last_index: Index,
        /// Term of the candidate's last log entry.
        last_term: Term,
    },
    /// Answer to [`Message::Vote`].
    VoteResp {
        /// The responder's term.
        term: Term,
        /// Whether the vote was granted.
        granted: bool,
    },
    /// AppendEntries; with no entries it is a heartbeat.
    Append {
        /// The leader's term.
        term: Term,
        /// Index of the entry just before `entries`.
        prev_index: Index,
        /// Term of that entry.
        prev_term: Term,
        /// Entries to store (possibly none).
        entries: Vec<Entry>,
        /// The leader's commit index.
        commit: Index,
        /// A round number the follower echoes, used to confirm leadership for ReadIndex.
        ctx: u64,
    },
    /// Answer to [`Message::Append`].
    AppendResp {
        /// The responder's term.
        term: Term,
        /// Whether the entries matched and were stored.
        success: bool,
        /// On success: the index of the last entry now known to match the leader's log.
        /// On failure: the `prev_index` that did not match.
        index: Index,
        /// On failure: a hint for fast back-tracking, the `prev_index` the leader should try
        /// next: the follower's last index if its log is shorter, else the last index before
        /// the conflicting entries (those of terms above the leader's `prev_term`, or the whole
        /// run of the lower term found at `prev_index`). Never below the follower's commit.
        reject_hint: Index,
        /// The `ctx` of the request being answered.
        ctx: u64,
    },
    /// InstallSnapshot, sent to a follower whose next entry the leader has compacted away.
    InstallSnapshot {
        /// The leader's term.
        term: Term,
        /// The snapshot.
        snapshot: Snapshot,
    },
    /// Answer to [`Message::InstallSnapshot`].
    InstallSnapshotResp {
        /// The responder's term.
        term: Term,
        /// The index up to which the follower's log now matches the leader's: the snapshot's
        /// last index, or the follower's commit index when it already had all the snapshot
        /// covers (0 in an answer to a stale term).
        last_index: Index,
    },
}

impl Message {
    /// The term carried by the message.
    pub fn term(&self) -> Term {
        match self {
            Message::PreVote { term, .. }
            | Message::PreVoteResp { term, .. }
            | Message::Vote { term, .. }
            | Message::VoteResp { term, .. }
            | Message::Append { term, .. }
            | Message::AppendResp { term, .. }
            | Message::InstallSnapshot { term, .. }
            | Message::InstallSnapshotResp { term, .. } => *term,
        }
    }
}

/// A message with its sender and addressee.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    /// Sender.
    pub from: NodeId,
    /// Addressee.
    pub to: NodeId,
    /// The message.
    pub msg: Message,
}
