//! An authority process (`wirelab node kdc-authority`): one of the triad.
//!
//! On its first start it enrolls the demo principals (argon2, `principals.json`) and runs the
//! Pedersen DKG with the other two authorities over their sockets ([`super::frost::dkg`]),
//! persisting only its own share; it says `ready` once it can sign. Then it serves:
//! round one (fresh nonces, kept under a session number, bounded), round two (checks the
//! request itself with [`super::checks`], *then* signs, consuming the nonces), the bench's
//! single-key baseline, and the lab's actions: `leak` (compromise), `refresh` (proactive
//! refresh with the others, same group key) and `broken_nonces` (the nonce-reuse attack).
//!
//! Network faults: peer frames pass the fault filter by peer id; client frames pass it as if
//! they came from the service's node (clients sit on the service's side of the network), so
//! `partition N` cuts authority N off from clients too.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use clap::Args;
use serde_json::{Map, Value, json};
use tokio::net::TcpStream;

use super::checks::{Principals, check_request};
use super::config::{LabConfig, SERVICE_NODE};
use super::frost::{self, Identifier, SigningNonces};
use super::proto::{MAX_FRAME, PeerMsg, PrincipalInfo, Request, Response, hex, hex_vec, now_secs};
use super::store::{self, Share};
use crate::cluster::event::{ControlCommand, Emitter, NodeEvent, NodeRuntime, run_node};
use crate::wire::fault::{FaultFilter, Verdict};
use crate::wire::frame::{read_frame, write_frame};

/// The role's name.
pub const ROLE: &str = "kdc-authority";
/// Outstanding round-one sessions an authority keeps (oldest dropped first).
pub const MAX_SESSIONS: usize = 4096;

/// Arguments of `wirelab node kdc-authority`.
#[derive(Debug, Args)]
pub struct AuthorityArgs {
    /// Authority id (1..=3).
    #[arg(long)]
    pub id: u64,
    /// Data dir.
    #[arg(long)]
    pub data_dir: PathBuf,
    /// Listen address.
    #[arg(long)]
    pub listen: SocketAddr,
    /// The file holding the run's lab token.
    #[arg(long)]
    pub lab_token_file: PathBuf,
    /// The other authorities, `ID=ADDR,…`.
    #[arg(long, value_parser = crate::lab::args::parse_peers)]
    pub peers: std::vec::Vec<(u64, SocketAddr)>,
}

#[derive(Default)]
pub(super) struct Inner {
    pub(super) share: Option<Share>,
    pub(super) principals: Arc<Principals>,
    pub(super) nonces: HashMap<u64, SigningNonces>,
    pub(super) order: VecDeque<u64>,
    pub(super) next_session: u64,
    pub(super) compromised: bool,
    pub(super) broken: Option<frost::nonce_reuse::NonceReusingSigner>,
    pub(super) commits: u64,
    pub(super) signed: u64,
    pub(super) refused: u64,
    pub(super) culprits_reported: u64,
    pub(super) last_culprit: Value,
    pub(super) last_round: Value,
    /// The latest signing rounds this authority took part in, newest last (for the dashboard).
    pub(super) rounds: VecDeque<Value>,
    /// The latest sign requests' service times, microseconds.
    pub(super) sign_us: VecDeque<u32>,
    /// State changed since the last `state` event.
    pub(super) dirty: bool,
}

/// Rounds kept in an authority's state.
pub const ROUNDS_KEPT: usize = 8;
/// Sign service times kept for the percentiles.
pub(super) const SIGN_TIMES_KEPT: usize = 1024;
/// How often a busy authority reports its state (signing marks it dirty; lab actions report
/// at once).
pub const STATE_EVERY: std::time::Duration = std::time::Duration::from_millis(200);

pub(super) struct Authority {
    pub(super) id: u64,
    pub(super) listen: SocketAddr,
    pub(super) dir: PathBuf,
    pub(super) cfg: LabConfig,
    pub(super) peers: BTreeMap<u64, SocketAddr>,
    pub(super) faults: FaultFilter,
    pub(super) emitter: Arc<Emitter>,
    pub(super) inner: Mutex<Inner>,
    pub(super) inbox: Mutex<HashMap<(String, u64), PeerMsg>>,
    pub(super) single: ed25519_dalek::SigningKey,
    pub(super) token: String,
    pub(super) tgt_cache: super::checks::TgtCache,
}

