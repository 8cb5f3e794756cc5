//! ReadIndex bookkeeping (Raft thesis §6.4, etcd-io/raft `read_only.go` in its "safe" mode).
//!
//! A read is served at the commit index the leader had when the read arrived, once the leader
//! has proved it was still the leader *after* the read arrived: each read joins a numbered round,
//! every Append the leader sends carries the newest round number as `ctx`, followers echo it, and
//! a round is confirmed when a majority (the leader included) echoed that number or a later one.
//! Reads that arrive before the leader's own no-op commits wait, because before that the
//! leader's commit index may lag behind what earlier leaders committed.

use std::collections::VecDeque;

use crate::raft::message::Index;

/// One pending read.
#[derive(Clone, Copy, Debug)]
struct PendingRead {
    round: u64,
    index: Index,
    ctx: u64,
}

/// The reads a leader is holding.
#[derive(Debug, Default)]
pub(crate) struct ReadQueue {
    /// Reads that arrived before the leader's no-op committed.
    waiting_for_noop: Vec<u64>,
    /// Reads with a round and a read index, oldest first (rounds never decrease).
    pending: VecDeque<PendingRead>,
    /// The newest round number handed out (0: none yet). Never reset, so an echo from an older
    /// term can never confirm a newer round.
    last_round: u64,
    /// The newest round has not been announced with a heartbeat yet; reads arriving meanwhile
    /// at the same commit index join it (one heartbeat round for a whole batch of reads).
    round_open: bool,
}

impl ReadQueue {
    /// The newest round number, to put in an outgoing Append's `ctx`. The round is closed:
    /// a read arriving later may not join it, since this message left before that read arrived.
    pub(crate) fn announce(&mut self) -> u64 {
        self.round_open = false;
        self.last_round
    }

    /// The newest round number (for bounding echoed values).
    pub(crate) fn current_round(&self) -> u64 {
        self.last_round
    }

    /// Whether a round waits to be announced by a heartbeat.
    pub(crate) fn needs_heartbeat(&self) -> bool {
        self.round_open
    }

    /// Parks a read until the leader's no-op commits.
    pub(crate) fn wait_for_noop(&mut self, ctx: u64) {
        self.waiting_for_noop.push(ctx);
    }

    /// Whether reads wait for the no-op.
    pub(crate) fn has_waiting(&self) -> bool {
        !self.waiting_for_noop.is_empty()
    }

    /// Starts (or joins) a round for a read at `index`.
    pub(crate) fn add(&mut self, ctx: u64, index: Index) {
        let joinable = self.round_open && self.pending.back().is_some_and(|r| r.index == index);
        if !joinable {
            self.last_round += 1;
            self.round_open = true;
        }
        self.pending.push_back(PendingRead {
            round: self.last_round,
            index,
            ctx,
        });
    }

    /// The no-op committed at `index`: every parked read joins a round at that index.
    pub(crate) fn release_waiting(&mut self, index: Index) {
        let waiting = std::mem::take(&mut self.waiting_for_noop);
        for ctx in waiting {
            self.add(ctx, index);
        }
    }

    /// Moves every read of a round `<= confirmed` to `out` as `(ctx, read index)`.
    pub(crate) fn confirm(&mut self, confirmed: u64, out: &mut Vec<(u64, Index)>) {
        while let Some(read) = self.pending.front() {
            if read.round > confirmed {
                break;
            }
            out.push((read.ctx, read.index));
            self.pending.pop_front();
        }
    }

    /// Leadership is lost: every held read goes to `out` as dropped.
    pub(crate) fn drop_all(&mut self, out: &mut Vec<u64>) {
        out.append(&mut self.waiting_for_noop);
        out.extend(self.pending.drain(..).map(|r| r.ctx));
        self.round_open = false;
    }

    /// Whether any read is held.
    pub(crate) fn is_empty(&self) -> bool {
        self.waiting_for_noop.is_empty() && self.pending.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_before_the_heartbeat_share_a_round() {
        let mut q = ReadQueue::default();
        q.add(1, 10);
        q.add(2, 10);
        assert_eq!(q.announce(), 1);
        q.add(3, 10);
        assert_eq!(q.current_round(), 2);
        let mut out = Vec::new();
        q.confirm(1, &mut out);
        assert_eq!(out, vec![(1, 10), (2, 10)]);
        q.confirm(2, &mut out);
        assert_eq!(out.len(), 3);
        assert!(q.is_empty());
    }

    #[test]
    fn dropping_returns_every_held_read() {
        let mut q = ReadQueue::default();
        q.wait_for_noop(7);
        q.add(8, 3);
        let mut dropped = Vec::new();
        q.drop_all(&mut dropped);
        assert_eq!(dropped, vec![7, 8]);
        assert!(q.is_empty());
    }
}
