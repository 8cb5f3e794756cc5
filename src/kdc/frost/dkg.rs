//! Distributed key generation: Pedersen's DKG with proofs of knowledge, as in the FROST paper
//! (Komlo & Goldberg 2020, Figure 1), so no party ever knows the group secret.
//!
//! Message flow for `n = max_signers` participants with threshold `t = min_signers`:
//!
//! 1. [`part1`]: participant `i` draws `f_i(x) = a_i0 + a_i1 x + ... + a_i(t-1) x^(t-1)`,
//!    publishes the Feldman commitment `C_i = (A_i0, ..., A_i(t-1))`, `A_ik = a_ik * G`, and a
//!    Schnorr proof of knowledge of `a_i0`: `k` random, `R_i = k*G`,
//!    `c_i = HDKG(len(ctx) || ctx || i || A_i0 || R_i)`, `mu_i = k + a_i0 * c_i`.
//!    The [`Round1Package`] `(C_i, R_i, mu_i)` goes to **everyone over a broadcast channel**
//!    (all participants must see the same package; detecting equivocation, e.g. by echoing
//!    hashes of all round-1 packages, is the caller's job).
//! 2. [`part2`]: checks every other participant's proof (`R_l == mu_l*G - c_l*A_l0`) and
//!    commitment length, then sends participant `l` the secret share `f_i(l)` as a
//!    [`Round2Package`] over a **confidential, authenticated point-to-point channel**.
//! 3. [`part3`]: checks every received share against its sender's commitment (Feldman VSS:
//!    `f_l(i)*G == sum_k A_lk * i^k`), then `s_i = sum_l f_l(i)`, `PK = sum_l A_l0`, and every
//!    participant's verifying share `Y_j = sum_l sum_k A_lk * j^k`.
//!
//! The secret packages are consumed by the next part (a type-state: parts cannot run out of
//! order or twice), and their coefficients are zeroized.
//!
//! Security: the proof of knowledge stops rogue-key attacks (choosing `A_l0` as a function of
//! the others' so that `PK` lands on a key the attacker knows); binding the identifier and a
//! caller-chosen session `context` into its challenge stops replaying someone else's proof or an
//! old session's. Any failed check names the culprit; the honest reaction is to abort the
//! whole DKG and exclude that participant (this core does not implement complaint rounds). As
//! in Pedersen's DKG, a rushing adversary can bias the distribution of `PK` somewhat; the FROST
//! paper shows this does not help forge signatures.

use std::collections::BTreeMap;
use std::fmt;

use curve25519_dalek::edwards::EdwardsPoint;
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{Identity, IsIdentity};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::error::FrostError;
use super::keys::{
    GroupPublicKey, Identifier, KeyPackage, PublicKeyPackage, SigningShare, VerifyingShare,
    check_threshold, evaluate_commitment, evaluate_polynomial, random_scalar,
};
use super::suite::{decode_element, decode_scalar, fixed, hdkg};

/// Upper bound on the session context bound into the proofs of knowledge.
pub const MAX_CONTEXT_LEN: usize = 256;

/// Participant `i`'s round-one secret state: its polynomial. Consumed by [`part2`].
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct Round1SecretPackage {
    #[zeroize(skip)]
    identifier: Identifier,
    coefficients: Vec<Scalar>,
    #[zeroize(skip)]
    commitment: Vec<EdwardsPoint>,
    #[zeroize(skip)]
    min_signers: u16,
    #[zeroize(skip)]
    max_signers: u16,
    #[zeroize(skip)]
    context: Vec<u8>,
}

impl fmt::Debug for Round1SecretPackage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Round1SecretPackage")
            .field("identifier", &self.identifier)
            .field("coefficients", &"<redacted>")
            .finish()
    }
}

/// The broadcast round-one message: coefficient commitment and proof of knowledge of `a_i0`.
///
/// Encoding: `t(u16 BE) || t x A_ik(32) || R(32) || mu(32)`, each point checked with
/// `DeserializeElement`, `mu` canonical.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Round1Package {
    pub(super) commitment: Vec<EdwardsPoint>,
    pub(super) proof_r: EdwardsPoint,
    pub(super) proof_mu: Scalar,
}

