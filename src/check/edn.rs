//! Parser for key-value histories written as one EDN map per line, the format of the
//! conformance `kv` files (Jepsen operation maps):
//!
//! ```text
//! {:process 0, :type :invoke, :f :append, :key "0", :value "x 0 0 y"}
//! {:process 0, :type :ok, :f :get, :key "4", :value "x 0 1 y"}
//! ```
//!
//! `:process` is the client, `:type` one of `:invoke`, `:ok`, `:fail`, `:info`, and `:f` one of
//! `:get`, `:put`, `:append`. `:value` is the argument on a `put`/`append` invocation and the
//! value read on a `get` completion (`nil` on invocations and where it means nothing). Only the
//! EDN this needs is understood: a flat map of keywords to strings, integers, keywords, `nil`
//! and booleans; commas are whitespace, as in EDN. Blank lines are skipped.

use std::io::BufRead;

use super::CheckError;
use super::history::{Call, Completion, Event, EventKind, History, OpName};
use super::lines::for_each_line;

/// A scalar EDN value.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Scalar {
    Nil,
    Bool(bool),
    Int(i64),
    Str(String),
    Keyword(String),
}

impl Scalar {
    fn describe(&self) -> String {
        match self {
            Scalar::Nil => "nil".into(),
            Scalar::Bool(b) => b.to_string(),
            Scalar::Int(n) => n.to_string(),
            Scalar::Str(s) => format!("{s:?}"),
            Scalar::Keyword(k) => format!(":{k}"),
        }
    }
}

/// Reads an EDN-lines key-value history.
pub fn read_edn<R: BufRead>(reader: R) -> Result<History, CheckError> {
    let mut history = History::new();
    for_each_line(reader, |line, text| {
        if !text.trim().is_empty() {
            history.push_at_line(parse_edn_event(text, line)?, line);
        }
        Ok(())
    })?;
    Ok(history)
}

/// Parses one EDN operation map into an event; `line` is only used in the error.
pub fn parse_edn_event(text: &str, line: usize) -> Result<Event, CheckError> {
    let error = |reason: String| CheckError::Parse { line, reason };
    let map = parse_map(text).map_err(error)?;
    let field = |name: &str| {
        map.iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value)
            .ok_or_else(|| error(format!("missing :{name}")))
    };
    let client = match field("process")? {
        Scalar::Int(n) if *n >= 0 => *n as u64,
        other => {
            return Err(error(format!(
                ":process {} is not a client",
                other.describe()
            )));
        }
    };
    let key = match field("key")? {
        Scalar::Str(s) => s.clone(),
        Scalar::Int(n) => n.to_string(),
        other => return Err(error(format!(":key {} is not a key", other.describe()))),
    };
    let op = match field("f")? {
        Scalar::Keyword(f) if f == "get" => OpName::Get,
        Scalar::Keyword(f) if f == "put" => OpName::Put,
        Scalar::Keyword(f) if f == "append" => OpName::Append,
        other => return Err(error(format!("unknown :f {}", other.describe()))),
    };
    let value = map
        .iter()
        .find(|(key, _)| key == "value")
        .map_or(&Scalar::Nil, |(_, value)| value);
    let string = |what: &str| match value {
        Scalar::Str(s) => Ok(s.clone()),
        other => Err(error(format!(
            "{what} needs a string :value, got {}",
            other.describe()
        ))),
    };
    let kind = match field("type")? {
        Scalar::Keyword(t) if t == "invoke" => EventKind::Invoke(match op {
            OpName::Put => Call::Put {
                value: string("put")?,
            },
            OpName::Append => Call::Append {
                value: string("append")?,
            },
            _ => Call::Get,
        }),
        Scalar::Keyword(t) if t == "ok" => EventKind::Ok(match op {
            OpName::Put => Completion::Put,
            OpName::Append => Completion::Append,
            _ => Completion::Get {
                value: match value {
                    Scalar::Nil => None,
                    _ => Some(string("get ok")?),
                },
            },
        }),
        Scalar::Keyword(t) if t == "fail" => EventKind::Fail(op),
        Scalar::Keyword(t) if t == "info" => EventKind::Info(op),
        other => return Err(error(format!("unknown :type {}", other.describe()))),
    };
    Ok(Event::new(client, key, kind))
}

