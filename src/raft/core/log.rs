//! The in-memory replicated log of one node: the entries after the latest snapshot, plus the
//! bookkeeping that tells the runtime what to write (`unstable_from`, `truncate_from`) and what
//! to apply (`committed`, `applied`, `persisted`).
//!
//! Entries live in a `VecDeque` offset by the snapshot index, so looking an entry up by index is
//! O(1) and compaction pops from the front without moving the rest.

use std::collections::VecDeque;

use crate::raft::message::{Entry, Index, SnapshotMeta, Term};

/// Why a follower could not take the entries of an Append.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AppendRejection {
    /// The log has no entry `(prev_index, prev_term)`: answer with a reject and a hint.
    Mismatch,
    /// The message is malformed (indexes not contiguous) or would overwrite a committed entry,
    /// which no legitimate leader ever asks for: drop it without an answer.
    Invalid,
}

/// The log, its snapshot offset and the indexes that track it.
#[derive(Debug)]
pub(crate) struct RaftLog {
    /// The snapshot the entries follow (index 0, term 0 when there is none).
    snapshot: SnapshotMeta,
    /// Entries `snapshot.last_index + 1 ..= last_index()`.
    entries: VecDeque<Entry>,
    /// Highest index known committed.
    committed: Index,
    /// Highest index handed to the runtime for applying (or covered by an installed snapshot).
    applied: Index,
    /// Highest index the runtime reported durable (see [`RaftLog::on_persisted`]).
    persisted: Index,
    /// First index not yet handed to the runtime for writing.
    unstable_from: Index,
    /// Stored entries from this index on must be dropped before the next append.
    truncate_from: Option<Index>,
}

impl RaftLog {
    /// Rebuilds the log from what storage recovered. Entries at or below the snapshot are
    /// skipped; the first gap or out-of-order entry ends the log (storage never produces one).
    pub(crate) fn restore(snapshot: SnapshotMeta, entries: Vec<Entry>) -> RaftLog {
        let mut log = VecDeque::with_capacity(entries.len());
        let mut expected = snapshot.last_index + 1;
        for entry in entries {
            if entry.index < expected && log.is_empty() {
                continue;
            }
            if entry.index != expected {
                break;
            }
            expected += 1;
            log.push_back(entry);
        }
        let last = snapshot.last_index + log.len() as Index;
        RaftLog {
            snapshot,
            entries: log,
            committed: snapshot.last_index,
            applied: snapshot.last_index,
            persisted: last,
            unstable_from: last + 1,
            truncate_from: None,
        }
    }

    /// Index of the snapshot the log starts after (0 when none).
    pub(crate) fn snapshot_index(&self) -> Index {
        self.snapshot.last_index
    }

    /// Index of the first entry held in memory.
    pub(crate) fn first_index(&self) -> Index {
        self.snapshot.last_index + 1
    }

    /// Index of the last entry (the snapshot index when the log is empty).
    pub(crate) fn last_index(&self) -> Index {
        self.snapshot.last_index + self.entries.len() as Index
    }

    /// Term of the last entry.
    pub(crate) fn last_term(&self) -> Term {
        self.term(self.last_index())
            .unwrap_or(self.snapshot.last_term)
    }

    /// Highest committed index.
    pub(crate) fn committed(&self) -> Index {
        self.committed
    }

    /// Highest index handed out for applying.
    pub(crate) fn applied(&self) -> Index {
        self.applied
    }

    /// Highest index known durable on this node.
    pub(crate) fn persisted(&self) -> Index {
        self.persisted
    }

    /// Term of the entry at `index`, if the log still knows it (the snapshot's own index counts;
    /// anything before it is compacted away).
    pub(crate) fn term(&self, index: Index) -> Option<Term> {
        if index == self.snapshot.last_index {
            return Some(self.snapshot.last_term);
        }
        self.entry(index).map(|e| e.term)
    }

    /// The entry at `index`, if held in memory.
    pub(crate) fn entry(&self, index: Index) -> Option<&Entry> {
        if index <= self.snapshot.last_index {
            return None;
        }
        let offset = usize::try_from(index - self.first_index()).ok()?;
        self.entries.get(offset)
    }

    /// Whether a candidate whose log ends at `(last_index, last_term)` is at least as up to date
    /// as this log (Raft §5.4.1).
    pub(crate) fn is_up_to_date(&self, last_index: Index, last_term: Term) -> bool {
        let my_term = self.last_term();
        last_term > my_term || (last_term == my_term && last_index >= self.last_index())
    }

    /// Leader side: appends an entry created at `last_index() + 1`.
    pub(crate) fn push(&mut self, entry: Entry) {
        debug_assert_eq!(entry.index, self.last_index() + 1);
        self.entries.push_back(entry);
    }

