//! Images and voice messages (issue 11, docs/security.md "Media").
//!
//! Every attachment is checked here before anything leaves the device: its
//! extension against the allowed types, its content against that extension
//! (`dmp_protocol::limits::sniff_file_type`), its size. Then:
//!
//! - an **image** (jpeg, png, webp) gets a thumbnail made HERE, in the client
//!   core, from the clear bytes: at most [`THUMBNAIL_SIDE`] px on its long
//!   side, JPEG, a few KiB. It is made in Rust rather than on a canvas in the
//!   webview so that the CLI and the desktop app send the same thing, EXIF
//!   orientation is applied the same way, a decompression bomb hits
//!   [`decode_limits`] instead of the webview's memory, and the whole image
//!   never has to reach the page. The thumbnail is encrypted under its own
//!   fresh key and uploaded as a second blob; its secret travels nested in the
//!   image's [`dmp_crypto::AttachmentSecret`] (`media.thumbnail`), inside the
//!   signed envelope. Inline in the envelope it would not fit: the envelope is
//!   base64 of JSON holding base64 ciphertext of JSON (about 1.8× the bytes)
//!   and is capped at `max_envelope_bytes` (16 KiB) with the text and four
//!   more attachments. The message then lists both blobs on the wire (the
//!   server only links them to the message so the peer may download them);
//!   the opened message shows one attachment with a `thumbnailId`.
//! - an **audio** file (ogg/opus, webm, mp3, m4a, wav) is a voice message:
//!   its duration, measured by the caller (the recorder in the window, or the
//!   `<audio>` element for a picked file), travels inside the envelope.
//!
//! The message's type follows from its attachments ([`Inner::message_kind`]).

use crate::error::{ClientError, ClientResult};
use crate::{DmpClient, Inner};
use base64::Engine as _;
use dmp_crypto::{AttachmentSecret, MediaSecret};
use dmp_protocol::limits::{is_audio_type, is_image_type, normalize_extension, sniff_file_type};
use dmp_protocol::*;
use std::io::Cursor;

/// Long side of a thumbnail, in pixels.
pub const THUMBNAIL_SIDE: u32 = 320;
/// JPEG quality of a thumbnail (a 320 px photo is then about 10–20 KiB).
const THUMBNAIL_QUALITY: u8 = 70;
/// File name of a thumbnail blob (never shown: the image's name is).
const THUMBNAIL_NAME: &str = "apercu.jpg";
/// Longest voice message accepted, in milliseconds (one hour).
pub const MAX_VOICE_DURATION_MS: u64 = 60 * 60 * 1000;

/// What an image or audio file is, once checked.
struct Checked {
    mime: &'static str,
}

/// Bounds on decoding an image the user picked, so that a small file that
/// claims 100,000 × 100,000 pixels fails instead of exhausting memory.
fn decode_limits() -> image::Limits {
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(16_384);
    limits.max_image_height = Some(16_384);
    limits.max_alloc = Some(512 * 1024 * 1024);
    limits
}

/// Width and height in pixels.
pub type Size = (u32, u32);

/// A thumbnail of an image: JPEG bytes and the dimensions of the image and of
/// the thumbnail, EXIF orientation applied. Transparent pixels are put on white.
pub fn make_thumbnail(bytes: &[u8]) -> ClientResult<(Vec<u8>, Size, Size)> {
    use image::{DynamicImage, GenericImageView as _, ImageDecoder as _};
    let bad = |e: image::ImageError| {
        ClientError::Invalid(format!(
            "the image cannot be read ({})",
            short(&e.to_string())
        ))
    };
    let mut reader = image::ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| ClientError::Io(e.to_string()))?;
    reader.limits(decode_limits());
    let mut decoder = reader.into_decoder().map_err(bad)?;
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut img = DynamicImage::from_decoder(decoder).map_err(bad)?;
    img.apply_orientation(orientation);
    let full = img.dimensions();
    // `thumbnail` also enlarges: a small image is kept at its size.
    let thumb = if full.0 > THUMBNAIL_SIDE || full.1 > THUMBNAIL_SIDE {
        img.thumbnail(THUMBNAIL_SIDE, THUMBNAIL_SIDE)
    } else {
        img
    };
    let size = thumb.dimensions();
    let mut rgb = image::RgbImage::new(size.0, size.1);
    for (x, y, p) in thumb.to_rgba8().enumerate_pixels() {
        let [r, g, b, a] = p.0;
        let over = |c: u8| ((u16::from(c) * u16::from(a) + 255 * (255 - u16::from(a))) / 255) as u8;
        rgb.put_pixel(x, y, image::Rgb([over(r), over(g), over(b)]));
    }
    let mut out = Vec::with_capacity(16 * 1024);
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, THUMBNAIL_QUALITY)
        .encode_image(&rgb)
        .map_err(bad)?;
    Ok((out, full, size))
}

/// The first line of a decoder's error, bounded (it names no content).
fn short(s: &str) -> String {
    s.lines().next().unwrap_or("").chars().take(120).collect()
}

