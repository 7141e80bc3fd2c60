//! DMP secure messaging client core: everything a desktop client does,
//! without any GUI, so that the Tauri app and the `dmp` CLI stay thin.
//!
//! [`DmpClient`] ties together the HTTP API client ([`api`]), the real-time
//! connection ([`realtime`]), the encrypted local cache ([`cache`]), the OS
//! keychain ([`keychain`]) and native notifications ([`notify`]).
#![forbid(unsafe_code)]

pub mod api;
pub mod cache;
mod e2e;
pub mod error;
pub mod export;
pub mod inbox;
pub mod keychain;
pub mod media;
pub mod notify;
pub mod outbox;
pub mod realtime;
pub mod tls;

pub use cache::SearchHit;
pub use error::{ClientError, ClientResult};
pub use inbox::Inbox;
pub use outbox::{LocalState, UiMessage};
pub use realtime::{ClientEvent, ConnectionState, SessionEndReason, SessionEndedEvent};

use api::ApiClient;

/// What the reply templates are sealed for ([`dmp_crypto::seal_private`]).
const TEMPLATES_LABEL: &str = "reply-templates";
use cache::Cache;
use chrono::Utc;
use dmp_protocol::api::{HistoryResponse, SendRequest};
use dmp_protocol::ws::ClientFrame;
use dmp_protocol::*;
use keychain::{Keychain, Secret};
use notify::Notifier;
use parking_lot::Mutex;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinHandle;

/// Where the client keeps its files, and whether it shows notifications.
#[derive(Clone)]
pub struct ClientConfig {
    /// Data directory (cache files, the non-secret record of the last login).
    pub data_dir: PathBuf,
    /// Show native notifications for incoming messages.
    pub notifications: bool,
    /// Called when the user clicks a native notification (open that conversation).
    pub on_notification_click: Option<notify::OnClick>,
    /// A CA certificate (PEM) trusted besides the public roots, e.g. the local
    /// CA of `dmp-server demo` (docs/security.md "Transport").
    pub ca_file: Option<PathBuf>,
}

impl std::fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientConfig")
            .field("data_dir", &self.data_dir)
            .field("notifications", &self.notifications)
            .field("ca_file", &self.ca_file)
            .finish_non_exhaustive()
    }
}

impl ClientConfig {
    /// `DMP_CLIENT_DATA_DIR`, else `$XDG_DATA_HOME/dmp`, else `~/.local/share/dmp`;
    /// the CA file from `DMP_CA_FILE`.
    pub fn from_env(notifications: bool) -> Self {
        let data_dir = std::env::var_os("DMP_CLIENT_DATA_DIR")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("XDG_DATA_HOME").map(|d| PathBuf::from(d).join("dmp")))
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share/dmp")))
            .unwrap_or_else(|| PathBuf::from(".dmp"));
        Self {
            data_dir,
            notifications,
            on_notification_click: None,
            ca_file: std::env::var_os("DMP_CA_FILE")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
        }
    }
}

/// User settings kept in the encrypted cache.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase", default)]
pub struct Settings {
    /// `fr` or `en`.
    #[cfg_attr(feature = "ts", ts(type = "\"fr\" | \"en\""))]
    pub language: String,
    /// Show the message text in notifications.
    pub notification_preview: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            language: "fr".into(),
            notification_preview: false,
        }
    }
}

/// The last login (no secret in it), so that a restart can resume it from the keychain.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct SavedLogin {
    server: String,
    user_id: UserId,
    username: String,
    /// The CA file trusted for this server, if any.
    #[serde(default)]
    ca_file: Option<PathBuf>,
}

/// The last sign-in on this device, to fill the login form again: kept
/// across logout and restarts, in a small file of the data directory. Not a
/// secret (no password, no token).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct LastLogin {
    /// The server address as typed (normalised).
    pub server: String,
    /// The user name.
    pub username: Option<String>,
    /// The CA file trusted for this server, if any.
    pub ca_file: Option<String>,
}

fn last_login_file(data_dir: &Path) -> PathBuf {
    data_dir.join("last-login.json")
}

impl LastLogin {
    /// The last sign-in recorded in `data_dir`, if any.
    pub fn load(data_dir: &Path) -> Option<Self> {
        let bytes = std::fs::read(last_login_file(data_dir)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Records it (replacing the previous one).
    pub fn save(&self, data_dir: &Path) -> ClientResult<()> {
        std::fs::create_dir_all(data_dir)?;
        let path = last_login_file(data_dir);
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(self).unwrap_or_default())?;
        std::fs::rename(&tmp, &path)?;
        Ok(())
    }
}

/// Output formats of [`DmpClient::export`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// The seed's message objects.
    Json,
    /// A printable document.
    Html,
}

/// A page of history.
#[derive(Debug, Clone, serde::Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct HistoryPage {
    /// Messages in `seq` order (unacknowledged ones last, with their `local` state).
    pub messages: Vec<UiMessage>,
    /// Whether older messages exist.
    pub has_more: bool,
    /// Cursor of the next (older) page.
    #[cfg_attr(feature = "ts", ts(type = "number | null"))]
    pub next_before: Option<u64>,
    /// The session, when known.
    pub session: Option<Session>,
    /// True when the server could not be reached and this comes from the cache only
    /// (not sent to the window: `load_history` answers `{ messages, hasMore, nextBefore, session }`).
    #[serde(skip)]
    #[cfg_attr(feature = "ts", ts(skip))]
    pub offline: bool,
}

/// Shared state of a signed-in client.
pub(crate) struct Inner {
    config: ClientConfig,
    user: User,
    server: String,
    pub(crate) api: ApiClient,
    pub(crate) cache: Cache,
    keychain: Keychain,
    events: broadcast::Sender<ClientEvent>,
    notifier: Option<Notifier>,
    pub(crate) connected: AtomicBool,
    open: Mutex<Option<(ContextType, ContextId)>>,
    frames: Mutex<Option<mpsc::UnboundedSender<ClientFrame>>>,
    stop: Mutex<Option<watch::Sender<bool>>>,
    task: Mutex<Option<JoinHandle<()>>>,
    rotations: Mutex<Option<JoinHandle<()>>>,
    /// The user's end-to-end identity, once set up on this device.
    pub(crate) identity: parking_lot::RwLock<Option<Arc<dmp_crypto::Identity>>>,
    /// The ordered send queues.
    pub(crate) outbox: outbox::Outbox,
    /// The limits the server announced at sign-in (`GET /api/limits`), else the defaults.
    limits: parking_lot::RwLock<Limits>,
    /// Opened from the cache while the server is unreachable: nothing may be changed.
    read_only: AtomicBool,
}

impl Inner {
    /// The limits the server announced (the defaults until it did).
    pub(crate) fn limits(&self) -> Limits {
        self.limits.read().clone()
    }

