//! The retention sweeper (DPA Appendix A): per tenant and category, deletes
//! what has expired, except what a legal hold protects.
//!
//! [`plan`] is the sans-IO core: given the keys a listing of the tenant
//! returned, the tenant's retention, its holds and the date, it says what
//! goes. [`Ops::sweep`] lists, plans, deletes and audits.
//!
//! Every deletion of a set of objects (the sweep, a data subject's erasure,
//! a termination) is planned by [`plan_deletion`] and carried out by
//! [`Ops::delete_planned`], so the order and the handling of holds below
//! hold for all of them.
//!
//! Order and concurrency:
//! - within a record, subject index entries are deleted first, then raw
//!   payloads and the manifest, the recording last. A sweep that stops
//!   midway leaves the recording (or its manifest) behind, never an index
//!   entry pointing to nothing, and the next sweep lists what is left and
//!   finishes;
//! - a deletion counts for the sweep that removed the object: the store
//!   answers "not found" to every other sweep deleting it at the same time
//!   (on a local directory, `unlink` succeeds once), which then reports
//!   nothing and succeeds. S3 answers a DELETE of a missing key with success,
//!   so two sweeps of one S3 bucket at the same instant may both report the
//!   same object; the object is deleted once either way.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Context;
use chrono::{DateTime, Duration, Utc};
use greffier_vault::audit::{Action, ObjectRef, Outcome};
use greffier_vault::store::{BlindIndex, JobObject, ObjectKey, RecordId};
use greffier_vault::TenantId;
use object_store::ObjectStoreExt;
use serde::Serialize;

use super::holds::{Hold, HoldTarget};
use super::{Actor, Operation, Ops};
use crate::config::{Limits, Retention, CDR_RETENTION_DAYS};

/// How long each category is kept, in days, after the call started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetentionDays {
    pub recordings: u32,
    pub transcripts: u32,
    pub call_records: u32,
}

impl RetentionDays {
    /// The tenant's choice, bounded by the operator's limits; call records
    /// keep their legal 365 days (CPCE L.34-1) whatever the files say.
    pub fn of(retention: &Retention, limits: &Limits) -> Self {
        RetentionDays {
            recordings: retention.recordings_days.min(limits.max_recordings_days),
            transcripts: retention.transcripts_days.min(limits.max_transcripts_days),
            call_records: CDR_RETENTION_DAYS,
        }
    }
}

/// The kind of a stored object, as the sweeper sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    // Declared in deletion order within a record.
    SubjectIndex,
    /// A transcription job's state and leases: no personal data, but it
    /// goes before the recording, so that no job is left to retry for a
    /// record that is gone.
    TranscriptionJob,
    RawPayloads,
    Manifest,
    Recording,
    Transcript,
    CallRecord,
}

/// One object a deletion removes (the sweeper's, a subject's erasure, a
/// termination's).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedDeletion {
    pub key: String,
    pub category: Category,
    pub record: RecordId,
}

/// What one deletion of a tenant's objects does.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct DeletionPlan {
    /// In deletion order: within a record, index entries first and the
    /// recording last.
    pub delete: Vec<PlannedDeletion>,
    /// Records whose selected objects a hold keeps, with the holds.
    pub held: BTreeMap<RecordId, Vec<uuid::Uuid>>,
}

