//! What handlers return: a status, header fields and a body (whole, streamed, or a connection
//! upgrade), and the serializer that turns the head (and a small body) into one buffer so a
//! response leaves in a single write.

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;

use bytes::{BufMut, Bytes, BytesMut};
use futures::Stream;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::sync::CancellationToken;

use super::request::Version;

/// A boxed, sendable future (handlers and middleware return these).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A boxed stream of body chunks.
pub type BodyStream = Pin<Box<dyn Stream<Item = Bytes> + Send>>;

/// A byte stream a connection can be handed over as after an upgrade (plain TCP or TLS).
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// The connection after a `101 Switching Protocols`, handed to the upgrade callback.
pub struct Upgraded {
    /// The transport.
    pub io: Box<dyn Io>,
    /// Bytes the client sent after the upgrade request that were already read.
    pub read_buf: BytesMut,
    /// Cancelled when the server shuts down, so long-lived sessions can close politely.
    pub shutdown: CancellationToken,
}

/// The callback that takes over an upgraded connection.
pub type UpgradeFn = Box<dyn FnOnce(Upgraded) -> BoxFuture<'static, ()> + Send>;

/// A response body.
pub enum Body {
    /// No body.
    Empty,
    /// The whole body in memory.
    Full(Bytes),
    /// Chunks produced over time; sent with Content-Length when `len` is known, else chunked.
    Stream {
        /// The chunks.
        stream: BodyStream,
        /// The total length, if known in advance.
        len: Option<u64>,
    },
}

impl Body {
    /// The length when known without consuming the body.
    pub fn len(&self) -> Option<u64> {
        match self {
            Body::Empty => Some(0),
            Body::Full(b) => Some(b.len() as u64),
            Body::Stream { len, .. } => *len,
        }
    }

    /// Whether the body is known to be empty.
    pub fn is_empty(&self) -> bool {
        self.len() == Some(0)
    }

    /// The bytes of a `Full` body.
    pub fn as_bytes(&self) -> Option<&Bytes> {
        match self {
            Body::Full(b) => Some(b),
            _ => None,
        }
    }
}

impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Body::Empty => write!(f, "Empty"),
            Body::Full(b) => write!(f, "Full({} bytes)", b.len()),
            Body::Stream { len, .. } => write!(f, "Stream(len={len:?})"),
        }
    }
}

/// A header name or value: static strings cost no allocation.
pub type HeaderText = Cow<'static, str>;

/// An HTTP response.
pub struct Response {
    status: u16,
    headers: Vec<(HeaderText, HeaderText)>,
    body: Body,
    upgrade: Option<UpgradeFn>,
}

impl std::fmt::Debug for Response {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Response")
            .field("status", &self.status)
            .field("headers", &self.headers)
            .field("body", &self.body)
            .finish()
    }
}

