//! Property tests of the linearizability checker: it agrees with a brute-force oracle on small
//! random histories, accepts every history produced by a real atomic store, and never panics on
//! arbitrary input lines.

use std::collections::BTreeMap;

use proptest::prelude::*;
use wirelab::check::{
    Call, Completion, Event, EventKind, History, Model, OpName, Outcome, RegisterMapModel, Verdict,
    check_history, edn, jepsen, jsonl,
};

const KEYS: [&str; 2] = ["x", "y"];
const VALUES: [&str; 3] = ["0", "1", "2"];

/// One completed-or-not operation, for the oracle: real-time interval in event positions.
#[derive(Clone, Debug)]
struct OracleOp {
    key: String,
    call: Call,
    outcome: Outcome,
    invoked: usize,
    /// `None`: unknown outcome, may take effect any time after `invoked`, or never.
    returned: Option<usize>,
}

/// Pairs events into operations the simple way (failed ones dropped).
fn oracle_ops(history: &History) -> Vec<OracleOp> {
    let mut pending: BTreeMap<u64, OracleOp> = BTreeMap::new();
    let mut ops = Vec::new();
    for (position, event) in history.events().iter().enumerate() {
        match &event.kind {
            EventKind::Invoke(call) => {
                let op = OracleOp {
                    key: event.key.clone(),
                    call: call.clone(),
                    outcome: Outcome::Unknown,
                    invoked: position,
                    returned: None,
                };
                pending.insert(event.client, op);
            }
            EventKind::Ok(completion) => {
                if let Some(mut op) = pending.remove(&event.client) {
                    op.outcome = Outcome::Returned(completion.clone());
                    op.returned = Some(position);
                    ops.push(op);
                }
            }
            EventKind::Info(_) => ops.extend(pending.remove(&event.client)),
            EventKind::Fail(_) => {
                pending.remove(&event.client);
            }
        }
    }
    ops.extend(pending.into_values());
    ops
}

/// Tries every order consistent with real time: an operation may go next unless some other
/// remaining operation returned before it was invoked. Unknown-outcome operations may also be
/// left out entirely.
fn oracle_linearizable(ops: &[OracleOp]) -> bool {
    fn search(
        ops: &[OracleOp],
        done: &mut Vec<bool>,
        state: &BTreeMap<String, Option<String>>,
    ) -> bool {
        let remaining: Vec<usize> = (0..ops.len()).filter(|&i| !done[i]).collect();
        if remaining.iter().all(|&i| ops[i].returned.is_none()) {
            return true;
        }
        for &candidate in &remaining {
            let op = &ops[candidate];
            let blocked = remaining.iter().any(|&other| {
                ops[other]
                    .returned
                    .is_some_and(|returned| returned < op.invoked)
            });
            if blocked {
                continue;
            }
            let current = state.get(&op.key).cloned().flatten();
            let Some(next) = RegisterMapModel.step(&current, &op.call, &op.outcome) else {
                continue;
            };
            let mut next_state = state.clone();
            next_state.insert(op.key.clone(), next);
            done[candidate] = true;
            let found = search(ops, done, &next_state);
            done[candidate] = false;
            if found {
                return true;
            }
        }
        false
    }
    search(ops, &mut vec![false; ops.len()], &BTreeMap::new())
}

/// What the next event of a client is, decided by the generated numbers.
#[derive(Clone, Debug)]
struct Step {
    client: u64,
    pick: u8,
    key: usize,
    value: usize,
    other: usize,
}

/// Up to `max` steps by `clients` clients.
fn steps(clients: u64, max: usize) -> impl Strategy<Value = Vec<Step>> {
    let step = (
        0..clients,
        any::<u8>(),
        0..KEYS.len(),
        0..VALUES.len(),
        0..VALUES.len(),
    );
    let step = step.prop_map(|(client, pick, key, value, other)| Step {
        client,
        pick,
        key,
        value,
        other,
    });
    prop::collection::vec(step, 0..max)
}

/// A random history with arbitrary answers: most are not linearizable, some are.
fn random_history(steps: &[Step]) -> History {
    let mut pending: BTreeMap<u64, (String, OpName)> = BTreeMap::new();
    let mut history = History::new();
    for step in steps {
        let value = VALUES[step.value].to_string();
        if let Some((key, op)) = pending.remove(&step.client) {
            let kind = match step.pick % 8 {
                0 => EventKind::Fail(op),
                1 => EventKind::Info(op),
                _ => EventKind::Ok(match op {
                    OpName::Get if step.pick % 5 == 0 => Completion::Get { value: None },
                    OpName::Get => Completion::Get { value: Some(value) },
                    OpName::Put => Completion::Put,
                    OpName::Del => Completion::Del,
                    OpName::Cas => Completion::Cas {
                        swapped: step.pick % 2 == 0,
                    },
                    OpName::Append => Completion::Append,
                }),
            };
            history.push(Event::new(step.client, key, kind));
        } else {
            let key = KEYS[step.key].to_string();
            let call = match step.pick % 5 {
                0 | 1 => Call::Get,
                2 => Call::Put { value },
                3 => Call::Del,
                _ => Call::Cas {
                    expected: VALUES[step.other].to_string(),
                    value,
                },
            };
            pending.insert(step.client, (key.clone(), call.name()));
            history.push(Event::invoke(step.client, key, call));
        }
    }
    history
}

