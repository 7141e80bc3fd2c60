//! The rules of the doctor's day against a real server (docs/messaging.md):
//! question categories checked against the record, and the questions that
//! wait for an answer, overdue after a moved clock.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use serde_json::{json, Value};

const EXA: (&str, &str) = ("examen", "exa_101");

async fn send_with(
    s: &TestServer,
    who: &Login,
    context: (&str, &str),
    cmid: &str,
    metadata: Value,
) -> (u16, Value) {
    s.post(
        "/api/messaging/send",
        Some(&who.access),
        json!({"clientMessageId": cmid, "contextType": context.0, "contextId": context.1,
               "content": format!("texte {cmid}"), "metadata": metadata}),
    )
    .await
}

/// A timestamp of the wire, to the millisecond the store keeps.
fn at(v: &Value) -> i64 {
    let t: chrono::DateTime<chrono::Utc> = v
        .as_str()
        .unwrap_or_else(|| panic!("not a timestamp: {v}"))
        .parse()
        .unwrap();
    t.timestamp_millis()
}

/// The caller's context summary of `context`.
async fn summary(s: &TestServer, who: &Login, context: (&str, &str)) -> Value {
    let (status, list) = s.get("/api/contexts", Some(&who.access)).await;
    assert_eq!(status, 200, "{list}");
    list.as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == context.0 && c["id"] == context.1)
        .cloned()
        .unwrap_or_else(|| panic!("{context:?} not listed: {list}"))
}

#[tokio::test]
async fn question_categories_are_checked_against_the_record_and_its_patient() {
    let s = TestServer::start_migration().await;
    let p = s.login(PATIENT).await;
    let d = s.login(DOCTOR).await;

    let ord = summary(&s, &p, ORD).await;
    assert_eq!(
        ord["allowedActions"],
        json!(["question", "clarification", "side_effects"])
    );
    let exa = summary(&s, &p, EXA).await;
    assert_eq!(
        exa["allowedActions"],
        json!(["explanation", "interpretation", "next_steps"])
    );

    let (status, body) = send_with(&s, &p, ORD, "c1", json!({"category": "side_effects"})).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["metadata"]["category"], "side_effects");
    let (status, _) = send_with(&s, &p, EXA, "c2", json!({"category": "other"})).await;
    assert_eq!(status, 201, "'other' fits any record");

    // An exam's category on a prescription.
    let (status, body) = send_with(&s, &p, ORD, "c3", json!({"category": "next_steps"})).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(error_code(&body), "VALIDATION_FAILED");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("side_effects"),
        "the message names what is allowed: {body}"
    );
    // A word that is no category at all.
    let (status, body) = send_with(&s, &p, ORD, "c4", json!({"category": "diagnostic"})).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(error_code(&body), "VALIDATION_FAILED");
    // The doctor's messages carry none.
    let (status, body) = send_with(&s, &d, ORD, "c5", json!({"category": "question"})).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(error_code(&body), "VALIDATION_FAILED");

    // Stored and read back as sent; nothing of the refused ones.
    let (status, page) = s
        .get("/api/messaging/history/ordonnance/ord_789", Some(&d.access))
        .await;
    assert_eq!(status, 200, "{page}");
    let messages = page["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 1, "{page}");
    assert_eq!(messages[0]["metadata"]["category"], "side_effects");
}

#[tokio::test]
async fn questions_wait_for_the_doctors_answer_and_become_overdue() {
    let s = TestServer::start_with(|c| {
        migration_mode(c);
        c.limits.answer_within_hours = 48;
    })
    .await;
    let p = s.login(PATIENT).await;
    let d = s.login(DOCTOR).await;
    assert_eq!(summary(&s, &d, ORD).await["awaitingAnswer"], Value::Null);

    // A message that asks for nothing does not wait.
    let (status, _) = send_with(&s, &p, ORD, "m1", json!({})).await;
    assert_eq!(status, 201);
    assert_eq!(summary(&s, &d, ORD).await["awaitingAnswer"], Value::Null);

    let (status, first) = send_with(
        &s,
        &p,
        ORD,
        "m2",
        json!({"requiresResponse": true, "category": "clarification"}),
    )
    .await;
    assert_eq!(status, 201, "{first}");
    // Tokens live 15 minutes: a moved clock needs a new login.
    s.clock.advance(chrono::Duration::hours(1));
    let p = s.login(PATIENT).await;
    let d = s.login(DOCTOR).await;
    let (status, _) = send_with(
        &s,
        &p,
        ORD,
        "m3",
        json!({"requiresResponse": true, "isUrgent": true, "category": "side_effects"}),
    )
    .await;
    assert_eq!(status, 201);

    let waits = summary(&s, &d, ORD).await["awaitingAnswer"].clone();
    assert_eq!(
        at(&waits["since"]),
        at(&first["timestamp"]),
        "the oldest waiting question: {waits}"
    );
    assert_eq!(waits["category"], "clarification");
    assert_eq!(waits["urgent"], true, "one of them is urgent");
    assert_eq!(waits["overdue"], false);
    assert_eq!(at(&waits["dueAt"]) - at(&waits["since"]), 48 * 3600 * 1000);
    // The patient sees when an answer can be expected.
    assert_eq!(
        summary(&s, &p, ORD).await["awaitingAnswer"]["dueAt"],
        waits["dueAt"]
    );
    // Another record of the same patient is not concerned.
    assert_eq!(summary(&s, &p, EXA).await["awaitingAnswer"], Value::Null);

    s.clock.advance(chrono::Duration::hours(47));
    let p = s.login(PATIENT).await;
    let d = s.login(DOCTOR).await;
    assert_eq!(
        summary(&s, &d, ORD).await["awaitingAnswer"]["overdue"],
        true
    );

    // The doctor's answer ends the wait.
    let (status, _) = send_with(&s, &d, ORD, "r1", json!({})).await;
    assert_eq!(status, 201);
    assert_eq!(summary(&s, &d, ORD).await["awaitingAnswer"], Value::Null);

    // A new question waits again, from its own time; deleting it ends that.
    let (status, again) = send_with(&s, &p, ORD, "m4", json!({"requiresResponse": true})).await;
    assert_eq!(status, 201);
    let waits = summary(&s, &d, ORD).await["awaitingAnswer"].clone();
    assert_eq!(at(&waits["since"]), at(&again["timestamp"]));
    assert_eq!(waits["urgent"], false);
    assert_eq!(waits["category"], Value::Null);
    let id = again["id"].as_str().unwrap();
    let (status, body) = s
        .delete(&format!("/api/messaging/messages/{id}"), Some(&p.access))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(summary(&s, &d, ORD).await["awaitingAnswer"], Value::Null);
}
