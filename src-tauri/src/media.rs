//! Images and voice messages in the window (issue 11, docs/desktop-ipc.md
//! "Media"). File bytes cross IPC raw (Tauri 2 raw request / response), never
//! as a data URL or a JSON array: the page makes Blob URLs of them.
//!
//! On Linux the WebKitGTK webview has no `navigator.mediaDevices` unless the
//! embedder turns `enable-media-stream` on, and it refuses every permission
//! request nobody answers: [`plugin`] does both, granting microphone capture
//! only (no camera, no screen, nothing else).

use super::{client, CmdResult, CommandError, Desktop};
use dmp_protocol::{Attachment, AttachmentId};
use tauri::ipc::{InvokeBody, Request, Response};
use tauri::State;

/// Header with the `encodeURIComponent` of the file name of a raw upload.
const FILE_NAME_HEADER: &str = "dmp-file-name";
/// Header with the duration in milliseconds of a voice message, as the window measured it.
const DURATION_HEADER: &str = "dmp-duration-ms";

fn invalid(message: &str) -> CommandError {
    dmp_client::ClientError::Invalid(message.to_owned()).into()
}

fn header<'a>(request: &'a Request<'_>, name: &str) -> Option<&'a str> {
    request.headers().get(name).and_then(|v| v.to_str().ok())
}

/// A voice message: RAW request body = the audio bytes (recorded in the window
/// or picked), headers `Dmp-File-Name` (URI-encoded) and `Dmp-Duration-Ms`.
/// The client core sniffs the audio type, encrypts and uploads.
#[tauri::command]
pub(crate) async fn upload_voice(
    state: State<'_, Desktop>,
    request: Request<'_>,
) -> CmdResult<Attachment> {
    let InvokeBody::Raw(bytes) = request.body() else {
        return Err(invalid("the audio must be sent as raw bytes"));
    };
    let name = header(&request, FILE_NAME_HEADER)
        .map(|n| {
            percent_encoding::percent_decode_str(n)
                .decode_utf8_lossy()
                .into_owned()
        })
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| invalid("missing Dmp-File-Name header"))?;
    let duration_ms = match header(&request, DURATION_HEADER) {
        Some(d) => Some(
            d.parse::<u64>()
                .map_err(|_| invalid("Dmp-Duration-Ms must be a whole number of milliseconds"))?,
        ),
        None => None,
    };
    let bytes = bytes.clone();
    Ok(client(&state)
        .await?
        .upload_media(&name, bytes, duration_ms)
        .await?)
}

/// The decrypted thumbnail (JPEG, a few KiB) of an image attachment, raw.
#[tauri::command]
pub(crate) async fn attachment_thumbnail(
    state: State<'_, Desktop>,
    attachment_id: AttachmentId,
) -> CmdResult<Response> {
    let (_, bytes) = client(&state).await?.thumbnail(&attachment_id).await?;
    Ok(Response::new(bytes))
}

/// The decrypted bytes of an image (shown on click) or audio attachment
/// (played inline), raw; other types are refused (saved with `download_attachment`).
#[tauri::command]
pub(crate) async fn attachment_media(
    state: State<'_, Desktop>,
    attachment_id: AttachmentId,
) -> CmdResult<Response> {
    let (_, bytes) = client(&state).await?.media(&attachment_id).await?;
    Ok(Response::new(bytes))
}

/// The plugin that lets the window record voice messages on Linux.
pub(crate) fn plugin<R: tauri::Runtime>() -> tauri::plugin::TauriPlugin<R> {
    tauri::plugin::Builder::new("dmp-media")
        .on_webview_ready(|webview| {
            #[cfg(target_os = "linux")]
            if let Err(e) = webview.with_webview(allow_microphone) {
                tracing::warn!(error = %e, "voice recording could not be enabled");
            }
            #[cfg(not(target_os = "linux"))]
            let _ = webview;
        })
        .build()
}

/// Turns WebKitGTK's media stream on and grants audio-only capture requests.
#[cfg(target_os = "linux")]
fn allow_microphone(platform: tauri::webview::PlatformWebview) {
    use webkit2gtk::glib::prelude::Cast as _;
    use webkit2gtk::{
        PermissionRequestExt as _, SettingsExt as _, UserMediaPermissionRequest,
        UserMediaPermissionRequestExt as _, WebViewExt,
    };
    let view = platform.inner();
    if let Some(settings) = WebViewExt::settings(&view) {
        settings.set_enable_media_stream(true);
    }
    view.connect_permission_request(|_, request| {
        match request.downcast_ref::<UserMediaPermissionRequest>() {
            Some(media) if media.is_for_audio_device() && !media.is_for_video_device() => {
                request.allow();
                true
            }
            // Everything else keeps WebKit's default: denied.
            _ => false,
        }
    });
}
