//! Errors of the storage side. Messages name object keys and spool paths
//! (which hold no personal data by construction), never payload contents.

use std::io;
use std::path::PathBuf;

use crate::error::VaultError;

/// Why a spool file operation failed, in words an operator can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpoolProblem {
    DiskFull,
    PermissionDenied,
    ReadOnly,
    NotADirectory,
    Other,
}

impl SpoolProblem {
    pub fn of(error: &io::Error) -> Self {
        match error.kind() {
            io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded => SpoolProblem::DiskFull,
            io::ErrorKind::PermissionDenied => SpoolProblem::PermissionDenied,
            io::ErrorKind::ReadOnlyFilesystem => SpoolProblem::ReadOnly,
            io::ErrorKind::NotADirectory => SpoolProblem::NotADirectory,
            _ => SpoolProblem::Other,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            SpoolProblem::DiskFull => "spool disk is full: recordings cannot be kept safe until space is freed",
            SpoolProblem::PermissionDenied => "no permission to write in the spool directory: give the gateway's user write access",
            SpoolProblem::ReadOnly => "spool file system is read-only",
            SpoolProblem::NotADirectory => "a file is in the way: the spool path (or a part of it) must be a directory",
            SpoolProblem::Other => "spool I/O failed",
        }
    }
}

impl std::fmt::Display for SpoolProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.describe())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("object store configuration: {0}")]
    Config(String),
    #[error("object store request failed: {0}")]
    Backend(#[source] object_store::Error),
    #[error("object {key} not found")]
    NotFound { key: String },
    #[error(transparent)]
    Vault(#[from] VaultError),
    #[error("{problem} ({action} {path}: {source})")]
    Spool {
        problem: SpoolProblem,
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{what} is malformed ({category} at line {line}, column {column})")]
    Payload {
        what: &'static str,
        category: &'static str,
        line: usize,
        column: usize,
    },
    #[error("invalid record id: {0}")]
    InvalidRecordId(&'static str),
    #[error("invalid node id: {0}")]
    InvalidNodeId(&'static str),
    #[error("invalid blind index: expected 64 lowercase hex digits")]
    InvalidBlindIndex,
}

impl StoreError {
    pub(crate) fn spool(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        StoreError::Spool {
            problem: SpoolProblem::of(&source),
            action,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn backend(key: &str, error: object_store::Error) -> Self {
        match error {
            object_store::Error::NotFound { .. } => StoreError::NotFound {
                key: key.to_owned(),
            },
            other => StoreError::Backend(other),
        }
    }

    /// Whether trying again later can help: the store was unreachable or
    /// answered with an error. Spool, key and format errors need an operator.
    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::Backend(_))
    }

    /// A serde_json error reduced to where and what kind, since its message
    /// can quote the payload (phone numbers).
    pub(crate) fn payload(what: &'static str, error: &serde_json::Error) -> Self {
        let category = match error.classify() {
            serde_json::error::Category::Io => "I/O error",
            serde_json::error::Category::Syntax => "syntax error",
            serde_json::error::Category::Data => "unexpected field or value",
            serde_json::error::Category::Eof => "unexpected end",
        };
        StoreError::Payload {
            what,
            category,
            line: error.line(),
            column: error.column(),
        }
    }
}

impl From<greffier_types::InvalidRecordId> for StoreError {
    fn from(error: greffier_types::InvalidRecordId) -> Self {
        StoreError::InvalidRecordId(error.0)
    }
}
