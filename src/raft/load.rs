//! `raft load start|stop|status`: a background write workload against the cluster this process
//! hosts, with live per-second throughput and latency that the dashboard charts.
//!
//! Each client writes its own keys one at a time, so for every key the acknowledged values form
//! a sequence; `raft load stop` reads every key back and checks that it holds its last
//! acknowledged value (or a later write whose outcome was unknown): "no acknowledged write lost".

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::bench::percentile_ms;
use super::client::{Client, ClientAuth, ClientOptions};
use super::codec::{Op, Reply};

/// How many one-second buckets the metrics keep.
pub const HISTORY_SECONDS: usize = 180;

/// One second of the workload.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LoadSecond {
    /// Acknowledged writes in that second.
    pub writes: u64,
    /// Writes with an unknown outcome (timed out across a failover).
    pub unknown: u64,
    /// Median latency of the acknowledged writes, ms.
    pub p50_ms: f64,
    /// 99th percentile latency, ms.
    pub p99_ms: f64,
}

/// The workload's metrics as the dashboard reads them.
#[derive(Clone, Debug, Default)]
pub struct LoadSnapshot {
    /// Whether the workload runs.
    pub running: bool,
    /// Clients.
    pub clients: usize,
    /// Acknowledged writes in total.
    pub acked: u64,
    /// Writes with an unknown outcome in total.
    pub unknown: u64,
    /// Completed seconds, oldest first.
    pub seconds: Vec<LoadSecond>,
}

/// Per key: the last acknowledged value and the values written after it with unknown outcome.
type Receipts = BTreeMap<String, (Option<String>, Vec<String>)>;

#[derive(Default)]
struct Metrics {
    acked: u64,
    unknown: u64,
    current_us: Vec<u32>,
    current_unknown: u64,
    seconds: VecDeque<LoadSecond>,
    receipts: Receipts,
}

impl Metrics {
    fn roll(&mut self) {
        let mut lat = std::mem::take(&mut self.current_us);
        lat.sort_unstable();
        self.seconds.push_back(LoadSecond {
            writes: lat.len() as u64,
            unknown: std::mem::take(&mut self.current_unknown),
            p50_ms: percentile_ms(&lat, 50.0),
            p99_ms: percentile_ms(&lat, 99.0),
        });
        while self.seconds.len() > HISTORY_SECONDS {
            self.seconds.pop_front();
        }
    }
}

struct Workload {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    clients: usize,
    addrs: Vec<(u64, SocketAddr)>,
    auth: ClientAuth,
}

struct Registry {
    workload: Option<Workload>,
    metrics: Arc<Mutex<Metrics>>,
}

fn registry() -> MutexGuard<'static, Registry> {
    static REG: OnceLock<Mutex<Registry>> = OnceLock::new();
    let m = REG.get_or_init(|| {
        Mutex::new(Registry {
            workload: None,
            metrics: Arc::default(),
        })
    });
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

fn lock(m: &Mutex<Metrics>) -> MutexGuard<'_, Metrics> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

/// The current metrics (also after the workload stopped, until the next start).
pub fn snapshot() -> LoadSnapshot {
    let reg = registry();
    let m = lock(&reg.metrics);
    LoadSnapshot {
        running: reg.workload.is_some(),
        clients: reg.workload.as_ref().map_or(0, |w| w.clients),
        acked: m.acked,
        unknown: m.unknown,
        seconds: m.seconds.iter().cloned().collect(),
    }
}

/// Starts `clients` writers against `addrs` with the run's credentials `auth`; a text line
/// for the user.
pub fn start(
    addrs: Vec<(u64, SocketAddr)>,
    auth: ClientAuth,
    clients: usize,
) -> anyhow::Result<String> {
    if clients == 0 || clients > 256 {
        anyhow::bail!("--clients must be between 1 and 256");
    }
    let mut reg = registry();
    // Idempotent (the tour may step back and run a step again): a second start leaves the
    // running workload as it is and says so.
    if let Some(w) = &reg.workload {
        return Ok(format!(
            "a workload already runs: {} clients writing (`raft load stop` stops it)",
            w.clients
        ));
    }
    reg.metrics = Arc::default();
    let metrics = reg.metrics.clone();
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let addrs2 = addrs.clone();
    let auth2 = auth.clone();
    let thread = std::thread::Builder::new()
        .name("raft-load".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(_) => return,
            };
            rt.block_on(drive(addrs2, auth2, clients, metrics, stop2));
        })?;
    reg.workload = Some(Workload {
        stop,
        thread: Some(thread),
        clients,
        addrs,
        auth,
    });
    Ok(format!("workload started: {clients} clients writing"))
}

