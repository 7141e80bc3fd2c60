//! The audit chain's anchor: a secret kept outside the database.
//!
//! The hash chain alone proves nothing to someone who can write the database
//! file: they can edit rows and re-hash every row after them, or cut the end
//! of the trail. So the store's writer appends *checkpoints* to a separate,
//! append-only file: `(row id, chain hash at that row)` with an HMAC-SHA256
//! under a key that lives in its own file (0600, its path configurable so an
//! operator can keep it off the database's disk). `audit --verify` then checks
//! every checkpoint against the rows: a rewritten trail no longer has the
//! anchored hash at the anchored row, a truncated one lacks the anchored row,
//! and a forged checkpoint has a bad HMAC. What this does and does not protect
//! against is in docs/security.md ("Audit trail").
//!
//! With PostgreSQL several nodes append to one chain, so each node writes its
//! own file, `<checkpoint file>.<node id>` (held under an exclusive lock while
//! the node runs: two nodes sharing a data directory never write one file),
//! and the admin CLI appends to the base file; `audit --verify` checks every
//! one of them ([`AuditAnchor::checkpoint_files`]).
//!
//! File format, one line per checkpoint:
//! `v1 <kind> <row id> <chain hash hex> <hmac hex>`, `kind` being `cp` (a
//! checkpoint) or `restore` (the database was replaced by a verified backup
//! whose head is that row: checkpoints before it describe the old database).

use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::fmt;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use zeroize::Zeroizing;

type HmacSha256 = Hmac<Sha256>;

/// Domain separation of the checkpoint MAC.
const MAC_LABEL: &[u8] = b"dmp-audit-checkpoint-v1\0";

/// Why the anchor could not be used.
#[derive(Debug, thiserror::Error)]
pub enum AnchorError {
    /// Reading or writing one of its files failed.
    #[error("audit anchor {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The key file is unusable, or missing while checkpoints exist.
    #[error("audit anchor key {path}: {reason}")]
    Key {
        /// The key file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// What a checkpoint line says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckpointKind {
    /// The chain hash at a row.
    Checkpoint,
    /// The database was restored from a backup ending at that row.
    Restore,
}

impl CheckpointKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Checkpoint => "cp",
            Self::Restore => "restore",
        }
    }
}

/// One line of the checkpoint file, its MAC checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// Checkpoint or restore marker.
    pub kind: CheckpointKind,
    /// Audit row id.
    pub row_id: i64,
    /// Chain hash of that row.
    pub hash: String,
}

/// A checkpoint file as read: the checkpoints that count (those after the
/// last restore marker), or the first line that does not verify.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Checkpoints {
    /// Every line verified.
    Valid(Vec<Checkpoint>),
    /// A line is malformed or its MAC is wrong (forged, or made with another key).
    Forged {
        /// 1-based line number.
        line: usize,
    },
}

/// The key and the checkpoint file.
pub struct AuditAnchor {
    key: Zeroizing<Vec<u8>>,
    key_path: PathBuf,
    checkpoints: PathBuf,
    /// fsync every checkpoint (with `durability = "full"`).
    sync: bool,
}

impl fmt::Debug for AuditAnchor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditAnchor")
            .field("key", &"<redacted>")
            .field("key_path", &self.key_path)
            .field("checkpoints", &self.checkpoints)
            .finish()
    }
}

impl AuditAnchor {
    /// Loads the key, creating it (32 random bytes, hex, mode 0600) when it
    /// does not exist and no checkpoint was written yet. A missing key beside
    /// existing checkpoints is an error: a new key would silently disown them.
    pub fn open(key_path: &Path, checkpoints: &Path, sync: bool) -> Result<Self, AnchorError> {
        let key_err = |reason: String| AnchorError::Key {
            path: key_path.to_owned(),
            reason,
        };
        let key = match std::fs::read_to_string(key_path) {
            Ok(text) => {
                #[cfg(unix)]
                {
                    use std::os::unix::fs::PermissionsExt as _;
                    let mode = std::fs::metadata(key_path)
                        .map_err(|source| AnchorError::Io {
                            path: key_path.to_owned(),
                            source,
                        })?
                        .permissions()
                        .mode();
                    if mode & 0o077 != 0 {
                        return Err(key_err(format!(
                            "is readable by others (mode {:o}); run chmod 600 on it",
                            mode & 0o777
                        )));
                    }
                }
                let key = Zeroizing::new(
                    hex::decode(text.trim()).map_err(|_| key_err("is not hexadecimal".into()))?,
                );
                if key.len() < 32 {
                    return Err(key_err("holds fewer than 32 bytes".into()));
                }
                key
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let files = checkpoint_files(checkpoints).map_err(|source| AnchorError::Io {
                    path: checkpoints.to_owned(),
                    source,
                })?;
                if let Some(used) = files
                    .iter()
                    .find(|f| std::fs::metadata(f).is_ok_and(|m| m.len() > 0))
                {
                    return Err(key_err(format!(
                        "is missing but {} holds checkpoints made with it: put the key back \
                         (or move the checkpoint files out of that directory to start a new anchor)",
                        used.display()
                    )));
                }
                create_key(key_path).map_err(|source| AnchorError::Io {
                    path: key_path.to_owned(),
                    source,
                })?
            }
            Err(source) => {
                return Err(AnchorError::Io {
                    path: key_path.to_owned(),
                    source,
                })
            }
        };
        Ok(Self {
            key,
            key_path: key_path.to_owned(),
            checkpoints: checkpoints.to_owned(),
            sync,
        })
    }

