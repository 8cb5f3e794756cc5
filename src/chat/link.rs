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
//! A transport message carries one [`Wire`] JSON message, or several separated by `\n`
//! (compact JSON never holds a raw newline): the server seals what it has queued for one
//! member in a single AEAD operation ([`Channel::seal_batch`], at most [`MAX_BATCH`] bytes of
//! plaintext), and a receiver reads frames with [`Channel::open_all`]. One AEAD operation per
//! message was most of what the protocol cost over plain TCP in a fan-out. Clients send one
//! message per frame, and the server accepts nothing else ([`Channel::open`]).
//!
//! Rekey: a sender, after [`RekeyPolicy::every`] frames or [`RekeyPolicy::period`], sends
//! [`Wire::Rekey`] alone in a frame and then rekeys its sending key; the receiver, having
//! decrypted it, rekeys its receiving key (Noise §11.3 `Rekey()`). In plain mode (the bench's
//! baseline) the same frames carry the JSON in clear and no handshake happens.

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

/// Appends one frame holding the transport message sealing `payload`: the length prefix
/// first, then the ciphertext written in place after it.
fn seal_frame(ts: &mut TransportState, payload: &[u8], out: &mut Vec<u8>) -> std::io::Result<()> {
    let n = u16::try_from(payload.len() + super::noise::TAG_LEN).map_err(|_| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, "frame over 65535 bytes")
    })?;
    let start = out.len();
    out.extend_from_slice(&n.to_be_bytes());
    if let Err(e) = ts.write_message_into(payload, out) {
        out.truncate(start);
        return Err(std::io::Error::other(e));
    }
    Ok(())
}

/// Writes one frame.
pub async fn write_frame<W: AsyncWrite + Unpin>(w: &mut W, payload: &[u8]) -> std::io::Result<()> {
    let mut out = Vec::with_capacity(payload.len() + 2);
    encode_frame(payload, &mut out)?;
    w.write_all(&out).await
}

