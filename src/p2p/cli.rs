//! The `wirelab p2p …` verbs: the trackers, `share` and `get` for anyone, the lab (`up`,
//! `status`, `kill`, `restart`, `partition`, `heal`, `corrupt`, `wait`, `stop`) and `bench`.
//! The shell's `p2p` builtin takes the same verbs ([`run_in_shell`]).
//!
//! Exit codes: 0 success; 1 the download did not complete; 2 an error.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Subcommand};
use serde_json::{Value, json};

pub use super::corrupt::{PieceSelection, corrupt};
use super::lab::{self, LabConfig, LabPlan};
use crate::cli::RunDirArg;
use crate::cluster::control::{self, ControlRequest};
use crate::cluster::rundir::{self, read_cluster_file, resolve_run_dir};
use crate::cluster::{NodeInfo, Supervisor};
use crate::labs::LabHost;
pub use crate::raft::cli::Target;

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
        /// Piece data each peer may send per second (e.g. 4MiB; 0: unlimited; default from
        /// labs/p2p/lab.toml).
        #[arg(long)]
        upload_limit: Option<String>,
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
    /// Overwrite pieces of a peer's file with garbage (the peer keeps serving them).
    Corrupt {
        /// Node id.
        node: u64,
        /// Which pieces: an index (`7`), a range (`0-15`) or `all`.
        #[arg(long, default_value = "0")]
        piece: PieceSelection,
        /// Run dir.
        #[command(flatten)]
        run: RunDirArg,
    },
    /// Wait until the lab shows something (for scripts): exit 0 once it holds, 1 when it
    /// cannot or the timeout passes.
    Wait {
        /// The condition.
        #[command(subcommand)]
        until: super::wait::Condition,
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
    super::tracker::node::run(cfg)
}

/// Runs a `wirelab p2p` verb; returns the exit code.
pub fn run(verb: P2pVerb) -> i32 {
    run_with(verb, &mut std::io::stdout(), &mut std::io::stderr())
}

/// Runs a verb writing its answer to `out` and errors to `err`, on the lab `--run-dir` (or
/// the newest run) names. Long-running verbs (`trackers`, `up` in the foreground, `share`,
/// `get`, `bench`) write their progress to the process's own stdout and stderr.
pub fn run_with(verb: P2pVerb, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    run_target(verb, Target::RunDir, out, err)
}

/// `p2p …` as a shell builtin: `up` hosts the lab in this process ([`LabHost::start_p2p`];
/// `--detach` starts a background supervisor instead, as the CLI does), `stop` stops it, and
/// the other verbs act on the hosted lab: directly, or through its control socket from a
/// forked pipeline child (whose copy of the supervisor has no threads). `p2p wait` ends with
/// status 130 once `interrupted` says so (Ctrl-C in the shell).
pub fn run_in_shell(
    host: &LabHost,
    verb: P2pVerb,
    in_child: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
    interrupted: &dyn Fn() -> bool,
) -> i32 {
    let hosted = host.get("p2p");
    if let P2pVerb::Wait { until } = verb {
        let target = match &hosted {
            Some(sup) if !in_child => Target::InProcess(sup),
            Some(sup) => Target::Dir(sup.run_dir()),
            None => Target::RunDir,
        };
        return finish(wait(target, &until, out, interrupted), out, err);
    }
    match (verb, hosted) {
        (
            P2pVerb::Up {
                run,
                size,
                leechers,
                upload_limit,
                detach: false,
            },
            _,
        ) => {
            if in_child {
                let _ = writeln!(
                    err,
                    "p2p up: cannot start a lab inside a pipeline or subshell (or use --detach)"
                );
                return 2;
            }
            let started = plan(size, leechers, upload_limit)
                .and_then(|p| host.start_p2p(&p, run.run_dir, None));
            match started {
                Ok(sup) => {
                    let _ = writeln!(out, "p2p lab up in {}", sup.run_dir().display());
                    let _ = write!(out, "{}", format_table(&sup.nodes()));
                    let _ = out.flush();
                    0
                }
                Err(e) => {
                    let _ = writeln!(err, "p2p up: {}", crate::error_chain(&e));
                    2
                }
            }
        }
        (P2pVerb::Stop { run }, Some(_)) if run.run_dir.is_none() && !in_child => {
            host.stop("p2p");
            let _ = writeln!(out, "lab stopped");
            0
        }
        (verb, Some(sup)) if !in_child => run_target(verb, Target::InProcess(&sup), out, err),
        (verb, Some(sup)) => run_target(verb, Target::Dir(sup.run_dir()), out, err),
        (verb, None) => run_target(verb, Target::RunDir, out, err),
    }
}

/// Runs a verb on `target`; returns the exit code.
pub fn run_target(
    verb: P2pVerb,
    target: Target<'_>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    finish(run_inner(verb, target, out), out, err)
}

