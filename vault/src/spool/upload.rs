//! Sending one record's spooled files to the store, in an order that keeps
//! the store consistent at every step: recording and its undecodable
//! payloads, then manifest (so a listed manifest always has them), call
//! record, subject markers, and last the transcription job (so a worker
//! never finds a job whose recording is not there yet). Each
//! file is removed from the spool only once the store has confirmed it.

use bytes::Bytes;

use crate::spool::{fs, RecordFiles, SpoolFileKind};
use crate::store::{Backoff, BlindIndex, NodeId, ObjectKey, RecordId, StoreError, VaultStore};
use crate::tenant::TenantId;

pub(crate) struct UploadTarget<'a> {
    pub store: &'a VaultStore,
    pub node: &'a NodeId,
    pub backoff: &'a Backoff,
    pub part_size: usize,
}

pub(crate) async fn upload_record(
    target: &UploadTarget<'_>,
    tenant: &TenantId,
    id: &RecordId,
    files: &RecordFiles,
) -> Result<(), StoreError> {
    let store = target.store;
    let date = id.date();

    let recording = files.path(SpoolFileKind::Recording);
    if fs::exists(&recording).await? {
        let key = ObjectKey::recording(tenant, date, id);
        target
            .backoff
            .retry(|| store.upload_file(&key, &recording, target.part_size))
            .await?;
        fs::remove(&recording).await?;
    }

    let raw = ObjectKey::raw_payloads(tenant, date, id);
    put_spooled(target, &files.path(SpoolFileKind::RawPayloads), &raw).await?;

    let manifest = ObjectKey::manifest(tenant, date, id);
    put_spooled(target, &files.path(SpoolFileKind::Manifest), &manifest).await?;

    let cdr = ObjectKey::cdr(tenant, id.timestamp(), target.node, id);
    put_spooled(target, &files.path(SpoolFileKind::Cdr), &cdr).await?;

    let subjects = files.path(SpoolFileKind::Subjects);
    if fs::exists(&subjects).await? {
        let listed = fs::read(&subjects).await?;
        for line in String::from_utf8_lossy(&listed).lines() {
            let subject = BlindIndex::parse(line.trim())?;
            let marker = ObjectKey::subject_marker(tenant, &subject, id);
            target
                .backoff
                .retry(|| store.put_new(&marker, Bytes::new()))
                .await?;
        }
        fs::remove(&subjects).await?;
    }

    let job = ObjectKey::transcription_job(tenant, id);
    put_spooled(target, &files.path(SpoolFileKind::Job), &job).await
}

async fn put_spooled(
    target: &UploadTarget<'_>,
    path: &std::path::Path,
    key: &ObjectKey,
) -> Result<(), StoreError> {
    if !fs::exists(path).await? {
        return Ok(());
    }
    let bytes = Bytes::from(fs::read(path).await?);
    target
        .backoff
        .retry(|| target.store.put_new(key, bytes.clone()))
        .await?;
    fs::remove(path).await
}
