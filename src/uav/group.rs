//! The 2048-bit MODP group of RFC 3526 (group 14), Schnorr signatures and ElGamal key transport.
//!
//! # The group
//!
//! `p` is the RFC 3526 §3 safe prime `2^2048 - 2^1984 - 1 + 2^64 * ([2^1918 π] + 124476)`,
//! `q = (p - 1) / 2` is prime and `g = 2`. Because `p ≡ 7 (mod 8)`, 2 is a quadratic residue, so
//! `g` generates the subgroup of quadratic residues, which has prime order `q`. Every
//! [`Element`] is a member of that subgroup: the only way to get one from bytes is
//! [`Element::from_bytes`], which rejects anything that is not exactly 256 big-endian bytes with
//! `1 < y < p - 1` and `y^q mod p == 1`. In a safe-prime group the possible orders are 1, 2, q
//! and 2q, so this check excludes the small-subgroup elements (`1`, `p - 1`), values `≥ p`, and
//! the non-residues (order 2q) that would leak the low bit of an exponent.
//!
//! # Exponent sizes
//!
//! - **Ephemeral exponents** (the drone's ephemeral ElGamal key, the ElGamal randomness `r`) are
//!   256 bits ([`SHORT_EXPONENT_BITS`]). This is sound here: the van Oorschot–Wiener attack on
//!   short exponents combines Pohlig–Hellman on the small factors of the group order with a
//!   λ/kangaroo search; in a prime-order-`q` subgroup of a safe prime there are no small factors
//!   to exploit, so the best known attack on a 256-bit exponent is Pollard's λ at about `2^128`
//!   group operations, above the 103–110-bit strength the number field sieve leaves a 2048-bit
//!   modulus (RFC 7919 Appendix A.1; RFC 3526 §8's lower estimate). RFC 3526 §8 asks for
//!   exponents of twice the strength (220 bits for its 110-bit estimate, 320 for its optimistic
//!   160-bit one) and RFC 7919 §5.2 / A.1 asks for at least 225 bits for ffdhe2048; 256 bits
//!   meets the NFS-based figures, and more would not help because the modulus is then the weak
//!   point. For the Diffie–Hellman-style secrecy ElGamal needs (DDH, not just DL), Koshiba and
//!   Kurosawa (PKC 2004) show that short-exponent DDH is as hard as full DDH under the
//!   short-exponent DL assumption argued above. Measured: a 256-bit modexp costs about 1/8 of a
//!   full one.
//! - **Long-term Schnorr keys** are uniform in `[1, q-1]`. They are generated once, and signing
//!   cost does not depend on their size (`s = k - e·x mod q` is one multiplication), so there is
//!   nothing to gain from shortening them.
//! - **Schnorr nonces** `k` are uniform modulo `q` (2176 random-looking bits reduced mod `q`,
//!   bias `< 2^-128`). They must *not* be short: `s = k - e·x mod q` with `k < 2^256` in a
//!   2047-bit `q` is a hidden-number problem that a lattice solves from two signatures, giving
//!   away `x`. The nonce is hedged: HKDF over fresh randomness, the secret key and the message,
//!   so a broken RNG degrades to deterministic (RFC 6979-like) nonces instead of repeating ones.
//!
//! # Schnorr signatures
//!
//! Key `x`, public `Y = g^x`. To sign `msg` under a context string `ctx`: `R = g^k`,
//! `e = SHA-256("wirelab-uav schnorr v1" ‖ len(ctx) ‖ ctx ‖ Y ‖ R ‖ msg)` read as a 256-bit
//! integer, `s = k - e·x mod q`; the signature is `(e, s)` (32 + 256 bytes). To verify:
//! `s < q`, `R' = g^s · Y^e`, accept iff the recomputed `e'` equals `e` (constant-time compare).
//! Verification costs one full-size and one 256-bit modexp.
//!
//! # ElGamal key transport
//!
//! To send a fresh secret to the holder of `pk = g^a`: pick `u` at random, `M = u^2 mod p` (a
//! uniform subgroup element; squaring is one multiplication, not a modexp), a 256-bit `r`, and
//! send `(c1, c2) = (g^r, M · pk^r)`. The holder recovers `M = c2 · (c1^a)^-1`. Under DDH in the
//! order-`q` subgroup `M` is hidden; the ciphertext is malleable, so the handshake signs it.
//!
//! # Limits (read before reuse)
//!
//! num-bigint's `modpow` and `modinv` are **not constant-time**: exponent bits leak through
//! timing and cache behaviour to a co-located attacker. Secret exponents are wiped on drop
//! ([`SecretExponent`]), but temporaries inside num-bigint arithmetic are freed without being
//! wiped. Fine for a lab on a radio link; a production build wants a constant-time bignum.
//!
//! Every `modpow` goes through one counter ([`modexp_count`]) so the handshake's cost can be
//! reported.

