//! End to end in the real app: the real server with the demo data, the real
//! `dmp-desktop` binary in a WebKitGTK window under Xvfb, driven through
//! WebDriver (tauri-driver + WebKitWebDriver). A patient signs in, opens an
//! ordonnance, presses the messaging button and writes; the doctor (the
//! client core, as the doctor's app would) receives it, types and answers;
//! the patient's window shows the typing indicator, ✓✓ and the answer.
//! Screenshots of the key screens go to `target/e2e-screenshots/`; the test
//! asserts on the DOM, never on pixels.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use base64::Engine;
use dmp_client::{ClientConfig, ClientEvent, DmpClient};
use dmp_protocol::*;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

/// Makes a CA and a server certificate it signs (127.0.0.1) in the server's
/// default places; returns the CA file.
fn test_ca(config: &dmp_server::Config) -> PathBuf {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "DMP desktop test CA");
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&key, &ca_cert, &ca_key)
        .unwrap();
    std::fs::create_dir_all(config.tls_dir()).unwrap();
    std::fs::write(config.tls_cert_path(), cert.pem()).unwrap();
    std::fs::write(config.tls_key_path(), key.serialize_pem()).unwrap();
    let ca_file = config.tls_dir().join("test-ca.pem");
    std::fs::write(&ca_file, ca_cert.pem()).unwrap();
    ca_file
}

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A minimal W3C WebDriver client.
struct Driver {
    http: reqwest::Client,
    base: String,
    session: String,
    shots: PathBuf,
}

impl Driver {
    async fn cmd(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/session/{}{}", self.base, self.session, path);
        let mut req = self.http.request(method, url);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let v: Value = req.send().await.unwrap().json().await.unwrap();
        v["value"].clone()
    }

    async fn find(&self, using: &str, value: &str) -> Option<String> {
        let v = self
            .cmd(
                reqwest::Method::POST,
                "/element",
                Some(json!({"using": using, "value": value})),
            )
            .await;
        if std::env::var_os("DMP_E2E_DEBUG").is_some() {
            eprintln!("find {value}: {v}");
        }
        v[ELEMENT].as_str().map(str::to_owned)
    }

