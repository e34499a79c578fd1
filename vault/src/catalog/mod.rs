//! Manifests, call records and the subject index: what the vault knows
//! about each call, and the listing and reading API on top of the store.

mod number;
mod query;
mod records;
mod sealed;

pub use number::E164;
pub use query::RecordingEntry;
pub use records::{
    call_id_hash, subjects_of, CallEnd, CallInfo, CdrRecord, Direction, DtmfEvent, Manifest,
    PauseInterval, UnrecordedReason, RECORDS_VERSION,
};
pub(crate) use sealed::{open_json, seal_json};
