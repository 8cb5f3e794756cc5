//! The `wirelab p2p …` verbs: the trackers, `share` and `get` for anyone, the lab (`up`,
//! `status`, `kill`, `restart`, `partition`, `heal`, `corrupt`, `stop`) and `bench`.
//!
//! Exit codes: 0 success; 1 the download did not complete; 2 an error.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::lab::{self, LabConfig, LabPlan};
use super::torrent::Torrent;
use crate::cli::RunDirArg;
use crate::cluster::control::{self, ControlRequest};
use crate::cluster::rundir::{self, read_cluster_file, resolve_run_dir};
use crate::cluster::{NodeInfo, Supervisor};

/// `wirelab p2p …`
#[derive(Debug, Subcommand)]
pub enum P2pVerb {
    /// Run the two trackers in the foreground, keeping DIR/cluster.json current.
    Trackers {
        /// Run dir.
        #[command(flatten)]
        run: RunDirArg,
    },
    /// Write a .torrent for FILE (512 KiB pieces, SHA-1, both trackers) and seed it.
    Share {
        /// The file to share.
        file: PathBuf,
        /// Where to write the .torrent (default: ./NAME.torrent).
        #[arg(long)]
        torrent: Option<PathBuf>,
        /// Announce URLs, comma-separated (default: the trackers of the newest run).
        #[arg(long, value_delimiter = ',')]
        trackers: Vec<String>,
        /// Peer-wire listen address.
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
    },
    /// Download a torrent; exit 0 once the file is complete and verified.
    Get {
        /// The .torrent.
        torrent: PathBuf,
        /// Directory to download into.
        #[arg(long, default_value = ".")]
        out: PathBuf,
        /// Peer-wire listen address.
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
    },
    /// Start the lab in the foreground: 2 trackers, 1 seeder, 4 leechers on a generated file.
    Up {
        /// Run dir.
        #[command(flatten)]
        run: RunDirArg,
        /// Size of the generated file (e.g. 64MiB, 1GiB).
        #[arg(long)]
        size: Option<String>,
        /// Leechers.
        #[arg(long)]
        leechers: Option<usize>,
        /// Return once every node is ready, leaving the lab running in the background (stop it
        /// with `wirelab p2p stop`).
        #[arg(long)]
        detach: bool,
    },
    /// Every process: pid, role, progress, peers, tracker in use, RSS; trackers' ops and lag.
    Status {
        /// Run dir.
        #[command(flatten)]
        run: RunDirArg,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// SIGKILL a node (1-2 are the trackers).
    Kill {
        /// Node id.
        node: u64,
        /// Run dir.
        #[command(flatten)]
        run: RunDirArg,
    },
    /// Start a node again on its data dir (a leecher resumes from its verified pieces).
    Restart {
        /// Node id.
        node: u64,
        /// Run dir.
        #[command(flatten)]
        run: RunDirArg,
    },
    /// Cut these trackers off from the other.
    Partition {
        /// Node ids.
        #[arg(required = true)]
        nodes: Vec<u64>,
        /// Run dir.
        #[command(flatten)]
        run: RunDirArg,
    },
    /// Remove every partition.
    Heal {
        /// Run dir.
        #[command(flatten)]
        run: RunDirArg,
    },
    /// Overwrite a piece of a peer's file with garbage (the peer keeps serving it).
    Corrupt {
        /// Node id.
        node: u64,
        /// Piece index.
        #[arg(long, default_value_t = 0)]
        piece: u32,
        /// Run dir.
        #[command(flatten)]
        run: RunDirArg,
    },
    /// Stop a running lab.
    Stop {
        /// Run dir.
        #[command(flatten)]
        run: RunDirArg,
    },
    /// Measure a swarm transfer: time, aggregate rate, peak RSS of every process.
    Bench(super::bench::BenchArgs),
}

/// Arguments of a tracker node.
#[derive(Debug, Args)]
pub struct TrackerNodeArgs {
    /// Node id.
    #[arg(long)]
    pub id: u64,
    /// Data dir.
    #[arg(long)]
    pub data_dir: PathBuf,
    /// RPC and replication address.
    #[arg(long)]
    pub listen: SocketAddr,
    /// HTTP announce address.
    #[arg(long)]
    pub http: Option<SocketAddr>,
    /// Every tracker: `1=ADDR,2=ADDR`.
    #[arg(long)]
    pub peers: String,
}

/// Runs a tracker node; returns the exit code.
pub fn run_tracker_node(a: TrackerNodeArgs) -> i32 {
    let peers = match crate::raft::node::parse_peers(&a.peers) {
        Ok(p) => p,
        Err(msg) => {
            crate::cluster::event::Emitter::new().emit(&crate::cluster::NodeEvent::Fatal { msg });
            return 2;
        }
    };
    let cfg = super::tracker::node::TrackerConfig {
        id: a.id,
        listen: a.listen,
        http: a.http,
        peers,
    };
    match super::tracker::node::run(cfg) {
        Ok(()) => 0,
        Err(e) => {
            crate::cluster::event::Emitter::new()
                .emit(&crate::cluster::NodeEvent::Fatal { msg: e.to_string() });
            1
        }
    }
}

/// Runs a `wirelab p2p` verb; returns the exit code.
pub fn run(verb: P2pVerb) -> i32 {
    run_with(verb, &mut std::io::stdout(), &mut std::io::stderr())
}

/// Runs a verb writing its answer to `out` and errors to `err` (the shell builtin's way).
/// Long-running verbs (`trackers`, `up` in the foreground, `share`, `get`, `bench`) write their
/// progress to the process's own stdout and stderr.
pub fn run_with(verb: P2pVerb, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let code = match run_inner(verb, out) {
        Ok(code) => code,
        Err(e) => {
            let _ = writeln!(err, "p2p: {}", crate::error_chain(&e));
            2
        }
    };
    let _ = out.flush();
    code
}

/// Parses `64MiB`, `1GiB`, `200MB`, `4096`.
pub fn parse_size(s: &str) -> anyhow::Result<u64> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: u64 = n.parse().map_err(|_| anyhow::anyhow!("bad size {s:?}"))?;
    let mult = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "kb" => 1000,
        "m" | "mib" => 1 << 20,
        "mb" => 1_000_000,
        "g" | "gib" => 1 << 30,
        "gb" => 1_000_000_000,
        _ => anyhow::bail!("bad size unit in {s:?}"),
    };
    n.checked_mul(mult)
        .ok_or_else(|| anyhow::anyhow!("size {s:?} too large"))
}

