//! The chat server: enrolled clients (durable PSK registry), rooms with durable message logs,
//! one task pair per authenticated session, and a writer thread per room that group-commits
//! messages (append, fdatasync, then acknowledge and fan out).
//!
//! Exactly-once delivery rests on three rules: a room's ids are assigned by its one writer,
//! without gaps; a client's retransmission after a reconnect carries the same `cid` and is
//! re-acknowledged with the id it already has (never appended twice); a client resumes with
//! `Hello{after: last id it holds}` and gets every later message in order on one TCP stream.
//! Nothing reaches the room before the session's first transport message authenticated it.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::{Map, Value, json};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc::{UnboundedSender, unbounded_channel};
use tokio_util::sync::CancellationToken;

use super::link::{
    Channel, Reason, RekeyPolicy, Wire, read_frame, read_preamble, server_handshake,
};
use super::noise::Psk;
use super::store::{Entry, Lookup, Registry, RoomLog, valid_name};

/// How long a connection may take from accept to its authenticating first message.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest room name.
const MAX_ROOM: usize = 64;

/// Server settings.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Where the registry and room logs live.
    pub data_dir: PathBuf,
    /// No handshake, no encryption (the bench's plain-TCP baseline).
    pub plain: bool,
    /// When sessions rekey.
    pub rekey: RekeyPolicy,
    /// How long a session's sender waits after a first outgoing message to gather more into
    /// one write (zero: write at once). Under fan-out load this trades a millisecond of
    /// latency for many fewer syscalls on both ends.
    pub coalesce: Duration,
}

enum Out {
    Ack { cid: u64, id: u64 },
    Msg(Arc<Logged>),
}

/// A message on its way to one member: a room message's JSON shared by every member, or
/// one of its own (an ack).
enum Json {
    Shared(Arc<Logged>),
    Own(Vec<u8>),
}

impl Json {
    fn bytes(&self) -> &[u8] {
        match self {
            Json::Shared(e) => &e.wire,
            Json::Own(v) => v,
        }
    }
}

/// A room message with its `Wire::Msg` JSON, serialized once for every member.
struct Logged {
    entry: Entry,
    wire: Vec<u8>,
}

impl Logged {
    fn new(entry: Entry) -> Arc<Logged> {
        let wire = serde_json::to_vec(&Wire::Msg(entry.clone())).unwrap_or_default();
        Arc::new(Logged { entry, wire })
    }
}

struct Pending {
    from: String,
    cid: u64,
    sent_us: u64,
    text: String,
    reply: UnboundedSender<Out>,
}

struct Member {
    conn: u64,
    tx: UnboundedSender<Out>,
}

struct Room {
    entries: Vec<Arc<Logged>>,
    members: HashMap<String, Member>,
    writer: std::sync::mpsc::Sender<Pending>,
}

#[derive(Default)]
struct ClientView {
    session: &'static str,
    conn: Option<u64>,
    cancel: Option<CancellationToken>,
    sessions: u64,
    rekeys: u64,
    room: Option<String>,
}

/// A bounded record of latency samples (µs), for the bench's breakdown.
#[derive(Default)]
struct Samples(Vec<u64>);

impl Samples {
    const CAP: usize = 200_000;

    fn record(&mut self, us: u64) {
        if self.0.len() < Self::CAP {
            self.0.push(us);
        }
    }
}

/// Where a message's time went on the server, as quantiles in ms: the group commit
/// (append + fdatasync of one batch) and the sender's send → durable in the log.
#[derive(Clone, Copy, Debug, Default)]
pub struct CommitStats {
    /// Batches committed.
    pub batches: u64,
    /// Writes to the clients' sockets (each one syscall, many frames).
    pub writes: u64,
    /// Frames those writes carried (each frame one AEAD operation, holding every message
    /// queued for its member, up to 16 KiB).
    pub frames: u64,
    /// Commit p50.
    pub commit_p50_ms: f64,
    /// Commit p99.
    pub commit_p99_ms: f64,
    /// Slowest commit.
    pub commit_max_ms: f64,
    /// Send → durable p50.
    pub durable_p50_ms: f64,
    /// Send → durable p99.
    pub durable_p99_ms: f64,
}

