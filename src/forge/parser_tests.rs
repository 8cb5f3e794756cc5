use super::*;
use proptest::prelude::*;

fn parse_all(raw: &[u8]) -> Result<Option<Request>, ParseError> {
    let mut p = RequestParser::new(Limits::default());
    let mut buf = BytesMut::from(raw);
    p.parse(&mut buf)
}

fn reject(raw: &str) -> ParseError {
    match parse_all(raw.as_bytes()) {
        Err(e) => e,
        Ok(r) => panic!("accepted {raw:?}: {r:?}"),
    }
}

fn accept(raw: &str) -> Request {
    parse_all(raw.as_bytes())
        .unwrap_or_else(|e| panic!("rejected {raw:?}: {e}"))
        .unwrap_or_else(|| panic!("incomplete {raw:?}"))
}

#[test]
fn simple_get_parses_with_spans_into_the_head() {
    let req = accept("GET /hello?x=1 HTTP/1.1\r\nHost: example\r\nX-A:  v  \r\n\r\n");
    assert_eq!(req.method(), Method::Get);
    assert_eq!(req.path(), "/hello");
    assert_eq!(req.query(), Some("x=1"));
    assert_eq!(req.header("x-a"), Some("v"));
    assert!(req.keep_alive());
    assert!(req.body().is_empty());
}

#[test]
fn request_arriving_byte_by_byte_is_assembled() {
    let raw = b"POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello";
    let mut p = RequestParser::new(Limits::default());
    let mut buf = BytesMut::new();
    let mut got = None;
    for &b in raw.iter() {
        buf.extend_from_slice(&[b]);
        if let Some(r) = p.parse(&mut buf).unwrap() {
            got = Some(r);
        }
    }
    assert_eq!(got.unwrap().body().as_ref(), b"hello");
}

#[test]
fn pipelined_requests_come_out_in_order() {
    let raw = b"GET /1 HTTP/1.1\r\nHost: h\r\n\r\nPOST /2 HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nabGET /3 HTTP/1.1\r\nHost: h\r\n\r\n";
    let mut p = RequestParser::new(Limits::default());
    let mut buf = BytesMut::from(&raw[..]);
    let paths: Vec<String> = std::iter::from_fn(|| p.parse(&mut buf).unwrap())
        .map(|r| r.path().to_owned())
        .collect();
    assert_eq!(paths, ["/1", "/2", "/3"]);
    assert!(buf.is_empty());
}

#[test]
fn chunked_body_with_extensions_and_trailers_is_decoded() {
    let req = accept(
        "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n\
         5;name=val\r\nhello\r\n6 ; q=\"a b\"\r\n world\r\n0\r\nX-Sum: 42\r\n\r\n",
    );
    assert_eq!(req.body().as_ref(), b"hello world");
    assert_eq!(req.trailers(), [("x-sum".to_owned(), "42".to_owned())]);
}

#[test]
fn chunked_body_split_across_reads_is_decoded() {
    let raw = b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nA\r\n0123456789\r\n0\r\n\r\n";
    for split in 1..raw.len() {
        let mut p = RequestParser::new(Limits::default());
        let mut buf = BytesMut::from(&raw[..split]);
        let first = p.parse(&mut buf).unwrap();
        assert!(first.is_none(), "complete too early at {split}");
        buf.extend_from_slice(&raw[split..]);
        let req = p.parse(&mut buf).unwrap().unwrap();
        assert_eq!(req.body().as_ref(), b"0123456789");
    }
}

#[test]
fn expect_continue_is_signalled_once_before_the_body() {
    let mut p = RequestParser::new(Limits::default());
    let mut buf = BytesMut::from(
        &b"PUT /x HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n"[..],
    );
    assert!(p.parse(&mut buf).unwrap().is_none());
    assert!(p.take_continue());
    assert!(!p.take_continue());
    buf.extend_from_slice(b"abc");
    assert!(p.parse(&mut buf).unwrap().unwrap().expects_continue());
}

