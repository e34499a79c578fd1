//! Recording a call into the vault: the writer and its streaming upload.

mod streamer;
mod writer;

pub use writer::{FinishOutcome, RecordingWriter, WriterOptions};
