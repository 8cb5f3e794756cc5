//! The mission-control ↔ drone handshake: mutual authentication and key establishment.
//!
//! Mission control (MC) has a long-term Schnorr key `x_M` (`Y_M = g^x_M`); every drone `i` has
//! `x_i` (`Y_i = g^x_i`). MC keeps an enrolled [`DroneRegistry`] of `id → Y_i`; every drone is
//! configured with `Y_M` ([`DroneIdentity`]). All arithmetic is in the order-`q` subgroup of the
//! RFC 3526 group 14 ([`super::group`]).
//!
//! # Message flow
//!
//! ```text
//!  MC                                                         drone i
//!  N_M ← 32 random bytes
//!  ClientHello = 01 ‖ ver ‖ group=14 ‖ bits=2048 ‖ N_M ───────▶
//!                                       check ver/group/bits (else Downgrade)
//!                                       N_M not seen before (else ReplayedNonce)
//!                                       N_D ← 32 random bytes; e ← 256-bit; E = g^e
//!                                       T1 = H(label ‖ ClientHello ‖ DroneHello_body ‖ Y_i ‖ Y_M)
//!                                       σ_D = Sign_{x_i}("drone-hello", T1)
//!      ◀────────── DroneHello = 02 ‖ ver ‖ group ‖ bits ‖ i ‖ N_D ‖ E ‖ σ_D
//!  group/bits echo = ours (else Downgrade); i enrolled (else UnknownDrone)
//!  N_D ≠ N_M, N_D not seen before (else ReplayedNonce)
//!  E in subgroup (else NotInSubgroup); verify σ_D over T1 with Y_i (else BadSignature)
//!  M ← random subgroup element; r ← 256-bit
//!  (c1, c2) = (g^r, M·E^r)          -- ElGamal to the drone's *ephemeral* key
//!  T2 = H(T1-state ‖ σ_D ‖ McFinish_body)
//!  σ_M = Sign_{x_M}("mc-finish", T2)
//!  McFinish = 03 ‖ c1 ‖ c2 ‖ σ_M ──────────────────────────────▶
//!  Session ready                        c1, c2 in subgroup (else NotInSubgroup)
//!                                       verify σ_M over T2 with Y_M (else BadSignature)
//!                                       M = c2 · (c1^e)^-1; erase e
//!                                       Session ready
//! ```
//!
//! Both ends then compute `TH = H(T2-state ‖ σ_M)` (the hash of the whole transcript) and
//! `HKDF-SHA256(salt = TH, ikm = M)` expanded into the MC→drone key, the drone→MC key (32 bytes
//! each, AES-256-GCM, see [`super::record`]) and an 8-byte session id. Messages have fixed
//! lengths (38, 586 and 801 bytes), so their concatenation is unambiguous.
//!
//! # Why each element is there
//!
//! - **Nonces `N_M`, `N_D`** make every transcript unique: an old `DroneHello` or `McFinish`
//!   replayed into a new run is signed over the wrong transcript and fails with
//!   `BadSignature`, and the session keys differ in every run even if `M` were ever repeated.
//!   Both ends also keep a bounded [`NonceCache`] of peer nonces and refuse repeats (and an
//!   `N_D` equal to `N_M`, i.e. a reflection) with `ReplayedNonce` as defence in depth.
//! - **Signatures over the transcript** (not just over the ephemeral value) bind everything each
//!   side saw, including both public keys: a man in the middle who changes any byte of any
//!   message, or splices two runs together, makes one of the two signature checks fail. The
//!   transcript names both identities, so neither side can be tricked into a session whose
//!   peer differs from what it believes (no unknown-key-share).
//! - **Group id and modulus size in the first message, echoed and hashed**: a drone refuses any
//!   group other than 14/2048 (`Downgrade`), MC refuses an echo that differs (`Downgrade`), and
//!   because the `ClientHello` bytes are inside `T1` and `T2`, an attacker who rewrote them for
//!   a lenient peer would still break both signatures. There is exactly one group today; the
//!   field and the binding are what make adding a second one safe.
//! - **ElGamal to an ephemeral drone key** gives forward secrecy: `e` and `r` are erased after
//!   the handshake, so later theft of `x_M` or `x_i` does not decrypt recorded sessions.
//!   Subgroup checks on `E`, `c1`, `c2` stop small-subgroup and invalid-element tricks.
//! - **Transcript hash as HKDF salt, labels per direction** give both ends the same keys only
//!   if they saw the same transcript, and give each direction its own key so the two senders'
//!   sequence numbers (the AEAD nonces) can never collide.
//!
//! # What an attacker learns or can do
//!
//! - **A recorded session**: group elements, nonces, drone id, signatures, record headers and
//!   lengths. Recovering `M` needs DDH in a 2048-bit group (about 103–110-bit strength).
//! - **A compromised drone key `x_i`**: the attacker can impersonate drone `i` to MC in new
//!   handshakes until MC removes it from the registry, and (with the current fleet key) forge
//!   broadcasts until rotation. It cannot decrypt past sessions (forward secrecy), cannot
//!   impersonate MC to other drones, and cannot impersonate other drones.
//! - **A compromised MC key `x_M`**: impersonation of MC to every drone in new handshakes; past
//!   sessions stay secret.
//! - **Key compromise impersonation**: holding `x_i` does not let an attacker pose as MC to drone
//!   `i`, because the drone verifies `σ_M` under `Y_M`.
//! - **Timing**: num-bigint is not constant-time (see [`super::group`]).
//!
//! Key confirmation is implicit: MC's `Session` exists after `DroneHello`, and the first
//! record from the drone that authenticates proves the drone derived the same keys.
//!
//! # Cost
//!
//! Modular exponentiations per handshake (see `modexps_per_handshake_are_counted`): MC 6
//! (3 full-size: check `E`, `g^s` in verify, `g^k` in sign; 3 of 256 bits: `Y_i^e` in verify,
//! `g^r`, `E^r`), drone 7 (4 full-size: `g^k`, check `c1`, check `c2`, `g^s`; 3 of 256 bits:
//! `g^e`, `Y_M^e`, `c1^e`). Public keys are validated once, at enrollment.
//!
//! # State machines
//!
//! [`McHandshake`] and [`DroneHandshake`] take and return plain bytes; the caller moves them.
//! A call in the wrong state returns [`HandshakeError::OutOfOrder`]; any error leaves the
//! handshake failed (a new one must start with fresh nonces and ephemerals).

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;

