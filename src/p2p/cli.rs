//! The P2P lab ([`P2pLab`], the lab contract) and its own verbs: the trackers, `share` and
//! `get` for anyone, `corrupt`, `wait` and `bench`. The common verbs (`up`, `status`, `kill`,
//! `partition`, …) are the lab layer's.
//!
//! Exit codes: 0 success; 1 the download did not complete; 2 an error.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{ArgMatches, Args, Command, FromArgMatches, Subcommand};
use serde_json::{Value, json};

pub use super::corrupt::{PieceSelection, corrupt};
use super::lab::{self, LabConfig, LabPlan};
use crate::cluster::control::ControlRequest;
use crate::cluster::rundir;
use crate::cluster::{NodeInfo, Supervisor};
use crate::lab::args::{RunDirArg, parse_size};
use crate::lab::{CommonVerb, Lab, Readiness, Role, Target, TourStep, VerbCtx};

/// The lab's name.
pub const NAME: &str = "p2p";

/// The P2P lab: two replicated trackers and a BitTorrent-compatible swarm.
pub struct P2pLab;

/// `wirelab p2p up` arguments beyond the common ones.
#[derive(Debug, Args)]
pub struct UpArgs {
    /// Trackers (nodes 1..=N; default from labs/p2p/lab.toml).
    #[arg(long)]
    pub trackers: Option<usize>,
    /// Size of the generated file (e.g. 64MiB, 1GiB).
    #[arg(long)]
    pub size: Option<String>,
    /// Leechers.
    #[arg(long)]
    pub leechers: Option<usize>,
    /// Piece data each peer may send per second (e.g. 4MiB; 0: unlimited; default from
    /// labs/p2p/lab.toml).
    #[arg(long)]
    pub upload_limit: Option<String>,
}

impl UpArgs {
    /// The lab plan of `lab.toml` with these overrides.
    pub fn plan(&self) -> anyhow::Result<LabPlan> {
        let cfg = LabConfig::builtin()?;
        let mut plan = LabPlan::from_config(&cfg)?;
        if let Some(u) = &self.upload_limit {
            plan.upload_limit = parse_size(u)?;
        }
        if let Some(s) = &self.size {
            plan.size = parse_size(s)?;
        }
        if let Some(l) = self.leechers {
            plan.leechers = l;
        }
        if let Some(t) = self.trackers {
            if !(1..=lab::MAX_TRACKERS).contains(&t) {
                anyhow::bail!(
                    "--trackers must be between 1 and {} (got {t})",
                    lab::MAX_TRACKERS
                );
            }
            plan.trackers = t;
        }
        Ok(plan)
    }
}

