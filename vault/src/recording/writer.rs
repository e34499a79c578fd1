//! One recorded call's way to the store: plaintext in, ciphertext appended
//! to the spool (fsynced at least every `fsync_interval`), streamed to a
//! multipart upload on remote stores, and at hang-up the manifest, call
//! record and subject markers.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;

use crate::catalog::{seal_json, CallEnd, CallInfo, CdrRecord, Manifest};
use crate::encrypt::ObjectEncryptor;
use crate::format::header::{ObjectKind, ObjectParams};
use crate::recording::streamer::PartStreamer;
use crate::spool::{
    append_durably, remove, rename, sync_parent, upload_record, write_atomic, Claim, RecordFiles,
    Spool, SpoolFileKind, UploadOptions, UploadTarget,
};
use crate::store::{ObjectKey, StoreError, VaultStore};
use crate::tenant_keys::TenantKeys;

/// Plaintext per chunk of a recording: 16 KiB is half a second of 8 kHz stereo
/// 16-bit audio (less at higher rates), so a crash, which loses the chunk being
/// filled, costs well under a second of audio.
const RECORDING_CHUNK_SIZE: u32 = 16 * 1024;

#[derive(Clone, Debug)]
pub struct WriterOptions {
    /// Plaintext bytes per sealed chunk: what a crash can cost at most.
    pub chunk_size: u32,
    /// Longest wall time between two fsyncs of the spool file while audio
    /// arrives: what a power loss can cost at most (plus one chunk).
    pub fsync_interval: Duration,
    /// Multipart parts started during the call and not yet confirmed; past
    /// this the store is too slow and the recording is uploaded after the
    /// call from the spool.
    pub max_parts_in_flight: usize,
    pub upload: UploadOptions,
}

impl Default for WriterOptions {
    fn default() -> Self {
        WriterOptions {
            chunk_size: RECORDING_CHUNK_SIZE,
            fsync_interval: Duration::from_secs(1),
            max_parts_in_flight: 4,
            upload: UploadOptions::default(),
        }
    }
}

/// How [`RecordingWriter::finish`] ended.
#[derive(Debug)]
pub enum FinishOutcome {
    /// Every object is in the store and the spool files are gone.
    Stored,
    /// The store could not be reached; everything is in the spool and the
    /// upload queue will send it.
    Pending(StoreError),
}

/// Writes one recorded call. Created at call start, fed with the recorder's
/// bytes, finished at hang-up. Dropping it without `finish` leaves the spool
/// for [`Spool::recover`].
pub struct RecordingWriter {
    spool: Arc<Spool>,
    store: VaultStore,
    keys: Arc<dyn TenantKeys>,
    options: WriterOptions,
    call: CallInfo,
    files: RecordFiles,
    encryptor: ObjectEncryptor,
    chunk_size: u64,
    file: tokio::fs::File,
    streamer: Option<PartStreamer>,
    last_sync: Instant,
    plaintext_len: u64,
    durable_len: u64,
    _claim: Claim,
}

impl RecordingWriter {
    pub async fn create(
        spool: Arc<Spool>,
        store: VaultStore,
        keys: Arc<dyn TenantKeys>,
        call: CallInfo,
        options: WriterOptions,
        now: Instant,
    ) -> Result<Self, StoreError> {
        let tenant = call.tenant.clone();
        let id = call.record_id;
        let claim = spool.claim(&tenant, id).ok_or(StoreError::InvalidRecordId(
            "a writer for this record already exists",
        ))?;
        let files = spool.record_files(&tenant, id).await?;
        let sealed_call = seal_json(keys.as_ref(), &tenant, &id, ObjectKind::Manifest, &call)?;
        write_atomic(&files.path(SpoolFileKind::Call), &sealed_call).await?;

        let params = ObjectParams::new(tenant.clone(), id.uuid(), ObjectKind::Recording)
            .with_chunk_size(options.chunk_size)?;
        let mut encryptor = ObjectEncryptor::new(params, &keys.sealing_key(&tenant)?)?;
        let chunk_size = u64::from(encryptor.header().chunk_size());
        let part = files.path(SpoolFileKind::Part);
        let mut file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&part)
            .await
            .map_err(|e| StoreError::spool("create", &part, e))?;
        let header = encryptor.push(&[])?;
        append_durably(&mut file, &part, &header).await?;
        sync_parent(&part).await?;

        let streamer = if store.streams_during_call() {
            let key = ObjectKey::recording(&tenant, id.date(), &id);
            let part_size = options.upload.part_size();
            match PartStreamer::start(&store, key, part_size, options.max_parts_in_flight).await {
                Ok(mut streamer) => {
                    streamer.push(&header);
                    Some(streamer)
                }
                Err(error) => {
                    tracing::warn!(%tenant, record = %id, %error, "store unreachable at call start; recording to the spool only");
                    None
                }
            }
        } else {
            None
        };

