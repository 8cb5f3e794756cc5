//! The KDC triad lab on real processes: its scenario scripts, tickets checked by Ed25519
//! verifiers that are not ours (ed25519-dalek `verify_strict`, Python's `cryptography`), and
//! bad input on the authorities' and the service's sockets (a clear refusal, never a panic).

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};

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

/// A detached lab, stopped on drop.
struct Lab {
    state: tempfile::TempDir,
}

impl Lab {
    fn up() -> Lab {
        let state = tempfile::tempdir().unwrap();
        ok(state.path(), &["kdc", "up", "--detach"]);
        Lab { state }
    }

    fn path(&self) -> &Path {
        self.state.path()
    }

    fn addr(&self, id: u64) -> SocketAddr {
        let v: Value =
            serde_json::from_str(&ok(self.path(), &["kdc", "status", "--json"])).unwrap();
        let n = v["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["id"] == id)
            .unwrap()
            .clone();
        n["addr"].as_str().unwrap().parse().unwrap()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = wirelab(self.state.path(), &["kdc", "stop"]);
    }
}

#[test]
fn every_kdc_scenario_script_passes() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("labs/kdc");
    let mut scripts: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "sh"))
        .collect();
    scripts.sort();
    assert!(scripts.len() >= 4, "{scripts:?}");
    let embedded = wirelab::lab::scenario::of("kdc");
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

fn python_cryptography_available() -> bool {
    let ok = Command::new("python3")
        .args([
            "-c",
            "import cryptography.hazmat.primitives.asymmetric.ed25519",
        ])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        if std::env::var("WIRELAB_REQUIRE_EXTERNAL").as_deref() == Ok("1") {
            panic!("python3 cannot import `cryptography` and WIRELAB_REQUIRE_EXTERNAL=1");
        }
        eprintln!("note: skipping the Python check: python3 cannot import `cryptography`");
    }
    ok
}

#[test]
fn issued_tickets_verify_under_the_group_key_with_ed25519_dalek_and_python() {
    let lab = Lab::up();
    let pubkey = ok(lab.path(), &["kdc", "pubkey"]).trim().to_string();
    assert_eq!(pubkey.len(), 64, "{pubkey}");
    let out = ok(lab.path(), &["kdc", "ticket", "alice", "files", "--json"]);
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["group_public_key"], pubkey.as_str());
    assert_eq!(v["signers"].as_array().unwrap().len(), 2, "{v}");
    let signed = base64::engine::general_purpose::STANDARD
        .decode(v["signed"].as_str().unwrap())
        .unwrap();
    let sig_hex = v["signature"].as_str().unwrap();
    assert_eq!(sig_hex.len(), 128);
    let unhex = |s: &str| -> Vec<u8> {
        (0..s.len() / 2)
            .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
            .collect()
    };
    let pk = ed25519_dalek::VerifyingKey::from_bytes(&unhex(&pubkey).try_into().unwrap()).unwrap();
    let sig = ed25519_dalek::Signature::from_bytes(&unhex(sig_hex).try_into().unwrap());
    pk.verify_strict(&signed, &sig)
        .expect("ed25519-dalek accepts the ticket");
    let mut tampered = signed.clone();
    tampered[10] ^= 1;
    assert!(pk.verify_strict(&tampered, &sig).is_err());
    // A ticket signed while one authority is down verifies the same way.
    ok(lab.path(), &["kdc", "kill", "1"]);
    let v2: Value =
        serde_json::from_str(ok(lab.path(), &["kdc", "ticket", "bob", "files", "--json"]).trim())
            .unwrap();
    assert_eq!(v2["signers"], json!([2, 3]));
    if python_cryptography_available() {
        for t in [&v, &v2] {
            let script = "import sys,base64\n\
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey\n\
k=Ed25519PublicKey.from_public_bytes(bytes.fromhex(sys.argv[1]))\n\
k.verify(bytes.fromhex(sys.argv[3]), base64.b64decode(sys.argv[2]))\n\
print('ok')\n";
            let o = Command::new("python3")
                .args([
                    "-c",
                    script,
                    &pubkey,
                    t["signed"].as_str().unwrap(),
                    t["signature"].as_str().unwrap(),
                ])
                .output()
                .unwrap();
            assert!(
                o.status.success(),
                "python rejected the ticket: {}",
                String::from_utf8_lossy(&o.stderr)
            );
        }
    }
}

