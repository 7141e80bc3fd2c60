//! Sessions, permission checks, statistics and notifications.

use super::{Json, Path};
use crate::directory::AccessRefusal;
use crate::error::{AppError, AppResult};
use crate::state::{AppState, AuthedUser};
use crate::store::{AuditEvent, RequestMeta, SessionChange};
use axum::extract::State;
use dmp_protocol::api::*;
use dmp_protocol::*;

/// Creates the session of a context, or returns the existing one.
#[utoipa::path(post, path = "/api/messaging/sessions", tag = "sessions", security(("bearer" = [])), request_body = CreateSessionRequest,
    responses((status = 200, body = Session), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    who: AuthedUser,
    meta: RequestMeta,
    Json(req): Json<CreateSessionRequest>,
) -> AppResult<Json<Session>> {
    if !req.context_id.is_valid() {
        return Err(AppError::invalid("contextId is malformed"));
    }
    let access = state
        .authorize(&who, req.context_type, &req.context_id, &meta)
        .await?;
    let now = state.now();
    let audit = AuditEvent::new(
        now,
        who.id().as_str(),
        "session_create",
        access.session_id().as_str(),
        "ok",
        &meta,
    )
    .in_session(&access.session_id());
    Ok(Json(
        state
            .store
            .ensure_session((*access.context).clone(), now, Some(audit))
            .await?,
    ))
}

/// Closes a conversation (its doctor only): the patient can read it, not
/// write to it, until the doctor reopens it. Both sides get the `system`
/// message that says so (docs/messaging.md, "Closing a conversation").
#[utoipa::path(patch, path = "/api/messaging/sessions/{session_id}/close", tag = "sessions", security(("bearer" = [])),
    params(("session_id" = SessionId, Path)), request_body = CloseSessionRequest,
    responses((status = 200, body = Session), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, description = "CONTEXT_ACCESS_DENIED: not the conversation's doctor", body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, description = "CONFLICT: already closed", body = ErrorBody)))]
pub async fn close(
    State(state): State<AppState>,
    who: AuthedUser,
    meta: RequestMeta,
    Path(id): Path<SessionId>,
    Json(req): Json<CloseSessionRequest>,
) -> AppResult<Json<Session>> {
    let event = SystemEvent {
        event: SystemEventKind::Closed,
        reason: req.reason,
        until: None,
    };
    let session = change(&state, &who, &meta, &id, event).await?;
    state
        .metrics
        .messages_per_session
        .observe(session.message_count as f64);
    Ok(Json(session))
}

/// Reopens a closed conversation (its doctor only).
#[utoipa::path(patch, path = "/api/messaging/sessions/{session_id}/reopen", tag = "sessions", security(("bearer" = [])),
    params(("session_id" = SessionId, Path)),
    responses((status = 200, body = Session), (status = 401, body = ErrorBody),
              (status = 403, description = "CONTEXT_ACCESS_DENIED: not the conversation's doctor", body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, description = "CONFLICT: not closed", body = ErrorBody)))]
pub async fn reopen(
    State(state): State<AppState>,
    who: AuthedUser,
    meta: RequestMeta,
    Path(id): Path<SessionId>,
) -> AppResult<Json<Session>> {
    let event = SystemEvent {
        event: SystemEventKind::Reopened,
        reason: None,
        until: None,
    };
    Ok(Json(change(&state, &who, &meta, &id, event).await?))
}

/// Entries the access log returns at most.
const ACCESS_LOG_LIMIT: u32 = 500;

/// The patient's access log of a conversation: who read its history,
/// exported it, downloaded its attachments, closed, reopened or archived it,
/// and what an administrator did to the patient's account; from the audit
/// trail, newest first (docs/messaging.md, "The patient's access log").
#[utoipa::path(get, path = "/api/messaging/sessions/{session_id}/access-log", tag = "sessions", security(("bearer" = [])),
    params(("session_id" = SessionId, Path)),
    responses((status = 200, body = AccessLogResponse), (status = 401, body = ErrorBody),
              (status = 403, description = "CONTEXT_ACCESS_DENIED: not the conversation's patient", body = ErrorBody)))]