/// Classifies a key of `tenants/{tenant}/…` (FORMAT.md §8); `None` for keys
/// the sweeper never deletes (holds, anything unknown).
pub fn classify(key: &str) -> Option<(Category, RecordId, Option<BlindIndex>)> {
    let parts: Vec<&str> = key.split('/').collect();
    match parts.as_slice() {
        ["tenants", _, "subjects", index, id] => Some((
            Category::SubjectIndex,
            id.parse().ok()?,
            Some(BlindIndex::parse(index).ok()?),
        )),
        // A job in progress and its leases, or a finished job's last state.
        ["tenants", _, "jobs", name] | ["tenants", _, "jobs", "finished", name] => {
            let (record, _) = JobObject::parse_name(name)?;
            Some((Category::TranscriptionJob, record, None))
        }
        ["tenants", _, category, _, _, _, name] => {
            let stem = name.strip_suffix(".grf")?;
            let (category, id) = match *category {
                "recordings" => {
                    if let Some(id) = stem.strip_suffix(".manifest") {
                        (Category::Manifest, id)
                    } else if let Some(id) = stem.strip_suffix(".rtp") {
                        (Category::RawPayloads, id)
                    } else {
                        (Category::Recording, stem)
                    }
                }
                "transcripts" => (Category::Transcript, stem),
                // `{node}-{hh}-{record_id}`: the id is the last 36 characters.
                "cdr" => (
                    Category::CallRecord,
                    stem.get(stem.len().checked_sub(36)?..)?,
                ),
                _ => return None,
            };
            Some((category, id.parse().ok()?, None))
        }
        _ => None,
    }
}

/// Whether an object of `category` of a call that started at `start` has
/// expired at `now`: kept `days` full days, gone from then on.
fn expired(
    category: Category,
    start: DateTime<Utc>,
    days: &RetentionDays,
    now: DateTime<Utc>,
) -> bool {
    let days = match category {
        Category::SubjectIndex
        | Category::TranscriptionJob
        | Category::RawPayloads
        | Category::Manifest
        | Category::Recording => days.recordings,
        Category::Transcript => days.transcripts,
        Category::CallRecord => days.call_records,
    };
    now >= start + Duration::days(i64::from(days))
}

/// The sans-IO sweep of one tenant: `keys` is what listing the tenant gave.
pub fn plan(
    keys: &[String],
    days: &RetentionDays,
    holds: &[Hold],
    now: DateTime<Utc>,
) -> DeletionPlan {
    plan_deletion(keys, holds, now, |category, record| {
        expired(category, record.timestamp(), days, now)
    })
}

/// The sans-IO core of every deletion: of the objects `keys` names, those
/// `select` picks go, unless a hold in force at `now` protects their record
/// (a hold on a number protects every record the subject index links to it).
/// Keys the layout does not know (holds, anything else) are never picked.
pub fn plan_deletion(
    keys: &[String],
    holds: &[Hold],
    now: DateTime<Utc>,
    select: impl Fn(Category, &RecordId) -> bool,
) -> DeletionPlan {
    let active: Vec<&Hold> = holds.iter().filter(|hold| hold.active(now)).collect();
    let classified: Vec<(&String, Category, RecordId, Option<BlindIndex>)> = keys
        .iter()
        .filter_map(|key| classify(key).map(|(c, r, s)| (key, c, r, s)))
        .collect();
    let mut subjects_of: BTreeMap<RecordId, BTreeSet<String>> = BTreeMap::new();
    for (_, _, record, subject) in &classified {
        if let Some(subject) = subject {
            subjects_of
                .entry(*record)
                .or_default()
                .insert(subject.as_str().to_owned());
        }
    }
    let holds_on = |record: &RecordId| -> Vec<uuid::Uuid> {
        active
            .iter()
            .filter(|hold| match &hold.target {
                HoldTarget::Tenant => true,
                HoldTarget::Record(id) => id == record,
                HoldTarget::Subject(index) => subjects_of
                    .get(record)
                    .is_some_and(|set| set.contains(index.as_str())),
            })
            .map(|hold| hold.id)
            .collect()
    };
    let mut result = DeletionPlan::default();
    let mut delete: Vec<PlannedDeletion> = Vec::new();
    for (key, category, record, _) in classified {
        if !select(category, &record) {
            continue;
        }
        let holding = holds_on(&record);
        if !holding.is_empty() {
            result.held.insert(record, holding);
            continue;
        }
        delete.push(PlannedDeletion {
            key: key.clone(),
            category,
            record,
        });
    }
    delete.sort_by(|a, b| (a.record, a.category, &a.key).cmp(&(b.record, b.category, &b.key)));
    result.delete = delete;
    result
}

