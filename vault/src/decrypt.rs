//! Streaming decryption of one object, fed with ciphertext in any splits.

use bytes::{Buf, Bytes, BytesMut};

use crate::error::VaultError;
use crate::format::chunk::{ChunkCipher, FRAME_LEN_FIELD, TAG_LEN};
use crate::format::header::{header_len_from_preamble, Header, ObjectRef, PREAMBLE_LEN};
use crate::keys::client::ClientReader;
use crate::keys::DataKeyResolver;
use crate::tenant::TenantId;

/// Decrypts one object as its bytes arrive.
///
/// [`push`](Self::push) returns the plaintext of every chunk that has
/// authenticated. Each returned piece is genuine, but the object as a whole is
/// only known to be complete and untruncated once [`finish`](Self::finish)
/// returns `Ok`: a consumer that must not act on partial content (an export, a
/// transcript) holds the pieces until then, or uses [`decrypt_all`], which
/// returns no plaintext at all on any error.
///
/// After any error the decryptor is spent: later calls return
/// [`VaultError::StreamFailed`].
pub struct ObjectDecryptor<R> {
    resolver: R,
    expected_tenant: Option<TenantId>,
    expected_object: Option<ObjectRef>,
    state: State,
    input: BytesMut,
}

enum State {
    Header,
    Body {
        header: Box<Header>,
        cipher: Box<ChunkCipher>,
        chunk_size: usize,
        next_index: u64,
    },
    Complete {
        header: Box<Header>,
    },
    Failed,
}

impl<R: DataKeyResolver> ObjectDecryptor<R> {
    /// A decryptor for an object that must belong to `tenant`; an object of
    /// any other tenant fails with [`VaultError::WrongTenant`] before any key
    /// is looked up.
    pub fn new(resolver: R, tenant: TenantId) -> Self {
        Self::with_expectation(resolver, Some(tenant))
    }

    /// A decryptor that accepts any tenant's object: only for holders of a
    /// single tenant's key (a client's private key), where the key itself
    /// decides what opens.
    pub fn any_tenant(resolver: R) -> Self {
        Self::with_expectation(resolver, None)
    }

    fn with_expectation(resolver: R, expected_tenant: Option<TenantId>) -> Self {
        ObjectDecryptor {
            resolver,
            expected_tenant,
            expected_object: None,
            state: State::Header,
            input: BytesMut::new(),
        }
    }

    /// Also requires the header to name `expected` (kind and record id): an
    /// object copied over another one's key fails with
    /// [`VaultError::WrongObject`] before any key is used. Every reader that
    /// asks for a particular object sets this; the header MAC, checked
    /// next, makes the names trustworthy.
    pub fn expecting(mut self, expected: ObjectRef) -> Self {
        self.expected_object = Some(expected);
        self
    }

    /// The authenticated header, once it has been read.
    pub fn header(&self) -> Option<&Header> {
        match &self.state {
            State::Body { header, .. } | State::Complete { header } => Some(header),
            State::Header | State::Failed => None,
        }
    }

    /// Feeds more ciphertext; returns the plaintext of the chunks that
    /// completed and authenticated with it (often empty).
    pub fn push(&mut self, ciphertext: &[u8]) -> Result<Bytes, VaultError> {
        match self.advance(ciphertext) {
            Ok(plaintext) => Ok(plaintext),
            Err(error) => {
                self.state = State::Failed;
                self.input.clear();
                Err(error)
            }
        }
    }

    /// Ends the stream: `Ok` with the header only if the final chunk was read
    /// and nothing followed it.
    pub fn finish(self) -> Result<Header, VaultError> {
        match self.state {
            State::Complete { header } => Ok(*header),
            State::Header | State::Body { .. } => Err(VaultError::Truncated),
            State::Failed => Err(VaultError::StreamFailed),
        }
    }

    /// For recovering an object whose writer stopped before `finish`: the
    /// final (empty) chunk that would close the object after the chunks read
    /// so far, `None` if the object is already complete.
    pub(crate) fn closing_chunk(&self) -> Result<Option<Bytes>, VaultError> {
        match &self.state {
            State::Body {
                cipher, next_index, ..
            } => {
                let counter =
                    u32::try_from(*next_index).map_err(|_| VaultError::CounterExhausted)?;
                let mut out = BytesMut::new();
                cipher.seal_into(counter, true, &[], &mut out)?;
                Ok(Some(out.freeze()))
            }
            State::Complete { .. } => Ok(None),
            State::Header => Err(VaultError::Truncated),
            State::Failed => Err(VaultError::StreamFailed),
        }
    }

