//! File operations of the spool, each mapped to an error that says what is
//! wrong (disk full, permissions, a file in the way).

use std::path::{Path, PathBuf};

use tokio::io::AsyncWriteExt;

use crate::store::{SpoolProblem, StoreError};

/// Writes `bytes` to `path` so that either the old file or the whole new one
/// is there after a crash: temporary file, fsync, rename, directory fsync.
pub(crate) async fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let temporary = temporary_path(path);
    let mut file = tokio::fs::File::create(&temporary)
        .await
        .map_err(|e| StoreError::spool("create", &temporary, e))?;
    append_durably(&mut file, &temporary, bytes).await?;
    drop(file);
    rename(&temporary, path).await
}

/// Appends `bytes` to an open spool file and fsyncs it.
pub(crate) async fn append_durably(
    file: &mut tokio::fs::File,
    path: &Path,
    bytes: &[u8],
) -> Result<(), StoreError> {
    file.write_all(bytes)
        .await
        .map_err(|e| StoreError::spool("write", path, e))?;
    file.sync_all()
        .await
        .map_err(|e| StoreError::spool("fsync", path, e))
}

pub(crate) async fn rename(from: &Path, to: &Path) -> Result<(), StoreError> {
    tokio::fs::rename(from, to)
        .await
        .map_err(|e| StoreError::spool("rename", from, e))?;
    sync_parent(to).await
}

pub(crate) async fn sync_parent(path: &Path) -> Result<(), StoreError> {
    let Some(dir) = path.parent() else {
        return Ok(());
    };
    let handle = tokio::fs::File::open(dir)
        .await
        .map_err(|e| StoreError::spool("open directory", dir, e))?;
    handle
        .sync_all()
        .await
        .map_err(|e| StoreError::spool("fsync directory", dir, e))
}

pub(crate) async fn read(path: &Path) -> Result<Vec<u8>, StoreError> {
    tokio::fs::read(path)
        .await
        .map_err(|e| StoreError::spool("read", path, e))
}

pub(crate) async fn exists(path: &Path) -> Result<bool, StoreError> {
    tokio::fs::try_exists(path)
        .await
        .map_err(|e| StoreError::spool("look up", path, e))
}

/// The names and paths of a directory's entries.
pub(crate) async fn list_dir(dir: &Path) -> Result<Vec<(std::ffi::OsString, PathBuf)>, StoreError> {
    let mut found = Vec::new();
    let mut entries = tokio::fs::read_dir(dir)
        .await
        .map_err(|e| StoreError::spool("list", dir, e))?;
    while let Some(entry) = entries
        .next_entry()
        .await
        .map_err(|e| StoreError::spool("list", dir, e))?
    {
        found.push((entry.file_name(), entry.path()));
    }
    Ok(found)
}

/// Removes a file; one already gone is fine (another task finished first).
pub(crate) async fn remove(path: &Path) -> Result<(), StoreError> {
    match tokio::fs::remove_file(path).await {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(StoreError::spool("remove", path, e)),
    }
}

pub(crate) async fn create_dir(path: &Path) -> Result<(), StoreError> {
    tokio::fs::create_dir_all(path).await.map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            // create_dir_all only fails this way when a file holds the name.
            StoreError::Spool {
                problem: SpoolProblem::NotADirectory,
                action: "create directory",
                path: path.to_owned(),
                source: e,
            }
        } else {
            StoreError::spool("create directory", path, e)
        }
    })
}

pub(crate) fn temporary_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(TEMPORARY_SUFFIX);
    path.with_file_name(name)
}

pub(crate) const TEMPORARY_SUFFIX: &str = ".tmp";