use std::cell::Cell;
use std::fmt;
use std::sync::OnceLock;

use hkdf::Hkdf;
use num_bigint::BigUint;
use num_traits::{One, Zero};
use rand::CryptoRng;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// IKE / RFC 3526 group number of the only group we speak.
pub const GROUP_ID: u16 = 14;
/// Bit length of the modulus `p`.
pub const MODULUS_BITS: u16 = 2048;
/// Length of an encoded group element or full-size exponent: 256 big-endian bytes.
pub const ELEMENT_LEN: usize = 256;
/// Bit length of ephemeral exponents (see the module doc for why 256 bits is enough).
pub const SHORT_EXPONENT_BITS: u64 = 256;
/// Length of an encoded [`Signature`]: the 32-byte challenge then the 256-byte response.
pub const SIGNATURE_LEN: usize = 32 + ELEMENT_LEN;

/// The RFC 3526 §3 2048-bit MODP prime, as printed in the RFC.
const P_HEX: &str = "\
FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD1\
29024E088A67CC74020BBEA63B139B22514A08798E3404DD\
EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245\
E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED\
EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3D\
C2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F\
83655D23DCA3AD961C62F356208552BB9ED529077096966D\
670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B\
E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9\
DE2BCBF6955817183995497CEA956AE515D2261898FA0510\
15728E5A8AACAA68FFFFFFFFFFFFFFFF";

/// Bytes drawn before reducing modulo `q` or `p`: 2048 + 128 bits, so the bias is below 2^-128.
const WIDE_LEN: usize = ELEMENT_LEN + 16;

/// Why a group element, key or signature was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GroupError {
    /// The value is not in the prime-order subgroup (or is 0, 1, p-1, or ≥ p).
    #[error("value is not in the order-q subgroup of the RFC 3526 group")]
    NotInSubgroup,
    /// Wrong encoded length, or a scalar out of range.
    #[error("malformed encoding: {0}")]
    Malformed(&'static str),
    /// A Schnorr signature did not verify.
    #[error("bad signature")]
    BadSignature,
}

/// The group parameters, parsed once.
pub struct Params {
    /// The safe prime `p`.
    pub p: BigUint,
    /// The subgroup order `q = (p - 1) / 2`.
    pub q: BigUint,
    /// The generator `g = 2` of the order-`q` subgroup.
    pub g: BigUint,
}

/// The RFC 3526 group-14 parameters.
pub fn params() -> &'static Params {
    static PARAMS: OnceLock<Params> = OnceLock::new();
    PARAMS.get_or_init(|| {
        // The constant is a compile-time literal checked by a test, so this cannot fail.
        let p = BigUint::parse_bytes(P_HEX.as_bytes(), 16).unwrap_or_default();
        let q = (&p - 1u32) >> 1;
        Params {
            p,
            q,
            g: BigUint::from(2u32),
        }
    })
}

thread_local! {
    static MODEXPS: Cell<u64> = const { Cell::new(0) };
}

