//! `secret bench`: create+claim pairs per second over HTTP keep-alive, on the embedded store
//! and on Redis in the same run, and the race repeated on both stores.
//!
//! Each store gets its own courier process (`wirelab node secret-server`, rate limit and
//! access log off) on a fresh store: the embedded one in a temporary directory on the disk
//! (fsync before every acknowledgement, as in the lab) and, for contrast, on tmpfs
//! (`/dev/shm`, where fsync costs nothing: the CPU ceiling); Redis is `--redis URL`, or a
//! `redis-server` the bench starts on a free port (`appendonly yes`, `appendfsync always`: the
//! same durability promise). Each of `--connections` clients loops create, then claim, of a
//! small secret; a pair counts when the claim returned the ciphertext.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Args;
use serde_json::{Value, json};

use super::client::Http;
use super::format;
use super::verbs::race_claims;
use crate::lab::VerbCtx;
use crate::lab::args::parse_duration;

/// `secret bench` arguments.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Keep-alive connections.
    #[arg(long, default_value_t = 32)]
    pub connections: usize,
    /// How long each store is measured.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Race repeats per store (each: one secret, `--claimers` concurrent claims).
    #[arg(long, default_value_t = 200)]
    pub races: usize,
    /// Claimers per race.
    #[arg(long, default_value_t = 100)]
    pub claimers: usize,
    /// A running Redis (default: start redis-server on a free port, if installed).
    #[arg(long)]
    pub redis: Option<String>,
    /// Where the embedded store's files go (default: the system's temp dir).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// One JSON object.
    #[arg(long)]
    pub json: bool,
}

/// A child process, killed on drop.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(base: &Path, what: &str) -> anyhow::Result<TempDir> {
        let p = base.join(format!(
            "wirelab-secret-bench-{what}-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&p)?;
        Ok(TempDir(p))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn free_addr() -> anyhow::Result<SocketAddr> {
    Ok(crate::cluster::free_loopback_addrs(1)?[0])
}

/// The courier's latest counters (its `metrics` events, every 100 ms).
type Latest = Arc<Mutex<Value>>;

/// Starts a courier process on `store`; returns once it is ready.
fn start_courier(store: &str, dir: &Path) -> anyhow::Result<(Proc, SocketAddr, Latest)> {
    let addr = free_addr()?;
    let mut child = Command::new(std::env::current_exe()?)
        .args(["node", super::server::ROLE, "--data-dir"])
        .arg(dir)
        .args([
            "--listen",
            &addr.to_string(),
            "--store",
            store,
            "--rate-limit",
            "0",
            "--access-log",
            "false",
            "--report-ms",
            "100",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let out = child
        .stdout
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stdout"))?;
    let proc = Proc(child);
    let mut lines = BufReader::new(out).lines();
    loop {
        let Some(line) = lines.next() else {
            anyhow::bail!("the courier ({store}) exited before it was ready");
        };
        let line = line?;
        if line.contains("\"event\":\"ready\"") {
            break;
        }
        if line.contains("\"event\":\"fatal\"") {
            anyhow::bail!("the courier ({store}) failed: {line}");
        }
    }
    // Keep draining its events so it never blocks on a full pipe; keep the latest counters.
    let latest: Latest = Arc::new(Mutex::new(Value::Null));
    let l = latest.clone();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            if line.contains("\"event\":\"metrics\"")
                && let Ok(v) = serde_json::from_str::<Value>(&line)
            {
                *l.lock().unwrap_or_else(|p| p.into_inner()) = v;
            }
        }
    });
    Ok((proc, addr, latest))
}

/// Starts `redis-server` on a free port (durable: append-only file, fsync always).
fn start_redis(dir: &Path) -> anyhow::Result<(Proc, String)> {
    // redis-server binds without SO_REUSEPORT: a port the kernel picks, not a reserved one.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let child = Command::new("redis-server")
        .args(super::store_node::redis_args(addr, dir))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| anyhow::anyhow!("cannot start redis-server: {e}"))?;
    let p = Proc(child);
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(addr).is_err() {
        anyhow::ensure!(Instant::now() < deadline, "redis-server did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok((p, format!("redis://{addr}")))
}

/// Whether `redis-server` is on PATH.
pub fn redis_installed() -> bool {
    std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .any(|d| Path::new(d).join("redis-server").is_file())
}

fn create_body() -> Vec<u8> {
    let key = format::derive_key(&*format::new_token(), None);
    let (iv, ct) = format::seal(&key, b"bench secret: 32 bytes of text..").unwrap_or_default();
    json!({"ciphertext": format::b64(&ct), "iv": format::b64(&iv), "ttl": 300})
        .to_string()
        .into_bytes()
}

async fn load(addr: SocketAddr, connections: usize, duration: Duration) -> anyhow::Result<Value> {
    let stop = Arc::new(AtomicBool::new(false));
    let body = Arc::new(create_body());
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let mut h = Http::connect(addr).await.map_err(|e| anyhow::anyhow!(e))?;
        let (stop, body) = (stop.clone(), body.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                let r = h.request("POST", "/api/secrets", Some(&body)).await;
                let id = match &r {
                    Ok(r) if r.status == 201 => r.json()["id"].as_str().map(str::to_string),
                    _ => None,
                };
                let Some(id) = id else {
                    errors += 1;
                    continue;
                };
                match h
                    .request("POST", &format!("/api/secrets/{id}/claim"), None)
                    .await
                {
                    Ok(r) if r.status == 200 => lat.push(t.elapsed()),
                    _ => errors += 1,
                }
            }
            (lat, errors)
        }));
    }
    let started = Instant::now();
    tokio::time::sleep(duration).await;
    stop.store(true, Ordering::Relaxed);
    let mut lat = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await?;
        lat.extend(l);
        errors += e;
    }
    let elapsed = started.elapsed().as_secs_f64();
    lat.sort();
    let q = |f: f64| {
        if lat.is_empty() {
            0.0
        } else {
            lat[((lat.len() - 1) as f64 * f).round() as usize].as_secs_f64() * 1e3
        }
    };
    Ok(json!({
        "pairs": lat.len(),
        "pairs_per_sec": (lat.len() as f64 / elapsed).round(),
        "pair_p50_ms": (q(0.5) * 1000.0).round() / 1000.0,
        "pair_p99_ms": (q(0.99) * 1000.0).round() / 1000.0,
        "errors": errors,
        "seconds": (elapsed * 100.0).round() / 100.0,
    }))
}

