//! The exact CLI other tools script against: `p2p trackers`, `p2p share`, `p2p get`, and a
//! peer that closes an encrypted (MSE) handshake cleanly, plus aria2c interop when installed.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn exe() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_wirelab"))
}

/// A child process that is stopped (SIGTERM, then SIGKILL) however the test ends.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.0.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wirelab(state: &Path) -> Command {
    let mut c = Command::new(exe());
    c.env("XDG_STATE_HOME", state).stdin(Stdio::null());
    c
}

fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// Starts `p2p trackers` and returns it with the two announce URLs from cluster.json.
fn trackers(dir: &Path) -> (Proc, Vec<String>) {
    let run = dir.join("run");
    let child = wirelab(&dir.join("state"))
        .args(["p2p", "trackers", "--run-dir"])
        .arg(&run)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let proc = Proc(child);
    let urls = wait_for(
        "cluster.json with both http addresses",
        Duration::from_secs(20),
        || {
            let cf = wirelab::cluster::rundir::read_cluster_file(&run).ok()?;
            let urls: Vec<String> = cf
                .nodes
                .iter()
                .filter_map(|n| n.http.as_ref().map(|h| format!("http://{h}/announce")))
                .collect();
            (urls.len() == 2).then_some(urls)
        },
    );
    (proc, urls)
}

/// `wirelab p2p share`, and the first line it printed (`seeding NAME (...) on ADDR; …`).
fn share(dir: &Path, file: &Path, torrent: &Path, urls: &[String]) -> (Proc, String) {
    let child = wirelab(&dir.join("state"))
        .args(["p2p", "share"])
        .arg(file)
        .arg("--torrent")
        .arg(torrent)
        .arg("--trackers")
        .arg(urls.join(","))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut proc = Proc(child);
    // The first stdout line says where it seeds: `seeding NAME (...) on ADDR; torrent written…`.
    let mut out = proc.0.stdout.take().unwrap();
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while out.read(&mut byte).unwrap_or(0) == 1 && byte[0] != b'\n' {
        line.push(byte[0]);
    }
    let line = String::from_utf8_lossy(&line).into_owned();
    assert!(line.starts_with("seeding"), "{line:?}");
    (proc, line)
}

fn seeder_addr(line: &str) -> String {
    line.split(" on ")
        .nth(1)
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string()
}

#[test]
fn share_then_get_exits_zero_with_an_identical_file() {
    let dir = tempfile::tempdir().unwrap();
    let (_trackers, urls) = trackers(dir.path());
    let file = dir.path().join("movie.bin");
    wirelab::p2p::lab::generate_file(&file, 3 << 20 | 12345, 3).unwrap();
    let torrent = dir.path().join("movie.torrent");
    let (_seeder, _) = share(dir.path(), &file, &torrent, &urls);
    let t = wirelab::p2p::torrent::Torrent::load(&torrent).unwrap();
    assert_eq!(t.trackers, urls, "announce-list names both trackers");
    assert_eq!(t.piece_len, 512 * 1024);
    let out = dir.path().join("out");
    let status = wirelab(&dir.path().join("state"))
        .args(["p2p", "get"])
        .arg(&torrent)
        .arg("--out")
        .arg(&out)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "{status}");
    assert_eq!(
        std::fs::read(&file).unwrap(),
        std::fs::read(out.join("movie.bin")).unwrap()
    );
}

