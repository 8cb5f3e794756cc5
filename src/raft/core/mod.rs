//! The deterministic Raft core: a state machine over messages, ticks and proposals, with no I/O,
//! no clock and no threads. The node runtime feeds it ([`RaftCore::tick`], [`RaftCore::step`],
//! [`RaftCore::propose`], [`RaftCore::read_index`]) and drains what it must do from
//! [`RaftCore::ready`]: write, send, apply. `src/raft/core_api.md` is the contract.
//!
//! # Layout
//! - `types.rs`: the public types: [`Config`], [`Restored`], [`Ready`], [`Status`], [`Role`],
//!   [`NotLeader`].
//! - `mod.rs`: the [`RaftCore`] struct, its public methods, term handling in
//!   [`RaftCore::step`] and role changes.
//! - `election.rs`: election timer, pre-vote, votes, check-quorum.
//! - `replication.rs`: Appends and heartbeats, acknowledgements and fast back-tracking, the
//!   commit rule, snapshots.
//! - `log.rs`: the in-memory log with O(1) access by index.
//! - `progress.rs`: the leader's per-follower flow control (probe / pipeline / snapshot).
//! - `read_index.rs`: linearizable reads confirmed by a heartbeat round.

mod election;
mod log;
mod progress;
mod read_index;
mod replication;
#[cfg(test)]
mod tests;
mod types;

use rand::SeedableRng;
use rand::rngs::StdRng;

use self::log::RaftLog;
use self::progress::Progress;
use self::read_index::ReadQueue;
pub use self::types::{Config, NotLeader, Ready, Restored, Role, Status};
use super::message::{Entry, Envelope, HardState, Index, Message, NodeId, Snapshot, Term};

/// How far ahead of this node a peer's term may be before its message is taken as forged or
/// corrupt and dropped. Each election adds one to the term: a node cut off for a year with a
/// 200 ms election timeout reaches about 160 million. 2^32 is far past anything a cluster can
/// reach and far below `u64::MAX`, so no term this node adopts can make `term + 1` overflow.
pub const MAX_TERM_LEAD: Term = 1 << 32;

/// The largest log index a peer's message may name. At a million entries a second a log
/// reaches it after 146,000 years; far below `u64::MAX`, so no index this node takes from the
/// wire can make `index + 1` overflow. Messages past it are dropped and counted like an
/// absurd term.
pub const MAX_INDEX: Index = 1 << 62;

/// The Raft state machine of one node. See the module docs and `core_api.md`.
#[derive(Debug)]
pub struct RaftCore {
    /// Messages dropped because their term was absurdly far ahead ([`MAX_TERM_LEAD`]) or an
    /// index past [`MAX_INDEX`].
    absurd_terms: u64,
    /// A rebuilt node (`raft repair`) neither votes nor campaigns until its log reaches this
    /// index (0: no such hold). See [`RaftCore::hold_votes_until`].
    vote_hold: Index,
    cfg: Config,
    rng: StdRng,
    role: Role,
    term: Term,
    vote: Option<NodeId>,
    leader: Option<NodeId>,
    log: RaftLog,
    /// The latest snapshot (restored, compacted to or installed), sent to lagging followers.
    snapshot: Option<Snapshot>,
    /// A snapshot installed from the leader that the runtime has not been given yet.
    pending_snapshot: Option<Snapshot>,
    /// The hard state last handed out (or restored), to detect changes.
    emitted_hard_state: HardState,
    election_elapsed: u32,
    heartbeat_elapsed: u32,
    election_timeout: u32,
    /// Pre-candidate and candidate: `(voter, granted)` answers so far, itself included.
    votes: Vec<(NodeId, bool)>,
    /// Leader: one entry per other voter.
    progress: Vec<Progress>,
    /// Leader: index of its no-op; reads wait until it commits.
    noop_index: Index,
    reads: ReadQueue,
    /// Leader: something may be sendable (new entries, acks, rejections); Appends are built in
    /// [`RaftCore::ready`] so that entries proposed meanwhile travel in one message.
    send_pending: bool,
    messages: Vec<Envelope>,
    persisted_messages: Vec<Envelope>,
    read_states: Vec<(u64, Index)>,
    dropped_reads: Vec<u64>,
    /// Reused buffer for quorum computations.
    scratch: Vec<u64>,
}