/// Number of modular exponentiations performed so far on this thread (for cost reports).
pub fn modexp_count() -> u64 {
    MODEXPS.with(Cell::get)
}

/// `base^exp mod p`, counted.
fn pow(base: &BigUint, exp: &BigUint) -> BigUint {
    MODEXPS.with(|c| c.set(c.get() + 1));
    base.modpow(exp, &params().p)
}

/// Left-pads `n` to 256 big-endian bytes (`n < 2^2048` always holds for values mod p or q).
fn to_fixed(n: &BigUint) -> [u8; ELEMENT_LEN] {
    let raw = n.to_bytes_be();
    let mut out = [0u8; ELEMENT_LEN];
    let start = ELEMENT_LEN.saturating_sub(raw.len());
    let skip = raw.len().saturating_sub(ELEMENT_LEN);
    out[start..].copy_from_slice(&raw[skip..]);
    out
}

/// A validated member of the order-`q` subgroup.
#[derive(Clone, PartialEq, Eq)]
pub struct Element(BigUint);

impl Element {
    /// Decodes and validates 256 big-endian bytes: `1 < y < p-1` and `y^q == 1 (mod p)`.
    ///
    /// Costs one full-size modexp.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, GroupError> {
        if bytes.len() != ELEMENT_LEN {
            return Err(GroupError::Malformed("group element must be 256 bytes"));
        }
        Self::validate(BigUint::from_bytes_be(bytes))
    }

    /// Validates an integer as a subgroup element.
    pub fn validate(y: BigUint) -> Result<Self, GroupError> {
        let prm = params();
        let p_minus_1 = &prm.p - 1u32;
        if y <= BigUint::one() || y >= p_minus_1 {
            return Err(GroupError::NotInSubgroup);
        }
        if !pow(&y, &prm.q).is_one() {
            return Err(GroupError::NotInSubgroup);
        }
        Ok(Element(y))
    }

    /// `g^x` for a secret exponent (the result is in the subgroup by construction).
    pub fn base_pow(x: &SecretExponent) -> Self {
        Element(pow(&params().g, &x.0))
    }

    /// `self^x`.
    pub fn pow(&self, x: &SecretExponent) -> Self {
        Element(pow(&self.0, &x.0))
    }

    /// The fixed 256-byte big-endian encoding.
    pub fn to_bytes(&self) -> [u8; ELEMENT_LEN] {
        to_fixed(&self.0)
    }

    /// The integer value.
    pub fn value(&self) -> &BigUint {
        &self.0
    }
}

impl fmt::Debug for Element {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.to_bytes();
        write!(f, "Element(")?;
        for x in &b[..8] {
            write!(f, "{x:02x}")?;
        }
        write!(f, "…)")
    }
}

/// A secret exponent. Wiped on drop; never printed.
pub struct SecretExponent(BigUint);

impl SecretExponent {
    /// A uniform exponent of at most [`SHORT_EXPONENT_BITS`] bits, never zero.
    pub fn random_short<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        loop {
            let mut buf = Zeroizing::new([0u8; (SHORT_EXPONENT_BITS / 8) as usize]);
            rng.fill_bytes(buf.as_mut());
            let x = SecretExponent(BigUint::from_bytes_be(buf.as_ref()));
            if !x.0.is_zero() {
                return x;
            }
        }
    }

    /// A uniform exponent in `[1, q-1]` (wide reduction, bias < 2^-128).
    pub fn random_full<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        loop {
            let mut buf = Zeroizing::new([0u8; WIDE_LEN]);
            rng.fill_bytes(buf.as_mut());
            if let Some(x) = Self::from_wide(buf.as_ref()) {
                return x;
            }
        }
    }

    /// Reduces wide bytes modulo `q`; `None` for the (negligible) zero result.
    fn from_wide(bytes: &[u8]) -> Option<Self> {
        let x = SecretExponent(BigUint::from_bytes_be(bytes) % &params().q);
        (!x.0.is_zero()).then_some(x)
    }

    /// The fixed 256-byte encoding (zeroized on drop).
    pub fn to_bytes(&self) -> Zeroizing<[u8; ELEMENT_LEN]> {
        Zeroizing::new(to_fixed(&self.0))
    }
}

