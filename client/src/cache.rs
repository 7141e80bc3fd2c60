//! The encrypted local cache: a SQLCipher database per (server, user) whose
//! raw 256-bit key lives in the OS keychain. It holds contexts, sessions,
//! messages (with an FTS5 index for accent- and case-insensitive search),
//! the outbox of messages not yet acknowledged, and attachment metadata.
//! Without the key the file is indistinguishable from random bytes.

use crate::error::{ClientError, ClientResult};
use dmp_protocol::*;
use parking_lot::Mutex;
use rusqlite::{params, Connection, OptionalExtension};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use zeroize::Zeroizing;

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS contexts (
    kind TEXT NOT NULL, id TEXT NOT NULL, json TEXT NOT NULL, PRIMARY KEY (kind, id)
);
CREATE TABLE IF NOT EXISTS sessions (id TEXT PRIMARY KEY, json TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS messages (
    id TEXT PRIMARY KEY,
    client_message_id TEXT NOT NULL,
    session_id TEXT NOT NULL,
    context_kind TEXT NOT NULL,
    context_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    sender_id TEXT NOT NULL,
    status_rank INTEGER NOT NULL,
    content TEXT NOT NULL,
    json TEXT NOT NULL,
    sort_key INTEGER,
    scope TEXT GENERATED ALWAYS AS (hex(context_kind || ':' || context_id)) VIRTUAL
);
CREATE INDEX IF NOT EXISTS messages_session_seq ON messages (session_id, seq);
CREATE INDEX IF NOT EXISTS messages_context ON messages (context_kind, context_id, seq);
CREATE TABLE IF NOT EXISTS peers (
    user_id TEXT PRIMARY KEY,
    keys TEXT NOT NULL,
    pinned_at INTEGER NOT NULL,
    changed_to TEXT
);
CREATE TABLE IF NOT EXISTS attachment_keys (id TEXT PRIMARY KEY, secret TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (
    client_message_id TEXT PRIMARY KEY,
    context_kind TEXT NOT NULL,
    context_id TEXT NOT NULL,
    request TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    failed TEXT
);
"#;

/// The schema version this code writes (`PRAGMA user_version`).
const SCHEMA_VERSION: i64 = 1;

/// The full-text index, keyed by the messages' chronological `sort_key` so a
/// search walks the index newest first and stops at its limit (version 1).
/// Its `scope` column holds one token per conversation (the hex of
/// `kind:id`), so a search in one conversation intersects two lists instead
/// of filtering every match.
/// `sort_key` is the server timestamp in ms × 1024 plus a tie-breaker
/// (see [`put_message_tx`]), unique per message.
const FTS_SCHEMA: &str = r#"
CREATE UNIQUE INDEX IF NOT EXISTS messages_sort_key ON messages (sort_key);
CREATE VIRTUAL TABLE IF NOT EXISTS messages_fts USING fts5(
    content, scope, content='messages', content_rowid='sort_key', tokenize='unicode61 remove_diacritics 2'
);
CREATE TRIGGER IF NOT EXISTS messages_ai AFTER INSERT ON messages BEGIN
    INSERT INTO messages_fts (rowid, content, scope) VALUES (new.sort_key, new.content, new.scope);
END;
CREATE TRIGGER IF NOT EXISTS messages_ad AFTER DELETE ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, content, scope) VALUES ('delete', old.sort_key, old.content, old.scope);
END;
CREATE TRIGGER IF NOT EXISTS messages_au AFTER UPDATE OF content ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, content, scope) VALUES ('delete', old.sort_key, old.content, old.scope);
    INSERT INTO messages_fts (rowid, content, scope) VALUES (new.sort_key, new.content, new.scope);
END;
"#;

/// The tie-breaking range of a `sort_key`: up to 1,024 messages per millisecond
/// keep their own key (more spill into the next millisecond's range).
const SORT_KEY_SPREAD: i64 = 1024;

/// A message waiting for its ack.
#[derive(Debug, Clone)]
pub struct OutboxEntry {
    /// The send as it will go on the wire.
    pub request: api::SendRequest,
    /// When it was written (ms since epoch).
    pub created_at: i64,
    /// Why the server refused it for good, if it did.
    pub failed: Option<String>,
}

/// A search result.
#[derive(Debug, Clone, serde::Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct SearchHit {
    /// The message.
    pub message: Message,
    /// The content, HTML-escaped, with `<mark>…</mark>` around the matches.
    pub snippet: String,
}

