//! One transcription job's life, as a state machine fed with the time and
//! with what happened (the gate's answer, the provider's answer); it answers
//! with what to do next. The shell stores the job (serde) in the object store
//! between steps, so a restarted node or another node carries on from the
//! same state.
//!
//! A job is never dropped silently: it ends `done`, or `failed` with a reason
//! (a provider's permanent refusal, or `give_up_after` elapsed), and every
//! transition is an [`Event`] the shell audits and counts.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

/// When to try again and when to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The wait after the first failed attempt; doubled after each one.
    pub first_retry: Duration,
    /// The longest wait between two attempts.
    pub max_retry: Duration,
    /// A job not done this long after it was queued ends `failed`; time
    /// spent refused by the gate does not count (a notice period is ten
    /// working days, and the job must be sent when it ends).
    pub give_up_after: Duration,
    /// How often a refused job asks the gate again when the refusal names no
    /// date (an objection or a transfer mechanism can be lifted by a reload).
    pub recheck_refused: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            first_retry: Duration::from_secs(30),
            max_retry: Duration::from_secs(3600),
            give_up_after: Duration::from_secs(24 * 3600),
            recheck_refused: Duration::from_secs(600),
        }
    }
}

/// Where a job stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum JobState {
    /// To be sent at `next_attempt` (now, or after a failure's backoff).
    Pending,
    /// The sub-processor gate refused; asked again at `next_attempt`.
    Refused {
        code: String,
        reason: String,
    },
    Done,
    Failed {
        reason: String,
    },
}

/// A job as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    pub queued_at: DateTime<Utc>,
    /// Attempts that reached the provider.
    pub attempts: u32,
    pub next_attempt: DateTime<Utc>,
    /// When the current refusal began (absent when not refused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused_since: Option<DateTime<Utc>>,
    /// Seconds spent refused before the current refusal: they move the
    /// deadline.
    #[serde(default)]
    pub refused_seconds: i64,
    #[serde(flatten)]
    pub state: JobState,
}

/// What the shell does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Ask the gate with the configuration in force, then send if allowed.
    Attempt,
    /// Nothing before `until`.
    Wait { until: DateTime<Utc> },
    /// The job is over; nothing more to do.
    Finished,
}

/// The provider's answer to one attempt, as the HTTP shell classifies it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// The transcript was received (and stored by the shell).
    Transcribed,
    /// A timeout, a connection error, a 429 or a 5xx: worth another try,
    /// not before `retry_after` when the provider gave one.
    Transient {
        reason: String,
        retry_after: Option<Duration>,
    },
    /// A refusal that will not change by retrying (a 4xx other than 429).
    Permanent { reason: String },
}

/// What a transition means, for the audit log, the log and `/metrics`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Refused { code: String, reason: String },
    Transcribed,
    RetryScheduled { at: DateTime<Utc>, reason: String },
    Failed { reason: String },
}

impl Job {
    pub fn new(now: DateTime<Utc>) -> Self {
        Job {
            queued_at: now,
            attempts: 0,
            next_attempt: now,
            refused_since: None,
            refused_seconds: 0,
            state: JobState::Pending,
        }
    }

    /// When a job that is not refused gives up.
    fn deadline(&self, policy: &RetryPolicy) -> DateTime<Utc> {
        self.queued_at + delta(policy.give_up_after) + TimeDelta::seconds(self.refused_seconds)
    }

    /// The gate let the job through: the time it spent refused moves its
    /// deadline, and it is pending again. Called before sending.
    pub fn allowed(&mut self, now: DateTime<Utc>) {
        if let Some(since) = self.refused_since.take() {
            self.refused_seconds = self
                .refused_seconds
                .saturating_add((now - since).num_seconds().max(0));
        }
        if matches!(self.state, JobState::Refused { .. }) {
            self.state = JobState::Pending;
        }
    }

