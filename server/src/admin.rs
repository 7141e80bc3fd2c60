//! Admin operations behind the `dmp-server` subcommands: import, users,
//! audit, backup and restore. They work on the data directory directly
//! (the running server learns each change from the store's change log,
//! docs/directory.md).

use crate::auth::{check_password_policy, new_zk_login, NewZkLogin};
use crate::config::Config;
use crate::store::anchor::CheckpointKind;
use crate::store::{
    printable_field, AnchorOutcome, AuditEvent, AuditVerdict, ContextRecord, RequestMeta, Store,
    StoreRef, UserRecord, ZkLogin,
};
use anyhow::{bail, Context as _};
use chrono::{NaiveDate, Utc};
use dmp_protocol::api::KdfParams;
use dmp_protocol::*;
use serde::Deserialize;
use std::collections::{HashMap, HashSet};
use std::path::Path;

/// Actor name of admin CLI audit lines.
pub const CLI_ACTOR: &str = "admin-cli";

fn cli_meta() -> RequestMeta {
    RequestMeta {
        ip: "local".into(),
        user_agent: "dmp-server-cli".into(),
        request_id: uuid::Uuid::new_v4().to_string(),
    }
}

/// The import file: users and contexts.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportFile {
    /// Accounts.
    #[serde(default)]
    pub users: Vec<ImportUser>,
    /// DMP records.
    #[serde(default)]
    pub contexts: Vec<ImportContext>,
}

/// One account of an import file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportUser {
    /// `patient_…`, `medecin_…`, `admin_…`.
    pub id: String,
    /// patient, medecin or admin.
    #[serde(rename = "type")]
    pub kind: String,
    /// Display name.
    pub name: String,
    /// Login name.
    pub username: String,
    /// Clear password: the account is zero-knowledge from creation (the
    /// server derives its login keys with a random salt, keeps the verifier
    /// of the authentication secret, and forgets the password).
    #[serde(default)]
    pub password: Option<String>,
    /// Or an existing Argon2id verifier (PHC string), e.g. when migrating
    /// accounts: such an account stays on the legacy login until its first
    /// sign-in (and prelogin tells it apart, docs/security.md).
    #[serde(default, rename = "passwordHash")]
    pub password_hash: Option<String>,
    /// A doctor's address for the urgent-message e-mail (docs/messaging.md,
    /// "Urgent e-mail"); absent: unchanged.
    #[serde(default)]
    pub email: Option<String>,
}

impl std::fmt::Debug for ImportUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImportUser")
            .field("id", &self.id)
            .field("type", &self.kind)
            .finish_non_exhaustive()
    }
}

/// One context of an import file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ImportContext {
    /// ordonnance or examen.
    #[serde(rename = "type")]
    pub kind: String,
    /// `ord_…` or `exa_…`.
    pub id: String,
    /// Title.
    pub title: String,
    /// YYYY-MM-DD.
    pub date: String,
    /// The patient.
    pub patient_id: String,
    /// The doctor.
    pub doctor_id: String,
    /// Summary.
    #[serde(default)]
    pub summary: String,
}

/// What an import did.
#[derive(Debug, PartialEq, Eq)]
pub struct ImportSummary {
    /// Users added or updated.
    pub users: usize,
    /// Contexts added or updated.
    pub contexts: usize,
}

fn expected_prefix(kind: UserType) -> &'static str {
    match kind {
        UserType::Patient => "patient_",
        UserType::Medecin => "medecin_",
        UserType::Admin => "admin_",
        // No account is a system account (refused before this is asked).
        UserType::System => "system_",
    }
}

/// Checks a whole import file and derives the login of its clear passwords
/// with `kdf` (see [`derive_logins`]); nothing is written unless every line
/// is valid.
pub async fn import(
    store: &(impl StoreRef + ?Sized),
    file: ImportFile,
    kdf: KdfParams,
) -> anyhow::Result<ImportSummary> {
    let store = store.as_store();
    import_with(store, file, true, kdf).await
}

