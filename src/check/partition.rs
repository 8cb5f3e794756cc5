//! From events to operations: pair each invocation with its completion, drop what did not
//! happen, and group the rest by key (keys are independent objects, so a history is
//! linearizable iff each key's sub-history is, and small sub-histories search fast).

use std::collections::{BTreeMap, HashMap};

use super::CheckError;
use super::history::{Call, EventKind, History, Outcome};
use super::model::Model;

/// One operation: an invocation and what became of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Operation {
    /// Who invoked it.
    pub client: u64,
    /// What was asked.
    pub call: Call,
    /// What was answered.
    pub outcome: Outcome,
    /// Position of the invocation in the history.
    pub invoked: usize,
    /// Position of the completion (`ok` or `info`) in the history, if there was one.
    pub completed: Option<usize>,
}

impl Operation {
    /// Where the operation's return sits in real time: its `ok`, or after everything if the
    /// outcome is unknown (it may take effect arbitrarily late, or never).
    pub fn returns_at(&self) -> usize {
        match (&self.outcome, self.completed) {
            (Outcome::Returned(_), Some(position)) => position,
            _ => usize::MAX,
        }
    }
}

/// The operations on one key, in invocation order.
#[derive(Clone, Debug)]
pub(crate) struct Partition {
    /// The key.
    pub key: String,
    /// Its operations.
    pub ops: Vec<Operation>,
}

/// A history split into per-key partitions, with counts for the report.
#[derive(Clone, Debug, Default)]
pub(crate) struct Partitioned {
    /// One partition per key that has operations to check, sorted by key.
    pub partitions: Vec<Partition>,
    /// Operations that took or may have taken effect (everything but `fail`).
    pub ops: usize,
    /// Operations that definitely did not take effect, dropped.
    pub failed: usize,
    /// Operations with an unknown outcome (`info`, or no completion at all).
    pub unknown: usize,
}