impl Response {
    /// An empty response with `status`.
    pub fn new(status: u16) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: Body::Empty,
            upgrade: None,
        }
    }

    /// A `200 text/plain` response.
    pub fn text(body: impl Into<Bytes>) -> Response {
        Response::new(200)
            .with_header("content-type", "text/plain; charset=utf-8")
            .with_body(body)
    }

    /// A `200 application/json` response serializing `value` (500 if it cannot be serialized).
    pub fn json<T: serde::Serialize>(value: &T) -> Response {
        match serde_json::to_vec(value) {
            Ok(v) => Response::new(200)
                .with_header("content-type", "application/json")
                .with_body(v),
            Err(_) => Response::error(500),
        }
    }

    /// A response with `status` and its reason phrase as a plain-text body.
    pub fn error(status: u16) -> Response {
        let mut body = String::with_capacity(32);
        body.push_str(reason(status));
        body.push('\n');
        Response::new(status)
            .with_header("content-type", "text/plain; charset=utf-8")
            .with_body(body)
    }

    /// The status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// Replaces the status code.
    pub fn set_status(&mut self, status: u16) {
        self.status = status;
    }

    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| &**v)
    }

    /// All header fields in order.
    pub fn headers(&self) -> impl Iterator<Item = (&str, &str)> {
        self.headers.iter().map(|(n, v)| (&**n, &**v))
    }

    /// Adds a header field (keeping earlier ones of the same name).
    pub fn append_header(&mut self, name: impl Into<HeaderText>, value: impl Into<HeaderText>) {
        self.headers.push((name.into(), value.into()));
    }

    /// Sets a header field, replacing every earlier one of the same name.
    pub fn set_header(&mut self, name: impl Into<HeaderText>, value: impl Into<HeaderText>) {
        let name = name.into();
        self.remove_header(&name);
        self.headers.push((name, value.into()));
    }

    /// Removes every field named `name`.
    pub fn remove_header(&mut self, name: &str) {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
    }

    /// Builder form of [`Response::set_header`].
    pub fn with_header(
        mut self,
        name: impl Into<HeaderText>,
        value: impl Into<HeaderText>,
    ) -> Self {
        self.set_header(name, value);
        self
    }

    /// Builder form that sets a whole in-memory body.
    pub fn with_body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = Body::Full(body.into());
        self
    }

    /// The body.
    pub fn body(&self) -> &Body {
        &self.body
    }

    /// Replaces the body.
    pub fn set_body(&mut self, body: Body) {
        self.body = body;
    }

    /// Takes the body out, leaving it empty.
    pub fn take_body(&mut self) -> Body {
        std::mem::replace(&mut self.body, Body::Empty)
    }

    /// Attaches the callback that takes over the connection once this (101) response is sent.
    pub fn with_upgrade(mut self, on_upgrade: UpgradeFn) -> Self {
        self.upgrade = Some(on_upgrade);
        self
    }

    /// Takes the upgrade callback, if any.
    pub fn take_upgrade(&mut self) -> Option<UpgradeFn> {
        self.upgrade.take()
    }

    /// Whether this status never carries a body (1xx, 204, 304).
    pub fn is_bodyless_status(&self) -> bool {
        self.status < 200 || self.status == 204 || self.status == 304
    }
}

/// How the body follows the serialized head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// Nothing follows (or it is already in the buffer).
    Done,
    /// The `Full` body is too large to copy and must be written after the head.
    FullAfter,
    /// Stream with Content-Length.
    Sized,
    /// Stream with chunked encoding.
    Chunked,
    /// Stream delimited by closing the connection (HTTP/1.0).
    UntilClose,
}

/// Bodies up to this size are copied after the head so the response leaves in one write.
const INLINE_BODY_MAX: usize = 64 * 1024;

/// Serializes the head (and an inline body) of `res` into `out`.
pub(crate) fn write_response_head(
    res: &Response,
    out: &mut BytesMut,
    version: Version,
    keep_alive: bool,
    omit_body: bool,
    date: &str,
) -> Framing {
    out.reserve(256);
    out.put_slice(b"HTTP/1.1 ");
    put_decimal(out, u64::from(res.status));
    out.put_u8(b' ');
    out.put_slice(reason(res.status).as_bytes());
    out.put_slice(b"\r\n");
    let mut has_date = false;
    for (n, v) in &res.headers {
        if n.eq_ignore_ascii_case("content-length")
            || n.eq_ignore_ascii_case("transfer-encoding")
            || n.eq_ignore_ascii_case("connection") && res.status != 101
        {
            continue;
        }
        has_date |= n.eq_ignore_ascii_case("date");
        put_field(out, n, v);
    }
    if !has_date {
        put_field(out, "date", date);
    }
    let bodyless = res.is_bodyless_status();
    let framing = match (&res.body, bodyless) {
        (_, true) => Framing::Done,
        (Body::Stream { len: Some(_), .. }, _) => Framing::Sized,
        (Body::Stream { len: None, .. }, _) if version == Version::Http11 => Framing::Chunked,
        (Body::Stream { .. }, _) => Framing::UntilClose,
        (Body::Full(b), _) if b.len() > INLINE_BODY_MAX && !omit_body => Framing::FullAfter,
        _ => Framing::Done,
    };
    if !bodyless {
        match framing {
            Framing::Chunked => put_field(out, "transfer-encoding", "chunked"),
            Framing::UntilClose => {}
            _ => {
                out.put_slice(b"content-length: ");
                put_decimal(out, res.body.len().unwrap_or(0));
                out.put_slice(b"\r\n");
            }
        }
    }
    if res.status != 101 {
        if !keep_alive || framing == Framing::UntilClose {
            put_field(out, "connection", "close");
        } else if version == Version::Http10 {
            put_field(out, "connection", "keep-alive");
        }
    }
    out.put_slice(b"\r\n");
    if omit_body {
        // HEAD: the head describes the body, which is never sent.
        return Framing::Done;
    }
    if let (Body::Full(b), Framing::Done, false) = (&res.body, framing, bodyless) {
        out.put_slice(b);
    }
    framing
}

