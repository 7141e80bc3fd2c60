//! Honest sends, the limits the server announces, disabled accounts, the
//! last login and offline reading: the client core against the real server
//! on a loopback port, with the real Secret Service of the test session.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use dmp_client::{ClientEvent, DmpClient, LastLogin, LocalState, SessionEndReason};
use dmp_protocol::*;
use std::collections::{HashMap, HashSet};
use std::time::Duration;

fn ord() -> (ContextType, ContextId) {
    (ContextType::Ordonnance, ContextId::new("ord_789"))
}

fn meta() -> MessageMetadata {
    MessageMetadata::default()
}

/// Collects events until `done` says so (or panics after `secs`).
async fn collect_until(
    rx: &mut tokio::sync::broadcast::Receiver<ClientEvent>,
    what: &str,
    secs: u64,
    mut done: impl FnMut(&ClientEvent) -> bool,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Ok(ev)) => {
                if done(&ev) {
                    return;
                }
            }
            Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(n))) => {
                panic!("lost {n} events while waiting for {what}")
            }
            Ok(Err(e)) => panic!("event stream ended while waiting for {what}: {e}"),
            Err(_) => panic!("timed out waiting for {what}"),
        }
    }
}

#[tokio::test]
async fn a_rate_limited_burst_arrives_in_order_exactly_once_and_says_it_is_slowed_down() {
    require_desktop_services();
    let server = Server::start(|c| {
        c.rate_limit.send_per_second = 5.0;
        c.rate_limit.send_burst = 5.0;
    })
    .await;
    let (pd, dd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let doctor = login(&server, dd.path(), DOCTOR, false).await;
    let patient = login(&server, pd.path(), PATIENT, false).await;
    patient.contexts().await.unwrap();
    let mut ev = patient.subscribe();
    patient.connect();
    wait_connected(&patient).await;
    let (k, id) = ord();
    // 45 messages typed in 3 s, far beyond 5 per second.
    let mut sent = vec![];
    for i in 0..45 {
        let m = patient
            .send(k, &id, &format!("message {i:02}"), meta(), vec![])
            .await
            .unwrap();
        sent.push(m.client_message_id.clone());
        tokio::time::sleep(Duration::from_millis(66)).await;
    }
    let order: HashMap<ClientMessageId, usize> = sent
        .iter()
        .cloned()
        .enumerate()
        .map(|(i, c)| (c, i))
        .collect();
    let mut acked: Vec<(usize, u64)> = vec![];
    let mut slowed: HashSet<ClientMessageId> = HashSet::new();
    let mut drain = |e: &ClientEvent, acked: &mut Vec<(usize, u64)>| match e {
        ClientEvent::Message { message } if message.seq > 0 => {
            if let Some(i) = order.get(&message.client_message_id) {
                acked.push((*i, message.seq));
            }
        }
        ClientEvent::Local { message } => {
            if let Some(LocalState::SlowedDown { retry_at }) = &message.local {
                assert!(*retry_at > chrono::Utc::now() - chrono::Duration::seconds(5));
                slowed.insert(message.client_message_id.clone());
            }
        }
        _ => {}
    };
    while let Ok(e) = ev.try_recv() {
        drain(&e, &mut acked);
    }
    if acked.len() < 45 {
        collect_until(&mut ev, "45 acks", 60, |e| {
            drain(e, &mut acked);
            acked.len() >= 45
        })
        .await;
    }
    assert!(
        !slowed.is_empty(),
        "the rate limit refused some sends: they said slowedDown"
    );
    // Acks in the order of sending, with increasing seq: never overtaken.
    let indices: Vec<usize> = acked.iter().map(|(i, _)| *i).collect();
    assert_eq!(indices, (0..45).collect::<Vec<_>>());
    assert!(acked.windows(2).all(|w| w[0].1 < w[1].1));
    assert_eq!(patient.outbox_len().unwrap(), 0);
    // The doctor reads each of them once, in order.
    doctor.contexts().await.unwrap();
    let page = doctor.history(k, &id, None, 100).await.unwrap();
    let contents: Vec<String> = page.messages.iter().map(|m| m.content.clone()).collect();
    let expected: Vec<String> = (0..45).map(|i| format!("message {i:02}")).collect();
    assert_eq!(contents, expected);
    patient.disconnect().await;
}

#[tokio::test]
async fn a_refused_send_shows_failed_with_its_code_and_retry_keeps_its_id() {
    require_desktop_services();
    // Envelopes above 2,500 bytes are refused by this server.
    let mut server = Server::start(|c| c.limits.max_envelope_bytes = 2_500).await;
    let (pd, dd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let doctor = login(&server, dd.path(), DOCTOR, false).await;
    let patient = login(&server, pd.path(), PATIENT, false).await;
    patient.contexts().await.unwrap();
    let mut ev = patient.subscribe();
    patient.connect();
    wait_connected(&patient).await;
    let (k, id) = ord();
    let long = "é".repeat(1_000);
    let first = patient.send(k, &id, &long, meta(), vec![]).await.unwrap();
    let failed = wait_for(&mut ev, "the refusal", |e| match e {
        ClientEvent::Local { message }
            if message.client_message_id == first.client_message_id
                && matches!(message.local, Some(LocalState::Failed { .. })) =>
        {
            Some(message.clone())
        }
        _ => None,
    })
    .await;
    let Some(LocalState::Failed { code, message }) = &failed.local else {
        unreachable!()
    };
    assert_eq!(code, "VALIDATION_FAILED");
    assert!(!message.contains('é'), "the reason never carries the text");
    assert_eq!(
        failed.content, long,
        "the window still shows what was typed"
    );
    // Not "pending" any more: the history says failed too, and it stays there.
    let page = patient.cached_history(k, &id, None, 50).unwrap();
    let shown = page
        .messages
        .iter()
        .find(|m| m.client_message_id == first.client_message_id)
        .unwrap();
    assert!(matches!(shown.local, Some(LocalState::Failed { .. })));
    // A failed message does not hold back the next one.
    let second = patient.send(k, &id, "court", meta(), vec![]).await.unwrap();
    wait_for(&mut ev, "the ack of the next message", |e| match e {
        ClientEvent::Message { message }
            if message.client_message_id == second.client_message_id =>
        {
            Some(())
        }
        _ => None,
    })
    .await;
    // The server is configured again to accept it; the retry keeps the id.
    patient.disconnect().await;
    server.config.limits.max_envelope_bytes = 16 * 1024;
    server.restart().await;
    patient.connect();
    wait_connected(&patient).await;
    let retried = patient.retry_send(&first.client_message_id).await.unwrap();
    assert_eq!(retried.client_message_id, first.client_message_id);
    assert!(matches!(retried.local, Some(LocalState::Sending) | None));
    if retried.local.is_some() {
        wait_for(&mut ev, "the ack of the retried message", |e| match e {
            ClientEvent::Message { message }
                if message.client_message_id == first.client_message_id && message.seq > 0 =>
            {
                Some(())
            }
            _ => None,
        })
        .await;
    }
    // Retrying twice changes nothing: it is gone from the outbox.
    assert_eq!(
        patient
            .retry_send(&first.client_message_id)
            .await
            .unwrap_err()
            .code(),
        "RETRY_UNKNOWN"
    );
    assert_eq!(
        patient
            .discard_send(&first.client_message_id)
            .unwrap_err()
            .code(),
        "RETRY_UNKNOWN"
    );
    doctor.contexts().await.unwrap();
    let page = doctor.history(k, &id, None, 50).await.unwrap();
    let ids: Vec<&ClientMessageId> = page.messages.iter().map(|m| &m.client_message_id).collect();
    assert_eq!(
        ids,
        vec![&second.client_message_id, &first.client_message_id],
        "exactly once each; the retried one comes after the one sent meanwhile"
    );
    patient.disconnect().await;
}

#[tokio::test]
async fn a_failed_send_can_be_discarded() {
    require_desktop_services();
    let server = Server::start(|c| c.limits.max_envelope_bytes = 2_500).await;
    let (pd, dd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let _doctor = login(&server, dd.path(), DOCTOR, false).await;
    let patient = login(&server, pd.path(), PATIENT, false).await;
    patient.contexts().await.unwrap();
    let (k, id) = ord();
    // Not connected: sent over HTTP, refused at once.
    let m = patient
        .send(k, &id, &"x".repeat(1_000).replace('x', "é"), meta(), vec![])
        .await
        .unwrap();
    assert!(
        matches!(&m.local, Some(LocalState::Failed { code, .. }) if code == "VALIDATION_FAILED"),
        "{:?}",
        m.local
    );
    assert_eq!(patient.outbox_len().unwrap(), 1);
    patient.discard_send(&m.client_message_id).unwrap();
    assert_eq!(patient.outbox_len().unwrap(), 0);
    let page = patient.cached_history(k, &id, None, 50).unwrap();
    assert!(page.messages.is_empty());
}

#[tokio::test]
async fn a_send_to_a_doctor_who_never_signed_in_waits_for_keys_and_leaves_when_he_does() {
    require_desktop_services();
    let server = Server::start(|_| {}).await;
    let (pd, dd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let patient = login(&server, pd.path(), PATIENT, false).await;
    patient.contexts().await.unwrap();
    let mut ev = patient.subscribe();
    patient.connect();
    wait_connected(&patient).await;
    let (k, id) = ord();
    let m = patient
        .send(k, &id, "Bonjour docteur", meta(), vec![])
        .await
        .unwrap();
    assert_eq!(
        m.local,
        Some(LocalState::WaitingForKeys {
            peer_name: "Dr. Sophie Martin".into()
        })
    );
    let later = patient
        .send(k, &id, "Et une autre question", meta(), vec![])
        .await
        .unwrap();
    assert!(matches!(
        later.local,
        Some(LocalState::WaitingForKeys { .. })
    ));
    // The doctor signs in for the first time: his keys are published, the
    // server tells the patient's client (keyChange) and the queue leaves.
    let doctor = login(&server, dd.path(), DOCTOR, false).await;
    let mut acked = vec![];
    collect_until(&mut ev, "both acks", 15, |e| {
        if let ClientEvent::Message { message } = e {
            if message.seq > 0 {
                acked.push(message.client_message_id.clone());
            }
        }
        acked.len() >= 2
    })
    .await;
    assert_eq!(
        acked,
        vec![m.client_message_id.clone(), later.client_message_id.clone()]
    );
    doctor.contexts().await.unwrap();
    let page = doctor.history(k, &id, None, 50).await.unwrap();
    let contents: Vec<&str> = page.messages.iter().map(|m| m.content.as_str()).collect();
    assert_eq!(contents, vec!["Bonjour docteur", "Et une autre question"]);
    assert!(page.messages.iter().all(|m| m.e2e_error.is_none()));
    patient.disconnect().await;
}

#[tokio::test]
async fn the_client_uses_the_limits_the_server_announces() {
    require_desktop_services();
    let server = Server::start(|c| c.limits.max_message_length = 40).await;
    let (pd, dd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let _doctor = login(&server, dd.path(), DOCTOR, false).await;
    let patient = login(&server, pd.path(), PATIENT, false).await;
    assert_eq!(patient.limits().max_message_length, 40);
    patient.contexts().await.unwrap();
    let (k, id) = ord();
    let err = patient
        .send(k, &id, &"a".repeat(41), meta(), vec![])
        .await
        .unwrap_err();
    assert_eq!(err.code(), "VALIDATION_FAILED");
    assert_eq!(patient.outbox_len().unwrap(), 0, "refused before queueing");
    let ok = patient
        .send(k, &id, &"a".repeat(40), meta(), vec![])
        .await
        .unwrap();
    assert!(ok.local.is_none() && ok.seq > 0);
}

#[tokio::test]
async fn a_disabled_account_is_told_so_only_with_the_right_password() {
    require_desktop_services();
    let server = Server::start(|_| {}).await;
    let (pd, other) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let patient = login(&server, pd.path(), PATIENT, false).await;
    let mut ev = patient.subscribe();
    patient.connect();
    wait_connected(&patient).await;
    let store = dmp_server::app::open_store(&server.config).unwrap();
    dmp_server::admin::user_disable(&store, "patient_123", true)
        .await
        .unwrap();
    let reason = wait_for(&mut ev, "the end of the session", |e| match e {
        ClientEvent::SessionExpired { reason } => Some(*reason),
        _ => None,
    })
    .await;
    assert_eq!(reason, SessionEndReason::Disabled);
    let err = DmpClient::login(
        config(other.path(), false),
        &server.url(),
        PATIENT.0,
        PATIENT.1,
        false,
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), "ACCOUNT_DISABLED");
    let err = DmpClient::login(
        config(other.path(), false),
        &server.url(),
        PATIENT.0,
        "not-the-password-2026",
        false,
    )
    .await
    .unwrap_err();
    assert_eq!(
        err.code(),
        "AUTH_REQUIRED",
        "no oracle for a wrong password"
    );
    patient.disconnect().await;
}

#[tokio::test]
async fn the_last_login_is_remembered_across_logout_and_restarts() {
    require_desktop_services();
    let server = Server::start(|_| {}).await;
    let pd = tempfile::tempdir().unwrap();
    assert_eq!(LastLogin::load(pd.path()), None);
    let patient = login(&server, pd.path(), PATIENT, false).await;
    let expected = LastLogin {
        server: server.url().trim_end_matches('/').to_owned(),
        username: Some(PATIENT.0.to_owned()),
        ca_file: Some(ca_file().display().to_string()),
    };
    assert_eq!(LastLogin::load(pd.path()), Some(expected.clone()));
    patient.logout().await.unwrap();
    assert_eq!(LastLogin::load(pd.path()), Some(expected));
    let text = std::fs::read_to_string(pd.path().join("last-login.json")).unwrap();
    assert!(!text.contains(PATIENT.1), "no password in it");
    assert!(!text.to_lowercase().contains("token"), "no token in it");
}

#[tokio::test]
async fn an_unreachable_server_opens_the_cache_read_only_until_it_answers() {
    require_desktop_services();
    let mut server = Server::start(|_| {}).await;
    let (pd, dd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let doctor = login(&server, dd.path(), DOCTOR, false).await;
    let patient = login(&server, pd.path(), PATIENT, false).await;
    doctor.contexts().await.unwrap();
    patient.contexts().await.unwrap();
    let (k, id) = ord();
    doctor
        .send(k, &id, "Résultats de la prise de sang", meta(), vec![])
        .await
        .unwrap();
    patient.history(k, &id, None, 50).await.unwrap();
    patient.shutdown().await;
    server.stop().await;

    // "Stay signed in" was chosen: the app opens on the cache, read-only.
    let patient = DmpClient::resume(config(pd.path(), false))
        .await
        .unwrap()
        .expect("opened read-only");
    assert!(patient.is_read_only());
    assert_eq!(patient.user().id, UserId::new("patient_123"));
    let page = patient.history(k, &id, None, 50).await.unwrap();
    assert!(page.offline);
    assert_eq!(page.messages.len(), 1);
    assert_eq!(page.messages[0].content, "Résultats de la prise de sang");
    assert_eq!(patient.search("prise de sang", None).unwrap().len(), 1);
    assert!(!patient.contexts().await.unwrap().is_empty());
    let err = patient
        .send(k, &id, "pas maintenant", meta(), vec![])
        .await
        .unwrap_err();
    assert_eq!(err.code(), "OFFLINE_READ_ONLY");
    assert_eq!(patient.outbox_len().unwrap(), 0);
    let mut ev = patient.subscribe();
    patient.connect();
    assert!(!patient.is_connected());

    // The server comes back: signed in for real, connected, writable.
    server.restart().await;
    collect_until(&mut ev, "online again", 40, |e| {
        matches!(e, ClientEvent::OnlineAgain)
    })
    .await;
    assert!(!patient.is_read_only());
    wait_connected(&patient).await;
    let m = patient
        .send(k, &id, "Merci docteur", meta(), vec![])
        .await
        .unwrap();
    assert!(m.local.is_none() || m.local == Some(LocalState::Sending));
    patient.disconnect().await;
}
