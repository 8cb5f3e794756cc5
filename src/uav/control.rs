//! The mission-control node (`wirelab node uav-control`): the drones' TCP server.
//!
//! For each drone that connects: the handshake of [`super::handshake`] (mission control sends
//! `ClientHello` first; the heavy arithmetic runs on the blocking pool), then the fleet key
//! under the new session, then records both ways: commands and keep-alive pings out,
//! telemetry, acknowledgements and pongs in. A broadcast is sealed once under the fleet key and
//! the same bytes are written to every drone's connection (the radio: a revoked drone still
//! hears them, and cannot read them). Refusals are counted by reason and logged; a record that
//! fails authentication is dropped, never acted on.
//!
//! Every frame to or from drone `i` passes the fault filter for peer `i` (before the drone has
//! named itself in `DroneHello`, only the drone's side filters), so `uav partition` is a real
//! loss of frames.
//!
//! Lab actions (`{"cmd":"lab","action":…}`): `cmd {drone, cmd, tag}`, `broadcast {cmd, tag}`,
//! `revoke {drone}`, `enroll {drone, key}`, `probe {cmds, bcasts}` (the bench's round trips).

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use clap::Args;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use super::group::SigningKey;
use super::handshake::{DroneHello, DroneRegistry, McHandshake, NonceCache};
use super::proto::{self, Command, DroneMsg, FleetCmd, McMsg, Telemetry};
use super::record::{FleetKey, FleetSender, Opened, Session};
use super::store::{self, Registry};
use crate::cluster::event::{ControlCommand, Emitter, NodeEvent, NodeRuntime, run_node};
use crate::wire::fault::{FaultFilter, Verdict};
use crate::wire::frame::{read_frame_within, write_frame};

mod actions;
use actions::act;

/// The role's name.
pub const ROLE: &str = "uav-control";
/// Largest frame on the drone link (a handshake message or a record).
pub const MAX_LINK_FRAME: usize = 8192;
/// How long a drone has to answer each handshake message.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(20);
/// Connections served at once (drones, attackers, junk); more are closed at once.
pub const MAX_CONNECTIONS: usize = 1024;
/// Queued outgoing messages per drone before new ones are dropped.
const QUEUE: usize = 512;

/// Arguments of `wirelab node uav-control`.
#[derive(Debug, Args)]
pub struct ControlArgs {
    /// Node id.
    #[arg(long)]
    pub id: u64,
    /// Data dir (holds mc.key and registry.json).
    #[arg(long)]
    pub data_dir: PathBuf,
    /// TCP address for drones; MAVLink uses the same port number over UDP.
    #[arg(long)]
    pub listen: SocketAddr,
    /// The MAVLink signing key file (64 hex digits).
    #[arg(long)]
    pub mavlink_key_file: PathBuf,
    /// Fleet size (missions are split into this many slots).
    #[arg(long, default_value_t = 6)]
    pub fleet: u32,
    /// Keep-alive period, ms.
    #[arg(long, default_value_t = 250)]
    pub ping_ms: u64,
}

/// What the connection task of one drone is asked to send.
enum Out {
    Msg(McMsg),
    Raw(Vec<u8>),
    Key(FleetKey),
    Close,
}

/// One linked drone.
pub(super) struct Link {
    tx: mpsc::Sender<Out>,
    conn: u64,
    session: String,
    pub(super) hs_ms: f64,
    revoked: bool,
    pub(super) rtt_ms: f64,
    pub(super) records: u64,
    pub(super) rejects: u64,
    pub(super) telem: Option<Telemetry>,
}

struct Bcast {
    sent: Instant,
    tag: u64,
    waiting: BTreeSet<u32>,
    n: usize,
}

