//! The safety properties the simulation checks, named as in the Raft paper and openraft's
//! fault tests. Every check panics with the property's name and the evidence.

use std::collections::BTreeMap;

use super::disk::{HashMachine, chain, entry_hash};
use crate::raft::core::{RaftCore, Role};
use crate::raft::message::{Entry, Index, NodeId, Snapshot, Term};

/// What one node was last seen doing in its current incarnation (since its last restart).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Seen {
    pub(crate) term: Term,
    pub(crate) commit: Index,
    pub(crate) applied: Index,
    pub(crate) leader_term: Option<Term>,
}

/// What happened to one log index, as far as the cluster is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Applied {
    term: Term,
    entry: u64,
    state: u64,
}

/// Global history the invariants are checked against.
#[derive(Debug, Default)]
pub struct Checker {
    /// Election safety: the leader of each term.
    leaders: BTreeMap<Term, NodeId>,
    /// State machine safety: what was applied at each index (by anyone) and the state after it.
    applied: BTreeMap<Index, Applied>,
    /// Leader completeness: entry term and the (lowest) leader term that committed it.
    committed: BTreeMap<Index, (Term, Term)>,
    /// Highest commit index any node ever reported.
    pub max_commit: Index,
    /// Reads answered (for test assertions).
    pub reads_served: u64,
    /// Entries applied, over all nodes.
    pub entries_applied: u64,
}

impl Checker {
    /// The number of distinct leaders elected so far.
    pub fn elections(&self) -> usize {
        self.leaders.len()
    }

    /// Election safety, term/commit/applied monotonicity, and leader completeness for a node
    /// seen as leader of a new term. Call after every change of `core`.
    pub(crate) fn observe(&mut self, core: &RaftCore, seen: &mut Seen) {
        let status = core.status();
        let id = status.id;
        assert!(
            status.term >= seen.term,
            "term monotonic: node {id} went from term {} to {}",
            seen.term,
            status.term
        );
        assert!(
            status.commit >= seen.commit,
            "commit monotonic: node {id} went from {} to {}",
            seen.commit,
            status.commit
        );
        assert!(
            status.applied >= seen.applied,
            "applied monotonic: node {id} went from {} to {}",
            seen.applied,
            status.applied
        );
        self.max_commit = self.max_commit.max(status.commit);
        if status.role == Role::Leader {
            let first = *self.leaders.entry(status.term).or_insert(id);
            assert_eq!(
                first, id,
                "election safety: nodes {first} and {id} both lead term {}",
                status.term
            );
            if seen.leader_term != Some(status.term) {
                seen.leader_term = Some(status.term);
                self.check_leader_completeness(core, status.term);
            }
            for index in (seen.commit.max(status.snapshot_index) + 1)..=status.commit {
                if let Some(term) = core.entry_term(index) {
                    let rec = self.committed.entry(index).or_insert((term, status.term));
                    assert_eq!(
                        rec.0, term,
                        "committed entries never change: index {index} committed with term {} \
                         and later with term {term}",
                        rec.0
                    );
                    rec.1 = rec.1.min(status.term);
                }
            }
        }
        seen.term = status.term;
        seen.commit = status.commit;
        seen.applied = status.applied;
    }

    fn check_leader_completeness(&self, core: &RaftCore, term: Term) {
        let snapshot_index = core.status().snapshot_index;
        for (&index, &(entry_term, commit_term)) in self.committed.range(snapshot_index + 1..) {
            if commit_term < term {
                assert_eq!(
                    core.entry_term(index),
                    Some(entry_term),
                    "leader completeness: leader {} of term {term} lacks entry {index} \
                     (term {entry_term}) committed in term {commit_term}",
                    core.id()
                );
            }
        }
    }

    /// State machine safety: node `id` applies `entry` to `sm`.
    pub(crate) fn apply(&mut self, id: NodeId, sm: &mut HashMachine, entry: &Entry) {
        sm.apply(entry);
        let rec = Applied {
            term: entry.term,
            entry: entry_hash(entry),
            state: sm.hash,
        };
        let first = *self.applied.entry(entry.index).or_insert(rec);
        assert_eq!(
            first, rec,
            "state machine safety: node {id} applied a different entry (or state) at index {}",
            entry.index
        );
        self.entries_applied += 1;
    }

    /// State machine safety for a snapshot restore: the state must be the one every node had
    /// after applying that index.
    pub(crate) fn restore(&mut self, id: NodeId, snapshot: &Snapshot) -> HashMachine {
        let sm = HashMachine::restore(snapshot);
        if sm.applied > 0 {
            let rec = self.applied.get(&sm.applied).copied();
            assert!(
                rec.is_some_and(|r| r.state == sm.hash && r.term == sm.applied_term),
                "state machine safety: node {id} restored a snapshot at {} that matches no \
                 applied state",
                sm.applied
            );
        }
        sm
    }

    /// Log matching and committed-entries-never-change over the logs of the live nodes.
    pub(crate) fn check_logs(&self, cores: &[&RaftCore]) {
        for core in cores {
            let status = core.status();
            for index in (status.snapshot_index + 1)..=status.commit {
                if let (Some(term), Some(rec)) = (core.entry_term(index), self.applied.get(&index))
                {
                    assert_eq!(
                        term,
                        rec.term,
                        "committed entries never change: node {} holds term {term} at \
                         committed index {index}, applied elsewhere with term {}",
                        core.id(),
                        rec.term
                    );
                }
            }
        }
        for (i, a) in cores.iter().enumerate() {
            for b in &cores[i + 1..] {
                check_log_matching(a, b);
            }
        }
    }

    /// Reads must observe every write committed before they started.
    pub(crate) fn check_read(&mut self, id: NodeId, read_index: Index, required: Index) {
        assert!(
            read_index >= required,
            "linearizable reads: node {id} answered a read at index {read_index}, but {required} \
             was committed before the read started"
        );
        self.reads_served += 1;
    }

    /// The term of the entry applied at `index`, if any node applied one.
    pub fn applied_term(&self, index: Index) -> Option<Term> {
        self.applied.get(&index).map(|r| r.term)
    }

    /// The state after `index`, as the first node to apply it computed it.
    pub fn state_at(&self, index: Index) -> Option<u64> {
        if index == 0 {
            return Some(0);
        }
        self.applied.get(&index).map(|r| r.state)
    }

    /// Whether the chain state hash after `index` is consistent with the entry at `index`.
    pub fn verify_chain(&self, index: Index) -> bool {
        match (
            self.state_at(index.saturating_sub(1)),
            self.applied.get(&index),
        ) {
            (Some(prev), Some(rec)) => chain(prev, rec.entry) == rec.state,
            _ => true,
        }
    }
}

/// Log matching: if two logs hold an entry with the same index and term, they are identical up
/// to it.
fn check_log_matching(a: &RaftCore, b: &RaftCore) {
    let (sa, sb) = (a.status(), b.status());
    let low = sa.snapshot_index.max(sb.snapshot_index);
    let mut index = sa.last_index.min(sb.last_index);
    let mut matched = false;
    while index > low {
        let (ta, tb) = (a.entry_term(index), b.entry_term(index));
        if matched {
            assert_eq!(
                ta,
                tb,
                "log matching: nodes {} and {} agree above index {index} but differ at it",
                a.id(),
                b.id()
            );
            let (ea, eb) = (a.entry(index), b.entry(index));
            assert_eq!(
                ea,
                eb,
                "log matching: nodes {} and {} hold different entries at {index}",
                a.id(),
                b.id()
            );
        } else if ta.is_some() && ta == tb {
            matched = true;
        }
        index -= 1;
    }
}