    fn advance(&mut self, ciphertext: &[u8]) -> Result<Bytes, VaultError> {
        match self.state {
            State::Failed => return Err(VaultError::StreamFailed),
            State::Complete { .. } if !ciphertext.is_empty() => {
                return Err(VaultError::TrailingData)
            }
            _ => {}
        }
        self.input.extend_from_slice(ciphertext);
        let mut plaintext = BytesMut::new();
        loop {
            match &mut self.state {
                State::Header => {
                    if !self.read_header()? {
                        break;
                    }
                }
                State::Body {
                    cipher,
                    chunk_size,
                    next_index,
                    ..
                } => {
                    let Some((chunk, last)) =
                        next_chunk(&mut self.input, *chunk_size, *next_index)?
                    else {
                        break;
                    };
                    let index = *next_index;
                    let opened = open_chunk(cipher, index, last, chunk)?;
                    *next_index += 1;
                    if plaintext.is_empty() {
                        plaintext = opened;
                    } else {
                        plaintext.extend_from_slice(&opened);
                    }
                    if last {
                        self.complete()?;
                    }
                }
                State::Complete { .. } => {
                    if !self.input.is_empty() {
                        return Err(VaultError::TrailingData);
                    }
                    break;
                }
                State::Failed => return Err(VaultError::StreamFailed),
            }
        }
        Ok(plaintext.freeze())
    }

    /// Parses and authenticates the header once it is all buffered; returns
    /// whether it was.
    fn read_header(&mut self) -> Result<bool, VaultError> {
        if self.input.len() < PREAMBLE_LEN {
            return Ok(false);
        }
        let header_len = header_len_from_preamble(&self.input)?;
        if self.input.len() < header_len {
            return Ok(false);
        }
        let raw = self.input.split_to(header_len);
        let header = Header::parse(&raw)?;
        if let Some(expected) = &self.expected_tenant {
            if header.tenant() != expected {
                return Err(VaultError::WrongTenant {
                    expected: expected.clone(),
                    found: header.tenant().clone(),
                });
            }
        }
        if let Some(expected) = self.expected_object {
            if header.object() != expected {
                return Err(VaultError::WrongObject {
                    expected,
                    found: header.object(),
                });
            }
        }
        let dek = self.resolver.data_key(&header)?;
        header.verify_mac(&dek)?;
        let cipher = ChunkCipher::new(
            &*dek.payload_key()?,
            *header.nonce_prefix(),
            header.chunk_aad(),
        )?;
        let chunk_size = usize::try_from(header.chunk_size())
            .map_err(|_| VaultError::MalformedHeader("chunk size out of range"))?;
        self.state = State::Body {
            header: Box::new(header),
            cipher: Box::new(cipher),
            chunk_size,
            next_index: 0,
        };
        Ok(true)
    }

    fn complete(&mut self) -> Result<(), VaultError> {
        let state = std::mem::replace(&mut self.state, State::Failed);
        let State::Body { header, .. } = state else {
            return Err(VaultError::StreamFailed);
        };
        self.state = State::Complete { header };
        Ok(())
    }
}

/// Splits the next whole chunk (`ciphertext || tag`) off `input`, with
/// whether it is the final one; `None` until it is all buffered.
fn next_chunk(
    input: &mut BytesMut,
    chunk_size: usize,
    index: u64,
) -> Result<Option<(BytesMut, bool)>, VaultError> {
    let Some(len_field) = input.get(..FRAME_LEN_FIELD) else {
        return Ok(None);
    };
    let mut len_bytes = [0u8; FRAME_LEN_FIELD];
    len_bytes.copy_from_slice(len_field);
    let frame_len = usize::try_from(u32::from_be_bytes(len_bytes))
        .map_err(|_| VaultError::MalformedChunk { index })?;
    let plaintext_len = frame_len
        .checked_sub(TAG_LEN)
        .filter(|len| *len <= chunk_size)
        .ok_or(VaultError::MalformedChunk { index })?;
    if input.len() < FRAME_LEN_FIELD + frame_len {
        return Ok(None);
    }
    input.advance(FRAME_LEN_FIELD);
    Ok(Some((
        input.split_to(frame_len),
        plaintext_len < chunk_size,
    )))
}

fn open_chunk(
    cipher: &ChunkCipher,
    index: u64,
    last: bool,
    mut chunk: BytesMut,
) -> Result<BytesMut, VaultError> {
    let counter = u32::try_from(index).map_err(|_| VaultError::CounterExhausted)?;
    if cipher.open_in_place(counter, last, &mut chunk) {
        Ok(chunk)
    } else {
        Err(VaultError::ChunkAuthFailed { index })
    }
}

/// Decrypts a whole object of `tenant`. On any error no plaintext is
/// returned.
pub fn decrypt_all<R: DataKeyResolver>(
    resolver: R,
    tenant: TenantId,
    object: &[u8],
) -> Result<Vec<u8>, VaultError> {
    collect(ObjectDecryptor::new(resolver, tenant), object)
}

/// The client's own tool: decrypts a `client`-mode object with the private
/// key whose public half the tenant configured, if a sender the reader
/// trusts sealed it. Returns the authenticated header with the plaintext.
pub fn decrypt_for_client(
    reader: &ClientReader,
    object: &[u8],
) -> Result<(Header, Vec<u8>), VaultError> {
    let mut decryptor = ObjectDecryptor::any_tenant(reader);
    let plaintext = decryptor.push(object)?;
    let header = decryptor.finish()?;
    Ok((header, Vec::from(plaintext)))
}

fn collect<R: DataKeyResolver>(
    mut decryptor: ObjectDecryptor<R>,
    object: &[u8],
) -> Result<Vec<u8>, VaultError> {
    let plaintext = decryptor.push(object)?;
    decryptor.finish()?;
    Ok(Vec::from(plaintext))
}
