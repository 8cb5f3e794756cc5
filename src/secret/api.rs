//! The server's forge app: the page, the JSON API, the lab's attacker endpoints, and the
//! layers every response passes through.
//!
//! ```text
//! GET  /                          the page (create)        GET /s/ID   the page (reveal)
//! GET  /app.js, /app.css          the page's script and style (no inline script anywhere)
//! GET  /api/config                the TTL menu and limits
//! POST /api/secrets               {"ciphertext","iv","ttl","views"?,"passphrase"?} → 201 {"id",…}
//! GET  /api/secrets/ID            metadata; never consumes                 → 200 | 404
//! POST /api/secrets/ID/claim      one view, atomically deleted on the last → 200 | 404
//! GET  /lab/snoop, /lab/raw       what the server holds (lab token required)
//! POST /lab/tamper/ID             flip a stored ciphertext byte (lab token required)
//! ```
//!
//! Layers, outermost first: security headers (strict CSP, no-referrer, no-store, nosniff,
//! frame-ancestors none) on every response the app makes; the access log, which never writes
//! an id in full; forge's per-address rate limit; the 64 KiB secret limit (413 as JSON).
//! Errors are JSON `{"error": "…"}` with a 4xx status that says what was wrong.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::{Value, json};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::format::{self, ID_LEN, IV_LEN, MAX_CIPHERTEXT, TAG_LEN};
use super::page;
use super::record::{Sealed, now_secs};
use super::store::{Lookup, Store};
use crate::forge::layers::RateLimit;
use crate::forge::{App, BoxFuture, Middleware, Next, Request, Response, Router, Version};

/// Largest request body the API reads (a 64 KiB secret in base64, in JSON).
pub const MAX_BODY: usize = 96 * 1024;
/// The default TTL menu, in seconds: 1 minute, 5 minutes, 1 hour, 1 day, 7 days.
pub const DEFAULT_TTLS: &[u64] = &[60, 300, 3600, 86_400, 604_800];
/// Most views a secret may allow.
pub const MAX_VIEWS: u32 = 100;
/// The header that carries the lab token on `/lab/*`.
pub const LAB_TOKEN_HEADER: &str = "x-wirelab-lab-token";
/// The Content-Security-Policy of every response.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The server's counters (what the lab's dashboard shows).
#[derive(Debug, Default)]
pub struct Stats {
    /// Secrets created.
    pub created: AtomicU64,
    /// Claims answered with the secret (views served).
    pub claimed: AtomicU64,
    /// Secrets deleted by their last claim.
    pub opened: AtomicU64,
    /// Secrets deleted by expiry.
    pub expired: AtomicU64,
    /// Claims that found nothing (404).
    pub claim_misses: AtomicU64,
    /// Metadata lookups (never consuming).
    pub meta_gets: AtomicU64,
    /// Page and asset fetches.
    pub page_gets: AtomicU64,
    /// Requests refused as bad input (4xx other than 404/429).
    pub bad_requests: AtomicU64,
    /// Requests refused by the rate limit.
    pub rate_limited: AtomicU64,
    /// Views taken from the store but not delivered (a store error after the delete): must
    /// stay 0.
    pub burned_undelivered: AtomicU64,
    /// Ciphertexts altered through `/lab/tamper`.
    pub tampered: AtomicU64,
}

impl Stats {
    /// The counters as JSON.
    pub fn to_json(&self) -> serde_json::Map<String, Value> {
        let g = |a: &AtomicU64| json!(a.load(Ordering::Relaxed));
        let mut m = serde_json::Map::new();
        m.insert("created".into(), g(&self.created));
        m.insert("claimed".into(), g(&self.claimed));
        m.insert("opened".into(), g(&self.opened));
        m.insert("expired".into(), g(&self.expired));
        m.insert("claim_misses".into(), g(&self.claim_misses));
        m.insert("meta_gets".into(), g(&self.meta_gets));
        m.insert("page_gets".into(), g(&self.page_gets));
        m.insert("bad_requests".into(), g(&self.bad_requests));
        m.insert("rate_limited".into(), g(&self.rate_limited));
        m.insert("burned_undelivered".into(), g(&self.burned_undelivered));
        m.insert("tampered".into(), g(&self.tampered));
        m
    }
}

