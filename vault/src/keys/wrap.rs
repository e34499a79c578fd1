//! `managed` mode: the DEK wrapped with AES-256 key wrap (RFC 3394) under a
//! tenant KEK.

use aes_kw::{KeyInit, KwAes256};
use zeroize::Zeroizing;

use crate::error::VaultError;
use crate::format::header::WRAPPED_DEK_LEN;
use crate::keys::secret::{DataKey, Kek, KEY_LEN};

pub(crate) fn wrap_dek(kek: &Kek, dek: &DataKey) -> Result<[u8; WRAPPED_DEK_LEN], VaultError> {
    let kw = KwAes256::new_from_slice(kek.as_bytes())
        .map_err(|_| VaultError::Crypto("AES key wrap key rejected"))?;
    let mut out = [0u8; WRAPPED_DEK_LEN];
    kw.wrap_key(dek.as_bytes(), &mut out)
        .map_err(|_| VaultError::Crypto("AES key wrap failed"))?;
    Ok(out)
}

pub(crate) fn unwrap_dek(
    kek: &Kek,
    wrapped: &[u8; WRAPPED_DEK_LEN],
) -> Result<DataKey, VaultError> {
    let kw = KwAes256::new_from_slice(kek.as_bytes())
        .map_err(|_| VaultError::Crypto("AES key wrap key rejected"))?;
    let mut dek = Zeroizing::new([0u8; KEY_LEN]);
    kw.unwrap_key(wrapped, dek.as_mut_slice())
        .map_err(|_| VaultError::KeyUnwrapFailed)?;
    Ok(DataKey::from_bytes(*dek))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_round_trips_and_rejects_other_keks() {
        let kek = Kek::generate().unwrap();
        let dek = DataKey::generate().unwrap();
        let wrapped = wrap_dek(&kek, &dek).unwrap();
        assert_eq!(unwrap_dek(&kek, &wrapped).unwrap(), dek);
        let other = Kek::generate().unwrap();
        assert!(matches!(
            unwrap_dek(&other, &wrapped),
            Err(VaultError::KeyUnwrapFailed)
        ));
    }

    #[test]
    fn matches_rfc3394_test_vector_4_6() {
        // RFC 3394 §4.6: 256 bits of key data with a 256-bit KEK.
        let kek = Kek::from_bytes(hex_array(
            "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F",
        ));
        let dek = DataKey::from_bytes(hex_array(
            "00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F",
        ));
        let wrapped = wrap_dek(&kek, &dek).unwrap();
        assert_eq!(
            hex::encode_upper(wrapped),
            "28C9F404C4B810F4CBCCB35CFB87F8263F5786E2D80ED326CBC7F0E71A99F43BFB988B9B7A02DD21"
        );
    }

    fn hex_array(s: &str) -> [u8; 32] {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).unwrap();
        out
    }
}
