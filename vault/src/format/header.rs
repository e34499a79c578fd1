//! The `.grf` header: serialization, parsing and its MAC. Byte layout is
//! specified in `vault/FORMAT.md`; keep the two in step.

use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::byte_reader::{ByteReader, EndOfInput};
use crate::error::VaultError;
use crate::keys::secret::{hmac_sha256, hmac_sha256_verify, DataKey};
use crate::tenant::{TenantId, MAX_TENANT_ID_LEN};

pub const MAGIC: [u8; 4] = *b"GRF1";
pub const FORMAT_VERSION: u8 = 1;
/// Magic, version and the header length field: enough to know how many
/// bytes the whole header takes.
pub const PREAMBLE_LEN: usize = 7;
pub const DEFAULT_CHUNK_SIZE: u32 = 64 * 1024;
pub const MAX_CHUNK_SIZE: u32 = 4 * 1024 * 1024;
pub const NONCE_PREFIX_LEN: usize = 7;
pub const HEADER_MAC_LEN: usize = 32;
/// Upper bound a reader enforces before buffering a header.
pub const MAX_HEADER_LEN: usize = 1024;

pub const WRAPPED_DEK_LEN: usize = 40;
pub const RECIPIENT_ID_LEN: usize = 8;
pub const SENDER_ID_LEN: usize = 8;
pub const ENCAPSULATED_KEY_LEN: usize = 32;
pub const SEALED_DEK_LEN: usize = 48;

const KEY_MODE_MANAGED: u8 = 1;
const KEY_MODE_CLIENT: u8 = 2;
const KEY_MODE_CLIENT_AUTH: u8 = 3;

/// What an object holds; stored in the header so a reader can refuse an
/// object of the wrong kind without decrypting it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ObjectKind {
    Recording,
    Transcript,
    Manifest,
    Cdr,
    /// RTP payloads the recorder could not decode, kept as received (FORMAT.md §10).
    RawPayloads,
}

impl ObjectKind {
    pub fn code(self) -> u8 {
        match self {
            ObjectKind::Recording => 1,
            ObjectKind::Transcript => 2,
            ObjectKind::Manifest => 3,
            ObjectKind::Cdr => 4,
            ObjectKind::RawPayloads => 5,
        }
    }

    pub fn from_code(code: u8) -> Result<Self, VaultError> {
        match code {
            1 => Ok(ObjectKind::Recording),
            2 => Ok(ObjectKind::Transcript),
            3 => Ok(ObjectKind::Manifest),
            4 => Ok(ObjectKind::Cdr),
            5 => Ok(ObjectKind::RawPayloads),
            _ => Err(VaultError::MalformedHeader("unknown object kind")),
        }
    }

    /// What the kind is called in errors and listings.
    pub fn name(self) -> &'static str {
        match self {
            ObjectKind::Recording => "recording",
            ObjectKind::Transcript => "transcript",
            ObjectKind::Manifest => "manifest",
            ObjectKind::Cdr => "call record",
            ObjectKind::RawPayloads => "raw payloads",
        }
    }
}

impl std::fmt::Display for ObjectKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Which object a header says it is: the kind and the record. Both are
/// covered by the header MAC, so a reader that checks them against the
/// object it asked for refuses an object copied over another (FORMAT.md §5).
/// A record id is a random UUIDv7, never personal data, so it may appear in
/// errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ObjectRef {
    pub kind: ObjectKind,
    pub record_id: Uuid,
}

impl std::fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} of record {}", self.kind, self.record_id)
    }
}

/// How the object's data key is protected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeySlot {
    /// AES-256 key wrap (RFC 3394) of the DEK under the tenant KEK `kek_version`.
    Managed {
        kek_version: u32,
        wrapped_dek: [u8; WRAPPED_DEK_LEN],
    },
    /// HPKE base mode (X25519, HKDF-SHA256, AES-256-GCM) to the tenant's own
    /// key. No longer written: base mode does not authenticate the writer,
    /// so clients open it only when told to (FORMAT.md §2).
    Client {
        recipient_id: [u8; RECIPIENT_ID_LEN],
        encapsulated_key: [u8; ENCAPSULATED_KEY_LEN],
        sealed_dek: [u8; SEALED_DEK_LEN],
    },
    /// HPKE auth mode to the tenant's own key, from the gateway's sender key
    /// named by `sender_id` (RFC 9180 §5.1.3).
    ClientAuth {
        recipient_id: [u8; RECIPIENT_ID_LEN],
        sender_id: [u8; SENDER_ID_LEN],
        encapsulated_key: [u8; ENCAPSULATED_KEY_LEN],
        sealed_dek: [u8; SEALED_DEK_LEN],
    },
}

