//! `HandshakeState` (Noise spec rev. 34 §5.3) for any [`Pattern`], plus its [`Builder`].
//!
//! The state machine is driven by the caller, one message at a time, snow style: it knows
//! whose turn it is and answers a call out of turn with [`NoiseError::OutOfOrder`], a call
//! after the last message with [`NoiseError::HandshakeFinished`], and
//! [`HandshakeState::into_transport`] before the end with [`NoiseError::HandshakeNotFinished`].
//! Lengths are checked before any state changes; a failure after that point (bad AEAD tag,
//! low-order DH input) poisons the state, since a half-processed message leaves `h`/`ck`
//! diverged from the peer's and the spec says to abandon the handshake.
//!
//! Token processing follows §5.3 exactly, with the §9.2 PSK rule: in a pattern containing
//! `psk`, processing `e` (sending or receiving) also calls `MixKey(e.public_key)`, so every
//! later encryption depends on both the PSK and the fresh ephemeral.

use std::fmt;

use super::cipher::CipherState;
use super::error::{KeyRole, NoiseError, Step};
use super::keys::{Keypair, Psk};
use super::pattern::{Pattern, Token};
use super::symmetric::SymmetricState;
use super::transport::TransportState;
use super::{DH_LEN, HASH_LEN, MAX_MESSAGE_LEN, TAG_LEN};

/// Configuration of one handshake: pattern, prologue and key material.
///
/// ```
/// # use wirelab::chat::noise::{Builder, Pattern, Psk, chat_prologue};
/// let psk = Psk::generate();
/// let prologue = chat_prologue("alice").unwrap();
/// let mut client = Builder::new(Pattern::NnPsk0)
///     .prologue(&prologue)
///     .psk(psk.clone())
///     .build_initiator()
///     .unwrap();
/// let mut server = Builder::new(Pattern::NnPsk0)
///     .prologue(&prologue)
///     .psk(psk)
///     .build_responder()
///     .unwrap();
/// let m1 = client.write_message(b"").unwrap();
/// server.read_message(&m1).unwrap();
/// let m2 = server.write_message(b"").unwrap();
/// client.read_message(&m2).unwrap();
/// let (mut c, mut s) = (client.into_transport().unwrap(), server.into_transport().unwrap());
/// let wire = c.write_message(b"hi").unwrap();
/// assert_eq!(s.read_message(&wire).unwrap(), b"hi");
/// ```
#[derive(Debug)]
pub struct Builder {
    pattern: Pattern,
    prologue: Vec<u8>,
    psk: Option<Psk>,
    local_static: Option<Keypair>,
    remote_static: Option<[u8; DH_LEN]>,
}

impl Builder {
    /// Starts a configuration for `pattern` with an empty prologue and no keys.
    pub fn new(pattern: Pattern) -> Self {
        Self {
            pattern,
            prologue: Vec::new(),
            psk: None,
            local_static: None,
            remote_static: None,
        }
    }

    /// Data both sides must agree on, hashed into `h` before the first message (the chat
    /// lab puts the client name here, see [`super::chat_prologue`]).
    pub fn prologue(mut self, prologue: &[u8]) -> Self {
        self.prologue = prologue.to_vec();
        self
    }

    /// The pre-shared key (required by `psk` patterns, refused by the others).
    pub fn psk(mut self, psk: Psk) -> Self {
        self.psk = Some(psk);
        self
    }

    /// Our static keypair (required by KK and XX).
    pub fn local_static(mut self, keypair: Keypair) -> Self {
        self.local_static = Some(keypair);
        self
    }

    /// The peer's static public key known in advance (required by KK).
    pub fn remote_static(mut self, public: [u8; DH_LEN]) -> Self {
        self.remote_static = Some(public);
        self
    }

    /// `Initialize(...)` as the initiator.
    pub fn build_initiator(self) -> Result<HandshakeState, NoiseError> {
        HandshakeState::initialize(self, true)
    }

    /// `Initialize(...)` as the responder.
    pub fn build_responder(self) -> Result<HandshakeState, NoiseError> {
        HandshakeState::initialize(self, false)
    }
}

