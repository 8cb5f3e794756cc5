//! The Raft KV store on real processes: SIGKILL, SIGSTOP, partitions, torn logs, wiped disks.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::cluster::*;
use wirelab::cluster::NodeStatus;
use wirelab::raft::client::{Client, ClientOptions};
use wirelab::raft::codec::{Op, Reply};

fn put(key: &str, value: &str) -> Op {
    Op::Put {
        key: key.into(),
        value: value.as_bytes().to_vec(),
    }
}

fn get(key: &str) -> Op {
    Op::Get { key: key.into() }
}

#[test]
fn acknowledged_writes_survive_leader_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let sup = raft_cluster(dir.path(), |_| {});
    let rt = rt();
    let mut c = client(&sup);
    rt.block_on(async {
        for i in 0..50 {
            assert_eq!(
                c.execute(put(&format!("k{i}"), &format!("v{i}")))
                    .await
                    .unwrap(),
                Reply::Done
            );
        }
    });
    let leader = wait_leader(&sup);
    sup.kill(leader).unwrap();
    wait_nodes(&sup, "a new leader", |n| {
        wirelab::raft::cli::current_leader(n).is_some_and(|l| l != leader)
    });
    rt.block_on(async {
        for i in 50..60 {
            assert_eq!(
                c.execute(put(&format!("k{i}"), &format!("v{i}")))
                    .await
                    .unwrap(),
                Reply::Done
            );
        }
        for i in 0..60 {
            assert_eq!(
                c.execute(get(&format!("k{i}"))).await.unwrap(),
                Reply::Value(Some(format!("v{i}").into_bytes())),
                "k{i} after the leader's SIGKILL"
            );
        }
    });
    // The killed node comes back from its disk and catches up.
    sup.restart(leader).unwrap();
    wait_nodes(&sup, "the restarted node to catch up", |n| {
        let commit = |id| {
            n.iter()
                .find(|x| x.id == id)
                .and_then(|x| x.state.get("applied")?.as_u64())
        };
        let max = n
            .iter()
            .filter_map(|x| x.state.get("applied")?.as_u64())
            .max();
        n.iter().all(|x| x.status == NodeStatus::Running) && commit(leader) == max && max.is_some()
    });
    sup.shutdown(Duration::from_secs(1));
}

#[test]
fn all_nodes_sigkilled_at_once_lose_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let sup = raft_cluster(dir.path(), |_| {});
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let nodes = addrs(&sup);
    // Eight writers hammer the cluster; all three nodes die mid-stream.
    let acked = rt.block_on(async {
        let mut tasks = Vec::new();
        for w in 0..8 {
            let nodes = nodes.clone();
            let auth = auth(&sup);
            tasks.push(tokio::spawn(async move {
                let mut c = Client::new(
                    nodes,
                    auth,
                    ClientOptions {
                        deadline: Duration::from_millis(800),
                        attempt_timeout: Duration::from_millis(300),
                    },
                );
                let mut acked = BTreeMap::new();
                for i in 0..10_000 {
                    let (k, v) = (format!("w{w}-{i}"), format!("{i}"));
                    match c.execute(put(&k, &v)).await {
                        Ok(Reply::Done) => {
                            acked.insert(k, v);
                        }
                        _ => break,
                    }
                }
                acked
            }));
        }
        tokio::time::sleep(Duration::from_millis(400)).await;
        for id in sup.ids() {
            sup.kill(id).unwrap();
        }
        let mut all = BTreeMap::new();
        for t in tasks {
            all.extend(t.await.unwrap());
        }
        all
    });
    assert!(
        acked.len() > 20,
        "only {} writes acknowledged before the kill",
        acked.len()
    );
    for id in sup.ids() {
        sup.restart(id).unwrap();
    }
    wait_leader(&sup);
    let mut c = client(&sup);
    rt.block_on(async {
        for (k, v) in &acked {
            assert_eq!(
                c.execute(get(k)).await.unwrap(),
                Reply::Value(Some(v.clone().into_bytes())),
                "acknowledged write {k} lost after SIGKILL of every node"
            );
        }
    });
    sup.shutdown(Duration::from_secs(1));
}

