//! `secret snoop [URL]`: the attacker who owns the server. It lists what the courier and its
//! store hold (ids, sizes, IVs, ciphertext: nothing readable), and given a link it shows the
//! server's view of that secret next to the client's (the same bytes, decrypted with the key
//! from the link, without claiming it), then searches every byte on the server's side (the
//! store's raw bytes, the access log, the node logs) for the key, the token, the id in full and
//! the plaintext.

use serde_json::{Value, json};

use super::format::{self, Link};
use super::verbs::{Located, locate, runtime, server_files};
use crate::lab::VerbCtx;
use crate::lab::args::RunDirArg;

fn find(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

async fn fetch(l: &Located, path: &str) -> anyhow::Result<Value> {
    let mut h = l.lab_http().await?;
    let r = h
        .request("GET", path, None)
        .await
        .map_err(|e| anyhow::anyhow!(e))?;
    anyhow::ensure!(r.status == 200, "{path}: {}", r.error_text());
    Ok(r.json())
}

/// Runs `snoop`.
pub fn run(
    cx: &mut VerbCtx<'_>,
    url: Option<&str>,
    as_json: bool,
    run: &RunDirArg,
) -> anyhow::Result<i32> {
    let link = url.map(Link::parse).transpose()?;
    let l = locate(cx, run)?;
    let (snoop, raw) = runtime()?.block_on(async {
        Ok::<_, anyhow::Error>((fetch(&l, "/lab/snoop").await?, fetch(&l, "/lab/raw").await?))
    })?;
    let secrets = snoop["secrets"].as_array().cloned().unwrap_or_default();
    let mut report = json!({
        "store": snoop["store"],
        "live": secrets.len(),
    });
    if !as_json {
        writeln!(
            cx.out,
            "the server holds {} secret(s) in {} — ciphertext, IV and bookkeeping, nothing else:",
            secrets.len(),
            snoop["store"].as_str().unwrap_or("?")
        )?;
        for s in secrets.iter().take(20) {
            let ct = s["ciphertext"].as_str().unwrap_or_default();
            writeln!(
                cx.out,
                "  {}  {:>5} B  views {}  expires in {:>6}s  iv {}  ct {}…{}",
                format::id_prefix(s["id"].as_str().unwrap_or_default()),
                format::unb64(ct).map_or(0, |b| b.len()),
                s["views_left"],
                s["expires"]
                    .as_u64()
                    .unwrap_or(0)
                    .saturating_sub(super::record::now_secs()),
                s["iv"].as_str().unwrap_or_default(),
                ct.chars().take(24).collect::<String>(),
                if s["passphrase"] == json!(true) {
                    "  (passphrase)"
                } else {
                    ""
                }
            )?;
        }
        if secrets.len() > 20 {
            writeln!(cx.out, "  … {} more", secrets.len() - 20)?;
        }
    }
    let Some(link) = link else {
        if as_json {
            writeln!(cx.out, "{report}")?;
        }
        return Ok(0);
    };
    let Some(entry) = secrets.iter().find(|s| s["id"] == json!(link.id)) else {
        writeln!(
            cx.err,
            "secret: snoop: the server no longer holds {} (opened or expired)",
            format::id_prefix(&link.id)
        )?;
        return Ok(1);
    };
    let ct = entry["ciphertext"]
        .as_str()
        .and_then(format::unb64)
        .unwrap_or_default();
    let iv: Option<[u8; 12]> = entry["iv"]
        .as_str()
        .and_then(format::unb64)
        .and_then(|v| v.try_into().ok());
    let key = format::derive_key(&link.token, None);
    let plain = iv.and_then(|iv| format::open(&key, &iv, &ct).ok());
    // Every byte on the server's side.
    let mut hay = format::unb64(raw["bytes"].as_str().unwrap_or_default()).unwrap_or_default();
    for f in server_files(&l.dir) {
        if let Ok(b) = std::fs::read(&f) {
            hay.extend_from_slice(&b);
        }
    }
    let token_text = base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        &link.token[..],
    );
    let found_token = find(&hay, &link.token) || find(&hay, token_text.as_bytes());
    let found_key = find(&hay, &key[..]);
    let found_plain = plain
        .as_ref()
        .is_some_and(|p| p.len() >= 4 && find(&hay, p));
    let clean = !found_token && !found_key && !found_plain;
    let server_view = format::b64(&ct);
    let client_view = plain
        .as_ref()
        .map(|p| String::from_utf8_lossy(p).into_owned());
    report["secret"] = json!({
        "id": format::id_prefix(&link.id),
        "server_view": server_view,
        "client_view": client_view,
        "searched_bytes": hay.len(),
        "key_found": found_key,
        "token_found": found_token,
        "plaintext_found": found_plain,
    });
    if as_json {
        writeln!(cx.out, "{report}")?;
    } else {
        writeln!(cx.out, "secret {}:", format::id_prefix(&link.id))?;
        writeln!(
            cx.out,
            "  server's view: {} bytes of ciphertext {}",
            ct.len(),
            server_view.chars().take(48).collect::<String>()
        )?;
        match &client_view {
            Some(p) => writeln!(cx.out, "  client's view (key from the #fragment): {p:?}")?,
            None => writeln!(
                cx.out,
                "  client's view: does not decrypt without its passphrase (or it was tampered with)"
            )?,
        }
        writeln!(
            cx.out,
            "  searched {} bytes on the server's side (store, access log, node logs): key {}, token {}, plaintext {}",
            hay.len(),
            if found_key { "FOUND" } else { "nowhere" },
            if found_token { "FOUND" } else { "nowhere" },
            if found_plain { "FOUND" } else { "nowhere" },
        )?;
        writeln!(
            cx.out,
            "{}",
            if clean {
                "the server is a courier: it holds ciphertext only"
            } else {
                "LEAK: secret material found on the server's side"
            }
        )?;
    }
    Ok(if clean { 0 } else { 1 })
}
