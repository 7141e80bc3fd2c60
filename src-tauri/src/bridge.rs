//! The one event flow from the client core to the window, and the signed-in
//! session that owns it (docs/desktop-ipc.md "Event bridge").
//!
//! The bridge task forwards every [`ClientEvent`] as a `dmp://…` event. It
//! survives a lag of the broadcast channel (the inbox is recomputed from the
//! cache and the window told to reload: `dmp://inbox` + `dmp://resync`), and
//! it ends with the login: on logout or when the session ends it is aborted
//! and every [`DmpClient`] clone the shell holds is dropped, so the cache
//! connection, the identity keys and the tokens leave memory.

use crate::contract::{self, event};
use dmp_client::{ClientEvent, ConnectionState, DmpClient, Inbox, SessionEndedEvent, UiMessage};
use serde::Serialize;
use std::sync::{Arc, Weak};
use tokio::sync::broadcast::{error::RecvError, Receiver};
use tokio::sync::{Mutex, RwLock};
use tokio::task::JoinHandle;

/// Where the bridge delivers: the app's window (or a recorder in tests).
pub trait Window: Send + Sync + 'static {
    /// Emits an event to the web view.
    fn emit(&self, name: &str, payload: serde_json::Value);
    /// Sets the native window title.
    fn set_title(&self, title: &str);
}

impl Window for tauri::AppHandle {
    fn emit(&self, name: &str, payload: serde_json::Value) {
        let _ = tauri::Emitter::emit(self, name, payload);
    }

    fn set_title(&self, title: &str) {
        if let Some(w) = tauri::Manager::get_webview_window(self, "main") {
            let _ = w.set_title(title);
        }
    }
}

fn send<W: Window, T: Serialize>(w: &W, name: &str, payload: &T) {
    match serde_json::to_value(payload) {
        Ok(v) => w.emit(name, v),
        Err(_) => tracing::warn!(event = name, "unserialisable event payload"),
    }
}

/// The window title for an unread total.
pub fn title(unread_total: u64) -> String {
    if unread_total > 0 {
        format!("({unread_total}) DMP Messagerie")
    } else {
        "DMP Messagerie".to_owned()
    }
}

/// Emits the inbox and sets the title from it.
fn show_inbox<W: Window>(w: &W, inbox: &Inbox) {
    send(w, event::INBOX, inbox);
    w.set_title(&title(inbox.unread_total));
}

/// The signed-in client and its bridge; empty when signed out.
#[derive(Default)]
pub struct Session {
    client: RwLock<Option<DmpClient>>,
    bridge: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").finish_non_exhaustive()
    }
}

impl Session {
    /// The signed-in client, if any.
    pub async fn client(&self) -> Option<DmpClient> {
        self.client.read().await.clone()
    }

    /// Holds `c` (ending a previous login, if any), forwards its events from
    /// `events` (a subscription taken before `c` connected) to `window`.
    pub async fn begin<W: Window>(
        self: &Arc<Self>,
        window: W,
        c: DmpClient,
        events: Receiver<ClientEvent>,
    ) {
        if let Some(old) = self.end().await {
            old.shutdown().await;
        }
        if let Ok(inbox) = c.inbox() {
            show_inbox(&window, &inbox);
        }
        let task = tokio::spawn(run(window, c.clone(), events, Arc::downgrade(self)));
        *self.client.write().await = Some(c);
        *self.bridge.lock().await = Some(task);
    }

    /// Stops the bridge (waiting until its task is gone) and hands back the
    /// client, so that the shell holds no clone of it any more.
    pub async fn end(&self) -> Option<DmpClient> {
        if let Some(task) = self.bridge.lock().await.take() {
            task.abort();
            let _ = task.await;
        }
        self.client.write().await.take()
    }
}