/// A Noise `HandshakeState` in progress. Secrets are zeroized on drop; `Debug` shows only
/// public progress information.
pub struct HandshakeState {
    pattern: Pattern,
    initiator: bool,
    symmetric: SymmetricState,
    s: Option<Keypair>,
    e: Option<Keypair>,
    rs: Option<[u8; DH_LEN]>,
    re: Option<[u8; DH_LEN]>,
    psk: Option<Psk>,
    /// Ephemeral to use instead of a random one (test vectors only).
    #[cfg(test)]
    fixed_ephemeral: Option<Keypair>,
    next_message: usize,
    poisoned: bool,
}

impl fmt::Debug for HandshakeState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HandshakeState")
            .field("pattern", &self.pattern)
            .field("initiator", &self.initiator)
            .field("next_message", &self.next_message)
            .field("poisoned", &self.poisoned)
            .finish_non_exhaustive()
    }
}

/// Bytes a message's tokens add before the payload, and whether the payload is encrypted.
fn token_overhead(tokens: &[Token], mut has_key: bool, has_psk: bool) -> (usize, bool) {
    let mut len = 0;
    for t in tokens {
        match t {
            Token::E => {
                len += DH_LEN;
                has_key |= has_psk;
            }
            Token::S => len += DH_LEN + if has_key { TAG_LEN } else { 0 },
            Token::EE | Token::ES | Token::SE | Token::SS | Token::Psk => has_key = true,
        }
    }
    (len, has_key)
}

impl HandshakeState {
    fn initialize(cfg: Builder, initiator: bool) -> Result<Self, NoiseError> {
        let p = cfg.pattern;
        match (p.has_psk(), cfg.psk.is_some()) {
            (true, false) => return Err(NoiseError::MissingKey(KeyRole::Psk)),
            (false, true) => return Err(NoiseError::UnexpectedKey(KeyRole::Psk)),
            _ => {}
        }
        match (p.needs_local_static(initiator), cfg.local_static.is_some()) {
            (true, false) => return Err(NoiseError::MissingKey(KeyRole::LocalStatic)),
            (false, true) => return Err(NoiseError::UnexpectedKey(KeyRole::LocalStatic)),
            _ => {}
        }
        match (
            p.needs_remote_static(initiator),
            cfg.remote_static.is_some(),
        ) {
            (true, false) => return Err(NoiseError::MissingKey(KeyRole::RemoteStatic)),
            (false, true) => return Err(NoiseError::UnexpectedKey(KeyRole::RemoteStatic)),
            _ => {}
        }

        let mut symmetric = SymmetricState::initialize(p.protocol_name().as_bytes());
        symmetric.mix_hash(&cfg.prologue);
        // Pre-messages: the initiator's first, then the responder's (§7.1); only `s` occurs.
        let (init_pre, resp_pre) = (p.initiator_premessage(), p.responder_premessage());
        let local = (
            cfg.local_static.as_ref().map(|k| *k.public_key()),
            KeyRole::LocalStatic,
        );
        let remote = (cfg.remote_static, KeyRole::RemoteStatic);
        let (init_key, resp_key) = if initiator {
            (local, remote)
        } else {
            (remote, local)
        };
        for (pre, (key, role)) in [(init_pre, init_key), (resp_pre, resp_key)] {
            if pre.contains(&Token::S) {
                symmetric.mix_hash(&key.ok_or(NoiseError::MissingKey(role))?);
            }
        }

        Ok(Self {
            pattern: p,
            initiator,
            symmetric,
            s: cfg.local_static,
            e: None,
            rs: cfg.remote_static,
            re: None,
            psk: cfg.psk,
            #[cfg(test)]
            fixed_ephemeral: None,
            next_message: 0,
            poisoned: false,
        })
    }

    /// Replaces the random ephemeral with a fixed one (test vectors only).
    #[cfg(test)]
    pub(crate) fn set_ephemeral_for_test(&mut self, secret: [u8; DH_LEN]) {
        self.fixed_ephemeral = Some(Keypair::from_secret_bytes(secret));
    }

    fn new_ephemeral(&mut self) -> Keypair {
        #[cfg(test)]
        if let Some(kp) = self.fixed_ephemeral.take() {
            return kp;
        }
        Keypair::generate()
    }

