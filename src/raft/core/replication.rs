//! Log replication: building Appends (batched, pipelined), heartbeats that carry
//! `min(commit, match)`, follower-side append and snapshot install, acknowledgements with fast
//! back-tracking, and the commit rule (a majority holds an entry *of the current term*).

use super::progress::FlowState;
use super::{RaftCore, Role};
use crate::raft::message::{Entry, Index, Message, NodeId, Snapshot};

/// Leader ticks after which an unanswered snapshot is sent again, in election timeouts.
const SNAPSHOT_RETRY_ELECTIONS: u32 = 2;

impl RaftCore {
    /// Leader: sends every Append the flow control allows, to every follower.
    pub(super) fn send_appends(&mut self) {
        for i in 0..self.progress.len() {
            self.send_appends_to(i);
        }
    }

    fn send_appends_to(&mut self, i: usize) {
        let max_inflight = self.cfg.max_inflight;
        let last_index = self.log.last_index();
        loop {
            let pr = &mut self.progress[i];
            if !pr.can_send(max_inflight) {
                return;
            }
            if pr.next > last_index {
                return; // caught up; heartbeats keep it informed
            }
            let to = pr.id;
            if pr.next <= self.log.snapshot_index() {
                // The entries it needs are compacted away.
                let Some(snapshot) = self.snapshot.clone() else {
                    return;
                };
                pr.become_snapshot(snapshot.meta.last_index);
                let term = self.term;
                self.send(to, Message::InstallSnapshot { term, snapshot });
                return;
            }
            let prev_index = pr.next - 1;
            let Some(prev_term) = self.log.term(prev_index) else {
                return;
            };
            let entries = self.log.slice(
                pr.next,
                self.cfg.max_append_entries,
                self.cfg.max_append_bytes,
            );
            let last_sent = prev_index + entries.len() as Index;
            pr.on_sent(last_sent);
            let probing = pr.state == FlowState::Probe;
            let msg = Message::Append {
                term: self.term,
                prev_index,
                prev_term,
                entries,
                commit: self.log.committed(),
                ctx: self.reads.announce(),
            };
            self.send(to, msg);
            if probing {
                return;
            }
        }
    }

    /// Leader: an empty Append to every follower, anchored at its known match so it never
    /// conflicts, carrying `min(commit, match)` so a follower never commits past what it is
    /// known to share with the leader, and the newest ReadIndex round.
    pub(super) fn broadcast_heartbeat(&mut self) {
        let ctx = self.reads.announce();
        let commit = self.log.committed();
        for i in 0..self.progress.len() {
            let pr = &mut self.progress[i];
            if pr.state == FlowState::Probe {
                // Let one more probe out on the next send: a lost probe must not stall us.
                pr.probe_paused = false;
            }
            let to = pr.id;
            let (prev_index, prev_term) = match self.log.term(pr.matched) {
                Some(t) => (pr.matched, t),
                // The match is compacted away; 0 is below any follower's commit, so the
                // follower answers with its commit index.
                None => (0, 0),
            };
            let stalled = pr.pipeline_stalled();
            let window_end = pr.next - 1;
            let msg = Message::Append {
                term: self.term,
                prev_index,
                prev_term,
                entries: Vec::new(),
                commit: commit.min(prev_index),
                ctx,
            };
            self.send(to, msg);
            if !stalled {
                continue;
            }
            match self.log.term(window_end) {
                Some(window_term) => {
                    // An empty Append at the end of the window: accepted, it acknowledges the
                    // whole window; rejected, it sends the follower back to probing.
                    let msg = Message::Append {
                        term: self.term,
                        prev_index: window_end,
                        prev_term: window_term,
                        entries: Vec::new(),
                        commit: commit.min(window_end),
                        ctx,
                    };
                    self.send(to, msg);
                }
                None => {
                    // The window was compacted meanwhile: start over (with a snapshot).
                    let pr = &mut self.progress[i];
                    let next = pr.matched + 1;
                    pr.become_probe(next);
                }
            }
        }
        self.send_pending |= self.any_sendable();
    }

    /// Whether some follower's flow control lets an Append or snapshot out now.
    fn any_sendable(&self) -> bool {
        let last = self.log.last_index();
        let max_inflight = self.cfg.max_inflight;
        self.progress
            .iter()
            .any(|pr| pr.next <= last && pr.can_send(max_inflight))
    }

    /// Leader: a follower in snapshot state that has not answered for a while gets the
    /// snapshot again (it may have been lost).
    pub(super) fn tick_snapshot_retries(&mut self) {
        let limit = self
            .cfg
            .election_ticks
            .saturating_mul(SNAPSHOT_RETRY_ELECTIONS);
        for pr in &mut self.progress {
            if let FlowState::Snapshot { pending, ticks } = pr.state {
                let ticks = ticks.saturating_add(1);
                pr.state = FlowState::Snapshot { pending, ticks };
                if ticks >= limit {
                    let next = pr.matched + 1;
                    pr.become_probe(next);
                    self.send_pending = true;
                }
            }
        }
    }

