//! The log file: one record per entry,
//! `[u32 BE payload length][u32 BE CRC-32 of payload][payload]`, payload =
//! `index u64 BE, term u64 BE, kind u8, data`. Appends of a batch are one `pwrite` and one
//! `fdatasync` (group commit); an in-memory table maps each index to its record's offset, so
//! truncation is one `ftruncate`.
//!
//! Recovery reads the file front to back. A *torn tail* is an unfinished write: a header or a
//! payload that the file ends inside of, or a tail of zeros (a file extended but never
//! written), with no valid record after it; it is cut away and reported. A complete record whose
//! CRC does not match is *corruption* wherever it is, the last record included: its bytes were
//! all written, so an fsynced, acknowledged entry changed, and recovery fails naming the byte
//! offset rather than silently cutting it. A length field is
//! checked against [`MAX_RECORD`] before anything is allocated for it.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::error::{RecoveryWarning, StorageError};
use crate::raft::message::{Entry, EntryKind, Index, Term};

/// Bytes before the payload: length and CRC.
const HEADER: usize = 8;
/// Payload bytes before the entry data: index, term, kind.
const PAYLOAD_FIXED: usize = 17;
/// Largest payload accepted; a longer length field is corruption, not an allocation.
pub const MAX_RECORD: usize = 64 << 20;

/// A record that could not be read at some offset.
enum BadRecord {
    /// The file ends inside the header.
    ShortHeader,
    /// The whole record is there but its CRC does not match: `zeroed` when its CRC and payload
    /// are all zeros (pages the file was extended over but that were never written).
    BadCrc {
        /// Why, for the error message.
        reason: String,
        /// The record's CRC and payload bytes are all zero.
        zeroed: bool,
    },
    /// Something else; the reason is for the error message.
    Invalid(String),
}

/// The decoded fixed part of a record and where its data lies in the buffer.
struct RecordView {
    index: Index,
    term: Term,
    kind: EntryKind,
    data: std::ops::Range<usize>,
    end: usize,
}

/// Reads the record at `pos` of `buf`.
fn parse_record(buf: &[u8], pos: usize) -> Result<RecordView, BadRecord> {
    let Some(header) = buf.get(pos..pos + HEADER) else {
        return Err(BadRecord::ShortHeader);
    };
    let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
    let crc = u32::from_be_bytes([header[4], header[5], header[6], header[7]]);
    if len < PAYLOAD_FIXED {
        return Err(BadRecord::Invalid(format!(
            "record length {len} is below the minimum {PAYLOAD_FIXED}"
        )));
    }
    if len > MAX_RECORD {
        return Err(BadRecord::Invalid(format!(
            "record length {len} is over the maximum {MAX_RECORD}"
        )));
    }
    let start = pos + HEADER;
    let Some(payload) = buf.get(start..start + len) else {
        return Err(BadRecord::Invalid(format!(
            "record length {len} runs past the end of the file ({} bytes)",
            buf.len()
        )));
    };
    let actual = crc32fast::hash(payload);
    if actual != crc {
        return Err(BadRecord::BadCrc {
            reason: format!("CRC mismatch (stored {crc:#010x}, computed {actual:#010x})"),
            zeroed: buf[pos + 4..start + len].iter().all(|b| *b == 0),
        });
    }
    let mut word = [0u8; 8];
    word.copy_from_slice(&payload[0..8]);
    let index = u64::from_be_bytes(word);
    word.copy_from_slice(&payload[8..16]);
    let term = u64::from_be_bytes(word);
    let kind = match payload[16] {
        0 => EntryKind::Normal,
        1 => EntryKind::Noop,
        other => {
            return Err(BadRecord::Invalid(format!("unknown entry kind {other}")));
        }
    };
    Ok(RecordView {
        index,
        term,
        kind,
        data: start + PAYLOAD_FIXED..start + len,
        end: start + len,
    })
}

/// Whether any valid record with an index above `after` starts after byte `from`. Used to tell
/// a torn tail (nothing valid follows) from corruption in the middle. The index test keeps the
/// scan linear: a random length field rarely points inside the file, and a random index almost
/// never lands in the plausible range, so the CRC is seldom computed.
fn valid_record_after(buf: &[u8], from: usize, after: Index) -> bool {
    let max_plausible = after.saturating_add(buf.len() as u64);
    (from..buf.len().saturating_sub(HEADER + PAYLOAD_FIXED - 1)).any(|pos| {
        let len = u32::from_be_bytes([buf[pos], buf[pos + 1], buf[pos + 2], buf[pos + 3]]) as usize;
        if !(PAYLOAD_FIXED..=MAX_RECORD).contains(&len) || pos + HEADER + len > buf.len() {
            return false;
        }
        let mut word = [0u8; 8];
        word.copy_from_slice(&buf[pos + HEADER..pos + HEADER + 8]);
        let index = u64::from_be_bytes(word);
        index > after && index <= max_plausible && parse_record(buf, pos).is_ok()
    })
}

