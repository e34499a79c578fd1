//! The media relay against hostile peers, end to end: the real binary, sipp
//! as the tenant's PBX (127.0.0.1) and carrier (127.0.0.2), and an attacker
//! on 127.0.0.9 who knows the call's relay ports (it reads them from the
//! kernel's table, as a sniffer or a port scan would find them).
//!
//! - RTP hijack: packets sent to a leg's relay port ahead of the peer must not
//!   win that leg's audio, nor put audio into the recording;
//! - strict source: nothing but the SDP address is heard, even before media;
//! - peer-chosen destinations: an SDP naming the gateway's own relay port, or
//!   an address outside the node's media destinations, gets nothing;
//! - the port pool's gauges are on /metrics.

mod support;

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::config::{GatewayConfig, TenantSpec};
use support::gateway::Gateway;
use support::ports::free_port;
use support::recorded::{
    caller_scenario, capture, capture_audio, capture_packet_samples, fetch, from_first_sound,
    pbx_caller, wait_listed, RecordedCall, CARRIER_IP, PBX_IP, TENANT,
};
use support::sipp::{scenario, RunningSipp, SippCommand};
use support::sockets::{bound_udp_ports, Transport};

const ATTACKER_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 9);
/// Where the NAT'd carrier says it receives media; nobody listens there.
const NAT_INSIDE_IP: &str = "127.0.0.4";
const GATEWAY_IP: Ipv4Addr = Ipv4Addr::LOCALHOST;
/// Upper bound of every wait for something the gateway does.
const BOUND: Duration = Duration::from_secs(20);
const POLL: Duration = Duration::from_millis(20);
/// Upper bound of the attacker's flood: rounds of packets, 10 ms apart.
const FLOOD_ROUNDS: u32 = 2_000;
const ATTACKER_SSRC: u32 = 0x0bad_cafe;

fn tenant(pbx: SocketAddr, carrier: SocketAddr, policy: &str) -> TenantSpec {
    let mut tenant = TenantSpec::new(TENANT, "+33123456789", pbx, carrier);
    tenant.recording_policy = policy.to_string();
    tenant
}

fn peers() -> (SocketAddr, SocketAddr) {
    (
        SocketAddr::from((PBX_IP, free_port(PBX_IP))),
        SocketAddr::from((CARRIER_IP, free_port(CARRIER_IP))),
    )
}

/// Waits up to [`BOUND`] for `done`, polling.
fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + BOUND;
    while !done() {
        assert!(Instant::now() < deadline, "{what} within {BOUND:?}");
        std::thread::sleep(POLL);
    }
}

fn relayed(gateway: &Gateway, direction: &str) -> f64 {
    gateway.metrics().count(
        "greffier_media_relayed_packets_total",
        &[("direction", direction)],
    )
}

fn dropped(gateway: &Gateway, reason: &str) -> f64 {
    gateway
        .metrics()
        .count("greffier_media_dropped_total", &[("reason", reason)])
}

/// The relay's ports bound for calls in progress.
fn relay_ports(gateway: &Gateway) -> Vec<u16> {
    bound_udp_ports(GATEWAY_IP, gateway.config.media_ports())
}

/// The carrier answering at `carrier` with `sdp_ip` in its SDP, and playing
/// the capture from one second after the answer (`uas_answer_play.xml`).
fn talking_carrier(gateway: &Gateway, carrier: SocketAddr, sdp_ip: &str) -> RunningSipp {
    let run_dir = gateway.config.run_dir();
    std::fs::create_dir_all(&run_dir).unwrap();
    let written = run_dir.join("uas_answer_play.xml");
    let template = std::fs::read_to_string(scenario("uas_answer_play.xml")).expect("scenario");
    std::fs::write(
        &written,
        template.replace("@PCAP@", &capture().display().to_string()),
    )
    .expect("write the answerer scenario");
    SippCommand::new("carrier", &written, &run_dir, Transport::Udp, CARRIER_IP)
        .local_port(carrier.port())
        .args(["-key", "sdp_ip", sdp_ip])
        .spawn()
}

/// Someone who knows a call's relay ports and sends to them.
struct Attacker {
    socket: UdpSocket,
    sequence: u16,
    received: usize,
}

impl Attacker {
    fn bind() -> Self {
        let socket = UdpSocket::bind((ATTACKER_IP, 0)).expect("bind the attacker on 127.0.0.9");
        socket.set_nonblocking(true).expect("non-blocking");
        Self {
            socket,
            sequence: 0,
            received: 0,
        }
    }

