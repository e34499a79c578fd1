//! The relay on real loopback sockets: two phones talk through it.

use greffier_media::ports::PortPool;
use greffier_media::relay::{
    spawn_relay, LatchRules, Leg, MediaDestinations, MediaDirection, RecorderCopy, RelayConfig,
    RelayEvent, RelayHandle, RelayMetrics, RemoteMedia,
};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::time::timeout;

const PACKETS: u16 = 200;
/// Bounds every wait so a lost datagram fails the test instead of hanging it.
const PATIENCE: Duration = Duration::from_secs(5);
const RTP_TIMEOUT: Duration = Duration::from_secs(30);

fn rtp(ssrc: u32, sequence: u16) -> Vec<u8> {
    let mut datagram = vec![0x80, 0x08];
    datagram.extend_from_slice(&sequence.to_be_bytes());
    datagram.extend_from_slice(&(u32::from(sequence) * 160).to_be_bytes());
    datagram.extend_from_slice(&ssrc.to_be_bytes());
    datagram.extend((0..160u16).map(|i| (i as u8) ^ (sequence as u8)));
    datagram
}

struct Phone {
    rtp: UdpSocket,
    rtcp: UdpSocket,
}

impl Phone {
    async fn bind(ip: IpAddr) -> Phone {
        Phone {
            rtp: UdpSocket::bind((ip, 0)).await.unwrap(),
            rtcp: UdpSocket::bind((ip, 0)).await.unwrap(),
        }
    }

    fn sdp(&self) -> RemoteMedia {
        RemoteMedia::from_sdp(self.rtp.local_addr().unwrap(), MediaDirection::SendRecv)
            .with_rtcp(self.rtcp.local_addr().unwrap())
    }
}

async fn receive(socket: &UdpSocket) -> (Vec<u8>, SocketAddr) {
    let mut buffer = vec![0; 2048];
    let (len, from) = timeout(PATIENCE, socket.recv_from(&mut buffer))
        .await
        .expect("datagram relayed in time")
        .unwrap();
    buffer.truncate(len);
    (buffer, from)
}

struct Scene {
    pool: PortPool,
    relay: RelayHandle,
    a: Phone,
    b: Phone,
}

async fn scene(
    ip: IpAddr,
    ports: std::ops::RangeInclusive<u16>,
    recorder: Option<mpsc::Sender<RecorderCopy>>,
) -> Scene {
    scene_with(RTP_TIMEOUT, LatchRules::default(), ip, ports, recorder).await
}

async fn scene_with(
    rtp_timeout: Duration,
    latching: LatchRules,
    ip: IpAddr,
    ports: std::ops::RangeInclusive<u16>,
    recorder: Option<mpsc::Sender<RecorderCopy>>,
) -> Scene {
    let pool = PortPool::new(ip, ports).unwrap();
    let config = RelayConfig {
        rtp_timeout,
        latching,
        destinations: Arc::new(MediaDestinations::for_pool(&pool)),
    };
    let relay = spawn_relay(
        config,
        pool.bind_pair().unwrap(),
        pool.bind_pair().unwrap(),
        recorder,
        RelayMetrics::register(),
    )
    .unwrap();
    let (a, b) = (Phone::bind(ip).await, Phone::bind(ip).await);
    relay.set_remote(Leg::Caller, a.sdp()).unwrap();
    relay.set_remote(Leg::Callee, b.sdp()).unwrap();
    Scene { pool, relay, a, b }
}

impl Scene {
    /// Both phones send `PACKETS` RTP packets in turn; each must arrive
    /// unchanged, from the relay's port facing the receiver.
    async fn talk(&self) {
        let to_relay_a = self.relay.local(Leg::Caller).rtp;
        let to_relay_b = self.relay.local(Leg::Callee).rtp;
        for sequence in 0..PACKETS {
            let from_a = rtp(0xaaaa, sequence);
            self.a.rtp.send_to(&from_a, to_relay_a).await.unwrap();
            assert_eq!(receive(&self.b.rtp).await, (from_a, to_relay_b));
            let from_b = rtp(0xbbbb, sequence);
            self.b.rtp.send_to(&from_b, to_relay_b).await.unwrap();
            assert_eq!(receive(&self.a.rtp).await, (from_b, to_relay_a));
        }
    }
}

