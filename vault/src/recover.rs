//! Closing an object whose writer stopped (crash, power loss) after some of
//! its chunks reached disk, so the spool can finish it on restart.
//!
//! The closing chunk is an empty *final* chunk at the next counter. Its nonce
//! has the last flag set, so it never repeats the nonce of a non-final chunk
//! the dead writer may have sealed at that counter and lost.

use bytes::Bytes;

use crate::decrypt::ObjectDecryptor;
use crate::error::VaultError;
use crate::format::chunk::{FRAME_LEN_FIELD, TAG_LEN};
use crate::format::header::header_len_from_preamble;
use crate::keys::DataKeyResolver;
use crate::tenant::TenantId;

/// How to turn an interrupted object into a complete one: keep its first
/// `keep_len` bytes (the header and every whole, authentic chunk up to the
/// first bad or incomplete one), then append `closing_chunk`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovery {
    pub keep_len: usize,
    /// Empty when the object was already complete.
    pub closing_chunk: Bytes,
    /// Plaintext bytes the kept chunks hold.
    pub plaintext_len: u64,
    /// Bytes after `keep_len` that are dropped: a torn frame, or (worth an
    /// alert when larger than one chunk) chunks that failed authentication.
    pub discarded_len: usize,
}

/// Authenticates the chunks of `prefix` (what the writer left on disk) in
/// order and computes the [`Recovery`]. Whatever follows the first chunk
/// that is incomplete, malformed or inauthentic is discarded: after a crash
/// a file can end in a half-written frame or in zeroed blocks. The header
/// itself must be intact.
pub fn recover_interrupted<R: DataKeyResolver>(
    resolver: R,
    tenant: TenantId,
    prefix: &[u8],
) -> Result<Recovery, VaultError> {
    let header_len = header_len_from_preamble(prefix)?;
    let header = prefix.get(..header_len).ok_or(VaultError::Truncated)?;
    let mut decryptor = ObjectDecryptor::new(resolver, tenant);
    decryptor.push(header)?;
    let chunk_size = decryptor
        .header()
        .map(|h| h.chunk_size() as usize)
        .ok_or(VaultError::Truncated)?;
    let mut keep_len = header_len;
    let mut plaintext_len = 0u64;
    loop {
        let closing = decryptor.closing_chunk()?;
        let rest = prefix.get(keep_len..).unwrap_or_default();
        let done = |closing_chunk: Option<Bytes>| Recovery {
            keep_len,
            closing_chunk: closing_chunk.unwrap_or_default(),
            plaintext_len,
            discarded_len: rest.len(),
        };
        let Some(closing) = closing else {
            return Ok(done(None));
        };
        let Some(frame) = whole_frame(rest, chunk_size) else {
            return Ok(done(Some(closing)));
        };
        match decryptor.push(frame) {
            Ok(plaintext) => {
                plaintext_len += plaintext.len() as u64;
                keep_len += frame.len();
            }
            Err(_) => return Ok(done(Some(closing))),
        }
    }
}

/// The next framed chunk at the start of `bytes`, if its length field is
/// plausible and all of it is there.
fn whole_frame(bytes: &[u8], chunk_size: usize) -> Option<&[u8]> {
    let len_field: [u8; FRAME_LEN_FIELD] = bytes.get(..FRAME_LEN_FIELD)?.try_into().ok()?;
    let frame_len = usize::try_from(u32::from_be_bytes(len_field)).ok()?;
    if !(TAG_LEN..=chunk_size + TAG_LEN).contains(&frame_len) {
        return None;
    }
    bytes.get(..FRAME_LEN_FIELD + frame_len)
}
