//! The sealed keyring: persistence, rotation, crypto-shredding, master key
//! errors, blind indexes.

use greffier_test_support::objects;
use std::path::Path;

use greffier_test_support::objects::{params, pattern, seal, tenant};
use greffier_vault::{
    decrypt_all, ClientPrivateKey, KeySlot, Keyring, MasterKey, Sealing, TenantKey, TenantStatus,
    VaultError,
};

fn new_keyring(dir: &Path) -> (Keyring, MasterKey) {
    let master = MasterKey::generate().unwrap();
    let keyring = Keyring::init(&dir.join("keyring.grk"), master.clone()).unwrap();
    (keyring, master)
}

fn kek_version(object: &[u8]) -> u32 {
    let header =
        greffier_vault::Header::parse(&object[..objects::layout(object).header.end]).unwrap();
    match header.key_slot() {
        KeySlot::Managed { kek_version, .. } => *kek_version,
        KeySlot::Client { .. } | KeySlot::ClientAuth { .. } => panic!("expected a managed object"),
    }
}

#[test]
fn keys_persist_and_the_file_holds_none_in_clear() {
    let dir = tempfile::tempdir().unwrap();
    let (mut keyring, master) = new_keyring(dir.path());
    keyring.add_managed_tenant(&tenant("acme")).unwrap();
    let TenantKey::Managed { kek, .. } = keyring.sealing_key(&tenant("acme")).unwrap() else {
        panic!("managed tenant expected");
    };
    let object = seal(
        params("acme", 4096),
        &keyring.sealing_key(&tenant("acme")).unwrap(),
        b"hello",
    );

    let file = std::fs::read(keyring.path()).unwrap();
    assert!(
        !file.windows(32).any(|w| w == kek.as_bytes()),
        "KEK stored in clear"
    );
    assert!(
        !file.windows(4).any(|w| w == b"acme"),
        "tenant list stored in clear"
    );

    let reopened = Keyring::open(keyring.path(), master).unwrap();
    assert_eq!(
        decrypt_all(&reopened, tenant("acme"), &object).unwrap(),
        b"hello"
    );
    assert!(matches!(
        Keyring::init(keyring.path(), MasterKey::generate().unwrap()),
        Err(VaultError::KeyringExists { .. })
    ));
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        leftovers,
        vec![std::ffi::OsString::from("keyring.grk")],
        "temporary files left behind"
    );
}

#[test]
fn rotation_keeps_old_objects_readable() {
    let dir = tempfile::tempdir().unwrap();
    let (mut keyring, master) = new_keyring(dir.path());
    let acme = tenant("acme");
    keyring.add_managed_tenant(&acme).unwrap();
    let before = pattern(5000, 1);
    let old = seal(
        params("acme", 1024),
        &keyring.sealing_key(&acme).unwrap(),
        &before,
    );

    assert_eq!(keyring.rotate(&acme).unwrap(), 2);
    let after = pattern(5000, 2);
    let new = seal(
        params("acme", 1024),
        &keyring.sealing_key(&acme).unwrap(),
        &after,
    );
    assert_eq!((kek_version(&old), kek_version(&new)), (1, 2));

    let reopened = Keyring::open(keyring.path(), master).unwrap();
    for reader in [&keyring, &reopened] {
        assert!(decrypt_all(reader, acme.clone(), &old).unwrap() == before);
        assert!(decrypt_all(reader, acme.clone(), &new).unwrap() == after);
    }
    assert_eq!(
        reopened.tenants(),
        vec![(
            acme,
            TenantStatus::Active {
                sealing: Sealing::Managed { version: 2 },
                kek_versions: vec![1, 2]
            }
        )]
    );
}

