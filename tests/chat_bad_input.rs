//! Bad input against a real chat server on loopback: wrong-length handshake messages, a
//! low-order (all-zero DH) point, oversize and truncated frames, unknown and revoked client
//! names, garbage after a valid handshake. Each connection is closed with its reason counted,
//! leaves no session or member behind, the server keeps serving, and nothing unauthenticated
//! reaches the room.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wirelab::chat::link::{Channel, RekeyPolicy, Wire, client_handshake, read_frame, write_frame};
use wirelab::chat::noise::Psk;
use wirelab::chat::server::{Server, ServerConfig};

const POLICY: RekeyPolicy = RekeyPolicy {
    every: 0,
    period: Duration::ZERO,
};

struct Fixture {
    server: Arc<Server>,
    addr: SocketAddr,
    alice: Psk,
    _dir: tempfile::TempDir,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::open(ServerConfig {
        data_dir: dir.path().to_path_buf(),
        plain: false,
        coalesce: Duration::ZERO,
        rekey: POLICY,
    })
    .unwrap();
    let alice = Psk::generate();
    server.enroll("alice", &alice).unwrap();
    server.enroll("mallet", &Psk::generate()).unwrap();
    server.revoke("mallet").unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(server.clone().serve(listener));
    Fixture {
        server,
        addr,
        alice,
        _dir: dir,
    }
}

fn rejects(s: &Server, reason: &str) -> u64 {
    s.state()["rejects"][reason].as_u64().unwrap()
}

/// Sends `bytes` raw, then waits until the server closes the connection (EOF or reset).
async fn send_raw(addr: SocketAddr, bytes: &[u8]) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let _ = s.write_all(bytes).await;
    let _ = s.shutdown().await;
    let mut sink = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut sink)).await;
}

fn frame(payload: &[u8]) -> Vec<u8> {
    let mut v = (payload.len() as u16).to_be_bytes().to_vec();
    v.extend_from_slice(payload);
    v
}

async fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A well-behaved member of `room` that has joined, and its channel.
async fn member(f: &Fixture, room: &str) -> (TcpStream, Channel) {
    let mut s = TcpStream::connect(f.addr).await.unwrap();
    let ts = client_handshake(&mut s, "alice", Some(f.alice.clone()))
        .await
        .unwrap();
    let mut chan = Channel::new(ts, POLICY);
    let mut out = Vec::new();
    chan.seal(
        &Wire::Hello {
            room: room.into(),
            after: 0,
        },
        &mut out,
    )
    .unwrap();
    s.write_all(&out).await.unwrap();
    (s, chan)
}

fn assert_clean(f: &Fixture) {
    let st = Value::Object(f.server.state());
    assert_eq!(
        st["msgs_total"], 0,
        "an unauthenticated message got in: {st}"
    );
    let clients = st["clients"].as_object().unwrap();
    let names: Vec<&String> = clients.keys().collect();
    assert_eq!(
        names,
        ["alice", "mallet"],
        "state left for a stranger: {st}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_handshakes_are_closed_counted_and_leave_no_state() {
    let f = fixture().await;
    // Message 1 of the wrong length (too short for e + tag), and a long one with a payload.
    send_raw(f.addr, &[frame(b"alice"), frame(&[7u8; 20])].concat()).await;
    send_raw(f.addr, &[frame(b"alice"), frame(&[7u8; 65535])].concat()).await;
    // A low-order point (all-zero public key): the DH would be all zero.
    send_raw(f.addr, &[frame(b"alice"), frame(&[0u8; 48])].concat()).await;
    // An oversize preamble (a 65535-byte "name"), a name with bad bytes, a truncated frame.
    send_raw(f.addr, &frame(&[b'a'; 65535])).await;
    send_raw(f.addr, &frame(b"al ice\n")).await;
    send_raw(f.addr, &[0xff, 0xff, 1, 2, 3]).await;
    wait_until("six bad handshakes", || {
        rejects(&f.server, "bad_handshake") >= 6
    })
    .await;
    // Unknown and revoked names: refused like a wrong key, counted by their own reason.
    send_raw(f.addr, &[frame(b"nobody"), frame(&[9u8; 48])].concat()).await;
    send_raw(f.addr, &[frame(b"mallet"), frame(&[9u8; 48])].concat()).await;
    wait_until("unknown + revoked", || {
        rejects(&f.server, "unknown_client") == 1 && rejects(&f.server, "revoked") == 1
    })
    .await;
    wait_until("no open connection", || {
        f.server.state()["connections"] == 0
    })
    .await;
    assert_eq!(rejects(&f.server, "bad_handshake"), 6);
    assert_clean(&f);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_after_a_valid_handshake_is_an_aead_failure_and_never_delivered() {
    let f = fixture().await;
    // A listener in the room, to see that nothing is delivered.
    let (mut watcher, mut wchan) = member(&f, "lobby").await;
    wait_until("alice joined", || {
        f.server.state()["rooms"]["lobby"]["members"]
            .as_array()
            .is_some_and(|m| !m.is_empty())
    })
    .await;
    // Another session as alice (a reconnect), which then sends garbage instead of Hello.
    let mut s = TcpStream::connect(f.addr).await.unwrap();
    let _ts = client_handshake(&mut s, "alice", Some(f.alice.clone()))
        .await
        .unwrap();
    write_frame(&mut s, &[0x42; 64]).await.unwrap();
    let mut buf = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(10), read_frame(&mut s, &mut buf)).await;
    assert!(matches!(closed, Ok(Ok(false)) | Ok(Err(_))), "{closed:?}");
    wait_until("aead counted", || rejects(&f.server, "aead") == 1).await;
    // The first session is untouched and nothing reached the room.
    assert_clean(&f);
    let mut out = Vec::new();
    wchan
        .seal(
            &Wire::Say {
                cid: 1,
                sent_us: 0,
                text: "authentic".into(),
            },
            &mut out,
        )
        .unwrap();
    watcher.write_all(&out).await.unwrap();
    let mut got = Vec::new();
    while got.len() < 2 {
        assert!(read_frame(&mut watcher, &mut buf).await.unwrap());
        got.extend(wchan.open_all(&mut buf).unwrap());
    }
    match &got[0] {
        Wire::Msg(e) => assert_eq!((e.id, e.text.as_str()), (1, "authentic")),
        other => panic!("{other:?}"),
    }
    assert_eq!(got[1], Wire::Ack { cid: 1, id: 1 });
    let st: Value = Value::Object(f.server.state());
    assert_eq!(st["msgs_total"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retransmitted_message_is_acknowledged_again_but_logged_once() {
    let f = fixture().await;
    let say = Wire::Say {
        cid: 7,
        sent_us: 1,
        text: "once".into(),
    };
    for _ in 0..2 {
        let (mut s, mut chan) = member(&f, "dev").await;
        let mut out = Vec::new();
        chan.seal(&say, &mut out).unwrap();
        s.write_all(&out).await.unwrap();
        let mut buf = Vec::new();
        loop {
            assert!(read_frame(&mut s, &mut buf).await.unwrap());
            let acks: Vec<_> = chan
                .open_all(&mut buf)
                .unwrap()
                .into_iter()
                .filter_map(|m| match m {
                    Wire::Ack { cid, id } => Some((cid, id)),
                    _ => None,
                })
                .collect();
            if let Some(&ack) = acks.first() {
                assert_eq!(ack, (7, 1));
                break;
            }
        }
    }
    assert_eq!(f.server.state()["rooms"]["dev"]["last_id"], 1);
}
