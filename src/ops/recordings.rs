//! Listing, reading and deleting one tenant's recordings.

use std::ops::Range;

use anyhow::Context;
use chrono::{DateTime, Utc};
use greffier_vault::audit::{Action, ObjectRef, Outcome};
use greffier_vault::catalog::{RecordingEntry, E164};
use greffier_vault::store::{ObjectKey, RecordId, StoreError};
use greffier_vault::{TenantId, Uuid, VaultError};
use object_store::ObjectStoreExt;

use super::holds::{Hold, HoldTarget};
use super::retention::{classify, plan_deletion, Category};
use super::{Actor, Held, Operation, Ops};

/// What a read gives back: the decrypted parts asked for, and the encodings
/// the recorder could not decode (silence in the audio).
pub struct ReadRecording {
    pub recording: Option<Vec<u8>>,
    pub raw_payloads: Option<Vec<u8>>,
    pub undecodable: Vec<String>,
    /// Why the manifest could not be used although it is there (altered, or
    /// another record's copied over it): the recording was checked on its own.
    pub manifest_problem: Option<String>,
}

impl Ops {
    /// The tenant's recordings that started in `range`, oldest first; with
    /// `number`, only its calls, found through the blind index.
    pub async fn list_recordings(
        &self,
        actor: &Actor,
        tenant: &TenantId,
        range: Range<DateTime<Utc>>,
        number: Option<&E164>,
    ) -> anyhow::Result<Vec<RecordingEntry>> {
        self.authorize(actor, Operation::ListRecordings, tenant, Action::Read)
            .await?;
        let entries = match number {
            Some(number) => self
                .store
                .list_by_number(&self.keyring, tenant, number)
                .await?
                .into_iter()
                .filter(|entry| range.contains(&entry.start))
                .collect(),
            None => {
                self.store
                    .list_recordings(&self.keyring, tenant, range.start, range.end)
                    .await?
            }
        };
        Ok(entries)
    }

    /// Decrypts a recording and/or its raw payloads. Nothing is returned
    /// before the `read` entry is on disk.
    pub async fn read_recording(
        &self,
        actor: &Actor,
        tenant: &TenantId,
        id: &RecordId,
        recording: bool,
        raw: bool,
    ) -> anyhow::Result<ReadRecording> {
        self.authorize(actor, Operation::ReadRecording, tenant, Action::Read)
            .await?;
        let read = self.decrypt_recording(tenant, id, recording, raw).await;
        self.audit(
            actor,
            tenant,
            Action::Read,
            [ObjectRef::Record(*id)],
            Outcome::of(&read),
        )
        .await?;
        read
    }

    async fn decrypt_recording(
        &self,
        tenant: &TenantId,
        id: &RecordId,
        recording: bool,
        raw: bool,
    ) -> anyhow::Result<ReadRecording> {
        // The manifest says what the audio lacks; without it (deleted, or
        // keys held by the client) the recording is still exported. One that
        // fails its checks (altered, or another record's copied over it) is
        // reported: the recording is then checked on its own.
        let (undecodable, manifest_problem) =
            match self.store.read_manifest(&self.keyring, tenant, id).await {
                Ok(manifest) => (manifest.undecodable, None),
                // Missing, or no key for it: the recording's own read says so.
                Err(StoreError::NotFound { .. })
                | Err(StoreError::Vault(
                    VaultError::ClientKeyRequired { .. }
                    | VaultError::KeyShredded { .. }
                    | VaultError::UnknownTenant { .. }
                    | VaultError::KeyNotFound { .. },
                )) => (Vec::new(), None),
                Err(error) => (Vec::new(), Some(error.to_string())),
            };
        let raw_payloads = if raw {
            let payloads = self
                .store
                .read_raw_payloads(&self.keyring, tenant, id)
                .await
                .with_context(|| {
                    format!(
                        "raw payloads of recording {id} of tenant {tenant} cannot be read; nothing was written"
                    )
                })?;
            Some(payloads)
        } else {
            None
        };
        let recording = if recording {
            let plaintext = self
                .store
                .read_recording(&self.keyring, tenant, id)
                .await
                .with_context(|| {
                    format!("recording {id} of tenant {tenant} cannot be read; nothing was written")
                })?;
            Some(plaintext)
        } else {
            None
        };
        Ok(ReadRecording {
            recording,
            raw_payloads,
            undecodable,
            manifest_problem,
        })
    }

    /// Deletes a recording with everything of its record but the call
    /// record: subject index entries, transcription job, raw payloads,
    /// manifest, the recording and its transcript; audited once. Nothing
    /// goes under a legal hold. Planned and carried out as every deletion is
    /// ([`super::retention::plan_deletion`], [`Ops::delete_planned`]).
    pub async fn delete_recording(
        &self,
        actor: &Actor,
        tenant: &TenantId,
        id: &RecordId,
    ) -> anyhow::Result<()> {
        self.authorize(actor, Operation::DeleteRecording, tenant, Action::Deleted)
            .await?;
        self.refuse_if_held(actor, tenant, id, "recording", [])
            .await?;
        let keys = self.record_keys(tenant, id).await?;
        let holds = self.holds_of(tenant).await?;
        let plan = plan_deletion(&keys, &holds, self.clock.now(), |category, record| {
            record == id && category != Category::CallRecord
        });
        // A record already gone is not an error: the deletion is done.
        self.delete_planned(actor, tenant, Action::Deleted, &[], &plan, false, |_| {})
            .await
            .with_context(|| format!("recording {id} of tenant {tenant}"))?;
        Ok(())
    }