/// The zero-knowledge logins of clear passwords, derived on as many threads
/// as there are cores (each derivation is one Argon2id run with `kdf` plus
/// the verifier's).
pub async fn derive_logins(
    passwords: Vec<String>,
    kdf: KdfParams,
) -> anyhow::Result<Vec<NewZkLogin>> {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut out = Vec::with_capacity(passwords.len());
    let mut pending = passwords.into_iter().peekable();
    while pending.peek().is_some() {
        let batch: Vec<_> = pending
            .by_ref()
            .take(threads)
            .map(|p| {
                let p = zeroize::Zeroizing::new(p);
                tokio::task::spawn_blocking(move || new_zk_login(&p, kdf))
            })
            .collect();
        for job in batch {
            out.push(job.await?.map_err(anyhow::Error::msg)?);
        }
    }
    Ok(out)
}

/// Like [`import`]; with `overwrite_users` false, accounts that already exist
/// keep their password and keys (the demo data is loaded this way).
pub async fn import_with(
    store: &(impl StoreRef + ?Sized),
    file: ImportFile,
    overwrite_users: bool,
    kdf: KdfParams,
) -> anyhow::Result<ImportSummary> {
    let store = store.as_store();
    let mut errors = Vec::new();
    let mut users = Vec::new();
    let mut ids = HashSet::new();
    let mut usernames = HashSet::new();
    for (i, u) in file.users.iter().enumerate() {
        let at = format!("users[{i}] ({})", u.id);
        let kind = match u.kind.parse::<UserType>() {
            Ok(kind) if kind != UserType::System => kind,
            _ => {
                errors.push(format!("{at}: type must be patient, medecin or admin"));
                continue;
            }
        };
        if !is_valid_id(&u.id) || !u.id.starts_with(expected_prefix(kind)) {
            errors.push(format!(
                "{at}: id must look like {}…",
                expected_prefix(kind)
            ));
        }
        if u.name.trim().is_empty() || u.name.chars().count() > 200 {
            errors.push(format!("{at}: name must be 1-200 characters"));
        }
        if u.username.trim().is_empty()
            || u.username.len() > 128
            || u.username.chars().any(char::is_whitespace)
        {
            errors.push(format!(
                "{at}: username must be 1-128 characters without spaces"
            ));
        }
        match (&u.password, &u.password_hash) {
            (Some(p), None) => {
                if let Err(e) = check_password_policy(p) {
                    errors.push(format!("{at}: {e}"));
                }
            }
            (None, Some(h)) => {
                if !h.starts_with("$argon2id$") || argon2::PasswordHash::new(h).is_err() {
                    errors.push(format!("{at}: passwordHash must be an Argon2id PHC string"));
                }
            }
            _ => errors.push(format!(
                "{at}: give exactly one of password or passwordHash"
            )),
        }
        if let Some(address) = &u.email {
            if kind != UserType::Medecin {
                errors.push(format!("{at}: only doctors get the urgent-message e-mail"));
            } else if address.len() > 254 || address.parse::<lettre::Address>().is_err() {
                errors.push(format!("{at}: email is not an e-mail address"));
            }
        }
        if !ids.insert(u.id.clone()) {
            errors.push(format!("{at}: duplicate id"));
        }
        if !usernames.insert(u.username.to_lowercase()) {
            errors.push(format!("{at}: duplicate username"));
        }
        users.push((u, kind));
    }
    // Users the contexts name that are not in the file: read from the store
    // in one pass (hash lookups: the import stays linear, docs/directory.md).
    let in_file: HashMap<&str, UserType> = users.iter().map(|(u, k)| (u.id.as_str(), *k)).collect();
    let mut elsewhere: Vec<UserId> = file
        .contexts
        .iter()
        .flat_map(|c| [&c.patient_id, &c.doctor_id])
        .filter(|id| !in_file.contains_key(id.as_str()))
        .map(|id| UserId(id.clone()))
        .collect();
    elsewhere.sort();
    elsewhere.dedup();
    let stored: HashMap<UserId, UserType> = store
        .users(&elsewhere)
        .await?
        .into_iter()
        .map(|u| (u.id, u.kind))
        .collect();
    let known = |id: &str| -> Option<UserType> {
        in_file
            .get(id)
            .copied()
            .or_else(|| stored.get(&UserId(id.to_owned())).copied())
    };
    let mut contexts = Vec::new();
    let mut context_ids = HashSet::new();
    for (i, c) in file.contexts.iter().enumerate() {
        let at = format!("contexts[{i}] ({})", c.id);
        let Ok(kind) = c.kind.parse::<ContextType>() else {
            errors.push(format!("{at}: type must be ordonnance or examen"));
            continue;
        };
        let prefix = if kind == ContextType::Ordonnance {
            "ord_"
        } else {
            "exa_"
        };
        if !is_valid_id(&c.id) || !c.id.starts_with(prefix) {
            errors.push(format!("{at}: id must look like {prefix}…"));
        }
        if !context_ids.insert((kind, c.id.clone())) {
            errors.push(format!("{at}: duplicate context"));
        }
        if NaiveDate::parse_from_str(&c.date, "%Y-%m-%d").is_err() {
            errors.push(format!("{at}: date must be YYYY-MM-DD"));
        }
        if c.title.trim().is_empty()
            || c.title.chars().count() > 200
            || c.summary.chars().count() > 2000
        {
            errors.push(format!(
                "{at}: title must be 1-200 characters and summary at most 2000"
            ));
        }
        match known(&c.patient_id) {
            Some(UserType::Patient) => {}
            Some(other) => errors.push(format!(
                "{at}: patientId {} is a {other}, not a patient",
                c.patient_id
            )),
            None => errors.push(format!("{at}: unknown patient {}", c.patient_id)),
        }
        match known(&c.doctor_id) {
            Some(UserType::Medecin) => {}
            Some(other) => errors.push(format!(
                "{at}: doctorId {} is a {other}, not a medecin",
                c.doctor_id
            )),
            None => errors.push(format!("{at}: unknown doctor {}", c.doctor_id)),
        }
        contexts.push(ContextRecord {
            kind,
            id: ContextId(c.id.clone()),
            title: c.title.clone(),
            date: c.date.clone(),
            patient_id: UserId(c.patient_id.clone()),
            doctor_id: UserId(c.doctor_id.clone()),
            summary: c.summary.clone(),
        });
    }
    if !errors.is_empty() {
        bail!(
            "the import file was refused, nothing was written:\n  - {}",
            errors.join("\n  - ")
        );
    }
    if !overwrite_users {
        // Accounts that exist keep their credential: derive nothing for them.
        let ids: Vec<UserId> = users.iter().map(|(u, _)| UserId(u.id.clone())).collect();
        let existing: HashSet<UserId> =
            store.users(&ids).await?.into_iter().map(|u| u.id).collect();
        users.retain(|(u, _)| !existing.contains(&UserId(u.id.clone())));
    }
    let emails: Vec<(String, String)> = users
        .iter()
        .filter_map(|(u, _)| Some((u.id.clone(), u.email.clone()?)))
        .collect();
    let clear: Vec<String> = users
        .iter()
        .filter_map(|(u, _)| u.password.clone())
        .collect();
    let mut derived = derive_logins(clear, kdf).await?.into_iter();
    let mut records = Vec::with_capacity(users.len());
    for (u, kind) in users {
        let (hash, zk) = match (&u.password, &u.password_hash) {
            (_, Some(h)) => (h.clone(), None),
            (Some(_), None) => {
                let z = derived
                    .next()
                    .ok_or_else(|| anyhow::anyhow!("unreachable: one login per password"))?;
                (
                    z.verifier.clone(),
                    Some(ZkLogin {
                        password_hash: z.verifier,
                        salt: z.salt,
                        params: z.params,
                    }),
                )
            }
            (None, None) => bail!("unreachable: checked above"),
        };
        records.push((
            UserRecord {
                id: UserId(u.id.clone()),
                kind,
                name: u.name.clone(),
                username: u.username.clone(),
                password_hash: hash,
                disabled: false,
            },
            zk,
        ));
    }
    let summary = ImportSummary {
        users: records.len(),
        contexts: contexts.len(),
    };
    write_in_batches(store, records, contexts, overwrite_users).await?;
    for (id, address) in emails {
        user_email(store, &id, Some(address)).await?;
    }
    Ok(summary)
}

