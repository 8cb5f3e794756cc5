//! The client side of the exchanges, and the coordinator of FROST signing (the client
//! coordinates: it collects commitments, builds the signing package around the ticket it
//! proposes, collects shares and aggregates them, verifying each one so a bad share names its
//! authority, which is then left out while the ticket is signed by the others).
//!
//! - AS: [`Kdc::login`] proposes a TGT binding a fresh ephemeral Ed25519 key and signs it with
//!   the password-derived key (pre-authentication).
//! - TGS: [`Kdc::service_ticket`] proposes a service ticket whose session key (fresh, random) is
//!   sealed to the service's X25519 key, and signs it with the TGT's ephemeral key.
//! - AP: [`Kdc::ap_request`] and [`Kdc::send_ap`] send the ticket and a GCM authenticator to
//!   the service and check its mutual-authentication proof.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ed25519_dalek::Signer;
use zeroize::Zeroizing;

use super::checks::group_verify;
use super::config::LabConfig;
use super::frost::{self, GroupPublicKey, Identifier, PublicKeyPackage, SignatureShare};
use super::net::Conn;
use super::proto::{
    AP_REP_AAD, AP_REQ_AAD, AS_PREAUTH_CONTEXT, ApAuthenticator, ApRequest, ApResponse,
    IssueRequest, PrincipalInfo, Request, Response, STALE_SESSION, Sealer, TGS_AUTH_CONTEXT,
    TGS_NAME, Ticket, TicketKind, gcm_open, gcm_seal, hex, hex_array, hex_vec, now_millis,
    now_secs, round_id,
};
use super::store;

/// A signer's pool of preprocessed commitments is refilled (after a share, on the same
/// connection) once fewer than this many are left.
const REFILL_BELOW: usize = 4;

/// A signed ticket.
#[derive(Clone, Debug)]
pub struct Issued {
    /// The exact bytes the group signed.
    pub ticket: Vec<u8>,
    /// The Ed25519 signature under the group key.
    pub signature: [u8; 64],
    /// The authorities whose shares made it.
    pub signers: Vec<u64>,
    /// Authorities whose share was rejected on the way, with the reason.
    pub rejected: Vec<(u64, String)>,
}

/// A TGT and the ephemeral key it binds (the client's credential cache).
#[derive(Clone)]
pub struct Tgt {
    /// The signed TGT.
    pub issued: Issued,
    /// The ephemeral signing key whose public half the TGT carries.
    pub key: ed25519_dalek::SigningKey,
}

/// A client of the triad and the service.
pub struct Kdc {
    conns: BTreeMap<u64, Conn>,
    down: BTreeMap<u64, Instant>,
    service: Conn,
    /// The group's public view (from the authorities).
    pub public: PublicKeyPackage,
    /// The principals they publish.
    pub principals: Vec<PrincipalInfo>,
    /// The highest share epoch seen.
    pub epoch: u64,
    /// Per-call deadline.
    pub timeout: Duration,
    /// The lab file.
    pub cfg: LabConfig,
    /// Preprocessed commitments per authority, as received (session, encoding): each is
    /// decoded and validated when it is taken, so a batch's point checks (two subgroup
    /// checks per commitment) are spread over the tickets that use it instead of stalling
    /// the one ticket that fetched the batch.
    pool: BTreeMap<u64, VecDeque<(u64, Vec<u8>)>>,
    /// How many commitments to fetch ahead from an authority (1: plain two-round signing).
    pub batch: u32,
    /// Whether to tell the signers the outcome of each round (one more message each).
    pub report: bool,
    /// Session-key sealers by recipient key (a precomputed table each).
    sealers: std::sync::Mutex<Vec<std::sync::Arc<Sealer>>>,
}

fn ident(id: u64) -> Identifier {
    Identifier::new(id as u16).unwrap_or_else(|_| Identifier::new(1).expect("1 is valid"))
}

