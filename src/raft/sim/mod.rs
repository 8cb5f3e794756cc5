//! A deterministic simulated cluster for the Raft core, in the spirit of tikv/raft-rs's
//! `harness/src/network.rs` but with time, slow disks and crashes.
//!
//! Every node is a [`RaftCore`] driven the way the real runtime drives it: ticks on its own
//! (unsynchronized) clock, messages from a network that delays, reorders, duplicates, drops and
//! partitions, and a disk whose writes complete after a random delay, in order, with
//! `persisted_messages` sent only once their write is durable. A crash loses the queued writes
//! (the one in progress may be half done) and restarts from what reached [`MemDisk`].
//!
//! After every step the [`Checker`] asserts the Raft safety properties: election safety, log
//! matching, leader completeness, state machine safety, committed entries never change,
//! monotonic term/commit/applied, and linearizable ReadIndex answers. Everything is driven by
//! one seed, so a failing seed replays exactly.
//!
//! # Layout
//! - `mod.rs`: [`Sim`]: its nodes, the step loop, and the runtime's handling of a Ready.
//! - `network.rs`: links, delays, loss, duplication, partitions.
//! - `disk.rs`: [`MemDisk`] (storage semantics) and the hash-chain state machine.
//! - `checker.rs`: the invariants.

mod checker;
mod disk;
mod network;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

pub use self::checker::Checker;
use self::checker::Seen;
use self::disk::IoJob;
pub use self::disk::{HashMachine, MemDisk};
pub use self::network::NetStats;
use super::core::{Config, NotLeader, RaftCore, Ready, Role, Status};
use super::message::{Envelope, Index, NodeId};

/// Knobs of a simulated cluster. Time is in steps; see [`SimOptions::tick_every`].
#[derive(Clone, Debug)]
pub struct SimOptions {
    /// Number of nodes (ids `1..=nodes`).
    pub nodes: u64,
    /// Seed of everything random.
    pub seed: u64,
    /// Core configuration template (`id`, `peers` and `seed` are filled in per node).
    pub core: Config,
    /// Steps per tick of each node's clock (each node has its own phase).
    pub tick_every: u64,
    /// Message delay range in steps, inclusive.
    pub delay: (u64, u64),
    /// Probability that a message is lost.
    pub drop_rate: f64,
    /// Probability that a message is delivered twice.
    pub dup_rate: f64,
    /// Per step, probability that a node's oldest queued disk write completes.
    pub io_rate: f64,
    /// Take a state-machine snapshot and compact once this many entries were applied past the
    /// last snapshot.
    pub snapshot_every: Option<u64>,
    /// Print every delivered message (for debugging a failing seed).
    pub trace: bool,
}

impl SimOptions {
    /// `nodes` nodes with the lab's core defaults, a fast reliable network and disk.
    pub fn new(nodes: u64, seed: u64) -> SimOptions {
        let mut core = Config::new(1, Vec::new());
        core.max_append_entries = 8;
        core.max_inflight = 4;
        SimOptions {
            nodes,
            seed,
            core,
            tick_every: 10,
            delay: (1, 4),
            drop_rate: 0.0,
            dup_rate: 0.0,
            io_rate: 0.5,
            snapshot_every: None,
            trace: false,
        }
    }
}

/// One simulated node.
#[derive(Debug)]
struct SimNode {
    id: NodeId,
    core: Option<RaftCore>,
    disk: MemDisk,
    io: VecDeque<IoJob>,
    sm: HashMachine,
    seen: Seen,
    incarnation: u64,
    tick_phase: u64,
    /// Reads in progress: ctx -> commit index that must be visible to them.
    reads: BTreeMap<u64, Index>,
}

/// A message on the wire.
type InFlight = BTreeMap<(u64, u64), Envelope>;

/// A simulated cluster. See the module docs.
#[derive(Debug)]
pub struct Sim {
    opts: SimOptions,
    rng: StdRng,
    now: u64,
    seq: u64,
    nodes: Vec<SimNode>,
    in_flight: InFlight,
    /// Directed links that drop everything.
    cut: BTreeSet<(NodeId, NodeId)>,
    next_read: u64,
    checker: Checker,
    /// Counts of delivered messages.
    pub stats: NetStats,
}

