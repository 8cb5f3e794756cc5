//! The server: accepts on a tokio `TcpListener` (optionally through TLS), bounds concurrent
//! connections with a semaphore, and runs one task per connection that reads into a reused
//! buffer, parses pipelined requests in order, and batches their responses into as few writes as
//! it can. Slow clients meet the header timeout (slowloris), idle keep-alive connections the idle
//! timeout. Shutdown is a `CancellationToken` passed in: the listener closes first, then idle
//! connections close (or, with [`ServerConfig::drain_idle`], get one more request answered with
//! `Connection: close`), in-flight requests finish (answered with `Connection: close`) within the
//! grace period, and whatever is left after it is cut. [`bind_reuseport`] lets a new server
//! process share the port with the old one during a graceful reload.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use bytes::BytesMut;
use std::panic::AssertUnwindSafe;

use futures::{FutureExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::time::{Instant, timeout, timeout_at};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::date::DateCache;
use super::error::ServeError;
use super::middleware::App;
use super::parser::{Limits, RequestParser};
use super::request::{Method, Request, Version};
use super::response::{Body, Framing, Io, Response, Upgraded, write_response_head};

/// Tunables of a server.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Parser limits (request line, headers, body).
    pub limits: Limits,
    /// Most connections served at once; further ones wait in the listen backlog.
    pub max_connections: usize,
    /// Time allowed for a whole request head once its first byte arrived (slowloris guard).
    pub header_timeout: Duration,
    /// Time an idle keep-alive connection is kept open waiting for the next request.
    pub idle_timeout: Duration,
    /// Longest wait between reads of a request body.
    pub body_timeout: Duration,
    /// Longest a single write may wait on a client that does not read (slow readers).
    pub write_timeout: Duration,
    /// How long shutdown waits for in-flight requests before cutting connections.
    pub shutdown_grace: Duration,
    /// On shutdown, how long an idle keep-alive connection stays open for one more request
    /// (answered with `Connection: close`). Zero closes idle connections at once; a few hundred
    /// milliseconds spares busy keep-alive clients the race where the server closes a
    /// connection just as a request is on its way (a graceful reload under load).
    pub drain_idle: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            limits: Limits::default(),
            max_connections: 1024,
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            body_timeout: Duration::from_secs(30),
            write_timeout: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(10),
            drain_idle: Duration::ZERO,
        }
    }
}

/// An HTTP/1.1 server for one [`App`]. Clones share the app, settings and connection gauge
/// (one per thread when several runtimes serve the same port, see [`bind_reuseport`]).
#[derive(Clone)]
pub struct Server {
    app: Arc<App>,
    config: Arc<ServerConfig>,
    tls: Option<TlsAcceptor>,
    open_connections: Arc<AtomicI64>,
    on_reject: Option<RejectHook>,
    on_refusal: Option<RefusalHook>,
}

/// Dresses every response the server makes itself, without the app (refusals before the app,
/// a handler's panic): an app's own headers (security headers) then cover those responses too.
pub type RefusalHook = Arc<dyn Fn(&mut Response) + Send + Sync>;

/// Called with the status of every request the server refuses before it reaches the app
/// (malformed or smuggling requests, header timeouts, oversized heads).
pub type RejectHook = Arc<dyn Fn(u16) + Send + Sync>;

impl Server {
    /// A server for `app` with default settings.
    pub fn new(app: App) -> Server {
        Server {
            app: Arc::new(app),
            config: Arc::new(ServerConfig::default()),
            tls: None,
            open_connections: Arc::new(AtomicI64::new(0)),
            on_reject: None,
            on_refusal: None,
        }
    }

    /// Calls `hook` with the status of every request refused before it reached the app.
    pub fn on_reject(mut self, hook: RejectHook) -> Server {
        self.on_reject = Some(hook);
        self
    }

    /// Passes every response the server makes without the app (a refusal before the app, the
    /// 500 of a panicking handler) through `hook` before it is written.
    pub fn on_refusal(mut self, hook: RefusalHook) -> Server {
        self.on_refusal = Some(hook);
        self
    }

    /// Replaces the settings.
    pub fn with_config(mut self, config: ServerConfig) -> Server {
        self.config = Arc::new(config);
        self
    }

    /// Serves TLS through `acceptor` instead of plain TCP.
    pub fn with_tls(mut self, acceptor: TlsAcceptor) -> Server {
        self.tls = Some(acceptor);
        self
    }

    /// Uses `gauge` as the open-connection count (share it with the metrics middleware).
    pub fn with_connection_gauge(mut self, gauge: Arc<AtomicI64>) -> Server {
        self.open_connections = gauge;
        self
    }

