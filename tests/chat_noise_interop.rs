//! Interop of our Noise core with Python's `noiseprotocol` package (not ours), over real TCP
//! on 127.0.0.1 with ephemeral ports. The Python side is `tests/chat_noise_peer.py`, whose
//! docstring specifies the framing (u16 big-endian length prefix) and the chat script that
//! `run_script` below mirrors: cleartext name preamble, NNpsk0 handshake with the name bound
//! in the prologue, ping/pong both ways, a maximal 65519-byte payload each way, an in-band
//! rekey, more ping/pong, goodbye. Optionally both sides also rekey every N messages.
//!
//! Needs `python3` with `noise` importable (`pip install noiseprotocol`); otherwise each test
//! prints a note and passes, unless `WIRELAB_REQUIRE_EXTERNAL=1`, in which case it fails.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::num::NonZeroU64;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use wirelab::chat::noise::{
    Builder, CHAT_PATTERN, HandshakeState, MAX_TRANSPORT_PAYLOAD, Psk, TransportState,
    chat_prologue,
};

const TIMEOUT: Duration = Duration::from_secs(30);
const ROUNDS: usize = 3;

fn python_noise_available() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import noise.connection"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        if std::env::var("WIRELAB_REQUIRE_EXTERNAL").as_deref() == Ok("1") {
            panic!("python3 cannot import `noise` and WIRELAB_REQUIRE_EXTERNAL=1");
        }
        println!(
            "note: skipping Noise interop: python3 cannot import `noise` (pip install noiseprotocol)"
        );
    }
    ok
}

fn peer_script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/chat_noise_peer.py")
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn send_frame(s: &mut TcpStream, data: &[u8]) {
    let len = u16::try_from(data.len()).expect("frame fits u16");
    s.write_all(&len.to_be_bytes()).unwrap();
    s.write_all(data).unwrap();
}

fn recv_frame(s: &mut TcpStream) -> Vec<u8> {
    let mut len = [0u8; 2];
    s.read_exact(&mut len).unwrap();
    let mut buf = vec![0u8; u16::from_be_bytes(len) as usize];
    s.read_exact(&mut buf).unwrap();
    buf
}

struct Session {
    stream: TcpStream,
    transport: TransportState,
}

impl Session {
    fn send(&mut self, payload: &[u8]) {
        let wire = self.transport.write_message(payload).unwrap();
        send_frame(&mut self.stream, &wire);
    }
    fn expect(&mut self, want: &[u8]) {
        let wire = recv_frame(&mut self.stream);
        let got = self.transport.read_message(&wire).unwrap();
        assert_eq!(got, want);
    }
}

fn big_payload() -> Vec<u8> {
    (0..MAX_TRANSPORT_PAYLOAD)
        .map(|j| (j % 251) as u8)
        .collect()
}

/// Our side of the chat script; returns the handshake hash.
fn run_script(
    mut stream: TcpStream,
    initiator: bool,
    name: &str,
    enrolled: &HashMap<String, [u8; 32]>,
    rekey_every: Option<NonZeroU64>,
) -> [u8; 32] {
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    let (mut hs, name): (HandshakeState, String) = if initiator {
        send_frame(&mut stream, name.as_bytes());
        let psk = Psk::from_bytes(enrolled[name]);
        let hs = Builder::new(CHAT_PATTERN)
            .prologue(&chat_prologue(name).unwrap())
            .psk(psk)
            .build_initiator()
            .unwrap();
        (hs, name.to_owned())
    } else {
        // The server: read the announced name, look up its PSK, bind the name in the prologue.
        let announced = String::from_utf8(recv_frame(&mut stream)).unwrap();
        let psk = Psk::from_bytes(*enrolled.get(&announced).expect("enrolled client"));
        let hs = Builder::new(CHAT_PATTERN)
            .prologue(&chat_prologue(&announced).unwrap())
            .psk(psk)
            .build_responder()
            .unwrap();
        (hs, announced)
    };
    let welcome = format!("welcome {name}").into_bytes();
    if initiator {
        send_frame(&mut stream, &hs.write_message(b"").unwrap());
        assert_eq!(hs.read_message(&recv_frame(&mut stream)).unwrap(), welcome);
    } else {
        assert_eq!(hs.read_message(&recv_frame(&mut stream)).unwrap(), b"");
        send_frame(&mut stream, &hs.write_message(&welcome).unwrap());
    }
    let mut transport = hs.into_transport().unwrap();
    transport.set_rekey_interval(rekey_every);
    let hash = transport.handshake_hash();
    let mut s = Session { stream, transport };

    let pings = |s: &mut Session, base: usize| {
        for i in base..base + ROUNDS {
            if initiator {
                s.send(format!("ping {i}").as_bytes());
                s.expect(format!("pong {i}").as_bytes());
            } else {
                s.expect(format!("ping {i}").as_bytes());
                s.send(format!("pong {i}").as_bytes());
            }
        }
    };
    pings(&mut s, 0);
    let big = big_payload();
    if initiator {
        s.send(&big);
        s.expect(&big);
        s.send(b"REKEY");
        s.transport.rekey_outgoing().unwrap();
        s.expect(b"REKEY-ACK");
        s.transport.rekey_incoming().unwrap();
    } else {
        s.expect(&big);
        s.send(&big);
        s.expect(b"REKEY");
        s.transport.rekey_incoming().unwrap();
        s.send(b"REKEY-ACK");
        s.transport.rekey_outgoing().unwrap();
    }
    pings(&mut s, 100);
    if initiator {
        s.send(b"BYE");
        s.expect(b"BYE");
    } else {
        s.expect(b"BYE");
        s.send(b"BYE");
    }
    hash
}

