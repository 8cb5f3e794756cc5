//! Prometheus metrics: request counts by route and status, a request latency histogram, and the
//! open-connection gauge the server keeps; rendered in the text exposition format at `/metrics`.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::forge::middleware::{Handler, Middleware, Next};
use crate::forge::request::Request;
use crate::forge::response::{BoxFuture, Response};

/// Upper bounds (seconds) of the latency histogram buckets.
const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// (method, status) → count, for one route.
type CountsByOutcome = HashMap<(&'static str, u16), u64>;

struct Inner {
    /// route → (method, status) → count.
    requests: Mutex<HashMap<Arc<str>, CountsByOutcome>>,
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
    open_connections: Arc<AtomicI64>,
}

/// The metrics registry and its middleware; clone it to share (cheap).
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// An empty registry.
    pub fn new() -> Metrics {
        Metrics {
            inner: Arc::new(Inner {
                requests: Mutex::new(HashMap::new()),
                buckets: Default::default(),
                count: AtomicU64::new(0),
                sum_micros: AtomicU64::new(0),
                open_connections: Arc::new(AtomicI64::new(0)),
            }),
        }
    }

    /// The open-connection gauge; hand it to `Server::with_connection_gauge`.
    pub fn connection_gauge(&self) -> Arc<AtomicI64> {
        self.inner.open_connections.clone()
    }

    fn record(&self, route: Arc<str>, method: &'static str, status: u16, secs: f64) {
        if let Ok(mut map) = self.inner.requests.lock() {
            *map.entry(route)
                .or_default()
                .entry((method, status))
                .or_insert(0) += 1;
        }
        if let Some(i) = BUCKETS.iter().position(|&b| secs <= b) {
            self.inner.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.inner.count.fetch_add(1, Ordering::Relaxed);
        self.inner
            .sum_micros
            .fetch_add((secs * 1e6) as u64, Ordering::Relaxed);
    }

    /// Counts a request the server refused before it reached the app (see
    /// `Server::on_reject`), under the route `(rejected)`.
    pub fn record_rejection(&self, status: u16) {
        static REJECTED: std::sync::OnceLock<Arc<str>> = std::sync::OnceLock::new();
        let route = REJECTED.get_or_init(|| Arc::from("(rejected)")).clone();
        if let Ok(mut map) = self.inner.requests.lock() {
            *map.entry(route)
                .or_default()
                .entry(("-", status))
                .or_insert(0) += 1;
        }
    }

    /// Requests so far by status, over every route and method (rejections included).
    pub fn counts_by_status(&self) -> std::collections::BTreeMap<u16, u64> {
        let mut out = std::collections::BTreeMap::new();
        if let Ok(map) = self.inner.requests.lock() {
            for by_outcome in map.values() {
                for ((_, status), n) in by_outcome {
                    *out.entry(*status).or_insert(0) += n;
                }
            }
        }
        out
    }

    /// Requests refused before reaching the app (see [`Metrics::record_rejection`]), by
    /// status.
    pub fn rejections_by_status(&self) -> std::collections::BTreeMap<u16, u64> {
        let mut out = std::collections::BTreeMap::new();
        if let Ok(map) = self.inner.requests.lock()
            && let Some(by_outcome) = map.get("(rejected)")
        {
            for ((_, status), n) in by_outcome {
                *out.entry(*status).or_insert(0) += n;
            }
        }
        out
    }

    /// Connections open now.
    pub fn open_connections(&self) -> i64 {
        self.inner.open_connections.load(Ordering::Relaxed)
    }

    /// The current values in Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(2048);
        out.push_str(
            "# HELP wirelab_forge_requests_total HTTP requests by route, method and status.\n",
        );
        out.push_str("# TYPE wirelab_forge_requests_total counter\n");
        if let Ok(map) = self.inner.requests.lock() {
            let mut rows: Vec<_> = map
                .iter()
                .flat_map(|(r, m)| m.iter().map(move |((meth, st), n)| (r, *meth, *st, *n)))
                .collect();
            rows.sort();
            for (route, method, status, n) in rows {
                let _ = writeln!(
                    out,
                    "wirelab_forge_requests_total{{route=\"{}\",method=\"{method}\",status=\"{status}\"}} {n}",
                    escape_label(route)
                );
            }
        }
        out.push_str("# HELP wirelab_forge_request_duration_seconds Time to produce a response.\n");
        out.push_str("# TYPE wirelab_forge_request_duration_seconds histogram\n");
        let mut cumulative = 0;
        for (bound, bucket) in BUCKETS.iter().zip(&self.inner.buckets) {
            cumulative += bucket.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "wirelab_forge_request_duration_seconds_bucket{{le=\"{bound}\"}} {cumulative}"
            );
        }
        let count = self.inner.count.load(Ordering::Relaxed);
        let sum = self.inner.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(
            out,
            "wirelab_forge_request_duration_seconds_bucket{{le=\"+Inf\"}} {count}\n\
             wirelab_forge_request_duration_seconds_sum {sum}\n\
             wirelab_forge_request_duration_seconds_count {count}"
        );
        out.push_str("# HELP wirelab_forge_open_connections Connections currently open.\n");
        out.push_str("# TYPE wirelab_forge_open_connections gauge\n");
        let _ = writeln!(
            out,
            "wirelab_forge_open_connections {}",
            self.inner.open_connections.load(Ordering::Relaxed)
        );
        out
    }

    /// The `/metrics` handler.
    pub fn endpoint(&self) -> impl Handler {
        let metrics = self.clone();
        move |_req: Request| {
            let body = metrics.render();
            async move {
                Response::new(200)
                    .with_header("content-type", "text/plain; version=0.0.4; charset=utf-8")
                    .with_body(body)
            }
        }
    }
}