use hkdf::Hkdf;
use rand::CryptoRng;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::group::{
    self, Ciphertext, ELEMENT_LEN, Element, GroupError, PublicKey, SIGNATURE_LEN, SecretExponent,
    Signature, SigningKey,
};
use super::record::{Role, Session, SessionKeys};

/// Handshake protocol version.
pub const PROTOCOL_VERSION: u8 = 1;
/// Length of each side's nonce.
pub const NONCE_LEN: usize = 32;
/// Length of an encoded [`ClientHello`].
pub const CLIENT_HELLO_LEN: usize = 6 + NONCE_LEN;
/// Length of the signed part of a [`DroneHello`].
const DRONE_HELLO_BODY_LEN: usize = 10 + NONCE_LEN + ELEMENT_LEN;
/// Length of an encoded [`DroneHello`].
pub const DRONE_HELLO_LEN: usize = DRONE_HELLO_BODY_LEN + SIGNATURE_LEN;
/// Length of the signed part of a [`McFinish`].
const MC_FINISH_BODY_LEN: usize = 1 + 2 * ELEMENT_LEN;
/// Length of an encoded [`McFinish`].
pub const MC_FINISH_LEN: usize = MC_FINISH_BODY_LEN + SIGNATURE_LEN;

const TRANSCRIPT_LABEL: &[u8] = b"wirelab-uav handshake v1";
const CTX_DRONE: &[u8] = b"wirelab-uav drone-hello";
const CTX_MC: &[u8] = b"wirelab-uav mc-finish";

/// Why a handshake failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    /// A Schnorr signature over the transcript did not verify.
    #[error("bad signature over the handshake transcript")]
    BadSignature,
    /// A received group element is not in the order-q subgroup.
    #[error("received value is not in the prime-order subgroup")]
    NotInSubgroup,
    /// The drone id is not in mission control's registry.
    #[error("drone {0} is not enrolled")]
    UnknownDrone(u32),
    /// A peer nonce was seen before (or reflects our own).
    #[error("nonce was seen before")]
    ReplayedNonce,
    /// The peer named another protocol version, group or modulus size.
    #[error("refused version {version}, group {group}, {bits}-bit modulus")]
    Downgrade {
        /// Version named by the peer.
        version: u8,
        /// Group id named by the peer.
        group: u16,
        /// Modulus size named by the peer.
        bits: u16,
    },
    /// Wrong length, wrong message type or an undecodable field.
    #[error("malformed handshake message: {0}")]
    Malformed(&'static str),
    /// The call does not fit the handshake's state (already finished, failed, or not started).
    #[error("handshake call out of order")]
    OutOfOrder,
    /// Key derivation failed (cannot happen with the fixed output lengths used here).
    #[error("key derivation failed")]
    Kdf,
}

impl From<GroupError> for HandshakeError {
    fn from(e: GroupError) -> Self {
        match e {
            GroupError::NotInSubgroup => HandshakeError::NotInSubgroup,
            GroupError::BadSignature => HandshakeError::BadSignature,
            GroupError::Malformed(m) => HandshakeError::Malformed(m),
        }
    }
}

/// HKDF-SHA256 (RFC 5869): extract with `salt` and `ikm`, expand `info` into `out`.
///
/// The one KDF helper used for session keys; checked against RFC 5869 test case 1.
pub fn hkdf_sha256(
    salt: &[u8],
    ikm: &[u8],
    info: &[u8],
    out: &mut [u8],
) -> Result<(), HandshakeError> {
    Hkdf::<Sha256>::new(Some(salt), ikm)
        .expand(info, out)
        .map_err(|_| HandshakeError::Kdf)
}

/// A bounded set of recently seen peer nonces (FIFO eviction).
#[derive(Debug)]
pub struct NonceCache {
    set: HashSet<[u8; NONCE_LEN]>,
    order: VecDeque<[u8; NONCE_LEN]>,
    capacity: usize,
}

impl NonceCache {
    /// A cache remembering the last `capacity` nonces (at least 1).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        NonceCache {
            set: HashSet::with_capacity(capacity),
            order: VecDeque::with_capacity(capacity),
            capacity,
        }
    }

    /// Records `nonce`; `ReplayedNonce` if it is already present.
    pub fn insert(&mut self, nonce: &[u8; NONCE_LEN]) -> Result<(), HandshakeError> {
        if self.set.contains(nonce) {
            return Err(HandshakeError::ReplayedNonce);
        }
        if self.order.len() >= self.capacity
            && let Some(old) = self.order.pop_front()
        {
            self.set.remove(&old);
        }
        self.set.insert(*nonce);
        self.order.push_back(*nonce);
        Ok(())
    }
}

impl Default for NonceCache {
    /// Remembers the last 4096 nonces.
    fn default() -> Self {
        NonceCache::new(4096)
    }
}

/// Mission control's enrolled drones: id → long-term public key (validated on enrollment).
#[derive(Clone, Debug, Default)]
pub struct DroneRegistry {
    drones: HashMap<u32, PublicKey>,
}

impl DroneRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Enrolls (or re-keys) drone `id`.
    pub fn enroll(&mut self, id: u32, key: PublicKey) {
        self.drones.insert(id, key);
    }

    /// Removes drone `id` (e.g. after it is reported captured); returns whether it was there.
    pub fn revoke(&mut self, id: u32) -> bool {
        self.drones.remove(&id).is_some()
    }

    /// The key enrolled for `id`.
    pub fn get(&self, id: u32) -> Option<&PublicKey> {
        self.drones.get(&id)
    }
}

