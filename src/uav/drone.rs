//! A drone node (`wirelab node uav-drone`): the simulated vehicle and its end of the link.
//!
//! The vehicle ([`super::flight`]) is stepped at 50 Hz whatever the link does. The link task
//! connects to mission control (or, during an attack, to the attacker's relay the lab points
//! it at), answers the handshake, installs the fleet key, then sends telemetry at
//! `--telem-hz`, obeys authenticated commands and broadcasts, and answers pings. A record
//! that fails authentication or replays is dropped and counted by reason; a broadcast under a
//! fleet key this drone does not hold is logged as "cannot decrypt".
//!
//! The link is "up" while authenticated records arrive; with none for `--hold-ms` the vehicle
//! holds, for `--rtl-ms` it returns to launch ([`super::flight::Vehicle::link_check`]); with
//! none for `--reconnect-ms` (or the connection closed) the drone drops the connection and
//! handshakes again, every half second until it succeeds. The fleet-key receiver is new for
//! each session: a restarted mission control starts a new epoch, and a delivery is only
//! accepted under a fresh authenticated session, so no rollback is possible.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use clap::Args;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::sync::Notify;

use super::control::{HANDSHAKE_TIMEOUT, MAX_LINK_FRAME, pass};
use super::flight::{self, Vehicle};
use super::handshake::{DroneHandshake, DroneIdentity, NonceCache};
use super::proto::{self, Command, DroneMsg, FleetCmd, McMsg, Telemetry};
use super::record::{FleetReceiver, Opened, RecordError, Session};
use super::store;
use crate::cluster::event::{ControlCommand, Emitter, NodeEvent, NodeRuntime, run_node};
use crate::wire::fault::FaultFilter;
use crate::wire::frame::{read_frame_within, write_frame};

/// The role's name.
pub const ROLE: &str = "uav-drone";
/// Mission control's node id (the fault filter's peer for every frame).
pub const MC_NODE: u64 = 1;

/// Arguments of `wirelab node uav-drone`.
#[derive(Debug, Args)]
pub struct DroneArgs {
    /// Node id (also the drone id and MAVLink system id).
    #[arg(long)]
    pub id: u64,
    /// Data dir (holds drone.key).
    #[arg(long)]
    pub data_dir: PathBuf,
    /// Mission control's address.
    #[arg(long)]
    pub mc: SocketAddr,
    /// Mission control's public key file (hex).
    #[arg(long)]
    pub mc_pub_file: PathBuf,
    /// Slot in the fleet (0-based; sets home and the share of each mission).
    #[arg(long)]
    pub slot: u32,
    /// Link lost this long (ms) → hold.
    #[arg(long, default_value_t = 1500)]
    pub hold_ms: u64,
    /// Link lost this long (ms) → return to launch.
    #[arg(long, default_value_t = 6000)]
    pub rtl_ms: u64,
    /// Link lost this long (ms) → drop the connection and handshake again.
    #[arg(long, default_value_t = 10_000)]
    pub reconnect_ms: u64,
    /// Telemetry records per second.
    #[arg(long, default_value_t = 50)]
    pub telem_hz: u32,
}

struct State {
    vehicle: Vehicle,
    link: &'static str,
    last_auth: Option<Instant>,
    epoch: Option<u32>,
    session: Option<String>,
    hs_ms: f64,
    rejects: BTreeMap<String, u64>,
    reconnects: u64,
    via: Option<SocketAddr>,
    identity: Arc<DroneIdentity>,
    records_in: u64,
}

type Shared = Arc<Mutex<State>>;

fn lock(s: &Mutex<State>) -> MutexGuard<'_, State> {
    match s.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

impl State {
    fn reject(&mut self, reason: &str) {
        *self.rejects.entry(reason.to_string()).or_default() += 1;
    }

