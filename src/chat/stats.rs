//! Delivery latency figures: a bounded window of recent samples and its quantiles.

use std::collections::VecDeque;

/// Samples kept.
const WINDOW: usize = 2048;

/// The most recent delivery latencies, in µs.
#[derive(Debug, Default, Clone)]
pub struct Latencies {
    samples: VecDeque<u64>,
}

impl Latencies {
    /// Records one latency.
    pub fn record_us(&mut self, us: u64) {
        if self.samples.len() == WINDOW {
            self.samples.pop_front();
        }
        self.samples.push_back(us);
    }

    /// The `q` quantile in ms (0 with no samples).
    pub fn quantile_ms(&self, q: f64) -> f64 {
        quantile_ms(self.samples.iter().copied().collect(), q)
    }
}

/// The `q` quantile (nearest rank) of µs samples, in ms rounded to 0.01.
pub fn quantile_ms(mut v: Vec<u64>, q: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_unstable();
    let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
    (v[rank - 1] as f64 / 10.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_use_nearest_rank() {
        let v: Vec<u64> = (1..=100).map(|i| i * 1000).collect();
        assert_eq!(quantile_ms(v.clone(), 0.5), 50.0);
        assert_eq!(quantile_ms(v, 0.99), 99.0);
        assert_eq!(quantile_ms(vec![], 0.5), 0.0);
    }
}
