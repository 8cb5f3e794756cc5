//! The BitTorrent peer wire protocol (BEP 3): the handshake and the length-prefixed messages.
//!
//! Messages share wirelab's frame shape (`u32` big-endian length, then the payload), so they are
//! read with [`crate::wire::read_frame`] and its bound; a zero-length frame is a keep-alive.
//! Decoding checks every length and never panics. A connection whose first byte is not 19 (an
//! encrypted MSE handshake, as aria2c tries first) is answered by closing it, so the other side
//! retries in plain BitTorrent.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The protocol string of the handshake.
pub const PROTOCOL: &[u8; 19] = b"BitTorrent protocol";

/// Block size requested and served.
pub const BLOCK_LEN: u32 = 16 * 1024;

/// Largest request served (BEP 3 clients use 16 KiB; some ask for up to 128 KiB).
pub const MAX_REQUEST: u32 = 128 * 1024;

/// Largest message accepted.
pub const MAX_MESSAGE: usize = MAX_REQUEST as usize + 16;

/// Why a peer connection failed.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// Socket trouble.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// Not a plain BitTorrent handshake (encrypted MSE, or garbage).
    #[error("not a BitTorrent handshake (first byte {0:#04x}; MSE is not spoken here)")]
    NotBitTorrent(u8),
    /// A handshake for another torrent.
    #[error("handshake for another torrent")]
    WrongTorrent,
    /// A malformed message.
    #[error("malformed message id {id} of {len} bytes")]
    Malformed {
        /// Message id.
        id: u8,
        /// Payload length.
        len: usize,
    },
}

/// A peer wire message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// Zero-length frame.
    KeepAlive,
    /// 0.
    Choke,
    /// 1.
    Unchoke,
    /// 2.
    Interested,
    /// 3.
    NotInterested,
    /// 4: the sender now has this piece.
    Have(u32),
    /// 5: the sender's pieces.
    Bitfield(Vec<u8>),
    /// 6.
    Request {
        /// Piece.
        index: u32,
        /// Offset.
        begin: u32,
        /// Length.
        len: u32,
    },
    /// 7.
    Piece {
        /// Piece.
        index: u32,
        /// Offset.
        begin: u32,
        /// The block.
        block: Vec<u8>,
    },
    /// 8.
    Cancel {
        /// Piece.
        index: u32,
        /// Offset.
        begin: u32,
        /// Length.
        len: u32,
    },
    /// Anything else (DHT port, extensions): ignored.
    Other(u8),
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

impl Message {
    /// Decodes a frame payload.
    pub fn decode(payload: &[u8]) -> Result<Message, WireError> {
        let Some((&id, rest)) = payload.split_first() else {
            return Ok(Message::KeepAlive);
        };
        let bad = || WireError::Malformed {
            id,
            len: rest.len(),
        };
        let fixed = |n: usize| if rest.len() == n { Ok(()) } else { Err(bad()) };
        Ok(match id {
            0 => fixed(0).map(|_| Message::Choke)?,
            1 => fixed(0).map(|_| Message::Unchoke)?,
            2 => fixed(0).map(|_| Message::Interested)?,
            3 => fixed(0).map(|_| Message::NotInterested)?,
            4 => {
                fixed(4)?;
                Message::Have(be32(rest))
            }
            5 => Message::Bitfield(rest.to_vec()),
            6 | 8 => {
                fixed(12)?;
                let (index, begin, len) = (be32(rest), be32(&rest[4..]), be32(&rest[8..]));
                if id == 6 {
                    Message::Request { index, begin, len }
                } else {
                    Message::Cancel { index, begin, len }
                }
            }
            7 => {
                if rest.len() < 8 {
                    return Err(bad());
                }
                Message::Piece {
                    index: be32(rest),
                    begin: be32(&rest[4..]),
                    block: rest[8..].to_vec(),
                }
            }
            other => Message::Other(other),
        })
    }

