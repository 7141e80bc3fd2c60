//! The store's behaviour, written once and run against every backend.
//!
//! Each behaviour is one `async fn` taking a [`Harness`] (a fresh, empty
//! store); the `conformance!` list at the bottom instantiates every one of
//! them per backend, so no behaviour can be tested on one backend only.
//! SQLite runs on a temporary file; PostgreSQL on a fresh database per test
//! (so that nextest runs them in parallel) of the server that
//! `scripts/with-postgres.sh` starts and names in `DMP_TEST_POSTGRES_URL`.
//! Without that variable the PostgreSQL tests fail, they never skip.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::{DateTime, Duration, TimeZone, Utc};
use dmp_protocol::*;
use dmp_server::store::*;
use std::sync::Arc;

/// A fresh store of one backend, and how to reach under it for the tamper test.
struct Harness {
    store: Arc<dyn Store>,
    raw: Raw,
    _dir: tempfile::TempDir,
}

enum Raw {
    Sqlite(std::path::PathBuf),
    Postgres(String),
}

impl Harness {
    async fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dmp.sqlite3");
        let store =
            dmp_server::store::sqlite::SqliteStore::open(&path, Durability::Normal).unwrap();
        Self {
            store: Arc::new(store),
            raw: Raw::Sqlite(path),
            _dir: dir,
        }
    }

    async fn postgres() -> Self {
        let admin_url = std::env::var("DMP_TEST_POSTGRES_URL").unwrap_or_else(|_| {
            panic!(
                "DMP_TEST_POSTGRES_URL is not set: run the PostgreSQL tests through \
                 scripts/with-postgres.sh (e.g. `scripts/with-postgres.sh cargo nextest run ...`), \
                 which starts a PostgreSQL 15 and sets it"
            )
        });
        let url = dmp_server::store::postgres::testing::fresh_database(&admin_url)
            .await
            .unwrap();
        let store =
            dmp_server::store::postgres::PgStore::open(&url, 8, Durability::Normal).unwrap();
        Self {
            store: Arc::new(store),
            raw: Raw::Postgres(url),
            _dir: tempfile::tempdir().unwrap(),
        }
    }

    /// Rewrites the target of one audit row behind the store's back.
    async fn tamper_audit(&self, row_id: i64) {
        match &self.raw {
            Raw::Sqlite(path) => {
                let c = rusqlite::Connection::open(path).unwrap();
                c.execute_batch("DROP TRIGGER audit_no_update").unwrap();
                c.execute("UPDATE audit SET target = 'forged' WHERE id = ?1", [row_id])
                    .unwrap();
            }
            Raw::Postgres(url) => {
                dmp_server::store::postgres::testing::execute(
                    url,
                    &format!(
                        "ALTER TABLE audit DISABLE TRIGGER USER; \
                         UPDATE audit SET target = 'forged' WHERE id = {row_id}"
                    ),
                )
                .await
                .unwrap();
            }
        }
    }
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 5, 9, 0, 0).unwrap()
}

fn meta() -> RequestMeta {
    RequestMeta {
        ip: "127.0.0.1".into(),
        user_agent: "conformance".into(),
        request_id: "req".into(),
    }
}

fn admin_event(at: DateTime<Utc>, action: &str) -> AuditEvent {
    AuditEvent::new(at, "admin-cli", action, "target", "ok", &meta())
}

fn user(id: &str, kind: UserType, username: &str) -> UserRecord {
    UserRecord {
        id: UserId::new(id),
        kind,
        name: format!("Name of {id}"),
        username: username.into(),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        disabled: false,
    }
}

fn context(id: &str, patient: &str, doctor: &str) -> ContextRecord {
    ContextRecord {
        kind: ContextType::Ordonnance,
        id: ContextId::new(id),
        title: format!("Ordonnance {id}"),
        date: "2026-01-02".into(),
        patient_id: UserId::new(patient),
        doctor_id: UserId::new(doctor),
        summary: "summary".into(),
    }
}

/// A patient, a doctor and one record between them.
struct World {
    patient: UserRecord,
    doctor: UserRecord,
    ctx: ContextRecord,
}

impl World {
    fn session_id(&self) -> SessionId {
        Session::id_for(
            self.ctx.kind,
            &self.ctx.id,
            &self.ctx.patient_id,
            &self.ctx.doctor_id,
        )
    }

    /// A message from the patient (or the doctor) to the other.
    fn message(&self, from_patient: bool, client_id: &str, at: DateTime<Utc>) -> NewMessage {
        let (from, to) = if from_patient {
            (&self.patient, &self.doctor)
        } else {
            (&self.doctor, &self.patient)
        };
        let id = MessageId::new(format!("msg_{client_id}_{}", from.id));
        NewMessage {
            id,
            client_message_id: ClientMessageId::new(client_id),
            context: self.ctx.clone(),
            sender: from.participant(),
            recipient: to.participant(),
            kind: MessageType::Text,
            content: format!("content {client_id}"),
            metadata: MessageMetadata::default(),
            attachments: Vec::new(),
            now: at,
            meta: meta(),
        }
    }
}

async fn world(store: &dyn Store) -> World {
    let patient = user("patient_1", UserType::Patient, "alice");
    let doctor = user("medecin_1", UserType::Medecin, "dr.martin");
    let ctx = context("ord_1", "patient_1", "medecin_1");
    store
        .upsert_directory(
            vec![(patient.clone(), None), (doctor.clone(), None)],
            vec![ctx.clone()],
            true,
            admin_event(t0(), "import"),
        )
        .await
        .unwrap();
    World {
        patient,
        doctor,
        ctx,
    }
}

async fn send(store: &dyn Store, msg: NewMessage) -> Message {
    match store.append_message(msg).await.unwrap() {
        Appended::New { message, .. } => message,
        Appended::Existing(m) => panic!("message {} existed already", m.id),
    }
}

// ---------------------------------------------------------------------------
// Behaviours
// ---------------------------------------------------------------------------

async fn idempotent_send(h: Harness) {
    let s = &*h.store;
    let w = world(s).await;
    let first = send(s, w.message(true, "c1", t0())).await;
    assert_eq!(first.seq, 1);
    assert_eq!(first.status, MessageStatus::Sent);
    assert_eq!(first.session_id, w.session_id());
    // The same clientMessageId again (with another server id): the first message.
    let mut again = w.message(true, "c1", t0() + Duration::seconds(5));
    again.id = MessageId::new("msg_other");
    match s.append_message(again).await.unwrap() {
        Appended::Existing(m) => {
            assert_eq!(m.id, first.id);
            assert_eq!(m.seq, 1);
            assert_eq!(m.content, first.content);
            assert_eq!(m.timestamp, first.timestamp);
        }
        Appended::New { .. } => panic!("a repeated clientMessageId made a second message"),
    }
    // Another sender may use the same client id.
    let other = send(s, w.message(false, "c1", t0())).await;
    assert_eq!(other.seq, 2);
    let session = s.session(&w.session_id()).await.unwrap().unwrap();
    assert_eq!(session.message_count, 2);
    assert_eq!(session.last_seq, 2);
    assert_eq!(s.message(&first.id).await.unwrap().unwrap(), first);
    assert!(s
        .message(&MessageId::new("msg_other"))
        .await
        .unwrap()
        .is_none());
}

async fn seq_without_gaps_under_concurrency(h: Harness) {
    const N: usize = 60;
    let w = Arc::new(world(&*h.store).await);
    let mut tasks = Vec::new();
    for i in 0..N {
        let store = h.store.clone();
        let w = w.clone();
        tasks.push(tokio::spawn(async move {
            let msg = w.message(
                i % 2 == 0,
                &format!("c{i}"),
                t0() + Duration::milliseconds(i as i64),
            );
            match store.append_message(msg).await.unwrap() {
                Appended::New { message, .. } => message.seq,
                Appended::Existing(_) => panic!("existing"),
            }
        }));
    }
    let mut seqs = Vec::new();
    for t in tasks {
        seqs.push(t.await.unwrap());
    }
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=N as u64).collect::<Vec<_>>());
    let session = h.store.session(&w.session_id()).await.unwrap().unwrap();
    assert_eq!(session.last_seq, N as u64);
    assert_eq!(session.message_count, N as u64);
    assert_eq!(
        session.unread_count.patient + session.unread_count.doctor,
        N as u64
    );
    let all = h
        .store
        .messages_after(&w.session_id(), 0, 1000)
        .await
        .unwrap();
    assert_eq!(
        all.iter().map(|m| m.seq).collect::<Vec<_>>(),
        (1..=N as u64).collect::<Vec<_>>()
    );
}

