//! The chain, sans-IO: entries encoded as JSON lines that carry their own
//! hash and the hash of the entry before them, and parsed back. The byte
//! layout is specified in docs/audit.md.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::audit::entry::{Action, Actor, AuditRecord, ObjectRef, Origin, Outcome, Role};
use crate::store::NodeId;
use crate::tenant::TenantId;

/// The format version every line starts with.
pub const FORMAT_VERSION: u32 = 1;

/// `prev` of the first entry of a chain.
pub const GENESIS_HASH: [u8; 32] = [0; 32];

/// What ends every line before its newline: `,"hash":"` 64 hex digits `"}`.
const HASH_FIELD_PREFIX: &str = ",\"hash\":\"";
const HASH_SUFFIX_LEN: usize = HASH_FIELD_PREFIX.len() + 64 + 2;

/// Where a chain stands: the position and hash of its last entry.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct ChainHead {
    /// The next entry's `seq`.
    pub next_seq: u64,
    /// The last entry's hash ([`GENESIS_HASH`] for an empty chain).
    pub last_hash: [u8; 32],
}

impl ChainHead {
    pub const GENESIS: ChainHead = ChainHead {
        next_seq: 0,
        last_hash: GENESIS_HASH,
    };

    /// The head after `entry`.
    pub fn after(entry: &ParsedEntry) -> Self {
        ChainHead {
            next_seq: entry.seq + 1,
            last_hash: entry.hash,
        }
    }
}

/// The fields in the order they are written (the hash is appended).
#[derive(Serialize)]
struct Body<'a> {
    v: u32,
    seq: u64,
    time: String,
    node: &'a str,
    actor: &'a Actor,
    role: Role,
    origin: Origin,
    tenant: &'a str,
    action: Action,
    objects: &'a [ObjectRef],
    outcome: Outcome,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    confidential: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'static str>,
    prev: String,
}

/// Appends entries to one node's chain: each call gives the line to write
/// (with its newline) and moves the head.
#[derive(Clone, Debug)]
pub struct ChainWriter {
    node: NodeId,
    head: ChainHead,
}

impl ChainWriter {
    pub fn new(node: NodeId, head: ChainHead) -> Self {
        ChainWriter { node, head }
    }

    pub fn head(&self) -> ChainHead {
        self.head
    }

    /// The line of `record` at `now`, chained to the head.
    pub fn append(&mut self, now: DateTime<Utc>, record: &AuditRecord) -> Vec<u8> {
        let body = Body {
            v: FORMAT_VERSION,
            seq: self.head.next_seq,
            time: now.to_rfc3339_opts(SecondsFormat::Millis, true),
            node: self.node.as_str(),
            actor: &record.actor,
            role: record.role,
            origin: record.origin,
            tenant: record.tenant.as_str(),
            action: record.action,
            objects: &record.objects,
            outcome: record.outcome,
            confidential: record.confidential,
            reason: record.reason,
            prev: hex::encode(self.head.last_hash),
        };
        // Serialising plain strings, enums and integers cannot fail.
        let body = serde_json::to_vec(&body).unwrap_or_default();
        let hash: [u8; 32] = Sha256::digest(&body).into();
        let mut line = body;
        line.pop(); // the closing brace, put back after the hash
        line.extend_from_slice(HASH_FIELD_PREFIX.as_bytes());
        line.extend_from_slice(hex::encode(hash).as_bytes());
        line.extend_from_slice(b"\"}\n");
        self.head = ChainHead {
            next_seq: self.head.next_seq + 1,
            last_hash: hash,
        };
        line
    }
}

/// What a line says about itself, read back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedEntry {
    pub seq: u64,
    pub time: DateTime<Utc>,
    pub node: String,
    pub tenant: String,
    pub action: String,
    pub confidential: bool,
    pub prev: [u8; 32],
    /// The hash the line states for itself.
    pub hash: [u8; 32],
    /// Whether the stated hash is the SHA-256 of the line's body.
    pub hash_matches: bool,
}

