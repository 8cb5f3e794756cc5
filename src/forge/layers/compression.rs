//! Response compression negotiated from `Accept-Encoding` q-values: brotli, gzip or deflate
//! (zlib, as HTTP defines it), for whole text-like bodies above a minimum size. Ties prefer
//! br, then gzip, then deflate; `q=0` excludes a coding and `*` stands for unlisted ones.

use std::io::Write;

use bytes::Bytes;

use crate::forge::middleware::{Middleware, Next};
use crate::forge::request::Request;
use crate::forge::response::{Body, BoxFuture, Response};

/// A content coding we can produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    /// brotli
    Br,
    /// gzip
    Gzip,
    /// zlib-wrapped deflate
    Deflate,
}

impl Coding {
    /// The token used in `Content-Encoding`.
    pub fn as_str(self) -> &'static str {
        match self {
            Coding::Br => "br",
            Coding::Gzip => "gzip",
            Coding::Deflate => "deflate",
        }
    }
}

/// Picks the coding for an `Accept-Encoding` value; `None` means send as is.
pub fn negotiate(accept: &str) -> Option<Coding> {
    let mut explicit: [(Option<f32>, &str); 5] = [
        (None, "br"),
        (None, "gzip"),
        (None, "deflate"),
        (None, "identity"),
        (None, "*"),
    ];
    for item in accept.split(',').take(32) {
        let mut parts = item.split(';');
        let name = parts.next().unwrap_or("").trim();
        let mut q = Some(1.0f32);
        for param in parts {
            if let Some((k, v)) = param.split_once('=')
                && k.trim().eq_ignore_ascii_case("q")
            {
                q = parse_q(v.trim());
            }
        }
        let Some(q) = q else { continue };
        let name = if name.eq_ignore_ascii_case("x-gzip") {
            "gzip"
        } else {
            name
        };
        if let Some(slot) = explicit
            .iter_mut()
            .find(|(_, n)| n.eq_ignore_ascii_case(name))
        {
            slot.0 = Some(q);
        }
    }
    let star = explicit[4].0;
    let mut best: Option<(f32, Coding)> = None;
    for (i, coding) in [Coding::Br, Coding::Gzip, Coding::Deflate]
        .into_iter()
        .enumerate()
    {
        let q = explicit[i].0.or(star).unwrap_or(0.0);
        if q > 0.0 && best.is_none_or(|(bq, _)| q > bq) {
            best = Some((q, coding));
        }
    }
    let (q, coding) = best?;
    match explicit[3].0 {
        Some(identity_q) if identity_q > q => None,
        _ => Some(coding),
    }
}

/// `qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )`; `None` when invalid.
fn parse_q(v: &str) -> Option<f32> {
    let ok = v.len() <= 5
        && v.bytes().enumerate().all(|(i, b)| match i {
            0 => b == b'0' || b == b'1',
            1 => b == b'.',
            _ => b.is_ascii_digit(),
        });
    let q: f32 = if ok { v.parse().ok()? } else { return None };
    (0.0..=1.0).contains(&q).then_some(q)
}

fn compressible(content_type: Option<&str>) -> bool {
    let Some(ct) = content_type else { return false };
    let ct = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    ct.starts_with("text/")
        || matches!(
            ct.as_str(),
            "application/json" | "application/javascript" | "application/xml" | "image/svg+xml"
        )
}

/// Compresses `data` with `coding`.
pub fn compress(coding: Coding, data: &[u8]) -> std::io::Result<Vec<u8>> {
    match coding {
        Coding::Gzip => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(data)?;
            e.finish()
        }
        Coding::Deflate => {
            let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(data)?;
            e.finish()
        }
        Coding::Br => {
            let mut out = Vec::new();
            {
                let mut w = brotli::CompressorWriter::new(&mut out, 4096, 4, 22);
                w.write_all(data)?;
            }
            Ok(out)
        }
    }
}

/// The compression middleware.
pub struct Compression {
    /// Bodies smaller than this are sent as is.
    pub min_size: usize,
}

impl Default for Compression {
    fn default() -> Self {
        Compression { min_size: 256 }
    }
}

/// Bodies above this size are compressed on the blocking pool.
const BLOCKING_ABOVE: usize = 128 * 1024;

impl Middleware for Compression {
    fn handle<'a>(&'a self, req: Request, next: Next<'a>) -> BoxFuture<'a, Response> {
        let coding = req.header("accept-encoding").and_then(negotiate);
        Box::pin(async move {
            let mut res = next.run(req).await;
            let Some(coding) = coding else { return res };
            let eligible = matches!(res.status(), 200..=203)
                && res.header("content-encoding").is_none()
                && res.header("content-range").is_none()
                && compressible(res.header("content-type"));
            let Body::Full(body) = res.body() else {
                return res;
            };
            if !eligible || body.len() < self.min_size {
                return res;
            }
            let body = body.clone();
            let packed = if body.len() > BLOCKING_ABOVE {
                tokio::task::spawn_blocking(move || compress(coding, &body))
                    .await
                    .ok()
                    .and_then(Result::ok)
            } else {
                compress(coding, &body).ok()
            };
            let Some(packed) = packed else { return res };
            res.set_body(Body::Full(Bytes::from(packed)));
            res.set_header("content-encoding", coding.as_str());
            res.append_header("vary", "Accept-Encoding");
            if let Some(etag) = res.header("etag").filter(|e| !e.starts_with("W/")) {
                let weak = format!("W/{etag}");
                res.set_header("etag", weak);
            }
            res
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn negotiation_follows_q_values_and_preferences() {
        assert_eq!(negotiate("gzip, deflate, br"), Some(Coding::Br));
        assert_eq!(negotiate("gzip;q=1.0, br;q=0.5"), Some(Coding::Gzip));
        assert_eq!(negotiate("deflate, gzip;q=0"), Some(Coding::Deflate));
        assert_eq!(negotiate("br;q=0, *;q=0.3"), Some(Coding::Gzip));
        assert_eq!(negotiate("identity"), None);
        assert_eq!(negotiate("gzip;q=0.2, identity;q=0.9"), None);
        assert_eq!(negotiate("*;q=0"), None);
        assert_eq!(negotiate("gzip;q=2"), None);
        assert_eq!(negotiate(""), None);
    }

    #[test]
    fn every_coding_round_trips() {
        let data = b"hello hello hello hello hello hello".repeat(20);
        let gz = compress(Coding::Gzip, &data).unwrap();
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, data);
        let z = compress(Coding::Deflate, &data).unwrap();
        out.clear();
        flate2::read::ZlibDecoder::new(&z[..])
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, data);
        let br = compress(Coding::Br, &data).unwrap();
        out.clear();
        brotli::Decompressor::new(&br[..], 4096)
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, data);
        assert!(br.len() < data.len());
    }
}
