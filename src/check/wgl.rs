//! The Wing–Gong–Lowe search over one partition, with Lowe's cache of visited configurations
//! (the algorithm Porcupine and Knossos' `linear` checker use).
//!
//! The history is a doubly linked list of call and return entries in real-time order. Walking
//! it from the front, the search tries to *linearize* each call it meets: if the model accepts
//! the operation in the current state, the call and its return are unlinked (lifted), the old
//! state is pushed, and the walk restarts at the front. Reaching a return entry means that
//! operation had to take effect by now and none of the remaining candidates could go first, so
//! the search backtracks: it pops the last linearized call, puts it back into the list and
//! tries the entry after it instead. The history is linearizable iff the list can be emptied.
//!
//! The cache holds every (set of linearized operations, model state) pair reached so far: two
//! paths that reach the same pair have the same futures, so the second is not explored again.
//! Without it the search is exponential on any real history.
//!
//! Unknown outcomes need no special case here: their return entries sit after every real
//! return ([`Operation::returns_at`]), so they can be linearized anywhere after their call,
//! including after everything else, which is indistinguishable from never happening.

use std::time::Instant;

use super::cache::{Bitset, StateTable, VisitedSet};
use super::model::Model;
use super::partition::Operation;

/// How often (in search steps) the deadline is looked at.
const DEADLINE_CHECK_INTERVAL: u64 = 1 << 10;

/// What the search found for one partition.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Search<S> {
    /// Every operation could be linearized.
    Linearizable,
    /// No order works. The deepest partial linearization the search reached:
    Violation {
        /// Operations (indices into the partition) in linearization order.
        prefix: Vec<usize>,
        /// The operation whose return was reached without it being linearizable after `prefix`.
        stuck: usize,
        /// The model state after `prefix`.
        state: S,
    },
}

/// Sentinel for "no node".
const NIL: u32 = u32::MAX;
/// The list head, a sentinel node that is never lifted.
const HEAD: u32 = 0;

/// One call or return entry of the linked list.
#[derive(Clone, Copy, Debug)]
struct Node {
    op: u32,
    is_call: bool,
    /// For a call, its return node.
    ret: u32,
    prev: u32,
    next: u32,
}

/// The entry list: a node arena in which lifting and unlifting are O(1) relinks.
struct EntryList {
    nodes: Vec<Node>,
}

impl EntryList {
    /// Builds the list for `ops`: each call at its invocation, each return at
    /// [`Operation::returns_at`].
    fn new(ops: &[Operation]) -> EntryList {
        // (time, calls before returns at equal times, op): a total order.
        let mut order: Vec<(usize, bool, usize)> = Vec::with_capacity(ops.len() * 2);
        for (index, op) in ops.iter().enumerate() {
            order.push((op.invoked, false, index));
            order.push((op.returns_at(), true, index));
        }
        order.sort_unstable();

        let head = Node {
            op: NIL,
            is_call: false,
            ret: NIL,
            prev: NIL,
            next: NIL,
        };
        let mut nodes = vec![head; order.len() + 1];
        let mut ret_node = vec![NIL; ops.len()];
        for (position, &(_, is_return, op)) in order.iter().enumerate() {
            let id = position as u32 + 1;
            nodes[id as usize] = Node {
                op: op as u32,
                is_call: !is_return,
                ret: NIL,
                prev: id - 1,
                next: if position + 1 < order.len() {
                    id + 1
                } else {
                    NIL
                },
            };
            if is_return {
                ret_node[op] = id;
            }
        }
        nodes[HEAD as usize].next = if order.is_empty() { NIL } else { 1 };
        for node in nodes.iter_mut().skip(1) {
            if node.is_call {
                node.ret = ret_node[node.op as usize];
            }
        }
        EntryList { nodes }
    }

    fn node(&self, id: u32) -> Node {
        self.nodes[id as usize]
    }

    fn first(&self) -> u32 {
        self.nodes[HEAD as usize].next
    }

    fn unlink(&mut self, id: u32) {
        let Node { prev, next, .. } = self.node(id);
        self.nodes[prev as usize].next = next;
        if next != NIL {
            self.nodes[next as usize].prev = prev;
        }
    }

    /// Puts back a node unlinked last; its own `prev`/`next` still point at its neighbours.
    fn relink(&mut self, id: u32) {
        let Node { prev, next, .. } = self.node(id);
        self.nodes[prev as usize].next = id;
        if next != NIL {
            self.nodes[next as usize].prev = id;
        }
    }

