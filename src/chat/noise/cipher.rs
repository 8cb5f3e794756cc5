//! `CipherState` (Noise spec rev. 34 §5.1) over ChaChaPoly (§12.3).
//!
//! A cipher state is a 32-byte key `k` (possibly empty) and a 64-bit counter nonce `n`. Each
//! encryption uses `n` and increments it; the nonce is encoded as 32 zero bits followed by the
//! little-endian 64-bit `n`, as the spec prescribes for ChaCha20-Poly1305. The value 2^64-1 is
//! reserved: it is never used for a message (an attempt fails with
//! [`NoiseError::NonceExhausted`]) and is the nonce of the `REKEY` function
//! (§4.2: `REKEY(k) = ENCRYPT(k, 2^64-1, zerolen, zeros)[..32]`).
//!
//! A failed decryption leaves `n` unchanged, as §5.1 requires.

use std::fmt;

use chacha20poly1305::aead::AeadInPlace;
use chacha20poly1305::{ChaCha20Poly1305, KeyInit, Nonce, Tag};
use zeroize::Zeroizing;

use super::error::NoiseError;
use super::{KEY_LEN, MAX_MESSAGE_LEN, TAG_LEN};

/// The nonce value reserved for [`CipherState::rekey`]; never used for messages.
pub const MAX_NONCE: u64 = u64::MAX;

/// A Noise `CipherState`: an optional key and a counter nonce.
///
/// The key is zeroized on drop and never shown by `Debug`.
pub struct CipherState {
    k: Option<Zeroizing<[u8; KEY_LEN]>>,
    n: u64,
}

impl fmt::Debug for CipherState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CipherState")
            .field("has_key", &self.k.is_some())
            .field("n", &self.n)
            .finish()
    }
}

impl Default for CipherState {
    fn default() -> Self {
        Self::empty()
    }
}

fn chacha_nonce(n: u64) -> Nonce {
    let mut nonce = [0u8; 12];
    nonce[4..].copy_from_slice(&n.to_le_bytes());
    Nonce::from(nonce)
}

