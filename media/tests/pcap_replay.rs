//! Offline replays of the shared captures through the recorder.

use greffier_media::{Codec, CodecMap, Leg, RtpFormat, RtpPacket};
use greffier_test_support::audio::{rms, wav_channels};
use greffier_test_support::capture::{replay, replay_capture, Capture, ReplayOptions};
use std::time::Duration;

fn seconds(duration: Duration) -> f64 {
    duration.as_secs_f64()
}

#[test]
fn two_way_alaw_call_with_events_and_loss() {
    let (capture, replay) = replay_capture("wssample_SIP_DTMF2.pcap", &ReplayOptions::default());
    let timeline = capture.timeline();
    let first = timeline.first().unwrap().0;
    let last = timeline.last().unwrap().0;
    let summary = &replay.summary;

    // Wall time from the first packet to the last one, plus its 30 ms of audio.
    let expected = seconds(last - first) + 0.030;
    assert!(
        (seconds(summary.duration) - expected).abs() < 0.005,
        "duration {:?}, expected {expected}",
        summary.duration
    );
    assert_eq!(summary.sample_rate, 8000);
    assert!(summary.codecs.contains(&Codec::Pcma));
    assert_eq!(summary.packets, timeline.len() as u64);
    assert_eq!(summary.lost, 2);

    let digits: String = summary.dtmf.iter().map(|event| event.digit).collect();
    assert_eq!(digits, "6789123");
    let event_starts: Vec<Duration> = timeline
        .iter()
        .filter(|(_, _, bytes)| {
            let packet = RtpPacket::parse(bytes).unwrap();
            packet.payload_type == 96 && packet.marker
        })
        .map(|(time, _, _)| *time - first)
        .collect();
    for (event, start) in summary.dtmf.iter().zip(&event_starts) {
        assert!(
            event.start_ms.abs_diff(start.as_millis() as u64) <= 40,
            "{event:?} vs {start:?}"
        );
        assert_eq!(event.duration_ms, 120);
    }

    // A-law never decodes to 0, so exact zeros on the caller's channel between
    // its first and last packet are the two lost 30 ms packets and nothing else.
    let (spec, left, right) = wav_channels(&replay.bytes);
    assert_eq!(
        (spec.channels, spec.sample_rate, spec.bits_per_sample),
        (2, 8000, 16)
    );
    let caller = capture
        .streams
        .iter()
        .find(|s| capture.leg_of(s) == Leg::Caller)
        .unwrap();
    let position = |time: Duration| ((time - first).as_nanos() * 8000 / 1_000_000_000) as usize;
    let caller_start = position(caller.packets.first().unwrap().time);
    let caller_end = position(caller.packets.last().unwrap().time);
    let zeros: Vec<usize> = (caller_start..caller_end)
        .filter(|&i| left[i] == 0)
        .collect();
    assert_eq!(zeros.len(), 2 * 240);
    let first_packet = RtpPacket::parse(&caller.packets[0].datagram).unwrap();
    let mut lost_timestamps = Vec::new();
    for pair in caller.packets.windows(2) {
        let (a, b) = (
            RtpPacket::parse(&pair[0].datagram).unwrap(),
            RtpPacket::parse(&pair[1].datagram).unwrap(),
        );
        if b.sequence.wrapping_sub(a.sequence) == 2 {
            lost_timestamps.push(a.timestamp.wrapping_add(240));
        }
    }
    assert_eq!(lost_timestamps.len(), 2);
    for timestamp in lost_timestamps {
        let at = caller_start + timestamp.wrapping_sub(first_packet.timestamp) as usize;
        assert!(
            left[at..at + 240].iter().all(|&s| s == 0),
            "silence at {at}"
        );
        assert!(left[at - 240..at].iter().all(|&s| s != 0));
        assert!(left[at + 240..at + 480].iter().all(|&s| s != 0));
    }
    assert!(rms(&right) > 10.0);
}

/// A one-way call: the callee's audio fills the right channel for the whole
/// stream (20 ms packets), the caller's channel stays silent.
fn assert_one_way_call(name: &str, codec: Codec, rate: u32) {
    let (capture, replay) = replay_capture(name, &ReplayOptions::default());
    let timeline = capture.timeline();
    assert!(timeline.iter().all(|(_, leg, _)| *leg == Leg::Callee));
    let summary = &replay.summary;
    assert_eq!(summary.sample_rate, rate);
    assert_eq!(summary.codecs, vec![codec]);
    assert_eq!(summary.lost, 0);
    let expected = seconds(timeline.last().unwrap().0 - timeline[0].0) + 0.020;
    let duration = seconds(summary.duration);
    assert!((duration - expected).abs() < 0.005, "{name}: {duration} s");
    let (spec, left, right) = wav_channels(&replay.bytes);
    assert_eq!(spec.sample_rate, rate);
    assert_eq!(left.len(), right.len());
    assert_eq!(right.len() as f64, (duration * f64::from(rate)).round());
    assert!(left.iter().all(|&s| s == 0));
    assert!(rms(&right) > 100.0, "{name}: rms {}", rms(&right));
}

#[test]
fn one_way_opus_decodes_to_the_right_length() {
    assert_one_way_call("wssample_sip-rtp-opus.pcap", Codec::Opus, 48_000);
}

#[test]
fn one_way_g722_decodes_to_the_right_length() {
    assert_one_way_call("wssample_sip-rtp-g722.pcap", Codec::G722, 16_000);
}