impl RaftCore {
    /// A follower at the recovered state, with no known leader.
    pub fn new(cfg: Config, restored: Restored) -> RaftCore {
        let cfg = cfg.normalized();
        let snapshot_meta = restored
            .snapshot
            .as_ref()
            .map(|s| s.meta)
            .unwrap_or_default();
        let log = RaftLog::restore(snapshot_meta, restored.entries);
        let mut hard_state = restored.hard_state;
        if hard_state.term < log.last_term() {
            // Cannot happen with this crate's storage (the term is written before entries of
            // that term); never run behind the log if it does.
            hard_state = HardState {
                term: log.last_term(),
                vote: None,
            };
        }
        let rng = StdRng::seed_from_u64(cfg.seed);
        let mut core = RaftCore {
            absurd_terms: 0,
            vote_hold: 0,
            rng,
            role: Role::Follower,
            term: hard_state.term,
            vote: hard_state.vote,
            leader: None,
            log,
            snapshot: restored.snapshot,
            pending_snapshot: None,
            emitted_hard_state: restored.hard_state,
            election_elapsed: 0,
            heartbeat_elapsed: 0,
            election_timeout: cfg.election_ticks,
            votes: Vec::new(),
            progress: Vec::new(),
            noop_index: 0,
            reads: ReadQueue::default(),
            send_pending: false,
            messages: Vec::new(),
            persisted_messages: Vec::new(),
            read_states: Vec::new(),
            dropped_reads: Vec::new(),
            scratch: Vec::with_capacity(cfg.peers.len()),
            cfg,
        };
        core.reset_timers();
        core
    }

    /// Holds this node's votes (and its campaigns) until its log reaches `index`: a node whose
    /// data was rebuilt (`raft repair`) has forgotten the entries it helped commit, and while
    /// it lacks them its vote could elect a leader missing them. `index` is the leader's last
    /// index when the node was rebuilt: every committed entry is at or below it (leader
    /// completeness), so once the node holds that prefix it votes as safely as before.
    pub fn hold_votes_until(&mut self, index: Index) {
        self.vote_hold = index;
    }

    /// Whether votes are held ([`RaftCore::hold_votes_until`]); releases the hold once the
    /// log has reached its index.
    pub fn votes_held(&mut self) -> bool {
        if self.vote_hold > 0 && self.log.last_index() >= self.vote_hold {
            self.vote_hold = 0;
        }
        self.vote_hold > 0
    }

    /// Messages dropped so far because their term was more than [`MAX_TERM_LEAD`] ahead.
    pub fn absurd_terms(&self) -> u64 {
        self.absurd_terms
    }

    /// Advances the logical clock by one tick: election timeout for followers and candidates,
    /// heartbeats and check-quorum for the leader.
    pub fn tick(&mut self) {
        match self.role {
            Role::Leader => self.tick_leader(),
            _ => self.tick_election(),
        }
    }

    /// Handles a message from peer `from`. Messages from unknown nodes, from itself, or that
    /// make no sense in the current role are ignored: the network may duplicate, reorder and
    /// delay anything.
    pub fn step(&mut self, from: NodeId, msg: Message) {
        if from == self.id() || !self.cfg.peers.contains(&from) {
            return;
        }
        let msg_term = msg.term();
        let absurd_index = match &msg {
            Message::Append { prev_index, .. } => *prev_index > MAX_INDEX,
            Message::AppendResp {
                index, reject_hint, ..
            } => *index > MAX_INDEX || *reject_hint > MAX_INDEX,
            Message::InstallSnapshot { snapshot, .. } => snapshot.meta.last_index > MAX_INDEX,
            Message::InstallSnapshotResp { last_index, .. } => *last_index > MAX_INDEX,
            _ => false,
        };
        if msg_term > self.term.saturating_add(MAX_TERM_LEAD) || absurd_index {
            // Forged or corrupt: adopting it would strand the cluster at a term no election
            // can pass. Dropped and counted; the runtime logs it.
            self.absurd_terms += 1;
            return;
        }
        if msg_term > self.term {
            match &msg {
                // A pre-vote asks about a future term; answering it changes nothing here.
                Message::PreVote { .. } if self.in_lease() => return,
                Message::PreVote { .. } | Message::PreVoteResp { granted: true, .. } => {}
                // Check-quorum: while a leader is known to be alive, a vote request is noise
                // from a node that could not hear it; do not even adopt its term.
                Message::Vote { .. } if self.in_lease() => return,
                Message::Append { .. } | Message::InstallSnapshot { .. } => {
                    self.become_follower(msg_term, Some(from))
                }
                _ => self.become_follower(msg_term, None),
            }
        } else if msg_term < self.term {
            self.answer_stale(from, &msg);
            return;
        }
        match msg {
            Message::PreVote {
                term,
                last_index,
                last_term,
            } => self.handle_vote_request(from, true, term, last_index, last_term),
            Message::Vote {
                term,
                last_index,
                last_term,
            } => self.handle_vote_request(from, false, term, last_index, last_term),
            Message::PreVoteResp { term, granted } => {
                self.handle_pre_vote_resp(from, term, granted)
            }
            Message::VoteResp { granted, .. } => self.handle_vote_resp(from, granted),
            Message::Append {
                prev_index,
                prev_term,
                entries,
                commit,
                ctx,
                ..
            } => self.handle_append(from, (prev_index, prev_term), entries, commit, ctx),
            Message::AppendResp {
                success,
                index,
                reject_hint,
                ctx,
                ..
            } => self.handle_append_resp(from, success, index, reject_hint, ctx),
            Message::InstallSnapshot { snapshot, .. } => {
                self.handle_install_snapshot(from, snapshot)
            }
            Message::InstallSnapshotResp { last_index, .. } => {
                self.handle_install_snapshot_resp(from, last_index)
            }
        }
    }

