//! Messaging operations shared by the REST endpoints and the WebSocket, so
//! that a frame is authorized and validated exactly like the endpoint that
//! does the same thing.

use crate::error::{AppError, AppResult};
use crate::hub::Hub;
use crate::state::{AppState, AuthedUser};
use crate::store::{
    notification_for, Appended, AuditEvent, NewMessage, RequestMeta, StoreError, ENVELOPE_FAMILY,
};
use dmp_crypto::Envelope;
use dmp_protocol::api::SendRequest;
use dmp_protocol::ws::ServerFrame;
use dmp_protocol::*;
use std::time::Instant;

/// Checks a message `content` as what it claims to be: anything that starts
/// like an envelope (`dmp-e2e:`) must be bounded and parse as one (the server
/// holds no key, so it checks the format, not the signature); anything else is
/// clear text, refused unless the operator turned `require_e2e` off
/// (migration mode, see docs/security.md). Returns whether it is an envelope.
pub fn check_content(state: &AppState, req: &SendRequest) -> AppResult<bool> {
    let limits = &state.config.limits;
    if !req.content.starts_with(ENVELOPE_FAMILY) {
        if state.config.require_e2e && !(req.content.is_empty() && req.attachments.is_empty()) {
            return Err(AppError::new(
                ErrorCode::E2eRequired,
                "this server only accepts end-to-end encrypted messages",
            ));
        }
        return Ok(false);
    }
    // Bound before parsing: the parse costs memory in proportion to the input.
    if req.content.len() > limits.max_envelope_bytes {
        return Err(AppError::invalid(format!(
            "encrypted message is larger than {} bytes",
            limits.max_envelope_bytes
        )));
    }
    let envelope = Envelope::from_content(&req.content).map_err(|e| {
        let why = match e {
            dmp_crypto::CryptoError::UnsupportedVersion => "its version is not supported",
            _ => "it is not base64url JSON of the envelope format",
        };
        AppError::new(
            ErrorCode::MalformedEnvelope,
            format!("the content is marked as an end-to-end envelope but {why}"),
        )
    })?;
    let h = &envelope.header;
    let context = format!("{}/{}", req.context_type, req.context_id);
    if envelope.recipients.is_empty()
        || h.client_message_id != req.client_message_id.as_str()
        || h.context != context
    {
        return Err(AppError::new(
            ErrorCode::MalformedEnvelope,
            "the envelope's header does not match the request (clientMessageId, context) or names no recipient",
        ));
    }
    Ok(true)
}

/// Result of a send.
#[derive(Debug)]
pub struct Sent {
    /// The stored message (the first one for a repeated `clientMessageId`).
    pub message: Message,
    /// Whether it was stored by this call.
    pub created: bool,
}

