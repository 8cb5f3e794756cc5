//! Tracker frames: client requests and responses, and the replication messages between trackers.
//!
//! Every frame is one wirelab frame (`u32` length, payload) whose payload starts with a tag byte.
//! Client requests carry a request id that the response echoes. Replication frames are one-way
//! (no acks): `Pull` carries the sender's version vector and is answered, on the answering
//! tracker's own link, with `Ops` or `Snapshot`; new ops are also pushed as `Ops` as they happen.

use super::state::{Id20, Op, State, TorrentInfo, VersionVector, codec};
use crate::wire::{DecodeError, Decoder, Encoder};

/// Largest tracker frame accepted.
pub const MAX_TRACKER_FRAME: usize = 16 * 1024 * 1024;

/// A client request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// Open (session 0) or resume a session.
    Hello {
        /// The session to resume, or 0.
        session: u64,
    },
    /// Register a torrent.
    Register {
        /// Its info hash.
        info_hash: Id20,
        /// Metadata.
        info: TorrentInfo,
    },
    /// Join a swarm (or update one's record) and get its peers.
    Announce {
        /// The swarm.
        info_hash: Id20,
        /// This peer.
        peer_id: Id20,
        /// Where it accepts peer-wire connections.
        addr: String,
        /// Pieces held (bitfield bytes).
        pieces: Vec<u8>,
        /// Whether it holds everything.
        seeder: bool,
        /// Whether it is leaving.
        left: bool,
    },
    /// The peers of a swarm.
    GetPeers {
        /// The swarm.
        info_hash: Id20,
    },
}

/// One peer in a [`Response::Peers`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerEntry {
    /// Its id.
    pub peer_id: Id20,
    /// Its address.
    pub addr: String,
    /// Whether it holds everything.
    pub seeder: bool,
    /// Pieces held (count).
    pub pieces: u32,
}

/// A tracker's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Response {
    /// The session in force.
    Session {
        /// Its id.
        id: u64,
        /// The answering tracker's node id.
        tracker: u64,
    },
    /// Done.
    Ok,
    /// Swarm members.
    Peers(Vec<PeerEntry>),
    /// Refused.
    Error(String),
}

/// Anything a tracker reads from a connection.
#[derive(Clone, Debug, PartialEq)]
pub enum Inbound {
    /// A client request with its id.
    Client(u64, Request),
    /// From another tracker: its version vector (answer with what it lacks).
    Pull {
        /// Sender node id.
        from: u64,
        /// Its version vector.
        vv: VersionVector,
    },
    /// From another tracker: ops.
    Ops {
        /// Sender node id.
        from: u64,
        /// The ops.
        ops: Vec<Op>,
    },
    /// From another tracker: its whole state.
    Snapshot {
        /// Sender node id.
        from: u64,
        /// The state.
        state: State,
        /// Its version vector.
        vv: VersionVector,
    },
}

fn id20(d: &mut Decoder<'_>, what: &'static str) -> Result<Id20, DecodeError> {
    let b = d.bytes(what)?;
    b.try_into().map_err(|_| DecodeError::Invalid {
        what,
        value: b.len() as u64,
    })
}

/// Encodes a client request.
pub fn encode_request(id: u64, req: &Request) -> Vec<u8> {
    let mut e = Encoder::new();
    match req {
        Request::Hello { session } => {
            e.u8(1).u64(id).u64(*session);
        }
        Request::Register { info_hash, info } => {
            e.u8(2)
                .u64(id)
                .bytes(info_hash)
                .str(&info.name)
                .u64(info.size)
                .u32(info.pieces);
        }
        Request::Announce {
            info_hash,
            peer_id,
            addr,
            pieces,
            seeder,
            left,
        } => {
            e.u8(3)
                .u64(id)
                .bytes(info_hash)
                .bytes(peer_id)
                .str(addr)
                .bytes(pieces)
                .bool(*seeder)
                .bool(*left);
        }
        Request::GetPeers { info_hash } => {
            e.u8(4).u64(id).bytes(info_hash);
        }
    }
    e.finish()
}

/// Encodes a replication pull.
pub fn encode_pull(from: u64, vv: &VersionVector) -> Vec<u8> {
    let mut e = Encoder::new();
    e.u8(10).u64(from);
    codec::vv(&mut e, vv);
    e.finish()
}

/// Encodes pushed ops.
pub fn encode_ops(from: u64, ops: &[Op]) -> Vec<u8> {
    let mut e = Encoder::new();
    e.u8(11).u64(from);
    codec::ops(&mut e, ops);
    e.finish()
}

/// Encodes a snapshot.
pub fn encode_snapshot(from: u64, state: &State, vv: &VersionVector) -> Vec<u8> {
    let mut e = Encoder::new();
    e.u8(12).u64(from);
    codec::state(&mut e, state);
    codec::vv(&mut e, vv);
    e.finish()
}

