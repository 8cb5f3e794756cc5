//! The Raft node's binary protocol, carried in [`crate::wire`] frames.
//!
//! Every TCP connection opens with a hello frame: `[1][u64 node id]` from a peer, `[2]` from a
//! client. Peers then send [`Message`] frames one way; clients send [`Request`] frames and read
//! [`Response`] frames, matched by `id` (requests may be pipelined).
//!
//! Integers are big-endian; byte strings are u32-length-prefixed (see [`crate::wire::codec`]).
//! Decoding rejects unknown tags, short payloads and trailing bytes with an error.
//!
//! A peer message too large for one frame (an InstallSnapshot of a state over
//! [`FRAGMENT_BYTES`]) travels as several frames `[FRAGMENT_TAG][more: 0|1][piece]`, which the
//! receiver puts back together with a [`Reassembly`], up to [`MAX_PEER_MESSAGE`] bytes.

use std::sync::Arc;

use super::message::{Entry, EntryKind, Message, Snapshot, SnapshotMeta};
use crate::wire::{DecodeError, Decoder, Encoder};

/// Who opened a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hello {
    /// A peer node.
    Peer(u64),
    /// A client.
    Client,
}

/// Encodes a hello frame payload.
pub fn encode_hello(h: Hello) -> Vec<u8> {
    let mut e = Encoder::new();
    match h {
        Hello::Peer(id) => e.u8(1).u64(id),
        Hello::Client => e.u8(2),
    };
    e.finish()
}

/// Decodes a hello frame payload.
pub fn decode_hello(buf: &[u8]) -> Result<Hello, DecodeError> {
    let mut d = Decoder::new(buf);
    let h = match d.u8("hello tag")? {
        1 => Hello::Peer(d.u64("peer id")?),
        2 => Hello::Client,
        t => {
            return Err(DecodeError::Invalid {
                what: "hello tag",
                value: t as u64,
            });
        }
    };
    d.finish()?;
    Ok(h)
}

fn put_entry(e: &mut Encoder, entry: &Entry) {
    e.u64(entry.term).u64(entry.index);
    e.u8(match entry.kind {
        EntryKind::Normal => 0,
        EntryKind::Noop => 1,
    });
    e.bytes(&entry.data);
}

fn get_entry(d: &mut Decoder<'_>) -> Result<Entry, DecodeError> {
    let term = d.u64("entry term")?;
    let index = d.u64("entry index")?;
    let kind = match d.u8("entry kind")? {
        0 => EntryKind::Normal,
        1 => EntryKind::Noop,
        k => {
            return Err(DecodeError::Invalid {
                what: "entry kind",
                value: k as u64,
            });
        }
    };
    Ok(Entry {
        term,
        index,
        kind,
        data: d.bytes("entry data")?.to_vec(),
    })
}

/// Encodes a peer message into `out` (cleared first).
pub fn encode_message(msg: &Message, out: Vec<u8>) -> Vec<u8> {
    let mut e = Encoder::reuse(out);
    match msg {
        Message::PreVote {
            term,
            last_index,
            last_term,
        } => {
            e.u8(1).u64(*term).u64(*last_index).u64(*last_term);
        }
        Message::PreVoteResp { term, granted } => {
            e.u8(2).u64(*term).bool(*granted);
        }
        Message::Vote {
            term,
            last_index,
            last_term,
        } => {
            e.u8(3).u64(*term).u64(*last_index).u64(*last_term);
        }
        Message::VoteResp { term, granted } => {
            e.u8(4).u64(*term).bool(*granted);
        }
        Message::Append {
            term,
            prev_index,
            prev_term,
            entries,
            commit,
            ctx,
        } => {
            e.u8(5)
                .u64(*term)
                .u64(*prev_index)
                .u64(*prev_term)
                .u64(*commit)
                .u64(*ctx)
                .u32(entries.len() as u32);
            for entry in entries {
                put_entry(&mut e, entry);
            }
        }
        Message::AppendResp {
            term,
            success,
            index,
            reject_hint,
            ctx,
        } => {
            e.u8(6)
                .u64(*term)
                .bool(*success)
                .u64(*index)
                .u64(*reject_hint)
                .u64(*ctx);
        }
        Message::InstallSnapshot { term, snapshot } => {
            e.u8(7)
                .u64(*term)
                .u64(snapshot.meta.last_index)
                .u64(snapshot.meta.last_term)
                .bytes(&snapshot.data);
        }
        Message::InstallSnapshotResp { term, last_index } => {
            e.u8(8).u64(*term).u64(*last_index);
        }
    }
    e.finish()
}