struct Shared {
    commit_us: Samples,
    durable_us: Samples,
    registry: Registry,
    rooms: HashMap<String, Room>,
    clients: BTreeMap<String, ClientView>,
    rejects: BTreeMap<Reason, u64>,
    next_conn: u64,
    msgs: u64,
    handshakes: u64,
    open: u64,
}

/// A running chat server (shared by its connection tasks).
pub struct Server {
    cfg: ServerConfig,
    shared: Arc<Mutex<Shared>>,
    /// Writes (syscalls) of the sessions' senders, and the frames they carried.
    writes: std::sync::atomic::AtomicU64,
    frames_out: std::sync::atomic::AtomicU64,
}

fn lock(m: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Server {
    /// Loads the registry and every room log under `cfg.data_dir`.
    pub fn open(cfg: ServerConfig) -> anyhow::Result<Arc<Server>> {
        let registry = Registry::load(&cfg.data_dir.join("registry.json"))?;
        let clients = registry
            .names()
            .map(|(n, revoked)| {
                let view = ClientView {
                    session: if revoked { "revoked" } else { "idle" },
                    ..ClientView::default()
                };
                (n.to_string(), view)
            })
            .collect();
        let server = Arc::new(Server {
            cfg,
            writes: Default::default(),
            frames_out: Default::default(),
            shared: Arc::new(Mutex::new(Shared {
                commit_us: Samples::default(),
                durable_us: Samples::default(),
                registry,
                rooms: HashMap::new(),
                clients,
                rejects: BTreeMap::new(),
                next_conn: 0,
                msgs: 0,
                handshakes: 0,
                open: 0,
            })),
        });
        let rooms_dir = server.cfg.data_dir.join("rooms");
        std::fs::create_dir_all(&rooms_dir)?;
        for e in std::fs::read_dir(&rooms_dir)? {
            let path = e?.path();
            if path.extension().is_some_and(|x| x == "log")
                && let Some(name) = path.file_stem().and_then(|s| s.to_str())
                && valid_name(name)
            {
                let mut g = lock(&server.shared);
                server.room(&mut g, name)?;
            }
        }
        Ok(server)
    }

    /// The room `name`, opened (with its writer thread) on first use.
    fn room<'a>(&self, g: &'a mut Shared, name: &str) -> std::io::Result<&'a mut Room> {
        if !g.rooms.contains_key(name) {
            let (log, entries) =
                RoomLog::open(&self.cfg.data_dir.join("rooms").join(format!("{name}.log")))?;
            let mut last = HashMap::new();
            for e in &entries {
                if e.cid != 0 {
                    last.insert(e.from.clone(), (e.cid, e.id));
                }
            }
            let (tx, rx) = std::sync::mpsc::channel();
            let shared = self.shared.clone();
            let room = name.to_string();
            let next = entries.len() as u64 + 1;
            std::thread::Builder::new()
                .name(format!("room-{name}"))
                .spawn(move || writer_loop(shared, room, log, next, last, rx))?;
            g.rooms.insert(
                name.to_string(),
                Room {
                    entries: entries.into_iter().map(Logged::new).collect(),
                    members: HashMap::new(),
                    writer: tx,
                },
            );
        }
        g.rooms
            .get_mut(name)
            .ok_or_else(|| std::io::Error::other("room vanished"))
    }

    /// Enrolls `name` (or replaces its key and lifts a revocation), durably.
    pub fn enroll(&self, name: &str, psk: &Psk) -> anyhow::Result<()> {
        anyhow::ensure!(valid_name(name), "invalid client name {name:?}");
        let mut g = lock(&self.shared);
        g.registry.enroll(name, psk)?;
        let v = g.clients.entry(name.to_string()).or_default();
        if v.conn.is_none() {
            v.session = "idle";
        }
        Ok(())
    }

    /// Revokes `name` durably and ends its session.
    pub fn revoke(&self, name: &str) -> anyhow::Result<bool> {
        let mut g = lock(&self.shared);
        if !g.registry.revoke(name)? {
            return Ok(false);
        }
        if let Some(v) = g.clients.get_mut(name) {
            v.session = "revoked";
            if let Some(c) = v.cancel.take() {
                c.cancel();
            }
            v.conn = None;
        }
        Ok(true)
    }

    /// Counts a refused or broken connection.
    fn reject(&self, r: Reason) {
        *lock(&self.shared).rejects.entry(r).or_default() += 1;
    }

    /// The group commits so far: how long they took, and how long messages took from their
    /// sender to the disk.
    pub fn commit_stats(&self) -> CommitStats {
        use super::stats::quantile_ms;
        let g = lock(&self.shared);
        let (c, d) = (g.commit_us.0.clone(), g.durable_us.0.clone());
        drop(g);
        CommitStats {
            batches: c.len() as u64,
            writes: self.writes.load(std::sync::atomic::Ordering::Relaxed),
            frames: self.frames_out.load(std::sync::atomic::Ordering::Relaxed),
            commit_p50_ms: quantile_ms(c.clone(), 0.5),
            commit_p99_ms: quantile_ms(c.clone(), 0.99),
            commit_max_ms: quantile_ms(c, 1.0),
            durable_p50_ms: quantile_ms(d.clone(), 0.5),
            durable_p99_ms: quantile_ms(d, 0.99),
        }
    }

    /// Messages accepted so far.
    pub fn messages(&self) -> u64 {
        lock(&self.shared).msgs
    }

    /// The State event fields: sessions per client, rooms, rejects by reason, totals.
    pub fn state(&self) -> Map<String, Value> {
        let g = lock(&self.shared);
        let clients: Map<String, Value> = g
            .clients
            .iter()
            .map(|(n, v)| {
                (
                    n.clone(),
                    json!({"session": v.session, "sessions": v.sessions, "rekeys": v.rekeys,
                           "room": v.room}),
                )
            })
            .collect();
        let rooms: Map<String, Value> = g
            .rooms
            .iter()
            .map(|(n, r)| {
                let mut members: Vec<&String> = r.members.keys().collect();
                members.sort();
                let last: Vec<Value> = r
                    .entries
                    .iter()
                    .rev()
                    .take(5)
                    .rev()
                    .map(|e| json!({"id": e.entry.id, "from": e.entry.from, "text": e.entry.text}))
                    .collect();
                (
                    n.clone(),
                    json!({"last_id": r.entries.len(), "members": members, "last": last}),
                )
            })
            .collect();
        let rejects: Map<String, Value> = Reason::ALL
            .iter()
            .map(|r| {
                (
                    r.as_str().to_string(),
                    json!(g.rejects.get(r).copied().unwrap_or(0)),
                )
            })
            .collect();
        let enrolled: Vec<&str> = g
            .registry
            .names()
            .filter(|(_, r)| !r)
            .map(|(n, _)| n)
            .collect();
        let revoked: Vec<&str> = g
            .registry
            .names()
            .filter(|(_, r)| *r)
            .map(|(n, _)| n)
            .collect();
        let mut m = Map::new();
        m.insert("role".into(), json!("server"));
        m.insert("clients".into(), Value::Object(clients));
        m.insert("rooms".into(), Value::Object(rooms));
        m.insert("rejects".into(), Value::Object(rejects));
        m.insert("msgs_total".into(), json!(g.msgs));
        m.insert("handshakes".into(), json!(g.handshakes));
        m.insert("connections".into(), json!(g.open));
        m.insert("enrolled".into(), json!(enrolled));
        m.insert("revoked".into(), json!(revoked));
        m
    }

    /// Accepts connections forever.
    pub async fn serve(self: Arc<Self>, listener: TcpListener) -> std::io::Result<()> {
        loop {
            let (stream, _) = listener.accept().await?;
            let me = self.clone();
            tokio::spawn(async move { me.connection(stream).await });
        }
    }

    async fn connection(self: Arc<Self>, mut stream: TcpStream) {
        let _ = stream.set_nodelay(true);
        lock(&self.shared).open += 1;
        let result = self.session(&mut stream).await;
        if let Err(r) = result {
            self.reject(r);
        }
        lock(&self.shared).open -= 1;
        let _ = stream.shutdown().await;
    }

    /// Handshake, authenticating Hello, then the session until it ends.
    async fn session(&self, stream: &mut TcpStream) -> Result<(), Reason> {
        let (name, chan, room, after) = tokio::time::timeout(HANDSHAKE_TIMEOUT, async {
            let name = read_preamble(stream).await?;
            let ts = if self.cfg.plain {
                None
            } else {
                let (psk, refusal) = match lock(&self.shared).registry.lookup(&name) {
                    Lookup::Known(p) => (p, None),
                    Lookup::Unknown => (Psk::generate(), Some(Reason::UnknownClient)),
                    Lookup::Revoked => (Psk::generate(), Some(Reason::Revoked)),
                };
                Some(server_handshake(stream, &name, psk, refusal).await?)
            };
            let mut chan = Channel::new(ts, self.cfg.rekey);
            let mut buf = Vec::new();
            loop {
                match read_frame(stream, &mut buf).await {
                    Ok(true) => {}
                    _ => return Err(Reason::BadHandshake),
                }
                match chan.open(&mut buf).map_err(Reason::from)? {
                    None => continue,
                    Some(Wire::Hello { room, after })
                        if valid_name(&room) && room.len() <= MAX_ROOM =>
                    {
                        return Ok((name, chan, room, after));
                    }
                    Some(_) => return Err(Reason::Protocol),
                }
            }
        })
        .await
        .map_err(|_| Reason::BadHandshake)??;
        // Authenticated: register the session and join the room.
        let cancel = CancellationToken::new();
        let (tx, mut rx) = unbounded_channel::<Out>();
        let (conn, writer) = {
            let mut g = lock(&self.shared);
            if matches!(g.registry.lookup(&name), Lookup::Revoked) {
                return Err(Reason::Revoked);
            }
            g.next_conn += 1;
            g.handshakes += 1;
            let conn = g.next_conn;
            let v = g.clients.entry(name.clone()).or_default();
            if let Some(old) = v.cancel.replace(cancel.clone()) {
                old.cancel();
            }
            v.conn = Some(conn);
            v.session = "established";
            v.sessions += 1;
            v.room = Some(room.clone());
            let r = self.room(&mut g, &room).map_err(|_| Reason::Protocol)?;
            let from = (after as usize).min(r.entries.len());
            for e in &r.entries[from..] {
                let _ = tx.send(Out::Msg(e.clone()));
            }
            r.members.insert(
                name.clone(),
                Member {
                    conn,
                    tx: tx.clone(),
                },
            );
            (conn, r.writer.clone())
        };
        let chan = Arc::new(Mutex::new(chan));
        let (rd, mut wr) = stream.split();
        // Buffered from here on: nothing was read ahead during the handshake.
        let mut rd = tokio::io::BufReader::new(rd);
        let out_chan = chan.clone();
        let shared = self.shared.clone();
        let out_name = name.clone();
        let coalesce = self.cfg.coalesce;
        let (writes, frames_out) = (&self.writes, &self.frames_out);
        let send_loop = async move {
            let (mut buf, mut plain) = (Vec::new(), Vec::new());
            let mut queued: Vec<Json> = Vec::new();
            let mut rekeys = 0;
            while let Some(first) = rx.recv().await {
                if !coalesce.is_zero() && rx.is_empty() {
                    tokio::time::sleep(coalesce).await;
                }
                buf.clear();
                // What has queued up for this member, up to 256 KiB of messages, goes out
                // sealed together: one AEAD operation per frame, not per message.
                queued.clear();
                let mut bytes = 0;
                let mut next = Some(first);
                while let Some(o) = next {
                    let json = match o {
                        Out::Ack { cid, id } => Json::Own(
                            serde_json::to_vec(&Wire::Ack { cid, id }).unwrap_or_default(),
                        ),
                        Out::Msg(e) => Json::Shared(e),
                    };
                    bytes += json.bytes().len();
                    queued.push(json);
                    next = if bytes < 256 * 1024 {
                        rx.try_recv().ok()
                    } else {
                        None
                    };
                }
                let now_rekeys = {
                    let mut c = out_chan.lock().unwrap_or_else(|p| p.into_inner());
                    let jsons = queued.iter().map(Json::bytes);
                    let Ok(frames) = c.seal_batch(jsons, &mut plain, &mut buf) else {
                        return;
                    };
                    frames_out.fetch_add(frames, std::sync::atomic::Ordering::Relaxed);
                    c.rekeys_out + c.rekeys_in
                };
                if now_rekeys != rekeys {
                    rekeys = now_rekeys;
                    let mut g = lock(&shared);
                    if let Some(v) = g.clients.get_mut(&out_name)
                        && v.conn == Some(conn)
                    {
                        v.session = "rekeyed";
                        v.rekeys += 1;
                    }
                }
                writes.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if wr.write_all(&buf).await.is_err() {
                    return;
                }
            }
        };
        let recv_loop = async {
            let mut buf = Vec::new();
            loop {
                match read_frame(&mut rd, &mut buf).await {
                    Ok(true) => {}
                    _ => return Ok(()),
                }
                let msg = chan
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .open(&mut buf)
                    .map_err(Reason::from)?;
                match msg {
                    None => {}
                    Some(Wire::Say { cid, sent_us, text }) => {
                        let p = Pending {
                            from: name.clone(),
                            cid,
                            sent_us,
                            text,
                            reply: tx.clone(),
                        };
                        if writer.send(p).is_err() {
                            return Err(Reason::Protocol);
                        }
                    }
                    Some(_) => return Err(Reason::Protocol),
                }
            }
        };
        let result = tokio::select! {
            r = recv_loop => r,
            _ = send_loop => Ok(()),
            _ = cancel.cancelled() => Ok(()),
        };
        let mut g = lock(&self.shared);
        if let Some(r) = g.rooms.get_mut(&room)
            && r.members.get(&name).is_some_and(|m| m.conn == conn)
        {
            r.members.remove(&name);
        }
        if let Some(v) = g.clients.get_mut(&name)
            && v.conn == Some(conn)
        {
            v.conn = None;
            v.cancel = None;
            if v.session != "revoked" {
                v.session = "broken";
            }
        }
        result
    }
}

