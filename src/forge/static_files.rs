//! Static files from a root directory: content types by extension, `ETag` and `Last-Modified`
//! with `If-None-Match` / `If-Modified-Since` → 304, single and multiple byte ranges (206 with
//! `multipart/byteranges`, 416 when none is satisfiable, `If-Range` honoured), and no way out of
//! the root: `..` segments, NUL and backslashes are refused, and the resolved path (symlinks
//! followed) must still lie under the canonical root.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use bytes::{BufMut, Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::date::{format_http_date, parse_http_date, unix_secs};
use super::middleware::Handler;
use super::request::{Method, Request, percent_decode};
use super::response::{Body, BodyStream, BoxFuture, Response};

/// Files up to this size are read whole; larger ones are streamed.
const READ_WHOLE_MAX: u64 = 1024 * 1024;
/// Most ranges honoured in one request (more, and the Range header is ignored).
const MAX_RANGES: usize = 16;
/// Largest multi-range body assembled in memory (beyond, the Range header is ignored).
const MAX_MULTIPART: u64 = 8 * 1024 * 1024;
const STREAM_CHUNK: usize = 64 * 1024;

/// Serves files under a root directory. As a handler it reads the `*path` wildcard parameter,
/// or the whole request path when the route has none.
pub struct StaticFiles {
    root: PathBuf,
}

impl StaticFiles {
    /// Serves `root` (which must exist).
    pub fn new(root: impl AsRef<Path>) -> std::io::Result<StaticFiles> {
        Ok(StaticFiles {
            root: std::fs::canonicalize(root)?,
        })
    }

    /// Resolves a request path to a file under the root, or `None` (→ 404).
    async fn resolve(&self, rel: &str) -> Option<(PathBuf, std::fs::Metadata)> {
        let mut path = self.root.clone();
        for seg in rel.split('/') {
            if seg.is_empty() {
                continue;
            }
            if seg == ".." || seg == "." || seg.contains(['\\', '\0']) {
                return None;
            }
            path.push(seg);
        }
        let mut path = tokio::fs::canonicalize(&path).await.ok()?;
        if !path.starts_with(&self.root) {
            return None;
        }
        let mut meta = tokio::fs::metadata(&path).await.ok()?;
        if meta.is_dir() {
            path.push("index.html");
            meta = tokio::fs::metadata(&path).await.ok()?;
        }
        meta.is_file().then_some((path, meta))
    }

    /// Answers `req` for the file at `rel` (percent-decoded, relative to the root).
    pub async fn serve(&self, req: &Request, rel: &str) -> Response {
        if !matches!(req.method(), Method::Get | Method::Head) {
            return Response::error(405).with_header("allow", "GET, HEAD");
        }
        let Some((path, meta)) = self.resolve(rel).await else {
            return Response::error(404);
        };
        let len = meta.len();
        let mtime = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
        let validators = Validators::new(len, mtime);
        let ctype = content_type(&path);
        let base = |status: u16| {
            Response::new(status)
                .with_header("etag", validators.etag.clone())
                .with_header("last-modified", validators.last_modified.clone())
                .with_header("accept-ranges", "bytes")
        };
        if validators.not_modified(req) {
            return base(304);
        }
        let range = req
            .header("range")
            .filter(|_| req.method() == Method::Get && validators.if_range_holds(req));
        match range.map(|r| parse_ranges(r, len)) {
            Some(RangeSpec::Unsatisfiable) => {
                return base(416).with_header("content-range", format!("bytes */{len}"));
            }
            Some(RangeSpec::Ranges(ranges)) if ranges.len() == 1 => {
                let (start, end) = ranges[0];
                return match read_span(&path, start, end - start + 1).await {
                    Some(body) => {
                        let mut res = base(206)
                            .with_header("content-type", ctype)
                            .with_header("content-range", format!("bytes {start}-{end}/{len}"));
                        res.set_body(body);
                        res
                    }
                    None => Response::error(500),
                };
            }
            Some(RangeSpec::Ranges(ranges)) => {
                let boundary = format!("forge-{:x}", validators.hash);
                return match multipart(&path, &ranges, len, ctype, &boundary).await {
                    Some(body) => base(206)
                        .with_header(
                            "content-type",
                            format!("multipart/byteranges; boundary={boundary}"),
                        )
                        .with_body(body),
                    None => Response::error(500),
                };
            }
            Some(RangeSpec::Ignore) | None => {}
        }
        match read_span(&path, 0, len).await {
            Some(body) => {
                let mut res = base(200).with_header("content-type", ctype);
                res.set_body(body);
                res
            }
            None => Response::error(500),
        }
    }
}

