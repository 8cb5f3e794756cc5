//! The Redis store: a real `redis-server` reached over RESP2, which this module speaks itself
//! (a few commands need no client crate).
//!
//! Keys, under `wirelab:secret:`: `ID` holds the sealed record (`SET … EX ttl NX`, so Redis
//! expires it itself); `ID:views` a countdown only when a secret may be read more than once;
//! `ID:gone` a marker that says why the record is gone: set to `expired` at create, living a
//! day past the record's TTL (so a reader after expiry hears "expired", as with the embedded
//! store), and overwritten with `opened` for a day by the last claim (so a second reader hears
//! "already opened" rather than "no such secret"). A claim is one Lua script, which Redis runs
//! atomically: decrement the countdown, and on the last view `GETDEL` the record. Of any
//! number of concurrent claimers exactly one takes the last view; none can read it after.
//!
//! Durability is Redis's: acknowledged when Redis acknowledged the `SET`; how much survives a
//! Redis crash depends on its `appendfsync` setting (the tests run it with `appendonly yes`,
//! `appendfsync always`). Killing the wirelab server loses nothing either way.

use std::net::SocketAddr;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::format::{ID_LEN, encode_id};
use super::record::{Sealed, now_secs};
use super::store::{Gone, Lookup, StoreError};

/// Key prefix.
pub const PREFIX: &str = "wirelab:secret:";
/// Largest bulk reply accepted.
const MAX_BULK: usize = 1 << 20;
/// Largest array reply accepted.
const MAX_ARRAY: usize = 100_000;
/// Most idle connections kept.
const POOL: usize = 64;
const TIMEOUT: Duration = Duration::from_secs(5);

/// The claim: returns `{record, views_left}`, or the `gone` marker (or nil) when there is
/// nothing to take.
const CLAIM: &str = r#"
local left = redis.call('DECR', KEYS[2])
if left > 0 then
  local v = redis.call('GET', KEYS[1])
  if v then return {v, left} end
  redis.call('DEL', KEYS[2])
  return redis.call('GET', KEYS[3])
end
redis.call('DEL', KEYS[2])
local v = redis.call('GETDEL', KEYS[1])
if not v then return redis.call('GET', KEYS[3]) end
redis.call('SET', KEYS[3], 'opened', 'EX', 86400)
return {v, 0}
"#;

/// A RESP2 value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `+OK`.
    Simple(String),
    /// `-ERR …`.
    Error(String),
    /// `:1`.
    Int(i64),
    /// `$n` bytes.
    Bulk(Vec<u8>),
    /// `$-1` or `*-1`.
    Nil,
    /// `*n`.
    Array(Vec<Reply>),
}

/// Parses one reply from the front of `b`: `Ok(None)` when incomplete.
pub fn parse_reply(b: &[u8]) -> Result<Option<(Reply, usize)>, String> {
    let Some(eol) = b.windows(2).position(|w| w == b"\r\n") else {
        if b.len() > 64 * 1024 {
            return Err("reply line too long".into());
        }
        return Ok(None);
    };
    if eol == 0 {
        return Err("empty reply line".into());
    }
    let line = std::str::from_utf8(&b[1..eol]).map_err(|_| "reply line not UTF-8")?;
    let after = eol + 2;
    let int = || -> Result<i64, String> {
        line.parse::<i64>()
            .map_err(|_| format!("bad number {line:?}"))
    };
    match b[0] {
        b'+' => Ok(Some((Reply::Simple(line.to_string()), after))),
        b'-' => Ok(Some((Reply::Error(line.to_string()), after))),
        b':' => Ok(Some((Reply::Int(int()?), after))),
        b'$' => {
            let n = int()?;
            if n < 0 {
                return Ok(Some((Reply::Nil, after)));
            }
            let n = n as usize;
            if n > MAX_BULK {
                return Err(format!("bulk reply of {n} bytes is too large"));
            }
            if b.len() < after + n + 2 {
                return Ok(None);
            }
            if &b[after + n..after + n + 2] != b"\r\n" {
                return Err("bulk reply not terminated".into());
            }
            Ok(Some((
                Reply::Bulk(b[after..after + n].to_vec()),
                after + n + 2,
            )))
        }
        b'*' => {
            let n = int()?;
            if n < 0 {
                return Ok(Some((Reply::Nil, after)));
            }
            let n = n as usize;
            if n > MAX_ARRAY {
                return Err(format!("array reply of {n} items is too large"));
            }
            let mut items = Vec::with_capacity(n.min(1024));
            let mut at = after;
            for _ in 0..n {
                match parse_reply(&b[at..])? {
                    Some((r, used)) => {
                        items.push(r);
                        at += used;
                    }
                    None => return Ok(None),
                }
            }
            Ok(Some((Reply::Array(items), at)))
        }
        t => Err(format!("unknown reply type {:?}", t as char)),
    }
}

