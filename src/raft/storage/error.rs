//! Storage errors and recovery warnings. Every error names the file it concerns, and log
//! corruption names the byte offset, so an operator can look at the exact spot.

use std::fmt;
use std::io;
use std::path::PathBuf;

use crate::raft::message::Index;

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The file system has no space (or quota) left.
    #[error("{path}: disk full while {op}: {source}")]
    DiskFull {
        /// The file being written.
        path: PathBuf,
        /// What was being done.
        op: &'static str,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The data dir is on a read-only file system or not writable by this user.
    #[error("{path}: not writable (read-only file system or permissions) while {op}: {source}")]
    ReadOnly {
        /// The file or directory.
        path: PathBuf,
        /// What was being done.
        op: &'static str,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// Another process has the data dir open.
    #[error("{path}: data dir is locked by another process")]
    Locked {
        /// The lock file.
        path: PathBuf,
    },
    /// Any other I/O failure.
    #[error("{path}: {op}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What was being done.
        op: &'static str,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A log record before the tail is damaged: acknowledged data may be lost, so the node
    /// must not start.
    #[error("{path}: corrupt log record at byte offset {offset}: {reason}")]
    CorruptLog {
        /// The log file.
        path: PathBuf,
        /// Byte offset of the bad record.
        offset: u64,
        /// What is wrong with it.
        reason: String,
    },
    /// The hard state or snapshot file is damaged.
    #[error("{path}: corrupt file: {reason}")]
    CorruptFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The term-and-vote file is missing while the log or a snapshot holds data. Starting
    /// with term 0 and no vote would forget the vote this node cast, the door to voting twice
    /// in one term, so the node refuses.
    #[error(
        "{path}: missing, but the data dir holds a log or a snapshot: starting without it would forget this node's vote (and could vote twice in a term). Restore the file from a backup, or rebuild this node from its peers with `raft repair N` (it moves the damaged files aside and keeps the node from voting until it has caught up; emptying the data dir by hand would not)"
    )]
    MissingMeta {
        /// The `meta` file that should be there.
        path: PathBuf,
    },
    /// The log does not continue the snapshot: entries are missing.
    #[error("{path}: log starts at index {first} but the snapshot ends at {snapshot_index}")]
    Gap {
        /// The log file.
        path: PathBuf,
        /// First index in the log.
        first: Index,
        /// Last index of the snapshot (0: none).
        snapshot_index: Index,
    },
    /// An append that does not continue the log (a bug in the caller).
    #[error("{path}: append of index {index} does not follow the last index {last}")]
    NotContiguous {
        /// The log file.
        path: PathBuf,
        /// Index of the offending entry.
        index: Index,
        /// Last index in the log.
        last: Index,
    },
    /// An earlier write or sync failed, so what is on disk is unknown (after a failed fsync
    /// the kernel may have dropped the dirty pages): the node must stop and reopen the data dir.
    #[error("{path}: unusable after an earlier write failure; restart the node")]
    Poisoned {
        /// The data dir.
        path: PathBuf,
    },
    /// An entry too large to frame.
    #[error("{path}: entry {index} is {len} bytes, over the record limit of {max}")]
    EntryTooLarge {
        /// The log file.
        path: PathBuf,
        /// Its index.
        index: Index,
        /// Its payload size.
        len: usize,
        /// The limit.
        max: usize,
    },
}

impl StorageError {
    /// Classifies an I/O error: disk full and read-only get their own variants so that the
    /// runtime can say what is wrong in words.
    pub(crate) fn io(path: impl Into<PathBuf>, op: &'static str, source: io::Error) -> Self {
        let path = path.into();
        match source.kind() {
            io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded => {
                StorageError::DiskFull { path, op, source }
            }
            io::ErrorKind::ReadOnlyFilesystem | io::ErrorKind::PermissionDenied => {
                StorageError::ReadOnly { path, op, source }
            }
            _ => StorageError::Io { path, op, source },
        }
    }
}

/// Something recovery repaired that the runtime should log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecoveryWarning {
    /// The last log record was incomplete or damaged with nothing valid after it: a write that
    /// never finished (so was never acknowledged). The file was cut at `offset`.
    TornTail {
        /// The log file.
        path: PathBuf,
        /// Where the file now ends.
        offset: u64,
        /// How many bytes were cut.
        discarded_bytes: u64,
    },
    /// A temporary file from an interrupted atomic write was removed (the previous version of
    /// the file is intact).
    RemovedTempFile {
        /// The temporary file.
        path: PathBuf,
    },
    /// The log still held entries the snapshot covers (a crash between saving a snapshot and
    /// compacting); they were dropped.
    CompactedAfterSnapshot {
        /// Entries dropped.
        entries: u64,
    },
}

impl fmt::Display for RecoveryWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecoveryWarning::TornTail {
                path,
                offset,
                discarded_bytes,
            } => write!(
                f,
                "{}: torn tail: cut {discarded_bytes} bytes of an unfinished write at byte \
                 offset {offset}",
                path.display()
            ),
            RecoveryWarning::RemovedTempFile { path } => {
                write!(f, "{}: removed leftover temporary file", path.display())
            }
            RecoveryWarning::CompactedAfterSnapshot { entries } => write!(
                f,
                "dropped {entries} log entries already covered by the snapshot"
            ),
        }
    }
}
