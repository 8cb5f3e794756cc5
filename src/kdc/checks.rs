//! What every authority checks, itself, before it contributes a signature share: that the
//! ticket in the signing package is well formed and answers an exchange the client proved it
//! may make (AS pre-authentication, or a valid TGT plus an authenticator), within the policy.
//! A coordinator (compromised or not) cannot get a share for anything else.

use std::collections::BTreeMap;

use ed25519_dalek::{Signature as EdSignature, VerifyingKey};

use super::config::LabConfig;
use super::frost::{GroupPublicKey, Signature};
use super::proto::{
    AS_PREAUTH_CONTEXT, IssueRequest, MAX_SKEW_SECS, PrincipalInfo, TGS_AUTH_CONTEXT, TGS_NAME,
    Ticket, TicketKind, hex_array, hex_vec,
};

/// The principal database, by name.
pub type Principals = BTreeMap<String, PrincipalInfo>;

/// TGTs whose group signature an authority already verified (digest of TGT and signature),
/// bounded: a TGT is presented once per service ticket, its signature checked once.
#[derive(Debug, Default)]
pub struct TgtCache(std::sync::Mutex<std::collections::HashSet<[u8; 32]>>);

/// Most TGTs the cache remembers (then it starts over).
pub const TGT_CACHE_MAX: usize = 10_000;

impl TgtCache {
    fn known(&self, d: &[u8; 32]) -> bool {
        self.0.lock().is_ok_and(|s| s.contains(d))
    }

    fn insert(&self, d: [u8; 32]) {
        if let Ok(mut s) = self.0.lock() {
            if s.len() >= TGT_CACHE_MAX {
                s.clear();
            }
            s.insert(d);
        }
    }
}

/// Verifies a group signature on `msg`.
pub fn group_verify(group: &GroupPublicKey, msg: &[u8], sig_hex: &str) -> Result<(), String> {
    let bytes = hex_array::<64>(sig_hex, "signature")?;
    let sig = Signature::from_bytes(&bytes).map_err(|e| format!("signature: {e}"))?;
    group
        .verify(msg, &sig)
        .map_err(|_| "bad group signature".to_string())
}

fn ed_verify(public: &[u8; 32], context: &[u8], msg: &[u8], sig_hex: &str) -> Result<(), ()> {
    let key = VerifyingKey::from_bytes(public).map_err(|_| ())?;
    let sig = EdSignature::from_bytes(&hex_array::<64>(sig_hex, "sig").map_err(|_| ())?);
    let mut m = Vec::with_capacity(context.len() + msg.len());
    m.extend_from_slice(context);
    m.extend_from_slice(msg);
    key.verify_strict(&m, &sig).map_err(|_| ())
}

fn fresh(start: u64, now: u64) -> Result<(), String> {
    if start.abs_diff(now) > MAX_SKEW_SECS {
        return Err(format!(
            "clock skew: ticket starts {}s from the authority's clock (limit {MAX_SKEW_SECS}s)",
            start as i64 - now as i64
        ));
    }
    Ok(())
}

/// Checks `request` for `ticket_bytes` at time `now`; the reason on refusal.
pub fn check_request(
    cfg: &LabConfig,
    principals: &Principals,
    group: &GroupPublicKey,
    ticket_bytes: &[u8],
    request: &IssueRequest,
    now: u64,
    cache: &TgtCache,
) -> Result<Ticket, String> {
    let t = Ticket::decode(ticket_bytes).map_err(|e| e.to_string())?;
    fresh(t.start, now)?;
    if t.end - t.start > cfg.lab.max_lifetime_secs {
        return Err(format!(
            "policy: lifetime {}s exceeds {}s",
            t.end - t.start,
            cfg.lab.max_lifetime_secs
        ));
    }
    let user = principals
        .get(&t.client)
        .filter(|p| p.kind == "user")
        .ok_or_else(|| format!("unknown client {}", t.client))?;
    match request {
        IssueRequest::As { preauth } => {
            if t.kind != TicketKind::Tgt || t.service != TGS_NAME {
                return Err("AS exchange may only issue a TGT".into());
            }
            let key = hex_array::<32>(&user.public, "user key")?;
            ed_verify(&key, AS_PREAUTH_CONTEXT, ticket_bytes, preauth)
                .map_err(|_| format!("pre-authentication failed for {}", t.client))?;
        }
        IssueRequest::Tgs {
            tgt,
            tgt_signature,
            authenticator,
        } => {
            let tgt_bytes = hex_vec(tgt, "tgt", 1024)?;
            let digest: [u8; 32] = {
                use sha2::Digest;
                let mut h = sha2::Sha256::new();
                h.update(&tgt_bytes);
                h.update(tgt_signature.as_bytes());
                h.finalize().into()
            };
            if !cache.known(&digest) {
                group_verify(group, &tgt_bytes, tgt_signature)
                    .map_err(|e| format!("TGT refused: {e}"))?;
                cache.insert(digest);
            }
            let tgt = Ticket::decode(&tgt_bytes).map_err(|e| format!("TGT refused: {e}"))?;
            if tgt.kind != TicketKind::Tgt || tgt.service != TGS_NAME {
                return Err("TGT refused: not a TGT".into());
            }
            if now > tgt.end {
                return Err("TGT expired".into());
            }
            if now + MAX_SKEW_SECS < tgt.start {
                return Err("TGT not yet valid".into());
            }
            if t.kind != TicketKind::Service || t.client != tgt.client {
                return Err("TGS exchange: ticket does not match the TGT".into());
            }
            if t.end > tgt.end {
                return Err("policy: ticket outlives its TGT".into());
            }
            let svc = principals
                .get(&t.service)
                .filter(|p| p.kind == "service")
                .ok_or_else(|| format!("unknown service {}", t.service))?;
            if t.key.get(..32) != Some(&hex_array::<32>(&svc.public, "service key")?[..]) {
                return Err("session key not sealed to the service's enrolled key".into());
            }
            if !cfg.allowed(&t.client, &t.service) {
                return Err(format!("policy: {} may not use {}", t.client, t.service));
            }
            let eph: [u8; 32] = tgt.key[..32]
                .try_into()
                .map_err(|_| "TGT key".to_string())?;
            ed_verify(&eph, TGS_AUTH_CONTEXT, ticket_bytes, authenticator)
                .map_err(|_| "TGS authenticator does not verify under the TGT key".to_string())?;
        }
    }
    Ok(t)
}
