//! Round one: each signer draws a fresh nonce pair and publishes its commitments.
//!
//! `commit` is RFC 9591 §5.1: `hiding_nonce = nonce_generate(s_i)`,
//! `binding_nonce = nonce_generate(s_i)`, with `nonce_generate(secret) = H3(random_bytes(32) ||
//! SerializeScalar(secret))` (§4.1). Mixing the secret share into the hash keeps the nonces
//! unpredictable even if the random source is weak; the 32 fresh random bytes keep them distinct
//! across sessions even for the same share, which is what single use requires.
//!
//! The signer keeps [`SigningNonces`] (secret) and sends [`SigningCommitments`] (public) to the
//! coordinator. `SigningNonces` is not `Clone`; [`super::round2::sign`] takes it by value, so a
//! nonce pair can be used for at most one signature share (see [`super::nonce_reuse`] for what
//! reuse would cost).
//!
//! Encodings: `SigningCommitments` is 96 bytes, `identifier(32) || hiding(32) || binding(32)`,
//! which is exactly one entry of RFC 9591 `encode_group_commitment_list`. `SigningNonces`
//! serializes (consuming) to 96 bytes `hiding(32) || binding(32) || identifier(32)`.

use std::fmt;

use curve25519_dalek::edwards::EdwardsPoint;
use curve25519_dalek::scalar::Scalar;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::error::FrostError;
use super::keys::{Identifier, KeyPackage, hex};
use super::suite::{decode_element, decode_nonzero_scalar, fixed, h3};

/// Length of an encoded [`SigningCommitments`].
pub const COMMITMENTS_LEN: usize = 96;

/// A signer's public commitments `(D_i, E_i) = (d_i * G, e_i * G)` for one signing session.
///
/// Keeps its 96-byte encoding beside the points: every party hashes the encoded commitment
/// list, and the points are compressed (one field inversion each) only once, when made.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SigningCommitments {
    pub(super) identifier: Identifier,
    pub(super) hiding: EdwardsPoint,
    pub(super) binding: EdwardsPoint,
    pub(super) encoded: [u8; COMMITMENTS_LEN],
}

impl SigningCommitments {
    /// The signer these commitments belong to.
    pub fn identifier(&self) -> Identifier {
        self.identifier
    }

    /// `identifier(32) || hiding(32) || binding(32)`.
    pub fn to_bytes(&self) -> [u8; COMMITMENTS_LEN] {
        self.encoded
    }

    /// Commitments from their points (compressed once, here).
    pub(super) fn from_points(
        identifier: Identifier,
        hiding: EdwardsPoint,
        binding: EdwardsPoint,
    ) -> Self {
        let mut encoded = [0u8; COMMITMENTS_LEN];
        encoded[..32].copy_from_slice(&identifier.to_bytes());
        encoded[32..64].copy_from_slice(hiding.compress().as_bytes());
        encoded[64..].copy_from_slice(binding.compress().as_bytes());
        Self {
            identifier,
            hiding,
            binding,
            encoded,
        }
    }

    /// Decodes and validates (identifier range, both points per `DeserializeElement`).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, FrostError> {
        let bytes: [u8; COMMITMENTS_LEN] = fixed(bytes, "signing commitments")?;
        let id: [u8; 32] = fixed(&bytes[..32], "identifier")?;
        let hiding: [u8; 32] = fixed(&bytes[32..64], "hiding commitment")?;
        let binding: [u8; 32] = fixed(&bytes[64..], "binding commitment")?;
        Ok(Self {
            identifier: Identifier::from_bytes(&id)?,
            hiding: decode_element(&hiding, "hiding commitment")?,
            binding: decode_element(&binding, "binding commitment")?,
            encoded: bytes,
        })
    }

    /// Like [`Self::from_bytes`], but an entry equal byte for byte to one of `known` (say the
    /// signer's own commitments, which it made itself) is taken as is: no decompression, no
    /// subgroup check for points this party already holds validated.
    pub fn from_bytes_known(
        bytes: &[u8],
        known: &[SigningCommitments],
    ) -> Result<Self, FrostError> {
        match known.iter().find(|k| k.encoded[..] == *bytes) {
            Some(k) => Ok(*k),
            None => Self::from_bytes(bytes),
        }
    }
}

impl fmt::Debug for SigningCommitments {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningCommitments")
            .field("identifier", &self.identifier)
            .field("hiding", &hex(self.hiding.compress().as_bytes()))
            .field("binding", &hex(self.binding.compress().as_bytes()))
            .finish()
    }
}

