//! The service's replay cache, durable like MIT krb5's file rcache: every accepted
//! authenticator's digest and time is appended to `rcache.bin` and `fsync`ed *before* the
//! service answers, so a restarted service still refuses a replay within the skew window.
//!
//! Record: `digest (32) | time_ms u64 BE` (40 bytes). At open, the file is read (bounded),
//! entries older than the skew window dropped, and the survivors rewritten atomically. A
//! truncated last record (a crash mid-append) is ignored. At [`MAX_ENTRIES`] live entries the
//! cache fails closed.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use super::proto::MAX_SKEW_SECS;

/// Most live entries.
pub const MAX_ENTRIES: usize = 200_000;
const RECORD: usize = 40;

/// Why an authenticator is not admitted.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Seen before.
    Replay,
    /// The cache is full of live entries.
    Full,
    /// The disk refused the append.
    Io(String),
}

/// The replay cache.
#[derive(Debug)]
pub struct ReplayCache {
    path: PathBuf,
    file: File,
    seen: HashMap<[u8; 32], u64>,
}

impl ReplayCache {
    /// Opens (or creates) the cache in `dir`, dropping entries older than the skew window.
    pub fn open(dir: &Path, now_ms: u64) -> std::io::Result<ReplayCache> {
        let path = dir.join("rcache.bin");
        let mut seen = HashMap::new();
        if let Ok(f) = File::open(&path) {
            let mut buf = Vec::new();
            f.take((MAX_ENTRIES * RECORD) as u64)
                .read_to_end(&mut buf)?;
            let horizon = now_ms.saturating_sub(MAX_SKEW_SECS * 1000);
            for rec in buf.chunks_exact(RECORD) {
                let mut d = [0u8; 32];
                d.copy_from_slice(&rec[..32]);
                let mut t = [0u8; 8];
                t.copy_from_slice(&rec[32..]);
                let t = u64::from_be_bytes(t);
                if t >= horizon {
                    seen.insert(d, t);
                }
            }
        }
        let mut body = Vec::with_capacity(seen.len() * RECORD);
        for (d, t) in &seen {
            body.extend_from_slice(d);
            body.extend_from_slice(&t.to_be_bytes());
        }
        super::store::write_atomic(&path, &body)?;
        let file = std::fs::OpenOptions::new().append(true).open(&path)?;
        Ok(ReplayCache { path, file, seen })
    }

    /// Admits `digest` (at authenticator time `time_ms`) once, durably; refuses a replay.
    pub fn admit(&mut self, digest: [u8; 32], time_ms: u64, now_ms: u64) -> Result<(), Refusal> {
        if self.seen.contains_key(&digest) {
            return Err(Refusal::Replay);
        }
        if self.seen.len() >= MAX_ENTRIES {
            let horizon = now_ms.saturating_sub(MAX_SKEW_SECS * 1000);
            self.seen.retain(|_, t| *t >= horizon);
            if self.seen.len() >= MAX_ENTRIES {
                return Err(Refusal::Full);
            }
        }
        let mut rec = [0u8; RECORD];
        rec[..32].copy_from_slice(&digest);
        rec[32..].copy_from_slice(&time_ms.to_be_bytes());
        self.file
            .write_all(&rec)
            .and_then(|()| self.file.sync_data())
            .map_err(|e| Refusal::Io(format!("{}: {e}", self.path.display())))?;
        self.seen.insert(digest, time_ms);
        Ok(())
    }

    /// Live entries.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replay_is_refused_even_after_a_restart_and_old_entries_expire() {
        let dir = tempfile::tempdir().unwrap();
        let now = 10_000_000;
        let mut c = ReplayCache::open(dir.path(), now).unwrap();
        c.admit([1; 32], now, now).unwrap();
        assert_eq!(c.admit([1; 32], now, now), Err(Refusal::Replay));
        drop(c);
        let mut c = ReplayCache::open(dir.path(), now + 1000).unwrap();
        assert_eq!(c.admit([1; 32], now, now + 1000), Err(Refusal::Replay));
        c.admit([2; 32], now, now).unwrap();
        drop(c);
        // Past the skew window the entries are dropped.
        let later = now + (MAX_SKEW_SECS + 1) * 1000;
        let c = ReplayCache::open(dir.path(), later).unwrap();
        assert!(c.is_empty());
    }

    #[test]
    fn a_torn_last_record_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let now = 10_000_000;
        let mut c = ReplayCache::open(dir.path(), now).unwrap();
        c.admit([1; 32], now, now).unwrap();
        drop(c);
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(dir.path().join("rcache.bin"))
            .unwrap();
        f.write_all(&[9; 17]).unwrap();
        drop(f);
        let c = ReplayCache::open(dir.path(), now).unwrap();
        assert_eq!(c.len(), 1);
    }
}
