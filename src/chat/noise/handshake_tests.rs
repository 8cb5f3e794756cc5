//! Behavioural tests of the handshake state machine and transport state.

use std::num::NonZeroU64;

use super::*;

fn nnpsk0_pair(
    psk_i: [u8; 32],
    psk_r: [u8; 32],
    name_i: &str,
    name_r: &str,
) -> (HandshakeState, HandshakeState) {
    let i = Builder::new(Pattern::NnPsk0)
        .prologue(&chat_prologue(name_i).unwrap())
        .psk(Psk::from_bytes(psk_i))
        .build_initiator()
        .unwrap();
    let r = Builder::new(Pattern::NnPsk0)
        .prologue(&chat_prologue(name_r).unwrap())
        .psk(Psk::from_bytes(psk_r))
        .build_responder()
        .unwrap();
    (i, r)
}

fn pair() -> (HandshakeState, HandshakeState) {
    nnpsk0_pair([5; 32], [5; 32], "alice", "alice")
}

fn established() -> (TransportState, TransportState) {
    let (mut i, mut r) = pair();
    let m1 = i.write_message(b"").unwrap();
    r.read_message(&m1).unwrap();
    let m2 = r.write_message(b"").unwrap();
    i.read_message(&m2).unwrap();
    (i.into_transport().unwrap(), r.into_transport().unwrap())
}

#[test]
fn nnpsk0_handshake_completes_with_equal_hashes_and_two_way_transport() {
    let (mut i, mut r) = pair();
    assert!(i.is_my_turn() && !r.is_my_turn());
    let m1 = i.write_message(b"hello").unwrap();
    assert_eq!(
        m1.len(),
        DH_LEN + 5 + TAG_LEN,
        "payload 1 is already encrypted"
    );
    assert_eq!(r.read_message(&m1).unwrap(), b"hello");
    let m2 = r.write_message(b"welcome").unwrap();
    assert_eq!(i.read_message(&m2).unwrap(), b"welcome");
    assert_eq!(i.handshake_hash(), r.handshake_hash());
    let (mut ti, mut tr) = (i.into_transport().unwrap(), r.into_transport().unwrap());
    assert_eq!(ti.handshake_hash(), tr.handshake_hash());
    for n in 0..4u8 {
        let a = ti.write_message(&[n; 10]).unwrap();
        assert_eq!(tr.read_message(&a).unwrap(), [n; 10]);
        let b = tr.write_message(&[n; 3]).unwrap();
        assert_eq!(ti.read_message(&b).unwrap(), [n; 3]);
    }
    assert_eq!((ti.sending_nonce(), ti.receiving_nonce()), (4, 4));
}

#[test]
fn out_of_order_calls_are_refused_with_typed_errors() {
    let (mut i, mut r) = pair();
    assert_eq!(
        i.read_message(&[0; 48]),
        Err(NoiseError::OutOfOrder {
            expected: Step::Write,
            got: Step::Read
        })
    );
    assert_eq!(
        r.write_message(b""),
        Err(NoiseError::OutOfOrder {
            expected: Step::Read,
            got: Step::Write
        })
    );
    let m1 = i.write_message(b"").unwrap();
    assert_eq!(
        i.write_message(b""),
        Err(NoiseError::OutOfOrder {
            expected: Step::Read,
            got: Step::Write
        })
    );
    r.read_message(&m1).unwrap();
    let m2 = r.write_message(b"").unwrap();
    i.read_message(&m2).unwrap();
    assert_eq!(i.write_message(b""), Err(NoiseError::HandshakeFinished));
    assert_eq!(r.read_message(&m1), Err(NoiseError::HandshakeFinished));
}

#[test]
fn transport_before_the_last_message_is_refused() {
    let (mut i, _r) = pair();
    i.write_message(b"").unwrap();
    assert_eq!(
        i.into_transport().unwrap_err(),
        NoiseError::HandshakeNotFinished
    );
}

#[test]
fn wrong_psk_fails_the_first_message() {
    let (mut i, mut r) = nnpsk0_pair([1; 32], [2; 32], "alice", "alice");
    let m1 = i.write_message(b"").unwrap();
    assert_eq!(r.read_message(&m1), Err(NoiseError::DecryptFailed));
}

