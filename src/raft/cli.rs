//! The `wirelab raft …` verbs: the Raft KV lab ([`RaftLab`], the lab contract) and its own
//! verbs: client operations (`put`, `get`, `del`, `cas`), `leader`, `faults`, `load`,
//! `nemesis`, `bench` and `chaos`. The common verbs (`up`, `status`, `kill`, …) are the lab
//! layer's ([`crate::lab::common`]).
//!
//! Exit codes (other tools script against them): 0 success; 1 not found or a failed compare;
//! 2 an error (including an unknown outcome: the write may or may not have happened).

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{ArgMatches, Args, Command, FromArgMatches, Subcommand};
use serde_json::{Value, json};

use super::client::{Client, ClientAuth, ClientError, ClientOptions};
use super::codec::{Op, Reply};
use super::lab::{self, LabConfig};
use crate::cluster::control::ControlRequest;
use crate::cluster::rundir::read_cluster_file;
use crate::cluster::{NodeInfo, Supervisor};
use crate::lab::args::{RunDirArg, parse_duration};
use crate::lab::{Lab, Readiness, Role, Target, TourStep, VerbCtx};

/// The Raft KV lab.
pub struct RaftLab;

/// The lab's name: its subcommand, builtin, `labs/raft/` and run-dir prefix.
pub const NAME: &str = "raft";

/// `wirelab raft up` arguments beyond the common ones.
#[derive(Debug, Args)]
pub struct UpArgs {
    /// Number of nodes.
    #[arg(long, default_value_t = 3)]
    pub nodes: usize,
}

/// The Raft lab's own verbs (the common ones come from the lab layer).
#[derive(Debug, Subcommand)]
pub enum RaftVerb {
    /// Print the current leader's id (exit 1 when there is none).
    Leader {
        /// Run dir.
        #[command(flatten)]
        run: RunDirArg,
    },
    /// Store a value (exit 0 when committed).
    Put {
        /// Key.
        key: String,
        /// Value.
        value: String,
        /// Run dir.
        #[command(flatten)]
        run: RunDirArg,
    },
    /// Print a value (linearizable read; exit 1 when absent).
    Get {
        /// Key.
        key: String,
        /// Run dir.
        #[command(flatten)]
        run: RunDirArg,
    },
    /// Delete a key (exit 1 when absent).
    Del {
        /// Key.
        key: String,
        /// Run dir.
        #[command(flatten)]
        run: RunDirArg,
    },
    /// Compare-and-set: store NEW only if the key holds OLD (exit 1 when it does not).
    Cas {
        /// Key.
        key: String,
        /// Expected value.
        old: String,
        /// New value.
        new: String,
        /// Run dir.
        #[command(flatten)]
        run: RunDirArg,
    },
    /// Degrade a node's links: drop a fraction of its peer frames and/or delay them
    /// (partitions set with `partition` stay in force; `heal` clears everything).
    Faults {
        /// Node id.
        node: u64,
        /// Fraction of frames to and from its peers dropped at random (0 to 1).
        #[arg(long, default_value_t = 0.0)]
        drop: f64,
        /// Delay added to each frame it sends to a peer, in milliseconds.
        #[arg(long, default_value_t = 0)]
        delay_ms: u64,
        /// Run dir.
        #[command(flatten)]
        run: RunDirArg,
    },
    /// Rebuild a node whose data is damaged from its peers: its files are moved aside, it
    /// restarts empty above every stored term, and votes only once it holds the cluster's log.
    Repair {
        /// Node id.
        node: u64,
        /// Run dir.
        #[command(flatten)]
        run: RunDirArg,
    },
    /// Measure durable write throughput, latency and failover time on a fresh cluster.
    Bench(super::bench::BenchArgs),
    /// Inject kills, pauses and partitions under load, then check linearizability.
    Chaos(super::chaos::ChaosArgs),
    /// A background write workload on this shell's cluster: start, stop (reads every key back
    /// and checks no acknowledged write was lost) or status.
    Load {
        /// start, stop or status.
        #[arg(value_parser = ["start", "stop", "status"], default_value = "status")]
        action: String,
        /// Concurrent clients (start).
        #[arg(long, default_value_t = 4)]
        clients: usize,
    },
    /// A burst of random kills, pauses and partitions against the RUNNING cluster, each undone
    /// before the next.
    Nemesis {
        /// How long.
        #[arg(long, default_value = "5s", value_parser = parse_duration)]
        duration: std::time::Duration,
        /// Fault kinds: kill,pause,partition.
        #[arg(long, default_value = "kill,pause,partition")]
        faults: String,
        /// Random seed.
        #[arg(long)]
        seed: Option<u64>,
        /// Run dir.
        #[command(flatten)]
        run: RunDirArg,
    },
}