/// What a drone is configured with: its id, its long-term key and mission control's public key.
#[derive(Debug)]
pub struct DroneIdentity {
    /// The drone's id in MC's registry.
    pub id: u32,
    /// The drone's long-term signing key.
    pub key: SigningKey,
    /// Mission control's long-term public key.
    pub mission_control: PublicKey,
}

/// Message 1, MC → drone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientHello {
    /// Protocol version.
    pub version: u8,
    /// Group id (14).
    pub group: u16,
    /// Modulus size in bits (2048).
    pub bits: u16,
    /// MC's fresh nonce.
    pub nonce: [u8; NONCE_LEN],
}

impl ClientHello {
    /// `01 ‖ version ‖ group (u16 BE) ‖ bits (u16 BE) ‖ nonce (32)`.
    pub fn encode(&self) -> [u8; CLIENT_HELLO_LEN] {
        let mut out = [0u8; CLIENT_HELLO_LEN];
        out[0] = 0x01;
        out[1] = self.version;
        out[2..4].copy_from_slice(&self.group.to_be_bytes());
        out[4..6].copy_from_slice(&self.bits.to_be_bytes());
        out[6..].copy_from_slice(&self.nonce);
        out
    }

    /// Decodes; checks only the type and length.
    pub fn decode(b: &[u8]) -> Result<Self, HandshakeError> {
        if b.len() != CLIENT_HELLO_LEN || b[0] != 0x01 {
            return Err(HandshakeError::Malformed("not a ClientHello"));
        }
        Ok(ClientHello {
            version: b[1],
            group: u16::from_be_bytes([b[2], b[3]]),
            bits: u16::from_be_bytes([b[4], b[5]]),
            nonce: take(&b[6..]),
        })
    }
}

/// Message 2, drone → MC.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DroneHello {
    /// Protocol version (echo).
    pub version: u8,
    /// Group id (echo).
    pub group: u16,
    /// Modulus size (echo).
    pub bits: u16,
    /// The drone's id.
    pub drone_id: u32,
    /// The drone's fresh nonce.
    pub nonce: [u8; NONCE_LEN],
    /// The drone's ephemeral ElGamal public key, encoded (validated by the receiver).
    pub ephemeral: [u8; ELEMENT_LEN],
    /// Signature over `T1`.
    pub signature: [u8; SIGNATURE_LEN],
}

impl DroneHello {
    /// `02 ‖ ver ‖ group ‖ bits ‖ drone id (u32 BE) ‖ N_D ‖ E (256) ‖ σ (288)`.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(DRONE_HELLO_LEN);
        out.push(0x02);
        out.push(self.version);
        out.extend_from_slice(&self.group.to_be_bytes());
        out.extend_from_slice(&self.bits.to_be_bytes());
        out.extend_from_slice(&self.drone_id.to_be_bytes());
        out.extend_from_slice(&self.nonce);
        out.extend_from_slice(&self.ephemeral);
        out.extend_from_slice(&self.signature);
        out
    }

    /// Decodes; checks only the type and length.
    pub fn decode(b: &[u8]) -> Result<Self, HandshakeError> {
        if b.len() != DRONE_HELLO_LEN || b[0] != 0x02 {
            return Err(HandshakeError::Malformed("not a DroneHello"));
        }
        Ok(DroneHello {
            version: b[1],
            group: u16::from_be_bytes([b[2], b[3]]),
            bits: u16::from_be_bytes([b[4], b[5]]),
            drone_id: u32::from_be_bytes([b[6], b[7], b[8], b[9]]),
            nonce: take(&b[10..10 + NONCE_LEN]),
            ephemeral: take(&b[10 + NONCE_LEN..DRONE_HELLO_BODY_LEN]),
            signature: take(&b[DRONE_HELLO_BODY_LEN..]),
        })
    }
}

/// Message 3, MC → drone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct McFinish {
    /// ElGamal `c1 = g^r`, encoded.
    pub c1: [u8; ELEMENT_LEN],
    /// ElGamal `c2 = M · E^r`, encoded.
    pub c2: [u8; ELEMENT_LEN],
    /// Signature over `T2`.
    pub signature: [u8; SIGNATURE_LEN],
}

impl McFinish {
    /// `03 ‖ c1 (256) ‖ c2 (256) ‖ σ (288)`.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(MC_FINISH_LEN);
        out.push(0x03);
        out.extend_from_slice(&self.c1);
        out.extend_from_slice(&self.c2);
        out.extend_from_slice(&self.signature);
        out
    }

    /// Decodes; checks only the type and length.
    pub fn decode(b: &[u8]) -> Result<Self, HandshakeError> {
        if b.len() != MC_FINISH_LEN || b[0] != 0x03 {
            return Err(HandshakeError::Malformed("not a McFinish"));
        }
        Ok(McFinish {
            c1: take(&b[1..1 + ELEMENT_LEN]),
            c2: take(&b[1 + ELEMENT_LEN..MC_FINISH_BODY_LEN]),
            signature: take(&b[MC_FINISH_BODY_LEN..]),
        })
    }
}

/// Copies a slice whose length the caller has already checked into an array.
fn take<const N: usize>(b: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    let n = b.len().min(N);
    out[..n].copy_from_slice(&b[..n]);
    out
}

/// The running transcript hash up to `T1`.
fn transcript_t1(
    client_hello: &[u8],
    drone_hello_body: &[u8],
    drone_pk: &PublicKey,
    mc_pk: &PublicKey,
) -> Sha256 {
    let mut h = Sha256::new();
    h.update(TRANSCRIPT_LABEL);
    h.update(client_hello);
    h.update(drone_hello_body);
    h.update(drone_pk.to_bytes());
    h.update(mc_pk.to_bytes());
    h
}