#[test]
fn a_rewritten_client_name_fails_through_the_prologue() {
    // Same PSK on both sides, but the server heard "mallory" in the preamble.
    let (mut i, mut r) = nnpsk0_pair([1; 32], [1; 32], "alice", "mallory");
    let m1 = i.write_message(b"").unwrap();
    assert_eq!(r.read_message(&m1), Err(NoiseError::DecryptFailed));
}

#[test]
fn tampering_is_detected_and_poisons_the_handshake() {
    let (mut i, mut r) = pair();
    let mut m1 = i.write_message(b"x").unwrap();
    let last = m1.len() - 1;
    m1[last] ^= 0x80;
    assert_eq!(r.read_message(&m1), Err(NoiseError::DecryptFailed));
    m1[last] ^= 0x80;
    assert_eq!(r.read_message(&m1), Err(NoiseError::Poisoned));
    assert_eq!(r.into_transport().unwrap_err(), NoiseError::Poisoned);
}

#[test]
fn tampered_responder_message_fails_at_the_initiator() {
    let (mut i, mut r) = pair();
    r.read_message(&i.write_message(b"").unwrap()).unwrap();
    let mut m2 = r.write_message(b"").unwrap();
    m2[3] ^= 1; // inside e_r: changes the ee output and h
    assert_eq!(i.read_message(&m2), Err(NoiseError::DecryptFailed));
}

#[test]
fn short_and_long_messages_are_rejected_without_poisoning() {
    let (mut i, mut r) = pair();
    assert_eq!(
        r.read_message(&[0; 47]),
        Err(NoiseError::MessageTooShort { len: 47, min: 48 })
    );
    assert_eq!(
        r.read_message(&vec![0; MAX_MESSAGE_LEN + 1]),
        Err(NoiseError::MessageTooLong {
            len: 65536,
            max: 65535
        })
    );
    let m1 = i.write_message(b"").unwrap();
    assert_eq!(r.read_message(&m1).unwrap(), b"");
}

#[test]
fn handshake_payload_is_bounded_by_the_message_limit() {
    let (mut i, mut r) = pair();
    let max_payload = MAX_MESSAGE_LEN - DH_LEN - TAG_LEN;
    assert_eq!(
        i.write_message(&vec![1; max_payload + 1]),
        Err(NoiseError::MessageTooLong {
            len: 65536,
            max: 65535
        })
    );
    let m1 = i.write_message(&vec![1; max_payload]).unwrap();
    assert_eq!(m1.len(), MAX_MESSAGE_LEN);
    assert_eq!(r.read_message(&m1).unwrap().len(), max_payload);
}

#[test]
fn low_order_ephemeral_is_rejected_as_invalid_dh() {
    let (mut i, mut r) = pair();
    r.read_message(&i.write_message(b"").unwrap()).unwrap();
    let mut m2 = r.write_message(b"").unwrap();
    m2[..DH_LEN].fill(0);
    assert_eq!(i.read_message(&m2), Err(NoiseError::InvalidDh));

    // NN has no PSK, so a zero e_i passes message 1; the responder's `ee` then refuses it.
    let mut i = Builder::new(Pattern::Nn).build_initiator().unwrap();
    let mut r = Builder::new(Pattern::Nn).build_responder().unwrap();
    let mut m1 = i.write_message(b"").unwrap();
    m1[..DH_LEN].fill(0);
    r.read_message(&m1).unwrap();
    assert_eq!(r.write_message(b""), Err(NoiseError::InvalidDh));
    assert_eq!(r.write_message(b""), Err(NoiseError::Poisoned));
}

#[test]
fn builder_refuses_missing_and_unexpected_key_material() {
    assert_eq!(
        Builder::new(Pattern::NnPsk0).build_initiator().unwrap_err(),
        NoiseError::MissingKey(KeyRole::Psk)
    );
    assert_eq!(
        Builder::new(Pattern::Nn)
            .psk(Psk::generate())
            .build_responder()
            .unwrap_err(),
        NoiseError::UnexpectedKey(KeyRole::Psk)
    );
    assert_eq!(
        Builder::new(Pattern::KkPsk0)
            .psk(Psk::generate())
            .local_static(Keypair::generate())
            .build_initiator()
            .unwrap_err(),
        NoiseError::MissingKey(KeyRole::RemoteStatic)
    );
    assert_eq!(
        Builder::new(Pattern::NnPsk0)
            .psk(Psk::generate())
            .local_static(Keypair::generate())
            .build_initiator()
            .unwrap_err(),
        NoiseError::UnexpectedKey(KeyRole::LocalStatic)
    );
}

