//! The courier's HTTP API on a real process: create, metadata that never consumes, the atomic
//! claim, expiry, bad input answered with a clear 4xx, security headers on every response, the
//! 64 KiB limit, the per-address rate limit, an access log without full ids, and a damaged
//! store file refused at start with its name.

mod secret_support;

use secret_support::{Courier, http, http_with, raw_request};
use serde_json::{Value, json};
use wirelab::secret::format;

fn sealed_body(ttl: u64, views: u32) -> Vec<u8> {
    let key = format::derive_key(&[9; 32], None);
    let (iv, ct) = format::seal(&key, b"api test secret").unwrap();
    json!({"ciphertext": format::b64(&ct), "iv": format::b64(&iv), "ttl": ttl, "views": views})
        .to_string()
        .into_bytes()
}

fn create(c: &Courier, ttl: u64, views: u32) -> String {
    let r = http(
        c.addr,
        "POST",
        "/api/secrets",
        Some(&sealed_body(ttl, views)),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    r.json()["id"].as_str().unwrap().to_string()
}

#[test]
fn metadata_never_consumes_and_the_claim_is_once_then_already_opened() {
    let dir = tempfile::tempdir().unwrap();
    let c = Courier::start(dir.path(), &[]).unwrap();
    let id = create(&c, 3600, 1);
    for _ in 0..3 {
        let m = http(c.addr, "GET", &format!("/api/secrets/{id}"), None);
        assert_eq!(m.status, 200);
        assert_eq!(m.json()["views_left"], 1);
        assert_eq!(m.json()["size"], 15);
        assert!(
            m.json().get("ciphertext").is_none(),
            "metadata carries no ciphertext"
        );
    }
    let r = http(c.addr, "POST", &format!("/api/secrets/{id}/claim"), None);
    assert_eq!(r.status, 200);
    let v = r.json();
    let iv: [u8; 12] = format::unb64(v["iv"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let ct = format::unb64(v["ciphertext"].as_str().unwrap()).unwrap();
    let key = format::derive_key(&[9; 32], None);
    assert_eq!(
        &format::open(&key, &iv, &ct).unwrap()[..],
        b"api test secret"
    );
    let again = http(c.addr, "POST", &format!("/api/secrets/{id}/claim"), None);
    assert_eq!(again.status, 404);
    assert_eq!(again.json()["reason"], "opened");
    assert!(
        again.json()["error"]
            .as_str()
            .unwrap()
            .contains("already opened")
    );
    let meta = http(c.addr, "GET", &format!("/api/secrets/{id}"), None);
    assert_eq!(
        (meta.status, meta.json()["reason"].clone()),
        (404, json!("opened"))
    );
}

#[test]
fn burn_after_n_views_serves_exactly_n() {
    let dir = tempfile::tempdir().unwrap();
    let c = Courier::start(dir.path(), &[]).unwrap();
    let id = create(&c, 3600, 3);
    let lefts: Vec<Value> = (0..3)
        .map(|_| {
            let r = http(c.addr, "POST", &format!("/api/secrets/{id}/claim"), None);
            assert_eq!(r.status, 200);
            r.json()["views_left"].clone()
        })
        .collect();
    assert_eq!(lefts, [json!(2), json!(1), json!(0)]);
    assert_eq!(
        http(c.addr, "POST", &format!("/api/secrets/{id}/claim"), None).status,
        404
    );
}

#[test]
fn unclaimed_secret_expires_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let c = Courier::start(dir.path(), &["--ttls", "1,60"]).unwrap();
    let id = create(&c, 1, 1);
    secret_support::wait_for("the secret to expire", || {
        let m = http(c.addr, "GET", &format!("/api/secrets/{id}"), None);
        m.status == 404 && m.json()["reason"] == "expired"
    });
    let r = http(c.addr, "POST", &format!("/api/secrets/{id}/claim"), None);
    assert_eq!(
        (r.status, r.json()["reason"].clone()),
        (404, json!("expired"))
    );
}

#[test]
fn bad_input_is_a_4xx_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let c = Courier::start(dir.path(), &[]).unwrap();
    let ct = format::b64(&[0u8; 32]);
    let iv = format::b64(&[0u8; 12]);
    let cases: Vec<(Vec<u8>, u16, &str)> = vec![
        (b"{not json".to_vec(), 400, "malformed JSON"),
        (b"".to_vec(), 400, "malformed JSON"),
        (
            json!({"ciphertext": ct, "iv": iv}).to_string().into_bytes(),
            400,
            "missing field `ttl`",
        ),
        (
            json!({"ciphertext": ct, "iv": format::b64(&[0u8; 8]), "ttl": 60})
                .to_string()
                .into_bytes(),
            400,
            "iv must be 12 bytes",
        ),
        (
            json!({"ciphertext": "@@not base64@@", "iv": iv, "ttl": 60})
                .to_string()
                .into_bytes(),
            400,
            "ciphertext is not base64",
        ),
        (
            json!({"ciphertext": ct, "iv": "%%%", "ttl": 60})
                .to_string()
                .into_bytes(),
            400,
            "iv is not base64",
        ),
        (
            json!({"ciphertext": ct, "iv": iv, "ttl": 61})
                .to_string()
                .into_bytes(),
            400,
            "not on the menu",
        ),
        (
            json!({"ciphertext": ct, "iv": iv, "ttl": 60, "views": 0})
                .to_string()
                .into_bytes(),
            400,
            "views must be",
        ),
        (
            json!({"ciphertext": ct, "iv": iv, "ttl": 60, "key": "oops"})
                .to_string()
                .into_bytes(),
            400,
            "unknown field",
        ),
        (
            json!({"ciphertext": format::b64(&[0u8; 8]), "iv": iv, "ttl": 60})
                .to_string()
                .into_bytes(),
            400,
            "shorter than a GCM tag",
        ),
        (
            json!({"ciphertext": format::b64(&vec![0u8; 64 * 1024 + 17]), "iv": iv, "ttl": 60})
                .to_string()
                .into_bytes(),
            413,
            "secret too large",
        ),
        (vec![b'x'; 200 * 1024], 413, "over the limit"),
    ];
    for (body, status, msg) in cases {
        let r = http(c.addr, "POST", "/api/secrets", Some(&body));
        assert_eq!(r.status, status, "{msg}: {}", r.text());
        let e = r.json()["error"].as_str().unwrap_or_default().to_string();
        assert!(e.contains(msg), "expected {msg:?} in {e:?}");
    }
    for bad in [
        "short",
        "AAAAAAAAAAAAAAAAAAAAAAAA",
        "AAAAAAAAAAAAAAAAAAAA*A",
    ] {
        for (m, p) in [
            ("GET", format!("/api/secrets/{bad}")),
            ("POST", format!("/api/secrets/{bad}/claim")),
        ] {
            let r = http(c.addr, m, &p, None);
            assert_eq!(r.status, 400, "{m} {p}");
            assert!(
                r.json()["error"]
                    .as_str()
                    .unwrap()
                    .contains("bad secret id")
            );
        }
    }
    // A well-formed id nobody created.
    let r = http(
        c.addr,
        "POST",
        &format!("/api/secrets/{}/claim", format::encode_id(&[1; 16])),
        None,
    );
    assert_eq!(
        (r.status, r.json()["reason"].clone()),
        (404, json!("unknown"))
    );
    // The courier still serves after all that.
    create(&c, 60, 1);
}

#[test]
fn every_response_carries_the_security_headers() {
    let dir = tempfile::tempdir().unwrap();
    let c = Courier::start(dir.path(), &["--rate-limit", "30"]).unwrap();
    let id = create(&c, 60, 1);
    let mut seen = Vec::new();
    let mut responses = vec![
        http(c.addr, "GET", "/", None),
        http(c.addr, "GET", &format!("/s/{id}"), None),
        http(c.addr, "GET", "/app.js", None),
        http(c.addr, "GET", "/app.css", None),
        http(c.addr, "GET", &format!("/api/secrets/{id}"), None),
        http(c.addr, "POST", "/api/secrets", Some(b"{")),
        http(
            c.addr,
            "POST",
            "/api/secrets",
            Some(&vec![b'x'; 100 * 1024]),
        ),
        http(c.addr, "GET", "/nope", None),
        http(c.addr, "GET", "/lab/snoop", None),
        // Refused by forge before the app: a body over its 1 MiB limit, a malformed request.
        http(
            c.addr,
            "POST",
            "/api/secrets",
            Some(&vec![b'x'; 2 << 20]),
        ),
        raw_request(c.addr, b"GARBAGE\r\n\r\n"),
        raw_request(
            c.addr,
            b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
        ),
    ];
    // Exhaust the rate limit: the 429 carries them too.
    loop {
        let r = http(c.addr, "GET", "/healthz", None);
        if r.status == 429 {
            responses.push(r);
            break;
        }
    }
    for r in &responses {
        seen.push(r.status);
        let csp = r.header("content-security-policy").unwrap_or_default();
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
            "{csp}"
        );
        assert!(csp.contains("frame-ancestors 'none'") && csp.contains("default-src 'none'"));
        assert_eq!(r.header("referrer-policy"), Some("no-referrer"));
        assert_eq!(r.header("cache-control"), Some("no-store"));
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    }
    assert!(
        seen.contains(&429) && seen.contains(&413) && seen.contains(&404) && seen.contains(&400),
        "{seen:?}"
    );
    assert_eq!(
        seen.iter().filter(|s| **s == 413).count(),
        2,
        "the app's 413 and forge's: {seen:?}"
    );
    assert!(responses.last().unwrap().header("retry-after").is_some());
}

