//! A corpus of malformed and smuggling requests sent raw over TCP. Each must get its error
//! status, the connection must close, and nothing may reach a handler.

mod forge_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use forge_support::{Client, TestServer};
use wirelab::forge::{App, Method, Request, Response, Router};

const H: &str = "Host: t\r\n";

fn corpus() -> Vec<(&'static str, String, u16)> {
    let post = |fields: &str, body: &str| format!("POST / HTTP/1.1\r\n{H}{fields}\r\n{body}");
    let chunked = |body: &str| post("Transfer-Encoding: chunked\r\n", body);
    let get = |fields: &str| format!("GET / HTTP/1.1\r\n{H}{fields}\r\n");
    let line = |l: &str| format!("{l}\r\n{H}\r\n");
    vec![
        // CL.TE / TE.CL: both framings present.
        (
            "cl_te",
            post(
                "Content-Length: 6\r\nTransfer-Encoding: chunked\r\n",
                "0\r\n\r\nG",
            ),
            400,
        ),
        (
            "te_cl",
            post(
                "Transfer-Encoding: chunked\r\nContent-Length: 4\r\n",
                "5c\r\nGPOST / HTTP/1.1\r\n\r\n0\r\n\r\n",
            ),
            400,
        ),
        (
            "cl_te_lowercase",
            post(
                "content-length: 4\r\ntransfer-encoding: chunked\r\n",
                "0\r\n\r\n",
            ),
            400,
        ),
        (
            "te_cl_zero",
            post(
                "Transfer-Encoding: chunked\r\nContent-Length: 0\r\n",
                "0\r\n\r\n",
            ),
            400,
        ),
        (
            "te_identity_cl",
            post("Transfer-Encoding: identity\r\nContent-Length: 1\r\n", "a"),
            400,
        ),
        // TE.TE obfuscations.
        (
            "te_space_before_colon",
            post("Transfer-Encoding : chunked\r\n", "0\r\n\r\n"),
            400,
        ),
        (
            "te_tab_before_colon",
            post("Transfer-Encoding\t: chunked\r\n", "0\r\n\r\n"),
            400,
        ),
        (
            "te_xchunked",
            post("Transfer-Encoding: xchunked\r\n", "0\r\n\r\n"),
            400,
        ),
        (
            "te_chunked_identity",
            post("Transfer-Encoding: chunked, identity\r\n", "0\r\n\r\n"),
            400,
        ),
        (
            "te_identity_chunked",
            post("Transfer-Encoding: identity, chunked\r\n", "0\r\n\r\n"),
            501,
        ),
        (
            "te_gzip",
            post("Transfer-Encoding: gzip\r\n", "0\r\n\r\n"),
            400,
        ),
        (
            "te_gzip_chunked",
            post("Transfer-Encoding: gzip, chunked\r\n", "0\r\n\r\n"),
            501,
        ),
        (
            "te_twice",
            post(
                "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
                "0\r\n\r\n",
            ),
            400,
        ),
        (
            "te_then_identity",
            post(
                "Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n",
                "0\r\n\r\n",
            ),
            400,
        ),
        (
            "te_folded",
            post("Transfer-Encoding:\r\n chunked\r\n", "0\r\n\r\n"),
            400,
        ),
        (
            "te_quoted",
            post("Transfer-Encoding: \"chunked\"\r\n", "0\r\n\r\n"),
            400,
        ),
        (
            "te_trailing_semicolon",
            post("Transfer-Encoding: chunked;\r\n", "0\r\n\r\n"),
            400,
        ),
        (
            "te_vertical_tab",
            post("Transfer-Encoding: chunked\x0b\r\n", "0\r\n\r\n"),
            400,
        ),
        (
            "te_nul",
            post("Transfer-Encoding: chunked\0\r\n", "0\r\n\r\n"),
            400,
        ),
        (
            "te_leading_comma",
            post("Transfer-Encoding: , chunked\r\n", "0\r\n\r\n"),
            400,
        ),
        ("te_empty", post("Transfer-Encoding: \r\n", ""), 400),
        (
            "te_http10",
            "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n".into(),
            400,
        ),
        // Content-Length forms.
        (
            "cl_duplicate_same",
            post("Content-Length: 1\r\nContent-Length: 1\r\n", "a"),
            400,
        ),
        (
            "cl_duplicate_diff",
            post("Content-Length: 1\r\nContent-Length: 2\r\n", "ab"),
            400,
        ),
        ("cl_list", post("Content-Length: 1, 1\r\n", "a"), 400),
        ("cl_plus", post("Content-Length: +1\r\n", "a"), 400),
        ("cl_negative", post("Content-Length: -1\r\n", ""), 400),
        ("cl_hex", post("Content-Length: 0x1\r\n", "a"), 400),
        ("cl_inner_space", post("Content-Length: 1 0\r\n", "a"), 400),
        ("cl_empty", post("Content-Length: \r\n", ""), 400),
        ("cl_float", post("Content-Length: 1.0\r\n", "a"), 400),
        (
            "cl_overflow",
            post("Content-Length: 18446744073709551616\r\n", ""),
            400,
        ),
        (
            "cl_space_before_colon",
            post("Content-Length : 1\r\n", "a"),
            400,
        ),
        (
            "cl_too_large",
            post("Content-Length: 999999999\r\n", ""),
            413,
        ),
        // Line endings and control characters.
        (
            "bare_lf_request_line",
            format!("GET / HTTP/1.1\n{H}\r\n"),
            400,
        ),
        (
            "bare_lf_everywhere",
            "GET / HTTP/1.1\nHost: t\n\n".into(),
            400,
        ),
        ("bare_cr_in_value", get("X-A: a\rb\r\n"), 400),
        ("bare_cr_before_crlf", get("X-A: a\r\r\n"), 400),
        ("bare_cr_in_target", line("GET /a\rb HTTP/1.1"), 400),
        ("obs_fold_space", get("X-A: a\r\n b\r\n"), 400),
        ("obs_fold_tab", get("X-A: a\r\n\tb\r\n"), 400),
        ("nul_in_value", get("X-A: a\0b\r\n"), 400),
        ("del_in_value", get("X-A: a\x7fb\r\n"), 400),
        ("nul_in_target", line("GET /a\0b HTTP/1.1"), 400),
        ("nul_in_method", line("G\0T / HTTP/1.1"), 400),
        ("nul_bytes_only", "\0\0\0\0\r\n\r\n".into(), 400),
        ("header_no_colon", get("NoColon\r\n"), 400),
        ("header_empty_name", get(": v\r\n"), 400),
        ("header_space_in_name", get("X Y: v\r\n"), 400),
        (
            "header_host_space_colon",
            "GET / HTTP/1.1\r\nHost : t\r\n\r\n".into(),
            400,
        ),
        ("header_utf8_name", get("X-\u{e9}: v\r\n"), 400),
        // Request line.
        ("double_space", line("GET  / HTTP/1.1"), 400),
        ("trailing_space", line("GET / HTTP/1.1 "), 400),
        ("missing_version", line("GET /"), 400),
        ("http09", "GET /\r\n\r\n".into(), 400),
        ("lowercase_version", line("GET / http/1.1"), 400),
        ("version_garbage", line("GET / HTTP/1.x"), 400),
        ("http2", line("GET / HTTP/2.0"), 505),
        ("http12", line("GET / HTTP/1.2"), 505),
        ("unknown_method", line("BREW / HTTP/1.1"), 501),
        ("lowercase_method", line("get / HTTP/1.1"), 501),
        ("connect", line("CONNECT t:443 HTTP/1.1"), 501),
        ("bad_method_token", line("GE(T / HTTP/1.1"), 400),
        ("relative_target", line("GET a/b HTTP/1.1"), 400),
        ("fragment_target", line("GET /a#b HTTP/1.1"), 400),
        ("space_in_target", line("GET /a b HTTP/1.1"), 400),
        ("ftp_absolute_form", line("GET ftp://t/ HTTP/1.1"), 400),
        ("missing_host", "GET / HTTP/1.1\r\n\r\n".into(), 400),
        ("duplicate_host", get("Host: u\r\n"), 400),
        (
            "host_with_path",
            "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n".into(),
            400,
        ),
        (
            "host_with_userinfo",
            "GET / HTTP/1.1\r\nHost: a@b\r\n\r\n".into(),
            400,
        ),
        ("expect_unknown", get("Expect: 200-ok\r\n"), 417),
        // Limits.
        (
            "overlong_request_line",
            line(&format!("GET /{} HTTP/1.1", "a".repeat(9000))),
            414,
        ),
        ("too_many_headers", get(&"X-A: b\r\n".repeat(101)), 431),
        (
            "huge_header",
            get(&format!("X-A: {}\r\n", "b".repeat(40_000))),
            431,
        ),
        // Chunked bodies.
        ("chunk_size_not_hex", chunked("zz\r\n"), 400),
        (
            "chunk_size_negative",
            chunked("-5\r\nhello\r\n0\r\n\r\n"),
            400,
        ),
        (
            "chunk_size_overlong",
            chunked("00000000000000001\r\na\r\n0\r\n\r\n"),
            400,
        ),
        ("chunk_size_huge", chunked("FFFFFFFFFFFFFFFF\r\n"), 413),
        ("chunk_size_0x", chunked("0x5\r\nhello\r\n0\r\n\r\n"), 400),
        (
            "chunk_size_trailing_space",
            chunked("5 \r\nhello\r\n0\r\n\r\n"),
            400,
        ),
        (
            "chunk_size_leading_space",
            chunked(" 5\r\nhello\r\n0\r\n\r\n"),
            400,
        ),
        ("chunk_size_empty", chunked("\r\nhello\r\n0\r\n\r\n"), 400),
        (
            "chunk_ext_no_name",
            chunked("5;=v\r\nhello\r\n0\r\n\r\n"),
            400,
        ),
        (
            "chunk_ext_bare_cr",
            chunked("5;a\rb\r\nhello\r\n0\r\n\r\n"),
            400,
        ),
        (
            "chunk_ext_unterminated_quote",
            chunked("5;a=\"x\r\nhello\r\n0\r\n\r\n"),
            400,
        ),
        (
            "chunk_ext_bad_char",
            chunked("5;a=b,c\r\nhello\r\n0\r\n\r\n"),
            400,
        ),
        (
            "chunk_data_too_long",
            chunked("3\r\nabcdef\r\n0\r\n\r\n"),
            400,
        ),
        ("chunk_bare_lf_size", chunked("5\nhello\r\n0\r\n\r\n"), 400),
        (
            "chunk_bare_lf_after_data",
            chunked("5\r\nhello\n0\r\n\r\n"),
            400,
        ),
        ("trailer_obs_fold", chunked("0\r\nX: a\r\n b\r\n\r\n"), 400),
        ("trailer_no_colon", chunked("0\r\nbroken\r\n\r\n"), 400),
        (
            "trailer_space_before_colon",
            chunked("0\r\nX : a\r\n\r\n"),
            400,
        ),
    ]
}