#[test]
fn http10_closes_unless_keep_alive_and_11_persists_unless_close() {
    assert!(!accept("GET / HTTP/1.0\r\n\r\n").keep_alive());
    assert!(accept("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").keep_alive());
    assert!(!accept("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n").keep_alive());
    assert!(accept("GET / HTTP/1.1\r\nHost: h\r\n\r\n").keep_alive());
}

#[test]
fn leading_empty_lines_and_absolute_form_are_accepted() {
    let req = accept("\r\nGET http://example.com/a?b HTTP/1.1\r\nHost: example.com\r\n\r\n");
    assert_eq!(req.path(), "/a");
    assert_eq!(req.query(), Some("b"));
    assert_eq!(accept("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n").path(), "*");
}

#[test]
fn leading_empty_lines_split_across_reads_are_skipped_but_bounded() {
    let mut p = RequestParser::new(Limits::default());
    let mut buf = BytesMut::from(&b"\r"[..]);
    assert!(p.parse(&mut buf).unwrap().is_none());
    buf.extend_from_slice(b"\nGET / HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(p.parse(&mut buf).unwrap().unwrap().path(), "/");
    let e = reject(&format!(
        "{}GET / HTTP/1.1\r\nHost: h\r\n\r\n",
        "\r\n".repeat(5)
    ));
    assert_eq!(e, ParseError::BadRequestLine);
}

#[test]
fn identical_content_length_twice_is_still_rejected() {
    let e = reject("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\na");
    assert_eq!(e, ParseError::DuplicateContentLength);
}

macro_rules! rejects {
    ($($name:ident: $raw:expr => $err:ident, $status:expr;)*) => {$(
        #[test]
        fn $name() {
            let e = reject($raw);
            assert_eq!(e, ParseError::$err, "{:?}", $raw);
            assert_eq!(e.status(), $status);
        }
    )*};
}

rejects! {
    rejects_cl_and_te: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" => ContentLengthWithTransferEncoding, 400;
    rejects_te_and_cl: "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n" => ContentLengthWithTransferEncoding, 400;
    rejects_differing_cl: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab" => DuplicateContentLength, 400;
    rejects_cl_list: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1, 1\r\n\r\na" => BadContentLength, 400;
    rejects_signed_cl: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +1\r\n\r\na" => BadContentLength, 400;
    rejects_negative_cl: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n" => BadContentLength, 400;
    rejects_hex_cl: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0x5\r\n\r\n" => BadContentLength, 400;
    rejects_empty_cl: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: \r\n\r\n" => BadContentLength, 400;
    rejects_overflowing_cl: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999\r\n\r\n" => BadContentLength, 400;
    rejects_huge_cl_as_too_large: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 9999999999\r\n\r\n" => BodyTooLarge, 413;
    rejects_chunked_not_last: "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, identity\r\n\r\n" => ChunkedNotLast, 400;
    rejects_chunked_twice: "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n" => ChunkedNotLast, 400;
    rejects_te_without_chunked: "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n" => ChunkedNotLast, 400;
    rejects_obfuscated_chunked: "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: xchunked\r\n\r\n" => ChunkedNotLast, 400;
    rejects_chunked_with_params: "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked;x=1\r\n\r\n" => ChunkedNotLast, 400;
    rejects_empty_te: "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: \r\n\r\n" => ChunkedNotLast, 400;
    rejects_gzip_then_chunked_as_not_implemented: "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n" => UnsupportedTransferCoding, 501;
    rejects_te_on_http10: "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" => TransferEncodingOnHttp10, 400;
    rejects_obs_fold: "GET / HTTP/1.1\r\nHost: h\r\nX-A: a\r\n b\r\n\r\n" => ObsFold, 400;
    rejects_obs_fold_tab: "GET / HTTP/1.1\r\nHost: h\r\nX-A: a\r\n\tb\r\n\r\n" => ObsFold, 400;
    rejects_space_before_colon: "GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding : chunked\r\n\r\n" => WhitespaceBeforeColon, 400;
    rejects_tab_before_colon: "GET / HTTP/1.1\r\nHost: h\r\nContent-Length\t: 1\r\n\r\n" => WhitespaceBeforeColon, 400;
    rejects_bare_cr_in_value: "GET / HTTP/1.1\r\nHost: h\r\nX-A: a\rb\r\n\r\n" => BareCr, 400;
    rejects_bare_cr_in_request_line: "GET /\r HTTP/1.1\r\nHost: h\r\n\r\n" => BareCr, 400;
    rejects_bare_lf: "GET / HTTP/1.1\nHost: h\n\n" => BareLf, 400;
    rejects_bare_lf_in_headers: "GET / HTTP/1.1\r\nHost: h\nX: y\r\n\r\n" => BareLf, 400;
    rejects_nul_in_value: "GET / HTTP/1.1\r\nHost: h\r\nX-A: a\0b\r\n\r\n" => BadHeaderValue, 400;
    rejects_del_in_value: "GET / HTTP/1.1\r\nHost: h\r\nX-A: a\x7fb\r\n\r\n" => BadHeaderValue, 400;
    rejects_bad_header_name: "GET / HTTP/1.1\r\nHost: h\r\nX(A): b\r\n\r\n" => BadHeaderName, 400;
    rejects_empty_header_name: "GET / HTTP/1.1\r\nHost: h\r\n: b\r\n\r\n" => BadHeaderName, 400;
    rejects_line_without_colon: "GET / HTTP/1.1\r\nHost: h\r\nnocolon\r\n\r\n" => BadHeaderName, 400;
    rejects_bad_method_token: "G(T / HTTP/1.1\r\nHost: h\r\n\r\n" => BadMethod, 400;
    rejects_unknown_method: "BREW / HTTP/1.1\r\nHost: h\r\n\r\n" => MethodNotImplemented, 501;
    rejects_connect: "CONNECT h:443 HTTP/1.1\r\nHost: h\r\n\r\n" => MethodNotImplemented, 501;
    rejects_double_space: "GET  / HTTP/1.1\r\nHost: h\r\n\r\n" => BadRequestLine, 400;
    rejects_missing_version: "GET /\r\nHost: h\r\n\r\n" => BadRequestLine, 400;
    rejects_trailing_space_version: "GET / HTTP/1.1 \r\nHost: h\r\n\r\n" => BadRequestLine, 400;
    rejects_http2_version: "GET / HTTP/2.0\r\nHost: h\r\n\r\n" => VersionNotSupported, 505;
    rejects_lowercase_version: "GET / http/1.1\r\nHost: h\r\n\r\n" => BadVersion, 400;
    rejects_relative_target: "GET foo HTTP/1.1\r\nHost: h\r\n\r\n" => BadTarget, 400;
    rejects_fragment_in_target: "GET /a#b HTTP/1.1\r\nHost: h\r\n\r\n" => BadTarget, 400;
    rejects_non_ascii_target: "GET /\u{e9} HTTP/1.1\r\nHost: h\r\n\r\n" => BadTarget, 400;
    rejects_missing_host: "GET / HTTP/1.1\r\n\r\n" => MissingHost, 400;
    rejects_two_hosts: "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n" => BadHost, 400;
    rejects_invalid_host: "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n" => BadHost, 400;
    rejects_other_expectations: "GET / HTTP/1.1\r\nHost: h\r\nExpect: 200-ok\r\n\r\n" => ExpectationFailed, 417;
    rejects_bad_chunk_size: "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nxyz\r\n" => BadChunkSize, 400;
    rejects_empty_chunk_size: "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n\r\n" => BadChunkSize, 400;
    rejects_overlong_chunk_size: "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n11111111111111111\r\n" => BadChunkSize, 400;
    rejects_negative_chunk_size: "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n" => BadChunkSize, 400;
    rejects_huge_chunk_as_too_large: "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFF\r\n" => BodyTooLarge, 413;
    rejects_space_after_chunk_size: "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\n" => BadChunkExtension, 400;
    rejects_bad_chunk_extension: "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5;=x\r\nhello\r\n0\r\n\r\n" => BadChunkExtension, 400;
    rejects_unterminated_quoted_extension: "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5;a=\"x\r\nhello\r\n0\r\n\r\n" => BadChunkExtension, 400;
    rejects_chunk_without_crlf: "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n" => BadChunkTerminator, 400;
    rejects_bare_lf_chunk_line: "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n" => BareLf, 400;
    rejects_obs_fold_in_trailer: "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: a\r\n b\r\n\r\n" => ObsFold, 400;
}

#[test]
fn rejects_overlong_request_line_with_414() {
    let raw = format!("GET /{} HTTP/1.1\r\nHost: h\r\n\r\n", "a".repeat(9000));
    assert_eq!(reject(&raw).status(), 414);
    // Also before the line ends: the parser must not wait for a CRLF that never comes.
    let partial = format!("GET /{}", "a".repeat(9000));
    assert_eq!(reject(&partial), ParseError::RequestLineTooLong);
}

#[test]
fn rejects_too_many_or_too_large_headers_with_431() {
    let many: String = (0..101).map(|i| format!("X-{i}: v\r\n")).collect();
    let raw = format!("GET / HTTP/1.1\r\nHost: h\r\n{many}\r\n");
    assert_eq!(reject(&raw), ParseError::TooManyHeaders);
    let big = format!(
        "GET / HTTP/1.1\r\nHost: h\r\nX: {}\r\n\r\n",
        "v".repeat(40_000)
    );
    assert_eq!(reject(&big), ParseError::HeadersTooLarge);
    assert_eq!(ParseError::HeadersTooLarge.status(), 431);
}

#[test]
fn chunked_body_beyond_limit_is_rejected_with_413() {
    let limits = Limits {
        max_body: 8,
        ..Limits::default()
    };
    let mut p = RequestParser::new(limits);
    let mut buf = BytesMut::from(
        &b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n5\r\nworld\r\n"[..],
    );
    assert_eq!(p.parse(&mut buf).unwrap_err(), ParseError::BodyTooLarge);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        let mut p = RequestParser::new(Limits::default());
        let mut buf = BytesMut::from(&data[..]);
        while let Ok(Some(_)) = p.parse(&mut buf) {}
    }

    #[test]
    fn mutated_requests_never_panic(
        pos in 0usize..120,
        byte in any::<u8>(),
        split in 0usize..120,
    ) {
        let base = b"POST /a?b=c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nT: v\r\n\r\n".to_vec();
        let mut data = base.clone();
        let i = pos % data.len();
        data[i] = byte;
        let s = split % data.len();
        let mut p = RequestParser::new(Limits::default());
        let mut buf = BytesMut::from(&data[..s]);
        if p.parse(&mut buf).is_ok() {
            buf.extend_from_slice(&data[s..]);
            while let Ok(Some(_)) = p.parse(&mut buf) {}
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// Any body, cut into any chunks and delivered in any pieces, decodes to itself.
    #[test]
    fn chunked_bodies_round_trip_across_arbitrary_reads(
        body in proptest::collection::vec(any::<u8>(), 0..2000),
        cuts in proptest::collection::vec(1usize..300, 1..20),
        reads in proptest::collection::vec(1usize..64, 1..40),
    ) {
        let mut raw = b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        let mut rest = &body[..];
        let mut i = 0;
        while !rest.is_empty() {
            let n = cuts[i % cuts.len()].min(rest.len());
            raw.extend_from_slice(format!("{n:x}\r\n").as_bytes());
            raw.extend_from_slice(&rest[..n]);
            raw.extend_from_slice(b"\r\n");
            rest = &rest[n..];
            i += 1;
        }
        raw.extend_from_slice(b"0\r\n\r\nGET /next HTTP/1.1\r\nHost: h\r\n\r\n");
        let mut p = RequestParser::new(Limits::default());
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        let mut pos = 0;
        let mut r = 0;
        while pos < raw.len() {
            let n = reads[r % reads.len()].min(raw.len() - pos);
            buf.extend_from_slice(&raw[pos..pos + n]);
            pos += n;
            r += 1;
            while let Some(req) = p.parse(&mut buf).unwrap() {
                got.push(req);
            }
        }
        prop_assert_eq!(got.len(), 2);
        prop_assert_eq!(got[0].body().as_ref(), &body[..]);
        prop_assert_eq!(got[1].path(), "/next");
    }
}
