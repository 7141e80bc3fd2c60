//! Storage behind a domain trait. The server speaks in domain words
//! (`append_message`, `history`, `mark_status`); each backend is one module
//! with its migrations embedded: SQLite ([`sqlite::SqliteStore`], the
//! embedded default) and PostgreSQL ([`postgres::PgStore`], several nodes).
//! Every backend passes the same conformance suite
//! (`server/tests/store_conformance.rs`); docs/deployment.md says which to run.
//! Attachment bytes live apart, behind [`files::AttachmentFiles`].

pub mod anchor;
pub mod files;
pub mod postgres;
pub mod sqlite;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
pub(crate) use dmp_protocol::api::SealedTemplates;
use dmp_protocol::api::{AuditEntry, StatsResponse};
use dmp_protocol::*;
use std::path::Path;

/// Failures of the store, the same for every backend: each backend maps its
/// engine's errors into these variants, so no caller sees a driver type.
/// Their text is logged, never sent to clients (except [`StoreError::Invalid`]).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness or reference rule of the schema refused the write.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The database cannot be reached, is restarting, or stayed busy past its timeout: retry later.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The stored data is damaged, or not a database of this server.
    #[error("database corrupt: {0}")]
    Corrupt(String),
    /// Any other failure of the engine.
    #[error("database error: {0}")]
    Backend(String),
    /// Filesystem failure (backup, attachments).
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// The thing does not exist (or is not visible to the caller).
    #[error("not found")]
    NotFound,
    /// The input is inconsistent with what is stored; the text is safe to show.
    #[error("{0}")]
    Invalid(String),
    /// This backend does not do that (e.g. an online backup of PostgreSQL: use `pg_dump`).
    #[error("not supported by this database: {0}")]
    Unsupported(String),
    /// The store is shutting down.
    #[error("store closed")]
    Closed,
    /// The conversation is closed: nothing can be appended to it.
    #[error("the conversation is closed")]
    SessionClosed,
    /// The stored value changed since the caller read it (a version check);
    /// the text is safe to show.
    #[error("{0}")]
    Stale(String),
}

impl StoreError {
    /// Whether the failure came from the engine or the disk (a write batch
    /// that saw one must not commit), as opposed to a refusal of the input.
    pub fn is_engine(&self) -> bool {
        matches!(
            self,
            Self::Conflict(_)
                | Self::Unavailable(_)
                | Self::Corrupt(_)
                | Self::Backend(_)
                | Self::Io(_)
        )
    }
}

/// How hard commits are pushed to disk before a write is acknowledged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// Flushed on every commit (SQLite `synchronous = FULL`, PostgreSQL
    /// `synchronous_commit = on`): an acknowledged write survives power loss.
    Full,
    /// SQLite WAL default (survives a process crash, may lose the last commits
    /// on power loss); PostgreSQL `synchronous_commit = off` (may lose the
    /// last commits if the database server crashes).
    Normal,
}

/// Result alias of the store.
pub type StoreResult<T> = Result<T, StoreError>;

/// A user as the server holds it (with the password verifier).
#[derive(Clone)]
pub struct UserRecord {
    /// Id.
    pub id: UserId,
    /// Kind.
    pub kind: UserType,
    /// Display name.
    pub name: String,
    /// Login name.
    pub username: String,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// Disabled accounts cannot log in or use anything.
    pub disabled: bool,
}

impl std::fmt::Debug for UserRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserRecord")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("disabled", &self.disabled)
            .finish_non_exhaustive()
    }
}

impl UserRecord {
    /// The public view.
    pub fn user(&self) -> User {
        User {
            id: self.id.clone(),
            kind: self.kind,
            name: self.name.clone(),
            username: self.username.clone(),
        }
    }
    /// As a message participant.
    pub fn participant(&self) -> Participant {
        Participant {
            id: self.id.clone(),
            kind: self.kind,
            name: self.name.clone(),
        }
    }
}

/// A DMP record as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContextRecord {
    /// ordonnance or examen.
    pub kind: ContextType,
    /// Record id.
    pub id: ContextId,
    /// Title.
    pub title: String,
    /// Date (YYYY-MM-DD).
    pub date: String,
    /// The patient.
    pub patient_id: UserId,
    /// The doctor.
    pub doctor_id: UserId,
    /// Summary.
    pub summary: String,
}

/// An active login (refresh family).
#[derive(Clone, Debug)]
pub struct FamilyRecord {
    /// Family id (the JWT `sid`).
    pub id: String,
    /// Its user.
    pub user_id: UserId,
    /// When it expires.
    pub expires_at: DateTime<Utc>,
}