    /// Follower side: stores the entries of an Append whose previous entry is
    /// `(prev_index, prev_term)`, overwriting a conflicting suffix. Returns the index of the last
    /// entry now known to match the leader's log. The caller guarantees
    /// `prev_index >= committed()`.
    pub(crate) fn try_append(
        &mut self,
        prev_index: Index,
        prev_term: Term,
        entries: Vec<Entry>,
    ) -> Result<Index, AppendRejection> {
        if self.term(prev_index) != Some(prev_term) {
            return Err(AppendRejection::Mismatch);
        }
        let contiguous = entries
            .iter()
            .enumerate()
            .all(|(k, e)| e.index == prev_index + 1 + k as Index);
        if !contiguous {
            return Err(AppendRejection::Invalid);
        }
        let last_new = prev_index + entries.len() as Index;
        // Find the first entry we do not already hold; everything before it matches.
        let mut skip = 0;
        for entry in &entries {
            match self.term(entry.index) {
                Some(t) if t == entry.term => skip += 1,
                Some(_) if entry.index <= self.committed => return Err(AppendRejection::Invalid),
                _ => break,
            }
        }
        let mut rest = entries.into_iter().skip(skip).peekable();
        if let Some(first) = rest.peek() {
            if first.index <= self.last_index() {
                self.truncate_suffix(first.index);
            }
            self.entries.extend(rest);
        }
        Ok(last_new)
    }

    /// Drops entries from `index` on (a conflict), remembering what storage must drop too.
    fn truncate_suffix(&mut self, index: Index) {
        let keep = (index - self.first_index()) as usize;
        self.entries.truncate(keep);
        if index < self.unstable_from {
            self.truncate_from = Some(self.truncate_from.map_or(index, |t| t.min(index)));
            self.unstable_from = index;
        }
        self.persisted = self.persisted.min(index - 1);
    }

    /// Fast back-tracking hint for a rejected `(prev_index, prev_term)`: the index the leader
    /// should probe next. Two skips, both safe because committed entries always match (the scan
    /// stops at `committed`):
    /// - entries with a term above `prev_term` cannot be in the leader's log at or below
    ///   `prev_index` (terms only grow along a log), so the scan passes over them (etcd-io/raft's
    ///   `findConflictByTerm`); a short log starts the scan at its last index;
    /// - if that leaves the scan on `prev_index` itself, the conflict is an entry of a lower term,
    ///   and the whole run of that term is skipped (the Raft paper's "first index of the
    ///   conflicting term"), at worst re-sending part of one term's entries.
    pub(crate) fn reject_hint(&self, prev_index: Index, prev_term: Term) -> Index {
        let mut index = prev_index.min(self.last_index());
        while index > self.committed && self.term(index).is_some_and(|t| t > prev_term) {
            index -= 1;
        }
        if index == prev_index {
            let conflict = self.term(index);
            while index > self.committed && self.term(index) == conflict {
                index -= 1;
            }
        }
        index
    }

    /// Raises the commit index (never lowers it, never past the last entry).
    pub(crate) fn commit_to(&mut self, index: Index) -> bool {
        let index = index.min(self.last_index());
        if index > self.committed {
            self.committed = index;
            true
        } else {
            false
        }
    }

    /// Clones up to `max_entries` entries from `from`, stopping before `max_bytes` of payload
    /// (always at least one entry when any exists).
    pub(crate) fn slice(&self, from: Index, max_entries: usize, max_bytes: usize) -> Vec<Entry> {
        let Some(start) = from
            .checked_sub(self.first_index())
            .and_then(|o| usize::try_from(o).ok())
        else {
            return Vec::new();
        };
        if start >= self.entries.len() {
            return Vec::new();
        }
        let available = self.entries.len() - start;
        let mut out = Vec::with_capacity(available.min(max_entries));
        let mut bytes = 0usize;
        for entry in self.entries.range(start..).take(max_entries) {
            bytes = bytes.saturating_add(entry.data.len());
            if bytes > max_bytes && !out.is_empty() {
                break;
            }
            out.push(entry.clone());
        }
        out
    }

    /// Whether there are entries or a truncation the runtime has not been given yet.
    pub(crate) fn has_unstable(&self) -> bool {
        self.truncate_from.is_some() || self.unstable_from <= self.last_index()
    }

    /// Hands out what storage must do next: a truncation point and the entries to append.
    pub(crate) fn take_unstable(&mut self) -> (Option<Index>, Vec<Entry>) {
        let truncate = self.truncate_from.take();
        let from = self.unstable_from.max(self.first_index());
        let entries = self.slice(from, usize::MAX, usize::MAX);
        self.unstable_from = self.last_index() + 1;
        (truncate, entries)
    }

    /// Whether committed, durable entries wait to be applied.
    pub(crate) fn has_committed(&self) -> bool {
        self.applied < self.committed.min(self.persisted)
    }

    /// Hands out committed entries that are durable here, and marks them applied. Applying stops
    /// at `persisted` so a node never applies an entry its own disk could still lose.
    pub(crate) fn take_committed(&mut self) -> Vec<Entry> {
        let high = self.committed.min(self.persisted);
        if high <= self.applied {
            return Vec::new();
        }
        let count = usize::try_from(high - self.applied).unwrap_or(usize::MAX);
        let out = self.slice(self.applied + 1, count, usize::MAX);
        self.applied += out.len() as Index;
        out
    }