/// First byte of a frame that carries a piece of a peer message too large for one frame. No
/// message tag is this high.
pub const FRAGMENT_TAG: u8 = 0xF0;

/// Peer messages over this many bytes travel in pieces of this size: half the peer frame
/// limit, like an AppendEntries batch, so a piece always fits a frame with room to spare.
pub const FRAGMENT_BYTES: usize = crate::wire::frame::MAX_FRAME / 2;

/// The largest peer message put back together from pieces: a snapshot of up to 1 GiB of
/// state. Pieces come only from authenticated members (mutual TLS), and a state that large
/// is past what this in-memory store is for; a follower that would need more says so in its
/// log instead of growing without bound.
pub const MAX_PEER_MESSAGE: usize = 1 << 30;

/// Appends the frames for an encoded peer message to `out`: one frame, or pieces of
/// [`FRAGMENT_BYTES`] when it is larger.
pub fn encode_peer_frames(message: &[u8], out: &mut Vec<u8>) {
    if message.len() <= FRAGMENT_BYTES {
        crate::wire::frame::encode_frame(message, out);
        return;
    }
    let mut pieces = message.chunks(FRAGMENT_BYTES).peekable();
    while let Some(piece) = pieces.next() {
        let more = u8::from(pieces.peek().is_some());
        out.extend_from_slice(&((piece.len() + 2) as u32).to_be_bytes());
        out.extend_from_slice(&[FRAGMENT_TAG, more]);
        out.extend_from_slice(piece);
    }
}

/// Puts a peer message sent in pieces back together (one per connection).
#[derive(Debug, Default)]
pub struct Reassembly {
    buf: Vec<u8>,
    /// A piece of the current message was dropped (a fault rule): drop the rest of it too.
    skipping: bool,
}

/// What a frame added to a [`Reassembly`] gave.
#[derive(Debug, PartialEq, Eq)]
pub enum Assembled {
    /// The frame is a whole message: decode the frame itself.
    Whole,
    /// A piece; more are to come.
    Partial,
    /// The last piece: the message is complete (decode [`Reassembly::message`]).
    Complete,
    /// A piece of a message whose earlier piece was dropped: nothing to decode.
    Skipped,
}

impl Reassembly {
    /// Adds one received frame.
    pub fn push(&mut self, frame: &[u8]) -> Result<Assembled, DecodeError> {
        let [FRAGMENT_TAG, more, piece @ ..] = frame else {
            if !self.buf.is_empty() {
                // A whole message in the middle of a fragmented one: the sender never does that.
                return Err(DecodeError::Invalid {
                    what: "frame between the pieces of a message",
                    value: u64::from(frame.first().copied().unwrap_or(0)),
                });
            }
            return Ok(Assembled::Whole);
        };
        if *more > 1 {
            return Err(DecodeError::Invalid {
                what: "piece flag",
                value: u64::from(*more),
            });
        }
        let last = *more == 0;
        if self.skipping {
            self.skipping = !last;
            return Ok(Assembled::Skipped);
        }
        if self.buf.len() + piece.len() > MAX_PEER_MESSAGE {
            let had = self.buf.len() + piece.len();
            self.clear();
            return Err(DecodeError::Invalid {
                what: "peer message size (the limit is 1 GiB)",
                value: had as u64,
            });
        }
        self.buf.extend_from_slice(piece);
        Ok(if last {
            Assembled::Complete
        } else {
            Assembled::Partial
        })
    }

