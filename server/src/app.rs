//! Wiring: opens the store, loads the directory, binds the listener, runs
//! the HTTP server and the background jobs, and shuts everything down
//! gracefully.

use crate::auth::TokenSigner;
use crate::clock::Clock;
use crate::config::Backend;
use crate::config::Config;
use crate::directory::{Directory, DirectoryEvents, LogChanges};
use crate::hub::Hub;
use crate::metrics::Metrics;
use crate::ratelimit::{AnonAudit, LoginThrottle, RateLimiter, SourceLimiter};
use crate::state::AppState;
use crate::store::anchor::AuditAnchor;
use crate::store::files::LocalDir;
use crate::store::sqlite::SqliteStore;
use crate::store::{DirectoryChange, LoggedChange, Store};
use anyhow::Context as _;
use chrono::Duration as ChronoDuration;
use rand::RngCore;
use std::fs::File;
use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// A running server.
#[derive(Debug)]
pub struct RunningServer {
    /// The bound address (useful with port 0).
    pub addr: SocketAddr,
    /// HTTPS, or plain HTTP in `insecure_http` mode.
    pub transport: crate::tls::Transport,
    /// The bound metrics address, when `metrics_bind` is set.
    pub metrics_addr: Option<SocketAddr>,
    /// Its state, for tests and the binary.
    pub state: AppState,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    _lock: Option<File>,
}

/// Takes the data directory's lock so that two servers (or a restore) never share it.
pub fn lock_data_dir(dir: &Path) -> anyhow::Result<File> {
    crate::files::private_dir(dir)
        .with_context(|| format!("cannot create data directory {}", dir.display()))?;
    let lock = crate::files::private_options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join("server.lock"))?;
    lock.try_lock().map_err(|_| {
        anyhow::anyhow!(
            "data directory {} is in use by another dmp-server",
            dir.display()
        )
    })?;
    Ok(lock)
}

/// Reads the token signing key, creating it (0600) on first start.
fn signing_key(dir: &Path) -> anyhow::Result<Vec<u8>> {
    let path = dir.join("jwt.key");
    match std::fs::read(&path) {
        Ok(k) if k.len() >= 32 => {
            crate::files::make_private(&path)?;
            Ok(k)
        }
        Ok(_) => anyhow::bail!("{} is shorter than 32 bytes", path.display()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut key = vec![0u8; 32];
            rand::rngs::OsRng.fill_bytes(&mut key);
            let mut f = crate::files::create_private(&path)?;
            f.write_all(&key)?;
            f.sync_all()?;
            Ok(key)
        }
        Err(e) => Err(e.into()),
    }
}

/// Opens the store the configuration selects for the admin CLI: the SQLite
/// file with the audit anchor of the configuration, or a PostgreSQL pool
/// (connected and migrated on first use) that anchors the rows the CLI
/// appends in the base checkpoint file.
pub fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    open_store_as(config, false)
}

/// Like [`open_store`], for a server node: with PostgreSQL, the node anchors
/// the chain head it observes in its own checkpoint file
/// (`<checkpoint file>.<node_id>`, locked while the node runs).
pub fn open_node_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    open_store_as(config, true)
}

fn open_store_as(config: &Config, node: bool) -> anyhow::Result<Arc<dyn Store>> {
    use crate::store::postgres::{PgAnchor, PgStore};
    Ok(match config.backend()? {
        Backend::Sqlite(_) => open_sqlite(config)?,
        Backend::Postgres(url) => {
            crate::files::private_dir(&config.data_dir)?;
            let anchor = Arc::new(audit_anchor(config)?);
            let anchor = if node {
                PgAnchor::Node(Arc::new(anchor.node_file(&config.node_id)?))
            } else {
                PgAnchor::Cli(anchor)
            };
            Arc::new(
                PgStore::open(&url.0, config.database_pool_size, config.durability)
                    .with_context(|| format!("cannot open the database {}", url.redacted()))?
                    .with_anchor(anchor),
            )
        }
    })
}

/// Opens the SQLite store of the configuration with its audit anchor.
pub fn open_sqlite(config: &Config) -> anyhow::Result<Arc<SqliteStore>> {
    crate::files::private_dir(&config.data_dir)?;
    let anchor = audit_anchor(config)?;
    Ok(Arc::new(
        SqliteStore::open_anchored(
            config.database_path(),
            config.durability,
            Some(Arc::new(anchor)),
            Duration::from_millis(config.audit.checkpoint_interval_ms),
        )
        .context("cannot open the database")?,
    ))
}

