//! Data-subject requests (DPA 9): the client answers its data subjects, the
//! gateway gives it the tools. For one number in one tenant:
//! [`Ops::subject_export`] writes every recording, transcript, manifest and
//! call record where the number is a party, decrypted, into an
//! [`ExportDir`]; [`Ops::subject_erase`] deletes that number's recordings
//! and transcripts (with their manifests, raw payloads and index entries),
//! keeps call records their legal 365 days and what a hold protects, and
//! says what it kept and why.
//!
//! Finding a number's calls:
//! - a managed tenant: the subject index gives the recorded calls; the call
//!   records, written for every call (recorded or not) and not indexed, are
//!   read to find the others;
//! - a client-mode tenant has no subject index (the gateway must not be able
//!   to search its calls by number): the client's private key opens the
//!   tenant's manifests and call records, which are read to find the
//!   number. Without the key the request is refused.
//!
//! Every record found is checked against its decrypted manifest or call
//! record, so nothing of another number is exported or deleted. Audit
//! entries name the subject by a blind index (the tenant's, or for a
//! client-mode tenant one keyed by the client's private key), never the
//! number.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::{anyhow, bail, Context};
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use greffier_vault::audit::{Action, ObjectRef, Outcome};
use greffier_vault::catalog::{CallInfo, CdrRecord, Manifest, E164};
use greffier_vault::keys::DataKeyResolver;
use greffier_vault::store::{BlindIndex, ObjectKey, RecordId, StoreError};
use greffier_vault::{
    ClientPrivateKey, ClientReader, DataKey, Header, KeySlot, TenantId, VaultError,
};
use serde::Serialize;

use super::export::{ExportDir, ExportKind};
use super::retention::{classify, plan_deletion, Category, DeletedObject};
use super::{Actor, Operation, Ops};
use crate::config::CDR_RETENTION_DAYS;

/// Opens a tenant's objects for a subject request: managed key slots with
/// the keyring, client key slots with the client's private key (when
/// given), so a tenant that changed mode is read whole.
struct RequestKeys<'a> {
    keyring: &'a greffier_vault::Keyring,
    client: Option<ClientReader>,
    /// The subject as audit entries name it.
    subject: BlindIndex,
    /// Whether the tenant has a subject index (managed keys).
    indexed: bool,
}

impl DataKeyResolver for RequestKeys<'_> {
    fn data_key(&self, header: &Header) -> Result<DataKey, VaultError> {
        match (header.key_slot(), &self.client) {
            (KeySlot::Managed { .. }, _) => self.keyring.data_key(header),
            (_, Some(client)) => client.data_key(header),
            (_, None) => Err(VaultError::ClientKeyRequired {
                tenant: header.tenant().clone(),
            }),
        }
    }
}

/// The stored objects of one record of the tenant, by category.
#[derive(Debug, Default)]
struct RecordObjects {
    objects: BTreeMap<Category, Vec<ObjectKey>>,
    subjects: BTreeSet<String>,
}

impl RecordObjects {
    fn first(&self, category: Category) -> Option<&ObjectKey> {
        self.objects.get(&category).and_then(|keys| keys.first())
    }
}

/// One call of the subject, as found.
#[derive(Debug)]
pub struct SubjectRecord {
    pub id: RecordId,
    pub start: DateTime<Utc>,
    pub manifest: Option<Manifest>,
    pub call_record: Option<CdrRecord>,
    objects: RecordObjects,
}

impl SubjectRecord {
    fn has(&self, category: Category) -> bool {
        self.objects.first(category).is_some()
    }
}

/// Every call of one number in one tenant.
#[derive(Debug)]
pub struct SubjectFindings {
    /// The subject as audit entries name it.
    pub subject: BlindIndex,
    /// Oldest first.
    pub records: Vec<SubjectRecord>,
    /// Every key stored under the tenant when it was searched.
    keys: Vec<String>,
}

/// What `subject export` wrote.
#[derive(Debug, Serialize)]
pub struct SubjectExportSummary {
    pub tenant: String,
    pub records: usize,
    pub files: usize,
    pub manifest: String,
}

/// One line of `subject erase`'s report about something kept.
#[derive(Debug, Serialize)]
pub struct KeptObject {
    pub tenant: String,
    pub category: Category,
    pub record: String,
    pub key: String,
    pub reason: KeptReason,
    /// The holds that keep it (`legal_hold`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub holds: Vec<String>,
    /// The last day it is kept for this reason, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
}