/// The first sends of new conversations, from both sides at once: each
/// creates its session row or finds the one a concurrent send created (on
/// PostgreSQL the row has two unique keys: the id and the context tuple).
async fn first_sends_race_to_create_the_session(h: Harness) {
    const SESSIONS: usize = 20;
    const PER_SESSION: usize = 6;
    let w = world(&*h.store).await;
    let contexts: Vec<ContextRecord> = (0..SESSIONS)
        .map(|i| context(&format!("ord_r{i}"), "patient_1", "medecin_1"))
        .collect();
    h.store
        .upsert_directory(
            Vec::new(),
            contexts.clone(),
            true,
            admin_event(t0(), "import"),
        )
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for ctx in contexts {
        let w = Arc::new(World {
            patient: w.patient.clone(),
            doctor: w.doctor.clone(),
            ctx,
        });
        for k in 0..PER_SESSION {
            let (store, w) = (h.store.clone(), w.clone());
            tasks.push(tokio::spawn(async move {
                let msg = w.message(k % 2 == 0, &format!("{}-{k}", w.ctx.id), t0());
                match store.append_message(msg).await {
                    Ok(Appended::New { message, .. }) => (w.session_id(), message.seq),
                    Ok(Appended::Existing(m)) => panic!("message {} existed already", m.id),
                    Err(e) => panic!("a first send of {} failed: {e}", w.ctx.id),
                }
            }));
        }
    }
    let mut seqs: std::collections::BTreeMap<SessionId, Vec<u64>> = Default::default();
    for t in tasks {
        let (session, seq) = t.await.unwrap();
        seqs.entry(session).or_default().push(seq);
    }
    assert_eq!(seqs.len(), SESSIONS);
    for (session, mut s) in seqs {
        s.sort_unstable();
        assert_eq!(
            s,
            (1..=PER_SESSION as u64).collect::<Vec<_>>(),
            "{session:?}"
        );
    }
}

async fn status_moves_forward_only(h: Harness) {
    let s = &*h.store;
    let w = world(s).await;
    let m = send(s, w.message(true, "c1", t0())).await;
    let session = s.session(&w.session_id()).await.unwrap().unwrap();
    assert_eq!(session.unread_count.doctor, 1);
    // Only the recipient moves it.
    assert!(matches!(
        s.mark_status(&m.id, &w.patient.id, MessageStatus::Read, t0(), None)
            .await,
        Err(StoreError::NotFound)
    ));
    let at = t0() + Duration::seconds(1);
    let change = s
        .mark_status(&m.id, &w.doctor.id, MessageStatus::Delivered, at, None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(change.status, MessageStatus::Delivered);
    assert_eq!(change.sender_id, w.patient.id);
    assert_eq!(change.session_id, w.session_id());
    assert_eq!(change.at, at);
    // Backwards or the same: nothing.
    for back in [MessageStatus::Sent, MessageStatus::Delivered] {
        assert!(s
            .mark_status(&m.id, &w.doctor.id, back, at, None)
            .await
            .unwrap()
            .is_none());
    }
    let read_at = t0() + Duration::seconds(2);
    let audit = admin_event(read_at, "read");
    s.mark_status(
        &m.id,
        &w.doctor.id,
        MessageStatus::Read,
        read_at,
        Some(audit),
    )
    .await
    .unwrap()
    .unwrap();
    assert!(s
        .mark_status(&m.id, &w.doctor.id, MessageStatus::Delivered, read_at, None)
        .await
        .unwrap()
        .is_none());
    let stored = s.message(&m.id).await.unwrap().unwrap();
    assert_eq!(stored.status, MessageStatus::Read);
    assert_eq!(stored.delivered_at, Some(at));
    assert_eq!(stored.read_at, Some(read_at));
    let session = s.session(&w.session_id()).await.unwrap().unwrap();
    assert_eq!(session.unread_count.doctor, 0);
    // Reading marks the notification seen.
    assert!(s.notifications(&w.doctor.id, 10).await.unwrap().is_empty());
    // Read straight from sent also sets the delivery time.
    let m2 = send(s, w.message(false, "c2", t0())).await;
    s.mark_status(&m2.id, &w.patient.id, MessageStatus::Read, read_at, None)
        .await
        .unwrap()
        .unwrap();
    let stored = s.message(&m2.id).await.unwrap().unwrap();
    assert_eq!(stored.delivered_at, Some(read_at));
    let parties = s.message_parties(&m2.id).await.unwrap().unwrap();
    assert_eq!(parties.status, MessageStatus::Read);
    assert_eq!(parties.sender_id, w.doctor.id);
    assert_eq!(parties.recipient_id, w.patient.id);
    assert_eq!(parties.context_id, w.ctx.id);
    assert!(!parties.deleted);
}

async fn soft_delete(h: Harness) {
    let s = &*h.store;
    let w = world(s).await;
    let a = upload(s, &w.patient, "att_del", 100, t0()).await;
    let mut msg = w.message(true, "c1", t0());
    msg.attachments = vec![a.clone()];
    let m = send(s, msg).await;
    assert_eq!(m.attachments.len(), 1);
    // Only the sender deletes.
    assert!(matches!(
        s.delete_message(&m.id, &w.doctor.id, t0(), admin_event(t0(), "delete"))
            .await,
        Err(StoreError::NotFound)
    ));
    let at = t0() + Duration::minutes(1);
    let deleted = s
        .delete_message(&m.id, &w.patient.id, at, admin_event(at, "delete"))
        .await
        .unwrap();
    assert_eq!(deleted.attachment_ids, vec![a.clone()]);
    assert_eq!(deleted.message.content, "");
    assert!(deleted.message.attachments.is_empty());
    assert_eq!(deleted.message.deleted_at, Some(at));
    assert_eq!(deleted.message.seq, 1);
    assert!(s.attachment(&a).await.unwrap().is_none());
    // The tombstone stays in the history; the unread count and notification go.
    let (page, _) = s.history(&w.session_id(), None, 10).await.unwrap();
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].deleted_at, Some(at));
    let session = s.session(&w.session_id()).await.unwrap().unwrap();
    assert_eq!(session.unread_count.doctor, 0);
    assert_eq!(session.message_count, 1);
    assert!(s.notifications(&w.doctor.id, 10).await.unwrap().is_empty());
    assert!(s.message_parties(&m.id).await.unwrap().unwrap().deleted);
    // Deleting again changes nothing and writes no second audit row.
    let rows = s.audit_rows(None, None, None, 1000).await.unwrap().len();
    let again = s
        .delete_message(
            &m.id,
            &w.patient.id,
            at + Duration::minutes(1),
            admin_event(at, "delete"),
        )
        .await
        .unwrap();
    assert_eq!(again.message.deleted_at, Some(at));
    assert_eq!(
        s.audit_rows(None, None, None, 1000).await.unwrap().len(),
        rows
    );
    let stats = s.stats(&w.patient.id).await.unwrap();
    assert_eq!(stats.sent, 0);
}