/// Checks a file's type (extension and content) and size against the limits.
fn check(name: &str, bytes: &[u8], limits: &Limits) -> ClientResult<Checked> {
    let ext = normalize_extension(name).unwrap_or_default();
    if !limits.allowed_file_types.contains(&ext) {
        return Err(ClientError::Invalid(format!(
            "file type not allowed (allowed: {})",
            limits.allowed_file_types.join(", ")
        )));
    }
    if bytes.len() as u64 > limits.max_file_size {
        return Err(ClientError::Invalid(format!(
            "file is larger than {} MB",
            limits.max_file_size / 1024 / 1024
        )));
    }
    if bytes.is_empty() {
        return Err(ClientError::Invalid("file is empty".into()));
    }
    // The server only sees an encrypted blob: the content check happens here.
    let head = &bytes[..bytes.len().min(4096)];
    match sniff_file_type(head) {
        Some((sniffed, mime)) if sniffed == ext => Ok(Checked { mime }),
        _ => Err(ClientError::Invalid(format!(
            "the content of the file is not a .{ext} file"
        ))),
    }
}

impl Inner {
    /// Encrypts clear bytes under a fresh key, uploads the blob and returns
    /// its secret (without media details).
    async fn seal_and_upload(
        &self,
        name: &str,
        mime: &str,
        bytes: Vec<u8>,
    ) -> ClientResult<AttachmentSecret> {
        let tmp_dir = self.config.data_dir.join("tmp");
        std::fs::create_dir_all(&tmp_dir)?;
        let blob = tmp_dir.join(format!("{}.enc", uuid::Uuid::new_v4().simple()));
        let path = blob.clone();
        let sealed = tokio::task::spawn_blocking(move || -> ClientResult<_> {
            let out = std::io::BufWriter::new(std::fs::File::create(&path)?);
            Ok(dmp_crypto::encrypt_attachment(
                &mut rand::rngs::OsRng,
                bytes.as_slice(),
                out,
            )?)
        })
        .await
        .map_err(|e| ClientError::Io(e.to_string()))?;
        let uploaded = match sealed {
            Ok(s) => self
                .api
                .upload_file(&blob, "piece-jointe.enc")
                .await
                .map(|a| (a, s)),
            Err(e) => Err(e),
        };
        let _ = std::fs::remove_file(&blob);
        let (server_copy, (key, size, sha256)) = uploaded?;
        Ok(AttachmentSecret {
            id: server_copy.id.to_string(),
            name: name.to_owned(),
            mime_type: mime.to_owned(),
            size,
            sha256,
            key: base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key.as_slice()),
            media: None,
        })
    }

    fn remember(&self, secret: &AttachmentSecret) -> ClientResult<()> {
        let json = serde_json::to_string(secret).map_err(|e| ClientError::Cache(e.to_string()))?;
        self.cache
            .put_attachment_secret(&AttachmentId(secret.id.clone()), &json)
    }

    /// The secret of an attachment sent or received on this device.
    pub(crate) fn secret_of(&self, id: &AttachmentId) -> ClientResult<Option<AttachmentSecret>> {
        self.cache
            .attachment_secret(id)?
            .map(|s| serde_json::from_str(&s).map_err(|e| ClientError::Cache(e.to_string())))
            .transpose()
    }

    /// The type of a message with these attachments, and the attachment ids
    /// the server must link to it (images bring their thumbnail's blob):
    /// `image` when every attachment is an image, `voice` for one audio file,
    /// `file` otherwise, `text` without attachments.
    pub(crate) fn message_kind(
        &self,
        attachments: &[AttachmentId],
    ) -> ClientResult<(MessageType, Vec<AttachmentId>)> {
        if attachments.is_empty() {
            return Ok((MessageType::Text, vec![]));
        }
        let mut wire = attachments.to_vec();
        let mut images = 0;
        let mut audio = 0;
        for id in attachments {
            let Some(secret) = self.secret_of(id)? else {
                continue;
            };
            if is_image_type(&secret.mime_type) {
                images += 1;
            } else if is_audio_type(&secret.mime_type) {
                audio += 1;
            }
            if let Some(thumb) = secret.media.as_ref().and_then(|m| m.thumbnail.as_ref()) {
                let thumb = AttachmentId(thumb.id.clone());
                if !wire.contains(&thumb) {
                    wire.push(thumb);
                }
            }
        }
        let kind = if images == attachments.len() {
            MessageType::Image
        } else if audio == 1 && attachments.len() == 1 {
            MessageType::Voice
        } else {
            MessageType::File
        };
        Ok((kind, wire))
    }
}

/// The view of an uploaded attachment for the caller.
pub(crate) fn attachment_view(secret: &AttachmentSecret) -> Attachment {
    let media = secret.media.as_ref();
    Attachment {
        id: AttachmentId(secret.id.clone()),
        name: secret.name.clone(),
        mime_type: secret.mime_type.clone(),
        size: secret.size,
        sha256: secret.sha256.clone(),
        thumbnail_id: media
            .and_then(|m| m.thumbnail.as_ref())
            .map(|t| AttachmentId(t.id.clone())),
        width: media.and_then(|m| m.width),
        height: media.and_then(|m| m.height),
        duration_ms: media.and_then(|m| m.duration_ms),
    }
}

