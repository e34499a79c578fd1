//! `[keys]`: where the keyring and the node's master key come from. The
//! master key itself is never written in the configuration.

use std::path::PathBuf;

use serde::Deserialize;

use super::paths::{is_env_name, PathContext};
use super::problems::{Origin, Problems};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawKeys {
    keyring: String,
    master_key_file: Option<String>,
    master_key_env: Option<String>,
    #[serde(default)]
    create_if_missing: bool,
    /// Accepted by the parser only to refuse it with a clear reason.
    master_key: Option<toml::Value>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeysConfig {
    /// The tenants' key-encryption keys, sealed by the master key.
    pub keyring: PathBuf,
    pub master_key: MasterKeySource,
    /// Create an empty keyring at start when the file does not exist yet.
    /// Meant for development trees; in production a missing keyring is an
    /// error, since it usually means a wrong path or an unmounted volume, and
    /// a new keyring there would silently start a second set of keys.
    pub create_if_missing: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MasterKeySource {
    /// A file readable by the node only.
    File(PathBuf),
    /// The name of an environment variable holding the key.
    Env(String),
}

pub(crate) fn validate_keys(
    raw: RawKeys,
    origin: Origin<'_>,
    paths: &PathContext<'_>,
    problems: &mut Problems,
) -> Option<KeysConfig> {
    let before = problems.len();
    let file = origin.file;
    if raw.master_key.is_some() {
        problems.push(
            file,
            origin.key("master_key"),
            "the master key must never be written in the configuration; \
             name a file with master_key_file or a variable with master_key_env",
        );
    }
    let keyring = paths
        .resolve(&raw.keyring)
        .map_err(|reason| problems.push(file, origin.key("keyring"), reason))
        .ok();
    let master_key = match (raw.master_key_file, raw.master_key_env) {
        (Some(_), Some(_)) => {
            problems.push(
                file,
                origin.key("master_key_env"),
                "give master_key_file or master_key_env, not both",
            );
            None
        }
        // The literal key was reported above; asking for a source too would
        // only repeat it.
        (None, None) if raw.master_key.is_some() => None,
        (None, None) => {
            problems.push(
                file,
                origin.key("master_key_file"),
                "one of master_key_file or master_key_env is required",
            );
            None
        }
        (Some(path), None) if looks_like_key_material(&path) => {
            problems.push(
                file,
                origin.key("master_key_file"),
                "this looks like a key, not a path; put the key in a file and name the file",
            );
            None
        }
        (Some(path), None) => paths
            .resolve(&path)
            .map(MasterKeySource::File)
            .map_err(|reason| problems.push(file, origin.key("master_key_file"), reason))
            .ok(),
        (None, Some(name)) if looks_like_key_material(&name) || !is_env_name(&name) => {
            problems.push(
                file,
                origin.key("master_key_env"),
                "must be the name of an environment variable (A-Z, 0-9, `_`), never the key itself",
            );
            None
        }
        (None, Some(name)) => Some(MasterKeySource::Env(name)),
    };
    if problems.len() != before {
        return None;
    }
    Some(KeysConfig {
        keyring: keyring?,
        master_key: master_key?,
        create_if_missing: raw.create_if_missing,
    })
}

/// Long hexadecimal or base64 text: a key pasted where a name belongs.
fn looks_like_key_material(text: &str) -> bool {
    let long = text.len() >= 32;
    let hex = text.bytes().all(|b| b.is_ascii_hexdigit());
    let base64 = !text.contains(['/', '.', '_', '$'])
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'=' || b == b'-')
        && text.bytes().any(|b| b.is_ascii_digit());
    long && (hex || base64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_pasted_keys() {
        assert!(looks_like_key_material(&"ab12".repeat(16)));
        assert!(looks_like_key_material(
            "q3Jk8vX2mN5pL9sT1uW4yZ7aB0cD6eF8gH2iJ4kL6mA="
        ));
        assert!(!looks_like_key_material("GREFFIER_MASTER_KEY"));
        assert!(!looks_like_key_material("/etc/greffier/master.key"));
        assert!(!looks_like_key_material("dev-master.key"));
        assert!(!looks_like_key_material(
            "${CREDENTIALS_DIRECTORY}/greffier-master-key"
        ));
    }
}
