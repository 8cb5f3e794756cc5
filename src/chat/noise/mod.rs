//! Noise Protocol core of the secure multi-client chat lab, written from the Noise Protocol
//! Framework specification, revision 34 (2018-07-11), with X25519, ChaCha20-Poly1305 and
//! SHA-256 (`Noise_*_25519_ChaChaPoly_SHA256`).
//!
//! The layers follow the spec's objects one to one: [`CipherState`] (§5.1), [`SymmetricState`]
//! (§5.2, with the spec's HMAC-based HKDF, §4.3), [`HandshakeState`] (§5.3) as a state machine
//! that refuses out-of-order calls, and [`TransportState`], the pair of cipher states after
//! `Split()`. All functions work on byte slices; the caller does the I/O.
//!
//! # The pattern: `Noise_NNpsk0_25519_ChaChaPoly_SHA256`
//!
//! Each client is enrolled on the server under a name with its own random 32-byte PSK
//! ([`Psk::generate`]). A connection looks like this (every Noise message is framed on TCP by
//! a 2-byte big-endian length, 0..=65535, which is why Noise caps messages at 65535 bytes):
//!
//! ```text
//!  client (initiator)                                         server (responder)
//!   frame(name)                       ── cleartext preamble ─▶  psk = enrolled[name]
//!   prologue = chat_prologue(name)                              prologue = chat_prologue(name)
//!   -> psk, e   frame(e_i ‖ AEAD(payload₁))            ──────▶  (48..=65535 bytes)
//!   <- e, ee    frame(e_r ‖ AEAD(payload₂))            ◀──────
//!   transport   frame(AEAD(chat data))                 ◀─────▶
//! ```
//!
//! Key schedule (every step also hashes into the transcript `h`, which is the AEAD's
//! associated data): `h = ck = SHA-256(protocol name)`, `MixHash(prologue)`; message 1:
//! `MixKeyAndHash(psk)`, then `e` does `MixHash(e_i)` **and** `MixKey(e_i)` (the §9.2 rule for
//! PSK patterns), so payload₁ is encrypted under a key from the PSK and `e_i`; message 2:
//! `MixHash(e_r)`, `MixKey(e_r)`, `MixKey(DH(e_i, e_r))`; `Split()` derives one key per
//! direction from a chaining key that has absorbed both the PSK and the ephemeral DH.
//!
//! ## What the PSK gives: mutual authentication
//!
//! * The server can decrypt message 1 only if the client used `enrolled[name]`, and only if
//!   both sides hashed the same prologue, i.e. the same name: a man in the middle who rewrites
//!   the cleartext name makes the server pick another PSK *and* another prologue, and message 1
//!   fails. Message 1 proves knowledge of the PSK but not liveness (it can be replayed), so the
//!   server counts the client as authenticated only after the client's first transport
//!   message, whose key depends on the server's fresh `e_r`. Consequence for the chat
//!   protocol: keep payload₁ empty (it is not forward secret, see below) and never act on it
//!   as a fresh command.
//! * The client accepts message 2 only if its tag verifies under a key derived from the PSK
//!   and `DH(e_i, e_r)`: only the server (the other PSK holder) could have produced it, and
//!   freshly, since `e_i` is new. So the client has authenticated a live server after one
//!   round trip.
//! * A client without the PSK is rejected after two HKDFs and one AEAD check, before the
//!   server does any DH or key generation. Unknown names should be answered like known ones
//!   (run the handshake with a throw-away random PSK) so the failure does not reveal which
//!   names are enrolled.
//!
//! ## What the ephemerals give: forward secrecy
//!
//! The transport keys depend on `DH(e_i, e_r)`. Ephemeral private keys live only inside the
//! [`HandshakeState`], which [`HandshakeState::into_transport`] consumes; they are zeroized on
//! drop. A PSK leaked later therefore does not decrypt a recorded earlier session: the
//! attacker can recompute everything up to message 1, but not the `ee` output, which needs a
//! private ephemeral that no longer exists. (Exception: payload₁, encrypted before any DH,
//! is protected by the PSK alone, hence "keep it empty".) Low-order ephemerals, which would
//! force a known all-zero DH output, are rejected ([`NoiseError::InvalidDh`]).
//!
//! ## What a leaked PSK allows
//!
//! The PSK is symmetric, so whoever holds client `alice`'s PSK can, in *new* sessions,
//! impersonate alice to the server, impersonate the server to alice, and hence sit in the
//! middle of alice's new sessions. It reveals payload₁ of recorded sessions but no transport
//! data. Other clients are unaffected (one PSK per client); the remedy is re-enrolling alice
//! with a fresh PSK. A passive observer always learns the client name (cleartext preamble),
//! that a session happened, its timing and message lengths (the chat layer may pad).
//!
//! ## Why NNpsk0 and not KKpsk0
//!
//! The product enrolls exactly one secret per client, a PSK. `KKpsk0` additionally requires
//! a static X25519 keypair per client and the server's static public key on every client;
//! its gain is that a leaked PSK *alone* no longer allows impersonation (the attacker also
//! needs a static private key), and long-term static DHs give authentication even if the PSK
//! is weak. With nothing but PSKs enrolled, KK's statics would have to be distributed through
//! the same channel as the PSK and so add management without an independent secret; the
//! identity still has to travel in clear (the server must know which static to expect), so
//! KK gains no identity hiding either; it costs four DHs per side instead of one. NNpsk0 with
//! a uniformly random 32-byte PSK gives mutual authentication and forward secrecy at the
//! lowest cost. The same interpreter runs `KKpsk0` (and `NN`, `XX`) — [`Pattern::KkPsk0`] with
//! [`Builder::local_static`] / [`Builder::remote_static`] — so the lab can switch if static
//! keys are enrolled later; all four are checked against the cacophony test vectors.
//!
//! ## Rekey policy hooks
//!
//! [`TransportState::rekey_outgoing`] / [`TransportState::rekey_incoming`] apply the spec's
//! `REKEY(k) = ENCRYPT(k, 2^64-1, "", 0^32)[..32]` to one direction, for an in-band
//! "rekey now" control message of the chat protocol; [`TransportState::set_rekey_interval`]
//! rekeys each direction every `N` messages without signalling (both peers must agree on
//! `N`). [`TransportState::sending_nonce`] / [`TransportState::receiving_nonce`] let a policy
//! count messages itself. Rekeying erases old transport keys but never resets the nonce.
//!
//! ## Bounds and errors
//!
//! Every message is at most [`MAX_MESSAGE_LEN`] = 65535 bytes, checked before any state
//! changes ([`NoiseError::MessageTooLong`] / [`NoiseError::MessageTooShort`]); AEAD failures
//! are [`NoiseError::DecryptFailed`]. Nothing here panics on network input. Secrets (keys,
//! chaining key, PSKs, private keys) are zeroized on drop and absent from `Debug` output.

