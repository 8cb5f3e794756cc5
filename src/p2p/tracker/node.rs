//! A tracker process: `wirelab node p2p-tracker --id N --listen ADDR --http ADDR --peers 1=A,2=B`.
//!
//! ```text
//!  clients ──frames──▶ listener ─▶ Request ─▶ replica.local(op) ─┬─▶ Response
//!  other tracker ─────▶ listener ─▶ Pull/Ops/Snapshot ─▶ replica  └─▶ push Ops ─▶ link ─▶ other
//!  stock clients ──HTTP GET /announce (forge) ─▶ replica.local(op) ─▶ compact peers (BEP 23)
//! ```
//!
//! The link to each other tracker pulls every 100 ms (anti-entropy) and pushes new ops as they
//! are made; nothing waits for an answer. Every replication frame passes the fault filter both
//! ways, so `p2p partition 1` is a real loss of frames between the two processes.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::json;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::{broadcast, mpsc};

use super::http;
use super::rpc::{self, Inbound, MAX_TRACKER_FRAME, PeerEntry, Request, Response};
use super::state::{Op, OpKind, PeerRecord, Replica, SyncReply, VersionVector};
use crate::cluster::event::{ControlCommand, Emitter, NodeEvent, NodeRuntime, watch_stdin};
use crate::wire::FaultFilter;
use crate::wire::fault::Verdict;
use crate::wire::frame::{read_frame, write_frame};

/// The role's name: the supervisor starts this node as `wirelab node p2p-tracker …`.
pub const ROLE: &str = "p2p-tracker";

/// Ops kept for catching the other tracker up before it needs a snapshot.
const LOG_LIMIT: usize = 4096;

/// Milliseconds since the epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// What every task of a tracker shares.
pub struct Tracker {
    /// This tracker's node id.
    pub id: u64,
    replica: Mutex<Replica>,
    filter: FaultFilter,
    ops: broadcast::Sender<Op>,
    links: BTreeMap<u64, mpsc::UnboundedSender<Vec<u8>>>,
    peer_vv: Mutex<BTreeMap<u64, (Instant, VersionVector)>>,
    next_session: AtomicU64,
    emitter: Arc<Emitter>,
}

impl Tracker {
    fn replica(&self) -> MutexGuard<'_, Replica> {
        match self.replica.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// Makes a local op and pushes it to the other trackers.
    pub fn local(&self, kind: OpKind) -> Op {
        let op = self.replica().local(kind, now_ms());
        self.emitter.log(
            "debug",
            format!("op {}:{} {}", self.id, op.stamp.seq, describe_op(&op)),
        );
        let _ = self.ops.send(op.clone());
        op
    }

    /// The live peers of a swarm, without `except`.
    pub fn peers(&self, info_hash: &[u8; 20], except: Option<&[u8; 20]>) -> Vec<PeerEntry> {
        let r = self.replica();
        r.state()
            .swarm(info_hash)
            .filter(|(p, _, _)| Some(*p) != except)
            .map(|(p, _, rec)| PeerEntry {
                peer_id: *p,
                addr: rec.addr.clone(),
                seeder: rec.seeder,
                pieces: rec.pieces.iter().map(|b| b.count_ones()).sum(),
            })
            .collect()
    }

    fn handle_request(&self, req: Request, session: &mut u64) -> Response {
        match req {
            Request::Hello { session: s } => {
                // A resumed session keeps its id: the client replays its registrations next.
                *session = if s != 0 {
                    s
                } else {
                    (self.id << 56) | self.next_session.fetch_add(1, Ordering::Relaxed)
                };
                Response::Session {
                    id: *session,
                    tracker: self.id,
                }
            }
            Request::Register { info_hash, info } => {
                self.local(OpKind::Torrent { info_hash, info });
                Response::Ok
            }
            Request::Announce {
                info_hash,
                peer_id,
                addr,
                pieces,
                seeder,
                left,
            } => {
                if pieces.len() > 1 << 20 {
                    return Response::Error("bitfield too large".into());
                }
                self.local(OpKind::Peer {
                    info_hash,
                    peer_id,
                    record: PeerRecord {
                        addr,
                        session: *session,
                        pieces,
                        seeder,
                        left,
                    },
                });
                Response::Peers(self.peers(&info_hash, Some(&peer_id)))
            }
            Request::GetPeers { info_hash } => Response::Peers(self.peers(&info_hash, None)),
        }
    }

