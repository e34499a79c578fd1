//! Transcription end to end: calls through the real gateway where the PBX
//! and the carrier each say a sentence synthesised by festival, recorded,
//! then sent channel by channel to the real engine (`greffier-engine` on
//! Whisper base) through the sub-processor gate.
//!
//! - the stored transcript has each sentence's words, on the right
//!   speaker, in order;
//! - a sub-processor outside the EEA without a transfer mechanism, one the
//!   tenant objected to (through the admin API), and one whose notice period runs: each refused and
//!   audited, nothing reaches the engine; the last is sent once its notice
//!   has passed (the clock given to `greffier transcripts run --once`);
//! - an engine that is down when the call ends, and a gateway restarted
//!   while the job waits: the transcript arrives once the engine is up;
//! - two nodes on one store: each job is done once.
//!
//! Needs sipp, festival (`festvox-us-slt-hts`), the Whisper base model
//! (`scripts/models.sh`) and `greffier-engine` built beside `greffier`.

mod support;

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use serde_json::Value;

use support::config::{GatewayConfig, TenantSpec, TenantTranscription};
use support::engine::Engine;
use support::gateway::Gateway;
use support::http::{self, request_json};
use support::ports::free_port;
use support::recorded::cli_ok;
use support::speech::Dialogue;
use support::transcription::{
    assert_in_order, audit_entries, engine_provider_toml, entries_about, exported_entries, get,
    list, run_once, said_by, sent_entries, subprocessor_toml, wait_audit, wait_jobs,
    wait_jobs_where, working_days_before, FAST_JOBS_TOML,
};

const CALLER_SAYS: &str = "Please send the invoice to the accounting department.";
const CALLER_WORDS: [&str; 3] = ["invoice", "accounting", "department"];
const CALLEE_SAYS: &str = "The delivery will arrive on Thursday morning.";
const CALLEE_WORDS: [&str; 3] = ["delivery", "thursday", "morning"];

/// A stored recording's job appears well within this after the call.
const QUEUED_BOUND: Duration = Duration::from_secs(30);
/// Two channels of a ten-second call through Whisper base on a busy
/// machine, with the node's polling and retries around them.
const TRANSCRIBED_BOUND: Duration = Duration::from_secs(300);
/// A refusal is decided on the node's next poll (every second).
const REFUSED_BOUND: Duration = Duration::from_secs(30);
const STOP_BOUND: Duration = Duration::from_secs(30);

/// A day long enough ago for any notice period to have ended.
fn long_ago() -> chrono::NaiveDate {
    chrono::NaiveDate::from_ymd_opt(2025, 1, 6).expect("a date")
}

fn today() -> chrono::NaiveDate {
    chrono::Utc::now().date_naive()
}

/// The PBX and the carrier of one tenant, each on its own loopback address
/// (sources must not overlap across tenants).
fn peers(pbx_ip: Ipv4Addr, carrier_ip: Ipv4Addr) -> (SocketAddr, SocketAddr) {
    (
        SocketAddr::from((pbx_ip, free_port(pbx_ip))),
        SocketAddr::from((carrier_ip, free_port(carrier_ip))),
    )
}

/// A tenant recording every call and transcribing through `provider`.
fn transcribing_tenant(
    id: &str,
    number: &str,
    pbx: SocketAddr,
    carrier: SocketAddr,
    transcription: TenantTranscription,
) -> TenantSpec {
    let mut tenant = TenantSpec::new(id, number, pbx, carrier);
    tenant.recording_policy = "all".to_string();
    tenant.transcription = Some(transcription);
    tenant
}

/// A node transcribing through `engine`, run by the operator in France.
fn local_engine_sections(engine: &Engine) -> String {
    format!(
        "{}\n{}\n{}",
        subprocessor_toml("operator", "FR", "none", long_ago()),
        engine_provider_toml("engine", engine, "operator"),
        FAST_JOBS_TOML
    )
}

/// The one job of `tenant`, once transcribed, and its transcript.
fn wait_transcribed(config: &std::path::Path, tenant: &str) -> (Value, Value) {
    let jobs = wait_jobs(config, tenant, 1, "done", TRANSCRIBED_BOUND);
    let job = jobs.into_iter().next().expect("one job");
    assert_eq!(job["transcript"], true, "{job}");
    let id = job["id"].as_str().expect("a job id").to_string();
    let transcript = get(config, tenant, &id);
    (job, transcript)
}