pub async fn access_log(
    State(state): State<AppState>,
    who: AuthedUser,
    meta: RequestMeta,
    Path(id): Path<SessionId>,
) -> AppResult<Json<AccessLogResponse>> {
    if !id.is_valid() {
        return Err(AppError::invalid("sessionId is malformed"));
    }
    let session = state.store.session(&id).await?;
    let Some(session) = session.filter(|s| s.participants.patient.id == *who.id()) else {
        state
            .audit_denied(who.id().as_str(), "access_log", id.as_str(), &meta)
            .await;
        return Err(AppError::new(
            ErrorCode::ContextAccessDenied,
            "only the conversation's patient reads its access log",
        ));
    };
    state
        .authorize(&who, session.context_type, &session.context_id, &meta)
        .await?;
    let rows = state
        .store
        .access_log(&id, who.id(), ACCESS_LOG_LIMIT + 1)
        .await?;
    let truncated = rows.len() > ACCESS_LOG_LIMIT as usize;
    let mut names: std::collections::HashMap<String, Participant> = Default::default();
    let mut entries = Vec::with_capacity(rows.len().min(ACCESS_LOG_LIMIT as usize));
    for row in rows.into_iter().take(ACCESS_LOG_LIMIT as usize) {
        let (action, detail) = match row.action.as_str() {
            "history" => (AccessAction::Read, None),
            "export" => (AccessAction::Export, None),
            "download" => (AccessAction::Download, None),
            "session_close" => (AccessAction::Close, None),
            "session_reopen" => (AccessAction::Reopen, None),
            "archive" => (AccessAction::Archive, None),
            other => (AccessAction::Account, Some(other.to_owned())),
        };
        let who = match names.get(&row.actor) {
            Some(p) => p.clone(),
            None => {
                let p = actor(&state, &row.actor).await?;
                names.insert(row.actor.clone(), p.clone());
                p
            }
        };
        entries.push(AccessLogEntry {
            at: row.time,
            who,
            action,
            detail,
        });
    }
    Ok(Json(AccessLogResponse { entries, truncated }))
}

/// Who an audit actor is, as the access log names them.
async fn actor(state: &AppState, id: &str) -> AppResult<Participant> {
    if id == crate::admin::CLI_ACTOR || id == "system" {
        return Ok(Participant {
            id: UserId::new(id),
            kind: if id == "system" {
                UserType::System
            } else {
                UserType::Admin
            },
            name: "Administrateur DMP".into(),
        });
    }
    let user = state.directory.user(&UserId::new(id)).await?;
    Ok(match user {
        Some(u) => u.participant(),
        None => Participant {
            id: UserId::new(id),
            kind: UserType::Admin,
            name: "Administrateur DMP".into(),
        },
    })
}

/// Closes or reopens a session for its doctor, and sends the `system`
/// message to both sides.
async fn change(
    state: &AppState,
    who: &AuthedUser,
    meta: &RequestMeta,
    id: &SessionId,
    event: SystemEvent,
) -> AppResult<Session> {
    let action = match event.event {
        SystemEventKind::Closed => "session_close",
        SystemEventKind::Reopened => "session_reopen",
        SystemEventKind::Absent | SystemEventKind::OutsideHours => {
            return Err(AppError::invalid(
                "absences and office hours are set with /api/me/absence and /api/me/office-hours",
            ))
        }
    };
    if !id.is_valid() {
        return Err(AppError::invalid("sessionId is malformed"));
    }
    let Some(session) = state.store.session(id).await? else {
        state
            .audit_denied(who.id().as_str(), action, id.as_str(), meta)
            .await;
        return Err(AppError::denied());
    };
    let access = state
        .authorize(who, session.context_type, &session.context_id, meta)
        .await?;
    if access.context.doctor_id != *who.id() {
        state
            .audit_denied(who.id().as_str(), action, id.as_str(), meta)
            .await;
        return Err(AppError::new(
            ErrorCode::ContextAccessDenied,
            "only the conversation's doctor can close or reopen it",
        ));
    }
    let now = state.now();
    let change = SessionChange {
        session_id: id.clone(),
        message_id: MessageId(format!("msg_{}", uuid::Uuid::now_v7().simple())),
        event,
        now,
        audit: AuditEvent::new(now, who.id().as_str(), action, id.as_str(), "ok", meta)
            .in_session(id),
    };
    let Some((session, message)) = state.store.change_session(change).await? else {
        return Err(AppError::new(
            ErrorCode::Conflict,
            match action {
                "session_close" => "the conversation is already closed",
                _ => "the conversation is not closed",
            },
        ));
    };
    let frame = crate::hub::Hub::encode(&dmp_protocol::ws::ServerFrame::Message { message });
    state
        .hub
        .send_to(&session.participants.patient.id, &frame, None, None);
    state
        .hub
        .send_to(&session.participants.doctor.id, &frame, None, None);
    Ok(session)
}

