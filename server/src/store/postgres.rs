//! PostgreSQL backend: one database shared by every server node
//! (docs/deployment.md), through a deadpool pool of tokio-postgres
//! connections (TLS with rustls unless the URL says `sslmode=disable`).
//! Migrations (`server/migrations/postgres/`) are embedded and applied on
//! first use under an advisory lock.
//!
//! What differs from SQLite's single writer, and how it is kept equivalent:
//! - each write is one transaction at READ COMMITTED; rows it changes
//!   depending on their current value are locked first (`FOR UPDATE`), so two
//!   nodes cannot both spend a refresh token or both decrement an unread count;
//! - `seq`: `UPDATE sessions SET last_seq = last_seq + 1 … RETURNING` takes
//!   the session row's lock until commit, so concurrent appends to one
//!   session get 1, 2, 3… and a rolled-back append leaves no gap;
//! - idempotent send: the unique `(sender_id, client_message_id)` constraint;
//!   a concurrent duplicate that loses the race is answered with the winner;
//! - the audit chain has one head: every transaction that appends audit rows
//!   takes `pg_advisory_xact_lock(AUDIT_LOCK)` as its last step, reads the
//!   head and links to it, so the chain is serialized in commit order while
//!   the rest of the work runs in parallel;
//! - the chain is anchored outside the database by each node in its own
//!   checkpoint file (the head it observes, periodically and at shutdown) and
//!   by the admin CLI after each of its writes ([`PgAnchor`]); verification
//!   checks every file;
//! - `durability = full` is `synchronous_commit = on`, `normal` is `off`;
//! - `backup_to` is not offered: `pg_dump` / point-in-time recovery are the
//!   administrator's tools.

use super::*;
use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Pool, RecyclingMethod};
use rustls_pki_types::pem::PemObject;
use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::FromSql;
use tokio_postgres::Row;

use super::anchor::{AuditAnchor, Checkpoint, CheckpointKind, Checkpoints, NodeCheckpoints};
use super::sqlite::{audit_hash, AUDIT_GENESIS};

const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/postgres/0001_init.sql"),
    include_str!("../../migrations/postgres/0002_derived_notifications.sql"),
    include_str!("../../migrations/postgres/0003_question_categories.sql"),
    include_str!("../../migrations/postgres/0004_message_indexes.sql"),
    include_str!("../../migrations/postgres/0005_reply_templates.sql"),
];
/// Advisory lock of the migrations.
const MIGRATION_LOCK: i64 = 0x646d_7000_0001;
/// Advisory lock of the audit chain's head.
const AUDIT_LOCK: i64 = 0x646d_7000_0002;
/// Advisory lock of the directory change log (commit order = `rev` order).
const DIRECTORY_LOCK: i64 = 0x646d_7000_0003;
/// Above this many rows, an `upsert_directory` logs one [`DirectoryChange::All`].
const MAX_LISTED_CHANGES: usize = 1000;
/// Ids per query of [`PgStore::users`].
const IDS_PER_QUERY: usize = 10_000;
/// Rows read per page when verifying the chain.
const VERIFY_PAGE: i64 = 10_000;

/// The PostgreSQL store.
pub struct PgStore {
    pool: Pool,
    migrated: tokio::sync::OnceCell<()>,
    target: String,
    anchor: Option<PgAnchor>,
    anchored: tokio::sync::Mutex<Anchored>,
}

/// How this process anchors the audit chain outside the database
/// (docs/security.md, "Audit trail"). Several nodes append to one chain, so
/// each writes its own file and `audit --verify` checks them all.
#[derive(Debug)]
pub enum PgAnchor {
    /// A server node: its own locked file (`<checkpoint file>.<node id>`),
    /// a checkpoint of the chain head it observes at each
    /// [`Store::checkpoint_audit`] (periodically, and at shutdown).
    Node(Arc<NodeCheckpoints>),
    /// The admin CLI: the base checkpoint file, a checkpoint of the rows it
    /// appended after each of its commits (it may run with no node up).
    Cli(Arc<AuditAnchor>),
}

impl PgAnchor {
    fn anchor(&self) -> &AuditAnchor {
        match self {
            Self::Node(n) => n.anchor(),
            Self::Cli(a) => a,
        }
    }
}

/// What a node checkpointed last.
#[derive(Debug, Default)]
struct Anchored {
    /// Row id and chain hash of its last checkpoint.
    last: Option<(i64, String)>,
    /// The trail no longer holds that row: logged once, no more checkpoints.
    alarmed: bool,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

/// Maps the driver's errors into the backend-neutral [`StoreError`].
impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        let Some(code) = e.code() else {
            // No SQLSTATE: the connection failed or was closed.
            return Self::Unavailable(e.to_string());
        };
        let class = &code.code()[..2];
        let text = match e.as_db_error() {
            Some(db) => format!("{} ({})", db.message(), code.code()),
            None => e.to_string(),
        };
        match class {
            "23" => Self::Conflict(text),
            // Connection exceptions, resources, operator intervention (shutdown,
            // restart), serialization failures and deadlocks: retry later.
            "08" | "53" | "57" | "40" => Self::Unavailable(text),
            "XX" if code == &SqlState::DATA_CORRUPTED || code == &SqlState::INDEX_CORRUPTED => {
                Self::Corrupt(text)
            }
            _ => Self::Backend(text),
        }
    }
}

impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        match e {
            deadpool_postgres::PoolError::Backend(e) => e.into(),
            other => Self::Unavailable(other.to_string()),
        }
    }
}

/// TLS of the connections: rustls with the system's and Mozilla's roots,
/// plus the PEM file of `sslrootcert=` when the URL names one.
fn tls_connector(root_file: Option<&str>) -> StoreResult<tokio_postgres_rustls::MakeRustlsConnect> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    if let Some(path) = root_file {
        let pem = std::fs::read(path)?;
        for cert in rustls_pki_types::CertificateDer::pem_slice_iter(&pem) {
            let cert = cert.map_err(|e| StoreError::Invalid(format!("sslrootcert: {e}")))?;
            roots
                .add(cert)
                .map_err(|e| StoreError::Invalid(format!("sslrootcert: {e}")))?;
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| StoreError::Invalid(e.to_string()))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

/// Takes `sslrootcert=PATH` (libpq's name, unknown to tokio-postgres) out of a URL.
fn split_root_cert(url: &str) -> (String, Option<String>) {
    let Some((base, query)) = url.split_once('?') else {
        return (url.to_owned(), None);
    };
    let mut root = None;
    let kept: Vec<&str> = query
        .split('&')
        .filter(|kv| match kv.strip_prefix("sslrootcert=") {
            Some(v) => {
                root = Some(v.to_owned());
                false
            }
            None => true,
        })
        .collect();
    if kept.is_empty() {
        (base.to_owned(), root)
    } else {
        (format!("{base}?{}", kept.join("&")), root)
    }
}

impl PgStore {
    /// A pool on `url` (libpq URL syntax) of at most `pool_size` connections.
    /// Nothing is connected yet: the first operation connects and applies
    /// the migrations.
    pub fn open(url: &str, pool_size: usize, durability: Durability) -> StoreResult<Self> {
        let (url, root_file) = split_root_cert(url);
        let mut config = tokio_postgres::Config::from_str(&url)
            .map_err(|e| StoreError::Invalid(format!("database_url: {e}")))?;
        config.application_name("dmp-server");
        config.options(match durability {
            Durability::Full => "-c synchronous_commit=on -c timezone=UTC",
            Durability::Normal => "-c synchronous_commit=off -c timezone=UTC",
        });
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(std::time::Duration::from_secs(5));
        }
        let target = format!(
            "{:?}/{}",
            config.get_hosts().first(),
            config.get_dbname().unwrap_or("")
        );
        let manager_config = ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        };
        let manager = if config.get_ssl_mode() == tokio_postgres::config::SslMode::Disable {
            Manager::from_config(config, tokio_postgres::NoTls, manager_config)
        } else {
            Manager::from_config(config, tls_connector(root_file.as_deref())?, manager_config)
        };
        let pool = Pool::builder(manager)
            .max_size(pool_size.max(1))
            .wait_timeout(Some(std::time::Duration::from_secs(10)))
            .create_timeout(Some(std::time::Duration::from_secs(10)))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .map_err(|e| StoreError::Invalid(format!("database pool: {e}")))?;
        Ok(Self {
            pool,
            migrated: tokio::sync::OnceCell::new(),
            target,
            anchor: None,
            anchored: tokio::sync::Mutex::new(Anchored::default()),
        })
    }

    /// The store with an audit anchor: its checkpoints are written as
    /// [`PgAnchor`] says, and verification checks every checkpoint file of
    /// the anchor's directory.
    pub fn with_anchor(mut self, anchor: PgAnchor) -> Self {
        self.anchor = Some(anchor);
        self
    }

    /// After a commit that appended audit rows up to `head`: the admin CLI
    /// anchors them at once.
    fn committed(&self, head: Option<(i64, String)>) {
        if let (Some(PgAnchor::Cli(anchor)), Some((id, hash))) = (&self.anchor, head) {
            if let Err(e) = anchor.append(CheckpointKind::Checkpoint, id, &hash) {
                tracing::error!(error = %e, "cannot append an audit checkpoint");
            }
        }
    }

    /// A pooled connection, after the migrations.
    async fn client(&self) -> StoreResult<deadpool_postgres::Object> {
        self.migrated
            .get_or_try_init(|| async {
                let mut c = self.pool.get().await?;
                migrate(&mut c).await
            })
            .await?;
        Ok(self.pool.get().await?)
    }
}

