//! Token buckets: per-user send limits (shared by REST and WebSocket),
//! per-account login throttling with device budgets, per-source limits
//! (governor) and the aggregation of anonymous audit rows. The model is
//! described in docs/security.md, "Throttling". In a cluster the send and
//! upload limits, the login throttle and the per-source limits are shared by
//! every node through Redis (`crate::cluster`); each keeps its in-process
//! version as the fallback when Redis does not answer.

use crate::cluster::Redis;
use std::sync::Arc;

use dashmap::DashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
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
    /// The cluster's buckets and this limiter's name in their keys.
    shared: Option<(Arc<Redis>, &'static str)>,
}

impl<K: Eq + Hash + Clone + std::fmt::Display> RateLimiter<K> {
    /// `rate` per second with bursts of `burst`.
    pub fn new(rate: f64, burst: f64) -> Self {
        Self {
            buckets: DashMap::new(),
            rate,
            burst,
            shared: None,
        }
    }

    /// The same budget for every node of a cluster (`dmp:rl:NAME:KEY` in Redis).
    #[must_use]
    pub fn shared(mut self, redis: Option<Arc<Redis>>, name: &'static str) -> Self {
        self.shared = redis.map(|r| (r, name));
        self
    }

    /// Takes one token for `key` (of the cluster's budget when shared), or
    /// returns the wait.
    pub async fn check(&self, key: &K) -> Result<(), Duration> {
        if let Some((r, name)) = &self.shared {
            if let Ok(taken) = r
                .take_token(&format!("dmp:rl:{name}:{key}"), self.rate, self.burst)
                .await
            {
                return taken;
            }
        }
        self.check_here(key)
    }

