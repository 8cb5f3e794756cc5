//! The forge lab end to end, through the CLI as a user drives it: a detached lab (server node +
//! load generator node under the cluster supervisor), traffic in the metrics, a smuggling
//! attempt, a slowloris flood, a graceful reload under load, and a stop that leaves no process
//! behind. Also the shell's `forge` builtin hosting the lab in-process.

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::Value;

use common::cluster::{alive, exe, wait_for};

fn wirelab(state: &Path, args: &[&str]) -> Output {
    Command::new(exe())
        .args(args)
        .env("XDG_STATE_HOME", state)
        .output()
        .expect("run wirelab")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn ok(o: Output, what: &str) -> String {
    assert!(
        o.status.success(),
        "{what} failed ({:?}):\n{}\n{}",
        o.status.code(),
        stdout(&o),
        String::from_utf8_lossy(&o.stderr)
    );
    stdout(&o)
}

/// Stops the lab even when an assertion fails midway.
struct Stopper<'a>(&'a Path, &'a str);

impl Drop for Stopper<'_> {
    fn drop(&mut self) {
        let _ = wirelab(self.0, &["forge", "stop", "--run-dir", self.1]);
    }
}

fn status(state: &Path, run: &str) -> Value {
    let out = ok(
        wirelab(state, &["forge", "status", "--json", "--run-dir", run]),
        "status",
    );
    serde_json::from_str(&out).expect("status is JSON")
}

fn node(status: &Value, id: u64) -> &Value {
    status["nodes"]
        .as_array()
        .and_then(|n| n.iter().find(|n| n["id"] == id))
        .unwrap_or_else(|| panic!("no node {id} in {status}"))
}

