//! The P2P lab: two replicated trackers and a BitTorrent-compatible swarm.
//!
//! The control plane (trackers) holds metadata only; 512 KiB pieces move directly between peers
//! over the BitTorrent peer wire protocol (BEP 3), so stock clients such as aria2c interoperate.
//!
//! - [`bencode`]: strict, bounded bencode.
//! - [`torrent`]: `.torrent` metainfo (512 KiB pieces, SHA-1, announce-list).
//! - [`bitfield`]: piece bitfields.
//! - [`storage`]: the file on disk: positional I/O, streaming verification.
//! - [`tracker`]: the trackers (replicated state, RPC, HTTP announce, client with failover).
//! - [`peer`]: the peer wire protocol, the piece picker, the swarm engine, the lab's peer node.
//! - [`lab`]: `labs/p2p/lab.toml`, the generated file, node specs, launching.
//! - [`cli`]: `wirelab p2p …` and the shell's `p2p` builtin; [`corrupt`]: `p2p corrupt`;
//!   [`wait`]: `p2p wait …` for scripts; [`transfer`]: `share` and `get`; [`bench`](mod@bench):
//!   `wirelab p2p bench`.

pub mod bench;
pub mod bencode;
pub mod bitfield;
pub mod cli;
pub mod corrupt;
pub mod lab;
pub mod peer;
pub mod storage;
pub mod torrent;
pub mod tracker;
pub mod transfer;
pub mod wait;
