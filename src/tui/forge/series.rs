//! The forge dashboard's per-second traffic series: one bucket per wall-clock second (req/s,
//! p50/p99, open connections, failed requests), zero-filled when nothing reports so the charts
//! keep moving, and bounded to [`SERIES_CAPACITY`] seconds.

use std::collections::VecDeque;

/// Seconds of chart history kept.
pub const SERIES_CAPACITY: usize = 300;

/// One second of traffic.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Second {
    /// Seconds since the Unix epoch.
    pub at_s: u64,
    /// Requests per second the load node saw answered (mean of its windows in this second).
    pub rps: f64,
    /// Median latency, ms (mean of the windows' medians).
    pub p50_ms: f64,
    /// 99th percentile latency, ms (the worst window's).
    pub p99_ms: f64,
    /// Most connections open on the server(s) during this second.
    pub conns: u64,
    /// Requests the load node counted as failed during this second.
    pub failed: u64,
    samples: u32,
}

impl Second {
    /// Folds in one load window: req/s and p50 averaged over the second's windows, p99 the
    /// worst of them.
    pub fn add_load_window(&mut self, rps: f64, p50_ms: f64, p99_ms: f64) {
        let k = f64::from(self.samples);
        self.rps = (self.rps * k + rps) / (k + 1.0);
        self.p50_ms = (self.p50_ms * k + p50_ms) / (k + 1.0);
        self.p99_ms = self.p99_ms.max(p99_ms);
        self.samples = self.samples.saturating_add(1);
    }
}

/// The bucket of `at_ms`, created (with zero-filled seconds before it) if needed.
pub fn bucket(seconds: &mut VecDeque<Second>, at_ms: u64) -> &mut Second {
    let s = at_ms / 1000;
    fill_to(seconds, s);
    if seconds.back().is_none_or(|b| b.at_s < s) {
        seconds.push_back(Second {
            at_s: s,
            ..Second::default()
        });
        while seconds.len() > SERIES_CAPACITY {
            seconds.pop_front();
        }
    }
    // Events are stamped in order; one from an earlier second lands in the newest bucket.
    let last = seconds.len() - 1;
    &mut seconds[last]
}

/// Zero seconds up to (not including) second `s` after the newest bucket, so the charts keep
/// moving when nothing reports (load stopped, a node paused). Nothing before the first bucket.
pub fn fill_to(seconds: &mut VecDeque<Second>, s: u64) {
    let Some(last) = seconds.back().map(|b| b.at_s) else {
        return;
    };
    let from = (last + 1).max(s.saturating_sub(SERIES_CAPACITY as u64));
    for t in from..s {
        seconds.push_back(Second {
            at_s: t,
            ..Second::default()
        });
    }
    while seconds.len() > SERIES_CAPACITY {
        seconds.pop_front();
    }
}
