//! The man in the middle (`wirelab node chat-mitm`): every client connection goes through it.
//! It parses the u16 frames both ways and, on command, drops, reorders, duplicates, replays,
//! tampers with, injects or delays them, or resets every connection; it records each session
//! (preamble, both handshake messages, the first transport frames) as a capture.
//!
//! With a leaked PSK (`leak`) it shows both sides of the coin: it impersonates the client to
//! the server (a forged message is accepted, the room's history is readable), yet none of the
//! captures of earlier sessions decrypts: with the PSK it can verify message 1, but the
//! transport keys also depend on the ephemeral DH it never had (forward secrecy).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::Args;
use rand::{Rng, RngCore};
use serde_json::{Map, Value, json};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use super::link::{Wire, client_handshake, encode_frame, read_frame, write_frame};
use super::noise::{Builder, CHAT_PATTERN, Psk, chat_prologue};
use super::store::{parse_psk, valid_name};
use crate::cluster::event::{ControlCommand, Emitter, NodeEvent, NodeRuntime, run_node};

/// The role's name.
pub const ROLE: &str = "chat-mitm";
/// Captures kept.
const CAPTURES: usize = 256;

/// Arguments of `wirelab node chat-mitm`.
#[derive(Debug, Args)]
pub struct MitmArgs {
    /// Node id.
    #[arg(long)]
    pub id: u64,
    /// Data dir.
    #[arg(long)]
    pub data_dir: PathBuf,
    /// Where clients connect.
    #[arg(long)]
    pub listen: SocketAddr,
    /// The server.
    #[arg(long)]
    pub server: SocketAddr,
}

/// What the proxy does to frames.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Mode {
    /// Percent of frames dropped.
    pub drop_pct: u32,
    /// Swap a frame with the next one.
    pub reorder: bool,
    /// Send a frame twice.
    pub duplicate: bool,
    /// Insert a recorded frame again (and replay recorded handshakes to the server).
    pub replay: bool,
    /// Flip a bit.
    pub tamper: bool,
    /// Insert forged frames (and open forged connections).
    pub inject: bool,
    /// Delay every frame this long.
    pub delay_ms: u64,
    /// Percent of frames each of reorder/duplicate/replay/tamper/inject applies to.
    pub rate_pct: u32,
}

impl Mode {
    /// "drop 10% + reorder", or "pass-through".
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if self.drop_pct > 0 {
            parts.push(format!("drop {}%", self.drop_pct));
        }
        for (on, n) in [
            (self.reorder, "reorder"),
            (self.duplicate, "duplicate"),
            (self.replay, "replay"),
            (self.tamper, "tamper"),
            (self.inject, "inject"),
        ] {
            if on {
                parts.push(n.to_string());
            }
        }
        if self.delay_ms > 0 {
            parts.push(format!("delay {}ms", self.delay_ms));
        }
        if parts.is_empty() {
            "pass-through".into()
        } else {
            parts.join(" + ")
        }
    }
}

#[derive(Default, Clone)]
struct Capture {
    name: String,
    msg1: Vec<u8>,
    msg2: Vec<u8>,
    c2s: Vec<Vec<u8>>,
}

#[derive(Default)]
struct Proxy {
    mode: Mutex<Mode>,
    conns: Mutex<HashMap<u64, CancellationToken>>,
    next: AtomicU64,
    frames: AtomicU64,
    counts: Mutex<BTreeMap<&'static str, u64>>,
    recorded: Mutex<VecDeque<Vec<u8>>>,
    captures: Mutex<VecDeque<Capture>>,
    live: Mutex<HashMap<u64, Arc<Mutex<Capture>>>>,
    leaked: Mutex<BTreeMap<String, Value>>,
}

fn g<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Proxy {
    fn count(&self, what: &'static str) {
        *g(&self.counts).entry(what).or_default() += 1;
    }

    fn state(&self) -> Map<String, Value> {
        let mode = *g(&self.mode);
        let mut m = Map::new();
        m.insert("role".into(), json!("mitm"));
        m.insert("mode".into(), json!(mode.describe()));
        m.insert("rate_pct".into(), json!(mode.rate_pct));
        m.insert("connections".into(), json!(g(&self.conns).len()));
        m.insert("frames".into(), json!(self.frames.load(Ordering::Relaxed)));
        m.insert("attacks".into(), json!(*g(&self.counts)));
        m.insert("captures".into(), json!(g(&self.captures).len()));
        m.insert("leaked".into(), json!(*g(&self.leaked)));
        m
    }
}

/// `wirelab node chat-mitm`.
pub fn run_cli(a: MitmArgs) -> i32 {
    run_node(NodeRuntime::Workers(2), |em| main(a, em))
}

