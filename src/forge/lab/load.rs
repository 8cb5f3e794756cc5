//! The load generator engine: `connections` keep-alive HTTP/1.1 clients, each sending one
//! request at a time (like `wrk`), with counters and a latency histogram the node reports.
//!
//! Nothing is retried: a request that gets no complete response (refused connection, reset,
//! early close, timeout, malformed answer) is an error, so "zero errors" during a reload means
//! that every request sent got its answer.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Most connections one load generator opens.
pub const MAX_CONNECTIONS: usize = 4096;
/// Longest response head accepted.
const MAX_HEAD: usize = 64 * 1024;
/// Largest response body accepted.
const MAX_BODY: usize = 8 * 1024 * 1024;
/// How long one request may take before it counts as an error.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Buckets of [`LatencyHistogram`]: bucket `i` holds latencies up to `1.05^i` µs.
const BUCKETS: usize = 400;
const GROWTH: f64 = 1.05;

/// A log-bucketed latency histogram (5 % resolution, 1 µs to about 5 minutes), fixed size.
#[derive(Clone, Debug)]
pub struct LatencyHistogram {
    counts: Box<[u64; BUCKETS]>,
    total: u64,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        LatencyHistogram {
            counts: Box::new([0; BUCKETS]),
            total: 0,
        }
    }
}

impl LatencyHistogram {
    /// Counts one latency.
    pub fn record(&mut self, d: Duration) {
        let micros = d.as_secs_f64() * 1e6;
        let i = if micros <= 1.0 {
            0
        } else {
            ((micros.ln() / GROWTH.ln()).ceil() as usize).min(BUCKETS - 1)
        };
        self.counts[i] += 1;
        self.total += 1;
    }

    /// How many latencies were counted.
    pub fn count(&self) -> u64 {
        self.total
    }

    /// The latency below which a fraction `q` of the counted ones fall (the bucket's upper
    /// bound); zero when empty.
    pub fn quantile(&self, q: f64) -> Duration {
        if self.total == 0 {
            return Duration::ZERO;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, n) in self.counts.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return Duration::from_secs_f64(GROWTH.powi(i as i32) / 1e6);
            }
        }
        Duration::from_secs_f64(GROWTH.powi(BUCKETS as i32 - 1) / 1e6)
    }

    /// Empties it.
    pub fn clear(&mut self) {
        self.counts.fill(0);
        self.total = 0;
    }
}

/// Counters shared by the connections of a load generator.
#[derive(Debug, Default)]
pub struct LoadStats {
    requests: AtomicU64,
    errors: AtomicU64,
    open: AtomicI64,
    statuses: Mutex<BTreeMap<u16, u64>>,
    window: Mutex<LatencyHistogram>,
    last_error: Mutex<Option<String>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

/// A point-in-time copy of [`LoadStats`].
#[derive(Clone, Debug, Default)]
pub struct LoadSnapshot {
    /// Responses received.
    pub requests: u64,
    /// Requests that got no complete response.
    pub errors: u64,
    /// Connections open now.
    pub open: i64,
    /// Responses by status.
    pub statuses: BTreeMap<u16, u64>,
    /// The most recent error, if any.
    pub last_error: Option<String>,
}

impl LoadStats {
    fn ok(&self, status: u16, latency: Duration) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        *lock(&self.statuses).entry(status).or_insert(0) += 1;
        lock(&self.window).record(latency);
    }

    fn error(&self, what: String) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        *lock(&self.last_error) = Some(what);
    }

    /// The cumulative counters now.
    pub fn snapshot(&self) -> LoadSnapshot {
        LoadSnapshot {
            requests: self.requests.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            open: self.open.load(Ordering::Relaxed),
            statuses: lock(&self.statuses).clone(),
            last_error: lock(&self.last_error).clone(),
        }
    }

    /// The latencies counted since the last call, leaving the window empty.
    pub fn take_window(&self) -> LatencyHistogram {
        let mut w = lock(&self.window);
        let out = w.clone();
        w.clear();
        out
    }
}

/// A running load: its connections stop when [`LoadRun::stop`] is awaited.
pub struct LoadRun {
    stop: CancellationToken,
    tracker: TaskTracker,
    /// Connections it runs.
    pub connections: usize,
}

