//! The shell around the job state machine (`greffier_transcribe::Job`): it
//! finds due jobs in the store, takes them with a lease, asks the
//! sub-processor gate with the configuration in force, sends each channel to
//! the provider, stores the transcript, and writes down what happened
//! (job state, audit entry, log line, metrics).
//!
//! The gateway runs it every `[transcription] poll_every`; `greffier
//! transcripts run --once` runs one pass, with an injected clock.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use chrono::{DateTime, TimeDelta, Utc};
use greffier_transcribe::{
    merge_channels, ApiKey, Attempt, ChannelTranscript, Dialect, Event, Failure, Job, JobState,
    ProviderClient, ProviderSettings, RetryPolicy, Step,
};
use greffier_vault::audit::{Action, AuditLog, ObjectRef, Outcome};
use greffier_vault::store::{NodeId, StoreError};
use greffier_vault::{TenantId, TenantKeys};
use tokio::sync::watch;

use super::audio::{call_channels, ChannelAudio};
use super::gate::{self, Refusal};
use super::metrics_names;
use super::queue::{Held, JobQueue, Listed};
use crate::config::{Config, JobsConfig, Provider, ProviderKey, ProviderKind};
use crate::ops::settings::{effective_retention, SettingsFile};
use crate::ops::{Actor, Clock};

/// What one pass did, for the CLI and the tests.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PassSummary {
    /// Jobs in progress seen, by the state they were left in (`done` and
    /// `failed`: finished during this pass).
    pub pending: usize,
    pub refused: usize,
    pub done: usize,
    pub failed: usize,
    /// Attempts this pass sent to a provider.
    pub sent: usize,
    /// Jobs another node held.
    pub busy: usize,
}

/// The node's transcription worker.
pub struct Worker {
    config: watch::Receiver<Arc<Config>>,
    queue: JobQueue,
    keys: Arc<dyn TenantKeys>,
    audit: Arc<AuditLog>,
    clock: Box<dyn Clock>,
}

impl Worker {
    pub fn new(
        config: watch::Receiver<Arc<Config>>,
        queue: JobQueue,
        keys: Arc<dyn TenantKeys>,
        audit: Arc<AuditLog>,
        clock: Box<dyn Clock>,
    ) -> Self {
        Worker {
            config,
            queue,
            keys,
            audit,
            clock,
        }
    }

