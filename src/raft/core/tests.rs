//! Targeted tests of the core's behaviour, each named after what it proves. Most run on the
//! simulated cluster ([`crate::raft::sim`]), whose checker asserts the safety properties at
//! every step; a few drive a single core by hand to pin down one rule.

use super::{Config, RaftCore, Restored, Role};
use crate::raft::message::{Entry, EntryKind, HardState, Message, Snapshot, SnapshotMeta};
use crate::raft::sim::{Sim, SimOptions};

/// Steps per election timeout in the default simulation.
fn election_steps(sim: &Sim) -> u64 {
    u64::from(sim.options().core.election_ticks) * sim.options().tick_every
}

fn other_than(sim: &Sim, id: u64) -> u64 {
    sim.ids().into_iter().find(|&x| x != id).unwrap_or(0)
}

fn all_applied(sim: &Sim, index: u64) -> bool {
    sim.ids()
        .iter()
        .all(|&id| sim.state_machine(id).is_some_and(|m| m.applied >= index))
}

fn commit_of(sim: &Sim, id: u64) -> u64 {
    sim.status(id).map_or(0, |s| s.commit)
}

fn term_of(sim: &Sim, id: u64) -> u64 {
    sim.status(id).map_or(0, |s| s.term)
}

/// Proposes `n` entries at `leader`, a few steps apart; returns the last index.
fn propose_many(sim: &mut Sim, leader: u64, n: u64) -> u64 {
    let mut last = 0;
    for i in 0..n {
        last = sim
            .propose(leader, i.to_be_bytes().to_vec())
            .expect("leader accepts");
        sim.run(1);
    }
    last
}

#[test]
fn pre_vote_keeps_a_rejoining_isolated_node_from_disrupting_the_leader() {
    let mut sim = Sim::new(SimOptions::new(3, 11));
    let leader = sim.elect(5_000).expect("a leader");
    let term = term_of(&sim, leader);
    let follower = other_than(&sim, leader);
    sim.isolate(follower);
    let long = 20 * election_steps(&sim);
    sim.run(long);
    assert_eq!(
        term_of(&sim, follower),
        term,
        "pre-vote: an isolated node cannot win a pre-vote, so it never bumps its term"
    );
    assert_ne!(sim.status(follower).map(|s| s.role), Some(Role::Leader));
    sim.heal();
    sim.run(5 * election_steps(&sim));
    assert_eq!(sim.leader(), Some(leader), "the leader was not disrupted");
    assert_eq!(term_of(&sim, leader), term, "no new term was started");
    assert_eq!(sim.status(follower).and_then(|s| s.leader), Some(leader));
}

#[test]
fn without_pre_vote_an_isolated_node_inflates_its_term() {
    let mut opts = SimOptions::new(3, 12);
    opts.core.pre_vote = false;
    let mut sim = Sim::new(opts);
    let leader = sim.elect(5_000).expect("a leader");
    let term = term_of(&sim, leader);
    let follower = other_than(&sim, leader);
    sim.isolate(follower);
    sim.run(20 * election_steps(&sim));
    assert!(
        term_of(&sim, follower) > term + 5,
        "the contrast case: each timeout starts a new term"
    );
}

#[test]
fn check_quorum_makes_a_minority_leader_step_down() {
    let mut sim = Sim::new(SimOptions::new(3, 13));
    let leader = sim.elect(5_000).expect("a leader");
    let term = term_of(&sim, leader);
    sim.isolate(leader);
    sim.run(3 * election_steps(&sim));
    assert_ne!(
        sim.status(leader).map(|s| s.role),
        Some(Role::Leader),
        "a leader that hears from no majority for an election timeout steps down"
    );
    let new_leader = sim.leader().expect("the majority elects a new leader");
    assert_ne!(new_leader, leader);
    assert!(term_of(&sim, new_leader) > term);
}

