//! The leader's view of one follower: how far its log is known to match (`matched`), what to
//! send next (`next`), and the flow-control state that decides how (probe one message at a time,
//! pipeline up to `max_inflight` messages, or wait for a snapshot).
//!
//! Modelled on etcd-io/raft's `tracker/progress.go`, reduced to what this core needs.

use std::collections::VecDeque;

use crate::raft::message::{Index, NodeId};

/// How the leader currently replicates to a follower.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FlowState {
    /// Where the follower's log diverges is unknown: send one Append, wait for its answer.
    Probe,
    /// The follower accepts appends: send optimistically, up to `max_inflight` unacknowledged.
    Replicate,
    /// An InstallSnapshot up to `pending` is on its way; `ticks` counts leader ticks since it
    /// was sent, so a lost snapshot is re-sent.
    Snapshot {
        /// Last index covered by the snapshot sent.
        pending: Index,
        /// Leader ticks since it was sent.
        ticks: u32,
    },
}

/// Replication progress of one follower.
#[derive(Clone, Debug)]
pub(crate) struct Progress {
    /// The follower.
    pub(crate) id: NodeId,
    /// Highest index known to match the leader's log and be durable on the follower.
    pub(crate) matched: Index,
    /// Next index to send.
    pub(crate) next: Index,
    /// Flow control.
    pub(crate) state: FlowState,
    /// In `Probe`: a probe is out, wait for an answer (or a heartbeat round) before another.
    pub(crate) probe_paused: bool,
    /// In `Replicate`: last index of each unacknowledged Append, oldest first.
    inflight: VecDeque<Index>,
    /// Heard from since the last check-quorum round.
    pub(crate) recent_active: bool,
    /// Highest ReadIndex round this follower echoed back in the current term.
    pub(crate) read_ack: u64,
    /// `matched` when the previous heartbeat went out, to notice a stalled pipeline.
    pub(crate) matched_at_heartbeat: Index,
}

impl Progress {
    /// A follower nothing is known about yet: probe from the leader's end of log.
    pub(crate) fn new(id: NodeId, next: Index) -> Progress {
        Progress {
            id,
            matched: 0,
            next,
            state: FlowState::Probe,
            probe_paused: false,
            inflight: VecDeque::new(),
            recent_active: false,
            read_ack: 0,
            matched_at_heartbeat: 0,
        }
    }

    /// Back to probing from `next`.
    pub(crate) fn become_probe(&mut self, next: Index) {
        self.state = FlowState::Probe;
        self.probe_paused = false;
        self.inflight.clear();
        self.next = next.max(self.matched + 1);
    }

    /// Pipeline from just after the known match.
    pub(crate) fn become_replicate(&mut self) {
        self.state = FlowState::Replicate;
        self.probe_paused = false;
        self.inflight.clear();
        self.next = self.matched + 1;
    }

    /// A snapshot up to `pending` was sent; stop appending until it is acknowledged.
    pub(crate) fn become_snapshot(&mut self, pending: Index) {
        self.state = FlowState::Snapshot { pending, ticks: 0 };
        self.probe_paused = false;
        self.inflight.clear();
    }

    /// Whether the in-flight window has room for another Append.
    pub(crate) fn can_send(&self, max_inflight: usize) -> bool {
        match self.state {
            FlowState::Probe => !self.probe_paused,
            FlowState::Replicate => self.inflight.len() < max_inflight,
            FlowState::Snapshot { .. } => false,
        }
    }

    /// Heartbeat time: whether the pipeline has stalled, i.e. Appends are outstanding and no
    /// acknowledgement arrived during a whole heartbeat interval. The tail of the window may
    /// have been lost, and with no newer Append to be rejected nothing would ever say so.
    pub(crate) fn pipeline_stalled(&mut self) -> bool {
        let stalled = self.state == FlowState::Replicate
            && !self.inflight.is_empty()
            && self.matched == self.matched_at_heartbeat;
        self.matched_at_heartbeat = self.matched;
        stalled
    }

    /// An Append ending at `last_sent` went out.
    pub(crate) fn on_sent(&mut self, last_sent: Index) {
        match self.state {
            FlowState::Replicate => {
                if last_sent >= self.next {
                    self.next = last_sent + 1;
                    self.inflight.push_back(last_sent);
                }
            }
            FlowState::Probe => self.probe_paused = true,
            FlowState::Snapshot { .. } => {}
        }
    }

    /// The follower matched up to `index`. Returns whether `matched` grew.
    pub(crate) fn on_success(&mut self, index: Index) -> bool {
        let grew = index > self.matched;
        if grew {
            self.matched = index;
        }
        match self.state {
            FlowState::Probe => self.become_replicate(),
            FlowState::Replicate => {
                self.next = self.next.max(index.saturating_add(1));
                while self.inflight.front().is_some_and(|&last| last <= index) {
                    self.inflight.pop_front();
                }
            }
            FlowState::Snapshot { pending, .. } => {
                if self.matched >= pending {
                    self.become_replicate();
                }
            }
        }
        grew
    }

    /// The follower rejected an Append whose previous index was `rejected`, hinting that its log
    /// may match at `hint`. Returns whether the rejection was genuine (and `next` moved back).
    ///
    /// A rejection at or below `matched` is normally stale (reordered or duplicated). The one
    /// exception is a reject of exactly `matched` with a hint below it: the follower lost entries
    /// it had acknowledged (its data dir was wiped), so the leader forgets the match and probes
    /// from the hint; that may end in a snapshot.
    pub(crate) fn on_reject(&mut self, rejected: Index, hint: Index) -> bool {
        let lost_log = self.matched > 0 && rejected == self.matched && hint < self.matched;
        if lost_log {
            self.matched = 0;
        } else {
            if rejected <= self.matched {
                return false;
            }
            match self.state {
                // Probes go out one at a time with prev = next - 1; anything else is old.
                FlowState::Probe if rejected.saturating_add(1) != self.next => return false,
                // Answers to Appends sent before the snapshot.
                FlowState::Snapshot { .. } => return false,
                _ => {}
            }
        }
        // Both from the wire: checked, so an absurd value cannot wrap.
        self.become_probe(rejected.min(hint.saturating_add(1)));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replicate_pipelines_until_the_window_is_full() {
        let mut pr = Progress::new(2, 11);
        pr.matched = 10;
        pr.become_replicate();
        for last in [12, 14, 16] {
            assert!(pr.can_send(3));
            pr.on_sent(last);
        }
        assert!(!pr.can_send(3));
        assert_eq!(pr.next, 17);
        assert!(pr.on_success(14));
        assert!(pr.can_send(3));
        assert_eq!(pr.matched, 14);
    }

    #[test]
    fn stale_rejections_are_ignored() {
        let mut pr = Progress::new(2, 11);
        pr.matched = 10;
        pr.become_replicate();
        pr.on_sent(15);
        assert!(!pr.on_reject(9, 9));
        assert!(pr.on_reject(12, 11));
        assert_eq!(pr.state, FlowState::Probe);
        assert_eq!(pr.next, 12);
        pr.on_sent(13);
        assert!(!pr.on_reject(13, 10), "not the outstanding probe");
    }

    #[test]
    fn reject_of_the_match_itself_means_the_follower_lost_its_log() {
        let mut pr = Progress::new(2, 101);
        pr.matched = 100;
        pr.become_replicate();
        assert!(pr.on_reject(100, 0));
        assert_eq!(pr.matched, 0);
        assert_eq!(pr.next, 1);
    }
}
