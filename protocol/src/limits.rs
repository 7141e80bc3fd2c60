//! The limits of DESIGN §5. Every one is a configuration value so that a
//! deployment (or a benchmark) can change it; the defaults are the seed's.

use serde::{Deserialize, Serialize};

/// Prefix of an end-to-end encrypted message content (the rest is opaque).
pub const ENVELOPE_PREFIX: &str = "dmp-e2e:v1:";
/// First bytes of an end-to-end encrypted attachment.
pub const ENCRYPTED_ATTACHMENT_MAGIC: &[u8] = b"DMPENC1\n";

/// The allowed file type the first bytes of a file show: (extension, MIME type).
/// A docx is recognised by its first zip entry, `[Content_Types].xml`.
pub fn sniff_file_type(head: &[u8]) -> Option<(&'static str, &'static str)> {
    if head.starts_with(b"%PDF-") {
        Some(("pdf", "application/pdf"))
    } else if head.starts_with(&[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A]) {
        Some(("png", "image/png"))
    } else if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(("jpg", "image/jpeg"))
    } else if head.starts_with(&[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1]) {
        Some(("doc", "application/msword"))
    } else if head.starts_with(b"PK\x03\x04")
        && head.windows(19).any(|w| w == b"[Content_Types].xml")
    {
        Some((
            "docx",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        ))
    } else {
        None
    }
}

/// File types an attachment may have, by extension.
pub const DEFAULT_ALLOWED_FILE_TYPES: [&str; 5] = ["pdf", "jpg", "png", "doc", "docx"];

/// Messaging limits, shared by server validation and client pre-checks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase", default)]
pub struct Limits {
    /// Characters in a message's content.
    pub max_message_length: usize,
    /// Bytes of an end-to-end encrypted envelope (the server cannot count characters inside it).
    pub max_envelope_bytes: usize,
    /// Attachments on one message.
    pub max_attachments: usize,
    /// Bytes in one attachment.
    pub max_file_size: u64,
    /// Allowed extensions (their content is checked too).
    pub allowed_file_types: Vec<String>,
    /// Days without activity before a session is archived.
    pub auto_archive_after_days: u32,
    /// Days messages are kept (medical retention: 7 years).
    pub retention_period_days: u32,
    /// Minimum interval between two relayed typing frames of one user in one context.
    pub typing_indicator_delay_ms: u64,
    /// Seconds a client waits for an ack before it retries a send.
    pub message_timeout_secs: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_message_length: 1000,
            max_envelope_bytes: 16 * 1024,
            max_attachments: 5,
            max_file_size: 10 * 1024 * 1024,
            allowed_file_types: DEFAULT_ALLOWED_FILE_TYPES
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            auto_archive_after_days: 30,
            retention_period_days: 7 * 365 + 2,
            typing_indicator_delay_ms: 1000,
            message_timeout_secs: 30,
        }
    }
}
