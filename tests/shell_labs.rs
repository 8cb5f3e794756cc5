//! The lab builtins inside the wirelab shell: scenario scripts, pipelines, redirections.

mod common;

use std::path::Path;
use std::process::Command;

fn shell(state: &Path, args: &[&str]) -> (i32, String, String) {
    let o = Command::new(common::wirelab())
        .arg("shell")
        .args(args)
        .env("XDG_STATE_HOME", state)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run wirelab shell");
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// The scenario scripts of `labs/LAB/` (at least 4), sorted; each is also embedded in the
/// binary.
fn lab_scripts(lab: &str) -> Vec<std::path::PathBuf> {
    let embedded = wirelab::lab::scenario::of(lab);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("labs").join(lab);
    let mut scripts: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "sh"))
        .collect();
    scripts.sort();
    assert!(scripts.len() >= 4, "{scripts:?}");
    for s in &scripts {
        let name = s.file_stem().unwrap().to_str().unwrap();
        assert!(
            embedded.iter().any(|e| e.name == name),
            "{name}.sh is not embedded in the {lab} lab's scenarios"
        );
    }
    scripts
}

#[test]
fn every_raft_scenario_script_passes() {
    let scripts = lab_scripts("raft");
    std::thread::scope(|scope| {
        for script in &scripts {
            scope.spawn(move || {
                let state = tempfile::tempdir().unwrap();
                let (code, out, err) = shell(state.path(), &[script.to_str().unwrap()]);
                assert_eq!(code, 0, "{} failed:\n{out}\n{err}", script.display());
            });
        }
    });
}

#[test]
fn every_p2p_scenario_script_passes_on_a_small_file() {
    let scripts = lab_scripts("p2p");
    for s in &scripts {
        let name = s.file_stem().unwrap().to_str().unwrap();
        let text = std::fs::read_to_string(s).unwrap();
        assert!(
            !text.contains("sleep") && !text.contains("wirelab p2p"),
            "{name}.sh should use the shell's builtins and wait-for conditions"
        );
    }
    // Two at a time: each lab is 7 processes on a shared 2-core machine.
    for pair in scripts.chunks(2) {
        std::thread::scope(|scope| {
            for script in pair {
                scope.spawn(move || {
                    let state = tempfile::tempdir().unwrap();
                    let (code, out, err) =
                        shell(state.path(), &[script.to_str().unwrap(), "16MiB"]);
                    assert_eq!(code, 0, "{} failed:\n{out}\n{err}", script.display());
                    assert!(!out.contains("p2p wait:"), "{out}");
                });
            }
        });
    }
}

#[test]
fn scenario_builtin_lists_and_runs_both_labs_scripts() {
    let state = tempfile::tempdir().unwrap();
    let (code, out, err) = shell(state.path(), &["-c", "scenario"]);
    assert_eq!(code, 0, "{err}");
    for name in [
        "raft/failover",
        "raft/partition",
        "p2p/tracker-failover",
        "p2p/tracker-partition",
        "p2p/leecher-restart",
        "p2p/corrupt-seeder",
    ] {
        assert!(out.contains(name), "{name} missing from:\n{out}");
    }
    let (code, out, _) = shell(state.path(), &["-c", "scenario show p2p/tracker-failover"]);
    assert_eq!(code, 0);
    assert!(out.contains("p2p kill 1"), "{out}");
    let (code, out, err) = shell(
        state.path(),
        &["-c", "scenario run p2p/tracker-failover 8MiB"],
    );
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("use tracker 2"), "{out}");
    let (code, _, err) = shell(state.path(), &["-c", "scenario run p2p/nope"]);
    assert_eq!(code, 2);
    assert!(err.contains("p2p/corrupt-seeder"), "{err}");
}

#[test]
fn a_hosted_p2p_lab_shows_in_labs_and_its_nodes_logs_are_readable() {
    let state = tempfile::tempdir().unwrap();
    let script = r#"
        set -e
        p2p up --size 8MiB > /dev/null
        labs | grep p2p | grep -c "this shell"
        p2p wait complete > /dev/null
        logs p2p-4 | grep -c "complete and verified"
        logs -n 1 p2p-1 | grep -c .
        p2p kill 1 > /dev/null
        p2p status | grep -c killed
        p2p stop
        labs
    "#;
    let (code, out, err) = shell(state.path(), &["-c", script]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            "1",
            "1",
            "1",
            "1",
            "p2p lab stopped",
            format!(
                "no lab is running (start one with `LAB up`; the labs: {})",
                wirelab::registry::names()
            )
            .as_str()
        ],
        "{err}"
    );
}

