//! End-to-end encryption support: the zero-knowledge login parameters,
//! publication of public keys and of the sealed key backup, distribution of
//! public keys to the people who share a context, and password changes made
//! on the client. The server stores all of it opaquely: it can neither open
//! a backup nor derive a key from what it receives.

use super::{Json, Path};
use crate::error::{AppError, AppResult};
use crate::hub::Hub;
use crate::ratelimit::name_key;
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
use zeroize::Zeroizing;

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

/// How to derive what is sent as the password. An unknown name is answered
/// exactly like an account the server created (scheme `zk-v1`, a stable
/// 16-byte made-up salt, the new-account KDF), after the same lookups; only
/// accounts imported with a `passwordHash` and never signed in answer
/// `legacy` (docs/security.md, "No oracles"). Limited per source.
#[utoipa::path(post, path = "/api/auth/prelogin", tag = "auth", request_body = PreloginRequest,
    responses((status = 200, body = PreloginResponse), (status = 400, body = ErrorBody),
              (status = 429, description = "RATE_LIMIT_EXCEEDED: too many attempts from this address", body = ErrorBody)))]
pub async fn prelogin(
    State(state): State<AppState>,
    meta: RequestMeta,
    Json(req): Json<PreloginRequest>,
) -> AppResult<Json<PreloginResponse>> {
    state.check_source(&state.auth_limiter, &meta).await?;
    if req.username.is_empty() || req.username.chars().count() > 128 {
        return Err(AppError::invalid("username must be 1-128 characters"));
    }
    let kdf = state.config.login.new_account_kdf();
    let user = state.store.user_by_username(&req.username).await?;
    // The same two lookups whether the name exists or not.
    let unknown = UserId::new("unknown_0");
    let keys = state
        .store
        .user_keys(user.as_ref().map_or(&unknown, |u| &u.id))
        .await?;
    let fake = || {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(state.signer.prelogin_key())
            .unwrap_or_else(|_| unreachable_mac());
        mac.update(b"dmp-prelogin-salt:");
        mac.update(req.username.to_lowercase().as_bytes());
        B64.encode(&mac.finalize().into_bytes()[..dmp_crypto::SALT_LEN])
    };
    let stored = (
        keys.kdf_salt,
        keys.kdf_params
            .and_then(|p| serde_json::from_str::<KdfParams>(&p).ok()),
    );
    Ok(Json(match (user, stored) {
        (Some(_), (Some(salt), Some(kdf))) => PreloginResponse {
            scheme: "zk-v1".into(),
            salt,
            kdf,
        },
        (Some(_), _) => PreloginResponse {
            scheme: "legacy".into(),
            salt: fake(),
            kdf,
        },
        (None, _) => PreloginResponse {
            scheme: "zk-v1".into(),
            salt: fake(),
            kdf,
        },
    }))
}

/// Checks the proof of the current credential that every credential change
/// carries (docs/security.md, "Credential changes"): verified with the
/// hasher against the stored verifier (the authentication secret of a
/// zero-knowledge account, the password of a legacy one), counted by the
/// login throttle of the account's name before the hash runs, and audited
/// when wrong.
async fn check_proof(
    state: &AppState,
    who: &AuthedUser,
    proof: &str,
    action: &str,
    meta: &RequestMeta,
) -> AppResult<()> {
    if proof.is_empty() || proof.chars().count() > 1024 {
        return Err(AppError::invalid(
            "the current password (or authentication secret) is required, at most 1024 characters",
        ));
    }
    let key = name_key(&who.user.username);
    if let Err(wait) = state.login_throttle.reserve(&key).await {
        state
            .audit_denied(who.id().as_str(), action, who.id().as_str(), meta)
            .await;
        return Err(AppError::rate_limited(wait.as_secs().saturating_add(1)));
    }
    let record = state
        .store
        .user_by_username(&who.user.username)
        .await?
        .filter(|r| r.id == *who.id())
        .ok_or_else(AppError::expired)?;
    let proof = Zeroizing::new(proof.to_owned());
    if !state
        .hasher
        .verify(&proof, Some(record.password_hash))
        .await
    {
        state
            .audit_denied(who.id().as_str(), action, who.id().as_str(), meta)
            .await;
        return Err(AppError::auth("the current password is wrong"));
    }
    state.login_throttle.success(&key).await;
    Ok(())
}

/// After a credential change: ends every other login of the user at once
/// (the store already revoked them) and tells the people who share a
/// context with the user to re-check the key they pinned.
async fn after_credential_change(state: &AppState, who: &AuthedUser) -> Result<(), AppError> {
    state
        .directory
        .invalidate(&crate::store::DirectoryChange::LoginsOf(who.id().clone()));
    state
        .hub
        .close_logins_except(who.id(), &who.login, ws::CLOSE_UNAUTHENTICATED);
    tell_peers_key_changed(state, who).await
}