/// `wirelab node kdc-authority`.
pub fn run_cli(a: AuthorityArgs) -> i32 {
    run_node(NodeRuntime::Workers(2), |emitter| serve(a, emitter))
}

impl Authority {
    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn emit_state(&self) {
        let fields = {
            let mut g = self.lock();
            g.dirty = false;
            let mut f = Map::new();
            f.insert("role".into(), json!("authority"));
            f.insert("can_sign".into(), json!(g.share.is_some()));
            f.insert("epoch".into(), json!(g.share.as_ref().map(|s| s.epoch)));
            f.insert("compromised".into(), json!(g.compromised));
            f.insert("broken_nonces".into(), json!(g.broken.is_some()));
            f.insert("commits".into(), json!(g.commits));
            f.insert("signed".into(), json!(g.signed));
            f.insert("refused".into(), json!(g.refused));
            f.insert("culprits_reported".into(), json!(g.culprits_reported));
            f.insert("last_culprit".into(), g.last_culprit.clone());
            f.insert("last_round".into(), g.last_round.clone());
            f.insert(
                "rounds".into(),
                Value::from(g.rounds.iter().cloned().collect::<Vec<_>>()),
            );
            let mut times: Vec<u32> = g.sign_us.iter().copied().collect();
            times.sort_unstable();
            let q = |p: f64| {
                times
                    .get(((times.len() as f64 - 1.0) * p).round() as usize)
                    .copied()
            };
            f.insert("sign_us_p50".into(), json!(q(0.5)));
            f.insert("sign_us_p99".into(), json!(q(0.99)));
            f
        };
        self.emitter.emit(&NodeEvent::State { fields });
    }

