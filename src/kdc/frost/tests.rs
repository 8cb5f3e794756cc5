//! Tests: RFC 9591 Appendix E.1 vectors, DKG + signing by every quorum, refresh, misbehaviour
//! detection, strict decoding, the nonce-reuse attack, and cross-checks against ed25519-dalek
//! and Python's `cryptography`.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};

use curve25519_dalek::constants::{ED25519_BASEPOINT_POINT, EIGHT_TORSION};
use curve25519_dalek::edwards::EdwardsPoint;
use curve25519_dalek::scalar::Scalar;
use serde_json::Value;

use super::keys::lagrange_coefficient;
use super::nonce_reuse::{NonceReusingSigner, ReuseObservation, recover_signing_share};
use super::round1::{commit, commit_with_randomness};
use super::round2::{SessionValues, sign};
use super::suite::{h4, h5};
use super::*;

const VECTORS: &str = include_str!("vectors_rfc9591_ed25519.json");
const INTEROP_SCRIPT: &str = include_str!("interop_check.py");

fn unhex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd hex length");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex digit"))
        .collect()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn arr32(v: &Value) -> [u8; 32] {
    unhex(v.as_str().expect("hex string"))
        .try_into()
        .expect("32 bytes")
}

fn id(n: u16) -> Identifier {
    Identifier::new(n).expect("nonzero")
}

/// ed25519-dalek's strict verifier (RFC 8032 + canonical S + no small-order A or R).
fn dalek_verify_strict(pk: &GroupPublicKey, msg: &[u8], sig: &Signature) -> bool {
    let Ok(vk) = ed25519_dalek::VerifyingKey::from_bytes(&pk.to_bytes()) else {
        return false;
    };
    let sig = ed25519_dalek::Signature::from_bytes(&sig.to_bytes());
    vk.verify_strict(msg, &sig).is_ok()
}

/// Runs the whole DKG for identifiers `1..=n` and checks everyone agrees on the public package.
fn run_dkg(n: u16, t: u16) -> (BTreeMap<Identifier, KeyPackage>, PublicKeyPackage) {
    let mut rng = rand::rng();
    let ids: Vec<Identifier> = (1..=n).map(id).collect();
    let mut secrets1 = BTreeMap::new();
    let mut packages1 = BTreeMap::new();
    for &i in &ids {
        let (s, p) = dkg::part1(i, n, t, b"wirelab test group", &mut rng).expect("part1");
        secrets1.insert(i, s);
        packages1.insert(i, p);
    }
    let mut secrets2 = BTreeMap::new();
    let mut inbox: BTreeMap<Identifier, BTreeMap<Identifier, dkg::Round2Package>> = BTreeMap::new();
    for (i, s) in secrets1 {
        let others: BTreeMap<_, _> = packages1
            .iter()
            .filter(|(j, _)| **j != i)
            .map(|(j, p)| (*j, p.clone()))
            .collect();
        let (s2, out) = dkg::part2(s, &others).expect("part2");
        secrets2.insert(i, s2);
        for (to, share) in out {
            inbox.entry(to).or_default().insert(i, share);
        }
    }
    let mut keys = BTreeMap::new();
    let mut public: Option<PublicKeyPackage> = None;
    for (i, s) in secrets2 {
        let (kp, pp) = dkg::part3(s, &inbox[&i]).expect("part3");
        if let Some(prev) = &public {
            assert_eq!(prev, &pp, "participants disagree on the public key package");
        }
        public = Some(pp);
        keys.insert(i, kp);
    }
    (keys, public.expect("n >= 2"))
}

/// One full signing session among `signers`.
fn sign_session(
    signers: &[&KeyPackage],
    public: &PublicKeyPackage,
    msg: &[u8],
) -> Result<Signature, FrostError> {
    let mut rng = rand::rng();
    let mut nonces = BTreeMap::new();
    let mut commitments = Vec::new();
    for kp in signers {
        let (n, c) = commit(kp, &mut rng);
        nonces.insert(kp.identifier(), n);
        commitments.push(c);
    }
    let package = SigningPackage::new(commitments, msg)?;
    let mut shares = BTreeMap::new();
    for kp in signers {
        let n = nonces.remove(&kp.identifier()).expect("nonce present");
        shares.insert(kp.identifier(), sign(&package, n, kp)?);
    }
    aggregate(&package, &shares, public)
}

// ---------------------------------------------------------------- RFC 9591 vectors

