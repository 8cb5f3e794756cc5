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
//! - [`cli`]: the command-line definitions.
//! - [`raft`]: the Raft KV store: the deterministic core, durable log storage, the node runtime,
//!   the client, and the bench and chaos commands.
//! - [`forge`]: the HTTP/1.1 framework (strict parser, radix router, middleware, static files,
//!   WebSocket, SSE, TLS) behind `wirelab forge serve`.
//! - [`labs`]: clusters hosted by this process and the shell's lab builtins (`raft`, `labs`,
//!   `logs`, `scenario`, `forge`, `p2p`).
//! - [`portfolio`]: the portfolio content (`assets/portfolio.toml`) and claims vs measured.
//! - [`tui`]: the explorer, the lab dashboards (Raft, P2P) and the tour (ratatui).
//! - [`shell`]: the wirelab shell, a POSIX `sh` with job control and a line editor; the one
//!   command language of the product, extended with lab builtins.

pub mod check;
pub mod check_cli;
pub mod cli;
pub mod cluster;
pub mod forge;
pub mod labs;
pub mod p2p;
pub mod portfolio;
pub mod raft;
pub mod shell;
pub mod tui;
pub mod wire;
