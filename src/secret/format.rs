//! The secret's format, shared by the CLI, the page's JavaScript and the tests: what the
//! server stores, how a key is derived, and what a link looks like.
//!
//! ```text
//! token      32 random bytes, base64url without padding, only ever in the URL's #fragment
//! key        HKDF-SHA256(salt = SALT, ikm = token, info = INFO)  → 32 bytes
//!            with a passphrase:
//!            stretched = PBKDF2-HMAC-SHA256(passphrase (UTF-8), salt = token,
//!                                           PBKDF2_ITERATIONS)  → 32 bytes
//!            HKDF-SHA256(salt = SALT, ikm = token ‖ stretched, info = INFO_PASSPHRASE)
//! sealed     AES-256-GCM(key, iv = 12 random bytes, plaintext), no associated data;
//!            ciphertext = encrypted bytes ‖ 16-byte tag (WebCrypto's layout)
//! id         16 random bytes chosen by the server, base64url without padding (22 characters)
//! link       http://HOST:PORT/s/ID#TOKEN
//! ```
//!
//! The server receives the ciphertext and the IV (standard base64 in JSON) and never the token
//! nor the passphrase; browsers do not send a URL's fragment in requests, and the CLI does not
//! either.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::Zeroizing;

/// HKDF salt (fixed: the token alone carries 256 bits of entropy).
pub const SALT: &[u8] = b"wirelab one-time secret v1";
/// HKDF info without a passphrase.
pub const INFO: &[u8] = b"aes-256-gcm key";
/// HKDF info when a passphrase is mixed in (so "no passphrase" and "empty passphrase" differ).
pub const INFO_PASSPHRASE: &[u8] = b"aes-256-gcm key+pbkdf2 passphrase";
/// PBKDF2-HMAC-SHA256 iterations that stretch a passphrase (OWASP's figure for this hash):
/// the token in the link is 256 random bits, but a passphrase guards a link that leaked, and a
/// guess then costs this many HMACs. The page (WebCrypto) uses the same count.
pub const PBKDF2_ITERATIONS: u32 = 600_000;
/// Bytes of a token.
pub const TOKEN_LEN: usize = 32;
/// Bytes of an id.
pub const ID_LEN: usize = 16;
/// Characters of an id in base64url (no padding).
pub const ID_CHARS: usize = 22;
/// Bytes of an IV.
pub const IV_LEN: usize = 12;
/// Bytes of the GCM tag at the end of a ciphertext.
pub const TAG_LEN: usize = 16;
/// Largest plaintext (64 KiB); larger ones are refused with 413.
pub const MAX_PLAINTEXT: usize = 64 * 1024;
/// Largest ciphertext: the plaintext limit plus the tag.
pub const MAX_CIPHERTEXT: usize = MAX_PLAINTEXT + TAG_LEN;

/// What can go wrong with a link or a sealed secret.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FormatError {
    /// The link does not have the `http://HOST/s/ID#TOKEN` shape.
    #[error("not a secret link (expected http://HOST:PORT/s/ID#KEY): {0}")]
    BadLink(String),
    /// An id that is not 22 base64url characters.
    #[error("bad secret id {0:?}: expected 22 base64url characters")]
    BadId(String),
    /// Decryption failed: wrong key or passphrase, or an altered ciphertext.
    #[error(
        "authentication failed: the ciphertext was altered or the key/passphrase is wrong (nothing decrypted)"
    )]
    Tampered,
    /// The secret is larger than the limit.
    #[error("secret too large: {0} bytes (at most 65536)")]
    TooLarge(usize),
}

/// A random token.
pub fn new_token() -> Zeroizing<[u8; TOKEN_LEN]> {
    Zeroizing::new(rand::random())
}

/// A random id.
pub fn new_id() -> [u8; ID_LEN] {
    rand::random()
}

/// An id as it appears in links and the API.
pub fn encode_id(id: &[u8; ID_LEN]) -> String {
    URL_SAFE_NO_PAD.encode(id)
}

/// Parses an id (exactly 22 base64url characters).
pub fn decode_id(s: &str) -> Result<[u8; ID_LEN], FormatError> {
    if s.len() != ID_CHARS {
        return Err(FormatError::BadId(shorten(s)));
    }
    let v = URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|_| FormatError::BadId(shorten(s)))?;
    v.try_into().map_err(|_| FormatError::BadId(shorten(s)))
}

