#![warn(missing_docs)]
//! forge: an HTTP/1.1 server framework on tokio's `TcpListener`, the HTTP face of every
//! wirelab node and the `wirelab forge serve` demo.
//!
//! The HTTP parser, router, middleware engine, WebSocket framing and SSE are ours; TLS (rustls),
//! compression (flate2, brotli) and HMAC/SHA primitives come from well-kept crates. A request
//! flows: bytes → [`parser::RequestParser`] (strict: anything a proxy could frame differently is
//! a 4xx/5xx and a closed connection) → [`Router::resolve`] (fills path parameters and the matched
//! route) → the [`App`]'s middleware onion → the handler → one buffered write.
//!
//! ```no_run
//! use wirelab::forge::{App, Request, Response, Router, Server};
//! use wirelab::forge::layers::{Metrics, healthz};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let metrics = Metrics::new();
//! let mut router = Router::new();
//! router
//!     .get("/", |_req: Request| async { Response::text("hello") })
//!     .get("/users/:id", |req: Request| async move {
//!         Response::text(format!("user {}", req.param("id").unwrap_or("?")))
//!     })
//!     .get("/metrics", metrics.endpoint())
//!     .get("/healthz", healthz());
//! let app = App::new(router).wrap(metrics.clone());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! let shutdown = tokio_util::sync::CancellationToken::new();
//! Server::new(app)
//!     .with_connection_gauge(metrics.connection_gauge())
//!     .serve(listener, shutdown)
//!     .await?;
//! # Ok(())
//! # }
//! ```
//!
//! # Layout
//! - [`parser`]: the incremental, smuggling-strict request parser over a reused buffer
//!   (chunked bodies and trailers in the private `chunked` module).
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
//! - [`lab`]: the forge lab (server + load generator nodes under the cluster supervisor; load,
//!   slowloris, smuggling, graceful reload).
//! - [`date`]: HTTP dates.
//! - [`error`]: typed parse and serve errors.
mod chunked;
pub mod cli;
pub mod date;
pub mod demo;
pub mod error;
pub mod lab;
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
