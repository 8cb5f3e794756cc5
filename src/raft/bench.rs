//! `wirelab raft bench`: durable write throughput, latency percentiles and failover time,
//! measured on a fresh cluster of real processes on this machine.
//!
//! Phase 1 runs `--clients` closed-loop clients (each waits for its reply before sending the
//! next request) for `--duration`; every write is acknowledged only after a majority fsynced it.
//! Phase 2 SIGKILLs the leader `--kills` times under a small write load and measures, each time,
//! the delay from the SIGKILL to the first write acknowledged that was sent after it; the killed
//! node is restarted and allowed to catch up between kills. Results: a human summary, or one
//! JSON object with `--json`.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clap::Args;
use serde_json::json;

use super::cli::current_leader;
use super::client::{Client, ClientAuth, ClientOptions};
use super::codec::{Op, Reply};
use super::lab::{self, LabConfig};
use crate::cluster::{NodeStatus, Supervisor};
use crate::lab::args::parse_duration;

/// Options of `wirelab raft bench`.
#[derive(Debug, Args, Clone)]
pub struct BenchArgs {
    /// Concurrent closed-loop clients.
    #[arg(long, default_value_t = 32)]
    pub clients: usize,
    /// How long to measure throughput (e.g. 10s, 500ms, 1m).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Fraction of operations that are linearizable reads (0 to 1).
    #[arg(long, default_value_t = 0.0)]
    pub read_ratio: f64,
    /// Leader kills in the failover phase (0 skips it).
    #[arg(long, default_value_t = 5)]
    pub kills: usize,
    /// Distinct keys written.
    #[arg(long, default_value_t = 1000)]
    pub keys: usize,
    /// Value size in bytes.
    #[arg(long, default_value_t = 64)]
    pub value_size: usize,
    /// Keep the run dir afterwards (default: removed).
    #[arg(long)]
    pub keep: bool,
    /// JSON output.
    #[arg(long)]
    pub json: bool,
}

/// The percentile `p` (0–100) of sorted samples, in milliseconds.
pub fn percentile_ms(sorted_us: &[u32], p: f64) -> f64 {
    if sorted_us.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted_us.len() as f64).ceil() as usize;
    let i = rank.clamp(1, sorted_us.len()) - 1;
    sorted_us[i] as f64 / 1000.0
}

/// The median of samples (ms).
pub fn median(samples: &[f64]) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let mut v = samples.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Runs the benchmark; returns the exit code.
pub fn run(args: BenchArgs) -> i32 {
    match run_inner(&args) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("wirelab raft bench: {e}");
            2
        }
    }
}

