//! End-to-end encryption through the real server: the server's disk and logs
//! never hold clear text or attachment bytes; a new device reads the whole
//! history with the password alone; tampering, a wrong signer and a swapped
//! key are detected and never shown as valid messages.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use dmp_client::{ClientEvent, DmpClient};
use dmp_protocol::*;
use std::io::Write;
use std::sync::{Arc, Mutex};

fn ord() -> (ContextType, ContextId) {
    (ContextType::Ordonnance, ContextId::new("ord_789"))
}

/// Captures every log line of this process (the in-process server's included).
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn the_server_never_holds_clear_text_or_attachment_bytes() {
    require_desktop_services();
    let logs = Captured::default();
    let sink = logs.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || sink.clone())
        .init();

    let server = Server::start(|c| c.require_e2e = true).await;
    let (pd, dd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let patient = login(&server, pd.path(), PATIENT, false).await;
    let doctor = login(&server, dd.path(), DOCTOR, false).await;
    patient.contexts().await.unwrap();
    doctor.contexts().await.unwrap();
    let (k, id) = ord();
    let secret_text = "Mon traitement contre le diabète secret-7c1e";
    let secret_reply = "Réponse confidentielle 4d9a";
    // A PDF whose bytes carry a recognisable marker.
    let mut pdf = b"%PDF-1.7\n".to_vec();
    for _ in 0..4000 {
        pdf.extend_from_slice(b"BILAN-CONFIDENTIEL-ATTACHMENT-BYTES ");
    }
    let att = patient.upload("bilan.pdf", pdf.clone()).await.unwrap();
    assert_eq!(att.mime_type, "application/pdf");
    let sent = patient
        .send(
            k,
            &id,
            secret_text,
            MessageMetadata::default(),
            vec![att.id.clone()],
        )
        .await
        .unwrap();
    assert_eq!(sent.content, secret_text, "the sender sees the clear text");
    assert_eq!(sent.encrypted, Some(true));
    doctor
        .send(k, &id, secret_reply, MessageMetadata::default(), vec![])
        .await
        .unwrap();

    // The doctor reads both, and the attachment, through the encrypted path.
    let page = doctor.history(k, &id, None, 50).await.unwrap();
    let first = &page.messages[0];
    assert_eq!(first.content, secret_text);
    assert_eq!(first.encrypted, Some(true));
    assert_eq!(first.attachments[0].name, "bilan.pdf");
    assert_eq!(
        doctor.download(&first.attachments[0].id).await.unwrap(),
        pdf
    );
    assert_eq!(page.messages[1].content, secret_reply);
    // A clear-text attachment or message is refused by a server that requires E2E.
    let plain = api::SendRequest {
        client_message_id: ClientMessageId::new("plain"),
        context_type: k,
        context_id: id.clone(),
        content: "en clair".into(),
        kind: MessageType::Text,
        metadata: MessageMetadata::default(),
        attachments: vec![],
    };
    assert_eq!(
        doctor.api().send(&plain).await.unwrap_err().code(),
        "E2E_REQUIRED"
    );

    // Scan everything the server wrote: database, WAL, attachment store, logs.
    let mut scanned = 0;
    for f in files_under(server.dir.path()) {
        let bytes = std::fs::read(&f).unwrap();
        scanned += bytes.len();
        for needle in [
            secret_text.as_bytes(),
            secret_reply.as_bytes(),
            "diabète".as_bytes(),
            b"BILAN-CONFIDENTIEL",
            b"bilan.pdf",
        ] {
            assert!(
                !contains(&bytes, needle),
                "{} holds clear data",
                f.display()
            );
        }
    }
    assert!(
        scanned > 10_000,
        "the scan saw the database and the attachment store"
    );
    let logs = String::from_utf8_lossy(&logs.0.lock().unwrap()).into_owned();
    assert!(logs.contains("request"), "server logs were captured");
    for needle in [
        secret_text,
        secret_reply,
        "BILAN-CONFIDENTIEL",
        "bilan.pdf",
        PATIENT.1,
    ] {
        assert!(!logs.contains(needle), "a log line holds {needle}");
    }
}