async fn main(a: MitmArgs, em: Arc<Emitter>) -> Result<(), String> {
    let listener = crate::cluster::listen_reserved(a.listen)
        .map_err(|e| format!("cannot listen on {}: {e}", a.listen))?;
    let p = Arc::new(Proxy::default());
    g(&p.mode).rate_pct = 5;
    let handle = tokio::runtime::Handle::current();
    {
        let (p, em, server) = (p.clone(), em.clone(), a.server);
        crate::cluster::event::watch_stdin(
            move |cmd| match cmd {
                ControlCommand::Report => em.emit(&NodeEvent::State { fields: p.state() }),
                ControlCommand::Lab { action, args } => {
                    let (p, em) = (p.clone(), em.clone());
                    handle.spawn(async move {
                        match act(&p, server, &action, &args).await {
                            Ok(msg) => em.log("info", msg),
                            Err(e) => em.log("warn", format!("{action}: {e}")),
                        }
                        em.emit(&NodeEvent::State { fields: p.state() });
                    });
                }
                _ => {}
            },
            |_| {},
        )
        .map_err(|e| e.to_string())?;
    }
    em.emit(&NodeEvent::Ready {
        addr: a.listen.to_string(),
        http: None,
    });
    {
        let (p, em) = (p.clone(), em.clone());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                em.emit(&NodeEvent::State { fields: p.state() });
            }
        });
    }
    {
        let p = p.clone();
        tokio::spawn(async move { side_attacks(p, a.server).await });
    }
    loop {
        let (client, _) = listener.accept().await.map_err(|e| e.to_string())?;
        let p = p.clone();
        tokio::spawn(async move {
            if let Ok(server) = TcpStream::connect(a.server).await {
                relay(p, client, server).await;
            }
        });
    }
}

async fn act(p: &Proxy, server: SocketAddr, action: &str, args: &Value) -> anyhow::Result<String> {
    let mut m = *g(&p.mode);
    match action {
        "drop" => m.drop_pct = args["pct"].as_u64().unwrap_or(10).min(100) as u32,
        "reorder" => m.reorder = true,
        "duplicate" => m.duplicate = true,
        "replay" => m.replay = true,
        "tamper" => m.tamper = true,
        "inject" => m.inject = true,
        "delay" => m.delay_ms = args["ms"].as_u64().unwrap_or(100).min(10_000),
        "rate" => m.rate_pct = args["pct"].as_u64().unwrap_or(5).min(100) as u32,
        "clear" => {
            m = Mode {
                rate_pct: m.rate_pct,
                ..Mode::default()
            }
        }
        "cut" => {
            let conns: Vec<_> = g(&p.conns).drain().collect();
            for (_, c) in &conns {
                c.cancel();
            }
            *g(&p.counts).entry("cut").or_default() += conns.len() as u64;
            return Ok(format!("reset {} connections", conns.len()));
        }
        "leak-psk" => {
            let name = args["name"].as_str().unwrap_or("").to_string();
            let room = args["room"].as_str().unwrap_or("lobby").to_string();
            let psk = parse_psk(args["psk"].as_str().unwrap_or(""))
                .ok_or_else(|| anyhow::anyhow!("bad psk"))?;
            anyhow::ensure!(valid_name(&name), "bad name");
            let report = leak(p, server, &name, &room, psk).await;
            let line = format!("leaked PSK of {name}: {report}");
            g(&p.leaked).insert(name, report);
            return Ok(line);
        }
        other => anyhow::bail!("unknown action {other:?}"),
    }
    *g(&p.mode) = m;
    Ok(format!("mode: {}", m.describe()))
}

/// What a leaked PSK gives the attacker: impersonation of new sessions, but no decryption of
/// the recorded ones.
async fn leak(p: &Proxy, server: SocketAddr, name: &str, room: &str, psk: Psk) -> Value {
    // Finished sessions and the ones still running (recorded so far).
    let mut caps: Vec<Capture> = g(&p.captures).iter().cloned().collect();
    caps.extend(g(&p.live).values().map(|c| g(c).clone()));
    caps.retain(|c| c.name == name && !c.msg1.is_empty() && !c.c2s.is_empty());
    let (mut msg1_ok, mut decrypted, mut tried) = (0, 0, 0);
    for c in caps.iter().rev().take(16) {
        tried += 1;
        let Ok(prologue) = chat_prologue(name) else {
            continue;
        };
        let Ok(mut hs) = Builder::new(CHAT_PATTERN)
            .prologue(&prologue)
            .psk(psk.clone())
            .build_responder()
        else {
            continue;
        };
        if hs.read_message(&c.msg1).is_err() {
            continue;
        }
        msg1_ok += 1;
        // The best the attacker can do: finish with an ephemeral of its own (it never had the
        // server's), then try the recorded transport frames under the keys that yields.
        let Ok(_) = hs.write_message(&[]) else {
            continue;
        };
        let Ok(mut ts) = hs.into_transport() else {
            continue;
        };
        if c.c2s.iter().any(|f| ts.read_message(f).is_ok()) {
            decrypted += 1;
        }
    }
    let imp = impersonate(server, name, room, psk).await;
    json!({
        "captures_tried": tried,
        "msg1_verified_with_psk": msg1_ok,
        "captures_decrypted": decrypted,
        "forward_secrecy_held": decrypted == 0,
        "impersonation": imp,
    })
}

