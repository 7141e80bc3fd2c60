//! Test support: a real server on 127.0.0.1:0 with a temporary data
//! directory and the demo dataset, and small HTTP / WebSocket clients.
#![allow(
    dead_code,
    missing_debug_implementations,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use dmp_server::clock::OffsetClock;
use dmp_server::store::sqlite::Durability;
use dmp_server::{admin, demo, Config, RunningServer};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

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
    Config {
        bind: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.to_owned(),
        durability: Durability::Normal,
        ..Default::default()
    }
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
            admin::import(&store, demo::dataset()).await.unwrap();
        }
        Self::start_in(dir, config).await
    }

    pub async fn start_in(dir: tempfile::TempDir, config: Config) -> Self {
        let clock = OffsetClock::new();
        let server = dmp_server::start(config.clone(), Arc::new(clock.clone()))
            .await
            .unwrap();
        let base = format!("http://{}", server.addr);
        let ws_base = format!("ws://{}", server.addr);
        Self {
            server: Some(server),
            base,
            ws_base,
            dir,
            clock,
            http: reqwest::Client::new(),
            config,
        }
    }

    /// Stops the server, keeping the data directory.
    pub async fn stop(&mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown().await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn login(&self, who: (&str, &str)) -> Login {
        let res = self
            .http
            .post(self.url("/api/auth/login"))
            .json(&json!({"username": who.0, "password": who.1}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "login of {}", who.0);
        let v: Value = res.json().await.unwrap();
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
        let (stream, _) = tokio_tungstenite::connect_async(req).await.unwrap();
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
        let (stream, _) = tokio_tungstenite::connect_async(req).await.unwrap();
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
