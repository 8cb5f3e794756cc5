//! The incremental HTTP/1.1 request parser.
//!
//! Bytes arrive in a `BytesMut` the connection reuses; [`RequestParser::parse`] consumes what it
//! can and returns a [`Request`] once one is complete, or `Ok(None)` to ask for more. The head is
//! split off the buffer and frozen, so every header is a span into it rather than a copy; a
//! Content-Length body is split off the same way. Several pipelined requests in one buffer come
//! out one call at a time, in order.
//!
//! It is strict on purpose: anything a front-end proxy could read differently (request
//! smuggling) is a [`ParseError`], answered with its status and a closed connection. See
//! RFC 9112 sections 2-7 for the grammar; the rejected cases are listed on [`ParseError`].

use bytes::{Buf, Bytes, BytesMut};

use super::chunked::{ChunkState, decode_chunked};
use super::error::ParseError;
use super::request::{Extensions, Method, Request, Span, Version};

/// Bounds on everything the client controls.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Longest request line, CRLF included (414 beyond).
    pub max_request_line: usize,
    /// Largest header section, request line included (431 beyond); trailers get the same budget.
    pub max_head: usize,
    /// Most header fields (431 beyond); trailers get the same count.
    pub max_headers: usize,
    /// Largest body after de-chunking (413 beyond).
    pub max_body: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_request_line: 8 * 1024,
            max_head: 32 * 1024,
            max_headers: 100,
            max_body: 2 * 1024 * 1024,
        }
    }
}

/// Empty lines tolerated before a request line (RFC 9112 2.2 robustness).
const MAX_LEADING_CRLF: usize = 4;

#[derive(Debug)]
enum State {
    /// Looking for the end of a head: `scanned` bytes checked, current line starts at
    /// `line_start`, `lines` complete lines seen.
    Head {
        scanned: usize,
        line_start: usize,
        lines: usize,
    },
    /// Head parsed; collecting the body.
    Body(Box<Request>, BodyState),
}

#[derive(Debug)]
enum BodyState {
    Length(usize),
    Chunked {
        state: ChunkState,
        data: BytesMut,
        trailers: Vec<(String, String)>,
    },
}

/// What the head said about framing and persistence.
struct Framing {
    content_length: Option<u64>,
    chunked: bool,
}

/// An incremental request parser for one connection.
#[derive(Debug)]
pub struct RequestParser {
    limits: Limits,
    state: State,
    continue_pending: bool,
    leading_empty: usize,
}

