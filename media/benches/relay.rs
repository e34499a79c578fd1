//! The relay's per-packet work: classify (RTP header parse), latch check,
//! forwarding decision and statistics, on the sans-IO core.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use greffier_media::relay::{CallRelay, Leg, MediaDirection, PacketKind, RelayConfig, RemoteMedia};
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

fn g711_datagram(sequence: u16) -> Vec<u8> {
    let mut datagram = vec![0x80, 0x08];
    datagram.extend_from_slice(&sequence.to_be_bytes());
    datagram.extend_from_slice(&(u32::from(sequence) * 160).to_be_bytes());
    datagram.extend_from_slice(&0x1234_5678u32.to_be_bytes());
    datagram.resize(12 + 160, 0xd5);
    datagram
}

fn relay_decision(c: &mut Criterion) {
    let start = Instant::now();
    let phone_a = SocketAddr::from((Ipv4Addr::LOCALHOST, 20000));
    let phone_b = SocketAddr::from((Ipv4Addr::LOCALHOST, 30000));
    let mut relay = CallRelay::new(
        start,
        RelayConfig {
            rtp_timeout: Duration::from_secs(30),
        },
    );
    relay.set_remote(
        start,
        Leg::A,
        RemoteMedia::from_sdp(phone_a, MediaDirection::SendRecv),
    );
    relay.set_remote(
        start,
        Leg::B,
        RemoteMedia::from_sdp(phone_b, MediaDirection::SendRecv),
    );
    let datagram = g711_datagram(1);
    relay.handle_packet(start, Leg::A, PacketKind::Rtp, phone_a, &datagram);

    let mut group = c.benchmark_group("relay");
    group.throughput(Throughput::Elements(1));
    group.bench_function("rtp_decision", |b| {
        b.iter(|| {
            relay.handle_packet(
                black_box(start),
                Leg::A,
                PacketKind::Rtp,
                black_box(phone_a),
                black_box(&datagram),
            )
        })
    });
    let intruder = SocketAddr::from((Ipv4Addr::LOCALHOST, 40000));
    group.bench_function("bleed_drop", |b| {
        b.iter(|| {
            relay.handle_packet(
                black_box(start),
                Leg::A,
                PacketKind::Rtp,
                black_box(intruder),
                black_box(&datagram),
            )
        })
    });
    group.finish();
}

criterion_group!(benches, relay_decision);
criterion_main!(benches);
