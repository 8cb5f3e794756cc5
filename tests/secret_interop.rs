//! The secret format against an implementation that is not ours: Python's `cryptography`
//! (PBKDF2-HMAC-SHA256 for a passphrase, HKDF-SHA256, AES-256-GCM) decrypts what `wirelab secret send` stored, and
//! `wirelab secret open` decrypts what Python stored, with and without a passphrase.
//! Skipped with a note when python3 cannot import `cryptography`, unless
//! `WIRELAB_REQUIRE_EXTERNAL=1`.

mod secret_support;

use std::process::Command;

use secret_support::{Lab, require};

fn python_ok() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import cryptography.hazmat.primitives.ciphers.aead"])
        .status()
        .is_ok_and(|s| s.success());
    require("python3 with `cryptography`", ok)
}

fn peer(args: &[&str]) -> (bool, String, String) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/secret_peer.py");
    let o = Command::new("python3")
        .arg(script)
        .args(args)
        .output()
        .unwrap();
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn python_cryptography_decrypts_what_the_cli_sends_and_the_cli_opens_what_python_sends() {
    if !python_ok() {
        return;
    }
    let lab = Lab::up(&[]);
    let url = lab.send("sent by wirelab, read by python ✓", &[]);
    let (ok, out, err) = peer(&["open", &url]);
    assert!(ok, "{err}");
    assert_eq!(out, "sent by wirelab, read by python ✓");

    let url = lab.send("with a passphrase", &["--passphrase", "pässwörd"]);
    let (ok, out, err) = peer(&["open", &url, "pässwörd"]);
    assert!(ok, "{err}");
    assert_eq!(out, "with a passphrase");

    let origin = url.split("/s/").next().unwrap().to_string();
    let (ok, link, err) = peer(&["send", &origin, "sent by python, read by wirelab"]);
    assert!(ok, "{err}");
    let (code, text, err) = lab.cli(&["secret", "open", link.trim()]);
    assert_eq!(
        (code, text.trim()),
        (0, "sent by python, read by wirelab"),
        "{err}"
    );

    let (ok, link, err) = peer(&["send", &origin, "python + passphrase", "hunter2"]);
    assert!(ok, "{err}");
    let (code, text, err) = lab.cli(&["secret", "open", link.trim(), "--passphrase", "hunter2"]);
    assert_eq!((code, text.trim()), (0, "python + passphrase"), "{err}");
}