fn ctl(run: &RunDirArg, req: ControlRequest) -> anyhow::Result<control::ControlResponse> {
    let dir = resolve_run_dir("p2p", run.run_dir.as_deref())?;
    Ok(control::request(&dir, "p2p", &req)?)
}

fn run_inner(verb: P2pVerb, out: &mut dyn Write) -> anyhow::Result<i32> {
    match verb {
        P2pVerb::Trackers { run } => {
            let dir = run.run_dir.unwrap_or_else(|| rundir::new_run_dir("p2p"));
            let sup = lab::launch_trackers(&dir, None)?;
            foreground(sup, "trackers")
        }
        P2pVerb::Up {
            run,
            size,
            leechers,
            detach: true,
        } => {
            let dir = run.run_dir.unwrap_or_else(|| rundir::new_run_dir("p2p"));
            up_detached(&dir, size, leechers, out)
        }
        P2pVerb::Up {
            run,
            size,
            leechers,
            detach: false,
        } => {
            let cfg = LabConfig::builtin()?;
            let mut plan = LabPlan::from_config(&cfg);
            if let Some(s) = size {
                plan.size = parse_size(&s)?;
            }
            if let Some(l) = leechers {
                plan.leechers = l;
            }
            let dir = run.run_dir.unwrap_or_else(|| rundir::new_run_dir("p2p"));
            let sup = lab::launch(&plan, &dir, None)?;
            foreground(sup, "lab")
        }
        P2pVerb::Share {
            file,
            torrent,
            trackers,
            listen,
        } => super::transfer::share(&file, torrent, trackers, listen),
        P2pVerb::Get {
            torrent,
            out,
            listen,
        } => super::transfer::get(&torrent, &out, listen),
        P2pVerb::Status { run, json } => {
            let resp = ctl(&run, ControlRequest::Status)?;
            if json {
                let rows: Vec<Value> = resp.nodes.iter().map(status_row).collect();
                writeln!(
                    out,
                    "{}",
                    serde_json::to_string_pretty(&json!({ "nodes": rows }))?
                )?;
            } else {
                write!(out, "{}", format_table(&resp.nodes))?;
            }
            Ok(0)
        }
        P2pVerb::Kill { node, run } => {
            ctl(&run, ControlRequest::Kill { node })?;
            writeln!(out, "node {node} killed (SIGKILL)")?;
            Ok(0)
        }
        P2pVerb::Restart { node, run } => {
            ctl(&run, ControlRequest::Restart { node })?;
            writeln!(out, "node {node} restarted from its data dir")?;
            Ok(0)
        }
        P2pVerb::Partition { nodes, run } => {
            ctl(
                &run,
                ControlRequest::Partition {
                    nodes: nodes.clone(),
                },
            )?;
            writeln!(out, "node(s) {nodes:?} cut off from the others")?;
            Ok(0)
        }
        P2pVerb::Heal { run } => {
            ctl(&run, ControlRequest::Heal)?;
            writeln!(out, "network healed")?;
            Ok(0)
        }
        P2pVerb::Corrupt { node, piece, run } => {
            let dir = resolve_run_dir("p2p", run.run_dir.as_deref())?;
            let path = corrupt(&dir, node, piece)?;
            writeln!(
                out,
                "piece {piece} of {} overwritten with garbage",
                path.display()
            )?;
            Ok(0)
        }
        P2pVerb::Stop { run } => {
            ctl(&run, ControlRequest::Stop)?;
            writeln!(out, "lab stopped")?;
            Ok(0)
        }
        P2pVerb::Bench(args) => Ok(super::bench::run(args)),
    }
}

