//! Durable storage for one Raft node's data dir, with plain synchronous `std::fs` calls (the
//! runtime calls it from a dedicated thread).
//!
//! A data dir holds:
//! - `log`: the entries after the snapshot, CRC-framed records appended in batches with one
//!   `fdatasync` per batch (see `wal.rs`);
//! - `meta`: term and vote (see `meta.rs`);
//! - `snapshot`: the latest state-machine snapshot (see `snapshot.rs`);
//! - `lock`: held with `flock` while a process uses the dir.
//!
//! `meta` and `snapshot` are replaced atomically: write a temporary file, `fsync` it, rename it
//! over the old one, `fsync` the directory. A snapshot the node takes itself is written and
//! synced on a thread of its own ([`prepare_snapshot`]), so the log's group commits go on
//! meanwhile; only the rename is on the log's path ([`Storage::install_prepared`]). After a
//! snapshot is in place the log is compacted: the records after the snapshot are copied to a
//! temporary log that replaces the old one. Few entries are past the snapshot by then, so the
//! copy is small; a segmented log would avoid even that, at the price of more files to keep
//! consistent.
//!
//! After a failed write or sync, a `Storage` refuses further writes
//! ([`StorageError::Poisoned`]): once an fsync has failed, what reached the disk is unknown, so
//! the node must stop and recover from the files.
//!
//! A crash at any point leaves a state [`Storage::open`] accepts: a torn log tail is cut (and
//! reported as a [`RecoveryWarning`]), leftover temporary files are removed, entries the
//! snapshot already covers are dropped. Damage that could hide acknowledged data is an error
//! naming the file and offset.

mod error;
pub(crate) mod meta;
mod snapshot;
#[cfg(test)]
mod tests;
mod wal;

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

pub use self::error::{RecoveryWarning, StorageError};
pub use self::wal::MAX_RECORD;
use self::wal::Wal;
use super::core::{Ready, Restored};
use super::message::{Entry, HardState, Index, Snapshot, SnapshotMeta};

const LOG_FILE: &str = "log";
const META_FILE: &str = "meta";
const SNAPSHOT_FILE: &str = "snapshot";
const LOCK_FILE: &str = "lock";
/// A local snapshot being written off the log's path (see [`prepare_snapshot`]).
const SNAPSHOT_NEXT_FILE: &str = "snapshot.next";

/// One node's durable state. See the module docs.
#[derive(Debug)]
pub struct Storage {
    dir: PathBuf,
    wal: Wal,
    hard_state: HardState,
    snapshot: Option<Snapshot>,
    warnings: Vec<RecoveryWarning>,
    /// A write failed: refuse further writes (see [`StorageError::Poisoned`]).
    poisoned: bool,
    /// Held for the life of the value: a second process on the same dir would corrupt it.
    _lock: File,
}

impl Storage {
    /// Opens the data dir `dir` (creating it if needed), checks and repairs what a crash may
    /// have left, and locks it against other processes.
    pub fn open(dir: &Path) -> Result<Storage, StorageError> {
        Storage::open_checked(dir, &|_| Ok(()))
    }