    /// A received frame that a fault rule drops: if it is a piece, the rest of its message is
    /// dropped as well.
    pub fn drop_frame(&mut self, frame: &[u8]) {
        if let [FRAGMENT_TAG, more, ..] = frame {
            self.clear();
            self.skipping = *more == 1;
        }
    }

    /// The message the last piece completed.
    pub fn message(&self) -> &[u8] {
        &self.buf
    }

    /// Forgets the message put together so far and gives its memory back.
    pub fn clear(&mut self) {
        self.buf = Vec::new();
    }
}

/// Decodes a peer message.
pub fn decode_message(buf: &[u8]) -> Result<Message, DecodeError> {
    let mut d = Decoder::new(buf);
    let msg = match d.u8("message tag")? {
        1 => Message::PreVote {
            term: d.u64("term")?,
            last_index: d.u64("last index")?,
            last_term: d.u64("last term")?,
        },
        2 => Message::PreVoteResp {
            term: d.u64("term")?,
            granted: d.bool("granted")?,
        },
        3 => Message::Vote {
            term: d.u64("term")?,
            last_index: d.u64("last index")?,
            last_term: d.u64("last term")?,
        },
        4 => Message::VoteResp {
            term: d.u64("term")?,
            granted: d.bool("granted")?,
        },
        5 => {
            let term = d.u64("term")?;
            let prev_index = d.u64("prev index")?;
            let prev_term = d.u64("prev term")?;
            let commit = d.u64("commit")?;
            let ctx = d.u64("ctx")?;
            let n = d.u32("entry count")? as usize;
            // Each entry takes at least 21 bytes: a count larger than that is a lie, and must
            // not become an allocation.
            if n > d.remaining() / 21 {
                return Err(DecodeError::Invalid {
                    what: "entry count",
                    value: n as u64,
                });
            }
            let mut entries = Vec::with_capacity(n);
            for _ in 0..n {
                entries.push(get_entry(&mut d)?);
            }
            Message::Append {
                term,
                prev_index,
                prev_term,
                entries,
                commit,
                ctx,
            }
        }
        6 => Message::AppendResp {
            term: d.u64("term")?,
            success: d.bool("success")?,
            index: d.u64("index")?,
            reject_hint: d.u64("reject hint")?,
            ctx: d.u64("ctx")?,
        },
        7 => {
            let term = d.u64("term")?;
            let last_index = d.u64("snapshot index")?;
            let last_term = d.u64("snapshot term")?;
            let data = d.bytes("snapshot data")?.to_vec();
            Message::InstallSnapshot {
                term,
                snapshot: Snapshot {
                    meta: SnapshotMeta {
                        last_index,
                        last_term,
                    },
                    data: Arc::new(data),
                },
            }
        }
        8 => Message::InstallSnapshotResp {
            term: d.u64("term")?,
            last_index: d.u64("last index")?,
        },
        t => {
            return Err(DecodeError::Invalid {
                what: "message tag",
                value: t as u64,
            });
        }
    };
    d.finish()?;
    Ok(msg)
}

/// A key-value operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// Read a key (linearizable, through ReadIndex).
    Get {
        /// Key.
        key: String,
    },
    /// Set a key.
    Put {
        /// Key.
        key: String,
        /// Value.
        value: Vec<u8>,
    },
    /// Remove a key.
    Del {
        /// Key.
        key: String,
    },
    /// Set `key` to `new` only if it currently holds `expected`.
    Cas {
        /// Key.
        key: String,
        /// The value it must hold.
        expected: Vec<u8>,
        /// The value to store.
        new: Vec<u8>,
    },
}

impl Op {
    /// Whether the op changes state (goes through the log).
    pub fn is_write(&self) -> bool {
        !matches!(self, Op::Get { .. })
    }

    /// The key it touches.
    pub fn key(&self) -> &str {
        match self {
            Op::Get { key } | Op::Put { key, .. } | Op::Del { key } | Op::Cas { key, .. } => key,
        }
    }
}