/// Most plaintext bytes [`Channel::seal_batch`] puts in one frame (a frame holds 65,535).
pub const MAX_BATCH: usize = 16 * 1024;

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

    /// [`Self::seal`] for a message already serialized (a fan-out serializes once): the frame
    /// is written straight into `out` (length, ciphertext, tag), without an allocation.
    pub fn seal_json(&mut self, json: &[u8], out: &mut Vec<u8>) -> std::io::Result<()> {
        let Some(ts) = self.ts.as_mut() else {
            return encode_frame(json, out);
        };
        seal_frame(ts, json, out)?;
        self.since += 1;
        let due = (self.policy.every > 0 && self.since >= self.policy.every)
            || (!self.policy.period.is_zero() && self.at.elapsed() >= self.policy.period);
        if due {
            seal_frame(ts, br#"{"t":"rekey"}"#, out)?;
            ts.rekey_outgoing().map_err(std::io::Error::other)?;
            self.since = 0;
            self.at = Instant::now();
            self.rekeys_out += 1;
        }
        Ok(())
    }

    /// Seals the messages of `jsons` (each one compact JSON) in as few frames as fit in
    /// [`MAX_BATCH`] bytes of plaintext each, `\n`-separated, into `out`; a rekey follows any
    /// frame after which one is due. Returns the frames written.
    pub fn seal_batch<'a>(
        &mut self,
        jsons: impl IntoIterator<Item = &'a [u8]>,
        plain: &mut Vec<u8>,
        out: &mut Vec<u8>,
    ) -> std::io::Result<u64> {
        plain.clear();
        let mut frames = 0;
        for j in jsons {
            if !plain.is_empty() && plain.len() + 1 + j.len() > MAX_BATCH {
                self.seal_json(plain, out)?;
                frames += 1;
                plain.clear();
            }
            if !plain.is_empty() {
                plain.push(b'\n');
            }
            plain.extend_from_slice(j);
        }
        if !plain.is_empty() {
            self.seal_json(plain, out)?;
            frames += 1;
        }
        Ok(frames)
    }

    /// Authenticates (in place: `frame` is overwritten) and decodes a frame of one or more
    /// `\n`-separated messages (what the server sends). A [`Wire::Rekey`] must be alone in
    /// its frame; it is applied here and yields no message.
    pub fn open_all(&mut self, frame: &mut [u8]) -> Result<Vec<Wire>, OpenError> {
        let len = match self.ts.as_mut() {
            Some(ts) => ts
                .read_message_in_place(frame)
                .map_err(|_| OpenError::Aead)?,
            None => frame.len(),
        };
        let mut msgs = Vec::new();
        for line in frame[..len].split(|b| *b == b'\n') {
            msgs.push(serde_json::from_slice::<Wire>(line).map_err(|_| OpenError::Protocol)?);
        }
        if msgs.contains(&Wire::Rekey) {
            if msgs.len() != 1 {
                return Err(OpenError::Protocol);
            }
            if let Some(ts) = self.ts.as_mut() {
                ts.rekey_incoming().map_err(|_| OpenError::Aead)?;
            }
            self.rekeys_in += 1;
            msgs.clear();
        }
        Ok(msgs)
    }

    /// Authenticates (in place: `frame` is overwritten) and decodes a frame of exactly one
    /// message (what a client sends); a [`Wire::Rekey`] is applied here and returned as `None`.
    pub fn open(&mut self, frame: &mut [u8]) -> Result<Option<Wire>, OpenError> {
        let len = match self.ts.as_mut() {
            Some(ts) => ts
                .read_message_in_place(frame)
                .map_err(|_| OpenError::Aead)?,
            None => frame.len(),
        };
        let msg: Wire = serde_json::from_slice(&frame[..len]).map_err(|_| OpenError::Protocol)?;
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
    fn a_batch_is_sealed_in_few_frames_and_opens_in_order_across_rekeys() {
        let (mut a, mut b) = pair();
        let msgs: Vec<Wire> = (0..2_000u64)
            .map(|k| Wire::Ack { cid: k, id: k * 7 })
            .collect();
        let jsons: Vec<Vec<u8>> = msgs
            .iter()
            .map(|m| serde_json::to_vec(m).unwrap())
            .collect();
        let (mut plain, mut out) = (Vec::new(), Vec::new());
        let n = a
            .seal_batch(jsons.iter().map(Vec::as_slice), &mut plain, &mut out)
            .unwrap();
        let fs = frames(&out);
        // ~60 KB of JSON in 16 KiB frames, each 3rd frame followed by a rekey frame.
        assert!((4..=6).contains(&n), "{n} frames");
        assert_eq!(fs.len() as u64, n + n / 3);
        let mut got = Vec::new();
        for f in &fs {
            assert!(f.len() <= MAX_BATCH + crate::chat::noise::TAG_LEN);
            got.extend(b.open_all(&mut f.clone()).unwrap());
        }
        assert_eq!(got, msgs);
        assert_eq!(b.rekeys_in, n / 3);
        // A single message still opens with `open` (what the server reads)…
        let mut one = Vec::new();
        a.seal_batch([&jsons[0][..]], &mut plain, &mut one).unwrap();
        assert_eq!(
            b.open(&mut frames(&one)[0].clone()),
            Ok(Some(msgs[0].clone()))
        );
        // …and two in one frame do not: a client sends one message per frame.
        let mut two = Vec::new();
        a.seal_batch([&jsons[1][..], &jsons[2][..]], &mut plain, &mut two)
            .unwrap();
        assert_eq!(
            b.open(&mut frames(&two)[0].clone()),
            Err(OpenError::Protocol)
        );
    }

    #[test]
    fn a_rekey_must_be_alone_in_its_frame_and_plain_mode_batches_too() {
        let (mut a, mut b) = pair();
        let mut out = Vec::new();
        a.seal_json(
            b"{\"t\":\"rekey\"}\n{\"t\":\"ack\",\"cid\":1,\"id\":1}",
            &mut out,
        )
        .unwrap();
        assert_eq!(
            b.open_all(&mut frames(&out)[0].clone()),
            Err(OpenError::Protocol)
        );
        let (mut p, mut q) = (
            Channel::new(
                None,
                RekeyPolicy {
                    every: 0,
                    period: Duration::ZERO,
                },
            ),
            Channel::new(
                None,
                RekeyPolicy {
                    every: 0,
                    period: Duration::ZERO,
                },
            ),
        );
        let (mut plain, mut out) = (Vec::new(), Vec::new());
        let j = serde_json::to_vec(&Wire::Ack { cid: 3, id: 4 }).unwrap();
        assert_eq!(
            p.seal_batch([&j[..], &j[..]], &mut plain, &mut out)
                .unwrap(),
            1
        );
        assert_eq!(
            q.open_all(&mut frames(&out)[0].clone()).unwrap(),
            vec![Wire::Ack { cid: 3, id: 4 }; 2]
        );
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
                .filter_map(|f| b.open(&mut f.clone()).unwrap())
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
                .filter_map(|f| b.open(&mut f.clone()).unwrap())
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
        assert_eq!(b.open(&mut f[1].clone()), Err(OpenError::Aead));
        let mut t = f[0].clone();
        t[3] ^= 1;
        assert_eq!(b.open(&mut t), Err(OpenError::Aead));
        assert!(b.open(&mut f[0].clone()).unwrap().is_some());
        assert_eq!(b.open(&mut f[0].clone()), Err(OpenError::Aead));
    }
}