/// The cache of one user.
#[derive(Clone, Debug)]
pub struct Cache {
    conn: Arc<Mutex<Connection>>,
    path: PathBuf,
}

const MARK_OPEN: char = '\u{E000}';
const MARK_CLOSE: char = '\u{E001}';

impl Cache {
    /// Opens (or creates) the cache file with a raw 256-bit key given in hex.
    pub fn open(path: &Path, key_hex: &str) -> ClientResult<Self> {
        if key_hex.len() != 64 || !key_hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ClientError::Cache(
                "the cache key must be 256 bits in hex".into(),
            ));
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let conn = Connection::open(path)?;
        // SQLCipher reports a wrong key on stderr unless told otherwise.
        let _ = conn.execute_batch("PRAGMA cipher_log_level = NONE;");
        let pragma = Zeroizing::new(format!("PRAGMA key = \"x'{key_hex}'\";"));
        conn.execute_batch(&pragma)?;
        conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get::<_, i64>(0)).map_err(|_| {
            ClientError::Cache("the local cache cannot be opened with the key from the keychain (wrong key or damaged file)".into())
        })?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
        )?;
        conn.execute_batch(SCHEMA)?;
        migrate(&conn)?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
            path: path.to_owned(),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A fresh random key (hex).
    pub fn new_key() -> Zeroizing<String> {
        let mut k = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut k);
        let hex = Zeroizing::new(hex::encode(k));
        zeroize::Zeroize::zeroize(&mut k);
        hex
    }

    /// Stores the caller's contexts (replacing the list).
    pub fn put_contexts(&self, contexts: &[ContextSummary]) -> ClientResult<()> {
        let mut c = self.conn.lock();
        let tx = c.transaction()?;
        tx.execute("DELETE FROM contexts", [])?;
        for ctx in contexts {
            tx.execute(
                "INSERT INTO contexts (kind, id, json) VALUES (?1, ?2, ?3)",
                params![
                    ctx.context.kind.as_str(),
                    ctx.context.id.as_str(),
                    json(ctx)?
                ],
            )?;
            if let Some(s) = &ctx.session {
                put_session_tx(&tx, s)?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// The cached contexts.
    pub fn contexts(&self) -> ClientResult<Vec<ContextSummary>> {
        let c = self.conn.lock();
        let mut stmt = c.prepare("SELECT json FROM contexts")?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        rows.map(|r| from_json(&r?)).collect()
    }

    /// One cached context.
    pub fn context(
        &self,
        kind: ContextType,
        id: &ContextId,
    ) -> ClientResult<Option<ContextSummary>> {
        let c = self.conn.lock();
        let j: Option<String> = c
            .query_row(
                "SELECT json FROM contexts WHERE kind = ?1 AND id = ?2",
                [kind.as_str(), id.as_str()],
                |r| r.get(0),
            )
            .optional()?;
        j.map(|j| from_json(&j)).transpose()
    }

    /// Changes one cached context in place (read and write under one lock);
    /// `f` says whether it changed anything. False when the context is not cached.
    pub(crate) fn update_context(
        &self,
        kind: ContextType,
        id: &ContextId,
        f: impl FnOnce(&mut ContextSummary) -> bool,
    ) -> ClientResult<bool> {
        let c = self.conn.lock();
        let j: Option<String> = c
            .query_row(
                "SELECT json FROM contexts WHERE kind = ?1 AND id = ?2",
                [kind.as_str(), id.as_str()],
                |r| r.get(0),
            )
            .optional()?;
        let Some(j) = j else { return Ok(false) };
        let mut ctx: ContextSummary = from_json(&j)?;
        if !f(&mut ctx) {
            return Ok(false);
        }
        c.execute(
            "UPDATE contexts SET json = ?3 WHERE kind = ?1 AND id = ?2",
            params![kind.as_str(), id.as_str(), json(&ctx)?],
        )?;
        Ok(true)
    }

    /// Whether a cached urgent message to `me` in a context is neither read nor deleted.
    pub(crate) fn has_urgent_unread(
        &self,
        kind: ContextType,
        id: &ContextId,
        me: &UserId,
    ) -> ClientResult<bool> {
        let c = self.conn.lock();
        let mut stmt = c.prepare_cached(
            "SELECT json FROM messages WHERE context_kind = ?1 AND context_id = ?2 AND status_rank < 2 AND sender_id <> ?3",
        )?;
        let rows = stmt.query_map([kind.as_str(), id.as_str(), me.as_str()], |r| {
            r.get::<_, String>(0)
        })?;
        for r in rows {
            let m: Message = from_json(&r?)?;
            if m.recipient.id == *me && m.metadata.is_urgent && m.deleted_at.is_none() {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Stores a session.
    pub fn put_session(&self, s: &Session) -> ClientResult<()> {
        let c = self.conn.lock();
        put_session_tx(&c, s)
    }

    /// Stores or updates a message. The status never moves back, and a
    /// deletion is kept.
    pub fn put_message(&self, m: &Message) -> ClientResult<Message> {
        let c = self.conn.lock();
        put_message_tx(&c, m)
    }

    /// Stores many messages in one transaction.
    pub fn put_messages(&self, ms: &[Message]) -> ClientResult<()> {
        let mut c = self.conn.lock();
        let tx = c.transaction()?;
        for m in ms {
            put_message_tx(&tx, m)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Applies a status change; returns the updated message when it moved forward.
    pub fn set_status(
        &self,
        id: &MessageId,
        status: MessageStatus,
        at: chrono::DateTime<chrono::Utc>,
    ) -> ClientResult<Option<Message>> {
        let c = self.conn.lock();
        let j: Option<String> = c
            .query_row(
                "SELECT json FROM messages WHERE id = ?1",
                [id.as_str()],
                |r| r.get(0),
            )
            .optional()?;
        let Some(j) = j else { return Ok(None) };
        let mut m: Message = from_json(&j)?;
        if status.rank() <= m.status.rank() {
            return Ok(None);
        }
        m.status = status;
        if m.delivered_at.is_none() {
            m.delivered_at = Some(at);
        }
        if status == MessageStatus::Read {
            m.read_at = Some(at);
        }
        put_message_tx(&c, &m).map(Some)
    }

    /// A message by id.
    pub fn message(&self, id: &MessageId) -> ClientResult<Option<Message>> {
        let c = self.conn.lock();
        let j: Option<String> = c
            .query_row(
                "SELECT json FROM messages WHERE id = ?1",
                [id.as_str()],
                |r| r.get(0),
            )
            .optional()?;
        j.map(|j| from_json(&j)).transpose()
    }

    /// A page of a context's messages, newest page first, `seq` order inside.
    pub fn history(
        &self,
        kind: ContextType,
        id: &ContextId,
        before: Option<u64>,
        limit: u32,
    ) -> ClientResult<Vec<Message>> {
        let c = self.conn.lock();
        let before = before.map_or(i64::MAX, |b| i64::try_from(b).unwrap_or(i64::MAX));
        let mut stmt = c.prepare(
            "SELECT json FROM messages WHERE context_kind = ?1 AND context_id = ?2 AND seq < ?3 ORDER BY seq DESC LIMIT ?4",
        )?;
        let rows = stmt.query_map(params![kind.as_str(), id.as_str(), before, limit], |r| {
            r.get::<_, String>(0)
        })?;
        let mut out = rows
            .map(|r| from_json(&r?))
            .collect::<ClientResult<Vec<Message>>>()?;
        out.reverse();
        Ok(out)
    }

    /// Per session, the `seq` up to which the cache holds every message
    /// (the end of the run that starts at the oldest cached one), for
    /// `resume`: a hole left by a lost frame is asked for again at the next
    /// connection, not skipped because a later message arrived.
    pub fn last_seqs(&self) -> ClientResult<BTreeMap<SessionId, u64>> {
        let c = self.conn.lock();
        let mut stmt = c.prepare(
            "SELECT a.session_id, MIN(a.seq) FROM messages a
             WHERE a.seq > 0 AND NOT EXISTS
               (SELECT 1 FROM messages b WHERE b.session_id = a.session_id AND b.seq = a.seq + 1)
             GROUP BY a.session_id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                SessionId(r.get(0)?),
                u64::try_from(r.get::<_, i64>(1)?).unwrap_or(0),
            ))
        })?;
        rows.map(|r| r.map_err(ClientError::from)).collect()
    }

    /// The highest `seq` held for one session (`None`: no message cached).
    pub fn last_seq(&self, session: &SessionId) -> ClientResult<Option<u64>> {
        let c = self.conn.lock();
        let max: Option<i64> = c.query_row(
            "SELECT MAX(seq) FROM messages WHERE session_id = ?1",
            [&session.0],
            |r| r.get(0),
        )?;
        Ok(max.and_then(|m| u64::try_from(m).ok()))
    }

    /// Sessions known from contexts, with 0 when no message is cached yet.
    pub fn known_sessions(&self) -> ClientResult<Vec<SessionId>> {
        let c = self.conn.lock();
        let mut stmt = c.prepare("SELECT id FROM sessions")?;
        let rows = stmt.query_map([], |r| Ok(SessionId(r.get(0)?)))?;
        rows.map(|r| r.map_err(ClientError::from)).collect()
    }

    /// Queues a send until its ack.
    pub fn outbox_put(&self, req: &api::SendRequest, now_ms: i64) -> ClientResult<()> {
        let c = self.conn.lock();
        c.execute(
            "INSERT INTO outbox (client_message_id, context_kind, context_id, request, created_at) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (client_message_id) DO NOTHING",
            params![req.client_message_id.as_str(), req.context_type.as_str(), req.context_id.as_str(), json(req)?, now_ms],
        )?;
        Ok(())
    }

    /// Removes an acknowledged send.
    pub fn outbox_remove(&self, cmid: &ClientMessageId) -> ClientResult<bool> {
        let c = self.conn.lock();
        Ok(c.execute(
            "DELETE FROM outbox WHERE client_message_id = ?1",
            [cmid.as_str()],
        )? == 1)
    }

    /// Marks a send as refused for good.
    pub fn outbox_fail(&self, cmid: &ClientMessageId, reason: &str) -> ClientResult<()> {
        let c = self.conn.lock();
        c.execute(
            "UPDATE outbox SET failed = ?2, attempts = attempts + 1 WHERE client_message_id = ?1",
            params![cmid.as_str(), reason],
        )?;
        Ok(())
    }

    /// Puts a send back in its queue (clears a refusal); false when unknown.
    pub fn outbox_retry(&self, cmid: &ClientMessageId) -> ClientResult<bool> {
        let c = self.conn.lock();
        Ok(c.execute(
            "UPDATE outbox SET failed = NULL WHERE client_message_id = ?1",
            [cmid.as_str()],
        )? == 1)
    }

    /// A stored message by its sender's `clientMessageId`.
    pub fn message_by_client_id(&self, cmid: &ClientMessageId) -> ClientResult<Option<Message>> {
        let c = self.conn.lock();
        let j: Option<String> = c
            .query_row(
                "SELECT json FROM messages WHERE client_message_id = ?1 ORDER BY seq DESC LIMIT 1",
                [cmid.as_str()],
                |r| r.get(0),
            )
            .optional()?;
        j.map(|j| from_json(&j)).transpose()
    }

    /// Every queued send, oldest first.
    pub fn outbox(&self) -> ClientResult<Vec<OutboxEntry>> {
        let c = self.conn.lock();
        let mut stmt =
            c.prepare("SELECT request, created_at, failed FROM outbox ORDER BY created_at, rowid")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, Option<String>>(2)?,
            ))
        })?;
        rows.map(|r| {
            let (req, created_at, failed) = r?;
            Ok(OutboxEntry {
                request: from_json(&req)?,
                created_at,
                failed,
            })
        })
        .collect()
    }

    /// Full-text search, ranked, with highlighted snippets. `scope` limits it to one context.
    pub fn search(
        &self,
        query: &str,
        scope: Option<(ContextType, &ContextId)>,
        limit: u32,
    ) -> ClientResult<Vec<SearchHit>> {
        let Some(terms) = fts_query(query) else {
            return Ok(vec![]);
        };
        // The words match the text only; a scope adds its conversation's token.
        let fts = match scope {
            Some((kind, id)) => format!(
                "content : ({terms}) AND scope : \"{}\"",
                hex::encode_upper(format!("{}:{}", kind.as_str(), id.as_str()))
            ),
            None => format!("content : ({terms})"),
        };
        let c = self.conn.lock();
        let (kind, id) = scope.map_or((None, None), |(k, i)| {
            (Some(k.as_str()), Some(i.as_str().to_owned()))
        });
        // Newest first: the index is walked backwards on its chronological rowid
        // and stops at the limit, so a common word costs no more than a rare one
        // (docs/desktop-ipc.md, "Search"). The scope is matched in the index and
        // checked again on the rows.
        let mut stmt = c.prepare_cached(
            "SELECT m.json, highlight(messages_fts, 0, ?4, ?5) FROM messages_fts
             JOIN messages m ON m.sort_key = messages_fts.rowid
             WHERE messages_fts MATCH ?1 AND (?2 IS NULL OR m.context_kind = ?2) AND (?3 IS NULL OR m.context_id = ?3)
             ORDER BY messages_fts.rowid DESC LIMIT ?6",
        )?;
        let rows = stmt.query_map(
            params![
                fts,
                kind,
                id,
                MARK_OPEN.to_string(),
                MARK_CLOSE.to_string(),
                limit
            ],
            |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)),
        )?;
        rows.map(|r| {
            let (j, marked) = r?;
            let escaped = html_escape::encode_text(&marked).into_owned();
            let snippet = escaped
                .replace(MARK_OPEN, "<mark>")
                .replace(MARK_CLOSE, "</mark>");
            Ok(SearchHit {
                message: from_json(&j)?,
                snippet,
            })
        })
        .collect()
    }

    /// A peer's pinned public keys (JSON) and, if the server now hands out
    /// different ones, those (JSON).
    pub fn pinned(&self, user: &UserId) -> ClientResult<Option<(String, Option<String>)>> {
        let c = self.conn.lock();
        Ok(c.query_row(
            "SELECT keys, changed_to FROM peers WHERE user_id = ?1",
            [user.as_str()],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?)
    }

    /// Pins a peer's keys on first use.
    pub fn pin(&self, user: &UserId, keys: &str, now_ms: i64) -> ClientResult<()> {
        let c = self.conn.lock();
        c.execute(
            "INSERT INTO peers (user_id, keys, pinned_at) VALUES (?1, ?2, ?3) ON CONFLICT (user_id) DO NOTHING",
            params![user.as_str(), keys, now_ms],
        )?;
        Ok(())
    }

    /// Records that the server now hands out other keys for a peer.
    pub fn mark_changed(&self, user: &UserId, keys: &str) -> ClientResult<()> {
        let c = self.conn.lock();
        c.execute(
            "UPDATE peers SET changed_to = ?2 WHERE user_id = ?1",
            params![user.as_str(), keys],
        )?;
        Ok(())
    }

    /// Trusts the new keys of a peer (after comparing the safety code).
    pub fn accept_change(&self, user: &UserId, now_ms: i64) -> ClientResult<bool> {
        let c = self.conn.lock();
        Ok(c.execute(
            "UPDATE peers SET keys = changed_to, changed_to = NULL, pinned_at = ?2 WHERE user_id = ?1 AND changed_to IS NOT NULL",
            params![user.as_str(), now_ms],
        )? == 1)
    }

    /// Keeps the key of an attachment (it lives only in the encrypted cache).
    pub fn put_attachment_secret(&self, id: &AttachmentId, secret_json: &str) -> ClientResult<()> {
        let c = self.conn.lock();
        c.execute(
            "INSERT INTO attachment_keys (id, secret) VALUES (?1, ?2) ON CONFLICT (id) DO UPDATE SET secret = excluded.secret",
            params![id.as_str(), secret_json],
        )?;
        Ok(())
    }

    /// The key of an attachment, if known.
    pub fn attachment_secret(&self, id: &AttachmentId) -> ClientResult<Option<Zeroizing<String>>> {
        let c = self.conn.lock();
        Ok(c.query_row(
            "SELECT secret FROM attachment_keys WHERE id = ?1",
            [id.as_str()],
            |r| r.get::<_, String>(0),
        )
        .optional()?
        .map(Zeroizing::new))
    }

    /// A setting or small state value.
    pub fn meta(&self, key: &str) -> ClientResult<Option<String>> {
        let c = self.conn.lock();
        Ok(
            c.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
                .optional()?,
        )
    }

    /// Sets a setting or small state value.
    pub fn set_meta(&self, key: &str, value: &str) -> ClientResult<()> {
        let c = self.conn.lock();
        c.execute("INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value", [key, value])?;
        Ok(())
    }
}

