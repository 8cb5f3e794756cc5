//! `wirelab forge serve` as a real process: answers, shuts down gracefully on SIGTERM, and
//! works with third-party clients (curl; Python `websockets`). Tests needing an external
//! program skip with a printed reason when it is missing, and fail instead when
//! `WIRELAB_REQUIRE_EXTERNAL=1`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `wirelab forge serve`, killed on drop if still alive.
struct Served {
    child: Child,
    addr: String,
    token: String,
}

impl Served {
    fn start(extra: &[&str]) -> Served {
        let mut child = Command::new(env!("CARGO_BIN_EXE_wirelab"))
            .args(["forge", "serve", "--addr", "127.0.0.1:0", "--quiet"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn wirelab");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let first = lines.next().expect("no output").expect("read");
        let addr = first.rsplit("://").next().expect("address").to_owned();
        let second = lines.next().expect("no token line").expect("read");
        let token = second.rsplit(' ').next().expect("token").to_owned();
        Served { child, addr, token }
    }

    fn get(&self, path: &str, extra: &str) -> String {
        let mut s = TcpStream::connect(&self.addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10))).ok();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n{extra}\r\n"
        )
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).expect("read");
        out
    }

    fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("SIGTERM");
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "server did not exit after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Whether `program` runs; panics under WIRELAB_REQUIRE_EXTERNAL=1 when it does not.
fn external(program: &str, probe: &[&str]) -> bool {
    let ok = Command::new(program)
        .args(probe)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        let msg = format!("{program} {} is not available", probe.join(" "));
        assert!(
            std::env::var("WIRELAB_REQUIRE_EXTERNAL").as_deref() != Ok("1"),
            "{msg} (required by WIRELAB_REQUIRE_EXTERNAL=1; see .ci/packages.txt)"
        );
        eprintln!("skipping: {msg}");
    }
    ok
}

#[test]
fn serve_answers_guards_the_secret_and_stops_on_sigterm() {
    let mut srv = Served::start(&[]);
    let hello = srv.get("/", "");
    assert!(
        hello.starts_with("HTTP/1.1 200 OK\r\n") && hello.ends_with("\r\n\r\nhello"),
        "{hello}"
    );
    assert!(srv.get("/secret", "").starts_with("HTTP/1.1 401"));
    let auth = format!("Authorization: Bearer {}\r\n", srv.token);
    assert!(srv.get("/secret", &auth).starts_with("HTTP/1.1 200"));
    assert!(srv.get("/healthz", "").ends_with("ok\n"));
    assert!(srv.terminate().success());
    assert!(TcpStream::connect(&srv.addr).is_err());
}

#[test]
fn curl_gets_tls_ranges_and_compression() {
    if !external("curl", &["--version"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("f.txt"), "0123456789").unwrap();
    let root = dir.path().to_str().unwrap().to_owned();
    let mut srv = Served::start(&["--tls", "--root", &root]);
    let curl = |args: &[&str]| -> String {
        let out = Command::new("curl")
            .args(["-sS", "-k", "--http1.1", "--max-time", "10"])
            .args(args)
            .output()
            .expect("curl");
        assert!(
            out.status.success(),
            "curl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let base = format!("https://{}", srv.addr);
    assert_eq!(curl(&[&format!("{base}/")]), "hello");
    assert_eq!(curl(&["-r", "2-4", &format!("{base}/static/f.txt")]), "234");
    let headers = curl(&[
        "-D",
        "-",
        "-o",
        "/dev/null",
        "--compressed",
        &format!("{base}/metrics"),
    ]);
    assert!(
        headers.to_ascii_lowercase().contains("content-encoding:"),
        "{headers}"
    );
    let echoed = curl(&[
        "-X",
        "POST",
        "--data-binary",
        "ping",
        &format!("{base}/echo"),
    ]);
    assert_eq!(echoed, "ping");
    assert!(srv.terminate().success());
}

#[test]
fn python_websockets_client_passes_against_ws() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/forge_ws_client.py");
    let python = ["python3", "/usr/bin/python3"].into_iter().find(|p| {
        Command::new(p)
            .args(["-c", "import websockets"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    });
    let Some(python) = python else {
        external("python3", &["-c", "import websockets"]);
        return;
    };
    let mut srv = Served::start(&[]);
    let out = Command::new(python)
        .args([script, &format!("ws://{}/ws", srv.addr)])
        .output()
        .expect("python");
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(srv.terminate().success());
}

/// `wirelab forge bench --json` really serves requests through a server process: the figures
/// are consistent with each other and every request got a 200; a zero window is refused.
#[test]
fn bench_reports_consistent_figures() {
    let out = Command::new(env!("CARGO_BIN_EXE_wirelab"))
        .args([
            "forge",
            "bench",
            "--duration",
            "500ms",
            "--connections",
            "4",
            "--json",
        ])
        .output()
        .expect("run forge bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "forge bench failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).expect("one JSON object");
    let requests = v["requests"].as_u64().expect("requests");
    assert!(requests > 0, "{v}");
    assert_eq!(v["errors"], 0, "{v}");
    assert_eq!(v["statuses"]["200"].as_u64(), Some(requests), "{v}");
    let (p50, p99, max) = (
        v["p50_ms"].as_f64().unwrap(),
        v["p99_ms"].as_f64().unwrap(),
        v["max_ms"].as_f64().unwrap(),
    );
    assert!(0.0 < p50 && p50 <= p99 && p99 <= max, "{v}");
    let rps = v["rps"].as_f64().unwrap();
    let seconds = v["seconds"].as_f64().unwrap();
    assert!(
        (rps * seconds - requests as f64).abs() <= requests as f64 * 0.05 + 1.0,
        "{v}"
    );
    assert!(
        v["server_peak_rss_kb"].as_u64().is_some_and(|kb| kb > 0),
        "{v}"
    );

    let bad = Command::new(env!("CARGO_BIN_EXE_wirelab"))
        .args(["forge", "bench", "--duration", "0s"])
        .output()
        .expect("run forge bench");
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--duration"));
}
