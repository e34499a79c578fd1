//! The object store behind the vault: a local directory or an S3-compatible
//! store, reached through `object_store`, with the key layout of
//! FORMAT.md §8.

mod config;
mod error;
mod key;
mod retry;

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::{MultipartUpload, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use tokio::io::AsyncReadExt;

pub(crate) use config::Backend;
pub use config::{S3Config, S3Credentials, StoreConfig};
pub use error::{SpoolProblem, StoreError};
pub use key::{BlindIndex, JobObject, NodeId, ObjectKey, RecordId};
pub use retry::Backoff;

/// S3's smallest part size (every part but the last).
pub const MIN_PART_SIZE: usize = 5 * 1024 * 1024;

/// The store every object of the vault goes to. Cheap to clone.
#[derive(Clone, Debug)]
pub struct VaultStore {
    inner: Arc<dyn ObjectStore>,
    backend: Backend,
}

impl VaultStore {
    pub fn from_config(config: &StoreConfig) -> Result<Self, StoreError> {
        let (inner, backend) = config::build(config)?;
        Ok(VaultStore { inner, backend })
    }

    /// The underlying store, for tools that need more than the vault offers.
    pub fn object_store(&self) -> &Arc<dyn ObjectStore> {
        &self.inner
    }

    /// Remote stores get recordings as multipart uploads while the call
    /// runs; a local directory gets a copy of the spool file at the end.
    pub(crate) fn streams_during_call(&self) -> bool {
        matches!(self.backend, Backend::S3 { .. })
    }

    fn conditional_create(&self) -> bool {
        match self.backend {
            Backend::Local => true,
            Backend::S3 { conditional_create } => conditional_create,
        }
    }

    /// Writes a new small object. Where the store honours it, the write is
    /// create-only; an object already there counts as written, since keys
    /// carry a fresh record id and only an earlier attempt of this same write
    /// (whose answer was lost) can have put it there.
    pub async fn put_new(&self, key: &ObjectKey, bytes: Bytes) -> Result<(), StoreError> {
        self.create_exclusive(key, bytes).await.map(|_| ())
    }

    /// Creates an object only if none is there: `Ok(false)` when another
    /// writer got there first. On a store that ignores conditional writes
    /// (Garage, FORMAT.md §8) the object is written over and `Ok(true)`
    /// returned: callers that coordinate nodes this way say so.
    pub async fn create_exclusive(
        &self,
        key: &ObjectKey,
        bytes: Bytes,
    ) -> Result<bool, StoreError> {
        let mode = if self.conditional_create() {
            PutMode::Create
        } else {
            PutMode::Overwrite
        };
        let options = PutOptions {
            mode,
            ..PutOptions::default()
        };
        match self
            .inner
            .put_opts(key.path(), PutPayload::from(bytes), options)
            .await
        {
            Ok(_) => Ok(true),
            Err(object_store::Error::AlreadyExists { .. }) => Ok(false),
            Err(error) => Err(StoreError::backend(&key.to_string(), error)),
        }
    }

    /// Writes an object, replacing what was there (small mutable state that
    /// one writer owns at a time: a termination's phase, a job's state).
    pub async fn put(&self, key: &ObjectKey, bytes: Bytes) -> Result<(), StoreError> {
        self.inner
            .put(key.path(), PutPayload::from(bytes))
            .await
            .map(|_| ())
            .map_err(|error| StoreError::backend(&key.to_string(), error))
    }

    pub async fn get(&self, key: &ObjectKey) -> Result<Bytes, StoreError> {
        let backend = |e| StoreError::backend(&key.to_string(), e);
        self.inner
            .get(key.path())
            .await
            .map_err(backend)?
            .bytes()
            .await
            .map_err(backend)
    }

    /// Deletes an object; one that is already gone is not an error.
    pub async fn delete(&self, key: &ObjectKey) -> Result<(), StoreError> {
        match self.inner.delete(key.path()).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(error) => Err(StoreError::backend(&key.to_string(), error)),
        }
    }

    /// Every object under `prefix` (recursively).
    pub async fn list(&self, prefix: &ObjectKey) -> Result<Vec<ObjectKey>, StoreError> {
        self.inner
            .list(Some(prefix.path()))
            .map_ok(|meta| ObjectKey::from_listed(meta.location))
            .try_collect()
            .await
            .map_err(|e| StoreError::backend(&prefix.to_string(), e))
    }

    /// The objects directly under `prefix`, not those in its
    /// sub-directories (one request per thousand keys on S3, where a
    /// recursive listing of a busy prefix would cost many more).
    pub async fn list_shallow(&self, prefix: &ObjectKey) -> Result<Vec<ObjectKey>, StoreError> {
        self.inner
            .list_with_delimiter(Some(prefix.path()))
            .await
            .map(|listed| {
                listed
                    .objects
                    .into_iter()
                    .map(|meta| ObjectKey::from_listed(meta.location))
                    .collect()
            })
            .map_err(|e| StoreError::backend(&prefix.to_string(), e))
    }

    pub(crate) async fn start_multipart(
        &self,
        key: &ObjectKey,
    ) -> Result<Box<dyn MultipartUpload>, StoreError> {
        self.inner
            .put_multipart(key.path())
            .await
            .map_err(|e| StoreError::backend(&key.to_string(), e))
    }

    /// Uploads a spool file: in one request when it fits in a part, else as
    /// a multipart upload of `part_size` parts (aborted on failure, so no
    /// half object is left).
    pub async fn upload_file(
        &self,
        key: &ObjectKey,
        path: &Path,
        part_size: usize,
    ) -> Result<(), StoreError> {
        let part_size = part_size.max(MIN_PART_SIZE);
        let mut file = tokio::fs::File::open(path)
            .await
            .map_err(|e| StoreError::spool("open", path, e))?;
        let first = read_part(&mut file, path, part_size).await?;
        if first.len() < part_size {
            return match self.inner.put(key.path(), PutPayload::from(first)).await {
                Ok(_) => Ok(()),
                Err(error) => Err(StoreError::backend(&key.to_string(), error)),
            };
        }
        let mut upload = self.start_multipart(key).await?;
        let result = async {
            let mut part = first;
            while !part.is_empty() {
                upload
                    .put_part(PutPayload::from(part))
                    .await
                    .map_err(|e| StoreError::backend(&key.to_string(), e))?;
                part = read_part(&mut file, path, part_size).await?;
            }
            upload
                .complete()
                .await
                .map_err(|e| StoreError::backend(&key.to_string(), e))
        }
        .await;
        match result {
            Ok(_) => Ok(()),
            Err(error) => {
                if let Err(abort) = upload.abort().await {
                    tracing::debug!(%abort, "aborting a failed multipart upload failed too");
                }
                Err(error)
            }
        }
    }
}

async fn read_part(
    file: &mut tokio::fs::File,
    path: &Path,
    part_size: usize,
) -> Result<Bytes, StoreError> {
    let mut buffer = Vec::with_capacity(part_size);
    let mut limited = (&mut *file).take(part_size as u64);
    limited
        .read_to_end(&mut buffer)
        .await
        .map_err(|e| StoreError::spool("read", path, e))?;
    Ok(Bytes::from(buffer))
}