    async fn handle(self: &Arc<Self>, req: Request) -> Response {
        let refused = |reason: String| Response::Refused { reason };
        if let Some(t) = req.lab_token() {
            use subtle::ConstantTimeEq;
            if !bool::from(t.as_bytes().ct_eq(self.token.as_bytes())) {
                return refused("lab action refused: wrong lab token".into());
            }
        }
        match req {
            Request::Info => {
                let g = self.lock();
                let Some(s) = g.share.as_ref() else {
                    return refused("no share yet (key generation running)".into());
                };
                Response::Info {
                    id: self.id,
                    epoch: s.epoch,
                    group_key: hex(&s.public.group_public_key().to_bytes()),
                    verifying_shares: store::verifying_hex(&s.public).into_iter().collect(),
                    principals: g.principals.values().cloned().collect(),
                    single_key: hex(self.single.verifying_key().as_bytes()),
                }
            }
            Request::Commit => self.commit(),
            Request::CommitBatch { count } => self.commit_batch(count),
            Request::Outcome {
                round,
                signers,
                rejected,
            } => {
                {
                    let mut g = self.lock();
                    if let Some(r) = g
                        .rounds
                        .iter_mut()
                        .rev()
                        .find(|r| r["round"] == round.as_str())
                    {
                        r["aggregate"] = json!("verified");
                        r["final_signers"] = json!(signers);
                        r["rejected"] = json!(rejected);
                    }
                    g.dirty = true;
                }
                Response::Ok {
                    detail: "noted".into(),
                }
            }
            Request::Sign {
                session,
                package,
                request,
            } => self.sign(session, &package, &request),
            Request::SingleSign { ticket, request } => {
                let bytes = match hex_vec(&ticket, "ticket", MAX_FRAME) {
                    Ok(b) => b,
                    Err(e) => return refused(e),
                };
                let (gk, principals) = {
                    let g = self.lock();
                    let Some(s) = g.share.as_ref() else {
                        return refused("no share yet".into());
                    };
                    (s.public.group_public_key(), g.principals.clone())
                };
                let checked = check_request(
                    &self.cfg,
                    &principals,
                    &gk,
                    &bytes,
                    &request,
                    now_secs(),
                    &self.tgt_cache,
                );
                match checked {
                    Ok(_) => {
                        use ed25519_dalek::Signer;
                        Response::Signed {
                            signature: hex(&self.single.sign(&bytes).to_bytes()),
                        }
                    }
                    Err(e) => refused(e),
                }
            }
            Request::Leak { .. } => {
                let r = {
                    let mut g = self.lock();
                    g.compromised = true;
                    match g.share.as_ref() {
                        None => refused("no share yet".into()),
                        Some(s) => Response::Leaked {
                            id: self.id,
                            epoch: s.epoch,
                            share: hex(s.key.signing_share().to_bytes().as_ref()),
                            group_key: hex(&s.public.group_public_key().to_bytes()),
                            verifying_shares: store::verifying_hex(&s.public).into_iter().collect(),
                            principals: g.principals.values().cloned().collect(),
                        },
                    }
                };
                self.emitter.log(
                    "warn",
                    format!(
                        "authority {} compromised: share and database leaked; it now signs garbage",
                        self.id
                    ),
                );
                self.emit_state();
                r
            }
            Request::Culprit { session, culprit } => {
                {
                    let mut g = self.lock();
                    g.culprits_reported += 1;
                    g.last_culprit = json!({"session": session, "culprit": culprit, "reported_by": "coordinator", "at_ms": super::proto::now_millis()});
                }
                self.emitter.log(
                    "warn",
                    format!("round {session}: the coordinator rejected authority {culprit}'s signature share"),
                );
                self.emit_state();
                Response::Ok {
                    detail: "noted".into(),
                }
            }
            Request::BrokenNonces { on, .. } => {
                {
                    let mut g = self.lock();
                    g.broken = match (on, g.share.as_ref()) {
                        (true, Some(s)) => Some(frost::nonce_reuse::NonceReusingSigner::new(
                            s.key.clone(),
                            &mut rand::rng(),
                        )),
                        _ => None,
                    };
                }
                self.emit_state();
                Response::Ok {
                    detail: format!("nonce reuse {}", if on { "on" } else { "off" }),
                }
            }
            Request::Refresh { epoch, .. } => match self.refresh(epoch).await {
                Ok(d) => Response::Ok { detail: d },
                Err(e) => {
                    self.emitter.log("warn", format!("refresh failed: {e}"));
                    refused(e)
                }
            },
            Request::Peer { from, msg, .. } => {
                if !self.peers.contains_key(&from) {
                    return refused(format!("unknown peer {from}"));
                }
                let key = match &msg {
                    PeerMsg::Dkg1 { .. } => "dkg1".to_string(),
                    PeerMsg::Dkg2 { .. } => "dkg2".to_string(),
                    PeerMsg::Refresh { epoch, .. } => format!("refresh{epoch}"),
                };
                let mut inbox = self.inbox.lock().unwrap_or_else(|p| p.into_inner());
                if inbox.len() < 64 {
                    inbox.insert((key, from), msg);
                }
                Response::Ok {
                    detail: "stored".into(),
                }
            }
        }
    }
}

/// Reads the run's lab token (bounded, trimmed).
pub fn read_token(path: &std::path::Path) -> Result<String, String> {
    let b = store::read_bounded(path)
        .map_err(|e| format!("lab token {}: {e}", path.display()))?
        .ok_or_else(|| format!("no lab token at {}", path.display()))?;
    let t = String::from_utf8_lossy(&b).trim().to_string();
    if t.len() < 32 {
        return Err(format!("lab token {} is too short", path.display()));
    }
    Ok(t)
}

pub(super) fn ident(id: u64) -> Result<Identifier, String> {
    u16::try_from(id)
        .ok()
        .and_then(|v| Identifier::new(v).ok())
        .ok_or_else(|| format!("bad authority id {id}"))
}

fn enroll(cfg: &LabConfig) -> Vec<PrincipalInfo> {
    cfg.principal
        .iter()
        .map(|p| {
            let public = if p.kind == "user" {
                hex(store::user_key(&p.name, &p.password, cfg.kdf)
                    .verifying_key()
                    .as_bytes())
            } else {
                let s = store::service_secret(&p.name, &p.password, cfg.kdf);
                hex(x25519_dalek::PublicKey::from(&s).as_bytes())
            };
            PrincipalInfo {
                name: p.name.clone(),
                kind: p.kind.clone(),
                public,
            }
        })
        .collect()
}