#[test]
fn shredding_one_tenant_leaves_the_others_readable() {
    let dir = tempfile::tempdir().unwrap();
    let (mut keyring, master) = new_keyring(dir.path());
    let (acme, globex) = (tenant("acme"), tenant("globex"));
    keyring.add_managed_tenant(&acme).unwrap();
    keyring.add_managed_tenant(&globex).unwrap();
    let acme_v1 = seal(
        params("acme", 1024),
        &keyring.sealing_key(&acme).unwrap(),
        b"one",
    );
    keyring.rotate(&acme).unwrap();
    let acme_v2 = seal(
        params("acme", 1024),
        &keyring.sealing_key(&acme).unwrap(),
        b"two",
    );
    let globex_object = seal(
        params("globex", 1024),
        &keyring.sealing_key(&globex).unwrap(),
        b"three",
    );
    let globex_index = keyring.blind_index(&globex, "+33612345678").unwrap();

    keyring.shred(&acme).unwrap();

    let reopened = Keyring::open(keyring.path(), master).unwrap();
    for reader in [&keyring, &reopened] {
        for object in [&acme_v1, &acme_v2] {
            assert!(matches!(
                decrypt_all(reader, acme.clone(), object),
                Err(VaultError::KeyShredded { .. })
            ));
        }
        assert_eq!(
            decrypt_all(reader, globex.clone(), &globex_object).unwrap(),
            b"three"
        );
        assert!(matches!(
            reader.sealing_key(&acme),
            Err(VaultError::KeyShredded { .. })
        ));
        assert!(matches!(
            reader.index_key(&acme),
            Err(VaultError::KeyShredded { .. })
        ));
        assert_eq!(
            reader.blind_index(&globex, "+33612345678").unwrap(),
            globex_index
        );
    }
    assert!(matches!(
        keyring.add_managed_tenant(&acme),
        Err(VaultError::KeyShredded { .. })
    ));
    assert!(matches!(
        keyring.rotate(&acme),
        Err(VaultError::KeyShredded { .. })
    ));
}

#[test]
fn a_terminating_tenant_opens_what_is_stored_but_seals_nothing_new() {
    let dir = tempfile::tempdir().unwrap();
    let (mut keyring, master) = new_keyring(dir.path());
    let (acme, globex) = (tenant("acme"), tenant("globex"));
    keyring.add_managed_tenant(&acme).unwrap();
    keyring.add_managed_tenant(&globex).unwrap();
    let stored = seal(
        params("acme", 1024),
        &keyring.sealing_key(&acme).unwrap(),
        b"kept",
    );

    keyring.begin_termination(&acme).unwrap();
    // Twice is once: a termination run again goes on.
    keyring.begin_termination(&acme).unwrap();

    let reopened = Keyring::open(keyring.path(), master.clone()).unwrap();
    for reader in [&keyring, &reopened] {
        assert_eq!(decrypt_all(reader, acme.clone(), &stored).unwrap(), b"kept");
        assert!(matches!(
            reader.sealing_key(&acme),
            Err(VaultError::TenantTerminating { .. })
        ));
        assert!(!reader.tenants()[0].1.is_active(), "{:?}", reader.tenants());
        assert!(reader.sealing_key(&globex).is_ok());
    }
    assert!(matches!(
        keyring.rotate(&acme),
        Err(VaultError::TenantTerminating { .. })
    ));
    assert!(matches!(
        keyring.add_managed_tenant(&acme),
        Err(VaultError::TenantTerminating { .. })
    ));

    keyring.shred(&acme).unwrap();
    // Shredded stays shredded: starting again changes nothing.
    keyring.begin_termination(&acme).unwrap();
    let reopened = Keyring::open(keyring.path(), master).unwrap();
    assert!(matches!(
        decrypt_all(&reopened, acme.clone(), &stored),
        Err(VaultError::KeyShredded { .. })
    ));
    assert!(matches!(
        keyring.begin_termination(&tenant("initech")),
        Err(VaultError::UnknownTenant { .. })
    ));
}

#[test]
fn a_stale_handle_cannot_resurrect_shredded_keys() {
    let dir = tempfile::tempdir().unwrap();
    let (mut cli, master) = new_keyring(dir.path());
    let (acme, globex) = (tenant("acme"), tenant("globex"));
    cli.add_managed_tenant(&acme).unwrap();
    cli.add_managed_tenant(&globex).unwrap();
    let mut gateway = Keyring::open(cli.path(), master.clone()).unwrap();
    let object = seal(
        params("acme", 1024),
        &gateway.sealing_key(&acme).unwrap(),
        b"x",
    );

    cli.shred(&acme).unwrap();
    gateway.rotate(&globex).unwrap();

    let fresh = Keyring::open(cli.path(), master).unwrap();
    assert!(matches!(
        decrypt_all(&fresh, acme.clone(), &object),
        Err(VaultError::KeyShredded { .. })
    ));
    assert!(matches!(
        decrypt_all(&gateway, acme.clone(), &object),
        Err(VaultError::KeyShredded { .. })
    ));
}

