//! The desktop app: a thin Tauri 2 shell over `dmp-client`. Commands are
//! short wrappers; the Rust side holds every token, key and password and
//! talks to the server, and the web view only ever sees the data it shows.
//! Client events are forwarded to the window as `dmp://…` events
//! (docs/desktop-ipc.md).
#![forbid(unsafe_code)]

use dmp_client::{
    ClientConfig, ClientError, ClientEvent, DmpClient, ExportFormat, SearchHit, Settings,
};
use dmp_protocol::*;
use serde::Serialize;
use std::path::PathBuf;
use std::sync::Arc;
use tauri::{AppHandle, Emitter, Manager, State};
use tokio::sync::RwLock;

mod media;

/// What every command returns on failure: a stable code and a human message.
#[derive(Debug, Serialize)]
pub struct CommandError {
    code: String,
    message: String,
}

impl From<ClientError> for CommandError {
    fn from(e: ClientError) -> Self {
        Self {
            code: e.code().to_owned(),
            message: e.to_string(),
        }
    }
}

type CmdResult<T> = Result<T, CommandError>;

/// The signed-in client, if any.
#[derive(Default)]
struct Desktop {
    client: RwLock<Option<DmpClient>>,
    settings: RwLock<Settings>,
}

async fn client(state: &State<'_, Desktop>) -> CmdResult<DmpClient> {
    state
        .client
        .read()
        .await
        .clone()
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
        "dmp://open-conversation",
        serde_json::json!({"contextType": ctx.kind, "contextId": ctx.id}),
    );
}

/// A message as the UI wants it: local (outbox) ones flagged `pending`.
fn for_ui(m: &Message) -> serde_json::Value {
    let mut v = serde_json::to_value(m).unwrap_or_default();
    if m.id.as_str().starts_with("local:") {
        v["pending"] = serde_json::Value::Bool(true);
    }
    v
}