    /// Runs passes for ever, `poll_every` apart.
    pub fn spawn(self) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            loop {
                let every = self.config.borrow().jobs.poll_every;
                if let Err(error) = self.run_pass().await {
                    tracing::warn!(error = %format!("{error:#}"), "transcription: the pass stopped early; retried at the next");
                }
                tokio::time::sleep(every).await;
            }
        })
    }

    /// One pass over every tenant's jobs: the due ones are taken and
    /// worked on, `workers` at a time.
    pub async fn run_pass(&self) -> anyhow::Result<PassSummary> {
        let config = self.config.borrow().clone();
        let workers = config.jobs.workers.max(1);
        let mut summary = PassSummary::default();
        let mut due = Vec::new();
        for tenant in config.tenants() {
            let Ok(tenant_id) = TenantId::new(tenant.id.as_str()) else {
                continue;
            };
            let listed = self.queue.list(&tenant_id).await.with_context(|| {
                format!("the transcription jobs of tenant {tenant_id} cannot be listed")
            })?;
            due.extend(listed.into_iter().map(|job| (tenant_id.clone(), job)));
        }
        for batch in due.chunks(workers) {
            let outcomes = futures::future::join_all(
                batch
                    .iter()
                    .map(|(tenant, job)| self.work_on(&config, tenant, job)),
            )
            .await;
            for outcome in outcomes {
                match outcome {
                    Ok(JobOutcome { state, sent, busy }) => {
                        summary.sent += usize::from(sent);
                        summary.busy += usize::from(busy);
                        match state {
                            Some(JobState::Pending) => summary.pending += 1,
                            Some(JobState::Refused { .. }) => summary.refused += 1,
                            Some(JobState::Done) => summary.done += 1,
                            Some(JobState::Failed { .. }) => summary.failed += 1,
                            None => {}
                        }
                    }
                    Err(error) => {
                        tracing::warn!(error = %format!("{error:#}"), "transcription: a job could not be worked on; retried at the next pass");
                    }
                }
            }
        }
        for (state, count) in [("pending", summary.pending), ("refused", summary.refused)] {
            metrics::gauge!(metrics_names::JOBS, "state" => state).set(count as f64);
        }
        Ok(summary)
    }

    /// Reads a job, and takes and works on it when something is due.
    async fn work_on(
        &self,
        config: &Config,
        tenant: &TenantId,
        listed: &Listed,
    ) -> anyhow::Result<JobOutcome> {
        let policy = retry_policy(&config.jobs);
        let now = self.clock.now();
        let Some(mut job) = self.queue.read(tenant, &listed.record).await? else {
            return Ok(JobOutcome::default());
        };
        // Look before taking the lease: most jobs are waiting, and a lease
        // is a write. Anything else is something to send, or a transition
        // to write (giving up).
        if let (Step::Finished | Step::Wait { .. }, None) = job.clone().poll(now, &policy) {
            return Ok(JobOutcome::state(job.state));
        }
        let until = now + delta(config.jobs.lease);
        let Some(held) = self.queue.take(tenant, listed, now, until).await? else {
            return Ok(JobOutcome {
                busy: true,
                ..JobOutcome::default()
            });
        };
        // Another node may have moved the job between our read and our lease.
        let outcome = match self.queue.read(tenant, &listed.record).await? {
            Some(current) => {
                job = current;
                self.step(config, &held, &mut job, &policy).await
            }
            None => Ok(JobOutcome::default()),
        };
        let outcome = outcome;
        let filed = matches!(
            &outcome,
            Ok(JobOutcome {
                state: Some(JobState::Done | JobState::Failed { .. }),
                ..
            })
        );
        // A filed job's lease went with it; any other is given back.
        if !filed {
            self.queue
                .release(&held, self.clock.now())
                .await
                .context("the job's lease cannot be released; it runs out by itself")?;
        }
        outcome
    }

    /// One transition of a job this node holds, written back.
    async fn step(
        &self,
        config: &Config,
        held: &Held,
        job: &mut Job,
        policy: &RetryPolicy,
    ) -> anyhow::Result<JobOutcome> {
        let now = self.clock.now();
        let (step, event) = job.poll(now, policy);
        let mut sent = false;
        if let Some(event) = event {
            self.report(held, &event, None).await;
        }
        if step == Step::Attempt {
            let before = job.state.clone();
            match self.gate(config, &held.tenant, now) {
                Err(refusal) => {
                    let retry_on = refusal
                        .retry_on()
                        .and_then(|day| day.and_hms_opt(0, 0, 0))
                        .map(|midnight| midnight.and_utc());
                    let event =
                        job.refused(now, refusal.code(), &refusal.to_string(), retry_on, policy);
                    // A refusal is audited when it starts or changes, not at
                    // every recheck.
                    let changed = !matches!(&before, JobState::Refused { code, .. } if code == refusal.code());
                    if changed {
                        metrics::counter!(metrics_names::REFUSALS, "code" => refusal.code())
                            .increment(1);
                        self.report(held, &event, Some(&refusal)).await;
                    }
                }
                Ok(provider) => {
                    job.allowed(now);
                    sent = true;
                    let attempt = self.attempt(held, &provider).await;
                    let event = job.attempted(self.clock.now(), attempt, policy);
                    self.report(held, &event, None).await;
                }
            }
        }
        if matches!(job.state, JobState::Done | JobState::Failed { .. }) {
            let state = if job.state == JobState::Done {
                "done"
            } else {
                "failed"
            };
            metrics::counter!(metrics_names::FINISHED, "state" => state).increment(1);
            self.queue
                .finish(held, job)
                .await
                .context("the finished job cannot be filed")?;
        } else {
            self.queue
                .write(held, job)
                .await
                .context("the job's new state cannot be written")?;
        }
        Ok(JobOutcome {
            state: Some(job.state.clone()),
            sent,
            busy: false,
        })
    }

    /// The gate, with the objections made through the API and the
    /// retention set through it (`transcripts_days = 0` stops transcribing).
    fn gate(
        &self,
        config: &Config,
        tenant: &TenantId,
        now: DateTime<Utc>,
    ) -> Result<Provider, Refusal> {
        // Unreadable settings could hide an objection: refuse rather than
        // send.
        let settings = SettingsFile::load(&config.admin.tenant_settings_file).map_err(|error| {
            tracing::error!(error = %format!("{error:#}"), "the tenant settings file cannot be read; nothing is sent until it can");
            Refusal::SettingsUnreadable
        })?;
        if effective_retention(config, &settings, tenant.as_str())
            .is_some_and(|retention| retention.transcripts_days == 0)
        {
            return Err(Refusal::NotEnabled);
        }
        let objections = settings.of(tenant.as_str()).objections.unwrap_or_default();
        gate::check(config, tenant.as_str(), &objections, now.date_naive())
            .map(|allowed| allowed.provider.clone())
    }

    /// Sends both channels and stores the transcript.
    async fn attempt(&self, held: &Held, provider: &Provider) -> Attempt {
        let store = self.queue.store();
        let keys = self.keys.as_ref();
        let manifest = match store.read_manifest(keys, &held.tenant, &held.record).await {
            Ok(manifest) => manifest,
            Err(error) => return store_failure("the manifest", &error),
        };
        let recording = match store.read_recording(keys, &held.tenant, &held.record).await {
            Ok(recording) => recording,
            Err(error) => return store_failure("the recording", &error),
        };
        let channels = match call_channels(&recording, &manifest) {
            Ok(channels) => channels,
            Err(reason) => return Attempt::Permanent { reason },
        };
        drop(recording);
        let client = match client_for(provider) {
            Ok(client) => client,
            Err(failure) => return failure.into(),
        };
        let started = Instant::now();
        let mut heard = Vec::new();
        for channel in [&channels.caller, &channels.callee] {
            match transcribe_channel(&client, channel).await {
                Ok(transcript) => heard.push(transcript),
                Err(failure) => {
                    self.audit_sent(held, provider, Outcome::Failed).await;
                    metrics::counter!(metrics_names::ATTEMPTS, "outcome" => "failed").increment(1);
                    return failure.into();
                }
            }
        }
        let elapsed = started.elapsed().as_secs_f64();
        let audio_seconds = channels.caller.sent_seconds() + channels.callee.sent_seconds();
        metrics::histogram!(metrics_names::PROVIDER_SECONDS).record(elapsed);
        if audio_seconds > 0.0 {
            metrics::histogram!(metrics_names::REAL_TIME_FACTOR).record(elapsed / audio_seconds);
        }
        metrics::counter!(metrics_names::ATTEMPTS, "outcome" => "transcribed").increment(1);
        self.audit_sent(held, provider, Outcome::Ok).await;
        let mut heard = heard.into_iter();
        let (caller, callee) = (
            heard.next().unwrap_or_default(),
            heard.next().unwrap_or_default(),
        );
        let transcript = merge_channels(
            caller,
            channels.duration,
            callee,
            channels.duration,
            &provider.name,
            &provider.model,
        );
        match store
            .write_transcript(keys, &held.tenant, &held.record, &transcript)
            .await
        {
            Ok(()) => {
                tracing::info!(
                    tenant = %held.tenant,
                    record = %held.record,
                    provider = %provider.name,
                    segments = transcript.segments.len(),
                    audio_seconds,
                    provider_seconds = elapsed,
                    "transcript stored"
                );
                Attempt::Transcribed
            }
            Err(error) => store_failure("the transcript", &error),
        }
    }

    async fn audit_sent(&self, held: &Held, provider: &Provider, outcome: Outcome) {
        let entry = Actor::gateway().record(
            &held.tenant,
            Action::SentToSubprocessor,
            [
                ObjectRef::Record(held.record),
                ObjectRef::Subprocessor(provider.subprocessor.clone()),
            ],
            outcome,
        );
        self.append(entry).await;
    }

    /// The audit entry and log line of a transition.
    async fn report(&self, held: &Held, event: &Event, refusal: Option<&Refusal>) {
        let record = ObjectRef::Record(held.record);
        let entry = match event {
            Event::Refused { code, reason } => {
                tracing::warn!(tenant = %held.tenant, record = %held.record, code = %code, "transcription refused by the sub-processor gate: {reason}");
                let mut objects = vec![record];
                if let Some(name) = refusal.and_then(Refusal::subprocessor) {
                    objects.push(ObjectRef::Subprocessor(name.to_owned()));
                }
                Actor::gateway()
                    .record(
                        &held.tenant,
                        Action::SentToSubprocessor,
                        objects,
                        Outcome::Refused,
                    )
                    .reason(refusal.map_or("refused", Refusal::code))
            }
            Event::Transcribed => {
                Actor::gateway().record(&held.tenant, Action::Transcribed, [record], Outcome::Ok)
            }
            Event::RetryScheduled { at, reason } => {
                tracing::warn!(tenant = %held.tenant, record = %held.record, retry_at = %at, "transcription attempt failed; retried later: {reason}");
                return;
            }
            Event::Failed { reason } => {
                tracing::error!(tenant = %held.tenant, record = %held.record, "transcription failed for good: {reason}");
                let code = if reason.starts_with("gave up") {
                    "gave_up"
                } else {
                    "provider_refused"
                };
                Actor::gateway()
                    .record(&held.tenant, Action::Transcribed, [record], Outcome::Failed)
                    .reason(code)
            }
        };
        self.append(entry).await;
    }

    async fn append(&self, entry: greffier_vault::audit::AuditRecord) {
        if let Err(error) = self.audit.append(&entry, Utc::now()).await {
            tracing::error!(%error, "a transcription audit entry could not be written");
        }
    }
}

