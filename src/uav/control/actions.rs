//! Mission control's lab actions: commands, broadcasts, revocation, enrollment and the
//! bench's probe.

use super::*;

/// Sends `cmd` to drone `drone` in its session; returns the command id.
pub(super) fn send_cmd(m: &mut Mc, drone: u32, cmd: Command, tag: u64) -> Result<u64, String> {
    let link = m
        .links
        .get(&drone)
        .filter(|l| !l.revoked)
        .ok_or_else(|| format!("drone {drone} is not linked"))?;
    let id = m.next_id;
    link.tx
        .try_send(Out::Msg(McMsg::Cmd { id, cmd }))
        .map_err(|_| format!("drone {drone}'s queue is full"))?;
    m.next_id += 1;
    m.pending.insert(id, (Instant::now(), tag));
    Ok(id)
}

/// Seals `cmd` once under the fleet key and hands the same bytes to every connection.
pub(super) fn broadcast(m: &mut Mc, cmd: Command, tag: u64) -> Result<usize, String> {
    let id = m.next_id;
    m.next_id += 1;
    let pt = proto::encode(&FleetCmd { id, cmd }).map_err(|e| e.to_string())?;
    let rec = m.fleet.seal(&pt).map_err(|e| e.to_string())?;
    let waiting: BTreeSet<u32> = m
        .links
        .iter()
        .filter(|(_, l)| !l.revoked)
        .map(|(id, _)| *id)
        .collect();
    for l in m.links.values() {
        let _ = l.tx.try_send(Out::Raw(rec.clone()));
    }
    let n = waiting.len();
    m.bcasts.insert(
        id,
        Bcast {
            sent: Instant::now(),
            tag,
            waiting,
            n,
        },
    );
    Ok(n)
}

fn arg_u32(args: &Value, k: &str) -> Result<u32, String> {
    args.get(k)
        .and_then(Value::as_u64)
        .and_then(|v| u32::try_from(v).ok())
        .ok_or_else(|| format!("missing {k}"))
}

pub(super) async fn act(
    mc: &Shared,
    emitter: &Emitter,
    action: &str,
    args: &Value,
) -> Result<(), String> {
    let tag = args.get("tag").and_then(Value::as_u64).unwrap_or(0);
    match action {
        "cmd" => {
            let drone = arg_u32(args, "drone")?;
            let cmd: Command = serde_json::from_value(args.get("cmd").cloned().unwrap_or_default())
                .map_err(|e| e.to_string())?;
            proto::check_command(&cmd, 5000.0).map_err(|e| e.to_string())?;
            send_cmd(&mut lock(mc), drone, cmd, tag)?;
        }
        "broadcast" | "mission" => {
            let mut m = lock(mc);
            let cmd = if action == "mission" {
                let name = args.get("name").and_then(Value::as_str).unwrap_or_default();
                Command::Mission {
                    name: name.to_string(),
                    fleet: m.fleet_size,
                }
            } else {
                serde_json::from_value(args.get("cmd").cloned().unwrap_or_default())
                    .map_err(|e| e.to_string())?
            };
            proto::check_command(&cmd, 5000.0).map_err(|e| e.to_string())?;
            let n = broadcast(&mut m, cmd.clone(), tag)?;
            emitter.log(
                "info",
                format!(
                    "broadcast \"{cmd}\" to {n} drones under fleet key epoch {}",
                    m.fleet.key().epoch()
                ),
            );
        }
        "revoke" => {
            let drone = arg_u32(args, "drone")?;
            let mut m = lock(mc);
            m.registry.revoke(drone);
            m.reg.revoke(drone);
            let key = m
                .fleet
                .rotate(&mut rand::rng())
                .map_err(|e| e.to_string())?
                .clone();
            m.reg.epoch = key.epoch();
            m.save()?;
            for (id, l) in m.links.iter_mut() {
                if *id == drone {
                    l.revoked = true;
                } else if !l.revoked {
                    let _ = l.tx.try_send(Out::Key(key.clone()));
                }
            }
            // Announce the epoch: every drone hears it, the revoked one cannot read it.
            broadcast(&mut m, Command::Noop, tag)?;
            emitter.log(
                "warn",
                format!(
                    "drone {drone} revoked: fleet key rotated to epoch {} for the {} others",
                    key.epoch(),
                    m.links.values().filter(|l| !l.revoked).count()
                ),
            );
        }
        "enroll" => {
            let drone = arg_u32(args, "drone")?;
            let pk = store::parse_public(args.get("key").and_then(Value::as_str).unwrap_or(""))
                .map_err(|e| e.to_string())?;
            let mut m = lock(mc);
            m.registry.enroll(drone, pk.clone());
            m.reg.enroll(drone, &pk);
            m.save()?;
            if let Some(old) = m.links.remove(&drone) {
                let _ = old.tx.try_send(Out::Close);
            }
            emitter.log("info", format!("drone {drone} enrolled with a new key"));
        }
        "probe" => probe(mc, args).await,
        other => return Err(format!("unknown action {other:?}")),
    }
    Ok(())
}

