//! Key material: X25519 keypairs (§12.1) and the 32-byte pre-shared key (§9).
//!
//! Private keys are built from 32 random bytes drawn with `rand` 0.9 and handed to
//! `x25519_dalek::StaticSecret::from` (x25519-dalek uses the older `rand_core` 0.6 traits,
//! which we deliberately do not mix in). Ephemeral keys use the same type because a Noise
//! handshake may use one ephemeral in several DHs (`ee`, `es`, `se`).
//!
//! Every DH output is checked to be non-zero in constant time: an all-zero result means the
//! peer's public key had low order (or was zero) and contributes nothing, so an attacker could
//! force a known "shared secret"; Noise allows rejecting it and we always do.

use std::fmt;

use rand::RngCore;
use subtle::ConstantTimeEq;
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::DH_LEN;
use super::error::NoiseError;
use super::hex;

/// Length of a pre-shared key.
pub const PSK_LEN: usize = 32;

/// An X25519 keypair. The private half is zeroized on drop and never printed.
pub struct Keypair {
    secret: StaticSecret,
    public: [u8; DH_LEN],
}

impl fmt::Debug for Keypair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keypair")
            .field("public", &hex(&self.public))
            .finish_non_exhaustive()
    }
}

impl Keypair {
    /// A fresh keypair from 32 bytes of `rand::rng()` (an OS-seeded CSPRNG).
    pub fn generate() -> Self {
        let mut bytes = Zeroizing::new([0u8; DH_LEN]);
        rand::rng().fill_bytes(&mut bytes[..]);
        Self::from_secret_bytes(*bytes)
    }

    /// The keypair whose private key is `secret` (clamped by X25519 as usual). The caller
    /// should zeroize its own copy of `secret`.
    pub fn from_secret_bytes(secret: [u8; DH_LEN]) -> Self {
        let secret = StaticSecret::from(secret);
        let public = PublicKey::from(&secret).to_bytes();
        Self { secret, public }
    }

    /// The public key, as sent on the wire.
    pub fn public_key(&self) -> &[u8; DH_LEN] {
        &self.public
    }

    /// `DH(self, their_public)`, rejecting an all-zero output (low-order `their_public`).
    pub fn dh(&self, their_public: &[u8; DH_LEN]) -> Result<Zeroizing<[u8; DH_LEN]>, NoiseError> {
        let shared = self.secret.diffie_hellman(&PublicKey::from(*their_public));
        let out = Zeroizing::new(shared.to_bytes());
        if bool::from(out.ct_eq(&[0u8; DH_LEN])) {
            return Err(NoiseError::InvalidDh);
        }
        Ok(out)
    }
}

/// A 32-byte pre-shared key, enrolled per client. Zeroized on drop, never printed.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Psk([u8; PSK_LEN]);

impl fmt::Debug for Psk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Psk(<redacted>)")
    }
}

impl Psk {
    /// Wraps existing key bytes (e.g. loaded from the enrollment store).
    pub fn from_bytes(bytes: [u8; PSK_LEN]) -> Self {
        Self(bytes)
    }

    /// A fresh uniformly random PSK from `rand::rng()`, for enrolling a new client.
    pub fn generate() -> Self {
        let mut psk = Self([0u8; PSK_LEN]);
        rand::rng().fill_bytes(&mut psk.0);
        psk
    }

    /// The key bytes (for storing at enrollment; handle with care).
    pub fn as_bytes(&self) -> &[u8; PSK_LEN] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dh_agrees_between_two_keypairs() {
        let a = Keypair::generate();
        let b = Keypair::generate();
        assert_eq!(
            *a.dh(b.public_key()).unwrap(),
            *b.dh(a.public_key()).unwrap()
        );
    }

    #[test]
    fn dh_with_low_order_points_is_rejected() {
        let a = Keypair::generate();
        // u-coordinates from the well-known X25519 small-order list: 0, 1, an order-8 point,
        // p-1, and p (a non-canonical encoding of 0). Clamped scalars are multiples of the
        // cofactor 8, so each gives an all-zero shared secret.
        let mut one = [0u8; 32];
        one[0] = 1;
        let order8 = [
            0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae, 0x16, 0x56, 0xe3, 0xfa, 0xf1, 0x9f,
            0xc4, 0x6a, 0xda, 0x09, 0x8d, 0xeb, 0x9c, 0x32, 0xb1, 0xfd, 0x86, 0x62, 0x05, 0x16,
            0x5f, 0x49, 0xb8, 0x00,
        ];
        let mut p_minus_1 = [0xff; 32];
        p_minus_1[0] = 0xec;
        p_minus_1[31] = 0x7f;
        let mut p = [0xff; 32];
        p[0] = 0xed;
        p[31] = 0x7f;
        for point in [[0u8; 32], one, order8, p_minus_1, p] {
            assert_eq!(a.dh(&point), Err(NoiseError::InvalidDh), "{}", hex(&point));
        }
    }

    #[test]
    fn keypair_from_secret_matches_rfc7748_alice() {
        // RFC 7748 §6.1.
        let sk: [u8; 32] = [
            0x77, 0x07, 0x6d, 0x0a, 0x73, 0x18, 0xa5, 0x7d, 0x3c, 0x16, 0xc1, 0x72, 0x51, 0xb2,
            0x66, 0x45, 0xdf, 0x4c, 0x2f, 0x87, 0xeb, 0xc0, 0x99, 0x2a, 0xb1, 0x77, 0xfb, 0xa5,
            0x1d, 0xb9, 0x2c, 0x2a,
        ];
        let kp = Keypair::from_secret_bytes(sk);
        assert_eq!(
            hex(kp.public_key()),
            "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"
        );
    }

    #[test]
    fn debug_output_hides_private_keys_and_psks() {
        let kp = Keypair::from_secret_bytes([0x11; 32]);
        let dbg = format!("{kp:?}");
        assert!(!dbg.contains("1111"), "{dbg}");
        assert_eq!(
            format!("{:?}", Psk::from_bytes([0x22; 32])),
            "Psk(<redacted>)"
        );
    }

    #[test]
    fn generated_psks_differ() {
        assert_ne!(Psk::generate().as_bytes(), Psk::generate().as_bytes());
    }
}
