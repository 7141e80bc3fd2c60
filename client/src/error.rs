//! One error type for everything the client core does. Its `code` is the
//! server's stable code when the server refused, or a client code
//! (`NETWORK_UNAVAILABLE`, `NOT_SIGNED_IN`, `CACHE_ERROR`, `KEYCHAIN_ERROR`, …).
//! Messages never contain message text, tokens or passwords.

use dmp_protocol::ErrorCode;

/// A failure of the client core.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered with an error body.
    #[error("{message}")]
    Api {
        /// HTTP status (0 for a WebSocket `error` frame).
        status: u16,
        /// The server's stable code.
        code: ErrorCode,
        /// The server's human message.
        message: String,
    },
    /// The server could not be reached or the connection broke.
    #[error("server unreachable: {0}")]
    Network(String),
    /// No user is signed in (or the session could not be restored).
    #[error("not signed in")]
    NotSignedIn,
    /// The local encrypted cache failed.
    #[error("local cache error: {0}")]
    Cache(String),
    /// The OS keychain failed or is unavailable.
    #[error("keychain error: {0}")]
    Keychain(String),
    /// The input is invalid before anything was sent.
    #[error("{0}")]
    Invalid(String),
    /// Local file I/O failed.
    #[error("file error: {0}")]
    Io(String),
    /// End-to-end encryption refused something (bad signature, unknown key, ...).
    #[error("{message}")]
    E2e {
        /// Stable code (`E2E_BAD_SIGNATURE`, `E2E_PEER_NOT_READY`, `E2E_DOWNGRADE`, ...).
        code: &'static str,
        /// Human message (no key material, no content).
        message: String,
    },
    /// The secure connection failed: untrusted certificate, unusable CA file, ...
    #[error("{0}")]
    Tls(String),
    /// A plain `http://` address for a server that is not this machine.
    #[error("the server address must start with https:// (http:// is only allowed for this machine: localhost, 127.0.0.1, ::1)")]
    InsecureServer,
    /// The server hands out new keys for a peer; nothing is sent until the user accepts them.
    #[error("the security key of {0} changed: compare the safety code, then accept the new key")]
    PeerKeyChanged(String),
    /// The credentials are right but an administrator disabled the account.
    #[error("this account was disabled by an administrator")]
    AccountDisabled,
    /// The server is unreachable and the cache is open read-only: nothing can be changed.
    #[error("the server cannot be reached: the app is in read-only mode until it answers again")]
    OfflineReadOnly,
    /// `retry_send` / `discard_send` of a message that is not (or no longer) waiting.
    #[error("no unsent message with this clientMessageId")]
    RetryUnknown,
    /// Too many requests: the server says when to try again.
    #[error("{message}")]
    RateLimited {
        /// Seconds to wait (`Retry-After`).
        retry_after_secs: u64,
        /// The server's human message.
        message: String,
    },
}

impl ClientError {
    /// A context that is not among the user's: the same answer the server gives.
    pub fn not_yours() -> Self {
        Self::Api {
            status: 403,
            code: ErrorCode::ContextAccessDenied,
            message: "this context is not one of yours".into(),
        }
    }
}

impl From<dmp_crypto::CryptoError> for ClientError {
    fn from(e: dmp_crypto::CryptoError) -> Self {
        Self::E2e {
            code: e.code(),
            message: e.to_string(),
        }
    }
}

impl ClientError {
    /// The stable code the UI switches on.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Api { code, .. } => code.as_str(),
            Self::Network(_) => "NETWORK_UNAVAILABLE",
            Self::NotSignedIn => "NOT_SIGNED_IN",
            Self::Cache(_) => "CACHE_ERROR",
            Self::Keychain(_) => "KEYCHAIN_ERROR",
            Self::Invalid(_) => "VALIDATION_FAILED",
            Self::Io(_) => "IO_ERROR",
            Self::E2e { code, .. } => code,
            Self::PeerKeyChanged(_) => "PEER_KEY_CHANGED",
            Self::Tls(_) => "TLS_ERROR",
            Self::InsecureServer => "INSECURE_SERVER_ADDRESS",
            Self::AccountDisabled => "ACCOUNT_DISABLED",
            Self::OfflineReadOnly => "OFFLINE_READ_ONLY",
            Self::RetryUnknown => "RETRY_UNKNOWN",
            Self::RateLimited { .. } => "RATE_LIMIT_EXCEEDED",
        }
    }

    /// Whether the server refused the request for good (a retry would fail the same way).
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            Self::Api {
                code: ErrorCode::ValidationFailed
                    | ErrorCode::E2eRequired
                    | ErrorCode::MalformedEnvelope
                    | ErrorCode::ContextAccessDenied
                    | ErrorCode::Conflict
                    | ErrorCode::SessionClosed
                    | ErrorCode::NotFound,
                ..
            } | Self::Invalid(_)
                | Self::InsecureServer
                | Self::PeerKeyChanged(_)
        )
    }

    /// Whether the login is over (the user must sign in again).
    pub fn is_session_over(&self) -> bool {
        matches!(
            self,
            Self::Api {
                code: ErrorCode::SessionExpired | ErrorCode::AuthRequired,
                ..
            } | Self::NotSignedIn
                | Self::AccountDisabled
        )
    }

    /// Whether the server could not be reached (the request may be tried again later).
    pub fn is_unreachable(&self) -> bool {
        matches!(self, Self::Network(_) | Self::Tls(_))
    }
}

impl From<rusqlite::Error> for ClientError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Cache(e.to_string())
    }
}

impl From<reqwest::Error> for ClientError {
    fn from(e: reqwest::Error) -> Self {
        if let Some(reason) = crate::tls::tls_failure(&e) {
            return Self::Tls(reason);
        }
        // reqwest errors carry the URL, never a body or header.
        Self::Network(e.without_url().to_string())
    }
}

impl From<std::io::Error> for ClientError {
    fn from(e: std::io::Error) -> Self {
        Self::Io(e.to_string())
    }
}

/// Result alias of the client core.
pub type ClientResult<T> = Result<T, ClientError>;
