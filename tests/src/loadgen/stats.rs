//! What the connection tasks record while traffic flows: global counters
//! (relaxed atomics), per-pair receive bitmaps (one small lock per pair, so
//! the two ends of different pairs never contend), and latency histograms
//! sharded by connection.

use hdrhistogram::Histogram;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// Number of latency histogram shards.
const SHARDS: usize = 32;
/// Highest latency recorded, in microseconds (a minute).
const MAX_MICROS: u64 = 60_000_000;

/// Locks a mutex, ignoring poisoning (a panicked task only loses its own update).
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A growable set of sequence numbers.
#[derive(Debug, Default, Clone)]
pub struct BitSet {
    words: Vec<u64>,
}

impl BitSet {
    /// Adds `i`; true when it was not there yet.
    pub fn insert(&mut self, i: u64) -> bool {
        let w = (i / 64) as usize;
        if w >= self.words.len() {
            self.words.resize(w + 1, 0);
        }
        let mask = 1u64 << (i % 64);
        let fresh = self.words[w] & mask == 0;
        self.words[w] |= mask;
        fresh
    }

    /// How many members are below `n`.
    pub fn count_below(&self, n: u64) -> u64 {
        let full = (n / 64) as usize;
        let mut count: u64 = self
            .words
            .iter()
            .take(full)
            .map(|w| u64::from(w.count_ones()))
            .sum();
        let rest = n % 64;
        if rest > 0 {
            if let Some(w) = self.words.get(full) {
                count += u64::from((w & ((1u64 << rest) - 1)).count_ones());
            }
        }
        count
    }
}

/// What the recipients of one pair have received, at user level.
#[derive(Debug)]
pub struct PairReceived {
    /// `from[recipient role][sender device]`: sequence numbers received by
    /// any connection of that recipient.
    pub from: [Vec<BitSet>; 2],
}

impl PairReceived {
    /// Empty bitmaps for `devices` devices per user.
    pub fn new(devices: usize) -> Self {
        Self {
            from: [
                vec![BitSet::default(); devices],
                vec![BitSet::default(); devices],
            ],
        }
    }
}

/// Kinds of incoming frames, counted separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameKind {
    /// `ready`.
    Ready,
    /// `ack`.
    Ack,
    /// `message`.
    Message,
    /// A `send` forwarded by the bare relay.
    Send,
    /// `notification`.
    Notification,
    /// `presence`.
    Presence,
    /// `status`.
    Status,
    /// `typing`.
    Typing,
    /// `pong`.
    Pong,
    /// `error`.
    Error,
    /// A `delivered` forwarded by the bare relay.
    Delivered,
    /// Anything else.
    Other,
}

impl FrameKind {
    /// Every kind, in counter order.
    pub const ALL: [FrameKind; 12] = [
        Self::Ready,
        Self::Ack,
        Self::Message,
        Self::Send,
        Self::Notification,
        Self::Presence,
        Self::Status,
        Self::Typing,
        Self::Pong,
        Self::Error,
        Self::Delivered,
        Self::Other,
    ];

    /// The kind of a frame `type`.
    pub fn of(kind: &str) -> Self {
        match kind {
            "ready" => Self::Ready,
            "ack" => Self::Ack,
            "message" => Self::Message,
            "send" => Self::Send,
            "notification" => Self::Notification,
            "presence" => Self::Presence,
            "status" => Self::Status,
            "typing" => Self::Typing,
            "pong" => Self::Pong,
            "error" => Self::Error,
            "delivered" => Self::Delivered,
            _ => Self::Other,
        }
    }

    /// The wire name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Ready => "ready",
            Self::Ack => "ack",
            Self::Message => "message",
            Self::Send => "send",
            Self::Notification => "notification",
            Self::Presence => "presence",
            Self::Status => "status",
            Self::Typing => "typing",
            Self::Pong => "pong",
            Self::Error => "error",
            Self::Delivered => "delivered",
            Self::Other => "other",
        }
    }

    fn index(self) -> usize {
        Self::ALL
            .iter()
            .position(|k| *k == self)
            .unwrap_or(Self::ALL.len() - 1)
    }
}

