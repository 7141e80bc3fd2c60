//! REST request and response bodies (DESIGN §3).

use crate::ids::*;
use crate::model::*;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// `POST /api/auth/login`.
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LoginRequest {
    /// Login name (1-128 characters).
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 128))]
    pub username: String,
    /// Password, or for zero-knowledge accounts the authentication secret
    /// derived from it (never logged).
    #[cfg_attr(feature = "openapi", schema(max_length = 1024))]
    pub password: String,
    /// The device token a previous successful login on this device returned:
    /// it gives this device its own failure budget, so that failures made by
    /// others cannot lock it out (docs/security.md, "Throttling").
    #[serde(
        default,
        rename = "deviceToken",
        skip_serializing_if = "Option::is_none"
    )]
    pub device_token: Option<String>,
}

impl std::fmt::Debug for LoginRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginRequest")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field(
                "device_token",
                &self.device_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// Tokens issued by login and refresh.
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct TokenResponse {
    /// Short-lived JWT for `Authorization: Bearer`.
    pub access_token: String,
    /// Opaque, single-use refresh token.
    pub refresh_token: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// The authenticated user.
    pub user: User,
    /// Login only: a device token to send with the next login from this
    /// device (kept by the client; signed by the server, bound to the account).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_token: Option<String>,
}

impl std::fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenResponse")
            .field("access_token", &"<redacted>")
            .field("refresh_token", &"<redacted>")
            .field("expires_in", &self.expires_in)
            .field("user", &self.user)
            .finish()
    }
}

/// `POST /api/auth/refresh`.
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RefreshRequest {
    /// The refresh token to spend.
    pub refresh_token: String,
}

impl std::fmt::Debug for RefreshRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RefreshRequest { refresh_token: <redacted> }")
    }
}

/// `POST /api/messaging/send`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct SendRequest {
    /// Client-made idempotency key: a repeat returns the first message.
    pub client_message_id: ClientMessageId,
    /// ordonnance or examen.
    pub context_type: ContextType,
    /// The record's id.
    pub context_id: ContextId,
    /// Message content (opaque to the server). The document served by a
    /// server states its length limit; it may be empty only when
    /// `attachments` is not.
    pub content: String,
    /// Kind of message (default `text`; `system` is made by the server only).
    #[serde(default, rename = "type")]
    #[cfg_attr(feature = "openapi", schema(schema_with = sendable_message_type))]
    pub kind: MessageType,
    /// Urgency flags.
    #[serde(default)]
    pub metadata: MessageMetadata,
    /// Ids of attachments uploaded beforehand, each listed once.
    #[serde(default)]
    pub attachments: Vec<AttachmentId>,
}

/// The message types a client may send (every one but `system`).
#[cfg(feature = "openapi")]
fn sendable_message_type() -> utoipa::openapi::schema::Object {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(["text", "image", "file", "voice"]))
        .default(Some(serde_json::json!("text")))
        .description(Some(
            "Kind of message (default `text`; `system` is made by the server only).",
        ))
        .build()
}

/// `GET /api/messaging/history/...` query.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
pub struct HistoryQuery {
    /// Return messages with `seq` lower than this (the `nextBefore` of the previous page).
    #[cfg_attr(feature = "openapi", param(minimum = 0))]
    pub before: Option<u64>,
    /// Page size, 1..=200 (default 50).
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 200))]
    pub limit: Option<u32>,
}

/// One page of a conversation, oldest first within the page; the first
/// page is the newest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct HistoryResponse {
    /// Messages of the page, in `seq` order.
    pub messages: Vec<Message>,
    /// Whether older messages exist.
    pub has_more: bool,
    /// Cursor for the next (older) page.
    pub next_before: Option<u64>,
    /// The session, when one exists.
    pub session: Option<Session>,
}

/// `POST /api/messaging/sessions`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct CreateSessionRequest {
    /// ordonnance or examen.
    pub context_type: ContextType,
    /// The record's id.
    pub context_id: ContextId,
}