impl Lab for P2pLab {
    fn name(&self) -> &'static str {
        NAME
    }

    fn about(&self) -> &'static str {
        "The P2P lab: two replicated trackers and a BitTorrent-compatible swarm."
    }

    fn noun(&self) -> &'static str {
        "p2p lab"
    }

    fn roles(&self) -> Vec<Role> {
        vec![
            Role::new(
                super::tracker::node::ROLE,
                "A P2P tracker.",
                run_tracker_node,
            ),
            Role::new(
                super::peer::node::ROLE,
                "A P2P peer (seeder or leecher).",
                super::peer::node::run_cli,
            ),
        ]
    }

    fn verb_help(&self, verb: CommonVerb) -> Option<&'static str> {
        match verb {
            CommonVerb::Up => Some(
                "Start the lab in the foreground: 2 trackers, 1 seeder, 4 leechers on a generated file",
            ),
            CommonVerb::Status => Some(
                "Every process: pid, role, progress, peers, tracker in use, RSS; trackers' ops and lag",
            ),
            CommonVerb::Kill => Some("SIGKILL a node (1-2 are the trackers)"),
            CommonVerb::Restart => Some(
                "Start a node again on its data dir (a leecher resumes from its verified pieces)",
            ),
            CommonVerb::Partition => Some("Cut these trackers off from the other"),
            _ => None,
        }
    }

    fn own_verbs(&self, cmd: Command) -> Command {
        P2pVerb::augment_subcommands(cmd)
    }

    fn up_args(&self, up: Command) -> Command {
        UpArgs::augment_args(up)
    }

    fn check_up(&self, up: &ArgMatches) -> anyhow::Result<()> {
        UpArgs::from_arg_matches(up)?.plan().map(|_| ())
    }

    fn launch(
        &self,
        up: &ArgMatches,
        run_dir: &Path,
        exe: Option<PathBuf>,
    ) -> anyhow::Result<Supervisor> {
        let plan = UpArgs::from_arg_matches(up)?.plan()?;
        Ok(lab::launch(&plan, run_dir, exe)?)
    }

    fn readiness(&self) -> Readiness {
        // A seeder re-verifies its whole file before it is ready: allow for a large one.
        Readiness {
            timeout: Duration::from_secs(300),
            what: "every node ready",
        }
    }

    fn status_row(&self, n: &NodeInfo) -> Value {
        status_row(n)
    }

    fn status_table(&self, nodes: &[NodeInfo]) -> String {
        format_table(nodes)
    }

    fn up_hint(&self) -> String {
        "(Ctrl-C stops every node; `wirelab p2p status`, `p2p kill 1`, … from another terminal)"
            .into()
    }

    fn run_own(&self, m: &ArgMatches, cx: &mut VerbCtx<'_>) -> i32 {
        let verb = match crate::lab::parse_own::<P2pVerb>(m, cx.err) {
            Ok(v) => v,
            Err(code) => return code,
        };
        let result = match verb {
            P2pVerb::Wait { until } => wait(cx.target, &until, cx.out, cx.interrupted),
            verb => run_inner(verb, cx.target, cx.out),
        };
        let code = match result {
            Ok(code) => code,
            Err(e) => crate::lab::report(NAME, &e, cx.err),
        };
        let _ = cx.out.flush();
        code
    }

    fn after_stop(&self, run_dir: &Path) {
        remove_payloads(run_dir);
    }

    fn tour_steps(&self) -> &'static [TourStep] {
        TOUR
    }

    fn quick_up_args(&self) -> &'static [&'static str] {
        &["--size", "4MiB"]
    }

    fn complete(&self, words: &[&str]) -> Vec<String> {
        match words {
            ["corrupt", ..] => vec!["--piece".into()],
            _ => Vec::new(),
        }
    }
}

