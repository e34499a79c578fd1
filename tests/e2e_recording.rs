//! A recorded call end to end: sipp plays a real G.711 A-law capture through the
//! real binary to an answerer that echoes it; the recording, read back through
//! `greffier recordings get`, holds the caller's audio on the left channel and the
//! echo on the right, sample for sample.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use support::config::{GatewayConfig, TenantSpec};
use support::gateway::Gateway;
use support::ports::free_port;
use support::recorded::{
    capture_audio, fetch, files_under, from_first_sound, wait_listed, RecordedCall, CARRIER_IP,
    PBX_IP, TENANT,
};
use support::sipp::SippCommand;
use support::sockets::Transport;

/// How long the stored recording may take to appear after the call ends.
const STORED_BOUND: Duration = Duration::from_secs(20);

#[test]
fn a_recorded_call_holds_both_directions_sample_for_sample() {
    support::sipp::require_sipp();
    let pbx = SocketAddr::from((PBX_IP, free_port(PBX_IP)));
    let carrier = SocketAddr::from((CARRIER_IP, free_port(CARRIER_IP)));
    let mut tenant = TenantSpec::new(TENANT, "+33123456789", pbx, carrier);
    tenant.recording_policy = "all".to_string();
    let gateway = Gateway::start(GatewayConfig::write(vec![tenant]));
    let run_dir = gateway.config.run_dir();
    std::fs::create_dir_all(&run_dir).unwrap();

    // The capture lasts 7.05 s; the call outlives it.
    RecordedCall::start(&gateway, pbx, carrier, "8000").finish();

    let config = gateway.config.path().to_path_buf();
    let entry = wait_listed(&config, STORED_BOUND);
    assert_eq!(entry["incomplete"], false);
    let id = entry["id"].as_str().expect("an id");
    let recording = fetch(&config, id, &run_dir.join("call.wav"));

    let expected = capture_audio();
    let caller_audio = from_first_sound(&recording.left);
    assert!(
        caller_audio.len() >= expected.len(),
        "the caller channel is cut short"
    );
    assert!(
        caller_audio[..expected.len()] == expected[..],
        "caller channel differs from the capture"
    );
    let echo = from_first_sound(&recording.right);
    assert!(
        echo.len() >= expected.len(),
        "the callee channel is cut short"
    );
    assert!(
        echo[..expected.len()] == expected[..],
        "callee channel differs from the echo"
    );
}

#[test]
fn a_call_that_is_not_recorded_still_leaves_an_encrypted_call_record() {
    support::sipp::require_sipp();
    let pbx = SocketAddr::from((PBX_IP, free_port(PBX_IP)));
    let carrier = SocketAddr::from((CARRIER_IP, free_port(CARRIER_IP)));
    let tenant = TenantSpec::new(TENANT, "+33123456789", pbx, carrier);
    assert_eq!(tenant.recording_policy, "none");
    let gateway = Gateway::start(GatewayConfig::write(vec![tenant]));
    let run_dir = gateway.config.run_dir();
    std::fs::create_dir_all(&run_dir).unwrap();

    let answerer = SippCommand::new(
        "carrier",
        &support::sipp::scenario("uas_answer.xml"),
        &run_dir,
        Transport::Udp,
        CARRIER_IP,
    )
    .local_port(carrier.port())
    .spawn();
    SippCommand::new(
        "pbx",
        &support::sipp::scenario("uac_call.xml"),
        &run_dir,
        Transport::Udp,
        PBX_IP,
    )
    .local_port(pbx.port())
    .remote(gateway.sip_addr())
    .service("+33198765432")
    .run()
    .assert_calls_succeeded(1);
    answerer.wait();

    let tenant_dir = gateway.config.data_dir().join("store/tenants").join(TENANT);
    let deadline = std::time::Instant::now() + STORED_BOUND;
    let records = loop {
        let records = files_under(&tenant_dir.join("cdr"));
        if !records.is_empty() {
            break records;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no call record stored"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(records.len(), 1);
    let bytes = std::fs::read(&records[0]).unwrap();
    assert!(
        bytes.starts_with(b"GRF1"),
        "the call record is an encrypted object"
    );
    let key = records[0].display().to_string();
    assert!(
        !key.contains("123456789") && !key.contains("198765432"),
        "no number in the key"
    );
    assert!(
        files_under(&tenant_dir.join("recordings")).is_empty(),
        "nothing was recorded"
    );
}