async fn archive_and_reactivation(h: Harness) {
    let s = &*h.store;
    let w = world(s).await;
    assert!(s.session_for_context(&w.ctx).await.unwrap().is_none());
    let opened = s
        .ensure_session(w.ctx.clone(), t0(), Some(admin_event(t0(), "session_open")))
        .await
        .unwrap();
    assert_eq!(opened.status, SessionStatus::Active);
    assert_eq!(opened.id, w.session_id());
    assert_eq!(opened.participants.patient.id, w.patient.id);
    assert_eq!(opened.participants.doctor.name, w.doctor.name);
    assert_eq!(opened.created_at, t0());
    // Opening again returns the same session.
    let again = s
        .ensure_session(w.ctx.clone(), t0() + Duration::hours(1), None)
        .await
        .unwrap();
    assert_eq!(again, opened);
    assert_eq!(
        s.session_for_context(&w.ctx).await.unwrap(),
        Some(opened.clone())
    );
    let at = t0() + Duration::days(1);
    let archived = s
        .archive_session(&w.session_id(), at, admin_event(at, "archive"))
        .await
        .unwrap();
    assert_eq!(archived.status, SessionStatus::Archived);
    assert!(matches!(
        s.archive_session(
            &SessionId::new("session_none"),
            at,
            admin_event(at, "archive")
        )
        .await,
        Err(StoreError::NotFound)
    ));
    // A new message re-activates it.
    let m = send(s, w.message(true, "c1", at + Duration::hours(1))).await;
    let session = s.session(&w.session_id()).await.unwrap().unwrap();
    assert_eq!(session.status, SessionStatus::Active);
    assert_eq!(session.last_activity, m.timestamp);
    // Idle archiving: only sessions idle since before the cutoff.
    let none = s
        .archive_idle(m.timestamp, at + Duration::days(2))
        .await
        .unwrap();
    assert!(none.is_empty());
    let ids = s
        .archive_idle(m.timestamp + Duration::seconds(1), at + Duration::days(2))
        .await
        .unwrap();
    assert_eq!(ids, vec![(w.session_id(), session.message_count)]);
    let sessions = s.sessions_of(&w.doctor.id).await.unwrap();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].status, SessionStatus::Archived);
    assert!(s
        .sessions_of(&UserId::new("nobody"))
        .await
        .unwrap()
        .is_empty());
    let stats = s.stats(&w.patient.id).await.unwrap();
    assert_eq!((stats.active_sessions, stats.archived_sessions), (0, 1));
}

async fn retention_purge(h: Harness) {
    let s = &*h.store;
    let w = world(s).await;
    let old_file = upload(s, &w.patient, "att_old", 10, t0()).await;
    let mut old = w.message(true, "old", t0());
    old.attachments = vec![old_file.clone()];
    let old = send(s, old).await;
    let new = send(s, w.message(false, "new", t0() + Duration::days(10))).await;
    let cutoff = t0() + Duration::days(5);
    let (n, files) = s.purge_before(cutoff, cutoff).await.unwrap();
    assert_eq!(n, 1);
    assert_eq!(files, vec![old_file.clone()]);
    assert!(s.message(&old.id).await.unwrap().is_none());
    assert!(s.attachment(&old_file).await.unwrap().is_none());
    assert!(s.message(&new.id).await.unwrap().is_some());
    // The purged message's notification went with it.
    assert!(s.notifications(&w.doctor.id, 10).await.unwrap().is_empty());
    assert_eq!(s.notifications(&w.patient.id, 10).await.unwrap().len(), 1);
    let rows = s
        .audit_rows(None, Some("system".into()), None, 100)
        .await
        .unwrap();
    assert!(rows
        .iter()
        .any(|r| r.action == "retention_purge" && r.target == "1 messages"));
    // Nothing left to purge: no audit row either.
    let (n, files) = s.purge_before(cutoff, cutoff).await.unwrap();
    assert_eq!((n, files.len()), (0, 0));
    let after = s
        .audit_rows(None, Some("system".into()), None, 100)
        .await
        .unwrap();
    assert_eq!(after.len(), rows.len());
}

async fn audit_chain_verifies_and_detects_tampering(h: Harness) {
    let s = &*h.store;
    assert!(matches!(
        s.verify_audit().await.unwrap(),
        AuditVerdict::Intact {
            rows: 0,
            last_row: 0,
            ..
        }
    ));
    let w = world(s).await;
    send(s, w.message(true, "c1", t0())).await;
    // Fields are stored escaped: no raw control character.
    let mut ev = admin_event(t0(), "login");
    ev.meta.user_agent = "evil\u{1b}[2J\nagent\u{202e}".into();
    s.audit(ev).await.unwrap();
    for i in 0..5 {
        s.audit(admin_event(t0() + Duration::seconds(i), "ping"))
            .await
            .unwrap();
    }
    let rows = s.audit_rows(None, None, None, 1000).await.unwrap();
    assert_eq!(rows.len(), 8);
    assert!(rows
        .windows(2)
        .all(|p| p[1].prev_hash == p[0].hash && p[1].id > p[0].id));
    let ua = &rows
        .iter()
        .find(|r| r.action == "login")
        .unwrap()
        .user_agent;
    assert_eq!(ua, "evil\\u{1b}[2J\\u{a}agent\\u{202e}");
    // Filters.
    let by_session = s
        .audit_rows(None, None, Some(w.session_id()), 100)
        .await
        .unwrap();
    assert_eq!(by_session.len(), 1);
    assert_eq!(by_session[0].action, "send");
    assert_eq!(by_session[0].actor, "patient_1");
    let since = s
        .audit_rows(
            Some(t0() + Duration::seconds(3)),
            Some("admin-cli".into()),
            None,
            100,
        )
        .await
        .unwrap();
    assert_eq!(since.len(), 2);
    assert_eq!(s.audit_rows(None, None, None, 3).await.unwrap().len(), 3);
    let last = rows.last().unwrap();
    assert_eq!(
        s.verify_audit().await.unwrap(),
        AuditVerdict::Intact {
            rows: 8,
            last_row: last.id,
            anchored_through: None,
            head: last.hash.clone(),
        }
    );
    let victim = rows[3].id;
    h.tamper_audit(victim).await;
    match s.verify_audit().await.unwrap() {
        AuditVerdict::Broken { row_id, .. } => assert_eq!(row_id, victim),
        other => panic!("tampering not detected: {other:?}"),
    }
}

/// Concurrent writers still make one unbroken chain.
async fn audit_chain_holds_under_concurrency(h: Harness) {
    let mut tasks = Vec::new();
    for i in 0..40 {
        let store = h.store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .audit(admin_event(t0() + Duration::milliseconds(i), "ping"))
                .await
                .unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert!(matches!(
        h.store.verify_audit().await.unwrap(),
        AuditVerdict::Intact { rows: 40, .. }
    ));
}

async fn refresh_family_rotation_and_revocation(h: Harness) {
    let s = &*h.store;
    let w = world(s).await;
    let expires = t0() + Duration::days(30);
    let family = |id: &str| FamilyRecord {
        id: id.into(),
        user_id: w.patient.id.clone(),
        expires_at: expires,
    };
    s.create_login(family("fam_a"), "tok_a1".into(), admin_event(t0(), "login"))
        .await
        .unwrap();
    let logins = s.logins_of(&w.patient.id, t0()).await.unwrap();
    assert_eq!(logins.len(), 1);
    assert_eq!(logins[0].expires_at, expires);
    assert!(s.login("fam_a", t0()).await.unwrap().is_some());
    let now = t0() + Duration::minutes(1);
    assert_eq!(
        s.rotate_refresh("tok_a1".into(), "tok_a2".into(), now, meta())
            .await
            .unwrap(),
        Rotation::Rotated {
            user_id: w.patient.id.clone(),
            family_id: "fam_a".into()
        }
    );
    assert_eq!(
        s.rotate_refresh("tok_a2".into(), "tok_a3".into(), now, meta())
            .await
            .unwrap(),
        Rotation::Rotated {
            user_id: w.patient.id.clone(),
            family_id: "fam_a".into()
        }
    );
    assert_eq!(
        s.rotate_refresh("nope".into(), "x".into(), now, meta())
            .await
            .unwrap(),
        Rotation::Unknown
    );
    // Re-use of a spent token revokes the whole family.
    let rev = s.directory_head().await.unwrap();
    assert_eq!(
        s.rotate_refresh("tok_a1".into(), "tok_evil".into(), now, meta())
            .await
            .unwrap(),
        Rotation::Reused {
            user_id: w.patient.id.clone(),
            family_id: "fam_a".into()
        }
    );
    assert!(s.directory_head().await.unwrap() > rev);
    assert_eq!(
        s.rotate_refresh("tok_a3".into(), "tok_a4".into(), now, meta())
            .await
            .unwrap(),
        Rotation::Invalid
    );
    let changes = s.directory_changes_since(rev, 100).await.unwrap();
    assert!(changes.iter().any(|c| matches!(&c.change,
        DirectoryChange::Login { id, user_id } if id == "fam_a" && *user_id == w.patient.id)
        || matches!(&c.change, DirectoryChange::LoginsOf(u) if *u == w.patient.id)));
    assert!(s.login("fam_a", now).await.unwrap().is_none());
    assert!(s.logins_of(&w.patient.id, now).await.unwrap().is_empty());
    let actions: Vec<(String, String)> = s
        .audit_rows(None, Some("patient_1".into()), None, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.action, r.outcome))
        .collect();
    assert!(actions.contains(&("refresh_reuse".into(), "denied".into())));
    assert!(actions.contains(&("refresh".into(), "failed".into())));
    // Expiry.
    s.create_login(family("fam_b"), "tok_b1".into(), admin_event(t0(), "login"))
        .await
        .unwrap();
    assert_eq!(
        s.rotate_refresh("tok_b1".into(), "tok_b2".into(), expires, meta())
            .await
            .unwrap(),
        Rotation::Invalid
    );
    // Explicit revocation.
    s.create_login(family("fam_c"), "tok_c1".into(), admin_event(t0(), "login"))
        .await
        .unwrap();
    s.revoke_login("fam_c", admin_event(now, "logout"))
        .await
        .unwrap();
    assert_eq!(
        s.rotate_refresh("tok_c1".into(), "tok_c2".into(), now, meta())
            .await
            .unwrap(),
        Rotation::Invalid
    );
    // A disabled account: its current token learns why; its logins are revoked.
    s.create_login(family("fam_d"), "tok_d1".into(), admin_event(t0(), "login"))
        .await
        .unwrap();
    s.set_user_disabled(&w.patient.id, true, admin_event(now, "user_disable"))
        .await
        .unwrap();
    assert_eq!(
        s.rotate_refresh("tok_d1".into(), "tok_d2".into(), now, meta())
            .await
            .unwrap(),
        Rotation::Disabled
    );
    assert!(s.logins_of(&w.patient.id, now).await.unwrap().is_empty());
    assert!(s.user(&w.patient.id).await.unwrap().unwrap().disabled);
    assert!(matches!(
        s.set_user_disabled(&UserId::new("nobody"), true, admin_event(now, "x"))
            .await,
        Err(StoreError::NotFound)
    ));
    s.set_user_disabled(&w.patient.id, false, admin_event(now, "user_enable"))
        .await
        .unwrap();
    assert!(!s.user_by_username("alice").await.unwrap().unwrap().disabled);
}

