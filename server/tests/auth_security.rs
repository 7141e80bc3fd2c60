//! Attacks on authentication against a real server on 127.0.0.1:0: a stolen
//! access token trying to take the account, parallel guesses, an attacker
//! locking the owner out, floods from one address, and the oracles that
//! told which names and records exist (docs/security.md).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use common::*;
use futures_util::future::join_all;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

fn b64(bytes: &[u8]) -> String {
    B64.encode(bytes)
}

/// A key publication as the client core makes it.
fn keys(current: &str, key_byte: u8, new_secret: Option<&str>) -> Value {
    let mut v = json!({
        "currentSecret": current,
        "publicKeys": {"encryptionKey": b64(&[key_byte; 32]), "signingKey": b64(&[key_byte + 1; 32])},
        "backup": {"version": 1, "nonce": b64(&[key_byte; 24]), "ciphertext": b64(&[key_byte; 96])}
    });
    if let Some(s) = new_secret {
        v["authSecret"] = json!(s);
        v["salt"] = json!(b64(&[9u8; 16]));
        v["kdf"] = json!({"memoryKib": 19456, "iterations": 2, "parallelism": 1});
    }
    v
}

async fn put_keys(s: &TestServer, token: &str, body: &Value) -> (u16, Value) {
    into_parts(
        s.http
            .put(s.url("/api/keys/me"))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .unwrap(),
    )
    .await
}

async fn audit_rows(s: &TestServer) -> Vec<dmp_server::store::AuditRow> {
    let store = dmp_server::app::open_store(&s.config).unwrap();
    store.audit_rows(None, None, None, 100_000).await.unwrap()
}

fn hashes(s: &TestServer) -> u64 {
    s.server.as_ref().unwrap().state.hasher.verifications()
}

