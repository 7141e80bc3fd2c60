//! The one error type of this crate. Variants are deliberately coarse: they say
//! which check failed, never why in a way that would leak plaintext, key bytes
//! or which of several recipients' keys was tried. `code()` gives the stable
//! string the UI switches on.

/// Everything that can go wrong while sealing, opening, encrypting or
/// decrypting. Messages never contain plaintext or key material.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum CryptoError {
    /// The input does not parse (bad prefix, base64, JSON, length). The string
    /// names the part, never its content.
    #[error("malformed input: {0}")]
    Malformed(String),
    /// The envelope, backup, key encoding or cipher suite is not one this
    /// version knows.
    #[error("unsupported version or cipher suite")]
    UnsupportedVersion,
    /// The sender's signature does not verify with the expected public key.
    #[error("signature verification failed")]
    BadSignature,
    /// The envelope carries no wrapped content key for this user.
    #[error("this user is not a recipient of the message")]
    NotARecipient,
    /// An AEAD or HPKE open failed: wrong key, tampered or truncated data.
    #[error("decryption failed")]
    DecryptionFailed,
    /// The unwrapped content key does not match the signed key commitment.
    #[error("content key does not match its commitment")]
    CommitmentMismatch,
    /// A public or secret key is invalid (wrong length, not on the curve,
    /// low order, weak).
    #[error("invalid key")]
    BadKey,
    /// The key backup does not open under the keys derived from this password
    /// (or it was made for another user, or was tampered with).
    #[error("wrong password")]
    WrongPassword,
    /// The underlying reader or writer failed.
    #[error("i/o error: {0}")]
    Io(String),
}

impl CryptoError {
    /// Stable machine-readable code, e.g. `E2E_BAD_SIGNATURE`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "E2E_MALFORMED",
            Self::UnsupportedVersion => "E2E_UNSUPPORTED_VERSION",
            Self::BadSignature => "E2E_BAD_SIGNATURE",
            Self::NotARecipient => "E2E_NOT_A_RECIPIENT",
            Self::DecryptionFailed => "E2E_DECRYPTION_FAILED",
            Self::CommitmentMismatch => "E2E_COMMITMENT_MISMATCH",
            Self::BadKey => "E2E_BAD_KEY",
            Self::WrongPassword => "E2E_WRONG_PASSWORD",
            Self::Io(_) => "E2E_IO",
        }
    }

    pub(crate) fn malformed(what: &str) -> Self {
        Self::Malformed(what.to_owned())
    }
}

impl From<std::io::Error> for CryptoError {
    fn from(e: std::io::Error) -> Self {
        // io::Error's text comes from the OS or the stream, never from our data.
        Self::Io(e.to_string())
    }
}

/// Describes a serde_json error by category and position only: its `Display`
/// can quote the offending value, which may be plaintext.
pub(crate) fn json_error(what: &str, e: &serde_json::Error) -> CryptoError {
    CryptoError::Malformed(format!(
        "{what}: invalid JSON ({:?}) at line {} column {}",
        e.classify(),
        e.line(),
        e.column()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_and_prefixed() {
        let all = [
            CryptoError::Malformed(String::new()),
            CryptoError::UnsupportedVersion,
            CryptoError::BadSignature,
            CryptoError::NotARecipient,
            CryptoError::DecryptionFailed,
            CryptoError::CommitmentMismatch,
            CryptoError::BadKey,
            CryptoError::WrongPassword,
            CryptoError::Io(String::new()),
        ];
        let mut codes: Vec<_> = all.iter().map(CryptoError::code).collect();
        assert!(codes.iter().all(|c| c.starts_with("E2E_")));
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), all.len());
    }

    #[test]
    fn json_error_does_not_quote_values() {
        let e = serde_json::from_str::<u32>("\"tres secret\"").unwrap_err();
        assert!(
            e.to_string().contains("tres secret"),
            "premise: serde quotes"
        );
        let ours = json_error("plaintext", &e).to_string();
        assert!(!ours.contains("secret"), "{ours}");
    }
}