async fn drive(
    addrs: Vec<(u64, SocketAddr)>,
    auth: ClientAuth,
    clients: usize,
    metrics: Arc<Mutex<Metrics>>,
    stop: Arc<AtomicBool>,
) {
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (addrs, metrics, stop) = (addrs.clone(), metrics.clone(), stop.clone());
        let auth = auth.clone();
        tasks.push(tokio::spawn(async move {
            let mut client = Client::new(addrs, auth, ClientOptions::default());
            let mut i: u64 = 0;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                let key = format!("load-{c}-{}", i % 16);
                let value = format!("{c}.{i}");
                let t = Instant::now();
                let r = client
                    .execute(Op::Put {
                        key: key.clone(),
                        value: value.clone().into_bytes(),
                    })
                    .await;
                let acked = {
                    let mut m = lock(&metrics);
                    let entry = m.receipts.entry(key).or_default();
                    if let Ok(Reply::Done) = r {
                        *entry = (Some(value), Vec::new());
                        m.acked += 1;
                        let us = t.elapsed().as_micros().min(u32::MAX as u128) as u32;
                        m.current_us.push(us);
                        true
                    } else {
                        entry.1.push(value);
                        m.unknown += 1;
                        m.current_unknown += 1;
                        false
                    }
                };
                if !acked {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }));
    }
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    while !stop.load(Ordering::Relaxed) {
        tokio::select! {
            _ = tick.tick() => lock(&metrics).roll(),
            _ = tokio::time::sleep(Duration::from_millis(50)) => {}
        }
    }
    for t in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(6), t).await;
    }
}

/// Stops the workload, then reads every key it wrote and checks that no acknowledged write was
/// lost. Returns the report lines and whether every write is intact.
pub fn stop() -> anyhow::Result<(String, bool)> {
    let (wl, metrics) = {
        let mut reg = registry();
        (reg.workload.take(), reg.metrics.clone())
    };
    let Some(mut wl) = wl else {
        // Idempotent like start: nothing runs, nothing is lost.
        return Ok((
            "no workload was running (start one with `raft load start`)\n".to_string(),
            true,
        ));
    };
    wl.stop.store(true, Ordering::Relaxed);
    if let Some(t) = wl.thread.take() {
        let _ = t.join();
    }
    let receipts = lock(&metrics).receipts.clone();
    let (acked, unknown) = {
        let m = lock(&metrics);
        (m.acked, m.unknown)
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let lost = rt.block_on(verify(wl.addrs.clone(), wl.auth.clone(), &receipts))?;
    let mut text =
        format!("workload stopped: {acked} writes acknowledged, {unknown} with unknown outcome\n");
    let ok = lost.is_empty();
    if ok {
        text.push_str(&format!(
            "read back {} keys: every acknowledged write is intact\n",
            receipts.len()
        ));
    } else {
        text.push_str(&format!("LOST acknowledged writes: {}\n", lost.join(", ")));
    }
    Ok((text, ok))
}

async fn verify(
    addrs: Vec<(u64, SocketAddr)>,
    auth: ClientAuth,
    receipts: &Receipts,
) -> anyhow::Result<Vec<String>> {
    let mut client = Client::new(addrs, auth, ClientOptions::default());
    let mut lost = Vec::new();
    for (key, (acked, later)) in receipts {
        let Some(acked) = acked else { continue };
        let got = match client.execute(Op::Get { key: key.clone() }).await {
            Ok(Reply::Value(v)) => v.map(|b| String::from_utf8_lossy(&b).into_owned()),
            Ok(other) => anyhow::bail!("unexpected reply to get {key}: {other:?}"),
            Err(e) => anyhow::bail!("could not read {key} back: {e}"),
        };
        let fine = got.as_ref() == Some(acked) || got.as_ref().is_some_and(|g| later.contains(g));
        if !fine {
            lost.push(format!("{key}={acked} (read {got:?})"));
        }
    }
    Ok(lost)
}

/// A status line for `raft load status`.
pub fn status_text() -> String {
    let s = snapshot();
    let last = s.seconds.last().cloned().unwrap_or_default();
    if s.running {
        format!(
            "workload running: {} clients, {} acked, {} unknown; last second {} writes/s, p50 {:.1} ms, p99 {:.1} ms\n",
            s.clients, s.acked, s.unknown, last.writes, last.p50_ms, last.p99_ms
        )
    } else {
        "no workload runs (start one with `raft load start`)\n".to_string()
    }
}

/// Stops the workload without checking (the cluster is going away).
pub fn abandon() {
    let wl = registry().workload.take();
    if let Some(mut wl) = wl {
        wl.stop.store(true, Ordering::Relaxed);
        if let Some(t) = wl.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_rolls_into_percentiles() {
        let mut m = Metrics {
            current_us: vec![1000, 2000, 3000],
            ..Default::default()
        };
        m.roll();
        assert_eq!(m.seconds.len(), 1);
        assert_eq!(m.seconds[0].writes, 3);
        assert!(m.current_us.is_empty());
    }

    #[test]
    fn stop_without_a_workload_says_so_and_succeeds() {
        let (text, ok) = stop().expect("idempotent");
        assert!(ok && text.contains("no workload was running"), "{text}");
    }
}
