//! The connection loop: accepts TCP connections, terminates TLS (with a
//! bounded handshake), and serves HTTP/1.1 with WebSocket upgrades through
//! hyper (HTTP/2 is not offered: no h2 code to expose). Every connection is bounded in time before it is upgraded:
//! the request headers must arrive within `http.header_read_timeout_secs`,
//! and a connection with no byte in either direction for
//! `http.idle_timeout_secs` is closed (docs/security.md "Transport").
//! Upgraded WebSockets leave this loop; `ws.rs` bounds them.

use crate::tls::Transport;
use axum::extract::ConnectInfo;
use axum::http::{header, HeaderValue, Request};
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tower::ServiceExt;

/// What is left of a request body that its handler did not read (a request
/// refused before its body: wrong type, too large, unauthenticated) is read
/// and dropped before the answer, up to this much and this long: the
/// client, still sending, then reads the error instead of a connection
/// reset, which over TLS it got for most refused bodies of a few hundred
/// KiB (docs/security.md, "Connection bounds").
const DRAIN_LIMIT: u64 = 1024 * 1024;
const DRAIN_TIME: Duration = Duration::from_secs(2);

/// HSTS for one year on every HTTPS response (never on plain HTTP, where it means nothing).
const HSTS: HeaderValue = HeaderValue::from_static("max-age=31536000");

/// Connection time bounds.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// TLS handshake.
    pub handshake: Duration,
    /// Complete request headers.
    pub header_read: Duration,
    /// No byte either way.
    pub idle: Duration,
}

impl Timeouts {
    /// From the configuration.
    pub fn from_config(config: &crate::Config) -> Self {
        let secs = |s: u64, default: u64| Duration::from_secs(if s == 0 { default } else { s });
        Self {
            handshake: secs(config.tls.handshake_timeout_secs, 10),
            header_read: secs(config.http.header_read_timeout_secs, 10),
            idle: secs(config.http.idle_timeout_secs, 60),
        }
    }
}

/// Serves `router` on `listener` until `stop` turns true, then stops
/// accepting and lets open requests finish (at most 10 s).
pub async fn run(
    listener: TcpListener,
    router: Router,
    transport: Transport,
    timeouts: Timeouts,
    mut stop: watch::Receiver<bool>,
) {
    let acceptor = match &transport {
        Transport::Tls(config) => Some(tokio_rustls::TlsAcceptor::from(config.clone())),
        Transport::Plain => None,
    };
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(timeouts.header_read);
    // Every connection task holds a sender; all dropped = all connections done.
    let (done_tx, mut done_rx) = mpsc::channel::<()>(1);
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = stop.wait_for(|v| *v) => break,
        };
        let (tcp, peer) = match accepted {
            Ok(c) => c,
            Err(e) => {
                // Out of file descriptors and the like: do not spin.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        // Small frames must leave at once: no Nagle delay on messages and acks.
        let _ = tcp.set_nodelay(true);
        let conn = Conn {
            router: router.clone(),
            builder: builder.clone(),
            timeouts,
            stop: stop.clone(),
            peer,
            _done: done_tx.clone(),
        };
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            match acceptor {
                None => conn.serve(tcp, false).await,
                Some(acceptor) => {
                    match tokio::time::timeout(conn.timeouts.handshake, acceptor.accept(tcp)).await
                    {
                        Ok(Ok(tls)) => conn.serve(tls, true).await,
                        Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!("TLS handshake timed out"),
                    }
                }
            }
        });
    }
    drop(listener);
    drop(done_tx);
    if tokio::time::timeout(Duration::from_secs(10), done_rx.recv())
        .await
        .is_err()
    {
        tracing::warn!("open requests did not finish within 10 s of shutdown");
    }
}

/// One accepted connection.
struct Conn {
    router: Router,
    builder: http1::Builder,
    timeouts: Timeouts,
    stop: watch::Receiver<bool>,
    peer: SocketAddr,
    _done: mpsc::Sender<()>,
}

