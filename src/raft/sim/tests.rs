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