    /// Appends a client command to the leader's log and returns its index. The entry is sent
    /// with the next [`RaftCore::ready`], batched with everything else proposed meanwhile.
    pub fn propose(&mut self, data: Vec<u8>) -> Result<Index, NotLeader> {
        if self.role != Role::Leader {
            return Err(NotLeader {
                leader: self.leader,
            });
        }
        let index = self.log.last_index() + 1;
        self.log.push(Entry {
            term: self.term,
            index,
            kind: super::message::EntryKind::Normal,
            data,
        });
        // A single-node cluster has nothing to send; its commit follows from on_persisted.
        self.send_pending |= !self.progress.is_empty();
        Ok(index)
    }

    /// Starts a linearizable read tagged `ctx`. It comes back in [`Ready::read_states`] with the
    /// index the state machine must reach before the read is served, or in
    /// [`Ready::dropped_reads`] if leadership is lost first.
    pub fn read_index(&mut self, ctx: u64) -> Result<(), NotLeader> {
        if self.role != Role::Leader {
            return Err(NotLeader {
                leader: self.leader,
            });
        }
        if self.log.committed() < self.noop_index {
            self.reads.wait_for_noop(ctx);
        } else {
            self.reads.add(ctx, self.log.committed());
            self.confirm_reads();
        }
        Ok(())
    }

    /// Whether [`RaftCore::ready`] has anything to hand out.
    pub fn has_ready(&self) -> bool {
        self.send_pending
            || self.reads.needs_heartbeat()
            || self.pending_snapshot.is_some()
            || self.current_hard_state() != self.emitted_hard_state
            || self.log.has_unstable()
            || self.log.has_committed()
            || !self.messages.is_empty()
            || !self.persisted_messages.is_empty()
            || !self.read_states.is_empty()
            || !self.dropped_reads.is_empty()
    }

    /// Takes everything pending. Committed entries handed out count as applied.
    pub fn ready(&mut self) -> Ready {
        if self.role == Role::Leader {
            if self.send_pending {
                self.send_pending = false;
                self.send_appends();
            }
            if self.reads.needs_heartbeat() {
                self.broadcast_heartbeat();
            }
        }
        let hard_state = self.current_hard_state();
        let hard_state = (hard_state != self.emitted_hard_state).then(|| {
            self.emitted_hard_state = hard_state;
            hard_state
        });
        let snapshot = self.pending_snapshot.take();
        let (truncate_from, entries) = self.log.take_unstable();
        let committed = self.log.take_committed();
        Ready {
            hard_state,
            snapshot,
            truncate_from,
            entries,
            messages: std::mem::take(&mut self.messages),
            persisted_messages: std::mem::take(&mut self.persisted_messages),
            committed,
            read_states: std::mem::take(&mut self.read_states),
            dropped_reads: std::mem::take(&mut self.dropped_reads),
        }
    }

    /// Storage made the entries up to `(index, term)` durable (use [`Ready::persist_point`]).
    /// Ignored when the log no longer holds `term` at `index`. On the leader this is its own
    /// match index, which counts towards commit.
    pub fn on_persisted(&mut self, index: Index, term: Term) {
        if self.log.on_persisted(index, term) && self.role == Role::Leader {
            self.maybe_commit();
        }
    }

    /// The runtime snapshotted its state machine at `snapshot.meta.last_index` (which must be
    /// `<= applied` and match the log's term there; otherwise the call is ignored) and saved it
    /// durably. The log forgets the entries the snapshot covers, and lagging followers will be
    /// sent this snapshot.
    pub fn compact(&mut self, snapshot: Snapshot) {
        let meta = snapshot.meta;
        if meta.last_index <= self.log.snapshot_index()
            || meta.last_index > self.log.applied()
            || self.log.term(meta.last_index) != Some(meta.last_term)
        {
            return;
        }
        self.log.compact(meta);
        self.snapshot = Some(snapshot);
    }