impl LoadRun {
    /// Starts `connections` clients (at most [`MAX_CONNECTIONS`]) sending `GET path` to
    /// `target`. Must be called inside a tokio runtime.
    pub fn start(
        target: SocketAddr,
        path: &str,
        connections: usize,
        stats: Arc<LoadStats>,
    ) -> Self {
        let connections = connections.clamp(1, MAX_CONNECTIONS);
        let request: Arc<[u8]> = format!(
            "GET {path} HTTP/1.1\r\nHost: {target}\r\nUser-Agent: wirelab-forge-load\r\n\r\n"
        )
        .into_bytes()
        .into();
        let stop = CancellationToken::new();
        let tracker = TaskTracker::new();
        for _ in 0..connections {
            tracker.spawn(client_loop(
                target,
                request.clone(),
                stats.clone(),
                stop.clone(),
            ));
        }
        tracker.close();
        LoadRun {
            stop,
            tracker,
            connections,
        }
    }

    /// Lets every connection finish its request in flight, then closes them.
    pub async fn stop(self) {
        self.stop.cancel();
        let _ = tokio::time::timeout(
            REQUEST_TIMEOUT + Duration::from_secs(1),
            self.tracker.wait(),
        )
        .await;
    }
}

/// One connection's open/close accounting.
struct Open(Arc<LoadStats>);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::Relaxed);
    }
}

async fn client_loop(
    target: SocketAddr,
    request: Arc<[u8]>,
    stats: Arc<LoadStats>,
    stop: CancellationToken,
) {
    let mut conn: Option<(TcpStream, BytesMut, Open)> = None;
    while !stop.is_cancelled() {
        if conn.is_none() {
            match tokio::time::timeout(Duration::from_secs(2), TcpStream::connect(target)).await {
                Ok(Ok(tcp)) => {
                    let _ = tcp.set_nodelay(true);
                    stats.open.fetch_add(1, Ordering::Relaxed);
                    conn = Some((tcp, BytesMut::with_capacity(4096), Open(stats.clone())));
                }
                Ok(Err(e)) => {
                    stats.error(format!("connect to {target}: {e}"));
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_millis(50)) => {}
                        _ = stop.cancelled() => {}
                    }
                    continue;
                }
                Err(_) => {
                    stats.error(format!("connect to {target}: timed out"));
                    continue;
                }
            }
        }
        let Some((tcp, buf, _)) = conn.as_mut() else {
            continue;
        };
        let start = Instant::now();
        match tokio::time::timeout(REQUEST_TIMEOUT, exchange(tcp, buf, &request)).await {
            Ok(Ok(resp)) => {
                stats.ok(resp.status, start.elapsed());
                if resp.close {
                    conn = None;
                }
            }
            Ok(Err(e)) => {
                stats.error(e);
                conn = None;
            }
            Err(_) => {
                stats.error(format!("no response within {REQUEST_TIMEOUT:?}"));
                conn = None;
            }
        }
    }
}

/// What the load generator needs of a response.
#[derive(Debug, PartialEq, Eq)]
pub struct ResponseInfo {
    /// Status code.
    pub status: u16,
    /// Whether the server closes the connection after it.
    pub close: bool,
}

/// Sends one request and reads its whole response.
async fn exchange(
    tcp: &mut TcpStream,
    buf: &mut BytesMut,
    request: &[u8],
) -> Result<ResponseInfo, String> {
    tcp.write_all(request)
        .await
        .map_err(|e| format!("write: {e}"))?;
    loop {
        match parse_response(buf)? {
            Parsed::Complete(info) => return Ok(info),
            Parsed::UntilClose(status) => {
                // No length: the body runs to the end of the connection.
                loop {
                    buf.clear();
                    match tcp.read_buf(buf).await {
                        Ok(0) => {
                            return Ok(ResponseInfo {
                                status,
                                close: true,
                            });
                        }
                        Ok(_) if buf.len() <= MAX_BODY => {}
                        Ok(_) => return Err("response body too large".into()),
                        Err(e) => return Err(format!("read: {e}")),
                    }
                }
            }
            Parsed::Partial => {}
        }
        if buf.capacity() - buf.len() < 1024 {
            buf.reserve(4096);
        }
        match tcp.read_buf(buf).await {
            Ok(0) => return Err("connection closed before a complete response".into()),
            Ok(_) => {}
            Err(e) => return Err(format!("read: {e}")),
        }
    }
}

/// The outcome of looking at the buffered bytes.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    /// A whole response was consumed from the buffer.
    Complete(ResponseInfo),
    /// The head was consumed; the body runs until the connection closes.
    UntilClose(u16),
    /// More bytes are needed (nothing was consumed).
    Partial,
}

