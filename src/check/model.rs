//! Sequential specifications: what a single key does when operations are applied one at a time.
//!
//! The search partitions a history by key, so a model only ever sees one key's state. A
//! [`Model::step`] that returns `None` says "this operation cannot have returned that answer in
//! that state"; an [`Outcome::Unknown`] answer is consistent with anything, but the operation
//! still has its effect when it is linearized.

use std::fmt::Debug;
use std::hash::Hash;

use super::history::{Call, Completion, Outcome};

/// A sequential specification of one key.
pub trait Model {
    /// The key's state. Equal states must behave the same in every future (the search prunes on
    /// it), so it must hold everything that matters and nothing else.
    type State: Clone + Eq + Hash + Debug;

    /// A short name for messages (`"register-map"`).
    fn name(&self) -> &'static str;

    /// The state of a key no one has touched.
    fn init(&self) -> Self::State;

    /// Whether the model defines `call` at all.
    fn supports(&self, call: &Call) -> bool;

    /// Applies `call` to `state`: the next state if `outcome` is a possible answer, else `None`.
    fn step(&self, state: &Self::State, call: &Call, outcome: &Outcome) -> Option<Self::State>;

    /// The state for humans, e.g. in a violation report.
    fn describe_state(&self, state: &Self::State) -> String;
}

/// A key of wirelab's Raft KV store: absent or holding a string. `get` returns the value or
/// absent, `put` sets it, `del` removes it (and always succeeds), and `cas(expected, value)`
/// swaps iff the key is present and equal to `expected`, answering whether it swapped.
#[derive(Clone, Copy, Debug, Default)]
pub struct RegisterMapModel;

impl Model for RegisterMapModel {
    type State = Option<String>;

    fn name(&self) -> &'static str {
        "register-map"
    }

    fn init(&self) -> Option<String> {
        None
    }

    fn supports(&self, call: &Call) -> bool {
        !matches!(call, Call::Append { .. })
    }

    fn step(&self, state: &Option<String>, call: &Call, outcome: &Outcome) -> Option<Self::State> {
        let answer = match outcome {
            Outcome::Returned(completion) => Some(completion),
            Outcome::Unknown => None,
        };
        match call {
            Call::Get => match answer {
                None => Some(state.clone()),
                Some(Completion::Get { value }) => (value == state).then(|| state.clone()),
                Some(_) => None,
            },
            Call::Put { value } => Some(Some(value.clone())),
            Call::Del => Some(None),
            Call::Cas { expected, value } => {
                let matches = state.as_deref() == Some(expected.as_str());
                let consistent = match answer {
                    None => true,
                    Some(Completion::Cas { swapped }) => *swapped == matches,
                    Some(_) => false,
                };
                match (consistent, matches) {
                    (false, _) => None,
                    (true, true) => Some(Some(value.clone())),
                    (true, false) => Some(state.clone()),
                }
            }
            Call::Append { .. } => None,
        }
    }

    fn describe_state(&self, state: &Option<String>) -> String {
        match state {
            Some(value) => format!("{value:?}"),
            None => "absent".to_string(),
        }
    }
}

/// The key-value model of the conformance `kv` histories: every key starts as the empty string,
/// `get` returns it, `put` overwrites it and `append` concatenates to it.
#[derive(Clone, Copy, Debug, Default)]
pub struct AppendKvModel;

impl Model for AppendKvModel {
    type State = String;

