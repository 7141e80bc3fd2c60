//! The WebSocket endpoint (DESIGN §4). One task per connection owns the
//! socket: it reads client frames, writes the frames queued for it by the
//! hub, and keeps its timers (ping, idle, token expiry, typing expiry) in a
//! single sleep that is reset when the nearest deadline moves.

use crate::directory::Peers;
use crate::error::AppError;
use crate::hub::{ConnHandle, Hub, Mail, Mailbox, Outbound, SourceSlot, UserSlot};
use crate::messaging;
use crate::ratelimit::Bucket;
use crate::state::{bearer, AppState, AuthedUser};
use crate::store::RequestMeta;
use axum::extract::ws::{CloseFrame, Message as WsMessage, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use dmp_protocol::api::SendRequest;
use dmp_protocol::ws::{
    ClientFrame, ServerFrame, CLOSE_ACCOUNT_DISABLED, CLOSE_GOING_AWAY, CLOSE_POLICY,
    CLOSE_UNAUTHENTICATED,
};
use dmp_protocol::*;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{FutureExt, SinkExt, StreamExt};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// Longest time a single write to a client may take before it is dropped.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Bytes of frames a socket's write buffer collects before it writes them
/// out; a flush writes whatever is there. Frames fed together (a batch of
/// queued frames, the acks ready at once) thus leave in one write, where a
/// buffer of 0 wrote each frame on its own (docs/performance.md,
/// "Connections").
const WRITE_BUFFER: usize = 16 * 1024;
/// Bytes of a socket's read buffer, allocated when it opens and kept while
/// it is open. tungstenite reads at most this much per call: a frame longer
/// than it (an end-to-end envelope of a few KiB) takes one more `read`, and
/// the buffer grows to hold it. 2 KiB holds the frames of an idle or typing
/// client and most messages in one read, and saves 2 KiB per idle socket
/// against 4 KiB (BENCHMARKS.md, "Issue 13: an idle socket";
/// docs/performance.md, "Connections").
const READ_BUFFER: usize = 2 * 1024;
/// Sessions one `resume` may name.
const MAX_RESUME_SESSIONS: usize = 1000;
/// Close code for frames over the size limit.
const CLOSE_TOO_BIG: u16 = 1009;

type Sink = SplitSink<WebSocket, WsMessage>;
type Source = SplitStream<WebSocket>;

/// Opens the real-time channel. Authenticate with `Authorization: Bearer` on
/// this request (`ready` is sent at once), or with a first frame
/// `{"type":"auth","token":…}` within 10 s; otherwise the socket is closed
/// with 4401. Frames: DESIGN §4.
#[utoipa::path(get, path = "/api/messaging/ws", tag = "realtime",
    responses((status = 101, description = "WebSocket upgrade; JSON text frames tagged by `type`"),
              (status = 401, body = dmp_protocol::ErrorBody), (status = 403, description = "Origin not allowed", body = dmp_protocol::ErrorBody),
              (status = 429, description = "RATE_LIMIT_EXCEEDED: too many upgrades from this address, or too many sockets for this account or address", body = dmp_protocol::ErrorBody)))]
