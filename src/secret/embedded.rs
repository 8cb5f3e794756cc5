//! The embedded durable store: nothing to install, one append-only log file.
//!
//! Secrets live in memory (a map behind a mutex) and in `secrets.log`: a header, then records
//! `u32 length | u32 CRC32 | op (1 put, 2 delete) | id [16] | sealed record (puts)`, appended by
//! one writer thread that batches what concurrent requests hand it into one `write` and one
//! `fdatasync` (group commit). The order of operations is what makes it safe:
//!
//! - create: the put is appended and fsynced, then the secret enters the map, then the create
//!   is acknowledged, so an acknowledged secret survives a SIGKILL;
//! - claim: the secret leaves the map under the lock (exactly one claimer can take it), the
//!   delete is appended and fsynced, and only then is the ciphertext returned. A crash before
//!   the fsync leaves the secret on disk, never returned; a crash after it loses a secret that
//!   was never delivered, rather than ever serving one twice.
//!
//! The file is preallocated: records are written in place over zeros that were written (and
//! fsynced) ahead of them, in steps of a few MiB. An `fdatasync` of an append that allocates
//! blocks and grows the file commits the filesystem's journal (ext4: 0.7 ms for a 5 KB batch on
//! this project's machine); an overwrite inside the file only flushes its data (0.3 ms). The
//! writer is a two-stage pipeline: while one batch's `fdatasync` runs, the next batch
//! accumulates in the queue, and is written and fsynced as soon as the previous one returns.
//!
//! Recovery replays the log up to the zeros after the last record. A torn tail is dropped: a
//! record cut short at the end of the file, a bad checksum on the very last record, or, since
//! only the last batch can be half-written, a bad record followed by a page that was never
//! written (an aligned all-zero sector) within one batch's size of the end of the data. Any
//! other bad record, or a bad header, stops the start with an error naming the file and the
//! offset. The live secrets are then rewritten into a fresh log (temp file, fsync, rename,
//! directory fsync), which also happens while running whenever the log has grown to four times
//! the live data.

use std::collections::{HashMap, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, mpsc};

use super::format::ID_LEN;
use super::record::{HEADER_LEN, Sealed};
use super::store::{Gone, Lookup, StoreError};
use crate::secret::format::MAX_CIPHERTEXT;

/// The log's file name in the data dir.
pub const LOG_FILE: &str = "secrets.log";
/// The first bytes of a log.
const MAGIC: &[u8; 8] = b"WLSECRT1";
const OP_PUT: u8 = 1;
const OP_DEL: u8 = 2;
/// Largest record payload.
const MAX_PAYLOAD: usize = 1 + ID_LEN + HEADER_LEN + MAX_CIPHERTEXT;
/// How many deleted ids are remembered (to say "already opened" or "expired").
const TOMBSTONES: usize = 65_536;
/// Most bytes one group commit writes.
const MAX_BATCH_BYTES: usize = 4 << 20;
/// Zeros written after the records of a fresh log.
const INITIAL_PAD: u64 = 1 << 20;
/// How far the file grows (in written zeros) when a batch would not fit.
const GROW: u64 = 4 << 20;
/// The granularity at which a torn write leaves old (zero) bytes.
const SECTOR: usize = 512;
/// Batches written and being fsynced at once (each by its own syncer thread).
const DEPTH: usize = 2;
/// How far past a bad record the half-written batches in flight can reach.
const TORN_WINDOW: usize = DEPTH * (MAX_BATCH_BYTES + MAX_PAYLOAD + 8);

type Id = [u8; ID_LEN];

struct Job {
    bytes: Vec<u8>,
    /// A put enters the map once it is durable.
    put: Option<(Id, Sealed)>,
    done: tokio::sync::oneshot::Sender<Result<(), String>>,
}

#[derive(Default)]
struct Tombstones {
    why: HashMap<Id, Gone>,
    order: VecDeque<Id>,
}

impl Tombstones {
    fn add(&mut self, id: Id, why: Gone) {
        if self.why.insert(id, why).is_none() {
            self.order.push_back(id);
            if self.order.len() > TOMBSTONES
                && let Some(old) = self.order.pop_front()
            {
                self.why.remove(&old);
            }
        }
    }
}

