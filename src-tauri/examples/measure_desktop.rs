//! Measures the desktop app as a person uses it (docs/benchmarks: BENCHMARKS.md
//! "Desktop app"): the time from process spawn to a usable login form, and the
//! memory (RSS and PSS) of `dmp-desktop` and every process it starts (the
//! WebKitGTK web and network processes) at the login screen, after login, with
//! a 5,000-message conversation open, during and after minutes of live traffic,
//! and with the whole conversation scrolled into the page.
//!
//! Not a test: it asserts nothing about speed. Run it through
//! `scripts/measure-desktop.sh`, which builds everything in release and starts
//! the desktop services (Xvfb, D-Bus, Secret Service, notification daemon).
//!
//! Method:
//! - The real server (release, in this process) with the demo data, over TLS
//!   with a CA made here, with its send and frame rate limits raised so that
//!   seeding 5,000 messages is not throttled.
//! - The real `dmp-desktop` binary started by tauri-driver/WebKitWebDriver, as
//!   in `src-tauri/tests/desktop_e2e.rs`, signed in as the patient Jean Dupont.
//! - Start time: the kernel's start time of the `dmp-desktop` process
//!   (`/proc/PID/stat`, 10 ms ticks since boot) against `/proc/uptime` at the
//!   moment WebDriver first finds the login form's server field with the
//!   submit button enabled (polled every 10 ms). `performance.now()` in the page
//!   at that moment splits it into native start (spawn → navigation start) and
//!   page (navigation → form).
//! - Start time as a person sees it: the app started directly (no WebDriver,
//!   whose automation session adds its own work to the start), its own
//!   `start: first screen usable ms=…` log line read from stderr: the window
//!   calls `window_ready` once the login form is rendered and usable, and the
//!   shell measures from the kernel's start time of its process
//!   (docs/desktop-ipc.md, "Start"). MEASURE_DIRECT_RUNS launches in a row.
//! - Memory: `/proc/PID/smaps_rollup` of `dmp-desktop` and all its descendants
//!   (found through the parent links in `/proc/*/stat`). PSS divides shared
//!   pages between the processes that map them, so the PSS total is what the
//!   app costs the machine; the RSS total counts shared libraries once per
//!   process.
//! - Seeding: the patient signs in once through the client core (to publish
//!   keys), then Dr. Martin (client core) sends the messages into
//!   "Ordonnance du 12/01/2026", end-to-end encrypted, 16 in flight.
//! - Traffic: Dr. Martin writes into the open conversation every
//!   MEASURE_MARTIN_EVERY_SECS, Dr. Moreau into the patient's other record
//!   every MEASURE_MOREAU_EVERY_SECS, both mark what the patient sends read;
//!   the window answers every MEASURE_WINDOW_EVERY_SECS through WebDriver.
//!
//! Knobs (environment): MEASURE_APP (the dmp-desktop binary, required),
//! MEASURE_TRAFFIC_SECS (600), MEASURE_SEED (5000), MEASURE_START_RUNS (5),
//! MEASURE_DIRECT_RUNS (10),
//! MEASURE_SETTLE_SECS (5), MEASURE_SAMPLE_EVERY_SECS (60),
//! MEASURE_MARTIN_EVERY_SECS (6), MEASURE_MOREAU_EVERY_SECS (15),
//! MEASURE_WINDOW_EVERY_SECS (30), MEASURE_SCROLL_ALL (1), MEASURE_SCROLL_SECS (300,
//! the longest time spent scrolling up).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use dmp_client::{ClientConfig, ClientEvent, DmpClient};
use dmp_protocol::*;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";
const PATIENT: &str = "jean.dupont";
const OPEN_CONTEXT: &str = "ord_789";
const OTHER_CONTEXT: &str = "exa_101";

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

// ---------------------------------------------------------------- /proc

/// Seconds since boot, as the kernel counts process start times.
fn uptime_secs() -> f64 {
    let s = std::fs::read_to_string("/proc/uptime").unwrap();
    s.split_whitespace().next().unwrap().parse().unwrap()
}

fn clock_ticks() -> f64 {
    let out = Command::new("getconf").arg("CLK_TCK").output();
    out.ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// (ppid, start time in ticks since boot) of a process.
fn stat(pid: u32) -> Option<(u32, u64)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: fields start after the last ')'.
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some((f.get(1)?.parse().ok()?, f.get(19)?.parse().ok()?))
}

