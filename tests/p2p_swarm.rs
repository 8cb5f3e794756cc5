//! The P2P lab on real processes: a swarm transfer that verifies, a tracker SIGKILLed
//! mid-transfer, tracker partitions that diverge then converge, a corrupted seeder.
//!
//! Every run dir is explicit and inside a temp dir, so nothing touches `$XDG_STATE_HOME`; ports
//! are dynamic loopback ports; every cluster is shut down when its test ends.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use wirelab::cluster::{NodeInfo, Supervisor};
use wirelab::p2p::lab::{self, LabPlan};

fn exe() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_wirelab"))
}

/// Shuts the cluster down however the test ends.
struct Lab(Supervisor);

impl Drop for Lab {
    fn drop(&mut self) {
        self.0.shutdown(Duration::from_secs(1));
    }
}

fn field<'a>(n: &'a NodeInfo, k: &str) -> Option<&'a Value> {
    n.state.get(k)
}

fn leechers_complete(nodes: &[NodeInfo], first_leecher: u64) -> bool {
    nodes
        .iter()
        .filter(|n| n.id >= first_leecher)
        .all(|n| field(n, "complete") == Some(&Value::Bool(true)))
}

fn launch(dir: &Path, size: u64, leechers: usize) -> Lab {
    let plan = LabPlan {
        trackers: 2,
        size,
        seeders: 1,
        leechers,
        max_active: 4,
        upload_limit: 0,
    };
    let sup = lab::launch(&plan, &dir.join("run"), Some(exe())).unwrap();
    sup.wait_ready(Duration::from_secs(20)).unwrap();
    Lab(sup)
}

fn same_file(a: &Path, b: &Path) -> bool {
    std::fs::read(a).unwrap() == std::fs::read(b).unwrap()
}

#[test]
fn swarm_on_loopback_transfers_a_generated_file_and_every_copy_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let lab = launch(dir.path(), 6 << 20, 4);
    lab.0
        .wait_until(Duration::from_secs(120), "every leecher complete", |n| {
            leechers_complete(n, 4)
        })
        .unwrap();
    let run = lab.0.run_dir().to_path_buf();
    for id in 4..=7 {
        let copy = run.join(format!("node-{id}/lab-data.bin"));
        assert!(same_file(&run.join("lab-data.bin"), &copy), "leecher {id}");
    }
}

#[test]
fn downloads_continue_and_clients_fail_over_when_a_tracker_is_killed_mid_transfer() {
    let dir = tempfile::tempdir().unwrap();
    let lab = launch(dir.path(), 24 << 20, 3);
    lab.0
        .wait_until(
            Duration::from_secs(60),
            "a leecher to hold a piece",
            |nodes| {
                nodes
                    .iter()
                    .filter(|n| n.id >= 4)
                    .any(|n| field(n, "have").and_then(Value::as_u64).unwrap_or(0) > 0)
            },
        )
        .unwrap();
    let before: Vec<u64> = lab
        .0
        .nodes()
        .iter()
        .filter(|n| n.id >= 4)
        .map(|n| field(n, "have").and_then(Value::as_u64).unwrap_or(0))
        .collect();
    lab.0.kill(1).unwrap();
    assert!(
        before.iter().any(|&h| h < 48),
        "transfer already over: {before:?}"
    );
    lab.0
        .wait_until(Duration::from_secs(120), "every leecher complete", |n| {
            leechers_complete(n, 4)
        })
        .unwrap();
    lab.0
        .wait_until(
            Duration::from_secs(20),
            "every peer on tracker 2",
            |nodes| {
                nodes
                    .iter()
                    .filter(|n| n.id >= 3)
                    .all(|n| field(n, "tracker").and_then(Value::as_u64) == Some(2))
            },
        )
        .unwrap();
    let run = lab.0.run_dir().to_path_buf();
    for id in 4..=6 {
        assert!(same_file(
            &run.join("lab-data.bin"),
            &run.join(format!("node-{id}/lab-data.bin"))
        ));
    }
}

fn digest(nodes: &[NodeInfo], id: u64) -> Option<String> {
    nodes
        .iter()
        .find(|n| n.id == id)
        .and_then(|n| field(n, "digest"))
        .and_then(Value::as_str)
        .map(str::to_string)
}

fn tracker_rpc(sup: &Supervisor, id: u64) -> std::net::SocketAddr {
    sup.node(id).unwrap().addr.parse().unwrap()
}

fn announce(port: u16, peer: u8) -> wirelab::p2p::tracker::rpc::Request {
    wirelab::p2p::tracker::rpc::Request::Announce {
        info_hash: [9; 20],
        peer_id: [peer; 20],
        addr: format!("127.0.0.1:{port}"),
        pieces: vec![],
        seeder: false,
        left: false,
    }
}

