//! The lab's "nonce-reuse" attack: a deliberately broken signer that reuses one round-one
//! nonce pair, and the algebra that extracts its secret share.
//!
//! # Why two reuses are not enough in FROST, and three are
//!
//! In plain Schnorr, a signer that reuses one nonce `k` for two messages gives
//! `z_1 = k + c_1 x` and `z_2 = k + c_2 x`, so `x = (z_1 - z_2) / (c_1 - c_2)`: two signatures
//! suffice.
//!
//! A FROST signer has two nonces and its share is
//! `z = d + rho * e + (lambda * c) * s`. If it reuses `(d, e)` in sessions whose binding factor
//! `rho` or challenge `c` differ (a different message, or a different set of other signers'
//! commitments, both chosen by the coordinator), every session gives one linear equation in the
//! *three* unknowns `(d, e, s)`:
//!
//! ```text
//! z_k = 1 * d + rho_k * e + (lambda_k * c_k) * s        k = 1, 2, 3
//! ```
//!
//! Two sessions leave a one-dimensional family of solutions (the public `D = d*G`, `E = e*G`,
//! `Y = s*G` do not narrow it without solving a discrete logarithm). Three sessions give a
//! square system whose rows `(1, rho_k, lambda_k c_k)` are independent unless hash outputs
//! collide in a way that happens with probability about `1/L`; Cramer's rule then yields `s`
//! (and `d`, `e`). [`recover_signing_share`] does exactly that, and checks the result against
//! the victim's public verifying share. Signing the *same* package twice gives the same share
//! and no new equation.
//!
//! # What actually prevents it
//!
//! Not the binding factor: it only raises the count from two reuses to three (its job is
//! different: binding every nonce contribution to the message and the full commitment list
//! defeats the Drijvers / ROS attacks on concurrent sessions). What prevents the leak is that
//! nonces are used **once**: with a fresh `(d_k, e_k)` per session each equation brings two new
//! unknowns, `n` sessions give `n` equations in `2n + 1` unknowns, and `d_k` masks `z_k` like a
//! one-time pad over the scalar field. This core enforces single use in the type system:
//! [`super::round1::SigningNonces`] is not `Clone`, [`super::round2::sign`] consumes it, and it is
//! wiped on drop. What the type system cannot stop is a restored backup or a repeating random
//! source: `nonce_generate` hashes the secret share with 32 fresh random bytes, which keeps
//! nonces unpredictable under a weak RNG, but an RNG that *repeats* its output repeats the
//! nonces. [`NonceReusingSigner`] models such a broken signer.

use std::fmt;

use curve25519_dalek::edwards::EdwardsPoint;
use curve25519_dalek::scalar::Scalar;

use super::error::FrostError;
use super::keys::{Identifier, KeyPackage, PublicKeyPackage, SigningShare};
use super::round1::{SigningCommitments, SigningNonces, commit};
use super::round2::{SessionValues, SignatureShare, SigningPackage, sign_with_nonces};

/// A **deliberately broken** signer for the lab: it commits once and then signs every request
/// with the same nonce pair. Never use outside the attack demonstration.
pub struct NonceReusingSigner {
    key_package: KeyPackage,
    nonces: SigningNonces,
}

impl fmt::Debug for NonceReusingSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NonceReusingSigner")
            .field("identifier", &self.key_package.identifier)
            .field("nonces", &self.nonces)
            .finish()
    }
}

impl NonceReusingSigner {
    /// Draws one nonce pair that will be reused forever.
    pub fn new<R: rand::CryptoRng + ?Sized>(key_package: KeyPackage, rng: &mut R) -> Self {
        let (nonces, _) = commit(&key_package, rng);
        Self {
            key_package,
            nonces,
        }
    }

    /// The (never changing) commitments.
    pub fn commitments(&self) -> SigningCommitments {
        self.nonces.commitments
    }

    /// Signs like [`super::round2::sign`] but without consuming the nonces: the bug.
    pub fn sign(&self, signing_package: &SigningPackage) -> Result<SignatureShare, FrostError> {
        sign_with_nonces(
            signing_package,
            &self.nonces.hiding,
            &self.nonces.binding,
            &self.nonces.commitments,
            &self.key_package,
        )
    }
}

/// One observed session: the coordinator's signing package and the victim's share in it.
/// Everything here is public (the coordinator sees it all).
#[derive(Clone, Debug)]
pub struct ReuseObservation {
    /// The signing package of the session.
    pub signing_package: SigningPackage,
    /// The victim's signature share in that session.
    pub signature_share: SignatureShare,
}

fn det3(m: [[Scalar; 3]; 3]) -> Scalar {
    m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
        - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
        + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0])
}

/// Recovers `victim`'s signing share from three sessions in which it reused one nonce pair.
///
/// Fails with [`FrostError::NotANonceReuse`] if the victim's commitments differ between the
/// observations (fresh nonces: nothing to extract), [`FrostError::SingularSystem`] if the three
/// equations are dependent (e.g. the same package twice), and
/// [`FrostError::RecoveryInconsistent`] if the solution does not match the victim's verifying
/// share (a share that was not computed as modelled).
pub fn recover_signing_share(
    victim: Identifier,
    public: &PublicKeyPackage,
    observations: &[ReuseObservation; 3],
) -> Result<SigningShare, FrostError> {
    let verifying_share = public
        .verifying_shares
        .get(&victim)
        .ok_or(FrostError::UnknownParticipant(victim))?;
    let first = observations[0]
        .signing_package
        .commitment_for(victim)
        .ok_or(FrostError::NotANonceReuse)?;
    let mut rows = [[Scalar::ZERO; 3]; 3];
    let mut z = [Scalar::ZERO; 3];
    for (k, obs) in observations.iter().enumerate() {
        let pkg = &obs.signing_package;
        if pkg.commitment_for(victim) != Some(first) {
            return Err(FrostError::NotANonceReuse);
        }
        let session = SessionValues::derive(pkg, &public.group_public_key)?;
        let (rho, lambda) = session.factors_of(victim)?;
        rows[k] = [Scalar::ONE, rho, lambda * session.challenge];
        z[k] = obs.signature_share.0;
    }
    let det = det3(rows);
    if det == Scalar::ZERO {
        return Err(FrostError::SingularSystem);
    }
    let mut with_z = rows;
    for k in 0..3 {
        with_z[k][2] = z[k];
    }
    let s = det3(with_z) * det.invert();
    if EdwardsPoint::mul_base(&s) != verifying_share.0 {
        return Err(FrostError::RecoveryInconsistent);
    }
    Ok(SigningShare(s))
}
