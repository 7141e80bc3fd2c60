//! The WebSocket channel against a real server on 127.0.0.1:0, with real
//! tokio-tungstenite clients.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn patient_and_doctor_converse_with_receipts() {
    let s = TestServer::start_migration().await;
    let (p, d) = (s.login(PATIENT).await, s.login(DOCTOR).await);
    let mut pw = s.ws(&p).await;
    let mut dw = s.ws(&d).await;

    let ack = pw.send_message(ORD, "w-1", "Bonjour docteur").await;
    assert_eq!(ack["type"], "ack");
    let sent = &ack["message"];
    assert_eq!(
        (sent["status"].as_str(), sent["seq"].as_u64()),
        (Some("sent"), Some(1))
    );
    let got = dw.next_of("message").await;
    assert_eq!(got["message"], *sent, "the same object in ack and message");
    let note = dw.next_of("notification").await;
    assert_eq!(
        note["notification"]["title"],
        "Jean Dupont — Ordonnance du 12/01/2026"
    );
    assert!(!note.to_string().contains("Bonjour docteur"));

    let id = sent["id"].as_str().unwrap();
    dw.send(json!({"type":"delivered","messageId":id})).await;
    let st = pw.next_of("status").await;
    assert_eq!(
        (st["messageId"].as_str(), st["status"].as_str()),
        (Some(id), Some("delivered"))
    );
    dw.send(json!({"type":"read","messageId":id})).await;
    let st = pw.next_of("status").await;
    assert_eq!(st["status"], "read");
    // Status never moves back.
    dw.send(json!({"type":"delivered","messageId":id})).await;
    dw.send(json!({"type":"ping"})).await;
    dw.next_of("pong").await;
    assert!(pw.collect_of("status", 300).await.is_empty());
    // The patient cannot mark their own message read.
    pw.send(json!({"type":"read","messageId":id})).await;
    assert_eq!(pw.next_of("error").await["code"], "CONTEXT_ACCESS_DENIED");

    // And back the other way.
    let ack = dw.send_message(ORD, "w-2", "Bonjour, je vous écoute").await;
    assert_eq!(ack["message"]["seq"], 2);
    assert_eq!(
        pw.next_of("message").await["message"]["content"],
        "Bonjour, je vous écoute"
    );
    let (_, h) = s
        .get("/api/messaging/history/ordonnance/ord_789", Some(&p.access))
        .await;
    assert_eq!(h["messages"][0]["status"], "read");
}

#[tokio::test]
async fn first_frame_auth_and_deadline() {
    let s = TestServer::start_with(|c| {
        migration_mode(c);
        c.ws.auth_timeout_secs = 1;
    })
    .await;
    let p = s.login(PATIENT).await;
    let mut w = s.ws_raw().await;
    w.send(json!({"type":"auth","token":p.access})).await;
    assert_eq!(w.next_of("ready").await["user"]["id"], "patient_123");

    let mut silent = s.ws_raw().await;
    assert_eq!(silent.closed(5).await, Some(4401));

    let mut wrong = s.ws_raw().await;
    wrong
        .send(json!({"type":"auth","token":"not-a-token"}))
        .await;
    assert_eq!(wrong.next_of("error").await["code"], "AUTH_REQUIRED");
    assert_eq!(wrong.closed(5).await, Some(4401));

    let mut early = s.ws_raw().await;
    early.send(json!({"type":"send","clientMessageId":"x","contextType":"ordonnance","contextId":"ord_789","content":"x"})).await;
    assert_eq!(early.closed(5).await, Some(4401));

    // A bad bearer header is refused before the upgrade.
    let mut req = tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
        format!("{}/api/messaging/ws", s.ws_base),
    )
    .unwrap();
    req.headers_mut()
        .insert("authorization", "Bearer forged".parse().unwrap());
    assert!(s.ws_connect(req).await.is_err());
    // A foreign Origin too.
    let mut req = tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
        format!("{}/api/messaging/ws", s.ws_base),
    )
    .unwrap();
    req.headers_mut()
        .insert("origin", "https://evil.example".parse().unwrap());
    assert!(s.ws_connect(req).await.is_err());
}

