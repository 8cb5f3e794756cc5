//! Convergence of the tracker replicas under reordering, duplication and loss.

use super::*;
use proptest::prelude::*;

fn peer_op(swarm: u8, peer: u8, pieces: u8, left: bool) -> OpKind {
    OpKind::Peer {
        info_hash: [swarm; 20],
        peer_id: [peer; 20],
        record: PeerRecord {
            addr: format!("127.0.0.1:{}", 6000 + peer as u16),
            session: peer as u64,
            pieces: vec![pieces],
            seeder: pieces == 0xff,
            left,
        },
    }
}

fn torrent_op(swarm: u8, name: u8) -> OpKind {
    OpKind::Torrent {
        info_hash: [swarm; 20],
        info: TorrentInfo {
            name: format!("file-{name}"),
            size: 1000,
            pieces: 2,
        },
    }
}

/// Anti-entropy until neither side has anything new for the other (bounded rounds).
fn anti_entropy(a: &mut Replica, b: &mut Replica) {
    for _ in 0..4 {
        for (from, to) in [(0, 1), (1, 0)] {
            let (src, dst) = if from == 0 {
                (&*a, &mut *b)
            } else {
                (&*b, &mut *a)
            };
            let reply = src.sync_for(dst.version_vector());
            match reply {
                SyncReply::Ops(ops) => ops.into_iter().for_each(|o| {
                    dst.apply(o);
                }),
                SyncReply::Snapshot(s, vv) => dst.merge_snapshot(&s, &vv),
            }
            let _ = to;
        }
    }
}

#[derive(Clone, Debug)]
enum Delivery {
    Deliver,
    Duplicate,
    Drop,
}

fn delivery() -> impl Strategy<Value = Delivery> {
    prop_oneof![
        6 => Just(Delivery::Deliver),
        2 => Just(Delivery::Duplicate),
        2 => Just(Delivery::Drop),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Two replicas make ops concurrently; each op reaches the other in a random order,
    /// duplicated or not at all; after anti-entropy both hold exactly the state of applying
    /// every op once, whatever the log size (small logs force the snapshot path).
    #[test]
    fn replicas_converge_under_random_order_duplicates_and_drops(
        ops in proptest::collection::vec((any::<bool>(), 0u8..3, 0u8..5, any::<u8>(), any::<bool>(), 0u64..50), 1..60),
        fates in proptest::collection::vec(delivery(), 60),
        seed in any::<u64>(),
        log_limit in 1usize..40,
    ) {
        use rand::{SeedableRng, seq::SliceRandom};
        let mut a = Replica::new(1, log_limit);
        let mut b = Replica::new(2, log_limit);
        let mut to_b = Vec::new();
        let mut to_a = Vec::new();
        let mut reference = State::default();
        for (i, (on_a, swarm, peer, pieces, left, at)) in ops.iter().enumerate() {
            let kind = if *peer == 4 { torrent_op(*swarm, *pieces) } else { peer_op(*swarm, *peer, *pieces, *left) };
            let r = if *on_a { &mut a } else { &mut b };
            let op = r.local(kind, *at);
            reference.apply(&op);
            let queue = if *on_a { &mut to_b } else { &mut to_a };
            match fates[i % fates.len()] {
                Delivery::Deliver => queue.push(op),
                Delivery::Duplicate => { queue.push(op.clone()); queue.push(op) }
                Delivery::Drop => {}
            }
        }
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        to_a.shuffle(&mut rng);
        to_b.shuffle(&mut rng);
        to_a.into_iter().for_each(|o| { a.apply(o); });
        to_b.into_iter().for_each(|o| { b.apply(o); });
        anti_entropy(&mut a, &mut b);
        prop_assert_eq!(a.state(), b.state());
        prop_assert_eq!(a.state(), &reference);
        prop_assert_eq!(a.version_vector(), b.version_vector());
    }

    /// Decoding random bytes as ops or states never panics.
    #[test]
    fn random_bytes_never_panic_the_op_decoder(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = codec::read_ops(&mut Decoder::new(&bytes));
        let _ = codec::read_state(&mut Decoder::new(&bytes));
    }
}

#[test]
fn empty_replica_bootstraps_from_snapshot_then_follows_ops() {
    let mut a = Replica::new(1, 2);
    for i in 0..10 {
        a.local(peer_op(1, i, i, false), i as u64);
    }
    let mut fresh = Replica::new(2, 2);
    match a.sync_for(fresh.version_vector()) {
        SyncReply::Snapshot(s, vv) => fresh.merge_snapshot(&s, &vv),
        SyncReply::Ops(_) => panic!("a log of 2 cannot catch up 10 ops"),
    }
    let op = a.local(peer_op(1, 20, 1, false), 100);
    match a.sync_for(fresh.version_vector()) {
        SyncReply::Ops(ops) => assert_eq!(ops, vec![op]),
        other => panic!("expected ops, got {other:?}"),
    }
    anti_entropy(&mut a, &mut fresh);
    assert_eq!(a.state(), fresh.state());
}

#[test]
fn ops_and_states_survive_the_wire_codec() {
    let mut a = Replica::new(7, 100);
    a.local(torrent_op(1, 1), 5);
    a.local(peer_op(1, 2, 3, false), 6);
    let SyncReply::Ops(ops) = a.sync_for(&VersionVector::new()) else {
        panic!("expected ops")
    };
    let mut e = Encoder::new();
    codec::ops(&mut e, &ops);
    codec::state(&mut e, a.state());
    codec::vv(&mut e, a.version_vector());
    let bytes = e.finish();
    let mut d = Decoder::new(&bytes);
    assert_eq!(codec::read_ops(&mut d).unwrap(), ops);
    assert_eq!(&codec::read_state(&mut d).unwrap(), a.state());
    assert_eq!(&codec::read_vv(&mut d).unwrap(), a.version_vector());
    d.finish().unwrap();
}