/// Rows written per transaction by an import: large enough to amortise the
/// commit, small enough that a running server's writes are never held up
/// for long (the CLI and the server share the database).
pub const IMPORT_BATCH_ROWS: usize = 10_000;

/// Writes checked users then contexts, [`IMPORT_BATCH_ROWS`] per transaction
/// (each with its audit row and its change-log rows).
async fn write_in_batches(
    store: &dyn Store,
    users: Vec<(UserRecord, Option<ZkLogin>)>,
    contexts: Vec<ContextRecord>,
    overwrite_users: bool,
) -> anyhow::Result<()> {
    let total = users.len() + contexts.len();
    let batches = total.div_ceil(IMPORT_BATCH_ROWS).max(1);
    let mut written = 0usize;
    let (mut users, mut contexts) = (users.into_iter(), contexts.into_iter());
    for batch in 1..=batches {
        let batch_users: Vec<_> = users.by_ref().take(IMPORT_BATCH_ROWS).collect();
        let batch_contexts: Vec<_> = contexts
            .by_ref()
            .take(IMPORT_BATCH_ROWS - batch_users.len())
            .collect();
        let rows = batch_users.len() + batch_contexts.len();
        let target = if batches == 1 {
            format!(
                "{} users, {} contexts",
                batch_users.len(),
                batch_contexts.len()
            )
        } else {
            format!(
                "{} users, {} contexts (batch {batch} of {batches})",
                batch_users.len(),
                batch_contexts.len()
            )
        };
        let audit = AuditEvent::new(Utc::now(), CLI_ACTOR, "import", target, "ok", &cli_meta());
        store
            .upsert_directory(batch_users, batch_contexts, overwrite_users, audit)
            .await
            .map_err(|e| {
                if written == 0 {
                    anyhow::anyhow!("the import was refused, nothing was written: {e}")
                } else {
                    anyhow::anyhow!(
                        "the import stopped at batch {batch} of {batches}: {e}; the {written} rows \
                         before it were written (running the import again is safe: it updates them)"
                    )
                }
            })?;
        written += rows;
    }
    Ok(())
}

