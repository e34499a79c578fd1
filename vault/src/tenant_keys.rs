//! What the storage side needs from the keyring: a key to seal new objects,
//! the index key for Call-ID hashes and, for managed tenants only, the
//! subject index, and data keys to open objects again (recovery, listing).

use std::sync::{Arc, RwLock};

use crate::error::VaultError;
use crate::format::header::Header;
use crate::keys::keyring::Keyring;
use crate::keys::secret::{DataKey, IndexKey};
use crate::keys::{DataKeyResolver, TenantKey};
use crate::tenant::TenantId;

/// Per-tenant keys as the recorder, the spool and the catalog use them.
pub trait TenantKeys: DataKeyResolver + Send + Sync {
    fn sealing_key(&self, tenant: &TenantId) -> Result<TenantKey, VaultError>;
    fn index_key(&self, tenant: &TenantId) -> Result<IndexKey, VaultError>;
    /// The key of the tenant's subject index (blind indexes of numbers);
    /// `None` for a client-mode tenant: whoever holds this key can find a
    /// number's calls, which the gateway must not be able to do for a
    /// tenant that keeps its own keys, so such a tenant has no index.
    fn subject_index_key(&self, tenant: &TenantId) -> Result<Option<IndexKey>, VaultError>;
}

impl TenantKeys for Keyring {
    fn sealing_key(&self, tenant: &TenantId) -> Result<TenantKey, VaultError> {
        Keyring::sealing_key(self, tenant)
    }
    fn index_key(&self, tenant: &TenantId) -> Result<IndexKey, VaultError> {
        Keyring::index_key(self, tenant)
    }
    fn subject_index_key(&self, tenant: &TenantId) -> Result<Option<IndexKey>, VaultError> {
        Keyring::subject_index_key(self, tenant)
    }
}

/// A keyring shared with a task that reloads it (key rotation, shredding by
/// the CLI) while recordings are written.
impl TenantKeys for RwLock<Keyring> {
    fn sealing_key(&self, tenant: &TenantId) -> Result<TenantKey, VaultError> {
        read_keyring(self)?.sealing_key(tenant)
    }
    fn index_key(&self, tenant: &TenantId) -> Result<IndexKey, VaultError> {
        read_keyring(self)?.index_key(tenant)
    }
    fn subject_index_key(&self, tenant: &TenantId) -> Result<Option<IndexKey>, VaultError> {
        read_keyring(self)?.subject_index_key(tenant)
    }
}

impl DataKeyResolver for RwLock<Keyring> {
    fn data_key(&self, header: &Header) -> Result<DataKey, VaultError> {
        read_keyring(self)?.data_key(header)
    }
}

impl<T: TenantKeys + ?Sized> TenantKeys for Arc<T> {
    fn sealing_key(&self, tenant: &TenantId) -> Result<TenantKey, VaultError> {
        (**self).sealing_key(tenant)
    }
    fn index_key(&self, tenant: &TenantId) -> Result<IndexKey, VaultError> {
        (**self).index_key(tenant)
    }
    fn subject_index_key(&self, tenant: &TenantId) -> Result<Option<IndexKey>, VaultError> {
        (**self).subject_index_key(tenant)
    }
}

fn read_keyring(
    lock: &RwLock<Keyring>,
) -> Result<std::sync::RwLockReadGuard<'_, Keyring>, VaultError> {
    lock.read()
        .map_err(|_| VaultError::Crypto("keyring lock poisoned by a panicked writer"))
}