/// One change to users, contexts or logins, as every server node must learn
/// it: appended to the store's change log in the same transaction as the
/// change itself (docs/directory.md).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DirectoryChange {
    /// A user was created or changed (name, username, credential, disabled flag).
    User(UserId),
    /// A context was created or changed (its participants never change once set).
    Context {
        /// ordonnance or examen.
        kind: ContextType,
        /// Record id.
        id: ContextId,
        /// The patient.
        patient_id: UserId,
        /// The doctor.
        doctor_id: UserId,
    },
    /// One login (refresh family) was revoked.
    Login {
        /// Family id.
        id: String,
        /// Its user.
        user_id: UserId,
    },
    /// Some or all logins of a user were revoked (disable, password change, key reset).
    LoginsOf(UserId),
    /// Too much changed to list (a large import batch): every cached entry goes.
    All,
}

/// A change with its position in the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoggedChange {
    /// Position (strictly increasing).
    pub rev: i64,
    /// The change.
    pub change: DirectoryChange,
}

/// Largest `upsert_directory` batch whose rows are logged one by one; a
/// larger batch logs one [`DirectoryChange::All`].
pub const MAX_LISTED_CHANGES: usize = 1000;

/// Where a request came from, for the audit trail.
#[derive(Clone, Debug, Default)]
pub struct RequestMeta {
    /// Client address.
    pub ip: String,
    /// User-Agent header.
    pub user_agent: String,
    /// Request id (x-request-id).
    pub request_id: String,
}

/// One audit line to append.
#[derive(Clone, Debug)]
pub struct AuditEvent {
    /// When.
    pub time: DateTime<Utc>,
    /// Who: a user id, `anonymous`, `system` or `admin-cli`.
    pub actor: String,
    /// What: `login`, `send`, `read`, ...
    pub action: String,
    /// On what.
    pub target: String,
    /// `ok`, `denied`, `failed`.
    pub outcome: String,
    /// Where from.
    pub meta: RequestMeta,
    /// The messaging session concerned, if any.
    pub session_id: String,
}

impl AuditEvent {
    /// A new event.
    pub fn new(
        time: DateTime<Utc>,
        actor: impl Into<String>,
        action: &str,
        target: impl Into<String>,
        outcome: &str,
        meta: &RequestMeta,
    ) -> Self {
        Self {
            time,
            actor: actor.into(),
            action: action.to_owned(),
            target: target.into(),
            outcome: outcome.to_owned(),
            meta: meta.clone(),
            session_id: String::new(),
        }
    }

    /// The event with every field escaped ([`escape_field`]), as it is stored.
    pub fn escaped(&self) -> Self {
        let e = |s: &str| escape_field(s, MAX_AUDIT_FIELD_CHARS);
        Self {
            time: self.time,
            actor: e(&self.actor),
            action: e(&self.action),
            target: e(&self.target),
            outcome: e(&self.outcome),
            meta: RequestMeta {
                ip: e(&self.meta.ip),
                user_agent: e(&self.meta.user_agent),
                request_id: e(&self.meta.request_id),
            },
            session_id: e(&self.session_id),
        }
    }

    /// Ties the event to a messaging session.
    pub fn in_session(mut self, session: &SessionId) -> Self {
        self.session_id = session.to_string();
        self
    }
}

/// Longest stored audit field, in characters (a user agent or a path is cut there).
pub const MAX_AUDIT_FIELD_CHARS: usize = 512;