    /// The settings.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// The live count of open connections.
    pub fn connection_gauge(&self) -> Arc<AtomicI64> {
        self.open_connections.clone()
    }

    /// Accepts and serves connections until `shutdown` is cancelled, then drains in-flight
    /// requests for at most the configured grace period.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: CancellationToken,
    ) -> Result<(), ServeError> {
        let tracker = TaskTracker::new();
        let hard_stop = CancellationToken::new();
        // Connections learn of the shutdown only once the listener is closed, so a client told
        // `Connection: close` cannot reconnect into this process's accept queue just before it
        // goes away (with SO_REUSEPORT, the next server takes the new connection instead).
        let draining = CancellationToken::new();
        let slots = Arc::new(Semaphore::new(self.config.max_connections.max(1)));
        loop {
            let permit = tokio::select! {
                _ = shutdown.cancelled() => break,
                p = slots.clone().acquire_owned() => match p {
                    Ok(p) => p,
                    Err(_) => break,
                },
            };
            let (tcp, peer) = tokio::select! {
                _ = shutdown.cancelled() => break,
                r = listener.accept() => match r {
                    Ok(x) => x,
                    Err(_) => {
                        // EMFILE and friends: back off instead of spinning.
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    }
                },
            };
            let _ = tcp.set_nodelay(true);
            let conn = ConnShared {
                app: self.app.clone(),
                config: self.config.clone(),
                shutdown: draining.clone(),
                hard_stop: hard_stop.clone(),
                peer,
                on_reject: self.on_reject.clone(),
                on_refusal: self.on_refusal.clone(),
            };
            let gauge = self.open_connections.clone();
            let tls = self.tls.clone();
            tracker.spawn(async move {
                let _permit = permit;
                let _open = OpenConnection::new(gauge);
                match tls {
                    None => conn.run(tcp).await,
                    Some(acceptor) => {
                        let handshake = timeout(conn.config.header_timeout, acceptor.accept(tcp));
                        if let Ok(Ok(stream)) = handshake.await {
                            conn.run(stream).await;
                        }
                    }
                }
            });
        }
        drop(listener);
        draining.cancel();
        tracker.close();
        if timeout(self.config.shutdown_grace, tracker.wait())
            .await
            .is_err()
        {
            hard_stop.cancel();
            let _ = timeout(Duration::from_secs(1), tracker.wait()).await;
        }
        Ok(())
    }
}

/// Counts a connection as open for as long as it lives (even if its task unwinds).
struct OpenConnection(Arc<AtomicI64>);