impl Conn {
    async fn serve<S>(mut self, io: S, https: bool)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (router, peer) = (self.router.clone(), self.peer);
        let service = hyper::service::service_fn(move |req: Request<Incoming>| {
            let (mut parts, body) = req.into_parts();
            // Handlers read the peer address (per-source limits, audit).
            parts.extensions.insert(ConnectInfo(peer));
            let unread = Unread::new(body);
            let req = Request::from_parts(parts, axum::body::Body::new(unread.clone()));
            let router = router.clone();
            async move {
                let Ok(mut res) = router.oneshot(req).await;
                unread.drain().await;
                if https {
                    res.headers_mut()
                        .insert(header::STRICT_TRANSPORT_SECURITY, HSTS);
                }
                Ok::<_, Infallible>(res)
            }
        });
        let started = Instant::now();
        let last = Arc::new(AtomicU64::new(0));
        let io = TokioIo::new(Activity::new(io, last.clone(), started));
        let conn = self.builder.serve_connection(io, service).with_upgrades();
        tokio::pin!(conn);
        let mut stopping = false;
        let result = loop {
            tokio::select! {
                r = conn.as_mut() => break r,
                _ = self.stop.wait_for(|v| *v), if !stopping => {
                    // Finish the request in progress, then close.
                    conn.as_mut().graceful_shutdown();
                    stopping = true;
                }
                () = idle(&last, started, self.timeouts.idle) => return,
            }
        };
        if let Err(e) = result {
            tracing::debug!(error = %e, "connection ended with an error");
        }
    }
}

/// Resolves once no byte moved for `limit` (milliseconds since `started` in `last`).
async fn idle(last: &AtomicU64, started: Instant, limit: Duration) {
    loop {
        let at = started + Duration::from_millis(last.load(Ordering::Relaxed)) + limit;
        if Instant::now() >= at {
            return;
        }
        tokio::time::sleep_until(at).await;
    }
}

/// An I/O stream that records when a byte last moved.
struct Activity<S> {
    inner: S,
    last: Arc<AtomicU64>,
    started: Instant,
}

impl<S> Activity<S> {
    fn new(inner: S, last: Arc<AtomicU64>, started: Instant) -> Self {
        Self {
            inner,
            last,
            started,
        }
    }

    fn touch(&self) {
        let ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last.store(ms, Ordering::Relaxed);
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Activity<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.touch();
        }
        r
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Activity<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        r
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// A request body shared between its handler and the connection, so that
/// the part the handler left unread can be drained after it answered
/// ([`DRAIN_LIMIT`]).
#[derive(Clone)]
struct Unread(Arc<parking_lot::Mutex<Option<Incoming>>>);

impl Unread {
    fn new(body: Incoming) -> Self {
        Self(Arc::new(parking_lot::Mutex::new(Some(body))))
    }

    /// Reads and drops what the handler did not read, within the bounds.
    async fn drain(&self) {
        let Some(mut body) = self.0.lock().take() else {
            return;
        };
        if hyper::body::Body::is_end_stream(&body)
            || hyper::body::Body::size_hint(&body).lower() > DRAIN_LIMIT
        {
            return;
        }
        let mut left = DRAIN_LIMIT;
        let _ = tokio::time::timeout(DRAIN_TIME, async {
            while let Some(Ok(frame)) =
                std::future::poll_fn(|cx| hyper::body::Body::poll_frame(Pin::new(&mut body), cx))
                    .await
            {
                let read = frame.data_ref().map_or(0, |d| d.len() as u64);
                left = left.saturating_sub(read);
                if left == 0 {
                    break;
                }
            }
        })
        .await;
    }
}

impl hyper::body::Body for Unread {
    type Data = hyper::body::Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        let mut slot = self.0.lock();
        let Some(body) = slot.as_mut() else {
            return Poll::Ready(None);
        };
        let polled = Pin::new(body).poll_frame(cx);
        // Read to its end (or failed): nothing left to drain.
        if matches!(polled, Poll::Ready(None | Some(Err(_)))) {
            *slot = None;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.0
            .lock()
            .as_ref()
            .is_none_or(hyper::body::Body::is_end_stream)
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.0.lock().as_ref().map_or_else(
            || hyper::body::SizeHint::with_exact(0),
            hyper::body::Body::size_hint,
        )
    }
}
