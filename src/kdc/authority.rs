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
use std::time::{Duration, Instant};

use clap::Args;
use serde_json::{Map, Value, json};
use tokio::net::TcpStream;

use super::checks::{Principals, check_request};
use super::config::{LabConfig, SERVICE_NODE};
use super::frost::{self, Identifier, SignatureShare, SigningNonces, SigningPackage};
use super::net::Conn;
use super::proto::{
    IssueRequest, MAX_FRAME, PeerMsg, PrincipalInfo, Request, Response, hex, hex_array, hex_vec,
    now_secs,
};
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
    /// The other authorities, `ID=ADDR,…`.
    #[arg(long, value_parser = crate::lab::args::parse_peers)]
    pub peers: std::vec::Vec<(u64, SocketAddr)>,
}

#[derive(Default)]
struct Inner {
    share: Option<Share>,
    principals: Principals,
    nonces: HashMap<u64, SigningNonces>,
    order: VecDeque<u64>,
    next_session: u64,
    compromised: bool,
    broken: Option<frost::nonce_reuse::NonceReusingSigner>,
    commits: u64,
    signed: u64,
    refused: u64,
    last_round: Value,
}

struct Authority {
    id: u64,
    listen: SocketAddr,
    dir: PathBuf,
    cfg: LabConfig,
    peers: BTreeMap<u64, SocketAddr>,
    faults: FaultFilter,
    emitter: Arc<Emitter>,
    inner: Mutex<Inner>,
    inbox: Mutex<HashMap<(String, u64), PeerMsg>>,
    single: ed25519_dalek::SigningKey,
}

/// `wirelab node kdc-authority`.
pub fn run_cli(a: AuthorityArgs) -> i32 {
    run_node(NodeRuntime::Workers(2), |emitter| serve(a, emitter))
}

impl Authority {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn emit_state(&self) {
        let fields = {
            let g = self.lock();
            let mut f = Map::new();
            f.insert("role".into(), json!("authority"));
            f.insert("can_sign".into(), json!(g.share.is_some()));
            f.insert("epoch".into(), json!(g.share.as_ref().map(|s| s.epoch)));
            f.insert("compromised".into(), json!(g.compromised));
            f.insert("broken_nonces".into(), json!(g.broken.is_some()));
            f.insert("commits".into(), json!(g.commits));
            f.insert("signed".into(), json!(g.signed));
            f.insert("refused".into(), json!(g.refused));
            f.insert("last_round".into(), g.last_round.clone());
            f
        };
        self.emitter.emit(&NodeEvent::State { fields });
    }