fn python(args: &[&str]) -> Child {
    python_with_stderr(args, Stdio::inherit())
}

fn python_with_stderr(args: &[&str], stderr: Stdio) -> Child {
    Command::new("python3")
        .arg(peer_script())
        .args(args)
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .expect("spawn python3")
}

/// Waits for the child and returns its stdout lines; asserts a clean exit.
fn finish(mut child: Child, mut already: Vec<String>) -> Vec<String> {
    let mut rest = String::new();
    if let Some(mut out) = child.stdout.take() {
        out.read_to_string(&mut rest).unwrap();
    }
    let status = child.wait().unwrap();
    already.extend(rest.lines().map(str::to_owned));
    assert!(
        status.success(),
        "python peer failed: {status}, stdout {already:?}"
    );
    already
}

fn python_hash(lines: &[String]) -> String {
    assert!(lines.iter().any(|l| l == "OK"), "{lines:?}");
    lines
        .iter()
        .find_map(|l| l.strip_prefix("HASH "))
        .expect("python printed its handshake hash")
        .to_owned()
}

fn accept_with_deadline(listener: &TcpListener, child: &mut Child) -> TcpStream {
    listener.set_nonblocking(true).unwrap();
    let deadline = Instant::now() + TIMEOUT;
    loop {
        match listener.accept() {
            Ok((s, _)) => {
                s.set_nonblocking(false).unwrap();
                return s;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if let Some(status) = child.try_wait().unwrap() {
                    panic!("python peer exited before connecting: {status}");
                }
                assert!(Instant::now() < deadline, "python peer never connected");
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("accept: {e}"),
        }
    }
}

fn enrolled(name: &str, psk: [u8; 32]) -> HashMap<String, [u8; 32]> {
    // Another client too, so the lookup by announced name is meaningful.
    HashMap::from([(name.to_owned(), psk), ("bob".to_owned(), [0xB0; 32])])
}

fn our_responder_vs_python_initiator(rekey_every: Option<u64>) {
    let psk = *Psk::generate().as_bytes();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let psk_hex = hex(&psk);
    let every = rekey_every.unwrap_or(0).to_string();
    // No --prologue: Python computes the chat prologue from the name on its own.
    let mut child = python(&[
        "--role",
        "initiator",
        "--connect",
        &port,
        "--name",
        "alice",
        "--psk",
        &psk_hex,
        "--rekey-every",
        &every,
    ]);
    let stream = accept_with_deadline(&listener, &mut child);
    let hash = run_script(
        stream,
        false,
        "alice",
        &enrolled("alice", psk),
        rekey_every.and_then(NonZeroU64::new),
    );
    let lines = finish(child, Vec::new());
    assert_eq!(python_hash(&lines), hex(&hash));
}

#[test]
fn our_responder_interoperates_with_python_initiator() {
    if python_noise_available() {
        our_responder_vs_python_initiator(None);
    }
}

#[test]
fn automatic_rekey_interval_interoperates_with_python() {
    if python_noise_available() {
        our_responder_vs_python_initiator(Some(2));
    }
}

#[test]
fn our_initiator_interoperates_with_python_responder() {
    if !python_noise_available() {
        return;
    }
    let psk = *Psk::generate().as_bytes();
    let psk_hex = hex(&psk);
    let prologue_hex = hex(&chat_prologue("carol").unwrap());
    let mut child = python(&[
        "--role",
        "responder",
        "--listen",
        "--name",
        "carol",
        "--psk",
        &psk_hex,
        "--prologue",
        &prologue_hex,
    ]);
    let mut out = BufReader::new(child.stdout.take().expect("piped stdout"));
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    let port: u16 = first
        .trim()
        .strip_prefix("LISTENING ")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("expected LISTENING <port>, got {first:?}"));
    let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let hash = run_script(stream, true, "carol", &enrolled("carol", psk), None);
    child.stdout = None;
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    let lines = finish(child, rest.lines().map(str::to_owned).collect());
    assert_eq!(python_hash(&lines), hex(&hash));
}

#[test]
fn python_initiator_with_the_wrong_psk_is_rejected_by_our_responder() {
    if !python_noise_available() {
        return;
    }
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let wrong = hex(&[0x11; 32]);
    // Its expected "peer closed" traceback is not shown.
    let mut child = python_with_stderr(
        &[
            "--role",
            "initiator",
            "--connect",
            &port,
            "--name",
            "alice",
            "--psk",
            &wrong,
        ],
        Stdio::null(),
    );
    let mut stream = accept_with_deadline(&listener, &mut child);
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    let name = String::from_utf8(recv_frame(&mut stream)).unwrap();
    let psk = enrolled("alice", [0x22; 32])[&name];
    let mut hs = Builder::new(CHAT_PATTERN)
        .prologue(&chat_prologue(&name).unwrap())
        .psk(Psk::from_bytes(psk))
        .build_responder()
        .unwrap();
    let m1 = recv_frame(&mut stream);
    assert_eq!(
        hs.read_message(&m1),
        Err(wirelab::chat::noise::NoiseError::DecryptFailed)
    );
    drop(stream); // the server hangs up; the Python peer fails on the closed connection
    let status = child.wait().unwrap();
    assert!(!status.success());
}
