//! `kdc bench`: TGS issuance throughput and latency on the running lab, with N concurrent
//! clients (each its own connections), then a single-key Ed25519 issuer in the same run (the
//! same request checks at one authority, one round trip, one ordinary signature), and the
//! threshold's cost as a ratio.

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use serde_json::{Value, json};

use super::cli::{connect, locate, tgt_for};
use super::client::Kdc;
use super::proto::{Request, Response, hex};
use crate::lab::VerbCtx;
use crate::lab::args::{RunDirArg, parse_duration};

/// Commitments a bench client fetches ahead from each authority.
pub const PREPROCESSED: u32 = 32;

/// `kdc bench` arguments.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Concurrent clients.
    #[arg(long, default_value_t = 8)]
    pub clients: usize,
    /// How long each phase runs.
    #[arg(long, default_value = "3s", value_parser = parse_duration)]
    pub duration: Duration,
    /// One JSON object.
    #[arg(long)]
    pub json: bool,
    /// SIGKILL this authority during the threshold phase (halfway through): requests still
    /// succeed with the other two; failures are counted.
    #[arg(long)]
    pub kill: Option<u64>,
    /// Commit and sign on the network for every ticket (FROST's two rounds), instead of
    /// taking commitments the authorities preprocessed in batches (one round per ticket).
    #[arg(long)]
    pub two_rounds: bool,
    /// Run dir.
    #[command(flatten)]
    pub run: RunDirArg,
}

struct Phase {
    latencies: Vec<Duration>,
    failed: u64,
    first_error: Option<String>,
    elapsed: Duration,
}

fn summarize(p: &mut Phase) -> Value {
    p.latencies.sort();
    let q = |f: f64| -> f64 {
        if p.latencies.is_empty() {
            return 0.0;
        }
        let i = ((p.latencies.len() as f64 - 1.0) * f).round() as usize;
        p.latencies[i].as_secs_f64() * 1e3
    };
    let n = p.latencies.len() as f64;
    json!({
        "tickets": p.latencies.len(),
        "failed": p.failed,
        "tickets_per_sec": (n / p.elapsed.as_secs_f64().max(1e-9)).round(),
        "p50_ms": (q(0.50) * 1000.0).round() / 1000.0,
        "p99_ms": (q(0.99) * 1000.0).round() / 1000.0,
        "first_error": p.first_error,
    })
}

