//! wirelab's own history format: JSON lines, read by [`read_jsonl`] and written by
//! [`HistoryWriter`]. The format itself is specified in the [module overview](super).

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, Write};
use std::path::Path;
use std::time::Instant;

use serde::{Deserialize, Deserializer, Serialize};

use super::CheckError;
use super::history::{Call, Completion, Event, EventKind, History, OpName};
use super::lines::for_each_line;

/// Whether an event starts or ends an operation, and how it ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum WireKind {
    Invoke,
    Ok,
    Fail,
    Info,
}

/// One line exactly as it is on disk; [`WireEvent::into_event`] checks which fields the
/// combination of `kind` and `op` requires.
#[derive(Debug, Serialize, Deserialize)]
struct WireEvent {
    client: u64,
    kind: WireKind,
    op: OpName,
    key: String,
    /// Absent, `null` or a string: the difference matters for a `get` completion.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    value: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expected: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    swapped: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    t_ns: Option<u64>,
}

/// Maps a present field (even `null`) to `Some`, so that a missing field stays `None`.
fn present<'de, D: Deserializer<'de>>(de: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(de).map(Some)
}

impl WireEvent {
    fn into_event(self) -> Result<Event, String> {
        let op = self.op;
        let string_value = |field: Option<Option<String>>| match field {
            Some(Some(value)) => Ok(value),
            Some(None) => Err(format!("`{op}` invoke needs a string \"value\", not null")),
            None => Err(format!("`{op}` invoke needs a \"value\"")),
        };
        let kind = match self.kind {
            WireKind::Invoke => EventKind::Invoke(match op {
                OpName::Get => Call::Get,
                OpName::Del => Call::Del,
                OpName::Put => Call::Put {
                    value: string_value(self.value)?,
                },
                OpName::Append => Call::Append {
                    value: string_value(self.value)?,
                },
                OpName::Cas => Call::Cas {
                    expected: self
                        .expected
                        .ok_or("`cas` invoke needs an \"expected\" string")?,
                    value: string_value(self.value)?,
                },
            }),
            WireKind::Ok => EventKind::Ok(match op {
                OpName::Get => Completion::Get {
                    value: self
                        .value
                        .ok_or("`get` ok needs a \"value\" (a string, or null when absent)")?,
                },
                OpName::Put => Completion::Put,
                OpName::Del => Completion::Del,
                OpName::Append => Completion::Append,
                OpName::Cas => Completion::Cas {
                    swapped: self.swapped.unwrap_or(true),
                },
            }),
            WireKind::Fail => EventKind::Fail(op),
            WireKind::Info => EventKind::Info(op),
        };
        Ok(Event {
            client: self.client,
            key: self.key,
            kind,
            t_ns: self.t_ns,
        })
    }

    fn from_event(event: &Event) -> WireEvent {
        let mut wire = WireEvent {
            client: event.client,
            kind: WireKind::Invoke,
            op: event.op(),
            key: event.key.clone(),
            value: None,
            expected: None,
            swapped: None,
            t_ns: event.t_ns,
        };
        match &event.kind {
            EventKind::Invoke(call) => match call {
                Call::Get | Call::Del => {}
                Call::Put { value } | Call::Append { value } => {
                    wire.value = Some(Some(value.clone()))
                }
                Call::Cas { expected, value } => {
                    wire.expected = Some(expected.clone());
                    wire.value = Some(Some(value.clone()));
                }
            },
            EventKind::Ok(completion) => {
                wire.kind = WireKind::Ok;
                match completion {
                    Completion::Get { value } => wire.value = Some(value.clone()),
                    Completion::Cas { swapped } => wire.swapped = Some(*swapped),
                    Completion::Put | Completion::Del | Completion::Append => {}
                }
            }
            EventKind::Fail(_) => wire.kind = WireKind::Fail,
            EventKind::Info(_) => wire.kind = WireKind::Info,
        }
        wire
    }
}

