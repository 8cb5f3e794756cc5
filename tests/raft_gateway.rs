//! Every Raft node's HTTP face: KV over HTTP with redirects to the leader, /status, /metrics.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::cluster::*;

/// One HTTP/1.1 request with `Connection: close`; returns (status, headers, body).
fn http(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String, Vec<u8>) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("response head");
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let status = head[9..12].parse().unwrap();
    (status, head.to_lowercase(), raw[split + 4..].to_vec())
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
}

#[test]
fn kv_over_http_redirects_to_the_leader_and_commits_before_answering() {
    let dir = tempfile::tempdir().unwrap();
    let sup = raft_cluster(dir.path(), |_| {});
    let leader = wait_leader(&sup);
    let nodes = sup.nodes();
    let http_of = |id: u64| {
        nodes
            .iter()
            .find(|n| n.id == id)
            .unwrap()
            .http
            .clone()
            .expect("http address")
    };
    let lead = http_of(leader);
    let follower = http_of(nodes.iter().find(|n| n.id != leader).unwrap().id);
    let token = std::fs::read_to_string(dir.path().join("pki").join("client.token")).unwrap();
    let bearer = format!("Bearer {}", token.trim());
    let bearer = bearer.as_str();

    // Without the run's token, or with a wrong one, KV routes answer 401 and change nothing.
    let (status, head, _) = http(&lead, "PUT", "/kv/city", &[], b"Paris");
    assert_eq!(status, 401);
    assert!(header(&head, "www-authenticate").is_some(), "{head}");
    let wrong = format!("Bearer {}", "0".repeat(64));
    assert_eq!(
        http(
            &lead,
            "PUT",
            "/kv/city",
            &[("Authorization", &wrong)],
            b"Paris"
        )
        .0,
        401
    );
    assert_eq!(http(&lead, "GET", "/kv/city", &[], b"").0, 401);
    assert_eq!(
        http(&lead, "GET", "/kv/city", &[("Authorization", bearer)], b"").0,
        404,
        "the refused write changed nothing"
    );

    let (status, head, _) = http(
        &follower,
        "PUT",
        "/kv/city",
        &[("Authorization", bearer)],
        b"Paris",
    );
    assert_eq!(status, 307);
    assert_eq!(
        header(&head, "location"),
        Some(format!("http://{lead}/kv/city").as_str())
    );

    assert_eq!(
        http(
            &lead,
            "PUT",
            "/kv/city",
            &[("Authorization", bearer)],
            b"Paris"
        )
        .0,
        200
    );
    let (status, head, body) = http(&lead, "GET", "/kv/city", &[("Authorization", bearer)], b"");
    assert_eq!((status, body.as_slice()), (200, &b"Paris"[..]));
    let etag = header(&head, "etag").unwrap().to_string();
    assert_eq!(etag, "\"5061726973\"");

    // Compare-and-set by If-Match: a stale tag fails, the current one swaps.
    assert_eq!(
        http(
            &lead,
            "PUT",
            "/kv/city",
            &[("If-Match", "\"00\""), ("Authorization", bearer)],
            b"Rome"
        )
        .0,
        412
    );
    assert_eq!(
        http(
            &lead,
            "PUT",
            "/kv/city",
            &[("If-Match", etag.as_str()), ("Authorization", bearer)],
            b"Rome"
        )
        .0,
        200
    );
    assert_eq!(
        http(&lead, "GET", "/kv/city", &[("Authorization", bearer)], b"").2,
        b"Rome"
    );
    assert_eq!(
        http(
            &lead,
            "PUT",
            "/kv/city",
            &[("If-Match", "nothex"), ("Authorization", bearer)],
            b"x"
        )
        .0,
        400
    );

    assert_eq!(
        http(
            &lead,
            "DELETE",
            "/kv/city",
            &[("Authorization", bearer)],
            b""
        )
        .0,
        204
    );
    assert_eq!(
        http(
            &lead,
            "DELETE",
            "/kv/city",
            &[("Authorization", bearer)],
            b""
        )
        .0,
        404
    );
    assert_eq!(
        http(&lead, "GET", "/kv/city", &[("Authorization", bearer)], b"").0,
        404
    );

    // The binary-protocol client sees what HTTP wrote.
    assert_eq!(
        http(
            &lead,
            "PUT",
            "/kv/shared",
            &[("Authorization", bearer)],
            b"both"
        )
        .0,
        200
    );
    let rt = rt();
    let mut c = client(&sup);
    assert_eq!(
        rt.block_on(c.execute(wirelab::raft::codec::Op::Get {
            key: "shared".into()
        }))
        .unwrap(),
        wirelab::raft::codec::Reply::Value(Some(b"both".to_vec()))
    );

    let (status, _, body) = http(&follower, "GET", "/status", &[], b"");
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["role"], "follower");
    assert_eq!(v["leader"], leader);
    let (status, _, body) = http(&lead, "GET", "/metrics", &[], b"");
    assert_eq!(status, 200);
    let text = String::from_utf8(body).unwrap();
    assert!(text.contains("wirelab_raft_is_leader 1"), "{text}");
    assert!(text.contains("wirelab_raft_commit_index"), "{text}");
    assert_eq!(http(&lead, "GET", "/healthz", &[], b"").0, 200);
    sup.shutdown(Duration::from_secs(1));
}