#[test]
fn rfc9591_e1_vectors_reproduced_exactly() {
    let v: Value = serde_json::from_str(VECTORS).expect("vector JSON");
    let inputs = &v["inputs"];
    let coefficients: Vec<[u8; 32]> = inputs["share_polynomial_coefficients"]
        .as_array()
        .expect("array")
        .iter()
        .map(arr32)
        .collect();
    let (keys, public) = dealer::trusted_dealer_split_insecure(
        &arr32(&inputs["group_secret_key"]),
        &coefficients,
        3,
        2,
    )
    .expect("split");

    // Group key and dealer shares.
    assert_eq!(
        public.group_public_key().to_bytes(),
        arr32(&inputs["group_public_key"])
    );
    for p in inputs["participant_shares"].as_array().expect("array") {
        let i = id(p["identifier"].as_u64().expect("id") as u16);
        assert_eq!(
            *keys[&i].signing_share().to_bytes(),
            arr32(&p["participant_share"])
        );
    }

    // Round one: randomness -> nonces -> commitments.
    let msg = unhex(inputs["message"].as_str().expect("msg"));
    let mut nonces = BTreeMap::new();
    let mut commitments = Vec::new();
    for r in v["round_one_outputs"].as_array().expect("array") {
        let i = id(r["identifier"].as_u64().expect("id") as u16);
        let (n, c) = commit_with_randomness(
            &keys[&i],
            &arr32(&r["hiding_nonce_randomness"]),
            &arr32(&r["binding_nonce_randomness"]),
        );
        assert_eq!(
            n.hiding.to_bytes(),
            arr32(&r["hiding_nonce"]),
            "hiding nonce {i}"
        );
        assert_eq!(
            n.binding.to_bytes(),
            arr32(&r["binding_nonce"]),
            "binding nonce {i}"
        );
        let enc = c.to_bytes();
        assert_eq!(enc[32..64], arr32(&r["hiding_nonce_commitment"]));
        assert_eq!(enc[64..], arr32(&r["binding_nonce_commitment"]));
        nonces.insert(i, n);
        commitments.push(c);
    }
    let package = SigningPackage::new(commitments, &msg).expect("package");
    let participants: Vec<u16> = inputs["participant_list"]
        .as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_u64().expect("id") as u16)
        .collect();
    assert_eq!(
        package.identifiers(),
        participants.iter().map(|&n| id(n)).collect::<Vec<_>>()
    );

    // Binding factor inputs and binding factors.
    let session = SessionValues::derive(&package, &public.group_public_key()).expect("session");
    for r in v["round_one_outputs"].as_array().expect("array") {
        let i = id(r["identifier"].as_u64().expect("id") as u16);
        let mut input = public.group_public_key().to_bytes().to_vec();
        input.extend_from_slice(&h4(&msg));
        input.extend_from_slice(&h5(&package.encode_commitment_list()));
        input.extend_from_slice(&i.to_bytes());
        assert_eq!(
            hex(&input),
            r["binding_factor_input"].as_str().expect("hex")
        );
        assert_eq!(
            session.binding_factor(i).expect("rho").to_bytes(),
            arr32(&r["binding_factor"])
        );
    }

    // Round two shares, then the final signature.
    let mut shares = BTreeMap::new();
    for r in v["round_two_outputs"].as_array().expect("array") {
        let i = id(r["identifier"].as_u64().expect("id") as u16);
        let n = nonces.remove(&i).expect("nonces");
        let share = sign(&package, n, &keys[&i]).expect("sign");
        assert_eq!(
            share.to_bytes(),
            arr32(&r["sig_share"]),
            "signature share {i}"
        );
        shares.insert(i, share);
    }
    let sig = aggregate(&package, &shares, &public).expect("aggregate");
    assert_eq!(
        hex(&sig.to_bytes()),
        v["final_output"]["sig"].as_str().expect("sig")
    );
    assert!(dalek_verify_strict(&public.group_public_key(), &msg, &sig));
}

// ---------------------------------------------------------------- DKG and signing

#[test]
fn dkg_2_of_3_every_pair_signs_and_ed25519_dalek_verify_strict_accepts() {
    let (keys, public) = run_dkg(3, 2);
    let pk = public.group_public_key();
    // Every key package agrees with the public package.
    for (i, kp) in &keys {
        assert_eq!(kp.group_public_key(), pk);
        assert_eq!(public.verifying_shares()[i], kp.verifying_share());
    }
    for (a, b) in [(1, 2), (1, 3), (2, 3)] {
        let msg = format!("pair {a},{b} signs this");
        let sig = sign_session(&[&keys[&id(a)], &keys[&id(b)]], &public, msg.as_bytes())
            .expect("pair signs");
        pk.verify(msg.as_bytes(), &sig).expect("our verifier");
        assert!(
            dalek_verify_strict(&pk, msg.as_bytes(), &sig),
            "pair {a},{b}"
        );
        assert!(pk.verify(b"another message", &sig).is_err());
    }
    // All three may sign too.
    let all: Vec<&KeyPackage> = keys.values().collect();
    let sig = sign_session(&all, &public, b"all three").expect("all sign");
    assert!(dalek_verify_strict(&pk, b"all three", &sig));
}

#[test]
fn dkg_shares_interpolate_to_the_group_key_only_at_threshold() {
    let (keys, public) = run_dkg(3, 2);
    let ids = [id(1), id(3)];
    let secret: Scalar = ids
        .iter()
        .map(|i| lagrange_coefficient(*i, &ids).expect("lambda") * keys[i].signing_share().0)
        .sum();
    assert_eq!(EdwardsPoint::mul_base(&secret), public.group_public_key().0);
}

#[test]
fn dkg_3_of_5_threshold_quorum_signs_and_two_are_not_enough() {
    let (keys, public) = run_dkg(5, 3);
    let sig = sign_session(
        &[&keys[&id(2)], &keys[&id(4)], &keys[&id(5)]],
        &public,
        b"3 of 5",
    )
    .expect("quorum");
    assert!(dalek_verify_strict(
        &public.group_public_key(),
        b"3 of 5",
        &sig
    ));
    let err = sign_session(&[&keys[&id(1)], &keys[&id(2)]], &public, b"2 of 5").unwrap_err();
    assert_eq!(
        err,
        FrostError::NotEnoughSigners {
            got: 2,
            min_signers: 3
        }
    );
}