async fn races(addr: SocketAddr, repeats: usize, claimers: usize) -> anyhow::Result<Value> {
    let mut exact = 0;
    let mut worst = String::new();
    let body = create_body();
    let mut h = Http::connect(addr).await.map_err(|e| anyhow::anyhow!(e))?;
    for _ in 0..repeats {
        let r = h
            .request("POST", "/api/secrets", Some(&body))
            .await
            .map_err(|e| anyhow::anyhow!(e))?;
        let id = r.json()["id"].as_str().unwrap_or_default().to_string();
        let o = race_claims(addr, &id, claimers, None)
            .await
            .map_err(|e| anyhow::anyhow!(e))?;
        if o.winners == 1 && o.not_found == claimers - 1 {
            exact += 1;
        } else if worst.is_empty() {
            worst = format!(
                "{} winners, {} 404, {} other",
                o.winners, o.not_found, o.other
            );
        }
    }
    Ok(json!({
        "repeats": repeats,
        "claimers": claimers,
        "exactly_one_winner": exact,
        "first_violation": if worst.is_empty() { Value::Null } else { json!(worst) },
    }))
}

/// The courier's counters once a report newer than `after` has arrived.
async fn counters(latest: &Latest, after: Instant) -> Value {
    let wait = Duration::from_millis(250);
    tokio::time::sleep_until((after + wait).into()).await;
    latest.lock().unwrap_or_else(|p| p.into_inner()).clone()
}

/// CPU seconds of a process so far.
fn cpu_secs(pid: i32) -> f64 {
    crate::cluster::procstat::sample(pid).map_or(0.0, |s| s.cpu_ticks as f64)
        / crate::cluster::procstat::ticks_per_second() as f64
}

fn measure(store: &str, dir: &Path, a: &BenchArgs) -> anyhow::Result<Value> {
    let (courier, addr, latest) = start_courier(store, dir)?;
    let server_pid = courier.0.id() as i32;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async {
        let before = counters(&latest, Instant::now()).await;
        let (client0, server0) = (cpu_secs(std::process::id() as i32), cpu_secs(server_pid));
        let mut v = load(addr, a.connections, a.duration).await?;
        let (client1, server1) = (cpu_secs(std::process::id() as i32), cpu_secs(server_pid));
        let secs = v["seconds"].as_f64().unwrap_or(1.0).max(1e-3);
        let after = counters(&latest, Instant::now()).await;
        // CPU in percent of one core (2 cores: 200 is everything), over the load.
        v["client_cpu_pct"] = json!(((client1 - client0) / secs * 100.0).round());
        v["server_cpu_pct"] = json!(((server1 - server0) / secs * 100.0).round());
        if after["log_fsyncs"].is_u64() {
            let d = |k: &str| {
                after[k].as_u64().unwrap_or(0) as f64 - before[k].as_u64().unwrap_or(0) as f64
            };
            let (fsyncs, records) = (d("log_fsyncs"), d("log_records"));
            v["log"] = json!({
                "fsyncs_per_sec": (fsyncs / secs).round(),
                "records_per_fsync": if fsyncs > 0.0 { (records / fsyncs * 10.0).round() / 10.0 } else { 0.0 },
                "fdatasync_mean_us": if fsyncs > 0.0 { (d("log_sync_us") / fsyncs).round() } else { 0.0 },
                // Time in fdatasync over wall time: how many were running at once, on average.
                "fdatasyncs_in_flight_mean": (d("log_sync_us") / 1e6 / secs * 100.0).round() / 100.0,
                "max_batch": after["log_max_batch"],
            });
        }
        if a.races > 0 {
            v["race"] = races(addr, a.races, a.claimers).await?;
        }
        Ok(v)
    })
}

