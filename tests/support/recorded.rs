//! Recorded calls seen from outside: the G.711 A-law capture sipp plays, the
//! caller scenario that plays it, and the recording as `greffier recordings
//! list` and `get` give it back.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use std::net::{Ipv4Addr, SocketAddr};

use greffier_capture::Capture;
use greffier_test_support::pcap::{corpus_pcap, StreamToPlay};

use super::gateway::{binary, Gateway};
use super::sipp::{peerbench_scenario, RunningSipp, SippCommand};
use super::sockets::Transport;

/// Where the tenant's PBX (the caller) and carrier (the answerer) send from.
pub(crate) const PBX_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);
pub(crate) const CARRIER_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
/// The number the PBX dials.
pub(crate) const DIALLED: &str = "+33198765432";

/// The tenant whose recordings are read back.
pub(crate) const TENANT: &str = "acme";
/// The recording's sample rate (one sample per channel per frame).
pub(crate) const SAMPLE_RATE: usize = 8000;
const RTP_HEADER_LEN: usize = 12;

pub(crate) fn capture() -> PathBuf {
    corpus_pcap("sipp_g711a.pcap")
}

fn read_capture() -> Capture {
    Capture::read_file(&capture()).expect("the capture reads")
}

/// The capture's audio, decoded and laid out by RTP timestamp.
pub(crate) fn capture_audio() -> Vec<i16> {
    let mut audio = Vec::new();
    let mut first_timestamp = None;
    for datagram in read_capture().udp() {
        let rtp = &datagram.payload;
        let timestamp = u32::from_be_bytes(rtp[4..8].try_into().expect("an RTP timestamp"));
        let offset = timestamp.wrapping_sub(*first_timestamp.get_or_insert(timestamp)) as usize;
        let payload = &rtp[RTP_HEADER_LEN..];
        if audio.len() < offset + payload.len() {
            audio.resize(offset + payload.len(), 0);
        }
        for (at, code) in payload.iter().enumerate() {
            audio[offset + at] = greffier_media::codec::alaw_to_linear(*code);
        }
    }
    audio
}

/// Samples in each of the capture's packets (it sends 30 ms packets).
pub(crate) fn capture_packet_samples() -> usize {
    let capture = read_capture();
    let first = capture.udp().next().expect("a packet in the capture");
    first.payload.len() - RTP_HEADER_LEN
}

/// Writes, into `dir`, the peerbench caller scenario that plays the capture.
pub(crate) fn caller_scenario(dir: &Path) -> PathBuf {
    caller_scenario_with(dir, "uac_g711a", &capture(), PCMA_MEDIA)
}

/// The peerbench caller scenario's media: PCMA only.
const PCMA_MEDIA: &str = "8\n      a=rtpmap:8 PCMA/8000";

/// Writes, into `dir`, the peerbench caller scenario playing `pcap` with an
/// offer of `sdp_media` (the formats of `m=audio`, then attribute lines)
/// instead of PCMA.
pub(crate) fn caller_scenario_with(
    dir: &Path,
    name: &str,
    pcap: &Path,
    sdp_media: &str,
) -> PathBuf {
    let scenario = dir.join(format!("{name}.xml"));
    let template =
        std::fs::read_to_string(peerbench_scenario("uac_media.xml")).expect("uac_media.xml");
    assert!(template.contains(PCMA_MEDIA), "uac_media.xml offers PCMA");
    std::fs::write(
        &scenario,
        template
            .replace("@PCAP@", &pcap.display().to_string())
            .replace(PCMA_MEDIA, sdp_media),
    )
    .expect("write the caller scenario");
    scenario
}

/// Writes `stream` as a pcap and a caller scenario that offers `sdp_media`
/// (the `m=audio` formats and their attributes) and plays it; returns the
/// scenario.
pub(crate) fn stream_scenario(
    stream: &StreamToPlay,
    dir: &Path,
    name: &str,
    sdp_media: &str,
) -> PathBuf {
    let pcap = dir.join(format!("{name}.pcap"));
    stream.write_pcap(&pcap);
    caller_scenario_with(dir, name, &pcap, sdp_media)
}

/// The IPv4 address the peers of these calls send from.
fn ipv4(address: SocketAddr) -> Ipv4Addr {
    match address {
        SocketAddr::V4(v4) => *v4.ip(),
        SocketAddr::V6(_) => panic!("the recorded-call peers are on IPv4 loopback: {address}"),
    }
}

