//! raft-kv: three processes that behave as one reliable key-value store.
//!
//! A write acknowledged to a client is on the disk of a majority and survives any single
//! failure, SIGKILL at the worst moment included; a restarted node replays its log and catches
//! up by itself (by snapshot when it is too far behind).
//!
//! - [`message`]: entries, hard state, snapshots, peer messages (pure data).
//! - [`core`]: the deterministic Raft state machine (elections with pre-vote and check-quorum,
//!   pipelined replication, ReadIndex, snapshots). No I/O: ticks and messages in, a
//!   [`core::Ready`] out; `core_api.md` in this directory is the contract with the runtime.
//! - [`storage`]: one node's durable log (CRC-framed records, group-committed fdatasync), hard
//!   state and snapshot files, and their recovery.
//! - [`codec`]: the binary protocol between peers and with clients.
//! - [`kv`]: the replicated state machine with exactly-once client sessions.
//! - [`node`]: the node process: event loop, storage thread, peer and client connections.
//! - [`repair`]: `raft repair N`, rebuilding a damaged node from its peers without weakening
//!   safety (a term above every stored one, votes held until it holds the log).
//! - [`gateway`]: each node's HTTP face through [`crate::forge`]: KV over HTTP with 307s to
//!   the leader, `/status`, `/metrics`, `/healthz`.
//! - [`client`]: leader discovery, retries with the same request id, unknown outcomes.
//! - [`sim`]: a deterministic simulated cluster (lossy, reordering network; slow disks;
//!   crashes) that checks the Raft safety properties; the core's tests run on it.
//! - [`lab`]: `labs/raft/lab.toml` and the node specs for the supervisor.
//! - [`cli`], [`bench`](mod@bench), [`chaos`], [`load`], [`nemesis`]: the `wirelab raft …` verbs.

pub mod bench;
pub mod chaos;
pub mod cli;
pub mod client;
pub mod codec;
pub mod core;
pub mod gateway;
pub mod kv;
pub mod lab;
pub mod load;
pub mod message;
pub mod nemesis;
pub mod node;
pub mod repair;
pub mod sim;
pub mod storage;
