//! The demo app behind `wirelab forge serve`: every feature on one server.
//!
//! | route | what |
//! | --- | --- |
//! | `GET /` | `hello` (plain text; the benchmark target) |
//! | `GET/POST/PUT /echo` | the request body back (rate limited per client) |
//! | `GET /static/*path` | files under `--root` |
//! | `GET /ws` | WebSocket echo |
//! | `GET /events` | SSE ticker, resumable with `Last-Event-ID` |
//! | `GET /secret` | JWT-protected (HS256; a demo token is printed at startup) |
//! | `GET /metrics`, `GET /healthz` | Prometheus metrics, health |

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use serde_json::json;

use super::layers::{
    AccessLog, BodyLimit, Claims, Compression, Cors, Jwt, Metrics, RateLimit, RequestTimeout,
    healthz,
};
use super::middleware::{App, Wrapped};
use super::request::{Method, Request};
use super::response::Response;
use super::router::Router;
use super::sse::{self, Event};
use super::static_files::StaticFiles;
use super::websocket::{self, Message, WsConfig};

/// What the demo serves.
#[derive(Debug, Clone, Default)]
pub struct DemoOptions {
    /// Directory served under `/static/`.
    pub root: Option<PathBuf>,
    /// HS256 secret for `/secret`.
    pub jwt_secret: Vec<u8>,
    /// Log every request to stderr.
    pub access_log: bool,
    /// Interval of the `/events` ticker.
    pub tick: Duration,
}

/// The demo app and its metrics registry (whose connection gauge the server should update).
pub fn demo_app(opts: &DemoOptions) -> std::io::Result<(App, Metrics)> {
    let metrics = Metrics::new();
    let mut r = Router::new();
    r.get("/", |_r: Request| async { Response::text("hello") });
    for m in [Method::Get, Method::Post, Method::Put] {
        r.route(
            m,
            "/echo",
            Wrapped::new(RateLimit::new(200, Duration::from_secs(1)), echo),
        );
    }
    if let Some(root) = &opts.root {
        r.get("/static/*path", StaticFiles::new(root)?);
    }
    r.get("/ws", |req: Request| async move {
        websocket::upgrade(&req, WsConfig::default(), |mut ws| async move {
            while let Ok(Some(msg)) = ws.recv().await {
                if matches!(msg, Message::Close(_)) || ws.send(msg).await.is_err() {
                    break;
                }
            }
        })
    });
    let tick = opts.tick.max(Duration::from_millis(10));
    r.get(
        "/events",
        move |req: Request| async move { ticker(&req, tick) },
    );
    r.get(
        "/secret",
        Wrapped::new(
            Jwt::hs256(opts.jwt_secret.clone()),
            |req: Request| async move {
                let who = req
                    .extensions
                    .get::<Claims>()
                    .and_then(|c| c.subject().map(str::to_owned))
                    .unwrap_or_default();
                Response::json(&json!({ "subject": who, "secret": "the cake is a lie" }))
            },
        ),
    );
    r.get("/metrics", metrics.endpoint());
    r.get("/healthz", healthz());
    let mut app = App::new(r);
    if opts.access_log {
        app = app.wrap(AccessLog::stderr());
    }
    let app = app
        .wrap_arc(Arc::new(metrics.clone()))
        .wrap(Cors::permissive())
        .wrap(Compression::default())
        .wrap(RequestTimeout(Duration::from_secs(30)))
        .wrap(BodyLimit(1024 * 1024));
    Ok((app, metrics))
}

async fn echo(req: Request) -> Response {
    let ctype = req
        .header("content-type")
        .unwrap_or("application/octet-stream")
        .to_owned();
    Response::new(200)
        .with_header("content-type", ctype)
        .with_body(req.body().clone())
}

/// An SSE stream of `tick N` events, resuming after `Last-Event-ID`.
fn ticker(req: &Request, every: Duration) -> Response {
    let start = sse::last_event_id(req)
        .and_then(|id| id.parse::<u64>().ok())
        .map_or(1, |id| id.saturating_add(1));
    let interval = tokio::time::interval(every);
    let events = futures::stream::unfold((interval, start), move |(mut iv, n)| async move {
        iv.tick().await;
        let mut ev = Event::new(format!("tick {n}"))
            .id(n.to_string())
            .event("tick");
        if n == start {
            // The reconnection hint rides on the first event of each stream.
            ev = ev.retry(Duration::from_secs(3));
        }
        Some((ev, (iv, n + 1)))
    })
    .boxed();
    sse::stream(events, Duration::from_secs(15))
}

/// Only `GET /` → `hello`, no middleware: what `wirelab forge serve --bare` benchmarks.
pub fn bare_app() -> App {
    let mut r = Router::new();
    r.get("/", |_r: Request| async { Response::text("hello") });
    App::new(r)
}

/// A demo token for `/secret`, valid for an hour.
pub fn demo_token(secret: &[u8]) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    Jwt::hs256(secret.to_vec()).sign(&json!({ "sub": "demo", "iat": now, "exp": now + 3600 }))
}