#[test]
fn minority_leader_cannot_commit() {
    let mut opts = SimOptions::new(3, 14);
    opts.core.check_quorum = false; // keep the cut-off leader believing it leads
    let mut sim = Sim::new(opts);
    let old = sim.elect(5_000).expect("a leader");
    let base = propose_many(&mut sim, old, 3);
    assert!(sim.run_until(5_000, |s| all_applied(s, base)));
    let old_term = term_of(&sim, old);
    let commit_before = commit_of(&sim, old);
    sim.isolate(old);
    let minority_last = propose_many(&mut sim, old, 20);
    sim.run(10 * election_steps(&sim));
    assert_eq!(sim.status(old).map(|s| s.role), Some(Role::Leader));
    assert_eq!(
        commit_of(&sim, old),
        commit_before,
        "a leader without a majority commits nothing"
    );
    let new = sim.leader().expect("the majority elected a leader");
    assert_ne!(new, old);
    let majority_last = propose_many(&mut sim, new, 5);
    sim.heal();
    assert!(sim.run_until(20_000, |s| all_applied(s, majority_last)));
    for index in (commit_before + 1)..=minority_last {
        assert_ne!(
            sim.checker().applied_term(index),
            Some(old_term),
            "entry {index} proposed to the minority leader was applied"
        );
    }
}

#[test]
fn fast_back_tracking_converges_in_a_few_round_trips() {
    let mut opts = SimOptions::new(3, 15);
    opts.core.check_quorum = false;
    opts.core.max_append_entries = 64;
    let mut sim = Sim::new(opts);
    let old = sim.elect(5_000).expect("a leader");
    let base = propose_many(&mut sim, old, 10);
    assert!(sim.run_until(5_000, |s| all_applied(s, base)));
    // 300 entries only the cut-off leader has, then 300 different ones the majority commits.
    sim.isolate(old);
    propose_many(&mut sim, old, 300);
    let new = sim
        .elect_among(&other_ids(&sim, old), 20_000)
        .expect("the majority elects a leader");
    let last = propose_many(&mut sim, new, 300);
    assert!(sim.run_until(20_000, |s| commit_of(s, new) >= last));
    let rejections = sim.stats.append_rejections;
    sim.heal();
    assert!(sim.run_until(20_000, |s| all_applied(s, last)));
    sim.check_logs();
    let used = sim.stats.append_rejections - rejections;
    println!("back-tracking used {used} rejections");
    assert!(
        used <= 6,
        "back-tracking over 300 conflicting entries took {used} rejections"
    );
}

fn other_ids(sim: &Sim, id: u64) -> Vec<u64> {
    sim.ids().into_iter().filter(|&x| x != id).collect()
}

#[test]
fn read_index_never_answers_from_a_deposed_leader() {
    let mut opts = SimOptions::new(3, 16);
    opts.core.check_quorum = false; // the deposed leader keeps believing it leads
    let mut sim = Sim::new(opts);
    let old = sim.elect(5_000).expect("a leader");
    let base = propose_many(&mut sim, old, 2);
    assert!(sim.run_until(5_000, |s| all_applied(s, base)));
    sim.isolate(old);
    let new = sim
        .elect_among(&other_ids(&sim, old), 20_000)
        .expect("the majority elects a leader");
    let last = propose_many(&mut sim, new, 5);
    assert!(sim.run_until(20_000, |s| commit_of(s, new) >= last));
    // The old leader still thinks it leads and accepts reads; answering any of them at its
    // stale commit index would miss the 5 committed writes (the checker would fail the run).
    let served = sim.checker().reads_served;
    for _ in 0..5 {
        sim.read(old)
            .expect("the deposed leader still believes it leads");
    }
    sim.run(10 * election_steps(&sim));
    assert_eq!(sim.checker().reads_served, served, "no read was answered");
    assert_eq!(sim.pending_reads(old), 5);
    sim.heal();
    assert!(sim.run_until(20_000, |s| {
        s.status(old).is_some_and(|st| st.role != Role::Leader)
    }));
    sim.run(100);
    assert_eq!(
        sim.pending_reads(old),
        0,
        "the reads were dropped on stepping down"
    );
    assert_eq!(sim.checker().reads_served, served);
    // The real leader answers.
    sim.read(new).expect("the leader accepts reads");
    assert!(sim.run_until(5_000, |s| s.checker().reads_served == served + 1));
}