/// Mission control's shared state.
pub(super) struct Mc {
    key: Arc<SigningKey>,
    registry: DroneRegistry,
    reg: Registry,
    reg_path: PathBuf,
    fleet: FleetSender,
    pub(super) links: BTreeMap<u32, Link>,
    pub(super) rejects: BTreeMap<String, u64>,
    seen: NonceCache,
    handshakes: u64,
    next_conn: u64,
    next_id: u64,
    pending: HashMap<u64, (Instant, u64)>,
    acked: VecDeque<(u64, f64, bool)>,
    bcasts: HashMap<u64, Bcast>,
    bcast_done: VecDeque<(u64, f64, usize)>,
    probe: Value,
    fleet_size: u32,
    pub(super) gcs: usize,
    mavlink: String,
    clock: Instant,
}

type Shared = Arc<Mutex<Mc>>;

pub(super) fn lock(s: &Mutex<Mc>) -> MutexGuard<'_, Mc> {
    match s.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

impl Mc {
    pub(super) fn reject(&mut self, reason: &str) {
        *self.rejects.entry(reason.to_string()).or_default() += 1;
    }

    fn state(&self) -> serde_json::Map<String, Value> {
        let drones: serde_json::Map<String, Value> = self
            .links
            .iter()
            .map(|(id, l)| {
                let t = l.telem.clone().unwrap_or_default();
                (
                    id.to_string(),
                    json!({"session": l.session, "hs_ms": round(l.hs_ms), "rtt_ms": round(l.rtt_ms),
                           "records": l.records, "rejects": l.rejects, "revoked": l.revoked,
                           "mode": t.mode, "batt": round(t.batt), "x": round(t.x), "y": round(t.y),
                           "alt": round(t.alt), "epoch": t.epoch}),
                )
            })
            .collect();
        let mut f = serde_json::Map::new();
        f.insert("role".into(), json!("control"));
        f.insert("epoch".into(), json!(self.fleet.key().epoch()));
        f.insert(
            "linked".into(),
            json!(self.links.values().filter(|l| !l.revoked).count()),
        );
        f.insert("drones".into(), Value::Object(drones));
        f.insert("rejects".into(), json!(self.rejects));
        f.insert("handshakes".into(), json!(self.handshakes));
        f.insert("acked".into(), json!(self.acked));
        f.insert("bcast_done".into(), json!(self.bcast_done));
        f.insert("revoked".into(), json!(self.reg.revoked));
        f.insert(
            "enrolled".into(),
            json!(self.reg.drones.keys().collect::<Vec<_>>()),
        );
        f.insert("gcs".into(), json!(self.gcs));
        f.insert("mavlink".into(), json!(self.mavlink));
        f.insert("probe".into(), self.probe.clone());
        f
    }

    fn save(&mut self) -> Result<(), String> {
        self.reg.save(&self.reg_path).map_err(|e| e.to_string())
    }
}