    /// Takes one token for `key` from this node's buckets, or returns the wait.
    pub fn check_here(&self, key: &K) -> Result<(), Duration> {
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

/// Failed-login bookkeeping per throttle key: `name:<lower-case name>` for
/// anonymous attempts (known name or not, so that locking says nothing about
/// which names exist), `device:<nonce>` for attempts that carry a valid
/// device token (their own budget, OWASP's device cookies).
///
/// Every attempt is counted as a failure *before* the password hash runs
/// ([`LoginThrottle::reserve`]) and only a success gives it back, so N
/// parallel guesses run at most `max_failures` hashes.
#[derive(Debug)]
pub struct LoginThrottle {
    entries: DashMap<String, ThrottleEntry>,
    max_failures: u32,
    base: Duration,
    max: Duration,
    /// The cluster's throttle, when shared.
    shared: Option<Arc<Redis>>,
}

/// The Redis key of a throttle key: hashed, so that Redis holds no account name.
fn shared_throttle_key(key: &str) -> String {
    use sha2::{Digest, Sha256};
    format!(
        "dmp:lt:{}",
        hex::encode(&Sha256::digest(key.as_bytes())[..16])
    )
}

#[derive(Debug, Clone, Copy)]
struct ThrottleEntry {
    failures: u32,
    locked_until: Option<Instant>,
    last: Instant,
}

/// The throttle key of anonymous attempts on a name.
pub fn name_key(name: &str) -> String {
    format!("name:{}", name.to_lowercase())
}

/// The throttle key of attempts made with a device token.
pub fn device_key(nonce: &str) -> String {
    format!("device:{nonce}")
}

impl LoginThrottle {
    /// Locks a key after `max_failures`, for `base` doubling up to `max`.
    pub fn new(max_failures: u32, base: Duration, max: Duration) -> Self {
        Self {
            entries: DashMap::new(),
            max_failures: max_failures.max(1),
            base,
            max,
            shared: None,
        }
    }

    /// The same throttle for every node of a cluster.
    #[must_use]
    pub fn shared(mut self, redis: Option<Arc<Redis>>) -> Self {
        self.shared = redis;
        self
    }

    /// Takes one attempt of `key`'s budget, counted as a failure until
    /// [`LoginThrottle::success`]; `Err(wait)` while the key is locked.
    pub async fn reserve(&self, key: &str) -> Result<(), Duration> {
        if let Some(r) = &self.shared {
            if let Ok(v) = r
                .throttle_reserve(
                    &shared_throttle_key(key),
                    self.max_failures,
                    self.base,
                    self.max,
                )
                .await
            {
                return v;
            }
        }
        self.reserve_at(key, Instant::now())
    }

    /// Whether `key` is locked now (without taking anything).
    pub async fn is_locked(&self, key: &str) -> bool {
        if let Some(r) = &self.shared {
            if let Ok(locked) = r.throttle_locked(&shared_throttle_key(key)).await {
                return locked;
            }
        }
        self.is_locked_here(key)
    }

    /// Clears the key after a success.
    pub async fn success(&self, key: &str) {
        if let Some(r) = &self.shared {
            r.throttle_clear(&shared_throttle_key(key)).await;
        }
        self.entries.remove(key);
    }

    fn reserve_at(&self, key: &str, now: Instant) -> Result<(), Duration> {
        let mut e = self.entries.entry(key.to_owned()).or_insert(ThrottleEntry {
            failures: 0,
            locked_until: None,
            last: now,
        });
        if let Some(until) = e.locked_until.filter(|u| *u > now) {
            return Err(until - now);
        }
        e.failures = e.failures.saturating_add(1);
        e.last = now;
        if e.failures >= self.max_failures {
            let extra = (e.failures - self.max_failures).min(16);
            e.locked_until = Some(now + self.base.saturating_mul(1u32 << extra).min(self.max));
        }
        Ok(())
    }

    /// Whether `key` is locked now on this node (without taking anything).
    fn is_locked_here(&self, key: &str) -> bool {
        let now = Instant::now();
        self.entries
            .get(key)
            .and_then(|e| e.locked_until)
            .is_some_and(|u| u > now)
    }

    /// Drops keys that are not locked and saw no attempt for the longest
    /// lock, so that names tried once do not stay in memory.
    pub fn prune(&self) {
        self.prune_at(Instant::now());
    }

    fn prune_at(&self, now: Instant) {
        let keep_for = self.max.max(self.base);
        self.entries.retain(|_, e| {
            e.locked_until.is_some_and(|u| u > now)
                || now.saturating_duration_since(e.last) < keep_for
        });
    }

    /// Number of keys held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Per-source (IP address) limits with `governor`: a GCRA bucket of
/// `per_minute` requests per minute, bursting to `per_minute`.
#[derive(Debug)]
pub struct SourceLimiter {
    limiter: governor::DefaultKeyedRateLimiter<IpAddr>,
    clock: governor::clock::DefaultClock,
    per_minute: u32,
    /// The cluster's buckets and this limiter's name in their keys.
    shared: Option<(Arc<Redis>, &'static str)>,
}

impl SourceLimiter {
    /// `per_minute` requests per minute per address.
    pub fn per_minute(per_minute: u32) -> Self {
        let n = NonZeroU32::new(per_minute.max(1)).unwrap_or(NonZeroU32::MIN);
        Self {
            limiter: governor::RateLimiter::keyed(governor::Quota::per_minute(n)),
            clock: governor::clock::DefaultClock::default(),
            per_minute: n.get(),
            shared: None,
        }
    }

    /// The same budget for every node of a cluster (`dmp:rl:NAME:IP` in Redis).
    #[must_use]
    pub fn shared(mut self, redis: Option<Arc<Redis>>, name: &'static str) -> Self {
        self.shared = redis.map(|r| (r, name));
        self
    }

    /// Takes one request of `ip`'s budget (the cluster's when shared), or
    /// says how long to wait.
    pub async fn check(&self, ip: IpAddr) -> Result<(), Duration> {
        if let Some((r, name)) = &self.shared {
            let rate = f64::from(self.per_minute) / 60.0;
            if let Ok(taken) = r
                .take_token(
                    &format!("dmp:rl:{name}:{ip}"),
                    rate,
                    f64::from(self.per_minute),
                )
                .await
            {
                return taken;
            }
        }
        self.check_here(ip)
    }

    /// Takes one request of `ip`'s budget on this node, or says how long to wait.
    pub fn check_here(&self, ip: IpAddr) -> Result<(), Duration> {
        use governor::clock::Clock;
        self.limiter
            .check_key(&ip)
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }

    /// Forgets addresses whose budget is full again.
    pub fn prune(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }

    /// Number of addresses held.
    pub fn len(&self) -> usize {
        self.limiter.len()
    }

    /// Whether no address is held.
    pub fn is_empty(&self) -> bool {
        self.limiter.is_empty()
    }
}

/// Aggregation of audit rows for anonymous failures (unknown names, unknown
/// refresh tokens, foreign-Origin upgrades, locked names): at most one row
/// per (source, action) per window; the next row carries how many were
/// folded into it, so a flood does not grow the trail.
#[derive(Debug)]
pub struct AnonAudit {
    windows: DashMap<(IpAddr, &'static str), (Instant, u64)>,
    window: Duration,
}

impl AnonAudit {
    /// One row per source and action per `window`.
    pub fn new(window: Duration) -> Self {
        Self {
            windows: DashMap::new(),
            window,
        }
    }

    /// `Some(folded)` when a row must be written now (`folded` earlier
    /// events of the previous window were not written); `None` when this
    /// event is only counted.
    pub fn admit(&self, ip: IpAddr, action: &'static str) -> Option<u64> {
        self.admit_at(ip, action, Instant::now())
    }

    fn admit_at(&self, ip: IpAddr, action: &'static str, now: Instant) -> Option<u64> {
        match self.windows.entry((ip, action)) {
            dashmap::Entry::Vacant(v) => {
                v.insert((now, 0));
                Some(0)
            }
            dashmap::Entry::Occupied(mut o) => {
                let (start, folded) = *o.get();
                if now.saturating_duration_since(start) >= self.window {
                    o.insert((now, 0));
                    Some(folded)
                } else {
                    o.get_mut().1 += 1;
                    None
                }
            }
        }
    }

    /// Drops keys whose window ended; returns those that folded events,
    /// with their count, so that one summary row can be written for each.
    pub fn prune(&self) -> Vec<(IpAddr, &'static str, u64)> {
        self.prune_at(Instant::now())
    }

    fn prune_at(&self, now: Instant) -> Vec<(IpAddr, &'static str, u64)> {
        let mut flushed = Vec::new();
        self.windows.retain(|(ip, action), (start, folded)| {
            if now.saturating_duration_since(*start) < self.window {
                return true;
            }
            if *folded > 0 {
                flushed.push((*ip, *action, *folded));
            }
            false
        });
        flushed
    }

    /// Number of keys held.
    pub fn len(&self) -> usize {
        self.windows.len()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.windows.is_empty()
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

    #[tokio::test]
    async fn throttle_locks_any_name() {
        let t = LoginThrottle::new(3, Duration::from_secs(30), Duration::from_secs(900));
        for _ in 0..3 {
            assert!(t.reserve(&name_key("Nobody")).await.is_ok());
        }
        assert!(t.reserve(&name_key("NOBODY")).await.is_err());
        assert!(t.is_locked(&name_key("nobody")).await);
        t.success(&name_key("nobody")).await;
        assert!(t.reserve(&name_key("nobody")).await.is_ok());
    }

    #[test]
    fn reservations_count_before_the_outcome() {
        // Attempts that have not finished yet already use the budget.
        let t = LoginThrottle::new(5, Duration::from_secs(30), Duration::from_secs(900));
        let admitted = (0..24)
            .filter(|_| t.reserve_at(&name_key("jean"), Instant::now()).is_ok())
            .count();
        assert_eq!(admitted, 5);
        // A device key has its own budget.
        assert!(t.reserve_at(&device_key("abc"), Instant::now()).is_ok());
    }

    #[test]
    fn lock_doubles_after_it_expires() {
        let t = LoginThrottle::new(2, Duration::from_secs(30), Duration::from_secs(900));
        let t0 = Instant::now();
        assert!(t.reserve_at("k", t0).is_ok());
        assert!(t.reserve_at("k", t0).is_ok());
        let wait = t.reserve_at("k", t0).unwrap_err();
        assert_eq!(wait, Duration::from_secs(30));
        let t1 = t0 + Duration::from_secs(31);
        assert!(t.reserve_at("k", t1).is_ok());
        assert_eq!(t.reserve_at("k", t1).unwrap_err(), Duration::from_secs(60));
    }

    #[test]
    fn throttle_map_is_pruned() {
        let t = LoginThrottle::new(5, Duration::from_secs(30), Duration::from_secs(900));
        let t0 = Instant::now();
        for i in 0..1000 {
            t.reserve_at(&name_key(&format!("sprayed.{i}")), t0)
                .unwrap();
        }
        for _ in 0..5 {
            let _ = t.reserve_at("locked", t0 + Duration::from_secs(800));
        }
        assert_eq!(t.len(), 1001);
        t.prune_at(t0 + Duration::from_secs(10));
        assert_eq!(t.len(), 1001, "recent keys are kept");
        t.prune_at(t0 + Duration::from_secs(901));
        assert_eq!(t.len(), 1, "only the locked key is left");
        t.prune_at(t0 + Duration::from_secs(800 + 1801));
        assert!(t.is_empty());
    }

    #[test]
    fn anonymous_rows_are_folded_per_source_and_window() {
        let a = AnonAudit::new(Duration::from_secs(60));
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        let t0 = Instant::now();
        assert_eq!(a.admit_at(ip, "login", t0), Some(0));
        let written = (1..1000)
            .filter(|i| {
                a.admit_at(ip, "login", t0 + Duration::from_millis(*i))
                    .is_some()
            })
            .count();
        assert_eq!(written, 0);
        assert_eq!(a.admit_at(other, "login", t0), Some(0));
        assert_eq!(a.admit_at(ip, "refresh", t0), Some(0));
        assert_eq!(
            a.admit_at(ip, "login", t0 + Duration::from_secs(61)),
            Some(999)
        );
        a.admit_at(ip, "login", t0 + Duration::from_secs(62));
        let flushed = a.prune_at(t0 + Duration::from_secs(200));
        assert_eq!(flushed, vec![(ip, "login", 1)]);
        assert!(a.is_empty());
    }

    #[test]
    fn source_limiter_refuses_past_the_quota() {
        let l = SourceLimiter::per_minute(3);
        let ip: IpAddr = "198.51.100.7".parse().unwrap();
        for _ in 0..3 {
            assert!(l.check_here(ip).is_ok());
        }
        let wait = l.check_here(ip).unwrap_err();
        assert!(wait > Duration::from_secs(1) && wait <= Duration::from_secs(20));
        assert!(l.check_here("198.51.100.8".parse().unwrap()).is_ok());
        assert_eq!(l.len(), 2);
    }
}
