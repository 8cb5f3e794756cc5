//! The KDC's wire and ticket formats: tickets (the bytes the group signs), the sealed session
//! key, AP authenticators, and the JSON messages exchanged in bounded frames.
//!
//! # Ticket encoding (all integers big-endian)
//!
//! ```text
//! "WLKDC1" | kind u8 (1 TGT, 2 service ticket) | client: u8 len + ASCII | service: u8 len +
//! ASCII | start u64 (unix seconds) | end u64 | nonce [16] | key: u16 len + bytes
//! ```
//!
//! `key` is, in a TGT, the client's ephemeral Ed25519 public key (32 bytes: the TGT's
//! "session key" is a key pair whose private half never leaves the client); in a service
//! ticket, `recipient (32) | ephemeral X25519 (32) | AES-256-GCM(session key) (48)`: the
//! session key sealed to the service's own X25519 key, so no authority ever sees it.
//! Decoding is strict: names are 1..=32 bytes of `[a-z0-9-]`, no trailing bytes.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use serde::{Deserialize, Serialize};

/// The magic of a ticket encoding.
pub const TICKET_MAGIC: &[u8; 6] = b"WLKDC1";
/// Largest frame any KDC process accepts.
pub const MAX_FRAME: usize = 64 * 1024;
/// Allowed clock skew on timestamps (Kerberos' default: five minutes).
pub const MAX_SKEW_SECS: u64 = 300;
/// The service name of the ticket-granting service.
pub const TGS_NAME: &str = "krbtgt";
/// Length of a sealed session key in a service ticket's key field.
pub const SEALED_LEN: usize = 32 + 32 + 48;

/// Which kind of ticket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TicketKind {
    /// Ticket-granting ticket (AS exchange).
    Tgt,
    /// Service ticket (TGS exchange).
    Service,
}

/// A ticket, decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ticket {
    /// TGT or service ticket.
    pub kind: TicketKind,
    /// The client principal.
    pub client: String,
    /// The service principal (`krbtgt` for a TGT).
    pub service: String,
    /// Start of validity, unix seconds.
    pub start: u64,
    /// End of validity, unix seconds.
    pub end: u64,
    /// Random, so two tickets never sign the same bytes.
    pub nonce: [u8; 16],
    /// TGT: the client's ephemeral public key; service ticket: the sealed session key.
    pub key: Vec<u8>,
}

