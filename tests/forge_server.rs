//! The server over real loopback sockets: keep-alive, pipelining, HTTP/1.0, 100-continue,
//! timeouts, the connection limit and graceful shutdown.

mod forge_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use forge_support::{Client, TestServer, get, request};
use tokio::sync::Notify;
use wirelab::forge::{App, Request, Response, Router, ServerConfig};

fn app() -> App {
    let mut r = Router::new();
    r.get("/", |_r: Request| async { Response::text("hello") });
    r.post("/echo", |r: Request| async move {
        Response::new(200).with_body(r.body().clone())
    });
    r.get("/panic", |_r: Request| async move {
        if std::hint::black_box(true) {
            panic!("handler bug");
        }
        Response::text("unreachable")
    });
    r.get("/bye", |_r: Request| async {
        Response::text("bye").with_header("connection", "close")
    });
    r.get("/n/:n", |r: Request| async move {
        Response::text(r.param("n").unwrap_or("").to_owned())
    });
    App::new(r)
}

#[tokio::test]
async fn keep_alive_serves_several_requests_on_one_connection() {
    let srv = TestServer::start(app()).await;
    let mut c = Client::connect(srv.addr).await;
    for _ in 0..3 {
        c.send(get("/").as_bytes()).await;
        let res = c.read_response().await.unwrap();
        assert_eq!((res.status, res.body.as_slice()), (200, &b"hello"[..]));
        assert!(res.header("date").is_some());
    }
    srv.stop().await;
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order() {
    let srv = TestServer::start(app()).await;
    let mut c = Client::connect(srv.addr).await;
    let batch: String = (0..20).map(|i| get(&format!("/n/{i}"))).collect();
    c.send(batch.as_bytes()).await;
    for i in 0..20 {
        let res = c.read_response().await.unwrap();
        assert_eq!(res.body, i.to_string().into_bytes());
    }
    srv.stop().await;
}

#[tokio::test]
async fn http10_closes_after_response_unless_keep_alive() {
    let srv = TestServer::start(app()).await;
    let mut c = Client::connect(srv.addr).await;
    c.send(b"GET / HTTP/1.0\r\n\r\n").await;
    assert_eq!(c.read_response().await.unwrap().status, 200);
    assert!(c.is_closed().await);
    let mut c = Client::connect(srv.addr).await;
    c.send(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        .await;
    let res = c.read_response().await.unwrap();
    assert_eq!(res.header("connection").as_deref(), Some("keep-alive"));
    c.send(b"GET / HTTP/1.0\r\n\r\n").await;
    assert_eq!(c.read_response().await.unwrap().status, 200);
    srv.stop().await;
}

#[tokio::test]
async fn connection_close_is_honoured() {
    let srv = TestServer::start(app()).await;
    let mut c = Client::connect(srv.addr).await;
    c.send(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .await;
    let res = c.read_response().await.unwrap();
    assert_eq!(res.header("connection").as_deref(), Some("close"));
    assert!(c.is_closed().await);
    srv.stop().await;
}

#[tokio::test]
async fn handler_can_ask_to_close_the_connection() {
    let srv = TestServer::start(app()).await;
    let mut c = Client::connect(srv.addr).await;
    c.send(get("/bye").as_bytes()).await;
    let res = c.read_response().await.unwrap();
    assert_eq!(res.header("connection").as_deref(), Some("close"));
    assert!(c.is_closed().await);
    srv.stop().await;
}

#[tokio::test]
async fn expect_100_continue_gets_interim_response_before_body() {
    let srv = TestServer::start(app()).await;
    let mut c = Client::connect(srv.addr).await;
    c.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n")
        .await;
    assert_eq!(c.read_response().await.unwrap().status, 100);
    c.send(b"ping").await;
    let res = c.read_response().await.unwrap();
    assert_eq!((res.status, res.body.as_slice()), (200, &b"ping"[..]));
    srv.stop().await;
}

#[tokio::test]
async fn chunked_request_body_reaches_the_handler() {
    let srv = TestServer::start(app()).await;
    let res = request(
        srv.addr,
        "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
    )
    .await;
    assert_eq!(res.body, b"abcde");
    srv.stop().await;
}

#[tokio::test]
async fn head_gets_headers_without_body() {
    let srv = TestServer::start(app()).await;
    let mut c = Client::connect(srv.addr).await;
    c.send(b"HEAD / HTTP/1.1\r\nHost: t\r\n\r\n").await;
    let res = c.read_response_opts(true).await.unwrap();
    assert_eq!(res.header("content-length").as_deref(), Some("5"));
    c.send(get("/").as_bytes()).await;
    assert_eq!(c.read_response().await.unwrap().body, b"hello");
    srv.stop().await;
}

#[tokio::test]
async fn slowloris_head_is_cut_off_with_408() {
    let cfg = ServerConfig {
        header_timeout: Duration::from_millis(300),
        ..ServerConfig::default()
    };
    let srv = TestServer::start_cfg(app(), cfg).await;
    let mut c = Client::connect(srv.addr).await;
    c.send(b"GET / HTTP/1.1\r\nHost: t\r\n").await;
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        // A trickle of header bytes does not extend the deadline.
        let _ = tokio::io::AsyncWriteExt::write_all(&mut c.stream, b"X-A: b\r\n").await;
    }
    let res = c.read_response().await.unwrap();
    assert_eq!(res.status, 408);
    srv.stop().await;
}

#[tokio::test]
async fn idle_keep_alive_connection_is_closed_after_idle_timeout() {
    let cfg = ServerConfig {
        idle_timeout: Duration::from_millis(200),
        ..ServerConfig::default()
    };
    let srv = TestServer::start_cfg(app(), cfg).await;
    let mut c = Client::connect(srv.addr).await;
    c.send(get("/").as_bytes()).await;
    c.read_response().await.unwrap();
    assert!(c.is_closed().await);
    srv.stop().await;
}

#[tokio::test]
async fn connection_limit_holds_extra_clients_until_a_slot_frees() {
    let cfg = ServerConfig {
        max_connections: 1,
        ..ServerConfig::default()
    };
    let srv = TestServer::start_cfg(app(), cfg).await;
    let mut first = Client::connect(srv.addr).await;
    first.send(get("/").as_bytes()).await;
    first.read_response().await.unwrap();
    let mut second = Client::connect(srv.addr).await;
    second.send(get("/").as_bytes()).await;
    let waited = tokio::time::timeout(Duration::from_millis(300), second.read_response()).await;
    assert!(
        waited.is_err(),
        "second connection served while the first holds the only slot"
    );
    drop(first);
    let res = second.read_response().await.unwrap();
    assert_eq!(res.status, 200);
    srv.stop().await;
}

#[tokio::test]
async fn graceful_shutdown_drains_in_flight_request_and_refuses_new_ones() {
    let entered = Arc::new(Notify::new());
    let release = Arc::new(Notify::new());
    let served = Arc::new(AtomicUsize::new(0));
    let mut r = Router::new();
    let (e, rel, s) = (entered.clone(), release.clone(), served.clone());
    r.get("/slow", move |_r: Request| {
        let (e, rel, s) = (e.clone(), rel.clone(), s.clone());
        async move {
            e.notify_one();
            rel.notified().await;
            s.fetch_add(1, Ordering::SeqCst);
            Response::text("done")
        }
    });
    let srv = TestServer::start(App::new(r)).await;
    let addr = srv.addr;
    let mut idle = Client::connect(addr).await;
    let mut c = Client::connect(addr).await;
    c.send(get("/slow").as_bytes()).await;
    entered.notified().await;
    srv.shutdown.cancel();
    // The idle connection is closed; the in-flight request still completes.
    assert!(idle.is_closed().await);
    release.notify_one();
    let res = c.read_response().await.unwrap();
    assert_eq!(
        (res.status, res.header("connection").as_deref()),
        (200, Some("close"))
    );
    srv.stop().await;
    assert_eq!(served.load(Ordering::SeqCst), 1);
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn panicking_handler_gets_500_and_the_server_keeps_serving() {
    let srv = TestServer::start(app()).await;
    let res = request(srv.addr, &get("/panic")).await;
    assert_eq!(
        (res.status, res.header("connection").as_deref()),
        (500, Some("close"))
    );
    assert_eq!(request(srv.addr, &get("/")).await.status, 200);
    srv.stop().await;
}

#[tokio::test]
async fn shutdown_cuts_requests_that_outlive_the_grace_period() {
    let mut r = Router::new();
    let entered = Arc::new(Notify::new());
    let e = entered.clone();
    r.get("/forever", move |_r: Request| {
        let e = e.clone();
        async move {
            e.notify_one();
            std::future::pending::<()>().await;
            Response::text("never")
        }
    });
    let cfg = ServerConfig {
        shutdown_grace: Duration::from_millis(200),
        ..ServerConfig::default()
    };
    let srv = TestServer::start_cfg(App::new(r), cfg).await;
    let mut c = Client::connect(srv.addr).await;
    c.send(get("/forever").as_bytes()).await;
    entered.notified().await;
    let started = std::time::Instant::now();
    srv.stop().await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(c.is_closed().await);
}

#[tokio::test]
async fn client_that_never_reads_is_dropped_after_the_write_timeout() {
    let cfg = ServerConfig {
        write_timeout: Duration::from_millis(300),
        ..ServerConfig::default()
    };
    let srv = TestServer::start_cfg(app(), cfg).await;
    let stream = tokio::net::TcpStream::connect(srv.addr).await.unwrap();
    let (_read_half, mut write_half) = stream.into_split();
    // Pipeline requests forever without reading a byte of the responses.
    let flood = tokio::spawn(async move {
        let batch = get("/").repeat(1000);
        for _ in 0..2000 {
            if tokio::io::AsyncWriteExt::write_all(&mut write_half, batch.as_bytes())
                .await
                .is_err()
            {
                return true;
            }
        }
        false
    });
    let cut = tokio::time::timeout(Duration::from_secs(20), flood)
        .await
        .expect("server kept a non-reading client forever")
        .unwrap();
    assert!(cut, "server never pushed back");
    srv.stop().await;
}

#[tokio::test]
async fn draining_keeps_idle_keep_alive_connections_for_one_last_answer() {
    let cfg = ServerConfig {
        drain_idle: Duration::from_secs(5),
        ..ServerConfig::default()
    };
    let srv = TestServer::start_cfg(app(), cfg).await;
    let addr = srv.addr;
    let mut c = Client::connect(addr).await;
    c.send(get("/").as_bytes()).await;
    assert_eq!(c.read_response().await.unwrap().status, 200);
    srv.shutdown.cancel();
    // The listener is gone at once…
    let refused = async {
        while tokio::net::TcpStream::connect(addr).await.is_ok() {
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(Duration::from_secs(5), refused)
        .await
        .expect("listener closed");
    // …but the idle keep-alive connection still gets its next request answered, with close.
    c.send(get("/").as_bytes()).await;
    let res = c.read_response().await.unwrap();
    assert_eq!(
        (res.status, res.header("connection").as_deref()),
        (200, Some("close"))
    );
    assert!(c.is_closed().await);
    srv.stop().await;
}