/// A room's writer: batches pending messages, de-duplicates retransmissions, appends and
/// fdatasyncs, then publishes (fan-out) and acknowledges.
fn writer_loop(
    shared: Arc<Mutex<Shared>>,
    room: String,
    mut log: RoomLog,
    mut next: u64,
    mut last: HashMap<String, (u64, u64)>,
    rx: std::sync::mpsc::Receiver<Pending>,
) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < 1024 {
            match rx.try_recv() {
                Ok(p) => batch.push(p),
                Err(_) => break,
            }
        }
        let mut fresh = Vec::new();
        let mut acks = Vec::new();
        for p in batch {
            if p.cid != 0
                && let Some(&(cid, id)) = last.get(&p.from)
                && p.cid <= cid
            {
                if p.cid == cid {
                    acks.push((p.reply, p.cid, id));
                }
                continue;
            }
            let id = next;
            next += 1;
            if p.cid != 0 {
                last.insert(p.from.clone(), (p.cid, id));
            }
            fresh.push(Entry {
                id,
                from: p.from,
                cid: p.cid,
                sent_us: p.sent_us,
                text: p.text,
            });
            acks.push((p.reply, p.cid, id));
        }
        let started = std::time::Instant::now();
        if !fresh.is_empty()
            && let Err(e) = log.append(&fresh)
        {
            // Not durable: acknowledging would lie. The node dies; its log is a clean prefix.
            eprintln!("room {room}: cannot append to the log: {e}");
            std::process::exit(1);
        }
        {
            let mut g = lock(&shared);
            if !fresh.is_empty() {
                let now = super::link::now_us();
                g.commit_us.record(started.elapsed().as_micros() as u64);
                for e in &fresh {
                    g.durable_us.record(now.saturating_sub(e.sent_us));
                }
            }
            g.msgs += fresh.len() as u64;
            if let Some(r) = g.rooms.get_mut(&room) {
                for e in fresh {
                    let e = Logged::new(e);
                    r.entries.push(e.clone());
                    for m in r.members.values() {
                        let _ = m.tx.send(Out::Msg(e.clone()));
                    }
                }
            }
        }
        for (reply, cid, id) in acks {
            let _ = reply.send(Out::Ack { cid, id });
        }
    }
}
