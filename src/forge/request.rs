//! The request a handler sees: method, target, version and header fields as views into the one
//! buffer the head was read into (no copy per field), the body, and what routing and middleware
//! attach on the way (path parameters, the matched route, typed extensions).

use std::any::{Any, TypeId};
use std::borrow::Cow;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;

use super::error::ParseError;
use super::parser::{Limits, RequestParser};

/// The request methods the server implements. Other valid tokens are answered with 501.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    /// GET
    Get,
    /// HEAD
    Head,
    /// POST
    Post,
    /// PUT
    Put,
    /// DELETE
    Delete,
    /// OPTIONS
    Options,
    /// PATCH
    Patch,
    /// TRACE
    Trace,
}

impl Method {
    /// Every implemented method, in the order `Allow` lists them.
    pub const ALL: [Method; 8] = [
        Method::Get,
        Method::Head,
        Method::Post,
        Method::Put,
        Method::Delete,
        Method::Options,
        Method::Patch,
        Method::Trace,
    ];

    /// The method as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
            Method::Options => "OPTIONS",
            Method::Patch => "PATCH",
            Method::Trace => "TRACE",
        }
    }

    /// Parses a method token (case-sensitive, as the RFC says); `None` for anything else.
    pub fn from_bytes(token: &[u8]) -> Option<Method> {
        Method::ALL
            .into_iter()
            .find(|m| m.as_str().as_bytes() == token)
    }
}

/// The protocol version of a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    /// HTTP/1.0: connections close unless the client asks for keep-alive.
    Http10,
    /// HTTP/1.1: connections persist unless either side says `close`.
    Http11,
}

/// A byte range into the request head.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Span {
    pub(crate) start: u32,
    pub(crate) end: u32,
}

impl Span {
    pub(crate) fn new(start: usize, end: usize) -> Span {
        // The head is bounded by `Limits::max_head`, far below u32::MAX.
        Span {
            start: start as u32,
            end: end as u32,
        }
    }
    fn get(self, head: &[u8]) -> &[u8] {
        head.get(self.start as usize..self.end as usize)
            .unwrap_or_default()
    }
}

/// Typed values that middleware attaches to a request (for example verified JWT claims).
#[derive(Default)]
pub struct Extensions {
    map: Option<HashMap<TypeId, Box<dyn Any + Send + Sync>>>,
}

impl Extensions {
    /// Stores `value`, replacing any earlier value of the same type.
    pub fn insert<T: Send + Sync + 'static>(&mut self, value: T) {
        self.map
            .get_or_insert_with(Default::default)
            .insert(TypeId::of::<T>(), Box::new(value));
    }

    /// The stored value of type `T`, if any.
    pub fn get<T: Send + Sync + 'static>(&self) -> Option<&T> {
        self.map
            .as_ref()?
            .get(&TypeId::of::<T>())?
            .downcast_ref::<T>()
    }
}

impl std::fmt::Debug for Extensions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.map.as_ref().map_or(0, |m| m.len());
        write!(f, "Extensions({n})")
    }
}

/// A parsed HTTP request.
#[derive(Debug)]
pub struct Request {
    pub(crate) head: Bytes,
    pub(crate) method: Method,
    pub(crate) version: Version,
    pub(crate) target: Span,
    pub(crate) path: Span,
    pub(crate) query: Option<Span>,
    pub(crate) headers: Vec<(Span, Span)>,
    pub(crate) body: Bytes,
    pub(crate) trailers: Vec<(String, String)>,
    pub(crate) keep_alive: bool,
    pub(crate) expect_continue: bool,
    pub(crate) peer: Option<SocketAddr>,
    pub(crate) params: Vec<(Arc<str>, String)>,
    pub(crate) route: Option<Arc<str>>,
    /// Values attached by middleware.
    pub extensions: Extensions,
}

impl Request {
    /// Parses one complete request from `raw` with default limits (handy in tests and tools).
    /// Returns `Ok(None)` when `raw` holds only part of a request.
    pub fn from_raw(raw: &[u8]) -> Result<Option<Request>, ParseError> {
        let mut parser = RequestParser::new(Limits::default());
        let mut buf = bytes::BytesMut::from(raw);
        parser.parse(&mut buf)
    }

    /// The request method.
    pub fn method(&self) -> Method {
        self.method
    }

    /// The protocol version.
    pub fn version(&self) -> Version {
        self.version
    }

    /// The request target exactly as sent (`/a/b?x=1`).
    pub fn target(&self) -> &str {
        std::str::from_utf8(self.target.get(&self.head)).unwrap_or("/")
    }

