//! `client` key mode: the gateway seals to the tenant's public key and can
//! never read the result; the tenant's private key can, and only for objects
//! the gateway's sender key sealed (HPKE auth mode).

use greffier_test_support::objects;
use greffier_test_support::objects::{params, pattern, seal, tenant};
use greffier_test_support::storage::empty_keyring;
use greffier_vault::{
    decrypt_all, decrypt_for_client, ClientPrivateKey, ClientReader, Keyring, MasterKey,
    ObjectDecryptor, SenderKey, TenantKey, VaultError,
};

/// What the gateway seals a client tenant's objects with: the tenant's
/// public key and the gateway's sender key.
fn client_key(public_key: [u8; 32], sender: &SenderKey) -> TenantKey {
    TenantKey::Client {
        public_key,
        sender: sender.clone(),
    }
}

/// The client's reader trusting exactly `sender`.
fn reader(private_key: &ClientPrivateKey, sender: &SenderKey) -> ClientReader {
    ClientReader::new(private_key.clone(), vec![sender.public_key().unwrap()])
}

fn decrypt_with(reader: &ClientReader, object: &[u8]) -> Result<Vec<u8>, VaultError> {
    decrypt_for_client(reader, object).map(|(_, plaintext)| plaintext)
}

/// A client tenant's objects as the gateway seals them: (private key, its
/// public key, the gateway's sender key).
fn client_tenant() -> (ClientPrivateKey, [u8; 32], SenderKey) {
    let (private_key, public_key) = ClientPrivateKey::generate().unwrap();
    (private_key, public_key, SenderKey::generate().unwrap())
}

#[test]
fn the_keyring_cannot_decrypt_but_the_private_key_can() {
    let dir = tempfile::tempdir().unwrap();
    let mut keyring = empty_keyring(dir.path());
    let (private_key, public_key) = ClientPrivateKey::generate().unwrap();
    keyring
        .add_client_tenant(&tenant("acme"), public_key)
        .unwrap();
    let key = keyring.sealing_key(&tenant("acme")).unwrap();
    assert!(matches!(key, TenantKey::Client { public_key: pk, .. } if pk == public_key));
    let gateway = keyring.sender_public_key().unwrap().unwrap();
    let client = ClientReader::new(private_key.clone(), vec![gateway]);

    let plaintext = pattern(200_000, 3);
    let object = seal(params("acme", 65536), &key, &plaintext);
    assert!(matches!(
        decrypt_all(&keyring, tenant("acme"), &object),
        Err(VaultError::ClientKeyRequired { .. })
    ));
    assert!(decrypt_with(&client, &object).unwrap() == plaintext);

    let streamed = objects::open_in_pieces(&client, "acme", &object, 5, 9000);
    streamed.result.unwrap();
    assert!(streamed.yielded == plaintext);

    let restored = ClientPrivateKey::from_bytes(*private_key.as_bytes()).unwrap();
    let restored = ClientReader::new(restored, vec![gateway]);
    assert!(decrypt_with(&restored, &object).unwrap() == plaintext);
}

#[test]
fn another_private_key_or_a_managed_object_is_refused() {
    let (private_key, public_key, sender) = client_tenant();
    let (other_key, _) = ClientPrivateKey::generate().unwrap();
    let object = seal(
        params("acme", 1024),
        &client_key(public_key, &sender),
        b"secret",
    );
    assert!(matches!(
        decrypt_with(&reader(&other_key, &sender), &object),
        Err(VaultError::WrongClientKey)
    ));

    let managed = seal(params("acme", 1024), &objects::managed_key(1), b"secret");
    assert!(matches!(
        decrypt_with(&reader(&private_key, &sender), &managed),
        Err(VaultError::ManagedKeyRequired)
    ));
}