impl Kdc {
    /// Connects: learns the group from the first authority that answers.
    pub async fn connect(
        authorities: &BTreeMap<u64, SocketAddr>,
        service: SocketAddr,
        timeout: Duration,
    ) -> Result<Kdc, String> {
        let cfg = LabConfig::builtin().map_err(|e| e.to_string())?;
        let mut conns: BTreeMap<u64, Conn> = authorities
            .iter()
            .map(|(i, a)| (*i, Conn::new(*a)))
            .collect();
        let mut errors = Vec::new();
        let mut best: Option<(u64, PublicKeyPackage, Vec<PrincipalInfo>)> = None;
        let calls = conns.iter_mut().map(|(id, c)| async move {
            (*id, c.call::<_, Response>(&Request::Info, timeout).await)
        });
        for (id, r) in futures::future::join_all(calls).await {
            match r {
                Ok(Response::Info {
                    epoch,
                    group_key,
                    verifying_shares,
                    principals,
                    ..
                }) => {
                    let public = store::public_package(
                        &group_key,
                        &verifying_shares.into_iter().collect(),
                        cfg.lab.threshold,
                    )?;
                    if best.as_ref().is_none_or(|(e, _, _)| epoch > *e) {
                        best = Some((epoch, public, principals));
                    }
                }
                Ok(other) => errors.push(format!("authority {id}: {other:?}")),
                Err(e) => errors.push(format!("authority {id}: {e}")),
            }
        }
        let (epoch, public, principals) =
            best.ok_or_else(|| format!("no authority answers: {}", errors.join("; ")))?;
        Ok(Kdc {
            conns,
            down: BTreeMap::new(),
            service: Conn::new(service),
            public,
            principals,
            epoch,
            timeout,
            cfg,
            pool: BTreeMap::new(),
            batch: 1,
            report: true,
            sealers: Default::default(),
        })
    }

    /// The group public key.
    pub fn group_key(&self) -> GroupPublicKey {
        self.public.group_public_key()
    }

    /// A principal's published key.
    pub fn principal_key(&self, name: &str, kind: &str) -> Result<[u8; 32], String> {
        let p = self
            .principals
            .iter()
            .find(|p| p.name == name && p.kind == kind)
            .ok_or_else(|| format!("no {kind} named {name}"))?;
        hex_array::<32>(&p.public, "principal key")
    }

    /// A raw call to one authority.
    pub async fn call(&mut self, id: u64, req: &Request) -> Result<Response, String> {
        let timeout = self.timeout;
        let c = self
            .conns
            .get_mut(&id)
            .ok_or_else(|| format!("no authority {id}"))?;
        c.call(req, timeout).await
    }

    /// Every authority id.
    pub fn ids(&self) -> Vec<u64> {
        self.conns.keys().copied().collect()
    }

    /// Preprocessed commitments of `id` (FROST's preprocessing stage): `self.batch` fresh
    /// ones when none is left, each validated once here. `Err` when the authority does not
    /// answer.
    async fn take_commitment(
        &mut self,
        id: u64,
    ) -> Result<(u64, frost::SigningCommitments), String> {
        let decode = |b: &[u8]| -> Result<frost::SigningCommitments, String> {
            let c = frost::SigningCommitments::from_bytes(b).map_err(|e| e.to_string())?;
            if c.identifier() != ident(id) {
                return Err("commitments under another identifier".into());
            }
            Ok(c)
        };
        if let Some((session, b)) = self.pool.get_mut(&id).and_then(VecDeque::pop_front) {
            return Ok((session, decode(&b)?));
        }
        let req = if self.batch <= 1 {
            Request::Commit
        } else {
            Request::CommitBatch { count: self.batch }
        };
        let batch = match self.call(id, &req).await? {
            Response::Committed {
                session,
                commitments,
            } => vec![(session, commitments)],
            Response::CommittedBatch { batch } => batch,
            Response::Refused { reason } => return Err(reason),
            other => return Err(format!("unexpected answer {other:?}")),
        };
        let mut fresh = VecDeque::with_capacity(batch.len());
        for (session, commitments) in batch {
            fresh.push_back((session, hex_vec(&commitments, "commitments", 96)?));
        }
        let (session, first) = fresh.pop_front().ok_or("an empty commitment batch")?;
        let first = decode(&first)?;
        self.pool.insert(id, fresh);
        Ok((session, first))
    }

