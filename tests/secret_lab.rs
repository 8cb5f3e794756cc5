//! The secret lab on real processes: the CLI's send and open, a SIGKILL of the courier between
//! create and claim (the secret is there exactly once after the restart), 100 concurrent
//! claimers (exactly one wins), a tampered ciphertext (an authentication failure), the link
//! scanner (the secret survives), snoop (no key on the server's side), and the scenario
//! scripts.

mod secret_support;

use std::path::Path;

use secret_support::{Lab, ok, run};

#[test]
fn cli_send_then_open_prints_the_secret_once() {
    let lab = Lab::up(&[]);
    let url = lab.send("correct horse battery staple\n", &[]);
    assert!(url.starts_with("http://127.0.0.1:") && url.contains("/s/") && url.contains('#'));
    let (code, out, err) = lab.cli(&["secret", "open", &url]);
    assert_eq!(
        (code, out.as_str()),
        (0, "correct horse battery staple\n"),
        "{err}"
    );
    let (code, _, err) = lab.cli(&["secret", "open", &url]);
    assert_eq!(code, 1);
    assert!(err.contains("already opened"), "{err}");
    // A link without its key is refused before anything is claimed.
    let (code, _, err) = lab.cli(&["secret", "open", url.split('#').next().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("not a secret link"), "{err}");
}

#[test]
fn passphrase_is_needed_and_a_wrong_one_fails_authentication() {
    let lab = Lab::up(&[]);
    let url = lab.send(
        "behind a passphrase",
        &["--passphrase", "tr0ub4dor", "--views", "2"],
    );
    let (code, _, err) = lab.cli(&["secret", "open", &url]);
    assert_eq!(code, 1);
    assert!(err.contains("needs a passphrase"), "{err}");
    let (code, _, err) = lab.cli(&["secret", "open", &url, "--passphrase", "wrong"]);
    assert_eq!(code, 1);
    assert!(err.contains("authentication failed"), "{err}");
    let (code, out, _) = lab.cli(&["secret", "open", &url, "--passphrase", "tr0ub4dor"]);
    assert_eq!((code, out.trim()), (0, "behind a passphrase"));
}

#[test]
fn secret_survives_a_courier_sigkill_between_create_and_claim_exactly_once() {
    let lab = Lab::up(&[]);
    let urls: Vec<String> = (0..5)
        .map(|i| lab.send(&format!("crash {i}"), &[]))
        .collect();
    ok(lab.path(), &["secret", "kill", "1"], None);
    let (code, _, _) = lab.cli(&["secret", "open", &urls[0]]);
    assert_ne!(code, 0, "nothing answers while the courier is down");
    ok(lab.path(), &["secret", "restart", "1"], None);
    for (i, url) in urls.iter().enumerate() {
        let (code, out, err) = lab.cli(&["secret", "open", url]);
        assert_eq!(
            (code, out.trim()),
            (0, format!("crash {i}").as_str()),
            "{err}"
        );
    }
    // Claimed, then killed again: never served a second time.
    ok(lab.path(), &["secret", "kill", "1"], None);
    ok(lab.path(), &["secret", "restart", "1"], None);
    for url in &urls {
        let (code, _, _) = lab.cli(&["secret", "open", url]);
        assert_eq!(code, 1);
    }
}

#[test]
fn hundred_concurrent_claimers_exactly_one_wins() {
    let lab = Lab::up(&[]);
    for _ in 0..3 {
        let url = lab.send("only one of you", &[]);
        let out = ok(
            lab.path(),
            &["secret", "race", &url, "--claimers", "100"],
            None,
        );
        assert!(
            out.contains("1 got the secret (200), 99 got 404, 0 other; burned by race losers: 0"),
            "{out}"
        );
        assert!(out.contains("decrypted with the link's key"), "{out}");
    }
}

#[test]
fn tampered_ciphertext_is_an_authentication_failure_not_garbage() {
    let lab = Lab::up(&[]);
    let url = lab.send("do not alter", &[]);
    let out = ok(lab.path(), &["secret", "tamper", &url, "--byte", "3"], None);
    assert!(out.contains("flipped a bit"), "{out}");
    let (code, out, err) = lab.cli(&["secret", "open", &url]);
    assert_eq!(code, 1);
    assert!(out.is_empty(), "no plaintext printed: {out}");
    assert!(err.contains("authentication failed"), "{err}");
}

#[test]
fn link_scanner_preview_does_not_burn_the_secret() {
    let lab = Lab::up(&[]);
    let url = lab.send("preview-proof", &[]);
    let out = ok(lab.path(), &["secret", "scan", &url], None);
    assert!(
        out.contains("GET /s/") && out.contains("survived the preview"),
        "{out}"
    );
    assert!(out.contains("ciphertext: no"), "{out}");
    let (code, text, _) = lab.cli(&["secret", "open", &url]);
    assert_eq!((code, text.trim()), (0, "preview-proof"));
}

#[test]
fn snoop_shows_ciphertext_only_and_finds_no_key_server_side() {
    let lab = Lab::up(&[]);
    let url = lab.send("courier, not reader", &[]);
    // The reader's page has been fetched too: the access log has its line.
    let out = ok(lab.path(), &["secret", "snoop", &url], None);
    assert!(
        out.contains("client's view (key from the #fragment): \"courier, not reader\""),
        "{out}"
    );
    assert!(
        out.contains("key nowhere, token nowhere, plaintext nowhere"),
        "{out}"
    );
    let v: serde_json::Value =
        serde_json::from_str(&ok(lab.path(), &["secret", "snoop", &url, "--json"], None)).unwrap();
    assert_eq!(v["secret"]["key_found"], false);
    assert!(v["secret"]["searched_bytes"].as_u64().unwrap() > 100);
    // Snooping consumed nothing.
    let (code, _, _) = lab.cli(&["secret", "open", &url]);
    assert_eq!(code, 0);
}

#[test]
fn every_secret_scenario_script_passes() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("labs/secret");
    let mut scripts: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "sh"))
        .collect();
    scripts.sort();
    assert!(scripts.len() >= 4, "{scripts:?}");
    let embedded = wirelab::lab::scenario::of("secret");
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
                        run(state.path(), &["shell", script.to_str().unwrap()], None);
                    assert_eq!(code, 0, "{} failed:\n{out}\n{err}", script.display());
                });
            }
        });
    }
}