/// Checks a send against the limits (DESIGN §5).
pub fn validate_send(state: &AppState, req: &SendRequest) -> AppResult<()> {
    let limits = &state.config.limits;
    if !req.client_message_id.is_valid() {
        return Err(AppError::invalid(
            "clientMessageId must be 1-128 characters of letters, digits, '_', '-', '.', ':'",
        ));
    }
    if !req.context_id.is_valid() {
        return Err(AppError::invalid("contextId is malformed"));
    }
    let encrypted = check_content(state, req)?;
    let chars = req.content.chars().count();
    if !encrypted && chars > limits.max_message_length {
        return Err(AppError::invalid(format!(
            "message is longer than {} characters",
            limits.max_message_length
        )));
    }
    if chars == 0 && req.attachments.is_empty() {
        return Err(AppError::invalid("message is empty"));
    }
    if req.attachments.len() > limits.max_attachments {
        return Err(AppError::invalid(format!(
            "at most {} attachments per message",
            limits.max_attachments
        )));
    }
    if req.attachments.iter().any(|a| !a.is_valid()) {
        return Err(AppError::invalid("attachment id is malformed"));
    }
    let mut ids: Vec<_> = req.attachments.iter().collect();
    ids.sort();
    ids.dedup();
    if ids.len() != req.attachments.len() {
        return Err(AppError::invalid("the same attachment is listed twice"));
    }
    if req.kind == MessageType::System || req.metadata.system.is_some() {
        return Err(AppError::invalid("system messages are made by the server"));
    }
    if let Some(category) = req.metadata.category {
        if !req.context_type.allows(category) {
            return Err(AppError::invalid(format!(
                "category '{category}' is not offered for an {}: expected one of {} or 'other'",
                req.context_type,
                req.context_type
                    .allowed_actions()
                    .iter()
                    .map(|c| format!("'{c}'"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    }
    Ok(())
}

/// Stores a message and fans it out. `origin` is the sending connection,
/// which gets an `ack` instead of a `message`.
pub async fn send(
    state: &AppState,
    who: &AuthedUser,
    req: SendRequest,
    meta: &RequestMeta,
    origin: Option<u64>,
) -> AppResult<Sent> {
    validate_send(state, &req)?;
    let access = state
        .authorize(who, req.context_type, &req.context_id, meta)
        .await?;
    if req.metadata.category.is_some() && access.context.patient_id != *who.id() {
        return Err(AppError::invalid(
            "only the patient's questions carry a category",
        ));
    }
    if let Err(wait) = state.send_limiter.check(who.id()).await {
        return Err(AppError::rate_limited(wait.as_secs_f64().ceil() as u64));
    }
    let now = state.now();
    let id = MessageId(format!("msg_{}", uuid::Uuid::now_v7().simple()));
    let new = NewMessage {
        id,
        client_message_id: req.client_message_id.clone(),
        context: (*access.context).clone(),
        sender: access.me.participant(),
        recipient: access.peer.participant(),
        kind: req.kind,
        content: req.content,
        metadata: req.metadata,
        attachments: req.attachments,
        now,
        meta: meta.clone(),
    };
    match state.store.append_message(new).await {
        Ok(Appended::Existing(message)) => {
            if message.context.kind != req.context_type || message.context.id != req.context_id {
                return Err(AppError::new(
                    ErrorCode::Conflict,
                    "clientMessageId was already used for another context",
                ));
            }
            Ok(Sent {
                message,
                created: false,
            })
        }
        Ok(Appended::New {
            message,
            answered_wait,
        }) => {
            let persisted = Instant::now();
            state.metrics.messages_sent.inc();
            if let Some(since) = answered_wait {
                let waited = (message.timestamp - since).num_milliseconds().max(0) as f64 / 1000.0;
                state.metrics.response_time.observe(waited);
            }
            let frame = Hub::encode(&ServerFrame::Message {
                message: message.clone(),
            });
            state
                .hub
                .send_to(&message.recipient.id, &frame, Some(persisted), None);
            state.hub.send_to(&message.sender.id, &frame, None, origin);
            let nframe = Hub::encode(&ServerFrame::Notification {
                notification: notification_for(&message, &access.context.title),
            });
            state
                .hub
                .send_to(&message.recipient.id, &nframe, None, None);
            if message.sender.id == access.context.patient_id {
                answer_absence(state, &access.context.doctor_id, &message).await;
            }
            Ok(Sent {
                message,
                created: true,
            })
        }
        Err(StoreError::Invalid(m)) => Err(AppError::invalid(m)),
        Err(e) => Err(e.into()),
    }
}

/// When the doctor is away, or outside office hours, the patient who writes
/// gets the automatic answer at once, once per conversation and absence (or
/// until the next opening) (docs/messaging.md, "Absence", "Office hours").
/// A failure here does not fail the send: it is logged.
async fn answer_absence(state: &AppState, doctor: &UserId, message: &Message) {
    let now = state.now();
    let (event, key, until) = match state.directory.absence_now(doctor, now).await {
        Ok(Some(a)) => (SystemEventKind::Absent, a.0.clone(), a.1.until),
        Ok(None) => match state.directory.office_hours(doctor).await {
            Ok(Some(h)) => match crate::hours::next_opening(&h, now) {
                Some(next) => (
                    SystemEventKind::OutsideHours,
                    format!("hours:{}", next.timestamp()),
                    next,
                ),
                None => return,
            },
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the doctor's office hours");
                return;
            }
        },
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the doctor's absence");
            return;
        }
    };
    let reply = crate::store::AbsenceReply {
        session_id: message.session_id.clone(),
        message_id: MessageId(format!("msg_{}", uuid::Uuid::now_v7().simple())),
        event,
        absence_id: key,
        until,
        now,
    };
    match state.store.absence_reply(reply).await {
        Ok(Some(notice)) => {
            let frame = Hub::encode(&ServerFrame::Message { message: notice });
            state.hub.send_to(&message.sender.id, &frame, None, None);
            state.hub.send_to(doctor, &frame, None, None);
        }
        Ok(None) => {}
        Err(e) => tracing::warn!(error = %e, "cannot answer for an absent doctor"),
    }
}

/// Moves a message to `delivered` or `read` (recipient only) and tells both sides.
pub async fn mark(
    state: &AppState,
    who: &AuthedUser,
    id: &MessageId,
    status: MessageStatus,
    meta: &RequestMeta,
) -> AppResult<Option<MessageStatus>> {
    if !id.is_valid() {
        return Err(AppError::invalid("messageId is malformed"));
    }
    let parties = state
        .store
        .message_parties(id)
        .await?
        .ok_or_else(|| AppError::not_found("message"))?;
    state
        .authorize(who, parties.context_kind, &parties.context_id, meta)
        .await?;
    if parties.recipient_id != *who.id() {
        state
            .audit_denied(who.id().as_str(), status.as_str(), id.as_str(), meta)
            .await;
        return Err(AppError::new(
            ErrorCode::ContextAccessDenied,
            "only the recipient can mark a message as read",
        ));
    }
    if parties.deleted {
        return Ok(Some(parties.status));
    }
    let audit = (status == MessageStatus::Read).then(|| {
        AuditEvent::new(
            state.now(),
            who.id().as_str(),
            "read",
            id.as_str(),
            "ok",
            meta,
        )
        .in_session(&parties.session_id)
    });
    let change = state
        .store
        .mark_status(id, who.id(), status, state.now(), audit)
        .await?;
    let Some(change) = change else {
        return Ok(Some(parties.status));
    };
    let frame = Hub::encode(&ServerFrame::Status {
        message_id: change.message_id.clone(),
        session_id: change.session_id.clone(),
        status: change.status,
        at: change.at,
    });
    state.hub.send_to(&change.sender_id, &frame, None, None);
    state.hub.send_to(who.id(), &frame, None, None);
    Ok(Some(change.status))
}

/// Soft-deletes a message (sender only): the content goes, the tombstone and the audit stay.
pub async fn delete(
    state: &AppState,
    who: &AuthedUser,
    id: &MessageId,
    meta: &RequestMeta,
) -> AppResult<Message> {
    if !id.is_valid() {
        return Err(AppError::invalid("messageId is malformed"));
    }
    let parties = state
        .store
        .message_parties(id)
        .await?
        .ok_or_else(|| AppError::not_found("message"))?;
    state
        .authorize(who, parties.context_kind, &parties.context_id, meta)
        .await?;
    if parties.sender_id != *who.id() {
        state
            .audit_denied(who.id().as_str(), "delete", id.as_str(), meta)
            .await;
        return Err(AppError::new(
            ErrorCode::ContextAccessDenied,
            "only the sender can delete a message",
        ));
    }
    let audit = AuditEvent::new(
        state.now(),
        who.id().as_str(),
        "delete",
        id.as_str(),
        "ok",
        meta,
    )
    .in_session(&parties.session_id);
    let deleted = state
        .store
        .delete_message(id, who.id(), state.now(), audit)
        .await?;
    for a in &deleted.attachment_ids {
        state.attachment_files.remove(a).await;
    }
    let frame = Hub::encode(&ServerFrame::Message {
        message: deleted.message.clone(),
    });
    state.hub.send_to(&parties.recipient_id, &frame, None, None);
    state.hub.send_to(&parties.sender_id, &frame, None, None);
    Ok(deleted.message)
}