impl OpenConnection {
    fn new(gauge: Arc<AtomicI64>) -> OpenConnection {
        gauge.fetch_add(1, Ordering::Relaxed);
        OpenConnection(gauge)
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// What one connection task shares with the server.
struct ConnShared {
    app: Arc<App>,
    config: Arc<ServerConfig>,
    shutdown: CancellationToken,
    hard_stop: CancellationToken,
    peer: SocketAddr,
    on_reject: Option<RejectHook>,
    on_refusal: Option<RefusalHook>,
}

/// Flush pending pipelined responses once they reach this size.
const OUT_FLUSH_AT: usize = 64 * 1024;
const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

enum After {
    KeepAlive,
    Close,
    Upgrade(super::response::UpgradeFn),
}

impl ConnShared {
    async fn run<S: Io + 'static>(self, mut io: S) {
        let cfg = &self.config;
        let mut parser = RequestParser::new(cfg.limits);
        let mut inbuf = BytesMut::with_capacity(8 * 1024);
        let mut out = BytesMut::with_capacity(8 * 1024);
        let mut date = DateCache::default();
        let mut idle_since = Instant::now();
        let mut head_started: Option<Instant> = None;
        // Registered once per connection, not once per read: waiting on a cancellation token or
        // arming a timer takes a lock and a list or wheel insertion, which a hello-world
        // request would otherwise pay for three times.
        let hard_stop = self.hard_stop.cancelled();
        let shutdown = self.shutdown.cancelled();
        let timer = tokio::time::sleep_until(idle_since + cfg.idle_timeout);
        tokio::pin!(hard_stop, shutdown, timer);
        'conn: loop {
            match parser.parse(&mut inbuf) {
                Ok(Some(req)) => {
                    head_started = None;
                    match self.respond(req, &mut io, &mut out, &mut date).await {
                        Ok(After::KeepAlive) => {
                            idle_since = Instant::now();
                            continue;
                        }
                        Ok(After::Close) => {
                            let _ = flush(&mut io, &mut out, cfg.write_timeout).await;
                            let _ = io.shutdown().await;
                            return;
                        }
                        Ok(After::Upgrade(on_upgrade)) => {
                            on_upgrade(Upgraded {
                                io: Box::new(io),
                                read_buf: inbuf,
                                shutdown: self.shutdown.clone(),
                            })
                            .await;
                            return;
                        }
                        Err(_) => return,
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    self.reject(&mut io, &mut out, &mut date, e.status()).await;
                    return;
                }
            }
            if flush(&mut io, &mut out, cfg.write_timeout).await.is_err() {
                return;
            }
            if parser.take_continue()
                && write_timed(&mut io, CONTINUE, cfg.write_timeout)
                    .await
                    .is_err()
            {
                return;
            }
            let idle = parser.is_idle() && inbuf.is_empty();
            let draining = self.shutdown.is_cancelled();
            if idle && draining && cfg.drain_idle.is_zero() {
                return;
            }
            if !idle && !parser.in_body() && head_started.is_none() {
                head_started = Some(Instant::now());
            }
            let deadline = if parser.in_body() {
                Instant::now() + cfg.body_timeout
            } else if let Some(start) = head_started {
                start + cfg.header_timeout
            } else if draining {
                (idle_since + cfg.idle_timeout).min(Instant::now() + cfg.drain_idle)
            } else {
                idle_since + cfg.idle_timeout
            };
            if inbuf.capacity() - inbuf.len() < 2048 {
                inbuf.reserve(8 * 1024);
            }
            // The timer is only moved earlier; when it fires before the current deadline (which
            // moved later since it was armed), it is re-armed instead of timing the read out.
            if timer.deadline() > deadline {
                timer.as_mut().reset(deadline);
            }
            let read = loop {
                tokio::select! {
                    // Data first: when it is already there, nothing else is polled (a client that
                    // never stops sending still lets the others be polled whenever tokio's
                    // cooperative budget makes the read yield).
                    biased;
                    r = io.read_buf(&mut inbuf) => break Some(r),
                    _ = &mut hard_stop => return,
                    // Shutdown began while idle: close, or re-arm with the drain deadline.
                    _ = &mut shutdown, if idle && !draining => {
                        if cfg.drain_idle.is_zero() {
                            return;
                        }
                        continue 'conn;
                    }
                    _ = &mut timer => {
                        if Instant::now() >= deadline {
                            break None;
                        }
                        timer.as_mut().reset(deadline);
                    }
                }
            };
            match read {
                Some(Ok(0)) | Some(Err(_)) => return,
                Some(Ok(_)) => {}
                None if idle => return,
                None => {
                    self.reject(&mut io, &mut out, &mut date, 408).await;
                    return;
                }
            }
        }
    }

    /// Runs one request through the app and serializes its response.
    async fn respond<S: Io>(
        &self,
        mut req: Request,
        io: &mut S,
        out: &mut BytesMut,
        date: &mut DateCache,
    ) -> std::io::Result<After> {
        let version = req.version();
        let omit_body = req.method() == Method::Head;
        let mut keep_alive = req.keep_alive() && !self.shutdown.is_cancelled();
        req.peer = Some(self.peer);
        // A panicking handler costs its request a 500 and the connection, not the process.
        let handled = AssertUnwindSafe(self.app.handle(req)).catch_unwind();
        let mut res = tokio::select! {
            // The handler first: a ready response then never registers a cancellation waiter.
            biased;
            res = handled => res.unwrap_or_else(|_| {
                keep_alive = false;
                self.refusal(500)
            }),
            _ = self.hard_stop.cancelled() => return Ok(After::Close),
        };
        keep_alive &= !self.shutdown.is_cancelled()
            && !res
                .header("connection")
                .is_some_and(|v| v.eq_ignore_ascii_case("close"));
        if res.status() == 101 {
            if let Some(on_upgrade) = res.take_upgrade() {
                write_response_head(&res, out, version, true, true, date.now());
                flush(io, out, self.config.write_timeout).await?;
                return Ok(After::Upgrade(on_upgrade));
            }
            res = self.refusal(500);
        }
        if omit_body && version == Version::Http10 && res.body().len().is_none() {
            // The head says the (unsent) body would run until close.
            keep_alive = false;
        }
        let framing = write_response_head(&res, out, version, keep_alive, omit_body, date.now());
        match framing {
            Framing::Done => {}
            Framing::FullAfter => {
                flush(io, out, self.config.write_timeout).await?;
                if let Body::Full(b) = res.body() {
                    write_timed(io, b, self.config.write_timeout).await?;
                }
            }
            Framing::Sized | Framing::Chunked | Framing::UntilClose => {
                flush(io, out, self.config.write_timeout).await?;
                let complete = self.stream_body(res.take_body(), framing, io).await?;
                keep_alive &= complete && framing != Framing::UntilClose;
            }
        }
        if out.len() >= OUT_FLUSH_AT {
            flush(io, out, self.config.write_timeout).await?;
        }
        Ok(if keep_alive {
            After::KeepAlive
        } else {
            After::Close
        })
    }

    /// Writes a streamed body; `Ok(false)` if it ended early (shutdown or a short stream), after
    /// which the connection must close.
    async fn stream_body<S: Io>(
        &self,
        body: Body,
        framing: Framing,
        io: &mut S,
    ) -> std::io::Result<bool> {
        let Body::Stream { mut stream, len } = body else {
            return Ok(true);
        };
        let mut sent: u64 = 0;
        let mut complete = true;
        loop {
            let next = tokio::select! {
                c = stream.next() => c,
                _ = self.shutdown.cancelled() => { complete = false; None }
            };
            let Some(chunk) = next else { break };
            if chunk.is_empty() {
                continue;
            }
            let limit = self.config.write_timeout;
            if framing == Framing::Chunked {
                let mut framed = BytesMut::with_capacity(chunk.len() + 20);
                framed.extend_from_slice(format!("{:X}\r\n", chunk.len()).as_bytes());
                framed.extend_from_slice(&chunk);
                framed.extend_from_slice(b"\r\n");
                write_timed(io, &framed, limit).await?;
            } else {
                let room = len.map_or(u64::MAX, |l| l - sent.min(l));
                let take = (chunk.len() as u64).min(room) as usize;
                write_timed(io, &chunk[..take], limit).await?;
            }
            sent += chunk.len() as u64;
        }
        if framing == Framing::Chunked {
            write_timed(io, b"0\r\n\r\n", self.config.write_timeout).await?;
        }
        Ok(complete && len.is_none_or(|l| sent == l))
    }

    /// A response of the server's own (no app involved), dressed by the refusal hook.
    fn refusal(&self, status: u16) -> Response {
        let mut res = Response::error(status);
        if let Some(hook) = &self.on_refusal {
            hook(&mut res);
        }
        res
    }

    /// Answers a request we refuse to parse further and closes without resetting the peer.
    async fn reject<S: Io>(
        &self,
        io: &mut S,
        out: &mut BytesMut,
        date: &mut DateCache,
        status: u16,
    ) {
        if let Some(hook) = &self.on_reject {
            hook(status);
        }
        let res = self.refusal(status);
        write_response_head(&res, out, Version::Http11, false, false, date.now());
        if flush(io, out, self.config.write_timeout).await.is_err() {
            return;
        }
        linger_close(io).await;
    }
}

/// Writes `data` and flushes, failing if the client does not take it within `limit`.
async fn write_timed<S: Io>(io: &mut S, data: &[u8], limit: Duration) -> std::io::Result<()> {
    let write = async {
        io.write_all(data).await?;
        io.flush().await
    };
    match timeout(limit, write).await {
        Ok(r) => r,
        Err(_) => Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "client is not reading",
        )),
    }
}