impl Drop for SecretExponent {
    fn drop(&mut self) {
        // num-bigint has no zeroize support; clearing bits from the bottom up writes zeros into
        // the digit buffer in place before the last digit is popped.
        for bit in 0..self.0.bits() {
            self.0.set_bit(bit, false);
        }
    }
}

impl fmt::Debug for SecretExponent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretExponent(<redacted>)")
    }
}

/// A long-term public key `Y = g^x`, validated on construction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicKey(Element);

impl PublicKey {
    /// Decodes and validates (subgroup check) a 256-byte public key.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, GroupError> {
        Element::from_bytes(bytes).map(PublicKey)
    }

    /// The 256-byte encoding.
    pub fn to_bytes(&self) -> [u8; ELEMENT_LEN] {
        self.0.to_bytes()
    }

    /// The key as a group element.
    pub fn element(&self) -> &Element {
        &self.0
    }

    /// Verifies a Schnorr signature on `msg` under context `ctx`.
    pub fn verify(&self, ctx: &[u8], msg: &[u8], sig: &Signature) -> Result<(), GroupError> {
        let prm = params();
        if sig.s >= prm.q {
            return Err(GroupError::BadSignature);
        }
        let e = BigUint::from_bytes_be(&sig.e);
        let r = (pow(&prm.g, &sig.s) * pow(&self.0.0, &e)) % &prm.p;
        let e2 = challenge(ctx, &self.0, &to_fixed(&r), msg);
        if bool::from(e2.ct_eq(&sig.e)) {
            Ok(())
        } else {
            Err(GroupError::BadSignature)
        }
    }
}

/// A long-term Schnorr signing key `x ∈ [1, q-1]` with its public key. Wiped on drop.
pub struct SigningKey {
    x: SecretExponent,
    public: PublicKey,
}

impl SigningKey {
    /// Generates a fresh key pair (one full-size modexp).
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let x = SecretExponent::random_full(rng);
        let public = PublicKey(Element::base_pow(&x));
        SigningKey { x, public }
    }

    /// Loads a key from its 256-byte encoding (`0 < x < q`), e.g. from disk.
    pub fn from_secret_bytes(bytes: &[u8]) -> Result<Self, GroupError> {
        if bytes.len() != ELEMENT_LEN {
            return Err(GroupError::Malformed("secret key must be 256 bytes"));
        }
        let x = SecretExponent(BigUint::from_bytes_be(bytes));
        if x.0.is_zero() || x.0 >= params().q {
            return Err(GroupError::Malformed("secret key out of range"));
        }
        let public = PublicKey(Element::base_pow(&x));
        Ok(SigningKey { x, public })
    }

    /// The 256-byte secret encoding (zeroized on drop), for storage.
    pub fn to_secret_bytes(&self) -> Zeroizing<[u8; ELEMENT_LEN]> {
        self.x.to_bytes()
    }

    /// The public key.
    pub fn public(&self) -> &PublicKey {
        &self.public
    }

    /// Signs `msg` under context `ctx` with a hedged nonce (one full-size modexp).
    pub fn sign<R: CryptoRng + ?Sized>(&self, ctx: &[u8], msg: &[u8], rng: &mut R) -> Signature {
        let prm = params();
        let k = loop {
            let mut fresh = Zeroizing::new([0u8; 32]);
            rng.fill_bytes(fresh.as_mut());
            let mut ikm = Zeroizing::new(Vec::with_capacity(ELEMENT_LEN + 32));
            ikm.extend_from_slice(self.x.to_bytes().as_ref());
            ikm.extend_from_slice(&Sha256::new().chain_update(ctx).chain_update(msg).finalize());
            let hk = Hkdf::<Sha256>::new(Some(fresh.as_ref()), &ikm);
            let mut wide = Zeroizing::new([0u8; WIDE_LEN]);
            // 272 bytes is far below HKDF's 255·32-byte limit.
            if hk
                .expand(b"wirelab-uav schnorr nonce v1", wide.as_mut())
                .is_ok()
                && let Some(k) = SecretExponent::from_wide(wide.as_ref())
            {
                break k;
            }
        };
        let r = Element::base_pow(&k);
        let e = challenge(ctx, &self.public.0, &r.to_bytes(), msg);
        let ex = (BigUint::from_bytes_be(&e) * &self.x.0) % &prm.q;
        let s = (&k.0 + &prm.q - ex) % &prm.q;
        Signature { e, s }
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

/// The Schnorr challenge hash.
fn challenge(ctx: &[u8], y: &Element, r: &[u8; ELEMENT_LEN], msg: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"wirelab-uav schnorr v1");
    h.update((ctx.len() as u64).to_be_bytes());
    h.update(ctx);
    h.update(y.to_bytes());
    h.update(r);
    h.update(msg);
    h.finalize().into()
}