    /// The checkpoint file.
    pub fn checkpoint_path(&self) -> &Path {
        &self.checkpoints
    }

    fn mac(&self, kind: CheckpointKind, row_id: i64, hash: &str) -> HmacSha256 {
        #[allow(clippy::expect_used)]
        let mut mac =
            HmacSha256::new_from_slice(&self.key).expect("HMAC takes a key of any length");
        mac.update(MAC_LABEL);
        mac.update(kind.as_str().as_bytes());
        mac.update(b"\0");
        mac.update(&row_id.to_be_bytes());
        mac.update(hash.as_bytes());
        mac
    }

    /// One line of a checkpoint file, MAC included.
    fn line(&self, kind: CheckpointKind, row_id: i64, hash: &str) -> String {
        let tag = hex::encode(self.mac(kind, row_id, hash).finalize().into_bytes());
        format!("v1 {} {row_id} {hash} {tag}\n", kind.as_str())
    }

    /// Appends one line (a single `write` on an append-only descriptor, so
    /// that the server and the admin CLI can both append).
    pub fn append(&self, kind: CheckpointKind, row_id: i64, hash: &str) -> Result<(), AnchorError> {
        let io = |source| AnchorError::Io {
            path: self.checkpoints.clone(),
            source,
        };
        let f = append_options().open(&self.checkpoints).map_err(io)?;
        write_line(&f, &self.line(kind, row_id, hash), self.sync).map_err(io)
    }

    /// Opens this node's own checkpoint file, `<checkpoint file>.<node_id>`,
    /// and locks it for as long as the returned value lives: a second
    /// process with the same node id on this data directory is refused.
    pub fn node_file(self: &Arc<Self>, node_id: &str) -> Result<NodeCheckpoints, AnchorError> {
        let path = node_path(&self.checkpoints, node_id).map_err(|reason| AnchorError::Key {
            path: self.checkpoints.clone(),
            reason,
        })?;
        let io = |source| AnchorError::Io {
            path: path.clone(),
            source,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let file = append_options().open(&path).map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(AnchorError::Io {
                    path: path.clone(),
                    source: std::io::Error::other(format!(
                        "is in use by another running node with node_id {node_id:?}: \
                         every node needs its own node_id"
                    )),
                })
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
        }
        Ok(NodeCheckpoints {
            anchor: self.clone(),
            path,
            file,
        })
    }

    /// Every checkpoint file of this anchor: the base file (SQLite's writer,
    /// the admin CLI) and each node's, in name order; only those that exist.
    pub fn checkpoint_files(&self) -> Result<Vec<PathBuf>, AnchorError> {
        checkpoint_files(&self.checkpoints).map_err(|source| AnchorError::Io {
            path: self.checkpoints.clone(),
            source,
        })
    }

    /// Reads and verifies the checkpoint file (a missing file has none).
    pub fn read(&self) -> Result<Checkpoints, AnchorError> {
        self.read_file(&self.checkpoints)
    }