/// Whether a character must not reach a terminal or a log viewer raw: C0/C1
/// controls (newline, ESC...), DEL, and the bidirectional overrides and
/// isolates that can reorder what a reader sees.
fn is_dangerous(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// An audit field as it is stored: backslash becomes `\\` and every
/// dangerous character `\u{hex}`, so the text is unambiguous and holds no raw
/// control character; cut at `max` characters (marked with `…`).
pub fn escape_field(s: &str, max: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max * 4));
    for (i, c) in s.chars().enumerate() {
        if i == max {
            out.push('…');
            break;
        }
        match c {
            '\\' => out.push_str("\\\\"),
            c if is_dangerous(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// A stored field made safe to print: escapes dangerous characters only
/// (rows written before escaping existed may hold them raw); idempotent on
/// rows written since.
pub fn printable_field(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(is_dangerous) {
        return std::borrow::Cow::Borrowed(s);
    }
    std::borrow::Cow::Owned(
        s.chars()
            .map(|c| {
                if is_dangerous(c) {
                    format!("\\u{{{:x}}}", c as u32)
                } else {
                    c.to_string()
                }
            })
            .collect(),
    )
}

/// A full audit row as the admin CLI shows it.
#[derive(Clone, Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditRow {
    /// Position in the chain.
    pub id: i64,
    /// When.
    pub time: DateTime<Utc>,
    /// Who.
    pub actor: String,
    /// What.
    pub action: String,
    /// On what.
    pub target: String,
    /// Outcome.
    pub outcome: String,
    /// Client address.
    pub ip: String,
    /// User agent.
    pub user_agent: String,
    /// Request id.
    pub request_id: String,
    /// Messaging session.
    pub session_id: String,
    /// Hash of the previous row.
    pub prev_hash: String,
    /// Hash of this row.
    pub hash: String,
}

impl AuditRow {
    /// The content-free view used in exports.
    pub fn entry(&self) -> AuditEntry {
        AuditEntry {
            id: self.id,
            time: self.time,
            actor: self.actor.clone(),
            action: self.action.clone(),
            target: self.target.clone(),
            outcome: self.outcome.clone(),
        }
    }
}

/// Result of `audit --verify`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuditVerdict {
    /// Every row's hash matches and links to the previous one, and every
    /// checkpoint (when the store has an anchor) matches its row.
    Intact {
        /// Rows checked.
        rows: u64,
        /// Id of the last row (0 when empty).
        last_row: i64,
        /// The newest row a checkpoint anchors (rows after it were appended since).
        anchored_through: Option<i64>,
        /// Chain hash of the last row.
        head: String,
    },
    /// The first row whose hash or link does not match.
    Broken {
        /// Its id.
        row_id: i64,
        /// Why.
        reason: String,
    },
}

/// What `audit --verify` found in one checkpoint file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AnchorOutcome {
    /// Every checkpoint line verifies and matches its row.
    Holds {
        /// Checkpoints checked.
        checkpoints: usize,
        /// The newest row they anchor.
        anchored_through: Option<i64>,
    },
    /// The first checkpoint that does not hold (row 0: the file itself).
    Broken {
        /// The anchored row.
        row_id: i64,
        /// Why: rewritten, truncated, forged, unreadable.
        reason: String,
    },
}

/// One checkpoint file and its outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnchorFileVerdict {
    /// The file.
    pub path: std::path::PathBuf,
    /// What was found.
    pub outcome: AnchorOutcome,
}

/// Result of `audit --verify` with every checkpoint file: the overall
/// verdict (broken when the chain or any file is), and each file's outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditReport {
    /// The chain and all the anchors together.
    pub verdict: AuditVerdict,
    /// Each checkpoint file, in name order (empty when the backend checks
    /// its one file inside [`AuditVerdict`], as SQLite does).
    pub files: Vec<AnchorFileVerdict>,
}

/// A new message to append.
#[derive(Clone, Debug)]
pub struct NewMessage {
    /// Server-made id.
    pub id: MessageId,
    /// Sender's idempotency key.
    pub client_message_id: ClientMessageId,
    /// The context.
    pub context: ContextRecord,
    /// Sender.
    pub sender: Participant,
    /// Recipient.
    pub recipient: Participant,
    /// Kind.
    pub kind: MessageType,
    /// Content (opaque).
    pub content: String,
    /// Flags.
    pub metadata: MessageMetadata,
    /// Uploaded attachments to link (owned by the sender, not yet linked).
    pub attachments: Vec<AttachmentId>,
    /// Now.
    pub now: DateTime<Utc>,
    /// Audit line.
    pub meta: RequestMeta,
}

/// The audit actions that access a conversation, as listed in its access
/// log; the SQL of both backends names them in this order (the partial index
/// `audit_access` of migration SQLite 0006 / PostgreSQL 0004).
pub const ACCESS_ACTIONS: [&str; 6] = [
    "history",
    "export",
    "download",
    "session_close",
    "session_reopen",
    "archive",
];

/// The SQL of the access log, for both backends (`?1` session, `?2` account,
/// `?3` limit; the PostgreSQL store rewrites the placeholders). Each half
/// repeats its partial index's predicate word for word, so that the index
/// serves it.
pub const ACCESS_LOG_SQL: &str = "SELECT * FROM (
    SELECT id, time, actor, action, target, outcome, ip, user_agent, request_id, session_id, prev_hash, hash FROM audit
    WHERE session_id = ?1 AND action IN ('history', 'export', 'download', 'session_close', 'session_reopen', 'archive')
    UNION ALL
    SELECT id, time, actor, action, target, outcome, ip, user_agent, request_id, session_id, prev_hash, hash FROM audit
    WHERE target = ?2 AND actor = 'admin-cli'
) AS access ORDER BY id DESC LIMIT ?3";