/// The first characters of an id and an ellipsis: how logs and the dashboard name a secret
/// (never the whole id of a secret not yet claimed).
pub fn id_prefix(id: &str) -> String {
    let head: String = id.chars().take(6).collect();
    format!("{head}…")
}

fn shorten(s: &str) -> String {
    if s.len() > 40 {
        format!("{}…", s.chars().take(40).collect::<String>())
    } else {
        s.to_string()
    }
}

/// The AES-256 key for `token` and an optional passphrase.
pub fn derive_key(token: &[u8], passphrase: Option<&str>) -> Zeroizing<[u8; 32]> {
    let mut ikm = Zeroizing::new(Vec::with_capacity(token.len() + 64));
    ikm.extend_from_slice(token);
    let info = match passphrase {
        Some(p) => {
            let mut stretched = Zeroizing::new([0u8; 32]);
            ring::pbkdf2::derive(
                ring::pbkdf2::PBKDF2_HMAC_SHA256,
                std::num::NonZeroU32::new(PBKDF2_ITERATIONS).unwrap_or(std::num::NonZeroU32::MIN),
                token,
                p.as_bytes(),
                &mut *stretched,
            );
            ikm.extend_from_slice(&*stretched);
            INFO_PASSPHRASE
        }
        None => INFO,
    };
    let hk = Hkdf::<Sha256>::new(Some(SALT), &ikm);
    let mut key = Zeroizing::new([0u8; 32]);
    // 32 bytes is far below HKDF-SHA256's limit of 255 * 32.
    let _ = hk.expand(info, &mut *key);
    key
}

/// Encrypts `plaintext` under `key` with a fresh IV: `(iv, ciphertext ‖ tag)`.
pub fn seal(key: &[u8; 32], plaintext: &[u8]) -> Result<([u8; IV_LEN], Vec<u8>), FormatError> {
    if plaintext.len() > MAX_PLAINTEXT {
        return Err(FormatError::TooLarge(plaintext.len()));
    }
    let iv: [u8; IV_LEN] = rand::random();
    let cipher = Aes256Gcm::new(key.into());
    let ct = cipher
        .encrypt(Nonce::from_slice(&iv), plaintext)
        .map_err(|_| FormatError::TooLarge(plaintext.len()))?;
    Ok((iv, ct))
}

/// Decrypts; any alteration of the ciphertext, IV or tag, or a wrong key, is
/// [`FormatError::Tampered`].
pub fn open(
    key: &[u8; 32],
    iv: &[u8; IV_LEN],
    ciphertext: &[u8],
) -> Result<Zeroizing<Vec<u8>>, FormatError> {
    let cipher = Aes256Gcm::new(key.into());
    cipher
        .decrypt(Nonce::from_slice(iv), ciphertext)
        .map(Zeroizing::new)
        .map_err(|_| FormatError::Tampered)
}

/// A parsed link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// `http://HOST:PORT`.
    pub origin: String,
    /// The `host:port` part.
    pub authority: String,
    /// The id (22 characters).
    pub id: String,
    /// The token from the fragment.
    pub token: Zeroizing<Vec<u8>>,
}

impl Link {
    /// Builds the link text for `origin` (`http://HOST:PORT`), an id and a token.
    pub fn format(origin: &str, id: &str, token: &[u8]) -> String {
        format!(
            "{}/s/{id}#{}",
            origin.trim_end_matches('/'),
            URL_SAFE_NO_PAD.encode(token)
        )
    }

    /// Parses `http://HOST:PORT/s/ID#TOKEN`.
    pub fn parse(url: &str) -> Result<Link, FormatError> {
        let bad = || FormatError::BadLink(shorten(url));
        let url = url.trim();
        let rest = url.strip_prefix("http://").ok_or_else(bad)?;
        let (authority, path) = rest.split_once('/').ok_or_else(bad)?;
        if authority.is_empty() {
            return Err(bad());
        }
        let (path, fragment) = path.split_once('#').ok_or_else(bad)?;
        let id = path.strip_prefix("s/").ok_or_else(bad)?;
        decode_id(id)?;
        let token = URL_SAFE_NO_PAD.decode(fragment).map_err(|_| bad())?;
        if token.len() != TOKEN_LEN {
            return Err(bad());
        }
        Ok(Link {
            origin: format!("http://{authority}"),
            authority: authority.to_string(),
            id: id.to_string(),
            token: Zeroizing::new(token),
        })
    }
}

