//! `Supervisor::replace`, the graceful reload of any lab's node, with a scripted node: the new
//! incarnation starts beside the old one, the old one is told to shut down only once the new
//! one is ready, and a new incarnation that fails leaves the old one serving.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use wirelab::cluster::{NodeSpec, NodeStatus, Supervisor};

use common::cluster::{alive, wait_for};

/// A node that reports ready and exits on `shutdown`; its `fail_next` file makes the next
/// incarnation die before it is ready. It notes the pid of each incarnation that saw
/// `shutdown` in `drained`.
fn scripted_node(dir: &Path) -> PathBuf {
    let exe = dir.join("node.sh");
    std::fs::write(
        &exe,
        r#"#!/bin/sh
# argv: node ROLE --id N --data-dir DIR
data=$6
if [ -e "$data/fail_next" ]; then
    rm -f "$data/fail_next"
    echo '{"event":"fatal","msg":"scripted failure"}'
    exit 1
fi
echo '{"event":"ready","addr":"127.0.0.1:1"}'
while read -r line; do
    case $line in
        *shutdown*) echo $$ >> "$data/drained"; exit 0 ;;
    esac
done
"#,
    )
    .unwrap();
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
    exe
}

fn launch(dir: &Path) -> Supervisor {
    let spec = NodeSpec {
        id: 1,
        role: "scripted".into(),
        addr: "127.0.0.1:1".into(),
        args: Vec::new(),
    };
    let sup = Supervisor::launch_with_exe("test", &dir.join("run"), vec![spec], scripted_node(dir))
        .unwrap();
    sup.wait_ready(Duration::from_secs(10)).unwrap();
    sup
}

#[test]
fn replace_starts_the_new_incarnation_then_drains_the_old_one() {
    let dir = tempfile::tempdir().unwrap();
    let sup = launch(dir.path());
    let old = sup.node(1).unwrap();
    let old_pid = old.pid.unwrap();
    sup.replace(1, Duration::from_secs(10), Duration::from_secs(10))
        .unwrap();
    let new = sup.node(1).unwrap();
    assert_eq!(
        (new.status, new.ready, new.incarnation),
        (NodeStatus::Running, true, old.incarnation + 1)
    );
    assert_ne!(new.pid, Some(old_pid));
    // The old one exited because it was told to shut down (not killed).
    let drained = std::fs::read_to_string(old.data_dir.join("drained")).unwrap();
    assert_eq!(drained.trim(), old_pid.to_string());
    wait_for(Duration::from_secs(5), "the old pid to be gone", || {
        !alive(old_pid)
    });
    let new_pid = new.pid.unwrap();
    sup.shutdown(Duration::from_secs(5));
    wait_for(Duration::from_secs(5), "the new pid to be gone", || {
        !alive(new_pid)
    });
}

#[test]
fn replace_keeps_the_old_incarnation_when_the_new_one_fails() {
    let dir = tempfile::tempdir().unwrap();
    let sup = launch(dir.path());
    let old = sup.node(1).unwrap();
    std::fs::write(old.data_dir.join("fail_next"), "").unwrap();
    let err = sup
        .replace(1, Duration::from_secs(10), Duration::from_secs(10))
        .unwrap_err();
    assert!(err.to_string().contains("old one keeps serving"), "{err}");
    let now = sup.node(1).unwrap();
    assert_eq!(
        (now.pid, now.status, now.ready),
        (old.pid, NodeStatus::Running, true)
    );
    assert!(alive(old.pid.unwrap()));
    // The restored incarnation is still under control: it drains on request.
    sup.shutdown(Duration::from_secs(5));
    assert!(old.data_dir.join("drained").exists());
}