#[test]
fn dkg_rejects_a_bad_proof_of_knowledge_naming_the_sender() {
    let mut rng = rand::rng();
    let (s1, _) = dkg::part1(id(1), 3, 2, b"ctx", &mut rng).expect("p1");
    let (_, p2) = dkg::part1(id(2), 3, 2, b"ctx", &mut rng).expect("p1");
    let (_, mut p3) = dkg::part1(id(3), 3, 2, b"ctx", &mut rng).expect("p1");
    p3.proof_mu += Scalar::ONE;
    let err = dkg::part2(s1, &BTreeMap::from([(id(2), p2), (id(3), p3)])).unwrap_err();
    assert_eq!(err, FrostError::InvalidProofOfKnowledge { culprit: id(3) });
}

#[test]
fn dkg_rejects_a_proof_replayed_under_another_identifier_or_context() {
    let mut rng = rand::rng();
    let (s1, _) = dkg::part1(id(1), 3, 2, b"ctx", &mut rng).expect("p1");
    let (_, p2) = dkg::part1(id(2), 3, 2, b"ctx", &mut rng).expect("p1");
    // Participant 3 copies participant 2's package (rogue copy of a key it does not know).
    let err = dkg::part2(s1, &BTreeMap::from([(id(2), p2.clone()), (id(3), p2)])).unwrap_err();
    assert_eq!(err, FrostError::InvalidProofOfKnowledge { culprit: id(3) });

    let (s1, _) = dkg::part1(id(1), 3, 2, b"session B", &mut rng).expect("p1");
    let (_, p2) = dkg::part1(id(2), 3, 2, b"session A", &mut rng).expect("p1");
    let (_, p3) = dkg::part1(id(3), 3, 2, b"session B", &mut rng).expect("p1");
    let err = dkg::part2(s1, &BTreeMap::from([(id(2), p2), (id(3), p3)])).unwrap_err();
    assert_eq!(err, FrostError::InvalidProofOfKnowledge { culprit: id(2) });
}

#[test]
fn dkg_rejects_a_wrong_length_commitment_and_wrong_package_sets() {
    let mut rng = rand::rng();
    let (s1, _) = dkg::part1(id(1), 3, 2, b"ctx", &mut rng).expect("p1");
    let (_, p2) = dkg::part1(id(2), 3, 2, b"ctx", &mut rng).expect("p1");
    let (_, p3) = dkg::part1(id(3), 3, 3, b"ctx", &mut rng).expect("p1");
    let err = dkg::part2(s1, &BTreeMap::from([(id(2), p2.clone()), (id(3), p3)])).unwrap_err();
    assert_eq!(
        err,
        FrostError::InvalidCommitmentLength {
            culprit: id(3),
            expected: 2,
            got: 3
        }
    );
    let (s1, p1) = dkg::part1(id(1), 3, 2, b"ctx", &mut rng).expect("p1");
    let err = dkg::part2(s1, &BTreeMap::from([(id(1), p1), (id(2), p2.clone())])).unwrap_err();
    assert_eq!(err, FrostError::UnexpectedPackage(id(1)));
    let (s1, _) = dkg::part1(id(1), 3, 2, b"ctx", &mut rng).expect("p1");
    let err = dkg::part2(s1, &BTreeMap::from([(id(2), p2)])).unwrap_err();
    assert!(matches!(
        err,
        FrostError::InvalidLength {
            expected: 2,
            got: 1,
            ..
        }
    ));
}

#[test]
fn dkg_rejects_a_bad_secret_share_naming_the_dealer() {
    let mut rng = rand::rng();
    let mut s1 = BTreeMap::new();
    let mut p1 = BTreeMap::new();
    for i in 1..=3 {
        let (s, p) = dkg::part1(id(i), 3, 2, b"ctx", &mut rng).expect("p1");
        s1.insert(id(i), s);
        p1.insert(id(i), p);
    }
    let mut outs = BTreeMap::new();
    let mut secrets2 = BTreeMap::new();
    for (i, s) in s1 {
        let others = p1
            .iter()
            .filter(|(j, _)| **j != i)
            .map(|(j, p)| (*j, p.clone()))
            .collect();
        let (s2, out) = dkg::part2(s, &others).expect("p2");
        secrets2.insert(i, s2);
        outs.insert(i, out);
    }
    // Participant 2 sends participant 1 a corrupted share.
    let mut to_1 = BTreeMap::new();
    to_1.insert(
        id(2),
        dkg::Round2Package(outs[&id(2)][&id(1)].0 + Scalar::ONE),
    );
    to_1.insert(id(3), outs[&id(3)][&id(1)].clone());
    let err = dkg::part3(secrets2.remove(&id(1)).expect("s"), &to_1).unwrap_err();
    assert_eq!(err, FrostError::InvalidSecretShare { culprit: id(2) });
    // Participant 3 gets nothing from 1.
    let to_3 = BTreeMap::from([(id(2), outs[&id(2)][&id(3)].clone())]);
    let err = dkg::part3(secrets2.remove(&id(3)).expect("s"), &to_3).unwrap_err();
    assert_eq!(err, FrostError::MissingPackage(id(1)));
}

