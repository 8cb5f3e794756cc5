//! `wirelab forge bench`: the portfolio's throughput claim, re-measured without any outside
//! tool. The lab's server node (the demo app of `wirelab forge serve`, a separate process under
//! the supervisor) answers `connections` keep-alive clients of the lab's load engine, driven
//! from this process on one thread (as `wrk -t1` would), for a warm-up and then `duration`.
//!
//! Figures: requests and errors during the measured window, req/s, p50/p90/p99/max latency
//! from a fixed-size log histogram (5 % resolution), and the server's peak RSS. For a race
//! against nginx with wrk, see `benches/forge_vs_nginx.sh`.

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use serde_json::{Value, json};

use super::load::{LoadRun, LoadStats};
use super::{LabConfig, SERVER, node_specs};
use crate::cluster::{self, Supervisor};

/// `wirelab forge bench` options.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Keep-alive connections.
    #[arg(long, default_value_t = 64)]
    pub connections: usize,
    /// How long to measure (after a one-second warm-up), e.g. `10s`, `500ms`.
    #[arg(long, default_value = "10s", value_parser = crate::lab::args::parse_duration)]
    pub duration: Duration,
    /// Request path on the demo app.
    #[arg(long, default_value = "/")]
    pub path: String,
    /// One JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Runs the bench from the command line; returns the exit code.
pub fn run(args: BenchArgs) -> i32 {
    match run_with(args, &mut std::io::stdout()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("forge bench: {}", crate::error_chain(&e));
            2
        }
    }
}

/// Runs the bench, writing its report to `out`: 0 when every request was answered, 1 if some
/// were not.
pub fn run_with(args: BenchArgs, out: &mut dyn Write) -> anyhow::Result<i32> {
    let v = bench(&args)?;
    if args.json {
        writeln!(out, "{v}")?;
    } else {
        let ms = |k: &str| v[k].as_f64().unwrap_or(0.0);
        writeln!(
            out,
            "forge bench: {} connections, {:.1} s: {:.0} req/s, p50 {:.2} ms, p90 {:.2} ms, \
             p99 {:.2} ms, max {:.2} ms, {} errors; server peak RSS {} KiB",
            v["connections"],
            ms("seconds"),
            ms("rps"),
            ms("p50_ms"),
            ms("p90_ms"),
            ms("p99_ms"),
            ms("max_ms"),
            v["errors"],
            v["server_peak_rss_kb"]
        )?;
    }
    Ok(if v["errors"].as_u64() == Some(0) {
        0
    } else {
        1
    })
}

fn bench(args: &BenchArgs) -> anyhow::Result<Value> {
    if args.duration.is_zero() {
        anyhow::bail!("--duration must be more than zero");
    }
    if !args.path.starts_with('/') || args.path.bytes().any(|b| b <= b' ' || b == 0x7f) {
        anyhow::bail!("--path must start with / and hold no spaces or control characters");
    }
    let cfg = LabConfig::builtin()?;
    let addr = *cluster::free_loopback_addrs(1)?
        .first()
        .ok_or_else(|| anyhow::anyhow!("cannot allocate a port"))?;
    let specs: Vec<_> = node_specs(&cfg, addr)
        .into_iter()
        .filter(|s| s.id == SERVER)
        .collect();
    let dir = crate::cluster::rundir::ScratchDir::new("forge-bench");
    let sup = Supervisor::launch("forge-bench", dir.path(), specs)?;
    let result = measure(&sup, addr, args);
    sup.shutdown(Duration::from_secs(2));
    result
}

fn measure(
    sup: &Supervisor,
    addr: std::net::SocketAddr,
    args: &BenchArgs,
) -> anyhow::Result<Value> {
    sup.wait_ready(Duration::from_secs(10))?;
    let server_pid = sup
        .nodes()
        .iter()
        .find(|n| n.id == SERVER)
        .and_then(|n| n.pid)
        .ok_or_else(|| anyhow::anyhow!("the server node has no pid"))?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let stats = Arc::new(LoadStats::default());
    let (seconds, before, after, window) = rt.block_on(async {
        let run = LoadRun::start(addr, &args.path, args.connections, stats.clone());
        tokio::time::sleep(Duration::from_secs(1)).await;
        let before = stats.snapshot();
        stats.take_window();
        let started = Instant::now();
        tokio::time::sleep(args.duration).await;
        let window = stats.take_window();
        let after = stats.snapshot();
        let seconds = started.elapsed().as_secs_f64();
        run.stop().await;
        (seconds, before, after, window)
    });
    let requests = after.requests - before.requests;
    let errors = after.errors - before.errors;
    if requests == 0 {
        anyhow::bail!(
            "no request was answered ({})",
            after.last_error.as_deref().unwrap_or("no error recorded")
        );
    }
    let ms = |q: f64| (window.quantile(q).as_secs_f64() * 1e5).round() / 100.0;
    let statuses: serde_json::Map<String, Value> = after
        .statuses
        .iter()
        .map(|(s, n)| {
            (
                s.to_string(),
                json!(n - before.statuses.get(s).unwrap_or(&0)),
            )
        })
        .collect();
    Ok(json!({
        "bench": "forge",
        "connections": args.connections.clamp(1, super::load::MAX_CONNECTIONS),
        "path": args.path,
        "seconds": (seconds * 100.0).round() / 100.0,
        "requests": requests,
        "errors": errors,
        "rps": (requests as f64 / seconds).round(),
        "p50_ms": ms(0.50),
        "p90_ms": ms(0.90),
        "p99_ms": ms(0.99),
        "max_ms": ms(1.0),
        "statuses": statuses,
        "server_peak_rss_kb": crate::cluster::procstat::peak_rss_kb(server_pid),
        "cores": std::thread::available_parallelism().map_or(1, |n| n.get()),
    }))
}