fn round(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

/// `wirelab node uav-control`.
pub fn run_cli(a: ControlArgs) -> i32 {
    run_node(NodeRuntime::Workers(2), |emitter| serve(a, emitter))
}

fn load(a: &ControlArgs) -> Result<Mc, String> {
    let key = store::read_signing_key(&a.data_dir.join("mc.key")).map_err(|e| e.to_string())?;
    let reg_path = a.data_dir.join("registry.json");
    let mut reg = Registry::load(&reg_path).map_err(|e| e.to_string())?;
    let mut registry = DroneRegistry::new();
    for (id, k) in &reg.drones {
        registry.enroll(*id, store::parse_public(k).map_err(|e| e.to_string())?);
    }
    reg.epoch = reg.epoch.saturating_add(1);
    let fleet = FleetSender::new(reg.epoch, &mut rand::rng());
    let mut mc = Mc {
        key: Arc::new(key),
        registry,
        reg,
        reg_path,
        fleet,
        links: BTreeMap::new(),
        rejects: BTreeMap::new(),
        seen: NonceCache::new(4096),
        handshakes: 0,
        next_conn: 0,
        next_id: 1,
        pending: HashMap::new(),
        acked: VecDeque::new(),
        bcasts: HashMap::new(),
        bcast_done: VecDeque::new(),
        probe: Value::Null,
        fleet_size: a.fleet.max(1),
        gcs: 0,
        mavlink: a.listen.to_string(),
        clock: Instant::now(),
    };
    mc.save()?;
    Ok(mc)
}

async fn serve(a: ControlArgs, emitter: Arc<Emitter>) -> Result<(), String> {
    let mc: Shared = Arc::new(Mutex::new(load(&a)?));
    let listener = crate::cluster::listen_reserved(a.listen)
        .map_err(|e| format!("cannot listen on {}: {e}", a.listen))?;
    let filter = FaultFilter::new();
    let mav_key = store::read_key32(&a.mavlink_key_file).map_err(|e| e.to_string())?;
    let udp = tokio::net::UdpSocket::bind(a.listen)
        .await
        .map_err(|e| format!("cannot bind MAVLink UDP {}: {e}", a.listen))?;
    tokio::spawn(super::gcs::run(udp, *mav_key, mc.clone(), emitter.clone()));
    let (act_tx, mut act_rx) = mpsc::unbounded_channel::<(String, Value)>();
    let (f2, e2, m2) = (filter.clone(), emitter.clone(), mc.clone());
    crate::cluster::event::watch_stdin(
        move |cmd| match cmd {
            ControlCommand::Faults { rules } => f2.set(rules),
            ControlCommand::Report => e2.emit(&NodeEvent::State {
                fields: lock(&m2).state(),
            }),
            ControlCommand::Lab { action, args } => {
                let _ = act_tx.send((action, args));
            }
            ControlCommand::Shutdown => std::process::exit(0),
        },
        |_| {},
    )
    .map_err(|e| e.to_string())?;
    emitter.emit(&NodeEvent::Ready {
        addr: a.listen.to_string(),
        http: None,
    });
    {
        let m = lock(&mc);
        emitter.log(
            "info",
            format!(
                "mission control on {} (MAVLink UDP on the same port), {} drones enrolled, fleet key epoch {}",
                a.listen,
                m.reg.drones.len(),
                m.fleet.key().epoch()
            ),
        );
    }
    // Keep-alive pings and the state line.
    let (m3, e3) = (mc.clone(), emitter.clone());
    let ping = Duration::from_millis(a.ping_ms.max(20));
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(ping);
        let mut last_state = Instant::now();
        loop {
            tick.tick().await;
            let mut m = lock(&m3);
            let n = m.clock.elapsed().as_micros() as u64;
            for l in m.links.values().filter(|l| !l.revoked) {
                let _ = l.tx.try_send(Out::Msg(McMsg::Ping { n }));
            }
            if last_state.elapsed() >= Duration::from_millis(250) {
                last_state = Instant::now();
                m.pending
                    .retain(|_, (at, _)| at.elapsed() < Duration::from_secs(60));
                m.bcasts
                    .retain(|_, b| b.sent.elapsed() < Duration::from_secs(60));
                let fields = m.state();
                drop(m);
                e3.emit(&NodeEvent::State { fields });
            }
        }
    });
    let (m4, e4) = (mc.clone(), emitter.clone());
    tokio::spawn(async move {
        while let Some((action, args)) = act_rx.recv().await {
            if let Err(e) = act(&m4, &e4, &action, &args).await {
                e4.log("warn", format!("action {action}: {e}"));
            }
        }
    });
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    loop {
        let (stream, peer) = listener.accept().await.map_err(|e| e.to_string())?;
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            lock(&mc).reject("too_many_connections");
            continue;
        };
        let (mc, emitter, filter) = (mc.clone(), emitter.clone(), filter.clone());
        tokio::spawn(async move {
            let _permit = permit;
            let _ = stream.set_nodelay(true);
            if let Err(e) = serve_drone(stream, &mc, &emitter, &filter).await {
                emitter.log("info", format!("connection from {peer}: {e}"));
            }
        });
    }
}

/// Applies the fault filter for `peer` to one frame: false if it is dropped.
pub(super) async fn pass(filter: &FaultFilter, peer: u64) -> bool {
    match filter.verdict(peer) {
        Verdict::Pass => true,
        Verdict::Drop => false,
        Verdict::Delay(d) => {
            tokio::time::sleep(d).await;
            true
        }
    }
}