    /// Whether the client is in offline read-only mode.
    pub(crate) fn read_only(&self) -> bool {
        self.read_only.load(Ordering::SeqCst)
    }

    pub(crate) fn emit(&self, e: ClientEvent) {
        let _ = self.events.send(e);
    }

    /// Queues a frame on the live connection; false when offline.
    pub(crate) fn push_frame(&self, f: ClientFrame) -> bool {
        self.connected.load(Ordering::SeqCst)
            && self
                .frames
                .lock()
                .as_ref()
                .is_some_and(|tx| tx.send(f).is_ok())
    }

    /// A message arrived on the socket.
    pub(crate) async fn received(&self, message: Message) -> ClientResult<()> {
        let fresh = message.status == MessageStatus::Sent && message.deleted_at.is_none();
        // A `seq` gap (a frame lost between the server's nodes, or a node
        // killed between its commit and its publish): ask for what is
        // missing; the server sends it from the database. Nothing cached
        // yet counts as having seen `seq` 0 (seqs start at 1).
        let last = self.cache.last_seq(&message.session_id)?.unwrap_or(0);
        if message.seq > last + 1 {
            tracing::debug!(last, seq = message.seq, "seq gap; resuming the session");
            self.push_frame(ClientFrame::Resume {
                sessions: std::iter::once((message.session_id.clone(), last)).collect(),
            });
        }
        let message = self.decrypt(message).await;
        let m = self.keep_message(&message)?;
        if m.sender.id == self.user.id && self.cache.outbox_remove(&m.client_message_id)? {
            self.outbox_acked(&m.client_message_id);
        }
        let to_me = m.recipient.id == self.user.id;
        if to_me && fresh {
            self.push_frame(ClientFrame::Delivered {
                message_id: m.id.clone(),
            });
        }
        self.emit(ClientEvent::Message { message: m.clone() });
        let open = self
            .open
            .lock()
            .as_ref()
            .is_some_and(|(k, i)| *k == m.context.kind && *i == m.context.id);
        if to_me && fresh && !open {
            if let Some(n) = &self.notifier {
                let title = self
                    .cache
                    .context(m.context.kind, &m.context.id)?
                    .map_or_else(|| "Messagerie DMP".to_owned(), |c| c.context.title);
                if let Err(e) = n.message(&m, &title).await {
                    tracing::warn!(error = %e, "native notification failed");
                }
            }
        }
        Ok(())
    }
}

/// Tries the server again with backoff while in offline read-only mode;
/// signs in for real (the remembered refresh token) as soon as it answers.
fn watch_server(inner: &Arc<Inner>) {
    let weak = Arc::downgrade(inner);
    tokio::spawn(async move {
        let mut wait = std::time::Duration::from_millis(500);
        loop {
            tokio::time::sleep(wait).await;
            let Some(inner) = weak.upgrade() else { return };
            match inner.api.force_refresh().await {
                Ok(()) => {
                    if let Ok(l) = api::limits(inner.api.endpoint()).await {
                        *inner.limits.write() = l;
                    }
                    inner.read_only.store(false, Ordering::SeqCst);
                    inner.emit(ClientEvent::OnlineAgain);
                    DmpClient { inner }.connect();
                    return;
                }
                Err(e) if e.is_unreachable() => {
                    wait = (wait * 2).min(std::time::Duration::from_secs(30));
                }
                Err(e) => {
                    tracing::info!(code = e.code(), "the remembered login was refused");
                    if e.is_session_over() {
                        inner.emit(ClientEvent::SessionExpired {
                            reason: SessionEndReason::of(&e),
                        });
                    }
                    return;
                }
            }
        }
    });
}

/// What `resume_session` gives the window: the user, and whether the app is
/// in offline read-only mode.
#[derive(Debug, Clone, serde::Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct SignedIn {
    /// The signed-in user.
    pub user: User,
    /// Opened from the cache: the server is unreachable, nothing can be changed.
    pub read_only: bool,
}

/// The `send` frame of a queued request.
pub(crate) fn send_frame(r: &SendRequest) -> ClientFrame {
    ClientFrame::Send {
        client_message_id: r.client_message_id.clone(),
        context_type: r.context_type,
        context_id: r.context_id.clone(),
        content: r.content.clone(),
        message_type: r.kind,
        metadata: r.metadata,
        attachments: r.attachments.clone(),
    }
}

/// Tells whether every clone of a [`DmpClient`] is gone, i.e. its cache
/// connection, keys and tokens left memory (see [`DmpClient::drop_watch`]).
#[derive(Clone)]
pub struct DropWatch(std::sync::Weak<Inner>);

impl std::fmt::Debug for DropWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DropWatch")
            .field("dropped", &self.is_dropped())
            .finish()
    }
}

impl DropWatch {
    /// True once the last clone of the client was dropped.
    pub fn is_dropped(&self) -> bool {
        self.0.strong_count() == 0
    }
}

/// A signed-in client.
#[derive(Clone)]
pub struct DmpClient {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for DmpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DmpClient")
            .field("user", &self.inner.user.id)
            .field("server", &self.inner.server)
            .finish()
    }
}

fn cache_path(data_dir: &Path, server: &str, user: &UserId) -> PathBuf {
    let h = hex::encode(Sha256::digest(format!("{server}|{user}").as_bytes()));
    data_dir.join("cache").join(format!("{}.sqlite3", &h[..24]))
}

fn login_file(data_dir: &Path) -> PathBuf {
    data_dir.join("login.json")
}

