//! The keyring file at rest: `GRK1 || version || nonce(12) || AES-256-GCM`
//! under a key derived from the node master key, written atomically.

use std::io::Write;
use std::path::{Path, PathBuf};

use aes_gcm::aead::{AeadInOut, KeyInit, Nonce, Tag};
use aes_gcm::Aes256Gcm;
use zeroize::Zeroizing;

use crate::error::VaultError;
use crate::keys::master::owner_only_options;
use crate::keys::secret::{fill_random, hmac_sha256, MasterKey};

const MAGIC: [u8; 4] = *b"GRK1";
const VERSION: u8 = 1;
const PREFIX_LEN: usize = 5;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

fn cipher(master: &MasterKey) -> Result<Aes256Gcm, VaultError> {
    let key = Zeroizing::new(hmac_sha256(
        master.as_bytes(),
        &[b"greffier keyring seal", &[1]],
    )?);
    Aes256Gcm::new_from_slice(key.as_slice())
        .map_err(|_| VaultError::Crypto("keyring key rejected"))
}

/// Encrypts `plaintext` and replaces the file at `path` atomically.
pub(crate) fn seal_to_file(
    path: &Path,
    master: &MasterKey,
    plaintext: &[u8],
) -> Result<(), VaultError> {
    let mut nonce = [0u8; NONCE_LEN];
    fill_random(&mut nonce)?;
    let mut sealed = Vec::with_capacity(PREFIX_LEN + NONCE_LEN + plaintext.len() + TAG_LEN);
    sealed.extend_from_slice(&MAGIC);
    sealed.push(VERSION);
    sealed.extend_from_slice(&nonce);
    let body_start = sealed.len();
    sealed.extend_from_slice(plaintext);
    let (prefix, rest) = sealed.split_at_mut(body_start);
    let aad = prefix.get(..PREFIX_LEN).unwrap_or_default();
    let tag = cipher(master)?
        .encrypt_inout_detached(&Nonce::<Aes256Gcm>::from(nonce), aad, rest.into())
        .map_err(|_| VaultError::Crypto("keyring encryption failed"))?;
    sealed.extend_from_slice(&tag);
    write_atomic(path, &sealed)
}

/// Reads and decrypts the file at `path`.
pub(crate) fn open_file(path: &Path, master: &MasterKey) -> Result<Zeroizing<Vec<u8>>, VaultError> {
    let malformed = |reason| VaultError::KeyringMalformed {
        path: path.to_owned(),
        reason,
    };
    let mut sealed =
        std::fs::read(path).map_err(|e| VaultError::io("cannot read keyring", path, e))?;
    if sealed.len() < PREFIX_LEN + NONCE_LEN + TAG_LEN {
        return Err(malformed("file too short"));
    }
    if sealed.get(..4) != Some(&MAGIC[..]) {
        return Err(malformed("not a greffier keyring (bad magic)"));
    }
    if sealed.get(4) != Some(&VERSION) {
        return Err(malformed("unsupported keyring version"));
    }
    let (head, rest) = sealed.split_at_mut(PREFIX_LEN + NONCE_LEN);
    let (aad, nonce) = head.split_at(PREFIX_LEN);
    let nonce = Nonce::<Aes256Gcm>::try_from(nonce).map_err(|_| malformed("bad nonce"))?;
    let (body, tag) = rest.split_at_mut(rest.len() - TAG_LEN);
    let tag = Tag::<Aes256Gcm>::try_from(&*tag).map_err(|_| malformed("bad tag"))?;
    cipher(master)?
        .decrypt_inout_detached(&nonce, aad, body.into(), &tag)
        .map_err(|_| VaultError::KeyringUnsealFailed {
            path: path.to_owned(),
        })?;
    let plaintext = Zeroizing::new(body.to_vec());
    zeroize::Zeroize::zeroize(&mut sealed);
    Ok(plaintext)
}

/// Write to a temporary file beside `path`, fsync, rename over `path`, fsync
/// the directory: a crash leaves either the old file or the new one.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), VaultError> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path.file_name().ok_or_else(|| {
        VaultError::io(
            "invalid keyring path",
            path,
            std::io::ErrorKind::InvalidInput.into(),
        )
    })?;
    let mut suffix = [0u8; 8];
    fill_random(&mut suffix)?;
    let temp: PathBuf = dir.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        hex::encode(suffix)
    ));
    let written = (|| {
        let mut file = owner_only_options().create_new(true).open(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temp, path)?;
        sync_dir(dir)
    })();
    if let Err(error) = written {
        let _ = std::fs::remove_file(&temp);
        return Err(VaultError::io("cannot write keyring", path, error));
    }
    Ok(())
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> std::io::Result<()> {
    Ok(())
}