#[test]
fn kkpsk0_completes_with_matching_statics_and_fails_with_a_wrong_one() {
    let psk = Psk::from_bytes([3; 32]);
    let (init_secret, expected_resp_secret) = ([1u8; 32], [2u8; 32]);
    let run = |resp_secret: [u8; 32]| -> Result<(), NoiseError> {
        let mut i = Builder::new(Pattern::KkPsk0)
            .psk(psk.clone())
            .local_static(Keypair::from_secret_bytes(init_secret))
            .remote_static(*Keypair::from_secret_bytes(expected_resp_secret).public_key())
            .build_initiator()?;
        let mut r = Builder::new(Pattern::KkPsk0)
            .psk(psk.clone())
            .local_static(Keypair::from_secret_bytes(resp_secret))
            .remote_static(*Keypair::from_secret_bytes(init_secret).public_key())
            .build_responder()?;
        r.read_message(&i.write_message(b"")?)?;
        i.read_message(&r.write_message(b"")?)?;
        let (ti, tr) = (i.into_transport()?, r.into_transport()?);
        assert_eq!(ti.handshake_hash(), tr.handshake_hash());
        Ok(())
    };
    assert_eq!(run(expected_resp_secret), Ok(()));
    assert_eq!(run([9; 32]), Err(NoiseError::DecryptFailed));
}

#[test]
fn xx_transmits_static_keys_encrypted() {
    let (si, sr) = (Keypair::generate(), Keypair::generate());
    let (si_pub, sr_pub) = (*si.public_key(), *sr.public_key());
    let mut i = Builder::new(Pattern::Xx)
        .local_static(si)
        .build_initiator()
        .unwrap();
    let mut r = Builder::new(Pattern::Xx)
        .local_static(sr)
        .build_responder()
        .unwrap();
    r.read_message(&i.write_message(b"").unwrap()).unwrap();
    let m2 = r.write_message(b"").unwrap();
    assert_eq!(m2.len(), DH_LEN + DH_LEN + TAG_LEN + TAG_LEN);
    assert!(!m2.windows(32).any(|w| w == sr_pub), "static sent in clear");
    i.read_message(&m2).unwrap();
    r.read_message(&i.write_message(b"").unwrap()).unwrap();
    assert_eq!(i.remote_static(), Some(sr_pub));
    assert_eq!(r.into_transport().unwrap().remote_static(), Some(si_pub));
}

#[test]
fn fresh_ephemerals_give_different_sessions_under_the_same_psk() {
    let (mut a1, mut a2) = established();
    let (mut b1, mut b2) = established();
    assert_ne!(a1.handshake_hash(), b1.handshake_hash());
    let (wa, wb) = (
        a1.write_message(b"same").unwrap(),
        b1.write_message(b"same").unwrap(),
    );
    assert_ne!(wa, wb);
    assert_eq!(b2.read_message(&wa), Err(NoiseError::DecryptFailed));
    assert_eq!(a2.read_message(&wa).unwrap(), b"same");
}

#[test]
fn a_leaked_psk_reveals_payload_one_but_not_recorded_transport() {
    let psk = [7; 32];
    // A recorded session.
    let (mut i, mut r) = nnpsk0_pair(psk, psk, "alice", "alice");
    let m1 = i.write_message(b"first payload").unwrap();
    r.read_message(&m1).unwrap();
    let m2 = r.write_message(b"").unwrap();
    i.read_message(&m2).unwrap();
    let mut ti = i.into_transport().unwrap();
    let recorded = ti.write_message(b"secret chat line").unwrap();

    // Later the PSK leaks. Acting as the responder on the recorded message 1 recovers
    // payload 1 (no DH had happened yet) ...
    let mut attacker = Builder::new(Pattern::NnPsk0)
        .prologue(&chat_prologue("alice").unwrap())
        .psk(Psk::from_bytes(psk))
        .build_responder()
        .unwrap();
    assert_eq!(attacker.read_message(&m1).unwrap(), b"first payload");
    // ... but the transport keys need DH(e_i, e_r); the attacker's own e_r gives other keys.
    attacker.write_message(b"").unwrap();
    let mut keys = attacker.into_transport().unwrap();
    assert_eq!(keys.read_message(&recorded), Err(NoiseError::DecryptFailed));
}

