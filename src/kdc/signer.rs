//! An authority's signing (FROST rounds one and two): fresh nonces under session numbers,
//! one at a time or preprocessed in batches (each pair kept in memory only and signing at most
//! once), and round two, which checks the request itself ([`super::checks`]) before it signs,
//! consuming the session's nonces whatever happens. Each round is remembered for the state
//! event (who committed, what this authority did), with the time it took.

use serde_json::{Value, json};

use super::authority::{Authority, MAX_SESSIONS, ROUNDS_KEPT, SIGN_TIMES_KEPT};
use super::checks::check_request;
use super::frost::{self, SignatureShare, SigningPackage};
use super::proto::{
    IssueRequest, MAX_COMMIT_BATCH, MAX_FRAME, Response, STALE_SESSION, hex, hex_vec, now_secs,
};

impl Authority {
    pub(super) fn commit_batch(&self, count: u32) -> Response {
        if count == 0 || count > MAX_COMMIT_BATCH {
            return Response::Refused {
                reason: format!("commit batch of {count}: 1 to {MAX_COMMIT_BATCH} allowed"),
            };
        }
        let mut batch = Vec::with_capacity(count as usize);
        for _ in 0..count {
            match self.commit() {
                Response::Committed {
                    session,
                    commitments,
                } => batch.push((session, commitments)),
                other => return other,
            }
        }
        Response::CommittedBatch { batch }
    }

    pub(super) fn commit(&self) -> Response {
        let (key, broken) = {
            let g = self.lock();
            let Some(s) = g.share.as_ref() else {
                return Response::Refused {
                    reason: "no share yet".into(),
                };
            };
            (s.key.clone(), g.broken.as_ref().map(|b| b.commitments()))
        };
        let (nonces, commitments) = match broken {
            // The broken signer's nonces live inside it: no per-session nonces to keep.
            Some(c) => (None, c),
            None => {
                let (n, c) = frost::round1::commit(&key, &mut rand::rng());
                (Some(n), c)
            }
        };
        let mut g = self.lock();
        if g.next_session == 0 {
            // A random start, so sessions of an earlier incarnation (held by a coordinator
            // across our restart) name nothing here.
            g.next_session = rand::random::<u64>() >> 16;
        }
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
        g.dirty = true;
        Response::Committed {
            session,
            commitments: hex(&commitments.to_bytes()),
        }
    }

    pub(super) fn sign(&self, session: u64, package: &str, request: &IssueRequest) -> Response {
        let started = std::time::Instant::now();
        let mut round = Value::Null;
        let result = self.sign_inner(session, package, request, &mut round);
        let mut g = self.lock();
        let resp = match result {
            Ok((share, client, service)) => {
                g.signed += 1;
                let result = if g.compromised {
                    "garbage share sent"
                } else {
                    "signed"
                };
                g.last_round = json!({"session": session, "client": client, "service": service,
                    "result": result});
                round["client"] = json!(client);
                round["service"] = json!(service);
                round["result"] = json!(result);
                Response::Share {
                    share: hex(&share.to_bytes()),
                }
            }
            Err(reason) => {
                g.refused += 1;
                g.last_round = json!({"session": session, "result": "refused", "reason": reason});
                if !round.is_null() {
                    round["result"] = json!("refused");
                    round["reason"] = json!(reason);
                }
                Response::Refused { reason }
            }
        };
        if !round.is_null() {
            round["session"] = json!(session);
            round["at_ms"] = json!(super::proto::now_millis());
            g.rounds.push_back(round);
            while g.rounds.len() > ROUNDS_KEPT {
                g.rounds.pop_front();
            }
        }
        let us = u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX);
        g.sign_us.push_back(us);
        while g.sign_us.len() > SIGN_TIMES_KEPT {
            g.sign_us.pop_front();
        }
        g.dirty = true;
        drop(g);
        if let Response::Refused { reason } = &resp
            && !reason.starts_with(STALE_SESSION)
        {
            self.emitter.log(
                "info",
                format!("refused to sign (session {session}): {reason}"),
            );
        }
        resp
    }

    fn sign_inner(
        &self,
        session: u64,
        package: &str,
        request: &IssueRequest,
        round: &mut Value,
    ) -> Result<(SignatureShare, String, String), String> {
        let bytes = hex_vec(package, "signing package", MAX_FRAME)?;
        // Our own commitments (made here) are matched byte for byte, not decoded again.
        let own: Vec<frost::SigningCommitments> = {
            let g = self.lock();
            let own = g.nonces.get(&session).map(|n| n.commitments());
            own.or_else(|| g.broken.as_ref().map(|b| b.commitments()))
                .into_iter()
                .collect()
        };
        let pkg = SigningPackage::from_bytes_known(&bytes, &own)
            .map_err(|e| format!("malformed signing package: {e}"))?;
        // Take what the round needs (the session's nonces are gone from the table from here
        // on, whatever happens), then check and sign without holding the lock.
        let (nonces, key, public, principals, compromised, broken) = {
            let mut g = self.lock();
            let broken = g.broken.is_some();
            let nonces = g.nonces.remove(&session);
            if nonces.is_none() && !broken {
                return Err(format!("{STALE_SESSION} {session}"));
            }
            let Some(s) = g.share.as_ref() else {
                return Err("no share yet".into());
            };
            let (key, public) = (s.key.clone(), s.public.clone());
            (
                nonces,
                key,
                public,
                g.principals.clone(),
                g.compromised,
                broken,
            )
        };
        *round = json!({
            "round": super::proto::round_id(pkg.message()),
            "committed": pkg.identifiers().iter().map(|i| i.get()).collect::<Vec<_>>(),
        });
        if pkg.commitment_for(key.identifier()).is_none() {
            return Err(format!(
                "commitment list lacks this authority's own commitment (signer {})",
                key.identifier()
            ));
        }
        for id in pkg.identifiers() {
            if !public.verifying_shares().contains_key(&id) {
                return Err(format!("unknown signer {id} in the commitment list"));
            }
        }
        if pkg.identifiers().len() < usize::from(public.min_signers()) {
            return Err("commitment list below the threshold".into());
        }
        let gk = public.group_public_key();
        let t = check_request(
            &self.cfg,
            &principals,
            &gk,
            pkg.message(),
            request,
            now_secs(),
            &self.tgt_cache,
        )?;
        if compromised {
            // The attacker controls this signer: a random (canonical) scalar, not a share.
            let mut b: [u8; 32] = rand::random();
            b[31] &= 0x0f;
            let garbage = SignatureShare::from_bytes(&b).map_err(|e| e.to_string())?;
            return Ok((garbage, t.client, t.service));
        }
        let share = match (broken, nonces) {
            (true, _) => match self.lock().broken.as_ref() {
                Some(b) => b.sign(&pkg),
                None => return Err("nonce-reuse mode ended mid-round".into()),
            },
            (false, Some(n)) => frost::round2::sign(&pkg, n, &key),
            (false, None) => return Err(format!("unknown or already used session {session}")),
        }
        .map_err(|e| format!("cannot sign: {e}"))?;
        Ok((share, t.client, t.service))
    }
}
