//! A G.729 call recorded as audio, and a call in a codec without a decoder
//! kept as its payloads instead of silence.

use bcg729_sys::SPEECH_FRAME_BYTES;
use greffier_capture::write::rtp_packet;
use greffier_media::codec::G729Decoder;
use greffier_media::{
    CodecMap, Decoder, Leg, MemorySink, OutputFormat, PayloadNames, RawPayloads, Recorder,
    RecorderConfig, RtpFormat,
};
use greffier_test_support::audio::{best_correlation, encode_g729, sweep, wav_channels};
use greffier_test_support::capture::finish_into;
use std::time::{Duration, Instant};

const PACKET_TIME: Duration = Duration::from_millis(20);
const SSRC: u32 = 0x0bad_cafe;

/// Feeds `packets` (20 ms apart) on leg A and finishes the recording.
fn record(
    config: RecorderConfig,
    start: Instant,
    packets: &[Vec<u8>],
) -> (Recorder, greffier_media::RecordingSummary, Vec<i16>) {
    let mut recorder = Recorder::new(config).unwrap();
    let mut sink = MemorySink::new();
    let mut now = start;
    for packet in packets {
        now += PACKET_TIME;
        recorder.handle_rtp(now, Leg::Caller, packet).unwrap();
        recorder.drain_into(&mut sink).unwrap();
    }
    let summary = finish_into(&mut recorder, &mut sink, now + Duration::from_millis(500));
    let (_, left, _) = wav_channels(sink.bytes());
    (recorder, summary, left)
}

#[test]
fn the_decoder_gives_back_a_signal_correlated_with_the_encoded_one() {
    let signal = sweep(8000 * 3);
    let mut decoder = G729Decoder::new().unwrap();
    let mut decoded = Vec::new();
    for payload in encode_g729(&signal) {
        assert_eq!(payload.len(), 2 * SPEECH_FRAME_BYTES);
        decoder.decode(&payload, &mut decoded).unwrap();
    }
    assert_eq!(decoded.len(), signal.len());
    // The codec delays by its 5 ms look-ahead: search a little past it.
    let correlation = best_correlation(&signal[..signal.len() - 160], &decoded);
    println!("G.729 decoder correlation: {correlation:.3}");
    assert!(correlation > 0.9, "correlation {correlation}");
}

#[test]
fn a_g729_stream_is_recorded_as_the_audio_it_carries() {
    let start = Instant::now();
    let signal = sweep(8000 * 3);
    let packets: Vec<Vec<u8>> = encode_g729(&signal)
        .iter()
        .enumerate()
        .map(|(i, payload)| rtp_packet(18, i as u16, i as u32 * 160, SSRC, payload))
        .collect();
    let codecs = CodecMap::from_formats(&[RtpFormat::new(18, "G729", 8000)]);
    let config = RecorderConfig::new(OutputFormat::Wav, codecs.clone(), codecs, start);
    let (recorder, summary, left) = record(config, start, &packets);
    assert!(summary.undecodable.is_empty());
    assert!(recorder.raw_payloads().is_none());
    let correlation = best_correlation(&signal, &left);
    println!("G.729 recording correlation: {correlation:.3}");
    assert!(correlation > 0.9, "correlation {correlation}");
}

#[test]
fn payloads_without_a_decoder_are_kept_as_received() {
    let start = Instant::now();
    let formats = [
        RtpFormat::new(8, "PCMA", 8000),
        RtpFormat::new(96, "AMR", 8000),
    ];
    let codecs = CodecMap::from_formats(&formats);
    let mut config = RecorderConfig::new(OutputFormat::Wav, codecs.clone(), codecs, start);
    config.payload_names = [&formats, &formats].map(|f| PayloadNames::from_formats(f));
    let payloads: Vec<Vec<u8>> = (0..50u8)
        .map(|i| vec![i; 13 + usize::from(i % 5)])
        .collect();
    let packets: Vec<Vec<u8>> = payloads
        .iter()
        .enumerate()
        .map(|(i, payload)| rtp_packet(96, 1000 + i as u16, i as u32 * 160, SSRC, payload))
        .collect();
    let (recorder, summary, left) = record(config, start, &packets);
    assert_eq!(summary.undecodable, vec!["AMR/8000".to_string()]);
    assert!(left.iter().all(|&s| s == 0), "no audio was made up");
    let raw = RawPayloads::parse(&recorder.raw_payloads().expect("payloads kept")).unwrap();
    assert_eq!(raw.names, vec![(Leg::Caller, 96, "AMR/8000".to_string())]);
    let kept: Vec<Vec<u8>> = raw.packets.iter().map(|p| p.payload.clone()).collect();
    assert_eq!(kept, payloads);
    assert!(raw
        .packets
        .iter()
        .enumerate()
        .all(|(i, p)| p.sequence == 1000 + i as u16 && p.timestamp == i as u32 * 160));
}

#[test]
fn an_encoding_name_made_of_personal_data_is_not_kept() {
    // The remote party writes what it likes in its rtpmap: a phone number
    // must not reach the manifest through the name of its codec.
    let start = Instant::now();
    let formats = [RtpFormat::new(97, "+33612345678", 8000)];
    let codecs = CodecMap::from_formats(&formats);
    let mut config = RecorderConfig::new(OutputFormat::Wav, codecs.clone(), codecs, start);
    config.payload_names = [&formats, &formats].map(|f| PayloadNames::from_formats(f));
    let packets = vec![
        rtp_packet(97, 1, 0, SSRC, &[1, 2, 3]),
        rtp_packet(97, 2, 160, SSRC, &[4, 5, 6]),
    ];
    let (recorder, summary, _) = record(config, start, &packets);
    assert_eq!(summary.undecodable, vec!["unnamed/8000".to_string()]);
    let raw = recorder.raw_payloads().expect("payloads kept");
    assert!(!raw.windows(9).any(|w| w == b"612345678"));
    assert_eq!(
        greffier_media::codec::codec_label(&summary.undecodable[0]),
        "other"
    );
}

#[test]
fn a_flood_of_undecodable_packets_is_bounded_and_counted() {
    let start = Instant::now();
    let codecs = CodecMap::from_formats(&[RtpFormat::new(8, "PCMA", 8000)]);
    let mut config = RecorderConfig::new(OutputFormat::Wav, codecs.clone(), codecs, start);
    config.raw_payload_limit = 10_000;
    let packets: Vec<Vec<u8>> = (0..100u16)
        .map(|i| rtp_packet(111, i, u32::from(i) * 160, SSRC, &[0xee; 1000]))
        .collect();
    let (recorder, summary, _) = record(config, start, &packets);
    let raw = recorder.raw_payloads().expect("payloads kept");
    assert!(raw.len() <= 10_000 + 64, "{} bytes kept", raw.len());
    let kept = RawPayloads::parse(&raw).unwrap().packets.len() as u64;
    assert_eq!(kept + summary.raw_dropped, 100);
    assert_eq!(summary.undecodable, vec!["PT111".to_string()]);
}
