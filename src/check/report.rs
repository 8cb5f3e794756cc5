//! What a check concludes: the [`Verdict`], counts, and for a violation enough context to find
//! it in the history file. `Display` is for people; `Serialize` is for `--json`.

use std::fmt;
use std::time::Duration;

use serde::{Serialize, Serializer};

use super::history::{Call, Completion, Outcome};
use super::partition::Operation;

/// How many operations of the linearizable prefix `Display` shows.
const PREFIX_TAIL_SHOWN: usize = 10;

/// The answer to "is this history linearizable?".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Some order of the operations, consistent with real time, explains every answer.
    Linearizable,
    /// No such order exists.
    NotLinearizable,
    /// The time budget ran out before the search finished.
    Unknown,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Linearizable => "linearizable",
            Verdict::NotLinearizable => "NOT linearizable",
            Verdict::Unknown => "unknown (time budget exhausted)",
        })
    }
}

/// One operation as a report shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ReportedOp {
    /// The client that ran it.
    pub client: u64,
    /// The operation with its arguments and answer, e.g. `get("k1") -> "v7"`.
    pub op: String,
    /// Source line of the invocation.
    pub invoke_line: usize,
    /// Source line of the completion (`None`: never completed).
    pub complete_line: Option<usize>,
}

impl ReportedOp {
    /// Describes `op` on `key`, with source lines from `line_of(event position)`.
    pub(crate) fn new(key: &str, op: &Operation, line_of: impl Fn(usize) -> usize) -> ReportedOp {
        ReportedOp {
            client: op.client,
            op: describe(key, &op.call, &op.outcome),
            invoke_line: line_of(op.invoked),
            complete_line: op.completed.map(line_of),
        }
    }
}

impl fmt::Display for ReportedOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lines = match self.complete_line {
            Some(end) => format!("lines {}-{end}", self.invoke_line),
            None => format!("line {}-", self.invoke_line),
        };
        write!(f, "{lines:<16} client {:<4} {}", self.client, self.op)
    }
}

/// `put("k", "v")`, `get("k") -> absent`, `cas("k", "a" -> "b") -> not swapped`, ...
fn describe(key: &str, call: &Call, outcome: &Outcome) -> String {
    let invocation = match call {
        Call::Get => format!("get({key:?})"),
        Call::Put { value } => format!("put({key:?}, {value:?})"),
        Call::Del => format!("del({key:?})"),
        Call::Cas { expected, value } => format!("cas({key:?}, {expected:?} -> {value:?})"),
        Call::Append { value } => format!("append({key:?}, {value:?})"),
    };
    let answer = match outcome {
        Outcome::Unknown => " -> ? (outcome unknown)".to_string(),
        Outcome::Returned(Completion::Get { value: Some(value) }) => format!(" -> {value:?}"),
        Outcome::Returned(Completion::Get { value: None }) => " -> absent".to_string(),
        Outcome::Returned(Completion::Cas { swapped: true }) => " -> swapped".to_string(),
        Outcome::Returned(Completion::Cas { swapped: false }) => " -> not swapped".to_string(),
        Outcome::Returned(_) => String::new(),
    };
    invocation + &answer
}

/// Where and how linearization failed, for one key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// The key whose operations have no valid order.
    pub key: String,
    /// How many operations on that key were searched.
    pub key_ops: usize,
    /// The longest linearizable prefix the search found, in linearization order.
    pub prefix: Vec<ReportedOp>,
    /// The model state after `prefix`.
    pub state_after_prefix: String,
    /// The operation whose answer the search reached without being able to linearize it (or
    /// any other candidate) after `prefix`.
    pub stuck: ReportedOp,
}

/// The result of checking one history. `Display` gives a summary line, plus for a violation
/// the tail of the longest linearizable prefix and the operation that could not follow it;
/// the text always ends with a newline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CheckReport {
    /// The answer.
    pub verdict: Verdict,
    /// The sequential model the history was checked against.
    pub model: &'static str,
    /// Events in the history.
    pub events: usize,
    /// Operations that took or may have taken effect (`fail`ed ones excluded).
    pub ops: usize,
    /// Operations that failed and were dropped.
    pub failed_ops: usize,
    /// Operations with an unknown outcome.
    pub unknown_ops: usize,
    /// Keys with operations to check.
    pub partitions: usize,
    /// The key that is not linearizable or, for [`Verdict::Unknown`], the first key (in key
    /// order) whose search had not finished when the budget ran out.
    pub failing_key: Option<String>,
    /// Search steps taken over all keys (a machine-independent measure of the work).
    pub search_steps: u64,
    /// Wall time of the check, parsing excluded.
    #[serde(rename = "elapsed_ms", serialize_with = "as_millis")]
    pub elapsed: Duration,
    /// Details for [`Verdict::NotLinearizable`].
    pub violation: Option<Violation>,
}