impl Handler for StaticFiles {
    fn call(&self, req: Request) -> BoxFuture<'_, Response> {
        Box::pin(async move {
            let rel = match req.param("path") {
                Some(p) => p.to_owned(),
                None => match percent_decode(req.path()) {
                    Some(p) => p.into_owned(),
                    None => return Response::error(400),
                },
            };
            self.serve(&req, &rel).await
        })
    }
}

struct Validators {
    etag: String,
    last_modified: String,
    mtime_secs: u64,
    hash: u64,
}

impl Validators {
    fn new(len: u64, mtime: SystemTime) -> Validators {
        let nanos = mtime
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let mtime_secs = unix_secs(mtime);
        Validators {
            etag: format!("\"{len:x}-{nanos:x}\""),
            last_modified: format_http_date(mtime_secs),
            mtime_secs,
            hash: len.rotate_left(17) ^ nanos,
        }
    }

    /// If-None-Match (weak comparison) wins over If-Modified-Since.
    fn not_modified(&self, req: &Request) -> bool {
        if let Some(inm) = req.header("if-none-match") {
            let ours = self.etag.trim_start_matches("W/");
            return inm
                .split(',')
                .map(str::trim)
                .any(|t| t == "*" || t.trim_start_matches("W/") == ours);
        }
        req.header("if-modified-since")
            .and_then(parse_http_date)
            .is_some_and(|since| self.mtime_secs <= since)
    }

    /// `If-Range` absent, or naming our current (strong) ETag or exact Last-Modified date.
    fn if_range_holds(&self, req: &Request) -> bool {
        match req.header("if-range") {
            None => true,
            Some(v) if v.starts_with('"') => v == self.etag,
            Some(v) => parse_http_date(v) == Some(self.mtime_secs),
        }
    }
}

/// A parsed `Range` header.
#[derive(Debug, PartialEq, Eq)]
pub enum RangeSpec {
    /// Satisfiable inclusive byte ranges, in request order.
    Ranges(Vec<(u64, u64)>),
    /// Valid syntax, but no range overlaps the file (416).
    Unsatisfiable,
    /// Invalid or unsupported: serve the whole file.
    Ignore,
}

/// Parses `bytes=a-b, c-, -n` against a file of `len` bytes.
pub fn parse_ranges(header: &str, len: u64) -> RangeSpec {
    let Some(set) = header.trim().strip_prefix("bytes=") else {
        return RangeSpec::Ignore;
    };
    let mut out = Vec::new();
    let mut total = 0u64;
    for (i, spec) in set.split(',').enumerate() {
        if i >= MAX_RANGES {
            return RangeSpec::Ignore;
        }
        let Some((a, b)) = spec.trim().split_once('-') else {
            return RangeSpec::Ignore;
        };
        let num = |s: &str| -> Option<u64> {
            (!s.is_empty() && s.len() <= 19 && s.bytes().all(|c| c.is_ascii_digit()))
                .then(|| s.parse().ok())
                .flatten()
        };
        let range = if a.is_empty() {
            let Some(n) = num(b) else {
                return RangeSpec::Ignore;
            };
            (n > 0 && len > 0).then(|| (len.saturating_sub(n), len - 1))
        } else {
            let Some(first) = num(a) else {
                return RangeSpec::Ignore;
            };
            let last = if b.is_empty() { Some(u64::MAX) } else { num(b) };
            let Some(last) = last else {
                return RangeSpec::Ignore;
            };
            if last < first {
                return RangeSpec::Ignore;
            }
            (first < len).then(|| (first, last.min(len - 1)))
        };
        if let Some((s, e)) = range {
            total += e - s + 1;
            out.push((s, e));
        }
    }
    if out.is_empty() {
        RangeSpec::Unsatisfiable
    } else if out.len() > 1 && total > MAX_MULTIPART {
        RangeSpec::Ignore
    } else {
        RangeSpec::Ranges(out)
    }
}