/// Runs the bench on the lab `args.run` names.
pub fn run(cx: &mut VerbCtx<'_>, args: BenchArgs) -> anyhow::Result<i32> {
    let l = Arc::new(locate(cx, &args.run)?);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let clients = args.clients.clamp(1, 256);
    let duration = args.duration;
    let kill = args.kill;
    let two_rounds = args.two_rounds;
    let dir = l.dir.clone();
    let result = rt.block_on(async move {
        let mut first = connect(&l).await?;
        let tgt = Arc::new(tgt_for(&mut first, &l.dir, "alice").await?);
        let mut phases = Vec::new();
        for single in [false, true] {
            let start = Instant::now();
            let deadline = start + duration;
            let mut tasks = Vec::new();
            if let (Some(node), false) = (kill, single) {
                let dir = dir.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(duration / 2).await;
                    let _ = tokio::task::spawn_blocking(move || {
                        crate::cluster::control::request(
                            &dir,
                            super::cli::NAME,
                            &crate::cluster::control::ControlRequest::Kill { node },
                        )
                    })
                    .await;
                });
            }
            for c in 0..clients {
                let l = l.clone();
                let tgt = tgt.clone();
                tasks.push(tokio::spawn(async move {
                    let mut kdc = connect(&l).await?;
                    // Preprocessed commitments (one network round per ticket), and no outcome
                    // messages: the bench measures issuance.
                    kdc.batch = if two_rounds { 1 } else { PREPROCESSED };
                    kdc.report = false;
                    let mut ids = kdc.ids();
                    let mut lat = Vec::new();
                    let mut failed = 0u64;
                    let mut first_error = None;
                    let mut k = c;
                    while Instant::now() < deadline {
                        let t0 = Instant::now();
                        let r = if single {
                            k += 1;
                            let id = ids[k % ids.len()];
                            let r = single_issue(&mut kdc, &tgt, id).await;
                            if r.as_ref().is_err_and(|e| e.starts_with("cannot connect"))
                                && ids.len() > 1
                            {
                                ids.retain(|i| *i != id);
                            }
                            r
                        } else {
                            kdc.service_ticket(&tgt, "files", 3600).await.map(|_| ())
                        };
                        match r {
                            Ok(()) => lat.push(t0.elapsed()),
                            Err(e) => {
                                failed += 1;
                                first_error.get_or_insert(e);
                            }
                        }
                    }
                    Ok::<_, String>((lat, failed, first_error))
                }));
            }
            let mut phase = Phase {
                latencies: Vec::new(),
                failed: 0,
                first_error: None,
                elapsed: Duration::ZERO,
            };
            for t in tasks {
                let (lat, failed, err) = t.await.map_err(|e| e.to_string())??;
                phase.latencies.extend(lat);
                phase.failed += failed;
                if phase.first_error.is_none() {
                    phase.first_error = err;
                }
            }
            phase.elapsed = start.elapsed();
            phases.push(phase);
        }
        Ok::<_, String>(phases)
    });
    let mut phases = match result {
        Ok(p) => p,
        Err(e) => {
            writeln!(cx.err, "kdc: bench: {e}")?;
            return Ok(1);
        }
    };
    let thr = summarize(&mut phases[0]);
    let single = summarize(&mut phases[1]);
    let ratio = single["tickets_per_sec"].as_f64().unwrap_or(0.0)
        / thr["tickets_per_sec"].as_f64().unwrap_or(0.0).max(1.0);
    let v = json!({
        "killed_during_threshold_phase": args.kill,
        "network_rounds_per_ticket": if args.two_rounds { 2 } else { 1 },
        "clients": clients,
        "duration_s": duration.as_secs_f64(),
        "threshold_2_of_3": thr,
        "single_key": single,
        "single_over_threshold_throughput": (ratio * 100.0).round() / 100.0,
    });
    if args.json {
        writeln!(cx.out, "{v}")?;
    } else {
        writeln!(
            cx.out,
            "2-of-3 FROST TGS issuance ({}), {clients} clients, {:.0}s: {} tickets/s, p50 {} ms, p99 {} ms, {} failed\nsingle-key Ed25519 issuer, same checks:     {} tickets/s, p50 {} ms, p99 {} ms\nthe threshold costs {:.2}x in throughput",
            if args.two_rounds {
                "two network rounds"
            } else {
                "one network round, commitments preprocessed"
            },
            duration.as_secs_f64(),
            thr["tickets_per_sec"],
            thr["p50_ms"],
            thr["p99_ms"],
            thr["failed"],
            single["tickets_per_sec"],
            single["p50_ms"],
            single["p99_ms"],
            ratio
        )?;
    }
    Ok(0)
}

async fn single_issue(kdc: &mut Kdc, tgt: &super::client::Tgt, id: u64) -> Result<(), String> {
    let t = super::proto::Ticket::decode(&tgt.issued.ticket).map_err(|e| e.to_string())?;
    let (bytes, _key) = kdc.propose_service_ticket(&t.client, "files", 3600, t.end)?;
    let request = Kdc::tgs_request(tgt, &bytes);
    match kdc
        .call(
            id,
            &Request::SingleSign {
                ticket: hex(&bytes),
                request,
            },
        )
        .await?
    {
        Response::Signed { .. } => Ok(()),
        Response::Refused { reason } => Err(reason),
        other => Err(format!("{other:?}")),
    }
}
