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
//! - [`bench`](mod@bench): handshakes/s, delivery p50/p99, protocol cost over plain TCP.
//! - [`stats`]: latency quantiles.
//!
//! # State events (what a dashboard reads)
//!
//! Every node emits a `state` event each second (and on `report`):
//! - server (node 1): `role: "server"`, `clients: {NAME: {session: idle|established|rekeyed|
//!   broken|revoked, sessions, rekeys, room}}`, `rooms: {ROOM: {last_id, members, last: [the
//!   last 5 messages]}}`, `rejects: {aead, bad_handshake, unknown_client, revoked, protocol}`,
//!   `msgs_total`, `msgs_per_s`, `handshakes`, `connections`, `enrolled`, `revoked`;
//! - proxy (node 2): `role: "mitm"`, `mode` ("drop 10% + reorder" or "pass-through"),
//!   `rate_pct`, `connections`, `frames`, `attacks: {drop, reorder, duplicate, replay, tamper,
//!   inject, cut, forged_unknown, forged_handshake, replayed_session}`, `captures`, `leaked:
//!   {NAME: {impersonation: {accepted, forged_id, history_read}, captures_tried,
//!   msg1_verified_with_psk, captures_decrypted, forward_secrecy_held}}`;
//! - clients (3…): `role: "client"`, `name`, `room`, `session` (handshaking|established|
//!   rekeyed|broken), `last_id`, `sent`, `acked`, `received`, `msgs_per_s`, `p50_ms`,
//!   `p99_ms` (delivery, sender's send to this member's receipt), `reconnects`, `rekeys`,
//!   `rejects` as this client saw them (aead, bad_handshake, refused, timeout, …).
//!
//! The dashboard (`wirelab lab chat`, `crate::tui::chat`) reads these events; the CLI and the
//! shell builtin cover every verb.

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
