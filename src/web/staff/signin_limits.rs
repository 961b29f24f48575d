//! Sign-in limits that count failures only.
//!
//! Correct sign-ins are never counted, so an office behind one NAT address signs in at 9:00
//! without a 429. Failures are counted per account (guessing one password from many
//! addresses) and per address (guessing many accounts from one). An account over its limit is
//! not locked against its owner: from an address that has signed in to it before, a sign-in
//! is only delayed, which keeps guessing from there slow.

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::config::AuthSettings;

/// What to do with a sign-in attempt before its password is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    Go,
    /// Check it after this wait.
    Delay(Duration),
    /// Refuse with 429 for about this long.
    Refuse(Duration),
}

/// Failure times per key within the window (at most `limit` kept per key).
struct Failures<K> {
    limit: usize,
    window: Duration,
    seen: HashMap<K, VecDeque<Instant>>,
}

impl<K: Eq + Hash + Clone> Failures<K> {
    fn new(limit: u32, window: Duration) -> Self {
        Failures {
            limit: limit as usize,
            window,
            seen: HashMap::new(),
        }
    }

    fn forget_old(&mut self, key: &K, now: Instant) {
        if let Some(q) = self.seen.get_mut(key) {
            while q
                .front()
                .is_some_and(|t| now.duration_since(*t) >= self.window)
            {
                q.pop_front();
            }
            if q.is_empty() {
                self.seen.remove(key);
            }
        }
    }

    /// `Some(wait)` when `key` has reached its limit: the time until its oldest failure
    /// leaves the window.
    fn over(&mut self, key: &K, now: Instant) -> Option<Duration> {
        if self.limit == 0 {
            return None;
        }
        self.forget_old(key, now);
        let q = self.seen.get(key)?;
        (q.len() >= self.limit).then(|| self.window.saturating_sub(now.duration_since(q[0])))
    }

    fn add(&mut self, key: K, now: Instant) {
        // Bound the memory a flood of distinct keys could take.
        if self.seen.len() > 100_000 {
            let window = self.window;
            self.seen
                .retain(|_, q| q.back().is_some_and(|t| now.duration_since(*t) < window));
        }
        let q = self.seen.entry(key).or_default();
        q.push_back(now);
        while q.len() > self.limit.max(1) {
            q.pop_front();
        }
    }

    fn clear(&mut self, key: &K) {
        self.seen.remove(key);
    }
}

struct Inner {
    accounts: Failures<String>,
    addresses: Failures<IpAddr>,
    /// (account, address) pairs that have signed in successfully.
    known: HashSet<(String, IpAddr)>,
}

pub struct SigninLimits {
    inner: Mutex<Inner>,
    known_delay: Duration,
}

impl SigninLimits {
    pub fn new(s: &AuthSettings) -> SigninLimits {
        let window = Duration::from_secs(s.login_failure_window_secs.max(1));
        SigninLimits {
            inner: Mutex::new(Inner {
                accounts: Failures::new(s.login_account_failures, window),
                addresses: Failures::new(s.login_address_failures, window),
                known: HashSet::new(),
            }),
            known_delay: Duration::from_millis(s.login_known_address_delay_ms),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn gate(&self, account: &str, ip: IpAddr, now: Instant) -> Gate {
        let mut g = self.lock();
        if let Some(wait) = g.addresses.over(&ip, now) {
            return Gate::Refuse(wait);
        }
        match g.accounts.over(&account.to_owned(), now) {
            None => Gate::Go,
            Some(_) if g.known.contains(&(account.to_owned(), ip)) => Gate::Delay(self.known_delay),
            Some(wait) => Gate::Refuse(wait),
        }
    }

    pub fn failed(&self, account: &str, ip: IpAddr, now: Instant) {
        let mut g = self.lock();
        g.accounts.add(account.to_owned(), now);
        g.addresses.add(ip, now);
    }

    /// The owner proved the password: earlier failures on the account no longer count.
    pub fn succeeded(&self, account: &str, ip: IpAddr) {
        let mut g = self.lock();
        g.accounts.clear(&account.to_owned());
        if g.known.len() > 100_000 {
            g.known.clear();
        }
        g.known.insert((account.to_owned(), ip));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> SigninLimits {
        SigninLimits::new(&AuthSettings {
            session_hours: 12,
            login_burst: 0,
            login_per_minute: 0,
            min_password_chars: 8,
            login_account_failures: 5,
            login_address_failures: 100,
            login_failure_window_secs: 900,
            login_known_address_delay_ms: 2000,
        })
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn successes_are_never_counted() {
        let l = limits();
        let t = Instant::now();
        for n in 0..500 {
            let who = format!("u{n}@example.com");
            assert_eq!(l.gate(&who, ip("192.0.2.1"), t), Gate::Go);
            l.succeeded(&who, ip("192.0.2.1"));
        }
    }

    #[test]
    fn an_account_over_its_failures_is_delayed_for_known_addresses_and_refused_elsewhere() {
        let l = limits();
        let t = Instant::now();
        let (home, attacker) = (ip("192.0.2.1"), ip("203.0.113.5"));
        l.succeeded("a@example.com", home);
        for _ in 0..5 {
            assert_eq!(l.gate("a@example.com", attacker, t), Gate::Go);
            l.failed("a@example.com", attacker, t);
        }
        assert!(matches!(
            l.gate("a@example.com", attacker, t),
            Gate::Refuse(_)
        ));
        assert!(matches!(
            l.gate("a@example.com", ip("198.51.100.9"), t),
            Gate::Refuse(_)
        ));
        assert_eq!(
            l.gate("a@example.com", home, t),
            Gate::Delay(Duration::from_secs(2))
        );
        assert_eq!(l.gate("b@example.com", attacker, t), Gate::Go);
        let later = t + Duration::from_secs(900);
        assert_eq!(l.gate("a@example.com", attacker, later), Gate::Go);
    }

    #[test]
    fn an_address_over_its_failures_is_refused_for_every_account() {
        let l = limits();
        let t = Instant::now();
        for n in 0..100 {
            l.failed(&format!("u{n}@example.com"), ip("192.0.2.1"), t);
        }
        assert!(matches!(
            l.gate("new@example.com", ip("192.0.2.1"), t),
            Gate::Refuse(_)
        ));
        assert_eq!(l.gate("new@example.com", ip("192.0.2.2"), t), Gate::Go);
    }
}