/// The urgent messages one doctor is e-mailed about
/// ([`Store::claim_urgent_mail`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UrgentMail {
    /// The doctor.
    pub doctor: UserId,
    /// Their address.
    pub email: String,
    /// The messages claimed.
    pub messages: Vec<MessageId>,
}

impl UrgentMail {
    /// Groups `(message, doctor, email)` rows by doctor, in first-seen order.
    pub fn group(rows: Vec<(MessageId, UserId, String)>) -> Vec<UrgentMail> {
        let mut out: Vec<UrgentMail> = Vec::new();
        for (message, doctor, email) in rows {
            match out.iter_mut().find(|m| m.doctor == doctor) {
                Some(m) => m.messages.push(message),
                None => out.push(UrgentMail {
                    doctor,
                    email,
                    messages: vec![message],
                }),
            }
        }
        out
    }
}

/// The automatic answer to a patient who writes during an absence
/// ([`Store::absence_reply`]).
#[derive(Clone, Debug)]
pub struct AbsenceReply {
    /// The conversation.
    pub session_id: SessionId,
    /// Server-made id of the `system` message.
    pub message_id: MessageId,
    /// What is answered: `absent` or `outside_hours`.
    pub event: SystemEventKind,
    /// The absence answered (its id), or the closed period (`hours:` and
    /// the next opening): the conversation is answered once per key.
    pub absence_id: String,
    /// When the doctor is back, or the next office hours start.
    pub until: DateTime<Utc>,
    /// Now.
    pub now: DateTime<Utc>,
}

/// A conversation closed or reopened by its doctor ([`Store::change_session`]).
#[derive(Clone, Debug)]
pub struct SessionChange {
    /// The conversation.
    pub session_id: SessionId,
    /// Server-made id of the `system` message.
    pub message_id: MessageId,
    /// What happens (`closed` or `reopened`) and why.
    pub event: SystemEvent,
    /// Now.
    pub now: DateTime<Utc>,
    /// Audit line.
    pub audit: AuditEvent,
}

/// What every end-to-end envelope's content starts with.
pub const ENVELOPE_FAMILY: &str = "dmp-e2e:";

/// The recipient's notification of a message. Notifications are not stored
/// on their own: [`Store::notifications`] derives them from the message rows
/// with these same rules in SQL, and the server sends this one live
/// (docs/performance.md, "Store"). Clear text (migration mode) never makes an
/// urgent notification: anyone who can send can set the flag, and no
/// signature says who wrote it (docs/security.md).
pub fn notification_for(message: &Message, context_title: &str) -> Notification {
    NotificationRow {
        message_id: message.id.clone(),
        sender: message.sender.clone(),
        context: message.context.clone(),
        session_id: message.session_id.clone(),
        context_title: context_title.to_owned(),
        is_urgent_flag: message.metadata.is_urgent,
        is_envelope: message.content.starts_with(ENVELOPE_FAMILY),
        created_at: message.timestamp,
    }
    .notification()
}

/// `notif_<the message id without its msg_ prefix>`.
fn notification_id(message: &MessageId) -> NotificationId {
    let id = message.as_str();
    NotificationId(format!("notif_{}", id.strip_prefix("msg_").unwrap_or(id)))
}

/// What a notification is made of: the columns of a message row (and its
/// context's title) that the store reads back, or a message just stored.
pub(crate) struct NotificationRow {
    pub message_id: MessageId,
    pub sender: Participant,
    pub context: ContextRef,
    pub session_id: SessionId,
    pub context_title: String,
    pub is_urgent_flag: bool,
    pub is_envelope: bool,
    pub created_at: DateTime<Utc>,
}

impl NotificationRow {
    pub(crate) fn notification(self) -> Notification {
        let is_urgent = self.is_urgent_flag && self.is_envelope;
        Notification {
            id: notification_id(&self.message_id),
            kind: "new_message".into(),
            title: format!("{} — {}", self.sender.name, self.context_title),
            // Never the message's text.
            body: if is_urgent {
                "Nouveau message urgent"
            } else {
                "Nouveau message"
            }
            .into(),
            sender: self.sender,
            context: self.context,
            session_id: self.session_id,
            message_id: self.message_id,
            is_urgent,
            created_at: self.created_at,
            seen_at: None,
        }
    }
}

