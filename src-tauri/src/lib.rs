//! The desktop app: a thin Tauri 2 shell over `dmp-client`. Commands are
//! short wrappers; the Rust side holds every token, key and password and
//! talks to the server, and the web view only ever sees the data it shows.
//! Client events are forwarded to the window as `dmp://…` events
//! (docs/desktop-ipc.md).
#![forbid(unsafe_code)]

pub mod bridge;
pub mod contract;
mod sends;

use bridge::Session;
pub use contract::CommandError;
use dmp_client::{
    ClientConfig, ClientError, DmpClient, ExportFormat, HistoryPage, Inbox, LastLogin, SearchHit,
    Settings, SignedIn, UiMessage,
};
use dmp_protocol::*;
use std::path::PathBuf;
use std::sync::Arc;
use tauri::{AppHandle, Emitter, Manager, State};
use tokio::sync::RwLock;

mod media;
mod webview;

pub(crate) type CmdResult<T> = Result<T, CommandError>;

/// The app's state: the signed-in session (client + event bridge), the settings.
#[derive(Default)]
pub(crate) struct Desktop {
    session: Arc<Session>,
    settings: RwLock<Settings>,
}

pub(crate) async fn client(state: &State<'_, Desktop>) -> CmdResult<DmpClient> {
    state
        .session
        .client()
        .await
        .ok_or_else(|| ClientError::NotSignedIn.into())
}

fn config(app: &AppHandle) -> ClientConfig {
    let mut c = ClientConfig::from_env(true);
    let handle = app.clone();
    c.on_notification_click = Some(Arc::new(move |ctx: ContextRef| {
        open_from_notification(&handle, ctx)
    }));
    c
}

fn open_from_notification(app: &AppHandle, ctx: ContextRef) {
    if let Some(w) = app.get_webview_window("main") {
        let _ = w.unminimize();
        let _ = w.set_focus();
    }
    let _ = app.emit(
        contract::event::OPEN_CONVERSATION,
        contract::OpenConversationEvent {
            context_type: ctx.kind,
            context_id: ctx.id,
        },
    );
}

