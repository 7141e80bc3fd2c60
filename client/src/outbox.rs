//! Honest sends: every message typed goes to the outbox (inside the
//! encrypted cache) and leaves it only when the server acknowledged it or the
//! user discarded it. One ordered queue per conversation, with at most one
//! message in flight per conversation, so a later message never overtakes an
//! earlier unacknowledged one (the server gives `seq` in arrival order).
//!
//! While a message is not acknowledged the window is told why, as a
//! [`LocalState`] (docs/desktop-ipc.md, "Honest sends"):
//! - `sending`: on its way (or waiting for the network);
//! - `waitingForKeys`: the peer never signed in, so there is no key to seal
//!   to. The queue is re-checked when the server announces the peer's keys
//!   (a `keyChange` frame, sent to every peer when a user first publishes
//!   keys), and every [`KEYS_RECHECK`] anyway;
//! - `slowedDown`: the server's per-user rate limit refused it; the whole
//!   queue waits until `retryAt` (the server's `Retry-After`) and goes on by
//!   itself, in order;
//! - `failed`: refused for good (`VALIDATION_FAILED`, `CONTEXT_ACCESS_DENIED`,
//!   `E2E_REQUIRED`, a changed peer key, ...). The row stays in the outbox with
//!   the code and reason until [`crate::DmpClient::retry_send`] (same
//!   `clientMessageId`: the server's idempotency guarantees no duplicate) or
//!   [`crate::DmpClient::discard_send`]. A failed message does not hold back
//!   the ones written after it: they would otherwise wait for a decision
//!   nobody may take; a retried message keeps its place among the unsent ones.

use crate::cache::OutboxEntry;
use crate::error::{ClientError, ClientResult};
use crate::realtime::ClientEvent;
use crate::Inner;
use chrono::{DateTime, Utc};
use dmp_protocol::*;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;

/// How often a conversation waiting for a peer's first keys asks the server again.
pub const KEYS_RECHECK: Duration = Duration::from_secs(30);
/// Wait before trying again after the server could not be reached or failed.
const TRANSIENT_BACKOFF: Duration = Duration::from_secs(3);

/// Why a message is not acknowledged yet (absent once the server has it).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(tag = "state", rename_all = "camelCase")]
pub enum LocalState {
    /// On its way (or waiting for the network).
    Sending,
    /// The peer never signed in: no keys to seal to yet. It leaves by itself.
    #[serde(rename_all = "camelCase")]
    WaitingForKeys {
        /// The peer's display name.
        peer_name: String,
    },
    /// Rate-limited: kept in order, retried automatically at `retry_at`.
    #[serde(rename_all = "camelCase")]
    SlowedDown {
        /// When the queue goes on.
        #[cfg_attr(feature = "ts", ts(type = "string"))]
        retry_at: DateTime<Utc>,
    },
    /// Refused for good; a retry keeps the `clientMessageId`.
    Failed {
        /// The stable code (the server's, or the client's).
        code: String,
        /// A human reason (never the message text).
        message: String,
    },
}

/// A message as the window gets it: the wire message plus its local state.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct UiMessage {
    /// The message (for a local one: `id` = `local:<clientMessageId>`, `seq` 0).
    #[serde(flatten)]
    pub message: Message,
    /// Present only while the server has not acknowledged it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local: Option<LocalState>,
}

impl UiMessage {
    /// An acknowledged (or received) message.
    pub fn acked(message: Message) -> Self {
        Self {
            message,
            local: None,
        }
    }
}

impl std::ops::Deref for UiMessage {
    type Target = Message;
    fn deref(&self) -> &Message {
        &self.message
    }
}

/// How a failure is kept in the outbox's `failed` column.
#[derive(serde::Serialize, serde::Deserialize)]
struct Refusal {
    code: String,
    message: String,
}

/// Decodes the `failed` column (rows from older versions hold a bare reason).
fn refusal(failed: &str) -> LocalState {
    match serde_json::from_str::<Refusal>(failed) {
        Ok(r) => LocalState::Failed {
            code: r.code,
            message: r.message,
        },
        Err(_) => LocalState::Failed {
            code: "SEND_FAILED".into(),
            message: failed.to_owned(),
        },
    }
}