/// A signer's secret nonce pair `(d_i, e_i)` for exactly one signing session.
///
/// Not `Clone`; consumed by [`super::round2::sign`]; zeroized on drop; redacted in `Debug`.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct SigningNonces {
    pub(super) hiding: Scalar,
    pub(super) binding: Scalar,
    #[zeroize(skip)]
    pub(super) commitments: SigningCommitments,
}

impl SigningNonces {
    /// The public commitments of these nonces.
    pub fn commitments(&self) -> SigningCommitments {
        self.commitments
    }

    /// Serializes for storage between the rounds, consuming `self` so the in-memory copy is
    /// gone. `hiding(32) || binding(32) || identifier(32)`. Storing nonces is how reuse happens
    /// in practice (restore a backup, sign twice): delete the stored copy before signing.
    pub fn into_bytes(self) -> Zeroizing<[u8; 96]> {
        let mut out = Zeroizing::new([0u8; 96]);
        out[..32].copy_from_slice(self.hiding.as_bytes());
        out[32..64].copy_from_slice(self.binding.as_bytes());
        out[64..].copy_from_slice(&self.commitments.identifier.to_bytes());
        out
    }

    /// Restores nonces stored with [`Self::into_bytes`] (recomputing the commitments).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, FrostError> {
        let bytes: Zeroizing<[u8; 96]> = Zeroizing::new(fixed(bytes, "signing nonces")?);
        let hiding_bytes: Zeroizing<[u8; 32]> =
            Zeroizing::new(fixed(&bytes[..32], "hiding nonce")?);
        let binding_bytes: Zeroizing<[u8; 32]> =
            Zeroizing::new(fixed(&bytes[32..64], "binding nonce")?);
        let id: [u8; 32] = fixed(&bytes[64..], "identifier")?;
        let identifier = Identifier::from_bytes(&id)?;
        let hiding = decode_nonzero_scalar(&hiding_bytes, "hiding nonce")?;
        let binding = decode_nonzero_scalar(&binding_bytes, "binding nonce")?;
        Ok(Self::from_scalars(identifier, hiding, binding))
    }

    pub(super) fn from_scalars(identifier: Identifier, hiding: Scalar, binding: Scalar) -> Self {
        let commitments = SigningCommitments::from_points(
            identifier,
            EdwardsPoint::mul_base(&hiding),
            EdwardsPoint::mul_base(&binding),
        );
        Self {
            hiding,
            binding,
            commitments,
        }
    }
}

impl fmt::Debug for SigningNonces {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningNonces")
            .field("secret", &"<redacted>")
            .field("commitments", &self.commitments)
            .finish()
    }
}

/// RFC 9591 §4.1 `nonce_generate` with caller-supplied randomness (used by [`commit`] and by
/// the test-vector check).
pub(super) fn nonce_generate(secret: &Scalar, random_bytes: &[u8; 32]) -> Scalar {
    let secret_enc = Zeroizing::new(secret.to_bytes());
    h3(&[random_bytes, secret_enc.as_ref()])
}

/// RFC 9591 §5.1 `commit` with caller-supplied randomness. Only for reproducing test vectors:
/// real callers use [`commit`].
pub(super) fn commit_with_randomness(
    key_package: &KeyPackage,
    hiding_randomness: &[u8; 32],
    binding_randomness: &[u8; 32],
) -> (SigningNonces, SigningCommitments) {
    let secret = &key_package.signing_share.0;
    let nonces = SigningNonces::from_scalars(
        key_package.identifier,
        nonce_generate(secret, hiding_randomness),
        nonce_generate(secret, binding_randomness),
    );
    let commitments = nonces.commitments;
    (nonces, commitments)
}

/// Round one, RFC 9591 §5.1: fresh nonces from 2 x 32 random bytes and the signing share.
/// Keep the nonces, send the commitments to the coordinator.
pub fn commit<R: rand::CryptoRng + ?Sized>(
    key_package: &KeyPackage,
    rng: &mut R,
) -> (SigningNonces, SigningCommitments) {
    let mut hiding_randomness = Zeroizing::new([0u8; 32]);
    let mut binding_randomness = Zeroizing::new([0u8; 32]);
    rng.fill_bytes(hiding_randomness.as_mut());
    rng.fill_bytes(binding_randomness.as_mut());
    commit_with_randomness(key_package, &hiding_randomness, &binding_randomness)
}
