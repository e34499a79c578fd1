//! Termination (DPA 8.3): at the end of the contract a tenant's data is
//! given back (`--return DIR`, in open formats) or not (`--delete`), then
//! every recording, transcript, manifest, raw payload and subject index
//! entry is deleted, and the tenant's keys are shredded. Call records stay
//! until their 365 days (CPCE L.34-1); once the keys are gone they can no
//! longer be read by anyone, and a run after their 365 days removes them.
//! Audit entries stay: they are the processor's proof.
//!
//! The run goes through phases, each recorded in the store object
//! `tenants/{tenant}/termination.json` before the next starts, and each
//! step can be done twice without harm, so a run that stopped (killed, a
//! store that failed, a legal hold) is finished by running it again:
//!
//! 1. `started`: the keyring marks the tenant terminating (nothing new is
//!    sealed for it; the gateway refuses its calls), the marker is written;
//! 2. `returned`: with `--return`, every object is decrypted into the
//!    directory, whose `manifest.json` (written last) holds each file's
//!    SHA-256; the marker keeps the manifest's own SHA-256;
//! 3. `deleted`: every object but call records is deleted, through the
//!    deletion every erasure uses (index entries first, the recording last);
//! 4. `shredded`: the keys are destroyed (through [`Ops::shred_keys`], the
//!    one path that shreds).
//!
//! A legal hold (DPA 8.3, 9) keeps what it protects, and since shredding
//! the keys would destroy held data as surely as deleting it, the run
//! stops before shredding and says so: everything not held is returned
//! and deleted on the day the contract ends, held data stays readable for
//! the authority, and the run is finished once the hold is released.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context};
use bytes::Bytes;
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use greffier_vault::audit::{Action, ObjectRef, Outcome};
use greffier_vault::catalog::CdrRecord;
use greffier_vault::store::{ObjectKey, RecordId};
use greffier_vault::{Sealing, TenantId, TenantStatus, Uuid};
use object_store::ObjectStoreExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::export::{ExportDir, ExportKind};
use super::retention::{classify, plan_deletion, Category, DeletedObject};
use super::{Actor, Operation, Ops};
use crate::config::CDR_RETENTION_DAYS;

/// What happens to the tenant's data before it is deleted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TerminationMode {
    /// Written decrypted, in open formats, into this directory first.
    Return(PathBuf),
    /// Deleted without a copy (the client declined one, or has it already).
    Delete,
}

impl TerminationMode {
    fn name(&self) -> &'static str {
        match self {
            TerminationMode::Return(_) => "return",
            TerminationMode::Delete => "delete",
        }
    }
}

/// How far a termination went; each phase is done when it is recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Started,
    Returned,
    Deleted,
    Shredded,
}

/// The stored record of a termination (`tenants/{tenant}/termination.json`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TerminationMarker {
    pub v: u32,
    pub tenant: String,
    /// `return` or `delete`.
    pub mode: String,
    pub phase: Phase,
    pub started: String,
    pub updated: String,
    /// SHA-256 of the returned `manifest.json`, once returned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub returned_manifest_sha256: Option<String>,
    /// Records a legal hold kept at the last run (the keys wait for them).
    #[serde(default)]
    pub held_records: usize,
}

/// What one run of a termination did.
#[derive(Debug, Default, Serialize)]
pub struct TerminationSummary {
    pub tenant: String,
    pub mode: String,
    pub phase: Option<Phase>,
    /// Files written into the return directory by this run.
    pub returned_files: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub returned_manifest: Option<String>,
    pub deleted: usize,
    pub already_gone: usize,
    /// Records a hold keeps, and the holds: the keys are not shredded.
    pub held_records: usize,
    pub holds: Vec<String>,
    pub call_records_kept: usize,
    pub keys_shredded: bool,
    /// The termination is over (keys shredded).
    pub finished: bool,
}

/// What shredding a tenant's keys destroyed.
#[derive(Debug)]
pub struct ShredReport {
    /// The tenant's status before: `None` when it was already shredded.
    pub before: Option<TenantStatus>,
}