    /// Removes a call and its return.
    fn lift(&mut self, call: u32) {
        let ret = self.node(call).ret;
        self.unlink(call);
        self.unlink(ret);
    }

    /// Undoes [`EntryList::lift`] (in reverse order, as dancing links require).
    fn unlift(&mut self, call: u32) {
        let ret = self.node(call).ret;
        self.relink(ret);
        self.relink(call);
    }
}

/// The deepest point the search has reached, kept for the violation report.
struct Deepest {
    prefix: Vec<usize>,
    stuck: usize,
    state: u32,
}

/// A resumable search over one partition: [`Searcher::run`] does a bounded amount of work, so
/// that several partitions can take turns and a quick violation on one key is found even when
/// another key would take a very long time.
pub(crate) struct Searcher<'a, M: Model> {
    model: &'a M,
    ops: &'a [Operation],
    list: EntryList,
    states: StateTable<M::State>,
    /// The current state's id.
    state: u32,
    linearized: Bitset,
    visited: VisitedSet,
    /// The linearized calls, with the state id before each.
    stack: Vec<(u32, u32)>,
    deepest: Option<Deepest>,
    /// The entry to look at next.
    entry: u32,
    steps: u64,
}

impl<'a, M: Model> Searcher<'a, M> {
    /// A search of `ops` (one partition, in invocation order) against `model`.
    pub fn new(model: &'a M, ops: &'a [Operation]) -> Searcher<'a, M> {
        let list = EntryList::new(ops);
        let mut states = StateTable::new();
        let state = states.intern(model.init());
        let entry = list.first();
        Searcher {
            model,
            ops,
            list,
            states,
            state,
            linearized: Bitset::new(ops.len()),
            visited: VisitedSet::default(),
            stack: Vec::new(),
            deepest: None,
            entry,
            steps: 0,
        }
    }

    /// Search steps taken so far.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// Searches for up to `max_steps` steps, stopping early once `deadline` has passed: the
    /// verdict if the search finished, `None` if it needs more time.
    pub fn run(&mut self, max_steps: u64, deadline: Option<Instant>) -> Option<Search<M::State>> {
        let stop = self.steps.saturating_add(max_steps);
        while self.list.first() != NIL {
            if self.steps >= stop {
                return None;
            }
            self.steps += 1;
            if self.steps.is_multiple_of(DEADLINE_CHECK_INTERVAL)
                && deadline.is_some_and(|deadline| Instant::now() >= deadline)
            {
                return None;
            }
            let node = self.list.node(self.entry);
            if node.is_call {
                if !self.try_linearize(self.entry, node.op) {
                    self.entry = node.next;
                }
            } else if let Some(violation) = self.backtrack(node.op) {
                return Some(violation);
            }
        }
        Some(Search::Linearizable)
    }

    /// Linearizes the call at `entry` next if the model allows it and the resulting
    /// configuration is new; restarts the walk at the front if so.
    fn try_linearize(&mut self, entry: u32, op_index: u32) -> bool {
        let op = &self.ops[op_index as usize];
        let current = self.states.get(self.state);
        let Some(next) = self.model.step(current, &op.call, &op.outcome) else {
            return false;
        };
        let next = self.states.intern(next);
        self.linearized.set(op_index);
        if !self.visited.insert(&self.linearized, next) {
            self.linearized.clear(op_index);
            return false;
        }
        self.stack.push((entry, self.state));
        self.state = next;
        self.list.lift(entry);
        self.entry = self.list.first();
        true
    }

    /// Reached the return of `stuck`: undoes the last linearization and moves past it, or
    /// reports the violation when there is nothing left to undo.
    fn backtrack(&mut self, stuck: u32) -> Option<Search<M::State>> {
        let deeper = match &self.deepest {
            None => true,
            Some(deepest) => self.stack.len() > deepest.prefix.len(),
        };
        if deeper {
            let prefix = self.stack.iter();
            let prefix = prefix.map(|&(call, _)| self.list.node(call).op as usize);
            self.deepest = Some(Deepest {
                prefix: prefix.collect(),
                stuck: stuck as usize,
                state: self.state,
            });
        }
        let Some((call, previous)) = self.stack.pop() else {
            let deepest = self.deepest.take()?;
            return Some(Search::Violation {
                prefix: deepest.prefix,
                stuck: deepest.stuck,
                state: self.states.get(deepest.state).clone(),
            });
        };
        self.state = previous;
        self.linearized.clear(self.list.node(call).op);
        self.list.unlift(call);
        self.entry = self.list.node(call).next;
        None
    }
}