/// Parses `{:k v, ...}` into its entries, keys without the colon.
fn parse_map(text: &str) -> Result<Vec<(String, Scalar)>, String> {
    let mut cursor = Cursor {
        chars: text.char_indices().peekable(),
        text,
    };
    cursor.skip_space();
    if cursor.next_char() != Some('{') {
        return Err("expected an EDN map starting with `{`".into());
    }
    let mut entries = Vec::new();
    loop {
        cursor.skip_space();
        if cursor.peek_char() == Some('}') {
            cursor.next_char();
            break;
        }
        let key = match cursor.scalar()? {
            Scalar::Keyword(k) => k,
            other => return Err(format!("map key {} is not a keyword", other.describe())),
        };
        cursor.skip_space();
        let value = cursor.scalar()?;
        if entries.iter().any(|(k, _)| *k == key) {
            return Err(format!("duplicate key :{key}"));
        }
        entries.push((key, value));
    }
    cursor.skip_space();
    match cursor.next_char() {
        None => Ok(entries),
        Some(c) => Err(format!("unexpected {c:?} after the map")),
    }
}

struct Cursor<'a> {
    chars: std::iter::Peekable<std::str::CharIndices<'a>>,
    text: &'a str,
}

impl<'a> Cursor<'a> {
    fn peek_char(&mut self) -> Option<char> {
        self.chars.peek().map(|&(_, c)| c)
    }

    fn next_char(&mut self) -> Option<char> {
        self.chars.next().map(|(_, c)| c)
    }

    fn skip_space(&mut self) {
        while self
            .peek_char()
            .is_some_and(|c| c.is_whitespace() || c == ',')
        {
            self.next_char();
        }
    }

    fn scalar(&mut self) -> Result<Scalar, String> {
        match self.peek_char() {
            None => Err("unexpected end of line inside the map".into()),
            Some('"') => {
                self.next_char();
                self.string().map(Scalar::Str)
            }
            Some(':') => {
                self.next_char();
                let name = self.token();
                if name.is_empty() {
                    return Err("empty keyword".into());
                }
                Ok(Scalar::Keyword(name.to_string()))
            }
            Some(_) => match self.token() {
                "" => Err(format!("unexpected {:?}", self.peek_char().unwrap_or(' '))),
                "nil" => Ok(Scalar::Nil),
                "true" => Ok(Scalar::Bool(true)),
                "false" => Ok(Scalar::Bool(false)),
                token => token
                    .parse()
                    .map(Scalar::Int)
                    .map_err(|_| format!("unsupported EDN value {token:?}")),
            },
        }
    }