/// Derives the session keys from the transported secret and the full transcript hash.
fn derive(m: &[u8], th: &[u8; 32]) -> Result<SessionKeys, HandshakeError> {
    let mut mc_to_drone = Zeroizing::new([0u8; 32]);
    let mut drone_to_mc = Zeroizing::new([0u8; 32]);
    let mut sid = [0u8; 8];
    hkdf_sha256(th, m, b"wirelab-uav v1 key mc->drone", mc_to_drone.as_mut())?;
    hkdf_sha256(th, m, b"wirelab-uav v1 key drone->mc", drone_to_mc.as_mut())?;
    hkdf_sha256(th, m, b"wirelab-uav v1 session id", &mut sid)?;
    Ok(SessionKeys {
        mc_to_drone,
        drone_to_mc,
        session_id: u64::from_be_bytes(sid),
    })
}

fn check_params(version: u8, group: u16, bits: u16) -> Result<(), HandshakeError> {
    if version != PROTOCOL_VERSION || group != group::GROUP_ID || bits != group::MODULUS_BITS {
        return Err(HandshakeError::Downgrade {
            version,
            group,
            bits,
        });
    }
    Ok(())
}

enum McState {
    AwaitDroneHello {
        client_hello: [u8; CLIENT_HELLO_LEN],
        nonce: [u8; NONCE_LEN],
    },
    Done,
    Failed,
}

/// Mission control's side of one handshake.
pub struct McHandshake {
    state: McState,
}

impl fmt::Debug for McHandshake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self.state {
            McState::AwaitDroneHello { .. } => "AwaitDroneHello",
            McState::Done => "Done",
            McState::Failed => "Failed",
        };
        f.debug_struct("McHandshake").field("state", &s).finish()
    }
}

impl McHandshake {
    /// Starts a handshake: returns the state and the encoded [`ClientHello`] to send.
    pub fn start<R: CryptoRng + ?Sized>(rng: &mut R) -> (Self, Vec<u8>) {
        let mut nonce = [0u8; NONCE_LEN];
        rng.fill_bytes(&mut nonce);
        let client_hello = ClientHello {
            version: PROTOCOL_VERSION,
            group: group::GROUP_ID,
            bits: group::MODULUS_BITS,
            nonce,
        }
        .encode();
        (
            McHandshake {
                state: McState::AwaitDroneHello {
                    client_hello,
                    nonce,
                },
            },
            client_hello.to_vec(),
        )
    }

    /// Processes the drone's [`DroneHello`]: returns the session and the encoded
    /// [`McFinish`] to send. `seen` remembers drone nonces across handshakes.
    pub fn finish<R: CryptoRng + ?Sized>(
        &mut self,
        mc_key: &SigningKey,
        registry: &DroneRegistry,
        seen: &mut NonceCache,
        drone_hello: &[u8],
        rng: &mut R,
    ) -> Result<(Session, Vec<u8>), HandshakeError> {
        let McState::AwaitDroneHello {
            client_hello,
            nonce,
        } = std::mem::replace(&mut self.state, McState::Failed)
        else {
            return Err(HandshakeError::OutOfOrder);
        };
        let out = Self::process(
            mc_key,
            registry,
            seen,
            &client_hello,
            &nonce,
            drone_hello,
            rng,
        )?;
        self.state = McState::Done;
        Ok(out)
    }

    fn process<R: CryptoRng + ?Sized>(
        mc_key: &SigningKey,
        registry: &DroneRegistry,
        seen: &mut NonceCache,
        client_hello: &[u8],
        my_nonce: &[u8; NONCE_LEN],
        drone_hello: &[u8],
        rng: &mut R,
    ) -> Result<(Session, Vec<u8>), HandshakeError> {
        let dh = DroneHello::decode(drone_hello)?;
        check_params(dh.version, dh.group, dh.bits)?;
        let drone_pk = registry
            .get(dh.drone_id)
            .ok_or(HandshakeError::UnknownDrone(dh.drone_id))?;
        if &dh.nonce == my_nonce {
            return Err(HandshakeError::ReplayedNonce);
        }
        let ephemeral = Element::from_bytes(&dh.ephemeral)?;
        let mut t = transcript_t1(
            client_hello,
            &drone_hello[..DRONE_HELLO_BODY_LEN],
            drone_pk,
            mc_key.public(),
        );
        let t1: [u8; 32] = t.clone().finalize().into();
        drone_pk.verify(CTX_DRONE, &t1, &Signature::from_bytes(&dh.signature)?)?;
        // Only authenticated nonces enter the cache, so forgeries cannot fill it.
        seen.insert(&dh.nonce)?;

        let (secret, Ciphertext { c1, c2 }) = group::elgamal_encapsulate(&ephemeral, rng);
        let mut body = Vec::with_capacity(MC_FINISH_BODY_LEN);
        body.push(0x03);
        body.extend_from_slice(&c1.to_bytes());
        body.extend_from_slice(&c2.to_bytes());
        t.update(dh.signature);
        t.update(&body);
        let t2: [u8; 32] = t.clone().finalize().into();
        let sig = mc_key.sign(CTX_MC, &t2, rng).to_bytes();
        t.update(sig);
        let th: [u8; 32] = t.finalize().into();
        body.extend_from_slice(&sig);

        let keys = derive(secret.to_bytes().as_ref(), &th)?;
        Ok((
            Session::new(Role::MissionControl, dh.drone_id, keys, th),
            body,
        ))
    }
}

enum DroneState {
    AwaitFinish {
        ephemeral: SecretExponent,
        transcript: Sha256,
        mission_control: PublicKey,
        drone_id: u32,
    },
    Done,
    Failed,
}

/// A drone's side of one handshake.
pub struct DroneHandshake {
    state: DroneState,
}

