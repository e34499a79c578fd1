//! Per-tenant keys: versioned KEKs (or a client public key) and the blind
//! index key, sealed in one file under the node master key.
//!
//! Every change is written to disk before it takes effect in memory, and is
//! applied to the file's current contents rather than to this process's
//! copy, so a gateway that rotates a key cannot bring back a tenant that the
//! CLI shredded meanwhile. Processes that only read call
//! [`Keyring::reload`] to see changes made elsewhere.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::blind_index::blind_index;
use crate::error::VaultError;
use crate::format::header::{Header, ObjectKind, ObjectParams};
use crate::keys::client::SenderKey;
use crate::keys::codec::{decode_state, encode_state};
use crate::keys::secret::{DataKey, IndexKey, Kek, MasterKey};
use crate::keys::{client, store, unwrap_managed, DataKeyResolver, TenantKey};
use crate::tenant::TenantId;

/// What new objects of a tenant are sealed with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sealing {
    Managed { version: u32 },
    Client { public_key: [u8; 32] },
}

#[derive(Clone, Debug)]
pub(crate) struct TenantKeys {
    /// Every KEK version ever created and not shredded: old objects keep
    /// naming the version they were wrapped with.
    pub(crate) keks: BTreeMap<u32, Kek>,
    pub(crate) sealing: Sealing,
    pub(crate) index_key: IndexKey,
}

#[derive(Clone, Debug)]
pub(crate) enum TenantEntry {
    Active(TenantKeys),
    /// The tenant's contract has ended and its data is being returned and
    /// deleted: its keys still open what is stored, but nothing new is
    /// sealed for it (the gateway refuses its calls). Ends in `Shredded`.
    Terminating(TenantKeys),
    /// Kept as a tombstone so readers report `KeyShredded`, not "unknown".
    Shredded,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct KeyringState {
    pub(crate) tenants: BTreeMap<TenantId, TenantEntry>,
    /// The gateway's HPKE sender key for client-mode objects; `None` only in
    /// a keyring written before sender keys existed, until it is created.
    pub(crate) sender: Option<SenderKey>,
}

/// A tenant's key status, for listings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TenantStatus {
    Active {
        sealing: Sealing,
        kek_versions: Vec<u32>,
    },
    /// Being terminated: stored objects still open, nothing new is sealed.
    Terminating {
        sealing: Sealing,
        kek_versions: Vec<u32>,
    },
    Shredded,
}

impl TenantStatus {
    /// Whether new objects may be sealed for the tenant (its calls recorded).
    pub fn is_active(&self) -> bool {
        matches!(self, TenantStatus::Active { .. })
    }
}

impl KeyringState {
    fn active(&self, tenant: &TenantId) -> Result<&TenantKeys, VaultError> {
        match self.tenants.get(tenant) {
            Some(TenantEntry::Active(keys)) => Ok(keys),
            other => Err(unavailable(tenant, other)),
        }
    }

    /// The keys that open a tenant's stored objects: an active tenant's, or
    /// one being terminated (its data is still returned).
    fn readable(&self, tenant: &TenantId) -> Result<&TenantKeys, VaultError> {
        match self.tenants.get(tenant) {
            Some(TenantEntry::Active(keys) | TenantEntry::Terminating(keys)) => Ok(keys),
            other => Err(unavailable(tenant, other)),
        }
    }

    fn active_mut(&mut self, tenant: &TenantId) -> Result<&mut TenantKeys, VaultError> {
        match self.tenants.get_mut(tenant) {
            Some(TenantEntry::Active(keys)) => Ok(keys),
            other => Err(unavailable(tenant, other.map(|entry| &*entry))),
        }
    }

    fn insert_new(&mut self, tenant: &TenantId, keys: TenantKeys) -> Result<(), VaultError> {
        match self.tenants.get(tenant) {
            Some(TenantEntry::Active(_)) => Err(VaultError::TenantExists {
                tenant: tenant.clone(),
            }),
            Some(TenantEntry::Terminating(_)) => Err(VaultError::TenantTerminating {
                tenant: tenant.clone(),
            }),
            Some(TenantEntry::Shredded) => Err(VaultError::KeyShredded {
                tenant: tenant.clone(),
            }),
            None => {
                self.tenants
                    .insert(tenant.clone(), TenantEntry::Active(keys));
                Ok(())
            }
        }
    }

