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
//! File format, one line per checkpoint:
//! `v1 <kind> <row id> <chain hash hex> <hmac hex>`, `kind` being `cp` (a
//! checkpoint) or `restore` (the database was replaced by a verified backup
//! whose head is that row: checkpoints before it describe the old database).

use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::fmt;
use std::io::Write as _;
use std::path::{Path, PathBuf};
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
                let has_checkpoints = std::fs::metadata(checkpoints).is_ok_and(|m| m.len() > 0);
                if has_checkpoints {
                    return Err(key_err(format!(
                        "is missing but {} holds checkpoints made with it: put the key back \
                         (or move the checkpoint file aside to start a new anchor)",
                        checkpoints.display()
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

    /// Appends one line (a single `write` on an append-only descriptor, so
    /// that the server and the admin CLI can both append).
    pub fn append(&self, kind: CheckpointKind, row_id: i64, hash: &str) -> Result<(), AnchorError> {
        let tag = hex::encode(self.mac(kind, row_id, hash).finalize().into_bytes());
        let line = format!("v1 {} {row_id} {hash} {tag}\n", kind.as_str());
        let io = |source| AnchorError::Io {
            path: self.checkpoints.clone(),
            source,
        };
        let mut opts = std::fs::File::options();
        opts.create(true).append(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let mut f = opts.open(&self.checkpoints).map_err(io)?;
        f.write_all(line.as_bytes()).map_err(io)?;
        if self.sync {
            f.sync_data().map_err(io)?;
        }
        Ok(())
    }

    /// Reads and verifies the checkpoint file (a missing file has none).
    pub fn read(&self) -> Result<Checkpoints, AnchorError> {
        let text = match std::fs::read_to_string(&self.checkpoints) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(source) => {
                return Err(AnchorError::Io {
                    path: self.checkpoints.clone(),
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

fn create_key(path: &Path) -> std::io::Result<Zeroizing<Vec<u8>>> {
    use rand::RngCore as _;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut key = Zeroizing::new(vec![0u8; 32]);
    rand::rngs::OsRng.fill_bytes(&mut key);
    let mut opts = std::fs::File::options();
    opts.create_new(true).write(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts.open(path)?;
    let hexed = Zeroizing::new(hex::encode(&*key));
    f.write_all(hexed.as_bytes())?;
    f.write_all(b"\n")?;
    f.sync_all()?;
    Ok(key)
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
}
