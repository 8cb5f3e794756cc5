//! The hard state file `meta`: `"WLHS"`, version 1, term u64 BE, vote flag u8, vote u64 BE,
//! CRC-32 of everything before it. Replaced atomically (see [`super::write_atomic`]), so it is
//! always either the old or the new value; a damaged file is an error, never a silent reset to
//! term 0 (which could let the node vote twice in a term).

use std::path::Path;

use super::error::StorageError;
use crate::raft::message::HardState;

const MAGIC: &[u8; 4] = b"WLHS";
const VERSION: u8 = 1;
const LEN: usize = 4 + 1 + 8 + 1 + 8 + 4;

/// The bytes of `hs`.
pub(crate) fn encode(hs: &HardState) -> Vec<u8> {
    let mut out = Vec::with_capacity(LEN);
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    out.extend_from_slice(&hs.term.to_be_bytes());
    out.push(u8::from(hs.vote.is_some()));
    out.extend_from_slice(&hs.vote.unwrap_or(0).to_be_bytes());
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_be_bytes());
    out
}

/// Parses the contents of the file at `path`.
pub(crate) fn decode(path: &Path, bytes: &[u8]) -> Result<HardState, StorageError> {
    let corrupt = |reason: String| StorageError::CorruptFile {
        path: path.to_path_buf(),
        reason,
    };
    if bytes.len() != LEN {
        return Err(corrupt(format!("{} bytes, expected {LEN}", bytes.len())));
    }
    if &bytes[..4] != MAGIC {
        return Err(corrupt("not a hard state file (bad magic)".to_string()));
    }
    if bytes[4] != VERSION {
        return Err(corrupt(format!("unsupported version {}", bytes[4])));
    }
    let body = &bytes[..LEN - 4];
    let mut crc = [0u8; 4];
    crc.copy_from_slice(&bytes[LEN - 4..]);
    if crc32fast::hash(body) != u32::from_be_bytes(crc) {
        return Err(corrupt("CRC mismatch".to_string()));
    }
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[5..13]);
    let term = u64::from_be_bytes(word);
    word.copy_from_slice(&bytes[14..22]);
    let vote = match bytes[13] {
        0 => None,
        1 => Some(u64::from_be_bytes(word)),
        other => return Err(corrupt(format!("bad vote flag {other}"))),
    };
    Ok(HardState { term, vote })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hard_state_round_trips_and_damage_is_detected() {
        let path = Path::new("meta");
        let hs = HardState {
            term: 7,
            vote: Some(3),
        };
        let mut bytes = encode(&hs);
        assert_eq!(decode(path, &bytes).ok(), Some(hs));
        bytes[7] ^= 1;
        assert!(matches!(
            decode(path, &bytes),
            Err(StorageError::CorruptFile { .. })
        ));
        assert!(decode(path, &bytes[..10]).is_err());
    }
}
