//! The two trackers: metadata only (torrents and swarms), replicated without consensus.
//!
//! - [`state`]: the replicated state as idempotent ops, version vectors, snapshots.
//! - [`rpc`]: the client protocol in wirelab frames (hello/session, register, announce, get
//!   peers, report pieces).
//! - [`node`]: a tracker process: RPC listener, replication link to the other tracker,
//!   BEP 3 HTTP announce (compact peers, BEP 23) through forge.
//! - [`client`]: the peers' tracker client: sessions and failover with session replay.

pub mod client;
pub mod http;
pub mod node;
pub mod rpc;
pub mod state;
