//! The tracker's HTTP face through forge: the BitTorrent announce (BEP 3) with compact peer
//! lists (BEP 23), so stock clients use wirelab trackers, plus `/rpc` (the framed RPC address,
//! for wirelab clients that only know an announce URL), `/status`, `/metrics` and `/healthz`.

use std::net::SocketAddr;
use std::sync::Arc;

use super::node::Tracker;
use super::state::{OpKind, PeerRecord};
use crate::forge::layers::healthz;
use crate::forge::{App, Request, Response, Router};
use crate::p2p::bencode::{Value, dict};

/// Announce interval handed to clients, seconds.
const INTERVAL_SECS: i64 = 10;

/// The tracker's forge app.
pub fn app(tracker: Arc<Tracker>, rpc_addr: SocketAddr) -> App {
    let mut router = Router::new();
    let t = tracker.clone();
    router
        .get("/announce", move |req: Request| {
            let t = t.clone();
            async move { announce(&t, &req) }
        })
        .get("/rpc", move |_req: Request| async move {
            Response::text(rpc_addr.to_string())
        })
        .get("/metrics", {
            let t = tracker.clone();
            move |_req: Request| {
                let t = t.clone();
                async move { metrics(&t) }
            }
        })
        .get("/status", move |_req: Request| {
            let t = tracker.clone();
            async move {
                match t.state_event() {
                    crate::cluster::NodeEvent::State { fields } => Response::json(&fields),
                    _ => Response::error(500),
                }
            }
        })
        .get("/healthz", healthz());
    App::new(router)
}

/// Prometheus text: the replicated state's size, ops held, replication lag.
fn metrics(t: &Tracker) -> Response {
    let crate::cluster::NodeEvent::State { fields } = t.state_event() else {
        return Response::error(500);
    };
    let num = |k: &str| fields.get(k).and_then(serde_json::Value::as_u64);
    let mut out = String::new();
    for (name, help, key) in [
        (
            "wirelab_p2p_tracker_torrents",
            "Torrents registered.",
            "torrents",
        ),
        ("wirelab_p2p_tracker_peers", "Live swarm members.", "peers"),
        (
            "wirelab_p2p_tracker_ops",
            "Replicated ops held (sum of the version vector).",
            "ops",
        ),
        (
            "wirelab_p2p_tracker_replication_lag_ops",
            "Ops the other tracker lacked at its last pull.",
            "replication_lag",
        ),
    ] {
        if let Some(v) = num(key) {
            out.push_str(&format!(
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}\n"
            ));
        }
    }
    Response::new(200)
        .with_header("content-type", "text/plain; version=0.0.4")
        .with_body(out)
}

fn failure(reason: &str) -> Response {
    bencoded(dict([("failure reason", Value::str(reason))]))
}

fn bencoded(v: Value) -> Response {
    Response::new(200)
        .with_header("content-type", "text/plain")
        .with_body(v.encode())
}

/// Percent-decodes a query value into raw bytes (`None` when malformed).
pub fn percent_bytes(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Some(out)
}

fn param(query: &str, name: &str) -> Option<Vec<u8>> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == name)
        .and_then(|(_, v)| percent_bytes(v))
}

fn announce(t: &Tracker, req: &Request) -> Response {
    let query = req.query().unwrap_or("");
    let id20 = |name| param(query, name).and_then(|v| <[u8; 20]>::try_from(v).ok());
    let Some(info_hash) = id20("info_hash") else {
        return failure("missing or bad info_hash");
    };
    let Some(peer_id) = id20("peer_id") else {
        return failure("missing or bad peer_id");
    };
    let num = |name| {
        param(query, name)
            .and_then(|v| String::from_utf8(v).ok())
            .and_then(|s| s.parse::<u64>().ok())
    };
    let Some(port) = num("port").filter(|p| (1..=65535).contains(p)) else {
        return failure("missing or bad port");
    };
    let Some(ip) = req.peer_addr().map(|a| a.ip()) else {
        return failure("unknown peer address");
    };
    let event = param(query, "event").unwrap_or_default();
    let left = num("left").unwrap_or(1);
    t.local(OpKind::Peer {
        info_hash,
        peer_id,
        record: PeerRecord {
            addr: SocketAddr::new(ip, port as u16).to_string(),
            session: 0,
            pieces: Vec::new(),
            seeder: left == 0,
            left: event == b"stopped",
        },
    });
    let mut compact = Vec::new();
    for p in t.peers(&info_hash, Some(&peer_id)).iter().take(200) {
        // BEP 23 covers IPv4 only (IPv6 peers would go in `peers6`, BEP 7).
        if let Ok(SocketAddr::V4(a)) = p.addr.parse::<SocketAddr>() {
            compact.extend_from_slice(&a.ip().octets());
            compact.extend_from_slice(&a.port().to_be_bytes());
        }
    }
    bencoded(dict([
        ("interval", Value::Int(INTERVAL_SECS)),
        ("peers", Value::Bytes(compact)),
    ]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding_yields_raw_bytes() {
        assert_eq!(
            percent_bytes("%00%ffa+b").unwrap(),
            vec![0, 0xff, b'a', b' ', b'b']
        );
        assert!(percent_bytes("%g0").is_none());
        assert!(percent_bytes("%f").is_none());
    }
}