/// Each sentence's key words on its speaker, in order, and not on the
/// other; the caller's sentence before the callee's.
fn assert_dialogue(transcript: &Value) {
    let caller = said_by(transcript, "caller");
    let callee = said_by(transcript, "callee");
    let text = |segments: &[(f64, String)]| {
        segments
            .iter()
            .map(|(_, text)| text.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    };
    let (caller_text, callee_text) = (text(&caller), text(&callee));
    assert_in_order(&caller_text, &CALLER_WORDS, "the caller");
    assert_in_order(&callee_text, &CALLEE_WORDS, "the callee");
    for word in CALLEE_WORDS {
        assert!(
            !caller_text.contains(word),
            "`{word}` on the caller: {transcript}"
        );
    }
    for word in CALLER_WORDS {
        assert!(
            !callee_text.contains(word),
            "`{word}` on the callee: {transcript}"
        );
    }
    // Merged by time: segments in order of their start, the caller's
    // sentence (said first) before the callee's.
    let starts: Vec<f64> = transcript["segments"]
        .as_array()
        .expect("segments")
        .iter()
        .map(|segment| segment["start"].as_f64().expect("a start"))
        .collect();
    assert!(
        starts.windows(2).all(|pair| pair[0] <= pair[1]),
        "segments not in time order: {transcript}"
    );
    let first_of = |segments: &[(f64, String)], word: &str| {
        segments
            .iter()
            .find(|(_, text)| text.contains(word))
            .map(|(start, _)| *start)
            .expect("the word was found above")
    };
    assert!(
        first_of(&caller, CALLER_WORDS[0]) < first_of(&callee, CALLEE_WORDS[0]),
        "the caller's sentence, said first, is not first: {transcript}"
    );
}

#[test]
fn each_party_s_sentence_comes_back_on_its_own_speaker_in_order() {
    support::sipp::require_sipp();
    let engine = Engine::start();
    let (pbx, carrier) = peers(Ipv4Addr::new(127, 0, 0, 1), Ipv4Addr::new(127, 0, 0, 2));
    let tenant = transcribing_tenant(
        "acme",
        "+33123456789",
        pbx,
        carrier,
        TenantTranscription::through("engine"),
    );
    let gateway = Gateway::start(
        GatewayConfig::write(vec![tenant]).with_sections(&local_engine_sections(&engine)),
    );
    let dialogue = Dialogue::synthesise(&gateway.config.run_dir(), CALLER_SAYS, CALLEE_SAYS);
    dialogue.call(&gateway.config, pbx, carrier, "call");

    let config = gateway.config.path().to_path_buf();
    let (job, transcript) = wait_transcribed(&config, "acme");
    assert_eq!(job["attempts"], 1, "{job}");
    assert_eq!(transcript["provider"], "engine", "{transcript}");
    assert_eq!(transcript["model"], "whisper-base", "{transcript}");
    assert_eq!(transcript["language"], "en", "{transcript}");
    assert_dialogue(&transcript);
    // One request per channel.
    assert_eq!(engine.requests(), 2, "{}", engine.log_text());

    let record = job["id"].as_str().expect("an id");
    let sent = wait_audit(
        &gateway.config,
        "acme",
        "sent_to_subprocessor",
        record,
        QUEUED_BOUND,
        |entry| entry["outcome"] == "ok",
    );
    assert!(
        sent["objects"]
            .as_array()
            .expect("objects")
            .iter()
            .any(|object| object == "subprocessor:operator"),
        "{sent}"
    );
    wait_audit(
        &gateway.config,
        "acme",
        "transcribed",
        record,
        QUEUED_BOUND,
        |entry| entry["outcome"] == "ok",
    );
    // Nothing heard reaches the gateway's log.
    let log = gateway.log_text().to_lowercase();
    for word in CALLER_WORDS.iter().chain(&CALLEE_WORDS) {
        assert!(!log.contains(word), "`{word}` in the gateway's log");
    }
}

/// Three tenants of one node, each with a provider the gate refuses for its
/// own reason; all three providers are the one engine.
#[test]
fn refused_sub_processors_receive_nothing_and_a_notice_period_ends_by_itself() {
    support::sipp::require_sipp();
    let engine = Engine::start();
    let announced = working_days_before(today(), 5);
    let notice_ends = greffier::transcription::notice::notice_ends(announced)
        .expect("a notice end in the calendar");
    assert!(
        notice_ends > today(),
        "five working days are inside the notice"
    );

    let cases = [
        // (tenant, number, provider, sub-processor, reason, PBX, carrier)
        (
            "faraway",
            "+33123456701",
            "abroad",
            "abroad_inc",
            "transfer_not_accepted",
            Ipv4Addr::new(127, 0, 0, 1),
            Ipv4Addr::new(127, 0, 0, 2),
        ),
        (
            "objector",
            "+33123456702",
            "disliked",
            "disliked_sas",
            "objected",
            Ipv4Addr::new(127, 0, 0, 3),
            Ipv4Addr::new(127, 0, 0, 4),
        ),
        (
            "patient",
            "+33123456703",
            "newcomer",
            "newcomer_sas",
            "notice_running",
            Ipv4Addr::new(127, 0, 0, 5),
            Ipv4Addr::new(127, 0, 0, 6),
        ),
    ];
    let mut sections = String::new();
    // Outside the EEA, no transfer mechanism; the tenant accepts none.
    sections.push_str(&subprocessor_toml("abroad_inc", "US", "none", long_ago()));
    sections.push_str(&subprocessor_toml("disliked_sas", "FR", "none", long_ago()));
    sections.push_str(&subprocessor_toml("newcomer_sas", "FR", "none", announced));
    let mut tenants = Vec::new();
    let mut addresses = Vec::new();
    for (tenant, number, provider, subprocessor, _, pbx_ip, carrier_ip) in cases {
        sections.push_str(&engine_provider_toml(provider, &engine, subprocessor));
        let (pbx, carrier) = peers(pbx_ip, carrier_ip);
        // The objection is not in the tenant's file: its administrator
        // makes it through the admin API below.
        let transcription = TenantTranscription::through(provider);
        tenants.push(transcribing_tenant(
            tenant,
            number,
            pbx,
            carrier,
            transcription,
        ));
        addresses.push((pbx, carrier));
    }
    sections.push_str(FAST_JOBS_TOML);
    sections.push_str(CHEAP_ADMIN_TOML);
    let mut gateway = Gateway::start(GatewayConfig::write(tenants).with_sections(&sections));
    object_through_the_api(&gateway, "objector", "disliked_sas");
    // A sub-processor the gate refuses still loads: with a warning.
    assert!(
        gateway.log_text().contains("abroad_inc"),
        "no warning names the sub-processor outside the EEA:\n{}",
        gateway.stderr_tail(60)
    );

    let dialogue = Dialogue::synthesise(&gateway.config.run_dir(), CALLER_SAYS, CALLEE_SAYS);
    std::thread::scope(|scope| {
        for ((tenant, ..), (pbx, carrier)) in cases.iter().zip(&addresses) {
            let (gateway, dialogue) = (&gateway.config, &dialogue);
            scope.spawn(move || dialogue.call(gateway, *pbx, *carrier, tenant));
        }
    });

    let config = gateway.config.path().to_path_buf();
    let mut records = Vec::new();
    for (tenant, _, _, subprocessor, reason, ..) in cases {
        let jobs = wait_jobs(&config, tenant, 1, "refused", REFUSED_BOUND + QUEUED_BOUND);
        let job = &jobs[0];
        assert_eq!(job["code"], reason, "{tenant}: {job}");
        assert_eq!(job["transcript"], false, "{tenant}: {job}");
        let record = job["id"].as_str().expect("an id").to_string();
        let refused = wait_audit(
            &gateway.config,
            tenant,
            "sent_to_subprocessor",
            &record,
            REFUSED_BOUND,
            |entry| entry["outcome"] == "refused",
        );
        assert_eq!(refused["reason"], reason, "{tenant}: {refused}");
        let objects = refused["objects"].as_array().expect("objects");
        assert!(
            objects
                .iter()
                .any(|o| *o == format!("subprocessor:{subprocessor}").as_str()),
            "{tenant}: {refused}"
        );
        gateway.wait_for_log(
            &[
                "refused by the sub-processor gate",
                &format!("code={reason}"),
            ],
            REFUSED_BOUND,
        );
        records.push(record);
    }
    // Refused again on later polls, never sent: the engine heard nothing.
    assert_eq!(engine.requests(), 0, "{}", engine.log_text());
    for ((tenant, ..), record) in cases.iter().zip(&records) {
        assert!(
            sent_entries(&gateway.config, tenant, record)
                .iter()
                .all(|entry| entry["outcome"] == "refused"),
            "{tenant}: something was sent"
        );
    }

    // Stopped, the node seals its entries: the tenants' exports hold the
    // refusals with their codes.
    gateway.stop(STOP_BOUND);
    for ((tenant, _, _, _, reason, ..), record) in cases.iter().zip(&records) {
        let exported = exported_entries(&config, tenant);
        assert!(
            exported.iter().any(|entry| {
                entry["action"] == "sent_to_subprocessor"
                    && entry["outcome"] == "refused"
                    && entry["reason"] == *reason
                    && entry["objects"][0] == format!("record:{record}").as_str()
            }),
            "{tenant}: no refusal in its export: {exported:?}"
        );
    }

    // The notice period ends: the job is sent, the others stay refused.
    let after_notice = format!("{notice_ends}T10:00:00Z");
    run_once(&config, &after_notice);
    let (job, transcript) = wait_transcribed(&config, "patient");
    assert_eq!(job["transcript"], true);
    assert_dialogue(&transcript);
    assert_eq!(engine.requests(), 2, "{}", engine.log_text());
    for (tenant, _, _, _, reason, ..) in &cases[..2] {
        let jobs = list(&config, tenant);
        assert_eq!(jobs.len(), 1, "{tenant}: {jobs:?}");
        assert_eq!(jobs[0]["state"], "refused", "{tenant}: {jobs:?}");
        assert_eq!(jobs[0]["code"], *reason, "{tenant}: {jobs:?}");
    }
    let patient = &records[2];
    assert_eq!(
        entries_about(&gateway.config, "patient", "sent_to_subprocessor", patient)
            .iter()
            .filter(|entry| entry["outcome"] == "ok")
            .count(),
        1
    );
    assert_eq!(
        entries_about(&gateway.config, "patient", "transcribed", patient)
            .iter()
            .filter(|entry| entry["outcome"] == "ok")
            .count(),
        1
    );
}

/// Credentials hashed cheaply: the test makes one.
const CHEAP_ADMIN_TOML: &str =
    "[admin]\nargon2_memory_kib = 64\nargon2_iterations = 1\nargon2_parallelism = 1\n";
/// A credential just created is picked up by the running node within this.
const TOKEN_BOUND: Duration = Duration::from_secs(20);

/// `tenant`'s super admin objects to `subprocessor` through the admin API
/// (`PUT /v1/tenants/{tenant}/objections`) of the running node.
fn object_through_the_api(gateway: &Gateway, tenant: &str, subprocessor: &str) {
    let token = cli_ok(
        gateway.config.path(),
        &[
            "token",
            "create",
            "--name",
            "objection",
            "--tenant",
            tenant,
            "--role",
            "super_admin",
        ],
    )
    .trim()
    .to_string();
    let path = format!("/v1/tenants/{tenant}/objections");
    let body = serde_json::json!({ "subprocessors": [subprocessor] }).to_string();
    let deadline = Instant::now() + TOKEN_BOUND;
    loop {
        let reply = request_json(
            gateway.admin,
            "PUT",
            &path,
            &[format!("Authorization: Bearer {token}")],
            &body,
        )
        .unwrap_or_else(|error| panic!("{error}"));
        if reply.status == 200 {
            break;
        }
        assert!(
            reply.status == 401 && Instant::now() < deadline,
            "PUT {path}: {} {}",
            reply.status,
            reply.body
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let reply = http::request(
        gateway.admin,
        "GET",
        &path,
        &[format!("Authorization: Bearer {token}")],
    )
    .unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(reply.status, 200, "GET {path}: {}", reply.body);
    assert!(
        reply.body.contains(subprocessor),
        "GET {path}: {}",
        reply.body
    );
}

/// One tenant of a node whose provider is the engine prepared (not
/// running); returns the gateway and the tenant's peers.
fn gateway_before_the_engine(engine: &Engine) -> (Gateway, SocketAddr, SocketAddr) {
    let (pbx, carrier) = peers(Ipv4Addr::new(127, 0, 0, 1), Ipv4Addr::new(127, 0, 0, 2));
    let tenant = transcribing_tenant(
        "acme",
        "+33123456789",
        pbx,
        carrier,
        TenantTranscription::through("engine"),
    );
    let gateway = Gateway::start(
        GatewayConfig::write(vec![tenant]).with_sections(&local_engine_sections(engine)),
    );
    (gateway, pbx, carrier)
}

/// Waits until the tenant's one job has failed an attempt and waits for
/// the next (the engine refused the connection).
fn wait_failed_attempt(config: &std::path::Path) {
    wait_jobs_where(
        config,
        "acme",
        1,
        TRANSCRIBED_BOUND,
        "a failed attempt, pending",
        |job| job["state"] == "pending" && job["attempts"].as_u64().unwrap_or(0) >= 1,
    );
}

#[test]
fn a_transcript_arrives_once_an_engine_that_was_down_is_up() {
    support::sipp::require_sipp();
    let mut engine = Engine::prepare();
    let (gateway, pbx, carrier) = gateway_before_the_engine(&engine);
    let dialogue = Dialogue::synthesise(&gateway.config.run_dir(), CALLER_SAYS, CALLEE_SAYS);
    dialogue.call(&gateway.config, pbx, carrier, "call");

    let config = gateway.config.path().to_path_buf();
    wait_failed_attempt(&config);
    engine.run();
    let (job, transcript) = wait_transcribed(&config, "acme");
    assert!(job["attempts"].as_u64().expect("attempts") >= 2, "{job}");
    assert_dialogue(&transcript);
}

#[test]
fn a_transcript_arrives_after_the_gateway_restarted_while_its_job_waited() {
    support::sipp::require_sipp();
    let mut engine = Engine::prepare();
    let (mut gateway, pbx, carrier) = gateway_before_the_engine(&engine);
    let dialogue = Dialogue::synthesise(&gateway.config.run_dir(), CALLER_SAYS, CALLEE_SAYS);
    dialogue.call(&gateway.config, pbx, carrier, "call");

    let config = gateway.config.path().to_path_buf();
    wait_failed_attempt(&config);
    gateway.kill_hard();
    engine.run();
    gateway.restart();
    let (_, transcript) = wait_transcribed(&config, "acme");
    assert_dialogue(&transcript);
    assert_eq!(engine.requests(), 2, "{}", engine.log_text());
}

#[test]
fn two_nodes_on_one_store_transcribe_each_job_once() {
    support::sipp::require_sipp();
    let engine = Engine::start();
    let (pbx, carrier) = peers(Ipv4Addr::new(127, 0, 0, 1), Ipv4Addr::new(127, 0, 0, 2));
    let tenant = transcribing_tenant(
        "acme",
        "+33123456789",
        pbx,
        carrier,
        TenantTranscription::through("engine"),
    );
    let first_config =
        GatewayConfig::write(vec![tenant]).with_sections(&local_engine_sections(&engine));
    let second_config = first_config.another_node("e2e-second");
    let mut first = Gateway::start(first_config);
    let mut second = Gateway::start(second_config);

    // One call through each node; both nodes look for every job.
    let dialogue = Dialogue::synthesise(&first.config.run_dir(), CALLER_SAYS, CALLEE_SAYS);
    dialogue.call(&first.config, pbx, carrier, "first");
    dialogue.call(&second.config, pbx, carrier, "second");

    let config = first.config.path().to_path_buf();
    let jobs = wait_jobs(&config, "acme", 2, "done", TRANSCRIBED_BOUND);
    // Both nodes stop: whatever either sent is in the engine's log and the
    // audit trail by now.
    first.stop(STOP_BOUND);
    second.stop(STOP_BOUND);
    assert_eq!(engine.requests(), 4, "{}", engine.log_text());
    for job in &jobs {
        assert_eq!(job["attempts"], 1, "{job}");
        assert_eq!(job["transcript"], true, "{job}");
        let record = job["id"].as_str().expect("an id");
        assert_dialogue(&get(&config, "acme", record));
        for action in ["sent_to_subprocessor", "transcribed"] {
            let entries: Vec<Value> = audit_entries(&first.config, "acme")
                .into_iter()
                .filter(|entry| {
                    entry["action"] == action
                        && entry["objects"].as_array().is_some_and(|o| {
                            o.iter().any(|o| *o == format!("record:{record}").as_str())
                        })
                })
                .collect();
            assert_eq!(entries.len(), 1, "{action} of {record}: {entries:?}");
        }
    }
    assert_eq!(
        list(second.config.path(), "acme").len(),
        2,
        "the second node sees the same jobs"
    );
}
