//! wirelab: a systems portfolio you can run and break, in the terminal.
//!
//! # Layout
//! - [`wire`]: length-prefixed framing with bounded reads, a small binary codec, and the fault
//!   filter (partitions, drops, delays) every inter-node frame passes through.
//! - [`cluster`]: the lab-agnostic supervisor: spawns node processes, streams their JSON-line
//!   events, kills/pauses/restarts them with real signals, samples /proc, keeps `cluster.json`
//!   and a control socket in the run dir.
//! - [`check`]: the linearizability checker (Wing–Gong–Lowe search, as in Porcupine) and the
//!   histories (wirelab JSON lines, Jepsen register logs, EDN); [`check_cli`] is `wirelab check`.
//! - [`cli`]: the top-level command line (the fixed commands, plus one per registered lab).
//! - [`raft`]: the Raft KV store: the deterministic core, durable log storage, the node runtime,
//!   the client, and the bench and chaos commands.
//! - [`forge`]: the HTTP/1.1 framework (strict parser, radix router, middleware, static files,
//!   WebSocket, SSE, TLS) behind `wirelab forge serve`.
//! - [`lab`]: the lab contract ([`lab::Lab`]) every system implements, and what is built on it
//!   once for all labs: the common verbs, the in-process host, the shell's lab builtins and
//!   completion, the scenario scripts.
//! - [`registry`]: the one list of the labs; everything that enumerates labs reads it.
//! - [`pingpong`]: a two-node lab used only by the tests, to prove a lab is one folder and
//!   one registry line.
//! - [`kdc`]: the KDC triad: Kerberos-shaped exchanges under FROST(Ed25519) 2-of-3 threshold
//!   signing, with a distributed key generation, share refresh and the attacks.
//! - [`chat`]: the secure multi-client lab: a Noise NNpsk0 server with durable rooms, client
//!   bots and a man-in-the-middle proxy.
//! - [`uav`]: the drone-fleet lab: mission control and drones over an ElGamal/Schnorr handshake
//!   in RFC 3526 group 14, AES-GCM records, a rotating fleet key, and signed MAVLink 2.
//! - [`secret`]: the one-time secret courier: client-side AES-256-GCM with the key in the
//!   link's fragment, an fsynced embedded store or Redis, a link-scanner bot and an attacker.
//! - [`portfolio`]: the portfolio content (`assets/portfolio.toml`) and claims vs measured.
//! - [`tui`]: the explorer, one dashboard per lab and the tour (ratatui).
//! - [`shell`]: the wirelab shell, a POSIX `sh` with job control and a line editor; the one
//!   command language of the product, extended with lab builtins.

#![deny(missing_docs)]

pub mod chat;
pub mod check;
pub mod check_cli;
pub mod cli;
pub mod cluster;
pub mod forge;
pub mod kdc;
pub mod lab;
pub mod p2p;
pub mod pingpong;
pub mod portfolio;
pub mod raft;
pub mod registry;
pub mod secret;
pub mod shell;
pub mod tui;
pub mod uav;
pub mod wire;

/// An error and its causes on one line, `outer: cause: root`, like anyhow's `{:#}` but without
/// repeating a cause that an outer message already quotes (many error types print their
/// source in their own message as well as returning it from `source()`).
pub fn error_chain(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if line.ends_with(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

#[cfg(test)]
mod tests {
    #[test]
    fn error_chain_quotes_each_cause_once() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "No such file");
        #[derive(Debug, thiserror::Error)]
        #[error("a.torrent: {0}")]
        struct Quoting(#[source] std::io::Error);
        let e = anyhow::Error::new(Quoting(io)).context("loading the torrent");
        assert_eq!(
            super::error_chain(&e),
            "loading the torrent: a.torrent: No such file"
        );
        let plain = anyhow::anyhow!("root").context("outer");
        assert_eq!(super::error_chain(&plain), "outer: root");
    }
}
