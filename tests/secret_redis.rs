//! The secret lab on a real Redis: `redis-server` started by the test on a free port
//! (append-only, fsync always), the courier with `--store redis://…`. Send and open, the
//! 100-claimer race, burn-after-N, tamper, a SIGKILL of the courier between create and claim,
//! and Redis expiring keys itself. Skipped with a note when redis-server is absent, unless
//! `WIRELAB_REQUIRE_EXTERNAL=1`.

mod secret_support;

use secret_support::{Courier, Lab, Redis, http, ok};
use serde_json::json;
use wirelab::secret::format;

#[test]
fn redis_store_serves_once_survives_a_courier_crash_and_races_to_one_winner() {
    let Some(redis) = Redis::start() else {
        return;
    };
    let lab = Lab::up(&["--store", &redis.url()]);
    let status = ok(lab.path(), &["secret", "status"], None);
    assert!(status.contains("store redis"), "{status}");
    let url = lab.send("kept in redis", &[]);
    let (code, out, _) = lab.cli(&["secret", "open", &url]);
    assert_eq!((code, out.trim()), (0, "kept in redis"));
    let (code, _, err) = lab.cli(&["secret", "open", &url]);
    assert_eq!(code, 1);
    assert!(err.contains("already opened"), "{err}");

    // SIGKILL between create and claim: exactly once after the restart.
    let url = lab.send("survives a crash", &[]);
    ok(lab.path(), &["secret", "kill", "1"], None);
    ok(lab.path(), &["secret", "restart", "1"], None);
    let (code, out, _) = lab.cli(&["secret", "open", &url]);
    assert_eq!((code, out.trim()), (0, "survives a crash"));
    ok(lab.path(), &["secret", "kill", "1"], None);
    ok(lab.path(), &["secret", "restart", "1"], None);
    assert_eq!(lab.cli(&["secret", "open", &url]).0, 1);

    for _ in 0..3 {
        let url = lab.send("one winner", &[]);
        let out = ok(
            lab.path(),
            &["secret", "race", &url, "--claimers", "100"],
            None,
        );
        assert!(
            out.contains("1 got the secret (200), 99 got 404, 0 other; burned by race losers: 0"),
            "{out}"
        );
    }
    let url = lab.send("three readers", &["--views", "3"]);
    let out = ok(
        lab.path(),
        &["secret", "race", &url, "--claimers", "50"],
        None,
    );
    assert!(out.contains("3 got the secret (200), 47 got 404"), "{out}");

    let url = lab.send("do not alter", &[]);
    ok(lab.path(), &["secret", "tamper", &url], None);
    let (code, _, err) = lab.cli(&["secret", "open", &url]);
    assert_eq!(code, 1);
    assert!(err.contains("authentication failed"), "{err}");

    let url = lab.send("courier, not reader", &[]);
    let out = ok(lab.path(), &["secret", "snoop", &url], None);
    assert!(
        out.contains("redis://") && out.contains("key nowhere"),
        "{out}"
    );
}

#[test]
fn redis_expires_unclaimed_secrets_and_metadata_never_consumes() {
    let Some(redis) = Redis::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let c = Courier::start(dir.path(), &["--store", &redis.url(), "--ttls", "1,60"]).unwrap();
    let key = format::derive_key(&[5; 32], None);
    let (iv, ct) = format::seal(&key, b"short-lived").unwrap();
    let body = |ttl: u64| {
        json!({"ciphertext": format::b64(&ct), "iv": format::b64(&iv), "ttl": ttl})
            .to_string()
            .into_bytes()
    };
    let r = http(c.addr, "POST", "/api/secrets", Some(&body(60)));
    assert_eq!(r.status, 201);
    let id = r.json()["id"].as_str().unwrap().to_string();
    for _ in 0..3 {
        assert_eq!(
            http(c.addr, "GET", &format!("/api/secrets/{id}"), None).status,
            200
        );
    }
    assert_eq!(
        http(c.addr, "POST", &format!("/api/secrets/{id}/claim"), None).status,
        200
    );
    let r = http(c.addr, "POST", "/api/secrets", Some(&body(1)));
    let short = r.json()["id"].as_str().unwrap().to_string();
    secret_support::wait_for("redis to expire the key", || {
        http(c.addr, "GET", &format!("/api/secrets/{short}"), None).status == 404
    });
    // Redis says why, as the embedded store does: expired, not "no such secret".
    let r = http(c.addr, "POST", &format!("/api/secrets/{short}/claim"), None);
    assert_eq!(
        (r.status, r.json()["reason"].as_str()),
        (404, Some("expired"))
    );
    let r = http(c.addr, "GET", &format!("/api/secrets/{id}"), None);
    assert_eq!(
        (r.status, r.json()["reason"].as_str()),
        (404, Some("opened"))
    );
    let r = http(c.addr, "GET", "/api/secrets/AAAAAAAAAAAAAAAAAAAAAA", None);
    assert_eq!(
        (r.status, r.json()["reason"].as_str()),
        (404, Some("unknown"))
    );
}