/// Appends one entry's record to `out`.
fn encode(entry: &Entry, out: &mut Vec<u8>) {
    let len = PAYLOAD_FIXED + entry.data.len();
    let start = out.len();
    out.extend_from_slice(&(len as u32).to_be_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&entry.index.to_be_bytes());
    out.extend_from_slice(&entry.term.to_be_bytes());
    out.push(match entry.kind {
        EntryKind::Normal => 0,
        EntryKind::Noop => 1,
    });
    out.extend_from_slice(&entry.data);
    let crc = crc32fast::hash(&out[start + HEADER..]);
    out[start + 4..start + HEADER].copy_from_slice(&crc.to_be_bytes());
}

/// [`encode`], for tests that build expected file contents.
#[cfg(test)]
pub(crate) fn encode_for_tests(entry: &Entry, out: &mut Vec<u8>) {
    encode(entry, out);
}

/// The open log file.
#[derive(Debug)]
pub(crate) struct Wal {
    path: PathBuf,
    file: File,
    /// Index of the first record (meaningful when `offsets` is not empty).
    first_index: Index,
    /// Byte offset of each record, `offsets[i]` for index `first_index + i`.
    offsets: Vec<u64>,
    /// Length of the valid file: where the next record goes.
    end: u64,
    /// Reused encoding buffer.
    buf: Vec<u8>,
}

