//! The end-to-end harness shared by the WebDriver tests (docs/testing-e2e.md):
//! the real server over TLS with a CA made here and the demo data, client
//! cores as extra participants, and real `dmp-desktop` windows, each under
//! its own tauri-driver + WebKitWebDriver, each with its own data dirs, so a
//! test can drive a doctor's window and a patient's window side by side.
//!
//! Focus: Xvfb runs without a window manager, so X gives the keyboard focus
//! to the window under the pointer (`PointerRoot`), and the pointer rests at
//! the centre of the screen. [`App::focus`] moves a window over the centre,
//! [`App::unfocus`] moves it away; WebKit then reports `document.hasFocus()`
//! and fires `focus`/`blur` exactly as on a desktop. WebDriver clicks do not
//! move the pointer, so they never change which window is focused.
//!
//! Every wait is generous (the CI machine is small and shared) and fails
//! loudly: the window's text and a screenshot path in the panic message.
//! Screenshots go to `target/e2e-screenshots/<test>/<window>-<step>.png`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    dead_code,
    unreachable_pub
)]

use dmp_client::{ClientConfig, ClientEvent, DmpClient};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// How long a wait lasts before it fails.
pub const WAIT: Duration = Duration::from_secs(30);
/// The X screen of scripts/with-desktop-services.sh (Xvfb -screen 0 1280x900x24).
pub const SCREEN: (i64, i64) = (1280, 900);

/// The W3C key of an element reference.
pub const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Panics unless the desktop services and WebKitWebDriver are there.
pub fn require_desktop_services() {
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
}

/// The titles of the app's top-level X windows (the native title Rust sets,
/// which `document.title` does not show), from `xwininfo` (x11-utils).
pub fn native_window_titles() -> Vec<String> {
    let out = Command::new("xwininfo")
        .args(["-root", "-tree"])
        .output()
        .expect("xwininfo missing (apt: x11-utils)");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains("(\"dmp-desktop\"") && !l.contains(" 10x10+"))
        .filter_map(|l| {
            let start = l.find('"')? + 1;
            let end = start + l[start..].find("\": (")?;
            Some(l[start..end].to_owned())
        })
        .collect()
}

/// Where the screenshots of `test` go.
pub fn shots_dir(test: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../target/e2e-screenshots")
        .join(test);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.canonicalize().unwrap()
}

/// Writes the whole X screen (`$DISPLAY`, Xvfb's 24-bit TrueColor) to `path` as PNG.
fn screen_png(path: &Path) -> Result<(), String> {
    use x11rb::connection::Connection as _;
    use x11rb::protocol::xproto::{ConnectionExt as _, ImageFormat};
    let (conn, screen) = x11rb::connect(None).map_err(|e| e.to_string())?;
    let root = &conn.setup().roots[screen];
    let (w, h) = (root.width_in_pixels, root.height_in_pixels);
    let reply = conn
        .get_image(ImageFormat::Z_PIXMAP, root.root, 0, 0, w, h, !0)
        .map_err(|e| e.to_string())?
        .reply()
        .map_err(|e| e.to_string())?;
    // 32 bits per pixel, blue-green-red-unused in memory (little-endian TrueColor).
    let pixels = usize::from(w) * usize::from(h);
    if reply.data.len() < pixels * 4 {
        return Err(format!("unexpected image format (depth {})", reply.depth));
    }
    let mut rgb = Vec::with_capacity(pixels * 3);
    for px in reply.data.chunks_exact(4).take(pixels) {
        rgb.extend_from_slice(&[px[2], px[1], px[0]]);
    }
    image::RgbImage::from_raw(u32::from(w), u32::from(h), rgb)
        .ok_or("bad image size")?
        .save(path)
        .map_err(|e| e.to_string())
}

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

/// The real server with the demo data, over TLS.
pub struct TestServer {
    /// `https://127.0.0.1:port`.
    pub url: String,
    /// The CA the apps and cores trust.
    pub ca_file: PathBuf,
    /// The server's clock, which a test may move forward.
    pub clock: dmp_server::clock::OffsetClock,
    server: Option<dmp_server::RunningServer>,
    _data: TempDir,
}