impl Sim {
    /// A cluster of fresh nodes, none of them leader yet.
    pub fn new(opts: SimOptions) -> Sim {
        let mut rng = StdRng::seed_from_u64(opts.seed);
        let nodes = (1..=opts.nodes)
            .map(|id| SimNode {
                id,
                core: None,
                disk: MemDisk::default(),
                io: VecDeque::new(),
                sm: HashMachine::default(),
                seen: Seen::default(),
                incarnation: 0,
                tick_phase: rng.random_range(0..opts.tick_every.max(1)),
                reads: BTreeMap::new(),
            })
            .collect();
        let mut sim = Sim {
            opts,
            rng,
            now: 0,
            seq: 0,
            nodes,
            in_flight: BTreeMap::new(),
            cut: BTreeSet::new(),
            next_read: 0,
            checker: Checker::default(),
            stats: NetStats::default(),
        };
        for id in 1..=sim.opts.nodes {
            sim.start(id);
        }
        sim
    }

    fn node_config(&self, id: NodeId, incarnation: u64) -> Config {
        let mut cfg = self.opts.core.clone();
        cfg.id = id;
        cfg.peers = (1..=self.opts.nodes).collect();
        cfg.seed = self
            .opts
            .seed
            .wrapping_mul(1_000_003)
            .wrapping_add(id * 101 + incarnation);
        cfg
    }

    fn node(&mut self, id: NodeId) -> &mut SimNode {
        let i = usize::try_from(id - 1).unwrap_or(usize::MAX);
        &mut self.nodes[i]
    }

    fn start(&mut self, id: NodeId) {
        let incarnation = self.node(id).incarnation + 1;
        let cfg = self.node_config(id, incarnation);
        let restored = self.node(id).disk.restored();
        let sm = match &restored.snapshot {
            Some(s) => self.checker.restore(id, s),
            None => HashMachine::default(),
        };
        let core = RaftCore::new(cfg, restored);
        let node = self.node(id);
        node.incarnation = incarnation;
        node.core = Some(core);
        node.sm = sm;
        node.seen = Seen::default();
        node.io.clear();
        node.reads.clear();
        self.drain(id);
    }

    /// The options the cluster runs with.
    pub fn options(&self) -> &SimOptions {
        &self.opts
    }

    /// Mutable options (network and disk knobs take effect at once).
    pub fn options_mut(&mut self) -> &mut SimOptions {
        &mut self.opts
    }

    /// The invariant checker and its counters.
    pub fn checker(&self) -> &Checker {
        &self.checker
    }

    /// The current step.
    pub fn now(&self) -> u64 {
        self.now
    }

    /// Node ids.
    pub fn ids(&self) -> Vec<NodeId> {
        (1..=self.opts.nodes).collect()
    }

    /// One line per node: status, queued disk writes, disk end, state machine; for failure
    /// messages.
    pub fn describe(&self) -> String {
        let mut out = String::new();
        for node in &self.nodes {
            let status = node.core.as_ref().map(RaftCore::status);
            out.push_str(&format!(
                "node {}: {:?}; io queue {}; disk last {}; sm {:?}\n",
                node.id,
                status,
                node.io.len(),
                node.disk.last_index(),
                node.sm
            ));
        }
        out
    }

    /// A live node's core.
    pub fn core(&self, id: NodeId) -> Option<&RaftCore> {
        let i = usize::try_from(id.checked_sub(1)?).ok()?;
        self.nodes.get(i)?.core.as_ref()
    }

    /// A live node's status.
    pub fn status(&self, id: NodeId) -> Option<Status> {
        self.core(id).map(RaftCore::status)
    }

    /// A node's state machine (after a crash: what it had when it went down).
    pub fn state_machine(&self, id: NodeId) -> Option<HashMachine> {
        let i = usize::try_from(id.checked_sub(1)?).ok()?;
        self.nodes.get(i).map(|n| n.sm)
    }

    /// The live leader with the highest term, if any.
    pub fn leader(&self) -> Option<NodeId> {
        self.nodes
            .iter()
            .filter_map(|n| n.core.as_ref())
            .filter(|c| c.role() == Role::Leader)
            .max_by_key(|c| c.term())
            .map(RaftCore::id)
    }

