//! Randomized fault runs over the simulated cluster: every seed is a different schedule of
//! proposals, reads, crashes, partitions and lossy links; the checker asserts the safety
//! properties throughout, and liveness is checked after everything heals.

use super::{Sim, SimOptions};
use crate::raft::message::NodeId;

/// Proposes at whoever leads, returning the index if someone took it.
fn propose_at_leader(sim: &mut Sim, data: Vec<u8>) -> Option<u64> {
    let leader = sim.leader()?;
    sim.propose(leader, data).ok()
}

/// Proposes `data` at the leader until one proposal is applied on every node (a proposal may
/// be lost when leadership changes, as in any Raft). Returns whether that happened.
fn commit_everywhere(sim: &mut Sim, data: &[u8]) -> bool {
    for _ in 0..20 {
        if !sim.run_until(20_000, converged) {
            return false;
        }
        let Some(leader) = sim.leader() else {
            continue;
        };
        let term = sim.status(leader).map_or(0, |s| s.term);
        let Ok(index) = sim.propose(leader, data.to_vec()) else {
            continue;
        };
        let applied_everywhere = |s: &Sim| {
            s.ids()
                .iter()
                .all(|&id| s.state_machine(id).is_some_and(|m| m.applied >= index))
        };
        if sim.run_until(20_000, |s| {
            applied_everywhere(s)
                || s.leader().and_then(|l| s.status(l)).map(|s| s.term) != Some(term)
        }) && applied_everywhere(sim)
            && sim.checker().applied_term(index) == Some(term)
        {
            return true;
        }
    }
    false
}

/// All live nodes applied up to the leader's commit.
fn converged(sim: &Sim) -> bool {
    let Some(leader) = sim.leader() else {
        return false;
    };
    let Some(commit) = sim.status(leader).map(|s| s.commit) else {
        return false;
    };
    sim.ids().into_iter().all(|id| {
        sim.status(id)
            .is_some_and(|s| s.applied == commit && s.leader == Some(leader))
    })
}

#[test]
fn three_nodes_elect_a_leader_and_replicate() {
    let mut sim = Sim::new(SimOptions::new(3, 1));
    let leader = sim.elect(2_000);
    assert!(leader.is_some(), "no leader elected");
    for i in 0..100u32 {
        assert!(propose_at_leader(&mut sim, i.to_be_bytes().to_vec()).is_some());
        sim.run(3);
    }
    assert!(sim.run_until(5_000, converged), "cluster did not converge");
    let states: Vec<_> = sim.ids().iter().map(|&id| sim.state_machine(id)).collect();
    assert!(states.windows(2).all(|w| w[0] == w[1]));
    assert!(sim.state_machine(1).is_some_and(|s| s.applied >= 101));
}