/// Run-wide counters.
#[derive(Debug, Default)]
pub struct Counters {
    /// Sends written.
    pub sent: AtomicU64,
    /// Sends written inside the measured window.
    pub sent_in_window: AtomicU64,
    /// Acks of this run's sends.
    pub acked: AtomicU64,
    /// Messages received by their recipient user for the first time.
    pub received: AtomicU64,
    /// Of those, received inside the measured window.
    pub received_in_window: AtomicU64,
    /// Messages received more than once on the same connection.
    pub duplicated: AtomicU64,
    /// Own messages echoed to the sender's other devices.
    pub echoes: AtomicU64,
    /// Messages whose id does not belong to the receiving pair or run.
    pub foreign: AtomicU64,
    /// `error` frames.
    pub errors: AtomicU64,
    /// `error` frames about one of this run's sends.
    pub send_errors: AtomicU64,
    /// Scheduled sends dropped because the connection's queue was full.
    pub client_dropped: AtomicU64,
    /// `delivered` receipts written.
    pub receipts_sent: AtomicU64,
    /// Receipts dropped because the connection's queue was full.
    pub receipts_dropped: AtomicU64,
    /// Connections that ended before the run closed them.
    pub disconnects: AtomicU64,
    frames: [AtomicU64; FrameKind::ALL.len()],
}

impl Counters {
    /// Counts an incoming frame.
    pub fn frame(&self, kind: FrameKind) {
        self.frames[kind.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// Incoming frames by kind (kinds never seen are left out).
    pub fn frames(&self) -> BTreeMap<String, u64> {
        FrameKind::ALL
            .iter()
            .map(|k| {
                (
                    k.name().to_owned(),
                    self.frames[k.index()].load(Ordering::Relaxed),
                )
            })
            .filter(|(_, n)| *n > 0)
            .collect()
    }
}

/// Adds one to a counter.
pub fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// Reads a counter.
pub fn get(c: &AtomicU64) -> u64 {
    c.load(Ordering::Relaxed)
}

/// Latency histograms in microseconds, sharded by connection.
#[derive(Debug)]
pub struct Latencies {
    shards: Vec<Mutex<Histogram<u64>>>,
}

impl Latencies {
    /// Empty histograms (1 µs .. 60 s, three significant digits).
    pub fn new() -> anyhow::Result<Self> {
        let mut shards = Vec::with_capacity(SHARDS);
        for _ in 0..SHARDS {
            shards.push(Mutex::new(Histogram::new_with_bounds(1, MAX_MICROS, 3)?));
        }
        Ok(Self { shards })
    }

    /// Records a latency seen by connection `conn`.
    pub fn record(&self, conn: usize, nanos: u64) {
        let micros = (nanos / 1000).max(1);
        lock(&self.shards[conn % SHARDS]).saturating_record(micros);
    }

    /// All shards together.
    pub fn merged(&self) -> anyhow::Result<Histogram<u64>> {
        let mut all = Histogram::new_with_bounds(1, MAX_MICROS, 3)?;
        for s in &self.shards {
            all.add(&*lock(s))
                .map_err(|e| anyhow::anyhow!("histogram: {e:?}"))?;
        }
        Ok(all)
    }
}

/// Quantiles of a latency histogram in milliseconds.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Quantiles {
    /// Samples.
    pub count: u64,
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Largest.
    pub max: f64,
    /// Mean.
    pub mean: f64,
}

impl Quantiles {
    /// Reads the quantiles of `h` (microseconds) as milliseconds.
    pub fn of(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Self::default();
        }
        let ms = |us: u64| us as f64 / 1000.0;
        Self {
            count: h.len(),
            p50: ms(h.value_at_quantile(0.5)),
            p99: ms(h.value_at_quantile(0.99)),
            p999: ms(h.value_at_quantile(0.999)),
            max: ms(h.max()),
            mean: h.mean().round() / 1000.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bitset_counts() {
        let mut b = BitSet::default();
        assert!(b.insert(0));
        assert!(b.insert(63));
        assert!(b.insert(64));
        assert!(b.insert(200));
        assert!(!b.insert(64));
        assert_eq!(b.count_below(0), 0);
        assert_eq!(b.count_below(1), 1);
        assert_eq!(b.count_below(64), 2);
        assert_eq!(b.count_below(65), 3);
        assert_eq!(b.count_below(1000), 4);
    }

    #[test]
    fn latencies_merge() {
        let l = Latencies::new().unwrap();
        l.record(0, 1_000_000);
        l.record(5, 3_000_000);
        let q = Quantiles::of(&l.merged().unwrap());
        assert_eq!(q.count, 2);
        assert!((q.max - 3.0).abs() < 0.01);
        assert!((q.p50 - 1.0).abs() < 0.01);
    }
}
