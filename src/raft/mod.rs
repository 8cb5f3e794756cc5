//! The Raft KV lab's consensus layer.
//!
//! # Layout
//! - [`message`]: the vocabulary: log entries, hard state, snapshots, peer messages.
//! - [`core`]: the deterministic Raft state machine (elections with pre-vote and check-quorum,
//!   pipelined replication with fast back-tracking, snapshots, ReadIndex). No I/O: the node
//!   runtime feeds it ticks and messages and carries out its [`core::Ready`]. `core_api.md` in
//!   this directory is the contract between the two.
//! - [`storage`]: one node's durable state in its data dir: a CRC-framed, group-committed log,
//!   the atomically replaced hard state and snapshot files, crash recovery.
//! - [`sim`]: a deterministic simulated cluster (lossy, reordering network; slow disks; crashes)
//!   that checks the Raft safety properties; the core's tests run on it.

pub mod core;
pub mod message;
pub mod sim;
pub mod storage;
