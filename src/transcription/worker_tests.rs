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
use greffier_vault::audit::{read_chains, tenant_lines, AuditLog};
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

fn config(dir: &Path, main: &str) -> Arc<Config> {
    Arc::new(
        Config::parse(
            &dir.join("greffier.toml"),
            main,
            &[(dir.join("tenants/acme.toml"), TENANT.to_owned())],
            &|_| None,
        )
        .unwrap(),
    )
}

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

fn worker(
    local: &Local,
    config: &Arc<Config>,
    node: &str,
    audit: &Arc<AuditLog>,
    now: DateTime<Utc>,
) -> Worker {
    let (_, receiver) = watch::channel(config.clone());
    Worker::new(
        receiver,
        JobQueue::new(local.store.clone(), NodeId::new(node).unwrap()),
        local.keys.clone(),
        audit.clone(),
        Box::new(FixedClock(now)),
    )
}

async fn audit_log(local: &Local) -> Arc<AuditLog> {
    AuditLog::open(
        &local.dir.path().join("audit-spool"),
        storage::node(),
        local.store.clone(),
        Default::default(),
    )
    .await
    .unwrap()
}

/// The tenant's audit entries as `action outcome reason objects`.
async fn trail(audit: &AuditLog, store: &VaultStore) -> Vec<String> {
    audit.seal().await.unwrap();
    let chains = read_chains(store).await.unwrap();
    chains
        .chains
        .iter()
        .flat_map(|(_, segments)| {
            tenant_lines(
                segments,
                "acme",
                DateTime::<Utc>::MIN_UTC,
                DateTime::<Utc>::MAX_UTC,
            )
        })
        .map(|(_, line)| {
            let entry: serde_json::Value = serde_json::from_slice(line).unwrap();
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
    let local = Local::new().await;
    let provider = Provider::default();
    let addr = provider.start().await;
    let config = config(
        local.dir.path(),
        &main_file(
            &local.dir.path().join("store"),
            addr,
            ANNOUNCED_LONG_AGO,
            "gw1",
        ),
    );
    let now = Utc::now();
    let call = recorded_call(&local, now).await;
    let audit = audit_log(&local).await;
    let summary = worker(&local, &config, "gw1", &audit, now)
        .run_pass()
        .await
        .unwrap();
    assert_eq!((summary.done, summary.sent), (1, 1), "{summary:?}");
    assert_eq!(provider.requests(), 2, "one request per channel");
    let transcript = transcript_of(&local, &call).await;
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
    let job = job_of(&local.store, &call).await;
    assert_eq!((job.state, job.attempts), (JobState::Done, 1));
    let record = format!("\"record:{}\"", call.record_id);
    assert_eq!(
        trail(&audit, &local.store).await,
        [
            format!("sent_to_subprocessor ok - [{record},\"subprocessor:Scribe\"]"),
            format!("transcribed ok - [{record}]"),
        ]
    );
    // Filed as finished: nothing left where the workers look, so a later
    // pass neither sends nor even reads it.
    let scanned = local
        .store
        .list_shallow(&ObjectKey::jobs_prefix(&call.tenant))
        .await
        .unwrap();
    assert!(scanned.is_empty(), "{scanned:?}");
    let again = worker(&local, &config, "gw1", &audit, now)
        .run_pass()
        .await
        .unwrap();
    assert_eq!(again, PassSummary::default());
    assert_eq!(provider.requests(), 2);
}

#[tokio::test]
async fn the_notice_period_holds_the_job_until_it_ends() {
    let local = Local::new().await;
    let provider = Provider::default();
    let addr = provider.start().await;
    // Announced Monday 16 November 2026: sending may start on 1 December.
    let config = config(
        local.dir.path(),
        &main_file(&local.dir.path().join("store"), addr, "2026-11-16", "gw1"),
    );
    let queued = day("2026-11-23");
    let call = recorded_call(&local, queued).await;
    let audit = audit_log(&local).await;
    for now in [queued, day("2026-11-25"), day("2026-11-30")] {
        let summary = worker(&local, &config, "gw1", &audit, now)
            .run_pass()
            .await
            .unwrap();
        assert_eq!(
            (summary.refused, summary.sent),
            (1, 0),
            "{now}: {summary:?}"
        );
    }
    assert_eq!(provider.requests(), 0, "nothing sent while the notice runs");
    let job = job_of(&local.store, &call).await;
    assert!(matches!(&job.state, JobState::Refused { code, .. } if code == "notice_running"));
    // A week refused is far beyond give_up_after (1 h): it does not count.
    let summary = worker(&local, &config, "gw1", &audit, day("2026-12-01"))
        .run_pass()
        .await
        .unwrap();
    assert_eq!((summary.done, summary.sent), (1, 1), "{summary:?}");
    assert_eq!(provider.requests(), 2);
    let record = format!("\"record:{}\"", call.record_id);
    assert_eq!(
        trail(&audit, &local.store).await,
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
    let local = Local::new().await;
    let provider = Provider::default();
    provider.failing.store(1, Ordering::SeqCst);
    let addr = provider.start().await;
    let config = config(
        local.dir.path(),
        &main_file(
            &local.dir.path().join("store"),
            addr,
            ANNOUNCED_LONG_AGO,
            "gw1",
        ),
    );
    let now = Utc::now();
    let call = recorded_call(&local, now).await;
    let audit = audit_log(&local).await;
    let summary = worker(&local, &config, "gw1", &audit, now)
        .run_pass()
        .await
        .unwrap();
    assert_eq!((summary.pending, summary.sent), (1, 1), "{summary:?}");
    let job = job_of(&local.store, &call).await;
    assert_eq!(job.next_attempt, now + Days::seconds(30), "first_retry");
    // Before the backoff ends nothing is sent.
    let early = worker(&local, &config, "gw1", &audit, now + Days::seconds(29))
        .run_pass()
        .await
        .unwrap();
    assert_eq!(early.sent, 0);
    assert_eq!(provider.requests(), 1);
    let later = worker(&local, &config, "gw1", &audit, now + Days::seconds(30))
        .run_pass()
        .await
        .unwrap();
    assert_eq!(later.done, 1, "{later:?}");
    assert_eq!(job_of(&local.store, &call).await.attempts, 2);
    assert_eq!(transcript_of(&local, &call).await.segments.len(), 2);
}

#[tokio::test]
async fn a_provider_that_never_answers_ends_the_job_failed_and_audited() {
    let local = Local::new().await;
    let provider = Provider::default();
    provider.failing.store(usize::MAX, Ordering::SeqCst);
    let addr = provider.start().await;
    let config = config(
        local.dir.path(),
        &main_file(
            &local.dir.path().join("store"),
            addr,
            ANNOUNCED_LONG_AGO,
            "gw1",
        ),
    );
    let now = Utc::now();
    let call = recorded_call(&local, now).await;
    let audit = audit_log(&local).await;
    let mut at = now;
    for _ in 0..20 {
        worker(&local, &config, "gw1", &audit, at)
            .run_pass()
            .await
            .unwrap();
        let job = job_of(&local.store, &call).await;
        if matches!(job.state, JobState::Failed { .. }) {
            break;
        }
        at = job.next_attempt.max(at + Days::seconds(1));
    }
    let job = job_of(&local.store, &call).await;
    let JobState::Failed { reason } = &job.state else {
        panic!("{job:?}");
    };
    assert!(reason.starts_with("gave up after"), "{reason}");
    let trail = trail(&audit, &local.store).await;
    assert_eq!(
        trail.last().unwrap(),
        &format!("transcribed failed gave_up [\"record:{}\"]", call.record_id)
    );
}

#[tokio::test]
async fn two_nodes_on_one_store_transcribe_each_job_once() {
    let local = Local::new().await;
    let provider = Provider::default();
    let addr = provider.start().await;
    let store_dir = local.dir.path().join("store");
    let config_a = config(
        local.dir.path(),
        &main_file(&store_dir, addr, ANNOUNCED_LONG_AGO, "gwa"),
    );
    let config_b = config(
        local.dir.path(),
        &main_file(&store_dir, addr, ANNOUNCED_LONG_AGO, "gwb"),
    );
    let now = Utc::now();
    let mut calls = Vec::new();
    for _ in 0..4 {
        calls.push(recorded_call(&local, now).await);
    }
    let audit = audit_log(&local).await;
    let a = worker(&local, &config_a, "gwa", &audit, now);
    let b = worker(&local, &config_b, "gwb", &audit, now);
    let (from_a, from_b) = tokio::join!(a.run_pass(), b.run_pass());
    let (from_a, from_b) = (from_a.unwrap(), from_b.unwrap());
    assert_eq!(from_a.sent + from_b.sent, 4, "{from_a:?} {from_b:?}");
    assert_eq!(
        provider.requests(),
        8,
        "two channels per call, each call once"
    );
    for call in &calls {
        let job = job_of(&local.store, call).await;
        assert_eq!((job.state, job.attempts), (JobState::Done, 1));
    }
    // A node that died holding a lease loses the job once the lease runs
    // out: another node takes it.
    let late = recorded_call(&local, now).await;
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
    let blocked = worker(&local, &config_b, "gwb", &audit, now + Days::seconds(60))
        .run_pass()
        .await
        .unwrap();
    assert_eq!((blocked.busy, blocked.sent), (1, 0), "{blocked:?}");
    let after = worker(&local, &config_b, "gwb", &audit, now + Days::seconds(601))
        .run_pass()
        .await
        .unwrap();
    assert_eq!(after.sent, 1, "{after:?}");
    assert_eq!(job_of(&local.store, &late).await.state, JobState::Done);
}
