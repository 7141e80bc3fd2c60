//! The REST API (DESIGN §3): router, middleware, and extractors whose
//! rejections follow the error contract.

pub mod absence;
pub mod attachments;
pub mod auth;
pub mod contexts;
mod extract;
pub mod keys;
pub mod messages;
pub mod ops;
pub mod sessions;
pub mod templates;

pub use extract::{from_json_slice, Json, Path, Query};

use crate::error::{AppError, AppResult};
use crate::state::AppState;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, patch, post};
use axum::Router;
use dmp_protocol::{ErrorCode, UserType};
use std::time::Instant;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};

/// Refuses anyone but a doctor (`CONTEXT_ACCESS_DENIED`, with `refusal`):
/// the caller's own absence, office hours and reply templates.
pub(crate) fn doctor_only(who: &crate::state::AuthedUser, refusal: &'static str) -> AppResult<()> {
    if who.user.kind == UserType::Medecin {
        Ok(())
    } else {
        Err(AppError::new(ErrorCode::ContextAccessDenied, refusal))
    }
}

/// The audit row of a change the caller made to their own settings
/// (absence, office hours, reply templates): the caller is both the actor
/// and the target, and the row names only the action.
pub(crate) fn own_change(
    now: chrono::DateTime<chrono::Utc>,
    who: &crate::state::AuthedUser,
    action: &str,
    meta: &crate::store::RequestMeta,
) -> crate::store::AuditEvent {
    crate::store::AuditEvent::new(
        now,
        who.id().as_str(),
        action,
        who.id().as_str(),
        "ok",
        meta,
    )
}

/// The whole HTTP application.
pub fn router(state: AppState) -> Router {
    let attachment_limit = usize::try_from(state.config.limits.max_file_size)
        .unwrap_or(usize::MAX)
        .saturating_add(64 * 1024);
    let api = Router::new()
        .route("/api/auth/login", post(auth::login))
        .route("/api/auth/refresh", post(auth::refresh))
        .route("/api/auth/logout", post(auth::logout))
        .route("/api/me", get(auth::me))
        .route(
            "/api/me/absence",
            get(absence::get).put(absence::put).delete(absence::delete),
        )
        .route(
            "/api/me/office-hours",
            get(absence::get_hours)
                .put(absence::put_hours)
                .delete(absence::delete_hours),
        )
        .route(
            "/api/me/templates",
            get(templates::get)
                .put(templates::put)
                .layer(DefaultBodyLimit::max(
                    dmp_protocol::api::MAX_SEALED_TEMPLATES + 1024,
                )),
        )
        .route("/api/auth/prelogin", post(keys::prelogin))
        .route("/api/auth/password", post(keys::change_password))
        .route("/api/keys/me", get(keys::my_keys).put(keys::put_my_keys))
        .route("/api/keys/{user_id}", get(keys::user_keys))
        .route("/api/contexts", get(contexts::list))
        .route(
            "/api/messaging/history/{context_type}/{context_id}",
            get(messages::history),
        )
        .route("/api/messaging/send", post(messages::send))
        .route(
            "/api/messaging/messages/{message_id}/read",
            patch(messages::mark_read),
        )
        .route(
            "/api/messaging/messages/{message_id}",
            delete(messages::delete),
        )
        .route("/api/messaging/sessions", post(sessions::create))
        .route(
            "/api/messaging/sessions/{session_id}/archive",
            patch(sessions::archive),
        )
        .route(
            "/api/messaging/sessions/{session_id}/close",
            patch(sessions::close),
        )
        .route(
            "/api/messaging/sessions/{session_id}/reopen",
            patch(sessions::reopen),
        )
        .route(
            "/api/messaging/sessions/{session_id}/access-log",
            get(sessions::access_log),
        )
        .route(
            "/api/messaging/permissions/{context_type}/{context_id}/{user_type}/{user_id}",
            get(sessions::permissions),
        )
        .route(
            "/api/messaging/stats/{user_type}/{user_id}",
            get(sessions::stats),
        )
        .route(
            "/api/messaging/notifications/{user_type}/{user_id}",
            get(sessions::notifications),
        )
        .route(
            "/api/messaging/export/{context_type}/{context_id}",
            get(messages::export),
        )
        .route(
            "/api/messaging/attachments",
            post(attachments::upload).layer(DefaultBodyLimit::max(attachment_limit)),
        )
        .route(
            "/api/messaging/attachments/{attachment_id}",
            get(attachments::download),
        )
        .route("/api/messaging/ws", get(crate::ws::upgrade))
        .route("/api/limits", get(ops::limits))
        .route("/api/openapi.json", get(ops::openapi))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .fallback(|| async { AppError::new(ErrorCode::NotFound, "no such route") })
        .method_not_allowed_fallback(|| async {
            AppError::new(ErrorCode::NotFound, "method not allowed on this route")
                .with_status(StatusCode::METHOD_NOT_ALLOWED)
        })
        .layer(DefaultBodyLimit::max(state.config.max_json_body_bytes));
    // Which node answered, in a cluster (docs/deployment.md, "Cluster").
    let node = state
        .redis
        .as_ref()
        .map(|r| r.node().to_string())
        .or_else(|| Some(state.config.node_id.clone()).filter(|n| !n.is_empty()))
        .and_then(|n| HeaderValue::from_str(&n).ok());
    api.layer(
        tower_http::set_header::SetResponseHeaderLayer::if_not_present(
            HeaderName::from_static("x-dmp-node"),
            node,
        ),
    )
    .layer(axum::middleware::from_fn_with_state(state.clone(), observe))
    .layer(CatchPanicLayer::custom(
        |_: Box<dyn std::any::Any + Send>| {
            tracing::error!("handler panicked");
            AppError::internal().into_response()
        },
    ))
    .layer(PropagateRequestIdLayer::x_request_id())
    .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
    .with_state(state)
}

/// Access log, metrics and security headers. Logs the route template, never
/// the path's ids, the query, the body or any header value.
async fn observe(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let matched = req.extensions().get::<MatchedPath>().cloned();
    let route = matched.as_ref().map_or("unmatched", |m| m.as_str());
    let method = req.method().as_str().to_owned();
    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let mut res = next.run(req).await;
    let elapsed = start.elapsed();
    let status = res.status().as_u16();
    state.metrics.http_request(
        matched.as_ref().map(|m| m.as_str()),
        &method,
        status,
        elapsed,
    );
    if let Some(code) = res.extensions().get::<ErrorCode>() {
        state.metrics.error(code.as_str());
    }
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    tracing::info!(%method, %route, status, micros = elapsed.as_micros() as u64, %request_id, "request");
    res
}
