//! Object keys. Every key is built from a tenant slug, a UUIDv7 record id, a
//! node slug, a date and a blind index, so personal data cannot reach a key:
//! there is no constructor that takes free text.

use std::fmt;

use chrono::{DateTime, Datelike, NaiveDate, Timelike, Utc};
use object_store::path::Path;
use uuid::Uuid;

use crate::blind_index::blind_index;
use crate::keys::secret::IndexKey;
use crate::store::error::StoreError;
use crate::tenant::TenantId;

/// A record id: the one [`RecordId`] of `greffier-types`.
pub use greffier_types::RecordId;

/// The name of a gateway node in CDR keys: 1 to 32 ASCII letters, digits or
/// `_`. No `-`, which separates the node from the hour in a CDR key, so one
/// node's prefix never matches another node's objects.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct NodeId(String);

impl NodeId {
    pub fn new(id: &str) -> Result<Self, StoreError> {
        if id.is_empty() || id.len() > 32 {
            return Err(StoreError::InvalidNodeId("must be 1 to 32 characters"));
        }
        if !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(StoreError::InvalidNodeId(
                "only ASCII letters, digits and '_' are allowed",
            ));
        }
        Ok(NodeId(id.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A subject's blind index: `HMAC-SHA256(tenant index key, E.164)` in
/// lowercase hex.
#[derive(Clone, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct BlindIndex(String);

impl BlindIndex {
    pub fn of(index_key: &IndexKey, e164: &str) -> Result<Self, StoreError> {
        Ok(BlindIndex(blind_index(index_key, e164)?))
    }

    /// A blind index read back (from a key listing or a spool file).
    pub fn parse(hex: &str) -> Result<Self, StoreError> {
        let valid = hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if valid {
            Ok(BlindIndex(hex.to_owned()))
        } else {
            Err(StoreError::InvalidBlindIndex)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The objects of one transcription job.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum JobObject {
    State,
    Lease(u64),
}

impl JobObject {
    /// What a file name under [`ObjectKey::jobs_prefix`] (or its
    /// `finished/`) is: `{record_id}.json` or `{record_id}.lease-{12 digits}`.
    pub fn parse_name(name: &str) -> Option<(RecordId, JobObject)> {
        if let Some(id) = name.strip_suffix(".json") {
            return Some((id.parse().ok()?, JobObject::State));
        }
        let (id, generation) = name.split_once(".lease-")?;
        if generation.len() != 12 || !generation.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some((id.parse().ok()?, JobObject::Lease(generation.parse().ok()?)))
    }
}

/// A key in the object store, following the layout of FORMAT.md §8.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct ObjectKey(Path);

impl ObjectKey {
    pub fn recording(tenant: &TenantId, date: NaiveDate, id: &RecordId) -> Self {
        Self::dated(tenant, "recordings", date, &format!("{id}.grf"))
    }

    pub fn manifest(tenant: &TenantId, date: NaiveDate, id: &RecordId) -> Self {
        Self::dated(tenant, "recordings", date, &format!("{id}.manifest.grf"))
    }

    /// The payloads of a recording that could not be decoded, beside it.
    pub fn raw_payloads(tenant: &TenantId, date: NaiveDate, id: &RecordId) -> Self {
        Self::dated(tenant, "recordings", date, &format!("{id}.rtp.grf"))
    }

    pub fn transcript(tenant: &TenantId, date: NaiveDate, id: &RecordId) -> Self {
        Self::dated(tenant, "transcripts", date, &format!("{id}.grf"))
    }

    /// One small object per call in the node's hourly set
    /// `{node}-{hh}-{record_id}.grf`: objects are immutable, so an hour is the
    /// set of objects under its prefix ([`ObjectKey::cdr_hour_prefix`]).
    pub fn cdr(tenant: &TenantId, hour: DateTime<Utc>, node: &NodeId, id: &RecordId) -> Self {
        let name = format!("{}-{:02}-{id}.grf", node.as_str(), hour.hour());
        Self::dated(tenant, "cdr", hour.date_naive(), &name)
    }

    pub fn subject_marker(tenant: &TenantId, subject: &BlindIndex, id: &RecordId) -> Self {
        let id = id.to_string();
        ObjectKey(Path::from_iter([
            "tenants",
            tenant.as_str(),
            "subjects",
            subject.as_str(),
            id.as_str(),
        ]))
    }

    /// A legal hold of a tenant (its id is random, like a record id).
    pub fn hold(tenant: &TenantId, id: &Uuid) -> Self {
        let name = format!("{}.json", id.hyphenated());
        ObjectKey(Path::from_iter([
            "tenants",
            tenant.as_str(),
            "holds",
            name.as_str(),
        ]))
    }

    /// The record of a tenant's termination: which phase it reached, so a
    /// run that stopped is finished by the next (no personal data in it).
    pub fn termination(tenant: &TenantId) -> Self {
        ObjectKey(Path::from_iter([
            "tenants",
            tenant.as_str(),
            "termination.json",
        ]))
    }

    /// A transcription job's state (JSON in clear: states, times, and
    /// reasons that name configuration entries, never personal data). Only
    /// the node holding the job's lease writes it.
    pub fn transcription_job(tenant: &TenantId, id: &RecordId) -> Self {
        Self::job_object(tenant, &format!("{id}.json"))
    }

    /// A finished (done or failed) job's last state, moved out of the
    /// directory the workers scan: finished jobs pile up with the calls,
    /// and no worker needs to list them again.
    pub fn finished_job(tenant: &TenantId, id: &RecordId) -> Self {
        ObjectKey(Path::from_iter([
            "tenants",
            tenant.as_str(),
            "jobs",
            "finished",
            &format!("{id}.json"),
        ]))
    }

    /// Generation `generation` of a job's lease: created once (create-only
    /// where the store honours it), so two nodes cannot both take the same
    /// generation.
    pub fn job_lease(tenant: &TenantId, id: &RecordId, generation: u64) -> Self {
        Self::job_object(tenant, &format!("{id}.lease-{generation:012}"))
    }

    /// Every transcription job of a tenant and their leases (the finished
    /// ones in its `finished/` directory).
    pub fn jobs_prefix(tenant: &TenantId) -> Self {
        ObjectKey(Path::from_iter(["tenants", tenant.as_str(), "jobs"]))
    }

    /// What a key listed under [`ObjectKey::jobs_prefix`] is.
    pub fn parse_job_object(&self) -> Option<(RecordId, JobObject)> {
        JobObject::parse_name(self.0.filename()?)
    }

    fn job_object(tenant: &TenantId, name: &str) -> Self {
        ObjectKey(Path::from_iter(["tenants", tenant.as_str(), "jobs", name]))
    }

    /// Every transcript of a tenant, all days.
    pub fn transcripts_prefix(tenant: &TenantId) -> Self {
        ObjectKey(Path::from_iter(["tenants", tenant.as_str(), "transcripts"]))
    }

    /// The transcripts of one day.
    pub fn transcripts_day_prefix(tenant: &TenantId, date: NaiveDate) -> Self {
        Self::day(tenant, "transcripts", date)
    }

    /// Every legal hold of a tenant.
    pub fn holds_prefix(tenant: &TenantId) -> Self {
        ObjectKey(Path::from_iter(["tenants", tenant.as_str(), "holds"]))
    }

    /// Everything of a tenant.
    pub fn tenant_prefix(tenant: &TenantId) -> Self {
        ObjectKey(Path::from_iter(["tenants", tenant.as_str()]))
    }

    /// The recordings (and their manifests) of one day.
    pub fn recordings_day_prefix(tenant: &TenantId, date: NaiveDate) -> Self {
        Self::day(tenant, "recordings", date)
    }

    /// Every marker of one subject.
    pub fn subject_prefix(tenant: &TenantId, subject: &BlindIndex) -> Self {
        ObjectKey(Path::from_iter([
            "tenants",
            tenant.as_str(),
            "subjects",
            subject.as_str(),
        ]))
    }

    /// Every subject marker of a tenant.
    pub fn subjects_prefix(tenant: &TenantId) -> Self {
        ObjectKey(Path::from_iter(["tenants", tenant.as_str(), "subjects"]))
    }

    /// Every call record of a tenant, all days.
    pub fn cdr_prefix(tenant: &TenantId) -> Self {
        ObjectKey(Path::from_iter(["tenants", tenant.as_str(), "cdr"]))
    }

    /// The directory of one day's CDR objects; an hour of a node is the
    /// names starting with `{node}-{hh}-` in it.
    pub fn cdr_day_prefix(tenant: &TenantId, date: NaiveDate) -> Self {
        Self::day(tenant, "cdr", date)
    }

    pub fn cdr_hour_prefix(node: &NodeId, hour: DateTime<Utc>) -> String {
        format!("{}-{:02}-", node.as_str(), hour.hour())
    }

    /// One sealed segment of a node's audit chain, filed under the day of
    /// its first entry and named by that entry's `seq` (zero-padded, so the
    /// names of a node sort in chain order).
    pub fn audit_segment(node: &NodeId, date: NaiveDate, first_seq: u64) -> Self {
        let (y, m, d) = date_parts(date);
        let name = format!("{first_seq:012}.jsonl");
        ObjectKey(Path::from_iter([
            "audit",
            node.as_str(),
            y.as_str(),
            m.as_str(),
            d.as_str(),
            name.as_str(),
        ]))
    }

    /// Every audit segment of every node.
    pub fn audit_prefix() -> Self {
        ObjectKey(Path::from("audit"))
    }

    /// Every audit segment of one node.
    pub fn audit_node_prefix(node: &NodeId) -> Self {
        ObjectKey(Path::from_iter(["audit", node.as_str()]))
    }

    /// The node and first `seq` of an audit segment key; `None` for any other
    /// key.
    pub fn parse_audit_segment(&self) -> Option<(NodeId, u64)> {
        let parts: Vec<_> = self.0.parts().collect();
        let [audit, node, year, month, day, name] = parts.as_slice() else {
            return None;
        };
        let digits = |part: &object_store::path::PathPart<'_>, len: usize| {
            part.as_ref().len() == len && part.as_ref().bytes().all(|b| b.is_ascii_digit())
        };
        if audit.as_ref() != "audit" || !digits(year, 4) || !digits(month, 2) || !digits(day, 2) {
            return None;
        }
        let seq = name.as_ref().strip_suffix(".jsonl")?;
        if seq.len() != 12 || !seq.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some((NodeId::new(node.as_ref()).ok()?, seq.parse().ok()?))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub(crate) fn from_listed(path: Path) -> Self {
        ObjectKey(path)
    }

    fn day(tenant: &TenantId, category: &str, date: NaiveDate) -> Self {
        let (y, m, d) = date_parts(date);
        ObjectKey(Path::from_iter([
            "tenants",
            tenant.as_str(),
            category,
            y.as_str(),
            m.as_str(),
            d.as_str(),
        ]))
    }

    fn dated(tenant: &TenantId, category: &str, date: NaiveDate, name: &str) -> Self {
        ObjectKey(Self::day(tenant, category, date).0.join(name))
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

fn date_parts(date: NaiveDate) -> (String, String, String) {
    (
        format!("{:04}", date.year()),
        format!("{:02}", date.month()),
        format!("{:02}", date.day()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant() -> TenantId {
        TenantId::new("acme").unwrap()
    }

    #[test]
    fn layout_matches_the_design() {
        let id: RecordId = "01890a5d-ac96-774b-bcce-b302099a8057".parse().unwrap();
        let date = id.date();
        assert_eq!(date, NaiveDate::from_ymd_opt(2023, 6, 30).unwrap());
        assert_eq!(
            ObjectKey::recording(&tenant(), date, &id).to_string(),
            "tenants/acme/recordings/2023/06/30/01890a5d-ac96-774b-bcce-b302099a8057.grf"
        );
        assert_eq!(
            ObjectKey::manifest(&tenant(), date, &id).to_string(),
            "tenants/acme/recordings/2023/06/30/01890a5d-ac96-774b-bcce-b302099a8057.manifest.grf"
        );
        assert_eq!(
            ObjectKey::raw_payloads(&tenant(), date, &id).to_string(),
            "tenants/acme/recordings/2023/06/30/01890a5d-ac96-774b-bcce-b302099a8057.rtp.grf"
        );
        let node = NodeId::new("gw1").unwrap();
        assert_eq!(
            ObjectKey::cdr(&tenant(), id.timestamp(), &node, &id).to_string(),
            format!(
                "tenants/acme/cdr/2023/06/30/gw1-{:02}-01890a5d-ac96-774b-bcce-b302099a8057.grf",
                id.timestamp().hour()
            )
        );
        let job = ObjectKey::transcription_job(&tenant(), &id);
        assert_eq!(
            job.to_string(),
            "tenants/acme/jobs/01890a5d-ac96-774b-bcce-b302099a8057.json"
        );
        assert_eq!(job.parse_job_object(), Some((id, JobObject::State)));
        let finished = ObjectKey::finished_job(&tenant(), &id);
        assert_eq!(
            finished.to_string(),
            "tenants/acme/jobs/finished/01890a5d-ac96-774b-bcce-b302099a8057.json"
        );
        assert_eq!(finished.parse_job_object(), Some((id, JobObject::State)));
        let lease = ObjectKey::job_lease(&tenant(), &id, 7);
        assert_eq!(
            lease.to_string(),
            "tenants/acme/jobs/01890a5d-ac96-774b-bcce-b302099a8057.lease-000000000007"
        );
        assert_eq!(lease.parse_job_object(), Some((id, JobObject::Lease(7))));
        let subject = BlindIndex::of(&IndexKey::from_bytes([7; 32]), "+33612345678").unwrap();
        let marker = ObjectKey::subject_marker(&tenant(), &subject, &id).to_string();
        assert!(marker.starts_with("tenants/acme/subjects/"));
        assert!(!marker.contains("612345678"));
    }

    #[test]
    fn audit_segment_keys_parse_back() {
        let node = NodeId::new("gw1").unwrap();
        let date = NaiveDate::from_ymd_opt(2026, 12, 4).unwrap();
        let key = ObjectKey::audit_segment(&node, date, 42);
        assert_eq!(key.to_string(), "audit/gw1/2026/12/04/000000000042.jsonl");
        assert_eq!(key.parse_audit_segment(), Some((node.clone(), 42)));
        let other = ObjectKey(Path::from("audit/gw1/2026/12/04/notes.txt"));
        assert_eq!(other.parse_audit_segment(), None);
        let recording = ObjectKey::recording(&tenant(), date, &RecordId::generate());
        assert_eq!(recording.parse_audit_segment(), None);
    }

    #[test]
    fn record_ids_must_be_uuid_v7() {
        assert!("01890a5d-ac96-474b-bcce-b302099a8057"
            .parse::<RecordId>()
            .is_err());
        assert!("not-a-uuid".parse::<RecordId>().is_err());
        assert!(RecordId::from_uuid(RecordId::generate().uuid()).is_ok());
    }

    #[test]
    fn node_ids_cannot_contain_the_field_separator() {
        assert!(NodeId::new("gw_1").is_ok());
        for bad in ["", "gw-1", "a/b", "é", &"a".repeat(33)] {
            assert!(NodeId::new(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn blind_indexes_are_parsed_strictly() {
        assert!(BlindIndex::parse(&"a".repeat(64)).is_ok());
        assert!(BlindIndex::parse(&"A".repeat(64)).is_err());
        assert!(BlindIndex::parse("+33612345678").is_err());
    }
}
