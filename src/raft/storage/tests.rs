//! Storage tests: round trips, crash leftovers (torn tails, temporary files), corruption that
//! must stop recovery, and snapshot compaction.

use std::fs::OpenOptions;
use std::io::Write;
use std::sync::Arc;

use super::*;
use crate::raft::message::EntryKind;

fn entry(index: Index, term: u64) -> Entry {
    Entry {
        term,
        index,
        kind: if index.is_multiple_of(5) {
            EntryKind::Noop
        } else {
            EntryKind::Normal
        },
        data: format!("value-{index}").into_bytes(),
    }
}

fn entries(from: Index, to: Index, term: u64) -> Vec<Entry> {
    (from..=to).map(|i| entry(i, term)).collect()
}

fn snapshot(last_index: Index, last_term: u64) -> Snapshot {
    Snapshot {
        meta: SnapshotMeta {
            last_index,
            last_term,
        },
        data: Arc::new(format!("state@{last_index}").into_bytes()),
    }
}

/// Appends raw bytes to the log file, as a crash in the middle of a write would leave them.
fn append_raw(dir: &Path, bytes: &[u8]) {
    let mut f = OpenOptions::new()
        .append(true)
        .open(dir.join(LOG_FILE))
        .unwrap_or_else(|e| panic!("open log: {e}"));
    f.write_all(bytes)
        .unwrap_or_else(|e| panic!("write log: {e}"));
}

fn open(dir: &Path) -> Storage {
    Storage::open(dir).unwrap_or_else(|e| panic!("open: {e}"))
}

fn recover(storage: &Storage) -> Restored {
    storage.recover().unwrap_or_else(|e| panic!("recover: {e}"))
}

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"))
}

#[test]
fn entries_and_hard_state_survive_a_restart() {
    let dir = tempdir();
    {
        let mut s = open(dir.path());
        assert_eq!(recover(&s), Restored::default());
        s.append(&entries(1, 10, 1))
            .unwrap_or_else(|e| panic!("{e}"));
        s.set_hard_state(HardState {
            term: 3,
            vote: Some(2),
        })
        .unwrap_or_else(|e| panic!("{e}"));
    }
    let s = open(dir.path());
    assert!(s.warnings().is_empty());
    let r = recover(&s);
    assert_eq!(r.entries, entries(1, 10, 1));
    assert_eq!(
        r.hard_state,
        HardState {
            term: 3,
            vote: Some(2)
        }
    );
    assert_eq!(s.last_index(), 10);
}