impl TestServer {
    /// Starts it; `tweak` may change the configuration first.
    pub async fn start(tweak: impl FnOnce(&mut dmp_server::Config)) -> Self {
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
        tweak(&mut config);
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
        // The apps trust this CA through their default (DMP_CA_FILE), as
        // ./scripts/run.sh sets it for the demo CA.
        let ca_file = test_ca(&config);
        let clock = dmp_server::clock::OffsetClock::default();
        let server = dmp_server::start(config, Arc::new(clock.clone()))
            .await
            .unwrap();
        let url = server.url();
        assert!(url.starts_with("https://"));
        Self {
            url,
            ca_file,
            clock,
            server: Some(server),
            _data: data,
        }
    }

    /// A participant through the client core (no window), connected.
    pub async fn core(&self, username: &str, password: &str) -> Core {
        let dir = tempfile::tempdir().unwrap();
        let client = DmpClient::login(
            ClientConfig {
                data_dir: dir.path().to_owned(),
                notifications: false,
                on_notification_click: None,
                ca_file: Some(self.ca_file.clone()),
            },
            &self.url,
            username,
            password,
            false,
        )
        .await
        .unwrap();
        client.contexts().await.unwrap();
        let events = client.subscribe();
        client.connect();
        Core {
            client,
            events,
            _dir: dir,
        }
    }

    /// Stops it.
    pub async fn stop(mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown().await;
        }
    }
}

/// A client core with its event stream.
pub struct Core {
    /// The client.
    pub client: DmpClient,
    /// Its events, subscribed before connecting.
    pub events: tokio::sync::broadcast::Receiver<ClientEvent>,
    _dir: TempDir,
}

impl Core {
    /// Waits (30 s) for an event `pick` accepts.
    pub async fn wait_event<T>(
        &mut self,
        what: &str,
        mut pick: impl FnMut(&ClientEvent) -> Option<T>,
    ) -> T {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, self.events.recv()).await {
                Ok(Ok(ev)) => {
                    if let Some(t) = pick(&ev) {
                        return t;
                    }
                }
                Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => {}
                Ok(Err(e)) => panic!("{what}: the core's event stream ended: {e}"),
                Err(_) => panic!("{what}: not seen by the client core within {WAIT:?}"),
            }
        }
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
    // scripts/test.sh installs it under ~/.cache/dmp-tools/bin and puts that on PATH.
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("tauri-driver"))
            .find(|p| p.exists())
    });
    let candidates = [
        on_path,
        std::env::var_os("HOME")
            .map(|h| PathBuf::from(h).join(".cache/dmp-tools/bin/tauri-driver")),
        std::env::var_os("CARGO_HOME").map(|h| PathBuf::from(h).join("bin/tauri-driver")),
        std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo/bin/tauri-driver")),
    ];
    candidates.into_iter().flatten().find(|p| p.exists()).unwrap_or_else(|| {
        panic!("tauri-driver is not installed: scripts/test.sh installs it (cargo install tauri-driver --version ^2 --locked)")
    })
}

/// One real `dmp-desktop` window under its own tauri-driver (its own
/// `--port` and `--native-port`, so several run at once), with its own
/// client data dir, WebKit data/cache/config dirs and downloads dir.
pub struct App {
    /// The WebDriver client of this window.
    pub d: Driver,
    /// Where exports and downloads go (XDG_DOWNLOAD_DIR).
    pub downloads: PathBuf,
    data: TempDir,
    _driver: KillOnDrop,
}