/// Encodes a command as a RESP array of bulk strings.
pub fn encode_command(out: &mut Vec<u8>, args: &[&[u8]]) {
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

/// One connection.
pub struct Conn {
    tcp: TcpStream,
    buf: BytesMut,
}

impl Conn {
    /// Connects.
    pub async fn connect(addr: SocketAddr) -> Result<Conn, StoreError> {
        let tcp = tokio::time::timeout(TIMEOUT, TcpStream::connect(addr))
            .await
            .map_err(|_| StoreError::Io(format!("redis://{addr}: connection timed out")))?
            .map_err(|e| StoreError::Io(format!("redis://{addr}: {e}")))?;
        let _ = tcp.set_nodelay(true);
        Ok(Conn {
            tcp,
            buf: BytesMut::with_capacity(4096),
        })
    }

    /// Sends several commands at once and reads their replies (a pipeline).
    pub async fn pipeline(&mut self, cmds: &[Vec<&[u8]>]) -> Result<Vec<Reply>, StoreError> {
        let mut out = Vec::new();
        for c in cmds {
            encode_command(&mut out, c);
        }
        let io = |e: String| StoreError::Io(format!("redis: {e}"));
        tokio::time::timeout(TIMEOUT, async {
            self.tcp
                .write_all(&out)
                .await
                .map_err(|e| io(e.to_string()))?;
            let mut replies = Vec::with_capacity(cmds.len());
            while replies.len() < cmds.len() {
                match parse_reply(&self.buf).map_err(io)? {
                    Some((r, used)) => {
                        self.buf.advance(used);
                        replies.push(r);
                    }
                    None => {
                        if self.buf.len() > 2 * MAX_BULK {
                            return Err(io("reply too large".into()));
                        }
                        self.buf.reserve(8192);
                        let n = self
                            .tcp
                            .read_buf(&mut self.buf)
                            .await
                            .map_err(|e| io(e.to_string()))?;
                        if n == 0 {
                            return Err(io("connection closed".into()));
                        }
                    }
                }
            }
            Ok(replies)
        })
        .await
        .map_err(|_| io("timed out".into()))?
    }

    /// One command.
    pub async fn call(&mut self, args: &[&[u8]]) -> Result<Reply, StoreError> {
        let mut r = self.pipeline(&[args.to_vec()]).await?;
        match r.pop() {
            Some(Reply::Error(e)) => Err(StoreError::Io(format!("redis: {e}"))),
            Some(r) => Ok(r),
            None => Err(StoreError::Io("redis: no reply".into())),
        }
    }
}

/// The Redis-backed store: a pool of connections to one server.
pub struct RedisStore {
    addr: SocketAddr,
    pool: Mutex<Vec<Conn>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Parses `redis://HOST:PORT` (host a name or an address).
pub fn parse_url(url: &str) -> Result<SocketAddr, String> {
    let rest = url
        .strip_prefix("redis://")
        .ok_or_else(|| format!("{url:?}: expected redis://HOST:PORT"))?;
    let rest = rest.trim_end_matches('/');
    use std::net::ToSocketAddrs;
    rest.to_socket_addrs()
        .map_err(|e| format!("{url:?}: {e}"))?
        .next()
        .ok_or_else(|| format!("{url:?}: no address"))
}

fn key(id: &[u8; ID_LEN], suffix: &str) -> Vec<u8> {
    format!("{PREFIX}{}{suffix}", encode_id(id)).into_bytes()
}

fn gone_of(r: &Reply) -> Gone {
    match r {
        Reply::Bulk(b) if b == b"opened" => Gone::Opened,
        Reply::Bulk(b) if b == b"expired" => Gone::Expired,
        _ => Gone::Unknown,
    }
}

impl RedisStore {
    /// Connects and checks the server answers `PING` and has `GETDEL` (Redis 6.2 or newer).
    pub async fn connect(addr: SocketAddr) -> Result<RedisStore, StoreError> {
        let mut c = Conn::connect(addr).await?;
        match c.call(&[b"PING"]).await? {
            Reply::Simple(s) if s == "PONG" => {}
            other => {
                return Err(StoreError::Io(format!(
                    "redis://{addr}: PING got {other:?}"
                )));
            }
        }
        let probe = format!("{PREFIX}probe");
        c.call(&[b"GETDEL", probe.as_bytes()])
            .await
            .map_err(|e| StoreError::Io(format!("redis://{addr} lacks GETDEL (6.2+): {e}")))?;
        Ok(RedisStore {
            addr,
            pool: Mutex::new(vec![c]),
        })
    }

    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    async fn with<T>(
        &self,
        f: impl AsyncFnOnce(&mut Conn) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let pooled = lock(&self.pool).pop();
        let mut c = match pooled {
            Some(c) => c,
            None => Conn::connect(self.addr).await?,
        };
        let r = f(&mut c).await;
        if r.is_ok() {
            let mut p = lock(&self.pool);
            if p.len() < POOL {
                p.push(c);
            }
        }
        r
    }

    /// Stores a secret with a Redis TTL.
    pub async fn create(&self, id: [u8; ID_LEN], s: Sealed) -> Result<(), StoreError> {
        let ttl = s.expires.saturating_sub(now_secs()).max(1).to_string();
        let value = s.encode();
        let k = key(&id, "");
        let views = s.views_left.to_string();
        let kv = key(&id, ":views");
        let kg = key(&id, ":gone");
        let marker_ttl = (s.expires.saturating_sub(now_secs()).max(1) + 86_400).to_string();
        self.with(async |c| {
            let mut cmds: Vec<Vec<&[u8]>> =
                vec![vec![b"SET", &kg, b"expired", b"EX", marker_ttl.as_bytes()]];
            if s.views_left > 1 {
                cmds.push(vec![b"SET", &kv, views.as_bytes(), b"EX", ttl.as_bytes()]);
            }
            cmds.push(vec![b"SET", &k, &value, b"EX", ttl.as_bytes(), b"NX"]);
            for r in c.pipeline(&cmds).await? {
                match r {
                    Reply::Simple(_) => {}
                    Reply::Nil => return Err(StoreError::Io("id collision".into())),
                    other => return Err(StoreError::Io(format!("redis: SET got {other:?}"))),
                }
            }
            Ok(())
        })
        .await
    }

    /// Metadata without consuming.
    pub async fn meta(&self, id: &[u8; ID_LEN]) -> Result<Lookup, StoreError> {
        let (k, kv, kg) = (key(id, ""), key(id, ":views"), key(id, ":gone"));
        let r = self
            .with(async |c| {
                c.pipeline(&[vec![b"GET", &k], vec![b"GET", &kv], vec![b"GET", &kg]])
                    .await
            })
            .await?;
        match r.as_slice() {
            [Reply::Bulk(v), views, _] => {
                let mut s = Sealed::decode(v).map_err(StoreError::Io)?;
                if let Reply::Bulk(n) = views {
                    s.views_left = std::str::from_utf8(n)
                        .ok()
                        .and_then(|n| n.parse().ok())
                        .unwrap_or(s.views_left);
                }
                Ok(Lookup::Found(s))
            }
            [Reply::Nil, _, g] => Ok(Lookup::Gone(gone_of(g))),
            other => Err(StoreError::Io(format!("redis: GET got {other:?}"))),
        }
    }

    /// Takes one view atomically (the Lua script above).
    pub async fn claim(&self, id: &[u8; ID_LEN]) -> Result<Lookup, StoreError> {
        let (k, kv, kg) = (key(id, ""), key(id, ":views"), key(id, ":gone"));
        let r = self
            .with(async |c| {
                c.call(&[b"EVAL", CLAIM.as_bytes(), b"3", &k, &kv, &kg])
                    .await
            })
            .await?;
        match r {
            Reply::Array(items) => match items.as_slice() {
                [Reply::Bulk(v), Reply::Int(left)] => {
                    let mut s = Sealed::decode(v).map_err(StoreError::Io)?;
                    s.views_left = (*left).max(0) as u32;
                    Ok(Lookup::Found(s))
                }
                other => Err(StoreError::Io(format!("redis: claim got {other:?}"))),
            },
            other => Ok(Lookup::Gone(gone_of(&other))),
        }
    }

    /// Flips a ciphertext byte, keeping the TTL.
    pub async fn tamper(&self, id: &[u8; ID_LEN], byte: usize) -> Result<bool, StoreError> {
        let k = key(id, "");
        self.with(async |c| {
            let Reply::Bulk(v) = c.call(&[b"GET", &k]).await? else {
                return Ok(false);
            };
            let mut s = Sealed::decode(&v).map_err(StoreError::Io)?;
            if s.ciphertext.is_empty() {
                return Ok(false);
            }
            let i = byte % s.ciphertext.len();
            s.ciphertext[i] ^= 0x01;
            let r = c
                .call(&[b"SET", &k, &s.encode(), b"KEEPTTL", b"XX"])
                .await?;
            Ok(matches!(r, Reply::Simple(_)))
        })
        .await
    }

    async fn ids(&self, limit: usize) -> Result<Vec<[u8; ID_LEN]>, StoreError> {
        let pattern = format!("{PREFIX}*");
        self.with(async |c| {
            let mut cursor = b"0".to_vec();
            let mut ids = Vec::new();
            loop {
                let r = c
                    .call(&[
                        b"SCAN",
                        &cursor,
                        b"MATCH",
                        pattern.as_bytes(),
                        b"COUNT",
                        b"1000",
                    ])
                    .await?;
                let Reply::Array(parts) = r else {
                    return Err(StoreError::Io("redis: bad SCAN reply".into()));
                };
                let [Reply::Bulk(next), Reply::Array(keys)] = parts.as_slice() else {
                    return Err(StoreError::Io("redis: bad SCAN reply".into()));
                };
                for k in keys {
                    if let Reply::Bulk(k) = k
                        && let Some(id) = k.strip_prefix(PREFIX.as_bytes())
                        && let Ok(id) = std::str::from_utf8(id)
                        && let Ok(id) = super::format::decode_id(id)
                    {
                        ids.push(id);
                    }
                }
                if next == b"0" || ids.len() >= limit {
                    ids.truncate(limit);
                    return Ok(ids);
                }
                cursor = next.clone();
            }
        })
        .await
    }

    /// Stored secrets (at most `limit`).
    pub async fn snapshot(&self, limit: usize) -> Result<Vec<([u8; ID_LEN], Sealed)>, StoreError> {
        let mut out = Vec::new();
        for id in self.ids(limit).await? {
            if let Lookup::Found(s) = self.meta(&id).await? {
                out.push((id, s));
            }
        }
        Ok(out)
    }

    /// Live secrets (counted up to 100,000).
    pub async fn live(&self) -> Result<usize, StoreError> {
        Ok(self.ids(100_000).await?.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_parse_incrementally_and_bounded() {
        let all = b"*2\r\n$3\r\nabc\r\n:7\r\n";
        for cut in 0..all.len() {
            assert_eq!(parse_reply(&all[..cut]).unwrap(), None, "cut {cut}");
        }
        let (r, used) = parse_reply(all).unwrap().unwrap();
        assert_eq!(used, all.len());
        assert_eq!(
            r,
            Reply::Array(vec![Reply::Bulk(b"abc".to_vec()), Reply::Int(7)])
        );
        assert_eq!(parse_reply(b"$-1\r\n").unwrap().unwrap().0, Reply::Nil);
        assert_eq!(
            parse_reply(b"-ERR x\r\n").unwrap().unwrap().0,
            Reply::Error("ERR x".into())
        );
        assert!(parse_reply(b"$99999999\r\n").is_err());
        assert!(parse_reply(b"*99999999\r\n").is_err());
        assert!(parse_reply(b"?x\r\n").is_err());
        assert!(parse_reply(b"$3\r\nabcXY").is_err());
    }

    #[test]
    fn commands_encode_as_bulk_arrays() {
        let mut out = Vec::new();
        encode_command(&mut out, &[b"GET", b"k"]);
        assert_eq!(out, b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n");
        assert!(parse_url("redis://127.0.0.1:6379").is_ok());
        assert!(parse_url("http://x").is_err());
    }
}
