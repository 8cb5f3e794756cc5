//! The chat wire protocol on one TCP connection: u16-length-prefixed frames, the cleartext
//! name preamble, the `Noise_NNpsk0` handshake, then transport messages carrying [`Wire`]
//! JSON, with in-band rekeying.
//!
//! ```text
//! client                                   server
//!   frame(name)                       ──▶   look the name up (unknown/revoked: a throw-away PSK)
//!   frame(-> psk, e  [empty payload]) ──▶   read_message: fails unless the PSK matches
//!   frame(<- e, ee   [empty payload]) ◀──
//!   frame(AEAD(Hello{room, after}))   ──▶   the client is authenticated only now (live key)
//!   frame(AEAD(Msg | Ack | Rekey …))  ◀─▶
//! ```
//!
//! Rekey: a sender, after [`RekeyPolicy::every`] messages or [`RekeyPolicy::period`], sends
//! [`Wire::Rekey`] and then rekeys its sending key; the receiver, having decrypted it, rekeys
//! its receiving key (Noise §11.3 `Rekey()`). In plain mode (the bench's baseline) the same
//! frames carry the JSON in clear and no handshake happens.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::noise::{
    Builder, CHAT_PATTERN, MAX_CLIENT_NAME_LEN, MAX_MESSAGE_LEN, NoiseError, Psk, TransportState,
    chat_prologue,
};
use super::store::{Entry, valid_name};

/// Why a connection was refused or closed: the counted reasons.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Reason {
    /// A transport message failed authentication (tamper, drop, reorder, duplicate, replay,
    /// injection, garbage after the handshake).
    Aead,
    /// The handshake failed: wrong length, invalid point, wrong PSK, timeout, bad preamble.
    BadHandshake,
    /// The preamble named a client that is not enrolled.
    UnknownClient,
    /// The preamble named a revoked client.
    Revoked,
    /// An authenticated message that breaks the chat protocol.
    Protocol,
}

impl Reason {
    /// Every reason, in display order.
    pub const ALL: [Reason; 5] = [
        Reason::Aead,
        Reason::BadHandshake,
        Reason::UnknownClient,
        Reason::Revoked,
        Reason::Protocol,
    ];

    /// Its name in State events.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Aead => "aead",
            Reason::BadHandshake => "bad_handshake",
            Reason::UnknownClient => "unknown_client",
            Reason::Revoked => "revoked",
            Reason::Protocol => "protocol",
        }
    }
}

/// An application message inside a transport message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum Wire {
    /// Client → server, first message: join `room`, deliver every message after id `after`.
    Hello {
        /// The room.
        room: String,
        /// The last id the client has.
        after: u64,
    },
    /// Client → server: post a message (the client's sequence number `cid` de-duplicates
    /// retransmissions after a reconnect).
    Say {
        /// Client sequence number.
        cid: u64,
        /// µs since the epoch when first sent.
        sent_us: u64,
        /// The text.
        text: String,
    },
    /// Server → client: message `cid` is durable in the room log as `id`.
    Ack {
        /// Client sequence number.
        cid: u64,
        /// Its id in the room.
        id: u64,
    },
    /// Server → client: a room message.
    Msg(Entry),
    /// Either way: the sender rekeyed its sending key after this message.
    Rekey,
}

/// When a sender rekeys.
#[derive(Clone, Copy, Debug)]
pub struct RekeyPolicy {
    /// After this many messages (0: never by count).
    pub every: u64,
    /// After this long (zero: never by time).
    pub period: Duration,
}

/// Reads one u16-prefixed frame into `buf`; `Ok(false)` on a clean end of stream.
pub async fn read_frame<R: AsyncRead + Unpin>(
    r: &mut R,
    buf: &mut Vec<u8>,
) -> std::io::Result<bool> {
    let mut len = [0u8; 2];
    match r.read_exact(&mut len[..1]).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(false),
        Err(e) => return Err(e),
    }
    r.read_exact(&mut len[1..]).await?;
    let n = u16::from_be_bytes(len) as usize;
    buf.clear();
    buf.resize(n, 0);
    r.read_exact(buf).await?;
    Ok(true)
}

/// Appends a u16-prefixed frame to `out`; a payload over 65535 bytes is refused.
pub fn encode_frame(payload: &[u8], out: &mut Vec<u8>) -> std::io::Result<()> {
    let n = u16::try_from(payload.len()).map_err(|_| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, "frame over 65535 bytes")
    })?;
    out.extend_from_slice(&n.to_be_bytes());
    out.extend_from_slice(payload);
    Ok(())
}

/// Writes one frame.
pub async fn write_frame<W: AsyncWrite + Unpin>(w: &mut W, payload: &[u8]) -> std::io::Result<()> {
    let mut out = Vec::with_capacity(payload.len() + 2);
    encode_frame(payload, &mut out)?;
    w.write_all(&out).await
}