    /// `packets` datagrams of one stream to each port: RTP (loud A-law) to
    /// the even ones, RTCP receiver reports to the odd ones.
    fn send(&mut self, ports: &[u16], packets: u16) {
        for _ in 0..packets {
            self.sequence = self.sequence.wrapping_add(1);
            for port in ports {
                let datagram = if port % 2 == 0 {
                    let mut rtp = vec![0x80, 0x08];
                    rtp.extend_from_slice(&self.sequence.to_be_bytes());
                    rtp.extend_from_slice(&(u32::from(self.sequence) * 160).to_be_bytes());
                    rtp.extend_from_slice(&ATTACKER_SSRC.to_be_bytes());
                    rtp.extend_from_slice(&[0xaa; 160]);
                    rtp
                } else {
                    let mut rtcp = vec![0x80, 201, 0, 1];
                    rtcp.extend_from_slice(&ATTACKER_SSRC.to_be_bytes());
                    rtcp
                };
                // A port the call already gave back refuses it: no matter.
                let _ = self.socket.send_to(&datagram, (GATEWAY_IP, *port));
            }
        }
    }

    /// Reads whatever reached the attacker so far.
    fn collect(&mut self) -> usize {
        let mut buffer = [0u8; 2048];
        loop {
            match self.socket.recv_from(&mut buffer) {
                Ok(_) => self.received += 1,
                Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {
                    return self.received
                }
                // An ICMP error for a port already closed.
                Err(_) => {}
            }
        }
    }
}

/// The recording's channel holds the capture from its packet `skipped` on;
/// returns `skipped`, looked for among the first `up_to` packets.
fn capture_from_packet(channel: &[i16], up_to: usize) -> Option<usize> {
    let expected = capture_audio();
    let per_packet = capture_packet_samples();
    let heard = from_first_sound(channel);
    (0..=up_to).find(|skipped| {
        let rest = &expected[skipped * per_packet..];
        heard.len() >= rest.len() && heard[..rest.len()] == rest[..]
    })
}

#[test]
fn one_packet_ahead_of_a_natted_carrier_neither_hears_the_pbx_nor_reaches_the_recording() {
    support::sipp::require_sipp();
    let (pbx, carrier) = peers();
    let gateway = Gateway::start(GatewayConfig::write(vec![tenant(pbx, carrier, "all")]));
    let run_dir = gateway.config.run_dir();
    std::fs::create_dir_all(&run_dir).unwrap();
    // The carrier is behind NAT: its SDP names an inside address.
    let answerer = talking_carrier(&gateway, carrier, NAT_INSIDE_IP);
    let mut caller = pbx_caller(&gateway, pbx, &caller_scenario(&run_dir), "10000").spawn();

    // The call is answered and the PBX talks: one packet to each relay port,
    // ahead of the carrier. With the old first-packet latch it won the
    // carrier's leg for the whole call.
    wait_for("the PBX's audio relayed", || {
        relayed(&gateway, "a_to_b") > 0.0
    });
    let ports = relay_ports(&gateway);
    assert_eq!(ports.len(), 4, "one call's two RTP/RTCP pairs: {ports:?}");
    let mut attacker = Attacker::bind();
    attacker.send(&ports, 1);

    wait_for("the carrier's audio relayed", || {
        relayed(&gateway, "b_to_a") > 0.0
    });
    // The pool's gauges while the call holds its two pairs.
    let during_call = gateway.metrics();
    // During the call, a few more.
    attacker.send(&ports, 2);

    while caller.is_running() {
        attacker.collect();
        std::thread::sleep(POLL);
    }
    caller.wait().assert_calls_succeeded(1);
    answerer.stop();
    assert_eq!(
        attacker.collect(),
        0,
        "the attacker received the call's audio"
    );

    let config = gateway.config.path().to_path_buf();
    let entry = wait_listed(&config, BOUND);
    let id = entry["id"].as_str().expect("an id");
    let recording = fetch(&config, id, &run_dir.join("call.wav"));
    assert_eq!(
        capture_from_packet(&recording.left, 0),
        Some(0),
        "the PBX's channel is the capture, sample for sample"
    );
    // The carrier's first packets teach the relay its real source; they are
    // dropped, and the rest is exactly the capture.
    let skipped = capture_from_packet(&recording.right, 6);
    assert!(
        matches!(skipped, Some(2..=6)),
        "the carrier's channel is the capture from its third packet on: {skipped:?}"
    );
    assert!(dropped(&gateway, "learning") >= 3.0);
    assert!(dropped(&gateway, "bleed") >= 2.0);
    let family = [("family", "ipv4")];
    assert_eq!(
        during_call.sum("greffier_media_ports_in_use", &family),
        Some(4.0)
    );
    assert_eq!(
        during_call.sum("greffier_media_ports_free", &family),
        Some(196.0)
    );
}