impl fmt::Debug for DroneHandshake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self.state {
            DroneState::AwaitFinish { .. } => "AwaitFinish",
            DroneState::Done => "Done",
            DroneState::Failed => "Failed",
        };
        f.debug_struct("DroneHandshake").field("state", &s).finish()
    }
}

impl DroneHandshake {
    /// Answers a [`ClientHello`]: returns the state and the encoded [`DroneHello`] to send.
    /// `seen` remembers MC nonces across handshakes.
    pub fn respond<R: CryptoRng + ?Sized>(
        me: &DroneIdentity,
        seen: &mut NonceCache,
        client_hello: &[u8],
        rng: &mut R,
    ) -> Result<(Self, Vec<u8>), HandshakeError> {
        Self::respond_with(me, seen, client_hello, rng, true)
    }

    /// `respond`, with the group check switchable so tests can play a lenient peer.
    fn respond_with<R: CryptoRng + ?Sized>(
        me: &DroneIdentity,
        seen: &mut NonceCache,
        client_hello: &[u8],
        rng: &mut R,
        enforce_group: bool,
    ) -> Result<(Self, Vec<u8>), HandshakeError> {
        let ch = ClientHello::decode(client_hello)?;
        if enforce_group {
            check_params(ch.version, ch.group, ch.bits)?;
        }
        seen.insert(&ch.nonce)?;

        let mut nonce = [0u8; NONCE_LEN];
        rng.fill_bytes(&mut nonce);
        let ephemeral = SecretExponent::random_short(rng);
        let e_pub = Element::base_pow(&ephemeral);
        let mut out = DroneHello {
            version: PROTOCOL_VERSION,
            group: group::GROUP_ID,
            bits: group::MODULUS_BITS,
            drone_id: me.id,
            nonce,
            ephemeral: e_pub.to_bytes(),
            signature: [0u8; SIGNATURE_LEN],
        }
        .encode();
        let mut t = transcript_t1(
            client_hello,
            &out[..DRONE_HELLO_BODY_LEN],
            me.key.public(),
            &me.mission_control,
        );
        let t1: [u8; 32] = t.clone().finalize().into();
        let sig = me.key.sign(CTX_DRONE, &t1, rng).to_bytes();
        out[DRONE_HELLO_BODY_LEN..].copy_from_slice(&sig);
        t.update(sig);
        Ok((
            DroneHandshake {
                state: DroneState::AwaitFinish {
                    ephemeral,
                    transcript: t,
                    mission_control: me.mission_control.clone(),
                    drone_id: me.id,
                },
            },
            out,
        ))
    }

    /// Processes MC's [`McFinish`] and returns the session.
    pub fn finish(&mut self, mc_finish: &[u8]) -> Result<Session, HandshakeError> {
        let DroneState::AwaitFinish {
            ephemeral,
            mut transcript,
            mission_control,
            drone_id,
        } = std::mem::replace(&mut self.state, DroneState::Failed)
        else {
            return Err(HandshakeError::OutOfOrder);
        };
        let f = McFinish::decode(mc_finish)?;
        let c1 = Element::from_bytes(&f.c1)?;
        let c2 = Element::from_bytes(&f.c2)?;
        transcript.update(&mc_finish[..MC_FINISH_BODY_LEN]);
        let t2: [u8; 32] = transcript.clone().finalize().into();
        mission_control.verify(CTX_MC, &t2, &Signature::from_bytes(&f.signature)?)?;
        transcript.update(f.signature);
        let th: [u8; 32] = transcript.finalize().into();
        let secret = group::elgamal_decapsulate(&ephemeral, &Ciphertext { c1, c2 })?;
        drop(ephemeral);
        let keys = derive(secret.to_bytes().as_ref(), &th)?;
        self.state = DroneState::Done;
        Ok(Session::new(Role::Drone, drone_id, keys, th))
    }
}

#[cfg(test)]
mod tests {
    use super::super::record::Opened;
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    struct Fleet {
        mc: SigningKey,
        registry: DroneRegistry,
        drone: DroneIdentity,
        rng: StdRng,
    }

    fn fleet() -> Fleet {
        let mut rng = StdRng::seed_from_u64(42);
        let mc = SigningKey::generate(&mut rng);
        let dk = SigningKey::generate(&mut rng);
        let mut registry = DroneRegistry::new();
        registry.enroll(7, dk.public().clone());
        let drone = DroneIdentity {
            id: 7,
            key: dk,
            mission_control: mc.public().clone(),
        };
        Fleet {
            mc,
            registry,
            drone,
            rng,
        }
    }

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn hkdf_helper_matches_rfc5869_test_case_1() {
        let v: serde_json::Value =
            serde_json::from_str(include_str!("testdata/rfc5869.json")).unwrap();
        let field = |k: &str| unhex(v[k].as_str().unwrap());
        let mut okm = vec![0u8; v["length"].as_u64().unwrap() as usize];
        hkdf_sha256(&field("salt"), &field("ikm"), &field("info"), &mut okm).unwrap();
        assert_eq!(okm, field("okm"));
    }

