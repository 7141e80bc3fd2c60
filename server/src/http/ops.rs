//! Health, readiness and the OpenAPI document (metrics: `crate::metrics`).

use super::Json;
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use dmp_protocol::api::HealthResponse;
use dmp_protocol::Limits;

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "ops", responses((status = 200, body = HealthResponse)))]
pub async fn healthz() -> Json<HealthResponse> {
    Json(HealthResponse {
        status: "ok".into(),
    })
}

/// Readiness: the database answers and, in a cluster, Redis too; not while
/// the node shuts down (the load balancer stops sending it new clients).
#[utoipa::path(get, path = "/readyz", tag = "ops", responses((status = 200, body = HealthResponse), (status = 503, body = HealthResponse)))]
pub async fn readyz(State(state): State<AppState>) -> Response {
    let linked = match &state.redis {
        Some(r) => r.ready().await,
        None => true,
    };
    let ready = if *state.shutdown.borrow() {
        Err("shutting down".to_owned())
    } else if !linked {
        Err("Redis does not answer".to_owned())
    } else {
        state.store.ping().await.map_err(|e| e.to_string())
    };
    match ready {
        Ok(()) => Json(HealthResponse {
            status: "ok".into(),
        })
        .into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(HealthResponse {
                    status: "unavailable".into(),
                }),
            )
                .into_response()
        }
    }
}

/// The messaging limits this server enforces (public: the login screen and
/// every client check against the same numbers the server uses).
#[utoipa::path(get, path = "/api/limits", tag = "ops", responses((status = 200, body = Limits)))]
pub async fn limits(State(state): State<AppState>) -> Json<Limits> {
    Json(state.config.limits.clone())
}

/// This API's OpenAPI document.
#[utoipa::path(get, path = "/api/openapi.json", tag = "ops", responses((status = 200, description = "OpenAPI 3.1 document", content_type = "application/json", body = Object)))]
pub async fn openapi(State(state): State<AppState>) -> Response {
    Json(crate::openapi::document(&state.config)).into_response()
}
