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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::lab::PlanClient;
    use crate::cluster::NodeStatus;
    use std::path::PathBuf;

    fn node(id: u64, dir: PathBuf) -> NodeInfo {
        NodeInfo {
            id,
            role: "x".into(),
            pid: Some(1),
            status: NodeStatus::Running,
            addr: String::new(),
            http: None,
            data_dir: dir,
            uptime_ms: 0,
            rss_bytes: 0,
            cpu_percent: 0.0,
            incarnation: 1,
            faults: Default::default(),
            ready: true,
            state: Default::default(),
        }
    }

    fn entry(id: u64, text: &str) -> Entry {
        Entry {
            id,
            from: "c1".into(),
            cid: id,
            sent_us: 0,
            text: text.into(),
        }
    }

    /// A run dir with the server's lobby holding `server` and c1's copy holding `member`.
    fn run(server: &[Entry], member: &[Entry]) -> (i32, String) {
        let dir = tempfile::tempdir().unwrap();
        let plan = Plan {
            clients: vec![PlanClient {
                id: 3,
                name: "c1".into(),
                room: "lobby".into(),
            }],
            pace_ms: 0,
            rekey_every: 0,
            rekey_secs: 0,
        };
        std::fs::write(
            dir.path().join("chat.json"),
            serde_json::to_vec(&plan).unwrap(),
        )
        .unwrap();
        let (s, c) = (dir.path().join("node-1"), dir.path().join("node-3"));
        // Raw lines, so that a duplicate can be written as it would be on disk.
        let write = |path: PathBuf, es: &[Entry]| {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            let text: String = es
                .iter()
                .map(|e| serde_json::to_string(e).unwrap() + "\n")
                .collect();
            std::fs::write(path, text).unwrap();
        };
        write(s.join("rooms/lobby.log"), server);
        write(c.join("room-lobby.log"), member);
        let nodes = [node(1, s), node(3, c)];
        let mut out = Vec::new();
        let code = check(
            dir.path(),
            &nodes,
            Duration::from_millis(300),
            &mut out,
            &|| false,
        )
        .unwrap();
        (code, String::from_utf8(out).unwrap())
    }

    #[test]
    fn identical_logs_pass_and_a_member_ahead_is_fine() {
        let s = [entry(1, "a"), entry(2, "b")];
        let (code, out) = run(&s, &s);
        assert_eq!(code, 0, "{out}");
        assert!(
            out.contains("2 messages, identical at 1 members (c1)"),
            "{out}"
        );
    }

    #[test]
    fn a_difference_a_loss_or_a_duplicate_fails() {
        let s = [entry(1, "a"), entry(2, "b"), entry(3, "c")];
        let (code, out) = run(&s, &[entry(1, "a"), entry(2, "X"), entry(3, "c")]);
        assert_eq!(
            (code, out.contains("differs from the server at id 2")),
            (1, true),
            "{out}"
        );
        let (code, out) = run(&s, &[entry(1, "a"), entry(3, "c")]);
        assert_eq!((code, out.contains("did not catch up")), (1, true), "{out}");
        let (code, out) = run(
            &s,
            &[entry(1, "a"), entry(2, "b"), entry(2, "b"), entry(3, "c")],
        );
        assert_eq!(code, 1, "{out}");
        let dup = [
            entry(1, "a"),
            Entry {
                id: 2,
                ..entry(1, "a")
            },
        ];
        let (code, out) = run(&dup, &dup);
        assert_eq!((code, out.contains("appended twice")), (1, true), "{out}");
    }
}