/// What `append_message` did.
#[derive(Clone, Debug)]
pub enum Appended {
    /// Stored now (its notification is [`notification_for`] it).
    New {
        /// The message.
        message: Message,
        /// For a doctor's message that answers: since when the patient's
        /// messages it answers waited (the first one after the doctor's
        /// previous message; the `responseTime` metric).
        answered_wait: Option<DateTime<Utc>>,
    },
    /// The same `clientMessageId` was already stored: the first message.
    Existing(Message),
}

/// A forward move of a message's status.
#[derive(Clone, Debug)]
pub struct StatusChange {
    /// The message.
    pub message_id: MessageId,
    /// Its session.
    pub session_id: SessionId,
    /// Who sent it (gets the `status` frame).
    pub sender_id: UserId,
    /// New status.
    pub status: MessageStatus,
    /// When.
    pub at: DateTime<Utc>,
}

/// The parties of a stored message, for authorization before acting on it.
#[derive(Clone, Debug)]
pub struct MessageParties {
    /// Message id.
    pub id: MessageId,
    /// Session.
    pub session_id: SessionId,
    /// Context kind.
    pub context_kind: ContextType,
    /// Context id.
    pub context_id: ContextId,
    /// Sender.
    pub sender_id: UserId,
    /// Recipient.
    pub recipient_id: UserId,
    /// Current status.
    pub status: MessageStatus,
    /// Whether deleted.
    pub deleted: bool,
}

/// A stored attachment's metadata.
#[derive(Clone, Debug)]
pub struct AttachmentRecord {
    /// Public metadata.
    pub attachment: Attachment,
    /// Uploader.
    pub owner_id: UserId,
    /// The message it is linked to, once sent.
    pub message_id: Option<MessageId>,
}

/// Result of a deletion, for cleaning attachment files after commit.
#[derive(Clone, Debug)]
pub struct Deleted {
    /// The message (now a tombstone).
    pub message: Message,
    /// Attachment files to remove.
    pub attachment_ids: Vec<AttachmentId>,
}

/// The domain operations of the server's storage.
/// What the inbox of one user needs from a session's messages (`GET /api/contexts`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InboxMarks {
    /// Time of the newest message (deleted ones included).
    pub last_message_at: Option<DateTime<Utc>>,
    /// An urgent, not deleted message to the user is not read yet.
    pub has_urgent_unread: bool,
    /// The patient's questions waiting for the doctor's answer: not deleted,
    /// marked `requires_response`, sent after the doctor's last message.
    pub awaiting: Option<Awaiting>,
}

/// The patient's questions that wait for an answer in one session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Awaiting {
    /// When the oldest was sent.
    pub since: DateTime<Utc>,
    /// One of them is urgent.
    pub urgent: bool,
    /// The oldest one's category.
    pub category: Option<QuestionCategory>,
}

