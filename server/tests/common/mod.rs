//! Test support: a real server on 127.0.0.1:0 with a temporary data
//! directory and the demo dataset, served over TLS with a certificate from a
//! CA made by the test, and small HTTP / WebSocket clients that trust that CA.
#![allow(
    dead_code,
    missing_debug_implementations,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use dmp_server::clock::OffsetClock;
use dmp_server::store::sqlite::Durability;
use dmp_server::{admin, demo, Config, RunningServer};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};

pub const PATIENT: (&str, &str) = ("jean.dupont", demo::PATIENT_PASSWORD); // patient_123
pub const DOCTOR: (&str, &str) = ("dr.martin", demo::DOCTOR_PASSWORD); // medecin_456, doctor of ord_789
pub const OTHER_PATIENT: (&str, &str) = ("camille.petit", demo::PATIENT_PASSWORD); // patient_126
pub const OTHER_DOCTOR: (&str, &str) = ("dr.benali", demo::DOCTOR_PASSWORD); // medecin_458
pub const ADMIN: (&str, &str) = ("admin", demo::ADMIN_PASSWORD); // admin_001

/// A running server with its data directory and movable clock.
pub struct TestServer {
    pub server: Option<RunningServer>,
    pub base: String,
    pub ws_base: String,
    pub dir: tempfile::TempDir,
    pub clock: OffsetClock,
    pub http: reqwest::Client,
    pub config: Config,
    /// Client TLS configuration trusting the test CA.
    pub tls: Arc<rustls::ClientConfig>,
    /// The test CA's certificate (PEM), for clients that take a file.
    pub ca_file: PathBuf,
}

/// Makes a CA and a server certificate signed by it (localhost, 127.0.0.1),
/// written where the server looks by default (`<data_dir>/tls/server.pem`,
/// `server.key`); the CA certificate goes to `<data_dir>/tls/test-ca.pem`.
pub fn install_test_ca(config: &Config) -> PathBuf {
    let (ca_pem, chain, key) = test_certificates("DMP test CA", &["localhost", "127.0.0.1"]);
    let dir = config.tls_dir();
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(config.tls_cert_path(), chain).unwrap();
    std::fs::write(config.tls_key_path(), key).unwrap();
    let ca_file = dir.join("test-ca.pem");
    std::fs::write(&ca_file, ca_pem).unwrap();
    ca_file
}

/// (CA PEM, server chain PEM, server key PEM) from a new CA named `ca_name`.
pub fn test_certificates(ca_name: &str, names: &[&str]) -> (String, String, String) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, ca_name);
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let leaf =
        rcgen::CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())
            .unwrap();
    let cert = leaf.signed_by(&key, &ca_cert, &ca_key).unwrap();
    (ca_cert.pem(), cert.pem(), key.serialize_pem())
}

/// A rustls client configuration that trusts only the CA in `ca_file`.
pub fn client_tls(ca_file: &Path) -> Arc<rustls::ClientConfig> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls::pki_types::CertificateDer::pem_file_iter(ca_file).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

/// An HTTP client that trusts only `tls`'s roots.
pub fn http_client(tls: &Arc<rustls::ClientConfig>) -> reqwest::Client {
    reqwest::Client::builder()
        .use_preconfigured_tls((**tls).clone())
        .build()
        .unwrap()
}

/// Opens a WebSocket trusting `tls`'s roots (wss://) or in clear (ws://).
pub async fn ws_connect(
    tls: &Arc<rustls::ClientConfig>,
    req: impl IntoClientRequest + Unpin,
) -> Result<WebSocketStream<MaybeTlsStream<TcpStream>>, tokio_tungstenite::tungstenite::Error> {
    tokio_tungstenite::connect_async_tls_with_config(
        req,
        None,
        false,
        Some(Connector::Rustls(tls.clone())),
    )
    .await
    .map(|(s, _)| s)
}