/// Why bytes are not a ticket.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("malformed ticket: {0}")]
pub struct MalformedTicket(pub &'static str);

/// Whether `name` is a valid principal name.
pub fn valid_name(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

impl Ticket {
    /// The canonical encoding (what the group signs).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.key.len());
        out.extend_from_slice(TICKET_MAGIC);
        out.push(match self.kind {
            TicketKind::Tgt => 1,
            TicketKind::Service => 2,
        });
        for name in [&self.client, &self.service] {
            out.push(name.len() as u8);
            out.extend_from_slice(name.as_bytes());
        }
        out.extend_from_slice(&self.start.to_be_bytes());
        out.extend_from_slice(&self.end.to_be_bytes());
        out.extend_from_slice(&self.nonce);
        out.extend_from_slice(&(self.key.len() as u16).to_be_bytes());
        out.extend_from_slice(&self.key);
        out
    }

    /// Strict decoding.
    pub fn decode(bytes: &[u8]) -> Result<Ticket, MalformedTicket> {
        let mut r = Reader(bytes);
        if r.take(6)? != TICKET_MAGIC {
            return Err(MalformedTicket("bad magic"));
        }
        let kind = match r.take(1)?[0] {
            1 => TicketKind::Tgt,
            2 => TicketKind::Service,
            _ => return Err(MalformedTicket("unknown kind")),
        };
        let client = r.name()?;
        let service = r.name()?;
        let start = r.u64()?;
        let end = r.u64()?;
        let nonce: [u8; 16] = r
            .take(16)?
            .try_into()
            .map_err(|_| MalformedTicket("nonce"))?;
        let klen = u16::from_be_bytes([r.take(1)?[0], r.take(1)?[0]]) as usize;
        let key = r.take(klen)?.to_vec();
        if !r.0.is_empty() {
            return Err(MalformedTicket("trailing bytes"));
        }
        let want = match kind {
            TicketKind::Tgt => 32,
            TicketKind::Service => SEALED_LEN,
        };
        if key.len() != want {
            return Err(MalformedTicket("key field of the wrong length"));
        }
        if end <= start {
            return Err(MalformedTicket("empty validity window"));
        }
        Ok(Ticket {
            kind,
            client,
            service,
            start,
            end,
            nonce,
            key,
        })
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], MalformedTicket> {
        if self.0.len() < n {
            return Err(MalformedTicket("truncated"));
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    fn u64(&mut self) -> Result<u64, MalformedTicket> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_be_bytes(a))
    }
    fn name(&mut self) -> Result<String, MalformedTicket> {
        let n = self.take(1)?[0] as usize;
        let b = self.take(n)?;
        let s = std::str::from_utf8(b).map_err(|_| MalformedTicket("name is not ASCII"))?;
        if !valid_name(s) {
            return Err(MalformedTicket("invalid principal name"));
        }
        Ok(s.to_string())
    }
}

/// Seconds since the Unix epoch.
pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Milliseconds since the Unix epoch.
pub fn now_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

pub use super::seal::{Sealer, open_session_key, seal_session_key};

/// AES-256-GCM under a session key: `nonce (12) | ciphertext+tag`.
pub fn gcm_seal(key: &[u8; 32], aad: &[u8], msg: &[u8]) -> Vec<u8> {
    let cipher = Aes256Gcm::new_from_slice(key).expect("32-byte key");
    let nonce: [u8; 12] = rand::random();
    let ct = cipher
        .encrypt(Nonce::from_slice(&nonce), Payload { msg, aad })
        .unwrap_or_default();
    let mut out = nonce.to_vec();
    out.extend_from_slice(&ct);
    out
}

/// Opens [`gcm_seal`]'s output; `None` when altered or under another key.
pub fn gcm_open(key: &[u8; 32], aad: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
    if sealed.len() < 12 + 16 {
        return None;
    }
    let cipher = Aes256Gcm::new_from_slice(key).ok()?;
    cipher
        .decrypt(
            Nonce::from_slice(&sealed[..12]),
            Payload {
                msg: &sealed[12..],
                aad,
            },
        )
        .ok()
}

/// Domain separation of the client's signatures.
pub const AS_PREAUTH_CONTEXT: &[u8] = b"wirelab-kdc as-req v1";
/// Domain separation of TGS authenticators.
pub const TGS_AUTH_CONTEXT: &[u8] = b"wirelab-kdc tgs-req v1";
/// AAD of AP authenticators.
pub const AP_REQ_AAD: &[u8] = b"wirelab-kdc ap-req v1";
/// AAD of AP replies (mutual authentication).
pub const AP_REP_AAD: &[u8] = b"wirelab-kdc ap-rep v1";

/// What the client asks the group to sign, with its proof of identity. Each authority checks
/// it itself before it contributes a share.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "exchange", rename_all = "snake_case")]
pub enum IssueRequest {
    /// AS exchange: the client signs the proposed TGT with its long-term key (pre-auth).
    As {
        /// Hex Ed25519 signature over `AS_PREAUTH_CONTEXT | ticket`.
        preauth: String,
    },
    /// TGS exchange: a TGT and an authenticator signed by the TGT's ephemeral key.
    Tgs {
        /// Hex of the TGT's bytes.
        tgt: String,
        /// Hex of the group's signature on them.
        tgt_signature: String,
        /// Hex Ed25519 signature by the TGT key over `TGS_AUTH_CONTEXT | ticket`.
        authenticator: String,
    },
}

/// Client (or peer) → authority.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// The authority's public view: id, epoch, group key, verifying shares, principals.
    Info,
    /// Round one: fresh nonces, returns their commitments under a session number.
    Commit,
    /// Round one ahead of time (FROST's preprocessing stage): `count` fresh nonce pairs
    /// (at most [`MAX_COMMIT_BATCH`]), their commitments under session numbers. Each pair
    /// still signs at most once; an authority keeps them in memory only, so a restart discards
    /// them and a later sign request naming one is refused with [`STALE_SESSION`].
    CommitBatch {
        /// How many.
        count: u32,
    },
    /// Round two: check `request` against the ticket in `package`, then sign.
    Sign {
        /// The session number of [`Request::Commit`].
        session: u64,
        /// Hex of the encoded FROST signing package (commitments + ticket bytes).
        package: String,
        /// The exchange the ticket answers.
        request: IssueRequest,
    },
    /// The bench's baseline: the same checks, then a single-key Ed25519 signature.
    SingleSign {
        /// Hex of the ticket bytes.
        ticket: String,
        /// The exchange.
        request: IssueRequest,
    },
    /// Lab: the attacker takes this authority (its share, its database; it signs garbage).
    Leak {
        /// The run's lab token.
        token: String,
    },
    /// Lab: proactive refresh to `epoch` (every authority gets the same request).
    Refresh {
        /// The epoch after the refresh.
        epoch: u64,
        /// The run's lab token.
        token: String,
    },
    /// Lab: make this signer reuse one nonce pair (the nonce-reuse attack) or stop doing so.
    BrokenNonces {
        /// On or off.
        on: bool,
        /// The run's lab token.
        token: String,
    },
    /// Coordinator → the honest signers of a round: the share of `culprit` failed its
    /// verifying-share check (for the authorities' state; unauthenticated, shown as reported).
    Culprit {
        /// The round, as this authority numbered it.
        session: u64,
        /// The authority whose share was rejected.
        culprit: u64,
    },
    /// Coordinator → the signers of a round, once the ticket is signed: the aggregate
    /// verified under the group key, with the signers whose shares made it and any whose share
    /// was rejected (for the authorities' state and the dashboard; unauthenticated, shown as
    /// reported).
    Outcome {
        /// The round's id ([`round_id`] of the ticket bytes).
        round: String,
        /// The authorities whose shares made the signature.
        signers: Vec<u64>,
        /// Authorities whose shares were rejected on the way.
        rejected: Vec<u64>,
    },
    /// Authority → authority (DKG and refresh rounds).
    Peer {
        /// Sender id.
        from: u64,
        /// The message.
        msg: PeerMsg,
        /// The run's lab token (shared by the authorities of one run).
        token: String,
    },
}

