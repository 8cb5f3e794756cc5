//! Leader election: the randomized election timer, pre-vote (thesis §9.6), votes (§5.2, §5.4.1)
//! and the leader's check-quorum (§6.2).

use super::{RaftCore, Role};
use crate::raft::message::{Index, Message, NodeId, Term};

impl RaftCore {
    /// Follower, pre-candidate, candidate: count a tick; campaign when the timer fires.
    pub(super) fn tick_election(&mut self) {
        self.election_elapsed = self.election_elapsed.saturating_add(1);
        if self.election_elapsed >= self.election_timeout
            && self.cfg.peers.contains(&self.id())
            && !self.votes_held()
        {
            self.campaign(self.cfg.pre_vote);
        }
    }

    /// Leader: heartbeats every `heartbeat_ticks`; every `election_ticks`, step down unless a
    /// majority was heard from since the last check.
    pub(super) fn tick_leader(&mut self) {
        self.heartbeat_elapsed = self.heartbeat_elapsed.saturating_add(1);
        self.election_elapsed = self.election_elapsed.saturating_add(1);
        if self.election_elapsed >= self.cfg.election_ticks {
            self.election_elapsed = 0;
            if self.cfg.check_quorum {
                let active = 1 + self.progress.iter().filter(|p| p.recent_active).count();
                for pr in &mut self.progress {
                    pr.recent_active = false;
                }
                if active < self.quorum() {
                    let term = self.term;
                    self.become_follower(term, None);
                    return;
                }
            }
        }
        self.tick_snapshot_retries();
        if self.heartbeat_elapsed >= self.cfg.heartbeat_ticks {
            self.heartbeat_elapsed = 0;
            self.broadcast_heartbeat();
        }
    }

    /// Starts a pre-vote round (`pre`) or a real election.
    pub(super) fn campaign(&mut self, pre: bool) {
        if pre {
            self.role = Role::PreCandidate;
        } else {
            // Never wraps: a term this high was refused as absurd long before (see `step`).
            self.term = self.term.saturating_add(1);
            self.vote = Some(self.id());
            self.role = Role::Candidate;
        }
        self.leader = None;
        self.reset_timers();
        self.votes.clear();
        self.votes.push((self.id(), true));
        if self.tally() == Some(true) {
            // A single-node cluster wins at once.
            if pre {
                self.campaign(false);
            } else {
                self.become_leader();
            }
            return;
        }
        let term = if pre {
            self.term.saturating_add(1)
        } else {
            self.term
        };
        let last_index = self.log.last_index();
        let last_term = self.log.last_term();
        let peers: Vec<NodeId> = self.other_peers().collect();
        for to in peers {
            if pre {
                let msg = Message::PreVote {
                    term,
                    last_index,
                    last_term,
                };
                self.send(to, msg);
            } else {
                // Only after our own vote for ourselves is durable.
                let msg = Message::Vote {
                    term,
                    last_index,
                    last_term,
                };
                self.send_persisted(to, msg);
            }
        }
    }

    /// `Some(true)`: a majority granted; `Some(false)`: a majority can no longer be reached.
    fn tally(&self) -> Option<bool> {
        let granted = self.votes.iter().filter(|(_, g)| *g).count();
        let rejected = self.votes.len() - granted;
        if granted >= self.quorum() {
            Some(true)
        } else if rejected > self.cfg.peers.len() - self.quorum() {
            Some(false)
        } else {
            None
        }
    }

    fn record_vote(&mut self, from: NodeId, granted: bool) {
        if !self.votes.iter().any(|(id, _)| *id == from) {
            self.votes.push((from, granted));
        }
    }

    /// Answers PreVote (`pre`) or Vote for `term` from a candidate whose log ends at
    /// `(last_index, last_term)`. Term bookkeeping already happened in `step`.
    pub(super) fn handle_vote_request(
        &mut self,
        from: NodeId,
        pre: bool,
        term: Term,
        last_index: Index,
        last_term: Term,
    ) {
        let can_vote = self.vote == Some(from)
            || (self.vote.is_none() && self.leader.is_none())
            || (pre && term > self.term);
        let granted =
            can_vote && self.log.is_up_to_date(last_index, last_term) && !self.votes_held();
        if pre {
            let term = if granted { term } else { self.term };
            self.send(from, Message::PreVoteResp { term, granted });
        } else {
            if granted {
                self.vote = Some(from);
                self.election_elapsed = 0;
            }
            let term = self.term;
            // A grant must not leave before the vote is on disk.
            self.send_persisted(from, Message::VoteResp { term, granted });
        }
    }

    pub(super) fn handle_pre_vote_resp(&mut self, from: NodeId, term: Term, granted: bool) {
        if self.role != Role::PreCandidate {
            return;
        }
        if granted && term != self.term.saturating_add(1) {
            return; // an answer to an older pre-vote round
        }
        self.record_vote(from, granted);
        match self.tally() {
            Some(true) => self.campaign(false),
            Some(false) => {
                let term = self.term;
                self.become_follower(term, None);
            }
            None => {}
        }
    }

    pub(super) fn handle_vote_resp(&mut self, from: NodeId, granted: bool) {
        if self.role != Role::Candidate {
            return;
        }
        self.record_vote(from, granted);
        match self.tally() {
            Some(true) => self.become_leader(),
            Some(false) => {
                let term = self.term;
                self.become_follower(term, None);
            }
            None => {}
        }
    }
}
