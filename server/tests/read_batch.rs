//! Batched read receipts over the WebSocket (`read` with `messageIds`) and the
//! inbox fields of `GET /api/contexts` (`lastMessageAt`, `hasUrgentUnread`),
//! against a real server on 127.0.0.1:0 over TLS.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use serde_json::{json, Value};

/// The caller's summary of ord_789.
async fn ord_summary(s: &TestServer, login: &Login) -> Value {
    let (status, list) = s.get("/api/contexts", Some(&login.access)).await;
    assert_eq!(status, 200);
    list.as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "ord_789")
        .cloned()
        .unwrap()
}

/// Sends `n` messages from the patient (the first one urgent); returns their ids.
async fn patient_sends(pw: &mut Ws, n: usize, tag: &str) -> Vec<String> {
    let mut ids = vec![];
    for i in 0..n {
        let cmid = format!("{tag}-{i}");
        pw.send(json!({"type":"send","clientMessageId":cmid,"contextType":"ordonnance","contextId":"ord_789",
            "content":format!("question {i}"),"metadata":{"isUrgent": i == 0}}))
            .await;
        let ack = pw.next_of("ack").await;
        assert_eq!(ack["clientMessageId"], cmid);
        ids.push(ack["message"]["id"].as_str().unwrap().to_owned());
    }
    ids
}

#[tokio::test]
async fn a_batch_marks_every_own_id_once_and_the_inbox_fields_follow() {
    let s = TestServer::start_migration().await;
    let (p, d) = (s.login(PATIENT).await, s.login(DOCTOR).await);
    let mut pw = s.ws(&p).await;
    let mut dw = s.ws(&d).await;

    let before = ord_summary(&s, &d).await;
    assert_eq!(before["lastMessageAt"], Value::Null);
    assert_eq!(before["hasUrgentUnread"], false);

    let ids = patient_sends(&mut pw, 3, "b").await;
    let summary = ord_summary(&s, &d).await;
    assert_eq!(summary["unreadCount"], 3);
    assert_eq!(summary["hasUrgentUnread"], true);
    let (_, h) = s
        .get("/api/messaging/history/ordonnance/ord_789", Some(&d.access))
        .await;
    let newest = h["messages"].as_array().unwrap().last().unwrap()["timestamp"].clone();
    assert_eq!(summary["lastMessageAt"], newest);
    // The sender has nothing urgent to read; the time is the same for both.
    let mine = ord_summary(&s, &p).await;
    assert_eq!(mine["hasUrgentUnread"], false);
    assert_eq!(mine["lastMessageAt"], newest);

    // One frame, a duplicate in it: each id is applied once.
    dw.send(json!({"type":"read","messageIds":[ids[0], ids[1], ids[2], ids[0]]}))
        .await;
    let mut read = vec![];
    for _ in 0..3 {
        let st = pw.next_of("status").await;
        if st["status"] == "read" {
            read.push(st["messageId"].as_str().unwrap().to_owned());
        }
    }
    read.sort();
    let mut want = ids.clone();
    want.sort();
    assert_eq!(read, want);
    assert!(
        pw.collect_of("status", 300).await.is_empty(),
        "one status per id"
    );
    let after = ord_summary(&s, &d).await;
    assert_eq!(after["unreadCount"], 0);
    assert_eq!(after["hasUrgentUnread"], false);
    assert_eq!(after["lastMessageAt"], newest);
}

#[tokio::test]
async fn foreign_empty_and_oversized_batches_are_refused() {
    let s = TestServer::start_migration().await;
    let (p, d) = (s.login(PATIENT).await, s.login(DOCTOR).await);
    let mut pw = s.ws(&p).await;
    let mut dw = s.ws(&d).await;
    let ids = patient_sends(&mut pw, 2, "f").await;

    // Outsiders: refused like a single read, the patient hears nothing.
    for who in [OTHER_PATIENT, OTHER_DOCTOR, ADMIN] {
        let o = s.login(who).await;
        let mut ow = s.ws(&o).await;
        ow.send(json!({"type":"read","messageIds":ids})).await;
        let e = ow.next_of_any(&["error", "status"]).await;
        assert_eq!(
            (e["type"].as_str(), e["code"].as_str()),
            (Some("error"), Some("CONTEXT_ACCESS_DENIED")),
            "{}",
            o.user_id
        );
        assert!(!e.to_string().contains("question"), "no content leaks");
    }
    // The sender cannot mark their own messages read.
    pw.send(json!({"type":"read","messageIds":ids})).await;
    assert_eq!(pw.next_of("error").await["code"], "CONTEXT_ACCESS_DENIED");

    // Empty, over 100, malformed: refused, nothing applied.
    dw.send(json!({"type":"read","messageIds":[]})).await;
    assert_eq!(dw.next_of("error").await["code"], "VALIDATION_FAILED");
    dw.send(json!({"type":"read"})).await;
    assert_eq!(dw.next_of("error").await["code"], "VALIDATION_FAILED");
    let mut over: Vec<String> = (0..99).map(|i| format!("msg_unknown_{i}")).collect();
    over.extend(ids.iter().cloned());
    assert_eq!(over.len(), 101);
    dw.send(json!({"type":"read","messageIds":over})).await;
    assert_eq!(dw.next_of("error").await["code"], "VALIDATION_FAILED");
    assert!(pw.collect_of("status", 300).await.is_empty());
    assert_eq!(ord_summary(&s, &d).await["unreadCount"], 2);

    // A batch mixing the doctor's own ids with unknown ones: the own ones are
    // applied, the refusal is answered once.
    dw.send(json!({"type":"read","messageIds":[ids[0], "msg_does_not_exist", ids[1]]}))
        .await;
    assert_eq!(dw.next_of("error").await["code"], "NOT_FOUND");
    let a = pw.next_of("status").await;
    let b = pw.next_of("status").await;
    assert_eq!(
        (a["status"].as_str(), b["status"].as_str()),
        (Some("read"), Some("read"))
    );
    assert_eq!(ord_summary(&s, &d).await["unreadCount"], 0);
    // The single-id form still works (and changes nothing now).
    dw.send(json!({"type":"read","messageId":ids[0]})).await;
    dw.send(json!({"type":"ping"})).await;
    dw.next_of("pong").await;
    assert!(pw.collect_of("status", 300).await.is_empty());
}
