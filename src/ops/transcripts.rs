//! A tenant's transcripts and the transcription jobs that make them
//! (docs/transcription.md).
//!
//! A job is JSON in clear under `tenants/{tenant}/jobs/`, or
//! `jobs/finished/` once done or failed (states, times and reasons that
//! name configuration entries: no personal data); it is read here and
//! nowhere else in this layer ([`Ops::transcription_jobs`],
//! [`Ops::transcription_job`]). A transcript is sealed like a recording and
//! read like one: by the roles that may read content, never the operator,
//! and only once its `read` entry is on disk. Deleting one goes through the
//! planner and [`Ops::delete_planned`], as every deletion does, and a legal
//! hold keeps it.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Context;
use chrono::{DateTime, SecondsFormat, Utc};
use greffier_transcribe::{Job, JobState, Transcript};
use greffier_vault::audit::{Action, ObjectRef, Outcome};
use greffier_vault::store::{JobObject, ObjectKey, RecordId, StoreError};
use greffier_vault::TenantId;
use serde::Serialize;
use utoipa::ToSchema;

use super::retention::{classify, plan_deletion, Category};
use super::{Actor, Operation, Ops};

/// Where one record's transcription stands: its job, and whether its
/// transcript is stored. One line of `greffier transcripts list`, and the
/// admin API's `…/transcript/status`.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct TranscriptionStatus {
    /// The record id (UUIDv7).
    pub id: String,
    /// The call's start, from the record id (RFC 3339, UTC).
    pub start: String,
    /// `pending`, `refused`, `done` or `failed`; `null` when the record has
    /// a transcript but its job is gone (deleted with the recording).
    pub state: Option<String>,
    /// Why the sub-processor gate refused (`objected`, `notice_running`,
    /// …): a fixed code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// The refusal or failure in words (configuration entries, never
    /// personal data).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Attempts that reached the provider.
    pub attempts: u32,
    /// When the job is tried again (pending or refused jobs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_attempt: Option<String>,
    /// Whether the transcript is stored.
    pub transcript: bool,
}

impl TranscriptionStatus {
    fn new(id: &RecordId, job: Option<&Job>, transcript: bool) -> Self {
        let (state, code, reason) = match job.map(|job| &job.state) {
            None => (None, None, None),
            Some(JobState::Pending) => (Some("pending"), None, None),
            Some(JobState::Refused { code, reason }) => {
                (Some("refused"), Some(code.clone()), Some(reason.clone()))
            }
            Some(JobState::Done) => (Some("done"), None, None),
            Some(JobState::Failed { reason }) => (Some("failed"), None, Some(reason.clone())),
        };
        let waiting = matches!(state, Some("pending" | "refused"));
        TranscriptionStatus {
            id: id.to_string(),
            start: rfc3339(id.timestamp()),
            state: state.map(str::to_owned),
            code,
            reason,
            attempts: job.map_or(0, |job| job.attempts),
            next_attempt: job.filter(|_| waiting).map(|job| rfc3339(job.next_attempt)),
            transcript,
        }
    }
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// What deleting a transcript did.
#[derive(Debug, PartialEq, Eq)]
pub enum TranscriptDeletion {
    Deleted,
    /// No transcript was stored for the record.
    NotStored,
}

impl Ops {
    /// Every transcription of the tenant, oldest call first: one per job,
    /// and one per transcript whose job is gone.
    pub async fn list_transcriptions(
        &self,
        actor: &Actor,
        tenant: &TenantId,
    ) -> anyhow::Result<Vec<TranscriptionStatus>> {
        self.authorize(actor, Operation::ListRecordings, tenant, Action::Read)
            .await?;
        let jobs = self.transcription_jobs(tenant).await?;
        let transcripts = self
            .stored_transcripts(&ObjectKey::transcripts_prefix(tenant))
            .await?;
        let records: BTreeSet<RecordId> = jobs.keys().chain(&transcripts).copied().collect();
        Ok(records
            .iter()
            .map(|id| TranscriptionStatus::new(id, jobs.get(id), transcripts.contains(id)))
            .collect())
    }

