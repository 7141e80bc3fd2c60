//! SQLite backend: one file in the data directory, WAL mode, migrations
//! embedded and applied at open.
//!
//! Writes go through a single writer thread that drains a bounded queue and
//! commits whatever is waiting in one transaction (group commit), each
//! operation inside its own savepoint so that one failure does not undo its
//! neighbours. Results are handed back only after the commit, so an `ack`
//! always means "on disk". Reads use a small pool of read-only connections on
//! blocking threads; no lock is held across I/O on the async side.

use super::anchor::{AuditAnchor, Checkpoint, CheckpointKind, Checkpoints};
use super::*;
use chrono::TimeZone;
use parking_lot::Mutex;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension, Row};
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/0001_init.sql"),
    include_str!("../../migrations/0002_e2e_keys.sql"),
    include_str!("../../migrations/0003_directory_changes.sql"),
    include_str!("../../migrations/0004_derived_notifications.sql"),
    include_str!("../../migrations/0005_question_categories.sql"),
    include_str!("../../migrations/0006_message_indexes.sql"),
    include_str!("../../migrations/0007_reply_templates.sql"),
];
/// Most operations committed in one transaction.
const MAX_BATCH: usize = 1024;
/// Writes waiting for the writer before senders are slowed down.
const QUEUE_DEPTH: usize = 8192;
/// Read connections kept open, and reads run at once: a burst of reads (10,000
/// sockets reconnecting) waits for a connection instead of opening one more
/// connection and one more blocking thread per read, whose memory stayed
/// with the process (docs/performance.md, "Store").
const MAX_READERS: usize = 8;
/// Page cache of the writer's connection (KiB): the pages a send touches
/// stay in memory instead of being read back from the file. Not more: after
/// a page split SQLite's commit scans the whole cache's hash table, and with
/// 32 MiB that scan was 5 % of the server's CPU at 5,000 msg/s
/// (docs/performance.md, "Store").
const WRITER_CACHE_KIB: i64 = 4 * 1024;
/// Shortest time between two WAL checkpoints of the checkpointer thread:
/// each one ends with an fsync of the database file, which the WAL's
/// `fdatasync` of the next commits waits behind (docs/performance.md, "Store").
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_secs(1);
/// Hash of the (virtual) row before the first audit row.
pub const AUDIT_GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

pub use super::Durability;

/// Maps SQLite's errors into the backend-neutral [`StoreError`].
impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode as C;
        match e.sqlite_error_code() {
            Some(C::ConstraintViolation) => Self::Conflict(e.to_string()),
            Some(C::DatabaseBusy | C::DatabaseLocked | C::CannotOpen) => {
                Self::Unavailable(e.to_string())
            }
            Some(C::DatabaseCorrupt | C::NotADatabase) => Self::Corrupt(e.to_string()),
            _ => Self::Backend(e.to_string()),
        }
    }
}

/// The SQLite store.
pub struct SqliteStore {
    path: PathBuf,
    jobs: mpsc::Sender<Box<dyn WriteJob>>,
    readers: Arc<Mutex<Vec<Connection>>>,
    /// One permit per read running (at most [`MAX_READERS`]).
    reading: Arc<tokio::sync::Semaphore>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
    anchor: Option<Arc<AuditAnchor>>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

fn open_conn(path: &Path, read_only: bool) -> rusqlite::Result<Connection> {
    let flags = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
    };
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.set_prepared_statement_cache_capacity(64);
    conn.execute_batch("PRAGMA foreign_keys = ON;")?;
    Ok(conn)
}

