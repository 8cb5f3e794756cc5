//! Secure multi-client chat: the portfolio's "secure multi-client communication", as a lab.
//!
//! A server with a durable PSK registry and durable per-room message logs, N client bots, and
//! a man in the middle that all client traffic goes through and that the user drives to
//! attack the protocol. Sessions are `Noise_NNpsk0_25519_ChaChaPoly_SHA256` ([`noise`], our
//! own implementation of the Noise framework, revision 34) over TCP with u16-length-prefixed
//! messages, rekeyed in band after a number of messages or a time.
//!
//! - [`noise`]: the protocol core (handshake, transport, rekey; cacophony vectors and Python
//!   `noiseprotocol` interop tests).
//! - [`link`]: framing, the preamble and handshakes, the [`link::Wire`] messages, reject
//!   reasons, the session [`link::Channel`] with its rekey policy.
//! - [`store`]: registry, room logs, key files, outbox: fsync + rename, 0600.
//! - [`server`] and [`node`]: the server and its node (`chat-server`).
//! - [`client`]: the client bot node (`chat-client`): exactly-once delivery across reconnects.
//! - [`mitm`]: the proxy node (`chat-mitm`): attacks, captures, the leaked-PSK demonstration.
//! - [`lab`], [`verbs`], [`check`]: the lab on the lab contract, its verbs, the log check.
//! - [`bench`]: handshakes/s, delivery p50/p99, protocol cost over plain TCP.
//! - [`stats`]: latency quantiles.
//!
//! There is no dashboard yet: `wirelab lab chat` has nothing to show beyond the CLI; every
//! figure a dashboard needs is in the nodes' State events (see each node's module).

pub mod bench;
pub mod check;
pub mod client;
pub mod lab;
pub mod link;
pub mod mitm;
pub mod node;
pub mod noise;
pub mod server;
pub mod stats;
pub mod store;
pub mod verbs;