    /// Where record `id`'s transcription stands; `None` when it has neither
    /// a job nor a transcript.
    pub async fn transcription_status(
        &self,
        actor: &Actor,
        tenant: &TenantId,
        id: &RecordId,
    ) -> anyhow::Result<Option<TranscriptionStatus>> {
        self.authorize(actor, Operation::ListRecordings, tenant, Action::Read)
            .await?;
        let job = self.transcription_job(tenant, id).await?;
        let transcript = self.has_transcript(tenant, id).await?;
        Ok((job.is_some() || transcript)
            .then(|| TranscriptionStatus::new(id, job.as_ref(), transcript)))
    }

    /// Decrypts record `id`'s transcript; `None` when none is stored.
    /// Nothing is returned before the `read` entry is on disk.
    pub async fn read_transcript(
        &self,
        actor: &Actor,
        tenant: &TenantId,
        id: &RecordId,
    ) -> anyhow::Result<Option<Transcript>> {
        self.authorize(actor, Operation::ReadTranscript, tenant, Action::Read)
            .await?;
        let read = self
            .store
            .read_transcript_json::<Transcript>(&self.keyring, tenant, id)
            .await;
        let read = match read {
            // Nothing to read, nothing read: no entry.
            Err(StoreError::NotFound { .. }) => return Ok(None),
            other => other.with_context(|| {
                format!("the transcript of {id} of tenant {tenant} cannot be read")
            }),
        };
        self.audit(
            actor,
            tenant,
            Action::Read,
            [ObjectRef::Record(*id), ObjectRef::Transcript(*id)],
            Outcome::of(&read),
        )
        .await?;
        read.map(Some)
    }

    /// Deletes record `id`'s transcript alone (its recording and job stay),
    /// unless a legal hold keeps the record; audited as `deleted` with the
    /// record and its transcript.
    pub async fn delete_transcript(
        &self,
        actor: &Actor,
        tenant: &TenantId,
        id: &RecordId,
    ) -> anyhow::Result<TranscriptDeletion> {
        self.authorize(actor, Operation::DeleteTranscript, tenant, Action::Deleted)
            .await?;
        let transcript = ObjectRef::Transcript(*id);
        self.refuse_if_held(actor, tenant, id, "the transcript of", [transcript.clone()])
            .await?;
        let keys: Vec<String> = self
            .store
            .list(&ObjectKey::transcripts_day_prefix(tenant, id.date()))
            .await?
            .iter()
            .map(|key| key.path().as_ref().to_owned())
            .collect();
        let holds = self.holds_of(tenant).await?;
        let plan = plan_deletion(&keys, &holds, self.clock.now(), |category, record| {
            record == id && category == Category::Transcript
        });
        if plan.delete.is_empty() && plan.held.is_empty() {
            return Ok(TranscriptDeletion::NotStored);
        }
        let done = self
            .delete_planned(
                actor,
                tenant,
                Action::Deleted,
                std::slice::from_ref(&transcript),
                &plan,
                false,
                |_| {},
            )
            .await
            .with_context(|| format!("the transcript of {id} of tenant {tenant}"))?;
        Ok(if done.deleted > 0 || done.already_gone > 0 {
            TranscriptDeletion::Deleted
        } else {
            TranscriptDeletion::NotStored
        })
    }

    /// Which of `records` have a transcript stored (for a listing: no
    /// content is read, so no entry is written).
    pub async fn with_transcript(
        &self,
        tenant: &TenantId,
        records: &[RecordId],
    ) -> anyhow::Result<BTreeSet<RecordId>> {
        let days: BTreeSet<_> = records.iter().map(RecordId::date).collect();
        let mut stored = BTreeSet::new();
        for day in days {
            let prefix = ObjectKey::transcripts_day_prefix(tenant, day);
            stored.extend(self.stored_transcripts(&prefix).await?);
        }
        stored.retain(|id| records.contains(id));
        Ok(stored)
    }

