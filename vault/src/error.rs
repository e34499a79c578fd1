//! One error type for the crate: every variant names the cause, none carries
//! key material or personal data.

use std::path::PathBuf;

use crate::format::header::ObjectRef;
use crate::tenant::TenantId;

/// Everything that can go wrong while sealing, opening or keeping keys.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    // --- object format ---
    #[error("not a greffier object: bad magic bytes")]
    BadMagic,
    #[error("unsupported object format version {0}")]
    UnsupportedVersion(u8),
    #[error("malformed object header: {0}")]
    MalformedHeader(&'static str),
    #[error("object header was altered (header authentication failed)")]
    HeaderTampered,
    #[error("the data key could not be unwrapped: the header was altered or the key is not the one this object was sealed with")]
    KeyUnwrapFailed,
    #[error("chunk {index} failed authentication (altered, reordered, dropped or cut short)")]
    ChunkAuthFailed { index: u64 },
    #[error("chunk {index} has an invalid length field")]
    MalformedChunk { index: u64 },
    #[error("object is truncated: it ends before its final chunk")]
    Truncated,
    #[error("object has data after its final chunk")]
    TrailingData,
    #[error("object belongs to tenant {found}, expected {expected}")]
    WrongTenant { expected: TenantId, found: TenantId },
    #[error("wrong object: asked for the {expected} but the object is the {found} (an object was copied over another)")]
    WrongObject {
        expected: ObjectRef,
        found: ObjectRef,
    },
    #[error("an earlier error ended this decryption stream")]
    StreamFailed,
    #[error("object is too large: chunk counter exhausted")]
    CounterExhausted,
    #[error("invalid chunk size {0}: must be between 1 and 4 MiB")]
    InvalidChunkSize(u32),

    // --- keys ---
    #[error("no key-encryption key version {version} for tenant {tenant}")]
    KeyNotFound { tenant: TenantId, version: u32 },
    #[error("keys of tenant {tenant} were shredded: its objects can no longer be decrypted")]
    KeyShredded { tenant: TenantId },
    #[error("tenant {tenant} is being terminated: nothing new is recorded or sealed for it")]
    TenantTerminating { tenant: TenantId },
    #[error("tenant {tenant} has no keys in the keyring")]
    UnknownTenant { tenant: TenantId },
    #[error("tenant {tenant} already has keys in the keyring")]
    TenantExists { tenant: TenantId },
    #[error("tenant {tenant} uses client-held keys: the gateway cannot decrypt its objects")]
    ClientKeyRequired { tenant: TenantId },
    #[error("object is sealed with a gateway-managed key, not a client key")]
    ManagedKeyRequired,
    #[error("object is sealed to a different client public key")]
    WrongClientKey,
    #[error("object is sealed without sender authentication (HPKE base mode, written before the gateway had a sender key): anyone holding the tenant's public key could have written it, so it is refused unless such objects are accepted explicitly")]
    SenderNotAuthenticated,
    #[error(
        "object is sealed by a sender key that is not a trusted gateway key: refused as forged"
    )]
    UnknownSender,
    #[error("the object's data key does not authenticate as sealed by the gateway's sender key: forged or altered object")]
    SenderAuthFailed,
    #[error("the keyring has no gateway sender key: client-mode objects cannot be sealed until one is created (the gateway creates it at start, or run `greffier keys show-sender`)")]
    SenderKeyMissing,
    #[error("tenant {tenant} uses client-held keys: there is no key-encryption key to rotate")]
    NotManaged { tenant: TenantId },
    #[error("invalid X25519 public key")]
    InvalidPublicKey,
    #[error("invalid X25519 private key")]
    InvalidPrivateKey,
    #[error("invalid tenant id: {0}")]
    InvalidTenantId(&'static str),
    #[error("invalid E.164 number (expected '+' and 8 to 15 digits, the first not 0)")]
    InvalidE164,

    // --- keyring file and master key ---
    #[error("master key environment variable {var} is not set")]
    MasterKeyMissing { var: String },
    #[error("master key from {origin} is invalid: {reason}")]
    MasterKeyInvalid {
        origin: String,
        reason: &'static str,
    },
    #[error("master key file {path} is accessible by group or others (mode {mode:o}); restrict it to the owner (chmod 600)")]
    MasterKeyPermissions { path: PathBuf, mode: u32 },
    #[error("keyring {path} could not be opened: wrong master key, or the file was altered")]
    KeyringUnsealFailed { path: PathBuf },
    #[error("keyring {path} is malformed: {reason}")]
    KeyringMalformed { path: PathBuf, reason: &'static str },
    #[error("keyring {path} already exists")]
    KeyringExists { path: PathBuf },
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    // --- primitives ---
    #[error("the operating system random number generator failed")]
    Random,
    #[error("encryption failed: {0}")]
    Crypto(&'static str),
}

impl VaultError {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        VaultError::Io {
            action,
            path: path.into(),
            source,
        }
    }
}

impl From<greffier_types::InvalidSlug> for VaultError {
    fn from(_: greffier_types::InvalidSlug) -> Self {
        VaultError::InvalidTenantId(
            "must be a lowercase slug: a-z, 0-9 and inner '-', 1 to 63 characters",
        )
    }
}

impl From<greffier_types::NumberError> for VaultError {
    fn from(_: greffier_types::NumberError) -> Self {
        VaultError::InvalidE164
    }
}
