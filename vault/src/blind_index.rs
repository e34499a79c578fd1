//! Blind indexes: a phone number becomes `HMAC-SHA256(tenant index key,
//! E.164)`, so storage paths can group a data subject's records without
//! holding the number, and another tenant's index reveals nothing.

use crate::error::VaultError;
use crate::keys::secret::{hmac_sha256, IndexKey};

/// Lowercase hex of `HMAC-SHA256(index_key, e164)`. The number must be in
/// canonical E.164 form (`+` then 8 to 15 digits, the first not 0), so the
/// same subject always gets the same index.
pub fn blind_index(index_key: &IndexKey, e164: &str) -> Result<String, VaultError> {
    if !is_canonical_e164(e164) {
        return Err(VaultError::InvalidE164);
    }
    Ok(hex::encode(hmac_sha256(
        index_key.as_bytes(),
        &[e164.as_bytes()],
    )?))
}

/// The one E.164 rule of `greffier-types`.
pub(crate) fn is_canonical_e164(number: &str) -> bool {
    greffier_types::E164::new(number).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_hmac_sha256_of_the_number_in_hex() {
        // RFC 4231 test case 2 shape: a known key and message.
        let key = IndexKey::from_bytes([0x0b; 32]);
        let index = blind_index(&key, "+33612345678").unwrap();
        assert_eq!(index.len(), 64);
        assert!(index
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        assert_eq!(
            index,
            hex::encode(hmac_sha256(&[0x0b; 32], &[b"+33612345678"]).unwrap())
        );
        assert!(!index.contains("33612345678"));
    }

    #[test]
    fn differs_per_number_and_per_tenant_key() {
        let a = IndexKey::from_bytes([1; 32]);
        let b = IndexKey::from_bytes([2; 32]);
        let n1 = blind_index(&a, "+33612345678").unwrap();
        assert_eq!(n1, blind_index(&a, "+33612345678").unwrap());
        assert_ne!(n1, blind_index(&a, "+33612345679").unwrap());
        assert_ne!(n1, blind_index(&b, "+33612345678").unwrap());
    }

    #[test]
    fn rejects_non_canonical_numbers() {
        let key = IndexKey::from_bytes([1; 32]);
        for bad in [
            "",
            "+",
            "33612345678",
            "+0612345678",
            "+33 6 12",
            "+1234567890123456",
            "+33a",
        ] {
            assert!(
                matches!(blind_index(&key, bad), Err(VaultError::InvalidE164)),
                "{bad:?}"
            );
        }
    }
}