#[tokio::test]
async fn outsiders_are_refused_on_every_frame_and_hear_nothing() {
    let s = TestServer::start_migration().await;
    let (p, d) = (s.login(PATIENT).await, s.login(DOCTOR).await);
    let mut pw = s.ws(&p).await;
    let mut dw = s.ws(&d).await;
    let ack = pw.send_message(ORD, "o-1", "Question privée").await;
    let id = ack["message"]["id"].as_str().unwrap().to_owned();
    let session = ack["message"]["sessionId"].as_str().unwrap().to_owned();
    dw.next_of("message").await;

    for who in [OTHER_PATIENT, OTHER_DOCTOR, ADMIN] {
        let o = s.login(who).await;
        let mut ow = s.ws(&o).await;
        let frames = [
            json!({"type":"send","clientMessageId":"intrude","contextType":"ordonnance","contextId":"ord_789","content":"intrusion"}),
            json!({"type":"typing","contextType":"ordonnance","contextId":"ord_789","isTyping":true}),
            json!({"type":"delivered","messageId":id}),
            json!({"type":"read","messageId":id}),
            json!({"type":"resume","sessions":{session.clone(): 0}}),
        ];
        for f in frames {
            ow.send(f.clone()).await;
            let e = ow
                .next_of_any(&["error", "message", "typing", "status"])
                .await;
            assert_eq!(
                (e["type"].as_str(), e["code"].as_str()),
                (Some("error"), Some("CONTEXT_ACCESS_DENIED")),
                "{} {f}",
                o.user_id
            );
        }
        // They heard nothing of the conversation while it went on.
        pw.send_message(ORD, &format!("o-{}", o.user_id), "Encore une question")
            .await;
        let heard = ow.collect_of("message", 300).await;
        assert!(heard.is_empty(), "{} heard {heard:?}", o.user_id);
    }
    // Nothing changed: no message from outsiders, status still sent.
    let (_, h) = s
        .get("/api/messaging/history/ordonnance/ord_789", Some(&d.access))
        .await;
    let msgs = h["messages"].as_array().unwrap();
    assert!(msgs.iter().all(|m| m["sender"]["id"] == "patient_123"));
    assert_eq!(msgs[0]["status"], "sent");
    // Typing and presence never reached the outsiders either (checked by collect above), and
    // the patient got no typing frame from them.
    assert!(pw.collect_of("typing", 200).await.is_empty());
}

#[tokio::test]
async fn typing_is_relayed_throttled_and_expires() {
    let s = TestServer::start_with(|c| {
        migration_mode(c);
        c.ws.typing_expiry_secs = 1;
        c.limits.typing_indicator_delay_ms = 500;
    })
    .await;
    let (p, d) = (s.login(PATIENT).await, s.login(DOCTOR).await);
    let mut pw = s.ws(&p).await;
    let mut dw = s.ws(&d).await;
    let typing =
        json!({"type":"typing","contextType":"ordonnance","contextId":"ord_789","isTyping":true});
    pw.send(typing.clone()).await;
    let t = dw.next_of("typing").await;
    assert_eq!(t["isTyping"], true);
    assert_eq!(t["user"]["name"], "Jean Dupont");
    // Throttled: three more within the delay make no relay.
    for _ in 0..3 {
        pw.send(typing.clone()).await;
    }
    let relayed: Vec<_> = dw.collect_of("typing", 200).await;
    assert!(relayed.is_empty(), "{relayed:?}");
    // Explicit stop.
    pw.send(
        json!({"type":"typing","contextType":"ordonnance","contextId":"ord_789","isTyping":false}),
    )
    .await;
    assert_eq!(dw.next_of("typing").await["isTyping"], false);
    // Silent sender: expires after typing_expiry_secs.
    pw.send(typing.clone()).await;
    assert_eq!(dw.next_of("typing").await["isTyping"], true);
    let t = dw.next_of("typing").await;
    assert_eq!(t["isTyping"], false);
    // Disconnect while typing: expires at once.
    pw.send(typing.clone()).await;
    assert_eq!(dw.next_of("typing").await["isTyping"], true);
    drop(pw);
    assert_eq!(dw.next_of("typing").await["isTyping"], false);
}