/// Turns what a person typed into an FTS5 query: every word must match, as a
/// prefix. A one-letter word ("à", "a") matches only itself: as a prefix it
/// would merge the lists of every word that starts with that letter.
fn fts_query(input: &str) -> Option<String> {
    let terms: Vec<String> = input
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(16)
        .map(|w| {
            let w = w.replace('"', "");
            if w.chars().count() == 1 {
                format!("\"{w}\"")
            } else {
                format!("\"{w}\"*")
            }
        })
        .collect();
    (!terms.is_empty()).then(|| terms.join(" "))
}

fn json<T: serde::Serialize>(v: &T) -> ClientResult<String> {
    serde_json::to_string(v).map_err(|e| ClientError::Cache(e.to_string()))
}

fn from_json<T: serde::de::DeserializeOwned>(s: &str) -> ClientResult<T> {
    serde_json::from_str(s)
        .map_err(|e| ClientError::Cache(format!("cached record unreadable: {e}")))
}

fn put_session_tx(c: &Connection, s: &Session) -> ClientResult<()> {
    c.execute(
        "INSERT INTO sessions (id, json) VALUES (?1, ?2) ON CONFLICT (id) DO UPDATE SET json = excluded.json",
        params![s.id.as_str(), json(s)?],
    )?;
    Ok(())
}

