//! The relay's per-packet work: classify (RTP header parse), latch check,
//! forwarding decision and statistics, on the sans-IO core.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use greffier_media::ports::PortPool;
use greffier_media::relay::{
    spawn_relay, CallRelay, LatchRules, Leg, MediaDestinations, MediaDirection, PacketKind,
    RelayConfig, RelayMetrics, RemoteMedia,
};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;

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
    let destinations = MediaDestinations::for_node(IpAddr::V4(Ipv4Addr::LOCALHOST), 48000..=48099);
    let mut relay = CallRelay::new(
        start,
        RelayConfig {
            rtp_timeout: Duration::from_secs(30),
            latching: LatchRules::default(),
            destinations: Arc::new(destinations),
        },
    );
    relay.set_remote(
        start,
        Leg::Caller,
        RemoteMedia::from_sdp(phone_a, MediaDirection::SendRecv),
    );
    relay.set_remote(
        start,
        Leg::Callee,
        RemoteMedia::from_sdp(phone_b, MediaDirection::SendRecv),
    );
    let datagram = g711_datagram(1);
    relay.handle_packet(start, Leg::Caller, PacketKind::Rtp, phone_a, &datagram);

    let mut group = c.benchmark_group("relay");
    group.throughput(Throughput::Elements(1));
    group.bench_function("rtp_decision", |b| {
        b.iter(|| {
            relay.handle_packet(
                black_box(start),
                Leg::Caller,
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
                Leg::Caller,
                PacketKind::Rtp,
                black_box(intruder),
                black_box(&datagram),
            )
        })
    });
    group.finish();
}

/// One call through the tokio shell on loopback: a batch of packets from
/// phone A to phone B, with a recorder reading every copy.
fn relay_loopback_call(c: &mut Criterion) {
    const BATCH: u16 = 50;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let (relay, phone_a, phone_b, mut recorded) = runtime.block_on(async {
        let pool = PortPool::new(ip, 48000..=48099).expect("pool");
        let (recorder, recorded) = tokio::sync::mpsc::channel(usize::from(BATCH) * 4);
        let relay = spawn_relay(
            RelayConfig {
                rtp_timeout: Duration::from_secs(30),
                latching: LatchRules::default(),
                destinations: Arc::new(MediaDestinations::for_pool(&pool)),
            },
            pool.bind_pair().expect("leg A ports"),
            pool.bind_pair().expect("leg B ports"),
            Some(recorder),
            RelayMetrics::register(),
        )
        .expect("relay");
        let phone_a = UdpSocket::bind((ip, 0)).await.expect("phone A");
        let phone_b = UdpSocket::bind((ip, 0)).await.expect("phone B");
        for (leg, phone) in [(Leg::Caller, &phone_a), (Leg::Callee, &phone_b)] {
            let address = phone.local_addr().expect("phone address");
            relay
                .set_remote(
                    leg,
                    RemoteMedia::from_sdp(address, MediaDirection::SendRecv),
                )
                .expect("relay running");
        }
        (relay, phone_a, phone_b, recorded)
    });
    let to_relay = relay.local(Leg::Caller).rtp;
    let datagrams: Vec<_> = (0..BATCH).map(g711_datagram).collect();
    let mut buffer = vec![0u8; 2048];

    let mut group = c.benchmark_group("relay_shell");
    group.throughput(Throughput::Elements(u64::from(BATCH)));
    group.bench_function("loopback_batch_of_50", |b| {
        b.iter(|| {
            runtime.block_on(async {
                for datagram in &datagrams {
                    phone_a.send_to(datagram, to_relay).await.expect("send");
                    phone_b.recv_from(&mut buffer).await.expect("receive");
                    recorded.recv().await.expect("recorder copy");
                }
            })
        })
    });
    group.finish();
    runtime.block_on(relay.stop()).expect("relay stops");
}

criterion_group!(benches, relay_decision, relay_loopback_call);
criterion_main!(benches);
