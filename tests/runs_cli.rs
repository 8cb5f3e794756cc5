//! `wirelab runs list|prune|rm`: run dirs are listed with their size, a run that is up is never
//! removed, and pruning frees what stopped runs hold (issue 17, housekeeping).

mod common;

use std::path::Path;
use std::process::Command;

fn wirelab(state: &Path, args: &[&str]) -> std::process::Output {
    Command::new(common::wirelab())
        .args(args)
        .env("XDG_STATE_HOME", state)
        .output()
        .expect("run wirelab")
}

fn listed(state: &Path) -> Vec<serde_json::Value> {
    let out = wirelab(state, &["runs", "list", "--json"]);
    assert!(out.status.success(), "{out:?}");
    serde_json::from_slice::<Vec<serde_json::Value>>(&out.stdout).expect("JSON")
}

#[test]
fn runs_are_listed_a_live_one_is_kept_and_stopped_ones_are_pruned() {
    let state = tempfile::tempdir().expect("tempdir");
    let up = wirelab(state.path(), &["raft", "up", "--detach"]);
    assert!(up.status.success(), "{up:?}");
    let runs = listed(state.path());
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0]["lab"], "raft");
    assert_eq!(runs[0]["live"], true);
    assert!(runs[0]["bytes"].as_u64().unwrap_or(0) > 0);
    let name = runs[0]["name"].as_str().expect("name").to_string();

    // Up: neither `rm` nor `prune` touch it.
    let rm = wirelab(state.path(), &["runs", "rm", &name]);
    assert!(!rm.status.success());
    assert!(
        String::from_utf8_lossy(&rm.stdout).contains("is up"),
        "{rm:?}"
    );
    let prune = wirelab(state.path(), &["runs", "prune", "--keep", "0"]);
    assert!(prune.status.success(), "{prune:?}");
    assert_eq!(listed(state.path()).len(), 1);

    let stop = wirelab(state.path(), &["raft", "stop"]);
    assert!(stop.status.success(), "{stop:?}");
    let dry = wirelab(state.path(), &["runs", "prune", "--keep", "0", "--dry-run"]);
    assert!(String::from_utf8_lossy(&dry.stdout).contains(&format!("would remove {name}")));
    assert_eq!(listed(state.path()).len(), 1, "a dry run removes nothing");
    let prune = wirelab(state.path(), &["runs", "prune", "--keep", "0"]);
    assert!(
        String::from_utf8_lossy(&prune.stdout).contains(&format!("removed {name}")),
        "{prune:?}"
    );
    assert!(listed(state.path()).is_empty());
    let rm = wirelab(state.path(), &["runs", "rm", "nope"]);
    assert!(!rm.status.success());
}