async fn directory_upsert_and_checks(h: Harness) {
    let s = &*h.store;
    let rev0 = s.directory_head().await.unwrap();
    let w = world(s).await;
    assert!(s.directory_head().await.unwrap() > rev0);
    let ids = [
        w.patient.id.clone(),
        w.doctor.id.clone(),
        UserId::new("nobody"),
    ];
    assert_eq!(s.users(&ids).await.unwrap().len(), 2);
    assert_eq!(
        s.context(w.ctx.kind, &w.ctx.id).await.unwrap(),
        Some(w.ctx.clone())
    );
    assert_eq!(
        s.contexts_of(&w.patient.id, 10).await.unwrap(),
        vec![w.ctx.clone()]
    );
    let found = s.user_by_username("alice").await.unwrap().unwrap();
    assert_eq!(
        (found.id, found.kind),
        (w.patient.id.clone(), UserType::Patient)
    );
    assert_eq!(found.password_hash, w.patient.password_hash);
    assert_eq!(
        s.user_by_username("ALICE")
            .await
            .unwrap()
            .map(|u| u.username),
        Some("alice".to_owned())
    );
    assert!(s.user_by_username("bob").await.unwrap().is_none());
    // Without overwrite, an existing user is left as it is.
    let mut renamed = w.patient.clone();
    renamed.name = "Changed".into();
    s.upsert_directory(
        vec![(renamed.clone(), None)],
        vec![],
        false,
        admin_event(t0(), "import"),
    )
    .await
    .unwrap();
    assert_eq!(
        s.user_by_username("alice").await.unwrap().unwrap().name,
        w.patient.name
    );
    s.upsert_directory(
        vec![(renamed, None)],
        vec![],
        true,
        admin_event(t0(), "import"),
    )
    .await
    .unwrap();
    assert_eq!(
        s.user_by_username("alice").await.unwrap().unwrap().name,
        "Changed"
    );
    // Refused, and nothing of the batch is written.
    let taken = user("patient_2", UserType::Patient, "alice");
    let fresh = user("patient_3", UserType::Patient, "carol");
    assert!(matches!(
        s.upsert_directory(
            vec![(fresh, None), (taken, None)],
            vec![],
            true,
            admin_event(t0(), "import")
        )
        .await,
        Err(StoreError::Invalid(_))
    ));
    assert!(s.user_by_username("carol").await.unwrap().is_none());
    let kind_change = user("patient_1", UserType::Medecin, "alice");
    assert!(matches!(
        s.upsert_directory(
            vec![(kind_change, None)],
            vec![],
            true,
            admin_event(t0(), "import")
        )
        .await,
        Err(StoreError::Invalid(_))
    ));
    for bad in [
        context("ord_2", "patient_9", "medecin_1"),
        context("ord_2", "medecin_1", "medecin_1"),
        context("ord_1", "patient_1", "medecin_2"),
    ] {
        if bad.doctor_id.as_str() == "medecin_2" {
            s.upsert_directory(
                vec![(user("medecin_2", UserType::Medecin, "dr.b"), None)],
                vec![],
                true,
                admin_event(t0(), "import"),
            )
            .await
            .unwrap();
        }
        assert!(matches!(
            s.upsert_directory(vec![], vec![bad], true, admin_event(t0(), "import"))
                .await,
            Err(StoreError::Invalid(_))
        ));
    }
    // A context's text may change.
    let mut retitled = w.ctx.clone();
    retitled.title = "New title".into();
    s.upsert_directory(
        vec![],
        vec![retitled.clone()],
        true,
        admin_event(t0(), "import"),
    )
    .await
    .unwrap();
    assert_eq!(
        s.context(retitled.kind, &retitled.id).await.unwrap(),
        Some(retitled)
    );
    s.ping().await.unwrap();
}

