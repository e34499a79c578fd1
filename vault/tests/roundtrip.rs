//! Objects of every size survive encryption and decryption whatever the
//! split points on either side.

use greffier_test_support::objects;
use greffier_test_support::objects::{
    layout, managed_key, open_in_pieces, params, pattern, seal_in_pieces,
};
use greffier_vault::{decrypt_all, DEFAULT_CHUNK_SIZE};
use proptest::prelude::*;

const CS: usize = DEFAULT_CHUNK_SIZE as usize;

fn expected_len(header_len: usize, plaintext_len: usize, chunk_size: usize) -> usize {
    let chunks = plaintext_len / chunk_size + 1;
    header_len + plaintext_len + chunks * (4 + 16)
}

fn check_round_trip(len: usize, chunk_size: u32, seed: u64, write_piece: usize, read_piece: usize) {
    let key = managed_key(1);
    let plaintext = pattern(len, seed);
    let object = seal_in_pieces(
        params("acme", chunk_size),
        &key,
        &plaintext,
        seed ^ 0xa5,
        write_piece,
    );

    let parts = layout(&object);
    assert_eq!(
        object.len(),
        expected_len(parts.header.len(), len, chunk_size as usize)
    );
    assert_eq!(
        parts.chunks.len(),
        len / chunk_size as usize + 1,
        "last chunk is always short"
    );
    if len >= 16 {
        assert!(
            !object.windows(16).any(|w| w == &plaintext[..16]),
            "plaintext visible in object"
        );
    }

    let outcome = open_in_pieces(&key, "acme", &object, seed ^ 0x5a, read_piece);
    outcome.result.unwrap();
    assert!(
        outcome.yielded == plaintext,
        "streamed plaintext differs ({len} bytes)"
    );
    let whole = decrypt_all(&key, objects::tenant("acme"), &object).unwrap();
    assert!(whole == plaintext);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn boundary_sizes_with_default_chunks(
        len in prop::sample::select(vec![0, 1, CS - 1, CS, CS + 1, 2 * CS, 3 * CS + 7]),
        seed in any::<u64>(),
        write_piece in 1usize..200_000,
        read_piece in 1usize..200_000,
    ) {
        check_round_trip(len, DEFAULT_CHUNK_SIZE, seed, write_piece, read_piece);
    }

    #[test]
    fn any_size_with_small_chunks(
        len in 0usize..5_000,
        chunk_size in 1u32..300,
        seed in any::<u64>(),
        write_piece in 0usize..700,
        read_piece in 1usize..700,
    ) {
        check_round_trip(len, chunk_size, seed, write_piece, read_piece);
    }
}

#[test]
fn several_mebibytes_in_uneven_pieces() {
    check_round_trip(
        5 * 1024 * 1024 + 333,
        DEFAULT_CHUNK_SIZE,
        42,
        150_000,
        99_999,
    );
}

#[test]
fn byte_at_a_time_on_both_sides() {
    check_round_trip(2 * 1024 + 3, 1024, 7, 1, 1);
}

#[test]
fn empty_plaintext_is_one_empty_final_chunk() {
    let key = managed_key(1);
    let object = seal_in_pieces(params("acme", DEFAULT_CHUNK_SIZE), &key, &[], 1, 1);
    let parts = layout(&object);
    assert_eq!(parts.chunks.len(), 1);
    assert_eq!(parts.chunks[0].len(), 4 + 16);
    assert_eq!(
        decrypt_all(&key, objects::tenant("acme"), &object).unwrap(),
        Vec::<u8>::new()
    );
}

#[test]
fn full_chunks_are_emitted_as_soon_as_they_fill() {
    let key = managed_key(1);
    let mut encryptor = greffier_vault::ObjectEncryptor::new(params("acme", 100), &key).unwrap();
    let header_len = encryptor.header().as_bytes().len();
    assert_eq!(encryptor.push(&[1; 99]).unwrap().len(), header_len);
    assert_eq!(encryptor.push(&[1; 1]).unwrap().len(), 4 + 100 + 16);
    assert_eq!(encryptor.push(&[1; 250]).unwrap().len(), 2 * (4 + 100 + 16));
    assert_eq!(encryptor.finish().unwrap().len(), 4 + 50 + 16);
}