    async fn handle(self: &Arc<Self>, req: Request) -> Response {
        let refused = |reason: String| Response::Refused { reason };
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
                let checked = {
                    let g = self.lock();
                    let Some(s) = g.share.as_ref() else {
                        return refused("no share yet".into());
                    };
                    let gk = s.public.group_public_key();
                    check_request(&self.cfg, &g.principals, &gk, &bytes, &request, now_secs())
                };
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
            Request::Leak => {
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
            Request::BrokenNonces { on } => {
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
            Request::Refresh { epoch } => match self.refresh(epoch).await {
                Ok(d) => Response::Ok { detail: d },
                Err(e) => {
                    self.emitter.log("warn", format!("refresh failed: {e}"));
                    refused(e)
                }
            },
            Request::Peer { from, msg } => {
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

    fn commit(&self) -> Response {
        {
            let mut g = self.lock();
            let Some(s) = g.share.as_ref() else {
                return Response::Refused {
                    reason: "no share yet".into(),
                };
            };
            let (nonces, commitments) = match g.broken.as_ref() {
                // The broken signer's nonces live inside it; store a placeholder session.
                Some(b) => (None, b.commitments()),
                None => {
                    let (n, c) = frost::round1::commit(&s.key, &mut rand::rng());
                    (Some(n), c)
                }
            };
            g.next_session += 1;
            let session = g.next_session;
            if let Some(n) = nonces {
                g.nonces.insert(session, n);
                g.order.push_back(session);
                while g.order.len() > MAX_SESSIONS {
                    if let Some(old) = g.order.pop_front() {
                        g.nonces.remove(&old);
                    }
                }
            }
            g.commits += 1;
            Response::Committed {
                session,
                commitments: hex(&commitments.to_bytes()),
            }
        }
    }

    fn sign(&self, session: u64, package: &str, request: &IssueRequest) -> Response {
        let result = self.sign_inner(session, package, request);
        let mut g = self.lock();
        let resp = match result {
            Ok((share, client, service)) => {
                g.signed += 1;
                g.last_round = json!({"session": session, "client": client, "service": service,
                    "result": if g.compromised { "garbage share sent" } else { "signed" }});
                Response::Share {
                    share: hex(&share.to_bytes()),
                }
            }
            Err(reason) => {
                g.refused += 1;
                g.last_round = json!({"session": session, "result": "refused", "reason": reason});
                Response::Refused { reason }
            }
        };
        drop(g);
        if let Response::Refused { reason } = &resp {
            self.emitter.log(
                "info",
                format!("refused to sign (session {session}): {reason}"),
            );
        }
        self.emit_state();
        resp
    }

    fn sign_inner(
        &self,
        session: u64,
        package: &str,
        request: &IssueRequest,
    ) -> Result<(SignatureShare, String, String), String> {
        let bytes = hex_vec(package, "signing package", MAX_FRAME)?;
        let pkg = SigningPackage::from_bytes(&bytes)
            .map_err(|e| format!("malformed signing package: {e}"))?;
        let mut g = self.lock();
        let broken = g.broken.is_some();
        let nonces = g.nonces.remove(&session);
        if nonces.is_none() && !broken {
            return Err(format!("unknown or already used session {session}"));
        }
        let Some(s) = g.share.as_ref() else {
            return Err("no share yet".into());
        };
        for id in pkg.identifiers() {
            if !s.public.verifying_shares().contains_key(&id) {
                return Err(format!("unknown signer {id} in the commitment list"));
            }
        }
        if pkg.identifiers().len() < usize::from(s.public.min_signers()) {
            return Err("commitment list below the threshold".into());
        }
        let gk = s.public.group_public_key();
        let t = check_request(
            &self.cfg,
            &g.principals,
            &gk,
            pkg.message(),
            request,
            now_secs(),
        )?;
        if g.compromised {
            // The attacker controls this signer: a random (canonical) scalar, not a share.
            let mut b: [u8; 32] = rand::random();
            b[31] &= 0x0f;
            let garbage = SignatureShare::from_bytes(&b).map_err(|e| e.to_string())?;
            return Ok((garbage, t.client, t.service));
        }
        let share = match (g.broken.as_ref(), nonces) {
            (Some(b), _) => b.sign(&pkg),
            (None, Some(n)) => frost::round2::sign(&pkg, n, &s.key),
            (None, None) => return Err(format!("unknown or already used session {session}")),
        }
        .map_err(|e| format!("cannot sign: {e}"))?;
        Ok((share, t.client, t.service))
    }

    async fn send_peer(&self, to: u64, msg: PeerMsg, deadline: Instant) -> Result<(), String> {
        let Some(&addr) = self.peers.get(&to) else {
            return Err(format!("no peer {to}"));
        };
        let mut conn = Conn::new(addr);
        let req = Request::Peer { from: self.id, msg };
        loop {
            let verdict = self.faults.verdict(to);
            if let Verdict::Delay(d) = verdict {
                tokio::time::sleep(d).await;
            }
            if verdict != Verdict::Drop {
                let r = conn.call::<_, Response>(&req, Duration::from_secs(2)).await;
                if let Ok(Response::Ok { .. }) = r {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                return Err(format!("authority {to} did not take our message"));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn wait_inbox(
        &self,
        key: &str,
        deadline: Instant,
    ) -> Result<BTreeMap<u64, PeerMsg>, String> {
        loop {
            {
                let mut inbox = self.inbox.lock().unwrap_or_else(|p| p.into_inner());
                if self
                    .peers
                    .keys()
                    .all(|p| inbox.contains_key(&(key.to_string(), *p)))
                {
                    return Ok(self
                        .peers
                        .keys()
                        .filter_map(|p| inbox.remove(&(key.to_string(), *p)).map(|m| (*p, m)))
                        .collect());
                }
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "timed out waiting for every authority's {key} message"
                ));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn broadcast(
        &self,
        msgs: BTreeMap<u64, PeerMsg>,
        deadline: Instant,
    ) -> Result<(), String> {
        let sends = msgs
            .into_iter()
            .map(|(to, m)| self.send_peer(to, m, deadline));
        for r in futures::future::join_all(sends).await {
            r?;
        }
        Ok(())
    }

    async fn dkg(&self) -> Result<Share, String> {
        let me = ident(self.id)?;
        let mut members: Vec<String> = self.peers.iter().map(|(i, a)| format!("{i}={a}")).collect();
        members.push(format!("{}={}", self.id, self.listen));
        members.sort();
        let context = format!("wirelab-kdc dkg v1 {}", members.join(","));
        let n = self.cfg.lab.authorities;
        let t = self.cfg.lab.threshold;
        let (s1, p1) = frost::dkg::part1(me, n, t, context.as_bytes(), &mut rand::rng())
            .map_err(|e| e.to_string())?;
        let deadline = Instant::now() + Duration::from_secs(120);
        let package = hex(&p1.to_bytes());
        let out = self
            .peers
            .keys()
            .map(|&p| {
                (
                    p,
                    PeerMsg::Dkg1 {
                        package: package.clone(),
                    },
                )
            })
            .collect();
        self.broadcast(out, deadline).await?;
        let mut r1 = BTreeMap::new();
        for (from, m) in self.wait_inbox("dkg1", deadline).await? {
            let PeerMsg::Dkg1 { package } = m else {
                continue;
            };
            let b = hex_vec(&package, "dkg round 1", 4096)?;
            let pkg = frost::dkg::Round1Package::from_bytes(&b).map_err(|e| e.to_string())?;
            r1.insert(ident(from)?, pkg);
        }
        let (s2, outgoing) = frost::dkg::part2(s1, &r1).map_err(|e| e.to_string())?;
        let mut out = BTreeMap::new();
        for (id, share) in outgoing {
            out.insert(
                u64::from(id.get()),
                PeerMsg::Dkg2 {
                    share: hex(share.to_bytes().as_ref()),
                },
            );
        }
        self.broadcast(out, deadline).await?;
        let mut r2 = BTreeMap::new();
        for (from, m) in self.wait_inbox("dkg2", deadline).await? {
            let PeerMsg::Dkg2 { share } = m else { continue };
            let b = hex_array::<32>(&share, "dkg share")?;
            let pkg = frost::dkg::Round2Package::from_bytes(&b).map_err(|e| e.to_string())?;
            r2.insert(ident(from)?, pkg);
        }
        let (key, public) = frost::dkg::part3(s2, &r2).map_err(|e| e.to_string())?;
        Ok(Share {
            key,
            public,
            epoch: 0,
        })
    }

    async fn refresh(&self, epoch: u64) -> Result<String, String> {
        let (key, public, current) = {
            let g = self.lock();
            let s = g.share.as_ref().ok_or("no share yet")?;
            (s.key.clone(), s.public.clone(), s.epoch)
        };
        if current >= epoch {
            return Ok(format!("already at epoch {current}"));
        }
        if current + 1 != epoch {
            return Err(format!("at epoch {current}, cannot jump to {epoch}"));
        }
        let (commitment, shares) = frost::refresh::deal(&public, &mut rand::rng());
        let me = key.identifier();
        let c_hex = hex(&commitment.to_bytes());
        let mut out = BTreeMap::new();
        for (id, sh) in &shares {
            if *id != me {
                out.insert(
                    u64::from(id.get()),
                    PeerMsg::Refresh {
                        epoch,
                        commitment: c_hex.clone(),
                        share: hex(sh.to_bytes().as_ref()),
                    },
                );
            }
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        self.broadcast(out, deadline).await?;
        let mut commitments = BTreeMap::from([(me, commitment)]);
        let mut got = BTreeMap::new();
        if let Some(own) = shares.get(&me) {
            got.insert(me, own.clone());
        }
        for (from, m) in self
            .wait_inbox(&format!("refresh{epoch}"), deadline)
            .await?
        {
            let PeerMsg::Refresh {
                commitment, share, ..
            } = m
            else {
                continue;
            };
            let c = hex_vec(&commitment, "refresh commitment", 4096)?;
            let c = frost::refresh::RefreshCommitment::from_bytes(&c).map_err(|e| e.to_string())?;
            let s = hex_array::<32>(&share, "refresh share")?;
            let s = frost::refresh::RefreshShare::from_bytes(&s).map_err(|e| e.to_string())?;
            commitments.insert(ident(from)?, c);
            got.insert(ident(from)?, s);
        }
        let (key, public) =
            frost::refresh::apply(&key, &public, &commitments, &got).map_err(|e| e.to_string())?;
        let share = Share { key, public, epoch };
        share
            .save(&self.dir)
            .map_err(|e| format!("cannot persist the share: {e}"))?;
        {
            let mut g = self.lock();
            g.share = Some(share);
            g.compromised = false;
            g.broken = None;
            g.nonces.clear();
            g.order.clear();
        }
        self.emitter.log(
            "info",
            format!("share refreshed to epoch {epoch}; group key unchanged"),
        );
        self.emit_state();
        Ok(format!("epoch {epoch}"))
    }
}

fn ident(id: u64) -> Result<Identifier, String> {
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
            principals: principals
                .into_iter()
                .map(|p| (p.name.clone(), p))
                .collect(),
            last_round: Value::Null,
            ..Inner::default()
        }),
        inbox: Mutex::new(HashMap::new()),
        single: ed25519_dalek::SigningKey::from_bytes(&rand::random()),
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
    emitter.emit(&NodeEvent::Ready {
        addr: a.listen.to_string(),
        http: None,
    });
    std::future::pending::<()>().await;
    Ok(())
}

async fn connection(auth: Arc<Authority>, mut conn: TcpStream) {
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

async fn write_json(conn: &mut TcpStream, r: &Response) -> std::io::Result<()> {
    let body = serde_json::to_vec(r).map_err(std::io::Error::other)?;
    write_frame(conn, &body).await
}