impl RequestParser {
    /// A parser enforcing `limits`.
    pub fn new(limits: Limits) -> RequestParser {
        RequestParser {
            limits,
            state: State::Head {
                scanned: 0,
                line_start: 0,
                lines: 0,
            },
            continue_pending: false,
            leading_empty: 0,
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Whether the parser is between requests with nothing of the next one consumed yet.
    pub fn is_idle(&self) -> bool {
        matches!(self.state, State::Head { scanned: 0, .. })
    }

    /// Whether a head has been parsed and its body is still arriving.
    pub fn in_body(&self) -> bool {
        matches!(self.state, State::Body(..))
    }

    /// True once after a head with `Expect: 100-continue` whose body has not arrived: the server
    /// should now send `100 Continue`.
    pub fn take_continue(&mut self) -> bool {
        std::mem::take(&mut self.continue_pending)
    }

    /// Consumes bytes of `buf` and returns the next complete request, `Ok(None)` if more bytes
    /// are needed. After an error the connection must be closed: the parser state is undefined.
    pub fn parse(&mut self, buf: &mut BytesMut) -> Result<Option<Request>, ParseError> {
        if let State::Head { .. } = self.state {
            let Some(head_len) = self.find_head_end(buf)? else {
                return Ok(None);
            };
            let head = buf.split_to(head_len).freeze();
            self.reset_head();
            let (req, framing) = parse_head(head, &self.limits)?;
            let body = if framing.chunked {
                BodyState::Chunked {
                    state: ChunkState::Size,
                    data: BytesMut::new(),
                    trailers: Vec::new(),
                }
            } else {
                match framing.content_length {
                    Some(0) | None => return Ok(Some(req)),
                    Some(n) => {
                        let n = usize::try_from(n).map_err(|_| ParseError::BodyTooLarge)?;
                        if n > buf.len() {
                            buf.reserve(n - buf.len());
                        }
                        BodyState::Length(n)
                    }
                }
            };
            self.continue_pending = req.expect_continue && buf.is_empty();
            self.state = State::Body(Box::new(req), body);
        }
        let State::Body(_, body) = &mut self.state else {
            return Ok(None);
        };
        let done = match body {
            BodyState::Length(n) => {
                if buf.len() < *n {
                    return Ok(None);
                }
                Some(buf.split_to(*n).freeze())
            }
            BodyState::Chunked {
                state,
                data,
                trailers,
            } => {
                if decode_chunked(state, buf, data, trailers, &self.limits)? {
                    Some(std::mem::take(data).freeze())
                } else {
                    None
                }
            }
        };
        let Some(body_bytes) = done else {
            return Ok(None);
        };
        let old = std::mem::replace(
            &mut self.state,
            State::Head {
                scanned: 0,
                line_start: 0,
                lines: 0,
            },
        );
        self.continue_pending = false;
        match old {
            State::Body(mut req, BodyState::Chunked { trailers, .. }) => {
                req.body = body_bytes;
                req.trailers = trailers;
                Ok(Some(*req))
            }
            State::Body(mut req, _) => {
                req.body = body_bytes;
                Ok(Some(*req))
            }
            State::Head { .. } => Ok(None),
        }
    }

    fn reset_head(&mut self) {
        self.state = State::Head {
            scanned: 0,
            line_start: 0,
            lines: 0,
        };
    }

    /// Finds the end of the head (the empty line), scanning only new bytes. Leading empty lines
    /// are dropped from `buf`.
    fn find_head_end(&mut self, buf: &mut BytesMut) -> Result<Option<usize>, ParseError> {
        let limits = self.limits;
        let State::Head {
            scanned,
            line_start,
            lines,
        } = &mut self.state
        else {
            return Ok(None);
        };
        while let Some(off) = buf[*scanned..].iter().position(|&b| b == b'\n') {
            let lf = *scanned + off;
            if lf == 0 || buf[lf - 1] != b'\r' {
                return Err(ParseError::BareLf);
            }
            if *lines == 0 && lf + 1 > limits.max_request_line {
                return Err(ParseError::RequestLineTooLong);
            }
            if lf + 1 > limits.max_head {
                return Err(ParseError::HeadersTooLarge);
            }
            let empty = lf - *line_start == 1;
            if empty && *lines == 0 {
                // An empty line before the request line (RFC 9112 2.2): drop it.
                self.leading_empty += 1;
                if self.leading_empty > MAX_LEADING_CRLF {
                    return Err(ParseError::BadRequestLine);
                }
                buf.advance(lf + 1);
                *scanned = 0;
                *line_start = 0;
                continue;
            }
            *scanned = lf + 1;
            *line_start = lf + 1;
            if empty {
                self.leading_empty = 0;
                return Ok(Some(lf + 1));
            }
            *lines += 1;
            if *lines > limits.max_headers + 1 {
                return Err(ParseError::TooManyHeaders);
            }
        }
        *scanned = buf.len();
        if *lines == 0 && buf.len() >= limits.max_request_line {
            return Err(ParseError::RequestLineTooLong);
        }
        if buf.len() >= limits.max_head {
            return Err(ParseError::HeadersTooLarge);
        }
        Ok(None)
    }
}

/// `tchar` from RFC 9110 5.6.2.
pub(crate) fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| is_tchar(b))
}

pub(crate) fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// Splits a head into lines without their CRLF; a CR inside a line is a bare CR.
fn lines(head: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    let mut pos = 0;
    std::iter::from_fn(move || {
        let rest = head.get(pos..)?;
        let lf = rest.iter().position(|&b| b == b'\n')?;
        let start = pos;
        pos += lf + 1;
        Some((start, &rest[..lf.saturating_sub(1)]))
    })
}