#[test]
fn lab_builtins_work_in_pipelines_and_redirections() {
    let state = tempfile::tempdir().unwrap();
    let script = r#"
        set -e
        raft up > /dev/null
        raft put k v
        raft get k > got.txt
        read value < got.txt
        rm got.txt
        echo "value=$value"
        leader=$(raft leader)
        logs raft-$leader | grep -c "elected leader"
        raft status | grep -c running
        raft get missing || echo "missing: status $?"
        labs | grep -c "this shell"
        raft stop
    "#;
    let (code, out, err) = shell(state.path(), &["-c", script]);
    assert_eq!(code, 0, "{out}\n{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines,
        [
            "value=v",
            "1",
            "3",
            "missing: status 1",
            "1",
            "raft cluster stopped"
        ],
        "{err}"
    );
}

#[test]
fn raft_builtin_reports_usage_errors_like_a_command() {
    let state = tempfile::tempdir().unwrap();
    let (code, _, err) = shell(state.path(), &["-c", "raft frobnicate"]);
    assert_eq!(code, 2);
    assert!(err.contains("frobnicate"), "{err}");
    let (code, out, _) = shell(state.path(), &["-c", "raft --help | head -1"]);
    assert_eq!(code, 0);
    assert!(out.contains("Raft"), "{out}");
}

#[test]
fn logs_follow_ends_when_the_reader_is_done() {
    let state = tempfile::tempdir().unwrap();
    // First an existing line (nothing new is written after grep exits: the closed pipe alone
    // must end `logs -f`), then a line the node writes only after a restart.
    let script = r#"
        raft up > /dev/null
        logs -f raft-1 | grep -m1 -c "ready on"
        echo "first: $?"
        (sleep 1; raft restart 3 > /dev/null) &
        logs -n 0 -f raft-3 | grep -m1 -o "ready on"
        echo "second: $?"
        wait
        raft stop > /dev/null
    "#;
    let child = Command::new(common::wirelab())
        .args(["shell", "-c", script])
        .env("XDG_STATE_HOME", state.path())
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let out = common::wait_with_deadline(child, std::time::Duration::from_secs(60));
    assert_eq!(out.status, 0, "{out:?}");
    assert_eq!(out.stdout, "1\nfirst: 0\nready on\nsecond: 0\n", "{out:?}");
}

#[test]
fn help_lists_every_lab_with_its_verbs_and_the_builtins() {
    let state = tempfile::tempdir().unwrap();
    let (code, out, _) = shell(state.path(), &["-c", "help"]);
    assert_eq!(code, 0);
    for lab in wirelab::registry::labs() {
        assert!(out.contains(lab.name()), "{} missing: {out}", lab.name());
        for verb in wirelab::lab::help::verbs(*lab) {
            assert!(out.contains(&verb), "{} {verb} missing: {out}", lab.name());
        }
    }
    for word in ["scenario", "logs", "cd", "jobs", "fg", "trap", "repair"] {
        assert!(out.contains(word), "{word} missing: {out}");
    }
    let (code, out, _) = shell(state.path(), &["-c", "help raft"]);
    assert_eq!(code, 0);
    assert!(out.contains("repair") && out.contains("Usage"), "{out}");
    let (code, out, _) = shell(state.path(), &["-c", "help cd; help nope"]);
    assert_eq!(code, 1);
    assert!(out.contains("cd: a shell builtin") && out.contains("no lab or builtin named nope"));
}

#[test]
fn hints_in_the_shell_name_the_shells_own_commands() {
    let state = tempfile::tempdir().unwrap();
    let (code, _, err) = shell(state.path(), &["-c", "raft status"]);
    assert_ne!(code, 0);
    assert!(
        err.contains("`raft up`") && !err.contains("wirelab raft up"),
        "{err}"
    );
}
