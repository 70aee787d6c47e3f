//! The object store every node of a cluster reaches (`storage.url`): `file:///path` (a local or
//! shared directory; the default is `<data_dir>/store`) or `s3://bucket/prefix` (AWS S3 or an
//! S3-compatible server; credentials, region and endpoint from the usual `AWS_*` variables:
//! `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, `AWS_ENDPOINT`, and
//! `AWS_ALLOW_HTTP=true` for a plain-HTTP endpoint). It holds portable browser profiles.

use std::sync::Arc;

use bytes::Bytes;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("storage.url {url}: {reason}")]
    Config { url: String, reason: String },
    #[error("object store: {0}")]
    Store(#[from] object_store::Error),
}

/// A handle on the store (cheap to clone). Keys are `/`-separated and relative to the URL's prefix.
#[derive(Clone)]
pub struct Store {
    inner: Arc<dyn ObjectStore>,
    prefix: Path,
    url: String,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("url", &self.url).finish()
    }
}

impl Store {
    /// Opens `url`. A `file://` directory is created when missing.
    pub fn open(url: &str) -> Result<Store, StorageError> {
        let config = |reason: String| StorageError::Config {
            url: url.to_string(),
            reason,
        };
        let parsed = url::Url::parse(url).map_err(|e| config(e.to_string()))?;
        let (inner, prefix): (Arc<dyn ObjectStore>, Path) = match parsed.scheme() {
            "file" => {
                let dir = parsed
                    .to_file_path()
                    .map_err(|_| config("not an absolute file path".into()))?;
                std::fs::create_dir_all(&dir).map_err(|e| config(e.to_string()))?;
                let fs =
                    object_store::local::LocalFileSystem::new_with_prefix(&dir).map_err(|e| config(e.to_string()))?;
                (Arc::new(fs), Path::default())
            }
            "s3" => {
                let bucket = parsed.host_str().unwrap_or_default();
                if bucket.is_empty() {
                    return Err(config("s3:// needs a bucket: s3://bucket/prefix".into()));
                }
                let s3 = object_store::aws::AmazonS3Builder::from_env()
                    .with_bucket_name(bucket)
                    .build()
                    .map_err(|e| config(e.to_string()))?;
                let prefix = Path::from(parsed.path().trim_matches('/'));
                (Arc::new(s3), prefix)
            }
            other => return Err(config(format!("unsupported scheme {other}: (file:// or s3://)"))),
        };
        Ok(Store {
            inner,
            prefix,
            url: url.to_string(),
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    fn path(&self, key: &str) -> Path {
        key.split('/')
            .filter(|p| !p.is_empty())
            .fold(self.prefix.clone(), |p, part| p.join(part))
    }

    pub async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), StorageError> {
        self.inner
            .put(&self.path(key), PutPayload::from(Bytes::from(bytes)))
            .await?;
        Ok(())
    }

    /// The object's bytes; `Ok(None)` when there is no such key.
    pub async fn get(&self, key: &str) -> Result<Option<Bytes>, StorageError> {
        match self.inner.get(&self.path(key)).await {
            Ok(r) => Ok(Some(r.bytes().await?)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes the object; a missing one is not an error.
    pub async fn delete(&self, key: &str) -> Result<(), StorageError> {
        match self.inner.delete(&self.path(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}
