//! JSON payloads (manifests, call records) sealed as `.grf` objects.

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Serialize;
use zeroize::Zeroizing;

use crate::decrypt::ObjectDecryptor;
use crate::encrypt::ObjectEncryptor;
use crate::error::VaultError;
use crate::format::header::{ObjectKind, ObjectParams};
use crate::store::{RecordId, StoreError};
use crate::tenant::TenantId;
use crate::tenant_keys::TenantKeys;

pub(crate) fn seal_json<T: Serialize>(
    keys: &dyn TenantKeys,
    tenant: &TenantId,
    record_id: &RecordId,
    kind: ObjectKind,
    value: &T,
) -> Result<Bytes, StoreError> {
    let json = Zeroizing::new(
        serde_json::to_vec(value).map_err(|e| StoreError::payload(kind_name(kind), &e))?,
    );
    let params = ObjectParams::new(tenant.clone(), record_id.uuid(), kind);
    let key = keys.sealing_key(tenant)?;
    Ok(Bytes::from(ObjectEncryptor::encrypt_all(
        params, &key, &json,
    )?))
}

pub(crate) fn open_json<T: DeserializeOwned>(
    keys: &dyn TenantKeys,
    tenant: &TenantId,
    kind: ObjectKind,
    object: &[u8],
) -> Result<T, StoreError> {
    let mut decryptor = ObjectDecryptor::new(keys, tenant.clone());
    let json = Zeroizing::new(decryptor.push(object)?.to_vec());
    if decryptor.finish()?.kind() != kind {
        return Err(VaultError::MalformedHeader("object is not of the expected kind").into());
    }
    serde_json::from_slice(&json).map_err(|e| StoreError::payload(kind_name(kind), &e))
}

fn kind_name(kind: ObjectKind) -> &'static str {
    match kind {
        ObjectKind::Manifest => "manifest",
        ObjectKind::Cdr => "call record",
        ObjectKind::Recording => "recording",
        ObjectKind::Transcript => "transcript",
        ObjectKind::RawPayloads => "raw payloads",
    }
}
