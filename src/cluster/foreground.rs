//! A supervisor in the foreground: what every lab's `wirelab NAME up` shares.
//!
//! Serves the control socket, waits for the nodes, prints a banner, then prints one line per
//! node event until Ctrl-C, SIGTERM, SIGHUP or a `stop` request, and stops every node.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Map, Value};

use super::control;
use super::event::NodeEvent;
use super::supervisor::{NodeInfo, SupEventKind, Supervisor};

/// A one-line description of a supervisor event for humans (`None` for noise such as state
/// and metrics events).
pub fn describe(kind: &SupEventKind) -> Option<String> {
    match kind {
        SupEventKind::Spawned { pid } => Some(format!("started (pid {pid})")),
        SupEventKind::Node { event } => match event {
            NodeEvent::Log { level, msg } if level != "debug" => Some(format!("{level}: {msg}")),
            NodeEvent::Fatal { msg } => Some(format!("FATAL: {msg}")),
            _ => None,
        },
        SupEventKind::Stderr { line } => Some(format!("stderr: {line}")),
        SupEventKind::Killed => Some("SIGKILL".into()),
        SupEventKind::Paused => Some("SIGSTOP (paused)".into()),
        SupEventKind::Resumed => Some("SIGCONT (resumed)".into()),
        SupEventKind::Exited { code, signal } => Some(match (code, signal) {
            (Some(c), _) => format!("exited with status {c}"),
            (_, Some(s)) => format!("ended by signal {s}"),
            _ => "ended".into(),
        }),
        SupEventKind::Faults { rules } if rules.is_clear() => Some("network healed".into()),
        SupEventKind::Faults { rules } => Some(format!("network: {rules}")),
    }
}

/// Each node's latest metrics fields, by node id.
pub type LatestMetrics = BTreeMap<u64, Map<String, Value>>;

/// How a lab runs in the foreground: what it waits for, what it prints first, and the live
/// line it prints each second.
pub struct Foreground<'a> {
    /// How long to wait for the nodes and for `ready`.
    pub ready_timeout: Duration,
    /// What `ready` waits for, for the error when it does not come.
    pub ready_what: &'a str,
    /// Whether nodes that fail to start may stay down while `ready` holds for the others.
    pub quorum_suffices: bool,
    /// Whether the lab is up.
    pub ready: &'a dyn Fn(&[NodeInfo]) -> bool,
    /// Printed once the lab is up.
    pub banner: &'a dyn Fn(&Supervisor),
    /// A line of live figures from each node's latest metrics, printed (with the time) each
    /// second when it changed; `None` prints nothing.
    pub live: &'a dyn Fn(&LatestMetrics) -> Option<String>,
}

