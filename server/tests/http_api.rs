//! The REST API against a real server on 127.0.0.1:0: every endpoint's happy
//! path, the error contract, and the authorization matrix.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use common::*;
use futures_util::FutureExt;
use serde_json::{json, Value};

#[tokio::test]
async fn login_me_and_generic_failures() {
    let s = TestServer::start().await;
    let p = s.login(PATIENT).await;
    assert_eq!(p.user_id, "patient_123");
    let (st, me) = s.get("/api/me", Some(&p.access)).await;
    assert_eq!(st, 200);
    assert_eq!(
        me,
        json!({"id":"patient_123","type":"patient","name":"Jean Dupont","username":"jean.dupont"})
    );

    let (st, wrong_pw) = s
        .post(
            "/api/auth/login",
            None,
            json!({"username":"jean.dupont","password":"nope-nope-nope"}),
        )
        .await;
    let (st2, unknown) = s
        .post(
            "/api/auth/login",
            None,
            json!({"username":"nobody.here","password":"nope-nope-nope"}),
        )
        .await;
    assert_eq!((st, st2), (401, 401));
    // Same code and same text: no user enumeration.
    assert_eq!(wrong_pw, unknown);
    assert_eq!(error_code(&wrong_pw), "AUTH_REQUIRED");
    assert!(!wrong_pw.to_string().contains("nope-nope-nope"));
}

