//! The audit log (DPA articles 6 and 7): one JSON line per operation on
//! personal data, each carrying the SHA-256 of the entry before it, so a
//! changed, removed, reordered or inserted entry is found and named.
//!
//! - [`entry`]: what an entry says, in types that cannot carry a number or a
//!   name in clear;
//! - [`chain`] and [`verify`]: the sans-IO core, bytes in and out, time
//!   passed in;
//! - [`log`](mod@log): the node's log in the spool and the store.
//!
//! The format is specified byte by byte in docs/audit.md.

pub mod chain;
pub mod entry;
pub mod log;
pub mod verify;

use std::path::Path;

use chrono::{DateTime, Utc};

pub use chain::{parse_line, ChainHead, ChainWriter, LineError, ParsedEntry, SegmentPolicy};
pub use entry::{
    Action, Actor, ActorError, AuditRecord, MaskedNumber, ObjectRef, Origin, Outcome, Role,
};
pub use log::{read_chains, AuditLog, StoredChains};
pub use verify::{verify_chain, ChainReport, Finding, Position, Problem, Segment};

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{what} is damaged: {why}")]
    Damaged { what: String, why: LineError },
    #[error("the audit lock task did not finish")]
    LockTask,
}

impl AuditError {
    pub(crate) fn damaged(path: &Path, why: LineError) -> Self {
        AuditError::Damaged {
            what: path.display().to_string(),
            why,
        }
    }
}

/// The lines of `segments` a tenant may see: its own, not confidential,
/// written in `[from, to)`. Lines are given back byte for byte, so the
/// tenant can check each one's hash.
pub fn tenant_lines<'a>(
    segments: &'a [Segment],
    tenant: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<(DateTime<Utc>, &'a [u8])> {
    segments
        .iter()
        .flat_map(|segment| chain::split_lines(&segment.bytes).0)
        .filter_map(|line| {
            let entry = parse_line(line).ok()?;
            let visible = entry.tenant == tenant
                && !entry.confidential
                && entry.time >= from
                && entry.time < to;
            visible.then_some((entry.time, line))
        })
        .collect()
}

#[cfg(test)]
mod tests;
