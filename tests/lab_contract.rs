//! The lab contract, checked by walking the registry: every registered lab (the test-only
//! `pingpong` included, registered with `WIRELAB_TEST_LABS=pingpong`) goes through the common
//! verbs on real processes; every portfolio project's `lab =` names a registered lab and every
//! lab has a project; completion comes from each lab's clap tree.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use wirelab::shell::BuiltinProvider;

/// Runs `wirelab ARGS` with the test labs registered and state under `state`.
fn wirelab(state: &Path, args: &[&str]) -> (i32, String, String) {
    let o = Command::new(common::wirelab())
        .args(args)
        .env("XDG_STATE_HOME", state)
        .env("WIRELAB_TEST_LABS", "pingpong")
        .output()
        .expect("run wirelab");
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn ok(state: &Path, args: &[&str]) -> String {
    let (code, out, err) = wirelab(state, args);
    assert_eq!(code, 0, "wirelab {args:?} failed:\n{out}\n{err}");
    out
}

fn status(state: &Path, lab: &str, run: &str) -> Value {
    let out = ok(state, &[lab, "status", "--json", "--run-dir", run]);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{lab} status --json: {e}\n{out}"))
}

fn node_state(v: &Value, id: u64) -> String {
    v["nodes"]
        .as_array()
        .and_then(|ns| ns.iter().find(|n| n["id"] == id))
        .and_then(|n| n["state"].as_str())
        .unwrap_or("?")
        .to_string()
}

fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn alive(pid: u64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with('Z'))
    })
}

/// `up --detach`, `status --json`, `kill 1`, `restart 1`, `stop` on one lab; no process left.
/// The process state letter of `pid` in /proc (`T` when stopped by a signal).
fn proc_state(pid: u64) -> char {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc/PID/stat");
    // The state follows the command name, which is in parentheses and may hold spaces.
    let after = &stat[stat.rfind(')').expect("comm") + 2..];
    after.chars().next().expect("state")
}

