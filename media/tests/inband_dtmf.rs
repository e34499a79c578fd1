//! In-band DTMF: the detector on synthesized tones, and the recorder masking
//! a tone carried in A-law audio when `mask_dtmf` is on.

use greffier_media::codec::alaw_to_linear;
use greffier_media::inband_dtmf::{InbandDtmfDetector, ToneSpan, ToneUpdate};
use greffier_media::{
    CodecMap, Leg, MemorySink, OutputFormat, Recorder, RecorderConfig, RtpFormat,
};
use greffier_test_support::audio;
use greffier_test_support::audio::wav_channels;
use greffier_test_support::capture::finish_into;
use std::f32::consts::PI;
use std::time::{Duration, Instant};

const RATE: u32 = 8000;
const KEYPAD: [(char, f32, f32); 16] = [
    ('1', 697.0, 1209.0),
    ('2', 697.0, 1336.0),
    ('3', 697.0, 1477.0),
    ('A', 697.0, 1633.0),
    ('4', 770.0, 1209.0),
    ('5', 770.0, 1336.0),
    ('6', 770.0, 1477.0),
    ('B', 770.0, 1633.0),
    ('7', 852.0, 1209.0),
    ('8', 852.0, 1336.0),
    ('9', 852.0, 1477.0),
    ('C', 852.0, 1633.0),
    ('*', 941.0, 1209.0),
    ('0', 941.0, 1336.0),
    ('#', 941.0, 1477.0),
    ('D', 941.0, 1633.0),
];

fn samples(ms: u32) -> usize {
    (RATE * ms / 1000) as usize
}

fn sine(frequency: f32, amplitude: f32, count: usize, offset: usize) -> impl Iterator<Item = f32> {
    (offset..offset + count)
        .map(move |n| amplitude * (2.0 * PI * frequency * n as f32 / RATE as f32).sin())
}

fn dual_tone(low: f32, high: f32, low_amplitude: f32, high_amplitude: f32, ms: u32) -> Vec<f32> {
    sine(low, low_amplitude, samples(ms), 0)
        .zip(sine(high, high_amplitude, samples(ms), 0))
        .map(|(a, b)| a + b)
        .collect()
}

/// Deterministic white noise in [-amplitude, amplitude].
fn white_noise(amplitude: f32, count: usize) -> Vec<f32> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..count)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            amplitude * ((state >> 40) as f32 / (1u64 << 23) as f32 - 1.0)
        })
        .collect()
}

/// Feeds `audio` in 20 ms frames and returns the spans reported.
fn detect(audio: &[f32]) -> Vec<ToneSpan> {
    let mut detector = InbandDtmfDetector::new(RATE);
    let mut updates = Vec::new();
    let frame = samples(20);
    for (index, chunk) in audio.chunks(frame).enumerate() {
        detector.process((index * frame) as u64, chunk, &mut updates);
    }
    detector.flush(&mut updates);
    let started = updates
        .iter()
        .filter(|u| matches!(u, ToneUpdate::Started { .. }))
        .count();
    let spans: Vec<ToneSpan> = updates
        .iter()
        .filter_map(|u| match u {
            ToneUpdate::Ended(span) => Some(*span),
            ToneUpdate::Started { .. } => None,
        })
        .collect();
    assert_eq!(started, spans.len(), "every start has its end: {updates:?}");
    spans
}

#[test]
fn each_of_the_sixteen_digits_is_detected_once_at_70_ms_on_70_ms_off() {
    let mut audio = vec![0.0; samples(70)];
    let mut expected = Vec::new();
    for (digit, low, high) in KEYPAD {
        expected.push((digit, audio.len()));
        audio.extend(dual_tone(low, high, 5000.0, 6000.0, 70));
        audio.extend(vec![0.0; samples(70)]);
    }
    let spans = detect(&audio);
    let digits: String = spans.iter().map(|s| s.digit).collect();
    assert_eq!(digits, "123A456B789C*0#D");
    let block = InbandDtmfDetector::new(RATE).block_len() as u64;
    for (span, (_, start)) in spans.iter().zip(expected) {
        let (start, end) = (start as u64, (start + samples(70)) as u64);
        assert!(
            span.start + block >= start && span.start <= start + block,
            "{span:?}"
        );
        assert!(
            span.end + block >= end && span.end <= end + block,
            "{span:?}"
        );
    }
}

