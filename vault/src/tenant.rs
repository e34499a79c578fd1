//! Tenant identifiers as they appear in object headers and storage paths.

use std::fmt;

use crate::error::VaultError;

/// Longest tenant id accepted: it is stored with a one-byte length and used
/// as a path component.
pub const MAX_TENANT_ID_LEN: usize = 64;

/// A validated tenant id: 1 to 64 ASCII letters, digits, `-`, `_` or `.`,
/// not starting with `.`, so it is always a safe single path component.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TenantId(String);

impl TenantId {
    pub fn new(id: &str) -> Result<Self, VaultError> {
        Self::validate(id.as_bytes())?;
        Ok(TenantId(id.to_owned()))
    }

    pub(crate) fn from_bytes(bytes: &[u8]) -> Result<Self, VaultError> {
        Self::validate(bytes)?;
        let id =
            std::str::from_utf8(bytes).map_err(|_| VaultError::InvalidTenantId("not ASCII"))?;
        Ok(TenantId(id.to_owned()))
    }

    fn validate(bytes: &[u8]) -> Result<(), VaultError> {
        if bytes.is_empty() {
            return Err(VaultError::InvalidTenantId("empty"));
        }
        if bytes.len() > MAX_TENANT_ID_LEN {
            return Err(VaultError::InvalidTenantId("longer than 64 bytes"));
        }
        if bytes.first() == Some(&b'.') {
            return Err(VaultError::InvalidTenantId("starts with '.'"));
        }
        let allowed = |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.');
        if !bytes.iter().all(allowed) {
            return Err(VaultError::InvalidTenantId(
                "only ASCII letters, digits, '-', '_' and '.' are allowed",
            ));
        }
        Ok(())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TenantId({})", self.0)
    }
}

impl std::str::FromStr for TenantId {
    type Err = VaultError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TenantId::new(s)
    }
}

impl serde::Serialize for TenantId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for TenantId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let id = String::deserialize(deserializer)?;
        TenantId::new(&id).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_path_safe_ids() {
        for id in ["acme", "Acme-2", "a.b_c", "0"] {
            assert_eq!(
                TenantId::new(id).map(|t| t.to_string()).ok(),
                Some(id.to_owned())
            );
        }
    }

    #[test]
    fn rejects_ids_that_are_not_a_single_safe_path_component() {
        let too_long = "a".repeat(MAX_TENANT_ID_LEN + 1);
        for id in [
            "",
            ".",
            "..",
            ".hidden",
            "a/b",
            "a b",
            "é",
            too_long.as_str(),
        ] {
            assert!(
                matches!(TenantId::new(id), Err(VaultError::InvalidTenantId(_))),
                "{id:?} accepted"
            );
        }
    }
}