async fn serve(a: AuthorityArgs, emitter: Arc<Emitter>) -> Result<(), String> {
    let cfg = LabConfig::builtin().map_err(|e| e.to_string())?;
    std::fs::create_dir_all(&a.data_dir).map_err(|e| e.to_string())?;
    let principals = match store::load_principals(&a.data_dir)? {
        Some(p) => p,
        None => {
            let p = enroll(&cfg);
            store::save_principals(&a.data_dir, &p).map_err(|e| e.to_string())?;
            emitter.log("info", format!("enrolled {} principals", p.len()));
            p
        }
    };
    let share = Share::load(&a.data_dir)?;
    let token = read_token(&a.lab_token_file)?;
    let auth = Arc::new(Authority {
        id: a.id,
        listen: a.listen,
        dir: a.data_dir.clone(),
        cfg,
        peers: a
            .peers
            .iter()
            .copied()
            .filter(|(i, _)| *i != a.id)
            .collect(),
        faults: FaultFilter::new(),
        emitter: emitter.clone(),
        inner: Mutex::new(Inner {
            share,
            principals: Arc::new(
                principals
                    .into_iter()
                    .map(|p| (p.name.clone(), p))
                    .collect(),
            ),
            last_round: Value::Null,
            ..Inner::default()
        }),
        inbox: Mutex::new(HashMap::new()),
        single: ed25519_dalek::SigningKey::from_bytes(&rand::random()),
        tgt_cache: Default::default(),
        token,
    });
    let listener = crate::cluster::listen_reserved(a.listen)
        .map_err(|e| format!("cannot listen on {}: {e}", a.listen))?;
    let ctl = auth.clone();
    crate::cluster::event::watch_stdin(
        move |cmd| match cmd {
            ControlCommand::Faults { rules } => ctl.faults.set(rules),
            ControlCommand::Report => ctl.emit_state(),
            _ => {}
        },
        |_| {},
    )
    .map_err(|e| e.to_string())?;
    let acceptor = auth.clone();
    tokio::spawn(async move {
        while let Ok((conn, _)) = listener.accept().await {
            let _ = conn.set_nodelay(true);
            tokio::spawn(connection(acceptor.clone(), conn));
        }
    });
    if auth.lock().share.is_none() {
        emitter.log(
            "info",
            "running the distributed key generation with the other authorities",
        );
        let share = auth.dkg().await?;
        share
            .save(&auth.dir)
            .map_err(|e| format!("cannot persist the share: {e}"))?;
        emitter.log(
            "info",
            format!(
                "DKG done: group key {}",
                hex(&share.public.group_public_key().to_bytes())
            ),
        );
        auth.lock().share = Some(share);
    }
    auth.emit_state();
    let ticker = auth.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(STATE_EVERY);
        loop {
            every.tick().await;
            let dirty = std::mem::take(&mut ticker.lock().dirty);
            if dirty {
                ticker.emit_state();
            }
        }
    });
    emitter.emit(&NodeEvent::Ready {
        addr: a.listen.to_string(),
        http: None,
    });
    std::future::pending::<()>().await;
    Ok(())
}

async fn connection(auth: Arc<Authority>, conn: TcpStream) {
    // Buffered for reading: a frame's length prefix and body come in one `read`, not three.
    let mut conn = tokio::io::BufReader::new(conn);
    let mut buf = Vec::new();
    loop {
        match read_frame(&mut conn, &mut buf, MAX_FRAME).await {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => {
                auth.emitter
                    .log("warn", format!("bad frame from a client: {e}"));
                return;
            }
        }
        let req: Request = match serde_json::from_slice(&buf) {
            Ok(r) => r,
            Err(e) => {
                auth.emitter.log("warn", format!("malformed request: {e}"));
                let r = Response::Refused {
                    reason: format!("malformed request: {e}"),
                };
                if write_json(&mut conn, &r).await.is_err() {
                    return;
                }
                continue;
            }
        };
        let source = match &req {
            Request::Peer { from, .. } => *from,
            _ => SERVICE_NODE,
        };
        match auth.faults.verdict(source) {
            Verdict::Drop => continue,
            Verdict::Delay(d) => tokio::time::sleep(d).await,
            Verdict::Pass => {}
        }
        let resp = auth.handle(req).await;
        if write_json(&mut conn, &resp).await.is_err() {
            return;
        }
    }
}

async fn write_json(
    conn: &mut tokio::io::BufReader<TcpStream>,
    r: &Response,
) -> std::io::Result<()> {
    let body = serde_json::to_vec(r).map_err(std::io::Error::other)?;
    write_frame(conn, &body).await
}
