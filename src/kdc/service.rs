//! The `files` service (`wirelab node kdc-service`): accepts only valid service tickets and
//! answers who you are (the AP exchange).
//!
//! Its key is derived from its keytab password (argon2) and kept in `keytab.json` (0600). At
//! start it learns the group key from the authorities (two must agree) and says `ready`. Each
//! AP request is checked in order, and refused with the first failing reason: malformed
//! ticket, bad ticket signature, wrong service, not yet valid, expired, session key not
//! openable, bad authenticator, client mismatch, clock skew (±5 min), replayed authenticator.
//! The replay cache ([`super::rcache`]) holds the hash of every accepted authenticator until
//! its timestamp leaves the skew window, on disk (fsync before the answer) as MIT krb5's file
//! rcache does, so a restart does not reopen the window; bounded, it fails closed when full.

use std::collections::BTreeMap;

use super::rcache::{Refusal, ReplayCache};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::Args;
use serde_json::{Map, json};
use sha2::Digest;
use tokio::net::TcpStream;

use super::checks::group_verify;
use super::config::LabConfig;
use super::frost::GroupPublicKey;
use super::net::Conn;
use super::proto::{
    AP_REP_AAD, AP_REQ_AAD, ApAuthenticator, ApRequest, ApResponse, MAX_FRAME, MAX_SKEW_SECS,
    Request, Response, TicketKind, gcm_open, gcm_seal, hex, hex_array, hex_vec, now_millis,
    now_secs, open_session_key,
};
use super::store;
use crate::cluster::event::{ControlCommand, Emitter, NodeEvent, NodeRuntime, run_node};
use crate::wire::frame::{read_frame, write_frame};

/// The role's name.
pub const ROLE: &str = "kdc-service";

/// Arguments of `wirelab node kdc-service`.
#[derive(Debug, Args)]
pub struct ServiceArgs {
    /// Node id.
    #[arg(long)]
    pub id: u64,
    /// Data dir.
    #[arg(long)]
    pub data_dir: PathBuf,
    /// Listen address.
    #[arg(long)]
    pub listen: SocketAddr,
    /// Service principal name.
    #[arg(long, default_value = "files")]
    pub name: String,
    /// The authorities, `ID=ADDR,…`.
    #[arg(long, value_parser = crate::lab::args::parse_peers)]
    pub authorities: std::vec::Vec<(u64, SocketAddr)>,
}

#[derive(Default)]
struct Stats {
    accepted: u64,
    rejected: BTreeMap<String, u64>,
    last: String,
}

struct Service {
    name: String,
    secret: x25519_dalek::StaticSecret,
    group: GroupPublicKey,
    replay: Mutex<ReplayCache>,
    stats: Mutex<Stats>,
    emitter: Arc<Emitter>,
}

/// `wirelab node kdc-service`.
pub fn run_cli(a: ServiceArgs) -> i32 {
    run_node(NodeRuntime::Workers(1), |emitter| serve(a, emitter))
}

impl Service {
    fn emit_state(&self) {
        let s = self.stats.lock().unwrap_or_else(|p| p.into_inner());
        let mut f = Map::new();
        f.insert("role".into(), json!("service"));
        f.insert("service".into(), json!(self.name));
        f.insert("accepted".into(), json!(s.accepted));
        f.insert("rejected".into(), json!(s.rejected));
        f.insert("last".into(), json!(s.last));
        drop(s);
        self.emitter.emit(&NodeEvent::State { fields: f });
    }

    fn check(&self, req: &ApRequest) -> Result<(String, [u8; 32], u64), (&'static str, String)> {
        let bytes = hex_vec(&req.ticket, "ticket", 1024).map_err(|e| ("malformed ticket", e))?;
        let t = super::proto::Ticket::decode(&bytes)
            .map_err(|e| ("malformed ticket", e.to_string()))?;
        group_verify(&self.group, &bytes, &req.signature)
            .map_err(|e| ("bad ticket signature", e))?;
        if t.kind != TicketKind::Service || t.service != self.name {
            return Err(("wrong service", format!("ticket is for {}", t.service)));
        }
        let now = now_secs();
        if now + MAX_SKEW_SECS < t.start {
            return Err(("ticket not yet valid", format!("starts at {}", t.start)));
        }
        if now > t.end {
            return Err(("ticket expired", format!("expired {}s ago", now - t.end)));
        }
        let key = open_session_key(&self.secret, &t.key).ok_or((
            "bad session key",
            "cannot open the sealed session key".to_string(),
        ))?;
        let sealed = hex_vec(&req.authenticator, "authenticator", 4096)
            .map_err(|e| ("bad authenticator", e))?;
        let plain = gcm_open(&key, AP_REQ_AAD, &sealed).ok_or((
            "bad authenticator",
            "does not open under the session key".to_string(),
        ))?;
        let auth: ApAuthenticator =
            serde_json::from_slice(&plain).map_err(|e| ("bad authenticator", e.to_string()))?;
        if auth.client != t.client {
            return Err((
                "client mismatch",
                format!("{} presents {}'s ticket", auth.client, t.client),
            ));
        }
        let now_ms = now_millis();
        if auth.time_ms.abs_diff(now_ms) > MAX_SKEW_SECS * 1000 {
            return Err((
                "clock skew",
                format!(
                    "authenticator is {}s off (limit {MAX_SKEW_SECS}s)",
                    (auth.time_ms as i64 - now_ms as i64) / 1000
                ),
            ));
        }
        let digest: [u8; 32] = sha2::Sha256::digest(&sealed).into();
        let mut cache = self.replay.lock().unwrap_or_else(|p| p.into_inner());
        match cache.admit(digest, auth.time_ms, now_ms) {
            Ok(()) => {}
            Err(Refusal::Replay) => {
                return Err((
                    "replayed authenticator",
                    "this authenticator was already used".into(),
                ));
            }
            Err(Refusal::Full) => {
                return Err(("replay cache full", "refusing until entries expire".into()));
            }
            Err(Refusal::Io(e)) => return Err(("replay cache unavailable", e)),
        }
        Ok((t.client, *key, auth.time_ms))
    }