    /// Signs `ticket` under the group key with two authorities that accept `request`.
    ///
    /// One network round when preprocessed commitments are at hand (`self.batch` > 1 keeps a
    /// pool per authority), two otherwise. An authority that does not answer is skipped for
    /// 2 s; one whose share fails its check is named and left out; one that no longer holds a
    /// preprocessed session (it restarted) has its pool dropped and the round is tried again.
    pub async fn issue(&mut self, ticket: &[u8], request: &IssueRequest) -> Result<Issued, String> {
        let need = usize::from(self.public.min_signers());
        let mut excluded: BTreeSet<u64> = BTreeSet::new();
        let mut rejected = Vec::new();
        let mut failures: BTreeMap<u64, String> = BTreeMap::new();
        for _attempt in 0..5 {
            let now = Instant::now();
            let mut queue: Vec<u64> = self
                .ids()
                .into_iter()
                .filter(|i| !excluded.contains(i))
                .collect();
            queue.sort_by_key(|i| (self.down.get(i).is_some_and(|t| *t > now), *i));
            let mut commits: Vec<(u64, u64, frost::SigningCommitments)> = Vec::new();
            for id in queue {
                if commits.len() == need {
                    break;
                }
                match self.take_commitment(id).await {
                    Ok((s, c)) => {
                        self.down.remove(&id);
                        commits.push((id, s, c));
                    }
                    Err(e) => {
                        self.down
                            .insert(id, Instant::now() + Duration::from_secs(2));
                        failures.insert(id, e);
                    }
                }
            }
            if commits.len() < need {
                let total = self.conns.len();
                let why: Vec<String> = failures
                    .iter()
                    .map(|(i, e)| format!("authority {i}: {e}"))
                    .chain(rejected.iter().map(|(i, e)| format!("authority {i}: {e}")))
                    .collect();
                return Err(format!(
                    "cannot issue: only {} of {total} authorities can sign (need {need}): {}",
                    commits.len(),
                    why.join("; ")
                ));
            }
            let package = frost::SigningPackage::new(commits.iter().map(|c| c.2).collect(), ticket)
                .map_err(|e| e.to_string())?;
            let pkg_hex = hex(&package.to_bytes().map_err(|e| e.to_string())?);
            let timeout = self.timeout;
            // A signer whose pool runs low is asked for its next batch on the same
            // connection right after its share: the signers refill in parallel, not one after
            // the other at the start of a later ticket.
            let refill: BTreeSet<u64> = commits
                .iter()
                .map(|c| c.0)
                .filter(|i| {
                    self.batch > 1 && self.pool.get(i).map_or(0, VecDeque::len) < REFILL_BELOW
                })
                .collect();
            let count = self.batch;
            let calls = self
                .conns
                .iter_mut()
                .filter_map(|(i, c)| commits.iter().find(|x| x.0 == *i).map(|x| (x.1, i, c)))
                .map(|(session, i, c)| {
                    let req = Request::Sign {
                        session,
                        package: pkg_hex.clone(),
                        request: request.clone(),
                    };
                    let more = refill.contains(i);
                    async move {
                        let r = c.call::<_, Response>(&req, timeout).await;
                        let batch = if more && r.is_ok() {
                            c.call::<_, Response>(&Request::CommitBatch { count }, timeout)
                                .await
                                .ok()
                        } else {
                            None
                        };
                        (*i, r, batch)
                    }
                });
            let mut shares = BTreeMap::new();
            let mut again = false;
            let mut answers = Vec::new();
            for (id, r, batch) in futures::future::join_all(calls).await {
                // A refill that failed is no error: the pool is fetched when it runs dry.
                if let Some(Response::CommittedBatch { batch }) = batch {
                    let pool = self.pool.entry(id).or_default();
                    for (session, commitments) in batch {
                        if let Ok(b) = hex_vec(&commitments, "commitments", 96) {
                            pool.push_back((session, b));
                        }
                    }
                }
                answers.push((id, r));
            }
            for (id, r) in answers {
                match r {
                    Ok(Response::Share { share }) => {
                        let s = hex_array::<32>(&share, "share").and_then(|b| {
                            SignatureShare::from_bytes(&b).map_err(|e| e.to_string())
                        });
                        match s {
                            Ok(s) => {
                                shares.insert(ident(id), s);
                            }
                            Err(e) => {
                                rejected.push((id, format!("malformed signature share: {e}")));
                                excluded.insert(id);
                            }
                        }
                    }
                    Ok(Response::Refused { reason }) if reason.starts_with(STALE_SESSION) => {
                        self.pool.remove(&id);
                        again = true;
                    }
                    Ok(Response::Refused { reason }) => {
                        return Err(format!("authority {id} refused: {reason}"));
                    }
                    Ok(other) => {
                        return Err(format!("authority {id}: unexpected answer {other:?}"));
                    }
                    Err(e) => {
                        self.pool.remove(&id);
                        self.down
                            .insert(id, Instant::now() + Duration::from_secs(2));
                        failures.insert(id, e);
                        again = true;
                    }
                }
            }
            if again || shares.len() < need {
                continue;
            }
            match frost::aggregate(&package, &shares, &self.public) {
                Ok(sig) => {
                    let issued = Issued {
                        ticket: ticket.to_vec(),
                        signature: sig.to_bytes(),
                        signers: commits.iter().map(|c| c.0).collect(),
                        rejected,
                    };
                    if self.report {
                        self.report_outcome(&issued).await;
                    }
                    return Ok(issued);
                }
                Err(frost::FrostError::InvalidSignatureShare { culprit }) => {
                    let id = u64::from(culprit.get());
                    rejected.push((
                        id,
                        "invalid signature share (fails its verifying-share check)".into(),
                    ));
                    excluded.insert(id);
                    // Tell the honest signers of this round, for their state.
                    for (other, session, _) in &commits {
                        if *other != id {
                            let req = Request::Culprit {
                                session: *session,
                                culprit: id,
                            };
                            let _ = self.call(*other, &req).await;
                        }
                    }
                }
                Err(e) => return Err(format!("aggregation failed: {e}")),
            }
        }
        Err("cannot issue: too many failed attempts".into())
    }

