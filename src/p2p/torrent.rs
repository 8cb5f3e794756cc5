//! `.torrent` metainfo (BEP 3, single-file) with `announce-list` (BEP 12).
//!
//! Pieces are [`PIECE_LEN`] (512 KiB) and hashed with SHA-1 while the file is read once in
//! fixed-size chunks, so making a torrent of any size costs one chunk of memory. The info hash
//! is the SHA-1 of the info dictionary's exact bytes as they appear in the file.

use std::io::Read;
use std::path::Path;

use sha1::{Digest, Sha1};

use super::bencode::{self, BencodeError, Value, dict};

/// Piece length used for every torrent wirelab makes.
pub const PIECE_LEN: u32 = 512 * 1024;

/// Largest `.torrent` accepted (a 1 TiB file at 512 KiB pieces needs 40 MB of hashes; ours stay
/// far below that).
pub const MAX_TORRENT_BYTES: usize = 16 * 1024 * 1024;

/// Why metainfo could not be made or read.
#[derive(Debug, thiserror::Error)]
pub enum TorrentError {
    /// Not bencode.
    #[error("not a torrent: {0}")]
    Bencode(#[from] BencodeError),
    /// A required field is missing or has the wrong type.
    #[error("torrent field {0} missing or invalid")]
    Field(&'static str),
    /// Disk trouble.
    #[error("{path}: {error}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        error: std::io::Error,
    },
}

/// A parsed single-file torrent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Torrent {
    /// Tracker announce URLs (BEP 12, one tier); the first is `announce`.
    pub trackers: Vec<String>,
    /// The same trackers' framed-RPC addresses (`x-wirelab-rpc`, outside the info dictionary,
    /// so stock clients ignore it and the info hash does not depend on it).
    pub rpc: Vec<String>,
    /// File name.
    pub name: String,
    /// File length in bytes.
    pub length: u64,
    /// Piece length.
    pub piece_len: u32,
    /// SHA-1 of each piece.
    pub piece_hashes: Vec<[u8; 20]>,
    /// SHA-1 of the bencoded info dictionary.
    pub info_hash: [u8; 20],
}

impl Torrent {
    /// Number of pieces.
    pub fn piece_count(&self) -> u32 {
        self.piece_hashes.len() as u32
    }

    /// Length of piece `index` (the last one may be short).
    pub fn piece_size(&self, index: u32) -> u32 {
        let start = index as u64 * self.piece_len as u64;
        (self.length.saturating_sub(start)).min(self.piece_len as u64) as u32
    }

    /// The info dictionary as a value.
    fn info_value(&self) -> Value {
        let pieces: Vec<u8> = self.piece_hashes.iter().flatten().copied().collect();
        dict([
            ("length", Value::Int(self.length as i64)),
            ("name", Value::str(&self.name)),
            ("piece length", Value::Int(self.piece_len as i64)),
            ("pieces", Value::Bytes(pieces)),
        ])
    }

