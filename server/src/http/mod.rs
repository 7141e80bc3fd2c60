//! The REST API (DESIGN §3): router, middleware, and extractors whose
//! rejections follow the error contract.

pub mod attachments;
pub mod auth;
pub mod contexts;
pub mod keys;
pub mod messages;
pub mod ops;
pub mod sessions;

use crate::error::AppError;
use crate::state::AppState;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, MatchedPath, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, patch, post};
use axum::Router;
use dmp_protocol::ErrorCode;
use serde::de::DeserializeOwned;
use std::time::Instant;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};

/// JSON body extractor whose failures are `VALIDATION_FAILED` (400, 413 or 415).
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Json(v)),
            Err(rej) => Err(json_rejection(&rej)),
        }
    }
}

impl<T: serde::Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// Turns a JSON rejection into a safe message: the field path and the kind
/// of problem, never the offending value (it could be health data).
fn json_rejection(rej: &JsonRejection) -> AppError {
    match rej.status() {
        StatusCode::PAYLOAD_TOO_LARGE => AppError::invalid("request body is too large")
            .with_status(StatusCode::PAYLOAD_TOO_LARGE),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            AppError::invalid("expected a request with Content-Type: application/json")
                .with_status(StatusCode::UNSUPPORTED_MEDIA_TYPE)
        }
        _ => match rej {
            JsonRejection::JsonSyntaxError(_) => {
                AppError::invalid("request body is not valid JSON")
            }
            JsonRejection::JsonDataError(e) => {
                let text = e.body_text();
                let detail = text
                    .split_once("target type: ")
                    .map(|(_, d)| d)
                    .unwrap_or("");
                if let Some(field) = detail
                    .split("missing field `")
                    .nth(1)
                    .and_then(|s| s.split('`').next())
                {
                    AppError::invalid(format!("missing field `{field}`"))
                } else if let Some((path, _)) =
                    detail.split_once(": ").filter(|(p, _)| !p.contains(' '))
                {
                    AppError::invalid(format!("field `{path}` has a wrong type or value"))
                } else {
                    AppError::invalid("request body does not have the expected fields")
                }
            }
            _ => AppError::invalid("request body could not be read"),
        },
    }
}

/// Path extractor whose failures are `VALIDATION_FAILED`.
#[derive(Debug)]
pub struct Path<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(Path(v)),
            Err(PathRejection::FailedToDeserializePathParams(_)) => {
                Err(AppError::invalid("a path parameter is not valid (contextType is ordonnance or examen; userType is patient, medecin or admin)"))
            }
            Err(_) => Err(AppError::invalid("missing path parameter")),
        }
    }
}

/// Query extractor whose failures are `VALIDATION_FAILED`.
#[derive(Debug)]
pub struct Query<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(Query(v)),
            Err(QueryRejection::FailedToDeserializeQueryString(_)) | Err(_) => {
                Err(AppError::invalid("query string is not valid"))
            }
        }
    }
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
        .route("/api/openapi.json", get(ops::openapi))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .fallback(|| async { AppError::new(ErrorCode::NotFound, "no such route") })
        .method_not_allowed_fallback(|| async {
            AppError::new(ErrorCode::NotFound, "method not allowed on this route")
                .with_status(StatusCode::METHOD_NOT_ALLOWED)
        })
        .layer(DefaultBodyLimit::max(state.config.max_json_body_bytes));
    api.layer(axum::middleware::from_fn_with_state(state.clone(), observe))
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
