//! End-to-end encryption support: the zero-knowledge login parameters,
//! publication of public keys and of the sealed key backup, distribution of
//! public keys to the people who share a context, and password changes made
//! on the client. The server stores all of it opaquely: it can neither open
//! a backup nor derive a key from what it receives.

use super::{Json, Path};
use crate::error::{AppError, AppResult};
use crate::state::{AppState, AuthedUser};
use crate::store::{AuditEvent, RequestMeta, ZkLogin};
use axum::extract::State;
use axum::http::StatusCode;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use dmp_protocol::api::*;
use dmp_protocol::*;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Parameters handed to accounts that are not (yet) upgraded, and floor for all.
pub const DEFAULT_KDF: KdfParams = KdfParams {
    memory_kib: 64 * 1024,
    iterations: 3,
    parallelism: 4,
};

fn check_b64(field: &str, v: &str, min: usize, max: usize) -> AppResult<Vec<u8>> {
    let bytes = B64
        .decode(v)
        .map_err(|_| AppError::invalid(format!("{field} must be base64url without padding")))?;
    if bytes.len() < min || bytes.len() > max {
        return Err(AppError::invalid(format!("{field} has a wrong length")));
    }
    Ok(bytes)
}

fn check_keys(k: &PublicKeys) -> AppResult<()> {
    check_b64("encryptionKey", &k.encryption_key, 32, 32)?;
    check_b64("signingKey", &k.signing_key, 32, 32)?;
    Ok(())
}

fn check_backup(b: &KeyBackup) -> AppResult<()> {
    if b.version != 1 {
        return Err(AppError::invalid("unsupported backup version"));
    }
    check_b64("backup.nonce", &b.nonce, 24, 24)?;
    check_b64("backup.ciphertext", &b.ciphertext, 16, 4096)?;
    Ok(())
}

fn check_kdf(k: &KdfParams) -> AppResult<()> {
    let ok = k.memory_kib >= 19 * 1024
        && k.memory_kib <= 1024 * 1024
        && (2..=16).contains(&k.iterations)
        && (1..=16).contains(&k.parallelism);
    if ok {
        Ok(())
    } else {
        Err(AppError::invalid("kdf parameters are outside the accepted range (Argon2id, m 19 MiB-1 GiB, t 2-16, p 1-16)"))
    }
}

fn check_secret(s: &str) -> AppResult<()> {
    if s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(AppError::invalid(
            "the authentication secret must be 32 bytes in hex",
        ))
    }
}

async fn hash(state: &AppState, secret: String) -> AppResult<String> {
    state
        .hasher
        .hash(&secret)
        .await
        .map_err(|_| AppError::internal())
}

/// How to derive what is sent as the password. Unknown usernames get a
/// stable made-up salt, so the answer does not tell which accounts exist.
#[utoipa::path(post, path = "/api/auth/prelogin", tag = "auth", request_body = PreloginRequest,
    responses((status = 200, body = PreloginResponse), (status = 400, body = ErrorBody)))]
pub async fn prelogin(
    State(state): State<AppState>,
    Json(req): Json<PreloginRequest>,
) -> AppResult<Json<PreloginResponse>> {
    if req.username.is_empty() || req.username.chars().count() > 128 {
        return Err(AppError::invalid("username must be 1-128 characters"));
    }
    let user = state.store.user_by_username(&req.username).await?;
    let fake = || {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(state.signer.prelogin_key())
            .unwrap_or_else(|_| unreachable_mac());
        mac.update(b"dmp-prelogin-salt:");
        mac.update(req.username.to_lowercase().as_bytes());
        B64.encode(&mac.finalize().into_bytes()[..16])
    };
    let Some(user) = user else {
        return Ok(Json(PreloginResponse {
            scheme: "zk-v1".into(),
            salt: fake(),
            kdf: DEFAULT_KDF,
        }));
    };
    let keys = state.store.user_keys(&user.id).await?;
    Ok(Json(
        match (
            keys.kdf_salt,
            keys.kdf_params
                .and_then(|p| serde_json::from_str::<KdfParams>(&p).ok()),
        ) {
            (Some(salt), Some(kdf)) => PreloginResponse {
                scheme: "zk-v1".into(),
                salt,
                kdf,
            },
            _ => PreloginResponse {
                scheme: "legacy".into(),
                salt: fake(),
                kdf: DEFAULT_KDF,
            },
        },
    ))
}

#[allow(clippy::panic)]
fn unreachable_mac() -> Hmac<Sha256> {
    panic!("HMAC rejected its key")
}

/// The caller's published keys and sealed backup (to restore on a new device).
#[utoipa::path(get, path = "/api/keys/me", tag = "keys", security(("bearer" = [])),
    responses((status = 200, body = MyKeysResponse), (status = 401, body = ErrorBody)))]
pub async fn my_keys(
    State(state): State<AppState>,
    who: AuthedUser,
) -> AppResult<Json<MyKeysResponse>> {
    let keys = state.store.user_keys(who.id()).await?;
    Ok(Json(MyKeysResponse {
        public_keys: keys.public_keys.and_then(|k| serde_json::from_str(&k).ok()),
        backup: keys.key_backup.and_then(|k| serde_json::from_str(&k).ok()),
    }))
}

