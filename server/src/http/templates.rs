//! A doctor's reply templates, kept sealed for the doctor alone
//! (docs/messaging.md, "Reply templates"): the server stores and returns an
//! opaque value it cannot open, and refuses anything that is not sealed.

use super::Json;
use crate::error::{AppError, AppResult};
use crate::state::{AppState, AuthedUser};
use crate::store::RequestMeta;
use axum::extract::State;
use dmp_protocol::api::{PutTemplatesRequest, SealedTemplates, MAX_SEALED_TEMPLATES};
use dmp_protocol::limits::PRIVATE_PREFIX;
use dmp_protocol::*;

/// The caller's sealed reply templates, or `null` when none were saved.
#[utoipa::path(get, path = "/api/me/templates", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = Option<SealedTemplates>), (status = 401, body = ErrorBody),
              (status = 403, description = "CONTEXT_ACCESS_DENIED: not a doctor", body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    who: AuthedUser,
) -> AppResult<Json<Option<SealedTemplates>>> {
    super::doctor_only(&who, "only doctors keep reply templates")?;
    Ok(Json(state.store.sealed_templates(who.id()).await?))
}

/// Replaces the caller's sealed reply templates, if the stored version is
/// still the one named (another device may have changed them meanwhile).
#[utoipa::path(put, path = "/api/me/templates", tag = "auth", security(("bearer" = [])), request_body = PutTemplatesRequest,
    responses((status = 200, body = SealedTemplates),
              (status = 400, description = "VALIDATION_FAILED: not a sealed value, or too large", body = ErrorBody),
              (status = 401, body = ErrorBody),
              (status = 403, description = "CONTEXT_ACCESS_DENIED: not a doctor", body = ErrorBody),
              (status = 409, description = "CONFLICT: the stored version is not `baseVersion`", body = ErrorBody),
              (status = 413, body = ErrorBody)))]
pub async fn put(
    State(state): State<AppState>,
    who: AuthedUser,
    meta: RequestMeta,
    Json(req): Json<PutTemplatesRequest>,
) -> AppResult<Json<SealedTemplates>> {
    super::doctor_only(&who, "only doctors keep reply templates")?;
    let sealed_body = req.sealed.strip_prefix(PRIVATE_PREFIX).unwrap_or("");
    if sealed_body.is_empty()
        || !sealed_body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(AppError::invalid(format!(
            "templates are kept only sealed on the doctor's device ({PRIVATE_PREFIX}…)"
        )));
    }
    if req.sealed.len() > MAX_SEALED_TEMPLATES {
        return Err(AppError::invalid(format!(
            "sealed templates are at most {MAX_SEALED_TEMPLATES} bytes"
        )));
    }
    let now = state.now();
    let audit = super::own_change(now, &who, "templates_saved", &meta);
    Ok(Json(
        state
            .store
            .put_sealed_templates(who.id(), req.sealed, req.base_version, now, audit)
            .await?,
    ))
}