fn walk(lab: &'static dyn wirelab::lab::Lab) {
    let name = lab.name();
    let state = tempfile::tempdir().expect("tempdir");
    let run = state.path().join("run");
    let run = run.to_str().expect("utf-8 path");
    let mut up = vec![name, "up", "--detach", "--run-dir", run];
    up.extend(lab.quick_up_args());
    let out = ok(state.path(), &up);
    assert!(out.contains(" up in "), "{name} up: {out}");

    let v = status(state.path(), name, run);
    assert_eq!(v["lab"], name, "{v}");
    let nodes = v["nodes"].as_array().expect("nodes").clone();
    assert!(!nodes.is_empty(), "{name}: no nodes");
    assert!(nodes.iter().all(|n| n["state"] == "running"), "{name}: {v}");
    let pids: Vec<u64> = nodes.iter().filter_map(|n| n["pid"].as_u64()).collect();
    assert_eq!(pids.len(), nodes.len(), "{name}: every node has a pid");
    let supervisor = wirelab::cluster::rundir::read_cluster_file(Path::new(run))
        .expect("cluster.json")
        .supervisor_pid
        .expect("the detached supervisor's pid");

    let out = ok(state.path(), &[name, "kill", "1", "--run-dir", run]);
    assert!(out.contains("killed (SIGKILL)"), "{name} kill: {out}");
    assert!(!alive(pids[0]), "{name}: node 1 still runs after SIGKILL");
    assert_eq!(node_state(&status(state.path(), name, run), 1), "killed");

    let out = ok(state.path(), &[name, "restart", "1", "--run-dir", run]);
    assert!(out.contains("restarted"), "{name} restart: {out}");
    wait_for(&format!("{name} node 1 running again"), || {
        node_state(&status(state.path(), name, run), 1) == "running"
    });
    let restarted: Vec<u64> = status(state.path(), name, run)["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .filter_map(|n| n["pid"].as_u64())
        .collect();

    // SIGSTOP and SIGCONT, where the lab offers them: the kernel says the process stopped,
    // and status says paused.
    if ok(state.path(), &[name, "--help"]).contains("pause") {
        let pid = restarted[0];
        let out = ok(state.path(), &[name, "pause", "1", "--run-dir", run]);
        assert!(out.contains("paused"), "{name} pause: {out}");
        // (SIGSTOP takes effect when the kernel next schedules the process.)
        wait_for(&format!("{name}: node 1 stopped"), || {
            proc_state(pid) == 'T'
        });
        assert_eq!(node_state(&status(state.path(), name, run), 1), "paused");
        let out = ok(state.path(), &[name, "resume", "1", "--run-dir", run]);
        assert!(out.contains("resumed"), "{name} resume: {out}");
        wait_for(&format!("{name}: node 1 running again"), || {
            proc_state(pid) != 'T'
        });
        assert_eq!(node_state(&status(state.path(), name, run), 1), "running");
    }

    let out = ok(state.path(), &[name, "stop", "--run-dir", run]);
    assert!(out.contains("stopped"), "{name} stop: {out}");
    for pid in restarted.iter().chain([&(supervisor as u64)]) {
        wait_for(&format!("{name}: pid {pid} to exit"), || !alive(*pid));
    }
    let (code, _, err) = wirelab(state.path(), &[name, "status", "--run-dir", run]);
    assert_ne!(code, 0, "{name}: status answers after stop");
    assert!(err.contains(name), "{name}: the error names the lab: {err}");
}

#[test]
fn every_registered_lab_goes_through_the_common_verbs_and_leaves_no_process() {
    let labs = wirelab::registry::all_with_test_labs();
    assert!(labs.iter().any(|l| l.name() == "pingpong"));
    // Two at a time: the P2P lab alone is 7 processes on a 2-core machine.
    for pair in labs.chunks(2) {
        std::thread::scope(|scope| {
            for lab in pair {
                scope.spawn(move || walk(*lab));
            }
        });
    }
}

#[test]
fn a_lab_hides_the_common_verbs_it_does_not_offer() {
    let state = tempfile::tempdir().expect("tempdir");
    let (code, _, err) = wirelab(state.path(), &["pingpong", "partition", "1"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("unrecognized subcommand 'partition'"), "{err}");
    let help = ok(state.path(), &["forge", "--help"]);
    assert!(
        help.contains("slowloris") && help.contains("kill"),
        "{help}"
    );
    assert!(!help.contains("partition"), "{help}");
}

#[test]
fn every_role_of_every_lab_is_a_node_subcommand() {
    let state = tempfile::tempdir().expect("tempdir");
    let help = ok(state.path(), &["node", "--help"]);
    for lab in wirelab::registry::all_with_test_labs() {
        for role in lab.roles() {
            assert!(help.contains(role.name()), "{}: {help}", role.name());
        }
    }
}

#[test]
fn the_pingpong_scenario_runs_in_the_shell() {
    let state = tempfile::tempdir().expect("tempdir");
    let scripts = wirelab::lab::scenario::of("pingpong");
    assert!(!scripts.is_empty());
    for s in scripts {
        let out = ok(state.path(), &["shell", "-c", s.script, &s.full_name()]);
        assert!(out.contains("echoed \"back\""), "{}: {out}", s.full_name());
    }
}

#[test]
fn portfolio_projects_and_registered_labs_name_each_other() {
    let portfolio = wirelab::portfolio::Portfolio::builtin().expect("portfolio");
    let named: Vec<String> = portfolio
        .projects
        .iter()
        .filter_map(|p| p.lab.clone())
        .collect();
    for lab in &named {
        assert!(
            wirelab::registry::lab(lab).is_some(),
            "the portfolio names lab {lab:?}, which is not registered"
        );
    }
    for lab in wirelab::registry::labs() {
        assert!(
            named.iter().any(|n| n == lab.name()),
            "lab {} has no portfolio project",
            lab.name()
        );
    }
}

#[test]
fn completion_comes_from_each_labs_clap_tree() {
    let b = wirelab::lab::builtins::LabBuiltins::new(
        wirelab::lab::LabHost::new(),
        wirelab::registry::labs(),
    );
    let words = |w: &[&str]| -> Vec<String> { w.iter().map(|s| s.to_string()).collect() };
    assert_eq!(
        b.complete(&words(&["raft"]), "pa"),
        vec!["partition", "pause"]
    );
    assert!(
        b.complete(&words(&["forge"]), "")
            .contains(&"slowloris".to_string())
    );
    assert_eq!(
        b.complete(&words(&["forge", "load"]), ""),
        vec!["start", "stop"]
    );
    assert_eq!(
        b.complete(&words(&["raft", "load"]), ""),
        vec!["start", "status", "stop"]
    );
    assert!(
        b.complete(&words(&["p2p", "wait"]), "")
            .contains(&"converged".to_string())
    );
    assert!(b.complete(&words(&[]), "").is_empty());
}

/// Stops every pingpong run under `state` when the test ends, passed or not.
struct StopAll<'a>(&'a Path);

impl Drop for StopAll<'_> {
    fn drop(&mut self) {
        for _ in 0..3 {
            if wirelab(self.0, &["pingpong", "stop"]).0 != 0 {
                break;
            }
        }
    }
}

#[test]
fn a_second_up_warns_of_the_first_and_stop_says_what_still_runs() {
    let state = tempfile::tempdir().expect("tempdir");
    let _cleanup = StopAll(state.path());
    let first = wirelab(state.path(), &["pingpong", "up", "--detach"]);
    assert_eq!(first.0, 0, "{}{}", first.1, first.2);
    assert!(!first.2.contains("another"), "{}", first.2);
    let second = wirelab(state.path(), &["pingpong", "up", "--detach"]);
    assert_eq!(second.0, 0, "{}{}", second.1, second.2);
    assert!(
        second
            .2
            .contains("note: another pingpong lab already runs in"),
        "{}",
        second.2
    );
    // `stop` acts on the newest run and names the one still running.
    let stop = ok(state.path(), &["pingpong", "stop"]);
    assert!(stop.contains("still running: "), "{stop}");
    let stop = ok(state.path(), &["pingpong", "stop"]);
    assert!(!stop.contains("still running"), "{stop}");
    let (code, _, _) = wirelab(state.path(), &["pingpong", "status"]);
    assert_ne!(code, 0, "nothing runs any more");
}