impl Request {
    /// The lab token a lab action or peer message must carry (`None`: an ordinary request).
    ///
    /// The token is drawn at `kdc up`, kept in the run dir (0600) and handed to the nodes, so
    /// only the operator of the run (and the authorities themselves) can compromise an
    /// authority, switch on its nonce-reuse bug, refresh, or speak in its DKG.
    pub fn lab_token(&self) -> Option<&str> {
        match self {
            Request::Leak { token }
            | Request::Refresh { token, .. }
            | Request::BrokenNonces { token, .. }
            | Request::Peer { token, .. } => Some(token),
            _ => None,
        }
    }
}

/// Authority ↔ authority messages.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PeerMsg {
    /// DKG round one (broadcast): hex of `Round1Package`.
    Dkg1 {
        /// Hex.
        package: String,
    },
    /// DKG round two (private): hex of the share dealt to the receiver.
    Dkg2 {
        /// Hex.
        share: String,
    },
    /// Refresh: the sender's commitment and the receiver's share of its sharing of zero.
    Refresh {
        /// The epoch it moves to.
        epoch: u64,
        /// Hex of `RefreshCommitment`.
        commitment: String,
        /// Hex of `RefreshShare`.
        share: String,
    },
}

/// A principal as the authorities publish it (no secret).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct PrincipalInfo {
    /// Name.
    pub name: String,
    /// `user` or `service`.
    pub kind: String,
    /// Hex public key: Ed25519 for users, X25519 for services.
    pub public: String,
}

/// Authority → client.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Response {
    /// Answer to [`Request::Info`].
    Info {
        /// Authority id.
        id: u64,
        /// Share epoch (0 after the DKG).
        epoch: u64,
        /// Hex group key.
        group_key: String,
        /// Hex verifying share by authority id (pairs: internally tagged enums cannot carry
        /// integer map keys through serde).
        verifying_shares: Vec<(u64, String)>,
        /// Enrolled principals.
        principals: Vec<PrincipalInfo>,
        /// Hex of the single-key baseline's public key (bench).
        single_key: String,
    },
    /// Round-one commitments.
    Committed {
        /// Session number to quote in round two.
        session: u64,
        /// Hex of `SigningCommitments`.
        commitments: String,
    },
    /// Preprocessed round-one commitments.
    CommittedBatch {
        /// `(session, hex of SigningCommitments)` each.
        batch: Vec<(u64, String)>,
    },
    /// A signature share.
    Share {
        /// Hex of `SignatureShare`.
        share: String,
    },
    /// A single-key signature (bench baseline).
    Signed {
        /// Hex.
        signature: String,
    },
    /// What a compromise hands the attacker.
    Leaked {
        /// Authority id.
        id: u64,
        /// Epoch of the share.
        epoch: u64,
        /// Hex of the secret share.
        share: String,
        /// Hex group key.
        group_key: String,
        /// Hex verifying shares by authority id.
        verifying_shares: Vec<(u64, String)>,
        /// The principal database.
        principals: Vec<PrincipalInfo>,
    },
    /// Done.
    Ok {
        /// What happened.
        detail: String,
    },
    /// Refused, with the reason.
    Refused {
        /// Why.
        reason: String,
    },
}

