//! `client` key mode: the gateway seals to the tenant's public key and can
//! never read the result; the tenant's private key can.

use greffier_test_support::objects;
use greffier_test_support::objects::{params, pattern, seal, tenant};
use greffier_test_support::storage::empty_keyring;
use greffier_vault::{
    decrypt_all, decrypt_with_private_key, ClientPrivateKey, ObjectDecryptor, TenantKey, VaultError,
};

#[test]
fn the_keyring_cannot_decrypt_but_the_private_key_can() {
    let dir = tempfile::tempdir().unwrap();
    let mut keyring = empty_keyring(dir.path());
    let (private_key, public_key) = ClientPrivateKey::generate().unwrap();
    keyring
        .add_client_tenant(&tenant("acme"), public_key)
        .unwrap();
    let key = keyring.sealing_key(&tenant("acme")).unwrap();
    assert!(matches!(key, TenantKey::Client { public_key: pk } if pk == public_key));

    let plaintext = pattern(200_000, 3);
    let object = seal(params("acme", 65536), &key, &plaintext);
    assert!(matches!(
        decrypt_all(&keyring, tenant("acme"), &object),
        Err(VaultError::ClientKeyRequired { .. })
    ));
    assert!(decrypt_with_private_key(&private_key, &object).unwrap() == plaintext);

    let streamed = objects::open_in_pieces(&private_key, "acme", &object, 5, 9000);
    streamed.result.unwrap();
    assert!(streamed.yielded == plaintext);

    let restored = ClientPrivateKey::from_bytes(*private_key.as_bytes()).unwrap();
    assert!(decrypt_with_private_key(&restored, &object).unwrap() == plaintext);
}

#[test]
fn another_private_key_or_a_managed_object_is_refused() {
    let (private_key, public_key) = ClientPrivateKey::generate().unwrap();
    let (other_key, _) = ClientPrivateKey::generate().unwrap();
    let object = seal(
        params("acme", 1024),
        &TenantKey::Client { public_key },
        b"secret",
    );
    assert!(matches!(
        decrypt_with_private_key(&other_key, &object),
        Err(VaultError::WrongClientKey)
    ));

    let managed = seal(params("acme", 1024), &objects::managed_key(1), b"secret");
    assert!(matches!(
        decrypt_with_private_key(&private_key, &managed),
        Err(VaultError::ManagedKeyRequired)
    ));
}

#[test]
fn the_sealed_data_key_is_bound_to_tenant_and_record() {
    let (private_key, public_key) = ClientPrivateKey::generate().unwrap();
    let object = seal(
        params("acme", 1024),
        &TenantKey::Client { public_key },
        b"secret",
    );
    let header_len = objects::layout(&object).header.end;
    // tenant id starts at 36; the record id at 19
    for at in [19, 34, 36, 39] {
        let mut altered = object.clone();
        altered[at] ^= 0x02;
        let error = decrypt_with_private_key(&private_key, &altered).unwrap_err();
        assert!(
            matches!(
                error,
                VaultError::KeyUnwrapFailed | VaultError::MalformedHeader(_)
            ),
            "byte {at}: {error:?}"
        );
    }
    for at in [header_len - 1, 12] {
        let mut altered = object.clone();
        altered[at] ^= 0x02;
        assert!(matches!(
            decrypt_with_private_key(&private_key, &altered),
            Err(VaultError::HeaderTampered)
        ));
    }
}

#[test]
fn switching_a_managed_tenant_to_client_keys_keeps_old_objects_readable() {
    let dir = tempfile::tempdir().unwrap();
    let mut keyring = empty_keyring(dir.path());
    let acme = tenant("acme");
    keyring.add_managed_tenant(&acme).unwrap();
    let old = seal(
        params("acme", 1024),
        &keyring.sealing_key(&acme).unwrap(),
        b"before",
    );
    let (private_key, public_key) = ClientPrivateKey::generate().unwrap();
    keyring.set_client_key(&acme, public_key).unwrap();
    let new = seal(
        params("acme", 1024),
        &keyring.sealing_key(&acme).unwrap(),
        b"after",
    );

    assert_eq!(
        decrypt_all(&keyring, acme.clone(), &old).unwrap(),
        b"before"
    );
    assert!(matches!(
        decrypt_all(&keyring, acme.clone(), &new),
        Err(VaultError::ClientKeyRequired { .. })
    ));
    assert_eq!(
        decrypt_with_private_key(&private_key, &new).unwrap(),
        b"after"
    );
    assert!(matches!(
        keyring.rotate(&acme),
        Err(VaultError::NotManaged { .. })
    ));
}

#[test]
fn invalid_public_keys_are_refused_when_configured() {
    let dir = tempfile::tempdir().unwrap();
    let mut keyring = empty_keyring(dir.path());
    assert!(matches!(
        keyring.add_client_tenant(&tenant("acme"), [0; 32]),
        Err(VaultError::InvalidPublicKey)
    ));
}

#[test]
fn the_client_tool_can_check_the_tenant_too() {
    let (private_key, public_key) = ClientPrivateKey::generate().unwrap();
    let object = seal(
        params("acme", 1024),
        &TenantKey::Client { public_key },
        b"secret",
    );
    let mut decryptor = ObjectDecryptor::new(&private_key, tenant("globex"));
    assert!(matches!(
        decryptor.push(&object),
        Err(VaultError::WrongTenant { .. })
    ));
}
