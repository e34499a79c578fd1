//! What is stored about a call, as JSON inside encrypted objects: the
//! recording's manifest and the call record (CDR). Layout in FORMAT.md §9.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::catalog::number::E164;
use crate::error::VaultError;
use crate::keys::secret::{hmac_sha256, IndexKey};
use crate::store::{BlindIndex, NodeId, RecordId, StoreError};
use crate::tenant::TenantId;

/// Version of the JSON payloads below.
pub const RECORDS_VERSION: u32 = 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// From the outside to one of the tenant's numbers.
    Inbound,
    /// From the tenant's PBX to the outside.
    Outbound,
}

/// What is known when the call starts: enough to describe a recording that
/// never finished.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallInfo {
    pub tenant: TenantId,
    pub record_id: RecordId,
    pub start: DateTime<Utc>,
    /// The parties, when they are E.164 numbers; an extension or an anonymous
    /// caller is `None` and has no subject index entry.
    pub caller: Option<E164>,
    pub callee: Option<E164>,
    pub direction: Direction,
    /// Negotiated codecs, e.g. `["PCMA/8000", "opus/48000/2"]`.
    pub codecs: Vec<String>,
    /// Media type of the recording's plaintext, e.g. `audio/wav`.
    pub media_type: String,
    /// [`call_id_hash`] of the SIP Call-ID: never the Call-ID itself.
    pub call_id_hash: String,
}

/// A telephone-event (RFC 4733), at an offset from the recording's start.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DtmfEvent {
    pub offset_ms: u64,
    pub duration_ms: u32,
    /// `0`–`9`, `*`, `#`, `A`–`D`.
    pub digit: char,
}

/// A stretch where recording was paused (hold, a PCI-DSS pause), as offsets
/// from the recording's start.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PauseInterval {
    pub from_ms: u64,
    pub to_ms: u64,
}

/// What becomes known at hang-up.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CallEnd {
    pub end: Option<DateTime<Utc>>,
    pub dtmf: Vec<DtmfEvent>,
    pub pauses: Vec<PauseInterval>,
    /// Final SIP status of the INVITE (200 for an answered call).
    pub sip_status: Option<u16>,
    /// Encodings (`name/rate`) the recorder could not decode: their
    /// payloads are kept beside the recording instead of audio.
    pub undecodable: Vec<String>,
}

/// The encrypted description stored next to each recording.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub version: u32,
    #[serde(flatten)]
    pub call: CallInfo,
    pub end: Option<DateTime<Utc>>,
    pub dtmf: Vec<DtmfEvent>,
    pub pauses: Vec<PauseInterval>,
    /// The writer died before the end: the recording was closed by the
    /// spool on restart and holds what had reached the disk.
    pub incomplete: bool,
    /// Plaintext bytes in the recording.
    pub recording_len: u64,
    /// Encodings (`name/rate`) that are silence in the recording: their
    /// payloads are in the record's raw payloads object. Absent from
    /// manifests written before this field existed.
    #[serde(default)]
    pub undecodable: Vec<String>,
}

impl Manifest {
    pub fn new(call: CallInfo, end: &CallEnd, recording_len: u64) -> Self {
        Manifest {
            version: RECORDS_VERSION,
            call,
            end: end.end,
            dtmf: end.dtmf.clone(),
            pauses: end.pauses.clone(),
            incomplete: false,
            recording_len,
            undecodable: end.undecodable.clone(),
        }
    }

    /// The manifest of a recording the spool closed after a crash.
    pub fn interrupted(
        call: CallInfo,
        last_write: Option<DateTime<Utc>>,
        recording_len: u64,
    ) -> Self {
        Manifest {
            version: RECORDS_VERSION,
            call,
            end: last_write,
            dtmf: Vec::new(),
            pauses: Vec::new(),
            incomplete: true,
            recording_len,
            undecodable: Vec::new(),
        }
    }
}

/// One line of the tenant's call records: written for every call, recorded
/// or not.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CdrRecord {
    pub version: u32,
    #[serde(flatten)]
    pub call: CallInfo,
    pub node: String,
    pub end: Option<DateTime<Utc>>,
    pub sip_status: Option<u16>,
    pub recorded: bool,
    /// The gateway stopped before the call ended.
    pub incomplete: bool,
    /// Why a call the tenant's policy records was let through without a recording
    /// (the tenant chose `on_anchor_failure = "pass_unrecorded"`). Absent otherwise,
    /// and in records written before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unrecorded_reason: Option<UnrecordedReason>,
}

/// Why the media of a call could not be anchored at the gateway.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnrecordedReason {
    /// A session description the gateway could not rewrite.
    UnusableSdp,
    /// No media ports were left.
    NoMediaPorts,
}

impl CdrRecord {
    pub fn new(call: CallInfo, node: &NodeId, end: &CallEnd, recorded: bool) -> Self {
        CdrRecord {
            version: RECORDS_VERSION,
            call,
            node: node.as_str().to_owned(),
            end: end.end,
            sip_status: end.sip_status,
            recorded,
            incomplete: false,
            unrecorded_reason: None,
        }
    }
}

/// `HMAC-SHA256(tenant index key, "greffier call-id" ‖ 0x00 ‖ Call-ID)` in
/// hex: links a record to SIP traces the tenant holds, without storing the
/// Call-ID (which can carry addresses). The label keeps it apart from the
/// blind indexes made with the same key.
pub fn call_id_hash(index_key: &IndexKey, call_id: &str) -> Result<String, VaultError> {
    Ok(hex::encode(hmac_sha256(
        index_key.as_bytes(),
        &[b"greffier call-id\0", call_id.as_bytes()],
    )?))
}

/// The subject index entries of a call: the blind indexes of its numbers.
pub fn subjects_of(index_key: &IndexKey, call: &CallInfo) -> Result<Vec<BlindIndex>, StoreError> {
    let mut subjects = [&call.caller, &call.callee]
        .into_iter()
        .flatten()
        .map(|number| BlindIndex::of(index_key, number.expose()))
        .collect::<Result<Vec<_>, _>>()?;
    subjects.sort();
    subjects.dedup();
    Ok(subjects)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_id_hash_is_keyed_and_hides_the_call_id() {
        let key = IndexKey::from_bytes([3; 32]);
        let call_id = "a84b4c76e66710@pc33.atlanta.example.com";
        let hash = call_id_hash(&key, call_id).unwrap();
        assert_eq!(hash.len(), 64);
        assert!(!hash.contains("atlanta"));
        assert_eq!(hash, call_id_hash(&key, call_id).unwrap());
        assert_ne!(
            hash,
            call_id_hash(&IndexKey::from_bytes([4; 32]), call_id).unwrap()
        );
        assert_ne!(hash, crate::blind_index(&key, call_id).unwrap_or_default());
    }
}
