//! `chat check`: every room's log at every running member against the server's log.
//!
//! The server's log defines each room: ids 1..=n without gaps (loading stops at the first
//! entry out of sequence, so a duplicate or a gap shows up as a short log), and no sender
//! sequence number (`cid`) twice (a retransmission appended twice). Each running member must
//! hold, once it caught up, exactly the server's first n entries: same ids, senders, cids and
//! texts, no more lines than entries (a duplicate line), nothing missing.

use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::lab::{Plan, SERVER};
use super::store::{Entry, read_log};
use crate::cluster::NodeInfo;

fn lines(path: &Path) -> usize {
    std::fs::read(path).map_or(0, |b| b.iter().filter(|&&c| c == b'\n').count())
}

/// Runs the check; returns the exit code (0 identical, 1 a difference or a member that did not
/// catch up).
pub fn check(
    run_dir: &Path,
    nodes: &[NodeInfo],
    timeout: Duration,
    out: &mut dyn Write,
    interrupted: &dyn Fn() -> bool,
) -> anyhow::Result<i32> {
    let plan = Plan::load(run_dir)?;
    let server = nodes
        .iter()
        .find(|n| n.id == SERVER)
        .ok_or_else(|| anyhow::anyhow!("no server node"))?;
    let mut rooms: BTreeMap<&str, Vec<&super::lab::PlanClient>> = BTreeMap::new();
    for c in &plan.clients {
        rooms.entry(c.room.as_str()).or_default().push(c);
    }
    let mut failed = false;
    let deadline = Instant::now() + timeout;
    for (room, members) in rooms {
        let spath = server.data_dir.join("rooms").join(format!("{room}.log"));
        let s: Vec<Entry> = read_log(&spath)?;
        let mut problems = Vec::new();
        if lines(&spath) != s.len() {
            problems.push(format!(
                "server log has {} lines but {} valid entries",
                lines(&spath),
                s.len()
            ));
        }
        let mut seen = HashSet::new();
        for e in &s {
            if e.cid != 0 && !seen.insert((e.from.as_str(), e.cid)) {
                problems.push(format!(
                    "message {}/{} appended twice (id {})",
                    e.from, e.cid, e.id
                ));
            }
        }
        let mut compared = Vec::new();
        let mut skipped = Vec::new();
        for c in members {
            let Some(node) = nodes.iter().find(|n| n.id == c.id) else {
                continue;
            };
            let revoked = server
                .state
                .get("revoked")
                .and_then(Value::as_array)
                .is_some_and(|a| a.iter().any(|v| v == c.name.as_str()));
            if node.status.as_str() != "running" || revoked {
                skipped.push(format!(
                    "{} ({})",
                    c.name,
                    if revoked {
                        "revoked"
                    } else {
                        node.status.as_str()
                    }
                ));
                continue;
            }
            let path = node.data_dir.join(format!("room-{room}.log"));
            let mine = loop {
                let mine = read_log(&path)?;
                if mine.len() >= s.len() || Instant::now() >= deadline || interrupted() {
                    break mine;
                }
                std::thread::sleep(Duration::from_millis(200));
            };
            if mine.len() < s.len() {
                problems.push(format!(
                    "{} has {} of {} messages (did not catch up)",
                    c.name,
                    mine.len(),
                    s.len()
                ));
            } else if let Some(i) = (0..s.len()).find(|&i| mine[i] != s[i]) {
                problems.push(format!(
                    "{} differs from the server at id {}",
                    c.name,
                    i + 1
                ));
            } else if lines(&path) > mine.len() {
                problems.push(format!("{} has a duplicate or corrupt line", c.name));
            } else {
                compared.push(c.name.as_str());
            }
        }
        if problems.is_empty() {
            writeln!(
                out,
                "{room}: {} messages, identical at {} members ({}){}",
                s.len(),
                compared.len(),
                compared.join(" "),
                if skipped.is_empty() {
                    String::new()
                } else {
                    format!("; not compared: {}", skipped.join(", "))
                }
            )?;
        } else {
            failed = true;
            for p in problems {
                writeln!(out, "{room}: {p}")?;
            }
        }
    }
    Ok(if failed { 1 } else { 0 })
}