#[derive(Debug, Default)]
struct JobOutcome {
    state: Option<JobState>,
    sent: bool,
    busy: bool,
}

impl JobOutcome {
    fn state(state: JobState) -> Self {
        JobOutcome {
            state: Some(state),
            ..JobOutcome::default()
        }
    }
}

/// The node's job timers as the state machine takes them.
pub fn retry_policy(jobs: &JobsConfig) -> RetryPolicy {
    RetryPolicy {
        first_retry: jobs.first_retry,
        max_retry: jobs.max_retry,
        give_up_after: jobs.give_up_after,
        recheck_refused: jobs.recheck_refused,
    }
}

/// A store that cannot give the record is worth retrying (it may be
/// unreachable, or the record not uploaded yet); a record that fails to
/// authenticate is not.
fn store_failure(what: &str, error: &StoreError) -> Attempt {
    if matches!(error, StoreError::NotFound { .. }) || error.is_transient() {
        Attempt::Transient {
            reason: format!("{what} cannot be read from the store: {error}"),
            retry_after: None,
        }
    } else {
        Attempt::Permanent {
            reason: format!("{what} cannot be read: {error}"),
        }
    }
}

fn client_for(provider: &Provider) -> Result<ProviderClient, Failure> {
    let key = match &provider.key {
        ProviderKey::None => None,
        ProviderKey::Env(name) => Some(std::env::var(name).map_err(|_| Failure::Transient {
            reason: format!("the API key variable {name} is not set"),
            retry_after: None,
        })?),
        ProviderKey::File(path) => {
            Some(
                std::fs::read_to_string(path).map_err(|error| Failure::Transient {
                    reason: format!(
                        "the API key file {} cannot be read: {error}",
                        path.display()
                    ),
                    retry_after: None,
                })?,
            )
        }
    };
    ProviderClient::new(ProviderSettings {
        dialect: match provider.kind {
            ProviderKind::OpenAi => Dialect::OpenAi,
            ProviderKind::Mistral => Dialect::Mistral,
            ProviderKind::Gladia => Dialect::Gladia,
        },
        base: provider.endpoint.url.clone(),
        model: provider.model.clone(),
        language: provider.language.clone(),
        key: key.map(ApiKey::new),
        request_timeout: provider.timeout,
        poll_every: std::time::Duration::from_secs(3),
        poll_for: provider.timeout,
    })
}