pub async fn upgrade(
    State(state): State<AppState>,
    headers: HeaderMap,
    meta: RequestMeta,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    let Ok(ws) = ws else {
        return AppError::invalid("expected a WebSocket upgrade request").into_response();
    };
    // Per-source budget of upgrades (docs/security.md, "Throttling").
    if let Err(e) = state.check_source(&state.ws_upgrade_limiter, &meta).await {
        return e.into_response();
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let allowed = origin
            .to_str()
            .is_ok_and(|o| state.config.allowed_origins.iter().any(|a| a == o));
        if !allowed {
            state
                .audit_anonymous("ws_origin", origin.to_str().unwrap_or("?"), "denied", &meta)
                .await;
            return AppError::new(ErrorCode::ContextAccessDenied, "origin not allowed")
                .with_status(StatusCode::FORBIDDEN)
                .into_response();
        }
    }
    let pre = match bearer(&headers) {
        Some(token) => match state.authenticate(token).await {
            Ok(who) => Some(who),
            Err(e) => return e.into_response(),
        },
        None => None,
    };
    // Caps (docs/security.md, "Resource bounds"): the source's place is
    // taken before `auth`, the user's as soon as the user is known.
    let Some(source_slot) = state.hub.source_slot(&meta.ip).await else {
        return too_many("too many WebSocket connections from this address");
    };
    let user_slot = match &pre {
        Some(who) => match state.hub.user_slot(who.id()).await {
            Some(slot) => Some(slot),
            None => return too_many("too many WebSocket connections for this account"),
        },
        None => None,
    };
    let max = state.config.ws.max_frame_bytes;
    let opening = Box::new(Opening {
        state,
        pre,
        meta,
        source_slot,
        user_slot,
    });
    ws.max_message_size(max)
        .max_frame_size(max)
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .max_write_buffer_size(max * 4)
        .on_upgrade(move |socket| connection(Box::new(socket), opening))
}

fn too_many(message: &'static str) -> Response {
    AppError::new(ErrorCode::RateLimitExceeded, message)
        .with_status(StatusCode::TOO_MANY_REQUESTS)
        .into_response()
}

async fn write(sink: &mut Sink, text: Utf8Bytes) -> bool {
    matches!(
        tokio::time::timeout(WRITE_TIMEOUT, sink.send(WsMessage::Text(text))).await,
        Ok(Ok(()))
    )
}

/// Writes queued frames and flushes once; false when the socket failed or
/// timed out.
async fn write_batch(sink: &mut Sink, batch: &std::collections::VecDeque<Outbound>) -> bool {
    write_all(sink, batch.iter().map(|o| o.text.clone()).collect()).await
}

/// Feeds frames into the socket's write buffer and flushes once, so that the
/// frames go out in as few writes as the buffer allows (`WRITE_BUFFER`);
/// false when the socket failed or timed out.
async fn write_all(sink: &mut Sink, frames: Vec<Utf8Bytes>) -> bool {
    for text in frames {
        let fed = tokio::time::timeout(WRITE_TIMEOUT, sink.feed(WsMessage::Text(text))).await;
        if !matches!(fed, Ok(Ok(()))) {
            return false;
        }
    }
    matches!(
        tokio::time::timeout(WRITE_TIMEOUT, sink.flush()).await,
        Ok(Ok(()))
    )
}

async fn send_frame(sink: &mut Sink, frame: &ServerFrame) -> bool {
    write(sink, Hub::encode(frame)).await
}

async fn close(sink: &mut Sink, code: u16, reason: &'static str) {
    let frame = CloseFrame {
        code,
        reason: Utf8Bytes::from_static(reason),
    };
    let _ = tokio::time::timeout(
        Duration::from_secs(1),
        sink.send(WsMessage::Close(Some(frame))),
    )
    .await;
}

fn error_frame(e: &AppError, client_message_id: Option<ClientMessageId>) -> ServerFrame {
    ServerFrame::Error {
        code: e.code,
        message: e.message.clone(),
        client_message_id,
        retry_after_secs: e.retry_after,
    }
}

/// Waits for the first frame to be a valid `auth`.
async fn wait_auth(state: &AppState, sink: &mut Sink, stream: &mut Source) -> Option<AuthedUser> {
    let deadline = Duration::from_secs(state.config.ws.auth_timeout_secs);
    let first = tokio::time::timeout(deadline, async {
        loop {
            match stream.next().await {
                Some(Ok(WsMessage::Text(t))) => return Some(t),
                Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_))) => continue,
                _ => return None,
            }
        }
    })
    .await;
    let outcome = match first {
        Ok(Some(text)) => match serde_json::from_str::<ClientFrame>(&text) {
            Ok(ClientFrame::Auth { token }) => state.authenticate(&token).await,
            _ => Err(AppError::auth(
                "the first frame must be {\"type\":\"auth\",\"token\":…}",
            )),
        },
        Ok(None) => return None,
        Err(_) => Err(AppError::auth("authentication timed out")),
    };
    match outcome {
        Ok(who) => Some(who),
        Err(e) => {
            state.metrics.error(e.code.as_str());
            let _ = send_frame(sink, &error_frame(&e, None)).await;
            close(sink, CLOSE_UNAUTHENTICATED, "authentication required").await;
            None
        }
    }
}

