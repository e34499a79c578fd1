//! The vault as the configuration describes it: the object store of
//! `[storage]`, the keyring and master key of `[keys]`, the spool, and the
//! keys of every configured tenant.
//!
//! The gateway calls [`open`] at start, and [`ensure_tenants`] at start and,
//! through [`tenant_keys_preparer`], before each reloaded configuration is
//! published; the CLI uses the smaller pieces.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use anyhow::{anyhow, bail, Context};
use greffier_vault::audit::{AuditLog, SegmentPolicy};
use greffier_vault::spool::Spool;
use greffier_vault::store::{NodeId, VaultStore};
use greffier_vault::{Keyring, MasterKey, Sealing, TenantId, TenantKeys, TenantStatus};

use crate::config::{
    Config, ConfigErrors, ConfigProblem, KeysConfig, MasterKeySource, Prepare, S3Credentials,
    StorageBackend, StorageConfig, Tenant, TenantKeys as TenantKeyMode,
};

/// Everything a node needs to record calls.
pub struct Vault {
    pub store: VaultStore,
    /// Shared with the recorder; [`ensure_tenants`] and reloads write through it.
    pub keyring: Arc<RwLock<Keyring>>,
    pub spool: Arc<Spool>,
    /// The node's audit chain, in the spool until sealed into the store.
    pub audit: Arc<AuditLog>,
}

impl Vault {
    /// The keys as `RecordingWriter`, the spool and the upload queue take them.
    pub fn keys(&self) -> Arc<dyn TenantKeys> {
        self.keyring.clone()
    }
}

/// Opens the store, the keyring (created only when `keys.create_if_missing`
/// says so) and the spool. Tenants' keys are [`ensure_tenants`]' business.
pub async fn open(config: &Config) -> anyhow::Result<Vault> {
    open_with(config, None).await
}

/// As [`open`], with the master key already read when `master` is given (see
/// [`take_master_key_from_env`]).
pub async fn open_with(config: &Config, master: Option<MasterKey>) -> anyhow::Result<Vault> {
    let keyring = open_keyring_with(&config.keys, master)?;
    let store = open_store(&config.storage)?;
    let node = node_id(&config.node.id)?;
    let spool_dir = &config.storage.spool_dir;
    let spool = Spool::open(spool_dir, node)
        .await
        .with_context(|| format!("storage.spool_dir {}", spool_dir.display()))?;
    let audit = open_audit(config, &store).await?;
    Ok(Vault {
        store,
        keyring: Arc::new(RwLock::new(keyring)),
        spool,
        audit,
    })
}

/// The node's audit log: its unsealed entries live in `storage.spool_dir`,
/// its sealed segments in the store.
pub async fn open_audit(config: &Config, store: &VaultStore) -> anyhow::Result<Arc<AuditLog>> {
    let node = node_id(&config.node.id)?;
    let spool_dir = &config.storage.spool_dir;
    AuditLog::open(spool_dir, node, store.clone(), SegmentPolicy::default())
        .await
        .with_context(|| format!("audit log in storage.spool_dir {}", spool_dir.display()))
}

/// The node master key, from the file or the environment variable `[keys]` names.
pub fn load_master_key(keys: &KeysConfig) -> anyhow::Result<MasterKey> {
    match &keys.master_key {
        MasterKeySource::File(path) => MasterKey::from_file(path).context("keys.master_key_file"),
        MasterKeySource::Env(name) => MasterKey::from_env(name).context("keys.master_key_env"),
    }
}

/// When `[keys]` names an environment variable, reads the master key from it and
/// removes the variable from the process, so that neither child processes nor
/// `/proc/<pid>/environ` show it afterwards. Call it before any other thread
/// exists (see [`scrub_env_var`]).
pub fn take_master_key_from_env(keys: &KeysConfig) -> anyhow::Result<Option<MasterKey>> {
    let MasterKeySource::Env(name) = &keys.master_key else {
        return Ok(None);
    };
    let key = MasterKey::from_env(name);
    // Wiped even when the value does not parse: it may still be a key.
    scrub_env_var(name);
    key.map(Some).context("keys.master_key_env")
}

