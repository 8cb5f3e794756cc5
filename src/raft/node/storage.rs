//! The storage thread (group commit: one `fdatasync` per batch of queued writes) and the
//! snapshot writer that encodes and writes a snapshot off the log's path.

use super::*;

/// Encodes and writes one local snapshot on a thread of its own ([`prepare_snapshot`]) and
/// reports back; neither the event loop nor the log's group commits wait for it.
pub(super) fn spawn_snapshot_writer(
    dir: PathBuf,
    frozen: FrozenState,
    done: std::sync::mpsc::Sender<StorageJob>,
) {
    let spawned = std::thread::Builder::new()
        .name("raft-snapshot".into())
        .spawn({
            let done = done.clone();
            move || {
                let started = Instant::now();
                let snapshot = Snapshot {
                    meta: frozen.meta,
                    data: Arc::new(frozen.kv.snapshot()),
                };
                drop(frozen.kv);
                let result = prepare_snapshot(&dir, snapshot).map_err(|e| e.to_string());
                let _ = done.send(StorageJob::Prepared(result, started.elapsed()));
            }
        });
    if let Err(e) = spawned {
        let _ = done.send(StorageJob::Prepared(
            Err(format!("cannot start the snapshot writer: {e}")),
            Duration::ZERO,
        ));
    }
}

/// Log writes of consecutive jobs merged into one: the last hard state, the lowest truncation
/// that reaches the disk, and the entries that survive later truncations.
#[derive(Default)]
pub(super) struct MergedWrite {
    pub(super) hard_state: Option<crate::raft::message::HardState>,
    pub(super) truncate_from: Option<Index>,
    pub(super) entries: Vec<Entry>,
}

impl MergedWrite {
    pub(super) fn add(&mut self, parts: WriteParts) {
        if parts.hard_state.is_some() {
            self.hard_state = parts.hard_state;
        }
        if let Some(t) = parts.truncate_from {
            match self.entries.first().map(|e| e.index) {
                // The truncation only cuts entries not yet written: drop them from the batch.
                Some(first) if first < t => self.entries.retain(|e| e.index < t),
                // It reaches the disk.
                _ => {
                    self.entries.clear();
                    self.truncate_from = Some(self.truncate_from.map_or(t, |old| old.min(t)));
                }
            }
        }
        self.entries.extend(parts.entries);
    }

    pub(super) fn is_empty(&self) -> bool {
        self.hard_state.is_none() && self.truncate_from.is_none() && self.entries.is_empty()
    }

    /// Writes everything with a single fdatasync for the log.
    pub(super) fn flush(&mut self, storage: &mut Storage) -> Result<(), String> {
        if self.is_empty() {
            return Ok(());
        }
        let m = std::mem::take(self);
        storage
            .persist(m.hard_state, None, m.truncate_from, &m.entries)
            .map_err(|e| e.to_string())
    }
}

pub(super) fn spawn_storage_thread(
    mut storage: Storage,
    inbox: mpsc::UnboundedSender<Input>,
    emitter: Arc<Emitter>,
) -> std::io::Result<std::sync::mpsc::Sender<StorageJob>> {
    let (tx, rx) = std::sync::mpsc::channel::<StorageJob>();
    std::thread::Builder::new()
        .name("raft-storage".into())
        .spawn(move || {
            // At most one local snapshot is being written; a newer one waits (and replaces an
            // older one that was waiting).
            let mut writing = false;
            let mut waiting: Option<(FrozenState, std::sync::mpsc::Sender<StorageJob>)> = None;
            while let Ok(first) = rx.recv() {
                // Group commit: every job queued while the last fdatasync ran shares the next.
                let mut jobs = vec![first];
                while let Ok(more) = rx.try_recv() {
                    jobs.push(more);
                }
                let mut last = None;
                let mut messages = Vec::new();
                let mut merged = MergedWrite::default();
                let result: Result<(), String> = (|| {
                    for job in jobs {
                        match job {
                            StorageJob::Write {
                                mut ready_parts,
                                messages: m,
                            } => {
                                if let Some(snap) = ready_parts.snapshot.take() {
                                    // Snapshots replace the log: write what came before first.
                                    merged.flush(&mut storage)?;
                                    storage.save_snapshot(&snap).map_err(|e| e.to_string())?;
                                    last = Some((snap.meta.last_index, snap.meta.last_term));
                                }
                                if let Some(e) = ready_parts.entries.last() {
                                    last = Some((e.index, e.term));
                                }
                                merged.add(ready_parts);
                                messages.extend(m);
                            }
                            StorageJob::Compact(snap, done) => {
                                if writing {
                                    waiting = Some((snap, done));
                                } else {
                                    writing = true;
                                    spawn_snapshot_writer(storage.dir().to_path_buf(), snap, done);
                                }
                            }
                            StorageJob::Prepared(prepared, written_in) => {
                                // The log must hold what came before the compaction point.
                                merged.flush(&mut storage)?;
                                let prepared = prepared?;
                                let (index, bytes) = (prepared.last_index(), prepared.data_len());
                                let started = Instant::now();
                                let installed = storage
                                    .install_prepared(prepared)
                                    .map_err(|e| e.to_string())?;
                                if let Some(snapshot) = installed {
                                    emitter.log(
                                        "info",
                                        format!(
                                            "snapshot at index {index} on disk ({bytes} bytes): \
                                             encoded, written and synced in {:.1} ms beside \
                                             the log; renamed and the log compacted in {:.1} ms",
                                            written_in.as_secs_f64() * 1e3,
                                            started.elapsed().as_secs_f64() * 1e3
                                        ),
                                    );
                                    let _ = inbox.send(Input::SnapshotStored(snapshot));
                                }
                                writing = false;
                                if let Some((snap, done)) = waiting.take() {
                                    writing = true;
                                    spawn_snapshot_writer(storage.dir().to_path_buf(), snap, done);
                                }
                            }
                        }
                    }
                    merged.flush(&mut storage)
                })();
                if let Err(e) = result {
                    // Nothing that depended on this write was acknowledged: stop here rather
                    // than run on with a log we cannot trust.
                    emitter.emit(&NodeEvent::Fatal {
                        msg: format!("storage failure: {e}"),
                    });
                    std::process::exit(3);
                }
                if inbox
                    .send(Input::Persisted(Persisted { last, messages }))
                    .is_err()
                {
                    return;
                }
            }
        })?;
    Ok(tx)
}