/// The audit anchor of the configuration (its key is created on first use).
pub fn audit_anchor(config: &Config) -> anyhow::Result<AuditAnchor> {
    Ok(AuditAnchor::open(
        &config.audit_key_path(),
        &config.audit_checkpoint_path(),
        config.durability == crate::store::Durability::Full,
    )?)
}

/// Starts the server and its background jobs.
pub async fn start(config: Config, clock: Arc<dyn Clock>) -> anyhow::Result<RunningServer> {
    // One SQLite file has one server; several nodes share a PostgreSQL.
    let (lock, anchors) = match config.backend()? {
        Backend::Sqlite(_) => (Some(lock_data_dir(&config.data_dir)?), false),
        Backend::Postgres(_) => {
            crate::files::private_dir(&config.data_dir)?;
            (None, true)
        }
    };
    let transport = crate::tls::transport(&config)?;
    crate::files::private_dir(&config.attachments_dir())?;
    let key = signing_key(&config.data_dir)?;
    let store: Arc<dyn Store> = open_node_store(&config)?;
    let directory = Arc::new(Directory::new(store.clone(), &config.directory));
    let metrics = Arc::new(Metrics::default());
    // Several nodes share limits, presence and frames through Redis.
    let redis = if config.redis_url.0.trim().is_empty() {
        None
    } else {
        Some(crate::cluster::Redis::connect(&config, metrics.clone()).await?)
    };
    let events: Box<dyn DirectoryEvents> = match &redis {
        Some(r) => Box::new(
            LogChanges::from_head(
                store.clone(),
                r.directory_wake.clone(),
                Duration::from_millis(config.directory.cluster_poll_ms.max(10)),
            )
            .await?,
        ),
        None => Box::new(
            LogChanges::polled(
                store.clone(),
                Duration::from_millis(config.directory.poll_ms.max(10)),
            )
            .await?,
        ),
    };
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let listener = tokio::net::TcpListener::bind(config.bind)
        .await
        .with_context(|| format!("cannot bind {}", config.bind))?;
    let addr = listener.local_addr()?;
    let metrics_listener = crate::metrics::bind(config.metrics_bind).await?;
    let metrics_addr = metrics_listener.as_ref().and_then(|l| l.local_addr().ok());
    let config_uploads = config.uploads.clone();
    let state = AppState {
        signer: Arc::new(TokenSigner::new(key, config.token_issuer.clone())),
        send_limiter: Arc::new(
            RateLimiter::new(
                config.rate_limit.send_per_second,
                config.rate_limit.send_burst,
            )
            .shared(redis.clone(), "send"),
        ),
        login_throttle: Arc::new(
            LoginThrottle::new(
                config.login.max_failures,
                Duration::from_secs(config.login.lockout_secs),
                Duration::from_secs(config.login.max_lockout_secs),
            )
            .shared(redis.clone()),
        ),
        auth_limiter: Arc::new(
            SourceLimiter::per_minute(config.rate_limit.auth_per_source_per_minute)
                .shared(redis.clone(), "auth"),
        ),
        ws_upgrade_limiter: Arc::new(
            SourceLimiter::per_minute(config.rate_limit.auth_per_source_per_minute)
                .shared(redis.clone(), "upgrade"),
        ),
        anon_audit: Arc::new(AnonAudit::new(Duration::from_secs(60))),
        attachment_files: Arc::new(LocalDir::new(config.attachments_dir())),
        hub: Arc::new(Hub::new(
            metrics.clone(),
            config.ws.max_per_user,
            config.ws.max_per_source,
        )),
        hasher: Arc::new(crate::auth::Hasher::new(
            std::thread::available_parallelism().map_or(2, |n| n.get()),
        )),
        config: Arc::new(config),
        store,
        clock,
        directory,
        metrics,
        shutdown: shutdown_rx.clone(),
        upload_limiter: Arc::new(
            RateLimiter::new(config_uploads.per_minute / 60.0, config_uploads.burst)
                .shared(redis.clone(), "upload"),
        ),
        redis: redis.clone(),
    };
    if let Some(r) = &redis {
        state.hub.link(r.clone());
    }
    let http = tokio::spawn(crate::serve::run(
        listener,
        crate::http::router(state.clone()),
        transport.clone(),
        crate::serve::Timeouts::from_config(&state.config),
        shutdown_rx.clone(),
    ));
    let mut tasks = vec![
        http,
        tokio::spawn(watch_directory(state.clone(), events, shutdown_rx.clone())),
        tokio::spawn(maintenance(state.clone(), shutdown_rx.clone())),
    ];
    if let Some(mailer) = crate::mail::Mailer::new(&state.config.mail)? {
        tasks.push(tokio::spawn(crate::mail::urgent_mail_loop(
            state.clone(),
            mailer,
            shutdown_rx.clone(),
        )));
    }
    if let Some(r) = &redis {
        tasks.extend(r.spawn(state.hub.clone(), shutdown_rx.clone()));
    }
    if anchors {
        tasks.push(tokio::spawn(anchor_audit(
            state.clone(),
            shutdown_rx.clone(),
        )));
    }
    tasks.extend(metrics_listener.map(|l| crate::metrics::spawn(l, state.clone(), shutdown_rx)));
    Ok(RunningServer {
        addr,
        transport,
        metrics_addr,
        state,
        shutdown: shutdown_tx,
        tasks,
        _lock: lock,
    })
}