type Conversation = (String, String);

fn conversation(e: &OutboxEntry) -> Conversation {
    (
        e.request.context_type.as_str().to_owned(),
        e.request.context_id.as_str().to_owned(),
    )
}

#[derive(Default)]
struct Queues {
    /// Transient states shown to the window (failed ones live in the cache).
    shown: HashMap<ClientMessageId, LocalState>,
    /// The message on the wire per conversation, and when it left.
    in_flight: HashMap<Conversation, (ClientMessageId, Instant)>,
    /// A conversation waits until then (keys re-check, network backoff).
    not_before: HashMap<Conversation, Instant>,
    /// Conversations waiting for a peer's keys, by peer.
    waiting_for: HashMap<Conversation, UserId>,
    /// The per-user rate limit: every queue waits until then.
    slowed_until: Option<(Instant, DateTime<Utc>)>,
}

/// The outbox's dispatcher state (one per signed-in client).
#[derive(Default)]
pub(crate) struct Outbox {
    wake: Arc<Notify>,
    queues: Mutex<Queues>,
    /// One pass at a time (the background task and `send` share it).
    pass: tokio::sync::Mutex<()>,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Outbox {
    /// Asks the dispatcher for a pass.
    pub(crate) fn wake(&self) {
        self.wake.notify_one();
    }

    /// Stops the background dispatcher.
    pub(crate) fn stop(&self) {
        if let Some(t) = self.task.lock().take() {
            t.abort();
        }
    }
}

/// Starts the background dispatcher; it ends when the client is dropped.
pub(crate) fn start(inner: &Arc<Inner>) {
    let weak: Weak<Inner> = Arc::downgrade(inner);
    let wake = inner.outbox.wake.clone();
    // The first pass waits for a reason (a send, the connection, a key): a
    // client that only reads sends nothing behind its user's back at start.
    let task = tokio::spawn(async move {
        let mut next: Option<Instant> = None;
        loop {
            let wait = next.map_or(KEYS_RECHECK, |t| {
                t.saturating_duration_since(Instant::now())
            });
            tokio::select! {
                _ = wake.notified() => {}
                _ = tokio::time::sleep(wait) => {}
            }
            let Some(inner) = weak.upgrade() else { break };
            next = if inner.read_only() {
                None
            } else {
                inner.pump().await
            };
        }
    });
    *inner.outbox.task.lock() = Some(task);
}

enum After {
    /// Go on with the next message of the conversation.
    Next,
    /// Leave the conversation for now.
    Stop,
}

impl Inner {
    /// The state to show for a queued message.
    pub(crate) fn local_state(&self, e: &OutboxEntry) -> LocalState {
        if let Some(f) = &e.failed {
            return refusal(f);
        }
        self.outbox
            .queues
            .lock()
            .shown
            .get(&e.request.client_message_id)
            .cloned()
            .unwrap_or(LocalState::Sending)
    }

    /// A queued message as the window shows it.
    pub(crate) fn ui_local(&self, e: &OutboxEntry) -> UiMessage {
        let ctx = self
            .cache
            .context(e.request.context_type, &e.request.context_id)
            .ok()
            .flatten();
        let m = self.local(crate::local_message(
            &self.user,
            ctx.as_ref(),
            &e.request,
            e.created_at,
        ));
        UiMessage {
            message: m,
            local: Some(self.local_state(e)),
        }
    }

    /// Changes the shown state of a queued message; tells the window when it changed.
    fn show(&self, e: &OutboxEntry, state: LocalState) {
        let changed = {
            let mut q = self.outbox.queues.lock();
            q.shown
                .insert(e.request.client_message_id.clone(), state.clone())
                != Some(state)
        };
        if changed {
            self.emit(ClientEvent::Local {
                message: self.ui_local(e),
            });
        }
    }