#[test]
fn with_strict_source_a_flood_from_elsewhere_gets_nothing_even_before_media() {
    support::sipp::require_sipp();
    let (pbx, carrier) = peers();
    let mut tenant = tenant(pbx, carrier, "all");
    tenant.extra_toml = "\n[media]\nstrict_source = true\n".to_string();
    let gateway = Gateway::start(GatewayConfig::write(vec![tenant]));
    let run_dir = gateway.config.run_dir();
    std::fs::create_dir_all(&run_dir).unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let media_ports = gateway.config.media_ports();
    let flood = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut attacker = Attacker::bind();
            let mut ports = Vec::new();
            for _ in 0..FLOOD_ROUNDS {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                // From the moment the relay binds its ports (the INVITE),
                // bursts of one SSRC, enough to be learned without strict
                // source.
                if ports.len() < 4 {
                    ports = bound_udp_ports(GATEWAY_IP, media_ports.clone());
                }
                attacker.send(&ports, 5);
                attacker.collect();
                std::thread::sleep(Duration::from_millis(10));
            }
            (attacker.collect(), ports)
        })
    };
    RecordedCall::start(&gateway, pbx, carrier, "8000").finish();
    stop.store(true, Ordering::Relaxed);
    let (received, ports) = flood.join().expect("the attacker's thread");
    assert_eq!(ports.len(), 4, "the attacker found the call's ports");
    assert_eq!(received, 0, "the attacker received the call's audio");

    let config = gateway.config.path().to_path_buf();
    let entry = wait_listed(&config, BOUND);
    let id = entry["id"].as_str().expect("an id");
    let recording = fetch(&config, id, &run_dir.join("call.wav"));
    assert_eq!(capture_from_packet(&recording.left, 0), Some(0));
    assert_eq!(capture_from_packet(&recording.right, 0), Some(0));
    assert!(dropped(&gateway, "strict_source") > 0.0);
}

/// A call whose PBX asks for its media at `target`: the carrier talks for
/// about two seconds, and nothing of it may reach `victim`.
fn media_aimed_at(gateway: &Gateway, pbx: SocketAddr, carrier: SocketAddr, victim: &UdpSocket) {
    let run_dir = gateway.config.run_dir();
    std::fs::create_dir_all(&run_dir).unwrap();
    victim.set_nonblocking(true).expect("non-blocking");
    let target = victim.local_addr().expect("the victim's address");
    let answerer = talking_carrier(gateway, carrier, &CARRIER_IP.to_string());
    pbx_caller(gateway, pbx, &scenario("uac_media_elsewhere.xml"), "3000")
        .args(["-key", "target_ip", &target.ip().to_string()])
        .args(["-key", "target_port", &target.port().to_string()])
        .run()
        .assert_calls_succeeded(1);
    answerer.stop();
    let mut buffer = [0u8; 2048];
    let mut received = 0;
    while victim.recv_from(&mut buffer).is_ok() {
        received += 1;
    }
    assert_eq!(received, 0, "the relay sent media to {target}");
    // The carrier did talk, and the relay refused to pass it on.
    assert!(
        dropped(gateway, "forbidden_address") > 0.0,
        "the carrier's audio reached the relay and was refused"
    );
}

#[test]
fn an_sdp_naming_the_gateways_own_relay_port_gets_no_media() {
    support::sipp::require_sipp();
    let (pbx, carrier) = peers();
    let gateway = Gateway::start(GatewayConfig::write(vec![tenant(pbx, carrier, "none")]));
    // One of the relay's own ports, as another call holds it.
    let own_port = *gateway.config.media_ports().start() + 100;
    let victim = UdpSocket::bind((GATEWAY_IP, own_port)).expect("bind a relay port");
    media_aimed_at(&gateway, pbx, carrier, &victim);
}

#[test]
fn an_sdp_naming_a_loopback_victim_outside_the_media_destinations_gets_no_media() {
    support::sipp::require_sipp();
    let (pbx, carrier) = peers();
    let config = GatewayConfig::write_with_node(
        vec![tenant(pbx, carrier, "none")],
        r#"media_destinations = ["127.0.0.1/32", "127.0.0.2/32"]"#,
    );
    let gateway = Gateway::start(config);
    let victim_ip = Ipv4Addr::new(127, 0, 0, 10);
    let victim = UdpSocket::bind((victim_ip, 0)).expect("bind the victim on 127.0.0.10");
    media_aimed_at(&gateway, pbx, carrier, &victim);
}

#[test]
fn the_port_pool_gauges_are_on_metrics_from_the_start() {
    let (pbx, carrier) = peers();
    let gateway = Gateway::start(GatewayConfig::write(vec![tenant(pbx, carrier, "none")]));
    let metrics = gateway.metrics();
    let family = [("family", "ipv4")];
    let ports = gateway.config.media_ports().len();
    assert_eq!(
        metrics.sum("greffier_media_ports_free", &family),
        Some(ports as f64),
        "{}",
        metrics.text
    );
    assert_eq!(
        metrics.sum("greffier_media_ports_in_use", &family),
        Some(0.0)
    );
    assert_eq!(
        metrics.sum("greffier_media_port_allocation_failures_total", &family),
        Some(0.0)
    );
}