struct Typing {
    kind: ContextType,
    id: ContextId,
    peer: UserId,
    last_seen: Instant,
    last_relay: Instant,
    active: bool,
}

/// Shared, not copied: each pipelined frame takes its own handle on the
/// state, the user and the request's metadata (three reference counts, where
/// clones of the values themselves cost some twenty, and three strings), and
/// the socket's task keeps three pointers (docs/performance.md, "Connections").
struct Conn {
    state: Arc<AppState>,
    id: u64,
    who: Arc<AuthedUser>,
    meta: Arc<RequestMeta>,
    bucket: Bucket,
    typing: Vec<Typing>,
    token_deadline: Instant,
}

/// What the loop should do after handling a frame.
enum Next {
    Continue,
    Close(u16, &'static str),
    /// Work that waits for the store: runs concurrently with the next frames,
    /// its reply is written in the order the frames came.
    Pipeline(Pending),
}

/// A frame being processed; resolves to the frame to answer with, if any,
/// already encoded (a `ServerFrame` is 376 bytes, and the loop holds its reply
/// for as long as the socket is open).
type Pending = std::pin::Pin<Box<dyn std::future::Future<Output = Option<Utf8Bytes>> + Send>>;

/// Frames of one connection processed at the same time (sends in flight).
const MAX_IN_FLIGHT: usize = 64;

/// The frames of one connection being processed, answered in arrival order.
type InFlight = futures_util::stream::FuturesOrdered<Pending>;

/// The next reply of the frames in flight; never, when there are none.
async fn next_reply(in_flight: &mut Option<InFlight>) -> Option<Option<Utf8Bytes>> {
    match in_flight {
        Some(pending) => pending.next().await,
        None => std::future::pending().await,
    }
}

impl Conn {
    fn token_deadline(state: &AppState, who: &AuthedUser) -> Instant {
        let left = (who.expires_at - state.now())
            .to_std()
            .unwrap_or(Duration::ZERO);
        Instant::now() + left
    }

    fn typing_frame(&self, kind: ContextType, id: &ContextId, is_typing: bool) -> Utf8Bytes {
        Hub::encode(&ServerFrame::Typing {
            context_type: kind,
            context_id: id.clone(),
            user: self.who.user.participant(),
            is_typing,
        })
    }

    fn relay_typing(&self, t: &Typing, is_typing: bool) {
        let frame = self.typing_frame(t.kind, &t.id, is_typing);
        self.state.hub.send_to(&t.peer, &frame, None, None);
    }

    /// Sends `isTyping:false` for every indicator silent for too long (or all when `all`).
    fn expire_typing(&mut self, all: bool) {
        let expiry = Duration::from_secs(self.state.config.ws.typing_expiry_secs);
        let now = Instant::now();
        let mut expired = Vec::new();
        for (i, t) in self.typing.iter().enumerate() {
            if t.active && (all || now.duration_since(t.last_seen) >= expiry) {
                expired.push(i);
            }
        }
        for i in expired.into_iter().rev() {
            let t = self.typing.remove(i);
            self.relay_typing(&t, false);
        }
    }

    fn typing_deadline(&self) -> Option<Instant> {
        let expiry = Duration::from_secs(self.state.config.ws.typing_expiry_secs);
        self.typing
            .iter()
            .filter(|t| t.active)
            .map(|t| t.last_seen + expiry)
            .min()
    }