impl RunningServer {
    /// `https://ADDR`, or `http://ADDR` in `insecure_http` mode.
    pub fn url(&self) -> String {
        format!("{}://{}", self.transport.scheme(), self.addr)
    }

    /// Closes sockets with 1001, stops accepting, waits for the tasks.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        self.state.hub.close_all(dmp_protocol::ws::CLOSE_GOING_AWAY);
        for t in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(10), t).await;
        }
        // Once the requests are drained: anchor what they appended.
        if let Err(e) = self.state.store.checkpoint_audit().await {
            tracing::error!(error = %e, "cannot append the last audit checkpoint");
        }
    }
}

/// With PostgreSQL: appends a checkpoint of the audit chain head this node
/// observes once per `audit.checkpoint_interval_ms` when it moved
/// (docs/security.md, "Audit trail"); the last one is written at shutdown.
async fn anchor_audit(state: AppState, mut stop: watch::Receiver<bool>) {
    let every = Duration::from_millis(state.config.audit.checkpoint_interval_ms.max(10));
    loop {
        tokio::select! {
            _ = stop.wait_for(|v| *v) => return,
            _ = tokio::time::sleep(every) => {}
        }
        if let Err(e) = state.store.checkpoint_audit().await {
            tracing::warn!(error = %e, "cannot append an audit checkpoint");
        }
    }
}

/// Applies the directory changes (made by the admin CLI, or by another
/// node) as they come: drops the cache entries they name and closes the
/// sockets of disabled users and revoked logins (docs/directory.md).
async fn watch_directory(
    state: AppState,
    mut events: Box<dyn DirectoryEvents>,
    mut stop: watch::Receiver<bool>,
) {
    let retry = Duration::from_millis(state.config.directory.poll_ms.max(10));
    loop {
        let next = tokio::select! {
            _ = stop.wait_for(|v| *v) => return,
            next = events.next() => next,
        };
        match next {
            Ok(changes) => apply_changes(&state, &changes).await,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the directory changes");
                tokio::select! {
                    _ = stop.wait_for(|v| *v) => return,
                    _ = tokio::time::sleep(retry) => {}
                }
            }
        }
    }
}