/// One object a deletion removed (or, in a dry run, would remove): one
/// line of the report.
#[derive(Debug, Serialize)]
pub struct DeletedObject {
    pub tenant: String,
    pub category: Category,
    pub record: String,
    pub key: String,
    /// `false` for a dry run: it would be deleted.
    pub deleted: bool,
}

/// What one [`Ops::delete_planned`] did.
#[derive(Debug, Default)]
pub struct DeletionDone {
    pub deleted: usize,
    /// Gone before this deletion reached it (another one deleted it).
    pub already_gone: usize,
    /// Records with at least one object deleted by this run, in order.
    pub records: Vec<RecordId>,
}

/// What one sweep did, for every tenant.
#[derive(Debug, Default, Serialize)]
pub struct SweepSummary {
    pub tenants: usize,
    pub deleted: usize,
    /// Gone before this sweep reached it (another sweep deleted it).
    pub already_gone: usize,
    pub held_records: usize,
    pub dry_run: bool,
}

impl Ops {
    /// Sweeps `tenants` (every configured tenant when empty) at the clock's
    /// date; `report` gets each object deleted (or that would be).
    pub async fn sweep(
        &self,
        actor: &Actor,
        only: Option<&TenantId>,
        dry_run: bool,
        mut report: impl FnMut(&DeletedObject),
    ) -> anyhow::Result<SweepSummary> {
        let now = self.clock.now();
        let mut summary = SweepSummary {
            dry_run,
            ..SweepSummary::default()
        };
        // A tenant's own setting may keep data longer than its file says:
        // an unreadable settings file stops the sweep rather than guess.
        let settings = self
            .settings()
            .context("the tenant settings file; nothing was swept")?;
        for tenant in self.config.tenants() {
            let id = crate::vault_setup::tenant_id(&tenant.id)?;
            if only.is_some_and(|only| *only != id) {
                continue;
            }
            self.authorize(actor, Operation::SweepRetention, &id, Action::Swept)
                .await?;
            summary.tenants += 1;
            let retention =
                super::settings::effective_retention(&self.config, &settings, tenant.id.as_str())
                    .unwrap_or(tenant.retention);
            let days = RetentionDays::of(&retention, &self.config.limits);
            let holds = self.holds_of(&id).await?;
            let keys = self.tenant_keys(&id).await?;
            let plan = plan(&keys, &days, &holds, now);
            summary.held_records += plan.held.len();
            let done = self
                .delete_planned(actor, &id, Action::Swept, &[], &plan, dry_run, &mut report)
                .await?;
            summary.deleted += done.deleted;
            summary.already_gone += done.already_gone;
        }
        Ok(summary)
    }

    /// Every key stored under the tenant, as `/`-separated text.
    pub(crate) async fn tenant_keys(&self, tenant: &TenantId) -> anyhow::Result<Vec<String>> {
        Ok(self
            .store
            .list(&ObjectKey::tenant_prefix(tenant))
            .await?
            .iter()
            .map(|key| key.path().as_ref().to_owned())
            .collect())
    }

