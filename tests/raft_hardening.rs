//! The Raft lab under hostile input (issue 11): raw bytes against a real cluster's nodes.
//! Strangers (no certificate of the run, another run's, a member's used to pose as another)
//! never get a byte to the protocol; behind the handshake, a request over the client limit is
//! refused without being read, the largest accepted write still replicates (it once wedged
//! replication: its AppendEntries frame exceeded the peer limit), half-sent frames cost only
//! what arrived, and a client that never reads cannot grow a node.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wirelab::raft::client::{Client, ClientAuth, ClientOptions};
use wirelab::raft::codec::{self, Hello, Op, Reply};
use wirelab::wire::pki::RunPki;

/// Credentials of the run in `run` presenting `name`'s certificate (`client`, `node-1`, …).
fn creds(run: &str, name: &str) -> ClientAuth {
    let pki = RunPki::of_run(Path::new(run), "raft").expect("the run's PKI");
    ClientAuth::with_identity(pki, name).expect("credentials")
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn nodes_of(v: &serde_json::Value) -> Vec<(u64, SocketAddr)> {
    v["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| {
            (
                n["id"].as_u64().expect("id"),
                n["addr"]
                    .as_str()
                    .expect("addr")
                    .parse()
                    .expect("an address"),
            )
        })
        .collect()
}

fn wirelab(state: &Path, args: &[&str]) -> std::process::Output {
    Command::new(common::wirelab())
        .args(args)
        .env("XDG_STATE_HOME", state)
        .output()
        .expect("run wirelab")
}

/// Stops the cluster when the test ends.
struct Cluster<'a>(&'a Path, String);

impl<'a> Cluster<'a> {
    /// `raft up --detach` on a run dir under `state`.
    fn up(state: &'a Path) -> Cluster<'a> {
        let run = state.join("run").to_str().expect("utf-8").to_string();
        let up = wirelab(state, &["raft", "up", "--detach", "--run-dir", &run]);
        assert!(up.status.success(), "{up:?}");
        Cluster(state, run)
    }

    /// `raft status --json` of it.
    fn status(&self) -> serde_json::Value {
        status(self.0, &self.1)
    }
}

impl Drop for Cluster<'_> {
    fn drop(&mut self) {
        let _ = wirelab(self.0, &["raft", "stop", "--run-dir", &self.1]);
    }
}

