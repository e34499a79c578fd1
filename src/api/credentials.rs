//! Bearer tokens and console users, kept as Argon2id hashes in one JSON file
//! (`[admin] credentials_file`). The CLI writes it; the running gateway
//! reads it again whenever it changes, so a new or revoked token counts at
//! the next request.
//!
//! A token reads `grf_<id>_<secret>`: the id finds its entry without trying
//! every hash, the secret is what the hash protects.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{bail, Context};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine;
use chrono::{DateTime, Utc};
use greffier_vault::audit::Role;
use rand::RngCore;
use serde::{Deserialize, Serialize};

use crate::config::Argon2Params;

const TOKEN_PREFIX: &str = "grf_";
const TOKEN_ID_BYTES: usize = 6;
const TOKEN_SECRET_BYTES: usize = 32;
/// A password shorter than this is refused when a user is added.
pub const MIN_PASSWORD_CHARS: usize = 12;

/// Whose credential it is: the processor's operator, or a client role in a
/// tenant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Grant {
    /// `None` for the operator, who belongs to no tenant.
    pub tenant: Option<String>,
    #[schema(value_type = String, example = "admin")]
    #[serde(with = "role_name")]
    pub role: Role,
}

/// A stored token: never the token itself.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TokenEntry {
    pub id: String,
    pub name: String,
    #[serde(flatten)]
    pub grant: Grant,
    pub created: DateTime<Utc>,
    pub expires: Option<DateTime<Utc>>,
    /// Argon2id, PHC string.
    pub hash: String,
}

/// A console user: a name and a password, and the numbers that make a call
/// theirs (the `user` role sees only those calls).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct UserEntry {
    pub username: String,
    #[serde(flatten)]
    pub grant: Grant,
    #[serde(default)]
    pub numbers: Vec<String>,
    pub created: DateTime<Utc>,
    /// Argon2id, PHC string.
    pub hash: String,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Credentials {
    #[serde(default)]
    pub tokens: Vec<TokenEntry>,
    #[serde(default)]
    pub users: Vec<UserEntry>,
}

/// A token as given to its holder, split.
pub struct PresentedToken<'a> {
    pub id: &'a str,
    pub secret: &'a str,
}

impl<'a> PresentedToken<'a> {
    pub fn parse(text: &'a str) -> Option<Self> {
        let rest = text.strip_prefix(TOKEN_PREFIX)?;
        let (id, secret) = rest.split_once('_')?;
        let id_ok = id.len() == 2 * TOKEN_ID_BYTES && id.bytes().all(|b| b.is_ascii_hexdigit());
        (id_ok && !secret.is_empty() && secret.len() <= 128).then_some(Self { id, secret })
    }
}

/// A new token: the text shown once, and its entry.
pub struct IssuedToken {
    pub token: String,
    pub entry: TokenEntry,
}

impl Credentials {
    /// Reads the file; a missing file is an empty set.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .with_context(|| format!("{}: not a credentials file", path.display())),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(error) => Err(error).with_context(|| format!("cannot read {}", path.display())),
        }
    }

    /// Writes the file whole (owner-only), through a rename so that a
    /// reader never sees half of it.
    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        let json = serde_json::to_vec_pretty(self)?;
        write_private(path, &json)
    }

    pub fn token(&self, id: &str) -> Option<&TokenEntry> {
        self.tokens.iter().find(|token| token.id == id)
    }

    pub fn user(&self, username: &str) -> Option<&UserEntry> {
        self.users.iter().find(|user| user.username == username)
    }

    /// Creates a token for `grant`; its text is returned once.
    pub fn issue_token(
        &mut self,
        name: &str,
        grant: Grant,
        expires: Option<DateTime<Utc>>,
        params: &Argon2Params,
    ) -> anyhow::Result<IssuedToken> {
        check_name(name)?;
        if grant.role == Role::User {
            bail!(
                "the user role sees the calls of its own numbers: give it a console user \
                 (`greffier user add`), not a token"
            );
        }
        if self
            .tokens
            .iter()
            .any(|token| token.name == name && token.grant.tenant == grant.tenant)
        {
            bail!("a token named `{name}` exists already");
        }
        let mut id_bytes = [0u8; TOKEN_ID_BYTES];
        let mut secret_bytes = [0u8; TOKEN_SECRET_BYTES];
        rand::rng().fill_bytes(&mut id_bytes);
        rand::rng().fill_bytes(&mut secret_bytes);
        let id = hex::encode(id_bytes);
        let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret_bytes);
        let entry = TokenEntry {
            id: id.clone(),
            name: name.to_string(),
            grant,
            created: Utc::now(),
            expires,
            hash: hash_secret(&secret, params)?,
        };
        self.tokens.push(entry.clone());
        Ok(IssuedToken {
            token: format!("{TOKEN_PREFIX}{id}_{secret}"),
            entry,
        })
    }

    /// Removes a token; false when there was none by that id.
    pub fn revoke_token(&mut self, id: &str) -> bool {
        let before = self.tokens.len();
        self.tokens.retain(|token| token.id != id);
        self.tokens.len() != before
    }

    pub fn add_user(
        &mut self,
        username: &str,
        grant: Grant,
        numbers: Vec<String>,
        password: &str,
        params: &Argon2Params,
    ) -> anyhow::Result<UserEntry> {
        check_name(username)?;
        if self.user(username).is_some() {
            bail!("a user named `{username}` exists already");
        }
        if password.chars().count() < MIN_PASSWORD_CHARS {
            bail!("the password must have at least {MIN_PASSWORD_CHARS} characters");
        }
        let entry = UserEntry {
            username: username.to_string(),
            grant,
            numbers,
            created: Utc::now(),
            hash: hash_secret(password, params)?,
        };
        self.users.push(entry.clone());
        Ok(entry)
    }

    pub fn remove_user(&mut self, username: &str) -> bool {
        let before = self.users.len();
        self.users.retain(|user| user.username != username);
        self.users.len() != before
    }
}

