//! Typed errors of the Noise core. None of them carries secret material.

use thiserror::Error;

/// The handshake call the state machine was asked to make, or expected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// `write_message`: it is our turn to send.
    Write,
    /// `read_message`: it is the peer's turn to send.
    Read,
}

/// A piece of key material a handshake pattern needs (or must not be given).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyRole {
    /// The pre-shared symmetric key.
    Psk,
    /// Our own static keypair (`s`).
    LocalStatic,
    /// The peer's static public key (`rs`).
    RemoteStatic,
    /// Our ephemeral keypair (`e`).
    LocalEphemeral,
    /// The peer's ephemeral public key (`re`).
    RemoteEphemeral,
}

/// Everything that can go wrong in the Noise core.
///
/// Errors from `read_message` on a [`super::HandshakeState`] poison it (the handshake must be
/// abandoned, as the spec requires); the transport state is never poisoned, but a caller
/// should drop the connection on any [`NoiseError::DecryptFailed`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum NoiseError {
    /// A handshake call came out of turn.
    #[error("handshake call out of order: expected {expected:?}, got {got:?}")]
    OutOfOrder {
        /// The call the pattern expects next.
        expected: Step,
        /// The call that was made.
        got: Step,
    },
    /// All handshake messages were already processed; use the transport state.
    #[error("handshake already finished")]
    HandshakeFinished,
    /// The transport state was requested before the last handshake message.
    #[error("handshake not finished")]
    HandshakeNotFinished,
    /// An earlier step failed mid-message; the handshake state is unusable.
    #[error("handshake state poisoned by an earlier failure")]
    Poisoned,
    /// A message (or the message a payload would produce) exceeds the 65535-byte Noise limit.
    #[error("message of {len} bytes exceeds the limit of {max}")]
    MessageTooLong {
        /// Length of the message (or of the message that would have been produced).
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A message is shorter than the fixed-size fields this step needs.
    #[error("message of {len} bytes is shorter than the {min} bytes this step needs")]
    MessageTooShort {
        /// Length received.
        len: usize,
        /// Minimum for this step.
        min: usize,
    },
    /// AEAD authentication failed: wrong key (e.g. wrong PSK or prologue), tampering,
    /// truncation, reordering or replay.
    #[error("decryption failed")]
    DecryptFailed,
    /// A Diffie-Hellman output was all zero: the peer sent a low-order public key.
    #[error("invalid Diffie-Hellman result (low-order public key)")]
    InvalidDh,
    /// The 64-bit nonce reached the reserved value 2^64-1; the session must end
    /// (rekeying does not reset the nonce).
    #[error("nonce space exhausted")]
    NonceExhausted,
    /// The configuration lacks key material the pattern needs.
    #[error("pattern needs key material {0:?} that was not provided")]
    MissingKey(KeyRole),
    /// The configuration supplies key material the pattern never uses (a likely mix-up).
    #[error("pattern does not use key material {0:?}")]
    UnexpectedKey(KeyRole),
    /// A client name for the chat prologue is empty or too long.
    #[error("client name of {len} bytes is not within 1..={max}")]
    InvalidClientName {
        /// Length given.
        len: usize,
        /// Longest allowed name.
        max: usize,
    },
}