    /// Every transcription job of the tenant, by record, as stored: in
    /// progress (`jobs/{id}.json`) or finished (`jobs/finished/{id}.json`;
    /// when a job is caught between the two, the finished state is the
    /// newer: it is written before the other is deleted).
    pub async fn transcription_jobs(
        &self,
        tenant: &TenantId,
    ) -> anyhow::Result<BTreeMap<RecordId, Job>> {
        let mut states: BTreeMap<RecordId, ObjectKey> = BTreeMap::new();
        for key in self.store.list(&ObjectKey::jobs_prefix(tenant)).await? {
            let Some((id, JobObject::State)) = key.parse_job_object() else {
                continue;
            };
            if key == ObjectKey::finished_job(tenant, &id) || !states.contains_key(&id) {
                states.insert(id, key);
            }
        }
        let mut jobs = BTreeMap::new();
        for (id, key) in states {
            // Deleted meanwhile (its record was): not a job any more.
            if let Some(job) = self.read_job(&key).await? {
                jobs.insert(id, job);
            }
        }
        Ok(jobs)
    }

    /// Record `id`'s transcription job, as stored (finished, else in
    /// progress); `None` when it has none.
    pub async fn transcription_job(
        &self,
        tenant: &TenantId,
        id: &RecordId,
    ) -> anyhow::Result<Option<Job>> {
        if let Some(job) = self.read_job(&ObjectKey::finished_job(tenant, id)).await? {
            return Ok(Some(job));
        }
        self.read_job(&ObjectKey::transcription_job(tenant, id))
            .await
    }

    async fn read_job(&self, key: &ObjectKey) -> anyhow::Result<Option<Job>> {
        let bytes = match self.store.get(key).await {
            Ok(bytes) => bytes,
            Err(StoreError::NotFound { .. }) => return Ok(None),
            Err(error) => return Err(error).with_context(|| format!("reading {key}")),
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .with_context(|| format!("{key} is not a transcription job"))
    }

    async fn has_transcript(&self, tenant: &TenantId, id: &RecordId) -> anyhow::Result<bool> {
        let day = ObjectKey::transcripts_day_prefix(tenant, id.date());
        Ok(self.stored_transcripts(&day).await?.contains(id))
    }

    /// The records with a transcript under `prefix`.
    async fn stored_transcripts(&self, prefix: &ObjectKey) -> anyhow::Result<BTreeSet<RecordId>> {
        Ok(self
            .store
            .list(prefix)
            .await?
            .iter()
            .filter_map(|key| match classify(key.path().as_ref()) {
                Some((Category::Transcript, record, _)) => Some(record),
                _ => None,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(json: serde_json::Value) -> Job {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn a_status_says_the_state_the_refusal_code_and_nothing_more() {
        let id = RecordId::generate();
        let refused = job(serde_json::json!({
            "queued_at": "2026-12-01T10:00:00Z", "attempts": 0,
            "next_attempt": "2026-12-02T00:00:00Z", "refused_since": "2026-12-01T10:00:00Z",
            "refused_seconds": 0, "state": "refused", "code": "notice_running",
            "reason": "sub-processor scribe: notice runs until 2026-12-02",
        }));
        let status =
            serde_json::to_value(TranscriptionStatus::new(&id, Some(&refused), false)).unwrap();
        assert_eq!(status["state"], "refused");
        assert_eq!(status["code"], "notice_running");
        assert_eq!(status["next_attempt"], "2026-12-02T00:00:00.000Z");
        assert_eq!(status["transcript"], false);
        assert_eq!(status["id"], id.to_string());

        let done = job(serde_json::json!({
            "queued_at": "2026-12-01T10:00:00Z", "attempts": 2,
            "next_attempt": "2026-12-01T10:05:00Z", "refused_seconds": 0, "state": "done",
        }));
        let status =
            serde_json::to_value(TranscriptionStatus::new(&id, Some(&done), true)).unwrap();
        assert_eq!(status["state"], "done");
        assert_eq!(status["attempts"], 2);
        assert!(status.get("code").is_none());
        assert!(status.get("next_attempt").is_none(), "{status}");

        let orphan = serde_json::to_value(TranscriptionStatus::new(&id, None, true)).unwrap();
        assert!(orphan["state"].is_null());
        assert_eq!(orphan["attempts"], 0);
    }
}