/// A Schnorr signature `(e, s)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signature {
    e: [u8; 32],
    s: BigUint,
}

impl Signature {
    /// The 288-byte encoding `e (32) ‖ s (256, big-endian)`.
    pub fn to_bytes(&self) -> [u8; SIGNATURE_LEN] {
        let mut out = [0u8; SIGNATURE_LEN];
        out[..32].copy_from_slice(&self.e);
        out[32..].copy_from_slice(&to_fixed(&self.s));
        out
    }

    /// Decodes 288 bytes; the range of `s` is checked by [`PublicKey::verify`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, GroupError> {
        if bytes.len() != SIGNATURE_LEN {
            return Err(GroupError::Malformed("signature must be 288 bytes"));
        }
        let mut e = [0u8; 32];
        e.copy_from_slice(&bytes[..32]);
        Ok(Signature {
            e,
            s: BigUint::from_bytes_be(&bytes[32..]),
        })
    }
}

/// The secret carried by ElGamal key transport: a random subgroup element. Wiped on drop.
pub struct TransportSecret(SecretExponent);

impl TransportSecret {
    /// The 256-byte encoding, used as HKDF input keying material.
    pub fn to_bytes(&self) -> Zeroizing<[u8; ELEMENT_LEN]> {
        self.0.to_bytes()
    }
}

impl fmt::Debug for TransportSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TransportSecret(<redacted>)")
    }
}

/// An ElGamal ciphertext `(c1, c2) = (g^r, M · pk^r)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ciphertext {
    /// `g^r`.
    pub c1: Element,
    /// `M · pk^r`.
    pub c2: Element,
}

/// Encrypts a fresh random subgroup element to `pk` (two 256-bit modexps).
pub fn elgamal_encapsulate<R: CryptoRng + ?Sized>(
    pk: &Element,
    rng: &mut R,
) -> (TransportSecret, Ciphertext) {
    let prm = params();
    let m = loop {
        let mut buf = Zeroizing::new([0u8; WIDE_LEN]);
        rng.fill_bytes(buf.as_mut());
        let u = SecretExponent(BigUint::from_bytes_be(buf.as_ref()) % &prm.p);
        let m = SecretExponent((&u.0 * &u.0) % &prm.p);
        // u = 0 or ±1 would give M ∈ {0, 1}: probability ~2^-2046, but refuse it anyway.
        if m.0 > BigUint::one() {
            break m;
        }
    };
    let r = SecretExponent::random_short(rng);
    let c1 = Element::base_pow(&r);
    let shared = pk.pow(&r);
    let c2 = Element((&m.0 * &shared.0) % &prm.p);
    (TransportSecret(m), Ciphertext { c1, c2 })
}

