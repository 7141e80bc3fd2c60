//! Login, refresh, logout and the caller's identity.

use super::Json;
use crate::auth::{hash_refresh_token, new_family_id, new_refresh_token};
use crate::error::{AppError, AppResult};
use crate::ratelimit::{device_key, name_key};
use crate::state::{AppState, AuthedUser};
use crate::store::{AuditEvent, FamilyRecord, RequestMeta, Rotation};
use axum::extract::State;
use axum::http::StatusCode;
use dmp_protocol::api::{LoginRequest, RefreshRequest, TokenResponse};
use dmp_protocol::{ws::CLOSE_UNAUTHENTICATED, ErrorBody, User};
use zeroize::Zeroizing;

const BAD_CREDENTIALS: &str = "invalid username or password";

/// Signs in with a username and password (or, for zero-knowledge accounts,
/// the authentication secret derived from it). Throttling (docs/security.md):
/// a per-source budget, then one attempt of the account name's budget (or of
/// the device's own budget with a valid `deviceToken`) is taken *before* the
/// hash runs and given back only on success.
#[utoipa::path(post, path = "/api/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = TokenResponse), (status = 400, body = ErrorBody),
              (status = 401, description = "AUTH_REQUIRED: invalid username or password", body = ErrorBody),
              (status = 403, description = "ACCOUNT_DISABLED: right credentials, but an administrator disabled the account", body = ErrorBody),
              (status = 429, description = "RATE_LIMIT_EXCEEDED: too many attempts from this address or for this account", body = ErrorBody)))]
pub async fn login(
    State(state): State<AppState>,
    meta: RequestMeta,
    Json(req): Json<LoginRequest>,
) -> AppResult<Json<TokenResponse>> {
    state.check_source(&state.auth_limiter, &meta).await?;
    let LoginRequest {
        username,
        password,
        device_token,
    } = req;
    let password = Zeroizing::new(password);
    // Characters, as the OpenAPI document's minLength/maxLength count them.
    if username.is_empty() || username.chars().count() > 128 || password.chars().count() > 1024 {
        return Err(AppError::invalid(
            "username must be 1-128 characters and password at most 1024 characters",
        ));
    }
    let now = state.now();
    // OWASP device cookies: a device that signed in before has its own
    // budget, unless that budget is itself locked (then it is anonymous).
    let device = device_token
        .as_deref()
        .and_then(|t| state.signer.verify_device_token(t, &username, now))
        .map(|nonce| device_key(&nonce));
    let key = match device {
        Some(k) if !state.login_throttle.is_locked(&k).await => k,
        _ => name_key(&username),
    };
    if let Err(wait) = state.login_throttle.reserve(&key).await {
        state
            .audit_anonymous("login_locked", &username, "denied", &meta)
            .await;
        return Err(AppError::rate_limited(wait.as_secs().saturating_add(1)));
    }
    let record = state.store.user_by_username(&username).await?;
    let hash = record.as_ref().map(|u| u.password_hash.clone());
    let ok = state.hasher.verify(&password, hash).await;
    let user = match record {
        Some(u) if ok && !u.disabled => u,
        Some(u) if ok => {
            // The right credentials of a disabled account: only the account's
            // owner gets here, so saying so reveals nothing to anyone else.
            // A wrong password stays the generic 401 (docs/security.md).
            state.login_throttle.success(&key).await;
            state
                .store
                .audit(AuditEvent::new(
                    now,
                    u.id.as_str(),
                    "login",
                    &username,
                    "disabled",
                    &meta,
                ))
                .await?;
            return Err(AppError::disabled());
        }
        Some(u) => {
            // At most `max_failures` rows per lock period: the budget bounds them.
            state
                .store
                .audit(AuditEvent::new(
                    now,
                    u.id.as_str(),
                    "login",
                    &username,
                    "failed",
                    &meta,
                ))
                .await?;
            return Err(AppError::auth(BAD_CREDENTIALS));
        }
        None => {
            state
                .audit_anonymous("login", &username, "failed", &meta)
                .await;
            return Err(AppError::auth(BAD_CREDENTIALS));
        }
    };
    state.login_throttle.success(&key).await;
    let family = FamilyRecord {
        id: new_family_id(),
        user_id: user.id.clone(),
        expires_at: now + chrono::Duration::days(i64::from(state.config.refresh_token_ttl_days)),
    };
    let (refresh_token, refresh_hash) = new_refresh_token();
    let audit = AuditEvent::new(now, user.id.as_str(), "login", &family.id, "ok", &meta);
    state
        .store
        .create_login(family.clone(), refresh_hash, audit)
        .await?;
    let access_token = state.signer.issue(
        &user.id,
        user.kind,
        &family.id,
        now,
        state.config.access_token_ttl_secs,
    );
    state.directory.add_login(family);
    Ok(Json(TokenResponse {
        access_token,
        refresh_token,
        expires_in: state.config.access_token_ttl_secs,
        user: user.user(),
        device_token: Some(state.signer.device_token(&user.username, now)),
    }))
}

