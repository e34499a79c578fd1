//! The vault through the real binary: a gateway killed with SIGKILL mid-call
//! leaves a recording that its next start closes as incomplete, holding the
//! caller's audio up to at most one second before the kill; a call recorded into an S3
//! store lands under the tenant's dated prefix; and an S3 outage during a
//! call only delays the recording, which the upload queue delivers whole once
//! the store is back.

mod support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use greffier_vault::store::RecordId;
use support::config::{GatewayConfig, TenantSpec};
use support::gateway::Gateway;
use support::ports::free_port;
use support::recorded::{
    capture_audio, capture_packet_samples, fetch, from_first_sound, wait_listed, RecordedCall,
    CARRIER_IP, DIALLED, PBX_IP, SAMPLE_RATE, TENANT,
};
use support::s3::{storage_spec, S3Server};

const TENANT_NUMBER: &str = "+33123456789";
/// The capture lasts 7.05 s; a call this long holds all of it.
const WHOLE_CAPTURE_CALL_MS: &str = "8000";
/// Longer than any wait of the crash test: the gateway dies before the caller
/// hangs up.
const CRASHED_CALL_MS: &str = "30000";
/// How long a recording may take to be listed once it is due.
const STORED_BOUND: Duration = Duration::from_secs(30);
/// How long the relay may take to carry the packets a test waits for.
const MEDIA_BOUND: Duration = Duration::from_secs(20);
const METRICS_POLL: Duration = Duration::from_millis(20);
/// Caller audio relayed before the gateway is killed.
const AUDIO_BEFORE_KILL: Duration = Duration::from_millis(3500);
/// Caller audio relayed before the S3 server is stopped.
const AUDIO_BEFORE_OUTAGE: Duration = Duration::from_secs(2);
const RELAYED_PACKETS: &str = "greffier_media_relayed_packets_total";
/// The relay direction that carries the caller's packets (leg A).
const CALLER_DIRECTION: (&str, &str) = ("direction", "a_to_b");

fn recorded_tenant() -> (TenantSpec, SocketAddr, SocketAddr) {
    let pbx = SocketAddr::from((PBX_IP, free_port(PBX_IP)));
    let carrier = SocketAddr::from((CARRIER_IP, free_port(CARRIER_IP)));
    let mut tenant = TenantSpec::new(TENANT, TENANT_NUMBER, pbx, carrier);
    tenant.recording_policy = "all".to_string();
    (tenant, pbx, carrier)
}

/// Caller packets the relay has carried so far.
fn caller_packets(gateway: &Gateway) -> f64 {
    gateway
        .metrics()
        .count(RELAYED_PACKETS, &[CALLER_DIRECTION])
}

/// Polls the relay's counter until it has carried `audio` of the caller's;
/// returns when the first caller packet was seen and the caller samples
/// relayed by the last reading.
fn wait_caller_audio(gateway: &Gateway, audio: Duration) -> (Instant, usize) {
    let packet_samples = capture_packet_samples();
    let packets = (audio.as_secs_f64() * SAMPLE_RATE as f64 / packet_samples as f64).ceil();
    let deadline = Instant::now() + MEDIA_BOUND;
    let mut first_seen = None;
    loop {
        let relayed = caller_packets(gateway);
        if relayed > 0.0 && first_seen.is_none() {
            first_seen = Some(Instant::now());
        }
        if let (Some(first), true) = (first_seen, relayed >= packets) {
            return (first, relayed as usize * packet_samples);
        }
        assert!(
            Instant::now() < deadline,
            "only {relayed} caller packets relayed within {MEDIA_BOUND:?}"
        );
        std::thread::sleep(METRICS_POLL);
    }
}