#[test]
fn trusted_dealer_keys_sign_with_every_pair() {
    let (keys, public) =
        dealer::trusted_dealer_keygen_insecure(3, 2, &mut rand::rng()).expect("dealer");
    for (a, b) in [(1, 2), (1, 3), (2, 3)] {
        let sig = sign_session(&[&keys[&id(a)], &keys[&id(b)]], &public, b"dealer").expect("sign");
        assert!(dalek_verify_strict(
            &public.group_public_key(),
            b"dealer",
            &sig
        ));
    }
}

// ---------------------------------------------------------------- misbehaviour in signing

#[test]
fn aggregate_rejects_a_bad_share_and_names_its_signer() {
    let (keys, public) = run_dkg(3, 2);
    let mut rng = rand::rng();
    let (n1, c1) = commit(&keys[&id(1)], &mut rng);
    let (n3, c3) = commit(&keys[&id(3)], &mut rng);
    let package = SigningPackage::new(vec![c3, c1], b"msg").expect("package");
    let z1 = sign(&package, n1, &keys[&id(1)]).expect("s1");
    let z3 = sign(&package, n3, &keys[&id(3)]).expect("s3");
    let bad = SignatureShare(z3.0 + Scalar::ONE);
    let err = aggregate(
        &package,
        &BTreeMap::from([(id(1), z1), (id(3), bad)]),
        &public,
    )
    .unwrap_err();
    assert_eq!(err, FrostError::InvalidSignatureShare { culprit: id(3) });
    let err = verify_signature_share(
        id(3),
        &public.verifying_shares()[&id(3)],
        &bad,
        &package,
        &public.group_public_key(),
    )
    .unwrap_err();
    assert_eq!(err, FrostError::InvalidSignatureShare { culprit: id(3) });
    // A share presented under the wrong identity fails too.
    let err = aggregate(
        &package,
        &BTreeMap::from([(id(1), z3), (id(3), z1)]),
        &public,
    )
    .unwrap_err();
    assert_eq!(err, FrostError::InvalidSignatureShare { culprit: id(1) });
    // Missing and unexpected shares.
    let err = aggregate(&package, &BTreeMap::from([(id(1), z1)]), &public).unwrap_err();
    assert_eq!(err, FrostError::MissingSignatureShare(id(3)));
    let err = aggregate(
        &package,
        &BTreeMap::from([(id(1), z1), (id(2), z1), (id(3), z3)]),
        &public,
    )
    .unwrap_err();
    assert_eq!(err, FrostError::UnexpectedSignatureShare(id(2)));
    // The honest pair still aggregates.
    let sig = aggregate(
        &package,
        &BTreeMap::from([(id(1), z1), (id(3), z3)]),
        &public,
    )
    .expect("ok");
    assert!(dalek_verify_strict(
        &public.group_public_key(),
        b"msg",
        &sig
    ));
}

#[test]
fn signer_refuses_packages_without_its_commitment_or_with_substituted_commitments() {
    let (keys, _) = run_dkg(3, 2);
    let mut rng = rand::rng();
    let (n1, c1) = commit(&keys[&id(1)], &mut rng);
    let (_, c2) = commit(&keys[&id(2)], &mut rng);
    let (_, c3) = commit(&keys[&id(3)], &mut rng);
    let without_me = SigningPackage::new(vec![c2, c3], b"m").expect("package");
    assert_eq!(
        sign(&without_me, n1, &keys[&id(1)]).unwrap_err(),
        FrostError::MissingOwnCommitment(id(1))
    );
    let (n1, _) = commit(&keys[&id(1)], &mut rng);
    let substituted = SigningPackage::new(vec![c1, c2], b"m").expect("package");
    assert_eq!(
        sign(&substituted, n1, &keys[&id(1)]).unwrap_err(),
        FrostError::OwnCommitmentMismatch(id(1))
    );
    let (n1, c1) = commit(&keys[&id(1)], &mut rng);
    let alone = SigningPackage::new(vec![c1], b"m").expect("package");
    assert_eq!(
        sign(&alone, n1, &keys[&id(1)]).unwrap_err(),
        FrostError::NotEnoughSigners {
            got: 1,
            min_signers: 2
        }
    );
}

#[test]
fn commitment_lists_with_duplicates_unsorted_entries_or_nothing_are_refused() {
    let (keys, _) = run_dkg(3, 2);
    let mut rng = rand::rng();
    let (_, c1) = commit(&keys[&id(1)], &mut rng);
    let (_, c1b) = commit(&keys[&id(1)], &mut rng);
    let (_, c2) = commit(&keys[&id(2)], &mut rng);
    assert_eq!(
        SigningPackage::new(vec![c1, c2, c1b], b"m").unwrap_err(),
        FrostError::DuplicateIdentifier(id(1))
    );
    assert_eq!(
        SigningPackage::new(vec![], b"m").unwrap_err(),
        FrostError::EmptyCommitmentList
    );
    // The constructor sorts; the decoder insists on canonical (sorted) order.
    let sorted = SigningPackage::new(vec![c2, c1], b"m").expect("package");
    assert_eq!(sorted.identifiers(), vec![id(1), id(2)]);
    let mut unsorted = Vec::new();
    unsorted.extend_from_slice(&2u16.to_be_bytes());
    unsorted.extend_from_slice(&c2.to_bytes());
    unsorted.extend_from_slice(&c1.to_bytes());
    unsorted.extend_from_slice(&1u32.to_be_bytes());
    unsorted.push(b'm');
    assert_eq!(
        SigningPackage::from_bytes(&unsorted).unwrap_err(),
        FrostError::UnsortedCommitments
    );
    let mut dup = Vec::new();
    dup.extend_from_slice(&2u16.to_be_bytes());
    dup.extend_from_slice(&c1.to_bytes());
    dup.extend_from_slice(&c1b.to_bytes());
    dup.extend_from_slice(&0u32.to_be_bytes());
    assert_eq!(
        SigningPackage::from_bytes(&dup).unwrap_err(),
        FrostError::DuplicateIdentifier(id(1))
    );
}

