//! A stored secret ([`Sealed`]) and its binary encoding, the same in the embedded store's log
//! and in Redis values:
//!
//! ```text
//! version u8 = 1 | flags u8 (bit 0: passphrase) | views_left u32 | created u64 | expires u64
//! | iv [12] | ciphertext_len u32 | ciphertext
//! ```
//!
//! All integers big-endian, times in Unix seconds. Decoding is bounded: a ciphertext longer
//! than [`MAX_CIPHERTEXT`] is refused before anything is allocated for it.

use super::format::{IV_LEN, MAX_CIPHERTEXT};

/// Record version.
const VERSION: u8 = 1;
/// Bytes before the ciphertext.
pub const HEADER_LEN: usize = 1 + 1 + 4 + 8 + 8 + IV_LEN + 4;

/// What the server holds for one secret: ciphertext, IV and bookkeeping, never a key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sealed {
    /// The IV.
    pub iv: [u8; IV_LEN],
    /// Ciphertext and tag.
    pub ciphertext: Vec<u8>,
    /// Claims left before it is deleted.
    pub views_left: u32,
    /// Whether the reader must supply a passphrase.
    pub passphrase: bool,
    /// When it was created (Unix seconds).
    pub created: u64,
    /// When it expires (Unix seconds).
    pub expires: u64,
}

impl Sealed {
    /// Whether it has expired at `now`.
    pub fn expired(&self, now: u64) -> bool {
        now >= self.expires
    }

    /// Appends the encoding to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.push(VERSION);
        out.push(u8::from(self.passphrase));
        out.extend_from_slice(&self.views_left.to_be_bytes());
        out.extend_from_slice(&self.created.to_be_bytes());
        out.extend_from_slice(&self.expires.to_be_bytes());
        out.extend_from_slice(&self.iv);
        out.extend_from_slice(&(self.ciphertext.len() as u32).to_be_bytes());
        out.extend_from_slice(&self.ciphertext);
    }

    /// The encoding.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(HEADER_LEN + self.ciphertext.len());
        self.encode_into(&mut v);
        v
    }

    /// Decodes exactly one record.
    pub fn decode(b: &[u8]) -> Result<Sealed, String> {
        if b.len() < HEADER_LEN {
            return Err(format!("record too short ({} bytes)", b.len()));
        }
        if b[0] != VERSION {
            return Err(format!("unknown record version {}", b[0]));
        }
        let u32_at = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let u64_at = |i: usize| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&b[i..i + 8]);
            u64::from_be_bytes(a)
        };
        let mut iv = [0u8; IV_LEN];
        iv.copy_from_slice(&b[22..22 + IV_LEN]);
        let len = u32_at(22 + IV_LEN) as usize;
        if len > MAX_CIPHERTEXT {
            return Err(format!("ciphertext length {len} over the limit"));
        }
        if b.len() != HEADER_LEN + len {
            return Err(format!(
                "record length {} does not match its ciphertext length {len}",
                b.len()
            ));
        }
        Ok(Sealed {
            passphrase: b[1] & 1 == 1,
            views_left: u32_at(2),
            created: u64_at(6),
            expires: u64_at(14),
            iv,
            ciphertext: b[HEADER_LEN..].to_vec(),
        })
    }
}

/// Unix seconds now.
pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_damaged_ones_are_refused() {
        let s = Sealed {
            iv: [3; IV_LEN],
            ciphertext: vec![9; 40],
            views_left: 2,
            passphrase: true,
            created: 100,
            expires: 400,
        };
        let b = s.encode();
        assert_eq!(Sealed::decode(&b).unwrap(), s);
        assert!(Sealed::decode(&b[..b.len() - 1]).is_err());
        let mut v2 = b.clone();
        v2[0] = 9;
        assert!(Sealed::decode(&v2).is_err());
        let mut huge = b.clone();
        huge[22 + IV_LEN..22 + IV_LEN + 4].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(Sealed::decode(&huge).is_err());
    }
}