impl App {
    /// Starts the app; `name` ("doctor", "patient") prefixes its screenshots.
    pub async fn launch(server: &TestServer, shots: &Path, name: &str) -> Self {
        let app = PathBuf::from(env!("CARGO_BIN_EXE_dmp-desktop"));
        let data = tempfile::tempdir().unwrap();
        let downloads = data.path().join("downloads");
        let (port, native) = (free_port(), free_port());
        let xdg = |d: &str| data.path().join(d);
        let child = Command::new(tauri_driver())
            .args([
                "--port",
                &port.to_string(),
                "--native-port",
                &native.to_string(),
            ])
            .env("DMP_CLIENT_DATA_DIR", data.path().join("client"))
            .env("DMP_CA_FILE", &server.ca_file)
            .env("XDG_DOWNLOAD_DIR", &downloads)
            // WebKit's local storage, caches and settings: one set per window.
            .env("XDG_DATA_HOME", xdg("xdg-data"))
            .env("XDG_CACHE_HOME", xdg("xdg-cache"))
            .env("XDG_CONFIG_HOME", xdg("xdg-config"))
            .stdout(Stdio::null())
            .stderr(if std::env::var_os("DMP_E2E_DEBUG").is_some() {
                Stdio::inherit()
            } else {
                Stdio::null()
            })
            .spawn()
            .unwrap();
        let driver = KillOnDrop(child);
        let http = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        while http.get(format!("{base}/status")).send().await.is_err() {
            assert!(
                started.elapsed() < WAIT,
                "tauri-driver did not start on port {port}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let caps =
            json!({"capabilities": {"alwaysMatch": {"tauri:options": {"application": app}}}});
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
            .unwrap_or_else(|| panic!("no WebDriver session for {name}: {created}"))
            .to_owned();
        Self {
            d: Driver {
                http,
                base,
                session,
                shots: shots.to_owned(),
                name: name.to_owned(),
            },
            downloads,
            data,
            _driver: driver,
        }
    }

    /// Signs in from the login screen; waits until the login screen is gone.
    pub async fn login(&self, url: &str, username: &str, password: &str) {
        let d = &self.d;
        let server_field = d.wait("input[type=url]").await;
        d.type_in(&server_field, url).await;
        d.type_in(&d.wait("input[autocomplete=username]").await, username)
            .await;
        d.type_in(&d.wait("input[type=password]").await, password)
            .await;
        d.click(&d.wait("button[type=submit]").await).await;
        d.wait_js(
            "the login screen to go away",
            "return !document.querySelector('input[type=password]') && !!document.querySelector('main')",
        )
        .await;
    }

    /// Puts the window at `x` with `width` × 800 px (the pointer stays where it is).
    pub async fn place(&self, x: i64, width: i64) {
        self.d
            .cmd_ok(
                reqwest::Method::POST,
                "/window/rect",
                Some(json!({"x": x, "y": 0, "width": width, "height": 800})),
            )
            .await;
        self.d
            .wait_js_args(
                "the window to take its new width",
                "return window.innerWidth === arguments[0]",
                vec![json!(width)],
            )
            .await;
    }

    /// Gives the window the X focus: moves it over the pointer (the screen's centre).
    pub async fn focus(&self, width: i64) {
        let x = SCREEN.0 / 2 - width / 2;
        self.place(x, width).await;
        self.d
            .wait_js("the window to have the focus", "return document.hasFocus()")
            .await;
    }

    /// Takes the X focus away: moves the window off the pointer, to the left
    /// (`left`) or right half of the screen.
    pub async fn unfocus(&self, left: bool, width: i64) {
        let width = width.min(SCREEN.0 / 2 - 20);
        let x = if left { 0 } else { SCREEN.0 - width };
        self.place(x, width).await;
        self.d
            .wait_js(
                "the window to lose the focus",
                "return !document.hasFocus()",
            )
            .await;
    }

    /// The client data dir of this window.
    pub fn client_dir(&self) -> PathBuf {
        self.data.path().join("client")
    }

    /// Ends the WebDriver session (the app quits), then the driver.
    pub async fn quit(self) {
        let _ = self
            .d
            .http
            .delete(format!("{}/session/{}", self.d.base, self.d.session))
            .send()
            .await;
    }
}

/// A minimal W3C WebDriver client for one window.
pub struct Driver {
    http: reqwest::Client,
    base: String,
    session: String,
    shots: PathBuf,
    name: String,
}

impl Driver {
    /// One WebDriver command; returns its `value` (an error object on failure).
    pub async fn cmd(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/session/{}{}", self.base, self.session, path);
        let mut req = self.http.request(method, url);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let v: Value = req.send().await.unwrap().json().await.unwrap();
        v["value"].clone()
    }

    /// A command that must succeed.
    pub async fn cmd_ok(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let v = self.cmd(method, path, body).await;
        if v.get("error").is_some() {
            self.fail(&format!("WebDriver {path} failed: {v}")).await;
        }
        v
    }

    /// Runs a script (a function body: `arguments`, `return`).
    pub async fn js(&self, script: &str, args: Vec<Value>) -> Value {
        self.cmd_ok(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({"script": script, "args": args})),
        )
        .await
    }

    /// Runs a script that returns an element; returns its reference.
    pub async fn js_element(&self, what: &str, script: &str, args: Vec<Value>) -> String {
        let v = self.js(script, args).await;
        match v[ELEMENT].as_str() {
            Some(e) => e.to_owned(),
            None => self.fail(&format!("{what}: no element ({v})")).await,
        }
    }

    /// Presses Escape in an element.
    pub async fn escape(&self, el: &str) {
        self.send_keys(el, "\u{E00C}").await;
    }

    /// The first element matching a CSS selector, if any.
    pub async fn find(&self, css: &str) -> Option<String> {
        let v = self
            .cmd(
                reqwest::Method::POST,
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        v[ELEMENT].as_str().map(str::to_owned)
    }

    /// Waits for an element (CSS selector).
    pub async fn wait(&self, css: &str) -> String {
        self.wait_using("css selector", css).await
    }

    /// Waits for an element (XPath).
    pub async fn wait_xpath(&self, xpath: &str) -> String {
        self.wait_using("xpath", xpath).await
    }

    async fn wait_using(&self, using: &str, value: &str) -> String {
        let started = Instant::now();
        loop {
            let v = self
                .cmd(
                    reqwest::Method::POST,
                    "/element",
                    Some(json!({"using": using, "value": value})),
                )
                .await;
            if let Some(e) = v[ELEMENT].as_str() {
                return e.to_owned();
            }
            if started.elapsed() > WAIT {
                self.fail(&format!("element not found within {WAIT:?}: {value}"))
                    .await;
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }

    /// Polls `script` until it returns something truthy; returns that.
    pub async fn wait_js(&self, what: &str, script: &str) -> Value {
        self.wait_js_args(what, script, vec![]).await
    }

    /// [`Driver::wait_js`] with arguments.
    pub async fn wait_js_args(&self, what: &str, script: &str, args: Vec<Value>) -> Value {
        let started = Instant::now();
        loop {
            let v = self.js(script, args.clone()).await;
            let truthy = match &v {
                Value::Null => false,
                Value::Bool(b) => *b,
                Value::Number(n) => n.as_f64() != Some(0.0),
                Value::String(s) => !s.is_empty(),
                _ => true,
            };
            if truthy {
                return v;
            }
            if started.elapsed() > WAIT {
                self.fail(&format!(
                    "never true within {WAIT:?}: {what}\n(last value: {v})"
                ))
                .await;
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }

    /// Polls `script` until it returns an object with `ok: true`; the
    /// object's other fields describe the state, shown if it never holds.
    pub async fn wait_ok(&self, what: &str, script: &str, args: Vec<Value>) -> Value {
        let started = Instant::now();
        loop {
            let v = self.js(script, args.clone()).await;
            if v["ok"].as_bool() == Some(true) {
                return v;
            }
            if started.elapsed() > WAIT {
                self.fail(&format!(
                    "never true within {WAIT:?}: {what}\n(last state: {v})"
                ))
                .await;
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }

    /// Waits until the window's text contains `needle`.
    pub async fn wait_text(&self, needle: &str) {
        self.wait_js_args(
            &format!("text {needle:?} on screen"),
            "return document.body.innerText.includes(arguments[0])",
            vec![json!(needle)],
        )
        .await;
    }

    /// Clicks an element.
    pub async fn click(&self, el: &str) {
        self.cmd_ok(
            reqwest::Method::POST,
            &format!("/element/{el}/click"),
            Some(json!({})),
        )
        .await;
    }

    /// Clears a field and types into it (real key events).
    pub async fn type_in(&self, el: &str, text: &str) {
        self.cmd_ok(
            reqwest::Method::POST,
            &format!("/element/{el}/clear"),
            Some(json!({})),
        )
        .await;
        self.send_keys(el, text).await;
    }

    /// Sends keys (or, to a file input, a file path).
    pub async fn send_keys(&self, el: &str, text: &str) {
        self.cmd_ok(
            reqwest::Method::POST,
            &format!("/element/{el}/value"),
            Some(json!({"text": text})),
        )
        .await;
    }

    /// Sets a React-controlled field's value at once (for long texts that
    /// typing key by key would make slow), with the `input` event React listens to.
    pub async fn set_value(&self, el: &str, text: &str) {
        self.js(
            "const el = arguments[0];\
             const proto = el instanceof HTMLTextAreaElement ? HTMLTextAreaElement.prototype : HTMLInputElement.prototype;\
             Object.getOwnPropertyDescriptor(proto, 'value').set.call(el, arguments[1]);\
             el.dispatchEvent(new Event('input', { bubbles: true }));",
            vec![json!({ ELEMENT: el }), json!(text)],
        )
        .await;
    }

    /// An element attribute.
    pub async fn attr(&self, el: &str, name: &str) -> Option<String> {
        self.cmd(
            reqwest::Method::GET,
            &format!("/element/{el}/attribute/{name}"),
            None,
        )
        .await
        .as_str()
        .map(str::to_owned)
    }

    /// The window's title (set by Rust).
    pub async fn title(&self) -> String {
        self.cmd(reqwest::Method::GET, "/title", None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The window's visible text.
    pub async fn page_text(&self) -> String {
        let v = self
            .cmd(
                reqwest::Method::POST,
                "/execute/sync",
                Some(json!({"script": "return document.body.innerText", "args": []})),
            )
            .await;
        v.as_str().unwrap_or_default().to_owned()
    }

    /// Saves a screenshot of the X screen (the windows as a person sees them)
    /// as `<window>-<step>.png`; returns its path. Not WebDriver's screenshot:
    /// it goes through WebKitGTK's snapshot API, which never answers when the
    /// web view paints in software, the app's default (docs/desktop-ipc.md,
    /// "Memory").
    pub async fn shot(&self, step: &str) -> PathBuf {
        let path = self.shots.join(format!("{}-{step}.png", self.name));
        let target = path.clone();
        let saved = tokio::task::spawn_blocking(move || screen_png(&target)).await;
        if let Ok(Err(e)) | Err(e) = saved.map_err(|e| e.to_string()) {
            eprintln!("screenshot {} not saved: {e}", path.display());
        }
        path
    }

    /// Waits until the app's native window title starts with `prefix`
    /// (one app window on the display).
    pub async fn wait_native_title(&self, prefix: &str) {
        let started = Instant::now();
        loop {
            let titles = native_window_titles();
            if titles.iter().any(|t| t.starts_with(prefix)) {
                return;
            }
            if started.elapsed() > WAIT {
                self.fail(&format!(
                    "the native window title never started with {prefix:?}: {titles:?}"
                ))
                .await;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Fails the test with a screenshot and the window's text.
    pub async fn fail(&self, why: &str) -> ! {
        let shot = self.shot("failure").await;
        panic!(
            "[{} window] {why}\nscreenshot: {}\ntitle: {}\nwindow text:\n{}",
            self.name,
            shot.display(),
            self.title().await,
            self.page_text().await
        );
    }

    /// Asserts `ok`, else fails like [`Driver::fail`].
    pub async fn check(&self, ok: bool, why: &str) {
        if !ok {
            self.fail(why).await;
        }
    }
}

/// An element reference for script arguments.
pub fn el_arg(el: &str) -> Value {
    json!({ ELEMENT: el })
}
