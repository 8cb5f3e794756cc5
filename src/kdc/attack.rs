//! The attacker's verbs: `compromise` (take an authority's share and database), `forge` (try
//! to mint a ticket with what is held), `refresh` (the defender's answer), the nonce-reuse
//! attack on a broken signer, and the AP-exchange attacks (replay, expired, skew, tamper).
//!
//! What the attacker holds is kept in the run dir, `attacker.json` (0600): the leaked shares
//! with their epochs, and the leaked principal database.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::cli::{Located, connect, locate, runtime};
use super::client::{Issued, Kdc};
use super::frost::{self, Identifier, KeyPackage, SigningShare};
use super::net::Conn;
use super::proto::{
    IssueRequest, PrincipalInfo, Request, Response, Ticket, hex, hex_array, now_secs,
};
use super::store;
use crate::lab::VerbCtx;
use crate::lab::args::RunDirArg;

/// One leaked share.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Holding {
    /// Authority id.
    pub id: u64,
    /// Share epoch.
    pub epoch: u64,
    /// Hex secret share.
    pub share: String,
    /// Hex group key.
    pub group_key: String,
    /// The verifying shares of that epoch.
    pub verifying_shares: BTreeMap<u64, String>,
    /// How it was obtained.
    pub how: String,
}

/// `attacker.json`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Attacker {
    /// Leaked shares.
    pub holdings: Vec<Holding>,
    /// Leaked principal database.
    pub principals: Vec<PrincipalInfo>,
    /// The last `forge`: when (unix ms), whether it worked, and its last line.
    #[serde(default)]
    pub last_attempt: Option<(u64, bool, String)>,
}

impl Attacker {
    fn load(l: &Located) -> Attacker {
        Self::load_dir(&l.dir)
    }