/// Runs the bench.
pub fn run(cx: &mut VerbCtx<'_>, a: BenchArgs) -> anyhow::Result<i32> {
    anyhow::ensure!(
        (1..=1024).contains(&a.connections),
        "--connections must be 1..=1024"
    );
    anyhow::ensure!(
        (2..=1000).contains(&a.claimers),
        "--claimers must be 2..=1000"
    );
    let base = a.data_dir.clone().unwrap_or_else(std::env::temp_dir);
    let mut report = json!({
        "connections": a.connections,
        "duration_s": a.duration.as_secs_f64(),
        "target_pairs_per_sec": 20000,
    });
    let disk = TempDir::new(&base, "disk")?;
    report["embedded"] = measure("embedded", &disk.0, &a)?;
    report["embedded"]["dir"] = json!(base.display().to_string());
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        let t = TempDir::new(shm, "tmpfs")?;
        let mut quick = BenchArgs {
            races: 0,
            ..a.clone_args()
        };
        quick.json = a.json;
        report["embedded_tmpfs"] = measure("embedded", &t.0, &quick)?;
        report["embedded_tmpfs"]["note"] =
            json!("store on tmpfs: fsync costs nothing there (the CPU ceiling)");
    }
    let redis_dir = TempDir::new(&base, "redis")?;
    let started = match &a.redis {
        Some(url) => Some((None, url.clone())),
        None if redis_installed() => {
            let (p, url) = start_redis(&redis_dir.0)?;
            Some((Some(p), url))
        }
        None => None,
    };
    match started {
        Some((_proc, url)) => {
            let mut v = measure(&url, &redis_dir.0, &a)?;
            v["url"] = json!(url);
            if a.redis.is_none() {
                v["appendfsync"] = json!("always");
            }
            let e = report["embedded"]["pairs_per_sec"].as_f64().unwrap_or(0.0);
            let r = v["pairs_per_sec"].as_f64().unwrap_or(0.0);
            report["redis_vs_embedded"] = json!(if e > 0.0 {
                (r / e * 100.0).round() / 100.0
            } else {
                0.0
            });
            report["redis"] = v;
        }
        None => {
            report["redis"] =
                json!({"skipped": "redis-server is not installed (or pass --redis URL)"});
        }
    }
    if a.json {
        writeln!(cx.out, "{report}")?;
        return Ok(0);
    }
    let line = |name: &str, v: &Value| -> String {
        if let Some(s) = v["skipped"].as_str() {
            return format!("{name:<16} skipped: {s}");
        }
        let mut s = format!(
            "{name:<16} {:>8} create+claim pairs/s  (pair p50 {} ms, p99 {} ms, {} errors)",
            v["pairs_per_sec"], v["pair_p50_ms"], v["pair_p99_ms"], v["errors"]
        );
        if v["race"].is_object() {
            s.push_str(&format!(
                "\n{:<16} race: {}/{} repeats with exactly one 200 among {} claimers",
                "", v["race"]["exactly_one_winner"], v["race"]["repeats"], v["race"]["claimers"]
            ));
        }
        s
    };
    writeln!(
        cx.out,
        "secret bench: {} keep-alive connections, {:.0}s per store (target: 20000 pairs/s on the embedded store)",
        a.connections,
        a.duration.as_secs_f64()
    )?;
    writeln!(cx.out, "{}", line("embedded (disk)", &report["embedded"]))?;
    if report["embedded_tmpfs"].is_object() {
        writeln!(
            cx.out,
            "{}",
            line("embedded (tmpfs)", &report["embedded_tmpfs"])
        )?;
    }
    writeln!(cx.out, "{}", line("redis", &report["redis"]))?;
    if let Some(r) = report["redis_vs_embedded"].as_f64() {
        writeln!(cx.out, "redis / embedded (disk): {r:.2}")?;
    }
    Ok(0)
}

impl BenchArgs {
    fn clone_args(&self) -> BenchArgs {
        BenchArgs {
            connections: self.connections,
            duration: self.duration,
            races: self.races,
            claimers: self.claimers,
            redis: self.redis.clone(),
            data_dir: self.data_dir.clone(),
            json: self.json,
        }
    }
}
