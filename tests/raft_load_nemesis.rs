//! The dashboard's verbs as plain shell commands: `raft load start|stop|status` (a background
//! workload whose stop reads every key back) and `raft nemesis` (random faults against the
//! running cluster, each undone).

use std::process::Command;

fn wirelab_shell(script: &str) -> (i32, String) {
    let state = tempfile::tempdir().expect("state dir");
    let out = Command::new(env!("CARGO_BIN_EXE_wirelab"))
        .args(["shell", "-c", script])
        .env("XDG_STATE_HOME", state.path())
        .output()
        .expect("run wirelab shell");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn no_acknowledged_write_is_lost_under_a_nemesis_burst() {
    let (code, out) = wirelab_shell(
        "set -e; raft up >/dev/null; raft load start --clients 2; raft load start --clients 5; \
         sleep 1; raft load status; raft nemesis --duration 2s --seed 7; raft load stop; \
         raft load stop; raft stop",
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("workload started: 2 clients writing"), "{out}");
    assert!(out.contains("workload running: 2 clients"), "{out}");
    assert!(out.contains("every node running, network healed"), "{out}");
    assert!(out.contains("every acknowledged write is intact"), "{out}");
    // Both verbs are idempotent (the tour may step back and run one again).
    assert!(out.contains("a workload already runs: 2 clients"), "{out}");
    assert!(out.contains("no workload was running"), "{out}");
}

#[test]
fn load_needs_a_cluster_hosted_by_the_shell() {
    let (code, out) = wirelab_shell("raft load start");
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("raft up"), "{out}");
    let (code, out) = wirelab_shell("raft load stop");
    assert_eq!(code, 2, "{out}");
}