#[test]
fn single_node_cluster_commits_and_reads_alone() {
    let mut sim = Sim::new(SimOptions::new(1, 7));
    let leader: NodeId = sim.elect(1_000).unwrap_or(0);
    assert_eq!(leader, 1);
    assert!(sim.propose(1, b"x".to_vec()).is_ok());
    assert!(sim.run_until(1_000, |s| {
        s.state_machine(1).is_some_and(|m| m.applied == 2)
    }));
    assert!(sim.read(1).is_ok());
    assert_eq!(
        sim.pending_reads(1),
        0,
        "a single node answers a read at once"
    );
}

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Number of seeds per randomized test (`WIRELAB_SIM_SEEDS` overrides).
fn seeds(default: u64) -> u64 {
    std::env::var("WIRELAB_SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// What a chaos run saw, for assertions that the run exercised something.
#[derive(Debug, Default)]
struct RunStats {
    crashes: u64,
    partitions: u64,
}

/// One randomized run: random knobs, random faults for `steps` steps, then heal and require
/// the cluster to converge and commit again. The checker asserts safety at every step.
fn chaos_run(seed: u64, nodes: u64, steps: u64) -> RunStats {
    let mut rng = StdRng::seed_from_u64(seed ^ 0x5eed_0fc4_a0a0);
    let mut opts = SimOptions::new(nodes, seed);
    opts.drop_rate = [0.0, 0.02, 0.1][rng.random_range(0..3)];
    opts.dup_rate = [0.0, 0.05][rng.random_range(0..2)];
    opts.delay = (1, rng.random_range(2..30));
    opts.io_rate = [0.1, 0.5, 0.9][rng.random_range(0..3)];
    opts.snapshot_every = [None, Some(4), Some(25)][rng.random_range(0..3)];
    opts.core.pre_vote = rng.random_bool(0.7);
    opts.core.check_quorum = rng.random_bool(0.7);
    opts.core.max_inflight = rng.random_range(1..8);
    opts.core.max_append_entries = rng.random_range(1..16);
    opts.core.max_append_bytes = rng.random_range(1..64);
    let mut sim = Sim::new(opts);
    let mut stats = RunStats::default();
    let mut counter = 0u64;
    let ids = sim.ids();
    for _ in 0..steps {
        if rng.random_bool(0.2) {
            counter += 1;
            let data = [seed.to_be_bytes(), counter.to_be_bytes()].concat();
            let target = if rng.random_bool(0.9) {
                sim.leader()
            } else {
                Some(ids[rng.random_range(0..ids.len())])
            };
            if let Some(target) = target {
                let _ = sim.propose(target, data);
            }
        }
        if rng.random_bool(0.03) {
            let target = ids[rng.random_range(0..ids.len())];
            let _ = sim.read(target);
        }
        if rng.random_bool(0.002) {
            let target = ids[rng.random_range(0..ids.len())];
            if sim.is_up(target) {
                sim.crash(target);
                stats.crashes += 1;
            }
        }
        if rng.random_bool(0.004) {
            let target = ids[rng.random_range(0..ids.len())];
            sim.restart(target);
        }
        if rng.random_bool(0.002) {
            let size = rng.random_range(1..=ids.len() / 2);
            let mut group = ids.clone();
            while group.len() > size {
                group.remove(rng.random_range(0..group.len()));
            }
            sim.partition(&group);
            stats.partitions += 1;
        }
        if rng.random_bool(0.003) {
            sim.heal();
        }
        sim.step();
    }
    sim.heal();
    if std::env::var("WIRELAB_SIM_DEBUG").is_ok() {
        sim.options_mut().trace = true;
        println!("healed at {}\n{}", sim.now(), sim.describe());
    }
    sim.options_mut().drop_rate = 0.0;
    sim.options_mut().dup_rate = 0.0;
    for &id in &ids {
        sim.restart(id);
    }
    assert!(
        sim.run_until(30_000, converged),
        "liveness after heal: seed {seed} did not converge:\n{}",
        sim.describe()
    );
    assert!(
        commit_everywhere(&mut sim, b"after heal"),
        "liveness after heal: seed {seed} did not commit a new entry everywhere:\n{}",
        sim.describe()
    );
    sim.check_logs();
    let states: Vec<_> = ids.iter().map(|&id| sim.state_machine(id)).collect();
    assert!(
        states.windows(2).all(|w| w[0] == w[1]),
        "seed {seed}: state machines differ after convergence: {states:?}"
    );
    stats
}

#[test]
fn debug_one_seed() {
    if let Some(seed) = std::env::var("WIRELAB_SIM_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        let nodes = std::env::var("WIRELAB_SIM_NODES")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(3);
        chaos_run(seed, nodes, 3_000);
    }
}

#[test]
fn randomized_faults_keep_election_safety_log_matching_and_state_machine_safety_3_nodes() {
    let mut total = RunStats::default();
    for seed in 0..seeds(60) {
        let stats = chaos_run(seed, 3, 3_000);
        total.crashes += stats.crashes;
        total.partitions += stats.partitions;
    }
    assert!(total.crashes > 0 && total.partitions > 0, "{total:?}");
}

#[test]
fn randomized_faults_keep_election_safety_log_matching_and_state_machine_safety_5_nodes() {
    for seed in 1_000..1_000 + seeds(30) {
        chaos_run(seed, 5, 3_000);
    }
}
