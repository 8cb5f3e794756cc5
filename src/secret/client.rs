//! The CLI's side of the courier: a small keep-alive HTTP/1.1 client, and `send`/`open` in the
//! page's format (so a link made in the browser opens here and the other way round).

use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use zeroize::Zeroizing;

use super::format::{self, FormatError, IV_LEN, Link};

/// Largest response body read.
const MAX_BODY: usize = 16 << 20;
/// Longest response head.
const MAX_HEAD: usize = 64 * 1024;
/// How long one exchange may take.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// One keep-alive connection.
pub struct Http {
    tcp: TcpStream,
    buf: BytesMut,
    host: String,
    extra_headers: String,
}

/// A response.
#[derive(Debug, Clone)]
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// Body.
    pub body: Vec<u8>,
    /// Headers (lower-case names).
    pub headers: Vec<(String, String)>,
}

impl Reply {
    /// The body as JSON (`Null` when it is not).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// The API's error text, or the status.
    pub fn error_text(&self) -> String {
        self.json()["error"]
            .as_str()
            .map_or_else(|| format!("HTTP {}", self.status), str::to_string)
    }

    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl Http {
    /// Connects to `addr`.
    pub async fn connect(addr: SocketAddr) -> Result<Http, String> {
        let tcp = tokio::time::timeout(TIMEOUT, TcpStream::connect(addr))
            .await
            .map_err(|_| format!("{addr}: connection timed out"))?
            .map_err(|e| format!("{addr}: {e} (is the courier up? `wirelab secret up`)"))?;
        let _ = tcp.set_nodelay(true);
        Ok(Http {
            tcp,
            buf: BytesMut::with_capacity(8192),
            host: addr.to_string(),
            extra_headers: String::new(),
        })
    }

    /// Adds a header to every request (the lab token).
    pub fn with_header(mut self, name: &str, value: &str) -> Http {
        self.extra_headers.push_str(&format!("{name}: {value}\r\n"));
        self
    }

    /// Sends a request and reads its response.
    pub async fn request(
        &mut self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
    ) -> Result<Reply, String> {
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\n{}",
            self.host, self.extra_headers
        );
        if let Some(b) = body {
            req.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                b.len()
            ));
        } else if method == "POST" {
            req.push_str("Content-Length: 0\r\n");
        }
        req.push_str("\r\n");
        let mut bytes = req.into_bytes();
        if let Some(b) = body {
            bytes.extend_from_slice(b);
        }
        tokio::time::timeout(TIMEOUT, async {
            self.tcp
                .write_all(&bytes)
                .await
                .map_err(|e| format!("write: {e}"))?;
            self.read_reply(method == "HEAD").await
        })
        .await
        .map_err(|_| "no answer in time".to_string())?
    }

    async fn read_reply(&mut self, head: bool) -> Result<Reply, String> {
        loop {
            if let Some(r) = parse(&mut self.buf, head)? {
                return Ok(r);
            }
            self.buf.reserve(8192);
            let n = self
                .tcp
                .read_buf(&mut self.buf)
                .await
                .map_err(|e| format!("read: {e}"))?;
            if n == 0 {
                return Err("connection closed before a complete response".into());
            }
        }
    }
}

/// Parses one response with a Content-Length (what forge sends) from the front of `buf`.
fn parse(buf: &mut BytesMut, head_only: bool) -> Result<Option<Reply>, String> {
    let Some(head_len) = buf.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4) else {
        if buf.len() > MAX_HEAD {
            return Err("response head too large".into());
        }
        return Ok(None);
    };
    let head = std::str::from_utf8(&buf[..head_len]).map_err(|_| "response head not UTF-8")?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let mut headers = Vec::new();
    let mut length = 0usize;
    for line in lines.filter(|l| !l.is_empty()) {
        let (n, v) = line
            .split_once(':')
            .ok_or_else(|| format!("bad header {line:?}"))?;
        let (n, v) = (n.trim().to_ascii_lowercase(), v.trim().to_string());
        if n == "content-length" {
            length = v.parse().map_err(|_| format!("bad content-length {v:?}"))?;
        }
        if n == "transfer-encoding" {
            return Err("chunked responses are not expected here".into());
        }
        headers.push((n, v));
    }
    if head_only {
        length = 0;
    }
    if length > MAX_BODY {
        return Err("response body too large".into());
    }
    if buf.len() < head_len + length {
        return Ok(None);
    }
    let body = buf[head_len..head_len + length].to_vec();
    buf.advance(head_len + length);
    Ok(Some(Reply {
        status,
        body,
        headers,
    }))
}