#[test]
fn the_sealed_data_key_is_bound_to_tenant_and_record() {
    let (private_key, public_key, sender) = client_tenant();
    let client = reader(&private_key, &sender);
    let object = seal(
        params("acme", 1024),
        &client_key(public_key, &sender),
        b"secret",
    );
    let header_len = objects::layout(&object).header.end;
    // kind at 7, record id at 19, tenant id at 36
    for at in [7, 19, 34, 36, 39] {
        let mut altered = object.clone();
        altered[at] ^= 0x02;
        let error = decrypt_with(&client, &altered).unwrap_err();
        assert!(
            matches!(
                error,
                VaultError::SenderAuthFailed | VaultError::MalformedHeader(_)
            ),
            "byte {at}: {error:?}"
        );
    }
    for at in [header_len - 1, 12] {
        let mut altered = object.clone();
        altered[at] ^= 0x02;
        assert!(matches!(
            decrypt_with(&client, &altered),
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
    let client = ClientReader::new(
        private_key,
        vec![keyring.sender_public_key().unwrap().unwrap()],
    );
    assert_eq!(decrypt_with(&client, &new).unwrap(), b"after");
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
    let (private_key, public_key, sender) = client_tenant();
    let object = seal(
        params("acme", 1024),
        &client_key(public_key, &sender),
        b"secret",
    );
    let client = reader(&private_key, &sender);
    let mut decryptor = ObjectDecryptor::new(&client, tenant("globex"));
    assert!(matches!(
        decryptor.push(&object),
        Err(VaultError::WrongTenant { .. })
    ));
}

#[test]
fn a_base_mode_object_forged_with_the_public_key_alone_is_refused() {
    let (private_key, public_key, sender) = client_tenant();
    let forged = greffier_test_support::forge::forge_base_mode(
        &public_key,
        "acme",
        greffier_vault::new_record_id(),
        b"planted audio",
    );
    let client = reader(&private_key, &sender);
    assert!(matches!(
        decrypt_with(&client, &forged),
        Err(VaultError::SenderNotAuthenticated)
    ));
    // The forger's object is well formed: a client who explicitly accepts
    // objects from before sender keys reads it (and the tool warns).
    let legacy = client.accepting_unauthenticated();
    assert_eq!(decrypt_with(&legacy, &forged).unwrap(), b"planted audio");
}

#[test]
fn an_auth_mode_object_sealed_by_another_sender_key_is_refused() {
    let (private_key, public_key, gateway) = client_tenant();
    let client = reader(&private_key, &gateway);
    // The forger holds the tenant's public key and a sender key of its own.
    let forger = SenderKey::generate().unwrap();
    let forged = seal(
        params("acme", 1024),
        &client_key(public_key, &forger),
        b"planted audio",
    );
    assert!(matches!(
        decrypt_with(&client, &forged),
        Err(VaultError::UnknownSender)
    ));

    // Claiming to be the gateway (its sender id in the slot) does not help:
    // the data key does not authenticate under the gateway's public key.
    let mut claimed = forged.clone();
    let n = usize::from(claimed[35]);
    assert_eq!(claimed[36 + n], 3, "client, auth mode");
    let gateway_id = greffier_vault::keys::client::sender_id(&gateway.public_key().unwrap());
    claimed[45 + n..53 + n].copy_from_slice(&gateway_id);
    assert!(matches!(
        decrypt_with(&client, &claimed),
        Err(VaultError::SenderAuthFailed)
    ));
    // And the genuine gateway's objects open.
    let genuine = seal(
        params("acme", 1024),
        &client_key(public_key, &gateway),
        b"real audio",
    );
    assert_eq!(decrypt_with(&client, &genuine).unwrap(), b"real audio");
}

#[test]
fn the_sender_key_is_created_with_the_keyring_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keyring.grk");
    let master = MasterKey::generate().unwrap();
    let mut keyring = Keyring::init(&path, master.clone()).unwrap();
    let first = keyring.ensure_sender_key().unwrap();
    assert_eq!(keyring.sender_public_key().unwrap(), Some(first));
    let mut reopened = Keyring::open(&path, master).unwrap();
    assert_eq!(reopened.ensure_sender_key().unwrap(), first);
}