#[test]
fn aggregate_refuses_non_members_and_too_few_signers() {
    let (keys, public) = run_dkg(3, 2);
    let (other_keys, _) = run_dkg(4, 2);
    let mut rng = rand::rng();
    let (n1, c1) = commit(&keys[&id(1)], &mut rng);
    let (n4, c4) = commit(&other_keys[&id(4)], &mut rng);
    let package = SigningPackage::new(vec![c1, c4], b"m").expect("package");
    let z1 = sign(&package, n1, &keys[&id(1)]).expect("sign");
    let z4 = sign(&package, n4, &other_keys[&id(4)]).expect("sign");
    let err = aggregate(
        &package,
        &BTreeMap::from([(id(1), z1), (id(4), z4)]),
        &public,
    )
    .unwrap_err();
    assert_eq!(err, FrostError::UnknownParticipant(id(4)));
    let (_, c1) = commit(&keys[&id(1)], &mut rng);
    let single = SigningPackage::new(vec![c1], b"m").expect("package");
    let err = aggregate(&single, &BTreeMap::new(), &public).unwrap_err();
    assert_eq!(
        err,
        FrostError::NotEnoughSigners {
            got: 1,
            min_signers: 2
        }
    );
}

// ---------------------------------------------------------------- refresh

fn run_refresh(
    keys: &BTreeMap<Identifier, KeyPackage>,
    public: &PublicKeyPackage,
) -> (BTreeMap<Identifier, KeyPackage>, PublicKeyPackage) {
    let mut rng = rand::rng();
    let mut commitments = BTreeMap::new();
    let mut inbox: BTreeMap<Identifier, BTreeMap<Identifier, refresh::RefreshShare>> =
        BTreeMap::new();
    for &dealer_id in keys.keys() {
        let (c, shares) = refresh::deal(public, &mut rng);
        commitments.insert(dealer_id, c);
        for (to, s) in shares {
            inbox.entry(to).or_default().insert(dealer_id, s);
        }
    }
    let mut new_keys = BTreeMap::new();
    let mut new_public = None;
    for (i, kp) in keys {
        let (nk, np) = refresh::apply(kp, public, &commitments, &inbox[i]).expect("apply");
        if let Some(prev) = &new_public {
            assert_eq!(prev, &np);
        }
        new_public = Some(np);
        new_keys.insert(*i, nk);
    }
    let new_public = new_public.expect("members");
    assert_eq!(
        refresh::apply_public(public, &commitments).expect("public"),
        new_public
    );
    (new_keys, new_public)
}

#[test]
fn refresh_keeps_the_group_key_changes_every_share_and_new_pairs_sign() {
    let (keys, public) = run_dkg(3, 2);
    let (new_keys, new_public) = run_refresh(&keys, &public);
    assert_eq!(new_public.group_public_key(), public.group_public_key());
    for (i, kp) in &new_keys {
        assert_ne!(
            kp.signing_share(),
            keys[i].signing_share(),
            "share {i} unchanged"
        );
        assert_ne!(
            new_public.verifying_shares()[i],
            public.verifying_shares()[i]
        );
    }
    for (a, b) in [(1, 2), (1, 3), (2, 3)] {
        let sig = sign_session(
            &[&new_keys[&id(a)], &new_keys[&id(b)]],
            &new_public,
            b"after refresh",
        )
        .expect("new pair signs");
        assert!(dalek_verify_strict(
            &public.group_public_key(),
            b"after refresh",
            &sig
        ));
    }
}

#[test]
fn refresh_makes_a_pre_refresh_share_useless_with_post_refresh_shares() {
    let (keys, public) = run_dkg(3, 2);
    let (new_keys, new_public) = run_refresh(&keys, &public);
    let old1 = &keys[&id(1)];
    let new2 = &new_keys[&id(2)];

    // Interpolating an old and a new share does not give the group secret.
    let ids = [id(1), id(2)];
    let mixed: Scalar = lagrange_coefficient(id(1), &ids).expect("l") * old1.signing_share().0
        + lagrange_coefficient(id(2), &ids).expect("l") * new2.signing_share().0;
    assert_ne!(EdwardsPoint::mul_base(&mixed), public.group_public_key().0);

    // Signing with one old and one new share: the coordinator rejects the stale share by name...
    let err = sign_session(&[old1, new2], &new_public, b"mixed").unwrap_err();
    assert_eq!(err, FrostError::InvalidSignatureShare { culprit: id(1) });
    // ...and summing the shares unchecked yields a signature that does not verify.
    let mut rng = rand::rng();
    let (n1, c1) = commit(old1, &mut rng);
    let (n2, c2) = commit(new2, &mut rng);
    let package = SigningPackage::new(vec![c1, c2], b"mixed").expect("package");
    let z = sign(&package, n1, old1).expect("s1").0 + sign(&package, n2, new2).expect("s2").0;
    let session = SessionValues::derive(&package, &public.group_public_key()).expect("session");
    let forged = Signature {
        r: session.group_commitment,
        z,
    };
    assert_eq!(
        public.group_public_key().verify(b"mixed", &forged),
        Err(FrostError::InvalidSignature)
    );
    assert!(!dalek_verify_strict(
        &public.group_public_key(),
        b"mixed",
        &forged
    ));
}