    /// [`Storage::open`], with the snapshot's contents checked by `check_snapshot` (the state
    /// machine decodes it) *before* anything on disk changes: a snapshot that passes its own
    /// CRC but whose state does not decode must not compact away the log entries it claims to
    /// cover (issue 11, item 5). A failed check is [`StorageError::CorruptFile`] naming it.
    pub fn open_checked(
        dir: &Path,
        check_snapshot: &dyn Fn(&Snapshot) -> Result<(), String>,
    ) -> Result<Storage, StorageError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| StorageError::io(dir, "creating the data dir", e))?;
        let lock_path = dir.join(LOCK_FILE);
        let lock = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_path)
            .map_err(|e| StorageError::io(&lock_path, "opening the lock file", e))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(StorageError::Locked { path: lock_path });
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(StorageError::io(&lock_path, "locking the data dir", e));
            }
        }
        let mut warnings = Vec::new();
        let temporaries = [LOG_FILE, META_FILE, SNAPSHOT_FILE]
            .map(|name| dir.join(name).with_extension("tmp"))
            .into_iter()
            .chain([dir.join(SNAPSHOT_NEXT_FILE)]);
        for tmp in temporaries {
            if tmp.exists() {
                std::fs::remove_file(&tmp)
                    .map_err(|e| StorageError::io(&tmp, "removing a temporary file", e))?;
                warnings.push(RecoveryWarning::RemovedTempFile { path: tmp });
            }
        }
        let meta_path = dir.join(META_FILE);
        let stored_meta = match read_optional(&meta_path)? {
            Some(bytes) => Some(meta::decode(&meta_path, &bytes)?),
            None => None,
        };
        let snapshot_path = dir.join(SNAPSHOT_FILE);
        let snapshot = match read_optional(&snapshot_path)? {
            Some(bytes) => Some(snapshot::decode(&snapshot_path, &bytes)?),
            None => None,
        };
        if let Some(s) = &snapshot {
            check_snapshot(s).map_err(|reason| StorageError::CorruptFile {
                path: snapshot_path.clone(),
                reason: format!("its state does not decode ({reason}); nothing was changed"),
            })?;
        }
        let snapshot_index = snapshot.as_ref().map_or(0, |s| s.meta.last_index);
        let (mut wal, torn) = Wal::open(&dir.join(LOG_FILE), snapshot_index)?;
        warnings.extend(torn);
        // A fresh data dir gets its `meta` now, before any entry; from then on the hard state
        // is written before anything that depends on it (see `persist`), so a log or snapshot
        // without it is damage, not a crash point.
        let hard_state = match stored_meta {
            Some(h) => h,
            None if snapshot.is_some() || wal.first_index().is_some() => {
                return Err(StorageError::MissingMeta { path: meta_path });
            }
            None => {
                let fresh = HardState::default();
                write_atomic(
                    dir,
                    &meta_path.with_extension("tmp"),
                    &meta_path,
                    &meta::encode(&fresh),
                )?;
                fresh
            }
        };
        if let Some(first) = wal.first_index() {
            if first > snapshot_index + 1 {
                return Err(StorageError::Gap {
                    path: wal.path().to_path_buf(),
                    first,
                    snapshot_index,
                });
            }
            if first <= snapshot_index {
                let entries = wal.compact_through(snapshot_index, dir)?;
                warnings.push(RecoveryWarning::CompactedAfterSnapshot { entries });
            }
        }
        Ok(Storage {
            dir: dir.to_path_buf(),
            wal,
            hard_state,
            snapshot,
            warnings,
            poisoned: false,
            _lock: lock,
        })
    }

    /// What [`Storage::open`] repaired, for the runtime to log.
    pub fn warnings(&self) -> &[RecoveryWarning] {
        &self.warnings
    }

    /// The data dir.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Everything needed to start a [`crate::raft::core::RaftCore`]: hard state, snapshot and
    /// the entries after it (read back from the log file).
    pub fn recover(&self) -> Result<Restored, StorageError> {
        let after = self.snapshot_meta().map_or(0, |m| m.last_index);
        Ok(Restored {
            hard_state: self.hard_state,
            snapshot: self.snapshot.clone(),
            entries: self.wal.read_entries(after)?,
        })
    }

    /// The stored term and vote.
    pub fn hard_state(&self) -> HardState {
        self.hard_state
    }

    /// Where the stored snapshot ends, if there is one.
    pub fn snapshot_meta(&self) -> Option<SnapshotMeta> {
        self.snapshot.as_ref().map(|s| s.meta)
    }

    /// Index of the last stored entry (the snapshot's when the log is empty, 0 when there is
    /// neither).
    pub fn last_index(&self) -> Index {
        self.wal
            .last_index()
            .unwrap_or_else(|| self.snapshot_meta().map_or(0, |m| m.last_index))
    }

    /// Appends `entries` (which must follow [`Storage::last_index`]) and makes them durable:
    /// one write and one `fdatasync` for the whole batch.
    pub fn append(&mut self, entries: &[Entry]) -> Result<(), StorageError> {
        self.persist(None, None, None, entries)
    }

    /// Durably drops the stored entries with index >= `index` (`ftruncate` + `fdatasync`).
    pub fn truncate_from(&mut self, index: Index) -> Result<(), StorageError> {
        self.persist(None, None, Some(index), &[])
    }

    /// Replaces the stored term and vote atomically.
    pub fn set_hard_state(&mut self, hard_state: HardState) -> Result<(), StorageError> {
        self.check_usable()?;
        if hard_state == self.hard_state {
            return Ok(());
        }
        let path = self.dir.join(META_FILE);
        let written = write_atomic(
            &self.dir,
            &path.with_extension("tmp"),
            &path,
            &meta::encode(&hard_state),
        );
        self.poison_on_error(written)?;
        self.hard_state = hard_state;
        Ok(())
    }

    /// Replaces the stored snapshot atomically, then compacts the log: entries after the
    /// snapshot are kept, the others dropped. A snapshot not newer than the stored one is
    /// ignored.
    pub fn save_snapshot(&mut self, snapshot: &Snapshot) -> Result<(), StorageError> {
        self.check_usable()?;
        let last_index = snapshot.meta.last_index;
        if self
            .snapshot_meta()
            .is_some_and(|m| m.last_index >= last_index)
        {
            return Ok(());
        }
        let path = self.dir.join(SNAPSHOT_FILE);
        let written = write_atomic(
            &self.dir,
            &path.with_extension("tmp"),
            &path,
            &snapshot::encode(snapshot),
        );
        self.poison_on_error(written)?;
        self.snapshot = Some(snapshot.clone());
        let compacted = self.wal.compact_through(last_index, &self.dir).map(|_| ());
        self.poison_on_error(compacted)
    }

    /// Puts a snapshot written by [`prepare_snapshot`] in place (rename, directory `fsync`)
    /// and compacts the log through it; if a newer snapshot was stored meanwhile (one sent by
    /// the leader), the prepared file is removed instead. Returns the snapshot when it was put
    /// in place.
    pub fn install_prepared(
        &mut self,
        prepared: PreparedSnapshot,
    ) -> Result<Option<Snapshot>, StorageError> {
        self.check_usable()?;
        let last_index = prepared.snapshot.meta.last_index;
        if self
            .snapshot_meta()
            .is_some_and(|m| m.last_index >= last_index)
        {
            return std::fs::remove_file(&prepared.path)
                .map(|()| None)
                .map_err(|e| StorageError::io(&prepared.path, "removing a stale snapshot", e));
        }
        let path = self.dir.join(SNAPSHOT_FILE);
        let placed = std::fs::rename(&prepared.path, &path)
            .map_err(|e| StorageError::io(&path, "renaming into place", e))
            .and_then(|()| {
                File::open(&self.dir)
                    .and_then(|d| d.sync_all())
                    .map_err(|e| StorageError::io(&self.dir, "syncing the directory", e))
            });
        self.poison_on_error(placed)?;
        self.snapshot = Some(prepared.snapshot.clone());
        let compacted = self.wal.compact_through(last_index, &self.dir).map(|_| ());
        self.poison_on_error(compacted)?;
        Ok(Some(prepared.snapshot))
    }

    /// Persists the write part of a [`Ready`] in the order that keeps every crash point
    /// recoverable: snapshot, hard state, truncation, append; the log changes share one
    /// `fdatasync`. When this returns, everything is durable.
    pub fn persist(
        &mut self,
        hard_state: Option<HardState>,
        snapshot: Option<&Snapshot>,
        truncate_from: Option<Index>,
        entries: &[Entry],
    ) -> Result<(), StorageError> {
        self.check_usable()?;
        if let Some(snapshot) = snapshot {
            self.save_snapshot(snapshot)?;
        }
        if let Some(hard_state) = hard_state {
            self.set_hard_state(hard_state)?;
        }
        if let Some(first) = entries.first() {
            let snapshot_index = self.snapshot_meta().map_or(0, |m| m.last_index);
            let last = match truncate_from {
                Some(index) => self
                    .last_index()
                    .min(index.saturating_sub(1))
                    .max(snapshot_index),
                None => self.last_index(),
            };
            if first.index != last + 1 {
                return Err(StorageError::NotContiguous {
                    path: self.wal.path().to_path_buf(),
                    index: first.index,
                    last,
                });
            }
        }
        let written = self.write_log(truncate_from, entries);
        self.poison_on_error(written)
    }

    /// Truncation and append with one sync (the log part of [`Storage::persist`]).
    fn write_log(
        &mut self,
        truncate_from: Option<Index>,
        entries: &[Entry],
    ) -> Result<(), StorageError> {
        let mut dirty = false;
        if let Some(index) = truncate_from {
            dirty |= self.wal.truncate(index)?;
        }
        if !entries.is_empty() {
            self.wal.write(entries)?;
            dirty = true;
        }
        if dirty {
            self.wal.sync()?;
        }
        Ok(())
    }

    fn check_usable(&self) -> Result<(), StorageError> {
        if self.poisoned {
            return Err(StorageError::Poisoned {
                path: self.dir.clone(),
            });
        }
        Ok(())
    }

    /// Passes `result` through, remembering a failure: after a failed write or fsync the state
    /// of the files is unknown, so no later write may be acknowledged.
    fn poison_on_error<T>(&mut self, result: Result<T, StorageError>) -> Result<T, StorageError> {
        if let Err(
            StorageError::Io { .. } | StorageError::DiskFull { .. } | StorageError::ReadOnly { .. },
        ) = &result
        {
            self.poisoned = true;
        }
        result
    }

    /// [`Storage::persist`] for a whole [`Ready`] (its messages and committed entries are
    /// ignored). Then call `RaftCore::on_persisted` with [`Ready::persist_point`].
    pub fn persist_ready(&mut self, ready: &Ready) -> Result<(), StorageError> {
        self.persist(
            ready.hard_state,
            ready.snapshot.as_ref(),
            ready.truncate_from,
            &ready.entries,
        )
    }
}