/// Parses one JSON-lines event; `line` is only used in the error.
pub fn parse_jsonl_event(text: &str, line: usize) -> Result<Event, CheckError> {
    let wire: WireEvent = serde_json::from_str(text).map_err(|err| CheckError::Parse {
        line,
        reason: format!("bad event: {err}"),
    })?;
    wire.into_event()
        .map_err(|reason| CheckError::Parse { line, reason })
}

/// Reads a JSON-lines history; blank lines are skipped.
pub fn read_jsonl<R: BufRead>(reader: R) -> Result<History, CheckError> {
    let mut history = History::new();
    for_each_line(reader, |line, text| {
        if !text.trim().is_empty() {
            history.push_at_line(parse_jsonl_event(text, line)?, line);
        }
        Ok(())
    })?;
    Ok(history)
}

/// Writes events as JSON lines, one `write` call per event so that concurrent appenders to the
/// same file never interleave within a line and a crash loses at most the event being written.
///
/// Share one writer between clients behind a `Mutex`: the order of `append` calls is the
/// real-time order the checker assumes.
#[derive(Debug)]
pub struct HistoryWriter<W: Write> {
    out: W,
    started: Instant,
    line: Vec<u8>,
}

impl HistoryWriter<File> {
    /// Opens `path` for appending (creating it if needed).
    pub fn create(path: &Path) -> io::Result<HistoryWriter<File>> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(HistoryWriter::new(file))
    }
}

impl<W: Write> HistoryWriter<W> {
    /// A writer onto `out`; [`HistoryWriter::record`] measures `t_ns` from now.
    pub fn new(out: W) -> HistoryWriter<W> {
        HistoryWriter {
            out,
            started: Instant::now(),
            line: Vec::with_capacity(128),
        }
    }

    /// Writes `event` as is (keeping its `t_ns`, if any).
    pub fn append(&mut self, event: &Event) -> io::Result<()> {
        self.line.clear();
        serde_json::to_writer(&mut self.line, &WireEvent::from_event(event))?;
        self.line.push(b'\n');
        self.out.write_all(&self.line)?;
        self.out.flush()
    }