    /// Marks a queued message refused for good and tells the window.
    fn refuse(&self, e: &OutboxEntry, err: &ClientError) -> ClientResult<()> {
        let code = err.code().to_owned();
        let message = err.to_string();
        let json = serde_json::to_string(&Refusal {
            code: code.clone(),
            message: message.clone(),
        })
        .unwrap_or_default();
        self.cache
            .outbox_fail(&e.request.client_message_id, &json)?;
        self.outbox
            .queues
            .lock()
            .shown
            .remove(&e.request.client_message_id);
        tracing::info!(code = %code, "a send was refused");
        if let Ok(c) = code.parse::<ErrorCodeOwned>() {
            self.emit(ClientEvent::SendFailed {
                client_message_id: e.request.client_message_id.clone(),
                code: c.0,
                message: message.clone(),
            });
        }
        let mut failed = e.clone();
        failed.failed = Some(json);
        self.emit(ClientEvent::Local {
            message: self.ui_local(&failed),
        });
        Ok(())
    }

    /// The server acknowledged a send (or another device of the user sent it).
    pub(crate) fn outbox_acked(&self, cmid: &ClientMessageId) {
        let mut q = self.outbox.queues.lock();
        q.shown.remove(cmid);
        q.in_flight.retain(|_, (c, _)| c != cmid);
        drop(q);
        self.outbox.wake();
    }

    /// The real-time connection is (again) up: frames in flight may be lost,
    /// so the head of every queue goes again (the server keeps one copy).
    pub(crate) fn outbox_connected(&self) {
        let mut q = self.outbox.queues.lock();
        q.in_flight.clear();
        q.not_before.clear();
        drop(q);
        self.outbox.wake();
    }

    /// The user asked to send `cmid` again: its conversation goes now.
    pub(crate) fn outbox_retrying(&self, cmid: &ClientMessageId) {
        let conv = self
            .cache
            .outbox()
            .ok()
            .and_then(|o| o.into_iter().find(|e| e.request.client_message_id == *cmid))
            .map(|e| conversation(&e));
        let mut q = self.outbox.queues.lock();
        q.shown.insert(cmid.clone(), LocalState::Sending);
        if let Some(c) = conv {
            q.not_before.remove(&c);
        }
    }

    /// Whether `cmid` is on the wire, waiting for its answer.
    pub(crate) fn is_in_flight(&self, cmid: &ClientMessageId) -> bool {
        self.outbox
            .queues
            .lock()
            .in_flight
            .values()
            .any(|(c, _)| c == cmid)
    }

    /// The server announced keys of `user`: queues waiting for them go on.
    pub(crate) fn outbox_keys_of(&self, user: &UserId) {
        let mut q = self.outbox.queues.lock();
        let convs: Vec<Conversation> = q
            .waiting_for
            .iter()
            .filter(|(_, u)| *u == user)
            .map(|(c, _)| c.clone())
            .collect();
        for c in convs {
            q.waiting_for.remove(&c);
            q.not_before.remove(&c);
        }
        drop(q);
        self.outbox.wake();
    }

    /// The server refused a send made over the socket.
    pub(crate) async fn outbox_refused(
        &self,
        cmid: &ClientMessageId,
        err: ClientError,
    ) -> ClientResult<()> {
        let entry = self
            .cache
            .outbox()?
            .into_iter()
            .find(|e| e.request.client_message_id == *cmid);
        let Some(entry) = entry else { return Ok(()) };
        {
            let mut q = self.outbox.queues.lock();
            q.in_flight.retain(|_, (c, _)| c != cmid);
        }
        let queue: Vec<OutboxEntry> = self
            .cache
            .outbox()?
            .into_iter()
            .filter(|e| conversation(e) == conversation(&entry) && e.failed.is_none())
            .collect();
        let _ = self.after_error(&entry, &queue, err);
        self.outbox.wake();
        Ok(())
    }

    /// Applies a refusal of the head of a queue; says whether the next one may go.
    fn after_error(&self, head: &OutboxEntry, queue: &[OutboxEntry], err: ClientError) -> After {
        let conv = conversation(head);
        match err {
            ClientError::RateLimited {
                retry_after_secs, ..
            } => {
                let wait = Duration::from_secs(retry_after_secs.max(1));
                let at = Utc::now() + chrono::Duration::from_std(wait).unwrap_or_default();
                self.outbox.queues.lock().slowed_until = Some((Instant::now() + wait, at));
                for e in queue {
                    self.show(e, LocalState::SlowedDown { retry_at: at });
                }
                After::Stop
            }
            e if e.is_permanent() => {
                if let Err(c) = self.refuse(head, &e) {
                    tracing::warn!(code = c.code(), "cannot record a refused send");
                    return After::Stop;
                }
                After::Next
            }
            _ => {
                self.outbox
                    .queues
                    .lock()
                    .not_before
                    .insert(conv, Instant::now() + TRANSIENT_BACKOFF);
                After::Stop
            }
        }
    }

