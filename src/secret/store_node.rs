//! `wirelab node secret-redis`: node 3 of a `secret up --store redis` lab, a real
//! `redis-server` run as a supervised node so that the store can be killed, paused and
//! restarted like the courier.
//!
//! The node starts `redis-server` as its child with the durability the embedded store has
//! (`appendonly yes`, `appendfsync always`: every write is fsynced to the append-only file
//! before Redis answers it; no RDB snapshots), its files in the node's data dir, bound to the
//! node's loopback address. The child dies with the node (`PR_SET_PDEATHSIG`), so a SIGKILL of
//! node 3 kills Redis without a chance to flush anything more: what survives is what Redis
//! fsynced, which is everything it acknowledged. The supervisor signals a node's whole process
//! group, so a pause stops Redis too. Redis's own log lines become the node's log; every
//! second (and on request) the node reports Redis's pid, keys held, memory and AOF size.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::mpsc;

use super::redis::{Conn, Reply};
use crate::cluster::event::{
    ControlCommand, Emitter, NodeEvent, NodeRuntime, run_node, watch_stdin,
};

/// The role's name.
pub const ROLE: &str = "secret-redis";

/// How long Redis has to answer its first `PING`.
const START_WITHIN: Duration = Duration::from_secs(15);

/// Arguments of `wirelab node secret-redis`.
#[derive(Debug, Clone, clap::Args)]
pub struct StoreArgs {
    /// Node id.
    #[arg(long, default_value_t = 3)]
    pub id: u64,
    /// Where Redis keeps its append-only file.
    #[arg(long)]
    pub data_dir: PathBuf,
    /// The loopback address Redis listens on.
    #[arg(long)]
    pub listen: SocketAddr,
}

/// Runs the node.
pub fn run_cli(args: StoreArgs) -> i32 {
    run_node(NodeRuntime::CurrentThread, |e| run(args, e))
}

/// The `redis-server` command line for `listen` and `dir`.
pub fn redis_args(listen: SocketAddr, dir: &std::path::Path) -> Vec<String> {
    [
        "--port",
        &listen.port().to_string(),
        "--bind",
        &listen.ip().to_string(),
        "--save",
        "",
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
        "--daemonize",
        "no",
        "--loglevel",
        "notice",
        "--dir",
        &dir.display().to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// A line of Redis's log, `1234:M 05 Dec 2026 12:00:00.000 * Ready to accept connections`,
/// as a level (Redis marks warnings `#`) and its text; `None` for an empty line.
fn redis_log_line(line: &str) -> Option<(&'static str, &str)> {
    let parts: Vec<&str> = line.splitn(6, ' ').collect();
    let (mark, text) = match parts.as_slice() {
        [_, _, _, _, _, rest] => rest.split_once(' ').unwrap_or((rest, "")),
        _ => ("", line),
    };
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    Some((if mark == "#" { "warn" } else { "info" }, text))
}

/// A field of Redis's `INFO` text.
fn info_field<'a>(info: &'a str, name: &str) -> Option<&'a str> {
    info.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .map(str::trim)
}

/// Redis's counters for the node's state: keys, memory, AOF size.
async fn sample(addr: SocketAddr) -> Result<Map<String, Value>, String> {
    let mut c = Conn::connect(addr).await.map_err(|e| e.to_string())?;
    let keys = match c.call(&[b"DBSIZE"]).await.map_err(|e| e.to_string())? {
        Reply::Int(n) => n,
        other => return Err(format!("DBSIZE answered {other:?}")),
    };
    let info = match c.call(&[b"INFO"]).await.map_err(|e| e.to_string())? {
        Reply::Bulk(b) => String::from_utf8_lossy(&b).into_owned(),
        other => return Err(format!("INFO answered {other:?}")),
    };
    let mut m = Map::new();
    m.insert("keys".into(), json!(keys));
    for (field, name) in [
        ("used_memory", "used_memory"),
        ("aof_current_size", "aof_bytes"),
        ("redis_version", "redis_version"),
        ("process_id", "redis_pid"),
    ] {
        if let Some(v) = info_field(&info, field) {
            let v = v.parse::<u64>().map_or_else(|_| json!(v), |n| json!(n));
            m.insert(name.into(), v);
        }
    }
    Ok(m)
}

