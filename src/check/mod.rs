//! The linearizability checker: given a history of key-value operations as clients saw them,
//! decide whether some sequential order of the operations, consistent with real time, explains
//! every answer (Herlihy & Wing's linearizability).
//!
//! The search is Wing & Gong's, with Lowe's cache of visited configurations, as in
//! [Porcupine](https://github.com/anishathalye/porcupine) and Knossos (see the `wgl` module).
//! Keys are independent, so the history is split by key first and each key is searched on its
//! own against a sequential [`Model`] of one key; the keys take turns, so that a key that fails
//! quickly is found even if another would take long to prove either way.
//!
//! # Layout
//! - [`history`]: the event and operation vocabulary every format parses into.
//! - [`jsonl`]: wirelab's own JSON-lines format: [`read_jsonl`] and [`HistoryWriter`].
//! - [`jepsen`]: Jepsen/Knossos single-register logs (the etcd conformance logs).
//! - [`edn`]: EDN operation maps, one a line (the conformance `kv` histories).
//! - [`model`]: the sequential specifications: [`RegisterMapModel`] for wirelab's KV store,
//!   [`AppendKvModel`] for the conformance `kv` histories.
//! - `partition`: pairs invocations with completions and groups operations by key.
//! - `wgl`: the backtracking search over one key.
//! - `cache`: the search's memory: linearized-set bitsets, interned states, visited set.
//! - [`report`]: [`CheckReport`] and [`Verdict`].
//! - `lines`: bounded line reading shared by the parsers.
//!
//! # Outcomes
//! - `ok`: the operation took effect, atomically, at some instant between its invocation and
//!   its completion, and returned what the completion says.
//! - `fail`: the operation definitely did not take effect; it is dropped. (A cas whose compare
//!   did not match is not a failure: it is `ok` with `"swapped": false`.)
//! - `info`, or no completion at all: unknown. The operation may have taken effect at any
//!   instant after its invocation, even after the history ends, or never. The search gives it
//!   a return at +infinity and accepts any answer, which covers all of these.
//!
//! # The JSON-lines history format
//! UTF-8 text, one JSON object per line (at most [`MAX_LINE_BYTES`] bytes), one event per
//! object, in the real-time order the events happened; blank lines are ignored. Example, a put
//! and a read that sees it:
//!
//! ```text
//! {"client":3,"kind":"invoke","op":"put","key":"k1","value":"v7","t_ns":1234}
//! {"client":3,"kind":"ok","op":"put","key":"k1","t_ns":1300}
//! {"client":4,"kind":"invoke","op":"get","key":"k1","t_ns":1400}
//! {"client":4,"kind":"ok","op":"get","key":"k1","value":"v7","t_ns":1480}
//! ```
//!
//! Fields:
//! - `client` (required, unsigned integer): who issued the operation. A client has at most one
//!   operation outstanding: after an `invoke`, its next event is that operation's completion.
//! - `kind` (required): `"invoke"`, `"ok"`, `"fail"` or `"info"`, as under Outcomes above.
//! - `op` (required): `"get"`, `"put"`, `"del"`, `"cas"` (or `"append"`, which only
//!   [`AppendKvModel`] defines). A completion repeats its invocation's `op` and `key`.
//! - `key` (required, string).
//! - `value`: on a `put` or `cas` (or `append`) invoke, the string written (required); on a
//!   `get` ok, the string read, or `null` if the key was absent (required). Ignored elsewhere.
//! - `expected` (string): on a `cas` invoke, the value the key must hold for the swap (required).
//! - `swapped` (bool): on a `cas` ok, whether the compare matched and the value was swapped;
//!   defaults to `true`.
//! - `t_ns` (optional, unsigned integer): a timestamp, informational only; line order is what
//!   counts.
//!
//! Other fields are ignored, so writers may add context (a node id, an error message).
//! Semantics ([`RegisterMapModel`]): `get` returns the current value or `null`; `put` sets it;
//! `del` removes it (and succeeds on an absent key); `cas(expected, value)` swaps iff the key is
//! present and equal to `expected`, and reports whether it did.
//!
//! # Example
//! ```
//! use wirelab::check::{check_history, Call, Completion, Event, History, Verdict};
//!
//! // A read that starts after a write completed but misses it: a stale read.
//! let history: History = [
//!     Event::invoke(1, "k", Call::Put { value: "new".into() }),
//!     Event::ok(1, "k", Completion::Put),
//!     Event::invoke(2, "k", Call::Get),
//!     Event::ok(2, "k", Completion::Get { value: None }),
//! ]
//! .into_iter()
//! .collect();
//! let report = check_history(&history, None)?;
//! assert_eq!(report.verdict, Verdict::NotLinearizable);
//! assert_eq!(report.failing_key.as_deref(), Some("k"));
//! # Ok::<(), wirelab::check::CheckError>(())
//! ```