    #[test]
    fn handshake_establishes_matching_sessions_and_fleet_key() {
        let mut f = fleet();
        let mut mc_seen = NonceCache::default();
        let mut d_seen = NonceCache::default();
        let (mut mc, ch) = McHandshake::start(&mut f.rng);
        assert_eq!(ch.len(), CLIENT_HELLO_LEN);
        let (mut d, dh) = DroneHandshake::respond(&f.drone, &mut d_seen, &ch, &mut f.rng).unwrap();
        assert_eq!(dh.len(), DRONE_HELLO_LEN);
        let (mut mc_s, fin) = mc
            .finish(&f.mc, &f.registry, &mut mc_seen, &dh, &mut f.rng)
            .unwrap();
        assert_eq!(fin.len(), MC_FINISH_LEN);
        let mut d_s = d.finish(&fin).unwrap();

        assert_eq!(mc_s.session_id(), d_s.session_id());
        assert_eq!(mc_s.transcript_hash(), d_s.transcript_hash());
        assert_eq!(mc_s.drone_id(), 7);
        let r = d_s.seal(b"heartbeat").unwrap();
        assert_eq!(
            mc_s.open(&r).unwrap(),
            Opened::Data(Zeroizing::new(b"heartbeat".to_vec()))
        );
        let mut fleet_tx = super::super::record::FleetSender::new(1, &mut f.rng);
        let Opened::FleetKey(k) = d_s
            .open(&mc_s.seal_fleet_key(fleet_tx.key()).unwrap())
            .unwrap()
        else {
            panic!("expected fleet key");
        };
        let mut rx = super::super::record::FleetReceiver::new();
        rx.install(k).unwrap();
        assert_eq!(&rx.open(&fleet_tx.seal(b"go").unwrap()).unwrap()[..], b"go");

        // Both state machines refuse a second finish.
        assert_eq!(d.finish(&fin).unwrap_err(), HandshakeError::OutOfOrder);
        assert_eq!(
            mc.finish(&f.mc, &f.registry, &mut mc_seen, &dh, &mut f.rng)
                .unwrap_err(),
            HandshakeError::OutOfOrder
        );
    }

    #[test]
    fn two_runs_give_different_keys() {
        let mut f = fleet();
        let mut ids = Vec::new();
        for _ in 0..2 {
            let (mut mc, ch) = McHandshake::start(&mut f.rng);
            let (mut d, dh) =
                DroneHandshake::respond(&f.drone, &mut NonceCache::default(), &ch, &mut f.rng)
                    .unwrap();
            let (s, fin) = mc
                .finish(
                    &f.mc,
                    &f.registry,
                    &mut NonceCache::default(),
                    &dh,
                    &mut f.rng,
                )
                .unwrap();
            d.finish(&fin).unwrap();
            ids.push(s.session_id());
        }
        assert_ne!(ids[0], ids[1]);
    }

    #[test]
    fn modexps_per_handshake_are_counted() {
        let mut f = fleet();
        let base = group::modexp_count();
        let (mut mc, ch) = McHandshake::start(&mut f.rng);
        assert_eq!(group::modexp_count() - base, 0);
        let (mut d, dh) =
            DroneHandshake::respond(&f.drone, &mut NonceCache::default(), &ch, &mut f.rng).unwrap();
        let after_respond = group::modexp_count();
        assert_eq!(after_respond - base, 2, "drone: g^e, g^k");
        let (_, fin) = mc
            .finish(
                &f.mc,
                &f.registry,
                &mut NonceCache::default(),
                &dh,
                &mut f.rng,
            )
            .unwrap();
        let after_mc = group::modexp_count();
        assert_eq!(
            after_mc - after_respond,
            6,
            "MC: check E, g^s, Y^e, g^r, E^r, g^k"
        );
        d.finish(&fin).unwrap();
        assert_eq!(
            group::modexp_count() - after_mc,
            5,
            "drone: c1, c2 checks, g^s, Y^e, c1^e"
        );
    }

    #[test]
    fn unknown_drone_is_refused() {
        let mut f = fleet();
        f.registry.revoke(7);
        let (mut mc, ch) = McHandshake::start(&mut f.rng);
        let (_, dh) =
            DroneHandshake::respond(&f.drone, &mut NonceCache::default(), &ch, &mut f.rng).unwrap();
        assert_eq!(
            mc.finish(
                &f.mc,
                &f.registry,
                &mut NonceCache::default(),
                &dh,
                &mut f.rng
            )
            .unwrap_err(),
            HandshakeError::UnknownDrone(7)
        );
        // A failed handshake cannot be resumed.
        assert_eq!(
            mc.finish(
                &f.mc,
                &f.registry,
                &mut NonceCache::default(),
                &dh,
                &mut f.rng
            )
            .unwrap_err(),
            HandshakeError::OutOfOrder
        );
    }

    #[test]
    fn impostor_drone_key_gives_bad_signature() {
        let mut f = fleet();
        let impostor = DroneIdentity {
            id: 7,
            key: SigningKey::generate(&mut f.rng),
            mission_control: f.mc.public().clone(),
        };
        let (mut mc, ch) = McHandshake::start(&mut f.rng);
        let (_, dh) =
            DroneHandshake::respond(&impostor, &mut NonceCache::default(), &ch, &mut f.rng)
                .unwrap();
        assert_eq!(
            mc.finish(
                &f.mc,
                &f.registry,
                &mut NonceCache::default(),
                &dh,
                &mut f.rng
            )
            .unwrap_err(),
            HandshakeError::BadSignature
        );
    }

    #[test]
    fn impostor_mission_control_gives_bad_signature() {
        let mut f = fleet();
        let fake_mc = SigningKey::generate(&mut f.rng);
        // A fake MC cannot even accept the drone's hello: the drone signed a transcript that
        // names the real Y_M.
        let (mut mc, ch) = McHandshake::start(&mut f.rng);
        let (mut d, dh) =
            DroneHandshake::respond(&f.drone, &mut NonceCache::default(), &ch, &mut f.rng).unwrap();
        assert_eq!(
            mc.finish(
                &fake_mc,
                &f.registry,
                &mut NonceCache::default(),
                &dh,
                &mut f.rng
            )
            .unwrap_err(),
            HandshakeError::BadSignature
        );
        // A McFinish over exactly the right transcript, but signed with another key, is
        // refused by the drone.
        let (mut real, ch) = McHandshake::start(&mut f.rng);
        let (mut d2, dh) =
            DroneHandshake::respond(&f.drone, &mut NonceCache::default(), &ch, &mut f.rng).unwrap();
        let (_, mut fin) = real
            .finish(
                &f.mc,
                &f.registry,
                &mut NonceCache::default(),
                &dh,
                &mut f.rng,
            )
            .unwrap();
        let mut t = transcript_t1(
            &ch,
            &dh[..DRONE_HELLO_BODY_LEN],
            f.drone.key.public(),
            f.mc.public(),
        );
        t.update(&dh[DRONE_HELLO_BODY_LEN..]);
        t.update(&fin[..MC_FINISH_BODY_LEN]);
        let t2: [u8; 32] = t.finalize().into();
        let forged = fake_mc.sign(CTX_MC, &t2, &mut f.rng).to_bytes();
        fin[MC_FINISH_BODY_LEN..].copy_from_slice(&forged);
        assert_eq!(d2.finish(&fin).unwrap_err(), HandshakeError::BadSignature);
        // The first drone's handshake is still waiting and accepts nothing forged either.
        assert_eq!(d.finish(&fin).unwrap_err(), HandshakeError::BadSignature);
    }

