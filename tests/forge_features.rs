//! The demo app's features over real sockets: WebSocket echo, SSE, JWT, CORS, rate limiting,
//! compression, metrics with the open-connection gauge, and TLS.

mod forge_support;

use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

use forge_support::{Client, TestServer, request};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wirelab::forge::demo::{DemoOptions, demo_app, demo_token};
use wirelab::forge::{Server, tls};

const SECRET: &[u8] = b"test-secret";

async fn demo() -> TestServer {
    let opts = DemoOptions {
        root: None,
        jwt_secret: SECRET.to_vec(),
        access_log: false,
        tick: Duration::from_millis(20),
    };
    let (app, metrics) = demo_app(&opts).unwrap();
    TestServer::start_with(Server::new(app).with_connection_gauge(metrics.connection_gauge())).await
}

fn masked(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [1u8, 2, 3, 4];
    let mut f = vec![0x80 | opcode, 0x80 | payload.len() as u8];
    f.extend_from_slice(&mask);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    f
}

#[tokio::test]
async fn websocket_echo_over_a_real_upgrade() {
    let srv = demo().await;
    let mut c = Client::connect(srv.addr).await;
    c.send(b"GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n").await;
    let res = c.read_response_opts(true).await.unwrap();
    assert_eq!(res.status, 101);
    assert_eq!(
        res.header("sec-websocket-accept").as_deref(),
        Some("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
    );
    c.send(&masked(1, b"hi there")).await;
    let mut frame = [0u8; 10];
    c.stream.read_exact(&mut frame).await.unwrap();
    assert_eq!(&frame, b"\x81\x08hi there");
    c.send(&masked(8, &1000u16.to_be_bytes())).await;
    let mut close = [0u8; 4];
    c.stream.read_exact(&mut close).await.unwrap();
    assert_eq!(close, [0x88, 2, 0x03, 0xE8]);
    srv.stop().await;
}

#[tokio::test]
async fn sse_stream_sends_ids_and_resumes_after_last_event_id() {
    let srv = demo().await;
    let mut c = Client::connect(srv.addr).await;
    c.send(b"GET /events HTTP/1.1\r\nHost: t\r\nLast-Event-ID: 41\r\n\r\n")
        .await;
    let head = c.read_response_opts(true).await.unwrap();
    assert_eq!(
        head.header("content-type").as_deref(),
        Some("text/event-stream")
    );
    assert_eq!(head.header("transfer-encoding").as_deref(), Some("chunked"));
    let mut seen = String::new();
    let mut buf = [0u8; 1024];
    while !seen.contains("data: tick 43") {
        let n = c.stream.read(&mut buf).await.unwrap();
        assert!(n > 0);
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(
        seen.contains("id: 42\nretry: 3000\ndata: tick 42\n\n"),
        "{seen}"
    );
    srv.stop().await;
}

#[tokio::test]
async fn jwt_route_requires_a_valid_token() {
    let srv = demo().await;
    let none = request(srv.addr, "GET /secret HTTP/1.1\r\nHost: t\r\n\r\n").await;
    assert_eq!(none.status, 401);
    assert_eq!(none.header("www-authenticate").as_deref(), Some("Bearer"));
    let bad = request(
        srv.addr,
        &format!(
            "GET /secret HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {}\r\n\r\n",
            demo_token(b"wrong")
        ),
    )
    .await;
    assert_eq!(bad.status, 401);
    let good = request(
        srv.addr,
        &format!(
            "GET /secret HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {}\r\n\r\n",
            demo_token(SECRET)
        ),
    )
    .await;
    assert_eq!(good.status, 200);
    assert!(String::from_utf8_lossy(&good.body).contains("\"subject\":\"demo\""));
    srv.stop().await;
}

#[tokio::test]
async fn cors_preflight_and_rate_limit_with_retry_after() {
    let srv = demo().await;
    let pre = request(
        srv.addr,
        "OPTIONS /echo HTTP/1.1\r\nHost: t\r\nOrigin: https://x.test\r\nAccess-Control-Request-Method: POST\r\n\r\n",
    )
    .await;
    assert_eq!(pre.status, 204);
    assert_eq!(
        pre.header("access-control-allow-origin").as_deref(),
        Some("*")
    );
    let mut c = Client::connect(srv.addr).await;
    let mut limited = None;
    for i in 0..400 {
        c.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\n\r\nx")
            .await;
        let res = c.read_response().await.unwrap();
        if res.status == 429 {
            limited = Some((i, res));
            break;
        }
        assert_eq!(res.body, b"x");
    }
    let (i, res) = limited.expect("never rate limited");
    assert!(i >= 200, "limited after only {i}");
    let retry: u64 = res.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry));
    srv.stop().await;
}

