//! Encrypted records: per-session traffic, fleet-key delivery, and fleet broadcasts.
//!
//! # Encoding
//!
//! Every record is a 20-byte header followed by the AES-256-GCM ciphertext (plaintext + 16-byte
//! tag). All integers are big-endian.
//!
//! ```text
//! offset size field
//!      0    1 type     0x10 session data, 0x11 fleet-key delivery, 0x20 fleet broadcast
//!      1    1 version  1
//!      2    8 id       session id (0x10, 0x11) or epoch (0x20, must fit in u32)
//!     10    8 seq      per-sender sequence number, starting at 0
//!     18    2 len      ciphertext length including the tag (16 ..= 16 + MAX_PLAINTEXT)
//!     20  len ciphertext
//! ```
//!
//! The whole header is the AEAD's associated data, so changing the type, id, sequence number or
//! length makes the record fail authentication ([`RecordError::Tampered`]). The 96-bit nonce is
//! `0u32 ‖ seq` for session records (each direction has its own key, so the two senders never
//! share a key/nonce pair) and `epoch (u32) ‖ seq` for broadcasts. A sender never reuses a
//! sequence number: it refuses to seal once the counter is exhausted.
//!
//! # Replay protection
//!
//! Receivers keep a 64-record sliding window ([`ReplayWindow`], as in IPsec ESP, RFC 4303
//! §3.4.3, and DTLS): the highest sequence number accepted and a bitmap of the 64 below it.
//! Records may arrive out of order within the window; a repeat is [`RecordError::Replayed`], a
//! record older than the window is [`RecordError::TooOld`]. The window is only updated after the
//! AEAD tag verifies, so forged records cannot move it.
//!
//! # Fleet key
//!
//! Mission control holds a [`FleetKey`] (32 random bytes and an epoch number). It delivers the
//! key to each drone as a type-0x11 record under that drone's session ([`Session::seal_fleet_key`]),
//! then seals each broadcast once with [`FleetSender::seal`]; every drone opens it with its
//! [`FleetReceiver`], which keeps its own replay window. [`FleetSender::rotate`] draws a fresh
//! key and bumps the epoch (sequence numbers restart at 0, which is safe because the key is
//! new and the epoch is in the nonce). A drone still holding an old epoch gets
//! [`RecordError::WrongEpoch`] for new broadcasts; a delivered key older than the one held is
//! refused ([`RecordError::StaleEpoch`]), so an attacker cannot roll a drone back by replaying
//! an old delivery (which the session window rejects anyway).
//!
//! # What an attacker learns
//!
//! Record lengths, types, ids and sequence numbers are in the clear. The fleet key is a shared
//! symmetric key: it authenticates broadcasts as coming from *some* holder of the current epoch
//! key, so a captured drone can forge broadcasts to its peers until mission control rotates the
//! key (rotation after removing a drone is what evicts it). Commands that must come from
//! mission control alone belong in per-drone session records.

use std::fmt;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use rand::CryptoRng;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// Length of the record header.
pub const HEADER_LEN: usize = 20;
/// Length of the AES-GCM tag.
pub const TAG_LEN: usize = 16;
/// Largest plaintext a record may carry (a MAVLink 2 frame is at most 280 bytes).
pub const MAX_PLAINTEXT: usize = 4096;
/// Record format version.
pub const RECORD_VERSION: u8 = 1;
/// Width of the replay window, in records.
pub const WINDOW: u64 = 64;

/// Why a record was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// The AEAD tag did not verify: the record was changed, or sealed under another key.
    #[error("record failed authentication")]
    Tampered,
    /// The sequence number was already accepted.
    #[error("replayed record (seq {0})")]
    Replayed(u64),
    /// The sequence number is older than the replay window.
    #[error("record too old for the replay window (seq {0})")]
    TooOld(u64),
    /// The plaintext or ciphertext is longer than [`MAX_PLAINTEXT`] allows.
    #[error("record too large ({0} bytes)")]
    Oversize(usize),
    /// Bad header, bad length field, trailing bytes, or an undecodable body.
    #[error("malformed record: {0}")]
    Malformed(&'static str),
    /// The record is of a type this receiver does not accept here.
    #[error("unexpected record type {0:#04x}")]
    UnexpectedType(u8),
    /// The record names another session.
    #[error("record belongs to another session")]
    WrongSession,
    /// A broadcast sealed under an epoch key this receiver does not hold.
    #[error("broadcast for epoch {got}, this receiver holds epoch {have:?}")]
    WrongEpoch {
        /// The epoch held, if any.
        have: Option<u32>,
        /// The epoch named by the record.
        got: u32,
    },
    /// A delivered fleet key is older than the one already held.
    #[error("fleet key epoch {got} is older than the held epoch {have}")]
    StaleEpoch {
        /// The epoch held.
        have: u32,
        /// The epoch delivered.
        got: u32,
    },
    /// The sender's sequence numbers are used up; a new handshake or key is needed.
    #[error("sequence numbers exhausted")]
    SeqExhausted,
}