fn downloads_dir() -> PathBuf {
    std::env::var_os("XDG_DOWNLOAD_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join("Téléchargements")))
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Starts the real-time connection and the event bridge (docs/desktop-ipc.md).
async fn start(app: &AppHandle, state: &State<'_, Desktop>, c: DmpClient) -> CmdResult<User> {
    // Once per sign-in: the contexts list and the peers' key check.
    c.contexts().await?;
    let events = c.subscribe();
    c.connect();
    let user = c.user().clone();
    *state.settings.write().await = c.settings()?;
    state.session.begin(app.clone(), c, events).await;
    Ok(user)
}

#[tauri::command]
async fn login(
    app: AppHandle,
    state: State<'_, Desktop>,
    server: String,
    username: String,
    password: String,
    remember: bool,
    ca_file: Option<String>,
) -> CmdResult<User> {
    let mut config = config(&app);
    // Empty: the default (DMP_CA_FILE, set by ./scripts/run.sh for the demo CA).
    if let Some(ca) = ca_file.filter(|c| !c.trim().is_empty()) {
        config.ca_file = Some(PathBuf::from(ca.trim()));
    }
    let c = DmpClient::login(config, &server, &username, &password, remember).await?;
    start(&app, &state, c).await
}

#[tauri::command]
async fn resume_session(app: AppHandle, state: State<'_, Desktop>) -> CmdResult<Option<SignedIn>> {
    match DmpClient::resume(config(&app)).await? {
        Some(c) => {
            let read_only = c.is_read_only();
            let user = start(&app, &state, c).await?;
            Ok(Some(SignedIn { user, read_only }))
        }
        None => Ok(None),
    }
}

#[tauri::command]
async fn logout(app: AppHandle, state: State<'_, Desktop>) -> CmdResult<()> {
    bridge::Window::set_title(&app, &bridge::title(0));
    match state.session.end().await {
        Some(c) => Ok(c.logout().await?),
        None => Ok(()),
    }
}

#[tauri::command]
async fn get_limits(state: State<'_, Desktop>) -> CmdResult<Limits> {
    Ok(state
        .session
        .client()
        .await
        .as_ref()
        .map_or_else(Limits::default, DmpClient::limits))
}

#[tauri::command]
fn last_login() -> Option<LastLogin> {
    LastLogin::load(&ClientConfig::from_env(false).data_dir)
}

#[tauri::command]
async fn list_contexts(state: State<'_, Desktop>) -> CmdResult<Inbox> {
    Ok(client(&state).await?.inbox()?)
}

#[tauri::command]
async fn load_history(
    state: State<'_, Desktop>,
    context_type: ContextType,
    context_id: ContextId,
    before: Option<u64>,
) -> CmdResult<HistoryPage> {
    Ok(client(&state)
        .await?
        .history(context_type, &context_id, before, 50)
        .await?)
}

#[tauri::command]
#[allow(clippy::too_many_arguments)]
async fn send_message(
    state: State<'_, Desktop>,
    context_type: ContextType,
    context_id: ContextId,
    content: String,
    is_urgent: bool,
    requires_response: bool,
    category: Option<QuestionCategory>,
    attachment_ids: Vec<AttachmentId>,
) -> CmdResult<UiMessage> {
    let meta = MessageMetadata {
        is_urgent,
        requires_response,
        category,
        system: None,
    };
    Ok(client(&state)
        .await?
        .send(context_type, &context_id, &content, meta, attachment_ids)
        .await?)
}

/// The conversation's doctor closes it (docs/desktop-ipc.md).
#[tauri::command]
async fn close_conversation(
    state: State<'_, Desktop>,
    context_type: ContextType,
    context_id: ContextId,
    reason: Option<CloseReason>,
) -> CmdResult<dmp_protocol::Session> {
    Ok(client(&state)
        .await?
        .close_conversation(context_type, &context_id, reason)
        .await?)
}

/// The conversation's doctor reopens it.
#[tauri::command]
async fn reopen_conversation(
    state: State<'_, Desktop>,
    context_type: ContextType,
    context_id: ContextId,
) -> CmdResult<dmp_protocol::Session> {
    Ok(client(&state)
        .await?
        .reopen_conversation(context_type, &context_id)
        .await?)
}

/// The record's patient reads who accessed the conversation.
#[tauri::command]
async fn access_log(
    state: State<'_, Desktop>,
    context_type: ContextType,
    context_id: ContextId,
) -> CmdResult<dmp_protocol::api::AccessLogResponse> {
    Ok(client(&state)
        .await?
        .access_log(context_type, &context_id)
        .await?)
}

/// The doctor's absence (the current or the next one).
#[tauri::command]
async fn get_absence(state: State<'_, Desktop>) -> CmdResult<Option<Absence>> {
    Ok(client(&state).await?.absence().await?)
}

/// The doctor sets an absence.
#[tauri::command]
async fn set_absence(state: State<'_, Desktop>, absence: Absence) -> CmdResult<Absence> {
    Ok(client(&state).await?.set_absence(&absence).await?)
}

/// The doctor ends or cancels the absence.
#[tauri::command]
async fn clear_absence(state: State<'_, Desktop>) -> CmdResult<()> {
    Ok(client(&state).await?.clear_absence().await?)
}

/// The doctor's weekly office hours.
#[tauri::command]
async fn get_office_hours(state: State<'_, Desktop>) -> CmdResult<Option<OfficeHours>> {
    Ok(client(&state).await?.office_hours().await?)
}

/// The doctor sets weekly office hours.
#[tauri::command]
async fn set_office_hours(state: State<'_, Desktop>, hours: OfficeHours) -> CmdResult<OfficeHours> {
    Ok(client(&state).await?.set_office_hours(&hours).await?)
}

/// The doctor removes the office hours.
#[tauri::command]
async fn clear_office_hours(state: State<'_, Desktop>) -> CmdResult<()> {
    Ok(client(&state).await?.clear_office_hours().await?)
}

/// The doctor's reply templates, opened on this device.
#[tauri::command]
async fn list_templates(state: State<'_, Desktop>) -> CmdResult<Vec<ReplyTemplate>> {
    Ok(client(&state).await?.templates().await?)
}

/// The doctor adds (empty id) or changes a reply template.
#[tauri::command]
async fn save_template(
    state: State<'_, Desktop>,
    template: ReplyTemplate,
) -> CmdResult<Vec<ReplyTemplate>> {
    Ok(client(&state).await?.save_template(template).await?)
}

/// The doctor deletes a reply template.
#[tauri::command]
async fn delete_template(
    state: State<'_, Desktop>,
    template_id: String,
) -> CmdResult<Vec<ReplyTemplate>> {
    Ok(client(&state).await?.delete_template(&template_id).await?)
}

/// A template's text with its placeholders filled in for one record.
#[tauri::command]
async fn render_template(
    state: State<'_, Desktop>,
    context_type: ContextType,
    context_id: ContextId,
    template: ReplyTemplate,
) -> CmdResult<String> {
    Ok(client(&state)
        .await?
        .render_template(context_type, &context_id, &template)
        .await?)
}

/// Either participant archives the conversation.
#[tauri::command]
async fn archive_conversation(
    state: State<'_, Desktop>,
    context_type: ContextType,
    context_id: ContextId,
) -> CmdResult<dmp_protocol::Session> {
    Ok(client(&state)
        .await?
        .archive_conversation(context_type, &context_id)
        .await?)
}

#[tauri::command]
async fn set_typing(
    state: State<'_, Desktop>,
    context_type: ContextType,
    context_id: ContextId,
    is_typing: bool,
) -> CmdResult<()> {
    client(&state)
        .await?
        .typing(context_type, &context_id, is_typing);
    Ok(())
}

#[tauri::command]
async fn mark_read(state: State<'_, Desktop>, message_ids: Vec<MessageId>) -> CmdResult<()> {
    client(&state).await?.mark_read_many(&message_ids).await?;
    Ok(())
}

#[tauri::command]
async fn delete_message(state: State<'_, Desktop>, message_id: MessageId) -> CmdResult<UiMessage> {
    Ok(UiMessage::acked(
        client(&state).await?.delete(&message_id).await?,
    ))
}

#[tauri::command]
async fn upload_attachment(
    state: State<'_, Desktop>,
    request: tauri::ipc::Request<'_>,
) -> CmdResult<Attachment> {
    // The file crosses IPC raw; its name in a header, percent-encoded.
    let tauri::ipc::InvokeBody::Raw(bytes) = request.body() else {
        return Err(CommandError::invalid("the file must be sent as raw bytes"));
    };
    let name = request
        .headers()
        .get("Dmp-File-Name")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| percent_encoding::percent_decode_str(v).decode_utf8().ok())
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| CommandError::invalid("the Dmp-File-Name header is missing"))?
        .into_owned();
    let bytes = bytes.clone();
    Ok(client(&state).await?.upload(&name, bytes).await?)
}