/// Reads a whole file, `None` if it does not exist.
fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, StorageError> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(StorageError::io(path, "reading", e)),
    }
}

/// A node's own snapshot, encoded and synced to a file of its own in the data dir, waiting
/// for [`Storage::install_prepared`].
#[derive(Debug)]
pub struct PreparedSnapshot {
    snapshot: Snapshot,
    path: PathBuf,
}

impl PreparedSnapshot {
    /// The snapshot's last index.
    pub fn last_index(&self) -> Index {
        self.snapshot.meta.last_index
    }

    /// Its encoded size in bytes (the state machine's part).
    pub fn data_len(&self) -> usize {
        self.snapshot.data.len()
    }
}

/// The slow part of saving a snapshot the node took itself: encode it, write it to
/// `snapshot.next` in `dir` and `fsync` it. It touches neither the log nor the current
/// snapshot, so it runs on a thread of its own while the log keeps taking appends (a large
/// state no longer stalls every write behind one big `fsync`); [`Storage::install_prepared`]
/// then renames it into place. One at a time per data dir; a crash before the rename leaves a
/// temporary file that [`Storage::open`] removes.
pub fn prepare_snapshot(dir: &Path, snapshot: Snapshot) -> Result<PreparedSnapshot, StorageError> {
    let path = dir.join(SNAPSHOT_NEXT_FILE);
    let mut file = File::create(&path).map_err(|e| StorageError::io(&path, "creating", e))?;
    file.write_all(&snapshot::encode(&snapshot))
        .and_then(|()| file.sync_all())
        .map_err(|e| {
            let _ = std::fs::remove_file(&path);
            StorageError::io(&path, "writing", e)
        })?;
    Ok(PreparedSnapshot { snapshot, path })
}

/// Replaces `path` with `bytes` so that a crash leaves either the old or the new contents:
/// write `tmp`, `fsync` it, rename it over `path`, `fsync` the directory `dir`.
pub(crate) fn write_atomic(
    dir: &Path,
    tmp: &Path,
    path: &Path,
    bytes: &[u8],
) -> Result<(), StorageError> {
    let mut file = File::create(tmp).map_err(|e| StorageError::io(tmp, "creating", e))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| {
            let _ = std::fs::remove_file(tmp);
            StorageError::io(tmp, "writing", e)
        })?;
    drop(file);
    std::fs::rename(tmp, path).map_err(|e| StorageError::io(path, "renaming into place", e))?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StorageError::io(dir, "syncing the directory", e))
}
