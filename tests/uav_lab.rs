//! The drone-fleet lab on real processes: its scenario scripts (attacks refused, revocation
//! and rekey, mission control killed and restarted, partitions, a drone killed and
//! restarted), the MAVLink face read by pymavlink, durable key files, and bad input on mission
//! control's socket.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

fn wirelab(state: &Path, args: &[&str]) -> (i32, String, String) {
    let o = Command::new(common::wirelab())
        .args(args)
        .env("XDG_STATE_HOME", state)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
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

/// A detached fleet, stopped on drop.
struct Fleet {
    state: tempfile::TempDir,
}

impl Fleet {
    fn up(drones: &str) -> Fleet {
        let state = tempfile::tempdir().unwrap();
        ok(state.path(), &["uav", "up", "--detach", "--drones", drones]);
        Fleet { state }
    }

    fn path(&self) -> &Path {
        self.state.path()
    }

    fn status(&self) -> Value {
        serde_json::from_str(&ok(self.path(), &["uav", "status", "--json"])).unwrap()
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        let _ = wirelab(self.state.path(), &["uav", "stop"]);
    }
}

#[test]
fn every_uav_scenario_script_passes() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("labs/uav");
    let mut scripts: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "sh"))
        .collect();
    scripts.sort();
    assert!(scripts.len() >= 5, "{scripts:?}");
    let embedded = wirelab::lab::scenario::of("uav");
    for pair in scripts.chunks(2) {
        std::thread::scope(|scope| {
            for script in pair {
                let name = script.file_stem().unwrap().to_str().unwrap().to_string();
                assert!(
                    embedded.iter().any(|e| e.name == name),
                    "{name}.sh not embedded"
                );
                let text = std::fs::read_to_string(script).unwrap();
                assert!(text.starts_with("# "), "{name}.sh lacks its summary line");
                scope.spawn(move || {
                    let state = tempfile::tempdir().unwrap();
                    let (code, out, err) =
                        wirelab(state.path(), &["shell", script.to_str().unwrap()]);
                    assert_eq!(code, 0, "{} failed:\n{out}\n{err}", script.display());
                });
            }
        });
    }
}

fn pymavlink_available() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import pymavlink"])
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        return true;
    }
    if std::env::var("WIRELAB_REQUIRE_EXTERNAL").as_deref() == Ok("1") {
        panic!("pymavlink is required (WIRELAB_REQUIRE_EXTERNAL=1) but not importable");
    }
    eprintln!("skipping: pymavlink is not importable (pip install pymavlink)");
    false
}

#[test]
fn pymavlink_reads_every_drone_and_rejects_another_key() {
    if !pymavlink_available() {
        return;
    }
    let fleet = Fleet::up("3");
    ok(fleet.path(), &["uav", "wait", "linked", "--timeout", "90s"]);
    let m: Value = serde_json::from_str(&ok(fleet.path(), &["uav", "mavlink", "--json"])).unwrap();
    let udp = m["udp"].as_str().unwrap();
    let key = m["key"].as_str().unwrap();
    assert_eq!(key.len(), 64);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/uav_mavlink.py");
    let out = Command::new("python3")
        .arg(&script)
        .args([udp, key, "3"])
        .output()
        .expect("python3");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_str(text.trim()).unwrap();
    let pos = v["positions"].as_object().unwrap();
    for id in ["2", "3", "4"] {
        let p = &pos[id];
        // Near the fleet origin (47.397742, 8.545594), within a kilometre.
        assert!(
            (p[0].as_i64().unwrap() - 473_977_420).abs() < 100_000,
            "{v}"
        );
        assert!((p[1].as_i64().unwrap() - 85_455_940).abs() < 150_000, "{v}");
    }
    assert_eq!(v["wrong_key_received"], 0, "{v}");
    assert_eq!(v["accepted_with_other_key"], 0, "{v}");
    assert!(v["badsig"].as_u64().unwrap() > 0, "{v}");
    let st = fleet.status();
    let mc = &st["nodes"][0];
    assert!(
        mc["rejects"]["mavlink_bad_signature"].as_u64().unwrap_or(0) > 0,
        "{mc}"
    );
}

#[test]
fn keys_and_registry_are_0600_and_garbage_on_both_sockets_is_refused() {
    let fleet = Fleet::up("2");
    ok(fleet.path(), &["uav", "wait", "linked", "--timeout", "90s"]);
    let st = fleet.status();
    let run = Path::new(st["run_dir"].as_str().unwrap()).to_path_buf();
    for f in [
        "node-1/mc.key",
        "node-1/registry.json",
        "node-2/drone.key",
        "mavlink.key",
    ] {
        let mode = std::fs::metadata(run.join(f)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{f}");
    }
    let addr: SocketAddr = st["nodes"][0]["addr"].as_str().unwrap().parse().unwrap();
    // A huge length, a short frame, random bytes as a DroneHello: refused, no panic.
    for junk in [vec![0xff, 0xff, 0xff, 0xff], vec![0, 0, 0, 3, 2, 1, 0], {
        let mut v = vec![0, 0, 2, 0x4b, 2];
        v.extend(std::iter::repeat_n(0xab, 0x24a));
        v
    }] {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut hello = [0u8; 4 + 38];
        s.read_exact(&mut hello).unwrap();
        s.write_all(&junk).unwrap();
        let mut rest = Vec::new();
        let _ = s.read_to_end(&mut rest);
    }
    // Garbage and unsigned frames on the MAVLink port: counted, never streamed to, no panic.
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.set_read_timeout(Some(Duration::from_millis(1500)))
        .unwrap();
    let unsigned_heartbeat = [
        0xfd, 9, 0, 0, 0, 255, 190, 0, 0, 0, 0, 0, 0, 0, 6, 8, 0, 0, 3, 0, 0,
    ];
    for d in [
        &[0xfd, 0xff, 0xff][..],
        &[0u8; 600][..],
        &unsigned_heartbeat[..],
    ] {
        udp.send_to(d, addr).unwrap();
    }
    let mut buf = [0u8; 512];
    assert!(
        udp.recv_from(&mut buf).is_err(),
        "streamed to an unsigned station"
    );
    let st = fleet.status();
    assert_eq!(st["nodes"][0]["state"], "running", "{st}");
    let rejects = &st["nodes"][0]["rejects"];
    assert!(
        rejects["mavlink_malformed"].as_u64().unwrap_or(0) >= 1,
        "{rejects}"
    );
    ok(fleet.path(), &["uav", "wait", "linked", "--timeout", "30s"]);
}