/// Applies the embedded migrations not applied yet, one node at a time.
async fn migrate(c: &mut deadpool_postgres::Object) -> StoreResult<()> {
    let tx = c.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
    )
    .await?;
    let applied: i64 = tx
        .query_one(
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
            &[],
        )
        .await?
        .get(0);
    for (i, sql) in MIGRATIONS
        .iter()
        .enumerate()
        .skip(usize::try_from(applied).unwrap_or(0))
    {
        tx.batch_execute(sql).await?;
        let version = i64::try_from(i + 1).unwrap_or(i64::MAX);
        tx.execute(
            "INSERT INTO schema_migrations (version) VALUES ($1)",
            &[&version],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Appends audit rows at the head of the one chain, under its lock (held to
/// commit); returns the new head (row id and chain hash) when it appended.
async fn append_audit(
    tx: &deadpool_postgres::Transaction<'_>,
    events: &[AuditEvent],
) -> StoreResult<Option<(i64, String)>> {
    if events.is_empty() {
        return Ok(None);
    }
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&AUDIT_LOCK])
        .await?;
    let head = tx
        .query_opt("SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1", &[])
        .await?;
    let (mut id, mut prev): (i64, String) = match head {
        Some(r) => (r.try_get(0)?, r.try_get(1)?),
        None => (0, AUDIT_GENESIS.to_owned()),
    };
    let stmt = tx
        .prepare_cached(
            "INSERT INTO audit (id, time, actor, action, target, outcome, ip, user_agent, request_id, session_id, prev_hash, hash)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .await?;
    for ev in events {
        let ev = ev.escaped();
        let time = ms(ev.time);
        let hash = audit_hash(&prev, time, &ev);
        id += 1;
        tx.execute(
            &stmt,
            &[
                &id,
                &from_ms(time),
                &ev.actor,
                &ev.action,
                &ev.target,
                &ev.outcome,
                &ev.meta.ip,
                &ev.meta.user_agent,
                &ev.meta.request_id,
                &ev.session_id,
                &prev,
                &hash,
            ],
        )
        .await?;
        prev = hash;
    }
    Ok(Some((id, prev)))
}

/// Times are kept to the millisecond, as SQLite keeps them and the audit hash covers them.
fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn from_ms(v: i64) -> DateTime<Utc> {
    use chrono::TimeZone;
    Utc.timestamp_millis_opt(v).single().unwrap_or_default()
}

fn trunc(t: DateTime<Utc>) -> DateTime<Utc> {
    from_ms(ms(t))
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Typed column access with errors as [`StoreError`].
trait Col {
    fn col<'a, T: FromSql<'a>>(&'a self, i: usize) -> StoreResult<T>;
    fn parsed<T: FromStr>(&self, i: usize) -> StoreResult<T>;
    fn count(&self, i: usize) -> StoreResult<u64>;
    fn opt_parsed<T: FromStr>(&self, i: usize) -> StoreResult<Option<T>>;
}

impl Col for Row {
    fn col<'a, T: FromSql<'a>>(&'a self, i: usize) -> StoreResult<T> {
        Ok(self.try_get(i)?)
    }
    fn parsed<T: FromStr>(&self, i: usize) -> StoreResult<T> {
        let s: &str = self.try_get(i)?;
        s.parse()
            .map_err(|_| StoreError::Corrupt(format!("unexpected value {s:?} in column {i}")))
    }
    fn count(&self, i: usize) -> StoreResult<u64> {
        Ok(u64::try_from(self.try_get::<_, i64>(i)?).unwrap_or(0))
    }
    fn opt_parsed<T: FromStr>(&self, i: usize) -> StoreResult<Option<T>> {
        match self.try_get::<_, Option<&str>>(i)? {
            Some(_) => self.parsed(i).map(Some),
            None => Ok(None),
        }
    }
}

fn participant_at(r: &Row, i: usize) -> StoreResult<Participant> {
    Ok(Participant {
        id: UserId(r.col(i)?),
        kind: r.parsed(i + 1)?,
        name: r.col(i + 2)?,
    })
}

const USER_SELECT: &str = "SELECT id, kind, name, username, password_hash, disabled FROM users";

fn user_from_row(r: &Row) -> StoreResult<UserRecord> {
    Ok(UserRecord {
        id: UserId(r.col(0)?),
        kind: r.parsed(1)?,
        name: r.col(2)?,
        username: r.col(3)?,
        password_hash: r.col(4)?,
        disabled: r.col(5)?,
    })
}

const CONTEXT_SELECT: &str =
    "SELECT kind, id, title, date, patient_id, doctor_id, summary FROM contexts";

fn context_from_row(r: &Row) -> StoreResult<ContextRecord> {
    Ok(ContextRecord {
        kind: r.parsed(0)?,
        id: ContextId(r.col(1)?),
        title: r.col(2)?,
        date: r.col(3)?,
        patient_id: UserId(r.col(4)?),
        doctor_id: UserId(r.col(5)?),
        summary: r.col(6)?,
    })
}

/// `system` messages have no sender account: their sender is made up from
/// [`SystemEvent::sender`] (the LEFT JOIN and the COALESCEs).
const MSG_SELECT: &str = "SELECT m.id, m.content, m.kind, m.sender_id, COALESCE(su.kind, 'system'), COALESCE(su.name, 'DMP Messagerie'),
    m.recipient_id, ru.kind, ru.name,
    s.context_kind, s.context_id, m.created_at, m.status, m.attachments, m.is_urgent, m.requires_response,
    m.client_message_id, m.session_id, m.seq, m.delivered_at, m.read_at, m.deleted_at, m.category, m.system_event
    FROM messages m JOIN sessions s ON s.id = m.session_id
    LEFT JOIN users su ON su.id = m.sender_id JOIN users ru ON ru.id = m.recipient_id";

fn message_from_row(r: &Row) -> StoreResult<Message> {
    let attachments: &str = r.col(13)?;
    Ok(Message {
        id: MessageId(r.col(0)?),
        content: r.col(1)?,
        kind: r.parsed(2)?,
        sender: participant_at(r, 3)?,
        recipient: participant_at(r, 6)?,
        context: ContextRef {
            kind: r.parsed(9)?,
            id: ContextId(r.col(10)?),
        },
        timestamp: r.col(11)?,
        status: r.parsed(12)?,
        attachments: serde_json::from_str(attachments)
            .map_err(|e| StoreError::Corrupt(format!("attachments column: {e}")))?,
        metadata: MessageMetadata {
            is_urgent: r.col(14)?,
            requires_response: r.col(15)?,
            category: r.opt_parsed(22)?,
            system: match r.col::<Option<&str>>(23)? {
                Some(json) => Some(
                    serde_json::from_str(json)
                        .map_err(|e| StoreError::Corrupt(format!("system_event column: {e}")))?,
                ),
                None => None,
            },
        },
        client_message_id: ClientMessageId(r.col(16)?),
        session_id: SessionId(r.col(17)?),
        seq: r.count(18)?,
        delivered_at: r.col(19)?,
        read_at: r.col(20)?,
        deleted_at: r.col(21)?,
        encrypted: None,
        e2e_error: None,
    })
}

const SESSION_SELECT: &str = "SELECT s.id, s.context_kind, s.context_id, s.patient_id, p.kind, p.name, s.doctor_id, d.kind, d.name,
    s.status, s.created_at, s.last_activity, s.message_count, s.unread_patient, s.unread_doctor, s.last_seq
    FROM sessions s JOIN users p ON p.id = s.patient_id JOIN users d ON d.id = s.doctor_id";

fn session_from_row(r: &Row) -> StoreResult<Session> {
    Ok(Session {
        id: SessionId(r.col(0)?),
        context_type: r.parsed(1)?,
        context_id: ContextId(r.col(2)?),
        participants: SessionParticipants {
            patient: participant_at(r, 3)?,
            doctor: participant_at(r, 6)?,
        },
        status: r.parsed(9)?,
        created_at: r.col(10)?,
        last_activity: r.col(11)?,
        message_count: r.count(12)?,
        unread_count: UnreadCount {
            patient: r.count(13)?,
            doctor: r.count(14)?,
        },
        last_seq: r.count(15)?,
    })
}

/// A user's unseen notifications, derived from the message rows: a message
/// to them that is neither read nor deleted (see `store::notification_for`).
const NOTIF_SELECT: &str =
    "SELECT m.id, m.sender_id, u.kind, u.name, s.context_kind, s.context_id, m.session_id,
    c.title, m.is_urgent, left(m.content, 8) = 'dmp-e2e:', m.created_at
    FROM messages m JOIN users u ON u.id = m.sender_id JOIN sessions s ON s.id = m.session_id
    JOIN contexts c ON c.kind = s.context_kind AND c.id = s.context_id
    WHERE m.recipient_id = $1 AND m.read_at IS NULL AND m.deleted_at IS NULL
    ORDER BY m.created_at DESC, m.seq DESC LIMIT $2";

fn notification_from_row(r: &Row) -> StoreResult<Notification> {
    Ok(NotificationRow {
        message_id: MessageId(r.col(0)?),
        sender: participant_at(r, 1)?,
        context: ContextRef {
            kind: r.parsed(4)?,
            id: ContextId(r.col(5)?),
        },
        session_id: SessionId(r.col(6)?),
        context_title: r.col(7)?,
        is_urgent_flag: r.col(8)?,
        is_envelope: r.col(9)?,
        created_at: r.col(10)?,
    }
    .notification())
}

const AUDIT_SELECT: &str =
    "SELECT id, time, actor, action, target, outcome, ip, user_agent, request_id, session_id, prev_hash, hash FROM audit";

fn audit_from_row(r: &Row) -> StoreResult<AuditRow> {
    Ok(AuditRow {
        id: r.col(0)?,
        time: r.col(1)?,
        actor: r.col(2)?,
        action: r.col(3)?,
        target: r.col(4)?,
        outcome: r.col(5)?,
        ip: r.col(6)?,
        user_agent: r.col(7)?,
        request_id: r.col(8)?,
        session_id: r.col(9)?,
        prev_hash: r.col(10)?,
        hash: r.col(11)?,
    })
}

/// Appends a `system` message (seq already taken) to the patient.
async fn insert_system_message<C: GenericClient>(
    c: &C,
    session_id: &SessionId,
    message_id: &MessageId,
    seq: i64,
    patient_id: &str,
    event: &SystemEvent,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let event_json =
        serde_json::to_string(event).map_err(|e| StoreError::Invalid(e.to_string()))?;
    c.execute(
        "INSERT INTO messages (id, session_id, seq, client_message_id, sender_id, recipient_id, kind, content, created_at,
           status, is_urgent, requires_response, attachments, category, system_event)
         VALUES ($1, $2, $3, $4, $5, $6, 'system', $7, $8, 'sent', false, false, '[]', NULL, $9)",
        &[
            &message_id.as_str(),
            &session_id.as_str(),
            &seq,
            &format!("sys_{}", message_id.as_str()),
            &SYSTEM_SENDER,
            &patient_id,
            &event.fallback_text(),
            &now,
            &event_json,
        ],
    )
    .await?;
    Ok(())
}

async fn load_session<C: GenericClient>(c: &C, id: &str) -> StoreResult<Option<Session>> {
    let stmt = c
        .prepare_cached(&format!("{SESSION_SELECT} WHERE s.id = $1"))
        .await?;
    c.query_opt(&stmt, &[&id])
        .await?
        .map(|r| session_from_row(&r))
        .transpose()
}

async fn load_message<C: GenericClient>(c: &C, id: &str) -> StoreResult<Option<Message>> {
    let stmt = c
        .prepare_cached(&format!("{MSG_SELECT} WHERE m.id = $1"))
        .await?;
    c.query_opt(&stmt, &[&id])
        .await?
        .map(|r| message_from_row(&r))
        .transpose()
}

/// Creates the session row if missing; returns its id and whether it was created.
async fn ensure_session_row<C: GenericClient>(
    c: &C,
    ctx: &ContextRecord,
    now: DateTime<Utc>,
) -> StoreResult<(SessionId, bool)> {
    let id = Session::id_for(ctx.kind, &ctx.id, &ctx.patient_id, &ctx.doctor_id);
    // No conflict target: the row has two unique keys (the id and the context
    // tuple), and a concurrent insert of the same row must do nothing on
    // either (with `(id)` alone it fails on the second one).
    let stmt = c
        .prepare_cached(
            "INSERT INTO sessions (id, context_kind, context_id, patient_id, doctor_id, status, created_at, last_activity)
             VALUES ($1, $2, $3, $4, $5, 'active', $6, $6) ON CONFLICT DO NOTHING",
        )
        .await?;
    let n = c
        .execute(
            &stmt,
            &[
                &id.as_str(),
                &ctx.kind.as_str(),
                &ctx.id.as_str(),
                &ctx.patient_id.as_str(),
                &ctx.doctor_id.as_str(),
                &now,
            ],
        )
        .await?;
    Ok((id, n == 1))
}

async fn revoke_families_of<C: GenericClient>(
    c: &C,
    user: &str,
    now: DateTime<Utc>,
    keep: Option<&str>,
) -> StoreResult<()> {
    let stmt = c
        .prepare_cached(
            "UPDATE auth_families SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL
             AND ($3::text IS NULL OR id <> $3)",
        )
        .await?;
    c.execute(&stmt, &[&user, &now, &keep]).await?;
    Ok(())
}

/// A change as its columns: kind, user, doctor, context kind, context id, login.
type ChangeColumns<'a> = (
    &'a str,
    Option<&'a str>,
    Option<&'a str>,
    Option<&'a str>,
    Option<&'a str>,
    Option<&'a str>,
);

/// Appends changes to the directory change log, under its lock (held to
/// commit). Called as the last step of a body, before the audit lock.
async fn log_changes<C: GenericClient>(
    c: &C,
    at: DateTime<Utc>,
    changes: &[DirectoryChange],
) -> StoreResult<()> {
    if changes.is_empty() {
        return Ok(());
    }
    c.execute("SELECT pg_advisory_xact_lock($1)", &[&DIRECTORY_LOCK])
        .await?;
    let stmt = c
        .prepare_cached(
            "INSERT INTO directory_changes (at, kind, user_id, doctor_id, context_kind, context_id, login_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .await?;
    for change in changes {
        let (kind, user, doctor, ctx_kind, ctx_id, login): ChangeColumns<'_> = match change {
            DirectoryChange::User(u) => ("user", Some(u.as_str()), None, None, None, None),
            DirectoryChange::Context {
                kind,
                id,
                patient_id,
                doctor_id,
            } => (
                "context",
                Some(patient_id.as_str()),
                Some(doctor_id.as_str()),
                Some(kind.as_str()),
                Some(id.as_str()),
                None,
            ),
            DirectoryChange::Login { id, user_id } => (
                "login",
                Some(user_id.as_str()),
                None,
                None,
                None,
                Some(id.as_str()),
            ),
            DirectoryChange::LoginsOf(u) => ("logins_of", Some(u.as_str()), None, None, None, None),
            DirectoryChange::All => ("all", None, None, None, None, None),
        };
        c.execute(
            &stmt,
            &[&at, &kind, &user, &doctor, &ctx_kind, &ctx_id, &login],
        )
        .await?;
    }
    Ok(())
}

fn change_from_row(r: &Row) -> StoreResult<LoggedChange> {
    let kind: &str = r.col(1)?;
    let user = || -> StoreResult<UserId> {
        r.col::<Option<String>>(2)?
            .map(UserId)
            .ok_or_else(|| StoreError::Corrupt("directory change without its user".into()))
    };
    let text = |i: usize| -> StoreResult<String> {
        r.col::<Option<String>>(i)?
            .ok_or_else(|| StoreError::Corrupt("directory change with a missing column".into()))
    };
    let change = match kind {
        "user" => DirectoryChange::User(user()?),
        "context" => DirectoryChange::Context {
            kind: text(4)?
                .parse()
                .map_err(|_| StoreError::Corrupt("bad context kind".into()))?,
            id: ContextId(text(5)?),
            patient_id: user()?,
            doctor_id: UserId(text(3)?),
        },
        "login" => DirectoryChange::Login {
            id: text(6)?,
            user_id: user()?,
        },
        "logins_of" => DirectoryChange::LoginsOf(user()?),
        "all" => DirectoryChange::All,
        other => {
            return Err(StoreError::Corrupt(format!(
                "directory change kind {other:?}"
            )))
        }
    };
    Ok(LoggedChange {
        rev: r.col(0)?,
        change,
    })
}

fn family_from_row(r: &Row) -> StoreResult<FamilyRecord> {
    Ok(FamilyRecord {
        id: r.col(0)?,
        user_id: UserId(r.col(1)?),
        expires_at: r.col(2)?,
    })
}

async fn bump_revision<C: GenericClient>(c: &C) -> StoreResult<()> {
    c.execute(
        "UPDATE meta SET value = value + 1 WHERE key = 'revision'",
        &[],
    )
    .await?;
    Ok(())
}

/// Runs a body in one transaction, then appends the audit events it pushed
/// (chained under the audit lock) and commits; the body's error rolls back.
macro_rules! write_tx {
    ($store:expr, |$tx:ident, $events:ident| $body:block) => {{
        let mut client = $store.client().await?;
        let txn = client.transaction().await?;
        let mut pending: Vec<AuditEvent> = Vec::new();
        let out = {
            let $tx = &txn;
            let $events = &mut pending;
            store_result(async move { $body }).await?
        };
        let head = append_audit(&txn, &pending).await?;
        txn.commit().await?;
        $store.committed(head);
        Ok(out)
    }};
}

/// Pins an async block's output type (so that `?` inside it converts into [`StoreError`]).
fn store_result<R, F: std::future::Future<Output = StoreResult<R>>>(f: F) -> F {
    f
}

#[async_trait]
impl Store for PgStore {
    async fn ping(&self) -> StoreResult<()> {
        self.client().await?.query_one("SELECT 1", &[]).await?;
        Ok(())
    }

    /// A user by id (with the verifier), disabled or not.
    async fn user(&self, id: &UserId) -> StoreResult<Option<UserRecord>> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(&format!("{USER_SELECT} WHERE id = $1"))
            .await?;
        c.query_opt(&stmt, &[&id.as_str()])
            .await?
            .map(|r| user_from_row(&r))
            .transpose()
    }

    /// The users among `ids` that exist (any order, unknown ids left out), in chunks.
    async fn users(&self, ids: &[UserId]) -> StoreResult<Vec<UserRecord>> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(&format!("{USER_SELECT} WHERE id = ANY($1)"))
            .await?;
        let mut out = Vec::new();
        for chunk in ids.chunks(IDS_PER_QUERY) {
            let chunk: Vec<&str> = chunk.iter().map(UserId::as_str).collect();
            for r in c.query(&stmt, &[&chunk]).await? {
                out.push(user_from_row(&r)?);
            }
        }
        Ok(out)
    }

    /// A context by type and id.
    async fn context(
        &self,
        kind: ContextType,
        id: &ContextId,
    ) -> StoreResult<Option<ContextRecord>> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(&format!("{CONTEXT_SELECT} WHERE kind = $1 AND id = $2"))
            .await?;
        c.query_opt(&stmt, &[&kind.as_str(), &id.as_str()])
            .await?
            .map(|r| context_from_row(&r))
            .transpose()
    }

    /// The contexts of a user (as patient or doctor), `date` DESC, `id` ASC, `kind` ASC, at most `limit`.
    async fn contexts_of(&self, user: &UserId, limit: u32) -> StoreResult<Vec<ContextRecord>> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(&format!(
                "{CONTEXT_SELECT} WHERE patient_id = $1 OR doctor_id = $1
                 ORDER BY date DESC, id ASC, kind ASC LIMIT $2"
            ))
            .await?;
        c.query(&stmt, &[&user.as_str(), &i64::from(limit)])
            .await?
            .iter()
            .map(context_from_row)
            .collect()
    }

    /// An active login: not revoked and `expires_at > now`.
    async fn login(&self, id: &str, now: DateTime<Utc>) -> StoreResult<Option<FamilyRecord>> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(
                "SELECT id, user_id, expires_at FROM auth_families
                 WHERE id = $1 AND revoked_at IS NULL AND expires_at > $2",
            )
            .await?;
        c.query_opt(&stmt, &[&id, &now])
            .await?
            .map(|r| family_from_row(&r))
            .transpose()
    }

    /// The active logins of a user.
    async fn logins_of(&self, user: &UserId, now: DateTime<Utc>) -> StoreResult<Vec<FamilyRecord>> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(
                "SELECT id, user_id, expires_at FROM auth_families
                 WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2",
            )
            .await?;
        c.query(&stmt, &[&user.as_str(), &now])
            .await?
            .iter()
            .map(family_from_row)
            .collect()
    }

    /// The newest change-log position (0 when the log is empty).
    async fn directory_head(&self) -> StoreResult<i64> {
        self.client()
            .await?
            .query_one(
                "SELECT COALESCE(MAX(rev), 0)::BIGINT FROM directory_changes",
                &[],
            )
            .await?
            .col(0)
    }

    /// The logged changes with `rev > since`, `rev` ascending, at most `limit`.
    async fn directory_changes_since(
        &self,
        since: i64,
        limit: u32,
    ) -> StoreResult<Vec<LoggedChange>> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(
                "SELECT rev, kind, user_id, doctor_id, context_kind, context_id, login_id
                 FROM directory_changes WHERE rev > $1 ORDER BY rev ASC LIMIT $2",
            )
            .await?;
        c.query(&stmt, &[&since, &i64::from(limit)])
            .await?
            .iter()
            .map(change_from_row)
            .collect()
    }

    /// Deletes changes logged before `before`; returns how many went.
    async fn prune_directory_changes(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        Ok(self
            .client()
            .await?
            .execute("DELETE FROM directory_changes WHERE at < $1", &[&before])
            .await?)
    }

    async fn user_by_username(&self, username: &str) -> StoreResult<Option<UserRecord>> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(&format!("{USER_SELECT} WHERE lower(username) = lower($1)"))
            .await?;
        c.query_opt(&stmt, &[&username])
            .await?
            .map(|r| user_from_row(&r))
            .transpose()
    }

    async fn upsert_directory(
        &self,
        users: Vec<(UserRecord, Option<ZkLogin>)>,
        contexts: Vec<ContextRecord>,
        overwrite_users: bool,
        audit: AuditEvent,
    ) -> StoreResult<()> {
        let (users, contexts, audit) = (&users, &contexts, &audit);
        // Set-based: a few queries per batch whatever its size (an import of
        // a million patients must stay linear, docs/directory.md), with the
        // same rules as the row-by-row SQLite writer.
        write_tx!(self, |tx, events| {
            let now = trunc(audit.time);
            let mut changes = Vec::new();
            // Users: what exists (kind by id, owner by login name), then one insert.
            let ids: Vec<&str> = users.iter().map(|(u, _)| u.id.as_str()).collect();
            let names: Vec<String> = users
                .iter()
                .map(|(u, _)| u.username.to_lowercase())
                .collect();
            let mut kinds: HashMap<String, String> = HashMap::new();
            let mut owners: HashMap<String, String> = HashMap::new();
            for chunk in ids.chunks(IDS_PER_QUERY) {
                for r in tx
                    .query("SELECT id, kind FROM users WHERE id = ANY($1)", &[&chunk])
                    .await?
                {
                    kinds.insert(r.col(0)?, r.col(1)?);
                }
            }
            for chunk in names.chunks(IDS_PER_QUERY) {
                for r in tx
                    .query(
                        "SELECT id, lower(username) FROM users WHERE lower(username) = ANY($1)",
                        &[&chunk],
                    )
                    .await?
                {
                    owners.insert(r.col(1)?, r.col(0)?);
                }
            }
            // The rows to write, one per id (a later row of the batch wins,
            // as it would row by row).
            let mut rows: Vec<usize> = Vec::new();
            let mut slot: HashMap<&str, usize> = HashMap::new();
            for (i, (u, _)) in users.iter().enumerate() {
                let exists = kinds.contains_key(u.id.as_str());
                if exists && !overwrite_users {
                    continue;
                }
                let name = &names[i];
                match owners.get(name) {
                    Some(owner) if owner != u.id.as_str() => {
                        return Err(StoreError::Invalid(format!(
                            "username {:?} already belongs to user {owner}",
                            u.username
                        )));
                    }
                    _ => {}
                }
                if let Some(kind) = kinds.get(u.id.as_str()) {
                    if kind != u.kind.as_str() {
                        return Err(StoreError::Invalid(format!(
                            "user {} exists with type {kind}",
                            u.id
                        )));
                    }
                }
                // Later rows see this one, as row by row.
                owners.insert(name.clone(), u.id.as_str().to_owned());
                kinds.insert(u.id.as_str().to_owned(), u.kind.as_str().to_owned());
                match slot.get(u.id.as_str()) {
                    Some(&at) => rows[at] = i,
                    None => {
                        slot.insert(u.id.as_str(), rows.len());
                        rows.push(i);
                    }
                }
                changes.push(DirectoryChange::User(u.id.clone()));
            }
            for chunk in rows.chunks(IDS_PER_QUERY) {
                let (mut id, mut kind, mut name, mut login, mut hash) =
                    (vec![], vec![], vec![], vec![], vec![]);
                let (mut disabled, mut salt, mut kdf) = (vec![], vec![], vec![]);
                for &i in chunk {
                    let (u, zk) = &users[i];
                    id.push(u.id.as_str());
                    kind.push(u.kind.as_str());
                    name.push(u.name.as_str());
                    login.push(u.username.as_str());
                    disabled.push(u.disabled);
                    match zk {
                        Some(z) => {
                            hash.push(z.password_hash.as_str());
                            salt.push(Some(z.salt.as_str()));
                            kdf.push(Some(z.params.as_str()));
                        }
                        None => {
                            hash.push(u.password_hash.as_str());
                            salt.push(None);
                            kdf.push(None);
                        }
                    }
                }
                tx.execute(
                    "INSERT INTO users (id, kind, name, username, password_hash, disabled, created_at, updated_at, kdf_salt, kdf_params)
                     SELECT id, kind, name, username, password_hash, disabled, $7, $7, kdf_salt, kdf_params
                     FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bool[], $8::text[], $9::text[])
                       AS t(id, kind, name, username, password_hash, disabled, kdf_salt, kdf_params)
                     ON CONFLICT (id) DO UPDATE SET name = excluded.name, username = excluded.username,
                       password_hash = excluded.password_hash, disabled = excluded.disabled, updated_at = excluded.updated_at,
                       kdf_salt = excluded.kdf_salt, kdf_params = excluded.kdf_params, key_backup = NULL",
                    &[&id, &kind, &name, &login, &hash, &disabled, &now, &salt, &kdf],
                )
                .await?;
            }
            // Contexts: their people must exist with the right type; the people
            // of an existing context are fixed.
            let people: Vec<&str> = contexts
                .iter()
                .flat_map(|c| [c.patient_id.as_str(), c.doctor_id.as_str()])
                .filter(|id| !kinds.contains_key(*id))
                .collect();
            for chunk in people.chunks(IDS_PER_QUERY) {
                for r in tx
                    .query("SELECT id, kind FROM users WHERE id = ANY($1)", &[&chunk])
                    .await?
                {
                    kinds.insert(r.col(0)?, r.col(1)?);
                }
            }
            let mut existing: HashMap<(String, String), (String, String)> = HashMap::new();
            for chunk in contexts.chunks(IDS_PER_QUERY) {
                let kinds_of: Vec<&str> = chunk.iter().map(|c| c.kind.as_str()).collect();
                let ids_of: Vec<&str> = chunk.iter().map(|c| c.id.as_str()).collect();
                for r in tx
                    .query(
                        "SELECT c.kind, c.id, c.patient_id, c.doctor_id FROM contexts c
                         JOIN unnest($1::text[], $2::text[]) AS t(kind, id) ON c.kind = t.kind AND c.id = t.id",
                        &[&kinds_of, &ids_of],
                    )
                    .await?
                {
                    existing.insert((r.col(0)?, r.col(1)?), (r.col(2)?, r.col(3)?));
                }
            }
            let mut crow: Vec<usize> = Vec::new();
            let mut cslot: HashMap<(&str, &str), usize> = HashMap::new();
            for (i, c) in contexts.iter().enumerate() {
                for (uid, want) in [
                    (&c.patient_id, UserType::Patient),
                    (&c.doctor_id, UserType::Medecin),
                ] {
                    match kinds.get(uid.as_str()) {
                        None => {
                            return Err(StoreError::Invalid(format!(
                                "context {}: unknown user {uid}",
                                c.id
                            )))
                        }
                        Some(k) if k != want.as_str() => {
                            return Err(StoreError::Invalid(format!(
                                "context {}: {uid} is a {k}, not a {want}",
                                c.id
                            )));
                        }
                        Some(_) => {}
                    }
                }
                let key = (c.kind.as_str().to_owned(), c.id.as_str().to_owned());
                if let Some((p, d)) = existing.get(&key) {
                    if p != c.patient_id.as_str() || d != c.doctor_id.as_str() {
                        return Err(StoreError::Invalid(format!(
                            "context {} already exists with other participants",
                            c.id
                        )));
                    }
                }
                existing.insert(
                    key,
                    (
                        c.patient_id.as_str().to_owned(),
                        c.doctor_id.as_str().to_owned(),
                    ),
                );
                match cslot.get(&(c.kind.as_str(), c.id.as_str())) {
                    Some(&at) => crow[at] = i,
                    None => {
                        cslot.insert((c.kind.as_str(), c.id.as_str()), crow.len());
                        crow.push(i);
                    }
                }
                changes.push(DirectoryChange::Context {
                    kind: c.kind,
                    id: c.id.clone(),
                    patient_id: c.patient_id.clone(),
                    doctor_id: c.doctor_id.clone(),
                });
            }
            for chunk in crow.chunks(IDS_PER_QUERY) {
                let (mut kind, mut id, mut title, mut date) = (vec![], vec![], vec![], vec![]);
                let (mut patient, mut doctor, mut summary) = (vec![], vec![], vec![]);
                for &i in chunk {
                    let c = &contexts[i];
                    kind.push(c.kind.as_str());
                    id.push(c.id.as_str());
                    title.push(c.title.as_str());
                    date.push(c.date.as_str());
                    patient.push(c.patient_id.as_str());
                    doctor.push(c.doctor_id.as_str());
                    summary.push(c.summary.as_str());
                }
                tx.execute(
                    "INSERT INTO contexts (kind, id, title, date, patient_id, doctor_id, summary)
                     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[])
                     ON CONFLICT (kind, id) DO UPDATE SET title = excluded.title, date = excluded.date, summary = excluded.summary",
                    &[&kind, &id, &title, &date, &patient, &doctor, &summary],
                )
                .await?;
            }
            if changes.len() > MAX_LISTED_CHANGES {
                changes = vec![DirectoryChange::All];
            }
            log_changes(tx, now, &changes).await?;
            bump_revision(tx).await?;
            events.push(audit.clone());
            Ok(())
        })
    }

    async fn set_user_disabled(
        &self,
        user: &UserId,
        disabled: bool,
        audit: AuditEvent,
    ) -> StoreResult<()> {
        let audit = &audit;
        write_tx!(self, |tx, events| {
            let now = trunc(audit.time);
            let n = tx
                .execute(
                    "UPDATE users SET disabled = $2, updated_at = $3 WHERE id = $1",
                    &[&user.as_str(), &disabled, &now],
                )
                .await?;
            if n == 0 {
                return Err(StoreError::NotFound);
            }
            let mut changes = vec![DirectoryChange::User(user.clone())];
            if disabled {
                revoke_families_of(tx, user.as_str(), now, None).await?;
                changes.push(DirectoryChange::LoginsOf(user.clone()));
            }
            log_changes(tx, now, &changes).await?;
            bump_revision(tx).await?;
            events.push(audit.clone());
            Ok(())
        })
    }

    async fn set_password(&self, user: &UserId, zk: ZkLogin, audit: AuditEvent) -> StoreResult<()> {
        let (zk, audit) = (&zk, &audit);
        write_tx!(self, |tx, events| {
            let now = trunc(audit.time);
            let n = tx
                .execute(
                    "UPDATE users SET password_hash = $2, updated_at = $3, kdf_salt = $4, kdf_params = $5, key_backup = NULL WHERE id = $1",
                    &[&user.as_str(), &zk.password_hash, &now, &zk.salt, &zk.params],
                )
                .await?;
            if n == 0 {
                return Err(StoreError::NotFound);
            }
            revoke_families_of(tx, user.as_str(), now, None).await?;
            log_changes(
                tx,
                now,
                &[
                    DirectoryChange::User(user.clone()),
                    DirectoryChange::LoginsOf(user.clone()),
                ],
            )
            .await?;
            bump_revision(tx).await?;
            events.push(audit.clone());
            Ok(())
        })
    }

    async fn user_keys(&self, user: &UserId) -> StoreResult<UserKeys> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(
                "SELECT kdf_salt, kdf_params, public_keys, key_backup, keys_updated_at FROM users WHERE id = $1",
            )
            .await?;
        Ok(match c.query_opt(&stmt, &[&user.as_str()]).await? {
            Some(r) => UserKeys {
                kdf_salt: r.col(0)?,
                kdf_params: r.col(1)?,
                public_keys: r.col(2)?,
                key_backup: r.col(3)?,
                updated_at: r.col(4)?,
            },
            None => UserKeys::default(),
        })
    }

    async fn put_keys(
        &self,
        user: &UserId,
        public_keys: String,
        backup: String,
        zk: Option<ZkLogin>,
        keep_login: Option<&str>,
        audit: AuditEvent,
    ) -> StoreResult<()> {
        let (public_keys, backup, zk, audit) = (&public_keys, &backup, &zk, &audit);
        write_tx!(self, |tx, events| {
            let now = trunc(audit.time);
            let n = tx
                .execute(
                    "UPDATE users SET public_keys = $2, key_backup = $3, keys_updated_at = $4, updated_at = $4 WHERE id = $1",
                    &[&user.as_str(), public_keys, backup, &now],
                )
                .await?;
            if n == 0 {
                return Err(StoreError::NotFound);
            }
            let mut changes = Vec::new();
            if let Some(zk) = zk {
                tx.execute(
                    "UPDATE users SET password_hash = $2, kdf_salt = $3, kdf_params = $4 WHERE id = $1",
                    &[&user.as_str(), &zk.password_hash, &zk.salt, &zk.params],
                )
                .await?;
                changes.push(DirectoryChange::User(user.clone()));
            }
            if let Some(keep) = keep_login {
                revoke_families_of(tx, user.as_str(), now, Some(keep)).await?;
                changes.push(DirectoryChange::LoginsOf(user.clone()));
                bump_revision(tx).await?;
            }
            log_changes(tx, now, &changes).await?;
            events.push(audit.clone());
            Ok(())
        })
    }

    async fn change_zk_password(
        &self,
        user: &UserId,
        zk: ZkLogin,
        backup: String,
        keep_login: &str,
        audit: AuditEvent,
    ) -> StoreResult<()> {
        let (zk, backup, audit) = (&zk, &backup, &audit);
        write_tx!(self, |tx, events| {
            let now = trunc(audit.time);
            tx.execute(
                "UPDATE users SET password_hash = $2, kdf_salt = $3, kdf_params = $4, key_backup = $5, updated_at = $6 WHERE id = $1",
                &[&user.as_str(), &zk.password_hash, &zk.salt, &zk.params, backup, &now],
            )
            .await?;
            revoke_families_of(tx, user.as_str(), now, Some(keep_login)).await?;
            log_changes(
                tx,
                now,
                &[
                    DirectoryChange::User(user.clone()),
                    DirectoryChange::LoginsOf(user.clone()),
                ],
            )
            .await?;
            bump_revision(tx).await?;
            events.push(audit.clone());
            Ok(())
        })
    }

    async fn create_login(
        &self,
        family: FamilyRecord,
        token_hash: String,
        audit: AuditEvent,
    ) -> StoreResult<()> {
        let (family, token_hash, audit) = (&family, &token_hash, &audit);
        write_tx!(self, |tx, events| {
            let now = trunc(audit.time);
            tx.execute(
                "INSERT INTO auth_families (id, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
                &[&family.id, &family.user_id.as_str(), &now, &trunc(family.expires_at)],
            )
            .await?;
            tx.execute(
                "INSERT INTO refresh_tokens (token_hash, family_id, created_at) VALUES ($1, $2, $3)",
                &[token_hash, &family.id, &now],
            )
            .await?;
            events.push(audit.clone());
            Ok(())
        })
    }

    async fn rotate_refresh(
        &self,
        token_hash: String,
        new_hash: String,
        now: DateTime<Utc>,
        meta: RequestMeta,
    ) -> StoreResult<Rotation> {
        let (token_hash, new_hash, meta) = (&token_hash, &new_hash, &meta);
        let now = trunc(now);
        write_tx!(self, |tx, events| {
            // The token row is locked: a concurrent spend of the same token
            // (another node) waits, then sees it spent.
            let found = tx
                .query_opt(
                    "SELECT t.family_id, t.used_at, f.user_id, f.expires_at, f.revoked_at, u.disabled
                     FROM refresh_tokens t JOIN auth_families f ON f.id = t.family_id JOIN users u ON u.id = f.user_id
                     WHERE t.token_hash = $1 FOR UPDATE OF t, f",
                    &[token_hash],
                )
                .await?;
            let Some(r) = found else {
                return Ok(Rotation::Unknown);
            };
            let family_id: String = r.col(0)?;
            let used_at: Option<DateTime<Utc>> = r.col(1)?;
            let user_id: String = r.col(2)?;
            let expires_at: DateTime<Utc> = r.col(3)?;
            let revoked_at: Option<DateTime<Utc>> = r.col(4)?;
            let disabled: bool = r.col(5)?;
            if disabled && used_at.is_none() && expires_at > now {
                events.push(AuditEvent::new(
                    now, &user_id, "refresh", &family_id, "disabled", meta,
                ));
                return Ok(Rotation::Disabled);
            }
            if revoked_at.is_some() || expires_at <= now || disabled {
                events.push(AuditEvent::new(
                    now, &user_id, "refresh", &family_id, "failed", meta,
                ));
                return Ok(Rotation::Invalid);
            }
            if used_at.is_some() {
                tx.execute(
                    "UPDATE auth_families SET revoked_at = $2 WHERE id = $1",
                    &[&family_id, &now],
                )
                .await?;
                log_changes(
                    tx,
                    now,
                    &[DirectoryChange::Login {
                        id: family_id.clone(),
                        user_id: UserId(user_id.clone()),
                    }],
                )
                .await?;
                bump_revision(tx).await?;
                events.push(AuditEvent::new(
                    now,
                    &user_id,
                    "refresh_reuse",
                    &family_id,
                    "denied",
                    meta,
                ));
                return Ok(Rotation::Reused {
                    user_id: UserId(user_id),
                    family_id,
                });
            }
            tx.execute(
                "UPDATE refresh_tokens SET used_at = $2 WHERE token_hash = $1",
                &[token_hash, &now],
            )
            .await?;
            tx.execute(
                "INSERT INTO refresh_tokens (token_hash, family_id, created_at) VALUES ($1, $2, $3)",
                &[new_hash, &family_id, &now],
            )
            .await?;
            events.push(AuditEvent::new(
                now, &user_id, "refresh", &family_id, "ok", meta,
            ));
            Ok(Rotation::Rotated {
                user_id: UserId(user_id),
                family_id,
            })
        })
    }

    async fn revoke_login(&self, family_id: &str, audit: AuditEvent) -> StoreResult<()> {
        let audit = &audit;
        write_tx!(self, |tx, events| {
            let now = trunc(audit.time);
            let revoked = tx
                .query_opt(
                    "UPDATE auth_families SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL RETURNING user_id",
                    &[&family_id, &now],
                )
                .await?;
            if let Some(r) = revoked {
                let change = DirectoryChange::Login {
                    id: family_id.to_owned(),
                    user_id: UserId(r.col(0)?),
                };
                log_changes(tx, now, &[change]).await?;
            }
            bump_revision(tx).await?;
            events.push(audit.clone());
            Ok(())
        })
    }

    async fn ensure_session(
        &self,
        context: ContextRecord,
        now: DateTime<Utc>,
        audit: Option<AuditEvent>,
    ) -> StoreResult<Session> {
        let (context, audit) = (&context, &audit);
        let now = trunc(now);
        write_tx!(self, |tx, events| {
            let (id, created) = ensure_session_row(tx, context, now).await?;
            if created {
                events.extend(audit.clone());
            }
            load_session(tx, id.as_str())
                .await?
                .ok_or(StoreError::NotFound)
        })
    }

    async fn session_for_context(&self, context: &ContextRecord) -> StoreResult<Option<Session>> {
        let id = Session::id_for(
            context.kind,
            &context.id,
            &context.patient_id,
            &context.doctor_id,
        );
        self.session(&id).await
    }

    async fn session(&self, id: &SessionId) -> StoreResult<Option<Session>> {
        load_session(&self.client().await?, id.as_str()).await
    }

    async fn sessions_of(&self, user: &UserId) -> StoreResult<Vec<Session>> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(&format!(
                "{SESSION_SELECT} WHERE s.patient_id = $1 OR s.doctor_id = $1"
            ))
            .await?;
        c.query(&stmt, &[&user.as_str()])
            .await?
            .iter()
            .map(session_from_row)
            .collect()
    }

    async fn inbox_marks(
        &self,
        user: &UserId,
    ) -> StoreResult<std::collections::HashMap<SessionId, InboxMarks>> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(
                // `waits`: a question from the patient that expects an
                // answer, sent after the doctor's last message.
                "WITH mine AS (SELECT id, patient_id, doctor_id FROM sessions WHERE patient_id = $1 OR doctor_id = $1),
                 answered AS (SELECT m.session_id, MAX(m.seq) AS seq FROM messages m JOIN mine s ON s.id = m.session_id
                              WHERE m.sender_id = s.doctor_id GROUP BY m.session_id),
                 marked AS (SELECT m.session_id, m.created_at, m.seq, m.is_urgent, m.category, m.recipient_id, m.status, m.deleted_at,
                              (m.sender_id = s.patient_id AND m.requires_response AND m.deleted_at IS NULL
                                AND m.seq > COALESCE(a.seq, 0)) AS waits
                            FROM messages m JOIN mine s ON s.id = m.session_id LEFT JOIN answered a ON a.session_id = m.session_id),
                 grouped AS (SELECT session_id, MAX(created_at) AS last_at,
                               bool_or(recipient_id = $1 AND is_urgent AND status <> 'read' AND deleted_at IS NULL) AS urgent_unread,
                               MIN(seq) FILTER (WHERE waits) AS first_wait,
                               bool_or(waits AND is_urgent) AS urgent_wait
                             FROM marked GROUP BY session_id)
                 SELECT g.session_id, g.last_at, g.urgent_unread, w.created_at, g.urgent_wait, w.category
                 FROM grouped g LEFT JOIN messages w ON w.session_id = g.session_id AND w.seq = g.first_wait",
            )
            .await?;
        c.query(&stmt, &[&user.as_str()])
            .await?
            .iter()
            .map(|r| {
                let awaiting = match r.col::<Option<DateTime<Utc>>>(3)? {
                    Some(since) => Some(Awaiting {
                        since,
                        urgent: r.col::<Option<bool>>(4)?.unwrap_or(false),
                        category: r.opt_parsed(5)?,
                    }),
                    None => None,
                };
                Ok((
                    SessionId(r.col(0)?),
                    InboxMarks {
                        last_message_at: r.col(1)?,
                        has_urgent_unread: r.col::<Option<bool>>(2)?.unwrap_or(false),
                        awaiting,
                    },
                ))
            })
            .collect()
    }

    async fn archive_session(
        &self,
        id: &SessionId,
        now: DateTime<Utc>,
        audit: AuditEvent,
    ) -> StoreResult<Session> {
        let audit = &audit;
        let now = trunc(now);
        write_tx!(self, |tx, events| {
            let n = tx
                .execute(
                    "UPDATE sessions SET status = 'archived', last_activity = $2 WHERE id = $1 AND status = 'active'",
                    &[&id.as_str(), &now],
                )
                .await?;
            if n == 1 {
                events.push(audit.clone());
            }
            load_session(tx, id.as_str())
                .await?
                .ok_or(StoreError::NotFound)
        })
    }

    async fn change_session(
        &self,
        change: SessionChange,
    ) -> StoreResult<Option<(Session, Message)>> {
        let change = &change;
        let now = trunc(change.now);
        write_tx!(self, |tx, events| {
            let row = tx
                .query_opt(
                    match change.event.event {
                        SystemEventKind::Closed => {
                            "UPDATE sessions SET status = 'closed', last_seq = last_seq + 1, message_count = message_count + 1,
                             last_activity = $2, unread_patient = unread_patient + 1
                             WHERE id = $1 AND status <> 'closed' RETURNING last_seq, patient_id"
                        }
                        SystemEventKind::Reopened => {
                            "UPDATE sessions SET status = 'active', last_seq = last_seq + 1, message_count = message_count + 1,
                             last_activity = $2, unread_patient = unread_patient + 1
                             WHERE id = $1 AND status = 'closed' RETURNING last_seq, patient_id"
                        }
                        SystemEventKind::Absent | SystemEventKind::OutsideHours => {
                            return Err(StoreError::Invalid(
                                "an absence is answered by absence_reply".into(),
                            ))
                        }
                    },
                    &[&change.session_id.as_str(), &now],
                )
                .await?;
            let Some(row) = row else {
                return Ok(None);
            };
            let seq: i64 = row.col(0)?;
            let patient_id: String = row.col(1)?;
            insert_system_message(
                tx,
                &change.session_id,
                &change.message_id,
                seq,
                &patient_id,
                &change.event,
                now,
            )
            .await?;
            events.push(change.audit.clone());
            let session = load_session(tx, change.session_id.as_str())
                .await?
                .ok_or(StoreError::NotFound)?;
            let message = load_message(tx, change.message_id.as_str())
                .await?
                .ok_or(StoreError::NotFound)?;
            Ok(Some((session, message)))
        })
    }

    async fn archive_idle(
        &self,
        cutoff: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<(SessionId, u64)>> {
        let (cutoff, now) = (trunc(cutoff), trunc(now));
        write_tx!(self, |tx, events| {
            let ids = tx
                .query(
                    "UPDATE sessions SET status = 'archived' WHERE status = 'active' AND last_activity < $1
                     RETURNING id, message_count",
                    &[&cutoff],
                )
                .await?
                .iter()
                .map(|r| Ok((SessionId(r.col(0)?), r.count(1)?)))
                .collect::<StoreResult<Vec<_>>>()?;
            for (id, _) in &ids {
                events.push(
                    AuditEvent::new(
                        now,
                        "system",
                        "archive",
                        id.as_str(),
                        "ok",
                        &RequestMeta::default(),
                    )
                    .in_session(id),
                );
            }
            Ok(ids)
        })
    }

    async fn access_log(
        &self,
        session: &SessionId,
        account: &UserId,
        limit: u32,
    ) -> StoreResult<Vec<AuditRow>> {
        let c = self.client().await?;
        let sql = super::ACCESS_LOG_SQL
            .replace("?1", "$1")
            .replace("?2", "$2")
            .replace("?3", "$3");
        c.query(
            &sql,
            &[&session.as_str(), &account.as_str(), &i64::from(limit)],
        )
        .await?
        .iter()
        .map(audit_from_row)
        .collect()
    }

    async fn set_user_email(
        &self,
        user: &UserId,
        email: Option<String>,
        audit: AuditEvent,
    ) -> StoreResult<()> {
        let (audit, email) = (&audit, &email);
        let now = trunc(audit.time);
        write_tx!(self, |tx, events| {
            let exists = tx
                .query_opt("SELECT 1 FROM users WHERE id = $1", &[&user.as_str()])
                .await?
                .is_some();
            if !exists {
                return Err(StoreError::NotFound);
            }
            match email {
                Some(e) => {
                    tx.execute(
                        "INSERT INTO user_emails (user_id, email, updated_at) VALUES ($1, $2, $3)
                         ON CONFLICT (user_id) DO UPDATE SET email = excluded.email, updated_at = excluded.updated_at",
                        &[&user.as_str(), e, &now],
                    )
                    .await?
                }
                None => {
                    tx.execute("DELETE FROM user_emails WHERE user_id = $1", &[&user.as_str()])
                        .await?
                }
            };
            events.push(audit.clone());
            Ok(())
        })
    }

    async fn claim_urgent_mail(
        &self,
        cutoff: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<UrgentMail>> {
        let (cutoff, now) = (trunc(cutoff), trunc(now));
        let c = self.client().await?;
        // One statement: the row locks make two nodes' claims disjoint.
        let rows = c
            .query(
                "UPDATE messages m SET urgent_mailed_at = $2 FROM users u JOIN user_emails e ON e.user_id = u.id
                 WHERE u.id = m.recipient_id AND u.kind = 'medecin'
                   AND m.is_urgent AND m.urgent_mailed_at IS NULL AND m.read_at IS NULL AND m.deleted_at IS NULL
                   AND m.created_at <= $1
                 RETURNING m.id, m.recipient_id, e.email",
                &[&cutoff, &now],
            )
            .await?
            .iter()
            .map(|r| Ok((MessageId(r.col(0)?), UserId(r.col(1)?), r.col::<String>(2)?)))
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(UrgentMail::group(rows))
    }

    async fn release_urgent_mail(&self, ids: Vec<MessageId>) -> StoreResult<()> {
        let c = self.client().await?;
        let ids: Vec<&str> = ids.iter().map(MessageId::as_str).collect();
        c.execute(
            "UPDATE messages SET urgent_mailed_at = NULL WHERE id = ANY($1)",
            &[&ids],
        )
        .await?;
        Ok(())
    }

    async fn absence(&self, doctor: &UserId) -> StoreResult<Option<(String, Absence)>> {
        let c = self.client().await?;
        c.query_opt(
            "SELECT id, starts_at, ends_at, note FROM absences WHERE doctor_id = $1",
            &[&doctor.as_str()],
        )
        .await?
        .map(|r| {
            Ok((
                r.col(0)?,
                Absence {
                    from: r.col(1)?,
                    until: r.col(2)?,
                    note: r.col(3)?,
                },
            ))
        })
        .transpose()
    }

    async fn set_absence(
        &self,
        doctor: &UserId,
        absence: Option<(String, Absence)>,
        audit: AuditEvent,
    ) -> StoreResult<()> {
        let (audit, absence) = (&audit, &absence);
        write_tx!(self, |tx, events| {
            match absence {
                Some((id, a)) => {
                    tx.execute(
                        "INSERT INTO absences (doctor_id, id, starts_at, ends_at, note) VALUES ($1, $2, $3, $4, $5)
                         ON CONFLICT (doctor_id) DO UPDATE SET id = excluded.id, starts_at = excluded.starts_at,
                           ends_at = excluded.ends_at, note = excluded.note",
                        &[&doctor.as_str(), id, &trunc(a.from), &trunc(a.until), &a.note],
                    )
                    .await?
                }
                None => {
                    tx.execute("DELETE FROM absences WHERE doctor_id = $1", &[&doctor.as_str()])
                        .await?
                }
            };
            events.push(audit.clone());
            Ok(())
        })
    }

    async fn office_hours(&self, doctor: &UserId) -> StoreResult<Option<OfficeHours>> {
        let c = self.client().await?;
        c.query_opt(
            "SELECT hours FROM office_hours WHERE doctor_id = $1",
            &[&doctor.as_str()],
        )
        .await?
        .map(|r| {
            let json: String = r.col(0)?;
            serde_json::from_str(&json).map_err(|e| StoreError::Corrupt(e.to_string()))
        })
        .transpose()
    }

    async fn set_office_hours(
        &self,
        doctor: &UserId,
        hours: Option<OfficeHours>,
        audit: AuditEvent,
    ) -> StoreResult<()> {
        let json = hours
            .map(|h| serde_json::to_string(&h))
            .transpose()
            .map_err(|e| StoreError::Invalid(e.to_string()))?;
        let (audit, json) = (&audit, &json);
        write_tx!(self, |tx, events| {
            match json {
                Some(j) => {
                    tx.execute(
                        "INSERT INTO office_hours (doctor_id, hours) VALUES ($1, $2)
                         ON CONFLICT (doctor_id) DO UPDATE SET hours = excluded.hours",
                        &[&doctor.as_str(), j],
                    )
                    .await?
                }
                None => {
                    tx.execute(
                        "DELETE FROM office_hours WHERE doctor_id = $1",
                        &[&doctor.as_str()],
                    )
                    .await?
                }
            };
            events.push(audit.clone());
            Ok(())
        })
    }

    async fn sealed_templates(&self, user: &UserId) -> StoreResult<Option<SealedTemplates>> {
        let c = self.client().await?;
        c.query_opt(
            "SELECT sealed, version, updated_at FROM private_data WHERE user_id = $1 AND kind = 'reply_templates'",
            &[&user.as_str()],
        )
        .await?
        .map(|r| {
            Ok(SealedTemplates {
                sealed: r.col(0)?,
                version: u64::try_from(r.col::<i64>(1)?).unwrap_or(0),
                updated_at: r.col(2)?,
            })
        })
        .transpose()
    }

    async fn put_sealed_templates(
        &self,
        user: &UserId,
        sealed: String,
        base_version: u64,
        now: DateTime<Utc>,
        audit: AuditEvent,
    ) -> StoreResult<SealedTemplates> {
        let (audit, sealed, now) = (&audit, &sealed, trunc(now));
        let base = i64::try_from(base_version).unwrap_or(i64::MAX);
        write_tx!(self, |tx, events| {
            // The row's lock (or the key's, for a first save) orders two devices' saves.
            let current: i64 = tx
                .query_opt(
                    "SELECT version FROM private_data WHERE user_id = $1 AND kind = 'reply_templates' FOR UPDATE",
                    &[&user.as_str()],
                )
                .await?
                .map(|r| r.col::<i64>(0))
                .transpose()?
                .unwrap_or(0);
            if current != base {
                return Err(StoreError::Stale(format!(
                    "the templates changed on another device (version {current}, not {base}); reload them"
                )));
            }
            let version = current + 1;
            // Two first saves see no row to lock: the later one updates nothing.
            let written = tx
                .execute(
                    "INSERT INTO private_data (user_id, kind, sealed, version, updated_at) VALUES ($1, 'reply_templates', $2, $3, $4)
                     ON CONFLICT (user_id, kind) DO UPDATE SET sealed = excluded.sealed, version = excluded.version,
                       updated_at = excluded.updated_at
                     WHERE private_data.version = $3 - 1",
                    &[&user.as_str(), sealed, &version, &now],
                )
                .await?;
            if written == 0 {
                return Err(StoreError::Stale(
                    "the templates changed on another device; reload them".into(),
                ));
            }
            events.push(audit.clone());
            Ok(SealedTemplates {
                sealed: sealed.clone(),
                version: u64::try_from(version).unwrap_or(0),
                updated_at: now,
            })
        })
    }

    async fn absence_reply(&self, reply: AbsenceReply) -> StoreResult<Option<Message>> {
        let reply = &reply;
        let now = trunc(reply.now);
        write_tx!(self, |tx, _events| {
            let row = tx
                .query_opt(
                    "UPDATE sessions SET absence_replied = $3, last_seq = last_seq + 1, message_count = message_count + 1,
                     last_activity = $2, unread_patient = unread_patient + 1
                     WHERE id = $1 AND status <> 'closed' AND (absence_replied IS NULL OR absence_replied <> $3)
                     RETURNING last_seq, patient_id",
                    &[&reply.session_id.as_str(), &now, &reply.absence_id],
                )
                .await?;
            let Some(row) = row else {
                return Ok(None);
            };
            let seq: i64 = row.col(0)?;
            let patient_id: String = row.col(1)?;
            let event = SystemEvent {
                event: reply.event,
                reason: None,
                until: Some(reply.until),
            };
            insert_system_message(
                tx,
                &reply.session_id,
                &reply.message_id,
                seq,
                &patient_id,
                &event,
                now,
            )
            .await?;
            load_message(tx, reply.message_id.as_str()).await
        })
    }

    async fn active_users_since(&self, since: DateTime<Utc>) -> StoreResult<u64> {
        let c = self.client().await?;
        let since = trunc(since);
        c.query_one(
            "SELECT COUNT(DISTINCT f.user_id) FROM auth_families f
             WHERE f.created_at >= $1 OR EXISTS (SELECT 1 FROM refresh_tokens r WHERE r.family_id = f.id AND r.created_at >= $1)",
            &[&since],
        )
        .await?
        .count(0)
    }

    async fn purge_before(
        &self,
        cutoff: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<(u64, Vec<AttachmentId>)> {
        let (cutoff, now) = (trunc(cutoff), trunc(now));
        write_tx!(self, |tx, events| {
            let attachments = tx
                .query(
                    "DELETE FROM attachments a USING messages m WHERE m.id = a.message_id AND m.created_at < $1 RETURNING a.id",
                    &[&cutoff],
                )
                .await?
                .iter()
                .map(|r| Ok(AttachmentId(r.col(0)?)))
                .collect::<StoreResult<Vec<_>>>()?;
            let n = tx
                .execute("DELETE FROM messages WHERE created_at < $1", &[&cutoff])
                .await?;
            if n > 0 {
                events.push(AuditEvent::new(
                    now,
                    "system",
                    "retention_purge",
                    format!("{n} messages"),
                    "ok",
                    &RequestMeta::default(),
                ));
            }
            Ok((n, attachments))
        })
    }

    async fn append_message(&self, msg: NewMessage) -> StoreResult<Appended> {
        let msg = &msg;
        let result = store_result(async {
            write_tx!(self, |tx, events| { append_in(tx, events, msg).await })
        })
        .await;
        match result {
            // A concurrent send with the same clientMessageId won the race: answer with it.
            Err(StoreError::Conflict(_)) => {
                let c = self.client().await?;
                let existing = c
                    .query_opt(
                        "SELECT id FROM messages WHERE sender_id = $1 AND client_message_id = $2",
                        &[&msg.sender.id.as_str(), &msg.client_message_id.as_str()],
                    )
                    .await?;
                match existing {
                    Some(r) => {
                        let id: String = r.col(0)?;
                        Ok(Appended::Existing(
                            load_message(&c, &id).await?.ok_or(StoreError::NotFound)?,
                        ))
                    }
                    None => Err(StoreError::Conflict("message id already used".into())),
                }
            }
            other => other,
        }
    }

    async fn message(&self, id: &MessageId) -> StoreResult<Option<Message>> {
        load_message(&self.client().await?, id.as_str()).await
    }

    async fn message_parties(&self, id: &MessageId) -> StoreResult<Option<MessageParties>> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(
                "SELECT m.id, m.session_id, s.context_kind, s.context_id, m.sender_id, m.recipient_id, m.status, m.deleted_at
                 FROM messages m JOIN sessions s ON s.id = m.session_id WHERE m.id = $1",
            )
            .await?;
        c.query_opt(&stmt, &[&id.as_str()])
            .await?
            .map(|r| {
                Ok(MessageParties {
                    id: MessageId(r.col(0)?),
                    session_id: SessionId(r.col(1)?),
                    context_kind: r.parsed(2)?,
                    context_id: ContextId(r.col(3)?),
                    sender_id: UserId(r.col(4)?),
                    recipient_id: UserId(r.col(5)?),
                    status: r.parsed(6)?,
                    deleted: r.col::<Option<DateTime<Utc>>>(7)?.is_some(),
                })
            })
            .transpose()
    }

    async fn mark_status(
        &self,
        id: &MessageId,
        by: &UserId,
        status: MessageStatus,
        now: DateTime<Utc>,
        audit: Option<AuditEvent>,
    ) -> StoreResult<Option<StatusChange>> {
        let audit = &audit;
        let now = trunc(now);
        write_tx!(self, |tx, events| {
            let row = tx
                .query_opt(
                    "SELECT m.session_id, m.sender_id, m.status, s.patient_id FROM messages m JOIN sessions s ON s.id = m.session_id
                     WHERE m.id = $1 AND m.recipient_id = $2 FOR UPDATE OF m",
                    &[&id.as_str(), &by.as_str()],
                )
                .await?;
            let Some(r) = row else {
                return Err(StoreError::NotFound);
            };
            let session_id: String = r.col(0)?;
            let sender_id: String = r.col(1)?;
            let current: MessageStatus = r.parsed(2)?;
            let patient_id: String = r.col(3)?;
            if status.rank() <= current.rank() {
                return Ok(None);
            }
            // Delivered leaves `read_at` alone, so that the (recipient_id,
            // read_at) index is not rewritten (migration 0004).
            tx.execute(
                if status == MessageStatus::Read {
                    "UPDATE messages SET status = $2, delivered_at = COALESCE(delivered_at, $3), read_at = $3 WHERE id = $1"
                } else {
                    "UPDATE messages SET status = $2, delivered_at = COALESCE(delivered_at, $3) WHERE id = $1"
                },
                &[&id.as_str(), &status.as_str(), &now],
            )
            .await?;
            if status == MessageStatus::Read {
                tx.execute(
                    if by.as_str() == patient_id {
                        "UPDATE sessions SET unread_patient = GREATEST(unread_patient - 1, 0) WHERE id = $1"
                    } else {
                        "UPDATE sessions SET unread_doctor = GREATEST(unread_doctor - 1, 0) WHERE id = $1"
                    },
                    &[&session_id],
                )
                .await?;
            }
            events.extend(audit.clone());
            Ok(Some(StatusChange {
                message_id: id.clone(),
                session_id: SessionId(session_id),
                sender_id: UserId(sender_id),
                status,
                at: now,
            }))
        })
    }

    async fn delete_message(
        &self,
        id: &MessageId,
        by: &UserId,
        now: DateTime<Utc>,
        audit: AuditEvent,
    ) -> StoreResult<Deleted> {
        let audit = &audit;
        let now = trunc(now);
        write_tx!(self, |tx, events| {
            let row = tx
                .query_opt(
                    "SELECT m.session_id, m.status, s.patient_id, m.deleted_at FROM messages m JOIN sessions s ON s.id = m.session_id
                     WHERE m.id = $1 AND m.sender_id = $2 FOR UPDATE OF m",
                    &[&id.as_str(), &by.as_str()],
                )
                .await?;
            let Some(r) = row else {
                return Err(StoreError::NotFound);
            };
            let session_id: String = r.col(0)?;
            let status: String = r.col(1)?;
            let patient_id: String = r.col(2)?;
            let deleted_at: Option<DateTime<Utc>> = r.col(3)?;
            let attachment_ids = tx
                .query(
                    "SELECT id FROM attachments WHERE message_id = $1",
                    &[&id.as_str()],
                )
                .await?
                .iter()
                .map(|r| Ok(AttachmentId(r.col(0)?)))
                .collect::<StoreResult<Vec<_>>>()?;
            if deleted_at.is_none() {
                tx.execute(
                    "UPDATE messages SET content = '', attachments = '[]', deleted_at = $2 WHERE id = $1",
                    &[&id.as_str(), &now],
                )
                .await?;
                tx.execute(
                    "DELETE FROM attachments WHERE message_id = $1",
                    &[&id.as_str()],
                )
                .await?;
                if status != "read" {
                    // The recipient of a message from the patient is the doctor, and vice versa.
                    tx.execute(
                        if by.as_str() == patient_id {
                            "UPDATE sessions SET unread_doctor = GREATEST(unread_doctor - 1, 0) WHERE id = $1"
                        } else {
                            "UPDATE sessions SET unread_patient = GREATEST(unread_patient - 1, 0) WHERE id = $1"
                        },
                        &[&session_id],
                    )
                    .await?;
                }
                events.push(audit.clone());
            }
            let message = load_message(tx, id.as_str())
                .await?
                .ok_or(StoreError::NotFound)?;
            Ok(Deleted {
                message,
                attachment_ids,
            })
        })
    }

    async fn history(
        &self,
        session: &SessionId,
        before: Option<u64>,
        limit: u32,
    ) -> StoreResult<(Vec<Message>, bool)> {
        let before = before.map(to_i64).unwrap_or(i64::MAX);
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(&format!(
                "{MSG_SELECT} WHERE m.session_id = $1 AND m.seq < $2 ORDER BY m.seq DESC LIMIT $3"
            ))
            .await?;
        let mut msgs = c
            .query(
                &stmt,
                &[&session.as_str(), &before, &(i64::from(limit) + 1)],
            )
            .await?
            .iter()
            .map(message_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        let has_more = msgs.len() > limit as usize;
        msgs.truncate(limit as usize);
        msgs.reverse();
        Ok((msgs, has_more))
    }

    async fn messages_after(
        &self,
        session: &SessionId,
        after: u64,
        limit: u32,
    ) -> StoreResult<Vec<Message>> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(&format!(
                "{MSG_SELECT} WHERE m.session_id = $1 AND m.seq > $2 ORDER BY m.seq ASC LIMIT $3"
            ))
            .await?;
        c.query(
            &stmt,
            &[&session.as_str(), &to_i64(after), &i64::from(limit)],
        )
        .await?
        .iter()
        .map(message_from_row)
        .collect()
    }

    async fn stats(&self, user: &UserId) -> StoreResult<StatsResponse> {
        let c = self.client().await?;
        let u = user.as_str();
        let r = c
            .query_one(
                "SELECT
                   (SELECT COUNT(*) FROM messages WHERE sender_id = $1 AND deleted_at IS NULL),
                   (SELECT COUNT(*) FROM messages WHERE recipient_id = $1 AND deleted_at IS NULL),
                   (SELECT COUNT(*) FROM messages WHERE recipient_id = $1 AND read_at IS NULL AND deleted_at IS NULL),
                   (SELECT COUNT(*) FROM sessions WHERE (patient_id = $1 OR doctor_id = $1) AND status = 'active'),
                   (SELECT COUNT(*) FROM sessions WHERE (patient_id = $1 OR doctor_id = $1) AND status = 'archived')",
                &[&u],
            )
            .await?;
        // Response time: from a message to the user to the user's next message in that session.
        let rows = c
            .query(
                "SELECT m.session_id, m.sender_id, m.created_at FROM messages m JOIN sessions s ON s.id = m.session_id
                 WHERE s.patient_id = $1 OR s.doctor_id = $1 ORDER BY m.session_id, m.seq",
                &[&u],
            )
            .await?;
        let mut waits = Vec::new();
        let mut pending: Option<(String, i64)> = None;
        for row in &rows {
            let session: String = row.col(0)?;
            let sender: &str = row.col(1)?;
            let at = ms(row.col(2)?);
            if pending.as_ref().is_some_and(|(s, _)| *s != session) {
                pending = None;
            }
            if sender == u {
                if let Some((_, since)) = pending.take() {
                    waits.push((at - since) as f64 / 1000.0);
                }
            } else if pending.is_none() {
                pending = Some((session, at));
            }
        }
        waits.sort_by(f64::total_cmp);
        let median = match waits.len() {
            0 => None,
            n if n % 2 == 1 => Some(waits[n / 2]),
            n => Some((waits[n / 2 - 1] + waits[n / 2]) / 2.0),
        };
        Ok(StatsResponse {
            sent: r.count(0)?,
            received: r.count(1)?,
            unread: r.count(2)?,
            active_sessions: r.count(3)?,
            archived_sessions: r.count(4)?,
            median_response_time_secs: median,
        })
    }

    async fn notifications(&self, user: &UserId, limit: u32) -> StoreResult<Vec<Notification>> {
        let c = self.client().await?;
        let stmt = c.prepare_cached(NOTIF_SELECT).await?;
        c.query(&stmt, &[&user.as_str(), &i64::from(limit)])
            .await?
            .iter()
            .map(notification_from_row)
            .collect()
    }

    async fn insert_attachment(
        &self,
        record: AttachmentRecord,
        audit: AuditEvent,
    ) -> StoreResult<()> {
        let (record, audit) = (&record, &audit);
        write_tx!(self, |tx, events| {
            let a = &record.attachment;
            tx.execute(
                "INSERT INTO attachments (id, owner_id, name, mime_type, size, sha256, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                &[
                    &a.id.as_str(),
                    &record.owner_id.as_str(),
                    &a.name,
                    &a.mime_type,
                    &to_i64(a.size),
                    &a.sha256,
                    &trunc(audit.time),
                ],
            )
            .await?;
            events.push(audit.clone());
            Ok(())
        })
    }

    async fn attachment(
        &self,
        id: &AttachmentId,
    ) -> StoreResult<Option<(AttachmentRecord, Option<SessionId>)>> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(
                "SELECT a.id, a.name, a.mime_type, a.size, a.sha256, a.owner_id, a.message_id, m.session_id
                 FROM attachments a LEFT JOIN messages m ON m.id = a.message_id WHERE a.id = $1",
            )
            .await?;
        c.query_opt(&stmt, &[&id.as_str()])
            .await?
            .map(|r| {
                Ok((
                    AttachmentRecord {
                        attachment: Attachment::stored(
                            AttachmentId(r.col(0)?),
                            r.col(1)?,
                            r.col(2)?,
                            r.count(3)?,
                            r.col(4)?,
                        ),
                        owner_id: UserId(r.col(5)?),
                        message_id: r.col::<Option<String>>(6)?.map(MessageId),
                    },
                    r.col::<Option<String>>(7)?.map(SessionId),
                ))
            })
            .transpose()
    }

    async fn attachment_bytes(&self, owner: &UserId) -> StoreResult<u64> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(
                "SELECT COALESCE(SUM(size), 0)::BIGINT FROM attachments WHERE owner_id = $1",
            )
            .await?;
        c.query_one(&stmt, &[&owner.as_str()]).await?.count(0)
    }

    async fn purge_unattached(
        &self,
        cutoff: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<AttachmentId>> {
        let (cutoff, now) = (trunc(cutoff), trunc(now));
        write_tx!(self, |tx, events| {
            let ids = tx
                .query(
                    "DELETE FROM attachments WHERE message_id IS NULL AND created_at < $1 RETURNING id",
                    &[&cutoff],
                )
                .await?
                .iter()
                .map(|r| Ok(AttachmentId(r.col(0)?)))
                .collect::<StoreResult<Vec<_>>>()?;
            if !ids.is_empty() {
                events.push(AuditEvent::new(
                    now,
                    "system",
                    "orphan_purge",
                    format!("{} attachments", ids.len()),
                    "ok",
                    &RequestMeta::default(),
                ));
            }
            Ok(ids)
        })
    }

    async fn audit(&self, event: AuditEvent) -> StoreResult<()> {
        let event = &event;
        write_tx!(self, |_tx, events| {
            events.push(event.clone());
            Ok(())
        })
    }

    async fn audit_rows(
        &self,
        since: Option<DateTime<Utc>>,
        actor: Option<String>,
        session: Option<SessionId>,
        limit: u32,
    ) -> StoreResult<Vec<AuditRow>> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(&format!(
                "{AUDIT_SELECT} WHERE ($1::timestamptz IS NULL OR time >= $1) AND ($2::text IS NULL OR actor = $2)
                 AND ($3::text IS NULL OR session_id = $3) ORDER BY id ASC LIMIT $4"
            ))
            .await?;
        let session = session.map(|s| s.0);
        c.query(
            &stmt,
            &[&since.map(trunc), &actor, &session, &i64::from(limit)],
        )
        .await?
        .iter()
        .map(audit_from_row)
        .collect()
    }

    async fn verify_audit(&self) -> StoreResult<AuditVerdict> {
        Ok(self.verify_audit_report().await?.verdict)
    }

    async fn verify_audit_report(&self) -> StoreResult<AuditReport> {
        // The files before the rows: a checkpoint written meanwhile anchors a
        // row already committed, so the rows read next include it.
        let mut files = match &self.anchor {
            Some(a) => FileCheck::read_all(a.anchor())?,
            None => Vec::new(),
        };
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(&format!(
                "{AUDIT_SELECT} WHERE id > $1 ORDER BY id ASC LIMIT $2"
            ))
            .await?;
        let mut prev = AUDIT_GENESIS.to_owned();
        let mut n = 0u64;
        let mut last_id = 0i64;
        let mut chain_break: Option<(i64, String)> = None;
        loop {
            let rows = c.query(&stmt, &[&last_id, &VERIFY_PAGE]).await?;
            if rows.is_empty() {
                break;
            }
            for r in &rows {
                let row = audit_from_row(r)?;
                if chain_break.is_none() {
                    chain_break = chain_fault(&prev, &row).map(|reason| (row.id, reason));
                }
                // Past a break the checkpoints are still compared with the
                // stored hashes: each file gets its own full result.
                for f in &mut files {
                    f.check(&row);
                }
                prev = row.hash;
                last_id = row.id;
                n += 1;
            }
        }
        let files: Vec<AnchorFileVerdict> = files.into_iter().map(|f| f.finish(last_id)).collect();
        let verdict = if let Some((row_id, reason)) = chain_break {
            AuditVerdict::Broken { row_id, reason }
        } else if let Some((f, row_id, reason)) = files.iter().find_map(|f| match &f.outcome {
            AnchorOutcome::Broken { row_id, reason } => Some((f, *row_id, reason)),
            AnchorOutcome::Holds { .. } => None,
        }) {
            AuditVerdict::Broken {
                row_id,
                reason: format!("{}: {reason}", f.path.display()),
            }
        } else {
            let anchored_through = files
                .iter()
                .filter_map(|f| match f.outcome {
                    AnchorOutcome::Holds {
                        anchored_through, ..
                    } => anchored_through,
                    AnchorOutcome::Broken { .. } => None,
                })
                .max();
            if self.anchor.is_some() && anchored_through.is_none() && n > 0 {
                AuditVerdict::Broken {
                    row_id: last_id,
                    reason: "no checkpoint anchors the trail (checkpoint files missing or emptied)"
                        .into(),
                }
            } else {
                AuditVerdict::Intact {
                    rows: n,
                    last_row: last_id,
                    anchored_through,
                    head: prev,
                }
            }
        };
        Ok(AuditReport { verdict, files })
    }

    async fn checkpoint_audit(&self) -> StoreResult<()> {
        let Some(PgAnchor::Node(node)) = &self.anchor else {
            return Ok(());
        };
        let mut state = self.anchored.lock().await;
        if state.alarmed {
            return Ok(());
        }
        let c = self.client().await?;
        let Some(head) = c
            .query_opt("SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1", &[])
            .await?
        else {
            return Ok(());
        };
        let head: (i64, String) = (head.try_get(0)?, head.try_get(1)?);
        if let Some((id, hash)) = &state.last {
            if *id == head.0 && *hash == head.1 {
                return Ok(());
            }
            // An early warning, before anyone runs `audit --verify`: the row
            // this node anchored last must still be there with its hash.
            let still: Option<String> = c
                .query_opt("SELECT hash FROM audit WHERE id = $1", &[id])
                .await?
                .map(|r| r.try_get(0))
                .transpose()?;
            if still.as_deref() != Some(hash.as_str()) {
                tracing::error!(
                    row_id = id,
                    file = %node.path().display(),
                    "the audit trail no longer holds the row this node anchored last \
                     (rewritten or cut in the database): no more checkpoints from this node; \
                     run dmp-server audit --verify"
                );
                state.alarmed = true;
                return Ok(());
            }
        }
        let (node, line) = (node.clone(), head.clone());
        tokio::task::spawn_blocking(move || node.append(line.0, &line.1))
            .await
            .map_err(|e| StoreError::Backend(e.to_string()))?
            .map_err(|e| StoreError::Io(std::io::Error::other(e.to_string())))?;
        state.last = Some(head);
        Ok(())
    }

    async fn backup_to(&self, _dest: &Path) -> StoreResult<()> {
        Err(StoreError::Unsupported(
            "an online copy of a PostgreSQL database is made with pg_dump (or base backups and WAL archiving for point-in-time recovery), see docs/deployment.md".into(),
        ))
    }
}

