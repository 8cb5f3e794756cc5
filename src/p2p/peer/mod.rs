//! Peers: the BitTorrent peer wire protocol and the swarm engine.
//!
//! - [`args`]: the peer process's command line, read without building clap's whole tree.
//! - [`wire`]: handshake and messages (BEP 3), bounded and panic-free decoding.
//! - [`picker`]: rarest-first piece picking with random first pieces and endgame.
//! - [`swarm`]: listener, connections with pipelined requests, choker, verify-before-holding,
//!   bad-peer bans, and the tracker announcer.

pub mod args;
pub mod node;
pub mod picker;
pub mod swarm;
pub mod wire;