/// Resolves a link's `host:port`.
pub fn resolve(authority: &str) -> Result<SocketAddr, String> {
    use std::net::ToSocketAddrs;
    authority
        .to_socket_addrs()
        .map_err(|e| format!("{authority}: {e}"))?
        .next()
        .ok_or_else(|| format!("{authority}: no address"))
}

/// What `send` chooses.
#[derive(Debug, Clone)]
pub struct SendOptions {
    /// TTL in seconds (from the server's menu).
    pub ttl: u64,
    /// Views before deletion.
    pub views: u32,
    /// Passphrase mixed into the key.
    pub passphrase: Option<String>,
}

/// Encrypts `plaintext`, stores the ciphertext on the courier at `origin`
/// (`http://HOST:PORT`), and returns the link (its fragment holds the token).
pub async fn send(origin: &str, plaintext: &[u8], opts: &SendOptions) -> Result<String, String> {
    let authority = origin.trim_start_matches("http://").trim_end_matches('/');
    let token = format::new_token();
    let key = format::derive_key(&*token, opts.passphrase.as_deref());
    let (iv, ct) = format::seal(&key, plaintext).map_err(|e| e.to_string())?;
    let body = json!({
        "ciphertext": format::b64(&ct),
        "iv": format::b64(&iv),
        "ttl": opts.ttl,
        "views": opts.views,
        "passphrase": opts.passphrase.is_some(),
    });
    let mut http = Http::connect(resolve(authority)?).await?;
    let r = http
        .request("POST", "/api/secrets", Some(body.to_string().as_bytes()))
        .await?;
    if r.status != 201 {
        return Err(format!("the courier refused it: {}", r.error_text()));
    }
    let id = r.json()["id"]
        .as_str()
        .ok_or("the courier's answer has no id")?
        .to_string();
    Ok(Link::format(&format!("http://{authority}"), &id, &*token))
}

/// Why `open` did not print a secret.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// Not a link.
    #[error("{0}")]
    Link(FormatError),
    /// Gone: already opened, expired, unknown.
    #[error("{message}")]
    Gone {
        /// `opened`, `expired`, `unknown`.
        reason: String,
        /// The server's sentence.
        message: String,
    },
    /// Decryption failed.
    #[error("{0}")]
    Tampered(FormatError),
    /// The secret needs a passphrase and none was given.
    #[error("this secret needs a passphrase (--passphrase); nothing was claimed")]
    NeedsPassphrase,
    /// Transport or protocol trouble.
    #[error("{0}")]
    Other(String),
}

/// Claims and decrypts the secret of `url`.
pub async fn open(url: &str, passphrase: Option<&str>) -> Result<Zeroizing<Vec<u8>>, OpenError> {
    let link = Link::parse(url).map_err(OpenError::Link)?;
    let mut http = Http::connect(resolve(&link.authority).map_err(OpenError::Other)?)
        .await
        .map_err(OpenError::Other)?;
    // Metadata first (never consumes): a secret that needs a passphrase is not burned by a
    // reader who has none.
    let meta = http
        .request("GET", &format!("/api/secrets/{}", link.id), None)
        .await
        .map_err(OpenError::Other)?;
    let gone = |r: &Reply| OpenError::Gone {
        reason: r.json()["reason"].as_str().unwrap_or("unknown").to_string(),
        message: r.error_text(),
    };
    match meta.status {
        200 => {}
        404 => return Err(gone(&meta)),
        _ => return Err(OpenError::Other(meta.error_text())),
    }
    if meta.json()["passphrase"] == json!(true) && passphrase.is_none() {
        return Err(OpenError::NeedsPassphrase);
    }
    let r = http
        .request("POST", &format!("/api/secrets/{}/claim", link.id), None)
        .await
        .map_err(OpenError::Other)?;
    match r.status {
        200 => {}
        404 => return Err(gone(&r)),
        _ => return Err(OpenError::Other(r.error_text())),
    }
    let v = r.json();
    let (Some(ct), Some(iv)) = (
        v["ciphertext"].as_str().and_then(format::unb64),
        v["iv"].as_str().and_then(format::unb64),
    ) else {
        return Err(OpenError::Other("malformed claim answer".into()));
    };
    let iv: [u8; IV_LEN] = iv
        .try_into()
        .map_err(|_| OpenError::Other("malformed IV in the claim answer".into()))?;
    let pass = if v["passphrase"] == json!(true) {
        passphrase
    } else {
        None
    };
    let key = format::derive_key(&link.token, pass);
    format::open(&key, &iv, &ct).map_err(OpenError::Tampered)
}
