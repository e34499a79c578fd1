//! Key material and the two ways a data key is protected.

pub mod client;
mod codec;
pub mod keyring;
pub mod master;
pub mod secret;
mod store;
mod wrap;

use std::sync::Arc;

use crate::error::VaultError;
use crate::format::header::{Header, KeySlot, ObjectParams};
use client::SenderKey;
use secret::{DataKey, Kek};

/// The key a new object of a tenant is sealed with.
#[derive(Clone, Debug)]
pub enum TenantKey {
    /// Gateway-managed: the DEK is wrapped with KEK `version`.
    Managed { version: u32, kek: Kek },
    /// Client-held: the DEK is sealed to this X25519 public key, from the
    /// gateway's sender key (HPKE auth mode).
    Client {
        public_key: [u8; 32],
        sender: SenderKey,
    },
}

impl TenantKey {
    pub(crate) fn seal_dek(
        &self,
        dek: &DataKey,
        params: &ObjectParams,
    ) -> Result<KeySlot, VaultError> {
        match self {
            TenantKey::Managed { version, kek } => Ok(KeySlot::Managed {
                kek_version: *version,
                wrapped_dek: wrap::wrap_dek(kek, dek)?,
            }),
            TenantKey::Client { public_key, sender } => {
                client::seal_dek(public_key, sender, dek, params)
            }
        }
    }
}

/// Finds an object's data key from its header. The header is not yet
/// authenticated when this runs: the caller verifies the header MAC with the
/// key returned.
pub trait DataKeyResolver: Send + Sync {
    fn data_key(&self, header: &Header) -> Result<DataKey, VaultError>;
}

impl<T: DataKeyResolver + ?Sized> DataKeyResolver for &T {
    fn data_key(&self, header: &Header) -> Result<DataKey, VaultError> {
        (**self).data_key(header)
    }
}

impl<T: DataKeyResolver + ?Sized> DataKeyResolver for Arc<T> {
    fn data_key(&self, header: &Header) -> Result<DataKey, VaultError> {
        (**self).data_key(header)
    }
}

/// One known KEK version of one tenant, for readers that hold a single key.
impl DataKeyResolver for TenantKey {
    fn data_key(&self, header: &Header) -> Result<DataKey, VaultError> {
        match self {
            TenantKey::Managed { version, kek } => unwrap_managed(header, |wanted| {
                if wanted == *version {
                    Ok(kek.clone())
                } else {
                    Err(VaultError::KeyNotFound {
                        tenant: header.tenant().clone(),
                        version: wanted,
                    })
                }
            }),
            TenantKey::Client { .. } => Err(VaultError::ClientKeyRequired {
                tenant: header.tenant().clone(),
            }),
        }
    }
}

/// Unwraps a managed key slot with the KEK `kek_for(version)` returns.
pub(crate) fn unwrap_managed(
    header: &Header,
    kek_for: impl FnOnce(u32) -> Result<Kek, VaultError>,
) -> Result<DataKey, VaultError> {
    match header.key_slot() {
        KeySlot::Managed {
            kek_version,
            wrapped_dek,
        } => wrap::unwrap_dek(&kek_for(*kek_version)?, wrapped_dek),
        KeySlot::Client { .. } | KeySlot::ClientAuth { .. } => Err(VaultError::ClientKeyRequired {
            tenant: header.tenant().clone(),
        }),
    }
}