/// Record types (the header's first byte).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum RecordType {
    /// Application data under a session.
    SessionData = 0x10,
    /// A [`FleetKey`] delivered under a session (mission control to drone only).
    FleetKeyDelivery = 0x11,
    /// A fleet broadcast under the fleet key.
    Broadcast = 0x20,
}

impl RecordType {
    fn from_u8(b: u8) -> Result<Self, RecordError> {
        match b {
            0x10 => Ok(Self::SessionData),
            0x11 => Ok(Self::FleetKeyDelivery),
            0x20 => Ok(Self::Broadcast),
            other => Err(RecordError::UnexpectedType(other)),
        }
    }
}

/// A decoded record header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Record type.
    pub kind: RecordType,
    /// Session id or epoch.
    pub id: u64,
    /// Sequence number.
    pub seq: u64,
    /// Ciphertext length (including the tag).
    pub len: u16,
}

impl Header {
    /// The 20-byte encoding.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut h = [0u8; HEADER_LEN];
        h[0] = self.kind as u8;
        h[1] = RECORD_VERSION;
        h[2..10].copy_from_slice(&self.id.to_be_bytes());
        h[10..18].copy_from_slice(&self.seq.to_be_bytes());
        h[18..20].copy_from_slice(&self.len.to_be_bytes());
        h
    }

    /// Parses a whole record: returns the header and the ciphertext. The length field must
    /// match the bytes that follow exactly.
    pub fn parse(record: &[u8]) -> Result<(Self, &[u8]), RecordError> {
        if record.len() > HEADER_LEN + MAX_PLAINTEXT + TAG_LEN {
            return Err(RecordError::Oversize(record.len()));
        }
        let (h, body) = record
            .split_at_checked(HEADER_LEN)
            .ok_or(RecordError::Malformed("short header"))?;
        let kind = RecordType::from_u8(h[0])?;
        if h[1] != RECORD_VERSION {
            return Err(RecordError::Malformed("unknown record version"));
        }
        let id = u64::from_be_bytes(
            h[2..10]
                .try_into()
                .map_err(|_| RecordError::Malformed("id"))?,
        );
        let seq = u64::from_be_bytes(
            h[10..18]
                .try_into()
                .map_err(|_| RecordError::Malformed("seq"))?,
        );
        let len = u16::from_be_bytes([h[18], h[19]]);
        if usize::from(len) != body.len() {
            return Err(RecordError::Malformed("length field does not match record"));
        }
        if body.len() < TAG_LEN {
            return Err(RecordError::Malformed("shorter than the tag"));
        }
        Ok((Header { kind, id, seq, len }, body))
    }
}

/// A 64-record sliding replay window (RFC 4303 §3.4.3 style).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReplayWindow {
    /// Highest sequence number accepted, if any.
    top: Option<u64>,
    /// Bit `i` set: `top - i` was accepted.
    bitmap: u64,
}

impl ReplayWindow {
    /// A window that has accepted nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Checks `seq` without recording it.
    pub fn check(&self, seq: u64) -> Result<(), RecordError> {
        let Some(top) = self.top else { return Ok(()) };
        if seq > top {
            return Ok(());
        }
        let diff = top - seq;
        if diff >= WINDOW {
            return Err(RecordError::TooOld(seq));
        }
        if self.bitmap & (1u64 << diff) != 0 {
            return Err(RecordError::Replayed(seq));
        }
        Ok(())
    }

