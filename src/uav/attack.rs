//! `uav attack`: an attacker process on the link (the process running the verb).
//!
//! - `rogue`: connects to mission control as a drone with an unenrolled key, once under an
//!   unknown id and once under a real drone's id → `unknown_drone` and `bad_signature`.
//! - `downgrade`: offers a weaker group both ways: to mission control, a `DroneHello` naming
//!   group 2 / 1024 bits (→ `downgrade` there); and as a relay on a drone's link, rewriting
//!   mission control's `ClientHello` to the weaker group (→ `downgrade` at the drone).
//! - `mitm`, `tamper`, `replay`: the lab points a drone's link at the attacker's relay
//!   (`via`), which forwards every frame between it and mission control, and: swaps the
//!   drone's ephemeral key in `DroneHello` for its own (→ `bad_signature` at mission control);
//!   flips a byte of a mission-control record (→ `tampered` at the drone); or sends a captured
//!   mission-control record a second time (→ `replayed` at the drone).
//!
//! The verb waits until the refusal is counted by the node that refused it, then points the
//! drone back at mission control, and prints the reason and the counter.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};

use super::control::MAX_LINK_FRAME;
use super::group::{Element, SecretExponent, SigningKey};
use super::handshake::{ClientHello, DroneHandshake, DroneHello, DroneIdentity, NonceCache};
use super::lab::{MC, NAME, Plan};
use super::store;
use super::verbs::{nodes, poll, rejects, send};
use crate::lab::VerbCtx;
use crate::lab::args::RunDirArg;
use crate::wire::frame::{read_frame, write_frame};

/// Runs attack `kind` on the link of `drone` (default: the highest running drone).
pub fn run(
    cx: &mut VerbCtx<'_>,
    run: &RunDirArg,
    kind: &str,
    drone: Option<u64>,
    timeout: Duration,
) -> anyhow::Result<i32> {
    let dir = cx.target.run_dir(NAME, run)?;
    let plan = Plan::load(&dir)?;
    let mc: SocketAddr = plan.mc.parse()?;
    let ns = nodes(&cx.target, run)?;
    let drone = match drone {
        Some(d) if plan.is_drone(d) => d,
        Some(d) => anyhow::bail!("no drone {d} in this lab"),
        None => ns
            .iter()
            .filter(|n| n.id != MC && n.status.is_alive())
            .map(|n| n.id)
            .max()
            .ok_or_else(|| anyhow::anyhow!("no drone runs"))?,
    };
    // What must be counted, and where.
    let expect: Vec<(&str, u64)> = match kind {
        "rogue" => vec![("unknown_drone", MC), ("bad_signature", MC)],
        "downgrade" => vec![("downgrade", MC), ("downgrade", drone)],
        "mitm" => vec![("bad_signature", MC)],
        "tamper" => vec![("tampered", drone)],
        "replay" => vec![("replayed", drone)],
        other => anyhow::bail!("unknown attack {other}"),
    };
    let before: Vec<u64> = expect
        .iter()
        .map(|(r, n)| rejects(&ns, r, Some(*n)))
        .collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let done = Arc::new(AtomicBool::new(false));
    let mut relay = None;
    if matches!(kind, "rogue" | "downgrade") {
        let mc_pub = store::read_public(&dir.join("mc.pub"))?;
        let rogue = Arc::new(DroneIdentity {
            id: 0,
            key: SigningKey::generate(&mut rand::rng()),
            mission_control: mc_pub,
        });
        let attempts: Vec<(u32, bool)> = if kind == "rogue" {
            vec![
                (u32::try_from(MAX_ID).unwrap_or(255), false),
                (drone as u32, false),
            ]
        } else {
            vec![(drone as u32, true)]
        };
        for (id, downgrade) in attempts {
            if let Err(e) = rt.block_on(impostor(mc, rogue.clone(), id, downgrade)) {
                writeln!(cx.err, "uav: attacker: {e}")?;
            }
        }
    }
    if matches!(kind, "downgrade" | "mitm" | "tamper" | "replay") {
        let listener = rt.block_on(TcpListener::bind("127.0.0.1:0"))?;
        let addr = listener.local_addr()?;
        let (k, d) = (kind.to_string(), done.clone());
        relay = Some(rt.spawn(async move { serve_relay(listener, mc, &k, d).await }));
        send(
            &cx.target,
            run,
            drone,
            "via",
            json!({"addr": addr.to_string()}),
        )?;
    }
    let mut after = before.clone();
    let ok = poll(cx, run, timeout, |ns| {
        after = expect
            .iter()
            .map(|(r, n)| rejects(ns, r, Some(*n)))
            .collect();
        after.iter().zip(&before).all(|(a, b)| a > b)
    })?;
    done.store(true, Ordering::Relaxed);
    if relay.is_some() {
        send(&cx.target, run, drone, "via", Value::Null)?;
    }
    rt.shutdown_timeout(Duration::from_millis(200));
    for ((reason, node), (b, a)) in expect.iter().zip(before.iter().zip(&after)) {
        let who = if *node == MC {
            "mission control".to_string()
        } else {
            format!("drone {node}")
        };
        let verdict = if a > b { "refused" } else { "NOT refused" };
        writeln!(
            cx.out,
            "attack {kind} (drone {drone}'s link): {verdict} by {who}: {reason} ({b} → {a})"
        )?;
    }
    Ok(if ok { 0 } else { 1 })
}

