//! Typed errors of the framework: what the parser rejects (each with the status it answers) and
//! what can go wrong while serving.

use thiserror::Error;

/// Why a request was rejected by the parser. Every variant maps to one response status
/// ([`ParseError::status`]); after any of them the connection is closed, because the framing of
/// what follows can no longer be trusted.
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// The request line did not end within the configured limit.
    #[error("request line longer than the limit")]
    RequestLineTooLong,
    /// The header section (request line, fields, trailers) exceeded its byte limit.
    #[error("header section larger than the limit")]
    HeadersTooLarge,
    /// More header (or trailer) fields than the limit.
    #[error("too many header fields")]
    TooManyHeaders,
    /// The request line is not `method SP target SP version`.
    #[error("malformed request line")]
    BadRequestLine,
    /// The method is not a token.
    #[error("invalid method")]
    BadMethod,
    /// The method is a valid token the server does not implement (CONNECT, extension methods).
    #[error("method not implemented")]
    MethodNotImplemented,
    /// The request target has characters or a form we do not accept.
    #[error("invalid request target")]
    BadTarget,
    /// A well-formed version other than HTTP/1.0 or HTTP/1.1.
    #[error("HTTP version not supported")]
    VersionNotSupported,
    /// The version is not `HTTP/d.d`.
    #[error("malformed HTTP version")]
    BadVersion,
    /// A line ended in LF without the CR before it.
    #[error("bare LF line ending")]
    BareLf,
    /// A CR that is not followed by LF.
    #[error("bare CR")]
    BareCr,
    /// A field line starting with whitespace (obsolete line folding).
    #[error("obsolete line folding")]
    ObsFold,
    /// Whitespace between a field name and its colon.
    #[error("whitespace before colon")]
    WhitespaceBeforeColon,
    /// A field name that is empty or not a token, or a line with no colon.
    #[error("invalid header name")]
    BadHeaderName,
    /// A field value with control characters such as NUL or DEL.
    #[error("invalid header value")]
    BadHeaderValue,
    /// An HTTP/1.1 request without a Host field.
    #[error("missing Host")]
    MissingHost,
    /// More than one Host field, or an invalid Host value.
    #[error("duplicate or invalid Host")]
    BadHost,
    /// A Content-Length that is not a plain decimal number.
    #[error("malformed Content-Length")]
    BadContentLength,
    /// More than one Content-Length field (equal or not).
    #[error("duplicate Content-Length")]
    DuplicateContentLength,
    /// Both Content-Length and Transfer-Encoding: the classic smuggling vector.
    #[error("both Content-Length and Transfer-Encoding")]
    ContentLengthWithTransferEncoding,
    /// Transfer-Encoding whose final coding is not `chunked`, or with `chunked` twice.
    #[error("Transfer-Encoding is not exactly chunked-last")]
    ChunkedNotLast,
    /// `chunked` is last but preceded by a coding we do not implement (gzip, ...).
    #[error("transfer coding not implemented")]
    UnsupportedTransferCoding,
    /// Transfer-Encoding in an HTTP/1.0 request.
    #[error("Transfer-Encoding in an HTTP/1.0 request")]
    TransferEncodingOnHttp10,
    /// The body is larger than the configured limit.
    #[error("body larger than the limit")]
    BodyTooLarge,
    /// A chunk size that is empty, not hex, or too long.
    #[error("invalid chunk size")]
    BadChunkSize,
    /// A chunk extension that does not follow the grammar.
    #[error("invalid chunk extension")]
    BadChunkExtension,
    /// Chunk data not followed by CRLF.
    #[error("chunk data not followed by CRLF")]
    BadChunkTerminator,
    /// An `Expect` other than `100-continue`.
    #[error("unsupported expectation")]
    ExpectationFailed,
}

impl ParseError {
    /// The status code this rejection is answered with.
    pub fn status(self) -> u16 {
        match self {
            ParseError::RequestLineTooLong => 414,
            ParseError::HeadersTooLarge | ParseError::TooManyHeaders => 431,
            ParseError::MethodNotImplemented | ParseError::UnsupportedTransferCoding => 501,
            ParseError::VersionNotSupported => 505,
            ParseError::BodyTooLarge => 413,
            ParseError::ExpectationFailed => 417,
            _ => 400,
        }
    }
}

/// Errors from running a server.
#[derive(Debug, Error)]
pub enum ServeError {
    /// Binding or accepting on the listener failed.
    #[error("listener: {0}")]
    Io(#[from] std::io::Error),
    /// TLS configuration (certificate, key) was rejected.
    #[error("tls: {0}")]
    Tls(String),
}