    /// Tells the signers of an issued ticket that the aggregate verified (their state, the
    /// dashboard's rounds).
    async fn report_outcome(&mut self, issued: &Issued) {
        let req = Request::Outcome {
            round: round_id(&issued.ticket),
            signers: issued.signers.clone(),
            rejected: issued.rejected.iter().map(|(i, _)| *i).collect(),
        };
        let timeout = self.timeout;
        let calls = self
            .conns
            .iter_mut()
            .filter(|(i, _)| issued.signers.contains(i))
            .map(|(_, c)| c.call::<_, Response>(&req, timeout));
        futures::future::join_all(calls).await;
    }

    /// AS exchange: a TGT for `user` (password from the lab file unless given).
    pub async fn login(&mut self, user: &str, password: Option<&str>) -> Result<Tgt, String> {
        let pw = match password {
            Some(p) => p.to_string(),
            None => self
                .cfg
                .principal(user)
                .filter(|p| p.kind == "user")
                .map(|p| p.password.clone())
                .ok_or_else(|| format!("no user {user} in the lab"))?,
        };
        let long_term = store::user_key(user, &pw, self.cfg.kdf);
        let eph = ed25519_dalek::SigningKey::from_bytes(&rand::random());
        let now = now_secs();
        let t = Ticket {
            kind: TicketKind::Tgt,
            client: user.into(),
            service: TGS_NAME.into(),
            start: now,
            end: now + self.cfg.lab.tgt_lifetime_secs,
            nonce: rand::random(),
            key: eph.verifying_key().as_bytes().to_vec(),
        };
        let bytes = t.encode();
        let mut m = AS_PREAUTH_CONTEXT.to_vec();
        m.extend_from_slice(&bytes);
        let preauth = hex(&long_term.sign(&m).to_bytes());
        let issued = self.issue(&bytes, &IssueRequest::As { preauth }).await?;
        Ok(Tgt { issued, key: eph })
    }