#[test]
fn torn_tail_half_record_is_truncated_with_a_warning() {
    let dir = tempdir();
    {
        let mut s = open(dir.path());
        s.append(&entries(1, 5, 1))
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let good_len = std::fs::metadata(dir.path().join(LOG_FILE))
        .map(|m| m.len())
        .unwrap_or(0);
    // Half of a record: a plausible header and part of its payload.
    let mut full = Vec::new();
    wal_encode(&entry(6, 1), &mut full);
    append_raw(dir.path(), &full[..full.len() / 2]);
    let mut s = open(dir.path());
    assert_eq!(
        s.warnings(),
        &[RecoveryWarning::TornTail {
            path: dir.path().join(LOG_FILE),
            offset: good_len,
            discarded_bytes: (full.len() / 2) as u64,
        }]
    );
    assert_eq!(recover(&s).entries, entries(1, 5, 1));
    // The log continues cleanly after the cut.
    s.append(&entries(6, 7, 2))
        .unwrap_or_else(|e| panic!("{e}"));
    drop(s);
    let s = open(dir.path());
    assert!(s.warnings().is_empty());
    assert_eq!(recover(&s).entries.len(), 7);
}

#[test]
fn torn_tail_garbage_and_bad_last_crc_are_truncated() {
    for garbage in [vec![0u8; 3], vec![0u8; 64], vec![0xff; 40]] {
        let dir = tempdir();
        {
            let mut s = open(dir.path());
            s.append(&entries(1, 3, 1))
                .unwrap_or_else(|e| panic!("{e}"));
        }
        append_raw(dir.path(), &garbage);
        let s = open(dir.path());
        assert_eq!(s.warnings().len(), 1, "{garbage:?}");
        assert_eq!(recover(&s).entries, entries(1, 3, 1));
    }
}

#[test]
fn a_flipped_byte_in_the_last_complete_record_is_corruption_not_a_torn_tail() {
    // The record was written whole and fsynced (its entry may have been acknowledged): a CRC
    // mismatch there is damage to report, never an unfinished write to cut silently.
    let dir = tempdir();
    {
        let mut s = open(dir.path());
        s.append(&entries(1, 3, 1))
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let path = dir.path().join(LOG_FILE);
    let mut bytes = std::fs::read(&path).unwrap_or_default();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x55;
    std::fs::write(&path, &bytes).unwrap_or_else(|e| panic!("{e}"));
    match Storage::open(dir.path()) {
        Err(StorageError::CorruptLog { reason, .. }) => {
            assert!(reason.contains("CRC mismatch"), "{reason}")
        }
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("a corrupt last record was accepted"),
    }
    // The file is left as it was, for inspection or repair.
    assert_eq!(std::fs::read(&path).unwrap_or_default(), bytes);
}

#[test]
fn a_zero_filled_tail_is_an_unfinished_write() {
    // A file extended over a region that was never written reads as zeros; with a length
    // field that fits, that is a whole "record" of zeros: torn, not corrupt.
    let dir = tempdir();
    {
        let mut s = open(dir.path());
        s.append(&entries(1, 3, 1))
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let mut zeros = vec![0u8; 64];
    zeros[3] = 30; // a plausible length, then zeros for CRC and payload
    append_raw(dir.path(), &zeros);
    let s = open(dir.path());
    assert_eq!(s.warnings().len(), 1);
    assert_eq!(recover(&s).entries, entries(1, 3, 1));
}

#[test]
fn crc_corruption_mid_file_is_an_error_naming_the_offset() {
    let dir = tempdir();
    {
        let mut s = open(dir.path());
        s.append(&entries(1, 10, 1))
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let path = dir.path().join(LOG_FILE);
    let mut bytes = std::fs::read(&path).unwrap_or_default();
    // Offset of record 4: records 1..=3 before it.
    let mut prefix = Vec::new();
    for e in entries(1, 3, 1) {
        wal_encode(&e, &mut prefix);
    }
    let offset = prefix.len();
    bytes[offset + 20] ^= 0x01; // inside record 4's payload
    std::fs::write(&path, &bytes).unwrap_or_else(|e| panic!("{e}"));
    match Storage::open(dir.path()) {
        Err(StorageError::CorruptLog {
            path: p,
            offset: o,
            reason,
        }) => {
            assert_eq!(p, path);
            assert_eq!(o, offset as u64);
            assert!(reason.contains("CRC"), "{reason}");
            let msg = StorageError::CorruptLog {
                path: p,
                offset: o,
                reason,
            }
            .to_string();
            assert!(msg.contains(&format!("byte offset {offset}")), "{msg}");
        }
        other => panic!("expected a corruption error, got {other:?}"),
    }
    // The file is left untouched for inspection.
    assert_eq!(std::fs::read(&path).unwrap_or_default(), bytes);
}

#[test]
fn oversized_length_mid_file_is_corruption_not_an_allocation() {
    let dir = tempdir();
    {
        let mut s = open(dir.path());
        s.append(&entries(1, 4, 1))
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let path = dir.path().join(LOG_FILE);
    let mut bytes = std::fs::read(&path).unwrap_or_default();
    bytes[0..4].copy_from_slice(&u32::MAX.to_be_bytes());
    std::fs::write(&path, &bytes).unwrap_or_else(|e| panic!("{e}"));
    match Storage::open(dir.path()) {
        Err(StorageError::CorruptLog { offset, reason, .. }) => {
            assert_eq!(offset, 0);
            assert!(reason.contains("maximum"), "{reason}");
        }
        other => panic!("expected a corruption error, got {other:?}"),
    }
}

#[test]
fn truncate_then_append_replaces_the_suffix() {
    let dir = tempdir();
    {
        let mut s = open(dir.path());
        s.append(&entries(1, 10, 1))
            .unwrap_or_else(|e| panic!("{e}"));
        s.truncate_from(6).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.last_index(), 5);
        s.append(&entries(6, 8, 2))
            .unwrap_or_else(|e| panic!("{e}"));
        // Or in one persist, as a Ready does it.
        s.persist(None, None, Some(8), &entries(8, 9, 3))
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let s = open(dir.path());
    let r = recover(&s);
    let mut expected = entries(1, 5, 1);
    expected.extend(entries(6, 7, 2));
    expected.extend(entries(8, 9, 3));
    assert_eq!(r.entries, expected);
}

#[test]
fn append_that_leaves_a_gap_is_refused() {
    let dir = tempdir();
    let mut s = open(dir.path());
    s.append(&entries(1, 3, 1))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(
        s.append(&entries(5, 6, 1)),
        Err(StorageError::NotContiguous {
            index: 5,
            last: 3,
            ..
        })
    ));
    assert!(s.append(&entries(1, 1, 1)).is_err());
}

#[test]
fn hard_state_is_replaced_atomically_and_damage_is_an_error() {
    let dir = tempdir();
    {
        let mut s = open(dir.path());
        for term in 1..=5 {
            s.set_hard_state(HardState {
                term,
                vote: Some(term % 3 + 1),
            })
            .unwrap_or_else(|e| panic!("{e}"));
        }
    }
    // A crash between writing the temporary file and the rename leaves the old value.
    std::fs::write(dir.path().join("meta.tmp"), b"half-written").unwrap_or_else(|e| panic!("{e}"));
    {
        let s = open(dir.path());
        assert_eq!(
            s.hard_state(),
            HardState {
                term: 5,
                vote: Some(3)
            }
        );
        assert!(matches!(
            s.warnings(),
            [RecoveryWarning::RemovedTempFile { .. }]
        ));
    }
    assert!(!dir.path().join("meta.tmp").exists());
    let meta = dir.path().join(META_FILE);
    let mut bytes = std::fs::read(&meta).unwrap_or_default();
    bytes[6] ^= 0x10;
    std::fs::write(&meta, &bytes).unwrap_or_else(|e| panic!("{e}"));
    match Storage::open(dir.path()) {
        Err(StorageError::CorruptFile { path, .. }) => assert_eq!(path, meta),
        other => panic!("expected a corrupt meta error, got {other:?}"),
    }
}

#[test]
fn snapshot_and_compaction_survive_recovery() {
    let dir = tempdir();
    {
        let mut s = open(dir.path());
        s.append(&entries(1, 20, 1))
            .unwrap_or_else(|e| panic!("{e}"));
        s.save_snapshot(&snapshot(15, 1))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.last_index(), 20);
        s.append(&entries(21, 22, 2))
            .unwrap_or_else(|e| panic!("{e}"));
        // An older snapshot is ignored.
        s.save_snapshot(&snapshot(10, 1))
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let log_len = std::fs::metadata(dir.path().join(LOG_FILE))
        .map(|m| m.len())
        .unwrap_or(0);
    let mut expected_bytes = Vec::new();
    for e in entries(16, 20, 1).iter().chain(&entries(21, 22, 2)) {
        wal_encode(e, &mut expected_bytes);
    }
    assert_eq!(
        log_len,
        expected_bytes.len() as u64,
        "the log was compacted"
    );
    let s = open(dir.path());
    let r = recover(&s);
    assert_eq!(r.snapshot, Some(snapshot(15, 1)));
    let mut expected = entries(16, 20, 1);
    expected.extend(entries(21, 22, 2));
    assert_eq!(r.entries, expected);
}

#[test]
fn installed_snapshot_past_the_log_empties_it() {
    let dir = tempdir();
    {
        let mut s = open(dir.path());
        s.append(&entries(1, 5, 1))
            .unwrap_or_else(|e| panic!("{e}"));
        // A follower installs a leader's snapshot and drops its conflicting tail, as a Ready
        // with a snapshot and truncate_from = last_index + 1 asks for.
        s.persist(None, Some(&snapshot(30, 4)), Some(31), &entries(31, 32, 4))
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let s = open(dir.path());
    let r = recover(&s);
    assert_eq!(r.snapshot.map(|x| x.meta.last_index), Some(30));
    assert_eq!(r.entries, entries(31, 32, 4));
}

#[test]
fn installed_snapshot_with_an_earlier_truncation_point_is_accepted() {
    let dir = tempdir();
    let mut s = open(dir.path());
    s.append(&entries(1, 8, 1))
        .unwrap_or_else(|e| panic!("{e}"));
    // A conflict truncated the follower's log at 3, then a snapshot at 6 (which the log does
    // not match) arrived before the Ready was taken: both land in one persist.
    s.persist(None, Some(&snapshot(6, 2)), Some(3), &entries(7, 9, 2))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(recover(&s).entries, entries(7, 9, 2));
}

#[test]
fn an_io_failure_poisons_the_storage_until_reopened() {
    let dir = tempdir();
    let mut s = open(dir.path());
    let failed: Result<(), StorageError> = Err(StorageError::io(
        dir.path(),
        "syncing the log",
        std::io::Error::from_raw_os_error(libc::EIO),
    ));
    assert!(s.poison_on_error(failed).is_err());
    assert!(matches!(
        s.append(&entries(1, 1, 1)),
        Err(StorageError::Poisoned { .. })
    ));
    drop(s);
    let mut s = open(dir.path());
    s.append(&entries(1, 1, 1))
        .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn crash_between_snapshot_and_compaction_is_repaired() {
    let dir = tempdir();
    {
        let mut s = open(dir.path());
        s.append(&entries(1, 8, 1))
            .unwrap_or_else(|e| panic!("{e}"));
    }
    // The snapshot file is in place but the log was not rewritten yet.
    std::fs::write(
        dir.path().join(SNAPSHOT_FILE),
        snapshot::encode(&snapshot(5, 1)),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(dir.path().join("log.tmp"), b"partial copy").unwrap_or_else(|e| panic!("{e}"));
    let s = open(dir.path());
    assert!(
        s.warnings()
            .contains(&RecoveryWarning::CompactedAfterSnapshot { entries: 5 })
    );
    assert_eq!(recover(&s).entries, entries(6, 8, 1));
}

#[test]
fn log_that_does_not_follow_the_snapshot_is_an_error() {
    let dir = tempdir();
    {
        let mut s = open(dir.path());
        s.persist(None, Some(&snapshot(10, 1)), None, &entries(11, 12, 1))
            .unwrap_or_else(|e| panic!("{e}"));
    }
    std::fs::remove_file(dir.path().join(SNAPSHOT_FILE)).unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(
        Storage::open(dir.path()),
        Err(StorageError::Gap {
            first: 11,
            snapshot_index: 0,
            ..
        })
    ));
}

#[test]
fn a_second_process_cannot_open_a_locked_data_dir() {
    let dir = tempdir();
    let _first = open(dir.path());
    assert!(matches!(
        Storage::open(dir.path()),
        Err(StorageError::Locked { .. })
    ));
}

#[test]
fn disk_full_and_read_only_errors_say_so() {
    let full = StorageError::io(
        "/data/log",
        "appending to the log",
        std::io::Error::from_raw_os_error(libc::ENOSPC),
    );
    assert!(matches!(full, StorageError::DiskFull { .. }));
    assert!(
        full.to_string().starts_with("/data/log: disk full"),
        "{full}"
    );
    let ro = StorageError::io(
        "/data",
        "creating the data dir",
        std::io::Error::from_raw_os_error(libc::EROFS),
    );
    assert!(matches!(ro, StorageError::ReadOnly { .. }));
    assert!(ro.to_string().contains("not writable"), "{ro}");
}

#[test]
fn writing_to_a_full_device_reports_disk_full() {
    // /dev/full accepts opens and fails every write with ENOSPC.
    let Ok(mut file) = OpenOptions::new().write(true).open("/dev/full") else {
        println!("skipped: /dev/full is not available");
        return;
    };
    let err = file
        .write_all(b"x")
        .and_then(|()| file.flush())
        .err()
        .map(|e| StorageError::io("/dev/full", "writing", e));
    assert!(
        matches!(err, Some(StorageError::DiskFull { .. })),
        "{err:?}"
    );
}

#[test]
fn recovered_state_restarts_a_core() {
    use crate::raft::core::{Config, RaftCore};
    let dir = tempdir();
    {
        let mut s = open(dir.path());
        s.persist(
            Some(HardState {
                term: 2,
                vote: Some(1),
            }),
            Some(&snapshot(4, 1)),
            None,
            &entries(5, 9, 2),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    }
    let s = open(dir.path());
    let core = RaftCore::new(Config::new(1, vec![1, 2, 3]), recover(&s));
    let status = core.status();
    assert_eq!(status.term, 2);
    assert_eq!(status.snapshot_index, 4);
    assert_eq!(status.last_index, 9);
    assert_eq!(status.commit, 4);
}

/// The log record encoding, for building expected file contents.
fn wal_encode(entry: &Entry, out: &mut Vec<u8>) {
    wal::encode_for_tests(entry, out);
}

mod model {
    //! Property: whatever sequence of persists, snapshots and restarts, the storage recovers
    //! exactly what a simple in-memory model holds.

    use proptest::prelude::*;

    use super::*;

    #[derive(Clone, Debug)]
    enum Op {
        /// Truncate at `last - back` (if `back` is set), then append `count` entries of `term`.
        Persist {
            back: Option<u64>,
            count: u64,
            term: u64,
            vote: Option<u64>,
        },
        /// Snapshot `back` entries before the end.
        Snapshot { back: u64 },
        /// Close and reopen.
        Reopen,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (
                proptest::option::of(0u64..6),
                0u64..8,
                1u64..4,
                proptest::option::of(1u64..4)
            )
                .prop_map(|(back, count, term, vote)| Op::Persist {
                    back,
                    count,
                    term,
                    vote
                }),
            1 => (0u64..4).prop_map(|back| Op::Snapshot { back }),
            1 => Just(Op::Reopen),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn storage_recovers_what_a_model_holds(ops in proptest::collection::vec(op(), 1..40)) {
            let dir = tempdir();
            let mut storage = Some(open(dir.path()));
            let mut model_entries: Vec<Entry> = Vec::new();
            let mut model_snapshot: Option<Snapshot> = None;
            let mut model_hs = HardState::default();
            let mut term_floor = 1;
            for op in ops {
                let s = storage.as_mut().ok_or_else(|| TestCaseError::fail("closed"))?;
                let snap_index = model_snapshot.as_ref().map_or(0, |x| x.meta.last_index);
                let last = model_entries.last().map_or(snap_index, |e| e.index);
                match op {
                    Op::Persist { back, count, term, vote } => {
                        let truncate = back
                            .map(|b| last.saturating_sub(b) + 1)
                            .filter(|t| *t > snap_index);
                        let mut start = last + 1;
                        if let Some(t) = truncate {
                            model_entries.retain(|e| e.index < t);
                            start = t;
                        }
                        term_floor = term_floor.max(term);
                        let new = entries(start, start + count - 1, term_floor)
                            .into_iter()
                            .take(count as usize)
                            .collect::<Vec<_>>();
                        let hs = HardState { term: term_floor, vote };
                        s.persist(Some(hs), None, truncate, &new)
                            .map_err(|e| TestCaseError::fail(e.to_string()))?;
                        model_hs = hs;
                        model_entries.extend(new);
                    }
                    Op::Snapshot { back } => {
                        let index = last.saturating_sub(back);
                        if index > snap_index {
                            let term = model_entries
                                .iter()
                                .find(|e| e.index == index)
                                .map_or(0, |e| e.term);
                            let snap = snapshot(index, term);
                            s.save_snapshot(&snap)
                                .map_err(|e| TestCaseError::fail(e.to_string()))?;
                            model_entries.retain(|e| e.index > index);
                            model_snapshot = Some(snap);
                        }
                    }
                    Op::Reopen => {
                        // Close first: the data dir lock allows one open storage at a time.
                        drop(storage.take());
                        storage = Some(open(dir.path()));
                        let s = storage.as_ref().ok_or_else(|| TestCaseError::fail("closed"))?;
                        prop_assert!(s.warnings().is_empty(), "{:?}", s.warnings());
                    }
                }
                let s = storage.as_ref().ok_or_else(|| TestCaseError::fail("closed"))?;
                let r = recover(s);
                prop_assert_eq!(&r.entries, &model_entries);
                prop_assert_eq!(&r.snapshot, &model_snapshot);
                prop_assert_eq!(r.hard_state, model_hs);
            }
        }
    }
}

#[test]
fn a_prepared_snapshot_goes_in_place_while_the_log_takes_appends() {
    let dir = tempdir();
    {
        let mut s = open(dir.path());
        s.append(&entries(1, 20, 1))
            .unwrap_or_else(|e| panic!("{e}"));
        let prepared =
            prepare_snapshot(dir.path(), snapshot(15, 1)).unwrap_or_else(|e| panic!("{e}"));
        assert!(dir.path().join(SNAPSHOT_NEXT_FILE).exists());
        // The log goes on while the snapshot is written beside it.
        s.append(&entries(21, 25, 2))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            s.snapshot_meta(),
            None,
            "nothing is in place before install"
        );
        let installed = s
            .install_prepared(prepared)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(installed, Some(snapshot(15, 1)));
        assert!(!dir.path().join(SNAPSHOT_NEXT_FILE).exists());
        assert_eq!(s.last_index(), 25);
    }
    let s = open(dir.path());
    assert!(s.warnings().is_empty(), "{:?}", s.warnings());
    let r = recover(&s);
    assert_eq!(r.snapshot, Some(snapshot(15, 1)));
    let mut expected = entries(16, 20, 1);
    expected.extend(entries(21, 25, 2));
    assert_eq!(r.entries, expected);
}

#[test]
fn a_prepared_snapshot_older_than_the_stored_one_is_discarded() {
    let dir = tempdir();
    let mut s = open(dir.path());
    s.append(&entries(1, 30, 1))
        .unwrap_or_else(|e| panic!("{e}"));
    let prepared = prepare_snapshot(dir.path(), snapshot(10, 1)).unwrap_or_else(|e| panic!("{e}"));
    // Meanwhile a newer snapshot arrives from the leader and is saved.
    s.save_snapshot(&snapshot(20, 1))
        .unwrap_or_else(|e| panic!("{e}"));
    let installed = s
        .install_prepared(prepared)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(installed, None);
    assert!(!dir.path().join(SNAPSHOT_NEXT_FILE).exists());
    drop(s);
    let r = recover(&open(dir.path()));
    assert_eq!(
        r.snapshot,
        Some(snapshot(20, 1)),
        "the newer snapshot stays"
    );
    assert_eq!(r.entries, entries(21, 30, 1));
}

#[test]
fn a_crash_while_a_snapshot_is_prepared_leaves_the_old_state() {
    let dir = tempdir();
    {
        let mut s = open(dir.path());
        s.append(&entries(1, 12, 1))
            .unwrap_or_else(|e| panic!("{e}"));
        s.save_snapshot(&snapshot(5, 1))
            .unwrap_or_else(|e| panic!("{e}"));
        // Written but never installed: the process died before the rename.
        prepare_snapshot(dir.path(), snapshot(10, 1)).unwrap_or_else(|e| panic!("{e}"));
    }
    let s = open(dir.path());
    assert!(
        s.warnings()
            .iter()
            .any(|w| matches!(w, RecoveryWarning::RemovedTempFile { path } if path.ends_with(SNAPSHOT_NEXT_FILE))),
        "{:?}",
        s.warnings()
    );
    assert!(!dir.path().join(SNAPSHOT_NEXT_FILE).exists());
    let r = recover(&s);
    assert_eq!(r.snapshot, Some(snapshot(5, 1)));
    assert_eq!(r.entries, entries(6, 12, 1));
}

#[test]
fn a_missing_meta_beside_a_log_is_refused_naming_the_file() {
    let dir = tempdir();
    {
        let mut s = open(dir.path());
        s.set_hard_state(HardState {
            term: 4,
            vote: Some(2),
        })
        .unwrap_or_else(|e| panic!("{e}"));
        s.append(&entries(1, 3, 4))
            .unwrap_or_else(|e| panic!("{e}"));
    }
    std::fs::remove_file(dir.path().join(META_FILE)).unwrap_or_else(|e| panic!("{e}"));
    match Storage::open(dir.path()) {
        Err(e @ StorageError::MissingMeta { .. }) => {
            let text = e.to_string();
            assert!(text.contains("meta") && text.contains("vote"), "{text}");
        }
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("started without its vote"),
    }
    // A fresh data dir (no log, no snapshot) needs no meta.
    let fresh = tempdir();
    assert_eq!(
        recover(&open(fresh.path())).hard_state,
        HardState::default()
    );
}

#[test]
fn a_snapshot_whose_state_does_not_decode_leaves_the_log_untouched() {
    // The log holds 1..=10; a snapshot file claiming to cover 1..=6 appears beside it, valid
    // header and CRC, garbage state. Opening must not compact the log before the state has
    // been decoded.
    let dir = tempdir();
    {
        let mut s = open(dir.path());
        s.append(&entries(1, 10, 1))
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let other = tempdir();
    {
        let mut s = open(other.path());
        s.save_snapshot(&Snapshot {
            meta: SnapshotMeta {
                last_index: 6,
                last_term: 1,
            },
            data: Arc::new(b"not a state machine".to_vec()),
        })
        .unwrap_or_else(|e| panic!("{e}"));
    }
    std::fs::copy(
        other.path().join(SNAPSHOT_FILE),
        dir.path().join(SNAPSHOT_FILE),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let log = dir.path().join(LOG_FILE);
    let before = std::fs::read(&log).unwrap_or_default();
    let refuse = |_: &Snapshot| -> Result<(), String> { Err("garbage".into()) };
    match Storage::open_checked(dir.path(), &refuse) {
        Err(StorageError::CorruptFile { path, reason }) => {
            assert!(path.ends_with(SNAPSHOT_FILE), "{}", path.display());
            assert!(reason.contains("garbage"), "{reason}");
        }
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("an undecodable snapshot was accepted"),
    }
    assert_eq!(
        std::fs::read(&log).unwrap_or_default(),
        before,
        "the log was not touched"
    );
    // With the bad file moved aside, the node starts with every entry.
    std::fs::remove_file(dir.path().join(SNAPSHOT_FILE)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(recover(&open(dir.path())).entries, entries(1, 10, 1));
}