#[tauri::command]
async fn download_attachment(
    state: State<'_, Desktop>,
    attachment_id: AttachmentId,
    name: String,
) -> CmdResult<String> {
    let path = client(&state)
        .await?
        .save_attachment(&attachment_id, &name, &downloads_dir())
        .await?;
    Ok(path.display().to_string())
}

#[tauri::command]
async fn attachment_preview(
    state: State<'_, Desktop>,
    attachment_id: AttachmentId,
) -> CmdResult<tauri::ipc::Response> {
    let bytes = client(&state).await?.download(&attachment_id).await?;
    // Images only (the window makes a Blob URL with the attachment's mimeType).
    match dmp_protocol::limits::sniff_file_type(&bytes[..bytes.len().min(4096)]) {
        Some(("png" | "jpg", _)) => Ok(tauri::ipc::Response::new(bytes)),
        _ => Err(CommandError::invalid("only images have a preview")),
    }
}

#[tauri::command]
async fn search_messages(
    state: State<'_, Desktop>,
    query: String,
    context_type: Option<ContextType>,
    context_id: Option<ContextId>,
) -> CmdResult<Vec<SearchHit>> {
    let c = client(&state).await?;
    let scope = context_type.zip(context_id.as_ref());
    Ok(c.search(&query, scope)?)
}