    /// Deletes what `plan` names, in its order, and audits it: one `action`
    /// entry per record deleted, one `held` entry per record a hold kept,
    /// each with `context` (the subject of an erasure) among its objects.
    /// The sweeper, a subject's erasure and a termination all delete
    /// through here, so the order that never leaves a dangling index entry
    /// holds for each. An object already gone counts for whoever deleted
    /// it; an interrupted run is finished by running it again. A dry run
    /// reports and audits nothing but what `report` gets.
    #[allow(clippy::too_many_arguments)]
    pub async fn delete_planned(
        &self,
        actor: &Actor,
        tenant: &TenantId,
        action: Action,
        context: &[ObjectRef],
        plan: &DeletionPlan,
        dry_run: bool,
        mut report: impl FnMut(&DeletedObject),
    ) -> anyhow::Result<DeletionDone> {
        let with_context = |mut objects: Vec<ObjectRef>| {
            objects.extend(context.iter().cloned());
            objects
        };
        if !dry_run {
            for (record, holding) in &plan.held {
                let mut objects = vec![ObjectRef::Record(*record)];
                objects.extend(holding.iter().map(|hold| ObjectRef::Hold(*hold)));
                self.audit(actor, tenant, action, with_context(objects), Outcome::Held)
                    .await?;
            }
        }
        let mut done = DeletionDone::default();
        let mut failure = None;
        for planned in &plan.delete {
            if !dry_run {
                let path = object_store::path::Path::from(planned.key.as_str());
                match self.store.object_store().delete(&path).await {
                    Ok(()) => {}
                    Err(object_store::Error::NotFound { .. }) => {
                        done.already_gone += 1;
                        continue;
                    }
                    Err(error) => {
                        failure = Some((
                            planned.record,
                            anyhow::anyhow!("deleting {}: {error}", planned.key),
                        ));
                        break;
                    }
                }
                done.deleted += 1;
                if done.records.last() != Some(&planned.record) {
                    done.records.push(planned.record);
                }
            }
            report(&DeletedObject {
                tenant: tenant.as_str().to_owned(),
                category: planned.category,
                record: planned.record.to_string(),
                key: planned.key.clone(),
                deleted: !dry_run,
            });
        }
        // What was deleted is audited even when a later deletion failed.
        for record in &done.records {
            let outcome = match &failure {
                Some((failed, _)) if failed == record => Outcome::Failed,
                _ => Outcome::Ok,
            };
            self.audit(
                actor,
                tenant,
                action,
                with_context(vec![ObjectRef::Record(*record)]),
                outcome,
            )
            .await?;
        }
        if let Some((record, error)) = failure {
            if !done.records.contains(&record) {
                self.audit(
                    actor,
                    tenant,
                    action,
                    with_context(vec![ObjectRef::Record(record)]),
                    Outcome::Failed,
                )
                .await?;
            }
            return Err(error);
        }
        Ok(done)
    }
}

