//! Trusted-dealer key generation (RFC 9591 Appendix C), for test vectors and demos only.
//!
//! A dealer picks the group secret `s` and a random polynomial
//! `f(x) = s + a_1 x + ... + a_{t-1} x^{t-1}`, hands participant `i` the share `f(i)`, and
//! publishes `PK = s * G` and `Y_i = f(i) * G`. The dealer *knows the group secret*: whoever
//! compromises it (or its memory afterwards) can sign alone. That defeats the purpose of a
//! threshold key, so the lab uses [`super::dkg`] for real groups and keeps this module to
//! reproduce the RFC 9591 Appendix E.1 vectors (which are generated this way) and for quick
//! demos.

use std::collections::BTreeMap;

use curve25519_dalek::edwards::EdwardsPoint;
use curve25519_dalek::scalar::Scalar;
use zeroize::Zeroizing;

use super::error::FrostError;
use super::keys::{
    GroupPublicKey, Identifier, KeyPackage, PublicKeyPackage, SigningShare, check_threshold,
    evaluate_polynomial, random_scalar,
};
use super::suite::{decode_nonzero_scalar, decode_scalar};

/// Splits a given group secret with given coefficients `a_1..a_{t-1}` (RFC 9591 Appendix C
/// `split_secret` with the randomness supplied). **Insecure by construction** (the caller knows
/// the secret); exists to reproduce published test vectors.
pub fn trusted_dealer_split_insecure(
    group_secret: &[u8; 32],
    coefficients: &[[u8; 32]],
    max_signers: u16,
    min_signers: u16,
) -> Result<(BTreeMap<Identifier, KeyPackage>, PublicKeyPackage), FrostError> {
    check_threshold(min_signers, max_signers)?;
    if coefficients.len() != usize::from(min_signers) - 1 {
        return Err(FrostError::InvalidLength {
            what: "dealer coefficients",
            expected: usize::from(min_signers) - 1,
            got: coefficients.len(),
        });
    }
    let mut poly: Zeroizing<Vec<Scalar>> =
        Zeroizing::new(Vec::with_capacity(coefficients.len() + 1));
    poly.push(decode_nonzero_scalar(group_secret, "group secret")?);
    for c in coefficients {
        poly.push(decode_scalar(c, "dealer coefficient")?);
    }
    split_polynomial(&poly, max_signers, min_signers)
}

/// Generates a fresh random group secret and splits it. **The dealer sees the group secret**;
/// use [`super::dkg`] unless a trusted dealer is acceptable (tests, demos).
pub fn trusted_dealer_keygen_insecure<R: rand::CryptoRng + ?Sized>(
    max_signers: u16,
    min_signers: u16,
    rng: &mut R,
) -> Result<(BTreeMap<Identifier, KeyPackage>, PublicKeyPackage), FrostError> {
    check_threshold(min_signers, max_signers)?;
    let mut poly: Zeroizing<Vec<Scalar>> =
        Zeroizing::new(Vec::with_capacity(usize::from(min_signers)));
    for _ in 0..min_signers {
        poly.push(random_scalar(rng));
    }
    split_polynomial(&poly, max_signers, min_signers)
}

fn split_polynomial(
    poly: &[Scalar],
    max_signers: u16,
    min_signers: u16,
) -> Result<(BTreeMap<Identifier, KeyPackage>, PublicKeyPackage), FrostError> {
    let secret = poly.first().ok_or(FrostError::ZeroScalar("group secret"))?;
    if *secret == Scalar::ZERO {
        return Err(FrostError::ZeroScalar("group secret"));
    }
    let group_public_key = GroupPublicKey(EdwardsPoint::mul_base(secret));
    let mut key_packages = BTreeMap::new();
    let mut verifying_shares = BTreeMap::new();
    for i in 1..=max_signers {
        let id = Identifier::new(i)?;
        let share = evaluate_polynomial(poly, id.to_scalar());
        if share == Scalar::ZERO {
            return Err(FrostError::ZeroScalar("signing share"));
        }
        let kp = KeyPackage::new(id, SigningShare(share), group_public_key, min_signers)?;
        verifying_shares.insert(id, kp.verifying_share);
        key_packages.insert(id, kp);
    }
    let public = PublicKeyPackage::new(verifying_shares, group_public_key, min_signers)?;
    Ok((key_packages, public))
}
