//! API keys: given once, stored only as Argon2id hashes.
//!
//! A key reads `gek_<id>_<secret>`: the id finds the one stored hash to
//! check, so a request costs one Argon2 verification, not one per key. The
//! file is re-read when it changes, so keys added or revoked take effect
//! without a restart.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use anyhow::{bail, Context};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

const PREFIX: &str = "gek";

/// One stored key.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct StoredKey {
    pub id: String,
    pub name: String,
    /// PHC string of the secret's Argon2id hash.
    pub hash: String,
    pub created: String,
}

/// Argon2id with RFC 9106's second recommended option (64 MiB, 3 passes,
/// 4 lanes): memory-hard enough for secrets that are already random.
fn hasher() -> Argon2<'static> {
    let params = Params::new(64 * 1024, 3, 4, None).expect("RFC 9106 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

pub fn read(path: &Path) -> anyhow::Result<Vec<StoredKey>> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .with_context(|| format!("{}: not a key file", path.display())),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(error) => Err(error).with_context(|| format!("reading {}", path.display())),
    }
}

fn write(path: &Path, keys: &[StoredKey]) -> anyhow::Result<()> {
    let text = serde_json::to_vec_pretty(keys)?;
    let temporary = path.with_extension("tmp");
    std::fs::write(&temporary, text).with_context(|| format!("writing {}", temporary.display()))?;
    std::fs::rename(&temporary, path).with_context(|| format!("replacing {}", path.display()))
}

fn random_hex(bytes: usize) -> anyhow::Result<String> {
    let mut buffer = Zeroizing::new(vec![0u8; bytes]);
    getrandom::fill(&mut buffer).map_err(|_| anyhow::anyhow!("no randomness"))?;
    Ok(hex::encode(&*buffer))
}

/// Creates a key named `name`, stores its hash, and returns the key: the
/// only time it is ever shown.
pub fn create(path: &Path, name: &str) -> anyhow::Result<Zeroizing<String>> {
    if name.trim().is_empty() {
        bail!("a key needs a name");
    }
    let mut keys = read(path)?;
    let id = random_hex(6)?;
    let secret = Zeroizing::new(random_hex(24)?);
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    let hash = hasher()
        .hash_password(secret.as_bytes(), &salt)
        .map_err(|error| anyhow::anyhow!("hashing the key: {error}"))?
        .to_string();
    keys.push(StoredKey {
        id: id.clone(),
        name: name.trim().to_owned(),
        hash,
        created: chrono::Utc::now().to_rfc3339(),
    });
    write(path, &keys)?;
    Ok(Zeroizing::new(format!("{PREFIX}_{id}_{}", &*secret)))
}

/// Removes the key `id`; an unknown id is an error.
pub fn revoke(path: &Path, id: &str) -> anyhow::Result<()> {
    let mut keys = read(path)?;
    let before = keys.len();
    keys.retain(|key| key.id != id);
    if keys.len() == before {
        bail!("no key with id `{id}`");
    }
    write(path, &keys)
}

/// The keys file as the server checks it, re-read when its modification
/// time changes.
pub struct KeyFile {
    path: PathBuf,
    cached: Mutex<(Option<SystemTime>, Vec<StoredKey>)>,
}

impl KeyFile {
    pub fn new(path: PathBuf) -> Self {
        KeyFile {
            path,
            cached: Mutex::new((None, Vec::new())),
        }
    }

    fn current(&self) -> Vec<StoredKey> {
        let modified = std::fs::metadata(&self.path)
            .and_then(|meta| meta.modified())
            .ok();
        let mut cached = self.cached.lock().unwrap_or_else(|e| e.into_inner());
        if cached.0 != modified || modified.is_none() {
            match read(&self.path) {
                Ok(keys) => *cached = (modified, keys),
                // A half-written or broken file keeps the last good keys; the
                // operator's tool writes by rename, so this is a hand edit.
                Err(error) => {
                    tracing::warn!("key file unreadable, keeping the last one: {error:#}")
                }
            }
        }
        cached.1.clone()
    }

    /// The id of the key `presented` is, if it is a valid key.
    pub fn check(&self, presented: &str) -> Option<String> {
        let rest = presented.strip_prefix(PREFIX)?.strip_prefix('_')?;
        let (id, secret) = rest.split_once('_')?;
        let stored = self.current().into_iter().find(|key| key.id == id)?;
        let hash = PasswordHash::new(&stored.hash).ok()?;
        hasher()
            .verify_password(secret.as_bytes(), &hash)
            .ok()
            .map(|()| stored.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_created_key_is_accepted_until_revoked_and_never_stored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.json");
        let key = create(&path, "gateway").unwrap();
        let stored = std::fs::read_to_string(&path).unwrap();
        let secret = key.rsplit('_').next().unwrap();
        assert!(!stored.contains(secret), "the secret is not in the file");
        assert!(stored.contains("$argon2id$"));

        let file = KeyFile::new(path.clone());
        let id = file.check(&key).expect("the key is accepted");
        assert!(file.check(&format!("{}x", &*key)).is_none());
        assert!(file.check("gek_nope_nope").is_none());
        assert!(file.check("Bearer whatever").is_none());

        revoke(&path, &id).unwrap();
        // The modification time may not move within the file system's
        // granularity; a fresh reader sees the file as it is now.
        assert!(KeyFile::new(path.clone()).check(&key).is_none());
        assert!(revoke(&path, &id).is_err());
    }
}