    /// Records `seq` as accepted; call only after [`check`](Self::check) and authentication.
    pub fn accept(&mut self, seq: u64) {
        match self.top {
            Some(top) if seq <= top => {
                let diff = top - seq;
                if diff < WINDOW {
                    self.bitmap |= 1u64 << diff;
                }
            }
            Some(top) => {
                let shift = seq - top;
                self.bitmap = if shift >= WINDOW {
                    0
                } else {
                    self.bitmap << shift
                };
                self.bitmap |= 1;
                self.top = Some(seq);
            }
            None => {
                self.bitmap = 1;
                self.top = Some(seq);
            }
        }
    }
}

fn cipher(key: &[u8; 32]) -> Aes256Gcm {
    Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key))
}

fn nonce(prefix: u32, seq: u64) -> [u8; 12] {
    let mut n = [0u8; 12];
    n[..4].copy_from_slice(&prefix.to_be_bytes());
    n[4..].copy_from_slice(&seq.to_be_bytes());
    n
}

/// Seals one record with the given header fields.
fn seal_record(
    aead: &Aes256Gcm,
    kind: RecordType,
    id: u64,
    seq: u64,
    nonce_prefix: u32,
    plaintext: &[u8],
) -> Result<Vec<u8>, RecordError> {
    if plaintext.len() > MAX_PLAINTEXT {
        return Err(RecordError::Oversize(plaintext.len()));
    }
    let len = u16::try_from(plaintext.len() + TAG_LEN)
        .map_err(|_| RecordError::Oversize(plaintext.len()))?;
    let header = Header { kind, id, seq, len }.encode();
    let ct = aead
        .encrypt(
            Nonce::from_slice(&nonce(nonce_prefix, seq)),
            Payload {
                msg: plaintext,
                aad: &header,
            },
        )
        .map_err(|_| RecordError::Oversize(plaintext.len()))?;
    let mut out = Vec::with_capacity(HEADER_LEN + ct.len());
    out.extend_from_slice(&header);
    out.extend_from_slice(&ct);
    Ok(out)
}

/// Authenticates and decrypts a record whose header was already parsed and checked.
fn open_record(
    aead: &Aes256Gcm,
    record: &[u8],
    seq: u64,
    nonce_prefix: u32,
) -> Result<Zeroizing<Vec<u8>>, RecordError> {
    let (header, ct) = record
        .split_at_checked(HEADER_LEN)
        .ok_or(RecordError::Malformed("short header"))?;
    aead.decrypt(
        Nonce::from_slice(&nonce(nonce_prefix, seq)),
        Payload {
            msg: ct,
            aad: header,
        },
    )
    .map(Zeroizing::new)
    .map_err(|_| RecordError::Tampered)
}

/// Which end of a session this is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Mission control.
    MissionControl,
    /// A drone.
    Drone,
}

/// The per-direction traffic keys produced by the handshake. Wiped on drop.
pub struct SessionKeys {
    /// Key for records mission control sends.
    pub mc_to_drone: Zeroizing<[u8; 32]>,
    /// Key for records the drone sends.
    pub drone_to_mc: Zeroizing<[u8; 32]>,
    /// Session id carried in every record header.
    pub session_id: u64,
}

impl fmt::Debug for SessionKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionKeys")
            .field("session_id", &self.session_id)
            .finish_non_exhaustive()
    }
}

/// What [`Session::open`] returns.
#[derive(Debug, PartialEq, Eq)]
pub enum Opened {
    /// Application data.
    Data(Zeroizing<Vec<u8>>),
    /// A fleet key from mission control (drone side only).
    FleetKey(FleetKey),
}

/// An established, mutually authenticated session between mission control and one drone.
pub struct Session {
    role: Role,
    peer_drone: u32,
    session_id: u64,
    transcript_hash: [u8; 32],
    send: Aes256Gcm,
    recv: Aes256Gcm,
    send_seq: u64,
    window: ReplayWindow,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("role", &self.role)
            .field("drone", &self.peer_drone)
            .field("session_id", &format_args!("{:016x}", self.session_id))
            .field("send_seq", &self.send_seq)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// Builds a session from handshake output (used by the handshake module).
    pub(super) fn new(
        role: Role,
        drone: u32,
        keys: SessionKeys,
        transcript_hash: [u8; 32],
    ) -> Self {
        let (send, recv) = match role {
            Role::MissionControl => (&keys.mc_to_drone, &keys.drone_to_mc),
            Role::Drone => (&keys.drone_to_mc, &keys.mc_to_drone),
        };
        Session {
            role,
            peer_drone: drone,
            session_id: keys.session_id,
            transcript_hash,
            send: cipher(send),
            recv: cipher(recv),
            send_seq: 0,
            window: ReplayWindow::new(),
        }
    }