async fn keys_and_credentials(h: Harness) {
    let s = &*h.store;
    let w = world(s).await;
    let empty = s.user_keys(&w.patient.id).await.unwrap();
    assert!(empty.public_keys.is_none() && empty.kdf_salt.is_none());
    let login = |id: &str| FamilyRecord {
        id: id.into(),
        user_id: w.patient.id.clone(),
        expires_at: t0() + Duration::days(30),
    };
    for f in ["fam_1", "fam_2"] {
        s.create_login(login(f), format!("tok_{f}"), admin_event(t0(), "login"))
            .await
            .unwrap();
    }
    let zk = ZkLogin {
        password_hash: "$argon2id$zk1".into(),
        salt: "salt1".into(),
        params: "{\"m\":19456}".into(),
    };
    let at = t0() + Duration::minutes(1);
    s.put_keys(
        &w.patient.id,
        "{\"pk\":1}".into(),
        "{\"backup\":1}".into(),
        Some(zk),
        Some("fam_1"),
        admin_event(at, "keys"),
    )
    .await
    .unwrap();
    let keys = s.user_keys(&w.patient.id).await.unwrap();
    assert_eq!(keys.public_keys.as_deref(), Some("{\"pk\":1}"));
    assert_eq!(keys.key_backup.as_deref(), Some("{\"backup\":1}"));
    assert_eq!(keys.kdf_salt.as_deref(), Some("salt1"));
    assert_eq!(keys.kdf_params.as_deref(), Some("{\"m\":19456}"));
    assert_eq!(keys.updated_at, Some(at));
    assert_eq!(
        s.user_by_username("alice")
            .await
            .unwrap()
            .unwrap()
            .password_hash,
        "$argon2id$zk1"
    );
    let active: Vec<String> = s
        .logins_of(&w.patient.id, at)
        .await
        .unwrap()
        .into_iter()
        .map(|f| f.id)
        .collect();
    assert_eq!(active, vec!["fam_1".to_owned()]);
    assert!(matches!(
        s.put_keys(
            &UserId::new("nobody"),
            "k".into(),
            "b".into(),
            None,
            None,
            admin_event(at, "keys")
        )
        .await,
        Err(StoreError::NotFound)
    ));
    // A client-side password change keeps the caller's login only.
    s.create_login(
        login("fam_3"),
        "tok_fam_3".into(),
        admin_event(t0(), "login"),
    )
    .await
    .unwrap();
    let zk2 = ZkLogin {
        password_hash: "$argon2id$zk2".into(),
        salt: "salt2".into(),
        params: "{\"m\":65536}".into(),
    };
    s.change_zk_password(
        &w.patient.id,
        zk2,
        "{\"backup\":2}".into(),
        "fam_3",
        admin_event(at, "passwd"),
    )
    .await
    .unwrap();
    let keys = s.user_keys(&w.patient.id).await.unwrap();
    assert_eq!(keys.key_backup.as_deref(), Some("{\"backup\":2}"));
    assert_eq!(keys.kdf_salt.as_deref(), Some("salt2"));
    let active: Vec<String> = s
        .logins_of(&w.patient.id, at)
        .await
        .unwrap()
        .into_iter()
        .map(|f| f.id)
        .collect();
    assert_eq!(active, vec!["fam_3".to_owned()]);
    // An administrator's reset: new verifier, backup dropped, every login revoked.
    let zk3 = ZkLogin {
        password_hash: "$argon2id$zk3".into(),
        salt: "salt3".into(),
        params: "{}".into(),
    };
    s.set_password(&w.patient.id, zk3, admin_event(at, "user_passwd"))
        .await
        .unwrap();
    let keys = s.user_keys(&w.patient.id).await.unwrap();
    assert!(keys.key_backup.is_none());
    assert_eq!(keys.public_keys.as_deref(), Some("{\"pk\":1}"));
    assert_eq!(keys.kdf_salt.as_deref(), Some("salt3"));
    assert!(s.logins_of(&w.patient.id, at).await.unwrap().is_empty());
    // Importing with a zero-knowledge login stores its salt; overwriting drops the backup.
    let zk4 = ZkLogin {
        password_hash: "$argon2id$zk4".into(),
        salt: "salt4".into(),
        params: "{}".into(),
    };
    s.upsert_directory(
        vec![(w.doctor.clone(), Some(zk4))],
        vec![],
        true,
        admin_event(at, "import"),
    )
    .await
    .unwrap();
    let keys = s.user_keys(&w.doctor.id).await.unwrap();
    assert_eq!(keys.kdf_salt.as_deref(), Some("salt4"));
    assert_eq!(
        s.user_by_username("dr.martin")
            .await
            .unwrap()
            .unwrap()
            .password_hash,
        "$argon2id$zk4"
    );
    assert!(matches!(
        s.set_password(
            &UserId::new("nobody"),
            ZkLogin {
                password_hash: "x".into(),
                salt: "x".into(),
                params: "{}".into()
            },
            admin_event(at, "x")
        )
        .await,
        Err(StoreError::NotFound)
    ));
}

async fn upload(
    store: &dyn Store,
    owner: &UserRecord,
    id: &str,
    size: u64,
    at: DateTime<Utc>,
) -> AttachmentId {
    let id = AttachmentId::new(id);
    store
        .insert_attachment(
            AttachmentRecord {
                attachment: Attachment::stored(
                    id.clone(),
                    format!("{id}.pdf"),
                    "application/pdf".into(),
                    size,
                    "ab".repeat(32),
                ),
                owner_id: owner.id.clone(),
                message_id: None,
            },
            AuditEvent::new(at, owner.id.as_str(), "upload", id.as_str(), "ok", &meta()),
        )
        .await
        .unwrap();
    id
}

async fn attachments_metadata(h: Harness) {
    let s = &*h.store;
    let w = world(s).await;
    let a = upload(s, &w.patient, "att_1", 1000, t0()).await;
    let b = upload(s, &w.patient, "att_2", 24, t0()).await;
    let (rec, session) = s.attachment(&a).await.unwrap().unwrap();
    assert_eq!(rec.attachment.size, 1000);
    assert_eq!(rec.attachment.name, "att_1.pdf");
    assert_eq!(rec.attachment.mime_type, "application/pdf");
    assert_eq!(rec.owner_id, w.patient.id);
    assert!(rec.message_id.is_none() && session.is_none());
    assert_eq!(s.attachment_bytes(&w.patient.id).await.unwrap(), 1024);
    assert_eq!(s.attachment_bytes(&w.doctor.id).await.unwrap(), 0);
    // Someone else's upload cannot be attached.
    let mut theft = w.message(false, "c0", t0());
    theft.attachments = vec![a.clone()];
    assert!(matches!(
        s.append_message(theft).await,
        Err(StoreError::Invalid(_))
    ));
    assert!(s
        .session(&w.session_id())
        .await
        .unwrap()
        .is_none_or(|s| s.last_seq == 0));
    let mut msg = w.message(true, "c1", t0());
    msg.attachments = vec![a.clone()];
    let m = send(s, msg).await;
    assert_eq!(m.attachments[0].id, a);
    assert_eq!(m.attachments[0].sha256, "ab".repeat(32));
    let (rec, session) = s.attachment(&a).await.unwrap().unwrap();
    assert_eq!(rec.message_id, Some(m.id.clone()));
    assert_eq!(session, Some(w.session_id()));
    assert_eq!(
        s.message(&m.id).await.unwrap().unwrap().attachments,
        m.attachments
    );
    // Already sent: not again.
    let mut twice = w.message(true, "c2", t0());
    twice.attachments = vec![a.clone()];
    assert!(matches!(
        s.append_message(twice).await,
        Err(StoreError::Invalid(_))
    ));
    assert!(s
        .attachment(&AttachmentId::new("att_none"))
        .await
        .unwrap()
        .is_none());
    // Unattached uploads older than the cutoff are forgotten.
    let late = upload(s, &w.patient, "att_3", 1, t0() + Duration::hours(2)).await;
    let purged = s
        .purge_unattached(t0() + Duration::hours(1), t0() + Duration::hours(3))
        .await
        .unwrap();
    assert_eq!(purged, vec![b]);
    assert!(s.attachment(&a).await.unwrap().is_some());
    assert!(s.attachment(&late).await.unwrap().is_some());
    assert_eq!(s.attachment_bytes(&w.patient.id).await.unwrap(), 1001);
}

async fn notifications_and_inbox(h: Harness) {
    let s = &*h.store;
    let w = world(s).await;
    let m1 = send(s, w.message(true, "c1", t0())).await;
    // Only an envelope flagged urgent makes an urgent notification (clear
    // text is the operator's migration mode: anyone could set the flag).
    let mut clear_urgent = w.message(true, "c0", t0() - Duration::seconds(10));
    clear_urgent.metadata.is_urgent = true;
    let m0 = send(s, clear_urgent).await;
    let mut urgent = w.message(true, "c2", t0() + Duration::seconds(10));
    urgent.metadata.is_urgent = true;
    urgent.content = "dmp-e2e:v1.opaque".into();
    let m2 = send(s, urgent).await;
    let list = s.notifications(&w.doctor.id, 10).await.unwrap();
    // What the store lists is what the server sent live for each message.
    for (n, m) in list.iter().zip([&m2, &m1, &m0]) {
        assert_eq!(n, &notification_for(m, &w.ctx.title));
    }
    s.delete_message(&m0.id, &w.patient.id, t0(), admin_event(t0(), "delete"))
        .await
        .unwrap();
    let list = s.notifications(&w.doctor.id, 10).await.unwrap();
    assert_eq!(
        list.iter()
            .map(|n| n.message_id.clone())
            .collect::<Vec<_>>(),
        vec![m2.id.clone(), m1.id.clone()]
    );
    assert!(list[0].is_urgent && !list[1].is_urgent);
    assert_eq!(list[0].body, "Nouveau message urgent");
    assert_eq!(list[1].body, "Nouveau message");
    assert_eq!(list[0].sender.id, w.patient.id);
    assert_eq!(list[0].sender.name, w.patient.name);
    assert_eq!(list[0].session_id, w.session_id());
    assert_eq!(list[0].context.id, w.ctx.id);
    assert_eq!(list[0].title, "Name of patient_1 — Ordonnance ord_1");
    assert_eq!(
        list[0].id.as_str(),
        format!("notif_{}", m2.id.as_str().trim_start_matches("msg_"))
    );
    assert_eq!(list[0].created_at, m2.timestamp);
    assert_eq!(s.notifications(&w.doctor.id, 1).await.unwrap().len(), 1);
    assert!(s.notifications(&w.patient.id, 10).await.unwrap().is_empty());
    let marks = s.inbox_marks(&w.doctor.id).await.unwrap();
    assert_eq!(
        marks.get(&w.session_id()),
        Some(&InboxMarks {
            last_message_at: Some(m2.timestamp),
            has_urgent_unread: true,
            awaiting: None,
        })
    );
    // The urgent message is the patient's own: not an urgent unread for them.
    let marks = s.inbox_marks(&w.patient.id).await.unwrap();
    assert!(!marks[&w.session_id()].has_urgent_unread);
    s.mark_status(&m2.id, &w.doctor.id, MessageStatus::Read, t0(), None)
        .await
        .unwrap();
    assert!(!s.inbox_marks(&w.doctor.id).await.unwrap()[&w.session_id()].has_urgent_unread);
    assert_eq!(s.notifications(&w.doctor.id, 10).await.unwrap().len(), 1);
    assert!(s
        .inbox_marks(&UserId::new("nobody"))
        .await
        .unwrap()
        .is_empty());
}