#[test]
fn digits_are_detected_under_speech_level_noise() {
    let mut audio = white_noise(300.0, samples(500));
    for (n, sample) in dual_tone(941.0, 1336.0, 4000.0, 4000.0, 100)
        .into_iter()
        .enumerate()
    {
        audio[samples(200) + n] += sample;
    }
    let digits: String = detect(&audio).iter().map(|s| s.digit).collect();
    assert_eq!(digits, "0");
}

#[test]
fn a_30_ms_tone_is_not_reported() {
    for offset in [0, 20, 40, 60, 80, 100] {
        let mut audio = vec![0.0; samples(100) + offset];
        audio.extend(dual_tone(770.0, 1336.0, 6000.0, 6000.0, 30));
        audio.extend(vec![0.0; samples(100)]);
        assert!(detect(&audio).is_empty(), "offset {offset}");
    }
}

#[test]
fn single_tones_are_not_reported() {
    for frequency in [440.0, 697.0, 1000.0, 1336.0] {
        let audio: Vec<f32> = sine(frequency, 10_000.0, samples(1000), 0).collect();
        assert!(detect(&audio).is_empty(), "{frequency} Hz");
    }
    // Dial tone (350 + 440 Hz) is a dual tone outside the DTMF grid.
    let dial = dual_tone(350.0, 440.0, 6000.0, 6000.0, 1000);
    assert!(detect(&dial).is_empty());
}

#[test]
fn white_noise_and_a_chirp_are_not_reported() {
    assert!(detect(&white_noise(8000.0, samples(3000))).is_empty());
    // 300 Hz to 3400 Hz in 2 s, through every DTMF frequency.
    let count = samples(2000);
    let duration = count as f32 / RATE as f32;
    let chirp: Vec<f32> = (0..count)
        .map(|n| {
            let t = n as f32 / RATE as f32;
            let phase = 2.0 * PI * (300.0 * t + (3400.0 - 300.0) * t * t / (2.0 * duration));
            10_000.0 * phase.sin()
        })
        .collect();
    assert!(detect(&chirp).is_empty());
}

#[test]
fn twist_beyond_the_limits_is_not_reported_and_within_them_is() {
    let twisted = |low_db: f32| {
        let low = 4000.0 * 10f32.powf(low_db / 20.0);
        detect(&dual_tone(852.0, 1209.0, low, 4000.0, 100))
    };
    // Normal twist: the column tone weaker than the row tone.
    assert_eq!(twisted(6.0).len(), 1);
    assert!(twisted(10.0).is_empty());
    // Reverse twist: the row tone weaker than the column tone.
    assert_eq!(twisted(-3.0).len(), 1);
    assert!(twisted(-6.0).is_empty());
}

fn alaw_encode(sample: f32) -> u8 {
    let target = sample.round().clamp(-32768.0, 32767.0) as i32;
    (0..=255u8)
        .min_by_key(|&code| (i32::from(alaw_to_linear(code)) - target).abs())
        .unwrap_or(0xd5)
}

fn pcma_packet(sequence: u16, timestamp: u32, payload: &[u8]) -> Vec<u8> {
    let mut datagram = vec![0x80, 8];
    datagram.extend_from_slice(&sequence.to_be_bytes());
    datagram.extend_from_slice(&timestamp.to_be_bytes());
    datagram.extend_from_slice(&0x1234_5678u32.to_be_bytes());
    datagram.extend_from_slice(payload);
    datagram
}

const TONE_START_MS: u32 = 800;

