//! A Raft node process: `wirelab node raft --id N --data-dir DIR --listen ADDR --peers …`.
//!
//! One event loop owns the deterministic [`RaftCore`] and the [`KvStore`]; around it:
//!
//! ```text
//!  peers ──TCP──▶ inbound conns ─┐                          ┌─▶ outbound task per peer ──TCP──▶ peers
//!  clients ─TCP─▶ client conns ──┼─▶ inbox ─▶ event loop ───┤
//!  stdin (control) ──────────────┘      ▲     (core, kv)    └─▶ storage thread: write, ONE fdatasync
//!                                       └────── persisted ◀──────┘   per batch of queued jobs
//! ```
//!
//! The storage thread drains every job queued while it was syncing and covers them all with one
//! `fdatasync` (group commit). The leader's own write runs in parallel with replication: its
//! AppendEntries go out before its disk write completes; its own acknowledgement counts only
//! when the storage thread reports the entries durable. Messages that promise durability (vote
//! grants, append acks) are held until the write they depend on is synced.
//!
//! - `mod.rs`: the node's arguments, the inputs of the loop, and `run_async`, which wires the
//!   loop, the threads and the tasks together.
//! - `event_loop.rs`: `NodeLoop`, the one owner of the core and the state machine.
//! - `storage.rs`: the storage thread (group commit) and the snapshot writer.
//! - `net.rs`: the listener, inbound connections, the client writer and the peer senders.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use super::codec::{self, Hello, Op, Reply, Request, Response};
use super::core::{Config, RaftCore, Ready, Role};
use super::kv::{Command, KvStore, encode_command};
use super::message::{
    Entry, EntryKind, Envelope, Index, Message, NodeId, Snapshot, SnapshotMeta, Term,
};
use super::storage::{PreparedSnapshot, Storage, prepare_snapshot};
use crate::cluster::event::{
    ControlCommand, Emitter, NodeEvent, NodeRuntime, run_node, watch_stdin,
};
use crate::wire::fault::Verdict;
use crate::wire::frame::{encode_frame, read_frame, read_frame_budgeted};
use crate::wire::{FaultFilter, MAX_FRAME};

mod event_loop;
mod net;
mod storage;

use event_loop::*;
use net::*;
use storage::*;

/// The largest client request frame: a value of up to 2 MiB (forge's body limit, so the
/// binary protocol and the HTTP gateway accept the same writes; etcd's default request limit is
/// 1.5 MiB) plus 4 KiB for the key and the request's fields. Far below the peer frame limit
/// (16 MiB): AppendEntries batches stop before 8 MiB (`max_append_bytes`) and take at least
/// one entry, so any accepted write fits in one peer frame. A write over it was appended by the
/// leader and then wedged replication for good (issue 11, item 4).
pub const MAX_CLIENT_FRAME: usize = (2 << 20) + 4096;

/// How long a new connection may take to send its hello (a few bytes).
pub const HELLO_DEADLINE: Duration = Duration::from_secs(5);
/// How long a frame may take once its first byte arrived: a 16 MiB AppendEntries on loopback
/// takes milliseconds; a peer that starts a frame and stalls is cut off after this.
pub const FRAME_DEADLINE: Duration = Duration::from_secs(10);

/// The marker `raft repair` leaves in a rebuilt node's data dir: the index (decimal) its log
/// must reach, durably, before the node votes or campaigns again
/// ([`super::core::RaftCore::hold_votes_until`]).
pub const VOTE_HOLD_FILE: &str = "vote-hold";

