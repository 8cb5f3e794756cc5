//! The web page, embedded in the binary: one HTML file, one script and one style sheet, all
//! served from the server's own origin (the CSP allows nothing else, and no inline script).
//! The script does the cryptography with the browser's WebCrypto (PBKDF2-HMAC-SHA256 for a
//! passphrase, HKDF-SHA256, AES-256-GCM)
//! in the format of [`super::format`]; opening a link shows only a "reveal" button, and the
//! claim is the POST that button sends, so a link preview that fetches the page burns nothing.

use crate::forge::Response;

const INDEX: &str = include_str!("page/index.html");
const SCRIPT: &str = include_str!("page/app.js");
const STYLE: &str = include_str!("page/app.css");

/// The page (create and reveal are the same document; the script picks by path).
pub fn index() -> Response {
    Response::new(200)
        .with_header("content-type", "text/html; charset=utf-8")
        .with_body(INDEX)
}

/// The script.
pub fn script() -> Response {
    Response::new(200)
        .with_header("content-type", "text/javascript; charset=utf-8")
        .with_body(SCRIPT)
}

/// The style sheet.
pub fn style() -> Response {
    Response::new(200)
        .with_header("content-type", "text/css; charset=utf-8")
        .with_body(STYLE)
}
