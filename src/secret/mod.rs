//! The one-time secret courier (the portfolio's "ephemeral secret"), as wirelab implements it:
//! encrypt a secret on the sender's side, get back a link that reads it exactly once, and keep
//! the key away from the server altogether.
//!
//! The sender (the web page's WebCrypto, or `wirelab secret send`) draws a 32-byte token,
//! derives an AES-256-GCM key from it with HKDF-SHA256 (mixing in an optional passphrase), and
//! posts only the ciphertext and IV. The token travels in the link's `#fragment`, which HTTP
//! clients never send. The reader's page shows a "reveal" button; its POST claims the
//! ciphertext, which the store deletes atomically before handing it over, so a second reader,
//! or a link-preview bot that only GETs, gets nothing or burns nothing. An altered ciphertext
//! fails GCM's tag check: an error, never garbage. Unclaimed secrets expire.
//!
//! # Layout
//! - [`format`](mod@format): token, id, key derivation, sealing and the link format (shared with the page).
//! - [`record`]: the stored record and its binary encoding.
//! - [`store`]: the store interface; [`embedded`] (a group-committed, fsynced log, the default)
//!   and [`redis`] (a real Redis over RESP, `GETDEL` in a Lua claim, `EX` for the TTL).
//! - [`api`]: the forge app: page, JSON API, security headers, redacted access log, rate limit.
//! - [`page`]: the embedded HTML, CSS and JavaScript.
//! - [`server`]: the courier node; [`scanner`]: the link-scanner bot node; [`store_node`]: a
//!   supervised `redis-server` (node 3 of `secret up --store redis`).
//! - [`client`]: the CLI's HTTP client, `send` and `open`.
//! - [`lab`]: the lab contract; [`verbs`]: `send`, `open`, `scan`, `race`, `tamper`;
//!   [`snoop`]: the server's view against the client's; [`bench`](mod@bench): throughput and races.

pub mod api;
pub mod bench;
pub mod client;
pub mod embedded;
pub mod format;
pub mod lab;
pub mod page;
pub mod record;
pub mod redis;
pub mod scanner;
pub mod server;
pub mod snoop;
pub mod store;
pub mod store_node;
pub mod verbs;