    /// A run of characters up to whitespace, a comma or a delimiter.
    fn token(&mut self) -> &'a str {
        let start = self.chars.peek().map_or(self.text.len(), |&(i, _)| i);
        let mut end = start;
        while let Some(&(i, c)) = self.chars.peek() {
            if c.is_whitespace() || matches!(c, ',' | '{' | '}' | '[' | ']' | '"') {
                break;
            }
            end = i + c.len_utf8();
            self.chars.next();
        }
        &self.text[start..end]
    }

    /// The rest of a string literal whose opening quote was consumed.
    fn string(&mut self) -> Result<String, String> {
        let mut out = String::new();
        loop {
            match self.next_char() {
                None => return Err("unterminated string".into()),
                Some('"') => return Ok(out),
                Some('\\') => out.push(match self.next_char() {
                    Some('n') => '\n',
                    Some('t') => '\t',
                    Some('r') => '\r',
                    Some('"') => '"',
                    Some('\\') => '\\',
                    Some('u') => {
                        let hex: String = (0..4).filter_map(|_| self.next_char()).collect();
                        u32::from_str_radix(&hex, 16)
                            .ok()
                            .and_then(char::from_u32)
                            .ok_or_else(|| format!("bad escape \\u{hex}"))?
                    }
                    other => return Err(format!("bad escape {other:?}")),
                }),
                Some(c) => out.push(c),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Event, CheckError> {
        parse_edn_event(text, 3)
    }

    #[test]
    fn conformance_lines_parse_into_events() -> Result<(), CheckError> {
        let append =
            parse(r#"{:process 0, :type :invoke, :f :append, :key "0", :value "x 0 0 y"}"#)?;
        let value = "x 0 0 y".to_string();
        assert_eq!(append, Event::invoke(0, "0", Call::Append { value }));
        let get = parse(r#"{:process 12, :type :ok, :f :get, :key "7", :value ""}"#)?;
        let read = Completion::Get {
            value: Some(String::new()),
        };
        assert_eq!(get, Event::ok(12, "7", read));
        let invoke_get = parse(r#"{:process 1, :type :invoke, :f :get, :key "7", :value nil}"#)?;
        assert_eq!(invoke_get.kind, EventKind::Invoke(Call::Get));
        let put_ok = parse(r#"{:process 1, :type :ok, :f :put, :key "k", :value "v"}"#)?;
        assert_eq!(put_ok.kind, EventKind::Ok(Completion::Put));
        Ok(())
    }

    #[test]
    fn fail_and_info_types_and_escapes_are_understood() -> Result<(), CheckError> {
        let info = parse(r#"{:type :info :f :put :process 2 :key "a\"b" :value "\u00e9\n"}"#)?;
        assert_eq!(info, Event::info(2, "a\"b", OpName::Put));
        let fail = parse(r#"{:process 2, :type :fail, :f :append, :key 5}"#)?;
        assert_eq!(fail, Event::fail(2, "5", OpName::Append));
        let put = parse(r#"{:process 2, :type :invoke, :f :put, :key "k", :value "\u00e9\n"}"#)?;
        let value = "é\n".to_string();
        assert_eq!(put.kind, EventKind::Invoke(Call::Put { value }));
        Ok(())
    }

    #[test]
    fn malformed_maps_are_errors_with_their_line() {
        let bad = [
            "",
            "[1 2]",
            "{:process 0, :type :invoke, :f :get, :key \"k\"",
            "{:process 0, :type :invoke, :f :get, :key \"k}",
            "{:process 0, :type :invoke, :f :get, :key \"k\"} trailing",
            "{:process -1, :type :invoke, :f :get, :key \"k\"}",
            "{:process 0, :type :invoke, :f :cas, :key \"k\"}",
            "{:process 0, :type :maybe, :f :get, :key \"k\"}",
            "{:process 0, :type :invoke, :f :put, :key \"k\"}",
            "{:process 0, :type :invoke, :f :put, :key \"k\", :value 3}",
            "{:process 0, :process 1, :type :invoke, :f :get, :key \"k\"}",
            "{:type :invoke, :f :get, :key \"k\"}",
            "{\"process\" 0}",
            "{:process 0 :type :invoke :f :get :key \"k\" :value \"\\q\"}",
            "{:process 0 :type :invoke :f :get :key \"k\" :value 1.5}",
            "{:process 0 :type :invoke :f :get :key \"k\" :value [1]}",
        ];
        for text in bad {
            let result = parse(text);
            assert!(
                matches!(result, Err(CheckError::Parse { line: 3, .. })),
                "{text}: {result:?}"
            );
        }
    }

    #[test]
    fn read_edn_skips_blank_lines() -> Result<(), CheckError> {
        let text = "\n{:process 0, :type :invoke, :f :get, :key \"k\", :value nil}\n\n";
        let history = read_edn(text.as_bytes())?;
        assert_eq!(history.len(), 1);
        assert_eq!(history.line(0), 2);
        Ok(())
    }
}
