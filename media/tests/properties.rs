//! Properties over arbitrary input: parsing and G.729 decoding never panic, the jitter buffer
//! releases each packet once and in order, chunking never changes resampling.

use greffier_media::jitter::{JitterBuffer, JitterConfig};
use greffier_media::resample::Resampler;
use greffier_media::{Leg, OutputFormat, Recorder, RecorderConfig, RtpPacket};
use greffier_test_support::capture;
use proptest::prelude::*;
use std::time::{Duration, Instant};

fn datagram(sequence: u16, payload_len: usize) -> Vec<u8> {
    let mut bytes = vec![0x80, 0];
    bytes.extend_from_slice(&sequence.to_be_bytes());
    bytes.extend_from_slice(&(u32::from(sequence) * 160).to_be_bytes());
    bytes.extend_from_slice(&7u32.to_be_bytes());
    bytes.resize(12 + payload_len, 0xff);
    bytes
}

proptest! {
    #[test]
    fn g729_decoding_of_any_bytes_is_whole_frames_or_an_error(
        payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 1..8)
    ) {
        let mut decoder = greffier_media::codec::G729Decoder::new().unwrap();
        for payload in payloads {
            let mut out = Vec::new();
            let whole = !payload.is_empty() && matches!(payload.len() % 10, 0 | 2);
            match greffier_media::Decoder::decode(&mut decoder, &payload, &mut out) {
                Ok(()) => {
                    prop_assert!(whole);
                    prop_assert_eq!(out.len(), payload.len().div_ceil(10) * 80);
                }
                Err(_) => {
                    prop_assert!(!whole);
                    prop_assert!(out.is_empty());
                }
            }
        }
    }

    #[test]
    fn rtp_parsing_never_panics_and_stays_in_bounds(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(packet) = RtpPacket::parse(&bytes) {
            let payload = packet.payload();
            let start = payload.as_ptr() as usize - bytes.as_ptr() as usize;
            prop_assert!(start >= 12);
            prop_assert!(start + payload.len() <= bytes.len());
        }
    }

    #[test]
    fn jitter_buffer_releases_each_sequence_once_in_order(
        first in any::<u16>(),
        count in 1usize..80,
        swaps in proptest::collection::vec((0usize..80, 1usize..4), 0..40),
        duplicates in proptest::collection::vec(0usize..80, 0..20),
        dropped in proptest::collection::vec(0usize..80, 0..10),
    ) {
        let mut order: Vec<usize> = (0..count).collect();
        for (at, distance) in swaps {
            if at + distance < count && at > 0 {
                order.swap(at, at + distance);
            }
        }
        order.retain(|index| *index == 0 || !dropped.contains(index));
        let repeated: Vec<usize> = duplicates
            .into_iter()
            .filter(|index| order.contains(index))
            .collect();
        order.extend(repeated);
        let start = Instant::now();
        let mut buffer = JitterBuffer::new(JitterConfig::default());
        let mut released = Vec::new();
        for (slot, index) in order.iter().enumerate() {
            let now = start + Duration::from_millis(20 * slot as u64);
            let bytes = datagram(first.wrapping_add(*index as u16), 4);
            buffer.push(now, &RtpPacket::parse(&bytes).unwrap());
            while let Some(packet) = buffer.pop_ready(now) {
                released.push(packet);
            }
        }
        released.extend(buffer.drain());
        let offsets: Vec<u16> = released.iter().map(|r| r.packet.sequence.wrapping_sub(first)).collect();
        prop_assert!(offsets.windows(2).all(|pair| pair[0] < pair[1]), "{:?}", offsets);
        let mut expected: Vec<u16> = order.iter().map(|&i| i as u16).collect();
        expected.sort_unstable();
        expected.dedup();
        // Only packets that turned up after a later one had already left are missing.
        prop_assert!(offsets.iter().all(|offset| expected.contains(offset)));
        let skipped: u64 = released.iter().map(|r| r.lost_before).sum();
        let span = u64::from(*offsets.last().unwrap()) + 1;
        prop_assert_eq!(skipped + released.len() as u64, span);
        prop_assert_eq!(released.iter().filter(|r| r.restart).count(), 1);
    }

    #[test]
    fn resampling_does_not_depend_on_chunking(
        samples in proptest::collection::vec(-1.0f32..1.0, 1..2000),
        chunk in 1usize..500,
        rates in prop_oneof![Just((8000u32, 16_000u32)), Just((8000, 48_000)), Just((48_000, 16_000)), Just((16_000, 8000))],
    ) {
        let run = |size: usize| {
            let mut resampler = Resampler::new(rates.0, rates.1);
            let mut out = Vec::new();
            for piece in samples.chunks(size) {
                resampler.process(piece, &mut out);
            }
            resampler.flush(&mut out);
            out
        };
        let whole = run(samples.len());
        prop_assert_eq!(&whole, &run(chunk));
        let expected = (samples.len() as u64 * u64::from(rates.1)).div_ceil(u64::from(rates.0));
        prop_assert_eq!(whole.len() as u64, expected);
    }

    #[test]
    fn recorder_survives_arbitrary_datagrams(
        datagrams in proptest::collection::vec(
            (any::<bool>(), 0u64..50, proptest::collection::vec(any::<u8>(), 0..120)),
            0..60,
        ),
    ) {
        let codecs = capture::every_decodable_codec();
        let start = Instant::now();
        let mut recorder = Recorder::new(RecorderConfig::new(OutputFormat::Wav, codecs.clone(), codecs, start)).unwrap();
        let mut now = start;
        for (caller, step_ms, mut bytes) in datagrams {
            now += Duration::from_millis(step_ms);
            if bytes.len() >= 2 && step_ms % 2 == 0 {
                bytes[0] = 0x80 | (bytes[0] & 0x3f);
            }
            let _ = recorder.handle_rtp(now, if caller { Leg::Caller } else { Leg::Callee }, &bytes);
        }
        let summary = recorder.finish(now).unwrap();
        prop_assert!(summary.duration >= now - start);
    }
}