/// Why a message could not be opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenError {
    /// Authentication failed.
    Aead,
    /// Authenticated but not a valid [`Wire`] message (or plain-mode garbage).
    Protocol,
}

impl From<OpenError> for Reason {
    fn from(e: OpenError) -> Reason {
        match e {
            OpenError::Aead => Reason::Aead,
            OpenError::Protocol => Reason::Protocol,
        }
    }
}

/// One side's session crypto: the Noise transport state (or none, in plain mode) and the
/// rekey policy and counters.
pub struct Channel {
    ts: Option<TransportState>,
    policy: RekeyPolicy,
    since: u64,
    at: Instant,
    /// Rekeys of our sending key.
    pub rekeys_out: u64,
    /// Rekeys of our receiving key.
    pub rekeys_in: u64,
}

impl Channel {
    /// A channel over an established Noise session (`None`: plain mode).
    pub fn new(ts: Option<TransportState>, policy: RekeyPolicy) -> Channel {
        Channel {
            ts,
            policy,
            since: 0,
            at: Instant::now(),
            rekeys_out: 0,
            rekeys_in: 0,
        }
    }

    /// Encrypts `msg` and appends its frame to `out`, followed by a rekey when it is due.
    pub fn seal(&mut self, msg: &Wire, out: &mut Vec<u8>) -> std::io::Result<()> {
        let json = serde_json::to_vec(msg).map_err(std::io::Error::other)?;
        self.seal_json(&json, out)
    }

    /// [`Self::seal`] for a message already serialized (a fan-out serializes once).
    pub fn seal_json(&mut self, json: &[u8], out: &mut Vec<u8>) -> std::io::Result<()> {
        let Some(ts) = self.ts.as_mut() else {
            return encode_frame(json, out);
        };
        let ct = ts.write_message(json).map_err(std::io::Error::other)?;
        encode_frame(&ct, out)?;
        self.since += 1;
        let due = (self.policy.every > 0 && self.since >= self.policy.every)
            || (!self.policy.period.is_zero() && self.at.elapsed() >= self.policy.period);
        if due {
            let ct = ts
                .write_message(br#"{"t":"rekey"}"#)
                .map_err(std::io::Error::other)?;
            encode_frame(&ct, out)?;
            ts.rekey_outgoing().map_err(std::io::Error::other)?;
            self.since = 0;
            self.at = Instant::now();
            self.rekeys_out += 1;
        }
        Ok(())
    }

    /// Authenticates and decodes one frame; a [`Wire::Rekey`] is applied here and returned as
    /// `None`.
    pub fn open(&mut self, frame: &[u8]) -> Result<Option<Wire>, OpenError> {
        let plain;
        let bytes = match self.ts.as_mut() {
            Some(ts) => {
                plain = ts.read_message(frame).map_err(|_| OpenError::Aead)?;
                &plain[..]
            }
            None => frame,
        };
        let msg: Wire = serde_json::from_slice(bytes).map_err(|_| OpenError::Protocol)?;
        if msg == Wire::Rekey {
            if let Some(ts) = self.ts.as_mut() {
                ts.rekey_incoming().map_err(|_| OpenError::Aead)?;
            }
            self.rekeys_in += 1;
            return Ok(None);
        }
        Ok(Some(msg))
    }

    /// Whether this channel is encrypted.
    pub fn is_secure(&self) -> bool {
        self.ts.is_some()
    }
}

/// A failed client handshake.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    /// Socket trouble (including the server closing on us).
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The Noise layer refused a message.
    #[error("noise: {0}")]
    Noise(#[from] NoiseError),
}

/// Client side: preamble and handshake on `s`; returns the transport state (`psk` `None`:
/// plain mode, preamble only).
pub async fn client_handshake<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    name: &str,
    psk: Option<Psk>,
) -> Result<Option<TransportState>, HandshakeError> {
    write_frame(s, name.as_bytes()).await?;
    let Some(psk) = psk else { return Ok(None) };
    let mut hs = Builder::new(CHAT_PATTERN)
        .prologue(&chat_prologue(name)?)
        .psk(psk)
        .build_initiator()?;
    let m1 = hs.write_message(&[])?;
    write_frame(s, &m1).await?;
    let mut buf = Vec::new();
    if !read_frame(s, &mut buf).await? {
        return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof).into());
    }
    hs.read_message(&buf)?;
    Ok(Some(hs.into_transport()?))
}

/// Server side, step 1: reads the preamble; `Err(BadHandshake)` for anything but a valid name.
pub async fn read_preamble<R: AsyncRead + Unpin>(r: &mut R) -> Result<String, Reason> {
    let mut buf = Vec::new();
    match read_frame(r, &mut buf).await {
        Ok(true) if buf.len() <= MAX_CLIENT_NAME_LEN => {}
        _ => return Err(Reason::BadHandshake),
    }
    match String::from_utf8(buf) {
        Ok(name) if valid_name(&name) => Ok(name),
        _ => Err(Reason::BadHandshake),
    }
}