    /// This end's role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The drone at the other end (or this drone, on the drone side).
    pub fn drone_id(&self) -> u32 {
        self.peer_drone
    }

    /// The session id carried in record headers.
    pub fn session_id(&self) -> u64 {
        self.session_id
    }

    /// SHA-256 of the whole handshake transcript (both ends agree on it).
    pub fn transcript_hash(&self) -> &[u8; 32] {
        &self.transcript_hash
    }

    fn next_seq(&mut self) -> Result<u64, RecordError> {
        let seq = self.send_seq;
        self.send_seq = seq.checked_add(1).ok_or(RecordError::SeqExhausted)?;
        Ok(seq)
    }

    /// Seals application data for the peer.
    pub fn seal(&mut self, plaintext: &[u8]) -> Result<Vec<u8>, RecordError> {
        if plaintext.len() > MAX_PLAINTEXT {
            return Err(RecordError::Oversize(plaintext.len()));
        }
        let seq = self.next_seq()?;
        seal_record(
            &self.send,
            RecordType::SessionData,
            self.session_id,
            seq,
            0,
            plaintext,
        )
    }

    /// Seals a fleet key for this drone (mission control only).
    pub fn seal_fleet_key(&mut self, key: &FleetKey) -> Result<Vec<u8>, RecordError> {
        if self.role != Role::MissionControl {
            return Err(RecordError::UnexpectedType(
                RecordType::FleetKeyDelivery as u8,
            ));
        }
        let seq = self.next_seq()?;
        let body = key.encode();
        seal_record(
            &self.send,
            RecordType::FleetKeyDelivery,
            self.session_id,
            seq,
            0,
            body.as_ref(),
        )
    }

    /// Authenticates, replay-checks and decrypts a record from the peer.
    pub fn open(&mut self, record: &[u8]) -> Result<Opened, RecordError> {
        let (h, _) = Header::parse(record)?;
        match (h.kind, self.role) {
            (RecordType::SessionData, _) | (RecordType::FleetKeyDelivery, Role::Drone) => {}
            (kind, _) => return Err(RecordError::UnexpectedType(kind as u8)),
        }
        if !bool::from(h.id.ct_eq(&self.session_id)) {
            return Err(RecordError::WrongSession);
        }
        self.window.check(h.seq)?;
        let pt = open_record(&self.recv, record, h.seq, 0)?;
        let out = match h.kind {
            RecordType::FleetKeyDelivery => Opened::FleetKey(FleetKey::decode(&pt)?),
            _ => Opened::Data(pt),
        };
        self.window.accept(h.seq);
        Ok(out)
    }
}

/// The fleet's group key: 32 random bytes and an epoch number. Wiped on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct FleetKey {
    epoch: u32,
    key: Zeroizing<[u8; 32]>,
}

/// Length of an encoded [`FleetKey`]: epoch (4) then key (32).
pub const FLEET_KEY_LEN: usize = 36;

impl FleetKey {
    /// A fresh random key for `epoch`.
    pub fn generate<R: CryptoRng + ?Sized>(epoch: u32, rng: &mut R) -> Self {
        let mut key = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(key.as_mut());
        FleetKey { epoch, key }
    }

    /// The epoch number.
    pub fn epoch(&self) -> u32 {
        self.epoch
    }

    fn encode(&self) -> Zeroizing<[u8; FLEET_KEY_LEN]> {
        let mut out = Zeroizing::new([0u8; FLEET_KEY_LEN]);
        out[..4].copy_from_slice(&self.epoch.to_be_bytes());
        out[4..].copy_from_slice(self.key.as_ref());
        out
    }

    fn decode(bytes: &[u8]) -> Result<Self, RecordError> {
        if bytes.len() != FLEET_KEY_LEN {
            return Err(RecordError::Malformed("fleet key must be 36 bytes"));
        }
        let epoch = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        let mut key = Zeroizing::new([0u8; 32]);
        key.copy_from_slice(&bytes[4..]);
        Ok(FleetKey { epoch, key })
    }
}