/// The questions that wait for the doctor's answer, and their categories.
async fn awaiting_answers(h: Harness) {
    let s = &*h.store;
    let w = world(s).await;
    let awaiting = |marks: &std::collections::HashMap<SessionId, InboxMarks>| {
        marks.get(&w.session_id()).and_then(|m| m.awaiting)
    };
    send(s, w.message(true, "plain", t0())).await;
    assert_eq!(awaiting(&s.inbox_marks(&w.doctor.id).await.unwrap()), None);
    let mut q1 = w.message(true, "q1", t0() + Duration::seconds(1));
    q1.metadata.requires_response = true;
    q1.metadata.category = Some(QuestionCategory::Clarification);
    let q1 = send(s, q1).await;
    assert_eq!(q1.metadata.category, Some(QuestionCategory::Clarification));
    let mut q2 = w.message(true, "q2", t0() + Duration::seconds(2));
    q2.metadata.requires_response = true;
    q2.metadata.is_urgent = true;
    q2.metadata.category = Some(QuestionCategory::SideEffects);
    let q2 = send(s, q2).await;
    let expected = Some(Awaiting {
        since: q1.timestamp,
        urgent: true,
        category: Some(QuestionCategory::Clarification),
    });
    // Both sides see the same wait.
    assert_eq!(
        awaiting(&s.inbox_marks(&w.doctor.id).await.unwrap()),
        expected
    );
    assert_eq!(
        awaiting(&s.inbox_marks(&w.patient.id).await.unwrap()),
        expected
    );
    // Read back with its category.
    let read = s.message(&q2.id).await.unwrap().unwrap();
    assert_eq!(read.metadata.category, Some(QuestionCategory::SideEffects));
    // A deleted question no longer waits: the next one is the oldest.
    s.delete_message(&q1.id, &w.patient.id, t0(), admin_event(t0(), "delete"))
        .await
        .unwrap();
    assert_eq!(
        awaiting(&s.inbox_marks(&w.doctor.id).await.unwrap()),
        Some(Awaiting {
            since: q2.timestamp,
            urgent: true,
            category: Some(QuestionCategory::SideEffects),
        })
    );
    // The doctor's answer ends the wait; a later question starts a new one.
    send(s, w.message(false, "answer", t0() + Duration::seconds(3))).await;
    assert_eq!(awaiting(&s.inbox_marks(&w.doctor.id).await.unwrap()), None);
    let mut q3 = w.message(true, "q3", t0() + Duration::seconds(4));
    q3.metadata.requires_response = true;
    let q3 = send(s, q3).await;
    assert_eq!(
        awaiting(&s.inbox_marks(&w.doctor.id).await.unwrap()),
        Some(Awaiting {
            since: q3.timestamp,
            urgent: false,
            category: None,
        })
    );
}

/// What `responseTime` measures: the doctor's message reads back since when
/// the patient's messages it answers waited.
async fn answered_wait(h: Harness) {
    let s = &*h.store;
    let w = world(s).await;
    let append = |m: NewMessage| async move {
        match s.append_message(m).await.unwrap() {
            Appended::New { answered_wait, .. } => answered_wait,
            Appended::Existing(m) => panic!("message {} existed already", m.id),
        }
    };
    // Nothing waits for the patient: the patient's messages read back nothing.
    assert_eq!(append(w.message(true, "p1", t0())).await, None);
    assert_eq!(
        append(w.message(true, "p2", t0() + Duration::seconds(5))).await,
        None
    );
    // The doctor answers the first of them.
    assert_eq!(
        append(w.message(false, "a1", t0() + Duration::seconds(9))).await,
        Some(t0())
    );
    // A second answer in a row answers nothing new.
    assert_eq!(
        append(w.message(false, "a2", t0() + Duration::seconds(10))).await,
        None
    );
    let later = t0() + Duration::seconds(20);
    append(w.message(true, "p3", later)).await;
    assert_eq!(
        append(w.message(false, "a3", t0() + Duration::seconds(40))).await,
        Some(later)
    );
}

