//! Bencode (BEP 3): a strict decoder with depth and size bounds, and an encoder.
//!
//! Strict means one canonical spelling per value: integers without leading zeros or `-0`,
//! dictionary keys sorted and unique, no bytes after the top value. Every length is checked
//! against the input left *before* anything is allocated, and nesting deeper than
//! [`MAX_DEPTH`] is an error, so hostile input costs at most its own size.

use std::collections::BTreeMap;

/// Deepest nesting of lists and dictionaries accepted.
pub const MAX_DEPTH: usize = 64;

/// A bencoded value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// `i42e`.
    Int(i64),
    /// `4:spam`.
    Bytes(Vec<u8>),
    /// `l…e`.
    List(Vec<Value>),
    /// `d…e`, keys in byte order.
    Dict(BTreeMap<Vec<u8>, Value>),
}

/// Why input is not valid bencode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BencodeError {
    /// Input ended inside a value.
    #[error("bencode truncated at byte {0}")]
    Truncated(usize),
    /// A byte that cannot start or continue a value here.
    #[error("unexpected byte {byte:#04x} at {at}")]
    Unexpected {
        /// The byte.
        byte: u8,
        /// Its offset.
        at: usize,
    },
    /// A malformed or non-canonical integer or length.
    #[error("bad number at byte {0}")]
    BadNumber(usize),
    /// A string longer than the input left.
    #[error("string of {len} bytes at {at} runs past the input")]
    TooLong {
        /// Announced length.
        len: u64,
        /// Offset of the length.
        at: usize,
    },
    /// Nesting deeper than [`MAX_DEPTH`].
    #[error("nesting deeper than {MAX_DEPTH}")]
    TooDeep,
    /// Dictionary keys out of order or repeated.
    #[error("dictionary keys unsorted or duplicated at byte {0}")]
    KeyOrder(usize),
    /// Bytes after the top-level value.
    #[error("{0} trailing bytes after the value")]
    Trailing(usize),
    /// Input larger than the caller's limit.
    #[error("input of {len} bytes exceeds the {max}-byte limit")]
    InputTooLarge {
        /// Input length.
        len: usize,
        /// Limit.
        max: usize,
    },
}

impl Value {
    /// A byte-string value from text.
    pub fn str(s: &str) -> Value {
        Value::Bytes(s.as_bytes().to_vec())
    }

    /// The value under `key` when this is a dictionary.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Dict(d) => d.get(key.as_bytes()),
            _ => None,
        }
    }

    /// The integer, if this is one.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// The bytes, if this is a string.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Bytes(b) => Some(b),
            _ => None,
        }
    }

    /// The text, if this is a UTF-8 string.
    pub fn as_str(&self) -> Option<&str> {
        self.as_bytes().and_then(|b| std::str::from_utf8(b).ok())
    }

    /// The items, if this is a list.
    pub fn as_list(&self) -> Option<&[Value]> {
        match self {
            Value::List(l) => Some(l),
            _ => None,
        }
    }

    /// Appends the canonical encoding to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        match self {
            Value::Int(i) => out.extend_from_slice(format!("i{i}e").as_bytes()),
            Value::Bytes(b) => {
                out.extend_from_slice(format!("{}:", b.len()).as_bytes());
                out.extend_from_slice(b);
            }
            Value::List(l) => {
                out.push(b'l');
                l.iter().for_each(|v| v.encode_into(out));
                out.push(b'e');
            }
            Value::Dict(d) => {
                out.push(b'd');
                for (k, v) in d {
                    out.extend_from_slice(format!("{}:", k.len()).as_bytes());
                    out.extend_from_slice(k);
                    v.encode_into(out);
                }
                out.push(b'e');
            }
        }
    }

    /// The canonical encoding.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }
}

/// Builds a dictionary from `(key, value)` pairs.
pub fn dict<const N: usize>(pairs: [(&str, Value); N]) -> Value {
    Value::Dict(
        pairs
            .into_iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), v))
            .collect(),
    )
}

/// Decodes exactly one value spanning all of `input`, which may be at most `max_len` bytes.
pub fn decode(input: &[u8], max_len: usize) -> Result<Value, BencodeError> {
    if input.len() > max_len {
        return Err(BencodeError::InputTooLarge {
            len: input.len(),
            max: max_len,
        });
    }
    let mut p = Parser { input, pos: 0 };
    let v = p.value(0)?;
    if p.pos != input.len() {
        return Err(BencodeError::Trailing(input.len() - p.pos));
    }
    Ok(v)
}

/// Decodes one value at the start of `input` and returns it with the byte span it occupies
/// (for the info dictionary, whose exact bytes are hashed).
pub fn decode_prefix(input: &[u8]) -> Result<(Value, usize), BencodeError> {
    let mut p = Parser { input, pos: 0 };
    let v = p.value(0)?;
    Ok((v, p.pos))
}

/// The exact bytes of the value under `key` in the top-level dictionary `input`.
pub fn raw_value<'a>(input: &'a [u8], key: &[u8]) -> Result<Option<&'a [u8]>, BencodeError> {
    let mut p = Parser { input, pos: 0 };
    if p.peek()? != b'd' {
        return Ok(None);
    }
    p.pos += 1;
    while p.peek()? != b'e' {
        let k = p.string()?;
        let start = p.pos;
        p.value(1)?;
        if k == key {
            return Ok(Some(&input[start..p.pos]));
        }
    }
    Ok(None)
}

