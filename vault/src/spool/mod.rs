//! The local spool: every recorded call's encrypted bytes are on local disk
//! until the store has confirmed them, so a crash or an unreachable store
//! loses nothing that was fsynced.

mod files;
mod fs;
mod queue;
mod recover;
mod upload;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::Notify;

use crate::catalog::{seal_json, subjects_of, CdrRecord, Manifest};
use crate::format::header::ObjectKind;
use crate::store::{RecordId, StoreError};
use crate::tenant::TenantId;
use crate::tenant_keys::TenantKeys;

pub(crate) use files::{RecordFiles, SpoolFileKind};
pub(crate) use fs::{append_durably, list_dir, read, remove, rename, sync_parent, write_atomic};
pub use queue::{UploadOptions, UploadQueue, UploadReport};
pub use recover::RecoveryReport;
pub(crate) use upload::{upload_record, UploadTarget};

use crate::store::NodeId;

/// The spool directory of one node.
#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    node: NodeId,
    claims: Mutex<HashSet<(TenantId, RecordId)>>,
    pending: Notify,
}

impl Spool {
    /// Opens (creating it if needed) the spool at `dir` and checks it can be
    /// written, so a misconfigured spool stops the gateway at start rather
    /// than at the first call.
    pub async fn open(dir: impl Into<PathBuf>, node: NodeId) -> Result<Arc<Self>, StoreError> {
        let dir = dir.into();
        fs::create_dir(&dir).await?;
        let probe = dir.join(".write-probe");
        fs::write_atomic(&probe, b"").await?;
        fs::remove(&probe).await?;
        Ok(Arc::new(Spool {
            dir,
            node,
            claims: Mutex::new(HashSet::new()),
            pending: Notify::new(),
        }))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn node(&self) -> &NodeId {
        &self.node
    }

    /// Spools the call record of a call that was not recorded; the upload
    /// queue sends it.
    pub async fn submit_cdr(
        &self,
        keys: &dyn TenantKeys,
        cdr: &CdrRecord,
    ) -> Result<(), StoreError> {
        let files = self
            .record_files(&cdr.call.tenant, cdr.call.record_id)
            .await?;
        Self::spool_cdr(keys, &files, cdr).await?;
        self.notify_pending();
        Ok(())
    }

    /// Records with files waiting for upload and no writer at work on them.
    pub async fn pending(&self) -> Result<Vec<(TenantId, RecordId)>, StoreError> {
        let mut pending: Vec<_> = self
            .scan()
            .await?
            .into_iter()
            .filter(|(_, _, kinds)| !kinds.iter().any(|kind| kind.is_in_progress()))
            .map(|(tenant, id, _)| (tenant, id))
            .collect();
        pending.sort();
        pending.dedup();
        Ok(pending)
    }

    /// Spools what describes a finished (or closed) recording: its manifest
    /// and the subject markers of both numbers (none for a client-mode
    /// tenant, which has no subject index).
    pub(crate) async fn spool_manifest(
        keys: &dyn TenantKeys,
        files: &RecordFiles,
        manifest: &Manifest,
    ) -> Result<(), StoreError> {
        let call = &manifest.call;
        let sealed = seal_json(
            keys,
            &call.tenant,
            &call.record_id,
            ObjectKind::Manifest,
            manifest,
        )?;
        fs::write_atomic(&files.path(SpoolFileKind::Manifest), &sealed).await?;
        let subjects = match keys.subject_index_key(&call.tenant)? {
            Some(index_key) => subjects_of(&index_key, call)?,
            None => Vec::new(),
        };
        let lines: String = subjects
            .iter()
            .map(|s| format!("{}\n", s.as_str()))
            .collect();
        fs::write_atomic(&files.path(SpoolFileKind::Subjects), lines.as_bytes()).await
    }

    pub(crate) async fn spool_cdr(
        keys: &dyn TenantKeys,
        files: &RecordFiles,
        cdr: &CdrRecord,
    ) -> Result<(), StoreError> {
        let call = &cdr.call;
        let sealed = seal_json(keys, &call.tenant, &call.record_id, ObjectKind::Cdr, cdr)?;
        fs::write_atomic(&files.path(SpoolFileKind::Cdr), &sealed).await
    }

    pub(crate) async fn record_files(
        &self,
        tenant: &TenantId,
        id: RecordId,
    ) -> Result<RecordFiles, StoreError> {
        let dir = self.dir.join(tenant.as_str());
        fs::create_dir(&dir).await?;
        Ok(RecordFiles::new(dir, id))
    }

    /// Marks a record as being handled by one task (a writer, an upload),
    /// so the queue and a finishing writer never upload it at once.
    pub(crate) fn claim(self: &Arc<Self>, tenant: &TenantId, id: RecordId) -> Option<Claim> {
        let key = (tenant.clone(), id);
        let mut claims = self.claims.lock().unwrap_or_else(PoisonError::into_inner);
        claims.insert(key.clone()).then(|| Claim {
            spool: Arc::clone(self),
            key,
        })
    }

    pub(crate) fn notify_pending(&self) {
        self.pending.notify_one();
    }

    pub(crate) async fn pending_notified(&self) {
        self.pending.notified().await
    }

    /// Every record in the spool with the kinds of file it has.
    async fn scan(&self) -> Result<Vec<(TenantId, RecordId, Vec<SpoolFileKind>)>, StoreError> {
        let mut found: Vec<(TenantId, RecordId, Vec<SpoolFileKind>)> = Vec::new();
        for (tenant, tenant_dir) in self.tenant_dirs().await? {
            for (name, _) in fs::list_dir(&tenant_dir).await? {
                let Some((id, kind)) = name.to_str().and_then(SpoolFileKind::parse) else {
                    continue;
                };
                match found.iter_mut().find(|(t, i, _)| *t == tenant && *i == id) {
                    Some((_, _, kinds)) => kinds.push(kind),
                    None => found.push((tenant.clone(), id, vec![kind])),
                }
            }
        }
        Ok(found)
    }

    async fn tenant_dirs(&self) -> Result<Vec<(TenantId, PathBuf)>, StoreError> {
        let mut dirs = Vec::new();
        for (name, path) in fs::list_dir(&self.dir).await? {
            let Some(tenant) = name.to_str().and_then(|n| TenantId::new(n).ok()) else {
                continue;
            };
            if path.is_dir() {
                dirs.push((tenant, path));
            }
        }
        Ok(dirs)
    }
}

/// A record claimed by one task; released when dropped.
#[derive(Debug)]
pub(crate) struct Claim {
    spool: Arc<Spool>,
    key: (TenantId, RecordId),
}

impl Drop for Claim {
    fn drop(&mut self) {
        let mut claims = self
            .spool
            .claims
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        claims.remove(&self.key);
    }
}
