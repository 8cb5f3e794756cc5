//! Access log: one line per request (client, request line, status, body size, duration).

use std::sync::Arc;
use std::time::Instant;

use crate::forge::middleware::{Middleware, Next};
use crate::forge::request::{Request, Version};
use crate::forge::response::{BoxFuture, Response};

/// Where log lines go.
pub type LogSink = Arc<dyn Fn(&str) + Send + Sync>;

/// Logs every request after its response is produced.
pub struct AccessLog {
    sink: LogSink,
}

impl AccessLog {
    /// Logs to standard error.
    pub fn stderr() -> AccessLog {
        AccessLog::to(Arc::new(|line: &str| eprintln!("{line}")))
    }

    /// Logs through `sink` (tests collect lines this way).
    pub fn to(sink: LogSink) -> AccessLog {
        AccessLog { sink }
    }
}

impl Middleware for AccessLog {
    fn handle<'a>(&'a self, req: Request, next: Next<'a>) -> BoxFuture<'a, Response> {
        Box::pin(async move {
            let start = Instant::now();
            let peer = req
                .peer_addr()
                .map_or_else(|| "-".to_owned(), |p| p.ip().to_string());
            let line = format!(
                "{} {} {}",
                req.method().as_str(),
                req.target(),
                match req.version() {
                    Version::Http10 => "HTTP/1.0",
                    Version::Http11 => "HTTP/1.1",
                }
            );
            let res = next.run(req).await;
            let size = res
                .body()
                .len()
                .map_or_else(|| "-".to_owned(), |n| n.to_string());
            (self.sink)(&format!(
                "{peer} \"{line}\" {} {size} {:.3}ms",
                res.status(),
                start.elapsed().as_secs_f64() * 1000.0
            ));
            res
        })
    }
}