    /// One pass over the outbox: sends the head of every queue that may go.
    /// Returns when the next pass is due (a timeout, a backoff), if any.
    pub(crate) async fn pump(&self) -> Option<Instant> {
        let _pass = self.outbox.pass.lock().await;
        let entries = match self.cache.outbox() {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(code = e.code(), "cannot read the outbox");
                return Some(Instant::now() + TRANSIENT_BACKOFF);
            }
        };
        let timeout = Duration::from_secs(self.limits().message_timeout_secs.max(5));
        let mut next: Option<Instant> = None;
        let mut due = |t: Instant| next = Some(next.map_or(t, |n: Instant| n.min(t)));
        // Conversations in the order of their oldest message.
        let mut order: Vec<Conversation> = vec![];
        let mut queues: HashMap<Conversation, Vec<OutboxEntry>> = HashMap::new();
        for e in entries {
            let c = conversation(&e);
            if !queues.contains_key(&c) {
                order.push(c.clone());
            }
            queues.entry(c).or_default().push(e);
        }
        {
            let mut q = self.outbox.queues.lock();
            let live: std::collections::HashSet<&ClientMessageId> = queues
                .values()
                .flatten()
                .map(|e| &e.request.client_message_id)
                .collect();
            q.shown.retain(|k, _| live.contains(k));
            q.in_flight.retain(|_, (c, _)| live.contains(c));
        }
        for conv in order {
            let queue: Vec<OutboxEntry> = queues
                .remove(&conv)
                .unwrap_or_default()
                .into_iter()
                .filter(|e| e.failed.is_none())
                .collect();
            if queue.is_empty() {
                continue;
            }
            let now = Instant::now();
            // A queue that waits: what its messages (new ones too) say meanwhile.
            let held: Option<Option<LocalState>> = {
                let mut q = self.outbox.queues.lock();
                let in_flight = match q.in_flight.get(&conv) {
                    Some((_, at)) if *at + timeout > now => Some(*at + timeout),
                    _ => None,
                };
                if let Some(t) = in_flight {
                    due(t);
                    Some(None)
                } else {
                    // No answer in time: the head goes again (same key).
                    q.in_flight.remove(&conv);
                    match (q.not_before.get(&conv).copied(), q.slowed_until) {
                        (Some(t), _) if t > now => {
                            due(t);
                            Some(q.waiting_for.contains_key(&conv).then(|| {
                                LocalState::WaitingForKeys {
                                    peer_name: String::new(),
                                }
                            }))
                        }
                        (_, Some((until, at))) if until > now => {
                            due(until);
                            Some(Some(LocalState::SlowedDown { retry_at: at }))
                        }
                        _ => {
                            q.slowed_until = None;
                            None
                        }
                    }
                }
            };
            match held {
                Some(Some(LocalState::WaitingForKeys { .. })) => {
                    let (_, name) = self.peer_of(&queue[0]);
                    for e in &queue {
                        self.show(
                            e,
                            LocalState::WaitingForKeys {
                                peer_name: name.clone(),
                            },
                        );
                    }
                }
                Some(Some(state)) => {
                    for e in &queue {
                        self.show(e, state.clone());
                    }
                }
                Some(None) => {}
                None => self.pump_queue(&conv, &queue, timeout, &mut due).await,
            }
        }
        next
    }

