//! Resource bounds (docs/security.md, "Resource bounds"): each bound is a
//! setting, and each test here drives the real server past it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use serde_json::json;
use std::time::Duration;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// Tries to open a socket authenticated by header; the HTTP status when refused.
async fn try_ws(s: &TestServer, login: &Login) -> Result<Ws, u16> {
    let mut req = format!("{}/api/messaging/ws", s.ws_base)
        .into_client_request()
        .unwrap();
    req.headers_mut().insert(
        "authorization",
        format!("Bearer {}", login.access).parse().unwrap(),
    );
    match s.ws_connect(req).await {
        Ok(stream) => {
            let mut ws = Ws { stream };
            ws.next_of("ready").await;
            Ok(ws)
        }
        Err(tokio_tungstenite::tungstenite::Error::Http(res)) => Err(res.status().as_u16()),
        Err(e) => panic!("unexpected WebSocket error: {e}"),
    }
}

fn audit_rows(s: &TestServer) -> i64 {
    let c = rusqlite::Connection::open(s.database()).unwrap();
    c.query_row("SELECT COUNT(*) FROM audit", [], |r| r.get(0))
        .unwrap()
}

fn pdf(len: usize) -> Vec<u8> {
    let mut v = b"%PDF-1.7\n".to_vec();
    v.resize(len, b' ');
    v
}