    /// The path of the target, still percent-encoded; `/` for an absolute-form target without one.
    pub fn path(&self) -> &str {
        match std::str::from_utf8(self.path.get(&self.head)) {
            Ok("") | Err(_) => "/",
            Ok(p) => p,
        }
    }

    /// The query string without the `?`, if there is one.
    pub fn query(&self) -> Option<&str> {
        self.query
            .and_then(|q| std::str::from_utf8(q.get(&self.head)).ok())
    }

    /// The first value of query parameter `name`, percent-decoded.
    pub fn query_param(&self, name: &str) -> Option<Cow<'_, str>> {
        self.query()?.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (k == name).then(|| percent_decode(v).unwrap_or(Cow::Borrowed(v)))
        })
    }

    /// The first value of header `name` (case-insensitive) as text; `None` if absent or not UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
    }

    /// Every value of header `name` (case-insensitive), in order.
    pub fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers().filter_map(move |(n, v)| {
            if n.eq_ignore_ascii_case(name) {
                std::str::from_utf8(v).ok()
            } else {
                None
            }
        })
    }

    /// All header fields as (name, raw value) in the order received.
    pub fn headers(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.headers.iter().map(|(n, v)| {
            let name = std::str::from_utf8(n.get(&self.head)).unwrap_or("");
            (name, v.get(&self.head))
        })
    }

    /// Whether the comma-separated header `name` contains `token` (case-insensitive).
    pub fn header_has_token(&self, name: &str, token: &str) -> bool {
        self.header_values(name)
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }

    /// The body (empty when the request had none).
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// Trailer fields received after a chunked body (names lower-cased).
    pub fn trailers(&self) -> &[(String, String)] {
        &self.trailers
    }

    /// Whether the connection may carry another request after this one.
    pub fn keep_alive(&self) -> bool {
        self.keep_alive
    }

    /// Whether the client sent `Expect: 100-continue`.
    pub fn expects_continue(&self) -> bool {
        self.expect_continue
    }

    /// The client's address (set by the server; `None` for requests built by hand).
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.peer
    }

    /// Sets the client's address (for tests and custom transports).
    pub fn set_peer_addr(&mut self, peer: SocketAddr) {
        self.peer = Some(peer);
    }

    /// The value of path parameter `name` (`:name` or `*name` in the route), percent-decoded.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| &**n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The route pattern that matched (`/users/:id`), for labels that must not explode in
    /// cardinality; `None` when no route matched.
    pub fn route(&self) -> Option<&str> {
        self.route.as_deref()
    }
}

/// Decodes `%XX` escapes. `None` when an escape is malformed or the result is not UTF-8.
pub fn percent_decode(s: &str) -> Option<Cow<'_, str>> {
    if !s.contains('%') {
        return Some(Cow::Borrowed(s));
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hi = hex_val(*bytes.get(i + 1)?)?;
            let lo = hex_val(*bytes.get(i + 2)?)?;
            out.push(hi << 4 | lo);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok().map(Cow::Owned)
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accessors_view_the_head_without_copies() {
        let raw = b"GET /a/b%20c?x=1&y=h%C3%A9 HTTP/1.1\r\nHost: h\r\nX-Multi: a, b\r\nx-multi: c\r\n\r\n";
        let req = Request::from_raw(raw).unwrap().unwrap();
        assert_eq!(req.method(), Method::Get);
        assert_eq!(req.path(), "/a/b%20c");
        assert_eq!(req.query(), Some("x=1&y=h%C3%A9"));
        assert_eq!(req.query_param("y").as_deref(), Some("hé"));
        assert_eq!(req.header("HOST"), Some("h"));
        assert_eq!(req.header_values("x-multi").count(), 2);
        assert!(req.header_has_token("x-multi", "B"));
        assert!(req.keep_alive());
    }

    #[test]
    fn percent_decode_rejects_broken_escapes() {
        assert_eq!(percent_decode("a%2Fb").as_deref(), Some("a/b"));
        assert_eq!(percent_decode("a%2"), None);
        assert_eq!(percent_decode("a%zz"), None);
        assert_eq!(percent_decode("%FF"), None);
    }

    #[test]
    fn extensions_store_by_type() {
        let mut ext = Extensions::default();
        assert!(ext.get::<u32>().is_none());
        ext.insert(5u32);
        ext.insert("x");
        assert_eq!(ext.get::<u32>(), Some(&5));
        assert_eq!(ext.get::<&str>(), Some(&"x"));
    }
}
