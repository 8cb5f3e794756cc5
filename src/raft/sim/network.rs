//! The simulated network: links that can be cut, random delay (hence reordering), loss and
//! duplication, and counters of what was delivered.

use rand::Rng;

use super::Sim;
use crate::raft::message::{Envelope, Message, NodeId};

/// Counts of messages delivered, for tests that bound protocol cost.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NetStats {
    /// All messages.
    pub delivered: u64,
    /// Rejected Appends (answers with `success: false`).
    pub append_rejections: u64,
    /// InstallSnapshot messages.
    pub snapshots: u64,
    /// Vote and PreVote requests.
    pub vote_requests: u64,
}

impl Sim {
    /// Cuts the link between `a` and `b` in both directions.
    pub fn cut(&mut self, a: NodeId, b: NodeId) {
        self.cut.insert((a, b));
        self.cut.insert((b, a));
    }

    /// Cuts `id` off from every other node.
    pub fn isolate(&mut self, id: NodeId) {
        for other in self.ids() {
            if other != id {
                self.cut(id, other);
            }
        }
    }

    /// Splits the cluster: nodes in `group` only talk among themselves.
    pub fn partition(&mut self, group: &[NodeId]) {
        for a in self.ids() {
            for b in self.ids() {
                if group.contains(&a) != group.contains(&b) {
                    self.cut.insert((a, b));
                }
            }
        }
    }

    /// Restores every link.
    pub fn heal(&mut self) {
        self.cut.clear();
    }

    pub(super) fn deliver(&mut self, env: Envelope) {
        if self.cut.contains(&(env.from, env.to)) {
            return;
        }
        let to = env.to;
        let Some(core) = self
            .nodes
            .get_mut(usize::try_from(to.wrapping_sub(1)).unwrap_or(usize::MAX))
            .and_then(|n| n.core.as_mut())
        else {
            return;
        };
        if self.opts.trace {
            println!(
                "{} deliver {} -> {}: {:?}",
                self.now,
                env.from,
                env.to,
                short(&env.msg)
            );
        }
        self.stats.delivered += 1;
        match &env.msg {
            Message::AppendResp { success: false, .. } => self.stats.append_rejections += 1,
            Message::InstallSnapshot { .. } => self.stats.snapshots += 1,
            Message::Vote { .. } | Message::PreVote { .. } => self.stats.vote_requests += 1,
            _ => {}
        }
        core.step(env.from, env.msg);
        self.drain(to);
    }

    pub(super) fn send(&mut self, env: Envelope) {
        if self.cut.contains(&(env.from, env.to)) || self.rng.random_bool(self.opts.drop_rate) {
            return;
        }
        let copies = if self.rng.random_bool(self.opts.dup_rate) {
            2
        } else {
            1
        };
        for _ in 0..copies {
            let (lo, hi) = self.opts.delay;
            let delay = self.rng.random_range(lo.max(1)..=hi.max(lo.max(1)));
            self.seq += 1;
            self.in_flight
                .insert((self.now + delay, self.seq), env.clone());
        }
    }
}

/// A message without its payloads, for traces.
fn short(msg: &Message) -> String {
    match msg {
        Message::Append {
            term,
            prev_index,
            prev_term,
            entries,
            commit,
            ctx,
        } => format!(
            "Append t{term} prev ({prev_index},{prev_term}) n{} commit {commit} ctx {ctx}",
            entries.len()
        ),
        Message::InstallSnapshot { term, snapshot } => {
            format!("InstallSnapshot t{term} {:?}", snapshot.meta)
        }
        other => format!("{other:?}"),
    }
}
