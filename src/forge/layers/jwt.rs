//! JWT bearer authentication, HS256 only. The algorithm is pinned: a token whose header names
//! anything else (`none`, `RS256`, `HS512`, ...) is refused before any key is touched, which
//! closes the algorithm-confusion attacks. The signature is compared in constant time
//! (`subtle`), and `exp`/`nbf` are checked with a small leeway. Verified claims are attached to
//! the request as [`Claims`].

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde_json::{Map, Value};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use thiserror::Error;

use crate::forge::middleware::{Middleware, Next};
use crate::forge::request::Request;
use crate::forge::response::{BoxFuture, Response};

type HmacSha256 = Hmac<Sha256>;

/// Longest token we look at.
const MAX_TOKEN: usize = 8 * 1024;

/// Why a token was refused.
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
pub enum JwtError {
    /// No `Authorization: Bearer` header.
    #[error("missing bearer token")]
    Missing,
    /// Not three base64url parts of JSON objects, or too long.
    #[error("malformed token")]
    Malformed,
    /// The header names an algorithm other than HS256, or critical extensions.
    #[error("algorithm not allowed")]
    Algorithm,
    /// The signature does not match.
    #[error("bad signature")]
    Signature,
    /// `exp` is in the past.
    #[error("token expired")]
    Expired,
    /// `nbf` is in the future.
    #[error("token not yet valid")]
    NotYetValid,
}

/// The verified claims of a request's token.
#[derive(Debug, Clone, PartialEq)]
pub struct Claims(pub Map<String, Value>);

impl Claims {
    /// The `sub` claim, if it is a string.
    pub fn subject(&self) -> Option<&str> {
        self.0.get("sub").and_then(Value::as_str)
    }
}

/// HS256 verifier and middleware.
pub struct Jwt {
    key: Vec<u8>,
    leeway_secs: u64,
}

impl Jwt {
    /// A verifier with the shared secret `key` and a 30 s clock leeway.
    pub fn hs256(key: impl Into<Vec<u8>>) -> Jwt {
        Jwt {
            key: key.into(),
            leeway_secs: 30,
        }
    }

    fn mac(&self) -> HmacSha256 {
        // HMAC accepts keys of any length; this cannot fail.
        HmacSha256::new_from_slice(&self.key).unwrap_or_else(|_| unreachable!())
    }

    /// Signs `claims` (a JSON object) into a compact HS256 token.
    pub fn sign(&self, claims: &Value) -> String {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
        let signing_input = format!("{header}.{payload}");
        let mut mac = self.mac();
        mac.update(signing_input.as_bytes());
        let sig = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        format!("{signing_input}.{sig}")
    }

    /// Verifies `token` at time `now` (seconds since the epoch).
    pub fn verify(&self, token: &str, now: u64) -> Result<Claims, JwtError> {
        if token.len() > MAX_TOKEN {
            return Err(JwtError::Malformed);
        }
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(JwtError::Malformed);
        };
        let header = decode_object(h)?;
        if header.get("alg").and_then(Value::as_str) != Some("HS256") || header.contains_key("crit")
        {
            return Err(JwtError::Algorithm);
        }
        let sig = URL_SAFE_NO_PAD.decode(s).map_err(|_| JwtError::Malformed)?;
        let mut mac = self.mac();
        mac.update(h.as_bytes());
        mac.update(b".");
        mac.update(p.as_bytes());
        let expected = mac.finalize().into_bytes();
        if sig.len() != expected.len() || !bool::from(expected.as_slice().ct_eq(&sig)) {
            return Err(JwtError::Signature);
        }
        let claims = decode_object(p)?;
        let time = |name: &str| -> Result<Option<u64>, JwtError> {
            match claims.get(name) {
                None => Ok(None),
                Some(v) => v
                    .as_f64()
                    .map(|t| Some(t.max(0.0) as u64))
                    .ok_or(JwtError::Malformed),
            }
        };
        if time("exp")?.is_some_and(|exp| now >= exp.saturating_add(self.leeway_secs)) {
            return Err(JwtError::Expired);
        }
        if time("nbf")?.is_some_and(|nbf| now.saturating_add(self.leeway_secs) < nbf) {
            return Err(JwtError::NotYetValid);
        }
        Ok(Claims(claims))
    }
}