/// The tour on the P2P dashboard: a tracker killed mid-transfer, every piece verified,
/// trackers partitioned and healed.
const TOUR: &[TourStep] = &[
    TourStep::new(
        "The P2P lab: two trackers hold only metadata; a seeder and four leechers trade 512 KiB pieces directly. Each piece map fills as pieces pass their SHA-1 check.",
        Some("p2p wait pieces 4 16 --timeout 60s"),
        5,
    ),
    TourStep::new(
        "Mid-transfer, SIGKILL tracker 1 and restart leecher 5: the clients replay their sessions on tracker 2, leecher 5 resumes from the pieces it had verified, and the downloads go on.",
        Some("p2p kill 1 && p2p restart 5 && p2p wait tracker 2 --timeout 30s"),
        6,
    ),
    TourStep::new(
        "Every leecher completes, with every piece verified before it was written in place.",
        Some("p2p wait complete --timeout 120s"),
        5,
    ),
    TourStep::new(
        "Tracker 1 comes back empty and bootstraps from tracker 2: a snapshot, then the ops after it.",
        Some("p2p restart 1 && p2p wait converged --timeout 30s"),
        5,
    ),
    TourStep::new(
        "Partition the trackers, restart a leecher (it resumes from its verified pieces), then heal: the trackers diverge, then converge with no consensus and no acks.",
        Some(
            "p2p partition 1 && p2p restart 5 && p2p wait diverged --timeout 30s; p2p heal && p2p wait converged --timeout 30s",
        ),
        7,
    )
    .on_tab(2),
];

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
    /// Start a new round: every leecher is SIGKILLed, loses its copy and starts again from
    /// nothing (the trackers, the seeder and any corrupted seeder piece stay as they are).
    Round {
        /// Leave this leecher as it is: with a corrupted seeder piece, a complete leecher is
        /// the swarm's only good source of that piece.
        #[arg(long)]
        keep: Option<u64>,
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
    let peers = match crate::lab::args::parse_peers(&a.peers) {
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

fn ctl(
    target: Target<'_>,
    run: &RunDirArg,
    req: ControlRequest,
) -> anyhow::Result<crate::cluster::control::ControlResponse> {
    target.request(NAME, run, req)
}

fn run_inner(verb: P2pVerb, target: Target<'_>, out: &mut dyn Write) -> anyhow::Result<i32> {
    match verb {
        P2pVerb::Trackers { run } => {
            let dir = run.run_dir.unwrap_or_else(|| rundir::new_run_dir(NAME));
            let sup = lab::launch_trackers(&dir, None)?;
            foreground(sup)
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
        P2pVerb::Corrupt { node, piece, run } => {
            let dir = target.run_dir(NAME, &run)?;
            let path = corrupt(&dir, node, piece)?;
            writeln!(
                out,
                "{piece} of node {node}'s copy ({}) overwritten with garbage",
                path.display()
            )?;
            Ok(0)
        }
        P2pVerb::Round { keep, run } => new_round(target, &run, keep, out),
        P2pVerb::Wait { until } => wait(target, &until, out, &|| false),
        P2pVerb::Bench(args) => Ok(super::bench::run(args)),
    }
}

/// What a stopped run no longer needs: the generated file the seeder served and every peer's
/// copy of it (a P2P run is otherwise ~5 × the file size on disk). The logs, the torrent and
/// `cluster.json` stay; `p2p up --run-dir` on the run generates the file again.
fn remove_payloads(run_dir: &Path) {
    let _ = std::fs::remove_file(run_dir.join("lab-data.bin"));
    let (Ok(t), Ok(cf)) = (
        super::torrent::Torrent::load(&run_dir.join("lab.torrent")),
        rundir::read_cluster_file(run_dir),
    ) else {
        return;
    };
    for n in &cf.nodes {
        // Only a plain file name inside the node's own data dir (the torrent is ours, but a
        // damaged one must not reach outside).
        if !t.name.contains('/') && !t.name.contains("..") && n.data_dir.starts_with(run_dir) {
            let _ = std::fs::remove_file(n.data_dir.join(&t.name));
        }
    }
}

/// `p2p round`: each leecher is stopped, its copy of the file removed, and started again: it
/// re-verifies nothing, holds nothing and downloads everything once more.
fn new_round(
    target: Target<'_>,
    run: &RunDirArg,
    keep: Option<u64>,
    out: &mut dyn Write,
) -> anyhow::Result<i32> {
    let dir = target.run_dir(NAME, run)?;
    let t = super::torrent::Torrent::load(&dir.join("lab.torrent"))?;
    let nodes = ctl(target, run, ControlRequest::Status)?.nodes;
    let leechers: Vec<&NodeInfo> = nodes
        .iter()
        .filter(|n| n.state.get("role").and_then(Value::as_str) == Some("leecher"))
        .collect();
    if let Some(k) = keep
        && !leechers.iter().any(|n| n.id == k)
    {
        anyhow::bail!("--keep {k}: node {k} is not a leecher");
    }
    let leechers: Vec<&NodeInfo> = leechers
        .into_iter()
        .filter(|n| Some(n.id) != keep)
        .collect();
    if leechers.is_empty() {
        anyhow::bail!("no leecher to start over (none has reported yet, or --keep left none)");
    }
    for n in &leechers {
        if n.status.is_alive() {
            ctl(target, run, ControlRequest::Kill { node: n.id })?;
        }
        let copy = n.data_dir.join(&t.name);
        match std::fs::remove_file(&copy) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => anyhow::bail!("removing {}: {e}", copy.display()),
        }
        ctl(target, run, ControlRequest::Restart { node: n.id })?;
    }
    let ids: Vec<String> = leechers.iter().map(|n| n.id.to_string()).collect();
    writeln!(
        out,
        "new round: leechers {} start over from nothing ({} pieces each to fetch and verify){}",
        ids.join(", "),
        t.piece_count(),
        keep.map(|k| format!("; leecher {k} keeps its copy"))
            .unwrap_or_default()
    )?;
    Ok(0)
}

/// Runs the trackers' supervisor in the foreground until Ctrl-C, SIGTERM, SIGHUP or `stop`.
fn foreground(sup: Supervisor) -> anyhow::Result<i32> {
    let banner = |sup: &Supervisor| {
        println!("p2p trackers up in {}", sup.run_dir().display());
        print!("{}", format_table(&sup.nodes()));
        println!("{}", P2pLab.up_hint());
    };
    crate::cluster::foreground::run(
        sup,
        crate::cluster::foreground::Foreground {
            ready_timeout: Duration::from_secs(30),
            ready_what: "every tracker ready",
            quorum_suffices: false,
            ready: &crate::cluster::foreground::all_ready,
            banner: &banner,
            live: &|_| None,
        },
    )
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