async fn login_body(s: &TestServer, body: Value) -> (u16, Value, Option<String>) {
    let res = s
        .http
        .post(s.url("/api/auth/login"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let retry = res
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let (st, v) = into_parts(res).await;
    (st, v, retry)
}

#[tokio::test]
async fn a_stolen_access_token_cannot_take_the_account() {
    let s = TestServer::start().await;
    // The owner's device published keys and the backup (with proof).
    let owner = s.login(PATIENT).await;
    let secret = s.credential(PATIENT.0, PATIENT.1).await;
    assert_eq!(
        put_keys(&s, &owner.access, &keys(&secret, 1, None)).await.0,
        204
    );

    // The attacker holds a copy of an access token of the owner.
    let stolen = s.login(PATIENT).await;
    let attacker_secret = "ee".repeat(32);
    // What the attack did before: no proof at all. Refused as malformed.
    let mut no_proof = keys("", 40, Some(&attacker_secret));
    no_proof.as_object_mut().unwrap().remove("currentSecret");
    let (st, _) = put_keys(&s, &stolen.access, &no_proof).await;
    assert!(st == 400 || st == 422, "{st}");
    // Guesses of the current credential: refused and audited.
    for guess in ["patient-demo-2025", "00".repeat(32).as_str()] {
        let (st, body) =
            put_keys(&s, &stolen.access, &keys(guess, 40, Some(&attacker_secret))).await;
        assert_eq!((st, error_code(&body)), (401, "AUTH_REQUIRED"));
    }
    let (st, body) = s
        .post(
            "/api/auth/password",
            Some(&stolen.access),
            json!({"currentAuthSecret": "patient-demo-2025", "newAuthSecret": attacker_secret,
                   "salt": b64(&[9u8; 16]), "kdf": {"memoryKib": 19456, "iterations": 2, "parallelism": 1},
                   "backup": {"version": 1, "nonce": b64(&[40u8; 24]), "ciphertext": b64(&[40u8; 96])}}),
        )
        .await;
    assert_eq!((st, error_code(&body)), (401, "AUTH_REQUIRED"));
    // The attacker's secret does not sign in; the owner still does, with
    // the keys and the backup intact.
    let (st, _, _) = login_body(
        &s,
        json!({"username": PATIENT.0, "password": attacker_secret}),
    )
    .await;
    assert_eq!(st, 401);
    let again = s.login(PATIENT).await;
    let (st, mine) = s.get("/api/keys/me", Some(&again.access)).await;
    assert_eq!(st, 200);
    assert_eq!(mine["backup"]["ciphertext"], b64(&[1u8; 96]));
    assert_eq!(mine["publicKeys"]["encryptionKey"], b64(&[1u8; 32]));
    let denied = audit_rows(&s)
        .await
        .iter()
        .filter(|r| {
            r.outcome == "denied"
                && r.actor == "patient_123"
                && (r.action == "keys_change" || r.action == "password_change")
        })
        .count();
    assert_eq!(denied, 3, "every wrong proof is audited");

    // Proofs are counted by the login throttle: the stolen token does not
    // buy more guesses than the login form.
    let mut codes = vec![];
    for _ in 0..6 {
        codes.push(
            put_keys(&s, &stolen.access, &keys("wrong-guess", 40, None))
                .await
                .0,
        );
    }
    assert_eq!(codes, vec![401, 401, 401, 401, 401, 429]);
}

#[tokio::test]
async fn a_credential_change_ends_other_logins_at_once_and_tells_the_peers() {
    let s = TestServer::start().await;
    let secret = s.credential(PATIENT.0, PATIENT.1).await;
    let a = s.login(PATIENT).await;
    let b = s.login(PATIENT).await;
    let doctor = s.login(DOCTOR).await;
    let mut doctor_ws = s.ws(&doctor).await;
    let mut b_ws = s.ws(&b).await;

    // First publication: nothing replaced, other logins stay; peers told.
    assert_eq!(
        put_keys(&s, &a.access, &keys(&secret, 1, None)).await.0,
        204
    );
    let ev = doctor_ws.next_of("keyChange").await;
    assert_eq!(ev, json!({"type": "keyChange", "userId": "patient_123"}));
    assert_eq!(s.get("/api/me", Some(&b.access)).await.0, 200);

    // A replacement (new keys and a new login secret): B ends at once.
    let new_secret = "ab".repeat(32);
    assert_eq!(
        put_keys(&s, &a.access, &keys(&secret, 7, Some(&new_secret)))
            .await
            .0,
        204
    );
    assert_eq!(b_ws.closed(5).await, Some(4401));
    let (st, body) = s.get("/api/me", Some(&b.access)).await;
    assert_eq!((st, error_code(&body)), (401, "SESSION_EXPIRED"));
    let (st, _) = s
        .post(
            "/api/auth/refresh",
            None,
            json!({"refreshToken": b.refresh}),
        )
        .await;
    assert_eq!(st, 401);
    assert_eq!(
        s.get("/api/me", Some(&a.access)).await.0,
        200,
        "the caller stays"
    );
    doctor_ws.next_of("keyChange").await;
    let (_, k) = s.get("/api/keys/patient_123", Some(&doctor.access)).await;
    assert_eq!(k["publicKeys"]["encryptionKey"], b64(&[7u8; 32]));
    let replaced = audit_rows(&s)
        .await
        .iter()
        .filter(|r| r.action == "keys_replace" && r.outcome == "ok")
        .count();
    assert_eq!(replaced, 1);
    // The new secret is the credential now.
    s.login_raw(PATIENT.0, &new_secret).await;
}

#[tokio::test]
async fn parallel_guesses_run_at_most_max_failures_hashes() {
    let s = TestServer::start().await;
    let before = hashes(&s);
    let attempts = (0..24).map(|i| {
        login_body(
            &s,
            json!({"username": "dr.moreau", "password": format!("guess-{i}")}),
        )
    });
    let results = join_all(attempts).await;
    let refused = results.iter().filter(|r| r.0 == 401).count();
    let throttled = results.iter().filter(|r| r.0 == 429).count();
    assert_eq!((refused, throttled), (5, 19), "max_failures = 5");
    assert!(results.iter().filter(|r| r.0 == 429).all(|r| r.2.is_some()));
    assert_eq!(
        hashes(&s) - before,
        5,
        "only the reserved attempts were hashed"
    );
}

#[tokio::test]
async fn an_attacker_cannot_lock_out_a_device_that_signed_in_before() {
    let s = TestServer::start().await;
    let secret = s.credential(DOCTOR.0, DOCTOR.1).await;
    let (st, first, _) = login_body(&s, json!({"username": DOCTOR.0, "password": secret})).await;
    assert_eq!(st, 200);
    let device = first["deviceToken"].as_str().unwrap().to_owned();

    // The attacker locks the name.
    for _ in 0..5 {
        let (st, _, _) = login_body(&s, json!({"username": DOCTOR.0, "password": "guess"})).await;
        assert_eq!(st, 401);
    }
    let (st, _, retry) = login_body(&s, json!({"username": DOCTOR.0, "password": secret})).await;
    assert_eq!(
        (st, retry.is_some()),
        (429, true),
        "locked without the device token"
    );
    // A device token of another account does not help.
    let other_secret = s.credential(PATIENT.0, PATIENT.1).await;
    let (_, other, _) =
        login_body(&s, json!({"username": PATIENT.0, "password": other_secret})).await;
    let (st, _, _) = login_body(
        &s,
        json!({"username": DOCTOR.0, "password": secret, "deviceToken": other["deviceToken"]}),
    )
    .await;
    assert_eq!(st, 429);
    // The owner's device signs in with the right password.
    let (st, ok, _) = login_body(
        &s,
        json!({"username": DOCTOR.0, "password": secret, "deviceToken": device}),
    )
    .await;
    assert_eq!(st, 200, "{ok}");
    let device = ok["deviceToken"].as_str().unwrap().to_owned();
    // Still locked for everyone else.
    let (st, _, _) = login_body(&s, json!({"username": DOCTOR.0, "password": secret})).await;
    assert_eq!(st, 429);

    // A device has its own budget: guesses with a stolen device token lock
    // that token only, and then it counts as no token at all.
    for _ in 0..5 {
        let (st, _, _) = login_body(
            &s,
            json!({"username": DOCTOR.0, "password": "guess", "deviceToken": device}),
        )
        .await;
        assert_eq!(st, 401);
    }
    let (st, _, _) = login_body(
        &s,
        json!({"username": DOCTOR.0, "password": secret, "deviceToken": device}),
    )
    .await;
    assert_eq!(st, 429);
}

#[tokio::test]
async fn per_source_limits_on_auth_endpoints_and_upgrades() {
    let s = TestServer::start_with(|c| c.rate_limit.auth_per_source_per_minute = 4).await;
    for i in 0..4 {
        let (st, _) = s
            .post(
                "/api/auth/prelogin",
                None,
                json!({"username": format!("u{i}")}),
            )
            .await;
        assert_eq!(st, 200);
    }
    // Prelogin, login and refresh share the budget.
    for (path, body) in [
        ("/api/auth/prelogin", json!({"username": "sprayed"})),
        (
            "/api/auth/login",
            json!({"username": "sprayed", "password": "x"}),
        ),
        ("/api/auth/refresh", json!({"refreshToken": "made-up"})),
    ] {
        let res = s.http.post(s.url(path)).json(&body).send().await.unwrap();
        assert_eq!(res.status(), 429, "{path}");
        let wait: u64 = res.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=16).contains(&wait), "{wait}");
        let (_, v) = into_parts(res).await;
        assert_eq!(error_code(&v), "RATE_LIMIT_EXCEEDED");
    }
    // WebSocket upgrades have their own budget of the same size.
    for _ in 0..4 {
        drop(s.ws_raw().await);
    }
    let req = format!("{}/api/messaging/ws", s.ws_base)
        .into_client_request()
        .unwrap();
    match s.ws_connect(req).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(res)) => {
            assert_eq!(res.status(), 429);
            assert!(res.headers().get("retry-after").is_some());
        }
        other => panic!("expected 429, got {:?}", other.map(|_| ())),
    }
}

