//! The WAV and Ogg/Opus byte streams read back with independent readers.

use greffier_media::OutputFormat;
use greffier_test_support::audio::{rms, wav_channels};
use greffier_test_support::capture::{replay_capture, ReplayOptions};
use ogg::reading::PacketReader;
use std::io::Cursor;

#[test]
fn streamed_wav_is_readable_by_hound_after_fixing_sizes() {
    let (_, replay) = replay_capture("wssample_SIP_DTMF2.pcap", &ReplayOptions::default());
    let bytes = &replay.bytes;
    // The stream's header does not know the length yet.
    assert_eq!(&bytes[0..4], b"RIFF");
    assert_eq!(&bytes[4..8], &[0xff; 4]);
    assert_eq!(&bytes[40..44], &[0xff; 4]);
    let (spec, left, right) = wav_channels(bytes);
    assert_eq!(spec.channels, 2);
    assert_eq!(spec.sample_rate, 8000);
    assert_eq!(spec.bits_per_sample, 16);
    let frames = (bytes.len() - 44) / 4;
    assert_eq!(left.len(), frames);
    assert_eq!(right.len(), frames);
    let expected = replay.summary.duration.as_secs_f64() * 8000.0;
    assert!(
        (frames as f64 - expected).abs() <= 1.0,
        "{frames} vs {expected}"
    );
}

struct OggOpusStream {
    pre_skip: u64,
    input_rate: u32,
    channels: u8,
    last_granule: u64,
    decoded_per_channel: usize,
    decoded: Vec<i16>,
}

fn read_ogg_opus(bytes: &[u8]) -> OggOpusStream {
    let mut reader = PacketReader::new(Cursor::new(bytes.to_vec()));
    let head = reader.read_packet_expected().expect("OpusHead packet");
    assert!(head.first_in_stream());
    assert_eq!(&head.data[..8], b"OpusHead");
    assert_eq!(head.data[8], 1, "version");
    let channels = head.data[9];
    let pre_skip = u64::from(u16::from_le_bytes([head.data[10], head.data[11]]));
    let input_rate = u32::from_le_bytes(head.data[12..16].try_into().unwrap());
    let tags = reader.read_packet_expected().expect("OpusTags packet");
    assert_eq!(&tags.data[..8], b"OpusTags");
    let mut decoder = opus::Decoder::new(48_000, opus::Channels::Stereo).unwrap();
    let mut buffer = vec![0i16; 5760 * 2];
    let mut decoded = Vec::new();
    let mut decoded_per_channel = 0;
    let mut last_granule = 0;
    let mut previous_granule = 0;
    let mut ended = false;
    while let Some(packet) = reader.read_packet().expect("well-formed pages") {
        assert!(!ended, "packets after the end of stream");
        let count = decoder
            .decode(&packet.data, &mut buffer, false)
            .expect("decodes");
        decoded_per_channel += count;
        decoded.extend_from_slice(&buffer[..count * 2]);
        if packet.last_in_page() {
            let granule = packet.absgp_page();
            assert!(
                granule >= previous_granule,
                "granule positions never go back"
            );
            previous_granule = granule;
            last_granule = granule;
        }
        ended = packet.last_in_stream();
    }
    assert!(ended, "stream has its end-of-stream page");
    OggOpusStream {
        pre_skip,
        input_rate,
        channels,
        last_granule,
        decoded_per_channel,
        decoded,
    }
}

#[test]
fn ogg_opus_output_parses_and_decodes_to_the_recording_length() {
    let options = ReplayOptions {
        format: OutputFormat::Opus,
        ..ReplayOptions::default()
    };
    for capture in [
        "wssample_SIP_DTMF2.pcap",
        "wssample_sip-rtp-g722.pcap",
        "wssample_sip-rtp-opus.pcap",
    ] {
        let (_, replay) = replay_capture(capture, &options);
        let stream = read_ogg_opus(&replay.bytes);
        assert_eq!(stream.channels, 2);
        assert_eq!(stream.input_rate, replay.sample_rate);
        let duration_48k = (replay.summary.duration.as_secs_f64() * 48_000.0).round() as u64;
        // The last granule position trims the padding of the last 20 ms frame.
        assert!(
            (stream.last_granule - stream.pre_skip).abs_diff(duration_48k) <= 6,
            "{capture}: granule {} - {} vs {duration_48k}",
            stream.last_granule,
            stream.pre_skip
        );
        let playable = stream.decoded_per_channel as u64 - stream.pre_skip;
        assert!(
            playable >= duration_48k && playable < duration_48k + 960,
            "{capture}: {playable}"
        );
        assert!(
            rms(&stream.decoded) > 50.0,
            "{capture}: decoded audio is not silent"
        );
    }
}