struct Shared {
    map: Mutex<HashMap<Id, Sealed>>,
    tombstones: Mutex<Tombstones>,
    fsyncs: AtomicU64,
    /// Records written (one per create, claim, tamper; a sweep's deletions count as one).
    records: AtomicU64,
    /// Time spent in `fdatasync` (summed over the syncers), in microseconds.
    sync_us: AtomicU64,
    /// The largest batch so far, in records.
    max_batch: AtomicU64,
    log_bytes: AtomicU64,
}

/// The writer's counters: how the group commit batches.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct LogStats {
    /// `fdatasync` calls (one per batch).
    pub fsyncs: u64,
    /// Records written.
    pub records: u64,
    /// Microseconds spent in `fdatasync`, summed over the syncer threads.
    pub sync_us: u64,
    /// The largest batch, in records.
    pub max_batch: u64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The embedded store.
pub struct Embedded {
    shared: Arc<Shared>,
    tx: Mutex<mpsc::Sender<Job>>,
    path: PathBuf,
}

/// What a recovery found.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Recovered {
    /// Live secrets loaded.
    pub live: usize,
    /// Secrets dropped because they had expired while the server was down.
    pub expired: usize,
    /// Bytes of torn tail dropped.
    pub torn_bytes: u64,
}

fn encode_op(op: u8, id: &Id, sealed: Option<&Sealed>) -> Vec<u8> {
    let mut payload =
        Vec::with_capacity(1 + ID_LEN + sealed.map_or(0, |s| s.ciphertext.len() + HEADER_LEN));
    payload.push(op);
    payload.extend_from_slice(id);
    if let Some(s) = sealed {
        s.encode_into(&mut payload);
    }
    let mut out = Vec::with_capacity(8 + payload.len());
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(&crc32fast::hash(&payload).to_be_bytes());
    out.extend_from_slice(&payload);
    out
}

/// Replays a log's bytes into a map; `Err((offset, why))` on damage before the tail.
fn replay(bytes: &[u8]) -> Result<(HashMap<Id, Sealed>, u64), (u64, String)> {
    if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
        return Err((0, "not a wirelab secret log (bad header)".into()));
    }
    let mut map = HashMap::new();
    let mut at = MAGIC.len();
    // The data ends at the last non-zero byte; what follows is preallocated space.
    let data_end = bytes
        .iter()
        .rposition(|b| *b != 0)
        .map_or(MAGIC.len(), |i| i + 1)
        .max(MAGIC.len());
    // A bad record at `at`: a torn last batch (dropped: its bytes are returned), or damage.
    let torn_or = |at: usize, end: usize, why: String| -> Result<u64, (u64, String)> {
        let rest = data_end - at;
        // Nothing written after this record: the very last one (or a cut-short one).
        if end >= data_end {
            return Ok(rest as u64);
        }
        // A half-written last batch: within a batch of the end, with a sector never written.
        let unwritten = || {
            (at.next_multiple_of(SECTOR)..data_end.saturating_sub(SECTOR - 1))
                .step_by(SECTOR)
                .any(|s| bytes[s..s + SECTOR].iter().all(|b| *b == 0))
        };
        if rest <= TORN_WINDOW && (bytes[at..at + 4] == [0; 4] || unwritten()) {
            return Ok(rest as u64);
        }
        Err((at as u64, why))
    };
    while at < data_end {
        let rest = &bytes[at..];
        if rest.len() < 8 {
            return Ok((map, (data_end - at) as u64));
        }
        let len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        let crc = u32::from_be_bytes([rest[4], rest[5], rest[6], rest[7]]);
        if !(1 + ID_LEN..=MAX_PAYLOAD).contains(&len) {
            let end = at + 8 + MAX_PAYLOAD.min(len);
            let torn = torn_or(at, end, format!("record length {len} is impossible"))?;
            return Ok((map, torn));
        }
        if rest.len() < 8 + len {
            return Ok((map, (data_end - at) as u64));
        }
        let payload = &rest[8..8 + len];
        if crc32fast::hash(payload) != crc {
            let torn = torn_or(at, at + 8 + len, "checksum mismatch".into())?;
            return Ok((map, torn));
        }
        let mut id = [0u8; ID_LEN];
        id.copy_from_slice(&payload[1..1 + ID_LEN]);
        match payload[0] {
            OP_PUT => {
                let s = Sealed::decode(&payload[1 + ID_LEN..]).map_err(|e| (at as u64, e))?;
                map.insert(id, s);
            }
            OP_DEL => {
                map.remove(&id);
            }
            op => return Err((at as u64, format!("unknown operation {op}"))),
        }
        at += 8 + len;
    }
    Ok((map, 0))
}