/// What the writer of an object chooses; everything else in the header is
/// generated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectParams {
    pub tenant: TenantId,
    pub record_id: Uuid,
    pub kind: ObjectKind,
    pub chunk_size: u32,
}

impl ObjectParams {
    pub fn new(tenant: TenantId, record_id: Uuid, kind: ObjectKind) -> Self {
        ObjectParams {
            tenant,
            record_id,
            kind,
            chunk_size: DEFAULT_CHUNK_SIZE,
        }
    }

    pub fn with_chunk_size(mut self, chunk_size: u32) -> Result<Self, VaultError> {
        validate_chunk_size(chunk_size)?;
        self.chunk_size = chunk_size;
        Ok(self)
    }
}

fn validate_chunk_size(chunk_size: u32) -> Result<(), VaultError> {
    if chunk_size == 0 || chunk_size > MAX_CHUNK_SIZE {
        return Err(VaultError::InvalidChunkSize(chunk_size));
    }
    Ok(())
}

/// A complete header: its fields and its exact serialized bytes (MAC included).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    params: ObjectParams,
    nonce_prefix: [u8; NONCE_PREFIX_LEN],
    key_slot: KeySlot,
    raw: Vec<u8>,
}

impl Header {
    /// Serializes the fields and appends the MAC keyed from `dek`.
    pub(crate) fn seal(
        params: ObjectParams,
        nonce_prefix: [u8; NONCE_PREFIX_LEN],
        key_slot: KeySlot,
        dek: &DataKey,
    ) -> Result<Self, VaultError> {
        validate_chunk_size(params.chunk_size)?;
        let mut raw = encode_fields(&params, &nonce_prefix, &key_slot)?;
        let mac = hmac_sha256(dek.header_mac_key()?.as_slice(), &[&raw])?;
        raw.extend_from_slice(&mac);
        Ok(Header {
            params,
            nonce_prefix,
            key_slot,
            raw,
        })
    }

    /// Parses a complete header. `raw` must be exactly the `header_len` bytes
    /// announced by the preamble. The MAC is not checked here: that needs the
    /// data key, which the decryptor checks before any chunk.
    pub fn parse(raw: &[u8]) -> Result<Self, VaultError> {
        let announced = header_len_from_preamble(raw)?;
        if announced != raw.len() {
            return Err(VaultError::MalformedHeader(
                "length field does not match the header",
            ));
        }
        let mut fields = ByteReader::new(raw.get(PREAMBLE_LEN..).unwrap_or_default());
        let kind = ObjectKind::from_code(fields.u8()?)?;
        let chunk_size = fields.u32()?;
        validate_chunk_size(chunk_size)
            .map_err(|_| VaultError::MalformedHeader("chunk size out of range"))?;
        let nonce_prefix = fields.array()?;
        let record_id = Uuid::from_bytes(fields.array()?);
        let tenant_len = usize::from(fields.u8()?);
        let tenant = TenantId::from_bytes(fields.take(tenant_len)?)
            .map_err(|_| VaultError::MalformedHeader("invalid tenant id"))?;
        let key_slot = match fields.u8()? {
            KEY_MODE_MANAGED => KeySlot::Managed {
                kek_version: fields.u32()?,
                wrapped_dek: fields.array()?,
            },
            KEY_MODE_CLIENT => KeySlot::Client {
                recipient_id: fields.array()?,
                encapsulated_key: fields.array()?,
                sealed_dek: fields.array()?,
            },
            KEY_MODE_CLIENT_AUTH => KeySlot::ClientAuth {
                recipient_id: fields.array()?,
                sender_id: fields.array()?,
                encapsulated_key: fields.array()?,
                sealed_dek: fields.array()?,
            },
            _ => return Err(VaultError::MalformedHeader("unknown key mode")),
        };
        let _mac: [u8; HEADER_MAC_LEN] = fields.array()?;
        if !fields.is_empty() {
            return Err(EndOfInput.into());
        }
        Ok(Header {
            params: ObjectParams {
                tenant,
                record_id,
                kind,
                chunk_size,
            },
            nonce_prefix,
            key_slot,
            raw: raw.to_vec(),
        })
    }

    /// Checks the header MAC with the unwrapped data key; any altered header
    /// byte fails here.
    pub(crate) fn verify_mac(&self, dek: &DataKey) -> Result<(), VaultError> {
        let split = self.raw.len().saturating_sub(HEADER_MAC_LEN);
        let (fields, mac) = self.raw.split_at(split);
        if hmac_sha256_verify(dek.header_mac_key()?.as_slice(), fields, mac)? {
            Ok(())
        } else {
            Err(VaultError::HeaderTampered)
        }
    }