fn put_field(out: &mut BytesMut, name: &str, value: &str) {
    out.put_slice(name.as_bytes());
    out.put_slice(b": ");
    // A value with CR or LF would split the response: drop those bytes instead.
    if value.bytes().any(|b| b == b'\r' || b == b'\n') {
        out.extend(value.bytes().filter(|&b| b != b'\r' && b != b'\n'));
    } else {
        out.put_slice(value.as_bytes());
    }
    out.put_slice(b"\r\n");
}

/// Writes `n` in decimal without allocating.
fn put_decimal(out: &mut BytesMut, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.put_slice(&digits[i..]);
}

/// The reason phrase of a status code.
pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        414 => "URI Too Long",
        416 => "Range Not Satisfiable",
        417 => "Expectation Failed",
        426 => "Upgrade Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(res: &Response, version: Version, keep_alive: bool, head: bool) -> String {
        let mut out = BytesMut::new();
        write_response_head(res, &mut out, version, keep_alive, head, "D");
        String::from_utf8(out.to_vec()).unwrap()
    }

    #[test]
    fn full_response_is_one_buffer_with_length() {
        let s = render(&Response::text("hello"), Version::Http11, true, false);
        assert_eq!(
            s,
            "HTTP/1.1 200 OK\r\ncontent-type: text/plain; charset=utf-8\r\ndate: D\r\ncontent-length: 5\r\n\r\nhello"
        );
    }

    #[test]
    fn head_request_gets_length_but_no_body() {
        let s = render(&Response::text("hello"), Version::Http11, true, true);
        assert!(s.ends_with("content-length: 5\r\n\r\n"), "{s}");
    }

    #[test]
    fn connection_header_follows_version_and_persistence() {
        let close = render(&Response::new(204), Version::Http11, false, false);
        assert!(close.contains("connection: close\r\n"));
        assert!(!close.contains("content-length"));
        let ka10 = render(&Response::text("x"), Version::Http10, true, false);
        assert!(ka10.contains("connection: keep-alive\r\n"));
    }

    #[test]
    fn head_of_a_streamed_body_sends_no_body() {
        let mut res = Response::new(200);
        res.set_body(Body::Stream {
            stream: Box::pin(futures::stream::empty()),
            len: Some(12_345),
        });
        let mut out = BytesMut::new();
        let framing = write_response_head(&res, &mut out, Version::Http11, true, true, "D");
        assert_eq!(framing, Framing::Done);
        assert!(String::from_utf8_lossy(&out).contains("content-length: 12345\r\n"));
    }

    #[test]
    fn header_values_cannot_inject_lines() {
        let res = Response::new(200).with_header("x-a", "a\r\nSet-Cookie: evil");
        let s = render(&res, Version::Http11, true, false);
        assert!(s.contains("x-a: aSet-Cookie: evil\r\n"));
    }
}
