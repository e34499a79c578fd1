//! Metric names of transcription (Prometheus). Labels never carry personal
//! data: states, refusal codes and outcomes only.

/// Jobs in progress by `state` (pending, refused), as the last pass saw them.
pub const JOBS: &str = "greffier_transcription_jobs";
/// Jobs finished, by `state` (done, failed).
pub const FINISHED: &str = "greffier_transcription_jobs_finished_total";
/// Refusals by the sub-processor gate, by `code`, counted when a job's
/// refusal starts or changes.
pub const REFUSALS: &str = "greffier_transcription_refusals_total";
/// Attempts that reached a provider, by `outcome` (transcribed, failed).
pub const ATTEMPTS: &str = "greffier_transcription_attempts_total";
/// Seconds the provider took for both channels of a call.
pub const PROVIDER_SECONDS: &str = "greffier_transcription_provider_seconds";
/// The provider's time over the audio's length (below 1: faster than real
/// time).
pub const REAL_TIME_FACTOR: &str = "greffier_transcription_real_time_factor";