#[test]
fn unreachable_redis_is_a_clear_error_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let port = secret_support::free_addr().port();
    let e = Courier::start(
        dir.path(),
        &["--store", &format!("redis://127.0.0.1:{port}")],
    )
    .err()
    .expect("refused");
    assert!(e.contains("cannot use redis://"), "{e}");
}

/// A raw `PING` to Redis, with a short read timeout: `None` when nothing answers.
fn ping(addr: std::net::SocketAddr) -> Option<String> {
    use std::io::{Read, Write};
    let mut s =
        std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_secs(1)).ok()?;
    s.set_read_timeout(Some(std::time::Duration::from_millis(700)))
        .ok()?;
    s.write_all(b"*1\r\n$4\r\nPING\r\n").ok()?;
    let mut buf = [0u8; 16];
    let n = s.read(&mut buf).ok()?;
    Some(String::from_utf8_lossy(&buf[..n]).into_owned())
}

/// `secret up --store redis`: the lab runs redis-server itself as node 3. A SIGKILL of the
/// store between create and claim loses nothing (appendfsync always) and the secret is still
/// served exactly once; a pause stops Redis itself (the node's whole process group), so the
/// courier's reads wait, and a resume lets them through.
#[test]
fn the_labs_own_redis_is_node_3_and_survives_sigkill_and_pause() {
    if !secret_support::require("redis-server", secret_support::on_path("redis-server")) {
        return;
    }
    let lab = Lab::up(&["--store", "redis"]);
    let v: serde_json::Value =
        serde_json::from_str(&ok(lab.path(), &["secret", "status", "--json"], None)).unwrap();
    let node3 = v["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["id"] == 3)
        .unwrap_or_else(|| panic!("no node 3 in {v}"))
        .clone();
    assert_eq!(node3["role"], "secret-redis", "{node3}");
    let addr: std::net::SocketAddr = node3["addr"].as_str().unwrap().parse().unwrap();
    assert_eq!(ping(addr).as_deref(), Some("+PONG\r\n"));
    let status = ok(lab.path(), &["secret", "status"], None);
    assert!(status.contains(&format!("redis://{addr}")), "{status}");

    let url = lab.send("kept through a store crash", &[]);
    ok(lab.path(), &["secret", "kill", "3"], None);
    assert_eq!(ping(addr), None, "redis-server died with its node");
    ok(lab.path(), &["secret", "restart", "3"], None);
    assert_eq!(ping(addr).as_deref(), Some("+PONG\r\n"));
    let (code, out, err) = lab.cli(&["secret", "open", &url]);
    assert_eq!(
        (code, out.trim()),
        (0, "kept through a store crash"),
        "{err}"
    );
    ok(lab.path(), &["secret", "kill", "3"], None);
    ok(lab.path(), &["secret", "restart", "3"], None);
    let (code, _, err) = lab.cli(&["secret", "open", &url]);
    assert_eq!(code, 1);
    assert!(err.contains("already opened"), "{err}");

    let url = lab.send("waits for a paused store", &[]);
    ok(lab.path(), &["secret", "pause", "3"], None);
    assert_eq!(
        ping(addr),
        None,
        "a paused node's redis-server answers nothing"
    );
    ok(lab.path(), &["secret", "resume", "3"], None);
    assert_eq!(ping(addr).as_deref(), Some("+PONG\r\n"));
    let (code, out, err) = lab.cli(&["secret", "open", &url]);
    assert_eq!((code, out.trim()), (0, "waits for a paused store"), "{err}");
}