/// `GET /api/messaging/sessions/{id}/access-log` (the conversation's patient).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct AccessLogResponse {
    /// Newest first.
    pub entries: Vec<AccessLogEntry>,
    /// Older entries exist beyond these.
    pub truncated: bool,
}

/// `GET /api/me/templates` (a doctor): the reply templates, sealed on the
/// doctor's device for the doctor alone (docs/messaging.md, "Reply
/// templates"). The server cannot read them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct SealedTemplates {
    /// `dmp-private:v1:` + base64url (docs/security.md, "Private data").
    pub sealed: String,
    /// Grows by one at each change; a change names the version it replaces.
    pub version: u64,
    /// When the doctor last changed them.
    pub updated_at: DateTime<Utc>,
}

/// `PUT /api/me/templates` (a doctor): replaces the sealed templates if the
/// stored version is still `baseVersion` (0 when none are stored yet);
/// otherwise `409 CONFLICT` (another device changed them first).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PutTemplatesRequest {
    /// `dmp-private:v1:` + base64url, at most [`MAX_SEALED_TEMPLATES`] bytes.
    #[cfg_attr(
        feature = "openapi",
        schema(pattern = "^dmp-private:v1:[A-Za-z0-9_-]+$", max_length = 524288)
    )]
    pub sealed: String,
    /// The version these templates replace.
    pub base_version: u64,
}

/// Largest sealed templates value, in bytes.
pub const MAX_SEALED_TEMPLATES: usize = 512 * 1024;

/// `PATCH /api/messaging/sessions/{id}/close` (the conversation's doctor).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CloseSessionRequest {
    /// Why, as a code (the `system` message is clear text on the server).
    #[serde(default)]
    pub reason: Option<CloseReason>,
}

/// Answer of the permission check.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PermissionResponse {
    /// Whether the user may use this context's messaging.
    pub allowed: bool,
    /// Why (a stable reason code such as `PATIENT_OF_CONTEXT`).
    pub reason: String,
}

/// Messaging statistics of one user.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct StatsResponse {
    /// Messages the user sent (deleted excluded).
    pub sent: u64,
    /// Messages the user received (deleted excluded).
    pub received: u64,
    /// Received and not yet read.
    pub unread: u64,
    /// Sessions that are active.
    pub active_sessions: u64,
    /// Sessions that are archived.
    pub archived_sessions: u64,
    /// Median seconds between a message to the user and the user's next answer in the session.
    pub median_response_time_secs: Option<f64>,
}

/// Unseen notifications.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NotificationsResponse {
    /// Newest first.
    pub notifications: Vec<Notification>,
}

/// One audit line as an export shows it (no content).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    /// Position in the chain.
    pub id: i64,
    /// When.
    pub time: DateTime<Utc>,
    /// Who (user id, or `system` / `admin-cli`).
    pub actor: String,
    /// What (`send`, `read`, `login`, ...).
    pub action: String,
    /// On what (message, session or context id).
    pub target: String,
    /// `ok`, `denied` or `failed`.
    pub outcome: String,
}

/// `GET /api/messaging/export/...`: the whole conversation and its audit lines.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ExportResponse {
    /// Time of the export.
    pub exported_at: DateTime<Utc>,
    /// The record.
    pub context: Context,
    /// The session, when one exists.
    pub session: Option<Session>,
    /// Every message in `seq` order.
    pub messages: Vec<Message>,
    /// Audit lines about this conversation.
    pub audit: Vec<AuditEntry>,
}

/// `GET /api/messaging/export/...` query.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
pub struct ExportQuery {
    /// Only `json` is produced by the server; documents are made by clients.
    #[cfg_attr(feature = "openapi", param(pattern = "^json$"))]
    pub format: Option<String>,
}