#[test]
fn refresh_rejects_a_bad_zero_share_naming_the_dealer_and_missing_dealers() {
    let (keys, public) = run_dkg(3, 2);
    let mut rng = rand::rng();
    let mut commitments = BTreeMap::new();
    let mut to_1 = BTreeMap::new();
    for &d in keys.keys() {
        let (c, shares) = refresh::deal(&public, &mut rng);
        commitments.insert(d, c);
        to_1.insert(d, shares[&id(1)].clone());
    }
    let mut bad = to_1.clone();
    bad.insert(id(3), refresh::RefreshShare(to_1[&id(3)].0 + Scalar::ONE));
    let err = refresh::apply(&keys[&id(1)], &public, &commitments, &bad).unwrap_err();
    assert_eq!(err, FrostError::InvalidSecretShare { culprit: id(3) });
    // A dealer sharing a nonzero constant: its share of f(x) = a0 + a1 x fails the zero-constant check.
    let a0 = Scalar::from(7u64);
    let a1 = Scalar::from(11u64);
    let mut cheat_c = commitments.clone();
    cheat_c.insert(
        id(2),
        refresh::RefreshCommitment(vec![EdwardsPoint::mul_base(&a1)]),
    );
    let mut cheat_s = to_1.clone();
    cheat_s.insert(id(2), refresh::RefreshShare(a0 + a1));
    let err = refresh::apply(&keys[&id(1)], &public, &cheat_c, &cheat_s).unwrap_err();
    assert_eq!(err, FrostError::InvalidSecretShare { culprit: id(2) });
    let mut missing = commitments.clone();
    missing.remove(&id(2));
    let err = refresh::apply(&keys[&id(1)], &public, &missing, &to_1).unwrap_err();
    assert_eq!(err, FrostError::MissingPackage(id(2)));
    let mut long = commitments.clone();
    long.insert(
        id(2),
        refresh::RefreshCommitment(vec![ED25519_BASEPOINT_POINT; 2]),
    );
    let err = refresh::apply(&keys[&id(1)], &public, &long, &to_1).unwrap_err();
    assert_eq!(
        err,
        FrostError::InvalidCommitmentLength {
            culprit: id(2),
            expected: 1,
            got: 2
        }
    );
}

// ---------------------------------------------------------------- nonce reuse

#[test]
fn nonce_reuse_in_three_sessions_reveals_the_share_which_then_signs() {
    let (keys, public) = run_dkg(3, 2);
    let mut rng = rand::rng();
    let broken = NonceReusingSigner::new(keys[&id(1)].clone(), &mut rng);
    // Same victim commitments; the (malicious) coordinator varies the message and the co-signer.
    let mut observations = Vec::new();
    for (msg, other) in [(&b"pay alice"[..], 2), (b"pay bob", 3), (b"pay carol", 2)] {
        let (n, c) = commit(&keys[&id(other)], &mut rng);
        let package = SigningPackage::new(vec![broken.commitments(), c], msg).expect("package");
        let z1 = broken.sign(&package).expect("broken sign");
        let z2 = sign(&package, n, &keys[&id(other)]).expect("sign");
        // Each reused share is individually valid: nothing looks wrong to the coordinator.
        let sig = aggregate(
            &package,
            &BTreeMap::from([(id(1), z1), (id(other), z2)]),
            &public,
        )
        .expect("valid");
        assert!(dalek_verify_strict(&public.group_public_key(), msg, &sig));
        observations.push(ReuseObservation {
            signing_package: package,
            signature_share: z1,
        });
    }
    let observations: [ReuseObservation; 3] = observations.try_into().expect("three");
    let recovered = recover_signing_share(id(1), &public, &observations).expect("recovered");
    assert_eq!(&recovered, keys[&id(1)].signing_share());

    // The attacker now signs as participant 1 (with an honest participant 3 as co-signer).
    let stolen = KeyPackage::new(id(1), recovered, public.group_public_key(), 2).expect("kp");
    let sig =
        sign_session(&[&stolen, &keys[&id(3)]], &public, b"attacker's message").expect("sign");
    assert!(dalek_verify_strict(
        &public.group_public_key(),
        b"attacker's message",
        &sig
    ));
}

