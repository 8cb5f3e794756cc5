//! Command-line definitions (clap). `main.rs` dispatches; the commands live in their modules.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// wirelab: a systems portfolio you can run and break.
#[derive(Debug, Parser)]
#[command(
    name = "wirelab",
    version,
    about,
    long_about = None,
    after_help = "With no command, wirelab opens the portfolio explorer (a terminal UI)."
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// The Raft KV lab: a 3-process, fsync-durable Raft cluster you can kill -9.
    Raft {
        /// The verb.
        #[command(subcommand)]
        verb: RaftVerb,
    },
    /// forge, the HTTP/1.1 framework: serve the demo app, or run the forge lab (load,
    /// slowloris, smuggling, graceful reload).
    Forge {
        /// The verb.
        #[command(subcommand)]
        verb: crate::forge::cli::ForgeVerb,
    },
    /// The P2P lab: two replicated trackers and a BitTorrent-compatible swarm.
    P2p {
        /// The verb.
        #[command(subcommand)]
        verb: crate::p2p::cli::P2pVerb,
    },
    /// Check a recorded history for linearizability.
    Check(CheckArgs),
    /// The wirelab shell: interactive, a script `FILE [ARGS]`, or `-c COMMAND [NAME [ARGS]]`.
    Shell(crate::shell::ShellArgs),
    /// Open a lab's dashboard directly (launching its cluster): `wirelab lab raft`,
    /// `wirelab lab forge`, `wirelab lab p2p`.
    Lab {
        /// The lab (raft, forge, p2p).
        lab: String,
    },
    /// The guided walkthrough: profile, the Raft lab live, the other projects.
    Tour {
        /// Advance by itself (for recordings).
        #[arg(long)]
        auto: bool,
    },
    /// Run a cluster member (started by the supervisor, not by hand).
    #[command(hide = true)]
    Node {
        /// The role.
        #[command(subcommand)]
        role: NodeRole,
    },
}

/// Where to find a running cluster.
#[derive(Debug, Args, Clone, Default)]
pub struct RunDirArg {
    /// The run dir (default: the newest run of this lab).
    #[arg(long, global = true)]
    pub run_dir: Option<PathBuf>,
}

/// `wirelab raft …`
#[derive(Debug, Subcommand)]
pub enum RaftVerb {
    /// Start the cluster in the foreground (Ctrl-C stops every node). A run dir that already
    /// holds data restarts the same cluster from disk.
    Up {
        /// Number of nodes.
        #[arg(long, default_value_t = 3)]
        nodes: usize,
        /// Run dir.
        #[command(flatten)]
        run: RunDirArg,
        /// Print the node table and return once the cluster has a leader, leaving it running
        /// in the background (stop it with `wirelab raft stop`).
        #[arg(long)]
        detach: bool,
    },
    /// Show every node: pid, state, role, term, leader, commit/applied/last index.
    Status {
        /// Run dir.
        #[command(flatten)]
        run: RunDirArg,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
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
    /// SIGKILL a node.
    Kill {
        /// Node id.
        node: u64,
        /// Run dir.
        #[command(flatten)]
        run: RunDirArg,
    },
    /// SIGSTOP a node.
    Pause {
        /// Node id.
        node: u64,
        /// Run dir.
        #[command(flatten)]
        run: RunDirArg,
    },
    /// SIGCONT a paused node.
    Resume {
        /// Node id.
        node: u64,
        /// Run dir.
        #[command(flatten)]
        run: RunDirArg,
    },
    /// Start a node again on its data dir (killing it first if it runs).
    Restart {
        /// Node id.
        node: u64,
        /// Run dir.
        #[command(flatten)]
        run: RunDirArg,
    },
    /// Cut these nodes off from the rest of the cluster.
    Partition {
        /// Node ids.
        #[arg(required = true)]
        nodes: Vec<u64>,
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
    /// Remove every partition and fault rule.
    Heal {
        /// Run dir.
        #[command(flatten)]
        run: RunDirArg,
    },
    /// Stop a running cluster.
    Stop {
        /// Run dir.
        #[command(flatten)]
        run: RunDirArg,
    },
    /// Measure durable write throughput, latency and failover time on a fresh cluster.
    Bench(crate::raft::bench::BenchArgs),
    /// Inject kills, pauses and partitions under load, then check linearizability.
    Chaos(crate::raft::chaos::ChaosArgs),
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
        #[arg(long, default_value = "5s", value_parser = crate::raft::bench::parse_duration)]
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

/// `wirelab check FILE`
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The history file.
    pub file: PathBuf,
    /// Its format.
    #[arg(long, default_value = "jsonl", value_parser = ["jsonl", "jepsen", "edn"])]
    pub format: String,
    /// JSON output.
    #[arg(long)]
    pub json: bool,
    /// Give up after this many seconds (verdict unknown).
    #[arg(long)]
    pub timeout: Option<f64>,
}

/// `wirelab node <role>`
#[derive(Debug, Subcommand)]
pub enum NodeRole {
    /// A Raft KV node.
    Raft(RaftNodeArgs),
    /// The forge lab's HTTP server.
    ForgeServer(crate::forge::lab::server_node::ServerNodeArgs),
    /// The forge lab's load generator.
    ForgeLoad(crate::forge::lab::load_node::LoadNodeArgs),
    /// A P2P tracker.
    P2pTracker(crate::p2p::cli::TrackerNodeArgs),
    /// A P2P peer (seeder or leecher).
    P2pPeer(crate::p2p::peer::node::PeerNodeArgs),
}

/// Arguments of a Raft node.
#[derive(Debug, Args)]
pub struct RaftNodeArgs {
    /// Node id.
    #[arg(long)]
    pub id: u64,
    /// Data dir.
    #[arg(long)]
    pub data_dir: PathBuf,
    /// Listen address.
    #[arg(long)]
    pub listen: std::net::SocketAddr,
    /// Members: `1=ADDR,2=ADDR,…`.
    #[arg(long)]
    pub peers: String,
    /// HTTP gateway address (KV over HTTP, /status, /metrics, /healthz).
    #[arg(long)]
    pub http: Option<std::net::SocketAddr>,
    /// Every member's HTTP gateway: `1=ADDR,2=ADDR,…` (for redirects to the leader).
    #[arg(long)]
    pub http_peers: Option<String>,
    /// Logical clock period.
    #[arg(long, default_value_t = 10)]
    pub tick_ms: u64,
    /// Minimum election timeout.
    #[arg(long, default_value_t = 200)]
    pub election_ms: u64,
    /// Heartbeat interval.
    #[arg(long, default_value_t = 40)]
    pub heartbeat_ms: u64,
    /// Snapshot threshold in entries.
    #[arg(long, default_value_t = 20000)]
    pub snapshot_entries: u64,
    /// Entries per AppendEntries.
    #[arg(long, default_value_t = 512)]
    pub max_append_entries: usize,
    /// Pipelined AppendEntries per follower.
    #[arg(long, default_value_t = 64)]
    pub max_inflight: usize,
}