    /// Writes `event` stamped with the nanoseconds since this writer was created.
    pub fn record(&mut self, event: Event) -> io::Result<()> {
        let t_ns = u64::try_from(self.started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.append(&event.at(t_ns))
    }

    /// Gives back the underlying writer.
    pub fn into_inner(self) -> W {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Event, CheckError> {
        parse_jsonl_event(text, 7)
    }

    fn parse_error(text: &str) -> String {
        match parse(text) {
            Err(CheckError::Parse { line: 7, reason }) => reason,
            other => panic!("expected a parse error on line 7, got {other:?}"),
        }
    }

    #[test]
    fn documented_examples_parse() -> Result<(), CheckError> {
        let put = parse(
            r#"{"client":3,"kind":"invoke","op":"put","key":"k1","value":"v7","t_ns":1234}"#,
        )?;
        let expected = Event::invoke(3, "k1", Call::Put { value: "v7".into() }).at(1234);
        assert_eq!(put, expected);
        let done = parse(r#"{"client":3,"kind":"ok","op":"put","key":"k1","t_ns":1300}"#)?;
        assert_eq!(done, Event::ok(3, "k1", Completion::Put).at(1300));
        Ok(())
    }

    #[test]
    fn get_ok_distinguishes_null_from_string_and_requires_the_field() -> Result<(), CheckError> {
        let absent = parse(r#"{"client":1,"kind":"ok","op":"get","key":"k","value":null}"#)?;
        assert_eq!(absent.kind, EventKind::Ok(Completion::Get { value: None }));
        let read = parse(r#"{"client":1,"kind":"ok","op":"get","key":"k","value":"x"}"#)?;
        let expected = Completion::Get {
            value: Some("x".into()),
        };
        assert_eq!(read.kind, EventKind::Ok(expected));
        let reason = parse_error(r#"{"client":1,"kind":"ok","op":"get","key":"k"}"#);
        assert!(reason.contains("value"), "{reason}");
        Ok(())
    }

    #[test]
    fn cas_ok_without_swapped_means_it_swapped() -> Result<(), CheckError> {
        let ok = parse(r#"{"client":1,"kind":"ok","op":"cas","key":"k"}"#)?;
        assert_eq!(ok.kind, EventKind::Ok(Completion::Cas { swapped: true }));
        let no = parse(r#"{"client":1,"kind":"ok","op":"cas","key":"k","swapped":false}"#)?;
        assert_eq!(no.kind, EventKind::Ok(Completion::Cas { swapped: false }));
        Ok(())
    }

    #[test]
    fn malformed_events_are_errors_with_a_reason() {
        let cases = [
            (
                r#"{"client":1,"kind":"invoke","op":"cas","key":"k","value":"v"}"#,
                "expected",
            ),
            (
                r#"{"client":1,"kind":"invoke","op":"put","key":"k"}"#,
                "value",
            ),
            (
                r#"{"client":1,"kind":"invoke","op":"put","key":"k","value":null}"#,
                "null",
            ),
            (
                r#"{"client":1,"kind":"invoke","op":"incr","key":"k"}"#,
                "incr",
            ),
            (
                r#"{"client":1,"kind":"maybe","op":"get","key":"k"}"#,
                "maybe",
            ),
            (
                r#"{"client":-1,"kind":"invoke","op":"get","key":"k"}"#,
                "-1",
            ),
            (r#"{"kind":"invoke","op":"get","key":"k"}"#, "client"),
            (r#"{"client":1,"kind":"invoke","op":"get"}"#, "key"),
            ("not json", "bad event"),
            ("[1,2]", "bad event"),
        ];
        for (text, needle) in cases {
            let reason = parse_error(text);
            assert!(reason.contains(needle), "{text}: {reason}");
        }
    }

    #[test]
    fn read_jsonl_skips_blank_lines_and_reports_the_bad_line() {
        let input = "\n{\"client\":1,\"kind\":\"invoke\",\"op\":\"get\",\"key\":\"k\"}\n\n{oops}\n";
        match read_jsonl(input.as_bytes()) {
            Err(CheckError::Parse { line, .. }) => assert_eq!(line, 4),
            other => panic!("expected a parse error, got {other:?}"),
        }
    }

    #[test]
    fn writer_output_reads_back_as_the_same_history() -> Result<(), Box<dyn std::error::Error>> {
        let events = vec![
            Event::invoke(1, "a", Call::Get),
            Event::ok(1, "a", Completion::Get { value: None }),
            Event::invoke(2, "a\"b\n", Call::Put { value: "é".into() }).at(5),
            Event::invoke(
                3,
                "a",
                Call::Cas {
                    expected: "x".into(),
                    value: "y".into(),
                },
            ),
            Event::ok(3, "a", Completion::Cas { swapped: false }),
            Event::fail(2, "a\"b\n", OpName::Put),
            Event::invoke(4, "c", Call::Del),
            Event::info(4, "c", OpName::Del),
            Event::invoke(5, "c", Call::Append { value: "z".into() }),
            Event::ok(5, "c", Completion::Append),
        ];
        let mut writer = HistoryWriter::new(Vec::new());
        for event in &events {
            writer.append(event)?;
        }
        let bytes = writer.into_inner();
        let text = String::from_utf8(bytes.clone())?;
        assert_eq!(text.lines().count(), events.len());
        let expected: History = events.into_iter().collect();
        assert_eq!(read_jsonl(bytes.as_slice())?, expected);
        Ok(())
    }

    #[test]
    fn record_stamps_increasing_times() -> Result<(), Box<dyn std::error::Error>> {
        let mut writer = HistoryWriter::new(Vec::new());
        writer.record(Event::invoke(1, "k", Call::Get))?;
        writer.record(Event::ok(1, "k", Completion::Get { value: None }))?;
        let history = read_jsonl(writer.into_inner().as_slice())?;
        let times: Vec<_> = history.events().iter().map(|e| e.t_ns).collect();
        assert!(
            matches!(times[..], [Some(a), Some(b)] if a <= b),
            "{times:?}"
        );
        Ok(())
    }
}
