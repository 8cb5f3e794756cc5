//! The ciphersuite FROST(Ed25519, SHA-512) of RFC 9591 §6.1: encodings and hash functions.
//!
//! * Scalars: 32-byte little-endian, canonical (`< L`); `DeserializeScalar` rejects anything
//!   else.
//! * Elements: 32-byte RFC 8032 point encoding. [`decode_element`] is RFC 9591
//!   `DeserializeElement`: the bytes must decompress, be the canonical encoding (re-encoding
//!   gives the same bytes, which rejects `y >= p` and a set sign bit on `x = 0`), not be the
//!   identity, and lie in the prime-order subgroup (no torsion component, so every small-order
//!   and mixed-order point is rejected).
//! * `H1` (`rho`), `H3` (`nonce`), `H4` (`msg`), `H5` (`com`) are SHA-512 over
//!   `"FROST-ED25519-SHA512-v1" || tag || m`; `H1`/`H3` reduce the 64-byte digest modulo `L`
//!   as a little-endian integer. `H2` is plain SHA-512 reduced modulo `L`, exactly the RFC 8032
//!   challenge, which is what makes FROST(Ed25519) signatures ordinary Ed25519 signatures.
//! * `HDKG` (ours, not in RFC 9591, which leaves key generation open) is SHA-512 over
//!   `context || "dkg" || m` reduced modulo `L`, the challenge of the DKG proof of knowledge.

use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::IsIdentity;
use sha2::{Digest, Sha512};

use super::error::FrostError;

/// The ciphersuite context string, `contextString` of RFC 9591 §6.1.
pub const CONTEXT_STRING: &[u8] = b"FROST-ED25519-SHA512-v1";

fn sha512(prefix: &[&[u8]], parts: &[&[u8]]) -> [u8; 64] {
    let mut h = Sha512::new();
    for p in prefix.iter().chain(parts) {
        h.update(p);
    }
    h.finalize().into()
}

fn to_scalar(digest: [u8; 64]) -> Scalar {
    Scalar::from_bytes_mod_order_wide(&digest)
}

/// `H1`: binding factors.
pub(super) fn h1(parts: &[&[u8]]) -> Scalar {
    to_scalar(sha512(&[CONTEXT_STRING, b"rho"], parts))
}

/// `H2`: the RFC 8032 challenge `SHA-512(R || A || M) mod L` (no context string).
pub(super) fn h2(parts: &[&[u8]]) -> Scalar {
    to_scalar(sha512(&[], parts))
}

/// `H3`: nonce derivation.
pub(super) fn h3(parts: &[&[u8]]) -> Scalar {
    to_scalar(sha512(&[CONTEXT_STRING, b"nonce"], parts))
}

/// `H4`: message hash inside the binding-factor input.
pub(super) fn h4(msg: &[u8]) -> [u8; 64] {
    sha512(&[CONTEXT_STRING, b"msg"], &[msg])
}

/// `H5`: hash of the encoded commitment list.
pub(super) fn h5(encoded_commitment_list: &[u8]) -> [u8; 64] {
    sha512(&[CONTEXT_STRING, b"com"], &[encoded_commitment_list])
}

/// `HDKG`: challenge of the DKG/refresh proofs of knowledge (ours; see the module docs).
pub(super) fn hdkg(parts: &[&[u8]]) -> Scalar {
    to_scalar(sha512(&[CONTEXT_STRING, b"dkg"], parts))
}

/// RFC 9591 `DeserializeScalar`: a canonical 32-byte little-endian scalar.
pub(super) fn decode_scalar(bytes: &[u8; 32], what: &'static str) -> Result<Scalar, FrostError> {
    Option::from(Scalar::from_canonical_bytes(*bytes)).ok_or(FrostError::NonCanonicalScalar(what))
}

/// Like [`decode_scalar`] but also rejects zero.
pub(super) fn decode_nonzero_scalar(
    bytes: &[u8; 32],
    what: &'static str,
) -> Result<Scalar, FrostError> {
    let s = decode_scalar(bytes, what)?;
    if s == Scalar::ZERO {
        return Err(FrostError::ZeroScalar(what));
    }
    Ok(s)
}

/// RFC 9591 `DeserializeElement` (see the module docs for the four checks).
///
/// Costs one decompression and one variable-time scalar multiplication (the inputs are public):
/// the encoding is checked canonical on its bytes ([`canonical`]: no recompression), and the
/// subgroup check is `[l - 1] P == -P`, which for `P = S + T` (`S` in the prime-order subgroup,
/// `T` torsion) holds exactly when `[l] T = 0`, i.e. `T = 0` since `l` is odd.
pub(super) fn decode_element(
    bytes: &[u8; 32],
    what: &'static str,
) -> Result<EdwardsPoint, FrostError> {
    let point = CompressedEdwardsY(*bytes)
        .decompress()
        .ok_or(FrostError::MalformedElement(what))?;
    if !canonical(bytes) {
        return Err(FrostError::NonCanonicalElement(what));
    }
    if point.is_identity() {
        return Err(FrostError::IdentityElement(what));
    }
    if !torsion_free_vartime(&point) {
        return Err(FrostError::NotInPrimeOrderSubgroup(what));
    }
    Ok(point)
}

/// Whether a point encoding that decompresses is the canonical one: `y < p = 2^255 - 19`, and
/// no sign bit on `x = 0` (which only `y = 1` and `y = p - 1` have).
fn canonical(bytes: &[u8; 32]) -> bool {
    let high = bytes[31] & 0x7f;
    let middle_ff = bytes[1..31].iter().all(|b| *b == 0xff);
    // y >= p: bytes ed ff .. ff 7f (low to high) or above.
    let y_too_big = high == 0x7f && middle_ff && bytes[0] >= 0xed;
    let sign = bytes[31] & 0x80 != 0;
    let y_one = bytes[0] == 1 && high == 0 && bytes[1..31].iter().all(|b| *b == 0);
    let y_minus_one = bytes[0] == 0xec && middle_ff && high == 0x7f;
    !(y_too_big || (sign && (y_one || y_minus_one)))
}

/// `[l] P == 0`, in variable time (for public points only).
pub(super) fn torsion_free_vartime(point: &EdwardsPoint) -> bool {
    let minus_one = -Scalar::ONE;
    EdwardsPoint::vartime_double_scalar_mul_basepoint(&minus_one, point, &Scalar::ZERO) == -point
}

/// RFC 9591 `SerializeElement`. The identity is refused (as the RFC requires) with the
/// caller-chosen error.
pub(super) fn encode_element(
    point: &EdwardsPoint,
    on_identity: FrostError,
) -> Result<[u8; 32], FrostError> {
    if point.is_identity() {
        return Err(on_identity);
    }
    Ok(point.compress().to_bytes())
}

/// Reads exactly `N` bytes from a slice, or reports the length mismatch.
pub(super) fn fixed<const N: usize>(
    bytes: &[u8],
    what: &'static str,
) -> Result<[u8; N], FrostError> {
    bytes.try_into().map_err(|_| FrostError::InvalidLength {
        what,
        expected: N,
        got: bytes.len(),
    })
}