async fn impersonate(server: SocketAddr, name: &str, room: &str, psk: Psk) -> Value {
    let r = tokio::time::timeout(Duration::from_secs(5), async {
        let mut s = TcpStream::connect(server).await?;
        let ts = client_handshake(&mut s, name, Some(psk)).await?;
        let policy = super::link::RekeyPolicy {
            every: 0,
            period: Duration::ZERO,
        };
        let mut chan = super::link::Channel::new(ts, policy);
        let mut out = Vec::new();
        chan.seal(
            &Wire::Hello {
                room: room.to_string(),
                after: 0,
            },
            &mut out,
        )?;
        chan.seal(
            &Wire::Say {
                cid: 0,
                sent_us: super::link::now_us(),
                text: format!("(forged by the man in the middle as {name})"),
            },
            &mut out,
        )?;
        s.write_all(&out).await?;
        let (mut read, mut buf) = (0u64, Vec::new());
        loop {
            if !read_frame(&mut s, &mut buf).await? {
                anyhow::bail!("server closed");
            }
            let Ok(msgs) = chan.open_all(&mut buf) else {
                anyhow::bail!("decryption failed");
            };
            for msg in msgs {
                match msg {
                    Wire::Msg(_) => read += 1,
                    Wire::Ack { id, .. } => return anyhow::Ok((id, read)),
                    _ => {}
                }
            }
        }
    })
    .await;
    match r {
        Ok(Ok((id, read))) => json!({"accepted": true, "forged_id": id, "history_read": read}),
        Ok(Err(e)) => json!({"accepted": false, "error": e.to_string()}),
        Err(_) => json!({"accepted": false, "error": "timeout"}),
    }
}

/// Forged connections while `inject`/`replay` are on: an unknown name, a low-order point, a
/// wrong-length message 1, a replayed handshake followed by a replayed transport frame.
async fn side_attacks(p: Arc<Proxy>, server: SocketAddr) {
    loop {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let m = *g(&p.mode);
        let known = g(&p.captures).back().cloned();
        if m.inject {
            let mut junk = vec![0u8; 48];
            rand::rng().fill_bytes(&mut junk);
            let _ = forged(server, "mallory", &[&junk]).await;
            p.count("forged_unknown");
            if let Some(c) = &known {
                let mut low = vec![0u8; 48];
                rand::rng().fill_bytes(&mut low[32..]);
                let _ = forged(server, &c.name, &[&low]).await;
                let _ = forged(server, &c.name, &[&junk[..20]]).await;
                p.count("forged_handshake");
            }
        }
        if m.replay
            && let Some(c) = &known
            && let Some(t) = c.c2s.first()
        {
            let _ = forged(server, &c.name, &[&c.msg1, t]).await;
            p.count("replayed_session");
        }
    }
}

async fn forged(server: SocketAddr, name: &str, frames: &[&[u8]]) -> std::io::Result<()> {
    tokio::time::timeout(Duration::from_secs(3), async {
        let mut s = TcpStream::connect(server).await?;
        write_frame(&mut s, name.as_bytes()).await?;
        for (i, f) in frames.iter().enumerate() {
            write_frame(&mut s, f).await?;
            if i == 0 && frames.len() > 1 {
                let mut buf = Vec::new();
                read_frame(&mut s, &mut buf).await?;
            }
        }
        let mut buf = Vec::new();
        let _ = read_frame(&mut s, &mut buf).await;
        Ok(())
    })
    .await
    .unwrap_or(Ok(()))
}

