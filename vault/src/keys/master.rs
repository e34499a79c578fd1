//! Loading the node master key, which seals the keyring file at rest.

use std::io::Write;
use std::path::Path;

use base64::Engine;
use zeroize::Zeroizing;

use crate::error::VaultError;
use crate::keys::secret::{MasterKey, KEY_LEN};

const ACCEPTED: &str = "expected 32 raw bytes, 64 hex digits, or base64 of 32 bytes";

impl MasterKey {
    /// Reads the key from a file holding 32 raw bytes, 64 hex digits or base64
    /// (whitespace around text forms is ignored). On Unix the file must not be
    /// accessible by group or others.
    pub fn from_file(path: &Path) -> Result<Self, VaultError> {
        check_owner_only(path)?;
        let contents = Zeroizing::new(
            std::fs::read(path)
                .map_err(|e| VaultError::io("cannot read master key file", path, e))?,
        );
        Self::parse(&contents, &format!("file {}", path.display()))
    }

    /// Reads the key from environment variable `var` (hex or base64; 32 raw
    /// bytes are accepted too).
    pub fn from_env(var: &str) -> Result<Self, VaultError> {
        let value = std::env::var_os(var).ok_or_else(|| VaultError::MasterKeyMissing {
            var: var.to_owned(),
        })?;
        let bytes = Zeroizing::new(value.into_encoded_bytes());
        Self::parse(&bytes, &format!("environment variable {var}"))
    }

    /// Parses the accepted encodings; `origin` names where the bytes came from
    /// in errors (never the bytes themselves).
    pub fn parse(bytes: &[u8], origin: &str) -> Result<Self, VaultError> {
        let invalid = |reason| VaultError::MasterKeyInvalid {
            origin: origin.to_owned(),
            reason,
        };
        if let Ok(raw) = <[u8; KEY_LEN]>::try_from(bytes) {
            return Ok(MasterKey::from_bytes(raw));
        }
        let text = bytes.trim_ascii();
        if text.is_empty() {
            return Err(invalid("it is empty"));
        }
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        if text.len() == 2 * KEY_LEN && hex::decode_to_slice(text, key.as_mut_slice()).is_ok() {
            return Ok(MasterKey::from_bytes(*key));
        }
        let engines = [
            &base64::engine::general_purpose::STANDARD,
            &base64::engine::general_purpose::STANDARD_NO_PAD,
            &base64::engine::general_purpose::URL_SAFE,
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        ];
        for engine in engines {
            if let Ok(decoded) = engine.decode(text).map(Zeroizing::new) {
                return match <[u8; KEY_LEN]>::try_from(decoded.as_slice()) {
                    Ok(raw) => Ok(MasterKey::from_bytes(raw)),
                    Err(_) => Err(invalid("base64 does not decode to 32 bytes")),
                };
            }
        }
        Err(invalid(ACCEPTED))
    }

    /// Generates a key and writes it, base64-encoded, to a new file readable by
    /// its owner only. Fails if the file exists.
    pub fn generate_file(path: &Path) -> Result<Self, VaultError> {
        let key = MasterKey::generate()?;
        let mut text =
            Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(key.as_bytes()));
        text.push('\n');
        let mut file = owner_only_options()
            .create_new(true)
            .open(path)
            .map_err(|e| VaultError::io("cannot create master key file", path, e))?;
        file.write_all(text.as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(|e| VaultError::io("cannot write master key file", path, e))?;
        Ok(key)
    }
}

/// Options for a new file readable and writable by its owner only.
pub(crate) fn owner_only_options() -> std::fs::OpenOptions {
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
}

#[cfg(unix)]
fn check_owner_only(path: &Path) -> Result<(), VaultError> {
    use std::os::unix::fs::PermissionsExt;
    let metadata = std::fs::metadata(path)
        .map_err(|e| VaultError::io("cannot read master key file", path, e))?;
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(VaultError::MasterKeyPermissions {
            path: path.to_owned(),
            mode,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_owner_only(_path: &Path) -> Result<(), VaultError> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

    #[test]
    fn accepts_raw_hex_and_base64_forms_of_the_same_key() {
        let raw = [0xfbu8; KEY_LEN];
        let expected = MasterKey::from_bytes(raw);
        let forms: Vec<Vec<u8>> = vec![
            raw.to_vec(),
            hex::encode(raw).into_bytes(),
            format!("{}\n", STANDARD.encode(raw)).into_bytes(),
            URL_SAFE_NO_PAD.encode(raw).into_bytes(),
        ];
        for form in forms {
            assert_eq!(MasterKey::parse(&form, "test").unwrap(), expected);
        }
    }

    #[test]
    fn rejects_wrong_lengths_with_a_reason_and_without_the_value() {
        let short = STANDARD.encode([1u8; 16]);
        let error = MasterKey::parse(short.as_bytes(), "test").unwrap_err();
        assert!(matches!(error, VaultError::MasterKeyInvalid { .. }));
        assert!(!error.to_string().contains(&short));
        for bad in [&b""[..], b"  \n", b"not a key at all!"] {
            assert!(matches!(
                MasterKey::parse(bad, "test"),
                Err(VaultError::MasterKeyInvalid { .. })
            ));
        }
    }

    #[test]
    fn generated_file_is_owner_only_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        let key = MasterKey::generate_file(&path).unwrap();
        assert_eq!(MasterKey::from_file(&path).unwrap(), key);
        assert!(matches!(
            MasterKey::generate_file(&path),
            Err(VaultError::Io { .. })
        ));
    }

    #[cfg(unix)]
    #[test]
    fn refuses_a_key_file_readable_by_others() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        std::fs::write(&path, [7u8; KEY_LEN]).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            MasterKey::from_file(&path),
            Err(VaultError::MasterKeyPermissions { mode: 0o644, .. })
        ));
    }

    #[test]
    fn missing_environment_variable_is_named() {
        let error = MasterKey::from_env("GREFFIER_TEST_SURELY_UNSET_MASTER_KEY").unwrap_err();
        assert!(error
            .to_string()
            .contains("GREFFIER_TEST_SURELY_UNSET_MASTER_KEY"));
    }
}
