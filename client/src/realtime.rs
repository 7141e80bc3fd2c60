//! The real-time connection: connects with the bearer header, resumes every
//! session from its last `seq`, flushes the outbox, acknowledges delivery of
//! what it receives, re-authenticates in-band before the token expires, and
//! reconnects with exponential backoff and jitter. Everything it learns goes
//! to the cache first, then out as a [`ClientEvent`].

use crate::error::{ClientError, ClientResult};
use crate::Inner;
use dmp_protocol::ws::{ClientFrame, ServerFrame, CLOSE_ACCOUNT_DISABLED, CLOSE_UNAUTHENTICATED};
use dmp_protocol::*;
use futures_util::{SinkExt, StreamExt};
use rand::Rng;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message as WsMessage;

/// State of the real-time connection, as the UI shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "lowercase")]
pub enum ConnectionState {
    /// Connected and resumed.
    Connected,
    /// Not connected, not trying (stopped).
    Disconnected,
    /// Waiting before the next attempt.
    Reconnecting,
}

/// Why the login ended (`dmp://session-expired`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "lowercase")]
pub enum SessionEndReason {
    /// The login expired or was revoked: sign in again.
    Expired,
    /// An administrator disabled the account (`ACCOUNT_DISABLED`).
    Disabled,
}

impl SessionEndReason {
    /// The reason for a refusal that ends the login.
    pub fn of(e: &ClientError) -> Self {
        if matches!(e, ClientError::AccountDisabled) {
            Self::Disabled
        } else {
            Self::Expired
        }
    }
}

/// The payload of `dmp://session-expired`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SessionEndedEvent {
    /// Why.
    pub reason: SessionEndReason,
}

/// What the client tells its user interface.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum ClientEvent {
    /// A message arrived, was acknowledged, or changed (deleted).
    Message {
        /// The message as cached.
        message: Message,
    },
    /// A status moved forward.
    #[serde(rename_all = "camelCase")]
    Status {
        /// The message.
        message_id: MessageId,
        /// Its session.
        session_id: SessionId,
        /// New status.
        status: MessageStatus,
        /// When.
        at: chrono::DateTime<chrono::Utc>,
    },
    /// The other participant types.
    #[serde(rename_all = "camelCase")]
    Typing {
        /// ordonnance or examen.
        context_type: ContextType,
        /// The record.
        context_id: ContextId,
        /// Who.
        user: Participant,
        /// Whether they are typing.
        is_typing: bool,
    },
    /// Someone came online or went offline.
    #[serde(rename_all = "camelCase")]
    Presence {
        /// Who.
        user_id: UserId,
        /// Online or not.
        online: bool,
    },
    /// A server notification.
    Notification {
        /// The notification.
        notification: Notification,
    },
    /// The connection state changed.
    Connection {
        /// New state.
        state: ConnectionState,
    },
    /// The local state of an unsent message changed (`sending`,
    /// `waitingForKeys`, `slowedDown`, `failed`): the window shows it as is.
    Local {
        /// The message with its `local` state.
        message: crate::UiMessage,
    },
    /// A queued send was refused for good (also told as a [`ClientEvent::Local`] `failed`).
    #[serde(rename_all = "camelCase")]
    SendFailed {
        /// Its key.
        client_message_id: ClientMessageId,
        /// The server's code.
        code: ErrorCode,
        /// The server's message.
        message: String,
    },
    /// Unread counts or the order of the inbox changed.
    Inbox {
        /// The whole inbox, sorted.
        inbox: crate::inbox::Inbox,
    },
    /// The login is over; sign in again (or the account was disabled).
    SessionExpired {
        /// Why.
        reason: SessionEndReason,
    },
    /// Offline read-only mode ended: the server accepted the remembered login again.
    OnlineAgain,
    /// The server hands out a new key for a peer: a blocking warning until accepted.
    #[serde(rename_all = "camelCase")]
    PeerKeyChanged {
        /// Who.
        user_id: UserId,
        /// Their name.
        name: String,
    },
}

enum End {
    Stopped,
    SessionOver(SessionEndReason),
    Retry(String),
}

