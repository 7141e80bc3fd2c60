//! History, send, mark-read, delete and export.

use super::{Json, Path, Query};
use crate::error::{AppError, AppResult};
use crate::messaging;
use crate::state::{AppState, AuthedUser};
use crate::store::{AuditEvent, RequestMeta};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use dmp_protocol::api::*;
use dmp_protocol::*;

/// One page of a conversation, newest page first.
#[utoipa::path(get, path = "/api/messaging/history/{context_type}/{context_id}", tag = "messages", security(("bearer" = [])),
    params(("context_type" = ContextType, Path), ("context_id" = ContextId, Path), HistoryQuery),
    responses((status = 200, body = HistoryResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, description = "CONTEXT_ACCESS_DENIED", body = ErrorBody)))]
pub async fn history(
    State(state): State<AppState>,
    who: AuthedUser,
    meta: RequestMeta,
    Path((kind, id)): Path<(ContextType, ContextId)>,
    Query(q): Query<HistoryQuery>,
) -> AppResult<Json<HistoryResponse>> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(AppError::invalid("limit must be between 1 and 200"));
    }
    let access = state.authorize(&who, kind, &id, &meta).await?;
    let session = state.store.session_for_context(&access.context).await?;
    let Some(session) = session else {
        return Ok(Json(HistoryResponse {
            messages: vec![],
            has_more: false,
            next_before: None,
            session: None,
        }));
    };
    let (messages, has_more) = state.store.history(&session.id, q.before, limit).await?;
    state
        .audit(
            AuditEvent::new(
                state.now(),
                who.id().as_str(),
                "history",
                format!("{kind}/{id}"),
                "ok",
                &meta,
            )
            .in_session(&session.id),
        )
        .await?;
    let next_before = if has_more {
        messages.first().map(|m| m.seq)
    } else {
        None
    };
    Ok(Json(HistoryResponse {
        messages,
        has_more,
        next_before,
        session: Some(session),
    }))
}

/// Sends a message. Idempotent on `clientMessageId`: a repeat returns the first message with 200.
#[utoipa::path(post, path = "/api/messaging/send", tag = "messages", security(("bearer" = [])), request_body = SendRequest,
    responses((status = 201, description = "stored", body = Message), (status = 200, description = "already stored (same clientMessageId)", body = Message),
              (status = 400, description = "VALIDATION_FAILED", body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, description = "CONTEXT_ACCESS_DENIED", body = ErrorBody), (status = 409, description = "CONFLICT", body = ErrorBody),
              (status = 429, description = "RATE_LIMIT_EXCEEDED", body = ErrorBody)))]
pub async fn send(
    State(state): State<AppState>,
    who: AuthedUser,
    meta: RequestMeta,
    Json(req): Json<SendRequest>,
) -> AppResult<Response> {
    let sent = messaging::send(&state, &who, req, &meta, None).await?;
    let status = if sent.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(sent.message)).into_response())
}

/// Marks a message read (its recipient only).
#[utoipa::path(patch, path = "/api/messaging/messages/{message_id}/read", tag = "messages", security(("bearer" = [])),
    params(("message_id" = MessageId, Path)),
    responses((status = 200, body = Message), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn mark_read(
    State(state): State<AppState>,
    who: AuthedUser,
    meta: RequestMeta,
    Path(id): Path<MessageId>,
) -> AppResult<Json<Message>> {
    messaging::mark(&state, &who, &id, MessageStatus::Read, &meta).await?;
    state
        .store
        .message(&id)
        .await?
        .map(Json)
        .ok_or_else(|| AppError::not_found("message"))
}

/// Deletes a message (its sender only): the content is removed, the tombstone and audit stay.
#[utoipa::path(delete, path = "/api/messaging/messages/{message_id}", tag = "messages", security(("bearer" = [])),
    params(("message_id" = MessageId, Path)),
    responses((status = 200, description = "the tombstone", body = Message), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    who: AuthedUser,
    meta: RequestMeta,
    Path(id): Path<MessageId>,
) -> AppResult<Json<Message>> {
    Ok(Json(messaging::delete(&state, &who, &id, &meta).await?))
}

/// The whole conversation of a context with its audit lines, for filing in the record.
#[utoipa::path(get, path = "/api/messaging/export/{context_type}/{context_id}", tag = "messages", security(("bearer" = [])),
    params(("context_type" = ContextType, Path), ("context_id" = ContextId, Path), ExportQuery),
    responses((status = 200, body = ExportResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn export(
    State(state): State<AppState>,
    who: AuthedUser,
    meta: RequestMeta,
    Path((kind, id)): Path<(ContextType, ContextId)>,
    Query(q): Query<ExportQuery>,
) -> AppResult<Json<ExportResponse>> {
    if q.format.as_deref().is_some_and(|f| f != "json") {
        return Err(AppError::invalid(
            "format must be json; printable documents are made by the client",
        ));
    }
    let access = state.authorize(&who, kind, &id, &meta).await?;
    let people = [access.me.clone(), access.peer.clone()]
        .into_iter()
        .map(|u| (u.id.clone(), u))
        .collect();
    let context = super::contexts::context_view(&access.context, &people)
        .ok_or_else(|| AppError::not_found("context"))?;
    let session = state.store.session_for_context(&access.context).await?;
    let (messages, audit) = match &session {
        Some(s) => {
            let mut messages = Vec::new();
            let mut after = 0;
            loop {
                let page = state.store.messages_after(&s.id, after, 1000).await?;
                let Some(last) = page.last() else { break };
                after = last.seq;
                messages.extend(page);
            }
            let audit = state
                .store
                .audit_rows(None, None, Some(s.id.clone()), 100_000)
                .await?;
            (messages, audit.iter().map(|r| r.entry()).collect())
        }
        None => (vec![], vec![]),
    };
    let mut ev = AuditEvent::new(
        state.now(),
        who.id().as_str(),
        "export",
        format!("{kind}/{id}"),
        "ok",
        &meta,
    );
    if let Some(s) = &session {
        ev = ev.in_session(&s.id);
    }
    state.audit(ev).await?;
    Ok(Json(ExportResponse {
        exported_at: state.now(),
        context,
        session,
        messages,
        audit,
    }))
}