impl Wal {
    /// Opens (creating if needed) and validates the log at `path`; cuts a torn tail. Records
    /// must have consecutive indexes above `base` (the snapshot index).
    pub(crate) fn open(
        path: &Path,
        base: Index,
    ) -> Result<(Wal, Option<RecoveryWarning>), StorageError> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|e| StorageError::io(path, "opening the log", e))?;
        let buf = std::fs::read(path).map_err(|e| StorageError::io(path, "reading the log", e))?;
        let mut offsets = Vec::new();
        let mut first_index = 0;
        let mut pos = 0usize;
        let mut torn = None;
        while pos < buf.len() {
            let last = first_index + offsets.len() as Index;
            let after = if offsets.is_empty() { base } else { last - 1 };
            match parse_record(&buf, pos) {
                Ok(record) => {
                    if offsets.is_empty() {
                        first_index = record.index;
                    } else if record.index != last {
                        return Err(StorageError::CorruptLog {
                            path: path.to_path_buf(),
                            offset: pos as u64,
                            reason: format!("index {} where {last} was expected", record.index),
                        });
                    }
                    offsets.push(pos as u64);
                    pos = record.end;
                }
                Err(BadRecord::ShortHeader) => {
                    torn = Some(pos);
                    break;
                }
                Err(BadRecord::BadCrc { reason, zeroed }) => {
                    if zeroed && !valid_record_after(&buf, pos + 1, after) {
                        torn = Some(pos);
                        break;
                    }
                    return Err(StorageError::CorruptLog {
                        path: path.to_path_buf(),
                        offset: pos as u64,
                        reason,
                    });
                }
                Err(BadRecord::Invalid(reason)) => {
                    if valid_record_after(&buf, pos + 1, after) {
                        return Err(StorageError::CorruptLog {
                            path: path.to_path_buf(),
                            offset: pos as u64,
                            reason,
                        });
                    }
                    torn = Some(pos);
                    break;
                }
            }
        }
        let mut warning = None;
        let end = match torn {
            Some(cut) => {
                let cut = cut as u64;
                file.set_len(cut)
                    .and_then(|()| file.sync_all())
                    .map_err(|e| StorageError::io(path, "cutting the torn tail of the log", e))?;
                warning = Some(RecoveryWarning::TornTail {
                    path: path.to_path_buf(),
                    offset: cut,
                    discarded_bytes: buf.len() as u64 - cut,
                });
                cut
            }
            None => buf.len() as u64,
        };
        let wal = Wal {
            path: path.to_path_buf(),
            file,
            first_index,
            offsets,
            end,
            buf: Vec::new(),
        };
        Ok((wal, warning))
    }

    /// The log file's path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// First index held, if any.
    pub(crate) fn first_index(&self) -> Option<Index> {
        (!self.offsets.is_empty()).then_some(self.first_index)
    }

    /// Last index held, if any.
    pub(crate) fn last_index(&self) -> Option<Index> {
        (!self.offsets.is_empty()).then(|| self.first_index + self.offsets.len() as Index - 1)
    }

    /// Reads every entry with index > `after`.
    pub(crate) fn read_entries(&self, after: Index) -> Result<Vec<Entry>, StorageError> {
        let Some(first) = self.first_index() else {
            return Ok(Vec::new());
        };
        let skip = usize::try_from(after.saturating_sub(first - 1)).unwrap_or(usize::MAX);
        let Some(&start) = self.offsets.get(skip) else {
            return Ok(Vec::new());
        };
        let len = usize::try_from(self.end - start).unwrap_or(usize::MAX);
        let mut buf = vec![0u8; len];
        self.file
            .read_exact_at(&mut buf, start)
            .map_err(|e| StorageError::io(&self.path, "reading the log", e))?;
        let mut entries = Vec::with_capacity(self.offsets.len() - skip);
        let mut pos = 0;
        while pos < buf.len() {
            let record = parse_record(&buf, pos).map_err(|bad| StorageError::CorruptLog {
                path: self.path.clone(),
                offset: start + pos as u64,
                reason: match bad {
                    BadRecord::ShortHeader => "record cut short".to_string(),
                    BadRecord::Invalid(reason) | BadRecord::BadCrc { reason, .. } => reason,
                },
            })?;
            entries.push(Entry {
                term: record.term,
                index: record.index,
                kind: record.kind,
                data: buf[record.data.clone()].to_vec(),
            });
            pos = record.end;
        }
        Ok(entries)
    }

    /// Writes `entries` (which must continue the log, or start it at any index when it is
    /// empty) without syncing.
    pub(crate) fn write(&mut self, entries: &[Entry]) -> Result<(), StorageError> {
        let Some(first) = entries.first() else {
            return Ok(());
        };
        let start = self.last_index().map_or(first.index, |l| l + 1);
        self.buf.clear();
        let mut offsets = Vec::with_capacity(entries.len());
        for (expected, entry) in (start..).zip(entries) {
            if entry.index != expected {
                return Err(StorageError::NotContiguous {
                    path: self.path.clone(),
                    index: entry.index,
                    last: expected - 1,
                });
            }
            if entry.data.len() > MAX_RECORD - PAYLOAD_FIXED {
                return Err(StorageError::EntryTooLarge {
                    path: self.path.clone(),
                    index: entry.index,
                    len: entry.data.len(),
                    max: MAX_RECORD - PAYLOAD_FIXED,
                });
            }
            offsets.push(self.end + self.buf.len() as u64);
            encode(entry, &mut self.buf);
        }
        if let Err(e) = self.file.write_all_at(&self.buf, self.end) {
            // Do not leave half a batch behind (best effort: recovery would cut it anyway).
            let _ = self.file.set_len(self.end);
            return Err(StorageError::io(&self.path, "appending to the log", e));
        }
        if self.offsets.is_empty() {
            self.first_index = first.index;
        }
        self.offsets.extend(offsets);
        self.end += self.buf.len() as u64;
        if self.buf.capacity() > 4 * MAX_RECORD {
            self.buf = Vec::new();
        }
        Ok(())
    }

    /// Drops records with index >= `index`, without syncing. Returns whether anything changed.
    pub(crate) fn truncate(&mut self, index: Index) -> Result<bool, StorageError> {
        let Some(first) = self.first_index() else {
            return Ok(false);
        };
        let keep = usize::try_from(index.saturating_sub(first)).unwrap_or(usize::MAX);
        if keep >= self.offsets.len() {
            return Ok(false);
        }
        let cut = self.offsets[keep];
        self.file
            .set_len(cut)
            .map_err(|e| StorageError::io(&self.path, "truncating the log", e))?;
        self.offsets.truncate(keep);
        self.end = cut;
        Ok(true)
    }

    /// Makes everything written so far durable (`fdatasync`).
    pub(crate) fn sync(&self) -> Result<(), StorageError> {
        self.file
            .sync_data()
            .map_err(|e| StorageError::io(&self.path, "syncing the log", e))
    }

    /// Drops every record with index <= `index` (covered by a snapshot): rewrites the records
    /// to keep into a temporary file, syncs it, renames it over the log and syncs the directory.
    /// Records are position-independent, so they are copied byte for byte. Returns how many
    /// records were dropped.
    pub(crate) fn compact_through(
        &mut self,
        index: Index,
        dir: &Path,
    ) -> Result<u64, StorageError> {
        let Some(first) = self.first_index() else {
            return Ok(0);
        };
        if index < first {
            return Ok(0);
        }
        let drop = usize::try_from(index - first + 1).unwrap_or(usize::MAX);
        if drop >= self.offsets.len() {
            let dropped = self.offsets.len() as u64;
            self.truncate(first)?;
            self.sync()?;
            return Ok(dropped);
        }
        let start = self.offsets[drop];
        let len = usize::try_from(self.end - start).unwrap_or(usize::MAX);
        let mut kept = vec![0u8; len];
        self.file
            .read_exact_at(&mut kept, start)
            .map_err(|e| StorageError::io(&self.path, "reading the log to compact it", e))?;
        let tmp = self.path.with_extension("tmp");
        super::write_atomic(dir, &tmp, &self.path, &kept)?;
        self.file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&self.path)
            .map_err(|e| StorageError::io(&self.path, "reopening the compacted log", e))?;
        self.first_index = index + 1;
        self.offsets.drain(..drop);
        for offset in &mut self.offsets {
            *offset -= start;
        }
        self.end -= start;
        Ok(drop as u64)
    }
}