/// An id no drone has (ids are node ids 2…251).
const MAX_ID: u64 = 253;

/// Plays a drone with a key mission control never enrolled.
async fn impostor(
    mc: SocketAddr,
    me: Arc<DroneIdentity>,
    id: u32,
    downgrade: bool,
) -> anyhow::Result<()> {
    let mut s = tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(mc)).await??;
    let mut buf = Vec::new();
    tokio::time::timeout(
        Duration::from_secs(10),
        read_frame(&mut s, &mut buf, MAX_LINK_FRAME),
    )
    .await??;
    let hello = buf.clone();
    let reply = tokio::task::spawn_blocking(move || {
        DroneHandshake::respond(&me, &mut NonceCache::new(1), &hello, &mut rand::rng())
            .map(|(_, r)| r)
    })
    .await??;
    let mut dh = DroneHello::decode(&reply)?;
    dh.drone_id = id;
    if downgrade {
        dh.group = 2;
        dh.bits = 1024;
    }
    write_frame(&mut s, &dh.encode()).await?;
    // Mission control refuses and closes; wait for that (bounded).
    let _ = tokio::time::timeout(
        Duration::from_secs(30),
        read_frame(&mut s, &mut buf, MAX_LINK_FRAME),
    )
    .await;
    Ok(())
}

/// Accepts the drone's connections until `done`, relaying each to mission control.
async fn serve_relay(listener: TcpListener, mc: SocketAddr, kind: &str, done: Arc<AtomicBool>) {
    while !done.load(Ordering::Relaxed) {
        let Ok(Ok((drone, _))) =
            tokio::time::timeout(Duration::from_millis(200), listener.accept()).await
        else {
            continue;
        };
        let Ok(Ok(up)) = tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(mc)).await
        else {
            continue;
        };
        let _ = relay(drone, up, kind, &done).await;
    }
}

/// One relayed connection with the attack applied.
async fn relay(
    drone: TcpStream,
    mc: TcpStream,
    kind: &str,
    done: &AtomicBool,
) -> anyhow::Result<()> {
    let (mut drd, mut dwr) = drone.into_split();
    let (mut mrd, mut mwr) = mc.into_split();
    let (mut dbuf, mut mbuf) = (Vec::new(), Vec::new());
    let (mut from_mc, mut from_drone) = (0u64, 0u64);
    let mut captured: Option<Vec<u8>> = None;
    let mut attacked = false;
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    loop {
        tokio::select! {
            got = read_frame(&mut mrd, &mut mbuf, MAX_LINK_FRAME) => {
                if !got? { return Ok(()); }
                from_mc += 1;
                let mut frame = mbuf.clone();
                if kind == "downgrade" && from_mc == 1
                    && let Ok(mut ch) = ClientHello::decode(&frame)
                {
                    ch.group = 2;
                    ch.bits = 1024;
                    frame = ch.encode().to_vec();
                }
                let data = frame.first() == Some(&0x10);
                if kind == "tamper" && data && !attacked {
                    attacked = true;
                    if let Some(b) = frame.last_mut() {
                        *b ^= 0x01;
                    }
                }
                write_frame(&mut dwr, &frame).await?;
                if kind == "replay" && data && !attacked {
                    match captured.take() {
                        None => captured = Some(frame),
                        Some(old) => {
                            attacked = true;
                            write_frame(&mut dwr, &old).await?;
                        }
                    }
                }
            }
            got = read_frame(&mut drd, &mut dbuf, MAX_LINK_FRAME) => {
                if !got? { return Ok(()); }
                from_drone += 1;
                let mut frame = dbuf.clone();
                if kind == "mitm" && from_drone == 1
                    && let Ok(mut dh) = DroneHello::decode(&frame)
                {
                    let mine = SecretExponent::random_short(&mut rand::rng());
                    dh.ephemeral = Element::base_pow(&mine).to_bytes();
                    frame = dh.encode();
                }
                write_frame(&mut mwr, &frame).await?;
            }
            _ = tick.tick() => {
                if done.load(Ordering::Relaxed) {
                    return Ok(());
                }
            }
        }
    }
}
