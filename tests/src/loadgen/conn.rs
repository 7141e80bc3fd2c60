//! One load-generator connection: how it is opened (bearer token and
//! `ready` against the server, a `/pair/{i}/{role}` URL against the bare
//! relay), and its two tasks. The writer owns the sink and is fed by a
//! bounded queue (scheduled sends, receipts, close); in windowed mode it also
//! sends on its own whenever an in-flight permit is free. The reader owns the
//! stream and does all accounting of incoming frames, returning a permit for
//! every ack or refused send of its own connection.

use super::stats::{bump, lock, BitSet, FrameKind};
use super::wire::{self, SendFrameBuilder, Token};
use super::Shared;
use anyhow::{bail, Context as _};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::header::AUTHORIZATION;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// A client WebSocket.
pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Longest wait for the TCP + WebSocket handshake, and then for `ready`.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// Most frames written before a flush.
const BATCH: usize = 64;
/// Capacity of a connection's command queue.
pub const QUEUE: usize = 1024;

/// Role names, indexed by role (0 = patient, 1 = doctor).
pub const ROLES: [&str; 2] = ["patient", "medecin"];

/// Where a connection sits in the population.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    /// Connection index.
    pub conn: usize,
    /// Pair index.
    pub pair: usize,
    /// 0 = patient, 1 = doctor.
    pub role: usize,
    /// Device of that user.
    pub device: usize,
}

/// Numbering of connections: pair-major, then role, then device.
#[derive(Debug, Clone, Copy)]
pub struct Layout {
    /// Pairs.
    pub pairs: usize,
    /// Connections per user.
    pub devices: usize,
}

impl Layout {
    /// Number of connections.
    pub fn connections(&self) -> usize {
        self.pairs * 2 * self.devices
    }

    /// Index of a connection.
    pub fn conn(&self, pair: usize, role: usize, device: usize) -> usize {
        (pair * 2 + role) * self.devices + device
    }

    /// The slot of connection `conn`, if it exists.
    pub fn slot(&self, conn: usize) -> Option<Slot> {
        (conn < self.connections()).then(|| Slot {
            conn,
            pair: conn / (2 * self.devices),
            role: (conn / self.devices) % 2,
            device: conn % self.devices,
        })
    }
}

/// Commands for a connection's writer.
#[derive(Debug)]
pub enum Cmd {
    /// Write the next send now.
    Send,
    /// Windowed mode: keep the window full until this instant.
    Go(Instant),
    /// Write a `delivered` receipt for this message id.
    Delivered(String),
    /// Close the socket.
    Close,
}

/// A running connection.
#[derive(Debug)]
pub struct Conn {
    /// Its writer's queue.
    pub tx: mpsc::Sender<Cmd>,
    /// Sends written (= the next sequence number).
    pub sent: Arc<AtomicU64>,
    /// Writer task.
    pub writer: JoinHandle<()>,
    /// Reader task.
    pub reader: JoinHandle<()>,
}

/// Buffer sizes: large for a few busy sockets, small for many idle ones.
pub fn client_config(connections: usize) -> WebSocketConfig {
    let buf = if connections > 2000 {
        4 * 1024
    } else {
        64 * 1024
    };
    WebSocketConfig::default()
        .read_buffer_size(buf)
        .write_buffer_size(buf)
        .max_message_size(Some(1 << 20))
}

/// Opens connection `slot`: with `token` against the server (waits for
/// `ready`), without against the bare relay.
pub async fn open(
    ws_base: &str,
    slot: Slot,
    token: Option<&str>,
    config: WebSocketConfig,
) -> anyhow::Result<Ws> {
    let url = match token {
        Some(_) => format!("{ws_base}/api/messaging/ws"),
        None => format!("{ws_base}/pair/{}/{}", slot.pair, ROLES[slot.role]),
    };
    let mut request = url.as_str().into_client_request()?;
    if let Some(t) = token {
        request.headers_mut().insert(
            AUTHORIZATION,
            HeaderValue::from_str(&format!("Bearer {t}"))?,
        );
    }
    let (mut ws, _) = tokio::time::timeout(
        CONNECT_TIMEOUT,
        tokio_tungstenite::connect_async_with_config(request, Some(config), true),
    )
    .await
    .context("WebSocket handshake timed out")?
    .context("WebSocket handshake failed")?;
    if token.is_some() {
        let first = tokio::time::timeout(CONNECT_TIMEOUT, async {
            loop {
                match ws.next().await {
                    Some(Ok(Message::Text(t))) => return Ok(t),
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    Some(Ok(other)) => bail!("expected `ready`, got {other:?}"),
                    Some(Err(e)) => return Err(e.into()),
                    None => bail!("closed before `ready`"),
                }
            }
        })
        .await
        .context("no `ready` frame in time")??;
        let kind = wire::frame_type(first.as_str());
        if kind != "ready" {
            let code = serde_json::from_str::<wire::ErrorFrame>(first.as_str())
                .map(|e| e.code)
                .unwrap_or_default();
            bail!("expected `ready`, got `{kind}` {code}");
        }
    }
    Ok(ws)
}