impl DmpClient {
    /// Signs in with a password. With `remember`, the refresh token is kept
    /// in the keychain so that [`DmpClient::resume`] works after a restart.
    pub async fn login(
        config: ClientConfig,
        server: &str,
        username: &str,
        password: &str,
        remember: bool,
    ) -> ClientResult<Self> {
        let base = api::Endpoint::new(server, config.ca_file.as_deref())?;
        let server_key = base.as_str().trim_end_matches('/').to_owned();
        let upgraded = e2e::UpgradedAccounts::at(&config.data_dir);
        let devices = e2e::DeviceTokens::at(&config.data_dir);
        let device = devices.get(&server_key, username);
        let pre = api::prelogin(&base, username).await?;
        // Zero-knowledge login: only a secret derived from the password leaves
        // this device. The legacy scheme (accounts made by an admin) sends the
        // password once, then the account is upgraded; a device that saw the
        // upgrade never accepts the legacy scheme again (downgrade attack).
        let (tokens, secret) = if pre.scheme == "zk-v1" {
            let keys = e2e::derive_for(password, &pre.salt, pre.kdf).await?;
            let tokens = api::login(&base, username, &keys.auth_secret, device.as_deref()).await?;
            (tokens, e2e::LoginSecret::Zk(keys))
        } else if upgraded.contains(&server_key, username) {
            return Err(ClientError::E2e {
                code: "E2E_DOWNGRADE",
                message: "the server asks for the password of an account that uses the secure login: refused".into(),
            });
        } else {
            let tokens = api::login(&base, username, password, device.as_deref()).await?;
            (
                tokens,
                e2e::LoginSecret::Legacy(zeroize::Zeroizing::new(password.to_owned())),
            )
        };
        if let Some(t) = &tokens.device_token {
            if let Err(e) = devices.set(&server_key, username, t) {
                tracing::warn!(code = e.code(), "cannot keep the device token");
            }
        }
        let client = Self::open(config, base, tokens, remember).await?;
        client.inner.setup_identity(secret).await?;
        upgraded.add(&server_key, username)?;
        let last = LastLogin {
            server: client.inner.server.clone(),
            username: Some(username.to_owned()),
            ca_file: client
                .inner
                .config
                .ca_file
                .as_ref()
                .map(|p| p.display().to_string()),
        };
        if let Err(e) = last.save(&client.inner.config.data_dir) {
            tracing::warn!(code = e.code(), "cannot remember the last login");
        }
        if remember {
            let saved = SavedLogin {
                server: client.inner.server.clone(),
                user_id: client.inner.user.id.clone(),
                username: username.into(),
                ca_file: client.inner.config.ca_file.clone(),
            };
            let path = login_file(&client.inner.config.data_dir);
            std::fs::create_dir_all(&client.inner.config.data_dir)?;
            std::fs::write(path, serde_json::to_vec_pretty(&saved).unwrap_or_default())?;
        }
        Ok(client)
    }

