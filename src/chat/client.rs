//! A chat client node (`wirelab node chat-client`): a bot that chats in one room through the
//! man in the middle, reconnecting after every broken session and resuming from the last id
//! it holds, so it receives each room message exactly once.
//!
//! Durable state in its data dir: its copy of the room log (appended and fdatasynced as
//! messages arrive, in id order, without gaps) and its outbox (the one message in flight,
//! stop-and-wait, kept until acknowledged and retransmitted with the same `cid` after a
//! reconnect). Its key is read from `--key-file` at every connection attempt, so a
//! re-enrolment takes effect at the next one.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Args;
use rand::Rng;
use serde_json::{Map, Value, json};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use super::link::{Channel, RekeyPolicy, Wire, client_handshake, now_us, read_frame};
use super::stats::Latencies;
use super::store::{Outbox, RoomLog, read_key_file};
use crate::cluster::event::{ControlCommand, Emitter, NodeEvent, NodeRuntime, run_node};

/// The role's name.
pub const ROLE: &str = "chat-client";
/// A session that receives nothing for this long is considered dead.
const IDLE_LIMIT: Duration = Duration::from_secs(8);
/// An unacknowledged message older than this breaks the session (the frame was lost).
const ACK_LIMIT: Duration = Duration::from_secs(3);

/// Arguments of `wirelab node chat-client`.
#[derive(Debug, Args)]
pub struct ClientArgs {
    /// Node id.
    #[arg(long)]
    pub id: u64,
    /// Data dir.
    #[arg(long)]
    pub data_dir: PathBuf,
    /// Client name (its identity in the preamble and prologue).
    #[arg(long)]
    pub name: String,
    /// Where to connect (the man in the middle).
    #[arg(long)]
    pub connect: SocketAddr,
    /// The PSK file (hex).
    #[arg(long)]
    pub key_file: PathBuf,
    /// The room to join.
    #[arg(long, default_value = "lobby")]
    pub room: String,
    /// Mean milliseconds between the bot's messages (0: the bot is silent).
    #[arg(long, default_value_t = 1500)]
    pub pace_ms: u64,
    /// Rekey after this many messages per direction.
    #[arg(long, default_value_t = 50)]
    pub rekey_every: u64,
    /// Rekey after this many seconds.
    #[arg(long, default_value_t = 20)]
    pub rekey_secs: u64,
}

#[derive(Default)]
struct Counters {
    session: &'static str,
    last_id: u64,
    sent: u64,
    acked: u64,
    received: u64,
    reconnects: u64,
    rekeys: u64,
    rejects: std::collections::BTreeMap<&'static str, u64>,
    lat: Latencies,
    queue: VecDeque<(u64, String)>,
    acked_tags: VecDeque<(u64, u64)>,
}

/// `wirelab node chat-client`.
pub fn run_cli(a: ClientArgs) -> i32 {
    run_node(NodeRuntime::CurrentThread, |em| main(a, em))
}

async fn main(a: ClientArgs, em: Arc<Emitter>) -> Result<(), String> {
    let log_path = a.data_dir.join(format!("room-{}.log", a.room));
    let (log, entries) =
        RoomLog::open(&log_path).map_err(|e| format!("cannot open {}: {e}", log_path.display()))?;
    let st = Arc::new(Mutex::new(Counters {
        session: "handshaking",
        last_id: entries.len() as u64,
        ..Counters::default()
    }));
    drop(entries);
    let (cmd_tx, cmd_rx) = mpsc::unbounded_channel::<(u64, String)>();
    let report = {
        let st = st.clone();
        let em = em.clone();
        let (name, room) = (a.name.clone(), a.room.clone());
        move || {
            em.emit(&NodeEvent::State {
                fields: state(&st, &name, &room, None),
            })
        }
    };
    let r2 = report.clone();
    let em2 = em.clone();
    crate::cluster::event::watch_stdin(
        move |cmd| match cmd {
            ControlCommand::Report => r2(),
            ControlCommand::Lab { action, args } if action == "say" => {
                let text = args["text"].as_str().unwrap_or("").to_string();
                let tag = args["tag"].as_u64().unwrap_or(0);
                let _ = cmd_tx.send((tag, text));
            }
            ControlCommand::Lab { action, .. } => {
                em2.log("warn", format!("unknown action {action:?}"))
            }
            _ => {}
        },
        |_| {},
    )
    .map_err(|e| e.to_string())?;
    em.emit(&NodeEvent::Ready {
        addr: format!("{}→{}", a.name, a.connect),
        http: None,
    });
    {
        let st = st.clone();
        let em = em.clone();
        let (name, room) = (a.name.clone(), a.room.clone());
        tokio::spawn(async move {
            let mut last = 0u64;
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let now = st.lock().map(|g| g.received).unwrap_or(0);
                let rate = now.saturating_sub(last);
                last = now;
                em.emit(&NodeEvent::State {
                    fields: state(&st, &name, &room, Some(rate)),
                });
            }
        });
    }
    let mut bot = Bot {
        a,
        st,
        log,
        outbox_path: PathBuf::new(),
        outbox: Outbox::default(),
        cmds: cmd_rx,
        em,
        progressed: false,
    };
    bot.outbox_path = bot.a.data_dir.join("outbox.json");
    bot.outbox = Outbox::load(&bot.outbox_path);
    bot.run().await
}