/// Sends the pending responses in `out` in one write.
async fn flush<S: Io>(io: &mut S, out: &mut BytesMut, limit: Duration) -> std::io::Result<()> {
    if !out.is_empty() {
        write_timed(io, out, limit).await?;
        out.clear();
    }
    Ok(())
}

/// Half-closes and discards what the client still sends for a moment, so the error response is
/// not lost to a TCP reset caused by unread data.
async fn linger_close<S: Io>(io: &mut S) {
    let _ = io.shutdown().await;
    let mut sink = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_millis(500);
    let mut drained = 0usize;
    while drained < 256 * 1024 {
        match timeout_at(deadline, io.read(&mut sink)).await {
            Ok(Ok(n)) if n > 0 => drained += n,
            _ => break,
        }
    }
}

/// Binds a listener on `addr` with `SO_REUSEPORT` (and `SO_REUSEADDR`), so that a new server
/// process can bind the same port while the old one still serves, and take over as the old one
/// closes its listener and drains. It is how every lab node binds
/// ([`crate::cluster::listen_reserved`]), so it can also bind a port its lab holds in reserve.
pub fn bind_reuseport(addr: SocketAddr) -> std::io::Result<TcpListener> {
    crate::cluster::listen_reserved(addr)
}

/// Binds `addr` and serves `app` until `shutdown` is cancelled (a convenience for tools).
pub async fn bind_and_serve(
    addr: SocketAddr,
    server: Server,
    shutdown: CancellationToken,
) -> Result<(), ServeError> {
    let listener = TcpListener::bind(addr).await?;
    server.serve(listener, shutdown).await
}