    /// What to do at `now`. A pending job past its deadline fails here; a
    /// refused one waits for the gate (it is visible as refused, and goes
    /// with its recording when that is deleted).
    pub fn poll(&mut self, now: DateTime<Utc>, policy: &RetryPolicy) -> (Step, Option<Event>) {
        let refused = match self.state {
            JobState::Done | JobState::Failed { .. } => return (Step::Finished, None),
            JobState::Pending => false,
            JobState::Refused { .. } => true,
        };
        if refused {
            return if now >= self.next_attempt {
                (Step::Attempt, None)
            } else {
                (
                    Step::Wait {
                        until: self.next_attempt,
                    },
                    None,
                )
            };
        }
        if now >= self.deadline(policy) {
            let reason = if self.attempts == 0 {
                "gave up before any attempt".to_owned()
            } else {
                format!("gave up after {} attempts", self.attempts)
            };
            self.state = JobState::Failed {
                reason: reason.clone(),
            };
            return (Step::Finished, Some(Event::Failed { reason }));
        }
        if now >= self.next_attempt {
            (Step::Attempt, None)
        } else {
            (
                Step::Wait {
                    until: self.next_attempt.min(self.deadline(policy)),
                },
                None,
            )
        }
    }

    /// The gate refused. `retry_on` is when the refusal ends by itself (a
    /// notice period), if it does.
    pub fn refused(
        &mut self,
        now: DateTime<Utc>,
        code: &str,
        reason: &str,
        retry_on: Option<DateTime<Utc>>,
        policy: &RetryPolicy,
    ) -> Event {
        let recheck = now + delta(policy.recheck_refused);
        self.next_attempt = retry_on.map_or(recheck, |on| on.max(now).min(recheck));
        self.refused_since.get_or_insert(now);
        self.state = JobState::Refused {
            code: code.to_owned(),
            reason: reason.to_owned(),
        };
        Event::Refused {
            code: code.to_owned(),
            reason: reason.to_owned(),
        }
    }

    /// The gate allowed and the request went out: what came back.
    pub fn attempted(
        &mut self,
        now: DateTime<Utc>,
        outcome: Attempt,
        policy: &RetryPolicy,
    ) -> Event {
        self.allowed(now);
        self.attempts = self.attempts.saturating_add(1);
        match outcome {
            Attempt::Transcribed => {
                self.state = JobState::Done;
                Event::Transcribed
            }
            Attempt::Permanent { reason } => {
                self.state = JobState::Failed {
                    reason: reason.clone(),
                };
                Event::Failed { reason }
            }
            Attempt::Transient {
                reason,
                retry_after,
            } => {
                let backoff = backoff(policy, self.attempts);
                let wait = retry_after.map_or(backoff, |after| after.max(backoff));
                self.next_attempt = now + delta(wait);
                self.state = JobState::Pending;
                Event::RetryScheduled {
                    at: self.next_attempt,
                    reason,
                }
            }
        }
    }
}

/// `first_retry × 2^(attempts − 1)`, at most `max_retry`.
fn backoff(policy: &RetryPolicy, attempts: u32) -> Duration {
    let doublings = attempts.saturating_sub(1).min(31);
    policy
        .first_retry
        .checked_mul(1 << doublings)
        .unwrap_or(policy.max_retry)
        .min(policy.max_retry)
}

