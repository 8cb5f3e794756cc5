//! One request/response call over a persistent TCP connection: a JSON message in a bounded
//! length-prefixed frame ([`crate::wire::frame`]) each way, under a deadline.

use std::net::SocketAddr;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::io::BufReader;
use tokio::net::TcpStream;

use super::proto::MAX_FRAME;
use crate::wire::frame::{read_frame, write_frame};

/// A connection to one KDC process, reopened after any failure.
#[derive(Debug)]
pub struct Conn {
    addr: SocketAddr,
    /// Buffered for reading: a frame's length prefix and body come in one `read`, not three.
    stream: Option<BufReader<TcpStream>>,
    buf: Vec<u8>,
}

impl Conn {
    /// A connection to `addr` (opened on first use).
    pub fn new(addr: SocketAddr) -> Conn {
        Conn {
            addr,
            stream: None,
            buf: Vec::new(),
        }
    }

    /// The peer's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Sends `req`, returns the answer; on any error the connection is dropped.
    pub async fn call<Q: Serialize, A: DeserializeOwned>(
        &mut self,
        req: &Q,
        timeout: Duration,
    ) -> Result<A, String> {
        let r = tokio::time::timeout(timeout, self.exchange(req)).await;
        let r = match r {
            Ok(r) => r,
            Err(_) => Err(format!("no answer within {} ms", timeout.as_millis())),
        };
        if r.is_err() {
            self.stream = None;
        }
        r
    }

    async fn exchange<Q: Serialize, A: DeserializeOwned>(&mut self, req: &Q) -> Result<A, String> {
        if self.stream.is_none() {
            let s = TcpStream::connect(self.addr)
                .await
                .map_err(|e| format!("cannot connect: {e}"))?;
            let _ = s.set_nodelay(true);
            self.stream = Some(BufReader::new(s));
        }
        let Some(s) = self.stream.as_mut() else {
            return Err("not connected".into());
        };
        let body = serde_json::to_vec(req).map_err(|e| e.to_string())?;
        write_frame(s, &body)
            .await
            .map_err(|e| format!("send: {e}"))?;
        match read_frame(s, &mut self.buf, MAX_FRAME).await {
            Ok(true) => serde_json::from_slice(&self.buf).map_err(|e| format!("bad answer: {e}")),
            Ok(false) => Err("connection closed".into()),
            Err(e) => Err(format!("receive: {e}")),
        }
    }
}