    /// Proposes `data` at node `id`.
    pub fn propose(&mut self, id: NodeId, data: Vec<u8>) -> Result<Index, NotLeader> {
        let node = self.node(id);
        let Some(core) = node.core.as_mut() else {
            return Err(NotLeader { leader: None });
        };
        let result = core.propose(data);
        self.drain(id);
        result
    }

    /// Starts a ReadIndex read at node `id`; it must observe every commit seen so far.
    pub fn read(&mut self, id: NodeId) -> Result<u64, NotLeader> {
        self.next_read += 1;
        let ctx = self.next_read;
        let required = self.checker.max_commit;
        let node = self.node(id);
        let Some(core) = node.core.as_mut() else {
            return Err(NotLeader { leader: None });
        };
        core.read_index(ctx)?;
        node.reads.insert(ctx, required);
        self.drain(id);
        Ok(ctx)
    }

    /// Reads still waiting at node `id`.
    pub fn pending_reads(&self, id: NodeId) -> usize {
        usize::try_from(id - 1)
            .ok()
            .and_then(|i| self.nodes.get(i))
            .map_or(0, |n| n.reads.len())
    }

    /// Kills node `id`: queued disk writes are lost, the one in progress may be half done.
    pub fn crash(&mut self, id: NodeId) {
        let partial = self.rng.random_range(0..8usize);
        let node = self.node(id);
        if node.core.take().is_none() {
            return;
        }
        if let Some(job) = node.io.pop_front() {
            let units = partial.min(job.units());
            node.disk.perform(&job, units);
        }
        node.io.clear();
        node.reads.clear();
    }

    /// Restarts a crashed node from its disk.
    pub fn restart(&mut self, id: NodeId) {
        if self.node(id).core.is_none() {
            self.start(id);
        }
    }

    /// Crashes node `id`, erases its disk and starts it empty.
    pub fn wipe(&mut self, id: NodeId) {
        self.crash(id);
        self.node(id).disk = MemDisk::default();
        self.start(id);
    }

    /// Whether node `id` is running.
    pub fn is_up(&self, id: NodeId) -> bool {
        self.core(id).is_some()
    }

    /// Advances `steps` steps.
    pub fn run(&mut self, steps: u64) {
        for _ in 0..steps {
            self.step();
        }
    }

    /// Advances until `done` holds (checked every step), at most `max_steps`. Returns whether
    /// it held.
    pub fn run_until(&mut self, max_steps: u64, mut done: impl FnMut(&Sim) -> bool) -> bool {
        for _ in 0..max_steps {
            if done(self) {
                return true;
            }
            self.step();
        }
        done(self)
    }

    /// Advances until some node is leader and every live node knows it, at most `max_steps`.
    pub fn elect(&mut self, max_steps: u64) -> Option<NodeId> {
        let ok = self.run_until(max_steps, |sim| {
            let Some(leader) = sim.leader() else {
                return false;
            };
            sim.ids()
                .into_iter()
                .filter_map(|id| sim.core(id))
                .all(|c| c.leader() == Some(leader))
        });
        if ok { self.leader() } else { None }
    }

    /// Like [`Sim::elect`], but only a node in `group` counts as leader and only the nodes of
    /// `group` need to know it (the others may be cut off).
    pub fn elect_among(&mut self, group: &[NodeId], max_steps: u64) -> Option<NodeId> {
        let leader_in = |sim: &Sim| {
            group
                .iter()
                .filter_map(|&id| sim.core(id))
                .filter(|c| c.role() == Role::Leader)
                .max_by_key(|c| c.term())
                .map(RaftCore::id)
        };
        let ok = self.run_until(max_steps, |sim| {
            leader_in(sim).is_some_and(|leader| {
                group
                    .iter()
                    .filter_map(|&id| sim.core(id))
                    .all(|c| c.leader() == Some(leader))
            })
        });
        if ok { leader_in(self) } else { None }
    }