    /// Reads and verifies one checkpoint file made with this key (a missing
    /// file has none).
    pub fn read_file(&self, path: &Path) -> Result<Checkpoints, AnchorError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(source) => {
                return Err(AnchorError::Io {
                    path: path.to_owned(),
                    source,
                })
            }
        };
        let mut out = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let Some(cp) = self.parse(line) else {
                return Ok(Checkpoints::Forged { line: i + 1 });
            };
            if cp.kind == CheckpointKind::Restore {
                out.clear();
            }
            out.push(cp);
        }
        Ok(Checkpoints::Valid(out))
    }

    fn parse(&self, line: &str) -> Option<Checkpoint> {
        let mut parts = line.split(' ');
        let (Some("v1"), Some(kind), Some(id), Some(hash), Some(tag), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return None;
        };
        let kind = match kind {
            "cp" => CheckpointKind::Checkpoint,
            "restore" => CheckpointKind::Restore,
            _ => return None,
        };
        let row_id: i64 = id.parse().ok()?;
        let tag = hex::decode(tag).ok()?;
        // verify_slice compares in constant time.
        self.mac(kind, row_id, hash).verify_slice(&tag).ok()?;
        Some(Checkpoint {
            kind,
            row_id,
            hash: hash.to_owned(),
        })
    }
}

/// A node's own checkpoint file, locked while this value lives (see
/// [`AuditAnchor::node_file`]).
pub struct NodeCheckpoints {
    anchor: Arc<AuditAnchor>,
    path: PathBuf,
    file: std::fs::File,
}

impl fmt::Debug for NodeCheckpoints {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeCheckpoints")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl NodeCheckpoints {
    /// Appends a checkpoint of the chain head at `row_id`.
    pub fn append(&self, row_id: i64, hash: &str) -> Result<(), AnchorError> {
        let line = self.anchor.line(CheckpointKind::Checkpoint, row_id, hash);
        write_line(&self.file, &line, self.anchor.sync).map_err(|source| AnchorError::Io {
            path: self.path.clone(),
            source,
        })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The anchor (key and base file) it belongs to.
    pub fn anchor(&self) -> &Arc<AuditAnchor> {
        &self.anchor
    }
}

fn append_options() -> std::fs::OpenOptions {
    let mut opts = std::fs::File::options();
    opts.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    opts
}

/// One `write` of a whole line on an append-only descriptor.
fn write_line(mut f: &std::fs::File, line: &str, sync: bool) -> std::io::Result<()> {
    f.write_all(line.as_bytes())?;
    if sync {
        f.sync_data()?;
    }
    Ok(())
}

/// `<base>.<node_id>`; the id must be a plain file-name part.
fn node_path(base: &Path, node_id: &str) -> Result<PathBuf, String> {
    let plain = !node_id.is_empty()
        && node_id.len() <= 64
        && !node_id.starts_with('.')
        && node_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !plain {
        return Err(format!(
            "node_id {node_id:?} cannot name a checkpoint file: use 1 to 64 of A-Z a-z 0-9 - _ . \
             (not starting with a dot)"
        ));
    }
    let mut name = base
        .file_name()
        .ok_or_else(|| format!("{} is not a file name", base.display()))?
        .to_owned();
    name.push(".");
    name.push(node_id);
    Ok(base.with_file_name(name))
}

/// The base file and every `<base>.<node id>` beside it that exist, sorted.
fn checkpoint_files(base: &Path) -> std::io::Result<Vec<PathBuf>> {
    let Some(name) = base.file_name().and_then(|n| n.to_str()) else {
        return Ok(Vec::new());
    };
    let prefix = format!("{name}.");
    let dir = match base.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let file_name = entry.file_name();
        let Some(n) = file_name.to_str() else {
            continue;
        };
        if (n == name || (n.starts_with(&prefix) && n.len() > prefix.len()))
            && entry.file_type()?.is_file()
        {
            out.push(entry.path());
        }
    }
    out.sort();
    Ok(out)
}

