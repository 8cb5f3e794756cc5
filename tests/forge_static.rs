//! Static files over real sockets: types, ETag/304, ranges (206/416, multipart), traversal.

mod forge_support;

use forge_support::{TestServer, request};
use wirelab::forge::static_files::StaticFiles;
use wirelab::forge::{App, Router};

async fn serve_dir() -> (TestServer, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hello.txt"), "0123456789").unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    std::fs::write(dir.path().join("sub/index.html"), "<p>hi</p>").unwrap();
    std::fs::write(dir.path().join("big.bin"), vec![7u8; 3 * 1024 * 1024]).unwrap();
    let outside = dir
        .path()
        .parent()
        .unwrap()
        .join(format!("forge-secret-{}", std::process::id()));
    std::fs::write(&outside, "secret").unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(&outside, dir.path().join("escape")).unwrap();
    let mut r = Router::new();
    r.get("/files/*path", StaticFiles::new(dir.path()).unwrap());
    (TestServer::start(App::new(r)).await, dir)
}

fn get(path: &str, extra: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: t\r\n{extra}\r\n")
}

#[tokio::test]
async fn file_is_served_with_type_validators_and_index() {
    let (srv, _dir) = serve_dir().await;
    let res = request(srv.addr, &get("/files/hello.txt", "")).await;
    assert_eq!((res.status, res.body.as_slice()), (200, &b"0123456789"[..]));
    assert_eq!(
        res.header("content-type").as_deref(),
        Some("text/plain; charset=utf-8")
    );
    assert!(res.header("etag").is_some() && res.header("last-modified").is_some());
    let index = request(srv.addr, &get("/files/sub/", "")).await;
    assert_eq!(index.body, b"<p>hi</p>");
    let big = request(srv.addr, &get("/files/big.bin", "")).await;
    assert_eq!(big.body.len(), 3 * 1024 * 1024);
    srv.stop().await;
}

#[tokio::test]
async fn conditional_requests_get_304() {
    let (srv, _dir) = serve_dir().await;
    let first = request(srv.addr, &get("/files/hello.txt", "")).await;
    let etag = first.header("etag").unwrap();
    let lm = first.header("last-modified").unwrap();
    let inm = request(
        srv.addr,
        &get("/files/hello.txt", &format!("If-None-Match: {etag}\r\n")),
    )
    .await;
    assert_eq!(inm.status, 304);
    assert!(inm.body.is_empty());
    let ims = request(
        srv.addr,
        &get("/files/hello.txt", &format!("If-Modified-Since: {lm}\r\n")),
    )
    .await;
    assert_eq!(ims.status, 304);
    let stale = request(
        srv.addr,
        &get("/files/hello.txt", "If-None-Match: \"nope\"\r\n"),
    )
    .await;
    assert_eq!(stale.status, 200);
    srv.stop().await;
}

#[tokio::test]
async fn byte_ranges_single_multi_and_unsatisfiable() {
    let (srv, _dir) = serve_dir().await;
    let one = request(srv.addr, &get("/files/hello.txt", "Range: bytes=2-4\r\n")).await;
    assert_eq!((one.status, one.body.as_slice()), (206, &b"234"[..]));
    assert_eq!(one.header("content-range").as_deref(), Some("bytes 2-4/10"));
    let suffix = request(srv.addr, &get("/files/hello.txt", "Range: bytes=-2\r\n")).await;
    assert_eq!(suffix.body, b"89");
    let multi = request(
        srv.addr,
        &get("/files/hello.txt", "Range: bytes=0-1, 8-\r\n"),
    )
    .await;
    assert_eq!(multi.status, 206);
    let ct = multi.header("content-type").unwrap();
    assert!(ct.starts_with("multipart/byteranges; boundary="));
    let body = String::from_utf8(multi.body).unwrap();
    assert!(body.contains("content-range: bytes 0-1/10\r\n\r\n01"));
    assert!(body.contains("content-range: bytes 8-9/10\r\n\r\n89"));
    let bad = request(srv.addr, &get("/files/hello.txt", "Range: bytes=50-60\r\n")).await;
    assert_eq!(bad.status, 416);
    assert_eq!(bad.header("content-range").as_deref(), Some("bytes */10"));
    let stale = request(
        srv.addr,
        &get(
            "/files/hello.txt",
            "Range: bytes=0-1\r\nIf-Range: \"old\"\r\n",
        ),
    )
    .await;
    assert_eq!(stale.status, 200);
    srv.stop().await;
}

#[tokio::test]
async fn path_traversal_and_symlink_escape_are_refused() {
    let (srv, dir) = serve_dir().await;
    for path in [
        "/files/../Cargo.toml",
        "/files/%2e%2e/%2e%2e/etc/passwd",
        "/files/..%2F..%2Fetc%2Fpasswd",
        "/files/sub/..%5C..%5Chello.txt",
        "/files/hello.txt%00",
        "/files/escape",
        "/files/missing",
    ] {
        let res = request(srv.addr, &get(path, "")).await;
        assert_eq!(res.status, 404, "{path}");
    }
    let _ = std::fs::remove_file(
        dir.path()
            .parent()
            .unwrap()
            .join(format!("forge-secret-{}", std::process::id())),
    );
    srv.stop().await;
}