/// Tells the people who share a context with the user to re-check the key they pinned.
async fn tell_peers_key_changed(state: &AppState, who: &AuthedUser) -> Result<(), AppError> {
    let frame = Hub::encode(&ws::ServerFrame::KeyChange {
        user_id: who.id().clone(),
    });
    for peer in state.directory.peers_of(who.id()).await?.iter() {
        state.hub.send_to(peer, &frame, None, None);
    }
    Ok(())
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
/// `salt` and `kdf`, also switches the account to the zero-knowledge login.
/// Needs `currentSecret`, the proof of the current credential; replacing
/// anything that existed ends every other login of the user, and the
/// people who share a context with the user get a `keyChange` frame.
#[utoipa::path(put, path = "/api/keys/me", tag = "keys", security(("bearer" = [])), request_body = PutKeysRequest,
    responses((status = 204, description = "stored"), (status = 400, body = ErrorBody),
              (status = 401, description = "AUTH_REQUIRED: the current credential is wrong; SESSION_EXPIRED", body = ErrorBody),
              (status = 429, description = "RATE_LIMIT_EXCEEDED: too many wrong credentials for this account", body = ErrorBody)))]
pub async fn put_my_keys(
    State(state): State<AppState>,
    who: AuthedUser,
    meta: RequestMeta,
    Json(req): Json<PutKeysRequest>,
) -> AppResult<StatusCode> {
    check_keys(&req.public_keys)?;
    check_backup(&req.backup)?;
    let zk = match (&req.auth_secret, &req.salt, &req.kdf) {
        (Some(secret), Some(salt), Some(kdf)) => {
            check_secret(secret)?;
            check_b64("salt", salt, 16, 64)?;
            check_kdf(kdf)?;
            Some((secret.clone(), salt.clone(), *kdf))
        }
        (None, None, None) => None,
        _ => return Err(AppError::invalid("authSecret, salt and kdf go together")),
    };
    check_proof(&state, &who, &req.current_secret, "keys_change", &meta).await?;
    let zk = match zk {
        Some((secret, salt, kdf)) => Some(ZkLogin {
            password_hash: hash(&state, secret).await?,
            salt,
            params: serde_json::to_string(&kdf).map_err(|_| AppError::internal())?,
        }),
        None => None,
    };
    let previous = state.store.user_keys(who.id()).await?;
    let new_keys = serde_json::to_string(&req.public_keys).map_err(|_| AppError::internal())?;
    let action = match &previous.public_keys {
        None => "keys_publish",
        Some(p) if *p == new_keys => "keys_backup",
        Some(_) => "keys_replace",
    };
    // The first publication replaces nothing: other logins may stay.
    let replaces = zk.is_some() || previous.public_keys.is_some() || previous.key_backup.is_some();
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
        .put_keys(
            who.id(),
            new_keys,
            backup,
            zk,
            replaces.then_some(who.login.as_str()),
            audit,
        )
        .await?;
    state.directory_changed().await;
    if replaces {
        after_credential_change(&state, &who).await?;
    } else {
        tell_peers_key_changed(&state, &who).await?;
    }
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
    if user != *who.id() && !state.directory.peers_of(who.id()).await?.contains(&user) {
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
/// the backup re-sealed under the new password, with the proof of the
/// current credential (the current authentication secret, or the password
/// of a legacy account). Every other login ends at once and the people who
/// share a context with the user get a `keyChange` frame.
#[utoipa::path(post, path = "/api/auth/password", tag = "auth", security(("bearer" = [])), request_body = ChangePasswordRequest,
    responses((status = 204, description = "changed"), (status = 400, body = ErrorBody),
              (status = 401, description = "AUTH_REQUIRED: the current credential is wrong; SESSION_EXPIRED", body = ErrorBody),
              (status = 429, description = "RATE_LIMIT_EXCEEDED: too many wrong credentials for this account", body = ErrorBody)))]
pub async fn change_password(
    State(state): State<AppState>,
    who: AuthedUser,
    meta: RequestMeta,
    Json(req): Json<ChangePasswordRequest>,
) -> AppResult<StatusCode> {
    check_secret(&req.new_auth_secret)?;
    check_b64("salt", &req.salt, 16, 64)?;
    check_kdf(&req.kdf)?;
    check_backup(&req.backup)?;
    check_proof(
        &state,
        &who,
        &req.current_auth_secret,
        "password_change",
        &meta,
    )
    .await?;
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
    state.directory_changed().await;
    after_credential_change(&state, &who).await?;
    Ok(StatusCode::NO_CONTENT)
}