/// Pairs events into operations and partitions them by key.
///
/// Rules: a client has at most one operation outstanding; a completion must name the client's
/// outstanding operation and key; an invocation never completed counts as unknown. Unknown
/// reads are counted but not searched: they have no effect and their answer is unconstrained.
pub(crate) fn partition<M: Model>(history: &History, model: &M) -> Result<Partitioned, CheckError> {
    let mut pending: HashMap<u64, (usize, &Call)> = HashMap::new();
    let mut by_key: BTreeMap<&str, Vec<Operation>> = BTreeMap::new();
    let mut result = Partitioned::default();
    let events = history.events();
    let inconsistent = |index: usize, reason: String| CheckError::Inconsistent {
        line: history.line(index),
        reason,
    };

    for (index, event) in events.iter().enumerate() {
        let client = event.client;
        let outcome = match &event.kind {
            EventKind::Invoke(call) => {
                if let Some(&(earlier, earlier_call)) = pending.get(&client) {
                    let reason = format!(
                        "client {client} invokes {} while its {} from line {} is outstanding",
                        call.name(),
                        earlier_call.name(),
                        history.line(earlier),
                    );
                    return Err(inconsistent(index, reason));
                }
                if !model.supports(call) {
                    return Err(CheckError::Unsupported {
                        line: history.line(index),
                        op: call.name().as_str(),
                        model: model.name(),
                    });
                }
                pending.insert(client, (index, call));
                continue;
            }
            EventKind::Ok(completion) => Some(Outcome::Returned(completion.clone())),
            EventKind::Info(_) => Some(Outcome::Unknown),
            EventKind::Fail(_) => None,
        };

        let Some((invoked, call)) = pending.remove(&client) else {
            let reason = format!(
                "client {client} completes a {} it never invoked",
                event.op()
            );
            return Err(inconsistent(index, reason));
        };
        let key = events[invoked].key.as_str();
        if event.op() != call.name() || event.key != key {
            let reason = format!(
                "client {client} completes {} on {:?} but invoked {} on {key:?} at line {}",
                event.op(),
                event.key,
                call.name(),
                history.line(invoked),
            );
            return Err(inconsistent(index, reason));
        }
        let Some(outcome) = outcome else {
            result.failed += 1;
            continue;
        };
        by_key.entry(key).or_default().push(Operation {
            client,
            call: call.clone(),
            outcome,
            invoked,
            completed: Some(index),
        });
    }

    for (&client, &(invoked, call)) in &pending {
        by_key
            .entry(&events[invoked].key)
            .or_default()
            .push(Operation {
                client,
                call: call.clone(),
                outcome: Outcome::Unknown,
                invoked,
                completed: None,
            });
    }

    for (key, mut ops) in by_key {
        result.ops += ops.len();
        result.unknown += ops
            .iter()
            .filter(|op| op.outcome == Outcome::Unknown)
            .count();
        ops.retain(|op| !(op.call == Call::Get && op.outcome == Outcome::Unknown));
        ops.sort_by_key(|op| op.invoked);
        if !ops.is_empty() {
            result.partitions.push(Partition {
                key: key.to_string(),
                ops,
            });
        }
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::history::{Completion, Event, OpName};
    use crate::check::model::{AppendKvModel, RegisterMapModel};

    fn put(value: &str) -> Call {
        Call::Put {
            value: value.into(),
        }
    }

    #[test]
    fn operations_are_paired_by_client_and_grouped_by_sorted_key() -> Result<(), CheckError> {
        let history: History = [
            Event::invoke(1, "b", put("1")),
            Event::invoke(2, "a", Call::Get),
            Event::ok(2, "a", Completion::Get { value: None }),
            Event::ok(1, "b", Completion::Put),
        ]
        .into_iter()
        .collect();
        let split = partition(&history, &RegisterMapModel)?;
        let keys: Vec<_> = split.partitions.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(keys, ["a", "b"]);
        assert_eq!((split.ops, split.failed, split.unknown), (2, 0, 0));
        let b = &split.partitions[1].ops[0];
        assert_eq!((b.client, b.invoked, b.completed), (1, 0, Some(3)));
        assert_eq!(b.returns_at(), 3);
        Ok(())
    }

    #[test]
    fn failed_ops_are_dropped_and_unknown_ones_return_at_infinity() -> Result<(), CheckError> {
        let history: History = [
            Event::invoke(1, "k", put("1")),
            Event::fail(1, "k", OpName::Put),
            Event::invoke(1, "k", put("2")),
            Event::info(1, "k", OpName::Put),
            Event::invoke(2, "k", put("3")),
            Event::invoke(3, "k", Call::Get),
            Event::info(3, "k", OpName::Get),
        ]
        .into_iter()
        .collect();
        let split = partition(&history, &RegisterMapModel)?;
        assert_eq!((split.ops, split.failed, split.unknown), (3, 1, 3));
        let ops = &split.partitions[0].ops;
        assert_eq!(ops.len(), 2, "the unknown get is not searched");
        assert!(ops.iter().all(|op| op.returns_at() == usize::MAX));
        assert_eq!(ops[0].completed, Some(3));
        assert_eq!(ops[1].completed, None);
        Ok(())
    }

    fn inconsistency(events: Vec<Event>) -> (usize, String) {
        let history: History = events.into_iter().collect();
        match partition(&history, &RegisterMapModel) {
            Err(CheckError::Inconsistent { line, reason }) => (line, reason),
            other => panic!("expected an inconsistency, got {other:?}"),
        }
    }

    #[test]
    fn second_outstanding_invocation_of_a_client_is_rejected() {
        let (line, reason) = inconsistency(vec![
            Event::invoke(1, "k", Call::Get),
            Event::invoke(1, "k", put("x")),
        ]);
        assert_eq!(line, 2);
        assert!(reason.contains("outstanding"), "{reason}");
    }

    #[test]
    fn completion_without_invocation_is_rejected() {
        let (line, reason) = inconsistency(vec![Event::ok(4, "k", Completion::Del)]);
        assert_eq!(line, 1);
        assert!(reason.contains("never invoked"), "{reason}");
    }

    #[test]
    fn completion_of_another_op_or_key_is_rejected() {
        let (line, _) = inconsistency(vec![
            Event::invoke(1, "k", Call::Get),
            Event::ok(1, "k", Completion::Put),
        ]);
        assert_eq!(line, 2);
        let (_, reason) = inconsistency(vec![
            Event::invoke(1, "k", Call::Del),
            Event::ok(1, "other", Completion::Del),
        ]);
        assert!(reason.contains("\"other\""), "{reason}");
    }

    #[test]
    fn operation_outside_the_model_is_unsupported() {
        let history: History = [Event::invoke(1, "k", Call::Del)].into_iter().collect();
        let result = partition(&history, &AppendKvModel);
        assert!(matches!(
            result,
            Err(CheckError::Unsupported {
                line: 1,
                op: "del",
                ..
            })
        ));
    }
}