#[test]
fn snapshot_install_catches_up_a_wiped_follower() {
    let mut opts = SimOptions::new(3, 17);
    opts.snapshot_every = Some(20);
    let mut sim = Sim::new(opts);
    let leader = sim.elect(5_000).expect("a leader");
    let last = propose_many(&mut sim, leader, 200);
    assert!(sim.run_until(20_000, |s| all_applied(s, last)));
    assert!(sim.status(leader).is_some_and(|s| s.snapshot_index > 100));
    let follower = other_than(&sim, leader);
    sim.wipe(follower);
    assert!(sim.run_until(20_000, |s| all_applied(s, last)));
    assert!(sim.stats.snapshots > 0, "the follower was sent a snapshot");
    assert_eq!(sim.state_machine(follower), sim.state_machine(leader));
    // And it keeps up afterwards.
    let more = propose_many(&mut sim, leader, 10);
    assert!(sim.run_until(20_000, |s| all_applied(s, more)));
}

#[test]
fn duplicate_and_reordered_messages_are_harmless() {
    let mut opts = SimOptions::new(3, 18);
    opts.dup_rate = 0.5;
    opts.delay = (1, 60);
    let mut sim = Sim::new(opts);
    let leader = sim.elect(20_000).expect("a leader");
    let mut last = 0;
    for _ in 0..300 {
        if let Some(index) = sim
            .leader()
            .and_then(|l| sim.propose(l, b"dup".to_vec()).ok())
        {
            last = index;
        }
        sim.run(2);
    }
    assert!(last > 0, "leader {leader} accepted proposals");
    assert!(sim.run_until(50_000, |s| {
        s.leader().is_some_and(|l| {
            let commit = commit_of(s, l);
            commit >= last && all_applied(s, commit)
        })
    }));
    sim.check_logs();
}

#[test]
fn pipelining_keeps_several_appends_in_flight() {
    let mut opts = SimOptions::new(3, 19);
    opts.core.max_append_entries = 1;
    opts.core.max_inflight = 8;
    opts.delay = (20, 20); // a long round trip
    let mut sim = Sim::new(opts);
    let leader = sim.elect(20_000).expect("a leader");
    let start = sim.now();
    let last = propose_many(&mut sim, leader, 40);
    assert!(sim.run_until(20_000, |s| all_applied(s, last)));
    let elapsed = sim.now() - start;
    println!("40 entries committed in {elapsed} steps");
    // One entry per message and a 40-step round trip: stop-and-wait would need 40 round
    // trips (1600 steps); a window of 8 needs about 5.
    assert!(elapsed < 600, "40 entries took {elapsed} steps");
}

// ---- single cores driven by hand ----

fn leader_of_term_3(peers: Vec<u64>, entries: Vec<Entry>) -> RaftCore {
    let mut cfg = Config::new(1, peers);
    cfg.pre_vote = false;
    let restored = Restored {
        hard_state: HardState {
            term: 2,
            vote: None,
        },
        snapshot: None,
        entries,
    };
    let mut core = RaftCore::new(cfg, restored);
    while core.role() != Role::Candidate {
        core.tick();
    }
    assert_eq!(core.term(), 3);
    core.step(
        2,
        Message::VoteResp {
            term: 3,
            granted: true,
        },
    );
    assert_eq!(core.role(), Role::Leader);
    core
}

fn entry(index: u64, term: u64) -> Entry {
    Entry {
        term,
        index,
        kind: EntryKind::Normal,
        data: vec![1],
    }
}

fn ack(core: &mut RaftCore, from: u64, index: u64) {
    let term = core.term();
    core.step(
        from,
        Message::AppendResp {
            term,
            success: true,
            index,
            reject_hint: 0,
            ctx: 0,
        },
    );
}

#[test]
fn leader_commits_only_by_counting_entries_of_its_own_term() {
    // Entry 2 is from term 2; the new leader of term 3 appends its no-op at 3.
    let mut core = leader_of_term_3(vec![1, 2, 3], vec![entry(1, 1), entry(2, 2)]);
    let ready = core.ready();
    assert_eq!(
        ready.entries.last().map(|e| (e.index, e.kind)),
        Some((3, EntryKind::Noop))
    );
    core.on_persisted(3, 3);
    ack(&mut core, 2, 2);
    assert_eq!(
        core.status().commit,
        0,
        "a majority holds entry 2, but it is from an older term (Raft §5.4.2, figure 8)"
    );
    ack(&mut core, 2, 3);
    assert_eq!(
        core.status().commit,
        3,
        "counting the no-op commits it and all before it"
    );
}