/// Why an erasure kept an object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeptReason {
    /// Call records are kept 365 days after the call (CPCE L.34-1).
    CallRecordRetention,
    /// A legal hold protects the record (DPA 8.3, 9).
    LegalHold,
}

/// What `subject erase` did.
#[derive(Debug, Default, Serialize)]
pub struct SubjectEraseSummary {
    pub tenant: String,
    pub records: usize,
    pub deleted: usize,
    /// Gone before this erasure reached it.
    pub already_gone: usize,
    pub held_records: usize,
    pub call_records_kept: usize,
}

/// One line of `subject erase`'s report.
#[derive(Debug, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ErasureLine<'a> {
    Deleted(&'a DeletedObject),
    Kept(&'a KeptObject),
}

impl Ops {
    /// How a request on `tenant` reads its objects and names its subject:
    /// a managed tenant with the keyring and its subject index, a
    /// client-mode one only with the client's private key.
    fn request_keys(
        &self,
        tenant: &TenantId,
        number: &E164,
        client_key: Option<&ClientPrivateKey>,
    ) -> anyhow::Result<RequestKeys<'_>> {
        let index_key = self.keyring.subject_index_key(tenant)?;
        let (subject, client) = match (&index_key, client_key) {
            (Some(_), Some(_)) => bail!(
                "tenant {tenant} uses gateway-managed keys: --private-key is only for \
                 client-mode tenants"
            ),
            (None, None) => bail!(
                "tenant {tenant} keeps its own keys (client mode): the gateway cannot find \
                 a number's calls without the client's private key (--private-key FILE)"
            ),
            (Some(index_key), None) => (BlindIndex::of(index_key, number.expose())?, None),
            (None, Some(private_key)) => {
                let sender = self.keyring.sender_public_key()?.ok_or_else(|| {
                    anyhow!("the keyring has no sender key: no client-mode object was written")
                })?;
                (
                    BlindIndex::of(&private_key.subject_index_key()?, number.expose())?,
                    Some(ClientReader::new(private_key.clone(), vec![sender])),
                )
            }
        };
        Ok(RequestKeys {
            keyring: &self.keyring,
            client,
            subject,
            indexed: index_key.is_some(),
        })
    }

    /// Finds every call of `number` in the tenant `keys` open.
    async fn find_subject(
        &self,
        keys: &RequestKeys<'_>,
        tenant: &TenantId,
        number: &E164,
    ) -> anyhow::Result<SubjectFindings> {
        let subject = keys.subject.clone();
        let listed = self.store.list(&ObjectKey::tenant_prefix(tenant)).await?;
        let mut by_record: BTreeMap<RecordId, RecordObjects> = BTreeMap::new();
        for key in &listed {
            let Some((category, record, index)) = classify(key.path().as_ref()) else {
                continue;
            };
            let objects = by_record.entry(record).or_default();
            objects
                .objects
                .entry(category)
                .or_default()
                .push(key.clone());
            if let Some(index) = index {
                objects.subjects.insert(index.as_str().to_owned());
            }
        }

        let mut records = Vec::new();
        for (id, objects) in by_record {
            let indexed = keys.indexed && objects.subjects.contains(subject.as_str());
            // A managed tenant's recordings are found through the index; its
            // call records, and everything of a client-mode tenant, are read.
            let manifest = if indexed || !keys.indexed {
                self.open_manifest(keys, tenant, &id, &objects).await?
            } else {
                None
            };
            let call_record = match objects.first(Category::CallRecord) {
                Some(key) => open_or_skip(self.store.read_call_record(keys, tenant, key).await)
                    .with_context(|| format!("the call record of {id} cannot be read"))?,
                None => None,
            };
            let names = |call: &CallInfo| {
                [&call.caller, &call.callee]
                    .into_iter()
                    .flatten()
                    .any(|party| party == number)
            };
            let party = manifest.as_ref().is_some_and(|m| names(&m.call))
                || call_record.as_ref().is_some_and(|c| names(&c.call))
                // An index entry whose manifest and call record are both
                // gone still says whose the recording is.
                || (indexed && manifest.is_none() && call_record.is_none());
            if !party {
                continue;
            }
            // Found by its call record although it has a manifest (its index
            // entries were never written): the manifest goes with it.
            let manifest = match manifest {
                Some(manifest) => Some(manifest),
                None => self.open_manifest(keys, tenant, &id, &objects).await?,
            };
            let start = manifest
                .as_ref()
                .map(|m| m.call.start)
                .or(call_record.as_ref().map(|c| c.call.start))
                .unwrap_or_else(|| id.timestamp());
            records.push(SubjectRecord {
                id,
                start,
                manifest,
                call_record,
                objects,
            });
        }
        records.sort_by_key(|record| (record.start, record.id));
        Ok(SubjectFindings {
            subject,
            records,
            keys: listed
                .iter()
                .map(|key| key.path().as_ref().to_owned())
                .collect(),
        })
    }

    async fn open_manifest(
        &self,
        keys: &RequestKeys<'_>,
        tenant: &TenantId,
        id: &RecordId,
        objects: &RecordObjects,
    ) -> anyhow::Result<Option<Manifest>> {
        if objects.first(Category::Manifest).is_none() {
            return Ok(None);
        }
        open_or_skip(self.store.read_manifest(keys, tenant, id).await)
            .with_context(|| format!("the manifest of {id} cannot be read"))
    }

    /// Writes every call of `number` in `tenant` into `out` (ExportDir
    /// layout), decrypted, and audits it (`subject_export`, by blind index).
    pub async fn subject_export(
        &self,
        actor: &Actor,
        tenant: &TenantId,
        number: &E164,
        client_key: Option<&ClientPrivateKey>,
        out: &Path,
    ) -> anyhow::Result<SubjectExportSummary> {
        self.authorize(
            actor,
            Operation::SubjectExport,
            tenant,
            Action::SubjectExport,
        )
        .await?;
        let action = Action::SubjectExport;
        let keys = self
            .failed_request(actor, tenant, action, None, || {
                self.request_keys(tenant, number, client_key)
            })
            .await?;
        let subject = Some(&keys.subject);
        let mut export = self
            .failed_request(actor, tenant, action, subject, || {
                ExportDir::create(out, tenant, "subject_request")
            })
            .await?;
        let findings = self.find_subject(&keys, tenant, number).await;
        let findings = self
            .failed_request(actor, tenant, action, subject, || findings)
            .await?;
        let written = self
            .write_export(&keys, tenant, &findings, &mut export)
            .await;
        let mut objects = vec![ObjectRef::Subject(findings.subject.clone())];
        objects.extend(
            findings
                .records
                .iter()
                .map(|record| ObjectRef::Record(record.id)),
        );
        self.audit(
            actor,
            tenant,
            Action::SubjectExport,
            objects,
            Outcome::of(&written),
        )
        .await?;
        written?;
        let files = export.files().len();
        let manifest = export.finish(self.clock.now())?;
        Ok(SubjectExportSummary {
            tenant: tenant.as_str().to_owned(),
            records: findings.records.len(),
            files,
            manifest: manifest.display().to_string(),
        })
    }

    /// A request that fails before it is carried out is audited too
    /// (`failed`, with the subject when it is known: without the client's
    /// key a client-mode tenant's subject cannot be named).
    async fn failed_request<T>(
        &self,
        actor: &Actor,
        tenant: &TenantId,
        action: Action,
        subject: Option<&BlindIndex>,
        step: impl FnOnce() -> anyhow::Result<T>,
    ) -> anyhow::Result<T> {
        let result = step();
        if result.is_err() {
            let objects = subject.map(|subject| ObjectRef::Subject(subject.clone()));
            self.audit(actor, tenant, action, objects, Outcome::Failed)
                .await?;
        }
        result
    }

    async fn write_export(
        &self,
        keys: &RequestKeys<'_>,
        tenant: &TenantId,
        findings: &SubjectFindings,
        export: &mut ExportDir,
    ) -> anyhow::Result<()> {
        for record in &findings.records {
            let (id, start) = (&record.id, record.start);
            if record.has(Category::Recording) {
                let audio = self
                    .store
                    .read_recording(keys, tenant, id)
                    .await
                    .with_context(|| format!("recording {id} cannot be read"))?;
                export.write_recording(id, start, audio)?;
            }
            if let Some(manifest) = &record.manifest {
                export.write_json(ExportKind::Manifest, id, start, manifest)?;
            }
            if record.has(Category::RawPayloads) {
                let payloads = self
                    .store
                    .read_raw_payloads(keys, tenant, id)
                    .await
                    .with_context(|| format!("raw payloads of {id} cannot be read"))?;
                export.write_bytes(ExportKind::RawPayloads, id, start, &payloads)?;
            }
            if record.has(Category::Transcript) {
                let transcript = self
                    .store
                    .read_transcript(keys, tenant, id)
                    .await
                    .with_context(|| format!("transcript {id} cannot be read"))?;
                export.write_transcript(id, start, &transcript)?;
            }
            if let Some(call_record) = &record.call_record {
                export.write_json(ExportKind::CallRecord, id, start, call_record)?;
            }
        }
        Ok(())
    }

    /// Deletes the recordings and transcripts of `number` in `tenant` (with
    /// their manifests, raw payloads and index entries), except what a hold
    /// protects; call records stay their 365 days. `report` gets one line
    /// per object deleted or kept. Audited per record (`subject_erase`, by
    /// blind index), then once for the request.
    pub async fn subject_erase(
        &self,
        actor: &Actor,
        tenant: &TenantId,
        number: &E164,
        client_key: Option<&ClientPrivateKey>,
        mut report: impl FnMut(ErasureLine<'_>),
    ) -> anyhow::Result<SubjectEraseSummary> {
        self.authorize(actor, Operation::SubjectErase, tenant, Action::SubjectErase)
            .await?;
        let action = Action::SubjectErase;
        let keys = self
            .failed_request(actor, tenant, action, None, || {
                self.request_keys(tenant, number, client_key)
            })
            .await?;
        let subject = Some(&keys.subject);
        let findings = self.find_subject(&keys, tenant, number).await;
        let findings = self
            .failed_request(actor, tenant, action, subject, || findings)
            .await?;
        let now = self.clock.now();
        let holds = self.holds_of(tenant).await;
        let holds = self
            .failed_request(actor, tenant, action, subject, || holds)
            .await?;
        let found: BTreeSet<RecordId> = findings.records.iter().map(|r| r.id).collect();
        let plan = plan_deletion(&findings.keys, &holds, now, |category, record| {
            found.contains(record) && category != Category::CallRecord
        });
        let subject = ObjectRef::Subject(findings.subject.clone());
        let mut summary = SubjectEraseSummary {
            tenant: tenant.as_str().to_owned(),
            records: findings.records.len(),
            held_records: plan.held.len(),
            ..SubjectEraseSummary::default()
        };
        for record in &findings.records {
            let Some(holding) = plan.held.get(&record.id) else {
                continue;
            };
            for (category, keys) in &record.objects.objects {
                if *category == Category::CallRecord {
                    continue;
                }
                for key in keys {
                    report(ErasureLine::Kept(&KeptObject {
                        tenant: tenant.as_str().to_owned(),
                        category: *category,
                        record: record.id.to_string(),
                        key: key.to_string(),
                        reason: KeptReason::LegalHold,
                        holds: holding.iter().map(|hold| hold.to_string()).collect(),
                        until: None,
                    }));
                }
            }
        }
        let done = self
            .delete_planned(
                actor,
                tenant,
                Action::SubjectErase,
                std::slice::from_ref(&subject),
                &plan,
                false,
                |deleted| report(ErasureLine::Deleted(deleted)),
            )
            .await;
        let done = match done {
            Ok(done) => done,
            Err(error) => {
                self.audit(
                    actor,
                    tenant,
                    Action::SubjectErase,
                    [subject],
                    Outcome::Failed,
                )
                .await?;
                return Err(error);
            }
        };
        summary.deleted = done.deleted;
        summary.already_gone = done.already_gone;
        for record in &findings.records {
            let Some(key) = record.objects.first(Category::CallRecord) else {
                continue;
            };
            summary.call_records_kept += 1;
            let until = record.id.timestamp() + Duration::days(i64::from(CDR_RETENTION_DAYS));
            report(ErasureLine::Kept(&KeptObject {
                tenant: tenant.as_str().to_owned(),
                category: Category::CallRecord,
                record: record.id.to_string(),
                key: key.to_string(),
                reason: KeptReason::CallRecordRetention,
                holds: Vec::new(),
                until: Some(until.to_rfc3339_opts(SecondsFormat::Secs, true)),
            }));
        }
        self.audit(actor, tenant, Action::SubjectErase, [subject], Outcome::Ok)
            .await?;
        Ok(summary)
    }
}

/// A decrypted object, or `None` when it vanished meanwhile (deleted by a
/// sweep); any other failure (altered, wrong key) stops the request.
fn open_or_skip<T>(opened: Result<T, StoreError>) -> anyhow::Result<Option<T>> {
    match opened {
        Ok(value) => Ok(Some(value)),
        Err(StoreError::NotFound { .. }) => Ok(None),
        Err(error) => Err(error.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use greffier_vault::{decrypt_all, MasterKey, ObjectEncryptor, ObjectKind, ObjectParams};

    fn tenant(id: &str) -> TenantId {
        TenantId::new(id).unwrap()
    }

    fn sealed(keyring: &greffier_vault::Keyring, tenant_id: &str) -> Vec<u8> {
        let params = ObjectParams::new(
            tenant(tenant_id),
            greffier_vault::new_record_id(),
            ObjectKind::Manifest,
        );
        let key = keyring.sealing_key(&tenant(tenant_id)).unwrap();
        ObjectEncryptor::encrypt_all(params, &key, b"{}").unwrap()
    }

    /// A request reads managed objects with the keyring and client-sealed
    /// ones only with the client's private key; no other key opens them.
    #[test]
    fn client_sealed_objects_open_only_with_the_client_key() {
        let dir = tempfile::tempdir().unwrap();
        let master = MasterKey::parse(&[7u8; 32], "test").unwrap();
        let mut keyring =
            greffier_vault::Keyring::init(&dir.path().join("keyring.grk"), master).unwrap();
        let (client, public_key) = ClientPrivateKey::generate().unwrap();
        keyring.add_managed_tenant(&tenant("acme")).unwrap();
        keyring
            .add_client_tenant(&tenant("cust"), public_key)
            .unwrap();
        let sender = keyring.ensure_sender_key().unwrap();
        let managed = sealed(&keyring, "acme");
        let client_object = sealed(&keyring, "cust");

        let without = RequestKeys {
            keyring: &keyring,
            client: None,
            subject: BlindIndex::parse(&"ab".repeat(32)).unwrap(),
            indexed: true,
        };
        assert_eq!(
            decrypt_all(&without, tenant("acme"), &managed).unwrap(),
            b"{}"
        );
        assert!(matches!(
            decrypt_all(&without, tenant("cust"), &client_object),
            Err(VaultError::ClientKeyRequired { .. })
        ));
        let (stranger, _) = ClientPrivateKey::generate().unwrap();
        let wrong = RequestKeys {
            client: Some(ClientReader::new(stranger, vec![sender])),
            ..without
        };
        assert!(decrypt_all(&wrong, tenant("cust"), &client_object).is_err());
        let with = RequestKeys {
            client: Some(ClientReader::new(client, vec![sender])),
            ..wrong
        };
        assert_eq!(
            decrypt_all(&with, tenant("cust"), &client_object).unwrap(),
            b"{}"
        );
        assert_eq!(decrypt_all(&with, tenant("acme"), &managed).unwrap(), b"{}");
    }

    #[test]
    fn erasure_lines_say_what_happened_and_why() {
        let kept = KeptObject {
            tenant: "acme".to_owned(),
            category: Category::CallRecord,
            record: "r".to_owned(),
            key: "k".to_owned(),
            reason: KeptReason::CallRecordRetention,
            holds: Vec::new(),
            until: Some("2027-12-04T10:15:02Z".to_owned()),
        };
        let line = serde_json::to_value(ErasureLine::Kept(&kept)).unwrap();
        assert_eq!(line["outcome"], "kept");
        assert_eq!(line["reason"], "call_record_retention");
        assert_eq!(line["category"], "call_record");
        assert!(line.get("holds").is_none());
        let deleted = DeletedObject {
            tenant: "acme".to_owned(),
            category: Category::Recording,
            record: "r".to_owned(),
            key: "k".to_owned(),
            deleted: true,
        };
        let line = serde_json::to_value(ErasureLine::Deleted(&deleted)).unwrap();
        assert_eq!(line["outcome"], "deleted");
        assert_eq!(line["category"], "recording");
    }
}