/// Starts `wirelab p2p up` as a background process of its own and returns once every node is
/// ready.
fn up_detached(
    run_dir: &Path,
    size: Option<String>,
    leechers: Option<usize>,
    out: &mut dyn Write,
) -> anyhow::Result<i32> {
    let mut args: Vec<String> = vec![
        "p2p".into(),
        "up".into(),
        "--run-dir".into(),
        run_dir.display().to_string(),
    ];
    if let Some(s) = size {
        args.extend(["--size".into(), s]);
    }
    if let Some(l) = leechers {
        args.extend(["--leechers".into(), l.to_string()]);
    }
    // A seeder re-verifies its whole file before it is ready: allow for a large one.
    let (pid, nodes) = crate::cluster::foreground::detach(
        &args,
        run_dir,
        "p2p",
        Duration::from_secs(300),
        crate::cluster::foreground::all_ready,
    )?;
    writeln!(
        out,
        "p2p lab up in {} (supervisor pid {pid})",
        run_dir.display()
    )?;
    write!(out, "{}", format_table(&nodes))?;
    Ok(0)
}

/// Overwrites piece `piece` of node `node`'s copy of the lab file; returns the file's path.
pub fn corrupt(run_dir: &Path, node: u64, piece: u32) -> anyhow::Result<PathBuf> {
    use std::os::unix::fs::FileExt;
    let t = Torrent::load(&run_dir.join("lab.torrent"))?;
    let cf = read_cluster_file(run_dir)?;
    let n = cf
        .nodes
        .iter()
        .find(|n| n.id == node)
        .ok_or_else(|| anyhow::anyhow!("no node {node}"))?;
    // The seeder serves the generated file itself; the others their download.
    let path = if n.id == 3 {
        run_dir.join("lab-data.bin")
    } else {
        n.data_dir.join(&t.name)
    };
    if piece >= t.piece_count() {
        anyhow::bail!(
            "piece {piece} out of range (the torrent has {})",
            t.piece_count()
        );
    }
    let f = std::fs::OpenOptions::new().write(true).open(&path)?;
    let garbage = vec![0xa5u8; t.piece_size(piece).min(4096) as usize];
    f.write_all_at(&garbage, piece as u64 * t.piece_len as u64)?;
    Ok(path)
}