#[tokio::test]
async fn anonymous_floods_do_not_grow_the_audit_trail() {
    let s = TestServer::start().await;
    let before = audit_rows(&s).await.len();
    for i in 0..30 {
        let (st, _, _) = login_body(
            &s,
            json!({"username": format!("ghost.{i}"), "password": "x"}),
        )
        .await;
        assert_eq!(st, 401);
        let (st, _) = s
            .post(
                "/api/auth/refresh",
                None,
                json!({"refreshToken": format!("made-up-{i}")}),
            )
            .await;
        assert_eq!(st, 401);
        let mut req = format!("{}/api/messaging/ws", s.ws_base)
            .into_client_request()
            .unwrap();
        req.headers_mut()
            .insert("origin", "https://evil.example".parse().unwrap());
        assert!(s.ws_connect(req).await.is_err());
    }
    // Locked names (5 attempts each) are folded too.
    for _ in 0..20 {
        login_body(&s, json!({"username": "ghost.0", "password": "x"})).await;
    }
    let rows = audit_rows(&s).await;
    let new: Vec<_> = rows[before..].iter().map(|r| r.action.as_str()).collect();
    for action in ["login", "refresh", "ws_origin", "login_locked"] {
        assert_eq!(
            new.iter().filter(|a| **a == action).count(),
            1,
            "one {action} row per source per minute: {new:?}"
        );
    }
    assert!(new.len() <= 4, "{new:?}");
}