struct Cluster {
    sup: Supervisor,
    dir: PathBuf,
    keep: bool,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.sup.shutdown(Duration::from_secs(1));
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Starts a fresh 3-node cluster for a measurement and waits for a leader.
pub fn start_cluster(name: &str) -> anyhow::Result<(Supervisor, PathBuf)> {
    let cfg = LabConfig::builtin()?;
    let dir = crate::cluster::rundir::new_run_dir(name);
    let sup = lab::launch(&cfg, cfg.topology.nodes, &dir, None)?;
    sup.wait_ready(Duration::from_secs(10))?;
    sup.wait_until(Duration::from_secs(10), "a leader", |n| {
        current_leader(n).is_some()
    })?;
    Ok((sup, dir))
}

/// Client addresses of a supervised cluster.
pub fn addrs_of(sup: &Supervisor) -> anyhow::Result<Vec<(u64, std::net::SocketAddr)>> {
    sup.nodes()
        .iter()
        .map(|n| Ok((n.id, n.addr.parse()?)))
        .collect()
}

fn run_inner(args: &BenchArgs) -> anyhow::Result<()> {
    if args.clients == 0 || args.clients > 10_000 {
        anyhow::bail!("--clients must be between 1 and 10000");
    }
    if !(0.0..=1.0).contains(&args.read_ratio) {
        anyhow::bail!("--read-ratio must be between 0 and 1");
    }
    let (sup, dir) = start_cluster("raft-bench")?;
    let cluster = Cluster {
        sup,
        dir,
        keep: args.keep,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let nodes = addrs_of(&cluster.sup)?;
    if !args.json {
        eprintln!(
            "bench: {} clients, {:?}, read ratio {}, on {} (3 nodes, fdatasync on every commit)",
            args.clients,
            args.duration,
            args.read_ratio,
            cluster.dir.display()
        );
    }
    let auth = ClientAuth::of_run(cluster.sup.run_dir())?;
    let load = rt.block_on(throughput(nodes.clone(), auth, args))?;
    let failovers = if args.kills > 0 {
        if !args.json {
            eprintln!("bench: failover phase, {} leader kills", args.kills);
        }
        rt.block_on(failover_phase(&cluster.sup, nodes, args.kills, args.json))?
    } else {
        Vec::new()
    };
    let mut lat = load.latencies_us;
    lat.sort_unstable();
    let secs = load.elapsed.as_secs_f64();
    let ops_per_sec = load.ok as f64 / secs.max(1e-9);
    let failover_ms = if failovers.is_empty() {
        None
    } else {
        Some(median(&failovers))
    };
    let round = |x: f64| (x * 100.0).round() / 100.0;
    let out = json!({
        "clients": args.clients,
        "ops": load.ok,
        "ops_per_sec": round(ops_per_sec),
        "p50_ms": round(percentile_ms(&lat, 50.0)),
        "p99_ms": round(percentile_ms(&lat, 99.0)),
        "p999_ms": round(percentile_ms(&lat, 99.9)),
        "failover_ms": failover_ms.map(round),
        "failover_samples_ms": failovers.iter().map(|x| round(*x)).collect::<Vec<_>>(),
        "duration_s": round(secs),
        "read_ratio": args.read_ratio,
        "errors": load.errors,
    });
    if args.json {
        println!("{out}");
    } else {
        println!(
            "{} ops in {:.1} s: {:.0} ops/s; latency p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms; {} errors",
            load.ok,
            secs,
            ops_per_sec,
            percentile_ms(&lat, 50.0),
            percentile_ms(&lat, 99.0),
            percentile_ms(&lat, 99.9),
            load.errors
        );
        if let Some(f) = failover_ms {
            println!(
                "failover (SIGKILL of the leader → next committed write): median {f:.0} ms over {} kills {:?}",
                failovers.len(),
                failovers
                    .iter()
                    .map(|x| x.round() as u64)
                    .collect::<Vec<_>>()
            );
        }
    }
    Ok(())
}

struct Load {
    ok: u64,
    errors: u64,
    latencies_us: Vec<u32>,
    elapsed: Duration,
}

async fn throughput(
    nodes: Vec<(u64, std::net::SocketAddr)>,
    auth: ClientAuth,
    args: &BenchArgs,
) -> anyhow::Result<Load> {
    let value = vec![b'x'; args.value_size];
    // Warm up: connect every client and find the leader.
    let mut clients = Vec::new();
    for _ in 0..args.clients {
        let mut c = Client::new(nodes.clone(), auth.clone(), ClientOptions::default());
        c.execute(Op::Get {
            key: "warmup".into(),
        })
        .await?;
        clients.push(c);
    }
    let start = Instant::now();
    let deadline = start + args.duration;
    let mut tasks = Vec::new();
    for (i, mut client) in clients.into_iter().enumerate() {
        let value = value.clone();
        let keys = args.keys.max(1);
        let read_ratio = args.read_ratio;
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(65_536);
            let mut ok = 0u64;
            let mut errors = 0u64;
            let mut n = i as u64;
            while Instant::now() < deadline {
                n = n
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                let key = format!("k{}", (n >> 33) as usize % keys);
                let op =
                    if read_ratio > 0.0 && ((n >> 11) as f64 / (1u64 << 53) as f64) < read_ratio {
                        Op::Get { key }
                    } else {
                        Op::Put {
                            key,
                            value: value.clone(),
                        }
                    };
                let t = Instant::now();
                match client.execute(op).await {
                    Ok(Reply::Error(_)) | Err(_) => errors += 1,
                    Ok(_) => {
                        ok += 1;
                        lat.push(t.elapsed().as_micros().min(u32::MAX as u128) as u32);
                    }
                }
            }
            (ok, errors, lat)
        }));
    }
    let mut load = Load {
        ok: 0,
        errors: 0,
        latencies_us: Vec::new(),
        elapsed: Duration::ZERO,
    };
    for t in tasks {
        let (ok, errors, lat) = t.await?;
        load.ok += ok;
        load.errors += errors;
        load.latencies_us.extend(lat);
    }
    load.elapsed = start.elapsed();
    Ok(load)
}

