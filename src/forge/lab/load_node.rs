//! `wirelab node forge-load …`: the lab's load generator. Idle until told
//! `{"cmd":"lab","action":"start","args":{"connections":16,"path":"/"}}`; then `connections`
//! keep-alive clients hammer the server until `{"cmd":"lab","action":"stop"}`. While running
//! it emits a `metrics` event every `report_ms`: req/s and p50/p99 latency over that window,
//! and cumulative requests, status codes, errors and open connections.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};
use tokio::sync::mpsc;

use super::load::{LoadRun, LoadStats, MAX_CONNECTIONS};
use crate::cluster::event::{
    ControlCommand, Emitter, NodeEvent, NodeRuntime, run_node, watch_stdin,
};

/// The role's name: the supervisor starts this node as `wirelab node forge-load …`.
pub const ROLE: &str = "forge-load";

/// Arguments of `wirelab node forge-load`.
#[derive(Debug, Clone, clap::Args)]
pub struct LoadNodeArgs {
    /// Node id.
    #[arg(long)]
    pub id: u64,
    /// Data dir (unused).
    #[arg(long)]
    pub data_dir: PathBuf,
    /// The server to load.
    #[arg(long)]
    pub target: SocketAddr,
    /// Default request path.
    #[arg(long, default_value = "/")]
    pub path: String,
    /// Default connection count.
    #[arg(long, default_value_t = 16)]
    pub connections: usize,
    /// Period of `metrics` events, in ms.
    #[arg(long, default_value_t = 250)]
    pub report_ms: u64,
}

/// Runs the node; returns the exit code.
pub fn run_cli(args: LoadNodeArgs) -> i32 {
    run_node(NodeRuntime::MultiThread, |emitter| run(args, emitter))
}

/// Whether `path` is a request target the load generator may put on a request line.
fn valid_path(path: &str) -> bool {
    path.starts_with('/') && path.len() <= 2048 && path.bytes().all(|b| b.is_ascii_graphic())
}

/// The latest window's figures.
#[derive(Default, Clone, Copy)]
struct Window {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
}

fn fields(stats: &LoadStats, running: Option<&LoadRun>, w: Window) -> Map<String, Value> {
    let s = stats.snapshot();
    let status: Map<String, Value> = s
        .statuses
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    let round = |x: f64| (x * 1000.0).round() / 1000.0;
    let mut m = Map::new();
    m.insert("running".into(), json!(running.is_some()));
    m.insert(
        "connections".into(),
        json!(running.map_or(0, |r| r.connections)),
    );
    m.insert("rps".into(), json!(w.rps.round()));
    m.insert("p50_ms".into(), json!(round(w.p50_ms)));
    m.insert("p99_ms".into(), json!(round(w.p99_ms)));
    m.insert("requests".into(), json!(s.requests));
    m.insert("errors".into(), json!(s.errors));
    m.insert("open".into(), json!(s.open));
    m.insert("status".into(), Value::Object(status));
    m.insert("last_error".into(), json!(s.last_error));
    m
}

async fn run(args: LoadNodeArgs, emitter: Arc<Emitter>) -> Result<(), String> {
    let (tx, mut commands) = mpsc::unbounded_channel();
    let em = emitter.clone();
    watch_stdin(
        move |cmd| {
            let _ = tx.send(cmd);
        },
        move |e| em.log("warn", e),
    )
    .map_err(|e| format!("cannot watch stdin: {e}"))?;
    let stats = Arc::new(LoadStats::default());
    let mut running: Option<LoadRun> = None;
    let mut window = Window::default();
    let mut window_start = Instant::now();
    emitter.emit(&NodeEvent::Ready {
        addr: "-".into(),
        http: None,
    });
    emitter.log(
        "info",
        format!("load generator for http://{} ready (idle)", args.target),
    );
    let mut tick = tokio::time::interval(Duration::from_millis(args.report_ms.max(10)));
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let h = stats.take_window();
                let secs = window_start.elapsed().as_secs_f64().max(1e-3);
                window_start = Instant::now();
                window = Window {
                    rps: h.count() as f64 / secs,
                    p50_ms: h.quantile(0.5).as_secs_f64() * 1e3,
                    p99_ms: h.quantile(0.99).as_secs_f64() * 1e3,
                };
                if running.is_some() {
                    emitter.emit(&NodeEvent::Metrics { fields: fields(&stats, running.as_ref(), window) });
                }
            }
            cmd = commands.recv() => match cmd {
                Some(ControlCommand::Report) => {
                    emitter.emit(&NodeEvent::State { fields: fields(&stats, running.as_ref(), window) });
                }
                Some(ControlCommand::Lab { action, args: a }) if action == "start" => {
                    let connections = a
                        .get("connections")
                        .and_then(Value::as_u64)
                        .map_or(args.connections, |n| n as usize);
                    let path = a.get("path").and_then(Value::as_str).unwrap_or(&args.path).to_string();
                    if connections == 0 || connections > MAX_CONNECTIONS || !valid_path(&path) {
                        emitter.log("error", format!(
                            "load start refused: connections must be 1..={MAX_CONNECTIONS} and the path an absolute request target (got {connections}, {path:?})"
                        ));
                        continue;
                    }
                    if let Some(r) = running.take() {
                        r.stop().await;
                    }
                    running = Some(LoadRun::start(args.target, &path, connections, stats.clone()));
                    emitter.log("info", format!("load started: {connections} keep-alive connections, GET {path}"));
                    emitter.emit(&NodeEvent::State { fields: fields(&stats, running.as_ref(), window) });
                }
                Some(ControlCommand::Lab { action, .. }) if action == "stop" => {
                    if let Some(r) = running.take() {
                        r.stop().await;
                        emitter.log("info", "load stopped");
                    }
                    emitter.emit(&NodeEvent::Metrics { fields: fields(&stats, None, window) });
                    emitter.emit(&NodeEvent::State { fields: fields(&stats, None, window) });
                }
                Some(ControlCommand::Lab { action, .. }) => {
                    emitter.log("warn", format!("no lab action {action:?} on the load generator (start, stop)"));
                }
                Some(ControlCommand::Faults { .. }) => {
                    emitter.log("warn", "fault rules do not apply to the load generator");
                }
                Some(ControlCommand::Shutdown) | None => break,
            },
        }
    }
    if let Some(r) = running.take() {
        r.stop().await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_paths_are_checked_before_they_reach_a_request_line() {
        assert!(valid_path("/"));
        assert!(valid_path("/echo?x=1"));
        assert!(!valid_path("echo"));
        assert!(!valid_path("/a b"));
        assert!(!valid_path("/a\r\nX: y"));
    }
}