/// Spends a refresh token for a new pair. A spent token used again revokes the whole login.
#[utoipa::path(post, path = "/api/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses((status = 200, body = TokenResponse),
              (status = 401, description = "SESSION_EXPIRED: unknown, expired, revoked or re-used token", body = ErrorBody),
              (status = 403, description = "ACCOUNT_DISABLED: a valid token of an account an administrator disabled", body = ErrorBody),
              (status = 429, description = "RATE_LIMIT_EXCEEDED: too many attempts from this address", body = ErrorBody)))]
pub async fn refresh(
    State(state): State<AppState>,
    meta: RequestMeta,
    Json(req): Json<RefreshRequest>,
) -> AppResult<Json<TokenResponse>> {
    state.check_source(&state.auth_limiter, &meta).await?;
    let old = Zeroizing::new(req.refresh_token);
    if old.is_empty() || old.len() > 256 {
        state.audit_anonymous("refresh", "", "failed", &meta).await;
        return Err(AppError::expired());
    }
    let now = state.now();
    let (refresh_token, new_hash) = new_refresh_token();
    match state
        .store
        .rotate_refresh(hash_refresh_token(&old), new_hash, now, meta.clone())
        .await?
    {
        Rotation::Rotated { user_id, family_id } => {
            let user = state
                .directory
                .user(&user_id)
                .await?
                .ok_or_else(AppError::expired)?;
            if user.disabled {
                // The refresh token was valid: the owner learns why, nobody else can.
                state.directory.remove_login(&family_id);
                return Err(AppError::disabled());
            }
            let access_token = state.signer.issue(
                &user.id,
                user.kind,
                &family_id,
                now,
                state.config.access_token_ttl_secs,
            );
            Ok(Json(TokenResponse {
                access_token,
                refresh_token,
                expires_in: state.config.access_token_ttl_secs,
                user: user.user(),
                device_token: None,
            }))
        }
        Rotation::Reused { user_id, family_id } => {
            tracing::warn!(user = %user_id, "refresh token re-used; login revoked");
            state.directory.remove_login(&family_id);
            state.directory_changed().await;
            state
                .hub
                .close_login(&user_id, &family_id, CLOSE_UNAUTHENTICATED);
            Err(AppError::expired())
        }
        Rotation::Invalid => Err(AppError::expired()),
        Rotation::Disabled => Err(AppError::disabled()),
        Rotation::Unknown => {
            state.audit_anonymous("refresh", "", "failed", &meta).await;
            Err(AppError::expired())
        }
    }
}

/// Ends the caller's login on every device that shares it, and closes its sockets.
#[utoipa::path(post, path = "/api/auth/logout", tag = "auth", security(("bearer" = [])),
    responses((status = 204, description = "signed out"), (status = 401, body = ErrorBody)))]
pub async fn logout(
    State(state): State<AppState>,
    who: AuthedUser,
    meta: RequestMeta,
) -> AppResult<StatusCode> {
    let audit = AuditEvent::new(
        state.now(),
        who.id().as_str(),
        "logout",
        &who.login,
        "ok",
        &meta,
    );
    state.store.revoke_login(&who.login, audit).await?;
    state.directory.remove_login(&who.login);
    state.directory_changed().await;
    state
        .hub
        .close_login(who.id(), &who.login, CLOSE_UNAUTHENTICATED);
    Ok(StatusCode::NO_CONTENT)
}

/// The caller.
#[utoipa::path(get, path = "/api/me", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = User), (status = 401, body = ErrorBody)))]
pub async fn me(who: AuthedUser) -> Json<User> {
    Json(who.user.user())
}