/// A signed-in user.
#[derive(Clone, Debug)]
pub struct Login {
    pub access: String,
    pub refresh: String,
    pub user_id: String,
    pub user_type: String,
}

pub fn test_config(dir: &std::path::Path) -> Config {
    let mut c = Config {
        bind: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.to_owned(),
        durability: Durability::Normal,
        metrics_bind: Some("127.0.0.1:0".parse().unwrap()),
        ..Default::default()
    };
    // The accepted floor (19 MiB, t=2, p=1) keeps derivations cheap in tests.
    c.login.kdf_memory_kib = 19 * 1024;
    c.login.kdf_iterations = 2;
    c.login.kdf_parallelism = 1;
    // Every test logs in from 127.0.0.1; the per-source tests lower it again.
    c.rate_limit.auth_per_source_per_minute = 10_000;
    c
}

/// What `/api/auth/login` takes as the password after `prelogin`: the
/// authentication secret derived as a client does for `zk-v1`, the password
/// itself for `legacy`.
pub async fn derive_credential(pre: &Value, password: &str) -> String {
    if pre["scheme"] != "zk-v1" {
        return password.to_owned();
    }
    let salt = B64.decode(pre["salt"].as_str().unwrap()).unwrap();
    let kdf = dmp_crypto::KdfParams {
        memory_kib: pre["kdf"]["memoryKib"].as_u64().unwrap() as u32,
        iterations: pre["kdf"]["iterations"].as_u64().unwrap() as u32,
        parallelism: pre["kdf"]["parallelism"].as_u64().unwrap() as u32,
    };
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || {
        dmp_crypto::derive_master_key(&password, &salt, kdf)
            .unwrap()
            .split()
            .auth_secret
            .to_string()
    })
    .await
    .unwrap()
}

/// The operator's migration mode (`require_e2e = false`, docs/security.md):
/// tests about messaging mechanics send clear text; the end-to-end rule itself
/// is tested with the default configuration.
pub fn migration_mode(c: &mut Config) {
    c.require_e2e = false;
}

impl TestServer {
    /// A server with the default configuration (end-to-end required).
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// A server in migration mode, for tests that send clear text.
    pub async fn start_migration() -> Self {
        Self::start_with(migration_mode).await
    }

    pub async fn start_with(f: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut config = test_config(dir.path());
        f(&mut config);
        {
            let store = dmp_server::app::open_store(&config).unwrap();
            admin::import(&store, demo::dataset(), config.login.new_account_kdf())
                .await
                .unwrap();
        }
        Self::start_in(dir, config).await
    }

    pub async fn start_in(dir: tempfile::TempDir, config: Config) -> Self {
        let ca_file = config.tls_dir().join("test-ca.pem");
        if !ca_file.exists() {
            install_test_ca(&config);
        }
        let tls = client_tls(&ca_file);
        let clock = OffsetClock::new();
        let server = dmp_server::start(config.clone(), Arc::new(clock.clone()))
            .await
            .unwrap();
        let base = server.url();
        let ws_base = base.replacen("http", "ws", 1);
        Self {
            server: Some(server),
            base,
            ws_base,
            dir,
            clock,
            http: http_client(&tls),
            config,
            tls,
            ca_file,
        }
    }

    /// Opens a WebSocket to this server with `req` (its URL under `ws_base`).
    pub async fn ws_connect(
        &self,
        req: impl IntoClientRequest + Unpin,
    ) -> Result<WebSocketStream<MaybeTlsStream<TcpStream>>, tokio_tungstenite::tungstenite::Error>
    {
        ws_connect(&self.tls, req).await
    }