async fn phones_talk_through_the_relay(ip: IpAddr, ports: std::ops::RangeInclusive<u16>) {
    let (recorder, mut recorded) = mpsc::channel(usize::from(PACKETS) * 2);
    let scene = scene(ip, ports, Some(recorder)).await;
    scene.talk().await;

    let rtcp = [0x80, 201, 0, 1, 0, 0, 0xaa, 0xaa];
    scene
        .a
        .rtcp
        .send_to(&rtcp, scene.relay.local(Leg::Caller).rtcp)
        .await
        .unwrap();
    assert_eq!(
        receive(&scene.b.rtcp).await,
        (rtcp.to_vec(), scene.relay.local(Leg::Callee).rtcp)
    );

    let stats = scene.relay.stop().await.unwrap();
    assert_eq!(stats.a_to_b.packets, u64::from(PACKETS) + 1);
    assert_eq!(stats.b_to_a.packets, u64::from(PACKETS));
    assert_eq!(stats.b_to_a.bytes, u64::from(PACKETS) * 172);
    assert_eq!(
        stats.legs.caller.rtp_source,
        Some(scene.a.rtp.local_addr().unwrap())
    );
    assert_eq!(stats.legs.callee.rtcp_source, None);

    let mut next = [0u16; 2];
    while let Ok(copy) = recorded.try_recv() {
        let (ssrc, slot) = match copy.leg {
            Leg::Caller => (0xaaaa, 0),
            Leg::Callee => (0xbbbb, 1),
        };
        assert_eq!(copy.datagram, rtp(ssrc, next[slot]));
        next[slot] += 1;
    }
    assert_eq!(
        next,
        [PACKETS, PACKETS],
        "the recorder got a copy of each RTP packet"
    );
}

#[tokio::test]
async fn every_packet_arrives_unchanged_over_ipv4() {
    phones_talk_through_the_relay(IpAddr::V4(Ipv4Addr::LOCALHOST), 47000..=47009).await;
}

#[tokio::test]
async fn every_packet_arrives_unchanged_over_ipv6() {
    if std::net::UdpSocket::bind((Ipv6Addr::LOCALHOST, 0)).is_err() {
        eprintln!("SKIPPED: this host has no ::1, the IPv6 relay test did not run");
        return;
    }
    phones_talk_through_the_relay(IpAddr::V6(Ipv6Addr::LOCALHOST), 47010..=47019).await;
}

#[tokio::test]
async fn a_third_party_is_dropped_as_bleed() {
    let scene = scene(IpAddr::V4(Ipv4Addr::LOCALHOST), 47020..=47029, None).await;
    let relay_a = scene.relay.local(Leg::Caller).rtp;
    scene.a.rtp.send_to(&rtp(1, 0), relay_a).await.unwrap();
    assert_eq!(receive(&scene.b.rtp).await.0, rtp(1, 0));

    let intruder = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    for sequence in 0..10 {
        intruder
            .send_to(&rtp(666, sequence), relay_a)
            .await
            .unwrap();
    }
    scene.a.rtp.send_to(&rtp(1, 1), relay_a).await.unwrap();
    // Loopback keeps order: had any intruder packet got through, it would
    // arrive before this one.
    assert_eq!(receive(&scene.b.rtp).await.0, rtp(1, 1));
    let stats = scene.relay.stop().await.unwrap();
    assert_eq!(stats.dropped.bleed, 10);
    assert_eq!(stats.a_to_b.packets, 2);
}