/// Validates one `field-name: value` line; returns the name and value ranges within `line`.
pub(crate) fn parse_field_line(
    line: &[u8],
) -> Result<(std::ops::Range<usize>, std::ops::Range<usize>), ParseError> {
    if matches!(line.first(), Some(b' ' | b'\t')) {
        return Err(ParseError::ObsFold);
    }
    if line.contains(&b'\r') {
        return Err(ParseError::BareCr);
    }
    let colon = line
        .iter()
        .position(|&b| b == b':')
        .ok_or(ParseError::BadHeaderName)?;
    let name = &line[..colon];
    if matches!(name.last(), Some(b' ' | b'\t')) {
        return Err(ParseError::WhitespaceBeforeColon);
    }
    if !is_token(name) {
        return Err(ParseError::BadHeaderName);
    }
    let raw = &line[colon + 1..];
    let value = trim_ows(raw);
    if value
        .iter()
        .any(|&b| !(b == b'\t' || b == b' ' || (0x21..=0x7e).contains(&b) || b >= 0x80))
    {
        return Err(ParseError::BadHeaderValue);
    }
    let lead = raw.len() - trim_ows_start(raw).len();
    let vstart = colon + 1 + lead;
    Ok((0..colon, vstart..vstart + value.len()))
}

pub(crate) fn trim_ows_start(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    s
}

fn parse_request_line(line: &[u8], req: &mut Request) -> Result<(), ParseError> {
    if line.contains(&b'\r') {
        return Err(ParseError::BareCr);
    }
    let sp1 = line
        .iter()
        .position(|&b| b == b' ')
        .ok_or(ParseError::BadRequestLine)?;
    let rest = &line[sp1 + 1..];
    let sp2 = rest
        .iter()
        .position(|&b| b == b' ')
        .ok_or(ParseError::BadRequestLine)?;
    let (method, target, version) = (&line[..sp1], &rest[..sp2], &rest[sp2 + 1..]);
    if target.is_empty() || version.contains(&b' ') {
        return Err(ParseError::BadRequestLine);
    }
    if !is_token(method) {
        return Err(if method.is_empty() {
            ParseError::BadRequestLine
        } else {
            ParseError::BadMethod
        });
    }
    req.version = match version {
        b"HTTP/1.1" => Version::Http11,
        b"HTTP/1.0" => Version::Http10,
        [b'H', b'T', b'T', b'P', b'/', a, b'.', b] if a.is_ascii_digit() && b.is_ascii_digit() => {
            return Err(ParseError::VersionNotSupported);
        }
        _ => return Err(ParseError::BadVersion),
    };
    req.method = Method::from_bytes(method).ok_or(ParseError::MethodNotImplemented)?;
    if target.is_empty()
        || target
            .iter()
            .any(|&b| !(0x21..=0x7e).contains(&b) || b == b'#')
    {
        return Err(ParseError::BadTarget);
    }
    let tstart = sp1 + 1;
    req.target = Span::new(tstart, tstart + target.len());
    // origin-form, `*` for OPTIONS, or absolute-form (whose authority we drop).
    let path_start = if target[0] == b'/' || (target == b"*" && req.method == Method::Options) {
        0
    } else {
        let lower = target.to_ascii_lowercase();
        let after = if lower.starts_with(b"http://") {
            7
        } else if lower.starts_with(b"https://") {
            8
        } else {
            return Err(ParseError::BadTarget);
        };
        target[after..]
            .iter()
            .position(|&b| b == b'/' || b == b'?')
            .map_or(target.len(), |p| after + p)
    };
    let path_and_query = &target[path_start..];
    let q = path_and_query.iter().position(|&b| b == b'?');
    let path_end = q.map_or(target.len(), |q| path_start + q);
    req.path = Span::new(tstart + path_start, tstart + path_end);
    req.query = q.map(|_| Span::new(tstart + path_end + 1, tstart + target.len()));
    if req.path.start != req.path.end && target[path_start] != b'/' && target != b"*" {
        return Err(ParseError::BadTarget);
    }
    Ok(())
}

fn valid_host(v: &[u8]) -> bool {
    v.iter()
        .all(|&b| b.is_ascii_alphanumeric() || b"-._~%!$&'()*+,;=:[]".contains(&b))
}