    /// The pattern being run.
    pub fn pattern(&self) -> Pattern {
        self.pattern
    }

    /// Whether we are the initiator.
    pub fn is_initiator(&self) -> bool {
        self.initiator
    }

    /// Whether all handshake messages have been processed.
    pub fn is_finished(&self) -> bool {
        self.next_message >= self.pattern.messages().len()
    }

    /// Whether the next call should be [`Self::write_message`] (else [`Self::read_message`]).
    pub fn is_my_turn(&self) -> bool {
        self.next_message.is_multiple_of(2) == self.initiator
    }

    /// `GetHandshakeHash()`; final (and equal on both sides) once [`Self::is_finished`].
    pub fn handshake_hash(&self) -> [u8; HASH_LEN] {
        self.symmetric.handshake_hash()
    }

    /// The peer's static public key, if the pattern has one and it is known by now.
    pub fn remote_static(&self) -> Option<[u8; DH_LEN]> {
        self.rs
    }

    fn check_turn(&self, got: Step) -> Result<&'static [Token], NoiseError> {
        if self.poisoned {
            return Err(NoiseError::Poisoned);
        }
        let messages = self.pattern.messages();
        let Some(tokens) = messages.get(self.next_message) else {
            return Err(NoiseError::HandshakeFinished);
        };
        let expected = if self.is_my_turn() {
            Step::Write
        } else {
            Step::Read
        };
        if expected != got {
            return Err(NoiseError::OutOfOrder { expected, got });
        }
        Ok(tokens)
    }

    /// `MixKey(DH(..))` for a DH token, choosing keys by role as §5.3 prescribes.
    fn mix_dh(&mut self, token: Token) -> Result<(), NoiseError> {
        let (local, remote, local_role, remote_role) = match (token, self.initiator) {
            (Token::EE, _) => (
                &self.e,
                &self.re,
                KeyRole::LocalEphemeral,
                KeyRole::RemoteEphemeral,
            ),
            (Token::ES, true) | (Token::SE, false) => (
                &self.e,
                &self.rs,
                KeyRole::LocalEphemeral,
                KeyRole::RemoteStatic,
            ),
            (Token::ES, false) | (Token::SE, true) => (
                &self.s,
                &self.re,
                KeyRole::LocalStatic,
                KeyRole::RemoteEphemeral,
            ),
            (Token::SS, _) => (
                &self.s,
                &self.rs,
                KeyRole::LocalStatic,
                KeyRole::RemoteStatic,
            ),
            (Token::E | Token::S | Token::Psk, _) => return Ok(()),
        };
        let local = local.as_ref().ok_or(NoiseError::MissingKey(local_role))?;
        let remote = remote.as_ref().ok_or(NoiseError::MissingKey(remote_role))?;
        let shared = local.dh(remote)?;
        self.symmetric.mix_key(&shared[..]);
        Ok(())
    }

    fn mix_psk(&mut self) -> Result<(), NoiseError> {
        let psk = self
            .psk
            .as_ref()
            .ok_or(NoiseError::MissingKey(KeyRole::Psk))?;
        self.symmetric.mix_key_and_hash(psk.as_bytes());
        Ok(())
    }

    /// `WriteMessage(payload, message_buffer)`: the next handshake message carrying
    /// `payload` (encrypted once a key exists; in `NNpsk0` already in the first message).
    pub fn write_message(&mut self, payload: &[u8]) -> Result<Vec<u8>, NoiseError> {
        let tokens = self.check_turn(Step::Write)?;
        let (overhead, encrypted) =
            token_overhead(tokens, self.symmetric.has_key(), self.pattern.has_psk());
        let total = overhead + payload.len() + if encrypted { TAG_LEN } else { 0 };
        if total > MAX_MESSAGE_LEN {
            return Err(NoiseError::MessageTooLong {
                len: total,
                max: MAX_MESSAGE_LEN,
            });
        }
        // From here on the transcript changes: any failure poisons the state.
        self.poisoned = true;
        let mut out = Vec::with_capacity(total);
        for &token in tokens {
            match token {
                Token::E => {
                    let e = self.new_ephemeral();
                    let public = *e.public_key();
                    self.e = Some(e);
                    out.extend_from_slice(&public);
                    self.symmetric.mix_hash(&public);
                    if self.pattern.has_psk() {
                        self.symmetric.mix_key(&public);
                    }
                }
                Token::S => {
                    let s = self
                        .s
                        .as_ref()
                        .ok_or(NoiseError::MissingKey(KeyRole::LocalStatic))?;
                    let public = *s.public_key();
                    let ct = self.symmetric.encrypt_and_hash(&public)?;
                    out.extend_from_slice(&ct);
                }
                Token::Psk => self.mix_psk()?,
                Token::EE | Token::ES | Token::SE | Token::SS => self.mix_dh(token)?,
            }
        }
        let ct = self.symmetric.encrypt_and_hash(payload)?;
        out.extend_from_slice(&ct);
        self.next_message += 1;
        self.poisoned = false;
        Ok(out)
    }

    /// `ReadMessage(message, payload_buffer)`: processes the peer's next handshake message
    /// and returns its payload. Length errors leave the state intact; authentication or DH
    /// failures poison it.
    pub fn read_message(&mut self, message: &[u8]) -> Result<Vec<u8>, NoiseError> {
        let tokens = self.check_turn(Step::Read)?;
        if message.len() > MAX_MESSAGE_LEN {
            return Err(NoiseError::MessageTooLong {
                len: message.len(),
                max: MAX_MESSAGE_LEN,
            });
        }
        let (overhead, encrypted) =
            token_overhead(tokens, self.symmetric.has_key(), self.pattern.has_psk());
        let min = overhead + if encrypted { TAG_LEN } else { 0 };
        if message.len() < min {
            return Err(NoiseError::MessageTooShort {
                len: message.len(),
                min,
            });
        }
        self.poisoned = true;
        let mut rest = message;
        for &token in tokens {
            match token {
                Token::E => {
                    let (re, tail) = take_key(rest)?;
                    rest = tail;
                    self.re = Some(re);
                    self.symmetric.mix_hash(&re);
                    if self.pattern.has_psk() {
                        self.symmetric.mix_key(&re);
                    }
                }
                Token::S => {
                    let len = DH_LEN + if self.symmetric.has_key() { TAG_LEN } else { 0 };
                    let (field, tail) = split(rest, len)?;
                    rest = tail;
                    let public = self.symmetric.decrypt_and_hash(field)?;
                    let (rs, _) = take_key(&public)?;
                    self.rs = Some(rs);
                }
                Token::Psk => self.mix_psk()?,
                Token::EE | Token::ES | Token::SE | Token::SS => self.mix_dh(token)?,
            }
        }
        let payload = self.symmetric.decrypt_and_hash(rest)?;
        self.next_message += 1;
        self.poisoned = false;
        Ok(payload)
    }

    /// `Split()` after the last message: the transport state for the session. Consumes the
    /// handshake state, so ephemeral private keys and the chaining key are erased (that
    /// erasure is what makes the session forward secret).
    pub fn into_transport(self) -> Result<TransportState, NoiseError> {
        if self.poisoned {
            return Err(NoiseError::Poisoned);
        }
        if !self.is_finished() {
            return Err(NoiseError::HandshakeNotFinished);
        }
        let handshake_hash = self.symmetric.handshake_hash();
        let (c1, c2): (CipherState, CipherState) = self.symmetric.split();
        let (send, recv) = if self.initiator { (c1, c2) } else { (c2, c1) };
        Ok(TransportState::new(
            send,
            recv,
            handshake_hash,
            self.initiator,
            self.rs,
        ))
    }
}

fn split(buf: &[u8], len: usize) -> Result<(&[u8], &[u8]), NoiseError> {
    if buf.len() < len {
        return Err(NoiseError::MessageTooShort {
            len: buf.len(),
            min: len,
        });
    }
    Ok(buf.split_at(len))
}

fn take_key(buf: &[u8]) -> Result<([u8; DH_LEN], &[u8]), NoiseError> {
    let (key, rest) = split(buf, DH_LEN)?;
    let mut out = [0u8; DH_LEN];
    out.copy_from_slice(key);
    Ok((out, rest))
}
