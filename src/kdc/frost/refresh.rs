//! Proactive share refresh: new shares of the *same* group secret, so a share that leaked
//! before the refresh becomes useless after it.
//!
//! Every member `l` of the group deals a Shamir sharing of **zero**:
//! `g_l(x) = b_l1 x + ... + b_l(t-1) x^(t-1)` (no constant term). It broadcasts the Feldman
//! commitment `(B_l1, ..., B_l(t-1))`, `B_lk = b_lk * G`, as a [`RefreshCommitment`] and sends
//! member `j` the share `g_l(j)` privately as a [`RefreshShare`] (to itself too). Member `i`
//! checks every received share against its dealer's commitment *with the constant commitment
//! fixed to the identity*, `g_l(i)*G == sum_{k>=1} B_lk * i^k`, which proves the dealt
//! polynomial has constant term 0, then sets
//!
//! ```text
//! s_i' = s_i + sum_l g_l(i)        Y_j' = Y_j + sum_l sum_{k>=1} B_lk * j^k        PK' = PK
//! ```
//!
//! `sum_l g_l` is a random polynomial of degree `t-1` with `sum_l g_l(0) = 0`, so the new
//! shares lie on `f + sum_l g_l`: same secret `f(0)`, same group key, otherwise fresh. An old
//! share `f(i)` and a new share `f(j) + g(j)` lie on *different* polynomials; interpolating
//! them (or combining their signature shares) yields garbage. An attacker must therefore learn
//! `t` shares within one refresh epoch.
//!
//! Requirements outside this core: every member takes part (a member that missed a refresh
//! is locked out; recovering its share is a separate protocol), commitments go over a
//! broadcast channel, shares over confidential authenticated channels, and members delete the
//! old key package once the new one is in place. A dealer that sends a bad share is named
//! ([`FrostError::InvalidSecretShare`]); the refresh must then be aborted and rerun without
//! applying anything. A malicious dealer cannot change the group key or the threshold: the
//! constant term is fixed by construction and the commitment length by the checks.

use std::collections::BTreeMap;
use std::fmt;

use curve25519_dalek::edwards::EdwardsPoint;
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::Identity;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::dkg::sum_commitments;
use super::error::FrostError;
use super::keys::{
    Identifier, KeyPackage, PublicKeyPackage, SigningShare, VerifyingShare, evaluate_commitment,
    evaluate_polynomial, random_scalar,
};
use super::suite::{decode_element, decode_scalar, fixed};

/// A dealer's broadcast commitment `(B_1, ..., B_(t-1))` to a sharing of zero.
///
/// Encoding: `count(u16 BE) || count x B_k(32)`, every point per `DeserializeElement`.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct RefreshCommitment(pub(super) Vec<EdwardsPoint>);

impl RefreshCommitment {
    /// Encodes (see the type docs).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(2 + 32 * self.0.len());
        // Length is min_signers - 1, a u16, by construction.
        out.extend_from_slice(&(self.0.len() as u16).to_be_bytes());
        for b in &self.0 {
            out.extend_from_slice(b.compress().as_bytes());
        }
        out
    }

    /// Decodes and validates every element; the exact length must match.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, FrostError> {
        let count_bytes: [u8; 2] =
            fixed(bytes.get(..2).unwrap_or(bytes), "refresh commitment count")?;
        let count = usize::from(u16::from_be_bytes(count_bytes));
        let expected = 2 + 32 * count;
        if bytes.len() != expected {
            return Err(FrostError::InvalidLength {
                what: "refresh commitment",
                expected,
                got: bytes.len(),
            });
        }
        bytes[2..]
            .chunks_exact(32)
            .map(|c| decode_element(&fixed(c, "refresh commitment")?, "refresh commitment"))
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }

    /// The full commitment with the constant term fixed to the identity.
    fn with_zero_constant(&self) -> Vec<EdwardsPoint> {
        std::iter::once(EdwardsPoint::identity())
            .chain(self.0.iter().copied())
            .collect()
    }
}

/// A dealer's private share `g_l(j)` of zero for member `j`. Zeroized; 32-byte canonical scalar.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct RefreshShare(pub(super) Scalar);

impl RefreshShare {
    /// The 32-byte encoding, in a buffer that is wiped when dropped.
    pub fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.0.to_bytes())
    }

    /// Decodes a canonical scalar (zero allowed: it is a share of zero).
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, FrostError> {
        decode_scalar(bytes, "refresh share").map(Self)
    }
}

impl fmt::Debug for RefreshShare {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RefreshShare(<redacted>)")
    }
}