#[test]
fn transport_replay_and_reordering_fail_authentication() {
    let (mut i, mut r) = established();
    let a = i.write_message(b"a").unwrap();
    let b = i.write_message(b"b").unwrap();
    assert_eq!(r.read_message(&b), Err(NoiseError::DecryptFailed));
    assert_eq!(r.read_message(&a).unwrap(), b"a");
    assert_eq!(r.read_message(&a), Err(NoiseError::DecryptFailed));
    assert_eq!(r.read_message(&b).unwrap(), b"b");
}

#[test]
fn transport_lengths_are_bounded() {
    let (mut i, mut r) = established();
    assert_eq!(MAX_TRANSPORT_PAYLOAD, 65519);
    assert_eq!(
        i.write_message(&vec![0; MAX_TRANSPORT_PAYLOAD + 1]),
        Err(NoiseError::MessageTooLong {
            len: 65536,
            max: 65535
        })
    );
    let big = i.write_message(&vec![0xA5; MAX_TRANSPORT_PAYLOAD]).unwrap();
    assert_eq!(big.len(), MAX_MESSAGE_LEN);
    assert_eq!(r.read_message(&big).unwrap().len(), MAX_TRANSPORT_PAYLOAD);
    assert_eq!(
        r.read_message(&[0; 15]),
        Err(NoiseError::MessageTooShort { len: 15, min: 16 })
    );
    assert_eq!(
        r.read_message(&vec![0; 65536]),
        Err(NoiseError::MessageTooLong {
            len: 65536,
            max: 65535
        })
    );
    let empty = i.write_message(b"").unwrap();
    assert_eq!(empty.len(), TAG_LEN);
    assert_eq!(r.read_message(&empty).unwrap(), b"");
}

#[test]
fn explicit_rekey_must_be_mirrored_by_the_peer() {
    let (mut i, mut r) = established();
    i.rekey_outgoing().unwrap();
    let m = i.write_message(b"after rekey").unwrap();
    assert_eq!(r.read_message(&m), Err(NoiseError::DecryptFailed));
    r.rekey_incoming().unwrap();
    assert_eq!(r.read_message(&m).unwrap(), b"after rekey");
    // The other direction is untouched.
    let back = r.write_message(b"reply").unwrap();
    assert_eq!(i.read_message(&back).unwrap(), b"reply");
    assert_eq!(i.sending_nonce(), 1, "rekey does not reset the nonce");
}

#[test]
fn automatic_rekey_interval_keeps_agreeing_peers_in_step() {
    let (mut i, mut r) = established();
    let every = NonZeroU64::new(2);
    i.set_rekey_interval(every);
    r.set_rekey_interval(every);
    for n in 0..7u8 {
        let m = i.write_message(&[n]).unwrap();
        assert_eq!(r.read_message(&m).unwrap(), [n]);
        let m = r.write_message(&[n, n]).unwrap();
        assert_eq!(i.read_message(&m).unwrap(), [n, n]);
    }
    // A peer without the policy falls out of step after the first interval.
    let (mut i, mut r) = established();
    i.set_rekey_interval(NonZeroU64::new(1));
    r.read_message(&i.write_message(b"1").unwrap()).unwrap();
    assert_eq!(
        r.read_message(&i.write_message(b"2").unwrap()),
        Err(NoiseError::DecryptFailed)
    );
}

#[test]
fn chat_prologue_is_label_zero_length_name_and_bounded() {
    let p = chat_prologue("bob").unwrap();
    assert_eq!(p, b"wirelab-chat/noise/v2\x00\x03bob");
    assert_eq!(
        chat_prologue(""),
        Err(NoiseError::InvalidClientName { len: 0, max: 64 })
    );
    assert!(chat_prologue(&"x".repeat(64)).is_ok());
    assert_eq!(
        chat_prologue(&"x".repeat(65)),
        Err(NoiseError::InvalidClientName { len: 65, max: 64 })
    );
}

#[test]
fn debug_output_of_states_contains_no_key_bytes() {
    let (mut i, r) = nnpsk0_pair([0xEE; 32], [0xEE; 32], "alice", "alice");
    i.write_message(b"").unwrap();
    for s in [format!("{i:?}"), format!("{r:?}")] {
        assert!(!s.contains("238") && !s.contains("ee, ee"), "{s}");
    }
    let (t, _) = established();
    let s = format!("{t:?}");
    assert!(s.contains("has_key: true") && !s.contains("k:"), "{s}");
}