impl DmpClient {
    /// Uploads a file, an image (with its thumbnail) or an audio file, after
    /// checking its type and size locally. `duration_ms` is the length of a
    /// voice message as the caller measured it (ignored for other types).
    pub async fn upload_media(
        &self,
        name: &str,
        bytes: Vec<u8>,
        duration_ms: Option<u64>,
    ) -> ClientResult<Attachment> {
        self.writable()?;
        let limits = self.limits();
        let Checked { mime } = check(name, &bytes, &limits)?;
        let inner = &self.inner;
        let media = if is_image_type(mime) {
            let clear = bytes.clone();
            let (thumb, full, size) = tokio::task::spawn_blocking(move || make_thumbnail(&clear))
                .await
                .map_err(|e| ClientError::Io(e.to_string()))??;
            let mut secret = inner
                .seal_and_upload(THUMBNAIL_NAME, "image/jpeg", thumb)
                .await?;
            secret.media = Some(MediaSecret {
                width: Some(size.0),
                height: Some(size.1),
                duration_ms: None,
                thumbnail: None,
            });
            inner.remember(&secret)?;
            Some(MediaSecret {
                width: Some(full.0),
                height: Some(full.1),
                duration_ms: None,
                thumbnail: Some(Box::new(secret)),
            })
        } else if is_audio_type(mime) {
            if duration_ms.is_some_and(|d| d > MAX_VOICE_DURATION_MS) {
                return Err(ClientError::Invalid(
                    "a voice message lasts one hour at most".into(),
                ));
            }
            Some(MediaSecret {
                width: None,
                height: None,
                duration_ms,
                thumbnail: None,
            })
        } else {
            None
        };
        let mut secret = inner.seal_and_upload(name, mime, bytes).await?;
        secret.media = media;
        inner.remember(&secret)?;
        Ok(attachment_view(&secret))
    }

    /// The clear bytes and MIME type of an image's thumbnail (`id` is the
    /// image's attachment id), fetched and decrypted; a few KiB.
    pub async fn thumbnail(&self, id: &AttachmentId) -> ClientResult<(String, Vec<u8>)> {
        let thumb = self
            .inner
            .secret_of(id)?
            .and_then(|s| s.media.as_ref().and_then(|m| m.thumbnail.clone()))
            .ok_or_else(|| ClientError::Invalid("this attachment has no thumbnail".into()))?;
        let bytes = self.download(&AttachmentId(thumb.id.clone())).await?;
        Ok((thumb.mime_type.clone(), bytes))
    }

    /// The clear bytes and MIME type of an image or audio attachment, to show
    /// or play in the window (other types are saved with `save_attachment`).
    pub async fn media(&self, id: &AttachmentId) -> ClientResult<(String, Vec<u8>)> {
        let bytes = self.download(id).await?;
        match sniff_file_type(&bytes[..bytes.len().min(4096)]) {
            Some((_, mime)) if is_image_type(mime) || is_audio_type(mime) => {
                Ok((mime.to_owned(), bytes))
            }
            _ => Err(ClientError::Invalid(
                "only images and voice messages are shown in the window".into(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(w: u32, h: u32) -> Vec<u8> {
        let img = image::RgbaImage::from_fn(w, h, |x, y| {
            image::Rgba([
                (x % 256) as u8,
                (y % 256) as u8,
                128,
                if x < 10 { 0 } else { 255 },
            ])
        });
        let mut out = Vec::new();
        image::DynamicImage::ImageRgba8(img)
            .write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png)
            .unwrap();
        out
    }

    #[test]
    fn thumbnail_keeps_the_ratio_and_is_small() {
        let (jpeg, full, size) = make_thumbnail(&png(1600, 900)).unwrap();
        assert_eq!(full, (1600, 900));
        assert_eq!(size, (320, 180));
        assert!(jpeg.starts_with(&[0xFF, 0xD8, 0xFF]));
        assert!(jpeg.len() < 32 * 1024, "{} bytes", jpeg.len());
        // A small image is not enlarged.
        let (_, _, size) = make_thumbnail(&png(40, 60)).unwrap();
        assert_eq!(size, (40, 60));
    }

    #[test]
    fn a_truncated_image_is_refused_with_a_validation_error() {
        let mut bytes = png(200, 200);
        bytes.truncate(100);
        let err = make_thumbnail(&bytes).unwrap_err();
        assert_eq!(err.code(), "VALIDATION_FAILED");
    }

    #[test]
    fn type_checks() {
        let limits = Limits::default();
        assert_eq!(
            check("scan.png", &png(2, 2), &limits).unwrap().mime,
            "image/png"
        );
        assert!(check("voice.opus", b"OggS\x00\x02", &limits).is_ok());
        let exe = b"MZ\x90\x00\x03\x00\x00\x00";
        assert_eq!(
            check("voice.ogg", exe, &limits).err().map(|e| e.code()),
            Some("VALIDATION_FAILED")
        );
        assert!(check("voice.exe", exe, &limits).is_err());
        assert!(check("scan.jpg", &png(2, 2), &limits).is_err());
    }
}
