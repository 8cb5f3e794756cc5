//! The downloaded file on disk: positional reads and writes, streaming verification.
//!
//! Nothing here holds more than one 32 KiB chunk: blocks are written in place with `pwrite` as
//! they arrive and served with `pread`, and a piece is verified by hashing what is on disk in
//! chunks (after its last block, and for every piece when resuming), so memory grows neither
//! with the file nor with the piece size.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use sha1::{Digest, Sha1};

use super::bitfield::Bitfield;
use super::torrent::Torrent;

/// Disk errors, with the file they concern.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// An I/O error.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A read or write outside the file's pieces.
    #[error("piece {index} offset {begin} length {len} is outside the torrent")]
    OutOfRange {
        /// Piece.
        index: u32,
        /// Offset in the piece.
        begin: u32,
        /// Length.
        len: u32,
    },
}

/// One torrent's file.
#[derive(Debug)]
pub struct Storage {
    fresh: bool,
    file: File,
    path: PathBuf,
    length: u64,
    piece_len: u32,
}

impl Storage {
    /// Opens (creating and sizing when needed) the file for `torrent` at `path`.
    pub fn open(path: &Path, torrent: &Torrent) -> Result<Storage, StorageError> {
        let io = |source| StorageError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(io)?;
        let on_disk = file.metadata().map_err(io)?.len();
        if on_disk != torrent.length {
            file.set_len(torrent.length).map_err(io)?;
        }
        Ok(Storage {
            fresh: on_disk == 0,
            file,
            path: path.to_path_buf(),
            length: torrent.length,
            piece_len: torrent.piece_len,
        })
    }

    /// Whether the file was empty when opened: nothing on disk to verify.
    pub fn is_fresh(&self) -> bool {
        self.fresh
    }

    fn io(&self) -> impl Fn(std::io::Error) -> StorageError + '_ {
        |source| StorageError::Io {
            path: self.path.clone(),
            source,
        }
    }

    fn offset(&self, index: u32, begin: u32, len: u32) -> Result<u64, StorageError> {
        let off = index as u64 * self.piece_len as u64 + begin as u64;
        if begin as u64 + len as u64 > self.piece_len as u64 || off + len as u64 > self.length {
            return Err(StorageError::OutOfRange { index, begin, len });
        }
        Ok(off)
    }

    /// Reads `buf.len()` bytes of piece `index` from `begin`.
    pub fn read_block(&self, index: u32, begin: u32, buf: &mut [u8]) -> Result<(), StorageError> {
        let off = self.offset(index, begin, buf.len() as u32)?;
        self.file.read_exact_at(buf, off).map_err(self.io())
    }

    /// Writes `data` in place at offset `begin` of piece `index`. What is written is not held
    /// until [`Storage::hash_piece`] of the whole piece matches.
    pub fn write_block(&self, index: u32, begin: u32, data: &[u8]) -> Result<(), StorageError> {
        let off = self.offset(index, begin, data.len() as u32)?;
        self.file.write_all_at(data, off).map_err(self.io())
    }

    /// Flushes written data to disk.
    pub fn sync(&self) -> Result<(), StorageError> {
        self.file.sync_data().map_err(self.io())
    }

    /// Hashes piece `index` as it is on disk, in 32 KiB chunks.
    pub fn hash_piece(&self, torrent: &Torrent, index: u32) -> Result<[u8; 20], StorageError> {
        let size = torrent.piece_size(index);
        let mut buf = [0u8; 32 * 1024];
        let mut hasher = Sha1::new();
        let mut done = 0u32;
        while done < size {
            let n = (size - done).min(buf.len() as u32);
            self.read_block(index, done, &mut buf[..n as usize])?;
            hasher.update(&buf[..n as usize]);
            done += n;
        }
        Ok(hasher.finalize().into())
    }

    /// Re-verifies every piece on disk: the bitfield of pieces whose hash matches.
    pub fn verify_all(&self, torrent: &Torrent) -> Result<Bitfield, StorageError> {
        let mut have = Bitfield::new(torrent.piece_count());
        for i in 0..torrent.piece_count() {
            if self.hash_piece(torrent, i)? == torrent.piece_hashes[i as usize] {
                have.set(i);
            }
        }
        Ok(have)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::p2p::torrent::PIECE_LEN;

    #[test]
    fn resume_reverifies_and_rejects_a_corrupted_piece() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src.bin");
        let data: Vec<u8> = (0..PIECE_LEN as usize * 3 - 7)
            .map(|i| (i * 7 % 256) as u8)
            .collect();
        std::fs::write(&src, &data).unwrap();
        let t = Torrent::create(&src, vec![]).unwrap();
        let dst = dir.path().join("dst.bin");
        let s = Storage::open(&dst, &t).unwrap();
        assert!(s.is_fresh());
        assert_eq!(s.verify_all(&t).unwrap().count(), 0);
        let p = PIECE_LEN as usize;
        s.write_block(0, 0, &data[..p]).unwrap();
        s.write_block(2, 0, &data[2 * p..]).unwrap();
        let have = Storage::open(&dst, &t).unwrap().verify_all(&t).unwrap();
        assert!(!Storage::open(&dst, &t).unwrap().is_fresh());
        assert!(have.get(0) && !have.get(1) && have.get(2));
        let mut block = [0u8; 100];
        s.read_block(2, 10, &mut block).unwrap();
        assert_eq!(&block[..], &data[2 * p + 10..2 * p + 110]);
        assert!(s.read_block(2, p as u32 - 8, &mut block).is_err());
        s.write_block(0, 0, &vec![0u8; p]).unwrap();
        assert!(
            !Storage::open(&dst, &t)
                .unwrap()
                .verify_all(&t)
                .unwrap()
                .get(0)
        );
    }
}
