//! The `dmp-server` binary as an admin runs it: CLI subcommands, logs,
//! backup/restore, graceful shutdown, and a crash (SIGKILL) in the middle
//! of a conversation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{client_tls, error_code, http_client, Ws, ORD};
use futures_util::SinkExt;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

const BIN: &str = env!("CARGO_BIN_EXE_dmp-server");
/// New accounts derive their login keys with the accepted floor, and every
/// test logs in from 127.0.0.1.
const CHEAP_KDF: [(&str, &str); 4] = [
    ("DMP_LOGIN__KDF_MEMORY_KIB", "19456"),
    ("DMP_LOGIN__KDF_ITERATIONS", "2"),
    ("DMP_LOGIN__KDF_PARALLELISM", "1"),
    ("DMP_RATE_LIMIT__AUTH_PER_SOURCE_PER_MINUTE", "10000"),
];

fn cli(dir: &Path, args: &[&str], stdin: Option<&str>) -> (i32, String, String) {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .arg("--data-dir")
        .arg(dir)
        .env("DMP_DURABILITY", "normal")
        .envs(CHEAP_KDF)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    let mut child = cmd.spawn().unwrap();
    if let Some(input) = stdin {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

/// A `dmp-server serve` child process.
struct Proc {
    child: Child,
    base: String,
    tls: std::sync::Arc<rustls::ClientConfig>,
    stderr: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Proc {
    fn start(dir: &Path, env: &[(&str, &str)]) -> Self {
        let mut cmd = Command::new(BIN);
        // These tests are about the process (backup, logs, crashes) and send
        // clear text: the operator's migration mode, explicitly.
        cmd.args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
            .arg(dir)
            .env("DMP_DURABILITY", "normal")
            .envs(CHEAP_KDF)
            .env("DMP_METRICS_BIND", "127.0.0.1:0")
            .env("DMP_REQUIRE_E2E", "false")
            .env("RUST_LOG", "debug")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let base = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        let stderr = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let sink = stderr.clone();
        let mut err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Self {
            child,
            base,
            tls: client_tls(&demo_ca(dir)),
            stderr,
        }
    }

    fn url(&self, p: &str) -> String {
        format!("{}{}", self.base, p)
    }

    fn terminate(&mut self) -> i32 {
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        self.child.wait().unwrap().code().unwrap_or(-1)
    }

    fn kill9(&mut self) {
        self.child.kill().unwrap();
        let _ = self.child.wait();
    }

    fn logs(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn login(http: &reqwest::Client, p: &Proc, user: &str, pw: &str) -> Value {
    let pre: Value = http
        .post(p.url("/api/auth/prelogin"))
        .json(&json!({ "username": user }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let secret = common::derive_credential(&pre, pw).await;
    let res = http
        .post(p.url("/api/auth/login"))
        .json(&json!({"username":user,"password":secret}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

async fn ws(p: &Proc, token: &str) -> Ws {
    let mut req = format!("{}/api/messaging/ws", p.base.replacen("http", "ws", 1))
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    let stream = common::ws_connect(&p.tls, req).await.unwrap();
    let mut w = Ws { stream };
    w.next_of("ready").await;
    w
}

/// The local CA that `demo` creates.
fn demo_ca(dir: &Path) -> std::path::PathBuf {
    dir.join("tls").join("ca.pem")
}

/// An HTTP client trusting only the demo CA of `dir`.
fn demo_http(dir: &Path) -> reqwest::Client {
    http_client(&client_tls(&demo_ca(dir)))
}

fn demo(dir: &Path) {
    let (code, out, err) = cli(dir, &["demo"], None);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("jean.dupont") && out.contains("patient-demo-2026"));
    assert!(
        out.contains(&demo_ca(dir).display().to_string()),
        "demo prints the CA file: {out}"
    );
}

#[test]
fn import_refuses_inconsistent_files_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    demo(dir.path());
    let (_, before, _) = cli(dir.path(), &["audit", "--json"], None);
    let bad = json!({
        "users": [
            {"id":"patient_900","type":"patient","name":"Nouveau Patient","username":"nouveau.patient","password":"un-mot-de-passe-long"},
            {"id":"medecin_901","type":"doctor","name":"Dr. X","username":"dr.x","password":"un-mot-de-passe-long"},
            {"id":"patient_902","type":"patient","name":"P","username":"p.902","password":"un-mot-de-passe-long","email":"p@example.org"},
            {"id":"medecin_903","type":"medecin","name":"Dr. Y","username":"dr.y","password":"un-mot-de-passe-long","email":"pas-une-adresse"}
        ],
        "contexts": [
            {"type":"ordonnance","id":"ord_900","title":"Ordonnance","date":"2026-04-01","patientId":"patient_999","doctorId":"medecin_456","summary":""},
            {"type":"examen","id":"exa_900","title":"Examen","date":"2026-04-01","patientId":"medecin_456","doctorId":"patient_123","summary":""}
        ]
    });
    let file = dir.path().join("bad.json");
    std::fs::write(&file, bad.to_string()).unwrap();
    let (code, _, err) = cli(dir.path(), &["import", file.to_str().unwrap()], None);
    assert_eq!(code, 2);
    assert!(err.contains("nothing was written"), "{err}");
    assert!(
        err.contains("type must be patient, medecin or admin"),
        "{err}"
    );
    assert!(err.contains("unknown patient patient_999"), "{err}");
    assert!(err.contains("is a medecin, not a patient"), "{err}");
    assert!(
        err.contains("(patient_902): only doctors get the urgent-message e-mail"),
        "{err}"
    );
    assert!(
        err.contains("(medecin_903): email is not an e-mail address"),
        "{err}"
    );
    assert!(!err.contains("un-mot-de-passe-long"));
    let (_, after, _) = cli(dir.path(), &["audit", "--json"], None);
    assert_eq!(before, after, "nothing written, not even an audit line");
    std::fs::write(&file, "{\"users\": 12}").unwrap();
    let (code, _, err) = cli(dir.path(), &["import", file.to_str().unwrap()], None);
    assert_eq!(code, 2);
    assert!(err.contains("not a valid import file"), "{err}");

    let good = json!({
        "users": [{"id":"patient_900","type":"patient","name":"Élise Garnier","username":"elise.garnier","password":"un-mot-de-passe-long"},
                  {"id":"medecin_904","type":"medecin","name":"Dr. Léa Roux","username":"dr.roux","password":"un-mot-de-passe-long","email":"dr.roux@cabinet.example"}],
        "contexts": [{"type":"examen","id":"exa_900","title":"Scanner","date":"2026-04-01","patientId":"patient_900","doctorId":"medecin_456","summary":"Scanner thoracique"}]
    });
    std::fs::write(&file, good.to_string()).unwrap();
    let (code, out, err) = cli(dir.path(), &["import", file.to_str().unwrap()], None);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("imported 2 users and 1 contexts"), "{out}");
    // The doctor's e-mail address came with the import.
    let conn = rusqlite::Connection::open(dir.path().join("dmp.sqlite3")).unwrap();
    let email: String = conn
        .query_row(
            "SELECT email FROM user_emails WHERE user_id = 'medecin_904'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(email, "dr.roux@cabinet.example");
    // The password is stored as an Argon2id verifier only.
    let db = std::fs::read(dir.path().join("dmp.sqlite3")).unwrap();
    assert!(!String::from_utf8_lossy(&db).contains("un-mot-de-passe-long"));
}

#[test]
fn user_commands_and_audit_chain_verification() {
    let dir = tempfile::tempdir().unwrap();
    demo(dir.path());
    let (code, _, err) = cli(
        dir.path(),
        &[
            "user",
            "add",
            "--id",
            "medecin_910",
            "--type",
            "medecin",
            "--name",
            "Dr. Hugo Roux",
            "--username",
            "dr.roux",
        ],
        Some("roux-password-2026\n"),
    );
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = cli(
        dir.path(),
        &[
            "user",
            "add",
            "--id",
            "medecin_911",
            "--type",
            "medecin",
            "--name",
            "X",
            "--username",
            "x",
        ],
        Some("short\n"),
    );
    assert_eq!(code, 2);
    assert!(err.contains("at least 10 characters"));
    assert_eq!(
        cli(dir.path(), &["user", "disable", "medecin_910"], None).0,
        0
    );
    assert_eq!(
        cli(
            dir.path(),
            &["user", "disable", "medecin_910", "--enable"],
            None
        )
        .0,
        0
    );
    assert_eq!(
        cli(
            dir.path(),
            &["user", "passwd", "medecin_910"],
            Some("another-password-2026\n")
        )
        .0,
        0
    );
    let (code, _, err) = cli(dir.path(), &["user", "disable", "medecin_999"], None);
    assert_eq!(code, 2);
    assert!(err.contains("no user medecin_999"));

    let (code, out, _) = cli(dir.path(), &["audit", "--json"], None);
    assert_eq!(code, 0);
    let rows: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let actions: Vec<&str> = rows.iter().map(|r| r["action"].as_str().unwrap()).collect();
    assert_eq!(
        actions,
        vec![
            "import",
            "import",
            "user_disable",
            "user_enable",
            "user_passwd"
        ]
    );
    assert!(!out.contains("roux-password-2026") && !out.contains("another-password-2026"));
    let (_, out, _) = cli(
        dir.path(),
        &["audit", "--since", "2000-01-01", "--user", "admin-cli"],
        None,
    );
    assert_eq!(out.lines().count(), 5);
    let (_, out, _) = cli(dir.path(), &["audit", "--since", "2999-01-01"], None);
    assert_eq!(out.lines().count(), 0);

    let (code, out, _) = cli(dir.path(), &["audit", "--verify"], None);
    assert_eq!(code, 0);
    assert!(out.contains("intact: 5 rows"), "{out}");
    // Someone with file access edits a row (after removing the guard trigger).
    let conn = rusqlite::Connection::open(dir.path().join("dmp.sqlite3")).unwrap();
    conn.execute_batch(
        "DROP TRIGGER audit_no_update; UPDATE audit SET actor = 'someone-else' WHERE id = 3;",
    )
    .unwrap();
    drop(conn);
    let (code, out, _) = cli(dir.path(), &["audit", "--verify"], None);
    assert_eq!(code, 1);
    assert!(out.contains("BROKEN at row 3"), "{out}");
    // The trigger refuses edits and deletions while it is in place.
    let conn = rusqlite::Connection::open(dir.path().join("dmp.sqlite3")).unwrap();
    assert!(conn.execute("DELETE FROM audit WHERE id = 1", []).is_err());
}

#[tokio::test]
async fn serve_backup_restore_and_graceful_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    demo(dir.path());
    let http = demo_http(dir.path());
    let mut p = Proc::start(dir.path(), &[]);
    let tok = login(&http, &p, "jean.dupont", "patient-demo-2026").await;
    let access = tok["accessToken"].as_str().unwrap();
    for i in 0..2 {
        let res = http
            .post(p.url("/api/messaging/send"))
            .bearer_auth(access)
            .json(&json!({"clientMessageId":format!("b{i}"),"contextType":"ordonnance","contextId":"ord_789","content":format!("avant sauvegarde {i}")}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
    }
    let backup = dir.path().join("backup.sqlite3");
    let (code, out, err) = cli(dir.path(), &["backup", backup.to_str().unwrap()], None);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("backup written"));
    let (code, _, err) = cli(dir.path(), &["backup", backup.to_str().unwrap()], None);
    assert_eq!(code, 2, "an existing file is never overwritten");
    assert!(err.contains("already exists"));
    let res = http
        .post(p.url("/api/messaging/send"))
        .bearer_auth(access)
        .json(&json!({"clientMessageId":"after","contextType":"ordonnance","contextId":"ord_789","content":"après sauvegarde"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    // Restore is refused while the server runs.
    let (code, _, err) = cli(dir.path(), &["restore", backup.to_str().unwrap()], None);
    assert_eq!(code, 2);
    assert!(
        err.contains("in use") || err.contains("stop the server"),
        "{err}"
    );
    assert_eq!(p.terminate(), 0, "SIGTERM is a clean exit");
    // A file that is not a backup is refused.
    let junk = dir.path().join("junk.sqlite3");
    std::fs::write(&junk, b"not a database at all, really not").unwrap();
    let (code, _, _) = cli(dir.path(), &["restore", junk.to_str().unwrap()], None);
    assert_eq!(code, 2);
    let (code, out, err) = cli(dir.path(), &["restore", backup.to_str().unwrap()], None);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("restored"));
    let p = Proc::start(dir.path(), &[]);
    let tok = login(&http, &p, "jean.dupont", "patient-demo-2026").await;
    let h: Value = http
        .get(p.url("/api/messaging/history/ordonnance/ord_789"))
        .bearer_auth(tok["accessToken"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let contents: Vec<&str> = h["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert_eq!(contents, vec!["avant sauvegarde 0", "avant sauvegarde 1"]);
    let (code, out, _) = cli(dir.path(), &["audit"], None);
    assert_eq!(code, 0);
    assert!(out.contains("restore"));
}

#[tokio::test]
async fn logs_and_audit_never_contain_message_text_tokens_or_passwords() {
    let dir = tempfile::tempdir().unwrap();
    demo(dir.path());
    let http = demo_http(dir.path());
    let p = Proc::start(dir.path(), &[]);
    let secret = "Mon-diabete-secret-7f3a";
    let tok = login(&http, &p, "jean.dupont", "patient-demo-2026").await;
    let access = tok["accessToken"].as_str().unwrap().to_owned();
    let refresh = tok["refreshToken"].as_str().unwrap().to_owned();
    let res = http
        .post(p.url("/api/messaging/send"))
        .bearer_auth(&access)
        .json(&json!({"clientMessageId":"leak-1","contextType":"ordonnance","contextId":"ord_789","content":secret}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    // Failing requests carrying the secret.
    let res = http
        .post(p.url("/api/messaging/send"))
        .bearer_auth(&access)
        .json(&json!({"clientMessageId":"leak-2","contextType":"ordonnance","contextId":"ord_790","content":secret}))
        .send()
        .await
        .unwrap();
    let body: Value = res.json().await.unwrap();
    assert_eq!(error_code(&body), "CONTEXT_ACCESS_DENIED");
    assert!(!body.to_string().contains(secret));
    let res = http
        .post(p.url("/api/messaging/send"))
        .bearer_auth(&access)
        .header("content-type", "application/json")
        .body(format!(r#"{{"clientMessageId":"leak-3","contextType":"ordonnance","contextId":"ord_789","content":{{"x":"{secret}"}}}}"#))
        .send()
        .await
        .unwrap();
    assert!(!res.text().await.unwrap().contains(secret));
    let _ = http
        .post(p.url("/api/auth/login"))
        .json(&json!({"username":"jean.dupont","password":"Wrong-Password-99"}))
        .send()
        .await
        .unwrap();
    // Over the WebSocket too.
    let mut w = ws(&p, &access).await;
    let ack = w.send_message(ORD, "leak-ws", secret).await;
    assert_eq!(ack["type"], "ack");
    w.stream
        .send(Message::Text(
            format!(r#"{{"type":"send","content":"{secret}"}}"#).into(),
        ))
        .await
        .unwrap();
    assert!(!w.next_of("error").await.to_string().contains(secret));
    let _ = http
        .post(p.url("/api/auth/refresh"))
        .json(&json!({"refreshToken": refresh}))
        .send()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;

    let logs = p.logs();
    assert!(logs.contains("request"), "debug logs were captured");
    for needle in [
        secret,
        &access,
        &refresh,
        "patient-demo-2026",
        "Wrong-Password-99",
    ] {
        assert!(
            !logs.contains(needle),
            "logs contain a secret: {}",
            &needle[..needle.len().min(12)]
        );
    }
    let (_, audit, _) = cli(dir.path(), &["audit", "--json"], None);
    assert!(audit.contains("\"send\""));
    for needle in [
        secret,
        &access,
        &refresh,
        "patient-demo-2026",
        "Wrong-Password-99",
    ] {
        assert!(!audit.contains(needle));
    }
}

/// The server is killed (SIGKILL) while a patient is sending; after a
/// restart, the client resends what was not acked (same clientMessageId)
/// and resumes: every message exists exactly once, acked ones included.
#[tokio::test]
async fn sigkill_mid_send_loses_nothing_and_duplicates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    demo(dir.path());
    let http = demo_http(dir.path());
    let env = [
        ("DMP_RATE_LIMIT__SEND_PER_SECOND", "100000"),
        ("DMP_RATE_LIMIT__SEND_BURST", "100000"),
        ("DMP_RATE_LIMIT__WS_FRAMES_PER_SECOND", "100000"),
        ("DMP_RATE_LIMIT__WS_FRAMES_BURST", "100000"),
    ];
    let mut p = Proc::start(dir.path(), &env);
    let pt = login(&http, &p, "jean.dupont", "patient-demo-2026").await;
    let dt = login(&http, &p, "dr.martin", "medecin-demo-2026").await;
    let mut pw = ws(&p, pt["accessToken"].as_str().unwrap()).await;
    let mut dw = ws(&p, dt["accessToken"].as_str().unwrap()).await;

    const N: usize = 400;
    let all: Vec<String> = (0..N).map(|i| format!("crash-{i}")).collect();
    // Pipelined sends; the process dies after the first 100 acks.
    for cmid in &all {
        pw.send(json!({"type":"send","clientMessageId":cmid,"contextType":"ordonnance","contextId":"ord_789","content":format!("contenu {cmid}")})).await;
    }
    let mut acked: HashMap<String, String> = HashMap::new();
    while acked.len() < 100 {
        let a = pw.next_of("ack").await;
        acked.insert(
            a["clientMessageId"].as_str().unwrap().into(),
            a["message"]["id"].as_str().unwrap().into(),
        );
    }
    p.kill9();
    // The doctor saw some messages before the crash.
    let mut doctor_seen: BTreeMap<u64, String> = BTreeMap::new();
    while let Some(common::Event::Frame(v)) = dw.event(1).await {
        if v["type"] == "message" {
            doctor_seen.insert(
                v["message"]["seq"].as_u64().unwrap(),
                v["message"]["clientMessageId"].as_str().unwrap().into(),
            );
        }
    }

    let p = Proc::start(dir.path(), &env);
    let pt = login(&http, &p, "jean.dupont", "patient-demo-2026").await;
    let mut pw = ws(&p, pt["accessToken"].as_str().unwrap()).await;
    // The outbox: resend everything not acked, with the same keys.
    let unacked: Vec<&String> = all.iter().filter(|c| !acked.contains_key(*c)).collect();
    for cmid in &unacked {
        pw.send(json!({"type":"send","clientMessageId":cmid,"contextType":"ordonnance","contextId":"ord_789","content":format!("contenu {cmid}")})).await;
    }
    for _ in 0..unacked.len() {
        let a = pw.next_of("ack").await;
        acked.insert(
            a["clientMessageId"].as_str().unwrap().into(),
            a["message"]["id"].as_str().unwrap().into(),
        );
    }
    assert_eq!(acked.len(), N);

    // The doctor resumes from the last seq it holds and gets the rest, in order, no gap.
    let dt = login(&http, &p, "dr.martin", "medecin-demo-2026").await;
    let mut dw = ws(&p, dt["accessToken"].as_str().unwrap()).await;
    let last = doctor_seen.keys().next_back().copied().unwrap_or(0);
    dw.send(json!({"type":"resume","sessions":{"session_ordonnance_ord_789_patient_123_medecin_456": last}})).await;
    let mut seq = last;
    while seq < N as u64 {
        let m = dw.next_of("message").await;
        let got = m["message"]["seq"].as_u64().unwrap();
        if got <= last {
            continue; // a live copy of an earlier one
        }
        assert_eq!(got, seq + 1, "gap in resume");
        seq = got;
        doctor_seen.insert(
            got,
            m["message"]["clientMessageId"].as_str().unwrap().into(),
        );
    }

    let h: Value = http
        .get(p.url("/api/messaging/export/ordonnance/ord_789"))
        .bearer_auth(dt["accessToken"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let msgs = h["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), N, "every message exactly once");
    let keys: HashSet<&str> = msgs
        .iter()
        .map(|m| m["clientMessageId"].as_str().unwrap())
        .collect();
    assert_eq!(keys.len(), N);
    for m in msgs {
        let cmid = m["clientMessageId"].as_str().unwrap();
        assert_eq!(
            acked[cmid],
            m["id"].as_str().unwrap(),
            "the acked id is the stored id"
        );
    }
    let seqs: Vec<u64> = msgs.iter().map(|m| m["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=N as u64).collect::<Vec<_>>());
    assert_eq!(doctor_seen.len(), N);
}

/// Runs `serve` expecting it to refuse to start; returns its stderr.
fn serve_refused(dir: &Path, bind: &str, env: &[(&str, &str)]) -> String {
    let mut cmd = Command::new(BIN);
    cmd.args(["serve", "--bind", bind, "--data-dir"])
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    for _ in 0..200 {
        if let Some(status) = child.try_wait().unwrap() {
            assert_eq!(status.code(), Some(2));
            let mut err = String::new();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            let mut out = String::new();
            child
                .stdout
                .take()
                .unwrap()
                .read_to_string(&mut out)
                .unwrap();
            assert!(!out.contains("listening"), "{out}");
            return err;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    panic!("serve started on {bind} with {env:?}");
}

#[tokio::test]
async fn demo_creates_a_local_ca_and_serve_speaks_https_only() {
    let dir = tempfile::tempdir().unwrap();
    // No certificate yet: serve refuses, naming the setting and the way out.
    let err = serve_refused(dir.path(), "127.0.0.1:0", &[]);
    assert!(
        err.contains("tls.cert_file") && err.contains("file not found"),
        "{err}"
    );
    // Plain HTTP is refused on an address other hosts reach, even when asked for.
    let err = serve_refused(dir.path(), "0.0.0.0:0", &[("DMP_INSECURE_HTTP", "true")]);
    assert!(
        err.contains("insecure_http is only allowed on a loopback"),
        "{err}"
    );

    demo(dir.path());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir.path().join("tls")), 0o700);
        assert_eq!(mode(&dir.path().join("tls/server.key")), 0o600);
    }
    // The CA key is never kept: only the CA certificate, the server chain and its key.
    let mut files: Vec<String> = std::fs::read_dir(dir.path().join("tls"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(files, ["ca.pem", "server.key", "server.pem"]);
    // A second demo keeps the certificate (clients keep trusting it).
    let ca = std::fs::read(demo_ca(dir.path())).unwrap();
    demo(dir.path());
    assert_eq!(std::fs::read(demo_ca(dir.path())).unwrap(), ca);
    // `tls init` does not overwrite without --force, and replaces with it.
    let (code, _, err) = cli(dir.path(), &["tls", "init"], None);
    assert_eq!(code, 2);
    assert!(err.contains("--force"), "{err}");
    let (code, out, err) = cli(
        dir.path(),
        &["tls", "init", "--hostname", "dmp.example.fr", "--force"],
        None,
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("ca.pem"), "{out}");
    assert_ne!(std::fs::read(demo_ca(dir.path())).unwrap(), ca);

    let p = Proc::start(dir.path(), &[]);
    assert!(p.base.starts_with("https://127.0.0.1:"), "{}", p.base);
    let res = demo_http(dir.path())
        .get(p.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["strict-transport-security"],
        "max-age=31536000"
    );
    // A client that does not trust the demo CA cannot talk to it.
    let (other_ca, _, _) = common::test_certificates("another CA", &["127.0.0.1"]);
    let other = dir.path().join("other-ca.pem");
    std::fs::write(&other, other_ca).unwrap();
    assert!(http_client(&client_tls(&other))
        .get(p.url("/healthz"))
        .send()
        .await
        .is_err());
    // Plain HTTP to the TLS port gets no HTTP answer.
    let plain = p.url("/healthz").replacen("https", "http", 1);
    assert!(reqwest::Client::new().get(plain).send().await.is_err());
    let tok = login(
        &demo_http(dir.path()),
        &p,
        "jean.dupont",
        "patient-demo-2026",
    )
    .await;
    let mut w = ws(&p, tok["accessToken"].as_str().unwrap()).await;
    w.send(json!({"type":"ping"})).await;
    w.next_of("pong").await;
    drop(p);

    // Insecure mode on loopback, when asked for: http:// and no HSTS.
    let p = Proc::start(dir.path(), &[("DMP_INSECURE_HTTP", "true")]);
    assert!(p.base.starts_with("http://127.0.0.1:"), "{}", p.base);
    let res = reqwest::Client::new()
        .get(p.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers().get("strict-transport-security").is_none());
}