#[test]
fn each_sipp_event_capture_yields_its_one_digit() {
    let mut codecs = CodecMap::default();
    // The SIPp scenarios that play these captures announce PT 101 this way.
    codecs
        .insert(&RtpFormat::new(101, "telephone-event", 8000))
        .unwrap();
    for (file, digit) in [
        ("0", '0'),
        ("1", '1'),
        ("2", '2'),
        ("3", '3'),
        ("4", '4'),
        ("5", '5'),
        ("6", '6'),
        ("7", '7'),
        ("8", '8'),
        ("9", '9'),
        ("star", '*'),
        ("pound", '#'),
    ] {
        let capture = Capture::load(&format!("sipp_dtmf_2833_{file}.pcap"));
        let timeline = capture.timeline();
        assert_eq!(timeline.len(), 10);
        let replayed = replay(&timeline, &codecs, timeline[0].0, &ReplayOptions::default());
        let dtmf = &replayed.summary.dtmf;
        assert_eq!(dtmf.len(), 1, "{file}: {dtmf:?}");
        assert_eq!(dtmf[0].digit, digit);
        assert_eq!(dtmf[0].start_ms, 0);
        assert_eq!(dtmf[0].duration_ms, 280);

        // Senders that give each repeated end packet its own sequence number
        // must not produce more presses either.
        let mut renumbered = timeline.clone();
        for (extra, packet) in renumbered.iter_mut().skip(8).enumerate() {
            let sequence = u16::from_be_bytes([packet.2[2], packet.2[3]]) + 1 + extra as u16;
            packet.2[2..4].copy_from_slice(&sequence.to_be_bytes());
        }
        let again = replay(
            &renumbered,
            &codecs,
            timeline[0].0,
            &ReplayOptions::default(),
        );
        assert_eq!(&again.summary.dtmf, dtmf);
    }
}

#[test]
fn pause_masks_audio_and_drops_digits() {
    let capture = Capture::load("wssample_SIP_DTMF2.pcap");
    let timeline = capture.timeline();
    let first = timeline[0].0;
    let capture_start = capture.datagrams[0].time;
    // From just before the "8" to just after the "1" (83.5 s and 84.7 s into the capture).
    let pause = (
        capture_start + Duration::from_millis(83_400),
        capture_start + Duration::from_millis(84_900),
    );
    let options = ReplayOptions {
        pauses: vec![pause],
        ..ReplayOptions::default()
    };
    let replay = replay(&timeline, &capture.codecs, first, &options);
    let digits: String = replay
        .summary
        .dtmf
        .iter()
        .map(|event| event.digit)
        .collect();
    assert_eq!(digits, "6723");
    assert_eq!(replay.summary.pauses.len(), 1);
    let span = replay.summary.pauses[0];
    assert_eq!(span.start_ms, (pause.0 - first).as_millis() as u64);
    assert_eq!(span.end_ms, (pause.1 - first).as_millis() as u64);
    let (_, left, right) = wav_channels(&replay.bytes);
    // Whole milliseconds inside the span (the span's ends are rounded down to ms).
    let range = (span.start_ms * 8 + 8) as usize..(span.end_ms * 8) as usize;
    assert!(left[range.clone()].iter().all(|&s| s == 0));
    assert!(right[range.clone()].iter().all(|&s| s == 0));
    assert!(left[range.end..range.end + 800].iter().any(|&s| s != 0));
}

#[test]
fn dtmf_masking_silences_the_audio_around_events() {
    let capture = Capture::load("wssample_SIP_DTMF2.pcap");
    let timeline = capture.timeline();
    let first = timeline[0].0;
    let options = ReplayOptions {
        mask_dtmf: true,
        ..ReplayOptions::default()
    };
    let replay = replay(&timeline, &capture.codecs, first, &options);
    assert_eq!(replay.summary.dtmf.len(), 7);
    let (_, left, right) = wav_channels(&replay.bytes);
    for event in &replay.summary.dtmf {
        let start = (event.start_ms * 8) as usize;
        let end = ((event.start_ms + event.duration_ms) * 8) as usize;
        assert!(left[start - 200..end + 200].iter().all(|&s| s == 0));
        assert!(right[start - 200..end + 200].iter().all(|&s| s == 0));
        assert!(left[end + 800..end + 1600].iter().any(|&s| s != 0));
    }
}

#[test]
fn bursty_two_way_call_with_early_media_has_no_holes() {
    let (capture, replay) =
        replay_capture("wssample_nb6-telephone.pcap", &ReplayOptions::default());
    let timeline = capture.timeline();
    let first = timeline[0].0;
    assert_eq!(capture.streams.len(), 2);
    assert_ne!(
        capture.leg_of(&capture.streams[0]),
        capture.leg_of(&capture.streams[1])
    );
    assert_eq!(replay.summary.lost, 0);
    assert_eq!(replay.summary.packets, 509);
    let (_, left, right) = wav_channels(&replay.bytes);
    // A-law never decodes to 0: each channel is continuous from its first
    // packet to its last, whatever the arrival bursts (gaps up to 66 ms).
    for stream in &capture.streams {
        let channel = match capture.leg_of(stream) {
            Leg::Caller => &left,
            Leg::Callee => &right,
        };
        let position = |time: Duration| ((time - first).as_nanos() * 8000 / 1_000_000_000) as usize;
        let from = position(stream.packets[0].time);
        let to = position(stream.packets.last().unwrap().time);
        let holes = channel[from..to].iter().filter(|&&s| s == 0).count();
        assert_eq!(holes, 0, "{:?}", capture.leg_of(stream));
    }
}
