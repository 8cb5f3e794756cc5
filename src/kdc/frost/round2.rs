//! Round two: the coordinator sends a [`SigningPackage`]; each signer answers with a
//! [`SignatureShare`].
//!
//! RFC 9591 §5.2, for signer `i` with share `s_i` and nonces `(d_i, e_i)`:
//!
//! ```text
//! rho_j   = H1(PK || H4(msg) || H5(encode_group_commitment_list(B)) || SerializeScalar(j))
//! R       = sum_j (D_j + rho_j * E_j)                     (group commitment)
//! c       = H2(R || PK || msg)                            (RFC 8032 challenge)
//! lambda_i = prod_{j != i} j / (j - i)                    (Lagrange at 0 over the signer set)
//! z_i     = d_i + e_i * rho_i + lambda_i * s_i * c
//! ```
//!
//! The binding factor `rho_j` ties each signer's nonce contribution to the message *and* to the
//! whole commitment list, so a coordinator cannot mix commitments across concurrent sessions
//! (the Drijvers / ROS attacks on two-round Schnorr multisignatures).
//!
//! Before signing, the signer checks what RFC 9591 requires of the coordinator's request: the
//! list is sorted and duplicate-free (guaranteed by [`SigningPackage`]), it has at least
//! `min_signers` entries, and it contains this signer's commitments exactly as produced in round
//! one. The application must additionally decide that the message is one it is willing to sign;
//! that check lives outside this core.
//!
//! Encodings: `SignatureShare` is a 32-byte canonical scalar. `SigningPackage` is
//! `count(u16 BE) || count x SigningCommitments(96) || msg_len(u32 BE) || msg`, entries strictly
//! ascending by identifier, `msg_len <=` [`MAX_MESSAGE_LEN`], no trailing bytes.

use std::fmt;

use curve25519_dalek::edwards::EdwardsPoint;
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::VartimeMultiscalarMul;

use super::error::FrostError;
use super::keys::{GroupPublicKey, Identifier, KeyPackage, hex, lagrange_coefficients};
use super::round1::{COMMITMENTS_LEN, SigningCommitments, SigningNonces};
use super::suite::{decode_scalar, encode_element, h1, h2, h4, h5};

/// Upper bound on the message carried in an encoded [`SigningPackage`] (1 MiB).
pub const MAX_MESSAGE_LEN: usize = 1 << 20;

/// The coordinator's round-two request: the commitment list `B` and the message.
///
/// Invariant (enforced by every constructor): non-empty, sorted strictly ascending by
/// identifier, hence duplicate-free.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SigningPackage {
    pub(super) commitments: Vec<SigningCommitments>,
    pub(super) message: Vec<u8>,
}

impl SigningPackage {
    /// Builds a package from commitments in any order: sorts by identifier and refuses
    /// duplicates or an empty list.
    pub fn new(
        mut commitments: Vec<SigningCommitments>,
        message: &[u8],
    ) -> Result<Self, FrostError> {
        commitments.sort_by_key(|c| c.identifier);
        check_sorted_unique(&commitments)?;
        Ok(Self {
            commitments,
            message: message.to_vec(),
        })
    }

    /// The commitment list, ascending by identifier.
    pub fn commitments(&self) -> &[SigningCommitments] {
        &self.commitments
    }

    /// The message to be signed.
    pub fn message(&self) -> &[u8] {
        &self.message
    }

    /// The signer identifiers, ascending.
    pub fn identifiers(&self) -> Vec<Identifier> {
        self.commitments.iter().map(|c| c.identifier).collect()
    }

    /// The commitments of one signer, if present.
    pub fn commitment_for(&self, identifier: Identifier) -> Option<&SigningCommitments> {
        self.commitments
            .binary_search_by_key(&identifier, |c| c.identifier)
            .ok()
            .and_then(|i| self.commitments.get(i))
    }