    /// Follower: an Append from the leader of the current term.
    pub(super) fn handle_append(
        &mut self,
        from: NodeId,
        (prev_index, prev_term): (Index, u64),
        entries: Vec<Entry>,
        commit: Index,
        ctx: u64,
    ) {
        if self.role == Role::Leader {
            return; // two leaders in one term cannot happen; never act on it
        }
        if self.role != Role::Follower {
            let term = self.term;
            self.become_follower(term, Some(from));
        }
        self.leader = Some(from);
        self.election_elapsed = 0;
        let term = self.term;
        if prev_index < self.log.committed() {
            // Old or duplicated: everything up to our commit matches the leader's log anyway.
            let index = self.log.committed();
            let reply = Message::AppendResp {
                term,
                success: true,
                index,
                reject_hint: 0,
                ctx,
            };
            self.send_persisted(from, reply);
            return;
        }
        match self.log.try_append(prev_index, prev_term, entries) {
            Ok(last_new) => {
                self.log.commit_to(commit.min(last_new));
                let reply = Message::AppendResp {
                    term,
                    success: true,
                    index: last_new,
                    reject_hint: 0,
                    ctx,
                };
                // The ack promises the entries are on disk: it waits for the write.
                self.send_persisted(from, reply);
            }
            Err(super::log::AppendRejection::Mismatch) => {
                let reject_hint = self.log.reject_hint(prev_index, prev_term);
                let reply = Message::AppendResp {
                    term,
                    success: false,
                    index: prev_index,
                    reject_hint,
                    ctx,
                };
                self.send(from, reply);
            }
            Err(super::log::AppendRejection::Invalid) => {}
        }
    }

    /// Leader: a follower answered an Append or heartbeat.
    pub(super) fn handle_append_resp(
        &mut self,
        from: NodeId,
        success: bool,
        index: Index,
        reject_hint: Index,
        ctx: u64,
    ) {
        if self.role != Role::Leader {
            return;
        }
        let last_index = self.log.last_index();
        let Some(pr) = self.progress.iter_mut().find(|p| p.id == from) else {
            return;
        };
        pr.recent_active = true;
        pr.read_ack = pr.read_ack.max(ctx.min(self.reads.current_round()));
        let mut grew = false;
        if success {
            if index <= last_index {
                grew = pr.on_success(index);
            }
        } else {
            pr.on_reject(index, reject_hint);
        }
        if pr.state == FlowState::Probe {
            pr.probe_paused = false;
        }
        self.send_pending |= pr.next <= last_index && pr.can_send(self.cfg.max_inflight);
        if grew {
            self.maybe_commit();
        }
        self.confirm_reads();
    }

    /// Follower: the leader sent a snapshot because our next entry is compacted on its side.
    pub(super) fn handle_install_snapshot(&mut self, from: NodeId, snapshot: Snapshot) {
        if self.role == Role::Leader {
            return;
        }
        if self.role != Role::Follower {
            let term = self.term;
            self.become_follower(term, Some(from));
        }
        self.leader = Some(from);
        self.election_elapsed = 0;
        let term = self.term;
        let meta = snapshot.meta;
        if meta.last_index <= self.log.committed() {
            // We already have (and may have applied) all of it.
            let last_index = self.log.committed();
            self.send_persisted(from, Message::InstallSnapshotResp { term, last_index });
            return;
        }
        self.log.install_snapshot(meta);
        self.snapshot = Some(snapshot.clone());
        self.pending_snapshot = Some(snapshot);
        let last_index = meta.last_index;
        self.send_persisted(from, Message::InstallSnapshotResp { term, last_index });
    }

    /// Leader: a follower installed (or already had) a snapshot up to `last_index`.
    pub(super) fn handle_install_snapshot_resp(&mut self, from: NodeId, last_index: Index) {
        if self.role != Role::Leader {
            return;
        }
        let our_last = self.log.last_index();
        let Some(pr) = self.progress.iter_mut().find(|p| p.id == from) else {
            return;
        };
        pr.recent_active = true;
        let grew = last_index <= our_last && last_index > pr.matched;
        if grew {
            pr.matched = last_index;
        }
        if matches!(pr.state, FlowState::Snapshot { .. } | FlowState::Probe) {
            pr.become_replicate();
        }
        self.send_pending |= pr.next <= our_last;
        if grew {
            self.maybe_commit();
        }
    }

    /// Leader: commit the highest index a majority holds, if that entry is of the current term
    /// (§5.4.2: older entries commit only by being below such an entry). The leader's own copy
    /// counts only once it is durable (`persisted`).
    pub(super) fn maybe_commit(&mut self) {
        self.scratch.clear();
        self.scratch.push(self.log.persisted());
        self.scratch.extend(self.progress.iter().map(|p| p.matched));
        self.scratch.sort_unstable_by(|a, b| b.cmp(a));
        let Some(&candidate) = self.scratch.get(self.quorum() - 1) else {
            return;
        };
        if candidate > self.log.committed()
            && self.log.term(candidate) == Some(self.term)
            && self.log.commit_to(candidate)
        {
            if self.reads.has_waiting() && self.log.committed() >= self.noop_index {
                self.reads.release_waiting(self.log.committed());
            }
            self.confirm_reads();
        }
    }

    /// Leader: releases reads whose round a majority has echoed.
    pub(super) fn confirm_reads(&mut self) {
        if self.reads.is_empty() {
            return;
        }
        self.scratch.clear();
        self.scratch.push(u64::MAX); // the leader confirms itself
        self.scratch
            .extend(self.progress.iter().map(|p| p.read_ack));
        self.scratch.sort_unstable_by(|a, b| b.cmp(a));
        if let Some(&confirmed) = self.scratch.get(self.quorum() - 1) {
            self.reads.confirm(confirmed, &mut self.read_states);
        }
    }
}
