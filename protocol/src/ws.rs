//! WebSocket frames of `GET /api/messaging/ws` (DESIGN §4): JSON text
//! frames, each an object tagged by `type`.

use crate::ids::*;
use crate::model::*;
use crate::ErrorCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Largest frame the server accepts (64 KiB).
pub const MAX_FRAME_BYTES: usize = 64 * 1024;
/// Close code: not authenticated in time, bad or revoked token.
pub const CLOSE_UNAUTHENTICATED: u16 = 4401;
/// Close code: the client could not keep up or sent too much.
pub const CLOSE_POLICY: u16 = 1008;
/// Close code: an administrator disabled the account (reason `ACCOUNT_DISABLED`).
pub const CLOSE_ACCOUNT_DISABLED: u16 = 4403;
/// Close code: server going away.
pub const CLOSE_GOING_AWAY: u16 = 1001;
/// Close code: the server's node lost frames it should have relayed (its
/// link to the other nodes came back); reconnect and resume by `seq`.
pub const CLOSE_SERVICE_RESTART: u16 = 1012;
/// Most message ids one `read` frame may carry.
pub const MAX_READ_BATCH: usize = 100;

/// Frames a client sends.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum ClientFrame {
    /// Authenticate, or re-authenticate in-band before the token expires.
    Auth {
        /// Access JWT.
        token: String,
    },
    /// Send a message (same rules as `POST /api/messaging/send`).
    #[serde(rename_all = "camelCase")]
    Send {
        /// Idempotency key.
        client_message_id: ClientMessageId,
        /// ordonnance or examen.
        context_type: ContextType,
        /// The record's id.
        context_id: ContextId,
        /// Content (opaque).
        content: String,
        /// The message's own `type`.
        #[serde(default)]
        message_type: MessageType,
        /// Urgency flags.
        #[serde(default)]
        metadata: MessageMetadata,
        /// Uploaded attachment ids.
        #[serde(default)]
        attachments: Vec<AttachmentId>,
    },
    /// Start or stop the typing indicator.
    #[serde(rename_all = "camelCase")]
    Typing {
        /// ordonnance or examen.
        context_type: ContextType,
        /// The record's id.
        context_id: ContextId,
        /// Whether the user is typing.
        is_typing: bool,
    },
    /// This device received the message.
    #[serde(rename_all = "camelCase")]
    Delivered {
        /// The message.
        message_id: MessageId,
    },
    /// The user read these messages: `messageId` (one) and/or `messageIds`
    /// (a batch), 1..=[`MAX_READ_BATCH`] ids in all; over that, or none, the
    /// frame is refused and nothing is applied.
    #[serde(rename_all = "camelCase")]
    Read {
        /// One message.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message_id: Option<MessageId>,
        /// Several messages.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        message_ids: Vec<MessageId>,
    },
    /// Replay every message after `lastSeq` for each session.
    Resume {
        /// sessionId -> last seq the client holds.
        sessions: BTreeMap<SessionId, u64>,
    },
    /// Keep-alive.
    Ping,
}

impl std::fmt::Debug for ClientFrame {
    // Never print tokens or content.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Auth { .. } => f.write_str("Auth { token: <redacted> }"),
            Self::Send { client_message_id, context_type, context_id, .. } => write!(
                f,
                "Send {{ client_message_id: {client_message_id}, context: {context_type}/{context_id}, content: <redacted> }}"
            ),
            Self::Typing { context_type, context_id, is_typing } => {
                write!(f, "Typing {{ {context_type}/{context_id}, {is_typing} }}")
            }
            Self::Delivered { message_id } => write!(f, "Delivered {{ {message_id} }}"),
            Self::Read {
                message_id,
                message_ids,
            } => write!(
                f,
                "Read {{ {} ids }}",
                usize::from(message_id.is_some()) + message_ids.len()
            ),
            Self::Resume { sessions } => write!(f, "Resume {{ {} sessions }}", sessions.len()),
            Self::Ping => f.write_str("Ping"),
        }
    }
}

impl ClientFrame {
    /// A `read` frame for a batch of ids.
    pub fn read_many(ids: Vec<MessageId>) -> Self {
        Self::Read {
            message_id: None,
            message_ids: ids,
        }
    }
}

/// The ids of a `read` frame, in order, without duplicates; `None` when there
/// are none or more than [`MAX_READ_BATCH`].
pub fn read_ids(
    message_id: Option<MessageId>,
    message_ids: Vec<MessageId>,
) -> Option<Vec<MessageId>> {
    let mut seen = std::collections::HashSet::new();
    let ids: Vec<MessageId> = message_id
        .into_iter()
        .chain(message_ids)
        .filter(|id| seen.insert(id.clone()))
        .collect();
    (!ids.is_empty() && ids.len() <= MAX_READ_BATCH).then_some(ids)
}