    fn add_managed(&mut self, tenant: &TenantId) -> Result<(), VaultError> {
        let keys = TenantKeys {
            keks: BTreeMap::from([(1, Kek::generate()?)]),
            sealing: Sealing::Managed { version: 1 },
            index_key: IndexKey::generate()?,
        };
        self.insert_new(tenant, keys)
    }

    /// The sender key, created if this keyring predates sender keys.
    fn ensure_sender(&mut self) -> Result<&SenderKey, VaultError> {
        if self.sender.is_none() {
            self.sender = Some(SenderKey::generate()?);
        }
        self.sender.as_ref().ok_or(VaultError::SenderKeyMissing)
    }

    fn add_client(&mut self, tenant: &TenantId, public_key: [u8; 32]) -> Result<(), VaultError> {
        self.ensure_sender()?;
        let keys = TenantKeys {
            keks: BTreeMap::new(),
            sealing: Sealing::Client { public_key },
            index_key: IndexKey::generate()?,
        };
        self.insert_new(tenant, keys)
    }

    fn rotate(&mut self, tenant: &TenantId) -> Result<u32, VaultError> {
        let keys = self.active_mut(tenant)?;
        if let Sealing::Client { .. } = keys.sealing {
            return Err(VaultError::NotManaged {
                tenant: tenant.clone(),
            });
        }
        let version = keys
            .keks
            .keys()
            .next_back()
            .map_or(Some(1), |latest| latest.checked_add(1))
            .ok_or(VaultError::Crypto("KEK version space exhausted"))?;
        keys.keks.insert(version, Kek::generate()?);
        keys.sealing = Sealing::Managed { version };
        Ok(version)
    }

    /// Active → terminating; a tenant already terminating or shredded stays
    /// as it is, so a termination run again goes on.
    fn begin_termination(&mut self, tenant: &TenantId) -> Result<(), VaultError> {
        match self.tenants.remove(tenant) {
            Some(TenantEntry::Active(keys)) => {
                self.tenants
                    .insert(tenant.clone(), TenantEntry::Terminating(keys));
                Ok(())
            }
            Some(other) => {
                self.tenants.insert(tenant.clone(), other);
                Ok(())
            }
            None => Err(VaultError::UnknownTenant {
                tenant: tenant.clone(),
            }),
        }
    }

    fn shred(&mut self, tenant: &TenantId) -> Result<(), VaultError> {
        match self.tenants.get(tenant) {
            Some(TenantEntry::Active(_) | TenantEntry::Terminating(_) | TenantEntry::Shredded) => {
                self.tenants.insert(tenant.clone(), TenantEntry::Shredded);
                Ok(())
            }
            None => Err(VaultError::UnknownTenant {
                tenant: tenant.clone(),
            }),
        }
    }
}

/// Why a tenant's keys cannot serve: being terminated (nothing new is
/// sealed), shredded (a tombstone is left) or never added.
fn unavailable(tenant: &TenantId, entry: Option<&TenantEntry>) -> VaultError {
    let tenant = tenant.clone();
    match entry {
        Some(TenantEntry::Terminating(_)) => VaultError::TenantTerminating { tenant },
        Some(_) => VaultError::KeyShredded { tenant },
        None => VaultError::UnknownTenant { tenant },
    }
}

/// The keyring of one node, backed by its sealed file.
pub struct Keyring {
    path: PathBuf,
    master: MasterKey,
    state: KeyringState,
}

impl Keyring {
    /// Creates a new, empty keyring file. Fails if one exists at `path`.
    pub fn init(path: &Path, master: MasterKey) -> Result<Self, VaultError> {
        if path.exists() {
            return Err(VaultError::KeyringExists {
                path: path.to_owned(),
            });
        }
        let keyring = Keyring {
            path: path.to_owned(),
            master,
            state: KeyringState {
                sender: Some(SenderKey::generate()?),
                ..KeyringState::default()
            },
        };
        store::seal_to_file(
            &keyring.path,
            &keyring.master,
            &encode_state(&keyring.state)?,
        )?;
        Ok(keyring)
    }

    /// Opens an existing keyring file.
    pub fn open(path: &Path, master: MasterKey) -> Result<Self, VaultError> {
        let state = read_state(path, &master)?;
        Ok(Keyring {
            path: path.to_owned(),
            master,
            state,
        })
    }

