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
use crate::wire::frame::{encode_frame, read_frame};
use crate::wire::{FaultFilter, MAX_FRAME};

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
const MAX_IN_FLIGHT_PER_CONN: usize = 1024;
/// Most client connections served at once.
const MAX_CLIENT_CONNS: usize = 4096;

/// Where to send a request's answer, holding one of its connection's in-flight permits until
/// the answer is sent (or the request is dropped).
pub(super) struct ClientConn {
    pub(super) tx: mpsc::UnboundedSender<Response>,
    pub(super) _permit: tokio::sync::OwnedSemaphorePermit,
}

impl ClientConn {
    fn send(self, resp: Response) -> Result<(), Box<mpsc::error::SendError<Response>>> {
        self.tx.send(resp).map_err(Box::new)
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

/// Encodes and writes one local snapshot on a thread of its own ([`prepare_snapshot`]) and
/// reports back; neither the event loop nor the log's group commits wait for it.
fn spawn_snapshot_writer(
    dir: PathBuf,
    frozen: FrozenState,
    done: std::sync::mpsc::Sender<StorageJob>,
) {
    let spawned = std::thread::Builder::new()
        .name("raft-snapshot".into())
        .spawn({
            let done = done.clone();
            move || {
                let started = Instant::now();
                let snapshot = Snapshot {
                    meta: frozen.meta,
                    data: Arc::new(frozen.kv.snapshot()),
                };
                drop(frozen.kv);
                let result = prepare_snapshot(&dir, snapshot).map_err(|e| e.to_string());
                let _ = done.send(StorageJob::Prepared(result, started.elapsed()));
            }
        });
    if let Err(e) = spawned {
        let _ = done.send(StorageJob::Prepared(
            Err(format!("cannot start the snapshot writer: {e}")),
            Duration::ZERO,
        ));
    }
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
    let storage =
        Storage::open(&args.data_dir).map_err(|e| format!("cannot open data dir: {e}"))?;
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
            "recovered term {} vote {:?}, snapshot at {}, {} log entries",
            restored.hard_state.term,
            restored.hard_state.vote,
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
    let core = RaftCore::new(cfg, restored);

    let listener = crate::cluster::listen_reserved(args.listen)
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;

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
        ));
        outbound.insert(*peer, tx);
    }
    tokio::spawn(accept_loop(
        listener,
        inbox_tx.clone(),
        filter.clone(),
        emitter.clone(),
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

struct NodeLoop {
    args: NodeArgs,
    core: RaftCore,
    kv: KvStore,
    emitter: Arc<Emitter>,
    filter: FaultFilter,
    outbound: HashMap<NodeId, mpsc::UnboundedSender<Message>>,
    storage_tx: std::sync::mpsc::Sender<StorageJob>,
    pending_writes: BTreeMap<Index, PendingWrite>,
    pending_reads: HashMap<u64, PendingRead>,
    ready_reads: VecDeque<(Index, PendingRead)>,
    next_ctx: u64,
    last_snapshot_index: Index,
    /// Size of the last snapshot taken or restored.
    last_snapshot_bytes: u64,
    /// Entry payload bytes applied since then.
    applied_bytes_since_snapshot: u64,
    last_applied_term: Term,
    last_state: Value,
    shared_state: Arc<std::sync::Mutex<Map<String, Value>>>,
    last_state_at: Instant,
    writes_applied: u64,
    reads_served: u64,
    started: Instant,
}

impl NodeLoop {
    fn leader_hint(&self) -> Reply {
        let leader = self.core.status().leader.filter(|l| *l != self.args.id);
        let addr = leader.and_then(|l| {
            self.args
                .peers
                .iter()
                .find(|(id, _)| *id == l)
                .map(|(_, a)| a.to_string())
        });
        Reply::NotLeader { leader, addr }
    }

    /// Handles one input; returns true when the node should exit.
    fn handle(&mut self, input: Input) -> Result<bool, String> {
        match input {
            Input::Peer(from, msg) => self.core.step(from, msg),
            Input::Client(req, conn) => self.client_request(req, conn),
            Input::Persisted(p) => {
                if let Some((index, term)) = p.last {
                    self.core.on_persisted(index, term);
                }
                self.send(p.messages);
            }
            Input::SnapshotStored(snapshot) => {
                self.last_snapshot_bytes = snapshot.data.len() as u64;
                self.core.compact(snapshot);
            }
            Input::Control(cmd) => match cmd {
                ControlCommand::Faults { rules } => {
                    self.emitter
                        .log("info", format!("fault rules now {rules:?}"));
                    self.filter.set(rules);
                }
                ControlCommand::Report => self.report(true),
                ControlCommand::Shutdown => {
                    self.emitter.log("info", "shutting down on request");
                    return Ok(true);
                }
                ControlCommand::Lab { action, .. } => {
                    self.emitter
                        .log("warn", format!("no lab action {action:?} on a raft node"));
                }
            },
        }
        Ok(false)
    }

    fn client_request(&mut self, req: Request, conn: ClientConn) {
        let id = req.id;
        if let Op::Get { key } = req.op {
            let ctx = self.next_ctx;
            self.next_ctx += 1;
            match self.core.read_index(ctx) {
                Ok(()) => {
                    self.pending_reads.insert(
                        ctx,
                        PendingRead {
                            key,
                            req_id: id,
                            conn,
                        },
                    );
                }
                Err(_) => {
                    let _ = conn.send(Response {
                        id,
                        reply: self.leader_hint(),
                    });
                }
            }
            return;
        }
        let cmd = Command {
            client: req.client,
            seq: req.seq,
            op: req.op,
        };
        match self.core.propose(encode_command(&cmd)) {
            Ok(index) => {
                // An older proposal at this index (from a previous term) can no longer commit.
                if let Some(old) = self.pending_writes.insert(
                    index,
                    PendingWrite {
                        client: cmd.client,
                        seq: cmd.seq,
                        req_id: id,
                        conn,
                    },
                ) {
                    let _ = old.conn.send(Response {
                        id: old.req_id,
                        reply: self.leader_hint(),
                    });
                }
            }
            Err(_) => {
                let _ = conn.send(Response {
                    id,
                    reply: self.leader_hint(),
                });
            }
        }
    }

    fn send(&self, messages: Vec<Envelope>) {
        for env in messages {
            if let Some(tx) = self.outbound.get(&env.to) {
                let _ = tx.send(env.msg);
            }
        }
    }

    /// Processes every pending Ready: send, persist, apply, answer.
    fn drive(&mut self) -> Result<(), String> {
        while self.core.has_ready() {
            let rd: Ready = self.core.ready();
            self.send(rd.messages);
            let needs_write = rd.hard_state.is_some()
                || rd.snapshot.is_some()
                || rd.truncate_from.is_some()
                || !rd.entries.is_empty()
                || !rd.persisted_messages.is_empty();
            if let Some(snap) = &rd.snapshot {
                self.kv = KvStore::restore(&snap.data)
                    .map_err(|e| format!("snapshot from leader does not decode: {e}"))?;
                self.last_snapshot_index = snap.meta.last_index;
                self.last_snapshot_bytes = snap.data.len() as u64;
                self.applied_bytes_since_snapshot = 0;
                self.last_applied_term = snap.meta.last_term;
                self.emitter.log(
                    "info",
                    format!("installed snapshot at index {}", snap.meta.last_index),
                );
                // Writes waiting below the snapshot were decided by someone else's log.
                let stale: Vec<Index> = self
                    .pending_writes
                    .range(..=snap.meta.last_index)
                    .map(|(i, _)| *i)
                    .collect();
                for i in stale {
                    if let Some(p) = self.pending_writes.remove(&i) {
                        let _ = p.conn.send(Response {
                            id: p.req_id,
                            reply: Reply::Error("outcome unknown: superseded by a snapshot".into()),
                        });
                    }
                }
            }
            if needs_write {
                let job = StorageJob::Write {
                    ready_parts: WriteParts {
                        hard_state: rd.hard_state,
                        snapshot: rd.snapshot,
                        truncate_from: rd.truncate_from,
                        entries: rd.entries,
                    },
                    messages: rd.persisted_messages,
                };
                self.storage_tx
                    .send(job)
                    .map_err(|_| "storage thread stopped".to_string())?;
            }
            for entry in rd.committed {
                self.apply(entry);
            }
            for (ctx, index) in rd.read_states {
                if let Some(r) = self.pending_reads.remove(&ctx) {
                    self.ready_reads.push_back((index, r));
                }
            }
            for ctx in rd.dropped_reads {
                if let Some(r) = self.pending_reads.remove(&ctx) {
                    let _ = r.conn.send(Response {
                        id: r.req_id,
                        reply: self.leader_hint(),
                    });
                }
            }
        }
        self.serve_reads();
        self.maybe_compact();
        Ok(())
    }

    fn apply(&mut self, entry: Entry) {
        self.last_applied_term = entry.term;
        self.applied_bytes_since_snapshot += entry.data.len() as u64;
        let result = match entry.kind {
            EntryKind::Noop => {
                self.kv.skip(entry.index);
                None
            }
            EntryKind::Normal => match self.kv.apply(entry.index, &entry.data) {
                Ok(r) => {
                    self.writes_applied += 1;
                    Some(r)
                }
                Err(e) => {
                    self.emitter.log(
                        "error",
                        format!(
                            "entry {} does not decode ({e}); applied as nothing",
                            entry.index
                        ),
                    );
                    None
                }
            },
        };
        if let Some(p) = self.pending_writes.remove(&entry.index) {
            let reply = match result {
                Some((cmd, reply)) if cmd.client == p.client && cmd.seq == p.seq => reply,
                // Another leader's entry took this index: ours was never committed.
                _ => self.leader_hint(),
            };
            let _ = p.conn.send(Response {
                id: p.req_id,
                reply,
            });
        }
    }

    fn serve_reads(&mut self) {
        let applied = self.kv.applied();
        while let Some((index, _)) = self.ready_reads.front() {
            if *index > applied {
                break;
            }
            let Some((_, r)) = self.ready_reads.pop_front() else {
                break;
            };
            self.reads_served += 1;
            let value = self.kv.get(&r.key).map(|v| v.to_vec());
            let _ = r.conn.send(Response {
                id: r.req_id,
                reply: Reply::Value(value),
            });
        }
    }

    fn maybe_compact(&mut self) {
        let applied = self.kv.applied();
        if applied < self.last_snapshot_index + self.args.snapshot_entries.max(1) {
            return;
        }
        // Amortized: a snapshot costs its size in encoding and I/O, so take the next one only
        // once at least that many bytes of log were applied since the last (the rule of Redis's
        // auto-aof-rewrite-percentage 100). Snapshot work then stays proportional to the write
        // traffic however large the state grows, and the log stays at most about the
        // snapshot's size.
        if self.applied_bytes_since_snapshot < self.last_snapshot_bytes {
            return;
        }
        // An O(1) copy-on-write clone: the writer thread encodes it while this loop applies
        // on; the in-memory log is compacted once the snapshot is on disk.
        let frozen = FrozenState {
            meta: SnapshotMeta {
                last_index: applied,
                last_term: self.last_applied_term,
            },
            kv: self.kv.clone(),
        };
        self.last_snapshot_index = applied;
        self.applied_bytes_since_snapshot = 0;
        self.emitter.log(
            "info",
            format!(
                "snapshot at index {applied} ({} keys): encoding and writing it beside the log",
                self.kv.len()
            ),
        );
        let _ = self
            .storage_tx
            .send(StorageJob::Compact(frozen, self.storage_tx.clone()));
    }

    /// Emits a `state` event when role/term/leader changed, or every 100 ms when indexes moved.
    fn report(&mut self, force: bool) {
        let s = self.core.status();
        let role = match s.role {
            Role::Follower => "follower",
            Role::PreCandidate => "pre_candidate",
            Role::Candidate => "candidate",
            Role::Leader => "leader",
        };
        let key = json!([role, s.term, s.leader]);
        let changed = key != self.last_state;
        if !force && !changed && self.last_state_at.elapsed() < Duration::from_millis(100) {
            return;
        }
        self.last_state = key;
        self.last_state_at = Instant::now();
        let mut fields = Map::new();
        fields.insert("role".into(), json!(role));
        fields.insert("term".into(), json!(s.term));
        fields.insert("leader".into(), json!(s.leader));
        fields.insert("commit".into(), json!(s.commit));
        fields.insert("applied".into(), json!(self.kv.applied()));
        fields.insert("last_index".into(), json!(s.last_index));
        fields.insert("persisted".into(), json!(s.persisted));
        fields.insert("snapshot_index".into(), json!(s.snapshot_index));
        fields.insert("election_elapsed".into(), json!(s.election_elapsed));
        fields.insert("election_timeout".into(), json!(s.election_timeout));
        fields.insert("keys".into(), json!(self.kv.len()));
        // The last few entries' terms, for the dashboard's log view (index of the first, then
        // one term per entry).
        let first = s
            .last_index
            .saturating_sub(LOG_TAIL as u64 - 1)
            .max(s.snapshot_index + 1);
        let terms: Vec<u64> = (first..=s.last_index)
            .filter_map(|i| self.core.entry_term(i))
            .collect();
        fields.insert("log_tail".into(), json!({"first": first, "terms": terms}));
        fields.insert("writes_applied".into(), json!(self.writes_applied));
        fields.insert("reads_served".into(), json!(self.reads_served));
        fields.insert(
            "uptime_ms".into(),
            json!(self.started.elapsed().as_millis() as u64),
        );
        if changed {
            self.emitter.log(
                "info",
                match s.role {
                    Role::Leader => format!("elected leader for term {}", s.term),
                    _ => format!(
                        "{role} in term {} (leader {})",
                        s.term,
                        s.leader.map_or("unknown".to_string(), |l| l.to_string())
                    ),
                },
            );
        }
        if let Ok(mut shared) = self.shared_state.lock() {
            shared.clone_from(&fields);
            shared.insert("id".into(), json!(self.args.id));
        }
        self.emitter.emit(&NodeEvent::State { fields });
    }
}

/// Log writes of consecutive jobs merged into one: the last hard state, the lowest truncation
/// that reaches the disk, and the entries that survive later truncations.
#[derive(Default)]
struct MergedWrite {
    hard_state: Option<super::message::HardState>,
    truncate_from: Option<Index>,
    entries: Vec<Entry>,
}

impl MergedWrite {
    fn add(&mut self, parts: WriteParts) {
        if parts.hard_state.is_some() {
            self.hard_state = parts.hard_state;
        }
        if let Some(t) = parts.truncate_from {
            match self.entries.first().map(|e| e.index) {
                // The truncation only cuts entries not yet written: drop them from the batch.
                Some(first) if first < t => self.entries.retain(|e| e.index < t),
                // It reaches the disk.
                _ => {
                    self.entries.clear();
                    self.truncate_from = Some(self.truncate_from.map_or(t, |old| old.min(t)));
                }
            }
        }
        self.entries.extend(parts.entries);
    }

    fn is_empty(&self) -> bool {
        self.hard_state.is_none() && self.truncate_from.is_none() && self.entries.is_empty()
    }

    /// Writes everything with a single fdatasync for the log.
    fn flush(&mut self, storage: &mut Storage) -> Result<(), String> {
        if self.is_empty() {
            return Ok(());
        }
        let m = std::mem::take(self);
        storage
            .persist(m.hard_state, None, m.truncate_from, &m.entries)
            .map_err(|e| e.to_string())
    }
}

fn spawn_storage_thread(
    mut storage: Storage,
    inbox: mpsc::UnboundedSender<Input>,
    emitter: Arc<Emitter>,
) -> std::io::Result<std::sync::mpsc::Sender<StorageJob>> {
    let (tx, rx) = std::sync::mpsc::channel::<StorageJob>();
    std::thread::Builder::new()
        .name("raft-storage".into())
        .spawn(move || {
            // At most one local snapshot is being written; a newer one waits (and replaces an
            // older one that was waiting).
            let mut writing = false;
            let mut waiting: Option<(FrozenState, std::sync::mpsc::Sender<StorageJob>)> = None;
            while let Ok(first) = rx.recv() {
                // Group commit: every job queued while the last fdatasync ran shares the next.
                let mut jobs = vec![first];
                while let Ok(more) = rx.try_recv() {
                    jobs.push(more);
                }
                let mut last = None;
                let mut messages = Vec::new();
                let mut merged = MergedWrite::default();
                let result: Result<(), String> = (|| {
                    for job in jobs {
                        match job {
                            StorageJob::Write {
                                mut ready_parts,
                                messages: m,
                            } => {
                                if let Some(snap) = ready_parts.snapshot.take() {
                                    // Snapshots replace the log: write what came before first.
                                    merged.flush(&mut storage)?;
                                    storage.save_snapshot(&snap).map_err(|e| e.to_string())?;
                                    last = Some((snap.meta.last_index, snap.meta.last_term));
                                }
                                if let Some(e) = ready_parts.entries.last() {
                                    last = Some((e.index, e.term));
                                }
                                merged.add(ready_parts);
                                messages.extend(m);
                            }
                            StorageJob::Compact(snap, done) => {
                                if writing {
                                    waiting = Some((snap, done));
                                } else {
                                    writing = true;
                                    spawn_snapshot_writer(storage.dir().to_path_buf(), snap, done);
                                }
                            }
                            StorageJob::Prepared(prepared, written_in) => {
                                // The log must hold what came before the compaction point.
                                merged.flush(&mut storage)?;
                                let prepared = prepared?;
                                let (index, bytes) = (prepared.last_index(), prepared.data_len());
                                let started = Instant::now();
                                let installed = storage
                                    .install_prepared(prepared)
                                    .map_err(|e| e.to_string())?;
                                if let Some(snapshot) = installed {
                                    emitter.log(
                                        "info",
                                        format!(
                                            "snapshot at index {index} on disk ({bytes} bytes): \
                                             encoded, written and synced in {:.1} ms beside \
                                             the log; renamed and the log compacted in {:.1} ms",
                                            written_in.as_secs_f64() * 1e3,
                                            started.elapsed().as_secs_f64() * 1e3
                                        ),
                                    );
                                    let _ = inbox.send(Input::SnapshotStored(snapshot));
                                }
                                writing = false;
                                if let Some((snap, done)) = waiting.take() {
                                    writing = true;
                                    spawn_snapshot_writer(storage.dir().to_path_buf(), snap, done);
                                }
                            }
                        }
                    }
                    merged.flush(&mut storage)
                })();
                if let Err(e) = result {
                    // Nothing that depended on this write was acknowledged: stop here rather
                    // than run on with a log we cannot trust.
                    emitter.emit(&NodeEvent::Fatal {
                        msg: format!("storage failure: {e}"),
                    });
                    std::process::exit(3);
                }
                if inbox
                    .send(Input::Persisted(Persisted { last, messages }))
                    .is_err()
                {
                    return;
                }
            }
        })?;
    Ok(tx)
}

async fn accept_loop(
    listener: TcpListener,
    inbox: mpsc::UnboundedSender<Input>,
    filter: FaultFilter,
    emitter: Arc<Emitter>,
) {
    let conns = Arc::new(tokio::sync::Semaphore::new(MAX_CLIENT_CONNS));
    loop {
        let Ok(permit) = conns.clone().acquire_owned().await else {
            return;
        };
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let (inbox, filter, emitter) = (inbox.clone(), filter.clone(), emitter.clone());
        tokio::spawn(async move {
            serve_conn(stream, inbox, filter, emitter).await;
            drop(permit);
        });
    }
}

async fn serve_conn(
    stream: TcpStream,
    inbox: mpsc::UnboundedSender<Input>,
    filter: FaultFilter,
    emitter: Arc<Emitter>,
) {
    let (mut rd, wr) = stream.into_split();
    let mut buf = Vec::new();
    let hello = match read_frame(&mut rd, &mut buf, 64).await {
        Ok(true) => codec::decode_hello(&buf),
        _ => return,
    };
    match hello {
        Ok(Hello::Peer(from)) => loop {
            match read_frame(&mut rd, &mut buf, MAX_FRAME).await {
                Ok(true) => {}
                Ok(false) => return,
                Err(e) => {
                    emitter.log("warn", format!("peer {from}: {e}; dropping connection"));
                    return;
                }
            }
            if filter.verdict(from) == Verdict::Drop {
                continue;
            }
            match codec::decode_message(&buf) {
                Ok(msg) => {
                    if inbox.send(Input::Peer(from, msg)).is_err() {
                        return;
                    }
                }
                Err(e) => {
                    emitter.log(
                        "warn",
                        format!("garbage frame from peer {from}: {e}; dropping connection"),
                    );
                    return;
                }
            }
        },
        Ok(Hello::Client) => {
            let (tx, rx) = mpsc::unbounded_channel::<Response>();
            tokio::spawn(client_writer(wr, rx));
            let in_flight = Arc::new(tokio::sync::Semaphore::new(MAX_IN_FLIGHT_PER_CONN));
            loop {
                let Ok(permit) = in_flight.clone().acquire_owned().await else {
                    return;
                };
                match read_frame(&mut rd, &mut buf, MAX_FRAME).await {
                    Ok(true) => {}
                    _ => return,
                }
                match codec::decode_request(&buf) {
                    Ok(req) => {
                        let conn = ClientConn {
                            tx: tx.clone(),
                            _permit: permit,
                        };
                        if inbox.send(Input::Client(req, conn)).is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        let _ = tx.send(Response {
                            id: 0,
                            reply: Reply::Error(format!("bad request: {e}")),
                        });
                        return;
                    }
                }
            }
        }
        Err(e) => emitter.log("warn", format!("bad hello: {e}; dropping connection")),
    }
}

async fn client_writer(
    mut wr: tokio::net::tcp::OwnedWriteHalf,
    mut rx: mpsc::UnboundedReceiver<Response>,
) {
    let mut batch = Vec::new();
    let mut out = Vec::new();
    while rx.recv_many(&mut batch, 256).await > 0 {
        out.clear();
        for resp in batch.drain(..) {
            encode_frame(&codec::encode_response(&resp), &mut out);
        }
        if wr.write_all(&out).await.is_err() {
            return;
        }
    }
}

async fn peer_sender(
    me: NodeId,
    peer: NodeId,
    addr: SocketAddr,
    mut rx: mpsc::UnboundedReceiver<Message>,
    filter: FaultFilter,
    emitter: Arc<Emitter>,
) {
    let mut conn: Option<TcpStream> = None;
    let mut batch = Vec::new();
    let mut out = Vec::new();
    let mut scratch = Vec::new();
    let mut last_failure: Option<Instant> = None;
    let mut was_connected = false;
    while rx.recv_many(&mut batch, 512).await > 0 {
        out.clear();
        let mut delay = None;
        for msg in batch.drain(..) {
            match filter.verdict(peer) {
                Verdict::Drop => continue,
                Verdict::Delay(d) => delay = Some(d),
                Verdict::Pass => {}
            }
            scratch = codec::encode_message(&msg, std::mem::take(&mut scratch));
            encode_frame(&scratch, &mut out);
        }
        if out.is_empty() {
            continue;
        }
        if let Some(d) = delay {
            tokio::time::sleep(d).await;
        }
        if conn.is_none() {
            // Do not hammer a dead peer: one attempt per 50 ms; messages meanwhile are lost,
            // which Raft tolerates (they are retried by heartbeats and pipelining).
            if last_failure.is_some_and(|t| t.elapsed() < Duration::from_millis(50)) {
                continue;
            }
            match tokio::time::timeout(Duration::from_millis(200), TcpStream::connect(addr)).await {
                Ok(Ok(mut s)) => {
                    let _ = s.set_nodelay(true);
                    let mut hello = Vec::new();
                    encode_frame(&codec::encode_hello(Hello::Peer(me)), &mut hello);
                    if s.write_all(&hello).await.is_ok() {
                        if !was_connected {
                            emitter.log("debug", format!("connected to peer {peer} at {addr}"));
                        }
                        was_connected = true;
                        conn = Some(s);
                        last_failure = None;
                    }
                }
                _ => {
                    last_failure = Some(Instant::now());
                    continue;
                }
            }
        }
        // A peer that stopped reading (SIGSTOP) fills its socket buffer; give up on the
        // connection rather than queue behind it forever.
        if let Some(s) = conn.as_mut()
            && !matches!(
                tokio::time::timeout(Duration::from_secs(2), s.write_all(&out)).await,
                Ok(Ok(()))
            )
        {
            conn = None;
            last_failure = Some(Instant::now());
        }
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