/// A client request. Writes carry `(client, seq)`: the state machine applies each pair once,
/// so a request retried after a failover cannot be applied twice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// Matches the response on this connection.
    pub id: u64,
    /// The client's session id (random per client).
    pub client: u64,
    /// The client's sequence number for this operation (increases by one per new operation).
    pub seq: u64,
    /// The operation.
    pub op: Op,
}

/// The outcome of an operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// `get`: the value, or `None` when the key is absent.
    Value(Option<Vec<u8>>),
    /// `put` done.
    Done,
    /// `del` done; whether the key existed.
    Deleted(bool),
    /// `cas` done; whether it swapped, and the value found.
    Cas {
        /// Whether the value was replaced.
        swapped: bool,
        /// The value found (before the swap).
        current: Option<Vec<u8>>,
    },
    /// This node is not the leader; try `leader` at `addr` if known.
    NotLeader {
        /// Leader id, if known.
        leader: Option<u64>,
        /// Leader's client address, if known.
        addr: Option<String>,
    },
    /// The request could not be carried out (the outcome of a write is then unknown).
    Error(String),
}

/// A response to a [`Request`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// The request's id.
    pub id: u64,
    /// The outcome.
    pub reply: Reply,
}

/// Encodes an operation (also the payload of a log entry, with client and seq).
pub fn put_op(e: &mut Encoder, op: &Op) {
    match op {
        Op::Get { key } => {
            e.u8(1).str(key);
        }
        Op::Put { key, value } => {
            e.u8(2).str(key).bytes(value);
        }
        Op::Del { key } => {
            e.u8(3).str(key);
        }
        Op::Cas { key, expected, new } => {
            e.u8(4).str(key).bytes(expected).bytes(new);
        }
    }
}

/// Decodes an operation.
pub fn get_op(d: &mut Decoder<'_>) -> Result<Op, DecodeError> {
    Ok(match d.u8("op tag")? {
        1 => Op::Get {
            key: d.str("key")?.to_string(),
        },
        2 => Op::Put {
            key: d.str("key")?.to_string(),
            value: d.bytes("value")?.to_vec(),
        },
        3 => Op::Del {
            key: d.str("key")?.to_string(),
        },
        4 => Op::Cas {
            key: d.str("key")?.to_string(),
            expected: d.bytes("expected")?.to_vec(),
            new: d.bytes("new value")?.to_vec(),
        },
        t => {
            return Err(DecodeError::Invalid {
                what: "op tag",
                value: t as u64,
            });
        }
    })
}

/// Encodes a request.
pub fn encode_request(r: &Request) -> Vec<u8> {
    let mut e = Encoder::new();
    e.u64(r.id).u64(r.client).u64(r.seq);
    put_op(&mut e, &r.op);
    e.finish()
}

/// Decodes a request.
pub fn decode_request(buf: &[u8]) -> Result<Request, DecodeError> {
    let mut d = Decoder::new(buf);
    let r = Request {
        id: d.u64("request id")?,
        client: d.u64("client id")?,
        seq: d.u64("seq")?,
        op: get_op(&mut d)?,
    };
    d.finish()?;
    Ok(r)
}

/// Encodes a reply.
pub fn put_reply(e: &mut Encoder, reply: &Reply) {
    match reply {
        Reply::Value(v) => {
            e.u8(1).opt_bytes(v.as_deref());
        }
        Reply::Done => {
            e.u8(2);
        }
        Reply::Deleted(existed) => {
            e.u8(3).bool(*existed);
        }
        Reply::Cas { swapped, current } => {
            e.u8(4).bool(*swapped).opt_bytes(current.as_deref());
        }
        Reply::NotLeader { leader, addr } => {
            e.u8(5)
                .u64(leader.unwrap_or(0))
                .str(addr.as_deref().unwrap_or(""));
        }
        Reply::Error(msg) => {
            e.u8(6).str(msg);
        }
    }
}