fn name(pid: u32) -> String {
    let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let first = cmd.split(|b| *b == 0).next().unwrap_or_default();
    let s = String::from_utf8_lossy(first);
    Path::new(s.as_ref())
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| format!("pid {pid}"))
}

fn descendants(root: u32) -> Vec<u32> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) {
            if let Some((ppid, _)) = stat(pid) {
                children.entry(ppid).or_default().push(pid);
            }
        }
    }
    let mut out = vec![];
    let mut todo = vec![root];
    while let Some(p) = todo.pop() {
        for c in children.get(&p).cloned().unwrap_or_default() {
            out.push(c);
            todo.push(c);
        }
    }
    out
}

/// The `dmp-desktop` process under tauri-driver.
fn find_app(driver_pid: u32) -> Option<u32> {
    descendants(driver_pid)
        .into_iter()
        .find(|p| name(*p) == "dmp-desktop")
}

#[derive(Debug, Default, Clone, Copy)]
struct Mem {
    rss_kb: u64,
    pss_kb: u64,
    private_kb: u64,
    anon_kb: u64,
}

fn mem(pid: u32) -> Option<Mem> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    let mut m = Mem::default();
    for line in s.lines() {
        let mut it = line.split_whitespace();
        let (Some(k), Some(v)) = (it.next(), it.next()) else {
            continue;
        };
        let v: u64 = v.parse().unwrap_or(0);
        match k {
            "Rss:" => m.rss_kb = v,
            "Pss:" => m.pss_kb = v,
            "Private_Clean:" | "Private_Dirty:" => m.private_kb += v,
            "Anonymous:" => m.anon_kb = v,
            _ => {}
        }
    }
    Some(m)
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

fn mb(kb: u64) -> String {
    format!("{:.1}", kb as f64 / 1024.0)
}

/// One memory sample of the app and its process tree, printed, and kept for the summary.
struct Sample {
    phase: String,
    total: Mem,
    parts: Vec<(String, Mem)>,
    load: String,
}

fn sample(app: u32, phase: &str) -> Sample {
    let mut pids = vec![app];
    pids.extend(descendants(app));
    let mut parts: Vec<(String, Mem)> = vec![];
    let mut total = Mem::default();
    for p in pids {
        if let Some(m) = mem(p) {
            total.rss_kb += m.rss_kb;
            total.pss_kb += m.pss_kb;
            total.private_kb += m.private_kb;
            total.anon_kb += m.anon_kb;
            parts.push((name(p), m));
        }
    }
    let s = Sample {
        phase: phase.to_owned(),
        total,
        parts,
        load: loadavg(),
    };
    let detail: Vec<String> = s
        .parts
        .iter()
        .map(|(n, m)| {
            format!(
                "{n} rss {} pss {} anon {}",
                mb(m.rss_kb),
                mb(m.pss_kb),
                mb(m.anon_kb)
            )
        })
        .collect();
    println!(
        "memory  {:<32} PSS {:>7} MB  RSS {:>7} MB  anonymous {:>7} MB  private {:>7} MB  [{}]  load {}",
        s.phase,
        mb(total.pss_kb),
        mb(total.rss_kb),
        mb(total.anon_kb),
        mb(total.private_kb),
        detail.join("; "),
        s.load
    );
    s
}

// ---------------------------------------------------------------- WebDriver

