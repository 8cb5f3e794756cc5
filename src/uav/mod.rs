//! The drone fleet: the portfolio's "secure UAV command & control", as wirelab implements it.
//!
//! What is here today is the link-security core the lab is built on: a secure command link
//! between mission control (MC) and its drones, carrying MAVLink 2. The lab itself (mission
//! control and drone processes, the flight model, the attacks and the dashboard) is not built
//! yet: `uav` is not a registered lab, and the explorer says so.
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
//!
//! Everything here is pure computation over bytes: sockets, radios, clocks and randomness are
//! passed in by the caller.
//!
//! ```text
//!   MC                               drone
//!   McHandshake::start ──ClientHello──▶ DroneHandshake::respond
//!   McHandshake::finish ◀──DroneHello──
//!                       ──McFinish───▶ DroneHandshake::finish
//!   Session ◀═══ AES-GCM records (MAVLink frames, fleet key) ═══▶ Session
//!   FleetSender ── broadcast under (epoch, seq) ──▶ FleetReceiver (every drone)
//! ```

pub mod group;
pub mod handshake;
pub mod mavlink;
pub mod record;
