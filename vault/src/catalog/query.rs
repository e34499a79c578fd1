//! Listing and reading for the CLI: by day range (manifests), by number
//! (subject index), one recording whole, and deletion of a recording with
//! its manifest and subject markers.

use chrono::{DateTime, Duration, Utc};

use crate::catalog::number::E164;
use crate::catalog::records::{subjects_of, CdrRecord, Direction, Manifest};
use crate::catalog::sealed::{open_json, seal_json};
use crate::decrypt::ObjectDecryptor;
use crate::error::VaultError;
use crate::format::header::{ObjectKind, ObjectRef};
use crate::keys::DataKeyResolver;
use crate::store::{BlindIndex, ObjectKey, RecordId, StoreError, VaultStore};
use crate::tenant::TenantId;
use crate::tenant_keys::TenantKeys;

/// One recording as the CLI lists it: no numbers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordingEntry {
    pub id: RecordId,
    pub start: DateTime<Utc>,
    pub duration: Option<Duration>,
    pub direction: Direction,
    pub incomplete: bool,
    /// Encodings the recording holds as silence, their payloads kept aside.
    pub undecodable: Vec<String>,
}

impl RecordingEntry {
    fn of(manifest: &Manifest) -> Self {
        RecordingEntry {
            id: manifest.call.record_id,
            start: manifest.call.start,
            duration: manifest.end.map(|end| end - manifest.call.start),
            direction: manifest.call.direction,
            incomplete: manifest.incomplete,
            undecodable: manifest.undecodable.clone(),
        }
    }
}