/// Removes variable `name` from the environment and wipes its bytes.
///
/// `std::env::remove_var` only unlinks the entry from `environ`; the kernel's
/// `/proc/<pid>/environ` shows the block the process started with, where the
/// `NAME=VALUE` bytes stay. So the entry is found with `getenv` first, unlinked,
/// then overwritten with zeros.
///
/// Sound only while no other thread reads or changes the environment: the
/// gateway calls it from `main` before the runtime starts its threads (edition
/// 2021 lets `remove_var` be called without `unsafe`, but the same rule holds).
fn scrub_env_var(name: &str) {
    let Ok(c_name) = std::ffi::CString::new(name) else {
        return;
    };
    // SAFETY: single-threaded here (see above), so the environment does not change
    // under getenv.
    let value = unsafe { libc::getenv(c_name.as_ptr()) };
    std::env::remove_var(name);
    if value.is_null() {
        return;
    }
    // SAFETY: getenv returned a pointer to the NUL-terminated VALUE of a
    // `NAME=VALUE` entry, so the `NAME=` bytes right before it belong to the same
    // entry (checked before writing). That entry lives in the initial environment
    // block on the stack, or in memory setenv allocated and never frees; unlinking
    // it above did not free it, and nothing else refers to it any more.
    unsafe {
        let value_len = libc::strlen(value);
        let prefix_len = name.len() + 1;
        let entry = value.sub(prefix_len).cast::<u8>();
        let prefix = std::slice::from_raw_parts(entry, prefix_len);
        if prefix.strip_suffix(b"=") == Some(name.as_bytes()) {
            std::ptr::write_bytes(entry, 0, prefix_len + value_len);
        }
    }
}

/// Opens the keyring; a missing file is created only with
/// `keys.create_if_missing = true`.
pub fn open_keyring(keys: &KeysConfig) -> anyhow::Result<Keyring> {
    open_keyring_with(keys, None)
}

fn open_keyring_with(keys: &KeysConfig, master: Option<MasterKey>) -> anyhow::Result<Keyring> {
    if keys.create_if_missing && !keys.keyring.exists() {
        tracing::info!(keyring = %keys.keyring.display(), "no keyring yet: creating it (keys.create_if_missing)");
        return init_keyring_with(keys, master);
    }
    open_existing_keyring_with(keys, master)
}

/// The key read ahead of time, else the one `[keys]` names.
fn master_key_or_load(keys: &KeysConfig, master: Option<MasterKey>) -> anyhow::Result<MasterKey> {
    match master {
        Some(master) => Ok(master),
        None => load_master_key(keys),
    }
}

/// Opens the keyring, which must exist.
pub fn open_existing_keyring(keys: &KeysConfig) -> anyhow::Result<Keyring> {
    open_existing_keyring_with(keys, None)
}

fn open_existing_keyring_with(
    keys: &KeysConfig,
    master: Option<MasterKey>,
) -> anyhow::Result<Keyring> {
    let path = &keys.keyring;
    if !path.exists() {
        bail!(
            "keyring {} does not exist; create it with `greffier keys init --config FILE` \
             (or set keys.create_if_missing = true on a development node)",
            path.display()
        );
    }
    let master = master_key_or_load(keys, master)?;
    Keyring::open(path, master).context("keys.keyring")
}

/// Creates a new, empty keyring (and its directory); refuses to
/// replace an existing one.
pub fn init_keyring(keys: &KeysConfig) -> anyhow::Result<Keyring> {
    init_keyring_with(keys, None)
}

