//! The fault filter: what a node's network does to frames between it and its peers.
//!
//! Every inter-node frame passes [`FaultFilter::verdict`] on the way out and on the way in. The
//! rules come from the supervisor as a JSON control command, so a partition is a real loss of
//! frames between real processes, not a flag in a simulator: a cut peer's frames are read off the
//! socket and thrown away, exactly as if a firewall dropped them.

use std::collections::BTreeSet;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The rules in force on one node.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FaultRules {
    /// Peers this node can neither reach nor hear from (a partition).
    #[serde(default)]
    pub cut: BTreeSet<u64>,
    /// Fraction of all peer frames dropped at random, 0.0 to 1.0.
    #[serde(default)]
    pub drop_rate: f64,
    /// Delay added to every outgoing peer frame, in milliseconds.
    #[serde(default)]
    pub delay_ms: u64,
}

/// The longest delay a fault rule may add to each frame (a minute: anything longer is a cut).
pub const MAX_FAULT_DELAY_MS: u64 = 60_000;

impl FaultRules {
    /// Checks the rules are in range: a drop rate between 0 and 1, a delay of at most
    /// [`MAX_FAULT_DELAY_MS`].
    pub fn check(&self) -> Result<(), String> {
        if !self.drop_rate.is_finite() || !(0.0..=1.0).contains(&self.drop_rate) {
            return Err(format!(
                "drop rate must be between 0 and 1 (got {})",
                self.drop_rate
            ));
        }
        if self.delay_ms > MAX_FAULT_DELAY_MS {
            return Err(format!(
                "delay must be at most {MAX_FAULT_DELAY_MS} ms (got {})",
                self.delay_ms
            ));
        }
        Ok(())
    }

    /// Whether no rule is in force.
    pub fn is_clear(&self) -> bool {
        self.cut.is_empty() && self.drop_rate <= 0.0 && self.delay_ms == 0
    }
}

impl std::fmt::Display for FaultRules {
    /// For people: "cut off from nodes 1, 3; drops 10% of peer frames; delays each by 50 ms".
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.is_clear() {
            return f.write_str("no faults");
        }
        let mut parts = Vec::new();
        if !self.cut.is_empty() {
            let ids: Vec<String> = self.cut.iter().map(u64::to_string).collect();
            let noun = if ids.len() == 1 { "node" } else { "nodes" };
            parts.push(format!("cut off from {noun} {}", ids.join(", ")));
        }
        if self.drop_rate > 0.0 {
            parts.push(format!(
                "drops {:.0}% of peer frames",
                self.drop_rate * 100.0
            ));
        }
        if self.delay_ms > 0 {
            parts.push(format!("delays each peer frame by {} ms", self.delay_ms));
        }
        f.write_str(&parts.join("; "))
    }
}

/// What to do with one frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Pass it on now.
    Pass,
    /// Pass it on after this delay.
    Delay(Duration),
    /// Throw it away.
    Drop,
}

/// Shared, cheaply cloned handle on a node's current rules.
#[derive(Clone, Debug, Default)]
pub struct FaultFilter {
    rules: Arc<RwLock<FaultRules>>,
}

impl FaultFilter {
    /// A filter with no rules.
    pub fn new() -> Self {
        Self::default()
    }

    /// Replaces the rules.
    pub fn set(&self, rules: FaultRules) {
        match self.rules.write() {
            Ok(mut guard) => *guard = rules,
            Err(poisoned) => *poisoned.into_inner() = rules,
        }
    }

    /// The rules in force.
    pub fn rules(&self) -> FaultRules {
        match self.rules.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The fate of a frame to or from `peer`.
    pub fn verdict(&self, peer: u64) -> Verdict {
        let rules = match self.rules.read() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        if rules.cut.contains(&peer) {
            return Verdict::Drop;
        }
        if rules.drop_rate > 0.0 && rand::random::<f64>() < rules.drop_rate {
            return Verdict::Drop;
        }
        if rules.delay_ms > 0 {
            return Verdict::Delay(Duration::from_millis(rules.delay_ms));
        }
        Verdict::Pass
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_peers_are_dropped_and_others_pass() {
        let f = FaultFilter::new();
        assert_eq!(f.verdict(2), Verdict::Pass);
        f.set(FaultRules {
            cut: [2].into(),
            ..Default::default()
        });
        assert_eq!(f.verdict(2), Verdict::Drop);
        assert_eq!(f.verdict(3), Verdict::Pass);
        f.set(FaultRules::default());
        assert_eq!(f.verdict(2), Verdict::Pass);
    }

    #[test]
    fn drop_rate_one_drops_everything_and_delay_applies() {
        let f = FaultFilter::new();
        f.set(FaultRules {
            drop_rate: 1.0,
            ..Default::default()
        });
        assert!((0..100).all(|_| f.verdict(1) == Verdict::Drop));
        f.set(FaultRules {
            delay_ms: 5,
            ..Default::default()
        });
        assert_eq!(f.verdict(1), Verdict::Delay(Duration::from_millis(5)));
    }

    #[test]
    fn rules_parse_from_json_with_defaults() {
        let r: FaultRules = serde_json::from_str(r#"{"cut":[1,3]}"#).unwrap();
        assert_eq!(r.cut, [1, 3].into());
        assert!(!r.is_clear());
        assert!(serde_json::from_str::<FaultRules>("{}").unwrap().is_clear());
    }
}
