//! The desktop IPC contract's own types: the command error, the event names
//! and payloads. With the wire types of `dmp-protocol` and the client types
//! of `dmp-client`, they are the single source of the TypeScript types in
//! `ui/src/api/generated/` (ts-rs; docs/desktop-ipc.md "Generated types").

use dmp_client::{ClientError, ConnectionState};
use dmp_protocol::*;
use serde::{Deserialize, Serialize};
use std::path::Path;
use ts_rs::TS;

/// Event names (docs/desktop-ipc.md "Events").
pub mod event {
    /// `UiMessage`: new, acknowledged or changed.
    pub const MESSAGE: &str = "dmp://message";
    /// [`super::StatusEvent`].
    pub const STATUS: &str = "dmp://status";
    /// [`super::TypingEvent`].
    pub const TYPING: &str = "dmp://typing";
    /// [`super::PresenceEvent`].
    pub const PRESENCE: &str = "dmp://presence";
    /// `Notification`.
    pub const NOTIFICATION: &str = "dmp://notification";
    /// [`super::ConnectionEvent`].
    pub const CONNECTION: &str = "dmp://connection";
    /// `SessionEndedEvent`.
    pub const SESSION_EXPIRED: &str = "dmp://session-expired";
    /// [`super::OpenConversationEvent`].
    pub const OPEN_CONVERSATION: &str = "dmp://open-conversation";
    /// [`super::PeerKeyChangedEvent`].
    pub const PEER_KEY_CHANGED: &str = "dmp://peer-key-changed";
    /// `Inbox`, after any change to counts or order.
    pub const INBOX: &str = "dmp://inbox";
    /// `null`: reload the open conversation from the cache.
    pub const RESYNC: &str = "dmp://resync";
}

/// What every command returns on failure: a stable code and a human message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct CommandError {
    /// A stable code (the server's or the client's); the UI switches on it.
    pub code: String,
    /// A human explanation, never shown as the only information.
    pub message: String,
}

impl CommandError {
    /// A `VALIDATION_FAILED` error.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self {
            code: ErrorCode::ValidationFailed.as_str().to_owned(),
            message: message.into(),
        }
    }
}

impl From<ClientError> for CommandError {
    fn from(e: ClientError) -> Self {
        Self {
            code: e.code().to_owned(),
            message: e.to_string(),
        }
    }
}

/// `dmp://status`: a message's status moved forward.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct StatusEvent {
    /// The message.
    pub message_id: MessageId,
    /// Its session.
    pub session_id: SessionId,
    /// New status.
    pub status: MessageStatus,
    /// When (RFC 3339).
    pub at: chrono::DateTime<chrono::Utc>,
}

/// `dmp://typing`: the other participant types (or stopped).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct TypingEvent {
    /// ordonnance or examen.
    pub context_type: ContextType,
    /// The record.
    pub context_id: ContextId,
    /// Who.
    pub user: Participant,
    /// Whether they are typing.
    pub is_typing: bool,
}

/// `dmp://presence`: someone came online or went offline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct PresenceEvent {
    /// Who.
    pub user_id: UserId,
    /// Online or not.
    pub online: bool,
}

/// `dmp://connection`: the real-time connection's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionEvent {
    /// connected, disconnected or reconnecting.
    pub state: ConnectionState,
    /// The app shows the cache only (server unreachable at start).
    pub read_only: bool,
}

/// `dmp://open-conversation` (a native notification was clicked), and the
/// argument of `set_open_conversation`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct OpenConversationEvent {
    /// ordonnance or examen.
    pub context_type: ContextType,
    /// The record.
    pub context_id: ContextId,
}

/// `dmp://peer-key-changed`: a blocking warning until accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct PeerKeyChangedEvent {
    /// Whose key changed.
    pub user_id: UserId,
    /// Their name.
    pub name: String,
}

/// Writes the TypeScript types of the contract into `dir` (one file per type
/// and an `index.ts` re-exporting them all).
pub fn export_bindings(dir: &Path) -> Result<(), ts_rs::ExportError> {
    let cfg = ts_rs::Config::new()
        .with_out_dir(dir)
        .with_large_int("number");
    std::fs::create_dir_all(dir)?;
    macro_rules! roots {
        ($($t:ty),+ $(,)?) => {{ $(<$t>::export_all(&cfg)?;)+ }};
    }
    roots!(
        CommandError,
        StatusEvent,
        TypingEvent,
        PresenceEvent,
        ConnectionEvent,
        dmp_client::SessionEndedEvent,
        dmp_client::SignedIn,
        dmp_client::LastLogin,
        dmp_client::UiMessage,
        OpenConversationEvent,
        PeerKeyChangedEvent,
        dmp_client::Inbox,
        dmp_client::HistoryPage,
        dmp_client::SearchHit,
        dmp_client::Settings,
        Limits,
        Notification,
        Message,
        User,
        Attachment,
        ContextSummary,
        dmp_protocol::Session,
        CloseReason,
        dmp_protocol::api::AccessLogResponse,
        Absence,
        ReplyTemplate,
        OfficeHours,
    );
    let mut names: Vec<String> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.strip_suffix(".ts")
                .filter(|n| *n != "index")
                .map(str::to_owned)
        })
        .collect();
    names.sort();
    let mut index = String::from(
        "// Generated by `cargo run -p dmp-desktop --bin dmp-ipc-types` from the Rust types (ts-rs).\n// Do not edit: change the Rust types and regenerate (docs/desktop-ipc.md).\n",
    );
    for n in &names {
        index.push_str(&format!("export type {{ {n} }} from './{n}';\n"));
    }
    std::fs::write(dir.join("index.ts"), index)?;
    Ok(())
}