impl Lab for RaftLab {
    fn name(&self) -> &'static str {
        NAME
    }

    fn about(&self) -> &'static str {
        "The Raft KV lab: a 3-process, fsync-durable Raft cluster you can kill -9."
    }

    fn noun(&self) -> &'static str {
        "raft cluster"
    }

    fn roles(&self) -> Vec<Role> {
        vec![Role::new(
            super::node::ROLE,
            "A Raft KV node.",
            super::node::run_cli,
        )]
    }

    fn own_verbs(&self, cmd: Command) -> Command {
        RaftVerb::augment_subcommands(cmd)
    }

    fn up_args(&self, up: Command) -> Command {
        UpArgs::augment_args(up)
    }

    fn check_up(&self, up: &ArgMatches) -> anyhow::Result<()> {
        let args = UpArgs::from_arg_matches(up)?;
        if args.nodes == 0 || args.nodes > 9 {
            anyhow::bail!("--nodes must be between 1 and 9 (got {})", args.nodes);
        }
        Ok(())
    }

    fn launch(
        &self,
        up: &ArgMatches,
        run_dir: &Path,
        exe: Option<PathBuf>,
    ) -> anyhow::Result<Supervisor> {
        let args = UpArgs::from_arg_matches(up)?;
        let cfg = LabConfig::builtin()?;
        Ok(lab::launch(&cfg, args.nodes, run_dir, exe)?)
    }

    fn readiness(&self) -> Readiness {
        Readiness {
            timeout: Duration::from_secs(10),
            what: "a leader",
        }
    }

    fn quorum_suffices(&self) -> bool {
        true
    }

    /// No node is still starting, a majority runs and has said it is ready, and there is a
    /// leader: a node whose data dir is damaged stays down while the others serve.
    fn is_ready(&self, nodes: &[NodeInfo]) -> bool {
        let starting = nodes.iter().any(|n| n.status.is_alive() && !n.ready);
        let ready = nodes
            .iter()
            .filter(|n| n.ready && n.status.is_alive())
            .count();
        !starting && ready > nodes.len() / 2 && current_leader(nodes).is_some()
    }

    fn leader(&self, nodes: &[NodeInfo]) -> Option<u64> {
        current_leader(nodes)
    }

    fn status_row(&self, node: &NodeInfo) -> Value {
        status_row(node)
    }

    fn status_table(&self, nodes: &[NodeInfo]) -> String {
        format_table(nodes)
    }

    fn up_hint(&self) -> String {
        "(Ctrl-C stops every node; act on it from another terminal with `wirelab raft kill 2`, `raft status`, …)".into()
    }

    fn run_own(&self, m: &ArgMatches, cx: &mut VerbCtx<'_>) -> i32 {
        let verb = match crate::lab::parse_own::<RaftVerb>(m, cx.err) {
            Ok(v) => v,
            Err(code) => return code,
        };
        match run_verb(verb, cx.target, cx.out, cx.err) {
            Ok(code) => code,
            Err(e) => crate::lab::report(NAME, &e, cx.err),
        }
    }

    fn on_stop(&self) {
        super::load::abandon();
    }

    fn tour_steps(&self) -> &'static [TourStep] {
        TOUR
    }
}

/// The tour on the Raft dashboard: write, kill the leader, re-election and the time without a
/// leader, every acknowledged write intact, pause, partition, heal.
const TOUR: &[TourStep] = &[
    TourStep::new(
        "A real 3-node Raft cluster: three wirelab processes, each with its own disk. Four clients write in the background. Every action here is a shell command; see the command log.",
        Some("raft load start --clients 4"),
        6,
    ),
    TourStep::new(
        "A client writes a key; the write is acknowledged only once a majority has it on disk.",
        Some("raft put greeting hello && raft get greeting"),
        5,
    ),
    TourStep::new(
        "SIGKILL the leader. Watch the timeline: a new election, and how long the cluster went without a leader.",
        Some("L=$(raft leader) && raft kill \"$L\""),
        7,
    ),
    TourStep::new(
        "The old leader restarts from its own disk and catches up as a follower.",
        Some("raft restart \"$L\" && sleep 1 && raft leader"),
        6,
    ),
    TourStep::new(
        "Stop the workload: every key is read back. Every acknowledged write is intact.",
        Some("raft load stop; raft get greeting"),
        7,
    )
    .on_tab(4),
    TourStep::new(
        "Pause a follower with SIGSTOP: the other two still form a majority and keep serving.",
        Some("N=$(( $(raft leader) % 3 + 1 )) && raft pause \"$N\" && raft put during-pause ok"),
        6,
    ),
    TourStep::new(
        "Resume it, then cut the leader off with a partition: the majority side elects a new leader.",
        Some("raft resume \"$N\"; raft partition \"$(raft leader)\""),
        7,
    ),
    TourStep::new(
        "Heal the network: the isolated node hears the higher term, steps down and catches up. The timeline holds the whole story.",
        Some("raft heal && sleep 1 && raft status"),
        7,
    )
    .on_tab(3),
];

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