/// Invalidates what `changes` name, then ends what they ended: the sockets
/// of a disabled (or deleted) user close with 4403, those of a revoked login
/// with 4401.
pub async fn apply_changes(state: &AppState, changes: &[LoggedChange]) {
    for c in changes {
        state.directory.invalidate(&c.change);
    }
    let mut users = Vec::new();
    let mut logins_of = Vec::new();
    for c in changes {
        match &c.change {
            DirectoryChange::User(u) => users.push(u.clone()),
            DirectoryChange::LoginsOf(u) => logins_of.push(u.clone()),
            DirectoryChange::Login { id, user_id } => {
                state
                    .hub
                    .close_login(user_id, id, dmp_protocol::ws::CLOSE_UNAUTHENTICATED);
            }
            DirectoryChange::Context { .. } => {}
            DirectoryChange::All => {
                users.extend(state.hub.online());
                logins_of.extend(state.hub.online());
            }
        }
    }
    let now = state.now();
    users.sort();
    users.dedup();
    for user in users.iter().filter(|u| state.hub.is_online(u)) {
        match state.directory.user(user).await {
            Ok(Some(u)) if !u.disabled => {}
            Ok(_) => state
                .hub
                .close_user(user, dmp_protocol::ws::CLOSE_ACCOUNT_DISABLED),
            Err(e) => tracing::warn!(error = %e, "cannot re-read a changed user"),
        }
    }
    logins_of.sort();
    logins_of.dedup();
    for user in logins_of.iter().filter(|u| state.hub.is_online(u)) {
        let active = match state.store.logins_of(user, now).await {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(error = %e, "cannot re-read the logins of a user");
                continue;
            }
        };
        for login in state.hub.logins_of(user) {
            if !active.iter().any(|f| *f.id == *login) {
                state
                    .hub
                    .close_login(user, &login, dmp_protocol::ws::CLOSE_UNAUTHENTICATED);
            }
        }
    }
    if let Some(last) = changes.last() {
        tracing::debug!(
            rev = last.rev,
            count = changes.len(),
            "directory changes applied"
        );
    }
}

/// Auto-archive of idle sessions and retention purge.
async fn maintenance(state: AppState, mut stop: watch::Receiver<bool>) {
    let every = Duration::from_secs(state.config.maintenance_interval_secs.max(1));
    loop {
        tokio::select! {
            _ = stop.wait_for(|v| *v) => return,
            _ = tokio::time::sleep(every) => {}
        }
        run_maintenance(&state).await;
    }
}

/// One maintenance pass (public for the admin CLI and tests).
pub async fn run_maintenance(state: &AppState) {
    let now = state.now();
    let limits = &state.config.limits;
    match state
        .store
        .archive_idle(
            now - ChronoDuration::days(i64::from(limits.auto_archive_after_days)),
            now,
        )
        .await
    {
        Ok(ids) if !ids.is_empty() => {
            for (_, messages) in &ids {
                state.metrics.messages_per_session.observe(*messages as f64);
            }
            tracing::info!(count = ids.len(), "sessions auto-archived");
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "auto-archive failed"),
    }
    match state
        .store
        .purge_before(
            now - ChronoDuration::days(i64::from(limits.retention_period_days)),
            now,
        )
        .await
    {
        Ok((n, files)) => {
            for f in files {
                state.attachment_files.remove(&f).await;
            }
            if n > 0 {
                tracing::info!(count = n, "messages past retention purged");
            }
        }
        Err(e) => tracing::warn!(error = %e, "retention purge failed"),
    }
    match state
        .store
        .active_users_since(now - ChronoDuration::hours(24))
        .await
    {
        Ok(n) => {
            state
                .metrics
                .user_engagement
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
        Err(e) => tracing::warn!(error = %e, "cannot count the active users"),
    }
    state.send_limiter.prune();
    state.upload_limiter.prune();
    match state
        .store
        .prune_directory_changes(now - ChronoDuration::hours(1))
        .await
    {
        Ok(n) if n > 0 => tracing::debug!(count = n, "directory changes pruned"),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "directory change pruning failed"),
    }
    crate::http::attachments::purge_unused(state).await;
    prune_auth_maps(state).await;
}

/// Prunes the login throttle and the per-source limiters, and writes one
/// summary row for each source whose anonymous failures were folded.
pub async fn prune_auth_maps(state: &AppState) {
    state.login_throttle.prune();
    state.auth_limiter.prune();
    state.ws_upgrade_limiter.prune();
    for (ip, action, folded) in state.anon_audit.prune() {
        let meta = crate::store::RequestMeta {
            ip: ip.to_string(),
            user_agent: String::new(),
            request_id: String::new(),
        };
        let ev = crate::store::AuditEvent::new(
            state.now(),
            "anonymous",
            action,
            format!("{folded} more from this source"),
            "failed",
            &meta,
        );
        if let Err(e) = state.store.audit(ev).await {
            tracing::warn!(error = %e, "audit write failed");
        }
    }
}