fn decode_object(part: &str) -> Result<Map<String, Value>, JwtError> {
    let raw = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| JwtError::Malformed)?;
    match serde_json::from_slice(&raw) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(JwtError::Malformed),
    }
}

fn unauthorized(err: JwtError) -> Response {
    let challenge = match err {
        JwtError::Missing => "Bearer".to_owned(),
        e => format!("Bearer error=\"invalid_token\", error_description=\"{e}\""),
    };
    Response::error(401).with_header("www-authenticate", challenge)
}

impl Middleware for Jwt {
    fn handle<'a>(&'a self, mut req: Request, next: Next<'a>) -> BoxFuture<'a, Response> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let token = req.header("authorization").and_then(|v| {
            let (scheme, token) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        });
        let verdict = token
            .ok_or(JwtError::Missing)
            .and_then(|t| self.verify(t, now));
        match verdict {
            Ok(claims) => {
                req.extensions.insert(claims);
                next.run(req)
            }
            Err(e) => Box::pin(async move { unauthorized(e) }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn forge(header: &str, payload: &str, key: &[u8]) -> String {
        let h = URL_SAFE_NO_PAD.encode(header);
        let p = URL_SAFE_NO_PAD.encode(payload);
        let mut mac = HmacSha256::new_from_slice(key).unwrap();
        mac.update(format!("{h}.{p}").as_bytes());
        format!(
            "{h}.{p}.{}",
            URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
        )
    }

    #[test]
    fn signed_token_verifies_and_carries_claims() {
        let jwt = Jwt::hs256("secret");
        let token = jwt.sign(&json!({"sub": "ada", "exp": 2000, "nbf": 1000}));
        let claims = jwt.verify(&token, 1500).unwrap();
        assert_eq!(claims.subject(), Some("ada"));
    }

    #[test]
    fn expired_and_not_yet_valid_tokens_are_refused() {
        let jwt = Jwt::hs256("secret");
        let token = jwt.sign(&json!({"exp": 2000, "nbf": 1000}));
        assert_eq!(jwt.verify(&token, 2030), Err(JwtError::Expired));
        assert_eq!(jwt.verify(&token, 960), Err(JwtError::NotYetValid));
        assert!(jwt.verify(&token, 2029).is_ok(), "leeway");
    }

    #[test]
    fn other_algorithms_are_refused_even_with_a_valid_mac() {
        let jwt = Jwt::hs256("secret");
        for alg in ["none", "HS512", "RS256", "hs256"] {
            let t = forge(
                &format!(r#"{{"alg":"{alg}"}}"#),
                r#"{"sub":"x"}"#,
                b"secret",
            );
            assert_eq!(jwt.verify(&t, 0), Err(JwtError::Algorithm), "{alg}");
        }
        let none = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#),
            URL_SAFE_NO_PAD.encode("{}")
        );
        assert_eq!(jwt.verify(&none, 0), Err(JwtError::Algorithm));
        let crit = forge(r#"{"alg":"HS256","crit":["x"]}"#, "{}", b"secret");
        assert_eq!(jwt.verify(&crit, 0), Err(JwtError::Algorithm));
    }

    #[test]
    fn wrong_key_tampered_payload_and_garbage_are_refused() {
        let jwt = Jwt::hs256("secret");
        let other = forge(r#"{"alg":"HS256"}"#, r#"{"sub":"x"}"#, b"other");
        assert_eq!(jwt.verify(&other, 0), Err(JwtError::Signature));
        let token = jwt.sign(&json!({"sub": "ada"}));
        let mut parts: Vec<&str> = token.split('.').collect();
        let evil = URL_SAFE_NO_PAD.encode(r#"{"sub":"root"}"#);
        parts[1] = &evil;
        assert_eq!(jwt.verify(&parts.join("."), 0), Err(JwtError::Signature));
        for junk in ["", "a.b", "a.b.c.d", "!!.!!.!!", &"a".repeat(9000)] {
            assert_eq!(jwt.verify(junk, 0), Err(JwtError::Malformed), "{junk:.20}");
        }
    }
}
