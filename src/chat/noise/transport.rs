//! The transport phase after `Split()`: one [`CipherState`] per direction.
//!
//! Every transport message is `ENCRYPT(k, n, "", payload)` = ciphertext ‖ 16-byte tag, with
//! an implicit counter nonce. Over TCP (in-order, reliable) nothing else is needed: a dropped,
//! duplicated, reordered or modified message fails authentication, and the caller should then
//! close the connection (the state itself stays usable only because a failed decryption does
//! not advance the nonce).
//!
//! ## Rekey hooks
//!
//! Noise leaves *when* to rekey to the application (§11.3); this type offers two hooks:
//!
//! * explicit: [`TransportState::rekey_outgoing`] / [`TransportState::rekey_incoming`]. The
//!   chat protocol can signal a rekey in-band (e.g. a "rekey" control message, after which the
//!   sender rekeys its outgoing key and the receiver, having read it, its incoming key);
//! * automatic: [`TransportState::set_rekey_interval`] rekeys a direction after every `N`
//!   messages in that direction. Both peers must configure the same `N`; no signalling needed.
//!
//! Rekeying bounds how much traffic one key protects and erases old keys (a state captured
//! later cannot decrypt messages sent before the last rekey). It does not reset the nonce: a
//! session ends after 2^64-1 messages in one direction with [`NoiseError::NonceExhausted`].

use std::fmt;
use std::num::NonZeroU64;

use super::cipher::CipherState;
use super::error::NoiseError;
use super::{DH_LEN, HASH_LEN, MAX_MESSAGE_LEN, TAG_LEN};

/// Largest payload of one transport message (65535 − 16).
pub const MAX_TRANSPORT_PAYLOAD: usize = MAX_MESSAGE_LEN - TAG_LEN;

/// The established session: send and receive cipher states plus the handshake hash.
pub struct TransportState {
    send: CipherState,
    recv: CipherState,
    handshake_hash: [u8; HASH_LEN],
    initiator: bool,
    remote_static: Option<[u8; DH_LEN]>,
    rekey_interval: Option<NonZeroU64>,
}

impl fmt::Debug for TransportState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TransportState")
            .field("initiator", &self.initiator)
            .field("send", &self.send)
            .field("recv", &self.recv)
            .field("rekey_interval", &self.rekey_interval)
            .finish_non_exhaustive()
    }
}

impl TransportState {
    pub(super) fn new(
        send: CipherState,
        recv: CipherState,
        handshake_hash: [u8; HASH_LEN],
        initiator: bool,
        remote_static: Option<[u8; DH_LEN]>,
    ) -> Self {
        Self {
            send,
            recv,
            handshake_hash,
            initiator,
            remote_static,
            rekey_interval: None,
        }
    }

    /// Encrypts one transport message (payload at most [`MAX_TRANSPORT_PAYLOAD`] bytes).
    pub fn write_message(&mut self, payload: &[u8]) -> Result<Vec<u8>, NoiseError> {
        if payload.len() > MAX_TRANSPORT_PAYLOAD {
            return Err(NoiseError::MessageTooLong {
                len: payload.len() + TAG_LEN,
                max: MAX_MESSAGE_LEN,
            });
        }
        let out = self.send.encrypt_with_ad(&[], payload)?;
        if due(self.rekey_interval, self.send.nonce()) {
            self.send.rekey()?;
        }
        Ok(out)
    }

    /// [`Self::write_message`] appending the message to `out` (no allocation when `out` has
    /// room); on an error `out` is as it was.
    pub fn write_message_into(
        &mut self,
        payload: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), NoiseError> {
        if payload.len() > MAX_TRANSPORT_PAYLOAD {
            return Err(NoiseError::MessageTooLong {
                len: payload.len() + TAG_LEN,
                max: MAX_MESSAGE_LEN,
            });
        }
        self.send.encrypt_into(&[], payload, out)?;
        if due(self.rekey_interval, self.send.nonce()) {
            self.send.rekey()?;
        }
        Ok(())
    }

    /// [`Self::read_message`] in place: the plaintext's length, at the start of `message`.
    pub fn read_message_in_place(&mut self, message: &mut [u8]) -> Result<usize, NoiseError> {
        if message.len() > MAX_MESSAGE_LEN {
            return Err(NoiseError::MessageTooLong {
                len: message.len(),
                max: MAX_MESSAGE_LEN,
            });
        }
        if message.len() < TAG_LEN {
            return Err(NoiseError::MessageTooShort {
                len: message.len(),
                min: TAG_LEN,
            });
        }
        let len = self.recv.decrypt_in_place(&[], message)?;
        if due(self.rekey_interval, self.recv.nonce()) {
            self.recv.rekey()?;
        }
        Ok(len)
    }

    /// Authenticates and decrypts one transport message.
    pub fn read_message(&mut self, message: &[u8]) -> Result<Vec<u8>, NoiseError> {
        if message.len() > MAX_MESSAGE_LEN {
            return Err(NoiseError::MessageTooLong {
                len: message.len(),
                max: MAX_MESSAGE_LEN,
            });
        }
        if message.len() < TAG_LEN {
            return Err(NoiseError::MessageTooShort {
                len: message.len(),
                min: TAG_LEN,
            });
        }
        let out = self.recv.decrypt_with_ad(&[], message)?;
        if due(self.rekey_interval, self.recv.nonce()) {
            self.recv.rekey()?;
        }
        Ok(out)
    }

    /// Replaces the sending key with `REKEY(k)`; the peer must call
    /// [`Self::rekey_incoming`] at the same point in the message stream.
    pub fn rekey_outgoing(&mut self) -> Result<(), NoiseError> {
        self.send.rekey()
    }

    /// Replaces the receiving key with `REKEY(k)`, mirroring the peer's `rekey_outgoing`.
    pub fn rekey_incoming(&mut self) -> Result<(), NoiseError> {
        self.recv.rekey()
    }

    /// Rekey each direction automatically after every `every` messages in it (`None`: only
    /// explicit rekeys). Both peers must use the same setting from the same point on.
    pub fn set_rekey_interval(&mut self, every: Option<NonZeroU64>) {
        self.rekey_interval = every;
    }

    /// Messages sent so far (the next sending nonce).
    pub fn sending_nonce(&self) -> u64 {
        self.send.nonce()
    }

    /// Messages received so far (the next receiving nonce).
    pub fn receiving_nonce(&self) -> u64 {
        self.recv.nonce()
    }

    /// The handshake hash, equal on both sides: a session identifier for channel binding.
    pub fn handshake_hash(&self) -> [u8; HASH_LEN] {
        self.handshake_hash
    }

    /// Whether we were the handshake initiator.
    pub fn is_initiator(&self) -> bool {
        self.initiator
    }

    /// The peer's static key (KK/XX patterns; `None` for NN and NNpsk0).
    pub fn remote_static(&self) -> Option<[u8; DH_LEN]> {
        self.remote_static
    }
}

fn due(interval: Option<NonZeroU64>, nonce: u64) -> bool {
    interval.is_some_and(|every| nonce.is_multiple_of(every.get()))
}
