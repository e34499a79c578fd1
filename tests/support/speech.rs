//! Speech for the transcription tests: a sentence synthesised by festival
//! (the `us_slt` HTS voice, as the engine's own test uses) at 8 kHz, coded
//! as G.711 A-law RTP in a capture sipp plays, and a call through the
//! gateway where the PBX says one sentence and the carrier another.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use greffier_media::codec::alaw_to_linear;
use greffier_test_support::pcap::StreamToPlay;

use super::config::GatewayConfig;
use super::recorded::{caller_scenario_with, DIALLED};
use super::sipp::{scenario, SippCommand};
use super::sockets::Transport;

/// G.711's rate.
const RATE: usize = 8000;
/// 20 ms packets.
const PACKET_SAMPLES: usize = 160;
const PCMA: u8 = 8;
/// A-law's code nearest to zero.
const ALAW_SILENCE: u8 = 0xd5;
/// The PCMA offer of the caller scenario.
const PCMA_MEDIA: &str = "8\n      a=rtpmap:8 PCMA/8000";
/// `uas_answer_play.xml` waits this long after the ACK before it plays.
const ANSWERER_PAUSE: Duration = Duration::from_secs(1);
/// Quiet time between one party's sentence and the other's, and after the
/// last one before the caller hangs up.
const GAP: Duration = Duration::from_millis(1500);

/// `text` spoken by festival's `us_slt` HTS voice, as 16-bit samples at
/// 8 kHz (festival resamples its output).
pub(crate) fn speak(dir: &Path, name: &str, text: &str) -> Vec<i16> {
    let text_file = dir.join(format!("{name}.txt"));
    let wav_file = dir.join(format!("{name}.wav"));
    std::fs::write(&text_file, text).expect("write the text to speak");
    let status = Command::new("text2wave")
        .arg(&text_file)
        .args(["-eval", "(voice_cmu_us_slt_arctic_hts)", "-F", "8000", "-o"])
        .arg(&wav_file)
        .status()
        .unwrap_or_else(|error| {
            panic!("festival's text2wave cannot be run ({error}); scripts/setup.sh installs it")
        });
    assert!(status.success(), "text2wave failed on {text:?}: {status}");
    let mut reader = hound::WavReader::open(&wav_file)
        .unwrap_or_else(|error| panic!("festival's WAV {}: {error}", wav_file.display()));
    let spec = reader.spec();
    assert_eq!(
        (spec.sample_rate, spec.channels, spec.bits_per_sample),
        (RATE as u32, 1, 16),
        "festival's output format"
    );
    let samples: Vec<i16> = reader
        .samples::<i16>()
        .map(|sample| sample.expect("a sample"))
        .collect();
    assert!(
        samples.len() > RATE / 2,
        "festival spoke less than half a second of {text:?}"
    );
    samples
}

/// The A-law code whose value is nearest to `sample` (G.711's quantiser).
fn alaw_encode(sample: i16, table: &[(i16, u8)]) -> u8 {
    let at = table.partition_point(|(value, _)| *value < sample);
    let candidates = [at.checked_sub(1), Some(at)];
    candidates
        .into_iter()
        .flatten()
        .filter_map(|index| table.get(index))
        .min_by_key(|(value, _)| (i32::from(*value) - i32::from(sample)).abs())
        .map_or(ALAW_SILENCE, |(_, code)| *code)
}

/// `samples` after `silence` of quiet, as A-law RTP in 20 ms packets.
pub(crate) fn alaw_stream(samples: &[i16], silence: Duration) -> StreamToPlay {
    let mut table: Vec<(i16, u8)> = (0..=255u8)
        .map(|code| (alaw_to_linear(code), code))
        .collect();
    table.sort_unstable();
    let quiet = (silence.as_secs_f64() * RATE as f64) as usize;
    let mut codes = vec![ALAW_SILENCE; quiet];
    codes.extend(samples.iter().map(|&sample| alaw_encode(sample, &table)));
    // Whole packets: the last one padded with silence.
    codes.resize(
        codes.len().div_ceil(PACKET_SAMPLES) * PACKET_SAMPLES,
        ALAW_SILENCE,
    );
    StreamToPlay {
        payload_type: PCMA,
        packet_time: Duration::from_millis(20),
        timestamp_step: PACKET_SAMPLES as u32,
        payloads: codes.chunks(PACKET_SAMPLES).map(<[u8]>::to_vec).collect(),
    }
}