impl Ops {
    /// Crypto-shredding, the one path that destroys a tenant's keys (for
    /// `keys shred` and for a termination): every KEK version and the blind
    /// index key, audited with the versions destroyed.
    pub async fn shred_keys(
        &mut self,
        actor: &Actor,
        tenant: &TenantId,
    ) -> anyhow::Result<ShredReport> {
        self.authorize(actor, Operation::ShredKeys, tenant, Action::KeyShredded)
            .await?;
        self.keyring.reload()?;
        let before = self
            .keyring
            .tenants()
            .into_iter()
            .find_map(|(known, status)| (known == *tenant).then_some(status));
        let shredded = self.keyring.shred(tenant);
        let versions = match &before {
            Some(
                TenantStatus::Active { kek_versions, .. }
                | TenantStatus::Terminating { kek_versions, .. },
            ) => kek_versions.clone(),
            _ => Vec::new(),
        };
        self.audit(
            actor,
            tenant,
            Action::KeyShredded,
            versions.into_iter().map(ObjectRef::KeyVersion),
            Outcome::of(&shredded),
        )
        .await?;
        shredded?;
        Ok(ShredReport {
            before: before.filter(|status| *status != TenantStatus::Shredded),
        })
    }

    /// Terminates `tenant` (see the module's documentation), or goes on
    /// with a termination that stopped. `report` gets each object deleted.
    pub async fn terminate(
        &mut self,
        actor: &Actor,
        tenant: &TenantId,
        mode: &TerminationMode,
        mut report: impl FnMut(&DeletedObject),
    ) -> anyhow::Result<TerminationSummary> {
        self.authorize(
            actor,
            Operation::TerminateTenant,
            tenant,
            Action::Terminated,
        )
        .await?;
        let now = self.clock.now();
        let mut marker = match self.termination_marker(tenant).await? {
            Some(marker) => {
                if marker.mode != mode.name() && marker.phase < Phase::Returned {
                    bail!(
                        "the termination of tenant {tenant} was started with --{}; run it \
                         again with --{} (nothing was changed)",
                        marker.mode,
                        marker.mode
                    );
                }
                marker
            }
            None => {
                if self.status_of(tenant) == Some(TenantStatus::Shredded)
                    && matches!(mode, TerminationMode::Return(_))
                {
                    bail!(
                        "the keys of tenant {tenant} were shredded before any termination: \
                         its data can no longer be returned; --delete removes what is left \
                         (nothing was changed)"
                    );
                }
                TerminationMarker {
                    v: 1,
                    tenant: tenant.as_str().to_owned(),
                    mode: mode.name().to_owned(),
                    phase: Phase::Started,
                    started: rfc3339(now),
                    updated: rfc3339(now),
                    returned_manifest_sha256: None,
                    held_records: 0,
                }
            }
        };
        let client_sealed = matches!(
            self.status_of(tenant),
            Some(
                TenantStatus::Active {
                    sealing: Sealing::Client { .. },
                    ..
                } | TenantStatus::Terminating {
                    sealing: Sealing::Client { .. },
                    ..
                }
            )
        );
        if client_sealed
            && marker.phase < Phase::Returned
            && matches!(mode, TerminationMode::Return(_))
        {
            bail!(
                "tenant {tenant} keeps its own keys (client mode): the gateway cannot decrypt \
                 its objects to return them; the client decrypts its objects with \
                 `greffier decrypt`. Use --delete once it has them (nothing was changed)"
            );
        }
        let mut summary = TerminationSummary {
            tenant: tenant.as_str().to_owned(),
            mode: marker.mode.clone(),
            ..TerminationSummary::default()
        };

        // 1. Nothing new is sealed for the tenant from here on.
        if marker.phase < Phase::Shredded {
            self.keyring.begin_termination(tenant)?;
        }
        let phase = marker.phase;
        self.write_marker(tenant, &mut marker, phase).await?;

        // 2. The return.
        if marker.phase < Phase::Returned {
            if let TerminationMode::Return(dir) = mode {
                let (files, manifest) = self.return_all(actor, tenant, dir).await?;
                summary.returned_files = files;
                marker.returned_manifest_sha256 = Some(manifest.1);
                summary.returned_manifest = Some(manifest.0.display().to_string());
            }
            self.write_marker(tenant, &mut marker, Phase::Returned)
                .await?;
        }

        // 3. Every object but call records goes, except what a hold keeps.
        // Done on every run: a call in progress when the termination began
        // may have stored its recording since.
        let holds = self.holds_of(tenant).await?;
        let keys = self.tenant_keys(tenant).await?;
        // Call records go once their 365 days are over: a run after that
        // date (the tenant file may be gone, the sweeper no longer sees the
        // tenant) removes them.
        let keep = |category: Category, record: &RecordId| kept(category, record, now);
        let plan = plan_deletion(&keys, &holds, now, |category, record| {
            !keep(category, record)
        });
        summary.call_records_kept = keys
            .iter()
            .filter_map(|key| classify(key))
            .filter(|(category, record, _)| keep(*category, record))
            .count();
        let done = self
            .delete_planned(
                actor,
                tenant,
                Action::Terminated,
                &[],
                &plan,
                false,
                &mut report,
            )
            .await?;
        summary.deleted = done.deleted;
        summary.already_gone = done.already_gone;
        summary.held_records = plan.held.len();
        let mut holding: Vec<Uuid> = plan.held.values().flatten().copied().collect();
        holding.sort();
        holding.dedup();
        summary.holds = holding.iter().map(|hold| hold.to_string()).collect();
        marker.held_records = plan.held.len();
        if !plan.held.is_empty() {
            // Shredding would destroy held data: the keys wait for the holds.
            let phase = marker.phase;
            self.write_marker(tenant, &mut marker, phase).await?;
            summary.phase = Some(marker.phase);
            return Ok(summary);
        }
        if marker.phase < Phase::Deleted {
            self.write_marker(tenant, &mut marker, Phase::Deleted)
                .await?;
        }

        // 4. The keys.
        if marker.phase < Phase::Shredded {
            let shredded = self.shred_keys(actor, tenant).await?;
            summary.keys_shredded = shredded.before.is_some();
            self.write_marker(tenant, &mut marker, Phase::Shredded)
                .await?;
        }
        summary.phase = Some(marker.phase);
        summary.finished = true;
        Ok(summary)
    }

