//! `chat bench`: the protocol's figures, measured in this process on loopback TCP against a
//! real [`Server`] (durable logs in a temporary dir, group-committed fsyncs).
//!
//! 1. Handshakes: `clients` tasks connect, run NNpsk0 and send their authenticating Hello,
//!    over and over, for two seconds: completed handshakes per second.
//! 2. Fixed rate: `clients` members in one room post `rate` messages/s in total for `seconds`;
//!    each delivery's latency (sender's send → member's receipt) gives p50/p99. Run with Noise
//!    and over plain TCP (same frames, JSON in clear, no handshake).
//! 3. Cost: every member posts [`BURST`] messages as fast as the server acknowledges them; the
//!    time until every member has every message, Noise over plain, is `ratio` (the median of
//!    [`ROUNDS`] runs of each, alternated, so a neighbour's load falls on both alike);
//!    `cpu_ratio` is the same for the process's CPU time.
//!
//! Both paths run the same [`Server`] code: the same durable room log with one fdatasync per
//! group commit before any acknowledgement or fan-out, the same fan-out (each message
//! serialized once), the same write coalescing; plain mode only skips the handshake and the
//! AEAD (the same frames carry the JSON in clear). Neither goes through the lab's man in the
//! middle: the bench clients connect straight to the server on loopback.
//!
//! The JSON also says where a message's time went on the server (`commit_*`: one group
//! commit, append + fdatasync; `durable_p99_ms`: sender's send → durable in the log, the rest
//! of `p99_ms` being the fan-out), and the machine's load when the bench started (the bench
//! shares two cores with whatever else runs).

/// Messages each member posts in one burst of the cost phase.
pub const BURST: u64 = 30;
/// Bursts of each kind (Noise, plain) in the cost phase.
pub const ROUNDS: usize = 3;

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::link::{Channel, RekeyPolicy, Wire, client_handshake, now_us, read_frame};
use super::noise::Psk;
use super::server::{CommitStats, Server, ServerConfig};
use super::stats::quantile_ms;

const POLICY: RekeyPolicy = RekeyPolicy {
    every: 50,
    period: Duration::from_secs(20),
};

/// The server's write coalescing, as the lab's server uses it.
const COALESCE: Duration = Duration::from_millis(1);

struct Lab {
    addr: SocketAddr,
    psks: Vec<Psk>,
    server: Arc<Server>,
    _dir: crate::cluster::rundir::ScratchDir,
}