#[tokio::test]
async fn stopping_the_call_returns_its_ports() {
    let scene = scene(IpAddr::V4(Ipv4Addr::LOCALHOST), 47030..=47033, None).await;
    let pool = scene.pool.clone();
    assert_eq!(pool.in_use(), 2);
    assert!(pool.allocate().is_err(), "both pairs are the call's");
    let ports = [
        scene.relay.local(Leg::Caller),
        scene.relay.local(Leg::Callee),
    ];
    scene.relay.stop().await.unwrap();
    assert_eq!(pool.in_use(), 0);
    let again = [pool.bind_pair().unwrap(), pool.bind_pair().unwrap()];
    let mut rebound: Vec<_> = again.iter().map(|pair| pair.rtp_address()).collect();
    let mut before: Vec<_> = ports.iter().map(|local| local.rtp).collect();
    rebound.sort();
    before.sort();
    assert_eq!(rebound, before, "the same ports bind again");
}

#[tokio::test]
async fn dropping_the_handle_also_returns_the_ports() {
    let scene = scene(IpAddr::V4(Ipv4Addr::LOCALHOST), 47040..=47043, None).await;
    let pool = scene.pool.clone();
    drop(scene);
    timeout(PATIENCE, async {
        while pool.in_use() > 0 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the relay task ended and released its ports");
    assert!(pool.bind_pair().is_ok());
}

#[tokio::test]
async fn a_recorder_that_never_reads_does_not_slow_the_call() {
    let (recorder, _never_read) = mpsc::channel(4);
    let scene = scene(
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        47050..=47059,
        Some(recorder),
    )
    .await;
    scene.talk().await;
    let stats = scene.relay.stop().await.unwrap();
    assert_eq!(stats.a_to_b.packets, u64::from(PACKETS));
    assert_eq!(stats.b_to_a.packets, u64::from(PACKETS));
    assert_eq!(stats.dropped.recorder_full, u64::from(PACKETS) * 2 - 4);
}

#[tokio::test]
async fn silence_is_reported_as_a_media_timeout() {
    let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let timeout_soon = Duration::from_millis(50);
    let mut scene = scene_with(timeout_soon, LatchRules::default(), ip, 47060..=47069, None).await;
    let event = timeout(PATIENCE, scene.relay.next_event()).await.unwrap();
    assert!(
        matches!(event, Some(RelayEvent::MediaTimeout { .. })),
        "{event:?}"
    );
    scene.relay.stop().await.unwrap();
}

/// The attacker of the hijack tests: another loopback address, as a host on
/// the Internet would be.
async fn attacker() -> UdpSocket {
    UdpSocket::bind((Ipv4Addr::new(127, 0, 0, 9), 0))
        .await
        .unwrap()
}

/// Nothing waits on `socket`. Loopback delivers a datagram into the
/// receiver's buffer during the sender's `send_to`, and the relay handles a
/// socket's datagrams in order, so once a later packet has arrived elsewhere
/// anything meant for `socket` would be there already.
fn nothing_waits_on(socket: &UdpSocket) -> bool {
    let mut buffer = [0u8; 2048];
    matches!(
        socket.try_recv_from(&mut buffer),
        Err(error) if error.kind() == std::io::ErrorKind::WouldBlock
    )
}

#[tokio::test]
async fn a_packet_sent_ahead_of_the_peer_gets_no_audio_and_is_not_recorded() {
    let (recorder, mut recorded) = mpsc::channel(64);
    let scene = scene(
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        47070..=47079,
        Some(recorder),
    )
    .await;
    let attacker = attacker().await;
    let (relay_a, relay_b) = (
        scene.relay.local(Leg::Caller).rtp,
        scene.relay.local(Leg::Callee).rtp,
    );
    // Two packets to each leg before either phone speaks: the old
    // first-packet latch gave the attacker both legs' audio.
    for relay in [relay_a, relay_b] {
        for sequence in 0..2 {
            attacker.send_to(&rtp(666, sequence), relay).await.unwrap();
        }
    }
    for sequence in 0..5 {
        let from_a = rtp(0xaaaa, sequence);
        scene.a.rtp.send_to(&from_a, relay_a).await.unwrap();
        assert_eq!(receive(&scene.b.rtp).await.0, from_a);
        let from_b = rtp(0xbbbb, sequence);
        scene.b.rtp.send_to(&from_b, relay_b).await.unwrap();
        assert_eq!(receive(&scene.a.rtp).await.0, from_b);
    }
    // During the call, a few more: bleed.
    for relay in [relay_a, relay_b] {
        attacker.send_to(&rtp(666, 9), relay).await.unwrap();
    }
    scene.a.rtp.send_to(&rtp(0xaaaa, 5), relay_a).await.unwrap();
    assert_eq!(receive(&scene.b.rtp).await.0, rtp(0xaaaa, 5));
    assert!(nothing_waits_on(&attacker), "the attacker got audio");

    let stats = scene.relay.stop().await.unwrap();
    assert_eq!(stats.dropped.learning, 4);
    assert_eq!(stats.dropped.bleed, 2);
    let mut copies = 0;
    while let Ok(copy) = recorded.try_recv() {
        assert_ne!(&copy.datagram[8..12], &666u32.to_be_bytes(), "injected");
        copies += 1;
    }
    assert_eq!(copies, 11, "every phone packet, nothing else");
}

#[tokio::test]
async fn with_strict_source_a_burst_from_elsewhere_gets_nothing() {
    let strict = LatchRules {
        strict_source: true,
        ..LatchRules::default()
    };
    let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let scene = scene_with(RTP_TIMEOUT, strict, ip, 47080..=47089, None).await;
    let attacker = attacker().await;
    let (relay_a, relay_b) = (
        scene.relay.local(Leg::Caller).rtp,
        scene.relay.local(Leg::Callee).rtp,
    );
    // Enough packets of one SSRC to be learned, were learning allowed.
    for relay in [relay_a, relay_b] {
        for sequence in 0..10 {
            attacker.send_to(&rtp(666, sequence), relay).await.unwrap();
        }
    }
    scene.talk().await;
    assert!(nothing_waits_on(&attacker), "the attacker got audio");
    let stats = scene.relay.stop().await.unwrap();
    assert_eq!(stats.dropped.strict_source, 20);
    assert_eq!(stats.a_to_b.packets, u64::from(PACKETS));
}

#[tokio::test]
async fn a_peer_cannot_aim_the_relay_at_its_own_ports() {
    let mut scene = scene(IpAddr::V4(Ipv4Addr::LOCALHOST), 47090..=47099, None).await;
    let (relay_a, relay_b) = (
        scene.relay.local(Leg::Caller),
        scene.relay.local(Leg::Callee),
    );
    // A's SDP names B's relay port: had the relay obeyed, every packet from
    // B would have come back into B's port.
    let looped = RemoteMedia::from_sdp(relay_b.rtp, MediaDirection::SendRecv);
    scene.relay.set_remote(Leg::Caller, looped).unwrap();
    // Sent without yielding, so the relay reads all five in one go, and
    // reports B's latch once it has.
    for sequence in 0..5 {
        scene
            .b
            .rtp
            .send_to(&rtp(0xbbbb, sequence), relay_b.rtp)
            .await
            .unwrap();
    }
    let latched = timeout(PATIENCE, scene.relay.next_event()).await.unwrap();
    assert!(
        matches!(
            latched,
            Some(RelayEvent::Latched {
                leg: Leg::Callee,
                ..
            })
        ),
        "{latched:?}"
    );
    // The refused address is unknown, so A's real source is learned (its
    // third packet).
    for sequence in 0..3 {
        let from_a = rtp(0xaaaa, sequence);
        scene.a.rtp.send_to(&from_a, relay_a.rtp).await.unwrap();
    }
    assert_eq!(receive(&scene.b.rtp).await.0, rtp(0xaaaa, 2));
    assert!(nothing_waits_on(&scene.a.rtp), "B's audio went somewhere");
    let stats = scene.relay.stop().await.unwrap();
    assert_eq!(stats.dropped.forbidden_address, 5);
    assert_eq!(stats.dropped.bleed, 0, "nothing came back into B's port");
    assert_eq!(stats.dropped.learning, 2);
    assert_eq!(stats.b_to_a.packets, 0);
    assert_eq!(stats.a_to_b.packets, 1);
}
