//! Where media files live (issue 19): always under `media.dir` on the node that wrote or last
//! needed them, and in cluster mode also in the object store (`storage.url`, keys
//! `media/<path relative to media.dir>`), so any node sends and serves any session's files: an
//! upload taken by node A for a session owned by node C, an incoming file saved by C and
//! downloaded through A. A single gateway has no store here and works exactly as before.
//!
//! The local copy doubles as a cache: a node that lacks a file fetches it from the store once
//! (written to a temporary name, then renamed, so a half-fetched file is never served).

use std::path::{Path, PathBuf};

use crate::storage::Store;

/// Prefix of media objects in the store (profiles live beside them under `profiles/`).
const PREFIX: &str = "media";

/// The media files of this node, and the shared store in cluster mode. Cheap to clone.
#[derive(Debug, Clone)]
pub struct MediaFiles {
    dir: PathBuf,
    store: Option<Store>,
}

impl MediaFiles {
    /// Files under `dir` (`media.dir`) and, when given, in `store` too.
    pub fn new(dir: PathBuf, store: Option<Store>) -> Self {
        MediaFiles { dir, store }
    }

    /// The local path of a file, by its path relative to `media.dir` (as stored in a message row).
    pub fn path(&self, relative: &str) -> PathBuf {
        self.dir.join(relative)
    }

    fn key(relative: &str) -> String {
        format!("{PREFIX}/{relative}")
    }

    /// Makes a file complete on this node available to every node: copies it to the store. A
    /// single gateway has nothing to do. Errors name the file.
    pub async fn publish(&self, relative: &str) -> Result<(), String> {
        let Some(store) = &self.store else { return Ok(()) };
        let bytes = tokio::fs::read(self.path(relative))
            .await
            .map_err(|e| format!("{relative}: {e}"))?;
        store
            .put(&Self::key(relative), bytes)
            .await
            .map_err(|e| format!("{relative}: {e}"))
    }

    /// A local path holding the file: this node's copy, else a copy fetched from the store.
    /// None when neither has it (retention deleted it, or it never existed).
    pub async fn local(&self, relative: &str) -> Option<PathBuf> {
        let path = self.path(relative);
        if tokio::fs::try_exists(&path).await.unwrap_or(false) {
            return Some(path);
        }
        let store = self.store.as_ref()?;
        let bytes = match store.get(&Self::key(relative)).await {
            Ok(Some(b)) => b,
            Ok(None) => return None,
            Err(e) => {
                tracing::warn!(file = relative, error = %e, "could not fetch a media file from the store");
                return None;
            }
        };
        match write_atomically(&path, &bytes).await {
            Ok(()) => Some(path),
            Err(e) => {
                tracing::warn!(file = %path.display(), error = %e, "could not keep a media file fetched from the store");
                None
            }
        }
    }

    /// Deletes the file here and in the store; a missing one is not an error.
    pub async fn remove(&self, relative: &str) {
        let path = self.path(relative);
        if let Err(e) = tokio::fs::remove_file(&path).await
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(file = %path.display(), error = %e, "could not delete a media file");
        }
        if let Some(store) = &self.store
            && let Err(e) = store.delete(&Self::key(relative)).await
        {
            tracing::warn!(file = relative, error = %e, "could not delete a media file from the store");
        }
    }
}

async fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        tokio::fs::create_dir_all(dir).await?;
    }
    let tmp = path.with_extension(format!("part-{}", uuid::Uuid::new_v4().simple()));
    tokio::fs::write(&tmp, bytes).await?;
    tokio::fs::rename(&tmp, path).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_node_without_the_file_fetches_it_from_the_store() {
        let root = tempfile::tempdir().unwrap();
        let store = Store::open(&format!("file://{}", root.path().join("store").display())).unwrap();
        let a = MediaFiles::new(root.path().join("a"), Some(store.clone()));
        let b = MediaFiles::new(root.path().join("b"), Some(store));
        let rel = "whatsapp_media/1/photo.jpg";
        write_atomically(&a.path(rel), b"jpeg bytes").await.unwrap();
        assert!(b.local(rel).await.is_none(), "not published yet");
        a.publish(rel).await.unwrap();
        let got = b.local(rel).await.expect("fetched");
        assert_eq!(tokio::fs::read(&got).await.unwrap(), b"jpeg bytes");
        b.remove(rel).await;
        a.remove(rel).await;
        assert!(
            a.local(rel).await.is_none() && b.local(rel).await.is_none(),
            "gone everywhere"
        );
    }

    #[tokio::test]
    async fn a_single_gateway_keeps_files_where_they_always_were() {
        let root = tempfile::tempdir().unwrap();
        let m = MediaFiles::new(root.path().to_path_buf(), None);
        let rel = "whatsapp_media/1/in/a.ogg";
        write_atomically(&m.path(rel), b"ogg").await.unwrap();
        m.publish(rel).await.unwrap();
        assert_eq!(m.local(rel).await, Some(root.path().join(rel)));
        m.remove(rel).await;
        assert!(m.local(rel).await.is_none());
    }
}
