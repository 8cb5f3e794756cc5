//! The store behind the server, chosen at `secret up`: the embedded durable log
//! ([`super::embedded`], the default) or a real Redis server ([`super::redis`],
//! `--store redis://HOST:PORT`). Both answer the same calls with the same guarantees: a
//! create is durable (as the store defines it) before it is acknowledged; a claim takes the
//! secret away atomically, so of any number of concurrent claimers exactly one gets it; a
//! metadata lookup never consumes.

use std::path::PathBuf;

use super::embedded::Embedded;
use super::format::ID_LEN;
use super::record::Sealed;
use super::redis::RedisStore;

/// Why a secret is not there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gone {
    /// It was claimed (its last view is used up).
    Opened,
    /// Its TTL ran out.
    Expired,
    /// Never existed, or forgotten (the store keeps a bounded memory of deletions).
    Unknown,
}

impl Gone {
    /// The API's word for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Gone::Opened => "opened",
            Gone::Expired => "expired",
            Gone::Unknown => "unknown",
        }
    }

    /// A sentence for people.
    pub fn message(self) -> &'static str {
        match self {
            Gone::Opened => "already opened: this secret was read and deleted",
            Gone::Expired => "expired: this secret was deleted unread when its time ran out",
            Gone::Unknown => {
                "no such secret: it never existed, or it was opened or expired and is forgotten"
            }
        }
    }
}

/// A lookup's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// The secret (for a claim: with the views left after it).
    Found(Sealed),
    /// Not there, and why.
    Gone(Gone),
}

/// A store failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The embedded log is damaged.
    #[error(
        "secret store {path} is damaged at byte {offset}: {why} (move the file away to start with an empty store; its secrets are then lost)"
    )]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Where.
        offset: u64,
        /// What.
        why: String,
    },
    /// I/O or a broken connection to Redis.
    #[error("{0}")]
    Io(String),
}

/// The server's store.
pub enum Store {
    /// The embedded durable log.
    Embedded(Embedded),
    /// A Redis server.
    Redis(RedisStore),
}

impl Store {
    /// `embedded` or `redis://HOST:PORT`.
    pub fn describe(&self) -> String {
        match self {
            Store::Embedded(e) => format!("embedded ({})", e.path().display()),
            Store::Redis(r) => format!("redis://{}", r.addr()),
        }
    }

    /// `embedded` or `redis`.
    pub fn kind(&self) -> &'static str {
        match self {
            Store::Embedded(_) => "embedded",
            Store::Redis(_) => "redis",
        }
    }

    /// Stores a new secret.
    pub async fn create(&self, id: [u8; ID_LEN], s: Sealed) -> Result<(), StoreError> {
        match self {
            Store::Embedded(e) => e.create(id, s).await,
            Store::Redis(r) => r.create(id, s).await,
        }
    }

    /// Metadata, never consuming.
    pub async fn meta(&self, id: &[u8; ID_LEN], now: u64) -> Result<Lookup, StoreError> {
        match self {
            Store::Embedded(e) => Ok(e.meta(id, now)),
            Store::Redis(r) => r.meta(id).await,
        }
    }

    /// Takes one view, atomically.
    pub async fn claim(&self, id: &[u8; ID_LEN], now: u64) -> Result<Lookup, StoreError> {
        match self {
            Store::Embedded(e) => e.claim(id, now).await,
            Store::Redis(r) => r.claim(id).await,
        }
    }

    /// Deletes expired secrets (Redis expires keys itself: 0).
    pub async fn sweep(&self, now: u64) -> Result<usize, StoreError> {
        match self {
            Store::Embedded(e) => e.sweep(now).await,
            Store::Redis(_) => Ok(0),
        }
    }

    /// Flips one ciphertext byte of a stored secret (the attacker with the server's disk).
    pub async fn tamper(&self, id: &[u8; ID_LEN], byte: usize) -> Result<bool, StoreError> {
        match self {
            Store::Embedded(e) => e.tamper(id, byte).await,
            Store::Redis(r) => r.tamper(id, byte).await,
        }
    }

    /// Everything stored (for `snoop`), at most `limit` secrets.
    pub async fn snapshot(&self, limit: usize) -> Result<Vec<([u8; ID_LEN], Sealed)>, StoreError> {
        match self {
            Store::Embedded(e) => {
                let mut v = e.snapshot();
                v.truncate(limit);
                Ok(v)
            }
            Store::Redis(r) => r.snapshot(limit).await,
        }
    }

    /// The raw bytes the store keeps on disk or in Redis, for `snoop`'s search for keys and
    /// plaintexts (at most `limit` bytes).
    pub async fn raw_bytes(&self, limit: usize) -> Result<Vec<u8>, StoreError> {
        match self {
            Store::Embedded(e) => {
                let mut b = std::fs::read(e.path())
                    .map_err(|err| StoreError::Io(format!("{}: {err}", e.path().display())))?;
                b.truncate(limit);
                Ok(b)
            }
            Store::Redis(r) => {
                let mut out = Vec::new();
                for (id, s) in r.snapshot(4096).await? {
                    out.extend_from_slice(&id);
                    out.extend_from_slice(&s.encode());
                    if out.len() > limit {
                        break;
                    }
                }
                out.truncate(limit);
                Ok(out)
            }
        }
    }

    /// The embedded log's batching counters (Redis: none).
    pub fn log_stats(&self) -> Option<super::embedded::LogStats> {
        match self {
            Store::Embedded(e) => Some(e.log_stats()),
            Store::Redis(_) => None,
        }
    }

    /// Live secrets.
    pub async fn live(&self) -> usize {
        match self {
            Store::Embedded(e) => e.len(),
            Store::Redis(r) => r.live().await.unwrap_or(0),
        }
    }
}