/// Argon2id parameters of the client-side key derivation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct KdfParams {
    /// Memory in KiB (19 MiB to 1 GiB).
    #[cfg_attr(feature = "openapi", schema(minimum = 19456, maximum = 1048576))]
    #[serde(deserialize_with = "whole::deserialize")]
    pub memory_kib: u32,
    /// Passes (2-16).
    #[cfg_attr(feature = "openapi", schema(minimum = 2, maximum = 16))]
    #[serde(deserialize_with = "whole::deserialize")]
    pub iterations: u32,
    /// Lanes (1-16).
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 16))]
    #[serde(deserialize_with = "whole::deserialize")]
    pub parallelism: u32,
}

/// `POST /api/auth/prelogin`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PreloginRequest {
    /// Login name (1-128 characters).
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 128))]
    pub username: String,
}

/// How the client must derive what it sends as the password.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct PreloginResponse {
    /// `zk-v1`: send the authentication secret derived with `salt` and `kdf`;
    /// `legacy`: the account has not been upgraded yet (send the password once, then upgrade).
    pub scheme: String,
    /// base64url salt of the derivation.
    pub salt: String,
    /// Argon2id parameters.
    pub kdf: KdfParams,
}

/// A user's public keys (X25519 for encryption, Ed25519 for signatures), base64url.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct PublicKeys {
    /// X25519 public key (32 bytes in base64url).
    #[cfg_attr(
        feature = "openapi",
        schema(pattern = "^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$")
    )]
    pub encryption_key: String,
    /// Ed25519 public key (32 bytes in base64url).
    #[cfg_attr(
        feature = "openapi",
        schema(pattern = "^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$")
    )]
    pub signing_key: String,
}

/// A user's private keys sealed under a key only their password can derive (opaque to the server).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KeyBackup {
    /// Format version (1).
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 1))]
    #[serde(deserialize_with = "whole::deserialize")]
    pub version: u8,
    /// base64url nonce (24 bytes).
    #[cfg_attr(feature = "openapi", schema(pattern = "^[A-Za-z0-9_-]{32}$"))]
    pub nonce: String,
    /// base64url ciphertext (16 to 4096 bytes).
    #[cfg_attr(
        feature = "openapi",
        schema(
            pattern = "^(?:[A-Za-z0-9_-]{4}){6,1364}(?:[A-Za-z0-9_-]{2}[AEIMQUYcgkosw048]|[A-Za-z0-9_-][AQgw])?$"
        )
    )]
    pub ciphertext: String,
}

/// `PUT /api/keys/me`: publish keys and their backup; with `authSecret`,
/// also switch the account to the zero-knowledge login. Needs proof of the
/// current credential in `currentSecret` (docs/security.md, "Credential changes").
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct PutKeysRequest {
    /// The current login credential, exactly as `/api/auth/login` takes it:
    /// the authentication secret of a zero-knowledge account, the password of
    /// a legacy one (never logged).
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 1024))]
    pub current_secret: String,
    /// The public keys.
    pub public_keys: PublicKeys,
    /// The sealed private keys.
    pub backup: KeyBackup,
    /// The new authentication secret (32 bytes in hex, derived on the client; never the password).
    #[serde(default)]
    #[cfg_attr(
        feature = "openapi",
        schema(nullable = false, pattern = "^[0-9A-Fa-f]{64}$")
    )]
    pub auth_secret: Option<String>,
    /// base64url salt the secret was derived with (16 to 64 bytes).
    #[serde(default)]
    #[cfg_attr(
        feature = "openapi",
        schema(
            nullable = false,
            pattern = "^(?:[A-Za-z0-9_-]{4}){6,20}(?:[A-Za-z0-9_-]{2}[AEIMQUYcgkosw048]|[A-Za-z0-9_-][AQgw])?$"
        )
    )]
    pub salt: Option<String>,
    /// Argon2id parameters it was derived with.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub kdf: Option<KdfParams>,
}

impl std::fmt::Debug for PutKeysRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PutKeysRequest")
            .field("public_keys", &self.public_keys)
            .finish_non_exhaustive()
    }
}

