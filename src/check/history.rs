//! The history vocabulary: operations on a key-value store as clients saw them, one event at a
//! time (an invocation, then an `ok`, `fail` or `info` completion), in real-time order.
//!
//! Every input format ([JSON lines](super::jsonl), [Jepsen logs](super::jepsen),
//! [EDN](super::edn)) parses into a [`History`]; the checker never sees the file format.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Which operation an event is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OpName {
    /// Read a key.
    Get,
    /// Overwrite a key.
    Put,
    /// Remove a key.
    Del,
    /// Compare-and-swap a key.
    Cas,
    /// Append to a key's value (only the conformance kv model defines it).
    Append,
}

impl OpName {
    /// The name as it appears in the JSON-lines format.
    pub fn as_str(self) -> &'static str {
        match self {
            OpName::Get => "get",
            OpName::Put => "put",
            OpName::Del => "del",
            OpName::Cas => "cas",
            OpName::Append => "append",
        }
    }
}

impl fmt::Display for OpName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a client asked for: the operation and its arguments (the key lives on the [`Event`]).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Call {
    /// Read the key.
    Get,
    /// Set the key to `value`.
    Put {
        /// The new value.
        value: String,
    },
    /// Remove the key.
    Del,
    /// Set the key to `value` if its current value is `expected` (a missing key matches nothing).
    Cas {
        /// The value the key must hold for the swap to happen.
        expected: String,
        /// The value it is swapped to.
        value: String,
    },
    /// Append `value` to the key's value.
    Append {
        /// The suffix.
        value: String,
    },
}

impl Call {
    /// Which operation this is.
    pub fn name(&self) -> OpName {
        match self {
            Call::Get => OpName::Get,
            Call::Put { .. } => OpName::Put,
            Call::Del => OpName::Del,
            Call::Cas { .. } => OpName::Cas,
            Call::Append { .. } => OpName::Append,
        }
    }
}

/// What an `ok` completion reported.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Completion {
    /// The read returned this value (`None`: the key was absent).
    Get {
        /// The value read.
        value: Option<String>,
    },
    /// The put took effect.
    Put,
    /// The delete took effect (whether or not the key existed).
    Del,
    /// The compare-and-swap took effect; `swapped` says whether the compare matched.
    Cas {
        /// Whether the key held the expected value and was swapped.
        swapped: bool,
    },
    /// The append took effect.
    Append,
}

impl Completion {
    /// Which operation this completes.
    pub fn name(&self) -> OpName {
        match self {
            Completion::Get { .. } => OpName::Get,
            Completion::Put => OpName::Put,
            Completion::Del => OpName::Del,
            Completion::Cas { .. } => OpName::Cas,
            Completion::Append => OpName::Append,
        }
    }
}

/// The outcome of a whole operation, as the checker sees it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The client got this answer.
    Returned(Completion),
    /// The client never learned what happened (`info`, a timeout, or no completion at all): the
    /// operation may have taken effect at any time after its invocation, or never.
    Unknown,
}

/// What happened at one point in time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// The client sent a request.
    Invoke(Call),
    /// The client got a definite answer: the operation took effect.
    Ok(Completion),
    /// The client learned that the operation definitely did not take effect.
    Fail(OpName),
    /// The client gave up without knowing whether the operation took effect.
    Info(OpName),
}

/// One line of a history: a client invoking or completing an operation on a key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// The client (one operation outstanding at a time).
    pub client: u64,
    /// The key the operation is about.
    pub key: String,
    /// Invocation or completion, with its payload.
    pub kind: EventKind,
    /// When it happened, in nanoseconds since some start; informational only (the order of
    /// events in the history is what the checker uses).
    pub t_ns: Option<u64>,
}

impl Event {
    /// An invocation of `call` on `key` by `client`.
    pub fn invoke(client: u64, key: impl Into<String>, call: Call) -> Event {
        Event::new(client, key, EventKind::Invoke(call))
    }

    /// A successful completion.
    pub fn ok(client: u64, key: impl Into<String>, completion: Completion) -> Event {
        Event::new(client, key, EventKind::Ok(completion))
    }

    /// A completion saying the operation did not take effect.
    pub fn fail(client: u64, key: impl Into<String>, op: OpName) -> Event {
        Event::new(client, key, EventKind::Fail(op))
    }

    /// A completion saying the outcome is unknown.
    pub fn info(client: u64, key: impl Into<String>, op: OpName) -> Event {
        Event::new(client, key, EventKind::Info(op))
    }

    /// An event without a timestamp.
    pub fn new(client: u64, key: impl Into<String>, kind: EventKind) -> Event {
        Event {
            client,
            key: key.into(),
            kind,
            t_ns: None,
        }
    }

    /// The same event stamped with `t_ns`.
    pub fn at(mut self, t_ns: u64) -> Event {
        self.t_ns = Some(t_ns);
        self
    }

    /// Which operation the event is about.
    pub fn op(&self) -> OpName {
        match &self.kind {
            EventKind::Invoke(call) => call.name(),
            EventKind::Ok(completion) => completion.name(),
            EventKind::Fail(op) | EventKind::Info(op) => *op,
        }
    }
}

/// A sequence of events in real-time order, each remembering the source line it came from so
/// that errors and reports can point at it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct History {
    events: Vec<Event>,
    lines: Vec<usize>,
}

impl History {
    /// An empty history.
    pub fn new() -> History {
        History::default()
    }

    /// Appends an event; its line is its 1-based position, which is the line a
    /// [`HistoryWriter`](super::HistoryWriter) would write it on.
    pub fn push(&mut self, event: Event) {
        let line = self.events.len() + 1;
        self.push_at_line(event, line);
    }

    /// Appends an event read from source line `line`.
    pub fn push_at_line(&mut self, event: Event, line: usize) {
        self.events.push(event);
        self.lines.push(line);
    }

    /// The events, in order.
    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// The source line of the `index`th event (0-based index, 1-based line).
    pub fn line(&self, index: usize) -> usize {
        self.lines.get(index).copied().unwrap_or(index + 1)
    }

    /// Number of events.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Whether there are no events.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }
}

impl FromIterator<Event> for History {
    fn from_iter<I: IntoIterator<Item = Event>>(iter: I) -> History {
        let mut history = History::new();
        for event in iter {
            history.push(event);
        }
        history
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_lines_default_to_positions_and_keep_explicit_ones() {
        let mut history: History = [
            Event::invoke(1, "k", Call::Get),
            Event::ok(1, "k", Completion::Get { value: None }),
        ]
        .into_iter()
        .collect();
        history.push_at_line(Event::invoke(2, "k", Call::Del), 40);
        assert_eq!(history.len(), 3);
        assert_eq!(history.line(0), 1);
        assert_eq!(history.line(1), 2);
        assert_eq!(history.line(2), 40);
    }

    #[test]
    fn event_op_names_the_operation_of_every_kind() {
        let cas = Call::Cas {
            expected: "a".into(),
            value: "b".into(),
        };
        assert_eq!(Event::invoke(0, "k", cas).op(), OpName::Cas);
        assert_eq!(Event::ok(0, "k", Completion::Del).op(), OpName::Del);
        assert_eq!(Event::fail(0, "k", OpName::Put).op(), OpName::Put);
        assert_eq!(Event::info(0, "k", OpName::Append).op(), OpName::Append);
    }
}