    /// Waits (20 s) for an element.
    async fn wait(&self, using: &str, value: &str) -> String {
        for _ in 0..200 {
            if let Some(e) = self.find(using, value).await {
                return e;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.shot("failure").await;
        panic!(
            "element not found: {value}\nDOM: {}",
            self.page_text().await
        );
    }

    async fn click(&self, el: &str) {
        self.cmd(
            reqwest::Method::POST,
            &format!("/element/{el}/click"),
            Some(json!({})),
        )
        .await;
    }

    async fn type_in(&self, el: &str, text: &str) {
        self.cmd(
            reqwest::Method::POST,
            &format!("/element/{el}/clear"),
            Some(json!({})),
        )
        .await;
        self.cmd(
            reqwest::Method::POST,
            &format!("/element/{el}/value"),
            Some(json!({"text": text})),
        )
        .await;
    }

    async fn attr(&self, el: &str, name: &str) -> Option<String> {
        self.cmd(
            reqwest::Method::GET,
            &format!("/element/{el}/attribute/{name}"),
            None,
        )
        .await
        .as_str()
        .map(str::to_owned)
    }

    async fn page_text(&self) -> String {
        let v = self
            .cmd(
                reqwest::Method::POST,
                "/execute/sync",
                Some(json!({"script": "return document.body.innerText", "args": []})),
            )
            .await;
        v.as_str().unwrap_or_default().to_owned()
    }

    async fn shot(&self, name: &str) {
        let v = self.cmd(reqwest::Method::GET, "/screenshot", None).await;
        if let Some(b64) = v.as_str() {
            let png = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .unwrap();
            std::fs::create_dir_all(&self.shots).unwrap();
            std::fs::write(self.shots.join(format!("{name}.png")), png).unwrap();
        }
    }

    async fn wait_text(&self, needle: &str) {
        for _ in 0..200 {
            if self.page_text().await.contains(needle) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.shot("failure").await;
        panic!(
            "text never appeared: {needle}\nDOM: {}",
            self.page_text().await
        );
    }
}

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn tauri_driver() -> PathBuf {
    let candidates = [
        std::env::var_os("CARGO_HOME").map(|h| PathBuf::from(h).join("bin/tauri-driver")),
        std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo/bin/tauri-driver")),
    ];
    candidates.into_iter().flatten().find(|p| p.exists()).unwrap_or_else(|| {
        panic!("tauri-driver is not installed: scripts/test.sh installs it (cargo install tauri-driver --version ^2 --locked)")
    })
}

#[tokio::test]
async fn patient_writes_from_the_real_window_and_sees_the_doctors_reply() {
    assert!(
        std::env::var_os("DMP_DESKTOP_SERVICES").is_some() && std::env::var_os("DISPLAY").is_some(),
        "run through scripts/with-desktop-services.sh (Xvfb, D-Bus, Secret Service, notification daemon)"
    );
    assert!(
        Command::new("which")
            .arg("WebKitWebDriver")
            .output()
            .unwrap()
            .status
            .success(),
        "WebKitWebDriver missing (apt: webkit2gtk-driver)"
    );
    let app = PathBuf::from(env!("CARGO_BIN_EXE_dmp-desktop"));

    // The real server with the demo data.
    let data = tempfile::tempdir().unwrap();
    let mut config = dmp_server::Config {
        bind: "127.0.0.1:0".parse().unwrap(),
        data_dir: data.path().to_owned(),
        durability: dmp_server::store::sqlite::Durability::Normal,
        metrics_bind: None,
        ..Default::default()
    };
    // The accepted floor keeps the login derivations cheap.
    config.login.kdf_memory_kib = 19 * 1024;
    config.login.kdf_iterations = 2;
    config.login.kdf_parallelism = 1;
    {
        let store = dmp_server::app::open_store(&config).unwrap();
        dmp_server::admin::import(
            &store,
            dmp_server::demo::dataset(),
            config.login.new_account_kdf(),
        )
        .await
        .unwrap();
    }
    // Over TLS, with a certificate from a CA made here; the app trusts that CA
    // through its default (DMP_CA_FILE), as ./scripts/run.sh sets it for the demo CA.
    let ca_file = test_ca(&config);
    let server = dmp_server::start(config, Arc::new(dmp_server::clock::SystemClock))
        .await
        .unwrap();
    let url = server.url();
    assert!(url.starts_with("https://"));

    // The doctor, through the client core.
    let doctor_dir = tempfile::tempdir().unwrap();
    let doctor = DmpClient::login(
        ClientConfig {
            data_dir: doctor_dir.path().to_owned(),
            notifications: false,
            on_notification_click: None,
            ca_file: Some(ca_file.clone()),
        },
        &url,
        "dr.martin",
        dmp_server::demo::DOCTOR_PASSWORD,
        false,
    )
    .await
    .unwrap();
    doctor.contexts().await.unwrap();
    let mut doctor_events = doctor.subscribe();
    doctor.connect();

    // The patient's app under WebDriver.
    let app_data = tempfile::tempdir().unwrap();
    let (port, native) = (free_port(), free_port());
    let _driver = KillOnDrop(
        Command::new(tauri_driver())
            .args([
                "--port",
                &port.to_string(),
                "--native-port",
                &native.to_string(),
            ])
            .env("DMP_CLIENT_DATA_DIR", app_data.path())
            .env("DMP_CA_FILE", &ca_file)
            .env("XDG_DOWNLOAD_DIR", app_data.path().join("downloads"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    for _ in 0..100 {
        if http.get(format!("{base}/status")).send().await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let caps = json!({"capabilities": {"alwaysMatch": {"tauri:options": {"application": app}}}});
    let created: Value = http
        .post(format!("{base}/session"))
        .json(&caps)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let session = created["value"]["sessionId"]
        .as_str()
        .unwrap_or_else(|| panic!("no WebDriver session: {created}"))
        .to_owned();
    let shots = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/e2e-screenshots");
    let d = Driver {
        http: http.clone(),
        base: base.clone(),
        session,
        shots,
    };

    // 1. Login.
    let server_field = d.wait("css selector", "input[type=url]").await;
    d.shot("01-login").await;
    d.type_in(&server_field, &url).await;
    d.type_in(
        &d.wait("css selector", "input[autocomplete=username]").await,
        "jean.dupont",
    )
    .await;
    d.type_in(
        &d.wait("css selector", "input[type=password]").await,
        dmp_server::demo::PATIENT_PASSWORD,
    )
    .await;
    d.click(&d.wait("css selector", "button[type=submit]").await)
        .await;

    // 2. Mon DMP: the ordonnance and its messaging button.
    d.wait_text("Ordonnance du 12/01/2026").await;
    d.wait_text("Historique médical").await;
    d.shot("02-patient-home").await;
    let button = d.wait("xpath", "//button[contains(., \"Questions sur l\u{2019}ordonnance\") or contains(., \"Questions sur l'ordonnance\")]").await;
    d.click(&button).await;

    // 3. The conversation: write and send.
    let textarea = d.wait("css selector", "[role=dialog] textarea").await;
    d.wait_text("Dr. Sophie Martin").await;
    d.shot("03-conversation-open").await;
    let question = "Bonjour docteur, puis-je prendre l'amoxicilline pendant le repas ?";
    d.type_in(&textarea, question).await;
    d.click(
        &d.wait("css selector", "[role=dialog] button[aria-label=Envoyer]")
            .await,
    )
    .await;

    // 4. The doctor receives it, types, reads it and answers.
    let received = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            if let Ok(ClientEvent::Message { message }) = doctor_events.recv().await {
                if message.content == question {
                    return message;
                }
            }
        }
    })
    .await
    .expect("the doctor never received the message");
    assert_eq!(received.sender.id.as_str(), "patient_123");
    doctor.typing(ContextType::Ordonnance, &ContextId::new("ord_789"), true);
    d.wait("css selector", "[data-testid=typing-indicator]")
        .await;
    d.wait_text("Dr. Sophie Martin est en train d'écrire").await;
    d.shot("04-doctor-typing").await;
    doctor.mark_read(&received.id).await.unwrap();
    let reply = "Oui, prenez-le au début du repas.";
    doctor
        .send(
            ContextType::Ordonnance,
            &ContextId::new("ord_789"),
            reply,
            MessageMetadata::default(),
            vec![],
        )
        .await
        .unwrap();
    d.wait_text(reply).await;
    let read_tick = d
        .wait("css selector", "[role=dialog] [data-status=read]")
        .await;
    assert!(d.attr(&read_tick, "aria-label").await.is_some());
    d.shot("05-reply-and-read").await;
    let text = d.page_text().await;
    assert!(text.contains(question) && text.contains(reply), "{text}");

    let _ = http
        .delete(format!("{base}/session/{}", d.session))
        .send()
        .await;
    doctor.disconnect().await;
    server.shutdown().await;
}
