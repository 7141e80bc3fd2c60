//! `dmp-bare-relay`: the smallest WebSocket relay that carries the load
//! generator's traffic, without authentication, validation or storage, so
//! that the server's figures can be compared with what the machine and
//! tokio-tungstenite do on their own.
//!
//! A client connects to `/pair/{i}/{patient|medecin}`. Every text frame it
//! sends is forwarded verbatim to every connection of the other member of
//! pair `i`; a `send` frame is also answered with `{"type":"ack",
//! "clientMessageId":…}` so that the load generator's closed loop works as
//! against the server. The socket handling mirrors the server's: one task per
//! connection owns the socket, fan-out goes through a bounded queue per
//! connection, and a connection whose queue overflows is closed.

use crate::loadgen::wire;
use futures_util::{SinkExt, StreamExt};
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Notify};
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::StatusCode;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

/// Largest frame accepted, as the server (64 KiB).
const MAX_FRAME: usize = 64 * 1024;
/// Most queued frames written before a flush, as the server.
const BATCH: usize = 64;
/// Longest time one write may take.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Arguments of `dmp-bare-relay`.
#[derive(Debug, Clone, clap::Args)]
pub struct RelayArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub bind: std::net::SocketAddr,
    /// Frames queued per connection before it is closed as too slow.
    #[arg(long, default_value_t = 4096)]
    pub send_queue: usize,
    /// Bytes of each socket's read buffer (the server's is `READ_BUFFER` in
    /// server/src/ws.rs), to compare idle sockets at equal buffers.
    #[arg(long, default_value_t = DEFAULT_READ_BUFFER)]
    pub read_buffer: usize,
}

/// The relay's read buffer unless told otherwise.
pub const DEFAULT_READ_BUFFER: usize = 4 * 1024;

#[derive(Debug)]
struct Peer {
    id: u64,
    tx: mpsc::Sender<Utf8Bytes>,
    kill: Arc<Notify>,
}

/// The connections of both members of one pair.
#[derive(Debug, Default)]
struct PairSlot {
    sides: [Mutex<Vec<Peer>>; 2],
}

#[derive(Debug)]
struct Relay {
    pairs: Mutex<HashMap<usize, Arc<PairSlot>>>,
    next_id: AtomicU64,
    send_queue: usize,
    read_buffer: usize,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Parses `/pair/{i}/{patient|medecin}` into (pair, role).
fn parse_path(path: &str) -> Option<(usize, usize)> {
    let rest = path.strip_prefix("/pair/")?;
    let (pair, role) = rest.split_once('/')?;
    let role = match role {
        "patient" => 0,
        "medecin" => 1,
        _ => return None,
    };
    Some((pair.parse().ok()?, role))
}

/// Serves until `shutdown` completes, with the default read buffer.
pub async fn serve(
    listener: TcpListener,
    send_queue: usize,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    serve_with(listener, send_queue, DEFAULT_READ_BUFFER, shutdown).await
}

/// Serves until `shutdown` completes, with `read_buffer` bytes of read
/// buffer per socket.
pub async fn serve_with(
    listener: TcpListener,
    send_queue: usize,
    read_buffer: usize,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let relay = Arc::new(Relay {
        pairs: Mutex::new(HashMap::new()),
        next_id: AtomicU64::new(1),
        send_queue: send_queue.max(1),
        read_buffer: read_buffer.max(256),
    });
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => return Ok(()),
            accepted = listener.accept() => {
                let (stream, _) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Out of file descriptors and the like: wait and retry rather than die.
                        eprintln!("[relay] accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                tokio::spawn(connection(relay.clone(), stream));
            }
        }
    }
}

