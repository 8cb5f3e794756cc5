//! `wirelab forge up`: the lab's foreground supervisor (a line of live figures every second,
//! node events as they come, Ctrl-C/SIGTERM/`forge stop` to end it), and `--detach`, which runs
//! that supervisor in the background and returns once both nodes are ready.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Map, Value};

use super::cli::{format_table, summary};
use super::{LOAD, LabConfig};
use crate::cluster::control;
use crate::cluster::{NodeEvent, SupEventKind};
use crate::cluster::{foreground, rundir};

fn clock() -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let s = ms / 1000;
    format!("{:02}:{:02}:{:02}", s / 3600 % 24, s / 60 % 60, s % 60)
}

/// Runs `forge up` (in the foreground unless `detach`); returns the exit code.
pub fn up(run_dir: Option<PathBuf>, detach: bool, out: &mut dyn Write) -> anyhow::Result<i32> {
    let run_dir = run_dir.unwrap_or_else(|| rundir::new_run_dir("forge"));
    if detach {
        return up_detached(&run_dir, out);
    }
    let cfg = LabConfig::builtin()?;
    let sup = super::launch(&cfg, &run_dir, None)?;
    let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
    let stop_tx = std::sync::Mutex::new(stop_tx);
    control::serve(&sup, move || {
        if let Ok(tx) = stop_tx.lock() {
            let _ = tx.send(());
        }
    })?;
    let mut events = sup.subscribe();
    if let Err(e) = sup.wait_ready(Duration::from_secs(10)) {
        sup.shutdown(Duration::from_secs(1));
        anyhow::bail!("{e}");
    }
    writeln!(out, "forge lab up in {}", sup.run_dir().display())?;
    write!(out, "{}", format_table(&sup.nodes()))?;
    writeln!(
        out,
        "(Ctrl-C stops it; from another terminal: `wirelab forge load start`, `forge slowloris`, `forge smuggle`, `forge reload`, …)"
    )?;
    out.flush()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let result = rt.block_on(async {
        let mut sigterm =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        let mut sighup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
        let (stop_async_tx, mut stop_async) = tokio::sync::mpsc::unbounded_channel::<()>();
        std::thread::spawn(move || {
            if stop_rx.recv().is_ok() {
                let _ = stop_async_tx.send(());
            }
        });
        let mut latest: BTreeMap<u64, Map<String, Value>> = BTreeMap::new();
        let mut printed: BTreeMap<u64, String> = BTreeMap::new();
        let mut every_second = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => break,
                _ = sigterm.recv() => break,
                _ = sighup.recv() => break,
                _ = stop_async.recv() => break,
                _ = every_second.tick() => {
                    let lines: BTreeMap<u64, String> =
                        latest.iter().map(|(id, f)| (*id, summary(*id, f))).collect();
                    let load_running = latest
                        .get(&LOAD)
                        .and_then(|f| f.get("running"))
                        .and_then(Value::as_bool)
                        == Some(true);
                    if load_running || lines != printed {
                        let joined: Vec<&str> = lines.values().map(String::as_str).collect();
                        writeln!(out, "{} | {}", clock(), joined.join(" | "))?;
                        out.flush()?;
                        printed = lines;
                    }
                }
                ev = events.recv() => match ev {
                    Ok(ev) => match &ev.kind {
                        SupEventKind::Node { event: NodeEvent::Metrics { fields } } => {
                            latest.insert(ev.node, fields.clone());
                        }
                        kind => {
                            if let Some(line) = crate::cluster::foreground::describe(kind) {
                                writeln!(out, "{} node {} | {line}", clock(), ev.node)?;
                                out.flush()?;
                            }
                        }
                    },
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(_) => break,
                },
            }
        }
        anyhow::Ok(())
    });
    writeln!(out, "stopping both nodes…")?;
    sup.shutdown(Duration::from_secs(6));
    result?;
    Ok(0)
}

/// Starts `wirelab forge up` as a background process of its own and returns once both nodes
/// are ready.
fn up_detached(run_dir: &Path, out: &mut dyn Write) -> anyhow::Result<i32> {
    let args: Vec<String> = vec![
        "forge".into(),
        "up".into(),
        "--run-dir".into(),
        run_dir.display().to_string(),
    ];
    let (pid, nodes) = foreground::detach(
        &args,
        run_dir,
        "forge",
        Duration::from_secs(15),
        foreground::all_ready,
    )?;
    writeln!(
        out,
        "forge lab up in {} (supervisor pid {pid})",
        run_dir.display()
    )?;
    write!(out, "{}", format_table(&nodes))?;
    Ok(0)
}
