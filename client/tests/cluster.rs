//! The cluster of docs/deployment.md ("Cluster"), started by
//! `scripts/cluster.sh`: a real PostgreSQL 15, a real Redis 7, two
//! `dmp-server` nodes (the debug binary of this workspace) and HAProxy in front
//! of them, over TLS. Real clients talk to it; the script's `ctl` commands
//! pin a client to a node (HAProxy drain), kill nodes and restart Redis and
//! PostgreSQL. Every wait polls a condition with a deadline.
//!
//! Run through `scripts/test.sh` (desktop services for the client's keychain,
//! the workspace built so that `target/debug/dmp-server` exists).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{require_desktop_services, wait_for, zk_secret, DOCTOR, PATIENT};
use dmp_client::{ClientConfig, ClientEvent, DmpClient};
use dmp_protocol::ws::CLOSE_ACCOUNT_DISABLED;
use dmp_protocol::*;
use futures_util::StreamExt;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message as WsMessage;

const ORD: &str = "ord_789";

/// The workspace's debug `dmp-server`, next to this test's binary
/// (target/debug/deps/cluster-HASH → target/debug/dmp-server), unless
/// `DMP_SERVER_BIN` names another one.
fn server_binary() -> PathBuf {
    if let Some(bin) = std::env::var_os("DMP_SERVER_BIN") {
        return PathBuf::from(bin);
    }
    let exe = std::env::current_exe().unwrap();
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .map(|d| d.join("dmp-server"))
        .unwrap();
    assert!(
        bin.is_file(),
        "{} is missing: build the server first (`cargo build -p dmp-server`; scripts/test.sh builds the whole workspace)",
        bin.display()
    );
    bin
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/cluster.sh")
}

/// A running `scripts/cluster.sh`; dropping it sends SIGTERM and waits until
/// the script has stopped everything.
struct Cluster {
    child: Child,
    dir: tempfile::TempDir,
    lb: String,
    ca: PathBuf,
    nodes: BTreeMap<String, (String, String)>,
}