    async fn handle_text(&mut self, sink: &mut Sink, text: &str) -> Next {
        // A store failure closes too (fail closed): the client reconnects.
        if !self
            .state
            .directory
            .login_active(&self.who.login, self.who.id(), self.state.now())
            .await
            .unwrap_or(false)
        {
            return Next::Close(CLOSE_UNAUTHENTICATED, "session revoked");
        }
        if Instant::now() >= self.token_deadline {
            return Next::Close(CLOSE_UNAUTHENTICATED, "token expired");
        }
        let rl = &self.state.config.rate_limit;
        if let Err(wait) = self.bucket.take(
            rl.ws_frames_per_second,
            rl.ws_frames_burst,
            std::time::Instant::now(),
        ) {
            let e = AppError::rate_limited(wait.as_secs_f64().ceil() as u64);
            return self.reply_error(sink, &e, None).await;
        }
        let frame = match serde_json::from_str::<ClientFrame>(text) {
            Ok(f) => f,
            Err(_) => {
                let e = AppError::invalid(
                    "malformed frame: expected a JSON object with a known `type` and its fields",
                );
                return self.reply_error(sink, &e, None).await;
            }
        };
        match frame {
            ClientFrame::Auth { token } => match self.state.authenticate(&token).await {
                Ok(w) if w.user.id == self.who.user.id => {
                    self.token_deadline = Self::token_deadline(&self.state, &w);
                    Arc::make_mut(&mut self.who).expires_at = w.expires_at;
                    self.ok(send_frame(
                        sink,
                        &ServerFrame::Ready {
                            user: w.user.user(),
                        },
                    )
                    .await)
                }
                Ok(_) => {
                    let e = AppError::auth("the token belongs to another user");
                    let _ = self.reply_error(sink, &e, None).await;
                    Next::Close(CLOSE_UNAUTHENTICATED, "authentication required")
                }
                Err(e) => {
                    let _ = self.reply_error(sink, &e, None).await;
                    Next::Close(CLOSE_UNAUTHENTICATED, "authentication required")
                }
            },
            ClientFrame::Send {
                client_message_id,
                context_type,
                context_id,
                content,
                message_type,
                metadata,
                attachments,
            } => {
                let req = SendRequest {
                    client_message_id: client_message_id.clone(),
                    context_type,
                    context_id,
                    content,
                    kind: message_type,
                    metadata,
                    attachments,
                };
                let (state, who, meta, id) = (
                    self.state.clone(),
                    self.who.clone(),
                    self.meta.clone(),
                    self.id,
                );
                // The store queues writes in the order they are submitted, and
                // pipelined frames are first polled in arrival order, so the
                // sends of one connection keep their order (and their seq).
                Next::Pipeline(Box::pin(async move {
                    Some(Hub::encode(
                        &match messaging::send(&state, &who, req, &meta, Some(id)).await {
                            Ok(sent) => ServerFrame::Ack {
                                client_message_id,
                                message: sent.message,
                            },
                            Err(e) => {
                                state.metrics.error(e.code.as_str());
                                error_frame(&e, Some(client_message_id))
                            }
                        },
                    ))
                }))
            }
            ClientFrame::Typing {
                context_type,
                context_id,
                is_typing,
            } => {
                self.typing_frame_in(sink, context_type, context_id, is_typing)
                    .await
            }
            ClientFrame::Delivered { message_id } => {
                self.mark(sink, &message_id, MessageStatus::Delivered).await
            }
            ClientFrame::Read {
                message_id,
                message_ids,
            } => match dmp_protocol::ws::read_ids(message_id, message_ids) {
                Some(ids) => self.mark_read_many(ids),
                None => {
                    let e = AppError::invalid(format!(
                        "a read frame carries 1 to {} message ids",
                        dmp_protocol::ws::MAX_READ_BATCH
                    ));
                    self.reply_error(sink, &e, None).await
                }
            },
            ClientFrame::Resume { sessions } => self.resume(sink, sessions).await,
            ClientFrame::Ping => self.ok(send_frame(sink, &ServerFrame::Pong).await),
        }
    }

    fn ok(&self, written: bool) -> Next {
        if written {
            Next::Continue
        } else {
            Next::Close(CLOSE_POLICY, "write failed")
        }
    }

