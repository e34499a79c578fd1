//! A writer that dies mid-call leaves its spool; recovery closes the
//! recording, describes it as incomplete and uploads it.

use std::time::{Duration, Instant};

use greffier_test_support::s3::S3Server;
use greffier_test_support::storage::*;
use greffier_vault::catalog::Direction;
use greffier_vault::spool::UploadOptions;
use greffier_vault::store::VaultStore;

/// Writes `first`, lets more than the fsync interval pass, writes `second`
/// without a further fsync, and drops the writer. Returns what had been
/// made durable.
async fn crash_mid_call(
    spool: &std::sync::Arc<greffier_vault::spool::Spool>,
    store: &VaultStore,
    keys: std::sync::Arc<greffier_vault::Keyring>,
    call: greffier_vault::catalog::CallInfo,
    first: &[u8],
    second: &[u8],
) -> u64 {
    let start = Instant::now();
    let mut writer = writer(spool, store, &keys, call, start).await;
    writer
        .write(first, start + Duration::from_millis(1500))
        .await
        .unwrap();
    let durable = writer.durable_len();
    writer
        .write(second, start + Duration::from_millis(1600))
        .await
        .unwrap();
    assert_eq!(
        writer.durable_len(),
        durable,
        "no fsync before the interval"
    );
    drop(writer);
    durable
}

#[tokio::test]
async fn an_interrupted_recording_is_closed_marked_incomplete_and_uploaded() {
    let Local {
        dir: _dir,
        keys,
        store,
        spool_dir,
        spool,
    } = Local::new().await;
    let audio = audio(1_000_000, 11);
    let (first, second) = audio.split_at(700_000);
    let call = call(keys.as_ref());
    let id = call.record_id;
    let durable = crash_mid_call(&spool, &store, keys.clone(), call.clone(), first, second).await;
    assert!(
        durable >= 655_360,
        "chunks sealed before the fsync are durable: {durable}"
    );
    assert!(spool_files(&spool_dir)
        .iter()
        .any(|f| f.ends_with(".grf.part")));
    assert!(matches!(
        store.read_recording(keys.as_ref(), &tenant(), &id).await,
        Err(greffier_vault::store::StoreError::NotFound { .. })
    ));

    // The process restarts.
    drop(spool);
    let spool = greffier_test_support::storage::spool(&spool_dir).await;
    let report = spool
        .recover(&store, keys.as_ref(), &UploadOptions::default())
        .await
        .unwrap();
    assert_eq!(report.closed, vec![(tenant(), id)]);
    assert!(report.unrecoverable.is_empty());
    assert_eq!(report.upload.uploaded, vec![(tenant(), id)]);
    assert_spool_empty(&spool_dir);

    let recovered = store
        .read_recording(keys.as_ref(), &tenant(), &id)
        .await
        .unwrap();
    assert!(recovered.len() as u64 >= durable);
    assert!(
        audio.starts_with(&recovered),
        "recovered bytes are the start of what was written"
    );

    let manifest = manifest(&store, &keys, &id).await;
    assert!(manifest.incomplete);
    assert_eq!(manifest.call, call);
    assert_eq!(manifest.recording_len, recovered.len() as u64);

    let listed = listed_since(&store, &keys, &call).await;
    assert_eq!(listed.len(), 1);
    assert!(listed[0].incomplete);
    assert_eq!(listed[0].direction, Direction::Inbound);

    let (_, cdr) = only_cdr(&store, &keys, &id).await;
    assert!(cdr.incomplete && cdr.recorded);

    let by_number = store
        .list_by_number(keys.as_ref(), &tenant(), call.caller.as_ref().unwrap())
        .await
        .unwrap();
    assert_eq!(by_number.len(), 1);
}

#[tokio::test]
async fn a_torn_tail_is_dropped_and_the_rest_recovered_from_an_s3_call() {
    let server = S3Server::start().await;
    let local = Local::on_s3(&server).await;
    let audio = audio(6 * 1024 * 1024, 5);
    let call = call(local.keys.as_ref());
    let id = call.record_id;
    let durable = crash_mid_call(
        &local.spool,
        &local.store,
        local.keys.clone(),
        call,
        &audio,
        &[],
    )
    .await;

    // A power loss can leave a half-written frame after the last chunk.
    let part = local.spool_dir.join("acme").join(format!("{id}.grf.part"));
    let mut bytes = std::fs::read(&part).unwrap();
    bytes.extend_from_slice(&[0, 1, 0, 16, 0xAA, 0xBB]);
    std::fs::write(&part, &bytes).unwrap();

    let report = local
        .spool
        .recover(&local.store, local.keys.as_ref(), &UploadOptions::default())
        .await
        .unwrap();
    assert_eq!(report.upload.uploaded, vec![(tenant(), id)]);
    let recovered = local
        .store
        .read_recording(local.keys.as_ref(), &tenant(), &id)
        .await
        .unwrap();
    assert_eq!(recovered.len() as u64, durable);
    assert!(audio.starts_with(&recovered));
    assert!(manifest(&local.store, &local.keys, &id).await.incomplete);
    assert_no_number_in_keys(&server.stored_keys());
}
