//! Prometheus metrics (prometheus-client), served on their own listener
//! (`metrics_bind`, loopback by default) rather than on the public API.
//!
//! Label values come only from fixed sets, so no request can add a series:
//! the HTTP method is one of the standard methods or `other`, the route is a
//! matched route template or `unmatched`, the status is one the server
//! itself answers, the error code is an `ErrorCode`.

use crate::state::AppState;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

const BOUNDS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The methods that get their own label value; any other is `other`.
const METHODS: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE",
];

/// Labels of one HTTP request series.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    route: String,
    method: &'static str,
    status: u16,
}

/// Labels of the error counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    code: &'static str,
}

fn latency_histogram() -> Histogram {
    Histogram::new(BOUNDS)
}

/// Every metric of the server.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    http: Family<HttpLabels, Histogram, fn() -> Histogram>,
    errors: Family<ErrorLabels, Counter>,
    /// Messages stored (REST and WebSocket).
    pub messages_sent: Counter,
    /// Open authenticated WebSocket connections.
    pub connections: Gauge,
    /// Persisted -> written to the recipient's socket, in seconds.
    pub message_latency: Histogram,
    /// Connections closed because they could not keep up.
    pub slow_consumers: Counter,
    /// Active logins (refresh families), set when scraped.
    pub active_sessions: Gauge,
    /// Redis commands that failed (the node fell back to its own limits).
    pub redis_errors: Counter,
    /// Frames for other nodes dropped because the publish queue was full.
    pub cluster_dropped: Counter,
    /// Messages in a conversation when it is archived or closed
    /// (messagesPerSession).
    pub messages_per_session: Histogram,
    /// From the oldest message waiting for an answer to the answer, seconds
    /// (responseTime).
    pub response_time: Histogram,
    /// Users who logged in or refreshed a login in the last 24 h
    /// (userEngagement); set by the maintenance pass.
    pub user_engagement: Gauge,
}

/// Buckets of `messages_per_session`.
fn session_size_histogram() -> Histogram {
    Histogram::new([1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0])
}

/// Buckets of `response_time`: a minute to a week.
fn response_time_histogram() -> Histogram {
    Histogram::new([
        60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0, 14_400.0, 28_800.0, 86_400.0, 172_800.0,
        259_200.0, 604_800.0,
    ])
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let http = Family::<HttpLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram,
        );
        let errors = Family::<ErrorLabels, Counter>::default();
        let messages_sent = Counter::default();
        let connections = Gauge::default();
        let message_latency = latency_histogram();
        let slow_consumers = Counter::default();
        let active_sessions = Gauge::default();
        let redis_errors = Counter::default();
        let cluster_dropped = Counter::default();
        let messages_per_session = session_size_histogram();
        let response_time = response_time_histogram();
        let user_engagement = Gauge::default();
        registry.register(
            "dmp_messages_per_session",
            "Messages in a conversation when it is archived or closed (messagesPerSession)",
            messages_per_session.clone(),
        );
        registry.register(
            "dmp_response_time_seconds",
            "From the oldest message waiting for an answer to the answer (responseTime)",
            response_time.clone(),
        );
        registry.register(
            "dmp_user_engagement",
            "Users who logged in or refreshed a login in the last 24 hours (userEngagement)",
            user_engagement.clone(),
        );
        registry.register(
            "dmp_redis_errors",
            "Redis commands that failed (cluster mode; the node used its own limits)",
            redis_errors.clone(),
        );
        registry.register(
            "dmp_cluster_frames_dropped",
            "Frames for other nodes dropped because the publish queue was full",
            cluster_dropped.clone(),
        );
        registry.register(
            "dmp_http_request_duration_seconds",
            "HTTP request latency by route, method and status",
            http.clone(),
        );
        registry.register(
            "dmp_errors",
            "Errors returned, by code (HTTP and WebSocket)",
            errors.clone(),
        );
        registry.register(
            "dmp_messages_sent",
            "Messages stored",
            messages_sent.clone(),
        );
        registry.register(
            "dmp_active_sessions",
            "Active logins",
            active_sessions.clone(),
        );
        registry.register(
            "dmp_ws_connection_count",
            "Open authenticated WebSocket connections (connectionCount)",
            connections.clone(),
        );
        registry.register(
            "dmp_ws_slow_consumers",
            "Connections closed for not keeping up",
            slow_consumers.clone(),
        );
        registry.register(
            "dmp_message_latency_seconds",
            "From persisted to written on the recipient's socket (messageLatency)",
            message_latency.clone(),
        );
        Self {
            registry,
            http,
            errors,
            messages_sent,
            connections,
            message_latency,
            slow_consumers,
            active_sessions,
            redis_errors,
            cluster_dropped,
            messages_per_session,
            response_time,
            user_engagement,
        }
    }
}

