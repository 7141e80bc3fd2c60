//! The limits of DESIGN §5. Every one is a configuration value so that a
//! deployment (or a benchmark) can change it; the defaults are the seed's.

use serde::{Deserialize, Serialize};

/// Prefix of an end-to-end encrypted message content (the rest is opaque).
pub const ENVELOPE_PREFIX: &str = "dmp-e2e:v1:";
/// Prefix of data a user sealed for themselves (reply templates).
pub const PRIVATE_PREFIX: &str = "dmp-private:v1:";
/// First bytes of an end-to-end encrypted attachment.
pub const ENCRYPTED_ATTACHMENT_MAGIC: &[u8] = b"DMPENC1\n";

/// The allowed file type the first bytes of a file show: (extension, MIME type).
/// A docx is recognised by its first zip entry, `[Content_Types].xml`; audio
/// by its container (docs/security.md, "Media"). Give at least the first
/// 64 bytes (4 KiB is what the client and server pass).
pub fn sniff_file_type(head: &[u8]) -> Option<(&'static str, &'static str)> {
    let at = |offset: usize, magic: &[u8]| head.get(offset..offset + magic.len()) == Some(magic);
    if head.starts_with(b"%PDF-") {
        Some(("pdf", "application/pdf"))
    } else if head.starts_with(&[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A]) {
        Some(("png", "image/png"))
    } else if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(("jpg", "image/jpeg"))
    } else if at(0, b"RIFF") && at(8, b"WEBP") {
        Some(("webp", "image/webp"))
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
        sniff_audio(head)
    }
}

/// The audio containers a voice message may use.
fn sniff_audio(head: &[u8]) -> Option<(&'static str, &'static str)> {
    let at = |offset: usize, magic: &[u8]| head.get(offset..offset + magic.len()) == Some(magic);
    if at(0, b"OggS") {
        // Ogg Vorbis or Ogg Opus (a `.opus` file is Ogg: see `normalize_extension`).
        Some(("ogg", "audio/ogg"))
    } else if at(0, &[0x1A, 0x45, 0xDF, 0xA3]) && head.windows(4).any(|w| w == b"webm") {
        // EBML with the DocType `webm` (what MediaRecorder writes); other Matroska is refused.
        Some(("webm", "audio/webm"))
    } else if at(0, b"RIFF") && at(8, b"WAVE") {
        Some(("wav", "audio/wav"))
    } else if at(4, b"ftyp")
        && [
            &b"M4A "[..],
            b"M4B ",
            b"mp42",
            b"isom",
            b"iso5",
            b"iso6",
            b"dash",
        ]
        .iter()
        .any(|brand| at(8, brand))
    {
        Some(("m4a", "audio/mp4"))
    } else if at(0, b"ID3") || is_mpeg_audio_frame(head) {
        Some(("mp3", "audio/mpeg"))
    } else {
        None
    }
}

/// An MPEG audio frame header: 11 sync bits, a version other than "reserved",
/// layer I/II/III (not `00`, which is AAC's ADTS), a bitrate other than "bad"
/// and a sample rate other than "reserved". JPEG's `FF D8` fails the sync bits.
fn is_mpeg_audio_frame(head: &[u8]) -> bool {
    let [a, b, c, ..] = *head else {
        return false;
    };
    a == 0xFF
        && b & 0xE0 == 0xE0
        && (b >> 3) & 0b11 != 0b01
        && (b >> 1) & 0b11 != 0
        && c >> 4 != 0b1111
        && (c >> 2) & 0b11 != 0b11
}

/// The extension a file name is checked under: lower case, with the aliases
/// of one container folded (`jpeg` → `jpg`, `opus`/`oga` → `ogg`).
pub fn normalize_extension(name: &str) -> Option<String> {
    let ext = name.rsplit_once('.')?.1.to_ascii_lowercase();
    Some(match ext.as_str() {
        "jpeg" => "jpg".into(),
        "opus" | "oga" => "ogg".into(),
        _ => ext,
    })
}

/// Whether a MIME type (as [`sniff_file_type`] gives it) is an image that gets a thumbnail.
pub fn is_image_type(mime: &str) -> bool {
    matches!(mime, "image/jpeg" | "image/png" | "image/webp")
}

/// Whether a MIME type (as [`sniff_file_type`] gives it) is audio, sent as a voice message.
pub fn is_audio_type(mime: &str) -> bool {
    mime.starts_with("audio/")
}

/// File types an attachment may have, by extension.
pub const DEFAULT_ALLOWED_FILE_TYPES: [&str; 11] = [
    "pdf", "jpg", "png", "webp", "doc", "docx", "ogg", "webm", "mp3", "m4a", "wav",
];

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
    /// Hours within which the doctor is expected to answer a question marked
    /// `requiresResponse`; past them it is overdue (docs/messaging.md,
    /// "Answers that wait").
    pub answer_within_hours: u32,
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
            answer_within_hours: 72,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(head: &[u8]) -> Option<&'static str> {
        sniff_file_type(head).map(|k| k.0)
    }

    #[test]
    fn audio_and_webp_are_sniffed_by_their_container() {
        assert_eq!(kind(b"OggS\x00\x02\x00\x00OpusHead"), Some("ogg"));
        assert_eq!(
            kind(b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm"),
            Some("webm")
        );
        assert_eq!(
            kind(b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x88matroska"),
            None
        );
        assert_eq!(kind(b"RIFF\x24\x08\x00\x00WAVEfmt "), Some("wav"));
        assert_eq!(kind(b"RIFF\x24\x08\x00\x00WEBPVP8 "), Some("webp"));
        assert_eq!(kind(b"RIFF\x24\x08\x00\x00AVI LIST"), None);
        assert_eq!(
            kind(b"\x00\x00\x00\x20ftypM4A \x00\x00\x00\x00"),
            Some("m4a")
        );
        assert_eq!(kind(b"\x00\x00\x00\x20ftypqt  \x00\x00\x00\x00"), None);
        assert_eq!(kind(b"ID3\x04\x00\x00\x00\x00\x00\x00"), Some("mp3"));
        // MPEG-1 layer III, 128 kbit/s, 44.1 kHz.
        assert_eq!(kind(&[0xFF, 0xFB, 0x90, 0x64]), Some("mp3"));
        // AAC ADTS (layer 00) and JPEG are not MP3.
        assert_eq!(kind(&[0xFF, 0xF1, 0x50, 0x80]), None);
        assert_eq!(kind(&[0xFF, 0xD8, 0xFF, 0xE0]), Some("jpg"));
        // A Windows executable renamed to .ogg is nothing.
        assert_eq!(kind(b"MZ\x90\x00\x03\x00\x00\x00"), None);
        assert_eq!(kind(b""), None);
    }

    #[test]
    fn extensions_fold_aliases() {
        assert_eq!(normalize_extension("a.JPEG").as_deref(), Some("jpg"));
        assert_eq!(normalize_extension("note.opus").as_deref(), Some("ogg"));
        assert_eq!(normalize_extension("x.tar.gz").as_deref(), Some("gz"));
        assert_eq!(normalize_extension("noext"), None);
        for t in DEFAULT_ALLOWED_FILE_TYPES {
            assert_eq!(normalize_extension(&format!("f.{t}")).as_deref(), Some(t));
        }
    }

    #[test]
    fn media_kinds() {
        assert!(is_image_type("image/webp"));
        assert!(!is_image_type("application/pdf"));
        assert!(is_audio_type("audio/ogg"));
        assert!(!is_audio_type("image/png"));
    }
}
