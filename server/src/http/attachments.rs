//! Attachment upload and download. Uploads stream to disk while being
//! hashed and counted; the type is decided by the file's first bytes and
//! must agree with its extension.

use super::{Json, Path};
use crate::error::{AppError, AppResult};
use crate::state::{AppState, AuthedUser};
use crate::store::{AttachmentRecord, AuditEvent, RequestMeta};
use axum::body::Body;
use axum::extract::{Multipart, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use dmp_protocol::*;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

/// The type the first bytes of a file show, as (extension, MIME type): one
/// of the allowed clear types (`dmp_protocol::limits::sniff_file_type`, shared
/// with the client), or `enc` for an end-to-end encrypted container.
pub fn sniff(head: &[u8]) -> Option<(&'static str, &'static str)> {
    if head.starts_with(dmp_protocol::limits::ENCRYPTED_ATTACHMENT_MAGIC) {
        Some(("enc", "application/vnd.dmp.e2e"))
    } else {
        dmp_protocol::limits::sniff_file_type(head)
    }
}

/// Whether `size` bytes can be an encrypted attachment container: magic,
/// 19-byte nonce prefix, then chunks of 64 KiB + 16-byte tag, the last one
/// holding 0 to 64 KiB (see dmp-crypto's `attachment` module). The server has
/// no key: the shape is what it can check.
fn is_container_size(size: u64) -> bool {
    const HEADER: u64 = 8 + 19;
    const TAG: u64 = 16;
    const CHUNK: u64 = 64 * 1024 + TAG;
    let Some(body) = size.checked_sub(HEADER) else {
        return false;
    };
    let rest = body % CHUNK;
    body >= TAG && (rest == 0 || rest >= TAG)
}

/// The lower-case extension of a file name, aliases folded (`jpeg` → `jpg`, `opus` → `ogg`).
fn extension(name: &str) -> Option<String> {
    dmp_protocol::limits::normalize_extension(name)
}

/// A file name safe to store and to put in a header.
fn clean_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let cleaned: String = base
        .chars()
        .filter(|c| !c.is_control() && *c != '"')
        .take(200)
        .collect();
    if cleaned.trim().is_empty() {
        "fichier".into()
    } else {
        cleaned
    }
}

/// The multipart body of an upload.
#[derive(Debug, utoipa::ToSchema)]
#[allow(dead_code)] // documentation only: the body is read as a stream
pub struct UploadForm {
    /// The file, with its name in the part's `Content-Disposition`.
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
}

/// Uploads one file (multipart field `file`). It can then be listed in a send.
#[utoipa::path(post, path = "/api/messaging/attachments", tag = "attachments", security(("bearer" = [])),
    request_body(content_type = "multipart/form-data", content = UploadForm, description = "one part named `file` with a file name"),
    responses((status = 201, body = Attachment), (status = 400, description = "VALIDATION_FAILED: no `file` part, no extension, empty file", body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, description = "CONTEXT_ACCESS_DENIED: administrator accounts cannot upload", body = ErrorBody),
              (status = 413, description = "VALIDATION_FAILED: file too large, or the user's attachment quota is reached", body = ErrorBody),
              (status = 429, description = "RATE_LIMIT_EXCEEDED: too many uploads", body = ErrorBody),
              (status = 415, description = "VALIDATION_FAILED: type not allowed or content does not match", body = ErrorBody)))]