    /// The tenant's termination record, if one was started.
    pub async fn termination_marker(
        &self,
        tenant: &TenantId,
    ) -> anyhow::Result<Option<TerminationMarker>> {
        let key = ObjectKey::termination(tenant);
        let path = object_store::path::Path::from(key.path().as_ref());
        let bytes = match self.store.object_store().get(&path).await {
            Ok(result) => result
                .bytes()
                .await
                .with_context(|| format!("reading {key}"))?,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(error) => return Err(anyhow!("reading {key}: {error}")),
        };
        let marker: TerminationMarker = serde_json::from_slice(&bytes)
            .with_context(|| format!("{key} is not a termination record"))?;
        if marker.v != 1 || marker.tenant != tenant.as_str() {
            bail!("{key} is not a termination record of tenant {tenant}");
        }
        Ok(Some(marker))
    }

    /// Records that `phase` is done (written over the previous record).
    async fn write_marker(
        &self,
        tenant: &TenantId,
        marker: &mut TerminationMarker,
        phase: Phase,
    ) -> anyhow::Result<()> {
        marker.phase = phase;
        marker.updated = rfc3339(Utc::now());
        let json = serde_json::to_vec_pretty(marker).context("the termination record")?;
        let key = ObjectKey::termination(tenant);
        let path = object_store::path::Path::from(key.path().as_ref());
        self.store
            .object_store()
            .put(&path, Bytes::from(json).into())
            .await
            .map(drop)
            .map_err(|error| anyhow!("writing {key}: {error}"))
    }

    fn status_of(&self, tenant: &TenantId) -> Option<TenantStatus> {
        self.keyring
            .tenants()
            .into_iter()
            .find_map(|(known, status)| (known == *tenant).then_some(status))
    }

