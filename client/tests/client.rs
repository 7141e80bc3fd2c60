//! The client core against the real server on a loopback port, with the
//! real Secret Service and notification daemon of the test session.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use dmp_client::{ClientEvent, ConnectionState, DmpClient, ExportFormat};
use dmp_protocol::*;
use std::collections::HashSet;
use std::process::{Command, Stdio};
use std::time::Duration;

fn ord() -> (ContextType, ContextId) {
    (ContextType::Ordonnance, ContextId::new("ord_789"))
}

fn meta() -> MessageMetadata {
    MessageMetadata::default()
}

#[tokio::test]
async fn patient_and_doctor_converse_live() {
    require_desktop_services();
    let server = Server::start(|_| {}).await;
    let (pd, dd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let patient = login(&server, pd.path(), PATIENT, false).await;
    let doctor = login(&server, dd.path(), DOCTOR, false).await;
    patient.contexts().await.unwrap();
    doctor.contexts().await.unwrap();
    let mut pev = patient.subscribe();
    let mut dev = doctor.subscribe();
    patient.connect();
    doctor.connect();
    wait_connected(&patient).await;
    wait_connected(&doctor).await;

    let (k, id) = ord();
    let local = patient
        .send(
            k,
            &id,
            "Bonjour docteur, une question sur le médicament",
            meta(),
            vec![],
        )
        .await
        .unwrap();
    assert!(
        local.id.as_str().starts_with("local:"),
        "sent over the socket, pending until the ack"
    );
    let acked = wait_for(&mut pev, "ack", |e| match e {
        ClientEvent::Message { message }
            if message.client_message_id == local.client_message_id =>
        {
            Some(message.clone())
        }
        _ => None,
    })
    .await;
    assert_eq!(acked.seq, 1);
    let got = wait_for(&mut dev, "message", |e| match e {
        ClientEvent::Message { message } if message.id == acked.id => Some(message.clone()),
        _ => None,
    })
    .await;
    assert_eq!(
        got.content,
        "Bonjour docteur, une question sur le médicament"
    );
    // The doctor's client acknowledges delivery by itself.
    wait_for(&mut pev, "delivered", |e| match e {
        ClientEvent::Status {
            message_id,
            status: MessageStatus::Delivered,
            ..
        } if *message_id == acked.id => Some(()),
        _ => None,
    })
    .await;
    doctor.mark_read(&acked.id).await.unwrap();
    wait_for(&mut pev, "read", |e| match e {
        ClientEvent::Status {
            message_id,
            status: MessageStatus::Read,
            ..
        } if *message_id == acked.id => Some(()),
        _ => None,
    })
    .await;
    assert_eq!(
        patient.cache().message(&acked.id).unwrap().unwrap().status,
        MessageStatus::Read
    );
    assert_eq!(patient.outbox_len().unwrap(), 0);

    doctor.typing(k, &id, true);
    let typing = wait_for(&mut pev, "typing", |e| match e {
        ClientEvent::Typing {
            user,
            is_typing: true,
            ..
        } => Some(user.clone()),
        _ => None,
    })
    .await;
    assert_eq!(typing.name, "Dr. Sophie Martin");
    let reply = doctor
        .send(
            k,
            &id,
            "Prenez-le pendant le repas.",
            MessageMetadata {
                is_urgent: true,
                requires_response: false,
                category: None,
                system: None,
            },
            vec![],
        )
        .await
        .unwrap();
    let got = wait_for(&mut pev, "reply", |e| match e {
        ClientEvent::Message { message }
            if message.client_message_id == reply.client_message_id =>
        {
            Some(message.clone())
        }
        _ => None,
    })
    .await;
    assert!(got.metadata.is_urgent);
    let page = patient.history(k, &id, None, 50).await.unwrap();
    assert_eq!(
        page.messages.iter().map(|m| m.seq).collect::<Vec<_>>(),
        vec![1, 2]
    );
    patient.disconnect().await;
    doctor.disconnect().await;
}

#[tokio::test]
async fn offline_send_goes_out_exactly_once_after_a_restart() {
    require_desktop_services();
    let mut server = Server::start(|_| {}).await;
    let (pd, dd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let doctor = login(&server, dd.path(), DOCTOR, false).await;
    let patient = login(&server, pd.path(), PATIENT, false).await;
    patient.contexts().await.unwrap();
    let (k, id) = ord();
    server.stop().await;
    let pending = patient
        .send(k, &id, "Écrit hors ligne", meta(), vec![])
        .await
        .unwrap();
    assert!(pending.id.as_str().starts_with("local:"));
    assert_eq!(patient.outbox_len().unwrap(), 1);
    let cached = patient.history(k, &id, None, 50).await.unwrap();
    assert!(cached.offline);
    assert_eq!(
        cached.messages.last().unwrap().client_message_id,
        pending.client_message_id,
        "pending shown from the cache"
    );
    // The app is closed; the server comes back; the app starts again.
    patient.shutdown().await;
    server.restart().await;
    let patient = DmpClient::resume(config(pd.path(), false))
        .await
        .unwrap()
        .expect("remembered login");
    assert_eq!(
        patient.outbox_len().unwrap(),
        1,
        "the outbox survived the restart"
    );
    let mut ev = patient.subscribe();
    patient.connect();
    wait_for(&mut ev, "ack of the queued message", |e| match e {
        ClientEvent::Message { message }
            if message.client_message_id == pending.client_message_id && message.seq > 0 =>
        {
            Some(())
        }
        _ => None,
    })
    .await;
    assert_eq!(patient.outbox_len().unwrap(), 0);
    // Reconnect again: the flushed message is not sent twice.
    patient.disconnect().await;
    patient.connect();
    wait_connected(&patient).await;
    let page = doctor.history(k, &id, None, 50).await.unwrap();
    let contents: Vec<&str> = page.messages.iter().map(|m| m.content.as_str()).collect();
    assert_eq!(contents, vec!["Écrit hors ligne"]);
    patient.disconnect().await;
}

#[tokio::test]
async fn reconnects_and_resumes_after_the_socket_drops() {
    require_desktop_services();
    let mut server = Server::start(|c| c.rate_limit.send_burst = 100.0).await;
    let (pd, dd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let patient = login(&server, pd.path(), PATIENT, false).await;
    let doctor = login(&server, dd.path(), DOCTOR, false).await;
    patient.contexts().await.unwrap();
    let (k, id) = ord();
    let mut pev = patient.subscribe();
    patient.connect();
    wait_connected(&patient).await;
    doctor
        .send(k, &id, "premier", meta(), vec![])
        .await
        .unwrap();
    wait_for(&mut pev, "first", |e| {
        matches!(e, ClientEvent::Message { message } if message.seq == 1).then_some(())
    })
    .await;

    // The server restarts: the socket drops (1001) and the client reconnects by itself.
    server.restart().await;
    wait_for(&mut pev, "reconnecting", |e| {
        matches!(
            e,
            ClientEvent::Connection {
                state: ConnectionState::Reconnecting
            }
        )
        .then_some(())
    })
    .await;
    for i in 2..=4 {
        doctor
            .send(k, &id, &format!("message {i}"), meta(), vec![])
            .await
            .unwrap();
    }
    let mut seen = HashSet::new();
    while seen.len() < 3 {
        let seq = wait_for(&mut pev, "missed messages", |e| match e {
            ClientEvent::Message { message } if message.seq >= 2 => Some(message.seq),
            _ => None,
        })
        .await;
        seen.insert(seq);
    }
    let page = patient.cached_history(k, &id, None, 50).unwrap();
    assert_eq!(
        page.messages.iter().map(|m| m.seq).collect::<Vec<_>>(),
        vec![1, 2, 3, 4],
        "no gap, no duplicate"
    );
    patient.disconnect().await;
}

#[tokio::test]
async fn refresh_is_automatic_and_single_flight() {
    require_desktop_services();
    let server = Server::start(|_| {}).await;
    let pd = tempfile::tempdir().unwrap();
    let patient = login(&server, pd.path(), PATIENT, false).await;
    let before = server.audit_count("refresh").await;
    // The server's clock moves past the 15-minute access token: every call gets SESSION_EXPIRED.
    server.clock.advance(chrono::Duration::minutes(16));
    let calls: Vec<_> = (0..10)
        .map(|_| {
            let c = patient.clone();
            tokio::spawn(async move { c.contexts().await.map(|v| v.len()) })
        })
        .collect();
    for c in calls {
        assert_eq!(c.await.unwrap().unwrap(), 2);
    }
    assert_eq!(
        server.audit_count("refresh").await - before,
        1,
        "ten concurrent calls, one refresh"
    );
    assert_eq!(server.audit_count("refresh_reuse").await, 0);
}

#[tokio::test]
async fn search_is_accent_and_case_insensitive_and_export_files_the_conversation() {
    require_desktop_services();
    let server = Server::start(|c| c.rate_limit.send_burst = 100.0).await;
    let (pd, dd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let patient = login(&server, pd.path(), PATIENT, false).await;
    let doctor = login(&server, dd.path(), DOCTOR, false).await;
    let moreau_dir = tempfile::tempdir().unwrap();
    let _moreau = login(&server, moreau_dir.path(), ("dr.moreau", DOCTOR.1), false).await;
    patient.contexts().await.unwrap();
    let (k, id) = ord();
    patient
        .send(
            k,
            &id,
            "Le médicament de l'Ordonnance me donne des nausées",
            meta(),
            vec![],
        )
        .await
        .unwrap();
    doctor
        .send(
            k,
            &id,
            "Réduisez la dose <script>alert(1)</script> et prenez-le au repas",
            meta(),
            vec![],
        )
        .await
        .unwrap();
    patient
        .send(
            ContextType::Examen,
            &ContextId::new("exa_101"),
            "Question sur le bilan : médicament à jeun ?",
            meta(),
            vec![],
        )
        .await
        .unwrap();
    patient.history(k, &id, None, 50).await.unwrap();
    patient
        .history(ContextType::Examen, &ContextId::new("exa_101"), None, 50)
        .await
        .unwrap();

    let hits = patient.search("medicament", None).unwrap();
    assert_eq!(
        hits.len(),
        2,
        "médicament found without the accent, in both contexts"
    );
    assert!(hits[0].snippet.contains("<mark>médicament</mark>"));
    let hits = patient.search("ORDONNANCE", Some((k, &id))).unwrap();
    assert_eq!(hits.len(), 1);
    assert!(hits[0].snippet.contains("<mark>Ordonnance</mark>"));
    let hits = patient.search("medicament", Some((k, &id))).unwrap();
    assert_eq!(hits.len(), 1, "scoped to one context");
    let hits = patient.search("dose", None).unwrap();
    assert_eq!(hits.len(), 1);
    assert!(
        hits[0].snippet.contains("&lt;script&gt;") && !hits[0].snippet.contains("<script>"),
        "{}",
        hits[0].snippet
    );
    assert!(patient.search("   ", None).unwrap().is_empty());
    assert!(patient.search("\"unbalanced OR", None).is_ok());

    let json = patient.export(k, &id, ExportFormat::Json).await.unwrap();
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["context"]["title"], "Ordonnance du 12/01/2026");
    assert_eq!(v["messages"].as_array().unwrap().len(), 2);
    assert_eq!(v["messages"][0]["sender"]["name"], "Jean Dupont");
    let html = patient.export(k, &id, ExportFormat::Html).await.unwrap();
    assert!(
        html.contains("Ordonnance du 12/01/2026")
            && html.contains("Dr. Sophie Martin")
            && html.contains("Jean Dupont")
    );
    assert!(html.contains("&lt;script&gt;") && !html.contains("<script>alert"));
    assert!(html.contains("envoyé ✓"));
}

fn secret_tool_entries() -> String {
    let out = Command::new("secret-tool")
        .args(["search", "--all", "service", "dmp-messagerie"])
        .output()
        .unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test]
async fn secrets_live_in_the_secret_service_and_the_cache_is_encrypted() {
    require_desktop_services();
    let server = Server::start(|_| {}).await;
    let (pd, dd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let _doctor = login(&server, dd.path(), DOCTOR, false).await;
    let patient = login(&server, pd.path(), PATIENT, false).await;
    patient.contexts().await.unwrap();
    let (k, id) = ord();
    let secret_text = "Ma glycémie secrète 4242";
    patient
        .send(k, &id, secret_text, meta(), vec![])
        .await
        .unwrap();
    patient.history(k, &id, None, 50).await.unwrap();
    let account = format!("patient_123@{}", patient.server());
    let entries = secret_tool_entries();
    assert!(
        entries.contains(&format!("{account}#refresh-token")),
        "refresh token not in the Secret Service: {entries}"
    );
    assert!(
        entries.contains(&format!("{account}#cache-key")),
        "cache key not in the Secret Service"
    );

    // No secret and no message text in any file of the data directory.
    let cache_file = patient.cache().path().to_owned();
    let header = std::fs::read(&cache_file).unwrap();
    assert_ne!(
        &header[..16],
        b"SQLite format 3\0",
        "the cache file is readable as plain SQLite"
    );
    for entry in files_under(pd.path()) {
        let bytes = std::fs::read(&entry).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            !text.contains("glycémie secrète"),
            "clear text in {}",
            entry.display()
        );
        assert!(!text.contains(PATIENT.1), "password in {}", entry.display());
    }
    // A wrong key is refused with a clear error, and nothing is printed by SQLCipher.
    let err = dmp_client::cache::Cache::open(&cache_file, &"ab".repeat(32)).unwrap_err();
    assert_eq!(err.code(), "CACHE_ERROR");
    assert!(err.to_string().contains("cannot be opened"));
    let plain = rusqlite::Connection::open(&cache_file).unwrap();
    assert!(plain
        .query_row("SELECT count(*) FROM sqlite_master", [], |r| r
            .get::<_, i64>(0))
        .is_err());

    // Restart: the remembered login resumes from the keychain and reads the cache.
    patient.shutdown().await;
    let patient = DmpClient::resume(config(pd.path(), false))
        .await
        .unwrap()
        .expect("resume");
    assert!(patient
        .cached_history(k, &id, None, 50)
        .unwrap()
        .messages
        .iter()
        .any(|m| m.content == secret_text));
    // Logout deletes the keychain entries and the cache.
    patient.logout().await.unwrap();
    let entries = secret_tool_entries();
    assert!(
        !entries.contains(&account),
        "keychain entries left after logout: {entries}"
    );
    assert!(!cache_file.exists());
    assert!(DmpClient::resume(config(pd.path(), false))
        .await
        .unwrap()
        .is_none());
}

/// Captures `Notify` calls on the session bus.
struct Monitor {
    child: std::process::Child,
    out: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Monitor {
    fn start() -> Self {
        let mut child = Command::new("dbus-monitor")
            .args([
                "--session",
                "interface='org.freedesktop.Notifications',member='Notify'",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let out = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let sink = out.clone();
        let mut stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            use std::io::Read;
            let mut buf = [0u8; 4096];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        std::thread::sleep(Duration::from_millis(300));
        Self { child, out }
    }

    fn text(&self) -> String {
        self.out.lock().unwrap().clone()
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn native_notifications_name_sender_and_context_never_the_text() {
    require_desktop_services();
    let server = Server::start(|c| c.rate_limit.send_burst = 100.0).await;
    let (pd, dd, pd2) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let patient = login(&server, pd.path(), PATIENT, true).await;
    let doctor = login(&server, dd.path(), DOCTOR, false).await;
    patient.contexts().await.unwrap();
    let mut pev = patient.subscribe();
    patient.connect();
    wait_connected(&patient).await;
    let monitor = Monitor::start();
    let (k, id) = ord();

    let secret = "Résultat confidentiel 98765";
    let m = doctor.send(k, &id, secret, meta(), vec![]).await.unwrap();
    wait_for(&mut pev, "message", |e| {
        matches!(e, ClientEvent::Message { message } if message.id == m.id).then_some(())
    })
    .await;
    let urgent = doctor
        .send(
            k,
            &id,
            "Urgent confidentiel 55555",
            MessageMetadata {
                is_urgent: true,
                requires_response: true,
                category: None,
                system: None,
            },
            vec![],
        )
        .await
        .unwrap();
    wait_for(&mut pev, "urgent", |e| {
        matches!(e, ClientEvent::Message { message } if message.id == urgent.id).then_some(())
    })
    .await;
    // Own message from another device of the patient: no notification.
    let other_device = login(&server, pd2.path(), PATIENT, false).await;
    let own = other_device
        .send(k, &id, "depuis mon autre appareil", meta(), vec![])
        .await
        .unwrap();
    wait_for(&mut pev, "own", |e| {
        matches!(e, ClientEvent::Message { message } if message.id == own.id).then_some(())
    })
    .await;
    // The open conversation: no notification.
    patient.set_open_conversation(Some((k, id.clone())));
    let seen = doctor
        .send(k, &id, "vu dans la conversation ouverte", meta(), vec![])
        .await
        .unwrap();
    wait_for(&mut pev, "open", |e| {
        matches!(e, ClientEvent::Message { message } if message.id == seen.id).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(700)).await;

    let text = monitor.text();
    let notifies = text.matches("member=Notify").count();
    assert_eq!(
        notifies, 2,
        "one per incoming message while the conversation is closed:\n{text}"
    );
    assert!(text.contains("string \"DMP Messagerie\""));
    assert!(
        text.contains("Dr. Sophie Martin — Ordonnance du 12/01/2026"),
        "{text}"
    );
    assert!(text.contains("string \"Nouveau message\""), "{text}");
    assert!(
        text.contains("Urgent — 2 nouveaux messages"),
        "grouped and urgent: {text}"
    );
    assert!(
        !text.contains("98765") && !text.contains("55555") && !text.contains("autre appareil"),
        "message text leaked into a notification"
    );
    // Critical urgency (byte 2) for the urgent one.
    assert!(
        text.contains("string \"urgency\"\n         variant             byte 2"),
        "{text}"
    );
    patient.disconnect().await;
}

/// Clicking a native notification opens its conversation: the click comes
/// from the notification server through one listener for the whole session.
/// A fake click sent by another program on the bus opens nothing, and a burst
/// of notifications costs no thread each (they used to wait for their click
/// on a thread of their own, forever once replaced).
#[tokio::test]
async fn notification_clicks_open_the_conversation_through_one_listener() {
    require_desktop_services();
    let server = Server::start(|c| c.rate_limit.send_burst = 100.0).await;
    let (pd, dd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (tx, mut clicks) = tokio::sync::mpsc::unbounded_channel::<ContextRef>();
    let mut cfg = config(pd.path(), true);
    cfg.on_notification_click = Some(std::sync::Arc::new(move |ctx: ContextRef| {
        let _ = tx.send(ctx);
    }));
    let patient = DmpClient::login(cfg, &server.url(), PATIENT.0, PATIENT.1, true)
        .await
        .unwrap();
    let doctor = login(&server, dd.path(), DOCTOR, false).await;
    patient.contexts().await.unwrap();
    let mut pev = patient.subscribe();
    patient.connect();
    wait_connected(&patient).await;
    let (k, id) = ord();
    let threads = || std::fs::read_dir("/proc/self/task").unwrap().count();
    // Only this test's notification on screen (`dunstctl action 0` clicks the first one).
    let _ = Command::new("dunstctl").arg("close-all").status();
    let monitor = Monitor::start();

    let mut before = 0;
    for i in 0..30 {
        let m = doctor
            .send(k, &id, &format!("message {i}"), meta(), vec![])
            .await
            .unwrap();
        wait_for(&mut pev, "message", |e| {
            matches!(e, ClientEvent::Message { message } if message.id == m.id).then_some(())
        })
        .await;
        if i == 0 {
            before = threads();
        }
    }
    // Every notification reached the server (so every one was shown).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while monitor.text().matches("member=Notify").count() < 30 {
        assert!(
            std::time::Instant::now() < deadline,
            "30 notifications expected:\n{}",
            monitor.text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let after = threads();
    assert!(
        after < before + 8,
        "29 notifications should not cost a thread each: {before} threads, then {after}"
    );

    // A click faked by another connection on the bus (any id a notification may have).
    for nid in 1..=40u32 {
        let ok = Command::new("dbus-send")
            .args([
                "--session",
                "--type=signal",
                "/org/freedesktop/Notifications",
                "org.freedesktop.Notifications.ActionInvoked",
                &format!("uint32:{nid}"),
                "string:default",
            ])
            .status()
            .unwrap()
            .success();
        assert!(ok, "dbus-send failed");
    }
    assert!(
        tokio::time::timeout(Duration::from_secs(1), clicks.recv())
            .await
            .is_err(),
        "a click faked by another program opened a conversation"
    );

    // The user clicks the notification (dunst invokes its default action).
    let ok = Command::new("dunstctl")
        .args(["action", "0"])
        .status()
        .unwrap()
        .success();
    assert!(ok, "dunstctl action failed");
    let opened = tokio::time::timeout(Duration::from_secs(5), clicks.recv())
        .await
        .expect("the click never reached the app")
        .unwrap();
    assert_eq!((opened.kind, opened.id), (k, id.clone()));
    let _ = Command::new("dunstctl").arg("close-all").status();
    patient.disconnect().await;
}

#[test]
fn dmp_cli_end_to_end() {
    require_desktop_services();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt.block_on(Server::start(|_| {}));
    let url = server.url();
    // The doctor has signed in once, so their encryption key is known.
    let doctor_dir = tempfile::tempdir().unwrap();
    let _doctor = rt.block_on(login(&server, doctor_dir.path(), DOCTOR, false));
    let dir = tempfile::tempdir().unwrap();
    let dmp = |args: &[&str], stdin: Option<&str>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_dmp"));
        cmd.args(args)
            .env("DMP_CLIENT_DATA_DIR", dir.path())
            // The test server's certificate is signed by the test CA.
            .env("DMP_CA_FILE", ca_file())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd.stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
        let mut child = cmd.spawn().unwrap();
        if let Some(s) = stdin {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
        }
        let out = child.wait_with_output().unwrap();
        (
            out.status.code().unwrap(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, _, err) = dmp(&["contexts"], None);
    assert_eq!(code, 2);
    assert!(err.contains("not signed in"));
    let (code, _, err) = dmp(
        &[
            "login",
            "--server",
            &url,
            "--username",
            "jean.dupont",
            "--password-stdin",
        ],
        Some("wrong-password\n"),
    );
    assert_eq!(code, 2);
    assert!(err.contains("AUTH_REQUIRED"), "{err}");
    let (code, out, err) = dmp(
        &[
            "login",
            "--server",
            &url,
            "--username",
            "jean.dupont",
            "--password-stdin",
        ],
        Some("patient-demo-2026\n"),
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Jean Dupont"));
    let (code, out, _) = dmp(&["contexts"], None);
    assert_eq!(code, 0);
    assert!(
        out.contains("ordonnance/ord_789") && out.contains("Dr. Sophie Martin"),
        "{out}"
    );
    let pdf = dir.path().join("analyse.pdf");
    std::fs::write(&pdf, b"%PDF-1.4\n1 0 obj\n").unwrap();
    let (code, out, err) = dmp(
        &[
            "send",
            "ordonnance",
            "ord_789",
            "Question sur la posologie",
            "--urgent",
            "--attach",
            pdf.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("envoyé"), "{out}");
    let (code, _, err) = dmp(&["send", "ordonnance", "ord_790", "intrusion"], None);
    assert_eq!(code, 2);
    assert!(err.contains("CONTEXT_ACCESS_DENIED"), "{err}");
    let (_, out, _) = dmp(&["history", "ordonnance", "ord_789"], None);
    assert!(
        out.contains("Question sur la posologie")
            && out.contains("[URGENT]")
            && out.contains("analyse.pdf"),
        "{out}"
    );
    let (_, out, _) = dmp(&["search", "POSOLOGIE"], None);
    assert!(out.contains("<mark>posologie</mark>"), "{out}");
    let export = dir.path().join("export.html");
    let (code, _, _) = dmp(
        &[
            "export",
            "ordonnance",
            "ord_789",
            "--format",
            "html",
            "--output",
            export.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(code, 0);
    assert!(std::fs::read_to_string(&export)
        .unwrap()
        .contains("Question sur la posologie"));
    let (code, out, _) = dmp(&["watch", "--seconds", "2"], None);
    assert_eq!(code, 0);
    assert!(out.contains("\"kind\":\"connection\""), "{out}");
    let (code, _, _) = dmp(&["logout"], None);
    assert_eq!(code, 0);
    let (code, _, _) = dmp(&["contexts"], None);
    assert_eq!(code, 2);
    drop(server);
}

#[tokio::test]
async fn refuses_plain_http_to_other_machines_and_certificates_of_another_ca() {
    let server = Server::start(|_| {}).await;
    assert!(server.url().starts_with("https://127.0.0.1:"));
    let dir = tempfile::tempdir().unwrap();
    // A CA that did not sign the server's certificate.
    let (other, _, _) = certificates("another CA");
    let other_file = dir.path().join("other-ca.pem");
    std::fs::write(&other_file, other).unwrap();
    let mut c = config(dir.path(), false);
    c.ca_file = Some(other_file);
    let err = DmpClient::login(c.clone(), &server.url(), PATIENT.0, PATIENT.1, false)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "TLS_ERROR", "{err}");
    assert!(err.to_string().contains("not trusted"), "{err}");
    // Without a CA file, the public roots and the OS store do not know the test CA either.
    c.ca_file = None;
    let err = DmpClient::login(c.clone(), &server.url(), PATIENT.0, PATIENT.1, false)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "TLS_ERROR", "{err}");
    // A CA file that is not one is named.
    let junk = dir.path().join("junk.pem");
    std::fs::write(&junk, "nothing here\n").unwrap();
    c.ca_file = Some(junk);
    let err = DmpClient::login(c.clone(), &server.url(), PATIENT.0, PATIENT.1, false)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "TLS_ERROR", "{err}");
    assert!(err.to_string().contains("junk.pem"), "{err}");
    // http:// is refused for any other machine, before anything is sent.
    for addr in [
        "http://dmp.example.fr:8443",
        "http://10.0.0.7:8443",
        "http://[2001:db8::1]:8443",
    ] {
        let err = DmpClient::login(config(dir.path(), false), addr, PATIENT.0, PATIENT.1, false)
            .await
            .unwrap_err();
        assert_eq!(err.code(), "INSECURE_SERVER_ADDRESS", "{addr}: {err}");
    }
    // Plain HTTP against the TLS port of this machine gets no answer.
    let plain = server.url().replacen("https", "http", 1);
    let err = DmpClient::login(
        config(dir.path(), false),
        &plain,
        PATIENT.0,
        PATIENT.1,
        false,
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), "NETWORK_UNAVAILABLE", "{err}");
}