async fn relay(p: Arc<Proxy>, client: TcpStream, server: TcpStream) {
    for s in [&client, &server] {
        let _ = s.set_nodelay(true);
        // A cut is a reset (RST), not a polite close.
        #[allow(deprecated)]
        let _ = s.set_linger(Some(Duration::ZERO));
    }
    let id = p.next.fetch_add(1, Ordering::Relaxed);
    let cancel = CancellationToken::new();
    g(&p.conns).insert(id, cancel.clone());
    let cap = Arc::new(Mutex::new(Capture::default()));
    g(&p.live).insert(id, cap.clone());
    let (cr, cw) = client.into_split();
    let (sr, sw) = server.into_split();
    tokio::select! {
        _ = pump(&p, cr, sw, true, &cap) => {}
        _ = pump(&p, sr, cw, false, &cap) => {}
        _ = cancel.cancelled() => {}
    }
    g(&p.conns).remove(&id);
    g(&p.live).remove(&id);
    let c = g(&cap).clone();
    if !c.msg1.is_empty() && !c.msg2.is_empty() && !c.c2s.is_empty() {
        let mut caps = g(&p.captures);
        if caps.len() == CAPTURES {
            caps.pop_front();
        }
        caps.push_back(c);
    }
}

async fn pump(
    p: &Proxy,
    rd: tokio::net::tcp::OwnedReadHalf,
    mut wr: tokio::net::tcp::OwnedWriteHalf,
    up: bool,
    cap: &Mutex<Capture>,
) {
    let mut rd = tokio::io::BufReader::new(rd);
    let mut buf = Vec::new();
    let mut held: Option<Vec<u8>> = None;
    let mut n = 0usize;
    while let Ok(true) = read_frame(&mut rd, &mut buf).await {
        p.frames.fetch_add(1, Ordering::Relaxed);
        {
            let mut c = g(cap);
            match (up, n) {
                (true, 0) => c.name = String::from_utf8_lossy(&buf).into_owned(),
                (true, 1) => c.msg1 = buf.clone(),
                (false, 0) => c.msg2 = buf.clone(),
                (true, _) if c.c2s.len() < 4 => c.c2s.push(buf.clone()),
                _ => {}
            }
        }
        n += 1;
        if up && n > 2 {
            let mut r = g(&p.recorded);
            if r.len() == 64 {
                r.pop_front();
            }
            r.push_back(buf.clone());
        }
        let m = *g(&p.mode);
        if m.delay_ms > 0 {
            tokio::time::sleep(Duration::from_millis(m.delay_ms)).await;
            p.count("delay");
        }
        let (mut out, mut frame) = (Vec::new(), buf.clone());
        let hit = |on: bool| on && rand::rng().random_range(0..100) < m.rate_pct;
        if m.drop_pct > 0 && rand::rng().random_range(0..100) < m.drop_pct {
            p.count("drop");
            continue;
        }
        if hit(m.tamper) && !frame.is_empty() {
            let bit = rand::rng().random_range(0..frame.len() * 8);
            frame[bit / 8] ^= 1 << (bit % 8);
            p.count("tamper");
        }
        if hit(m.inject) {
            let mut junk = vec![0u8; rand::rng().random_range(16..96)];
            rand::rng().fill_bytes(&mut junk);
            let _ = encode_frame(&junk, &mut out);
            p.count("inject");
        }
        if up && hit(m.replay) {
            let old = {
                let r = g(&p.recorded);
                (!r.is_empty()).then(|| r[rand::rng().random_range(0..r.len())].clone())
            };
            if let Some(old) = old {
                let _ = encode_frame(&old, &mut out);
                p.count("replay");
            }
        }
        if held.is_none() && hit(m.reorder) {
            held = Some(frame);
            p.count("reorder");
        } else {
            let _ = encode_frame(&frame, &mut out);
            if hit(m.duplicate) {
                let _ = encode_frame(&frame, &mut out);
                p.count("duplicate");
            }
            if let Some(h) = held.take() {
                let _ = encode_frame(&h, &mut out);
            }
        }
        if wr.write_all(&out).await.is_err() {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_add_up_and_describe_themselves() {
        let mut m = Mode::default();
        assert_eq!(m.describe(), "pass-through");
        m.drop_pct = 10;
        m.reorder = true;
        m.duplicate = true;
        m.delay_ms = 50;
        assert_eq!(m.describe(), "drop 10% + reorder + duplicate + delay 50ms");
    }

    #[tokio::test]
    async fn unknown_actions_and_bad_leaks_are_refused_without_changing_the_mode() {
        let p = Proxy::default();
        let server: SocketAddr = "127.0.0.1:9".parse().unwrap();
        assert!(act(&p, server, "explode", &Value::Null).await.is_err());
        let bad = json!({"name": "c1", "psk": "zz"});
        assert!(act(&p, server, "leak-psk", &bad).await.is_err());
        assert_eq!(*g(&p.mode), Mode::default());
        act(&p, server, "drop", &json!({"pct": 250})).await.unwrap();
        assert_eq!(g(&p.mode).drop_pct, 100);
        act(&p, server, "clear", &Value::Null).await.unwrap();
        assert_eq!(g(&p.mode).drop_pct, 0);
    }
}