fn escape_label(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

static UNMATCHED: std::sync::OnceLock<Arc<str>> = std::sync::OnceLock::new();

impl Middleware for Metrics {
    fn handle<'a>(&'a self, req: Request, next: Next<'a>) -> BoxFuture<'a, Response> {
        Box::pin(async move {
            let start = Instant::now();
            let route = req
                .route
                .clone()
                .unwrap_or_else(|| UNMATCHED.get_or_init(|| Arc::from("unmatched")).clone());
            let method = req.method().as_str();
            let res = next.run(req).await;
            self.record(route, method, res.status(), start.elapsed().as_secs_f64());
            res
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forge::{App, Router};

    #[tokio::test]
    async fn counts_by_route_and_status_and_fills_the_histogram() {
        let metrics = Metrics::new();
        let mut r = Router::new();
        r.get("/u/:id", |_r: Request| async { Response::text("x") });
        let app = App::new(r).wrap(metrics.clone());
        for raw in [
            "GET /u/1 HTTP/1.1\r\nHost: h\r\n\r\n",
            "GET /u/2 HTTP/1.1\r\nHost: h\r\n\r\n",
            "GET /nope HTTP/1.1\r\nHost: h\r\n\r\n",
        ] {
            app.handle(Request::from_raw(raw.as_bytes()).unwrap().unwrap())
                .await;
        }
        let text = metrics.render();
        assert!(text.contains(
            "wirelab_forge_requests_total{route=\"/u/:id\",method=\"GET\",status=\"200\"} 2"
        ));
        assert!(text.contains(
            "wirelab_forge_requests_total{route=\"unmatched\",method=\"GET\",status=\"404\"} 1"
        ));
        assert!(text.contains("wirelab_forge_request_duration_seconds_count 3"));
        assert!(text.contains("wirelab_forge_open_connections 0"));
    }

    #[test]
    fn rejections_are_counted_apart_and_in_the_totals() {
        let metrics = Metrics::new();
        metrics.record_rejection(400);
        metrics.record_rejection(408);
        metrics.record_rejection(408);
        let rejected = metrics.rejections_by_status();
        assert_eq!(rejected.get(&400), Some(&1));
        assert_eq!(rejected.get(&408), Some(&2));
        assert_eq!(metrics.counts_by_status().get(&408), Some(&2));
    }
}