/// `greffier ARGS --config CONFIG`.
pub(crate) fn cli(config: &Path, args: &[&str]) -> Output {
    Command::new(binary())
        .args(args)
        .arg("--config")
        .arg(config)
        .output()
        .expect("run greffier")
}

/// Files under `dir`, recursively.
pub(crate) fn files_under(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .flat_map(|entry| {
            let path = entry.path();
            if path.is_dir() {
                files_under(&path)
            } else {
                vec![path]
            }
        })
        .collect()
}

/// A command's stdout then stderr, for assertion messages.
pub(crate) fn output_text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// `greffier ARGS --config CONFIG`, which must succeed; returns its stdout.
pub(crate) fn cli_ok(config: &Path, args: &[&str]) -> String {
    let output = cli(config, args);
    assert!(
        output.status.success(),
        "{args:?}: {}",
        output_text(&output)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// `greffier hold set` on one record of `tenant`; returns the hold's id.
pub(crate) fn hold_record(config: &Path, tenant: &str, record: &str, reason: &str) -> String {
    let printed = cli_ok(
        config,
        &[
            "hold", "set", "--tenant", tenant, "--record", record, "--reason", reason,
        ],
    );
    let hold: serde_json::Value = serde_json::from_str(printed.trim()).expect("the hold as JSON");
    hold["id"].as_str().expect("a hold id").to_string()
}

/// Waits up to `bound` until `count` recordings of the tenant are listed;
/// returns their ids.
pub(crate) fn wait_recordings(config: &Path, count: usize, bound: Duration) -> Vec<String> {
    wait_recordings_of(config, TENANT, count, bound)
}

/// As [`wait_recordings`], for `tenant`.
pub(crate) fn wait_recordings_of(
    config: &Path,
    tenant: &str,
    count: usize,
    bound: Duration,
) -> Vec<String> {
    let deadline = Instant::now() + bound;
    loop {
        let ids: Vec<String> = cli_ok(config, &["recordings", "list", "--tenant", tenant])
            .lines()
            .map(|line| {
                let entry: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
                entry["id"].as_str().expect("an id").to_string()
            })
            .collect();
        if ids.len() >= count {
            return ids;
        }
        assert!(
            Instant::now() < deadline,
            "{count} recordings not listed within {bound:?}: {ids:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits up to `bound` for the tenant's first listed recording, and returns
/// its listing entry.
pub(crate) fn wait_listed(config: &Path, bound: Duration) -> serde_json::Value {
    wait_listed_for(config, TENANT, bound)
}

/// Waits up to `bound` for the first listed recording of `tenant`.
pub(crate) fn wait_listed_for(config: &Path, tenant: &str, bound: Duration) -> serde_json::Value {
    let deadline = Instant::now() + bound;
    loop {
        let listed = cli(config, &["recordings", "list", "--tenant", tenant]);
        let text = String::from_utf8_lossy(&listed.stdout);
        if let Some(line) = text.lines().next() {
            return serde_json::from_str(line).expect("a JSON line");
        }
        assert!(
            Instant::now() < deadline,
            "no recording listed within {bound:?}: {}",
            String::from_utf8_lossy(&listed.stderr)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `greffier recordings get --tenant TENANT --id ID ARGS`, which must
/// succeed; returns what it printed, stderr first.
pub(crate) fn get_recording(config: &Path, tenant: &str, id: &str, args: &[&str]) -> String {
    let mut all = vec!["recordings", "get", "--tenant", tenant, "--id", id];
    all.extend_from_slice(args);
    let got = cli(config, &all);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&got.stderr),
        String::from_utf8_lossy(&got.stdout)
    );
    assert!(got.status.success(), "recordings get: {text}");
    text
}

/// A decrypted recording: left = caller, right = callee.
pub(crate) struct Stereo {
    pub(crate) left: Vec<i16>,
    pub(crate) right: Vec<i16>,
}

/// `greffier recordings get` of `id` into `out`, read back as 8 kHz 16-bit
/// stereo.
pub(crate) fn fetch(config: &Path, id: &str, out: &Path) -> Stereo {
    get_recording(
        config,
        TENANT,
        id,
        &["--out", out.to_str().expect("a UTF-8 path")],
    );
    let mut reader = hound::WavReader::open(out).expect("a playable WAV");
    let spec = reader.spec();
    assert_eq!(
        (spec.channels, spec.sample_rate, spec.bits_per_sample),
        (2, SAMPLE_RATE as u32, 16)
    );
    let samples: Vec<i16> = reader
        .samples::<i16>()
        .map(|sample| sample.expect("a sample"))
        .collect();
    Stereo {
        left: samples.iter().step_by(2).copied().collect(),
        right: samples.iter().skip(1).step_by(2).copied().collect(),
    }
}

/// A channel's audio from its first packet on. A-law never decodes to 0, so
/// the first non-zero sample is the first packet.
pub(crate) fn from_first_sound(channel: &[i16]) -> &[i16] {
    let start = channel
        .iter()
        .position(|sample| *sample != 0)
        .expect("audio in the channel");
    &channel[start..]
}

/// The PBX at `pbx` calling through `gateway` with `scenario` (the capture
/// player of [`caller_scenario`], for one), hanging up after `duration_ms`.
pub(crate) fn pbx_caller(
    gateway: &Gateway,
    pbx: SocketAddr,
    scenario: &Path,
    duration_ms: &str,
) -> SippCommand {
    pbx_caller_dialling(gateway, pbx, DIALLED, scenario, duration_ms)
}

/// As [`pbx_caller`], the PBX (sending from `pbx`'s address) dialling
/// `dialled`.
pub(crate) fn pbx_caller_dialling(
    gateway: &Gateway,
    pbx: SocketAddr,
    dialled: &str,
    scenario: &Path,
    duration_ms: &str,
) -> SippCommand {
    let run_dir = gateway.config.run_dir();
    SippCommand::new("pbx", scenario, &run_dir, Transport::Udp, ipv4(pbx))
        .local_port(pbx.port())
        .remote(gateway.sip_addr())
        .service(dialled)
        .args(["-d", duration_ms])
        .timeout(Duration::from_secs(60))
}

/// Both sipp ends of a call through `gateway`: an answerer that echoes and a
/// caller that plays the capture and hangs up after `duration_ms`.
pub(crate) struct RecordedCall {
    answerer: RunningSipp,
    caller: RunningSipp,
}

impl RecordedCall {
    pub(crate) fn start(
        gateway: &Gateway,
        pbx: SocketAddr,
        carrier: SocketAddr,
        duration_ms: &str,
    ) -> Self {
        let scenario = caller_scenario(&gateway.config.run_dir());
        Self::start_playing(gateway, pbx, carrier, duration_ms, &scenario)
    }

    /// As [`RecordedCall::start`], with the caller running `scenario`.
    pub(crate) fn start_playing(
        gateway: &Gateway,
        pbx: SocketAddr,
        carrier: SocketAddr,
        duration_ms: &str,
        scenario: &Path,
    ) -> Self {
        Self::spawn(gateway, pbx, carrier, DIALLED, duration_ms, scenario)
    }

    /// As [`RecordedCall::start`], the PBX dialling `dialled`; the PBX and
    /// the carrier send from their addresses' IPs.
    pub(crate) fn start_dialling(
        gateway: &Gateway,
        pbx: SocketAddr,
        carrier: SocketAddr,
        dialled: &str,
        duration_ms: &str,
    ) -> Self {
        let scenario = caller_scenario(&gateway.config.run_dir());
        Self::spawn(gateway, pbx, carrier, dialled, duration_ms, &scenario)
    }

    fn spawn(
        gateway: &Gateway,
        pbx: SocketAddr,
        carrier: SocketAddr,
        dialled: &str,
        duration_ms: &str,
        scenario: &Path,
    ) -> Self {
        super::sipp::require_sipp();
        let run_dir = gateway.config.run_dir();
        let answerer = SippCommand::new(
            "carrier",
            &peerbench_scenario("uas.xml"),
            &run_dir,
            Transport::Udp,
            ipv4(carrier),
        )
        .local_port(carrier.port())
        .args(["-rtp_echo"])
        .spawn();
        let caller = pbx_caller_dialling(gateway, pbx, dialled, scenario, duration_ms).spawn();
        Self { answerer, caller }
    }

    /// Waits for the caller to hang up, and checks the call succeeded.
    pub(crate) fn finish(self) {
        self.caller.wait().assert_calls_succeeded(1);
        self.answerer.stop();
    }
}