#[tauri::command]
async fn export_conversation(
    state: State<'_, Desktop>,
    context_type: ContextType,
    context_id: ContextId,
    format: String,
) -> CmdResult<String> {
    let format = if format == "html" {
        ExportFormat::Html
    } else {
        ExportFormat::Json
    };
    let path = client(&state)
        .await?
        .export_to_file(context_type, &context_id, format, &downloads_dir())
        .await?;
    Ok(path.display().to_string())
}

#[tauri::command]
async fn list_notifications(state: State<'_, Desktop>) -> CmdResult<Vec<Notification>> {
    Ok(client(&state).await?.notifications().await?)
}

#[tauri::command]
async fn set_open_conversation(
    state: State<'_, Desktop>,
    conversation: Option<contract::OpenConversationEvent>,
) -> CmdResult<()> {
    client(&state)
        .await?
        .set_open_conversation(conversation.map(|c| (c.context_type, c.context_id)));
    Ok(())
}

#[tauri::command]
async fn get_settings(state: State<'_, Desktop>) -> CmdResult<Settings> {
    Ok(state.settings.read().await.clone())
}

#[tauri::command]
async fn set_settings(state: State<'_, Desktop>, settings: Settings) -> CmdResult<Settings> {
    if let Some(c) = state.session.client().await {
        c.set_settings(&settings)?;
    }
    *state.settings.write().await = settings.clone();
    Ok(settings)
}

#[tauri::command]
async fn safety_code(state: State<'_, Desktop>, user_id: UserId) -> CmdResult<String> {
    Ok(client(&state).await?.safety_code(&user_id).await?)
}

#[tauri::command]
async fn accept_peer_key(state: State<'_, Desktop>, user_id: UserId) -> CmdResult<bool> {
    Ok(client(&state).await?.accept_peer_key(&user_id)?)
}

/// The window shows its first usable screen (login, home or offline reading):
/// logs once, at `info`, how long the start took since the process was
/// spawned (docs/desktop-ipc.md, "Start"). `scripts/measure-desktop.sh` reads it.
#[tauri::command]
fn window_ready() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| match webview::since_spawn() {
        Some(elapsed) => tracing::info!(
            ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
            "start: first screen usable"
        ),
        None => tracing::info!("start: first screen usable"),
    });
}

/// Builds and runs the app.
pub fn run() {
    webview::prepare_environment();
    let filter =
        tracing_subscriber::EnvFilter::try_from_env("DMP_LOG").unwrap_or_else(|_| "warn".into());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colours only on a terminal: a log file or a pipe gets plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
    let result = tauri::Builder::default()
        .manage(Desktop::default())
        .plugin(webview::plugin())
        .plugin(media::plugin())
        .invoke_handler(tauri::generate_handler![
            window_ready,
            login,
            resume_session,
            logout,
            get_limits,
            list_contexts,
            load_history,
            send_message,
            close_conversation,
            reopen_conversation,
            archive_conversation,
            access_log,
            get_absence,
            set_absence,
            clear_absence,
            get_office_hours,
            set_office_hours,
            clear_office_hours,
            list_templates,
            save_template,
            delete_template,
            render_template,
            sends::retry_send,
            sends::discard_send,
            last_login,
            set_typing,
            mark_read,
            delete_message,
            upload_attachment,
            download_attachment,
            attachment_preview,
            search_messages,
            export_conversation,
            list_notifications,
            set_open_conversation,
            get_settings,
            set_settings,
            safety_code,
            accept_peer_key,
            media::upload_voice,
            media::attachment_thumbnail,
            media::attachment_media,
        ])
        .run(tauri::generate_context!());
    if let Err(e) = result {
        eprintln!("error: the desktop app could not start: {e}");
        std::process::exit(1);
    }
}