    /// The bencoded `.torrent` file.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut pairs = vec![("info", self.info_value())];
        if let Some(first) = self.trackers.first() {
            pairs.push(("announce", Value::str(first)));
            let tier = Value::List(self.trackers.iter().map(|t| Value::str(t)).collect());
            pairs.push(("announce-list", Value::List(vec![tier])));
        }
        if !self.rpc.is_empty() {
            let rpc = Value::List(self.rpc.iter().map(|t| Value::str(t)).collect());
            pairs.push(("x-wirelab-rpc", rpc));
        }
        Value::Dict(
            pairs
                .into_iter()
                .map(|(k, v)| (k.as_bytes().to_vec(), v))
                .collect(),
        )
        .encode()
    }

    /// Reads a `.torrent` from its bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Torrent, TorrentError> {
        let top = bencode::decode(bytes, MAX_TORRENT_BYTES)?;
        let raw_info = bencode::raw_value(bytes, b"info")?.ok_or(TorrentError::Field("info"))?;
        let info = top.get("info").ok_or(TorrentError::Field("info"))?;
        let name = info
            .get("name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty() && !n.contains('/') && *n != ".." && *n != ".")
            .ok_or(TorrentError::Field("info.name"))?
            .to_string();
        let length = info
            .get("length")
            .and_then(Value::as_int)
            .filter(|l| *l >= 0)
            .ok_or(TorrentError::Field("info.length"))? as u64;
        let piece_len = info
            .get("piece length")
            .and_then(Value::as_int)
            .filter(|l| (16 * 1024..=16 * 1024 * 1024).contains(l))
            .ok_or(TorrentError::Field("info.piece length"))? as u32;
        let pieces = info
            .get("pieces")
            .and_then(Value::as_bytes)
            .filter(|p| p.len().is_multiple_of(20))
            .ok_or(TorrentError::Field("info.pieces"))?;
        let piece_hashes: Vec<[u8; 20]> = pieces
            .chunks_exact(20)
            .map(|c| {
                let mut h = [0u8; 20];
                h.copy_from_slice(c);
                h
            })
            .collect();
        if piece_hashes.len() as u64 != length.div_ceil(piece_len as u64) {
            return Err(TorrentError::Field("info.pieces (count)"));
        }
        let mut trackers: Vec<String> = top
            .get("announce-list")
            .and_then(Value::as_list)
            .map(|tiers| {
                tiers
                    .iter()
                    .filter_map(Value::as_list)
                    .flatten()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        if let Some(a) = top.get("announce").and_then(Value::as_str)
            && !trackers.iter().any(|t| t == a)
        {
            trackers.insert(0, a.to_string());
        }
        let rpc = top
            .get("x-wirelab-rpc")
            .and_then(Value::as_list)
            .map(|l| {
                l.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        Ok(Torrent {
            trackers,
            rpc,
            name,
            length,
            piece_len,
            piece_hashes,
            info_hash: Sha1::digest(raw_info).into(),
        })
    }

    /// Reads a `.torrent` file.
    pub fn load(path: &Path) -> Result<Torrent, TorrentError> {
        let meta = std::fs::metadata(path).map_err(io_err(path))?;
        if meta.len() > MAX_TORRENT_BYTES as u64 {
            return Err(TorrentError::Field("file size"));
        }
        let bytes = std::fs::read(path).map_err(io_err(path))?;
        Torrent::from_bytes(&bytes)
    }

    /// Hashes `file` in [`PIECE_LEN`] pieces (streaming) and builds its metainfo.
    pub fn create(file: &Path, trackers: Vec<String>) -> Result<Torrent, TorrentError> {
        let name = file
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or(TorrentError::Field("file name"))?
            .to_string();
        let mut f = std::fs::File::open(file).map_err(io_err(file))?;
        let mut buf = vec![0u8; 64 * 1024];
        let mut piece_hashes = Vec::new();
        let mut hasher = Sha1::new();
        let mut in_piece = 0u32;
        let mut length = 0u64;
        loop {
            let n = f.read(&mut buf).map_err(io_err(file))?;
            if n == 0 {
                break;
            }
            let mut chunk = &buf[..n];
            length += n as u64;
            while !chunk.is_empty() {
                let take = chunk.len().min((PIECE_LEN - in_piece) as usize);
                hasher.update(&chunk[..take]);
                in_piece += take as u32;
                chunk = &chunk[take..];
                if in_piece == PIECE_LEN {
                    piece_hashes.push(hasher.finalize_reset().into());
                    in_piece = 0;
                }
            }
        }
        if in_piece > 0 {
            piece_hashes.push(hasher.finalize().into());
        }
        let mut t = Torrent {
            trackers,
            rpc: Vec::new(),
            name,
            length,
            piece_len: PIECE_LEN,
            piece_hashes,
            info_hash: [0; 20],
        };
        t.info_hash = Sha1::digest(t.info_value().encode()).into();
        Ok(t)
    }
}

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> TorrentError + '_ {
    move |error| TorrentError::Io {
        path: path.display().to_string(),
        error,
    }
}

/// Lowercase hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_torrent_round_trips_with_both_trackers_and_same_info_hash() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data.bin");
        let data: Vec<u8> = (0..(PIECE_LEN as usize * 2 + 1000))
            .map(|i| (i % 251) as u8)
            .collect();
        std::fs::write(&path, &data).unwrap();
        let trackers = vec![
            "http://127.0.0.1:1/announce".to_string(),
            "http://127.0.0.1:2/announce".to_string(),
        ];
        let t = Torrent::create(&path, trackers.clone()).unwrap();
        assert_eq!(t.piece_count(), 3);
        assert_eq!(t.piece_size(2), 1000);
        assert_eq!(
            t.piece_hashes[1],
            <[u8; 20]>::from(Sha1::digest(
                &data[PIECE_LEN as usize..2 * PIECE_LEN as usize]
            ))
        );
        let back = Torrent::from_bytes(&t.to_bytes()).unwrap();
        assert_eq!(back, t);
        assert_eq!(back.trackers, trackers);
    }

    #[test]
    fn torrent_with_bad_fields_is_an_error() {
        assert!(Torrent::from_bytes(b"de").is_err());
        assert!(Torrent::from_bytes(b"d4:infod4:name3:../ee").is_err());
    }
}