/// Reads `n` bytes from `start`: whole when small, as a sized stream when large.
async fn read_span(path: &Path, start: u64, n: u64) -> Option<Body> {
    let mut file = tokio::fs::File::open(path).await.ok()?;
    if start > 0 {
        file.seek(std::io::SeekFrom::Start(start)).await.ok()?;
    }
    if n <= READ_WHOLE_MAX {
        let mut buf = vec![0u8; n as usize];
        file.read_exact(&mut buf).await.ok()?;
        return Some(Body::Full(Bytes::from(buf)));
    }
    let stream: BodyStream = Box::pin(futures::stream::unfold(
        (file, n),
        |(mut file, left)| async move {
            if left == 0 {
                return None;
            }
            let mut chunk = BytesMut::zeroed(STREAM_CHUNK.min(left as usize));
            let got = file.read(&mut chunk).await.ok().filter(|&g| g > 0)?;
            chunk.truncate(got);
            Some((chunk.freeze(), (file, left - got as u64)))
        },
    ));
    Some(Body::Stream {
        stream,
        len: Some(n),
    })
}

async fn multipart(
    path: &Path,
    ranges: &[(u64, u64)],
    len: u64,
    ctype: &str,
    boundary: &str,
) -> Option<Bytes> {
    let mut file = tokio::fs::File::open(path).await.ok()?;
    let mut out = BytesMut::new();
    for &(start, end) in ranges {
        out.put_slice(
            format!(
                "\r\n--{boundary}\r\ncontent-type: {ctype}\r\ncontent-range: bytes {start}-{end}/{len}\r\n\r\n"
            )
            .as_bytes(),
        );
        file.seek(std::io::SeekFrom::Start(start)).await.ok()?;
        let mut part = vec![0u8; (end - start + 1) as usize];
        file.read_exact(&mut part).await.ok()?;
        out.put_slice(&part);
    }
    out.put_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    Some(out.freeze())
}

/// The content type for a file name's extension.
pub fn content_type(path: &Path) -> &'static str {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    match ext.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" | "mjs" => "application/javascript",
        "json" => "application/json",
        "txt" | "md" => "text/plain; charset=utf-8",
        "csv" => "text/csv; charset=utf-8",
        "xml" => "application/xml",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "ico" => "image/x-icon",
        "wasm" => "application/wasm",
        "pdf" => "application/pdf",
        "woff" => "font/woff",
        "woff2" => "font/woff2",
        "mp4" => "video/mp4",
        "webm" => "video/webm",
        "mp3" => "audio/mpeg",
        "wav" => "audio/wav",
        "zip" => "application/zip",
        "gz" => "application/gzip",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_parsing_covers_the_forms_and_edges() {
        use RangeSpec::*;
        assert_eq!(parse_ranges("bytes=0-4", 10), Ranges(vec![(0, 4)]));
        assert_eq!(parse_ranges("bytes=5-", 10), Ranges(vec![(5, 9)]));
        assert_eq!(parse_ranges("bytes=-3", 10), Ranges(vec![(7, 9)]));
        assert_eq!(parse_ranges("bytes=-30", 10), Ranges(vec![(0, 9)]));
        assert_eq!(parse_ranges("bytes=8-100", 10), Ranges(vec![(8, 9)]));
        assert_eq!(
            parse_ranges("bytes=0-0, 2-3", 10),
            Ranges(vec![(0, 0), (2, 3)])
        );
        assert_eq!(parse_ranges("bytes=10-", 10), Unsatisfiable);
        assert_eq!(parse_ranges("bytes=-0", 10), Unsatisfiable);
        assert_eq!(parse_ranges("bytes=5-2", 10), Ignore);
        assert_eq!(parse_ranges("items=0-1", 10), Ignore);
        assert_eq!(parse_ranges("bytes=a-b", 10), Ignore);
        assert_eq!(
            parse_ranges(
                "bytes=0-1,2-3,4-5,6-7,0-1,2-3,4-5,6-7,0-1,2-3,4-5,6-7,0-1,2-3,4-5,6-7,8-9",
                10
            ),
            Ignore
        );
    }

    #[test]
    fn content_types_by_extension() {
        assert_eq!(
            content_type(Path::new("a/B.HTML")),
            "text/html; charset=utf-8"
        );
        assert_eq!(content_type(Path::new("x.woff2")), "font/woff2");
        assert_eq!(content_type(Path::new("noext")), "application/octet-stream");
    }
}
