//! Key material: identifiers, shares, the group public key and the per-participant packages.
//!
//! Encodings (all fixed-length, little-endian scalars as in RFC 9591 §6.1):
//!
//! | type               | bytes | encoding                                                   |
//! |--------------------|-------|------------------------------------------------------------|
//! | [`Identifier`]     | 32    | scalar `1..=65535` (RFC `SerializeScalar(identifier)`)     |
//! | [`SigningShare`]   | 32    | canonical nonzero scalar (secret)                          |
//! | [`VerifyingShare`] | 32    | point, RFC 9591 `DeserializeElement` rules                 |
//! | [`GroupPublicKey`] | 32    | point, RFC 8032 public key, `DeserializeElement` rules     |
//!
//! The Shamir polynomial of a group with threshold `t` has degree `t - 1`; participant `i` holds
//! `f(i)`, the group secret is `f(0)`. Helpers here evaluate polynomials, their Feldman
//! commitments, and Lagrange coefficients at zero.

use std::collections::BTreeMap;
use std::fmt;

use curve25519_dalek::edwards::EdwardsPoint;
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::Identity;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::error::FrostError;
use super::suite::{decode_element, decode_nonzero_scalar};

/// A participant identifier: a nonzero scalar, here restricted to `1..=u16::MAX`.
///
/// Ordering is numeric, which is the ordering RFC 9591 sorts commitment lists by. Encoded as
/// the 32-byte little-endian scalar (only the two low bytes may be nonzero).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Identifier(u16);

impl Identifier {
    /// Builds an identifier; zero is refused (it is the x-coordinate of the group secret).
    pub fn new(value: u16) -> Result<Self, FrostError> {
        if value == 0 {
            return Err(FrostError::InvalidIdentifier);
        }
        Ok(Self(value))
    }

    /// The numeric value.
    pub fn get(self) -> u16 {
        self.0
    }

    /// The identifier as a scalar (the x-coordinate of this participant's share).
    pub fn to_scalar(self) -> Scalar {
        Scalar::from(u64::from(self.0))
    }

    /// RFC 9591 `SerializeScalar(identifier)`.
    pub fn to_bytes(self) -> [u8; 32] {
        self.to_scalar().to_bytes()
    }

    /// Decodes a 32-byte scalar encoding; it must be canonical, nonzero and at most `u16::MAX`.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, FrostError> {
        if bytes[2..].iter().any(|&b| b != 0) {
            return Err(FrostError::InvalidIdentifier);
        }
        Self::new(u16::from_le_bytes([bytes[0], bytes[1]]))
    }
}

impl fmt::Display for Identifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Debug for Identifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Identifier({})", self.0)
    }
}

/// A participant's secret share `s_i = f(i)`. Zeroized on drop, redacted in `Debug`, compared in
/// constant time.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SigningShare(pub(super) Scalar);

impl SigningShare {
    /// Decodes a canonical nonzero scalar.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, FrostError> {
        decode_nonzero_scalar(bytes, "signing share").map(Self)
    }

    /// The 32-byte encoding, in a buffer that is wiped when dropped.
    pub fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.0.to_bytes())
    }

    /// The matching public verifying share `s_i * G`.
    pub fn verifying_share(&self) -> VerifyingShare {
        VerifyingShare(EdwardsPoint::mul_base(&self.0))
    }
}

impl PartialEq for SigningShare {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl Eq for SigningShare {}

impl fmt::Debug for SigningShare {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningShare(<redacted>)")
    }
}

/// A participant's public verifying share `Y_i = s_i * G`, used to check its signature shares.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct VerifyingShare(pub(super) EdwardsPoint);

impl VerifyingShare {
    /// Decodes with the RFC 9591 `DeserializeElement` rules.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, FrostError> {
        decode_element(bytes, "verifying share").map(Self)
    }

    /// The 32-byte point encoding.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.compress().to_bytes()
    }
}

impl fmt::Debug for VerifyingShare {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VerifyingShare({})", hex(&self.to_bytes()))
    }
}

/// The group public key `PK = f(0) * G`: an ordinary RFC 8032 Ed25519 public key.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct GroupPublicKey(pub(super) EdwardsPoint);

impl GroupPublicKey {
    /// Decodes with the RFC 9591 `DeserializeElement` rules (so small-order, mixed-order,
    /// identity and non-canonical keys are refused).
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, FrostError> {
        decode_element(bytes, "group public key").map(Self)
    }

    /// The 32-byte RFC 8032 encoding.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.compress().to_bytes()
    }
}

impl fmt::Debug for GroupPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GroupPublicKey({})", hex(&self.to_bytes()))
    }
}

/// Everything one participant needs to sign: its identifier and secret share, its verifying
/// share, the group key and the threshold.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct KeyPackage {
    pub(super) identifier: Identifier,
    pub(super) signing_share: SigningShare,
    pub(super) verifying_share: VerifyingShare,
    pub(super) group_public_key: GroupPublicKey,
    pub(super) min_signers: u16,
}

impl KeyPackage {
    /// Assembles a key package; the verifying share is derived from the signing share.
    pub fn new(
        identifier: Identifier,
        signing_share: SigningShare,
        group_public_key: GroupPublicKey,
        min_signers: u16,
    ) -> Result<Self, FrostError> {
        if min_signers < 2 {
            return Err(FrostError::InvalidThreshold {
                min_signers,
                max_signers: min_signers,
            });
        }
        let verifying_share = signing_share.verifying_share();
        Ok(Self {
            identifier,
            signing_share,
            verifying_share,
            group_public_key,
            min_signers,
        })
    }

