//! The urgent-message e-mail (docs/messaging.md, "Urgent e-mail") against a
//! real SMTP submission server on loopback (aiosmtpd, STARTTLS and AUTH
//! required: scripts/with-smtp.sh, which the test command runs): sent once,
//! only after the delay, only for what stays unread, with no health data.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use dmp_server::config::MailConfig;
use dmp_server::mail::{run_urgent_mail, Mailer};
use serde_json::{json, Value};
use std::path::PathBuf;

struct Smtp {
    port: u16,
    ca: PathBuf,
    user: String,
    password: String,
    maildir: PathBuf,
}

fn smtp() -> Smtp {
    let var = |name: &str| {
        std::env::var(name).unwrap_or_else(|_| {
            panic!("{name} is not set: run under scripts/with-smtp.sh (scripts/test.sh does)")
        })
    };
    Smtp {
        port: var("DMP_TEST_SMTP_PORT").parse().unwrap(),
        ca: var("DMP_TEST_SMTP_CA").into(),
        user: var("DMP_TEST_SMTP_USER"),
        password: var("DMP_TEST_SMTP_PASSWORD"),
        maildir: var("DMP_TEST_SMTP_MAILDIR").into(),
    }
}

fn mail_config(smtp: &Smtp, password: &str) -> MailConfig {
    MailConfig {
        smtp_host: "localhost".into(),
        smtp_port: smtp.port,
        username: smtp.user.clone(),
        password: password.into(),
        from: "DMP Messagerie <no-reply@dmp.test>".into(),
        ca_file: Some(smtp.ca.clone()),
        urgent_after_minutes: 10,
        scan_interval_secs: 3600,
    }
}

/// The messages the SMTP server accepted for `to` (their decoded view).
fn mails_to(smtp: &Smtp, to: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&smtp.maildir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            let v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            if v["to"].as_array().unwrap().iter().any(|t| t == to) {
                let raw = std::fs::read_to_string(path.with_extension("eml")).unwrap();
                out.push(json!({"view": v, "raw": raw}));
            }
        }
    }
    out
}

/// A doctor's address of its own for this test (tests share the SMTP server).
fn address(tag: &str) -> String {
    format!(
        "dr.martin.{tag}.{}@cabinet.test",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    )
}

