//! Wiring: opens the store, loads the directory, binds the listener, runs
//! the HTTP server and the background jobs, and shuts everything down
//! gracefully.

use crate::auth::TokenSigner;
use crate::clock::Clock;
use crate::config::Config;
use crate::directory::Directory;
use crate::hub::Hub;
use crate::metrics::Metrics;
use crate::ratelimit::{LoginThrottle, RateLimiter};
use crate::state::AppState;
use crate::store::anchor::AuditAnchor;
use crate::store::sqlite::SqliteStore;
use crate::store::Store;
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
    /// Its state, for tests and the binary.
    pub state: AppState,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    _lock: File,
}

/// Takes the data directory's lock so that two servers (or a restore) never share it.
pub fn lock_data_dir(dir: &Path) -> anyhow::Result<File> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create data directory {}", dir.display()))?;
    let lock = File::options()
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
        Ok(k) if k.len() >= 32 => Ok(k),
        Ok(_) => anyhow::bail!("{} is shorter than 32 bytes", path.display()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut key = vec![0u8; 32];
            rand::rngs::OsRng.fill_bytes(&mut key);
            let mut opts = File::options();
            opts.create_new(true).write(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
            let mut f = opts.open(&path)?;
            f.write_all(&key)?;
            f.sync_all()?;
            Ok(key)
        }
        Err(e) => Err(e.into()),
    }
}

/// Opens the store of a data directory (used by the server and the admin
/// CLI), with the audit anchor of the configuration.
pub fn open_store(config: &Config) -> anyhow::Result<Arc<SqliteStore>> {
    std::fs::create_dir_all(&config.data_dir)?;
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
        config.durability == crate::store::sqlite::Durability::Full,
    )?)
}

/// Starts the server and its background jobs.
pub async fn start(config: Config, clock: Arc<dyn Clock>) -> anyhow::Result<RunningServer> {
    let lock = lock_data_dir(&config.data_dir)?;
    std::fs::create_dir_all(config.attachments_dir())?;
    let key = signing_key(&config.data_dir)?;
    let store: Arc<dyn Store> = open_store(&config)?;
    let directory = Arc::new(Directory::default());
    directory.load(store.directory(clock.now()).await?);
    let metrics = Arc::new(Metrics::default());
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let listener = tokio::net::TcpListener::bind(config.bind)
        .await
        .with_context(|| format!("cannot bind {}", config.bind))?;
    let addr = listener.local_addr()?;
    let state = AppState {
        signer: Arc::new(TokenSigner::new(key, config.token_issuer.clone())),
        send_limiter: Arc::new(RateLimiter::new(
            config.rate_limit.send_per_second,
            config.rate_limit.send_burst,
        )),
        login_throttle: Arc::new(LoginThrottle::new(
            config.login.max_failures,
            Duration::from_secs(config.login.lockout_secs),
            Duration::from_secs(config.login.max_lockout_secs),
        )),
        attachments_dir: Arc::new(config.attachments_dir()),
        hub: Arc::new(Hub::new(metrics.clone())),
        hasher: Arc::new(crate::auth::Hasher::new(
            std::thread::available_parallelism().map_or(2, |n| n.get()),
        )),
        config: Arc::new(config),
        store,
        clock,
        directory,
        metrics,
        shutdown: shutdown_rx.clone(),
    };
    let app =
        crate::http::router(state.clone()).into_make_service_with_connect_info::<SocketAddr>();
    let mut rx = shutdown_rx.clone();
    let http = tokio::spawn(async move {
        let stop = async move {
            let _ = rx.wait_for(|v| *v).await;
        };
        // Small frames must leave at once: no Nagle delay on messages and acks.
        let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
            let _ = tcp.set_nodelay(true);
        });
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(stop)
            .await
        {
            tracing::error!(error = %e, "http server failed");
        }
    });
    let tasks = vec![
        http,
        tokio::spawn(watch_directory(state.clone(), shutdown_rx.clone())),
        tokio::spawn(maintenance(state.clone(), shutdown_rx)),
    ];
    Ok(RunningServer {
        addr,
        state,
        shutdown: shutdown_tx,
        tasks,
        _lock: lock,
    })
}

impl RunningServer {
    /// Closes sockets with 1001, stops accepting, waits for the tasks.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        self.state.hub.close_all(dmp_protocol::ws::CLOSE_GOING_AWAY);
        for t in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(10), t).await;
        }
    }
}

/// Reloads the directory when the admin CLI changed users, contexts or
/// logins, and closes the sockets of disabled users and revoked logins.
async fn watch_directory(state: AppState, mut stop: watch::Receiver<bool>) {
    let mut since = state.now() - ChronoDuration::seconds(5);
    loop {
        tokio::select! {
            _ = stop.wait_for(|v| *v) => return,
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
        let rev = match state.store.revision().await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the directory revision");
                continue;
            }
        };
        if rev == state.directory.revision() {
            continue;
        }
        let now = state.now();
        match state.store.directory(now).await {
            Ok(snap) => state.directory.load(snap),
            Err(e) => {
                tracing::warn!(error = %e, "cannot reload the directory");
                continue;
            }
        }
        for (user, disabled) in state.directory.user_ids() {
            if disabled {
                state
                    .hub
                    .close_user(&user, dmp_protocol::ws::CLOSE_UNAUTHENTICATED);
            }
        }
        match state.store.revoked_logins_since(since).await {
            Ok(revoked) => {
                for (login, user) in revoked {
                    state.directory.remove_login(&login);
                    state
                        .hub
                        .close_login(&user, &login, dmp_protocol::ws::CLOSE_UNAUTHENTICATED);
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot read revoked logins"),
        }
        since = now - ChronoDuration::seconds(5);
        tracing::info!(revision = rev, "directory reloaded");
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
        Ok(ids) if !ids.is_empty() => tracing::info!(count = ids.len(), "sessions auto-archived"),
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
                let _ = tokio::fs::remove_file(state.attachments_dir.join(f.as_str())).await;
            }
            if n > 0 {
                tracing::info!(count = n, "messages past retention purged");
            }
        }
        Err(e) => tracing::warn!(error = %e, "retention purge failed"),
    }
    state.send_limiter.prune();
}
