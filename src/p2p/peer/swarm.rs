//! One peer's swarm engine: the listener, a task per connection, the tracker announcer.
//!
//! Each connection runs the BEP 3 state machine (choked/interested both ways) with a pipeline
//! of [`PIPELINE`] outstanding 16 KiB requests, fed by the shared [`PiecePicker`]. Blocks are
//! written in place as they arrive (no piece buffer); once a piece's last block is on disk, the
//! piece is SHA-1-verified from disk *before* it counts as held, is announced or served. A piece
//! that fails counts an offence against every peer that contributed to it, and a peer with
//! [`MAX_OFFENCES`] is dropped and refused from then on. Uploads are served with positional reads,
//! one block at a time, straight into the outgoing batch.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{broadcast, watch};

mod announce;

use super::picker::{Block, BlockOutcome, PiecePicker};
use super::wire::{self, MAX_MESSAGE, MAX_REQUEST, Message, WireError};
use crate::p2p::bitfield::Bitfield;
use crate::p2p::storage::{Storage, StorageError};
use crate::p2p::torrent::Torrent;

/// Outstanding block requests per connection.
pub const PIPELINE: usize = 24;
/// Bad pieces a peer may contribute to before it is dropped.
pub const MAX_OFFENCES: u32 = 2;
/// Peers unchoked at once (the basic choker).
pub const MAX_UNCHOKED: usize = 8;
/// Bytes of outgoing messages batched into one write (the batch stops growing once past this).
pub const OUT_BATCH: usize = 32 * 1024;
/// Capacity of a connection's outgoing buffer: a batch plus the one block that may end it, so it
/// never reallocates for 16 KiB requests (a larger request grows it once, then it shrinks back).
const OUT_CAPACITY: usize = OUT_BATCH + wire::BLOCK_LEN as usize + 64;
/// Capacity of a connection's incoming buffer: a 16 KiB block's frame and then some.
const IN_CAPACITY: usize = 2 * wire::BLOCK_LEN as usize;
/// Connections kept at most.
pub const MAX_CONNECTIONS: usize = 40;

/// Why a peer could not start.
#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    /// Disk.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Sockets.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

/// How to run a peer.
#[derive(Clone, Debug)]
pub struct SwarmConfig {
    /// The torrent.
    pub torrent: Arc<Torrent>,
    /// The file on disk.
    pub path: PathBuf,
    /// Where to accept peer-wire connections.
    pub listen: SocketAddr,
    /// Trackers' RPC addresses.
    pub trackers: Vec<SocketAddr>,
    /// Register the torrent with the trackers (the original seeder does).
    pub register: bool,
    /// Pieces in progress at once (bookkeeping only: blocks go straight to disk).
    pub max_active: usize,
    /// Bytes of piece data sent per second over all connections; 0 for unlimited.
    pub upload_limit: u64,
}

/// A token bucket shared by a peer's connections: piece data sent is paid for before the
/// batch carrying it is written, so the peer's upload stays near `rate` bytes per second
/// (bursts of at most a quarter second's worth).
#[derive(Debug)]
struct Throttle {
    rate: f64,
    bucket: Mutex<(f64, Instant)>,
}

impl Throttle {
    fn new(rate: u64) -> Option<Throttle> {
        (rate > 0).then(|| Throttle {
            rate: rate as f64,
            bucket: Mutex::new((0.0, Instant::now())),
        })
    }

