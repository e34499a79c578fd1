//! The storage side of the vault: a keyring with one managed tenant, a local
//! store, a spool, calls and recordings written through them, and the call
//! records read back.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use greffier_vault::catalog::{call_id_hash, CallInfo, Direction, Manifest, RecordingEntry, E164};
use greffier_vault::recording::{FinishOutcome, RecordingWriter, WriterOptions};
use greffier_vault::spool::{Spool, UploadOptions};
use greffier_vault::store::{Backoff, NodeId, RecordId, StoreConfig, VaultStore};
use greffier_vault::{Keyring, MasterKey, TenantId, TenantKeys};

use crate::s3::S3Server;

pub const CALLER: &str = "+33612345678";
pub const CALLEE: &str = "+33198765432";
/// The digits of the test numbers that must never appear in an object key.
pub const NUMBER_DIGITS: [&str; 2] = ["612345678", "198765432"];

pub fn tenant() -> TenantId {
    TenantId::new("acme").unwrap()
}

pub fn node() -> NodeId {
    NodeId::new("gw1").unwrap()
}

/// A new keyring file in `dir` under a fresh master key, with no tenant.
pub fn empty_keyring(dir: &Path) -> Keyring {
    Keyring::init(&dir.join("keyring.grk"), MasterKey::generate().unwrap()).unwrap()
}

/// A new keyring in `dir` holding the managed keys of [`tenant`].
pub fn keyring(dir: &Path) -> Arc<Keyring> {
    let mut keyring = empty_keyring(dir);
    keyring.add_managed_tenant(&tenant()).unwrap();
    Arc::new(keyring)
}

pub fn call(keys: &dyn TenantKeys) -> CallInfo {
    CallInfo {
        tenant: tenant(),
        record_id: RecordId::generate(),
        start: Utc::now(),
        caller: Some(E164::new(CALLER).unwrap()),
        callee: Some(E164::new(CALLEE).unwrap()),
        direction: Direction::Inbound,
        codecs: vec!["PCMA/8000".into()],
        media_type: "audio/wav".into(),
        call_id_hash: call_id_hash(
            &keys.index_key(&tenant()).unwrap(),
            "a84b4c76e66710@pc33.example.com",
        )
        .unwrap(),
    }
}

/// Fast retries so a test with a stopped store ends quickly.
pub fn writer_options() -> WriterOptions {
    WriterOptions {
        upload: UploadOptions {
            backoff: Backoff {
                initial: Duration::from_millis(5),
                max: Duration::from_millis(20),
                attempts: 2,
            },
            ..UploadOptions::default()
        },
        ..WriterOptions::default()
    }
}

pub fn local_store(dir: &Path) -> VaultStore {
    VaultStore::from_config(&StoreConfig::Local {
        path: dir.to_owned(),
    })
    .unwrap()
}

pub async fn spool(dir: &Path) -> Arc<Spool> {
    Spool::open(dir, node()).await.unwrap()
}

/// Deterministic pseudo-random audio.
pub fn audio(len: usize, seed: u64) -> Vec<u8> {
    crate::objects::pattern(len, seed)
}

/// Feeds `audio` to the writer in 20 ms-sized frames of 8 kHz stereo
/// 16-bit PCM, advancing a virtual clock by 20 ms per frame.
pub async fn feed(writer: &mut RecordingWriter, audio: &[u8], clock: &mut Instant) {
    for frame in audio.chunks(640) {
        *clock += Duration::from_millis(20);
        writer.write(frame, *clock).await.unwrap();
    }
}

/// A writer of `call`'s recording through `spool` to `store`, with the fast
/// retries of [`writer_options`].
pub async fn writer(
    spool: &Arc<Spool>,
    store: &VaultStore,
    keys: &Arc<Keyring>,
    call: CallInfo,
    clock: Instant,
) -> RecordingWriter {
    RecordingWriter::create(
        spool.clone(),
        store.clone(),
        keys.clone(),
        call,
        writer_options(),
        clock,
    )
    .await
    .unwrap()
}