fn frame(payload: &[u8]) -> Vec<u8> {
    let mut out = (payload.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(payload);
    out
}

fn status(state: &Path, run: &str) -> serde_json::Value {
    let out = wirelab(state, &["raft", "status", "--json", "--run-dir", run]);
    serde_json::from_slice(&out.stdout).expect("status JSON")
}

#[test]
fn an_oversized_request_is_refused_and_the_largest_write_still_replicates() {
    let state = tempfile::tempdir().expect("tempdir");
    let cluster = Cluster::up(state.path());
    let nodes = nodes_of(&cluster.status());
    let auth = creds(&cluster.1, "client");
    let rt = runtime();

    // A client announces a 16 MiB request and sends one byte of it.
    let body = rt.block_on(async {
        let mut conn = auth.connect(nodes[0].0, nodes[0].1).await.expect("connect");
        conn.write_all(&(16u32 << 20).to_be_bytes())
            .await
            .expect("header");
        conn.write_all(b"x").await.expect("one byte");
        conn.flush().await.expect("flush");
        let mut len = [0u8; 4];
        tokio::time::timeout(Duration::from_secs(10), conn.read_exact(&mut len))
            .await
            .expect("an answer in time")
            .expect("an answer");
        let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
        conn.read_exact(&mut body).await.expect("its body");
        body
    });
    match codec::decode_response(&body).expect("a response").reply {
        Reply::Error(msg) => assert!(msg.contains("over the"), "{msg}"),
        other => panic!("accepted: {other:?}"),
    }

    // The largest value accepted is written, and every node applies it: replication is not
    // wedged by a batch too large for a peer frame.
    let mut client = Client::new(nodes.clone(), auth, ClientOptions::default());
    let big = vec![b'v'; 2 << 20];
    let put = rt.block_on(client.execute(Op::Put {
        key: "big".into(),
        value: big,
    }));
    assert!(matches!(put, Ok(Reply::Done)), "{put:?}");
    let after = rt.block_on(client.execute(Op::Put {
        key: "after".into(),
        value: b"ok".to_vec(),
    }));
    assert!(matches!(after, Ok(Reply::Done)), "{after:?}");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let v = cluster.status();
        let applied: Vec<u64> = v["nodes"]
            .as_array()
            .expect("nodes")
            .iter()
            .map(|n| n["applied"].as_u64().unwrap_or(0))
            .collect();
        let leader_commit = v["nodes"]
            .as_array()
            .expect("nodes")
            .iter()
            .filter_map(|n| n["commit"].as_u64())
            .max()
            .unwrap_or(0);
        if applied.iter().all(|a| *a >= leader_commit && *a > 0) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "followers never applied the big write: {v}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_damaged_node_stays_down_while_the_healthy_majority_starts_and_serves() {
    let state = tempfile::tempdir().expect("tempdir");
    let run = state.path().join("run");
    let run_s = run.to_str().expect("utf-8").to_string();
    let up = wirelab(
        state.path(),
        &["raft", "up", "--detach", "--run-dir", &run_s],
    );
    assert!(up.status.success(), "{up:?}");
    for i in 0..20 {
        let put = wirelab(
            state.path(),
            &["raft", "put", &format!("k{i}"), "v", "--run-dir", &run_s],
        );
        assert!(put.status.success(), "{put:?}");
    }
    let stop = wirelab(state.path(), &["raft", "stop", "--run-dir", &run_s]);
    assert!(stop.status.success(), "{stop:?}");
    // A flipped byte in the middle of node 1's log: corruption, not a torn tail.
    let log = run.join("node-1").join("log");
    let mut bytes = std::fs::read(&log).expect("node 1's log");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    std::fs::write(&log, &bytes).expect("write");

    let up = wirelab(
        state.path(),
        &["raft", "up", "--detach", "--run-dir", &run_s],
    );
    let _cluster = Cluster(state.path(), run_s.clone());
    let err = String::from_utf8_lossy(&up.stderr);
    assert!(up.status.success(), "the healthy majority starts: {err}");
    assert!(
        err.contains("node 1 failed to start") && err.contains("corrupt log record"),
        "the damaged node is named with why: {err}"
    );
    let v = status(state.path(), &run_s);
    let states: Vec<(u64, String)> = v["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| {
            (
                n["id"].as_u64().unwrap_or(0),
                n["state"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(states[0], (1, "exited".to_string()), "{v}");
    assert!(
        v["nodes"][0]["failed"]
            .as_str()
            .is_some_and(|why| why.contains("corrupt log record")),
        "status says why node 1 is down: {v}"
    );
    let table = wirelab(state.path(), &["raft", "status", "--run-dir", &run_s]);
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(
        table.contains("node 1 exited and stays down:") && table.contains("corrupt log record"),
        "{table}"
    );
    assert!(v["leader"].as_u64().is_some_and(|l| l != 1), "{v}");
    let get = wirelab(state.path(), &["raft", "get", "k19", "--run-dir", &run_s]);
    assert_eq!(String::from_utf8_lossy(&get.stdout), "v\n", "{get:?}");
    // The damaged file is left as it was.
    assert_eq!(std::fs::read(&log).expect("log"), bytes);

    // `raft repair 1` moves it aside and rebuilds node 1 from its peers.
    let repair = wirelab(state.path(), &["raft", "repair", "1", "--run-dir", &run_s]);
    let said = String::from_utf8_lossy(&repair.stdout);
    assert!(repair.status.success(), "{repair:?}");
    assert!(said.contains("voting again"), "{said}");
    let aside: Vec<_> = std::fs::read_dir(&run)
        .expect("run dir")
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("node-1.damaged-")
        })
        .collect();
    assert_eq!(aside.len(), 1, "the damaged files are kept aside");
    assert_eq!(
        std::fs::read(aside[0].path().join("log")).expect("the damaged log"),
        bytes
    );
    // Node 1 now counts: with one of the others killed, node 1 and the last one are a
    // majority that still serves every key.
    let v = status(state.path(), &run_s);
    let leader = v["leader"].as_u64().expect("a leader");
    let victim = if leader == 2 { 3 } else { 2 };
    let kill = wirelab(
        state.path(),
        &["raft", "kill", &victim.to_string(), "--run-dir", &run_s],
    );
    assert!(kill.status.success(), "{kill:?}");
    for key in ["k0", "k19"] {
        let get = wirelab(state.path(), &["raft", "get", key, "--run-dir", &run_s]);
        assert_eq!(String::from_utf8_lossy(&get.stdout), "v\n", "{get:?}");
    }
    let put = wirelab(
        state.path(),
        &["raft", "put", "after-repair", "ok", "--run-dir", &run_s],
    );
    assert!(put.status.success(), "{put:?}");
}

#[test]
fn repair_refuses_a_running_node_and_a_cluster_missing_a_member() {
    let state = tempfile::tempdir().expect("tempdir");
    let cluster = Cluster::up(state.path());
    let r = wirelab(
        state.path(),
        &["raft", "repair", "2", "--run-dir", &cluster.1],
    );
    assert!(!r.status.success());
    assert!(
        String::from_utf8_lossy(&r.stderr).contains("cannot start"),
        "{r:?}"
    );
    for id in ["2", "3"] {
        let k = wirelab(state.path(), &["raft", "kill", id, "--run-dir", &cluster.1]);
        assert!(k.status.success(), "{k:?}");
    }
    let r = wirelab(
        state.path(),
        &["raft", "repair", "2", "--run-dir", &cluster.1],
    );
    assert!(!r.status.success());
    assert!(
        String::from_utf8_lossy(&r.stderr).contains("every other node up"),
        "{r:?}"
    );
    // Nothing was moved.
    assert!(Path::new(&cluster.1).join("node-2").join("meta").exists());
}

fn rss_kb(pid: u64) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

#[test]
fn a_client_that_never_reads_its_answers_cannot_grow_the_leader_without_bound() {
    // Issue 11, item 3: 3,000 pipelined reads of a 64 KiB value, answers never read, took a
    // leader from 17 MB to 208 MB. Answers now hold their request's in-flight permit until
    // written, so the node stops reading that connection instead of queueing.
    let state = tempfile::tempdir().expect("tempdir");
    let cluster = Cluster::up(state.path());
    let v = cluster.status();
    let leader = v["leader"].as_u64().expect("a leader");
    let node = v["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .find(|n| n["id"] == leader)
        .expect("the leader's row")
        .clone();
    let addr: SocketAddr = node["addr"].as_str().expect("addr").parse().expect("addr");
    let pid = node["pid"].as_u64().expect("pid");
    let nodes = vec![(leader, addr)];
    let rt = runtime();
    let auth = creds(&cluster.1, "client");
    let mut client = Client::new(nodes, auth.clone(), ClientOptions::default());
    let put = rt.block_on(client.execute(Op::Put {
        key: "v".into(),
        value: vec![b'x'; 64 << 10],
    }));
    assert!(matches!(put, Ok(Reply::Done)), "{put:?}");
    let before = rss_kb(pid);

    let conn = rt.block_on(async {
        let mut conn = auth.connect(leader, addr).await.expect("connect");
        for i in 0..3000u64 {
            let req = codec::encode_request(&codec::Request {
                id: i + 1,
                client: 7,
                seq: i + 1,
                op: Op::Get { key: "v".into() },
            });
            // Once the node stops reading, our socket buffer fills and the write times out.
            let write = async {
                conn.write_all(&frame(&req)).await?;
                conn.flush().await
            };
            if !matches!(
                tokio::time::timeout(Duration::from_secs(3), write).await,
                Ok(Ok(()))
            ) {
                break;
            }
        }
        conn
    });
    // Give the node time to answer what it read.
    std::thread::sleep(Duration::from_secs(2));
    let after = rss_kb(pid);
    assert!(
        after < before + 64 * 1024,
        "the leader grew from {before} KiB to {after} KiB"
    );
    drop(conn);
    // And it still serves.
    let get = rt.block_on(client.execute(Op::Get { key: "v".into() }));
    assert!(matches!(get, Ok(Reply::Value(Some(_)))), "{get:?}");
}

#[test]
fn half_sent_frames_cost_what_arrived_and_a_silent_connection_is_dropped() {
    // Issue 11, item 2: twenty connections that each announced a 16 MiB frame and sent one
    // byte took a node from 9 MB to 337 MB, and nothing timed out a slow hello.
    let state = tempfile::tempdir().expect("tempdir");
    let cluster = Cluster::up(state.path());
    let v = cluster.status();
    let node = v["nodes"].as_array().expect("nodes")[2].clone();
    let addr: SocketAddr = node["addr"].as_str().expect("addr").parse().expect("addr");
    let pid = node["pid"].as_u64().expect("pid");
    let before = rss_kb(pid);
    let id = node["id"].as_u64().expect("id");
    // A member (its certificate, as if the member were compromised) and a stranger: each
    // announces a 16 MiB frame and sends one byte. The stranger's bytes never pass the TLS
    // handshake; the member's frame buffer grows only with what arrived.
    let member = creds(&cluster.1, "node-1");
    let rt = runtime();
    let mut held = Vec::new();
    let mut strangers = Vec::new();
    for _ in 0..10 {
        let c = rt.block_on(async {
            let mut c = member.connect_tls(id, addr).await.expect("connect");
            c.write_all(&frame(&codec::encode_hello(Hello::Peer(1))))
                .await
                .expect("hello");
            c.write_all(&((16u32 << 20) - 1).to_be_bytes())
                .await
                .expect("header");
            c.write_all(b"x").await.expect("one byte");
            c.flush().await.expect("flush");
            c
        });
        held.push(c);
        let mut c = TcpStream::connect(addr).expect("connect");
        c.write_all(&frame(&codec::encode_hello(Hello::Peer(1))))
            .expect("hello");
        c.write_all(&((16u32 << 20) - 1).to_be_bytes())
            .expect("header");
        c.write_all(b"x").expect("one byte");
        strangers.push(c);
    }
    // The node has read what we sent: a fresh status round trip goes through its loop.
    let _ = cluster.status();
    std::thread::sleep(Duration::from_millis(500));
    let after = rss_kb(pid);
    assert!(
        after < before + 32 * 1024,
        "twenty half-sent frames grew the node from {before} KiB to {after} KiB"
    );
    drop(held);
    drop(strangers);

    // A connection that never says hello is closed by the node.
    let mut silent = TcpStream::connect(addr).expect("connect");
    silent
        .set_read_timeout(Some(Duration::from_secs(15)))
        .expect("timeout");
    let started = Instant::now();
    let mut byte = [0u8; 1];
    let n = silent
        .read(&mut byte)
        .expect("the node closes it, not our timeout");
    assert_eq!(n, 0, "closed without a byte");
    assert!(started.elapsed() < Duration::from_secs(12));
}

/// Whether the node closed `conn` (EOF or a reset) within `within`, rather than keeping it.
/// Bytes before the close (a TLS alert saying why) are skipped.
async fn closed_by_node<S: tokio::io::AsyncRead + Unpin>(conn: &mut S, within: Duration) -> bool {
    let mut sink = [0u8; 256];
    let until_closed = async {
        loop {
            match conn.read(&mut sink).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(within, until_closed).await.is_ok()
}

#[test]
fn only_the_runs_own_members_and_client_get_past_the_handshake() {
    // Issue 11, item 1: anyone could say a peer hello with a member's id and then move every
    // node to term 2^64-1. Now every connection is mutual TLS with the run's CA, and the hello
    // must match the certificate presented.
    let state = tempfile::tempdir().expect("tempdir");
    let cluster = Cluster::up(state.path());
    let nodes = nodes_of(&cluster.status());
    let (id, addr) = nodes[2];
    let rt = runtime();
    let hello = |h: Hello| frame(&codec::encode_hello(h));
    // Another run's PKI: a valid CA and certificates, just not this cluster's.
    let other = tempfile::tempdir().expect("tempdir");
    wirelab::wire::pki::ensure(other.path(), "raft", &["node-1".into()]).expect("pki");
    let stranger_pki = RunPki::of_run(other.path(), "raft").expect("pki");
    rt.block_on(async {
        // Plaintext, as before: a peer hello and a frame. Not TLS: closed.
        let mut plain = tokio::net::TcpStream::connect(addr).await.expect("connect");
        plain
            .write_all(&hello(Hello::Peer(1)))
            .await
            .expect("hello");
        plain.write_all(&frame(&[0xff; 32])).await.expect("frame");
        assert!(closed_by_node(&mut plain, Duration::from_secs(10)).await);

        // Another run's member certificate: the handshake fails.
        let stranger = ClientAuth::with_identity(stranger_pki.clone(), "node-1").expect("creds");
        // (The stranger dials with this run's server name check against its own CA, so the
        // node's certificate is refused by the stranger too; either way no session.)
        assert!(stranger.connect_tls(id, addr).await.is_err());

        // Member 1's certificate saying hello as member 2, and the client's as member 1.
        for (cert, said) in [("node-1", Hello::Peer(2)), ("client", Hello::Peer(1))] {
            let mut c = creds(&cluster.1, cert)
                .connect_tls(id, addr)
                .await
                .expect("the handshake itself succeeds");
            c.write_all(&hello(said)).await.expect("hello");
            c.flush().await.expect("flush");
            assert!(
                closed_by_node(&mut c, Duration::from_secs(10)).await,
                "{cert} posing as {said:?} was kept"
            );
        }

        // The control: member 1's certificate with its own hello is kept open.
        let mut ok = creds(&cluster.1, "node-1")
            .connect_tls(id, addr)
            .await
            .expect("connect");
        ok.write_all(&hello(Hello::Peer(1))).await.expect("hello");
        ok.flush().await.expect("flush");
        assert!(!closed_by_node(&mut ok, Duration::from_millis(500)).await);
    });
    // The cluster never noticed: it still serves with its term where it was.
    let put = wirelab(
        state.path(),
        &["raft", "put", "k", "v", "--run-dir", &cluster.1],
    );
    assert!(put.status.success(), "{put:?}");
    let v = cluster.status();
    let terms: Vec<u64> = v["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .filter_map(|n| n["term"].as_u64())
        .collect();
    assert!(terms.iter().all(|t| *t < 1000), "{v}");
}

#[test]
fn unfinished_handshakes_are_capped_and_the_cluster_still_serves() {
    // A stranger opening connections that never finish a handshake holds at most 128 of
    // them (each for 5 s); past that, new connections are closed at once.
    let state = tempfile::tempdir().expect("tempdir");
    let cluster = Cluster::up(state.path());
    let nodes = nodes_of(&cluster.status());
    let addr = nodes[0].1;
    let rt = runtime();
    let closed_at_once = rt.block_on(async {
        let mut conns = Vec::new();
        for _ in 0..160 {
            conns.push(tokio::net::TcpStream::connect(addr).await.expect("connect"));
        }
        let mut closed = 0;
        for c in &mut conns {
            if closed_by_node(c, Duration::from_millis(20)).await {
                closed += 1;
            }
        }
        closed
    });
    assert!(
        (20..=60).contains(&closed_at_once),
        "{closed_at_once} of 160 silent connections were closed at once (128 may wait)"
    );
    let put = wirelab(
        state.path(),
        &["raft", "put", "k", "v", "--run-dir", &cluster.1],
    );
    assert!(put.status.success(), "{put:?}");
}
