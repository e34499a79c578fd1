//! JSON payloads (manifests, call records) sealed as `.grf` objects.

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Serialize;
use zeroize::Zeroizing;

use crate::decrypt::ObjectDecryptor;
use crate::encrypt::ObjectEncryptor;
use crate::format::header::{ObjectKind, ObjectParams, ObjectRef};
use crate::keys::DataKeyResolver;
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
        serde_json::to_vec(value).map_err(|e| StoreError::payload(kind.name(), &e))?,
    );
    let params = ObjectParams::new(tenant.clone(), record_id.uuid(), kind);
    let key = keys.sealing_key(tenant)?;
    Ok(Bytes::from(ObjectEncryptor::encrypt_all(
        params, &key, &json,
    )?))
}

/// Opens the JSON object that must be the `kind` of record `record_id` of
/// `tenant`: any other object (one copied over this one's key) is refused.
pub(crate) fn open_json<T: DeserializeOwned>(
    keys: &dyn DataKeyResolver,
    tenant: &TenantId,
    record_id: &RecordId,
    kind: ObjectKind,
    object: &[u8],
) -> Result<T, StoreError> {
    let mut decryptor = ObjectDecryptor::new(keys, tenant.clone()).expecting(ObjectRef {
        kind,
        record_id: record_id.uuid(),
    });
    let json = Zeroizing::new(decryptor.push(object)?.to_vec());
    decryptor.finish()?;
    serde_json::from_slice(&json).map_err(|e| StoreError::payload(kind.name(), &e))
}
