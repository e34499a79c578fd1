//! 256-bit secrets. Each role gets its own type so a key-encryption key can
//! never be passed where a data key is expected; all are zeroized on drop and
//! never printed.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::error::VaultError;

pub(crate) const KEY_LEN: usize = 32;

/// Fills `buf` from the operating system's CSPRNG.
pub(crate) fn fill_random(buf: &mut [u8]) -> Result<(), VaultError> {
    getrandom::fill(buf).map_err(|_| VaultError::Random)
}

/// HMAC-SHA256 over the concatenation of `parts`.
pub(crate) fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> Result<[u8; 32], VaultError> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key)
        .map_err(|_| VaultError::Crypto("HMAC key rejected"))?;
    for part in parts {
        mac.update(part);
    }
    Ok(mac.finalize().into_bytes().into())
}

/// Constant-time check of an HMAC-SHA256 tag.
pub(crate) fn hmac_sha256_verify(key: &[u8], data: &[u8], tag: &[u8]) -> Result<bool, VaultError> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key)
        .map_err(|_| VaultError::Crypto("HMAC key rejected"))?;
    mac.update(data);
    Ok(mac.verify_slice(tag).is_ok())
}

macro_rules! secret_key {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq, zeroize::Zeroize, zeroize::ZeroizeOnDrop)]
        pub struct $name([u8; KEY_LEN]);

        impl $name {
            /// A fresh key from the operating system's CSPRNG.
            pub fn generate() -> Result<Self, VaultError> {
                let mut key = Self([0; KEY_LEN]);
                fill_random(&mut key.0)?;
                Ok(key)
            }

            pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
                Self(bytes)
            }

            pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
                &self.0
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(concat!(stringify!($name), "(<secret>)"))
            }
        }
    };
}

secret_key!(
    /// Per-object data key (DEK): fresh for every object, stored only wrapped.
    DataKey
);
secret_key!(
    /// A tenant's key-encryption key (KEK) of one version.
    Kek
);
secret_key!(
    /// A tenant's key for blind indexes of phone numbers.
    IndexKey
);
secret_key!(
    /// The node master key that seals the keyring file.
    MasterKey
);

impl DataKey {
    /// HKDF-Expand-SHA256(PRK = DEK, info, 32), which for one output block is
    /// `HMAC-SHA256(DEK, info || 0x01)`. Separate subkeys keep the header MAC
    /// and the chunk cipher from sharing a key.
    fn expand(&self, info: &[u8]) -> Result<[u8; KEY_LEN], VaultError> {
        hmac_sha256(&self.0, &[info, &[1]])
    }

    pub(crate) fn payload_key(&self) -> Result<zeroize::Zeroizing<[u8; KEY_LEN]>, VaultError> {
        self.expand(b"greffier grf1 payload")
            .map(zeroize::Zeroizing::new)
    }

    pub(crate) fn header_mac_key(&self) -> Result<zeroize::Zeroizing<[u8; KEY_LEN]>, VaultError> {
        self.expand(b"greffier grf1 header mac")
            .map(zeroize::Zeroizing::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_differ_and_debug_hides_them() {
        let a = Kek::generate().unwrap();
        let b = Kek::generate().unwrap();
        assert_ne!(a, b);
        let shown = format!("{a:?}");
        assert_eq!(shown, "Kek(<secret>)");
    }

    #[test]
    fn subkeys_are_distinct_and_match_hkdf_expand() {
        let dek = DataKey::from_bytes([7; KEY_LEN]);
        let payload = dek.payload_key().unwrap();
        let mac = dek.header_mac_key().unwrap();
        assert_ne!(*payload, *mac);
        let mut expected = <Hmac<Sha256> as KeyInit>::new_from_slice(&[7; KEY_LEN]).unwrap();
        expected.update(b"greffier grf1 payload\x01");
        assert_eq!(&payload[..], &expected.finalize().into_bytes()[..]);
    }
}