async fn start(clients: usize, plain: bool) -> anyhow::Result<Lab> {
    static RUNS: AtomicU64 = AtomicU64::new(0);
    let n = RUNS.fetch_add(1, Ordering::Relaxed);
    let dir = crate::cluster::rundir::ScratchDir::new(&format!("chat-bench-{n}"));
    let server = Server::open(ServerConfig {
        data_dir: dir.path().to_path_buf(),
        plain,
        rekey: POLICY,
        coalesce: COALESCE,
    })?;
    let mut psks = Vec::new();
    for k in 0..clients {
        let psk = Psk::generate();
        server.enroll(&format!("b{k}"), &psk)?;
        psks.push(psk);
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(server.clone().serve(listener));
    Ok(Lab {
        addr,
        psks,
        server,
        _dir: dir,
    })
}

async fn connect(
    lab: &Lab,
    k: usize,
    plain: bool,
    room: &str,
) -> anyhow::Result<(TcpStream, Channel)> {
    let mut s = TcpStream::connect(lab.addr).await?;
    s.set_nodelay(true)?;
    let psk = (!plain).then(|| lab.psks[k].clone());
    let ts = client_handshake(&mut s, &format!("b{k}"), psk).await?;
    let mut chan = Channel::new(ts, POLICY);
    let mut out = Vec::new();
    chan.seal(
        &Wire::Hello {
            room: room.into(),
            after: u64::MAX,
        },
        &mut out,
    )?;
    s.write_all(&out).await?;
    Ok((s, chan))
}

async fn handshakes(clients: usize) -> anyhow::Result<f64> {
    let lab = Arc::new(start(clients, false).await?);
    let done = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let end = start + Duration::from_secs(2);
    let mut tasks = Vec::new();
    for k in 0..clients {
        let (lab, done) = (lab.clone(), done.clone());
        tasks.push(tokio::spawn(async move {
            while Instant::now() < end {
                if connect(&lab, k, false, "hs").await.is_ok() {
                    done.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for t in tasks {
        t.await?;
    }
    Ok(done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64())
}

/// What one workload gave.
struct Run {
    /// Delivery latencies, µs.
    lat: Vec<u64>,
    /// Time until every member had every message.
    took: Duration,
    /// Process CPU time meanwhile.
    cpu: Duration,
    /// Deliveries that never came.
    lost: u64,
    /// The server's commits.
    commits: CommitStats,
}

/// User + system CPU time of this process.
fn cpu_time() -> Duration {
    use nix::sys::resource::{UsageWho, getrusage};
    getrusage(UsageWho::RUSAGE_SELF).map_or(Duration::ZERO, |u| {
        let tv = |t: nix::sys::time::TimeVal| {
            Duration::from_secs(t.tv_sec().max(0) as u64)
                + Duration::from_micros(t.tv_usec().max(0) as u64)
        };
        tv(u.user_time()) + tv(u.system_time())
    })
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// The 1-minute load average (`-1` when unknown).
fn loadavg() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(-1.0)
}

/// One workload: every member posts `each` messages, paced `gap` apart (zero: as fast as
/// acknowledged).
async fn fanout(clients: usize, plain: bool, each: u64, gap: Duration) -> anyhow::Result<Run> {
    let lab = Arc::new(start(clients, plain).await?);
    let total = each * clients as u64;
    let barrier = Arc::new(tokio::sync::Barrier::new(clients + 1));
    let mut tasks = Vec::new();
    for k in 0..clients {
        let (lab, barrier) = (lab.clone(), barrier.clone());
        tasks.push(tokio::spawn(async move {
            let (s, chan) = connect(&lab, k, plain, "bench").await?;
            let chan = Arc::new(std::sync::Mutex::new(chan));
            let (rd, mut wr) = s.into_split();
            let mut rd = tokio::io::BufReader::with_capacity(64 * 1024, rd);
            // Joined once the server echoes a first no-op: wait for the Hello to land.
            tokio::time::sleep(Duration::from_millis(300)).await;
            barrier.wait().await;
            let acked = Arc::new(tokio::sync::Notify::new());
            let (c2, a2) = (chan.clone(), acked.clone());
            let reader = tokio::spawn(async move {
                let mut lat = Vec::new();
                let mut buf = Vec::new();
                while (lat.len() as u64) < total {
                    match tokio::time::timeout(
                        Duration::from_secs(10),
                        read_frame(&mut rd, &mut buf),
                    )
                    .await
                    {
                        Ok(Ok(true)) => {}
                        _ => break,
                    }
                    let msgs = c2
                        .lock()
                        .map_err(|_| anyhow::anyhow!("lock"))?
                        .open_all(&mut buf)
                        .map_err(|e| anyhow::anyhow!("bench client: {e:?}"))?;
                    for msg in msgs {
                        match msg {
                            Wire::Msg(e) => lat.push(now_us().saturating_sub(e.sent_us)),
                            Wire::Ack { .. } => a2.notify_one(),
                            _ => {}
                        }
                    }
                }
                anyhow::Ok(lat)
            });
            let mut next = Instant::now() + gap.mul_f64(rand::random::<f64>());
            let mut out = Vec::new();
            for cid in 1..=each {
                if gap.is_zero() {
                    if cid > 1 {
                        acked.notified().await;
                    }
                } else {
                    tokio::time::sleep_until(next.into()).await;
                    next += gap;
                }
                out.clear();
                let say = Wire::Say {
                    cid,
                    sent_us: now_us(),
                    text: format!("b{k} message {cid} of the bench workload"),
                };
                chan.lock()
                    .map_err(|_| anyhow::anyhow!("lock"))?
                    .seal(&say, &mut out)?;
                wr.write_all(&out).await?;
            }
            let lat = reader.await??;
            anyhow::Ok(lat)
        }));
    }
    barrier.wait().await;
    let start = Instant::now();
    let cpu = cpu_time();
    let mut all = Vec::new();
    let mut lost = 0;
    for t in tasks {
        let lat = t.await??;
        lost += total - lat.len() as u64;
        all.extend(lat);
    }
    Ok(Run {
        lat: all,
        took: start.elapsed(),
        cpu: cpu_time().saturating_sub(cpu),
        lost,
        commits: lab.server.commit_stats(),
    })
}

/// Runs the bench and prints its figures (text or JSON).
pub fn run(
    clients: usize,
    rate: u64,
    seconds: u64,
    json_out: bool,
    out: &mut dyn Write,
) -> anyhow::Result<i32> {
    anyhow::ensure!((1..=1000).contains(&clients), "--clients must be 1..=1000");
    anyhow::ensure!((1..=100_000).contains(&rate), "--rate must be 1..=100000");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let load = loadavg();
        let hs = handshakes(clients).await?;
        let each = (rate * seconds).div_ceil(clients as u64).max(1);
        let gap = Duration::from_secs_f64(clients as f64 / rate as f64);
        let noise = fanout(clients, false, each, gap).await?;
        let plain = fanout(clients, true, each, gap).await?;
        let mut lost = noise.lost + plain.lost;
        let (mut t_noise, mut t_plain, mut c_noise, mut c_plain) = (vec![], vec![], vec![], vec![]);
        // Per burst: (commits, writes, frames) — the batching each path got.
        let (mut b_noise, mut b_plain) = (vec![], vec![]);
        for _ in 0..ROUNDS {
            for (secure, t, c, b) in [
                (true, &mut t_noise, &mut c_noise, &mut b_noise),
                (false, &mut t_plain, &mut c_plain, &mut b_plain),
            ] {
                let r = fanout(clients, !secure, BURST, Duration::ZERO).await?;
                lost += r.lost;
                t.push(r.took.as_secs_f64());
                c.push(r.cpu.as_secs_f64());
                b.push([r.commits.batches, r.commits.writes, r.commits.frames]);
            }
        }
        let round3 = |v: f64| (v * 1000.0).round() / 1000.0;
        let (bn, bp) = (median(t_noise.clone()), median(t_plain.clone()));
        let ratio = bn / bp.max(1e-9);
        let c_noise_all: Vec<f64> = c_noise.iter().map(|t| round3(*t)).collect();
        let c_plain_all: Vec<f64> = c_plain.iter().map(|t| round3(*t)).collect();
        let cpu_ratio = median(c_noise) / median(c_plain).max(1e-9);
        let v = json!({
            "clients": clients,
            "handshakes_per_s": hs.round(),
            "rate_msgs_per_s": rate,
            "seconds": seconds,
            "deliveries": noise.lat.len(),
            "p50_ms": quantile_ms(noise.lat.clone(), 0.50),
            "p99_ms": quantile_ms(noise.lat, 0.99),
            "plain_p50_ms": quantile_ms(plain.lat.clone(), 0.50),
            "plain_p99_ms": quantile_ms(plain.lat, 0.99),
            "commit_p50_ms": noise.commits.commit_p50_ms,
            "commit_p99_ms": noise.commits.commit_p99_ms,
            "commit_max_ms": noise.commits.commit_max_ms,
            "commits": noise.commits.batches,
            "durable_p99_ms": noise.commits.durable_p99_ms,
            "plain_durable_p99_ms": plain.commits.durable_p99_ms,
            "burst_msgs_per_member": BURST,
            "burst_noise_s": round3(bn),
            "burst_plain_s": round3(bp),
            "burst_noise_runs_s": t_noise.iter().map(|t| round3(*t)).collect::<Vec<_>>(),
            "burst_plain_runs_s": t_plain.iter().map(|t| round3(*t)).collect::<Vec<_>>(),
            "ratio": (ratio * 100.0).round() / 100.0,
            "cpu_ratio": (cpu_ratio * 100.0).round() / 100.0,
            "burst_noise_cpu_s": c_noise_all,
            "burst_plain_cpu_s": c_plain_all,
            "burst_noise_commits_writes_frames": b_noise,
            "burst_plain_commits_writes_frames": b_plain,
            "via_proxy": false,
            "loadavg_at_start": load,
            "lost": lost,
        });
        if json_out {
            writeln!(out, "{v}")?;
        } else {
            writeln!(out, "handshakes: {} /s with {clients} clients", v["handshakes_per_s"])?;
            writeln!(out, "fan-out, {rate} msg/s into a {clients}-member room for {seconds}s: p50 {} ms, p99 {} ms (plain TCP: p50 {} ms, p99 {} ms)",
                v["p50_ms"], v["p99_ms"], v["plain_p50_ms"], v["plain_p99_ms"])?;
            writeln!(out, "server: group commit p50 {} ms, p99 {} ms, max {} ms; send → durable p99 {} ms (the rest of p99 is fan-out)",
                v["commit_p50_ms"], v["commit_p99_ms"], v["commit_max_ms"], v["durable_p99_ms"])?;
            writeln!(out, "burst of {BURST} messages per member (median of {ROUNDS}): Noise {} s, plain {} s → ratio {} (CPU time ratio {})",
                v["burst_noise_s"], v["burst_plain_s"], v["ratio"], v["cpu_ratio"])?;
            writeln!(out, "(direct to the server, not through the mitm proxy; load average at start {})", v["loadavg_at_start"])?;
            writeln!(out, "lost deliveries: {}", v["lost"])?;
        }
        anyhow::Ok(0)
    })
}
