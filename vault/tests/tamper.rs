//! Every alteration of an object is refused with an error naming the cause,
//! and no alteration yields the plaintext as if it were whole.

use greffier_test_support::objects::{
    layout, managed_key, open_in_pieces, params, pattern, seal, tenant,
};
use greffier_vault::{decrypt_all, ObjectDecryptor, TenantKey, VaultError};

const CHUNK: u32 = 1024;

struct Fixture {
    key: TenantKey,
    plaintext: Vec<u8>,
    object: Vec<u8>,
}

/// Three full chunks and a short final one.
fn fixture() -> Fixture {
    let key = managed_key(1);
    let plaintext = pattern(3 * CHUNK as usize + 512, 99);
    let object = seal(params("acme", CHUNK), &key, &plaintext);
    assert_eq!(layout(&object).chunks.len(), 4);
    Fixture {
        key,
        plaintext,
        object,
    }
}

fn open(key: &TenantKey, object: &[u8]) -> Result<Vec<u8>, VaultError> {
    decrypt_all(key, tenant("acme"), object)
}

/// Header field offsets for a managed object of tenant "acme" (FORMAT.md).
mod offsets {
    pub(super) const VERSION: usize = 4;
    pub(super) const KIND: usize = 7;
    pub(super) const CHUNK_SIZE: usize = 8;
    pub(super) const NONCE_PREFIX: usize = 12;
    pub(super) const RECORD_ID: usize = 19;
    pub(super) const TENANT: usize = 36;
    pub(super) const KEY_MODE: usize = 40;
    pub(super) const KEK_VERSION: usize = 41;
    pub(super) const WRAPPED_DEK: usize = 45;
    pub(super) const MAC: usize = 85;
}

#[test]
fn untouched_fixture_opens() {
    let f = fixture();
    assert!(open(&f.key, &f.object).unwrap() == f.plaintext);
}

#[test]
fn every_flipped_header_byte_is_refused() {
    let f = fixture();
    let header_len = layout(&f.object).header.len();
    assert_eq!(header_len, offsets::MAC + 32);
    for at in 0..header_len {
        let mut object = f.object.clone();
        object[at] ^= 0x01;
        let error = open(&f.key, &object).unwrap_err();
        let acceptable = matches!(
            error,
            VaultError::BadMagic
                | VaultError::UnsupportedVersion(_)
                | VaultError::MalformedHeader(_)
                | VaultError::HeaderTampered
                | VaultError::WrongTenant { .. }
                | VaultError::KeyNotFound { .. }
                | VaultError::KeyUnwrapFailed
        );
        assert!(acceptable, "byte {at}: unexpected {error:?}");
    }
}

#[test]
fn flipped_header_fields_name_the_cause() {
    let f = fixture();
    let flip_with = |at: usize, mask: u8| {
        let mut object = f.object.clone();
        object[at] ^= mask;
        open(&f.key, &object).unwrap_err()
    };
    let flip = |at: usize| flip_with(at, 0x01);
    assert!(matches!(flip(0), VaultError::BadMagic));
    assert!(matches!(
        flip(offsets::VERSION),
        VaultError::UnsupportedVersion(0)
    ));
    assert!(matches!(
        flip(offsets::KEY_MODE),
        VaultError::MalformedHeader(_)
    ));
    for at in [
        offsets::NONCE_PREFIX,
        offsets::RECORD_ID + 15,
        offsets::MAC,
        offsets::MAC + 31,
    ] {
        assert!(matches!(flip(at), VaultError::HeaderTampered), "byte {at}");
    }
    assert!(matches!(
        flip(offsets::KEK_VERSION + 3),
        VaultError::KeyNotFound { version: 0, .. }
    ));
    assert!(matches!(
        flip(offsets::WRAPPED_DEK + 10),
        VaultError::KeyUnwrapFailed
    ));
    // 'a' -> 'c': still a valid id, but not the expected tenant
    assert!(matches!(
        flip_with(offsets::TENANT, 0x02),
        VaultError::WrongTenant { .. }
    ));
    // 'a' -> '`': not a valid tenant id at all
    assert!(matches!(
        flip(offsets::TENANT),
        VaultError::MalformedHeader(_)
    ));
}