    /// RFC 9591 `encode_group_commitment_list`: the concatenated 96-byte entries.
    pub fn encode_commitment_list(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.commitments.len() * COMMITMENTS_LEN);
        for c in &self.commitments {
            out.extend_from_slice(&c.to_bytes());
        }
        out
    }

    /// The wire encoding (see the module docs).
    pub fn to_bytes(&self) -> Result<Vec<u8>, FrostError> {
        let count = u16::try_from(self.commitments.len()).map_err(|_| FrostError::TooLong {
            what: "commitment list",
            max: usize::from(u16::MAX),
            got: self.commitments.len(),
        })?;
        if self.message.len() > MAX_MESSAGE_LEN {
            return Err(FrostError::TooLong {
                what: "message",
                max: MAX_MESSAGE_LEN,
                got: self.message.len(),
            });
        }
        let mut out =
            Vec::with_capacity(6 + self.commitments.len() * COMMITMENTS_LEN + self.message.len());
        out.extend_from_slice(&count.to_be_bytes());
        out.extend_from_slice(&self.encode_commitment_list());
        out.extend_from_slice(&(self.message.len() as u32).to_be_bytes());
        out.extend_from_slice(&self.message);
        Ok(out)
    }

    /// Decodes and validates: every entry, strict ascending order, message bound, exact length.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, FrostError> {
        Self::from_bytes_known(bytes, &[])
    }

    /// [`Self::from_bytes`] for a party that already holds some entries validated (a signer's
    /// own commitments): those are matched byte for byte and not decoded again
    /// ([`SigningCommitments::from_bytes_known`]); every other entry is fully validated.
    pub fn from_bytes_known(
        bytes: &[u8],
        known: &[SigningCommitments],
    ) -> Result<Self, FrostError> {
        let short = |expected: usize| FrostError::InvalidLength {
            what: "signing package",
            expected,
            got: bytes.len(),
        };
        let count_bytes: [u8; 2] = bytes
            .get(..2)
            .and_then(|b| b.try_into().ok())
            .ok_or(short(2))?;
        let count = usize::from(u16::from_be_bytes(count_bytes));
        let list_end = 2 + count * COMMITMENTS_LEN;
        let list = bytes.get(2..list_end).ok_or(short(list_end + 4))?;
        let commitments = list
            .chunks_exact(COMMITMENTS_LEN)
            .map(|c| SigningCommitments::from_bytes_known(c, known))
            .collect::<Result<Vec<_>, _>>()?;
        check_sorted_unique(&commitments)?;
        let len_bytes: [u8; 4] = bytes
            .get(list_end..list_end + 4)
            .and_then(|b| b.try_into().ok())
            .ok_or(short(list_end + 4))?;
        let msg_len = u32::from_be_bytes(len_bytes) as usize;
        if msg_len > MAX_MESSAGE_LEN {
            return Err(FrostError::TooLong {
                what: "message",
                max: MAX_MESSAGE_LEN,
                got: msg_len,
            });
        }
        let total = list_end + 4 + msg_len;
        if bytes.len() != total {
            return Err(short(total));
        }
        Ok(Self {
            commitments,
            message: bytes[list_end + 4..].to_vec(),
        })
    }
}

/// Refuses an empty list, unsorted lists (naming nothing: the encoder is at fault) and
/// duplicates (naming the identifier).
fn check_sorted_unique(commitments: &[SigningCommitments]) -> Result<(), FrostError> {
    if commitments.is_empty() {
        return Err(FrostError::EmptyCommitmentList);
    }
    for pair in commitments.windows(2) {
        match pair[0].identifier.cmp(&pair[1].identifier) {
            std::cmp::Ordering::Less => {}
            std::cmp::Ordering::Equal => {
                return Err(FrostError::DuplicateIdentifier(pair[0].identifier));
            }
            std::cmp::Ordering::Greater => return Err(FrostError::UnsortedCommitments),
        }
    }
    Ok(())
}

/// A signer's round-two output `z_i` (a scalar; not secret once sent, but it is only useful
/// together with its commitments).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SignatureShare(pub(super) Scalar);

impl SignatureShare {
    /// Decodes a canonical scalar.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, FrostError> {
        decode_scalar(bytes, "signature share").map(Self)
    }

    /// The 32-byte scalar encoding.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }
}

impl fmt::Debug for SignatureShare {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SignatureShare({})", hex(&self.to_bytes()))
    }
}