/// Forwards events until the login ends; see the module documentation.
async fn run<W: Window>(
    window: W,
    client: DmpClient,
    mut events: Receiver<ClientEvent>,
    session: Weak<Session>,
) {
    let mut connected_once = false;
    loop {
        match events.recv().await {
            Ok(ev) => {
                if forward(&window, &client, ev, &mut connected_once).await == Flow::SessionOver {
                    break;
                }
            }
            Err(RecvError::Lagged(missed)) => {
                tracing::warn!(missed, "event bridge lagged: resynchronising");
                resync(&window, &client);
            }
            Err(RecvError::Closed) => break,
        }
    }
    drop(client);
    window.set_title(&title(0));
    // The login is over: drop the shell's clone too (from another task, since
    // `end` waits for this one).
    if let Some(session) = session.upgrade() {
        tokio::spawn(async move {
            if let Some(c) = session.end().await {
                c.shutdown().await;
            }
        });
    }
}

/// Recomputes the inbox from the cache and tells the window to reload.
fn resync<W: Window>(window: &W, client: &DmpClient) {
    match client.inbox() {
        Ok(inbox) => show_inbox(window, &inbox),
        Err(e) => tracing::warn!(code = e.code(), "cannot compute the inbox"),
    }
    window.emit(event::RESYNC, serde_json::Value::Null);
}

#[derive(Debug, PartialEq, Eq)]
enum Flow {
    Continue,
    SessionOver,
}

/// One event to the window: the only `match` on [`ClientEvent`] in the shell.
async fn forward<W: Window>(
    w: &W,
    c: &DmpClient,
    ev: ClientEvent,
    connected_once: &mut bool,
) -> Flow {
    match ev {
        ClientEvent::Message { message } => send(w, event::MESSAGE, &UiMessage::acked(message)),
        // Unacknowledged sends, whose `local` state says where they stand
        // (sending, waiting for keys, slowed down, failed with the reason).
        ClientEvent::Local { message } => send(w, event::MESSAGE, &message),
        ClientEvent::Status {
            message_id,
            session_id,
            status,
            at,
        } => send(
            w,
            event::STATUS,
            &contract::StatusEvent {
                message_id,
                session_id,
                status,
                at,
            },
        ),
        ClientEvent::Typing {
            context_type,
            context_id,
            user,
            is_typing,
        } => send(
            w,
            event::TYPING,
            &contract::TypingEvent {
                context_type,
                context_id,
                user,
                is_typing,
            },
        ),
        ClientEvent::Presence { user_id, online } => send(
            w,
            event::PRESENCE,
            &contract::PresenceEvent { user_id, online },
        ),
        ClientEvent::Notification { notification } => send(w, event::NOTIFICATION, &notification),
        ClientEvent::Connection { state } => {
            send(
                w,
                event::CONNECTION,
                &contract::ConnectionEvent {
                    state,
                    read_only: c.is_read_only(),
                },
            );
            if state == ConnectionState::Connected {
                if *connected_once {
                    // Re-established: counts may have moved while away (one request).
                    if let Err(e) = c.refresh_inbox().await {
                        tracing::debug!(code = e.code(), "inbox refresh failed");
                    }
                    w.emit(event::RESYNC, serde_json::Value::Null);
                }
                *connected_once = true;
            }
        }
        // Offline read-only mode is over: the remembered login was accepted.
        ClientEvent::OnlineAgain => send(
            w,
            event::CONNECTION,
            &contract::ConnectionEvent {
                state: ConnectionState::Reconnecting,
                read_only: false,
            },
        ),
        // The failed message itself comes as `Local` (state `failed`, with the reason).
        ClientEvent::SendFailed { .. } => {}
        ClientEvent::SessionExpired { reason } => {
            send(w, event::SESSION_EXPIRED, &SessionEndedEvent { reason });
            return Flow::SessionOver;
        }
        ClientEvent::PeerKeyChanged { user_id, name } => send(
            w,
            event::PEER_KEY_CHANGED,
            &contract::PeerKeyChangedEvent { user_id, name },
        ),
        ClientEvent::Inbox { inbox } => show_inbox(w, &inbox),
    }
    Flow::Continue
}