async fn send_urgent(s: &TestServer, who: &Login, cmid: &str, text: &str, urgent: bool) -> String {
    let (status, m) = s
        .post(
            "/api/messaging/send",
            Some(&who.access),
            json!({"clientMessageId": cmid, "contextType": ORD.0, "contextId": ORD.1,
                   "content": text, "metadata": {"isUrgent": urgent, "requiresResponse": true}}),
        )
        .await;
    assert_eq!(status, 201, "{m}");
    m["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn an_urgent_message_left_unread_is_mailed_once_and_says_nothing_of_it() {
    let smtp = smtp();
    let config = mail_config(&smtp, &smtp.password);
    let s = TestServer::start_with(|c| {
        migration_mode(c);
        c.mail = config.clone();
    })
    .await;
    let state = s.server.as_ref().unwrap().state.clone();
    let to = address("once");
    dmp_server::admin::user_email(&*state.store, "medecin_456", Some(to.clone()))
        .await
        .unwrap();
    let mailer = Mailer::new(&config).unwrap().unwrap();
    let p = s.login(PATIENT).await;

    send_urgent(
        &s,
        &p,
        "u1",
        "J'ai une forte fièvre depuis la prise du Doliprane",
        true,
    )
    .await;
    send_urgent(&s, &p, "n1", "Une question sans urgence", false).await;
    // Not before the delay.
    s.clock.advance(chrono::Duration::minutes(9));
    assert_eq!(run_urgent_mail(&state, &mailer).await, 0);
    assert!(mails_to(&smtp, &to).is_empty());
    s.clock.advance(chrono::Duration::minutes(2));
    assert_eq!(run_urgent_mail(&state, &mailer).await, 1);
    let mails = mails_to(&smtp, &to);
    assert_eq!(mails.len(), 1, "{mails:?}");
    let view = &mails[0]["view"];
    assert_eq!(view["tls"], true, "STARTTLS before the message");
    assert_eq!(view["authenticated"], true);
    assert_eq!(view["subject"], dmp_server::mail::SUBJECT);
    let text = view["text"].as_str().unwrap();
    assert!(
        text.contains("Un message urgent vous attend dans DMP Messagerie."),
        "{text}"
    );
    // No health data: not the text, the record, the patient, nor who wrote.
    let raw = mails[0]["raw"].as_str().unwrap();
    for leak in [
        "fièvre",
        "Doliprane",
        "ord_789",
        "Ordonnance",
        "Jean",
        "Dupont",
        "patient_123",
    ] {
        assert!(
            !text.contains(leak) && !raw.contains(leak),
            "{leak} in {raw}"
        );
    }
    // Once: the next looks send nothing more.
    s.clock.advance(chrono::Duration::minutes(30));
    assert_eq!(run_urgent_mail(&state, &mailer).await, 0);
    assert_eq!(mails_to(&smtp, &to).len(), 1);

    // An urgent message the doctor reads in time is not mailed about (new
    // logins: the clock moved past the access tokens' lifetime).
    let p = s.login(PATIENT).await;
    let d = s.login(DOCTOR).await;
    let id = send_urgent(&s, &p, "u2", "Encore une question urgente", true).await;
    let (status, body) = s
        .patch(
            &format!("/api/messaging/messages/{id}/read"),
            Some(&d.access),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    s.clock.advance(chrono::Duration::minutes(11));
    assert_eq!(run_urgent_mail(&state, &mailer).await, 0);
    assert_eq!(mails_to(&smtp, &to).len(), 1);

    // Audited, without the address.
    let rows = state
        .store
        .audit_rows(None, Some("system".into()), None, 1000)
        .await
        .unwrap();
    let mailed: Vec<_> = rows.iter().filter(|r| r.action == "urgent_mail").collect();
    assert_eq!(mailed.len(), 1);
    assert_eq!(
        (mailed[0].target.as_str(), mailed[0].outcome.as_str()),
        ("medecin_456", "ok")
    );
    assert!(rows.iter().all(|r| !r.target.contains("cabinet.test")));
}

#[tokio::test]
async fn a_refused_e_mail_is_tried_again_at_the_next_look() {
    let smtp = smtp();
    let config = mail_config(&smtp, &smtp.password);
    let s = TestServer::start_with(|c| {
        migration_mode(c);
        c.mail = config.clone();
    })
    .await;
    let state = s.server.as_ref().unwrap().state.clone();
    let to = address("retry");
    dmp_server::admin::user_email(&*state.store, "medecin_456", Some(to.clone()))
        .await
        .unwrap();
    let p = s.login(PATIENT).await;
    send_urgent(&s, &p, "u1", "Question urgente", true).await;
    s.clock.advance(chrono::Duration::minutes(11));
    // Wrong credentials: the server refuses, nothing is lost.
    let wrong = Mailer::new(&mail_config(&smtp, "not-the-password"))
        .unwrap()
        .unwrap();
    assert_eq!(run_urgent_mail(&state, &wrong).await, 0);
    assert!(mails_to(&smtp, &to).is_empty());
    let right = Mailer::new(&config).unwrap().unwrap();
    assert_eq!(run_urgent_mail(&state, &right).await, 1);
    assert_eq!(mails_to(&smtp, &to).len(), 1);
    // A patient has no e-mail: only doctors are mailed.
    let err =
        dmp_server::admin::user_email(&*state.store, "medecin_456", Some("pas une adresse".into()))
            .await
            .unwrap_err();
    assert!(err.to_string().contains("not an e-mail address"), "{err}");
}
