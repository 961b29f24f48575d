//! A token bucket per client address: a burst, then a steady rate. One address flooding the
//! intake is refused with 429 while every other address is served as usual.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

/// Keyed by client address by default; the login limiter also keys by account.
pub struct RateLimiter<K = IpAddr> {
    burst: f64,
    per_sec: f64,
    buckets: Mutex<HashMap<K, (f64, Instant)>>,
}

impl<K: Eq + Hash> RateLimiter<K> {
    /// `burst` = 0 turns the limiter off.
    pub fn new(burst: u32, per_minute: u32) -> Self {
        RateLimiter {
            burst: f64::from(burst),
            per_sec: f64::from(per_minute) / 60.0,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes a token for `key` at `now`; false when it has none left.
    pub fn allow(&self, key: K, now: Instant) -> bool {
        if self.burst == 0.0 {
            return true;
        }
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        // Forget addresses whose bucket has refilled, so the map cannot grow without bound.
        if buckets.len() > 100_000 {
            let full_after = self.burst / self.per_sec.max(f64::MIN_POSITIVE);
            buckets.retain(|_, (_, t)| now.duration_since(*t).as_secs_f64() < full_after);
        }
        let (tokens, last) = buckets.entry(key).or_insert((self.burst, now));
        let refill = now.duration_since(*last).as_secs_f64() * self.per_sec;
        *tokens = (*tokens + refill).min(self.burst);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn bursts_then_refills_per_address() {
        let l: RateLimiter = RateLimiter::new(3, 60);
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "127.0.0.2".parse().unwrap();
        let t = Instant::now();
        assert!((0..3).all(|_| l.allow(a, t)));
        assert!(!l.allow(a, t));
        assert!(l.allow(b, t), "another address is still served");
        assert!(
            l.allow(a, t + Duration::from_secs(1)),
            "one token per second comes back"
        );
        assert!(!l.allow(a, t + Duration::from_secs(1)));
    }

    #[test]
    fn zero_burst_means_no_limit() {
        let l: RateLimiter = RateLimiter::new(0, 0);
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        assert!((0..1000).all(|_| l.allow(a, Instant::now())));
    }
}