impl Round1Package {
    /// Encodes (see the type docs).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(2 + 32 * self.commitment.len() + 64);
        // The commitment length is min_signers, a u16, by construction.
        out.extend_from_slice(&(self.commitment.len() as u16).to_be_bytes());
        for a in &self.commitment {
            out.extend_from_slice(a.compress().as_bytes());
        }
        out.extend_from_slice(self.proof_r.compress().as_bytes());
        out.extend_from_slice(self.proof_mu.as_bytes());
        out
    }

    /// Decodes and validates every element; the exact length must match.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, FrostError> {
        let count_bytes: [u8; 2] = fixed(bytes.get(..2).unwrap_or(bytes), "round-1 package count")?;
        let count = usize::from(u16::from_be_bytes(count_bytes));
        let expected = 2 + 32 * count + 64;
        if bytes.len() != expected {
            return Err(FrostError::InvalidLength {
                what: "round-1 package",
                expected,
                got: bytes.len(),
            });
        }
        let mut chunks = bytes[2..].chunks_exact(32);
        let mut next =
            |what| -> Result<[u8; 32], FrostError> { fixed(chunks.next().unwrap_or(&[]), what) };
        let mut commitment = Vec::with_capacity(count);
        for _ in 0..count {
            commitment.push(decode_element(
                &next("coefficient commitment")?,
                "coefficient commitment",
            )?);
        }
        let proof_r = decode_element(&next("proof R")?, "proof R")?;
        let proof_mu = decode_scalar(&next("proof mu")?, "proof mu")?;
        Ok(Self {
            commitment,
            proof_r,
            proof_mu,
        })
    }
}

/// Participant `i`'s round-two secret state. Consumed by [`part3`].
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct Round2SecretPackage {
    #[zeroize(skip)]
    identifier: Identifier,
    /// `f_i(i)`, the share participant `i` deals to itself.
    own_share: Scalar,
    /// Every participant's validated commitment, own included.
    #[zeroize(skip)]
    commitments: BTreeMap<Identifier, Vec<EdwardsPoint>>,
    #[zeroize(skip)]
    min_signers: u16,
}

impl fmt::Debug for Round2SecretPackage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Round2SecretPackage")
            .field("identifier", &self.identifier)
            .field("own_share", &"<redacted>")
            .finish()
    }
}

/// The private round-two message from dealer `l` to participant `i`: the share `f_l(i)`.
/// Zeroized on drop; encoded as a 32-byte canonical scalar; send it encrypted.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Round2Package(pub(super) Scalar);

impl Round2Package {
    /// The 32-byte encoding, in a buffer that is wiped when dropped.
    pub fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.0.to_bytes())
    }

    /// Decodes a canonical scalar.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, FrostError> {
        decode_scalar(bytes, "round-2 share").map(Self)
    }
}

impl fmt::Debug for Round2Package {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Round2Package(<redacted>)")
    }
}

fn pok_challenge(context: &[u8], id: Identifier, a0: &EdwardsPoint, r: &EdwardsPoint) -> Scalar {
    // context is bounded by MAX_CONTEXT_LEN, so it fits a u16.
    let ctx_len = (context.len() as u16).to_be_bytes();
    hdkg(&[
        &ctx_len,
        context,
        &id.to_bytes(),
        a0.compress().as_bytes(),
        r.compress().as_bytes(),
    ])
}

/// Round one: draw the polynomial, commit to it, prove knowledge of its constant term.
/// `context` identifies this DKG session (e.g. group name and a fresh session id) and must be
/// the same for all participants.
pub fn part1<R: rand::CryptoRng + ?Sized>(
    identifier: Identifier,
    max_signers: u16,
    min_signers: u16,
    context: &[u8],
    rng: &mut R,
) -> Result<(Round1SecretPackage, Round1Package), FrostError> {
    check_threshold(min_signers, max_signers)?;
    if context.len() > MAX_CONTEXT_LEN {
        return Err(FrostError::TooLong {
            what: "DKG context",
            max: MAX_CONTEXT_LEN,
            got: context.len(),
        });
    }
    let mut coefficients = Vec::with_capacity(usize::from(min_signers));
    for _ in 0..min_signers {
        coefficients.push(random_scalar(rng));
    }
    let commitment: Vec<EdwardsPoint> = coefficients.iter().map(EdwardsPoint::mul_base).collect();
    let k = Zeroizing::new(random_scalar(rng));
    let proof_r = EdwardsPoint::mul_base(&k);
    let c = pok_challenge(context, identifier, &commitment[0], &proof_r);
    let proof_mu = *k + coefficients[0] * c;
    let package = Round1Package {
        commitment: commitment.clone(),
        proof_r,
        proof_mu,
    };
    let secret = Round1SecretPackage {
        identifier,
        coefficients,
        commitment,
        min_signers,
        max_signers,
        context: context.to_vec(),
    };
    Ok((secret, package))
}

