//! Payloads the recorder could not decode: sealed beside the recording,
//! named in the manifest and the listing, read back whole, deleted with it.

use std::time::Instant;

use chrono::Utc;
use greffier_test_support::storage::*;
use greffier_vault::catalog::CallEnd;
use greffier_vault::recording::FinishOutcome;
use greffier_vault::store::ObjectKey;

#[tokio::test]
async fn undecodable_payloads_are_kept_listed_and_deleted_with_the_recording() {
    let dir = tempfile::tempdir().unwrap();
    let keys = keyring(dir.path());
    let store = local_store(&dir.path().join("store"));
    let spool_dir = dir.path().join("spool");
    let spool = spool(&spool_dir).await;
    let call = call(keys.as_ref());
    let id = call.record_id;
    let mut clock = Instant::now();
    let mut writer = writer(&spool, &store, &keys, call.clone(), clock).await;
    feed(&mut writer, &audio(64_000, 3), &mut clock).await;
    // More than one chunk, so the object is really streamed in pieces.
    let raw = audio(40_000, 9);
    writer.keep_raw_payloads(&raw).await.unwrap();
    let end = CallEnd {
        end: Some(Utc::now()),
        sip_status: Some(200),
        undecodable: vec!["AMR/8000".into()],
        ..CallEnd::default()
    };
    let outcome = writer.finish(end).await.unwrap();
    assert!(matches!(outcome, FinishOutcome::Stored), "{outcome:?}");
    assert_spool_empty(&spool_dir);

    let read = store
        .read_raw_payloads(keys.as_ref(), &tenant(), &id)
        .await
        .unwrap();
    assert!(read == raw, "raw payloads differ after the round trip");
    let object = store
        .get(&ObjectKey::raw_payloads(&tenant(), id.date(), &id))
        .await
        .unwrap();
    assert_eq!(object[7], 5, "kind raw payloads");
    assert!(
        !object.windows(raw.len().min(64)).any(|w| w == &raw[..64]),
        "payloads stored in clear"
    );

    let manifest = manifest(&store, &keys, &id).await;
    assert_eq!(manifest.undecodable, vec!["AMR/8000".to_string()]);
    let listed = listed_since(&store, &keys, &call).await;
    assert_eq!(
        listed.len(),
        1,
        "the raw object is not listed as a recording"
    );
    assert_eq!(listed[0].undecodable, vec!["AMR/8000".to_string()]);

    // The recording object is not the raw one: reading it as raw fails.
    store
        .delete_recording(keys.as_ref(), &tenant(), &id)
        .await
        .unwrap();
    assert!(store
        .read_raw_payloads(keys.as_ref(), &tenant(), &id)
        .await
        .is_err());
    let left = store
        .list(&ObjectKey::recordings_day_prefix(&tenant(), id.date()))
        .await
        .unwrap();
    assert!(left.is_empty(), "{left:?}");
}

#[tokio::test]
async fn a_manifest_without_the_field_reads_as_fully_decoded() {
    let json = serde_json::json!({
        "version": 1, "tenant": "acme", "record_id": "01890a5d-ac96-774b-bcce-b302099a8057",
        "start": "2023-06-30T10:00:00Z", "caller": null, "callee": null,
        "direction": "inbound", "codecs": ["PCMA"], "media_type": "audio/wav",
        "call_id_hash": "00", "end": null, "dtmf": [], "pauses": [],
        "incomplete": false, "recording_len": 0
    });
    let manifest: greffier_vault::catalog::Manifest = serde_json::from_value(json).unwrap();
    assert!(manifest.undecodable.is_empty());
}