/// The public per-session values every party derives from a signing package: binding factors,
/// Lagrange coefficients, group commitment `R`, challenge `c`.
pub(super) struct SessionValues {
    /// `(identifier, rho, lambda)` in commitment-list order.
    pub(super) factors: Vec<(Identifier, Scalar, Scalar)>,
    pub(super) group_commitment: EdwardsPoint,
    pub(super) challenge: Scalar,
}

impl SessionValues {
    /// RFC 9591 `compute_binding_factors`, `compute_group_commitment`, `compute_challenge`,
    /// and `derive_interpolating_value` for every signer. `R` is one variable-time multiscalar
    /// multiplication: every input is public.
    pub(super) fn derive(
        package: &SigningPackage,
        group_public_key: &GroupPublicKey,
    ) -> Result<Self, FrostError> {
        let pk = group_public_key.to_bytes();
        let msg_hash = h4(&package.message);
        let list_hash = h5(&package.encode_commitment_list());
        let ids = package.identifiers();
        let lambdas = lagrange_coefficients(&ids)?;
        let factors: Vec<(Identifier, Scalar, Scalar)> = package
            .commitments
            .iter()
            .zip(lambdas)
            .map(|(c, lambda)| {
                let rho = h1(&[&pk, &msg_hash, &list_hash, &c.identifier.to_bytes()]);
                (c.identifier, rho, lambda)
            })
            .collect();
        let scalars = factors.iter().flat_map(|(_, rho, _)| [Scalar::ONE, *rho]);
        let points = package
            .commitments
            .iter()
            .flat_map(|c| [c.hiding, c.binding]);
        let group_commitment = EdwardsPoint::vartime_multiscalar_mul(scalars, points);
        let r = encode_element(&group_commitment, FrostError::IdentityGroupCommitment)?;
        let challenge = h2(&[&r, &pk, &package.message]);
        Ok(Self {
            factors,
            group_commitment,
            challenge,
        })
    }

    /// `(rho_i, lambda_i)` for one signer.
    pub(super) fn factors_of(
        &self,
        identifier: Identifier,
    ) -> Result<(Scalar, Scalar), FrostError> {
        self.factors
            .iter()
            .find(|(id, _, _)| *id == identifier)
            .map(|(_, rho, lambda)| (*rho, *lambda))
            .ok_or(FrostError::MissingOwnCommitment(identifier))
    }

    /// `rho_i` for one signer.
    #[cfg(test)]
    pub(super) fn binding_factor(&self, identifier: Identifier) -> Result<Scalar, FrostError> {
        self.factors_of(identifier).map(|(rho, _)| rho)
    }
}

/// Round two, RFC 9591 §5.2. Consumes the nonces: whatever the outcome, they are wiped and can
/// never sign again.
pub fn sign(
    signing_package: &SigningPackage,
    nonces: SigningNonces,
    key_package: &KeyPackage,
) -> Result<SignatureShare, FrostError> {
    sign_with_nonces(
        signing_package,
        &nonces.hiding,
        &nonces.binding,
        &nonces.commitments,
        key_package,
    )
}

/// The computation behind [`sign`], over borrowed nonces. Only [`sign`] (which consumes the
/// nonces) and the deliberately broken signer of [`super::nonce_reuse`] call it.
pub(super) fn sign_with_nonces(
    signing_package: &SigningPackage,
    hiding: &Scalar,
    binding: &Scalar,
    own_commitments: &SigningCommitments,
    key_package: &KeyPackage,
) -> Result<SignatureShare, FrostError> {
    let id = key_package.identifier;
    if signing_package.commitments.len() < usize::from(key_package.min_signers) {
        return Err(FrostError::NotEnoughSigners {
            got: signing_package.commitments.len(),
            min_signers: key_package.min_signers,
        });
    }
    let listed = signing_package
        .commitment_for(id)
        .ok_or(FrostError::MissingOwnCommitment(id))?;
    if listed != own_commitments {
        return Err(FrostError::OwnCommitmentMismatch(id));
    }
    let session = SessionValues::derive(signing_package, &key_package.group_public_key)?;
    let (rho, lambda) = session.factors_of(id)?;
    let z = hiding + binding * rho + lambda * key_package.signing_share.0 * session.challenge;
    Ok(SignatureShare(z))
}