    fn answer(&self, req: &ApRequest) -> ApResponse {
        let r = self.check(req);
        let mut s = self.stats.lock().unwrap_or_else(|p| p.into_inner());
        let resp = match r {
            Ok((client, key, time_ms)) => {
                s.accepted += 1;
                s.last = format!("accepted {client}");
                ApResponse::Accepted {
                    you_are: client,
                    proof: hex(&gcm_seal(&key, AP_REP_AAD, &time_ms.to_be_bytes())),
                }
            }
            Err((kind, detail)) => {
                *s.rejected.entry(kind.to_string()).or_default() += 1;
                s.last = format!("refused: {kind}");
                ApResponse::Refused {
                    reason: format!("{kind}: {detail}"),
                }
            }
        };
        drop(s);
        if let ApResponse::Refused { reason } = &resp {
            self.emitter.log("info", format!("refused: {reason}"));
        }
        self.emit_state();
        resp
    }
}

async fn group_key(auths: &[(u64, SocketAddr)], emitter: &Emitter) -> GroupPublicKey {
    let mut conns: Vec<Conn> = auths.iter().map(|(_, a)| Conn::new(*a)).collect();
    let mut said = false;
    loop {
        let mut votes: BTreeMap<String, usize> = BTreeMap::new();
        for c in &mut conns {
            if let Ok(Response::Info { group_key, .. }) = c
                .call::<_, Response>(&Request::Info, Duration::from_secs(1))
                .await
            {
                *votes.entry(group_key).or_default() += 1;
            }
        }
        if let Some((k, _)) = votes.iter().find(|(_, n)| **n >= 2)
            && let Ok(b) = hex_array::<32>(k, "group key")
            && let Ok(g) = GroupPublicKey::from_bytes(&b)
        {
            return g;
        }
        if !said {
            emitter.log(
                "info",
                "waiting for two authorities to agree on the group key",
            );
            said = true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn serve(a: ServiceArgs, emitter: Arc<Emitter>) -> Result<(), String> {
    let cfg = LabConfig::builtin().map_err(|e| e.to_string())?;
    std::fs::create_dir_all(&a.data_dir).map_err(|e| e.to_string())?;
    let keytab = a.data_dir.join("keytab.json");
    let secret = match store::read_bounded(&keytab).map_err(|e| e.to_string())? {
        Some(b) => {
            let v: serde_json::Value = serde_json::from_slice(&b).map_err(|e| e.to_string())?;
            let hexs = v["secret"].as_str().ok_or("keytab.json: no secret")?;
            x25519_dalek::StaticSecret::from(hex_array::<32>(hexs, "keytab")?)
        }
        None => {
            let p = cfg
                .principal(&a.name)
                .filter(|p| p.kind == "service")
                .ok_or_else(|| format!("no service {} in lab.toml", a.name))?;
            let s = store::service_secret(&a.name, &p.password, cfg.kdf);
            let body = json!({"service": a.name, "secret": hex(s.as_bytes())});
            store::write_atomic(&keytab, body.to_string().as_bytes()).map_err(|e| e.to_string())?;
            s
        }
    };
    let listener = crate::cluster::listen_reserved(a.listen)
        .map_err(|e| format!("cannot listen on {}: {e}", a.listen))?;
    let group = group_key(&a.authorities, &emitter).await;
    let svc = Arc::new(Service {
        name: a.name.clone(),
        secret,
        group,
        replay: Mutex::new(
            ReplayCache::open(&a.data_dir, now_millis())
                .map_err(|e| format!("cannot open the replay cache: {e}"))?,
        ),
        stats: Mutex::new(Stats::default()),
        emitter: emitter.clone(),
    });
    let ctl = svc.clone();
    crate::cluster::event::watch_stdin(
        move |cmd| {
            if matches!(cmd, ControlCommand::Report) {
                ctl.emit_state();
            }
        },
        |_| {},
    )
    .map_err(|e| e.to_string())?;
    svc.emit_state();
    emitter.emit(&NodeEvent::Ready {
        addr: a.listen.to_string(),
        http: None,
    });
    emitter.log(
        "info",
        format!("service {} accepting tickets on {}", a.name, a.listen),
    );
    loop {
        let (conn, _) = listener.accept().await.map_err(|e| e.to_string())?;
        tokio::spawn(connection(svc.clone(), conn));
    }
}

async fn connection(svc: Arc<Service>, mut conn: TcpStream) {
    let mut buf = Vec::new();
    loop {
        match read_frame(&mut conn, &mut buf, MAX_FRAME).await {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => {
                svc.emitter.log("warn", format!("bad frame: {e}"));
                return;
            }
        }
        let resp = match serde_json::from_slice::<ApRequest>(&buf) {
            Ok(req) => svc.answer(&req),
            Err(e) => ApResponse::Refused {
                reason: format!("malformed request: {e}"),
            },
        };
        let Ok(body) = serde_json::to_vec(&resp) else {
            return;
        };
        if write_frame(&mut conn, &body).await.is_err() {
            return;
        }
    }
}
