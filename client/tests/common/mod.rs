//! Test support: the real server on a loopback port with the demo data, and
//! client configurations in temporary directories. The tests need the real
//! desktop services (Secret Service, notification daemon) that
//! `scripts/with-desktop-services.sh` starts on a private D-Bus.
#![allow(
    dead_code,
    missing_debug_implementations,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use dmp_client::{ClientConfig, ClientEvent, DmpClient};
use dmp_server::clock::OffsetClock;
use dmp_server::store::sqlite::Durability;
use dmp_server::{admin, demo, Config, RunningServer};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

pub const PATIENT: (&str, &str) = ("jean.dupont", demo::PATIENT_PASSWORD);
pub const DOCTOR: (&str, &str) = ("dr.martin", demo::DOCTOR_PASSWORD);

/// Fails loudly when the desktop services are not there: a keychain test
/// that silently passes against nothing would prove nothing.
pub fn require_desktop_services() {
    assert!(
        std::env::var_os("DMP_DESKTOP_SERVICES").is_some() && std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some(),
        "these tests need a real Secret Service and notification daemon: run them through scripts/with-desktop-services.sh (scripts/test.sh does)"
    );
}

pub struct Server {
    pub running: Option<RunningServer>,
    pub dir: tempfile::TempDir,
    pub addr: SocketAddr,
    pub config: Config,
    pub clock: OffsetClock,
}

impl Server {
    pub async fn start(tune: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config {
            bind: "127.0.0.1:0".parse().unwrap(),
            data_dir: dir.path().to_owned(),
            durability: Durability::Normal,
            metrics_bind: None,
            ..Default::default()
        };
        tune(&mut config);
        {
            let store = dmp_server::app::open_store(&config).unwrap();
            admin::import(&store, demo::dataset()).await.unwrap();
        }
        let clock = OffsetClock::new();
        let running = dmp_server::start(config.clone(), Arc::new(clock.clone()))
            .await
            .unwrap();
        let addr = running.addr;
        Self {
            running: Some(running),
            dir,
            addr,
            config,
            clock,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub async fn stop(&mut self) {
        if let Some(r) = self.running.take() {
            r.shutdown().await;
        }
    }

    /// Starts again on the same address and data.
    pub async fn restart(&mut self) {
        self.stop().await;
        let mut config = self.config.clone();
        config.bind = self.addr;
        self.running = Some(
            dmp_server::start(config, Arc::new(self.clock.clone()))
                .await
                .unwrap(),
        );
    }

    pub async fn audit_count(&self, action: &str) -> usize {
        let store = dmp_server::app::open_store(&self.config).unwrap();
        dmp_server::store::Store::audit_rows(&*store, None, None, None, 100_000)
            .await
            .unwrap()
            .iter()
            .filter(|r| r.action == action)
            .count()
    }
}

pub fn config(dir: &Path, notifications: bool) -> ClientConfig {
    ClientConfig {
        data_dir: dir.to_owned(),
        notifications,
        on_notification_click: None,
    }
}

pub async fn login(
    server: &Server,
    dir: &Path,
    who: (&str, &str),
    notifications: bool,
) -> DmpClient {
    DmpClient::login(
        config(dir, notifications),
        &server.url(),
        who.0,
        who.1,
        true,
    )
    .await
    .unwrap()
}

/// Waits for the first event that `f` accepts (10 s).
pub async fn wait_for<T>(
    rx: &mut tokio::sync::broadcast::Receiver<ClientEvent>,
    what: &str,
    mut f: impl FnMut(&ClientEvent) -> Option<T>,
) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Ok(ev)) => {
                if let Some(v) = f(&ev) {
                    return v;
                }
            }
            Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => continue,
            Ok(Err(e)) => panic!("event stream ended while waiting for {what}: {e}"),
            Err(_) => panic!("timed out waiting for {what}"),
        }
    }
}

pub async fn wait_connected(c: &DmpClient) {
    for _ in 0..200 {
        if c.is_connected() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("client never connected");
}

/// Every file below `dir`, recursively.
pub fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = vec![];
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}