fn bump(a: &AtomicU64) {
    a.fetch_add(1, Ordering::Relaxed);
}

/// Where notable events go (the node's log: the dashboard's timeline).
pub type EventSink = Arc<dyn Fn(&str) + Send + Sync>;

/// Settings of the service.
pub struct ServiceConfig {
    /// The TTLs a create may choose from, in seconds.
    pub ttls: Vec<u64>,
    /// Requests per 10 s per client address (0: no limit).
    pub rate_limit: u64,
    /// The lab token that opens `/lab/*` (none: those routes answer 404).
    pub lab_token: Option<Zeroizing<String>>,
    /// Access log lines (none: not logged).
    pub access_log: Option<EventSink>,
    /// Notable events (none: not reported).
    pub events: Option<EventSink>,
}

/// The service: the store, its counters and settings.
pub struct Service {
    /// The store.
    pub store: Store,
    /// Counters.
    pub stats: Stats,
    cfg: ServiceConfig,
}

impl Service {
    /// A service over `store`.
    pub fn new(store: Store, cfg: ServiceConfig) -> Arc<Service> {
        Arc::new(Service {
            store,
            stats: Stats::default(),
            cfg,
        })
    }

    fn event(&self, msg: impl FnOnce() -> String) {
        if let Some(e) = &self.cfg.events {
            e(&msg());
        }
    }

    /// Deletes what expired; counts and reports it.
    pub async fn sweep(&self) {
        match self.store.sweep(now_secs()).await {
            Ok(0) => {}
            Ok(n) => {
                self.stats.expired.fetch_add(n as u64, Ordering::Relaxed);
                self.event(|| format!("expired {n} unread secret(s): deleted"));
            }
            Err(e) => self.event(|| format!("expiry sweep failed: {e}")),
        }
    }
}

/// A JSON error.
pub fn error(status: u16, msg: impl Into<String>) -> Response {
    let mut r = Response::json(&json!({ "error": msg.into() }));
    r.set_status(status);
    r
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    ciphertext: String,
    iv: String,
    ttl: u64,
    #[serde(default = "one")]
    views: u32,
    #[serde(default)]
    passphrase: bool,
}

fn one() -> u32 {
    1
}

fn parse_id(req: &Request) -> Result<[u8; ID_LEN], Response> {
    let raw = req.param("id").unwrap_or_default();
    format::decode_id(raw).map_err(|e| error(400, e.to_string()))
}

async fn create(svc: Arc<Service>, req: Request) -> Response {
    let body: CreateBody = match serde_json::from_slice(req.body()) {
        Ok(b) => b,
        Err(e) => {
            bump(&svc.stats.bad_requests);
            return error(400, format!("malformed JSON: {e}"));
        }
    };
    let bad = |status: u16, msg: String| {
        bump(&svc.stats.bad_requests);
        error(status, msg)
    };
    let Some(ct) = format::unb64(&body.ciphertext) else {
        return bad(
            400,
            "ciphertext is not base64 (standard alphabet, padded)".into(),
        );
    };
    if ct.len() > MAX_CIPHERTEXT {
        return bad(
            413,
            format!(
                "secret too large: {} bytes of ciphertext, at most {MAX_CIPHERTEXT} (64 KiB of text)",
                ct.len()
            ),
        );
    }
    if ct.len() < TAG_LEN {
        return bad(
            400,
            format!(
                "ciphertext of {} bytes is shorter than a GCM tag ({TAG_LEN})",
                ct.len()
            ),
        );
    }
    let Some(iv) = format::unb64(&body.iv) else {
        return bad(400, "iv is not base64 (standard alphabet, padded)".into());
    };
    let Ok(iv) = <[u8; IV_LEN]>::try_from(iv.as_slice()) else {
        return bad(
            400,
            format!(
                "iv must be {IV_LEN} bytes (16 base64 characters), got {}",
                iv.len()
            ),
        );
    };
    if !svc.cfg.ttls.contains(&body.ttl) {
        let menu: Vec<String> = svc.cfg.ttls.iter().map(u64::to_string).collect();
        return bad(
            400,
            format!(
                "ttl {} is not on the menu: one of {} (seconds)",
                body.ttl,
                menu.join(", ")
            ),
        );
    }
    if !(1..=MAX_VIEWS).contains(&body.views) {
        return bad(
            400,
            format!("views must be 1..={MAX_VIEWS}, got {}", body.views),
        );
    }
    let now = now_secs();
    let sealed = Sealed {
        iv,
        ciphertext: ct,
        views_left: body.views,
        passphrase: body.passphrase,
        created: now,
        expires: now + body.ttl,
    };
    let id = format::new_id();
    let size = sealed.ciphertext.len();
    if let Err(e) = svc.store.create(id, sealed).await {
        return error(503, format!("store: {e}"));
    }
    bump(&svc.stats.created);
    let sid = format::encode_id(&id);
    svc.event(|| {
        format!(
            "created {} ({size} bytes of ciphertext, {} view(s), ttl {}s)",
            format::id_prefix(&sid),
            body.views,
            body.ttl
        )
    });
    let mut r = Response::json(&json!({
        "id": sid,
        "expires": now + body.ttl,
        "ttl": body.ttl,
        "views": body.views,
    }));
    r.set_status(201);
    r
}

