//! Python's `noiseprotocol` (not our Noise code) as a chat client of wirelab's real chat
//! server: preamble, NNpsk0 with the name in the prologue, Hello, Say/Ack/Msg, and in-band
//! rekeys both ways (the server rekeys every 3 messages, the Python client every 2). The
//! script is `tests/chat_python_client.py`.
//!
//! Needs `python3` with `noise` importable; otherwise the test prints a note and passes, unless
//! `WIRELAB_REQUIRE_EXTERNAL=1`.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use wirelab::chat::link::RekeyPolicy;
use wirelab::chat::noise::Psk;
use wirelab::chat::server::{Server, ServerConfig};
use wirelab::chat::store::{hex, read_log};

fn python_noise_available() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import noise.connection"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var("WIRELAB_REQUIRE_EXTERNAL").as_deref() != Ok("1"),
            "python3 cannot import `noise` and WIRELAB_REQUIRE_EXTERNAL=1"
        );
        println!("note: skipping: python3 cannot import `noise` (pip install noiseprotocol)");
    }
    ok
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_noiseprotocol_client_chats_with_our_server_through_rekeys() {
    if !python_noise_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = Server::open(ServerConfig {
        data_dir: dir.path().to_path_buf(),
        plain: false,
        coalesce: Duration::ZERO,
        rekey: RekeyPolicy {
            every: 3,
            period: Duration::ZERO,
        },
    })
    .unwrap();
    let psk = Psk::generate();
    server.enroll("py", &psk).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(server.clone().serve(listener));
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/chat_python_client.py");
    let out = tokio::process::Command::new("python3")
        .arg(script)
        .args(["--port", &port.to_string(), "--name", "py", "--count", "7"])
        .args(["--psk", &hex(psk.as_bytes()), "--room", "interop"])
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(60), out)
        .await
        .expect("python client timed out")
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("OK 7"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let log = read_log(&dir.path().join("rooms/interop.log")).unwrap();
    assert_eq!(log.len(), 7);
    assert!(log.iter().all(|e| e.from == "py"));
    let st = server.state();
    assert!(
        st["clients"]["py"]["rekeys"].as_u64().unwrap() > 0,
        "{st:?}"
    );
    assert!(
        st["rejects"].as_object().unwrap().values().all(|v| v == 0),
        "{st:?}"
    );
}
