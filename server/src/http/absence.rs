//! A doctor's absence and weekly office hours (docs/messaging.md, "Absence",
//! "Office hours"): set, read, ended.

use super::Json;
use crate::error::{AppError, AppResult};
use crate::state::{AppState, AuthedUser};
use crate::store::RequestMeta;
use axum::extract::State;
use axum::http::StatusCode;
use dmp_protocol::*;

/// Longest note to patients, in characters.
pub const MAX_NOTE_CHARS: usize = 300;
/// Longest absence.
const MAX_DAYS: i64 = 366;

/// The caller's absence (the current or the next one), or `null`.
#[utoipa::path(get, path = "/api/me/absence", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = Option<Absence>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    who: AuthedUser,
) -> AppResult<Json<Option<Absence>>> {
    super::doctor_only(&who, "only doctors set an absence or office hours")?;
    Ok(Json(state.store.absence(who.id()).await?.map(|(_, a)| a)))
}

/// Sets the caller's absence (a doctor), replacing any: from, until, and an
/// optional note to patients. Patients who write meanwhile get an automatic
/// answer once per conversation.
#[utoipa::path(put, path = "/api/me/absence", tag = "auth", security(("bearer" = [])), request_body = Absence,
    responses((status = 200, body = Absence), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, description = "CONTEXT_ACCESS_DENIED: not a doctor", body = ErrorBody)))]
pub async fn put(
    State(state): State<AppState>,
    who: AuthedUser,
    meta: RequestMeta,
    Json(mut absence): Json<Absence>,
) -> AppResult<Json<Absence>> {
    super::doctor_only(&who, "only doctors set an absence or office hours")?;
    let now = state.now();
    if absence.until <= absence.from || absence.until <= now {
        return Err(AppError::invalid(
            "an absence ends after it starts, and in the future",
        ));
    }
    if absence.until - absence.from > chrono::Duration::days(MAX_DAYS) {
        return Err(AppError::invalid(format!(
            "an absence lasts at most {MAX_DAYS} days"
        )));
    }
    if let Some(note) = &absence.note {
        let note = note.trim();
        if note.chars().count() > MAX_NOTE_CHARS
            || note.chars().any(|c| c.is_control() && c != '\n')
        {
            return Err(AppError::invalid(format!(
                "the note is at most {MAX_NOTE_CHARS} characters of text"
            )));
        }
        absence.note = (!note.is_empty()).then(|| note.to_owned());
    }
    let id = format!("abs_{}", uuid::Uuid::now_v7().simple());
    let audit = super::own_change(now, &who, "absence_set", &meta);
    state
        .store
        .set_absence(who.id(), Some((id, absence.clone())), audit)
        .await?;
    state.directory.forget_absence(who.id());
    Ok(Json(absence))
}

/// The caller's weekly office hours, or `null`.
#[utoipa::path(get, path = "/api/me/office-hours", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = Option<OfficeHours>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn get_hours(
    State(state): State<AppState>,
    who: AuthedUser,
) -> AppResult<Json<Option<OfficeHours>>> {
    super::doctor_only(&who, "only doctors set an absence or office hours")?;
    Ok(Json(state.store.office_hours(who.id()).await?))
}

/// Sets the caller's weekly office hours (a doctor), replacing any.
/// Patients who write outside them get an automatic answer with the next
/// opening, once per conversation until then.
#[utoipa::path(put, path = "/api/me/office-hours", tag = "auth", security(("bearer" = [])), request_body = OfficeHours,
    responses((status = 200, body = OfficeHours), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, description = "CONTEXT_ACCESS_DENIED: not a doctor", body = ErrorBody)))]
pub async fn put_hours(
    State(state): State<AppState>,
    who: AuthedUser,
    meta: RequestMeta,
    Json(hours): Json<OfficeHours>,
) -> AppResult<Json<OfficeHours>> {
    super::doctor_only(&who, "only doctors set an absence or office hours")?;
    if let Some(problem) = crate::hours::problem(&hours) {
        return Err(AppError::invalid(problem));
    }
    let audit = super::own_change(state.now(), &who, "office_hours_set", &meta);
    state
        .store
        .set_office_hours(who.id(), Some(hours.clone()), audit)
        .await?;
    state.directory.forget_office_hours(who.id());
    Ok(Json(hours))
}

/// Removes the caller's office hours (messages are then read at any time).
#[utoipa::path(delete, path = "/api/me/office-hours", tag = "auth", security(("bearer" = [])),
    responses((status = 204, description = "no office hours any more"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn delete_hours(
    State(state): State<AppState>,
    who: AuthedUser,
    meta: RequestMeta,
) -> AppResult<StatusCode> {
    super::doctor_only(&who, "only doctors set an absence or office hours")?;
    let audit = super::own_change(state.now(), &who, "office_hours_clear", &meta);
    state.store.set_office_hours(who.id(), None, audit).await?;
    state.directory.forget_office_hours(who.id());
    Ok(StatusCode::NO_CONTENT)
}

/// Ends (or cancels) the caller's absence.
#[utoipa::path(delete, path = "/api/me/absence", tag = "auth", security(("bearer" = [])),
    responses((status = 204, description = "no absence any more"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    who: AuthedUser,
    meta: RequestMeta,
) -> AppResult<StatusCode> {
    super::doctor_only(&who, "only doctors set an absence or office hours")?;
    let audit = super::own_change(state.now(), &who, "absence_clear", &meta);
    state.store.set_absence(who.id(), None, audit).await?;
    state.directory.forget_absence(who.id());
    Ok(StatusCode::NO_CONTENT)
}