#[test]
fn minority_leader_cannot_commit() {
    let dir = tempfile::tempdir().unwrap();
    let sup = raft_cluster(dir.path(), |_| {});
    let old = wait_leader(&sup);
    let old_addr = sup.node(old).unwrap().addr.parse().unwrap();
    sup.partition(&[old]).unwrap();
    let rt = rt();
    // A client that can only reach the cut-off leader never gets a write acknowledged.
    let mut lonely = Client::new(
        vec![(old, old_addr)],
        auth(&sup),
        ClientOptions {
            deadline: Duration::from_millis(1500),
            attempt_timeout: Duration::from_millis(500),
        },
    );
    let r = rt.block_on(lonely.execute(put("split", "minority")));
    assert!(
        !matches!(r, Ok(Reply::Done)),
        "minority leader acknowledged a write: {r:?}"
    );
    // The majority elects a leader of its own and keeps serving.
    wait_nodes(&sup, "a majority leader", |n| {
        wirelab::raft::cli::current_leader(n).is_some_and(|l| l != old)
    });
    let mut c = Client::new(
        addrs(&sup)
            .into_iter()
            .filter(|(id, _)| *id != old)
            .collect(),
        auth(&sup),
        ClientOptions::default(),
    );
    assert_eq!(
        rt.block_on(c.execute(put("split", "majority"))).unwrap(),
        Reply::Done
    );
    sup.heal().unwrap();
    let mut all = client(&sup);
    assert_eq!(
        rt.block_on(all.execute(get("split"))).unwrap(),
        Reply::Value(Some(b"majority".to_vec()))
    );
    sup.shutdown(Duration::from_secs(1));
}

#[test]
fn paused_leader_is_replaced_and_rejoins_without_disruption() {
    let dir = tempfile::tempdir().unwrap();
    let sup = raft_cluster(dir.path(), |_| {});
    let old = wait_leader(&sup);
    sup.pause(old).unwrap();
    wait_nodes(&sup, "a new leader while the old one is stopped", |n| {
        wirelab::raft::cli::current_leader(n).is_some_and(|l| l != old)
    });
    let rt = rt();
    let mut c = client(&sup);
    assert_eq!(rt.block_on(c.execute(put("p", "1"))).unwrap(), Reply::Done);
    sup.resume(old).unwrap();
    assert_eq!(
        rt.block_on(c.execute(get("p"))).unwrap(),
        Reply::Value(Some(b"1".to_vec()))
    );
    sup.shutdown(Duration::from_secs(1));
}

#[test]
fn wiped_follower_catches_up_by_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let sup = raft_cluster(dir.path(), |cfg| cfg.log.snapshot_entries = 50);
    let rt = rt();
    let mut c = client(&sup);
    rt.block_on(async {
        for i in 0..300 {
            c.execute(put(&format!("s{}", i % 40), &i.to_string()))
                .await
                .unwrap();
        }
    });
    let leader = wait_leader(&sup);
    let follower = sup.ids().into_iter().find(|id| *id != leader).unwrap();
    sup.kill(follower).unwrap();
    let data_dir = sup.node(follower).unwrap().data_dir;
    std::fs::remove_dir_all(&data_dir).unwrap();
    std::fs::create_dir_all(&data_dir).unwrap();
    sup.restart(follower).unwrap();
    wait_nodes(
        &sup,
        "the wiped follower to install a snapshot and catch up",
        |n| {
            let f = n.iter().find(|x| x.id == follower);
            let applied =
                |x: &wirelab::cluster::NodeInfo| x.state.get("applied").and_then(|v| v.as_u64());
            let max = n.iter().filter_map(applied).max().unwrap_or(0);
            f.is_some_and(|f| {
                f.state
                    .get("snapshot_index")
                    .and_then(|v| v.as_u64())
                    .unwrap_or(0)
                    > 0
                    && applied(f) == Some(max)
                    && max >= 300
            })
        },
    );
    // And it serves the right data once it leads.
    sup.kill(leader).unwrap();
    rt.block_on(async {
        for i in 260..300 {
            assert_eq!(
                c.execute(get(&format!("s{}", i % 40))).await.unwrap(),
                Reply::Value(Some(i.to_string().into_bytes()))
            );
        }
    });
    sup.shutdown(Duration::from_secs(1));
}

