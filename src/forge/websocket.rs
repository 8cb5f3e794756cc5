//! WebSocket (RFC 6455) over an upgraded forge connection: the opening handshake, frame
//! parsing with client masking required, fragmented messages, automatic pong, the close
//! handshake with status codes, and UTF-8 validation of text (1007 on failure). Protocol
//! violations close with 1002, oversized frames or messages with 1009. Frames and messages are
//! bounded by [`WsConfig`], so no client can make us allocate beyond it.

use std::future::Future;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::{Buf, BufMut, Bytes, BytesMut};
use sha1::{Digest, Sha1};
use thiserror::Error;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

use super::request::{Method, Request};
use super::response::{Io, Response, Upgraded};

const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Close codes used by the server.
pub mod close_code {
    /// Normal closure.
    pub const NORMAL: u16 = 1000;
    /// The server is going away (shutdown).
    pub const GOING_AWAY: u16 = 1001;
    /// Protocol error.
    pub const PROTOCOL: u16 = 1002;
    /// Data inconsistent with the message type (bad UTF-8).
    pub const INVALID_DATA: u16 = 1007;
    /// Message too big.
    pub const TOO_BIG: u16 = 1009;
}

/// Limits of one WebSocket session.
#[derive(Debug, Clone, Copy)]
pub struct WsConfig {
    /// Largest single frame payload.
    pub max_frame: usize,
    /// Largest reassembled message.
    pub max_message: usize,
}

impl Default for WsConfig {
    fn default() -> Self {
        WsConfig {
            max_frame: 1 << 20,
            max_message: 4 << 20,
        }
    }
}

/// A message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A UTF-8 text message.
    Text(String),
    /// A binary message.
    Binary(Bytes),
    /// A ping (answered automatically on receipt; sendable).
    Ping(Bytes),
    /// A pong.
    Pong(Bytes),
    /// The peer closed (code and reason when given).
    Close(Option<(u16, String)>),
}

/// Why a session ended abnormally.
#[derive(Debug, Error)]
pub enum WsError {
    /// The transport failed.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    /// The peer broke the protocol; we closed with this code.
    #[error("protocol violation, closed with {0}")]
    Protocol(u16),
    /// The session is already closed.
    #[error("connection closed")]
    Closed,
}

/// The `Sec-WebSocket-Accept` value for a client key.
pub fn accept_key(key: &str) -> String {
    let mut sha = Sha1::new();
    sha.update(key.as_bytes());
    sha.update(GUID.as_bytes());
    STANDARD.encode(sha.finalize())
}

/// Validates the opening handshake in `req` and answers 101, running `on_open` with the
/// session once the response is sent; answers 400 (or 426 for another version) otherwise.
pub fn upgrade<F, Fut>(req: &Request, config: WsConfig, on_open: F) -> Response
where
    F: FnOnce(WebSocket) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    if req.method() != Method::Get
        || !req.header_has_token("upgrade", "websocket")
        || !req.header_has_token("connection", "upgrade")
    {
        return Response::error(400);
    }
    if req.header("sec-websocket-version") != Some("13") {
        return Response::error(426)
            .with_header("sec-websocket-version", "13")
            .with_header("upgrade", "websocket");
    }
    let key = match req.header("sec-websocket-key") {
        Some(k) if STANDARD.decode(k.trim()).is_ok_and(|d| d.len() == 16) => k.trim(),
        _ => return Response::error(400),
    };
    Response::new(101)
        .with_header("upgrade", "websocket")
        .with_header("connection", "Upgrade")
        .with_header("sec-websocket-accept", accept_key(key))
        .with_upgrade(Box::new(move |up: Upgraded| {
            Box::pin(async move { on_open(WebSocket::new(up, config)).await })
        }))
}

/// One side of a WebSocket session (the server's).
pub struct WebSocket {
    io: Box<dyn Io>,
    buf: BytesMut,
    config: WsConfig,
    shutdown: CancellationToken,
    /// A fragmented message in progress: opcode, data, and how much of it is known-valid UTF-8.
    fragments: Option<(u8, BytesMut, usize)>,
    close_sent: bool,
    finished: bool,
    going_away: bool,
}

struct Frame {
    fin: bool,
    opcode: u8,
    payload: BytesMut,
}

impl WebSocket {
    fn new(up: Upgraded, config: WsConfig) -> WebSocket {
        WebSocket {
            io: up.io,
            buf: up.read_buf,
            config,
            shutdown: up.shutdown,
            fragments: None,
            close_sent: false,
            finished: false,
            going_away: false,
        }
    }