/// `1 key`, `2 keys`.
fn counted(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

fn as_millis<S: Serializer>(elapsed: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_f64(elapsed.as_secs_f64() * 1000.0)
}

impl fmt::Display for CheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.verdict)?;
        if let Some(key) = &self.failing_key {
            write!(f, " at key {key:?}")?;
        }
        writeln!(
            f,
            ": {} ({} failed and dropped, {} with unknown outcome) on {}, {} model, \
             {} search steps in {:.1?}",
            counted(self.ops, "operation"),
            self.failed_ops,
            self.unknown_ops,
            counted(self.partitions, "key"),
            self.model,
            self.search_steps,
            self.elapsed,
        )?;
        let Some(violation) = &self.violation else {
            return Ok(());
        };
        writeln!(
            f,
            "  longest linearizable prefix: {} of the {} operations on {:?}",
            violation.prefix.len(),
            violation.key_ops,
            violation.key,
        )?;
        let hidden = violation.prefix.len().saturating_sub(PREFIX_TAIL_SHOWN);
        if hidden > 0 {
            writeln!(f, "    ... {hidden} earlier")?;
        }
        for op in &violation.prefix[hidden..] {
            writeln!(f, "    {op}")?;
        }
        writeln!(f, "  state after it: {}", violation.state_after_prefix)?;
        writeln!(f, "  could not be linearized next:")?;
        writeln!(f, "    {}", violation.stuck)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(call: Call, outcome: Outcome) -> Operation {
        Operation {
            client: 3,
            call,
            outcome,
            invoked: 9,
            completed: Some(11),
        }
    }

    #[test]
    fn operations_are_described_with_arguments_and_answers() {
        let get = |value: Option<&str>| {
            Outcome::Returned(Completion::Get {
                value: value.map(str::to_string),
            })
        };
        let cas = Call::Cas {
            expected: "a".into(),
            value: "b".into(),
        };
        let swapped = |swapped| Outcome::Returned(Completion::Cas { swapped });
        let put = Call::Put { value: "v".into() };
        let cases = [
            (Call::Get, get(Some("v")), r#"get("k") -> "v""#),
            (Call::Get, get(None), r#"get("k") -> absent"#),
            (
                cas.clone(),
                swapped(false),
                r#"cas("k", "a" -> "b") -> not swapped"#,
            ),
            (cas, swapped(true), r#"cas("k", "a" -> "b") -> swapped"#),
            (
                put.clone(),
                Outcome::Returned(Completion::Put),
                r#"put("k", "v")"#,
            ),
            (
                put,
                Outcome::Unknown,
                r#"put("k", "v") -> ? (outcome unknown)"#,
            ),
            (Call::Del, Outcome::Returned(Completion::Del), r#"del("k")"#),
        ];
        for (call, outcome, expected) in cases {
            assert_eq!(describe("k", &call, &outcome), expected);
        }
    }

    #[test]
    fn reported_op_names_its_source_lines() {
        let reported = ReportedOp::new("k", &op(Call::Del, Outcome::Unknown), |i| i * 10);
        assert_eq!(
            (reported.invoke_line, reported.complete_line),
            (90, Some(110))
        );
        let text = reported.to_string();
        assert!(text.starts_with("lines 90-110"), "{text}");
        assert!(text.contains("client 3"), "{text}");
    }

    #[test]
    fn violation_display_shows_key_prefix_tail_and_stuck_op() -> Result<(), serde_json::Error> {
        let reported = |n: usize| ReportedOp {
            client: n as u64,
            op: format!("put(\"k\", \"{n}\")"),
            invoke_line: n,
            complete_line: Some(n + 1),
        };
        let report = CheckReport {
            verdict: Verdict::NotLinearizable,
            model: "register-map",
            events: 50,
            ops: 25,
            failed_ops: 0,
            unknown_ops: 0,
            partitions: 1,
            failing_key: Some("k".into()),
            search_steps: 99,
            elapsed: Duration::from_millis(3),
            violation: Some(Violation {
                key: "k".into(),
                key_ops: 25,
                prefix: (0..12).map(reported).collect(),
                state_after_prefix: "\"11\"".into(),
                stuck: reported(40),
            }),
        };
        let text = report.to_string();
        assert!(
            text.starts_with("NOT linearizable at key \"k\": 25 operations ("),
            "{text}"
        );
        assert!(text.contains(" on 1 key, register-map model"), "{text}");
        assert!(text.contains("12 of the 25 operations"), "{text}");
        assert!(text.contains("... 2 earlier"), "{text}");
        assert!(!text.contains("client 1 "), "{text}");
        assert!(text.contains("client 11"), "{text}");
        assert!(
            text.contains("could not be linearized next:\n    lines 40-41"),
            "{text}"
        );
        let json = serde_json::to_value(&report)?;
        assert_eq!(json["verdict"], "not_linearizable");
        assert_eq!(json["failing_key"], "k");
        assert_eq!(json["elapsed_ms"], 3.0);
        assert_eq!(json["violation"]["stuck"]["invoke_line"], 40);
        Ok(())
    }
}