fn gone(g: super::store::Gone) -> Response {
    let mut r = Response::json(&json!({ "error": g.message(), "reason": g.as_str() }));
    r.set_status(404);
    r
}

async fn meta(svc: Arc<Service>, req: Request) -> Response {
    let id = match parse_id(&req) {
        Ok(id) => id,
        Err(r) => {
            bump(&svc.stats.bad_requests);
            return r;
        }
    };
    bump(&svc.stats.meta_gets);
    match svc.store.meta(&id, now_secs()).await {
        Ok(Lookup::Found(s)) => Response::json(&json!({
            "id": format::encode_id(&id),
            "created": s.created,
            "expires": s.expires,
            "views_left": s.views_left,
            "passphrase": s.passphrase,
            "size": s.ciphertext.len().saturating_sub(TAG_LEN),
        })),
        Ok(Lookup::Gone(g)) => gone(g),
        Err(e) => error(503, format!("store: {e}")),
    }
}

async fn claim(svc: Arc<Service>, req: Request) -> Response {
    let id = match parse_id(&req) {
        Ok(id) => id,
        Err(r) => {
            bump(&svc.stats.bad_requests);
            return r;
        }
    };
    match svc.store.claim(&id, now_secs()).await {
        Ok(Lookup::Found(s)) => {
            bump(&svc.stats.claimed);
            if s.views_left == 0 {
                bump(&svc.stats.opened);
            }
            svc.event(|| {
                format!(
                    "claimed {}: ciphertext handed over{}",
                    format::id_prefix(&format::encode_id(&id)),
                    if s.views_left == 0 {
                        ", deleted".to_string()
                    } else {
                        format!(", {} view(s) left", s.views_left)
                    }
                )
            });
            Response::json(&json!({
                "ciphertext": format::b64(&s.ciphertext),
                "iv": format::b64(&s.iv),
                "passphrase": s.passphrase,
                "views_left": s.views_left,
            }))
        }
        Ok(Lookup::Gone(g)) => {
            bump(&svc.stats.claim_misses);
            if g == super::store::Gone::Expired {
                bump(&svc.stats.expired);
            }
            gone(g)
        }
        Err(e) => {
            // The embedded store removed it before the failed write: at most once.
            bump(&svc.stats.burned_undelivered);
            error(503, format!("store: {e}"))
        }
    }
}

fn lab_allowed(svc: &Service, req: &Request) -> bool {
    match (&svc.cfg.lab_token, req.header(LAB_TOKEN_HEADER)) {
        (Some(t), Some(h)) => bool::from(t.as_bytes().ct_eq(h.as_bytes())),
        _ => false,
    }
}

