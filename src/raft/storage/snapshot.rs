//! The snapshot file `snapshot`: `"WLSN"`, version 1, last index u64 BE, last term u64 BE,
//! data length u64 BE, data, CRC-32 of everything before it. Replaced atomically (see
//! [`super::write_atomic`]).

use std::path::Path;
use std::sync::Arc;

use super::error::StorageError;
use crate::raft::message::{Snapshot, SnapshotMeta};

const MAGIC: &[u8; 4] = b"WLSN";
const VERSION: u8 = 1;
const HEADER: usize = 4 + 1 + 8 + 8 + 8;

/// The bytes of `snapshot`.
pub(crate) fn encode(snapshot: &Snapshot) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + snapshot.data.len() + 4);
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    out.extend_from_slice(&snapshot.meta.last_index.to_be_bytes());
    out.extend_from_slice(&snapshot.meta.last_term.to_be_bytes());
    out.extend_from_slice(&(snapshot.data.len() as u64).to_be_bytes());
    out.extend_from_slice(&snapshot.data);
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_be_bytes());
    out
}

/// Parses the contents of the file at `path`. The data length is checked against the file
/// size, never trusted for an allocation.
pub(crate) fn decode(path: &Path, bytes: &[u8]) -> Result<Snapshot, StorageError> {
    let corrupt = |reason: String| StorageError::CorruptFile {
        path: path.to_path_buf(),
        reason,
    };
    if bytes.len() < HEADER + 4 {
        return Err(corrupt(format!(
            "{} bytes, shorter than a header",
            bytes.len()
        )));
    }
    if &bytes[..4] != MAGIC {
        return Err(corrupt("not a snapshot file (bad magic)".to_string()));
    }
    if bytes[4] != VERSION {
        return Err(corrupt(format!("unsupported version {}", bytes[4])));
    }
    let word = |at: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&bytes[at..at + 8]);
        u64::from_be_bytes(w)
    };
    let last_index = word(5);
    let last_term = word(13);
    let data_len = word(21);
    let expected = (HEADER as u64 + 4).checked_add(data_len);
    if expected != Some(bytes.len() as u64) {
        return Err(corrupt(format!(
            "data length {data_len} does not match the file size {}",
            bytes.len()
        )));
    }
    let body_end = bytes.len() - 4;
    let mut crc = [0u8; 4];
    crc.copy_from_slice(&bytes[body_end..]);
    if crc32fast::hash(&bytes[..body_end]) != u32::from_be_bytes(crc) {
        return Err(corrupt("CRC mismatch".to_string()));
    }
    Ok(Snapshot {
        meta: SnapshotMeta {
            last_index,
            last_term,
        },
        data: Arc::new(bytes[HEADER..body_end].to_vec()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_round_trips_and_damage_is_detected() {
        let path = Path::new("snapshot");
        let snapshot = Snapshot {
            meta: SnapshotMeta {
                last_index: 9,
                last_term: 2,
            },
            data: Arc::new(b"state".to_vec()),
        };
        let mut bytes = encode(&snapshot);
        assert_eq!(decode(path, &bytes).ok(), Some(snapshot));
        let last = bytes.len() - 6;
        bytes[last] ^= 0x40;
        assert!(decode(path, &bytes).is_err());
        assert!(decode(path, &bytes[..20]).is_err());
    }
}