/// Why `row` does not continue the chain after `prev`, if it does not.
fn chain_fault(prev: &str, row: &AuditRow) -> Option<String> {
    if row.prev_hash != prev {
        return Some("does not link to the previous row".into());
    }
    let ev = AuditEvent {
        time: row.time,
        actor: row.actor.clone(),
        action: row.action.clone(),
        target: row.target.clone(),
        outcome: row.outcome.clone(),
        meta: RequestMeta {
            ip: row.ip.clone(),
            user_agent: row.user_agent.clone(),
            request_id: row.request_id.clone(),
        },
        session_id: row.session_id.clone(),
    };
    (audit_hash(prev, ms(row.time), &ev) != row.hash)
        .then(|| "content does not match its hash".to_owned())
}

/// One checkpoint file being checked against the rows, in id order.
struct FileCheck {
    path: std::path::PathBuf,
    pending: std::collections::VecDeque<Checkpoint>,
    count: usize,
    anchored: Option<i64>,
    broken: Option<(i64, String)>,
}

impl FileCheck {
    /// Every checkpoint file of the anchor, read and their MACs checked.
    fn read_all(anchor: &AuditAnchor) -> StoreResult<Vec<Self>> {
        let paths = anchor
            .checkpoint_files()
            .map_err(|e| StoreError::Invalid(e.to_string()))?;
        Ok(paths
            .into_iter()
            .map(|path| {
                let mut f = Self {
                    path,
                    pending: std::collections::VecDeque::new(),
                    count: 0,
                    anchored: None,
                    broken: None,
                };
                match anchor.read_file(&f.path) {
                    Ok(Checkpoints::Valid(mut v)) => {
                        f.count = v.len();
                        v.sort_by_key(|cp| cp.row_id);
                        // Row 0 is the empty trail.
                        f.pending = v.into_iter().filter(|cp| cp.row_id > 0).collect();
                    }
                    Ok(Checkpoints::Forged { line }) => {
                        f.broken = Some((
                            0,
                            format!(
                                "checkpoint line {line} does not verify: forged, or made with another key"
                            ),
                        ));
                    }
                    Err(e) => f.broken = Some((0, format!("cannot read it: {e}"))),
                }
                f
            })
            .collect())
    }

