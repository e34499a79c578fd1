//! Reordered and duplicated packets within the jitter window change nothing.

use greffier_media::{Leg, OutputFormat};
use greffier_test_support::capture::{replay, Capture, ReplayOptions};
use std::time::Duration;

/// Shuffles each leg on its own: the first packet of a leg anchors its timeline
/// on its arrival time, so it stays first.
fn shuffle(packets: &[(Duration, Leg, Vec<u8>)]) -> Vec<(Duration, Leg, Vec<u8>)> {
    let mut shuffled: Vec<_> = [Leg::Caller, Leg::Callee]
        .into_iter()
        .flat_map(|leg| {
            let one_leg: Vec<_> = packets.iter().filter(|p| p.1 == leg).cloned().collect();
            shuffle_leg(&one_leg)
        })
        .collect();
    shuffled.sort_by_key(|(time, _, _)| *time);
    shuffled
}

/// Swaps neighbours every few packets (each keeps its slot's arrival time) and
/// repeats some packets 40 ms later.
fn shuffle_leg(packets: &[(Duration, Leg, Vec<u8>)]) -> Vec<(Duration, Leg, Vec<u8>)> {
    let mut shuffled = packets.to_vec();
    let mut index = 1;
    while index + 1 < shuffled.len() {
        let (time_a, time_b) = (shuffled[index].0, shuffled[index + 1].0);
        shuffled.swap(index, index + 1);
        shuffled[index].0 = time_a;
        shuffled[index + 1].0 = time_b;
        index += 3 + index % 4;
    }
    let duplicates: Vec<_> = packets
        .iter()
        .skip(2)
        .step_by(7)
        .map(|(time, leg, bytes)| (*time + Duration::from_millis(40), *leg, bytes.clone()))
        .collect();
    shuffled.extend(duplicates);
    shuffled
}

fn assert_same_recording(name: &str, format: OutputFormat) {
    let capture = Capture::load(name);
    let ordered = capture.timeline();
    let shuffled = shuffle(&ordered);
    assert_ne!(
        ordered.iter().map(|p| &p.2).collect::<Vec<_>>(),
        shuffled.iter().map(|p| &p.2).collect::<Vec<_>>()
    );
    let origin = ordered[0].0;
    let options = ReplayOptions {
        format,
        ..ReplayOptions::default()
    };
    let reference = replay(&ordered, &capture.codecs, origin, &options);
    let disturbed = replay(&shuffled, &capture.codecs, origin, &options);
    assert!(reference.bytes.len() > 10_000);
    assert!(reference.bytes == disturbed.bytes, "{name}: audio differs");
    assert_eq!(reference.summary.dtmf, disturbed.summary.dtmf);
    assert_eq!(reference.summary.lost, disturbed.summary.lost);
    assert_eq!(disturbed.summary.packets as usize, shuffled.len());
    assert!(shuffled.len() > ordered.len());
}

#[test]
fn shuffled_two_way_alaw_call_records_identically() {
    assert_same_recording("wssample_SIP_DTMF2.pcap", OutputFormat::Wav);
}

#[test]
fn shuffled_opus_stream_records_identically() {
    assert_same_recording("wssample_sip-rtp-opus.pcap", OutputFormat::Wav);
}

#[test]
fn shuffled_g722_stream_records_identically_in_ogg_opus() {
    assert_same_recording("wssample_sip-rtp-g722.pcap", OutputFormat::Opus);
}
