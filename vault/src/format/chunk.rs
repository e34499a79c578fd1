//! The body's chunk cipher: AES-256-GCM with the STREAM nonce
//! `prefix(7) || be32(counter) || last_flag(1)` and the header hash as
//! associated data, so chunks cannot be reordered, dropped, moved to another
//! object, or have their "last" status changed.

use aes_gcm::aead::{AeadInOut, KeyInit, Nonce, Tag};
use aes_gcm::Aes256Gcm;
use bytes::{BufMut, BytesMut};

use crate::error::VaultError;
use crate::format::header::NONCE_PREFIX_LEN;

pub const TAG_LEN: usize = 16;
/// Every chunk on the wire starts with `be32(ciphertext length + TAG_LEN)`.
pub const FRAME_LEN_FIELD: usize = 4;

pub(crate) struct ChunkCipher {
    aead: Aes256Gcm,
    nonce_prefix: [u8; NONCE_PREFIX_LEN],
    aad: [u8; 32],
}

impl ChunkCipher {
    pub(crate) fn new(
        payload_key: &[u8; 32],
        nonce_prefix: [u8; NONCE_PREFIX_LEN],
        aad: [u8; 32],
    ) -> Result<Self, VaultError> {
        let aead = Aes256Gcm::new_from_slice(payload_key)
            .map_err(|_| VaultError::Crypto("AES-256-GCM key rejected"))?;
        Ok(ChunkCipher {
            aead,
            nonce_prefix,
            aad,
        })
    }

    fn nonce(&self, counter: u32, last: bool) -> Nonce<Aes256Gcm> {
        let mut nonce = [0u8; 12];
        let (prefix, rest) = nonce.split_at_mut(NONCE_PREFIX_LEN);
        prefix.copy_from_slice(&self.nonce_prefix);
        let (counter_bytes, flag) = rest.split_at_mut(4);
        counter_bytes.copy_from_slice(&counter.to_be_bytes());
        flag.fill(u8::from(last));
        Nonce::<Aes256Gcm>::from(nonce)
    }

    /// Appends the framed chunk (`be32 len || ciphertext || tag`) to `out`.
    pub(crate) fn seal_into(
        &self,
        counter: u32,
        last: bool,
        plaintext: &[u8],
        out: &mut BytesMut,
    ) -> Result<(), VaultError> {
        let frame_len = u32::try_from(plaintext.len() + TAG_LEN)
            .map_err(|_| VaultError::Crypto("chunk too large"))?;
        out.reserve(FRAME_LEN_FIELD + plaintext.len() + TAG_LEN);
        out.put_u32(frame_len);
        let start = out.len();
        out.extend_from_slice(plaintext);
        let body = out
            .get_mut(start..)
            .ok_or(VaultError::Crypto("chunk buffer"))?;
        let tag = self
            .aead
            .encrypt_inout_detached(&self.nonce(counter, last), &self.aad, body.into())
            .map_err(|_| VaultError::Crypto("AES-256-GCM refused the chunk"))?;
        out.extend_from_slice(&tag);
        Ok(())
    }

    /// Decrypts `chunk` (`ciphertext || tag`, without the length field) in
    /// place and truncates it to the plaintext. On failure the buffer is
    /// wiped, so unauthenticated plaintext never escapes.
    pub(crate) fn open_in_place(&self, counter: u32, last: bool, chunk: &mut BytesMut) -> bool {
        let Some(body_len) = chunk.len().checked_sub(TAG_LEN) else {
            return false;
        };
        let Ok(tag) = Tag::<Aes256Gcm>::try_from(chunk.get(body_len..).unwrap_or_default()) else {
            return false;
        };
        let Some(body) = chunk.get_mut(..body_len) else {
            return false;
        };
        let opened = self
            .aead
            .decrypt_inout_detached(&self.nonce(counter, last), &self.aad, body.into(), &tag)
            .is_ok();
        if opened {
            chunk.truncate(body_len);
        } else {
            chunk.fill(0);
        }
        opened
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cipher() -> ChunkCipher {
        ChunkCipher::new(&[3; 32], [9; NONCE_PREFIX_LEN], [5; 32]).unwrap()
    }

    #[test]
    fn nonce_is_prefix_counter_and_flag() {
        let nonce = cipher().nonce(0x0102_0304, true);
        assert_eq!(&nonce[..], &[9, 9, 9, 9, 9, 9, 9, 1, 2, 3, 4, 1]);
        let nonce = cipher().nonce(7, false);
        assert_eq!(&nonce[7..], &[0, 0, 0, 7, 0]);
    }

    #[test]
    fn sealed_chunk_opens_only_with_same_counter_and_flag() {
        let c = cipher();
        let mut out = BytesMut::new();
        c.seal_into(4, false, b"hello", &mut out).unwrap();
        assert_eq!(&out[..4], &(5 + TAG_LEN as u32).to_be_bytes());
        let framed = out.split_off(FRAME_LEN_FIELD);
        for (counter, last) in [(5, false), (4, true)] {
            let mut copy = framed.clone();
            assert!(!c.open_in_place(counter, last, &mut copy));
            assert!(copy.iter().all(|b| *b == 0));
        }
        let mut copy = framed.clone();
        assert!(c.open_in_place(4, false, &mut copy));
        assert_eq!(&copy[..], b"hello");
    }
}