/// Decodes a reply.
pub fn get_reply(d: &mut Decoder<'_>) -> Result<Reply, DecodeError> {
    Ok(match d.u8("reply tag")? {
        1 => Reply::Value(d.opt_bytes("value")?.map(|b| b.to_vec())),
        2 => Reply::Done,
        3 => Reply::Deleted(d.bool("existed")?),
        4 => Reply::Cas {
            swapped: d.bool("swapped")?,
            current: d.opt_bytes("current")?.map(|b| b.to_vec()),
        },
        5 => {
            let leader = d.u64("leader")?;
            let addr = d.str("leader addr")?;
            Reply::NotLeader {
                leader: (leader != 0).then_some(leader),
                addr: (!addr.is_empty()).then(|| addr.to_string()),
            }
        }
        6 => Reply::Error(d.str("error")?.to_string()),
        t => {
            return Err(DecodeError::Invalid {
                what: "reply tag",
                value: t as u64,
            });
        }
    })
}

/// Encodes a response.
pub fn encode_response(r: &Response) -> Vec<u8> {
    let mut e = Encoder::new();
    e.u64(r.id);
    put_reply(&mut e, &r.reply);
    e.finish()
}

/// Decodes a response.
pub fn decode_response(buf: &[u8]) -> Result<Response, DecodeError> {
    let mut d = Decoder::new(buf);
    let r = Response {
        id: d.u64("response id")?,
        reply: get_reply(&mut d)?,
    };
    d.finish()?;
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample_messages() -> Vec<Message> {
        vec![
            Message::PreVote {
                term: 2,
                last_index: 9,
                last_term: 1,
            },
            Message::VoteResp {
                term: 3,
                granted: true,
            },
            Message::Append {
                term: 4,
                prev_index: 10,
                prev_term: 3,
                entries: vec![
                    Entry {
                        term: 4,
                        index: 11,
                        kind: EntryKind::Noop,
                        data: vec![],
                    },
                    Entry {
                        term: 4,
                        index: 12,
                        kind: EntryKind::Normal,
                        data: b"cmd".to_vec(),
                    },
                ],
                commit: 10,
                ctx: 77,
            },
            Message::AppendResp {
                term: 4,
                success: false,
                index: 10,
                reject_hint: 5,
                ctx: 1,
            },
            Message::InstallSnapshot {
                term: 5,
                snapshot: Snapshot {
                    meta: SnapshotMeta {
                        last_index: 100,
                        last_term: 4,
                    },
                    data: Arc::new(b"state".to_vec()),
                },
            },
            Message::InstallSnapshotResp {
                term: 5,
                last_index: 100,
            },
        ]
    }

    #[test]
    fn messages_round_trip() {
        for m in sample_messages() {
            let bytes = encode_message(&m, Vec::new());
            assert_eq!(decode_message(&bytes).unwrap(), m);
            // Every strict prefix is an error, never a panic.
            for cut in 0..bytes.len() {
                assert!(decode_message(&bytes[..cut]).is_err());
            }
        }
    }

    /// Splits a run of encoded frames into their payloads.
    fn frames(mut out: &[u8]) -> Vec<&[u8]> {
        let mut v = Vec::new();
        while !out.is_empty() {
            let len = u32::from_be_bytes(out[..4].try_into().unwrap()) as usize;
            v.push(&out[4..4 + len]);
            out = &out[4 + len..];
        }
        v
    }

    fn big_snapshot(bytes: usize) -> Message {
        Message::InstallSnapshot {
            term: 7,
            snapshot: Snapshot {
                meta: SnapshotMeta {
                    last_index: 900,
                    last_term: 6,
                },
                data: Arc::new((0..bytes).map(|i| (i % 251) as u8).collect()),
            },
        }
    }

    #[test]
    fn a_snapshot_larger_than_a_frame_travels_in_pieces_and_comes_back_whole() {
        let m = big_snapshot(2 * FRAGMENT_BYTES + 5);
        let bytes = encode_message(&m, Vec::new());
        let mut out = Vec::new();
        encode_peer_frames(&bytes, &mut out);
        let pieces = frames(&out);
        assert_eq!(pieces.len(), 3);
        assert!(
            pieces
                .iter()
                .all(|p| p.len() <= crate::wire::frame::MAX_FRAME)
        );
        let mut r = Reassembly::default();
        assert_eq!(r.push(pieces[0]).unwrap(), Assembled::Partial);
        assert_eq!(r.push(pieces[1]).unwrap(), Assembled::Partial);
        assert_eq!(r.push(pieces[2]).unwrap(), Assembled::Complete);
        assert_eq!(decode_message(r.message()).unwrap(), m);
        r.clear();
        // A small message is one frame, decoded as it is.
        let small = encode_message(&sample_messages()[0], Vec::new());
        let mut out = Vec::new();
        encode_peer_frames(&small, &mut out);
        assert_eq!(frames(&out), vec![&small[..]]);
        assert_eq!(r.push(&small).unwrap(), Assembled::Whole);
    }

    #[test]
    fn a_dropped_piece_drops_its_whole_message_and_bad_pieces_are_errors() {
        let bytes = encode_message(&big_snapshot(2 * FRAGMENT_BYTES + 5), Vec::new());
        let mut out = Vec::new();
        encode_peer_frames(&bytes, &mut out);
        let pieces = frames(&out);
        let small = encode_message(&sample_messages()[0], Vec::new());
        // The first piece dropped by a fault rule: the rest of that message is skipped, and
        // the next message decodes.
        let mut r = Reassembly::default();
        r.drop_frame(pieces[0]);
        assert_eq!(r.push(pieces[1]).unwrap(), Assembled::Skipped);
        assert_eq!(r.push(pieces[2]).unwrap(), Assembled::Skipped);
        assert_eq!(r.push(&small).unwrap(), Assembled::Whole);
        // The middle one dropped: what came before it is forgotten too.
        let mut r = Reassembly::default();
        assert_eq!(r.push(pieces[0]).unwrap(), Assembled::Partial);
        r.drop_frame(pieces[1]);
        assert!(r.message().is_empty());
        assert_eq!(r.push(pieces[2]).unwrap(), Assembled::Skipped);
        // A whole message between pieces, or a flag other than 0 and 1: errors, no panic.
        let mut r = Reassembly::default();
        assert_eq!(r.push(pieces[0]).unwrap(), Assembled::Partial);
        assert!(r.push(&small).is_err());
        let mut r = Reassembly::default();
        assert!(r.push(&[FRAGMENT_TAG, 2, 1, 2]).is_err());
        assert_eq!(
            r.push(&[FRAGMENT_TAG]).unwrap(),
            Assembled::Whole,
            "too short to be a piece: decoded as a message, which fails on its tag"
        );
        assert!(decode_message(&[FRAGMENT_TAG]).is_err());
    }

    #[test]
    fn requests_and_responses_round_trip() {
        let r = Request {
            id: 1,
            client: 42,
            seq: 7,
            op: Op::Cas {
                key: "k".into(),
                expected: b"a".to_vec(),
                new: b"b".to_vec(),
            },
        };
        assert_eq!(decode_request(&encode_request(&r)).unwrap(), r);
        for reply in [
            Reply::Value(None),
            Reply::Value(Some(b"v".to_vec())),
            Reply::Done,
            Reply::Deleted(true),
            Reply::Cas {
                swapped: false,
                current: Some(b"x".to_vec()),
            },
            Reply::NotLeader {
                leader: Some(2),
                addr: Some("127.0.0.1:9".into()),
            },
            Reply::NotLeader {
                leader: None,
                addr: None,
            },
            Reply::Error("disk full".into()),
        ] {
            let resp = Response { id: 9, reply };
            assert_eq!(decode_response(&encode_response(&resp)).unwrap(), resp);
        }
    }

    #[test]
    fn lying_entry_count_is_rejected_without_allocating() {
        let mut e = Encoder::new();
        e.u8(5).u64(1).u64(0).u64(0).u64(0).u64(0).u32(u32::MAX);
        assert!(decode_message(&e.finish()).is_err());
    }

    proptest! {
        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = decode_message(&bytes);
            let _ = decode_request(&bytes);
            let _ = decode_response(&bytes);
            let _ = decode_hello(&bytes);
        }
    }
}