/// Parses (and on success consumes) one response from the front of `buf`.
pub fn parse_response(buf: &mut BytesMut) -> Result<Parsed, String> {
    let Some(head_len) = buf.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4) else {
        if buf.len() > MAX_HEAD {
            return Err("response head too large".into());
        }
        return Ok(Parsed::Partial);
    };
    let head = std::str::from_utf8(&buf[..head_len]).map_err(|_| "response head is not UTF-8")?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .filter(|s| (100..600).contains(s))
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let mut length: Option<usize> = None;
    let mut chunked = false;
    let mut close = version == "HTTP/1.0";
    for line in lines.filter(|l| !l.is_empty()) {
        let Some((name, value)) = line.split_once(':') else {
            return Err(format!("bad header line {line:?}"));
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            length = Some(
                value
                    .parse()
                    .map_err(|_| format!("bad Content-Length {value:?}"))?,
            );
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.eq_ignore_ascii_case("chunked");
        } else if name.eq_ignore_ascii_case("connection") {
            close = value.eq_ignore_ascii_case("close");
        }
    }
    let info = ResponseInfo { status, close };
    if (100..200).contains(&status) {
        // An interim response (100 Continue): skip it and wait for the real one.
        buf.advance(head_len);
        return parse_response(buf);
    }
    if status == 204 || status == 304 {
        buf.advance(head_len);
        return Ok(Parsed::Complete(info));
    }
    if chunked {
        return match chunked_len(&buf[head_len..])? {
            Some(body) => {
                buf.advance(head_len + body);
                Ok(Parsed::Complete(info))
            }
            None => Ok(Parsed::Partial),
        };
    }
    match length {
        Some(n) if n > MAX_BODY => Err("response body too large".into()),
        Some(n) if buf.len() >= head_len + n => {
            buf.advance(head_len + n);
            Ok(Parsed::Complete(info))
        }
        Some(_) => Ok(Parsed::Partial),
        None => {
            buf.advance(head_len);
            Ok(Parsed::UntilClose(status))
        }
    }
}

/// The length of a complete chunked body at the front of `b` (trailers included), if it is all
/// there.
fn chunked_len(b: &[u8]) -> Result<Option<usize>, String> {
    let mut at = 0;
    loop {
        let Some(eol) = b[at..].windows(2).position(|w| w == b"\r\n") else {
            return Ok(None);
        };
        let line = std::str::from_utf8(&b[at..at + eol]).map_err(|_| "bad chunk size")?;
        let size = usize::from_str_radix(line.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| format!("bad chunk size {line:?}"))?;
        if size > MAX_BODY || at > MAX_BODY {
            return Err("response body too large".into());
        }
        at += eol + 2;
        if size == 0 {
            // Trailers, then an empty line.
            loop {
                let Some(eol) = b[at..].windows(2).position(|w| w == b"\r\n") else {
                    return Ok(None);
                };
                at += eol + 2;
                if eol == 0 {
                    return Ok(Some(at));
                }
            }
        }
        if b.len() < at + size + 2 {
            return Ok(None);
        }
        at += size + 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_quantiles_land_within_five_percent() {
        let mut h = LatencyHistogram::default();
        for us in 1..=1000u64 {
            h.record(Duration::from_micros(us));
        }
        let p50 = h.quantile(0.5).as_secs_f64() * 1e6;
        let p99 = h.quantile(0.99).as_secs_f64() * 1e6;
        assert!((500.0..=525.0).contains(&p50), "p50 {p50}");
        assert!((990.0..=1040.0).contains(&p99), "p99 {p99}");
        h.record(Duration::from_secs(100_000));
        assert_eq!(h.count(), 1001);
        h.clear();
        assert_eq!(h.quantile(0.5), Duration::ZERO);
    }

    #[test]
    fn responses_parse_by_length_chunks_and_close() {
        let mut b = BytesMut::from(
            &b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloHTTP/1.1 404 Not Found\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"[..],
        );
        assert_eq!(
            parse_response(&mut b).unwrap(),
            Parsed::Complete(ResponseInfo {
                status: 200,
                close: false
            })
        );
        assert_eq!(
            parse_response(&mut b).unwrap(),
            Parsed::Complete(ResponseInfo {
                status: 404,
                close: true
            })
        );
        assert!(b.is_empty());
        let mut partial = BytesMut::from(&b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel"[..]);
        assert_eq!(parse_response(&mut partial).unwrap(), Parsed::Partial);
        let mut bad = BytesMut::from(&b"HTTP/1.1 abc\r\n\r\n"[..]);
        assert!(parse_response(&mut bad).is_err());
        let mut huge = BytesMut::from(
            &b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffff\r\n"[..],
        );
        assert!(parse_response(&mut huge).is_err());
    }
}