/// Runs a search of one partition to the end, or until `deadline` (`None`: out of time).
#[cfg(test)]
fn search<M: Model>(
    model: &M,
    ops: &[Operation],
    deadline: Option<Instant>,
) -> Option<Search<M::State>> {
    Searcher::new(model, ops).run(u64::MAX, deadline)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::history::{Call, Completion, Outcome};
    use crate::check::model::RegisterMapModel;

    /// An operation invoked at `invoked` and answered at `returned` (`None`: unknown outcome).
    fn op(call: Call, outcome: Outcome, invoked: usize, returned: Option<usize>) -> Operation {
        Operation {
            client: invoked as u64,
            call,
            outcome,
            invoked,
            completed: returned,
        }
    }

    fn put(value: &str, invoked: usize, returned: usize) -> Operation {
        let call = Call::Put {
            value: value.into(),
        };
        op(
            call,
            Outcome::Returned(Completion::Put),
            invoked,
            Some(returned),
        )
    }

    fn get(value: Option<&str>, invoked: usize, returned: usize) -> Operation {
        let outcome = Outcome::Returned(Completion::Get {
            value: value.map(str::to_string),
        });
        op(Call::Get, outcome, invoked, Some(returned))
    }

    #[test]
    fn empty_partition_is_linearizable() {
        assert_eq!(
            search(&RegisterMapModel, &[], None),
            Some(Search::Linearizable)
        );
    }

    #[test]
    fn concurrent_read_may_see_either_side_of_a_write() {
        // put(1) [0..5], get -> 1 [1..2], get -> absent [3..4]: the reads overlap the put, and
        // linearizing the put between them explains both... except that the absent read
        // comes after the read that saw 1, so this one is a violation.
        let ops = [put("1", 0, 5), get(Some("1"), 1, 2), get(None, 3, 4)];
        assert!(matches!(
            search(&RegisterMapModel, &ops, None),
            Some(Search::Violation { .. })
        ));
        // Swap the reads' answers and it is fine: absent, then put, then 1.
        let ops = [put("1", 0, 5), get(None, 1, 2), get(Some("1"), 3, 4)];
        assert_eq!(
            search(&RegisterMapModel, &ops, None),
            Some(Search::Linearizable)
        );
    }

    #[test]
    fn violation_reports_the_deepest_prefix_and_the_stuck_read() {
        // put(a) completes, then a read returns a value nobody wrote.
        let ops = [put("a", 0, 1), get(Some("b"), 2, 3)];
        match search(&RegisterMapModel, &ops, None) {
            Some(Search::Violation {
                prefix,
                stuck,
                state,
            }) => {
                assert_eq!(prefix, [0]);
                assert_eq!(stuck, 1);
                assert_eq!(state.as_deref(), Some("a"));
            }
            other => panic!("expected a violation, got {other:?}"),
        }
    }

    #[test]
    fn unknown_write_may_take_effect_late_or_never() {
        let unknown_put = op(
            Call::Put { value: "x".into() },
            Outcome::Unknown,
            0,
            Some(1),
        );
        // Seen long after it was abandoned: fine.
        let seen_late = [unknown_put.clone(), get(None, 2, 3), get(Some("x"), 4, 5)];
        assert_eq!(
            search(&RegisterMapModel, &seen_late, None),
            Some(Search::Linearizable)
        );
        // Never seen: fine.
        let never = [unknown_put.clone(), get(None, 2, 3)];
        assert_eq!(
            search(&RegisterMapModel, &never, None),
            Some(Search::Linearizable)
        );
        // But once seen, it cannot un-happen.
        let flicker = [unknown_put, get(Some("x"), 2, 3), get(None, 4, 5)];
        assert!(matches!(
            search(&RegisterMapModel, &flicker, None),
            Some(Search::Violation { .. })
        ));
    }

    #[test]
    fn deadline_in_the_past_gives_up_on_a_large_search() {
        // Many concurrent writes and reads of distinct values: big enough to need more than
        // one deadline check.
        let mut ops = Vec::new();
        for i in 0..200 {
            ops.push(put(&i.to_string(), i, 1000 + i));
        }
        ops.push(get(Some("nobody wrote this"), 500, 2000));
        let past = Some(Instant::now());
        assert_eq!(search(&RegisterMapModel, &ops, past), None);
    }
}