/// Writes `key` in hex to the new file `path` (0600), synced.
fn write_key(path: &Path, key: &[u8]) -> std::io::Result<()> {
    let mut opts = std::fs::File::options();
    opts.create_new(true).write(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts.open(path)?;
    let hexed = Zeroizing::new(hex::encode(key));
    f.write_all(hexed.as_bytes())?;
    f.write_all(b"\n")?;
    f.sync_all()
}

/// Creates the key file, or reads the one another process (a node started
/// at the same time on a shared data directory) created first: the key is
/// written whole to a temporary file, then linked to its name, so nobody
/// ever reads a half-written key.
fn create_key(path: &Path) -> std::io::Result<Zeroizing<Vec<u8>>> {
    use rand::RngCore as _;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut key = Zeroizing::new(vec![0u8; 32]);
    rand::rngs::OsRng.fill_bytes(&mut key);
    let mut tmp_name = path.file_name().unwrap_or_default().to_owned();
    tmp_name.push(format!(".new-{}", uuid::Uuid::new_v4().simple()));
    let tmp = path.with_file_name(tmp_name);
    let written = write_key(&tmp, &key).and_then(|()| std::fs::hard_link(&tmp, path));
    let _ = std::fs::remove_file(&tmp);
    match written {
        Ok(()) => Ok(key),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let text = Zeroizing::new(std::fs::read_to_string(path)?);
            hex::decode(text.trim())
                .map(Zeroizing::new)
                .map_err(|_| std::io::Error::other("the key file is not hexadecimal"))
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn checkpoints_verify_and_forgeries_do_not() {
        let dir = tempfile::tempdir().unwrap();
        let (key, file) = (dir.path().join("k"), dir.path().join("cp"));
        let a = AuditAnchor::open(&key, &file, false).unwrap();
        a.append(CheckpointKind::Checkpoint, 3, "ab").unwrap();
        a.append(CheckpointKind::Checkpoint, 7, "cd").unwrap();
        let Checkpoints::Valid(cps) = a.read().unwrap() else {
            panic!("valid")
        };
        assert_eq!(cps.iter().map(|c| c.row_id).collect::<Vec<_>>(), [3, 7]);
        // A restore marker supersedes what came before it.
        a.append(CheckpointKind::Restore, 5, "ef").unwrap();
        let Checkpoints::Valid(cps) = a.read().unwrap() else {
            panic!("valid")
        };
        assert_eq!(cps.len(), 1);
        assert_eq!(cps[0].kind, CheckpointKind::Restore);
        // Edited without the key.
        let text = std::fs::read_to_string(&file).unwrap();
        std::fs::write(&file, text.replacen(" 7 cd ", " 9 cd ", 1)).unwrap();
        assert_eq!(a.read().unwrap(), Checkpoints::Forged { line: 2 });
        // Reopened: the same key is read back; a missing key beside checkpoints is refused.
        assert!(AuditAnchor::open(&key, &file, false).is_ok());
        std::fs::remove_file(&key).unwrap();
        assert!(AuditAnchor::open(&key, &file, false).is_err());
    }

    #[cfg(unix)]
    #[test]
    fn the_key_is_private() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("k");
        AuditAnchor::open(&key, &dir.path().join("cp"), false).unwrap();
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(AuditAnchor::open(&key, &dir.path().join("cp"), false).is_err());
    }

    #[test]
    fn node_files_are_separate_locked_and_listed() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("audit-checkpoints");
        let a = Arc::new(AuditAnchor::open(&dir.path().join("k"), &base, false).unwrap());
        let n1 = a.node_file("node-1").unwrap();
        let n2 = a.node_file("node-2").unwrap();
        assert_ne!(n1.path(), n2.path());
        // The same id while its file is held: refused.
        assert!(a.node_file("node-1").is_err());
        for bad in ["", "../x", "a/b", ".hidden", &"x".repeat(65)] {
            assert!(a.node_file(bad).is_err(), "{bad:?}");
        }
        n1.append(3, "ab").unwrap();
        n2.append(4, "cd").unwrap();
        a.append(CheckpointKind::Checkpoint, 5, "ef").unwrap();
        std::fs::write(dir.path().join("audit-checkpointsX"), "not ours").unwrap();
        let files = a.checkpoint_files().unwrap();
        let names: Vec<_> = files
            .iter()
            .map(|f| f.file_name().unwrap().to_str().unwrap().to_owned())
            .collect();
        assert_eq!(
            names,
            [
                "audit-checkpoints",
                "audit-checkpoints.node-1",
                "audit-checkpoints.node-2"
            ]
        );
        let Checkpoints::Valid(cps) = a.read_file(n2.path()).unwrap() else {
            panic!("valid")
        };
        assert_eq!(cps[0].row_id, 4);
        // Released with its holder.
        drop(n1);
        assert!(a.node_file("node-1").is_ok());
        // A missing key beside any node's checkpoints is refused.
        std::fs::remove_file(dir.path().join("k")).unwrap();
        std::fs::remove_file(&base).unwrap();
        assert!(AuditAnchor::open(&dir.path().join("k"), &base, false).is_err());
    }

    #[test]
    fn nodes_starting_together_share_one_key() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("k");
        let cp = dir.path().join("cp");
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let (key, cp) = (key.clone(), cp.clone());
                std::thread::spawn(move || AuditAnchor::open(&key, &cp, false).unwrap().key)
            })
            .collect();
        let keys: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        assert!(keys.iter().all(|k| k.len() == 32 && **k == *keys[0]));
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "temporary key files left behind");
    }
}