/// 2 s of a 300 Hz hum with a '5' replacing it from 800 ms on, as A-law RTP on
/// leg A, recorded to WAV. Returns both channels and the summary.
fn record(
    sdp: &[RtpFormat],
    mask_dtmf: bool,
    tone_ms: u32,
) -> (Vec<i16>, Vec<i16>, greffier_media::RecordingSummary) {
    let mut caller: Vec<f32> = sine(300.0, 3000.0, samples(2000), 0).collect();
    let tone = dual_tone(770.0, 1336.0, 6000.0, 5000.0, tone_ms);
    let tone_start = samples(TONE_START_MS);
    caller[tone_start..tone_start + tone.len()].copy_from_slice(&tone);
    let callee: Vec<f32> = sine(500.0, 3000.0, samples(2000), 0).collect();
    let encode = |audio: &[f32]| audio.iter().map(|&s| alaw_encode(s)).collect::<Vec<u8>>();
    let (caller, callee) = (encode(&caller), encode(&callee));

    let start = Instant::now();
    let codecs = CodecMap::from_formats(sdp);
    let mut config = RecorderConfig::new(OutputFormat::Wav, codecs.clone(), codecs, start);
    config.mask_dtmf = mask_dtmf;
    let mut recorder = Recorder::new(config).unwrap();
    let mut sink = MemorySink::new();
    let frames = caller.chunks(samples(20)).zip(callee.chunks(samples(20)));
    for (index, (caller, callee)) in frames.enumerate() {
        let now = start + Duration::from_millis(20 * index as u64);
        let timestamp = (index * samples(20)) as u32;
        for (leg, frame) in [(Leg::Caller, caller), (Leg::Callee, callee)] {
            let packet = pcma_packet(index as u16, timestamp, frame);
            recorder.handle_rtp(now, leg, &packet).unwrap();
        }
        recorder.drain_into(&mut sink).unwrap();
    }
    let summary = finish_into(
        &mut recorder,
        &mut sink,
        start + Duration::from_millis(2500),
    );
    let (_, left, right) = wav_channels(sink.bytes());
    (left, right, summary)
}

#[test]
fn with_mask_dtmf_an_in_band_tone_is_silenced_on_its_channel_and_nothing_else_changes() {
    // 100 ms: a usual press; 700 ms: longer than the mix delay, so the tone's
    // end is not known yet when the mix reaches its start. At 16 kHz (a leg
    // may send G.722) the A-law audio is resampled before detection.
    let pcma = RtpFormat::new(8, "PCMA", 8000);
    let g722 = RtpFormat::new(9, "G722", 8000);
    for sdp in [vec![pcma.clone()], vec![pcma, g722]] {
        for tone_ms in [100, 700] {
            assert_tone_masked(&sdp, tone_ms);
        }
    }
}

fn assert_tone_masked(sdp: &[RtpFormat], tone_ms: u32) {
    let (plain, plain_right, plain_summary) = record(sdp, false, tone_ms);
    let (masked, masked_right, masked_summary) = record(sdp, true, tone_ms);
    let rate = masked_summary.sample_rate;
    let at = |ms: u32| (rate * ms / 1000) as usize;
    assert_eq!(plain.len(), masked.len());
    // The other leg's channel is untouched.
    assert_eq!(plain_right, masked_right);
    let (tone_start, tone_end) = (at(TONE_START_MS), at(TONE_START_MS + tone_ms));
    assert!(audio::rms(&masked_right[tone_start..tone_end]) > 1500.0);
    // Without masking the tone is in the recording.
    assert!(audio::rms(&plain[tone_start..tone_end]) > 3000.0);
    // With masking its whole span is silence...
    assert!(
        masked[tone_start..tone_end].iter().all(|&s| s == 0),
        "{sdp:?} {tone_ms} ms"
    );
    // ...and the audio more than 40 ms away from it is untouched.
    let margin = at(40);
    assert_eq!(masked[..tone_start - margin], plain[..tone_start - margin]);
    assert_eq!(masked[tone_end + margin..], plain[tone_end + margin..]);
    let silenced = masked.iter().zip(&plain).filter(|(m, p)| m != p).count();
    assert!(silenced < tone_end - tone_start + 2 * margin);
    // No digit is stored, with or without masking: only telephone-events are reported.
    assert!(masked_summary.dtmf.is_empty());
    assert!(plain_summary.dtmf.is_empty());
}