pub async fn upload(
    State(state): State<AppState>,
    who: AuthedUser,
    meta: RequestMeta,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> AppResult<Response> {
    // Bounds (docs/security.md, "Resource bounds"): who, how often, how much.
    if who.user.kind == UserType::Admin {
        state
            .audit_denied(who.id().as_str(), "upload", "admin", &meta)
            .await;
        return Err(AppError::new(
            ErrorCode::ContextAccessDenied,
            "administrator accounts cannot upload attachments",
        )
        .with_status(StatusCode::FORBIDDEN));
    }
    if let Err(wait) = state.upload_limiter.check(who.id()).await {
        return Err(AppError::rate_limited(wait.as_secs_f64().ceil() as u64));
    }
    let quota = state.config.uploads.quota_bytes_per_user;
    let used = state.store.attachment_bytes(who.id()).await?;
    let room = quota.saturating_sub(used);
    let over_quota = || {
        AppError::invalid(format!(
            "attachment storage quota reached ({quota} bytes per user); delete messages with attachments to free space"
        ))
        .with_status(StatusCode::PAYLOAD_TOO_LARGE)
    };
    if room == 0 {
        return Err(over_quota());
    }
    let mut multipart = multipart.map_err(|_| {
        AppError::invalid("expected multipart/form-data with a `file` part")
            .with_status(StatusCode::UNSUPPORTED_MEDIA_TYPE)
    })?;
    let limits = &state.config.limits;
    let too_large = || {
        AppError::invalid(format!(
            "file is larger than {} bytes",
            limits.max_file_size
        ))
        .with_status(StatusCode::PAYLOAD_TOO_LARGE)
    };
    let mut field = loop {
        match multipart.next_field().await {
            Ok(Some(f)) if f.name() == Some("file") => break f,
            Ok(Some(_)) => continue,
            Ok(None) => return Err(AppError::invalid("missing `file` part")),
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => return Err(too_large()),
            Err(_) => return Err(AppError::invalid("malformed multipart body")),
        }
    };
    let name = clean_name(field.file_name().unwrap_or(""));
    let ext =
        extension(&name).ok_or_else(|| AppError::invalid("the file name has no extension"))?;
    let encrypted = ext == "enc";
    if !encrypted && state.config.require_e2e {
        return Err(AppError::new(
            ErrorCode::E2eRequired,
            "this server only accepts end-to-end encrypted attachments (.enc)",
        )
        .with_status(StatusCode::UNSUPPORTED_MEDIA_TYPE));
    }
    if !encrypted && !limits.allowed_file_types.contains(&ext) {
        return Err(AppError::invalid(format!(
            "file type .{ext} is not allowed (allowed: {})",
            limits.allowed_file_types.join(", ")
        ))
        .with_status(StatusCode::UNSUPPORTED_MEDIA_TYPE));
    }
    // An encrypted file is its clear size plus a small header and 16 bytes per 64 KiB chunk.
    let max_size = if encrypted {
        limits.max_file_size + (limits.max_file_size / 65536 + 2) * 16 + 64
    } else {
        limits.max_file_size
    };
    let id = AttachmentId(format!("att_{}", uuid::Uuid::new_v4().simple()));
    let mut file = state
        .attachment_files
        .begin(&id)
        .await
        .map_err(|_| AppError::internal())?;
    let mut hasher = Sha256::new();
    let mut size: u64 = 0;
    let mut head: Vec<u8> = Vec::with_capacity(4096);
    let result: AppResult<()> = async {
        loop {
            let chunk = match field.chunk().await {
                Ok(Some(c)) => c,
                Ok(None) => break,
                Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => return Err(too_large()),
                Err(_) => return Err(AppError::invalid("upload interrupted or malformed")),
            };
            size += chunk.len() as u64;
            if size > max_size {
                return Err(too_large());
            }
            if size > room {
                return Err(over_quota());
            }
            if head.len() < 4096 {
                let take = (4096 - head.len()).min(chunk.len());
                head.extend_from_slice(&chunk[..take]);
            }
            hasher.update(&chunk);
            file.write_all(&chunk)
                .await
                .map_err(|_| AppError::internal())?;
        }
        file.flush().await.map_err(|_| AppError::internal())?;
        Ok(())
    }
    .await;
    drop(file);
    let kind = sniff(&head);
    let checked = result.and_then(|()| {
        if size == 0 {
            return Err(AppError::invalid("file is empty"));
        }
        match kind {
            Some(k) if k.0 == "enc" && ext == "enc" && !is_container_size(size) => {
                Err(AppError::new(
                    ErrorCode::MalformedEnvelope,
                    "the .enc file is not a whole encrypted container (header and chunks)",
                )
                .with_status(StatusCode::UNSUPPORTED_MEDIA_TYPE))
            }
            Some(k) if k.0 == ext => Ok(k),
            _ => Err(
                AppError::invalid(format!("the content of the file is not a .{ext} file"))
                    .with_status(StatusCode::UNSUPPORTED_MEDIA_TYPE),
            ),
        }
    });
    let kind = match checked {
        Ok(k) => k,
        Err(e) => {
            state.attachment_files.abort(&id).await;
            state
                .audit_denied(who.id().as_str(), "upload", id.as_str(), &meta)
                .await;
            return Err(e);
        }
    };
    if state.attachment_files.finish(&id).await.is_err() {
        state.attachment_files.abort(&id).await;
        return Err(AppError::internal());
    }
    let attachment = Attachment::stored(
        id.clone(),
        name,
        kind.1.into(),
        size,
        hex::encode(hasher.finalize()),
    );
    let record = AttachmentRecord {
        attachment: attachment.clone(),
        owner_id: who.id().clone(),
        message_id: None,
    };
    state
        .store
        .insert_attachment(
            record,
            AuditEvent::new(
                state.now(),
                who.id().as_str(),
                "upload",
                id.as_str(),
                "ok",
                &meta,
            ),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(attachment)).into_response())
}

