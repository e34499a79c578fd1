//! Start-up recovery: recordings whose writer died are closed with a final
//! chunk, described by an `incomplete` manifest and a call record, and
//! uploaded like any finished recording.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::io::AsyncSeekExt;

use crate::catalog::{open_json, CallEnd, CallInfo, CdrRecord, Manifest};
use crate::format::header::ObjectKind;
use crate::recover::recover_interrupted;
use crate::spool::queue::UploadOptions;
use crate::spool::{fs, RecordFiles, Spool, SpoolFileKind, UploadReport};
use crate::store::{RecordId, StoreError, VaultStore};
use crate::tenant::TenantId;
use crate::tenant_keys::TenantKeys;

/// What [`Spool::recover`] did.
#[derive(Debug, Default)]
pub struct RecoveryReport {
    /// Interrupted recordings closed and described as incomplete.
    pub closed: Vec<(TenantId, RecordId)>,
    /// Interrupted recordings that could not be closed (client-held keys,
    /// a destroyed header, a spool error); their files stay for an operator.
    pub unrecoverable: Vec<(TenantId, RecordId, StoreError)>,
    pub upload: UploadReport,
}

impl Spool {
    /// Run once at start, before any writer: closes every interrupted
    /// recording, then uploads everything the spool holds (what fails stays
    /// for the [`UploadQueue`](crate::spool::UploadQueue)).
    pub async fn recover(
        self: &Arc<Self>,
        store: &VaultStore,
        keys: &dyn TenantKeys,
        options: &UploadOptions,
    ) -> Result<RecoveryReport, StoreError> {
        let mut report = RecoveryReport::default();
        for (tenant, id, kinds) in self.scan().await? {
            if !kinds.iter().any(|kind| kind.is_in_progress()) {
                continue;
            }
            let Some(_claim) = self.claim(&tenant, id) else {
                continue;
            };
            let files = self.record_files(&tenant, id).await?;
            match self.close_interrupted(keys, &tenant, &files).await {
                Ok(()) => report.closed.push((tenant, id)),
                Err(error) => {
                    tracing::error!(%tenant, record = %id, %error, "interrupted recording cannot be closed");
                    report.unrecoverable.push((tenant, id, error));
                }
            }
        }
        report.upload = self.upload_pending(store, options).await?;
        Ok(report)
    }

    async fn close_interrupted(
        &self,
        keys: &dyn TenantKeys,
        tenant: &TenantId,
        files: &RecordFiles,
    ) -> Result<(), StoreError> {
        let part = files.path(SpoolFileKind::Part);
        let recording = files.path(SpoolFileKind::Recording);
        if fs::exists(&part).await? {
            close_part(keys, tenant, &part).await?;
            fs::rename(&part, &recording).await?;
        }
        let call_path = files.path(SpoolFileKind::Call);
        if !fs::exists(&call_path).await? {
            return Ok(());
        }
        let call: CallInfo = open_json(
            keys,
            tenant,
            files.id(),
            ObjectKind::Manifest,
            &fs::read(&call_path).await?,
        )?;
        let recorded = fs::exists(&recording).await?;
        let manifest_path = files.path(SpoolFileKind::Manifest);
        if recorded && !fs::exists(&manifest_path).await? {
            let object = fs::read(&recording).await?;
            let recording_len = recover_interrupted(keys, tenant.clone(), &object)?.plaintext_len;
            let last_write = last_modified(&recording).await;
            let manifest = Manifest::interrupted(call.clone(), last_write, recording_len);
            Spool::spool_manifest(keys, files, &manifest).await?;
        }
        let cdr_path = files.path(SpoolFileKind::Cdr);
        if !fs::exists(&cdr_path).await? {
            let end = CallEnd {
                end: last_modified(&recording).await,
                ..CallEnd::default()
            };
            let mut cdr = CdrRecord::new(call, self.node(), &end, recorded);
            cdr.incomplete = true;
            Spool::spool_cdr(keys, files, &cdr).await?;
        }
        fs::remove(&call_path).await
    }
}

/// Cuts the part file after its last authentic chunk and appends the
/// closing chunk.
async fn close_part(
    keys: &dyn TenantKeys,
    tenant: &TenantId,
    part: &std::path::Path,
) -> Result<(), StoreError> {
    let object = fs::read(part).await?;
    let recovery = recover_interrupted(keys, tenant.clone(), &object)?;
    if recovery.discarded_len > 0 {
        tracing::warn!(path = %part.display(), discarded = recovery.discarded_len, "dropping the unauthenticated tail of an interrupted recording");
    }
    let mut file = tokio::fs::OpenOptions::new()
        .write(true)
        .open(part)
        .await
        .map_err(|e| StoreError::spool("open", part, e))?;
    let keep = recovery.keep_len as u64;
    file.set_len(keep)
        .await
        .map_err(|e| StoreError::spool("truncate", part, e))?;
    file.seek(std::io::SeekFrom::Start(keep))
        .await
        .map_err(|e| StoreError::spool("seek", part, e))?;
    fs::append_durably(&mut file, part, &recovery.closing_chunk).await
}

async fn last_modified(path: &std::path::Path) -> Option<DateTime<Utc>> {
    let modified = tokio::fs::metadata(path).await.ok()?.modified().ok()?;
    Some(DateTime::<Utc>::from(modified))
}