fn state(st: &Mutex<Counters>, name: &str, room: &str, rate: Option<u64>) -> Map<String, Value> {
    let g = st.lock().unwrap_or_else(|p| p.into_inner());
    let mut m = Map::new();
    m.insert("role".into(), json!("client"));
    m.insert("name".into(), json!(name));
    m.insert("room".into(), json!(room));
    m.insert("session".into(), json!(g.session));
    m.insert("last_id".into(), json!(g.last_id));
    m.insert("sent".into(), json!(g.sent));
    m.insert("acked".into(), json!(g.acked));
    m.insert("received".into(), json!(g.received));
    m.insert("reconnects".into(), json!(g.reconnects));
    m.insert("rekeys".into(), json!(g.rekeys));
    m.insert("rejects".into(), json!(g.rejects));
    m.insert("p50_ms".into(), json!(g.lat.quantile_ms(0.50)));
    m.insert("p99_ms".into(), json!(g.lat.quantile_ms(0.99)));
    if let Some(r) = rate {
        m.insert("msgs_per_s".into(), json!(r));
    }
    m.insert("queued".into(), json!(g.queue.len()));
    let tags: Vec<[u64; 2]> = g.acked_tags.iter().map(|&(t, i)| [t, i]).collect();
    m.insert("acked_tags".into(), json!(tags));
    m
}

struct Bot {
    a: ClientArgs,
    st: Arc<Mutex<Counters>>,
    log: RoomLog,
    outbox_path: PathBuf,
    outbox: Outbox,
    cmds: mpsc::UnboundedReceiver<(u64, String)>,
    em: Arc<Emitter>,
    progressed: bool,
}

impl Bot {
    fn set(&self, f: impl FnOnce(&mut Counters)) {
        f(&mut self.st.lock().unwrap_or_else(|p| p.into_inner()));
    }

    fn count(&self, reason: &'static str) {
        self.set(|g| *g.rejects.entry(reason).or_default() += 1);
    }

    async fn run(&mut self) -> Result<(), String> {
        let mut failures = 0u32;
        loop {
            self.set(|g| g.session = "handshaking");
            self.progressed = false;
            let result = self.attempt().await;
            // Back off only while sessions make no progress at all.
            if self.progressed {
                failures = 0;
            }
            match result {
                Ok(()) => failures = 0,
                Err(why) => {
                    self.count(why);
                    failures = (failures + 1).min(5);
                }
            }
            self.set(|g| {
                g.session = "broken";
                g.reconnects += 1;
            });
            let base = 100u64 << failures.min(4);
            let jitter = rand::rng().random_range(0..=base);
            tokio::time::sleep(Duration::from_millis(base + jitter)).await;
        }
    }