    /// Storage made entries up to `(index, term)` durable. Ignored when the log no longer holds
    /// `term` at `index` (the entries were overwritten since); an `(index, term)` pair names one
    /// entry in the whole cluster, so a match proves the whole prefix is the one written.
    pub(crate) fn on_persisted(&mut self, index: Index, term: Term) -> bool {
        if index > self.persisted && self.term(index) == Some(term) {
            self.persisted = index;
            true
        } else {
            false
        }
    }

    /// Installs a snapshot received from the leader (`meta.last_index > committed()`). Entries
    /// after it are kept when the log holds the snapshot's last entry, otherwise all are dropped.
    pub(crate) fn install_snapshot(&mut self, meta: SnapshotMeta) {
        if self.term(meta.last_index) == Some(meta.last_term) {
            let drop = (meta.last_index - self.snapshot.last_index) as usize;
            self.entries.drain(..drop.min(self.entries.len()));
        } else {
            self.entries.clear();
            // `meta` is from the wire: checked, so an absurd index cannot wrap.
            let from = meta.last_index.saturating_add(1);
            self.truncate_from = Some(self.truncate_from.map_or(from, |t| t.min(from)));
            self.persisted = self.persisted.min(meta.last_index);
        }
        self.snapshot = meta;
        self.unstable_from = self.unstable_from.max(meta.last_index.saturating_add(1));
        self.committed = self.committed.max(meta.last_index);
        self.applied = self.applied.max(meta.last_index);
    }

    /// Forgets entries up to `meta.last_index`, which the state machine has snapshotted. The
    /// caller checked `meta.last_index <= applied()` and that the term matches.
    pub(crate) fn compact(&mut self, meta: SnapshotMeta) {
        let drop = (meta.last_index - self.snapshot.last_index) as usize;
        self.entries.drain(..drop.min(self.entries.len()));
        self.snapshot = meta;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raft::message::EntryKind;

    fn entry(index: Index, term: Term) -> Entry {
        Entry {
            term,
            index,
            kind: EntryKind::Normal,
            data: vec![index as u8],
        }
    }

    fn log_with(terms: &[Term]) -> RaftLog {
        let entries = terms
            .iter()
            .enumerate()
            .map(|(i, t)| entry(i as Index + 1, *t))
            .collect();
        RaftLog::restore(SnapshotMeta::default(), entries)
    }

    #[test]
    fn conflicting_suffix_is_replaced_and_storage_told_to_truncate() {
        let mut log = log_with(&[1, 1, 2, 2]);
        let last = log.try_append(2, 1, vec![entry(3, 3)]);
        assert_eq!(last, Ok(3));
        assert_eq!(log.last_index(), 3);
        assert_eq!(log.term(3), Some(3));
        let (truncate, entries) = log.take_unstable();
        assert_eq!(truncate, Some(3));
        assert_eq!(entries, vec![entry(3, 3)]);
        assert_eq!(log.persisted(), 2);
    }

    #[test]
    fn matching_entries_are_not_rewritten() {
        let mut log = log_with(&[1, 1, 2]);
        assert_eq!(log.try_append(0, 0, vec![entry(1, 1), entry(2, 1)]), Ok(2));
        assert!(!log.has_unstable());
        assert_eq!(
            log.last_index(),
            3,
            "a shorter matching append keeps the tail"
        );
    }

    #[test]
    fn reject_hint_skips_entries_of_later_terms() {
        let log = log_with(&[1, 1, 4, 4, 4]);
        // Leader has term 2 at index 5: entries of term 4 cannot match.
        assert_eq!(log.reject_hint(5, 2), 2);
        // Leader probes past our end: our last index.
        assert_eq!(log.reject_hint(9, 4), 5);
        // Leader has term 6 at index 5: our run of term 4 conflicts as a whole.
        assert_eq!(log.reject_hint(5, 6), 2);
    }

    #[test]
    fn on_persisted_ignores_overwritten_entries() {
        let mut log = log_with(&[]);
        log.push(entry(1, 1));
        log.push(entry(2, 1));
        let _ = log.take_unstable();
        log.persisted = 0;
        assert_eq!(log.try_append(1, 1, vec![entry(2, 2)]), Ok(2));
        assert!(!log.on_persisted(2, 1));
        assert!(log.on_persisted(1, 1));
        assert_eq!(log.persisted(), 1);
    }

    #[test]
    fn snapshot_install_keeps_matching_tail() {
        let mut log = log_with(&[1, 1, 2, 2]);
        log.install_snapshot(SnapshotMeta {
            last_index: 2,
            last_term: 1,
        });
        assert_eq!(log.first_index(), 3);
        assert_eq!(log.last_index(), 4);
        assert_eq!(log.take_unstable(), (None, vec![]));

        let mut log = log_with(&[1, 1, 2, 2]);
        log.install_snapshot(SnapshotMeta {
            last_index: 3,
            last_term: 3,
        });
        assert_eq!(log.last_index(), 3);
        assert_eq!(log.take_unstable(), (Some(4), vec![]));
    }
}
