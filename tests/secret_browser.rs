//! The page in a real browser: headless Chromium driven by Selenium (`tests/secret_browser.py`)
//! against a running secret lab. Created in the page and opened in the CLI, created in the CLI
//! and revealed in the page, "already opened" on a second reveal, an error for a tampered
//! ciphertext, and the #fragment in no request and not in the access log. Skipped with a note
//! without chromium, chromedriver or selenium, unless `WIRELAB_REQUIRE_EXTERNAL=1`.
//!
//! With `WIRELAB_SCREENSHOTS=DIR` it also saves the page at desktop and phone widths there
//! (the README's pictures come from `WIRELAB_SCREENSHOTS=assets`).

mod secret_support;

use std::process::Command;

use secret_support::{Lab, on_path, require};

#[test]
fn page_round_trips_with_the_cli_and_never_sends_the_fragment() {
    let selenium = Command::new("python3")
        .args(["-c", "import selenium"])
        .status()
        .is_ok_and(|s| s.success());
    if !require("chromium", on_path("chromium"))
        || !require("chromedriver", on_path("chromedriver"))
        || !require("python3 with selenium", selenium)
    {
        return;
    }
    let lab = Lab::up(&[]);
    let addr = lab.server();
    let v: serde_json::Value = serde_json::from_str(&secret_support::ok(
        lab.path(),
        &["secret", "status", "--json"],
        None,
    ))
    .unwrap();
    let run_dir = v["run_dir"]
        .as_str()
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            // Fall back to the newest run under the state dir.
            let runs = lab.path().join("wirelab/runs");
            std::fs::read_dir(&runs)
                .unwrap()
                .flatten()
                .map(|e| e.path())
                .max()
                .unwrap()
        });
    let access_log = run_dir.join("node-1/access.log");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/secret_browser.py");
    let mut cmd = Command::new("python3");
    cmd.arg(script)
        .arg(format!("http://{addr}"))
        .arg(secret_support::wirelab())
        .arg(lab.path())
        .arg(&access_log);
    if let Ok(dir) = std::env::var("WIRELAB_SCREENSHOTS") {
        cmd.arg(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(dir));
    }
    let o = cmd.output().unwrap();
    assert!(
        o.status.success(),
        "browser test failed:\n{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}