#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug + 'static {
    /// Whether the database answers (readiness).
    async fn ping(&self) -> StoreResult<()>;
    /// A user by id (with the verifier), disabled or not.
    async fn user(&self, id: &UserId) -> StoreResult<Option<UserRecord>>;
    /// The users among `ids` that exist (any order, unknown ids left out).
    async fn users(&self, ids: &[UserId]) -> StoreResult<Vec<UserRecord>>;
    /// A context by type and id.
    async fn context(
        &self,
        kind: ContextType,
        id: &ContextId,
    ) -> StoreResult<Option<ContextRecord>>;
    /// The contexts of a user (as patient or doctor), newest `date` first,
    /// then by id, at most `limit`.
    async fn contexts_of(&self, user: &UserId, limit: u32) -> StoreResult<Vec<ContextRecord>>;
    /// An active login: not revoked and not expired at `now`.
    async fn login(&self, id: &str, now: DateTime<Utc>) -> StoreResult<Option<FamilyRecord>>;
    /// The active logins of a user.
    async fn logins_of(&self, user: &UserId, now: DateTime<Utc>) -> StoreResult<Vec<FamilyRecord>>;
    /// The newest change-log position (0 when empty).
    async fn directory_head(&self) -> StoreResult<i64>;
    /// The logged changes after `since`, oldest first, at most `limit`.
    async fn directory_changes_since(
        &self,
        since: i64,
        limit: u32,
    ) -> StoreResult<Vec<LoggedChange>>;
    /// Forgets changes logged before `before`; returns how many.
    async fn prune_directory_changes(&self, before: DateTime<Utc>) -> StoreResult<u64>;

    /// A user by login name, with the verifier.
    async fn user_by_username(&self, username: &str) -> StoreResult<Option<UserRecord>>;
    /// Adds or updates users and contexts in one transaction. With
    /// `overwrite_users` false, existing users are left untouched. A user
    /// with a [`ZkLogin`] is zero-knowledge from creation; without, legacy
    /// (an imported `passwordHash`). Overwriting a user's credential drops
    /// its key backup (sealed under the old password, it cannot be opened).
    /// The admin import calls it once per batch (at most 10,000 rows); each
    /// written row is logged as a change, or the batch as one
    /// [`DirectoryChange::All`] beyond [`MAX_LISTED_CHANGES`] rows.
    async fn upsert_directory(
        &self,
        users: Vec<(UserRecord, Option<ZkLogin>)>,
        contexts: Vec<ContextRecord>,
        overwrite_users: bool,
        audit: AuditEvent,
    ) -> StoreResult<()>;
    /// Enables or disables an account; disabling revokes its logins.
    async fn set_user_disabled(
        &self,
        user: &UserId,
        disabled: bool,
        audit: AuditEvent,
    ) -> StoreResult<()>;
    /// Sets a new login credential (zero-knowledge), drops the key backup
    /// sealed under the old one and revokes every login of the user.
    async fn set_password(&self, user: &UserId, zk: ZkLogin, audit: AuditEvent) -> StoreResult<()>;

    /// The key material of a user.
    async fn user_keys(&self, user: &UserId) -> StoreResult<UserKeys>;
    /// Publishes public keys and their backup; with `zk`, also switches the
    /// login to the zero-knowledge scheme; with `keep_login`, revokes every
    /// other login of the user in the same transaction.
    async fn put_keys(
        &self,
        user: &UserId,
        public_keys: String,
        backup: String,
        zk: Option<ZkLogin>,
        keep_login: Option<&str>,
        audit: AuditEvent,
    ) -> StoreResult<()>;
    /// A password change made on the client: new verifier, salt and backup; every other login of the user is revoked.
    async fn change_zk_password(
        &self,
        user: &UserId,
        zk: ZkLogin,
        backup: String,
        keep_login: &str,
        audit: AuditEvent,
    ) -> StoreResult<()>;

    /// Opens a login (refresh family) with its first refresh token.
    async fn create_login(
        &self,
        family: FamilyRecord,
        token_hash: String,
        audit: AuditEvent,
    ) -> StoreResult<()>;
    /// Spends a refresh token and stores its successor. Re-use of a spent
    /// token revokes the whole family.
    async fn rotate_refresh(
        &self,
        token_hash: String,
        new_hash: String,
        now: DateTime<Utc>,
        meta: RequestMeta,
    ) -> StoreResult<Rotation>;
    /// Revokes a login.
    async fn revoke_login(&self, family_id: &str, audit: AuditEvent) -> StoreResult<()>;

    /// Creates (or returns) the session of a context.
    async fn ensure_session(
        &self,
        context: ContextRecord,
        now: DateTime<Utc>,
        audit: Option<AuditEvent>,
    ) -> StoreResult<Session>;
    /// The session of a context, if one was opened.
    async fn session_for_context(&self, context: &ContextRecord) -> StoreResult<Option<Session>>;
    /// A session by id.
    async fn session(&self, id: &SessionId) -> StoreResult<Option<Session>>;
    /// Every session of a user.
    async fn sessions_of(&self, user: &UserId) -> StoreResult<Vec<Session>>;
    /// For each session of a user that has messages: the newest message's
    /// time and whether an urgent message to that user is still unread.
    async fn inbox_marks(
        &self,
        user: &UserId,
    ) -> StoreResult<std::collections::HashMap<SessionId, InboxMarks>>;
    /// Archives a session.
    async fn archive_session(
        &self,
        id: &SessionId,
        now: DateTime<Utc>,
        audit: AuditEvent,
    ) -> StoreResult<Session>;
    /// Closes (event `closed`) or reopens (`reopened`) a conversation and
    /// appends the `system` message that says so (to the patient), in one
    /// transaction; `None` when the conversation is already in that state.
    async fn change_session(
        &self,
        change: SessionChange,
    ) -> StoreResult<Option<(Session, Message)>>;
    /// Archives every active session idle since before `cutoff`; returns
    /// each one with its message count.
    async fn archive_idle(
        &self,
        cutoff: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<(SessionId, u64)>>;
    /// The newest `limit` rows of the patient's access log: the accesses
    /// to `session` ([`ACCESS_ACTIONS`]) and what the administrator did to
    /// `account`, newest first.
    async fn access_log(
        &self,
        session: &SessionId,
        account: &UserId,
        limit: u32,
    ) -> StoreResult<Vec<AuditRow>>;
    /// Sets (or, with `None`, removes) the address a user's urgent-message
    /// e-mail goes to.
    async fn set_user_email(
        &self,
        user: &UserId,
        email: Option<String>,
        audit: AuditEvent,
    ) -> StoreResult<()>;
    /// Claims the urgent messages to doctors with an address that are unread,
    /// undeleted, not yet mailed about and sent before `cutoff`: marks them
    /// mailed at `now` and returns them by doctor. Two nodes never claim the
    /// same message.
    async fn claim_urgent_mail(
        &self,
        cutoff: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<UrgentMail>>;
    /// Gives claimed messages back (their e-mail failed): the next look
    /// claims them again.
    async fn release_urgent_mail(&self, ids: Vec<MessageId>) -> StoreResult<()>;
    /// A doctor's absence (the current or the next one) with its id.
    async fn absence(&self, doctor: &UserId) -> StoreResult<Option<(String, Absence)>>;
    /// Sets a doctor's absence (replacing any), or removes it with `None`.
    async fn set_absence(
        &self,
        doctor: &UserId,
        absence: Option<(String, Absence)>,
        audit: AuditEvent,
    ) -> StoreResult<()>;
    /// Appends the automatic `absent` answer to the patient unless this
    /// conversation already got it for absence `absence_id` (or is closed):
    /// the message, or `None`.
    async fn absence_reply(&self, reply: AbsenceReply) -> StoreResult<Option<Message>>;
    /// A doctor's weekly office hours, if set.
    async fn office_hours(&self, doctor: &UserId) -> StoreResult<Option<OfficeHours>>;
    /// Sets a doctor's office hours (replacing any), or removes them with `None`.
    async fn set_office_hours(
        &self,
        doctor: &UserId,
        hours: Option<OfficeHours>,
        audit: AuditEvent,
    ) -> StoreResult<()>;
    /// A doctor's sealed reply templates, if any were saved.
    async fn sealed_templates(&self, user: &UserId) -> StoreResult<Option<SealedTemplates>>;
    /// Replaces a doctor's sealed reply templates if the stored version is
    /// `base_version` (0: none stored); `Conflict` otherwise.
    async fn put_sealed_templates(
        &self,
        user: &UserId,
        sealed: String,
        base_version: u64,
        now: DateTime<Utc>,
        audit: AuditEvent,
    ) -> StoreResult<SealedTemplates>;
    /// Users who logged in or refreshed a login since `since`.
    async fn active_users_since(&self, since: DateTime<Utc>) -> StoreResult<u64>;
    /// Deletes messages older than the retention cutoff; returns the attachment ids to remove.
    async fn purge_before(
        &self,
        cutoff: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<(u64, Vec<AttachmentId>)>;

    /// Appends a message (idempotent on the sender's `clientMessageId`).
    async fn append_message(&self, msg: NewMessage) -> StoreResult<Appended>;
    /// A message by id.
    async fn message(&self, id: &MessageId) -> StoreResult<Option<Message>>;
    /// Who a message is between.
    async fn message_parties(&self, id: &MessageId) -> StoreResult<Option<MessageParties>>;
    /// Moves a message's status forward (recipient only). `None` when nothing changed.
    async fn mark_status(
        &self,
        id: &MessageId,
        by: &UserId,
        status: MessageStatus,
        now: DateTime<Utc>,
        audit: Option<AuditEvent>,
    ) -> StoreResult<Option<StatusChange>>;
    /// Soft-deletes a message (sender only).
    async fn delete_message(
        &self,
        id: &MessageId,
        by: &UserId,
        now: DateTime<Utc>,
        audit: AuditEvent,
    ) -> StoreResult<Deleted>;
    /// A page of history, newest page first; messages in `seq` order.
    async fn history(
        &self,
        session: &SessionId,
        before: Option<u64>,
        limit: u32,
    ) -> StoreResult<(Vec<Message>, bool)>;
    /// Every message after `seq`, in order, up to `limit`.
    async fn messages_after(
        &self,
        session: &SessionId,
        after: u64,
        limit: u32,
    ) -> StoreResult<Vec<Message>>;

    /// Statistics of a user.
    async fn stats(&self, user: &UserId) -> StoreResult<StatsResponse>;
    /// Unseen notifications of a user, newest first.
    async fn notifications(&self, user: &UserId, limit: u32) -> StoreResult<Vec<Notification>>;

    /// Records an uploaded attachment.
    async fn insert_attachment(
        &self,
        record: AttachmentRecord,
        audit: AuditEvent,
    ) -> StoreResult<()>;
    /// An attachment's metadata and the session it was sent in.
    async fn attachment(
        &self,
        id: &AttachmentId,
    ) -> StoreResult<Option<(AttachmentRecord, Option<SessionId>)>>;
    /// Bytes of attachments a user has stored (sent or not), for the upload quota.
    async fn attachment_bytes(&self, owner: &UserId) -> StoreResult<u64>;
    /// Forgets uploads made before `cutoff` and never attached to a message;
    /// returns their ids so that their files can be removed.
    async fn purge_unattached(
        &self,
        cutoff: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<AttachmentId>>;

    /// Appends an audit line.
    async fn audit(&self, event: AuditEvent) -> StoreResult<()>;
    /// Audit rows, oldest first.
    async fn audit_rows(
        &self,
        since: Option<DateTime<Utc>>,
        actor: Option<String>,
        session: Option<SessionId>,
        limit: u32,
    ) -> StoreResult<Vec<AuditRow>>;
    /// Re-computes the chain (and checks the checkpoints of the store's anchor, if any).
    async fn verify_audit(&self) -> StoreResult<AuditVerdict>;
    /// Like [`Self::verify_audit`], with the outcome of each checkpoint file
    /// (several with PostgreSQL: one per node, docs/security.md "Audit trail").
    async fn verify_audit_report(&self) -> StoreResult<AuditReport> {
        Ok(AuditReport {
            verdict: self.verify_audit().await?,
            files: Vec::new(),
        })
    }
    /// Appends a checkpoint of the chain head this node observes, if it moved
    /// since the last one (PostgreSQL nodes: called periodically and at
    /// shutdown). A no-op where the writer anchors by itself (SQLite).
    async fn checkpoint_audit(&self) -> StoreResult<()> {
        Ok(())
    }

    /// Writes a consistent copy of the database to `dest` while it is in use
    /// ([`StoreError::Unsupported`] on PostgreSQL: `pg_dump` is the tool there).
    async fn backup_to(&self, dest: &Path) -> StoreResult<()>;
}

/// Anything that lends a `&dyn Store`: a store, or an `Arc` of one (what
/// [`crate::app::open_store`] returns), so the admin operations take either.
pub trait StoreRef: Send + Sync {
    /// The store.
    fn as_store(&self) -> &dyn Store;
}

impl<S: Store> StoreRef for S {
    fn as_store(&self) -> &dyn Store {
        self
    }
}

impl StoreRef for dyn Store {
    fn as_store(&self) -> &dyn Store {
        self
    }
}

impl<S: Store + ?Sized> StoreRef for std::sync::Arc<S>
where
    S: StoreRef,
{
    fn as_store(&self) -> &dyn Store {
        (**self).as_store()
    }
}

/// A user's end-to-end key material as the server holds it (all opaque to it).
#[derive(Clone, Debug, Default)]
pub struct UserKeys {
    /// base64url salt of the client-side derivation (zero-knowledge login), if upgraded.
    pub kdf_salt: Option<String>,
    /// JSON of the Argon2id parameters.
    pub kdf_params: Option<String>,
    /// JSON of the public keys.
    pub public_keys: Option<String>,
    /// JSON of the sealed private keys.
    pub key_backup: Option<String>,
    /// When the keys were last published.
    pub updated_at: Option<DateTime<Utc>>,
}

/// A switch to the zero-knowledge login: the new verifier and derivation parameters.
#[derive(Clone, Debug)]
pub struct ZkLogin {
    /// Argon2id verifier of the authentication secret.
    pub password_hash: String,
    /// base64url salt.
    pub salt: String,
    /// JSON of the parameters.
    pub params: String,
}

/// Outcome of spending a refresh token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rotation {
    /// Spent; the successor is stored.
    Rotated {
        /// The user.
        user_id: UserId,
        /// The family (unchanged).
        family_id: String,
    },
    /// The token had been spent already: the family is now revoked.
    Reused {
        /// The user.
        user_id: UserId,
        /// The revoked family.
        family_id: String,
    },
    /// Expired or revoked (audited by the store: the token was real).
    Invalid,
    /// The current (unspent, unexpired) token of an account an administrator
    /// disabled: its holder proved the credentials, so it may learn why.
    Disabled,
    /// Not a token of this server (anonymous: not audited by the store).
    Unknown,
}