#[test]
fn reload_sees_changes_made_elsewhere() {
    let dir = tempfile::tempdir().unwrap();
    let (mut cli, master) = new_keyring(dir.path());
    let mut reader = Keyring::open(cli.path(), master).unwrap();
    cli.add_managed_tenant(&tenant("acme")).unwrap();
    assert!(matches!(
        reader.sealing_key(&tenant("acme")),
        Err(VaultError::UnknownTenant { .. })
    ));
    reader.reload().unwrap();
    assert!(reader.sealing_key(&tenant("acme")).is_ok());
}

#[test]
fn wrong_master_key_or_altered_file_fails_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let (mut keyring, master) = new_keyring(dir.path());
    keyring.add_managed_tenant(&tenant("acme")).unwrap();
    let path = keyring.path().to_owned();

    let error = Keyring::open(&path, MasterKey::generate().unwrap()).unwrap_err();
    assert!(matches!(error, VaultError::KeyringUnsealFailed { .. }));
    assert!(error.to_string().contains("wrong master key"), "{error}");

    let original = std::fs::read(&path).unwrap();
    let mut altered = original.clone();
    let last = altered.len() - 1;
    altered[last] ^= 1;
    std::fs::write(&path, &altered).unwrap();
    assert!(matches!(
        Keyring::open(&path, master.clone()),
        Err(VaultError::KeyringUnsealFailed { .. })
    ));

    std::fs::write(&path, &original[..10]).unwrap();
    assert!(matches!(
        Keyring::open(&path, master.clone()),
        Err(VaultError::KeyringMalformed { .. })
    ));
    std::fs::write(&path, b"GRF1 not a keyring at all, just some bytes").unwrap();
    assert!(matches!(
        Keyring::open(&path, master),
        Err(VaultError::KeyringMalformed { .. })
    ));
}

#[test]
fn a_failed_change_leaves_memory_and_file_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let (mut keyring, master) = new_keyring(dir.path());
    keyring.add_managed_tenant(&tenant("acme")).unwrap();
    assert!(matches!(
        keyring.add_managed_tenant(&tenant("acme")),
        Err(VaultError::TenantExists { .. })
    ));
    assert!(matches!(
        keyring.rotate(&tenant("nobody")),
        Err(VaultError::UnknownTenant { .. })
    ));
    let reopened = Keyring::open(keyring.path(), master).unwrap();
    assert_eq!(reopened.tenants(), keyring.tenants());
    assert_eq!(reopened.tenants().len(), 1);
}

#[test]
fn master_key_from_environment() {
    let var = "GREFFIER_VAULT_TEST_MASTER_KEY_B64";
    let key = MasterKey::from_bytes([0x42; 32]);
    std::env::set_var(var, "QkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkI=");
    assert_eq!(MasterKey::from_env(var).unwrap(), key);
    std::env::set_var(var, "QkJC");
    let error = MasterKey::from_env(var).unwrap_err();
    assert!(matches!(error, VaultError::MasterKeyInvalid { .. }));
    assert!(error.to_string().contains(var));
    std::env::remove_var(var);
    assert!(matches!(
        MasterKey::from_env(var),
        Err(VaultError::MasterKeyMissing { .. })
    ));
}

