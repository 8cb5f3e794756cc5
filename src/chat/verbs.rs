//! The chat lab's own verbs: `say`, `enroll`, `revoke`, `mitm`, `leak-psk`, `wait`, `check`
//! and `bench`. Actions reach the nodes as `ControlCommand::Lab` through the supervisor;
//! verbs that must see their effect wait for it in the nodes' State events.
//!
//! Exit codes: 0 success; 1 the awaited outcome did not come (or `check` found a difference);
//! 2 an error.

use std::time::{Duration, Instant};

use clap::{ArgMatches, Subcommand};
use serde_json::{Value, json};

use super::lab::{MITM, NAME, Plan, SERVER, key_file};
use super::noise::Psk;
use super::store::{hex, read_key_file, valid_name, write_key_file};
use crate::cluster::NodeInfo;
use crate::cluster::control::ControlRequest;
use crate::cluster::event::ControlCommand;
use crate::lab::args::{RunDirArg, parse_duration};
use crate::lab::{Target, VerbCtx};

/// The chat lab's own verbs.
#[derive(Debug, Subcommand)]
pub enum ChatVerb {
    /// Make client CLIENT post TEXT; waits until the server acknowledged it (exit 1 if not).
    Say {
        /// Client name (c1, c2, …).
        client: String,
        /// The text.
        text: String,
        /// How long to wait for the acknowledgement.
        #[arg(long, default_value = "15s", value_parser = parse_duration)]
        timeout: Duration,
        /// Run dir.
        #[command(flatten)]
        run: RunDirArg,
    },
    /// Enroll NAME with a fresh PSK (or replace its PSK and lift a revocation); the key goes
    /// to RUN_DIR/keys/NAME.psk (0600).
    Enroll {
        /// Client name.
        name: String,
        /// Run dir.
        #[command(flatten)]
        run: RunDirArg,
    },
    /// Revoke NAME: its session ends and its handshakes are refused (counted as `revoked`).
    Revoke {
        /// Client name.
        name: String,
        /// Run dir.
        #[command(flatten)]
        run: RunDirArg,
    },
    /// Attack through the proxy: drop P% | reorder | duplicate | replay | tamper | inject |
    /// delay MS | rate P% | cut | clear (attacks add up until `clear`).
    Mitm {
        /// The attack.
        #[arg(value_parser = ["drop", "reorder", "duplicate", "replay", "tamper", "inject", "delay", "rate", "cut", "clear"])]
        attack: String,
        /// Its value: a percentage for drop and rate, milliseconds for delay.
        value: Option<String>,
        /// Run dir.
        #[command(flatten)]
        run: RunDirArg,
    },
    /// The attacker learns NAME's PSK: it impersonates NAME to the server, and tries (and
    /// fails) to decrypt the sessions of NAME it recorded before.
    LeakPsk {
        /// Client name.
        name: String,
        /// Run dir.
        #[command(flatten)]
        run: RunDirArg,
    },
    /// Wait for a condition: `established` (every running client), `reject REASON N`
    /// (server), `attack KIND N` (proxy), `messages N`, `reconnects N`, `leaked NAME`.
    Wait {
        /// The condition.
        #[arg(required = true, num_args = 1..)]
        cond: Vec<String>,
        /// Give up after.
        #[arg(long, default_value = "30s", value_parser = parse_duration)]
        timeout: Duration,
        /// Run dir.
        #[command(flatten)]
        run: RunDirArg,
    },
    /// Compare every room's log at every running member with the server's: identical, no
    /// loss, no duplicate (exit 1 otherwise).
    Check {
        /// How long members may take to catch up.
        #[arg(long, default_value = "30s", value_parser = parse_duration)]
        timeout: Duration,
        /// Run dir.
        #[command(flatten)]
        run: RunDirArg,
    },
    /// Measure handshakes/s, delivery latency at a fixed rate in a big room, and the cost of
    /// the protocol over plain TCP on the same workload (in this process, no lab needed).
    Bench {
        /// Clients (all in one room).
        #[arg(long, default_value_t = 100)]
        clients: usize,
        /// Messages per second, all clients together.
        #[arg(long, default_value_t = 1000)]
        rate: u64,
        /// Seconds of the fixed-rate phase.
        #[arg(long, default_value_t = 5)]
        seconds: u64,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
}

/// Runs one of the verbs.
pub fn run(m: &ArgMatches, cx: &mut VerbCtx<'_>) -> i32 {
    let verb = match crate::lab::parse_own::<ChatVerb>(m, cx.err) {
        Ok(v) => v,
        Err(code) => return code,
    };
    let result = run_verb(verb, cx);
    let code = match result {
        Ok(code) => code,
        Err(e) => crate::lab::report(NAME, &e, cx.err),
    };
    let _ = cx.out.flush();
    code
}

fn nodes(t: &Target<'_>, run: &RunDirArg) -> anyhow::Result<Vec<NodeInfo>> {
    Ok(t.request(NAME, run, ControlRequest::Status)?.nodes)
}

fn send(
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

fn state(ns: &[NodeInfo], id: u64) -> Option<&serde_json::Map<String, Value>> {
    ns.iter().find(|n| n.id == id).map(|n| &n.state)
}

/// Polls until `cond` holds on the nodes; false on timeout or interruption.
fn poll(
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
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn run_verb(verb: ChatVerb, cx: &mut VerbCtx<'_>) -> anyhow::Result<i32> {
    match verb {
        ChatVerb::Say {
            client,
            text,
            timeout,
            run,
        } => {
            let plan = Plan::load(&cx.target.run_dir(NAME, &run)?)?;
            let c = plan
                .client(&client)
                .ok_or_else(|| anyhow::anyhow!("no client {client} in this lab"))?
                .clone();
            let tag = rand::random::<u64>() >> 12 | 1;
            let started = std::time::Instant::now();
            send(
                &cx.target,
                &run,
                c.id,
                "say",
                json!({"text": text, "tag": tag}),
            )?;
            let mut id = 0;
            let ok = poll(cx, &run, timeout, |ns| {
                let tags = state(ns, c.id).and_then(|s| s.get("acked_tags"));
                let found = tags
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .find(|t| t[0].as_u64() == Some(tag));
                if let Some(t) = found {
                    id = t[1].as_u64().unwrap_or(0);
                }
                found.is_some()
            })?;
            if ok {
                writeln!(
                    cx.out,
                    "{client} → {}: message {id} acknowledged (durable) in {} ms",
                    c.room,
                    started.elapsed().as_millis()
                )?;
                Ok(0)
            } else {
                writeln!(
                    cx.err,
                    "chat: {client}'s message was not acknowledged within {timeout:?}"
                )?;
                Ok(1)
            }
        }
        ChatVerb::Enroll { name, run } => {
            anyhow::ensure!(valid_name(&name), "invalid client name {name:?}");
            let dir = cx.target.run_dir(NAME, &run)?;
            let psk = Psk::generate();
            let path = key_file(&dir, &name);
            write_key_file(&path, &psk)?;
            send(
                &cx.target,
                &run,
                SERVER,
                "enroll",
                json!({"name": name, "psk": hex(psk.as_bytes())}),
            )?;
            let ok = poll(cx, &run, Duration::from_secs(10), |ns| {
                list_has(state(ns, SERVER), "enrolled", &name)
            })?;
            anyhow::ensure!(ok, "the server did not confirm the enrolment");
            writeln!(cx.out, "enrolled {name}; its PSK is in {}", path.display())?;
            Ok(0)
        }
        ChatVerb::Revoke { name, run } => {
            send(&cx.target, &run, SERVER, "revoke", json!({"name": name}))?;
            let ok = poll(cx, &run, Duration::from_secs(10), |ns| {
                list_has(state(ns, SERVER), "revoked", &name)
            })?;
            anyhow::ensure!(
                ok,
                "the server did not confirm the revocation (is {name} enrolled?)"
            );
            writeln!(
                cx.out,
                "revoked {name}: its session is closed and new handshakes are refused"
            )?;
            Ok(0)
        }
        ChatVerb::Mitm { attack, value, run } => {
            let num = |default: u64| -> anyhow::Result<u64> {
                match &value {
                    None => Ok(default),
                    Some(v) => v
                        .trim_end_matches('%')
                        .trim_end_matches("ms")
                        .parse()
                        .map_err(|_| anyhow::anyhow!("bad value {v:?}")),
                }
            };
            let args = match attack.as_str() {
                "drop" | "rate" => json!({"pct": num(10)?.min(100)}),
                "delay" => json!({"ms": num(100)?.min(10_000)}),
                _ => Value::Null,
            };
            send(&cx.target, &run, MITM, &attack, args)?;
            writeln!(
                cx.out,
                "proxy: {attack}{}",
                value.map(|v| format!(" {v}")).unwrap_or_default()
            )?;
            Ok(0)
        }
        ChatVerb::LeakPsk { name, run } => {
            let dir = cx.target.run_dir(NAME, &run)?;
            let plan = Plan::load(&dir)?;
            let room = plan
                .client(&name)
                .map_or("lobby".to_string(), |c| c.room.clone());
            let psk = read_key_file(&key_file(&dir, &name))
                .ok_or_else(|| anyhow::anyhow!("no key file for {name}"))?;
            send(
                &cx.target,
                &run,
                MITM,
                "leak-psk",
                json!({"name": name, "room": room, "psk": hex(psk.as_bytes())}),
            )?;
            let mut report = Value::Null;
            let ok = poll(cx, &run, Duration::from_secs(15), |ns| {
                match state(ns, MITM)
                    .and_then(|s| s.get("leaked"))
                    .and_then(|l| l.get(&name))
                {
                    Some(r) => {
                        report = r.clone();
                        true
                    }
                    None => false,
                }
            })?;
            anyhow::ensure!(ok, "the proxy did not report on the leak");
            let imp = &report["impersonation"];
            writeln!(
                cx.out,
                "impersonation of {name}: {}",
                if imp["accepted"] == true {
                    format!(
                        "a forged message was accepted as id {} ({} messages of history read)",
                        imp["forged_id"], imp["history_read"]
                    )
                } else {
                    format!("failed ({})", imp["error"].as_str().unwrap_or("?"))
                }
            )?;
            writeln!(
                cx.out,
                "recorded sessions of {name}: {} tried, message 1 verified with the PSK in {}, decrypted: {} → forward secrecy {}",
                report["captures_tried"],
                report["msg1_verified_with_psk"],
                report["captures_decrypted"],
                if report["forward_secrecy_held"] == true {
                    "held"
                } else {
                    "BROKEN"
                }
            )?;
            if report["captures_tried"] == 0 {
                writeln!(
                    cx.err,
                    "chat: the proxy recorded no session of {name} to test"
                )?;
                return Ok(1);
            }
            // Both halves of the claim: the leaked key does let the attacker in, and it still
            // opens none of the recorded sessions.
            Ok(
                if report["forward_secrecy_held"] == true && imp["accepted"] == true {
                    0
                } else {
                    1
                },
            )
        }
        ChatVerb::Wait { cond, timeout, run } => {
            let c: Vec<&str> = cond.iter().map(String::as_str).collect();
            let test = condition(&c)?;
            if poll(cx, &run, timeout, |ns| test(ns))? {
                writeln!(cx.out, "{}", cond.join(" "))?;
                Ok(0)
            } else {
                writeln!(
                    cx.err,
                    "chat: timed out after {timeout:?} waiting for {}",
                    cond.join(" ")
                )?;
                Ok(1)
            }
        }
        ChatVerb::Check { timeout, run } => {
            let dir = cx.target.run_dir(NAME, &run)?;
            let ns = nodes(&cx.target, &run)?;
            super::check::check(&dir, &ns, timeout, cx.out, cx.interrupted)
        }
        ChatVerb::Bench {
            clients,
            rate,
            seconds,
            json,
        } => super::bench::run(clients, rate, seconds, json, cx.out),
    }
}

fn list_has(s: Option<&serde_json::Map<String, Value>>, key: &str, name: &str) -> bool {
    s.and_then(|s| s.get(key))
        .and_then(Value::as_array)
        .is_some_and(|a| a.iter().any(|v| v == name))
}

type Cond = Box<dyn Fn(&[NodeInfo]) -> bool>;

fn condition(c: &[&str]) -> anyhow::Result<Cond> {
    let n = |i: usize| -> anyhow::Result<u64> {
        c.get(i)
            .ok_or_else(|| anyhow::anyhow!("{} needs a number", c[0]))?
            .parse()
            .map_err(|_| anyhow::anyhow!("bad number in {c:?}"))
    };
    let field = |s: Option<&serde_json::Map<String, Value>>, obj: &str, k: &str| {
        s.and_then(|s| s.get(obj))
            .and_then(|o| o.get(k))
            .and_then(Value::as_u64)
            .unwrap_or(0)
    };
    Ok(match c {
        ["established"] => Box::new(|ns| {
            ns.iter()
                .filter(|n| n.id > MITM && n.status.as_str() == "running")
                .all(|n| {
                    matches!(
                        n.state.get("session").and_then(Value::as_str),
                        Some("established" | "rekeyed")
                    )
                })
        }),
        ["reject", reason, _] => {
            let (reason, want) = (reason.to_string(), n(2)?);
            Box::new(move |ns| field(state(ns, SERVER), "rejects", &reason) >= want)
        }
        ["attack", kind, _] => {
            let (kind, want) = (kind.to_string(), n(2)?);
            Box::new(move |ns| field(state(ns, MITM), "attacks", &kind) >= want)
        }
        ["messages", _] => {
            let want = n(1)?;
            Box::new(move |ns| {
                state(ns, SERVER)
                    .and_then(|s| s.get("msgs_total"))
                    .and_then(Value::as_u64)
                    .is_some_and(|m| m >= want)
            })
        }
        ["reconnects", _] => {
            let want = n(1)?;
            Box::new(move |ns| {
                ns.iter()
                    .filter(|n| n.id > MITM)
                    .filter_map(|n| n.state.get("reconnects").and_then(Value::as_u64))
                    .sum::<u64>()
                    >= want
            })
        }
        ["leaked", name] => {
            let name = name.to_string();
            Box::new(move |ns| {
                state(ns, MITM)
                    .and_then(|s| s.get("leaked"))
                    .is_some_and(|l| l.get(&name).is_some())
            })
        }
        _ => anyhow::bail!(
            "unknown condition {:?} (established | reject REASON N | attack KIND N | messages N | reconnects N | leaked NAME)",
            c.join(" ")
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_conditions_parse_or_say_what_exists() {
        for ok in [
            &["established"][..],
            &["reject", "aead", "3"],
            &["attack", "drop", "1"],
            &["messages", "10"],
            &["reconnects", "2"],
            &["leaked", "c2"],
        ] {
            assert!(condition(ok).is_ok(), "{ok:?}");
        }
        assert!(condition(&["reject", "aead", "x"]).is_err());
        let e = condition(&["sunny"]).err().unwrap().to_string();
        assert!(e.contains("established"), "{e}");
    }
}