/// Service request: the AP exchange.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ApRequest {
    /// Hex ticket bytes.
    pub ticket: String,
    /// Hex group signature.
    pub signature: String,
    /// Hex `gcm_seal(session key, AP_REQ_AAD, authenticator JSON)`.
    pub authenticator: String,
}

/// What the AP authenticator holds (JSON inside GCM).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ApAuthenticator {
    /// The client it claims to be.
    pub client: String,
    /// Client's clock, unix milliseconds.
    pub time_ms: u64,
}

/// Service answer.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum ApResponse {
    /// Accepted: who the service says you are, and the mutual authentication proof.
    Accepted {
        /// "alice".
        you_are: String,
        /// Hex `gcm_seal(session key, AP_REP_AAD, time_ms as 8 bytes BE)`.
        proof: String,
    },
    /// Refused, with the reason.
    Refused {
        /// Why.
        reason: String,
    },
}

/// Most preprocessed commitments one [`Request::CommitBatch`] returns.
pub const MAX_COMMIT_BATCH: u32 = 256;

/// The start of an authority's refusal of a session it does not hold (already used, dropped,
/// or from before a restart): the coordinator then discards its preprocessed commitments of
/// that authority and tries again.
pub const STALE_SESSION: &str = "unknown or already used session";

/// A signing round's short id: the first 4 bytes of SHA-256 of the ticket bytes, in hex. Every
/// party of the round computes the same one.
pub fn round_id(ticket: &[u8]) -> String {
    use sha2::Digest;
    hex(&sha2::Sha256::digest(ticket)[..4])
}

/// Decodes exactly `N` bytes of hex.
pub fn hex_array<const N: usize>(s: &str, what: &str) -> Result<[u8; N], String> {
    let v = hex_vec(s, what, N)?;
    v.try_into()
        .map_err(|_| format!("{what}: expected {N} bytes"))
}

/// Decodes hex of at most `max` bytes.
pub fn hex_vec(s: &str, what: &str, max: usize) -> Result<Vec<u8>, String> {
    if !s.len().is_multiple_of(2) || s.len() / 2 > max {
        return Err(format!("{what}: bad hex length"));
    }
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    s.as_bytes()
        .chunks_exact(2)
        .map(|p| {
            nibble(p[0])
                .zip(nibble(p[1]))
                .map(|(h, l)| h << 4 | l)
                .ok_or_else(|| format!("{what}: not hex"))
        })
        .collect()
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Ticket {
        Ticket {
            kind: TicketKind::Tgt,
            client: "alice".into(),
            service: TGS_NAME.into(),
            start: 100,
            end: 200,
            nonce: [7; 16],
            key: vec![1; 32],
        }
    }

    #[test]
    fn tickets_round_trip_and_reject_every_truncation_and_trailer() {
        let t = sample();
        let bytes = t.encode();
        assert_eq!(Ticket::decode(&bytes).unwrap(), t);
        for n in 0..bytes.len() {
            assert!(Ticket::decode(&bytes[..n]).is_err());
        }
        let mut long = bytes.clone();
        long.push(0);
        assert_eq!(
            Ticket::decode(&long),
            Err(MalformedTicket("trailing bytes"))
        );
        let mut bad = bytes;
        bad[7] = 200; // client name length
        assert!(Ticket::decode(&bad).is_err());
    }

    #[test]
    fn hex_decoding_is_bounded_and_strict() {
        assert!(hex_vec("zz", "x", 4).is_err());
        assert!(hex_vec("abc", "x", 4).is_err());
        assert!(hex_vec(&"00".repeat(5), "x", 4).is_err());
        assert_eq!(hex_array::<2>("0aff", "x").unwrap(), [10, 255]);
    }
}