    fn fields(&self) -> serde_json::Map<String, Value> {
        let v = &self.vehicle;
        let r = |x: f64| (x * 100.0).round() / 100.0;
        let mut f = serde_json::Map::new();
        for (k, val) in [
            ("role", json!("drone")),
            ("mode", json!(v.mode.as_str())),
            ("failsafe", json!(v.failsafe)),
            ("link", json!(self.link)),
            ("batt", json!(r(v.batt))),
            ("x", json!(r(v.x))),
            ("y", json!(r(v.y))),
            ("alt", json!(r(v.alt))),
            ("hdg", json!(r(v.hdg))),
            ("home_x", json!(v.home_x)),
            ("home_y", json!(v.home_y)),
            ("epoch", json!(self.epoch)),
            ("session", json!(self.session)),
            ("hs_ms", json!(r(self.hs_ms))),
            ("rejects", json!(self.rejects)),
            ("reconnects", json!(self.reconnects)),
            ("records", json!(self.records_in)),
            ("via", json!(self.via.map(|a| a.to_string()))),
        ] {
            f.insert(k.into(), val);
        }
        f
    }

    fn telemetry(&self) -> Telemetry {
        let v = &self.vehicle;
        Telemetry {
            x: v.x,
            y: v.y,
            alt: v.alt,
            vx: v.vx,
            vy: v.vy,
            vz: v.vz,
            hdg: v.hdg,
            batt: v.batt,
            mode: v.mode.as_str().into(),
            home_x: v.home_x,
            home_y: v.home_y,
            epoch: self.epoch,
        }
    }
}

/// `wirelab node uav-drone`.
pub fn run_cli(a: DroneArgs) -> i32 {
    run_node(NodeRuntime::CurrentThread, |emitter| serve(a, emitter))
}

fn identity(a: &DroneArgs) -> Result<DroneIdentity, String> {
    let id = u32::try_from(a.id).map_err(|_| "drone id beyond u32".to_string())?;
    Ok(DroneIdentity {
        id,
        key: store::read_signing_key(&a.data_dir.join("drone.key")).map_err(|e| e.to_string())?,
        mission_control: store::read_public(&a.mc_pub_file).map_err(|e| e.to_string())?,
    })
}