    /// The TGS request for a proposed service ticket.
    pub fn tgs_request(tgt: &Tgt, ticket: &[u8]) -> IssueRequest {
        let mut m = TGS_AUTH_CONTEXT.to_vec();
        m.extend_from_slice(ticket);
        IssueRequest::Tgs {
            tgt: hex(&tgt.issued.ticket),
            tgt_signature: hex(&tgt.issued.signature),
            authenticator: hex(&tgt.key.sign(&m).to_bytes()),
        }
    }

    /// The sealer for a recipient key (made once per recipient, at most 16 kept).
    fn sealer(&self, recipient: &[u8; 32]) -> std::sync::Arc<Sealer> {
        let mut all = self.sealers.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = all.iter().find(|s| s.recipient() == recipient) {
            return s.clone();
        }
        if all.len() >= 16 {
            all.clear();
        }
        let s = std::sync::Arc::new(Sealer::new(recipient));
        all.push(s.clone());
        s
    }

    /// Proposes a service ticket (fresh session key sealed to the service).
    pub fn propose_service_ticket(
        &self,
        client: &str,
        service: &str,
        lifetime: u64,
        tgt_end: u64,
    ) -> Result<(Vec<u8>, Zeroizing<[u8; 32]>), String> {
        let svc = self.principal_key(service, "service")?;
        let session_key = Zeroizing::new(rand::random::<[u8; 32]>());
        let now = now_secs();
        let t = Ticket {
            kind: TicketKind::Service,
            client: client.into(),
            service: service.into(),
            start: now,
            end: (now + lifetime).min(tgt_end),
            nonce: rand::random(),
            key: self.sealer(&svc).seal(&session_key),
        };
        Ok((t.encode(), session_key))
    }

    /// TGS exchange.
    pub async fn service_ticket(
        &mut self,
        tgt: &Tgt,
        service: &str,
        lifetime: u64,
    ) -> Result<(Issued, Zeroizing<[u8; 32]>), String> {
        let tgt_t = Ticket::decode(&tgt.issued.ticket).map_err(|e| e.to_string())?;
        let (bytes, key) =
            self.propose_service_ticket(&tgt_t.client, service, lifetime, tgt_t.end)?;
        let req = Self::tgs_request(tgt, &bytes);
        Ok((self.issue(&bytes, &req).await?, key))
    }

    /// Builds an AP request (authenticator time shifted by `skew_ms`).
    pub fn ap_request(
        issued: &Issued,
        key: &[u8; 32],
        client: &str,
        skew_ms: i64,
    ) -> (ApRequest, u64) {
        let time_ms = now_millis().saturating_add_signed(skew_ms);
        let a = ApAuthenticator {
            client: client.into(),
            time_ms,
        };
        let body = serde_json::to_vec(&a).unwrap_or_default();
        (
            ApRequest {
                ticket: hex(&issued.ticket),
                signature: hex(&issued.signature),
                authenticator: hex(&gcm_seal(key, AP_REQ_AAD, &body)),
            },
            time_ms,
        )
    }

    /// Sends an AP request; `Ok(name)` when accepted and the service proved it holds the
    /// session key (mutual authentication), `Err(reason)` when refused.
    pub async fn send_ap(
        &mut self,
        req: &ApRequest,
        key: &[u8; 32],
        time_ms: u64,
    ) -> Result<String, String> {
        let timeout = self.timeout;
        match self.service.call::<_, ApResponse>(req, timeout).await? {
            ApResponse::Accepted { you_are, proof } => {
                let sealed = hex_vec(&proof, "proof", 256)?;
                let ok =
                    gcm_open(key, AP_REP_AAD, &sealed).is_some_and(|p| p == time_ms.to_be_bytes());
                if ok {
                    Ok(you_are)
                } else {
                    Err("mutual authentication failed: the service's proof is wrong".into())
                }
            }
            ApResponse::Refused { reason } => Err(reason),
        }
    }

    /// Verifies an issued ticket's signature under the group key.
    pub fn verify(&self, issued: &Issued) -> Result<(), String> {
        group_verify(&self.group_key(), &issued.ticket, &hex(&issued.signature))
    }
}