    #[test]
    fn tampering_with_any_message_is_detected() {
        let mut f = fleet();
        // ClientHello nonce changed in transit: the drone signs a transcript MC never saw.
        let (mut mc, mut ch) = McHandshake::start(&mut f.rng);
        ch[CLIENT_HELLO_LEN - 1] ^= 1;
        let (_, dh) =
            DroneHandshake::respond(&f.drone, &mut NonceCache::default(), &ch, &mut f.rng).unwrap();
        assert_eq!(
            mc.finish(
                &f.mc,
                &f.registry,
                &mut NonceCache::default(),
                &dh,
                &mut f.rng
            )
            .unwrap_err(),
            HandshakeError::BadSignature
        );

        // DroneHello nonce or ephemeral changed.
        for idx in [12usize, DRONE_HELLO_BODY_LEN - 1, DRONE_HELLO_LEN - 1] {
            let (mut mc, ch) = McHandshake::start(&mut f.rng);
            let (_, mut dh) =
                DroneHandshake::respond(&f.drone, &mut NonceCache::default(), &ch, &mut f.rng)
                    .unwrap();
            dh[idx] ^= 1;
            let err = mc
                .finish(
                    &f.mc,
                    &f.registry,
                    &mut NonceCache::default(),
                    &dh,
                    &mut f.rng,
                )
                .unwrap_err();
            assert!(
                matches!(
                    err,
                    HandshakeError::BadSignature | HandshakeError::NotInSubgroup
                ),
                "byte {idx}: {err:?}"
            );
        }

        // McFinish signature or ciphertext changed.
        for idx in [1usize, 300, MC_FINISH_LEN - 1] {
            let (mut mc, ch) = McHandshake::start(&mut f.rng);
            let (mut d, dh) =
                DroneHandshake::respond(&f.drone, &mut NonceCache::default(), &ch, &mut f.rng)
                    .unwrap();
            let (_, mut fin) = mc
                .finish(
                    &f.mc,
                    &f.registry,
                    &mut NonceCache::default(),
                    &dh,
                    &mut f.rng,
                )
                .unwrap();
            fin[idx] ^= 1;
            let err = d.finish(&fin).unwrap_err();
            assert!(
                matches!(
                    err,
                    HandshakeError::BadSignature | HandshakeError::NotInSubgroup
                ),
                "byte {idx}: {err:?}"
            );
        }
    }

    #[test]
    fn substituted_ephemeral_outside_subgroup_is_refused() {
        let mut f = fleet();
        let (mut mc, ch) = McHandshake::start(&mut f.rng);
        let (_, mut dh) =
            DroneHandshake::respond(&f.drone, &mut NonceCache::default(), &ch, &mut f.rng).unwrap();
        let p_minus_1 = &group::params().p - 1u32;
        let mut enc = [0u8; ELEMENT_LEN];
        let raw = p_minus_1.to_bytes_be();
        enc[ELEMENT_LEN - raw.len()..].copy_from_slice(&raw);
        dh[10 + NONCE_LEN..DRONE_HELLO_BODY_LEN].copy_from_slice(&enc);
        assert_eq!(
            mc.finish(
                &f.mc,
                &f.registry,
                &mut NonceCache::default(),
                &dh,
                &mut f.rng
            )
            .unwrap_err(),
            HandshakeError::NotInSubgroup
        );

        let (mut mc, ch) = McHandshake::start(&mut f.rng);
        let (mut d, dh) =
            DroneHandshake::respond(&f.drone, &mut NonceCache::default(), &ch, &mut f.rng).unwrap();
        let (_, mut fin) = mc
            .finish(
                &f.mc,
                &f.registry,
                &mut NonceCache::default(),
                &dh,
                &mut f.rng,
            )
            .unwrap();
        fin[1..1 + ELEMENT_LEN].copy_from_slice(&[0u8; ELEMENT_LEN]);
        assert_eq!(d.finish(&fin).unwrap_err(), HandshakeError::NotInSubgroup);
    }

