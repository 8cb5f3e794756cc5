//! Parser for Jepsen/Knossos single-register logs, the `jepsen.util` lines of a Jepsen run:
//!
//! ```text
//! INFO  jepsen.util - 2  :invoke  :cas  [3 0]
//! INFO  jepsen.util - 2  :fail  :cas  [3 0]
//! INFO  jepsen.util - 4  :ok  :read  3
//! INFO  jepsen.util - 0  :info  :write  :timed-out
//! ```
//!
//! After the `jepsen.util -` marker come the process, the type (`:invoke`, `:ok`, `:fail`,
//! `:info`), the function (`:read`, `:write`, `:cas`) and a value (`nil`, a value, or
//! `[expected new]` for a cas), separated by tabs (shown as spaces above) or spaces. Lines
//! without the marker are other log output and are skipped. Everything happens on one
//! register, the key [`JEPSEN_REGISTER_KEY`].
//!
//! A `:fail` operation did not take effect and is dropped, as Knossos does. For a `:cas` this
//! is also how Jepsen's etcd client reports a compare that did not match; reading it instead
//! as "happened, returned false" would add evidence, but every verdict in the etcd
//! conformance suite comes out the same either way, so we keep the one rule for all formats.

use std::io::BufRead;

use super::CheckError;
use super::history::{Call, Completion, Event, EventKind, History, OpName};
use super::lines::for_each_line;

/// The key the register's operations are recorded under.
pub const JEPSEN_REGISTER_KEY: &str = "register";

/// Reads the `jepsen.util` events of a Jepsen register log.
pub fn read_jepsen<R: BufRead>(reader: R) -> Result<History, CheckError> {
    let mut history = History::new();
    for_each_line(reader, |line, text| {
        if let Some(event) = parse_jepsen_line(text, line)? {
            history.push_at_line(event, line);
        }
        Ok(())
    })?;
    Ok(history)
}

/// Parses one line: `None` if it is not a `jepsen.util` event line.
pub fn parse_jepsen_line(text: &str, line: usize) -> Result<Option<Event>, CheckError> {
    let Some((_, event)) = text.split_once("jepsen.util -") else {
        return Ok(None);
    };
    let error = |reason: String| CheckError::Parse { line, reason };
    let mut fields = event.split_whitespace();
    let (Some(process), Some(kind), Some(function)) = (fields.next(), fields.next(), fields.next())
    else {
        return Err(error(format!(
            "expected `process :type :f value` after `jepsen.util -`, got {:?}",
            event.trim()
        )));
    };
    let value: Vec<&str> = fields.collect();
    let client: u64 = process
        .parse()
        .map_err(|_| error(format!("process {process:?} is not a number")))?;
    let op = match function {
        ":read" => OpName::Get,
        ":write" => OpName::Put,
        ":cas" => OpName::Cas,
        other => return Err(error(format!("unknown function {other:?}"))),
    };
    let kind = match (kind, op) {
        (":invoke", OpName::Get) => EventKind::Invoke(Call::Get),
        (":invoke", OpName::Put) => EventKind::Invoke(Call::Put {
            value: scalar(&value).map_err(error)?.to_string(),
        }),
        (":invoke", _) => {
            let (expected, new) = pair(&value).map_err(error)?;
            EventKind::Invoke(Call::Cas {
                expected: expected.to_string(),
                value: new.to_string(),
            })
        }
        (":ok", OpName::Get) => EventKind::Ok(Completion::Get {
            value: match scalar(&value).map_err(error)? {
                "nil" => None,
                read => Some(read.to_string()),
            },
        }),
        (":ok", OpName::Put) => EventKind::Ok(Completion::Put),
        (":ok", _) => EventKind::Ok(Completion::Cas { swapped: true }),
        (":fail", _) => EventKind::Fail(op),
        (":info", _) => EventKind::Info(op),
        (other, _) => return Err(error(format!("unknown type {other:?}"))),
    };
    Ok(Some(Event::new(client, JEPSEN_REGISTER_KEY, kind)))
}

/// A single-token value such as `3` or `nil`.
fn scalar<'a>(value: &[&'a str]) -> Result<&'a str, String> {
    match value {
        [token] if !token.starts_with('[') => Ok(token),
        _ => Err(format!("expected one value, got {:?}", value.join(" "))),
    }
}