impl fmt::Debug for FleetKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FleetKey")
            .field("epoch", &self.epoch)
            .finish_non_exhaustive()
    }
}

/// Mission control's side of fleet broadcasts: the current key and its sequence counter.
pub struct FleetSender {
    key: FleetKey,
    aead: Aes256Gcm,
    seq: u64,
}

impl fmt::Debug for FleetSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FleetSender")
            .field("epoch", &self.key.epoch)
            .field("seq", &self.seq)
            .finish_non_exhaustive()
    }
}

impl FleetSender {
    /// Starts epoch `epoch` with a fresh random key.
    pub fn new<R: CryptoRng + ?Sized>(epoch: u32, rng: &mut R) -> Self {
        let key = FleetKey::generate(epoch, rng);
        let aead = cipher(&key.key);
        FleetSender { key, aead, seq: 0 }
    }

    /// The current key, to deliver to each drone with [`Session::seal_fleet_key`].
    pub fn key(&self) -> &FleetKey {
        &self.key
    }

    /// Draws a fresh key for the next epoch and restarts the sequence numbers.
    pub fn rotate<R: CryptoRng + ?Sized>(&mut self, rng: &mut R) -> Result<&FleetKey, RecordError> {
        let epoch = self
            .key
            .epoch
            .checked_add(1)
            .ok_or(RecordError::SeqExhausted)?;
        *self = FleetSender::new(epoch, rng);
        Ok(&self.key)
    }

    /// Seals one broadcast for every drone holding the current epoch key.
    pub fn seal(&mut self, plaintext: &[u8]) -> Result<Vec<u8>, RecordError> {
        if plaintext.len() > MAX_PLAINTEXT {
            return Err(RecordError::Oversize(plaintext.len()));
        }
        let seq = self.seq;
        self.seq = seq.checked_add(1).ok_or(RecordError::SeqExhausted)?;
        let epoch = self.key.epoch;
        seal_record(
            &self.aead,
            RecordType::Broadcast,
            u64::from(epoch),
            seq,
            epoch,
            plaintext,
        )
    }
}

/// A drone's side of fleet broadcasts: the newest key delivered and a replay window.
#[derive(Default)]
pub struct FleetReceiver {
    current: Option<(FleetKey, Aes256Gcm)>,
    window: ReplayWindow,
}

impl fmt::Debug for FleetReceiver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FleetReceiver")
            .field("epoch", &self.epoch())
            .finish_non_exhaustive()
    }
}

impl FleetReceiver {
    /// A receiver with no key yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The epoch held, if any.
    pub fn epoch(&self) -> Option<u32> {
        self.current.as_ref().map(|(k, _)| k.epoch)
    }

    /// Installs a delivered key. A newer epoch replaces the old key and resets the window; the
    /// same epoch again is a no-op if the key is identical and refused otherwise; an older
    /// epoch is refused.
    pub fn install(&mut self, key: FleetKey) -> Result<(), RecordError> {
        if let Some((held, _)) = &self.current {
            if key.epoch < held.epoch {
                return Err(RecordError::StaleEpoch {
                    have: held.epoch,
                    got: key.epoch,
                });
            }
            if key.epoch == held.epoch {
                return if bool::from(key.key.as_ref().ct_eq(held.key.as_ref())) {
                    Ok(())
                } else {
                    Err(RecordError::StaleEpoch {
                        have: held.epoch,
                        got: key.epoch,
                    })
                };
            }
        }
        let aead = cipher(&key.key);
        self.current = Some((key, aead));
        self.window = ReplayWindow::new();
        Ok(())
    }

