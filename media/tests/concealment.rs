//! What fills a gap: Opus concealment after a loss, comfort noise after a CN
//! packet, plain silence otherwise.

use greffier_media::{CodecMap, RtpFormat, RtpPacket};
use greffier_test_support::audio::{rms, wav_channels};
use greffier_test_support::capture::{replay, Capture, ReplayOptions};

#[test]
fn a_lost_opus_packet_is_concealed_not_silenced() {
    let capture = Capture::load("wssample_sip-rtp-opus.pcap");
    let timeline = capture.timeline();
    let first = RtpPacket::parse(&timeline[0].2).unwrap().timestamp;
    // Find a loud packet to drop, so the concealment has something to continue.
    let reference = replay(
        &timeline,
        &capture.codecs,
        timeline[0].0,
        &ReplayOptions::default(),
    );
    let (_, _, reference_right) = wav_channels(&reference.bytes);
    let offset_of = |index: usize| {
        let packet = RtpPacket::parse(&timeline[index].2).unwrap();
        packet.timestamp.wrapping_sub(first) as usize
    };
    let dropped = (50..timeline.len() - 50)
        .max_by_key(|&i| rms(&reference_right[offset_of(i)..offset_of(i) + 960]) as u64)
        .unwrap();
    let mut lossy = timeline.clone();
    lossy.remove(dropped);
    let replayed = replay(
        &lossy,
        &capture.codecs,
        timeline[0].0,
        &ReplayOptions::default(),
    );
    assert_eq!(replayed.summary.lost, 1);
    let (_, _, right) = wav_channels(&replayed.bytes);
    assert_eq!(right.len(), reference_right.len());
    let gap = offset_of(dropped)..offset_of(dropped) + 960;
    assert!(
        rms(&right[gap.clone()]) > 100.0,
        "concealed audio, rms {}",
        rms(&right[gap.clone()])
    );
    assert_ne!(right[gap.clone()], reference_right[gap.clone()]);
    assert_eq!(right[..gap.start], reference_right[..gap.start]);
}

/// PT 13 with the noise level in -dBov, stamped right after `previous`.
fn comfort_noise_packet(previous: &[u8], level: u8) -> Vec<u8> {
    let mut packet = previous[..12].to_vec();
    let sequence = u16::from_be_bytes([packet[2], packet[3]]).wrapping_add(1);
    let timestamp = u32::from_be_bytes(packet[4..8].try_into().unwrap()).wrapping_add(240);
    packet[1] = 13;
    packet[2..4].copy_from_slice(&sequence.to_be_bytes());
    packet[4..8].copy_from_slice(&timestamp.to_be_bytes());
    packet.push(level);
    packet
}

/// Shifts a captured packet's sequence number.
fn renumber(datagram: &[u8], shift: u16) -> Vec<u8> {
    let mut bytes = datagram.to_vec();
    let sequence = u16::from_be_bytes([bytes[2], bytes[3]]).wrapping_add(shift);
    bytes[2..4].copy_from_slice(&sequence.to_be_bytes());
    bytes
}

#[test]
fn comfort_noise_fills_the_silence_it_announces() {
    let capture = Capture::load("sipp_g711a.pcap");
    let timeline = capture.timeline();
    let codecs = CodecMap::from_formats(&[
        RtpFormat::new(8, "PCMA", 8000),
        RtpFormat::new(13, "CN", 8000),
    ]);
    let first = RtpPacket::parse(&timeline[0].2).unwrap().timestamp;
    // Packets 40..=79 are replaced by one CN packet (sent at packet 40's time);
    // packets 120..=159 simply stop (discontinuous transmission without CN).
    let mut packets = Vec::new();
    for (index, (time, leg, bytes)) in timeline.iter().enumerate() {
        match index {
            40 => packets.push((*time, *leg, comfort_noise_packet(&timeline[39].2, 50))),
            41..=79 | 120..=159 => {}
            _ if index >= 80 => packets.push((*time, *leg, renumber(bytes, 1u16.wrapping_sub(40)))),
            _ => packets.push((*time, *leg, bytes.clone())),
        }
    }
    let replayed = replay(&packets, &codecs, timeline[0].0, &ReplayOptions::default());
    assert_eq!(replayed.summary.lost, 40);
    let (_, left, _) = wav_channels(&replayed.bytes);
    let offset_of = |index: usize| {
        RtpPacket::parse(&timeline[index].2)
            .unwrap()
            .timestamp
            .wrapping_sub(first) as usize
    };
    let noise = &left[offset_of(40)..offset_of(80)];
    let expected_rms = 32767.0 * 0.5f64.sqrt() * 10f64.powf(-50.0 / 20.0);
    assert!(
        (rms(noise) / expected_rms - 1.0).abs() < 0.2,
        "noise rms {}",
        rms(noise)
    );
    let silence = &left[offset_of(120)..offset_of(160)];
    assert!(silence.iter().all(|&s| s == 0));
}