impl TokenEntry {
    pub fn expired(&self, now: DateTime<Utc>) -> bool {
        self.expires.is_some_and(|expires| expires <= now)
    }
}

/// Names end up in audit entries: the audit's actor alphabet.
fn check_name(name: &str) -> anyhow::Result<()> {
    greffier_vault::audit::Actor::new(name).map_err(|error| {
        anyhow::anyhow!("`{name}`: a name is lowercase letters, digits, `.`, `_` or `-` ({error})")
    })?;
    Ok(())
}

fn hasher(params: &Argon2Params) -> anyhow::Result<Argon2<'static>> {
    let params = Params::new(
        params.memory_kib,
        params.iterations,
        params.parallelism,
        None,
    )
    .map_err(|error| anyhow::anyhow!("Argon2 parameters: {error}"))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Argon2id with a random salt, as a PHC string (which carries its own
/// parameters: changing the configuration keeps old hashes valid).
pub fn hash_secret(secret: &str, params: &Argon2Params) -> anyhow::Result<String> {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|error| anyhow::anyhow!("salt: {error}"))?;
    let hash = hasher(params)?
        .hash_password(secret.as_bytes(), &salt)
        .map_err(|error| anyhow::anyhow!("Argon2id: {error}"))?;
    Ok(hash.to_string())
}

/// Whether `secret` matches a stored PHC hash.
pub fn verify_secret(secret: &str, hash: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    Argon2::default()
        .verify_password(secret.as_bytes(), &parsed)
        .is_ok()
}

/// Writes `bytes` to `path` readable by the owner alone, atomically.
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let temporary = temporary_beside(path);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&temporary)
        .with_context(|| format!("cannot write {}", temporary.display()))?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&temporary, path)
        .with_context(|| format!("cannot replace {}", path.display()))?;
    Ok(())
}

fn temporary_beside(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".{}.tmp", std::process::id()));
    path.with_file_name(name)
}

/// The file's modification time and length: a change means reading it again.
pub(crate) fn file_stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

/// Role names as the API, the CLI and the files spell them.
pub mod role_name {
    use greffier_vault::audit::Role;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn as_str(role: Role) -> &'static str {
        match role {
            Role::System => "system",
            Role::Operator => "operator",
            Role::SuperAdmin => "super_admin",
            Role::Admin => "admin",
            Role::Supervisor => "supervisor",
            Role::User => "user",
        }
    }

    /// The client roles (a tenant's credentials).
    pub fn parse_client(text: &str) -> Option<Role> {
        match text {
            "super_admin" => Some(Role::SuperAdmin),
            "admin" => Some(Role::Admin),
            "supervisor" => Some(Role::Supervisor),
            "user" => Some(Role::User),
            _ => None,
        }
    }

    pub fn serialize<S: Serializer>(role: &Role, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(as_str(*role))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Role, D::Error> {
        let text = String::deserialize(deserializer)?;
        match text.as_str() {
            "operator" => Ok(Role::Operator),
            other => parse_client(other)
                .ok_or_else(|| serde::de::Error::custom(format!("unknown role `{other}`"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> Argon2Params {
        Argon2Params {
            memory_kib: 8,
            iterations: 1,
            parallelism: 1,
        }
    }

    #[test]
    fn an_issued_token_verifies_and_its_file_holds_no_secret() {
        let mut credentials = Credentials::default();
        let grant = Grant {
            tenant: Some("demo".into()),
            role: Role::Admin,
        };
        let issued = credentials
            .issue_token("ci", grant, None, &cheap())
            .unwrap();
        let presented = PresentedToken::parse(&issued.token).unwrap();
        let entry = credentials.token(presented.id).unwrap();
        assert!(verify_secret(presented.secret, &entry.hash));
        assert!(!verify_secret("wrong", &entry.hash));
        let json = serde_json::to_string(&credentials).unwrap();
        assert!(!json.contains(presented.secret));
        assert!(entry.hash.starts_with("$argon2id$"));
    }

    #[test]
    fn the_stand_in_hash_of_unknown_users_is_a_real_one() {
        // Otherwise a missing user would answer faster than a wrong password.
        assert!(PasswordHash::new(crate::api::auth::DUMMY_HASH).is_ok());
    }

    #[test]
    fn malformed_tokens_are_not_parsed() {
        for text in [
            "",
            "grf_",
            "grf_zz_secret",
            "abc_0123456789ab_x",
            "grf_0123456789ab_",
        ] {
            assert!(PresentedToken::parse(text).is_none(), "{text}");
        }
    }
}