    async fn reply_error(
        &self,
        sink: &mut Sink,
        e: &AppError,
        cmid: Option<ClientMessageId>,
    ) -> Next {
        self.state.metrics.error(e.code.as_str());
        self.ok(send_frame(sink, &error_frame(e, cmid)).await)
    }

    async fn mark(&mut self, _sink: &mut Sink, id: &MessageId, status: MessageStatus) -> Next {
        let (state, who, meta, id) = (
            self.state.clone(),
            self.who.clone(),
            self.meta.clone(),
            id.clone(),
        );
        Next::Pipeline(Box::pin(async move {
            match messaging::mark(&state, &who, &id, status, &meta).await {
                Ok(_) => None,
                Err(e) => {
                    state.metrics.error(e.code.as_str());
                    Some(Hub::encode(&error_frame(&e, None)))
                }
            }
        }))
    }

    /// Marks a batch read, each id with the same checks as one `read`; the
    /// first refusal (if any) is answered, the other ids are still applied.
    fn mark_read_many(&mut self, ids: Vec<MessageId>) -> Next {
        let (state, who, meta) = (self.state.clone(), self.who.clone(), self.meta.clone());
        Next::Pipeline(Box::pin(async move {
            let mut refused = None;
            for id in &ids {
                if let Err(e) = messaging::mark(&state, &who, id, MessageStatus::Read, &meta).await
                {
                    state.metrics.error(e.code.as_str());
                    if refused.is_none() {
                        refused = Some(e);
                    }
                }
            }
            refused.map(|e| Hub::encode(&error_frame(&e, None)))
        }))
    }

    async fn typing_frame_in(
        &mut self,
        sink: &mut Sink,
        kind: ContextType,
        id: ContextId,
        is_typing: bool,
    ) -> Next {
        let access = match self.state.authorize(&self.who, kind, &id, &self.meta).await {
            Ok(a) => a,
            Err(e) => return self.reply_error(sink, &e, None).await,
        };
        let delay = Duration::from_millis(self.state.config.limits.typing_indicator_delay_ms);
        let now = Instant::now();
        let pos = self
            .typing
            .iter()
            .position(|t| t.kind == kind && t.id == id);
        match (pos, is_typing) {
            (Some(i), true) => {
                let relay = {
                    let t = &mut self.typing[i];
                    t.last_seen = now;
                    let relay = !t.active || now.duration_since(t.last_relay) >= delay;
                    if relay {
                        t.last_relay = now;
                        t.active = true;
                    }
                    relay
                };
                if relay {
                    self.relay_typing(&self.typing[i], true);
                }
            }
            (None, true) => {
                let t = Typing {
                    kind,
                    id,
                    peer: access.peer.id.clone(),
                    last_seen: now,
                    last_relay: now,
                    active: true,
                };
                self.relay_typing(&t, true);
                self.typing.push(t);
            }
            (Some(i), false) => {
                let t = self.typing.remove(i);
                if t.active {
                    self.relay_typing(&t, false);
                }
            }
            (None, false) => {}
        }
        Next::Continue
    }

