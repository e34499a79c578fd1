//! The worker on a real local store, keyring, spool and audit log, with an
//! injected clock. The provider is a local HTTP server answering in the
//! OpenAI shape and counting what it receives: these tests are about the
//! queue, the leases, the gate and the retries. The real engine, through
//! the real binary, is in tests/e2e_transcription.rs.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Router;
use chrono::{DateTime, Duration as Days, NaiveDate, Utc};
use greffier_media::wav::{wav_stream_header, write_pcm};
use greffier_test_support::storage::{self, Local};
use greffier_transcribe::{Job, JobState, Transcript};
use greffier_vault::audit::AuditLog;
use greffier_vault::catalog::CallInfo;
use greffier_vault::store::{NodeId, ObjectKey, VaultStore};
use tokio::sync::watch;

use super::*;
use crate::config::Config;
use crate::ops::FixedClock;

/// The provider: answers 503 while `failing` > 0 (counting down), else one
/// segment saying which channel it heard (by the tone's pitch).
#[derive(Clone, Default)]
struct Provider {
    requests: Arc<AtomicUsize>,
    failing: Arc<AtomicUsize>,
}

impl Provider {
    async fn start(&self) -> std::net::SocketAddr {
        let state = self.clone();
        let app = Router::new().route(
            "/v1/audio/transcriptions",
            axum::routing::post(move |body: axum::body::Bytes| {
                let state = state.clone();
                async move {
                    state.requests.fetch_add(1, Ordering::SeqCst);
                    if state
                        .failing
                        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                        .is_ok()
                    {
                        return (StatusCode::SERVICE_UNAVAILABLE, "busy").into_response();
                    }
                    // The multipart body holds the WAV: a low tone is the
                    // caller's channel, a high one the callee's.
                    let text = if pitch_is_low(&body) {
                        "low voice"
                    } else {
                        "high voice"
                    };
                    axum::Json(serde_json::json!({
                        "language": "en",
                        "text": text,
                        "segments": [{"start": 0.2, "end": 1.0, "text": text}],
                    }))
                    .into_response()
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        addr
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

/// Zero crossings per sample of the 16-bit PCM after the WAV header in a
/// multipart body: 300 Hz and 1 kHz tones are far apart.
fn pitch_is_low(body: &[u8]) -> bool {
    let Some(start) = body.windows(4).position(|w| w == b"RIFF") else {
        return false;
    };
    let samples: Vec<i16> = body[start + 44..]
        .chunks_exact(2)
        .take(16_000)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect();
    let crossings = samples
        .windows(2)
        .filter(|w| (w[0] >= 0) != (w[1] >= 0))
        .count();
    crossings < samples.len() / 20
}

const ANNOUNCED_LONG_AGO: &str = "2024-01-08";

fn main_file(store: &Path, provider: std::net::SocketAddr, announced: &str, node: &str) -> String {
    format!(
        r#"
[node]
id = "{node}"
sip_listen = ["udp:127.0.0.1:5060"]
media_address = "127.0.0.1"
media_ports = "30000-30099"
admin_listen = "127.0.0.1:8080"
tenants_dir = "tenants"

[storage]
kind = "local"
path = "{store}"
spool_dir = "spool"

[keys]
keyring = "keyring.grk"
master_key_file = "master.key"

[transcription]
first_retry = "30s"
max_retry = "5m"
give_up_after = "1h"
recheck_refused = "10m"

[[subprocessors]]
name = "Scribe"
purpose = "transcription"
country = "FR"
transfer_mechanism = "none"
announced = "{announced}"

[[providers]]
name = "scribe"
kind = "openai"
endpoint = "http://{provider}"
model = "whisper-base"
subprocessor = "Scribe"
timeout_secs = 10
"#,
        store = store.display()
    )
}

const TENANT: &str = r#"
id = "acme"
numbers = ["+33199000001"]

[pbx]
sources = ["127.0.0.1/32"]
uri = "sip:127.0.0.1:5080"

[carrier]
sources = ["127.0.0.2/32"]
uri = "sip:127.0.0.1:5070"

[recording]
policy = "all"

[retention]
recordings_days = 30
transcripts_days = 30

[transcription]
enabled = true
provider = "scribe"
"#;

/// Two seconds of a 300 Hz tone on the caller's side and a 1 kHz tone on
/// the callee's, recorded and stored with its queued job.
async fn recorded_call(local: &Local, queued_at: DateTime<Utc>) -> CallInfo {
    let mut audio = wav_stream_header(8000, 2).to_vec();
    let samples: Vec<i16> = (0..16_000)
        .flat_map(|i| {
            let t = f64::from(i) / 8000.0;
            let tone = |hz: f64| ((t * hz * std::f64::consts::TAU).sin() * 6000.0) as i16;
            [tone(300.0), tone(1000.0)]
        })
        .collect();
    write_pcm(&samples, &mut audio);
    let call = storage::call(local.keys.as_ref());
    let mut clock = std::time::Instant::now();
    let mut writer =
        storage::writer(&local.spool, &local.store, &local.keys, call.clone(), clock).await;
    writer
        .queue_job(&serde_json::to_vec(&Job::new(queued_at)).unwrap())
        .await
        .unwrap();
    storage::feed(&mut writer, &audio, &mut clock).await;
    writer.finish(storage::ended_now()).await.unwrap();
    call
}

/// A local store, keyring, spool and audit log, and the provider.
struct Scene {
    local: Local,
    provider: Provider,
    address: std::net::SocketAddr,
    audit: Arc<AuditLog>,
}

impl Scene {
    /// With a provider that answers 503 to its first `failing` requests.
    async fn new(failing: usize) -> Self {
        let local = Local::new().await;
        let provider = Provider::default();
        provider.failing.store(failing, Ordering::SeqCst);
        let address = provider.start().await;
        let audit = AuditLog::open(
            &local.dir.path().join("audit-spool"),
            storage::node(),
            local.store.clone(),
            Default::default(),
        )
        .await
        .unwrap();
        Scene {
            local,
            provider,
            address,
            audit,
        }
    }

    /// The configuration of node `node`, its sub-processor announced on
    /// `announced`, through the pure schema.
    fn config(&self, announced: &str, node: &str) -> Arc<Config> {
        let dir = self.local.dir.path();
        let main = main_file(&dir.join("store"), self.address, announced, node);
        Arc::new(
            Config::parse(
                &dir.join("greffier.toml"),
                &main,
                &[(dir.join("tenants/acme.toml"), TENANT.to_owned())],
                &|_| None,
            )
            .unwrap(),
        )
    }

    fn worker(&self, config: &Arc<Config>, node: &str, now: DateTime<Utc>) -> Worker {
        let (_, receiver) = watch::channel(config.clone());
        Worker::new(
            receiver,
            JobQueue::new(self.local.store.clone(), NodeId::new(node).unwrap()),
            self.local.keys.clone(),
            self.audit.clone(),
            Box::new(FixedClock(now)),
        )
    }
}

/// The tenant's audit entries as `action outcome reason objects`.
async fn trail(audit: &AuditLog, store: &VaultStore) -> Vec<String> {
    crate::ops::sealed_entries(audit, store, "acme")
        .await
        .iter()
        .map(|entry| {
            format!(
                "{} {} {} {}",
                entry["action"].as_str().unwrap(),
                entry["outcome"].as_str().unwrap(),
                entry["reason"].as_str().unwrap_or("-"),
                entry["objects"]
            )
        })
        .collect()
}

/// A job's state, in progress or filed as finished.
async fn job_of(store: &VaultStore, call: &CallInfo) -> Job {
    let active = ObjectKey::transcription_job(&call.tenant, &call.record_id);
    let bytes = match store.get(&active).await {
        Ok(bytes) => bytes,
        Err(_) => store
            .get(&ObjectKey::finished_job(&call.tenant, &call.record_id))
            .await
            .unwrap(),
    };
    serde_json::from_slice(&bytes).unwrap()
}

async fn transcript_of(local: &Local, call: &CallInfo) -> Transcript {
    local
        .store
        .read_transcript_json(local.keys.as_ref(), &call.tenant, &call.record_id)
        .await
        .unwrap()
}

fn day(text: &str) -> DateTime<Utc> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .unwrap()
        .and_hms_opt(10, 0, 0)
        .unwrap()
        .and_utc()
}

#[tokio::test]
async fn a_stored_call_is_transcribed_per_channel_and_audited() {
    let scene = Scene::new(0).await;
    let config = scene.config(ANNOUNCED_LONG_AGO, "gw1");
    let now = Utc::now();
    let call = recorded_call(&scene.local, now).await;
    let summary = scene.worker(&config, "gw1", now).run_pass().await.unwrap();
    assert_eq!((summary.done, summary.sent), (1, 1), "{summary:?}");
    assert_eq!(scene.provider.requests(), 2, "one request per channel");
    let transcript = transcript_of(&scene.local, &call).await;
    let said: Vec<(String, &str)> = transcript
        .segments
        .iter()
        .map(|s| (format!("{:?}", s.speaker.unwrap()), s.text.as_str()))
        .collect();
    assert_eq!(
        said,
        [
            ("Caller".to_owned(), "low voice"),
            ("Callee".to_owned(), "high voice")
        ]
    );
    assert_eq!(
        (transcript.provider.as_str(), transcript.model.as_str()),
        ("scribe", "whisper-base")
    );
    let job = job_of(&scene.local.store, &call).await;
    assert_eq!((job.state, job.attempts), (JobState::Done, 1));
    let record = format!("\"record:{}\"", call.record_id);
    assert_eq!(
        trail(&scene.audit, &scene.local.store).await,
        [
            format!("sent_to_subprocessor ok - [{record},\"subprocessor:Scribe\"]"),
            format!("transcribed ok - [{record}]"),
        ]
    );
    // Filed as finished: nothing left where the workers look, so a later
    // pass neither sends nor even reads it.
    let scanned = scene
        .local
        .store
        .list_shallow(&ObjectKey::jobs_prefix(&call.tenant))
        .await
        .unwrap();
    assert!(scanned.is_empty(), "{scanned:?}");
    let again = scene.worker(&config, "gw1", now).run_pass().await.unwrap();
    assert_eq!(again, PassSummary::default());
    assert_eq!(scene.provider.requests(), 2);
}

#[tokio::test]
async fn the_notice_period_holds_the_job_until_it_ends() {
    let scene = Scene::new(0).await;
    // Announced Monday 16 November 2026: sending may start on 1 December.
    let config = scene.config("2026-11-16", "gw1");
    let queued = day("2026-11-23");
    let call = recorded_call(&scene.local, queued).await;
    for now in [queued, day("2026-11-25"), day("2026-11-30")] {
        let summary = scene.worker(&config, "gw1", now).run_pass().await.unwrap();
        assert_eq!(
            (summary.refused, summary.sent),
            (1, 0),
            "{now}: {summary:?}"
        );
    }
    assert_eq!(
        scene.provider.requests(),
        0,
        "nothing sent while the notice runs"
    );
    let job = job_of(&scene.local.store, &call).await;
    assert!(matches!(&job.state, JobState::Refused { code, .. } if code == "notice_running"));
    // A week refused is far beyond give_up_after (1 h): it does not count.
    let summary = scene
        .worker(&config, "gw1", day("2026-12-01"))
        .run_pass()
        .await
        .unwrap();
    assert_eq!((summary.done, summary.sent), (1, 1), "{summary:?}");
    assert_eq!(scene.provider.requests(), 2);
    let record = format!("\"record:{}\"", call.record_id);
    assert_eq!(
        trail(&scene.audit, &scene.local.store).await,
        [
            format!(
                "sent_to_subprocessor refused notice_running [{record},\"subprocessor:Scribe\"]"
            ),
            format!("sent_to_subprocessor ok - [{record},\"subprocessor:Scribe\"]"),
            format!("transcribed ok - [{record}]"),
        ],
        "the refusal is audited once, not at each recheck"
    );
}

#[tokio::test]
async fn an_unavailable_provider_is_retried_with_backoff_then_succeeds() {
    let scene = Scene::new(1).await;
    let config = scene.config(ANNOUNCED_LONG_AGO, "gw1");
    let now = Utc::now();
    let call = recorded_call(&scene.local, now).await;
    let summary = scene.worker(&config, "gw1", now).run_pass().await.unwrap();
    assert_eq!((summary.pending, summary.sent), (1, 1), "{summary:?}");
    let job = job_of(&scene.local.store, &call).await;
    assert_eq!(job.next_attempt, now + Days::seconds(30), "first_retry");
    // Before the backoff ends nothing is sent.
    let early = scene
        .worker(&config, "gw1", now + Days::seconds(29))
        .run_pass()
        .await
        .unwrap();
    assert_eq!(early.sent, 0);
    assert_eq!(scene.provider.requests(), 1);
    let later = scene
        .worker(&config, "gw1", now + Days::seconds(30))
        .run_pass()
        .await
        .unwrap();
    assert_eq!(later.done, 1, "{later:?}");
    assert_eq!(job_of(&scene.local.store, &call).await.attempts, 2);
    assert_eq!(transcript_of(&scene.local, &call).await.segments.len(), 2);
}

#[tokio::test]
async fn a_provider_that_never_answers_ends_the_job_failed_and_audited() {
    let scene = Scene::new(usize::MAX).await;
    let config = scene.config(ANNOUNCED_LONG_AGO, "gw1");
    let now = Utc::now();
    let call = recorded_call(&scene.local, now).await;
    let mut at = now;
    for _ in 0..20 {
        scene.worker(&config, "gw1", at).run_pass().await.unwrap();
        let job = job_of(&scene.local.store, &call).await;
        if matches!(job.state, JobState::Failed { .. }) {
            break;
        }
        at = job.next_attempt.max(at + Days::seconds(1));
    }
    let job = job_of(&scene.local.store, &call).await;
    let JobState::Failed { reason } = &job.state else {
        panic!("{job:?}");
    };
    assert!(reason.starts_with("gave up after"), "{reason}");
    let trail = trail(&scene.audit, &scene.local.store).await;
    assert_eq!(
        trail.last().unwrap(),
        &format!("transcribed failed gave_up [\"record:{}\"]", call.record_id)
    );
}

#[tokio::test]
async fn two_nodes_on_one_store_transcribe_each_job_once() {
    let scene = Scene::new(0).await;
    let config_a = scene.config(ANNOUNCED_LONG_AGO, "gwa");
    let config_b = scene.config(ANNOUNCED_LONG_AGO, "gwb");
    let now = Utc::now();
    let mut calls = Vec::new();
    for _ in 0..4 {
        calls.push(recorded_call(&scene.local, now).await);
    }
    let a = scene.worker(&config_a, "gwa", now);
    let b = scene.worker(&config_b, "gwb", now);
    let (from_a, from_b) = tokio::join!(a.run_pass(), b.run_pass());
    let (from_a, from_b) = (from_a.unwrap(), from_b.unwrap());
    assert_eq!(from_a.sent + from_b.sent, 4, "{from_a:?} {from_b:?}");
    assert_eq!(
        scene.provider.requests(),
        8,
        "two channels per call, each call once"
    );
    for call in &calls {
        let job = job_of(&scene.local.store, call).await;
        assert_eq!((job.state, job.attempts), (JobState::Done, 1));
    }
    // A node that died holding a lease loses the job once the lease runs
    // out: another node takes it.
    let late = recorded_call(&scene.local, now).await;
    let listed = a.queue.list(&late.tenant).await.unwrap();
    let listed = listed
        .iter()
        .find(|job| job.record == late.record_id)
        .unwrap();
    let held = a
        .queue
        .take(&late.tenant, listed, now, now + Days::seconds(600))
        .await
        .unwrap()
        .expect("a free job is taken");
    assert_eq!(held.generation, 1);
    let blocked = scene
        .worker(&config_b, "gwb", now + Days::seconds(60))
        .run_pass()
        .await
        .unwrap();
    assert_eq!((blocked.busy, blocked.sent), (1, 0), "{blocked:?}");
    let after = scene
        .worker(&config_b, "gwb", now + Days::seconds(601))
        .run_pass()
        .await
        .unwrap();
    assert_eq!(after.sent, 1, "{after:?}");
    assert_eq!(
        job_of(&scene.local.store, &late).await.state,
        JobState::Done
    );
}