fn init_keyring_with(keys: &KeysConfig, master: Option<MasterKey>) -> anyhow::Result<Keyring> {
    let path = &keys.keyring;
    if path.exists() {
        bail!(
            "keyring {} already exists; it is never overwritten, since that would make \
             every object sealed with it unreadable",
            path.display()
        );
    }
    if keys.create_if_missing {
        create_missing_master_key(keys)?;
    }
    let master = master_key_or_load(keys, master)?;
    // The keyring file itself is owner-only; its directory may be shared.
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the keyring directory {}", dir.display()))?;
    }
    Keyring::init(path, master).context("keys.keyring")
}

/// A development tree starts from nothing: with `keys.create_if_missing`, a master
/// key file that does not exist yet is generated (owner-only) next to the keyring
/// it seals. Production keys are provisioned, never generated here.
fn create_missing_master_key(keys: &KeysConfig) -> anyhow::Result<()> {
    let MasterKeySource::File(path) = &keys.master_key else {
        return Ok(());
    };
    if path.exists() {
        return Ok(());
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the directory of {}", path.display()))?;
    }
    tracing::info!(master_key = %path.display(), "no master key yet: generating one (keys.create_if_missing)");
    MasterKey::generate_file(path).context("keys.master_key_file")?;
    Ok(())
}

/// The object store of `[storage]`.
pub fn open_store(storage: &StorageConfig) -> anyhow::Result<VaultStore> {
    VaultStore::from_config(&store_config(storage)).context("storage")
}

/// `[storage]` in the vault crate's terms.
pub fn store_config(storage: &StorageConfig) -> greffier_vault::store::StoreConfig {
    use greffier_vault::store::{S3Config as VaultS3, S3Credentials as VaultCredentials};
    match &storage.backend {
        StorageBackend::Local { path } => {
            greffier_vault::store::StoreConfig::Local { path: path.clone() }
        }
        StorageBackend::S3(s3) => {
            let credentials = match &s3.credentials {
                S3Credentials::File(path) => VaultCredentials::File(path.clone()),
                S3Credentials::Environment => VaultCredentials::Environment,
            };
            let mut vault = VaultS3::new(&s3.endpoint.url, &s3.region, &s3.bucket, credentials);
            vault.path_style = s3.path_style;
            // The configuration only accepts a plain-HTTP endpoint with
            // `allow_http = true`, so its scheme says whether it was given.
            vault.allow_http = !s3.endpoint.secure;
            vault.conditional_create = s3.conditional_create;
            greffier_vault::store::StoreConfig::S3(vault)
        }
    }
}

/// `node.id` as object keys take it. Node ids are slugs of letters, digits
/// and inner `-`; keys use `-` as a separator, so it becomes `_` (no slug
/// has `_`, so two nodes never map to the same id).
pub fn node_id(id: &str) -> anyhow::Result<NodeId> {
    NodeId::new(&id.replace('-', "_")).with_context(|| format!("node.id {id:?}"))
}

/// A tenant id from text (a command line, a stored name).
pub fn tenant_id(id: impl AsRef<str>) -> anyhow::Result<TenantId> {
    let id = id.as_ref();
    TenantId::new(id).with_context(|| format!("tenant {id:?}"))
}

/// What [`ensure_tenant_keys`] did for one tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyChange {
    /// A managed tenant got its first key-encryption key (version 1).
    ManagedCreated,
    /// A client tenant's public key was registered.
    ClientRegistered,
    /// A client tenant's file names a new public key; new objects use it.
    ClientKeyReplaced,
    /// A managed tenant's file now says `client`: new objects are sealed to
    /// its public key, older ones stay readable with its KEKs.
    SwitchedToClient,
}

impl std::fmt::Display for KeyChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            KeyChange::ManagedCreated => "managed keys created (KEK version 1)",
            KeyChange::ClientRegistered => "client public key registered",
            KeyChange::ClientKeyReplaced => "client public key replaced",
            KeyChange::SwitchedToClient => {
                "switched from managed to client keys (older objects keep their KEKs)"
            }
        })
    }
}