/// The files of the tenant's spool directory.
fn spool_files(config: &GatewayConfig) -> Vec<String> {
    let dir = config.data_dir().join("spool").join(TENANT);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .flatten()
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn listed_id(entry: &serde_json::Value) -> String {
    entry["id"].as_str().expect("an id").to_string()
}

fn wav_path(config: &GatewayConfig) -> PathBuf {
    config.run_dir().join("call.wav")
}

/// Asserts that the caller's channel holds the whole capture.
fn assert_caller_holds_capture(config: &Path, id: &str, out: &Path) {
    let recording = fetch(config, id, out);
    let expected = capture_audio();
    let caller = from_first_sound(&recording.left);
    assert!(
        caller.len() >= expected.len(),
        "the caller channel is cut short: {} of {} samples",
        caller.len(),
        expected.len()
    );
    assert!(
        caller[..expected.len()] == expected[..],
        "caller channel differs from the capture"
    );
}

#[test]
fn a_gateway_killed_mid_call_keeps_the_audio_up_to_one_second_before_the_kill() {
    let (tenant, pbx, carrier) = recorded_tenant();
    let mut gateway = Gateway::start(GatewayConfig::write(vec![tenant]));
    let call = RecordedCall::start(&gateway, pbx, carrier, CRASHED_CALL_MS);

    let (first_packet_seen, relayed_samples) = wait_caller_audio(&gateway, AUDIO_BEFORE_KILL);
    gateway.kill_hard();
    let killed_after = first_packet_seen.elapsed();
    drop(call);

    let spooled = spool_files(&gateway.config);
    assert!(
        spooled.iter().any(|name| name.ends_with(".grf.part")),
        "no unfinished recording in the spool after the kill: {spooled:?}"
    );

    gateway.restart();
    let config = gateway.config.path().to_path_buf();
    let entry = wait_listed(&config, STORED_BOUND);
    assert_eq!(entry["incomplete"], true, "{entry}");
    let spooled = spool_files(&gateway.config);
    assert!(
        spooled.is_empty(),
        "recovery left files in the spool: {spooled:?}"
    );

    let recording = fetch(&config, &listed_id(&entry), &wav_path(&gateway.config));
    let expected = capture_audio();
    let caller = from_first_sound(&recording.left);
    // A frame whose caller packet had not arrived yet is silence.
    let kept = caller.len() - caller.iter().rev().take_while(|s| **s == 0).count();
    assert!(
        kept <= expected.len() && caller[..kept] == expected[..kept],
        "the caller channel is not a prefix of the capture ({kept} samples)"
    );
    let lost = relayed_samples.saturating_sub(kept);
    eprintln!(
        "killed {:.2} s after the first packet was seen; {:.2} s of caller audio relayed, \
         {:.2} s kept, {:.2} s lost",
        killed_after.as_secs_f64(),
        relayed_samples as f64 / SAMPLE_RATE as f64,
        kept as f64 / SAMPLE_RATE as f64,
        lost as f64 / SAMPLE_RATE as f64
    );
    // The recording holds the audio up to at most one second before the kill.
    assert!(
        lost <= SAMPLE_RATE,
        "{lost} samples of caller audio lost by the crash, more than one second"
    );
}

/// The record's day in the store's layout: `yyyy/mm/dd`.
fn day_path(id: &str) -> String {
    let id: RecordId = id.parse().expect("a record id");
    id.date().format("%Y/%m/%d").to_string()
}

#[test]
fn a_call_recorded_into_s3_lands_under_the_tenant_day() {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime for the S3 server");
    let server = runtime.block_on(S3Server::start());
    let (tenant, pbx, carrier) = recorded_tenant();
    let gateway = Gateway::start(GatewayConfig::write_s3(vec![tenant], storage_spec(&server)));

    RecordedCall::start(&gateway, pbx, carrier, WHOLE_CAPTURE_CALL_MS).finish();

    let config = gateway.config.path().to_path_buf();
    let entry = wait_listed(&config, STORED_BOUND);
    assert_eq!(entry["incomplete"], false, "{entry}");
    let id = listed_id(&entry);
    let recording_key = format!("tenants/{TENANT}/recordings/{}/{id}.grf", day_path(&id));
    let keys = server.stored_keys();
    assert!(
        keys.contains(&recording_key),
        "{recording_key} not in the bucket: {keys:?}"
    );
    for key in &keys {
        for number in [TENANT_NUMBER, DIALLED] {
            assert!(!key.contains(&number[1..]), "{key} holds a phone number");
        }
    }
    assert_caller_holds_capture(&config, &id, &wav_path(&gateway.config));
    drop(gateway);
    drop(server);
}

/// Polls the gateway's log until `text` appears.
fn wait_logged(gateway: &Gateway, text: &str) {
    let deadline = Instant::now() + STORED_BOUND;
    while !gateway.stderr_tail(usize::MAX).contains(text) {
        assert!(
            Instant::now() < deadline,
            "the gateway did not log {text:?} within {STORED_BOUND:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_recording_outlives_an_s3_outage_during_its_call() {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime for the S3 server");
    let mut server = runtime.block_on(S3Server::start());
    let (tenant, pbx, carrier) = recorded_tenant();
    let gateway = Gateway::start(GatewayConfig::write_s3(vec![tenant], storage_spec(&server)));

    let call = RecordedCall::start(&gateway, pbx, carrier, WHOLE_CAPTURE_CALL_MS);
    wait_caller_audio(&gateway, AUDIO_BEFORE_OUTAGE);
    runtime.block_on(server.stop());
    call.finish();

    // The call's end found the store down: everything waits in the spool.
    wait_logged(&gateway, "the recording waits in the spool");
    let spooled = spool_files(&gateway.config);
    assert!(
        spooled.iter().any(|name| name.ends_with(".manifest.grf")),
        "the finished recording is not in the spool: {spooled:?}"
    );
    assert!(
        server
            .stored_keys()
            .iter()
            .all(|key| !key.contains("/recordings/")),
        "a recording reached the stopped store: {:?}",
        server.stored_keys()
    );

    runtime.block_on(server.restart());
    let restarted = Instant::now();
    let config = gateway.config.path().to_path_buf();
    let entry = wait_listed(&config, STORED_BOUND);
    eprintln!(
        "recording listed {:.1} s after the store came back",
        restarted.elapsed().as_secs_f64()
    );
    assert_eq!(entry["incomplete"], false, "{entry}");
    let id = listed_id(&entry);
    assert_caller_holds_capture(&config, &id, &wav_path(&gateway.config));

    let deadline = Instant::now() + STORED_BOUND;
    while !spool_files(&gateway.config).is_empty() {
        assert!(
            Instant::now() < deadline,
            "the spool still holds {:?}",
            spool_files(&gateway.config)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(gateway);
    drop(server);
}
