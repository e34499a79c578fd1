//! The S3 side against a real server: signatures are checked, conditional
//! create works and can be switched off, credentials come from a file, and
//! plain HTTP needs to be allowed.

use bytes::Bytes;
use greffier_test_support::s3::{S3Server, ACCESS_KEY, SECRET_KEY};
use greffier_test_support::storage::*;
use greffier_vault::store::{
    ObjectKey, RecordId, S3Credentials, StoreConfig, StoreError, VaultStore,
};

fn probe_key() -> ObjectKey {
    let id = RecordId::generate();
    ObjectKey::manifest(&tenant(), id.date(), &id)
}

#[tokio::test]
async fn requests_with_a_wrong_secret_are_refused() {
    let server = S3Server::start().await;
    let wrong = server.config_with(S3Credentials::new(ACCESS_KEY, "not-the-secret"));
    let store = VaultStore::from_config(&StoreConfig::S3(wrong)).unwrap();
    let key = probe_key();
    let error = store
        .put_new(&key, Bytes::from_static(b"x"))
        .await
        .unwrap_err();
    assert!(matches!(error, StoreError::Backend(_)), "{error:?}");
    assert!(server.stored_keys().is_empty());

    let unknown = server.config_with(S3Credentials::new("GKunknown", SECRET_KEY));
    let store = VaultStore::from_config(&StoreConfig::S3(unknown)).unwrap();
    assert!(store.put_new(&key, Bytes::from_static(b"x")).await.is_err());

    let right = VaultStore::from_config(&StoreConfig::S3(server.config())).unwrap();
    right.put_new(&key, Bytes::from_static(b"x")).await.unwrap();
    assert_eq!(server.stored_keys(), vec![key.to_string()]);
}

#[tokio::test]
async fn conditional_create_keeps_the_first_object_unless_switched_off() {
    let server = S3Server::start().await;
    let guarded = VaultStore::from_config(&StoreConfig::S3(server.config())).unwrap();
    let key = probe_key();
    guarded
        .put_new(&key, Bytes::from_static(b"first"))
        .await
        .unwrap();
    guarded
        .put_new(&key, Bytes::from_static(b"second"))
        .await
        .unwrap();
    assert_eq!(
        guarded.get(&key).await.unwrap(),
        Bytes::from_static(b"first")
    );

    let mut config = server.config();
    config.conditional_create = false;
    let unguarded = VaultStore::from_config(&StoreConfig::S3(config)).unwrap();
    unguarded
        .put_new(&key, Bytes::from_static(b"second"))
        .await
        .unwrap();
    assert_eq!(
        unguarded.get(&key).await.unwrap(),
        Bytes::from_static(b"second")
    );
}

#[tokio::test]
async fn credentials_can_come_from_a_file() {
    let server = S3Server::start().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("credentials");
    std::fs::write(
        &file,
        format!("[default]\n# node gw1\naws_access_key_id = {ACCESS_KEY}\naws_secret_access_key = {SECRET_KEY}\n"),
    )
    .unwrap();
    let store = VaultStore::from_config(&StoreConfig::S3(
        server.config_with(S3Credentials::File(file.clone())),
    ))
    .unwrap();
    let key = probe_key();
    store.put_new(&key, Bytes::from_static(b"x")).await.unwrap();
    assert_eq!(server.stored_keys(), vec![key.to_string()]);

    std::fs::write(&file, "aws_access_key_id = only-half\n").unwrap();
    let error = VaultStore::from_config(&StoreConfig::S3(
        server.config_with(S3Credentials::File(file)),
    ))
    .unwrap_err();
    assert!(matches!(error, StoreError::Config(_)), "{error:?}");
}

#[test]
fn plain_http_needs_to_be_allowed() {
    let mut config = greffier_vault::store::S3Config::new(
        "http://127.0.0.1:9",
        "garage",
        "recordings",
        S3Credentials::new("a", "b"),
    );
    let error = VaultStore::from_config(&StoreConfig::S3(config.clone())).unwrap_err();
    assert!(error.to_string().contains("allow_http"), "{error}");
    config.allow_http = true;
    assert!(VaultStore::from_config(&StoreConfig::S3(config)).is_ok());
}

#[test]
fn secrets_are_not_printed() {
    let credentials = S3Credentials::new(ACCESS_KEY, SECRET_KEY);
    assert!(!format!("{credentials:?}").contains(SECRET_KEY));
}