#[test]
fn an_encrypted_handshake_attempt_is_closed_cleanly_and_plain_bittorrent_still_works() {
    let dir = tempfile::tempdir().unwrap();
    let (_trackers, urls) = trackers(dir.path());
    let file = dir.path().join("f.bin");
    wirelab::p2p::lab::generate_file(&file, 1 << 20, 4).unwrap();
    let torrent = dir.path().join("f.torrent");
    let (_seeder, line) = share(dir.path(), &file, &torrent, &urls);
    let addr = seeder_addr(&line);
    // What aria2c sends first: a 96-byte Diffie-Hellman public key and padding.
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(&[0x8d; 120]).unwrap();
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf).unwrap_or(0);
    assert_eq!(n, 0, "the seeder must close without answering");
    // A plain handshake on a new connection is answered.
    let t = wirelab::p2p::torrent::Torrent::load(&torrent).unwrap();
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut h = vec![19u8];
    h.extend_from_slice(b"BitTorrent protocol");
    h.extend_from_slice(&[0; 8]);
    h.extend_from_slice(&t.info_hash);
    h.extend_from_slice(b"-XX0000-abcdefghijkl");
    s.write_all(&h).unwrap();
    let mut reply = [0u8; 68];
    s.read_exact(&mut reply).unwrap();
    assert_eq!(&reply[28..48], &t.info_hash);
}

fn aria2c_available() -> bool {
    let found = Command::new("aria2c")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !found {
        assert!(
            std::env::var("WIRELAB_REQUIRE_EXTERNAL").as_deref() != Ok("1"),
            "aria2c is required (WIRELAB_REQUIRE_EXTERNAL=1) but not installed"
        );
        eprintln!("skipped: aria2c is not installed (apt-get install aria2)");
    }
    found
}

const ARIA2C_FLAGS: &[&str] = &[
    "--enable-dht=false",
    "--enable-dht6=false",
    "--bt-enable-lpd=false",
    "--enable-peer-exchange=false",
    "--summary-interval=0",
    "--console-log-level=warn",
    "--allow-overwrite=true",
    "--file-allocation=none",
    "--bt-tracker-connect-timeout=5",
    "--bt-tracker-timeout=5",
];

#[test]
fn aria2c_downloads_from_a_wirelab_seeder_through_a_wirelab_tracker() {
    if !aria2c_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (_trackers, urls) = trackers(dir.path());
    let file = dir.path().join("interop.bin");
    wirelab::p2p::lab::generate_file(&file, 2 << 20 | 777, 5).unwrap();
    let torrent = dir.path().join("interop.torrent");
    let (_seeder, _) = share(dir.path(), &file, &torrent, &urls);
    let out = dir.path().join("aria2c-out");
    let mut child = Command::new("aria2c")
        .args(ARIA2C_FLAGS)
        .args(["--seed-time=0", "-d"])
        .arg(&out)
        .arg(&torrent)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let status = wait_for("aria2c to finish", Duration::from_secs(120), || {
        child.try_wait().unwrap()
    });
    assert!(status.success(), "{status}");
    assert_eq!(
        std::fs::read(&file).unwrap(),
        std::fs::read(out.join("interop.bin")).unwrap()
    );
}

