//! Handshake patterns as token lists (Noise spec rev. 34 §7, §9).
//!
//! One interpreter in [`super::handshake`] runs any of these; adding a pattern means adding
//! its pre-messages and message token lists here (and a vector to the data-driven test).

/// One token of a handshake message pattern.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Token {
    /// Send/receive an ephemeral public key (plus `MixKey` of it when the pattern has a PSK).
    E,
    /// Send/receive a static public key (encrypted once a key exists).
    S,
    /// `MixKey(DH(e, re))`.
    EE,
    /// Initiator's ephemeral with responder's static.
    ES,
    /// Initiator's static with responder's ephemeral.
    SE,
    /// `MixKey(DH(s, rs))`.
    SS,
    /// `MixKeyAndHash(psk)`.
    Psk,
}

use Token::{E, EE, ES, Psk, S, SE, SS};

/// The handshake patterns this core supports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Pattern {
    /// `NN`: ephemeral-ephemeral only, no authentication (used for vectors and tests).
    Nn,
    /// `NNpsk0`: `NN` with the PSK mixed in before the first message — the chat lab's choice.
    NnPsk0,
    /// `KKpsk0`: both static keys known in advance, plus the PSK (the upgrade path).
    KkPsk0,
    /// `XX`: statics transmitted during the handshake (exercises the `s` token).
    Xx,
}

impl Pattern {
    /// Every supported pattern.
    pub const ALL: [Pattern; 4] = [Pattern::Nn, Pattern::NnPsk0, Pattern::KkPsk0, Pattern::Xx];

    /// The full protocol name with this core's fixed primitives (25519, ChaChaPoly, SHA256).
    pub fn protocol_name(self) -> &'static str {
        match self {
            Pattern::Nn => "Noise_NN_25519_ChaChaPoly_SHA256",
            Pattern::NnPsk0 => "Noise_NNpsk0_25519_ChaChaPoly_SHA256",
            Pattern::KkPsk0 => "Noise_KKpsk0_25519_ChaChaPoly_SHA256",
            Pattern::Xx => "Noise_XX_25519_ChaChaPoly_SHA256",
        }
    }

    /// The pattern whose protocol name is `name`, if supported.
    pub fn from_protocol_name(name: &str) -> Option<Pattern> {
        Self::ALL.into_iter().find(|p| p.protocol_name() == name)
    }

    /// The initiator's pre-message (tokens known to the responder before the handshake).
    pub fn initiator_premessage(self) -> &'static [Token] {
        match self {
            Pattern::KkPsk0 => &[S],
            Pattern::Nn | Pattern::NnPsk0 | Pattern::Xx => &[],
        }
    }

    /// The responder's pre-message.
    pub fn responder_premessage(self) -> &'static [Token] {
        match self {
            Pattern::KkPsk0 => &[S],
            Pattern::Nn | Pattern::NnPsk0 | Pattern::Xx => &[],
        }
    }

    /// The message patterns, alternating initiator → responder → initiator …
    pub fn messages(self) -> &'static [&'static [Token]] {
        match self {
            Pattern::Nn => &[&[E], &[E, EE]],
            Pattern::NnPsk0 => &[&[Psk, E], &[E, EE]],
            Pattern::KkPsk0 => &[&[Psk, E, ES, SS], &[E, EE, SE]],
            Pattern::Xx => &[&[E], &[E, EE, S, ES], &[S, SE]],
        }
    }

    /// Whether the pattern has a `psk` token (which changes how `e` is processed, §9.2).
    pub fn has_psk(self) -> bool {
        self.messages().iter().any(|m| m.contains(&Psk))
    }

    /// Whether the party in the given role needs its own static keypair.
    pub fn needs_local_static(self, initiator: bool) -> bool {
        let (pre, mine) = if initiator {
            (self.initiator_premessage(), 0)
        } else {
            (self.responder_premessage(), 1)
        };
        pre.contains(&S)
            || self
                .messages()
                .iter()
                .skip(mine)
                .step_by(2)
                .any(|m| m.contains(&S))
    }

    /// Whether the party in the given role must know the peer's static key in advance.
    pub fn needs_remote_static(self, initiator: bool) -> bool {
        let pre = if initiator {
            self.responder_premessage()
        } else {
            self.initiator_premessage()
        };
        pre.contains(&S)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_names_round_trip() {
        for p in Pattern::ALL {
            assert_eq!(Pattern::from_protocol_name(p.protocol_name()), Some(p));
        }
        assert_eq!(
            Pattern::from_protocol_name("Noise_NN_448_AESGCM_SHA512"),
            None
        );
    }

    #[test]
    fn key_requirements_follow_the_patterns() {
        assert!(Pattern::NnPsk0.has_psk() && Pattern::KkPsk0.has_psk());
        assert!(!Pattern::Nn.has_psk() && !Pattern::Xx.has_psk());
        for initiator in [true, false] {
            assert!(!Pattern::NnPsk0.needs_local_static(initiator));
            assert!(!Pattern::NnPsk0.needs_remote_static(initiator));
            assert!(Pattern::KkPsk0.needs_local_static(initiator));
            assert!(Pattern::KkPsk0.needs_remote_static(initiator));
            assert!(Pattern::Xx.needs_local_static(initiator));
            assert!(!Pattern::Xx.needs_remote_static(initiator));
        }
    }

    #[test]
    fn every_psk_pattern_sends_e_before_encrypting_per_spec_9_3() {
        // §9.3: after `psk`, a party must not send encrypted data before it has sent `e`.
        for p in Pattern::ALL.into_iter().filter(|p| p.has_psk()) {
            for (i, m) in p.messages().iter().enumerate() {
                let sender_has_sent_e = p
                    .messages()
                    .iter()
                    .take(i + 1)
                    .skip(i % 2)
                    .step_by(2)
                    .any(|m| m.contains(&E));
                assert!(sender_has_sent_e, "{p:?} message {i} {m:?}");
            }
        }
    }
}
