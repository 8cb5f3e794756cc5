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
//! The lab ([`cli::KdcLab`]) runs three authority processes (`kdc-1..3`, [`authority`]) and a
//! service (`files`, [`service`]) under the supervisor. `kdc up` has the authorities run the
//! Pedersen DKG over their sockets (each persists only its own share) and enroll the demo
//! principals; the client ([`client`]) does the Kerberos-shaped exchanges:
//!
//! ```text
//! AS:  client --(proposed TGT, signed with its password-derived key)--> 2 authorities
//!      each checks the pre-authentication itself, then contributes a FROST share -> TGT
//! TGS: client --(TGT + authenticator signed by the TGT's key, proposed service ticket)-->
//!      each authority checks the TGT, the authenticator and the policy, then signs
//! AP:  client --(service ticket + GCM authenticator under the session key)--> service
//!      service checks signature, window, authenticator, skew, replay cache; proves itself
//!      back with the session key (mutual authentication)
//! ```
//!
//! Every ticket's signature is a plain RFC 8032 Ed25519 signature under the group key.
//!
//! # Why AES-256-GCM and not the seed's AES-256-CBC
//!
//! CBC is encryption without integrity: a ciphertext can be altered (bit flips in the previous
//! block flip the same bits of the plaintext) and, with a padding check, decrypted byte by byte
//! by a padding oracle (Vaudenay). Kerberos bolted an HMAC on top for that reason. GCM is an
//! AEAD: any alteration of the sealed session key, of an authenticator or of the service's
//! answer fails the tag check, so the service and the client refuse it instead of acting on
//! garbage. Every GCM key here is either used once (the sealed session key: a fresh X25519
//! ephemeral per ticket) or used with random 96-bit nonces (authenticators).
//!
//! # What one leaked authority gives away
//!
//! `kdc compromise N` hands the attacker exactly what authority N holds:
//! - its FROST share of the current epoch: below the threshold, it signs nothing alone, and
//!   the other two refuse to co-sign anything whose request they did not verify themselves;
//! - its principal database: each user's Ed25519 *verifier* and each service's X25519 public
//!   key, derived with argon2 from the passwords. No password and no secret key is stored: the
//!   attacker can try to guess passwords offline (argon2 makes each guess expensive) but cannot
//!   log in as anyone without a guess;
//! - no session key: the client draws each session key and seals it to the service's own key,
//!   so authorities only ever see the sealed form; TGT "session keys" are key pairs whose
//!   private half stays with the client.
//!
//! Two leaked shares of the same epoch are the whole key (`forge` succeeds: the boundary). A
//! `refresh` between two leaks makes the first one worthless.

pub mod ap_attack;
pub mod attack;
pub mod authority;
pub mod bench;
pub mod checks;
pub mod cli;
pub mod client;
pub mod config;
pub mod frost;
mod keygen;
pub mod net;
pub mod proto;
pub mod rcache;
pub mod seal;
pub mod service;
mod signer;
pub mod store;