/// A cas argument `[expected new]`.
fn pair<'a>(value: &[&'a str]) -> Result<(&'a str, &'a str), String> {
    let bad = || format!("expected [expected new], got {:?}", value.join(" "));
    match value {
        [first, second] => {
            let expected = first.strip_prefix('[').ok_or_else(bad)?;
            let new = second.strip_suffix(']').ok_or_else(bad)?;
            if expected.is_empty() || new.is_empty() {
                return Err(bad());
            }
            Ok((expected, new))
        }
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Option<Event>, CheckError> {
        parse_jepsen_line(text, 5)
    }

    fn kind(text: &str) -> Result<EventKind, Box<dyn std::error::Error>> {
        let event = parse(text)?.ok_or("not an event line")?;
        assert_eq!(event.key, JEPSEN_REGISTER_KEY);
        Ok(event.kind)
    }

    #[test]
    fn tab_and_space_separated_lines_parse_alike() -> Result<(), Box<dyn std::error::Error>> {
        let tabs = parse("INFO  jepsen.util - 2\t:invoke\t:cas\t[3 0]")?;
        let spaces = parse("INFO  jepsen.util - 2   :invoke :cas    [3 0]")?;
        assert_eq!(tabs, spaces);
        let expected = Call::Cas {
            expected: "3".into(),
            value: "0".into(),
        };
        assert_eq!(tabs, Some(Event::invoke(2, JEPSEN_REGISTER_KEY, expected)));
        Ok(())
    }

    #[test]
    fn every_type_and_function_maps_to_an_event() -> Result<(), Box<dyn std::error::Error>> {
        let line = |rest: &str| format!("INFO  jepsen.util - 7\t{rest}");
        let got = |value: Option<&str>| Completion::Get {
            value: value.map(str::to_string),
        };
        let cases = [
            (":invoke\t:read\tnil", EventKind::Invoke(Call::Get)),
            (
                ":invoke\t:write\t4",
                EventKind::Invoke(Call::Put { value: "4".into() }),
            ),
            (":ok\t:read\tnil", EventKind::Ok(got(None))),
            (":ok\t:read\t3", EventKind::Ok(got(Some("3")))),
            (":ok\t:write\t4", EventKind::Ok(Completion::Put)),
            (
                ":ok\t:cas\t[1 2]",
                EventKind::Ok(Completion::Cas { swapped: true }),
            ),
            (":fail\t:cas\t[1 2]", EventKind::Fail(OpName::Cas)),
            (":fail\t:read\t:timed-out", EventKind::Fail(OpName::Get)),
            (":info\t:write\t:timed-out", EventKind::Info(OpName::Put)),
            (":info\t:cas\t:timed-out", EventKind::Info(OpName::Cas)),
        ];
        for (rest, expected) in cases {
            assert_eq!(kind(&line(rest))?, expected, "{rest}");
        }
        Ok(())
    }

    #[test]
    fn other_log_lines_are_skipped() -> Result<(), CheckError> {
        assert_eq!(parse("INFO  jepsen.core - Running test")?, None);
        assert_eq!(parse("")?, None);
        Ok(())
    }

    #[test]
    fn malformed_event_lines_are_errors_with_their_line() {
        let bad = [
            "INFO  jepsen.util - x\t:invoke\t:read\tnil",
            "INFO  jepsen.util - 1\t:invoke",
            "INFO  jepsen.util - 1\t:maybe\t:read\tnil",
            "INFO  jepsen.util - 1\t:invoke\t:incr\t1",
            "INFO  jepsen.util - 1\t:invoke\t:cas\t[1]",
            "INFO  jepsen.util - 1\t:invoke\t:cas\t1 2",
            "INFO  jepsen.util - 1\t:invoke\t:write\t[1 2]",
            "INFO  jepsen.util - 1\t:ok\t:read",
        ];
        for text in bad {
            assert!(
                matches!(parse(text), Err(CheckError::Parse { line: 5, .. })),
                "{text}"
            );
        }
    }

    #[test]
    fn read_jepsen_keeps_source_line_numbers() -> Result<(), CheckError> {
        let log = "INFO  jepsen.core - start\n\
                   INFO  jepsen.util - 0\t:invoke\t:read\tnil\n\
                   INFO  jepsen.util - 0\t:ok\t:read\tnil\n";
        let history = read_jepsen(log.as_bytes())?;
        assert_eq!(history.len(), 2);
        assert_eq!((history.line(0), history.line(1)), (2, 3));
        Ok(())
    }
}
