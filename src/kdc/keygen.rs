//! The authorities among themselves: the Pedersen DKG at first start and the proactive
//! refresh, over their sockets. Each message is retried until the peer takes it (or a deadline
//! passes) and passes the fault filter, so a partition stops these rounds as it would on a real
//! network; incoming messages wait in a small bounded inbox keyed by round and sender.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::authority::{Authority, ident};
use super::frost;
use super::net::Conn;
use super::proto::{PeerMsg, Request, Response, hex, hex_array, hex_vec};
use super::store::Share;
use crate::wire::fault::Verdict;

impl Authority {
    async fn send_peer(&self, to: u64, msg: PeerMsg, deadline: Instant) -> Result<(), String> {
        let Some(&addr) = self.peers.get(&to) else {
            return Err(format!("no peer {to}"));
        };
        let mut conn = Conn::new(addr);
        let req = Request::Peer {
            from: self.id,
            msg,
            token: self.token.clone(),
        };
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

    pub(super) async fn dkg(&self) -> Result<Share, String> {
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

    pub(super) async fn refresh(&self, epoch: u64) -> Result<String, String> {
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