#[tokio::test]
async fn a_new_device_reads_the_whole_history_with_the_password_alone() {
    require_desktop_services();
    let server = Server::start(|c| c.rate_limit.send_burst = 100.0).await;
    let (pd, dd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let patient = login(&server, pd.path(), PATIENT, false).await;
    let doctor = login(&server, dd.path(), DOCTOR, false).await;
    patient.contexts().await.unwrap();
    let (k, id) = ord();
    for i in 0..5 {
        patient
            .send(
                k,
                &id,
                &format!("question {i} sur la posologie"),
                MessageMetadata::default(),
                vec![],
            )
            .await
            .unwrap();
        doctor
            .send(
                k,
                &id,
                &format!("réponse {i}"),
                MessageMetadata::default(),
                vec![],
            )
            .await
            .unwrap();
    }
    // The first device is gone: its keychain entries and cache are deleted.
    patient.logout().await.unwrap();
    // A wrong password reads nothing.
    let fresh = tempfile::tempdir().unwrap();
    let err = DmpClient::login(
        config(fresh.path(), false),
        &server.url(),
        PATIENT.0,
        "wrong-password-123",
        false,
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), "AUTH_REQUIRED");
    assert!(DmpClient::resume(config(fresh.path(), false))
        .await
        .unwrap()
        .is_none());
    // The right one restores the keys from the backup and opens everything.
    let device_b = login(&server, fresh.path(), PATIENT, false).await;
    device_b.contexts().await.unwrap();
    let page = device_b.history(k, &id, None, 50).await.unwrap();
    assert_eq!(page.messages.len(), 10);
    assert!(
        page.messages
            .iter()
            .all(|m| m.encrypted == Some(true) && m.e2e_error.is_none()),
        "{:?}",
        page.messages
    );
    assert_eq!(page.messages[0].content, "question 0 sur la posologie");
    assert_eq!(page.messages[9].content, "réponse 4");
    // Both devices compute the same safety code as the doctor.
    let code_patient = device_b
        .safety_code(&UserId::new("medecin_456"))
        .await
        .unwrap();
    let code_doctor = doctor
        .safety_code(&UserId::new("patient_123"))
        .await
        .unwrap();
    assert_eq!(code_patient, code_doctor);
    assert_eq!(code_patient.split(' ').count(), 6);
    // The password never reaches the server any more: it now refuses it as such.
    let res = common::http()
        .post(format!("{}/api/auth/login", server.url()))
        .json(&serde_json::json!({"username": PATIENT.0, "password": PATIENT.1}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}

#[tokio::test]
async fn tampering_a_wrong_signer_and_a_swapped_key_are_detected() {
    require_desktop_services();
    let server = Server::start(|c| c.rate_limit.send_burst = 100.0).await;
    let (pd, dd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let patient = login(&server, pd.path(), PATIENT, false).await;
    let doctor = login(&server, dd.path(), DOCTOR, false).await;
    patient.contexts().await.unwrap();
    doctor.contexts().await.unwrap();
    let (k, id) = ord();
    let genuine = doctor
        .send(
            k,
            &id,
            "message authentique",
            MessageMetadata::default(),
            vec![],
        )
        .await
        .unwrap();
    let victim = doctor
        .send(
            k,
            &id,
            "message à altérer",
            MessageMetadata::default(),
            vec![],
        )
        .await
        .unwrap();

    // 1. The server (or someone with its disk) flips one character of a stored envelope.
    let db = rusqlite::Connection::open(server.config.database_path()).unwrap();
    let stored: String = db
        .query_row(
            "SELECT content FROM messages WHERE id = ?1",
            [victim.id.as_str()],
            |r| r.get(0),
        )
        .unwrap();
    let mut bytes = stored.into_bytes();
    let i = bytes.len() / 2;
    bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
    db.execute(
        "UPDATE messages SET content = ?2 WHERE id = ?1",
        rusqlite::params![victim.id.as_str(), String::from_utf8(bytes).unwrap()],
    )
    .unwrap();

    // 1b. The server files a patient's question under another category than
    // the one sealed in its envelope; the other question keeps its own.
    let asked = |text: &'static str, category| {
        let patient = &patient;
        let id = &id;
        async move {
            patient
                .send(
                    k,
                    id,
                    text,
                    MessageMetadata {
                        category: Some(category),
                        ..Default::default()
                    },
                    vec![],
                )
                .await
                .unwrap()
        }
    };
    let refiled = asked(
        "Des vertiges depuis ce traitement",
        QuestionCategory::SideEffects,
    )
    .await;
    let kept = asked("Quelle dose le soir ?", QuestionCategory::Clarification).await;
    db.execute(
        "UPDATE messages SET category = 'other' WHERE id = ?1",
        [refiled.id.as_str()],
    )
    .unwrap();
    let fresh = tempfile::tempdir().unwrap();
    let doctor_b = login(&server, fresh.path(), DOCTOR, false).await;
    doctor_b.contexts().await.unwrap();
    let page = doctor_b.history(k, &id, None, 50).await.unwrap();
    let seen = |mid: &MessageId| page.messages.iter().find(|m| m.id == *mid).unwrap().clone();
    assert_eq!(
        seen(&refiled.id).e2e_error.as_deref(),
        Some("E2E_HEADER_MISMATCH")
    );
    assert_eq!(seen(&refiled.id).content, "");
    assert_eq!(seen(&kept.id).content, "Quelle dose le soir ?");
    assert_eq!(
        seen(&kept.id).metadata.category,
        Some(QuestionCategory::Clarification)
    );
    doctor_b.shutdown().await;

    // 2. A wrong signer: someone with the doctor's access token but not their keys.
    let forger = dmp_crypto::Identity::generate(&mut rand::rngs::OsRng);
    let patient_keys: api::UserKeysResponse = common::http()
        .get(format!("{}/api/keys/patient_123", server.url()))
        .bearer_auth(doctor.api().access_token().await.unwrap().as_str())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let patient_public = dmp_crypto::PublicIdentity {
        encryption_key: patient_keys.public_keys.encryption_key.clone(),
        signing_key: patient_keys.public_keys.signing_key.clone(),
    };
    let forged = dmp_crypto::seal(
        &mut rand::rngs::OsRng,
        &forger,
        dmp_crypto::HeaderInput {
            client_message_id: "forged-1".into(),
            context: "ordonnance/ord_789".into(),
            session_id: "session_ordonnance_ord_789_patient_123_medecin_456".into(),
            sender: "medecin_456".into(),
            recipient: "patient_123".into(),
            timestamp_ms: 0,
        },
        &dmp_crypto::Plaintext {
            text: "Arrêtez votre traitement".into(),
            attachments: vec![],
            category: None,
        },
        &[("patient_123", &patient_public)],
    )
    .unwrap();
    doctor
        .api()
        .send(&api::SendRequest {
            client_message_id: ClientMessageId::new("forged-1"),
            context_type: k,
            context_id: id.clone(),
            content: forged.to_content(),
            kind: MessageType::Text,
            metadata: MessageMetadata::default(),
            attachments: vec![],
        })
        .await
        .unwrap();

    let page = patient.history(k, &id, None, 50).await.unwrap();
    let by_id = |mid: &MessageId| page.messages.iter().find(|m| m.id == *mid).unwrap().clone();
    assert_eq!(by_id(&genuine.id).content, "message authentique");
    assert!(by_id(&genuine.id).e2e_error.is_none());
    let tampered = by_id(&victim.id);
    assert!(tampered.e2e_error.is_some(), "tampering not detected");
    assert_eq!(tampered.content, "", "a tampered message shows nothing");
    let forged_msg = page
        .messages
        .iter()
        .find(|m| m.client_message_id.as_str() == "forged-1")
        .unwrap();
    assert_eq!(forged_msg.e2e_error.as_deref(), Some("E2E_BAD_SIGNATURE"));
    assert!(!forged_msg.content.contains("Arrêtez"));
    assert!(
        patient.search("Arrêtez", None).unwrap().is_empty(),
        "nothing unverified reaches the search index"
    );

    // 3. The server swaps the doctor's public key.
    let mut ev = patient.subscribe();
    let other = dmp_crypto::Identity::generate(&mut rand::rngs::OsRng).public();
    let swapped =
        serde_json::json!({"encryptionKey": other.encryption_key, "signingKey": other.signing_key})
            .to_string();
    db.execute(
        "UPDATE users SET public_keys = ?2 WHERE id = ?1",
        rusqlite::params!["medecin_456", swapped],
    )
    .unwrap();
    patient.contexts().await.unwrap();
    wait_for(&mut ev, "peer key changed", |e| match e {
        ClientEvent::PeerKeyChanged { user_id, .. } if user_id.as_str() == "medecin_456" => {
            Some(())
        }
        _ => None,
    })
    .await;
    // Not sent: shown failed with the reason, until the key is accepted and it is retried.
    let held = patient
        .send(
            k,
            &id,
            "ne doit pas partir",
            MessageMetadata::default(),
            vec![],
        )
        .await
        .unwrap();
    assert!(
        matches!(&held.local, Some(dmp_client::LocalState::Failed { code, .. }) if code == "PEER_KEY_CHANGED"),
        "{:?}",
        held.local
    );
    patient.discard_send(&held.client_message_id).unwrap();
    // Messages signed with the pinned key still verify.
    let page = patient.history(k, &id, None, 50).await.unwrap();
    assert_eq!(
        page.messages
            .iter()
            .find(|m| m.id == genuine.id)
            .unwrap()
            .content,
        "message authentique"
    );
    // Accepting the new key (after comparing codes) lets sending resume.
    assert!(patient
        .accept_peer_key(&UserId::new("medecin_456"))
        .unwrap());
    patient
        .send(
            k,
            &id,
            "après vérification",
            MessageMetadata::default(),
            vec![],
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn messages_from_before_encryption_are_shown_and_flagged() {
    require_desktop_services();
    // Migration mode: the operator still accepts clear text from old clients.
    let server = Server::start(|c| c.require_e2e = false).await;
    let (pd, dd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    // An old client wrote in clear text before the upgrade.
    let tokens: api::TokenResponse = raw_login(&server, PATIENT).await;
    let res = common::http()
        .post(format!("{}/api/messaging/send", server.url()))
        .bearer_auth(&tokens.access_token)
        .json(&serde_json::json!({"clientMessageId":"old-1","contextType":"ordonnance","contextId":"ord_789","content":"Ancien message en clair"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let patient = login(&server, pd.path(), PATIENT, false).await;
    let doctor = login(&server, dd.path(), DOCTOR, false).await;
    patient.contexts().await.unwrap();
    let (k, id) = ord();
    patient
        .send(
            k,
            &id,
            "Nouveau message chiffré",
            MessageMetadata::default(),
            vec![],
        )
        .await
        .unwrap();
    let page = doctor.history(k, &id, None, 50).await.unwrap();
    assert_eq!(page.messages[0].content, "Ancien message en clair");
    assert_eq!(
        page.messages[0].encrypted,
        Some(false),
        "flagged as not end-to-end encrypted"
    );
    assert_eq!(page.messages[1].content, "Nouveau message chiffré");
    assert_eq!(page.messages[1].encrypted, Some(true));
}

/// A doctor's reply templates: sealed on the device (the server's copy and
/// its disk hold no template text), opened on a new device with the
/// password alone, filled in for a record, and two devices editing at once
/// both keep their change.
#[tokio::test]
async fn reply_templates_follow_the_doctor_and_stay_sealed() {
    require_desktop_services();
    let server = Server::start(|_| {}).await;
    let (dd, pd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let doctor = login(&server, dd.path(), DOCTOR, false).await;
    let patient = login(&server, pd.path(), PATIENT, false).await;
    doctor.contexts().await.unwrap();
    assert!(doctor.templates().await.unwrap().is_empty());
    let secret = "Bonjour {prenom}, votre {document} est prête. secret-tpl-91f3";
    let saved = doctor
        .save_template(ReplyTemplate {
            id: String::new(),
            title: "  Ordonnance prête  ".into(),
            text: secret.into(),
        })
        .await
        .unwrap();
    assert_eq!(saved.len(), 1);
    assert!(saved[0].id.starts_with("tpl_"));
    assert_eq!(saved[0].title, "Ordonnance prête");
    // Bad templates are refused on the device with a clear code.
    let err = doctor
        .save_template(ReplyTemplate {
            id: String::new(),
            title: String::new(),
            text: "x".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), "VALIDATION_FAILED");
    // Patients keep none.
    assert_eq!(
        patient.templates().await.unwrap_err().code(),
        "CONTEXT_ACCESS_DENIED"
    );

    // What the server holds: a sealed value, nothing of the text.
    let store = dmp_server::app::open_store(&server.config).unwrap();
    let doctor_id = UserId::new("medecin_456");
    let stored = store.sealed_templates(&doctor_id).await.unwrap().unwrap();
    assert!(stored.sealed.starts_with("dmp-private:v1:"));
    assert!(!stored.sealed.contains("secret-tpl"));
    drop(store);
    let mut disk = Vec::new();
    for e in walkdir(server.dir.path()) {
        disk.extend(std::fs::read(e).unwrap_or_default());
    }
    assert!(
        !contains(&disk, b"secret-tpl-91f3"),
        "template text on the server's disk"
    );

    // A second device of the doctor, with the password alone, reads them.
    let fresh = tempfile::tempdir().unwrap();
    let device_b = login(&server, fresh.path(), DOCTOR, false).await;
    device_b.contexts().await.unwrap();
    let on_b = device_b.templates().await.unwrap();
    assert_eq!(on_b, saved);
    let (k, id) = ord();
    let text = device_b.render_template(k, &id, &on_b[0]).await.unwrap();
    assert!(text.starts_with("Bonjour Jean, votre "), "{text}");
    assert!(!text.contains('{'), "{text}");

    // Both devices add one at once: both additions are kept (the loser of
    // the race redoes its change from the winner's save).
    let new = |title: &str| ReplyTemplate {
        id: String::new(),
        title: title.into(),
        text: "Merci pour votre message.".into(),
    };
    let (a, b) = tokio::join!(
        doctor.save_template(new("Accusé A")),
        device_b.save_template(new("Accusé B"))
    );
    a.unwrap();
    b.unwrap();
    let all = doctor.templates().await.unwrap();
    let titles: Vec<&str> = all.iter().map(|t| t.title.as_str()).collect();
    assert_eq!(titles.len(), 3, "{titles:?}");
    assert!(titles.contains(&"Accusé A") && titles.contains(&"Accusé B"));
    // Edit and delete.
    let mut first = all[0].clone();
    first.text = "Texte modifié".into();
    let after = device_b.save_template(first.clone()).await.unwrap();
    assert_eq!(
        after.iter().find(|t| t.id == first.id).unwrap().text,
        "Texte modifié"
    );
    let after = doctor.delete_template(&first.id).await.unwrap();
    assert_eq!(after.len(), 2);
    assert_eq!(
        doctor.delete_template("tpl_nope").await.unwrap_err().code(),
        "VALIDATION_FAILED"
    );
}

fn walkdir(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walkdir(&p));
        } else {
            out.push(p);
        }
    }
    out
}
