//! Background uploads of what the spool holds, with backoff while the store
//! is unreachable. The spool stays the source of truth until the store
//! confirms each object.

use std::sync::Arc;
use std::time::Duration;

use crate::spool::upload::{upload_record, UploadTarget};
use crate::spool::Spool;
use crate::store::{Backoff, RecordId, StoreError, VaultStore, MIN_PART_SIZE};
use crate::tenant::TenantId;

#[derive(Clone, Debug)]
pub struct UploadOptions {
    /// Attempts and delays of one try at one object.
    pub backoff: Backoff,
    /// Size of multipart parts (at least 5 MiB).
    pub part_size: usize,
    /// How often the queue looks at the spool when nothing wakes it.
    pub rescan_interval: Duration,
}

impl Default for UploadOptions {
    fn default() -> Self {
        UploadOptions {
            backoff: Backoff::default(),
            part_size: 8 * 1024 * 1024,
            rescan_interval: Duration::from_secs(60),
        }
    }
}

impl UploadOptions {
    pub(crate) fn part_size(&self) -> usize {
        self.part_size.max(MIN_PART_SIZE)
    }
}

/// What one pass over the spool did.
#[derive(Debug, Default)]
pub struct UploadReport {
    pub uploaded: Vec<(TenantId, RecordId)>,
    /// Still in the spool, with the last error.
    pub pending: Vec<(TenantId, RecordId, StoreError)>,
}

impl Spool {
    /// One pass: tries every waiting record once (with the bounded attempts
    /// of `options.backoff`).
    pub async fn upload_pending(
        self: &Arc<Self>,
        store: &VaultStore,
        options: &UploadOptions,
    ) -> Result<UploadReport, StoreError> {
        let target = UploadTarget {
            store,
            node: self.node(),
            backoff: &options.backoff,
            part_size: options.part_size(),
        };
        let mut report = UploadReport::default();
        for (tenant, id) in self.pending().await? {
            let Some(_claim) = self.claim(&tenant, id) else {
                continue;
            };
            let files = self.record_files(&tenant, id).await?;
            match upload_record(&target, &tenant, &id, &files).await {
                Ok(()) => report.uploaded.push((tenant, id)),
                Err(error) => {
                    tracing::warn!(%tenant, record = %id, %error, "upload failed; kept in the spool");
                    report.pending.push((tenant, id, error));
                }
            }
        }
        Ok(report)
    }
}

/// Uploads whatever the spool holds, forever: woken by writers that could
/// not upload, and by a timer whose interval grows while uploads fail.
pub struct UploadQueue {
    spool: Arc<Spool>,
    store: VaultStore,
    options: UploadOptions,
}

impl UploadQueue {
    pub fn new(spool: Arc<Spool>, store: VaultStore, options: UploadOptions) -> Self {
        UploadQueue {
            spool,
            store,
            options,
        }
    }

    /// One pass over the spool.
    pub async fn run_once(&self) -> Result<UploadReport, StoreError> {
        self.spool.upload_pending(&self.store, &self.options).await
    }

    /// Runs until the task is aborted.
    pub fn spawn(self) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut failed_passes = 0u32;
            loop {
                let healthy = match self.run_once().await {
                    Ok(report) => report.pending.is_empty(),
                    Err(error) => {
                        tracing::error!(%error, "spool cannot be read; uploads are stalled");
                        false
                    }
                };
                failed_passes = if healthy {
                    0
                } else {
                    failed_passes.saturating_add(1)
                };
                let wait = if healthy {
                    self.options.rescan_interval
                } else {
                    self.options
                        .backoff
                        .delay(failed_passes)
                        .min(self.options.rescan_interval)
                };
                tokio::select! {
                    () = self.spool.pending_notified() => {}
                    () = tokio::time::sleep(wait) => {}
                }
            }
        })
    }
}