/// Recovers the transported element with the secret exponent `a` of `pk = g^a`
/// (one modexp with `a`'s length, plus a modular inverse).
pub fn elgamal_decapsulate(
    a: &SecretExponent,
    ct: &Ciphertext,
) -> Result<TransportSecret, GroupError> {
    let prm = params();
    let shared = ct.c1.pow(a);
    // shared is a non-zero element of Z_p^* and p is prime, so the inverse exists.
    let inv = shared.0.modinv(&prm.p).ok_or(GroupError::NotInSubgroup)?;
    Ok(TransportSecret(SecretExponent((&ct.c2.0 * inv) % &prm.p)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn rng() -> StdRng {
        StdRng::seed_from_u64(7)
    }

    /// `floor(π · 2^bits)` by Machin's formula `π = 16·atan(1/5) - 4·atan(1/239)` in fixed point
    /// with 64 guard bits.
    fn pi_scaled(bits: usize) -> BigUint {
        fn atan_inv(x: u32, scale: &BigUint) -> (BigUint, BigUint) {
            // Returns (sum of positive terms, sum of negative terms) of atan(1/x)·scale.
            let x2 = BigUint::from(x) * x;
            let mut power = scale / x; // scale / x^(2k+1)
            let (mut pos, mut neg) = (BigUint::zero(), BigUint::zero());
            let mut k = 0u32;
            while !power.is_zero() {
                let term = &power / (2 * k + 1);
                if k.is_multiple_of(2) {
                    pos += term;
                } else {
                    neg += term;
                }
                power /= &x2;
                k += 1;
            }
            (pos, neg)
        }
        let scale = BigUint::one() << (bits + 64);
        let (p5, n5) = atan_inv(5, &scale);
        let (p239, n239) = atan_inv(239, &scale);
        let pi = (p5 * 16u32 + n239 * 4u32) - (n5 * 16u32 + p239 * 4u32);
        pi >> 64
    }

    #[test]
    fn prime_matches_rfc3526_formula_and_hex() {
        // RFC 3526 §3: p = 2^2048 - 2^1984 - 1 + 2^64 * { [2^1918 pi] + 124476 }.
        let one = BigUint::one();
        let p = (&one << 2048) - (&one << 1984) - 1u32 + ((pi_scaled(1918) + 124476u32) << 64);
        let prm = params();
        assert_eq!(prm.p, p, "hex constant differs from the RFC 3526 formula");
        assert_eq!(prm.p.bits(), 2048);
        assert_eq!(&prm.q * 2u32 + 1u32, prm.p);
        assert_eq!(
            &prm.p % 8u32,
            BigUint::from(7u32),
            "p ≡ 7 mod 8 so 2 is a QR"
        );
    }

    #[test]
    fn p_and_q_pass_miller_rabin_and_g_has_order_q() {
        fn probable_prime(n: &BigUint) -> bool {
            let n1 = n - 1u32;
            let s = n1.trailing_zeros().unwrap_or(0);
            let d = &n1 >> s;
            [2u32, 3, 5, 7].iter().all(|&a| {
                let mut x = BigUint::from(a).modpow(&d, n);
                if x.is_one() || x == n1 {
                    return true;
                }
                for _ in 1..s {
                    x = (&x * &x) % n;
                    if x == n1 {
                        return true;
                    }
                }
                false
            })
        }
        let prm = params();
        assert!(probable_prime(&prm.p));
        assert!(probable_prime(&prm.q));
        // g ≠ 1 and g^q = 1 with q prime: the order of g is exactly q.
        assert!(Element::validate(prm.g.clone()).is_ok());
    }

    #[test]
    fn subgroup_check_rejects_edge_values_and_non_residues() {
        let prm = params();
        let enc = |n: &BigUint| to_fixed(n);
        for bad in [
            BigUint::zero(),
            BigUint::one(),
            &prm.p - 1u32,
            prm.p.clone(),
            &prm.p + 4u32, // ≡ 4 (a QR) but not reduced: does not fit / is ≥ p
        ] {
            assert_eq!(
                Element::validate(bad.clone()).unwrap_err(),
                GroupError::NotInSubgroup,
                "accepted {bad}"
            );
        }
        // p - 2 ≡ -2: -1 is a non-residue (p ≡ 3 mod 4) and 2 is a residue, so -2 is not.
        assert_eq!(
            Element::from_bytes(&enc(&(&prm.p - 2u32))).unwrap_err(),
            GroupError::NotInSubgroup
        );
        // All-ones bytes are ≥ p.
        assert_eq!(
            Element::from_bytes(&[0xff; ELEMENT_LEN]).unwrap_err(),
            GroupError::NotInSubgroup
        );
        assert!(matches!(
            Element::from_bytes(&[4u8; 255]),
            Err(GroupError::Malformed(_))
        ));
        assert!(Element::from_bytes(&enc(&BigUint::from(4u32))).is_ok());
    }

    #[test]
    fn schnorr_round_trips_and_rejects_tampering() {
        let mut rng = rng();
        let key = SigningKey::generate(&mut rng);
        let sig = key.sign(b"ctx", b"hello drone", &mut rng);
        let bytes = sig.to_bytes();
        let back = Signature::from_bytes(&bytes).unwrap();
        key.public().verify(b"ctx", b"hello drone", &back).unwrap();

        let bad = |r: Result<(), GroupError>| assert_eq!(r, Err(GroupError::BadSignature));
        bad(key.public().verify(b"ctx", b"hello drone!", &back));
        bad(key.public().verify(b"other ctx", b"hello drone", &back));
        for idx in [0usize, 31, 32, SIGNATURE_LEN - 1] {
            let mut t = bytes;
            t[idx] ^= 1;
            bad(key
                .public()
                .verify(b"ctx", b"hello drone", &Signature::from_bytes(&t).unwrap()));
        }
        let other = SigningKey::generate(&mut rng);
        bad(other.public().verify(b"ctx", b"hello drone", &back));
        // s ≥ q is refused before any arithmetic.
        let mut big = bytes;
        big[32..].copy_from_slice(&to_fixed(&params().q));
        bad(key.public().verify(
            b"ctx",
            b"hello drone",
            &Signature::from_bytes(&big).unwrap(),
        ));
    }

    #[test]
    fn signing_key_survives_storage_and_rejects_out_of_range() {
        let mut rng = rng();
        let key = SigningKey::generate(&mut rng);
        let again = SigningKey::from_secret_bytes(key.to_secret_bytes().as_ref()).unwrap();
        assert_eq!(key.public(), again.public());
        assert!(SigningKey::from_secret_bytes(&[0u8; ELEMENT_LEN]).is_err());
        assert!(SigningKey::from_secret_bytes(&to_fixed(&params().q)).is_err());
        assert!(!format!("{key:?}").contains("x:"));
    }

    #[test]
    fn elgamal_transports_the_same_secret() {
        let mut rng = rng();
        let a = SecretExponent::random_short(&mut rng);
        let pk = Element::base_pow(&a);
        let (m, ct) = elgamal_encapsulate(&pk, &mut rng);
        let m2 = elgamal_decapsulate(&a, &ct).unwrap();
        assert_eq!(m.to_bytes().as_ref(), m2.to_bytes().as_ref());
        // The transported value is itself a subgroup element.
        assert!(Element::from_bytes(m.to_bytes().as_ref()).is_ok());
        // A different key recovers something else.
        let b = SecretExponent::random_short(&mut rng);
        let m3 = elgamal_decapsulate(&b, &ct).unwrap();
        assert_ne!(m.to_bytes().as_ref(), m3.to_bytes().as_ref());
    }

    #[test]
    fn secret_exponent_wipe_leaves_zero_and_debug_is_redacted() {
        let mut rng = rng();
        let mut x = SecretExponent::random_full(&mut rng);
        assert_eq!(format!("{x:?}"), "SecretExponent(<redacted>)");
        for bit in 0..x.0.bits() {
            x.0.set_bit(bit, false);
        }
        assert!(x.0.is_zero());
    }
}
