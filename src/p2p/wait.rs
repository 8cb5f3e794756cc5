//! `p2p wait …`: block until the lab shows something, for scenario scripts that assert a claim
//! instead of sleeping and hoping (`p2p kill 1; p2p wait tracker 2; p2p wait complete`).
//!
//! Each condition is a pure test over the node table ([`Condition::check`]): it answers
//! `Met(line)` (printed, exit 0), `Pending` (poll again in 100 ms), or `Failed(why)` (exit 1
//! at once: the claim is false and waiting will not make it true). When the timeout passes
//! first, the verb prints what it last saw and exits 1.

use std::time::{Duration, Instant};

use clap::{Args, Subcommand};
use serde_json::Value;

use crate::cluster::NodeInfo;
use crate::lab::args::RunDirArg;

/// The options every condition takes.
#[derive(Debug, Clone, Args)]
pub struct WaitOpts {
    /// Give up after this long (`500ms`, `30s`, `2m`).
    #[arg(long, default_value = "60s", value_parser = crate::lab::args::parse_duration)]
    pub timeout: Duration,
    /// Run dir.
    #[command(flatten)]
    pub run: RunDirArg,
}

/// What to wait for.
#[derive(Debug, Clone, Subcommand)]
pub enum Condition {
    /// Every leecher (or NODE) holds every piece, verified.
    Complete {
        /// Only this node.
        node: Option<u64>,
        /// Options.
        #[command(flatten)]
        opts: WaitOpts,
    },
    /// NODE holds at least COUNT verified pieces.
    Pieces {
        /// Node id.
        node: u64,
        /// Pieces.
        count: u32,
        /// Options.
        #[command(flatten)]
        opts: WaitOpts,
    },
    /// Every running peer uses tracker ID.
    Tracker {
        /// Tracker node id.
        id: u64,
        /// Options.
        #[command(flatten)]
        opts: WaitOpts,
    },
    /// NODE reported after its start; fails when it re-verified no piece on disk.
    Resumed {
        /// Node id.
        node: u64,
        /// Options.
        #[command(flatten)]
        opts: WaitOpts,
    },
    /// NODE detected a bad piece and dropped the peer that sent it.
    Banned {
        /// Node id.
        node: u64,
        /// Options.
        #[command(flatten)]
        opts: WaitOpts,
    },
    /// The two trackers hold different states (different digests).
    Diverged {
        /// Options.
        #[command(flatten)]
        opts: WaitOpts,
    },
    /// Every running tracker reports the same digest, with no replication lag.
    Converged {
        /// Options.
        #[command(flatten)]
        opts: WaitOpts,
    },
}

/// One look at the node table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The condition holds: what to print.
    Met(String),
    /// Not yet: what it looks like now.
    Pending(String),
    /// It cannot hold: why.
    Failed(String),
}

fn num(n: &NodeInfo, k: &str) -> Option<u64> {
    n.state.get(k).and_then(Value::as_u64)
}

fn role(n: &NodeInfo) -> &str {
    n.state.get("role").and_then(Value::as_str).unwrap_or("")
}

fn is_peer(n: &NodeInfo) -> bool {
    n.role == "p2p-peer"
}

fn is_tracker(n: &NodeInfo) -> bool {
    n.role == "p2p-tracker"
}

fn find(nodes: &[NodeInfo], id: u64) -> Result<&NodeInfo, Verdict> {
    nodes
        .iter()
        .find(|n| n.id == id)
        .ok_or_else(|| Verdict::Failed(format!("there is no node {id}")))
}

fn have(n: &NodeInfo) -> (u64, u64) {
    (num(n, "have").unwrap_or(0), num(n, "pieces").unwrap_or(0))
}

impl Condition {
    /// The options.
    pub fn opts(&self) -> &WaitOpts {
        match self {
            Condition::Complete { opts, .. }
            | Condition::Pieces { opts, .. }
            | Condition::Tracker { opts, .. }
            | Condition::Resumed { opts, .. }
            | Condition::Banned { opts, .. }
            | Condition::Diverged { opts }
            | Condition::Converged { opts } => opts,
        }
    }

    /// Tests the condition over a node table.
    pub fn check(&self, nodes: &[NodeInfo]) -> Verdict {
        match self.check_inner(nodes) {
            Ok(v) | Err(v) => v,
        }
    }