fn counting_app() -> (App, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let mut r = Router::new();
    for m in [Method::Get, Method::Post] {
        for path in ["/", "/admin"] {
            let hits = hits.clone();
            r.route(m, path, move |_r: Request| {
                hits.fetch_add(1, Ordering::SeqCst);
                async { Response::text("handled") }
            });
        }
    }
    (App::new(r), hits)
}

#[tokio::test]
async fn every_malformed_request_gets_its_status_closes_and_reaches_no_handler() {
    let cases = corpus();
    assert!(cases.len() >= 60, "corpus has {} cases", cases.len());
    let (app, hits) = counting_app();
    let srv = TestServer::start(app).await;
    let mut failures = Vec::new();
    for (name, raw, status) in &cases {
        let mut c = Client::connect(srv.addr).await;
        c.send(raw.as_bytes()).await;
        match c.read_response().await {
            Some(res) if res.status == *status => {
                if res.header("connection").as_deref() != Some("close") {
                    failures.push(format!("{name}: no Connection: close"));
                }
                if !c.is_closed().await {
                    failures.push(format!("{name}: connection left open"));
                }
            }
            Some(res) => failures.push(format!("{name}: got {} want {status}", res.status)),
            None => failures.push(format!("{name}: no response")),
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "a malformed request reached a handler"
    );
    srv.stop().await;
}

#[tokio::test]
async fn request_hidden_behind_conflicting_framing_is_never_served() {
    let (app, hits) = counting_app();
    let srv = TestServer::start(app).await;
    let mut c = Client::connect(srv.addr).await;
    // A valid request, then a CL.TE request whose body hides a second request.
    c.send(
        format!(
            "GET / HTTP/1.1\r\n{H}\r\nPOST / HTTP/1.1\r\n{H}Content-Length: 35\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /admin HTTP/1.1\r\n{H}\r\n"
        )
        .as_bytes(),
    )
    .await;
    assert_eq!(c.read_response().await.unwrap().status, 200);
    assert_eq!(c.read_response().await.unwrap().status, 400);
    assert!(c.is_closed().await);
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    srv.stop().await;
}

#[tokio::test]
async fn valid_variants_next_to_the_corpus_are_accepted() {
    let (app, hits) = counting_app();
    let srv = TestServer::start(app).await;
    for raw in [
        format!("POST / HTTP/1.1\r\n{H}Transfer-Encoding: Chunked\r\n\r\n1\r\na\r\n0\r\n\r\n"),
        format!("POST / HTTP/1.1\r\n{H}Content-Length:  1 \r\n\r\na"),
        format!("\r\nGET / HTTP/1.1\r\n{H}\r\n"),
        format!("GET http://t/ HTTP/1.1\r\n{H}\r\n"),
        format!(
            "POST / HTTP/1.1\r\n{H}Transfer-Encoding: chunked\r\n\r\n1;a=b;c=\"d e\"\r\na\r\n0\r\nT: v\r\n\r\n"
        ),
    ] {
        let mut c = Client::connect(srv.addr).await;
        c.send(raw.as_bytes()).await;
        assert_eq!(c.read_response().await.unwrap().status, 200, "{raw:?}");
    }
    assert_eq!(hits.load(Ordering::SeqCst), 5);
    srv.stop().await;
}