/// `ENCRYPT(k, n, ad, plaintext)`: ciphertext followed by the 16-byte tag.
fn encrypt(k: &[u8; KEY_LEN], n: u64, ad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, NoiseError> {
    let aead = ChaCha20Poly1305::new(k.into());
    let mut buf = Vec::with_capacity(plaintext.len() + TAG_LEN);
    buf.extend_from_slice(plaintext);
    let tag = aead
        .encrypt_in_place_detached(&chacha_nonce(n), ad, &mut buf)
        .map_err(|_| NoiseError::MessageTooLong {
            len: plaintext.len() + TAG_LEN,
            max: MAX_MESSAGE_LEN,
        })?;
    buf.extend_from_slice(&tag);
    Ok(buf)
}

/// `DECRYPT(k, n, ad, ciphertext)`; the input must hold at least the tag.
fn decrypt(k: &[u8; KEY_LEN], n: u64, ad: &[u8], ciphertext: &[u8]) -> Result<Vec<u8>, NoiseError> {
    let Some(body_len) = ciphertext.len().checked_sub(TAG_LEN) else {
        return Err(NoiseError::MessageTooShort {
            len: ciphertext.len(),
            min: TAG_LEN,
        });
    };
    let (body, tag) = ciphertext.split_at(body_len);
    let aead = ChaCha20Poly1305::new(k.into());
    let mut buf = body.to_vec();
    aead.decrypt_in_place_detached(&chacha_nonce(n), ad, &mut buf, Tag::from_slice(tag))
        .map_err(|_| NoiseError::DecryptFailed)?;
    Ok(buf)
}

impl CipherState {
    /// A cipher state with an empty key: encryption is the identity (handshake start).
    pub fn empty() -> Self {
        Self { k: None, n: 0 }
    }

    /// `InitializeKey(key)`: sets `k = key` and `n = 0`.
    pub fn initialize_key(&mut self, key: Option<[u8; KEY_LEN]>) {
        self.k = key.map(Zeroizing::new);
        self.n = 0;
    }

    /// A cipher state holding `key` with nonce 0.
    pub fn with_key(key: [u8; KEY_LEN]) -> Self {
        let mut cs = Self::empty();
        cs.initialize_key(Some(key));
        cs
    }

    /// `HasKey()`.
    pub fn has_key(&self) -> bool {
        self.k.is_some()
    }

    /// `SetNonce(nonce)`: for out-of-band nonce schemes; ordinary callers never need it.
    pub fn set_nonce(&mut self, nonce: u64) {
        self.n = nonce;
    }

    /// The nonce the next message will use (= messages processed so far, rekeys included).
    pub fn nonce(&self) -> u64 {
        self.n
    }

    /// `EncryptWithAd(ad, plaintext)`: with a key, ciphertext ‖ tag under nonce `n`, then
    /// `n += 1`; without a key, the plaintext unchanged.
    pub fn encrypt_with_ad(&mut self, ad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, NoiseError> {
        let Some(k) = &self.k else {
            return Ok(plaintext.to_vec());
        };
        if self.n == MAX_NONCE {
            return Err(NoiseError::NonceExhausted);
        }
        let out = encrypt(k, self.n, ad, plaintext)?;
        self.n += 1;
        Ok(out)
    }

    /// `DecryptWithAd(ad, ciphertext)`: with a key, authenticates and decrypts under nonce `n`
    /// and increments `n` only on success; without a key, the input unchanged.
    pub fn decrypt_with_ad(&mut self, ad: &[u8], ciphertext: &[u8]) -> Result<Vec<u8>, NoiseError> {
        let Some(k) = &self.k else {
            return Ok(ciphertext.to_vec());
        };
        if self.n == MAX_NONCE {
            return Err(NoiseError::NonceExhausted);
        }
        let out = decrypt(k, self.n, ad, ciphertext)?;
        self.n += 1;
        Ok(out)
    }

    /// `Rekey()` (§4.2, §11.3): `k = ENCRYPT(k, 2^64-1, zerolen, zeros)[..32]`, i.e. the
    /// ChaCha20 keystream under the reserved nonce. The nonce `n` is *not* reset. Without a
    /// key this does nothing. (The error arm cannot trigger for a 32-byte input; it is kept
    /// so that no failure could ever leave the old key silently in place.)
    pub fn rekey(&mut self) -> Result<(), NoiseError> {
        let Some(k) = &mut self.k else {
            return Ok(());
        };
        let aead = ChaCha20Poly1305::new((&**k).into());
        let mut next = Zeroizing::new([0u8; KEY_LEN]);
        aead.encrypt_in_place_detached(&chacha_nonce(MAX_NONCE), &[], &mut next[..])
            .map_err(|_| NoiseError::MessageTooLong {
                len: KEY_LEN + TAG_LEN,
                max: MAX_MESSAGE_LEN,
            })?;
        **k = *next;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_cipher_state_passes_plaintext_through() {
        let mut cs = CipherState::empty();
        assert_eq!(cs.encrypt_with_ad(b"ad", b"hi").unwrap(), b"hi");
        assert_eq!(cs.decrypt_with_ad(b"ad", b"hi").unwrap(), b"hi");
        assert_eq!(cs.nonce(), 0);
    }

    #[test]
    fn encrypt_then_decrypt_round_trips_and_advances_nonce() {
        let mut a = CipherState::with_key([7; 32]);
        let mut b = CipherState::with_key([7; 32]);
        for i in 0..3u8 {
            let ct = a.encrypt_with_ad(b"ad", &[i; 5]).unwrap();
            assert_eq!(ct.len(), 5 + TAG_LEN);
            assert_eq!(b.decrypt_with_ad(b"ad", &ct).unwrap(), [i; 5]);
        }
        assert_eq!((a.nonce(), b.nonce()), (3, 3));
    }

    #[test]
    fn failed_decrypt_does_not_advance_nonce() {
        let mut a = CipherState::with_key([7; 32]);
        let mut b = CipherState::with_key([7; 32]);
        let ct = a.encrypt_with_ad(b"", b"payload").unwrap();
        let mut bad = ct.clone();
        bad[0] ^= 1;
        assert_eq!(b.decrypt_with_ad(b"", &bad), Err(NoiseError::DecryptFailed));
        assert_eq!(b.decrypt_with_ad(b"x", &ct), Err(NoiseError::DecryptFailed));
        assert_eq!(b.nonce(), 0);
        assert_eq!(b.decrypt_with_ad(b"", &ct).unwrap(), b"payload");
    }

    #[test]
    fn ciphertext_shorter_than_tag_is_rejected() {
        let mut b = CipherState::with_key([7; 32]);
        assert_eq!(
            b.decrypt_with_ad(b"", &[0; 15]),
            Err(NoiseError::MessageTooShort { len: 15, min: 16 })
        );
    }

    #[test]
    fn reserved_nonce_is_never_used_for_messages() {
        let mut a = CipherState::with_key([7; 32]);
        a.set_nonce(MAX_NONCE - 1);
        assert!(a.encrypt_with_ad(b"", b"last").is_ok());
        assert_eq!(
            a.encrypt_with_ad(b"", b"x"),
            Err(NoiseError::NonceExhausted)
        );
        let mut b = CipherState::with_key([7; 32]);
        b.set_nonce(MAX_NONCE);
        assert_eq!(
            b.decrypt_with_ad(b"", &[0; 16]),
            Err(NoiseError::NonceExhausted)
        );
    }

    #[test]
    fn rekey_is_encrypt_of_zeros_under_max_nonce_and_keeps_nonce() {
        let key = [0x42; 32];
        let expected = encrypt(&key, MAX_NONCE, &[], &[0; 32]).unwrap();
        let mut cs = CipherState::with_key(key);
        cs.set_nonce(5);
        cs.rekey().unwrap();
        assert_eq!(cs.nonce(), 5);
        let mut reference = CipherState::with_key(expected[..32].try_into().unwrap());
        reference.set_nonce(5);
        assert_eq!(
            cs.encrypt_with_ad(b"", b"m").unwrap(),
            reference.encrypt_with_ad(b"", b"m").unwrap()
        );
    }

    #[test]
    fn rekeyed_sender_is_not_readable_by_unrekeyed_receiver() {
        let mut a = CipherState::with_key([1; 32]);
        let mut b = CipherState::with_key([1; 32]);
        a.rekey().unwrap();
        let ct = a.encrypt_with_ad(b"", b"m").unwrap();
        assert_eq!(b.decrypt_with_ad(b"", &ct), Err(NoiseError::DecryptFailed));
        b.rekey().unwrap();
        assert_eq!(b.decrypt_with_ad(b"", &ct).unwrap(), b"m");
    }

    #[test]
    fn debug_output_hides_the_key() {
        let cs = CipherState::with_key([0xAB; 32]);
        let s = format!("{cs:?}");
        assert!(
            !s.contains("171") && !s.to_lowercase().contains("ab, "),
            "{s}"
        );
    }
}
