//! Tenant ids: one rule for the configuration, object headers and storage
//! paths.

use std::fmt;

/// Longest slug: a DNS label's length, and well under the one-byte length
/// the object header stores it with.
pub const MAX_SLUG_LEN: usize = 63;

/// Why a text is not a slug. It does not quote the text, which may come from
/// an object header or a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("must be a lowercase slug: a-z, 0-9 and inner `-`, 1 to 63 characters")]
pub struct InvalidSlug;

/// Checks the slug rule: `a-z`, `0-9` and inner `-`, 1 to 63 characters.
/// Tenant ids and node ids follow it; it is always a safe single path
/// component and never needs quoting in a key or a label.
pub fn check_slug(text: &str) -> Result<(), InvalidSlug> {
    let bytes = text.as_bytes();
    let allowed = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-';
    let valid = (1..=MAX_SLUG_LEN).contains(&bytes.len())
        && bytes.iter().all(allowed)
        && bytes.first() != Some(&b'-')
        && bytes.last() != Some(&b'-');
    if valid {
        Ok(())
    } else {
        Err(InvalidSlug)
    }
}

/// A tenant id, valid by construction (see [`check_slug`]).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TenantId(String);

impl TenantId {
    pub fn new(id: &str) -> Result<Self, InvalidSlug> {
        check_slug(id)?;
        Ok(TenantId(id.to_owned()))
    }

    /// A tenant id read back from bytes (an object header).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, InvalidSlug> {
        let id = std::str::from_utf8(bytes).map_err(|_| InvalidSlug)?;
        TenantId::new(id)
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

impl AsRef<str> for TenantId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for TenantId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for TenantId {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for TenantId {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl PartialEq<TenantId> for str {
    fn eq(&self, other: &TenantId) -> bool {
        self == other.0
    }
}

impl PartialEq<TenantId> for &str {
    fn eq(&self, other: &TenantId) -> bool {
        *self == other.0
    }
}

impl std::str::FromStr for TenantId {
    type Err = InvalidSlug;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TenantId::new(s)
    }
}

impl From<TenantId> for String {
    fn from(id: TenantId) -> String {
        id.0
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
    use proptest::prelude::*;

    #[test]
    fn the_rule_as_a_table() {
        let longest = "a".repeat(MAX_SLUG_LEN);
        let too_long = "a".repeat(MAX_SLUG_LEN + 1);
        for (id, accepted) in [
            ("acme", true),
            ("node-1", true),
            ("0", true),
            ("a-b-c", true),
            (longest.as_str(), true),
            ("", false),
            ("Acme", false),
            ("-a", false),
            ("a-", false),
            ("-", false),
            ("a_b", false),
            ("a.b", false),
            (".", false),
            ("..", false),
            ("a/b", false),
            ("a b", false),
            ("é", false),
            (too_long.as_str(), false),
        ] {
            assert_eq!(TenantId::new(id).is_ok(), accepted, "{id:?}");
            assert_eq!(check_slug(id).is_ok(), accepted, "{id:?}");
        }
    }

    #[test]
    fn bytes_that_are_not_utf8_are_refused() {
        assert_eq!(TenantId::from_bytes(&[0xff, b'a']), Err(InvalidSlug));
        assert_eq!(
            TenantId::from_bytes(b"acme").map(String::from),
            Ok("acme".to_owned())
        );
    }

    #[test]
    fn serde_checks_the_rule() {
        assert!(serde_json::from_str::<TenantId>("\"../x\"").is_err());
        let id: TenantId = serde_json::from_str("\"acme\"").unwrap();
        assert_eq!(id, "acme");
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"acme\"");
    }

    proptest! {
        #[test]
        fn every_slug_is_a_safe_path_component(text in "\\PC{0,70}") {
            if let Ok(id) = TenantId::new(&text) {
                prop_assert!(!id.as_str().is_empty() && id.as_str().len() <= MAX_SLUG_LEN);
                prop_assert!(!id.as_str().contains(['/', '.', '\\', '_']));
                prop_assert!(!id.as_str().starts_with('-') && !id.as_str().ends_with('-'));
                prop_assert_eq!(id.as_str().to_lowercase(), id.as_str());
            }
        }

        #[test]
        fn generated_slugs_are_accepted(text in "[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?") {
            prop_assert!(TenantId::new(&text).is_ok());
        }
    }
}
