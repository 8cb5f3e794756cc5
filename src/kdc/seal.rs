//! Session keys sealed to a service's own X25519 key (so no authority ever sees one):
//! `recipient (32) | ephemeral X25519 (32) | AES-256-GCM(session key) (48)`, the GCM key from
//! HKDF-SHA256 over the shared secret, salted with both public keys. Each GCM key is used once
//! (a fresh ephemeral per ticket), so its nonce is fixed at zero.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use zeroize::Zeroizing;

use super::proto::SEALED_LEN;

fn seal_key(shared: &[u8; 32], eph: &[u8; 32], recipient: &[u8; 32]) -> Zeroizing<[u8; 32]> {
    let mut salt = [0u8; 64];
    salt[..32].copy_from_slice(eph);
    salt[32..].copy_from_slice(recipient);
    let hk = hkdf::Hkdf::<sha2::Sha256>::new(Some(&salt), shared);
    let mut k = Zeroizing::new([0u8; 32]);
    // 32 bytes is far below HKDF's limit.
    let _ = hk.expand(b"wirelab-kdc seal v1", k.as_mut());
    k
}

/// Seals a 32-byte session key to `recipient` (X25519): `recipient | ephemeral | GCM`.
pub fn seal_session_key(recipient: &[u8; 32], session_key: &[u8; 32]) -> Vec<u8> {
    let eph = x25519_dalek::StaticSecret::from(rand::random::<[u8; 32]>());
    seal_with(recipient, session_key, eph)
}

fn seal_with(
    recipient: &[u8; 32],
    session_key: &[u8; 32],
    eph: x25519_dalek::StaticSecret,
) -> Vec<u8> {
    let eph_pub = x25519_dalek::PublicKey::from(&eph).to_bytes();
    let shared = eph.diffie_hellman(&x25519_dalek::PublicKey::from(*recipient));
    seal_shared(recipient, session_key, &eph_pub, shared.as_bytes())
}

/// Seals session keys to one recipient faster than [`seal_session_key`], with the same output
/// format and the same X25519 values: the recipient's point goes into a precomputed table once,
/// so each seal's Diffie-Hellman is a fixed-base multiplication (constant time, like the
/// ladder) instead of a Montgomery ladder.
pub struct Sealer {
    recipient: [u8; 32],
    table: Option<Box<curve25519_dalek::edwards::EdwardsBasepointTable>>,
}

impl Sealer {
    /// A sealer for `recipient` (an X25519 public key). A key outside the prime-order subgroup
    /// (no honest X25519 key is) falls back to the ladder.
    pub fn new(recipient: &[u8; 32]) -> Sealer {
        let table = curve25519_dalek::montgomery::MontgomeryPoint(*recipient)
            .to_edwards(0)
            .filter(|p| p.is_torsion_free())
            .map(|p| {
                use curve25519_dalek::traits::BasepointTable;
                Box::new(curve25519_dalek::edwards::EdwardsBasepointTable::create(&p))
            });
        Sealer {
            recipient: *recipient,
            table,
        }
    }

    /// The recipient.
    pub fn recipient(&self) -> &[u8; 32] {
        &self.recipient
    }

    /// `recipient | ephemeral | GCM(session key)`, as [`seal_session_key`].
    pub fn seal(&self, session_key: &[u8; 32]) -> Vec<u8> {
        let eph = Zeroizing::new(curve25519_dalek::scalar::clamp_integer(rand::random()));
        let Some(table) = &self.table else {
            return seal_with(
                &self.recipient,
                session_key,
                x25519_dalek::StaticSecret::from(*eph),
            );
        };
        // X25519(k, u) is the u-coordinate of [clamp(k)] P; for P in the prime-order subgroup
        // that is [clamp(k) mod l] P, whichever of the two Edwards points over u is taken.
        let k = Zeroizing::new(curve25519_dalek::scalar::Scalar::from_bytes_mod_order(*eph));
        let eph_pub = curve25519_dalek::edwards::EdwardsPoint::mul_base(&k)
            .to_montgomery()
            .to_bytes();
        let shared = Zeroizing::new((table.as_ref() * &*k).to_montgomery().to_bytes());
        seal_shared(&self.recipient, session_key, &eph_pub, &shared)
    }
}

fn seal_shared(
    recipient: &[u8; 32],
    session_key: &[u8; 32],
    eph_pub: &[u8; 32],
    shared: &[u8; 32],
) -> Vec<u8> {
    let eph_pub = *eph_pub;
    let k = seal_key(shared, &eph_pub, recipient);
    let cipher = Aes256Gcm::new_from_slice(k.as_ref()).expect("32-byte key");
    // The key is used once (fresh ephemeral), so a zero nonce is safe.
    let ct = cipher
        .encrypt(
            Nonce::from_slice(&[0u8; 12]),
            Payload {
                msg: session_key,
                aad: b"wirelab-kdc session key",
            },
        )
        .unwrap_or_default();
    let mut out = Vec::with_capacity(SEALED_LEN);
    out.extend_from_slice(recipient);
    out.extend_from_slice(&eph_pub);
    out.extend_from_slice(&ct);
    out
}

/// Opens a sealed session key with the recipient's secret; `None` if it was not sealed to
/// this key or was altered.
pub fn open_session_key(
    secret: &x25519_dalek::StaticSecret,
    sealed: &[u8],
) -> Option<Zeroizing<[u8; 32]>> {
    if sealed.len() != SEALED_LEN {
        return None;
    }
    let me = x25519_dalek::PublicKey::from(secret).to_bytes();
    if sealed[..32] != me {
        return None;
    }
    let eph: [u8; 32] = sealed[32..64].try_into().ok()?;
    let shared = secret.diffie_hellman(&x25519_dalek::PublicKey::from(eph));
    let k = seal_key(shared.as_bytes(), &eph, &me);
    let cipher = Aes256Gcm::new_from_slice(k.as_ref()).ok()?;
    let pt = Zeroizing::new(
        cipher
            .decrypt(
                Nonce::from_slice(&[0u8; 12]),
                Payload {
                    msg: &sealed[64..],
                    aad: b"wirelab-kdc session key",
                },
            )
            .ok()?,
    );
    let mut key = Zeroizing::new([0u8; 32]);
    key.copy_from_slice(pt.get(..32)?);
    Some(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_session_key_opens_only_with_the_recipient_secret() {
        let svc = x25519_dalek::StaticSecret::from(rand::random::<[u8; 32]>());
        let other = x25519_dalek::StaticSecret::from(rand::random::<[u8; 32]>());
        let pubk = x25519_dalek::PublicKey::from(&svc).to_bytes();
        let sealed = seal_session_key(&pubk, &[9; 32]);
        assert_eq!(sealed.len(), SEALED_LEN);
        assert_eq!(*open_session_key(&svc, &sealed).unwrap(), [9; 32]);
        assert!(open_session_key(&other, &sealed).is_none());
        let sealer = Sealer::new(&pubk);
        assert!(sealer.table.is_some());
        for _ in 0..8 {
            let fast = sealer.seal(&[4; 32]);
            assert_eq!(fast.len(), SEALED_LEN);
            assert_eq!(*open_session_key(&svc, &fast).unwrap(), [4; 32]);
            assert!(open_session_key(&other, &fast).is_none());
        }
        let mut tampered = sealed.clone();
        tampered[80] ^= 1;
        assert!(open_session_key(&svc, &tampered).is_none());
    }
}