async fn serve(a: DroneArgs, emitter: Arc<Emitter>) -> Result<(), String> {
    let (hx, hy) = flight::home(a.slot);
    let st: Shared = Arc::new(Mutex::new(State {
        vehicle: Vehicle::new(hx, hy),
        link: "connecting",
        last_auth: None,
        epoch: None,
        session: None,
        hs_ms: 0.0,
        rejects: BTreeMap::new(),
        reconnects: 0,
        via: None,
        identity: Arc::new(identity(&a)?),
        records_in: 0,
    }));
    let filter = FaultFilter::new();
    let reconnect = Arc::new(Notify::new());
    let (f2, e2, s2, r2) = (
        filter.clone(),
        emitter.clone(),
        st.clone(),
        reconnect.clone(),
    );
    let key_args = (a.id, a.data_dir.clone(), a.mc_pub_file.clone());
    crate::cluster::event::watch_stdin(
        move |cmd| match cmd {
            ControlCommand::Faults { rules } => f2.set(rules),
            ControlCommand::Report => e2.emit(&NodeEvent::State {
                fields: lock(&s2).fields(),
            }),
            ControlCommand::Lab { action, args } => {
                on_action(&s2, &e2, &action, &args, &key_args);
                // A new route or a new key means a new session; a battery change does not.
                if action != "battery" {
                    r2.notify_one();
                }
            }
            ControlCommand::Shutdown => std::process::exit(0),
        },
        |_| {},
    )
    .map_err(|e| e.to_string())?;
    emitter.emit(&NodeEvent::Ready {
        addr: format!("drone {} → {}", a.id, a.mc),
        http: None,
    });
    let hold = Duration::from_millis(a.hold_ms);
    let rtl = Duration::from_millis(a.rtl_ms.max(a.hold_ms));
    let started = Instant::now();
    let (s3, e3) = (st.clone(), emitter.clone());
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut n = 0u64;
        loop {
            tick.tick().await;
            n += 1;
            let mut s = lock(&s3);
            let lost = s.last_auth.unwrap_or(started).elapsed();
            if let Some(ev) = s.vehicle.link_check(lost, hold, rtl) {
                e3.log("warn", ev);
            }
            if lost >= hold && s.link == "up" {
                s.link = "lost";
            }
            if let Some(ev) = s.vehicle.step(0.02) {
                e3.log("info", ev);
            }
            if n.is_multiple_of(12) {
                let fields = s.fields();
                drop(s);
                e3.emit(&NodeEvent::State { fields });
            }
        }
    });
    let mut buf = Vec::new();
    let mut seen = NonceCache::new(1024);
    loop {
        let target = lock(&st).via.unwrap_or(a.mc);
        let res = link_once(
            &a, &st, &emitter, &filter, &reconnect, target, &mut buf, &mut seen,
        )
        .await;
        {
            let mut s = lock(&st);
            s.session = None;
            s.epoch = None;
            if s.link == "up" {
                s.link = "lost";
            }
            if s.link != "lost" {
                s.link = "connecting";
            }
            s.reconnects += 1;
        }
        if let Err(e) = res {
            emitter.log("info", format!("link to {target}: {e}"));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn on_action(
    st: &Shared,
    emitter: &Emitter,
    action: &str,
    args: &Value,
    key_args: &(u64, PathBuf, PathBuf),
) {
    let mut s = lock(st);
    match action {
        "battery" => {
            let pct = args
                .get("percent")
                .and_then(Value::as_f64)
                .filter(|p| (0.0..=100.0).contains(p));
            match pct {
                Some(p) => {
                    s.vehicle.batt = p;
                    emitter.log("warn", format!("battery drained to {p:.0}%"));
                }
                None => emitter.log("warn", "battery: a percent from 0 to 100 is needed"),
            }
        }
        "via" => {
            s.via = args
                .get("addr")
                .and_then(Value::as_str)
                .and_then(|a| a.parse().ok());
            emitter.log(
                "info",
                match s.via {
                    Some(a) => format!("link now goes through {a}"),
                    None => "link goes straight to mission control again".into(),
                },
            );
        }
        "reload" => {
            let a = DroneArgs {
                id: key_args.0,
                data_dir: key_args.1.clone(),
                mc: SocketAddr::from(([127, 0, 0, 1], 0)),
                mc_pub_file: key_args.2.clone(),
                slot: 0,
                hold_ms: 0,
                rtl_ms: 0,
                reconnect_ms: 0,
                telem_hz: 0,
            };
            match identity(&a) {
                Ok(id) => {
                    s.identity = Arc::new(id);
                    emitter.log("info", "new long-term key loaded: handshaking again");
                }
                Err(e) => emitter.log("warn", format!("cannot reload the key: {e}")),
            }
        }
        other => emitter.log("warn", format!("unknown action {other:?}")),
    }
}

#[allow(clippy::too_many_arguments)]
async fn link_once(
    a: &DroneArgs,
    st: &Shared,
    emitter: &Emitter,
    filter: &FaultFilter,
    reconnect: &Notify,
    target: SocketAddr,
    buf: &mut Vec<u8>,
    seen: &mut NonceCache,
) -> Result<(), String> {
    let stream = tokio::time::timeout(Duration::from_secs(3), TcpStream::connect(target))
        .await
        .map_err(|_| "connect timed out".to_string())?
        .map_err(|e| e.to_string())?;
    let _ = stream.set_nodelay(true);
    let (mut rd, mut wr) = stream.into_split();
    // ClientHello (frames the filter drops are as good as never sent).
    loop {
        read_hs(&mut rd, buf).await?;
        if pass(filter, MC_NODE).await {
            break;
        }
    }
    let t0 = Instant::now();
    let me = lock(st).identity.clone();
    let hello = buf.clone();
    let mut cache = std::mem::replace(seen, NonceCache::new(1));
    let (cache, r) = tokio::task::spawn_blocking(move || {
        let r = DroneHandshake::respond(&me, &mut cache, &hello, &mut rand::rng());
        (cache, r)
    })
    .await
    .map_err(|e| e.to_string())?;
    *seen = cache;
    let (mut hs, reply) = match r {
        Ok(v) => v,
        Err(e) => {
            lock(st).reject(proto::handshake_reason(&e));
            emitter.log("warn", format!("refused mission control's hello: {e}"));
            return Err(e.to_string());
        }
    };
    if pass(filter, MC_NODE).await {
        write_frame(&mut wr, &reply)
            .await
            .map_err(|e| e.to_string())?;
    }
    loop {
        read_hs(&mut rd, buf).await?;
        if pass(filter, MC_NODE).await {
            break;
        }
    }
    let fin = buf.clone();
    let (_, r) = tokio::task::spawn_blocking(move || {
        let r = hs.finish(&fin);
        (hs, r)
    })
    .await
    .map_err(|e| e.to_string())?;
    let mut session = match r {
        Ok(s) => s,
        Err(e) => {
            lock(st).reject(proto::handshake_reason(&e));
            emitter.log("warn", format!("refused mission control's finish: {e}"));
            return Err(e.to_string());
        }
    };
    let hs_ms = t0.elapsed().as_secs_f64() * 1e3;
    {
        let mut s = lock(st);
        s.hs_ms = hs_ms;
        s.session = Some(format!("{:016x}", session.session_id()));
        s.link = "up";
        s.last_auth = Some(Instant::now());
    }
    emitter.log(
        "info",
        format!(
            "authenticated mission control in {hs_ms:.1} ms (session {:016x})",
            session.session_id()
        ),
    );
    let mut fleet = FleetReceiver::new();
    let period = Duration::from_micros(1_000_000 / u64::from(a.telem_hz.clamp(1, 200)));
    let mut telem = tokio::time::interval(period);
    telem.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut watchdog = tokio::time::interval(Duration::from_millis(250));
    let reconnect_after = Duration::from_millis(a.reconnect_ms);
    let mut out: Vec<Vec<u8>> = Vec::new();
    loop {
        tokio::select! {
            got = read_frame_within(&mut rd, buf, MAX_LINK_FRAME, Duration::from_secs(10)) => {
                match got {
                    Ok(true) => {}
                    Ok(false) => return Err("mission control closed the link".into()),
                    Err(e) => return Err(e.to_string()),
                }
                if !pass(filter, MC_NODE).await {
                    continue;
                }
                on_frame(st, emitter, &mut session, &mut fleet, a.slot, buf, &mut out);
            }
            _ = telem.tick() => {
                let t = lock(st).telemetry();
                if let Ok(pt) = proto::encode(&DroneMsg::Telem(t)) {
                    out.push(pt);
                }
            }
            _ = watchdog.tick() => {
                let lost = lock(st).last_auth.map_or(Duration::MAX, |t| t.elapsed());
                if lost >= reconnect_after {
                    return Err(format!("no authenticated record for {:.1} s", lost.as_secs_f64()));
                }
            }
            _ = reconnect.notified() => return Ok(()),
        }
        for pt in out.drain(..) {
            let rec = session.seal(&pt).map_err(|e| e.to_string())?;
            if pass(filter, MC_NODE).await {
                write_frame(&mut wr, &rec)
                    .await
                    .map_err(|e| e.to_string())?;
            }
        }
    }
}

async fn read_hs(rd: &mut tokio::net::tcp::OwnedReadHalf, buf: &mut Vec<u8>) -> Result<(), String> {
    let fut = read_frame_within(rd, buf, MAX_LINK_FRAME, HANDSHAKE_TIMEOUT);
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, fut).await {
        Ok(Ok(true)) => Ok(()),
        Ok(Ok(false)) => Err("closed during the handshake".to_string()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("handshake timed out".to_string()),
    }
}

fn obey(v: &mut Vehicle, cmd: &Command, slot: u32) -> bool {
    if proto::check_command(cmd, 5000.0).is_err() {
        return false;
    }
    match cmd {
        Command::Rtl => v.rtl(),
        Command::Land => v.land(),
        Command::Goto { x, y, alt } => v.goto(*x, *y, *alt),
        Command::Mission { name, fleet } => match flight::mission(name, slot, *fleet) {
            Some((pts, looping)) => v.fly(pts, looping),
            None => return false,
        },
        Command::Noop => {}
    }
    true
}

fn on_frame(
    st: &Shared,
    emitter: &Emitter,
    session: &mut Session,
    fleet: &mut FleetReceiver,
    slot: u32,
    rec: &[u8],
    out: &mut Vec<Vec<u8>>,
) {
    let mut s = lock(st);
    let reply = if rec.first() == Some(&0x20) {
        match fleet.open(rec) {
            Ok(pt) => match proto::decode::<FleetCmd>(&pt) {
                Ok(fc) => {
                    s.last_auth = Some(Instant::now());
                    s.records_in += 1;
                    let ok = obey(&mut s.vehicle, &fc.cmd, slot);
                    if fc.cmd != Command::Noop {
                        emitter.log("info", format!("fleet broadcast: {}", fc.cmd));
                    }
                    Some(DroneMsg::Ack {
                        id: fc.id,
                        fleet: true,
                        ok,
                    })
                }
                Err(_) => {
                    s.reject("malformed");
                    None
                }
            },
            Err(e) => {
                s.reject(proto::record_reason(&e));
                if let RecordError::WrongEpoch { have, got } = e {
                    emitter.log(
                        "warn",
                        format!(
                            "cannot decrypt a fleet broadcast: sealed under epoch {got}, this drone holds {} (revoked, or a rekey missed)",
                            have.map_or("none".into(), |h| format!("epoch {h}"))
                        ),
                    );
                } else {
                    emitter.log("warn", format!("refused a fleet broadcast: {e}"));
                }
                None
            }
        }
    } else {
        match session.open(rec) {
            Ok(Opened::FleetKey(k)) => {
                let epoch = k.epoch();
                s.last_auth = Some(Instant::now());
                match fleet.install(k) {
                    Ok(()) => {
                        s.epoch = Some(epoch);
                        emitter.log("info", format!("fleet key epoch {epoch} installed"));
                    }
                    Err(e) => s.reject(proto::record_reason(&e)),
                }
                None
            }
            Ok(Opened::Data(pt)) => {
                s.last_auth = Some(Instant::now());
                s.records_in += 1;
                if s.link != "up" {
                    s.link = "up";
                    emitter.log("info", "link back");
                }
                match proto::decode::<McMsg>(&pt) {
                    Ok(McMsg::Ping { n }) => Some(DroneMsg::Pong { n }),
                    Ok(McMsg::Cmd { id, cmd }) => {
                        let ok = obey(&mut s.vehicle, &cmd, slot);
                        if cmd != Command::Noop {
                            emitter.log("info", format!("command: {cmd}"));
                        }
                        Some(DroneMsg::Ack {
                            id,
                            fleet: false,
                            ok,
                        })
                    }
                    Err(_) => {
                        s.reject("malformed");
                        None
                    }
                }
            }
            Err(e) => {
                let reason = proto::record_reason(&e);
                s.reject(reason);
                emitter.log(
                    "warn",
                    format!("refused a record: {e} (counted as {reason})"),
                );
                None
            }
        }
    };
    if let Some(m) = reply
        && let Ok(pt) = proto::encode(&m)
    {
        out.push(pt);
    }
}
