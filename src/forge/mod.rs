//! forge: an HTTP/1.1 server framework on tokio's `TcpListener`.
//!
//! # Layout
//! - [`parser`]: the incremental, smuggling-strict request parser over a reused buffer.
//! - [`request`] / [`response`]: what handlers receive and return.
//! - [`error`]: typed parse and serve errors.
pub mod error;
pub mod parser;
pub mod request;