async fn connection(relay: Arc<Relay>, stream: TcpStream) {
    let mut target = None;
    // The error type is fixed by tungstenite's handshake `Callback`.
    #[allow(clippy::result_large_err)]
    let callback = |request: &Request, response: Response| -> Result<Response, ErrorResponse> {
        match parse_path(request.uri().path()) {
            Some(t) => {
                target = Some(t);
                Ok(response)
            }
            None => {
                let mut refusal =
                    ErrorResponse::new(Some("expected /pair/{i}/{patient|medecin}".into()));
                *refusal.status_mut() = StatusCode::NOT_FOUND;
                Err(refusal)
            }
        }
    };
    let config = WebSocketConfig::default()
        .read_buffer_size(relay.read_buffer)
        .write_buffer_size(0)
        .max_write_buffer_size(MAX_FRAME * 4)
        .max_message_size(Some(MAX_FRAME))
        .max_frame_size(Some(MAX_FRAME));
    let Ok(ws) =
        tokio_tungstenite::accept_hdr_async_with_config(stream, callback, Some(config)).await
    else {
        return;
    };
    let Some((pair, role)) = target else { return };
    let slot = lock(&relay.pairs).entry(pair).or_default().clone();
    let id = relay.next_id.fetch_add(1, Ordering::Relaxed);
    let (tx, mut rx) = mpsc::channel::<Utf8Bytes>(relay.send_queue);
    let kill = Arc::new(Notify::new());
    lock(&slot.sides[role]).push(Peer {
        id,
        tx,
        kill: kill.clone(),
    });

    let (mut sink, mut stream) = ws.split();
    let close: Option<CloseFrame> = loop {
        tokio::select! {
            biased;
            _ = kill.notified() => break Some(CloseFrame { code: CloseCode::Policy, reason: Utf8Bytes::from_static("too slow") }),
            out = rx.recv() => {
                let Some(first) = out else { break None };
                let mut batch = vec![first];
                while batch.len() < BATCH {
                    match rx.try_recv() {
                        Ok(t) => batch.push(t),
                        Err(_) => break,
                    }
                }
                let mut ok = true;
                for text in batch {
                    if !matches!(tokio::time::timeout(WRITE_TIMEOUT, sink.feed(Message::Text(text))).await, Ok(Ok(()))) {
                        ok = false;
                        break;
                    }
                }
                if !ok || !matches!(tokio::time::timeout(WRITE_TIMEOUT, sink.flush()).await, Ok(Ok(()))) {
                    break None;
                }
            }
            msg = stream.next() => match msg {
                Some(Ok(Message::Text(text))) => {
                    forward(&slot, 1 - role, &text);
                    if wire::frame_type(text.as_str()) == "send" {
                        if let Ok(send) = serde_json::from_str::<wire::WithClientMessageId<'_>>(text.as_str()) {
                            let ack = wire::relay_ack_frame(&send.client_message_id);
                            if !matches!(tokio::time::timeout(WRITE_TIMEOUT, sink.send(Message::Text(ack.into()))).await, Ok(Ok(()))) {
                                break None;
                            }
                        }
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break None,
                Some(Ok(_)) => {}
            },
        }
    };
    lock(&slot.sides[role]).retain(|p| p.id != id);
    if let Some(frame) = close {
        let _ = tokio::time::timeout(
            Duration::from_secs(1),
            sink.send(Message::Close(Some(frame))),
        )
        .await;
    }
}

/// Queues `text` on every connection of side `to`; a full queue closes that connection.
fn forward(slot: &PairSlot, to: usize, text: &Utf8Bytes) {
    for peer in lock(&slot.sides[to]).iter() {
        if let Err(mpsc::error::TrySendError::Full(_)) = peer.tx.try_send(text.clone()) {
            peer.kill.notify_one();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_tungstenite::connect_async;

    #[test]
    fn paths() {
        assert_eq!(parse_path("/pair/12/medecin"), Some((12, 1)));
        assert_eq!(parse_path("/pair/0/patient"), Some((0, 0)));
        assert_eq!(parse_path("/pair/x/patient"), None);
        assert_eq!(parse_path("/pair/1/admin"), None);
        assert_eq!(parse_path("/api/messaging/ws"), None);
    }

    /// A ping answered means the relay's task for this socket is in its loop, hence registered.
    async fn registered(ws: &mut crate::loadgen::conn::Ws) {
        ws.send(Message::Ping(Default::default())).await.unwrap();
        loop {
            if let Message::Pong(_) = tokio::time::timeout(Duration::from_secs(5), ws.next())
                .await
                .unwrap()
                .unwrap()
                .unwrap()
            {
                return;
            }
        }
    }

    async fn next_text(ws: &mut crate::loadgen::conn::Ws) -> String {
        loop {
            match tokio::time::timeout(Duration::from_secs(5), ws.next())
                .await
                .unwrap()
                .unwrap()
                .unwrap()
            {
                Message::Text(t) => return t.as_str().to_owned(),
                _ => continue,
            }
        }
    }

    #[tokio::test]
    async fn forwards_to_the_other_member_and_acks() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, 16, async {
            let _ = stop_rx.await;
        }));
        let (mut patient, _) = connect_async(format!("ws://{addr}/pair/3/patient"))
            .await
            .unwrap();
        let (mut doctor, _) = connect_async(format!("ws://{addr}/pair/3/medecin"))
            .await
            .unwrap();
        let (mut other, _) = connect_async(format!("ws://{addr}/pair/4/medecin"))
            .await
            .unwrap();
        assert!(connect_async(format!("ws://{addr}/nope")).await.is_err());
        registered(&mut doctor).await;
        registered(&mut patient).await;
        let frame = wire::SendFrameBuilder::new("r", 0, "ord_lg3", 50).build(0, 1);
        patient
            .send(Message::Text(frame.clone().into()))
            .await
            .unwrap();
        assert_eq!(
            next_text(&mut patient).await,
            r#"{"type":"ack","clientMessageId":"lg.r.0000000000000001.0.0"}"#
        );
        assert_eq!(next_text(&mut doctor).await, frame);
        doctor
            .send(Message::Text(
                r#"{"type":"delivered","messageId":"m"}"#.into(),
            ))
            .await
            .unwrap();
        assert_eq!(
            next_text(&mut patient).await,
            r#"{"type":"delivered","messageId":"m"}"#
        );
        assert!(
            tokio::time::timeout(Duration::from_millis(100), other.next())
                .await
                .is_err()
        );
        let _ = stop_tx.send(());
        server.await.unwrap().unwrap();
    }
}