        Ok(RecordingWriter {
            spool,
            store,
            keys,
            options,
            call,
            files,
            encryptor,
            chunk_size,
            file,
            streamer,
            last_sync: now,
            plaintext_len: 0,
            durable_len: 0,
            _claim: claim,
        })
    }

    pub fn call(&self) -> &CallInfo {
        &self.call
    }

    /// Plaintext bytes received so far.
    pub fn len(&self) -> u64 {
        self.plaintext_len
    }

    pub fn is_empty(&self) -> bool {
        self.plaintext_len == 0
    }

    /// Plaintext bytes that a crash now would not lose: those in chunks
    /// sealed before the last fsync.
    pub fn durable_len(&self) -> u64 {
        self.durable_len
    }

    /// Whether the recording still streams to the store during the call.
    pub fn is_streaming(&self) -> bool {
        self.streamer
            .as_ref()
            .is_some_and(PartStreamer::is_streaming)
    }

    /// Encrypts `plaintext`, appends the sealed chunks to the spool and the
    /// upload, and fsyncs when `fsync_interval` has passed since the last
    /// one. Spool errors (disk full, permissions) are returned: the caller
    /// must know its recording is not safe.
    pub async fn write(&mut self, plaintext: &[u8], now: Instant) -> Result<(), StoreError> {
        let sealed = self.encryptor.push(plaintext)?;
        self.plaintext_len += plaintext.len() as u64;
        if !sealed.is_empty() {
            let part = self.files.path(SpoolFileKind::Part);
            self.file
                .write_all(&sealed)
                .await
                .map_err(|e| StoreError::spool("write", &part, e))?;
            if let Some(streamer) = self.streamer.as_mut() {
                streamer.push(&sealed);
            }
        }
        if now.saturating_duration_since(self.last_sync) >= self.options.fsync_interval {
            self.sync(now).await?;
        }
        Ok(())
    }

    /// Forces the sealed chunks to disk now.
    pub async fn sync(&mut self, now: Instant) -> Result<(), StoreError> {
        let part = self.files.path(SpoolFileKind::Part);
        self.file
            .sync_data()
            .await
            .map_err(|e| StoreError::spool("fsync", &part, e))?;
        self.durable_len = self.plaintext_len / self.chunk_size * self.chunk_size;
        self.last_sync = now;
        Ok(())
    }

    /// Seals the payloads the recorder could not decode (FORMAT.md §10) into
    /// the spool, to be uploaded beside the recording before its manifest.
    pub async fn keep_raw_payloads(&mut self, plaintext: &[u8]) -> Result<(), StoreError> {
        let params = ObjectParams::new(
            self.call.tenant.clone(),
            self.call.record_id.uuid(),
            ObjectKind::RawPayloads,
        )
        .with_chunk_size(self.options.chunk_size)?;
        let key = self.keys.sealing_key(&self.call.tenant)?;
        let sealed = ObjectEncryptor::encrypt_all(params, &key, plaintext)?;
        write_atomic(&self.files.path(SpoolFileKind::RawPayloads), &sealed).await
    }

    /// Queues `job` (opaque bytes: the first state of the record's
    /// transcription job) to be written to the store once the recording and
    /// its manifest are there. Kept in the spool with the recording, so a
    /// crash or an unreachable store delays the job but never loses it.
    pub async fn queue_job(&mut self, job: &[u8]) -> Result<(), StoreError> {
        write_atomic(&self.files.path(SpoolFileKind::Job), job).await
    }

    /// Seals the last chunk, closes the spool file, spools the manifest,
    /// call record and subject markers, then uploads what the streaming
    /// upload did not already deliver. Store failures after the bounded
    /// retries give [`FinishOutcome::Pending`], never lost data.
    pub async fn finish(mut self, end: CallEnd) -> Result<FinishOutcome, StoreError> {
        let tenant = self.call.tenant.clone();
        let id = self.call.record_id;
        let files = &self.files;

        let last = self.encryptor.finish()?;
        let part = files.path(SpoolFileKind::Part);
        append_durably(&mut self.file, &part, &last).await?;
        drop(self.file);
        let recording = files.path(SpoolFileKind::Recording);
        rename(&part, &recording).await?;

        let manifest = Manifest::new(self.call.clone(), &end, self.plaintext_len);
        Spool::spool_manifest(self.keys.as_ref(), files, &manifest).await?;
        let cdr = CdrRecord::new(self.call, self.spool.node(), &end, true);
        Spool::spool_cdr(self.keys.as_ref(), files, &cdr).await?;
        remove(&files.path(SpoolFileKind::Call)).await?;

        if let Some(streamer) = self.streamer {
            match streamer.finish(&last).await {
                Ok(()) => remove(&recording).await?,
                Err(error) => {
                    tracing::warn!(%tenant, record = %id, %error, "streaming upload did not complete; uploading from the spool");
                }
            }
        }

        let target = UploadTarget {
            store: &self.store,
            node: self.spool.node(),
            backoff: &self.options.upload.backoff,
            part_size: self.options.upload.part_size(),
        };
        match upload_record(&target, &tenant, &id, files).await {
            Ok(()) => Ok(FinishOutcome::Stored),
            Err(error) if error.is_transient() => {
                tracing::warn!(%tenant, record = %id, %error, "store unreachable; the recording waits in the spool");
                self.spool.notify_pending();
                Ok(FinishOutcome::Pending(error))
            }
            Err(error) => Err(error),
        }
    }
}