#[test]
fn a_wiped_follower_catches_up_by_a_snapshot_larger_than_a_peer_frame() {
    // 10 values of 2,000,000 bytes: a 20 MB state, over the 16 MiB peer frame limit. Before
    // snapshots went in pieces, the follower dropped every InstallSnapshot frame and never
    // caught up.
    let dir = tempfile::tempdir().unwrap();
    let sup = raft_cluster(dir.path(), |cfg| cfg.log.snapshot_entries = 20);
    let rt = rt();
    let mut c = client(&sup);
    let big = |i: usize| vec![b'a' + i as u8; 2_000_000];
    rt.block_on(async {
        for i in 0..10 {
            let op = Op::Put {
                key: format!("big{i}"),
                value: big(i),
            };
            assert_eq!(c.execute(op).await.unwrap(), Reply::Done);
        }
        for i in 0..30 {
            c.execute(put(&format!("small{i}"), "x")).await.unwrap();
        }
    });
    let leader = wait_leader(&sup);
    wait_nodes(&sup, "the leader to take a snapshot", |n| {
        n.iter().any(|x| {
            x.id == leader
                && x.state
                    .get("snapshot_index")
                    .and_then(|v| v.as_u64())
                    .unwrap_or(0)
                    >= 20
        })
    });
    let follower = sup.ids().into_iter().find(|id| *id != leader).unwrap();
    sup.kill(follower).unwrap();
    let data_dir = sup.node(follower).unwrap().data_dir;
    std::fs::remove_dir_all(&data_dir).unwrap();
    std::fs::create_dir_all(&data_dir).unwrap();
    sup.restart(follower).unwrap();
    wait_nodes(
        &sup,
        "the wiped follower to install the 20 MB snapshot",
        |n| {
            let applied = |x: &wirelab::cluster::NodeInfo| x.state.get("applied")?.as_u64();
            let max = n.iter().filter_map(applied).max().unwrap_or(0);
            n.iter().any(|f| {
                f.id == follower
                    && f.state
                        .get("snapshot_index")
                        .and_then(|v| v.as_u64())
                        .unwrap_or(0)
                        >= 20
                    && applied(f) == Some(max)
            })
        },
    );
    // It holds the big values: with the old leader gone, it serves them.
    sup.kill(leader).unwrap();
    rt.block_on(async {
        for i in [0, 9] {
            let got = c
                .execute(Op::Get {
                    key: format!("big{i}"),
                })
                .await
                .unwrap();
            assert!(
                got == Reply::Value(Some(big(i))),
                "big{i} after the snapshot"
            );
        }
    });
    sup.shutdown(Duration::from_secs(1));
}

#[test]
fn garbage_and_oversized_frames_do_not_hurt_a_node() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let sup = raft_cluster(dir.path(), |_| {});
    for n in sup.nodes() {
        let mut s = std::net::TcpStream::connect(&n.addr).unwrap();
        // An absurd frame length, then garbage.
        let _ = s.write_all(&u32::MAX.to_be_bytes());
        let mut s = std::net::TcpStream::connect(&n.addr).unwrap();
        let _ = s.write_all(&[0, 0, 0, 3, 9, 9, 9, 0, 0, 0, 1, 7]);
        // A valid peer hello followed by a garbage message.
        let mut s = std::net::TcpStream::connect(&n.addr).unwrap();
        let _ = s.write_all(&[
            0, 0, 0, 9, 1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 2, 0xee, 0xee,
        ]);
    }
    let rt = rt();
    let mut c = client(&sup);
    assert_eq!(
        rt.block_on(c.execute(put("after", "garbage"))).unwrap(),
        Reply::Done
    );
    assert!(sup.nodes().iter().all(|n| n.status == NodeStatus::Running));
    sup.shutdown(Duration::from_secs(1));
}

