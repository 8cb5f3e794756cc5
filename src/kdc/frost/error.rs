//! The one error type of the FROST core.
//!
//! Every failure that can be caused by input from the network or disk is a variant here; the
//! core never panics on such input. Variants that blame a participant carry its [`Identifier`]
//! (`culprit`), so a coordinator can exclude it and retry with another quorum.

use super::keys::Identifier;

/// Everything that can go wrong in decoding, signing, aggregation, key generation and refresh.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrostError {
    /// Identifier zero (the x-coordinate of the secret) or an encoding above `u16::MAX`.
    #[error("invalid participant identifier")]
    InvalidIdentifier,
    /// A 32-byte scalar encoding was not reduced modulo the group order `L`.
    #[error("{0}: non-canonical scalar encoding")]
    NonCanonicalScalar(&'static str),
    /// A scalar that must not be zero was zero.
    #[error("{0}: scalar is zero")]
    ZeroScalar(&'static str),
    /// 32 bytes that are not the encoding of any curve point.
    #[error("{0}: bytes do not decode to a curve point")]
    MalformedElement(&'static str),
    /// A point encoding that decodes but is not the canonical one (y >= p, or sign bit on x = 0).
    #[error("{0}: non-canonical point encoding")]
    NonCanonicalElement(&'static str),
    /// The identity element where RFC 9591 `DeserializeElement` forbids it.
    #[error("{0}: identity element")]
    IdentityElement(&'static str),
    /// A point with a torsion component (small order or mixed order).
    #[error("{0}: point is not in the prime-order subgroup")]
    NotInPrimeOrderSubgroup(&'static str),
    /// A byte string of the wrong length.
    #[error("{what}: expected {expected} bytes, got {got}")]
    InvalidLength {
        /// What was being decoded.
        what: &'static str,
        /// Length the encoding requires.
        expected: usize,
        /// Length received.
        got: usize,
    },
    /// A length field above the documented bound.
    #[error("{what}: length {got} exceeds the bound {max}")]
    TooLong {
        /// What was being decoded.
        what: &'static str,
        /// The documented bound.
        max: usize,
        /// Length received.
        got: usize,
    },
    /// `min_signers`/`max_signers` outside `2 <= min_signers <= max_signers`.
    #[error("invalid threshold: min_signers {min_signers}, max_signers {max_signers}")]
    InvalidThreshold {
        /// Requested threshold.
        min_signers: u16,
        /// Requested number of participants.
        max_signers: u16,
    },
    /// A commitment list (or package set) is empty.
    #[error("empty commitment list")]
    EmptyCommitmentList,
    /// An encoded commitment list is not sorted by identifier.
    #[error("commitment list is not sorted by identifier")]
    UnsortedCommitments,
    /// The same identifier appears twice.
    #[error("duplicate identifier {0}")]
    DuplicateIdentifier(Identifier),
    /// Fewer participants than the threshold.
    #[error("{got} signers, threshold is {min_signers}")]
    NotEnoughSigners {
        /// Number of commitments/shares present.
        got: usize,
        /// The threshold.
        min_signers: u16,
    },
    /// The signer's own commitment is missing from the signing package.
    #[error("signing package lacks the commitment of signer {0}")]
    MissingOwnCommitment(Identifier),
    /// The signing package carries commitments for the signer other than the ones its nonces
    /// produced (a coordinator substituting commitments).
    #[error("signing package carries foreign commitments for signer {0}")]
    OwnCommitmentMismatch(Identifier),
    /// An identifier that is not a member of the group (no verifying share).
    #[error("participant {0} is not a member of the group")]
    UnknownParticipant(Identifier),
    /// A participant in the commitment list sent no signature share.
    #[error("missing signature share from participant {0}")]
    MissingSignatureShare(Identifier),
    /// A signature share from a participant that is not in the commitment list.
    #[error("unexpected signature share from participant {0}")]
    UnexpectedSignatureShare(Identifier),
    /// A signature share failed `verify_signature_share`: `culprit` misbehaved.
    #[error("invalid signature share from participant {culprit}")]
    InvalidSignatureShare {
        /// The participant whose share is wrong.
        culprit: Identifier,
    },
    /// The group commitment `R` came out as the identity (RFC 9591 `SerializeElement` error).
    #[error("group commitment is the identity element")]
    IdentityGroupCommitment,
    /// A (final) signature does not verify under the group public key.
    #[error("signature does not verify")]
    InvalidSignature,
    /// DKG: a participant's proof of knowledge of its constant term is wrong.
    #[error("invalid proof of knowledge from participant {culprit}")]
    InvalidProofOfKnowledge {
        /// The participant whose proof is wrong.
        culprit: Identifier,
    },
    /// DKG/refresh: a coefficient commitment of the wrong length.
    #[error("participant {culprit} sent {got} coefficient commitments, expected {expected}")]
    InvalidCommitmentLength {
        /// The sender.
        culprit: Identifier,
        /// `min_signers` (DKG) or `min_signers - 1` (refresh).
        expected: usize,
        /// What arrived.
        got: usize,
    },
    /// DKG/refresh: a secret share does not match its sender's commitment (Feldman VSS check).
    #[error("secret share from participant {culprit} does not match its commitment")]
    InvalidSecretShare {
        /// The dealer of the bad share.
        culprit: Identifier,
    },
    /// DKG/refresh: no package from a participant that must send one.
    #[error("missing package from participant {0}")]
    MissingPackage(Identifier),
    /// DKG/refresh: a package from someone who is not a participant (or from ourselves where
    /// our own package must not appear).
    #[error("unexpected package from participant {0}")]
    UnexpectedPackage(Identifier),
    /// Nonce-reuse attack: the observations do not share one commitment pair for the victim.
    #[error("observations do not reuse one nonce commitment pair")]
    NotANonceReuse,
    /// Nonce-reuse attack: the three equations are linearly dependent.
    #[error("nonce-reuse equations are singular (need distinct sessions)")]
    SingularSystem,
    /// Nonce-reuse attack: the solved share does not match the victim's verifying share.
    #[error("recovered share does not match the verifying share")]
    RecoveryInconsistent,
}
