//! `wirelab node forge-server …`: the demo app of `wirelab forge serve` as a lab member.
//!
//! It binds its port with `SO_REUSEPORT`, so a second incarnation can start beside it during a
//! reload; on `shutdown` it closes its listener, lets idle keep-alive connections ask one more
//! request (answered with `Connection: close`), drains in-flight requests and exits. Every
//! `report_ms` it emits a `metrics` event: requests by status (requests the parser refused
//! included, and those alone under `rejected`), open connections and its pid.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::cluster::event::{
    ControlCommand, Emitter, NodeEvent, NodeRuntime, run_node, watch_stdin,
};
use crate::forge::Server;
use crate::forge::demo::{DemoOptions, demo_app};
use crate::forge::layers::Metrics;
use crate::forge::server::{ServerConfig, bind_reuseport};

/// The role's name: the supervisor starts this node as `wirelab node forge-server …`.
pub const ROLE: &str = "forge-server";

/// Arguments of `wirelab node forge-server`.
#[derive(Debug, Clone, clap::Args)]
pub struct ServerNodeArgs {
    /// Node id.
    #[arg(long)]
    pub id: u64,
    /// Data dir (unused: the demo app keeps no state).
    #[arg(long)]
    pub data_dir: PathBuf,
    /// Listen address (bound with SO_REUSEPORT).
    #[arg(long)]
    pub listen: SocketAddr,
    /// Header read timeout in ms (slowloris guard).
    #[arg(long, default_value_t = 2000)]
    pub header_timeout_ms: u64,
    /// On shutdown, how long idle keep-alive connections may still send one request, in ms.
    #[arg(long, default_value_t = 500)]
    pub drain_idle_ms: u64,
    /// On shutdown, how long in-flight requests may take, in ms.
    #[arg(long, default_value_t = 5000)]
    pub grace_ms: u64,
    /// Most concurrent connections.
    #[arg(long, default_value_t = 1024)]
    pub max_connections: usize,
    /// Period of `metrics` events, in ms.
    #[arg(long, default_value_t = 250)]
    pub report_ms: u64,
}

/// Runs the node; returns the exit code.
pub fn run_cli(args: ServerNodeArgs) -> i32 {
    run_node(NodeRuntime::MultiThread, |emitter| run(args, emitter))
}

/// The fields of the server's `metrics` and `state` events.
fn fields(metrics: &Metrics, draining: bool) -> Map<String, Value> {
    let statuses = metrics.counts_by_status();
    let total: u64 = statuses.values().sum();
    let by_status: Map<String, Value> = statuses
        .iter()
        .map(|(s, n)| (s.to_string(), json!(n)))
        .collect();
    let rejected: Map<String, Value> = metrics
        .rejections_by_status()
        .iter()
        .map(|(s, n)| (s.to_string(), json!(n)))
        .collect();
    let mut m = Map::new();
    m.insert("pid".into(), json!(std::process::id()));
    m.insert("rejected".into(), Value::Object(rejected));
    m.insert("requests".into(), json!(total));
    m.insert("status".into(), Value::Object(by_status));
    m.insert("open_connections".into(), json!(metrics.open_connections()));
    m.insert("draining".into(), json!(draining));
    m
}

async fn run(args: ServerNodeArgs, emitter: Arc<Emitter>) -> Result<(), String> {
    let (tx, mut commands) = mpsc::unbounded_channel();
    let em = emitter.clone();
    watch_stdin(
        move |cmd| {
            let _ = tx.send(cmd);
        },
        move |e| em.log("warn", e),
    )
    .map_err(|e| format!("cannot watch stdin: {e}"))?;
    let opts = DemoOptions {
        root: None,
        jwt_secret: rand::random::<[u8; 32]>().to_vec(),
        access_log: false,
        tick: Duration::from_secs(1),
    };
    let (app, metrics) = demo_app(&opts).map_err(|e| format!("cannot build the demo app: {e}"))?;
    let config = ServerConfig {
        max_connections: args.max_connections.max(1),
        header_timeout: Duration::from_millis(args.header_timeout_ms.max(1)),
        shutdown_grace: Duration::from_millis(args.grace_ms),
        drain_idle: Duration::from_millis(args.drain_idle_ms),
        ..ServerConfig::default()
    };
    let recorder = metrics.clone();
    let server = Server::new(app)
        .with_config(config)
        .with_connection_gauge(metrics.connection_gauge())
        .on_reject(Arc::new(move |status| recorder.record_rejection(status)));
    let listener = bind_reuseport(args.listen)
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    let shutdown = CancellationToken::new();
    let serving = tokio::spawn(server.serve(listener, shutdown.clone()));
    emitter.emit(&NodeEvent::Ready {
        addr: args.listen.to_string(),
        http: Some(args.listen.to_string()),
    });
    emitter.log(
        "info",
        format!(
            "serving the forge demo app on http://{} (pid {}, header timeout {} ms)",
            args.listen,
            std::process::id(),
            args.header_timeout_ms
        ),
    );
    let mut tick = tokio::time::interval(Duration::from_millis(args.report_ms.max(10)));
    loop {
        tokio::select! {
            _ = tick.tick() => emitter.emit(&NodeEvent::Metrics { fields: fields(&metrics, false) }),
            cmd = commands.recv() => match cmd {
                Some(ControlCommand::Report) => {
                    emitter.emit(&NodeEvent::State { fields: fields(&metrics, false) });
                }
                Some(ControlCommand::Shutdown) | None => break,
                Some(ControlCommand::Faults { .. }) => {
                    emitter.log("warn", "fault rules do not apply to the forge server");
                }
                Some(ControlCommand::Lab { action, .. }) => {
                    emitter.log("warn", format!("no lab action {action:?} on the forge server"));
                }
            },
        }
    }
    emitter.log(
        "info",
        "shutting down: listener closed, draining keep-alive and in-flight requests",
    );
    emitter.emit(&NodeEvent::State {
        fields: fields(&metrics, true),
    });
    let started = Instant::now();
    shutdown.cancel();
    match serving.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => emitter.log("error", format!("server: {e}")),
        Err(e) => emitter.log("error", format!("server task: {e}")),
    }
    emitter.emit(&NodeEvent::Metrics {
        fields: fields(&metrics, true),
    });
    emitter.log(
        "info",
        format!(
            "drained in {} ms after {} requests",
            started.elapsed().as_millis(),
            metrics.counts_by_status().values().sum::<u64>()
        ),
    );
    Ok(())
}