/// A minimal W3C WebDriver client (as in tests/desktop_e2e.rs).
struct Driver {
    http: reqwest::Client,
    base: String,
    session: String,
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
        v[ELEMENT].as_str().map(str::to_owned)
    }

    async fn wait_for(&self, using: &str, value: &str, secs: u64) -> String {
        let end = Instant::now() + Duration::from_secs(secs);
        while Instant::now() < end {
            if let Some(e) = self.find(using, value).await {
                return e;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "element not found: {value}\nDOM: {}",
            self.page_text().await
        );
    }

    async fn wait(&self, using: &str, value: &str) -> String {
        self.wait_for(using, value, 60).await
    }

    async fn click(&self, el: &str) {
        self.cmd(
            reqwest::Method::POST,
            &format!("/element/{el}/click"),
            Some(json!({})),
        )
        .await;
    }

    async fn enabled(&self, el: &str) -> bool {
        self.cmd(
            reqwest::Method::GET,
            &format!("/element/{el}/enabled"),
            None,
        )
        .await
        .as_bool()
        .unwrap_or(false)
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

    async fn js(&self, script: &str) -> Value {
        self.cmd(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({"script": script, "args": []})),
        )
        .await
    }

    async fn page_text(&self) -> String {
        self.js("return document.body.innerText")
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    async fn wait_text(&self, needle: &str) {
        for _ in 0..600 {
            if self.page_text().await.contains(needle) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "text never appeared: {needle}\nDOM: {}",
            self.page_text().await
        );
    }

    async fn count(&self, css: &str) -> u64 {
        self.js(&format!(
            "return document.querySelectorAll({}).length",
            json!(css)
        ))
        .await
        .as_u64()
        .unwrap_or(0)
    }
}

/// Starts the app directly, as a person does, and returns its own measure of
/// spawn → first usable screen (ms), read from its log.
fn direct_start(app: &Path, data: &Path, ca: &Path) -> Option<f64> {
    use std::io::BufRead as _;
    let mut child = KillOnDrop(
        Command::new(app)
            .env("DMP_LOG", "dmp_desktop=info")
            .env("DMP_CLIENT_DATA_DIR", data)
            .env("DMP_CA_FILE", ca)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let pid = child.0.id();
    let stderr = child.0.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if line.contains("start: first screen usable") {
                // Plain text (the app colours its log only on a terminal); be lenient.
                let line: String = line.chars().filter(|c| !c.is_control()).collect();
                let line = line
                    .replace("[0m", "")
                    .replace("[2m", "")
                    .replace("[3m", "");
                let ms = line
                    .split_once("ms=")
                    .and_then(|(_, v)| v.split_whitespace().next()?.parse::<f64>().ok());
                let _ = tx.send(ms);
                return;
            }
        }
    });
    let ms = rx.recv_timeout(Duration::from_secs(60)).ok().flatten();
    let children = descendants(pid);
    drop(child);
    // The WebKit processes end with their UI process; wait for them.
    for p in children {
        for _ in 0..100 {
            if !Path::new(&format!("/proc/{p}")).exists() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    ms
}

async fn new_session(http: &reqwest::Client, base: &str, app: &Path) -> Driver {
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
    Driver {
        http: http.clone(),
        base: base.to_owned(),
        session,
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
    candidates
        .into_iter()
        .flatten()
        .find(|p| p.exists())
        .expect("tauri-driver is not installed (cargo install tauri-driver --version ^2 --locked)")
}

// ---------------------------------------------------------------- server and bots

fn test_ca(config: &dmp_server::Config) -> PathBuf {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "DMP measure CA");
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&key, &ca_cert, &ca_key)
        .unwrap();
    std::fs::create_dir_all(config.tls_dir()).unwrap();
    std::fs::write(config.tls_cert_path(), cert.pem()).unwrap();
    std::fs::write(config.tls_key_path(), key.serialize_pem()).unwrap();
    let ca_file = config.tls_dir().join("measure-ca.pem");
    std::fs::write(&ca_file, ca_cert.pem()).unwrap();
    ca_file
}

async fn bot(url: &str, ca: &Path, dir: &Path, user: &str, password: &str) -> DmpClient {
    let c = DmpClient::login(
        ClientConfig {
            data_dir: dir.to_owned(),
            notifications: false,
            on_notification_click: None,
            ca_file: Some(ca.to_owned()),
        },
        url,
        user,
        password,
        false,
    )
    .await
    .unwrap();
    c.contexts().await.unwrap();
    c
}