    /// Writes every object of the tenant, decrypted, into `dir`; returns
    /// the number of files and `manifest.json` with its SHA-256. Audited
    /// once (`exported`, every record). A directory holding a complete
    /// return of this tenant (a run that stopped after writing it) counts
    /// as the return; one holding an incomplete one (no `manifest.json`)
    /// is written again.
    async fn return_all(
        &self,
        actor: &Actor,
        tenant: &TenantId,
        dir: &Path,
    ) -> anyhow::Result<(usize, (PathBuf, String))> {
        if let Some(done) = completed_return(dir, tenant)? {
            return Ok((0, done));
        }
        clear_incomplete_return(dir)?;
        let mut export = ExportDir::create(dir, tenant, "termination")?;
        let keys = self.store.list(&ObjectKey::tenant_prefix(tenant)).await?;
        let mut records: Vec<RecordId> = keys
            .iter()
            .filter_map(|key| classify(key.path().as_ref()).map(|(_, record, _)| record))
            .collect();
        records.sort();
        records.dedup();
        let written = self.write_return(tenant, &keys, &mut export).await;
        self.audit(
            actor,
            tenant,
            Action::Exported,
            records.iter().map(|record| ObjectRef::Record(*record)),
            Outcome::of(&written),
        )
        .await?;
        written?;
        let files = export.files().len();
        let manifest = export.finish(self.clock.now())?;
        let sha256 = file_sha256(&manifest)?;
        Ok((files, (manifest, sha256)))
    }

    async fn write_return(
        &self,
        tenant: &TenantId,
        keys: &[ObjectKey],
        export: &mut ExportDir,
    ) -> anyhow::Result<()> {
        let mut objects: Vec<(RecordId, Category, &ObjectKey)> = keys
            .iter()
            .filter_map(|key| {
                classify(key.path().as_ref()).map(|(category, record, _)| (record, category, key))
            })
            .filter(|(_, category, _)| *category != Category::SubjectIndex)
            .collect();
        objects.sort_by_key(|(record, category, _)| (*record, *category));
        let keyring = &self.keyring;
        for (id, category, key) in objects {
            let start = id.timestamp();
            let context =
                || format!("{category:?} of record {id} cannot be read; nothing was deleted");
            match category {
                Category::Recording => {
                    let audio = self
                        .store
                        .read_recording(keyring, tenant, &id)
                        .await
                        .with_context(context)?;
                    export.write_recording(&id, start, audio)?;
                }
                Category::Manifest => {
                    let manifest = self
                        .store
                        .read_manifest(keyring, tenant, &id)
                        .await
                        .with_context(context)?;
                    export.write_json(ExportKind::Manifest, &id, start, &manifest)?;
                }
                Category::RawPayloads => {
                    let payloads = self
                        .store
                        .read_raw_payloads(keyring, tenant, &id)
                        .await
                        .with_context(context)?;
                    export.write_bytes(ExportKind::RawPayloads, &id, start, &payloads)?;
                }
                Category::Transcript => {
                    let transcript = self
                        .store
                        .read_transcript(keyring, tenant, &id)
                        .await
                        .with_context(context)?;
                    export.write_transcript(&id, start, &transcript)?;
                }
                Category::CallRecord => {
                    let record: CdrRecord = self
                        .store
                        .read_call_record(keyring, tenant, key)
                        .await
                        .with_context(context)?;
                    export.write_json(ExportKind::CallRecord, &id, record.call.start, &record)?;
                }
                // Index entries name no content; a job holds none.
                Category::SubjectIndex | Category::TranscriptionJob => {}
            }
        }
        Ok(())
    }
}

/// What a termination keeps: call records, until their 365 days are over.
fn kept(category: Category, record: &RecordId, now: DateTime<Utc>) -> bool {
    category == Category::CallRecord
        && now < record.timestamp() + Duration::days(i64::from(CDR_RETENTION_DAYS))
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn file_sha256(path: &Path) -> anyhow::Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(hex::encode(Sha256::digest(bytes)))
}

