//! The `wirelab raft …` command line, exactly as scripts use it: exit codes, output, JSON.

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use common::cluster::*;

fn wirelab(state: &Path, args: &[&str]) -> Output {
    Command::new(exe())
        .args(args)
        .env("XDG_STATE_HOME", state)
        .output()
        .expect("run wirelab")
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

struct Stopper<'a>(&'a Path, &'a Path);

impl Drop for Stopper<'_> {
    fn drop(&mut self) {
        let _ = wirelab(
            self.0,
            &["raft", "stop", "--run-dir", self.1.to_str().unwrap()],
        );
    }
}

#[test]
fn cli_verbs_have_the_documented_exit_codes() {
    let state = tempfile::tempdir().unwrap();
    // Without --run-dir, `up` makes a new run under $XDG_STATE_HOME/wirelab/runs and the other
    // verbs find the newest one there.
    let up = wirelab(state.path(), &["raft", "up", "--detach"]);
    assert!(
        up.status.success(),
        "up failed: {}",
        String::from_utf8_lossy(&up.stderr)
    );
    let run =
        wirelab::cluster::rundir::newest_run("raft", &state.path().join("wirelab/runs")).unwrap();
    let run_s = run.to_str().unwrap();
    let _stop = Stopper(state.path(), &run);

    assert_eq!(
        wirelab(state.path(), &["raft", "put", "color", "red"])
            .status
            .code(),
        Some(0)
    );
    let got = wirelab(state.path(), &["raft", "get", "color"]);
    assert_eq!((got.status.code(), text(&got).as_str()), (Some(0), "red"));
    assert_eq!(
        wirelab(state.path(), &["raft", "get", "nope"])
            .status
            .code(),
        Some(1)
    );
    assert_eq!(
        wirelab(state.path(), &["raft", "cas", "color", "blue", "green"])
            .status
            .code(),
        Some(1)
    );
    assert_eq!(
        wirelab(state.path(), &["raft", "cas", "color", "red", "green"])
            .status
            .code(),
        Some(0)
    );
    assert_eq!(
        text(&wirelab(state.path(), &["raft", "get", "color"])),
        "green"
    );
    assert_eq!(
        wirelab(state.path(), &["raft", "del", "color"])
            .status
            .code(),
        Some(0)
    );
    assert_eq!(
        wirelab(state.path(), &["raft", "del", "color"])
            .status
            .code(),
        Some(1)
    );

    let status = wirelab(
        state.path(),
        &["raft", "status", "--json", "--run-dir", run_s],
    );
    assert!(status.status.success());
    let v: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    let leader = v["leader"].as_u64().expect("a leader id");
    assert_eq!(v["nodes"].as_array().unwrap().len(), 3);

    // Kill the leader through the control socket; the cluster.json pid changes on restart.
    let before = wirelab::cluster::rundir::read_cluster_file(&run).unwrap();
    let old_pid = before
        .nodes
        .iter()
        .find(|n| n.id == leader)
        .unwrap()
        .pid
        .unwrap();
    assert!(
        wirelab(state.path(), &["raft", "kill", &leader.to_string()])
            .status
            .success()
    );
    wait_for(Duration::from_secs(5), "the old leader to die", || {
        !alive(old_pid)
    });
    assert_eq!(
        wirelab(state.path(), &["raft", "put", "after", "kill"])
            .status
            .code(),
        Some(0)
    );
    assert!(
        wirelab(state.path(), &["raft", "restart", &leader.to_string()])
            .status
            .success()
    );
    let after = wirelab::cluster::rundir::read_cluster_file(&run).unwrap();
    let new = after.nodes.iter().find(|n| n.id == leader).unwrap();
    assert_ne!(new.pid, Some(old_pid));
    assert_eq!(new.status, "running");

    // Degraded links: a leader that loses every frame is replaced; one that is merely slow
    // keeps serving.
    let leader_now = |s: &Path| -> u64 { text(&wirelab(s, &["raft", "leader"])).parse().unwrap() };
    let l = leader_now(state.path());
    assert!(
        wirelab(
            state.path(),
            &["raft", "faults", &l.to_string(), "--delay-ms", "20"]
        )
        .status
        .success()
    );
    assert_eq!(
        wirelab(state.path(), &["raft", "put", "slow", "link"])
            .status
            .code(),
        Some(0)
    );
    assert!(
        wirelab(
            state.path(),
            &["raft", "faults", &l.to_string(), "--drop", "1"]
        )
        .status
        .success()
    );
    assert_eq!(
        wirelab(state.path(), &["raft", "put", "lossy", "link"])
            .status
            .code(),
        Some(0)
    );
    wait_for(
        Duration::from_secs(10),
        "a new leader away from the lossy node",
        || leader_now(state.path()) != l,
    );
    assert!(wirelab(state.path(), &["raft", "heal"]).status.success());
    assert_eq!(
        wirelab(state.path(), &["raft", "faults", "1", "--drop", "2"])
            .status
            .code(),
        Some(2)
    );

    // Bad requests are clear errors with status 2.
    let bad = wirelab(state.path(), &["raft", "kill", "9"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("no node 9"));
}

#[test]
fn up_on_an_existing_run_dir_restarts_the_same_cluster_from_disk() {
    let state = tempfile::tempdir().unwrap();
    let run = state.path().join("run");
    let run_s = run.to_str().unwrap();
    let up = |_: ()| {
        let o = wirelab(
            state.path(),
            &["raft", "up", "--detach", "--run-dir", run_s],
        );
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    up(());
    let _stop = Stopper(state.path(), &run);
    let first = wirelab::cluster::rundir::read_cluster_file(&run).unwrap();
    assert_eq!(
        wirelab(
            state.path(),
            &["raft", "put", "durable", "yes", "--run-dir", run_s]
        )
        .status
        .code(),
        Some(0)
    );
    assert!(
        wirelab(state.path(), &["raft", "stop", "--run-dir", run_s])
            .status
            .success()
    );
    // `raft stop` returns once every node is down: no waiting needed.
    let pids: Vec<u32> = first.nodes.iter().filter_map(|n| n.pid).collect();
    assert!(
        pids.iter().all(|p| !alive(*p)),
        "a node outlived `raft stop`"
    );
    up(());
    let second = wirelab::cluster::rundir::read_cluster_file(&run).unwrap();
    let addrs = |c: &wirelab::cluster::ClusterFile| {
        c.nodes.iter().map(|n| n.addr.clone()).collect::<Vec<_>>()
    };
    assert_eq!(
        addrs(&first),
        addrs(&second),
        "the restarted cluster keeps its addresses"
    );
    let got = wirelab(
        state.path(),
        &["raft", "get", "durable", "--run-dir", run_s],
    );
    assert_eq!((got.status.code(), text(&got).as_str()), (Some(0), "yes"));
}

#[test]
fn missing_run_dir_is_a_clear_error() {
    let state = tempfile::tempdir().unwrap();
    let o = wirelab(state.path(), &["raft", "status"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no raft run found"));
    let o = wirelab(
        state.path(),
        &["raft", "get", "k", "--run-dir", "/nonexistent/run"],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("cluster.json"));
}

#[test]
fn no_node_outlives_a_sigkilled_supervisor() {
    let state = tempfile::tempdir().unwrap();
    let run = state.path().join("run");
    let mut sup = Command::new(exe())
        .args(["raft", "up", "--run-dir", run.to_str().unwrap()])
        .env("XDG_STATE_HOME", state.path())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut pids = Vec::new();
    wait_for(
        Duration::from_secs(20),
        "three node pids in cluster.json",
        || {
            pids = wirelab::cluster::rundir::read_cluster_file(&run)
                .map(|c| c.nodes.iter().filter_map(|n| n.pid).collect())
                .unwrap_or_default();
            pids.len() == 3
        },
    );
    assert!(pids.iter().all(|p| alive(*p)));
    sup.kill().unwrap(); // SIGKILL
    sup.wait().unwrap();
    wait_for(
        Duration::from_secs(5),
        "every node to die with its supervisor",
        || pids.iter().all(|p| !alive(*p)),
    );
}

#[test]
fn short_chaos_run_is_linearizable_and_loses_nothing() {
    let state = tempfile::tempdir().unwrap();
    let o = wirelab(
        state.path(),
        &[
            "raft",
            "chaos",
            "--duration",
            "8s",
            "--clients",
            "4",
            "--seed",
            "7",
            "--json",
        ],
    );
    let out = text(&o);
    assert_eq!(
        o.status.code(),
        Some(0),
        "chaos failed: {out}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["linearizable"], true);
    assert_eq!(v["lost_acknowledged_writes"], 0);
    // Every node, the killed ones included, caught up with the leader on its own.
    assert_eq!(v["nodes_rejoined"], v["nodes"], "{out}");
    assert_eq!(v["nodes"], 3, "{out}");
    assert!(v["ok"].as_u64().unwrap() > 50, "{out}");
    let faults = &v["faults"];
    let total = ["kill", "pause", "partition"]
        .iter()
        .map(|f| faults[f].as_u64().unwrap())
        .sum::<u64>();
    assert!(total >= 2, "nemesis injected too few faults: {out}");
    assert!(Path::new(v["history"].as_str().unwrap()).exists());
}