    async fn resume(
        &mut self,
        sink: &mut Sink,
        sessions: std::collections::BTreeMap<SessionId, u64>,
    ) -> Next {
        if sessions.len() > MAX_RESUME_SESSIONS {
            let e = AppError::invalid(format!(
                "resume names more than {MAX_RESUME_SESSIONS} sessions"
            ));
            return self.reply_error(sink, &e, None).await;
        }
        // Only the caller's own sessions are looked at: one query, whatever
        // the frame names; the others are refused together (one error frame,
        // one audit row), not one by one.
        let own: std::collections::HashMap<SessionId, Session> =
            match self.state.store.sessions_of(self.who.id()).await {
                Ok(list) => list.into_iter().map(|s| (s.id.clone(), s)).collect(),
                Err(e) => return self.reply_error(sink, &AppError::from(e), None).await,
            };
        let mut refused = 0usize;
        let mut wanted = Vec::with_capacity(sessions.len().min(own.len()));
        for (session_id, last_seq) in sessions {
            match own.get(&session_id) {
                Some(session)
                    if self
                        .state
                        .directory
                        .authorize(self.who.id(), session.context_type, &session.context_id)
                        .await
                        .is_ok_and(|a| a.is_ok()) =>
                {
                    wanted.push((session_id, last_seq));
                }
                _ => refused += 1,
            }
        }
        if refused > 0 {
            self.state
                .audit_denied(
                    self.who.id().as_str(),
                    "resume",
                    &format!("{refused} sessions not the caller's"),
                    &self.meta,
                )
                .await;
            let e = AppError::new(
                ErrorCode::ContextAccessDenied,
                format!(
                    "{refused} of the sessions named in resume are not yours; they were skipped"
                ),
            );
            if let Next::Close(c, r) = self.reply_error(sink, &e, None).await {
                return Next::Close(c, r);
            }
        }
        for (session_id, last_seq) in wanted {
            let mut after = last_seq;
            loop {
                let page = match self
                    .state
                    .store
                    .messages_after(&session_id, after, 500)
                    .await
                {
                    Ok(p) => p,
                    Err(e) => return self.reply_error(sink, &AppError::from(e), None).await,
                };
                let Some(last) = page.last() else { break };
                after = last.seq;
                for message in page {
                    if !send_frame(sink, &ServerFrame::Message { message }).await {
                        return Next::Close(CLOSE_POLICY, "write failed");
                    }
                }
            }
        }
        Next::Continue
    }
}

/// What the upgrade hands to the connection's task. Boxed, like the socket:
/// an async fn keeps its arguments for as long as it runs, and this one runs
/// as long as the socket is open (docs/performance.md, "Connections").
struct Opening {
    state: AppState,
    pre: Option<AuthedUser>,
    meta: RequestMeta,
    source_slot: SourceSlot,
    user_slot: Option<UserSlot>,
}

/// What an open, authenticated connection keeps until it closes.
struct Live {
    conn: Conn,
    sink: Sink,
    stream: Source,
    mailbox: Arc<Mailbox>,
    peers: Peers,
    /// Both places are given back when the connection ends.
    _slots: (SourceSlot, UserSlot),
}

/// The connection's task: the opening runs boxed (its state is freed once
/// the socket is open), then the loop, whose state is all a socket costs
/// while it is open.
async fn connection(socket: Box<WebSocket>, opening: Box<Opening>) {
    if let Some(live) = Box::pin(open(socket, opening)).await {
        run(live).await;
    }
}

/// Authenticates (unless the upgrade did), takes the user's place, sends
/// `ready`, registers with the hub and tells the presence.
async fn open(socket: Box<WebSocket>, opening: Box<Opening>) -> Option<Box<Live>> {
    let Opening {
        state,
        pre,
        meta,
        source_slot,
        user_slot,
    } = *opening;
    let (mut sink, mut stream) = (*socket).split();
    let who = match pre {
        Some(w) => w,
        None => wait_auth(&state, &mut sink, &mut stream).await?,
    };
    let user_slot = match user_slot {
        Some(slot) => Some(slot),
        None => state.hub.user_slot(who.id()).await,
    };
    let Some(user_slot) = user_slot else {
        let e = AppError::new(
            ErrorCode::RateLimitExceeded,
            "too many WebSocket connections for this account",
        );
        state.metrics.error(e.code.as_str());
        let _ = send_frame(&mut sink, &error_frame(&e, None)).await;
        close(&mut sink, CLOSE_POLICY, "too many connections").await;
        return None;
    };
    if !send_frame(
        &mut sink,
        &ServerFrame::Ready {
            user: who.user.user(),
        },
    )
    .await
    {
        return None;
    }
    let mailbox = Mailbox::new(state.config.ws.send_queue);
    let id = state.hub.next_id();
    let me = who.user.id.clone();
    let handle = ConnHandle {
        id,
        login: who.login.as_str().into(),
        mailbox: mailbox.clone(),
    };
    let first = state.hub.register(&me, handle.clone());
    state.metrics.connections.inc();
    let peers = state.directory.peers_of(&me).await.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "cannot read the peers for presence");
        Peers::default()
    });
    if first {
        let frame = Hub::encode(&ServerFrame::Presence {
            user_id: me.clone(),
            online: true,
        });
        for p in peers.iter() {
            state.hub.send_to(p, &frame, None, None);
        }
    }
    let online = state.hub.online_among(&peers).await;
    for (p, _) in peers.iter().zip(online).filter(|(_, on)| *on) {
        let frame = Hub::encode(&ServerFrame::Presence {
            user_id: p.clone(),
            online: true,
        });
        state.hub.push(
            &handle,
            Outbound {
                text: frame,
                persisted: None,
            },
        );
    }
    drop(handle);
    tracing::debug!(conn = id, user = %me, "socket open");
    let rl = &state.config.rate_limit;
    let conn = Conn {
        token_deadline: Conn::token_deadline(&state, &who),
        bucket: Bucket::full(rl.ws_frames_burst, std::time::Instant::now()),
        state: Arc::new(state),
        id,
        who: Arc::new(who),
        meta: Arc::new(meta),
        typing: Vec::new(),
    };
    Some(Box::new(Live {
        conn,
        sink,
        stream,
        mailbox,
        peers,
        _slots: (source_slot, user_slot),
    }))
}

