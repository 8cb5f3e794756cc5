//! `SymmetricState` (Noise spec rev. 34 §5.2) with SHA-256 (§12.4) and the spec's HKDF (§4.3).
//!
//! The state is a chaining key `ck` (secret: every DH output and the PSK are folded into it),
//! the handshake hash `h` (a transcript hash, public but binding) and a [`CipherState`] whose
//! key is derived from `ck`. `HKDF` here is exactly the spec's definition built on
//! `HMAC-SHA256` — `temp_key = HMAC(ck, ikm)`, `out1 = HMAC(temp_key, 0x01)`,
//! `out2 = HMAC(temp_key, out1 ‖ 0x02)`, `out3 = HMAC(temp_key, out2 ‖ 0x03)` — which is
//! RFC 5869 with `ck` as salt and an empty info, written out rather than mapped onto a crate.

use std::fmt;

use hmac::{Hmac, Mac};
use sha2::digest::generic_array::GenericArray;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::cipher::CipherState;
use super::error::NoiseError;
use super::{HASH_LEN, KEY_LEN};

/// SHA-256's block length; HMAC keys are zero-padded to it.
const BLOCK_LEN: usize = 64;

/// `HMAC-HASH(key, data...)` for a 32-byte key.
///
/// HMAC zero-pads keys shorter than the block, so keying with the padded 64-byte block is the
/// same function and lets us use the infallible fixed-size constructor.
fn hmac(key: &[u8; HASH_LEN], parts: &[&[u8]]) -> Zeroizing<[u8; HASH_LEN]> {
    let mut block = Zeroizing::new([0u8; BLOCK_LEN]);
    block[..HASH_LEN].copy_from_slice(key);
    let mut mac = <Hmac<Sha256> as Mac>::new(GenericArray::from_slice(&block[..]));
    for p in parts {
        mac.update(p);
    }
    let mut out = Zeroizing::new([0u8; HASH_LEN]);
    out.copy_from_slice(&mac.finalize().into_bytes());
    out
}

/// The spec's `HKDF(chaining_key, input_key_material, num_outputs)` with three outputs;
/// callers take the first two or all three.
pub(super) fn hkdf(chaining_key: &[u8; HASH_LEN], ikm: &[u8]) -> [Zeroizing<[u8; HASH_LEN]>; 3] {
    let temp_key = hmac(chaining_key, &[ikm]);
    let out1 = hmac(&temp_key, &[&[0x01]]);
    let out2 = hmac(&temp_key, &[&out1[..], &[0x02]]);
    let out3 = hmac(&temp_key, &[&out2[..], &[0x03]]);
    [out1, out2, out3]
}

/// A Noise `SymmetricState`. `ck` is zeroized on drop; `Debug` shows only `h`'s presence.
pub struct SymmetricState {
    ck: Zeroizing<[u8; HASH_LEN]>,
    h: [u8; HASH_LEN],
    cipher: CipherState,
}

impl fmt::Debug for SymmetricState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SymmetricState")
            .field("cipher", &self.cipher)
            .finish_non_exhaustive()
    }
}

impl SymmetricState {
    /// `InitializeSymmetric(protocol_name)`: `h` is the name zero-padded to 32 bytes if it
    /// fits, else `SHA-256(name)`; `ck = h`; the cipher key is empty.
    pub fn initialize(protocol_name: &[u8]) -> Self {
        let mut h = [0u8; HASH_LEN];
        if protocol_name.len() <= HASH_LEN {
            h[..protocol_name.len()].copy_from_slice(protocol_name);
        } else {
            h.copy_from_slice(&Sha256::digest(protocol_name));
        }
        Self {
            ck: Zeroizing::new(h),
            h,
            cipher: CipherState::empty(),
        }
    }

    /// `MixKey(ikm)`: `ck, temp_k = HKDF(ck, ikm, 2)`; the cipher gets `temp_k`, nonce 0.
    pub fn mix_key(&mut self, ikm: &[u8]) {
        let [ck, temp_k, _] = hkdf(&self.ck, ikm);
        *self.ck = *ck;
        self.cipher.initialize_key(Some(key_from(&temp_k)));
    }

    /// `MixHash(data)`: `h = SHA-256(h ‖ data)`.
    pub fn mix_hash(&mut self, data: &[u8]) {
        let mut hasher = Sha256::new();
        hasher.update(self.h);
        hasher.update(data);
        self.h.copy_from_slice(&hasher.finalize());
    }

    /// `MixKeyAndHash(ikm)` (used for `psk`): `ck, temp_h, temp_k = HKDF(ck, ikm, 3)`;
    /// `MixHash(temp_h)`; the cipher gets `temp_k`.
    pub fn mix_key_and_hash(&mut self, ikm: &[u8]) {
        let [ck, temp_h, temp_k] = hkdf(&self.ck, ikm);
        *self.ck = *ck;
        self.mix_hash(&temp_h[..]);
        self.cipher.initialize_key(Some(key_from(&temp_k)));
    }

    /// `GetHandshakeHash()`: the current `h`; after the last handshake message it is a
    /// unique, both-sides-equal identifier of the session usable for channel binding.
    pub fn handshake_hash(&self) -> [u8; HASH_LEN] {
        self.h
    }

    /// Whether the cipher has a key (so handshake payloads and `s` are encrypted).
    pub fn has_key(&self) -> bool {
        self.cipher.has_key()
    }

