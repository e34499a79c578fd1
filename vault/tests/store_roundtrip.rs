//! A multi-MiB recording through `RecordingWriter` to a local directory and
//! to a real S3 server, read back, listed, found by number, deleted.

use std::sync::Arc;

use chrono::Duration;
use greffier_test_support::s3::S3Server;
use greffier_test_support::storage::*;
use greffier_vault::catalog::{CdrRecord, Direction, E164};
use greffier_vault::recording::FinishOutcome;
use greffier_vault::spool::Spool;
use greffier_vault::store::{ObjectKey, StoreError, VaultStore};
use greffier_vault::Keyring;

const AUDIO_LEN: usize = 12 * 1024 * 1024 + 12_345;

async fn round_trip(
    store: &VaultStore,
    spool: &Arc<Spool>,
    spool_dir: &std::path::Path,
    keys: Arc<Keyring>,
) -> Vec<String> {
    let audio = audio(AUDIO_LEN, 7);
    let (call, outcome) = record(spool, store, keys.clone(), &audio).await;
    assert!(matches!(outcome, FinishOutcome::Stored), "{outcome:?}");
    assert_spool_empty(spool_dir);

    let id = call.record_id;
    let plaintext = store
        .read_recording(keys.as_ref(), &tenant(), &id)
        .await
        .unwrap();
    assert!(plaintext == audio, "recording differs after the round trip");

    let manifest = manifest(store, &keys, &id).await;
    assert_eq!(manifest.call, call);
    assert!(!manifest.incomplete);
    assert_eq!(manifest.recording_len, AUDIO_LEN as u64);

    let listed = listed_since(store, &keys, &call).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, id);
    assert_eq!(listed[0].direction, Direction::Inbound);
    assert!(!listed[0].incomplete);
    let earlier = store
        .list_recordings(
            keys.as_ref(),
            &tenant(),
            call.start - Duration::hours(2),
            call.start - Duration::hours(1),
        )
        .await
        .unwrap();
    assert!(earlier.is_empty());

    for number in [CALLER, CALLEE] {
        let found = store
            .list_by_number(keys.as_ref(), &tenant(), &E164::new(number).unwrap())
            .await
            .unwrap();
        assert_eq!(found.iter().map(|e| e.id).collect::<Vec<_>>(), vec![id]);
    }
    let stranger = store
        .list_by_number(keys.as_ref(), &tenant(), &E164::new("+4930123456").unwrap())
        .await
        .unwrap();
    assert!(stranger.is_empty());

    let (cdr_key, cdr) = only_cdr(store, &keys, &id).await;
    assert_eq!(cdr.call, call);
    assert!(cdr.recorded && !cdr.incomplete);
    assert_eq!(cdr.node, "gw1");

    let all_keys: Vec<String> = store
        .list(&ObjectKey::subjects_prefix(&tenant()))
        .await
        .unwrap()
        .iter()
        .chain(
            &store
                .list(&ObjectKey::recordings_day_prefix(&tenant(), id.date()))
                .await
                .unwrap(),
        )
        .chain([&cdr_key])
        .map(|key| key.to_string())
        .collect();
    assert_eq!(all_keys.len(), 2 + 2 + 1, "{all_keys:?}");
    assert_no_number_in_keys(&all_keys);

    store
        .delete_recording(keys.as_ref(), &tenant(), &id)
        .await
        .unwrap();
    assert!(matches!(
        store.read_recording(keys.as_ref(), &tenant(), &id).await,
        Err(StoreError::NotFound { .. })
    ));
    for number in [CALLER, CALLEE] {
        let found = store
            .list_by_number(keys.as_ref(), &tenant(), &E164::new(number).unwrap())
            .await
            .unwrap();
        assert!(found.is_empty());
    }
    assert!(store
        .list(&ObjectKey::subjects_prefix(&tenant()))
        .await
        .unwrap()
        .is_empty());
    all_keys
}

#[tokio::test]
async fn local_directory_round_trip() {
    let local = Local::new().await;
    round_trip(
        &local.store,
        &local.spool,
        &local.spool_dir,
        local.keys.clone(),
    )
    .await;
}

#[tokio::test]
async fn s3_round_trip_streams_during_the_call() {
    let server = S3Server::start().await;
    let local = Local::on_s3(&server).await;
    let keys_seen = round_trip(&local.store, &local.spool, &local.spool_dir, local.keys).await;
    assert!(keys_seen.iter().any(|key| key.contains("/recordings/")));
    let stored = server.stored_keys();
    assert!(stored.iter().any(|key| key.contains("/cdr/")), "{stored:?}");
    assert_no_number_in_keys(&stored);
}

#[tokio::test]
async fn a_tampered_recording_yields_nothing() {
    let Local {
        dir,
        keys,
        store,
        spool,
        ..
    } = Local::new().await;
    let store_dir = dir.path().join("store");
    let (call, outcome) = record(&spool, &store, keys.clone(), &audio(300_000, 3)).await;
    assert!(matches!(outcome, FinishOutcome::Stored));
    let id = call.record_id;
    let key = ObjectKey::recording(&tenant(), id.date(), &id);
    let path = store_dir.join(key.to_string());
    let mut object = std::fs::read(&path).unwrap();
    let last = object.len() - 1;
    object[last] ^= 1;
    std::fs::write(&path, &object).unwrap();
    let read = store.read_recording(keys.as_ref(), &tenant(), &id).await;
    assert!(matches!(read, Err(StoreError::Vault(_))), "{read:?}");
}

#[tokio::test]
async fn a_call_that_was_not_recorded_still_gets_a_call_record() {
    let Local {
        keys,
        store,
        spool_dir,
        spool,
        ..
    } = Local::new().await;
    let call = call(keys.as_ref());
    let cdr = CdrRecord::new(call.clone(), &node(), &ended_now(), false);
    spool.submit_cdr(keys.as_ref(), &cdr).await.unwrap();
    let queue = greffier_vault::spool::UploadQueue::new(
        spool.clone(),
        store.clone(),
        writer_options().upload,
    );
    let report = queue.run_once().await.unwrap();
    assert_eq!(report.uploaded, vec![(tenant(), call.record_id)]);
    assert!(spool_files(&spool_dir).is_empty());

    let id = call.record_id;
    let (cdr_key, stored) = only_cdr(&store, &keys, &id).await;
    assert!(cdr_key
        .path()
        .filename()
        .unwrap()
        .starts_with(&ObjectKey::cdr_hour_prefix(&node(), id.timestamp())));
    assert_eq!(stored, cdr);
    assert!(!stored.recorded);
    assert!(store
        .list(&ObjectKey::subjects_prefix(&tenant()))
        .await
        .unwrap()
        .is_empty());
}