/// Reads and parses an import file.
pub fn read_import_file(path: &Path) -> anyhow::Result<ImportFile> {
    // Read through a buffer, not into one string: a national import file is
    // hundreds of megabytes.
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_reader(std::io::BufReader::with_capacity(1 << 20, file)).map_err(|e| {
        anyhow::anyhow!("{} is not a valid import file (line {}, column {}): expected {{\"users\":[…],\"contexts\":[…]}}", path.display(), e.line(), e.column())
    })
}

/// Adds an account.
pub async fn user_add(
    store: &(impl StoreRef + ?Sized),
    id: &str,
    kind: UserType,
    name: &str,
    username: &str,
    password: &str,
    kdf: KdfParams,
) -> anyhow::Result<()> {
    let store = store.as_store();
    let file = ImportFile {
        users: vec![ImportUser {
            id: id.into(),
            kind: kind.as_str().into(),
            name: name.into(),
            username: username.into(),
            password: Some(password.into()),
            password_hash: None,
            email: None,
        }],
        contexts: vec![],
    };
    if store.user(&UserId(id.into())).await?.is_some() {
        bail!("user {id} already exists (use `user passwd` or `import` to change it)");
    }
    import(store, file, kdf).await.map(|_| ())
}

/// Sets (or removes) the address a user's urgent-message e-mail goes to
/// (docs/messaging.md, "Urgent e-mail"); the address must parse as one.
pub async fn user_email(
    store: &(impl StoreRef + ?Sized),
    id: &str,
    address: Option<String>,
) -> anyhow::Result<()> {
    let store = store.as_store();
    if let Some(a) = &address {
        if a.len() > 254 || a.parse::<lettre::Address>().is_err() {
            bail!(
                "'{}' is not an e-mail address",
                a.chars().take(80).collect::<String>()
            );
        }
    }
    let action = if address.is_some() {
        "user_email"
    } else {
        "user_email_clear"
    };
    let audit = AuditEvent::new(Utc::now(), CLI_ACTOR, action, id, "ok", &cli_meta());
    store
        .set_user_email(&UserId(id.into()), address, audit)
        .await
        .map_err(|e| match e {
            crate::store::StoreError::NotFound => anyhow::anyhow!("no user {id}"),
            e => e.into(),
        })
}