/// Deals a sharing of zero to every member of `public` (the dealer included).
pub fn deal<R: rand::CryptoRng + ?Sized>(
    public: &PublicKeyPackage,
    rng: &mut R,
) -> (RefreshCommitment, BTreeMap<Identifier, RefreshShare>) {
    let t = usize::from(public.min_signers);
    let mut poly: Zeroizing<Vec<Scalar>> = Zeroizing::new(Vec::with_capacity(t));
    poly.push(Scalar::ZERO);
    for _ in 1..t {
        poly.push(random_scalar(rng));
    }
    let commitment = RefreshCommitment(poly[1..].iter().map(EdwardsPoint::mul_base).collect());
    let shares = public
        .verifying_shares
        .keys()
        .map(|&j| (j, RefreshShare(evaluate_polynomial(&poly, j.to_scalar()))))
        .collect();
    (commitment, shares)
}

/// Checks that `map` has exactly the group members as keys.
fn check_members<V>(
    public: &PublicKeyPackage,
    map: &BTreeMap<Identifier, V>,
) -> Result<(), FrostError> {
    for &id in map.keys() {
        if !public.verifying_shares.contains_key(&id) {
            return Err(FrostError::UnexpectedPackage(id));
        }
    }
    for &id in public.verifying_shares.keys() {
        if !map.contains_key(&id) {
            return Err(FrostError::MissingPackage(id));
        }
    }
    Ok(())
}

/// The coordinator's (and everyone's) public half: new verifying shares from all members'
/// commitments. The group key is unchanged.
pub fn apply_public(
    public: &PublicKeyPackage,
    commitments: &BTreeMap<Identifier, RefreshCommitment>,
) -> Result<PublicKeyPackage, FrostError> {
    check_members(public, commitments)?;
    let t = usize::from(public.min_signers);
    let mut full = BTreeMap::new();
    for (&l, c) in commitments {
        if c.0.len() != t - 1 {
            return Err(FrostError::InvalidCommitmentLength {
                culprit: l,
                expected: t - 1,
                got: c.0.len(),
            });
        }
        full.insert(l, c.with_zero_constant());
    }
    let summed = sum_commitments(&full, t);
    let verifying_shares = public
        .verifying_shares
        .iter()
        .map(|(&j, y)| {
            (
                j,
                VerifyingShare(y.0 + evaluate_commitment(&summed, j.to_scalar())),
            )
        })
        .collect();
    PublicKeyPackage::new(
        verifying_shares,
        public.group_public_key,
        public.min_signers,
    )
}

/// A member's half: checks every share it received against its dealer's commitment and
/// returns the refreshed key package and public key package. `shares` includes the share the
/// member dealt itself. A `key_package` that does not belong to `public` (other group key, or
/// a verifying share that differs) is refused as [`FrostError::UnknownParticipant`].
pub fn apply(
    key_package: &KeyPackage,
    public: &PublicKeyPackage,
    commitments: &BTreeMap<Identifier, RefreshCommitment>,
    shares: &BTreeMap<Identifier, RefreshShare>,
) -> Result<(KeyPackage, PublicKeyPackage), FrostError> {
    if key_package.group_public_key != public.group_public_key
        || public.verifying_shares.get(&key_package.identifier)
            != Some(&key_package.verifying_share)
    {
        return Err(FrostError::UnknownParticipant(key_package.identifier));
    }
    let new_public = apply_public(public, commitments)?;
    check_members(public, shares)?;
    let x = key_package.identifier.to_scalar();
    let mut new_share = Zeroizing::new(key_package.signing_share.0);
    for (&l, c) in commitments {
        let share = shares.get(&l).ok_or(FrostError::MissingPackage(l))?;
        if EdwardsPoint::mul_base(&share.0) != evaluate_commitment(&c.with_zero_constant(), x) {
            return Err(FrostError::InvalidSecretShare { culprit: l });
        }
        *new_share += share.0;
    }
    if *new_share == Scalar::ZERO {
        return Err(FrostError::ZeroScalar("refreshed signing share"));
    }
    let new_key = KeyPackage::new(
        key_package.identifier,
        SigningShare(*new_share),
        public.group_public_key,
        public.min_signers,
    )?;
    if new_public.verifying_shares.get(&new_key.identifier) != Some(&new_key.verifying_share) {
        // Cannot happen once every share passed its check; kept as a guard.
        return Err(FrostError::InvalidSecretShare {
            culprit: new_key.identifier,
        });
    }
    Ok((new_key, new_public))
}
