//! The drone-fleet lab's own verbs: `mission`, `cmd`, `broadcast`, `revoke`, `enroll`,
//! `mavlink`, `attack`, `wait` and `bench`. Actions reach mission control (or a drone) as
//! `ControlCommand::Lab` through the supervisor; verbs that claim an effect wait for it in the
//! nodes' State events.
//!
//! Exit codes: 0 success; 1 the awaited outcome did not come (an attack that was not refused,
//! a command not acknowledged); 2 an error.

use std::time::{Duration, Instant};

use clap::{ArgMatches, Subcommand};
use serde_json::{Value, json};

use super::group::SigningKey;
use super::lab::{MC, NAME, Plan, drone_key_file};
use super::store;
use crate::cluster::NodeInfo;
use crate::cluster::control::ControlRequest;
use crate::cluster::event::ControlCommand;
use crate::lab::args::{RunDirArg, parse_duration};
use crate::lab::{Target, VerbCtx};

/// The drone-fleet lab's own verbs.
#[derive(Debug, Subcommand)]
pub enum UavVerb {
    /// Fly a built-in mission (survey, orbit, formation): one fleet broadcast under the group key.
    Mission {
        /// The mission.
        #[arg(value_parser = ["survey", "orbit", "formation"])]
        name: String,
        /// Run dir.
        #[command(flatten)]
        run: RunDirArg,
    },
    /// Command one drone in its session: rtl | land | goto X Y ALT (metres east, north, up).
    Cmd {
        /// Drone (node id, 2…).
        drone: u64,
        /// What to do.
        #[arg(value_parser = ["rtl", "land", "goto"])]
        action: String,
        /// X Y ALT for goto.
        #[arg(allow_negative_numbers = true, num_args = 0..=3)]
        point: Vec<f64>,
        /// Run dir.
        #[command(flatten)]
        run: RunDirArg,
    },
    /// Command every drone at once: sealed once under the fleet key.
    Broadcast {
        /// What to do.
        #[arg(value_parser = ["rtl", "land"])]
        action: String,
        /// Run dir.
        #[command(flatten)]
        run: RunDirArg,
    },
    /// Set a drone's battery charge (a sudden drain, as a failing cell would cause): under
    /// 20% it returns to launch, under 5% it lands where it is.
    Battery {
        /// Drone (node id, 2…).
        drone: u64,
        /// Charge in percent (0–100).
        percent: f64,
        /// Run dir.
        #[command(flatten)]
        run: RunDirArg,
    },
    /// Revoke a drone: the fleet key rotates to every other drone; the revoked one cannot
    /// decrypt broadcasts any more, loses its link and goes to its failsafe.
    Revoke {
        /// Drone (node id).
        drone: u64,
        /// Run dir.
        #[command(flatten)]
        run: RunDirArg,
    },
    /// Enroll a drone with a fresh long-term key (lifts a revocation); it handshakes again.
    Enroll {
        /// Drone (node id).
        drone: u64,
        /// Run dir.
        #[command(flatten)]
        run: RunDirArg,
    },
    /// Print mission control's MAVLink UDP address and signing key.
    Mavlink {
        /// `{"udp": "127.0.0.1:PORT", "key": "<64 hex>"}`.
        #[arg(long)]
        json: bool,
        /// Run dir.
        #[command(flatten)]
        run: RunDirArg,
    },
    /// Attack the link from a separate attacker (this process): replay | tamper | rogue | mitm
    /// | downgrade. Exit 0 when the attack was refused (the reason is counted), 1 if not.
    Attack {
        /// The attack.
        #[arg(value_parser = ["replay", "tamper", "rogue", "mitm", "downgrade"])]
        kind: String,
        /// The drone whose link is attacked (default: the last one).
        #[arg(long)]
        drone: Option<u64>,
        /// How long to wait for the refusal.
        #[arg(long, default_value = "60s", value_parser = parse_duration)]
        timeout: Duration,
        /// Run dir.
        #[command(flatten)]
        run: RunDirArg,
    },
    /// Wait for a condition: `linked`, `mode MODE [DRONE]`, `reject REASON N [NODE]`,
    /// `epoch N`.
    Wait {
        /// The condition.
        #[arg(required = true, num_args = 1..)]
        cond: Vec<String>,
        /// Give up after.
        #[arg(long, default_value = "60s", value_parser = parse_duration)]
        timeout: Duration,
        /// Run dir.
        #[command(flatten)]
        run: RunDirArg,
    },
    /// Measure the handshake (in this process) and a fleet of real processes: mission
    /// control's CPU, command round trips and broadcast-to-all times.
    Bench {
        /// Drones in the fleet phase (0: handshake only).
        #[arg(long, default_value_t = 32)]
        drones: usize,
        /// Handshakes to time.
        #[arg(long, default_value_t = 200)]
        handshakes: usize,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
}

/// Runs one of the verbs.
pub fn run(m: &ArgMatches, cx: &mut VerbCtx<'_>) -> i32 {
    let verb = match crate::lab::parse_own::<UavVerb>(m, cx.err) {
        Ok(v) => v,
        Err(code) => return code,
    };
    let code = match run_verb(verb, cx) {
        Ok(code) => code,
        Err(e) => crate::lab::report(NAME, &e, cx.err),
    };
    let _ = cx.out.flush();
    code
}

/// Every node's info.
pub fn nodes(t: &Target<'_>, run: &RunDirArg) -> anyhow::Result<Vec<NodeInfo>> {
    Ok(t.request(NAME, run, ControlRequest::Status)?.nodes)
}

/// Sends lab action `action` to node `node`.
pub fn send(
    t: &Target<'_>,
    run: &RunDirArg,
    node: u64,
    action: &str,
    args: Value,
) -> anyhow::Result<()> {
    let command = ControlCommand::Lab {
        action: action.into(),
        args,
    };
    t.request(NAME, run, ControlRequest::Send { node, command })?;
    Ok(())
}

/// Polls until `cond` holds; false on timeout or interruption.
pub fn poll(
    cx: &VerbCtx<'_>,
    run: &RunDirArg,
    timeout: Duration,
    mut cond: impl FnMut(&[NodeInfo]) -> bool,
) -> anyhow::Result<bool> {
    let deadline = Instant::now() + timeout;
    loop {
        if cond(&nodes(&cx.target, run)?) {
            return Ok(true);
        }
        if Instant::now() >= deadline || (cx.interrupted)() {
            return Ok(false);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Mission control's state fields.
pub fn mc_state(ns: &[NodeInfo]) -> Option<&serde_json::Map<String, Value>> {
    ns.iter().find(|n| n.id == MC).map(|n| &n.state)
}

/// The sum of reject counter `reason` over `ns` (or node `only`).
pub fn rejects(ns: &[NodeInfo], reason: &str, only: Option<u64>) -> u64 {
    ns.iter()
        .filter(|n| only.is_none_or(|o| o == n.id))
        .filter_map(|n| n.state.get("rejects")?.get(reason)?.as_u64())
        .sum()
}

fn revoked(ns: &[NodeInfo]) -> Vec<u64> {
    mc_state(ns)
        .and_then(|s| s.get("revoked"))
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_default()
}

/// The running drones mission control has not revoked.
fn flying(ns: &[NodeInfo]) -> impl Iterator<Item = &NodeInfo> {
    let gone = revoked(ns);
    ns.iter()
        .filter(move |n| n.id != MC && n.status.is_alive() && !gone.contains(&n.id))
}

fn linked(ns: &[NodeInfo]) -> bool {
    let Some(epoch) = mc_state(ns)
        .and_then(|s| s.get("epoch"))
        .and_then(Value::as_u64)
    else {
        return false;
    };
    let mc_up = ns.iter().any(|n| n.id == MC && n.status.is_alive());
    mc_up
        && flying(ns).all(|n| {
            n.state.get("link").and_then(Value::as_str) == Some("up")
                && n.state.get("epoch").and_then(Value::as_u64) == Some(epoch)
        })
}

fn fresh_tag() -> u64 {
    rand::random::<u64>() >> 12 | 1
}

fn await_tag(
    cx: &mut VerbCtx<'_>,
    run: &RunDirArg,
    field: &str,
    tag: u64,
) -> anyhow::Result<Option<Value>> {
    let mut hit = None;
    poll(cx, run, Duration::from_secs(15), |ns| {
        hit = mc_state(ns)
            .and_then(|s| s.get(field))
            .and_then(Value::as_array)
            .and_then(|a| a.iter().find(|e| e[0].as_u64() == Some(tag)).cloned());
        hit.is_some()
    })?;
    Ok(hit)
}

fn broadcast(
    cx: &mut VerbCtx<'_>,
    run: &RunDirArg,
    action: &str,
    args: Value,
    what: &str,
) -> anyhow::Result<i32> {
    let tag = fresh_tag();
    let mut args = args;
    args["tag"] = json!(tag);
    send(&cx.target, run, MC, action, args)?;
    match await_tag(cx, run, "bcast_done", tag)? {
        Some(v) => {
            writeln!(
                cx.out,
                "{what}: sealed once under the fleet key, acknowledged by all {} linked drones in {} ms",
                v[2], v[1]
            )?;
            Ok(0)
        }
        None => {
            writeln!(
                cx.err,
                "uav: {what}: not every linked drone acknowledged within 15 s"
            )?;
            Ok(1)
        }
    }
}

fn run_verb(verb: UavVerb, cx: &mut VerbCtx<'_>) -> anyhow::Result<i32> {
    match verb {
        UavVerb::Mission { name, run } => broadcast(
            cx,
            &run,
            "mission",
            json!({"name": name}),
            &format!("mission {name}"),
        ),
        UavVerb::Broadcast { action, run } => broadcast(
            cx,
            &run,
            "broadcast",
            json!({"cmd": {"do": action}}),
            &format!("broadcast {action}"),
        ),
        UavVerb::Cmd {
            drone,
            action,
            point,
            run,
        } => {
            anyhow::ensure!(
                point.iter().all(|v| v.is_finite()),
                "X Y ALT must be finite numbers"
            );
            let cmd = match (action.as_str(), point.as_slice()) {
                ("goto", [x, y, alt]) => json!({"do": "goto", "x": x, "y": y, "alt": alt}),
                ("goto", _) => anyhow::bail!("goto needs X Y ALT"),
                (a, []) => json!({"do": a}),
                (a, _) => anyhow::bail!("{a} takes no numbers"),
            };
            let dir = cx.target.run_dir(NAME, &run)?;
            anyhow::ensure!(
                Plan::load(&dir)?.is_drone(drone),
                "no drone {drone} in this lab"
            );
            let parsed: super::proto::Command = serde_json::from_value(cmd.clone())?;
            super::proto::check_command(&parsed, 5000.0)?;
            let tag = fresh_tag();
            send(
                &cx.target,
                &run,
                MC,
                "cmd",
                json!({"drone": drone, "cmd": cmd, "tag": tag}),
            )?;
            match await_tag(cx, &run, "acked", tag)? {
                Some(v) if v[2] == json!(true) => {
                    writeln!(cx.out, "drone {drone} acknowledged {action} in {} ms", v[1])?;
                    Ok(0)
                }
                Some(_) => {
                    writeln!(cx.err, "uav: drone {drone} refused {action}")?;
                    Ok(1)
                }
                None => {
                    writeln!(
                        cx.err,
                        "uav: drone {drone} did not acknowledge {action} (not linked?)"
                    )?;
                    Ok(1)
                }
            }
        }
        UavVerb::Battery {
            drone,
            percent,
            run,
        } => {
            anyhow::ensure!(
                (0.0..=100.0).contains(&percent),
                "battery charge must be between 0 and 100 (got {percent})"
            );
            let dir = cx.target.run_dir(NAME, &run)?;
            anyhow::ensure!(
                Plan::load(&dir)?.is_drone(drone),
                "no drone {drone} in this lab"
            );
            send(
                &cx.target,
                &run,
                drone,
                "battery",
                json!({ "percent": percent }),
            )?;
            let want = if percent < crate::uav::flight::CRITICAL_BATTERY {
                Some("land")
            } else if percent < crate::uav::flight::LOW_BATTERY {
                Some("rtl")
            } else {
                None
            };
            match want {
                None => {
                    writeln!(cx.out, "drone {drone} battery set to {percent:.0}%")?;
                    Ok(0)
                }
                Some(mode) => {
                    // The failsafe fires on the drone's next flight step (20 ms): wait to see
                    // it, or for the drone to be down already (landed).
                    let mut seen = None;
                    poll(cx, &run, Duration::from_secs(10), |ns| {
                        seen = ns
                            .iter()
                            .find(|n| n.id == drone)
                            .and_then(|n| n.state.get("mode").and_then(Value::as_str))
                            .filter(|m| *m == mode || *m == "landed" || *m == "land")
                            .map(str::to_string);
                        seen.is_some()
                    })?;
                    match seen {
                        Some(m) => {
                            writeln!(
                                cx.out,
                                "drone {drone} battery set to {percent:.0}%: failsafe, now in mode {m}"
                            )?;
                            Ok(0)
                        }
                        None => {
                            writeln!(
                                cx.err,
                                "drone {drone} battery set to {percent:.0}%, but no failsafe seen in 10 s"
                            )?;
                            Ok(1)
                        }
                    }
                }
            }
        }
        UavVerb::Revoke { drone, run } => {
            let dir = cx.target.run_dir(NAME, &run)?;
            anyhow::ensure!(
                Plan::load(&dir)?.is_drone(drone),
                "no drone {drone} in this lab"
            );
            let before = mc_epoch(&nodes(&cx.target, &run)?);
            send(&cx.target, &run, MC, "revoke", json!({"drone": drone}))?;
            let mut after = None;
            poll(cx, &run, Duration::from_secs(15), |ns| {
                after = mc_epoch(ns).filter(|e| Some(*e) > before);
                after.is_some() && revoked(ns).contains(&drone)
            })?;
            match after {
                Some(e) => {
                    writeln!(
                        cx.out,
                        "drone {drone} revoked; fleet key rotated to epoch {e} for every other drone"
                    )?;
                    Ok(0)
                }
                None => Ok(1),
            }
        }
        UavVerb::Enroll { drone, run } => {
            let dir = cx.target.run_dir(NAME, &run)?;
            anyhow::ensure!(
                Plan::load(&dir)?.is_drone(drone),
                "no drone {drone} in this lab"
            );
            let key = SigningKey::generate(&mut rand::rng());
            store::write_signing_key(&drone_key_file(&dir, drone), &key)?;
            let pk = store::hex(&key.public().to_bytes());
            send(
                &cx.target,
                &run,
                MC,
                "enroll",
                json!({"drone": drone, "key": pk}),
            )?;
            let ok = poll(cx, &run, Duration::from_secs(15), |ns| {
                !revoked(ns).contains(&drone)
                    && mc_state(ns)
                        .and_then(|s| s.get("enrolled"))
                        .and_then(Value::as_array)
                        .is_some_and(|a| a.contains(&json!(drone)))
            })?;
            // The drone loads its new key and handshakes again (if it runs).
            let _ = send(&cx.target, &run, drone, "reload", json!({}));
            writeln!(
                cx.out,
                "drone {drone} enrolled with a fresh key ({})",
                drone_key_file(&dir, drone).display()
            )?;
            Ok(if ok { 0 } else { 1 })
        }
        UavVerb::Mavlink { json, run } => {
            let dir = cx.target.run_dir(NAME, &run)?;
            let plan = Plan::load(&dir)?;
            let key = store::read_key32(&dir.join("mavlink.key"))?;
            if json {
                writeln!(
                    cx.out,
                    "{}",
                    json!({"udp": plan.mc, "key": store::hex(key.as_ref())})
                )?;
            } else {
                writeln!(cx.out, "MAVLink 2 (signed) on udp:{}", plan.mc)?;
                writeln!(cx.out, "signing key: {}", store::hex(key.as_ref()))?;
                writeln!(
                    cx.out,
                    "send a HEARTBEAT signed with this key to receive the fleet (e.g. mavproxy.py --master udpout:{} --cmd 'signing setup KEY')",
                    plan.mc
                )?;
            }
            Ok(0)
        }
        UavVerb::Attack {
            kind,
            drone,
            timeout,
            run,
        } => super::attack::run(cx, &run, &kind, drone, timeout),
        UavVerb::Wait { cond, timeout, run } => wait(cx, &run, &cond, timeout),
        UavVerb::Bench {
            drones,
            handshakes,
            json,
        } => super::bench::run(cx, drones, handshakes, json),
    }
}

/// A wait condition over the nodes.
type Check = Box<dyn Fn(&[NodeInfo]) -> bool>;

fn mc_epoch(ns: &[NodeInfo]) -> Option<u64> {
    mc_state(ns)
        .and_then(|s| s.get("epoch"))
        .and_then(Value::as_u64)
}

fn wait(
    cx: &mut VerbCtx<'_>,
    run: &RunDirArg,
    cond: &[String],
    timeout: Duration,
) -> anyhow::Result<i32> {
    let words: Vec<&str> = cond.iter().map(String::as_str).collect();
    let num = |s: Option<&&str>| -> anyhow::Result<Option<u64>> {
        s.map(|s| {
            s.parse::<u64>()
                .map_err(|_| anyhow::anyhow!("{s:?} is not a number"))
        })
        .transpose()
    };
    let check: Check = match words.as_slice() {
        ["linked"] => Box::new(linked),
        ["mode", m, rest @ ..] => {
            let m = m.to_string();
            let only = num(rest.first())?;
            Box::new(move |ns| {
                // One drone: whatever mission control thinks of it; all: the flying fleet.
                let one: Vec<&NodeInfo> = match only {
                    Some(o) => ns
                        .iter()
                        .filter(|n| n.id == o && n.status.is_alive())
                        .collect(),
                    None => flying(ns).collect(),
                };
                let mut it = one.into_iter().peekable();
                it.peek().is_some()
                    && it.all(|n| n.state.get("mode").and_then(Value::as_str) == Some(&m))
            })
        }
        ["reject", reason, n, rest @ ..] => {
            let reason = reason.to_string();
            let n = num(Some(n))?.unwrap_or(1);
            let only = num(rest.first())?;
            Box::new(move |ns| rejects(ns, &reason, only) >= n)
        }
        ["epoch", n] => {
            let n = num(Some(n))?.unwrap_or(0);
            Box::new(move |ns| mc_epoch(ns).is_some_and(|e| e >= n) && linked(ns))
        }
        _ => anyhow::bail!(
            "unknown condition {:?} (linked | mode MODE [DRONE] | reject REASON N [NODE] | epoch N)",
            cond.join(" ")
        ),
    };
    let mut last = Vec::new();
    let ok = poll(cx, run, timeout, |ns| {
        last = ns.to_vec();
        check(ns)
    })?;
    if ok {
        writeln!(cx.out, "{}: yes", cond.join(" "))?;
        return Ok(0);
    }
    writeln!(
        cx.err,
        "uav: timed out after {timeout:?} waiting for {}; last seen:",
        cond.join(" ")
    )?;
    let table = <super::lab::UavLab as crate::lab::Lab>::status_table(&super::lab::UavLab, &last);
    write!(cx.err, "{table}")?;
    Ok(1)
}