/// Writes `map` as a fresh log at `path` (temp file, fsync, rename, directory fsync), followed
/// by [`INITIAL_PAD`] written zeros; returns the end of its records and its size.
fn rewrite(path: &Path, map: &HashMap<Id, Sealed>) -> std::io::Result<(u64, u64)> {
    let tmp = path.with_extension("log.tmp");
    let mut buf = Vec::with_capacity(MAGIC.len() + map.len() * 128);
    buf.extend_from_slice(MAGIC);
    for (id, s) in map {
        buf.extend_from_slice(&encode_op(OP_PUT, id, Some(s)));
    }
    let end = buf.len() as u64;
    buf.resize(buf.len() + INITIAL_PAD as usize, 0);
    {
        let mut f = File::create(&tmp)?;
        f.write_all(&buf)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        File::open(dir)?.sync_all()?;
    }
    Ok((end, buf.len() as u64))
}

/// Opens the log for writing in place.
fn open_log(path: &Path) -> std::io::Result<File> {
    OpenOptions::new().write(true).open(path)
}

impl Embedded {
    /// Opens (or creates) the store in `dir`: recovery, expiry of what expired meanwhile, a
    /// fresh compacted log, and the writer thread.
    pub fn open(dir: &Path, now: u64) -> Result<(Embedded, Recovered), StoreError> {
        let path = dir.join(LOG_FILE);
        let io = |e: std::io::Error| StoreError::Io(format!("{}: {e}", path.display()));
        std::fs::create_dir_all(dir).map_err(io)?;
        let mut rec = Recovered::default();
        let mut map = HashMap::new();
        match File::open(&path) {
            Ok(mut f) => {
                let size = f.metadata().map_err(io)?.len();
                let cap = 16u64 << 30;
                if size > cap {
                    return Err(StoreError::Corrupt {
                        path: path.clone(),
                        offset: 0,
                        why: format!("{size} bytes is more than a store can hold"),
                    });
                }
                let mut bytes = Vec::with_capacity(size as usize);
                f.read_to_end(&mut bytes).map_err(io)?;
                let (m, torn) = replay(&bytes).map_err(|(offset, why)| StoreError::Corrupt {
                    path: path.clone(),
                    offset,
                    why,
                })?;
                map = m;
                rec.torn_bytes = torn;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(e)),
        }
        let before = map.len();
        map.retain(|_, s| !s.expired(now));
        rec.expired = before - map.len();
        rec.live = map.len();
        let (log_bytes, size) = rewrite(&path, &map).map_err(io)?;
        let file = open_log(&path).map_err(io)?;
        let shared = Arc::new(Shared {
            map: Mutex::new(map),
            tombstones: Mutex::new(Tombstones::default()),
            fsyncs: AtomicU64::new(0),
            records: AtomicU64::new(0),
            sync_us: AtomicU64::new(0),
            max_batch: AtomicU64::new(0),
            log_bytes: AtomicU64::new(log_bytes),
        });
        let (tx, rx) = mpsc::channel();
        let s = shared.clone();
        let p = path.clone();
        std::thread::Builder::new()
            .name("secret-log".into())
            .spawn(move || {
                let log = Log {
                    file: Arc::new(file),
                    end: log_bytes,
                    size,
                };
                writer(log, rx, s, p)
            })
            .map_err(|e| StoreError::Io(format!("cannot start the log writer: {e}")))?;
        Ok((
            Embedded {
                shared,
                tx: Mutex::new(tx),
                path,
            },
            rec,
        ))
    }

    /// The log file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// fdatasync calls so far.
    pub fn fsyncs(&self) -> u64 {
        self.shared.fsyncs.load(Ordering::Relaxed)
    }

    /// How the writer has batched so far.
    pub fn log_stats(&self) -> LogStats {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        LogStats {
            fsyncs: g(&self.shared.fsyncs),
            records: g(&self.shared.records),
            sync_us: g(&self.shared.sync_us),
            max_batch: g(&self.shared.max_batch),
        }
    }

