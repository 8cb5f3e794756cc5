//! A supervisor in the foreground: what `wirelab raft up` and `wirelab p2p up` share.
//!
//! Serves the control socket, waits for the nodes, prints a banner, then prints one line per
//! node event until Ctrl-C, SIGTERM, SIGHUP or a `stop` request, and stops every node.

use std::time::Duration;

use super::control;
use super::event::NodeEvent;
use super::supervisor::{SupEventKind, Supervisor};

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
        SupEventKind::Faults { rules } => Some(format!("fault rules: cut from {:?}", rules.cut)),
    }
}

/// Runs `sup` in the foreground: serves its control socket, waits up to `ready_timeout` for
/// every node, calls `banner`, prints node events until Ctrl-C, SIGTERM, SIGHUP or `stop`,
/// then stops every node. Returns the exit code.
pub fn run(
    sup: Supervisor,
    ready_timeout: Duration,
    banner: impl FnOnce(&Supervisor),
) -> anyhow::Result<i32> {
    let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
    let stop_tx = std::sync::Mutex::new(stop_tx);
    control::serve(&sup, move || {
        if let Ok(tx) = stop_tx.lock() {
            let _ = tx.send(());
        }
    })?;
    let mut events = sup.subscribe();
    if let Err(e) = sup.wait_ready(ready_timeout) {
        sup.shutdown(Duration::from_secs(1));
        anyhow::bail!("{e}");
    }
    banner(&sup);
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
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => break,
                _ = sigterm.recv() => break,
                _ = sighup.recv() => break,
                _ = stop_async.recv() => break,
                ev = events.recv() => match ev {
                    Ok(ev) => {
                        if let Some(line) = describe(&ev.kind) {
                            println!("node {} | {line}", ev.node);
                        }
                    }
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
    sup.shutdown(Duration::from_secs(2));
    Ok(0)
}
