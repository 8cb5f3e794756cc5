//! Helpers of the secret lab's tests: a courier process on a dynamic port (killed on drop), a
//! detached lab in its own state dir (stopped on drop), a real `redis-server` on a free port
//! (killed on drop), and a small HTTP client.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

pub fn wirelab() -> &'static str {
    env!("CARGO_BIN_EXE_wirelab")
}

/// A free loopback port (the kernel's pick).
pub fn free_addr() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// A courier run directly as `wirelab node secret-server`, killed on drop.
pub struct Courier {
    pub child: Child,
    pub addr: SocketAddr,
    pub dir: PathBuf,
    _stdin: ChildStdin,
    pub events: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Courier {
    pub fn start(dir: &Path, extra: &[&str]) -> Result<Courier, String> {
        let addr = free_addr();
        let mut child = Command::new(wirelab())
            .args(["node", "secret-server", "--data-dir"])
            .arg(dir)
            .args(["--listen", &addr.to_string()])
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let out = child.stdout.take().unwrap();
        let events = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let ev = events.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if line.contains("\"event\":\"ready\"") || line.contains("\"event\":\"fatal\"") {
                    let _ = tx.send(line.clone());
                }
                ev.lock().unwrap().push(line);
            }
            let _ = tx.send("exited".into());
        });
        match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(l) if l.contains("\"ready\"") => Ok(Courier {
                child,
                addr,
                dir: dir.to_path_buf(),
                _stdin: stdin,
                events,
            }),
            Ok(l) => {
                let _ = child.kill();
                let _ = child.wait();
                Err(l)
            }
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                Err("no ready line in 20 s".into())
            }
        }
    }

    pub fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// SIGKILL, and wait for it.
    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Courier {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP response.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
    pub fn header(&self, n: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(n))
            .map(|(_, v)| v.as_str())
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One request on a fresh connection (`Connection: close`).
pub fn http(addr: SocketAddr, method: &str, path: &str, body: Option<&[u8]>) -> Resp {
    http_with(addr, method, path, body, &[])
}

pub fn http_with(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&[u8]>,
    headers: &[(&str, &str)],
) -> Resp {
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    let b = body.unwrap_or_default();
    req.push_str(&format!("Content-Length: {}\r\n\r\n", b.len()));
    let mut bytes = req.into_bytes();
    bytes.extend_from_slice(b);
    raw_request(addr, &bytes)
}

/// Sends `bytes` as they are on a fresh connection and reads the response.
pub fn raw_request(addr: SocketAddr, bytes: &[u8]) -> Resp {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    // The server may answer (413) before reading a large body: ignore a reset on write.
    let _ = s.write_all(bytes);
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let head_end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head");
    let head = String::from_utf8_lossy(&raw[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Resp {
        status,
        headers,
        body: raw[head_end + 4..].to_vec(),
    }
}

/// Runs the CLI with a state dir; returns (code, stdout, stderr).
pub fn run(state: &Path, args: &[&str], stdin: Option<&[u8]>) -> (i32, String, String) {
    let mut child = Command::new(wirelab())
        .args(args)
        .env("XDG_STATE_HOME", state)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        let mut i = child.stdin.take().unwrap();
        if let Some(b) = stdin {
            i.write_all(b).unwrap();
        }
    }
    let o = child.wait_with_output().unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

pub fn ok(state: &Path, args: &[&str], stdin: Option<&[u8]>) -> String {
    let (code, out, err) = run(state, args, stdin);
    assert_eq!(code, 0, "wirelab {args:?} failed:\n{out}\n{err}");
    out
}

/// A detached secret lab in its own state dir, stopped on drop.
pub struct Lab {
    pub state: tempfile::TempDir,
}

impl Lab {
    pub fn up(args: &[&str]) -> Lab {
        let state = tempfile::tempdir().unwrap();
        let mut a = vec!["secret", "up", "--detach"];
        a.extend_from_slice(args);
        ok(state.path(), &a, None);
        Lab { state }
    }

    pub fn path(&self) -> &Path {
        self.state.path()
    }

    pub fn send(&self, text: &str, extra: &[&str]) -> String {
        let mut a = vec!["secret", "send"];
        a.extend_from_slice(extra);
        ok(self.path(), &a, Some(text.as_bytes()))
            .trim()
            .to_string()
    }

    pub fn cli(&self, args: &[&str]) -> (i32, String, String) {
        run(self.path(), args, None)
    }

    /// The courier's address from `status --json`.
    pub fn server(&self) -> SocketAddr {
        let v: serde_json::Value =
            serde_json::from_str(&ok(self.path(), &["secret", "status", "--json"], None)).unwrap();
        v["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["id"] == 1)
            .unwrap()["addr"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = run(self.state.path(), &["secret", "stop"], None);
    }
}

/// Whether a required external program is there: a skip note, or a panic under
/// `WIRELAB_REQUIRE_EXTERNAL=1` (CI installs them).
pub fn require(tool: &str, found: bool) -> bool {
    if found {
        return true;
    }
    if std::env::var("WIRELAB_REQUIRE_EXTERNAL").as_deref() == Ok("1") {
        panic!("{tool} is required (WIRELAB_REQUIRE_EXTERNAL=1) but not available");
    }
    eprintln!("note: skipping: {tool} is not available");
    false
}

pub fn on_path(tool: &str) -> bool {
    std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .any(|d| Path::new(d).join(tool).is_file())
}

/// A real redis-server on a free port with its own dir (append-only, fsync always), killed
/// on drop.
pub struct Redis {
    child: Child,
    pub addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Redis {
    pub fn start() -> Option<Redis> {
        if !require("redis-server", on_path("redis-server")) {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        for _ in 0..5 {
            let addr = free_addr();
            let mut child = Command::new("redis-server")
                .args([
                    "--port",
                    &addr.port().to_string(),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "yes",
                    "--appendfsync",
                    "always",
                    "--dir",
                ])
                .arg(dir.path())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                if TcpStream::connect(addr).is_ok() {
                    return Some(Redis {
                        child,
                        addr,
                        _dir: dir,
                    });
                }
                if let Ok(Some(_)) = child.try_wait() {
                    break; // lost the port to someone else: try another
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        panic!("could not start redis-server");
    }

    pub fn url(&self) -> String {
        format!("redis://{}", self.addr)
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until `f` holds (10 s at most).
pub fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}
