//! The final signature `(R, z)`: a standard 64-byte RFC 8032 Ed25519 signature `R || z`.
//!
//! Decoding is stricter than RFC 8032 requires: `z` must be canonical (`< L`, as RFC 8032 §5.1.7
//! demands too) and `R` must pass RFC 9591 `DeserializeElement` (canonical, not the identity, no
//! torsion component). Every honest Ed25519 signer, and FROST aggregation, produces such an `R`,
//! and refusing torsion removes the cofactored/cofactorless ambiguity: for torsion-free `R` and
//! `PK` the cofactored check used here, `[8](z*G - c*PK - R) = 0`, accepts exactly what the
//! cofactorless `z*G = R + c*PK` accepts (so ed25519-dalek's `verify_strict` agrees with us).

use std::fmt;

use curve25519_dalek::edwards::EdwardsPoint;
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::IsIdentity;

use super::error::FrostError;
use super::keys::{GroupPublicKey, hex};
use super::suite::{decode_element, decode_scalar, fixed, h2};

/// Length of an encoded [`Signature`].
pub const SIGNATURE_LEN: usize = 64;

/// A Schnorr signature `(R, z)` under the group public key.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Signature {
    pub(super) r: EdwardsPoint,
    pub(super) z: Scalar,
}

impl Signature {
    /// `R(32) || z(32)`, the RFC 8032 signature encoding.
    pub fn to_bytes(&self) -> [u8; SIGNATURE_LEN] {
        let mut out = [0u8; SIGNATURE_LEN];
        out[..32].copy_from_slice(self.r.compress().as_bytes());
        out[32..].copy_from_slice(self.z.as_bytes());
        out
    }

    /// Decodes with the checks described in the module docs.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, FrostError> {
        let bytes: [u8; SIGNATURE_LEN] = fixed(bytes, "signature")?;
        let r: [u8; 32] = fixed(&bytes[..32], "signature R")?;
        let z: [u8; 32] = fixed(&bytes[32..], "signature z")?;
        Ok(Self {
            r: decode_element(&r, "signature R")?,
            z: decode_scalar(&z, "signature z")?,
        })
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({})", hex(&self.to_bytes()))
    }
}

impl GroupPublicKey {
    /// Verifies an Ed25519 signature on `message`: `c = H2(R || PK || msg)`,
    /// `[8](z*G - c*PK - R) = 0`.
    pub fn verify(&self, message: &[u8], signature: &Signature) -> Result<(), FrostError> {
        let r = signature.r.compress().to_bytes();
        let c = h2(&[&r, &self.to_bytes(), message]);
        self.verify_with_challenge(&c, signature)
    }

    /// The verification equation for a challenge `c = H2(R || PK || msg)` the caller has
    /// already computed from this signature's `R`.
    pub(super) fn verify_with_challenge(
        &self,
        c: &Scalar,
        signature: &Signature,
    ) -> Result<(), FrostError> {
        let check = EdwardsPoint::vartime_double_scalar_mul_basepoint(&(-c), &self.0, &signature.z)
            - signature.r;
        if check.mul_by_cofactor().is_identity() {
            Ok(())
        } else {
            Err(FrostError::InvalidSignature)
        }
    }
}