#[test]
fn a_wirelab_peer_downloads_from_an_aria2c_seeder_of_a_wirelab_torrent() {
    if !aria2c_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (_trackers, urls) = trackers(dir.path());
    let seed_dir = dir.path().join("seed");
    std::fs::create_dir_all(&seed_dir).unwrap();
    let file = seed_dir.join("from-aria2c.bin");
    wirelab::p2p::lab::generate_file(&file, 2 << 20 | 99, 6).unwrap();
    let mut t = wirelab::p2p::torrent::Torrent::create(&file, urls.clone()).unwrap();
    t.rpc = urls
        .iter()
        .map(|u| wirelab::p2p::transfer::resolve_rpc(u).unwrap().to_string())
        .collect();
    let torrent = dir.path().join("from-aria2c.torrent");
    std::fs::write(&torrent, t.to_bytes()).unwrap();
    let _aria = Proc(
        Command::new("aria2c")
            .args(ARIA2C_FLAGS)
            .args(["--seed-ratio=0.0", "--check-integrity=true", "-d"])
            .arg(&seed_dir)
            .arg(&torrent)
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let out = dir.path().join("out");
    let status = wirelab(&dir.path().join("state"))
        .args(["p2p", "get"])
        .arg(&torrent)
        .arg("--out")
        .arg(&out)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(
        std::fs::read(&file).unwrap(),
        std::fs::read(out.join("from-aria2c.bin")).unwrap()
    );
}

#[test]
fn http_announce_answers_bencoded_compact_peers_through_forge() {
    let dir = tempfile::tempdir().unwrap();
    let (_trackers, urls) = trackers(dir.path());
    let hostport = urls[0]
        .trim_start_matches("http://")
        .trim_end_matches("/announce")
        .to_string();
    let get = |peer: u8, port: u16| -> Vec<u8> {
        let mut s = std::net::TcpStream::connect(&hostport).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let info_hash = "%AB".repeat(20);
        let peer_id = format!("%{peer:02X}").repeat(20);
        write!(
            s,
            "GET /announce?info_hash={info_hash}&peer_id={peer_id}&port={port}&uploaded=0&downloaded=0&left=0&compact=1&event=started HTTP/1.1\r\nHost: {hostport}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut resp = Vec::new();
        s.read_to_end(&mut resp).unwrap();
        let at = resp.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        resp[at + 4..].to_vec()
    };
    get(1, 6881);
    let body = get(2, 6882);
    let v = wirelab::p2p::bencode::decode(&body, 1 << 20).unwrap();
    assert_eq!(v.get("interval").and_then(|i| i.as_int()), Some(10));
    let peers = v.get("peers").and_then(|p| p.as_bytes()).unwrap();
    assert_eq!(
        peers,
        &[127, 0, 0, 1, 0x1a, 0xe1],
        "one compact peer: 127.0.0.1:6881"
    );
    let mut s = std::net::TcpStream::connect(&hostport).unwrap();
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    assert!(text.contains("wirelab_p2p_tracker_peers "), "{text}");
}

/// Stops a lab however the test ends.
struct DetachedLab(PathBuf, PathBuf);

impl Drop for DetachedLab {
    fn drop(&mut self) {
        let _ = wirelab(&self.1)
            .args(["p2p", "stop", "--run-dir"])
            .arg(&self.0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

#[test]
fn shell_builtin_hosts_the_lab_and_pipeline_children_reach_it_through_the_control_socket() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let state = dir.path().join("state");
    let _guard = DetachedLab(run.clone(), state.clone());
    let script = format!(
        "p2p up --size 4MiB --run-dir {r} >/dev/null && p2p status --run-dir {r} | grep -c leecher && p2p partition 1 --run-dir {r} && p2p heal --run-dir {r} && p2p stop --run-dir {r}",
        r = run.display()
    );
    let out = wirelab(&state)
        .args(["shell", "-c", &script])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.starts_with("4\n"), "{text}");
    assert!(
        text.contains("network healed") && text.contains("lab stopped"),
        "{text}"
    );
}

#[test]
fn a_tracker_whose_port_is_taken_fails_naming_the_address() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let out = wirelab(dir.path())
        .args(["node", "p2p-tracker", "--id", "1", "--listen", &addr])
        .arg("--data-dir")
        .arg(dir.path())
        .args(["--peers", &format!("1={addr}")])
        .stdin(Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let fatal: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    let msg = fatal["msg"].as_str().unwrap_or_default();
    assert_eq!(fatal["event"], "fatal", "{stdout}");
    assert!(msg.contains(&addr) && msg.contains("in use"), "{msg}");
}

#[test]
fn the_lab_runs_as_many_trackers_as_asked_and_every_client_finishes() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let state = dir.path().join("state");
    let _guard = DetachedLab(run.clone(), state.clone());
    // Three trackers: nodes 1-3; the seeder is 4, the leechers 5 and 6. Tracker 1 is killed,
    // and the downloads still complete through the other two.
    let script = format!(
        "set -e\np2p up --trackers 3 --leechers 2 --size 2MiB --run-dir {r} >/dev/null\n\
         p2p status --run-dir {r} | awk '$4 == \"tracker\" {{ n++ }} END {{ print n }}'\n\
         p2p kill 1 --run-dir {r} >/dev/null\n\
         p2p wait complete --timeout 60s --run-dir {r} >/dev/null\n\
         p2p status --json --run-dir {r} | grep -c '\"role\": \"leecher\"'\n\
         p2p stop --run-dir {r} >/dev/null",
        r = run.display()
    );
    let out = wirelab(&state)
        .args(["shell", "-c", &script])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(text, "3\n2\n", "{text}");
    let (code, _, err) = {
        let o = wirelab(&state)
            .args(["p2p", "up", "--trackers", "9", "--detach"])
            .output()
            .unwrap();
        (
            o.status.code(),
            String::new(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--trackers must be between 1 and 5"), "{err}");
}

#[test]
fn a_new_round_with_a_corrupted_seeder_detects_the_bad_pieces_and_still_completes() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let state = dir.path().join("state");
    let _guard = DetachedLab(run.clone(), state.clone());
    // Four 512 KiB pieces, all garbage at the seeder (node 3); leecher 4 keeps its good copy,
    // 5-7 start over: they must catch the seeder's pieces by SHA-1, blame nobody honest, and
    // finish from leecher 4. Leecher 4 is paused until a bad piece has been caught: with it
    // running, the new leechers may take every piece from it and never meet the garbage.
    let script = format!(
        "set -e\np2p up --size 2MiB --run-dir {r} >/dev/null\n\
         p2p wait complete --timeout 60s --run-dir {r} >/dev/null\n\
         p2p corrupt 3 --piece all --run-dir {r} >/dev/null\n\
         p2p pause 4 --run-dir {r} >/dev/null\n\
         p2p round --keep 4 --run-dir {r}\n\
         i=0\n\
         until p2p status --json --run-dir {r} | grep -q '\"bad_pieces\": [1-9]'; do\n\
           i=$((i + 1)); [ $i -lt 600 ] || {{ echo no bad piece caught >&2; exit 9; }}; sleep 0.1\n\
         done\n\
         p2p resume 4 --run-dir {r} >/dev/null\n\
         p2p wait complete --timeout 60s --run-dir {r} >/dev/null\n\
         p2p status --json --run-dir {r}\n\
         p2p stop --run-dir {r} >/dev/null",
        r = run.display()
    );
    let out = wirelab(&state)
        .args(["shell", "-c", &script])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("new round: leechers 5, 6, 7 start over from nothing")
            && text.contains("leecher 4 keeps its copy"),
        "{text}"
    );
    let json = &text[text.find('{').expect("json")..];
    let status: serde_json::Value = serde_json::from_str(json).expect("status json");
    let rows = status["nodes"].as_array().expect("rows").clone();
    let bad: u64 = rows.iter().filter_map(|r| r["bad_pieces"].as_u64()).sum();
    assert!(bad > 0, "no leecher caught the seeder's garbage: {text}");
    // A stopped run keeps its logs and metadata, not its payloads (the generated file and the
    // peers' copies of it).
    fn bytes_under(p: &Path) -> u64 {
        std::fs::read_dir(p)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| match e.metadata() {
                Ok(m) if m.is_dir() => bytes_under(&e.path()),
                Ok(m) => m.len(),
                Err(_) => 0,
            })
            .sum()
    }
    assert!(run.join("cluster.json").exists() && run.join("node-4.log").exists());
    let left = bytes_under(&run);
    assert!(left < 1 << 20, "{left} bytes left in the stopped run");
    // Nobody honest was banned: every leecher is complete and leecher 4 was never dropped.
    for r in rows.iter().filter(|r| r["role"] == "leecher") {
        assert_eq!(r["complete"], true, "{text}");
        assert!(r["banned"].as_u64().unwrap_or(0) <= 1, "{text}");
    }
}
