//! The directory read through bounded caches (docs/directory.md): changes
//! made by the admin tools while the server runs are seen by it, revoked
//! logins are refused, a disabled account is locked out of REST and
//! WebSocket, and a server with tiny caches still decides access right.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use common::*;
use dmp_server::store::{AuditEvent, RequestMeta};
use serde_json::{json, Value};

/// The login (refresh family) an access token belongs to.
fn sid(access: &str) -> String {
    let payload = access.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(&B64.decode(payload).unwrap()).unwrap();
    claims["sid"].as_str().unwrap().to_owned()
}

fn admin_audit(action: &str, target: &str) -> AuditEvent {
    AuditEvent::new(
        chrono::Utc::now(),
        dmp_server::admin::CLI_ACTOR,
        action,
        target,
        "ok",
        &RequestMeta::default(),
    )
}

fn context_ids(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_context_added_or_changed_by_an_import_is_seen_by_the_running_server() {
    let s = TestServer::start().await;
    let p = s.login(PATIENT).await;
    // Listed once: the list is now cached.
    let (st, before) = s.get("/api/contexts", Some(&p.access)).await;
    assert_eq!(st, 200);
    assert!(!context_ids(&before).contains(&"ord_990001".to_owned()));
    let (st, _) = s
        .get(
            "/api/messaging/permissions/ordonnance/ord_990001/patient/patient_123",
            Some(&p.access),
        )
        .await;
    assert_eq!(st, 200);

    let store = dmp_server::app::open_store(&s.config).unwrap();
    let import = |title: &str| {
        serde_json::from_value::<dmp_server::admin::ImportFile>(json!({"contexts": [{
            "type": "ordonnance", "id": "ord_990001", "title": title, "date": "2099-01-01",
            "patientId": "patient_123", "doctorId": "medecin_456", "summary": ""
        }]}))
        .unwrap()
    };
    dmp_server::admin::import(&store, import("Added"), s.config.login.new_account_kdf())
        .await
        .unwrap();
    eventually("the new context is listed", || async {
        let (_, list) = s.get("/api/contexts", Some(&p.access)).await;
        context_ids(&list).first().map(String::as_str) == Some("ord_990001")
    })
    .await;
    let (_, perm) = s
        .get(
            "/api/messaging/permissions/ordonnance/ord_990001/patient/patient_123",
            Some(&p.access),
        )
        .await;
    assert_eq!(perm["allowed"], true, "{perm}");

    dmp_server::admin::import(&store, import("Renamed"), s.config.login.new_account_kdf())
        .await
        .unwrap();
    eventually("the renamed context is listed", || async {
        let (_, list) = s.get("/api/contexts", Some(&p.access)).await;
        list[0]["title"] == "Renamed"
    })
    .await;
}

#[tokio::test]
async fn a_login_revoked_by_another_process_is_refused_on_rest_and_websocket() {
    let s = TestServer::start().await;
    let p = s.login(PATIENT).await;
    let other = s.login(PATIENT).await;
    // Used once, so that both logins are cached.
    assert_eq!(s.get("/api/me", Some(&p.access)).await.0, 200);
    assert_eq!(s.get("/api/me", Some(&other.access)).await.0, 200);
    let mut w = s.ws(&p).await;

    let store = dmp_server::app::open_store(&s.config).unwrap();
    let login = sid(&p.access);
    store
        .revoke_login(&login, admin_audit("revoke_login", &login))
        .await
        .unwrap();
    assert_eq!(w.closed(5).await, Some(4401), "closed as unauthenticated");
    eventually("the revoked login's token is refused", || async {
        s.get("/api/me", Some(&p.access)).await.0 == 401
    })
    .await;
    // The other login of the same user is untouched.
    assert_eq!(s.get("/api/me", Some(&other.access)).await.0, 200);
}

#[tokio::test]
async fn a_cli_user_disable_locks_the_account_out_of_rest_and_websocket() {
    let s = TestServer::start().await;
    let p = s.login(PATIENT).await;
    assert_eq!(
        s.get("/api/contexts", Some(&p.access)).await.0,
        200,
        "user and login cached"
    );
    let mut w = s.ws(&p).await;
    let store = dmp_server::app::open_store(&s.config).unwrap();
    dmp_server::admin::user_disable(&store, "patient_123", true)
        .await
        .unwrap();
    assert_eq!(w.closed(5).await, Some(4403), "closed as ACCOUNT_DISABLED");
    eventually("the disabled account's token is refused", || async {
        let st = s.get("/api/contexts", Some(&p.access)).await.0;
        st == 401 || st == 403
    })
    .await;
    // Enabled again: a new login works (the cache did not keep the disabled record).
    dmp_server::admin::user_disable(&store, "patient_123", false)
        .await
        .unwrap();
    eventually("the enabled account can sign in", || async {
        let secret = s.credential(PATIENT.0, PATIENT.1).await;
        let (st, _) = s
            .post(
                "/api/auth/login",
                None,
                json!({"username": PATIENT.0, "password": secret}),
            )
            .await;
        st == 200
    })
    .await;
    // The cached (disabled) record goes with the `user` change: a fresh
    // token may see 403 for at most one poll interval, never longer.
    let q = s.login(PATIENT).await;
    eventually("the enabled account is served", || async {
        s.get("/api/contexts", Some(&q.access)).await.0 == 200
    })
    .await;
}

#[tokio::test]
async fn tiny_caches_evict_and_still_decide_access_right() {
    let s = TestServer::start_with(|c| {
        c.directory.max_users = 1;
        c.directory.max_contexts = 1;
        c.directory.max_listed_contexts = 1;
        c.directory.max_logins = 1;
    })
    .await;
    let p = s.login(PATIENT).await;
    let d = s.login(DOCTOR).await;
    let o = s.login(OTHER_PATIENT).await;
    for _ in 0..3 {
        for (who, allowed) in [(&p, true), (&d, true), (&o, false)] {
            let (st, perm) = s
                .get(
                    &format!(
                        "/api/messaging/permissions/ordonnance/ord_789/{}/{}",
                        who.user_type, who.user_id
                    ),
                    Some(&who.access),
                )
                .await;
            assert_eq!(st, 200, "{perm}");
            assert_eq!(perm["allowed"], allowed, "{} {perm}", who.user_id);
        }
        for who in [&p, &d] {
            let (st, list) = s.get("/api/contexts", Some(&who.access)).await;
            assert_eq!(st, 200);
            assert!(context_ids(&list).contains(&"ord_789".to_owned()));
        }
    }
    let sizes = s.server.as_ref().unwrap().state.directory.sizes();
    assert!(sizes.iter().all(|n| *n <= 1), "cache sizes {sizes:?}");
}