#[tokio::test]
async fn websocket_caps_per_user_and_per_source() {
    let s = TestServer::start_with(|c| {
        c.ws.max_per_user = 2;
        c.ws.max_per_source = 4;
    })
    .await;
    let hub = s.server.as_ref().unwrap().state.hub.clone();
    let (p, op) = (s.login(PATIENT).await, s.login(OTHER_PATIENT).await);
    let mut first = try_ws(&s, &p).await.unwrap();
    let _second = try_ws(&s, &p).await.unwrap();
    // The user's third socket is refused at the upgrade.
    assert_eq!(try_ws(&s, &p).await.err(), Some(429));
    // ... and also when it authenticates with a first frame.
    let mut raw = s.ws_raw().await;
    raw.send(json!({"type":"auth","token":p.access})).await;
    assert_eq!(raw.next_of("error").await["code"], "RATE_LIMIT_EXCEEDED");
    assert_eq!(raw.closed(5).await, Some(1008));
    // Closing one socket gives its place back.
    first.stream.close(None).await.unwrap();
    let mut third = None;
    for _ in 0..100 {
        if let Ok(w) = try_ws(&s, &p).await {
            third = Some(w);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _third = third.expect("a new socket once one closed");

    // Source cap: 2 patient + 2 other-patient sockets from 127.0.0.1; a 5th
    // (a user under their own cap) is refused.
    let _o1 = try_ws(&s, &op).await.unwrap();
    let mut o2 = try_ws(&s, &op).await.unwrap();
    let d = s.login(DOCTOR).await;
    assert_eq!(try_ws(&s, &d).await.err(), Some(429));
    o2.stream.close(None).await.unwrap();
    eventually("a place from this address again", || async {
        try_ws(&s, &d).await.is_ok()
    })
    .await;

    // Counts leave the maps with the last socket.
    drop((_o1, _second, _third));
    eventually("slot maps pruned", || async { hub.slot_keys() == (0, 0) }).await;
}

#[tokio::test]
async fn resume_naming_300_foreign_sessions_is_refused_once() {
    let s = TestServer::start_migration().await;
    let (p, d) = (s.login(PATIENT).await, s.login(DOCTOR).await);
    let (st, sent) = s.send(&d, ORD, "own-1", "bonjour").await;
    assert_eq!(st, 201);
    let own = sent["sessionId"].as_str().unwrap().to_owned();
    let mut w = s.ws(&p).await;
    let before = audit_rows(&s);
    let mut sessions = serde_json::Map::new();
    for i in 0..300 {
        sessions.insert(
            format!("session_ordonnance_ord_{i}_patient_9{i}_medecin_456"),
            json!(0),
        );
    }
    // A real session of someone else, too.
    sessions.insert(
        "session_ordonnance_ord_790_patient_124_medecin_456".into(),
        json!(0),
    );
    sessions.insert(own.clone(), json!(0));
    w.send(json!({"type":"resume","sessions":sessions})).await;
    let mut errors = 0;
    let mut messages = 0;
    while let Some(Event::Frame(f)) = w.event(1).await {
        match f["type"].as_str() {
            Some("error") => {
                assert_eq!(f["code"], "CONTEXT_ACCESS_DENIED");
                errors += 1;
            }
            Some("message") => messages += 1,
            _ => {}
        }
    }
    assert_eq!(
        (errors, messages),
        (1, 1),
        "one refusal, own session replayed"
    );
    let grown = audit_rows(&s) - before;
    assert!(grown <= 1, "audit grew by {grown} rows");
}

#[tokio::test]
async fn admins_cannot_upload() {
    let s = TestServer::start().await;
    let a = s.login(ADMIN).await;
    let (st, body) = upload(&s, &a, "scan.pdf", &pdf(100)).await;
    assert_eq!((st, error_code(&body)), (403, "CONTEXT_ACCESS_DENIED"));
}

#[tokio::test]
async fn upload_quota_and_rate_per_user() {
    let s = TestServer::start_with(|c| {
        migration_mode(c);
        c.uploads.quota_bytes_per_user = 3000;
    })
    .await;
    let p = s.login(PATIENT).await;
    assert_eq!(upload(&s, &p, "a.pdf", &pdf(2000)).await.0, 201);
    let (st, body) = upload(&s, &p, "b.pdf", &pdf(2000)).await;
    assert_eq!((st, error_code(&body)), (413, "VALIDATION_FAILED"));
    assert!(body["error"]["message"].as_str().unwrap().contains("quota"));
    // What fits still passes; another user has their own quota.
    assert_eq!(upload(&s, &p, "c.pdf", &pdf(900)).await.0, 201);
    let (st, _) = upload(&s, &p, "d.pdf", &pdf(200)).await;
    assert_eq!(st, 413);
    let d = s.login(DOCTOR).await;
    assert_eq!(upload(&s, &d, "e.pdf", &pdf(2000)).await.0, 201);
    // No .part file is left by the refused uploads.
    let parts = std::fs::read_dir(s.config.attachments_dir())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "part")
        })
        .count();
    assert_eq!(parts, 0);

    let s = TestServer::start_with(|c| {
        migration_mode(c);
        c.uploads.burst = 3.0;
        c.uploads.per_minute = 1.0;
    })
    .await;
    let p = s.login(PATIENT).await;
    for i in 0..3 {
        assert_eq!(upload(&s, &p, &format!("{i}.pdf"), &pdf(100)).await.0, 201);
    }
    let (st, body) = upload(&s, &p, "4.pdf", &pdf(100)).await;
    assert_eq!((st, error_code(&body)), (429, "RATE_LIMIT_EXCEEDED"));
    // The limit is per user.
    let d = s.login(DOCTOR).await;
    assert_eq!(upload(&s, &d, "x.pdf", &pdf(100)).await.0, 201);
}