    fn name(&self) -> &'static str {
        "append-kv"
    }

    fn init(&self) -> String {
        String::new()
    }

    fn supports(&self, call: &Call) -> bool {
        matches!(call, Call::Get | Call::Put { .. } | Call::Append { .. })
    }

    fn step(&self, state: &String, call: &Call, outcome: &Outcome) -> Option<String> {
        match (call, outcome) {
            (Call::Get, Outcome::Unknown) => Some(state.clone()),
            (Call::Get, Outcome::Returned(Completion::Get { value })) => {
                (value.as_deref() == Some(state.as_str())).then(|| state.clone())
            }
            (Call::Put { value }, _) => Some(value.clone()),
            (Call::Append { value }, _) => Some(format!("{state}{value}")),
            _ => None,
        }
    }

    fn describe_state(&self, state: &String) -> String {
        format!("{state:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn returned(completion: Completion) -> Outcome {
        Outcome::Returned(completion)
    }

    fn some(value: &str) -> Option<String> {
        Some(value.to_string())
    }

    fn cas(expected: &str, value: &str) -> Call {
        Call::Cas {
            expected: expected.into(),
            value: value.into(),
        }
    }

    #[test]
    fn register_get_must_return_the_current_value_or_absent() {
        let model = RegisterMapModel;
        let got = |value: Option<String>| returned(Completion::Get { value });
        assert_eq!(model.step(&None, &Call::Get, &got(None)), Some(None));
        assert_eq!(
            model.step(&some("a"), &Call::Get, &got(some("a"))),
            Some(some("a"))
        );
        assert_eq!(model.step(&some("a"), &Call::Get, &got(None)), None);
        assert_eq!(model.step(&None, &Call::Get, &got(some(""))), None);
        assert_eq!(
            model.step(&some("a"), &Call::Get, &Outcome::Unknown),
            Some(some("a"))
        );
    }

    #[test]
    fn register_put_and_del_always_succeed_and_set_the_state() {
        let model = RegisterMapModel;
        let put = Call::Put { value: "v".into() };
        assert_eq!(
            model.step(&None, &put, &returned(Completion::Put)),
            Some(some("v"))
        );
        assert_eq!(
            model.step(&some("v"), &Call::Del, &Outcome::Unknown),
            Some(None)
        );
        assert_eq!(
            model.step(&None, &Call::Del, &returned(Completion::Del)),
            Some(None)
        );
    }

    #[test]
    fn register_cas_swaps_only_on_a_present_equal_value() {
        let model = RegisterMapModel;
        let swapped = |swapped| returned(Completion::Cas { swapped });
        let call = cas("a", "b");
        assert_eq!(
            model.step(&some("a"), &call, &swapped(true)),
            Some(some("b"))
        );
        assert_eq!(model.step(&some("a"), &call, &swapped(false)), None);
        assert_eq!(
            model.step(&some("x"), &call, &swapped(false)),
            Some(some("x"))
        );
        assert_eq!(model.step(&some("x"), &call, &swapped(true)), None);
        assert_eq!(model.step(&None, &call, &swapped(true)), None);
        assert_eq!(
            model.step(&None, &cas("", "b"), &swapped(false)),
            Some(None)
        );
        assert_eq!(
            model.step(&some("a"), &call, &Outcome::Unknown),
            Some(some("b"))
        );
        assert_eq!(
            model.step(&some("x"), &call, &Outcome::Unknown),
            Some(some("x"))
        );
    }

    #[test]
    fn register_rejects_a_completion_of_another_operation() {
        let model = RegisterMapModel;
        assert_eq!(
            model.step(&None, &Call::Get, &returned(Completion::Put)),
            None
        );
        assert_eq!(
            model.step(&None, &cas("a", "b"), &returned(Completion::Put)),
            None
        );
        assert!(!model.supports(&Call::Append { value: "x".into() }));
    }

    #[test]
    fn append_kv_starts_empty_and_concatenates() {
        let model = AppendKvModel;
        let state = model.init();
        let got = |value: &str| returned(Completion::Get { value: some(value) });
        assert_eq!(
            model.step(&state, &Call::Get, &got("")),
            Some(String::new())
        );
        let append = Call::Append {
            value: "x 1".into(),
        };
        let state = model.step(&state, &append, &returned(Completion::Append));
        let state = state.and_then(|s| model.step(&s, &append, &Outcome::Unknown));
        assert_eq!(state.as_deref(), Some("x 1x 1"));
        let put = Call::Put { value: "p".into() };
        assert_eq!(
            model.step(&"q".into(), &put, &Outcome::Unknown).as_deref(),
            Some("p")
        );
        assert_eq!(model.step(&"q".into(), &Call::Get, &got("p")), None);
        assert!(!model.supports(&Call::Del));
        assert!(!model.supports(&cas("a", "b")));
    }
}
