//! Transcription: which sub-processor may receive a tenant's audio, and
//! when; the jobs that send each call's channels to it and store the
//! transcript.
//!
//! The gate is decided against the configuration in force at the moment a
//! job is about to send (not when it was queued), so an objection or a
//! changed transfer mechanism stops the next send at once.

pub mod audio;
pub mod gate;
pub mod metrics_names;
pub mod notice;
pub mod queue;
pub mod worker;