/// Plausible doctor–patient French sentences, varied enough for the cache and the page.
fn french(i: u64) -> String {
    const OPEN: &[&str] = &[
        "Bonjour, ",
        "Merci pour votre message. ",
        "Je vous confirme que ",
        "Suite à votre question, ",
        "D'après les résultats, ",
        "Comme convenu, ",
    ];
    const BODY: &[&str] = &[
        "le traitement peut être poursuivi sans changement",
        "il faut prendre l'amoxicilline au début du repas",
        "la fièvre devrait baisser d'ici quarante-huit heures",
        "le paracétamol reste possible en cas de douleur",
        "votre bilan sanguin est rassurant, la CRP a diminué",
        "je préfère vous revoir en consultation la semaine prochaine",
        "les effets indésirables décrits sont fréquents et bénins",
        "pensez à bien vous hydrater et à vous reposer",
        "l'ordonnance est renouvelable une fois à la pharmacie",
        "une prise de sang de contrôle est prévue dans six semaines",
    ];
    const CLOSE: &[&str] = &[
        ".",
        ". Bonne journée.",
        ". N'hésitez pas à me recontacter.",
        " ; appelez le 15 en cas d'urgence.",
        ". Cordialement.",
    ];
    format!(
        "{}{}{} (n° {i})",
        OPEN[(i % 6) as usize],
        BODY[((i / 6) % 10) as usize],
        CLOSE[((i / 60) % 5) as usize]
    )
}

/// Sends `n` messages with 16 in flight.
async fn seed(doctor: &DmpClient, n: u64) -> Duration {
    let start = Instant::now();
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let (d, next) = (doctor.clone(), next.clone());
        tasks.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= n {
                    return;
                }
                d.send(
                    ContextType::Ordonnance,
                    &ContextId::new(OPEN_CONTEXT),
                    &french(i),
                    MessageMetadata::default(),
                    vec![],
                )
                .await
                .unwrap();
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap();
    }
    start.elapsed()
}

/// A doctor who writes into one record every `every` and marks what the patient sends read.
fn traffic_bot(
    doctor: DmpClient,
    kind: ContextType,
    context: &'static str,
    every: Duration,
    until: Instant,
    offset: u64,
) -> tokio::task::JoinHandle<(u64, u64)> {
    tokio::spawn(async move {
        let mut events = doctor.subscribe();
        doctor.connect();
        let me = doctor.user().id.clone();
        let (mut sent, mut read) = (0u64, 0u64);
        let mut tick = tokio::time::interval(every);
        tick.tick().await;
        while Instant::now() < until {
            tokio::select! {
                _ = tick.tick() => {
                    doctor.typing(kind, &ContextId::new(context), true);
                    tokio::time::sleep(Duration::from_millis(800)).await;
                    if doctor
                        .send(kind, &ContextId::new(context), &french(offset + sent), MessageMetadata::default(), vec![])
                        .await
                        .is_ok()
                    {
                        sent += 1;
                    }
                }
                ev = events.recv() => {
                    if let Ok(ClientEvent::Message { message }) = ev {
                        if message.sender.id != me && message.status != MessageStatus::Read
                            && doctor.mark_read(&message.id).await.is_ok()
                        {
                            read += 1;
                        }
                    }
                }
            }
        }
        doctor.disconnect().await;
        (sent, read)
    })
}

// ---------------------------------------------------------------- the run