    /// Stops the server, keeping the data directory.
    pub async fn stop(&mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown().await;
        }
    }

    /// `/metrics` on the separate metrics listener.
    pub fn metrics_url(&self) -> String {
        let addr = self.server.as_ref().and_then(|s| s.metrics_addr).unwrap();
        format!("http://{addr}/metrics")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Signs in as a client does: prelogin, derivation, login.
    pub async fn login(&self, who: (&str, &str)) -> Login {
        let secret = self.credential(who.0, who.1).await;
        self.login_raw(who.0, &secret).await
    }

    /// What the login of `username` with `password` sends (prelogin + derivation).
    pub async fn credential(&self, username: &str, password: &str) -> String {
        let (st, pre) = self
            .post("/api/auth/prelogin", None, json!({"username": username}))
            .await;
        assert_eq!(st, 200, "prelogin of {username}: {pre}");
        derive_credential(&pre, password).await
    }

    /// Signs in with exactly this credential (no prelogin).
    pub async fn login_raw(&self, username: &str, credential: &str) -> Login {
        let (st, v) = self
            .post(
                "/api/auth/login",
                None,
                json!({"username": username, "password": credential}),
            )
            .await;
        assert_eq!(st, 200, "login of {username}: {v}");
        Login {
            access: v["accessToken"].as_str().unwrap().into(),
            refresh: v["refreshToken"].as_str().unwrap().into(),
            user_id: v["user"]["id"].as_str().unwrap().into(),
            user_type: v["user"]["type"].as_str().unwrap().into(),
        }
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        let mut req = self.http.get(self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        into_parts(req.send().await.unwrap()).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (u16, Value) {
        let mut req = self.http.post(self.url(path)).json(&body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        into_parts(req.send().await.unwrap()).await
    }

    pub async fn patch(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        let mut req = self.http.patch(self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        into_parts(req.send().await.unwrap()).await
    }

    pub async fn patch_json(&self, path: &str, token: Option<&str>, body: Value) -> (u16, Value) {
        let mut req = self.http.patch(self.url(path)).json(&body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        into_parts(req.send().await.unwrap()).await
    }

    /// The metrics listener's exposition text.
    pub async fn metrics(&self) -> String {
        self.http
            .get(self.metrics_url())
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    pub async fn delete(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        let mut req = self.http.delete(self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        into_parts(req.send().await.unwrap()).await
    }

    /// Sends a text message through REST.
    pub async fn send(
        &self,
        login: &Login,
        context: (&str, &str),
        cmid: &str,
        content: &str,
    ) -> (u16, Value) {
        self.post(
            "/api/messaging/send",
            Some(&login.access),
            json!({"clientMessageId": cmid, "contextType": context.0, "contextId": context.1, "content": content}),
        )
        .await
    }

    /// Opens a socket authenticated by header and waits for `ready`.
    pub async fn ws(&self, login: &Login) -> Ws {
        let mut req = format!("{}/api/messaging/ws", self.ws_base)
            .into_client_request()
            .unwrap();
        req.headers_mut().insert(
            "authorization",
            format!("Bearer {}", login.access).parse().unwrap(),
        );
        let stream = self.ws_connect(req).await.unwrap();
        let mut ws = Ws { stream };
        let ready = ws.next_of("ready").await;
        assert_eq!(ready["user"]["id"], login.user_id.as_str());
        ws
    }

    /// Opens a socket without authentication.
    pub async fn ws_raw(&self) -> Ws {
        let req = format!("{}/api/messaging/ws", self.ws_base)
            .into_client_request()
            .unwrap();
        let stream = self.ws_connect(req).await.unwrap();
        Ws { stream }
    }

    pub fn database(&self) -> std::path::PathBuf {
        self.config.database_path()
    }
}

pub async fn into_parts(res: reqwest::Response) -> (u16, Value) {
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    let v = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, v)
}

/// Asserts the error contract and returns the code.
pub fn error_code(v: &Value) -> &str {
    let code = v["error"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("not an error body: {v}"));
    assert!(
        v["error"]["message"].is_string(),
        "error without message: {v}"
    );
    code
}

pub const ORD: (&str, &str) = ("ordonnance", "ord_789");

/// A test WebSocket client.
pub struct Ws {
    pub stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

/// What the next event on a socket was.
#[derive(Debug)]
pub enum Event {
    Frame(Value),
    Closed(Option<u16>),
}

impl Ws {
    pub async fn send(&mut self, v: Value) {
        self.stream
            .send(Message::Text(v.to_string().into()))
            .await
            .unwrap();
    }

    pub async fn send_text(&mut self, s: &str) {
        self.stream
            .send(Message::Text(s.to_owned().into()))
            .await
            .unwrap();
    }

    /// The next JSON frame or the close, within `secs`.
    pub async fn event(&mut self, secs: u64) -> Option<Event> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            let next = tokio::time::timeout_at(deadline, self.stream.next())
                .await
                .ok()?;
            match next {
                Some(Ok(Message::Text(t))) => {
                    return Some(Event::Frame(serde_json::from_str(&t).unwrap()))
                }
                Some(Ok(Message::Close(f))) => {
                    return Some(Event::Closed(f.map(|f| u16::from(f.code))))
                }
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return Some(Event::Closed(None)),
            }
        }
    }

    /// The next frame of type `t`, skipping others (5 s).
    pub async fn next_of(&mut self, t: &str) -> Value {
        loop {
            match self.event(5).await {
                Some(Event::Frame(v)) if v["type"] == t => return v,
                Some(Event::Frame(_)) => continue,
                other => panic!("waiting for {t}, got {other:?}"),
            }
        }
    }

    /// Frames of type `t` that arrive within `ms`, skipping others.
    pub async fn collect_of(&mut self, t: &str, ms: u64) -> Vec<Value> {
        let mut out = vec![];
        let deadline = tokio::time::Instant::now() + Duration::from_millis(ms);
        while let Ok(next) = tokio::time::timeout_at(deadline, self.stream.next()).await {
            match next {
                Some(Ok(Message::Text(t2))) => {
                    let v: Value = serde_json::from_str(&t2).unwrap();
                    if v["type"] == t {
                        out.push(v);
                    }
                }
                Some(Ok(_)) => continue,
                _ => break,
            }
        }
        out
    }

    /// Waits for the close and returns its code.
    pub async fn closed(&mut self, secs: u64) -> Option<u16> {
        loop {
            match self.event(secs).await {
                Some(Event::Closed(code)) => return code,
                Some(Event::Frame(_)) => continue,
                None => panic!("socket not closed within {secs} s"),
            }
        }
    }

    pub async fn send_message(
        &mut self,
        context: (&str, &str),
        cmid: &str,
        content: &str,
    ) -> Value {
        self.send(json!({"type":"send","clientMessageId":cmid,"contextType":context.0,"contextId":context.1,"content":content}))
            .await;
        loop {
            let v = self.next_of_any(&["ack", "error"]).await;
            if v["clientMessageId"] == cmid {
                return v;
            }
        }
    }

    pub async fn next_of_any(&mut self, types: &[&str]) -> Value {
        loop {
            match self.event(5).await {
                Some(Event::Frame(v)) if types.iter().any(|t| v["type"] == *t) => return v,
                Some(Event::Frame(_)) => continue,
                other => panic!("waiting for {types:?}, got {other:?}"),
            }
        }
    }
}

pub fn close_code(c: CloseCode) -> u16 {
    u16::from(c)
}

/// Polls `f` until it returns true (10 s), for effects of background jobs.
pub async fn eventually<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..200 {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for: {what}");
}

pub async fn upload(s: &TestServer, who: &Login, name: &str, bytes: &[u8]) -> (u16, Value) {
    let part = reqwest::multipart::Part::bytes(bytes.to_vec()).file_name(name.to_owned());
    let form = reqwest::multipart::Form::new().part("file", part);
    let res = s
        .http
        .post(s.url("/api/messaging/attachments"))
        .bearer_auth(&who.access)
        .multipart(form)
        .send()
        .await
        .unwrap();
    into_parts(res).await
}
