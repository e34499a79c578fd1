//! Vault objects sealed and opened in pieces of pseudo-random sizes, and the
//! byte layout of an object (vault/FORMAT.md).

use std::ops::Range;

use greffier_vault::{
    DataKeyResolver, Kek, ObjectDecryptor, ObjectEncryptor, ObjectKind, ObjectParams, TenantId,
    TenantKey, VaultError,
};

pub fn tenant(name: &str) -> TenantId {
    TenantId::new(name).unwrap()
}

pub fn managed_key(version: u32) -> TenantKey {
    TenantKey::Managed {
        version,
        kek: Kek::generate().unwrap(),
    }
}

pub fn params(tenant_name: &str, chunk_size: u32) -> ObjectParams {
    ObjectParams::new(
        tenant(tenant_name),
        greffier_vault::new_record_id(),
        ObjectKind::Recording,
    )
    .with_chunk_size(chunk_size)
    .unwrap()
}

/// Deterministic pseudo-random bytes (xorshift), so failures reproduce.
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

/// Cuts `len` into pieces of 0..=max_piece bytes, driven by `seed`.
pub fn pieces(len: usize, seed: u64, max_piece: usize) -> Vec<Range<usize>> {
    let max_piece = max_piece.max(1);
    let sizes = pattern(len / 2 + 16, seed);
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while start < len {
        let a = usize::from(sizes[i % sizes.len()]);
        let b = usize::from(sizes[(i + 1) % sizes.len()]);
        let size = ((a << 8 | b) % (max_piece + 1)).min(len - start);
        out.push(start..start + size);
        start += size;
        i += 2;
    }
    out
}

pub fn seal_in_pieces(
    params: ObjectParams,
    key: &TenantKey,
    plaintext: &[u8],
    seed: u64,
    max_piece: usize,
) -> Vec<u8> {
    let mut encryptor = ObjectEncryptor::new(params, key).unwrap();
    let mut object = Vec::new();
    for range in pieces(plaintext.len(), seed, max_piece) {
        object.extend_from_slice(&encryptor.push(&plaintext[range]).unwrap());
    }
    object.extend_from_slice(&encryptor.finish().unwrap());
    object
}

pub fn seal(params: ObjectParams, key: &TenantKey, plaintext: &[u8]) -> Vec<u8> {
    ObjectEncryptor::encrypt_all(params, key, plaintext).unwrap()
}

/// What a streaming reader produced: every piece it yielded, and how the
/// stream ended.
pub struct StreamOutcome {
    pub yielded: Vec<u8>,
    pub result: Result<(), VaultError>,
}

pub fn open_in_pieces<R: DataKeyResolver>(
    resolver: R,
    tenant_name: &str,
    object: &[u8],
    seed: u64,
    max_piece: usize,
) -> StreamOutcome {
    let mut decryptor = ObjectDecryptor::new(resolver, tenant(tenant_name));
    let mut yielded = Vec::new();
    for range in pieces(object.len(), seed, max_piece) {
        match decryptor.push(&object[range]) {
            Ok(plaintext) => yielded.extend_from_slice(&plaintext),
            Err(error) => {
                return StreamOutcome {
                    yielded,
                    result: Err(error),
                }
            }
        }
    }
    let result = decryptor.finish().map(|_| ());
    StreamOutcome { yielded, result }
}

/// Byte ranges of an object: its header, then each framed chunk (length
/// field included).
pub struct Layout {
    pub header: Range<usize>,
    pub chunks: Vec<Range<usize>>,
}

pub fn layout(object: &[u8]) -> Layout {
    let header_len = usize::from(u16::from_be_bytes([object[5], object[6]]));
    let mut chunks = Vec::new();
    let mut at = header_len;
    while at < object.len() {
        let len = u32::from_be_bytes(object[at..at + 4].try_into().unwrap()) as usize;
        chunks.push(at..at + 4 + len);
        at += 4 + len;
    }
    Layout {
        header: 0..header_len,
        chunks,
    }
}