#[derive(Deserialize)]
struct Fields {
    v: u32,
    seq: u64,
    time: DateTime<Utc>,
    node: String,
    tenant: String,
    action: String,
    #[serde(default)]
    confidential: bool,
    prev: String,
    hash: String,
}

/// Why a line is not an audit entry at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    #[error("it does not end with its hash field")]
    NoHashField,
    #[error("it is not a JSON object of the audit format ({0})")]
    Json(&'static str),
    #[error("format version {0} is not known")]
    Version(u32),
    #[error("its {0} is not 64 lowercase hex digits")]
    Hex(&'static str),
    #[error("its tenant or node is not a valid identifier")]
    Identifier,
}

/// Reads one line (without its newline).
pub fn parse_line(line: &[u8]) -> Result<ParsedEntry, LineError> {
    if line.len() < HASH_SUFFIX_LEN || !line.ends_with(b"\"}") {
        return Err(LineError::NoHashField);
    }
    let split = line.len() - HASH_SUFFIX_LEN;
    if &line[split..split + HASH_FIELD_PREFIX.len()] != HASH_FIELD_PREFIX.as_bytes() {
        return Err(LineError::NoHashField);
    }
    let fields: Fields = serde_json::from_slice(line).map_err(|error| {
        LineError::Json(match error.classify() {
            serde_json::error::Category::Data => "a field is missing or has the wrong type",
            _ => "not valid JSON",
        })
    })?;
    if fields.v != FORMAT_VERSION {
        return Err(LineError::Version(fields.v));
    }
    if TenantId::new(&fields.tenant).is_err() || NodeId::new(&fields.node).is_err() {
        return Err(LineError::Identifier);
    }
    let hash = parse_hash(&fields.hash).ok_or(LineError::Hex("hash"))?;
    let prev = parse_hash(&fields.prev).ok_or(LineError::Hex("prev"))?;
    let mut body = line[..split].to_vec();
    body.push(b'}');
    let computed: [u8; 32] = Sha256::digest(&body).into();
    Ok(ParsedEntry {
        seq: fields.seq,
        time: fields.time,
        node: fields.node,
        tenant: fields.tenant,
        action: fields.action,
        confidential: fields.confidential,
        prev,
        hash,
        hash_matches: computed == hash,
    })
}

fn parse_hash(text: &str) -> Option<[u8; 32]> {
    let lowercase_hex = text.len() == 64
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if !lowercase_hex {
        return None;
    }
    let mut hash = [0; 32];
    hex::decode_to_slice(text, &mut hash).ok()?;
    Some(hash)
}

/// When the unsealed tail becomes a segment in the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentPolicy {
    /// A tail this large is sealed after the entry that reached it.
    pub max_bytes: u64,
    /// A tail whose first entry is this old is sealed.
    pub max_age: Duration,
}

impl Default for SegmentPolicy {
    fn default() -> Self {
        SegmentPolicy {
            max_bytes: 1024 * 1024,
            max_age: Duration::from_secs(300),
        }
    }
}

impl SegmentPolicy {
    /// Whether a tail of `len` bytes whose first entry was written at
    /// `first` is due at `now`.
    pub fn due(&self, len: u64, first: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
        let Some(first) = first else {
            return false;
        };
        let age = now
            .signed_duration_since(first)
            .to_std()
            .unwrap_or_default();
        len >= self.max_bytes || age >= self.max_age
    }
}

/// The lines of a segment (or tail) and whether its last line ended with a
/// newline.
pub fn split_lines(bytes: &[u8]) -> (Vec<&[u8]>, bool) {
    if bytes.is_empty() {
        return (Vec::new(), true);
    }
    let terminated = bytes.ends_with(b"\n");
    let body = if terminated {
        &bytes[..bytes.len() - 1]
    } else {
        bytes
    };
    (body.split(|b| *b == b'\n').collect(), terminated)
}
