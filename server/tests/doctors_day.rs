//! The rules of the doctor's day against a real server (docs/messaging.md):
//! question categories checked against the record, the questions that wait
//! for an answer, overdue after a moved clock, conversations closed and
//! reopened by their doctor, and the metrics the seed names.
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

/// `PUT path` with a JSON body, with an access token.
async fn put_json(s: &TestServer, access: String, path: &str, body: Value) -> (u16, Value) {
    let req = s.http.put(s.url(path)).bearer_auth(access).json(&body);
    into_parts(req.send().await.unwrap()).await
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

#[tokio::test]
async fn the_doctor_closes_and_reopens_a_conversation() {
    let s = TestServer::start_migration().await;
    let p = s.login(PATIENT).await;
    let d = s.login(DOCTOR).await;
    let (status, q) = send_with(&s, &p, ORD, "q1", json!({"requiresResponse": true})).await;
    assert_eq!(status, 201, "{q}");
    let sid = q["sessionId"].as_str().unwrap().to_owned();
    let close = format!("/api/messaging/sessions/{sid}/close");
    let reopen = format!("/api/messaging/sessions/{sid}/reopen");
    let mut patient_ws = s.ws(&p).await;

    // Only the doctor closes; the reason is a code.
    let (status, body) = s.patch_json(&close, Some(&p.access), json!({})).await;
    assert_eq!(
        (status, error_code(&body)),
        (403, "CONTEXT_ACCESS_DENIED"),
        "{body}"
    );
    let (status, body) = s
        .patch_json(&close, Some(&d.access), json!({"reason": "il va mieux"}))
        .await;
    assert_eq!(
        (status, error_code(&body)),
        (400, "VALIDATION_FAILED"),
        "{body}"
    );
    let (status, body) = s
        .patch_json(
            "/api/messaging/sessions/sess_nope/close",
            Some(&d.access),
            json!({}),
        )
        .await;
    assert_eq!(
        (status, error_code(&body)),
        (403, "CONTEXT_ACCESS_DENIED"),
        "{body}"
    );

    let (status, session) = s
        .patch_json(&close, Some(&d.access), json!({"reason": "consultation"}))
        .await;
    assert_eq!(status, 200, "{session}");
    assert_eq!(session["status"], "closed");
    // The patient hears it at once, from the system sender.
    let live = patient_ws.next_of("message").await;
    let m = &live["message"];
    assert_eq!(m["type"], "system", "{live}");
    assert_eq!(m["sender"]["type"], "system");
    assert_eq!(m["sender"]["id"], "system");
    assert_eq!(m["recipient"]["id"], p.user_id);
    assert_eq!(
        m["metadata"]["system"],
        json!({"event": "closed", "reason": "consultation"})
    );
    assert_eq!(m["content"], "Le médecin a clôturé cette conversation.");

    // Closing twice is a conflict; nobody writes to a closed conversation.
    let (status, body) = s.patch_json(&close, Some(&d.access), json!({})).await;
    assert_eq!((status, error_code(&body)), (409, "CONFLICT"), "{body}");
    for (who, cmid) in [(&p, "after-close-p"), (&d, "after-close-d")] {
        let (status, body) = s.send(who, ORD, cmid, "encore une question").await;
        assert_eq!(
            (status, error_code(&body)),
            (409, "SESSION_CLOSED"),
            "{body}"
        );
    }
    patient_ws
        .send(
            json!({"type": "send", "clientMessageId": "ws-after-close", "contextType": ORD.0,
                     "contextId": ORD.1, "content": "par le socket"}),
        )
        .await;
    let refused = patient_ws.next_of("error").await;
    assert_eq!(refused["code"], "SESSION_CLOSED", "{refused}");
    assert_eq!(refused["clientMessageId"], "ws-after-close");
    // A resend of what was stored before the close is still acknowledged.
    let (status, again) = send_with(&s, &p, ORD, "q1", json!({"requiresResponse": true})).await;
    assert_eq!(status, 200, "{again}");
    // Clients cannot make system messages.
    let (status, body) = send_with(
        &s,
        &p,
        EXA,
        "fake-system",
        json!({"system": {"event": "reopened"}}),
    )
    .await;
    assert_eq!(
        (status, error_code(&body)),
        (400, "VALIDATION_FAILED"),
        "{body}"
    );

    // The history keeps the system message; the summary says closed.
    let (status, page) = s
        .get("/api/messaging/history/ordonnance/ord_789", Some(&p.access))
        .await;
    assert_eq!(status, 200, "{page}");
    let kinds: Vec<&str> = page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["text", "system"], "{page}");
    assert_eq!(summary(&s, &p, ORD).await["session"]["status"], "closed");

    // Reopening: the doctor only, once.
    let (status, body) = s.patch(&reopen, Some(&p.access)).await;
    assert_eq!(
        (status, error_code(&body)),
        (403, "CONTEXT_ACCESS_DENIED"),
        "{body}"
    );
    let (status, session) = s.patch(&reopen, Some(&d.access)).await;
    assert_eq!(status, 200, "{session}");
    assert_eq!(session["status"], "active");
    let live = patient_ws.next_of("message").await;
    assert_eq!(
        live["message"]["metadata"]["system"],
        json!({"event": "reopened"})
    );
    let (status, body) = s.patch(&reopen, Some(&d.access)).await;
    assert_eq!((status, error_code(&body)), (409, "CONFLICT"), "{body}");
    let (status, body) = s.send(&p, ORD, "after-reopen", "merci").await;
    assert_eq!(status, 201, "{body}");

    // Audited by action; the metrics saw one closed conversation.
    let metrics = s.metrics().await;
    assert!(
        metrics.contains("dmp_messages_per_session_count 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn metrics_of_the_doctors_day() {
    let s = TestServer::start_migration().await;
    let p = s.login(PATIENT).await;
    let d = s.login(DOCTOR).await;
    s.send(&p, ORD, "q1", "une question").await;
    s.clock.advance(chrono::Duration::minutes(10));
    s.send(&p, ORD, "q2", "une autre").await;
    s.clock.advance(chrono::Duration::minutes(4));
    let (status, body) = s.send(&d, ORD, "a1", "la réponse").await;
    assert_eq!(status, 201, "{body}");
    // 14 minutes from the first waiting question: the 900 s bucket, not the 300 s one.
    eventually("the response time is observed", || async {
        let m = s.metrics().await;
        m.contains("dmp_response_time_seconds_count 1")
            && m.contains("dmp_response_time_seconds_bucket{le=\"900.0\"} 1")
            && m.contains("dmp_response_time_seconds_bucket{le=\"300.0\"} 0")
    })
    .await;
    // userEngagement is counted by the maintenance pass: the two who logged in.
    dmp_server::app::run_maintenance(&s.server.as_ref().unwrap().state).await;
    let m = s.metrics().await;
    assert!(m.contains("dmp_user_engagement 2"), "{m}");
    // No label carries anything personal.
    for line in m.lines().filter(|l| {
        l.starts_with("dmp_response_time")
            || l.starts_with("dmp_user_engagement")
            || l.starts_with("dmp_messages_per_session")
    }) {
        assert!(
            !line.contains("patient") && !line.contains("medecin") && !line.contains("ord_"),
            "{line}"
        );
    }
}

#[tokio::test]
async fn the_patient_reads_who_accessed_the_conversation() {
    let s = TestServer::start_migration().await;
    let p = s.login(PATIENT).await;
    let d = s.login(DOCTOR).await;
    let other = s.login(OTHER_PATIENT).await;
    let (status, q) = s.send(&p, ORD, "q1", "une question").await;
    assert_eq!(status, 201, "{q}");
    let sid = q["sessionId"].as_str().unwrap().to_owned();
    let log_path = format!("/api/messaging/sessions/{sid}/access-log");
    // The accesses: the doctor reads and exports, then closes; an
    // administrator disables and re-enables the patient's account.
    let history = "/api/messaging/history/ordonnance/ord_789";
    assert_eq!(s.get(history, Some(&d.access)).await.0, 200);
    assert_eq!(
        s.get(
            "/api/messaging/export/ordonnance/ord_789?format=json",
            Some(&d.access)
        )
        .await
        .0,
        200
    );
    let (status, _) = s
        .patch_json(
            &format!("/api/messaging/sessions/{sid}/close"),
            Some(&d.access),
            json!({}),
        )
        .await;
    assert_eq!(status, 200);
    let store = s.server.as_ref().unwrap().state.store.clone();
    dmp_server::admin::user_disable(&*store, &p.user_id, true)
        .await
        .unwrap();
    dmp_server::admin::user_disable(&*store, &p.user_id, false)
        .await
        .unwrap();
    let p = s.login(PATIENT).await;

    // Only the patient reads it.
    for who in [&d, &other] {
        let (status, body) = s.get(&log_path, Some(&who.access)).await;
        assert_eq!(
            (status, error_code(&body)),
            (403, "CONTEXT_ACCESS_DENIED"),
            "{body}"
        );
    }
    let (status, log) = s.get(&log_path, Some(&p.access)).await;
    assert_eq!(status, 200, "{log}");
    let entries: Vec<(String, String, String)> = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["who"]["type"].as_str().unwrap().to_owned(),
                e["action"].as_str().unwrap().to_owned(),
                e["detail"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    let expect = |t: &str, a: &str, d: &str| (t.to_owned(), a.to_owned(), d.to_owned());
    // Exactly the accesses made, newest first: sends are not accesses.
    assert_eq!(
        entries,
        vec![
            expect("admin", "account", "user_enable"),
            expect("admin", "account", "user_disable"),
            expect("medecin", "close", ""),
            expect("medecin", "export", ""),
            expect("medecin", "read", ""),
        ],
        "{log}"
    );
    assert_eq!(log["truncated"], false);
    assert_eq!(log["entries"][2]["who"]["name"], d_name(&s, &d).await);
    // No content, no address.
    let text = log.to_string();
    assert!(
        !text.contains("une question") && !text.contains("127.0.0.1"),
        "{text}"
    );
}

/// The display name the server gives a login's user.
async fn d_name(s: &TestServer, who: &Login) -> String {
    let (_, me) = s.get("/api/me", Some(&who.access)).await;
    me["name"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn an_absent_doctor_answers_once_per_conversation_and_absence() {
    let s = TestServer::start_migration().await;
    let p = s.login(PATIENT).await;
    let d = s.login(DOCTOR).await;
    let now = chrono::Utc::now() + chrono::Duration::seconds(1);
    let until = now + chrono::Duration::days(7);
    let absence = json!({"from": now - chrono::Duration::hours(1), "until": until,
                         "note": "Le Dr Bernard me remplace : 01 23 45 67 89"});
    let put = |who: &Login, body: Value| put_json(&s, who.access.clone(), "/api/me/absence", body);
    // Doctors only; a sensible absence only.
    let (status, body) = put(&p, absence.clone()).await;
    assert_eq!(
        (status, error_code(&body)),
        (403, "CONTEXT_ACCESS_DENIED"),
        "{body}"
    );
    let (status, body) = put(&d, json!({"from": until, "until": now})).await;
    assert_eq!(
        (status, error_code(&body)),
        (400, "VALIDATION_FAILED"),
        "{body}"
    );
    let (status, body) = put(
        &d,
        json!({"from": now, "until": until, "note": "x".repeat(301)}),
    )
    .await;
    assert_eq!(
        (status, error_code(&body)),
        (400, "VALIDATION_FAILED"),
        "{body}"
    );
    let (status, body) = put(&d, absence.clone()).await;
    assert_eq!(status, 200, "{body}");
    let (status, got) = s.get("/api/me/absence", Some(&d.access)).await;
    assert_eq!((status, &got["note"]), (200, &absence["note"]), "{got}");

    // The patient sees it on the record before writing.
    let row = summary(&s, &p, ORD).await;
    assert_eq!(row["doctorAbsence"]["note"], absence["note"], "{row}");
    assert!(summary(&s, &d, ORD).await.get("doctorAbsence").is_none());

    // The patient's first message gets the automatic answer at once, once.
    let mut pws = s.ws(&p).await;
    let (status, m) = s.send(&p, ORD, "a1", "Bonjour docteur").await;
    assert_eq!(status, 201, "{m}");
    let notice = pws.next_of("message").await;
    let notice = if notice["message"]["type"] == "system" {
        notice
    } else {
        pws.next_of("message").await
    };
    assert_eq!(notice["message"]["type"], "system", "{notice}");
    assert_eq!(notice["message"]["metadata"]["system"]["event"], "absent");
    assert_eq!(
        at(&notice["message"]["metadata"]["system"]["until"]),
        at(&json!(until))
    );
    assert!(notice["message"]["content"]
        .as_str()
        .unwrap()
        .contains("En cas d'urgence, appelez le 15 ou le 112"));
    s.send(&p, ORD, "a2", "Encore moi").await;
    // The doctor's own message gets none; nor does a record of another
    // doctor, who is not away.
    s.send(&d, ORD, "a3", "Je lirai à mon retour").await;
    let other = s.send(&p, EXA, "a4", "Et l'examen ?").await;
    assert_eq!(other.0, 201, "{}", other.1);
    let systems = |page: &Value| {
        page["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["type"] == "system")
            .count()
    };
    let (_, ord) = s
        .get("/api/messaging/history/ordonnance/ord_789", Some(&p.access))
        .await;
    assert_eq!(systems(&ord), 1, "{ord}");
    let (_, exa) = s
        .get("/api/messaging/history/examen/exa_101", Some(&p.access))
        .await;
    assert_eq!(systems(&exa), 0, "{exa}");

    // A new absence answers again, once; none after it ends.
    let (status, _) = put(
        &d,
        json!({"from": now - chrono::Duration::minutes(5), "until": until + chrono::Duration::days(1)}),
    )
    .await;
    assert_eq!(status, 200);
    s.send(&p, ORD, "b1", "Toujours absent ?").await;
    s.send(&p, ORD, "b2", "?").await;
    let (_, ord) = s
        .get("/api/messaging/history/ordonnance/ord_789", Some(&p.access))
        .await;
    assert_eq!(systems(&ord), 2, "{ord}");
    let req = s
        .http
        .delete(s.url("/api/me/absence"))
        .bearer_auth(&d.access);
    assert_eq!(into_parts(req.send().await.unwrap()).await.0, 204);
    s.send(&p, ORD, "c1", "De retour ?").await;
    let (_, ord) = s
        .get("/api/messaging/history/ordonnance/ord_789", Some(&p.access))
        .await;
    assert_eq!(systems(&ord), 2, "{ord}");
    assert!(summary(&s, &p, ORD).await.get("doctorAbsence").is_none());
}

/// Reply templates: the server keeps only what was sealed on the doctor's
/// device, for doctors only, and a stale device cannot overwrite a newer save.
#[tokio::test]
async fn reply_templates_are_kept_sealed_and_versioned() {
    let s = TestServer::start().await;
    let p = s.login(PATIENT).await;
    let d = s.login(DOCTOR).await;
    let put =
        |who: &Login, body: Value| put_json(&s, who.access.clone(), "/api/me/templates", body);
    let sealed = format!("dmp-private:v1:{}", "A".repeat(200));
    // Nothing yet; patients keep no templates.
    assert_eq!(
        s.get("/api/me/templates", Some(&d.access)).await,
        (200, Value::Null)
    );
    let (status, body) = s.get("/api/me/templates", Some(&p.access)).await;
    assert_eq!((status, error_code(&body)), (403, "CONTEXT_ACCESS_DENIED"));
    let (status, body) = put(&p, json!({"sealed": sealed, "baseVersion": 0})).await;
    assert_eq!((status, error_code(&body)), (403, "CONTEXT_ACCESS_DENIED"));
    // Clear text, another prefix, junk after the prefix: refused.
    for bad in [
        "Bonjour {prenom}, vos résultats sont normaux",
        "dmp-e2e:v1:AAAA",
        "dmp-private:v1:",
        "dmp-private:v1:AA AA",
    ] {
        let (status, body) = put(&d, json!({"sealed": bad, "baseVersion": 0})).await;
        assert_eq!(
            (status, error_code(&body)),
            (400, "VALIDATION_FAILED"),
            "{bad}: {body}"
        );
        assert!(!body.to_string().contains("Bonjour"), "{body}");
    }
    // Too large for the route, or for the rule.
    let huge = format!("dmp-private:v1:{}", "A".repeat(600 * 1024));
    let (status, _) = put(&d, json!({"sealed": huge, "baseVersion": 0})).await;
    assert_eq!(status, 413);
    let big = format!("dmp-private:v1:{}", "A".repeat(512 * 1024));
    let (status, body) = put(&d, json!({"sealed": big, "baseVersion": 0})).await;
    assert_eq!((status, error_code(&body)), (400, "VALIDATION_FAILED"));
    // Saved, read back as saved.
    let (status, saved) = put(&d, json!({"sealed": sealed, "baseVersion": 0})).await;
    assert_eq!((status, &saved["version"]), (200, &json!(1)), "{saved}");
    let (status, got) = s.get("/api/me/templates", Some(&d.access)).await;
    assert_eq!((status, &got), (200, &saved));
    // A second device that read nothing (or an old version) is refused.
    let (status, body) = put(&d, json!({"sealed": sealed, "baseVersion": 0})).await;
    assert_eq!((status, error_code(&body)), (409, "CONFLICT"), "{body}");
    let (status, saved) = put(
        &d,
        json!({"sealed": format!("{sealed}B"), "baseVersion": 1}),
    )
    .await;
    assert_eq!((status, &saved["version"]), (200, &json!(2)), "{saved}");
    // Two devices saving from the same version at once: exactly one wins.
    let (a, b) = tokio::join!(
        put(
            &d,
            json!({"sealed": format!("{sealed}C"), "baseVersion": 2})
        ),
        put(
            &d,
            json!({"sealed": format!("{sealed}D"), "baseVersion": 2})
        ),
    );
    let mut statuses = [a.0, b.0];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 409], "{a:?} {b:?}");
    // The audit trail has the saves (the failed ones wrote nothing).
    let store = &s.server.as_ref().unwrap().state.store;
    let rows = store
        .audit_rows(None, Some(d.user_id.to_string()), None, 100)
        .await
        .unwrap();
    let saves = rows
        .iter()
        .filter(|r| r.action == "templates_saved")
        .count();
    assert_eq!(saves, 3);
}

/// Office hours: for doctors only, checked, shown to the patient before
/// writing; a patient who writes outside them gets the next opening at
/// once, once per conversation until then; none inside them.
#[tokio::test]
async fn outside_office_hours_the_patient_learns_when_the_doctor_reads() {
    use chrono::{Datelike, Timelike};
    use dmp_server::clock::Clock as _;
    let s = TestServer::start_migration().await;
    let p = s.login(PATIENT).await;
    let d = s.login(DOCTOR).await;
    let put =
        |who: &Login, body: Value| put_json(&s, who.access.clone(), "/api/me/office-hours", body);
    let names = [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ];
    // One slot, 09:00–10:00 UTC, three days from now.
    let now = s.clock.now();
    let day = now.date_naive() + chrono::Duration::days(3);
    let weekday = names[day.weekday().num_days_from_monday() as usize];
    let opening = day.and_hms_opt(9, 0, 0).unwrap().and_utc();
    let hours =
        json!({"timeZone": "UTC", "slots": [{"day": weekday, "start": "09:00", "end": "10:00"}]});

    let (status, body) = put(&p, hours.clone()).await;
    assert_eq!((status, error_code(&body)), (403, "CONTEXT_ACCESS_DENIED"));
    for bad in [
        json!({"timeZone": "Mars/Olympus", "slots": [{"day": "monday", "start": "09:00", "end": "10:00"}]}),
        json!({"timeZone": "UTC", "slots": []}),
        json!({"timeZone": "UTC", "slots": [{"day": "monday", "start": "10:00", "end": "09:00"}]}),
        json!({"timeZone": "UTC", "slots": [{"day": "monday", "start": "09:00", "end": "11:00"},
                                           {"day": "monday", "start": "10:30", "end": "12:00"}]}),
    ] {
        let (status, body) = put(&d, bad.clone()).await;
        assert_eq!(
            (status, error_code(&body)),
            (400, "VALIDATION_FAILED"),
            "{bad}: {body}"
        );
    }
    let (status, body) = put(&d, hours.clone()).await;
    assert_eq!((status, &body), (200, &hours));
    assert_eq!(
        s.get("/api/me/office-hours", Some(&d.access)).await,
        (200, hours.clone())
    );
    // Shown to the patient on the doctor's records, not to the doctor.
    assert_eq!(summary(&s, &p, ORD).await["doctorOfficeHours"], hours);
    assert!(summary(&s, &d, ORD)
        .await
        .get("doctorOfficeHours")
        .is_none());

    let systems = |page: &Value| -> Vec<Value> {
        page["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["type"] == "system")
            .cloned()
            .collect()
    };
    let history = |who: &Login| {
        let who = who.access.clone();
        let s = &s;
        async move {
            s.get("/api/messaging/history/ordonnance/ord_789", Some(&who))
                .await
                .1
        }
    };
    // Outside: the next opening, at once, once; nothing for the doctor's own.
    s.send(&p, ORD, "h1", "Bonjour docteur").await;
    s.send(&p, ORD, "h2", "Encore une question").await;
    s.send(&d, ORD, "h3", "Je vous lis").await;
    let notices = systems(&history(&p).await);
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert_eq!(notices[0]["metadata"]["system"]["event"], "outside_hours");
    assert_eq!(
        at(&notices[0]["metadata"]["system"]["until"]),
        opening.timestamp_millis()
    );
    assert!(notices[0]["content"]
        .as_str()
        .unwrap()
        .contains("appelez le 15 ou le 112"));

    // Inside the slot: none.
    let to = |t: chrono::DateTime<chrono::Utc>| t - s.clock.now();
    s.clock.advance(to(opening + chrono::Duration::minutes(30)));
    let p = s.login(PATIENT).await;
    s.send(&p, ORD, "h4", "Vous êtes là ?").await;
    assert_eq!(systems(&history(&p).await).len(), 1);
    // After it: the next week's opening, once.
    s.clock.advance(chrono::Duration::hours(1));
    let p = s.login(PATIENT).await;
    s.send(&p, ORD, "h5", "Trop tard ?").await;
    s.send(&p, ORD, "h6", "?").await;
    let notices = systems(&history(&p).await);
    assert_eq!(notices.len(), 2, "{notices:?}");
    let next = opening + chrono::Duration::days(7);
    assert_eq!(
        at(&notices[1]["metadata"]["system"]["until"]),
        next.timestamp_millis()
    );
    assert_eq!(s.clock.now().hour(), 10);

    // Removed: none any more, and no longer shown.
    let d = s.login(DOCTOR).await;
    let req = s
        .http
        .delete(s.url("/api/me/office-hours"))
        .bearer_auth(&d.access);
    assert_eq!(into_parts(req.send().await.unwrap()).await.0, 204);
    assert_eq!(
        s.get("/api/me/office-hours", Some(&d.access)).await,
        (200, Value::Null)
    );
    s.send(&p, ORD, "h7", "Et maintenant ?").await;
    assert_eq!(systems(&history(&p).await).len(), 2);
    assert!(summary(&s, &p, ORD)
        .await
        .get("doctorOfficeHours")
        .is_none());
}