/// Runs until stopped or until the login is over.
pub(crate) async fn run(
    inner: Arc<Inner>,
    mut rx: mpsc::UnboundedReceiver<ClientFrame>,
    mut stop: watch::Receiver<bool>,
) {
    let mut attempt: u32 = 0;
    loop {
        match connect_once(&inner, &mut rx, &mut stop, &mut attempt).await {
            End::Stopped => break,
            End::SessionOver(reason) => {
                inner.connected.store(false, Ordering::SeqCst);
                inner.emit(ClientEvent::SessionExpired { reason });
                break;
            }
            End::Retry(why) => {
                inner.connected.store(false, Ordering::SeqCst);
                inner.emit(ClientEvent::Connection {
                    state: ConnectionState::Reconnecting,
                });
                let base = Duration::from_millis(250)
                    .saturating_mul(1u32 << attempt.min(7))
                    .min(Duration::from_secs(30));
                let wait = base.mul_f64(rand::thread_rng().gen_range(0.5..1.0));
                tracing::debug!(attempt, ?wait, reason = %why, "reconnecting");
                attempt = attempt.saturating_add(1);
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = stop.changed() => break,
                }
            }
        }
    }
    inner.connected.store(false, Ordering::SeqCst);
    inner.emit(ClientEvent::Connection {
        state: ConnectionState::Disconnected,
    });
}

fn frame_text(f: &ClientFrame) -> WsMessage {
    WsMessage::Text(serde_json::to_string(f).unwrap_or_default().into())
}

