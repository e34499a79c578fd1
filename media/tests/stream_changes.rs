//! Re-INVITEs, transfers and holds: SSRC changes and sequence/timestamp jumps
//! keep the recording on wall time, and garbage never stops it.

use greffier_media::{CodecMap, Leg, OutputFormat, Recorder, RecorderConfig, RtpFormat};
use greffier_test_support::audio::wav_channels;
use greffier_test_support::capture;
use greffier_test_support::capture::{replay, Capture, ReplayOptions};
use std::time::{Duration, Instant};

/// Rewrites the RTP header fields of a captured datagram.
fn rewrite(datagram: &[u8], ssrc: u32, sequence_shift: u16, timestamp_shift: u32) -> Vec<u8> {
    let mut bytes = datagram.to_vec();
    let sequence = u16::from_be_bytes([bytes[2], bytes[3]]).wrapping_add(sequence_shift);
    let timestamp =
        u32::from_be_bytes(bytes[4..8].try_into().unwrap()).wrapping_add(timestamp_shift);
    bytes[2..4].copy_from_slice(&sequence.to_be_bytes());
    bytes[4..8].copy_from_slice(&timestamp.to_be_bytes());
    bytes[8..12].copy_from_slice(&ssrc.to_be_bytes());
    bytes
}

fn alaw_leg() -> (Vec<(Duration, Leg, Vec<u8>)>, CodecMap) {
    let capture = Capture::load("sipp_g711a.pcap");
    (
        capture.timeline(),
        CodecMap::from_formats(&[RtpFormat::new(8, "PCMA", 8000)]),
    )
}

fn zeros_between(samples: &[i16], from: usize, to: usize) -> usize {
    samples[from..to].iter().filter(|&&s| s == 0).count()
}

#[test]
fn timestamp_jumps_and_ssrc_changes_do_not_insert_silence() {
    let (original, codecs) = alaw_leg();
    let origin = original[0].0;
    let ssrc = u32::from_be_bytes(original[0].2[8..12].try_into().unwrap());
    let changed: Vec<_> = original
        .iter()
        .enumerate()
        .map(|(index, (time, leg, bytes))| {
            let bytes = match index {
                // Timestamps jump an hour ahead mid-stream.
                60..=119 => rewrite(bytes, ssrc, 0, 3600 * 8000),
                // ... then go back two seconds (a sender that froze them on hold).
                120..=179 => rewrite(bytes, ssrc, 0, 3600 * 8000 - 16_000),
                // A transfer: new SSRC, new sequence and timestamp origin.
                _ if index >= 180 => rewrite(bytes, ssrc ^ 0x5555, 12_345, 0x4000_0000),
                _ => bytes.clone(),
            };
            (*time, *leg, bytes)
        })
        .collect();
    let reference = replay(&original, &codecs, origin, &ReplayOptions::default());
    let disturbed = replay(&changed, &codecs, origin, &ReplayOptions::default());
    let duration = disturbed.summary.duration.as_secs_f64();
    assert!(
        (duration - reference.summary.duration.as_secs_f64()).abs() < 0.05,
        "{duration} s"
    );
    assert_eq!(disturbed.summary.lost, 0);
    let (_, left, _) = wav_channels(&disturbed.bytes);
    let (_, reference_left, _) = wav_channels(&reference.bytes);
    let end = reference_left.len() - 240;
    // A-law never decodes to 0: each restart may cost at most a few ms of jitter.
    assert_eq!(zeros_between(&reference_left, 0, end), 0);
    assert!(
        zeros_between(&left, 0, end) < 3 * 80,
        "{} zeros",
        zeros_between(&left, 0, end)
    );
}

#[test]
fn a_hold_stays_in_place_as_silence() {
    let (original, codecs) = alaw_leg();
    let origin = original[0].0;
    let held: Vec<_> = original
        .iter()
        .enumerate()
        .filter(|(index, _)| !(50..100).contains(index))
        .map(|(_, packet)| packet.clone())
        .collect();
    let reference = replay(&original, &codecs, origin, &ReplayOptions::default());
    let replayed = replay(&held, &codecs, origin, &ReplayOptions::default());
    assert_eq!(replayed.summary.duration, reference.summary.duration);
    let (_, left, _) = wav_channels(&replayed.bytes);
    let (_, reference_left, _) = wav_channels(&reference.bytes);
    // 50 packets of 30 ms went missing: 12 000 samples of silence, at their place.
    assert_eq!(zeros_between(&left, 0, left.len() - 240), 50 * 240);
    let position = |index: usize| {
        let packet = greffier_media::RtpPacket::parse(&original[index].2).unwrap();
        let first = greffier_media::RtpPacket::parse(&original[0].2).unwrap();
        packet.timestamp.wrapping_sub(first.timestamp) as usize
    };
    assert!(left[position(50)..position(100)].iter().all(|&s| s == 0));
    assert_eq!(left[..position(50)], reference_left[..position(50)]);
    assert_eq!(left[position(100)..], reference_left[position(100)..]);
}

#[test]
fn garbage_datagrams_are_rejected_without_stopping_the_recording() {
    let (original, _) = alaw_leg();
    let mut codecs = capture::every_decodable_codec();
    codecs.negotiate(8);
    let start = Instant::now();
    let mut recorder = Recorder::new(RecorderConfig::new(
        OutputFormat::Opus,
        codecs.clone(),
        codecs,
        start,
    ))
    .unwrap();
    let mut state = 0x1234_5678u32;
    let mut random = move || {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        state
    };
    let mut rejected = 0;
    for step in 0..3000u32 {
        let now = start + Duration::from_millis(u64::from(step) * 5);
        let len = (random() % 200) as usize;
        let mut datagram: Vec<u8> = (0..len).map(|_| random() as u8).collect();
        if step % 2 == 0 && datagram.len() >= 12 {
            // A valid header over a garbage payload, on any payload type.
            datagram[0] = 0x80;
            datagram[1] = [0u8, 8, 9, 13, 96, 111][(random() % 6) as usize];
        }
        let leg = if random() % 2 == 0 {
            Leg::Caller
        } else {
            Leg::Callee
        };
        if recorder.handle_rtp(now, leg, &datagram).is_err() {
            rejected += 1;
        }
        if step == 1500 {
            for (_, leg, bytes) in original.iter().take(20) {
                recorder.handle_rtp(now, *leg, bytes).unwrap();
            }
        }
    }
    assert!(rejected > 100);
    assert_eq!(recorder.malformed_packets(), rejected);
    let summary = recorder.finish(start + Duration::from_secs(16)).unwrap();
    assert!(summary.duration >= Duration::from_secs(15));
    assert!(recorder.poll_output().is_some());
}
