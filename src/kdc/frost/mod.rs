//! FROST threshold signatures, RFC 9591, ciphersuite FROST(Ed25519, SHA-512)
//! (`"FROST-ED25519-SHA512-v1"`): `t` of `n` participants jointly produce an ordinary Ed25519
//! signature (verifiable by any RFC 8032 verifier) without anyone ever holding the signing key.
//!
//! Group arithmetic comes from `curve25519-dalek`, hashing from `sha2`; the protocol is written
//! here from the RFC and the FROST paper. All functions work on plain values; the caller moves
//! the messages (the network is outside).
//!
//! # Message flow
//!
//! Key generation, once per group (or [`dealer`] for test vectors and demos):
//!
//! ```text
//! each i:  dkg::part1 -> Round1Package  --broadcast-->  everyone
//! each i:  dkg::part2 -> Round2Package  --private--->   each other j
//! each i:  dkg::part3 -> KeyPackage (secret share s_i) + PublicKeyPackage (PK, all Y_j)
//! ```
//!
//! Signing, per message, with a coordinator and at least `t` signers:
//!
//! ```text
//! signer i:     round1::commit(key)            -> keeps SigningNonces, sends SigningCommitments
//! coordinator:  SigningPackage::new(commitments, msg)          --> signers
//! signer i:     round2::sign(&package, nonces, &key)           -> SignatureShare --> coordinator
//! coordinator:  aggregate(&package, &shares, &public)          -> Signature (R || z, 64 bytes)
//! anyone:       PK.verify(msg, &sig)  (or any Ed25519 verifier)
//! ```
//!
//! Refresh, whenever a share may have leaked ([`refresh`]): every member deals a sharing of
//! zero, everyone adds it to its share; the group key stays, every share changes.
//!
//! # Encodings and validation
//!
//! Every wire type has a fixed, documented encoding (see [`keys`], [`round1`], [`round2`],
//! [`signature`], [`dkg`], [`refresh`]). Decoding never panics and validates everything RFC 9591
//! asks of `DeserializeScalar` / `DeserializeElement`: canonical scalars, points that decompress
//! to their canonical encoding, not the identity, in the prime-order subgroup (so small-order and
//! mixed-order points are refused). Identifiers are `1..=65535`. Length fields are bounded.
//! Secret values ([`SigningShare`], [`SigningNonces`], DKG and refresh secrets) are zeroized on
//! drop, compared in constant time and redacted in `Debug`.
//!
//! # Security argument, in brief
//!
//! Shares lie on a random degree-`t-1` polynomial `f` with `f(0)` the group secret; any `t-1` of
//! them are independent of `f(0)` (Shamir). Signing reveals only `z_i = d_i + e_i rho_i +
//! lambda_i s_i c`, masked by the fresh, single-use nonce `d_i`. The binding factor `rho_i`
//! (a hash of the message and the whole commitment list) stops a coordinator from combining
//! concurrent sessions (Drijvers/ROS). [`aggregate()`] checks each share against the signer's
//! verifying share, so a faulty share is rejected and its sender named, instead of producing an
//! invalid signature of unknown origin.
//!
//! # Leaked shares: what an attacker gets
//!
//! With `t = 2` of `n = 3`:
//!
//! * **One leaked share** `s_i` is below the threshold: by Shamir it says nothing about the
//!   group secret, and the attacker cannot forge alone; a signature needs a second signer's
//!   share `z_j`. Honest signers only sign messages their application approves (the check
//!   before [`round2::sign`]), so the attacker can at most impersonate participant `i` in
//!   sessions the others accept anyway. (A signer that reuses nonces leaks its share this way:
//!   see [`nonce_reuse`].)
//! * **Two leaked shares** reach the threshold: the attacker interpolates
//!   `f(0) = lambda_i s_i + lambda_j s_j` and holds the group secret key. It can sign anything,
//!   forever, and no refresh helps; the only remedy is a new group key.
//! * **Refresh kills a leaked share**: after [`refresh`] every member's share moved to a new
//!   polynomial with the same `f(0)`. The leaked old `s_i` does not combine with any new share
//!   (they lie on different polynomials; an old signature share fails verification against the
//!   new verifying share), so the attacker must now obtain `t` shares from the *same* epoch.
//!   Refresh therefore bounds the window, not the number, of compromises it tolerates.

pub mod aggregate;
pub mod dealer;
pub mod dkg;
pub mod error;
pub mod keys;
pub mod nonce_reuse;
pub mod refresh;
pub mod round1;
pub mod round2;
pub mod signature;
mod suite;

#[cfg(test)]
mod tests;

pub use aggregate::{aggregate, verify_signature_share};
pub use error::FrostError;
pub use keys::{
    GroupPublicKey, Identifier, KeyPackage, PublicKeyPackage, SigningShare, VerifyingShare,
};
pub use round1::{SigningCommitments, SigningNonces};
pub use round2::{SignatureShare, SigningPackage};
pub use signature::Signature;
pub use suite::CONTEXT_STRING;