    /// Compares the checkpoints up to `row` with it.
    fn check(&mut self, row: &AuditRow) {
        if self.broken.is_some() {
            return;
        }
        while let Some(cp) = self.pending.front() {
            if cp.row_id > row.id {
                break;
            }
            if cp.row_id < row.id {
                self.broken = Some((
                    cp.row_id,
                    "a row anchored by a checkpoint is missing".into(),
                ));
                return;
            }
            if cp.hash != row.hash {
                self.broken = Some((
                    row.id,
                    "rewritten: the chain no longer has the hash a checkpoint anchored here".into(),
                ));
                return;
            }
            self.anchored = Some(row.id);
            self.pending.pop_front();
        }
    }

    /// The outcome once every row was seen.
    fn finish(self, last_id: i64) -> AnchorFileVerdict {
        let outcome = match (self.broken, self.pending.back()) {
            (Some((row_id, reason)), _) => AnchorOutcome::Broken { row_id, reason },
            (None, Some(cp)) => AnchorOutcome::Broken {
                row_id: cp.row_id,
                reason: format!(
                    "truncated: a checkpoint anchors row {} but the trail ends at row {last_id}",
                    cp.row_id
                ),
            },
            (None, None) => AnchorOutcome::Holds {
                checkpoints: self.count,
                anchored_through: self.anchored,
            },
        };
        AnchorFileVerdict {
            path: self.path,
            outcome,
        }
    }
}

