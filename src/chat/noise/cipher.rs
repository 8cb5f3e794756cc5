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
//!
//! The AEAD is RFC 8439 ChaCha20-Poly1305 as `ring` implements it. The RustCrypto
//! `chacha20poly1305` crate computes the same function (a test checks that both agree), but its
//! runtime-selected AVX2 backends took 1.9–2.9 µs per 180-byte message on the lab's machine
//! against 0.25 µs for `ring`: with a 100-member room every message is sealed 100 times, and
//! that difference was most of the protocol's cost over plain TCP. Transport messages are
//! sealed and opened in place ([`CipherState::encrypt_into`], [`CipherState::decrypt_in_place`]):
//! no allocation per message.

use std::fmt;

use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, Nonce, UnboundKey};
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
    Nonce::assume_unique_for_key(nonce)
}

fn aead_key(k: &[u8; KEY_LEN]) -> LessSafeKey {
    // A 32-byte key is always the right length for ChaCha20-Poly1305.
    LessSafeKey::new(
        UnboundKey::new(&CHACHA20_POLY1305, k).unwrap_or_else(|_| unreachable!("32-byte key")),
    )
}

fn too_long(len: usize) -> NoiseError {
    NoiseError::MessageTooLong {
        len: len + TAG_LEN,
        max: MAX_MESSAGE_LEN,
    }
}

/// `ENCRYPT(k, n, ad, plaintext)` appended to `out`: ciphertext followed by the 16-byte tag.
fn encrypt_into(
    k: &[u8; KEY_LEN],
    n: u64,
    ad: &[u8],
    plaintext: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), NoiseError> {
    let start = out.len();
    out.extend_from_slice(plaintext);
    match aead_key(k).seal_in_place_separate_tag(chacha_nonce(n), Aad::from(ad), &mut out[start..])
    {
        Ok(tag) => {
            out.extend_from_slice(tag.as_ref());
            Ok(())
        }
        Err(_) => {
            out.truncate(start);
            Err(too_long(plaintext.len()))
        }
    }
}

/// `ENCRYPT(k, n, ad, plaintext)`: ciphertext followed by the 16-byte tag.
fn encrypt(k: &[u8; KEY_LEN], n: u64, ad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, NoiseError> {
    let mut buf = Vec::with_capacity(plaintext.len() + TAG_LEN);
    encrypt_into(k, n, ad, plaintext, &mut buf)?;
    Ok(buf)
}

/// `DECRYPT(k, n, ad, ciphertext)` in place: the plaintext's length (it is the start of
/// `buf`); the input must hold at least the tag.
fn decrypt_in_place(
    k: &[u8; KEY_LEN],
    n: u64,
    ad: &[u8],
    buf: &mut [u8],
) -> Result<usize, NoiseError> {
    if buf.len() < TAG_LEN {
        return Err(NoiseError::MessageTooShort {
            len: buf.len(),
            min: TAG_LEN,
        });
    }
    aead_key(k)
        .open_in_place(chacha_nonce(n), Aad::from(ad), buf)
        .map(|p| p.len())
        .map_err(|_| NoiseError::DecryptFailed)
}

/// `DECRYPT(k, n, ad, ciphertext)`; the input must hold at least the tag.
fn decrypt(k: &[u8; KEY_LEN], n: u64, ad: &[u8], ciphertext: &[u8]) -> Result<Vec<u8>, NoiseError> {
    let mut buf = ciphertext.to_vec();
    let len = decrypt_in_place(k, n, ad, &mut buf)?;
    buf.truncate(len);
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

    /// [`Self::encrypt_with_ad`] appending to `out` (no allocation when `out` has room).
    pub fn encrypt_into(
        &mut self,
        ad: &[u8],
        plaintext: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), NoiseError> {
        let Some(k) = &self.k else {
            out.extend_from_slice(plaintext);
            return Ok(());
        };
        if self.n == MAX_NONCE {
            return Err(NoiseError::NonceExhausted);
        }
        encrypt_into(k, self.n, ad, plaintext, out)?;
        self.n += 1;
        Ok(())
    }

    /// [`Self::decrypt_with_ad`] in place: returns the plaintext's length, at the start of
    /// `buf` (without a key, all of `buf`). On failure `buf` is garbage and `n` unchanged.
    pub fn decrypt_in_place(&mut self, ad: &[u8], buf: &mut [u8]) -> Result<usize, NoiseError> {
        let Some(k) = &self.k else {
            return Ok(buf.len());
        };
        if self.n == MAX_NONCE {
            return Err(NoiseError::NonceExhausted);
        }
        let len = decrypt_in_place(k, self.n, ad, buf)?;
        self.n += 1;
        Ok(len)
    }

    /// `Rekey()` (§4.2, §11.3): `k = ENCRYPT(k, 2^64-1, zerolen, zeros)[..32]`, i.e. the
    /// ChaCha20 keystream under the reserved nonce. The nonce `n` is *not* reset. Without a
    /// key this does nothing. (The error arm cannot trigger for a 32-byte input; it is kept
    /// so that no failure could ever leave the old key silently in place.)
    pub fn rekey(&mut self) -> Result<(), NoiseError> {
        let Some(k) = &mut self.k else {
            return Ok(());
        };
        let mut next = Zeroizing::new([0u8; KEY_LEN]);
        // The tag is not part of the new key.
        let _tag = aead_key(k)
            .seal_in_place_separate_tag(chacha_nonce(MAX_NONCE), Aad::empty(), &mut next[..])
            .map_err(|_| too_long(KEY_LEN))?;
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
    fn ring_and_the_rustcrypto_crate_compute_the_same_aead() {
        use chacha20poly1305::aead::{Aead, KeyInit, Payload};
        for len in [0usize, 1, 63, 64, 65, 180, 1000] {
            let key = [len as u8 ^ 0x5a; 32];
            let pt: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let n = 7 + len as u64;
            let ours = encrypt(&key, n, b"ad", &pt).unwrap();
            let mut nonce = [0u8; 12];
            nonce[4..].copy_from_slice(&n.to_le_bytes());
            let theirs = chacha20poly1305::ChaCha20Poly1305::new((&key).into())
                .encrypt(
                    (&nonce).into(),
                    Payload {
                        msg: &pt,
                        aad: b"ad",
                    },
                )
                .unwrap();
            assert_eq!(ours, theirs, "{len} bytes");
            assert_eq!(decrypt(&key, n, b"ad", &ours).unwrap(), pt);
        }
    }

    #[test]
    fn in_place_sealing_appends_and_opening_leaves_the_plaintext_first() {
        let mut a = CipherState::with_key([3; 32]);
        let mut b = CipherState::with_key([3; 32]);
        let mut out = b"head".to_vec();
        a.encrypt_into(b"", b"payload", &mut out).unwrap();
        assert_eq!(out.len(), 4 + 7 + TAG_LEN);
        let mut ct = out[4..].to_vec();
        let n = b.decrypt_in_place(b"", &mut ct).unwrap();
        assert_eq!(&ct[..n], b"payload");
        assert_eq!(b.nonce(), 1);
        ct[0] ^= 1;
        assert_eq!(
            b.decrypt_in_place(b"", &mut ct),
            Err(NoiseError::DecryptFailed)
        );
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