#[test]
fn leader_counts_its_own_copy_only_once_it_is_durable() {
    let mut core = leader_of_term_3(vec![1, 2, 3], vec![]);
    let _ = core.ready();
    ack(&mut core, 2, 1);
    assert_eq!(
        core.status().commit,
        0,
        "one follower and an unsynced leader are no majority"
    );
    core.on_persisted(1, 2); // a stale report: the log holds term 3 at index 1
    assert_eq!(core.status().commit, 0);
    core.on_persisted(1, 3);
    assert_eq!(core.status().commit, 1);
}

#[test]
fn heartbeats_carry_commit_capped_at_the_followers_match() {
    let mut core = leader_of_term_3(vec![1, 2, 3], vec![]);
    let _ = core.ready();
    core.on_persisted(1, 3);
    ack(&mut core, 2, 1);
    for i in 0..3 {
        core.propose(vec![i]).expect("leader");
    }
    let _ = core.ready();
    core.on_persisted(4, 3);
    ack(&mut core, 2, 4);
    assert_eq!(core.status().commit, 4);
    let heartbeats = core.config_heartbeat_ticks();
    for _ in 0..heartbeats {
        core.tick();
    }
    let ready = core.ready();
    let commit_to = |to: u64| {
        ready
            .messages
            .iter()
            .filter(|e| e.to == to)
            .filter_map(|e| match &e.msg {
                Message::Append {
                    entries, commit, ..
                } if entries.is_empty() => Some(*commit),
                _ => None,
            })
            .next_back()
    };
    assert_eq!(commit_to(2), Some(4));
    assert_eq!(commit_to(3), Some(0), "node 3 matched nothing yet");
}

#[test]
fn follower_in_lease_ignores_vote_requests_and_keeps_its_term() {
    let mut cfg = Config::new(2, vec![1, 2, 3]);
    cfg.check_quorum = true;
    let mut core = RaftCore::new(cfg, Restored::default());
    core.step(
        1,
        Message::Append {
            term: 1,
            prev_index: 0,
            prev_term: 0,
            entries: vec![],
            commit: 0,
            ctx: 0,
        },
    );
    let _ = core.ready();
    for msg in [
        Message::Vote {
            term: 5,
            last_index: 10,
            last_term: 4,
        },
        Message::PreVote {
            term: 5,
            last_index: 10,
            last_term: 4,
        },
    ] {
        core.step(3, msg);
        assert_eq!(
            core.term(),
            1,
            "no term bump for a vote request inside the lease"
        );
        assert_eq!(core.leader(), Some(1));
        let ready = core.ready();
        assert!(ready.messages.is_empty() && ready.persisted_messages.is_empty());
    }
}

#[test]
fn a_read_never_joins_a_round_whose_heartbeat_already_left() {
    let mut core = leader_of_term_3(vec![1, 2, 3], vec![]);
    let _ = core.ready();
    core.on_persisted(1, 3);
    ack(&mut core, 2, 1); // the no-op commits
    assert_eq!(core.status().commit, 1);
    let _ = core.ready();
    core.read_index(100).expect("leader");
    // A heartbeat tick sends round 1 before the next Ready...
    for _ in 0..core.config_heartbeat_ticks() {
        core.tick();
    }
    // ...so a read arriving now needs a round of its own.
    core.read_index(200).expect("leader");
    let ready = core.ready();
    let rounds: Vec<u64> = ready
        .messages
        .iter()
        .filter_map(|e| match e.msg {
            Message::Append { ctx, .. } => Some(ctx),
            _ => None,
        })
        .collect();
    assert!(rounds.contains(&1) && rounds.contains(&2), "{rounds:?}");
    let echo = |core: &mut RaftCore, ctx: u64| {
        core.step(
            2,
            Message::AppendResp {
                term: 3,
                success: true,
                index: 1,
                reject_hint: 0,
                ctx,
            },
        )
    };
    echo(&mut core, 1);
    assert_eq!(
        core.ready().read_states,
        vec![(100, 1)],
        "round 1 confirms only read 100"
    );
    echo(&mut core, 2);
    assert_eq!(core.ready().read_states, vec![(200, 1)]);
}