async fn serve_drone(
    stream: TcpStream,
    mc: &Shared,
    emitter: &Emitter,
    filter: &FaultFilter,
) -> Result<(), String> {
    let (mut rd, mut wr) = stream.into_split();
    let (mut hs, hello) = McHandshake::start(&mut rand::rng());
    let started = Instant::now();
    write_frame(&mut wr, &hello)
        .await
        .map_err(|e| e.to_string())?;
    let mut buf = Vec::new();
    let dh = loop {
        let got = tokio::time::timeout(
            HANDSHAKE_TIMEOUT,
            read_frame_within(&mut rd, &mut buf, MAX_LINK_FRAME, HANDSHAKE_TIMEOUT),
        )
        .await;
        match got {
            Ok(Ok(true)) => {}
            Ok(Ok(false)) => return Err("closed during the handshake".into()),
            Ok(Err(e)) => return Err(e.to_string()),
            Err(_) => {
                lock(mc).reject("handshake_timeout");
                return Err("no DroneHello in time".into());
            }
        }
        let dh = match DroneHello::decode(&buf) {
            Ok(dh) => dh,
            Err(e) => {
                lock(mc).reject(proto::handshake_reason(&e));
                emitter.log("warn", format!("refused a handshake: {e}"));
                return Err(e.to_string());
            }
        };
        if pass(filter, u64::from(dh.drone_id)).await {
            break dh;
        }
    };
    let id = dh.drone_id;
    let (key, registry, revoked) = {
        let m = lock(mc);
        (
            m.key.clone(),
            m.registry.clone(),
            m.reg.revoked.contains(&id),
        )
    };
    let hello_bytes = buf.clone();
    let done = tokio::task::spawn_blocking(move || {
        let mut local = NonceCache::new(1);
        let r = hs.finish(&key, &registry, &mut local, &hello_bytes, &mut rand::rng());
        (hs, r)
    })
    .await
    .map_err(|e| e.to_string())?;
    let (mut session, finish) = match done.1 {
        Ok(v) => v,
        Err(e) => {
            let reason = match e {
                super::handshake::HandshakeError::UnknownDrone(_) if revoked => "revoked",
                _ => proto::handshake_reason(&e),
            };
            lock(mc).reject(reason);
            emitter.log(
                "warn",
                format!("refused drone {id}: {e} (counted as {reason})"),
            );
            return Err(e.to_string());
        }
    };
    // Only authenticated nonces are remembered (forgeries cannot fill the cache).
    if let Err(e) = lock(mc).seen.insert(&dh.nonce) {
        lock(mc).reject("replayed_nonce");
        return Err(e.to_string());
    }
    if !pass(filter, u64::from(id)).await {
        return Err("McFinish lost to a partition".into());
    }
    write_frame(&mut wr, &finish)
        .await
        .map_err(|e| e.to_string())?;
    let hs_ms = started.elapsed().as_secs_f64() * 1e3;
    let (tx, mut rx) = mpsc::channel::<Out>(QUEUE);
    let conn = {
        let mut m = lock(mc);
        m.handshakes += 1;
        m.next_conn += 1;
        let conn = m.next_conn;
        let _ = tx.try_send(Out::Key(m.fleet.key().clone()));
        let old = m.links.insert(
            id,
            Link {
                tx,
                conn,
                session: format!("{:016x}", session.session_id()),
                hs_ms,
                revoked: false,
                rtt_ms: 0.0,
                records: 0,
                rejects: 0,
                telem: None,
            },
        );
        if let Some(old) = old {
            let _ = old.tx.try_send(Out::Close);
        }
        conn
    };
    emitter.log(
        "info",
        format!(
            "drone {id} authenticated in {hs_ms:.1} ms (session {:016x})",
            session.session_id()
        ),
    );
    let result = link_loop(&mut rd, &mut wr, &mut session, &mut rx, id, mc, filter).await;
    let mut m = lock(mc);
    if m.links.get(&id).is_some_and(|l| l.conn == conn) {
        m.links.remove(&id);
    }
    drop(m);
    emitter.log(
        "info",
        format!(
            "drone {id} link closed: {}",
            result.as_ref().err().map_or("bye", |e| e.as_str())
        ),
    );
    result
}