/// Disables (or re-enables) an account; disabling ends its sessions.
pub async fn user_disable(
    store: &(impl StoreRef + ?Sized),
    id: &str,
    disabled: bool,
) -> anyhow::Result<()> {
    let store = store.as_store();
    let action = if disabled {
        "user_disable"
    } else {
        "user_enable"
    };
    let audit = AuditEvent::new(Utc::now(), CLI_ACTOR, action, id, "ok", &cli_meta());
    store
        .set_user_disabled(&UserId(id.into()), disabled, audit)
        .await
        .map_err(|e| match e {
            crate::store::StoreError::NotFound => anyhow::anyhow!("no user {id}"),
            e => e.into(),
        })
}

/// Sets a new password (zero-knowledge, derived with `kdf`); every session
/// of the user ends and the key backup sealed under the old one is dropped.
pub async fn user_passwd(
    store: &(impl StoreRef + ?Sized),
    id: &str,
    password: &str,
    kdf: KdfParams,
) -> anyhow::Result<()> {
    let store = store.as_store();
    check_password_policy(password).map_err(anyhow::Error::msg)?;
    let z = derive_logins(vec![password.to_owned()], kdf)
        .await?
        .pop()
        .ok_or_else(|| anyhow::anyhow!("no login derived"))?;
    let zk = ZkLogin {
        password_hash: z.verifier,
        salt: z.salt,
        params: z.params,
    };
    let audit = AuditEvent::new(Utc::now(), CLI_ACTOR, "user_passwd", id, "ok", &cli_meta());
    store
        .set_password(&UserId(id.into()), zk, audit)
        .await
        .map_err(|e| match e {
            crate::store::StoreError::NotFound => anyhow::anyhow!("no user {id}"),
            e => e.into(),
        })
}

/// Prints audit rows (text or JSON lines).
pub async fn audit_print(
    store: &(impl StoreRef + ?Sized),
    since: Option<chrono::DateTime<Utc>>,
    user: Option<String>,
    json: bool,
    limit: u32,
    out: &mut impl std::io::Write,
) -> anyhow::Result<usize> {
    let store = store.as_store();
    let rows = store.audit_rows(since, user, None, limit).await?;
    for r in &rows {
        if json {
            writeln!(out, "{}", serde_json::to_string(r)?)?;
        } else {
            // Rows are escaped when written; rows from before that are escaped here.
            let p = printable_field;
            writeln!(
                out,
                "{:>6} {} {:<14} {:<16} {:<8} {:<44} ip={} req={} ua={}",
                r.id,
                r.time.format("%Y-%m-%dT%H:%M:%S%.3fZ"),
                p(&r.actor),
                p(&r.action),
                p(&r.outcome),
                p(&r.target),
                p(&r.ip),
                p(&r.request_id),
                p(&r.user_agent)
            )?;
        }
    }
    Ok(rows.len())
}

/// Verifies the audit chain.
pub async fn audit_verify(store: &(impl StoreRef + ?Sized)) -> anyhow::Result<AuditVerdict> {
    let store = store.as_store();
    Ok(store.verify_audit().await?)
}

/// Verifies the audit chain and every checkpoint file (one per PostgreSQL
/// node, docs/security.md "Audit trail"); writes one line per file, then the
/// verdict. Returns whether everything holds.
pub async fn audit_verify_report(
    store: &(impl StoreRef + ?Sized),
    out: &mut impl std::io::Write,
) -> anyhow::Result<bool> {
    let report = store.as_store().verify_audit_report().await?;
    for f in &report.files {
        match &f.outcome {
            AnchorOutcome::Holds {
                checkpoints,
                anchored_through,
            } => writeln!(
                out,
                "checkpoints {}: ok, {checkpoints} checkpoints{}",
                f.path.display(),
                anchored_through.map_or(String::new(), |a| format!(", anchored through row {a}"))
            )?,
            AnchorOutcome::Broken { row_id, reason } => writeln!(
                out,
                "checkpoints {}: BROKEN at row {row_id}: {reason}",
                f.path.display()
            )?,
        }
    }
    Ok(match report.verdict {
        AuditVerdict::Intact {
            rows,
            last_row,
            anchored_through,
            ..
        } => {
            let anchored = match anchored_through {
                Some(a) if a == last_row => "every row anchored by a checkpoint".to_owned(),
                Some(a) => format!(
                    "anchored through row {a}, the last {} rows not checkpointed yet",
                    last_row - a
                ),
                None => "no row anchored yet".to_owned(),
            };
            writeln!(out, "audit chain intact: {rows} rows verified; {anchored}")?;
            true
        }
        AuditVerdict::Broken { row_id, reason } => {
            writeln!(out, "audit chain BROKEN at row {row_id}: {reason}")?;
            false
        }
    })
}