    /// This participant's identifier.
    pub fn identifier(&self) -> Identifier {
        self.identifier
    }

    /// This participant's secret share.
    pub fn signing_share(&self) -> &SigningShare {
        &self.signing_share
    }

    /// This participant's verifying share.
    pub fn verifying_share(&self) -> VerifyingShare {
        self.verifying_share
    }

    /// The group public key.
    pub fn group_public_key(&self) -> GroupPublicKey {
        self.group_public_key
    }

    /// The threshold `t`.
    pub fn min_signers(&self) -> u16 {
        self.min_signers
    }
}

/// The public view of a group: every member's verifying share, the group key, the threshold.
/// The coordinator needs it to check signature shares.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct PublicKeyPackage {
    pub(super) verifying_shares: BTreeMap<Identifier, VerifyingShare>,
    pub(super) group_public_key: GroupPublicKey,
    pub(super) min_signers: u16,
}

impl PublicKeyPackage {
    /// Assembles a public key package; checks `2 <= min_signers <= members`.
    pub fn new(
        verifying_shares: BTreeMap<Identifier, VerifyingShare>,
        group_public_key: GroupPublicKey,
        min_signers: u16,
    ) -> Result<Self, FrostError> {
        let max_signers = u16::try_from(verifying_shares.len()).unwrap_or(u16::MAX);
        check_threshold(min_signers, max_signers)?;
        Ok(Self {
            verifying_shares,
            group_public_key,
            min_signers,
        })
    }

    /// Member verifying shares by identifier.
    pub fn verifying_shares(&self) -> &BTreeMap<Identifier, VerifyingShare> {
        &self.verifying_shares
    }

    /// The group public key.
    pub fn group_public_key(&self) -> GroupPublicKey {
        self.group_public_key
    }

    /// The threshold `t`.
    pub fn min_signers(&self) -> u16 {
        self.min_signers
    }
}

/// Checks `2 <= min_signers <= max_signers`.
pub(super) fn check_threshold(min_signers: u16, max_signers: u16) -> Result<(), FrostError> {
    if min_signers < 2 || min_signers > max_signers {
        return Err(FrostError::InvalidThreshold {
            min_signers,
            max_signers,
        });
    }
    Ok(())
}

/// Draws a uniformly random scalar from 64 random bytes (wide reduction, negligible bias).
pub(super) fn random_scalar<R: rand::CryptoRng + ?Sized>(rng: &mut R) -> Scalar {
    let mut wide = Zeroizing::new([0u8; 64]);
    rng.fill_bytes(wide.as_mut());
    Scalar::from_bytes_mod_order_wide(&wide)
}

/// Evaluates `sum coefficients[k] * x^k` (Horner).
pub(super) fn evaluate_polynomial(coefficients: &[Scalar], x: Scalar) -> Scalar {
    coefficients
        .iter()
        .rev()
        .fold(Scalar::ZERO, |acc, c| acc * x + c)
}

/// Evaluates a Feldman commitment `sum commitment[k] * x^k`, i.e. `f(x) * G`.
pub(super) fn evaluate_commitment(commitment: &[EdwardsPoint], x: Scalar) -> EdwardsPoint {
    commitment
        .iter()
        .rev()
        .fold(EdwardsPoint::identity(), |acc, c| acc * x + c)
}

/// RFC 9591 `derive_interpolating_value`: the Lagrange coefficient at zero of `x_i` over the
/// sorted, duplicate-free `participants`.
pub(super) fn lagrange_coefficient(
    x_i: Identifier,
    participants: &[Identifier],
) -> Result<Scalar, FrostError> {
    if !participants.contains(&x_i) {
        return Err(FrostError::MissingOwnCommitment(x_i));
    }
    let xi = x_i.to_scalar();
    let mut numerator = Scalar::ONE;
    let mut denominator = Scalar::ONE;
    for &x_j in participants {
        if x_j == x_i {
            continue;
        }
        let xj = x_j.to_scalar();
        numerator *= xj;
        denominator *= xj - xi;
    }
    if denominator == Scalar::ZERO {
        return Err(FrostError::DuplicateIdentifier(x_i));
    }
    Ok(numerator * denominator.invert())
}

/// Most signer sets [`lagrange_coefficients`] remembers per thread (then it starts over).
const LAGRANGE_MEMO_MAX: usize = 64;

thread_local! {
    static LAGRANGE_MEMO: std::cell::RefCell<std::collections::HashMap<Vec<Identifier>, Vec<Scalar>>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
}

/// The Lagrange coefficient at 0 of every member of `participants` (in its order). The values
/// depend only on the signer set, which repeats (three sets for 2-of-3), and are public: they
/// are remembered per thread, so the field inversions are paid once per set.
pub(super) fn lagrange_coefficients(
    participants: &[Identifier],
) -> Result<Vec<Scalar>, FrostError> {
    if let Some(v) = LAGRANGE_MEMO.with(|m| m.borrow().get(participants).cloned()) {
        return Ok(v);
    }
    let v = participants
        .iter()
        .map(|i| lagrange_coefficient(*i, participants))
        .collect::<Result<Vec<_>, _>>()?;
    LAGRANGE_MEMO.with(|m| {
        let mut m = m.borrow_mut();
        if m.len() >= LAGRANGE_MEMO_MAX {
            m.clear();
        }
        m.insert(participants.to_vec(), v.clone());
    });
    Ok(v)
}

/// Lower-case hex for `Debug` output of public values.
pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
