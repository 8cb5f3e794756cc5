//! Shared helpers for the forge integration tests: an in-process server on a dynamic loopback
//! port and a minimal raw HTTP/1.1 client over `TcpStream`.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use wirelab::forge::{App, Server, ServerConfig};

/// A running server; `stop` shuts it down and waits for it.
pub struct TestServer {
    pub addr: SocketAddr,
    pub shutdown: CancellationToken,
    task: JoinHandle<()>,
}

impl TestServer {
    pub async fn start(app: App) -> TestServer {
        TestServer::start_with(Server::new(app)).await
    }

    pub async fn start_cfg(app: App, cfg: ServerConfig) -> TestServer {
        TestServer::start_with(Server::new(app).with_config(cfg)).await
    }

    pub async fn start_with(server: Server) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shutdown = CancellationToken::new();
        let token = shutdown.clone();
        let task = tokio::spawn(async move {
            server.serve(listener, token).await.unwrap();
        });
        TestServer {
            addr,
            shutdown,
            task,
        }
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(15), self.task)
            .await
            .expect("server did not stop")
            .unwrap();
    }
}

/// One parsed response.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().skip(1).find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
    }
}

/// A raw client connection that keeps leftover bytes between responses.
pub struct Client {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl Client {
    pub async fn connect(addr: SocketAddr) -> Client {
        Client {
            stream: TcpStream::connect(addr).await.unwrap(),
            buf: Vec::new(),
        }
    }

    pub async fn send(&mut self, raw: &[u8]) {
        self.stream.write_all(raw).await.unwrap();
    }

    async fn fill(&mut self) -> bool {
        let mut tmp = [0u8; 8192];
        match tokio::time::timeout(Duration::from_secs(10), self.stream.read(&mut tmp)).await {
            Ok(Ok(0)) | Ok(Err(_)) => false,
            Ok(Ok(n)) => {
                self.buf.extend_from_slice(&tmp[..n]);
                true
            }
            Err(_) => panic!("timed out reading a response"),
        }
    }

    /// Reads one response (Content-Length or chunked body; HEAD-style if `no_body`).
    pub async fn read_response_opts(&mut self, no_body: bool) -> Option<RawResponse> {
        let end = loop {
            if let Some(p) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break p + 4;
            }
            if !self.fill().await {
                return None;
            }
        };
        let head = String::from_utf8_lossy(&self.buf[..end]).into_owned();
        self.buf.drain(..end);
        let status = head.get(9..12)?.parse().ok()?;
        let mut res = RawResponse {
            status,
            head,
            body: Vec::new(),
        };
        if no_body || status == 204 || status == 304 || status / 100 == 1 {
            return Some(res);
        }
        if let Some(len) = res.header("content-length") {
            let len: usize = len.parse().ok()?;
            while self.buf.len() < len {
                if !self.fill().await {
                    return None;
                }
            }
            res.body = self.buf.drain(..len).collect();
        } else if res.header("transfer-encoding").as_deref() == Some("chunked") {
            loop {
                let line_end = loop {
                    if let Some(p) = self.buf.windows(2).position(|w| w == b"\r\n") {
                        break p;
                    }
                    if !self.fill().await {
                        return None;
                    }
                };
                let size =
                    usize::from_str_radix(std::str::from_utf8(&self.buf[..line_end]).ok()?, 16)
                        .ok()?;
                self.buf.drain(..line_end + 2);
                while self.buf.len() < size + 2 {
                    if !self.fill().await {
                        return None;
                    }
                }
                res.body.extend(self.buf.drain(..size));
                self.buf.drain(..2);
                if size == 0 {
                    break;
                }
            }
        } else {
            while self.fill().await {}
            res.body = std::mem::take(&mut self.buf);
        }
        Some(res)
    }

    pub async fn read_response(&mut self) -> Option<RawResponse> {
        self.read_response_opts(false).await
    }

    /// True once the server has closed the connection (EOF) with nothing more to read.
    pub async fn is_closed(&mut self) -> bool {
        !self.fill().await && self.buf.is_empty()
    }
}

/// Sends `raw` on a fresh connection and returns the first response.
pub async fn request(addr: SocketAddr, raw: &str) -> RawResponse {
    let mut c = Client::connect(addr).await;
    c.send(raw.as_bytes()).await;
    c.read_response().await.expect("no response")
}

pub fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n")
}
