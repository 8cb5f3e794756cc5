//! The middleware forge ships, one file each: access log, Prometheus metrics (with the
//! `/metrics` endpoint), `/healthz`, CORS with preflight, sliding-window rate limiting per client
//! address, JWT (HS256 pinned), response compression by Accept-Encoding, request timeout and
//! body limit.

pub mod access_log;
pub mod compression;
pub mod cors;
pub mod health;
pub mod jwt;
pub mod limits;
pub mod metrics;
pub mod rate_limit;

pub use access_log::AccessLog;
pub use compression::Compression;
pub use cors::Cors;
pub use health::healthz;
pub use jwt::{Claims, Jwt, JwtError};
pub use limits::{BodyLimit, RequestTimeout};
pub use metrics::Metrics;
pub use rate_limit::RateLimit;