#[tokio::test]
async fn unattached_uploads_and_part_files_are_purged() {
    let s = TestServer::start_with(|c| {
        migration_mode(c);
        c.uploads.orphan_after_hours = 24;
    })
    .await;
    let state = s.server.as_ref().unwrap().state.clone();
    let p = s.login(PATIENT).await;
    let (_, orphan) = upload(&s, &p, "orphan.pdf", &pdf(100)).await;
    let (_, kept) = upload(&s, &p, "kept.pdf", &pdf(100)).await;
    let (orphan, kept) = (
        orphan["id"].as_str().unwrap().to_owned(),
        kept["id"].as_str().unwrap().to_owned(),
    );
    let (st, _) = s
        .post(
            "/api/messaging/send",
            Some(&p.access),
            json!({"clientMessageId":"with-file","contextType":"ordonnance","contextId":"ord_789",
                   "content":"ci-joint","attachments":[kept]}),
        )
        .await;
    assert_eq!(st, 201);
    let dir = s.config.attachments_dir();
    let part = dir.join("att_interrupted.part");
    std::fs::write(&part, b"half an upload").unwrap();

    // Not yet old enough.
    s.clock.advance(chrono::Duration::hours(23));
    dmp_server::app::run_maintenance(&state).await;
    assert!(dir.join(&orphan).exists() && part.exists());

    s.clock.advance(chrono::Duration::hours(2));
    dmp_server::app::run_maintenance(&state).await;
    assert!(!dir.join(&orphan).exists(), "orphan file removed");
    assert!(!part.exists(), ".part file removed");
    assert!(dir.join(&kept).exists(), "a sent attachment stays");
    let p = s.login(PATIENT).await; // the clock moved past the first token
    let (st, _) = s
        .get(
            &format!("/api/messaging/attachments/{orphan}"),
            Some(&p.access),
        )
        .await;
    assert_eq!(st, 404);
    let (st, _) = s
        .get(
            &format!("/api/messaging/attachments/{kept}"),
            Some(&p.access),
        )
        .await;
    assert_eq!(st, 200);
}

#[tokio::test]
async fn metrics_are_apart_and_labels_are_a_fixed_set() {
    let s = TestServer::start().await;
    // Not on the public API.
    let (st, _) = s.get("/metrics", None).await;
    assert_eq!(st, 404);
    let scrape = || async {
        s.http
            .get(s.metrics_url())
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    let series = |text: &str| {
        text.lines()
            .filter(|l| l.starts_with("dmp_http_request_duration_seconds_count"))
            .count()
    };
    let method = |i: usize| reqwest::Method::from_bytes(format!("BREW{i}").as_bytes()).unwrap();
    s.http
        .request(method(0), s.url("/api/contexts"))
        .send()
        .await
        .unwrap();
    let before = series(&scrape().await);
    for i in 1..50 {
        s.http
            .request(method(i), s.url(&format!("/made/up/{i}")))
            .send()
            .await
            .unwrap();
        s.http
            .request(method(i), s.url("/api/contexts"))
            .send()
            .await
            .unwrap();
    }
    let after = scrape().await;
    assert!(
        !after.contains("BREW") && !after.contains("/made/up"),
        "{after}"
    );
    // At most the one `unmatched` series the made-up paths add.
    assert!(series(&after) <= before + 1, "{after}");
}

#[cfg(unix)]
#[tokio::test]
async fn files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    // A data directory the server creates itself (a temporary one is 0700 already).
    let s = TestServer::start_with(|c| {
        migration_mode(c);
        c.data_dir = c.data_dir.join("data");
    })
    .await;
    let p = s.login(PATIENT).await;
    assert_eq!(s.send(&p, ORD, "f-1", "bonjour").await.0, 201);
    let (st, a) = upload(&s, &p, "scan.pdf", &pdf(100)).await;
    assert_eq!(st, 201);
    let store = dmp_server::app::open_store(&s.config).unwrap();
    let backup = s.dir.path().join("backup.sqlite3");
    dmp_server::admin::backup(&store, &backup).await.unwrap();
    let mode = |p: &std::path::Path| {
        std::fs::metadata(p)
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
            .permissions()
            .mode()
            & 0o777
    };
    let data = &s.config.data_dir;
    assert_eq!(mode(data), 0o700);
    assert_eq!(mode(&s.config.attachments_dir()), 0o700);
    let db = s.database();
    let wal = db.with_extension("sqlite3-wal");
    let shm = db.with_extension("sqlite3-shm");
    let attachment = s.config.attachments_dir().join(a["id"].as_str().unwrap());
    for f in [&db, &wal, &shm, &data.join("jwt.key"), &attachment, &backup] {
        assert_eq!(mode(f), 0o600, "{}", f.display());
    }
}