    async fn append(&self, bytes: Vec<u8>, put: Option<(Id, Sealed)>) -> Result<(), StoreError> {
        let (done, rx) = tokio::sync::oneshot::channel();
        lock(&self.tx)
            .send(Job { bytes, put, done })
            .map_err(|_| StoreError::Io("the log writer has stopped".into()))?;
        match rx.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(StoreError::Io(e)),
            Err(_) => Err(StoreError::Io("the log writer has stopped".into())),
        }
    }

    /// Stores a secret; returns once it is on disk.
    pub async fn create(&self, id: Id, sealed: Sealed) -> Result<(), StoreError> {
        let bytes = encode_op(OP_PUT, &id, Some(&sealed));
        self.append(bytes, Some((id, sealed))).await
    }

    /// Metadata of a secret without consuming it.
    pub fn meta(&self, id: &Id, now: u64) -> Lookup {
        match lock(&self.shared.map).get(id) {
            Some(s) if !s.expired(now) => Lookup::Found(s.clone()),
            Some(_) => Lookup::Gone(Gone::Expired),
            None => Lookup::Gone(
                lock(&self.shared.tombstones)
                    .why
                    .get(id)
                    .copied()
                    .unwrap_or(Gone::Unknown),
            ),
        }
    }

    /// Claims one view: the secret (its `views_left` after this claim) once the delete (or the
    /// decrement) is on disk.
    pub async fn claim(&self, id: &Id, now: u64) -> Result<Lookup, StoreError> {
        enum Taken {
            None,
            Expired,
            Some(Sealed, bool),
        }
        let taken = {
            let mut map = lock(&self.shared.map);
            match map.get_mut(id) {
                None => Taken::None,
                Some(s) if s.expired(now) => {
                    map.remove(id);
                    Taken::Expired
                }
                Some(s) if s.views_left > 1 => {
                    s.views_left -= 1;
                    Taken::Some(s.clone(), false)
                }
                Some(_) => match map.remove(id) {
                    Some(s) => Taken::Some(s, true),
                    None => Taken::None,
                },
            }
        };
        let (mut sealed, deleted) = match taken {
            Taken::Some(s, d) => (s, d),
            Taken::Expired => {
                lock(&self.shared.tombstones).add(*id, Gone::Expired);
                self.append(encode_op(OP_DEL, id, None), None).await?;
                return Ok(Lookup::Gone(Gone::Expired));
            }
            Taken::None => {
                return Ok(Lookup::Gone(
                    lock(&self.shared.tombstones)
                        .why
                        .get(id)
                        .copied()
                        .unwrap_or(Gone::Unknown),
                ));
            }
        };
        let bytes = if deleted {
            lock(&self.shared.tombstones).add(*id, Gone::Opened);
            sealed.views_left = 0;
            encode_op(OP_DEL, id, None)
        } else {
            encode_op(OP_PUT, id, Some(&sealed))
        };
        self.append(bytes, None).await?;
        Ok(Lookup::Found(sealed))
    }

    /// Deletes every expired secret; returns how many.
    pub async fn sweep(&self, now: u64) -> Result<usize, StoreError> {
        let gone: Vec<Id> = {
            let mut map = lock(&self.shared.map);
            let ids: Vec<Id> = map
                .iter()
                .filter(|(_, s)| s.expired(now))
                .map(|(id, _)| *id)
                .collect();
            for id in &ids {
                map.remove(id);
            }
            ids
        };
        if gone.is_empty() {
            return Ok(0);
        }
        let mut bytes = Vec::new();
        {
            let mut t = lock(&self.shared.tombstones);
            for id in &gone {
                t.add(*id, Gone::Expired);
                bytes.extend_from_slice(&encode_op(OP_DEL, id, None));
            }
        }
        self.append(bytes, None).await?;
        Ok(gone.len())
    }

    /// The attacker's move: flips one ciphertext byte of a stored secret (persisted).
    pub async fn tamper(&self, id: &Id, byte: usize) -> Result<bool, StoreError> {
        let updated = {
            let mut map = lock(&self.shared.map);
            match map.get_mut(id) {
                Some(s) if !s.ciphertext.is_empty() => {
                    let i = byte % s.ciphertext.len();
                    s.ciphertext[i] ^= 0x01;
                    Some(s.clone())
                }
                _ => None,
            }
        };
        match updated {
            Some(s) => {
                self.append(encode_op(OP_PUT, id, Some(&s)), None).await?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Every live secret (for `snoop`).
    pub fn snapshot(&self) -> Vec<(Id, Sealed)> {
        lock(&self.shared.map)
            .iter()
            .map(|(id, s)| (*id, s.clone()))
            .collect()
    }

    /// Live secrets.
    pub fn len(&self) -> usize {
        lock(&self.shared.map).len()
    }

    /// Whether no secret is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The open log: where the records end, and how far the written zeros reach.
struct Log {
    file: Arc<File>,
    end: u64,
    size: u64,
}

impl Log {
    /// Writes `buf` at the end of the records, first growing the file by written zeros if it
    /// would not fit (the batch's `fdatasync` makes both durable).
    fn write(&mut self, buf: &[u8]) -> std::io::Result<()> {
        let need = self.end + buf.len() as u64;
        if need > self.size {
            let grown = (need + GROW).next_multiple_of(1 << 16);
            let zeros = vec![0u8; (grown - self.size) as usize];
            self.file.write_all_at(&zeros, self.size)?;
            self.size = grown;
        }
        self.file.write_all_at(buf, self.end)?;
        self.end = need;
        Ok(())
    }
}

/// A written batch on its way to `fdatasync` and its acknowledgements.
struct Written {
    seq: u64,
    jobs: Vec<Job>,
    file: Arc<File>,
}

/// The pipeline's state: batches written but not yet acknowledged, and the last one
/// acknowledged (acknowledgements go in order).
#[derive(Default)]
struct Flight {
    in_flight: usize,
    acked: u64,
}

type Gate = Arc<(Mutex<Flight>, Condvar)>;

/// A syncer thread: `fdatasync` of one written batch at a time; then, once every earlier batch
/// is acknowledged, the batch's puts enter the map and its requests are answered.
fn syncer(rx: Arc<Mutex<mpsc::Receiver<Written>>>, gate: Gate, shared: Arc<Shared>, path: PathBuf) {
    loop {
        let next = lock(&rx).recv();
        let Ok(mut w) = next else { return };
        let started = std::time::Instant::now();
        let result = w
            .file
            .sync_data()
            .map_err(|e| format!("{}: {e}", path.display()));
        shared
            .sync_us
            .fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        shared.fsyncs.fetch_add(1, Ordering::Relaxed);
        let (m, cv) = &*gate;
        let mut f = lock(m);
        while f.acked + 1 != w.seq {
            f = cv.wait(f).unwrap_or_else(|p| p.into_inner());
        }
        if result.is_ok() {
            let mut map = lock(&shared.map);
            for j in &mut w.jobs {
                if let Some((id, s)) = j.put.take() {
                    map.insert(id, s);
                }
            }
        }
        for j in w.jobs.drain(..) {
            let _ = j.done.send(result.clone());
        }
        f.acked = w.seq;
        f.in_flight -= 1;
        drop(f);
        cv.notify_all();
    }
}

/// The writer thread: takes what has queued up as one batch whenever fewer than [`DEPTH`]
/// batches are in flight, writes it, and hands it to a syncer; compacts the log when it has
/// grown (with nothing in flight).
fn writer(mut log: Log, rx: mpsc::Receiver<Job>, shared: Arc<Shared>, path: PathBuf) {
    let gate: Gate = Arc::default();
    let (to_sync, from_writer) = mpsc::channel::<Written>();
    let from_writer = Arc::new(Mutex::new(from_writer));
    for i in 0..DEPTH {
        let (from, gate, shared, path) = (
            from_writer.clone(),
            gate.clone(),
            shared.clone(),
            path.clone(),
        );
        if std::thread::Builder::new()
            .name(format!("secret-sync-{i}"))
            .spawn(move || syncer(from, gate, shared, path))
            .is_err()
        {
            // Nothing could be acknowledged: stopping drops the queue, and every request
            // (queued or to come) gets "the log writer has stopped".
            return;
        }
    }
    let (m, cv) = &*gate;
    let wait_until = |ok: &dyn Fn(&Flight) -> bool| {
        let mut f = lock(m);
        while !ok(&f) {
            f = cv.wait(f).unwrap_or_else(|p| p.into_inner());
        }
    };
    let mut seq = 0u64;
    let mut next_check = 0u64;
    let mut buf: Vec<u8> = Vec::new();
    while let Ok(first) = rx.recv() {
        // What queues up while every slot is busy joins this batch.
        wait_until(&|f| f.in_flight < DEPTH);
        let mut batch = vec![first];
        let mut bytes = batch[0].bytes.len();
        while bytes < MAX_BATCH_BYTES {
            match rx.try_recv() {
                Ok(j) => {
                    bytes += j.bytes.len();
                    batch.push(j);
                }
                Err(_) => break,
            }
        }
        buf.clear();
        for j in &batch {
            buf.extend_from_slice(&j.bytes);
        }
        shared
            .records
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        shared
            .max_batch
            .fetch_max(batch.len() as u64, Ordering::Relaxed);
        if let Err(e) = log.write(&buf) {
            let msg = format!("{}: {e}", path.display());
            for j in batch {
                let _ = j.done.send(Err(msg.clone()));
            }
            continue;
        }
        seq += 1;
        lock(m).in_flight += 1;
        let w = Written {
            seq,
            jobs: batch,
            file: log.file.clone(),
        };
        if let Err(mpsc::SendError(w)) = to_sync.send(w) {
            for j in w.jobs {
                let _ = j.done.send(Err("the log syncers have stopped".into()));
            }
            return;
        }
        shared.log_bytes.store(log.end, Ordering::Relaxed);
        // Compaction: the log holds four times what is live (and at least 8 MiB). Counting
        // what is live walks the whole map, so it is done once per MiB the log grows by (or
        // an eighth of the log), not after every batch; and the pipeline is drained only
        // when the log is rewritten.
        if log.end > 8 << 20 && log.end >= next_check {
            let live = || -> u64 {
                lock(&shared.map)
                    .values()
                    .map(|s| (s.ciphertext.len() + HEADER_LEN + 8 + 1 + ID_LEN) as u64)
                    .sum()
            };
            next_check = log.end + (log.end / 8).max(1 << 20);
            if log.end > 4 * live() {
                // The rewrite starts from what every written batch made durable.
                wait_until(&|f| f.in_flight == 0);
                let snapshot = lock(&shared.map).clone();
                if let Ok((end, size)) = rewrite(&path, &snapshot)
                    && let Ok(file) = open_log(&path)
                {
                    log = Log {
                        file: Arc::new(file),
                        end,
                        size,
                    };
                    shared.log_bytes.store(end, Ordering::Relaxed);
                    next_check = 0;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealed(views: u32, expires: u64) -> Sealed {
        Sealed {
            iv: [1; 12],
            ciphertext: vec![5; 33],
            views_left: views,
            passphrase: false,
            created: 10,
            expires,
        }
    }

    #[tokio::test]
    async fn acknowledged_secret_survives_reopen_and_is_served_once() {
        let dir = tempfile::tempdir().unwrap();
        let id = [7u8; 16];
        {
            let (s, _) = Embedded::open(dir.path(), 100).unwrap();
            s.create(id, sealed(1, 1000)).await.unwrap();
        }
        let (s, rec) = Embedded::open(dir.path(), 100).unwrap();
        assert_eq!(rec.live, 1);
        assert!(matches!(s.claim(&id, 100).await.unwrap(), Lookup::Found(_)));
        assert_eq!(s.claim(&id, 100).await.unwrap(), Lookup::Gone(Gone::Opened));
        drop(s);
        let (s, rec) = Embedded::open(dir.path(), 100).unwrap();
        assert_eq!(rec.live, 0);
        assert_eq!(
            s.claim(&id, 100).await.unwrap(),
            Lookup::Gone(Gone::Unknown)
        );
    }

    #[tokio::test]
    async fn views_count_down_and_expired_secrets_are_swept() {
        let dir = tempfile::tempdir().unwrap();
        let (s, _) = Embedded::open(dir.path(), 100).unwrap();
        s.create([1; 16], sealed(2, 1000)).await.unwrap();
        s.create([2; 16], sealed(1, 150)).await.unwrap();
        let Lookup::Found(a) = s.claim(&[1; 16], 100).await.unwrap() else {
            panic!()
        };
        assert_eq!(a.views_left, 1);
        assert!(matches!(
            s.claim(&[1; 16], 100).await.unwrap(),
            Lookup::Found(_)
        ));
        assert_eq!(s.sweep(200).await.unwrap(), 1);
        assert_eq!(s.meta(&[2; 16], 200), Lookup::Gone(Gone::Expired));
        assert!(s.is_empty());
    }

    #[test]
    fn torn_tail_is_dropped_and_damage_before_it_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(LOG_FILE);
        let mut log = MAGIC.to_vec();
        log.extend_from_slice(&encode_op(OP_PUT, &[1; 16], Some(&sealed(1, 1000))));
        let second = encode_op(OP_PUT, &[2; 16], Some(&sealed(1, 1000)));
        let mut torn = log.clone();
        torn.extend_from_slice(&second[..second.len() - 3]);
        std::fs::write(&path, &torn).unwrap();
        let (s, rec) = Embedded::open(dir.path(), 100).unwrap();
        assert_eq!((rec.live, rec.torn_bytes as usize), (1, second.len() - 3));
        drop(s);
        // A flipped byte inside the first of two records: an error, not a guess.
        let mut bad = log.clone();
        bad.extend_from_slice(&second);
        bad[MAGIC.len() + 20] ^= 0xff;
        std::fs::write(&path, &bad).unwrap();
        let e = Embedded::open(dir.path(), 100).err().unwrap().to_string();
        assert!(e.contains(LOG_FILE) && e.contains("damaged"), "{e}");
        std::fs::write(&path, b"garbage!garbage").unwrap();
        let e = Embedded::open(dir.path(), 100).err().unwrap().to_string();
        assert!(e.contains("bad header"), "{e}");
    }

    #[tokio::test]
    async fn concurrent_creates_and_claims_through_the_pipeline_are_all_durable() {
        let dir = tempfile::tempdir().unwrap();
        let (s, _) = Embedded::open(dir.path(), 100).unwrap();
        let s = Arc::new(s);
        let mut tasks = Vec::new();
        for i in 0..200u8 {
            let s = s.clone();
            tasks.push(tokio::spawn(async move {
                s.create([i; 16], sealed(1, 1000)).await.unwrap();
                if i % 2 == 0 {
                    assert!(matches!(
                        s.claim(&[i; 16], 100).await.unwrap(),
                        Lookup::Found(_)
                    ));
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let st = s.log_stats();
        assert_eq!(st.records, 300);
        assert!(st.fsyncs >= 1 && st.fsyncs <= 300, "{st:?}");
        drop(s);
        let (s, rec) = Embedded::open(dir.path(), 100).unwrap();
        assert_eq!(rec.live, 100);
        for i in 0..200u8 {
            assert_eq!(
                s.meta(&[i; 16], 100) == Lookup::Gone(Gone::Unknown),
                i % 2 == 0
            );
        }
    }

    #[test]
    fn a_half_written_last_batch_in_the_preallocated_log_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(LOG_FILE);
        let mut log = MAGIC.to_vec();
        log.extend_from_slice(&encode_op(OP_PUT, &[1; 16], Some(&sealed(1, 1000))));
        let acked = log.len();
        // The last batch: records over two sectors, the first sector never written.
        while log.len() < acked + 3 * SECTOR {
            log.extend_from_slice(&encode_op(OP_PUT, &[2; 16], Some(&sealed(1, 1000))));
        }
        let hole = acked.next_multiple_of(SECTOR);
        log[acked..hole + SECTOR].fill(0);
        log.resize(log.len() + 8192, 0);
        std::fs::write(&path, &log).unwrap();
        let (s, rec) = Embedded::open(dir.path(), 100).unwrap();
        assert_eq!(rec.live, 1);
        assert!(rec.torn_bytes > 0);
        assert!(matches!(s.meta(&[1; 16], 100), Lookup::Found(_)));
        drop(s);
        // Preallocated zeros after the last record are no damage.
        let (_, rec) = Embedded::open(dir.path(), 100).unwrap();
        assert_eq!((rec.live, rec.torn_bytes), (1, 0));
    }

    #[tokio::test]
    async fn the_log_is_compacted_once_it_has_grown_and_keeps_what_is_live() {
        let dir = tempfile::tempdir().unwrap();
        let (s, _) = Embedded::open(dir.path(), 100).unwrap();
        let big = |views| Sealed {
            ciphertext: vec![9; 60_000],
            ..sealed(views, 1000)
        };
        s.create([0xaa; 16], big(1)).await.unwrap();
        for i in 0..160u8 {
            s.create([i; 16], big(1)).await.unwrap();
            assert!(matches!(
                s.claim(&[i; 16], 100).await.unwrap(),
                Lookup::Found(_)
            ));
        }
        let records = s.shared.log_bytes.load(Ordering::Relaxed);
        assert!(records < 4 << 20, "compacted: {records} bytes of records");
        drop(s);
        let (s, rec) = Embedded::open(dir.path(), 100).unwrap();
        assert_eq!(rec.live, 1);
        assert!(matches!(s.meta(&[0xaa; 16], 100), Lookup::Found(_)));
    }
}
