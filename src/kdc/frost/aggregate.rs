//! The coordinator's side of round two: check every signature share, then combine.
//!
//! RFC 9591 §5.3 `aggregate` is `z = sum z_i`, signature `(R, z)`. A bare sum would let one
//! faulty or malicious signer make the result invalid with no way to tell who; RFC 9591 §5.4
//! gives `verify_signature_share` for identifying such a signer, and [`aggregate`] runs it on
//! every share *before* summing
//!
//! ```text
//! z_i * G == D_i + rho_i * E_i + (c * lambda_i) * Y_i
//! ```
//!
//! and fails with [`FrostError::InvalidSignatureShare`] naming the first signer (ascending
//! identifier order) whose share is wrong. Only then is the sum formed and the final signature
//! verified against the group key (which cannot fail if all shares passed, but costs one
//! verification and guards against a wrong `PublicKeyPackage`).

use std::collections::BTreeMap;

use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
use curve25519_dalek::edwards::EdwardsPoint;
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{IsIdentity, VartimeMultiscalarMul};

use super::error::FrostError;
use super::keys::{GroupPublicKey, Identifier, PublicKeyPackage, VerifyingShare};
use super::round2::{SessionValues, SignatureShare, SigningPackage};
use super::signature::Signature;

/// RFC 9591 §5.4: checks one signer's share against its commitments and verifying share.
/// On failure the error names `identifier` as the culprit.
pub fn verify_signature_share(
    identifier: Identifier,
    verifying_share: &VerifyingShare,
    signature_share: &SignatureShare,
    signing_package: &SigningPackage,
    group_public_key: &GroupPublicKey,
) -> Result<(), FrostError> {
    let session = SessionValues::derive(signing_package, group_public_key)?;
    verify_share_in_session(
        identifier,
        verifying_share,
        signature_share,
        signing_package,
        &session,
    )
}

fn verify_share_in_session(
    identifier: Identifier,
    verifying_share: &VerifyingShare,
    signature_share: &SignatureShare,
    signing_package: &SigningPackage,
    session: &SessionValues,
) -> Result<(), FrostError> {
    let commitments = signing_package
        .commitment_for(identifier)
        .ok_or(FrostError::UnexpectedSignatureShare(identifier))?;
    let (rho, lambda) = session.factors_of(identifier)?;
    // z_i*G - D_i - rho_i*E_i - (c*lambda_i)*Y_i == 0, as one variable-time multiscalar
    // multiplication (every input is public).
    let check = EdwardsPoint::vartime_multiscalar_mul(
        [
            signature_share.0,
            -Scalar::ONE,
            -rho,
            -(session.challenge * lambda),
        ],
        [
            ED25519_BASEPOINT_POINT,
            commitments.hiding,
            commitments.binding,
            verifying_share.0,
        ],
    );
    if check.is_identity() {
        Ok(())
    } else {
        Err(FrostError::InvalidSignatureShare {
            culprit: identifier,
        })
    }
}

/// Verifies every share, sums them, and verifies the resulting signature.
///
/// Refuses: fewer than `min_signers` commitments, a signer that is not a group member, a missing
/// share, a share from someone outside the commitment list, and any invalid share (naming it).
pub fn aggregate(
    signing_package: &SigningPackage,
    signature_shares: &BTreeMap<Identifier, SignatureShare>,
    public_key_package: &PublicKeyPackage,
) -> Result<Signature, FrostError> {
    let signers = signing_package.identifiers();
    if signers.len() < usize::from(public_key_package.min_signers) {
        return Err(FrostError::NotEnoughSigners {
            got: signers.len(),
            min_signers: public_key_package.min_signers,
        });
    }
    for id in signature_shares.keys() {
        if signing_package.commitment_for(*id).is_none() {
            return Err(FrostError::UnexpectedSignatureShare(*id));
        }
    }
    let group_public_key = public_key_package.group_public_key;
    let session = SessionValues::derive(signing_package, &group_public_key)?;
    let mut z = Scalar::ZERO;
    for id in signers {
        let verifying_share = public_key_package
            .verifying_shares
            .get(&id)
            .ok_or(FrostError::UnknownParticipant(id))?;
        let share = signature_shares
            .get(&id)
            .ok_or(FrostError::MissingSignatureShare(id))?;
        verify_share_in_session(id, verifying_share, share, signing_package, &session)?;
        z += share.0;
    }
    let signature = Signature {
        r: session.group_commitment,
        z,
    };
    // The final RFC 8032 check, with the challenge the session already hashed from the same
    // R, PK and message.
    group_public_key.verify_with_challenge(&session.challenge, &signature)?;
    Ok(signature)
}