#[tokio::test]
async fn presence_reaches_only_people_who_share_a_context() {
    let s = TestServer::start_migration().await;
    let (p, d, o) = (
        s.login(PATIENT).await,
        s.login(DOCTOR).await,
        s.login(OTHER_PATIENT).await,
    );
    let mut pw = s.ws(&p).await;
    let mut ow = s.ws(&o).await;
    let dw = s.ws(&d).await;
    let pres = pw.next_of("presence").await;
    assert_eq!(
        pres,
        json!({"type":"presence","userId":"medecin_456","online":true})
    );
    // The doctor learns at connect time who is online among their patients.
    let mut dw = dw;
    let pres = dw.next_of("presence").await;
    assert_eq!(pres["userId"], "patient_123");
    drop(dw);
    let pres = pw.next_of("presence").await;
    assert_eq!(
        pres,
        json!({"type":"presence","userId":"medecin_456","online":false})
    );
    assert!(
        ow.collect_of("presence", 300).await.is_empty(),
        "a stranger saw presence"
    );
}

#[tokio::test]
async fn every_device_receives_and_idempotency_is_shared_with_rest() {
    let s = TestServer::start_migration().await;
    let (p, d) = (s.login(PATIENT).await, s.login(DOCTOR).await);
    let mut p1 = s.ws(&p).await;
    let p2_login = s.login(PATIENT).await;
    let mut p2 = s.ws(&p2_login).await;
    let mut dw = s.ws(&d).await;

    let ack = dw.send_message(ORD, "dev-1", "Résultats reçus").await;
    let id = ack["message"]["id"].clone();
    assert_eq!(p1.next_of("message").await["message"]["id"], id);
    assert_eq!(p2.next_of("message").await["message"]["id"], id);

    let ack = p1.send_message(ORD, "dev-2", "Merci").await;
    assert_eq!(
        p2.next_of("message").await["message"]["id"],
        ack["message"]["id"],
        "the sender's other device"
    );
    assert!(
        p1.collect_of("message", 200).await.is_empty(),
        "the sending device gets an ack, not a copy"
    );

    // Repeated WebSocket send: one message.
    let again = p1.send_message(ORD, "dev-2", "Merci").await;
    assert_eq!(again["message"]["id"], ack["message"]["id"]);
    // REST then WebSocket with the same key: one message.
    let (st, rest) = s.send(&p, ORD, "dev-3", "Via REST").await;
    assert_eq!(st, 201);
    let ws_again = p2.send_message(ORD, "dev-3", "Via REST").await;
    assert_eq!(ws_again["message"]["id"], rest["id"]);
    let (_, h) = s
        .get("/api/messaging/history/ordonnance/ord_789", Some(&d.access))
        .await;
    assert_eq!(h["messages"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn resume_replays_exactly_the_missed_messages() {
    let s = TestServer::start_with(|c| {
        migration_mode(c);
        c.rate_limit.send_burst = 100.0;
    })
    .await;
    let (p, d) = (s.login(PATIENT).await, s.login(DOCTOR).await);
    let mut pw = s.ws(&p).await;
    let mut dw = s.ws(&d).await;
    let first = dw.send_message(ORD, "r-1", "un").await;
    let session = first["message"]["sessionId"].as_str().unwrap().to_owned();
    assert_eq!(pw.next_of("message").await["message"]["seq"], 1);
    drop(pw); // the patient's socket drops mid-conversation
    for i in 2..=5 {
        dw.send_message(ORD, &format!("r-{i}"), &format!("message {i}"))
            .await;
    }
    let mut pw = s.ws(&p).await;
    pw.send(json!({"type":"resume","sessions":{session.clone(): 1}}))
        .await;
    let mut seqs = vec![];
    while seqs.len() < 4 {
        let m = pw.next_of("message").await;
        seqs.push(m["message"]["seq"].as_u64().unwrap());
    }
    assert_eq!(seqs, vec![2, 3, 4, 5]);
    assert!(
        pw.collect_of("message", 300).await.is_empty(),
        "nothing more, nothing twice"
    );
    // Resume on a session that is not one's own is refused.
    pw.send(json!({"type":"resume","sessions":{"session_ordonnance_ord_790_patient_124_medecin_456": 0}})).await;
    assert_eq!(pw.next_of("error").await["code"], "CONTEXT_ACCESS_DENIED");
}

#[tokio::test]
async fn malformed_oversized_and_flooding_frames() {
    let s = TestServer::start_with(|c| {
        migration_mode(c);
        c.rate_limit.ws_frames_burst = 10.0;
        c.rate_limit.ws_frames_per_second = 1.0;
    })
    .await;
    let p = s.login(PATIENT).await;
    let mut w = s.ws(&p).await;
    w.send_text("{this is not json").await;
    assert_eq!(w.next_of("error").await["code"], "VALIDATION_FAILED");
    w.send(json!({"type":"teleport"})).await;
    assert_eq!(w.next_of("error").await["code"], "VALIDATION_FAILED");
    w.send(json!({"type":"send","clientMessageId":"big","contextType":"ordonnance","contextId":"ord_789","content":"a".repeat(1001)})).await;
    let e = w.next_of("error").await;
    assert_eq!(
        (e["code"].as_str(), e["clientMessageId"].as_str()),
        (Some("VALIDATION_FAILED"), Some("big"))
    );
    w.send(json!({"type":"ping"})).await;
    w.next_of("pong").await;
    // Flooding: the per-connection budget runs out.
    for _ in 0..15 {
        w.send(json!({"type":"ping"})).await;
    }
    let errors: Vec<_> = w.collect_of("error", 500).await;
    assert!(
        errors.iter().any(|e| e["code"] == "RATE_LIMIT_EXCEEDED"),
        "{errors:?}"
    );

    // A frame over 64 KiB closes the socket.
    let mut w2 = s.ws(&s.login(PATIENT).await).await;
    w2.send_text(&format!(
        r#"{{"type":"ping","pad":"{}"}}"#,
        "x".repeat(70 * 1024)
    ))
    .await;
    assert_eq!(w2.closed(5).await, Some(1009));
}

#[tokio::test]
async fn logout_and_token_expiry_close_the_socket() {
    let s = TestServer::start_with(|c| {
        migration_mode(c);
        c.access_token_ttl_secs = 3;
    })
    .await;
    let p = s.login(PATIENT).await;
    let mut w = s.ws(&p).await;
    let res = s
        .http
        .post(s.url("/api/auth/logout"))
        .bearer_auth(&p.access)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert_eq!(w.closed(5).await, Some(4401));

    // Expiry: closed unless re-authenticated in-band.
    let p = s.login(PATIENT).await;
    let mut stale = s.ws(&p).await;
    let mut fresh = s.ws(&p).await;
    tokio::time::sleep(Duration::from_millis(1500)).await; // so the fresh token outlives the stale one
    let (_, r) = s
        .post(
            "/api/auth/refresh",
            None,
            json!({"refreshToken": p.refresh}),
        )
        .await;
    fresh
        .send(json!({"type":"auth","token": r["accessToken"]}))
        .await;
    fresh.next_of("ready").await;
    assert_eq!(stale.closed(5).await, Some(4401));
    fresh.send(json!({"type":"ping"})).await;
    fresh.next_of("pong").await;
}

#[tokio::test]
async fn disabled_user_socket_closes() {
    let s = TestServer::start_migration().await;
    let p = s.login(PATIENT).await;
    let mut w = s.ws(&p).await;
    let store = dmp_server::app::open_store(&s.config).unwrap();
    dmp_server::admin::user_disable(&store, "patient_123", true)
        .await
        .unwrap();
    assert_eq!(
        w.closed(5).await,
        Some(4403),
        "closed with ACCOUNT_DISABLED"
    );
}

#[tokio::test]
async fn slow_consumer_is_disconnected_and_resumes() {
    let s = TestServer::start_with(|c| {
        migration_mode(c);
        c.ws.send_queue = 4;
        c.rate_limit.send_per_second = 100_000.0;
        c.rate_limit.send_burst = 100_000.0;
        c.rate_limit.ws_frames_per_second = 100_000.0;
        c.rate_limit.ws_frames_burst = 100_000.0;
    })
    .await;
    let (p, d) = (s.login(PATIENT).await, s.login(DOCTOR).await);
    // The doctor's socket never reads.
    let mut idle_doctor = s.ws(&d).await;
    let mut pw = s.ws(&p).await;
    let content = "x".repeat(1000);
    let mut last = serde_json::Value::Null;
    for i in 0..3000 {
        pw.send(json!({"type":"send","clientMessageId":format!("flood-{i}"),"contextType":"ordonnance","contextId":"ord_789","content":content})).await;
        if i % 100 == 99 {
            last = pw.next_of("ack").await;
        }
        let metrics = s
            .http
            .get(s.metrics_url())
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if i % 100 == 99 && !metrics.contains("dmp_ws_slow_consumers_total 0") {
            break;
        }
    }
    let metrics = s
        .http
        .get(s.metrics_url())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !metrics.contains("dmp_ws_slow_consumers_total 0"),
        "the slow socket was never cut"
    );
    // The slow socket ends (after what was already buffered).
    assert!(matches!(idle_doctor.closed(30).await, Some(1008) | None));
    // Reconnect and resume: everything stored is there.
    let session = last["message"]["sessionId"]
        .as_str()
        .unwrap_or("session_ordonnance_ord_789_patient_123_medecin_456")
        .to_owned();
    let (_, h) = s
        .get(
            "/api/messaging/history/ordonnance/ord_789?limit=1",
            Some(&d.access),
        )
        .await;
    let last_seq = h["session"]["lastSeq"].as_u64().unwrap();
    let mut dw = s.ws(&d).await;
    dw.send(json!({"type":"resume","sessions":{session: last_seq - 3}}))
        .await;
    let got: Vec<u64> = [
        dw.next_of("message").await,
        dw.next_of("message").await,
        dw.next_of("message").await,
    ]
    .iter()
    .map(|m| m["message"]["seq"].as_u64().unwrap())
    .collect();
    assert_eq!(got, vec![last_seq - 2, last_seq - 1, last_seq]);
}

#[tokio::test]
async fn shutdown_closes_sockets_with_1001_and_metrics_count_them() {
    let mut s = TestServer::start_migration().await;
    let p = s.login(PATIENT).await;
    let mut w = s.ws(&p).await;
    let metrics = s
        .http
        .get(s.metrics_url())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("dmp_ws_connection_count 1"), "{metrics}");
    s.stop().await;
    assert_eq!(w.closed(5).await, Some(1001));
}

#[tokio::test]
async fn message_latency_is_recorded() {
    let s = TestServer::start_migration().await;
    let (p, d) = (s.login(PATIENT).await, s.login(DOCTOR).await);
    let mut pw = s.ws(&p).await;
    let mut dw = s.ws(&d).await;
    pw.send_message(ORD, "lat", "x").await;
    dw.next_of("message").await;
    eventually("latency observed", || async {
        let m = s
            .http
            .get(s.metrics_url())
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        m.contains("dmp_message_latency_seconds_count 1")
    })
    .await;
}
