//! An attacker with write access to the store (but no key) copies one
//! record's object over another's key: each reader refuses it, naming the
//! object it asked for and the one it found, instead of returning the other
//! call's audio or metadata as this one's.

use std::path::{Path, PathBuf};

use greffier_test_support::storage::*;
use greffier_vault::recording::FinishOutcome;
use greffier_vault::store::{ObjectKey, RecordId, StoreError};
use greffier_vault::{ObjectKind, ObjectRef, VaultError};

/// Two recorded calls of one tenant in a local store.
struct TwoCalls {
    local: Local,
    x: RecordId,
    y: RecordId,
    audio_x: Vec<u8>,
}

async fn two_calls() -> TwoCalls {
    let local = Local::new().await;
    let audio_x = audio(40_000, 1);
    let (call_x, outcome) = record(&local.spool, &local.store, local.keys.clone(), &audio_x).await;
    assert!(matches!(outcome, FinishOutcome::Stored), "{outcome:?}");
    let (call_y, outcome) = record(
        &local.spool,
        &local.store,
        local.keys.clone(),
        &audio(30_000, 2),
    )
    .await;
    assert!(matches!(outcome, FinishOutcome::Stored), "{outcome:?}");
    TwoCalls {
        local,
        x: call_x.record_id,
        y: call_y.record_id,
        audio_x,
    }
}

fn file_of(local: &Local, key: &ObjectKey) -> PathBuf {
    local.dir.path().join("store").join(key.path().as_ref())
}

/// What an attacker with write access does: one file copied over another.
fn copy_over(from: &Path, to: &Path) {
    assert!(from.exists() && to.exists(), "{from:?} / {to:?}");
    std::fs::copy(from, to).unwrap();
}

fn wrong_object(kind: ObjectKind, expected: &RecordId, found: &RecordId) -> (ObjectRef, ObjectRef) {
    (
        ObjectRef {
            kind,
            record_id: expected.uuid(),
        },
        ObjectRef {
            kind,
            record_id: found.uuid(),
        },
    )
}

fn assert_wrong_object<T: std::fmt::Debug>(
    result: Result<T, StoreError>,
    wanted: (ObjectRef, ObjectRef),
) {
    match result {
        Err(StoreError::Vault(VaultError::WrongObject { expected, found })) => {
            assert_eq!((expected, found), wanted);
            let message = VaultError::WrongObject { expected, found }.to_string();
            assert!(
                message.contains(&expected.record_id.to_string())
                    && message.contains(&found.record_id.to_string()),
                "{message}"
            );
        }
        other => panic!("a swapped object was not refused as the wrong object: {other:?}"),
    }
}

#[tokio::test]
async fn a_recording_copied_over_another_is_refused_naming_both() {
    let calls = two_calls().await;
    let local = &calls.local;
    let tenant = tenant();
    let key_x = ObjectKey::recording(&tenant, calls.x.date(), &calls.x);
    let key_y = ObjectKey::recording(&tenant, calls.y.date(), &calls.y);
    copy_over(&file_of(local, &key_x), &file_of(local, &key_y));

    let read = local
        .store
        .read_recording(local.keys.as_ref(), &tenant, &calls.y)
        .await;
    if let Ok(audio) = &read {
        assert!(*audio != calls.audio_x, "X's audio was returned as Y's");
    }
    assert_wrong_object(
        read,
        wrong_object(ObjectKind::Recording, &calls.y, &calls.x),
    );
    // X itself still reads.
    let audio_x = local
        .store
        .read_recording(local.keys.as_ref(), &tenant, &calls.x)
        .await
        .unwrap();
    assert!(audio_x == calls.audio_x);
}

#[tokio::test]
async fn a_manifest_copied_over_another_is_refused_by_get_and_list() {
    let calls = two_calls().await;
    let local = &calls.local;
    let tenant = tenant();
    let key_x = ObjectKey::manifest(&tenant, calls.x.date(), &calls.x);
    let key_y = ObjectKey::manifest(&tenant, calls.y.date(), &calls.y);
    copy_over(&file_of(local, &key_x), &file_of(local, &key_y));

    let read = local
        .store
        .read_manifest(local.keys.as_ref(), &tenant, &calls.y)
        .await;
    assert_wrong_object(read, wrong_object(ObjectKind::Manifest, &calls.y, &calls.x));

    // Listing must not show X twice (once under Y's name).
    let listed = local
        .store
        .list_recordings(
            local.keys.as_ref(),
            &tenant,
            calls.x.timestamp() - chrono::Duration::seconds(1),
            chrono::Utc::now() + chrono::Duration::seconds(1),
        )
        .await;
    assert_wrong_object(
        listed,
        wrong_object(ObjectKind::Manifest, &calls.y, &calls.x),
    );
}

#[tokio::test]
async fn another_kind_of_the_same_record_is_refused_as_the_wrong_object() {
    let calls = two_calls().await;
    let local = &calls.local;
    let tenant = tenant();
    let manifest = ObjectKey::manifest(&tenant, calls.x.date(), &calls.x);
    let recording = ObjectKey::recording(&tenant, calls.x.date(), &calls.x);
    copy_over(&file_of(local, &manifest), &file_of(local, &recording));

    let read = local
        .store
        .read_recording(local.keys.as_ref(), &tenant, &calls.x)
        .await;
    let expected = ObjectRef {
        kind: ObjectKind::Recording,
        record_id: calls.x.uuid(),
    };
    let found = ObjectRef {
        kind: ObjectKind::Manifest,
        record_id: calls.x.uuid(),
    };
    assert_wrong_object(read, (expected, found));
}

#[tokio::test]
async fn a_call_record_copied_over_another_is_refused() {
    let calls = two_calls().await;
    let local = &calls.local;
    let tenant = tenant();
    let mut keys = Vec::new();
    for id in [&calls.x, &calls.y] {
        let listed = local
            .store
            .list(&ObjectKey::cdr_day_prefix(&tenant, id.date()))
            .await
            .unwrap();
        let name = format!("{id}.grf");
        keys.push(
            listed
                .into_iter()
                .find(|key| key.path().as_ref().ends_with(&name))
                .unwrap(),
        );
    }
    let (key_x, key_y) = (keys[0].clone(), keys[1].clone());
    let before = local
        .store
        .read_call_record(local.keys.as_ref(), &tenant, &key_y)
        .await
        .unwrap();
    assert_eq!(before.call.record_id, calls.y);

    copy_over(&file_of(local, &key_x), &file_of(local, &key_y));
    let read = local
        .store
        .read_call_record(local.keys.as_ref(), &tenant, &key_y)
        .await;
    assert_wrong_object(read, wrong_object(ObjectKind::Cdr, &calls.y, &calls.x));
}