async fn run(args: StoreArgs, emitter: Arc<Emitter>) -> Result<(), String> {
    let (tx, mut commands) = mpsc::unbounded_channel();
    let em = emitter.clone();
    watch_stdin(
        move |cmd| {
            let _ = tx.send(cmd);
        },
        move |e| em.log("warn", e),
    )
    .map_err(|e| format!("cannot watch stdin: {e}"))?;
    std::fs::create_dir_all(&args.data_dir)
        .map_err(|e| format!("{}: {e}", args.data_dir.display()))?;
    let mut cmd = tokio::process::Command::new("redis-server");
    cmd.args(redis_args(args.listen, &args.data_dir))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            "redis-server is not installed (apt-get install redis-server), or use the embedded store"
                .to_string()
        } else {
            format!("cannot start redis-server: {e}")
        }
    })?;
    let pid = child.id().unwrap_or(0);
    for out in [
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
    ]
    .into_iter()
    .flatten()
    {
        let em = emitter.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(out).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some((level, text)) = redis_log_line(&line) {
                    em.log(level, format!("redis: {text}"));
                }
            }
        });
    }
    // Ready once Redis answers PING (it loads its append-only file first).
    let deadline = tokio::time::Instant::now() + START_WITHIN;
    let mut state = loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("redis-server exited at start ({status})"));
        }
        if let Ok(m) = sample(args.listen).await {
            break m;
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(format!(
                "redis-server did not answer on {} within {} s",
                args.listen,
                START_WITHIN.as_secs()
            ));
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    state.insert("redis_pid".into(), json!(pid));
    emitter.emit(&NodeEvent::Ready {
        addr: args.listen.to_string(),
        http: None,
    });
    emitter.log(
        "info",
        format!(
            "redis-server (pid {pid}) serves redis://{} with appendfsync always; {} key(s) loaded",
            args.listen,
            state.get("keys").cloned().unwrap_or(json!(0))
        ),
    );
    emitter.emit(&NodeEvent::State {
        fields: state.clone(),
    });
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            status = child.wait() => {
                let status = status.map_err(|e| e.to_string())?;
                return Err(format!("redis-server exited ({status})"));
            }
            cmd = commands.recv() => match cmd {
                None | Some(ControlCommand::Shutdown) => break,
                Some(ControlCommand::Report) => {
                    if let Ok(m) = sample(args.listen).await {
                        state.extend(m);
                    }
                    emitter.emit(&NodeEvent::State { fields: state.clone() });
                }
                Some(ControlCommand::Faults { .. }) => {}
                Some(ControlCommand::Lab { action, .. }) => {
                    emitter.log("warn", format!("no lab action {action:?} on the Redis node"));
                }
            },
            _ = tick.tick() => {
                if let Ok(m) = sample(args.listen).await {
                    state.extend(m);
                    emitter.emit(&NodeEvent::State { fields: state.clone() });
                }
            }
        }
    }
    // A clean stop: SIGTERM lets Redis fsync and close its append-only file.
    if let Some(pid) = child.id() {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
    }
    match tokio::time::timeout(Duration::from_secs(10), child.wait()).await {
        Ok(_) => Ok(()),
        Err(_) => {
            let _ = child.start_kill();
            Err("redis-server did not stop within 10 s of SIGTERM; killed".into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_fields_are_read_by_name() {
        let info = "# Server\r\nredis_version:7.0.15\r\nprocess_id:42\r\n# Memory\r\nused_memory:1048576\r\n";
        assert_eq!(info_field(info, "redis_version"), Some("7.0.15"));
        assert_eq!(info_field(info, "process_id"), Some("42"));
        assert_eq!(info_field(info, "used_memory"), Some("1048576"));
        assert_eq!(info_field(info, "used_memory_rss"), None);
    }

    #[test]
    fn redis_log_lines_lose_their_prefix_and_keep_their_level() {
        assert_eq!(
            redis_log_line("21417:M 05 Dec 2026 11:38:50.394 * Ready to accept connections"),
            Some(("info", "Ready to accept connections"))
        );
        assert_eq!(
            redis_log_line("21417:C 05 Dec 2026 11:38:50.390 # Configuration loaded"),
            Some(("warn", "Configuration loaded"))
        );
        assert_eq!(redis_log_line("odd line"), Some(("info", "odd line")));
        assert_eq!(redis_log_line(""), None);
    }

    #[test]
    fn redis_runs_durable_on_the_nodes_address() {
        let a = redis_args(
            "127.0.0.1:6390".parse().unwrap(),
            std::path::Path::new("/d"),
        );
        let s = a.join(" ");
        assert!(s.contains("--port 6390 --bind 127.0.0.1"), "{s}");
        assert!(s.contains("--appendonly yes --appendfsync always"), "{s}");
        assert!(s.ends_with("--dir /d"), "{s}");
    }
}
