//! Images and voice messages through the real server (issue 11): the client
//! makes the thumbnail before encryption, the recipient opens the thumbnail
//! without the whole image, the server never holds clear bytes; a voice file
//! keeps its type and duration, and a renamed executable is refused.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use dmp_protocol::*;
use std::io::Cursor;

fn ord() -> (ContextType, ContextId) {
    (ContextType::Ordonnance, ContextId::new("ord_789"))
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// A 1200 × 800 photo-like PNG (noise, so that it does not compress to nothing).
fn photo() -> Vec<u8> {
    let mut seed = 0x2545_f491_u32;
    let img = image::RgbImage::from_fn(1200, 800, |x, y| {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        image::Rgb([(x / 5) as u8, (y / 4) as u8, (seed & 0x3f) as u8])
    });
    let mut out = Vec::new();
    image::DynamicImage::ImageRgb8(img)
        .write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png)
        .unwrap();
    out
}

/// A WAV file of `ms` milliseconds of silence (8 kHz, 8 bit, mono).
fn wav(ms: u32) -> Vec<u8> {
    let samples = 8 * ms;
    let mut out = Vec::new();
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + samples).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&8000u32.to_le_bytes());
    out.extend_from_slice(&8000u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&8u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&samples.to_le_bytes());
    out.resize(out.len() + samples as usize, 0x80);
    out
}

#[tokio::test]
async fn an_image_travels_with_an_encrypted_thumbnail_made_before_encryption() {
    require_desktop_services();
    let server = Server::start(|c| c.require_e2e = true).await;
    let (pd, dd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let patient = login(&server, pd.path(), PATIENT, false).await;
    let doctor = login(&server, dd.path(), DOCTOR, false).await;
    patient.contexts().await.unwrap();
    doctor.contexts().await.unwrap();
    let (k, id) = ord();

    let original = photo();
    let att = patient
        .upload("photo-eruption.png", original.clone())
        .await
        .unwrap();
    assert_eq!(att.mime_type, "image/png");
    assert_eq!((att.width, att.height), (Some(1200), Some(800)));
    let thumb_id = att.thumbnail_id.clone().expect("a thumbnail was made");
    let sent = patient
        .send(k, &id, "", MessageMetadata::default(), vec![att.id.clone()])
        .await
        .unwrap();
    assert_eq!(sent.kind, MessageType::Image);

    // The doctor gets one image attachment with its thumbnail, and opens the
    // thumbnail: a small JPEG, fetched without the whole image.
    let page = doctor.history(k, &id, None, 50).await.unwrap();
    let m = page.messages.last().unwrap();
    assert_eq!(m.kind, MessageType::Image);
    assert_eq!(m.encrypted, Some(true));
    assert_eq!(
        m.attachments.len(),
        1,
        "the thumbnail is not a second attachment"
    );
    let seen = &m.attachments[0];
    assert_eq!(seen.thumbnail_id.as_ref(), Some(&thumb_id));
    assert_eq!((seen.width, seen.height), (Some(1200), Some(800)));
    let (mime, thumb) = doctor.thumbnail(&seen.id).await.unwrap();
    assert_eq!(mime, "image/jpeg");
    assert!(thumb.starts_with(&[0xFF, 0xD8, 0xFF]));
    assert!(
        thumb.len() < 40 * 1024 && thumb.len() * 10 < original.len(),
        "thumbnail {} bytes for an image of {}",
        thumb.len(),
        original.len()
    );
    let decoded = image::load_from_memory(&thumb).unwrap();
    assert_eq!((decoded.width(), decoded.height()), (320, 213));
    // The full image on click is the very bytes that were sent.
    let (mime, full) = doctor.media(&seen.id).await.unwrap();
    assert_eq!((mime.as_str(), full == original), ("image/png", true));

    // The server holds two encrypted blobs and no clear byte of either.
    let stored: Vec<_> = files_under(&server.config.attachments_dir());
    assert_eq!(stored.len(), 2);
    for f in files_under(server.dir.path()) {
        let bytes = std::fs::read(&f).unwrap();
        for needle in [
            &original[..64],
            &original[original.len() / 2..original.len() / 2 + 64],
            &thumb[..64],
            &thumb[thumb.len() / 2..thumb.len() / 2 + 64],
            b"photo-eruption",
        ] {
            assert!(
                !contains(&bytes, needle),
                "{} holds clear data",
                f.display()
            );
        }
    }
}

#[tokio::test]
async fn a_voice_message_keeps_its_type_and_duration_and_a_renamed_exe_is_refused() {
    require_desktop_services();
    let server = Server::start(|c| c.require_e2e = true).await;
    let (pd, dd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let patient = login(&server, pd.path(), PATIENT, false).await;
    let doctor = login(&server, dd.path(), DOCTOR, false).await;
    patient.contexts().await.unwrap();
    doctor.contexts().await.unwrap();
    let (k, id) = ord();

    // A Windows executable renamed .ogg never leaves the device.
    let mut exe = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00".to_vec();
    exe.resize(4096, 0);
    let err = patient
        .upload_media("message-vocal.ogg", exe, Some(3000))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "VALIDATION_FAILED");
    assert!(files_under(&server.config.attachments_dir()).is_empty());

    let audio = wav(2500);
    let att = patient
        .upload_media("message-vocal.wav", audio.clone(), Some(2500))
        .await
        .unwrap();
    assert_eq!(
        (att.mime_type.as_str(), att.duration_ms),
        ("audio/wav", Some(2500))
    );
    let sent = patient
        .send(k, &id, "", MessageMetadata::default(), vec![att.id.clone()])
        .await
        .unwrap();
    assert_eq!(sent.kind, MessageType::Voice);

    let page = doctor.history(k, &id, None, 50).await.unwrap();
    let m = page.messages.last().unwrap();
    assert_eq!(m.kind, MessageType::Voice);
    let heard = &m.attachments[0];
    assert_eq!(
        (
            heard.mime_type.as_str(),
            heard.duration_ms,
            heard.thumbnail_id.as_ref()
        ),
        ("audio/wav", Some(2500), None)
    );
    let (mime, bytes) = doctor.media(&heard.id).await.unwrap();
    assert_eq!((mime.as_str(), bytes == audio), ("audio/wav", true));
    // The server saw an encrypted blob only.
    for f in files_under(&server.config.attachments_dir()) {
        let stored = std::fs::read(&f).unwrap();
        assert!(stored.starts_with(limits::ENCRYPTED_ATTACHMENT_MAGIC));
        assert!(!contains(&stored, b"WAVEfmt"));
    }
    // A PDF is not "media": the window saves it instead of showing it.
    let mut pdf = b"%PDF-1.7\n".to_vec();
    pdf.resize(2048, b' ');
    let doc = patient.upload("ordonnance.pdf", pdf).await.unwrap();
    assert_eq!(doc.thumbnail_id, None);
    assert_eq!(
        patient.media(&doc.id).await.unwrap_err().code(),
        "VALIDATION_FAILED"
    );
}