#[test]
fn a_message_with_an_absurd_term_is_ignored_and_elections_still_work() {
    // Issue 11, item 1: one forged AppendResp with term 2^64-1 moved every node to that term,
    // and the next election's `term + 1` wrapped to 0.
    let mut core = RaftCore::new(Config::new(2, vec![1, 2, 3]), Restored::default());
    let before = core.status().term;
    for term in [u64::MAX, super::MAX_TERM_LEAD + 1] {
        core.step(
            1,
            Message::AppendResp {
                term,
                success: false,
                index: 0,
                reject_hint: 0,
                ctx: 0,
            },
        );
    }
    assert_eq!(core.status().term, before, "the term did not move");
    assert_eq!(core.absurd_terms(), 2);
    // A term far ahead but within reach of a long partition is still adopted.
    core.step(
        1,
        Message::AppendResp {
            term: 1_000_000,
            success: false,
            index: 0,
            reject_hint: 0,
            ctx: 0,
        },
    );
    assert_eq!(core.status().term, 1_000_000);
}

#[test]
fn a_rebuilt_node_neither_votes_nor_campaigns_until_its_log_reaches_the_hold() {
    // `raft repair`: a node rebuilt from nothing has forgotten the entries it helped commit;
    // its vote could elect a leader that lacks them, so it is held until it has them again.
    let mut cfg = Config::new(3, vec![1, 2, 3]);
    // (Without check-quorum, so that a vote right after an Append is answered at all.)
    cfg.check_quorum = false;
    let mut core = RaftCore::new(cfg, Restored::default());
    core.hold_votes_until(2);
    let grants = |core: &mut RaftCore| {
        let r = core.ready();
        r.messages
            .iter()
            .chain(r.persisted_messages.iter())
            .filter(|e| {
                matches!(
                    e.msg,
                    Message::VoteResp { granted: true, .. }
                        | Message::PreVoteResp { granted: true, .. }
                )
            })
            .count()
    };
    // A candidate with an empty log asks: refused while held.
    core.step(
        1,
        Message::Vote {
            term: 5,
            last_index: 0,
            last_term: 0,
        },
    );
    assert_eq!(grants(&mut core), 0, "held: no vote");
    // Its own election timer never makes it campaign.
    for _ in 0..1000 {
        core.tick();
    }
    assert_ne!(core.status().role, Role::Candidate);
    assert_ne!(core.status().role, Role::PreCandidate);
    let entry = |index| Entry {
        term: 5,
        index,
        kind: EntryKind::Normal,
        data: vec![],
    };
    // The leader of term 5 sends the first two entries: the hold is released.
    core.step(
        1,
        Message::Append {
            term: 5,
            prev_index: 0,
            prev_term: 0,
            entries: vec![entry(1), entry(2)],
            commit: 2,
            ctx: 0,
        },
    );
    let _ = core.ready();
    core.step(
        2,
        Message::Vote {
            term: 6,
            last_index: 2,
            last_term: 5,
        },
    );
    assert_eq!(grants(&mut core), 1, "caught up: votes again");
}

#[test]
fn indexes_from_the_wire_at_their_maximum_do_not_wrap() {
    // Issue 11: no arithmetic on a value from the network without a checked operation. Each
    // of these overflowed `+ 1` (a panic in a debug build, a wrap in release).
    let mut leader = leader_of_term_3(vec![1, 2, 3], vec![entry(1, 1), entry(2, 2)]);
    let term = leader.term();
    for (success, index, hint) in [(false, u64::MAX, u64::MAX), (true, u64::MAX, 0)] {
        leader.step(
            2,
            Message::AppendResp {
                term,
                success,
                index,
                reject_hint: hint,
                ctx: 0,
            },
        );
        let _ = leader.ready();
    }
    assert_eq!(leader.role(), Role::Leader);
    assert_eq!(leader.absurd_terms(), 2, "both dropped and counted");
    // Just under the bound the checked arithmetic holds on its own.
    leader.step(
        2,
        Message::AppendResp {
            term,
            success: false,
            index: super::MAX_INDEX,
            reject_hint: super::MAX_INDEX,
            ctx: 0,
        },
    );
    let _ = leader.ready();
    assert_eq!(leader.role(), Role::Leader);
    let mut follower = RaftCore::new(Config::new(2, vec![1, 2, 3]), Restored::default());
    follower.step(
        1,
        Message::InstallSnapshot {
            term: 1,
            snapshot: Snapshot {
                meta: SnapshotMeta {
                    last_index: u64::MAX,
                    last_term: 1,
                },
                data: std::sync::Arc::new(Vec::new()),
            },
        },
    );
    let _ = follower.ready();
    assert_eq!(follower.absurd_terms(), 1);
    assert_eq!(follower.status().snapshot_index, 0, "not installed");
}