#[tokio::test]
async fn prelogin_and_permissions_do_not_tell_what_exists() {
    let s = TestServer::start().await;
    let (_, real) = s
        .post(
            "/api/auth/prelogin",
            None,
            json!({"username": "jean.dupont"}),
        )
        .await;
    let (_, ghost) = s
        .post(
            "/api/auth/prelogin",
            None,
            json!({"username": "jean.dupond"}),
        )
        .await;
    assert_eq!(real["scheme"], "zk-v1");
    assert_eq!(ghost["scheme"], real["scheme"]);
    assert_eq!(ghost["kdf"], real["kdf"]);
    assert_eq!(
        ghost["kdf"],
        json!({"memoryKib": 19456, "iterations": 2, "parallelism": 1})
    );
    let len = |v: &Value| B64.decode(v["salt"].as_str().unwrap()).unwrap().len();
    assert_eq!((len(&real), len(&ghost)), (16, 16));

    // A migrated account (imported verifier) stays legacy until first sign-in:
    // the documented exception.
    let store = dmp_server::app::open_store(&s.config).unwrap();
    let hash = dmp_server::auth::hash_password("migrated-password-1").unwrap();
    let file: dmp_server::admin::ImportFile = serde_json::from_value(json!({"users": [
        {"id": "patient_900", "type": "patient", "name": "Migré", "username": "migrated", "passwordHash": hash}
    ]}))
    .unwrap();
    dmp_server::admin::import(&store, file, s.config.login.new_account_kdf())
        .await
        .unwrap();
    let (_, migrated) = s
        .post("/api/auth/prelogin", None, json!({"username": "migrated"}))
        .await;
    assert_eq!(migrated["scheme"], "legacy");

    // Permissions: a foreign record and an unknown one look the same.
    let other = s.login(OTHER_PATIENT).await;
    let ask = |id: &str| {
        format!(
            "/api/messaging/permissions/ordonnance/{id}/patient/{}",
            other.user_id
        )
    };
    let foreign = s.get(&ask("ord_789"), Some(&other.access)).await;
    let unknown = s.get(&ask("ord_000"), Some(&other.access)).await;
    assert_eq!(foreign, unknown);
    assert_eq!(
        foreign,
        (
            200,
            json!({"allowed": false, "reason": "NOT_A_PARTICIPANT"})
        )
    );
}

#[tokio::test]
async fn accounts_made_with_a_password_are_zero_knowledge_from_creation() {
    let s = TestServer::start().await;
    let store = dmp_server::app::open_store(&s.config).unwrap();
    let kdf = s.config.login.new_account_kdf();
    dmp_server::admin::user_add(
        &store,
        "medecin_900",
        dmp_protocol::UserType::Medecin,
        "Dr. Nouveau",
        "dr.nouveau",
        "un-mot-de-passe-long",
        kdf,
    )
    .await
    .unwrap();
    let keys = store
        .user_keys(&dmp_protocol::UserId::new("medecin_900"))
        .await
        .unwrap();
    assert!(keys.kdf_salt.is_some() && keys.kdf_params.is_some());
    // The password itself is not a credential: only the derived secret is.
    let (st, _, _) = login_body(
        &s,
        json!({"username": "dr.nouveau", "password": "un-mot-de-passe-long"}),
    )
    .await;
    assert_eq!(st, 401);
    let new = s.login(("dr.nouveau", "un-mot-de-passe-long")).await;
    eventually("the new account is loaded", || async {
        s.get("/api/me", Some(&new.access)).await.0 == 200
    })
    .await;
    // `user passwd` too: a new salt, and the old secret stops working.
    let old = s.credential("dr.nouveau", "un-mot-de-passe-long").await;
    dmp_server::admin::user_passwd(&store, "medecin_900", "encore-plus-long-2026", kdf)
        .await
        .unwrap();
    let (st, _, _) = login_body(&s, json!({"username": "dr.nouveau", "password": old})).await;
    assert_eq!(st, 401);
    s.login(("dr.nouveau", "encore-plus-long-2026")).await;
}