#[test]
fn changed_header_fields_with_valid_values_are_detected() {
    let f = fixture();
    let mut as_transcript = f.object.clone();
    as_transcript[offsets::KIND] = 2;
    assert!(matches!(
        open(&f.key, &as_transcript),
        Err(VaultError::HeaderTampered)
    ));

    let mut other_chunk_size = f.object.clone();
    other_chunk_size[offsets::CHUNK_SIZE..offsets::CHUNK_SIZE + 4]
        .copy_from_slice(&2048u32.to_be_bytes());
    assert!(matches!(
        open(&f.key, &other_chunk_size),
        Err(VaultError::HeaderTampered)
    ));
}

#[test]
fn a_flipped_byte_in_any_chunk_fails_that_chunk() {
    let f = fixture();
    let parts = layout(&f.object);
    for (index, range) in parts.chunks.iter().enumerate() {
        // first ciphertext byte, a middle one and the last tag byte
        for at in [
            range.start + 4,
            range.start + 4 + range.len() / 2,
            range.end - 1,
        ] {
            let mut object = f.object.clone();
            object[at] ^= 0x80;
            let error = open(&f.key, &object).unwrap_err();
            assert!(
                matches!(error, VaultError::ChunkAuthFailed { index: i } if i == index as u64),
                "chunk {index} byte {at}: {error:?}"
            );
            let streamed = open_in_pieces(&f.key, "acme", &object, at as u64, 700);
            assert!(matches!(
                streamed.result,
                Err(VaultError::ChunkAuthFailed { .. })
            ));
            assert!(
                streamed.yielded.len() <= index * CHUNK as usize,
                "chunk {index} leaked"
            );
            assert!(f.plaintext.starts_with(&streamed.yielded));
        }
    }
}

#[test]
fn a_changed_chunk_length_field_is_refused() {
    let f = fixture();
    let parts = layout(&f.object);
    for (index, range) in parts.chunks.iter().enumerate() {
        for delta in [1u8, 0x10] {
            let mut object = f.object.clone();
            object[range.start + 3] ^= delta;
            let error = open(&f.key, &object).unwrap_err();
            assert!(
                matches!(
                    error,
                    VaultError::MalformedChunk { index: i } | VaultError::ChunkAuthFailed { index: i } if i == index as u64
                ) || matches!(error, VaultError::Truncated),
                "chunk {index}: {error:?}"
            );
        }
    }
}

#[test]
fn a_dropped_chunk_is_detected() {
    let f = fixture();
    let parts = layout(&f.object);
    let mut without_second = f.object[..parts.chunks[1].start].to_vec();
    without_second.extend_from_slice(&f.object[parts.chunks[1].end..]);
    assert!(matches!(
        open(&f.key, &without_second),
        Err(VaultError::ChunkAuthFailed { index: 1 })
    ));

    let without_last = &f.object[..parts.chunks[3].start];
    assert!(matches!(
        open(&f.key, without_last),
        Err(VaultError::Truncated)
    ));
}

#[test]
fn reordered_chunks_are_detected() {
    let f = fixture();
    let parts = layout(&f.object);
    let mut swapped = f.object[..parts.chunks[0].start].to_vec();
    swapped.extend_from_slice(&f.object[parts.chunks[1].clone()]);
    swapped.extend_from_slice(&f.object[parts.chunks[0].clone()]);
    swapped.extend_from_slice(&f.object[parts.chunks[2].start..]);
    assert_eq!(swapped.len(), f.object.len());
    assert!(matches!(
        open(&f.key, &swapped),
        Err(VaultError::ChunkAuthFailed { index: 0 })
    ));
}

