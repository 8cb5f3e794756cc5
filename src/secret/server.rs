//! `wirelab node secret-server …`: the courier. It opens its store (the embedded log in its
//! data dir, or Redis), serves the page and the API through forge, sweeps expired secrets each
//! second, appends the access log to `access.log` in its data dir, and reports its counters as
//! `metrics` events and notable moments (created, claimed, expired, tampered) as log lines,
//! which the dashboard's timeline shows.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value, json};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use zeroize::Zeroizing;

use super::api::{self, EventSink, Service, ServiceConfig};
use super::embedded::Embedded;
use super::record::now_secs;
use super::redis::{self as redis_store, RedisStore};
use super::store::Store;
use crate::cluster::event::{
    ControlCommand, Emitter, NodeEvent, NodeRuntime, run_node, watch_stdin,
};
use crate::forge::Server;
use crate::forge::parser::Limits;
use crate::forge::server::ServerConfig;

/// The role's name.
pub const ROLE: &str = "secret-server";
/// The access log's file name in the node's data dir.
pub const ACCESS_LOG: &str = "access.log";

/// Arguments of `wirelab node secret-server`.
#[derive(Debug, Clone, clap::Args)]
pub struct ServerArgs {
    /// Node id.
    #[arg(long, default_value_t = 1)]
    pub id: u64,
    /// Data dir (the embedded store's log and the access log).
    #[arg(long)]
    pub data_dir: PathBuf,
    /// Listen address.
    #[arg(long)]
    pub listen: SocketAddr,
    /// `embedded` or `redis://HOST:PORT`.
    #[arg(long, default_value = "embedded")]
    pub store: String,
    /// The TTL menu, in seconds, comma-separated.
    #[arg(long, default_value = "60,300,3600,86400,604800")]
    pub ttls: String,
    /// Requests per 10 s per client address (0: no limit).
    #[arg(long, default_value_t = 2000)]
    pub rate_limit: u64,
    /// File holding the lab token that opens `/lab/*` (none: those routes are closed).
    #[arg(long)]
    pub lab_token_file: Option<PathBuf>,
    /// Write the access log (to access.log in the data dir).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub access_log: bool,
    /// Period of `metrics` events, in ms.
    #[arg(long, default_value_t = 250)]
    pub report_ms: u64,
    /// How long to keep trying a Redis store that does not answer yet, in seconds (the lab's
    /// own Redis, node 3, may still be loading its append-only file).
    #[arg(long, default_value_t = 0)]
    pub redis_wait: u64,
}

/// Parses a TTL menu (`60,300,3600`).
pub fn parse_ttls(s: &str) -> Result<Vec<u64>, String> {
    let v: Result<Vec<u64>, _> = s.split(',').map(|t| t.trim().parse::<u64>()).collect();
    match v {
        Ok(v) if !v.is_empty() && v.iter().all(|t| (1..=30 * 86_400).contains(t)) => Ok(v),
        _ => Err(format!(
            "bad TTL menu {s:?}: seconds 1..=2592000, comma-separated"
        )),
    }
}