    /// Sends the head of one conversation's queue (over HTTP, the following
    /// ones too, since each answer comes back before the next request).
    async fn pump_queue(
        &self,
        conv: &Conversation,
        queue: &[OutboxEntry],
        timeout: Duration,
        due: &mut impl FnMut(Instant),
    ) {
        for (i, head) in queue.iter().enumerate() {
            let rest = &queue[i..];
            let sealed = match self.seal_request(&head.request).await {
                Ok(s) => s,
                Err(ClientError::E2e {
                    code: "E2E_PEER_NOT_READY",
                    ..
                }) => {
                    let (peer, name) = self.peer_of(head);
                    {
                        let mut q = self.outbox.queues.lock();
                        q.waiting_for.insert(conv.clone(), peer);
                        q.not_before
                            .insert(conv.clone(), Instant::now() + KEYS_RECHECK);
                    }
                    for e in rest {
                        self.show(
                            e,
                            LocalState::WaitingForKeys {
                                peer_name: name.clone(),
                            },
                        );
                    }
                    due(Instant::now() + KEYS_RECHECK);
                    return;
                }
                Err(e) => match self.after_error(head, rest, e) {
                    After::Next => continue,
                    After::Stop => {
                        due(Instant::now() + TRANSIENT_BACKOFF);
                        return;
                    }
                },
            };
            self.outbox.queues.lock().waiting_for.remove(conv);
            // Whatever waited behind a limit or for keys is on its way again.
            for e in rest {
                self.show(e, LocalState::Sending);
            }
            if self.push_frame(crate::send_frame(&sealed)) {
                let now = Instant::now();
                self.outbox
                    .queues
                    .lock()
                    .in_flight
                    .insert(conv.clone(), (head.request.client_message_id.clone(), now));
                due(now + timeout);
                return;
            }
            match self.api.send(&sealed).await {
                Ok(m) => {
                    if let Err(e) = self.stored(m).await {
                        tracing::warn!(code = e.code(), "cannot store an acknowledged send");
                    }
                }
                Err(e) => match self.after_error(head, rest, e) {
                    After::Next => continue,
                    After::Stop => {
                        due(Instant::now() + TRANSIENT_BACKOFF);
                        return;
                    }
                },
            }
        }
    }

    /// An acknowledged send: out of the outbox, into the cache, to the window.
    pub(crate) async fn stored(&self, m: Message) -> ClientResult<Message> {
        self.cache.outbox_remove(&m.client_message_id)?;
        let m = self.decrypt(m).await;
        let m = self.keep_message(&m)?;
        self.outbox_acked(&m.client_message_id);
        self.emit(ClientEvent::Message { message: m.clone() });
        Ok(m)
    }

    /// The other participant of a queued message's conversation.
    fn peer_of(&self, e: &OutboxEntry) -> (UserId, String) {
        let ctx = self
            .cache
            .context(e.request.context_type, &e.request.context_id)
            .ok()
            .flatten();
        match ctx {
            Some(c) if c.context.patient.id == self.user.id => {
                (c.context.doctor.id, c.context.doctor.name)
            }
            Some(c) => (c.context.patient.id, c.context.patient.name),
            None => (UserId::new(""), String::new()),
        }
    }
}

/// An [`ErrorCode`] parsed back from its wire form (for `SendFailed`).
struct ErrorCodeOwned(ErrorCode);

impl std::str::FromStr for ErrorCodeOwned {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        serde_json::from_value::<ErrorCode>(serde_json::Value::String(s.to_owned()))
            .map(Self)
            .map_err(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_states_serialize_as_the_contract_says() {
        let s = serde_json::to_value(LocalState::WaitingForKeys {
            peer_name: "Dr. Martin".into(),
        })
        .unwrap_or_default();
        assert_eq!(
            s,
            serde_json::json!({"state": "waitingForKeys", "peerName": "Dr. Martin"})
        );
        let s = serde_json::to_value(LocalState::Failed {
            code: "VALIDATION_FAILED".into(),
            message: "too long".into(),
        })
        .unwrap_or_default();
        assert_eq!(
            s,
            serde_json::json!({"state": "failed", "code": "VALIDATION_FAILED", "message": "too long"})
        );
        assert_eq!(
            serde_json::to_value(LocalState::Sending).unwrap_or_default(),
            serde_json::json!({"state": "sending"})
        );
    }

    #[test]
    fn old_failure_rows_still_read_as_failed() {
        assert_eq!(
            refusal("refused"),
            LocalState::Failed {
                code: "SEND_FAILED".into(),
                message: "refused".into()
            }
        );
    }
}