/// Gives every configured tenant its keys in the shared keyring, after
/// re-reading it (another process may have rotated or shredded keys).
pub fn ensure_tenants(vault: &Vault, config: &Config) -> anyhow::Result<()> {
    tenant_keys_preparer(vault.keyring.clone())(config).map_err(|errors| anyhow!("{errors}"))
}

/// The reload hook: a configuration is published to the router only once
/// every tenant in it has its keys (managed keys created, or the client's
/// public key registered), so the first call of a tenant added at run time
/// is recorded. A tenant that cannot get keys rejects the reload, naming its
/// file, as at start.
pub fn tenant_keys_preparer(keyring: Arc<RwLock<Keyring>>) -> Prepare {
    Arc::new(move |config: &Config| {
        let problem = |file: &std::path::Path, key: &str, reason: String| ConfigProblem {
            file: file.to_path_buf(),
            key: key.to_string(),
            reason,
        };
        let mut keyring = keyring.write().map_err(|_| ConfigErrors {
            problems: vec![problem(
                &config.keys.keyring,
                "keys.keyring",
                "keyring lock poisoned by a panicked writer".to_string(),
            )],
        })?;
        // A keyring written before sender keys gets one here, so client-mode
        // tenants it already holds can be sealed for (HPKE auth mode).
        keyring
            .reload()
            .and_then(|()| keyring.ensure_sender_key().map(drop))
            .map_err(|error| ConfigErrors {
                problems: vec![problem(
                    &config.keys.keyring,
                    "keys.keyring",
                    format!("{error:#}"),
                )],
            })?;
        let (changes, problems) = ensure_each(&mut keyring, config.tenants());
        for (tenant, change) in changes {
            tracing::info!(%tenant, "{change}");
        }
        if problems.is_empty() {
            return Ok(());
        }
        Err(ConfigErrors {
            problems: problems
                .into_iter()
                .map(|(tenant, reason)| {
                    problem(&tenant.file, &format!("tenants.{}.keys", tenant.id), reason)
                })
                .collect(),
        })
    })
}

/// Brings the keyring in line with `tenants`: managed tenants get KEK
/// version 1 when they have none, client tenants get their public key
/// registered or refreshed. Every tenant is tried; the error names each one
/// that could not be served. A tenant is never moved from client back to
/// managed keys, and a shredded tenant is never given new keys.
pub fn ensure_tenant_keys(
    keyring: &mut Keyring,
    tenants: &[Tenant],
) -> anyhow::Result<Vec<(TenantId, KeyChange)>> {
    keyring
        .ensure_sender_key()
        .context("keys.keyring: the gateway sender key")?;
    let (changes, problems) = ensure_each(keyring, tenants);
    if !problems.is_empty() {
        let problems: Vec<String> = problems
            .iter()
            .map(|(tenant, reason)| format!("{}: {reason}", tenant.file.display()))
            .collect();
        bail!("{}", problems.join("; "));
    }
    Ok(changes)
}

/// A tenant whose keys could not be made ready, and why.
type TenantProblem<'a> = (&'a Tenant, String);

/// Every tenant tried: the changes made, and each tenant that could not be served.
fn ensure_each<'a>(
    keyring: &mut Keyring,
    tenants: &'a [Tenant],
) -> (Vec<(TenantId, KeyChange)>, Vec<TenantProblem<'a>>) {
    let known: BTreeMap<TenantId, TenantStatus> = keyring.tenants().into_iter().collect();
    let mut changes = Vec::new();
    let mut problems = Vec::new();
    for tenant in tenants {
        let id = &tenant.id;
        let result = ensure_one(keyring, id, &tenant.keys, known.get(id));
        match result {
            Ok(Some(change)) => changes.push((tenant.id.clone(), change)),
            Ok(None) => {}
            Err(error) => problems.push((tenant, format!("{error:#}"))),
        }
    }
    (changes, problems)
}

