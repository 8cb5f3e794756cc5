#![warn(missing_docs)]
//! forge: an HTTP/1.1 server framework on tokio's `TcpListener`.
//!
//! # Layout
//! - [`parser`]: the incremental, smuggling-strict request parser over a reused buffer.
//! - [`request`] / [`response`]: what handlers receive and return.
//! - [`router`]: the radix-trie router (`:param`, `*wildcard`, 404, 405 + Allow).
//! - [`middleware`]: handlers, the onion-model middleware engine, and [`App`].
//! - [`server`]: the tokio server: keep-alive, pipelining, limits, timeouts, graceful shutdown.
//! - [`static_files`]: files with content types, ranges, ETags and 304s, traversal-proof.
//! - [`websocket`]: RFC 6455 sessions over an upgraded connection.
//! - [`sse`]: Server-Sent Events with ids, retry and keep-alive comments.
//! - [`layers`]: shipped middleware (access log, metrics, health, CORS, rate limit, JWT,
//!   compression, timeout, body limit).
//! - [`tls`]: rustls acceptor from PEM, self-signed certificates for demos.
//! - [`demo`] / [`cli`]: the demo app and `wirelab forge serve`.
//! - [`date`]: HTTP dates.
//! - [`error`]: typed parse and serve errors.
mod chunked;
pub mod cli;
pub mod date;
pub mod demo;
pub mod error;
pub mod layers;
pub mod middleware;
pub mod parser;
pub mod request;
pub mod response;
pub mod router;
pub mod server;
pub mod sse;
pub mod static_files;
pub mod tls;
pub mod websocket;

pub use middleware::{App, Handler, Middleware, Next, Wrapped};
pub use request::{Method, Request, Version};
pub use response::{Body, BoxFuture, Response};
pub use router::Router;
pub use server::{Server, ServerConfig};