impl VaultStore {
    /// Recordings of `tenant` that started in `[from, to)`, oldest first.
    /// Reads the manifests of the days in range (day partitions follow the
    /// record id, drawn at call start).
    pub async fn list_recordings(
        &self,
        keys: &dyn TenantKeys,
        tenant: &TenantId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<RecordingEntry>, StoreError> {
        let mut entries = Vec::new();
        let mut day = from.date_naive();
        while day <= to.date_naive() {
            let listed = self
                .list(&ObjectKey::recordings_day_prefix(tenant, day))
                .await?;
            for key in listed {
                let Some(id) = record_id_of_manifest(&key) else {
                    continue;
                };
                let manifest = self.read_manifest(keys, tenant, &id).await?;
                if (from..to).contains(&manifest.call.start) {
                    entries.push(RecordingEntry::of(&manifest));
                }
            }
            let Some(next) = day.succ_opt() else { break };
            day = next;
        }
        entries.sort_by_key(|entry| (entry.start, entry.id));
        Ok(entries)
    }

    /// Recordings where `number` was caller or callee, through the subject
    /// index. A marker whose manifest is gone (deleted meanwhile) is skipped.
    /// A client-mode tenant has no index: refused.
    pub async fn list_by_number(
        &self,
        keys: &dyn TenantKeys,
        tenant: &TenantId,
        number: &E164,
    ) -> Result<Vec<RecordingEntry>, StoreError> {
        let index_key =
            keys.subject_index_key(tenant)?
                .ok_or_else(|| VaultError::ClientKeyRequired {
                    tenant: tenant.clone(),
                })?;
        let subject = BlindIndex::of(&index_key, number.expose())?;
        let markers = self
            .list(&ObjectKey::subject_prefix(tenant, &subject))
            .await?;
        let mut entries = Vec::new();
        for marker in markers {
            let Some(id) = record_id_of_marker(&marker) else {
                continue;
            };
            match self.read_manifest(keys, tenant, &id).await {
                Ok(manifest) => entries.push(RecordingEntry::of(&manifest)),
                Err(StoreError::NotFound { .. }) => continue,
                Err(error) => return Err(error),
            }
        }
        entries.sort_by_key(|entry| (entry.start, entry.id));
        Ok(entries)
    }

    pub async fn read_manifest(
        &self,
        keys: &dyn DataKeyResolver,
        tenant: &TenantId,
        id: &RecordId,
    ) -> Result<Manifest, StoreError> {
        let object = self
            .get(&ObjectKey::manifest(tenant, id.date(), id))
            .await?;
        open_json(keys, tenant, id, ObjectKind::Manifest, &object)
    }

    /// One call record, by the key it was listed under (`cdr/` of a day):
    /// the object must be the call record of the record its name gives.
    pub async fn read_call_record(
        &self,
        keys: &dyn DataKeyResolver,
        tenant: &TenantId,
        key: &ObjectKey,
    ) -> Result<CdrRecord, StoreError> {
        let id =
            record_id_of_cdr(key).ok_or(StoreError::InvalidRecordId("not a call record key"))?;
        let object = self.get(key).await?;
        open_json(keys, tenant, &id, ObjectKind::Cdr, &object)
    }

    /// The whole plaintext of a recording, or an error and nothing at all
    /// if any part fails to authenticate or the object is cut short.
    pub async fn read_recording(
        &self,
        keys: &dyn DataKeyResolver,
        tenant: &TenantId,
        id: &RecordId,
    ) -> Result<Vec<u8>, StoreError> {
        let key = ObjectKey::recording(tenant, id.date(), id);
        self.read_whole(keys, tenant, &key, id, ObjectKind::Recording)
            .await
    }

    /// The whole plaintext of a transcript, authenticated, or an error.
    pub async fn read_transcript(
        &self,
        keys: &dyn DataKeyResolver,
        tenant: &TenantId,
        id: &RecordId,
    ) -> Result<Vec<u8>, StoreError> {
        let key = ObjectKey::transcript(tenant, id.date(), id);
        self.read_whole(keys, tenant, &key, id, ObjectKind::Transcript)
            .await
    }

    /// Seals `transcript` (its JSON) for `tenant` as the transcript of
    /// record `id` and stores it, replacing an earlier one: a job that is
    /// retried after its write was lost writes the same record again.
    pub async fn write_transcript<T: serde::Serialize>(
        &self,
        keys: &dyn TenantKeys,
        tenant: &TenantId,
        id: &RecordId,
        transcript: &T,
    ) -> Result<(), StoreError> {
        let sealed = seal_json(keys, tenant, id, ObjectKind::Transcript, transcript)?;
        self.put(&ObjectKey::transcript(tenant, id.date(), id), sealed)
            .await
    }

    /// A stored transcript, authenticated and parsed.
    pub async fn read_transcript_json<T: serde::de::DeserializeOwned>(
        &self,
        keys: &dyn DataKeyResolver,
        tenant: &TenantId,
        id: &RecordId,
    ) -> Result<T, StoreError> {
        let object = self
            .get(&ObjectKey::transcript(tenant, id.date(), id))
            .await?;
        open_json(keys, tenant, id, ObjectKind::Transcript, &object)
    }

    /// The undecodable payloads kept beside a recording (FORMAT.md §10),
    /// whole and authenticated, or an error.
    pub async fn read_raw_payloads(
        &self,
        keys: &dyn DataKeyResolver,
        tenant: &TenantId,
        id: &RecordId,
    ) -> Result<Vec<u8>, StoreError> {
        let key = ObjectKey::raw_payloads(tenant, id.date(), id);
        self.read_whole(keys, tenant, &key, id, ObjectKind::RawPayloads)
            .await
    }

    /// One object's whole plaintext, released only once every chunk
    /// authenticated and the header says it is the `kind` of record `id`.
    async fn read_whole(
        &self,
        keys: &dyn DataKeyResolver,
        tenant: &TenantId,
        key: &ObjectKey,
        id: &RecordId,
        kind: ObjectKind,
    ) -> Result<Vec<u8>, StoreError> {
        let object = self.get(key).await?;
        let mut decryptor = ObjectDecryptor::new(keys, tenant.clone()).expecting(ObjectRef {
            kind,
            record_id: id.uuid(),
        });
        let plaintext = decryptor.push(&object)?.to_vec();
        decryptor.finish()?;
        Ok(plaintext)
    }

    /// Deletes a recording, its manifest and its subject markers. Markers
    /// go first and the recording last, so an interrupted deletion can be
    /// run again and leaves nothing that points to a missing recording.
    pub async fn delete_recording(
        &self,
        keys: &dyn TenantKeys,
        tenant: &TenantId,
        id: &RecordId,
    ) -> Result<(), StoreError> {
        for marker in self.markers_of(keys, tenant, id).await? {
            self.delete(&marker).await?;
        }
        self.delete(&ObjectKey::manifest(tenant, id.date(), id))
            .await?;
        self.delete(&ObjectKey::raw_payloads(tenant, id.date(), id))
            .await?;
        self.delete(&ObjectKey::recording(tenant, id.date(), id))
            .await
    }

    /// The subject markers of a record: from its manifest's numbers when it
    /// can be read, else by scanning the tenant's subject index (client-held
    /// keys, or a manifest already gone).
    pub async fn markers_of(
        &self,
        keys: &dyn TenantKeys,
        tenant: &TenantId,
        id: &RecordId,
    ) -> Result<Vec<ObjectKey>, StoreError> {
        if let Ok(manifest) = self.read_manifest(keys, tenant, id).await {
            let subjects = subjects_of(&keys.index_key(tenant)?, &manifest.call)?;
            return Ok(subjects
                .iter()
                .map(|subject| ObjectKey::subject_marker(tenant, subject, id))
                .collect());
        }
        let all = self.list(&ObjectKey::subjects_prefix(tenant)).await?;
        Ok(all
            .into_iter()
            .filter(|marker| record_id_of_marker(marker) == Some(*id))
            .collect())
    }
}

fn record_id_of_marker(marker: &ObjectKey) -> Option<RecordId> {
    marker.path().filename()?.parse().ok()
}

/// The record a listed `{record_id}.manifest.grf` key belongs to; `None`
/// for the day's other objects.
fn record_id_of_manifest(key: &ObjectKey) -> Option<RecordId> {
    key.path()
        .filename()?
        .strip_suffix(".manifest.grf")?
        .parse()
        .ok()
}

/// The record a call record key `{node}-{hh}-{record_id}.grf` names (a node
/// name holds no `-`, FORMAT.md §8).
fn record_id_of_cdr(key: &ObjectKey) -> Option<RecordId> {
    let name = key.path().filename()?.strip_suffix(".grf")?;
    let mut fields = name.splitn(3, '-');
    let (_node, _hour) = (fields.next()?, fields.next()?);
    fields.next()?.parse().ok()
}