/// Publishes the caller's public keys and sealed backup; with `authSecret`,
/// `salt` and `kdf`, also switches the account to the zero-knowledge login
/// (the password is never needed by the server again).
#[utoipa::path(put, path = "/api/keys/me", tag = "keys", security(("bearer" = [])), request_body = PutKeysRequest,
    responses((status = 204, description = "stored"), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn put_my_keys(
    State(state): State<AppState>,
    who: AuthedUser,
    meta: RequestMeta,
    Json(req): Json<PutKeysRequest>,
) -> AppResult<StatusCode> {
    check_keys(&req.public_keys)?;
    check_backup(&req.backup)?;
    let zk = match (req.auth_secret, req.salt, req.kdf) {
        (Some(secret), Some(salt), Some(kdf)) => {
            check_secret(&secret)?;
            check_b64("salt", &salt, 16, 64)?;
            check_kdf(&kdf)?;
            let params = serde_json::to_string(&kdf).map_err(|_| AppError::internal())?;
            Some(ZkLogin {
                password_hash: hash(&state, secret).await?,
                salt,
                params,
            })
        }
        (None, None, None) => None,
        _ => return Err(AppError::invalid("authSecret, salt and kdf go together")),
    };
    let previous = state.store.user_keys(who.id()).await?.public_keys;
    let new_keys = serde_json::to_string(&req.public_keys).map_err(|_| AppError::internal())?;
    let action = match previous {
        None => "keys_publish",
        Some(p) if p == new_keys => "keys_backup",
        Some(_) => "keys_replace",
    };
    let backup = serde_json::to_string(&req.backup).map_err(|_| AppError::internal())?;
    let audit = AuditEvent::new(
        state.now(),
        who.id().as_str(),
        action,
        who.id().as_str(),
        "ok",
        &meta,
    );
    state
        .store
        .put_keys(who.id(), new_keys, backup, zk, audit)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The public keys of someone the caller shares a context with.
#[utoipa::path(get, path = "/api/keys/{user_id}", tag = "keys", security(("bearer" = [])),
    params(("user_id" = UserId, Path)),
    responses((status = 200, body = UserKeysResponse), (status = 401, body = ErrorBody),
              (status = 403, description = "no context in common", body = ErrorBody), (status = 404, description = "no keys published yet", body = ErrorBody)))]
pub async fn user_keys(
    State(state): State<AppState>,
    who: AuthedUser,
    meta: RequestMeta,
    Path(user): Path<UserId>,
) -> AppResult<Json<UserKeysResponse>> {
    if !user.is_valid() {
        return Err(AppError::invalid("userId is malformed"));
    }
    if user != *who.id() && !state.directory.peers_of(who.id()).contains(&user) {
        state
            .audit_denied(who.id().as_str(), "keys_fetch", user.as_str(), &meta)
            .await;
        return Err(AppError::denied());
    }
    let keys = state.store.user_keys(&user).await?;
    let public_keys: PublicKeys = keys
        .public_keys
        .and_then(|k| serde_json::from_str(&k).ok())
        .ok_or_else(|| AppError::not_found("public keys"))?;
    Ok(Json(UserKeysResponse {
        user_id: user,
        public_keys,
        updated_at: keys.updated_at.unwrap_or_else(|| state.now()),
    }))
}

/// Changes the password from the client: the new authentication secret and
/// the backup re-sealed under the new password. Every other login ends.
#[utoipa::path(post, path = "/api/auth/password", tag = "auth", security(("bearer" = [])), request_body = ChangePasswordRequest,
    responses((status = 204, description = "changed"), (status = 400, body = ErrorBody), (status = 401, description = "current secret wrong", body = ErrorBody)))]
pub async fn change_password(
    State(state): State<AppState>,
    who: AuthedUser,
    meta: RequestMeta,
    Json(req): Json<ChangePasswordRequest>,
) -> AppResult<StatusCode> {
    check_secret(&req.current_auth_secret)?;
    check_secret(&req.new_auth_secret)?;
    check_b64("salt", &req.salt, 16, 64)?;
    check_kdf(&req.kdf)?;
    check_backup(&req.backup)?;
    let record = state
        .store
        .user_by_username(&who.user.username)
        .await?
        .ok_or_else(AppError::expired)?;
    let current = req.current_auth_secret.clone();
    let ok = state
        .hasher
        .verify(&current, Some(record.password_hash))
        .await;
    if !ok {
        state
            .audit_denied(
                who.id().as_str(),
                "password_change",
                who.id().as_str(),
                &meta,
            )
            .await;
        return Err(AppError::auth("the current password is wrong"));
    }
    let params = serde_json::to_string(&req.kdf).map_err(|_| AppError::internal())?;
    let zk = ZkLogin {
        password_hash: hash(&state, req.new_auth_secret).await?,
        salt: req.salt,
        params,
    };
    let backup = serde_json::to_string(&req.backup).map_err(|_| AppError::internal())?;
    let audit = AuditEvent::new(
        state.now(),
        who.id().as_str(),
        "password_change",
        who.id().as_str(),
        "ok",
        &meta,
    );
    state
        .store
        .change_zk_password(who.id(), zk, backup, &who.login, audit)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