    /// What the attacker of the run in `dir` holds (nothing when the file is absent or bad).
    pub fn load_dir(dir: &std::path::Path) -> Attacker {
        store::read_bounded(&dir.join("attacker.json"))
            .ok()
            .flatten()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    fn save(&self, l: &Located) -> anyhow::Result<()> {
        store::write_atomic(
            &l.dir.join("attacker.json"),
            &serde_json::to_vec_pretty(self)?,
        )?;
        Ok(())
    }

    fn add(&mut self, h: Holding) {
        self.holdings
            .retain(|x| !(x.id == h.id && x.epoch == h.epoch));
        self.holdings.push(h);
    }

    /// Two shares of one epoch, if held.
    pub fn quorum(&self) -> Option<(&Holding, &Holding)> {
        for a in &self.holdings {
            if let Some(b) = self
                .holdings
                .iter()
                .find(|b| b.epoch == a.epoch && b.id != a.id)
            {
                return Some((a, b));
            }
        }
        None
    }

    fn summary(&self) -> String {
        if self.holdings.is_empty() {
            return "the attacker holds no share".into();
        }
        let list: Vec<String> = self
            .holdings
            .iter()
            .map(|h| format!("authority {} (epoch {})", h.id, h.epoch))
            .collect();
        let verdict = if self.quorum().is_some() {
            "two shares of one epoch reach the threshold: forgery possible"
        } else {
            "below the threshold (2 shares of one epoch needed): forgery impossible"
        };
        format!(
            "the attacker holds shares of {}: {verdict}",
            list.join(", ")
        )
    }
}

fn key_package(h: &Holding) -> Result<(KeyPackage, frost::PublicKeyPackage), String> {
    let public = store::public_package(&h.group_key, &h.verifying_shares, 2)?;
    let share = SigningShare::from_bytes(&hex_array::<32>(&h.share, "share")?)
        .map_err(|e| e.to_string())?;
    let id = Identifier::new(h.id as u16).map_err(|e| e.to_string())?;
    let key =
        KeyPackage::new(id, share, public.group_public_key(), 2).map_err(|e| e.to_string())?;
    Ok((key, public))
}

/// Signs `msg` locally with two held shares (verified against `public`).
fn sign_locally(
    a: &Holding,
    b: &Holding,
    public: &frost::PublicKeyPackage,
    msg: &[u8],
) -> Result<[u8; 64], String> {
    let (ka, _) = key_package(a)?;
    let (kb, _) = key_package(b)?;
    let (na, ca) = frost::round1::commit(&ka, &mut rand::rng());
    let (nb, cb) = frost::round1::commit(&kb, &mut rand::rng());
    let pkg = frost::SigningPackage::new(vec![ca, cb], msg).map_err(|e| e.to_string())?;
    let sa = frost::round2::sign(&pkg, na, &ka).map_err(|e| e.to_string())?;
    let sb = frost::round2::sign(&pkg, nb, &kb).map_err(|e| e.to_string())?;
    let shares = BTreeMap::from([(ka.identifier(), sa), (kb.identifier(), sb)]);
    frost::aggregate(&pkg, &shares, public)
        .map(|s| s.to_bytes())
        .map_err(|e| e.to_string())
}

/// `kdc compromise N`.
pub fn compromise(cx: &mut VerbCtx<'_>, node: u64, run: &RunDirArg) -> anyhow::Result<i32> {
    let l = locate(cx, run)?;
    let r = runtime()?.block_on(async {
        let mut kdc = connect(&l).await?;
        kdc.call(node, &Request::Leak { token: l.token()? }).await
    });
    match r {
        Ok(Response::Leaked {
            id,
            epoch,
            share,
            group_key,
            verifying_shares,
            principals,
        }) => {
            let mut att = Attacker::load(&l);
            let n = principals.len();
            att.principals = principals;
            att.add(Holding {
                id,
                epoch,
                share,
                group_key,
                verifying_shares: verifying_shares.into_iter().collect(),
                how: "compromise".into(),
            });
            att.save(&l)?;
            writeln!(
                cx.out,
                "authority {id} compromised: its share (epoch {epoch}) and its database ({n} password verifiers, no session keys) leaked; it now sends garbage signature shares\n{}",
                att.summary()
            )?;
            Ok(0)
        }
        Ok(other) => {
            writeln!(cx.err, "kdc: compromise {node}: {other:?}")?;
            Ok(1)
        }
        Err(e) => {
            writeln!(cx.err, "kdc: compromise {node}: {e}")?;
            Ok(1)
        }
    }
}

/// `kdc forge USER SERVICE`.
pub fn forge(
    cx: &mut VerbCtx<'_>,
    user: &str,
    service: &str,
    run: &RunDirArg,
) -> anyhow::Result<i32> {
    let l = locate(cx, run)?;
    let mut text = Vec::new();
    let code = forge_at(&mut Tee(&mut *cx.out, &mut text), &l, user, service)?;
    let last = String::from_utf8_lossy(&text)
        .lines()
        .last()
        .unwrap_or("")
        .to_string();
    let mut att = Attacker::load(&l);
    att.last_attempt = Some((super::proto::now_millis(), code == 0, last));
    att.save(&l)?;
    Ok(code)
}

/// Writes to both.
struct Tee<'a>(&'a mut dyn std::io::Write, &'a mut Vec<u8>);

impl std::io::Write for Tee<'_> {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        let n = self.0.write(b)?;
        self.1.extend_from_slice(&b[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

fn forge_at(
    out: &mut dyn std::io::Write,
    l: &Located,
    user: &str,
    service: &str,
) -> anyhow::Result<i32> {
    let att = Attacker::load(l);
    writeln!(out, "{}", att.summary())?;
    let rt = runtime()?;
    let mut kdc = rt.block_on(connect(l)).map_err(|e| anyhow::anyhow!(e))?;
    let (ticket, key) = kdc
        .propose_service_ticket(user, service, 3600, u64::MAX)
        .map_err(|e| anyhow::anyhow!(e))?;
    if let Some((a, b)) = att.quorum() {
        let (_, public) = key_package(a).map_err(|e| anyhow::anyhow!(e))?;
        let sig = match sign_locally(a, b, &public, &ticket) {
            Ok(s) => s,
            Err(e) => {
                writeln!(out, "forge failed: {e}")?;
                return Ok(1);
            }
        };
        let issued = Issued {
            ticket,
            signature: sig,
            signers: vec![a.id, b.id],
            rejected: vec![],
        };
        let (req, ts) = Kdc::ap_request(&issued, &key, user, 0);
        return match rt.block_on(kdc.send_ap(&req, &key, ts)) {
            Ok(who) => {
                writeln!(
                    out,
                    "FORGED: a ticket for {user} to {service} signed offline with the shares of authorities {} and {} (epoch {}), no authority asked; {service} says: you are {who}\nthis is the boundary: two shares of one epoch are the whole group key (2-of-3)",
                    a.id, b.id, a.epoch
                )?;
                Ok(0)
            }
            Err(e) => {
                writeln!(
                    out,
                    "forge failed: {service} refused the forged ticket: {e}"
                )?;
                Ok(1)
            }
        };
    }
    // Shares from different epochs: try to combine them anyway.
    let mut ids: Vec<&Holding> = Vec::new();
    for h in &att.holdings {
        if !ids.iter().any(|x| x.id == h.id) {
            ids.push(h);
        }
    }
    if ids.len() >= 2 {
        let newest = ids
            .iter()
            .max_by_key(|h| h.epoch)
            .copied()
            .unwrap_or(ids[0]);
        let (_, public) = key_package(newest).map_err(|e| anyhow::anyhow!(e))?;
        match sign_locally(ids[0], ids[1], &public, &ticket) {
            Ok(_) => writeln!(out, "unexpected: shares of different epochs combined")?,
            Err(e) => writeln!(
                out,
                "shares of authorities {} (epoch {}) and {} (epoch {}) do not combine: {e} (the refresh killed the older share)",
                ids[0].id, ids[0].epoch, ids[1].id, ids[1].epoch
            )?,
        }
    }
    // One usable share: ask an honest authority to co-sign a ticket nobody authenticated for.
    if let Some(h) = att.holdings.iter().max_by_key(|h| h.epoch) {
        let honest = kdc.ids().into_iter().find(|i| {
            !att.holdings
                .iter()
                .any(|x| x.id == *i && x.epoch == h.epoch)
        });
        if let Some(j) = honest {
            let fake_tgt = Ticket {
                kind: super::proto::TicketKind::Tgt,
                client: user.into(),
                service: super::proto::TGS_NAME.into(),
                start: now_secs(),
                end: now_secs() + 3600,
                nonce: rand::random(),
                key: vec![7; 32],
            };
            // A TGT the attacker made up, signed with a key of its own (it has no group key).
            use ed25519_dalek::Signer;
            let own = ed25519_dalek::SigningKey::from_bytes(&rand::random());
            let fake_bytes = fake_tgt.encode();
            let req = IssueRequest::Tgs {
                tgt: hex(&fake_bytes),
                tgt_signature: hex(&own.sign(&fake_bytes).to_bytes()),
                authenticator: hex(&[2u8; 64]),
            };
            let r = rt.block_on(co_sign(&mut kdc, h, j, &ticket, &req));
            match r {
                Ok(()) => writeln!(out, "unexpected: authority {j} co-signed")?,
                Err(e) => writeln!(
                    out,
                    "authority {j} refused to co-sign with the leaked share of authority {}: {e}",
                    h.id
                )?,
            }
        }
    }
    let why = if att.holdings.is_empty() {
        "the attacker holds no share, and honest authorities check each request themselves"
    } else {
        "one share is below the threshold, and honest authorities check each request themselves"
    };
    writeln!(out, "forge failed: {why}")?;
    Ok(1)
}

async fn co_sign(
    kdc: &mut Kdc,
    h: &Holding,
    j: u64,
    ticket: &[u8],
    req: &IssueRequest,
) -> Result<(), String> {
    let (kh, _) = key_package(h)?;
    let (_nh, ch) = frost::round1::commit(&kh, &mut rand::rng());
    let (session, cj) = match kdc.call(j, &Request::Commit).await? {
        Response::Committed {
            session,
            commitments,
        } => {
            let b = super::proto::hex_vec(&commitments, "commitments", 96)?;
            (
                session,
                frost::SigningCommitments::from_bytes(&b).map_err(|e| e.to_string())?,
            )
        }
        other => return Err(format!("{other:?}")),
    };
    let pkg = frost::SigningPackage::new(vec![ch, cj], ticket).map_err(|e| e.to_string())?;
    let package = hex(&pkg.to_bytes().map_err(|e| e.to_string())?);
    match kdc
        .call(
            j,
            &Request::Sign {
                session,
                package,
                request: req.clone(),
            },
        )
        .await?
    {
        Response::Refused { reason } => Err(reason),
        _ => Ok(()),
    }
}

/// `kdc refresh`.
pub fn refresh(cx: &mut VerbCtx<'_>, run: &RunDirArg) -> anyhow::Result<i32> {
    let l = locate(cx, run)?;
    let rt = runtime()?;
    let r = rt.block_on(async {
        let kdc = connect(&l).await?;
        let before = hex(&kdc.group_key().to_bytes());
        let epoch = kdc.epoch + 1;
        let token = l.token()?;
        let calls = l.authorities.iter().map(|(id, a)| {
            let mut c = Conn::new(*a);
            let token = token.clone();
            async move {
                (
                    *id,
                    c.call::<_, Response>(
                        &Request::Refresh {
                            epoch,
                            token: token.clone(),
                        },
                        Duration::from_secs(15),
                    )
                    .await,
                )
            }
        });
        let mut errs = Vec::new();
        for (id, r) in futures::future::join_all(calls).await {
            match r {
                Ok(Response::Ok { .. }) => {}
                Ok(Response::Refused { reason }) => errs.push(format!("authority {id}: {reason}")),
                Ok(other) => errs.push(format!("authority {id}: {other:?}")),
                Err(e) => errs.push(format!("authority {id}: {e}")),
            }
        }
        if !errs.is_empty() {
            return Err(format!(
                "refresh needs all three authorities: {}",
                errs.join("; ")
            ));
        }
        let after = connect(&l).await?;
        let now = hex(&after.group_key().to_bytes());
        if now != before {
            return Err("group key changed".into());
        }
        Ok((epoch, now))
    });
    match r {
        Ok((epoch, gk)) => {
            let att = Attacker::load(&l);
            writeln!(
                cx.out,
                "shares refreshed to epoch {epoch} by all three authorities; group key unchanged ({gk}); every share leaked before is now useless\n{}",
                att.summary()
            )?;
            Ok(0)
        }
        Err(e) => {
            writeln!(cx.err, "kdc: refresh: {e}")?;
            Ok(1)
        }
    }
}

/// `kdc attack nonce-reuse`: `victim` reuses its nonces; the coordinator recovers its share.
pub fn nonce_reuse(cx: &mut VerbCtx<'_>, victim: u64, run: &RunDirArg) -> anyhow::Result<i32> {
    let l = locate(cx, run)?;
    let rt = runtime()?;
    let r = rt.block_on(async {
        let mut kdc = connect(&l).await?;
        let other = kdc
            .ids()
            .into_iter()
            .find(|i| *i != victim)
            .ok_or("no second authority")?;
        kdc.call(
            victim,
            &Request::BrokenNonces {
                on: true,
                token: l.token()?,
            },
        )
        .await?;
        let mut obs = Vec::new();
        let mut err = None;
        for _ in 0..3 {
            match observe(&mut kdc, victim, other).await {
                Ok(o) => obs.push(o),
                Err(e) => {
                    err = Some(e);
                    break;
                }
            }
        }
        let _ = kdc
            .call(
                victim,
                &Request::BrokenNonces {
                    on: false,
                    token: l.token()?,
                },
            )
            .await;
        if let Some(e) = err {
            return Err(e);
        }
        let obs: [frost::nonce_reuse::ReuseObservation; 3] = obs
            .try_into()
            .map_err(|_| "three observations needed".to_string())?;
        let id = Identifier::new(victim as u16).map_err(|e| e.to_string())?;
        let share = frost::nonce_reuse::recover_signing_share(id, &kdc.public, &obs)
            .map_err(|e| e.to_string())?;
        Ok::<_, String>((share, kdc))
    });
    match r {
        Ok((share, kdc)) => {
            let mut att = Attacker::load(&l);
            att.add(Holding {
                id: victim,
                epoch: kdc.epoch,
                share: hex(share.to_bytes().as_ref()),
                group_key: hex(&kdc.group_key().to_bytes()),
                verifying_shares: store::verifying_hex(&kdc.public),
                how: "nonce reuse".into(),
            });
            att.save(&l)?;
            writeln!(
                cx.out,
                "authority {victim} signed three tickets with one nonce pair: from its three signature shares the coordinator solved for its secret share, which matches its verifying share (FROST nonces are single-use for this reason)\n{}",
                att.summary()
            )?;
            Ok(0)
        }
        Err(e) => {
            writeln!(cx.out, "nonce-reuse attack failed: {e}")?;
            Ok(1)
        }
    }
}

async fn observe(
    kdc: &mut Kdc,
    victim: u64,
    other: u64,
) -> Result<frost::nonce_reuse::ReuseObservation, String> {
    // mallory's own, legitimate AS exchange: the coordinator sees every share.
    let cfg = kdc.cfg.clone();
    let pw = cfg
        .principal("mallory")
        .map(|p| p.password.clone())
        .ok_or("no mallory")?;
    let key = store::user_key("mallory", &pw, cfg.kdf);
    let t = Ticket {
        kind: super::proto::TicketKind::Tgt,
        client: "mallory".into(),
        service: super::proto::TGS_NAME.into(),
        start: now_secs(),
        end: now_secs() + 600,
        nonce: rand::random(),
        key: vec![9; 32],
    };
    let bytes = t.encode();
    use ed25519_dalek::Signer;
    let mut m = super::proto::AS_PREAUTH_CONTEXT.to_vec();
    m.extend_from_slice(&bytes);
    let req = IssueRequest::As {
        preauth: hex(&key.sign(&m).to_bytes()),
    };
    let mut commits = Vec::new();
    for id in [victim, other] {
        match kdc.call(id, &Request::Commit).await? {
            Response::Committed {
                session,
                commitments,
            } => {
                let b = super::proto::hex_vec(&commitments, "commitments", 96)?;
                commits.push((
                    id,
                    session,
                    frost::SigningCommitments::from_bytes(&b).map_err(|e| e.to_string())?,
                ));
            }
            other => return Err(format!("authority {id}: {other:?}")),
        }
    }
    let pkg = frost::SigningPackage::new(commits.iter().map(|c| c.2).collect(), &bytes)
        .map_err(|e| e.to_string())?;
    let package = hex(&pkg.to_bytes().map_err(|e| e.to_string())?);
    let mut victim_share = None;
    for (id, session, _) in &commits {
        let r = kdc
            .call(
                *id,
                &Request::Sign {
                    session: *session,
                    package: package.clone(),
                    request: req.clone(),
                },
            )
            .await?;
        match r {
            Response::Share { share } if *id == victim => {
                let b = hex_array::<32>(&share, "share")?;
                victim_share =
                    Some(frost::SignatureShare::from_bytes(&b).map_err(|e| e.to_string())?);
            }
            Response::Share { .. } => {}
            other => return Err(format!("authority {id}: {other:?}")),
        }
    }
    Ok(frost::nonce_reuse::ReuseObservation {
        signing_package: pkg,
        signature_share: victim_share.ok_or("no share from the victim")?,
    })
}
