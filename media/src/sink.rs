//! Where a recording's bytes go (the vault's encrypted stream in production).

use thiserror::Error;

#[derive(Debug, Error)]
pub enum SinkError {
    #[error("sink is already finished")]
    Finished,
    #[error("sink failed: {0}")]
    Failed(String),
}

pub trait RecordingSink {
    fn write(&mut self, bytes: &[u8]) -> Result<(), SinkError>;
    fn finish(&mut self) -> Result<(), SinkError>;
}

/// Keeps the recording in memory (tests, exports of short recordings).
#[derive(Debug, Default)]
pub struct MemorySink {
    bytes: Vec<u8>,
    finished: bool,
}

impl MemorySink {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub fn is_finished(&self) -> bool {
        self.finished
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
}

impl RecordingSink for MemorySink {
    fn write(&mut self, bytes: &[u8]) -> Result<(), SinkError> {
        if self.finished {
            return Err(SinkError::Finished);
        }
        self.bytes.extend_from_slice(bytes);
        Ok(())
    }

    fn finish(&mut self) -> Result<(), SinkError> {
        if self.finished {
            return Err(SinkError::Finished);
        }
        self.finished = true;
        Ok(())
    }
}