/// The bench's round trips: `cmds` goto commands (each to the next linked drone, one at a
/// time) and `bcasts` no-op broadcasts, each awaited before the next; p50/p99 into `probe`.
async fn probe(mc: &Shared, args: &Value) {
    let cmds = args
        .get("cmds")
        .and_then(Value::as_u64)
        .unwrap_or(200)
        .min(10_000);
    let bcasts = args
        .get("bcasts")
        .and_then(Value::as_u64)
        .unwrap_or(50)
        .min(10_000);
    let mut rtts = Vec::new();
    let mut alls = Vec::new();
    let wait = |tag: u64, fleet: bool| {
        let mc = mc.clone();
        async move {
            let deadline = Instant::now() + Duration::from_secs(2);
            while Instant::now() < deadline {
                {
                    let m = lock(&mc);
                    let hit = if fleet {
                        m.bcast_done.iter().find(|b| b.0 == tag).map(|b| b.1)
                    } else {
                        m.acked.iter().find(|a| a.0 == tag).map(|a| a.1)
                    };
                    if hit.is_some() {
                        return hit;
                    }
                }
                tokio::time::sleep(Duration::from_micros(200)).await;
            }
            None
        }
    };
    let base = u64::MAX / 2 + rand::random::<u32>() as u64 * 1_000_000;
    for k in 0..cmds {
        let sent = {
            let mut m = lock(mc);
            let ids: Vec<u32> = m
                .links
                .iter()
                .filter(|(_, l)| !l.revoked)
                .map(|(i, _)| *i)
                .collect();
            if ids.is_empty() {
                break;
            }
            let d = ids[k as usize % ids.len()];
            send_cmd(&mut m, d, Command::Noop, base + k).is_ok()
        };
        if sent && let Some(ms) = wait(base + k, false).await {
            rtts.push(ms);
        }
    }
    let mut n = 0;
    for k in 0..bcasts {
        let tag = base + cmds + k;
        let sent = {
            let mut m = lock(mc);
            broadcast(&mut m, Command::Noop, tag).ok()
        };
        if let Some(c) = sent {
            n = c;
            if let Some(ms) = wait(tag, true).await {
                alls.push(ms);
            }
        }
    }
    let q = |v: &mut Vec<f64>, p: f64| -> f64 {
        if v.is_empty() {
            return 0.0;
        }
        v.sort_by(f64::total_cmp);
        v[((v.len() as f64 - 1.0) * p).round() as usize]
    };
    let probe = json!({
        "cmd_n": rtts.len(), "cmd_p50_ms": q(&mut rtts, 0.5), "cmd_p99_ms": q(&mut rtts, 0.99),
        "bcast_n": alls.len(), "bcast_drones": n,
        "bcast_p50_ms": q(&mut alls, 0.5), "bcast_p99_ms": q(&mut alls, 0.99),
        "tag": args.get("tag").and_then(Value::as_u64).unwrap_or(0),
    });
    lock(mc).probe = probe;
}