/// Frames the server sends.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum ServerFrame {
    /// The socket is authenticated.
    Ready {
        /// The authenticated user.
        user: User,
    },
    /// A `send` was persisted.
    #[serde(rename_all = "camelCase")]
    Ack {
        /// The send's idempotency key.
        client_message_id: ClientMessageId,
        /// The stored message.
        message: Message,
    },
    /// A message for this user (or sent from another of their devices).
    Message {
        /// The stored message.
        message: Message,
    },
    /// A message's status moved forward.
    #[serde(rename_all = "camelCase")]
    Status {
        /// The message.
        message_id: MessageId,
        /// Its session.
        session_id: SessionId,
        /// New status.
        status: MessageStatus,
        /// When it changed.
        at: DateTime<Utc>,
    },
    /// The other participant is typing (or stopped).
    #[serde(rename_all = "camelCase")]
    Typing {
        /// ordonnance or examen.
        context_type: ContextType,
        /// The record's id.
        context_id: ContextId,
        /// Who.
        user: Participant,
        /// Whether they are typing.
        is_typing: bool,
    },
    /// Someone this user shares a context with came online or went offline.
    #[serde(rename_all = "camelCase")]
    Presence {
        /// Who.
        user_id: UserId,
        /// Online or not.
        online: bool,
    },
    /// Someone this user shares a context with changed their identity keys
    /// or login credential: re-check the key pinned for them.
    #[serde(rename_all = "camelCase")]
    KeyChange {
        /// Whose keys changed.
        user_id: UserId,
    },
    /// A new notification for this user.
    Notification {
        /// The notification (no message content).
        notification: Notification,
    },
    /// A frame failed.
    #[serde(rename_all = "camelCase")]
    Error {
        /// Stable code.
        code: ErrorCode,
        /// Human explanation.
        message: String,
        /// The send it is about, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client_message_id: Option<ClientMessageId>,
        /// With `RATE_LIMIT_EXCEEDED`: seconds to wait before sending again
        /// (what `Retry-After` says over HTTP).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_after_secs: Option<u64>,
    },
    /// Answer to `ping`.
    Pong,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_frame_shape() {
        let json = r#"{"type":"send","clientMessageId":"c1","contextType":"ordonnance","contextId":"ord_789","content":"x"}"#;
        let frame: ClientFrame = serde_json::from_str(json).unwrap();
        match frame {
            ClientFrame::Send {
                message_type,
                metadata,
                attachments,
                ..
            } => {
                assert_eq!(message_type, MessageType::Text);
                assert!(!metadata.is_urgent);
                assert!(attachments.is_empty());
            }
            other => panic!("unexpected {other:?}"),
        }
        let debug = format!("{:?}", serde_json::from_str::<ClientFrame>(json).unwrap());
        assert!(!debug.contains("\"x\""));
    }

    #[test]
    fn read_frames_single_or_batch() {
        let one: ClientFrame = serde_json::from_str(r#"{"type":"read","messageId":"m1"}"#).unwrap();
        let many: ClientFrame =
            serde_json::from_str(r#"{"type":"read","messageIds":["m1","m2","m1"]}"#).unwrap();
        let ClientFrame::Read {
            message_id,
            message_ids,
        } = one
        else {
            panic!("read")
        };
        assert_eq!(read_ids(message_id, message_ids).unwrap().len(), 1);
        let ClientFrame::Read {
            message_id,
            message_ids,
        } = many
        else {
            panic!("read")
        };
        assert_eq!(read_ids(message_id, message_ids).unwrap().len(), 2);
        assert!(read_ids(None, vec![]).is_none());
        let too_many = (0..=MAX_READ_BATCH)
            .map(|i| MessageId(format!("m{i}")))
            .collect();
        assert!(read_ids(None, too_many).is_none());
        assert_eq!(
            serde_json::to_string(&ClientFrame::read_many(vec![MessageId::new("m1")])).unwrap(),
            r#"{"type":"read","messageIds":["m1"]}"#
        );
    }

    #[test]
    fn server_frames_are_tagged() {
        let f = ServerFrame::Presence {
            user_id: UserId::new("medecin_456"),
            online: true,
        };
        assert_eq!(
            serde_json::to_string(&f).unwrap(),
            r#"{"type":"presence","userId":"medecin_456","online":true}"#
        );
        assert_eq!(
            serde_json::to_string(&ServerFrame::Pong).unwrap(),
            r#"{"type":"pong"}"#
        );
        let auth: ClientFrame = serde_json::from_str(r#"{"type":"auth","token":"t"}"#).unwrap();
        assert!(format!("{auth:?}").contains("redacted"));
    }
}