#[tokio::main]
async fn main() {
    assert!(
        std::env::var_os("DISPLAY").is_some(),
        "run through scripts/with-desktop-services.sh (Xvfb, D-Bus, Secret Service, notification daemon)"
    );
    let app = PathBuf::from(
        std::env::var_os("MEASURE_APP").expect("MEASURE_APP: the dmp-desktop binary"),
    );
    let traffic_secs = env_u64("MEASURE_TRAFFIC_SECS", 600);
    let seed_n = env_u64("MEASURE_SEED", 5000);
    let start_runs = env_u64("MEASURE_START_RUNS", 5).max(1);
    let settle = Duration::from_secs(env_u64("MEASURE_SETTLE_SECS", 5));
    let sample_every = Duration::from_secs(env_u64("MEASURE_SAMPLE_EVERY_SECS", 60).max(1));
    let martin_every = Duration::from_secs(env_u64("MEASURE_MARTIN_EVERY_SECS", 6).max(1));
    let moreau_every = Duration::from_secs(env_u64("MEASURE_MOREAU_EVERY_SECS", 15).max(1));
    let window_every = Duration::from_secs(env_u64("MEASURE_WINDOW_EVERY_SECS", 30).max(1));
    let scroll_all = env_u64("MEASURE_SCROLL_ALL", 1) == 1;
    let scroll_secs = env_u64("MEASURE_SCROLL_SECS", 300);
    let ticks = clock_ticks();

    // The server, release build, demo data, rate limits out of the way of the seeding.
    let data = tempfile::tempdir().unwrap();
    let mut config = dmp_server::Config {
        bind: "127.0.0.1:0".parse().unwrap(),
        data_dir: data.path().to_owned(),
        durability: dmp_server::store::sqlite::Durability::Normal,
        metrics_bind: None,
        ..Default::default()
    };
    config.login.kdf_memory_kib = 19 * 1024;
    config.login.kdf_iterations = 2;
    config.login.kdf_parallelism = 1;
    config.rate_limit.send_per_second = 1_000_000.0;
    config.rate_limit.send_burst = 1_000_000.0;
    config.rate_limit.ws_frames_per_second = 1_000_000.0;
    config.rate_limit.ws_frames_burst = 1_000_000.0;
    config.rate_limit.auth_per_source_per_minute = 1_000_000;
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
    let ca = test_ca(&config);
    let server = dmp_server::start(config, Arc::new(dmp_server::clock::SystemClock))
        .await
        .unwrap();
    let url = server.url();

    // tauri-driver: the app it starts inherits this environment (WEBKIT_* included).
    let app_data = tempfile::tempdir().unwrap();
    let (port, native) = (free_port(), free_port());
    let driver = KillOnDrop(
        Command::new(tauri_driver())
            .args([
                "--port",
                &port.to_string(),
                "--native-port",
                &native.to_string(),
            ])
            .env("DMP_CLIENT_DATA_DIR", app_data.path())
            .env("DMP_CA_FILE", &ca)
            .env("XDG_DOWNLOAD_DIR", app_data.path().join("downloads"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let driver_pid = driver.0.id();
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    for _ in 0..100 {
        if http.get(format!("{base}/status")).send().await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // 1a. Start as a person sees it: launched directly, the app's own measure.
    let direct_runs = env_u64("MEASURE_DIRECT_RUNS", 10);
    let mut direct = vec![];
    for run in 1..=direct_runs {
        let dir = tempfile::tempdir().unwrap();
        match direct_start(&app, dir.path(), &ca) {
            Some(ms) => {
                println!(
                    "start   direct run {run}: spawn -> usable login form {ms:>5.0} ms (the app's own log)  load {}",
                    loadavg()
                );
                direct.push(ms);
            }
            None => println!("start   direct run {run}: no start line in the app's log"),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // 1b. Start to a usable login form under WebDriver, several launches; the last one stays open.
    let mut starts = vec![];
    let mut session = None;
    let mut app_pid = 0;
    for run in 1..=start_runs {
        let d = new_session(&http, &base, &app).await;
        let pid = find_app(driver_pid).expect("dmp-desktop did not start under tauri-driver");
        let (_, started_ticks) = stat(pid).unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        let (elapsed, in_page) = loop {
            assert!(Instant::now() < deadline, "no login form after 60 s");
            if let Some(field) = d.find("css selector", "input[type=url]").await {
                if let Some(submit) = d.find("css selector", "button[type=submit]").await {
                    if d.enabled(&field).await && d.enabled(&submit).await {
                        let now = uptime_secs();
                        let page = d
                            .js("return performance.now()")
                            .await
                            .as_f64()
                            .unwrap_or(0.0);
                        break (now - started_ticks as f64 / ticks, page / 1000.0);
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        println!(
            "start   run {run}: spawn -> usable login form {:>5.0} ms (spawn -> navigation {:>5.0} ms, navigation -> form {:>5.0} ms)  load {}",
            elapsed * 1000.0,
            (elapsed - in_page) * 1000.0,
            in_page * 1000.0,
            loadavg()
        );
        starts.push((elapsed, in_page));
        if run < start_runs {
            let _ = http
                .delete(format!("{base}/session/{}", d.session))
                .send()
                .await;
            for _ in 0..100 {
                if !Path::new(&format!("/proc/{pid}")).exists() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        } else {
            session = Some(d);
            app_pid = pid;
        }
    }
    let d = session.unwrap();
    let mut samples = vec![];

    // 2. The login screen.
    tokio::time::sleep(settle).await;
    samples.push(sample(app_pid, "login screen"));

    // Seeding while the window waits at the login screen: the patient's keys
    // (one sign-in through the client core), then the doctor's messages.
    let bots = tempfile::tempdir().unwrap();
    let patient_bot = bot(
        &url,
        &ca,
        &bots.path().join("patient"),
        PATIENT,
        dmp_server::demo::PATIENT_PASSWORD,
    )
    .await;
    drop(patient_bot);
    let martin = bot(
        &url,
        &ca,
        &bots.path().join("martin"),
        "dr.martin",
        dmp_server::demo::DOCTOR_PASSWORD,
    )
    .await;
    let moreau = bot(
        &url,
        &ca,
        &bots.path().join("moreau"),
        "dr.moreau",
        dmp_server::demo::DOCTOR_PASSWORD,
    )
    .await;
    let took = seed(&martin, seed_n).await;
    println!(
        "seed    {seed_n} messages into {OPEN_CONTEXT} in {:.1} s  load {}",
        took.as_secs_f64(),
        loadavg()
    );
    samples.push(sample(app_pid, "login screen (after seeding)"));

    // 3. Sign in from the window.
    let login_start = Instant::now();
    d.type_in(&d.wait("css selector", "input[type=url]").await, &url)
        .await;
    d.type_in(
        &d.wait("css selector", "input[autocomplete=username]").await,
        PATIENT,
    )
    .await;
    d.type_in(
        &d.wait("css selector", "input[type=password]").await,
        dmp_server::demo::PATIENT_PASSWORD,
    )
    .await;
    d.click(&d.wait("css selector", "button[type=submit]").await)
        .await;
    d.wait_text("Ordonnance du 12/01/2026").await;
    println!(
        "login   submit -> home shown {:.0} ms",
        login_start.elapsed().as_secs_f64() * 1000.0
    );
    tokio::time::sleep(settle).await;
    samples.push(sample(app_pid, "after login"));

    // 4. The 5,000-message conversation open.
    let open_start = Instant::now();
    let button = d.wait("xpath", "//button[contains(., \"Questions sur l\u{2019}ordonnance\") or contains(., \"Questions sur l'ordonnance\")]").await;
    d.click(&button).await;
    d.wait("css selector", "[role=dialog] textarea").await;
    d.wait("css selector", "[role=dialog] [data-message-id]")
        .await;
    println!(
        "open    click -> first messages shown {:.0} ms; {} messages in the page",
        open_start.elapsed().as_secs_f64() * 1000.0,
        d.count("[data-message-id]").await
    );
    tokio::time::sleep(settle).await;
    samples.push(sample(app_pid, "conversation open"));

    // 5. Traffic.
    let until = Instant::now() + Duration::from_secs(traffic_secs);
    let m = traffic_bot(
        martin.clone(),
        ContextType::Ordonnance,
        OPEN_CONTEXT,
        martin_every,
        until,
        100_000,
    );
    let o = traffic_bot(
        moreau.clone(),
        ContextType::Examen,
        OTHER_CONTEXT,
        moreau_every,
        until,
        200_000,
    );
    let traffic_start = Instant::now();
    let mut next_sample = traffic_start + sample_every;
    let mut next_send = traffic_start + window_every;
    let mut window_sent = 0u64;
    while Instant::now() < until {
        let now = Instant::now();
        if now >= next_send {
            if let Some(t) = d.find("css selector", "[role=dialog] textarea").await {
                d.type_in(&t, &format!("Merci docteur, c'est noté ({window_sent})."))
                    .await;
                if let Some(b) = d
                    .find("css selector", "[role=dialog] button[aria-label=Envoyer]")
                    .await
                {
                    d.click(&b).await;
                    window_sent += 1;
                }
            }
            next_send += window_every;
        }
        if now >= next_sample {
            let secs = traffic_start.elapsed().as_secs();
            sample(app_pid, &format!("traffic {}m{:02}s", secs / 60, secs % 60));
            next_sample += sample_every;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (m_sent, m_read) = m.await.unwrap();
    let (o_sent, o_read) = o.await.unwrap();
    println!(
        "traffic {traffic_secs} s: Dr. Martin sent {m_sent} (open conversation), Dr. Moreau sent {o_sent} (other record), the window sent {window_sent}; the doctors marked {} read; {} messages in the page",
        m_read + o_read,
        d.count("[data-message-id]").await
    );
    tokio::time::sleep(settle).await;
    samples.push(sample(
        app_pid,
        &format!("after {} min of traffic", traffic_secs as f64 / 60.0),
    ));

    // 6. Worst case: the whole conversation scrolled into the page.
    if scroll_all {
        let scroll_start = Instant::now();
        // Up to the first message: the list shows "Début de la conversation" there.
        // The page keeps a bounded window of messages, so this is the worst case of
        // scrolling through the whole history, not "all of it rendered".
        let mut reached = false;
        while scroll_start.elapsed() < Duration::from_secs(scroll_secs) {
            d.js("const el = document.querySelector('[data-testid=message-scroll]'); if (el) { el.scrollTop = 0; el.dispatchEvent(new Event('scroll')); } return null").await;
            tokio::time::sleep(Duration::from_millis(300)).await;
            if std::env::var_os("MEASURE_SCROLL_DEBUG").is_some() {
                let v = d.js("const el = document.querySelector('[data-testid=message-scroll]'); const m = document.querySelectorAll('[data-message-id]'); return [el ? el.scrollTop : -1, el ? el.scrollHeight : -1, m.length, m.length ? m[0].getAttribute('data-message-id') : '']").await;
                println!("scroll  debug {v}");
            }
            if d.js("return document.body.innerText.includes('Début de la conversation')")
                .await
                .as_bool()
                == Some(true)
            {
                reached = true;
                break;
            }
        }
        let n = d.count("[data-message-id]").await;
        println!(
            "scroll  up through the whole conversation: {} after {:.1} s, {n} messages in the page",
            if reached {
                "first message reached"
            } else {
                "NOT at the first message"
            },
            scroll_start.elapsed().as_secs_f64()
        );
        tokio::time::sleep(settle).await;
        samples.push(sample(app_pid, "scrolled up to the first message"));
    }

    // Summary (Markdown).
    let mut firsts: Vec<f64> = starts.iter().map(|s| s.0).collect();
    let first = firsts[0];
    firsts.sort_by(f64::total_cmp);
    let median = firsts[firsts.len() / 2];
    println!();
    println!(
        "| start → usable login form, under WebDriver | first launch {:.0} ms | median of {} launches {:.0} ms | min {:.0} ms | max {:.0} ms |",
        first * 1000.0,
        firsts.len(),
        median * 1000.0,
        firsts[0] * 1000.0,
        firsts[firsts.len() - 1] * 1000.0
    );
    if !direct.is_empty() {
        let first = direct[0];
        direct.sort_by(f64::total_cmp);
        println!(
            "| start → usable login form, launched directly | first launch {:.0} ms | median of {} launches {:.0} ms | min {:.0} ms | max {:.0} ms |",
            first,
            direct.len(),
            direct[direct.len() / 2],
            direct[0],
            direct[direct.len() - 1]
        );
    }
    println!();
    let names: Vec<String> = {
        let mut n: Vec<String> = samples
            .iter()
            .flat_map(|s| s.parts.iter().map(|p| p.0.clone()))
            .collect();
        n.sort();
        n.dedup();
        n
    };
    println!(
        "| phase | PSS total MB | RSS total MB | anonymous total MB | {} | load |",
        names
            .iter()
            .map(|n| format!("{n} PSS / RSS MB"))
            .collect::<Vec<_>>()
            .join(" | ")
    );
    println!("|---|---|---|---|{}---|", "---|".repeat(names.len()));
    for s in &samples {
        let cells: Vec<String> = names
            .iter()
            .map(|n| {
                let (p, r) = s
                    .parts
                    .iter()
                    .filter(|(pn, _)| pn == n)
                    .fold((0, 0), |(p, r), (_, m)| (p + m.pss_kb, r + m.rss_kb));
                format!("{} / {}", mb(p), mb(r))
            })
            .collect();
        println!(
            "| {} | **{}** | {} | {} | {} | {} |",
            s.phase,
            mb(s.total.pss_kb),
            mb(s.total.rss_kb),
            mb(s.total.anon_kb),
            cells.join(" | "),
            s.load
        );
    }

    let _ = http
        .delete(format!("{base}/session/{}", d.session))
        .send()
        .await;
    drop(martin);
    drop(moreau);
    server.shutdown().await;
}