#[test]
fn dev_default_creates_a_private_master_key_and_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    let mut keyring = Keyring::dev_default(&keys).unwrap();
    keyring.add_managed_tenant(&tenant("acme")).unwrap();
    let object = seal(
        params("acme", 1024),
        &keyring.sealing_key(&tenant("acme")).unwrap(),
        b"dev",
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(keys.join("master.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let again = Keyring::dev_default(&keys).unwrap();
    assert_eq!(
        decrypt_all(&again, tenant("acme"), &object).unwrap(),
        b"dev"
    );
}

#[test]
fn blind_indexes_are_stable_per_tenant_and_differ_between_tenants() {
    let dir = tempfile::tempdir().unwrap();
    let (mut keyring, master) = new_keyring(dir.path());
    keyring.add_managed_tenant(&tenant("acme")).unwrap();
    keyring.add_managed_tenant(&tenant("globex")).unwrap();
    let acme = keyring
        .blind_index(&tenant("acme"), "+33612345678")
        .unwrap();
    let globex = keyring
        .blind_index(&tenant("globex"), "+33612345678")
        .unwrap();
    assert_ne!(acme, globex);
    let reopened = Keyring::open(keyring.path(), master).unwrap();
    assert_eq!(
        reopened
            .blind_index(&tenant("acme"), "+33612345678")
            .unwrap(),
        acme
    );
    assert!(matches!(
        keyring.blind_index(&tenant("acme"), "0612345678"),
        Err(VaultError::InvalidE164)
    ));
}

/// A client-mode tenant's calls must not be searchable by number by the
/// gateway: it has no subject index key, and no blind index is made for it.
#[test]
fn a_client_mode_tenant_has_no_subject_index() {
    let dir = tempfile::tempdir().unwrap();
    let (mut keyring, _) = new_keyring(dir.path());
    let (client, public_key) = ClientPrivateKey::generate().unwrap();
    keyring
        .add_client_tenant(&tenant("cust"), public_key)
        .unwrap();
    keyring.add_managed_tenant(&tenant("acme")).unwrap();
    assert!(keyring
        .subject_index_key(&tenant("cust"))
        .unwrap()
        .is_none());
    assert!(matches!(
        keyring.blind_index(&tenant("cust"), "+33612345678"),
        Err(VaultError::ClientKeyRequired { .. })
    ));
    assert!(keyring
        .subject_index_key(&tenant("acme"))
        .unwrap()
        .is_some());
    // The client's own index key comes from its private key alone.
    let own = client.subject_index_key().unwrap();
    assert_eq!(
        own.as_bytes(),
        ClientPrivateKey::from_bytes(*client.as_bytes())
            .unwrap()
            .subject_index_key()
            .unwrap()
            .as_bytes()
    );
    let (other, _) = ClientPrivateKey::generate().unwrap();
    assert_ne!(
        own.as_bytes(),
        other.subject_index_key().unwrap().as_bytes()
    );
}

/// A keyring file as written before sender keys existed (FORMAT.md §6
/// without the trailing sender section), holding one client tenant.
fn keyring_without_sender(path: &Path, master: &MasterKey, client_public_key: &[u8; 32]) {
    use aes_gcm::aead::{Aead, KeyInit, Payload};
    use hmac::{Hmac, Mac};
    let mut plaintext = 1u32.to_be_bytes().to_vec();
    plaintext.push(4);
    plaintext.extend_from_slice(b"cust");
    plaintext.push(1); // active
    plaintext.extend_from_slice(&[3; 32]); // index key
    plaintext.push(2); // client
    plaintext.extend_from_slice(client_public_key);
    plaintext.extend_from_slice(&0u32.to_be_bytes()); // no KEK
    let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(master.as_bytes()).unwrap();
    mac.update(b"greffier keyring seal\x01");
    let key = mac.finalize().into_bytes();
    let nonce = [9u8; 12];
    let prefix = b"GRK1\x01";
    let sealed = aes_gcm::Aes256Gcm::new_from_slice(&key)
        .unwrap()
        .encrypt(
            &nonce.into(),
            Payload {
                msg: &plaintext,
                aad: prefix,
            },
        )
        .unwrap();
    let mut file = prefix.to_vec();
    file.extend_from_slice(&nonce);
    file.extend_from_slice(&sealed);
    std::fs::write(path, file).unwrap();
}

#[test]
fn a_keyring_from_before_sender_keys_gets_one_and_then_seals_client_objects() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keyring.grk");
    let master = MasterKey::generate().unwrap();
    let (private_key, public_key) = greffier_vault::ClientPrivateKey::generate().unwrap();
    keyring_without_sender(&path, &master, &public_key);

    let mut keyring = Keyring::open(&path, master.clone()).unwrap();
    assert_eq!(keyring.sender_public_key().unwrap(), None);
    assert!(matches!(
        keyring.sealing_key(&tenant("cust")),
        Err(VaultError::SenderKeyMissing)
    ));
    let sender = keyring.ensure_sender_key().unwrap();
    let reopened = Keyring::open(&path, master).unwrap();
    assert_eq!(reopened.sender_public_key().unwrap(), Some(sender));
    let object = seal(
        params("cust", 1024),
        &reopened.sealing_key(&tenant("cust")).unwrap(),
        b"after the upgrade",
    );
    let client = greffier_vault::ClientReader::new(private_key, vec![sender]);
    let (_, plaintext) = greffier_vault::decrypt_for_client(&client, &object).unwrap();
    assert_eq!(plaintext, b"after the upgrade");
}