/// A history of a real atomic store: every operation takes effect at one instant between its
/// invocation and its completion (`info` ones maybe, `fail` ones never), and reports what the
/// store answered then.
fn store_history(steps: &[Step]) -> History {
    let mut store: BTreeMap<String, String> = BTreeMap::new();
    // Per client: the key, the call, and its answer once it has taken effect.
    let mut pending: BTreeMap<u64, (String, Call, Option<Completion>)> = BTreeMap::new();
    let mut history = History::new();
    for step in steps {
        let client = step.client;
        match pending.remove(&client) {
            None => {
                let key = KEYS[step.key].to_string();
                let value = VALUES[step.value].to_string();
                let call = match step.pick % 4 {
                    0 => Call::Get,
                    1 => Call::Put { value },
                    2 => Call::Del,
                    _ => Call::Cas {
                        expected: VALUES[step.other].to_string(),
                        value,
                    },
                };
                history.push(Event::invoke(client, key.clone(), call.clone()));
                pending.insert(client, (key, call, None));
            }
            Some((key, call, None)) if step.pick % 3 != 0 => {
                // Take effect now (fails below never got here, or are reported as fail).
                let answer = apply(&mut store, &key, &call);
                pending.insert(client, (key, call, Some(answer)));
            }
            Some((key, call, answer)) => {
                let op = call.name();
                let kind = match (answer, step.pick % 5) {
                    (Some(_), 0) => EventKind::Info(op),
                    (Some(answer), _) => EventKind::Ok(answer),
                    (None, 0) => EventKind::Info(op),
                    (None, _) => EventKind::Fail(op),
                };
                history.push(Event::new(client, key, kind));
            }
        }
    }
    history
}

fn apply(store: &mut BTreeMap<String, String>, key: &str, call: &Call) -> Completion {
    match call {
        Call::Get => Completion::Get {
            value: store.get(key).cloned(),
        },
        Call::Put { value } | Call::Append { value } => {
            store.insert(key.to_string(), value.clone());
            Completion::Put
        }
        Call::Del => {
            store.remove(key);
            Completion::Del
        }
        Call::Cas { expected, value } => {
            let swapped = store.get(key) == Some(expected);
            if swapped {
                store.insert(key.to_string(), value.clone());
            }
            Completion::Cas { swapped }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn checker_agrees_with_brute_force_on_small_random_histories(steps in steps(3, 24)) {
        let history = random_history(&steps);
        let report = check_history(&history, None).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let expected = if oracle_linearizable(&oracle_ops(&history)) {
            Verdict::Linearizable
        } else {
            Verdict::NotLinearizable
        };
        prop_assert_eq!(report.verdict, expected, "{:#?}\n{}", history, report);
    }

    #[test]
    fn every_history_of_an_atomic_store_is_linearizable(steps in steps(6, 240)) {
        let history = store_history(&steps);
        let report = check_history(&history, None).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(report.verdict, Verdict::Linearizable, "{:#?}\n{}", history, report);
    }

    #[test]
    fn parsers_never_panic_on_arbitrary_lines(text in ".{0,200}") {
        let _ = jsonl::parse_jsonl_event(&text, 1);
        let _ = edn::parse_edn_event(&text, 1);
        let _ = jepsen::parse_jepsen_line(&text, 1);
    }

    #[test]
    fn parsers_never_panic_on_almost_valid_lines(
        cut in 0usize..80,
        insert in "[\\[\\]{}\":, a-z0-9\\\\-]{0,3}",
    ) {
        let samples = [
            r#"{"client":3,"kind":"invoke","op":"cas","key":"k1","expected":"a","value":"v7"}"#,
            r#"{:process 0, :type :ok, :f :get, :key "0", :value "x 0 0 y"}"#,
            "INFO  jepsen.util - 2\t:invoke\t:cas\t[3 0]",
        ];
        for sample in samples {
            let mut cut = cut.min(sample.len());
            while !sample.is_char_boundary(cut) {
                cut -= 1;
            }
            let text = format!("{}{}{}", &sample[..cut], insert, &sample[cut..]);
            let _ = jsonl::parse_jsonl_event(&text, 1);
            let _ = edn::parse_edn_event(&text, 1);
            let _ = jepsen::parse_jepsen_line(&text, 1);
        }
    }
}
