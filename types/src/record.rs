//! Record ids: the one name of a recorded call in headers, keys, manifests,
//! call records and the audit log.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Why a value is not a record id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid record id: {0}")]
pub struct InvalidRecordId(pub &'static str);

/// A record id: a UUIDv7, drawn when the call starts and never derived from
/// SIP identifiers. The UTC day of its timestamp is the day partition of
/// every object of the record, so a reader goes from the id to the keys
/// without an index.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "Uuid", into = "Uuid")]
pub struct RecordId(Uuid);

impl RecordId {
    pub fn generate() -> Self {
        RecordId(Uuid::now_v7())
    }

    pub fn from_uuid(uuid: Uuid) -> Result<Self, InvalidRecordId> {
        if uuid.get_version_num() != 7 {
            return Err(InvalidRecordId("not a UUIDv7"));
        }
        Ok(RecordId(uuid))
    }

    pub fn uuid(&self) -> Uuid {
        self.0
    }

    /// The instant in the UUIDv7 timestamp (millisecond precision).
    pub fn timestamp(&self) -> DateTime<Utc> {
        let (secs, nanos) = self
            .0
            .get_timestamp()
            .map(|ts| ts.to_unix())
            .unwrap_or_default();
        i64::try_from(secs)
            .ok()
            .and_then(|secs| DateTime::from_timestamp(secs, nanos))
            .unwrap_or_default()
    }

    pub fn date(&self) -> NaiveDate {
        self.timestamp().date_naive()
    }
}

impl TryFrom<Uuid> for RecordId {
    type Error = InvalidRecordId;
    fn try_from(uuid: Uuid) -> Result<Self, Self::Error> {
        RecordId::from_uuid(uuid)
    }
}

impl From<RecordId> for Uuid {
    fn from(id: RecordId) -> Uuid {
        id.0
    }
}

impl FromStr for RecordId {
    type Err = InvalidRecordId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let uuid = Uuid::try_parse(s).map_err(|_| InvalidRecordId("not a UUID"))?;
        RecordId::from_uuid(uuid)
    }
}

impl fmt::Display for RecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0.hyphenated(), f)
    }
}

impl fmt::Debug for RecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RecordId({})", self.0.hyphenated())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_uuid_v7_is_a_record_id() {
        let id = RecordId::generate();
        assert_eq!(id.to_string().parse::<RecordId>(), Ok(id));
        assert_eq!(
            "6ba7b810-9dad-11d1-80b4-00c04fd430c8".parse::<RecordId>(),
            Err(InvalidRecordId("not a UUIDv7"))
        );
        assert_eq!(
            "not-a-uuid".parse::<RecordId>(),
            Err(InvalidRecordId("not a UUID"))
        );
    }

    #[test]
    fn the_date_is_the_timestamp_s_utc_day() {
        let id: RecordId = "01890a5d-ac96-774b-bcce-b302099a8057".parse().unwrap();
        assert_eq!(id.date().to_string(), "2023-06-30");
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(serde_json::from_str::<RecordId>(&json).unwrap(), id);
    }
}