/// Round two: verify the others' round-one packages, deal them their shares.
///
/// `round1_packages` holds every *other* participant's package (exactly `max_signers - 1`).
pub fn part2(
    secret: Round1SecretPackage,
    round1_packages: &BTreeMap<Identifier, Round1Package>,
) -> Result<(Round2SecretPackage, BTreeMap<Identifier, Round2Package>), FrostError> {
    if round1_packages.contains_key(&secret.identifier) {
        return Err(FrostError::UnexpectedPackage(secret.identifier));
    }
    let expected = usize::from(secret.max_signers) - 1;
    if round1_packages.len() != expected {
        return Err(FrostError::InvalidLength {
            what: "round-1 packages",
            expected,
            got: round1_packages.len(),
        });
    }
    let t = usize::from(secret.min_signers);
    let mut commitments = BTreeMap::new();
    let mut outgoing = BTreeMap::new();
    for (&l, package) in round1_packages {
        if package.commitment.len() != t {
            return Err(FrostError::InvalidCommitmentLength {
                culprit: l,
                expected: t,
                got: package.commitment.len(),
            });
        }
        let a0 = &package.commitment[0];
        let c = pok_challenge(&secret.context, l, a0, &package.proof_r);
        let expected_r =
            EdwardsPoint::vartime_double_scalar_mul_basepoint(&(-c), a0, &package.proof_mu);
        if expected_r != package.proof_r {
            return Err(FrostError::InvalidProofOfKnowledge { culprit: l });
        }
        commitments.insert(l, package.commitment.clone());
        outgoing.insert(
            l,
            Round2Package(evaluate_polynomial(&secret.coefficients, l.to_scalar())),
        );
    }
    commitments.insert(secret.identifier, secret.commitment.clone());
    let own_share = evaluate_polynomial(&secret.coefficients, secret.identifier.to_scalar());
    Ok((
        Round2SecretPackage {
            identifier: secret.identifier,
            own_share,
            commitments,
            min_signers: secret.min_signers,
        },
        outgoing,
    ))
}

/// Round three (local): verify the received shares, derive the key package and the group's
/// public key package.
///
/// `round2_packages` holds the share each *other* participant dealt to us.
pub fn part3(
    secret: Round2SecretPackage,
    round2_packages: &BTreeMap<Identifier, Round2Package>,
) -> Result<(KeyPackage, PublicKeyPackage), FrostError> {
    let me = secret.identifier;
    for &l in round2_packages.keys() {
        if l == me || !secret.commitments.contains_key(&l) {
            return Err(FrostError::UnexpectedPackage(l));
        }
    }
    let x = me.to_scalar();
    let mut signing_share = Zeroizing::new(secret.own_share);
    for (&l, commitment) in &secret.commitments {
        if l == me {
            continue;
        }
        let share = round2_packages
            .get(&l)
            .ok_or(FrostError::MissingPackage(l))?;
        if EdwardsPoint::mul_base(&share.0) != evaluate_commitment(commitment, x) {
            return Err(FrostError::InvalidSecretShare { culprit: l });
        }
        *signing_share += share.0;
    }
    if *signing_share == Scalar::ZERO {
        return Err(FrostError::ZeroScalar("signing share"));
    }
    let summed = sum_commitments(&secret.commitments, usize::from(secret.min_signers));
    if summed[0].is_identity() {
        // Impossible without breaking the proofs of knowledge; refuse rather than sign under it.
        return Err(FrostError::IdentityElement("group public key"));
    }
    let group_public_key = GroupPublicKey(summed[0]);
    let mut verifying_shares = BTreeMap::new();
    for &j in secret.commitments.keys() {
        verifying_shares.insert(
            j,
            VerifyingShare(evaluate_commitment(&summed, j.to_scalar())),
        );
    }
    let key_package = KeyPackage::new(
        me,
        SigningShare(*signing_share),
        group_public_key,
        secret.min_signers,
    )?;
    if verifying_shares.get(&me) != Some(&key_package.verifying_share) {
        // Cannot happen once every share passed its Feldman check; kept as a guard.
        return Err(FrostError::InvalidSecretShare { culprit: me });
    }
    let public = PublicKeyPackage::new(verifying_shares, group_public_key, secret.min_signers)?;
    Ok((key_package, public))
}

/// Coefficient-wise sum of commitments: the commitment to `sum_l f_l`.
pub(super) fn sum_commitments<'a>(
    commitments: impl IntoIterator<Item = (&'a Identifier, &'a Vec<EdwardsPoint>)>,
    len: usize,
) -> Vec<EdwardsPoint> {
    let mut summed = vec![EdwardsPoint::identity(); len];
    for (_, commitment) in commitments {
        for (acc, a) in summed.iter_mut().zip(commitment) {
            *acc += a;
        }
    }
    summed
}