fn downloads_dir() -> PathBuf {
    std::env::var_os("XDG_DOWNLOAD_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join("Téléchargements")))
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Starts the real-time connection and forwards its events to the window.
async fn start(app: &AppHandle, state: &State<'_, Desktop>, c: DmpClient) -> CmdResult<User> {
    c.contexts().await?;
    let mut events = c.subscribe();
    c.connect();
    let user = c.user().clone();
    *state.settings.write().await = c.settings()?;
    *state.client.write().await = Some(c.clone());
    let app = app.clone();
    tokio::spawn(async move {
        while let Ok(ev) = events.recv().await {
            forward(&app, &c, ev).await;
        }
    });
    Ok(user)
}

async fn forward(app: &AppHandle, c: &DmpClient, ev: ClientEvent) {
    let (name, payload) = match ev {
        ClientEvent::Message { message } => {
            if message.recipient.id == c.user().id {
                update_unread(app, c).await;
            }
            ("dmp://message", for_ui(&message))
        }
        ClientEvent::Status {
            message_id,
            session_id,
            status,
            at,
        } => (
            "dmp://status",
            serde_json::json!({"messageId": message_id, "sessionId": session_id, "status": status, "at": at}),
        ),
        ClientEvent::Typing {
            context_type,
            context_id,
            user,
            is_typing,
        } => (
            "dmp://typing",
            serde_json::json!({"contextType": context_type, "contextId": context_id, "user": user, "isTyping": is_typing}),
        ),
        ClientEvent::Presence { user_id, online } => (
            "dmp://presence",
            serde_json::json!({"userId": user_id, "online": online}),
        ),
        ClientEvent::Notification { notification } => (
            "dmp://notification",
            serde_json::to_value(notification).unwrap_or_default(),
        ),
        ClientEvent::Connection { state } => {
            ("dmp://connection", serde_json::json!({ "state": state }))
        }
        ClientEvent::SendFailed { .. } => return,
        ClientEvent::SessionExpired => ("dmp://session-expired", serde_json::Value::Null),
        ClientEvent::PeerKeyChanged { user_id, name } => (
            "dmp://peer-key-changed",
            serde_json::json!({"userId": user_id, "name": name}),
        ),
    };
    let _ = app.emit(name, payload);
}

/// Refreshes the unread total: an event for the UI and the window title.
async fn update_unread(app: &AppHandle, c: &DmpClient) {
    // One request per incoming message; key checks happen in `contexts()` (list_contexts).
    if c.refresh_contexts().await.is_err() {
        return;
    }
    let total = c.unread_total().unwrap_or(0);
    let _ = app.emit("dmp://unread", serde_json::json!({ "total": total }));
    if let Some(w) = app.get_webview_window("main") {
        let title = if total > 0 {
            format!("({total}) DMP Messagerie")
        } else {
            "DMP Messagerie".to_owned()
        };
        let _ = w.set_title(&title);
    }
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
async fn resume_session(app: AppHandle, state: State<'_, Desktop>) -> CmdResult<Option<User>> {
    match DmpClient::resume(config(&app)).await? {
        Some(c) => start(&app, &state, c).await.map(Some),
        None => Ok(None),
    }
}

#[tauri::command]
async fn logout(state: State<'_, Desktop>) -> CmdResult<()> {
    match state.client.write().await.take() {
        Some(c) => Ok(c.logout().await?),
        None => Ok(()),
    }
}

#[tauri::command]
fn get_limits() -> Limits {
    Limits::default()
}

#[tauri::command]
async fn list_contexts(state: State<'_, Desktop>) -> CmdResult<Vec<ContextSummary>> {
    Ok(client(&state).await?.inbox().await?)
}

#[tauri::command]
async fn load_history(
    state: State<'_, Desktop>,
    context_type: ContextType,
    context_id: ContextId,
    before: Option<u64>,
) -> CmdResult<serde_json::Value> {
    let page = client(&state)
        .await?
        .history(context_type, &context_id, before, 50)
        .await?;
    let messages: Vec<_> = page.messages.iter().map(for_ui).collect();
    Ok(
        serde_json::json!({"messages": messages, "hasMore": page.has_more, "nextBefore": page.next_before, "session": page.session}),
    )
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
    attachment_ids: Vec<AttachmentId>,
) -> CmdResult<serde_json::Value> {
    let meta = MessageMetadata {
        is_urgent,
        requires_response,
    };
    let m = client(&state)
        .await?
        .send(context_type, &context_id, &content, meta, attachment_ids)
        .await?;
    Ok(for_ui(&m))
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
async fn mark_read(state: State<'_, Desktop>, message_id: MessageId) -> CmdResult<()> {
    client(&state).await?.mark_read(&message_id).await?;
    Ok(())
}

#[tauri::command]
async fn delete_message(
    state: State<'_, Desktop>,
    message_id: MessageId,
) -> CmdResult<serde_json::Value> {
    Ok(for_ui(&client(&state).await?.delete(&message_id).await?))
}

#[tauri::command]
async fn upload_attachment(
    state: State<'_, Desktop>,
    name: String,
    bytes: Vec<u8>,
) -> CmdResult<Attachment> {
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
) -> CmdResult<String> {
    Ok(client(&state)
        .await?
        .attachment_data_url(&attachment_id)
        .await?)
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

/// The conversation on screen, as the UI names it.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Conversation {
    context_type: ContextType,
    context_id: ContextId,
}

#[tauri::command]
async fn set_open_conversation(
    state: State<'_, Desktop>,
    conversation: Option<Conversation>,
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
    if let Some(c) = state.client.read().await.as_ref() {
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

/// Builds and runs the app.
pub fn run() {
    let filter =
        tracing_subscriber::EnvFilter::try_from_env("DMP_LOG").unwrap_or_else(|_| "warn".into());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
    let result = tauri::Builder::default()
        .manage(Desktop::default())
        .plugin(media::plugin())
        .invoke_handler(tauri::generate_handler![
            login,
            resume_session,
            logout,
            get_limits,
            list_contexts,
            load_history,
            send_message,
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