fn delta(duration: Duration) -> TimeDelta {
    TimeDelta::from_std(duration).unwrap_or(TimeDelta::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_780_000_000 + seconds, 0).unwrap()
    }

    fn policy() -> RetryPolicy {
        RetryPolicy {
            first_retry: Duration::from_secs(10),
            max_retry: Duration::from_secs(60),
            give_up_after: Duration::from_secs(300),
            recheck_refused: Duration::from_secs(100),
        }
    }

    #[test]
    fn a_new_job_is_attempted_at_once_and_done_once_transcribed() {
        let mut job = Job::new(at(0));
        assert_eq!(job.poll(at(0), &policy()), (Step::Attempt, None));
        assert_eq!(
            job.attempted(at(1), Attempt::Transcribed, &policy()),
            Event::Transcribed
        );
        assert_eq!(job.poll(at(2), &policy()), (Step::Finished, None));
        assert_eq!(job.attempts, 1);
    }

    #[test]
    fn transient_failures_back_off_exponentially_up_to_the_cap() {
        let mut job = Job::new(at(0));
        let mut waits = Vec::new();
        let mut now = at(0);
        for _ in 0..5 {
            let event = job.attempted(
                now,
                Attempt::Transient {
                    reason: "503".into(),
                    retry_after: None,
                },
                &policy(),
            );
            let Event::RetryScheduled { at: next, .. } = event else {
                panic!("{event:?}");
            };
            waits.push((next - now).num_seconds());
            assert_eq!(job.poll(now, &policy()).0, Step::Wait { until: next });
            now = next;
            assert_eq!(job.poll(now, &policy()).0, Step::Attempt);
        }
        assert_eq!(waits, [10, 20, 40, 60, 60]);
    }

    #[test]
    fn retry_after_is_honoured_when_longer_than_the_backoff() {
        let mut job = Job::new(at(0));
        let event = job.attempted(
            at(0),
            Attempt::Transient {
                reason: "429".into(),
                retry_after: Some(Duration::from_secs(45)),
            },
            &policy(),
        );
        assert!(matches!(event, Event::RetryScheduled { at: next, .. } if next == at(45)));
    }

    #[test]
    fn a_permanent_refusal_fails_the_job() {
        let mut job = Job::new(at(0));
        let event = job.attempted(
            at(0),
            Attempt::Permanent {
                reason: "400 unsupported audio".into(),
            },
            &policy(),
        );
        assert_eq!(
            event,
            Event::Failed {
                reason: "400 unsupported audio".into()
            }
        );
        assert_eq!(job.poll(at(1), &policy()), (Step::Finished, None));
    }

    #[test]
    fn a_refusal_waits_for_its_date_or_rechecks() {
        let mut job = Job::new(at(0));
        job.refused(at(0), "notice_running", "notice", Some(at(40)), &policy());
        assert_eq!(job.poll(at(39), &policy()).0, Step::Wait { until: at(40) });
        assert_eq!(job.poll(at(40), &policy()).0, Step::Attempt);
        job.refused(at(40), "objected", "objection", None, &policy());
        assert_eq!(job.poll(at(41), &policy()).0, Step::Wait { until: at(140) });
        // A notice ending after the next recheck is rechecked first.
        job.refused(
            at(140),
            "notice_running",
            "notice",
            Some(at(10_000)),
            &policy(),
        );
        assert_eq!(job.next_attempt, at(240));
    }

    #[test]
    fn a_job_past_its_deadline_fails_with_a_reason() {
        let mut job = Job::new(at(0));
        let transient = || Attempt::Transient {
            reason: "503".into(),
            retry_after: None,
        };
        job.attempted(at(0), transient(), &policy());
        job.attempted(at(250), transient(), &policy());
        assert_eq!(
            job.poll(at(251), &policy()).0,
            Step::Wait { until: at(270) }
        );
        job.attempted(at(270), transient(), &policy());
        // The next retry (at 310) would be after the deadline: the wait ends
        // there.
        assert_eq!(
            job.poll(at(271), &policy()).0,
            Step::Wait { until: at(300) }
        );
        let (step, event) = job.poll(at(300), &policy());
        assert_eq!(step, Step::Finished);
        assert_eq!(
            event,
            Some(Event::Failed {
                reason: "gave up after 3 attempts".into()
            })
        );
        assert!(matches!(job.state, JobState::Failed { .. }));
    }

    #[test]
    fn time_refused_does_not_count_towards_giving_up() {
        let mut job = Job::new(at(0));
        // Ten working days of notice: far beyond give_up_after (300 s).
        job.refused(
            at(0),
            "notice_running",
            "notice",
            Some(at(5_000)),
            &policy(),
        );
        let mut now = at(0);
        while now < at(5_000) {
            let (step, event) = job.poll(now, &policy());
            assert_eq!(event, None);
            if step == Step::Attempt {
                job.refused(now, "notice_running", "notice", Some(at(5_000)), &policy());
            }
            now = job.next_attempt;
        }
        assert_eq!(job.poll(at(5_000), &policy()).0, Step::Attempt);
        job.allowed(at(5_000));
        assert_eq!(job.state, JobState::Pending);
        assert_eq!(job.refused_seconds, 5_000);
        // The deadline moved by the time refused: 5 000 + 300.
        job.attempted(
            at(5_001),
            Attempt::Transient {
                reason: "503".into(),
                retry_after: None,
            },
            &policy(),
        );
        assert_eq!(job.poll(at(5_299), &policy()).0, Step::Attempt);
        assert_eq!(job.poll(at(5_300), &policy()).0, Step::Finished);
    }

    #[test]
    fn the_stored_form_round_trips() {
        let mut job = Job::new(at(0));
        job.refused(at(0), "objected", "the tenant objected", None, &policy());
        let text = serde_json::to_string(&job).unwrap();
        assert!(text.contains(r#""state":"refused""#), "{text}");
        assert_eq!(serde_json::from_str::<Job>(&text).unwrap(), job);
    }
}