/// `dir/manifest.json` and its SHA-256 when `dir` holds a complete return
/// of `tenant`.
fn completed_return(dir: &Path, tenant: &TenantId) -> anyhow::Result<Option<(PathBuf, String)>> {
    let manifest = dir.join("manifest.json");
    let Ok(bytes) = std::fs::read(&manifest) else {
        return Ok(None);
    };
    let json: serde_json::Value = serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not an export manifest", manifest.display()))?;
    if json["tenant"] != tenant.as_str() || json["purpose"] != "termination" {
        bail!(
            "{} holds another export (not the termination of tenant {tenant}); \
             give a new or empty directory (nothing was changed)",
            dir.display()
        );
    }
    Ok(Some((manifest, hex::encode(Sha256::digest(&bytes)))))
}

/// The directories an export writes, in an export that never got its
/// `manifest.json` (the run stopped while writing it), are removed so the
/// return is written again whole. Anything else in `dir` is left alone,
/// and the export then refuses the directory.
fn clear_incomplete_return(dir: &Path) -> anyhow::Result<()> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    let names: Vec<_> = entries
        .flatten()
        .map(|entry| (entry.file_name(), entry.path()))
        .collect();
    let ours = ["recordings", "transcripts", "call-records"];
    if names.is_empty()
        || !names
            .iter()
            .all(|(name, path)| path.is_dir() && ours.iter().any(|ours| name == *ours))
    {
        return Ok(());
    }
    for (_, path) in names {
        std::fs::remove_dir_all(&path)
            .with_context(|| format!("cannot remove the incomplete {}", path.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_are_ordered_and_the_marker_reads_back() {
        assert!(Phase::Started < Phase::Returned);
        assert!(Phase::Returned < Phase::Deleted);
        assert!(Phase::Deleted < Phase::Shredded);
        let marker = TerminationMarker {
            v: 1,
            tenant: "acme".into(),
            mode: "return".into(),
            phase: Phase::Returned,
            started: "2026-03-01T08:00:00.000Z".into(),
            updated: "2026-03-01T08:01:00.000Z".into(),
            returned_manifest_sha256: Some("00".repeat(32)),
            held_records: 0,
        };
        let json = serde_json::to_string(&marker).unwrap();
        assert!(json.contains("\"phase\":\"returned\""), "{json}");
        assert_eq!(
            serde_json::from_str::<TerminationMarker>(&json).unwrap(),
            marker
        );
    }

    #[test]
    fn only_call_records_are_kept_and_only_for_their_365_days() {
        let record = RecordId::generate();
        let start = record.timestamp();
        let day = |days: i64| start + Duration::days(days);
        assert!(kept(Category::CallRecord, &record, day(0)));
        assert!(kept(
            Category::CallRecord,
            &record,
            day(365) - Duration::seconds(1)
        ));
        assert!(!kept(Category::CallRecord, &record, day(365)));
        for category in [
            Category::SubjectIndex,
            Category::TranscriptionJob,
            Category::RawPayloads,
            Category::Manifest,
            Category::Recording,
            Category::Transcript,
        ] {
            assert!(!kept(category, &record, day(0)), "{category:?}");
        }
    }

    #[test]
    fn an_incomplete_return_is_cleared_but_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("recordings")).unwrap();
        std::fs::write(dir.path().join("recordings/x.wav"), b"x").unwrap();
        clear_incomplete_return(dir.path()).unwrap();
        assert!(!dir.path().join("recordings").exists());

        let other = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(other.path().join("recordings")).unwrap();
        std::fs::write(other.path().join("notes.txt"), b"mine").unwrap();
        clear_incomplete_return(other.path()).unwrap();
        assert!(other.path().join("recordings").exists());
        assert!(other.path().join("notes.txt").exists());
    }

    #[test]
    fn a_directory_with_another_export_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let tenant = TenantId::new("acme").unwrap();
        std::fs::write(
            dir.path().join("manifest.json"),
            br#"{"tenant":"acme","purpose":"subject_request","files":[]}"#,
        )
        .unwrap();
        assert!(completed_return(dir.path(), &tenant).is_err());
        std::fs::write(
            dir.path().join("manifest.json"),
            br#"{"tenant":"acme","purpose":"termination","files":[]}"#,
        )
        .unwrap();
        assert!(completed_return(dir.path(), &tenant).unwrap().is_some());
        let empty = tempfile::tempdir().unwrap();
        assert!(completed_return(empty.path(), &tenant).unwrap().is_none());
    }
}