/// Writes a consistent online backup.
pub async fn backup(store: &(impl StoreRef + ?Sized), dest: &Path) -> anyhow::Result<()> {
    let store = store.as_store();
    if dest.exists() {
        bail!("{} already exists; choose a new file name", dest.display());
    }
    store.backup_to(dest).await?;
    store
        .audit(AuditEvent::new(
            Utc::now(),
            CLI_ACTOR,
            "backup",
            dest.display().to_string(),
            "ok",
            &cli_meta(),
        ))
        .await?;
    Ok(())
}

/// Replaces the database with a backup. The server must be stopped; the
/// previous database is kept beside it.
pub async fn restore(config: &Config, src: &Path) -> anyhow::Result<std::path::PathBuf> {
    if let crate::config::Backend::Postgres(_) = config.backend()? {
        bail!("restore replaces an SQLite database; restore PostgreSQL with pg_restore (docs/deployment.md)");
    }
    let _lock =
        crate::app::lock_data_dir(&config.data_dir).context("stop the server before restoring")?;
    {
        let conn =
            rusqlite::Connection::open_with_flags(src, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
                .with_context(|| format!("cannot open {}", src.display()))?;
        let check: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .map_err(|_| {
                anyhow::anyhow!("{} is not a dmp-server database backup", src.display())
            })?;
        if check != "ok" {
            bail!("{} is damaged: {check}", src.display());
        }
        let has_audit: i64 = conn.query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE name IN ('users', 'messages', 'audit')",
            [],
            |r| r.get(0),
        )?;
        if has_audit != 3 {
            bail!("{} is not a dmp-server database backup", src.display());
        }
    }
    // The backup's audit chain must hold, and agree with every checkpoint up
    // to its end: a backup edited and re-hashed without the key is refused
    // before anything is replaced.
    let anchor = crate::app::audit_anchor(config)?;
    let head = match crate::store::sqlite::verify_file(src, Some(&anchor))
        .map_err(|e| anyhow::anyhow!("cannot verify the audit trail of {}: {e}", src.display()))?
    {
        AuditVerdict::Intact { last_row, head, .. } => (last_row, head),
        AuditVerdict::Broken { row_id, reason } => bail!(
            "{} was refused, nothing was replaced: its audit trail is broken at row {row_id}: {reason}",
            src.display()
        ),
    };
    let db = config.database_path();
    let kept = db.with_extension(format!(
        "sqlite3.before-restore-{}",
        Utc::now().format("%Y%m%dT%H%M%S")
    ));
    let tmp = db.with_extension("sqlite3.restoring");
    std::fs::copy(src, &tmp)?;
    std::fs::File::open(&tmp)?.sync_all()?;
    if db.exists() {
        // Fold the WAL in before moving the old database aside.
        {
            let old = rusqlite::Connection::open(&db)?;
            old.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")?;
        }
        std::fs::rename(&db, &kept)?;
    }
    for ext in ["sqlite3-wal", "sqlite3-shm"] {
        let _ = std::fs::remove_file(db.with_extension(ext));
    }
    std::fs::rename(&tmp, &db)?;
    // The checkpoints after the backup's end describe the replaced database:
    // a keyed restore marker closes them.
    anchor.append(CheckpointKind::Restore, head.0, &head.1)?;
    let store = crate::app::open_store(config)?;
    store
        .audit(AuditEvent::new(
            Utc::now(),
            CLI_ACTOR,
            "restore",
            src.display().to_string(),
            "ok",
            &cli_meta(),
        ))
        .await?;
    Ok(kept)
}