async fn snoop(svc: Arc<Service>, req: Request) -> Response {
    if !lab_allowed(&svc, &req) {
        return error(404, "not found");
    }
    let items = match svc.store.snapshot(1000).await {
        Ok(v) => v,
        Err(e) => return error(503, format!("store: {e}")),
    };
    let secrets: Vec<Value> = items
        .iter()
        .map(|(id, s)| {
            json!({
                "id": format::encode_id(id),
                "iv": format::b64(&s.iv),
                "ciphertext": format::b64(&s.ciphertext),
                "views_left": s.views_left,
                "passphrase": s.passphrase,
                "created": s.created,
                "expires": s.expires,
            })
        })
        .collect();
    let mut m = svc.stats.to_json();
    m.insert("store".into(), json!(svc.store.describe()));
    m.insert("secrets".into(), Value::Array(secrets));
    Response::json(&Value::Object(m))
}

async fn raw(svc: Arc<Service>, req: Request) -> Response {
    if !lab_allowed(&svc, &req) {
        return error(404, "not found");
    }
    match svc.store.raw_bytes(8 << 20).await {
        Ok(b) => {
            Response::json(&json!({ "store": svc.store.describe(), "bytes": format::b64(&b) }))
        }
        Err(e) => error(503, format!("store: {e}")),
    }
}

async fn tamper(svc: Arc<Service>, req: Request) -> Response {
    if !lab_allowed(&svc, &req) {
        return error(404, "not found");
    }
    let id = match parse_id(&req) {
        Ok(id) => id,
        Err(r) => return r,
    };
    let byte = req
        .query_param("byte")
        .and_then(|b| b.parse().ok())
        .unwrap_or(0usize);
    match svc.store.tamper(&id, byte).await {
        Ok(true) => {
            bump(&svc.stats.tampered);
            svc.event(|| {
                format!(
                    "attacker flipped a ciphertext bit of {} in the store",
                    format::id_prefix(&format::encode_id(&id))
                )
            });
            Response::json(&json!({ "tampered": true, "byte": byte }))
        }
        Ok(false) => error(404, "no such secret in the store"),
        Err(e) => error(503, format!("store: {e}")),
    }
}

/// Security headers on every response.
struct SecurityHeaders;

impl Middleware for SecurityHeaders {
    fn handle<'a>(&'a self, req: Request, next: Next<'a>) -> BoxFuture<'a, Response> {
        Box::pin(async move {
            let mut r = next.run(req).await;
            security_headers(&mut r);
            r
        })
    }
}

/// Sets the security headers on `r`: the app's middleware does it for every answer of the app,
/// and the courier passes it to forge ([`forge::Server::on_refusal`](crate::forge::server::Server::on_refusal))
/// for the answers forge makes without the app (a body over its limit, a malformed request).
pub fn security_headers(r: &mut Response) {
    r.set_header("content-security-policy", CSP);
    r.set_header("referrer-policy", "no-referrer");
    r.set_header("cache-control", "no-store");
    r.set_header("x-content-type-options", "nosniff");
    r.set_header("x-frame-options", "DENY");
    r.set_header("cross-origin-opener-policy", "same-origin");
    r.set_header("cross-origin-resource-policy", "same-origin");
}

/// The body limit, answered as JSON.
struct SecretLimit(Arc<Service>);

impl Middleware for SecretLimit {
    fn handle<'a>(&'a self, req: Request, next: Next<'a>) -> BoxFuture<'a, Response> {
        if req.body().len() > MAX_BODY {
            bump(&self.0.stats.bad_requests);
            let n = req.body().len();
            return Box::pin(async move {
                error(
                    413,
                    format!(
                        "request body of {n} bytes is over the limit ({MAX_BODY}): secrets are at most 64 KiB"
                    ),
                )
            });
        }
        next.run(req)
    }
}

/// Counts the rate limit's refusals.
struct CountLimited(Arc<Service>, RateLimit);

impl Middleware for CountLimited {
    fn handle<'a>(&'a self, req: Request, next: Next<'a>) -> BoxFuture<'a, Response> {
        Box::pin(async move {
            let r = self.1.handle(req, next).await;
            if r.status() == 429 {
                bump(&self.0.stats.rate_limited);
            }
            r
        })
    }
}