/// Server side, step 2: runs the responder handshake for `name` with `psk` (a throw-away one
/// for unknown or revoked names, `refusal` saying which) and returns the transport state.
/// The first handshake payload must be empty (it is not forward secret).
pub async fn server_handshake<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    name: &str,
    psk: Psk,
    refusal: Option<Reason>,
) -> Result<TransportState, Reason> {
    let fail = refusal.unwrap_or(Reason::BadHandshake);
    let prologue = chat_prologue(name).map_err(|_| Reason::BadHandshake)?;
    let mut hs = Builder::new(CHAT_PATTERN)
        .prologue(&prologue)
        .psk(psk)
        .build_responder()
        .map_err(|_| Reason::BadHandshake)?;
    let mut buf = Vec::new();
    match read_frame(s, &mut buf).await {
        Ok(true) => {}
        _ => return Err(fail),
    }
    match hs.read_message(&buf) {
        Ok(p) if p.is_empty() => {}
        _ => return Err(fail),
    }
    // A refused name cannot get here (its message 1 fails), but never answer one.
    if let Some(r) = refusal {
        return Err(r);
    }
    let m2 = hs.write_message(&[]).map_err(|_| Reason::BadHandshake)?;
    write_frame(s, &m2)
        .await
        .map_err(|_| Reason::BadHandshake)?;
    hs.into_transport().map_err(|_| Reason::BadHandshake)
}

/// The largest frame a peer may send: a Noise message.
pub const MAX_FRAME: usize = MAX_MESSAGE_LEN;

/// Microseconds since the Unix epoch.
pub fn now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> (Channel, Channel) {
        let psk = Psk::generate();
        let p = chat_prologue("c1").unwrap();
        let mut i = Builder::new(CHAT_PATTERN)
            .prologue(&p)
            .psk(psk.clone())
            .build_initiator()
            .unwrap();
        let mut r = Builder::new(CHAT_PATTERN)
            .prologue(&p)
            .psk(psk)
            .build_responder()
            .unwrap();
        let m1 = i.write_message(&[]).unwrap();
        r.read_message(&m1).unwrap();
        let m2 = r.write_message(&[]).unwrap();
        i.read_message(&m2).unwrap();
        let policy = RekeyPolicy {
            every: 3,
            period: Duration::ZERO,
        };
        (
            Channel::new(Some(i.into_transport().unwrap()), policy),
            Channel::new(Some(r.into_transport().unwrap()), policy),
        )
    }

    fn frames(buf: &[u8]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut rest = buf;
        while rest.len() >= 2 {
            let n = u16::from_be_bytes([rest[0], rest[1]]) as usize;
            out.push(rest[2..2 + n].to_vec());
            rest = &rest[2 + n..];
        }
        out
    }

    #[test]
    fn channel_rekeys_in_band_and_keeps_working() {
        let (mut a, mut b) = pair();
        for k in 0..10u64 {
            let mut out = Vec::new();
            let msg = Wire::Ack { cid: k, id: k };
            a.seal(&msg, &mut out).unwrap();
            let got: Vec<_> = frames(&out)
                .iter()
                .filter_map(|f| b.open(f).unwrap())
                .collect();
            assert_eq!(got, vec![msg]);
        }
        assert_eq!(a.rekeys_out, 3);
        assert_eq!(b.rekeys_in, 3);
    }

    #[test]
    fn channel_rekeys_after_its_period_too() {
        let (mut a, mut b) = pair();
        let policy = RekeyPolicy {
            every: 0,
            period: Duration::from_nanos(1),
        };
        (a.policy, b.policy) = (policy, policy);
        for k in 0..3u64 {
            let mut out = Vec::new();
            a.seal(&Wire::Ack { cid: k, id: k }, &mut out).unwrap();
            std::thread::sleep(Duration::from_millis(1));
            let n = frames(&out)
                .iter()
                .filter_map(|f| b.open(f).unwrap())
                .count();
            assert_eq!(n, 1);
        }
        assert_eq!((a.rekeys_out, b.rekeys_in), (3, 3));
    }

    #[test]
    fn channel_rejects_tampered_duplicated_and_reordered_frames() {
        let (mut a, mut b) = pair();
        let mut out = Vec::new();
        a.seal(&Wire::Ack { cid: 1, id: 1 }, &mut out).unwrap();
        a.seal(&Wire::Ack { cid: 2, id: 2 }, &mut out).unwrap();
        let f = frames(&out);
        assert_eq!(b.open(&f[1]), Err(OpenError::Aead));
        let mut t = f[0].clone();
        t[3] ^= 1;
        assert_eq!(b.open(&t), Err(OpenError::Aead));
        assert!(b.open(&f[0]).unwrap().is_some());
        assert_eq!(b.open(&f[0]), Err(OpenError::Aead));
    }
}