/// The connection's loop, then its end (close frame, presence).
async fn run(live: Box<Live>) {
    let Live {
        mut conn,
        mut sink,
        mut stream,
        mailbox,
        peers,
        _slots,
    } = *live;
    let ws = &conn.state.config.ws;
    let ping_every = Duration::from_secs(ws.ping_interval_secs.max(1));
    let idle = Duration::from_secs(ws.idle_timeout_secs.max(1));
    let mut last_in = Instant::now();
    let mut next_ping = Instant::now() + ping_every;
    let mut shutdown = conn.state.shutdown.clone();
    let timer = tokio::time::sleep_until(next_ping);
    tokio::pin!(timer);

    // Made at the first pipelined frame and dropped once empty: an idle
    // socket holds no queue of futures (docs/performance.md, "Connections").
    let mut in_flight: Option<InFlight> = None;

    let close_with: Option<(u16, &'static str)> = loop {
        let mut deadline = next_ping.min(last_in + idle).min(conn.token_deadline);
        if let Some(t) = conn.typing_deadline() {
            deadline = deadline.min(t);
        }
        if timer.deadline() != deadline {
            timer.as_mut().reset(deadline);
        }
        tokio::select! {
            biased;
            _ = shutdown.changed() => break Some((CLOSE_GOING_AWAY, "server shutting down")),
            mail = mailbox.next() => match mail {
                Mail::Close(code) => {
                    break Some((code, match code {
                        CLOSE_UNAUTHENTICATED => "session revoked",
                        CLOSE_ACCOUNT_DISABLED => "ACCOUNT_DISABLED",
                        _ => "too slow",
                    }));
                }
                Mail::Frames(batch) => {
                    if !Box::pin(write_batch(&mut sink, &batch)).await {
                        break None;
                    }
                    for o in &batch {
                        if let Some(t) = o.persisted {
                            conn.state.metrics.message_latency.observe(t.elapsed().as_secs_f64());
                        }
                    }
                }
            },
            Some(reply) = next_reply(&mut in_flight), if in_flight.is_some() => {
                // The replies (acks) that are ready now go out together with
                // this one: one write instead of one per reply
                // (docs/performance.md, "Connections").
                let mut frames: Vec<Utf8Bytes> = reply.into_iter().collect();
                if let Some(pending) = in_flight.as_mut() {
                    while let Some(Some(more)) = pending.next().now_or_never() {
                        frames.extend(more);
                    }
                    if pending.is_empty() {
                        in_flight = None;
                    }
                }
                if !frames.is_empty() && !Box::pin(write_all(&mut sink, frames)).await {
                    break None;
                }
            }
            msg = stream.next(), if in_flight.as_ref().map_or(0, |f| f.len()) < MAX_IN_FLIGHT => {
                match msg {
                    Some(Ok(WsMessage::Text(text))) => {
                        last_in = Instant::now();
                        // Boxed, like every rarely taken await of this loop: the
                        // connection's task is as big as its largest await
                        // point, and it lives as long as the socket
                        // (docs/performance.md, "Connections").
                        match Box::pin(conn.handle_text(&mut sink, text.as_str())).await {
                            Next::Close(code, reason) => break Some((code, reason)),
                            Next::Pipeline(work) => in_flight.get_or_insert_with(InFlight::new).push_back(work),
                            Next::Continue => {}
                        }
                    }
                    Some(Ok(WsMessage::Binary(_))) => {
                        last_in = Instant::now();
                        let e = AppError::invalid("binary frames are not supported; send JSON text frames");
                        if let Next::Close(code, reason) = Box::pin(conn.reply_error(&mut sink, &e, None)).await {
                            break Some((code, reason));
                        }
                    }
                    Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_))) => last_in = Instant::now(),
                    Some(Ok(WsMessage::Close(_))) | None => break None,
                    Some(Err(e)) => {
                        let text = e.to_string();
                        if text.contains("too long") || text.contains("Space limit") || text.contains("size") {
                            conn.state.metrics.error(ErrorCode::ValidationFailed.as_str());
                            break Some((CLOSE_TOO_BIG, "frame too large"));
                        }
                        break None;
                    }
                }
            }
            _ = &mut timer => {
                let now = Instant::now();
                if now >= conn.token_deadline {
                    break Some((CLOSE_UNAUTHENTICATED, "token expired"));
                }
                if now.duration_since(last_in) >= idle {
                    break Some((CLOSE_POLICY, "idle timeout"));
                }
                conn.expire_typing(false);
                if now >= next_ping {
                    next_ping = now + ping_every;
                    if Box::pin(tokio::time::timeout(WRITE_TIMEOUT, sink.send(WsMessage::Ping(Default::default())))).await.map_or(true, |r| r.is_err()) {
                        break None;
                    }
                }
            }
        }
    };
    mailbox.end();
    Box::pin(finish(conn, sink, close_with, peers)).await;
}