/// The gateway's sweeper: sweeps at start, then every
/// `[retention] sweep_every`, with the configuration in force at each sweep
/// (a tenant's new retention applies to what is already stored). The
/// keyring is read again each time (keys may have been rotated or shredded
/// by the CLI). Entries go to the gateway's own audit chain.
pub fn spawn_sweeper(
    config: tokio::sync::watch::Receiver<std::sync::Arc<crate::config::Config>>,
    store: greffier_vault::store::VaultStore,
    audit: std::sync::Arc<greffier_vault::audit::AuditLog>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let current = config.borrow().as_ref().clone();
            let every = current.sweep.sweep_every;
            match crate::vault_setup::open_existing_keyring(&current.keys) {
                Ok(keyring) => {
                    let ops = Ops::with_audit(
                        current,
                        store.clone(),
                        keyring,
                        audit.clone(),
                        Box::new(super::SystemClock),
                    );
                    match ops.sweep(&Actor::gateway(), None, false, |_| {}).await {
                        Ok(summary) => tracing::info!(
                            "retention sweep done: {} objects deleted, {} records held",
                            summary.deleted,
                            summary.held_records
                        ),
                        Err(error) => {
                            tracing::error!(error = %format!("{error:#}"), "retention sweep failed; retried at the next one")
                        }
                    }
                }
                Err(error) => {
                    tracing::error!(error = %format!("{error:#}"), "retention sweep: the keyring cannot be read")
                }
            }
            tokio::time::sleep(every).await;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const TENANT: &str = "acme";

    fn day0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 10, 9, 30, 0).unwrap()
    }

    fn record_at(start: DateTime<Utc>) -> RecordId {
        let uuid =
            uuid::Builder::from_unix_timestamp_millis(start.timestamp_millis() as u64, &[7; 10])
                .into_uuid();
        RecordId::from_uuid(uuid).unwrap()
    }

    fn index() -> BlindIndex {
        BlindIndex::parse(&"ab".repeat(32)).unwrap()
    }

    /// The keys one recorded call leaves in the store.
    fn call_keys(id: &RecordId) -> Vec<String> {
        let tenant = TenantId::new(TENANT).unwrap();
        let node = greffier_vault::store::NodeId::new("paris_1").unwrap();
        [
            ObjectKey::recording(&tenant, id.date(), id),
            ObjectKey::manifest(&tenant, id.date(), id),
            ObjectKey::raw_payloads(&tenant, id.date(), id),
            ObjectKey::transcript(&tenant, id.date(), id),
            ObjectKey::transcription_job(&tenant, id),
            ObjectKey::job_lease(&tenant, id, 1),
            ObjectKey::finished_job(&tenant, id),
            ObjectKey::cdr(&tenant, id.timestamp(), &node, id),
            ObjectKey::subject_marker(&tenant, &index(), id),
            ObjectKey::hold(&tenant, &id.uuid()),
        ]
        .iter()
        .map(|key| key.path().as_ref().to_owned())
        .collect()
    }

    fn days(recordings: u32, transcripts: u32) -> RetentionDays {
        RetentionDays {
            recordings,
            transcripts,
            call_records: CDR_RETENTION_DAYS,
        }
    }

    fn categories(plan: &DeletionPlan) -> Vec<Category> {
        plan.delete.iter().map(|expired| expired.category).collect()
    }

    fn hold(target: HoldTarget, until: Option<chrono::NaiveDate>) -> Hold {
        let json = serde_json::json!({
            "v": 1, "id": "0193a0c4-6f1e-7b55-9d2a-4b1f0e9c8a71", "tenant": TENANT,
            "target": match &target {
                HoldTarget::Tenant => "tenant".to_owned(),
                HoldTarget::Record(id) => format!("record:{id}"),
                HoldTarget::Subject(index) => format!("subject:{}", index.as_str()),
            },
            "created": "2026-01-10T10:00:00.000Z", "until": until, "reason": "00",
        });
        Hold::from_json(json.to_string().as_bytes()).unwrap()
    }

    #[test]
    fn nothing_goes_before_its_time_and_each_category_at_its_own() {
        let id = record_at(day0());
        let keys = call_keys(&id);
        let days = days(30, 7);
        let at = |d: i64| day0() + Duration::days(d);
        assert!(plan(&keys, &days, &[], at(6)).delete.is_empty());
        assert_eq!(
            categories(&plan(&keys, &days, &[], at(7))),
            [Category::Transcript]
        );
        assert_eq!(
            categories(&plan(&keys, &days, &[], at(29))),
            [Category::Transcript]
        );
        // The index entry goes first, the recording after its manifest; the
        // call record stays; the hold object is never the sweeper's.
        assert_eq!(
            categories(&plan(&keys, &days, &[], at(31))),
            [
                Category::SubjectIndex,
                Category::TranscriptionJob,
                Category::TranscriptionJob,
                Category::TranscriptionJob,
                Category::RawPayloads,
                Category::Manifest,
                Category::Recording,
                Category::Transcript
            ]
        );
        assert!(plan(&keys, &days, &[], at(365) - Duration::seconds(1))
            .delete
            .iter()
            .all(|expired| expired.category != Category::CallRecord));
        assert_eq!(plan(&keys, &days, &[], at(366)).delete.len(), 9);
    }

    #[test]
    fn a_transcript_kept_longer_outlives_its_recording_but_not_its_job() {
        let id = record_at(day0());
        let keys = call_keys(&id);
        let days = days(7, 30);
        let at = |d: i64| day0() + Duration::days(d);
        assert_eq!(
            categories(&plan(&keys, &days, &[], at(7))),
            [
                Category::SubjectIndex,
                Category::TranscriptionJob,
                Category::TranscriptionJob,
                Category::TranscriptionJob,
                Category::RawPayloads,
                Category::Manifest,
                Category::Recording,
            ]
        );
        assert_eq!(
            categories(&plan(&keys, &days, &[], at(30))),
            [
                Category::SubjectIndex,
                Category::TranscriptionJob,
                Category::TranscriptionJob,
                Category::TranscriptionJob,
                Category::RawPayloads,
                Category::Manifest,
                Category::Recording,
                Category::Transcript
            ]
        );
        // A job name the layout does not know is left alone.
        let odd = vec![format!("tenants/{TENANT}/jobs/{id}.lease-1")];
        assert!(plan(&odd, &days, &[], at(4000)).delete.is_empty());
    }

    #[test]
    fn retention_is_bounded_by_the_limits_and_cdrs_are_fixed() {
        let retention = Retention {
            recordings_days: 400,
            transcripts_days: 10,
            cdr_days: 30,
        };
        let limits = Limits {
            max_recordings_days: 90,
            max_transcripts_days: 5,
        };
        assert_eq!(RetentionDays::of(&retention, &limits), days(90, 5));
    }

    #[test]
    fn holds_keep_what_they_name_until_they_end() {
        let held = record_at(day0());
        let free = record_at(day0() + Duration::hours(1));
        let keys: Vec<String> = [call_keys(&held), call_keys(&free)].concat();
        let at31 = day0() + Duration::days(31);
        let kept = |holds: &[Hold]| {
            let plan = plan(&keys, &days(30, 7), holds, at31);
            let deleted: BTreeSet<RecordId> = plan.delete.iter().map(|e| e.record).collect();
            (plan.held.keys().copied().collect::<Vec<_>>(), deleted)
        };
        let (held_ids, deleted) = kept(&[hold(HoldTarget::Record(held), None)]);
        assert_eq!(held_ids, [held]);
        assert_eq!(deleted, BTreeSet::from([free]));
        // By number: both calls name the subject.
        let (held_ids, deleted) = kept(&[hold(HoldTarget::Subject(index()), None)]);
        assert_eq!(held_ids.len(), 2);
        assert!(deleted.is_empty());
        let (held_ids, _) = kept(&[hold(HoldTarget::Tenant, None)]);
        assert_eq!(held_ids.len(), 2);
        // A hold that ended keeps nothing.
        let ended = (day0() + Duration::days(20)).date_naive();
        let (held_ids, deleted) = kept(&[hold(HoldTarget::Record(held), Some(ended))]);
        assert!(held_ids.is_empty());
        assert_eq!(deleted.len(), 2);
    }

    #[test]
    fn a_selection_deletes_what_it_picks_whatever_the_date_except_what_is_held() {
        let picked = record_at(day0());
        let other = record_at(day0() + Duration::hours(1));
        let held = record_at(day0() + Duration::hours(2));
        let keys: Vec<String> = [call_keys(&picked), call_keys(&other), call_keys(&held)].concat();
        // As a subject's erasure selects: that number's records, call
        // records excepted, on the day of the call.
        let plan = plan_deletion(
            &keys,
            &[hold(HoldTarget::Record(held), None)],
            day0(),
            |category, record| *record != other && category != Category::CallRecord,
        );
        assert_eq!(plan.held.keys().copied().collect::<Vec<_>>(), [held]);
        assert!(plan.delete.iter().all(|planned| planned.record == picked));
        assert_eq!(
            categories(&plan),
            [
                Category::SubjectIndex,
                Category::TranscriptionJob,
                Category::TranscriptionJob,
                Category::TranscriptionJob,
                Category::RawPayloads,
                Category::Manifest,
                Category::Recording,
                Category::Transcript
            ]
        );
    }

    #[test]
    fn unknown_keys_are_never_deleted() {
        let keys = vec![
            "tenants/acme/recordings/2026/01/10/not-an-id.grf".to_owned(),
            "tenants/acme/other/x".to_owned(),
            "tenants/acme/holds/0193a0c4-6f1e-7b55-9d2a-4b1f0e9c8a71.json".to_owned(),
        ];
        let plan = plan(&keys, &days(0, 0), &[], day0() + Duration::days(4000));
        assert!(plan.delete.is_empty());
    }
}