mod cipher;
mod error;
mod handshake;
mod keys;
mod pattern;
mod symmetric;
mod transport;

#[cfg(test)]
mod handshake_tests;
#[cfg(test)]
mod vector_tests;

pub use cipher::{CipherState, MAX_NONCE};
pub use error::{KeyRole, NoiseError, Step};
pub use handshake::{Builder, HandshakeState};
pub use keys::{Keypair, PSK_LEN, Psk};
pub use pattern::{Pattern, Token};
pub use symmetric::SymmetricState;
pub use transport::{MAX_TRANSPORT_PAYLOAD, TransportState};

/// Largest Noise message, handshake or transport (spec §3).
pub const MAX_MESSAGE_LEN: usize = 65535;
/// X25519 public key / DH output length (`DHLEN`).
pub const DH_LEN: usize = 32;
/// SHA-256 output length (`HASHLEN`).
pub const HASH_LEN: usize = 32;
/// Cipher key length.
pub const KEY_LEN: usize = 32;
/// AEAD tag length.
pub const TAG_LEN: usize = 16;

/// The pattern the chat lab uses.
pub const CHAT_PATTERN: Pattern = Pattern::NnPsk0;
/// Label that starts every chat prologue (versions the application protocol).
pub const CHAT_PROLOGUE_LABEL: &[u8] = b"wirelab-chat/noise/v2";
/// Longest client name accepted in the preamble/prologue.
pub const MAX_CLIENT_NAME_LEN: usize = 64;

/// The chat prologue for a client name: `CHAT_PROLOGUE_LABEL ‖ 0x00 ‖ len(name) as u8 ‖ name`.
///
/// Both sides hash it before the first message, binding the cleartext name (and the protocol
/// version) into the handshake: if they disagree, message 1 fails to decrypt.
pub fn chat_prologue(client_name: &str) -> Result<Vec<u8>, NoiseError> {
    let name = client_name.as_bytes();
    if name.is_empty() || name.len() > MAX_CLIENT_NAME_LEN {
        return Err(NoiseError::InvalidClientName {
            len: name.len(),
            max: MAX_CLIENT_NAME_LEN,
        });
    }
    let mut p = Vec::with_capacity(CHAT_PROLOGUE_LABEL.len() + 2 + name.len());
    p.extend_from_slice(CHAT_PROLOGUE_LABEL);
    p.push(0);
    // Bounded by MAX_CLIENT_NAME_LEN (64) above, so the cast cannot truncate.
    p.push(name.len() as u8);
    p.extend_from_slice(name);
    Ok(p)
}

/// Lower-case hex, for `Debug` of public keys and for tests.
fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}