async fn connect_once(
    inner: &Arc<Inner>,
    rx: &mut mpsc::UnboundedReceiver<ClientFrame>,
    stop: &mut watch::Receiver<bool>,
    attempt: &mut u32,
) -> End {
    let token = match inner.api.access_token().await {
        Ok(t) => t,
        Err(e) if e.is_session_over() => return End::SessionOver(SessionEndReason::of(&e)),
        Err(e) => return End::Retry(e.to_string()),
    };
    let Ok(url) = inner.api.ws_url() else {
        return End::Stopped;
    };
    let Ok(mut req) = url.as_str().into_client_request() else {
        return End::Stopped;
    };
    if let Ok(v) = format!("Bearer {}", token.as_str()).parse() {
        req.headers_mut().insert("authorization", v);
    }
    let ws = tokio::select! {
        r = tokio_tungstenite::connect_async_tls_with_config(
            req,
            None,
            false,
            Some(tokio_tungstenite::Connector::Rustls(inner.api.tls())),
        ) => match r {
            Ok((ws, _)) => ws,
            Err(tokio_tungstenite::tungstenite::Error::Http(res)) if res.status() == 401 => {
                // The token was refused: try one refresh before giving up.
                return match inner.api.force_refresh().await {
                    Ok(()) => End::Retry("token refreshed".into()),
                    Err(e) if e.is_session_over() => End::SessionOver(SessionEndReason::of(&e)),
                    Err(e) => End::Retry(e.to_string()),
                };
            }
            // Only a valid token of a disabled account is refused with 403.
            Err(tokio_tungstenite::tungstenite::Error::Http(res)) if res.status() == 403 => {
                return End::SessionOver(SessionEndReason::Disabled);
            }
            Err(e) => return End::Retry(e.to_string()),
        },
        _ = stop.changed() => return End::Stopped,
    };
    let (mut sink, mut stream) = ws.split();
    let mut current_token = token;

    // Resume every known session, then flush the outbox.
    let mut sessions = inner.cache.last_seqs().unwrap_or_default();
    for s in inner.cache.known_sessions().unwrap_or_default() {
        sessions.entry(s).or_insert(0);
    }
    if !sessions.is_empty()
        && sink
            .send(frame_text(&ClientFrame::Resume { sessions }))
            .await
            .is_err()
    {
        return End::Retry("write failed".into());
    }
    inner.connected.store(true, Ordering::SeqCst);
    inner.emit(ClientEvent::Connection {
        state: ConnectionState::Connected,
    });
    // The outbox goes out in order, from the head of every queue.
    inner.outbox_connected();
    *attempt = 0;

    let mut tick = tokio::time::interval(Duration::from_secs(20));
    tick.tick().await;
    loop {
        tokio::select! {
            _ = stop.changed() => {
                let _ = sink.send(WsMessage::Close(None)).await;
                return End::Stopped;
            }
            out = rx.recv() => {
                let Some(frame) = out else { return End::Stopped };
                if sink.send(frame_text(&frame)).await.is_err() {
                    return End::Retry("write failed".into());
                }
            }
            _ = tick.tick() => {
                // Re-authenticate in-band before the access token expires.
                match inner.api.access_token().await {
                    Ok(t) if *t != *current_token => {
                        if sink.send(frame_text(&ClientFrame::Auth { token: t.to_string() })).await.is_err() {
                            return End::Retry("write failed".into());
                        }
                        current_token = t;
                    }
                    Ok(_) => {}
                    Err(e) if e.is_session_over() => return End::SessionOver(SessionEndReason::of(&e)),
                    Err(_) => {}
                }
                if sink.send(frame_text(&ClientFrame::Ping)).await.is_err() {
                    return End::Retry("write failed".into());
                }
            }
            incoming = stream.next() => match incoming {
                Some(Ok(WsMessage::Text(text))) => {
                    match serde_json::from_str::<ServerFrame>(&text) {
                        Ok(frame) => {
                            if let Err(e) = handle(inner, frame).await {
                                tracing::warn!(error = %e, "cannot apply a server frame");
                            }
                        }
                        Err(_) => tracing::warn!("unreadable server frame"),
                    }
                }
                Some(Ok(WsMessage::Close(frame))) => {
                    if frame.as_ref().is_some_and(|f| u16::from(f.code) == CLOSE_ACCOUNT_DISABLED) {
                        return End::SessionOver(SessionEndReason::Disabled);
                    }
                    if frame.as_ref().is_some_and(|f| u16::from(f.code) == CLOSE_UNAUTHENTICATED) {
                        return match inner.api.force_refresh().await {
                            Ok(()) => End::Retry("re-authenticating".into()),
                            Err(e) if e.is_session_over() => End::SessionOver(SessionEndReason::of(&e)),
                            Err(e) => End::Retry(e.to_string()),
                        };
                    }
                    return End::Retry("closed by the server".into());
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return End::Retry(e.to_string()),
                None => return End::Retry("connection lost".into()),
            },
        }
    }
}

async fn handle(inner: &Arc<Inner>, frame: ServerFrame) -> ClientResult<()> {
    match frame {
        ServerFrame::Ready { .. } | ServerFrame::Pong => {}
        ServerFrame::Ack {
            client_message_id,
            message,
        } => {
            let _ = client_message_id;
            inner.stored(message).await?;
        }
        ServerFrame::Message { message } => inner.received(message).await?,
        ServerFrame::Status {
            message_id,
            session_id,
            status,
            at,
        } => {
            let changed = inner.cache.set_status(&message_id, status, at)?;
            inner.emit(ClientEvent::Status {
                message_id,
                session_id,
                status,
                at,
            });
            if let Some(m) = changed {
                inner.inbox_on_status(&m);
            }
        }
        ServerFrame::Typing {
            context_type,
            context_id,
            user,
            is_typing,
        } => {
            inner.emit(ClientEvent::Typing {
                context_type,
                context_id,
                user,
                is_typing,
            });
        }
        ServerFrame::Presence { user_id, online } => {
            if online {
                // A peer's first sign-in: its keys may now exist.
                inner.outbox_keys_of(&user_id);
            }
            inner.emit(ClientEvent::Presence { user_id, online })
        }
        ServerFrame::Notification { notification } => {
            inner.emit(ClientEvent::Notification { notification })
        }
        ServerFrame::KeyChange { user_id } => {
            // A peer changed keys or credential: compare with the pinned key
            // now (raises PeerKeyChanged when it differs).
            let name = inner
                .cache
                .contexts()?
                .into_iter()
                .flat_map(|c| [c.context.patient, c.context.doctor])
                .find(|p| p.id == user_id)
                .map_or_else(|| user_id.to_string(), |p| p.name);
            if let Err(e) = inner.check_peer(&user_id, &name).await {
                tracing::debug!(code = e.code(), "peer key check failed");
            }
            // Messages waiting for this peer's first keys go now.
            inner.outbox_keys_of(&user_id);
        }
        ServerFrame::Error {
            code,
            message,
            client_message_id,
            retry_after_secs,
        } => {
            if let Some(cmid) = client_message_id {
                let err = match code {
                    ErrorCode::RateLimitExceeded => ClientError::RateLimited {
                        retry_after_secs: retry_after_secs.unwrap_or(1),
                        message,
                    },
                    ErrorCode::AccountDisabled => ClientError::AccountDisabled,
                    _ => ClientError::Api {
                        status: 0,
                        code,
                        message,
                    },
                };
                inner.outbox_refused(&cmid, err).await?;
            } else {
                tracing::debug!(code = %code, "server error frame");
            }
        }
    }
    Ok(())
}
