//! `[transcription]` of the main file: how this node works through the
//! transcription jobs (the tenants' choice of provider is in their files).

use std::time::Duration;

use serde::Deserialize;

use super::problems::{Origin, Problems};
use super::sweep::parse_duration;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawJobs {
    workers: Option<usize>,
    poll_every: Option<String>,
    lease: Option<String>,
    first_retry: Option<String>,
    max_retry: Option<String>,
    give_up_after: Option<String>,
    recheck_refused: Option<String>,
}

/// How this node takes and retries transcription jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobsConfig {
    /// Jobs this node works on at once.
    pub workers: usize,
    /// How often the node looks for jobs it can take.
    pub poll_every: Duration,
    /// How long a node owns a job it took; another node may take it after
    /// (a node that died mid-job), so it must exceed the longest attempt.
    pub lease: Duration,
    /// The wait after the first failed attempt, doubled after each one.
    pub first_retry: Duration,
    pub max_retry: Duration,
    /// A job still not done this long after it became sendable ends `failed`.
    pub give_up_after: Duration,
    /// How often a refused job asks the gate again.
    pub recheck_refused: Duration,
}

impl Default for JobsConfig {
    fn default() -> Self {
        JobsConfig {
            workers: 1,
            poll_every: Duration::from_secs(10),
            lease: Duration::from_secs(3600),
            first_retry: Duration::from_secs(30),
            max_retry: Duration::from_secs(3600),
            give_up_after: Duration::from_secs(24 * 3600),
            recheck_refused: Duration::from_secs(600),
        }
    }
}

pub(crate) fn validate_jobs(
    raw: RawJobs,
    origin: Origin<'_>,
    problems: &mut Problems,
) -> JobsConfig {
    let defaults = JobsConfig::default();
    let mut duration = |key: &str, text: Option<String>, default: Duration| -> Duration {
        let Some(text) = text else { return default };
        match parse_duration(&text) {
            Some(value) if !value.is_zero() => value,
            _ => {
                problems.push(
                    origin.file,
                    origin.key(key),
                    format!("{text:?}: expected a number and a unit, such as \"30s\", \"15m\" or \"1h\""),
                );
                default
            }
        }
    };
    let config = JobsConfig {
        workers: raw.workers.unwrap_or(defaults.workers),
        poll_every: duration("poll_every", raw.poll_every, defaults.poll_every),
        lease: duration("lease", raw.lease, defaults.lease),
        first_retry: duration("first_retry", raw.first_retry, defaults.first_retry),
        max_retry: duration("max_retry", raw.max_retry, defaults.max_retry),
        give_up_after: duration("give_up_after", raw.give_up_after, defaults.give_up_after),
        recheck_refused: duration(
            "recheck_refused",
            raw.recheck_refused,
            defaults.recheck_refused,
        ),
    };
    if !(1..=64).contains(&config.workers) {
        problems.push(
            origin.file,
            origin.key("workers"),
            "must be between 1 and 64",
        );
    }
    if config.max_retry < config.first_retry {
        problems.push(
            origin.file,
            origin.key("max_retry"),
            "must not be shorter than first_retry",
        );
    }
    config
}