#[test]
fn nonce_reuse_recovery_fails_without_reuse_or_with_repeated_sessions() {
    let (keys, public) = run_dkg(3, 2);
    let mut rng = rand::rng();
    // Honest signer: fresh nonces each session, nothing to extract.
    let mut fresh = Vec::new();
    for msg in [&b"a"[..], b"b", b"c"] {
        let (n1, c1) = commit(&keys[&id(1)], &mut rng);
        let (_, c2) = commit(&keys[&id(2)], &mut rng);
        let package = SigningPackage::new(vec![c1, c2], msg).expect("package");
        let z1 = sign(&package, n1, &keys[&id(1)]).expect("sign");
        fresh.push(ReuseObservation {
            signing_package: package,
            signature_share: z1,
        });
    }
    let fresh: [ReuseObservation; 3] = fresh.try_into().expect("three");
    assert_eq!(
        recover_signing_share(id(1), &public, &fresh).unwrap_err(),
        FrostError::NotANonceReuse
    );

    // Broken signer but the same session three times: one equation, repeated.
    let broken = NonceReusingSigner::new(keys[&id(1)].clone(), &mut rng);
    let (_, c2) = commit(&keys[&id(2)], &mut rng);
    let package = SigningPackage::new(vec![broken.commitments(), c2], b"same").expect("package");
    let z = broken.sign(&package).expect("sign");
    let obs = ReuseObservation {
        signing_package: package,
        signature_share: z,
    };
    let same = [obs.clone(), obs.clone(), obs];
    assert_eq!(
        recover_signing_share(id(1), &public, &same).unwrap_err(),
        FrostError::SingularSystem
    );
}

// ---------------------------------------------------------------- encodings

#[test]
fn every_wire_type_round_trips_through_its_encoding() {
    let (keys, public) = run_dkg(3, 2);
    let kp = &keys[&id(2)];
    assert_eq!(Identifier::from_bytes(&id(300).to_bytes()), Ok(id(300)));
    assert_eq!(
        &SigningShare::from_bytes(&kp.signing_share().to_bytes()).expect("s"),
        kp.signing_share()
    );
    assert_eq!(
        VerifyingShare::from_bytes(&kp.verifying_share().to_bytes()),
        Ok(kp.verifying_share())
    );
    let pk = public.group_public_key();
    assert_eq!(GroupPublicKey::from_bytes(&pk.to_bytes()), Ok(pk));
    let mut rng = rand::rng();
    let (n, c) = commit(kp, &mut rng);
    assert_eq!(SigningCommitments::from_bytes(&c.to_bytes()), Ok(c));
    let n = SigningNonces::from_bytes(n.into_bytes().as_ref()).expect("nonces");
    assert_eq!(n.commitments(), c);
    let (n1, c1) = commit(&keys[&id(1)], &mut rng);
    let package = SigningPackage::new(vec![c, c1], b"wire").expect("package");
    let bytes = package.to_bytes().expect("encode");
    assert_eq!(SigningPackage::from_bytes(&bytes), Ok(package.clone()));
    assert!(SigningPackage::from_bytes(&bytes[..bytes.len() - 1]).is_err());
    assert!(SigningPackage::from_bytes(&[bytes.as_slice(), &[0]].concat()).is_err());
    let z = sign(&package, n, kp).expect("sign");
    assert_eq!(SignatureShare::from_bytes(&z.to_bytes()), Ok(z));
    let z1 = sign(&package, n1, &keys[&id(1)]).expect("sign");
    let sig = aggregate(
        &package,
        &BTreeMap::from([(id(1), z1), (id(2), z)]),
        &public,
    )
    .expect("agg");
    assert_eq!(Signature::from_bytes(&sig.to_bytes()), Ok(sig));
    let (_, r1) = dkg::part1(id(1), 3, 2, b"ctx", &mut rng).expect("p1");
    assert_eq!(
        dkg::Round1Package::from_bytes(&r1.to_bytes()),
        Ok(r1.clone())
    );
    assert!(dkg::Round1Package::from_bytes(&r1.to_bytes()[..97]).is_err());
    assert!(dkg::Round1Package::from_bytes(&[]).is_err());
    let (rc, rs) = refresh::deal(&public, &mut rng);
    assert_eq!(
        refresh::RefreshCommitment::from_bytes(&rc.to_bytes()),
        Ok(rc)
    );
    let share = &rs[&id(1)];
    assert_eq!(
        refresh::RefreshShare::from_bytes(&share.to_bytes())
            .expect("s")
            .0,
        share.0
    );
}