/// Closes the socket (with a code when there is one), ends the typing
/// indicators and tells the peers when the user's last socket closed.
async fn finish(
    mut conn: Conn,
    mut sink: Sink,
    close_with: Option<(u16, &'static str)>,
    peers: Peers,
) {
    if let Some((code, reason)) = close_with {
        close(&mut sink, code, reason).await;
    }
    conn.expire_typing(true);
    let state = &conn.state;
    let me = conn.who.id();
    if state.hub.unregister(me, conn.id)
        && !state.hub.online_among(std::slice::from_ref(me)).await[0]
    {
        let frame = Hub::encode(&ServerFrame::Presence {
            user_id: me.clone(),
            online: false,
        });
        for p in peers.iter() {
            state.hub.send_to(p, &frame, None, None);
        }
    }
    state.metrics.connections.dec();
    tracing::debug!(conn = conn.id, "socket closed");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The size of what an async fn returns, without calling it.
    fn future_size<A, B, Fut>(_: fn(A, B) -> Fut) -> usize {
        std::mem::size_of::<Fut>()
    }

    /// What an idle socket costs in its task (docs/performance.md,
    /// "Connections"): the loop's state, not the opening's, and no
    /// `ServerFrame` held across an await. The bound leaves some room for
    /// compiler changes; a change that crosses it brings back the kilobytes.
    #[test]
    fn a_connection_task_stays_small() {
        let size = future_size(connection);
        assert!(size <= 1152, "the connection's future is {size} bytes");
        assert!(std::mem::size_of::<Live>() <= 384);
    }
}