/// Reads the vote hold of `data_dir`, if any.
pub fn read_vote_hold(data_dir: &std::path::Path) -> Result<Option<Index>, String> {
    let path = data_dir.join(VOTE_HOLD_FILE);
    match std::fs::read(&path) {
        Ok(bytes) if bytes.len() <= 32 => std::str::from_utf8(&bytes)
            .ok()
            .and_then(|s| s.trim().parse::<Index>().ok())
            .map(Some)
            .ok_or_else(|| format!("{} does not hold an index", path.display())),
        Ok(_) => Err(format!("{} is too long to be an index", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// How many trailing log entries a `state` event describes.
const LOG_TAIL: usize = 24;

/// Settings of one node, from its command line.
#[derive(Clone, Debug)]
pub struct NodeArgs {
    /// This node's id.
    pub id: NodeId,
    /// Its data dir.
    pub data_dir: PathBuf,
    /// Address to listen on (peers and clients).
    pub listen: SocketAddr,
    /// The run's PKI folder (`RUN_DIR/pki`): this node's certificate and key, the CA's
    /// certificate, and every member's and the client's certificate.
    pub pki: PathBuf,
    /// Every member's address, this node included.
    pub peers: Vec<(NodeId, SocketAddr)>,
    /// Address of this node's HTTP gateway, if it has one.
    pub http: Option<SocketAddr>,
    /// Every member's HTTP gateway address (for redirects to the leader).
    pub http_peers: Vec<(NodeId, SocketAddr)>,
    /// Logical clock period.
    pub tick_ms: u64,
    /// Minimum election timeout.
    pub election_ms: u64,
    /// Heartbeat interval.
    pub heartbeat_ms: u64,
    /// Snapshot threshold in applied entries.
    pub snapshot_entries: u64,
    /// Entries per AppendEntries.
    pub max_append_entries: usize,
    /// Pipelined AppendEntries per follower.
    pub max_inflight: usize,
}

/// Parses `1=127.0.0.1:4001,2=…`.
pub fn parse_peers(s: &str) -> Result<Vec<(NodeId, SocketAddr)>, String> {
    crate::lab::args::parse_peers(s)
}

/// Most requests one client connection may have in flight; past it the node stops reading
/// from that connection until answers go out (backpressure instead of unbounded queues).
const MAX_IN_FLIGHT_PER_CONN: usize = 256;
/// Most client connections served at once.
const MAX_CLIENT_CONNS: usize = 4096;

/// Where to send a request's answer, holding one of its connection's in-flight permits until
/// the answer is sent (or the request is dropped).
pub(super) struct ClientConn {
    pub(super) tx: mpsc::UnboundedSender<Answer>,
    pub(super) _permit: tokio::sync::OwnedSemaphorePermit,
}

/// An answer on its way to the client, with the in-flight permit of its request: the permit is
/// released only once the answer is written to the socket, so a client that never reads stops
/// being read from after [`MAX_IN_FLIGHT_PER_CONN`] answers (backpressure, not an unbounded
/// queue: 3,000 pipelined reads of 64 KiB values once took a leader from 17 MB to 208 MB).
pub(super) struct Answer {
    pub(super) resp: Response,
    pub(super) _permit: tokio::sync::OwnedSemaphorePermit,
}

impl ClientConn {
    fn send(self, resp: Response) -> Result<(), Box<mpsc::error::SendError<Answer>>> {
        self.tx
            .send(Answer {
                resp,
                _permit: self._permit,
            })
            .map_err(Box::new)
    }
}

pub(super) enum Input {
    Peer(NodeId, Message),
    Client(Request, ClientConn),
    Persisted(Persisted),
    /// A snapshot the node took is on disk: the in-memory log can be compacted through it.
    SnapshotStored(Snapshot),
    Control(ControlCommand),
}

pub(super) struct Persisted {
    last: Option<(Index, Term)>,
    messages: Vec<Envelope>,
}

enum StorageJob {
    Write {
        ready_parts: WriteParts,
        messages: Vec<Envelope>,
    },
    /// A snapshot this node took: write it off the log's path, then compact. The sender lets
    /// the writer thread report back; it lives only while the snapshot is in flight.
    Compact(FrozenState, std::sync::mpsc::Sender<StorageJob>),
    /// The writer thread's answer to [`StorageJob::Compact`].
    Prepared(Result<PreparedSnapshot, String>, Duration),
}

/// The state machine as of one applied index: an O(1) copy-on-write clone, encoded later.
struct FrozenState {
    meta: SnapshotMeta,
    kv: KvStore,
}

struct WriteParts {
    hard_state: Option<super::message::HardState>,
    snapshot: Option<Snapshot>,
    truncate_from: Option<Index>,
    entries: Vec<Entry>,
}

struct PendingWrite {
    client: u64,
    seq: u64,
    req_id: u64,
    conn: ClientConn,
}

struct PendingRead {
    key: String,
    req_id: u64,
    conn: ClientConn,
}

async fn run_async(args: NodeArgs, emitter: Arc<Emitter>) -> Result<(), String> {
    let (inbox_tx, mut inbox) = mpsc::unbounded_channel::<Input>();

    // Control commands from the supervisor; EOF on stdin exits the process.
    {
        let tx = inbox_tx.clone();
        let em = emitter.clone();
        watch_stdin(
            move |cmd| {
                let _ = tx.send(Input::Control(cmd));
            },
            move |err| em.log("warn", err),
        )
        .map_err(|e| format!("cannot watch stdin: {e}"))?;
    }

    // Recover from disk before serving anything.
    let storage = Storage::open_checked(&args.data_dir, &|s| {
        KvStore::restore(&s.data)
            .map(|_| ())
            .map_err(|e| e.to_string())
    })
    .map_err(|e| format!("cannot open data dir: {e}"))?;
    for w in storage.warnings() {
        emitter.log("warn", w.to_string());
    }
    let restored = storage
        .recover()
        .map_err(|e| format!("cannot recover from data dir: {e}"))?;
    let restored_snapshot_bytes = restored
        .snapshot
        .as_ref()
        .map_or(0, |s| s.data.len() as u64);
    let kv = match &restored.snapshot {
        Some(s) => KvStore::restore(&s.data).map_err(|e| {
            format!(
                "snapshot in {} does not decode: {e}",
                args.data_dir.display()
            )
        })?,
        None => KvStore::new(),
    };
    emitter.log(
        "info",
        format!(
            "recovered term {}, {}, snapshot at {}, {} log entries",
            restored.hard_state.term,
            restored
                .hard_state
                .vote
                .map_or_else(|| "no vote cast".to_string(), |v| format!("voted for {v}")),
            restored.snapshot.as_ref().map_or(0, |s| s.meta.last_index),
            restored.entries.len()
        ),
    );

    let ticks = |ms: u64| ((ms / args.tick_ms.max(1)).max(1)) as u32;
    let cfg = Config {
        id: args.id,
        peers: args.peers.iter().map(|(id, _)| *id).collect(),
        election_ticks: ticks(args.election_ms),
        heartbeat_ticks: ticks(args.heartbeat_ms),
        pre_vote: true,
        check_quorum: true,
        max_append_entries: args.max_append_entries,
        max_append_bytes: MAX_FRAME / 2,
        max_inflight: args.max_inflight,
        seed: rand::random(),
    };
    let mut core = RaftCore::new(cfg, restored);
    let vote_hold = read_vote_hold(&args.data_dir)?;
    if let Some(index) = vote_hold {
        core.hold_votes_until(index);
        emitter.log(
            "info",
            format!("rebuilt by repair: holding votes until the log reaches index {index}"),
        );
    }

    let listener = crate::cluster::listen_reserved(args.listen)
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;

    let members: Vec<NodeId> = args.peers.iter().map(|(id, _)| *id).collect();
    let tls = Arc::new(
        NodeTls::load(&args.pki, args.id, &members)
            .map_err(|e| format!("cannot load TLS identity: {e}"))?,
    );
    let filter = FaultFilter::new();
    let mut outbound = HashMap::new();
    for (peer, addr) in &args.peers {
        if *peer == args.id {
            continue;
        }
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(peer_sender(
            args.id,
            *peer,
            *addr,
            rx,
            filter.clone(),
            emitter.clone(),
            tls.clone(),
        ));
        outbound.insert(*peer, tx);
    }
    tokio::spawn(accept_loop(
        listener,
        inbox_tx.clone(),
        filter.clone(),
        emitter.clone(),
        tls.clone(),
    ));

    let storage_tx = spawn_storage_thread(storage, inbox_tx.clone(), emitter.clone())
        .map_err(|e| format!("cannot start storage thread: {e}"))?;

    let shared_state = Arc::new(std::sync::Mutex::new(Map::new()));
    if let Some(http) = args.http {
        let listener = crate::cluster::listen_reserved(http)
            .map_err(|e| format!("cannot listen for HTTP on {http}: {e}"))?;
        let gw = super::gateway::Gateway {
            inbox: inbox_tx.clone(),
            http_peers: Arc::new(
                args.http_peers
                    .iter()
                    .map(|(id, a)| (*id, a.to_string()))
                    .collect(),
            ),
            state: shared_state.clone(),
            in_flight: Arc::new(tokio::sync::Semaphore::new(4096)),
            session: Default::default(),
            bearer: Arc::from(format!("Bearer {}", tls.client_token)),
        };
        let (app, metrics) = super::gateway::app(gw);
        let server =
            crate::forge::Server::new(app).with_connection_gauge(metrics.connection_gauge());
        let em = emitter.clone();
        tokio::spawn(async move {
            if let Err(e) = server
                .serve(listener, tokio_util::sync::CancellationToken::new())
                .await
            {
                em.log("error", format!("HTTP gateway stopped: {e}"));
            }
        });
    }

    emitter.emit(&NodeEvent::Ready {
        addr: args.listen.to_string(),
        http: args.http.map(|a| a.to_string()),
    });

    let mut node = NodeLoop {
        args: args.clone(),
        core,
        kv,
        emitter,
        filter,
        outbound,
        storage_tx,
        pending_writes: BTreeMap::new(),
        pending_reads: HashMap::new(),
        ready_reads: VecDeque::new(),
        next_ctx: 1,
        last_snapshot_index: 0,
        last_snapshot_bytes: restored_snapshot_bytes,
        applied_bytes_since_snapshot: 0,
        last_applied_term: 0,
        last_state: Value::Null,
        shared_state,
        last_state_at: Instant::now(),
        writes_applied: 0,
        reads_served: 0,
        started: Instant::now(),
        vote_hold,
    };
    node.last_snapshot_index = node.core.status().snapshot_index;
    node.report(true);

    let mut ticker = tokio::time::interval(Duration::from_millis(args.tick_ms.max(1)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut batch = Vec::with_capacity(256);
    loop {
        tokio::select! {
            _ = ticker.tick() => node.core.tick(),
            n = inbox.recv_many(&mut batch, 1024) => {
                if n == 0 {
                    return Ok(());
                }
                for input in batch.drain(..) {
                    if node.handle(input)? {
                        return Ok(());
                    }
                }
            }
        }
        node.drive()?;
        node.report(false);
    }
}

/// The role's name: the supervisor starts nodes as `wirelab node raft …`.
pub const ROLE: &str = "raft";

/// Arguments of a Raft node.
#[derive(Debug, clap::Args)]
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
    /// The run's PKI folder (made by `raft up`): every connection is mutual TLS with it.
    #[arg(long)]
    pub pki: PathBuf,
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

/// Entry point of `wirelab node raft …`: runs the node and returns the exit code.
pub fn run_cli(a: RaftNodeArgs) -> i32 {
    let peers = match parse_peers(&a.peers) {
        Ok(p) => p,
        Err(e) => {
            Emitter::new().emit(&NodeEvent::Fatal { msg: e });
            return 2;
        }
    };
    if !peers.iter().any(|(id, _)| *id == a.id) {
        Emitter::new().emit(&NodeEvent::Fatal {
            msg: format!("node id {} is not among the peers {}", a.id, a.peers),
        });
        return 2;
    }
    let http_peers = match a.http_peers.as_deref().map(parse_peers).transpose() {
        Ok(p) => p.unwrap_or_default(),
        Err(e) => {
            Emitter::new().emit(&NodeEvent::Fatal { msg: e });
            return 2;
        }
    };
    let args = NodeArgs {
        id: a.id,
        data_dir: a.data_dir,
        listen: a.listen,
        pki: a.pki,
        peers,
        http: a.http,
        http_peers,
        tick_ms: a.tick_ms,
        election_ms: a.election_ms,
        heartbeat_ms: a.heartbeat_ms,
        snapshot_entries: a.snapshot_entries,
        max_append_entries: a.max_append_entries.max(1),
        max_inflight: a.max_inflight.max(1),
    };
    run_node(NodeRuntime::CurrentThread, |emitter| {
        run_async(args, emitter)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(index: Index, term: Term) -> Entry {
        Entry {
            term,
            index,
            kind: EntryKind::Normal,
            data: vec![],
        }
    }

    fn parts(truncate_from: Option<Index>, entries: Vec<Entry>) -> WriteParts {
        WriteParts {
            hard_state: None,
            snapshot: None,
            truncate_from,
            entries,
        }
    }

    #[test]
    fn merged_writes_drop_entries_a_later_truncation_cut() {
        let mut m = MergedWrite::default();
        m.add(parts(None, (10..=20).map(|i| entry(i, 2)).collect()));
        m.add(parts(Some(15), (15..=16).map(|i| entry(i, 3)).collect()));
        assert_eq!(m.truncate_from, None);
        let got: Vec<(Index, Term)> = m.entries.iter().map(|e| (e.index, e.term)).collect();
        let want: Vec<(Index, Term)> = (10..15).map(|i| (i, 2)).chain([(15, 3), (16, 3)]).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn merged_writes_keep_a_truncation_that_reaches_the_disk() {
        let mut m = MergedWrite::default();
        m.add(parts(None, (10..=12).map(|i| entry(i, 2)).collect()));
        m.add(parts(Some(8), vec![entry(8, 3)]));
        m.add(parts(Some(9), vec![entry(9, 4)]));
        assert_eq!(m.truncate_from, Some(8));
        let got: Vec<(Index, Term)> = m.entries.iter().map(|e| (e.index, e.term)).collect();
        assert_eq!(got, vec![(8, 3), (9, 4)]);
    }

    #[test]
    fn peers_parse_and_reject_garbage() {
        let p = parse_peers("1=127.0.0.1:1,2=127.0.0.1:2").unwrap();
        assert_eq!(p.len(), 2);
        assert!(parse_peers("1-127.0.0.1:1").is_err());
        assert!(parse_peers("x=127.0.0.1:1").is_err());
        assert!(parse_peers("1=nowhere").is_err());
    }
}
