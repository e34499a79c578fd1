//! An object whose writer died mid-stream is closed after its last whole
//! chunk and then reads as the plaintext that had reached disk.

use greffier_test_support::objects::{layout, managed_key, params, pattern, tenant};
use greffier_vault::{decrypt_all, recover_interrupted, ObjectEncryptor, TenantKey, VaultError};

fn repair(key: &TenantKey, prefix: &[u8]) -> (Vec<u8>, greffier_vault::Recovery) {
    let recovery = recover_interrupted(key, tenant("acme"), prefix).unwrap();
    let mut repaired = prefix[..recovery.keep_len].to_vec();
    repaired.extend_from_slice(&recovery.closing_chunk);
    (repaired, recovery)
}

#[test]
fn an_interrupted_object_is_closed_after_its_last_whole_chunk() {
    let key = managed_key(1);
    let plaintext = pattern(5000, 11);
    let mut encryptor = ObjectEncryptor::new(params("acme", 1000), &key).unwrap();
    let on_disk = encryptor.push(&plaintext).unwrap().to_vec();
    let lost_frame = encryptor.push(&[7; 1000]).unwrap().to_vec();
    drop(encryptor); // the writer dies before finish()
    assert_eq!(layout(&on_disk).chunks.len(), 5);

    let torn_tails: Vec<Vec<u8>> = vec![
        vec![],
        lost_frame[..1].to_vec(),
        lost_frame[..4].to_vec(),
        lost_frame[..lost_frame.len() - 1].to_vec(),
        vec![0; 4096], // blocks allocated but never written
    ];
    for tail in torn_tails {
        let mut prefix = on_disk.clone();
        prefix.extend_from_slice(&tail);
        let (repaired, recovery) = repair(&key, &prefix);
        assert_eq!(recovery.keep_len, on_disk.len());
        assert_eq!(recovery.discarded_len, tail.len());
        assert_eq!(recovery.plaintext_len, 5000);
        assert!(decrypt_all(&key, tenant("acme"), &repaired).unwrap() == plaintext);
    }

    let cut = layout(&on_disk).chunks[2].end;
    let (repaired, _) = repair(&key, &on_disk[..cut]);
    assert!(decrypt_all(&key, tenant("acme"), &repaired).unwrap()[..] == plaintext[..3000]);
}

#[test]
fn a_complete_object_needs_nothing() {
    let key = managed_key(1);
    let object = ObjectEncryptor::encrypt_all(params("acme", 1000), &key, b"done").unwrap();
    let recovery = recover_interrupted(&key, tenant("acme"), &object).unwrap();
    assert_eq!(recovery.keep_len, object.len());
    assert_eq!(recovery.discarded_len, 0);
    assert!(recovery.closing_chunk.is_empty());
}

#[test]
fn a_bad_chunk_ends_what_is_kept_and_a_torn_header_is_an_error() {
    let key = managed_key(1);
    let plaintext = pattern(2500, 4);
    let object = ObjectEncryptor::encrypt_all(params("acme", 1000), &key, &plaintext).unwrap();
    let parts = layout(&object);
    let mut corrupted = object.clone();
    corrupted[parts.chunks[1].start + 9] ^= 1;
    let (repaired, recovery) = repair(&key, &corrupted);
    assert_eq!(recovery.keep_len, parts.chunks[1].start);
    assert_eq!(recovery.discarded_len, object.len() - parts.chunks[1].start);
    assert!(decrypt_all(&key, tenant("acme"), &repaired).unwrap()[..] == plaintext[..1000]);

    assert!(matches!(
        recover_interrupted(&key, tenant("acme"), &object[..50]),
        Err(VaultError::Truncated)
    ));
    assert!(matches!(
        recover_interrupted(&key, tenant("other"), &object),
        Err(VaultError::WrongTenant { .. })
    ));
}
