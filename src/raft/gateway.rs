//! Every Raft node's HTTP face, served by [`crate::forge`]:
//!
//! | route | what |
//! | --- | --- |
//! | `PUT /kv/*key` | store the body; `200` only once committed. With `If-Match: "HEX"` it is a compare-and-set against the value whose hex is HEX (`412` when it does not match) |
//! | `GET /kv/*key` | linearizable read (ReadIndex): `200` with the value and `ETag: "HEX"` (the hex of the value), `404` when absent |
//! | `DELETE /kv/*key` | `204`, or `404` when absent |
//! | `GET /status` | this node's Raft state as JSON |
//! | `GET /metrics` | Prometheus text: HTTP metrics and `wirelab_raft_*` gauges |
//! | `GET /healthz` | liveness |
//!
//! KV routes need the run's client token (`RUN_DIR/pki/client.token`, 0600) as
//! `Authorization: Bearer TOKEN`, compared in constant time; without it they answer `401`.
//! `/status`, `/metrics` and `/healthz` carry no data and stay open (for scrapers).
//!
//! A follower answers KV requests with `307` and the leader's gateway URL in `Location`
//! (`503` with `Retry-After` while no leader is known); no answer within 5 s is `504`: the write
//! may or may not have happened. Every request is a new write: the gateway never retries, so all
//! the writes of one gateway process share one client session (one entry in the KV's session
//! table, with a sequence number per request) instead of each taking a session of its own,
//! which would fill the bounded table and cost every apply past it an eviction scan. An HTTP
//! retry is a new write (the binary protocol's clients get exactly-once retries).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Map, Value};
use tokio::sync::mpsc;

use super::codec::{Op, Reply, Request as KvRequest};
use super::message::NodeId;
use super::node::{ClientConn, Input};
use crate::forge::layers::{Metrics, healthz};
use crate::forge::{App, Request, Response, Router};

/// What the gateway handlers share.
#[derive(Clone)]
pub(super) struct Gateway {
    pub(super) inbox: mpsc::UnboundedSender<Input>,
    pub(super) http_peers: Arc<BTreeMap<NodeId, String>>,
    pub(super) state: Arc<Mutex<Map<String, Value>>>,
    pub(super) in_flight: Arc<tokio::sync::Semaphore>,
    pub(super) session: Arc<GatewaySession>,
    /// `Bearer TOKEN`, the `Authorization` value KV requests must carry.
    pub(super) bearer: Arc<str>,
}

/// The one client session of a gateway process: a random client id and the next sequence
/// number. The lock is held while a request is numbered *and* queued, so the node proposes the
/// writes in sequence order (the session table answers an out-of-order lower sequence number as
/// a stale retry).
#[derive(Debug)]
pub(super) struct GatewaySession {
    client: u64,
    next_seq: Mutex<u64>,
}

impl Default for GatewaySession {
    fn default() -> Self {
        GatewaySession {
            client: rand::random::<u64>() | 1,
            next_seq: Mutex::new(1),
        }
    }
}

fn plain(status: u16, text: impl Into<bytes::Bytes>) -> Response {
    let mut r = Response::text(text);
    r.set_status(status);
    r
}

/// Hex of a value (its ETag).
pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Inverse of [`hex`]; `None` for odd lengths or non-hex digits.
pub fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

impl Gateway {
    async fn call(&self, op: Op) -> Result<Reply, Response> {
        let Ok(permit) = self.in_flight.clone().acquire_owned().await else {
            return Err(Response::error(503));
        };
        let (tx, mut rx) = mpsc::unbounded_channel();
        let conn = ClientConn {
            tx,
            _permit: permit,
        };
        {
            let mut next_seq = match self.session.next_seq.lock() {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            };
            let req = KvRequest {
                id: 1,
                client: self.session.client,
                seq: *next_seq,
                op,
            };
            *next_seq += 1;
            if self.inbox.send(Input::Client(req, conn)).is_err() {
                return Err(Response::error(503));
            }
        }
        match tokio::time::timeout(Duration::from_secs(5), rx.recv()).await {
            Ok(Some(answer)) => Ok(answer.resp.reply),
            Ok(None) => Err(Response::error(503)),
            Err(_) => Err(plain(504, "no answer within 5 s: the outcome is unknown\n")),
        }
    }

    fn redirect(&self, leader: Option<NodeId>, req: &Request) -> Response {
        match leader.and_then(|l| self.http_peers.get(&l)) {
            Some(addr) => Response::new(307)
                .with_header("location", format!("http://{addr}{}", req.target()))
                .with_body("not the leader\n"),
            None => plain(503, "no leader elected yet; retry\n").with_header("retry-after", "1"),
        }
    }

    /// Whether `req` carries the run's client token (constant-time comparison).
    fn authorized(&self, req: &Request) -> bool {
        use subtle::ConstantTimeEq;
        req.header("authorization").is_some_and(|v| {
            let v = v.trim().as_bytes();
            v.len() == self.bearer.len() && bool::from(v.ct_eq(self.bearer.as_bytes()))
        })
    }