/// Maintenance: forgets uploads never attached to a message, and removes
/// `.part` files left by interrupted uploads, once older than
/// `uploads.orphan_after_hours` (by the injected clock).
pub async fn purge_unused(state: &AppState) {
    let now = state.now();
    let cutoff = now - chrono::Duration::hours(i64::from(state.config.uploads.orphan_after_hours));
    match state.store.purge_unattached(cutoff, now).await {
        Ok(ids) => {
            for id in &ids {
                state.attachment_files.remove(id).await;
            }
            if !ids.is_empty() {
                tracing::info!(count = ids.len(), "unattached uploads purged");
            }
        }
        Err(e) => tracing::warn!(error = %e, "purge of unattached uploads failed"),
    }
    let removed = state.attachment_files.purge_parts(cutoff).await;
    if removed > 0 {
        tracing::info!(count = removed, "interrupted uploads (.part) removed");
    }
}

/// Downloads a file: its uploader before it is sent, the conversation's two participants after.
#[utoipa::path(get, path = "/api/messaging/attachments/{attachment_id}", tag = "attachments", security(("bearer" = [])),
    params(("attachment_id" = AttachmentId, Path)),
    responses((status = 200, description = "the file's bytes, with the type established at upload", content(
                  (String = "application/vnd.dmp.e2e"), (String = "application/pdf"), (String = "image/png"), (String = "image/jpeg"),
                  (String = "application/msword"), (String = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
                  (String = "image/webp"), (String = "audio/ogg"), (String = "audio/webm"), (String = "audio/wav"), (String = "audio/mp4"), (String = "audio/mpeg")),
                  headers(("Content-Disposition" = String, description = "attachment; filename=\"…\""))),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn download(
    State(state): State<AppState>,
    who: AuthedUser,
    meta: RequestMeta,
    Path(id): Path<AttachmentId>,
) -> AppResult<Response> {
    if !id.is_valid() {
        return Err(AppError::invalid("attachmentId is malformed"));
    }
    let Some((record, session)) = state.store.attachment(&id).await? else {
        return Err(AppError::not_found("attachment"));
    };
    let in_session = session.clone();
    match session {
        Some(session_id) => {
            let session = state
                .store
                .session(&session_id)
                .await?
                .ok_or_else(|| AppError::not_found("attachment"))?;
            state
                .authorize(&who, session.context_type, &session.context_id, &meta)
                .await?;
        }
        None if record.owner_id == *who.id() => {}
        None => {
            state
                .audit_denied(who.id().as_str(), "download", id.as_str(), &meta)
                .await;
            return Err(AppError::denied());
        }
    }
    let file = state
        .attachment_files
        .open(&id)
        .await
        .map_err(|_| AppError::not_found("attachment"))?;
    // With its conversation: the download shows in the patient's access log.
    let mut ev = AuditEvent::new(
        state.now(),
        who.id().as_str(),
        "download",
        id.as_str(),
        "ok",
        &meta,
    );
    if let Some(s) = &in_session {
        ev = ev.in_session(s);
    }
    state.audit(ev).await?;
    let body = Body::from_stream(tokio_util_stream(file));
    let mut res = Response::new(body);
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&record.attachment.mime_type)
            .unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    h.insert(
        header::CONTENT_LENGTH,
        HeaderValue::from(record.attachment.size),
    );
    let ascii: String = record
        .attachment
        .name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || ".-_ ".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{ascii}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(res)
}

/// Streams a file in 64 KiB chunks.
fn tokio_util_stream(
    file: crate::store::files::FileReader,
) -> impl futures_util::Stream<Item = std::io::Result<Vec<u8>>> {
    futures_util::stream::unfold(file, |mut file| async move {
        use tokio::io::AsyncReadExt;
        let mut buf = vec![0u8; 64 * 1024];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(buf), file))
            }
            Err(e) => Some((Err(e), file)),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffing() {
        assert_eq!(sniff(b"%PDF-1.7\n").map(|k| k.0), Some("pdf"));
        assert_eq!(sniff(b"MZ\x90\x00"), None);
        assert!(
            is_container_size(8 + 19 + 16),
            "an empty file is one empty chunk"
        );
        assert!(is_container_size(8 + 19 + 65552 + 16));
        assert!(is_container_size(8 + 19 + 65552));
        assert!(!is_container_size(8 + 19 + 15));
        assert!(!is_container_size(8 + 19 + 65552 + 5));
        assert_eq!(
            sniff(b"PK\x03\x04....[Content_Types].xml").map(|k| k.0),
            Some("docx")
        );
        assert_eq!(sniff(b"PK\x03\x04 just a zip"), None);
        assert_eq!(extension("Scan.JPEG").as_deref(), Some("jpg"));
        assert_eq!(extension("note.opus").as_deref(), Some("ogg"));
        assert_eq!(sniff(b"OggS\x00\x02").map(|k| k.1), Some("audio/ogg"));
        assert_eq!(clean_name("../../etc/pa\"ss"), "pass");
    }
}