/// Creates the database file 0600 before SQLite does (SQLite then gives its
/// WAL and shared-memory files the database file's mode), and makes the files
/// of an existing database 0600.
fn private_database(path: &Path) -> std::io::Result<()> {
    match crate::files::create_private(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let name = path.as_os_str().to_owned();
            for suffix in ["", "-wal", "-shm"] {
                let mut p = name.clone();
                p.push(suffix);
                crate::files::make_private(Path::new(&p))?;
            }
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// Applies the embedded migrations that are not applied yet.
fn migrate(conn: &Connection) -> rusqlite::Result<()> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    for (i, sql) in MIGRATIONS
        .iter()
        .enumerate()
        .skip(usize::try_from(version).unwrap_or(0))
    {
        conn.execute_batch(&format!(
            "BEGIN IMMEDIATE; {sql}; PRAGMA user_version = {}; COMMIT;",
            i + 1
        ))?;
    }
    Ok(())
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and starts the writer,
    /// without an audit anchor (tools and tests; the server uses
    /// [`Self::open_anchored`]).
    pub fn open(path: impl Into<PathBuf>, durability: Durability) -> StoreResult<Self> {
        Self::open_anchored(path, durability, None, std::time::Duration::ZERO)
    }

    /// Opens the database; the writer appends a checkpoint of the audit head
    /// to `anchor` when it goes idle, and at most once per `interval` under
    /// load (see [`super::anchor`]).
    pub fn open_anchored(
        path: impl Into<PathBuf>,
        durability: Durability,
        anchor: Option<Arc<AuditAnchor>>,
        interval: std::time::Duration,
    ) -> StoreResult<Self> {
        let path = path.into();
        private_database(&path)?;
        let conn = open_conn(&path, false)?;
        conn.execute_batch("PRAGMA journal_mode = WAL;")?;
        migrate(&conn)?;
        // Durability `full`: SQLite does not sync at commit; the syncer
        // thread `fdatasync`s the WAL after each commit, while the writer
        // already runs the next batch, and only then answers the callers
        // (docs/performance.md, "Store"). `normal`: SQLite's own setting.
        let full = durability == Durability::Full;
        conn.execute_batch(if full {
            "PRAGMA synchronous = OFF;"
        } else {
            "PRAGMA synchronous = NORMAL;"
        })?;
        // The writer never checkpoints the WAL itself: a checkpoint copies
        // pages back into the database file (reads, writes and an fsync), and
        // in the writer it held up every send queued behind it. The
        // checkpointer thread does it on its own connection, PASSIVE, so it
        // never blocks the writer (docs/performance.md, "Store").
        conn.execute_batch(&format!(
            "PRAGMA wal_autocheckpoint = 0; PRAGMA cache_size = -{WRITER_CACHE_KIB};"
        ))?;
        let (kick, kicked) = std::sync::mpsc::sync_channel::<()>(1);
        let checkpoint_conn = open_conn(&path, false)?;
        std::thread::Builder::new()
            .name("dmp-store-ckpt".into())
            .spawn(move || checkpointer(&checkpoint_conn, &kicked))?;
        let (done_tx, done_rx) = std::sync::mpsc::channel::<Committed>();
        let mut wal = path.clone().into_os_string();
        wal.push("-wal");
        let syncer_anchor = anchor.clone();
        std::thread::Builder::new()
            .name("dmp-store-sync".into())
            .spawn(move || {
                syncer(
                    &PathBuf::from(wal),
                    full,
                    &done_rx,
                    syncer_anchor.as_deref(),
                    interval,
                    &kick,
                );
            })?;
        let (tx, rx) = mpsc::channel(QUEUE_DEPTH);
        let handle = std::thread::Builder::new()
            .name("dmp-store-writer".into())
            .spawn(move || writer_loop(conn, rx, &done_tx, full))?;
        Ok(Self {
            path,
            jobs: tx,
            readers: Arc::new(Mutex::new(Vec::new())),
            reading: Arc::new(tokio::sync::Semaphore::new(MAX_READERS)),
            writer: Mutex::new(Some(handle)),
            anchor,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` in the writer, inside the next group commit, in its own
    /// savepoint (a failure undoes only this operation).
    async fn write<R, F>(&self, f: F) -> StoreResult<R>
    where
        R: Send + 'static,
        F: FnOnce(&mut WriteCtx<'_>) -> StoreResult<R> + Send + 'static,
    {
        self.submit(f, true).await
    }

    /// Like [`Self::write`] without the savepoint, for hot operations that
    /// check everything before their first write: a database error after a
    /// write aborts the whole batch (every caller gets an error and retries).
    async fn write_unguarded<R, F>(&self, f: F) -> StoreResult<R>
    where
        R: Send + 'static,
        F: FnOnce(&mut WriteCtx<'_>) -> StoreResult<R> + Send + 'static,
    {
        self.submit(f, false).await
    }

    async fn submit<R, F>(&self, f: F, guarded: bool) -> StoreResult<R>
    where
        R: Send + 'static,
        F: FnOnce(&mut WriteCtx<'_>) -> StoreResult<R> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let job = Box::new(Op {
            f: Some(f),
            result: None,
            reply: Some(tx),
            guarded,
        });
        self.jobs.send(job).await.map_err(|_| StoreError::Closed)?;
        // The syncer answers a batch's jobs in order. Out of tokio's
        // cooperative budget, a ready answer would be put back behind later
        // ones, and pipelined sends of one socket would reach their
        // recipient out of `seq` order (docs/performance.md, "Connections").
        tokio::task::coop::unconstrained(rx)
            .await
            .map_err(|_| StoreError::Closed)?
    }

    /// Runs `f` on a read connection on a blocking thread.
    async fn read<R, F>(&self, f: F) -> StoreResult<R>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<R> + Send + 'static,
    {
        let readers = self.readers.clone();
        let path = self.path.clone();
        let permit = self
            .reading
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Closed)?;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let conn = match readers.lock().pop() {
                Some(c) => c,
                None => open_conn(&path, true)?,
            };
            let out = f(&conn);
            let mut pool = readers.lock();
            if pool.len() < MAX_READERS {
                pool.push(conn);
            }
            out
        })
        .await
        .map_err(|_| StoreError::Closed)?
    }

    /// Stops the writer after the queued writes are committed.
    pub fn close(&self) {
        // Dropping our sender is not enough while clones live in tasks; the
        // writer exits when every sender is gone. Joining here would block,
        // so we only detach: pending writes still complete before exit.
        let _ = self.writer.lock().take();
    }
}

/// One queued write.
trait WriteJob: Send {
    fn run(&mut self, ctx: &mut WriteCtx<'_>);
    fn finish(self: Box<Self>, commit: Result<(), String>);
}

struct Op<F, R> {
    f: Option<F>,
    result: Option<StoreResult<R>>,
    reply: Option<oneshot::Sender<StoreResult<R>>>,
    guarded: bool,
}

impl<F, R> WriteJob for Op<F, R>
where
    R: Send,
    F: FnOnce(&mut WriteCtx<'_>) -> StoreResult<R> + Send,
{
    fn run(&mut self, ctx: &mut WriteCtx<'_>) {
        if let Some(f) = self.f.take() {
            let result = if self.guarded {
                in_savepoint(ctx, f)
            } else {
                let r = f(ctx);
                if r.as_ref().is_err_and(StoreError::is_engine) {
                    ctx.abort = true;
                }
                r
            };
            self.result = Some(result);
        }
    }

    fn finish(mut self: Box<Self>, commit: Result<(), String>) {
        let out = match commit {
            Ok(()) => self.result.take().unwrap_or(Err(StoreError::Closed)),
            Err(e) => Err(StoreError::Backend(format!("commit failed: {e}"))),
        };
        if let Some(reply) = self.reply.take() {
            let _ = reply.send(out);
        }
    }
}

fn in_savepoint<R>(
    ctx: &mut WriteCtx<'_>,
    f: impl FnOnce(&mut WriteCtx<'_>) -> StoreResult<R>,
) -> StoreResult<R> {
    ctx.conn.execute_batch("SAVEPOINT op")?;
    let hash_before = ctx.last_hash.clone();
    let id_before = ctx.last_id;
    match f(ctx) {
        Ok(r) => {
            ctx.conn.execute_batch("RELEASE op")?;
            Ok(r)
        }
        Err(e) => {
            let _ = ctx.conn.execute_batch("ROLLBACK TO op; RELEASE op");
            ctx.last_hash = hash_before;
            ctx.last_id = id_before;
            Err(e)
        }
    }
}

/// What a write operation sees: the connection inside the open transaction
/// and the head of the audit chain.
pub(crate) struct WriteCtx<'c> {
    conn: &'c Connection,
    last_hash: String,
    /// Id of the last audit row this batch appended.
    last_id: Option<i64>,
    /// An unguarded operation failed after writing: the batch must not commit.
    abort: bool,
}

impl WriteCtx<'_> {
    /// Appends one audit row, chained to the previous one. Every field is
    /// escaped first (control characters, bidi overrides), so no row holds a
    /// raw control character, whatever a client put in a path or a header.
    fn audit(&mut self, ev: &AuditEvent) -> StoreResult<()> {
        let ev = &ev.escaped();
        let time = ms(ev.time);
        let hash = audit_hash(&self.last_hash, time, ev);
        self.conn
            .prepare_cached(
                "INSERT INTO audit (time, actor, action, target, outcome, ip, user_agent, request_id, session_id, prev_hash, hash)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )?
            .execute(params![
                time,
                ev.actor,
                ev.action,
                ev.target,
                ev.outcome,
                ev.meta.ip,
                ev.meta.user_agent,
                ev.meta.request_id,
                ev.session_id,
                self.last_hash,
                hash
            ])?;
        self.last_id = Some(self.conn.last_insert_rowid());
        self.last_hash = hash;
        Ok(())
    }

    /// Appends one change to the directory change log (same transaction).
    fn log_change(&self, at: i64, change: &DirectoryChange) -> StoreResult<()> {
        let (kind, user, doctor, ckind, cid, login) = match change {
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
        self.conn
            .prepare_cached(
                "INSERT INTO directory_changes (at, kind, user_id, doctor_id, context_kind, context_id, login_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![at, kind, user, doctor, ckind, cid, login])?;
        Ok(())
    }
}

fn change_from_row(r: &Row<'_>) -> rusqlite::Result<LoggedChange> {
    let rev: i64 = r.get(0)?;
    let kind: String = r.get(1)?;
    let user = |i| -> rusqlite::Result<UserId> {
        Ok(UserId(r.get::<_, Option<String>>(i)?.unwrap_or_default()))
    };
    let change = match kind.as_str() {
        "user" => DirectoryChange::User(user(2)?),
        "context" => DirectoryChange::Context {
            kind: get_enum(r, 4)?,
            id: ContextId(r.get(5)?),
            patient_id: user(2)?,
            doctor_id: user(3)?,
        },
        "login" => DirectoryChange::Login {
            id: r.get(6)?,
            user_id: user(2)?,
        },
        "logins_of" => DirectoryChange::LoginsOf(user(2)?),
        _ => DirectoryChange::All,
    };
    Ok(LoggedChange { rev, change })
}

const USER_SELECT: &str = "SELECT id, kind, name, username, password_hash, disabled FROM users";

fn user_from_row(r: &Row<'_>) -> rusqlite::Result<UserRecord> {
    Ok(UserRecord {
        id: UserId(r.get(0)?),
        kind: get_enum(r, 1)?,
        name: r.get(2)?,
        username: r.get(3)?,
        password_hash: r.get(4)?,
        disabled: r.get(5)?,
    })
}

const CONTEXT_SELECT: &str =
    "SELECT kind, id, title, date, patient_id, doctor_id, summary FROM contexts";

fn context_from_row(r: &Row<'_>) -> rusqlite::Result<ContextRecord> {
    Ok(ContextRecord {
        kind: get_enum(r, 0)?,
        id: ContextId(r.get(1)?),
        title: r.get(2)?,
        date: r.get(3)?,
        patient_id: UserId(r.get(4)?),
        doctor_id: UserId(r.get(5)?),
        summary: r.get(6)?,
    })
}

fn family_from_row(r: &Row<'_>) -> rusqlite::Result<FamilyRecord> {
    Ok(FamilyRecord {
        id: r.get(0)?,
        user_id: UserId(r.get(1)?),
        expires_at: get_time(r, 2)?,
    })
}

/// Checkpoints the WAL after the writer's commits, at most every
/// [`CHECKPOINT_EVERY`]; ends with the writer (its sender dropped), after a
/// last checkpoint.
fn checkpointer(conn: &Connection, kicked: &std::sync::mpsc::Receiver<()>) {
    let checkpoint = || {
        if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::warn!(error = %e, "WAL checkpoint failed");
        }
    };
    while kicked.recv().is_ok() {
        checkpoint();
        std::thread::sleep(CHECKPOINT_EVERY);
    }
    checkpoint();
}

/// A committed (or failed) batch on its way to its callers.
struct Committed {
    jobs: Vec<Box<dyn WriteJob>>,
    /// The new audit head, or why the batch failed.
    outcome: Result<Option<(i64, String)>, String>,
    /// Nothing else was queued for the writer when it was handed over.
    queue_empty: bool,
}

fn writer_loop(
    conn: Connection,
    mut rx: mpsc::Receiver<Box<dyn WriteJob>>,
    done: &std::sync::mpsc::Sender<Committed>,
    full: bool,
) {
    loop {
        let first = match rx.blocking_recv() {
            Some(job) => job,
            None => break,
        };
        let mut batch: Vec<Box<dyn WriteJob>> = Vec::with_capacity(64);
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let outcome = run_batch(&conn, &mut batch);
        if let Err(e) = &outcome {
            tracing::error!(error = %e, jobs = batch.len(), "store batch failed");
            let _ = conn.execute_batch("ROLLBACK");
        }
        let committed = Committed {
            jobs: batch,
            outcome: outcome.map_err(|e| e.to_string()),
            queue_empty: rx.is_empty(),
        };
        if let Err(std::sync::mpsc::SendError(c)) = done.send(committed) {
            for job in c.jobs {
                job.finish(Err("the store is closing".into()));
            }
        }
    }
    if full {
        // The checkpoint SQLite runs when the last connection closes must sync.
        let _ = conn.execute_batch("PRAGMA synchronous = FULL;");
    }
}

/// Answers the callers of committed batches in order: with durability
/// `full`, after one `fdatasync` of the WAL covering every batch that
/// arrived meanwhile. Then anchors the audit head (see [`super::anchor`]):
/// before the answers when the writer had nothing else queued, so that a
/// caller that saw its write succeed (the admin CLI, then exiting) also has
/// it anchored; under load, at most once per `interval`. Kicks the
/// checkpointer after durable commits.
fn syncer(
    wal: &Path,
    full: bool,
    done: &std::sync::mpsc::Receiver<Committed>,
    anchor: Option<&AuditAnchor>,
    interval: std::time::Duration,
    kick: &std::sync::mpsc::SyncSender<()>,
) {
    let mut file: Option<std::fs::File> = None;
    let mut pending: Option<(i64, String)> = None;
    let mut last_checkpoint: Option<std::time::Instant> = None;
    let checkpoint = |head: &mut Option<(i64, String)>, at: &mut Option<std::time::Instant>| {
        if let (Some(a), Some((id, hash))) = (anchor, head.take()) {
            if let Err(e) = a.append(CheckpointKind::Checkpoint, id, &hash) {
                tracing::error!(error = %e, "cannot append an audit checkpoint");
            }
            *at = Some(std::time::Instant::now());
        }
    };
    while let Ok(first) = done.recv() {
        let mut ready = vec![first];
        while let Ok(more) = done.try_recv() {
            ready.push(more);
        }
        let wrote = ready.iter().any(|c| c.outcome.is_ok());
        let synced: Result<(), String> = if full && wrote {
            sync_data(wal, &mut file)
        } else {
            Ok(())
        };
        if let Err(e) = &synced {
            tracing::error!(error = %e, "cannot sync the WAL");
        }
        if synced.is_ok() {
            for c in &ready {
                if let Ok(Some(head)) = &c.outcome {
                    pending = Some(head.clone());
                }
            }
        }
        let idle = ready.last().is_some_and(|c| c.queue_empty);
        if pending.is_some() && (idle || last_checkpoint.is_none_or(|t| t.elapsed() >= interval)) {
            checkpoint(&mut pending, &mut last_checkpoint);
        }
        if wrote && synced.is_ok() {
            // Pages were appended to the WAL (a kick already pending is enough).
            let _ = kick.try_send(());
        }
        for c in ready {
            let commit = match (&c.outcome, &synced) {
                (Err(e), _) | (Ok(_), Err(e)) => Err(e.clone()),
                (Ok(_), Ok(())) => Ok(()),
            };
            for job in c.jobs {
                job.finish(commit.clone());
            }
        }
    }
    checkpoint(&mut pending, &mut last_checkpoint);
}

/// `fdatasync` of the WAL (opened once; SQLite keeps the file while any
/// connection is open).
fn sync_data(wal: &Path, file: &mut Option<std::fs::File>) -> Result<(), String> {
    if file.is_none() {
        *file = Some(std::fs::File::open(wal).map_err(|e| format!("cannot open the WAL: {e}"))?);
    }
    match file.as_ref() {
        Some(f) => f
            .sync_data()
            .map_err(|e| format!("cannot sync the WAL: {e}")),
        None => Ok(()),
    }
}

/// Runs a batch in one transaction; returns the new audit head (row id and
/// chain hash) when the batch appended audit rows.
fn run_batch(
    conn: &Connection,
    batch: &mut [Box<dyn WriteJob>],
) -> rusqlite::Result<Option<(i64, String)>> {
    // Prepared once and kept, like the statements of the jobs: a batch of
    // one send used to parse these three again (docs/performance.md, "Store").
    conn.prepare_cached("BEGIN IMMEDIATE")?.execute([])?;
    // Another process (the admin CLI) may have appended audit rows: read the head inside the lock.
    let last_hash: String = conn
        .prepare_cached("SELECT hash FROM audit ORDER BY id DESC LIMIT 1")?
        .query_row([], |r| r.get(0))
        .optional()?
        .unwrap_or_else(|| AUDIT_GENESIS.to_owned());
    let mut ctx = WriteCtx {
        conn,
        last_hash,
        last_id: None,
        abort: false,
    };
    for job in batch.iter_mut() {
        job.run(&mut ctx);
        if ctx.abort {
            return Err(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ABORT),
                Some("an operation failed after writing; batch rolled back".into()),
            ));
        }
    }
    conn.prepare_cached("COMMIT")?.execute([])?;
    Ok(ctx.last_id.map(|id| (id, ctx.last_hash)))
}

/// What the audit trail being verified is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trail {
    /// The database in use: every checkpoint must match a row, the last one included.
    Live,
    /// A backup: it may end before the newest checkpoints, but every
    /// checkpoint up to its end must match.
    Backup,
}

/// Verifies the hash chain of the database behind `c` and, with an anchor,
/// its checkpoints (see [`super::anchor`]).
pub fn verify_trail(
    c: &Connection,
    anchor: Option<&AuditAnchor>,
    trail: Trail,
) -> StoreResult<AuditVerdict> {
    let checkpoints = match anchor.map(AuditAnchor::read).transpose() {
        Ok(None) => None,
        Ok(Some(Checkpoints::Valid(mut v))) => {
            v.sort_by_key(|cp| cp.row_id);
            Some(v)
        }
        Ok(Some(Checkpoints::Forged { line })) => {
            return Ok(AuditVerdict::Broken {
                row_id: 0,
                reason: format!(
                    "checkpoint line {line} does not verify: forged, or made with another key"
                ),
            })
        }
        Err(e) => return Err(StoreError::Invalid(e.to_string())),
    };
    // Row 0 is the empty trail (a restore of a backup without audit rows).
    let mut pending: std::collections::VecDeque<Checkpoint> = checkpoints
        .iter()
        .flatten()
        .filter(|cp| cp.row_id > 0)
        .cloned()
        .collect();
    let mut stmt = c.prepare(&format!("{AUDIT_SELECT} ORDER BY id ASC"))?;
    let mut rows = stmt.query([])?;
    let mut prev = AUDIT_GENESIS.to_owned();
    let mut n = 0u64;
    let mut last_id = 0i64;
    let mut anchored: Option<i64> = None;
    while let Some(r) = rows.next()? {
        let row = audit_from_row(r)?;
        let time_ms: i64 = r.get(1)?;
        if row.prev_hash != prev {
            return Ok(AuditVerdict::Broken {
                row_id: row.id,
                reason: "does not link to the previous row".into(),
            });
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
        if audit_hash(&prev, time_ms, &ev) != row.hash {
            return Ok(AuditVerdict::Broken {
                row_id: row.id,
                reason: "content does not match its hash".into(),
            });
        }
        while let Some(cp) = pending.front() {
            if cp.row_id > row.id {
                break;
            }
            if cp.row_id < row.id {
                return Ok(AuditVerdict::Broken {
                    row_id: cp.row_id,
                    reason: "a row anchored by a checkpoint is missing".into(),
                });
            }
            if cp.hash != row.hash {
                return Ok(AuditVerdict::Broken {
                    row_id: row.id,
                    reason:
                        "rewritten: the chain no longer has the hash a checkpoint anchored here"
                            .into(),
                });
            }
            anchored = Some(row.id);
            pending.pop_front();
        }
        prev = row.hash;
        last_id = row.id;
        n += 1;
    }
    if trail == Trail::Live {
        if let Some(cp) = pending.back() {
            return Ok(AuditVerdict::Broken {
                row_id: cp.row_id,
                reason: format!(
                    "truncated: a checkpoint anchors row {} but the trail ends at row {last_id}",
                    cp.row_id
                ),
            });
        }
        if checkpoints.as_ref().is_some_and(Vec::is_empty) && n > 0 {
            return Ok(AuditVerdict::Broken {
                row_id: last_id,
                reason: "no checkpoint anchors the trail (checkpoint file missing or emptied)"
                    .into(),
            });
        }
    }
    Ok(AuditVerdict::Intact {
        rows: n,
        last_row: last_id,
        anchored_through: anchored,
        head: prev,
    })
}

/// Verifies a database file that is not open (a backup about to be restored).
pub fn verify_file(path: &Path, anchor: Option<&AuditAnchor>) -> StoreResult<AuditVerdict> {
    let c = open_conn(path, true)?;
    verify_trail(&c, anchor, Trail::Backup)
}

/// The chain hash of one audit row: SHA-256 over the previous hash and every
/// field, each length-prefixed so that no two rows encode alike.
pub fn audit_hash(prev: &str, time_ms: i64, ev: &AuditEvent) -> String {
    let mut h = Sha256::new();
    for part in [
        prev,
        &time_ms.to_string(),
        &ev.actor,
        &ev.action,
        &ev.target,
        &ev.outcome,
        &ev.meta.ip,
        &ev.meta.user_agent,
        &ev.meta.request_id,
        &ev.session_id,
    ] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    hex::encode(h.finalize())
}

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn from_ms(v: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(v).single().unwrap_or_default()
}

fn conv_err(idx: usize, e: impl std::error::Error + Send + Sync + 'static) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, Box::new(e))
}

fn get_enum<T: FromStr>(row: &Row<'_>, idx: usize) -> rusqlite::Result<T>
where
    T::Err: std::error::Error + Send + Sync + 'static,
{
    let s: String = row.get(idx)?;
    s.parse::<T>().map_err(|e| conv_err(idx, e))
}

fn get_opt_enum<T: FromStr>(row: &Row<'_>, idx: usize) -> rusqlite::Result<Option<T>>
where
    T::Err: std::error::Error + Send + Sync + 'static,
{
    row.get::<_, Option<String>>(idx)?
        .map(|s| s.parse::<T>().map_err(|e| conv_err(idx, e)))
        .transpose()
}

/// A participant from three columns: id, kind, name.
fn participant_at(row: &Row<'_>, idx: usize) -> rusqlite::Result<Participant> {
    Ok(Participant {
        id: UserId(row.get(idx)?),
        kind: get_enum(row, idx + 1)?,
        name: row.get(idx + 2)?,
    })
}

fn get_time(row: &Row<'_>, idx: usize) -> rusqlite::Result<DateTime<Utc>> {
    Ok(from_ms(row.get(idx)?))
}

fn get_opt_time(row: &Row<'_>, idx: usize) -> rusqlite::Result<Option<DateTime<Utc>>> {
    Ok(row.get::<_, Option<i64>>(idx)?.map(from_ms))
}

fn get_u64(row: &Row<'_>, idx: usize) -> rusqlite::Result<u64> {
    Ok(u64::try_from(row.get::<_, i64>(idx)?).unwrap_or(0))
}

/// `system` messages have no sender account: their sender is made up from
/// [`SystemEvent::sender`] (the LEFT JOIN and the COALESCEs).
const MSG_SELECT: &str = "SELECT m.id, m.content, m.kind, m.sender_id, COALESCE(su.kind, 'system'), COALESCE(su.name, 'DMP Messagerie'),
    m.recipient_id, ru.kind, ru.name,
    s.context_kind, s.context_id, m.created_at, m.status, m.attachments, m.is_urgent, m.requires_response,
    m.client_message_id, m.session_id, m.seq, m.delivered_at, m.read_at, m.deleted_at, m.category, m.system_event
    FROM messages m JOIN sessions s ON s.id = m.session_id
    LEFT JOIN users su ON su.id = m.sender_id JOIN users ru ON ru.id = m.recipient_id";

fn message_from_row(r: &Row<'_>) -> rusqlite::Result<Message> {
    let attachments: String = r.get(13)?;
    Ok(Message {
        id: MessageId(r.get(0)?),
        content: r.get(1)?,
        kind: get_enum(r, 2)?,
        sender: participant_at(r, 3)?,
        recipient: participant_at(r, 6)?,
        context: ContextRef {
            kind: get_enum(r, 9)?,
            id: ContextId(r.get(10)?),
        },
        timestamp: get_time(r, 11)?,
        status: get_enum(r, 12)?,
        attachments: serde_json::from_str(&attachments).map_err(|e| conv_err(13, e))?,
        metadata: MessageMetadata {
            is_urgent: r.get(14)?,
            requires_response: r.get(15)?,
            category: get_opt_enum(r, 22)?,
            system: match r.get::<_, Option<String>>(23)? {
                Some(json) => Some(serde_json::from_str(&json).map_err(|e| conv_err(23, e))?),
                None => None,
            },
        },
        client_message_id: ClientMessageId(r.get(16)?),
        session_id: SessionId(r.get(17)?),
        seq: get_u64(r, 18)?,
        delivered_at: get_opt_time(r, 19)?,
        read_at: get_opt_time(r, 20)?,
        deleted_at: get_opt_time(r, 21)?,
        encrypted: None,
        e2e_error: None,
    })
}

const SESSION_SELECT: &str = "SELECT s.id, s.context_kind, s.context_id, s.patient_id, p.kind, p.name, s.doctor_id, d.kind, d.name,
    s.status, s.created_at, s.last_activity, s.message_count, s.unread_patient, s.unread_doctor, s.last_seq
    FROM sessions s JOIN users p ON p.id = s.patient_id JOIN users d ON d.id = s.doctor_id";

fn session_from_row(r: &Row<'_>) -> rusqlite::Result<Session> {
    Ok(Session {
        id: SessionId(r.get(0)?),
        context_type: get_enum(r, 1)?,
        context_id: ContextId(r.get(2)?),
        participants: SessionParticipants {
            patient: participant_at(r, 3)?,
            doctor: participant_at(r, 6)?,
        },
        status: get_enum(r, 9)?,
        created_at: get_time(r, 10)?,
        last_activity: get_time(r, 11)?,
        message_count: get_u64(r, 12)?,
        unread_count: UnreadCount {
            patient: get_u64(r, 13)?,
            doctor: get_u64(r, 14)?,
        },
        last_seq: get_u64(r, 15)?,
    })
}

fn load_session(conn: &Connection, id: &str) -> StoreResult<Option<Session>> {
    Ok(conn
        .prepare_cached(&format!("{SESSION_SELECT} WHERE s.id = ?1"))?
        .query_row([id], session_from_row)
        .optional()?)
}

fn load_message(conn: &Connection, id: &str) -> StoreResult<Option<Message>> {
    Ok(conn
        .prepare_cached(&format!("{MSG_SELECT} WHERE m.id = ?1"))?
        .query_row([id], message_from_row)
        .optional()?)
}

/// A user's unseen notifications, derived from the message rows: a message
/// to them that is neither read nor deleted (see `store::notification_for`).
const NOTIF_SELECT: &str =
    "SELECT m.id, m.sender_id, u.kind, u.name, s.context_kind, s.context_id, m.session_id,
    c.title, m.is_urgent, substr(m.content, 1, 8) = 'dmp-e2e:', m.created_at
    FROM messages m JOIN users u ON u.id = m.sender_id JOIN sessions s ON s.id = m.session_id
    JOIN contexts c ON c.kind = s.context_kind AND c.id = s.context_id
    WHERE m.recipient_id = ?1 AND m.read_at IS NULL AND m.deleted_at IS NULL
    ORDER BY m.created_at DESC, m.seq DESC LIMIT ?2";

fn notification_from_row(r: &Row<'_>) -> rusqlite::Result<Notification> {
    Ok(NotificationRow {
        message_id: MessageId(r.get(0)?),
        sender: participant_at(r, 1)?,
        context: ContextRef {
            kind: get_enum(r, 4)?,
            id: ContextId(r.get(5)?),
        },
        session_id: SessionId(r.get(6)?),
        context_title: r.get(7)?,
        is_urgent_flag: r.get(8)?,
        is_envelope: r.get(9)?,
        created_at: get_time(r, 10)?,
    }
    .notification())
}

fn audit_from_row(r: &Row<'_>) -> rusqlite::Result<AuditRow> {
    Ok(AuditRow {
        id: r.get(0)?,
        time: get_time(r, 1)?,
        actor: r.get(2)?,
        action: r.get(3)?,
        target: r.get(4)?,
        outcome: r.get(5)?,
        ip: r.get(6)?,
        user_agent: r.get(7)?,
        request_id: r.get(8)?,
        session_id: r.get(9)?,
        prev_hash: r.get(10)?,
        hash: r.get(11)?,
    })
}

const AUDIT_SELECT: &str =
    "SELECT id, time, actor, action, target, outcome, ip, user_agent, request_id, session_id, prev_hash, hash FROM audit";

/// Appends a `system` message (seq already taken) to the patient.
fn insert_system_message(
    c: &Connection,
    session_id: &SessionId,
    message_id: &MessageId,
    seq: i64,
    patient_id: &str,
    event: &SystemEvent,
    now: i64,
) -> StoreResult<()> {
    let event_json =
        serde_json::to_string(event).map_err(|e| StoreError::Invalid(e.to_string()))?;
    c.prepare_cached(
        "INSERT INTO messages (id, session_id, seq, client_message_id, sender_id, recipient_id, kind, content, created_at,
           status, is_urgent, requires_response, attachments, category, system_event)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'system', ?7, ?8, 'sent', 0, 0, '[]', NULL, ?9)",
    )?
    .execute(params![
        message_id.as_str(),
        session_id.as_str(),
        seq,
        format!("sys_{}", message_id.as_str()),
        SYSTEM_SENDER,
        patient_id,
        event.fallback_text(),
        now,
        event_json
    ])?;
    Ok(())
}

/// Creates the session row if missing; re-activates an archived one when `touch` is set.
fn ensure_session_row(
    conn: &Connection,
    ctx: &ContextRecord,
    now: i64,
) -> StoreResult<(SessionId, bool)> {
    let id = Session::id_for(ctx.kind, &ctx.id, &ctx.patient_id, &ctx.doctor_id);
    let created = conn
        .prepare_cached(
            "INSERT INTO sessions (id, context_kind, context_id, patient_id, doctor_id, status, created_at, last_activity)
             VALUES (?1, ?2, ?3, ?4, ?5, 'active', ?6, ?6) ON CONFLICT (id) DO NOTHING",
        )?
        .execute(params![id.as_str(), ctx.kind.as_str(), ctx.id.as_str(), ctx.patient_id.as_str(), ctx.doctor_id.as_str(), now])?;
    Ok((id, created == 1))
}

fn revoke_families_of(conn: &Connection, user: &str, now: i64) -> StoreResult<()> {
    conn.prepare_cached(
        "UPDATE auth_families SET revoked_at = ?2 WHERE user_id = ?1 AND revoked_at IS NULL",
    )?
    .execute(params![user, now])?;
    Ok(())
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> StoreResult<()> {
        self.read(|c| {
            Ok(c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))
                .map(|_| ())?)
        })
        .await
    }

    async fn user(&self, id: &UserId) -> StoreResult<Option<UserRecord>> {
        let id = id.clone();
        self.read(move |c| {
            Ok(c.prepare_cached(&format!("{USER_SELECT} WHERE id = ?1"))?
                .query_row([id.as_str()], user_from_row)
                .optional()?)
        })
        .await
    }

    async fn users(&self, ids: &[UserId]) -> StoreResult<Vec<UserRecord>> {
        let ids = ids.to_vec();
        self.read(move |c| {
            let mut stmt = c.prepare_cached(&format!("{USER_SELECT} WHERE id = ?1"))?;
            let mut out = Vec::new();
            for id in &ids {
                if let Some(u) = stmt.query_row([id.as_str()], user_from_row).optional()? {
                    out.push(u);
                }
            }
            Ok(out)
        })
        .await
    }

    async fn context(
        &self,
        kind: ContextType,
        id: &ContextId,
    ) -> StoreResult<Option<ContextRecord>> {
        let id = id.clone();
        self.read(move |c| {
            Ok(
                c.prepare_cached(&format!("{CONTEXT_SELECT} WHERE kind = ?1 AND id = ?2"))?
                    .query_row([kind.as_str(), id.as_str()], context_from_row)
                    .optional()?,
            )
        })
        .await
    }

    async fn contexts_of(&self, user: &UserId, limit: u32) -> StoreResult<Vec<ContextRecord>> {
        let user = user.clone();
        self.read(move |c| {
            // Two indexed reads merged (an OR would scan the table).
            Ok(c.prepare_cached(&format!(
                "SELECT * FROM ({CONTEXT_SELECT} WHERE patient_id = ?1 UNION ALL {CONTEXT_SELECT} WHERE doctor_id = ?1)
                 ORDER BY date DESC, id ASC, kind ASC LIMIT ?2"
            ))?
            .query_map(params![user.as_str(), limit], context_from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    async fn login(&self, id: &str, now: DateTime<Utc>) -> StoreResult<Option<FamilyRecord>> {
        let id = id.to_owned();
        self.read(move |c| {
            Ok(c.prepare_cached(
                "SELECT id, user_id, expires_at FROM auth_families WHERE id = ?1 AND revoked_at IS NULL AND expires_at > ?2",
            )?
            .query_row(params![id, ms(now)], family_from_row)
            .optional()?)
        })
        .await
    }

    async fn logins_of(&self, user: &UserId, now: DateTime<Utc>) -> StoreResult<Vec<FamilyRecord>> {
        let user = user.clone();
        self.read(move |c| {
            Ok(c.prepare_cached(
                "SELECT id, user_id, expires_at FROM auth_families WHERE user_id = ?1 AND revoked_at IS NULL AND expires_at > ?2",
            )?
            .query_map(params![user.as_str(), ms(now)], family_from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    async fn directory_head(&self) -> StoreResult<i64> {
        self.read(|c| {
            Ok(c.query_row(
                "SELECT COALESCE(MAX(rev), 0) FROM directory_changes",
                [],
                |r| r.get(0),
            )?)
        })
        .await
    }

    async fn directory_changes_since(
        &self,
        since: i64,
        limit: u32,
    ) -> StoreResult<Vec<LoggedChange>> {
        self.read(move |c| {
            Ok(c.prepare_cached(
                "SELECT rev, kind, user_id, doctor_id, context_kind, context_id, login_id
                 FROM directory_changes WHERE rev > ?1 ORDER BY rev LIMIT ?2",
            )?
            .query_map(params![since, limit], change_from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    async fn prune_directory_changes(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        self.write(move |w| {
            // The newest row stays, so that the head (AUTOINCREMENT) never goes back.
            let n = w.conn.execute(
                "DELETE FROM directory_changes WHERE at < ?1 AND rev < (SELECT MAX(rev) FROM directory_changes)",
                [ms(before)],
            )?;
            Ok(n as u64)
        })
        .await
    }

    async fn user_by_username(&self, username: &str) -> StoreResult<Option<UserRecord>> {
        let username = username.to_owned();
        self.read(move |c| {
            Ok(
                c.prepare_cached(&format!("{USER_SELECT} WHERE username = ?1"))?
                    .query_row([username], user_from_row)
                    .optional()?,
            )
        })
        .await
    }

    async fn upsert_directory(
        &self,
        users: Vec<(UserRecord, Option<ZkLogin>)>,
        contexts: Vec<ContextRecord>,
        overwrite_users: bool,
        audit: AuditEvent,
    ) -> StoreResult<()> {
        self.write(move |w| {
            let now = ms(audit.time);
            let mut changes = Vec::new();
            {
                let mut kind_of = w.conn.prepare_cached("SELECT kind FROM users WHERE id = ?1")?;
                let mut owner_of = w.conn.prepare_cached("SELECT id FROM users WHERE username = ?1")?;
                let mut insert = w.conn.prepare_cached(
                    "INSERT INTO users (id, kind, name, username, password_hash, disabled, created_at, updated_at, kdf_salt, kdf_params)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?8, ?9)
                     ON CONFLICT (id) DO UPDATE SET name = excluded.name, username = excluded.username,
                       password_hash = excluded.password_hash, disabled = excluded.disabled, updated_at = excluded.updated_at,
                       kdf_salt = excluded.kdf_salt, kdf_params = excluded.kdf_params, key_backup = NULL",
                )?;
                for (u, zk) in &users {
                    let existing: Option<String> = kind_of.query_row([u.id.as_str()], |r| r.get(0)).optional()?;
                    if existing.is_some() && !overwrite_users {
                        continue;
                    }
                    // A username may not move to another id.
                    let owner: Option<String> = owner_of.query_row([&u.username], |r| r.get(0)).optional()?;
                    if let Some(owner) = owner {
                        if owner != u.id.as_str() {
                            return Err(StoreError::Invalid(format!("username {:?} already belongs to user {owner}", u.username)));
                        }
                    }
                    if let Some(kind) = existing {
                        if kind != u.kind.as_str() {
                            return Err(StoreError::Invalid(format!("user {} exists with type {kind}", u.id)));
                        }
                    }
                    let (hash, salt, kdf) = match zk {
                        Some(z) => (z.password_hash.as_str(), Some(z.salt.as_str()), Some(z.params.as_str())),
                        None => (u.password_hash.as_str(), None, None),
                    };
                    insert.execute(params![u.id.as_str(), u.kind.as_str(), u.name, u.username, hash, u.disabled, now, salt, kdf])?;
                    changes.push(DirectoryChange::User(u.id.clone()));
                }
            }
            {
                let mut kind_of = w.conn.prepare_cached("SELECT kind FROM users WHERE id = ?1")?;
                let mut people_of =
                    w.conn.prepare_cached("SELECT patient_id, doctor_id FROM contexts WHERE kind = ?1 AND id = ?2")?;
                let mut insert = w.conn.prepare_cached(
                    "INSERT INTO contexts (kind, id, title, date, patient_id, doctor_id, summary) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                     ON CONFLICT (kind, id) DO UPDATE SET title = excluded.title, date = excluded.date, summary = excluded.summary",
                )?;
                for c in &contexts {
                    for (uid, want) in [(&c.patient_id, UserType::Patient), (&c.doctor_id, UserType::Medecin)] {
                        let kind: Option<String> = kind_of.query_row([uid.as_str()], |r| r.get(0)).optional()?;
                        match kind {
                            None => return Err(StoreError::Invalid(format!("context {}: unknown user {uid}", c.id))),
                            Some(k) if k != want.as_str() => {
                                return Err(StoreError::Invalid(format!("context {}: {uid} is a {k}, not a {want}", c.id)))
                            }
                            Some(_) => {}
                        }
                    }
                    // The people of a context are fixed once a conversation exists.
                    let existing: Option<(String, String)> = people_of
                        .query_row([c.kind.as_str(), c.id.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))
                        .optional()?;
                    if let Some((p, d)) = existing {
                        if p != c.patient_id.as_str() || d != c.doctor_id.as_str() {
                            return Err(StoreError::Invalid(format!("context {} already exists with other participants", c.id)));
                        }
                    }
                    insert.execute(params![
                        c.kind.as_str(),
                        c.id.as_str(),
                        c.title,
                        c.date,
                        c.patient_id.as_str(),
                        c.doctor_id.as_str(),
                        c.summary
                    ])?;
                    changes.push(DirectoryChange::Context {
                        kind: c.kind,
                        id: c.id.clone(),
                        patient_id: c.patient_id.clone(),
                        doctor_id: c.doctor_id.clone(),
                    });
                }
            }
            if changes.len() > MAX_LISTED_CHANGES {
                w.log_change(now, &DirectoryChange::All)?;
            } else {
                for ch in &changes {
                    w.log_change(now, ch)?;
                }
            }
            w.audit(&audit)
        })
        .await
    }

    async fn set_user_disabled(
        &self,
        user: &UserId,
        disabled: bool,
        audit: AuditEvent,
    ) -> StoreResult<()> {
        let user = user.clone();
        self.write(move |w| {
            let now = ms(audit.time);
            let n = w.conn.execute(
                "UPDATE users SET disabled = ?2, updated_at = ?3 WHERE id = ?1",
                params![user.as_str(), disabled, now],
            )?;
            if n == 0 {
                return Err(StoreError::NotFound);
            }
            w.log_change(now, &DirectoryChange::User(user.clone()))?;
            if disabled {
                revoke_families_of(w.conn, user.as_str(), now)?;
                w.log_change(now, &DirectoryChange::LoginsOf(user.clone()))?;
            }
            w.audit(&audit)
        })
        .await
    }

    async fn set_password(&self, user: &UserId, zk: ZkLogin, audit: AuditEvent) -> StoreResult<()> {
        let user = user.clone();
        self.write(move |w| {
            let now = ms(audit.time);
            let n = w.conn.execute(
                "UPDATE users SET password_hash = ?2, updated_at = ?3, kdf_salt = ?4, kdf_params = ?5, key_backup = NULL WHERE id = ?1",
                params![user.as_str(), zk.password_hash, now, zk.salt, zk.params],
            )?;
            if n == 0 {
                return Err(StoreError::NotFound);
            }
            revoke_families_of(w.conn, user.as_str(), now)?;
            w.log_change(now, &DirectoryChange::User(user.clone()))?;
            w.log_change(now, &DirectoryChange::LoginsOf(user.clone()))?;
            w.audit(&audit)
        })
        .await
    }

    async fn user_keys(&self, user: &UserId) -> StoreResult<UserKeys> {
        let user = user.clone();
        self.read(move |c| {
            Ok(c.prepare_cached("SELECT kdf_salt, kdf_params, public_keys, key_backup, keys_updated_at FROM users WHERE id = ?1")?
                .query_row([user.as_str()], |r| {
                    Ok(UserKeys {
                        kdf_salt: r.get(0)?,
                        kdf_params: r.get(1)?,
                        public_keys: r.get(2)?,
                        key_backup: r.get(3)?,
                        updated_at: get_opt_time(r, 4)?,
                    })
                })
                .optional()?
                .unwrap_or_default())
        })
        .await
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
        let user = user.clone();
        let keep = keep_login.map(str::to_owned);
        self.write(move |w| {
            let now = ms(audit.time);
            let n = w.conn.execute(
                "UPDATE users SET public_keys = ?2, key_backup = ?3, keys_updated_at = ?4, updated_at = ?4 WHERE id = ?1",
                params![user.as_str(), public_keys, backup, now],
            )?;
            if n == 0 {
                return Err(StoreError::NotFound);
            }
            if let Some(zk) = zk {
                w.conn.execute(
                    "UPDATE users SET password_hash = ?2, kdf_salt = ?3, kdf_params = ?4 WHERE id = ?1",
                    params![user.as_str(), zk.password_hash, zk.salt, zk.params],
                )?;
                w.log_change(now, &DirectoryChange::User(user.clone()))?;
            }
            if let Some(keep) = &keep {
                w.conn.execute(
                    "UPDATE auth_families SET revoked_at = ?2 WHERE user_id = ?1 AND revoked_at IS NULL AND id != ?3",
                    params![user.as_str(), now, keep],
                )?;
                w.log_change(now, &DirectoryChange::LoginsOf(user.clone()))?;
            }
            w.audit(&audit)
        })
        .await
    }

    async fn change_zk_password(
        &self,
        user: &UserId,
        zk: ZkLogin,
        backup: String,
        keep_login: &str,
        audit: AuditEvent,
    ) -> StoreResult<()> {
        let user = user.clone();
        let keep = keep_login.to_owned();
        self.write(move |w| {
            let now = ms(audit.time);
            w.conn.execute(
                "UPDATE users SET password_hash = ?2, kdf_salt = ?3, kdf_params = ?4, key_backup = ?5, updated_at = ?6 WHERE id = ?1",
                params![user.as_str(), zk.password_hash, zk.salt, zk.params, backup, now],
            )?;
            w.conn.execute(
                "UPDATE auth_families SET revoked_at = ?2 WHERE user_id = ?1 AND revoked_at IS NULL AND id != ?3",
                params![user.as_str(), now, keep],
            )?;
            w.log_change(now, &DirectoryChange::User(user.clone()))?;
            w.log_change(now, &DirectoryChange::LoginsOf(user.clone()))?;
            w.audit(&audit)
        })
        .await
    }

    async fn create_login(
        &self,
        family: FamilyRecord,
        token_hash: String,
        audit: AuditEvent,
    ) -> StoreResult<()> {
        self.write(move |w| {
            let now = ms(audit.time);
            w.conn
                .prepare_cached("INSERT INTO auth_families (id, user_id, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)")?
                .execute(params![family.id, family.user_id.as_str(), now, ms(family.expires_at)])?;
            w.conn
                .prepare_cached("INSERT INTO refresh_tokens (token_hash, family_id, created_at) VALUES (?1, ?2, ?3)")?
                .execute(params![token_hash, family.id, now])?;
            w.audit(&audit)
        })
        .await
    }

    async fn rotate_refresh(
        &self,
        token_hash: String,
        new_hash: String,
        now: DateTime<Utc>,
        meta: RequestMeta,
    ) -> StoreResult<Rotation> {
        self.write(move |w| {
            let t = ms(now);
            let found: Option<(String, Option<i64>, String, i64, Option<i64>, bool)> = w
                .conn
                .prepare_cached(
                    "SELECT t.family_id, t.used_at, f.user_id, f.expires_at, f.revoked_at, u.disabled
                     FROM refresh_tokens t JOIN auth_families f ON f.id = t.family_id JOIN users u ON u.id = f.user_id
                     WHERE t.token_hash = ?1",
                )?
                .query_row([&token_hash], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)))
                .optional()?;
            let Some((family_id, used_at, user_id, expires_at, revoked_at, disabled)) = found else {
                // Anonymous: audited by the caller, folded per source.
                return Ok(Rotation::Unknown);
            };
            if disabled && used_at.is_none() && expires_at > t {
                w.audit(&AuditEvent::new(now, &user_id, "refresh", &family_id, "disabled", &meta))?;
                return Ok(Rotation::Disabled);
            }
            if revoked_at.is_some() || expires_at <= t || disabled {
                w.audit(&AuditEvent::new(now, &user_id, "refresh", &family_id, "failed", &meta))?;
                return Ok(Rotation::Invalid);
            }
            if used_at.is_some() {
                w.conn.execute("UPDATE auth_families SET revoked_at = ?2 WHERE id = ?1", params![family_id, t])?;
                w.log_change(t, &DirectoryChange::Login { id: family_id.clone(), user_id: UserId(user_id.clone()) })?;
                w.audit(&AuditEvent::new(now, &user_id, "refresh_reuse", &family_id, "denied", &meta))?;
                return Ok(Rotation::Reused { user_id: UserId(user_id), family_id });
            }
            w.conn.prepare_cached("UPDATE refresh_tokens SET used_at = ?2 WHERE token_hash = ?1")?.execute(params![token_hash, t])?;
            w.conn
                .prepare_cached("INSERT INTO refresh_tokens (token_hash, family_id, created_at) VALUES (?1, ?2, ?3)")?
                .execute(params![new_hash, family_id, t])?;
            w.audit(&AuditEvent::new(now, &user_id, "refresh", &family_id, "ok", &meta))?;
            Ok(Rotation::Rotated { user_id: UserId(user_id), family_id })
        })
        .await
    }

    async fn revoke_login(&self, family_id: &str, audit: AuditEvent) -> StoreResult<()> {
        let family_id = family_id.to_owned();
        self.write(move |w| {
            let now = ms(audit.time);
            let user: Option<String> = w
                .conn
                .query_row(
                    "UPDATE auth_families SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL RETURNING user_id",
                    params![family_id, now],
                    |r| r.get(0),
                )
                .optional()?;
            if let Some(user) = user {
                w.log_change(now, &DirectoryChange::Login { id: family_id.clone(), user_id: UserId(user) })?;
            }
            w.audit(&audit)
        })
        .await
    }

    async fn ensure_session(
        &self,
        context: ContextRecord,
        now: DateTime<Utc>,
        audit: Option<AuditEvent>,
    ) -> StoreResult<Session> {
        self.write(move |w| {
            let (id, created) = ensure_session_row(w.conn, &context, ms(now))?;
            if created {
                if let Some(a) = &audit {
                    w.audit(a)?;
                }
            }
            load_session(w.conn, id.as_str())?.ok_or(StoreError::NotFound)
        })
        .await
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
        let id = id.clone();
        self.read(move |c| load_session(c, id.as_str())).await
    }

    async fn sessions_of(&self, user: &UserId) -> StoreResult<Vec<Session>> {
        let user = user.clone();
        self.read(move |c| {
            Ok(c.prepare_cached(&format!(
                "{SESSION_SELECT} WHERE s.patient_id = ?1 OR s.doctor_id = ?1"
            ))?
            .query_map([user.as_str()], session_from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    async fn inbox_marks(
        &self,
        user: &UserId,
    ) -> StoreResult<std::collections::HashMap<SessionId, InboxMarks>> {
        let user = user.clone();
        self.read(move |c| {
            let rows = c
                .prepare_cached(
                    // `waits`: a question from the patient that expects an
                    // answer, sent after the doctor's last message.
                    "WITH mine AS (SELECT id, patient_id, doctor_id FROM sessions WHERE patient_id = ?1 OR doctor_id = ?1),
                     answered AS (SELECT m.session_id, MAX(m.seq) AS seq FROM messages m JOIN mine s ON s.id = m.session_id
                                  WHERE m.sender_id = s.doctor_id GROUP BY m.session_id),
                     marked AS (SELECT m.session_id, m.created_at, m.seq, m.is_urgent, m.category, m.recipient_id, m.status, m.deleted_at,
                                  m.sender_id = s.patient_id AND m.requires_response = 1 AND m.deleted_at IS NULL
                                    AND m.seq > COALESCE(a.seq, 0) AS waits
                                FROM messages m JOIN mine s ON s.id = m.session_id LEFT JOIN answered a ON a.session_id = m.session_id),
                     grouped AS (SELECT session_id, MAX(created_at) AS last_at,
                                   MAX(recipient_id = ?1 AND is_urgent = 1 AND status <> 'read' AND deleted_at IS NULL) AS urgent_unread,
                                   MIN(CASE WHEN waits THEN seq END) AS first_wait,
                                   MAX(waits AND is_urgent = 1) AS urgent_wait
                                 FROM marked GROUP BY session_id)
                     SELECT g.session_id, g.last_at, g.urgent_unread, w.created_at, g.urgent_wait, w.category
                     FROM grouped g LEFT JOIN messages w ON w.session_id = g.session_id AND w.seq = g.first_wait",
                )?
                .query_map([user.as_str()], |r| {
                    let awaiting = match r.get::<_, Option<i64>>(3)? {
                        Some(since) => Some(Awaiting {
                            since: from_ms(since),
                            urgent: r.get::<_, Option<i64>>(4)?.unwrap_or(0) != 0,
                            category: get_opt_enum(r, 5)?,
                        }),
                        None => None,
                    };
                    Ok((
                        SessionId(r.get(0)?),
                        InboxMarks {
                            last_message_at: r.get::<_, Option<i64>>(1)?.map(from_ms),
                            has_urgent_unread: r.get::<_, Option<i64>>(2)?.unwrap_or(0) != 0,
                            awaiting,
                        },
                    ))
                })?
                .collect::<rusqlite::Result<_>>()?;
            Ok(rows)
        })
        .await
    }

    async fn archive_session(
        &self,
        id: &SessionId,
        now: DateTime<Utc>,
        audit: AuditEvent,
    ) -> StoreResult<Session> {
        let id = id.clone();
        self.write(move |w| {
            let n = w.conn.execute(
                "UPDATE sessions SET status = 'archived', last_activity = ?2 WHERE id = ?1 AND status = 'active'",
                params![id.as_str(), ms(now)],
            )?;
            if n == 1 {
                w.audit(&audit)?;
            }
            load_session(w.conn, id.as_str())?.ok_or(StoreError::NotFound)
        })
        .await
    }

    async fn change_session(
        &self,
        change: SessionChange,
    ) -> StoreResult<Option<(Session, Message)>> {
        self.write(move |w| {
            let c = w.conn;
            let now = ms(change.now);
            let row: Option<(i64, String)> = c
                .prepare_cached(match change.event.event {
                    SystemEventKind::Closed => {
                        "UPDATE sessions SET status = 'closed', last_seq = last_seq + 1, message_count = message_count + 1,
                         last_activity = ?2, unread_patient = unread_patient + 1
                         WHERE id = ?1 AND status <> 'closed' RETURNING last_seq, patient_id"
                    }
                    SystemEventKind::Reopened => {
                        "UPDATE sessions SET status = 'active', last_seq = last_seq + 1, message_count = message_count + 1,
                         last_activity = ?2, unread_patient = unread_patient + 1
                         WHERE id = ?1 AND status = 'closed' RETURNING last_seq, patient_id"
                    }
                    SystemEventKind::Absent | SystemEventKind::OutsideHours => {
                        return Err(StoreError::Invalid("an absence is answered by absence_reply".into()))
                    }
                })?
                .query_row(params![change.session_id.as_str(), now], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            let Some((seq, patient_id)) = row else {
                return Ok(None);
            };
            insert_system_message(c, &change.session_id, &change.message_id, seq, &patient_id, &change.event, now)?;
            w.audit(&change.audit)?;
            let session = load_session(c, change.session_id.as_str())?.ok_or(StoreError::NotFound)?;
            let message = load_message(c, change.message_id.as_str())?.ok_or(StoreError::NotFound)?;
            Ok(Some((session, message)))
        })
        .await
    }

    async fn archive_idle(
        &self,
        cutoff: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<(SessionId, u64)>> {
        self.write(move |w| {
            let ids = w
                .conn
                .prepare(
                    "UPDATE sessions SET status = 'archived' WHERE status = 'active' AND last_activity < ?1
                     RETURNING id, message_count",
                )?
                .query_map([ms(cutoff)], |r| Ok((SessionId(r.get(0)?), get_u64(r, 1)?)))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            for (id, _) in &ids {
                w.audit(&AuditEvent::new(now, "system", "archive", id.as_str(), "ok", &RequestMeta::default()).in_session(id))?;
            }
            Ok(ids)
        })
        .await
    }

    async fn access_log(
        &self,
        session: &SessionId,
        account: &UserId,
        limit: u32,
    ) -> StoreResult<Vec<AuditRow>> {
        let (session, account) = (session.clone(), account.clone());
        self.read(move |c| {
            Ok(c.prepare_cached(super::ACCESS_LOG_SQL)?
                .query_map(
                    params![session.as_str(), account.as_str(), limit],
                    audit_from_row,
                )?
                .collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    async fn set_user_email(
        &self,
        user: &UserId,
        email: Option<String>,
        audit: AuditEvent,
    ) -> StoreResult<()> {
        let user = user.clone();
        self.write(move |w| {
            let c = w.conn;
            let exists: bool = c.query_row("SELECT EXISTS (SELECT 1 FROM users WHERE id = ?1)", [user.as_str()], |r| r.get(0))?;
            if !exists {
                return Err(StoreError::NotFound);
            }
            match &email {
                Some(e) => c.execute(
                    "INSERT INTO user_emails (user_id, email, updated_at) VALUES (?1, ?2, ?3)
                     ON CONFLICT (user_id) DO UPDATE SET email = excluded.email, updated_at = excluded.updated_at",
                    params![user.as_str(), e, ms(audit.time)],
                )?,
                None => c.execute("DELETE FROM user_emails WHERE user_id = ?1", [user.as_str()])?,
            };
            w.audit(&audit)?;
            Ok(())
        })
        .await
    }

    async fn claim_urgent_mail(
        &self,
        cutoff: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<UrgentMail>> {
        self.write(move |w| {
            let rows = w
                .conn
                .prepare_cached(
                    "UPDATE messages SET urgent_mailed_at = ?2
                     WHERE is_urgent = 1 AND urgent_mailed_at IS NULL AND read_at IS NULL AND deleted_at IS NULL
                       AND created_at <= ?1
                       AND recipient_id IN (SELECT u.id FROM users u JOIN user_emails e ON e.user_id = u.id WHERE u.kind = 'medecin')
                     RETURNING id, recipient_id, (SELECT email FROM user_emails WHERE user_id = recipient_id)",
                )?
                .query_map(params![ms(cutoff), ms(now)], |r| Ok((MessageId(r.get(0)?), UserId(r.get(1)?), r.get(2)?)))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(UrgentMail::group(rows))
        })
        .await
    }

    async fn release_urgent_mail(&self, ids: Vec<MessageId>) -> StoreResult<()> {
        self.write(move |w| {
            for id in &ids {
                w.conn
                    .prepare_cached("UPDATE messages SET urgent_mailed_at = NULL WHERE id = ?1")?
                    .execute([id.as_str()])?;
            }
            Ok(())
        })
        .await
    }

    async fn absence(&self, doctor: &UserId) -> StoreResult<Option<(String, Absence)>> {
        let doctor = doctor.clone();
        self.read(move |c| {
            Ok(c.prepare_cached(
                "SELECT id, starts_at, ends_at, note FROM absences WHERE doctor_id = ?1",
            )?
            .query_row([doctor.as_str()], |r| {
                Ok((
                    r.get(0)?,
                    Absence {
                        from: get_time(r, 1)?,
                        until: get_time(r, 2)?,
                        note: r.get(3)?,
                    },
                ))
            })
            .optional()?)
        })
        .await
    }

    async fn set_absence(
        &self,
        doctor: &UserId,
        absence: Option<(String, Absence)>,
        audit: AuditEvent,
    ) -> StoreResult<()> {
        let doctor = doctor.clone();
        self.write(move |w| {
            match &absence {
                Some((id, a)) => w.conn.execute(
                    "INSERT INTO absences (doctor_id, id, starts_at, ends_at, note) VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (doctor_id) DO UPDATE SET id = excluded.id, starts_at = excluded.starts_at,
                       ends_at = excluded.ends_at, note = excluded.note",
                    params![doctor.as_str(), id, ms(a.from), ms(a.until), a.note],
                )?,
                None => w.conn.execute("DELETE FROM absences WHERE doctor_id = ?1", [doctor.as_str()])?,
            };
            w.audit(&audit)?;
            Ok(())
        })
        .await
    }

    async fn office_hours(&self, doctor: &UserId) -> StoreResult<Option<OfficeHours>> {
        let doctor = doctor.clone();
        self.read(move |c| {
            let json: Option<String> = c
                .prepare_cached("SELECT hours FROM office_hours WHERE doctor_id = ?1")?
                .query_row([doctor.as_str()], |r| r.get(0))
                .optional()?;
            json.map(|j| serde_json::from_str(&j).map_err(|e| StoreError::Corrupt(e.to_string())))
                .transpose()
        })
        .await
    }

    async fn set_office_hours(
        &self,
        doctor: &UserId,
        hours: Option<OfficeHours>,
        audit: AuditEvent,
    ) -> StoreResult<()> {
        let doctor = doctor.clone();
        let json = hours
            .map(|h| serde_json::to_string(&h))
            .transpose()
            .map_err(|e| StoreError::Invalid(e.to_string()))?;
        self.write(move |w| {
            match &json {
                Some(j) => w.conn.execute(
                    "INSERT INTO office_hours (doctor_id, hours) VALUES (?1, ?2)
                     ON CONFLICT (doctor_id) DO UPDATE SET hours = excluded.hours",
                    params![doctor.as_str(), j],
                )?,
                None => w.conn.execute(
                    "DELETE FROM office_hours WHERE doctor_id = ?1",
                    [doctor.as_str()],
                )?,
            };
            w.audit(&audit)?;
            Ok(())
        })
        .await
    }

    async fn sealed_templates(&self, user: &UserId) -> StoreResult<Option<SealedTemplates>> {
        let user = user.clone();
        self.read(move |c| {
            Ok(c.prepare_cached(
                "SELECT sealed, version, updated_at FROM private_data WHERE user_id = ?1 AND kind = 'reply_templates'",
            )?
            .query_row([user.as_str()], |r| {
                Ok(SealedTemplates { sealed: r.get(0)?, version: get_u64(r, 1)?, updated_at: get_time(r, 2)? })
            })
            .optional()?)
        })
        .await
    }

    async fn put_sealed_templates(
        &self,
        user: &UserId,
        sealed: String,
        base_version: u64,
        now: DateTime<Utc>,
        audit: AuditEvent,
    ) -> StoreResult<SealedTemplates> {
        let user = user.clone();
        self.write(move |w| {
            let current: u64 = w
                .conn
                .query_row(
                    "SELECT version FROM private_data WHERE user_id = ?1 AND kind = 'reply_templates'",
                    [user.as_str()],
                    |r| get_u64(r, 0),
                )
                .optional()?
                .unwrap_or(0);
            if current != base_version {
                return Err(StoreError::Stale(format!(
                    "the templates changed on another device (version {current}, not {base_version}); reload them"
                )));
            }
            let version = current + 1;
            w.conn.execute(
                "INSERT INTO private_data (user_id, kind, sealed, version, updated_at) VALUES (?1, 'reply_templates', ?2, ?3, ?4)
                 ON CONFLICT (user_id, kind) DO UPDATE SET sealed = excluded.sealed, version = excluded.version,
                   updated_at = excluded.updated_at",
                params![user.as_str(), sealed, i64::try_from(version).unwrap_or(i64::MAX), ms(now)],
            )?;
            w.audit(&audit)?;
            Ok(SealedTemplates { sealed, version, updated_at: from_ms(ms(now)) })
        })
        .await
    }

    async fn absence_reply(&self, reply: AbsenceReply) -> StoreResult<Option<Message>> {
        self.write(move |w| {
            let c = w.conn;
            let now = ms(reply.now);
            let row: Option<(i64, String)> = c
                .prepare_cached(
                    "UPDATE sessions SET absence_replied = ?3, last_seq = last_seq + 1, message_count = message_count + 1,
                     last_activity = ?2, unread_patient = unread_patient + 1
                     WHERE id = ?1 AND status <> 'closed' AND (absence_replied IS NULL OR absence_replied <> ?3)
                     RETURNING last_seq, patient_id",
                )?
                .query_row(params![reply.session_id.as_str(), now, reply.absence_id], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            let Some((seq, patient_id)) = row else {
                return Ok(None);
            };
            let event = SystemEvent { event: reply.event, reason: None, until: Some(reply.until) };
            insert_system_message(c, &reply.session_id, &reply.message_id, seq, &patient_id, &event, now)?;
            load_message(c, reply.message_id.as_str())
        })
        .await
    }

    async fn active_users_since(&self, since: DateTime<Utc>) -> StoreResult<u64> {
        self.read(move |c| {
            Ok(c.query_row(
                "SELECT COUNT(DISTINCT f.user_id) FROM auth_families f
                 WHERE f.created_at >= ?1 OR EXISTS (SELECT 1 FROM refresh_tokens r WHERE r.family_id = f.id AND r.created_at >= ?1)",
                [ms(since)],
                |r| get_u64(r, 0),
            )?)
        })
        .await
    }

    async fn purge_before(
        &self,
        cutoff: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<(u64, Vec<AttachmentId>)> {
        self.write(move |w| {
            let cut = ms(cutoff);
            let attachments = w
                .conn
                .prepare(
                    "SELECT a.id FROM attachments a JOIN messages m ON m.id = a.message_id WHERE m.created_at < ?1",
                )?
                .query_map([cut], |r| Ok(AttachmentId(r.get(0)?)))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            w.conn.execute(
                "DELETE FROM attachments WHERE message_id IN (SELECT id FROM messages WHERE created_at < ?1)",
                [cut],
            )?;
            let n = w.conn.execute("DELETE FROM messages WHERE created_at < ?1", [cut])?;
            if n > 0 {
                w.audit(&AuditEvent::new(now, "system", "retention_purge", format!("{n} messages"), "ok", &RequestMeta::default()))?;
            }
            Ok((n as u64, attachments))
        })
        .await
    }

    async fn append_message(&self, msg: NewMessage) -> StoreResult<Appended> {
        // Hot path: every check comes before the first write, so no savepoint is needed.
        self.write_unguarded(move |w| {
            let c = w.conn;
            let existing: Option<String> = c
                .prepare_cached("SELECT id FROM messages WHERE sender_id = ?1 AND client_message_id = ?2")?
                .query_row([msg.sender.id.as_str(), msg.client_message_id.as_str()], |r| r.get(0))
                .optional()?;
            if let Some(id) = existing {
                return Ok(Appended::Existing(load_message(c, &id)?.ok_or(StoreError::NotFound)?));
            }
            let now = ms(msg.now);
            let mut attachments = Vec::with_capacity(msg.attachments.len());
            for aid in &msg.attachments {
                let a = c
                    .prepare_cached(
                        "SELECT name, mime_type, size, sha256 FROM attachments WHERE id = ?1 AND owner_id = ?2 AND message_id IS NULL",
                    )?
                    .query_row(params![aid.as_str(), msg.sender.id.as_str()], |r| {
                        Ok(Attachment::stored(aid.clone(), r.get(0)?, r.get(1)?, get_u64(r, 2)?, r.get(3)?))
                    })
                    .optional()?;
                match a {
                    Some(a) => attachments.push(a),
                    None => return Err(StoreError::Invalid(format!("attachment {aid} is unknown, not yours or already sent"))),
                }
            }
            let attachments_json = serde_json::to_string(&attachments).map_err(|e| StoreError::Invalid(e.to_string()))?;
            // Writes from here on.
            let session_id = Session::id_for(msg.context.kind, &msg.context.id, &msg.context.patient_id, &msg.context.doctor_id);
            let to_patient = msg.recipient.id == msg.context.patient_id;
            // The doctor's message ends the patient's wait and reads back how
            // long it was (SET sees the row as it was); a patient's message
            // starts one unless one runs (migration 0006).
            let next_seq = |c: &Connection| -> rusqlite::Result<Option<(i64, Option<i64>)>> {
                c.prepare_cached(if to_patient {
                    "UPDATE sessions SET last_seq = last_seq + 1, message_count = message_count + 1, last_activity = ?2,
                     status = 'active', unread_patient = unread_patient + 1, answered_wait = waiting_since, waiting_since = NULL
                     WHERE id = ?1 AND status <> 'closed' RETURNING last_seq, answered_wait"
                } else {
                    "UPDATE sessions SET last_seq = last_seq + 1, message_count = message_count + 1, last_activity = ?2,
                     status = 'active', unread_doctor = unread_doctor + 1, waiting_since = COALESCE(waiting_since, ?2)
                     WHERE id = ?1 AND status <> 'closed' RETURNING last_seq, NULL"
                })?
                .query_row(params![session_id.as_str(), now], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
            };
            let (seq, answered_wait) = match next_seq(c)? {
                Some(row) => row,
                None => {
                    ensure_session_row(c, &msg.context, now)?;
                    match next_seq(c)? {
                        Some(row) => row,
                        // The row exists: it is closed.
                        None => return Err(StoreError::SessionClosed),
                    }
                }
            };
            for a in &attachments {
                c.prepare_cached("UPDATE attachments SET message_id = ?2 WHERE id = ?1")?.execute(params![a.id.as_str(), msg.id.as_str()])?;
            }
            c.prepare_cached(
                "INSERT INTO messages (id, session_id, seq, client_message_id, sender_id, recipient_id, kind, content, created_at,
                   status, is_urgent, requires_response, attachments, category)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'sent', ?10, ?11, ?12, ?13)",
            )?
            .execute(params![
                msg.id.as_str(),
                session_id.as_str(),
                seq,
                msg.client_message_id.as_str(),
                msg.sender.id.as_str(),
                msg.recipient.id.as_str(),
                msg.kind.as_str(),
                msg.content,
                now,
                msg.metadata.is_urgent,
                msg.metadata.requires_response,
                attachments_json,
                msg.metadata.category.map(QuestionCategory::as_str)
            ])?;
            w.audit(
                &AuditEvent::new(msg.now, msg.sender.id.as_str(), "send", msg.id.as_str(), "ok", &msg.meta).in_session(&session_id),
            )?;
            let message = Message {
                id: msg.id,
                content: msg.content,
                kind: msg.kind,
                sender: msg.sender,
                recipient: msg.recipient,
                context: ContextRef { kind: msg.context.kind, id: msg.context.id },
                timestamp: from_ms(now),
                status: MessageStatus::Sent,
                attachments,
                metadata: msg.metadata,
                client_message_id: msg.client_message_id,
                session_id: session_id.clone(),
                seq: u64::try_from(seq).unwrap_or(0),
                delivered_at: None,
                read_at: None,
                deleted_at: None,
                encrypted: None,
                e2e_error: None,
            };
            Ok(Appended::New { message, answered_wait: answered_wait.map(from_ms) })
        })
        .await
    }

    async fn message(&self, id: &MessageId) -> StoreResult<Option<Message>> {
        let id = id.clone();
        self.read(move |c| load_message(c, id.as_str())).await
    }

    async fn message_parties(&self, id: &MessageId) -> StoreResult<Option<MessageParties>> {
        let id = id.clone();
        self.read(move |c| {
            Ok(c.prepare_cached(
                "SELECT m.id, m.session_id, s.context_kind, s.context_id, m.sender_id, m.recipient_id, m.status, m.deleted_at
                 FROM messages m JOIN sessions s ON s.id = m.session_id WHERE m.id = ?1",
            )?
            .query_row([id.as_str()], |r| {
                Ok(MessageParties {
                    id: MessageId(r.get(0)?),
                    session_id: SessionId(r.get(1)?),
                    context_kind: get_enum(r, 2)?,
                    context_id: ContextId(r.get(3)?),
                    sender_id: UserId(r.get(4)?),
                    recipient_id: UserId(r.get(5)?),
                    status: get_enum(r, 6)?,
                    deleted: r.get::<_, Option<i64>>(7)?.is_some(),
                })
            })
            .optional()?)
        })
        .await
    }

    async fn mark_status(
        &self,
        id: &MessageId,
        by: &UserId,
        status: MessageStatus,
        now: DateTime<Utc>,
        audit: Option<AuditEvent>,
    ) -> StoreResult<Option<StatusChange>> {
        let id = id.clone();
        let by = by.clone();
        self.write(move |w| {
            let c = w.conn;
            let row: Option<(String, String, String, String)> = c
                .prepare_cached(
                    "SELECT m.session_id, m.sender_id, m.status, s.patient_id FROM messages m JOIN sessions s ON s.id = m.session_id
                     WHERE m.id = ?1 AND m.recipient_id = ?2",
                )?
                .query_row([id.as_str(), by.as_str()], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
                .optional()?;
            let Some((session_id, sender_id, current, patient_id)) = row else {
                return Err(StoreError::NotFound);
            };
            let current: MessageStatus = current.parse().map_err(|_| StoreError::Invalid("bad status".into()))?;
            if status.rank() <= current.rank() {
                return Ok(None);
            }
            let t = ms(now);
            // Delivered leaves `read_at` out of the statement, so that the
            // (recipient_id, read_at) index is not rewritten (migration 0006).
            c.prepare_cached(if status == MessageStatus::Read {
                "UPDATE messages SET status = ?2, delivered_at = COALESCE(delivered_at, ?3), read_at = ?3 WHERE id = ?1"
            } else {
                "UPDATE messages SET status = ?2, delivered_at = COALESCE(delivered_at, ?3) WHERE id = ?1"
            })?
            .execute(params![id.as_str(), status.as_str(), t])?;
            if status == MessageStatus::Read {
                c.prepare_cached(if by.as_str() == patient_id {
                    "UPDATE sessions SET unread_patient = MAX(unread_patient - 1, 0) WHERE id = ?1"
                } else {
                    "UPDATE sessions SET unread_doctor = MAX(unread_doctor - 1, 0) WHERE id = ?1"
                })?
                .execute([&session_id])?;
            }
            if let Some(a) = &audit {
                w.audit(a)?;
            }
            Ok(Some(StatusChange {
                message_id: id,
                session_id: SessionId(session_id),
                sender_id: UserId(sender_id),
                status,
                at: from_ms(t),
            }))
        })
        .await
    }

    async fn delete_message(
        &self,
        id: &MessageId,
        by: &UserId,
        now: DateTime<Utc>,
        audit: AuditEvent,
    ) -> StoreResult<Deleted> {
        let id = id.clone();
        let by = by.clone();
        self.write(move |w| {
            let c = w.conn;
            let row: Option<(String, String, String, Option<i64>)> = c
                .prepare_cached(
                    "SELECT m.session_id, m.status, s.patient_id, m.deleted_at FROM messages m JOIN sessions s ON s.id = m.session_id
                     WHERE m.id = ?1 AND m.sender_id = ?2",
                )?
                .query_row([id.as_str(), by.as_str()], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
                .optional()?;
            let Some((session_id, status, patient_id, deleted_at)) = row else {
                return Err(StoreError::NotFound);
            };
            let attachment_ids = c
                .prepare_cached("SELECT id FROM attachments WHERE message_id = ?1")?
                .query_map([id.as_str()], |r| Ok(AttachmentId(r.get(0)?)))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            if deleted_at.is_none() {
                let t = ms(now);
                c.execute(
                    "UPDATE messages SET content = '', attachments = '[]', deleted_at = ?2 WHERE id = ?1",
                    params![id.as_str(), t],
                )?;
                c.execute("DELETE FROM attachments WHERE message_id = ?1", [id.as_str()])?;
                if status != "read" {
                    // The recipient of a message from the patient is the doctor, and vice versa.
                    c.execute(
                        if by.as_str() == patient_id {
                            "UPDATE sessions SET unread_doctor = MAX(unread_doctor - 1, 0) WHERE id = ?1"
                        } else {
                            "UPDATE sessions SET unread_patient = MAX(unread_patient - 1, 0) WHERE id = ?1"
                        },
                        [&session_id],
                    )?;
                }
                w.audit(&audit)?;
            }
            let message = load_message(c, id.as_str())?.ok_or(StoreError::NotFound)?;
            Ok(Deleted { message, attachment_ids })
        })
        .await
    }

    async fn history(
        &self,
        session: &SessionId,
        before: Option<u64>,
        limit: u32,
    ) -> StoreResult<(Vec<Message>, bool)> {
        let session = session.clone();
        let before = before
            .map(|b| i64::try_from(b).unwrap_or(i64::MAX))
            .unwrap_or(i64::MAX);
        self.read(move |c| {
            let mut msgs = c
                .prepare_cached(&format!("{MSG_SELECT} WHERE m.session_id = ?1 AND m.seq < ?2 ORDER BY m.seq DESC LIMIT ?3"))?
                .query_map(params![session.as_str(), before, i64::from(limit) + 1], message_from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let has_more = msgs.len() > limit as usize;
            msgs.truncate(limit as usize);
            msgs.reverse();
            Ok((msgs, has_more))
        })
        .await
    }

    async fn messages_after(
        &self,
        session: &SessionId,
        after: u64,
        limit: u32,
    ) -> StoreResult<Vec<Message>> {
        let session = session.clone();
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        self.read(move |c| {
            Ok(c.prepare_cached(&format!(
                "{MSG_SELECT} WHERE m.session_id = ?1 AND m.seq > ?2 ORDER BY m.seq ASC LIMIT ?3"
            ))?
            .query_map(params![session.as_str(), after, limit], message_from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    async fn stats(&self, user: &UserId) -> StoreResult<StatsResponse> {
        let user = user.clone();
        self.read(move |c| {
            let u = user.as_str();
            let count = |sql: &str| -> rusqlite::Result<u64> { c.query_row(sql, [u], |r| get_u64(r, 0)) };
            let sent = count("SELECT COUNT(*) FROM messages WHERE sender_id = ?1 AND deleted_at IS NULL")?;
            let received = count("SELECT COUNT(*) FROM messages WHERE recipient_id = ?1 AND deleted_at IS NULL")?;
            let unread = count("SELECT COUNT(*) FROM messages WHERE recipient_id = ?1 AND read_at IS NULL AND deleted_at IS NULL")?;
            let active_sessions =
                count("SELECT COUNT(*) FROM sessions WHERE (patient_id = ?1 OR doctor_id = ?1) AND status = 'active'")?;
            let archived_sessions =
                count("SELECT COUNT(*) FROM sessions WHERE (patient_id = ?1 OR doctor_id = ?1) AND status = 'archived'")?;
            // Response time: from a message to the user to the user's next message in that session.
            let mut stmt = c.prepare(
                "SELECT m.session_id, m.sender_id, m.created_at FROM messages m JOIN sessions s ON s.id = m.session_id
                 WHERE s.patient_id = ?1 OR s.doctor_id = ?1 ORDER BY m.session_id, m.seq",
            )?;
            let rows = stmt.query_map([u], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?)))?;
            let mut waits = Vec::new();
            let mut pending: Option<(String, i64)> = None;
            for row in rows {
                let (session, sender, at) = row?;
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
            Ok(StatsResponse { sent, received, unread, active_sessions, archived_sessions, median_response_time_secs: median })
        })
        .await
    }

    async fn notifications(&self, user: &UserId, limit: u32) -> StoreResult<Vec<Notification>> {
        let user = user.clone();
        self.read(move |c| {
            Ok(c.prepare_cached(NOTIF_SELECT)?
                .query_map(params![user.as_str(), limit], notification_from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    async fn insert_attachment(
        &self,
        record: AttachmentRecord,
        audit: AuditEvent,
    ) -> StoreResult<()> {
        self.write(move |w| {
            let a = &record.attachment;
            w.conn
                .prepare_cached(
                    "INSERT INTO attachments (id, owner_id, name, mime_type, size, sha256, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )?
                .execute(params![
                    a.id.as_str(),
                    record.owner_id.as_str(),
                    a.name,
                    a.mime_type,
                    i64::try_from(a.size).unwrap_or(i64::MAX),
                    a.sha256,
                    ms(audit.time)
                ])?;
            w.audit(&audit)
        })
        .await
    }

    async fn attachment_bytes(&self, owner: &UserId) -> StoreResult<u64> {
        let owner = owner.clone();
        self.read(move |c| {
            let n: i64 = c
                .prepare_cached(
                    "SELECT COALESCE(SUM(size), 0) FROM attachments WHERE owner_id = ?1",
                )?
                .query_row([owner.as_str()], |r| r.get(0))?;
            Ok(u64::try_from(n).unwrap_or(0))
        })
        .await
    }

    async fn purge_unattached(
        &self,
        cutoff: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<AttachmentId>> {
        self.write(move |w| {
            let cut = ms(cutoff);
            let ids = w
                .conn
                .prepare_cached(
                    "SELECT id FROM attachments WHERE message_id IS NULL AND created_at < ?1",
                )?
                .query_map([cut], |r| Ok(AttachmentId(r.get(0)?)))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            w.conn.execute(
                "DELETE FROM attachments WHERE message_id IS NULL AND created_at < ?1",
                [cut],
            )?;
            if !ids.is_empty() {
                w.audit(&AuditEvent::new(
                    now,
                    "system",
                    "orphan_purge",
                    format!("{} attachments", ids.len()),
                    "ok",
                    &RequestMeta::default(),
                ))?;
            }
            Ok(ids)
        })
        .await
    }

    async fn attachment(
        &self,
        id: &AttachmentId,
    ) -> StoreResult<Option<(AttachmentRecord, Option<SessionId>)>> {
        let id = id.clone();
        self.read(move |c| {
            Ok(c.prepare_cached(
                "SELECT a.id, a.name, a.mime_type, a.size, a.sha256, a.owner_id, a.message_id, m.session_id
                 FROM attachments a LEFT JOIN messages m ON m.id = a.message_id WHERE a.id = ?1",
            )?
            .query_row([id.as_str()], |r| {
                Ok((
                    AttachmentRecord {
                        attachment: Attachment::stored(
                            AttachmentId(r.get(0)?),
                            r.get(1)?,
                            r.get(2)?,
                            get_u64(r, 3)?,
                            r.get(4)?,
                        ),
                        owner_id: UserId(r.get(5)?),
                        message_id: r.get::<_, Option<String>>(6)?.map(MessageId),
                    },
                    r.get::<_, Option<String>>(7)?.map(SessionId),
                ))
            })
            .optional()?)
        })
        .await
    }

    async fn audit(&self, event: AuditEvent) -> StoreResult<()> {
        self.write(move |w| w.audit(&event)).await
    }

    async fn audit_rows(
        &self,
        since: Option<DateTime<Utc>>,
        actor: Option<String>,
        session: Option<SessionId>,
        limit: u32,
    ) -> StoreResult<Vec<AuditRow>> {
        self.read(move |c| {
            Ok(c.prepare(&format!(
                "{AUDIT_SELECT} WHERE time >= ?1 AND (?2 IS NULL OR actor = ?2) AND (?3 IS NULL OR session_id = ?3)
                 ORDER BY id ASC LIMIT ?4"
            ))?
            .query_map(
                params![since.map(ms).unwrap_or(i64::MIN), actor, session.map(|s| s.0), limit],
                audit_from_row,
            )?
            .collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    async fn verify_audit(&self) -> StoreResult<AuditVerdict> {
        let anchor = self.anchor.clone();
        self.read(move |c| verify_trail(c, anchor.as_deref(), Trail::Live))
            .await
    }

    async fn backup_to(&self, dest: &Path) -> StoreResult<()> {
        let dest = dest.to_string_lossy().into_owned();
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            // VACUUM INTO copies one consistent snapshot while writers go on;
            // it fills the empty 0600 file made here (it refuses a non-empty one).
            crate::files::create_private(Path::new(&dest))?;
            let conn = open_conn(&path, false)?;
            conn.execute("VACUUM INTO ?1", [dest])?;
            Ok(())
        })
        .await
        .map_err(|_| StoreError::Closed)?
    }
}