    fn check_inner(&self, nodes: &[NodeInfo]) -> Result<Verdict, Verdict> {
        Ok(match self {
            Condition::Complete { node, .. } => {
                let who: Vec<&NodeInfo> = match node {
                    Some(id) => vec![find(nodes, *id)?],
                    None => nodes
                        .iter()
                        .filter(|n| is_peer(n) && role(n) != "seeder")
                        .collect(),
                };
                if who.is_empty() {
                    return Err(Verdict::Failed("the lab has no leecher".into()));
                }
                let done = |n: &&NodeInfo| {
                    n.status.is_alive() && n.state.get("complete") == Some(&Value::Bool(true))
                };
                let pieces = who.first().map_or(0, |n| have(n).1);
                if who.iter().all(done) {
                    match node {
                        Some(id) => Verdict::Met(format!(
                            "node {id} complete: {pieces} of {pieces} pieces verified"
                        )),
                        None => Verdict::Met(format!(
                            "every leecher complete ({} of {}): {pieces} pieces verified each",
                            who.len(),
                            who.len()
                        )),
                    }
                } else {
                    let parts: Vec<String> = who
                        .iter()
                        .map(|n| {
                            let (h, p) = have(n);
                            format!("node {} {h}/{p} ({})", n.id, n.status.as_str())
                        })
                        .collect();
                    Verdict::Pending(parts.join(", "))
                }
            }
            Condition::Pieces { node, count, .. } => {
                let n = find(nodes, *node)?;
                let (h, p) = have(n);
                if n.status.is_alive() && h >= u64::from(*count) {
                    Verdict::Met(format!("node {node} holds {h} of {p} pieces"))
                } else {
                    Verdict::Pending(format!("node {node} holds {h} of {p} pieces"))
                }
            }
            Condition::Tracker { id, .. } => {
                let peers: Vec<&NodeInfo> = nodes
                    .iter()
                    .filter(|n| is_peer(n) && n.status.is_alive())
                    .collect();
                let on = |n: &&NodeInfo| num(n, "tracker") == Some(*id);
                if !peers.is_empty() && peers.iter().all(on) {
                    let failovers: u64 = peers.iter().filter_map(|n| num(n, "failovers")).sum();
                    Verdict::Met(format!(
                        "all {} running peers use tracker {id} ({failovers} failovers)",
                        peers.len()
                    ))
                } else {
                    let parts: Vec<String> = peers
                        .iter()
                        .map(|n| {
                            format!(
                                "node {} on {}",
                                n.id,
                                num(n, "tracker").map_or("-".into(), |t| t.to_string())
                            )
                        })
                        .collect();
                    Verdict::Pending(parts.join(", "))
                }
            }
            Condition::Resumed { node, .. } => {
                let n = find(nodes, *node)?;
                match (n.status.is_alive(), num(n, "verified_at_start")) {
                    (true, Some(0)) => Verdict::Failed(format!(
                        "node {node} started from zero: no piece re-verified on disk"
                    )),
                    (true, Some(v)) => Verdict::Met(format!(
                        "node {node} resumed from {v} of {} pieces verified on disk",
                        have(n).1
                    )),
                    _ => Verdict::Pending(format!("node {node} {}", n.status.as_str())),
                }
            }
            Condition::Banned { node, .. } => {
                let n = find(nodes, *node)?;
                let (bad, banned) = (num(n, "bad_pieces").unwrap_or(0), num(n, "banned"));
                match banned {
                    Some(b) if b > 0 && bad > 0 => Verdict::Met(format!(
                        "node {node} detected {bad} bad pieces and dropped {b} peer(s)"
                    )),
                    _ => Verdict::Pending(format!(
                        "node {node}: {bad} bad pieces, {} banned",
                        banned.unwrap_or(0)
                    )),
                }
            }
            Condition::Diverged { .. } | Condition::Converged { .. } => {
                let trackers: Vec<&NodeInfo> = nodes
                    .iter()
                    .filter(|n| is_tracker(n) && n.status.is_alive())
                    .collect();
                let digests: Vec<&str> = trackers
                    .iter()
                    .filter_map(|n| n.state.get("digest").and_then(Value::as_str))
                    .collect();
                let shown = digests.join(" vs ");
                if digests.len() < 2 {
                    return Ok(Verdict::Pending(format!(
                        "{} running tracker(s) reporting",
                        digests.len()
                    )));
                }
                let same = digests.iter().all(|d| *d == digests[0]);
                let lag0 = trackers
                    .iter()
                    .all(|n| num(n, "replication_lag") == Some(0));
                match self {
                    Condition::Diverged { .. } if !same => {
                        Verdict::Met(format!("trackers diverged: digests {shown}"))
                    }
                    Condition::Converged { .. } if same && lag0 => Verdict::Met(format!(
                        "trackers converged: digest {} on both, lag 0",
                        digests[0]
                    )),
                    _ => Verdict::Pending(format!("digests {shown}")),
                }
            }
        })
    }
}

