//! Requisitions (DPA 9, authority requests): the call records (CDRs) of one
//! number over a period, exported for an authority, by the processor's
//! operator alone.
//!
//! The export is written by the one export writer ([`ExportDir`], purpose
//! `requisition`): `call-records/{record_id}.json`, one decrypted call
//! record per call (FORMAT.md §9), and `manifest.json`, which lists each
//! file with its SHA-256 and says what was asked (`request`: number, period,
//! the authority's reference, whether it is confidential), so the authority
//! can check what it received.
//!
//! The audit entry (`requisition`, the number by blind index, the calls by
//! record id) is on disk before the export is complete (`manifest.json` is
//! written after it). The tenant sees it in its `audit export`, unless the
//! law forbids telling it: a `confidential` entry stays in the chain
//! (`audit verify` covers it) but is never in the tenant's export. A refusal
//! or a failure of a confidential requisition is confidential too.

use std::ops::Range;
use std::path::Path;

use anyhow::{bail, Context};
use chrono::{DateTime, NaiveDate, Utc};
use greffier_vault::audit::{Action, MaskedNumber, ObjectRef, Outcome};
use greffier_vault::catalog::{CdrRecord, E164};
use greffier_vault::store::{BlindIndex, ObjectKey, RecordId};
use greffier_vault::{Sealing, TenantId, TenantStatus};
use serde_json::json;

use super::export::{ExportDir, ExportKind};
use super::retention::{classify, Category};
use super::{permitted, Actor, Operation, Ops};
/// Longest period one requisition may cover: call records are kept 365 days
/// (longer only under a legal hold), so two years covers every one of them.
const MAX_PERIOD_DAYS: i64 = 731;

/// What an authority asks for.
pub struct RequisitionRequest {
    pub tenant: TenantId,
    pub number: E164,
    /// First and last day (UTC), both included.
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// The authority's reference (case, order number), written in the
    /// manifest only: free text stays out of the audit log.
    pub reference: Option<String>,
    /// The law forbids telling the tenant.
    pub confidential: bool,
}

impl RequisitionRequest {
    /// Calls that started in this span are exported.
    fn period(&self) -> anyhow::Result<Range<DateTime<Utc>>> {
        if self.from > self.to {
            bail!("--from {} is after --to {}", self.from, self.to);
        }
        if (self.to - self.from).num_days() >= MAX_PERIOD_DAYS {
            bail!(
                "the period covers more than {MAX_PERIOD_DAYS} days; call records are kept 365 days, ask for less"
            );
        }
        let start = self.from.and_time(chrono::NaiveTime::MIN).and_utc();
        let end = self.to.succ_opt().map_or(DateTime::<Utc>::MAX_UTC, |day| {
            day.and_time(chrono::NaiveTime::MIN).and_utc()
        });
        Ok(start..end)
    }
}

/// What a requisition wrote.
pub struct RequisitionSummary {
    /// The calls exported, oldest first.
    pub records: Vec<RecordId>,
    /// The export's `manifest.json`.
    pub manifest: String,
}

/// The call record keys of a tenant listing whose call started in `period`
/// (the record id carries the start), oldest first.
pub fn call_records_in(keys: &[ObjectKey], period: &Range<DateTime<Utc>>) -> Vec<ObjectKey> {
    let mut found: Vec<(RecordId, ObjectKey)> = keys
        .iter()
        .filter_map(|key| match classify(key.path().as_ref()) {
            Some((Category::CallRecord, id, _)) if period.contains(&id.timestamp()) => {
                Some((id, key.clone()))
            }
            _ => None,
        })
        .collect();
    found.sort_by_key(|(id, _)| *id);
    found.into_iter().map(|(_, key)| key).collect()
}

/// Whether `number` is the caller or the callee of a call record.
pub fn involves(record: &CdrRecord, number: &E164) -> bool {
    [&record.call.caller, &record.call.callee]
        .into_iter()
        .flatten()
        .any(|party| party == number)
}

impl Ops {
    /// Writes the call records of `request.number` in the period into
    /// `out` (a new or empty directory), audits it (`requisition`,
    /// confidential when asked), and only then completes the export with
    /// its `manifest.json`.
    pub async fn requisition(
        &self,
        actor: &Actor,
        request: &RequisitionRequest,
        out: &Path,
    ) -> anyhow::Result<RequisitionSummary> {
        let tenant = &request.tenant;
        let subject = match self.keyring.index_key(tenant) {
            Ok(key) => ObjectRef::Subject(BlindIndex::of(&key, request.number.expose())?),
            Err(_) => ObjectRef::Number(MaskedNumber::of(&request.number)),
        };
        if !permitted(actor.role, Operation::Requisition) {
            self.audit_requisition(actor, request, vec![subject], Outcome::Refused)
                .await?;
            bail!(
                "role {:?} may not {} of tenant {tenant}",
                actor.role,
                Operation::Requisition.name()
            );
        }
        let mut objects = vec![subject];
        let exported = match self.collect_call_records(request).await {
            Ok(records) => {
                objects.extend(
                    records
                        .iter()
                        .map(|record| ObjectRef::Record(record.call.record_id)),
                );
                write_export(request, &records, out).map(|export| (records, export))
            }
            Err(error) => Err(error),
        };
        self.audit_requisition(actor, request, objects, Outcome::of(&exported))
            .await?;
        let (records, export) = exported?;
        let manifest = export.finish(self.clock.now())?;
        Ok(RequisitionSummary {
            records: records.iter().map(|record| record.call.record_id).collect(),
            manifest: manifest.display().to_string(),
        })
    }

