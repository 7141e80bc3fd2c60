//! Declares the app's own commands so that each needs an explicit permission
//! (least privilege: the capability file grants exactly these).
fn main() {
    tauri_build::try_build(
        tauri_build::Attributes::new()
            .app_manifest(tauri_build::AppManifest::new().commands(COMMANDS)),
    )
    .expect("tauri build script");
}

const COMMANDS: &[&str] = &[
    "window_ready",
    "login",
    "resume_session",
    "logout",
    "get_limits",
    "list_contexts",
    "load_history",
    "send_message",
    "close_conversation",
    "reopen_conversation",
    "archive_conversation",
    "access_log",
    "get_absence",
    "set_absence",
    "clear_absence",
    "get_office_hours",
    "set_office_hours",
    "clear_office_hours",
    "list_templates",
    "save_template",
    "delete_template",
    "render_template",
    "retry_send",
    "discard_send",
    "last_login",
    "set_typing",
    "mark_read",
    "delete_message",
    "upload_attachment",
    "download_attachment",
    "attachment_preview",
    "search_messages",
    "export_conversation",
    "list_notifications",
    "set_open_conversation",
    "get_settings",
    "set_settings",
    "safety_code",
    "accept_peer_key",
    "upload_voice",
    "attachment_thumbnail",
    "attachment_media",
];