    /// Authenticates, replay-checks and decrypts a broadcast.
    pub fn open(&mut self, record: &[u8]) -> Result<Zeroizing<Vec<u8>>, RecordError> {
        let (h, _) = Header::parse(record)?;
        if h.kind != RecordType::Broadcast {
            return Err(RecordError::UnexpectedType(h.kind as u8));
        }
        let got = u32::try_from(h.id).map_err(|_| RecordError::Malformed("epoch beyond u32"))?;
        let Some((key, aead)) = &self.current else {
            return Err(RecordError::WrongEpoch { have: None, got });
        };
        if key.epoch != got {
            return Err(RecordError::WrongEpoch {
                have: Some(key.epoch),
                got,
            });
        }
        self.window.check(h.seq)?;
        let pt = open_record(aead, record, h.seq, got)?;
        self.window.accept(h.seq);
        Ok(pt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn pair() -> (Session, Session) {
        let k = || SessionKeys {
            mc_to_drone: Zeroizing::new([1u8; 32]),
            drone_to_mc: Zeroizing::new([2u8; 32]),
            session_id: 0x0102_0304_0506_0708,
        };
        (
            Session::new(Role::MissionControl, 9, k(), [0; 32]),
            Session::new(Role::Drone, 9, k(), [0; 32]),
        )
    }

    #[test]
    fn window_accepts_out_of_order_and_rejects_repeats_and_old() {
        let mut w = ReplayWindow::new();
        for seq in [5u64, 3, 7, 4, 70] {
            w.check(seq).unwrap();
            w.accept(seq);
        }
        assert_eq!(w.check(7), Err(RecordError::Replayed(7)));
        assert_eq!(w.check(70), Err(RecordError::Replayed(70)));
        assert_eq!(
            w.check(6),
            Err(RecordError::TooOld(6)),
            "70 - 6 = 64 is outside"
        );
        w.check(7 + 1).unwrap(); // 70 - 8 = 62: inside, unseen
        w.check(71).unwrap();
        // A jump past the window clears it.
        w.accept(1000);
        assert_eq!(w.check(70), Err(RecordError::TooOld(70)));
        w.check(999).unwrap();
        assert_eq!(w.check(1000), Err(RecordError::Replayed(1000)));
        // seq 0 and u64::MAX are ordinary numbers.
        let mut w = ReplayWindow::new();
        w.accept(0);
        assert_eq!(w.check(0), Err(RecordError::Replayed(0)));
        w.accept(u64::MAX);
        assert_eq!(w.check(u64::MAX), Err(RecordError::Replayed(u64::MAX)));
    }

    #[test]
    fn session_records_round_trip_both_ways() {
        let (mut mc, mut d) = pair();
        let r = mc.seal(b"arm").unwrap();
        assert_eq!(r.len(), HEADER_LEN + 3 + TAG_LEN);
        assert_eq!(
            d.open(&r).unwrap(),
            Opened::Data(Zeroizing::new(b"arm".to_vec()))
        );
        let r = d.seal(b"ack").unwrap();
        assert_eq!(
            mc.open(&r).unwrap(),
            Opened::Data(Zeroizing::new(b"ack".to_vec()))
        );
        // A record is not accepted back by its own sender (different direction key).
        let mine = mc.seal(b"x").unwrap();
        assert_eq!(mc.open(&mine), Err(RecordError::Tampered));
    }

    #[test]
    fn session_rejects_replay_tamper_oversize_and_malformed() {
        let (mut mc, mut d) = pair();
        let r = mc.seal(b"takeoff").unwrap();
        d.open(&r).unwrap();
        assert_eq!(d.open(&r), Err(RecordError::Replayed(0)));

        let r = mc.seal(b"land").unwrap();
        for idx in [10usize, 17, HEADER_LEN, r.len() - 1] {
            let mut t = r.clone();
            t[idx] ^= 0x80;
            assert_eq!(d.open(&t), Err(RecordError::Tampered), "flip at {idx}");
        }
        // A failed record does not consume its sequence number.
        d.open(&r).unwrap();

        let mut t = mc.seal(b"z").unwrap();
        t[2] ^= 1;
        assert_eq!(d.open(&t), Err(RecordError::WrongSession));
        let mut t = mc.seal(b"z").unwrap();
        t[1] = 9;
        assert!(matches!(d.open(&t), Err(RecordError::Malformed(_))));
        let mut t = mc.seal(b"z").unwrap();
        t.push(0);
        assert!(matches!(d.open(&t), Err(RecordError::Malformed(_))));
        assert!(matches!(d.open(&t[..5]), Err(RecordError::Malformed(_))));
        assert_eq!(d.open(&[0x42; 40]), Err(RecordError::UnexpectedType(0x42)));
        assert_eq!(
            mc.seal(&vec![0; MAX_PLAINTEXT + 1]),
            Err(RecordError::Oversize(MAX_PLAINTEXT + 1))
        );
        assert_eq!(
            d.open(&vec![0x10; HEADER_LEN + MAX_PLAINTEXT + TAG_LEN + 1]),
            Err(RecordError::Oversize(
                HEADER_LEN + MAX_PLAINTEXT + TAG_LEN + 1
            ))
        );
        mc.seal(&vec![0; MAX_PLAINTEXT]).unwrap();
    }

    #[test]
    fn session_refuses_to_reuse_a_sequence_number() {
        let (mut mc, _) = pair();
        mc.send_seq = u64::MAX;
        assert_eq!(mc.seal(b"x"), Err(RecordError::SeqExhausted));
    }

    #[test]
    fn old_records_outside_the_window_are_too_old() {
        let (mut mc, mut d) = pair();
        let first = mc.seal(b"0").unwrap();
        for _ in 0..WINDOW {
            d.open(&mc.seal(b"n").unwrap()).unwrap();
        }
        assert_eq!(d.open(&first), Err(RecordError::TooOld(0)));
    }

    #[test]
    fn fleet_key_delivery_then_broadcast_then_rotation() {
        let mut rng = StdRng::seed_from_u64(1);
        let (mut mc, mut d) = pair();
        let mut fleet = FleetSender::new(1, &mut rng);
        let mut rx = FleetReceiver::new();

        let b0 = fleet.seal(b"formation A").unwrap();
        assert_eq!(
            rx.open(&b0),
            Err(RecordError::WrongEpoch { have: None, got: 1 })
        );

        let Opened::FleetKey(k) = d.open(&mc.seal_fleet_key(fleet.key()).unwrap()).unwrap() else {
            panic!("expected a fleet key");
        };
        rx.install(k).unwrap();
        assert_eq!(&rx.open(&b0).unwrap()[..], b"formation A");
        assert_eq!(rx.open(&b0), Err(RecordError::Replayed(0)));
        let mut t = fleet.seal(b"formation B").unwrap();
        let last = t.len() - 1;
        t[last] ^= 1;
        assert_eq!(rx.open(&t), Err(RecordError::Tampered));

        // Rotation: a drone still on epoch 1 cannot read epoch 2.
        let old_key = fleet.key().clone();
        fleet.rotate(&mut rng).unwrap();
        let early = fleet.seal(b"epoch 2, seq 0").unwrap();
        fleet.seal(b"epoch 2, seq 1").unwrap();
        let b2 = fleet.seal(b"return to base").unwrap();
        assert_eq!(
            rx.open(&b2),
            Err(RecordError::WrongEpoch {
                have: Some(1),
                got: 2
            })
        );
        // Even relabelled to the old epoch, it fails authentication under the old key.
        let mut relabelled = b2.clone();
        relabelled[2..10].copy_from_slice(&1u64.to_be_bytes());
        assert_eq!(rx.open(&relabelled), Err(RecordError::Tampered));

        let Opened::FleetKey(k2) = d.open(&mc.seal_fleet_key(fleet.key()).unwrap()).unwrap() else {
            panic!("expected a fleet key");
        };
        rx.install(k2).unwrap();
        assert_eq!(&rx.open(&b2).unwrap()[..], b"return to base");
        assert_eq!(&rx.open(&early).unwrap()[..], b"epoch 2, seq 0");
        // Rolling back to the old epoch is refused.
        assert_eq!(
            rx.install(old_key),
            Err(RecordError::StaleEpoch { have: 2, got: 1 })
        );
    }

    #[test]
    fn only_mission_control_delivers_fleet_keys() {
        let mut rng = StdRng::seed_from_u64(2);
        let (mut mc, mut d) = pair();
        let key = FleetKey::generate(3, &mut rng);
        assert!(d.seal_fleet_key(&key).is_err());
        // A drone-to-MC record typed as a key delivery is refused by MC.
        let mut r = d.seal(&[0; FLEET_KEY_LEN]).unwrap();
        r[0] = RecordType::FleetKeyDelivery as u8;
        assert_eq!(mc.open(&r), Err(RecordError::UnexpectedType(0x11)));
        assert!(!format!("{key:?}").contains("key:"));
    }
}