#[test]
fn the_page_has_no_inline_script_and_no_third_party_origin() {
    let dir = tempfile::tempdir().unwrap();
    let c = Courier::start(dir.path(), &[]).unwrap();
    let html = http(c.addr, "GET", "/", None).text();
    let re = regex::Regex::new(r"<script[^>]*>").unwrap();
    for tag in re.find_iter(&html) {
        assert!(
            tag.as_str().contains("src=\"/"),
            "inline or foreign script: {}",
            tag.as_str()
        );
    }
    assert!(!html.contains(" on") || !regex::Regex::new(r"\son[a-z]+=").unwrap().is_match(&html));
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no third-party URL"
    );
    let js = http(c.addr, "GET", "/app.js", None).text();
    assert!(js.contains("HKDF") && js.contains("AES-GCM") && js.contains("crypto.subtle"));
    assert!(!js.contains("eval(") && !js.contains("innerHTML"));
}

#[test]
fn access_log_never_holds_a_full_id() {
    let dir = tempfile::tempdir().unwrap();
    let c = Courier::start(dir.path(), &[]).unwrap();
    let ids: Vec<String> = (0..5).map(|_| create(&c, 60, 1)).collect();
    for id in &ids {
        http(c.addr, "GET", &format!("/s/{id}"), None);
        http(c.addr, "GET", &format!("/api/secrets/{id}"), None);
    }
    http(
        c.addr,
        "POST",
        &format!("/api/secrets/{}/claim", ids[0]),
        None,
    );
    let log = dir.path().join("access.log");
    secret_support::wait_for("the access log", || {
        std::fs::read_to_string(&log).is_ok_and(|t| t.lines().count() >= 16)
    });
    let text = std::fs::read_to_string(&log).unwrap();
    for id in &ids {
        assert!(
            !text.contains(id.as_str()),
            "full id {id} in the access log:\n{text}"
        );
        assert!(text.contains(&id[..6]), "the log names secrets by prefix");
    }
}