    fn handle_replication(&self, msg: Inbound) {
        let from = match &msg {
            Inbound::Pull { from, .. }
            | Inbound::Ops { from, .. }
            | Inbound::Snapshot { from, .. } => *from,
            Inbound::Client(..) => return,
        };
        if self.filter.verdict(from) == Verdict::Drop {
            return;
        }
        match msg {
            Inbound::Pull { vv, .. } => {
                let reply = self.replica().sync_for(&vv);
                if let Ok(mut m) = self.peer_vv.lock() {
                    m.insert(from, (Instant::now(), vv));
                }
                let frame = match reply {
                    SyncReply::Ops(ops) if ops.is_empty() => return,
                    SyncReply::Ops(ops) => rpc::encode_ops(self.id, &ops),
                    SyncReply::Snapshot(state, vv) => {
                        self.emitter
                            .log("info", format!("sending a snapshot to tracker {from}"));
                        rpc::encode_snapshot(self.id, &state, &vv)
                    }
                };
                if let Some(link) = self.links.get(&from) {
                    let _ = link.send(frame);
                }
            }
            Inbound::Ops { ops, .. } => {
                let mut r = self.replica();
                for op in ops {
                    r.apply(op);
                }
            }
            Inbound::Snapshot { state, vv, .. } => {
                self.replica().merge_snapshot(&state, &vv);
                self.emitter
                    .log("info", format!("merged a snapshot from tracker {from}"));
            }
            Inbound::Client(..) => {}
        }
    }

    /// This tracker's state for the supervisor: counts, version vector, replication lag.
    pub fn state_event(&self) -> NodeEvent {
        let r = self.replica();
        let mine = r.version_vector().clone();
        let lag: Option<u64> = self
            .peer_vv
            .lock()
            .map(|m| {
                // A peer not heard from for a second is gone or cut off: its lag is unknown.
                m.values()
                    .filter(|(at, _)| at.elapsed() < Duration::from_secs(1))
                    .map(|(_, theirs)| {
                        mine.iter()
                            .map(|(o, s)| s.saturating_sub(theirs.get(o).copied().unwrap_or(0)))
                            .sum::<u64>()
                    })
                    .max()
            })
            .ok()
            .flatten();
        let fields = json!({
            "role": "tracker",
            "torrents": r.state().torrents.len(),
            "peers": r.state().peers.values().filter(|(_, p)| !p.left).count(),
            "ops": r.ops_held(),
            "replication_lag": lag,
            "partitioned": !self.filter.rules().cut.is_empty(),
            "digest": state_digest(&r),
            "vv": vv_by_tracker(&mine),
        });
        NodeEvent::State {
            fields: fields.as_object().cloned().unwrap_or_default(),
        }
    }
}

/// A version vector summed per tracker id (an origin's low byte is the id of the tracker
/// incarnation that made it): `{"1": 420, "2": 97}`.
fn vv_by_tracker(vv: &VersionVector) -> serde_json::Map<String, serde_json::Value> {
    let mut by: BTreeMap<u64, u64> = BTreeMap::new();
    for (origin, seq) in vv {
        *by.entry(origin & 0xff).or_default() += seq;
    }
    by.into_iter()
        .map(|(id, n)| (id.to_string(), json!(n)))
        .collect()
}

/// A short digest of the replicated state, equal on two trackers exactly when they converged.
fn state_digest(r: &Replica) -> String {
    use sha1::{Digest, Sha1};
    let mut e = crate::wire::Encoder::new();
    super::state::codec::state(&mut e, r.state());
    crate::p2p::torrent::hex(&Sha1::digest(e.finish())[..6])
}

fn describe_op(op: &Op) -> String {
    match &op.kind {
        OpKind::Torrent { info, .. } => format!("torrent {} ({} pieces)", info.name, info.pieces),
        OpKind::Peer { record, .. } => format!(
            "peer {} {} pieces{}",
            record.addr,
            record.pieces.iter().map(|b| b.count_ones()).sum::<u32>(),
            if record.left { " (left)" } else { "" }
        ),
    }
}

/// Settings of a tracker process.
#[derive(Clone, Debug)]
pub struct TrackerConfig {
    /// Node id.
    pub id: u64,
    /// RPC and replication address.
    pub listen: SocketAddr,
    /// HTTP announce address.
    pub http: Option<SocketAddr>,
    /// Every tracker's RPC address (this one included).
    pub peers: Vec<(u64, SocketAddr)>,
}

/// Runs a tracker node until the supervisor lets go of it; returns the exit code (a failure
/// is reported as a `fatal` event first).
pub fn run(cfg: TrackerConfig) -> i32 {
    crate::cluster::event::run_node(NodeRuntime::Workers(2), |emitter| async move {
        serve(cfg, emitter).await.map_err(|e| e.to_string())
    })
}

/// Listens on a tracker port; the error names it.
fn listen(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    crate::cluster::listen_reserved(addr)
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))
}