#[test]
fn port_in_use_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let cfg = wirelab::raft::lab::LabConfig::builtin().unwrap();
    let pki = wirelab::raft::lab::ensure_pki(dir.path(), 1).unwrap();
    let specs = wirelab::raft::lab::node_specs(&cfg, &[addr], &[], &pki);
    let sup =
        wirelab::cluster::Supervisor::launch_with_exe("raft", dir.path(), specs, exe()).unwrap();
    let err = sup
        .wait_ready(Duration::from_secs(10))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&addr.to_string()) && err.contains("in use"),
        "{err}"
    );
}

#[test]
fn data_dir_that_is_not_a_directory_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = wirelab::raft::lab::LabConfig::builtin().unwrap();
    let addrs = wirelab::cluster::free_loopback_addrs(1).unwrap();
    let pki = wirelab::raft::lab::ensure_pki(dir.path(), 1).unwrap();
    let specs = wirelab::raft::lab::node_specs(&cfg, &addrs, &[], &pki);
    let sup =
        wirelab::cluster::Supervisor::launch_with_exe("raft", dir.path(), specs, exe()).unwrap();
    // Replace the data dir with a plain file and restart on it.
    sup.kill(1).unwrap();
    let data_dir = sup.node(1).unwrap().data_dir;
    std::fs::remove_dir_all(&data_dir).unwrap();
    std::fs::write(&data_dir, b"not a dir").unwrap();
    sup.restart(1).unwrap();
    let err = sup
        .wait_ready(Duration::from_secs(10))
        .unwrap_err()
        .to_string();
    assert!(err.contains("data dir"), "{err}");
}

fn write_keys(sup: &wirelab::cluster::Supervisor, n: usize) {
    let rt = rt();
    let mut c = client(sup);
    rt.block_on(async {
        for i in 0..n {
            assert_eq!(
                c.execute(put(&format!("t{i}"), &i.to_string()))
                    .await
                    .unwrap(),
                Reply::Done
            );
        }
    });
}

fn read_keys(sup: &wirelab::cluster::Supervisor, n: usize) {
    let rt = rt();
    let mut c = client(sup);
    rt.block_on(async {
        for i in 0..n {
            assert_eq!(
                c.execute(get(&format!("t{i}"))).await.unwrap(),
                Reply::Value(Some(i.to_string().into_bytes())),
                "t{i}"
            );
        }
    });
}

#[test]
fn torn_tail_is_truncated_and_the_node_rejoins() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let sup = raft_cluster(dir.path(), |_| {});
    write_keys(&sup, 100);
    for id in sup.ids() {
        sup.kill(id).unwrap();
    }
    // Half a record at the end of node 1's log: the write a crash interrupted.
    let log = sup.node(1).unwrap().data_dir.join("log");
    let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    f.write_all(&[0, 0, 0, 64, 0xde, 0xad, 0xbe, 0xef, 1, 2, 3])
        .unwrap();
    drop(f);
    for id in sup.ids() {
        sup.restart(id).unwrap();
    }
    sup.wait_ready(Duration::from_secs(10)).unwrap();
    wait_leader(&sup);
    read_keys(&sup, 100);
    let node_log = std::fs::read_to_string(dir.path().join("node-1.log")).unwrap();
    assert!(
        node_log.contains("torn tail"),
        "no torn-tail warning in node 1's log"
    );
    sup.shutdown(Duration::from_secs(1));
}

#[test]
fn corrupt_record_before_the_tail_stops_the_node_naming_file_and_offset() {
    let dir = tempfile::tempdir().unwrap();
    let sup = raft_cluster(dir.path(), |_| {});
    write_keys(&sup, 50);
    let victim = sup
        .ids()
        .into_iter()
        .find(|id| Some(*id) != wirelab::raft::cli::current_leader(&sup.nodes()))
        .unwrap();
    sup.kill(victim).unwrap();
    let log = sup.node(victim).unwrap().data_dir.join("log");
    let mut bytes = std::fs::read(&log).unwrap();
    assert!(bytes.len() > 200);
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&log, &bytes).unwrap();
    sup.restart(victim).unwrap();
    let err = sup
        .wait_ready(Duration::from_secs(10))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("corrupt log record") && err.contains("offset"),
        "{err}"
    );
    // The two healthy nodes still form a majority and lose nothing.
    read_keys(&sup, 50);
    sup.shutdown(Duration::from_secs(1));
}