mod cache;
pub mod edn;
mod error;
pub mod history;
pub mod jepsen;
pub mod jsonl;
mod lines;
pub mod model;
mod partition;
pub mod report;
mod wgl;

use std::collections::VecDeque;
use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::str::FromStr;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

pub use edn::read_edn;
pub use error::CheckError;
pub use history::{Call, Completion, Event, EventKind, History, OpName, Outcome};
pub use jepsen::{JEPSEN_REGISTER_KEY, read_jepsen};
pub use jsonl::{HistoryWriter, read_jsonl};
pub use lines::MAX_LINE_BYTES;
pub use model::{AppendKvModel, Model, RegisterMapModel};
pub use report::{CheckReport, ReportedOp, Verdict, Violation};

use partition::partition;
use wgl::{Search, Searcher};

/// A history file format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// wirelab's JSON lines (see the [module docs](self)), checked with [`RegisterMapModel`].
    Jsonl,
    /// A Jepsen/Knossos register log, checked with [`RegisterMapModel`].
    Jepsen,
    /// EDN operation maps, checked with [`AppendKvModel`].
    Edn,
}

impl Format {
    /// Every format, for help texts.
    pub const ALL: [Format; 3] = [Format::Jsonl, Format::Jepsen, Format::Edn];

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Format::Jsonl => "jsonl",
            Format::Jepsen => "jepsen",
            Format::Edn => "edn",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Format {
    type Err = String;

    fn from_str(name: &str) -> Result<Format, String> {
        Format::ALL
            .into_iter()
            .find(|format| format.name() == name)
            .ok_or_else(|| {
                format!("unknown history format {name:?} (expected jsonl, jepsen or edn)")
            })
    }
}

/// Reads a history in `format`.
pub fn read_history<R: BufRead>(reader: R, format: Format) -> Result<History, CheckError> {
    match format {
        Format::Jsonl => read_jsonl(reader),
        Format::Jepsen => read_jepsen(reader),
        Format::Edn => read_edn(reader),
    }
}

/// Reads the history at `path` and checks it with the model that goes with `format`, giving up
/// with [`Verdict::Unknown`] after `budget` (`None`: no limit).
pub fn check_file(
    path: &Path,
    format: Format,
    budget: Option<Duration>,
) -> Result<CheckReport, CheckError> {
    let file = File::open(path).map_err(|source| CheckError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    let history = read_history(BufReader::new(file), format)?;
    if history.is_empty() && has_content(path) {
        return Err(CheckError::NoOperations {
            path: path.to_path_buf(),
            format: format.name(),
        });
    }
    match format {
        Format::Jsonl | Format::Jepsen => check_history_with(&history, &RegisterMapModel, budget),
        Format::Edn => check_history_with(&history, &AppendKvModel, budget),
    }
}

/// Whether the file at `path` holds anything but whitespace (read in bounded chunks).
fn has_content(path: &Path) -> bool {
    use std::io::Read;
    let Ok(mut f) = File::open(path) else {
        return false;
    };
    let mut buf = [0u8; 8192];
    loop {
        match f.read(&mut buf) {
            Ok(0) | Err(_) => return false,
            Ok(n) => {
                if buf[..n].iter().any(|b| !b.is_ascii_whitespace()) {
                    return true;
                }
            }
        }
    }
}

/// Checks a history of wirelab's KV store ([`RegisterMapModel`]) within `budget`.
pub fn check_history(
    history: &History,
    budget: Option<Duration>,
) -> Result<CheckReport, CheckError> {
    check_history_with(history, &RegisterMapModel, budget)
}

/// Search steps a key gets per turn (a few milliseconds of work).
const STEPS_PER_TURN: u64 = 1 << 14;

/// Checks `history` against `model` within `budget`.
///
/// The keys take turns of a few thousand search steps each, in key order, until every key
/// is linearizable or one is not. Proving that a key is *not* linearizable can mean exhausting
/// a huge search space while another key fails in a millisecond; taking turns (rather than
/// finishing keys one by one) finds the quick failure, and is deterministic, unlike racing
/// threads.
pub fn check_history_with<M: Model>(
    history: &History,
    model: &M,
    budget: Option<Duration>,
) -> Result<CheckReport, CheckError> {
    let started = Instant::now();
    let deadline = budget.and_then(|budget| started.checked_add(budget));
    let split = partition(history, model)?;
    let mut report = CheckReport {
        verdict: Verdict::Linearizable,
        model: model.name(),
        events: history.len(),
        ops: split.ops,
        failed_ops: split.failed,
        unknown_ops: split.unknown,
        partitions: split.partitions.len(),
        failing_key: None,
        search_steps: 0,
        elapsed: Duration::ZERO,
        violation: None,
    };
    let parts = &split.partitions;
    // Searches that need another turn, by partition index; keys not started yet come first.
    let mut waiting: VecDeque<(usize, Searcher<'_, M>)> = VecDeque::new();
    let mut next_new = 0;
    loop {
        let (index, mut searcher) = if next_new < parts.len() {
            next_new += 1;
            (next_new - 1, Searcher::new(model, &parts[next_new - 1].ops))
        } else if let Some(waiting_search) = waiting.pop_front() {
            waiting_search
        } else {
            break;
        };
        let Some(result) = searcher.run(STEPS_PER_TURN, deadline) else {
            waiting.push_back((index, searcher));
            if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
                // Keys are sorted, so the smallest index is the first unfinished key.
                let first = waiting.iter().map(|(index, _)| *index).min();
                let first = first.map_or(next_new, |first| first.min(next_new));
                report.verdict = Verdict::Unknown;
                report.failing_key = parts.get(first).map(|part| part.key.clone());
                break;
            }
            continue;
        };
        report.search_steps += searcher.steps();
        if let Search::Violation {
            prefix,
            stuck,
            state,
        } = result
        {
            let part = &parts[index];
            let reported =
                |op: usize| ReportedOp::new(&part.key, &part.ops[op], |event| history.line(event));
            report.verdict = Verdict::NotLinearizable;
            report.failing_key = Some(part.key.clone());
            report.violation = Some(Violation {
                key: part.key.clone(),
                key_ops: part.ops.len(),
                prefix: prefix.into_iter().map(reported).collect(),
                state_after_prefix: model.describe_state(&state),
                stuck: reported(stuck),
            });
            break;
        }
    }
    report.search_steps += waiting
        .iter()
        .map(|(_, searcher)| searcher.steps())
        .sum::<u64>();
    report.elapsed = started.elapsed();
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_round_trip_through_their_names() {
        for format in Format::ALL {
            assert_eq!(format.name().parse::<Format>(), Ok(format));
            assert_eq!(format.to_string(), format.name());
        }
        let err = "xml".parse::<Format>().err().unwrap_or_default();
        assert!(err.contains("jsonl, jepsen or edn"), "{err}");
    }

    #[test]
    fn missing_file_is_an_open_error_naming_the_path() {
        let path = Path::new("/nonexistent/wirelab/history.jsonl");
        match check_file(path, Format::Jsonl, None) {
            Err(err @ CheckError::Open { .. }) => {
                assert!(err.to_string().contains("/nonexistent/wirelab"), "{err}")
            }
            other => panic!("expected an open error, got {other:?}"),
        }
    }

    #[test]
    fn empty_history_is_linearizable_with_no_partitions() -> Result<(), CheckError> {
        let report = check_history(&History::new(), None)?;
        assert_eq!(report.verdict, Verdict::Linearizable);
        assert_eq!((report.ops, report.partitions), (0, 0));
        assert_eq!(report.failing_key, None);
        Ok(())
    }

    /// Key `key`: 200 concurrent puts of distinct values and a read of a value nobody wrote.
    /// Not linearizable, but proving it means trying every order of the puts.
    fn exponential_key(key: &str) -> Vec<Event> {
        let mut events = Vec::new();
        for client in 0..200 {
            let value = client.to_string();
            events.push(Event::invoke(client, key, Call::Put { value }));
        }
        events.push(Event::invoke(1000, key, Call::Get));
        for client in 0..200 {
            events.push(Event::ok(client, key, Completion::Put));
        }
        let value = Some("nobody wrote this".to_string());
        events.push(Event::ok(1000, key, Completion::Get { value }));
        events
    }

    #[test]
    fn exhausted_budget_gives_unknown_naming_the_unfinished_key() -> Result<(), CheckError> {
        let history: History = exponential_key("hard").into_iter().collect();
        let report = check_history(&history, Some(Duration::from_millis(50)))?;
        assert_eq!(report.verdict, Verdict::Unknown);
        assert_eq!(report.failing_key.as_deref(), Some("hard"));
        assert!(report.violation.is_none());
        assert!(report.search_steps > 0);
        Ok(())
    }

    #[test]
    fn quick_violation_on_one_key_is_found_while_another_key_is_still_searching()
    -> Result<(), CheckError> {
        let mut events = exponential_key("a");
        events.extend([
            Event::invoke(1, "b", Call::Put { value: "1".into() }),
            Event::ok(1, "b", Completion::Put),
            Event::invoke(2, "b", Call::Get),
            Event::ok(2, "b", Completion::Get { value: None }),
        ]);
        let history: History = events.into_iter().collect();
        // Searching key "a" to the end would not finish within the budget.
        let report = check_history(&history, Some(Duration::from_secs(30)))?;
        assert_eq!(report.verdict, Verdict::NotLinearizable, "{report}");
        assert_eq!(report.failing_key.as_deref(), Some("b"));
        Ok(())
    }

    #[test]
    fn violation_names_the_key_and_the_stuck_operation() -> Result<(), CheckError> {
        let history: History = [
            Event::invoke(1, "a", Call::Put { value: "1".into() }),
            Event::ok(1, "a", Completion::Put),
            Event::invoke(1, "b", Call::Put { value: "2".into() }),
            Event::ok(1, "b", Completion::Put),
            Event::invoke(2, "b", Call::Get),
            Event::ok(2, "b", Completion::Get { value: None }),
        ]
        .into_iter()
        .collect();
        let report = check_history(&history, None)?;
        assert_eq!(report.verdict, Verdict::NotLinearizable);
        assert_eq!(report.failing_key.as_deref(), Some("b"));
        let Some(violation) = &report.violation else {
            panic!("a violation report has details: {report:?}");
        };
        assert_eq!(violation.prefix.len(), 1);
        assert_eq!(violation.state_after_prefix, "\"2\"");
        assert_eq!(violation.stuck.op, "get(\"b\") -> absent");
        assert_eq!(
            (violation.stuck.invoke_line, violation.stuck.complete_line),
            (5, Some(6))
        );
        Ok(())
    }
}
