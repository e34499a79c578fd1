//! The S3 server goes away mid-recording and comes back after the call
//! ended: the spool keeps everything and the upload queue delivers it.

use std::time::Instant;

use greffier_test_support::s3::S3Server;
use greffier_test_support::storage::*;
use greffier_vault::recording::FinishOutcome;
use greffier_vault::spool::UploadQueue;
use greffier_vault::store::StoreError;

#[tokio::test]
async fn a_recording_survives_a_store_outage() {
    let mut server = S3Server::start().await;
    let local = Local::on_s3(&server).await;
    let audio = audio(14 * 1024 * 1024, 21);
    let (before, after) = audio.split_at(7 * 1024 * 1024);

    let call = call(local.keys.as_ref());
    let id = call.record_id;
    let mut clock = Instant::now();
    let mut writer = writer(&local.spool, &local.store, &local.keys, call, clock).await;
    assert!(writer.is_streaming());
    feed(&mut writer, before, &mut clock).await;

    server.stop().await;
    feed(&mut writer, after, &mut clock).await;
    let outcome = writer.finish(ended_now()).await.unwrap();
    let FinishOutcome::Pending(error) = outcome else {
        panic!("the local.store is down, yet finish reported {outcome:?}");
    };
    assert!(error.is_transient(), "{error}");
    let spooled = spool_files(&local.spool_dir);
    assert!(
        spooled
            .iter()
            .any(|f| f.ends_with(".grf") && !f.contains("manifest") && !f.contains("cdr")),
        "{spooled:?}"
    );
    assert!(spooled.iter().any(|f| f.ends_with(".manifest.grf")));

    let queue = UploadQueue::new(
        local.spool.clone(),
        local.store.clone(),
        writer_options().upload,
    );
    let still_down = queue.run_once().await.unwrap();
    assert_eq!(still_down.pending.len(), 1);
    assert!(still_down.uploaded.is_empty());

    server.restart().await;
    let report = queue.run_once().await.unwrap();
    assert_eq!(report.uploaded, vec![(tenant(), id)]);
    assert!(report.pending.is_empty());
    assert_spool_empty(&local.spool_dir);

    let plaintext = local
        .store
        .read_recording(local.keys.as_ref(), &tenant(), &id)
        .await
        .unwrap();
    assert!(plaintext == audio, "nothing lost");
    let manifest = manifest(&local.store, &local.keys, &id).await;
    assert!(!manifest.incomplete);
    assert_eq!(manifest.recording_len, audio.len() as u64);
    assert_no_number_in_keys(&server.stored_keys());
}

#[tokio::test]
async fn a_call_that_starts_while_the_store_is_down_is_uploaded_later() {
    let mut server = S3Server::start().await;
    let Local {
        dir: _dir,
        keys,
        store,
        spool_dir: _,
        spool,
    } = Local::on_s3(&server).await;
    server.stop().await;

    let audio = audio(2 * 1024 * 1024, 4);
    let (call, outcome) = record(&spool, &store, keys.clone(), &audio).await;
    assert!(
        matches!(outcome, FinishOutcome::Pending(StoreError::Backend(_))),
        "{outcome:?}"
    );

    server.restart().await;
    let queue = UploadQueue::new(spool.clone(), store.clone(), writer_options().upload);
    let report = queue.run_once().await.unwrap();
    assert_eq!(report.uploaded.len(), 1);
    let plaintext = store
        .read_recording(keys.as_ref(), &tenant(), &call.record_id)
        .await
        .unwrap();
    assert!(plaintext == audio);
}