struct Parser<'a> {
    input: &'a [u8],
    pos: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Result<u8, BencodeError> {
        self.input
            .get(self.pos)
            .copied()
            .ok_or(BencodeError::Truncated(self.pos))
    }

    fn value(&mut self, depth: usize) -> Result<Value, BencodeError> {
        if depth > MAX_DEPTH {
            return Err(BencodeError::TooDeep);
        }
        match self.peek()? {
            b'i' => {
                self.pos += 1;
                let i = self.int(b'e')?;
                Ok(Value::Int(i))
            }
            b'0'..=b'9' => Ok(Value::Bytes(self.string()?.to_vec())),
            b'l' => {
                self.pos += 1;
                let mut items = Vec::new();
                while self.peek()? != b'e' {
                    items.push(self.value(depth + 1)?);
                }
                self.pos += 1;
                Ok(Value::List(items))
            }
            b'd' => {
                self.pos += 1;
                let mut map = BTreeMap::new();
                let mut last: Option<&'a [u8]> = None;
                while self.peek()? != b'e' {
                    let at = self.pos;
                    let k = self.string()?;
                    if last.is_some_and(|l| l >= k) {
                        return Err(BencodeError::KeyOrder(at));
                    }
                    last = Some(k);
                    let v = self.value(depth + 1)?;
                    map.insert(k.to_vec(), v);
                }
                self.pos += 1;
                Ok(Value::Dict(map))
            }
            byte => Err(BencodeError::Unexpected { byte, at: self.pos }),
        }
    }

    /// Digits up to `end` (consumed), canonical form only.
    fn int(&mut self, end: u8) -> Result<i64, BencodeError> {
        let start = self.pos;
        let input: &'a [u8] = self.input;
        let rest = &input[self.pos..];
        let len = rest
            .iter()
            .position(|&b| b == end)
            .ok_or(BencodeError::Truncated(self.input.len()))?;
        let text = &rest[..len];
        let digits = text.strip_prefix(b"-").unwrap_or(text);
        let canonical = !digits.is_empty()
            && digits.iter().all(u8::is_ascii_digit)
            && (digits == b"0" || digits[0] != b'0')
            && !(text.len() != digits.len() && digits == b"0")
            && (end == b'e' || text.len() == digits.len());
        if !canonical {
            return Err(BencodeError::BadNumber(start));
        }
        let n = std::str::from_utf8(text)
            .ok()
            .and_then(|s| s.parse::<i64>().ok())
            .ok_or(BencodeError::BadNumber(start))?;
        self.pos += len + 1;
        Ok(n)
    }

    fn string(&mut self) -> Result<&'a [u8], BencodeError> {
        let at = self.pos;
        match self.peek()? {
            b'0'..=b'9' => {}
            byte => return Err(BencodeError::Unexpected { byte, at }),
        }
        let len = self.int(b':')? as u64;
        let left = (self.input.len() - self.pos) as u64;
        if len > left {
            return Err(BencodeError::TooLong { len, at });
        }
        let input: &'a [u8] = self.input;
        let s = &input[self.pos..self.pos + len as usize];
        self.pos += len as usize;
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn canonical_values_round_trip() {
        let v = dict([
            ("a", Value::Int(-3)),
            (
                "b",
                Value::List(vec![Value::str("spam"), Value::Int(0), Value::str("")]),
            ),
        ]);
        let bytes = v.encode();
        assert_eq!(bytes, b"d1:ai-3e1:bl4:spami0e0:ee");
        assert_eq!(decode(&bytes, 1 << 20).unwrap(), v);
    }

    #[test]
    fn non_canonical_and_malformed_input_is_rejected() {
        for bad in [
            &b"i03e"[..],
            b"i-0e",
            b"ie",
            b"i1",
            b"03:abc",
            b"5:abc",
            b"d1:b0:1:a0:e",
            b"d1:a0:1:a0:e",
            b"l",
            b"x",
            b"i1ei2e",
            b"i99999999999999999999e",
            b"d",
        ] {
            assert!(
                decode(bad, 1024).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let mut s = vec![b'l'; 100_000];
        s.extend(vec![b'e'; 100_000]);
        assert_eq!(decode(&s, 1 << 20), Err(BencodeError::TooDeep));
    }

    #[test]
    fn raw_value_returns_the_exact_info_bytes() {
        let input = b"d8:announce3:url4:infod4:name1:xee";
        assert_eq!(
            raw_value(input, b"info").unwrap(),
            Some(&b"d4:name1:xe"[..])
        );
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode(&bytes, 1 << 20);
            let _ = raw_value(&bytes, b"info");
        }

        #[test]
        fn mutated_valid_input_never_panics(pos in 0usize..40, byte in any::<u8>()) {
            let mut bytes = b"d4:infod6:lengthi5e4:name1:x6:pieces3:abce1:ai-1ee".to_vec();
            let p = pos % bytes.len();
            bytes[p] = byte;
            let _ = decode(&bytes, 1 << 20);
        }
    }
}
