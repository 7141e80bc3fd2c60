//! One error type at the HTTP boundary. It renders as
//! `{"error":{"code","message"}}` with the status of DESIGN §3; internal
//! causes are logged (without health data) and never sent.

use crate::store::StoreError;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use dmp_protocol::{ApiError, ErrorBody, ErrorCode};

/// An error on its way to the client.
#[derive(Debug)]
pub struct AppError {
    /// Stable code.
    pub code: ErrorCode,
    /// Status (DESIGN §3; `VALIDATION_FAILED` can be 400, 413 or 415).
    pub status: StatusCode,
    /// Safe human text.
    pub message: String,
    /// Seconds for `Retry-After` (429).
    pub retry_after: Option<u64>,
}

impl AppError {
    /// An error with the code's default status.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        let status =
            StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        Self {
            code,
            status,
            message: message.into(),
            retry_after: None,
        }
    }

    /// Changes the HTTP status.
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    /// `AUTH_REQUIRED`.
    pub fn auth(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::AuthRequired, message)
    }

    /// `SESSION_EXPIRED`.
    pub fn expired() -> Self {
        Self::new(
            ErrorCode::SessionExpired,
            "the session has expired; sign in again",
        )
    }

    /// `ACCOUNT_DISABLED` (403): only ever after the caller proved the
    /// credentials right (docs/security.md, "Disabled accounts").
    pub fn disabled() -> Self {
        Self::new(
            ErrorCode::AccountDisabled,
            "this account was disabled by an administrator",
        )
    }

    /// `CONTEXT_ACCESS_DENIED`.
    pub fn denied() -> Self {
        Self::new(
            ErrorCode::ContextAccessDenied,
            "you are not a participant of this context",
        )
    }

    /// `NOT_FOUND`.
    pub fn not_found(what: &str) -> Self {
        Self::new(ErrorCode::NotFound, format!("{what} not found"))
    }

    /// `VALIDATION_FAILED` (400).
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::ValidationFailed, message)
    }

    /// `RATE_LIMIT_EXCEEDED` with a retry delay.
    pub fn rate_limited(retry_after_secs: u64) -> Self {
        let mut e = Self::new(
            ErrorCode::RateLimitExceeded,
            "too many requests; retry later",
        );
        e.retry_after = Some(retry_after_secs.max(1));
        e
    }

    /// `INTERNAL`, no detail.
    pub fn internal() -> Self {
        Self::new(ErrorCode::Internal, "internal error")
    }

    /// The wire body.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: ApiError {
                code: self.code,
                message: self.message.clone(),
            },
        }
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => Self::not_found("resource"),
            StoreError::Invalid(m) => Self::invalid(m),
            StoreError::Stale(m) => Self::new(ErrorCode::Conflict, m),
            StoreError::SessionClosed => Self::new(
                ErrorCode::SessionClosed,
                "this conversation is closed: it can be read, not written to, until the doctor reopens it",
            ),
            StoreError::Unavailable(e) => {
                tracing::error!(error = %e, "database unavailable");
                let mut err = Self::internal().with_status(StatusCode::SERVICE_UNAVAILABLE);
                err.message = "the database is unavailable; retry later".into();
                err.retry_after = Some(1);
                err
            }
            other => {
                tracing::error!(error = %other, "store failure");
                Self::internal()
            }
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let mut res = (self.status, axum::Json(self.body())).into_response();
        if let Some(secs) = self.retry_after {
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                res.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        res.extensions_mut().insert(self.code);
        res
    }
}

/// Result alias of handlers.
pub type AppResult<T> = Result<T, AppError>;