fn ensure_one(
    keyring: &mut Keyring,
    id: &TenantId,
    wanted: &TenantKeyMode,
    status: Option<&TenantStatus>,
) -> anyhow::Result<Option<KeyChange>> {
    let sealing = match status {
        None => None,
        Some(TenantStatus::Active { sealing, .. }) => Some(sealing),
        // Its calls are refused (docs/termination.md); a reload or a start
        // is not held up by it.
        Some(TenantStatus::Terminating { .. }) => return Ok(None),
        Some(TenantStatus::Shredded) => bail!(
            "tenant {id}: its keys were shredded, so nothing can be recorded for it any more; \
             remove its tenant file (a tenant id is never given keys again)"
        ),
    };
    let change = match (wanted, sealing) {
        (TenantKeyMode::Managed, None) => {
            keyring.add_managed_tenant(id)?;
            Some(KeyChange::ManagedCreated)
        }
        (TenantKeyMode::Managed, Some(Sealing::Managed { .. })) => None,
        (TenantKeyMode::Managed, Some(Sealing::Client { .. })) => bail!(
            "tenant {id}: keys.mode is \"managed\" but the keyring seals its objects to the \
             client's public key; a tenant is never moved from client back to managed keys, \
             set keys.mode = \"client\" and its public_key again"
        ),
        (TenantKeyMode::Client { public_key }, None) => {
            keyring
                .add_client_tenant(id, *public_key)
                .context("keys.public_key")?;
            Some(KeyChange::ClientRegistered)
        }
        (TenantKeyMode::Client { public_key }, Some(Sealing::Client { public_key: held })) => {
            if public_key == held {
                None
            } else {
                keyring
                    .set_client_key(id, *public_key)
                    .context("keys.public_key")?;
                Some(KeyChange::ClientKeyReplaced)
            }
        }
        (TenantKeyMode::Client { public_key }, Some(Sealing::Managed { .. })) => {
            keyring
                .set_client_key(id, *public_key)
                .context("keys.public_key")?;
            Some(KeyChange::SwitchedToClient)
        }
    };
    Ok(change)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use greffier_vault::store::{S3Credentials as VaultCredentials, StoreConfig};

    use super::*;
    use crate::config::{HttpEndpoint, S3Config};

    fn s3_storage(endpoint: &str, credentials: S3Credentials) -> StorageConfig {
        StorageConfig {
            backend: StorageBackend::S3(S3Config {
                endpoint: HttpEndpoint::parse(endpoint).unwrap(),
                region: "garage".to_string(),
                bucket: "greffier-recordings".to_string(),
                path_style: true,
                credentials,
                conditional_create: false,
            }),
            spool_dir: PathBuf::from("/var/lib/greffier/spool"),
        }
    }

    #[test]
    fn s3_settings_reach_the_store_config() {
        let file = PathBuf::from("/etc/greffier/s3.credentials");
        let storage = s3_storage("http://127.0.0.1:3900", S3Credentials::File(file.clone()));
        let StoreConfig::S3(s3) = store_config(&storage) else {
            panic!("not an S3 store");
        };
        assert_eq!(s3.endpoint, "http://127.0.0.1:3900");
        assert_eq!(
            (s3.region.as_str(), s3.bucket.as_str()),
            ("garage", "greffier-recordings")
        );
        assert!(s3.path_style && s3.allow_http && !s3.conditional_create);
        assert!(matches!(s3.credentials, VaultCredentials::File(path) if path == file));

        let storage = s3_storage("https://s3.example.net", S3Credentials::Environment);
        let StoreConfig::S3(s3) = store_config(&storage) else {
            panic!("not an S3 store");
        };
        assert!(!s3.allow_http);
        assert!(matches!(s3.credentials, VaultCredentials::Environment));
    }

    #[test]
    fn node_slugs_become_distinct_node_ids() {
        assert_eq!(node_id("paris-1").unwrap().as_str(), "paris_1");
        assert_eq!(node_id("local").unwrap().as_str(), "local");
        let long = "a".repeat(40);
        let error = node_id(&long).unwrap_err();
        assert!(format!("{error:#}").contains("node.id"));
    }
}