/// Opens the store `spec` names (`embedded` in `data_dir`, or `redis://HOST:PORT`).
pub async fn open_store(
    spec: &str,
    data_dir: &Path,
    redis_wait: Duration,
) -> Result<(Store, String), String> {
    if spec == "embedded" {
        let (e, rec) = Embedded::open(data_dir, now_secs()).map_err(|e| e.to_string())?;
        let note = format!(
            "embedded store {}: {} secret(s) recovered, {} expired while down{}",
            e.path().display(),
            rec.live,
            rec.expired,
            if rec.torn_bytes > 0 {
                format!(", torn tail of {} bytes dropped", rec.torn_bytes)
            } else {
                String::new()
            }
        );
        return Ok((Store::Embedded(e), note));
    }
    let addr = redis_store::parse_url(spec)?;
    let deadline = tokio::time::Instant::now() + redis_wait;
    let r = loop {
        match RedisStore::connect(addr).await {
            Ok(r) => break r,
            Err(e) if tokio::time::Instant::now() >= deadline => {
                return Err(format!("cannot use {spec}: {e}"));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    };
    let live = r.live().await.unwrap_or(0);
    Ok((
        Store::Redis(r),
        format!("redis store {spec}: {live} secret(s) held"),
    ))
}

/// Reads a lab token file.
pub fn read_token(path: &Path) -> Result<Zeroizing<String>, String> {
    let t = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let t = t.trim();
    if t.len() < 32 || t.len() > 256 {
        return Err(format!("{}: not a lab token", path.display()));
    }
    Ok(Zeroizing::new(t.to_string()))
}

/// An access log writer thread appending lines to a file (flushed whenever it catches up).
pub fn access_log_file(path: &Path) -> Result<EventSink, String> {
    let f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::Builder::new()
        .name("access-log".into())
        .spawn(move || {
            let mut w = std::io::BufWriter::new(f);
            while let Ok(line) = rx.recv() {
                let _ = writeln!(w, "{line}");
                while let Ok(more) = rx.try_recv() {
                    let _ = writeln!(w, "{more}");
                }
                let _ = w.flush();
            }
        })
        .map_err(|e| e.to_string())?;
    let tx = std::sync::Mutex::new(tx);
    Ok(Arc::new(move |line: &str| {
        if let Ok(tx) = tx.lock() {
            let _ = tx.send(line.to_string());
        }
    }))
}

/// The forge server settings of the courier (bodies up to 1 MiB reach the app, which answers
/// anything over its own limit with a JSON 413).
pub fn server_config() -> ServerConfig {
    ServerConfig {
        limits: Limits {
            max_body: 1 << 20,
            ..Limits::default()
        },
        max_connections: 4096,
        header_timeout: Duration::from_secs(5),
        drain_idle: Duration::from_millis(200),
        shutdown_grace: Duration::from_secs(3),
        ..ServerConfig::default()
    }
}

/// Runs the node; returns its exit code.
pub fn run_cli(args: ServerArgs) -> i32 {
    run_node(NodeRuntime::MultiThread, |emitter| run(args, emitter))
}

fn fields(svc: &Service, live: usize) -> Map<String, Value> {
    let mut m = svc.stats.to_json();
    m.insert("pid".into(), json!(std::process::id()));
    m.insert("store".into(), json!(svc.store.kind()));
    m.insert("store_detail".into(), json!(svc.store.describe()));
    m.insert("live".into(), json!(live));
    if let Some(l) = svc.store.log_stats() {
        m.insert("log_fsyncs".into(), json!(l.fsyncs));
        m.insert("log_records".into(), json!(l.records));
        m.insert("log_sync_us".into(), json!(l.sync_us));
        m.insert("log_max_batch".into(), json!(l.max_batch));
    }
    m
}

async fn run(args: ServerArgs, emitter: Arc<Emitter>) -> Result<(), String> {
    let (tx, mut commands) = mpsc::unbounded_channel();
    let em = emitter.clone();
    watch_stdin(
        move |cmd| {
            let _ = tx.send(cmd);
        },
        move |e| em.log("warn", e),
    )
    .map_err(|e| format!("cannot watch stdin: {e}"))?;
    let ttls = parse_ttls(&args.ttls)?;
    let (store, note) = open_store(
        &args.store,
        &args.data_dir,
        Duration::from_secs(args.redis_wait.min(600)),
    )
    .await?;
    emitter.log("info", note);
    let lab_token = match &args.lab_token_file {
        Some(p) => Some(read_token(p)?),
        None => None,
    };
    let access_log = if args.access_log {
        Some(access_log_file(&args.data_dir.join(ACCESS_LOG))?)
    } else {
        None
    };
    let em = emitter.clone();
    let events: EventSink = Arc::new(move |msg: &str| em.log("info", msg));
    let svc = Service::new(
        store,
        ServiceConfig {
            ttls,
            rate_limit: args.rate_limit,
            lab_token,
            access_log,
            events: Some(events),
        },
    );
    let server = Server::new(api::app(svc.clone()))
        .on_refusal(Arc::new(api::security_headers))
        .with_config(server_config());
    let listener = crate::cluster::listen_reserved(args.listen)
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
            "one-time secret courier on http://{} (pid {}, store {})",
            args.listen,
            std::process::id(),
            svc.store.describe()
        ),
    );
    let mut tick = tokio::time::interval(Duration::from_millis(args.report_ms.max(10)));
    let mut sweep = tokio::time::interval(Duration::from_secs(1));
    let mut live = svc.store.live().await;
    let mut ticks = 0u64;
    let mut last_state = Map::new();
    loop {
        tokio::select! {
            _ = tick.tick() => {
                ticks += 1;
                if ticks.is_multiple_of(4) {
                    live = svc.store.live().await;
                }
                let f = fields(&svc, live);
                if f != last_state {
                    emitter.emit(&NodeEvent::State { fields: f.clone() });
                    last_state = f.clone();
                }
                emitter.emit(&NodeEvent::Metrics { fields: f });
            }
            _ = sweep.tick() => svc.sweep().await,
            cmd = commands.recv() => match cmd {
                Some(ControlCommand::Report) => {
                    live = svc.store.live().await;
                    emitter.emit(&NodeEvent::State { fields: fields(&svc, live) });
                }
                Some(ControlCommand::Shutdown) | None => break,
                Some(ControlCommand::Faults { .. }) => {
                    emitter.log("warn", "fault rules do not apply to the secret server");
                }
                Some(ControlCommand::Lab { action, .. }) => {
                    emitter.log("warn", format!("no lab action {action:?} on the secret server"));
                }
            },
        }
    }
    shutdown.cancel();
    let _ = serving.await;
    Ok(())
}