#[test]
fn partitioned_trackers_diverge_then_converge_after_heal_without_consensus() {
    let dir = tempfile::tempdir().unwrap();
    let lab = Lab(lab::launch_trackers(&dir.path().join("run"), Some(exe())).unwrap());
    lab.0.wait_ready(Duration::from_secs(20)).unwrap();
    lab.0.partition(&[1]).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (a, b) = (tracker_rpc(&lab.0, 1), tracker_rpc(&lab.0, 2));
    rt.block_on(async {
        let mut on_1 = wirelab::p2p::tracker::client::TrackerClient::new(vec![a]);
        let mut on_2 = wirelab::p2p::tracker::client::TrackerClient::new(vec![b]);
        for i in 0..5u8 {
            on_1.announce(announce(7000 + i as u16, i)).await.unwrap();
            on_2.announce(announce(8000 + i as u16, 100 + i))
                .await
                .unwrap();
        }
        // Each side sees only its own half while the partition lasts.
        let peers = on_1.announce(announce(7000, 0)).await.unwrap();
        assert_eq!(peers.len(), 4, "{peers:?}");
    });
    lab.0
        .wait_until(Duration::from_secs(10), "divergent digests", |n| {
            let (x, y) = (digest(n, 1), digest(n, 2));
            x.is_some() && y.is_some() && x != y
        })
        .unwrap();
    lab.0.heal().unwrap();
    lab.0
        .wait_until(Duration::from_secs(20), "converged digests", |n| {
            let (x, y) = (digest(n, 1), digest(n, 2));
            x.is_some() && x == y
        })
        .unwrap();
    rt.block_on(async {
        let mut c = wirelab::p2p::tracker::client::TrackerClient::new(vec![a]);
        let peers = c
            .call(wirelab::p2p::tracker::rpc::Request::GetPeers { info_hash: [9; 20] })
            .await
            .unwrap();
        match peers {
            wirelab::p2p::tracker::rpc::Response::Peers(p) => assert_eq!(p.len(), 10),
            other => panic!("{other:?}"),
        }
    });
}

#[test]
fn corrupted_pieces_on_a_seeder_are_detected_fetched_elsewhere_and_the_seeder_dropped() {
    use std::os::unix::fs::FileExt;
    use wirelab::p2p::peer::swarm::{Swarm, SwarmConfig};
    use wirelab::p2p::torrent::Torrent;
    let dir = tempfile::tempdir().unwrap();
    let lab = Lab(lab::launch_trackers(&dir.path().join("run"), Some(exe())).unwrap());
    lab.0.wait_ready(Duration::from_secs(20)).unwrap();
    let trackers = vec![tracker_rpc(&lab.0, 1), tracker_rpc(&lab.0, 2)];
    let good = dir.path().join("good/data.bin");
    std::fs::create_dir_all(good.parent().unwrap()).unwrap();
    lab::generate_file(&good, 4 << 20, 7).unwrap();
    let bad = dir.path().join("bad/data.bin");
    std::fs::create_dir_all(bad.parent().unwrap()).unwrap();
    std::fs::copy(&good, &bad).unwrap();
    let torrent = Arc::new(Torrent::create(&good, vec![]).unwrap());
    let cfg = |path: PathBuf, register| SwarmConfig {
        torrent: torrent.clone(),
        path,
        listen: "127.0.0.1:0".parse().unwrap(),
        trackers: trackers.clone(),
        register,
        max_active: 4,
        upload_limit: 0,
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let liar = Swarm::start(cfg(bad.clone(), true)).await.unwrap();
        // Corrupted after it verified its file: it believes it holds every piece.
        let f = std::fs::OpenOptions::new().write(true).open(&bad).unwrap();
        for piece in [1u64, 5] {
            f.write_all_at(&[0xa5; 100], piece * 512 * 1024 + 1000)
                .unwrap();
        }
        let out = dir.path().join("out/data.bin");
        std::fs::create_dir_all(out.parent().unwrap()).unwrap();
        let leecher = Swarm::start(cfg(out.clone(), false)).await.unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while leecher.progress().banned == 0 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{:?}",
                leecher.progress()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(leecher.progress().bad_pieces >= 2);
        assert!(leecher.progress().have < torrent.piece_count());
        let honest = Swarm::start(cfg(good.clone(), false)).await.unwrap();
        tokio::time::timeout(Duration::from_secs(60), leecher.wait_complete())
            .await
            .unwrap_or_else(|_| panic!("{:?}", leecher.progress()));
        assert!(same_file(&good, &out));
        drop((liar, honest));
    });
}

#[test]
fn a_leecher_killed_mid_download_resumes_from_its_verified_pieces() {
    let dir = tempfile::tempdir().unwrap();
    let lab = launch(dir.path(), 24 << 20, 2);
    lab.0
        .wait_until(
            Duration::from_secs(60),
            "leecher 4 to hold pieces",
            |nodes| {
                nodes.iter().any(|n| {
                    n.id == 4 && field(n, "have").and_then(Value::as_u64).unwrap_or(0) >= 4
                })
            },
        )
        .unwrap();
    lab.0.kill(4).unwrap();
    let held = lab.0.node(4).unwrap();
    assert!(!held.status.is_alive());
    let run = lab.0.run_dir().to_path_buf();
    // What the killed leecher had verified and written, as its disk says.
    let torrent = wirelab::p2p::torrent::Torrent::load(&run.join("lab.torrent")).unwrap();
    let storage =
        wirelab::p2p::storage::Storage::open(&run.join("node-4/lab-data.bin"), &torrent).unwrap();
    let on_disk = storage.verify_all(&torrent).unwrap().count() as u64;
    assert!(on_disk >= 4, "{on_disk} pieces on disk");
    lab.0.restart(4).unwrap();
    lab.0
        .wait_until(
            Duration::from_secs(30),
            "leecher 4 to report after restart",
            |nodes| {
                nodes
                    .iter()
                    .any(|n| n.id == 4 && n.incarnation >= 2 && field(n, "have").is_some())
            },
        )
        .unwrap();
    let first = field(&lab.0.node(4).unwrap(), "have")
        .and_then(Value::as_u64)
        .unwrap();
    assert!(
        first >= on_disk,
        "restarted with {first} pieces, {on_disk} were on disk"
    );
    lab.0
        .wait_until(Duration::from_secs(120), "every leecher complete", |n| {
            leechers_complete(n, 4)
        })
        .unwrap();
    assert!(same_file(
        &run.join("lab-data.bin"),
        &run.join("node-4/lab-data.bin")
    ));
}
