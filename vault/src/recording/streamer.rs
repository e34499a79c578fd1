//! A multipart upload fed while the call runs: ciphertext is cut into parts
//! of the configured size (S3 wants at least 5 MiB for all but the last)
//! and each part is sent in the background. The recorder never waits for
//! the store: if a part fails or too many are in flight, streaming stops and
//! the recording is uploaded from the spool after the call instead.

use bytes::BytesMut;
use object_store::{MultipartUpload, PutPayload};
use tokio::task::JoinSet;

use crate::store::{ObjectKey, StoreError, VaultStore};

pub(crate) struct PartStreamer {
    key: ObjectKey,
    upload: Option<Box<dyn MultipartUpload>>,
    buffer: BytesMut,
    part_size: usize,
    max_in_flight: usize,
    in_flight: JoinSet<Result<(), object_store::Error>>,
}

impl PartStreamer {
    pub(crate) async fn start(
        store: &VaultStore,
        key: ObjectKey,
        part_size: usize,
        max_in_flight: usize,
    ) -> Result<Self, StoreError> {
        let upload = store.start_multipart(&key).await?;
        Ok(PartStreamer {
            key,
            upload: Some(upload),
            buffer: BytesMut::with_capacity(part_size),
            part_size,
            max_in_flight: max_in_flight.max(1),
            in_flight: JoinSet::new(),
        })
    }

    pub(crate) fn is_streaming(&self) -> bool {
        self.upload.is_some()
    }

    /// Takes more ciphertext; sends every full part. Never waits.
    pub(crate) fn push(&mut self, ciphertext: &[u8]) {
        if !self.is_streaming() {
            return;
        }
        self.buffer.extend_from_slice(ciphertext);
        while let Some(done) = self.in_flight.try_join_next() {
            if !matches!(done, Ok(Ok(()))) {
                self.give_up("a part upload failed");
                return;
            }
        }
        while self.buffer.len() >= self.part_size {
            if self.in_flight.len() >= self.max_in_flight {
                self.give_up("the store is slower than the recording");
                return;
            }
            let part = self.buffer.split_to(self.part_size).freeze();
            self.send(PutPayload::from(part));
        }
    }

    /// Sends the rest as the last part and completes the upload.
    pub(crate) async fn finish(mut self, last: &[u8]) -> Result<(), StoreError> {
        if !self.is_streaming() {
            return Err(StoreError::Config("streaming upload was abandoned".into()));
        }
        self.buffer.extend_from_slice(last);
        let rest = self.buffer.split().freeze();
        if !rest.is_empty() {
            self.send(PutPayload::from(rest));
        }
        let key = self.key.to_string();
        let mut failure = None;
        while let Some(done) = self.in_flight.join_next().await {
            match done {
                Ok(Ok(())) => {}
                Ok(Err(error)) => failure = Some(StoreError::backend(&key, error)),
                Err(_) => failure = Some(StoreError::Config("a part upload task failed".into())),
            }
        }
        let Some(mut upload) = self.upload.take() else {
            return Err(StoreError::Config("streaming upload was abandoned".into()));
        };
        let result = match failure {
            Some(error) => Err(error),
            None => upload
                .complete()
                .await
                .map(|_| ())
                .map_err(|e| StoreError::backend(&key, e)),
        };
        if result.is_err() {
            abort_in_background(upload);
        }
        result
    }

    fn send(&mut self, payload: PutPayload) {
        if let Some(upload) = self.upload.as_mut() {
            self.in_flight.spawn(upload.put_part(payload));
        }
    }

    fn give_up(&mut self, reason: &'static str) {
        tracing::warn!(key = %self.key, reason, "streaming upload stopped; the recording will be uploaded from the spool");
        self.in_flight.abort_all();
        self.buffer = BytesMut::new();
        if let Some(upload) = self.upload.take() {
            abort_in_background(upload);
        }
    }
}

impl Drop for PartStreamer {
    fn drop(&mut self) {
        if let Some(upload) = self.upload.take() {
            self.in_flight.abort_all();
            abort_in_background(upload);
        }
    }
}

fn abort_in_background(mut upload: Box<dyn MultipartUpload>) {
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        runtime.spawn(async move {
            if let Err(error) = upload.abort().await {
                tracing::debug!(%error, "aborting a multipart upload failed");
            }
        });
    }
}