fn put_message_tx(c: &Connection, m: &Message) -> ClientResult<Message> {
    let existing: Option<String> = c
        .query_row(
            "SELECT json FROM messages WHERE id = ?1",
            [m.id.as_str()],
            |r| r.get(0),
        )
        .optional()?;
    let mut m = m.clone();
    // Kept by an existing row (ON CONFLICT below leaves it alone).
    let sort_key = match existing {
        Some(_) => 0,
        None => free_sort_key(c, sort_key_base(m.timestamp))?,
    };
    if let Some(j) = existing {
        let old: Message = from_json(&j)?;
        if old.status.rank() > m.status.rank() {
            m.status = old.status;
            m.delivered_at = m.delivered_at.or(old.delivered_at);
            m.read_at = m.read_at.or(old.read_at);
        }
        if old.deleted_at.is_some() && m.deleted_at.is_none() {
            m.deleted_at = old.deleted_at;
            m.content.clear();
            m.attachments.clear();
        }
    }
    c.execute(
        "INSERT INTO messages (id, client_message_id, session_id, context_kind, context_id, seq, sender_id, status_rank, content, json, sort_key)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
         ON CONFLICT (id) DO UPDATE SET status_rank = excluded.status_rank, content = excluded.content, json = excluded.json,
           seq = excluded.seq",
        params![
            m.id.as_str(),
            m.client_message_id.as_str(),
            m.session_id.as_str(),
            m.context.kind.as_str(),
            m.context.id.as_str(),
            i64::try_from(m.seq).unwrap_or(i64::MAX),
            m.sender.id.as_str(),
            i64::from(m.status.rank()),
            m.content,
            json(&m)?,
            sort_key
        ],
    )?;
    Ok(m)
}