/// The exit code of a verb's result, its error written to `err`.
fn finish(result: anyhow::Result<i32>, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let code = match result {
        Ok(code) => code,
        Err(e) => {
            let _ = writeln!(err, "p2p: {}", crate::error_chain(&e));
            2
        }
    };
    let _ = out.flush();
    code
}

/// `p2p wait …` on `target`.
fn wait(
    target: Target<'_>,
    until: &super::wait::Condition,
    out: &mut dyn Write,
    interrupted: &dyn Fn() -> bool,
) -> anyhow::Result<i32> {
    let run = until.opts().run.clone();
    super::wait::run(
        until,
        || Ok(ctl(target, &run, ControlRequest::Status)?.nodes),
        out,
        interrupted,
    )
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

/// The run dir a verb acts on.
fn target_dir(target: Target<'_>, run: &RunDirArg) -> anyhow::Result<PathBuf> {
    let dir = match (target, &run.run_dir) {
        (Target::InProcess(sup), None) => sup.run_dir().to_path_buf(),
        (Target::Dir(dir), None) => dir.to_path_buf(),
        _ => resolve_run_dir("p2p", run.run_dir.as_deref())?,
    };
    // Another lab's run answers the same control protocol: refuse it by name.
    if let Ok(cf) = read_cluster_file(&dir)
        && cf.lab != "p2p"
    {
        anyhow::bail!("{} is a {} run, not a p2p lab", dir.display(), cf.lab);
    }
    Ok(dir)
}

fn ctl(
    target: Target<'_>,
    run: &RunDirArg,
    req: ControlRequest,
) -> anyhow::Result<control::ControlResponse> {
    match (target, &run.run_dir) {
        (Target::InProcess(sup), None) => {
            let resp = control::handle(sup, &req);
            match resp.error {
                Some(e) if !resp.ok => Err(anyhow::anyhow!(e)),
                _ => Ok(resp),
            }
        }
        _ => Ok(control::request(&target_dir(target, run)?, "p2p", &req)?),
    }
}

/// The lab plan of `lab.toml` with the command line's overrides.
fn plan(
    size: Option<String>,
    leechers: Option<usize>,
    upload_limit: Option<String>,
) -> anyhow::Result<LabPlan> {
    let cfg = LabConfig::builtin()?;
    let mut plan = LabPlan::from_config(&cfg)?;
    if let Some(u) = upload_limit {
        plan.upload_limit = parse_size(&u)?;
    }
    if let Some(s) = size {
        plan.size = parse_size(&s)?;
    }
    if let Some(l) = leechers {
        plan.leechers = l;
    }
    Ok(plan)
}

fn run_inner(verb: P2pVerb, target: Target<'_>, out: &mut dyn Write) -> anyhow::Result<i32> {
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
            upload_limit,
            detach: true,
        } => {
            // Checked here, so a bad value is an error now rather than in the background.
            plan(size.clone(), leechers, upload_limit.clone())?;
            let dir = run.run_dir.unwrap_or_else(|| rundir::new_run_dir("p2p"));
            up_detached(&dir, size, leechers, upload_limit, out)
        }
        P2pVerb::Up {
            run,
            size,
            leechers,
            upload_limit,
            detach: false,
        } => {
            let plan = plan(size, leechers, upload_limit)?;
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
            let resp = ctl(target, &run, ControlRequest::Status)?;
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
            ctl(target, &run, ControlRequest::Kill { node })?;
            writeln!(out, "node {node} killed (SIGKILL)")?;
            Ok(0)
        }
        P2pVerb::Restart { node, run } => {
            ctl(target, &run, ControlRequest::Restart { node })?;
            writeln!(out, "node {node} restarted from its data dir")?;
            Ok(0)
        }
        P2pVerb::Partition { nodes, run } => {
            ctl(
                target,
                &run,
                ControlRequest::Partition {
                    nodes: nodes.clone(),
                },
            )?;
            writeln!(out, "node(s) {nodes:?} cut off from the others")?;
            Ok(0)
        }
        P2pVerb::Heal { run } => {
            ctl(target, &run, ControlRequest::Heal)?;
            writeln!(out, "network healed")?;
            Ok(0)
        }
        P2pVerb::Corrupt { node, piece, run } => {
            let dir = target_dir(target, &run)?;
            let path = corrupt(&dir, node, piece)?;
            writeln!(
                out,
                "{piece} of node {node}'s copy ({}) overwritten with garbage",
                path.display()
            )?;
            Ok(0)
        }
        P2pVerb::Wait { until } => wait(target, &until, out, &|| false),
        P2pVerb::Stop { run } => {
            ctl(target, &run, ControlRequest::Stop)?;
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
    upload_limit: Option<String>,
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
    if let Some(u) = upload_limit {
        args.extend(["--upload-limit".into(), u]);
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