    /// The node's state, for status displays and metrics.
    pub fn status(&self) -> Status {
        let progress = if self.role == Role::Leader {
            let mut all: Vec<(NodeId, Index, Index)> = self
                .progress
                .iter()
                .map(|p| (p.id, p.matched, p.next))
                .collect();
            all.push((self.id(), self.log.persisted(), self.log.last_index() + 1));
            all.sort_unstable();
            all
        } else {
            Vec::new()
        };
        Status {
            id: self.id(),
            role: self.role,
            term: self.term,
            leader: self.leader,
            commit: self.log.committed(),
            applied: self.log.applied(),
            last_index: self.log.last_index(),
            persisted: self.log.persisted(),
            snapshot_index: self.log.snapshot_index(),
            election_elapsed: self.election_elapsed,
            election_timeout: self.election_timeout,
            progress,
        }
    }

    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.cfg.id
    }

    /// The current role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The current term.
    pub fn term(&self) -> Term {
        self.term
    }

    /// The leader known in the current term.
    pub fn leader(&self) -> Option<NodeId> {
        self.leader
    }

    /// The term of the entry at `index`, if the log holds it (the snapshot's last index counts).
    pub fn entry_term(&self, index: Index) -> Option<Term> {
        self.log.term(index)
    }

    /// The entry at `index`, if the log holds it in memory.
    pub fn entry(&self, index: Index) -> Option<&Entry> {
        self.log.entry(index)
    }

    #[cfg(test)]
    fn config_heartbeat_ticks(&self) -> u32 {
        self.cfg.heartbeat_ticks
    }

    fn current_hard_state(&self) -> HardState {
        HardState {
            term: self.term,
            vote: self.vote,
        }
    }

    fn quorum(&self) -> usize {
        self.cfg.peers.len() / 2 + 1
    }

    fn other_peers(&self) -> impl Iterator<Item = NodeId> + '_ {
        let me = self.id();
        self.cfg.peers.iter().copied().filter(move |&p| p != me)
    }

    fn send(&mut self, to: NodeId, msg: Message) {
        self.messages.push(Envelope {
            from: self.cfg.id,
            to,
            msg,
        });
    }

    fn send_persisted(&mut self, to: NodeId, msg: Message) {
        self.persisted_messages.push(Envelope {
            from: self.cfg.id,
            to,
            msg,
        });
    }

    /// Check-quorum lease: a leader was heard from (or this node is the leader) within the
    /// base election timeout.
    fn in_lease(&self) -> bool {
        self.cfg.check_quorum
            && self.leader.is_some()
            && self.election_elapsed < self.cfg.election_ticks
    }

    /// Answers a message from an older term so that its sender learns the newer term: a stale
    /// leader steps down, a stale candidate gives up.
    fn answer_stale(&mut self, from: NodeId, msg: &Message) {
        let term = self.term;
        let reply = match msg {
            Message::Append {
                prev_index, ctx, ..
            } => Message::AppendResp {
                term,
                success: false,
                index: *prev_index,
                reject_hint: 0,
                ctx: *ctx,
            },
            Message::InstallSnapshot { .. } => Message::InstallSnapshotResp {
                term,
                last_index: 0,
            },
            Message::PreVote { .. } => Message::PreVoteResp {
                term,
                granted: false,
            },
            Message::Vote { .. } => Message::VoteResp {
                term,
                granted: false,
            },
            _ => return,
        };
        self.send(from, reply);
    }

    fn reset_timers(&mut self) {
        use rand::Rng;
        self.election_elapsed = 0;
        self.heartbeat_elapsed = 0;
        let base = self.cfg.election_ticks;
        self.election_timeout = self
            .rng
            .random_range(base..base.saturating_mul(2).max(base + 1));
    }

    fn become_follower(&mut self, term: Term, leader: Option<NodeId>) {
        if self.role == Role::Leader {
            self.progress.clear();
            self.reads.drop_all(&mut self.dropped_reads);
            self.send_pending = false;
        }
        if term != self.term {
            self.term = term;
            self.vote = None;
        }
        self.role = Role::Follower;
        self.leader = leader;
        self.votes.clear();
        self.reset_timers();
    }

    fn become_leader(&mut self) {
        self.role = Role::Leader;
        self.leader = Some(self.id());
        self.votes.clear();
        self.reset_timers();
        let next = self.log.last_index() + 1;
        self.progress = self.other_peers().map(|p| Progress::new(p, next)).collect();
        self.noop_index = next;
        self.log.push(Entry {
            term: self.term,
            index: next,
            kind: super::message::EntryKind::Noop,
            data: Vec::new(),
        });
        self.send_pending = !self.progress.is_empty();
    }
}