    /// One step: ticks, deliveries, disk completions, then the log invariants.
    pub fn step(&mut self) {
        self.now += 1;
        let tick_every = self.opts.tick_every.max(1);
        for i in 0..self.nodes.len() {
            let node = &mut self.nodes[i];
            if !(self.now + node.tick_phase).is_multiple_of(tick_every) {
                continue;
            }
            if let Some(core) = node.core.as_mut() {
                core.tick();
                let id = node.id;
                self.drain(id);
            }
        }
        while let Some(entry) = self.in_flight.first_entry() {
            if entry.key().0 > self.now {
                break;
            }
            let env = entry.remove();
            self.deliver(env);
        }
        for i in 0..self.nodes.len() {
            if self.nodes[i].core.is_some() && self.rng.random_bool(self.opts.io_rate) {
                let id = self.nodes[i].id;
                self.complete_io(id);
            }
        }
        if self.now.is_multiple_of(16) {
            self.check_logs();
        }
    }

    /// Log matching and committed-entries-never-change across live nodes.
    pub fn check_logs(&self) {
        let cores: Vec<&RaftCore> = self.nodes.iter().filter_map(|n| n.core.as_ref()).collect();
        self.checker.check_logs(&cores);
    }

    /// The disk finishes a random number of the oldest queued writes (a group commit: the real
    /// storage thread takes everything queued into one fsync).
    fn complete_io(&mut self, id: NodeId) {
        let queued = self.node(id).io.len();
        if queued == 0 {
            return;
        }
        let batch = self.rng.random_range(1..=queued);
        for _ in 0..batch {
            self.complete_one_io(id);
        }
    }

    fn complete_one_io(&mut self, id: NodeId) {
        let node = self.node(id);
        let Some(job) = node.io.pop_front() else {
            return;
        };
        node.disk.perform(&job, usize::MAX);
        if let IoJob::Ready {
            persist_point,
            persisted_messages,
            ..
        } = job
        {
            if let (Some((index, term)), Some(core)) = (persist_point, node.core.as_mut()) {
                core.on_persisted(index, term);
            }
            for env in persisted_messages {
                self.send(env);
            }
        }
        self.drain(id);
    }

    /// Carries out every Ready of node `id`, as the runtime would.
    fn drain(&mut self, id: NodeId) {
        let i = usize::try_from(id - 1).unwrap_or(usize::MAX);
        loop {
            let node = &mut self.nodes[i];
            let Some(core) = node.core.as_mut() else {
                return;
            };
            if !core.has_ready() {
                self.checker.observe(core, &mut node.seen);
                return;
            }
            let ready = core.ready();
            self.handle_ready(id, ready);
        }
    }

    fn handle_ready(&mut self, id: NodeId, ready: Ready) {
        let persist_point = ready.persist_point();
        let Ready {
            hard_state,
            snapshot,
            truncate_from,
            entries,
            messages,
            persisted_messages,
            committed,
            read_states,
            dropped_reads,
        } = ready;
        for env in messages {
            self.send(env);
        }
        let i = usize::try_from(id - 1).unwrap_or(usize::MAX);
        let node = &mut self.nodes[i];
        if let Some(s) = &snapshot {
            node.sm = self.checker.restore(id, s);
        }
        for entry in &committed {
            self.checker.apply(id, &mut node.sm, entry);
        }
        for (ctx, index) in read_states {
            if let Some(required) = node.reads.remove(&ctx) {
                self.checker.check_read(id, index, required);
            }
        }
        for ctx in dropped_reads {
            node.reads.remove(&ctx);
        }
        let empty = hard_state.is_none()
            && snapshot.is_none()
            && truncate_from.is_none()
            && entries.is_empty()
            && persisted_messages.is_empty();
        if !empty {
            node.io.push_back(IoJob::Ready {
                hard_state,
                snapshot,
                truncate_from,
                entries,
                persist_point,
                persisted_messages,
            });
        }
        if let (Some(every), Some(core)) = (self.opts.snapshot_every, node.core.as_mut()) {
            let since = node.sm.applied.saturating_sub(core.status().snapshot_index);
            if since >= every.max(1) {
                let snapshot = node.sm.snapshot();
                core.compact(snapshot.clone());
                node.io.push_back(IoJob::SaveSnapshot(snapshot));
            }
        }
    }
}