    /// Associated data of every chunk: SHA-256 of the whole serialized header.
    pub(crate) fn chunk_aad(&self) -> [u8; 32] {
        Sha256::digest(&self.raw).into()
    }

    pub fn tenant(&self) -> &TenantId {
        &self.params.tenant
    }
    pub fn record_id(&self) -> Uuid {
        self.params.record_id
    }
    pub fn kind(&self) -> ObjectKind {
        self.params.kind
    }
    /// The kind and record the header names.
    pub fn object(&self) -> ObjectRef {
        ObjectRef {
            kind: self.params.kind,
            record_id: self.params.record_id,
        }
    }
    pub fn chunk_size(&self) -> u32 {
        self.params.chunk_size
    }
    pub fn nonce_prefix(&self) -> &[u8; NONCE_PREFIX_LEN] {
        &self.nonce_prefix
    }
    pub fn key_slot(&self) -> &KeySlot {
        &self.key_slot
    }
    /// The exact bytes of the header as stored at the start of the object.
    pub fn as_bytes(&self) -> &[u8] {
        &self.raw
    }
}

/// Reads the fixed preamble and returns the total header length it announces.
/// Needs at least [`PREAMBLE_LEN`] bytes.
pub fn header_len_from_preamble(bytes: &[u8]) -> Result<usize, VaultError> {
    let preamble = bytes.get(..PREAMBLE_LEN).ok_or(VaultError::Truncated)?;
    if preamble.get(..4) != Some(&MAGIC[..]) {
        return Err(VaultError::BadMagic);
    }
    let version = preamble.get(4).copied().unwrap_or_default();
    if version != FORMAT_VERSION {
        return Err(VaultError::UnsupportedVersion(version));
    }
    let len = usize::from(u16::from_be_bytes([
        preamble.get(5).copied().unwrap_or_default(),
        preamble.get(6).copied().unwrap_or_default(),
    ]));
    if !(MIN_HEADER_LEN..=MAX_HEADER_LEN).contains(&len) {
        return Err(VaultError::MalformedHeader("header length out of range"));
    }
    Ok(len)
}

/// Smallest possible header: managed key slot, one-byte tenant id.
const MIN_HEADER_LEN: usize =
    PREAMBLE_LEN + 1 + 4 + NONCE_PREFIX_LEN + 16 + 1 + 1 + 1 + 4 + WRAPPED_DEK_LEN + HEADER_MAC_LEN;

fn encode_fields(
    params: &ObjectParams,
    nonce_prefix: &[u8; NONCE_PREFIX_LEN],
    key_slot: &KeySlot,
) -> Result<Vec<u8>, VaultError> {
    let tenant = params.tenant.as_str().as_bytes();
    let tenant_len = u8::try_from(tenant.len())
        .ok()
        .filter(|len| usize::from(*len) <= MAX_TENANT_ID_LEN)
        .ok_or(VaultError::InvalidTenantId("longer than 64 bytes"))?;
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(&MAGIC);
    out.push(FORMAT_VERSION);
    out.extend_from_slice(&[0, 0]); // header length, filled in below
    out.push(params.kind.code());
    out.extend_from_slice(&params.chunk_size.to_be_bytes());
    out.extend_from_slice(nonce_prefix);
    out.extend_from_slice(params.record_id.as_bytes());
    out.push(tenant_len);
    out.extend_from_slice(tenant);
    match key_slot {
        KeySlot::Managed {
            kek_version,
            wrapped_dek,
        } => {
            out.push(KEY_MODE_MANAGED);
            out.extend_from_slice(&kek_version.to_be_bytes());
            out.extend_from_slice(wrapped_dek);
        }
        KeySlot::Client {
            recipient_id,
            encapsulated_key,
            sealed_dek,
        } => {
            out.push(KEY_MODE_CLIENT);
            out.extend_from_slice(recipient_id);
            out.extend_from_slice(encapsulated_key);
            out.extend_from_slice(sealed_dek);
        }
        KeySlot::ClientAuth {
            recipient_id,
            sender_id,
            encapsulated_key,
            sealed_dek,
        } => {
            out.push(KEY_MODE_CLIENT_AUTH);
            out.extend_from_slice(recipient_id);
            out.extend_from_slice(sender_id);
            out.extend_from_slice(encapsulated_key);
            out.extend_from_slice(sealed_dek);
        }
    }
    let total = u16::try_from(out.len() + HEADER_MAC_LEN)
        .map_err(|_| VaultError::MalformedHeader("header too long"))?;
    out[5..7].copy_from_slice(&total.to_be_bytes());
    Ok(out)
}