/// `GET /api/keys/me`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct MyKeysResponse {
    /// Published public keys, if any.
    pub public_keys: Option<PublicKeys>,
    /// The sealed private keys, if any.
    pub backup: Option<KeyBackup>,
}

/// `GET /api/keys/{userId}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct UserKeysResponse {
    /// Whose keys.
    pub user_id: UserId,
    /// The keys.
    pub public_keys: PublicKeys,
    /// When they were published.
    pub updated_at: DateTime<Utc>,
}

/// `POST /api/auth/password`: a password change done on the client.
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ChangePasswordRequest {
    /// What the current password derives to (proves the user knows it); the
    /// password itself for a legacy account.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 1024))]
    pub current_auth_secret: String,
    /// What the new password derives to (32 bytes in hex).
    #[cfg_attr(feature = "openapi", schema(pattern = "^[0-9A-Fa-f]{64}$"))]
    pub new_auth_secret: String,
    /// New base64url salt (16 to 64 bytes).
    #[cfg_attr(
        feature = "openapi",
        schema(
            pattern = "^(?:[A-Za-z0-9_-]{4}){6,20}(?:[A-Za-z0-9_-]{2}[AEIMQUYcgkosw048]|[A-Za-z0-9_-][AQgw])?$"
        )
    )]
    pub salt: String,
    /// Parameters used.
    pub kdf: KdfParams,
    /// The private keys re-sealed under the new password.
    pub backup: KeyBackup,
}

impl std::fmt::Debug for ChangePasswordRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ChangePasswordRequest { <redacted> }")
    }
}

/// `GET /healthz` and `/readyz`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HealthResponse {
    /// `ok` or `unavailable`.
    pub status: String,
}

/// Integer fields that also accept a JSON number with a zero fraction
/// (`2.0`): JSON Schema counts it as an integer, so a client that follows the
/// OpenAPI document may send it (docs/openapi.md).
mod whole {
    use serde::de::{Deserializer, Error, Unexpected, Visitor};
    use std::fmt;
    use std::marker::PhantomData;

    pub(super) fn deserialize<'de, D, T>(d: D) -> Result<T, D::Error>
    where
        D: Deserializer<'de>,
        T: TryFrom<u64>,
    {
        struct Whole<T>(PhantomData<T>);
        impl<T: TryFrom<u64>> Visitor<'_> for Whole<T> {
            type Value = T;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a whole number in range")
            }
            fn visit_u64<E: Error>(self, v: u64) -> Result<T, E> {
                T::try_from(v).map_err(|_| E::invalid_value(Unexpected::Unsigned(v), &self))
            }
            fn visit_i64<E: Error>(self, v: i64) -> Result<T, E> {
                let u =
                    u64::try_from(v).map_err(|_| E::invalid_value(Unexpected::Signed(v), &self))?;
                self.visit_u64(u)
            }
            fn visit_f64<E: Error>(self, v: f64) -> Result<T, E> {
                if v.fract() == 0.0 && (0.0..=u32::MAX as f64).contains(&v) {
                    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                    self.visit_u64(v as u64)
                } else {
                    Err(E::invalid_value(Unexpected::Float(v), &self))
                }
            }
        }
        d.deserialize_any(Whole(PhantomData))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::KdfParams;

    #[test]
    fn integers_accept_a_zero_fraction_only() {
        let k: KdfParams =
            serde_json::from_str(r#"{"memoryKib":19456.0,"iterations":2,"parallelism":1.0}"#)
                .unwrap();
        assert_eq!((k.memory_kib, k.iterations, k.parallelism), (19456, 2, 1));
        for bad in [
            r#"{"memoryKib":19456.5,"iterations":2,"parallelism":1}"#,
            r#"{"memoryKib":-1,"iterations":2,"parallelism":1}"#,
            r#"{"memoryKib":1e12,"iterations":2,"parallelism":1}"#,
            r#"{"memoryKib":"19456","iterations":2,"parallelism":1}"#,
        ] {
            assert!(serde_json::from_str::<KdfParams>(bad).is_err(), "{bad}");
        }
    }
}
