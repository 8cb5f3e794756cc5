//! Replays the cacophony test vectors (see `testdata/cacophony_vectors.json`, whose `source`
//! field names the exact file and commit) for every supported pattern: handshake messages,
//! handshake hash, then transport messages after `Split()`, byte for byte.

use serde::Deserialize;

use super::{Builder, HandshakeState, Keypair, Pattern, Psk, TransportState};

const VECTORS: &str = include_str!("testdata/cacophony_vectors.json");

#[derive(Deserialize)]
struct File {
    source: String,
    vectors: Vec<Vector>,
}

#[derive(Deserialize)]
struct Vector {
    protocol_name: String,
    init_prologue: String,
    #[serde(default)]
    init_psks: Vec<String>,
    #[serde(default)]
    init_static: Option<String>,
    init_ephemeral: String,
    #[serde(default)]
    init_remote_static: Option<String>,
    resp_prologue: String,
    #[serde(default)]
    resp_psks: Vec<String>,
    #[serde(default)]
    resp_static: Option<String>,
    resp_ephemeral: String,
    #[serde(default)]
    resp_remote_static: Option<String>,
    handshake_hash: String,
    messages: Vec<Message>,
}

#[derive(Deserialize)]
struct Message {
    payload: String,
    ciphertext: String,
}

fn unhex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd hex length");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex digit"))
        .collect()
}

fn key32(s: &str) -> [u8; 32] {
    unhex(s).try_into().expect("32-byte key")
}

fn party(
    pattern: Pattern,
    prologue: &str,
    psks: &[String],
    local_static: &Option<String>,
    remote_static: &Option<String>,
    ephemeral: &str,
    initiator: bool,
) -> HandshakeState {
    let mut b = Builder::new(pattern).prologue(&unhex(prologue));
    assert!(psks.len() <= 1, "patterns here have at most one psk");
    if let Some(psk) = psks.first() {
        b = b.psk(Psk::from_bytes(key32(psk)));
    }
    if let Some(s) = local_static {
        b = b.local_static(Keypair::from_secret_bytes(key32(s)));
    }
    if let Some(rs) = remote_static {
        b = b.remote_static(key32(rs));
    }
    let mut hs = if initiator {
        b.build_initiator()
    } else {
        b.build_responder()
    }
    .expect("vector configuration is valid");
    hs.set_ephemeral_for_test(key32(ephemeral));
    hs
}

fn replay(v: &Vector) -> usize {
    let pattern = Pattern::from_protocol_name(&v.protocol_name).expect("supported pattern");
    let mut init = party(
        pattern,
        &v.init_prologue,
        &v.init_psks,
        &v.init_static,
        &v.init_remote_static,
        &v.init_ephemeral,
        true,
    );
    let mut resp = party(
        pattern,
        &v.resp_prologue,
        &v.resp_psks,
        &v.resp_static,
        &v.resp_remote_static,
        &v.resp_ephemeral,
        false,
    );

    let handshake_len = pattern.messages().len();
    for (i, m) in v.messages.iter().take(handshake_len).enumerate() {
        let (sender, receiver) = if i % 2 == 0 {
            (&mut init, &mut resp)
        } else {
            (&mut resp, &mut init)
        };
        let wire = sender.write_message(&unhex(&m.payload)).unwrap();
        assert_eq!(
            super::hex(&wire),
            m.ciphertext,
            "{} handshake message {i}",
            v.protocol_name
        );
        assert_eq!(receiver.read_message(&wire).unwrap(), unhex(&m.payload));
    }
    assert!(init.is_finished() && resp.is_finished());
    assert_eq!(super::hex(&init.handshake_hash()), v.handshake_hash);
    assert_eq!(super::hex(&resp.handshake_hash()), v.handshake_hash);

    let mut init: TransportState = init.into_transport().unwrap();
    let mut resp: TransportState = resp.into_transport().unwrap();
    let mut transport_messages = 0;
    for (i, m) in v.messages.iter().enumerate().skip(handshake_len) {
        let (sender, receiver) = if i % 2 == 0 {
            (&mut init, &mut resp)
        } else {
            (&mut resp, &mut init)
        };
        let wire = sender.write_message(&unhex(&m.payload)).unwrap();
        assert_eq!(
            super::hex(&wire),
            m.ciphertext,
            "{} transport message {i}",
            v.protocol_name
        );
        assert_eq!(receiver.read_message(&wire).unwrap(), unhex(&m.payload));
        transport_messages += 1;
    }
    transport_messages
}

#[test]
fn vector_file_names_its_source() {
    let file: File = serde_json::from_str(VECTORS).unwrap();
    assert!(file.source.contains("cacophony"));
}

#[test]
fn cacophony_vectors_reproduce_exactly_for_every_supported_pattern() {
    let file: File = serde_json::from_str(VECTORS).unwrap();
    let mut seen = Vec::new();
    for v in &file.vectors {
        let transport = replay(v);
        assert!(transport >= 3, "{} has transport messages", v.protocol_name);
        seen.push(v.protocol_name.clone());
    }
    for p in Pattern::ALL {
        assert!(
            seen.iter().any(|n| n == p.protocol_name()),
            "no vector for {}",
            p.protocol_name()
        );
    }
}

#[test]
fn nnpsk0_vector_fails_with_a_different_psk() {
    let file: File = serde_json::from_str(VECTORS).unwrap();
    let v = file
        .vectors
        .iter()
        .find(|v| v.protocol_name == Pattern::NnPsk0.protocol_name())
        .unwrap();
    let mut resp = party(
        Pattern::NnPsk0,
        &v.resp_prologue,
        &["00".repeat(32)],
        &None,
        &None,
        &v.resp_ephemeral,
        false,
    );
    let m1 = unhex(&v.messages[0].ciphertext);
    assert_eq!(
        resp.read_message(&m1),
        Err(super::NoiseError::DecryptFailed)
    );
}