/// Parses and validates a complete head (request line through the empty line).
fn parse_head(head: Bytes, limits: &Limits) -> Result<(Request, Framing), ParseError> {
    let mut req = Request {
        head: Bytes::new(),
        method: Method::Get,
        version: Version::Http11,
        target: Span::default(),
        path: Span::default(),
        query: None,
        headers: Vec::new(),
        body: Bytes::new(),
        trailers: Vec::new(),
        keep_alive: true,
        expect_continue: false,
        peer: None,
        params: Vec::new(),
        route: None,
        extensions: Extensions::default(),
    };
    let mut it = lines(&head);
    let (_, request_line) = it.next().ok_or(ParseError::BadRequestLine)?;
    parse_request_line(request_line, &mut req)?;
    let mut content_length: Option<u64> = None;
    let mut te: Option<TeSummary> = None;
    let (mut hosts, mut close, mut keep_alive) = (0usize, false, false);
    for (start, line) in it {
        if line.is_empty() {
            break;
        }
        let (name_r, value_r) = parse_field_line(line)?;
        if req.headers.len() >= limits.max_headers {
            return Err(ParseError::TooManyHeaders);
        }
        let (name, value) = (&line[name_r.clone()], &line[value_r.clone()]);
        req.headers.push((
            Span::new(start + name_r.start, start + name_r.end),
            Span::new(start + value_r.start, start + value_r.end),
        ));
        if name.eq_ignore_ascii_case(b"content-length") {
            if content_length.is_some() {
                return Err(ParseError::DuplicateContentLength);
            }
            content_length = Some(parse_content_length(value)?);
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            te.get_or_insert_with(TeSummary::default).add(value)?;
        } else if name.eq_ignore_ascii_case(b"host") {
            hosts += 1;
            if hosts > 1 || !valid_host(value) {
                return Err(ParseError::BadHost);
            }
        } else if name.eq_ignore_ascii_case(b"connection") {
            for token in value.split(|&b| b == b',').map(trim_ows) {
                close |= token.eq_ignore_ascii_case(b"close");
                keep_alive |= token.eq_ignore_ascii_case(b"keep-alive");
            }
        } else if name.eq_ignore_ascii_case(b"expect") {
            if !value.eq_ignore_ascii_case(b"100-continue") {
                return Err(ParseError::ExpectationFailed);
            }
            req.expect_continue = req.version == Version::Http11;
        }
    }
    let http11 = req.version == Version::Http11;
    if http11 && hosts == 0 {
        return Err(ParseError::MissingHost);
    }
    let chunked = match te {
        None => false,
        Some(_) if !http11 => return Err(ParseError::TransferEncodingOnHttp10),
        Some(_) if content_length.is_some() => {
            return Err(ParseError::ContentLengthWithTransferEncoding);
        }
        Some(te) => te.verdict()?,
    };
    if content_length.is_some_and(|n| n > limits.max_body as u64) {
        return Err(ParseError::BodyTooLarge);
    }
    req.keep_alive = if http11 { !close } else { keep_alive && !close };
    req.head = head;
    Ok((
        req,
        Framing {
            content_length,
            chunked,
        },
    ))
}

fn parse_content_length(v: &[u8]) -> Result<u64, ParseError> {
    if v.is_empty() || v.len() > 19 || !v.iter().all(u8::is_ascii_digit) {
        return Err(ParseError::BadContentLength);
    }
    v.iter().try_fold(0u64, |acc, &d| {
        acc.checked_mul(10)
            .and_then(|a| a.checked_add(u64::from(d - b'0')))
            .ok_or(ParseError::BadContentLength)
    })
}

/// The transfer codings across every Transfer-Encoding field, in order.
#[derive(Default)]
struct TeSummary {
    codings: usize,
    chunked_count: usize,
    last_is_chunked: bool,
}

impl TeSummary {
    fn add(&mut self, value: &[u8]) -> Result<(), ParseError> {
        for coding in value.split(|&b| b == b',').map(trim_ows) {
            let name = coding.split(|&b| b == b';').next().map(trim_ows);
            let name = name.unwrap_or_default();
            if !is_token(name) {
                return Err(ParseError::ChunkedNotLast);
            }
            let is_chunked = name.eq_ignore_ascii_case(b"chunked");
            if is_chunked && name.len() != coding.len() {
                // `chunked` takes no parameters.
                return Err(ParseError::ChunkedNotLast);
            }
            self.codings += 1;
            self.chunked_count += usize::from(is_chunked);
            self.last_is_chunked = is_chunked;
        }
        Ok(())
    }

    /// `Ok(true)` for exactly `chunked`; 400 when chunked is not last or repeated, 501 when
    /// other codings precede it.
    fn verdict(&self) -> Result<bool, ParseError> {
        if !self.last_is_chunked || self.chunked_count != 1 {
            Err(ParseError::ChunkedNotLast)
        } else if self.codings > 1 {
            Err(ParseError::UnsupportedTransferCoding)
        } else {
            Ok(true)
        }
    }
}

#[cfg(test)]
#[path = "parser_tests.rs"]
mod tests;