    #[test]
    fn replayed_nonces_are_refused() {
        let mut f = fleet();
        let mut d_seen = NonceCache::default();
        let (_, ch) = McHandshake::start(&mut f.rng);
        DroneHandshake::respond(&f.drone, &mut d_seen, &ch, &mut f.rng).unwrap();
        assert_eq!(
            DroneHandshake::respond(&f.drone, &mut d_seen, &ch, &mut f.rng).unwrap_err(),
            HandshakeError::ReplayedNonce
        );

        // An old DroneHello replayed into a new MC run: wrong transcript.
        let (mut mc1, ch1) = McHandshake::start(&mut f.rng);
        let (_, dh1) =
            DroneHandshake::respond(&f.drone, &mut NonceCache::default(), &ch1, &mut f.rng)
                .unwrap();
        let mut mc_seen = NonceCache::default();
        mc1.finish(&f.mc, &f.registry, &mut mc_seen, &dh1, &mut f.rng)
            .unwrap();
        let (mut mc2, _) = McHandshake::start(&mut f.rng);
        assert_eq!(
            mc2.finish(&f.mc, &f.registry, &mut mc_seen, &dh1, &mut f.rng)
                .unwrap_err(),
            HandshakeError::BadSignature
        );

        // Even a correctly signed hello with a drone nonce MC has seen is refused.
        let mut mc_seen = NonceCache::default();
        let (mut mc3, ch3) = McHandshake::start(&mut f.rng);
        let mut seq_rng = StdRng::seed_from_u64(99);
        let (_, dh3) =
            DroneHandshake::respond(&f.drone, &mut NonceCache::default(), &ch3, &mut seq_rng)
                .unwrap();
        mc3.finish(&f.mc, &f.registry, &mut mc_seen, &dh3, &mut f.rng)
            .unwrap();
        let (mut mc4, ch4) = McHandshake::start(&mut f.rng);
        let mut seq_rng = StdRng::seed_from_u64(99); // a drone whose RNG repeats
        let (_, dh4) =
            DroneHandshake::respond(&f.drone, &mut NonceCache::default(), &ch4, &mut seq_rng)
                .unwrap();
        assert_eq!(
            mc4.finish(&f.mc, &f.registry, &mut mc_seen, &dh4, &mut f.rng)
                .unwrap_err(),
            HandshakeError::ReplayedNonce
        );
    }

    #[test]
    fn reflected_nonce_is_refused() {
        let mut f = fleet();
        let (mut mc, ch) = McHandshake::start(&mut f.rng);
        let (_, mut dh) =
            DroneHandshake::respond(&f.drone, &mut NonceCache::default(), &ch, &mut f.rng).unwrap();
        dh[10..10 + NONCE_LEN].copy_from_slice(&ch[6..]);
        assert_eq!(
            mc.finish(
                &f.mc,
                &f.registry,
                &mut NonceCache::default(),
                &dh,
                &mut f.rng
            )
            .unwrap_err(),
            HandshakeError::ReplayedNonce
        );
    }

    #[test]
    fn other_group_or_size_is_a_downgrade() {
        let mut f = fleet();
        let (_, ch) = McHandshake::start(&mut f.rng);
        for (at, val) in [(2usize, [0u8, 2]), (4, [0x04, 0x00]), (1, [2, 0])] {
            let mut bad = ch.clone();
            bad[at] = val[0];
            if at != 1 {
                bad[at + 1] = val[1];
            }
            assert!(
                matches!(
                    DroneHandshake::respond(&f.drone, &mut NonceCache::default(), &bad, &mut f.rng),
                    Err(HandshakeError::Downgrade { .. })
                ),
                "field at {at}"
            );
        }
        // An echo naming another group is refused by MC.
        let (mut mc, ch) = McHandshake::start(&mut f.rng);
        let (_, mut dh) =
            DroneHandshake::respond(&f.drone, &mut NonceCache::default(), &ch, &mut f.rng).unwrap();
        dh[2..4].copy_from_slice(&2u16.to_be_bytes());
        assert_eq!(
            mc.finish(
                &f.mc,
                &f.registry,
                &mut NonceCache::default(),
                &dh,
                &mut f.rng
            )
            .unwrap_err(),
            HandshakeError::Downgrade {
                version: 1,
                group: 2,
                bits: 2048
            }
        );
    }

    #[test]
    fn group_id_is_bound_into_the_transcript() {
        // A lenient peer that accepts a rewritten group id signs a transcript naming it; the
        // genuine MC, whose ClientHello said 14, rejects the signature.
        let mut f = fleet();
        let (mut mc, ch) = McHandshake::start(&mut f.rng);
        let mut rewritten = ch.clone();
        rewritten[2..4].copy_from_slice(&2u16.to_be_bytes());
        rewritten[4..6].copy_from_slice(&1024u16.to_be_bytes());
        let (_, dh) = DroneHandshake::respond_with(
            &f.drone,
            &mut NonceCache::default(),
            &rewritten,
            &mut f.rng,
            false,
        )
        .unwrap();
        assert_eq!(
            mc.finish(
                &f.mc,
                &f.registry,
                &mut NonceCache::default(),
                &dh,
                &mut f.rng
            )
            .unwrap_err(),
            HandshakeError::BadSignature
        );
    }

    #[test]
    fn malformed_messages_are_typed_errors() {
        let mut f = fleet();
        let mut seen = NonceCache::default();
        for bad in [
            &[][..],
            &[1u8; 5],
            &[2u8; CLIENT_HELLO_LEN],
            &[1u8; CLIENT_HELLO_LEN + 1],
        ] {
            assert!(matches!(
                DroneHandshake::respond(&f.drone, &mut seen, bad, &mut f.rng),
                Err(HandshakeError::Malformed(_))
            ));
        }
        let (mut mc, _) = McHandshake::start(&mut f.rng);
        assert!(matches!(
            mc.finish(&f.mc, &f.registry, &mut seen, &[0u8; 10], &mut f.rng),
            Err(HandshakeError::Malformed(_))
        ));
        let (_, ch) = McHandshake::start(&mut f.rng);
        let (mut d, _) = DroneHandshake::respond(&f.drone, &mut seen, &ch, &mut f.rng).unwrap();
        assert!(matches!(
            d.finish(&[3u8; 10]),
            Err(HandshakeError::Malformed(_))
        ));
        assert_eq!(
            d.finish(&[3u8; MC_FINISH_LEN]).unwrap_err(),
            HandshakeError::OutOfOrder
        );
    }

    #[test]
    fn nonce_cache_evicts_oldest() {
        let mut c = NonceCache::new(2);
        c.insert(&[1; NONCE_LEN]).unwrap();
        c.insert(&[2; NONCE_LEN]).unwrap();
        assert_eq!(
            c.insert(&[2; NONCE_LEN]),
            Err(HandshakeError::ReplayedNonce)
        );
        c.insert(&[3; NONCE_LEN]).unwrap();
        c.insert(&[1; NONCE_LEN]).unwrap();
    }
}
