//! The attacks on the AP exchange, each of which the service must refuse with its reason:
//! a replayed authenticator (the replay cache), an expired ticket (its validity window), a
//! skewed clock (authenticator time ±5 min) and a tampered ticket (the group signature).

use std::time::Duration;

use super::cli::{connect, locate, runtime, tgt_for};
use super::client::{Issued, Kdc};
use super::proto::{Ticket, now_secs};
use crate::lab::VerbCtx;
use crate::lab::args::RunDirArg;

/// The AP-exchange attacks: replay, expired, skew, tamper.
pub fn ap_attack(cx: &mut VerbCtx<'_>, kind: &str, run: &RunDirArg) -> anyhow::Result<i32> {
    let l = locate(cx, run)?;
    let rt = runtime()?;
    let user = "alice";
    let r: Result<(String, Result<String, String>), String> = rt.block_on(async {
        let mut kdc = connect(&l).await?;
        let tgt = tgt_for(&mut kdc, &l.dir, user).await?;
        let lifetime = if kind == "expired" { 1 } else { 3600 };
        let (issued, key) = kdc.service_ticket(&tgt, "files", lifetime).await?;
        Ok(match kind {
            "replay" => {
                let (req, ts) = Kdc::ap_request(&issued, &key, user, 0);
                let first = kdc
                    .send_ap(&req, &key, ts)
                    .await
                    .map_err(|e| format!("the genuine request was refused: {e}"))?;
                (
                    format!("captured {first}'s AP request (accepted once); replaying it"),
                    kdc.send_ap(&req, &key, ts).await,
                )
            }
            "expired" => {
                let end = Ticket::decode(&issued.ticket)
                    .map_err(|e| e.to_string())?
                    .end;
                while now_secs() <= end {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                let (req, ts) = Kdc::ap_request(&issued, &key, user, 0);
                (
                    "presenting a ticket whose validity window ended".to_string(),
                    kdc.send_ap(&req, &key, ts).await,
                )
            }
            "skew" => {
                let (req, ts) = Kdc::ap_request(&issued, &key, user, 10 * 60 * 1000);
                (
                    "authenticator stamped 10 minutes in the future".to_string(),
                    kdc.send_ap(&req, &key, ts).await,
                )
            }
            _ => {
                let mut t = Ticket::decode(&issued.ticket).map_err(|e| e.to_string())?;
                t.end += 30 * 86_400;
                let forged = Issued {
                    ticket: t.encode(),
                    ..issued.clone()
                };
                let (req, ts) = Kdc::ap_request(&forged, &key, user, 0);
                (
                    "ticket's end time pushed 30 days later, signature kept".to_string(),
                    kdc.send_ap(&req, &key, ts).await,
                )
            }
        })
    });
    match r {
        Ok((what, Ok(who))) => {
            writeln!(
                cx.out,
                "{kind}: {what}\nATTACK WORKED: files accepted it as {who}"
            )?;
            Ok(0)
        }
        Ok((what, Err(reason))) => {
            writeln!(cx.out, "{kind}: {what}\nrefused by files: {reason}")?;
            Ok(1)
        }
        Err(e) => {
            writeln!(cx.err, "kdc: attack {kind}: {e}")?;
            Ok(2)
        }
    }
}