/// Kills the leader `kills` times; returns each SIGKILL → next committed write delay in ms.
pub async fn failover_phase(
    sup: &Supervisor,
    nodes: Vec<(u64, std::net::SocketAddr)>,
    kills: usize,
    quiet: bool,
) -> anyhow::Result<Vec<f64>> {
    let auth = ClientAuth::of_run(sup.run_dir())?;
    let mut samples = Vec::new();
    for round in 0..kills {
        let s = sup.clone();
        tokio::task::spawn_blocking(move || {
            s.wait_until(
                Duration::from_secs(20),
                "a leader and every node running",
                |n| {
                    current_leader(n).is_some() && n.iter().all(|x| x.status == NodeStatus::Running)
                },
            )
        })
        .await??;
        let leader = current_leader(&sup.nodes()).ok_or_else(|| anyhow::anyhow!("no leader"))?;
        // Writers that keep trying throughout, each recording the first write that it sent
        // after the kill and that was acknowledged.
        let killed_at: Arc<std::sync::Mutex<Option<Instant>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let mut writers = Vec::new();
        for w in 0..4 {
            let nodes = nodes.clone();
            let auth = auth.clone();
            let killed_at = killed_at.clone();
            let stop = stop.clone();
            writers.push(tokio::spawn(async move {
                let mut c = Client::new(
                    nodes,
                    auth,
                    ClientOptions {
                        deadline: Duration::from_secs(10),
                        attempt_timeout: Duration::from_millis(300),
                    },
                );
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    i += 1;
                    let sent = Instant::now();
                    let kill = *killed_at.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
                    let r = c
                        .execute(Op::Put {
                            key: format!("failover-{w}"),
                            value: i.to_string().into_bytes(),
                        })
                        .await;
                    if let (Ok(Reply::Done), Some(k)) = (r, kill)
                        && sent >= k
                    {
                        return anyhow::Ok(Some(Instant::now().duration_since(k)));
                    }
                }
                anyhow::Ok(None)
            }));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        let s = sup.clone();
        let t0 = Instant::now();
        if let Ok(mut k) = killed_at.lock() {
            *k = Some(t0);
        }
        tokio::task::spawn_blocking(move || s.kill(leader)).await??;
        let mut best: Option<Duration> = None;
        for w in writers {
            if let Ok(Ok(Some(d))) = w.await {
                best = Some(best.map_or(d, |b| b.min(d)));
            }
        }
        stop.store(true, Ordering::Relaxed);
        let ms = best
            .ok_or_else(|| anyhow::anyhow!("no write committed after killing leader {leader}"))?
            .as_secs_f64()
            * 1000.0;
        if !quiet {
            eprintln!(
                "  kill {}: leader {leader} SIGKILLed, next write committed after {ms:.0} ms",
                round + 1
            );
        }
        samples.push(ms);
        let s = sup.clone();
        tokio::task::spawn_blocking(move || s.restart(leader)).await??;
    }
    Ok(samples)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let v: Vec<u32> = (1..=100).map(|x| x * 1000).collect();
        assert_eq!(percentile_ms(&v, 50.0), 50.0);
        assert_eq!(percentile_ms(&v, 99.0), 99.0);
        assert_eq!(percentile_ms(&v, 99.9), 100.0);
        assert_eq!(percentile_ms(&[], 50.0), 0.0);
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
    }
}