/// A closed conversation takes no message until it is reopened; each change
/// is one `system` message to the patient.
async fn closing_and_reopening(h: Harness) {
    let s = &*h.store;
    let w = world(s).await;
    let sid = w.session_id();
    send(s, w.message(true, "q1", t0())).await;
    let change = |kind: SystemEventKind, n: u32| SessionChange {
        session_id: sid.clone(),
        message_id: MessageId::new(format!("msg_sys{n}")),
        event: SystemEvent {
            event: kind,
            reason: (kind == SystemEventKind::Closed).then_some(CloseReason::Answered),
            until: None,
        },
        now: t0() + Duration::seconds(i64::from(n)),
        audit: admin_event(t0(), "session_close"),
    };
    let (session, m) = s
        .change_session(change(SystemEventKind::Closed, 1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(session.status, SessionStatus::Closed);
    assert_eq!(session.unread_count.patient, 1);
    assert_eq!((m.seq, m.kind), (2, MessageType::System));
    assert_eq!(m.sender, SystemEvent::sender());
    assert_eq!(m.recipient.id, w.patient.id);
    assert_eq!(
        m.metadata.system,
        Some(SystemEvent {
            event: SystemEventKind::Closed,
            reason: Some(CloseReason::Answered),
            until: None
        })
    );
    assert!(s
        .change_session(change(SystemEventKind::Closed, 2))
        .await
        .unwrap()
        .is_none());
    for from_patient in [true, false] {
        let refused = s
            .append_message(w.message(from_patient, &format!("late{from_patient}"), t0()))
            .await;
        assert!(
            matches!(refused, Err(StoreError::SessionClosed)),
            "{refused:?}"
        );
    }
    // Read back in the history, sender made up.
    let read = s.message(&m.id).await.unwrap().unwrap();
    assert_eq!(read, m);
    let (session, m) = s
        .change_session(change(SystemEventKind::Reopened, 3))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((session.status, m.seq), (SessionStatus::Active, 3));
    assert!(s
        .change_session(change(SystemEventKind::Reopened, 4))
        .await
        .unwrap()
        .is_none());
    assert_eq!(send(s, w.message(true, "q2", t0())).await.seq, 4);
}

/// The patient's access log: accesses to the session and the
/// administrator's actions on the account, newest first; nothing else.
async fn access_log(h: Harness) {
    let s = &*h.store;
    let w = world(s).await;
    let sid = w.session_id();
    send(s, w.message(true, "q1", t0())).await;
    let at = |n: i64| t0() + Duration::seconds(n);
    let doctor = w.doctor.id.as_str();
    for (n, actor, action, target, session) in [
        (1, doctor, "history", "ordonnance/ord_1", Some(&sid)),
        (2, doctor, "login", "fam", None),
        (3, doctor, "download", "att_1", Some(&sid)),
        (4, "admin-cli", "user_disable", w.patient.id.as_str(), None),
        (5, "admin-cli", "user_disable", w.doctor.id.as_str(), None),
        (6, doctor, "export", "ordonnance/ord_1", Some(&sid)),
    ] {
        let mut ev = AuditEvent::new(at(n), actor, action, target, "ok", &meta());
        if let Some(sid) = session {
            ev = ev.in_session(sid);
        }
        s.audit(ev).await.unwrap();
    }
    let log = s.access_log(&sid, &w.patient.id, 10).await.unwrap();
    let got: Vec<&str> = log.iter().map(|r| r.action.as_str()).collect();
    assert_eq!(got, ["export", "user_disable", "download", "history"]);
    assert_eq!(log[1].target, w.patient.id.as_str());
    let two = s.access_log(&sid, &w.patient.id, 2).await.unwrap();
    assert_eq!(two.len(), 2);
}

/// What `userEngagement` counts: users with a login or a refresh since.
async fn active_users(h: Harness) {
    let s = &*h.store;
    let w = world(s).await;
    let family = |id: &str, user: &UserRecord| FamilyRecord {
        id: id.into(),
        user_id: user.id.clone(),
        expires_at: t0() + Duration::days(30),
    };
    assert_eq!(s.active_users_since(t0()).await.unwrap(), 0);
    for (fam, tok) in [("fam_p1", "tok_p1"), ("fam_p2", "tok_p2")] {
        s.create_login(
            family(fam, &w.patient),
            tok.into(),
            admin_event(t0(), "login"),
        )
        .await
        .unwrap();
    }
    s.create_login(
        family("fam_d", &w.doctor),
        "tok_d".into(),
        admin_event(t0(), "login"),
    )
    .await
    .unwrap();
    // Two logins of one user count once.
    assert_eq!(s.active_users_since(t0()).await.unwrap(), 2);
    // A day later only the user who refreshed counts.
    let later = t0() + Duration::hours(25);
    s.rotate_refresh("tok_d".into(), "tok_d2".into(), later, meta())
        .await
        .unwrap();
    assert_eq!(
        s.active_users_since(later - Duration::hours(24))
            .await
            .unwrap(),
        1
    );
}

/// Reply templates: kept sealed, replaced only from the version read, per user.
async fn sealed_templates(h: Harness) {
    let s = &*h.store;
    let w = world(s).await;
    assert_eq!(s.sealed_templates(&w.doctor.id).await.unwrap(), None);
    let first = s
        .put_sealed_templates(
            &w.doctor.id,
            "dmp-private:v1:AAAA".into(),
            0,
            t0(),
            admin_event(t0(), "templates_saved"),
        )
        .await
        .unwrap();
    assert_eq!((first.version, first.updated_at), (1, t0()));
    // A device that read nothing, or version 1 after another saved 2, is refused.
    for stale in [0, 5] {
        let e = s
            .put_sealed_templates(
                &w.doctor.id,
                "dmp-private:v1:BBBB".into(),
                stale,
                t0(),
                admin_event(t0(), "templates_saved"),
            )
            .await
            .unwrap_err();
        assert!(matches!(e, StoreError::Stale(_)), "{e:?}");
    }
    let later = t0() + Duration::minutes(5);
    let second = s
        .put_sealed_templates(
            &w.doctor.id,
            "dmp-private:v1:CCCC".into(),
            1,
            later,
            admin_event(later, "templates_saved"),
        )
        .await
        .unwrap();
    assert_eq!(second.version, 2);
    let stored = s.sealed_templates(&w.doctor.id).await.unwrap().unwrap();
    assert_eq!(stored, second);
    assert_eq!(stored.sealed, "dmp-private:v1:CCCC");
    // Another user's are their own.
    assert_eq!(s.sealed_templates(&w.patient.id).await.unwrap(), None);
}

async fn stats_of_a_user(h: Harness) {
    let s = &*h.store;
    let w = world(s).await;
    // patient asks at t, doctor answers 60 s later; patient asks again, doctor answers 120 s later.
    send(s, w.message(true, "q1", t0())).await;
    send(s, w.message(false, "a1", t0() + Duration::seconds(60))).await;
    send(s, w.message(true, "q2", t0() + Duration::seconds(100))).await;
    send(s, w.message(true, "q3", t0() + Duration::seconds(110))).await;
    let a2 = send(s, w.message(false, "a2", t0() + Duration::seconds(220))).await;
    let st = s.stats(&w.doctor.id).await.unwrap();
    assert_eq!((st.sent, st.received, st.unread), (2, 3, 3));
    assert_eq!((st.active_sessions, st.archived_sessions), (1, 0));
    assert_eq!(st.median_response_time_secs, Some(90.0));
    s.mark_status(&a2.id, &w.patient.id, MessageStatus::Read, t0(), None)
        .await
        .unwrap();
    let st = s.stats(&w.patient.id).await.unwrap();
    assert_eq!((st.sent, st.received, st.unread), (3, 2, 1));
    let none = s.stats(&UserId::new("nobody")).await.unwrap();
    assert_eq!((none.sent, none.median_response_time_secs), (0, None));
}

async fn history_paging(h: Harness) {
    let s = &*h.store;
    let w = world(s).await;
    for i in 0..25 {
        send(
            s,
            w.message(i % 3 == 0, &format!("c{i}"), t0() + Duration::seconds(i)),
        )
        .await;
    }
    let seqs = |page: &[Message]| page.iter().map(|m| m.seq).collect::<Vec<_>>();
    let (page, more) = s.history(&w.session_id(), None, 10).await.unwrap();
    assert_eq!(seqs(&page), (16..=25).collect::<Vec<_>>());
    assert!(more);
    let (page, more) = s.history(&w.session_id(), Some(16), 10).await.unwrap();
    assert_eq!(seqs(&page), (6..=15).collect::<Vec<_>>());
    assert!(more);
    let (page, more) = s.history(&w.session_id(), Some(6), 10).await.unwrap();
    assert_eq!(seqs(&page), (1..=5).collect::<Vec<_>>());
    assert!(!more);
    let (page, more) = s.history(&w.session_id(), None, 25).await.unwrap();
    assert_eq!(page.len(), 25);
    assert!(!more);
    assert_eq!(page[0].content, "content c0");
    assert_eq!(page[0].sender.id, w.patient.id);
    assert_eq!(page[1].sender.id, w.doctor.id);
    assert_eq!(page[1].recipient.name, w.patient.name);
    assert_eq!(page[1].context.id, w.ctx.id);
    let after = s.messages_after(&w.session_id(), 20, 100).await.unwrap();
    assert_eq!(seqs(&after), (21..=25).collect::<Vec<_>>());
    let after = s.messages_after(&w.session_id(), 0, 3).await.unwrap();
    assert_eq!(seqs(&after), vec![1, 2, 3]);
    assert!(s
        .messages_after(&w.session_id(), 25, 10)
        .await
        .unwrap()
        .is_empty());
    let (empty, more) = s
        .history(&SessionId::new("session_none"), None, 10)
        .await
        .unwrap();
    assert!(empty.is_empty() && !more);
}

// ---------------------------------------------------------------------------
// Every behaviour on every backend.
// ---------------------------------------------------------------------------

macro_rules! conformance {
    ($($behaviour:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $behaviour() {
                    super::$behaviour(super::Harness::sqlite().await).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $behaviour() {
                    super::$behaviour(super::Harness::postgres().await).await;
                }
            )*
        }
    };
}

conformance!(
    awaiting_answers,
    answered_wait,
    active_users,
    sealed_templates,
    closing_and_reopening,
    access_log,
    idempotent_send,
    seq_without_gaps_under_concurrency,
    first_sends_race_to_create_the_session,
    status_moves_forward_only,
    soft_delete,
    archive_and_reactivation,
    retention_purge,
    audit_chain_verifies_and_detects_tampering,
    audit_chain_holds_under_concurrency,
    refresh_family_rotation_and_revocation,
    directory_upsert_and_checks,
    keys_and_credentials,
    attachments_metadata,
    notifications_and_inbox,
    stats_of_a_user,
    history_paging,
);

/// The directory reads and the change log (docs/directory.md): behaviours of
/// the `Store` methods the bounded directory cache reads through.
mod directory_contract {
    use super::*;

    async fn changes_after(s: &dyn Store, head: i64) -> Vec<DirectoryChange> {
        let logged = s.directory_changes_since(head, 100).await.unwrap();
        assert!(logged.windows(2).all(|p| p[1].rev > p[0].rev));
        if let Some(last) = logged.last() {
            assert_eq!(s.directory_head().await.unwrap(), last.rev);
        }
        logged.into_iter().map(|c| c.change).collect()
    }

    async fn directory_reads(h: Harness) {
        let s = &*h.store;
        let w = world(s).await;
        let mut second = context("ord_0", "patient_1", "medecin_1");
        second.date = "2026-01-03".into();
        let mut third = context("exa_1", "patient_1", "medecin_1");
        third.kind = ContextType::Examen;
        s.upsert_directory(
            vec![],
            vec![second.clone(), third.clone()],
            true,
            admin_event(t0(), "import"),
        )
        .await
        .unwrap();
        assert_eq!(
            s.user(&w.patient.id).await.unwrap().unwrap().username,
            "alice"
        );
        assert!(s.user(&UserId::new("nobody")).await.unwrap().is_none());
        let mut found: Vec<String> = s
            .users(&[
                w.doctor.id.clone(),
                UserId::new("nobody"),
                w.patient.id.clone(),
            ])
            .await
            .unwrap()
            .into_iter()
            .map(|u| u.id.0)
            .collect();
        found.sort();
        assert_eq!(found, vec!["medecin_1", "patient_1"]);
        assert_eq!(
            s.context(ContextType::Ordonnance, &w.ctx.id).await.unwrap(),
            Some(w.ctx.clone())
        );
        assert!(s
            .context(ContextType::Examen, &w.ctx.id)
            .await
            .unwrap()
            .is_none());
        // date DESC, then id ASC, then kind ASC.
        let of = s.contexts_of(&w.doctor.id, 10).await.unwrap();
        assert_eq!(of, vec![second.clone(), third.clone(), w.ctx.clone()]);
        assert_eq!(
            s.contexts_of(&w.patient.id, 2).await.unwrap(),
            vec![second, third]
        );
    }

    async fn directory_logins(h: Harness) {
        let s = &*h.store;
        let w = world(s).await;
        let expires = t0() + Duration::days(1);
        for f in ["fam_1", "fam_2", "fam_3"] {
            let family = FamilyRecord {
                id: f.into(),
                user_id: w.patient.id.clone(),
                expires_at: expires,
            };
            s.create_login(family, format!("tok_{f}"), admin_event(t0(), "login"))
                .await
                .unwrap();
        }
        assert_eq!(
            s.login("fam_1", t0()).await.unwrap().unwrap().user_id,
            w.patient.id
        );
        assert!(s.login("fam_1", expires).await.unwrap().is_none());
        assert_eq!(s.logins_of(&w.patient.id, t0()).await.unwrap().len(), 3);
        assert!(s
            .logins_of(&w.patient.id, expires)
            .await
            .unwrap()
            .is_empty());
        s.revoke_login("fam_1", admin_event(t0(), "logout"))
            .await
            .unwrap();
        assert!(s.login("fam_1", t0()).await.unwrap().is_none());
        assert_eq!(s.logins_of(&w.patient.id, t0()).await.unwrap().len(), 2);
        s.set_user_disabled(&w.patient.id, true, admin_event(t0(), "user_disable"))
            .await
            .unwrap();
        assert!(s.login("fam_2", t0()).await.unwrap().is_none());
        assert!(s.logins_of(&w.patient.id, t0()).await.unwrap().is_empty());
    }

    async fn directory_change_log(h: Harness) {
        let s = &*h.store;
        assert_eq!(s.directory_head().await.unwrap(), 0);
        let w = world(s).await;
        let ctx_change = DirectoryChange::Context {
            kind: w.ctx.kind,
            id: w.ctx.id.clone(),
            patient_id: w.patient.id.clone(),
            doctor_id: w.doctor.id.clone(),
        };
        assert_eq!(
            changes_after(s, 0).await,
            vec![
                DirectoryChange::User(w.patient.id.clone()),
                DirectoryChange::User(w.doctor.id.clone()),
                ctx_change
            ]
        );
        let p = || w.patient.id.clone();
        let zk = || ZkLogin {
            password_hash: "h".into(),
            salt: "s".into(),
            params: "{}".into(),
        };
        let at = t0();
        let family = |id: &str| FamilyRecord {
            id: id.into(),
            user_id: p(),
            expires_at: at + Duration::days(1),
        };
        // Skipped users (no overwrite) log nothing.
        let head = s.directory_head().await.unwrap();
        s.upsert_directory(
            vec![(w.patient.clone(), None)],
            vec![],
            false,
            admin_event(at, "import"),
        )
        .await
        .unwrap();
        assert!(changes_after(s, head).await.is_empty());
        let head = s.directory_head().await.unwrap();
        s.set_user_disabled(&p(), true, admin_event(at, "x"))
            .await
            .unwrap();
        assert_eq!(
            changes_after(s, head).await,
            vec![DirectoryChange::User(p()), DirectoryChange::LoginsOf(p())]
        );
        let head = s.directory_head().await.unwrap();
        s.set_user_disabled(&p(), false, admin_event(at, "x"))
            .await
            .unwrap();
        assert_eq!(
            changes_after(s, head).await,
            vec![DirectoryChange::User(p())]
        );
        let head = s.directory_head().await.unwrap();
        s.set_password(&p(), zk(), admin_event(at, "x"))
            .await
            .unwrap();
        assert_eq!(
            changes_after(s, head).await,
            vec![DirectoryChange::User(p()), DirectoryChange::LoginsOf(p())]
        );
        let head = s.directory_head().await.unwrap();
        s.put_keys(
            &p(),
            "k".into(),
            "b".into(),
            None,
            None,
            admin_event(at, "x"),
        )
        .await
        .unwrap();
        assert!(changes_after(s, head).await.is_empty());
        s.put_keys(
            &p(),
            "k".into(),
            "b".into(),
            Some(zk()),
            Some("fam_x"),
            admin_event(at, "x"),
        )
        .await
        .unwrap();
        assert_eq!(
            changes_after(s, head).await,
            vec![DirectoryChange::User(p()), DirectoryChange::LoginsOf(p())]
        );
        let head = s.directory_head().await.unwrap();
        s.change_zk_password(&p(), zk(), "b".into(), "fam_x", admin_event(at, "x"))
            .await
            .unwrap();
        assert_eq!(
            changes_after(s, head).await,
            vec![DirectoryChange::User(p()), DirectoryChange::LoginsOf(p())]
        );
        let head = s.directory_head().await.unwrap();
        s.create_login(family("fam_a"), "tok_a".into(), admin_event(at, "login"))
            .await
            .unwrap();
        assert!(changes_after(s, head).await.is_empty());
        s.rotate_refresh("tok_a".into(), "tok_b".into(), at, meta())
            .await
            .unwrap();
        assert!(changes_after(s, head).await.is_empty());
        s.rotate_refresh("tok_a".into(), "tok_c".into(), at, meta())
            .await
            .unwrap();
        let fam = |id: &str| DirectoryChange::Login {
            id: id.into(),
            user_id: p(),
        };
        assert_eq!(changes_after(s, head).await, vec![fam("fam_a")]);
        let head = s.directory_head().await.unwrap();
        s.create_login(family("fam_b"), "tok_d".into(), admin_event(at, "login"))
            .await
            .unwrap();
        s.revoke_login("fam_b", admin_event(at, "logout"))
            .await
            .unwrap();
        s.revoke_login("fam_b", admin_event(at, "logout"))
            .await
            .unwrap();
        s.revoke_login("fam_none", admin_event(at, "logout"))
            .await
            .unwrap();
        assert_eq!(changes_after(s, head).await, vec![fam("fam_b")]);
        // A large import logs one `All`.
        let head = s.directory_head().await.unwrap();
        let many: Vec<_> = (0..1001)
            .map(|i| {
                (
                    user(
                        &format!("patient_{}", 100 + i),
                        UserType::Patient,
                        &format!("p{i}"),
                    ),
                    None,
                )
            })
            .collect();
        s.upsert_directory(many, vec![], true, admin_event(at, "import"))
            .await
            .unwrap();
        assert_eq!(changes_after(s, head).await, vec![DirectoryChange::All]);
        // Pruning removes only older rows.
        let later = at + Duration::hours(1);
        s.set_user_disabled(&p(), true, admin_event(later, "x"))
            .await
            .unwrap();
        let before = s.directory_changes_since(0, 10_000).await.unwrap().len() as u64;
        let pruned = s.prune_directory_changes(later).await.unwrap();
        assert_eq!(pruned, before - 2);
        assert_eq!(
            changes_after(s, 0).await,
            vec![DirectoryChange::User(p()), DirectoryChange::LoginsOf(p())]
        );
    }

    conformance!(directory_reads, directory_logins, directory_change_log);
}