fn pids(status: &Value) -> Vec<u32> {
    status["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|n| n["pid"].as_u64().map(|p| p as u32))
        .collect()
}

#[test]
fn forge_lab_serves_load_rejects_attacks_and_reloads_without_failed_requests() {
    let state = tempfile::tempdir().unwrap();
    let run_dir = state.path().join("run");
    let run = run_dir.to_str().unwrap();
    let up = ok(
        wirelab(state.path(), &["forge", "up", "--detach", "--run-dir", run]),
        "up",
    );
    let _stop = Stopper(state.path(), run);
    assert!(
        up.contains("forge-server") && up.contains("forge-load"),
        "{up}"
    );
    let supervisor_pid = wirelab::cluster::rundir::read_cluster_file(&run_dir)
        .unwrap()
        .supervisor_pid
        .unwrap();
    let first = status(state.path(), run);
    let mut every_pid = pids(&first);
    every_pid.push(supervisor_pid);

    // Load: traffic shows in both nodes' metrics.
    let started = ok(
        wirelab(
            state.path(),
            &[
                "forge",
                "load",
                "start",
                "--connections",
                "4",
                "--run-dir",
                run,
            ],
        ),
        "load start",
    );
    assert!(started.contains("4 keep-alive connections"), "{started}");
    wait_for(Duration::from_secs(10), "load traffic in status", || {
        let s = status(state.path(), run);
        let load = &node(&s, 2)["metrics"];
        let server = &node(&s, 1)["metrics"];
        load["running"] == true
            && load["requests"].as_u64().unwrap_or(0) > 100
            && load["status"]["200"].as_u64().unwrap_or(0) > 100
            && server["status"]["200"].as_u64().unwrap_or(0) > 100
            && server["open_connections"].as_u64().unwrap_or(0) >= 4
    });

    // Smuggling: 400, one response, connection closed.
    let smuggle = ok(
        wirelab(state.path(), &["forge", "smuggle", "--run-dir", run]),
        "smuggle",
    );
    assert!(smuggle.contains("HTTP/1.1 400 Bad Request"), "{smuggle}");
    assert!(smuggle.contains("closed the connection"), "{smuggle}");

    // Slowloris: every slow connection is closed by the header timeout, with a 408.
    let slow = ok(
        wirelab(
            state.path(),
            &["forge", "slowloris", "10", "--run-dir", run],
        ),
        "slowloris",
    );
    assert!(slow.contains("server closed 10/10"), "{slow}");
    assert!(slow.contains("408: 10"), "{slow}");
    assert!(slow.contains("ordinary GET / was answered"), "{slow}");
    // The parser's refusals are counted by the server too.
    let s = status(state.path(), run);
    let refused = &node(&s, 1)["metrics"]["status"];
    assert!(refused["400"].as_u64() >= Some(1), "{s}");
    assert!(refused["408"].as_u64() >= Some(10), "{s}");

    // Reload under load: a new server process, no failed request.
    let old_server = node(&s, 1)["pid"].as_u64().unwrap() as u32;
    let reload = ok(
        wirelab(state.path(), &["forge", "reload", "--run-dir", run]),
        "reload",
    );
    assert!(reload.contains("zero failed requests"), "{reload}");
    assert!(reload.contains(", 0 failed, 0 not 2xx"), "{reload}");
    let after = status(state.path(), run);
    let new_server = node(&after, 1)["pid"].as_u64().unwrap() as u32;
    assert_ne!(old_server, new_server);
    wait_for(Duration::from_secs(10), "the old server to exit", || {
        !alive(old_server)
    });
    let load = &node(&after, 2)["metrics"];
    assert_eq!(load["errors"], 0, "{after}");
    every_pid.extend(pids(&after));

    let stopped = ok(
        wirelab(state.path(), &["forge", "load", "stop", "--run-dir", run]),
        "load stop",
    );
    assert!(stopped.contains(", 0 failed"), "{stopped}");

    ok(
        wirelab(state.path(), &["forge", "stop", "--run-dir", run]),
        "stop",
    );
    wait_for(Duration::from_secs(15), "every lab process to exit", || {
        every_pid.iter().all(|p| !alive(*p))
    });
}

#[test]
fn shell_builtin_hosts_the_forge_lab_in_process() {
    let state = tempfile::tempdir().unwrap();
    let run_dir = state.path().join("run");
    let script = format!(
        "set -e\nforge up --run-dir {} > /dev/null\nforge load start --connections 2\nforge status | grep -c forge-\nforge smuggle | grep -q '400 Bad Request'\nforge stop\n",
        run_dir.display()
    );
    let out = ok(
        wirelab(state.path(), &["shell", "-c", &script]),
        "the script",
    );
    assert!(
        out.contains("load started: 2 keep-alive connections"),
        "{out}"
    );
    assert!(out.contains("\n2\n"), "{out}");
    assert!(out.contains("forge lab stopped"), "{out}");
    let cf = wirelab::cluster::rundir::read_cluster_file(&run_dir).unwrap();
    wait_for(Duration::from_secs(10), "the nodes to exit", || {
        cf.nodes.iter().filter_map(|n| n.pid).all(|p| !alive(p))
    });
}

#[test]
fn kill_pause_resume_and_restart_act_on_one_node_of_the_forge_lab() {
    let state = tempfile::tempdir().unwrap();
    let run_dir = state.path().join("run");
    let script = format!(
        "set -e\nforge up --run-dir {} > /dev/null\n\
         forge pause 2\nforge status | grep forge-load | grep -q paused\nforge resume 2\n\
         forge status | grep forge-load | grep -q running\n\
         forge kill 1\nforge status | grep forge-server | grep -q killed\n\
         forge restart 1\nforge smuggle | grep -q '400 Bad Request'\n\
         forge restart 2\nforge load start --connections 2\n\
         if forge kill 9 2>/dev/null; then echo 'kill 9 succeeded'; exit 3; fi\n\
         forge stop\n",
        run_dir.display()
    );
    let out = ok(
        wirelab(state.path(), &["shell", "-c", &script]),
        "the script",
    );
    for want in [
        "node 2 (forge-load) paused (SIGSTOP)",
        "node 2 (forge-load) resumed (SIGCONT)",
        "node 1 (forge-server) killed (SIGKILL)",
        "node 1 (forge-server) restarted from its data dir (pid ",
        "node 2 (forge-load) restarted from its data dir (pid ",
        "load started: 2 keep-alive connections",
    ] {
        assert!(out.contains(want), "lacks {want:?}:\n{out}");
    }
}