/// Archives a session (either participant).
#[utoipa::path(patch, path = "/api/messaging/sessions/{session_id}/archive", tag = "sessions", security(("bearer" = [])),
    params(("session_id" = SessionId, Path)),
    responses((status = 200, body = Session), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn archive(
    State(state): State<AppState>,
    who: AuthedUser,
    meta: RequestMeta,
    Path(id): Path<SessionId>,
) -> AppResult<Json<Session>> {
    if !id.is_valid() {
        return Err(AppError::invalid("sessionId is malformed"));
    }
    let Some(session) = state.store.session(&id).await? else {
        state
            .audit_denied(who.id().as_str(), "archive", id.as_str(), &meta)
            .await;
        return Err(AppError::denied());
    };
    state
        .authorize(&who, session.context_type, &session.context_id, &meta)
        .await?;
    let now = state.now();
    let audit = AuditEvent::new(now, who.id().as_str(), "archive", id.as_str(), "ok", &meta)
        .in_session(&id);
    let session = state.store.archive_session(&id, now, audit).await?;
    state
        .metrics
        .messages_per_session
        .observe(session.message_count as f64);
    Ok(Json(session))
}

/// Refuses questions about anyone but the caller.
async fn only_self(
    state: &AppState,
    who: &AuthedUser,
    kind: UserType,
    id: &UserId,
    action: &str,
    meta: &RequestMeta,
) -> AppResult<()> {
    if who.user.kind != kind || who.id() != id {
        state
            .audit_denied(who.id().as_str(), action, id.as_str(), meta)
            .await;
        return Err(AppError::new(
            ErrorCode::ContextAccessDenied,
            "you can only ask about yourself",
        ));
    }
    Ok(())
}

/// Whether the caller may use a context's messaging, and why.
#[utoipa::path(get, path = "/api/messaging/permissions/{context_type}/{context_id}/{user_type}/{user_id}", tag = "sessions", security(("bearer" = [])),
    params(("context_type" = ContextType, Path), ("context_id" = ContextId, Path), ("user_type" = UserType, Path), ("user_id" = UserId, Path)),
    responses((status = 200, body = PermissionResponse), (status = 401, body = ErrorBody), (status = 403, description = "asking about someone else", body = ErrorBody)))]
pub async fn permissions(
    State(state): State<AppState>,
    who: AuthedUser,
    meta: RequestMeta,
    Path((kind, context_id, user_type, user_id)): Path<(ContextType, ContextId, UserType, UserId)>,
) -> AppResult<Json<PermissionResponse>> {
    if !context_id.is_valid() || !user_id.is_valid() {
        return Err(AppError::invalid("contextId or userId is malformed"));
    }
    only_self(&state, &who, user_type, &user_id, "permission_check", &meta).await?;
    let (allowed, reason) = match state
        .directory
        .authorize(who.id(), kind, &context_id)
        .await?
    {
        Ok(a) if a.context.patient_id == *who.id() => (true, "PATIENT_OF_CONTEXT"),
        Ok(_) => (true, "DOCTOR_OF_CONTEXT"),
        // One answer for a record that does not exist and for someone
        // else's: the endpoint must not tell which record ids exist.
        Err(AccessRefusal::UnknownContext | AccessRefusal::NotParticipant) => {
            (false, AccessRefusal::NotParticipant.reason())
        }
        Err(r @ AccessRefusal::AccountDisabled) => (false, r.reason()),
    };
    let outcome = if allowed { "ok" } else { "denied" };
    state
        .audit(AuditEvent::new(
            state.now(),
            who.id().as_str(),
            "permission_check",
            format!("{kind}/{context_id}"),
            outcome,
            &meta,
        ))
        .await?;
    Ok(Json(PermissionResponse {
        allowed,
        reason: reason.into(),
    }))
}

/// The caller's messaging statistics.
#[utoipa::path(get, path = "/api/messaging/stats/{user_type}/{user_id}", tag = "sessions", security(("bearer" = [])),
    params(("user_type" = UserType, Path), ("user_id" = UserId, Path)),
    responses((status = 200, body = StatsResponse), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn stats(
    State(state): State<AppState>,
    who: AuthedUser,
    meta: RequestMeta,
    Path((user_type, user_id)): Path<(UserType, UserId)>,
) -> AppResult<Json<StatsResponse>> {
    only_self(&state, &who, user_type, &user_id, "stats", &meta).await?;
    Ok(Json(state.store.stats(who.id()).await?))
}

/// The caller's unseen notifications, newest first.
#[utoipa::path(get, path = "/api/messaging/notifications/{user_type}/{user_id}", tag = "sessions", security(("bearer" = [])),
    params(("user_type" = UserType, Path), ("user_id" = UserId, Path)),
    responses((status = 200, body = NotificationsResponse), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn notifications(
    State(state): State<AppState>,
    who: AuthedUser,
    meta: RequestMeta,
    Path((user_type, user_id)): Path<(UserType, UserId)>,
) -> AppResult<Json<NotificationsResponse>> {
    only_self(&state, &who, user_type, &user_id, "notifications", &meta).await?;
    Ok(Json(NotificationsResponse {
        notifications: state.store.notifications(who.id(), 200).await?,
    }))
}
