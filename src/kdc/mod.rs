//! The KDC triad: Kerberos-shaped tickets issued under a 2-of-3 threshold signature
//! (the portfolio's "Kerberos under partial compromise"), as wirelab implements it.
//!
//! What is here today is the protocol core the lab is built on, wirelab's own implementation
//! of FROST from RFC 9591 with the FROST(Ed25519, SHA-512) ciphersuite:
//! - [`frost`]: two-round threshold Schnorr signing whose aggregate is a plain RFC 8032
//!   Ed25519 signature, each signature share checked before aggregation (a bad share names
//!   its signer); a Pedersen distributed key generation with proofs of knowledge (no trusted
//!   dealer); proactive refresh of the shares under an unchanged group key; and the
//!   nonce-reuse attack, showing why a signer's nonces must be single-use. Tested against the
//!   RFC's vectors, ed25519-dalek's `verify_strict` and Python's `cryptography`.
//!
//! The lab itself (three authority processes, the ticket exchanges, the attacks and the
//! dashboard) is not built yet: `kdc` is not a registered lab, and the explorer says so.

pub mod frost;