/// The label value of a method: itself when standard, else `other`.
fn method_label(method: &str) -> &'static str {
    METHODS
        .iter()
        .find(|m| **m == method)
        .copied()
        .unwrap_or("other")
}

impl Metrics {
    /// Records one HTTP request. `route` is the matched route template, or
    /// `None` for a request that matched no route.
    pub fn http_request(&self, route: Option<&str>, method: &str, status: u16, d: Duration) {
        let labels = HttpLabels {
            route: route.unwrap_or("unmatched").to_owned(),
            method: method_label(method),
            status,
        };
        self.http.get_or_create(&labels).observe(d.as_secs_f64());
    }

    /// Counts one error by code (HTTP and WebSocket).
    pub fn error(&self, code: &'static str) {
        self.errors.get_or_create(&ErrorLabels { code }).inc();
    }

    /// The exposition text (OpenMetrics).
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(8192);
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            tracing::error!("cannot encode metrics");
        }
        out
    }
}

/// `GET /metrics` on the metrics listener.
async fn scrape(State(state): State<AppState>) -> Response {
    state
        .metrics
        .active_sessions
        .set(i64::try_from(state.directory.login_count()).unwrap_or(i64::MAX));
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}

/// Binds the metrics listener when `metrics_bind` is set.
pub async fn bind(addr: Option<SocketAddr>) -> anyhow::Result<Option<TcpListener>> {
    let Some(addr) = addr else { return Ok(None) };
    let listener = TcpListener::bind(addr).await.map_err(|e| {
        anyhow::anyhow!("cannot bind the metrics address {addr} (setting metrics_bind): {e}")
    })?;
    Ok(Some(listener))
}

/// Serves `/metrics` (plain HTTP) on `listener` until shutdown.
pub fn spawn(
    listener: TcpListener,
    state: AppState,
    mut shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    let app = Router::new()
        .route("/metrics", get(scrape))
        .fallback(|| async { StatusCode::NOT_FOUND })
        .with_state(state);
    tokio::spawn(async move {
        let stop = async move {
            let _ = shutdown.wait_for(|v| *v).await;
        };
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(stop)
            .await
        {
            tracing::error!(error = %e, "metrics server failed");
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_buckets_cumulatively() {
        let m = Metrics::default();
        m.message_latency.observe(0.0003);
        m.message_latency.observe(0.003);
        m.error("NOT_FOUND");
        let text = m.render();
        assert!(
            text.contains("dmp_message_latency_seconds_bucket{le=\"0.0005\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("dmp_message_latency_seconds_bucket{le=\"0.005\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("dmp_message_latency_seconds_count 2"),
            "{text}"
        );
        assert!(
            text.contains("dmp_errors_total{code=\"NOT_FOUND\"} 1"),
            "{text}"
        );
    }

    #[test]
    fn made_up_methods_add_no_series() {
        let m = Metrics::default();
        m.http_request(Some("/healthz"), "GET", 200, Duration::from_millis(1));
        let before = m.render().lines().count();
        for i in 0..50 {
            m.http_request(None, &format!("BREW{i}"), 405, Duration::from_millis(1));
        }
        let after = m.render();
        // One `other` series for all 50, none per method.
        assert!(!after.contains("BREW"), "{after}");
        assert!(after.contains("method=\"other\""), "{after}");
        let one_series = BOUNDS.len() + 3;
        assert_eq!(after.lines().count(), before + one_series, "{after}");
    }
}
