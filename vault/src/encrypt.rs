//! Streaming encryption of one object: plaintext in, `.grf` bytes out, with
//! no I/O so the caller decides where the bytes go (file, multipart upload,
//! spool).

use bytes::{Bytes, BytesMut};
use zeroize::Zeroizing;

use crate::error::VaultError;
use crate::format::chunk::{ChunkCipher, FRAME_LEN_FIELD, TAG_LEN};
use crate::format::header::{Header, ObjectParams, NONCE_PREFIX_LEN};
use crate::keys::secret::{fill_random, DataKey};
use crate::keys::TenantKey;

/// Encrypts one object as its plaintext arrives.
///
/// Every full chunk is emitted as soon as it fills, so a writer that crashes
/// loses at most the plaintext of one chunk. The final chunk, always shorter
/// than the chunk size (possibly empty), is written by [`finish`](Self::finish);
/// an object without it is rejected by readers as truncated.
pub struct ObjectEncryptor {
    header: Header,
    cipher: ChunkCipher,
    chunk_size: usize,
    pending: Zeroizing<Vec<u8>>,
    next_counter: u64,
    header_emitted: bool,
}

impl ObjectEncryptor {
    /// Draws a fresh data key and nonce prefix and seals the data key with `key`.
    pub fn new(params: ObjectParams, key: &TenantKey) -> Result<Self, VaultError> {
        let dek = DataKey::generate()?;
        let mut nonce_prefix = [0u8; NONCE_PREFIX_LEN];
        fill_random(&mut nonce_prefix)?;
        let key_slot = key.seal_dek(&dek, &params)?;
        let header = Header::seal(params, nonce_prefix, key_slot, &dek)?;
        let cipher = ChunkCipher::new(&*dek.payload_key()?, nonce_prefix, header.chunk_aad())?;
        let chunk_size = usize::try_from(header.chunk_size())
            .map_err(|_| VaultError::InvalidChunkSize(header.chunk_size()))?;
        Ok(ObjectEncryptor {
            header,
            cipher,
            chunk_size,
            pending: Zeroizing::new(Vec::with_capacity(chunk_size)),
            next_counter: 0,
            header_emitted: false,
        })
    }

    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Takes more plaintext; returns the bytes ready to be written: the header
    /// on the first call, then every chunk that is now full.
    pub fn push(&mut self, plaintext: &[u8]) -> Result<Bytes, VaultError> {
        let whole_chunks = (self.pending.len() + plaintext.len()) / self.chunk_size;
        let mut out = self.output_buffer(whole_chunks);
        let mut input = plaintext;
        if !self.pending.is_empty() {
            let take = (self.chunk_size - self.pending.len()).min(input.len());
            let (head, rest) = input.split_at(take);
            self.pending.extend_from_slice(head);
            input = rest;
            if self.pending.len() < self.chunk_size {
                return Ok(out.freeze());
            }
            let counter = self.take_counter()?;
            self.cipher
                .seal_into(counter, false, &self.pending, &mut out)?;
            self.pending.clear();
        }
        let mut full_chunks = input.chunks_exact(self.chunk_size);
        for chunk in &mut full_chunks {
            let counter = self.take_counter()?;
            self.cipher.seal_into(counter, false, chunk, &mut out)?;
        }
        self.pending.extend_from_slice(full_chunks.remainder());
        Ok(out.freeze())
    }

    /// Seals the final chunk (the plaintext left over, possibly none) and
    /// returns the last bytes of the object.
    pub fn finish(mut self) -> Result<Bytes, VaultError> {
        let mut out = self.output_buffer(1);
        let counter = self.take_counter()?;
        self.cipher
            .seal_into(counter, true, &self.pending, &mut out)?;
        Ok(out.freeze())
    }

    /// Encrypts a whole plaintext at once.
    pub fn encrypt_all(
        params: ObjectParams,
        key: &TenantKey,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, VaultError> {
        let mut encryptor = ObjectEncryptor::new(params, key)?;
        let mut object = encryptor.push(plaintext)?.to_vec();
        object.extend_from_slice(&encryptor.finish()?);
        Ok(object)
    }

    fn output_buffer(&mut self, chunks: usize) -> BytesMut {
        let header = if self.header_emitted {
            &[][..]
        } else {
            self.header.as_bytes()
        };
        let chunk_bytes = chunks
            .saturating_add(1)
            .saturating_mul(self.chunk_size + TAG_LEN + FRAME_LEN_FIELD);
        let mut out = BytesMut::with_capacity(header.len().saturating_add(chunk_bytes));
        out.extend_from_slice(header);
        self.header_emitted = true;
        out
    }

    fn take_counter(&mut self) -> Result<u32, VaultError> {
        let counter = u32::try_from(self.next_counter).map_err(|_| VaultError::CounterExhausted)?;
        self.next_counter += 1;
        Ok(counter)
    }
}