/// The body of `append_message`, inside its transaction.
async fn append_in(
    tx: &deadpool_postgres::Transaction<'_>,
    events: &mut Vec<AuditEvent>,
    msg: &NewMessage,
) -> StoreResult<Appended> {
    let existing = tx
        .query_opt(
            "SELECT id FROM messages WHERE sender_id = $1 AND client_message_id = $2",
            &[&msg.sender.id.as_str(), &msg.client_message_id.as_str()],
        )
        .await?;
    if let Some(r) = existing {
        let id: String = r.col(0)?;
        return Ok(Appended::Existing(
            load_message(tx, &id).await?.ok_or(StoreError::NotFound)?,
        ));
    }
    let now = trunc(msg.now);
    let mut attachments = Vec::with_capacity(msg.attachments.len());
    for aid in &msg.attachments {
        // Locked so that two sends cannot both link the same upload.
        let a = tx
            .query_opt(
                "SELECT name, mime_type, size, sha256 FROM attachments WHERE id = $1 AND owner_id = $2 AND message_id IS NULL FOR UPDATE",
                &[&aid.as_str(), &msg.sender.id.as_str()],
            )
            .await?;
        match a {
            Some(r) => attachments.push(Attachment::stored(
                aid.clone(),
                r.col(0)?,
                r.col(1)?,
                r.count(2)?,
                r.col(3)?,
            )),
            None => {
                return Err(StoreError::Invalid(format!(
                    "attachment {aid} is unknown, not yours or already sent"
                )))
            }
        }
    }
    let attachments_json =
        serde_json::to_string(&attachments).map_err(|e| StoreError::Invalid(e.to_string()))?;
    let session_id = Session::id_for(
        msg.context.kind,
        &msg.context.id,
        &msg.context.patient_id,
        &msg.context.doctor_id,
    );
    let to_patient = msg.recipient.id == msg.context.patient_id;
    // The session row's lock (held to commit) orders the appends of one session.
    let next_seq = tx
        .prepare_cached(if to_patient {
            // The doctor's message ends the patient's wait and reads back how
            // long it was (SET sees the row as it was); a patient's message
            // starts one unless one runs (migration 0004).
            "UPDATE sessions SET last_seq = last_seq + 1, message_count = message_count + 1, last_activity = $2,
             status = 'active', unread_patient = unread_patient + 1, answered_wait = waiting_since, waiting_since = NULL
             WHERE id = $1 AND status <> 'closed' RETURNING last_seq, answered_wait"
        } else {
            "UPDATE sessions SET last_seq = last_seq + 1, message_count = message_count + 1, last_activity = $2,
             status = 'active', unread_doctor = unread_doctor + 1, waiting_since = COALESCE(waiting_since, $2)
             WHERE id = $1 AND status <> 'closed' RETURNING last_seq, NULL::timestamptz"
        })
        .await?;
    let row = match tx
        .query_opt(&next_seq, &[&session_id.as_str(), &now])
        .await?
    {
        Some(r) => r,
        None => {
            ensure_session_row(tx, &msg.context, now).await?;
            tx.query_opt(&next_seq, &[&session_id.as_str(), &now])
                .await?
                // The row exists: it is closed.
                .ok_or(StoreError::SessionClosed)?
        }
    };
    let seq: i64 = row.col(0)?;
    let answered_wait: Option<DateTime<Utc>> = row.col(1)?;
    for a in &attachments {
        tx.execute(
            "UPDATE attachments SET message_id = $2 WHERE id = $1",
            &[&a.id.as_str(), &msg.id.as_str()],
        )
        .await?;
    }
    let insert = tx
        .prepare_cached(
            "INSERT INTO messages (id, session_id, seq, client_message_id, sender_id, recipient_id, kind, content, created_at,
               status, is_urgent, requires_response, attachments, category)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'sent', $10, $11, $12, $13)",
        )
        .await?;
    tx.execute(
        &insert,
        &[
            &msg.id.as_str(),
            &session_id.as_str(),
            &seq,
            &msg.client_message_id.as_str(),
            &msg.sender.id.as_str(),
            &msg.recipient.id.as_str(),
            &msg.kind.as_str(),
            &msg.content,
            &now,
            &msg.metadata.is_urgent,
            &msg.metadata.requires_response,
            &attachments_json,
            &msg.metadata.category.map(QuestionCategory::as_str),
        ],
    )
    .await?;
    events.push(
        AuditEvent::new(
            now,
            msg.sender.id.as_str(),
            "send",
            msg.id.as_str(),
            "ok",
            &msg.meta,
        )
        .in_session(&session_id),
    );
    let message = Message {
        id: msg.id.clone(),
        content: msg.content.clone(),
        kind: msg.kind,
        sender: msg.sender.clone(),
        recipient: msg.recipient.clone(),
        context: ContextRef {
            kind: msg.context.kind,
            id: msg.context.id.clone(),
        },
        timestamp: now,
        status: MessageStatus::Sent,
        attachments,
        metadata: msg.metadata,
        client_message_id: msg.client_message_id.clone(),
        session_id: session_id.clone(),
        seq: u64::try_from(seq).unwrap_or(0),
        delivered_at: None,
        read_at: None,
        deleted_at: None,
        encrypted: None,
        e2e_error: None,
    };
    Ok(Appended::New {
        message,
        answered_wait,
    })
}