/// Polls `nodes` until `cond` is met, fails, its timeout passes or `interrupted` says so;
/// writes the outcome to `out`. Returns the exit code (0 met, 130 interrupted, 1 otherwise).
pub fn run(
    cond: &Condition,
    mut nodes: impl FnMut() -> anyhow::Result<Vec<NodeInfo>>,
    out: &mut dyn std::io::Write,
    interrupted: &dyn Fn() -> bool,
) -> anyhow::Result<i32> {
    let deadline = Instant::now() + cond.opts().timeout;
    loop {
        if interrupted() {
            writeln!(out, "p2p wait: interrupted")?;
            return Ok(130);
        }
        match cond.check(&nodes()?) {
            Verdict::Met(line) => {
                writeln!(out, "{line}")?;
                return Ok(0);
            }
            Verdict::Failed(why) => {
                writeln!(out, "p2p wait: {why}")?;
                return Ok(1);
            }
            Verdict::Pending(now) if Instant::now() >= deadline => {
                writeln!(
                    out,
                    "p2p wait: gave up after {:?}; last seen: {now}",
                    cond.opts().timeout
                )?;
                return Ok(1);
            }
            Verdict::Pending(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::NodeStatus;
    use serde_json::json;

    fn node(id: u64, role: &str, state: Value) -> NodeInfo {
        NodeInfo {
            id,
            role: role.into(),
            pid: Some(100 + id as u32),
            status: NodeStatus::Running,
            addr: String::new(),
            http: None,
            data_dir: Default::default(),
            uptime_ms: 0,
            rss_bytes: 0,
            cpu_percent: 0.0,
            incarnation: 0,
            faults: Default::default(),
            ready: true,
            state: state.as_object().cloned().unwrap_or_default(),
        }
    }

    fn opts() -> WaitOpts {
        WaitOpts {
            timeout: Duration::from_millis(10),
            run: RunDirArg { run_dir: None },
        }
    }

    #[test]
    fn complete_waits_for_every_leecher_and_ignores_the_seeder() {
        let cond = Condition::Complete {
            node: None,
            opts: opts(),
        };
        let mut nodes = vec![
            node(3, "p2p-peer", json!({"role":"seeder","complete":true})),
            node(
                4,
                "p2p-peer",
                json!({"role":"leecher","complete":false,"have":3,"pieces":8}),
            ),
        ];
        assert!(matches!(cond.check(&nodes), Verdict::Pending(s) if s.contains("node 4 3/8")));
        nodes[1].state.insert("complete".into(), json!(true));
        assert!(matches!(cond.check(&nodes), Verdict::Met(_)));
    }

    #[test]
    fn resumed_fails_for_a_node_that_started_from_zero() {
        let cond = Condition::Resumed {
            node: 5,
            opts: opts(),
        };
        let n = node(5, "p2p-peer", json!({"verified_at_start":0,"pieces":8}));
        assert!(matches!(cond.check(&[n]), Verdict::Failed(_)));
        let n = node(5, "p2p-peer", json!({"verified_at_start":6,"pieces":8}));
        assert_eq!(
            cond.check(&[n]),
            Verdict::Met("node 5 resumed from 6 of 8 pieces verified on disk".into())
        );
    }

    #[test]
    fn trackers_converge_only_with_equal_digests_and_no_lag() {
        let t = |id, d: &str, lag: u64| {
            node(
                id,
                "p2p-tracker",
                json!({"role":"tracker","digest":d,"replication_lag":lag}),
            )
        };
        let conv = Condition::Converged { opts: opts() };
        let div = Condition::Diverged { opts: opts() };
        let a = [t(1, "aa", 0), t(2, "bb", 0)];
        assert!(matches!(div.check(&a), Verdict::Met(_)));
        assert!(matches!(conv.check(&a), Verdict::Pending(_)));
        let b = [t(1, "aa", 0), t(2, "aa", 3)];
        assert!(matches!(conv.check(&b), Verdict::Pending(_)));
        let c = [t(1, "aa", 0), t(2, "aa", 0)];
        assert!(matches!(conv.check(&c), Verdict::Met(_)));
    }

    #[test]
    fn a_timeout_exits_one_with_what_was_last_seen() {
        let cond = Condition::Tracker {
            id: 2,
            opts: opts(),
        };
        let mut out = Vec::new();
        let code = run(
            &cond,
            || Ok(vec![node(4, "p2p-peer", json!({"tracker":1}))]),
            &mut out,
            &|| false,
        )
        .unwrap();
        assert_eq!(code, 1);
        assert!(String::from_utf8_lossy(&out).contains("node 4 on 1"));
        let code = run(&cond, || Ok(Vec::new()), &mut out, &|| true).unwrap();
        assert_eq!(code, 130, "Ctrl-C ends the wait");
    }
}