/// Runs `sup` in the foreground: serves its control socket, waits until every node is ready
/// and `fg.ready` holds, prints the banner, then node events (and the live line) until
/// Ctrl-C, SIGTERM, SIGHUP or `stop`, then stops every node. Returns the exit code.
pub fn run(sup: Supervisor, fg: Foreground<'_>) -> anyhow::Result<i32> {
    let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
    let stop_tx = std::sync::Mutex::new(stop_tx);
    // A `stop` request's connection stays open until every node is down, so `… stop` returns
    // only then (the client reads to EOF).
    let stopped = std::sync::Arc::new((std::sync::Mutex::new(false), std::sync::Condvar::new()));
    let stopped_signal = stopped.clone();
    control::serve(&sup, move || {
        if let Ok(tx) = stop_tx.lock() {
            let _ = tx.send(());
        }
        let (lock, cvar) = &*stopped_signal;
        let guard = lock.lock().unwrap_or_else(|p| p.into_inner());
        let _ = cvar.wait_timeout_while(guard, Duration::from_secs(15), |done| !*done);
    })?;
    let mut events = sup.subscribe();
    let started = if fg.quorum_suffices {
        sup.wait_started(fg.ready_timeout).map(|_| ())
    } else {
        sup.wait_ready(fg.ready_timeout)
    };
    if let Err(e) =
        started.and_then(|_| sup.wait_until(fg.ready_timeout, fg.ready_what, |n| (fg.ready)(n)))
    {
        sup.shutdown(Duration::from_secs(1));
        anyhow::bail!("{e}");
    }
    (fg.banner)(&sup);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let mut sigterm = signal(SignalKind::terminate())?;
        let mut sighup = signal(SignalKind::hangup())?;
        let (stop_async_tx, mut stop_async) = tokio::sync::mpsc::unbounded_channel::<()>();
        std::thread::spawn(move || {
            if stop_rx.recv().is_ok() {
                let _ = stop_async_tx.send(());
            }
        });
        let mut latest: LatestMetrics = BTreeMap::new();
        let mut printed: Option<String> = None;
        let mut every_second = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => break,
                _ = sigterm.recv() => break,
                _ = sighup.recv() => break,
                _ = stop_async.recv() => break,
                _ = every_second.tick() => {
                    let line = (fg.live)(&latest);
                    if line.is_some() && line != printed {
                        if let Some(l) = &line {
                            println!("{} | {l}", wall_clock());
                        }
                        printed = line;
                    }
                }
                ev = events.recv() => match ev {
                    Ok(ev) => match &ev.kind {
                        SupEventKind::Node { event: NodeEvent::Metrics { fields } } => {
                            latest.insert(ev.node, fields.clone());
                        }
                        kind => {
                            if let Some(line) = describe(kind) {
                                println!("node {} | {line}", ev.node);
                            }
                        }
                    },
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        println!("({n} events skipped)");
                    }
                    Err(_) => break,
                },
            }
        }
        anyhow::Ok(())
    })?;
    println!("stopping every node…");
    sup.shutdown(Duration::from_secs(6));
    let (lock, cvar) = &*stopped;
    *lock.lock().unwrap_or_else(|p| p.into_inner()) = true;
    cvar.notify_all();
    Ok(0)
}

/// `HH:MM:SS` (UTC) now.
fn wall_clock() -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let s = ms / 1000;
    format!("{:02}:{:02}:{:02}", s / 3600 % 24, s / 60 % 60, s % 60)
}

/// Starts `wirelab ARGS…` (a foreground `up` of some lab, with `--run-dir run_dir` among the
/// args) as a background supervisor process of its own, its output in `run_dir/supervisor.log`,
/// and waits until `ready` holds over the nodes it reports through its control socket.
/// Returns the supervisor's pid and the nodes. On failure, or when `timeout` passes, the
/// supervisor is not left running.
pub fn detach(
    args: &[String],
    run_dir: &std::path::Path,
    lab: &str,
    timeout: Duration,
    ready: impl Fn(&[NodeInfo]) -> bool,
) -> anyhow::Result<(u32, Vec<NodeInfo>)> {
    use std::os::unix::process::CommandExt;
    std::fs::create_dir_all(run_dir)?;
    let log_path = run_dir.join("supervisor.log");
    let log = std::fs::File::create(&log_path)?;
    let mut child = std::process::Command::new(std::env::current_exe()?)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .process_group(0)
        .spawn()?;
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait()? {
            anyhow::bail!("supervisor exited ({status}); see {}", log_path.display());
        }
        if let Ok(resp) = control::request(run_dir, lab, &control::ControlRequest::Status)
            && ready(&resp.nodes)
        {
            return Ok((child.id(), resp.nodes));
        }
        if std::time::Instant::now() > deadline {
            // Do not leave behind a supervisor that nobody will stop.
            let _ = child.kill();
            let _ = child.wait();
            anyhow::bail!(
                "the {lab} lab in {} was not ready within {timeout:?}; see {}",
                run_dir.display(),
                log_path.display()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether every node reported `ready` (and there is at least one).
pub fn all_ready(nodes: &[NodeInfo]) -> bool {
    !nodes.is_empty() && nodes.iter().all(|n| n.ready)
}