    /// The next data message (`Text`/`Binary`), or `Close` once the peer closed (the close
    /// reply is already sent); `None` after the session ended, including at server shutdown
    /// (then we sent 1001).
    pub async fn recv(&mut self) -> Result<Option<Message>, WsError> {
        loop {
            if self.finished {
                return Ok(None);
            }
            let frame = match self.read_frame().await {
                Ok(Some(f)) => f,
                Ok(None) if self.going_away => {
                    self.close(close_code::GOING_AWAY, "server shutting down")
                        .await?;
                    return Ok(None);
                }
                Ok(None) => return Ok(None),
                Err(WsError::Protocol(code)) => {
                    self.fail(code).await;
                    return Err(WsError::Protocol(code));
                }
                Err(e) => return Err(e),
            };
            match self.on_frame(frame).await {
                Ok(Some(msg)) => return Ok(Some(msg)),
                Ok(None) => continue,
                Err(WsError::Protocol(code)) => {
                    self.fail(code).await;
                    return Err(WsError::Protocol(code));
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn on_frame(&mut self, f: Frame) -> Result<Option<Message>, WsError> {
        let proto = WsError::Protocol(close_code::PROTOCOL);
        match f.opcode {
            0x8 => {
                let close = parse_close(&f.payload)?;
                if !self.close_sent {
                    let code = close.as_ref().map_or(close_code::NORMAL, |c| c.0);
                    self.write_frame(0x8, &code.to_be_bytes()).await?;
                    self.close_sent = true;
                }
                self.finish().await;
                Ok(Some(Message::Close(close)))
            }
            0x9 => {
                self.write_frame(0xA, &f.payload).await?;
                Ok(None)
            }
            0xA => Ok(None),
            0x0 => {
                let Some((opcode, mut data, mut checked)) = self.fragments.take() else {
                    return Err(proto);
                };
                if data.len() + f.payload.len() > self.config.max_message {
                    return Err(WsError::Protocol(close_code::TOO_BIG));
                }
                data.extend_from_slice(&f.payload);
                if f.fin {
                    return message(opcode, data).map(Some);
                }
                if opcode == 0x1 {
                    checked = check_utf8_prefix(&data, checked)?;
                }
                self.fragments = Some((opcode, data, checked));
                Ok(None)
            }
            0x1 | 0x2 => {
                if self.fragments.is_some() {
                    return Err(proto);
                }
                if f.fin {
                    return message(f.opcode, f.payload).map(Some);
                }
                let checked = if f.opcode == 0x1 {
                    check_utf8_prefix(&f.payload, 0)?
                } else {
                    0
                };
                self.fragments = Some((f.opcode, f.payload, checked));
                Ok(None)
            }
            _ => Err(proto),
        }
    }

    /// Reads one frame (`None` on EOF or shutdown).
    async fn read_frame(&mut self) -> Result<Option<Frame>, WsError> {
        let proto = WsError::Protocol(close_code::PROTOCOL);
        loop {
            if let Some(header) = parse_header(&self.buf)? {
                let (fin, opcode, masked, len, header_len) = header;
                if !masked {
                    return Err(proto);
                }
                if opcode >= 0x8 && (!fin || len > 125) {
                    return Err(proto);
                }
                if len > self.config.max_frame as u64 {
                    return Err(WsError::Protocol(close_code::TOO_BIG));
                }
                let total = header_len + 4 + len as usize;
                if self.buf.len() >= total {
                    let mask: [u8; 4] = self.buf[header_len..header_len + 4]
                        .try_into()
                        .map_err(|_| WsError::Protocol(close_code::PROTOCOL))?;
                    self.buf.advance(header_len + 4);
                    let mut payload = self.buf.split_to(len as usize);
                    for (i, b) in payload.iter_mut().enumerate() {
                        *b ^= mask[i & 3];
                    }
                    return Ok(Some(Frame {
                        fin,
                        opcode,
                        payload,
                    }));
                }
                self.buf.reserve(total - self.buf.len());
            }
            let read = tokio::select! {
                r = self.io.read_buf(&mut self.buf) => r?,
                _ = self.shutdown.cancelled(), if !self.close_sent => {
                    self.going_away = true;
                    return Ok(None);
                }
            };
            if read == 0 {
                self.finished = true;
                return Ok(None);
            }
        }
    }

    /// Sends a message.
    pub async fn send(&mut self, msg: Message) -> Result<(), WsError> {
        if self.close_sent {
            return Err(WsError::Closed);
        }
        match msg {
            Message::Text(t) => self.write_frame(0x1, t.as_bytes()).await,
            Message::Binary(b) => self.write_frame(0x2, &b).await,
            Message::Ping(b) => self.write_frame(0x9, &b[..b.len().min(125)]).await,
            Message::Pong(b) => self.write_frame(0xA, &b[..b.len().min(125)]).await,
            Message::Close(c) => {
                let (code, reason) = c.unwrap_or((close_code::NORMAL, String::new()));
                self.close(code, &reason).await
            }
        }
    }

    /// Starts the close handshake with `code` and waits briefly for the peer's close.
    pub async fn close(&mut self, code: u16, reason: &str) -> Result<(), WsError> {
        if !self.close_sent {
            let mut payload = Vec::with_capacity(2 + reason.len().min(123));
            payload.extend_from_slice(&code.to_be_bytes());
            let mut cut = reason.len().min(123);
            while !reason.is_char_boundary(cut) {
                cut -= 1;
            }
            payload.extend_from_slice(&reason.as_bytes()[..cut]);
            self.write_frame(0x8, &payload).await?;
            self.close_sent = true;
        }
        let wait = async {
            while let Ok(Some(f)) = self.read_frame().await {
                if f.opcode == 0x8 {
                    break;
                }
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(2), wait).await;
        self.finish().await;
        Ok(())
    }

    async fn fail(&mut self, code: u16) {
        if !self.close_sent {
            let _ = self.write_frame(0x8, &code.to_be_bytes()).await;
            self.close_sent = true;
        }
        self.finish().await;
    }

    async fn finish(&mut self) {
        self.finished = true;
        let _ = self.io.shutdown().await;
    }

    async fn write_frame(&mut self, opcode: u8, payload: &[u8]) -> Result<(), WsError> {
        let mut out = BytesMut::with_capacity(payload.len() + 10);
        out.put_u8(0x80 | opcode);
        match payload.len() {
            n if n < 126 => out.put_u8(n as u8),
            n if n <= 0xFFFF => {
                out.put_u8(126);
                out.put_u16(n as u16);
            }
            n => {
                out.put_u8(127);
                out.put_u64(n as u64);
            }
        }
        out.put_slice(payload);
        self.io.write_all(&out).await?;
        self.io.flush().await?;
        Ok(())
    }
}

/// (fin, opcode, masked, payload length, header length without the mask key), or `None` when
/// more bytes are needed.
type FrameHeader = (bool, u8, bool, u64, usize);

fn parse_header(buf: &[u8]) -> Result<Option<FrameHeader>, WsError> {
    if buf.len() < 2 {
        return Ok(None);
    }
    let (b0, b1) = (buf[0], buf[1]);
    if b0 & 0x70 != 0 {
        // RSV bits without a negotiated extension.
        return Err(WsError::Protocol(close_code::PROTOCOL));
    }
    let (len, header_len) = match b1 & 0x7F {
        126 => {
            let Some(b) = buf.get(2..4) else {
                return Ok(None);
            };
            (u64::from(u16::from_be_bytes([b[0], b[1]])), 4)
        }
        127 => {
            let Some(b) = buf.get(2..10) else {
                return Ok(None);
            };
            let mut a = [0u8; 8];
            a.copy_from_slice(b);
            let n = u64::from_be_bytes(a);
            if n >> 63 != 0 {
                return Err(WsError::Protocol(close_code::PROTOCOL));
            }
            (n, 10)
        }
        n => (u64::from(n), 2),
    };
    Ok(Some((
        b0 & 0x80 != 0,
        b0 & 0x0F,
        b1 & 0x80 != 0,
        len,
        header_len,
    )))
}

fn message(opcode: u8, data: BytesMut) -> Result<Message, WsError> {
    if opcode == 0x1 {
        String::from_utf8(data.to_vec())
            .map(Message::Text)
            .map_err(|_| WsError::Protocol(close_code::INVALID_DATA))
    } else {
        Ok(Message::Binary(data.freeze()))
    }
}

/// Fails fast on text fragments: validates `data[from..]`, allowing only an incomplete sequence
/// at the very end; returns how far the data is known valid.
fn check_utf8_prefix(data: &[u8], from: usize) -> Result<usize, WsError> {
    // `from` is where the last check stopped: at a char boundary, before any incomplete tail.
    let start = from.min(data.len());
    match std::str::from_utf8(&data[start..]) {
        Ok(_) => Ok(data.len()),
        Err(e) if e.error_len().is_none() => Ok(start + e.valid_up_to()),
        Err(_) => Err(WsError::Protocol(close_code::INVALID_DATA)),
    }
}

fn valid_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

fn parse_close(payload: &[u8]) -> Result<Option<(u16, String)>, WsError> {
    match payload.len() {
        0 => Ok(None),
        1 => Err(WsError::Protocol(close_code::PROTOCOL)),
        _ => {
            let code = u16::from_be_bytes([payload[0], payload[1]]);
            if !valid_close_code(code) {
                return Err(WsError::Protocol(close_code::PROTOCOL));
            }
            let reason = std::str::from_utf8(&payload[2..])
                .map_err(|_| WsError::Protocol(close_code::INVALID_DATA))?;
            Ok(Some((code, reason.to_owned())))
        }
    }
}

#[cfg(test)]
#[path = "websocket_tests.rs"]
mod tests;