/// Standard base64 (the API's encoding of ciphertexts and IVs).
pub fn b64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Decodes standard base64.
pub fn unb64(s: &str) -> Option<Vec<u8>> {
    STANDARD.decode(s).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_derives_keys_with_the_same_constants() {
        let js = include_str!("page/app.js");
        for want in [
            format!("PBKDF2_ITERATIONS = {PBKDF2_ITERATIONS};"),
            format!("encode(\"{}\")", String::from_utf8_lossy(INFO_PASSPHRASE)),
            format!("encode(\"{}\")", String::from_utf8_lossy(INFO)),
            format!("encode(\"{}\")", String::from_utf8_lossy(SALT)),
        ] {
            assert!(js.contains(&want), "app.js lacks {want}");
        }
    }

    #[test]
    fn a_passphrase_changes_the_key_and_an_empty_one_is_not_none() {
        let t = [7u8; TOKEN_LEN];
        let none = derive_key(&t, None);
        let empty = derive_key(&t, Some(""));
        let a = derive_key(&t, Some("a"));
        assert_ne!(*none, *empty);
        assert_ne!(*empty, *a);
        assert_eq!(*a, *derive_key(&t, Some("a")));
    }

    #[test]
    fn sealed_secret_opens_with_the_token_and_only_with_it() {
        let token = new_token();
        let key = derive_key(&*token, None);
        let (iv, ct) = seal(&key, b"the launch code").unwrap();
        assert_eq!(ct.len(), 15 + TAG_LEN);
        assert_eq!(&open(&key, &iv, &ct).unwrap()[..], b"the launch code");
        let other = derive_key(&*new_token(), None);
        assert_eq!(open(&other, &iv, &ct), Err(FormatError::Tampered));
        let with_pass = derive_key(&*token, Some(""));
        assert_ne!(*with_pass, *key, "empty passphrase differs from none");
    }

    #[test]
    fn one_flipped_bit_anywhere_is_an_authentication_failure() {
        let key = derive_key(&[7; 32], Some("horse"));
        let (iv, ct) = seal(&key, b"abc").unwrap();
        for i in 0..ct.len() {
            let mut bad = ct.clone();
            bad[i] ^= 1;
            assert_eq!(open(&key, &iv, &bad), Err(FormatError::Tampered));
        }
        let mut bad_iv = iv;
        bad_iv[0] ^= 0x80;
        assert_eq!(open(&key, &bad_iv, &ct), Err(FormatError::Tampered));
    }

    #[test]
    fn links_round_trip_and_bad_ones_are_refused() {
        let id = encode_id(&new_id());
        let token = new_token();
        let url = Link::format("http://127.0.0.1:8080", &id, &*token);
        let l = Link::parse(&url).unwrap();
        assert_eq!(l.id, id);
        assert_eq!(&l.token[..], &token[..]);
        assert_eq!(l.origin, "http://127.0.0.1:8080");
        for bad in [
            "",
            "https://x/s/abc#def",
            "http://h/s/short#AAAA",
            &url.replace('#', "?"),
            &format!("http://h/s/{id}#notbase64!!"),
            &format!("http://h/s/{id}#AAAA"),
        ] {
            assert!(Link::parse(bad).is_err(), "{bad}");
        }
        assert!(decode_id("AAAAAAAAAAAAAAAAAAAAA").is_err());
        assert!(decode_id("AAAAAAAAAAAAAAAAAAAAA*").is_err());
    }

    #[test]
    fn hkdf_matches_rfc_5869_test_case_1() {
        // RFC 5869 A.1: the hkdf crate, as used here, against the RFC's vector.
        let ikm = [0x0b; 22];
        let salt: Vec<u8> = (0u8..=0x0c).collect();
        let info: Vec<u8> = (0xf0u8..=0xf9).collect();
        let hk = Hkdf::<Sha256>::new(Some(&salt), &ikm);
        let mut okm = [0u8; 42];
        hk.expand(&info, &mut okm).unwrap();
        let hex: String = okm.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
        );
    }

    #[test]
    fn hkdf_matches_rfc_5869_test_case_3_without_salt() {
        let ikm = [0x0b; 22];
        let hk = Hkdf::<Sha256>::new(None, &ikm);
        let mut okm = [0u8; 42];
        hk.expand(&[], &mut okm).unwrap();
        let hex: String = okm.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8"
        );
    }
}