    /// Signs in again from the keychain, if a remembered login exists and is still valid.
    pub async fn resume(config: ClientConfig) -> ClientResult<Option<Self>> {
        let Ok(bytes) = std::fs::read(login_file(&config.data_dir)) else {
            return Ok(None);
        };
        let Ok(saved) = serde_json::from_slice::<SavedLogin>(&bytes) else {
            return Ok(None);
        };
        let keychain = Keychain::new(&saved.server, saved.user_id.as_str());
        let Some(refresh) = keychain.get(Secret::RefreshToken).await? else {
            return Ok(None);
        };
        // The CA given now wins over the one remembered with the login.
        let ca_file = config.ca_file.clone().or_else(|| saved.ca_file.clone());
        let base = api::Endpoint::new(&saved.server, ca_file.as_deref())?;
        let tokens = match api::refresh(&base, &refresh).await {
            Ok(t) => t,
            // "Stay signed in" was chosen: read the cache while the server is away.
            Err(e) if e.is_unreachable() => {
                return Self::open_offline(config, base, &saved, refresh.to_string(), e).await;
            }
            Err(ClientError::AccountDisabled) => {
                keychain.delete(Secret::RefreshToken).await?;
                return Err(ClientError::AccountDisabled);
            }
            Err(e) if e.is_session_over() => {
                keychain.delete(Secret::RefreshToken).await?;
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        // Persist the rotated token before anything else: the old one is spent.
        keychain
            .set(Secret::RefreshToken, &tokens.refresh_token)
            .await?;
        let client = Self::open(config, base, tokens, true).await?;
        if client.inner.identity.read().is_none() {
            // No keys on this device: only a password login can restore them.
            return Ok(None);
        }
        Ok(Some(client))
    }

    /// Offline read-only mode (docs/security.md, "Offline reading"): the
    /// server cannot be reached but a login is remembered, so the cache is
    /// opened with the key from the keychain and served read-only (every
    /// change fails with `OFFLINE_READ_ONLY`). The server is tried again in
    /// the background with backoff; once the remembered refresh token is
    /// accepted the client is signed in for real, emits
    /// [`ClientEvent::OnlineAgain`] and connects.
    async fn open_offline(
        config: ClientConfig,
        base: api::Endpoint,
        saved: &SavedLogin,
        refresh: String,
        why: ClientError,
    ) -> ClientResult<Option<Self>> {
        let server = base.as_str().trim_end_matches('/').to_owned();
        let keychain = Keychain::new(&server, saved.user_id.as_str());
        let Some(key) = keychain.get(Secret::CacheKey).await? else {
            return Err(why);
        };
        let path = cache_path(&config.data_dir, &server, &saved.user_id);
        if !path.exists() {
            return Err(why);
        }
        let user = Cache::open(&path, &key)?
            .meta("user")?
            .and_then(|j| serde_json::from_str::<User>(&j).ok());
        // A cache written before the user was kept in it: nothing to show offline.
        let Some(user) = user.filter(|u| u.id == saved.user_id) else {
            return Err(why);
        };
        let tokens = dmp_protocol::api::TokenResponse {
            access_token: String::new(),
            refresh_token: refresh,
            expires_in: 0,
            user,
            device_token: None,
        };
        let client = Self::open_as(config, base, tokens, true, true).await?;
        if client.inner.identity.read().is_none() {
            return Ok(None);
        }
        watch_server(&client.inner);
        Ok(Some(client))
    }

    async fn open(
        config: ClientConfig,
        base: api::Endpoint,
        tokens: dmp_protocol::api::TokenResponse,
        remember: bool,
    ) -> ClientResult<Self> {
        Self::open_as(config, base, tokens, remember, false).await
    }

    async fn open_as(
        config: ClientConfig,
        base: api::Endpoint,
        tokens: dmp_protocol::api::TokenResponse,
        remember: bool,
        offline: bool,
    ) -> ClientResult<Self> {
        let server = base.as_str().trim_end_matches('/').to_owned();
        let user = tokens.user.clone();
        let keychain = Keychain::new(&server, user.id.as_str());
        let identity = match keychain.get(Secret::Identity).await? {
            Some(h) => Some(Arc::new(e2e::identity_from_hex(&h)?)),
            None => None,
        };
        let key = match keychain.get(Secret::CacheKey).await? {
            Some(k) => k,
            None => {
                let k = Cache::new_key();
                keychain.set(Secret::CacheKey, &k).await?;
                k
            }
        };
        let cache = Cache::open(&cache_path(&config.data_dir, &server, &user.id), &key)?;
        if remember {
            keychain
                .set(Secret::RefreshToken, &tokens.refresh_token)
                .await?;
        } else {
            keychain.delete(Secret::RefreshToken).await?;
        }
        // Rotated refresh tokens are written to the keychain in order.
        let (rot_tx, mut rot_rx) = mpsc::unbounded_channel::<String>();
        let kc = keychain.clone();
        let rotations = tokio::spawn(async move {
            while let Some(t) = rot_rx.recv().await {
                if remember {
                    if let Err(e) = kc.set(Secret::RefreshToken, &t).await {
                        tracing::warn!(error = %e, "cannot store the refresh token");
                    }
                }
            }
        });
        let on_rotate: api::OnRotate = Arc::new(move |t| {
            let _ = rot_tx.send(t);
        });
        let api = ApiClient::new(base, &tokens, Some(on_rotate));
        let settings: Settings = cache
            .meta("settings")?
            .and_then(|s| serde_json::from_str(&s).ok())
            .unwrap_or_default();
        let notifier = config.notifications.then(|| {
            Notifier::new(
                settings.notification_preview,
                config.on_notification_click.clone(),
            )
        });
        let (events, _) = broadcast::channel(1024);
        let cached_limits = || {
            cache
                .meta("limits")
                .ok()
                .flatten()
                .and_then(|j| serde_json::from_str::<Limits>(&j).ok())
                .unwrap_or_default()
        };
        let limits = if offline {
            cached_limits()
        } else {
            // Kept in the cache: who the user is and the limits, for offline reading.
            cache.set_meta("user", &serde_json::to_string(&user).unwrap_or_default())?;
            match api::limits(api.endpoint()).await {
                Ok(l) => {
                    cache.set_meta("limits", &serde_json::to_string(&l).unwrap_or_default())?;
                    l
                }
                Err(e) => {
                    tracing::debug!(code = e.code(), "no limits announced: using the last known");
                    cached_limits()
                }
            }
        };
        let client = Self {
            inner: Arc::new(Inner {
                config,
                user,
                server,
                api,
                cache,
                keychain,
                events,
                notifier,
                connected: AtomicBool::new(false),
                open: Mutex::new(None),
                frames: Mutex::new(None),
                stop: Mutex::new(None),
                task: Mutex::new(None),
                rotations: Mutex::new(Some(rotations)),
                identity: parking_lot::RwLock::new(identity),
                outbox: outbox::Outbox::default(),
                limits: parking_lot::RwLock::new(limits),
                read_only: AtomicBool::new(offline),
            }),
        };
        outbox::start(&client.inner);
        Ok(client)
    }

    /// The limits the server announced at sign-in (`GET /api/limits`); the
    /// defaults when it could not say.
    pub fn limits(&self) -> Limits {
        self.inner.limits()
    }

    /// Whether the client is in offline read-only mode (opened from the cache).
    pub fn is_read_only(&self) -> bool {
        self.inner.read_only()
    }

    /// Refuses a change while in offline read-only mode.
    fn writable(&self) -> ClientResult<()> {
        if self.inner.read_only() {
            Err(ClientError::OfflineReadOnly)
        } else {
            Ok(())
        }
    }

    /// A watch that tells when every clone of this client is gone.
    pub fn drop_watch(&self) -> DropWatch {
        DropWatch(Arc::downgrade(&self.inner))
    }

    /// The signed-in user.
    pub fn user(&self) -> &User {
        &self.inner.user
    }

    /// The server's base URL.
    pub fn server(&self) -> &str {
        &self.inner.server
    }

    /// The encrypted cache (for inspection by tools and tests).
    pub fn cache(&self) -> &Cache {
        &self.inner.cache
    }

    /// Events for the user interface.
    pub fn subscribe(&self) -> broadcast::Receiver<ClientEvent> {
        self.inner.events.subscribe()
    }

    /// Whether the real-time connection is up.
    pub fn is_connected(&self) -> bool {
        self.inner.connected.load(Ordering::SeqCst)
    }

    /// Starts the real-time connection (reconnecting by itself) if not running.
    /// In offline read-only mode it starts once the server accepts the login again.
    pub fn connect(&self) {
        if self.inner.read_only() {
            return;
        }
        let mut task = self.inner.task.lock();
        if task.as_ref().is_some_and(|t| !t.is_finished()) {
            return;
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let (stop_tx, stop_rx) = watch::channel(false);
        *self.inner.frames.lock() = Some(tx);
        *self.inner.stop.lock() = Some(stop_tx);
        *task = Some(tokio::spawn(realtime::run(self.inner.clone(), rx, stop_rx)));
    }

    /// Stops the real-time connection and waits for it to close.
    pub async fn disconnect(&self) {
        if let Some(stop) = self.inner.stop.lock().take() {
            let _ = stop.send(true);
        }
        let task = self.inner.task.lock().take();
        if let Some(t) = task {
            let _ = t.await;
        }
        *self.inner.frames.lock() = None;
    }

    /// Stops background work and makes sure rotated tokens are stored.
    pub async fn shutdown(self) {
        self.disconnect().await;
        self.inner.outbox.stop();
        let rot = self.inner.rotations.lock().take();
        drop(self);
        if let Some(r) = rot {
            // The sender lives in the API client; give pending writes a moment.
            let _ = tokio::time::timeout(std::time::Duration::from_secs(5), r).await;
        }
    }

    /// Ends the login: revokes it on the server, deletes the refresh token,
    /// the cache key and the cache file.
    pub async fn logout(self) -> ClientResult<()> {
        self.disconnect().await;
        self.inner.outbox.stop();
        if let Err(e) = self.inner.api.logout().await {
            tracing::warn!(
                code = e.code(),
                "server logout failed; local data is removed anyway"
            );
        }
        self.inner.keychain.delete(Secret::RefreshToken).await?;
        self.inner.keychain.delete(Secret::CacheKey).await?;
        self.inner.keychain.delete(Secret::Identity).await?;
        let path = self.inner.cache.path().to_owned();
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
        let _ = std::fs::remove_file(login_file(&self.inner.config.data_dir));
        Ok(())
    }

    /// The caller's contexts from the server (kept in the cache), or from the
    /// cache when offline; also pins the peers' keys on first use and notices
    /// when the server hands out new ones.
    pub async fn contexts(&self) -> ClientResult<Vec<ContextSummary>> {
        let (list, online) = self.refresh_contexts().await?;
        if online {
            let me = &self.inner.user.id;
            let mut seen = std::collections::HashSet::new();
            for c in &list {
                let peer = if c.context.patient.id == *me {
                    &c.context.doctor
                } else {
                    &c.context.patient
                };
                if seen.insert(peer.id.clone()) {
                    if let Err(e) = self.inner.check_peer(&peer.id, &peer.name).await {
                        tracing::debug!(code = e.code(), "peer key check failed");
                    }
                }
            }
        }
        Ok(list)
    }

    /// The contexts list only (one request, no key checks): for refreshing
    /// unread counts; `true` when it came from the server.
    pub async fn refresh_contexts(&self) -> ClientResult<(Vec<ContextSummary>, bool)> {
        match self.inner.api.contexts().await {
            Ok(list) => {
                self.inner.cache.put_contexts(&list)?;
                Ok((list, true))
            }
            Err(ClientError::Network(_) | ClientError::Tls(_)) => {
                Ok((self.inner.cache.contexts()?, false))
            }
            Err(e) => Err(e),
        }
    }

    /// One of the user's contexts, from the cache or, when missing, the server.
    async fn context(&self, kind: ContextType, id: &ContextId) -> ClientResult<ContextSummary> {
        if let Some(c) = self.inner.cache.context(kind, id)? {
            return Ok(c);
        }
        self.contexts().await?;
        self.inner
            .cache
            .context(kind, id)?
            .ok_or_else(ClientError::not_yours)
    }

    /// A page of history from the cache only (instant).
    pub fn cached_history(
        &self,
        kind: ContextType,
        id: &ContextId,
        before: Option<u64>,
        limit: u32,
    ) -> ClientResult<HistoryPage> {
        let mut messages: Vec<UiMessage> = self
            .inner
            .cache
            .history(kind, id, before, limit + 1)?
            .into_iter()
            .map(UiMessage::acked)
            .collect();
        let has_more = messages.len() > limit as usize;
        if has_more {
            messages.remove(0);
        }
        if before.is_none() {
            messages.extend(self.pending(kind, id)?);
        }
        let next_before = if has_more {
            messages.first().map(|m| m.seq)
        } else {
            None
        };
        Ok(HistoryPage {
            messages,
            has_more,
            next_before,
            session: None,
            offline: true,
        })
    }

    /// A page of history from the server (stored in the cache); from the cache when offline.
    pub async fn history(
        &self,
        kind: ContextType,
        id: &ContextId,
        before: Option<u64>,
        limit: u32,
    ) -> ClientResult<HistoryPage> {
        match self.inner.api.history(kind, id, before, limit).await {
            Ok(HistoryResponse {
                messages,
                has_more,
                next_before,
                session,
            }) => {
                let mut opened = Vec::with_capacity(messages.len());
                for m in messages {
                    opened.push(self.inner.decrypt(m).await);
                }
                let messages = opened;
                self.inner.cache.put_messages(&messages)?;
                if let Some(s) = &session {
                    self.inner.cache.put_session(s)?;
                }
                let mut messages: Vec<UiMessage> = messages
                    .into_iter()
                    .map(|m| {
                        self.inner
                            .cache
                            .message(&m.id)
                            .map(|c| UiMessage::acked(c.unwrap_or(m)))
                    })
                    .collect::<ClientResult<_>>()?;
                if before.is_none() {
                    messages.extend(self.pending(kind, id)?);
                }
                Ok(HistoryPage {
                    messages,
                    has_more,
                    next_before,
                    session,
                    offline: false,
                })
            }
            Err(ClientError::Network(_) | ClientError::Tls(_)) => {
                self.cached_history(kind, id, before, limit)
            }
            Err(e) => Err(e),
        }
    }

    /// Messages typed but not acknowledged yet, as local messages (`id` =
    /// `local:<clientMessageId>`) with their state.
    fn pending(&self, kind: ContextType, id: &ContextId) -> ClientResult<Vec<UiMessage>> {
        Ok(self
            .inner
            .cache
            .outbox()?
            .into_iter()
            .filter(|e| e.request.context_type == kind && e.request.context_id == *id)
            .map(|e| self.inner.ui_local(&e))
            .collect())
    }

    /// Sends a message. It goes to the outbox first (it survives a restart),
    /// then leaves in order with the other unsent messages of its
    /// conversation: over the socket when connected, over HTTP otherwise
    /// (then the answer is awaited here). Returns the stored message once
    /// acknowledged, else the local one with its state (`sending`,
    /// `waitingForKeys`, `slowedDown` or `failed`; docs/desktop-ipc.md).
    pub async fn send(
        &self,
        kind: ContextType,
        id: &ContextId,
        content: &str,
        metadata: MessageMetadata,
        attachments: Vec<AttachmentId>,
    ) -> ClientResult<UiMessage> {
        self.writable()?;
        let limits = self.limits();
        if content.chars().count() > limits.max_message_length {
            return Err(ClientError::Invalid(format!(
                "message is longer than {} characters",
                limits.max_message_length
            )));
        }
        if content.trim().is_empty() && attachments.is_empty() {
            return Err(ClientError::Invalid("message is empty".into()));
        }
        // Images bring their thumbnail's blob along (see `media`).
        let (message_kind, attachments) = self.inner.message_kind(&attachments)?;
        if attachments.len() > limits.max_attachments {
            return Err(ClientError::Invalid(format!(
                "at most {} attachments per message (an image counts twice: it and its thumbnail)",
                limits.max_attachments
            )));
        }
        self.context(kind, id).await?;
        let client_message_id = ClientMessageId(format!("c_{}", uuid::Uuid::now_v7().simple()));
        let req = SendRequest {
            client_message_id,
            context_type: kind,
            context_id: id.clone(),
            content: content.to_owned(),
            kind: message_kind,
            metadata,
            attachments,
        };
        self.inner
            .cache
            .outbox_put(&req, Utc::now().timestamp_millis())?;
        self.inner.pump().await;
        self.current(&req.client_message_id)?
            .ok_or(ClientError::RetryUnknown)
    }

    /// A send as it stands: acknowledged (from the cache) or still queued.
    fn current(&self, cmid: &ClientMessageId) -> ClientResult<Option<UiMessage>> {
        if let Some(e) = self
            .inner
            .cache
            .outbox()?
            .into_iter()
            .find(|e| e.request.client_message_id == *cmid)
        {
            return Ok(Some(self.inner.ui_local(&e)));
        }
        Ok(self
            .inner
            .cache
            .message_by_client_id(cmid)?
            .map(UiMessage::acked))
    }

    /// Sends a refused message again with the SAME `clientMessageId` (the
    /// server keeps one copy of it whatever happens); it takes its place back
    /// among the unsent messages of its conversation. `RETRY_UNKNOWN` when no
    /// such message waits.
    pub async fn retry_send(&self, cmid: &ClientMessageId) -> ClientResult<UiMessage> {
        self.writable()?;
        if !self.inner.cache.outbox_retry(cmid)? {
            return Err(ClientError::RetryUnknown);
        }
        self.inner.outbox_retrying(cmid);
        self.inner.pump().await;
        self.current(cmid)?.ok_or(ClientError::RetryUnknown)
    }

    /// Drops an unsent message that failed or waits (for keys, for the rate
    /// limit); one on the wire cannot be called back (`VALIDATION_FAILED`).
    pub fn discard_send(&self, cmid: &ClientMessageId) -> ClientResult<()> {
        self.writable()?;
        let entry = self
            .inner
            .cache
            .outbox()?
            .into_iter()
            .find(|e| e.request.client_message_id == *cmid)
            .ok_or(ClientError::RetryUnknown)?;
        if self.inner.is_in_flight(cmid) {
            return Err(ClientError::Invalid(
                "this message is being sent: wait for the answer of the server".into(),
            ));
        }
        self.inner
            .cache
            .outbox_remove(&entry.request.client_message_id)?;
        self.inner.outbox_acked(cmid);
        Ok(())
    }

    /// Sends every queued message that may go (when no socket is used, e.g.
    /// the CLI); returns how many the server acknowledged.
    pub async fn flush_outbox(&self) -> ClientResult<usize> {
        let before = self.inner.cache.outbox()?.len();
        self.inner.pump().await;
        Ok(before.saturating_sub(self.inner.cache.outbox()?.len()))
    }

    /// Messages still in the outbox.
    pub fn outbox_len(&self) -> ClientResult<usize> {
        Ok(self.inner.cache.outbox()?.len())
    }

    /// Marks received messages read: one WebSocket `read` frame per 100 ids
    /// while connected (the server's `status` frames then update the cache,
    /// the inbox and the sender), one REST request per id otherwise.
    pub async fn mark_read_many(&self, ids: &[MessageId]) -> ClientResult<()> {
        for chunk in ids.chunks(dmp_protocol::ws::MAX_READ_BATCH) {
            if self
                .inner
                .push_frame(ClientFrame::read_many(chunk.to_vec()))
            {
                continue;
            }
            for id in chunk {
                self.mark_read(id).await?;
            }
        }
        Ok(())
    }

    /// Marks a received message read over REST.
    pub async fn mark_read(&self, id: &MessageId) -> ClientResult<Message> {
        self.writable()?;
        let m = self.inner.api.mark_read(id).await?;
        let m = self.inner.keep_message(&m)?;
        self.inner.emit(ClientEvent::Status {
            message_id: m.id.clone(),
            session_id: m.session_id.clone(),
            status: m.status,
            at: m.read_at.unwrap_or_else(Utc::now),
        });
        Ok(m)
    }

    /// Deletes one's own message (a tombstone stays).
    pub async fn delete(&self, id: &MessageId) -> ClientResult<Message> {
        self.writable()?;
        let m = self.inner.api.delete(id).await?;
        let m = self.inner.keep_message(&m)?;
        self.inner.emit(ClientEvent::Message { message: m.clone() });
        Ok(m)
    }

    /// The id of a record's conversation, derived from the record's
    /// participants (no request, and nothing written on the server: the
    /// server checks who asks on the action itself).
    async fn session_id(&self, kind: ContextType, id: &ContextId) -> ClientResult<SessionId> {
        let c = self.context(kind, id).await?.context;
        Ok(Session::id_for(kind, id, &c.patient.id, &c.doctor.id))
    }

    /// A change of a conversation's status, kept on its record's row.
    async fn change_session(
        &self,
        kind: ContextType,
        id: &ContextId,
        change: api::SessionChange,
    ) -> ClientResult<Session> {
        self.writable()?;
        let session_id = self.session_id(kind, id).await?;
        let session = self.inner.api.change_session(&session_id, change).await?;
        self.keep_session(&session)?;
        Ok(session)
    }

    /// Closes the conversation of a record (its doctor only; the server
    /// refuses anyone else): the patient can then read it, not write to it.
    /// The `system` message that says so comes back as an event.
    pub async fn close_conversation(
        &self,
        kind: ContextType,
        id: &ContextId,
        reason: Option<CloseReason>,
    ) -> ClientResult<Session> {
        self.change_session(kind, id, api::SessionChange::Close(reason))
            .await
    }

    /// Reopens a closed conversation (its doctor only).
    pub async fn reopen_conversation(
        &self,
        kind: ContextType,
        id: &ContextId,
    ) -> ClientResult<Session> {
        self.change_session(kind, id, api::SessionChange::Reopen)
            .await
    }

    /// Archives a conversation (either participant); a new message makes it
    /// active again.
    pub async fn archive_conversation(
        &self,
        kind: ContextType,
        id: &ContextId,
    ) -> ClientResult<Session> {
        self.change_session(kind, id, api::SessionChange::Archive)
            .await
    }

    /// Who accessed the conversation of a record, and what an administrator
    /// did to the account (the record's patient only; newest first).
    pub async fn access_log(
        &self,
        kind: ContextType,
        id: &ContextId,
    ) -> ClientResult<dmp_protocol::api::AccessLogResponse> {
        let session_id = self.session_id(kind, id).await?;
        self.inner.api.access_log(&session_id).await
    }

    /// The doctor's reply templates, opened on this device: the server keeps
    /// them sealed under a key of the doctor's identity, so they follow the
    /// doctor to a new device and nobody else can read them
    /// (docs/messaging.md, "Reply templates").
    pub async fn templates(&self) -> ClientResult<Vec<ReplyTemplate>> {
        Ok(self.load_templates().await?.1)
    }

    async fn load_templates(&self) -> ClientResult<(u64, Vec<ReplyTemplate>)> {
        let Some(stored) = self.inner.api.sealed_templates().await? else {
            return Ok((0, Vec::new()));
        };
        let identity = self.inner.identity()?;
        let clear = dmp_crypto::open_private(
            &identity,
            self.inner.user.id.as_str(),
            TEMPLATES_LABEL,
            &stored.sealed,
        )?;
        let list = serde_json::from_slice(&clear).map_err(|_| ClientError::E2e {
            code: "E2E_MALFORMED",
            message: "the stored templates do not parse".into(),
        })?;
        Ok((stored.version, list))
    }

    /// Adds a template (empty id) or replaces the one with its id; returns
    /// the whole list as saved.
    pub async fn save_template(&self, template: ReplyTemplate) -> ClientResult<Vec<ReplyTemplate>> {
        if let Some(problem) = template.problem() {
            return Err(ClientError::Invalid(problem));
        }
        let mut template = template;
        template.title = template.title.trim().to_owned();
        template.text = template.text.trim().to_owned();
        if template.id.is_empty() {
            template.id = format!("tpl_{}", uuid::Uuid::new_v4().simple());
        }
        self.change_templates(move |list| {
            let full = list.len() >= ReplyTemplate::MAX_COUNT;
            match list.iter_mut().find(|t| t.id == template.id) {
                Some(t) => *t = template.clone(),
                None if full => {
                    return Err(ClientError::Invalid(format!(
                        "at most {} templates",
                        ReplyTemplate::MAX_COUNT
                    )))
                }
                None => list.push(template.clone()),
            }
            Ok(())
        })
        .await
    }

    /// Deletes one template; returns the list as saved.
    pub async fn delete_template(&self, id: &str) -> ClientResult<Vec<ReplyTemplate>> {
        self.change_templates(|list| {
            let before = list.len();
            list.retain(|t| t.id != id);
            if list.len() == before {
                Err(ClientError::Invalid("no template has this id".into()))
            } else {
                Ok(())
            }
        })
        .await
    }

    /// Reads, changes, seals and saves the templates; when another device
    /// saved first (`CONFLICT`), does it again from what that device saved.
    async fn change_templates(
        &self,
        change: impl Fn(&mut Vec<ReplyTemplate>) -> ClientResult<()>,
    ) -> ClientResult<Vec<ReplyTemplate>> {
        self.writable()?;
        let identity = self.inner.identity()?;
        let mut attempts = 0;
        loop {
            let (version, mut list) = self.load_templates().await?;
            change(&mut list)?;
            let clear = zeroize::Zeroizing::new(
                serde_json::to_vec(&list).map_err(|e| ClientError::Invalid(e.to_string()))?,
            );
            let sealed = dmp_crypto::seal_private(
                &mut rand::rngs::OsRng,
                &identity,
                self.inner.user.id.as_str(),
                TEMPLATES_LABEL,
                &clear,
            );
            let body = dmp_protocol::api::PutTemplatesRequest {
                sealed,
                base_version: version,
            };
            match self.inner.api.put_sealed_templates(&body).await {
                Ok(_) => return Ok(list),
                Err(ClientError::Api {
                    code: ErrorCode::Conflict,
                    ..
                }) if attempts < 3 => attempts += 1,
                Err(e) => return Err(e),
            }
        }
    }

    /// A template's text filled in for one record: the patient's name and
    /// the record's title (from the cached record).
    pub async fn render_template(
        &self,
        kind: ContextType,
        id: &ContextId,
        template: &ReplyTemplate,
    ) -> ClientResult<String> {
        let c = self.context(kind, id).await?.context;
        Ok(template.render(&c.patient.name, &c.title))
    }

    /// The doctor's absence (the current or the next one).
    pub async fn absence(&self) -> ClientResult<Option<Absence>> {
        self.inner.api.absence().await
    }

    /// Sets the doctor's absence (patients who write meanwhile get an
    /// automatic answer, once per conversation).
    pub async fn set_absence(&self, absence: &Absence) -> ClientResult<Absence> {
        self.writable()?;
        self.inner.api.set_absence(absence).await
    }

    /// Ends or cancels the doctor's absence.
    pub async fn clear_absence(&self) -> ClientResult<()> {
        self.writable()?;
        self.inner.api.clear_absence().await
    }

    /// The doctor's weekly office hours.
    pub async fn office_hours(&self) -> ClientResult<Option<OfficeHours>> {
        self.inner.api.office_hours().await
    }

    /// Sets the doctor's weekly office hours (patients who write outside
    /// them are told when the doctor reads messages next).
    pub async fn set_office_hours(&self, hours: &OfficeHours) -> ClientResult<OfficeHours> {
        self.writable()?;
        self.inner.api.set_office_hours(hours).await
    }

    /// Removes the doctor's office hours.
    pub async fn clear_office_hours(&self) -> ClientResult<()> {
        self.writable()?;
        self.inner.api.clear_office_hours().await
    }

    /// Puts a session the server returned on its context's row.
    fn keep_session(&self, session: &Session) -> ClientResult<()> {
        let changed =
            self.inner
                .cache
                .update_context(session.context_type, &session.context_id, |c| {
                    let was = c.session.as_ref().map(|s| s.status);
                    c.session = Some(session.clone());
                    was != Some(session.status)
                })?;
        if changed {
            self.inner.emit_inbox();
        }
        Ok(())
    }

    /// Tells the other participant that the user is (not) typing.
    pub fn typing(&self, kind: ContextType, id: &ContextId, is_typing: bool) {
        self.inner.push_frame(ClientFrame::Typing {
            context_type: kind,
            context_id: id.clone(),
            is_typing,
        });
    }

    /// Uploads a file after checking its type and size locally (an image
    /// gets its thumbnail: see [`media`]).
    pub async fn upload(&self, name: &str, bytes: Vec<u8>) -> ClientResult<Attachment> {
        self.writable()?;
        self.upload_media(name, bytes, None).await
    }

    /// Downloads an attachment's bytes.
    pub async fn download(&self, id: &AttachmentId) -> ClientResult<Vec<u8>> {
        let Some(secret) = self.inner.cache.attachment_secret(id)? else {
            // A clear-text attachment from before end-to-end encryption.
            return self.inner.api.download(id).await;
        };
        let secret: dmp_crypto::AttachmentSecret =
            serde_json::from_str(&secret).map_err(|e| ClientError::Cache(e.to_string()))?;
        let tmp_dir = self.inner.config.data_dir.join("tmp");
        std::fs::create_dir_all(&tmp_dir)?;
        let blob = tmp_dir.join(format!("{}.enc", uuid::Uuid::new_v4().simple()));
        let fetched = self.inner.api.download_to(id, &blob).await;
        let path = blob.clone();
        let opened = match fetched {
            Ok(_) => tokio::task::spawn_blocking(move || -> ClientResult<Vec<u8>> {
                let mut out = Vec::with_capacity(usize::try_from(secret.size).unwrap_or(0));
                secret.decrypt_verified(
                    std::io::BufReader::new(std::fs::File::open(&path)?),
                    &mut out,
                )?;
                Ok(out)
            })
            .await
            .map_err(|e| ClientError::Io(e.to_string()))?,
            Err(e) => Err(e),
        };
        let _ = std::fs::remove_file(&blob);
        opened
    }

    /// The safety code to compare with a peer (same digits on both sides).
    pub async fn safety_code(&self, peer: &UserId) -> ClientResult<String> {
        self.inner.safety_code(peer).await
    }

    /// Trusts a peer's new key after a change was reported.
    pub fn accept_peer_key(&self, peer: &UserId) -> ClientResult<bool> {
        self.inner
            .cache
            .accept_change(peer, Utc::now().timestamp_millis())
    }

    /// Full-text search in the cache, in one context or all of them.
    pub fn search(
        &self,
        query: &str,
        scope: Option<(ContextType, &ContextId)>,
    ) -> ClientResult<Vec<SearchHit>> {
        self.inner.cache.search(query, scope, 50)
    }

    /// Fetches a whole conversation into the cache.
    pub async fn sync_conversation(&self, kind: ContextType, id: &ContextId) -> ClientResult<()> {
        let mut before = None;
        loop {
            let page = self.history(kind, id, before, 200).await?;
            if page.offline || !page.has_more {
                return Ok(());
            }
            before = page.next_before;
        }
    }

    /// Exports a conversation (from the cache, after syncing it when online).
    pub async fn export(
        &self,
        kind: ContextType,
        id: &ContextId,
        format: ExportFormat,
    ) -> ClientResult<String> {
        self.sync_conversation(kind, id).await?;
        let ctx = self.context(kind, id).await?;
        let messages = self.inner.cache.history(kind, id, None, u32::MAX)?;
        let now = Utc::now();
        Ok(match format {
            ExportFormat::Json => serde_json::to_string_pretty(&export::Export {
                exported_at: now,
                exported_by: self.user(),
                context: &ctx.context,
                messages: &messages,
            })
            .map_err(|e| ClientError::Io(e.to_string()))?,
            ExportFormat::Html => export::html(&ctx.context, &messages, self.user(), now),
        })
    }

    /// Unseen notifications from the server.
    pub async fn notifications(&self) -> ClientResult<Vec<Notification>> {
        Ok(self
            .inner
            .api
            .notifications(self.user())
            .await?
            .notifications)
    }

    /// The conversation on screen (no native notification for it), or none.
    pub fn set_open_conversation(&self, open: Option<(ContextType, ContextId)>) {
        if let (Some(n), Some((k, i))) = (&self.inner.notifier, &open) {
            if let Ok(Some(ctx)) = self.inner.cache.context(*k, i) {
                if let Some(s) = ctx.session {
                    n.clear(&s.id);
                }
            }
        }
        *self.inner.open.lock() = open;
    }

    /// The user's settings.
    pub fn settings(&self) -> ClientResult<Settings> {
        Ok(self
            .inner
            .cache
            .meta("settings")?
            .and_then(|s| serde_json::from_str(&s).ok())
            .unwrap_or_default())
    }

    /// Changes the user's settings.
    pub fn set_settings(&self, s: &Settings) -> ClientResult<()> {
        if !matches!(s.language.as_str(), "fr" | "en") {
            return Err(ClientError::Invalid("language must be fr or en".into()));
        }
        if let Some(n) = &self.inner.notifier {
            n.set_preview(s.notification_preview);
        }
        self.inner
            .cache
            .set_meta("settings", &serde_json::to_string(s).unwrap_or_default())
    }

    /// The API client, for calls not wrapped here.
    pub fn api(&self) -> &ApiClient {
        &self.inner.api
    }
}

pub(crate) fn local_message(
    me: &User,
    ctx: Option<&ContextSummary>,
    req: &SendRequest,
    created_ms: i64,
) -> Message {
    let me_p = Participant {
        id: me.id.clone(),
        kind: me.kind,
        name: me.name.clone(),
    };
    let peer = ctx
        .map(|c| {
            if c.context.patient.id == me.id {
                c.context.doctor.clone()
            } else {
                c.context.patient.clone()
            }
        })
        .unwrap_or_else(|| Participant {
            id: UserId::new(""),
            kind: UserType::Medecin,
            name: String::new(),
        });
    let session_id = ctx
        .map(|c| {
            Session::id_for(
                c.context.kind,
                &c.context.id,
                &c.context.patient.id,
                &c.context.doctor.id,
            )
        })
        .unwrap_or_else(|| SessionId::new(""));
    Message {
        id: MessageId(format!("local:{}", req.client_message_id)),
        content: req.content.clone(),
        kind: req.kind,
        sender: me_p,
        recipient: peer,
        context: ContextRef {
            kind: req.context_type,
            id: req.context_id.clone(),
        },
        timestamp: chrono::DateTime::from_timestamp_millis(created_ms).unwrap_or_else(Utc::now),
        status: MessageStatus::Sent,
        attachments: vec![],
        metadata: req.metadata,
        client_message_id: req.client_message_id.clone(),
        session_id,
        seq: 0,
        delivered_at: None,
        read_at: None,
        deleted_at: None,
        encrypted: None,
        e2e_error: None,
    }
}

/// Desktop conveniences: files written where a person expects them.
impl DmpClient {
    /// Downloads an attachment into `dir` under a safe version of `name`
    /// (never overwriting an existing file); returns the path.
    pub async fn save_attachment(
        &self,
        id: &AttachmentId,
        name: &str,
        dir: &Path,
    ) -> ClientResult<PathBuf> {
        let bytes = self.download(id).await?;
        std::fs::create_dir_all(dir)?;
        let path = unique_path(dir, &safe_file_name(name));
        std::fs::write(&path, bytes)?;
        Ok(path)
    }

    /// An image attachment as a `data:` URL for a preview (images only, 10 MB at most).
    pub async fn attachment_data_url(&self, id: &AttachmentId) -> ClientResult<String> {
        use base64::Engine;
        let bytes = self.download(id).await?;
        let mime = if bytes.starts_with(&[0x89, b'P', b'N', b'G']) {
            "image/png"
        } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            "image/jpeg"
        } else {
            return Err(ClientError::Invalid("only images have a preview".into()));
        };
        Ok(format!(
            "data:{mime};base64,{}",
            base64::engine::general_purpose::STANDARD.encode(bytes)
        ))
    }

    /// Exports a conversation into `dir`; returns the path of the file.
    pub async fn export_to_file(
        &self,
        kind: ContextType,
        id: &ContextId,
        format: ExportFormat,
        dir: &Path,
    ) -> ClientResult<PathBuf> {
        let doc = self.export(kind, id, format).await?;
        let ext = match format {
            ExportFormat::Json => "json",
            ExportFormat::Html => "html",
        };
        std::fs::create_dir_all(dir)?;
        let name = format!(
            "messagerie-{kind}-{id}-{}.{ext}",
            Utc::now().format("%Y%m%d-%H%M%S")
        );
        let path = unique_path(dir, &safe_file_name(&name));
        std::fs::write(&path, doc)?;
        Ok(path)
    }

    /// The inbox from the cache, sorted, with the unread total (no request;
    /// kept current from events, see [`inbox`]).
    pub fn inbox(&self) -> ClientResult<Inbox> {
        self.inner.inbox()
    }

    /// Fetches the contexts list again (one request, no key checks), e.g.
    /// after a reconnect; emits and returns the inbox (from the cache when offline).
    pub async fn refresh_inbox(&self) -> ClientResult<Inbox> {
        self.refresh_contexts().await?;
        self.inner.emit_inbox();
        self.inner.inbox()
    }

    /// Unread messages addressed to the user, over all contexts (from the cache).
    pub fn unread_total(&self) -> ClientResult<u64> {
        Ok(self.inner.inbox()?.unread_total)
    }
}

/// A file name without path separators or control characters.
pub fn safe_file_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let cleaned: String = base
        .chars()
        .filter(|c| !c.is_control() && !matches!(c, ':' | '*' | '?' | '"' | '<' | '>' | '|'))
        .take(120)
        .collect();
    let cleaned = cleaned.trim().trim_start_matches('.').to_owned();
    if cleaned.is_empty() {
        "fichier".into()
    } else {
        cleaned
    }
}

fn unique_path(dir: &Path, name: &str) -> PathBuf {
    let candidate = dir.join(name);
    if !candidate.exists() {
        return candidate;
    }
    let (stem, ext) = name.rsplit_once('.').map_or((name, ""), |(s, e)| (s, e));
    (1..)
        .map(|i| {
            dir.join(if ext.is_empty() {
                format!("{stem} ({i})")
            } else {
                format!("{stem} ({i}).{ext}")
            })
        })
        .find(|p| !p.exists())
        .unwrap_or(candidate)
}