#[tokio::test]
async fn compression_follows_accept_encoding() {
    let srv = demo().await;
    let gz = request(
        srv.addr,
        "GET /metrics HTTP/1.1\r\nHost: t\r\nAccept-Encoding: br;q=0.5, gzip\r\n\r\n",
    )
    .await;
    assert_eq!(gz.header("content-encoding").as_deref(), Some("gzip"));
    let mut text = String::new();
    flate2::read::GzDecoder::new(&gz.body[..])
        .read_to_string(&mut text)
        .unwrap();
    assert!(text.contains("wirelab_forge_open_connections"));
    let plain = request(
        srv.addr,
        "GET /metrics HTTP/1.1\r\nHost: t\r\nAccept-Encoding: identity\r\n\r\n",
    )
    .await;
    assert_eq!(plain.header("content-encoding"), None);
    let tiny = request(
        srv.addr,
        "GET / HTTP/1.1\r\nHost: t\r\nAccept-Encoding: gzip\r\n\r\n",
    )
    .await;
    assert_eq!(
        (tiny.header("content-encoding"), tiny.body.as_slice()),
        (None, &b"hello"[..])
    );
    srv.stop().await;
}

#[tokio::test]
async fn metrics_count_routes_and_open_connections() {
    let srv = demo().await;
    let _held = Client::connect(srv.addr).await;
    request(srv.addr, "GET / HTTP/1.1\r\nHost: t\r\n\r\n").await;
    request(srv.addr, "GET /missing HTTP/1.1\r\nHost: t\r\n\r\n").await;
    let health = request(srv.addr, "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n").await;
    assert_eq!(health.body, b"ok\n");
    let mut c = Client::connect(srv.addr).await;
    c.send(b"GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n").await;
    let text = String::from_utf8(c.read_response().await.unwrap().body).unwrap();
    assert!(
        text.contains("wirelab_forge_requests_total{route=\"/\",method=\"GET\",status=\"200\"} 1"),
        "{text}"
    );
    assert!(text.contains("route=\"unmatched\",method=\"GET\",status=\"404\"} 1"));
    // The held connection and the one asking are open (others may still be closing).
    let open: i64 = text
        .lines()
        .find_map(|l| l.strip_prefix("wirelab_forge_open_connections "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(open >= 2, "{open}");
    srv.stop().await;
}

#[tokio::test]
async fn tls_serves_https_with_a_self_signed_certificate() {
    use rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::{self, pki_types::CertificateDer, pki_types::ServerName};
    let (cert, key) = tls::self_signed(&["localhost"]).unwrap();
    let opts = DemoOptions {
        jwt_secret: SECRET.to_vec(),
        ..DemoOptions::default()
    };
    let (app, _m) = demo_app(&opts).unwrap();
    let acceptor = tls::acceptor_from_pem(cert.as_bytes(), key.as_bytes()).unwrap();
    let srv = TestServer::start_with(Server::new(app).with_tls(acceptor)).await;
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(cert.as_bytes()).unwrap())
        .unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(srv.addr).await.unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let mut tls = connector.connect(name, tcp).await.unwrap();
    tls.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut out = Vec::new();
    let _ = tls.read_to_end(&mut out).await;
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(text.ends_with("\r\n\r\nhello"));
    srv.stop().await;
}
