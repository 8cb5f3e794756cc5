//! The Raft lab under hostile input (issue 11): raw bytes on a node's client port against a
//! real cluster. A request over the client limit is refused without being read, and the
//! largest accepted write still replicates (it once wedged replication: its AppendEntries
//! frame exceeded the peer limit).

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use wirelab::raft::client::{Client, ClientOptions};
use wirelab::raft::codec::{self, Hello, Op, Reply};

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
    let v = cluster.status();
    let nodes: Vec<(u64, SocketAddr)> = v["nodes"]
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
        .collect();

    // A client announces a 16 MiB request and sends one byte of it.
    let mut conn = TcpStream::connect(nodes[0].1).expect("connect");
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    conn.write_all(&frame(&codec::encode_hello(Hello::Client)))
        .expect("hello");
    conn.write_all(&(16u32 << 20).to_be_bytes())
        .expect("header");
    conn.write_all(b"x").expect("one byte");
    let mut len = [0u8; 4];
    conn.read_exact(&mut len).expect("an answer");
    let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
    conn.read_exact(&mut body).expect("its body");
    match codec::decode_response(&body).expect("a response").reply {
        Reply::Error(msg) => assert!(msg.contains("over the"), "{msg}"),
        other => panic!("accepted: {other:?}"),
    }

    // The largest value accepted is written, and every node applies it: replication is not
    // wedged by a batch too large for a peer frame.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut client = Client::new(nodes.clone(), ClientOptions::default());
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
    assert!(v["leader"].as_u64().is_some_and(|l| l != 1), "{v}");
    let get = wirelab(state.path(), &["raft", "get", "k19", "--run-dir", &run_s]);
    assert_eq!(String::from_utf8_lossy(&get.stdout), "v\n", "{get:?}");
    // The damaged file is left as it was.
    assert_eq!(std::fs::read(&log).expect("log"), bytes);
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
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut client = Client::new(nodes, ClientOptions::default());
    let put = rt.block_on(client.execute(Op::Put {
        key: "v".into(),
        value: vec![b'x'; 64 << 10],
    }));
    assert!(matches!(put, Ok(Reply::Done)), "{put:?}");
    let before = rss_kb(pid);

    let mut conn = TcpStream::connect(addr).expect("connect");
    conn.set_write_timeout(Some(Duration::from_secs(3)))
        .expect("timeout");
    conn.write_all(&frame(&codec::encode_hello(Hello::Client)))
        .expect("hello");
    for i in 0..3000u64 {
        let req = codec::encode_request(&codec::Request {
            id: i + 1,
            client: 7,
            seq: i + 1,
            op: Op::Get { key: "v".into() },
        });
        // Once the node stops reading, our socket buffer fills and the write times out.
        if conn.write_all(&frame(&req)).is_err() {
            break;
        }
    }
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
    let mut held = Vec::new();
    for _ in 0..20 {
        let mut c = TcpStream::connect(addr).expect("connect");
        c.write_all(&frame(&codec::encode_hello(Hello::Peer(1))))
            .expect("hello");
        c.write_all(&((16u32 << 20) - 1).to_be_bytes())
            .expect("header");
        c.write_all(b"x").expect("one byte");
        held.push(c);
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