/// Starts the reader and writer of an open connection.
pub fn spawn(ws: Ws, slot: Slot, shared: Arc<Shared>, size: usize, window: usize) -> Conn {
    let (sink, stream) = ws.split();
    let (tx, rx) = mpsc::channel(QUEUE);
    let sent = Arc::new(AtomicU64::new(0));
    let permits = Arc::new(Semaphore::new(window));
    let builder = SendFrameBuilder::new(
        &shared.run,
        slot.conn,
        &crate::users::context_id(slot.pair),
        size,
    );
    let seen = vec![BitSet::default(); shared.layout.devices];
    let writer = Writer {
        sink,
        rx,
        builder,
        shared: shared.clone(),
        sent: sent.clone(),
        permits: permits.clone(),
    };
    let reader = Reader {
        slot,
        shared,
        tx: tx.clone(),
        permits,
        seen,
    };
    Conn {
        tx,
        sent,
        writer: tokio::spawn(writer.run()),
        reader: tokio::spawn(reader.run(stream)),
    }
}

struct Writer {
    sink: SplitSink<Ws, Message>,
    rx: mpsc::Receiver<Cmd>,
    builder: SendFrameBuilder,
    shared: Arc<Shared>,
    sent: Arc<AtomicU64>,
    permits: Arc<Semaphore>,
}

impl Writer {
    async fn run(mut self) {
        // Windowed mode sends until `stop`; the timer is armed by `Cmd::Go`.
        let stop = tokio::time::sleep(Duration::from_secs(365 * 86_400));
        tokio::pin!(stop);
        let mut until: Option<Instant> = None;
        loop {
            let first = tokio::select! {
                biased;
                cmd = self.rx.recv() => match cmd {
                    Some(c) => c,
                    None => break,
                },
                _ = &mut stop, if until.is_some() => {
                    until = None;
                    continue;
                }
                permit = self.permits.acquire(), if until.is_some() => match permit {
                    Ok(p) => {
                        p.forget();
                        Cmd::Send
                    }
                    Err(_) => break,
                },
            };
            let mut next = Some(first);
            let mut written = 0;
            let mut close = false;
            while let Some(cmd) = next.take() {
                match cmd {
                    Cmd::Send => {
                        if !self.write_send().await {
                            return;
                        }
                    }
                    Cmd::Go(at) => {
                        until = Some(at);
                        stop.as_mut().reset(at);
                    }
                    Cmd::Delivered(id) => {
                        if self
                            .sink
                            .feed(Message::Text(wire::delivered_frame(&id).into()))
                            .await
                            .is_err()
                        {
                            return;
                        }
                        bump(&self.shared.counters.receipts_sent);
                    }
                    Cmd::Close => {
                        close = true;
                        break;
                    }
                }
                written += 1;
                if written >= BATCH {
                    break;
                }
                next = self.rx.try_recv().ok().or_else(|| {
                    let open = until.is_some_and(|u| Instant::now() < u);
                    let permit = if open {
                        self.permits.try_acquire().ok()
                    } else {
                        None
                    };
                    permit.map(|p| {
                        p.forget();
                        Cmd::Send
                    })
                });
            }
            if self.sink.flush().await.is_err() {
                return;
            }
            if close {
                let _ = tokio::time::timeout(Duration::from_secs(2), self.sink.close()).await;
                return;
            }
        }
    }

    async fn write_send(&mut self) -> bool {
        let seq = self.sent.fetch_add(1, Ordering::Relaxed);
        let nanos = self.shared.now_ns();
        let text = self.builder.build(seq, nanos);
        bump(&self.shared.counters.sent);
        if self.shared.in_window(nanos) {
            bump(&self.shared.counters.sent_in_window);
        }
        self.sink.feed(Message::Text(text.into())).await.is_ok()
    }
}

struct Reader {
    slot: Slot,
    shared: Arc<Shared>,
    tx: mpsc::Sender<Cmd>,
    permits: Arc<Semaphore>,
    /// Sequence numbers received on this connection, by sender device.
    seen: Vec<BitSet>,
}