#[tokio::test]
async fn login_throttling_locks_known_and_unknown_names_alike() {
    let s = TestServer::start().await;
    for name in ["dr.moreau", "ghost.user"] {
        for _ in 0..5 {
            let (st, _) = s
                .post(
                    "/api/auth/login",
                    None,
                    json!({"username":name,"password":"wrong-password"}),
                )
                .await;
            assert_eq!(st, 401);
        }
        let res = s
            .http
            .post(s.url("/api/auth/login"))
            .json(&json!({"username":name,"password":"wrong-password"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 429);
        assert!(res.headers().get("retry-after").is_some());
        let (_, body) = into_parts(res).await;
        assert_eq!(error_code(&body), "RATE_LIMIT_EXCEEDED");
    }
    // Even the right password is refused while locked.
    let (st, _) = s
        .post(
            "/api/auth/login",
            None,
            json!({"username":"dr.moreau","password":dmp_server::demo::DOCTOR_PASSWORD}),
        )
        .await;
    assert_eq!(st, 429);
}

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_family() {
    let s = TestServer::start().await;
    let p = s.login(PATIENT).await;
    let (st, r1) = s
        .post(
            "/api/auth/refresh",
            None,
            json!({"refreshToken": p.refresh}),
        )
        .await;
    assert_eq!(st, 200);
    let new_refresh = r1["refreshToken"].as_str().unwrap().to_owned();
    let new_access = r1["accessToken"].as_str().unwrap().to_owned();
    assert_ne!(new_refresh, p.refresh);
    assert_eq!(s.get("/api/me", Some(&new_access)).await.0, 200);

    // The spent token again: refused, and the whole family is revoked.
    let (st, body) = s
        .post(
            "/api/auth/refresh",
            None,
            json!({"refreshToken": p.refresh}),
        )
        .await;
    assert_eq!((st, error_code(&body)), (401, "SESSION_EXPIRED"));
    let (st, body) = s
        .post(
            "/api/auth/refresh",
            None,
            json!({"refreshToken": new_refresh}),
        )
        .await;
    assert_eq!((st, error_code(&body)), (401, "SESSION_EXPIRED"));
    let (st, body) = s.get("/api/me", Some(&new_access)).await;
    assert_eq!((st, error_code(&body)), (401, "SESSION_EXPIRED"));

    let (st, _) = s
        .post(
            "/api/auth/refresh",
            None,
            json!({"refreshToken": "made-up"}),
        )
        .await;
    assert_eq!(st, 401);
}

#[tokio::test]
async fn logout_revokes_access_and_refresh() {
    let s = TestServer::start().await;
    let p = s.login(PATIENT).await;
    let other_device = s.login(PATIENT).await;
    let res = s
        .http
        .post(s.url("/api/auth/logout"))
        .bearer_auth(&p.access)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert_eq!(
        error_code(&s.get("/api/me", Some(&p.access)).await.1),
        "SESSION_EXPIRED"
    );
    assert_eq!(
        s.post(
            "/api/auth/refresh",
            None,
            json!({"refreshToken": p.refresh})
        )
        .await
        .0,
        401
    );
    // Another login of the same user is untouched.
    assert_eq!(s.get("/api/me", Some(&other_device.access)).await.0, 200);
}

fn forge(token: &str, f: impl Fn(&mut Value)) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    let mut claims: Value = serde_json::from_slice(&B64.decode(parts[1]).unwrap()).unwrap();
    f(&mut claims);
    format!(
        "{}.{}.{}",
        parts[0],
        B64.encode(claims.to_string()),
        parts[2]
    )
}

#[tokio::test]
async fn bad_tokens_are_refused() {
    let s = TestServer::start().await;
    let p = s.login(PATIENT).await;
    let (st, body) = s.get("/api/contexts", None).await;
    assert_eq!((st, error_code(&body)), (401, "AUTH_REQUIRED"));
    // Claims changed, signature kept.
    let forged = forge(&p.access, |c| c["sub"] = json!("medecin_456"));
    assert_eq!(
        error_code(&s.get("/api/contexts", Some(&forged)).await.1),
        "AUTH_REQUIRED"
    );
    // alg:none.
    let parts: Vec<&str> = p.access.split('.').collect();
    let none = format!(
        "{}.{}.",
        B64.encode(r#"{"alg":"none","typ":"JWT"}"#),
        parts[1]
    );
    assert_eq!(
        error_code(&s.get("/api/contexts", Some(&none)).await.1),
        "AUTH_REQUIRED"
    );
    // HS512 header (algorithm confusion).
    let hs512 = format!(
        "{}.{}.{}",
        B64.encode(r#"{"alg":"HS512","typ":"JWT"}"#),
        parts[1],
        parts[2]
    );
    assert_eq!(
        error_code(&s.get("/api/contexts", Some(&hs512)).await.1),
        "AUTH_REQUIRED"
    );
    assert_eq!(
        error_code(&s.get("/api/contexts", Some("garbage")).await.1),
        "AUTH_REQUIRED"
    );
    // Expired: move the clock past 15 minutes.
    s.clock.advance(chrono::Duration::minutes(16));
    let (st, body) = s.get("/api/contexts", Some(&p.access)).await;
    assert_eq!((st, error_code(&body)), (401, "SESSION_EXPIRED"));
}

#[tokio::test]
async fn authorization_matrix() {
    let s = TestServer::start_migration().await;
    let patient = s.login(PATIENT).await;
    let doctor = s.login(DOCTOR).await;
    let (st, msg) = s.send(&patient, ORD, "m1", "Bonjour").await;
    assert_eq!(st, 201);
    let msg_id = msg["id"].as_str().unwrap().to_owned();
    let session_id = msg["sessionId"].as_str().unwrap().to_owned();
    let (st, up) = upload(&s, &patient, "scan.png", &png_bytes()).await;
    assert_eq!(st, 201);
    let att = up["id"].as_str().unwrap().to_owned();
    let (st, with_att) = s
        .post("/api/messaging/send", Some(&patient.access), json!({"clientMessageId":"m2","contextType":"ordonnance","contextId":"ord_789","content":"scan","attachments":[att]}))
        .await;
    assert_eq!(st, 201, "{with_att}");

    let outsiders = [
        s.login(OTHER_PATIENT).await,
        s.login(OTHER_DOCTOR).await,
        s.login(ADMIN).await,
    ];
    for o in &outsiders {
        let t = Some(o.access.as_str());
        let checks: Vec<(u16, Value)> = vec![
            s.get("/api/messaging/history/ordonnance/ord_789", t).await,
            s.send(o, ORD, "x1", "intrusion").await,
            s.patch(&format!("/api/messaging/messages/{msg_id}/read"), t)
                .await,
            s.delete(&format!("/api/messaging/messages/{msg_id}"), t)
                .await,
            s.post(
                "/api/messaging/sessions",
                t,
                json!({"contextType":"ordonnance","contextId":"ord_789"}),
            )
            .await,
            s.patch(&format!("/api/messaging/sessions/{session_id}/archive"), t)
                .await,
            s.get("/api/messaging/export/ordonnance/ord_789", t).await,
            s.get(&format!("/api/messaging/attachments/{att}"), t).await,
            // Asking about someone else.
            s.get(
                "/api/messaging/permissions/ordonnance/ord_789/patient/patient_123",
                t,
            )
            .await,
            s.get("/api/messaging/stats/patient/patient_123", t).await,
            s.get("/api/messaging/notifications/medecin/medecin_456", t)
                .await,
        ];
        for (i, (st, body)) in checks.iter().enumerate() {
            assert_eq!(
                (*st, error_code(body)),
                (403, "CONTEXT_ACCESS_DENIED"),
                "check {i} for {}",
                o.user_id
            );
        }
        // Their own permission question is answered: not allowed.
        let (st, perm) = s
            .get(
                &format!(
                    "/api/messaging/permissions/ordonnance/ord_789/{}/{}",
                    o.user_type, o.user_id
                ),
                t,
            )
            .await;
        assert_eq!(st, 200);
        assert_eq!(
            perm,
            json!({"allowed": false, "reason": "NOT_A_PARTICIPANT"})
        );
    }
    // Nothing the outsiders did changed the conversation.
    let (_, h) = s
        .get(
            "/api/messaging/history/ordonnance/ord_789",
            Some(&doctor.access),
        )
        .await;
    let msgs = h["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 2);
    assert!(msgs
        .iter()
        .all(|m| m["status"] == "sent" && m["content"] != ""));
    assert_eq!(h["session"]["status"], "active");
    // Forged message and session ids.
    let (st, body) = s
        .patch(
            "/api/messaging/messages/msg_doesnotexist/read",
            Some(&doctor.access),
        )
        .await;
    assert_eq!((st, error_code(&body)), (404, "NOT_FOUND"));
    let (st, body) = s
        .patch(
            "/api/messaging/sessions/session_ordonnance_ord_790_patient_124_medecin_456/archive",
            Some(&patient.access),
        )
        .await;
    assert_eq!((st, error_code(&body)), (403, "CONTEXT_ACCESS_DENIED"));
    let (st, _) = s
        .get(
            "/api/messaging/history/ordonnance/..%2F..%2Fetc",
            Some(&patient.access),
        )
        .await;
    assert!(st == 403 || st == 400, "{st}");
}

#[tokio::test]
async fn disabled_user_is_locked_out_at_once() {
    let s = TestServer::start().await;
    let p = s.login(PATIENT).await;
    let store = dmp_server::app::open_store(&s.config).unwrap();
    dmp_server::admin::user_disable(&store, "patient_123", true)
        .await
        .unwrap();
    eventually("the disabled user's token is refused", || async {
        s.get("/api/me", Some(&p.access)).await.0 == 401
    })
    .await;
    // The holder of the current refresh token proved the credentials: it learns why.
    let (st, body) = s
        .post(
            "/api/auth/refresh",
            None,
            json!({"refreshToken": p.refresh}),
        )
        .await;
    assert_eq!(
        (st, body["error"]["code"].as_str()),
        (403, Some("ACCOUNT_DISABLED"))
    );
    // So does the right password, and only the right one (no oracle for a guesser).
    let secret = s.credential(PATIENT.0, PATIENT.1).await;
    let (st, body) = s
        .post(
            "/api/auth/login",
            None,
            json!({"username":"jean.dupont","password":secret}),
        )
        .await;
    assert_eq!(
        (st, body["error"]["code"].as_str()),
        (403, Some("ACCOUNT_DISABLED"))
    );
    let (st, body) = s
        .post(
            "/api/auth/login",
            None,
            json!({"username":"jean.dupont","password":"not-the-password-1"}),
        )
        .await;
    assert_eq!(
        (st, body["error"]["code"].as_str()),
        (401, Some("AUTH_REQUIRED"))
    );
    let (st, body) = s
        .post(
            "/api/auth/login",
            None,
            json!({"username":"nobody.here","password":"not-the-password-1"}),
        )
        .await;
    assert_eq!(
        (st, body["error"]["code"].as_str()),
        (401, Some("AUTH_REQUIRED"))
    );
    // Password change revokes the doctor's sessions too.
    let d = s.login(DOCTOR).await;
    dmp_server::admin::user_passwd(
        &store,
        "medecin_456",
        "a-new-long-password",
        s.config.login.new_account_kdf(),
    )
    .await
    .unwrap();
    eventually("old token refused after password change", || async {
        s.get("/api/me", Some(&d.access)).await.0 == 401
    })
    .await;
    s.login(("dr.martin", "a-new-long-password")).await;
}

#[tokio::test]
async fn conversation_flow_read_delete_unread_and_contexts() {
    let s = TestServer::start_migration().await;
    let p = s.login(PATIENT).await;
    let d = s.login(DOCTOR).await;
    let (st, session) = s
        .post(
            "/api/messaging/sessions",
            Some(&p.access),
            json!({"contextType":"ordonnance","contextId":"ord_789"}),
        )
        .await;
    assert_eq!(st, 200);
    assert_eq!(
        session["id"],
        "session_ordonnance_ord_789_patient_123_medecin_456"
    );
    assert_eq!(session["status"], "active");
    assert_eq!(
        session["participants"]["doctor"]["name"],
        "Dr. Sophie Martin"
    );

    let (st, m1) = s
        .post("/api/messaging/send", Some(&p.access), json!({"clientMessageId":"c-1","contextType":"ordonnance","contextId":"ord_789","content":"Puis-je prendre l'amoxicilline au repas ?","metadata":{"isUrgent":true,"requiresResponse":true}}))
        .await;
    assert_eq!(st, 201);
    for key in [
        "id",
        "content",
        "type",
        "sender",
        "recipient",
        "context",
        "timestamp",
        "status",
        "attachments",
        "metadata",
        "clientMessageId",
        "seq",
        "sessionId",
    ] {
        assert!(m1.get(key).is_some(), "message lacks {key}: {m1}");
    }
    assert_eq!(
        m1["sender"],
        json!({"id":"patient_123","type":"patient","name":"Jean Dupont"})
    );
    assert_eq!(m1["recipient"]["id"], "medecin_456");
    assert_eq!(m1["context"], json!({"type":"ordonnance","id":"ord_789"}));
    assert_eq!(
        m1["metadata"],
        json!({"isUrgent":true,"requiresResponse":true})
    );
    assert_eq!(
        (
            m1["seq"].as_u64(),
            m1["status"].as_str(),
            m1["type"].as_str()
        ),
        (Some(1), Some("sent"), Some("text"))
    );

    // Idempotent repeat: same message, 200, no duplicate.
    let (st, again) = s
        .post("/api/messaging/send", Some(&p.access), json!({"clientMessageId":"c-1","contextType":"ordonnance","contextId":"ord_789","content":"Puis-je prendre l'amoxicilline au repas ?"}))
        .await;
    assert_eq!(st, 200);
    assert_eq!(again["id"], m1["id"]);
    // Same key for another context is a conflict.
    let (st, body) = s.send(&p, ("examen", "exa_101"), "c-1", "autre").await;
    assert_eq!((st, error_code(&body)), (409, "CONFLICT"));

    let (_, m2) = s.send(&d, ORD, "d-1", "Oui, pendant le repas.").await;
    assert_eq!(m2["seq"], 2);
    let (_, ctx) = s.get("/api/contexts", Some(&d.access)).await;
    let ord = ctx
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "ord_789")
        .unwrap();
    assert_eq!(ord["unreadCount"], 1);
    assert_eq!(ord["session"]["messageCount"], 2);
    assert_eq!(ord["patient"]["name"], "Jean Dupont");

    // Notifications: for the recipient, content-free.
    let (st, n) = s
        .get(
            "/api/messaging/notifications/medecin/medecin_456",
            Some(&d.access),
        )
        .await;
    assert_eq!(st, 200);
    let notes = n["notifications"].as_array().unwrap();
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0]["title"], "Jean Dupont — Ordonnance du 12/01/2026");
    assert!(!n.to_string().contains("amoxicilline"));

    // Only the recipient marks read.
    let id1 = m1["id"].as_str().unwrap();
    let (st, body) = s
        .patch(
            &format!("/api/messaging/messages/{id1}/read"),
            Some(&p.access),
        )
        .await;
    assert_eq!((st, error_code(&body)), (403, "CONTEXT_ACCESS_DENIED"));
    let (st, read) = s
        .patch(
            &format!("/api/messaging/messages/{id1}/read"),
            Some(&d.access),
        )
        .await;
    assert_eq!(st, 200);
    assert_eq!(read["status"], "read");
    assert!(read["readAt"].is_string());
    let (_, n) = s
        .get(
            "/api/messaging/notifications/medecin/medecin_456",
            Some(&d.access),
        )
        .await;
    assert_eq!(n["notifications"].as_array().unwrap().len(), 0);
    let (_, ctx) = s.get("/api/contexts", Some(&d.access)).await;
    assert_eq!(
        ctx.as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == "ord_789")
            .unwrap()["unreadCount"],
        0
    );

    // Only the sender deletes; the tombstone stays.
    let id2 = m2["id"].as_str().unwrap();
    let (st, body) = s
        .delete(&format!("/api/messaging/messages/{id2}"), Some(&p.access))
        .await;
    assert_eq!((st, error_code(&body)), (403, "CONTEXT_ACCESS_DENIED"));
    let (st, tomb) = s
        .delete(&format!("/api/messaging/messages/{id2}"), Some(&d.access))
        .await;
    assert_eq!(st, 200);
    assert_eq!(tomb["content"], "");
    assert!(tomb["deletedAt"].is_string());
    let (_, h) = s
        .get("/api/messaging/history/ordonnance/ord_789", Some(&p.access))
        .await;
    let msgs = h["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 2);
    assert_eq!(msgs[1]["content"], "");
    assert!(!h.to_string().contains("pendant le repas"));

    // Stats and permissions of oneself.
    let (st, stats) = s
        .get("/api/messaging/stats/medecin/medecin_456", Some(&d.access))
        .await;
    assert_eq!(st, 200);
    assert_eq!(
        (
            stats["received"].as_u64(),
            stats["sent"].as_u64(),
            stats["unread"].as_u64()
        ),
        (Some(1), Some(0), Some(0))
    );
    assert!(
        stats["medianResponseTimeSecs"].as_f64().unwrap() >= 0.0,
        "the doctor answered: {stats}"
    );
    let (_, perm) = s
        .get(
            "/api/messaging/permissions/ordonnance/ord_789/medecin/medecin_456",
            Some(&d.access),
        )
        .await;
    assert_eq!(
        perm,
        json!({"allowed": true, "reason": "DOCTOR_OF_CONTEXT"})
    );

    // Export: messages and their audit lines, no content in the audit.
    let (st, ex) = s
        .get(
            "/api/messaging/export/ordonnance/ord_789?format=json",
            Some(&p.access),
        )
        .await;
    assert_eq!(st, 200);
    assert_eq!(ex["messages"].as_array().unwrap().len(), 2);
    assert_eq!(ex["context"]["title"], "Ordonnance du 12/01/2026");
    let actions: Vec<&str> = ex["audit"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    for a in ["send", "read", "delete"] {
        assert!(actions.contains(&a), "export audit lacks {a}: {actions:?}");
    }
    assert!(!ex["audit"].to_string().contains("amoxicilline"));
    let (st, body) = s
        .get(
            "/api/messaging/export/ordonnance/ord_789?format=pdf",
            Some(&p.access),
        )
        .await;
    assert_eq!((st, error_code(&body)), (400, "VALIDATION_FAILED"));

    // Archive by a participant.
    let (st, arch) = s
        .patch(
            "/api/messaging/sessions/session_ordonnance_ord_789_patient_123_medecin_456/archive",
            Some(&p.access),
        )
        .await;
    assert_eq!(st, 200);
    assert_eq!(arch["status"], "archived");
    let (_, m3) = s.send(&p, ORD, "c-3", "Encore une question").await;
    assert_eq!(m3["seq"], 3);
    let (_, h) = s
        .get("/api/messaging/history/ordonnance/ord_789", Some(&p.access))
        .await;
    assert_eq!(
        h["session"]["status"], "active",
        "a new message re-activates the session"
    );
}

#[tokio::test]
async fn history_pages_newest_first() {
    let s = TestServer::start_with(|c| {
        migration_mode(c);
        c.rate_limit.send_burst = 100.0;
    })
    .await;
    let p = s.login(PATIENT).await;
    for i in 1..=7 {
        assert_eq!(
            s.send(&p, ORD, &format!("h{i}"), &format!("message {i}"))
                .await
                .0,
            201
        );
    }
    let (_, page1) = s
        .get(
            "/api/messaging/history/ordonnance/ord_789?limit=3",
            Some(&p.access),
        )
        .await;
    let seqs = |v: &Value| {
        v["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["seq"].as_u64().unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(seqs(&page1), vec![5, 6, 7]);
    assert_eq!(page1["hasMore"], true);
    let before = page1["nextBefore"].as_u64().unwrap();
    let (_, page2) = s
        .get(
            &format!("/api/messaging/history/ordonnance/ord_789?limit=3&before={before}"),
            Some(&p.access),
        )
        .await;
    assert_eq!(seqs(&page2), vec![2, 3, 4]);
    let (_, page3) = s
        .get(
            "/api/messaging/history/ordonnance/ord_789?limit=3&before=2",
            Some(&p.access),
        )
        .await;
    assert_eq!(seqs(&page3), vec![1]);
    assert_eq!(page3["hasMore"], false);
    for bad in ["limit=0", "limit=201", "limit=abc", "before=-1"] {
        let (st, body) = s
            .get(
                &format!("/api/messaging/history/ordonnance/ord_789?{bad}"),
                Some(&p.access),
            )
            .await;
        assert_eq!((st, error_code(&body)), (400, "VALIDATION_FAILED"), "{bad}");
    }
    let (st, body) = s
        .get(
            "/api/messaging/history/prescription/ord_789",
            Some(&p.access),
        )
        .await;
    assert_eq!((st, error_code(&body)), (400, "VALIDATION_FAILED"));
}

pub fn png_bytes() -> Vec<u8> {
    let mut v = vec![0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
    v.extend_from_slice(&[0u8; 200]);
    v
}

#[tokio::test]
async fn limits_are_enforced() {
    let s = TestServer::start_with(|c| {
        migration_mode(c);
        c.rate_limit.send_burst = 100.0;
    })
    .await;
    let p = s.login(PATIENT).await;
    let d = s.login(DOCTOR).await;
    let (st, _) = s.send(&p, ORD, "l-1000", &"é".repeat(1000)).await;
    assert_eq!(st, 201, "1000 characters (2000 bytes) are allowed");
    let (st, body) = s.send(&p, ORD, "l-1001", &"a".repeat(1001)).await;
    assert_eq!((st, error_code(&body)), (400, "VALIDATION_FAILED"));
    let (st, body) = s.send(&p, ORD, "l-empty", "").await;
    assert_eq!((st, error_code(&body)), (400, "VALIDATION_FAILED"));
    let (st, body) = s.send(&p, ORD, "bad id with spaces", "x").await;
    assert_eq!((st, error_code(&body)), (400, "VALIDATION_FAILED"));

    // Six attachments.
    let mut ids = vec![];
    for i in 0..6 {
        let (st, a) = upload(&s, &p, &format!("scan{i}.png"), &png_bytes()).await;
        assert_eq!(st, 201);
        ids.push(a["id"].as_str().unwrap().to_owned());
    }
    let (st, body) = s
        .post("/api/messaging/send", Some(&p.access), json!({"clientMessageId":"a6","contextType":"ordonnance","contextId":"ord_789","content":"x","attachments":ids}))
        .await;
    assert_eq!((st, error_code(&body)), (400, "VALIDATION_FAILED"));
    let (st, m) = s
        .post("/api/messaging/send", Some(&p.access), json!({"clientMessageId":"a5","contextType":"ordonnance","contextId":"ord_789","content":"","attachments":ids[..5]}))
        .await;
    assert_eq!(st, 201, "{m}");
    assert_eq!(m["attachments"].as_array().unwrap().len(), 5);
    assert_eq!(m["attachments"][0]["mimeType"], "image/png");
    // An attachment cannot be sent twice, nor by someone else.
    let (st, body) = s
        .post("/api/messaging/send", Some(&p.access), json!({"clientMessageId":"a-again","contextType":"ordonnance","contextId":"ord_789","content":"x","attachments":[ids[0]]}))
        .await;
    assert_eq!((st, error_code(&body)), (400, "VALIDATION_FAILED"));
    let (st, _) = s
        .post("/api/messaging/send", Some(&d.access), json!({"clientMessageId":"steal","contextType":"ordonnance","contextId":"ord_789","content":"x","attachments":[ids[5]]}))
        .await;
    assert_eq!(st, 400);
    // The doctor downloads what was sent; the bytes are the same.
    let res = s
        .http
        .get(s.url(&format!("/api/messaging/attachments/{}", ids[0])))
        .bearer_auth(&d.access)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "image/png");
    assert_eq!(res.bytes().await.unwrap().to_vec(), png_bytes());

    // 11 MB file.
    let mut big = b"%PDF-1.7\n".to_vec();
    big.resize(11 * 1024 * 1024, b'a');
    let (st, body) = upload(&s, &p, "big.pdf", &big).await;
    assert_eq!((st, error_code(&body)), (413, "VALIDATION_FAILED"));
    // A Windows executable renamed .pdf.
    let mut exe = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00".to_vec();
    exe.resize(4096, 0);
    let (st, body) = upload(&s, &p, "ordonnance.pdf", &exe).await;
    assert_eq!((st, error_code(&body)), (415, "VALIDATION_FAILED"));
    let (st, body) = upload(&s, &p, "virus.exe", &exe).await;
    assert_eq!((st, error_code(&body)), (415, "VALIDATION_FAILED"));
    // A real PDF header with a .pdf name passes; a PNG named .pdf does not.
    assert_eq!(
        upload(
            &s,
            &p,
            "resultats.pdf",
            b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n"
        )
        .await
        .0,
        201
    );
    assert_eq!(upload(&s, &p, "image.pdf", &png_bytes()).await.0, 415);
    // Voice messages (issue 11): audio is sniffed by its container too; an
    // executable renamed .ogg is refused, a real Ogg Opus named .opus passes.
    let (st, body) = upload(&s, &p, "message-vocal.ogg", &exe).await;
    assert_eq!((st, error_code(&body)), (415, "VALIDATION_FAILED"));
    let (st, body) = upload(
        &s,
        &p,
        "message-vocal.opus",
        b"OggS\x00\x02\x00\x00OpusHead",
    )
    .await;
    assert_eq!(st, 201, "{body}");
    assert_eq!(body["mimeType"], "audio/ogg");
    let (st, body) = upload(&s, &p, "note.wav", b"RIFF\x24\x08\x00\x00WAVEfmt ").await;
    assert_eq!((st, body["mimeType"].as_str()), (201, Some("audio/wav")));
    assert_eq!(upload(&s, &p, "note.mp3", b"OggS\x00\x02").await.0, 415);
    // Nothing half-written is left behind.
    let leftovers: Vec<_> = std::fs::read_dir(s.config.attachments_dir())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".part"))
        .collect();
    assert!(leftovers.is_empty());
}

#[tokio::test]
async fn send_rate_limit_answers_429_with_retry_after() {
    let s = TestServer::start_migration().await;
    let p = s.login(PATIENT).await;
    let mut limited = None;
    for i in 0..40 {
        let res = s
            .http
            .post(s.url("/api/messaging/send"))
            .bearer_auth(&p.access)
            .json(&json!({"clientMessageId": format!("r{i}"), "contextType":"ordonnance","contextId":"ord_789","content":"x"}))
            .send()
            .await
            .unwrap();
        if res.status() == 429 {
            limited = Some((
                i,
                res.headers()
                    .get("retry-after")
                    .map(|v| v.to_str().unwrap().to_owned()),
                into_parts(res).await.1,
            ));
            break;
        }
    }
    let (i, retry, body) = limited.expect("no 429 after 40 sends");
    assert!(i >= 20, "the burst of 20 is allowed (limited at {i})");
    assert!(retry.unwrap().parse::<u64>().unwrap() >= 1);
    assert_eq!(error_code(&body), "RATE_LIMIT_EXCEEDED");
}

#[tokio::test]
async fn error_contract_for_malformed_requests() {
    let s = TestServer::start_migration().await;
    let p = s.login(PATIENT).await;
    let send = |body: reqwest::Body, ct: Option<&str>| {
        let mut r = s
            .http
            .post(s.url("/api/messaging/send"))
            .bearer_auth(&p.access)
            .body(body);
        if let Some(ct) = ct {
            r = r.header("content-type", ct);
        }
        r.send()
    };
    let (st, b) = into_parts(
        send("{not json".into(), Some("application/json"))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((st, error_code(&b)), (400, "VALIDATION_FAILED"));
    let (st, b) = into_parts(send("{}".into(), Some("text/plain")).await.unwrap()).await;
    assert_eq!((st, error_code(&b)), (415, "VALIDATION_FAILED"));
    let (st, b) = into_parts(
        send(
            r#"{"clientMessageId":"x"}"#.into(),
            Some("application/json"),
        )
        .await
        .unwrap(),
    )
    .await;
    assert_eq!((st, error_code(&b)), (400, "VALIDATION_FAILED"));
    assert!(b["error"]["message"]
        .as_str()
        .unwrap()
        .contains("missing field"));
    // Wrong types do not echo the value back.
    let (st, b) = into_parts(
        send(r#"{"clientMessageId":"x","contextType":"ordonnance","contextId":"ord_789","content":{"secret":"diabète"}}"#.into(), Some("application/json"))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((st, error_code(&b)), (400, "VALIDATION_FAILED"));
    assert!(!b.to_string().contains("diabète"));
    let huge = format!(
        r#"{{"clientMessageId":"x","contextType":"ordonnance","contextId":"ord_789","content":"{}"}}"#,
        "a".repeat(200_000)
    );
    let (st, b) = into_parts(send(huge.into(), Some("application/json")).await.unwrap()).await;
    assert_eq!((st, error_code(&b)), (413, "VALIDATION_FAILED"));
    let (st, b) = s.get("/api/does/not/exist", Some(&p.access)).await;
    assert_eq!((st, error_code(&b)), (404, "NOT_FOUND"));
    let (st, b) = into_parts(
        s.http
            .put(s.url("/api/messaging/send"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((st, error_code(&b)), (405, "NOT_FOUND"));
    let (st, b) = s.get("/api/messaging/ws", Some(&p.access)).await;
    assert_eq!((st, error_code(&b)), (400, "VALIDATION_FAILED"));
    // Responses are JSON with no internals.
    let text = b.to_string();
    assert!(!text.contains("sqlite") && !text.contains("panicked") && !text.contains("src/"));
}

async fn session_status(s: &TestServer, token: &str) -> String {
    let (_, v) = s
        .post(
            "/api/messaging/sessions",
            Some(token),
            json!({"contextType":"ordonnance","contextId":"ord_789"}),
        )
        .await;
    v["status"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn auto_archive_follows_the_injected_clock() {
    let s = TestServer::start_with(|c| {
        migration_mode(c);
        c.maintenance_interval_secs = 1;
    })
    .await;
    let p = s.login(PATIENT).await;
    assert_eq!(s.send(&p, ORD, "old", "Bonjour").await.0, 201);
    s.clock.advance(chrono::Duration::days(29));
    // Let at least one maintenance pass run at day 29.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let p = s.login(PATIENT).await;
    assert_eq!(
        session_status(&s, &p.access).await,
        "active",
        "29 days idle is not enough"
    );
    s.clock.advance(chrono::Duration::days(2));
    let p = s.login(PATIENT).await;
    eventually("session archived after 31 idle days", || {
        session_status(&s, &p.access).then(|st| async move { st == "archived" })
    })
    .await;
    assert_eq!(s.send(&p, ORD, "new", "Je reviens vers vous").await.0, 201);
    assert_eq!(session_status(&s, &p.access).await, "active");
    let store = dmp_server::app::open_store(&s.config).unwrap();
    let rows = dmp_server::store::Store::audit_rows(&*store, None, Some("system".into()), None, 10)
        .await
        .unwrap();
    assert!(rows.iter().any(|r| r.action == "archive"));
}

#[tokio::test]
async fn ops_endpoints_and_openapi_cover_every_route() {
    let s = TestServer::start_migration().await;
    assert_eq!(s.get("/healthz", None).await, (200, json!({"status":"ok"})));
    assert_eq!(s.get("/readyz", None).await, (200, json!({"status":"ok"})));
    // The limits the server enforces, public (the login screen has no token).
    let (st, limits) = s.get("/api/limits", None).await;
    assert_eq!(st, 200);
    assert_eq!(
        limits,
        serde_json::to_value(&s.config.limits).unwrap(),
        "what it announces is what it enforces"
    );
    let p = s.login(PATIENT).await;
    s.send(&p, ORD, "m", "x").await;
    let metrics = s
        .http
        .get(s.metrics_url())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for name in [
        "dmp_http_request_duration_seconds_bucket",
        "# TYPE dmp_errors counter",
        "dmp_messages_sent_total 1",
        "dmp_active_sessions",
        "dmp_ws_connection_count",
        "dmp_message_latency_seconds_bucket",
    ] {
        assert!(metrics.contains(name), "metrics lack {name}");
    }
    let (st, doc) = s.get("/api/openapi.json", None).await;
    assert_eq!(st, 200);
    let paths = doc["paths"].as_object().unwrap();
    let expected = [
        ("/api/auth/login", "post"),
        ("/api/auth/refresh", "post"),
        ("/api/auth/logout", "post"),
        ("/api/me", "get"),
        ("/api/auth/prelogin", "post"),
        ("/api/auth/password", "post"),
        ("/api/keys/me", "get"),
        ("/api/keys/me", "put"),
        ("/api/keys/{user_id}", "get"),
        ("/api/contexts", "get"),
        ("/api/messaging/history/{context_type}/{context_id}", "get"),
        ("/api/messaging/send", "post"),
        ("/api/messaging/messages/{message_id}/read", "patch"),
        ("/api/messaging/messages/{message_id}", "delete"),
        ("/api/messaging/sessions", "post"),
        ("/api/messaging/sessions/{session_id}/archive", "patch"),
        ("/api/messaging/sessions/{session_id}/close", "patch"),
        ("/api/messaging/sessions/{session_id}/reopen", "patch"),
        ("/api/messaging/sessions/{session_id}/access-log", "get"),
        ("/api/me/absence", "get"),
        ("/api/me/absence", "put"),
        ("/api/me/absence", "delete"),
        ("/api/me/office-hours", "get"),
        ("/api/me/office-hours", "put"),
        ("/api/me/office-hours", "delete"),
        ("/api/me/templates", "get"),
        ("/api/me/templates", "put"),
        (
            "/api/messaging/permissions/{context_type}/{context_id}/{user_type}/{user_id}",
            "get",
        ),
        ("/api/messaging/stats/{user_type}/{user_id}", "get"),
        ("/api/messaging/notifications/{user_type}/{user_id}", "get"),
        ("/api/messaging/export/{context_type}/{context_id}", "get"),
        ("/api/messaging/attachments", "post"),
        ("/api/messaging/attachments/{attachment_id}", "get"),
        ("/api/messaging/ws", "get"),
        ("/api/limits", "get"),
        ("/api/openapi.json", "get"),
        ("/healthz", "get"),
        ("/readyz", "get"),
    ];
    let unique: std::collections::HashSet<&str> = expected.iter().map(|(p, _)| *p).collect();
    assert_eq!(
        paths.len(),
        unique.len(),
        "documented paths: {:?}",
        paths.keys().collect::<Vec<_>>()
    );
    for (path, method) in expected {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "OpenAPI lacks {method} {path}"
        );
    }
    assert!(doc["components"]["schemas"]["Message"].is_object());
}

fn b64(bytes: &[u8]) -> String {
    B64.encode(bytes)
}

fn keys_body(current: &str, secret: Option<&str>) -> Value {
    let mut v = json!({
        "currentSecret": current,
        "publicKeys": {"encryptionKey": b64(&[1u8; 32]), "signingKey": b64(&[2u8; 32])},
        "backup": {"version": 1, "nonce": b64(&[3u8; 24]), "ciphertext": b64(&[4u8; 96])}
    });
    if let Some(s) = secret {
        v["authSecret"] = json!(s);
        v["salt"] = json!(b64(&[5u8; 16]));
        v["kdf"] = json!({"memoryKib": 65536, "iterations": 3, "parallelism": 4});
    }
    v
}

#[tokio::test]
async fn keys_are_shared_only_with_peers_and_login_becomes_zero_knowledge() {
    let s = TestServer::start().await;
    let (_, pre) = s
        .post(
            "/api/auth/prelogin",
            None,
            json!({"username":"jean.dupont"}),
        )
        .await;
    assert_eq!(pre["scheme"], "zk-v1", "zero-knowledge from creation");
    let (_, ghost1) = s
        .post("/api/auth/prelogin", None, json!({"username":"ghost.user"}))
        .await;
    let (_, ghost2) = s
        .post("/api/auth/prelogin", None, json!({"username":"Ghost.User"}))
        .await;
    assert_eq!(
        ghost1["scheme"], "zk-v1",
        "unknown users look like upgraded ones"
    );
    assert_eq!(ghost1, ghost2, "made-up salts are stable");
    assert_eq!(
        ghost1["kdf"], pre["kdf"],
        "same parameters as real accounts"
    );
    assert_eq!(
        B64.decode(ghost1["salt"].as_str().unwrap()).unwrap().len(),
        B64.decode(pre["salt"].as_str().unwrap()).unwrap().len(),
        "same salt shape"
    );

    let p = s.login(PATIENT).await;
    let current = s.credential(PATIENT.0, PATIENT.1).await;
    let d = s.login(DOCTOR).await;
    let (st, _) = s.get("/api/keys/patient_123", Some(&d.access)).await;
    assert_eq!(st, 404, "no keys published yet");
    let secret = "ab".repeat(32);
    let res = s
        .http
        .put(s.url("/api/keys/me"))
        .bearer_auth(&p.access)
        .json(&keys_body(&current, Some(&secret)))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    // Bad shapes are refused.
    let mut bad = keys_body(&secret, None);
    bad["publicKeys"]["encryptionKey"] = json!(b64(&[1u8; 31]));
    let (st, body) = into_parts(
        s.http
            .put(s.url("/api/keys/me"))
            .bearer_auth(&p.access)
            .json(&bad)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((st, error_code(&body)), (400, "VALIDATION_FAILED"));
    let mut weak = keys_body(&secret, Some(&secret));
    weak["kdf"]["memoryKib"] = json!(1024);
    let (st, _) = into_parts(
        s.http
            .put(s.url("/api/keys/me"))
            .bearer_auth(&p.access)
            .json(&weak)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, 400);

    // The login is now zero-knowledge: the password no longer works, the derived secret does.
    let (_, pre) = s
        .post(
            "/api/auth/prelogin",
            None,
            json!({"username":"jean.dupont"}),
        )
        .await;
    assert_eq!(
        pre,
        json!({"scheme":"zk-v1","salt": b64(&[5u8; 16]),"kdf":{"memoryKib":65536,"iterations":3,"parallelism":4}})
    );
    let (st, _) = s
        .post(
            "/api/auth/login",
            None,
            json!({"username":"jean.dupont","password":PATIENT.1}),
        )
        .await;
    assert_eq!(st, 401);
    let p2 = s.login_raw("jean.dupont", &secret).await;
    let (st, mine) = s.get("/api/keys/me", Some(&p2.access)).await;
    assert_eq!(st, 200);
    assert_eq!(mine["backup"]["ciphertext"], b64(&[4u8; 96]));

    // Distribution: the context's doctor yes; a stranger, an admin no.
    let (st, k) = s.get("/api/keys/patient_123", Some(&d.access)).await;
    assert_eq!(st, 200);
    assert_eq!(k["publicKeys"]["signingKey"], b64(&[2u8; 32]));
    for who in [OTHER_PATIENT, OTHER_DOCTOR, ADMIN] {
        let o = s.login(who).await;
        let (st, body) = s.get("/api/keys/patient_123", Some(&o.access)).await;
        assert_eq!(
            (st, error_code(&body)),
            (403, "CONTEXT_ACCESS_DENIED"),
            "{}",
            o.user_id
        );
    }

    // Password change on the client: the current secret is checked, other logins end.
    let new_secret = "cd".repeat(32);
    let change = |current: &str| {
        json!({"currentAuthSecret": current, "newAuthSecret": new_secret, "salt": b64(&[6u8; 16]),
               "kdf": {"memoryKib": 65536, "iterations": 3, "parallelism": 4},
               "backup": {"version": 1, "nonce": b64(&[7u8; 24]), "ciphertext": b64(&[8u8; 96])}})
    };
    let (st, body) = s
        .post(
            "/api/auth/password",
            Some(&p2.access),
            change(&"ef".repeat(32)),
        )
        .await;
    assert_eq!((st, error_code(&body)), (401, "AUTH_REQUIRED"));
    let (st, _) = s
        .post("/api/auth/password", Some(&p2.access), change(&secret))
        .await;
    assert_eq!(st, 204);
    assert_eq!(
        s.get("/api/me", Some(&p2.access)).await.0,
        200,
        "the changing login stays"
    );
    // At once, not after the directory reload.
    assert_eq!(s.get("/api/me", Some(&p.access)).await.0, 401);
    s.login_raw("jean.dupont", &new_secret).await;
    let (st, _) = s
        .post(
            "/api/auth/login",
            None,
            json!({"username":"jean.dupont","password":secret}),
        )
        .await;
    assert_eq!(st, 401);
}

/// A real envelope, sealed by dmp-crypto, for `cmid` in `context` from the patient to the doctor.
fn sealed(cmid: &str, context: &str) -> String {
    let mut rng = rand::rngs::OsRng;
    let me = dmp_crypto::Identity::generate(&mut rng);
    let doctor = dmp_crypto::Identity::generate(&mut rng).public();
    dmp_crypto::seal(
        &mut rng,
        &me,
        dmp_crypto::HeaderInput {
            client_message_id: cmid.into(),
            context: context.into(),
            session_id: "session_ordonnance_ord_789_patient_123_medecin_456".into(),
            sender: "patient_123".into(),
            recipient: "medecin_456".into(),
            timestamp_ms: 0,
        },
        &dmp_crypto::Plaintext {
            text: "Puis-je prendre ce médicament le soir ?".into(),
            attachments: vec![],
            category: None,
        },
        &[("medecin_456", &doctor), ("patient_123", &me.public())],
    )
    .unwrap()
    .to_content()
}

#[tokio::test]
async fn end_to_end_is_required_by_default_and_envelopes_are_checked_as_envelopes() {
    let s = TestServer::start().await;
    assert!(s.config.require_e2e, "on by default");
    let p = s.login(PATIENT).await;
    let (st, body) = s.send(&p, ORD, "clear", "texte en clair").await;
    assert_eq!((st, error_code(&body)), (400, "E2E_REQUIRED"), "{body}");
    // The attack of issue 10: clear text that only wears the prefix.
    let fake = format!(
        "{}{}",
        dmp_protocol::limits::ENVELOPE_PREFIX,
        "Bonjour docteur, voici mes résultats. ".repeat(140)
    );
    assert!(fake.chars().count() > 5000);
    let (st, body) = s.send(&p, ORD, "fake", &fake).await;
    assert_eq!(
        (st, error_code(&body)),
        (400, "MALFORMED_ENVELOPE"),
        "{body}"
    );
    // Valid base64url that is not the envelope's JSON.
    let fake = format!(
        "{}{}",
        dmp_protocol::limits::ENVELOPE_PREFIX,
        "A".repeat(3000)
    );
    let (st, body) = s.send(&p, ORD, "fake-b64", &fake).await;
    assert_eq!(
        (st, error_code(&body)),
        (400, "MALFORMED_ENVELOPE"),
        "{body}"
    );
    let (st, body) = s.send(&p, ORD, "v2", "dmp-e2e:v2:AAAA").await;
    assert_eq!(
        (st, error_code(&body)),
        (400, "MALFORMED_ENVELOPE"),
        "{body}"
    );
    // A real envelope passes and is stored byte for byte.
    let envelope = sealed("env", "ordonnance/ord_789");
    assert!(envelope.len() > 1000);
    let (st, m) = s.send(&p, ORD, "env", &envelope).await;
    assert_eq!(st, 201, "{m}");
    assert_eq!(
        m["content"],
        envelope.as_str(),
        "stored and returned byte for byte"
    );
    // An envelope made for another message or another record is not relayed here.
    let (st, body) = s.send(&p, ORD, "other-id", &envelope).await;
    assert_eq!(
        (st, error_code(&body)),
        (400, "MALFORMED_ENVELOPE"),
        "{body}"
    );
    let elsewhere = sealed("moved", "examen/exa_101");
    let (st, body) = s.send(&p, ORD, "moved", &elsewhere).await;
    assert_eq!(
        (st, error_code(&body)),
        (400, "MALFORMED_ENVELOPE"),
        "{body}"
    );
    // Bounded before it is parsed.
    let huge = format!(
        "{}{}",
        dmp_protocol::limits::ENVELOPE_PREFIX,
        "A".repeat(17 * 1024)
    );
    let (st, body) = s.send(&p, ORD, "huge", &huge).await;
    assert_eq!((st, error_code(&body)), (400, "VALIDATION_FAILED"));
    // Over the WebSocket too.
    let mut ws = s.ws(&p).await;
    let err = ws.send_message(ORD, "ws-clear", "en clair").await;
    assert_eq!(
        (err["type"].as_str(), err["code"].as_str()),
        (Some("error"), Some("E2E_REQUIRED")),
        "{err}"
    );

    // Attachments: a real encrypted container passes; clear files and bad containers do not.
    let mut blob = Vec::new();
    dmp_crypto::encrypt_attachment(&mut rand::rngs::OsRng, &b"%PDF-1.7 bilan"[..], &mut blob)
        .unwrap();
    let (st, a) = upload(&s, &p, "piece.enc", &blob).await;
    assert_eq!(st, 201, "{a}");
    assert_eq!(a["mimeType"], "application/vnd.dmp.e2e");
    let (st, body) = upload(&s, &p, "scan.png", &png_bytes()).await;
    assert_eq!((st, error_code(&body)), (415, "E2E_REQUIRED"), "{body}");
    let (st, _) = upload(&s, &p, "fake.enc", &png_bytes()).await;
    assert_eq!(st, 415, "an .enc file must be an encrypted container");
    let mut cut = dmp_protocol::limits::ENCRYPTED_ATTACHMENT_MAGIC.to_vec();
    cut.extend_from_slice(&[9u8; 20]);
    let (st, body) = upload(&s, &p, "cut.enc", &cut).await;
    assert_eq!(
        (st, error_code(&body)),
        (415, "MALFORMED_ENVELOPE"),
        "{body}"
    );
}

#[tokio::test]
async fn migration_mode_relays_clear_text_but_still_checks_envelopes() {
    let s = TestServer::start_migration().await;
    let p = s.login(PATIENT).await;
    let (st, body) = s.send(&p, ORD, "clear", "texte en clair").await;
    assert_eq!(st, 201, "{body}");
    let fake = format!(
        "{}{}",
        dmp_protocol::limits::ENVELOPE_PREFIX,
        "en clair ".repeat(10)
    );
    let (st, body) = s.send(&p, ORD, "fake", &fake).await;
    assert_eq!(
        (st, error_code(&body)),
        (400, "MALFORMED_ENVELOPE"),
        "{body}"
    );
    let (st, _) = upload(&s, &p, "scan.png", &png_bytes()).await;
    assert_eq!(st, 201, "clear attachments are accepted in migration mode");
    // Clear text flagged urgent never makes an urgent notification.
    let (st, _) = s
        .post("/api/messaging/send", Some(&p.access), json!({"clientMessageId":"urgent-clear","contextType":"ordonnance","contextId":"ord_789","content":"Venez vite","metadata":{"isUrgent":true,"requiresResponse":false}}))
        .await;
    assert_eq!(st, 201);
    let d = s.login(DOCTOR).await;
    let (st, notes) = s
        .get(
            "/api/messaging/notifications/medecin/medecin_456",
            Some(&d.access),
        )
        .await;
    assert_eq!(st, 200, "{notes}");
    let notes = notes
        .as_array()
        .or_else(|| notes["notifications"].as_array())
        .unwrap()
        .clone();
    assert!(!notes.is_empty());
    assert!(notes.iter().all(|n| n["isUrgent"] == false), "{notes:?}");
}