    async fn kv(&self, req: Request) -> Response {
        if !self.authorized(&req) {
            return plain(
                401,
                "KV requests need the run's client token: Authorization: Bearer $(cat RUN_DIR/pki/client.token)\n",
            )
            .with_header("www-authenticate", "Bearer realm=\"wirelab raft\"");
        }
        let Some(key) = req
            .param("key")
            .map(str::to_owned)
            .filter(|k| !k.is_empty())
        else {
            return plain(400, "missing key\n");
        };
        let op = match req.method() {
            crate::forge::Method::Get | crate::forge::Method::Head => Op::Get { key },
            crate::forge::Method::Delete => Op::Del { key },
            _ => match req.header("if-match") {
                Some(tag) => {
                    let Some(expected) = unhex(tag.trim().trim_matches('"')) else {
                        return plain(400, "If-Match must be an ETag from GET (\"hex\")\n");
                    };
                    Op::Cas {
                        key,
                        expected,
                        new: req.body().to_vec(),
                    }
                }
                None => Op::Put {
                    key,
                    value: req.body().to_vec(),
                },
            },
        };
        match self.call(op).await {
            Err(resp) => resp,
            Ok(Reply::Value(Some(v))) => Response::new(200)
                .with_header("content-type", "application/octet-stream")
                .with_header("etag", format!("\"{}\"", hex(&v)))
                .with_body(v),
            Ok(Reply::Value(None)) | Ok(Reply::Deleted(false)) => Response::error(404),
            Ok(Reply::Deleted(true)) => Response::new(204),
            Ok(Reply::Done) | Ok(Reply::Cas { swapped: true, .. }) => Response::text("ok\n"),
            Ok(Reply::Cas { swapped: false, .. }) => Response::error(412),
            Ok(Reply::NotLeader { leader, .. }) => self.redirect(leader, &req),
            Ok(Reply::Error(e)) => plain(500, format!("{e}\n")),
        }
    }

    fn state(&self) -> Map<String, Value> {
        match self.state.lock() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    fn raft_metrics(&self) -> String {
        let s = self.state();
        let num = |k: &str| s.get(k).and_then(Value::as_u64).unwrap_or(0);
        let leader = (s.get("role").and_then(Value::as_str) == Some("leader")) as u64;
        let mut out = String::new();
        for (name, kind, help, v) in [
            (
                "wirelab_raft_term",
                "gauge",
                "Current Raft term.",
                num("term"),
            ),
            (
                "wirelab_raft_commit_index",
                "gauge",
                "Highest log index known committed.",
                num("commit"),
            ),
            (
                "wirelab_raft_applied_index",
                "gauge",
                "Highest log index applied to the KV store.",
                num("applied"),
            ),
            (
                "wirelab_raft_last_index",
                "gauge",
                "Index of the last log entry.",
                num("last_index"),
            ),
            (
                "wirelab_raft_is_leader",
                "gauge",
                "1 when this node leads.",
                leader,
            ),
            (
                "wirelab_raft_keys",
                "gauge",
                "Keys in the KV store.",
                num("keys"),
            ),
            (
                "wirelab_raft_writes_applied_total",
                "counter",
                "Writes applied to the KV store.",
                num("writes_applied"),
            ),
            (
                "wirelab_raft_reads_served_total",
                "counter",
                "Linearizable reads served.",
                num("reads_served"),
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}"
            );
        }
        out
    }
}

/// The gateway app and its metrics (whose connection gauge the server should share).
pub(super) fn app(gw: Gateway) -> (App, Metrics) {
    let metrics = Metrics::new();
    let mut r = Router::new();
    for method in [
        crate::forge::Method::Get,
        crate::forge::Method::Put,
        crate::forge::Method::Post,
        crate::forge::Method::Delete,
    ] {
        let g = gw.clone();
        r.route(method, "/kv/*key", move |req: Request| {
            let g = g.clone();
            async move { g.kv(req).await }
        });
    }
    let g = gw.clone();
    r.get("/status", move |_req: Request| {
        let g = g.clone();
        async move { Response::json(&Value::Object(g.state())) }
    });
    let g = gw.clone();
    let m = metrics.clone();
    r.get("/metrics", move |_req: Request| {
        let (g, m) = (g.clone(), m.clone());
        async move {
            Response::new(200)
                .with_header("content-type", "text/plain; version=0.0.4")
                .with_body(format!("{}{}", m.render(), g.raft_metrics()))
        }
    });
    r.get("/healthz", healthz());
    let app = App::new(r).wrap_arc(Arc::new(metrics.clone()));
    (app, metrics)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_round_trip_through_hex() {
        assert_eq!(hex(b"\x00ab\xff"), "006162ff");
        assert_eq!(unhex("006162ff").unwrap(), b"\x00ab\xff");
        assert_eq!(unhex("0g"), None);
        assert_eq!(unhex("abc"), None);
        assert_eq!(unhex("").unwrap(), b"");
    }
}
