//! Stable error codes. Clients switch on `code`, never on the message text.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Every failure the API reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    /// No, malformed or invalid credentials (401).
    AuthRequired,
    /// The access or refresh token expired or was revoked (401).
    SessionExpired,
    /// The caller is not the context's patient or doctor (403).
    ContextAccessDenied,
    /// No such resource, or an unknown route (404).
    NotFound,
    /// The input breaks a rule: shape, limit, size or type (400/413/415).
    ValidationFailed,
    /// Too many requests; retry after the given delay (429).
    RateLimitExceeded,
    /// The request conflicts with the current state (409).
    Conflict,
    /// Something failed on the server; nothing more is said (500).
    Internal,
    /// The server only accepts end-to-end encrypted messages and attachments (400/415).
    E2eRequired,
    /// The content claims to be an end-to-end envelope but does not parse as one (400).
    MalformedEnvelope,
    /// The credentials are right but an administrator disabled the account (403).
    /// A wrong password on a disabled account stays `AUTH_REQUIRED` (no oracle).
    AccountDisabled,
    /// The conversation is closed: it can be read, not written to, until
    /// its doctor reopens it (409).
    SessionClosed,
}

impl ErrorCode {
    /// The code as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthRequired => "AUTH_REQUIRED",
            Self::SessionExpired => "SESSION_EXPIRED",
            Self::ContextAccessDenied => "CONTEXT_ACCESS_DENIED",
            Self::NotFound => "NOT_FOUND",
            Self::ValidationFailed => "VALIDATION_FAILED",
            Self::RateLimitExceeded => "RATE_LIMIT_EXCEEDED",
            Self::Conflict => "CONFLICT",
            Self::Internal => "INTERNAL",
            Self::E2eRequired => "E2E_REQUIRED",
            Self::MalformedEnvelope => "MALFORMED_ENVELOPE",
            Self::AccountDisabled => "ACCOUNT_DISABLED",
            Self::SessionClosed => "SESSION_CLOSED",
        }
    }

    /// The HTTP status that goes with the code by default.
    pub fn http_status(self) -> u16 {
        match self {
            Self::AuthRequired | Self::SessionExpired => 401,
            Self::ContextAccessDenied | Self::AccountDisabled => 403,
            Self::NotFound => 404,
            Self::ValidationFailed | Self::E2eRequired | Self::MalformedEnvelope => 400,
            Self::RateLimitExceeded => 429,
            Self::Conflict | Self::SessionClosed => 409,
            Self::Internal => 500,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `error` member of a failure body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiError {
    /// Stable machine code.
    pub code: ErrorCode,
    /// Human-readable explanation; never contains health data or internals.
    pub message: String,
}

/// Every failed HTTP response: `{"error":{"code","message"}}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ApiError,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_serialize_as_documented() {
        for code in [
            ErrorCode::AuthRequired,
            ErrorCode::SessionExpired,
            ErrorCode::ContextAccessDenied,
            ErrorCode::NotFound,
            ErrorCode::ValidationFailed,
            ErrorCode::RateLimitExceeded,
            ErrorCode::Conflict,
            ErrorCode::Internal,
            ErrorCode::AccountDisabled,
            ErrorCode::SessionClosed,
        ] {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
        }
    }
}