/// Helpers for tests that need their own database (the conformance suite).
#[doc(hidden)]
pub mod testing {
    use super::*;

    /// Creates an empty database on the server of `admin_url` (a role that
    /// may create databases) and returns the URL of that database.
    pub async fn fresh_database(admin_url: &str) -> StoreResult<String> {
        let name = format!("dmp_test_{}", uuid::Uuid::new_v4().simple());
        execute(admin_url, &format!("CREATE DATABASE {name}")).await?;
        Ok(with_database(admin_url, &name))
    }

    /// Runs SQL statements on the database of `url` (no TLS: loopback test servers).
    pub async fn execute(url: &str, sql: &str) -> StoreResult<()> {
        let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
        let task = tokio::spawn(conn);
        let out = client.batch_execute(sql).await;
        drop(client);
        let _ = task.await;
        Ok(out?)
    }

    /// `url` with its database name replaced.
    pub fn with_database(url: &str, name: &str) -> String {
        let (base, query) = match url.split_once('?') {
            Some((b, q)) => (b, Some(q)),
            None => (url, None),
        };
        let after_scheme = base.find("://").map_or(0, |i| i + 3);
        let host_end = base[after_scheme..]
            .find('/')
            .map_or(base.len(), |i| after_scheme + i);
        let mut out = format!("{}/{name}", &base[..host_end]);
        if let Some(q) = query {
            out.push('?');
            out.push_str(q);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            testing::with_database(
                "postgres://u:p@127.0.0.1:5544/postgres?sslmode=disable",
                "x"
            ),
            "postgres://u:p@127.0.0.1:5544/x?sslmode=disable"
        );
        assert_eq!(
            testing::with_database("postgres://127.0.0.1:5544", "x"),
            "postgres://127.0.0.1:5544/x"
        );
        assert_eq!(
            split_root_cert("postgres://h/db?sslmode=require&sslrootcert=/ca.pem"),
            (
                "postgres://h/db?sslmode=require".to_owned(),
                Some("/ca.pem".to_owned())
            )
        );
    }
}