#[test]
fn decoding_rejects_non_canonical_identity_small_order_and_mixed_order_inputs() {
    // Scalars: L itself is not canonical.
    let l_bytes = unhex("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010");
    let l: [u8; 32] = l_bytes.try_into().expect("32");
    assert_eq!(
        SignatureShare::from_bytes(&l),
        Err(FrostError::NonCanonicalScalar("signature share"))
    );
    assert!(SigningShare::from_bytes(&l).is_err());
    assert_eq!(
        SigningShare::from_bytes(&[0; 32]),
        Err(FrostError::ZeroScalar("signing share"))
    );

    // Identity (canonical encoding 01 00..00).
    let mut identity = [0u8; 32];
    identity[0] = 1;
    assert_eq!(
        GroupPublicKey::from_bytes(&identity),
        Err(FrostError::IdentityElement("group public key"))
    );
    // Identity encoded non-canonically as y = p + 1.
    let mut y_p1 = [0xffu8; 32];
    y_p1[0] = 0xee;
    y_p1[31] = 0x7f;
    assert_eq!(
        GroupPublicKey::from_bytes(&y_p1),
        Err(FrostError::NonCanonicalElement("group public key"))
    );
    // Identity with the sign bit set (x = 0 but "negative").
    let mut neg_zero = identity;
    neg_zero[31] |= 0x80;
    assert!(GroupPublicKey::from_bytes(&neg_zero).is_err());
    // Every small-order point, and a mixed-order point B + T.
    for t in EIGHT_TORSION.iter().skip(1) {
        let enc = t.compress().to_bytes();
        assert_eq!(
            VerifyingShare::from_bytes(&enc),
            Err(FrostError::NotInPrimeOrderSubgroup("verifying share")),
            "torsion point {}",
            hex(&enc)
        );
        let mixed = (ED25519_BASEPOINT_POINT + t).compress().to_bytes();
        assert_eq!(
            GroupPublicKey::from_bytes(&mixed),
            Err(FrostError::NotInPrimeOrderSubgroup("group public key"))
        );
    }
    // Bytes that are no point at all (y = 2 has no x on the curve).
    let mut not_point = [0u8; 32];
    not_point[0] = 2;
    assert_eq!(
        GroupPublicKey::from_bytes(&not_point),
        Err(FrostError::MalformedElement("group public key"))
    );
    // Identifiers: zero and out of range.
    assert_eq!(Identifier::new(0), Err(FrostError::InvalidIdentifier));
    assert_eq!(
        Identifier::from_bytes(&[0; 32]),
        Err(FrostError::InvalidIdentifier)
    );
    let mut big = [0u8; 32];
    big[2] = 1;
    assert_eq!(
        Identifier::from_bytes(&big),
        Err(FrostError::InvalidIdentifier)
    );
    // A signature with a small-order R or non-canonical z is refused before verification.
    let mut sig = [0u8; 64];
    sig[..32].copy_from_slice(&EIGHT_TORSION[1].compress().to_bytes());
    assert!(Signature::from_bytes(&sig).is_err());
    sig[..32].copy_from_slice(&ED25519_BASEPOINT_POINT.compress().to_bytes());
    sig[32..].copy_from_slice(&l);
    assert_eq!(
        Signature::from_bytes(&sig),
        Err(FrostError::NonCanonicalScalar("signature z"))
    );
    assert!(Signature::from_bytes(&sig[..63]).is_err());
    // A commitment carrying a torsion point.
    let (keys, _) = run_dkg(3, 2);
    let (_, c) = commit(&keys[&id(1)], &mut rand::rng());
    let mut enc = c.to_bytes();
    enc[64..].copy_from_slice(&(c.binding + EIGHT_TORSION[4]).compress().to_bytes());
    assert!(SigningCommitments::from_bytes(&enc).is_err());
}

#[test]
fn secrets_are_redacted_in_debug_output() {
    let (keys, _) = run_dkg(3, 2);
    let kp = &keys[&id(1)];
    let secret_hex = hex(kp.signing_share().to_bytes().as_ref());
    let (nonces, _) = commit(kp, &mut rand::rng());
    let nonce_hex = hex(nonces.hiding.as_bytes());
    let dump = format!("{kp:?} {nonces:?}");
    assert!(!dump.contains(&secret_hex));
    assert!(!dump.contains(&nonce_hex));
    assert!(dump.contains("redacted"));
}

#[test]
fn threshold_parameters_are_validated() {
    let mut rng = rand::rng();
    assert!(dkg::part1(id(1), 3, 1, b"", &mut rng).is_err());
    assert!(dkg::part1(id(1), 2, 3, b"", &mut rng).is_err());
    assert!(dkg::part1(id(1), 3, 2, &[0u8; dkg::MAX_CONTEXT_LEN + 1], &mut rng).is_err());
    assert!(dealer::trusted_dealer_keygen_insecure(3, 4, &mut rng).is_err());
    assert!(dealer::trusted_dealer_split_insecure(&[1; 32], &[], 3, 2).is_err());
}

// ---------------------------------------------------------------- Python cross-check

#[test]
fn python_cryptography_verifies_our_signatures() {
    let v: Value = serde_json::from_str(VECTORS).expect("vector JSON");
    let mut lines = format!(
        "{} {} {}\n",
        v["inputs"]["group_public_key"].as_str().expect("pk"),
        v["final_output"]["sig"].as_str().expect("sig"),
        v["inputs"]["message"].as_str().expect("msg"),
    );
    let (keys, public) = run_dkg(3, 2);
    let pk = hex(&public.group_public_key().to_bytes());
    for (a, b) in [(1, 2), (1, 3), (2, 3)] {
        let msg = format!("python check {a}{b}");
        let sig =
            sign_session(&[&keys[&id(a)], &keys[&id(b)]], &public, msg.as_bytes()).expect("sign");
        lines.push_str(&format!(
            "{pk} {} {}\n",
            hex(&sig.to_bytes()),
            hex(msg.as_bytes())
        ));
    }
    let child = Command::new("python3")
        .arg("-c")
        .arg(INTEROP_SCRIPT)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let required = std::env::var("WIRELAB_REQUIRE_EXTERNAL").as_deref() == Ok("1");
    let Ok(mut child) = child else {
        assert!(
            !required,
            "python3 is required (WIRELAB_REQUIRE_EXTERNAL=1)"
        );
        println!("SKIPPED: python3 not found; cross-check with pyca/cryptography not run");
        return;
    };
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(lines.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("python3 runs");
    match out.status.code() {
        Some(3) => {
            assert!(
                !required,
                "python3 lacks `cryptography` and WIRELAB_REQUIRE_EXTERNAL=1"
            );
            println!(
                "SKIPPED: python3 lacks `cryptography` (install: python3 -m pip install cryptography)"
            )
        }
        Some(0) => println!("{}", String::from_utf8_lossy(&out.stdout).trim()),
        _ => panic!(
            "pyca/cryptography rejected a signature: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}