/// Decodes anything a tracker can receive.
pub fn decode_inbound(bytes: &[u8]) -> Result<Inbound, DecodeError> {
    let mut d = Decoder::new(bytes);
    let tag = d.u8("tag")?;
    let msg = match tag {
        1..=4 => {
            let id = d.u64("request id")?;
            let req = match tag {
                1 => Request::Hello {
                    session: d.u64("session")?,
                },
                2 => Request::Register {
                    info_hash: id20(&mut d, "info_hash")?,
                    info: TorrentInfo {
                        name: d.str("name")?.to_string(),
                        size: d.u64("size")?,
                        pieces: d.u32("pieces")?,
                    },
                },
                3 => Request::Announce {
                    info_hash: id20(&mut d, "info_hash")?,
                    peer_id: id20(&mut d, "peer_id")?,
                    addr: d.str("addr")?.to_string(),
                    pieces: d.bytes("pieces")?.to_vec(),
                    seeder: d.bool("seeder")?,
                    left: d.bool("left")?,
                },
                _ => Request::GetPeers {
                    info_hash: id20(&mut d, "info_hash")?,
                },
            };
            Inbound::Client(id, req)
        }
        10 => Inbound::Pull {
            from: d.u64("from")?,
            vv: codec::read_vv(&mut d)?,
        },
        11 => Inbound::Ops {
            from: d.u64("from")?,
            ops: codec::read_ops(&mut d)?,
        },
        12 => Inbound::Snapshot {
            from: d.u64("from")?,
            state: codec::read_state(&mut d)?,
            vv: codec::read_vv(&mut d)?,
        },
        v => {
            return Err(DecodeError::Invalid {
                what: "frame tag",
                value: v as u64,
            });
        }
    };
    d.finish()?;
    Ok(msg)
}

/// Encodes a response to request `id`.
pub fn encode_response(id: u64, resp: &Response) -> Vec<u8> {
    let mut e = Encoder::new();
    e.u64(id);
    match resp {
        Response::Session { id, tracker } => {
            e.u8(1).u64(*id).u64(*tracker);
        }
        Response::Ok => {
            e.u8(2);
        }
        Response::Peers(peers) => {
            e.u8(3).u32(peers.len() as u32);
            for p in peers {
                e.bytes(&p.peer_id)
                    .str(&p.addr)
                    .bool(p.seeder)
                    .u32(p.pieces);
            }
        }
        Response::Error(msg) => {
            e.u8(4).str(msg);
        }
    }
    e.finish()
}

/// Decodes a response: its request id and body.
pub fn decode_response(bytes: &[u8]) -> Result<(u64, Response), DecodeError> {
    let mut d = Decoder::new(bytes);
    let id = d.u64("request id")?;
    let resp = match d.u8("tag")? {
        1 => Response::Session {
            id: d.u64("session")?,
            tracker: d.u64("tracker")?,
        },
        2 => Response::Ok,
        3 => {
            let n = d.u32("peer count")?;
            if n as usize > d.remaining() {
                return Err(DecodeError::Invalid {
                    what: "peer count",
                    value: n as u64,
                });
            }
            let mut peers = Vec::with_capacity(n as usize);
            for _ in 0..n {
                peers.push(PeerEntry {
                    peer_id: id20(&mut d, "peer_id")?,
                    addr: d.str("addr")?.to_string(),
                    seeder: d.bool("seeder")?,
                    pieces: d.u32("pieces")?,
                });
            }
            Response::Peers(peers)
        }
        4 => Response::Error(d.str("error")?.to_string()),
        v => {
            return Err(DecodeError::Invalid {
                what: "response tag",
                value: v as u64,
            });
        }
    };
    d.finish()?;
    Ok((id, resp))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_responses_round_trip() {
        let req = Request::Announce {
            info_hash: [1; 20],
            peer_id: [2; 20],
            addr: "127.0.0.1:9".into(),
            pieces: vec![0xf0],
            seeder: false,
            left: false,
        };
        assert_eq!(
            decode_inbound(&encode_request(7, &req)).unwrap(),
            Inbound::Client(7, req)
        );
        let resp = Response::Peers(vec![PeerEntry {
            peer_id: [3; 20],
            addr: "a".into(),
            seeder: true,
            pieces: 4,
        }]);
        assert_eq!(
            decode_response(&encode_response(9, &resp)).unwrap(),
            (9, resp)
        );
        assert!(decode_inbound(&[99]).is_err());
        assert!(decode_response(&[0, 0, 0, 0, 0, 0, 0, 1, 3, 255, 255, 255, 255]).is_err());
    }
}