    async fn audit_requisition(
        &self,
        actor: &Actor,
        request: &RequisitionRequest,
        objects: Vec<ObjectRef>,
        outcome: Outcome,
    ) -> anyhow::Result<()> {
        let mut record = actor.record(&request.tenant, Action::Requisition, objects, outcome);
        record.confidential = request.confidential;
        self.audit_record(record).await
    }

    async fn collect_call_records(
        &self,
        request: &RequisitionRequest,
    ) -> anyhow::Result<Vec<CdrRecord>> {
        let tenant = &request.tenant;
        let period = request.period()?;
        match self
            .keyring
            .tenants()
            .into_iter()
            .find_map(|(known, status)| (known == *tenant).then_some(status))
        {
            Some(TenantStatus::Active {
                sealing: Sealing::Client { .. },
                ..
            }) => bail!(
                "tenant {tenant} holds its own keys (client key mode): the gateway cannot read \
                 its call records; the client decrypts them with its private key"
            ),
            Some(TenantStatus::Shredded) => bail!(
                "the keys of tenant {tenant} are shredded: its call records can no longer be read"
            ),
            _ => {}
        }
        let listed = self
            .store
            .list(&ObjectKey::cdr_prefix(tenant))
            .await
            .context("cannot list the tenant's call records")?;
        let mut records = Vec::new();
        for key in call_records_in(&listed, &period) {
            let record = self
                .store
                .read_call_record(&self.keyring, tenant, &key)
                .await
                .with_context(|| {
                    format!("call record {key} cannot be read; nothing was exported")
                })?;
            if involves(&record, &request.number) {
                records.push(record);
            }
        }
        records.sort_by_key(|record| (record.call.start, record.call.record_id));
        Ok(records)
    }
}

/// Writes one file per call record and says in the manifest what was asked;
/// `manifest.json` is left for [`ExportDir::finish`].
fn write_export(
    request: &RequisitionRequest,
    records: &[CdrRecord],
    out: &Path,
) -> anyhow::Result<ExportDir> {
    let mut export = ExportDir::create(out, &request.tenant, "requisition")?;
    export.describe_request(json!({
        "number": request.number.expose(),
        "from": request.from.to_string(),
        "to": request.to.to_string(),
        "reference": request.reference,
        "confidential": request.confidential,
    }));
    for record in records {
        export.write_json(
            ExportKind::CallRecord,
            &record.call.record_id,
            record.call.start,
            record,
        )?;
    }
    Ok(export)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn tenant() -> TenantId {
        TenantId::new("acme").unwrap()
    }

    fn record_at(start: DateTime<Utc>) -> RecordId {
        let millis = u64::try_from(start.timestamp_millis()).unwrap();
        let mut bytes = *uuid::Uuid::now_v7().as_bytes();
        bytes[..6].copy_from_slice(&millis.to_be_bytes()[2..]);
        RecordId::from_uuid(uuid::Uuid::from_bytes(bytes)).unwrap()
    }

    fn request(from: NaiveDate, to: NaiveDate) -> RequisitionRequest {
        RequisitionRequest {
            tenant: tenant(),
            number: E164::new("+33612345678").unwrap(),
            from,
            to,
            reference: None,
            confidential: false,
        }
    }

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 3, d).unwrap()
    }

    #[test]
    fn the_period_takes_whole_days_from_the_first_to_the_last() {
        let period = request(day(3), day(5)).period().unwrap();
        let node = greffier_vault::store::NodeId::new("paris_1").unwrap();
        let at = |d, h, m| Utc.with_ymd_and_hms(2026, 3, d, h, m, 0).unwrap();
        let starts = [at(2, 23, 59), at(3, 0, 0), at(5, 23, 59), at(6, 0, 0)];
        let keys: Vec<ObjectKey> = starts
            .iter()
            .map(|start| ObjectKey::cdr(&tenant(), *start, &node, &record_at(*start)))
            .chain([ObjectKey::recording(
                &tenant(),
                day(4),
                &record_at(at(4, 12, 0)),
            )])
            .collect();
        let found = call_records_in(&keys, &period);
        assert_eq!(found, vec![keys[1].clone(), keys[2].clone()]);
    }

    #[test]
    fn a_reversed_or_endless_period_is_refused() {
        let reversed = request(day(5), day(3)).period().unwrap_err();
        assert!(reversed.to_string().contains("after"), "{reversed}");
        let endless = request(NaiveDate::from_ymd_opt(2000, 1, 1).unwrap(), day(3))
            .period()
            .unwrap_err();
        assert!(endless.to_string().contains("more than"), "{endless}");
    }
}