    /// Refuses, with a `held` audit entry, an operation on record `id` that
    /// a legal hold forbids; `what` names the object in the error.
    pub(crate) async fn refuse_if_held(
        &self,
        actor: &Actor,
        tenant: &TenantId,
        id: &RecordId,
        what: &str,
        context: impl IntoIterator<Item = ObjectRef>,
    ) -> anyhow::Result<()> {
        let holding = self.holds_on_record(tenant, id).await?;
        if holding.is_empty() {
            return Ok(());
        }
        let mut objects = vec![ObjectRef::Record(*id)];
        objects.extend(context);
        objects.extend(holding.iter().map(|hold| ObjectRef::Hold(*hold)));
        self.audit(actor, tenant, Action::Deleted, objects, Outcome::Held)
            .await?;
        let holds = holding
            .iter()
            .map(|hold| hold.hyphenated().to_string())
            .collect::<Vec<_>>()
            .join(", ");
        Err(Held(format!(
            "{what} {id} of tenant {tenant} is under legal hold ({holds}); nothing was \
             deleted. `greffier hold list` shows the hold, which only its release lifts"
        ))
        .into())
    }

    /// Every stored key of record `id` but its call record, as the planner
    /// reads keys: the day's recording objects and transcript, the job's
    /// objects (in progress, leases, finished), and the subject index entries (from the manifest's parties,
    /// or a scan of the index when the manifest cannot be read).
    pub(crate) async fn record_keys(
        &self,
        tenant: &TenantId,
        id: &RecordId,
    ) -> anyhow::Result<Vec<String>> {
        let mut listed = self
            .store
            .list(&ObjectKey::recordings_day_prefix(tenant, id.date()))
            .await?;
        listed.extend(
            self.store
                .list(&ObjectKey::transcripts_day_prefix(tenant, id.date()))
                .await?,
        );
        // Jobs in progress and leases are at the top of `jobs/`; finished
        // jobs pile up below it with every call, so that one is asked for
        // by name rather than listed.
        listed.extend(
            self.store
                .list_shallow(&ObjectKey::jobs_prefix(tenant))
                .await?,
        );
        let finished = ObjectKey::finished_job(tenant, id);
        match self.store.object_store().head(finished.path()).await {
            Ok(_) => listed.push(finished),
            Err(object_store::Error::NotFound { .. }) => {}
            Err(error) => return Err(anyhow::anyhow!("reading {finished}: {error}")),
        }
        let mut keys: Vec<String> = listed
            .iter()
            .map(|key| key.path().as_ref().to_owned())
            .filter(|path| classify(path).is_some_and(|(_, record, _)| record == *id))
            .collect();
        for marker in self.store.markers_of(&self.keyring, tenant, id).await? {
            keys.push(marker.path().as_ref().to_owned());
        }
        Ok(keys)
    }

    /// The holds in force that protect record `id`: on the whole tenant, on
    /// the record, or on a number whose subject index names the record
    /// (read from the index itself, so it works without the tenant's keys).
    pub(crate) async fn holds_on_record(
        &self,
        tenant: &TenantId,
        id: &RecordId,
    ) -> anyhow::Result<Vec<Uuid>> {
        let now = self.clock.now();
        let holds: Vec<Hold> = self
            .holds_of(tenant)
            .await?
            .into_iter()
            .filter(|hold| hold.active(now))
            .collect();
        let mut subjects = Vec::new();
        if holds
            .iter()
            .any(|hold| matches!(hold.target, HoldTarget::Subject(_)))
        {
            for marker in self.store.list(&ObjectKey::subjects_prefix(tenant)).await? {
                let path = marker.path().as_ref().to_owned();
                if let Some((Category::SubjectIndex, marked, Some(subject))) = classify(&path) {
                    if marked == *id {
                        subjects.push(subject);
                    }
                }
            }
        }
        Ok(holds
            .iter()
            .filter(|hold| match &hold.target {
                HoldTarget::Tenant => true,
                HoldTarget::Record(held) => held == id,
                HoldTarget::Subject(index) => subjects.contains(index),
            })
            .map(|hold| hold.id)
            .collect())
    }
}

impl Ops {
    /// One recording's catalogue entry, found in the day its id was made
    /// (ids are UUIDv7 from the call's start); `None` when it is not there.
    pub async fn find_recording(
        &self,
        actor: &Actor,
        tenant: &TenantId,
        id: &RecordId,
    ) -> anyhow::Result<Option<RecordingEntry>> {
        self.authorize(actor, Operation::ListRecordings, tenant, Action::Read)
            .await?;
        let day = id.timestamp();
        let from = day - chrono::Duration::days(1);
        let to = day + chrono::Duration::days(1);
        let entries = self
            .store
            .list_recordings(&self.keyring, tenant, from, to)
            .await?;
        Ok(entries.into_iter().find(|entry| entry.id == *id))
    }

    /// The tenant's audit entries written in `range`, as JSON lines, in
    /// time order; only sealed segments (the gateway seals every few
    /// minutes and at each stop).
    pub async fn export_audit(
        &self,
        actor: &Actor,
        tenant: &TenantId,
        range: Range<DateTime<Utc>>,
    ) -> anyhow::Result<Vec<u8>> {
        self.authorize(actor, Operation::ExportAudit, tenant, Action::Exported)
            .await?;
        let stored = greffier_vault::audit::read_chains(&self.store)
            .await
            .context("cannot read the audit segments")?;
        let mut lines: Vec<_> = stored
            .chains
            .iter()
            .flat_map(|(_, segments)| {
                greffier_vault::audit::tenant_lines(
                    segments,
                    tenant.as_str(),
                    range.start,
                    range.end,
                )
            })
            .collect();
        lines.sort_by_key(|(time, _)| *time);
        let mut out = Vec::new();
        for (_, line) in lines {
            out.extend_from_slice(line);
            out.push(b'\n');
        }
        Ok(out)
    }
}