/// A request target with every long path segment (an id) cut to its first 6 characters and
/// the query hidden: what the access log writes.
pub fn redact_target(target: &str) -> String {
    let (path, query) = match target.split_once('?') {
        Some((p, _)) => (p, "?…"),
        None => (target, ""),
    };
    let segs: Vec<String> = path
        .split('/')
        .map(|s| {
            if s.len() >= 12 {
                format::id_prefix(s)
            } else {
                s.to_string()
            }
        })
        .collect();
    format!("{}{query}", segs.join("/"))
}

struct RedactedAccessLog(EventSink);

impl Middleware for RedactedAccessLog {
    fn handle<'a>(&'a self, req: Request, next: Next<'a>) -> BoxFuture<'a, Response> {
        Box::pin(async move {
            let start = Instant::now();
            let peer = req
                .peer_addr()
                .map_or_else(|| "-".to_owned(), |p| p.ip().to_string());
            let line = format!(
                "{} {} {}",
                req.method().as_str(),
                redact_target(req.target()),
                match req.version() {
                    Version::Http10 => "HTTP/1.0",
                    Version::Http11 => "HTTP/1.1",
                }
            );
            let res = next.run(req).await;
            (self.0)(&format!(
                "{peer} \"{line}\" {} {} {:.3}ms",
                res.status(),
                res.body().len().unwrap_or(0),
                start.elapsed().as_secs_f64() * 1000.0
            ));
            res
        })
    }
}

/// The forge app of a service.
pub fn app(svc: Arc<Service>) -> App {
    let mut r = Router::new();
    let s = svc.clone();
    let page_hit = move |body: fn() -> Response| {
        let s = s.clone();
        move |_req: Request| {
            bump(&s.stats.page_gets);
            let r = body();
            async move { r }
        }
    };
    r.get("/", page_hit(page::index));
    r.get("/s/:id", page_hit(page::index));
    r.get("/app.js", page_hit(page::script));
    r.get("/app.css", page_hit(page::style));
    r.get("/healthz", |_req: Request| async {
        Response::json(&json!({"ok": true}))
    });
    let ttls = svc.cfg.ttls.clone();
    r.get("/api/config", move |_req: Request| {
        let body =
            json!({ "ttls": ttls, "max_bytes": format::MAX_PLAINTEXT, "max_views": MAX_VIEWS });
        async move { Response::json(&body) }
    });
    let s = svc.clone();
    r.post("/api/secrets", move |req| create(s.clone(), req));
    let s = svc.clone();
    r.get("/api/secrets/:id", move |req| meta(s.clone(), req));
    let s = svc.clone();
    r.post("/api/secrets/:id/claim", move |req| claim(s.clone(), req));
    let s = svc.clone();
    r.get("/lab/snoop", move |req| snoop(s.clone(), req));
    let s = svc.clone();
    r.get("/lab/raw", move |req| raw(s.clone(), req));
    let s = svc.clone();
    r.post("/lab/tamper/:id", move |req| tamper(s.clone(), req));
    let mut app = App::new(r).wrap(SecurityHeaders);
    if let Some(log) = svc.cfg.access_log.clone() {
        app = app.wrap(RedactedAccessLog(log));
    }
    if svc.cfg.rate_limit > 0 {
        app = app.wrap(CountLimited(
            svc.clone(),
            RateLimit::new(svc.cfg.rate_limit, Duration::from_secs(10)),
        ));
    }
    app.wrap(SecretLimit(svc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_log_targets_never_hold_an_id_in_full() {
        let id = format::encode_id(&[0xab; 16]);
        let t = redact_target(&format!("/api/secrets/{id}/claim"));
        assert!(!t.contains(&id), "{t}");
        assert!(
            t.starts_with("/api/secrets/") && t.ends_with("…/claim"),
            "{t}"
        );
        assert_eq!(redact_target("/app.js?x=1"), "/app.js?…");
    }
}