fn run_verb(
    verb: RaftVerb,
    target: Target<'_>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<i32> {
    let ctl = |run: &RunDirArg, req: ControlRequest| target.request(NAME, run, req);
    match verb {
        RaftVerb::Leader { run } => {
            // An election may be under way: give it a moment before saying "none".
            let deadline = std::time::Instant::now() + Duration::from_secs(3);
            loop {
                let resp = ctl(&run, ControlRequest::Status)?;
                if let Some(l) = current_leader(&resp.nodes) {
                    writeln!(out, "{l}")?;
                    return Ok(0);
                }
                if std::time::Instant::now() > deadline {
                    writeln!(err, "no leader")?;
                    return Ok(1);
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        RaftVerb::Put { key, value, run } => client_op(
            target,
            &run,
            Op::Put {
                key,
                value: value.into_bytes(),
            },
            out,
            err,
        ),
        RaftVerb::Get { key, run } => client_op(target, &run, Op::Get { key }, out, err),
        RaftVerb::Del { key, run } => client_op(target, &run, Op::Del { key }, out, err),
        RaftVerb::Cas { key, old, new, run } => client_op(
            target,
            &run,
            Op::Cas {
                key,
                expected: old.into_bytes(),
                new: new.into_bytes(),
            },
            out,
            err,
        ),
        RaftVerb::Faults {
            node,
            drop,
            delay_ms,
            run,
        } => {
            if !(0.0..=1.0).contains(&drop) {
                anyhow::bail!("--drop must be between 0 and 1 (got {drop})");
            }
            let status = ctl(&run, ControlRequest::Status)?;
            let current = status
                .nodes
                .iter()
                .find(|n| n.id == node)
                .ok_or_else(|| anyhow::anyhow!("no node {node} in this cluster"))?;
            let rules = crate::wire::FaultRules {
                cut: current.faults.cut.clone(),
                drop_rate: drop,
                delay_ms,
            };
            ctl(&run, ControlRequest::Faults { node, rules })?;
            writeln!(
                out,
                "node {node}: dropping {:.0}% of peer frames, delaying each by {delay_ms} ms",
                drop * 100.0
            )?;
            Ok(0)
        }
        RaftVerb::Repair { node, run } => super::repair::run(target, &run, node, out),
        RaftVerb::Bench(args) => Ok(super::bench::run(args)),
        RaftVerb::Chaos(args) => Ok(super::chaos::run(args)),
        RaftVerb::Load { action, clients } => load_verb(target, &action, clients, out, err),
        RaftVerb::Nemesis {
            duration,
            faults,
            seed,
            run,
        } => super::nemesis::run(target, &run, duration, &faults, seed, out),
    }
}

/// `raft load …`: the workload lives in the process that hosts the cluster.
fn load_verb(
    target: Target<'_>,
    action: &str,
    clients: usize,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<i32> {
    let Target::InProcess(sup) = target else {
        writeln!(
            err,
            "raft load: runs only beside a cluster this shell hosts (`raft up` first, outside a pipeline); from the command line use `wirelab raft bench`"
        )?;
        return Ok(2);
    };
    match action {
        "start" => {
            let auth = ClientAuth::of_run(sup.run_dir())?;
            let line = super::load::start(super::bench::addrs_of(sup)?, auth, clients)?;
            writeln!(out, "{line}")?;
            Ok(0)
        }
        "stop" => {
            let (text, ok) = super::load::stop()?;
            write!(out, "{text}")?;
            Ok(if ok { 0 } else { 1 })
        }
        _ => {
            write!(out, "{}", super::load::status_text())?;
            Ok(0)
        }
    }
}

/// The client addresses of the cluster in `run_dir`, from `cluster.json`.
pub fn cluster_addrs(run_dir: &Path) -> anyhow::Result<Vec<(u64, SocketAddr)>> {
    let cf = read_cluster_file(run_dir)?;
    cf.nodes
        .iter()
        .map(|n| {
            n.addr
                .parse()
                .map(|a| (n.id, a))
                .map_err(|e| anyhow::anyhow!("bad address {:?} in cluster.json: {e}", n.addr))
        })
        .collect()
}

fn client_op(
    target: Target<'_>,
    run: &RunDirArg,
    op: Op,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<i32> {
    let dir = target.run_dir(NAME, run)?;
    let nodes = cluster_addrs(&dir)?;
    let rt = runtime()?;
    let auth = ClientAuth::of_run(&dir)?;
    let mut client = Client::new(nodes, auth, ClientOptions::default());
    let is_write = op.is_write();
    let result = rt.block_on(client.execute(op));
    Ok(match result {
        Ok(Reply::Value(Some(v))) => {
            writeln!(out, "{}", String::from_utf8_lossy(&v))?;
            0
        }
        Ok(Reply::Value(None)) | Ok(Reply::Deleted(false)) => {
            writeln!(err, "not found")?;
            1
        }
        Ok(Reply::Done) | Ok(Reply::Deleted(true)) | Ok(Reply::Cas { swapped: true, .. }) => 0,
        Ok(Reply::Cas {
            swapped: false,
            current,
        }) => {
            match current {
                Some(v) => writeln!(
                    err,
                    "compare failed: current value is {:?}",
                    String::from_utf8_lossy(&v)
                )?,
                None => writeln!(err, "compare failed: key is absent")?,
            }
            1
        }
        Ok(other) => {
            writeln!(err, "unexpected reply: {other:?}")?;
            2
        }
        Err(ClientError::Unknown(d)) if is_write => {
            writeln!(
                err,
                "no answer within {d:?}: the write may or may not have been applied"
            )?;
            2
        }
        Err(e) => {
            writeln!(err, "{e}")?;
            2
        }
    })
}

/// One row of `raft status`.
pub fn status_row(n: &NodeInfo) -> Value {
    let s = &n.state;
    let alive = n.status.is_alive();
    let field = |k: &str| {
        if alive {
            s.get(k).cloned().unwrap_or(Value::Null)
        } else {
            Value::Null
        }
    };
    json!({
        "id": n.id,
        "pid": n.pid,
        "state": n.status.as_str(),
        "addr": n.addr,
        "http": n.http,
        "role": field("role"),
        "term": field("term"),
        "leader": field("leader"),
        "commit": field("commit"),
        "applied": field("applied"),
        "last_index": field("last_index"),
        "partitioned": !n.faults.cut.is_empty(),
        "rss_bytes": n.rss_bytes,
        "cpu_percent": (n.cpu_percent * 10.0).round() / 10.0,
        "uptime_ms": n.uptime_ms,
    })
}

/// The leader as the running nodes report it: the running leader with the highest term.
pub fn current_leader(nodes: &[NodeInfo]) -> Option<u64> {
    nodes
        .iter()
        .filter(|n| n.status == crate::cluster::NodeStatus::Running)
        .filter(|n| n.state.get("role").and_then(Value::as_str) == Some("leader"))
        .max_by_key(|n| n.state.get("term").and_then(Value::as_u64).unwrap_or(0))
        .map(|n| n.id)
}

/// The node table as text.
pub fn format_table(nodes: &[NodeInfo]) -> String {
    let mut out = format!(
        "{:<4} {:<8} {:<8} {:<13} {:>5} {:>6} {:>8} {:>8} {:>8} {:>9}\n",
        "ID", "PID", "STATE", "ROLE", "TERM", "LEADER", "COMMIT", "APPLIED", "LAST", "RSS"
    );
    for n in nodes {
        let r = status_row(n);
        let show = |v: &Value| match v {
            Value::Null => "-".to_string(),
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let state = if r["partitioned"] == true && n.status.is_alive() {
            format!("{}*", n.status.as_str())
        } else {
            n.status.as_str().to_string()
        };
        out.push_str(&format!(
            "{:<4} {:<8} {:<8} {:<13} {:>5} {:>6} {:>8} {:>8} {:>8} {:>8}M\n",
            n.id,
            n.pid.map_or("-".into(), |p| p.to_string()),
            state,
            show(&r["role"]),
            show(&r["term"]),
            show(&r["leader"]),
            show(&r["commit"]),
            show(&r["applied"]),
            show(&r["last_index"]),
            n.rss_bytes / (1024 * 1024),
        ));
    }
    out
}
