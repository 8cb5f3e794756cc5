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

#[cfg(test)]
mod tests {
    use ed25519_dalek::{Signer, SigningKey};

    use super::*;
    use crate::kdc::proto::{hex, seal_session_key};
    use crate::kdc::store::KdfCost;

    struct World {
        cfg: LabConfig,
        principals: Principals,
        group: SigningKey,
        alice: SigningKey,
        files: x25519_dalek::StaticSecret,
        now: u64,
    }

    fn world() -> World {
        let mut cfg = LabConfig::builtin().unwrap();
        cfg.kdf = KdfCost {
            memory_kib: 64,
            passes: 1,
        };
        let mut principals = Principals::new();
        let mut alice = None;
        let mut files = None;
        for p in &cfg.principal {
            let public = if p.kind == "user" {
                let k = crate::kdc::store::user_key(&p.name, &p.password, cfg.kdf);
                if p.name == "alice" {
                    alice = Some(k.clone());
                }
                hex(k.verifying_key().as_bytes())
            } else {
                let s = crate::kdc::store::service_secret(&p.name, &p.password, cfg.kdf);
                let public = hex(x25519_dalek::PublicKey::from(&s).as_bytes());
                files = Some(s);
                public
            };
            let info = PrincipalInfo {
                name: p.name.clone(),
                kind: p.kind.clone(),
                public,
            };
            principals.insert(p.name.clone(), info);
        }
        World {
            cfg,
            principals,
            group: SigningKey::from_bytes(&[5; 32]),
            alice: alice.unwrap(),
            files: files.unwrap(),
            now: 1_000_000,
        }
    }

    impl World {
        fn gk(&self) -> GroupPublicKey {
            GroupPublicKey::from_bytes(self.group.verifying_key().as_bytes()).unwrap()
        }

        fn check(&self, ticket: &[u8], req: &IssueRequest) -> Result<Ticket, String> {
            let cache = TgtCache::default();
            check_request(
                &self.cfg,
                &self.principals,
                &self.gk(),
                ticket,
                req,
                self.now,
                &cache,
            )
        }

        fn tgt(&self, client: &str, eph: &SigningKey) -> Ticket {
            Ticket {
                kind: TicketKind::Tgt,
                client: client.into(),
                service: TGS_NAME.into(),
                start: self.now,
                end: self.now + 3600,
                nonce: [1; 16],
                key: eph.verifying_key().as_bytes().to_vec(),
            }
        }

        fn as_req(&self, ticket: &[u8], key: &SigningKey) -> IssueRequest {
            let mut m = AS_PREAUTH_CONTEXT.to_vec();
            m.extend_from_slice(ticket);
            IssueRequest::As {
                preauth: hex(&key.sign(&m).to_bytes()),
            }
        }

        fn service_ticket(&self, client: &str, service_pub: &[u8; 32]) -> Ticket {
            Ticket {
                kind: TicketKind::Service,
                client: client.into(),
                service: "files".into(),
                start: self.now,
                end: self.now + 600,
                nonce: [2; 16],
                key: seal_session_key(service_pub, &[3; 32]),
            }
        }

        fn tgs_req(
            &self,
            tgt: &Ticket,
            signer: &SigningKey,
            eph: &SigningKey,
            t: &[u8],
        ) -> IssueRequest {
            let tb = tgt.encode();
            let mut m = TGS_AUTH_CONTEXT.to_vec();
            m.extend_from_slice(t);
            IssueRequest::Tgs {
                tgt: hex(&tb),
                tgt_signature: hex(&signer.sign(&tb).to_bytes()),
                authenticator: hex(&eph.sign(&m).to_bytes()),
            }
        }

        fn files_pub(&self) -> [u8; 32] {
            x25519_dalek::PublicKey::from(&self.files).to_bytes()
        }
    }

    #[test]
    fn as_exchange_needs_the_users_own_key_and_a_fresh_tgt() {
        let w = world();
        let eph = SigningKey::from_bytes(&[8; 32]);
        let t = w.tgt("alice", &eph).encode();
        assert!(w.check(&t, &w.as_req(&t, &w.alice)).is_ok());
        let other = SigningKey::from_bytes(&[9; 32]);
        let e = w.check(&t, &w.as_req(&t, &other)).unwrap_err();
        assert!(e.contains("pre-authentication failed"), "{e}");
        let mut stale = w.tgt("alice", &eph);
        stale.start -= 3600;
        let s = stale.encode();
        assert!(
            w.check(&s, &w.as_req(&s, &w.alice))
                .unwrap_err()
                .contains("clock skew")
        );
        let mut long = w.tgt("alice", &eph);
        long.end = long.start + 10 * 86_400;
        let l = long.encode();
        assert!(
            w.check(&l, &w.as_req(&l, &w.alice))
                .unwrap_err()
                .contains("policy")
        );
        let svc = w.service_ticket("alice", &w.files_pub()).encode();
        let e = w.check(&svc, &w.as_req(&svc, &w.alice)).unwrap_err();
        assert!(e.contains("only issue a TGT"), "{e}");
        assert!(
            w.check(b"garbage", &w.as_req(b"garbage", &w.alice))
                .is_err()
        );
    }

    #[test]
    fn tgs_exchange_checks_the_tgt_the_authenticator_and_the_policy() {
        let w = world();
        let eph = SigningKey::from_bytes(&[8; 32]);
        let tgt = w.tgt("alice", &eph);
        let t = w.service_ticket("alice", &w.files_pub()).encode();
        assert!(w.check(&t, &w.tgs_req(&tgt, &w.group, &eph, &t)).is_ok());
        let not_group = SigningKey::from_bytes(&[6; 32]);
        let e = w
            .check(&t, &w.tgs_req(&tgt, &not_group, &eph, &t))
            .unwrap_err();
        assert!(e.contains("TGT refused"), "{e}");
        let e = w
            .check(&t, &w.tgs_req(&tgt, &w.group, &not_group, &t))
            .unwrap_err();
        assert!(e.contains("authenticator"), "{e}");
        let bob_t = w.service_ticket("bob", &w.files_pub()).encode();
        let e = w
            .check(&bob_t, &w.tgs_req(&tgt, &w.group, &eph, &bob_t))
            .unwrap_err();
        assert!(e.contains("does not match the TGT"), "{e}");
        let wrong_key = w.service_ticket("alice", &[4; 32]).encode();
        let e = w
            .check(&wrong_key, &w.tgs_req(&tgt, &w.group, &eph, &wrong_key))
            .unwrap_err();
        assert!(e.contains("sealed to the service"), "{e}");
        let m_tgt = w.tgt("mallory", &eph);
        let m = w.service_ticket("mallory", &w.files_pub()).encode();
        let e = w
            .check(&m, &w.tgs_req(&m_tgt, &w.group, &eph, &m))
            .unwrap_err();
        assert!(e.contains("policy: mallory may not use files"), "{e}");
        let mut old = w.tgt("alice", &eph);
        old.start -= 7200;
        old.end = w.now - 1;
        let e = w
            .check(&t, &w.tgs_req(&old, &w.group, &eph, &t))
            .unwrap_err();
        assert!(e.contains("TGT expired"), "{e}");
    }
}