    /// Appends the framed message to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        let mut head = |len: u32, id: u8| {
            out.extend_from_slice(&len.to_be_bytes());
            out.push(id);
        };
        match self {
            Message::KeepAlive => out.extend_from_slice(&0u32.to_be_bytes()),
            Message::Choke => head(1, 0),
            Message::Unchoke => head(1, 1),
            Message::Interested => head(1, 2),
            Message::NotInterested => head(1, 3),
            Message::Have(i) => {
                head(5, 4);
                out.extend_from_slice(&i.to_be_bytes());
            }
            Message::Bitfield(b) => {
                head(1 + b.len() as u32, 5);
                out.extend_from_slice(b);
            }
            Message::Request { index, begin, len } | Message::Cancel { index, begin, len } => {
                head(
                    13,
                    if matches!(self, Message::Request { .. }) {
                        6
                    } else {
                        8
                    },
                );
                for v in [index, begin, len] {
                    out.extend_from_slice(&v.to_be_bytes());
                }
            }
            Message::Piece {
                index,
                begin,
                block,
            } => {
                head(9 + block.len() as u32, 7);
                out.extend_from_slice(&index.to_be_bytes());
                out.extend_from_slice(&begin.to_be_bytes());
                out.extend_from_slice(block);
            }
            Message::Other(_) => {}
        }
    }
}

/// Appends the head of a piece message (id 7) whose `len`-byte block the caller appends next,
/// so a block can be read from disk straight into an outgoing buffer.
pub fn encode_piece_header(index: u32, begin: u32, len: u32, out: &mut Vec<u8>) {
    out.extend_from_slice(&(9 + len).to_be_bytes());
    out.push(7);
    out.extend_from_slice(&index.to_be_bytes());
    out.extend_from_slice(&begin.to_be_bytes());
}

/// Writes our handshake.
pub async fn send_handshake<W: AsyncWrite + Unpin>(
    w: &mut W,
    info_hash: &[u8; 20],
    peer_id: &[u8; 20],
) -> Result<(), WireError> {
    let mut h = Vec::with_capacity(68);
    h.push(19);
    h.extend_from_slice(PROTOCOL);
    h.extend_from_slice(&[0u8; 8]);
    h.extend_from_slice(info_hash);
    h.extend_from_slice(peer_id);
    w.write_all(&h).await?;
    w.flush().await?;
    Ok(())
}

/// Reads the other side's handshake; returns its peer id. Anything but a plain BitTorrent
/// handshake for `info_hash` is an error, after reading at most 68 bytes.
pub async fn read_handshake<R: AsyncRead + Unpin>(
    r: &mut R,
    info_hash: &[u8; 20],
) -> Result<[u8; 20], WireError> {
    let first = r.read_u8().await?;
    if first != 19 {
        return Err(WireError::NotBitTorrent(first));
    }
    let mut rest = [0u8; 67];
    r.read_exact(&mut rest).await?;
    if &rest[..19] != PROTOCOL {
        return Err(WireError::NotBitTorrent(first));
    }
    if &rest[27..47] != info_hash {
        return Err(WireError::WrongTorrent);
    }
    let mut id = [0u8; 20];
    id.copy_from_slice(&rest[47..67]);
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn messages_round_trip() {
        for m in [
            Message::Choke,
            Message::Have(7),
            Message::Bitfield(vec![0xf0]),
            Message::Request {
                index: 1,
                begin: 16384,
                len: 16384,
            },
            Message::Cancel {
                index: 1,
                begin: 0,
                len: 5,
            },
            Message::Piece {
                index: 2,
                begin: 0,
                block: vec![1, 2, 3],
            },
        ] {
            let mut out = Vec::new();
            m.encode_into(&mut out);
            assert_eq!(be32(&out) as usize, out.len() - 4);
            assert_eq!(Message::decode(&out[4..]).unwrap(), m);
        }
        let mut head = Vec::new();
        encode_piece_header(2, 0, 3, &mut head);
        head.extend_from_slice(&[1, 2, 3]);
        let mut whole = Vec::new();
        Message::Piece {
            index: 2,
            begin: 0,
            block: vec![1, 2, 3],
        }
        .encode_into(&mut whole);
        assert_eq!(head, whole);
        assert!(Message::decode(&[4, 0, 0]).is_err());
        assert!(Message::decode(&[7, 0]).is_err());
    }

    #[tokio::test]
    async fn encrypted_handshake_is_refused_after_one_byte() {
        let (mut a, mut b) = tokio::io::duplex(1024);
        a.write_all(&[0x8d; 96]).await.unwrap();
        let err = read_handshake(&mut b, &[0; 20]).await.unwrap_err();
        assert!(matches!(err, WireError::NotBitTorrent(0x8d)));
    }

    proptest! {
        #[test]
        fn random_payloads_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = Message::decode(&bytes);
        }
    }
}
