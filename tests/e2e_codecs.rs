//! Codecs beyond G.711 through the real binary: a G.729 call (payload type 18,
//! Annex A, made in the test with bcg729's encoder) is recorded as the audio it
//! carries, and a call in a codec the recorder cannot decode keeps its payloads,
//! encrypted beside the recording, instead of silently recording silence.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use greffier_media::{Leg, RawPayloads};
use greffier_test_support::audio::{correlation_near_first_sound, encode_g729, sweep};
use greffier_test_support::objects::pattern;
use greffier_test_support::pcap::StreamToPlay;
use support::config::{GatewayConfig, TenantSpec};
use support::gateway::Gateway;
use support::ports::free_port;
use support::recorded::{
    fetch, get_recording, stream_scenario, wait_listed, RecordedCall, CARRIER_IP, PBX_IP, TENANT,
};

/// How long the stored recording may take to appear after the call ends.
const STORED_BOUND: Duration = Duration::from_secs(20);
const PACKET_TIME: Duration = Duration::from_millis(20);
/// Four seconds of audio, in 20 ms packets.
const PACKETS: usize = 200;

fn recording_gateway() -> (Gateway, SocketAddr, SocketAddr) {
    let pbx = SocketAddr::from((PBX_IP, free_port(PBX_IP)));
    let carrier = SocketAddr::from((CARRIER_IP, free_port(CARRIER_IP)));
    let mut tenant = TenantSpec::new(TENANT, "+33123456789", pbx, carrier);
    tenant.recording_policy = "all".to_string();
    let gateway = Gateway::start(GatewayConfig::write(vec![tenant]));
    std::fs::create_dir_all(gateway.config.run_dir()).unwrap();
    (gateway, pbx, carrier)
}

/// A five-second call from the PBX playing `payloads` (20 ms apart, 8 kHz
/// timestamps) in `payload_type`, offered as `sdp_media`, to the echoing
/// carrier; returns the recording's listing entry once stored.
fn call_playing(
    gateway: &Gateway,
    (pbx, carrier): (SocketAddr, SocketAddr),
    (payload_type, payloads): (u8, Vec<Vec<u8>>),
    name: &str,
    sdp_media: &str,
) -> serde_json::Value {
    let stream = StreamToPlay {
        payload_type,
        packet_time: PACKET_TIME,
        timestamp_step: 160,
        payloads,
    };
    let scenario = stream_scenario(&stream, &gateway.config.run_dir(), name, sdp_media);
    RecordedCall::start_playing(gateway, pbx, carrier, "5000", &scenario).finish();
    wait_listed(gateway.config.path(), STORED_BOUND)
}

#[test]
fn a_g729_call_is_recorded_as_the_audio_it_carries() {
    let (gateway, pbx, carrier) = recording_gateway();
    let run_dir = gateway.config.run_dir();
    let source = sweep(PACKETS * 160);
    let payloads = encode_g729(&source);
    let entry = call_playing(
        &gateway,
        (pbx, carrier),
        (18, payloads),
        "uac_g729",
        "18\n      a=rtpmap:18 G729/8000\n      a=fmtp:18 annexb=no",
    );
    let config = gateway.config.path().to_path_buf();
    assert_eq!(entry["incomplete"], false);
    assert_eq!(entry["undecodable"], serde_json::json!([]), "{entry}");
    let id = entry["id"].as_str().expect("an id");
    let recording = fetch(&config, id, &run_dir.join("g729.wav"));
    let caller = correlation_near_first_sound(&source, &recording.left);
    let echo = correlation_near_first_sound(&source, &recording.right);
    println!("G.729 through the gateway: correlation caller {caller:.3}, echo {echo:.3}");
    assert!(
        caller > 0.9,
        "the caller channel is not the G.729 audio: {caller}"
    );
    assert!(
        echo > 0.9,
        "the callee channel is not the echoed audio: {echo}"
    );
}

#[test]
fn a_call_in_a_codec_without_decoder_keeps_its_payloads() {
    let (gateway, pbx, carrier) = recording_gateway();
    let run_dir = gateway.config.run_dir();
    let payloads: Vec<Vec<u8>> = (0..PACKETS)
        // Deterministic bytes that no decoder is asked to make sense of.
        .map(|index| pattern(13 + index % 20, 0x9e37_79b9_7f4a_7c15 ^ index as u64))
        .collect();
    let entry = call_playing(
        &gateway,
        (pbx, carrier),
        (96, payloads.clone()),
        "uac_amr",
        "96\n      a=rtpmap:96 AMR/8000",
    );
    let config = gateway.config.path().to_path_buf();
    let undecodable: Vec<&str> = entry["undecodable"]
        .as_array()
        .expect("an undecodable list")
        .iter()
        .filter_map(|name| name.as_str())
        .collect();
    assert!(undecodable.contains(&"AMR/8000"), "{entry}");
    let id = entry["id"].as_str().expect("an id");

    // `get` says the audio lacks it, and `--raw` exports what was received.
    let raw_path = run_dir.join("call.rtp");
    let wav = run_dir.join("call.wav");
    let got = get_recording(
        &config,
        TENANT,
        id,
        &[
            "--out",
            wav.to_str().expect("a UTF-8 path"),
            "--raw",
            raw_path.to_str().expect("a UTF-8 path"),
        ],
    );
    assert!(
        got.contains("AMR/8000") && got.contains("--raw"),
        "recordings get does not say so: {got}"
    );
    let raw = RawPayloads::parse(&std::fs::read(&raw_path).expect("the raw payloads"))
        .expect("a raw payloads file");
    assert!(raw
        .names
        .contains(&(Leg::Caller, 96, "AMR/8000".to_string())));
    let caller: Vec<&[u8]> = raw
        .packets
        .iter()
        .filter(|packet| packet.leg == Leg::Caller)
        .map(|packet| packet.payload.as_slice())
        .collect();
    let sent: Vec<&[u8]> = payloads.iter().map(Vec::as_slice).collect();
    assert_eq!(caller.len(), sent.len(), "packets kept");
    assert!(caller == sent, "the kept payloads differ from those sent");
    let sequences: Vec<u16> = raw
        .packets
        .iter()
        .filter(|packet| packet.leg == Leg::Caller)
        .map(|packet| packet.sequence)
        .collect();
    assert!(sequences
        .windows(2)
        .all(|pair| pair[1] == pair[0].wrapping_add(1)));

    let metrics = gateway.metrics();
    assert_eq!(
        metrics.count("greffier_recording_undecodable_total", &[("codec", "AMR")]),
        1.0,
        "{:?}",
        metrics.names()
    );
}
