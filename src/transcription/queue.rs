//! The transcription jobs in the object store, shared by every node: one
//! state object per record (`tenants/{t}/jobs/{id}.json`), written only by
//! the node that holds the job's lease, and the leases themselves
//! (`{id}.lease-{generation}`).
//!
//! A finished job (done or failed) is moved to `jobs/finished/{id}.json`
//! with its lease deleted: workers list only the top of `jobs/` (a shallow
//! listing), so their cost follows the jobs in progress, not every call
//! ever transcribed.
//!
//! A node takes a job by creating the next lease generation, create-only:
//! of two nodes racing for the same generation the store lets one win. A
//! lease names its node and the time it runs out; a node that dies holding
//! one loses the job to the next node once it runs out. A finished attempt
//! releases the lease by writing it over as run out (it is never deleted
//! while the job lives, so the generations keep counting up). On a store
//! that ignores create-only writes (Garage) two nodes could both win: run
//! one transcribing node there (docs/transcription.md).

use std::collections::BTreeMap;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use greffier_transcribe::Job;
use greffier_vault::store::{JobObject, NodeId, ObjectKey, RecordId, StoreError, VaultStore};
use greffier_vault::TenantId;
use serde::{Deserialize, Serialize};

/// What a lease object holds (no personal data).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseRecord {
    pub node: String,
    pub until: DateTime<Utc>,
}

/// One job as a listing shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub record: RecordId,
    /// The highest lease generation there, if any.
    pub lease: Option<u64>,
    /// Lease objects older than the highest (left by a takeover).
    pub stale_leases: Vec<u64>,
}

/// A job this node holds: it may write its state until `until`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    pub tenant: TenantId,
    pub record: RecordId,
    pub generation: u64,
    pub until: DateTime<Utc>,
}

/// The jobs of the store, as one node sees them.
#[derive(Clone)]
pub struct JobQueue {
    store: VaultStore,
    node: NodeId,
}

impl JobQueue {
    pub fn new(store: VaultStore, node: NodeId) -> Self {
        JobQueue { store, node }
    }

    pub fn store(&self) -> &VaultStore {
        &self.store
    }

    /// Every job of `tenant`, with its lease generations.
    pub async fn list(&self, tenant: &TenantId) -> Result<Vec<Listed>, StoreError> {
        let mut jobs: BTreeMap<RecordId, (bool, Vec<u64>)> = BTreeMap::new();
        for key in self
            .store
            .list_shallow(&ObjectKey::jobs_prefix(tenant))
            .await?
        {
            let Some((record, object)) = key.parse_job_object() else {
                continue;
            };
            let entry = jobs.entry(record).or_default();
            match object {
                JobObject::State => entry.0 = true,
                JobObject::Lease(generation) => entry.1.push(generation),
            }
        }
        Ok(jobs
            .into_iter()
            // Leases without a state: a job deleted half-way; nothing to do.
            .filter(|(_, (has_state, _))| *has_state)
            .map(|(record, (_, mut leases))| {
                leases.sort_unstable();
                let lease = leases.pop();
                Listed {
                    record,
                    lease,
                    stale_leases: leases,
                }
            })
            .collect())
    }

    /// Tries to take `job` until `until`: `None` when another node holds it
    /// or won the race for it.
    pub async fn take(
        &self,
        tenant: &TenantId,
        job: &Listed,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Option<Held>, StoreError> {
        if let Some(generation) = job.lease {
            let key = ObjectKey::job_lease(tenant, &job.record, generation);
            match self.store.get(&key).await {
                Ok(bytes) => {
                    // An unreadable lease is treated as run out: the worst
                    // case is one more attempt, never a job stuck forever.
                    if let Ok(lease) = serde_json::from_slice::<LeaseRecord>(&bytes) {
                        if lease.until > now {
                            return Ok(None);
                        }
                    }
                }
                Err(StoreError::NotFound { .. }) => {}
                Err(error) => return Err(error),
            }
        }
        let generation = job.lease.map_or(1, |generation| generation + 1);
        let record = LeaseRecord {
            node: self.node.as_str().to_owned(),
            until,
        };
        let key = ObjectKey::job_lease(tenant, &job.record, generation);
        if !self.store.create_exclusive(&key, to_json(&record)).await? {
            return Ok(None);
        }
        // Older generations are history now: the highest is what counts.
        for old in job.stale_leases.iter().chain(job.lease.as_ref()) {
            self.store
                .delete(&ObjectKey::job_lease(tenant, &job.record, *old))
                .await?;
        }
        Ok(Some(Held {
            tenant: tenant.clone(),
            record: job.record,
            generation,
            until,
        }))
    }

    /// Gives the job back: its lease is written over as run out.
    pub async fn release(&self, held: &Held, now: DateTime<Utc>) -> Result<(), StoreError> {
        let record = LeaseRecord {
            node: self.node.as_str().to_owned(),
            until: now,
        };
        let key = ObjectKey::job_lease(&held.tenant, &held.record, held.generation);
        self.store.put(&key, to_json(&record)).await
    }

    /// A job's state; `Ok(None)` when it is gone (its record was deleted).
    pub async fn read(&self, tenant: &TenantId, record: &RecordId) -> anyhow::Result<Option<Job>> {
        let key = ObjectKey::transcription_job(tenant, record);
        match self.store.get(&key).await {
            Ok(bytes) => Ok(Some(serde_json::from_slice(&bytes).map_err(|error| {
                anyhow::anyhow!("transcription job {record}: not a job ({error})")
            })?)),
            Err(StoreError::NotFound { .. }) => Ok(None),
            Err(error) => Err(error.into()),
        }
    }

    /// Files a finished job: its last state under `finished/`, then the
    /// job and its lease gone from the directory workers scan.
    pub async fn finish(&self, held: &Held, job: &Job) -> Result<(), StoreError> {
        let finished = ObjectKey::finished_job(&held.tenant, &held.record);
        self.store.put(&finished, to_json(job)).await?;
        self.store
            .delete(&ObjectKey::transcription_job(&held.tenant, &held.record))
            .await?;
        self.store
            .delete(&ObjectKey::job_lease(
                &held.tenant,
                &held.record,
                held.generation,
            ))
            .await
    }

    /// Writes the state of a job this node holds.
    pub async fn write(&self, held: &Held, job: &Job) -> Result<(), StoreError> {
        let key = ObjectKey::transcription_job(&held.tenant, &held.record);
        self.store.put(&key, to_json(job)).await
    }
}

fn to_json<T: Serialize>(value: &T) -> Bytes {
    // Plain strings, numbers and dates: serialising cannot fail.
    Bytes::from(serde_json::to_vec(value).unwrap_or_default())
}