impl Reader {
    async fn run(mut self, mut stream: SplitStream<Ws>) {
        let reason = loop {
            match stream.next().await {
                Some(Ok(Message::Text(t))) => self.on_text(t.as_str()),
                Some(Ok(Message::Close(frame))) => {
                    break frame.map_or_else(
                        || "close".to_owned(),
                        |f| format!("close {} {}", u16::from(f.code), f.reason),
                    )
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => break format!("error: {e}"),
                None => break "eof".to_owned(),
            }
        };
        if !self.shared.closing.load(Ordering::Relaxed) {
            bump(&self.shared.counters.disconnects);
            *lock(&self.shared.close_reasons).entry(reason).or_default() += 1;
        }
    }

    fn token(&self, client_message_id: &str) -> Option<Token> {
        wire::parse_client_message_id(&self.shared.run, client_message_id)
    }

    fn on_text(&mut self, text: &str) {
        let now = self.shared.now_ns();
        let kind = FrameKind::of(&wire::frame_type(text));
        let c = &self.shared.counters;
        c.frame(kind);
        match kind {
            FrameKind::Ack => {
                let Ok(ack) = serde_json::from_str::<wire::WithClientMessageId<'_>>(text) else {
                    return;
                };
                let Some(t) = self.token(&ack.client_message_id) else {
                    return;
                };
                bump(&c.acked);
                if t.conn == self.slot.conn && self.shared.windowed {
                    self.permits.add_permits(1);
                }
                if self.shared.in_window(t.nanos) {
                    self.shared
                        .ack_latency
                        .record(self.slot.conn, now.saturating_sub(t.nanos));
                }
            }
            FrameKind::Message => {
                if let Ok(m) = serde_json::from_str::<wire::MessageFrame<'_>>(text) {
                    self.on_message(now, &m.message.client_message_id, &m.message.id);
                }
            }
            FrameKind::Send => {
                // The bare relay forwards the sender's frame as is: no server id.
                if let Ok(s) = serde_json::from_str::<wire::WithClientMessageId<'_>>(text) {
                    self.on_message(now, &s.client_message_id, &s.client_message_id);
                }
            }
            FrameKind::Error => {
                bump(&c.errors);
                let e = serde_json::from_str::<wire::ErrorFrame>(text).ok();
                let code = e
                    .as_ref()
                    .map_or_else(|| "unparsed".to_owned(), |e| e.code.clone());
                *lock(&self.shared.error_codes).entry(code).or_default() += 1;
                if let Some(t) = e
                    .and_then(|e| e.client_message_id)
                    .and_then(|id| self.token(&id))
                {
                    bump(&c.send_errors);
                    if t.conn == self.slot.conn && self.shared.windowed {
                        self.permits.add_permits(1);
                    }
                }
            }
            _ => {}
        }
    }

    fn on_message(&mut self, now: u64, client_message_id: &str, message_id: &str) {
        let c = &self.shared.counters;
        let from = self
            .token(client_message_id)
            .and_then(|t| Some((t, self.shared.layout.slot(t.conn)?)));
        let Some((t, from)) = from.filter(|(_, s)| s.pair == self.slot.pair) else {
            bump(&c.foreign);
            return;
        };
        if from.role == self.slot.role {
            bump(&c.echoes);
            return;
        }
        if !self.seen[from.device].insert(t.seq) {
            bump(&c.duplicated);
            return;
        }
        let first = lock(&self.shared.pairs[self.slot.pair]).from[self.slot.role][from.device]
            .insert(t.seq);
        if !first {
            return;
        }
        // The receipt is queued before the message counts as received, so that
        // once everything is received every receipt is ahead of `Cmd::Close`.
        if self.shared.receipts
            && self
                .tx
                .try_send(Cmd::Delivered(message_id.to_owned()))
                .is_err()
        {
            bump(&c.receipts_dropped);
        }
        if self.shared.in_window(t.nanos) {
            self.shared
                .latency
                .record(self.slot.conn, now.saturating_sub(t.nanos));
        }
        if self.shared.in_window(now) {
            bump(&c.received_in_window);
        }
        bump(&c.received);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_round_trips() {
        let l = Layout {
            pairs: 3,
            devices: 2,
        };
        assert_eq!(l.connections(), 12);
        for c in 0..12 {
            let s = l.slot(c).unwrap();
            assert_eq!(l.conn(s.pair, s.role, s.device), c);
        }
        assert_eq!(
            l.slot(5),
            Some(Slot {
                conn: 5,
                pair: 1,
                role: 0,
                device: 1
            })
        );
        assert_eq!(l.slot(12), None);
    }
}