/// One channel to the provider, its times moved back to the call's. A
/// channel without sound is not sent (recognisers invent words in silence).
async fn transcribe_channel(
    client: &ProviderClient,
    channel: &ChannelAudio,
) -> Result<ChannelTranscript, Failure> {
    let Some(wav) = channel.wav_to_send() else {
        return Ok(ChannelTranscript::default());
    };
    let heard = client.transcribe(wav, channel.sent_seconds()).await?;
    Ok(channel.to_call_times(heard))
}

fn delta(duration: std::time::Duration) -> TimeDelta {
    TimeDelta::from_std(duration).unwrap_or(TimeDelta::MAX)
}

/// Used by the gateway: the node's worker on its store and keys.
pub fn spawn_worker(
    config: watch::Receiver<Arc<Config>>,
    store: greffier_vault::store::VaultStore,
    node: NodeId,
    keys: Arc<dyn TenantKeys>,
    audit: Arc<AuditLog>,
) -> tokio::task::JoinHandle<()> {
    Worker::new(
        config,
        JobQueue::new(store, node),
        keys,
        audit,
        Box::new(crate::ops::SystemClock),
    )
    .spawn()
}

/// One pass from the command line (`greffier transcripts run --once`): the
/// node's vault as the configuration names it, the clock at `now` (or the
/// machine's), the audit entries sealed before returning so they are in
/// the store when the command ends.
pub async fn run_once(config: Config, now: Option<DateTime<Utc>>) -> anyhow::Result<PassSummary> {
    let keyring = crate::vault_setup::open_existing_keyring(&config.keys)?;
    let store = crate::vault_setup::open_store(&config.storage)?;
    let audit = crate::vault_setup::open_audit(&config, &store).await?;
    let node = crate::vault_setup::node_id(&config.node.id)?;
    let clock: Box<dyn Clock> = match now {
        Some(now) => Box::new(crate::ops::FixedClock(now)),
        None => Box::new(crate::ops::SystemClock),
    };
    let (_keep, receiver) = watch::channel(Arc::new(config));
    let worker = Worker::new(
        receiver,
        JobQueue::new(store, node),
        Arc::new(keyring),
        audit.clone(),
        clock,
    );
    let summary = worker.run_pass().await;
    audit
        .seal()
        .await
        .context("the audit entries of the pass could not be sealed")?;
    summary
}

#[cfg(test)]
#[path = "worker_tests.rs"]
mod tests;