    /// One connection: handshake, then the session until it breaks (the reason it broke).
    async fn attempt(&mut self) -> Result<(), &'static str> {
        let Some(psk) = read_key_file(&self.a.key_file) else {
            return Err("no_key");
        };
        let mut s =
            tokio::time::timeout(Duration::from_secs(3), TcpStream::connect(self.a.connect))
                .await
                .map_err(|_| "connect")?
                .map_err(|_| "connect")?;
        let _ = s.set_nodelay(true);
        let ts = match tokio::time::timeout(
            Duration::from_secs(3),
            client_handshake(&mut s, &self.a.name, Some(psk)),
        )
        .await
        {
            Err(_) => return Err("bad_handshake"),
            Ok(Err(super::link::HandshakeError::Noise(_))) => return Err("bad_handshake"),
            Ok(Err(_)) => return Err("refused"),
            Ok(Ok(ts)) => ts,
        };
        let policy = RekeyPolicy {
            every: self.a.rekey_every,
            period: Duration::from_secs(self.a.rekey_secs),
        };
        let mut chan = Channel::new(ts, policy);
        self.set(|g| g.session = "established");
        let (rd, mut wr) = s.into_split();
        let mut rd = tokio::io::BufReader::new(rd);
        let (ftx, mut frx) = mpsc::channel::<Vec<u8>>(256);
        let reader = tokio::spawn(async move {
            let mut buf = Vec::new();
            while let Ok(true) = read_frame(&mut rd, &mut buf).await {
                if ftx.send(std::mem::take(&mut buf)).await.is_err() {
                    break;
                }
            }
        });
        let result = self.session(&mut chan, &mut wr, &mut frx).await;
        reader.abort();
        let _ = wr.shutdown().await;
        result
    }

    async fn session(
        &mut self,
        chan: &mut Channel,
        wr: &mut tokio::net::tcp::OwnedWriteHalf,
        frames: &mut mpsc::Receiver<Vec<u8>>,
    ) -> Result<(), &'static str> {
        let mut out = Vec::new();
        let last_id = self.st.lock().map(|g| g.last_id).unwrap_or(0);
        let hello = Wire::Hello {
            room: self.a.room.clone(),
            after: last_id,
        };
        chan.seal(&hello, &mut out).map_err(|_| "protocol")?;
        let mut sent_at = None;
        if self.outbox.cid > 0 && !self.outbox.acked {
            chan.seal(&self.say(), &mut out).map_err(|_| "protocol")?;
            sent_at = Some(Instant::now());
        }
        wr.write_all(&out).await.map_err(|_| "broken")?;
        let mut last_rx = Instant::now();
        let mut next_bot = self.next_bot();
        let mut tick = tokio::time::interval(Duration::from_millis(50));
        loop {
            tokio::select! {
                f = frames.recv() => {
                    let Some(mut f) = f else { return Err("closed") };
                    last_rx = Instant::now();
                    let opened = chan.open_all(&mut f);
                    self.progressed |= opened.is_ok();
                    let msgs = match opened {
                        Err(super::link::OpenError::Aead) => return Err("aead"),
                        Err(_) => return Err("protocol"),
                        Ok(msgs) => msgs,
                    };
                    if msgs.is_empty() {
                        // A rekey frame.
                        let r = chan.rekeys_in + chan.rekeys_out;
                        self.set(|g| { g.session = "rekeyed"; g.rekeys = g.rekeys.max(r); });
                    }
                    for msg in msgs { match msg {
                        Wire::Msg(e) => self.deliver(e)?,
                        Wire::Ack { cid, id } => {
                            if cid == self.outbox.cid && !self.outbox.acked {
                                self.outbox.acked = true;
                                self.outbox.save(&self.outbox_path).map_err(|_| "disk")?;
                                let tag = self.outbox.tag;
                                sent_at = None;
                                self.set(|g| {
                                    g.acked += 1;
                                    if tag != 0 {
                                        g.acked_tags.push_back((tag, id));
                                        while g.acked_tags.len() > 16 { g.acked_tags.pop_front(); }
                                    }
                                });
                            }
                        }
                        _ => return Err("protocol"),
                    } }
                }
                c = self.cmds.recv() => {
                    if let Some(c) = c { self.set(|g| g.queue.push_back(c)); }
                }
                _ = tick.tick() => {
                    if last_rx.elapsed() > IDLE_LIMIT { return Err("timeout"); }
                    if sent_at.is_some_and(|t: Instant| t.elapsed() > ACK_LIMIT) { return Err("timeout"); }
                    if self.outbox.cid > 0 && !self.outbox.acked { continue; }
                    let queued = self.st.lock().ok().and_then(|mut g| g.queue.pop_front());
                    let (tag, text) = match queued {
                        Some(q) => q,
                        None if self.a.pace_ms > 0 && Instant::now() >= next_bot => {
                            next_bot = self.next_bot();
                            (0, format!("{} says hi #{}", self.a.name, self.outbox.cid + 1))
                        }
                        None => continue,
                    };
                    self.outbox = Outbox { cid: self.outbox.cid + 1, text, sent_us: now_us(), acked: false, tag };
                    self.outbox.save(&self.outbox_path).map_err(|_| "disk")?;
                    out.clear();
                    chan.seal(&self.say(), &mut out).map_err(|_| "protocol")?;
                    wr.write_all(&out).await.map_err(|_| "broken")?;
                    sent_at = Some(Instant::now());
                    self.set(|g| g.sent += 1);
                }
            }
        }
    }

    fn next_bot(&self) -> Instant {
        let pace = self.a.pace_ms.max(1);
        Instant::now() + Duration::from_millis(rand::rng().random_range(pace / 2..=pace * 3 / 2))
    }

    fn say(&self) -> Wire {
        Wire::Say {
            cid: self.outbox.cid,
            sent_us: self.outbox.sent_us,
            text: self.outbox.text.clone(),
        }
    }

    /// Appends the next message of the room; anything else than the next id breaks the
    /// session (a duplicate is ignored and counted).
    fn deliver(&mut self, e: super::store::Entry) -> Result<(), &'static str> {
        let last = self.st.lock().map(|g| g.last_id).unwrap_or(0);
        if e.id <= last {
            self.count("duplicate_ignored");
            return Ok(());
        }
        if e.id != last + 1 {
            self.em
                .log("warn", format!("gap: got id {} after {last}", e.id));
            return Err("protocol");
        }
        self.log
            .append(std::slice::from_ref(&e))
            .map_err(|_| "disk")?;
        let lat = now_us().saturating_sub(e.sent_us);
        self.set(|g| {
            g.last_id = e.id;
            g.received += 1;
            g.lat.record_us(lat);
        });
        Ok(())
    }
}