/// One raw frame exchange; `None` when the peer closed the connection.
fn raw(addr: SocketAddr, frame: &[u8]) -> Option<Value> {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(frame).unwrap();
    let mut len = [0u8; 4];
    s.read_exact(&mut len).ok()?;
    let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
    s.read_exact(&mut body).ok()?;
    serde_json::from_slice(&body).ok()
}

fn framed(v: &Value) -> Vec<u8> {
    let b = serde_json::to_vec(v).unwrap();
    let mut f = (b.len() as u32).to_be_bytes().to_vec();
    f.extend_from_slice(&b);
    f
}

fn refusal(v: &Option<Value>) -> String {
    let v = v.as_ref().expect("an answer");
    assert_eq!(v["op"], "refused", "{v}");
    v["reason"].as_str().unwrap().to_string()
}

#[test]
fn bad_frames_packages_and_tickets_are_refused_with_a_reason_and_nothing_panics() {
    use wirelab::kdc::frost::SigningCommitments;
    let lab = Lab::up();
    let a1 = lab.addr(1);
    let svc = lab.addr(4);
    // Oversized frame: the connection is closed, nothing allocated.
    assert!(raw(a1, &u32::MAX.to_be_bytes()).is_none());
    // Not JSON, unknown op.
    assert!(refusal(&raw(a1, &[0, 0, 0, 3, b'x', b'y', b'z'])).contains("malformed request"));
    assert!(refusal(&raw(a1, &framed(&json!({"op": "explode"})))).contains("malformed request"));
    let as_req = json!({"exchange": "as", "preauth": "00".repeat(64)});
    let sign = |package: String| json!({"op": "sign", "session": 1, "package": package, "request": as_req});
    // Not hex, truncated, an invalid point.
    assert!(refusal(&raw(a1, &framed(&sign("zz".into())))).contains("not hex"));
    assert!(refusal(&raw(a1, &framed(&sign("0001".into())))).contains("malformed signing package"));
    let commit = raw(a1, &framed(&json!({"op": "commit"}))).unwrap();
    let c_hex = commit["commitments"].as_str().unwrap().to_string();
    let mut bad_point = c_hex.clone();
    bad_point.replace_range(64..128, &"ff".repeat(32));
    let pkg = |entries: &[&str]| format!("{:04x}{}{:08x}", entries.len(), entries.concat(), 0);
    assert!(
        refusal(&raw(a1, &framed(&sign(pkg(&[&bad_point]))))).contains("malformed signing package")
    );
    // Duplicate commitments.
    let dup = refusal(&raw(a1, &framed(&sign(pkg(&[&c_hex, &c_hex])))));
    assert!(dup.contains("malformed signing package"), "{dup}");
    // An unknown signer (identifier 9) next to ours.
    let mut unknown = c_hex.clone();
    unknown.replace_range(0..64, &format!("09{}", "00".repeat(31)));
    let b: Vec<u8> = (0..unknown.len() / 2)
        .map(|i| u8::from_str_radix(&unknown[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    SigningCommitments::from_bytes(&b).expect("a well-formed commitment for signer 9");
    let session = commit["session"].as_u64().unwrap();
    let req = json!({"op": "sign", "session": session, "package": pkg(&[&c_hex, &unknown]), "request": as_req});
    assert!(refusal(&raw(a1, &framed(&req))).contains("unknown signer 9"));
    // A list without this authority's own commitment (authority 2's only).
    let a2 = lab.addr(2);
    let c2 = raw(a2, &framed(&json!({"op": "commit"}))).unwrap();
    let c2_hex = c2["commitments"].as_str().unwrap().to_string();
    let fresh = raw(a1, &framed(&json!({"op": "commit"}))).unwrap();
    let req = json!({"op": "sign", "session": fresh["session"], "package": pkg(&[&c2_hex]), "request": as_req});
    let lacks = refusal(&raw(a1, &framed(&req)));
    assert!(lacks.contains("own commitment"), "{lacks}");
    // Lab actions and peer messages need the run's lab token.
    let leak = refusal(&raw(
        a1,
        &framed(&json!({"op": "leak", "token": "0".repeat(64)})),
    ));
    assert!(leak.contains("wrong lab token"), "{leak}");
    let peer =
        json!({"op": "peer", "from": 2, "token": "x", "msg": {"kind": "dkg2", "share": "00"}});
    assert!(refusal(&raw(a1, &framed(&peer))).contains("wrong lab token"));
    // The service: garbage ticket, bad signature.
    let ap = |ticket: &str, sig: &str| {
        framed(&json!({"ticket": ticket, "signature": sig, "authenticator": "00"}))
    };
    let r = raw(svc, &ap("0011", &"00".repeat(64))).unwrap();
    assert_eq!(r["op"], "refused");
    assert!(
        r["reason"].as_str().unwrap().contains("malformed ticket"),
        "{r}"
    );
    assert!(raw(svc, &u32::MAX.to_be_bytes()).is_none());
    // Everyone is still up and issuing.
    let out = ok(lab.path(), &["kdc", "access", "alice", "files"]);
    assert!(out.contains("you are alice"), "{out}");
    let status = ok(lab.path(), &["kdc", "status"]);
    assert!(!status.contains("exited"), "{status}");
}

fn node(v: &Value, id: u64) -> Value {
    v["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["id"] == id)
        .unwrap()
        .clone()
}

/// Waits (up to 10 s) until `check` passes on `status --json`; node events reach the
/// supervisor asynchronously.
fn wait_status(lab: &Lab, check: impl Fn(&Value) -> Result<(), String>) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let v: Value = serde_json::from_str(&ok(lab.path(), &["kdc", "status", "--json"])).unwrap();
        match check(&v) {
            Ok(()) => return,
            Err(e) if std::time::Instant::now() > deadline => panic!("{e}: {v}"),
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

fn expect(cond: bool, what: &str) -> Result<(), String> {
    if cond { Ok(()) } else { Err(what.to_string()) }
}

#[test]
fn node_state_reports_epochs_compromise_culprits_and_rejections_by_reason() {
    let lab = Lab::up();
    ok(lab.path(), &["kdc", "compromise", "1"]);
    let out = ok(lab.path(), &["kdc", "access", "alice", "files"]);
    assert!(out.contains("authority 1's share rejected"), "{out}");
    let (code, _, _) = wirelab(lab.path(), &["kdc", "replay"]);
    assert_eq!(code, 1, "the replay must be refused");
    wait_status(&lab, |v| {
        let (a1, a2, svc) = (node(v, 1), node(v, 2), node(v, 4));
        expect(
            a1["compromised"] == true && a1["epoch"] == 0,
            "authority 1 compromised",
        )?;
        expect(
            a2["last_culprit"]["culprit"] == 1,
            "authority 2 heard of the culprit",
        )?;
        expect(
            a2["signed"].as_u64().unwrap_or(0) >= 1,
            "authority 2 signed",
        )?;
        expect(
            svc["accepted"].as_u64().unwrap_or(0) >= 2,
            "service accepted",
        )?;
        expect(
            svc["rejected"]["replayed authenticator"] == 1,
            "replay counted",
        )
    });
    ok(lab.path(), &["kdc", "refresh"]);
    wait_status(&lab, |v| {
        for id in 1..=3 {
            let a = node(v, id);
            expect(a["epoch"] == 1 && a["compromised"] == false, "refreshed")?;
        }
        Ok(())
    });
}

/// `kdc bench` drives the pooled path: preprocessed commitments fetched in batches, decoded as
/// they are used and refilled after a share; with authority 2 SIGKILLed halfway the two others
/// carry on and no request fails (none is in flight at a kill that the client cannot retry).
#[test]
fn the_bench_refills_preprocessed_commitments_and_survives_a_killed_authority() {
    let lab = Lab::up();
    let out = ok(
        lab.path(),
        &[
            "kdc",
            "bench",
            "--json",
            "--clients",
            "2",
            "--duration",
            "3s",
            "--kill",
            "2",
        ],
    );
    let v: Value = serde_json::from_str(&out).unwrap();
    let t = &v["threshold_2_of_3"];
    assert_eq!(t["failed"], 0, "{v}");
    // More tickets than two batches per client: the pools were refilled.
    let tickets = t["tickets"].as_u64().unwrap();
    assert!(tickets > 2 * 2 * 32, "{tickets} tickets: {v}");
    // (The single-key phase after it meets the dead authority once per client, by design: it
    // learns who is down from a refused connection.)
    let status: Value =
        serde_json::from_str(&ok(lab.path(), &["kdc", "status", "--json"])).unwrap();
    let signed = |id| node(&status, id)["signed"].as_u64().unwrap_or(0);
    assert!(
        signed(1) > 0 && signed(3) > 0,
        "1 and 3 carried on after the kill: {status}"
    );
    assert_eq!(node(&status, 2)["state"], "killed", "{status}");
}
