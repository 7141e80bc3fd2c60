//! Prometheus metrics in the text exposition format, kept with atomics so
//! that recording costs a few nanoseconds on the hot path.

use dashmap::DashMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

const BOUNDS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// A fixed-bucket histogram of seconds.
#[derive(Debug, Default)]
pub struct Histogram {
    buckets: [AtomicU64; BOUNDS.len()],
    count: AtomicU64,
    sum_nanos: AtomicU64,
}

impl Histogram {
    /// Records one observation.
    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        if let Some(i) = BOUNDS.iter().position(|b| secs <= *b) {
            self.buckets[i].fetch_add(1, Relaxed);
        }
        self.count.fetch_add(1, Relaxed);
        self.sum_nanos
            .fetch_add(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX), Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        let mut cumulative = 0;
        for (i, b) in BOUNDS.iter().enumerate() {
            cumulative += self.buckets[i].load(Relaxed);
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{b}\"}} {cumulative}");
        }
        let count = self.count.load(Relaxed);
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {count}");
        let sum = self.sum_nanos.load(Relaxed) as f64 / 1e9;
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let _ = writeln!(out, "{name}_sum{braces} {sum}");
        let _ = writeln!(out, "{name}_count{braces} {count}");
    }
}

/// Every metric of the server.
#[derive(Debug, Default)]
pub struct Metrics {
    http: DashMap<(String, String, u16), Histogram>,
    errors: DashMap<&'static str, AtomicU64>,
    /// Messages stored (REST and WebSocket).
    pub messages_sent: AtomicU64,
    /// Open authenticated WebSocket connections.
    pub connections: AtomicI64,
    /// Persisted -> written to the recipient's socket.
    pub message_latency: Histogram,
    /// Connections closed because they could not keep up.
    pub slow_consumers: AtomicU64,
    /// Active logins (refresh families), refreshed by the maintenance job.
    pub active_sessions: AtomicI64,
}

impl Metrics {
    /// Records one HTTP request.
    pub fn http_request(&self, route: &str, method: &str, status: u16, d: Duration) {
        self.http
            .entry((route.to_owned(), method.to_owned(), status))
            .or_default()
            .observe(d);
    }

    /// Counts one error by code (HTTP and WebSocket).
    pub fn error(&self, code: &'static str) {
        self.errors.entry(code).or_default().fetch_add(1, Relaxed);
    }

    /// The exposition text.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(8192);
        out.push_str("# HELP dmp_http_request_duration_seconds HTTP request latency by route, method and status.\n");
        out.push_str("# TYPE dmp_http_request_duration_seconds histogram\n");
        let mut keys: Vec<_> = self.http.iter().map(|e| e.key().clone()).collect();
        keys.sort();
        for k in keys {
            if let Some(h) = self.http.get(&k) {
                let labels = format!(
                    "route=\"{}\",method=\"{}\",status=\"{}\"",
                    escape(&k.0),
                    k.1,
                    k.2
                );
                h.render(&mut out, "dmp_http_request_duration_seconds", &labels);
            }
        }
        out.push_str("# HELP dmp_errors_total Errors returned, by code (HTTP and WebSocket).\n# TYPE dmp_errors_total counter\n");
        let mut errs: Vec<_> = self
            .errors
            .iter()
            .map(|e| (*e.key(), e.value().load(Relaxed)))
            .collect();
        errs.sort();
        for (code, n) in errs {
            let _ = writeln!(out, "dmp_errors_total{{code=\"{code}\"}} {n}");
        }
        let _ = writeln!(
            out,
            "# HELP dmp_messages_sent_total Messages stored.\n# TYPE dmp_messages_sent_total counter\ndmp_messages_sent_total {}",
            self.messages_sent.load(Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP dmp_active_sessions Active logins.\n# TYPE dmp_active_sessions gauge\ndmp_active_sessions {}",
            self.active_sessions.load(Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP dmp_ws_connection_count Open authenticated WebSocket connections (connectionCount).\n# TYPE dmp_ws_connection_count gauge\ndmp_ws_connection_count {}",
            self.connections.load(Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP dmp_ws_slow_consumers_total Connections closed for not keeping up.\n# TYPE dmp_ws_slow_consumers_total counter\ndmp_ws_slow_consumers_total {}",
            self.slow_consumers.load(Relaxed)
        );
        out.push_str("# HELP dmp_message_latency_seconds From persisted to written on the recipient's socket (messageLatency).\n");
        out.push_str("# TYPE dmp_message_latency_seconds histogram\n");
        self.message_latency
            .render(&mut out, "dmp_message_latency_seconds", "");
        out
    }
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_buckets_cumulatively() {
        let m = Metrics::default();
        m.message_latency.observe(Duration::from_micros(300));
        m.message_latency.observe(Duration::from_millis(3));
        m.error("NOT_FOUND");
        let text = m.render();
        assert!(text.contains("dmp_message_latency_seconds_bucket{le=\"0.0005\"} 1"));
        assert!(text.contains("dmp_message_latency_seconds_bucket{le=\"0.005\"} 2"));
        assert!(text.contains("dmp_message_latency_seconds_count 2"));
        assert!(text.contains("dmp_errors_total{code=\"NOT_FOUND\"} 1"));
    }
}
