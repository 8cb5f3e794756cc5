//! Claims vs measured: a project's `verify` commands run in the background, each in a wirelab
//! shell process of its own (`wirelab shell -c CMD`: a chaos run starts its own cluster and
//! must not share the dashboard's descriptors), one after the other; progress is the latest
//! line on stderr; the figure is stored with its date in the state dir.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::sync::mpsc::UnboundedSender;

use super::app::App;
use crate::portfolio::Portfolio;
use crate::portfolio::measured::{self, claim_key};

/// Progress of a verification.
#[derive(Debug)]
pub enum VerifyMsg {
    /// It started (the ones after it wait their turn).
    Started(String),
    /// A line on its stderr.
    Line(String, String),
    /// Finished: key, exit status, stdout+stderr.
    Done(String, i32, String),
}

/// Starts verifying project `index`'s claims; returns the claim keys started.
pub fn start(p: &Portfolio, index: usize, tx: UnboundedSender<VerifyMsg>) -> Vec<String> {
    let Some(pj) = p.projects.get(index) else {
        return Vec::new();
    };
    let jobs: Vec<(String, String)> = pj
        .claims
        .iter()
        .enumerate()
        .filter_map(|(i, c)| c.verify.clone().map(|v| (claim_key(&pj.id, i), v)))
        .collect();
    let keys = jobs.iter().map(|(k, _)| k.clone()).collect();
    tokio::spawn(async move {
        for (key, cmd) in jobs {
            let _ = tx.send(VerifyMsg::Started(key.clone()));
            let (status, output) = run_one(&key, &cmd, &tx).await;
            let _ = tx.send(VerifyMsg::Done(key, status, output));
        }
    });
    keys
}

async fn run_one(key: &str, cmd: &str, tx: &UnboundedSender<VerifyMsg>) -> (i32, String) {
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => return (2, e.to_string()),
    };
    let mut command = tokio::process::Command::new(exe);
    command
        .args(["shell", "-c", cmd])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    // SAFETY: prctl is async-signal-safe; the measurement (and its cluster) dies with the UI
    // even when the UI is killed with SIGKILL. The UI's runtime thread forks it and lives as
    // long as the process.
    unsafe {
        command.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    let child = command.spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => return (2, e.to_string()),
    };
    let mut stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let mut err_text = String::new();
    if let Some(err) = stderr {
        let mut lines = BufReader::new(err).lines();
        while let Ok(Some(l)) = lines.next_line().await {
            let _ = tx.send(VerifyMsg::Line(key.to_string(), l.clone()));
            err_text.push_str(&l);
            err_text.push('\n');
        }
    }
    let mut out = String::new();
    if let Some(o) = stdout.as_mut() {
        let _ = o.read_to_string(&mut out).await;
    }
    let status = match child.wait().await {
        Ok(s) => s.code().unwrap_or(2),
        Err(_) => 2,
    };
    out.push_str(&err_text);
    (status, out)
}

/// Folds a message into the app (a finished measurement is stored).
pub fn apply(app: &mut App, msg: VerifyMsg, started: &mut BTreeMap<String, Instant>) {
    match msg {
        VerifyMsg::Started(key) => {
            started.insert(key.clone(), Instant::now());
            if let Some(v) = app.verifying.get_mut(&key) {
                v.started = true;
            }
        }
        VerifyMsg::Line(key, line) => {
            if let Some(v) = app.verifying.get_mut(&key) {
                v.last_line = line.chars().take(60).collect();
            }
        }
        VerifyMsg::Done(key, status, output) => {
            app.verifying.remove(&key);
            started.remove(&key);
            let (project, idx) = key.split_once('#').unwrap_or((&key, "0"));
            let idx: usize = idx.parse().unwrap_or(0);
            let claim = app
                .portfolio
                .project(project)
                .and_then(|p| p.claims.get(idx))
                .cloned();
            let Some(claim) = claim else { return };
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            let m = measured::measurement_from_output(
                claim.verify.as_deref().unwrap_or(""),
                claim.metric.as_deref(),
                status,
                &output,
                now,
            );
            if let Err(e) = measured::save(&key, &m) {
                app.flash = Some(format!("could not store the measurement: {e}"));
            }
            app.measured.insert(key, m);
        }
    }
}