    /// Takes `bytes` from the bucket, going into debt if need be, and waits until the debt is
    /// paid back.
    async fn pay(&self, bytes: u64) {
        let wait = {
            let mut b = lock(&self.bucket);
            let now = Instant::now();
            let refill = now.duration_since(b.1).as_secs_f64() * self.rate;
            b.0 = (b.0 + refill).min(self.rate / 4.0) - bytes as f64;
            b.1 = now;
            if b.0 < 0.0 {
                Duration::from_secs_f64(-b.0 / self.rate)
            } else {
                Duration::ZERO
            }
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

/// A snapshot of a peer's progress.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Progress {
    /// Pieces held.
    pub have: u32,
    /// Pieces in the torrent.
    pub pieces: u32,
    /// Bytes of the file.
    pub size: u64,
    /// Payload bytes received.
    pub downloaded: u64,
    /// Payload bytes sent.
    pub uploaded: u64,
    /// Open connections.
    pub peers: usize,
    /// Pieces that failed verification.
    pub bad_pieces: u64,
    /// Peers dropped for bad pieces.
    pub banned: usize,
    /// Node id of the tracker in use.
    pub tracker: Option<u64>,
    /// Tracker failovers so far.
    pub failovers: u64,
    /// The piece map: one char per piece (`#` held, `.` missing), at most 64 wide.
    pub map: String,
}

/// A running peer.
pub struct Swarm {
    torrent: Arc<Torrent>,
    storage: Storage,
    peer_id: [u8; 20],
    advertised: String,
    picker: Mutex<PiecePicker>,
    haves: broadcast::Sender<u32>,
    connected: Mutex<HashSet<[u8; 20]>>,
    dialing: Mutex<HashSet<String>>,
    offences: Mutex<HashMap<[u8; 20], u32>>,
    banned: Mutex<HashSet<[u8; 20]>>,
    unchoked: AtomicUsize,
    downloaded: AtomicU64,
    uploaded: AtomicU64,
    bad_pieces: AtomicU64,
    tracker: AtomicU64,
    failovers: AtomicU64,
    complete: watch::Sender<bool>,
    stopping: AtomicBool,
    throttle: Option<Throttle>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

/// A random peer id in the Azureus style (`-WL0001-` and 12 random bytes).
pub fn new_peer_id() -> [u8; 20] {
    let mut id = [0u8; 20];
    id[..8].copy_from_slice(b"-WL0001-");
    for b in &mut id[8..] {
        *b = rand::random::<u8>() % 26 + b'a';
    }
    id
}

impl Swarm {
    /// Opens the file (re-verifying what is on disk), binds the listener, and starts accepting,
    /// announcing and downloading.
    pub async fn start(cfg: SwarmConfig) -> Result<Arc<Swarm>, PeerError> {
        let storage = Storage::open(&cfg.path, &cfg.torrent)?;
        // Resuming re-verifies every piece on disk; a file that was empty has none to check.
        let have = if storage.is_fresh() {
            Bitfield::new(cfg.torrent.piece_count())
        } else {
            storage.verify_all(&cfg.torrent)?
        };
        let listener = crate::cluster::listen_reserved(cfg.listen).map_err(|e| {
            std::io::Error::new(e.kind(), format!("cannot listen on {}: {e}", cfg.listen))
        })?;
        let local = listener.local_addr()?;
        let done = have.is_complete();
        let swarm = Arc::new(Swarm {
            picker: Mutex::new(PiecePicker::new(&cfg.torrent, have, cfg.max_active)),
            torrent: cfg.torrent.clone(),
            storage,
            peer_id: new_peer_id(),
            advertised: local.to_string(),
            haves: broadcast::channel(1024).0,
            connected: Mutex::new(HashSet::new()),
            dialing: Mutex::new(HashSet::new()),
            offences: Mutex::new(HashMap::new()),
            banned: Mutex::new(HashSet::new()),
            unchoked: AtomicUsize::new(0),
            downloaded: AtomicU64::new(0),
            uploaded: AtomicU64::new(0),
            bad_pieces: AtomicU64::new(0),
            tracker: AtomicU64::new(0),
            failovers: AtomicU64::new(0),
            complete: watch::channel(done).0,
            stopping: AtomicBool::new(false),
            throttle: Throttle::new(cfg.upload_limit),
        });
        let s = swarm.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                if lock(&s.connected).len() >= MAX_CONNECTIONS {
                    continue;
                }
                tokio::spawn(s.clone().connection(stream, false));
            }
        });
        if !cfg.trackers.is_empty() {
            tokio::spawn(swarm.clone().announcer(cfg.trackers, cfg.register));
        }
        Ok(swarm)
    }

