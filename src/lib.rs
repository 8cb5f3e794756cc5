//! wirelab: a systems portfolio you can run and break, in the terminal.
//!
//! # Layout
//! - [`wire`]: length-prefixed framing with bounded reads, a small binary codec, and the fault
//!   filter (partitions, drops, delays) every inter-node frame passes through.
//! - [`cluster`]: the lab-agnostic supervisor: spawns node processes, streams their JSON-line
//!   events, kills/pauses/restarts them with real signals, samples /proc, keeps `cluster.json`
//!   and a control socket in the run dir.
//! - [`raft`]: the Raft KV store: the deterministic core, durable log storage, the node runtime,
//!   the client, and the bench and chaos commands.
//! - [`forge`]: the HTTP/1.1 framework (strict parser, radix router, middleware, static files,
//!   WebSocket, SSE, TLS) behind every node's HTTP face and `wirelab forge serve`.

pub mod forge;