#[test]
fn a_chunk_from_another_object_is_detected() {
    let f = fixture();
    let other = seal(params("acme", CHUNK), &f.key, &f.plaintext);
    let (mine, theirs) = (layout(&f.object), layout(&other));
    let mut spliced = f.object[..mine.chunks[2].start].to_vec();
    spliced.extend_from_slice(&other[theirs.chunks[2].clone()]);
    spliced.extend_from_slice(&f.object[mine.chunks[3].clone()]);
    assert!(matches!(
        open(&f.key, &spliced),
        Err(VaultError::ChunkAuthFailed { index: 2 })
    ));
}

#[test]
fn truncation_anywhere_is_reported_as_truncated() {
    let f = fixture();
    let parts = layout(&f.object);
    let mut cut_points: Vec<usize> = vec![0, 3, 7, parts.header.end - 1, parts.header.end];
    for range in &parts.chunks {
        cut_points.extend([
            range.start + 2,
            range.start + 4,
            range.start + 100,
            range.end - 1,
        ]);
        cut_points.push(range.end);
    }
    cut_points.retain(|cut| *cut < f.object.len());
    for cut in cut_points {
        let error = open(&f.key, &f.object[..cut]).unwrap_err();
        assert!(
            matches!(error, VaultError::Truncated),
            "cut at {cut}: {error:?}"
        );
    }
}

#[test]
fn streaming_reader_only_confirms_at_finish() {
    let f = fixture();
    let parts = layout(&f.object);
    let mut decryptor = ObjectDecryptor::new(&f.key, tenant("acme"));
    let yielded = decryptor.push(&f.object[..parts.chunks[2].end]).unwrap();
    assert!(
        yielded[..] == f.plaintext[..3 * CHUNK as usize],
        "authenticated chunks are yielded"
    );
    assert!(matches!(decryptor.finish(), Err(VaultError::Truncated)));
}

#[test]
fn appended_data_is_refused() {
    let f = fixture();
    let parts = layout(&f.object);
    let last_chunk = f.object[parts.chunks[3].clone()].to_vec();
    let another = seal(params("acme", CHUNK), &f.key, b"second object");
    for suffix in [vec![0u8], last_chunk, another] {
        let mut object = f.object.clone();
        object.extend_from_slice(&suffix);
        assert!(matches!(
            open(&f.key, &object),
            Err(VaultError::TrailingData)
        ));
    }

    let mut decryptor = ObjectDecryptor::new(&f.key, tenant("acme"));
    decryptor.push(&f.object).unwrap();
    assert!(matches!(
        decryptor.push(b"x"),
        Err(VaultError::TrailingData)
    ));
    assert!(matches!(decryptor.push(b""), Err(VaultError::StreamFailed)));
    assert!(matches!(decryptor.finish(), Err(VaultError::StreamFailed)));
}

#[test]
fn another_tenants_object_or_key_is_refused() {
    let f = fixture();
    assert!(matches!(
        decrypt_all(&f.key, tenant("other"), &f.object),
        Err(VaultError::WrongTenant { .. })
    ));

    let wrong_kek = managed_key(1);
    assert!(matches!(
        open(&wrong_kek, &f.object),
        Err(VaultError::KeyUnwrapFailed)
    ));

    // Relabel the object as tenant "acmf" and read it with that tenant's key.
    let mut relabelled = f.object.clone();
    relabelled[offsets::TENANT + 3] = b'f';
    assert!(matches!(
        decrypt_all(&wrong_kek, tenant("acmf"), &relabelled),
        Err(VaultError::KeyUnwrapFailed)
    ));
    assert!(matches!(
        decrypt_all(&f.key, tenant("acmf"), &relabelled),
        Err(VaultError::HeaderTampered)
    ));
}

#[test]
fn garbage_never_panics() {
    let f = fixture();
    for seed in 0..200u64 {
        let len = (seed as usize * 37) % 600;
        let mut junk = pattern(len, seed);
        if seed % 2 == 0 && junk.len() >= 7 {
            junk[..7].copy_from_slice(&f.object[..7]);
        }
        assert!(open(&f.key, &junk).is_err());
    }
}
