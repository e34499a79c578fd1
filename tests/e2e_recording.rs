//! A recorded call end to end: sipp plays a real G.711 A-law capture through the
//! real binary to an answerer that echoes it; the recording, read back through
//! `greffier recordings get`, holds the caller's audio on the left channel and the
//! echo on the right, sample for sample.

mod support;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use support::config::{GatewayConfig, TenantSpec};
use support::gateway::{binary, Gateway};
use support::ports::free_port;
use support::sipp::{peerbench_scenario, SippCommand};
use support::sockets::Transport;

const PBX_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);
const CARRIER_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
/// How long the stored recording may take to appear after the call ends.
const STORED_BOUND: Duration = Duration::from_secs(20);

fn capture() -> PathBuf {
    Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/corpora/pcaps/sipp_g711a.pcap"
    ))
    .to_path_buf()
}

/// The capture's audio, decoded and laid out by RTP timestamp.
fn expected_audio() -> Vec<i16> {
    let file = std::fs::File::open(capture()).expect("the capture");
    let mut reader = pcap_file::pcap::PcapReader::new(file).expect("a pcap file");
    let mut audio = Vec::new();
    let mut first_timestamp = None;
    while let Some(packet) = reader.next_packet() {
        let packet = packet.expect("a pcap record");
        // Ethernet, IPv4 without options, UDP: the capture's fixed framing.
        let rtp = &packet.data[42..];
        let timestamp = u32::from_be_bytes([rtp[4], rtp[5], rtp[6], rtp[7]]);
        let offset = timestamp.wrapping_sub(*first_timestamp.get_or_insert(timestamp)) as usize;
        let payload = &rtp[12..];
        if audio.len() < offset + payload.len() {
            audio.resize(offset + payload.len(), 0);
        }
        for (at, code) in payload.iter().enumerate() {
            audio[offset + at] = greffier_media::codec::alaw_to_linear(*code);
        }
    }
    audio
}

fn greffier(config: &Path, args: &[&str]) -> std::process::Output {
    Command::new(binary())
        .args(args)
        .arg("--config")
        .arg(config)
        .output()
        .expect("run greffier")
}

/// Waits for the call's recording to be listed, and returns its id.
fn stored_recording(config: &Path) -> String {
    let deadline = Instant::now() + STORED_BOUND;
    loop {
        let listed = greffier(config, &["recordings", "list", "--tenant", "acme"]);
        let text = String::from_utf8_lossy(&listed.stdout);
        if let Some(line) = text.lines().next() {
            let entry: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
            assert_eq!(entry["incomplete"], false);
            return entry["id"].as_str().expect("an id").to_string();
        }
        assert!(
            Instant::now() < deadline,
            "no recording stored: {}",
            String::from_utf8_lossy(&listed.stderr)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Where `expected` starts in `channel`: A-law never decodes to 0, so the first
/// non-zero sample is the first packet.
fn first_sound(channel: &[i16]) -> usize {
    channel
        .iter()
        .position(|sample| *sample != 0)
        .expect("audio in the channel")
}

#[test]
fn a_recorded_call_holds_both_directions_sample_for_sample() {
    support::sipp::require_sipp();
    let pbx = SocketAddr::from((PBX_IP, free_port(PBX_IP)));
    let carrier = SocketAddr::from((CARRIER_IP, free_port(CARRIER_IP)));
    let mut tenant = TenantSpec::new("acme", "+33123456789", pbx, carrier);
    tenant.recording_policy = "all".to_string();
    let gateway = Gateway::start(GatewayConfig::write(vec![tenant]));
    let run_dir = gateway.config.run_dir();
    std::fs::create_dir_all(&run_dir).unwrap();

    let scenario = run_dir.join("uac_g711a.xml");
    let template = std::fs::read_to_string(peerbench_scenario("uac_media.xml")).unwrap();
    std::fs::write(
        &scenario,
        template.replace("@PCAP@", &capture().display().to_string()),
    )
    .unwrap();

    let answerer = SippCommand::new(
        "carrier",
        &peerbench_scenario("uas.xml"),
        &run_dir,
        Transport::Udp,
        CARRIER_IP,
    )
    .local_port(carrier.port())
    .args(["-rtp_echo"])
    .spawn();
    let caller = SippCommand::new("pbx", &scenario, &run_dir, Transport::Udp, PBX_IP)
        .local_port(pbx.port())
        .remote(gateway.sip_addr())
        .service("+33198765432")
        // The capture lasts 7.05 s; the call outlives it.
        .args(["-d", "8000"])
        .timeout(Duration::from_secs(40))
        .run();
    caller.assert_calls_succeeded(1);
    answerer.stop();

    let config = gateway.config.path().to_path_buf();
    let id = stored_recording(&config);
    let wav = run_dir.join("call.wav");
    let got = greffier(
        &config,
        &[
            "recordings",
            "get",
            "--tenant",
            "acme",
            "--id",
            &id,
            "--out",
            wav.to_str().unwrap(),
        ],
    );
    assert!(
        got.status.success(),
        "recordings get: {}",
        String::from_utf8_lossy(&got.stderr)
    );

    let mut reader = hound::WavReader::open(&wav).expect("a playable WAV");
    let spec = reader.spec();
    assert_eq!(
        (spec.channels, spec.sample_rate, spec.bits_per_sample),
        (2, 8000, 16)
    );
    let samples: Vec<i16> = reader.samples::<i16>().map(|s| s.unwrap()).collect();
    let left: Vec<i16> = samples.iter().step_by(2).copied().collect();
    let right: Vec<i16> = samples.iter().skip(1).step_by(2).copied().collect();

    let expected = expected_audio();
    let start = first_sound(&left);
    assert!(
        left.len() >= start + expected.len(),
        "the caller channel is cut short"
    );
    assert!(
        left[start..start + expected.len()] == expected[..],
        "caller channel differs from the capture"
    );
    let echo_start = first_sound(&right);
    assert!(
        right.len() >= echo_start + expected.len(),
        "the callee channel is cut short"
    );
    assert!(
        right[echo_start..echo_start + expected.len()] == expected[..],
        "callee channel differs from the echo"
    );
}
