//! The drone fleet: the portfolio's "secure UAV command & control", as wirelab implements it.
//!
//! The link-security core: a secure command link between mission control (MC) and its drones;
//! and the lab built on it: mission control and drone processes, the flight model, MAVLink 2
//! for ground stations, the attacks and the bench.
//!
//! - [`group`]: the RFC 3526 2048-bit MODP group (id 14), subgroup checks, Schnorr signatures
//!   and ElGamal key transport over num-bigint, with a modexp counter.
//! - [`handshake`]: the three-message mutual-authentication and key-establishment handshake
//!   (`ClientHello`, `DroneHello`, `McFinish`) as two state machines over plain bytes, the drone
//!   registry and the nonce caches; the design and security argument live in its module doc.
//! - [`record`]: AES-256-GCM records with sequence numbers and 64-record replay windows, the
//!   per-drone [`record::Session`], fleet-key delivery and fleet broadcasts with epochs.
//! - [`mavlink`]: MAVLink 2 framing, CRC_EXTRA, and message signing for HEARTBEAT,
//!   SYS_STATUS and GLOBAL_POSITION_INT; interoperates with pymavlink.
//! - [`store`]: key files (0600) and mission control's durable registry.
//! - [`proto`]: the application messages inside the records.
//! - [`flight`]: the vehicle model, missions and failsafes.
//! - [`control`]: the mission-control node; [`gcs`]: its MAVLink face.
//! - [`drone`]: the drone node.
//! - [`lab`]: the lab on the lab contract; [`verbs`]: its own verbs; [`attack`]: the
//!   attacker; [`bench`](mod@bench): `uav bench`.
//!
//! The four core modules are pure computation over bytes: sockets, radios, clocks and
//! randomness are passed in by the caller.
//!
//! ```text
//!   MC                               drone
//!   McHandshake::start ──ClientHello──▶ DroneHandshake::respond
//!   McHandshake::finish ◀──DroneHello──
//!                       ──McFinish───▶ DroneHandshake::finish
//!   Session ◀═══ AES-GCM records (MAVLink frames, fleet key) ═══▶ Session
//!   FleetSender ── broadcast under (epoch, seq) ──▶ FleetReceiver (every drone)
//! ```

pub mod attack;
pub mod bench;
pub mod control;
pub mod drone;
pub mod flight;
pub mod gcs;
pub mod group;
pub mod handshake;
pub mod lab;
pub mod mavlink;
pub mod proto;
pub mod record;
pub mod store;
pub mod verbs;