/// The first `sort_key` of a message's millisecond.
fn sort_key_base(at: chrono::DateTime<chrono::Utc>) -> i64 {
    at.timestamp_millis().max(0).saturating_mul(SORT_KEY_SPREAD)
}

/// The first unused `sort_key` at or after the last one of `base`'s millisecond.
fn free_sort_key(c: &Connection, base: i64) -> ClientResult<i64> {
    let mut key: i64 = c.query_row(
        "SELECT coalesce(max(sort_key) + 1, ?1) FROM messages WHERE sort_key >= ?1 AND sort_key < ?1 + ?2",
        params![base, SORT_KEY_SPREAD],
        |r| r.get(0),
    )?;
    // More than SORT_KEY_SPREAD messages in one millisecond spill over.
    let mut taken = c.prepare_cached("SELECT 1 FROM messages WHERE sort_key = ?1")?;
    while taken.exists([key])? {
        key += 1;
    }
    Ok(key)
}

/// Brings a cache written by an older version to [`SCHEMA_VERSION`], in one
/// transaction: version 0 had the full-text index keyed by the insertion
/// rowid (history pages loaded later came out as "newer").
fn migrate(conn: &Connection) -> ClientResult<()> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version >= SCHEMA_VERSION {
        return Ok(());
    }
    let tx = conn.unchecked_transaction()?;
    let old_index = tx
        .query_row(
            "SELECT 1 FROM sqlite_master WHERE name = 'messages_fts'",
            [],
            |_| Ok(()),
        )
        .optional()?
        .is_some();
    if old_index {
        tx.execute_batch(
            "DROP TRIGGER IF EXISTS messages_ai; DROP TRIGGER IF EXISTS messages_ad;
             DROP TRIGGER IF EXISTS messages_au; DROP TABLE messages_fts;",
        )?;
    }
    let has_column = tx
        .prepare("SELECT 1 FROM pragma_table_info('messages') WHERE name = 'sort_key'")?
        .exists([])?;
    if !has_column {
        tx.execute_batch(
            "ALTER TABLE messages ADD COLUMN sort_key INTEGER;
             ALTER TABLE messages ADD COLUMN scope TEXT
               GENERATED ALWAYS AS (hex(context_kind || ':' || context_id)) VIRTUAL;",
        )?;
    }
    let mut keyed: Vec<(i64, i64)> = Vec::new();
    {
        let mut stmt = tx.prepare("SELECT rowid, json FROM messages WHERE sort_key IS NULL")?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let m: Message = from_json(&r.get::<_, String>(1)?)?;
            keyed.push((sort_key_base(m.timestamp), r.get(0)?));
        }
    }
    keyed.sort_unstable();
    let mut last = i64::MIN;
    {
        let mut set = tx.prepare("UPDATE messages SET sort_key = ?1 WHERE rowid = ?2")?;
        for (base, rowid) in keyed {
            let key = base.max(last.saturating_add(1));
            set.execute(params![key, rowid])?;
            last = key;
        }
    }
    tx.execute_batch(FTS_SCHEMA)?;
    tx.execute_batch("INSERT INTO messages_fts (messages_fts) VALUES ('rebuild')")?;
    tx.execute_batch(&format!("PRAGMA user_version = {SCHEMA_VERSION}"))?;
    tx.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const KEY: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

    fn message(n: u32, secs: i64, ctx: &str, content: &str) -> Message {
        serde_json::from_value(json!({
            "id": format!("msg_{n}"),
            "content": content,
            "type": "text",
            "sender": {"id": "patient_1", "type": "patient", "name": "P"},
            "recipient": {"id": "medecin_1", "type": "medecin", "name": "D"},
            "context": {"type": "ordonnance", "id": ctx},
            "timestamp": chrono::DateTime::from_timestamp(1_700_000_000 + secs, 0).unwrap(),
            "status": "read",
            "attachments": [],
            "metadata": {"isUrgent": false, "requiresResponse": false},
            "clientMessageId": format!("c_{n}"),
            "sessionId": format!("ses_{ctx}"),
            "seq": n,
        }))
        .unwrap()
    }

    fn ids(hits: &[SearchHit]) -> Vec<&str> {
        hits.iter().map(|h| h.message.id.as_str()).collect()
    }

    #[test]
    fn resume_starts_below_the_first_hole() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(&dir.path().join("c.db"), KEY).unwrap();
        // Session a: 3..5 held, 6 lost, 7 arrived; session b: 40..42, no hole.
        for n in [3, 4, 5, 7] {
            cache.put_message(&message(n, 0, "a", "x")).unwrap();
        }
        for n in 40..43 {
            cache.put_message(&message(n, 0, "b", "x")).unwrap();
        }
        let last = cache.last_seqs().unwrap();
        assert_eq!(last[&SessionId("ses_a".into())], 5);
        assert_eq!(last[&SessionId("ses_b".into())], 42);
        assert_eq!(cache.last_seq(&SessionId("ses_a".into())).unwrap(), Some(7));
        // The hole filled: the whole run counts.
        cache.put_message(&message(6, 0, "a", "x")).unwrap();
        assert_eq!(cache.last_seqs().unwrap()[&SessionId("ses_a".into())], 7);
    }

    #[test]
    fn search_is_newest_first_whatever_the_order_pages_arrived_in() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(&dir.path().join("c.db"), KEY).unwrap();
        // The live end first, then older history pages, then a same-second burst.
        cache
            .put_message(&message(10, 1000, "a", "fièvre ce soir"))
            .unwrap();
        cache
            .put_message(&message(1, 10, "a", "Fievre depuis hier"))
            .unwrap();
        cache
            .put_message(&message(5, 500, "b", "la fièvre baisse"))
            .unwrap();
        for n in 20..25 {
            cache
                .put_message(&message(n, 2000, "a", "fièvre encore"))
                .unwrap();
        }
        // An update (status, deletion) keeps the message's place.
        cache
            .put_message(&message(1, 10, "a", "Fievre depuis hier"))
            .unwrap();
        let all = cache.search("fievre", None, 50).unwrap();
        assert_eq!(
            ids(&all),
            ["msg_24", "msg_23", "msg_22", "msg_21", "msg_20", "msg_10", "msg_5", "msg_1"]
        );
        assert_eq!(all[5].snippet, "<mark>fièvre</mark> ce soir");
        let two = cache.search("fiè", None, 2).unwrap();
        assert_eq!(ids(&two), ["msg_24", "msg_23"]);
        let scoped = cache
            .search(
                "fievre",
                Some((ContextType::Ordonnance, &ContextId::new("b"))),
                50,
            )
            .unwrap();
        assert_eq!(ids(&scoped), ["msg_5"]);
    }

    #[test]
    fn a_version_0_cache_is_migrated_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        {
            let c = Connection::open(&path).unwrap();
            c.execute_batch(&format!("PRAGMA key = \"x'{KEY}'\";"))
                .unwrap();
            // The version-0 layout: the index keyed by insertion rowid.
            let old = SCHEMA.replace(
                "    json TEXT NOT NULL,\n    sort_key INTEGER,\n    scope TEXT GENERATED ALWAYS AS (hex(context_kind || ':' || context_id)) VIRTUAL\n",
                "    json TEXT NOT NULL\n",
            );
            assert_ne!(old, SCHEMA);
            c.execute_batch(&old).unwrap();
            c.execute_batch(
                "CREATE VIRTUAL TABLE messages_fts USING fts5(
                     content, content='messages', content_rowid='rowid', tokenize='unicode61 remove_diacritics 2');
                 CREATE TRIGGER messages_ai AFTER INSERT ON messages BEGIN
                     INSERT INTO messages_fts (rowid, content) VALUES (new.rowid, new.content);
                 END;",
            )
            .unwrap();
            for (n, secs) in [(3, 300), (1, 100), (2, 100)] {
                let m = message(n, secs, "a", "ordonnance renouvelée");
                c.execute(
                    "INSERT INTO messages (id, client_message_id, session_id, context_kind, context_id, seq, sender_id, status_rank, content, json)
                     VALUES (?1, ?2, 'ses_a', 'ordonnance', 'a', ?3, 'patient_1', 3, ?4, ?5)",
                    params![m.id.as_str(), m.client_message_id.as_str(), n, m.content, json(&m).unwrap()],
                )
                .unwrap();
            }
        }
        let cache = Cache::open(&path, KEY).unwrap();
        let hits = cache.search("renouvelee", None, 50).unwrap();
        assert_eq!(ids(&hits).len(), 3);
        assert_eq!(hits[0].message.id.as_str(), "msg_3");
        // New messages after the migration get their place too.
        cache
            .put_message(&message(4, 200, "a", "ordonnance renouvelée"))
            .unwrap();
        let hits = cache.search("renouvelee", None, 50).unwrap();
        assert_eq!(ids(&hits)[..2], ["msg_3", "msg_4"]);
        let a = ContextId::new("a");
        let scoped = cache
            .search("renouvelee", Some((ContextType::Ordonnance, &a)), 50)
            .unwrap();
        assert_eq!(scoped.len(), 4);
        let elsewhere = cache
            .search("renouvelee", Some((ContextType::Examen, &a)), 50)
            .unwrap();
        assert!(elsewhere.is_empty());
        drop(cache);
        // Opening again does not migrate twice.
        let cache = Cache::open(&path, KEY).unwrap();
        assert_eq!(cache.search("renouvelee", None, 50).unwrap().len(), 4);
    }

    #[test]
    fn fts_queries_are_quoted_prefixes() {
        assert_eq!(
            fts_query("médicament  dose").as_deref(),
            Some("\"médicament\"* \"dose\"*")
        );
        assert_eq!(
            fts_query("\" OR 1=1 --").as_deref(),
            Some("\"OR\"* \"1\" \"1\"")
        );
        assert_eq!(
            fts_query("glycémie à jeun").as_deref(),
            Some("\"glycémie\"* \"à\" \"jeun\"*")
        );
        assert_eq!(fts_query("  ").as_deref(), None);
    }
}