    /// The address peers reach this one at.
    pub fn addr(&self) -> &str {
        &self.advertised
    }

    /// Waits until every piece is verified and written.
    pub async fn wait_complete(&self) {
        let mut rx = self.complete.subscribe();
        let _ = rx.wait_for(|c| *c).await;
    }

    /// Flushes the file and tells the trackers this peer leaves.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::Relaxed);
        let _ = self.storage.sync();
    }

    /// Current progress.
    pub fn progress(&self) -> Progress {
        let p = lock(&self.picker);
        let n = self.torrent.piece_count();
        let width = n.clamp(1, 64);
        let map = (0..width)
            .map(|c| {
                let (a, b) = (c * n / width, ((c + 1) * n / width).max(c * n / width + 1));
                let held = (a..b.min(n)).filter(|&i| p.have.get(i)).count() as u32;
                match held {
                    0 => '.',
                    h if h == b.min(n) - a => '#',
                    _ => '+',
                }
            })
            .collect();
        let tracker = self.tracker.load(Ordering::Relaxed);
        Progress {
            have: p.have.count(),
            pieces: n,
            size: self.torrent.length,
            downloaded: self.downloaded.load(Ordering::Relaxed),
            uploaded: self.uploaded.load(Ordering::Relaxed),
            peers: lock(&self.connected).len(),
            bad_pieces: self.bad_pieces.load(Ordering::Relaxed),
            banned: lock(&self.banned).len(),
            tracker: (tracker != 0).then_some(tracker),
            failovers: self.failovers.load(Ordering::Relaxed),
            map,
        }
    }

    /// The held pieces as wire bitfield bytes, and whether the file is complete.
    pub fn have_bytes(&self) -> (Vec<u8>, bool) {
        let p = lock(&self.picker);
        (p.have.as_bytes().to_vec(), p.is_complete())
    }

    async fn connection(self: Arc<Self>, mut stream: TcpStream, outbound: bool) {
        let _ = stream.set_nodelay(true);
        let ih = self.torrent.info_hash;
        let handshake = async {
            if outbound {
                wire::send_handshake(&mut stream, &ih, &self.peer_id).await?;
                wire::read_handshake(&mut stream, &ih).await
            } else {
                let id = wire::read_handshake(&mut stream, &ih).await?;
                wire::send_handshake(&mut stream, &ih, &self.peer_id).await?;
                Ok(id)
            }
        };
        let their_id = match tokio::time::timeout(Duration::from_secs(5), handshake).await {
            Ok(Ok(id)) => id,
            // An MSE attempt or a wrong torrent: close cleanly (the socket drops here).
            _ => return,
        };
        if their_id == self.peer_id
            || lock(&self.banned).contains(&their_id)
            || !lock(&self.connected).insert(their_id)
        {
            return;
        }
        let mut conn = Conn {
            peer_has: Bitfield::new(self.torrent.piece_count()),
            counted: false,
            am_choking: true,
            am_interested: false,
            peer_choking: true,
            peer_interested: false,
            slot: false,
            outstanding: Vec::new(),
            owed: 0,
            id: their_id,
        };
        let _ = self.drive(stream, &mut conn).await;
        // Whatever ended the connection, give back what it held.
        let mut p = lock(&self.picker);
        for b in conn.outstanding.drain(..) {
            p.release(b);
        }
        p.peer_gone(&conn.id);
        if conn.counted {
            p.add_availability(&conn.peer_has, -1);
        }
        drop(p);
        if conn.slot {
            self.unchoked.fetch_sub(1, Ordering::Relaxed);
        }
        lock(&self.connected).remove(&their_id);
    }

    async fn drive(&self, mut stream: TcpStream, c: &mut Conn) -> Result<(), WireError> {
        let result = self.drive_loop(&mut stream, c).await;
        let _ = stream.shutdown().await;
        result
    }

    /// Handles the complete frames at the front of `inbuf` until the outgoing batch is full;
    /// removes what it handled and returns whether complete frames remain.
    fn take_frames(
        &self,
        inbuf: &mut Vec<u8>,
        c: &mut Conn,
        buf: &mut Vec<u8>,
    ) -> Result<bool, WireError> {
        let mut at = 0;
        let mut more = false;
        while let Some(head) = inbuf.get(at..at + 4) {
            let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
            if len > MAX_MESSAGE {
                return Err(WireError::Malformed { id: 0, len });
            }
            let Some(payload) = inbuf.get(at + 4..at + 4 + len) else {
                break;
            };
            if buf.len() >= OUT_BATCH {
                more = true;
                break;
            }
            match payload {
                // A block goes from the socket buffer to the disk without another copy.
                [7, rest @ ..] if rest.len() >= 8 => {
                    let index = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]);
                    let begin = u32::from_be_bytes([rest[4], rest[5], rest[6], rest[7]]);
                    self.on_piece(index, begin, &rest[8..], c)?;
                }
                _ => self.handle(Message::decode(payload)?, c, buf)?,
            }
            at += 4 + len;
        }
        inbuf.drain(..at);
        Ok(more)
    }

    async fn drive_loop(&self, stream: &mut TcpStream, c: &mut Conn) -> Result<(), WireError> {
        let mut buf = Vec::with_capacity(OUT_CAPACITY);
        // Incoming bytes: one 16 KiB block's frame fits; a larger frame (up to MAX_MESSAGE)
        // grows it once, and it shrinks back afterwards.
        let mut inbuf: Vec<u8> = Vec::with_capacity(IN_CAPACITY);
        {
            let p = lock(&self.picker);
            if p.have.count() > 0 {
                Message::Bitfield(p.have.as_bytes().to_vec()).encode_into(&mut buf);
            }
        }
        let mut haves = self.haves.subscribe();
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        let mut last_recv = Instant::now();
        let mut last_send = Instant::now();
        loop {
            // What already arrived is handled before writing, so requests and blocks go out in
            // batches (of at most about OUT_BATCH bytes: memory stays flat under load).
            let more = self.take_frames(&mut inbuf, c, &mut buf)?;
            self.fill(c, &mut buf);
            if !buf.is_empty() {
                if let Some(t) = &self.throttle {
                    t.pay(std::mem::take(&mut c.owed)).await;
                }
                stream.write_all(&buf).await?;
                buf.clear();
                // Outgoing batches are bounded, but do not keep a large one's capacity around.
                buf.shrink_to(OUT_CAPACITY);
                last_send = Instant::now();
            }
            if more {
                continue;
            }
            let want = match inbuf.get(..4) {
                Some(h) => 4 + u32::from_be_bytes([h[0], h[1], h[2], h[3]]) as usize,
                None => 4,
            };
            inbuf.shrink_to(IN_CAPACITY.max(want));
            // Never read into a full buffer: `read_buf` would return 0, which means EOF.
            inbuf.reserve(want.max(inbuf.len() + 1) - inbuf.len());
            tokio::select! {
                r = stream.read_buf(&mut inbuf) => {
                    if r? == 0 {
                        return Ok(());
                    }
                    last_recv = Instant::now();
                }
                h = haves.recv() => match h {
                    Ok(i) => {
                        Message::Have(i).encode_into(&mut buf);
                        while let Ok(i) = haves.try_recv() {
                            Message::Have(i).encode_into(&mut buf);
                        }
                        self.update_interest(c, &mut buf);
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => return Ok(()),
                },
                _ = tick.tick() => {
                    if lock(&self.banned).contains(&c.id) || last_recv.elapsed() > Duration::from_secs(120) {
                        return Ok(());
                    }
                    if last_send.elapsed() > Duration::from_secs(60) {
                        Message::KeepAlive.encode_into(&mut buf);
                    }
                    self.choker(c, &mut buf);
                    let both_seeds = c.peer_has.is_complete() && lock(&self.picker).is_complete();
                    if both_seeds {
                        return Ok(());
                    }
                }
            }
        }
    }

    /// The basic choker: an interested peer is unchoked while fewer than [`MAX_UNCHOKED`] are.
    fn choker(&self, c: &mut Conn, buf: &mut Vec<u8>) {
        if c.peer_interested && c.am_choking {
            let got = self
                .unchoked
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                    (n < MAX_UNCHOKED).then_some(n + 1)
                })
                .is_ok();
            if got {
                c.slot = true;
                c.am_choking = false;
                Message::Unchoke.encode_into(buf);
            }
        } else if !c.peer_interested && !c.am_choking {
            c.am_choking = true;
            if std::mem::take(&mut c.slot) {
                self.unchoked.fetch_sub(1, Ordering::Relaxed);
            }
            Message::Choke.encode_into(buf);
        }
    }

    fn update_interest(&self, c: &mut Conn, buf: &mut Vec<u8>) {
        let p = lock(&self.picker);
        let wants = c.peer_has.ones().any(|i| !p.have.get(i));
        drop(p);
        if wants != c.am_interested {
            c.am_interested = wants;
            let m = if wants {
                Message::Interested
            } else {
                Message::NotInterested
            };
            m.encode_into(buf);
        }
    }

    fn fill(&self, c: &mut Conn, buf: &mut Vec<u8>) {
        let mut p = lock(&self.picker);
        // Endgame duplicates that someone else already delivered: cancel them.
        c.outstanding.retain(|&(index, begin, len)| {
            let wanted = p.still_wanted((index, begin, len));
            if !wanted {
                Message::Cancel { index, begin, len }.encode_into(buf);
            }
            wanted
        });
        if c.peer_choking || !c.am_interested {
            return;
        }
        let mut rng = rand::rng();
        while c.outstanding.len() < PIPELINE {
            let Some(b) = p.pick(&c.id, &c.peer_has, &c.outstanding, &mut rng) else {
                break;
            };
            c.outstanding.push(b);
            Message::Request {
                index: b.0,
                begin: b.1,
                len: b.2,
            }
            .encode_into(buf);
        }
    }

    fn handle(&self, m: Message, c: &mut Conn, buf: &mut Vec<u8>) -> Result<(), WireError> {
        let n = self.torrent.piece_count();
        match m {
            Message::Bitfield(bytes) => {
                let bf = Bitfield::from_bytes(&bytes, n).ok_or(WireError::Malformed {
                    id: 5,
                    len: bytes.len(),
                })?;
                let mut p = lock(&self.picker);
                if c.counted {
                    p.add_availability(&c.peer_has, -1);
                }
                p.add_availability(&bf, 1);
                drop(p);
                c.peer_has = bf;
                c.counted = true;
                self.update_interest(c, buf);
            }
            Message::Have(i) if i < n => {
                if !c.peer_has.get(i) {
                    c.peer_has.set(i);
                    c.counted = true;
                    lock(&self.picker).add_have(i);
                    self.update_interest(c, buf);
                }
            }
            Message::Have(_) => return Err(WireError::Malformed { id: 4, len: 4 }),
            Message::Choke => {
                c.peer_choking = true;
                let mut p = lock(&self.picker);
                c.outstanding.drain(..).for_each(|b| p.release(b));
                // A piece only this peer may send cannot wait for an unchoke that may never
                // come: it starts over with whoever picks it next.
                p.peer_gone(&c.id);
            }
            Message::Unchoke => c.peer_choking = false,
            Message::Interested => {
                c.peer_interested = true;
                self.choker(c, buf);
            }
            Message::NotInterested => {
                c.peer_interested = false;
                self.choker(c, buf);
            }
            Message::Request { index, begin, len } => {
                if len == 0 || len > MAX_REQUEST {
                    return Err(WireError::Malformed { id: 6, len: 12 });
                }
                if c.am_choking || !lock(&self.picker).have.get(index) {
                    return Ok(());
                }
                let start = buf.len();
                wire::encode_piece_header(index, begin, len, buf);
                let at = buf.len();
                buf.resize(at + len as usize, 0);
                if self
                    .storage
                    .read_block(index, begin, &mut buf[at..])
                    .is_err()
                {
                    buf.truncate(start);
                    return Err(WireError::Malformed { id: 6, len: 12 });
                }
                self.uploaded.fetch_add(len as u64, Ordering::Relaxed);
                c.owed += u64::from(len);
            }
            Message::Piece {
                index,
                begin,
                block,
            } => self.on_piece(index, begin, &block, c)?,
            Message::KeepAlive | Message::Cancel { .. } | Message::Other(_) => {}
        }
        Ok(())
    }

    /// A block arrived: written in place under the picker's lock, so a piece is only hashed once
    /// every one of its blocks is on disk. A failed write leaves the block to be asked again.
    fn on_piece(
        &self,
        index: u32,
        begin: u32,
        block: &[u8],
        c: &mut Conn,
    ) -> Result<(), WireError> {
        c.outstanding.retain(|o| !(o.0 == index && o.1 == begin));
        self.downloaded
            .fetch_add(block.len() as u64, Ordering::Relaxed);
        let outcome = lock(&self.picker).on_block(&c.id, index, begin, block, |i, b, d| {
            self.storage.write_block(i, b, d)
        });
        if let Ok(BlockOutcome::Complete) = outcome {
            self.complete_piece(index, c)?;
        }
        Ok(())
    }

    /// Verifies a complete piece by hashing its blocks as they are on disk: only a match makes it
    /// held (and so served and announced); a mismatch blames a sole contributor.
    fn complete_piece(&self, index: u32, c: &mut Conn) -> Result<(), WireError> {
        let Some(piece) = lock(&self.picker).take_complete(index) else {
            return Ok(());
        };
        let hash = match self.storage.hash_piece(&self.torrent, index) {
            Ok(h) => h,
            // Our disk, not the peers' fault: download the piece again, blaming no one.
            Err(_) => {
                let _ = lock(&self.picker).failed(index, &Default::default());
                return Ok(());
            }
        };
        if hash == self.torrent.piece_hashes[index as usize] {
            let mut p = lock(&self.picker);
            p.verified(index);
            let done = p.is_complete();
            drop(p);
            let _ = self.haves.send(index);
            if done {
                let _ = self.storage.sync();
                let _ = self.complete.send(true);
            }
            return Ok(());
        }
        self.bad_pieces.fetch_add(1, Ordering::Relaxed);
        // Blame only a sole contributor: with several, the piece is fetched again from one
        // peer, and the next failure (if any) names the culprit. Blaming all of them would ban
        // an honest peer that sent good blocks of a piece a bad one also contributed to.
        if !lock(&self.picker).failed(index, &piece.contributors) {
            return Ok(());
        }
        let mut off = lock(&self.offences);
        let mut dropped = false;
        for who in &piece.contributors {
            let n = off.entry(*who).or_insert(0);
            *n += 1;
            if *n >= MAX_OFFENCES {
                lock(&self.banned).insert(*who);
                dropped |= *who == c.id;
            }
        }
        if dropped {
            return Err(WireError::Malformed { id: 7, len: 0 });
        }
        Ok(())
    }
}

/// One connection's protocol state.
struct Conn {
    id: [u8; 20],
    peer_has: Bitfield,
    counted: bool,
    am_choking: bool,
    am_interested: bool,
    peer_choking: bool,
    peer_interested: bool,
    slot: bool,
    outstanding: Vec<Block>,
    /// Piece data in the batch being built, to pay the upload throttle for.
    owed: u64,
}

#[cfg(test)]
mod throttle_tests {
    use super::*;

    #[test]
    fn the_throttle_holds_uploads_to_its_rate_and_none_means_unlimited() {
        assert!(Throttle::new(0).is_none());
        let t = Throttle::new(1_000_000).expect("a limit");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime");
        let started = Instant::now();
        rt.block_on(async {
            for _ in 0..6 {
                t.pay(50_000).await;
            }
        });
        // 300 kB at 1 MB/s, starting from an empty bucket: at least 0.3 s.
        assert!(
            started.elapsed() >= Duration::from_millis(290),
            "{:?}",
            started.elapsed()
        );
    }
}
