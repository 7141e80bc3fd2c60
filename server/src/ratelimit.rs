//! Token buckets: per-user send limits (shared by REST and WebSocket) and
//! per-account login throttling.

use dashmap::DashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// A token bucket.
#[derive(Clone, Copy, Debug)]
pub struct Bucket {
    tokens: f64,
    last: Instant,
}

impl Bucket {
    /// A full bucket.
    pub fn full(burst: f64, now: Instant) -> Self {
        Self {
            tokens: burst,
            last: now,
        }
    }

    /// Takes one token, or says how long until one is available.
    pub fn take(&mut self, rate: f64, burst: f64, now: Instant) -> Result<(), Duration> {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate).min(burst);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - self.tokens) / rate))
        }
    }
}

/// Buckets keyed by user (or anything).
#[derive(Debug)]
pub struct RateLimiter<K: Eq + Hash> {
    buckets: DashMap<K, Bucket>,
    rate: f64,
    burst: f64,
}

impl<K: Eq + Hash + Clone> RateLimiter<K> {
    /// `rate` per second with bursts of `burst`.
    pub fn new(rate: f64, burst: f64) -> Self {
        Self {
            buckets: DashMap::new(),
            rate,
            burst,
        }
    }

    /// Takes one token for `key`, or returns the wait.
    pub fn check(&self, key: &K) -> Result<(), Duration> {
        let now = Instant::now();
        let mut b = self
            .buckets
            .entry(key.clone())
            .or_insert_with(|| Bucket::full(self.burst, now));
        b.take(self.rate, self.burst, now)
    }

    /// Drops buckets that are full again, to bound memory.
    pub fn prune(&self) {
        let now = Instant::now();
        let full_after = self.burst / self.rate;
        self.buckets
            .retain(|_, b| now.saturating_duration_since(b.last).as_secs_f64() < full_after);
    }
}

/// Failed-login bookkeeping per account name (known or not, so that locking
/// says nothing about which names exist).
#[derive(Debug)]
pub struct LoginThrottle {
    entries: DashMap<String, (u32, Option<Instant>)>,
    max_failures: u32,
    base: Duration,
    max: Duration,
}

impl LoginThrottle {
    /// Locks a name after `max_failures`, for `base` doubling up to `max`.
    pub fn new(max_failures: u32, base: Duration, max: Duration) -> Self {
        Self {
            entries: DashMap::new(),
            max_failures,
            base,
            max,
        }
    }

    /// `Err(wait)` while the name is locked.
    pub fn check(&self, name: &str) -> Result<(), Duration> {
        let key = name.to_lowercase();
        match self.entries.get(&key).and_then(|e| e.1) {
            Some(until) => {
                let now = Instant::now();
                if until > now {
                    Err(until - now)
                } else {
                    Ok(())
                }
            }
            None => Ok(()),
        }
    }

    /// Records a failure; locks the name once the threshold is passed.
    pub fn failure(&self, name: &str) {
        let mut e = self.entries.entry(name.to_lowercase()).or_insert((0, None));
        e.0 += 1;
        if e.0 >= self.max_failures {
            let extra = (e.0 - self.max_failures).min(16);
            let lock = self.base.saturating_mul(1u32 << extra).min(self.max);
            e.1 = Some(Instant::now() + lock);
        }
    }

    /// Clears the name after a success.
    pub fn success(&self, name: &str) {
        self.entries.remove(&name.to_lowercase());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_refills() {
        let t0 = Instant::now();
        let mut b = Bucket::full(2.0, t0);
        assert!(b.take(1.0, 2.0, t0).is_ok());
        assert!(b.take(1.0, 2.0, t0).is_ok());
        let wait = b.take(1.0, 2.0, t0).unwrap_err();
        assert!(wait.as_secs_f64() > 0.9);
        assert!(b.take(1.0, 2.0, t0 + Duration::from_secs(1)).is_ok());
    }

    #[test]
    fn throttle_locks_any_name() {
        let t = LoginThrottle::new(3, Duration::from_secs(30), Duration::from_secs(900));
        for _ in 0..3 {
            assert!(t.check("Nobody").is_ok());
            t.failure("nobody");
        }
        assert!(t.check("NOBODY").is_err());
        t.success("nobody");
        assert!(t.check("nobody").is_ok());
    }
}
