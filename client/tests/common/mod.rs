//! Test support: the real server on a loopback port with the demo data,
//! served over TLS with a certificate from a CA made by the test, and client
//! configurations in temporary directories that trust that CA. The tests need the real
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
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
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

/// The test CA of this process: (its directory, CA file, server chain PEM, server key PEM).
fn test_ca() -> &'static (tempfile::TempDir, PathBuf, String, String) {
    static CA: OnceLock<(tempfile::TempDir, PathBuf, String, String)> = OnceLock::new();
    CA.get_or_init(|| {
        let (ca_pem, chain, key) = certificates("DMP client test CA");
        let dir = tempfile::tempdir().unwrap();
        let ca_file = dir.path().join("ca.pem");
        std::fs::write(&ca_file, ca_pem).unwrap();
        (dir, ca_file, chain, key)
    })
}

/// (CA PEM, server chain PEM, server key PEM) for localhost and 127.0.0.1, from a new CA.
pub fn certificates(ca_name: &str) -> (String, String, String) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, ca_name);
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
        .unwrap();
    let cert = leaf.signed_by(&key, &ca_cert, &ca_key).unwrap();
    (ca_cert.pem(), cert.pem(), key.serialize_pem())
}

/// The CA file clients of the test servers trust.
pub fn ca_file() -> PathBuf {
    test_ca().1.clone()
}

/// A bare HTTP client (old clients, forgers) that trusts the test CA.
pub fn http() -> reqwest::Client {
    let tls = dmp_client::tls::client_config(Some(&ca_file())).unwrap();
    reqwest::Client::builder()
        .use_preconfigured_tls((*tls).clone())
        .build()
        .unwrap()
}

pub struct Server {
    pub running: Option<RunningServer>,
    pub dir: tempfile::TempDir,
    pub addr: SocketAddr,
    pub url: String,
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
        // The accepted floor keeps the login derivations cheap; every test
        // signs in from 127.0.0.1.
        config.login.kdf_memory_kib = 19 * 1024;
        config.login.kdf_iterations = 2;
        config.login.kdf_parallelism = 1;
        config.rate_limit.auth_per_source_per_minute = 10_000;
        tune(&mut config);
        let (_, _, chain, key) = test_ca();
        std::fs::create_dir_all(config.tls_dir()).unwrap();
        std::fs::write(config.tls_cert_path(), chain).unwrap();
        std::fs::write(config.tls_key_path(), key).unwrap();
        {
            let store = dmp_server::app::open_store(&config).unwrap();
            admin::import(&store, demo::dataset(), config.login.new_account_kdf())
                .await
                .unwrap();
        }
        let clock = OffsetClock::new();
        let running = dmp_server::start(config.clone(), Arc::new(clock.clone()))
            .await
            .unwrap();
        let addr = running.addr;
        let url = running.url();
        Self {
            url,
            running: Some(running),
            dir,
            addr,
            config,
            clock,
        }
    }

    pub fn url(&self) -> String {
        self.url.clone()
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

/// The zero-knowledge login's secret for `who` at `url`: prelogin, then the
/// derivation a client does (accounts are zero-knowledge from creation).
pub async fn zk_secret(http: &reqwest::Client, url: &str, who: (&str, &str)) -> String {
    use base64::Engine;
    let pre: dmp_protocol::api::PreloginResponse = http
        .post(format!("{url}/api/auth/prelogin"))
        .json(&serde_json::json!({"username": who.0}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(pre.scheme, "zk-v1");
    let salt = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(&pre.salt)
        .unwrap();
    let kdf = dmp_crypto::KdfParams {
        memory_kib: pre.kdf.memory_kib,
        iterations: pre.kdf.iterations,
        parallelism: pre.kdf.parallelism,
    };
    dmp_crypto::derive_master_key(who.1, &salt, kdf)
        .unwrap()
        .split()
        .auth_secret
        .to_string()
}

/// Signs in over the raw REST API as an old client would, but with the derived
/// secret: prelogin, derivation, login.
pub async fn raw_login(server: &Server, who: (&str, &str)) -> dmp_protocol::api::TokenResponse {
    let http = http();
    let secret = zk_secret(&http, &server.url(), who).await;
    let res = http
        .post(format!("{}/api/auth/login", server.url()))
        .json(&serde_json::json!({"username": who.0, "password": secret}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

pub fn config(dir: &Path, notifications: bool) -> ClientConfig {
    ClientConfig {
        data_dir: dir.to_owned(),
        notifications,
        on_notification_click: None,
        ca_file: Some(ca_file()),
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