async fn link_loop(
    rd: &mut tokio::net::tcp::OwnedReadHalf,
    wr: &mut tokio::net::tcp::OwnedWriteHalf,
    session: &mut Session,
    rx: &mut mpsc::Receiver<Out>,
    id: u32,
    mc: &Shared,
    filter: &FaultFilter,
) -> Result<(), String> {
    let mut buf = Vec::new();
    let peer = u64::from(id);
    loop {
        tokio::select! {
            got = read_frame_within(rd, &mut buf, MAX_LINK_FRAME, Duration::from_secs(10)) => {
                match got {
                    Ok(true) => {}
                    Ok(false) => return Ok(()),
                    Err(e) => return Err(e.to_string()),
                }
                if !pass(filter, peer).await {
                    continue;
                }
                on_record(mc, session, id, &buf);
            }
            out = rx.recv() => {
                let bytes = match out {
                    None | Some(Out::Close) => return Ok(()),
                    Some(Out::Raw(b)) => b,
                    Some(Out::Msg(m)) => {
                        let pt = proto::encode(&m).map_err(|e| e.to_string())?;
                        session.seal(&pt).map_err(|e| e.to_string())?
                    }
                    Some(Out::Key(k)) => session.seal_fleet_key(&k).map_err(|e| e.to_string())?,
                };
                if pass(filter, peer).await {
                    write_frame(wr, &bytes).await.map_err(|e| e.to_string())?;
                }
            }
        }
    }
}

fn on_record(mc: &Shared, session: &mut Session, id: u32, rec: &[u8]) {
    let mut m = lock(mc);
    let revoked = m.links.get(&id).is_none_or(|l| l.revoked);
    if revoked {
        return;
    }
    let msg = match session.open(rec) {
        Ok(Opened::Data(pt)) => proto::decode::<DroneMsg>(&pt).map_err(|_| "malformed"),
        Ok(Opened::FleetKey(_)) => Err("unexpected_type"),
        Err(e) => Err(proto::record_reason(&e)),
    };
    let msg = match msg {
        Ok(msg) => msg,
        Err(reason) => {
            m.reject(reason);
            if let Some(l) = m.links.get_mut(&id) {
                l.rejects += 1;
            }
            return;
        }
    };
    let now_us = m.clock.elapsed().as_micros() as u64;
    let Some(l) = m.links.get_mut(&id) else {
        return;
    };
    l.records += 1;
    match msg {
        DroneMsg::Telem(t) => l.telem = Some(t),
        DroneMsg::Pong { n } => {
            // `n` is the ping's time on this process's clock (µs); a future one is ignored.
            if let Some(us) = now_us.checked_sub(n) {
                l.rtt_ms = us as f64 / 1e3;
            }
        }
        DroneMsg::Ack { id: cid, fleet, ok } => {
            if fleet {
                if let Some(b) = m.bcasts.get_mut(&cid) {
                    b.waiting.remove(&id);
                    if b.waiting.is_empty() {
                        let ms = b.sent.elapsed().as_secs_f64() * 1e3;
                        let (tag, n) = (b.tag, b.n);
                        m.bcasts.remove(&cid);
                        push_bounded(&mut m.bcast_done, (tag, round(ms), n));
                    }
                }
            } else if let Some((at, tag)) = m.pending.remove(&cid) {
                let ms = at.elapsed().as_secs_f64() * 1e3;
                if let Some(l) = m.links.get_mut(&id) {
                    l.rtt_ms = ms;
                }
                push_bounded(&mut m.acked, (tag, round(ms), ok));
            }
        }
    }
}

fn push_bounded<T>(q: &mut VecDeque<T>, v: T) {
    if q.len() >= 64 {
        q.pop_front();
    }
    q.push_back(v);
}
