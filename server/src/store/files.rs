//! Where attachment bytes live, apart from the database that holds their
//! metadata. The default, and today the only implementation, is a local
//! directory ([`LocalDir`], `<data_dir>/attachments`); several nodes share it
//! through a mounted path (NFS, CephFS...), see docs/deployment.md. An object
//! store would be a second implementation of [`AttachmentFiles`].
//!
//! An upload is written to a part (`<id>.part`) and becomes visible only when
//! [`AttachmentFiles::finish`] moves it in place after its checks, so a
//! reader never sees half a file.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dmp_protocol::AttachmentId;
use std::path::PathBuf;
use tokio::io::{AsyncRead, AsyncWrite};

/// A writer of an upload in progress.
pub type PartWriter = Box<dyn AsyncWrite + Send + Unpin>;
/// A reader of a stored attachment.
pub type FileReader = Box<dyn AsyncRead + Send + Unpin>;

/// Storage of attachment bytes.
#[async_trait]
pub trait AttachmentFiles: Send + Sync + std::fmt::Debug + 'static {
    /// Starts an upload; fails if one with this id exists.
    async fn begin(&self, id: &AttachmentId) -> std::io::Result<PartWriter>;
    /// Makes a finished upload durable and readable (after its writer was flushed and dropped).
    async fn finish(&self, id: &AttachmentId) -> std::io::Result<()>;
    /// Drops an upload that failed its checks.
    async fn abort(&self, id: &AttachmentId);
    /// Reads a stored attachment.
    async fn open(&self, id: &AttachmentId) -> std::io::Result<FileReader>;
    /// Removes a stored attachment (missing is not an error).
    async fn remove(&self, id: &AttachmentId);
    /// Removes parts of interrupted uploads last written before `cutoff`; returns how many.
    async fn purge_parts(&self, cutoff: DateTime<Utc>) -> usize;
}

/// Attachments as files of one directory (mode 0700, files 0600).
#[derive(Clone, Debug)]
pub struct LocalDir {
    dir: PathBuf,
}

impl LocalDir {
    /// The directory (created on first upload).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    fn part(&self, id: &AttachmentId) -> PathBuf {
        self.dir.join(format!("{id}.part"))
    }

    fn path(&self, id: &AttachmentId) -> PathBuf {
        self.dir.join(id.as_str())
    }
}

#[async_trait]
impl AttachmentFiles for LocalDir {
    async fn begin(&self, id: &AttachmentId) -> std::io::Result<PartWriter> {
        crate::files::private_dir(&self.dir)?;
        let file = tokio::fs::OpenOptions::from(crate::files::private_options())
            .write(true)
            .create_new(true)
            .open(self.part(id))
            .await?;
        Ok(Box::new(file))
    }

    async fn finish(&self, id: &AttachmentId) -> std::io::Result<()> {
        // fsync through a new handle flushes what the writer wrote: the
        // bytes are on disk before the upload is acknowledged.
        tokio::fs::File::open(self.part(id))
            .await?
            .sync_all()
            .await?;
        tokio::fs::rename(self.part(id), self.path(id)).await
    }

    async fn abort(&self, id: &AttachmentId) {
        let _ = tokio::fs::remove_file(self.part(id)).await;
    }

    async fn open(&self, id: &AttachmentId) -> std::io::Result<FileReader> {
        Ok(Box::new(tokio::fs::File::open(self.path(id)).await?))
    }

    async fn remove(&self, id: &AttachmentId) {
        let _ = tokio::fs::remove_file(self.path(id)).await;
    }

    async fn purge_parts(&self, cutoff: DateTime<Utc>) -> usize {
        let Ok(mut dir) = tokio::fs::read_dir(&self.dir).await else {
            return 0;
        };
        let mut removed = 0usize;
        while let Ok(Some(entry)) = dir.next_entry().await {
            if entry.path().extension().is_none_or(|e| e != "part") {
                continue;
            }
            let modified = entry.metadata().await.and_then(|m| m.modified());
            if modified.is_ok_and(|t| DateTime::<Utc>::from(t) < cutoff)
                && tokio::fs::remove_file(entry.path()).await.is_ok()
            {
                removed += 1;
            }
        }
        removed
    }
}
