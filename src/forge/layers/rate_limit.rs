//! Sliding-window rate limiting per client address. Each address has a counter for the current
//! fixed window and the previous one; the estimate `previous * (1 - elapsed/window) + current`
//! slides smoothly instead of resetting at window edges. Over the limit: 429 with `Retry-After`
//! (seconds until the estimate drops below the limit). The table of addresses is bounded: stale
//! entries are purged when it fills, and past that new addresses share one overflow slot.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::forge::middleware::{Middleware, Next};
use crate::forge::request::Request;
use crate::forge::response::{BoxFuture, Response};

#[derive(Debug, Clone, Copy)]
struct Window {
    start: Instant,
    previous: u64,
    current: u64,
}

/// The limiter: `limit` requests per `window` per client address.
pub struct RateLimit {
    limit: u64,
    window: Duration,
    max_clients: usize,
    clients: Mutex<HashMap<IpAddr, Window>>,
}

impl RateLimit {
    /// At most `limit` requests per `window` from one address.
    pub fn new(limit: u64, window: Duration) -> RateLimit {
        RateLimit {
            limit: limit.max(1),
            window: window.max(Duration::from_millis(1)),
            max_clients: 100_000,
            clients: Mutex::new(HashMap::new()),
        }
    }

    /// Admits or refuses one request from `ip` at `now`; `Err(retry_after)` when refused.
    pub fn check(&self, ip: IpAddr, now: Instant) -> Result<(), Duration> {
        let Ok(mut clients) = self.clients.lock() else {
            return Ok(());
        };
        if clients.len() >= self.max_clients && !clients.contains_key(&ip) {
            let horizon = 2 * self.window;
            clients.retain(|_, w| now.duration_since(w.start) < horizon);
        }
        let key = if clients.len() >= self.max_clients && !clients.contains_key(&ip) {
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        } else {
            ip
        };
        let w = clients.entry(key).or_insert(Window {
            start: now,
            previous: 0,
            current: 0,
        });
        // Roll the window forward.
        let elapsed = now.saturating_duration_since(w.start);
        if elapsed >= self.window {
            if elapsed < 2 * self.window {
                w.previous = w.current;
                w.start += self.window;
            } else {
                // Quiet for two windows or more: nothing of the past still weighs.
                w.previous = 0;
                w.start = now;
            }
            w.current = 0;
        }
        let frac = now.saturating_duration_since(w.start).as_secs_f64() / self.window.as_secs_f64();
        let estimate = w.previous as f64 * (1.0 - frac) + w.current as f64;
        if estimate + 1.0 <= self.limit as f64 {
            w.current += 1;
            return Ok(());
        }
        Err(self.retry_after(w, frac))
    }

    /// Time until one more request would fit.
    fn retry_after(&self, w: &Window, frac: f64) -> Duration {
        let (limit, win) = (self.limit as f64, self.window.as_secs_f64());
        let room = limit - 1.0;
        let wait = if (w.current as f64) <= room && w.previous > 0 {
            // Within this window, as the previous window's weight fades.
            win * (1.0 - (room - w.current as f64) / w.previous as f64) - frac * win
        } else {
            // After the next roll the current count becomes the fading previous one.
            let next_frac = 1.0 - room / (w.current.max(1) as f64);
            (1.0 - frac) * win + next_frac.max(0.0) * win
        };
        Duration::from_secs_f64(wait.max(0.001))
    }
}

impl Middleware for RateLimit {
    fn handle<'a>(&'a self, req: Request, next: Next<'a>) -> BoxFuture<'a, Response> {
        let ip = req
            .peer_addr()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |p| p.ip());
        match self.check(ip, Instant::now()) {
            Ok(()) => next.run(req),
            Err(wait) => Box::pin(async move {
                let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
                Response::error(429).with_header("retry-after", secs.max(1).to_string())
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(n: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, n))
    }

    #[test]
    fn admits_up_to_the_limit_then_refuses_with_a_retry_time() {
        let rl = RateLimit::new(3, Duration::from_secs(10));
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(rl.check(ip(1), t0).is_ok());
        }
        let wait = rl.check(ip(1), t0).unwrap_err();
        assert!(
            wait > Duration::from_secs(10) && wait <= Duration::from_secs(20),
            "{wait:?}"
        );
        // Another client is unaffected.
        assert!(rl.check(ip(2), t0).is_ok());
    }

    #[test]
    fn window_slides_instead_of_resetting_at_the_edge() {
        let rl = RateLimit::new(4, Duration::from_secs(10));
        let t0 = Instant::now();
        for _ in 0..4 {
            rl.check(ip(1), t0).unwrap();
        }
        // Just after the edge the previous window still weighs ~100%: refused.
        assert!(rl.check(ip(1), t0 + Duration::from_millis(10_100)).is_err());
        // Halfway through the next window half of it has faded: two more fit.
        let mid = t0 + Duration::from_secs(15);
        assert!(rl.check(ip(1), mid).is_ok());
        assert!(rl.check(ip(1), mid).is_ok());
        assert!(rl.check(ip(1), mid).is_err());
        // Two windows later everything has faded.
        assert!(rl.check(ip(1), t0 + Duration::from_secs(31)).is_ok());
    }

    #[test]
    fn retry_after_is_honest() {
        let rl = RateLimit::new(2, Duration::from_secs(10));
        let t0 = Instant::now();
        rl.check(ip(1), t0).unwrap();
        rl.check(ip(1), t0).unwrap();
        let wait = rl.check(ip(1), t0).unwrap_err();
        assert!(
            rl.check(ip(1), t0 + wait - Duration::from_millis(50))
                .is_err()
        );
        assert!(
            rl.check(ip(1), t0 + wait + Duration::from_millis(50))
                .is_ok()
        );
    }
}
