//! The chunked transfer coding (RFC 9112 section 7.1), decoded incrementally: chunk-size lines
//! with strictly validated extensions, data followed by exactly CRLF, the last chunk, and the
//! trailer section (fields validated like headers, bounded like them).

use bytes::{Buf, BytesMut};

use super::error::ParseError;
use super::parser::{Limits, is_tchar, parse_field_line, trim_ows_start};

/// Longest chunk-size line (size, extensions, CRLF) we accept.
const MAX_CHUNK_LINE: usize = 1024;

/// Where the decoder is within a chunked body.
#[derive(Debug)]
pub(crate) enum ChunkState {
    /// Expecting a chunk-size line.
    Size,
    /// Inside chunk data, with this many bytes left.
    Data(usize),
    /// Expecting the CRLF after chunk data.
    DataCrlf,
    /// Reading trailer fields (count and bytes so far).
    Trailers { count: usize, bytes: usize },
}

/// Advances the chunked decoder over `buf`, appending chunk data to `data` and trailer fields to
/// `trailers`; `Ok(true)` once the last chunk and the trailer section are consumed.
pub(crate) fn decode_chunked(
    state: &mut ChunkState,
    buf: &mut BytesMut,
    data: &mut BytesMut,
    trailers: &mut Vec<(String, String)>,
    limits: &Limits,
) -> Result<bool, ParseError> {
    loop {
        match state {
            ChunkState::Size => {
                let window = &buf[..buf.len().min(MAX_CHUNK_LINE)];
                let Some(lf) = window.iter().position(|&b| b == b'\n') else {
                    if buf.len() >= MAX_CHUNK_LINE {
                        return Err(ParseError::BadChunkSize);
                    }
                    return Ok(false);
                };
                if lf == 0 || buf[lf - 1] != b'\r' {
                    return Err(ParseError::BareLf);
                }
                let size = parse_chunk_line(&buf[..lf - 1])?;
                buf.advance(lf + 1);
                if size == 0 {
                    *state = ChunkState::Trailers { count: 0, bytes: 0 };
                    continue;
                }
                if data.len() as u64 + size > limits.max_body as u64 {
                    return Err(ParseError::BodyTooLarge);
                }
                data.reserve(size as usize);
                *state = ChunkState::Data(size as usize);
            }
            ChunkState::Data(remaining) => {
                if buf.is_empty() {
                    return Ok(false);
                }
                let n = (*remaining).min(buf.len());
                data.extend_from_slice(&buf[..n]);
                buf.advance(n);
                *remaining -= n;
                if *remaining == 0 {
                    *state = ChunkState::DataCrlf;
                }
            }
            ChunkState::DataCrlf => {
                match buf.len() {
                    0 => return Ok(false),
                    1 if buf[0] == b'\r' => return Ok(false),
                    _ if buf.starts_with(b"\r\n") => buf.advance(2),
                    _ => return Err(ParseError::BadChunkTerminator),
                }
                *state = ChunkState::Size;
            }
            ChunkState::Trailers { count, bytes } => {
                let Some(lf) = buf.iter().position(|&b| b == b'\n') else {
                    if *bytes + buf.len() > limits.max_head {
                        return Err(ParseError::HeadersTooLarge);
                    }
                    return Ok(false);
                };
                if lf == 0 || buf[lf - 1] != b'\r' {
                    return Err(ParseError::BareLf);
                }
                *bytes += lf + 1;
                if *bytes > limits.max_head {
                    return Err(ParseError::HeadersTooLarge);
                }
                if lf == 1 {
                    buf.advance(2);
                    return Ok(true);
                }
                let line = &buf[..lf - 1];
                let (name, value) = parse_field_line(line)?;
                *count += 1;
                if *count > limits.max_headers {
                    return Err(ParseError::TooManyHeaders);
                }
                trailers.push((
                    String::from_utf8_lossy(&line[name]).to_ascii_lowercase(),
                    String::from_utf8_lossy(&line[value]).into_owned(),
                ));
                buf.advance(lf + 1);
            }
        }
    }
}

/// Parses `chunk-size [chunk-ext]` (the line without its CRLF).
fn parse_chunk_line(line: &[u8]) -> Result<u64, ParseError> {
    if line.contains(&b'\r') {
        return Err(ParseError::BareCr);
    }
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == 0 || digits > 16 {
        return Err(ParseError::BadChunkSize);
    }
    let size = line[..digits].iter().try_fold(0u64, |acc, &b| {
        let d = (b as char).to_digit(16).unwrap_or(0) as u64;
        acc.checked_mul(16)
            .and_then(|a| a.checked_add(d))
            .ok_or(ParseError::BadChunkSize)
    })?;
    validate_chunk_ext(&line[digits..])?;
    Ok(size)
}

/// `chunk-ext = *( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] )`.
fn validate_chunk_ext(mut s: &[u8]) -> Result<(), ParseError> {
    let bad = ParseError::BadChunkExtension;
    loop {
        if s.is_empty() {
            return Ok(());
        }
        match trim_ows_start(s) {
            [b';', rest @ ..] => s = trim_ows_start(rest),
            _ => return Err(bad),
        }
        let name_len = s.iter().take_while(|&&b| is_tchar(b)).count();
        if name_len == 0 {
            return Err(bad);
        }
        s = &s[name_len..];
        let after = trim_ows_start(s);
        if let [b'=', rest @ ..] = after {
            s = trim_ows_start(rest);
            if let [b'"', rest @ ..] = s {
                s = skip_quoted(rest).ok_or(bad)?;
            } else {
                let n = s.iter().take_while(|&&b| is_tchar(b)).count();
                if n == 0 {
                    return Err(bad);
                }
                s = &s[n..];
            }
        }
    }
}

/// Skips the rest of a quoted-string (after the opening quote); returns what follows it.
fn skip_quoted(mut s: &[u8]) -> Option<&[u8]> {
    loop {
        match s {
            [b'"', rest @ ..] => return Some(rest),
            [b'\\', c, rest @ ..] if *c == b'\t' || *c >= 0x20 && *c != 0x7f => s = rest,
            [c, rest @ ..] if *c == b'\t' || (*c >= 0x20 && *c != 0x7f && *c != b'\\') => {
                s = rest;
            }
            _ => return None,
        }
    }
}