impl Cluster {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new(script())
            .env("DMP_CLUSTER_DIR", dir.path())
            .env("DMP_CLUSTER_PORT", "0")
            .env("DMP_NODES", "2")
            .env("DMP_SERVER_BIN", server_binary())
            // The accepted floor keeps the login derivations cheap; every
            // client of the test comes from 127.0.0.1.
            .env("DMP_LOGIN__KDF_MEMORY_KIB", "19456")
            .env("DMP_LOGIN__KDF_ITERATIONS", "2")
            .env("DMP_LOGIN__KDF_PARALLELISM", "1")
            .env("DMP_RATE_LIMIT__AUTH_PER_SOURCE_PER_MINUTE", "10000")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("cannot run scripts/cluster.sh");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        // The first start may build nothing but installs packages: a generous deadline.
        let deadline = Instant::now() + Duration::from_secs(300);
        let mut lines = vec![];
        while lines.len() < 2 {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => lines.push(line),
                Err(e) => {
                    let _ = child.kill();
                    panic!("scripts/cluster.sh printed {lines:?} and then: {e}");
                }
            }
        }
        let lb = lines[0]
            .strip_prefix("cluster on ")
            .unwrap_or_else(|| panic!("unexpected first line {:?}", lines[0]))
            .to_owned();
        let ca = PathBuf::from(lines[1].strip_prefix("CA file: ").unwrap());
        let info: Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("cluster.json")).unwrap())
                .unwrap();
        assert_eq!(info["lb"], lb.as_str());
        let nodes = info["nodes"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(id, n)| {
                (
                    id.clone(),
                    (
                        n["url"].as_str().unwrap().to_owned(),
                        n["metrics"].as_str().unwrap().to_owned(),
                    ),
                )
            })
            .collect();
        Self {
            child,
            dir,
            lb,
            ca,
            nodes,
        }
    }

    fn node(&self, id: &str) -> String {
        self.nodes[id].0.clone()
    }

    /// `scripts/cluster.sh ctl DIR ARGS...`; panics on failure.
    async fn ctl_async(&self, args: &[&str]) -> String {
        let script = script();
        let dir = self.dir.path().to_owned();
        let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
        tokio::task::spawn_blocking(move || {
            let out = Command::new(script)
                .arg("ctl")
                .arg(dir)
                .args(&args)
                .stdin(Stdio::null())
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "ctl {args:?}: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8_lossy(&out.stdout).into_owned()
        })
        .await
        .unwrap()
    }

    fn http(&self) -> reqwest::Client {
        let tls = dmp_client::tls::client_config(Some(&self.ca)).unwrap();
        reqwest::Client::builder()
            .use_preconfigured_tls((*tls).clone())
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap()
    }

    /// Open authenticated WebSockets on a node (its metrics).
    async fn sockets_on(&self, id: &str) -> u64 {
        let text = reqwest::get(&self.nodes[id].1)
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix("dmp_ws_connection_count "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no dmp_ws_connection_count in the metrics of node {id}"))
    }

    async fn wait_sockets(&self, id: &str, n: u64) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let now = self.sockets_on(id).await;
            if now == n {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "node {id} holds {now} sockets, not {n}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn client_config(&self, dir: &Path) -> ClientConfig {
        ClientConfig {
            data_dir: dir.to_owned(),
            notifications: false,
            on_notification_click: None,
            ca_file: Some(self.ca.clone()),
        }
    }

    /// Signs in through `url` and waits until the real-time connection is up.
    async fn login(&self, url: &str, dir: &Path, who: (&str, &str)) -> DmpClient {
        let c = DmpClient::login(self.client_config(dir), url, who.0, who.1, true)
            .await
            .unwrap();
        c.connect();
        wait_until("the client's socket", || c.is_connected()).await;
        c.contexts().await.unwrap();
        c
    }

    /// Signs in through the load balancer while every other node is drained,
    /// so that the client's socket is on `node`.
    async fn login_pinned(&self, node: &str, dir: &Path, who: (&str, &str)) -> DmpClient {
        let others: Vec<String> = self.nodes.keys().filter(|k| *k != node).cloned().collect();
        for o in &others {
            self.ctl_async(&["drain-node", o]).await;
        }
        let c = self.login(&self.lb, dir, who).await;
        for o in &others {
            self.ctl_async(&["ready-node", o]).await;
        }
        c
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // SIGTERM (not Child::kill's SIGKILL): the script stops what it started.
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(90);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn ord() -> (ContextType, ContextId) {
    (ContextType::Ordonnance, ContextId::new(ORD))
}

/// The zero-knowledge login over raw REST: prelogin, derivation, login.
async fn raw_login(http: &reqwest::Client, url: &str, who: (&str, &str)) -> (u16, Value) {
    let secret = zk_secret(http, url, who).await;
    post(
        http,
        url,
        "/api/auth/login",
        None,
        &json!({"username": who.0, "password": secret}),
    )
    .await
}

async fn post(
    http: &reqwest::Client,
    url: &str,
    path: &str,
    token: Option<&str>,
    body: &Value,
) -> (u16, Value) {
    let mut req = http.post(format!("{url}{path}")).json(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    match req.send().await {
        Ok(res) => {
            let status = res.status().as_u16();
            (status, res.json().await.unwrap_or(Value::Null))
        }
        Err(e) => panic!("POST {url}{path}: {e}"),
    }
}

async fn get(http: &reqwest::Client, url: &str, path: &str, token: &str) -> (u16, Value) {
    let res = http
        .get(format!("{url}{path}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// A send body whose content is a well-formed end-to-end envelope (the server
/// checks the format, not who sealed it), for raw REST sends.
fn sealed_send(cmid: &str, kind: ContextType, context: &str) -> Value {
    let mut rng = rand::thread_rng();
    let me = dmp_crypto::Identity::generate(&mut rng);
    let envelope = dmp_crypto::seal(
        &mut rng,
        &me,
        dmp_crypto::HeaderInput {
            client_message_id: cmid.to_owned(),
            context: format!("{kind}/{context}"),
            session_id: "unknown".into(),
            sender: "test".into(),
            recipient: "test".into(),
            timestamp_ms: 0,
        },
        &dmp_crypto::Plaintext {
            text: "raw".into(),
            attachments: vec![],
            category: None,
        },
        &[("test", &me.public())],
    )
    .unwrap();
    json!({"clientMessageId": cmid, "contextType": kind, "contextId": context, "content": envelope.to_content()})
}

/// An authenticated raw WebSocket to `url`.
async fn raw_socket(
    cluster: &Cluster,
    url: &str,
    token: &str,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    let ws_url = format!("{}/api/messaging/ws", url.replacen("https://", "wss://", 1));
    let mut req = ws_url.into_client_request().unwrap();
    req.headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    let tls = dmp_client::tls::client_config(Some(&cluster.ca)).unwrap();
    let (mut ws, _) = tokio_tungstenite::connect_async_tls_with_config(
        req,
        None,
        false,
        Some(tokio_tungstenite::Connector::Rustls(tls)),
    )
    .await
    .unwrap();
    let first = tokio::time::timeout(Duration::from_secs(10), ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(first.to_text().unwrap().contains("\"ready\""), "{first:?}");
    ws
}

/// The close code the socket ends with (pings and other frames skipped).
async fn close_code(
    ws: &mut tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
) -> Option<u16> {
    while let Some(m) = ws.next().await {
        match m {
            Ok(WsMessage::Close(f)) => return f.map(|f| u16::from(f.code)),
            Ok(_) => {}
            Err(_) => return None,
        }
    }
    None
}

/// Each text of `texts` exactly once among `messages`, whose `seq`s have no gap.
fn exactly_once(who: &str, messages: &[Message], texts: &[String]) {
    for t in texts {
        let n = messages.iter().filter(|m| m.content == *t).count();
        assert_eq!(n, 1, "{who}: {t:?} is there {n} times");
    }
    let mut seqs: Vec<u64> = messages.iter().map(|m| m.seq).collect();
    seqs.sort_unstable();
    let expected: Vec<u64> = (1..=seqs.len() as u64).collect();
    assert_eq!(seqs, expected, "{who}: the seqs have a gap or a repeat");
}

/// The messages of the conversation in a client's cache (acknowledged ones).
fn cached(c: &DmpClient) -> Vec<Message> {
    let (k, id) = ord();
    c.cached_history(k, &id, None, 1000)
        .unwrap()
        .messages
        .into_iter()
        .filter(|m| m.local.is_none())
        .map(|m| m.message)
        .collect()
}

async fn wait_cached(who: &str, c: &DmpClient, texts: &[String]) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let have = cached(c);
        if texts.iter().all(|t| have.iter().any(|m| m.content == *t)) {
            exactly_once(who, &have, texts);
            return;
        }
        let missing: Vec<_> = texts
            .iter()
            .filter(|t| !have.iter().any(|m| m.content == **t))
            .collect();
        assert!(
            Instant::now() < deadline,
            "{who} never got {missing:?} (has {} messages)",
            have.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn wait_outbox_empty(c: &DmpClient) {
    wait_until("the outbox to empty", || c.outbox_len().unwrap() == 0).await;
}

/// Sends `texts` from `c`; once `at` of them are out, runs the fault `ctl`
/// (`scripts/cluster.sh ctl DIR …`) while the rest go out.
async fn send_through_fault(
    cluster: &Cluster,
    c: &DmpClient,
    texts: &[String],
    at: usize,
    ctl: &[&str],
) {
    let (k, id) = ord();
    let send = |i: usize, t: &String| {
        let (k, id) = (k, id.clone());
        let t = t.clone();
        async move {
            c.send(k, &id, &t, MessageMetadata::default(), vec![])
                .await
                .unwrap_or_else(|e| panic!("send {i}: {} {e}", e.code()));
        }
    };
    for (i, t) in texts[..at].iter().enumerate() {
        send(i, t).await;
    }
    let rest = async {
        for (i, t) in texts[at..].iter().enumerate() {
            send(at + i, t).await;
        }
    };
    tokio::join!(cluster.ctl_async(ctl), rest);
}

/// Sends `text` in the conversation and returns it once acknowledged.
async fn send_acked(c: &DmpClient, text: &str) -> Message {
    let (k, id) = ord();
    c.send(k, &id, text, MessageMetadata::default(), vec![])
        .await
        .unwrap();
    wait_outbox_empty(c).await;
    cached(c)
        .into_iter()
        .find(|m| m.content == text)
        .unwrap_or_else(|| panic!("{text:?} was acknowledged but is not in the cache"))
}

/// Patient on node A, doctor on node B: messages both ways, ✓ then ✓✓,
/// typing, presence and notifications cross the nodes; login failures and a
/// send burst spread over both nodes count against one budget; an account
/// disabled through the CLI loses access on both nodes within a second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_behind_the_load_balancer() {
    require_desktop_services();
    let cluster = Cluster::start();
    let (pd, dd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let patient = cluster.login_pinned("a", pd.path(), PATIENT).await;
    let doctor = cluster.login_pinned("b", dd.path(), DOCTOR).await;
    cluster.wait_sockets("a", 1).await;
    cluster.wait_sockets("b", 1).await;
    let (k, id) = ord();

    // Patient (node A) → doctor (node B): the message, its notification.
    let mut d_msg = doctor.subscribe();
    let mut d_notif = doctor.subscribe();
    let mut p_delivered = patient.subscribe();
    let mut p_read = patient.subscribe();
    let sent = send_acked(&patient, "Bonjour docteur, depuis le nœud A").await;
    let got = wait_for(&mut d_msg, "the patient's message on node B", |e| match e {
        ClientEvent::Message { message } if message.id == sent.id => Some(message.clone()),
        _ => None,
    })
    .await;
    assert_eq!(got.content, "Bonjour docteur, depuis le nœud A");
    wait_for(&mut d_notif, "the notification on node B", |e| match e {
        ClientEvent::Notification { notification } if notification.message_id == sent.id => {
            Some(())
        }
        _ => None,
    })
    .await;
    // ✓ delivered (the doctor's client says so on B), then ✓✓ read.
    let status_is = |want: MessageStatus| {
        let id = sent.id.clone();
        move |e: &ClientEvent| match e {
            ClientEvent::Status {
                message_id, status, ..
            } if *message_id == id && *status == want => Some(()),
            _ => None,
        }
    };
    wait_for(
        &mut p_delivered,
        "✓ delivered on node A",
        status_is(MessageStatus::Delivered),
    )
    .await;
    doctor.mark_read(&sent.id).await.unwrap();
    wait_for(
        &mut p_read,
        "✓✓ read on node A",
        status_is(MessageStatus::Read),
    )
    .await;

    // Doctor (node B) → patient (node A).
    let mut p_msg = patient.subscribe();
    let reply = send_acked(&doctor, "Bonjour, je vous réponds du nœud B").await;
    let got = wait_for(&mut p_msg, "the doctor's reply on node A", |e| match e {
        ClientEvent::Message { message } if message.id == reply.id => Some(message.clone()),
        _ => None,
    })
    .await;
    assert_eq!(got.content, "Bonjour, je vous réponds du nœud B");

    // Typing, both ways.
    let mut d_typing = doctor.subscribe();
    patient.typing(k, &id, true);
    wait_for(
        &mut d_typing,
        "the patient typing, on node B",
        |e| match e {
            ClientEvent::Typing {
                user,
                is_typing: true,
                ..
            } if user.id.as_str() == "patient_123" => Some(()),
            _ => None,
        },
    )
    .await;
    let mut p_typing = patient.subscribe();
    doctor.typing(k, &id, true);
    wait_for(&mut p_typing, "the doctor typing, on node A", |e| match e {
        ClientEvent::Typing {
            user,
            is_typing: true,
            ..
        } if user.id.as_str() == "medecin_456" => Some(()),
        _ => None,
    })
    .await;

    // Presence: the patient leaves node A and comes back on it.
    let mut d_presence = doctor.subscribe();
    patient.disconnect().await;
    wait_for(
        &mut d_presence,
        "the patient offline, on node B",
        |e| match e {
            ClientEvent::Presence {
                user_id,
                online: false,
            } if user_id.as_str() == "patient_123" => Some(()),
            _ => None,
        },
    )
    .await;
    cluster.ctl_async(&["drain-node", "b"]).await;
    patient.connect();
    wait_until("the patient back online", || patient.is_connected()).await;
    cluster.ctl_async(&["ready-node", "b"]).await;
    wait_for(
        &mut d_presence,
        "the patient online, on node B",
        |e| match e {
            ClientEvent::Presence {
                user_id,
                online: true,
            } if user_id.as_str() == "patient_123" => Some(()),
            _ => None,
        },
    )
    .await;
    cluster.wait_sockets("a", 1).await;

    let http = cluster.http();
    let (a, b) = (cluster.node("a"), cluster.node("b"));

    // Login failures spread over both nodes lock the name on both.
    let marie = ("marie.lefevre", dmp_server::demo::PATIENT_PASSWORD);
    for i in 0..6 {
        let node = if i % 2 == 0 { &a } else { &b };
        let (st, body) = post(
            &http,
            node,
            "/api/auth/login",
            None,
            &json!({"username": marie.0, "password": format!("wrong-secret-{i}")}),
        )
        .await;
        assert!(st == 401 || st == 429, "{st} {body}");
    }
    for node in [&a, &b] {
        let (st, body) = raw_login(&http, node, marie).await;
        assert_eq!(
            st, 429,
            "the right password after failures on both nodes: {body}"
        );
        assert_eq!(body["error"]["code"], "RATE_LIMIT_EXCEEDED");
    }

    // A send burst spread over both nodes is limited as one budget
    // (send_burst 20, send_per_second 5 by default).
    let (st, lucas) = raw_login(
        &http,
        &cluster.lb,
        ("lucas.bernard", dmp_server::demo::PATIENT_PASSWORD),
    )
    .await;
    assert_eq!(st, 200, "{lucas}");
    let token = lucas["accessToken"].as_str().unwrap().to_owned();
    let started = Instant::now();
    let (mut accepted, mut refused) = (0u32, BTreeMap::<&str, u32>::new());
    for i in 0..40 {
        let (name, node) = if i % 2 == 0 { ("a", &a) } else { ("b", &b) };
        let body = sealed_send(&format!("burst-{i}"), ContextType::Ordonnance, "ord_791");
        let (st, res) = post(&http, node, "/api/messaging/send", Some(&token), &body).await;
        match st {
            201 => accepted += 1,
            429 => *refused.entry(name).or_default() += 1,
            _ => panic!("send {i} on node {name}: {st} {res}"),
        }
    }
    let budget = 20.0 + 5.0 * started.elapsed().as_secs_f64() + 1.0;
    assert!(
        f64::from(accepted) <= budget,
        "{accepted} sends accepted over both nodes, the budget is {budget:.0}"
    );
    assert!(
        refused.contains_key("a") && refused.contains_key("b"),
        "both nodes refuse once the shared budget is spent: {refused:?}"
    );

    // Disabled through the CLI: sockets on both nodes close with 4403 and
    // REST answers 403 on both, within a second.
    let camille = ("camille.petit", dmp_server::demo::PATIENT_PASSWORD);
    let (st, body) = raw_login(&http, &cluster.lb, camille).await;
    assert_eq!(st, 200, "{body}");
    let token = body["accessToken"].as_str().unwrap().to_owned();
    let mut ws_a = raw_socket(&cluster, &a, &token).await;
    let mut ws_b = raw_socket(&cluster, &b, &token).await;
    for node in [&a, &b] {
        assert_eq!(get(&http, node, "/api/me", &token).await.0, 200);
    }
    let watch = tokio::spawn(async move {
        let (ca, cb) = tokio::join!(close_code(&mut ws_a), close_code(&mut ws_b));
        (ca, cb, Instant::now())
    });
    cluster
        .ctl_async(&["cli", "user", "disable", "patient_126"])
        .await;
    let disabled_at = Instant::now();
    let (ca, cb, closed_at) = tokio::time::timeout(Duration::from_secs(5), watch)
        .await
        .expect("the sockets stayed open")
        .unwrap();
    assert_eq!(ca, Some(CLOSE_ACCOUNT_DISABLED), "node A's socket");
    assert_eq!(cb, Some(CLOSE_ACCOUNT_DISABLED), "node B's socket");
    assert!(
        closed_at.saturating_duration_since(disabled_at) <= Duration::from_secs(1),
        "closed {:?} after the CLI returned",
        closed_at.saturating_duration_since(disabled_at)
    );
    // Its token is refused (the disable revoked its logins), and signing in
    // again is refused as disabled, on both nodes.
    for node in [&a, &b] {
        let (st, body) = get(&http, node, "/api/me", &token).await;
        assert!(st == 401 || st == 403, "{st} {body}");
        let (st, body) = raw_login(&http, node, camille).await;
        assert_eq!(st, 403, "{body}");
        assert_eq!(body["error"]["code"], "ACCOUNT_DISABLED");
    }

    patient.shutdown().await;
    doctor.shutdown().await;
}

/// Node A is SIGKILLed while the patient sends: the client reconnects through
/// the load balancer to node B and resumes; every message is there exactly
/// once on both sides, with no gap in `seq`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_while_the_patient_sends() {
    require_desktop_services();
    let cluster = Cluster::start();
    let (pd, dd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let patient = cluster.login_pinned("a", pd.path(), PATIENT).await;
    // The doctor stays on node B's own address.
    let doctor = cluster.login(&cluster.node("b"), dd.path(), DOCTOR).await;
    cluster.wait_sockets("a", 1).await;
    cluster.wait_sockets("b", 1).await;
    let (k, id) = ord();
    let texts: Vec<String> = (0..20)
        .map(|i| format!("message {i} pendant la panne"))
        .collect();
    send_through_fault(&cluster, &patient, &texts, 6, &["kill-node", "a"]).await;
    wait_outbox_empty(&patient).await;
    wait_until("the patient reconnected", || patient.is_connected()).await;
    // Through the load balancer, onto node B (A is dead).
    cluster.wait_sockets("b", 2).await;
    wait_cached("the doctor", &doctor, &texts).await;
    wait_cached("the patient", &patient, &texts).await;
    let page = doctor.history(k, &id, None, 100).await.unwrap();
    let server: Vec<Message> = page.messages.into_iter().map(|m| m.message).collect();
    exactly_once("the server", &server, &texts);

    // Node A comes back and takes connections again.
    cluster.ctl_async(&["start-node", "a"]).await;
    let http = cluster.http();
    let res = http
        .get(format!("{}/readyz", cluster.node("a")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    patient.shutdown().await;
    doctor.shutdown().await;
}

/// Redis restarted mid-conversation: no message is lost (resume fills the
/// gap). PostgreSQL down: sends fail with 503 and a code on every node and
/// through the load balancer, nothing acknowledged is lost, and the nodes
/// recover by themselves once it is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_and_postgres_restarts() {
    require_desktop_services();
    let cluster = Cluster::start();
    let (pd, dd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let patient = cluster.login_pinned("a", pd.path(), PATIENT).await;
    let doctor = cluster.login_pinned("b", dd.path(), DOCTOR).await;
    cluster.wait_sockets("a", 1).await;
    cluster.wait_sockets("b", 1).await;
    let (k, id) = ord();

    let texts: Vec<String> = (0..12)
        .map(|i| format!("avant et après Redis {i}"))
        .collect();
    send_through_fault(&cluster, &patient, &texts, 4, &["restart", "redis"]).await;
    wait_outbox_empty(&patient).await;
    wait_cached("the doctor", &doctor, &texts).await;
    // Real time works again across the nodes after the restart.
    let mut d_msg = doctor.subscribe();
    let after = send_acked(&patient, "Redis est revenu").await;
    wait_for(
        &mut d_msg,
        "a live message after Redis came back",
        |e| match e {
            ClientEvent::Message { message } if message.id == after.id => Some(()),
            _ => None,
        },
    )
    .await;
    let mut texts = texts;
    texts.push("Redis est revenu".into());

    // PostgreSQL down.
    let http = cluster.http();
    let (st, lucas) = raw_login(
        &http,
        &cluster.lb,
        ("lucas.bernard", dmp_server::demo::PATIENT_PASSWORD),
    )
    .await;
    assert_eq!(st, 200, "{lucas}");
    let token = lucas["accessToken"].as_str().unwrap().to_owned();
    cluster.ctl_async(&["stop", "postgres"]).await;
    // A message the patient writes meanwhile waits in the outbox.
    patient
        .send(
            k,
            &id,
            "écrit pendant la panne de PostgreSQL",
            MessageMetadata::default(),
            vec![],
        )
        .await
        .unwrap();
    texts.push("écrit pendant la panne de PostgreSQL".into());
    let targets = [cluster.node("a"), cluster.node("b"), cluster.lb.clone()];
    for (i, url) in targets.iter().enumerate() {
        let body = sealed_send(&format!("pg-down-{i}"), ContextType::Ordonnance, "ord_791");
        let (st, res) = post(&http, url, "/api/messaging/send", Some(&token), &body).await;
        assert_eq!(st, 503, "{url}: {res}");
        assert!(res["error"]["code"].is_string(), "{url}: {res}");
    }
    assert_eq!(
        patient.outbox_len().unwrap(),
        1,
        "a message was acknowledged while PostgreSQL was down"
    );

    cluster.ctl_async(&["start", "postgres"]).await;
    // The nodes recover by themselves: sends succeed again on each of them.
    for (i, url) in targets.iter().enumerate() {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let body = sealed_send(&format!("pg-back-{i}"), ContextType::Ordonnance, "ord_791");
            let (st, res) = post(&http, url, "/api/messaging/send", Some(&token), &body).await;
            if st == 201 {
                break;
            }
            assert!(Instant::now() < deadline, "{url} still refuses: {st} {res}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    wait_outbox_empty(&patient).await;
    wait_cached("the doctor", &doctor, &texts).await;
    wait_cached("the patient", &patient, &texts).await;
    let page = doctor.history(k, &id, None, 100).await.unwrap();
    let server: Vec<Message> = page.messages.into_iter().map(|m| m.message).collect();
    exactly_once("the server", &server, &texts);
    patient.shutdown().await;
    doctor.shutdown().await;
}
