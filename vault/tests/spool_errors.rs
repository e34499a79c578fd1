//! Spool problems surface as errors that say what to fix.

use std::time::Instant;

use greffier_test_support::storage::*;
use greffier_vault::recording::RecordingWriter;
use greffier_vault::spool::Spool;
use greffier_vault::store::{SpoolProblem, StoreError};

#[tokio::test]
async fn a_file_where_the_spool_directory_should_be_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("spool");
    std::fs::write(&blocker, b"not a directory").unwrap();
    for path in [blocker.clone(), blocker.join("inner")] {
        let error = Spool::open(&path, node()).await.unwrap_err();
        assert_not_a_directory(&error);
        let message = error.to_string();
        assert!(message.contains("must be a directory"), "{message}");
        assert!(message.contains(&*blocker.to_string_lossy()), "{message}");
    }
}

#[tokio::test]
async fn a_writer_that_cannot_create_its_tenant_directory_fails_clearly() {
    let local = Local::new().await;
    std::fs::write(local.spool_dir.join("acme"), b"in the way").unwrap();

    let result = RecordingWriter::create(
        local.spool.clone(),
        local.store.clone(),
        local.keys.clone(),
        call(local.keys.as_ref()),
        writer_options(),
        Instant::now(),
    )
    .await;
    let Err(error) = result else {
        panic!("a writer was created without a spool directory");
    };
    assert_not_a_directory(&error);
    assert!(!error.to_string().contains("612345678"));
}

#[tokio::test]
async fn a_record_cannot_have_two_writers() {
    let Local {
        keys, store, spool, ..
    } = Local::new().await;
    let call = call(keys.as_ref());
    let create = || {
        RecordingWriter::create(
            spool.clone(),
            store.clone(),
            keys.clone(),
            call.clone(),
            writer_options(),
            Instant::now(),
        )
    };
    let _first = create().await.unwrap();
    assert!(create().await.is_err());
}

#[test]
fn disk_full_and_permission_errors_are_named() {
    let cases = [
        (
            std::io::ErrorKind::StorageFull,
            SpoolProblem::DiskFull,
            "full",
        ),
        (
            std::io::ErrorKind::PermissionDenied,
            SpoolProblem::PermissionDenied,
            "permission",
        ),
        (
            std::io::ErrorKind::ReadOnlyFilesystem,
            SpoolProblem::ReadOnly,
            "read-only",
        ),
    ];
    for (kind, problem, words) in cases {
        let io = std::io::Error::from(kind);
        assert_eq!(SpoolProblem::of(&io), problem);
        assert!(problem.to_string().contains(words), "{problem}");
    }
}

fn assert_not_a_directory(error: &StoreError) {
    let problem = match error {
        StoreError::Spool { problem, .. } => Some(*problem),
        _ => None,
    };
    assert_eq!(problem, Some(SpoolProblem::NotADirectory), "{error:?}");
}