fn seconds(samples: &[i16]) -> Duration {
    Duration::from_secs_f64(samples.len() as f64 / RATE as f64)
}

/// Two sentences for a call: the caller's (the PBX) first, then the
/// callee's (the carrier), each said once, one after the other.
pub(crate) struct Dialogue {
    caller_pcap: std::path::PathBuf,
    callee_pcap: std::path::PathBuf,
    /// How long the caller stays on the line after the answer.
    call_length: Duration,
}

impl Dialogue {
    /// Synthesises both sentences into `dir` and lays them out in time: the
    /// callee waits until the caller is done and a gap has passed.
    pub(crate) fn synthesise(dir: &Path, caller_says: &str, callee_says: &str) -> Self {
        let caller = speak(dir, "caller", caller_says);
        let callee = speak(dir, "callee", callee_says);
        // The answerer starts `ANSWERER_PAUSE` after the ACK; the caller at
        // the ACK.
        let callee_silence = (seconds(&caller) + GAP).saturating_sub(ANSWERER_PAUSE);
        let caller_pcap = dir.join("caller.pcap");
        let callee_pcap = dir.join("callee.pcap");
        alaw_stream(&caller, Duration::ZERO).write_pcap(&caller_pcap);
        alaw_stream(&callee, callee_silence).write_pcap(&callee_pcap);
        Self {
            caller_pcap,
            callee_pcap,
            call_length: ANSWERER_PAUSE + callee_silence + seconds(&callee) + GAP,
        }
    }

    /// One call through the gateway of `gateway`: the PBX at `pbx` dials the tenant's
    /// carrier (answering at `carrier`) and says its sentence, the carrier
    /// answers with its own, and the PBX hangs up; returns once the call
    /// ended well. `name` keeps each call's sipp files apart.
    pub(crate) fn call(
        &self,
        gateway: &GatewayConfig,
        pbx: SocketAddr,
        carrier: SocketAddr,
        name: &str,
    ) {
        let run_dir = gateway.run_dir();
        let answerer_scenario = run_dir.join(format!("{name}-uas_answer_play.xml"));
        let template = std::fs::read_to_string(scenario("uas_answer_play.xml"))
            .expect("tests/scenarios/uas_answer_play.xml");
        std::fs::write(
            &answerer_scenario,
            template.replace("@PCAP@", &self.callee_pcap.display().to_string()),
        )
        .expect("write the answerer scenario");
        let carrier_ip = ipv4(carrier);
        let answerer = SippCommand::new(
            &format!("{name}-carrier"),
            &answerer_scenario,
            &run_dir,
            Transport::Udp,
            carrier_ip,
        )
        .local_port(carrier.port())
        .args(["-key", "sdp_ip", &carrier_ip.to_string()])
        .spawn();
        let caller_scenario = caller_scenario_with(
            &run_dir,
            &format!("{name}-uac"),
            &self.caller_pcap,
            PCMA_MEDIA,
        );
        let caller = SippCommand::new(
            &format!("{name}-pbx"),
            &caller_scenario,
            &run_dir,
            Transport::Udp,
            ipv4(pbx),
        )
        .local_port(pbx.port())
        .remote(gateway.sip_addr())
        .service(DIALLED)
        .args(["-d", &self.call_length.as_millis().to_string()])
        .timeout(self.call_length + Duration::from_secs(30))
        .spawn();
        caller.wait().assert_calls_succeeded(1);
        answerer.stop();
    }
}

fn ipv4(address: SocketAddr) -> Ipv4Addr {
    match address {
        SocketAddr::V4(v4) => *v4.ip(),
        SocketAddr::V6(_) => panic!("the call's peers are on IPv4 loopback: {address}"),
    }
}