    /// `EncryptAndHash(plaintext)`: encrypt with `ad = h`, then `MixHash(ciphertext)`.
    pub fn encrypt_and_hash(&mut self, plaintext: &[u8]) -> Result<Vec<u8>, NoiseError> {
        let ct = self.cipher.encrypt_with_ad(&self.h, plaintext)?;
        self.mix_hash(&ct);
        Ok(ct)
    }

    /// `DecryptAndHash(ciphertext)`: decrypt with `ad = h`, then `MixHash(ciphertext)`.
    pub fn decrypt_and_hash(&mut self, ciphertext: &[u8]) -> Result<Vec<u8>, NoiseError> {
        let pt = self.cipher.decrypt_with_ad(&self.h, ciphertext)?;
        self.mix_hash(ciphertext);
        Ok(pt)
    }

    /// `Split()`: `temp_k1, temp_k2 = HKDF(ck, zerolen, 2)`; returns `(c1, c2)` where `c1`
    /// encrypts initiator→responder and `c2` responder→initiator. Consumes the state so the
    /// chaining key cannot be used afterwards.
    pub fn split(self) -> (CipherState, CipherState) {
        let [k1, k2, _] = hkdf(&self.ck, &[]);
        (
            CipherState::with_key(key_from(&k1)),
            CipherState::with_key(key_from(&k2)),
        )
    }
}

/// Truncates a hash output to a cipher key (`HASHLEN == 32 == KEYLEN` for SHA-256, so this is
/// a copy; written out to mirror the spec's "if HASHLEN is 64, truncate").
fn key_from(out: &[u8; HASH_LEN]) -> [u8; KEY_LEN] {
    let mut k = [0u8; KEY_LEN];
    k.copy_from_slice(&out[..KEY_LEN]);
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn hkdf_matches_rfc5869_with_salt_as_chaining_key_and_empty_info() {
        // RFC 5869 has no 32-byte-salt SHA-256 case with empty info, so this checks the
        // defining equation instead: PRK = HMAC(salt, IKM); T1 = HMAC(PRK, 0x01);
        // T2 = HMAC(PRK, T1 || 0x02), using the hmac crate's variable-key constructor.
        let ck = [0x0b; 32];
        let ikm = b"input key material";
        let var = |k: &[u8], d: &[u8]| {
            let mut m = <Hmac<Sha256> as hmac::digest::KeyInit>::new_from_slice(k).unwrap();
            m.update(d);
            m.finalize().into_bytes().to_vec()
        };
        let prk = var(&ck, ikm);
        let t1 = var(&prk, &[1]);
        let t2 = var(&prk, &[t1.clone(), vec![2]].concat());
        let t3 = var(&prk, &[t2.clone(), vec![3]].concat());
        let [o1, o2, o3] = hkdf(&ck, ikm);
        assert_eq!((&o1[..], &o2[..], &o3[..]), (&t1[..], &t2[..], &t3[..]));
    }

    #[test]
    fn hmac_with_zero_padded_key_matches_rfc4231_case_1() {
        // RFC 4231 §4.2: key = 0x0b * 20, data = "Hi There".
        let mut key = [0u8; 32];
        key[..20].copy_from_slice(&[0x0b; 20]);
        let ours = hmac(&key, &[b"Hi There"]);
        let expected = hex("b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
        // Zero-padding a 20-byte key to 32 bytes is the same HMAC key (both pad to 64).
        assert_eq!(&ours[..], &expected[..]);
    }

    #[test]
    fn short_protocol_name_is_padded_and_long_name_is_hashed() {
        let short = SymmetricState::initialize(b"Noise_NN_25519_ChaChaPoly_SHA256");
        assert_eq!(
            &short.handshake_hash()[..],
            b"Noise_NN_25519_ChaChaPoly_SHA256"
        );
        let tiny = SymmetricState::initialize(b"abc");
        assert_eq!(&tiny.handshake_hash()[..4], b"abc\0");
        let long = b"Noise_NNpsk0_25519_ChaChaPoly_SHA256";
        let hashed = SymmetricState::initialize(long);
        assert_eq!(hashed.handshake_hash()[..], Sha256::digest(long)[..]);
    }

    #[test]
    fn encrypt_and_hash_binds_the_transcript() {
        let mut a = SymmetricState::initialize(b"proto");
        let mut b = SymmetricState::initialize(b"proto");
        a.mix_key(b"shared");
        b.mix_key(b"shared");
        b.mix_hash(b"something a did not see");
        let ct = a.encrypt_and_hash(b"hello").unwrap();
        assert_eq!(b.decrypt_and_hash(&ct), Err(NoiseError::DecryptFailed));
    }

    #[test]
    fn split_gives_distinct_directional_keys_equal_on_both_sides() {
        let mut a = SymmetricState::initialize(b"proto");
        let mut b = SymmetricState::initialize(b"proto");
        a.mix_key_and_hash(&[9; 32]);
        b.mix_key_and_hash(&[9; 32]);
        let (mut a1, mut a2) = a.split();
        let (mut b1, mut b2) = b.split();
        let m1 = a1.encrypt_with_ad(b"", b"x").unwrap();
        let m2 = a2.encrypt_with_ad(b"", b"x").unwrap();
        assert_ne!(m1, m2);
        assert_eq!(b1.decrypt_with_ad(b"", &m1).unwrap(), b"x");
        assert_eq!(b2.decrypt_with_ad(b"", &m2).unwrap(), b"x");
    }
}