pub async fn record(
    spool: &Arc<Spool>,
    store: &VaultStore,
    keys: Arc<Keyring>,
    audio: &[u8],
) -> (CallInfo, FinishOutcome) {
    let call = call(keys.as_ref());
    let mut clock = Instant::now();
    let mut writer = writer(spool, store, &keys, call.clone(), clock).await;
    feed(&mut writer, audio, &mut clock).await;
    let outcome = writer.finish(ended_now()).await.unwrap();
    (call, outcome)
}

pub fn ended_now() -> greffier_vault::catalog::CallEnd {
    greffier_vault::catalog::CallEnd {
        end: Some(Utc::now()),
        sip_status: Some(200),
        ..Default::default()
    }
}

/// Every file left in the spool (tenant directories themselves excluded).
pub fn spool_files(dir: &Path) -> Vec<String> {
    let mut files = Vec::new();
    for tenant in std::fs::read_dir(dir).unwrap().flatten() {
        if tenant.path().is_dir() {
            for file in std::fs::read_dir(tenant.path()).unwrap().flatten() {
                files.push(file.file_name().to_string_lossy().into_owned());
            }
        }
    }
    files
}

pub fn assert_no_number_in_keys(keys: &[String]) {
    for key in keys {
        for digits in NUMBER_DIGITS {
            assert!(!key.contains(digits), "{key} holds a phone number");
        }
    }
}

/// A keyring and a spool in one temporary directory, and a store.
pub struct Local {
    pub dir: tempfile::TempDir,
    pub keys: Arc<Keyring>,
    pub store: VaultStore,
    pub spool_dir: std::path::PathBuf,
    pub spool: Arc<Spool>,
}

impl Local {
    /// With a local store in the same directory.
    pub async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = local_store(&dir.path().join("store"));
        Self::with_store(dir, store).await
    }

    /// With `server` as the store.
    pub async fn on_s3(server: &S3Server) -> Self {
        let store = VaultStore::from_config(&StoreConfig::S3(server.config())).unwrap();
        Self::with_store(tempfile::tempdir().unwrap(), store).await
    }

    async fn with_store(dir: tempfile::TempDir, store: VaultStore) -> Self {
        let keys = keyring(dir.path());
        let spool_dir = dir.path().join("spool");
        let spool = spool(&spool_dir).await;
        Local {
            dir,
            keys,
            store,
            spool_dir,
            spool,
        }
    }
}

/// The one call record stored for `id`'s day, decrypted.
pub async fn only_cdr(
    store: &VaultStore,
    keys: &Keyring,
    id: &RecordId,
) -> (
    greffier_vault::store::ObjectKey,
    greffier_vault::catalog::CdrRecord,
) {
    let listed = store
        .list(&greffier_vault::store::ObjectKey::cdr_day_prefix(
            &tenant(),
            id.date(),
        ))
        .await
        .unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    let object = store.get(&listed[0]).await.unwrap();
    let plaintext = greffier_vault::decrypt_all(keys, tenant(), &object).unwrap();
    (
        listed[0].clone(),
        serde_json::from_slice(&plaintext).unwrap(),
    )
}

/// Checks that nothing is left in the spool at `dir`.
pub fn assert_spool_empty(dir: &Path) {
    let left = spool_files(dir);
    assert!(left.is_empty(), "left in the spool: {left:?}");
}

/// The manifest of [`tenant`]'s recording `id`.
pub async fn manifest(store: &VaultStore, keys: &Keyring, id: &RecordId) -> Manifest {
    store.read_manifest(keys, &tenant(), id).await.unwrap()
}

/// [`tenant`]'s recordings that started from a second before `call` until a
/// second from now.
pub async fn listed_since(
    store: &VaultStore,
    keys: &Keyring,
    call: &CallInfo,
) -> Vec<RecordingEntry> {
    store
        .list_recordings(
            keys,
            &tenant(),
            call.start - chrono::Duration::seconds(1),
            Utc::now() + chrono::Duration::seconds(1),
        )
        .await
        .unwrap()
}
