//! greffier-vault: per-tenant envelope encryption.
//!
//! - [`format`](mod@format): the `.grf` object format (header, chunked AES-256-GCM body),
//!   specified byte by byte in `vault/FORMAT.md`;
//! - [`ObjectEncryptor`] / [`ObjectDecryptor`]: streaming, I/O-free sealing
//!   and opening of one object;
//! - [`keys`]: data keys, tenant KEKs in a sealed [`Keyring`], client-held
//!   keys (HPKE), the node [`MasterKey`];
//! - [`recover`]: closing objects whose writer died mid-stream;
//! - [`blind_index()`]: phone numbers as keyed hashes for subject lookups;
//! - [`store`]: the object store (local directory or S3) and its key layout;
//! - [`recording`], [`spool`]: recorded calls written through a crash-safe
//!   local spool, recovered on start, uploaded with backoff;
//! - [`catalog`]: manifests, call records, listing and reading;
//! - [`audit`]: the hash-chained audit log of operations on personal data.

pub mod audit;
pub mod blind_index;
mod byte_reader;
pub mod catalog;
pub mod decrypt;
pub mod encrypt;
pub mod error;
pub mod format;
pub mod keys;
pub mod recording;
pub mod recover;
pub mod spool;
pub mod store;
pub mod tenant;
pub mod tenant_keys;

pub use blind_index::blind_index;
pub use decrypt::{decrypt_all, decrypt_for_client, ObjectDecryptor};
pub use encrypt::ObjectEncryptor;
pub use error::VaultError;
pub use format::header::{
    Header, KeySlot, ObjectKind, ObjectParams, ObjectRef, DEFAULT_CHUNK_SIZE,
};
pub use keys::client::{ClientPrivateKey, ClientReader, SenderKey};
pub use keys::keyring::{Keyring, Sealing, TenantStatus};
pub use keys::secret::{DataKey, IndexKey, Kek, MasterKey};
pub use keys::{DataKeyResolver, TenantKey};
pub use recover::{recover_interrupted, Recovery};
pub use tenant::TenantId;
pub use tenant_keys::TenantKeys;

/// A new record id: UUIDv7, time-ordered and random, never derived from SIP
/// identifiers.
pub fn new_record_id() -> uuid::Uuid {
    uuid::Uuid::now_v7()
}

pub use uuid::Uuid;