async fn serve(cfg: TrackerConfig, emitter: Arc<Emitter>) -> std::io::Result<()> {
    let listener = listen(cfg.listen)?;
    let (ops, _) = broadcast::channel(4096);
    let mut links = BTreeMap::new();
    let mut link_rx = Vec::new();
    for (id, addr) in cfg.peers.iter().filter(|(id, _)| *id != cfg.id) {
        let (tx, rx) = mpsc::unbounded_channel();
        links.insert(*id, tx);
        link_rx.push((*id, *addr, rx));
    }
    let origin = (now_ms() << 8) | (cfg.id & 0xff);
    let tracker = Arc::new(Tracker {
        id: cfg.id,
        replica: Mutex::new(Replica::new(origin, LOG_LIMIT)),
        filter: FaultFilter::new(),
        ops,
        links,
        peer_vv: Mutex::new(BTreeMap::new()),
        next_session: AtomicU64::new(1),
        emitter: emitter.clone(),
    });
    for (id, addr, rx) in link_rx {
        tokio::spawn(link(tracker.clone(), id, addr, rx));
    }
    let http_addr = match cfg.http {
        Some(a) => {
            let l = listen(a)?;
            let addr = l.local_addr()?;
            let app = http::app(tracker.clone(), cfg.listen);
            tokio::spawn(async move {
                let _ = crate::forge::Server::new(app)
                    .serve(l, tokio_util::sync::CancellationToken::new())
                    .await;
            });
            Some(addr.to_string())
        }
        None => None,
    };
    {
        let t = tracker.clone();
        let em = emitter.clone();
        watch_stdin(
            move |cmd| match cmd {
                ControlCommand::Faults { rules } => {
                    let msg = if rules.cut.is_empty() {
                        "replication links restored".to_string()
                    } else {
                        format!("partitioned: frames to and from {:?} dropped", rules.cut)
                    };
                    t.filter.set(rules);
                    t.emitter.log("info", msg);
                    t.emitter.emit(&t.state_event());
                }
                ControlCommand::Report => t.emitter.emit(&t.state_event()),
                ControlCommand::Shutdown => std::process::exit(0),
                // Lab-specific actions are for other roles; a tracker has none.
                ControlCommand::Lab { action, .. } => {
                    t.emitter
                        .log("warn", format!("tracker: unknown lab action {action:?}"));
                }
            },
            move |e| em.log("warn", e),
        )?;
    }
    emitter.emit(&NodeEvent::Ready {
        addr: cfg.listen.to_string(),
        http: http_addr,
    });
    let t = tracker.clone();
    tokio::spawn(async move {
        // On change, at most 4 times a second; at least every 2 s.
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        let mut last: Option<(NodeEvent, Instant)> = None;
        loop {
            tick.tick().await;
            let ev = t.state_event();
            let due = last
                .as_ref()
                .is_none_or(|(prev, at)| *prev != ev || at.elapsed() >= Duration::from_secs(2));
            if due {
                t.emitter.emit(&ev);
                last = Some((ev, Instant::now()));
            }
        }
    });
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        tokio::spawn(connection(tracker.clone(), stream));
    }
}

async fn connection(tracker: Arc<Tracker>, stream: TcpStream) {
    let (mut rd, mut wr) = stream.into_split();
    let mut buf = Vec::new();
    let mut session = 0u64;
    while let Ok(true) = read_frame(&mut rd, &mut buf, MAX_TRACKER_FRAME).await {
        match rpc::decode_inbound(&buf) {
            Ok(Inbound::Client(id, req)) => {
                let resp = tracker.handle_request(req, &mut session);
                if write_frame(&mut wr, &rpc::encode_response(id, &resp))
                    .await
                    .is_err()
                {
                    return;
                }
            }
            Ok(msg) => tracker.handle_replication(msg),
            Err(e) => {
                tracker
                    .emitter
                    .log("warn", format!("bad frame, closing: {e}"));
                return;
            }
        }
    }
}

/// The one-way link to tracker `peer`: pulls on a timer, pushes new ops, sends sync replies.
async fn link(
    tracker: Arc<Tracker>,
    peer: u64,
    addr: SocketAddr,
    mut replies: mpsc::UnboundedReceiver<Vec<u8>>,
) {
    let mut ops = tracker.ops.subscribe();
    loop {
        let mut stream = match TcpStream::connect(addr).await {
            Ok(s) => s,
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(200)).await;
                // Ops made meanwhile reach the peer through its next pull.
                while ops.try_recv().is_ok() {}
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        loop {
            let frame = tokio::select! {
                _ = tick.tick() => {
                    let vv = tracker.replica().version_vector().clone();
                    rpc::encode_pull(tracker.id, &vv)
                }
                op = ops.recv() => match op {
                    Ok(op) => rpc::encode_ops(tracker.id, &[op]),
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                r = replies.recv() => match r {
                    Some(f) => f,
                    None => return,
                },
            };
            if tracker.filter.verdict(peer) == Verdict::Drop {
                continue;
            }
            if write_frame(&mut stream, &frame).await.is_err() {
                break;
            }
        }
        let _ = stream.shutdown().await;
    }
}