#[test]
fn rate_limit_per_address_answers_429() {
    let dir = tempfile::tempdir().unwrap();
    let c = Courier::start(dir.path(), &["--rate-limit", "5"]).unwrap();
    let statuses: Vec<u16> = (0..8)
        .map(|_| http(c.addr, "GET", "/healthz", None).status)
        .collect();
    assert_eq!(&statuses[..5], &[200; 5]);
    assert!(statuses[5..].iter().all(|s| *s == 429), "{statuses:?}");
}

#[test]
fn damaged_store_file_stops_the_start_with_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    {
        let c = Courier::start(dir.path(), &[]).unwrap();
        create(&c, 3600, 1);
        create(&c, 3600, 1);
    }
    let log = dir.path().join("secrets.log");
    let mut bytes = std::fs::read(&log).unwrap();
    bytes[20] ^= 0xff; // inside the first of two records
    std::fs::write(&log, &bytes).unwrap();
    let e = Courier::start(dir.path(), &[])
        .err()
        .expect("refused to start");
    assert!(e.contains("secrets.log") && e.contains("damaged"), "{e}");
    std::fs::write(&log, b"not a store at all").unwrap();
    let e = Courier::start(dir.path(), &[])
        .err()
        .expect("refused to start");
    assert!(e.contains("secrets.log") && e.contains("bad header"), "{e}");
}

#[test]
fn lab_routes_need_the_lab_token() {
    let dir = tempfile::tempdir().unwrap();
    let token = "f".repeat(64);
    std::fs::write(dir.path().join("tok"), &token).unwrap();
    let tf = dir.path().join("tok");
    let c = Courier::start(dir.path(), &["--lab-token-file", tf.to_str().unwrap()]).unwrap();
    let id = create(&c, 60, 1);
    assert_eq!(http(c.addr, "GET", "/lab/snoop", None).status, 404);
    let wrong = http_with(
        c.addr,
        "GET",
        "/lab/snoop",
        None,
        &[("x-wirelab-lab-token", &"e".repeat(64))],
    );
    assert_eq!(wrong.status, 404);
    let snoop = http_with(
        c.addr,
        "GET",
        "/lab/snoop",
        None,
        &[("x-wirelab-lab-token", &token)],
    );
    assert_eq!(snoop.status, 200);
    assert_eq!(snoop.json()["secrets"][0]["id"], json!(id));
}
