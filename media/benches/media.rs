//! Hot paths of the media crate, fed with payloads from the shared captures.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use greffier_media::codec::{Decoder, G711Decoder, OpusDecoder};
use greffier_media::inband_dtmf::InbandDtmfDetector;
use greffier_media::{CodecMap, Leg, OutputFormat, Recorder, RecorderConfig, RtpFormat, RtpPacket};
use greffier_test_support::capture::Capture;
use std::time::{Duration, Instant};

fn first_datagram(name: &str) -> Vec<u8> {
    Capture::load(name).streams[0].packets[10].datagram.clone()
}

fn rtp_header_parse(c: &mut Criterion) {
    let datagram = first_datagram("sipp_g711a.pcap");
    c.bench_function("rtp_header_parse", |b| {
        b.iter(|| RtpPacket::parse(black_box(&datagram)).map(|p| p.payload().len()))
    });
}

fn g711_decode_20ms(c: &mut Criterion) {
    let datagram = first_datagram("sipp_g711a.pcap");
    let payload = RtpPacket::parse(&datagram).unwrap().payload()[..160].to_vec();
    let mut decoder = G711Decoder::alaw();
    let mut out = Vec::with_capacity(160);
    c.bench_function("g711_decode_20ms", |b| {
        b.iter(|| {
            out.clear();
            decoder.decode(black_box(&payload), &mut out).unwrap();
            out.len()
        })
    });
}

fn opus_decode_20ms(c: &mut Criterion) {
    let capture = Capture::load("wssample_sip-rtp-opus.pcap");
    let payloads: Vec<Vec<u8>> = capture.streams[0]
        .packets
        .iter()
        .map(|packet| {
            RtpPacket::parse(&packet.datagram)
                .unwrap()
                .payload()
                .to_vec()
        })
        .collect();
    let mut decoder = OpusDecoder::new().unwrap();
    let mut out = Vec::with_capacity(960);
    let mut index = 0;
    c.bench_function("opus_decode_20ms", |b| {
        b.iter(|| {
            out.clear();
            decoder
                .decode(black_box(&payloads[index % payloads.len()]), &mut out)
                .unwrap();
            index += 1;
            out.len()
        })
    });
}

fn inband_dtmf_20ms(c: &mut Criterion) {
    let frame: Vec<f32> = (0..160)
        .map(|n| {
            let t = n as f32 / 8000.0;
            let phase = |hz: f32| (2.0 * std::f32::consts::PI * hz * t).sin();
            5000.0 * (phase(770.0) + phase(1336.0))
        })
        .collect();
    let mut detector = InbandDtmfDetector::new(8000);
    let mut updates = Vec::with_capacity(4);
    let mut position = 0;
    c.bench_function("inband_dtmf_20ms", |b| {
        b.iter(|| {
            updates.clear();
            detector.process(position, black_box(&frame), &mut updates);
            position += 160;
            updates.len()
        })
    });
}

/// A 20 ms PCMA packet built from captured audio.
fn pcma_packet(payload: &[u8], ssrc: u32) -> Vec<u8> {
    let mut datagram = vec![0x80, 8, 0, 0, 0, 0, 0, 0];
    datagram.extend_from_slice(&ssrc.to_be_bytes());
    datagram.extend_from_slice(&payload[..160]);
    datagram
}

fn set_sequence(datagram: &mut [u8], sequence: u16, timestamp: u32) {
    datagram[2..4].copy_from_slice(&sequence.to_be_bytes());
    datagram[4..8].copy_from_slice(&timestamp.to_be_bytes());
}

fn recorder_per_20ms_packet_both_legs(c: &mut Criterion) {
    let datagram = first_datagram("sipp_g711a.pcap");
    let payload = RtpPacket::parse(&datagram).unwrap().payload().to_vec();
    for (name, format, sdp) in [
        (
            "recorder_20ms_both_legs_pcma_wav",
            OutputFormat::Wav,
            &[RtpFormat::new(8, "PCMA", 8000)][..],
        ),
        (
            "recorder_20ms_both_legs_pcma_to_16k_ogg_opus",
            OutputFormat::Opus,
            &[
                RtpFormat::new(8, "PCMA", 8000),
                RtpFormat::new(9, "G722", 8000),
            ][..],
        ),
    ] {
        let codecs = CodecMap::from_formats(sdp);
        let start = Instant::now();
        let mut recorder =
            Recorder::new(RecorderConfig::new(format, codecs.clone(), codecs, start)).unwrap();
        let mut caller = pcma_packet(&payload, 1);
        let mut callee = pcma_packet(&payload, 2);
        let mut step: u32 = 0;
        c.bench_function(name, |b| {
            b.iter(|| {
                let now = start + Duration::from_millis(20 * u64::from(step));
                set_sequence(&mut caller, step as u16, step * 160);
                set_sequence(&mut callee, step as u16, step * 160);
                recorder.handle_rtp(now, Leg::Caller, &caller).unwrap();
                recorder.handle_rtp(now, Leg::Callee, &callee).unwrap();
                step += 1;
                let mut bytes = 0;
                while let Some(chunk) = recorder.poll_output() {
                    bytes += chunk.len();
                }
                bytes
            })
        });
    }
}

criterion_group!(
    benches,
    rtp_header_parse,
    g711_decode_20ms,
    opus_decode_20ms,
    inband_dtmf_20ms,
    recorder_per_20ms_packet_both_legs
);
criterion_main!(benches);