    /// For the embedded default configuration: in `dir`, uses `master.key`
    /// (created with mode 0600 if missing) and `keyring.grk` (created if
    /// missing). Not for production, where the master key should live apart
    /// from the keyring.
    pub fn dev_default(dir: &Path) -> Result<Self, VaultError> {
        create_private_dir(dir)?;
        let key_path = dir.join("master.key");
        let master = if key_path.exists() {
            MasterKey::from_file(&key_path)?
        } else {
            MasterKey::generate_file(&key_path)?
        };
        let keyring_path = dir.join("keyring.grk");
        if keyring_path.exists() {
            Keyring::open(&keyring_path, master)
        } else {
            Keyring::init(&keyring_path, master)
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Re-reads the file, picking up changes made by another process.
    pub fn reload(&mut self) -> Result<(), VaultError> {
        self.state = read_state(&self.path, &self.master)?;
        Ok(())
    }

    /// Seals the keyring under `new_master` from now on (the file is
    /// replaced atomically: it opens with one key or the other, never with
    /// neither). Every tenant key stays as it is, so no object changes.
    pub fn reseal(&mut self, new_master: MasterKey) -> Result<(), VaultError> {
        let current = read_state(&self.path, &self.master)?;
        store::seal_to_file(&self.path, &new_master, &encode_state(&current)?)?;
        self.state = current;
        self.master = new_master;
        Ok(())
    }

    /// Adds a tenant whose keys the gateway manages (KEK version 1).
    pub fn add_managed_tenant(&mut self, tenant: &TenantId) -> Result<(), VaultError> {
        self.update(|state| state.add_managed(tenant))
    }

    /// Adds a tenant whose objects are sealed to its own X25519 public key.
    pub fn add_client_tenant(
        &mut self,
        tenant: &TenantId,
        public_key: [u8; 32],
    ) -> Result<(), VaultError> {
        validate_public_key(&public_key)?;
        self.update(|state| state.add_client(tenant, public_key))
    }

    /// Seals the tenant's new objects to `public_key` from now on; objects
    /// already written with a KEK stay readable with it.
    pub fn set_client_key(
        &mut self,
        tenant: &TenantId,
        public_key: [u8; 32],
    ) -> Result<(), VaultError> {
        validate_public_key(&public_key)?;
        self.update(|state| {
            state.ensure_sender()?;
            state.active_mut(tenant)?.sealing = Sealing::Client { public_key };
            Ok(())
        })
    }

    /// The public key of the gateway's HPKE sender key, which clients
    /// configure to accept this gateway's client-mode objects; the pair is
    /// created (and written) if this keyring predates sender keys.
    pub fn ensure_sender_key(&mut self) -> Result<[u8; 32], VaultError> {
        if let Some(sender) = &self.state.sender {
            return sender.public_key();
        }
        self.update(|state| state.ensure_sender()?.public_key())
    }

    /// The public key of the gateway's sender key, if the keyring has one.
    pub fn sender_public_key(&self) -> Result<Option<[u8; 32]>, VaultError> {
        self.state
            .sender
            .as_ref()
            .map(SenderKey::public_key)
            .transpose()
    }

    /// Creates a new KEK version used for the tenant's new objects; older
    /// versions stay available for reading. Returns the new version.
    pub fn rotate(&mut self, tenant: &TenantId) -> Result<u32, VaultError> {
        self.update(|state| state.rotate(tenant))
    }

    /// Starts a tenant's termination: from now on nothing new is sealed for
    /// it, while its stored objects still open (to be returned to it).
    /// Ends with [`Keyring::shred`].
    pub fn begin_termination(&mut self, tenant: &TenantId) -> Result<(), VaultError> {
        self.update(|state| state.begin_termination(tenant))
    }

    /// Crypto-shredding: destroys every KEK version and the blind index key
    /// of `tenant`. Its objects, wherever copies of them live, can no longer
    /// be decrypted with this keyring.
    pub fn shred(&mut self, tenant: &TenantId) -> Result<(), VaultError> {
        self.update(|state| state.shred(tenant))
    }

    /// The key to seal a new object of `tenant` with.
    pub fn sealing_key(&self, tenant: &TenantId) -> Result<TenantKey, VaultError> {
        let keys = self.state.active(tenant)?;
        match &keys.sealing {
            Sealing::Managed { version } => {
                let kek = keys
                    .keks
                    .get(version)
                    .ok_or_else(|| VaultError::KeyNotFound {
                        tenant: tenant.clone(),
                        version: *version,
                    })?;
                Ok(TenantKey::Managed {
                    version: *version,
                    kek: kek.clone(),
                })
            }
            Sealing::Client { public_key } => Ok(TenantKey::Client {
                public_key: *public_key,
                sender: self
                    .state
                    .sender
                    .clone()
                    .ok_or(VaultError::SenderKeyMissing)?,
            }),
        }
    }

    pub fn index_key(&self, tenant: &TenantId) -> Result<IndexKey, VaultError> {
        Ok(self.state.active(tenant)?.index_key.clone())
    }

    /// The key of `tenant`'s subject index; `None` for a client-mode
    /// tenant, which has no index the gateway could search
    /// (docs/subject-requests.md).
    pub fn subject_index_key(&self, tenant: &TenantId) -> Result<Option<IndexKey>, VaultError> {
        let keys = self.state.active(tenant)?;
        Ok(match keys.sealing {
            Sealing::Managed { .. } => Some(keys.index_key.clone()),
            Sealing::Client { .. } => None,
        })
    }

    /// The blind index of a phone number for `tenant`'s subject index;
    /// refused for a client-mode tenant, which has none.
    pub fn blind_index(&self, tenant: &TenantId, e164: &str) -> Result<String, VaultError> {
        let index_key =
            self.subject_index_key(tenant)?
                .ok_or_else(|| VaultError::ClientKeyRequired {
                    tenant: tenant.clone(),
                })?;
        blind_index(&index_key, e164)
    }

    pub fn tenants(&self) -> Vec<(TenantId, TenantStatus)> {
        self.state
            .tenants
            .iter()
            .map(|(tenant, entry)| {
                let status = match entry {
                    TenantEntry::Active(keys) => TenantStatus::Active {
                        sealing: keys.sealing.clone(),
                        kek_versions: keys.keks.keys().copied().collect(),
                    },
                    TenantEntry::Terminating(keys) => TenantStatus::Terminating {
                        sealing: keys.sealing.clone(),
                        kek_versions: keys.keks.keys().copied().collect(),
                    },
                    TenantEntry::Shredded => TenantStatus::Shredded,
                };
                (tenant.clone(), status)
            })
            .collect()
    }

    /// Applies `change` to the file's current contents, writes the result,
    /// then adopts it; on any error neither the file nor memory changes.
    fn update<T>(
        &mut self,
        change: impl FnOnce(&mut KeyringState) -> Result<T, VaultError>,
    ) -> Result<T, VaultError> {
        let mut next = read_state(&self.path, &self.master)?;
        let result = change(&mut next)?;
        store::seal_to_file(&self.path, &self.master, &encode_state(&next)?)?;
        self.state = next;
        Ok(result)
    }
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring")
            .field("path", &self.path)
            .field("tenants", &self.state.tenants.len())
            .finish()
    }
}

impl DataKeyResolver for Keyring {
    fn data_key(&self, header: &Header) -> Result<DataKey, VaultError> {
        let tenant = header.tenant();
        let keys = self.state.readable(tenant)?;
        unwrap_managed(header, |version| {
            keys.keks
                .get(&version)
                .cloned()
                .ok_or_else(|| VaultError::KeyNotFound {
                    tenant: tenant.clone(),
                    version,
                })
        })
    }
}

fn read_state(path: &Path, master: &MasterKey) -> Result<KeyringState, VaultError> {
    let plaintext = store::open_file(path, master)?;
    decode_state(&plaintext).map_err(|reason| VaultError::KeyringMalformed {
        path: path.to_owned(),
        reason,
    })
}

/// A trial seal catches keys HPKE would refuse (the zero point and other
/// small-order points) when the tenant is configured rather than per object.
fn validate_public_key(public_key: &[u8; 32]) -> Result<(), VaultError> {
    let probe = ObjectParams::new(
        TenantId::new("probe")?,
        uuid::Uuid::nil(),
        ObjectKind::Recording,
    );
    client::seal_dek(
        public_key,
        &SenderKey::generate()?,
        &DataKey::generate()?,
        &probe,
    )
    .map(|_| ())
    .map_err(|_| VaultError::InvalidPublicKey)
}

fn create_private_dir(dir: &Path) -> Result<(), VaultError> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .map_err(|e| VaultError::io("cannot create key directory", dir, e))
}