/// Runs a supervisor in the foreground until Ctrl-C, SIGTERM, SIGHUP or `p2p stop`.
fn foreground(sup: Supervisor, what: &str) -> anyhow::Result<i32> {
    // A seeder re-verifies its whole file before it is ready: allow for a large one.
    crate::cluster::foreground::run(sup, Duration::from_secs(300), |sup| {
        println!("p2p {what} up in {}", sup.run_dir().display());
        print!("{}", format_table(&sup.nodes()));
        println!(
            "(Ctrl-C stops every node; `wirelab p2p status`, `p2p kill 1`, … from another terminal)"
        );
    })
}

/// One row of `p2p status`.
pub fn status_row(n: &NodeInfo) -> Value {
    let mut row = json!({
        "id": n.id,
        "pid": n.pid,
        "state": n.status.as_str(),
        "addr": n.addr,
        "http": n.http,
        "rss_bytes": n.rss_bytes,
    });
    if n.status.is_alive()
        && let Some(o) = row.as_object_mut()
    {
        for (k, v) in &n.state {
            o.insert(k.clone(), v.clone());
        }
    }
    row
}

/// The status table as text.
pub fn format_table(nodes: &[NodeInfo]) -> String {
    let mut out = format!(
        "{:<3} {:<8} {:<8} {:<8} {:<14} {:>6}  {}\n",
        "ID", "PID", "STATE", "ROLE", "PROGRESS", "RSS", "DETAIL"
    );
    for n in nodes {
        let s = &n.state;
        let num = |k: &str| s.get(k).and_then(Value::as_u64).unwrap_or(0);
        // Before a node's first state event, its spec's role is all there is.
        let role =
            s.get("role")
                .and_then(Value::as_str)
                .unwrap_or(if n.role.ends_with("tracker") {
                    "tracker"
                } else {
                    "-"
                });
        let (progress, detail) = if !n.status.is_alive() || (role == "-" && s.is_empty()) {
            ("-".to_string(), String::new())
        } else if role == "tracker" {
            (
                "-".to_string(),
                format!(
                    "ops {} lag {} digest {}{}",
                    num("ops"),
                    s.get("replication_lag")
                        .and_then(Value::as_u64)
                        .map_or("-".into(), |l| l.to_string()),
                    s.get("digest").and_then(Value::as_str).unwrap_or("-"),
                    if s.get("partitioned") == Some(&Value::Bool(true)) {
                        " PARTITIONED"
                    } else {
                        ""
                    }
                ),
            )
        } else {
            let (have, pieces) = (num("have"), num("pieces").max(1));
            (
                format!("{have}/{pieces} {:>3}%", have * 100 / pieces),
                format!(
                    "peers {} tracker {} down {}M up {}M bad {} {}",
                    num("peers"),
                    s.get("tracker")
                        .and_then(Value::as_u64)
                        .map_or("-".into(), |t| t.to_string()),
                    num("downloaded") >> 20,
                    num("uploaded") >> 20,
                    num("bad_pieces"),
                    s.get("map").and_then(Value::as_str).unwrap_or("")
                ),
            )
        };
        out.push_str(&format!(
            "{:<3} {:<8} {:<8} {:<8} {:<14} {:>5}M  {}\n",
            n.id,
            n.pid.map_or("-".into(), |p| p.to_string()),
            n.status.as_str(),
            role,
            progress,
            n.rss_bytes >> 20,
            detail
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_binary_and_decimal_units() {
        assert_eq!(parse_size("1GiB").unwrap(), 1 << 30);
        assert_eq!(parse_size("200MB").unwrap(), 200_000_000);
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert!(parse_size("12XB").is_err());
    }
}
