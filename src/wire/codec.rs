//! A minimal binary codec for frame payloads: big-endian integers and length-prefixed byte
//! strings. Decoding never panics and never allocates more than the input holds: a length
//! prefix larger than the remaining bytes is an error.

/// Why a payload could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The payload ended before a field did.
    #[error("payload truncated: needed {needed} more bytes for {what}")]
    Truncated {
        /// Bytes missing.
        needed: usize,
        /// The field being read.
        what: &'static str,
    },
    /// A tag or value outside the protocol.
    #[error("invalid {what}: {value}")]
    Invalid {
        /// The field.
        what: &'static str,
        /// The offending value.
        value: u64,
    },
    /// A string field that is not UTF-8.
    #[error("{what} is not valid UTF-8")]
    Utf8 {
        /// The field.
        what: &'static str,
    },
    /// Bytes left over after the message.
    #[error("{0} unexpected trailing bytes")]
    Trailing(usize),
}

/// Appends fields to a byte vector.
#[derive(Debug, Default)]
pub struct Encoder {
    buf: Vec<u8>,
}

impl Encoder {
    /// An empty encoder.
    pub fn new() -> Self {
        Self::default()
    }

    /// An encoder that appends to an existing buffer (cleared first).
    pub fn reuse(mut buf: Vec<u8>) -> Self {
        buf.clear();
        Self { buf }
    }

    /// One byte.
    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.buf.push(v);
        self
    }

    /// A big-endian u32.
    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }

    /// A big-endian u64.
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }

    /// A boolean as one byte.
    pub fn bool(&mut self, v: bool) -> &mut Self {
        self.u8(v as u8)
    }

    /// A u32-length-prefixed byte string.
    pub fn bytes(&mut self, v: &[u8]) -> &mut Self {
        self.u32(v.len() as u32);
        self.buf.extend_from_slice(v);
        self
    }

    /// A u32-length-prefixed UTF-8 string.
    pub fn str(&mut self, v: &str) -> &mut Self {
        self.bytes(v.as_bytes())
    }

    /// An optional byte string: a presence byte, then the string.
    pub fn opt_bytes(&mut self, v: Option<&[u8]>) -> &mut Self {
        match v {
            Some(b) => self.u8(1).bytes(b),
            None => self.u8(0),
        }
    }

    /// Bytes encoded so far.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Whether nothing was encoded.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The encoded bytes.
    pub fn finish(self) -> Vec<u8> {
        self.buf
    }
}

/// Reads fields from a byte slice.
#[derive(Debug)]
pub struct Decoder<'a> {
    buf: &'a [u8],
}

impl<'a> Decoder<'a> {
    /// A decoder over `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf }
    }

    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        if self.buf.len() < n {
            return Err(DecodeError::Truncated {
                needed: n - self.buf.len(),
                what,
            });
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    /// One byte.
    pub fn u8(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        Ok(self.take(1, what)?[0])
    }

    /// A big-endian u32.
    pub fn u32(&mut self, what: &'static str) -> Result<u32, DecodeError> {
        let b = self.take(4, what)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A big-endian u64.
    pub fn u64(&mut self, what: &'static str) -> Result<u64, DecodeError> {
        let b = self.take(8, what)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_be_bytes(a))
    }

    /// A boolean byte (0 or 1).
    pub fn bool(&mut self, what: &'static str) -> Result<bool, DecodeError> {
        match self.u8(what)? {
            0 => Ok(false),
            1 => Ok(true),
            v => Err(DecodeError::Invalid {
                what,
                value: v as u64,
            }),
        }
    }

    /// A u32-length-prefixed byte string, borrowed from the input.
    pub fn bytes(&mut self, what: &'static str) -> Result<&'a [u8], DecodeError> {
        let len = self.u32(what)? as usize;
        self.take(len, what)
    }

    /// A u32-length-prefixed UTF-8 string.
    pub fn str(&mut self, what: &'static str) -> Result<&'a str, DecodeError> {
        std::str::from_utf8(self.bytes(what)?).map_err(|_| DecodeError::Utf8 { what })
    }

    /// An optional byte string.
    pub fn opt_bytes(&mut self, what: &'static str) -> Result<Option<&'a [u8]>, DecodeError> {
        match self.u8(what)? {
            0 => Ok(None),
            1 => Ok(Some(self.bytes(what)?)),
            v => Err(DecodeError::Invalid {
                what,
                value: v as u64,
            }),
        }
    }

    /// Bytes not yet read.
    pub fn remaining(&self) -> usize {
        self.buf.len()
    }

    /// Fails unless every byte was consumed.
    pub fn finish(self) -> Result<(), DecodeError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::Trailing(self.buf.len()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_every_field_kind() {
        let mut e = Encoder::new();
        e.u8(7)
            .u32(0xdead_beef)
            .u64(u64::MAX)
            .bool(true)
            .bytes(b"abc")
            .str("k\u{e9}y")
            .opt_bytes(None)
            .opt_bytes(Some(b"x"));
        let bytes = e.finish();
        let mut d = Decoder::new(&bytes);
        assert_eq!(d.u8("a").unwrap(), 7);
        assert_eq!(d.u32("b").unwrap(), 0xdead_beef);
        assert_eq!(d.u64("c").unwrap(), u64::MAX);
        assert!(d.bool("d").unwrap());
        assert_eq!(d.bytes("e").unwrap(), b"abc");
        assert_eq!(d.str("f").unwrap(), "k\u{e9}y");
        assert_eq!(d.opt_bytes("g").unwrap(), None);
        assert_eq!(d.opt_bytes("h").unwrap(), Some(&b"x"[..]));
        d.finish().unwrap();
    }

    #[test]
    fn huge_length_prefix_is_truncation_not_allocation() {
        let bytes = [0xff, 0xff, 0xff, 0xff, 1, 2];
        let mut d = Decoder::new(&bytes);
        assert!(matches!(
            d.bytes("value"),
            Err(DecodeError::Truncated { .. })
        ));
    }

    #[test]
    fn bad_bool_and_trailing_bytes_are_errors() {
        assert!(Decoder::new(&[2]).bool("flag").is_err());
        let mut d = Decoder::new(&[1, 9]);
        d.u8("x").unwrap();
        assert_eq!(d.finish(), Err(DecodeError::Trailing(1)));
    }
}
