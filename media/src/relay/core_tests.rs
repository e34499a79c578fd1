use super::*;
use proptest::prelude::*;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub(super) const TIMEOUT: Duration = Duration::from_secs(30);
/// The relay's own ports in these tests (on 127.0.0.1, a loopback node).
pub(super) const OWN_PORTS: std::ops::RangeInclusive<u16> = 50000..=50099;

pub(super) fn address(port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port)
}

/// A loopback node's relay, with `latching`.
pub(super) fn config_with(latching: LatchRules) -> RelayConfig {
    RelayConfig {
        rtp_timeout: TIMEOUT,
        latching,
        destinations: Arc::new(MediaDestinations::for_node(
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            OWN_PORTS,
        )),
    }
}

pub(super) fn config() -> RelayConfig {
    config_with(LatchRules::default())
}

pub(super) fn rtp(ssrc: u32, sequence: u16) -> Vec<u8> {
    let mut datagram = vec![0x80, 0x00];
    datagram.extend_from_slice(&sequence.to_be_bytes());
    datagram.extend_from_slice(&(u32::from(sequence) * 160).to_be_bytes());
    datagram.extend_from_slice(&ssrc.to_be_bytes());
    datagram.extend_from_slice(&[0xff; 160]);
    datagram
}

pub(super) const RTCP_RECEIVER_REPORT: [u8; 8] = [0x80, 201, 0, 1, 0, 0, 0, 42];

pub(super) struct Call {
    pub(super) relay: CallRelay,
    pub(super) start: Instant,
    pub(super) phone_a: SocketAddr,
    pub(super) phone_b: SocketAddr,
}

/// A call whose two legs both announced `sendrecv` media.
pub(super) fn answered_call() -> Call {
    answered_call_with(config())
}

pub(super) fn answered_call_with(config: RelayConfig) -> Call {
    let start = Instant::now();
    let phone_a = address(20000);
    let phone_b = address(30000);
    let mut relay = CallRelay::new(start, config);
    relay.set_remote(start, Leg::Caller, sendrecv(phone_a));
    relay.set_remote(start, Leg::Callee, sendrecv(phone_b));
    Call {
        relay,
        start,
        phone_a,
        phone_b,
    }
}

pub(super) fn sendrecv(rtp: SocketAddr) -> RemoteMedia {
    RemoteMedia::from_sdp(rtp, MediaDirection::SendRecv)
}

pub(super) fn forward(to: SocketAddr, via: Leg) -> Decision {
    Decision {
        action: Action::Forward { to, via },
        record: true,
    }
}

pub(super) fn dropped(reason: DropReason) -> Decision {
    Decision {
        action: Action::Drop(reason),
        record: false,
    }
}

pub(super) fn events(relay: &mut CallRelay) -> Vec<RelayEvent> {
    std::iter::from_fn(|| relay.poll_event()).collect()
}

impl Call {
    pub(super) fn send(&mut self, leg: Leg, source: SocketAddr, datagram: &[u8]) -> Decision {
        self.relay
            .handle_packet(self.start, leg, PacketKind::Rtp, source, datagram)
    }

    pub(super) fn send_at(&mut self, at: Duration, leg: Leg, source: SocketAddr) -> Decision {
        self.relay
            .handle_packet(self.start + at, leg, PacketKind::Rtp, source, &rtp(1, 1))
    }
}

#[test]
fn the_sdp_address_latches_and_both_directions_flow() {
    let mut call = answered_call();
    let (a, b) = (call.phone_a, call.phone_b);
    assert_eq!(
        call.send(Leg::Caller, a, &rtp(1, 1)),
        forward(b, Leg::Callee)
    );
    assert_eq!(
        call.send(Leg::Callee, b, &rtp(2, 1)),
        forward(a, Leg::Caller)
    );
    assert_eq!(
        events(&mut call.relay),
        vec![
            RelayEvent::Latched {
                leg: Leg::Caller,
                kind: PacketKind::Rtp,
                source: a
            },
            RelayEvent::Latched {
                leg: Leg::Callee,
                kind: PacketKind::Rtp,
                source: b
            },
        ]
    );
    let stats = call.relay.stats();
    assert_eq!(
        stats.a_to_b,
        DirectionStats {
            packets: 1,
            bytes: 172
        }
    );
    assert_eq!(
        stats.b_to_a,
        DirectionStats {
            packets: 1,
            bytes: 172
        }
    );
    assert_eq!(stats.legs.caller.rtp_source, Some(a));
    assert_eq!(stats.legs.callee.rtp_source, Some(b));
}

#[test]
fn a_natted_source_is_learned_and_gets_the_answers() {
    let mut call = answered_call();
    let behind_nat = address(45678);
    for sequence in 1..DEFAULT_LEARNING_PACKETS.into() {
        assert_eq!(
            call.send(Leg::Caller, behind_nat, &rtp(1, sequence)),
            dropped(DropReason::Learning)
        );
    }
    assert_eq!(
        call.send(Leg::Caller, behind_nat, &rtp(1, 3)),
        forward(call.phone_b, Leg::Callee)
    );
    // Symmetric RTP: B's media goes where A really sends from.
    assert_eq!(
        call.send(Leg::Callee, call.phone_b, &rtp(2, 1)),
        forward(behind_nat, Leg::Caller)
    );
    assert_eq!(call.relay.stats().legs.caller.rtp_source, Some(behind_nat));
}

#[test]
fn a_leg_without_sdp_learns_its_source_but_gets_nothing_back() {
    let start = Instant::now();
    let mut relay = CallRelay::new(start, config());
    let phone_b = address(30000);
    relay.set_remote(start, Leg::Callee, sendrecv(phone_b));
    let source = address(20002);
    for sequence in 1..3 {
        relay.handle_packet(
            start,
            Leg::Caller,
            PacketKind::Rtp,
            source,
            &rtp(1, sequence),
        );
    }
    let decision = relay.handle_packet(start, Leg::Caller, PacketKind::Rtp, source, &rtp(1, 3));
    assert_eq!(decision, forward(phone_b, Leg::Callee));
    // Nothing goes back to a leg that announced no address.
    let back = relay.handle_packet(start, Leg::Callee, PacketKind::Rtp, phone_b, &rtp(2, 1));
    assert_eq!(
        back,
        Decision {
            action: Action::Drop(DropReason::NoDestination),
            record: true
        }
    );
    assert_eq!(relay.stats().legs.caller.rtp_source, Some(source));
}

#[test]
fn a_third_address_after_latching_is_bleed() {
    let mut call = answered_call();
    let (a, b) = (call.phone_a, call.phone_b);
    call.send(Leg::Caller, a, &rtp(1, 1));
    let intruder = address(40000);
    for sequence in 2..12 {
        assert_eq!(
            call.send(Leg::Caller, intruder, &rtp(9, sequence)),
            dropped(DropReason::Bleed)
        );
    }
    assert_eq!(
        call.send(Leg::Caller, a, &rtp(1, 2)),
        forward(b, Leg::Callee)
    );
    let stats = call.relay.stats();
    assert_eq!(stats.dropped.bleed, 10);
    assert_eq!(stats.a_to_b.packets, 2);
    assert_eq!(stats.legs.caller.rtp_source, Some(a));
}

#[test]
fn a_reinvite_to_a_new_address_allows_one_new_latch() {
    let mut call = answered_call();
    let (a, b) = (call.phone_a, call.phone_b);
    call.send(Leg::Callee, b, &rtp(2, 1));
    let transferred = address(31000);
    assert_eq!(
        call.send(Leg::Callee, transferred, &rtp(3, 1)),
        dropped(DropReason::Bleed)
    );
    // Same address again: the latch stays.
    call.relay.set_remote(call.start, Leg::Callee, sendrecv(b));
    assert_eq!(
        call.send(Leg::Callee, transferred, &rtp(3, 1)),
        dropped(DropReason::Bleed)
    );
    call.relay
        .set_remote(call.start, Leg::Callee, sendrecv(transferred));
    assert_eq!(
        call.send(Leg::Callee, transferred, &rtp(3, 2)),
        forward(a, Leg::Caller)
    );
    assert_eq!(
        call.send(Leg::Caller, a, &rtp(1, 1)),
        forward(transferred, Leg::Callee)
    );
    assert_eq!(
        call.send(Leg::Callee, b, &rtp(2, 2)),
        dropped(DropReason::Bleed)
    );
    assert_eq!(call.relay.stats().legs.callee.rtp_source, Some(transferred));
}

#[test]
fn hold_stops_sending_to_the_held_leg_and_resume_restores_both_directions() {
    let mut call = answered_call();
    let (a, b) = (call.phone_a, call.phone_b);
    call.send(Leg::Caller, a, &rtp(1, 1));
    call.send(Leg::Callee, b, &rtp(2, 1));
    // B puts the call on hold the RFC 2543 way.
    let held = RemoteMedia::from_sdp(
        SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 30000),
        MediaDirection::SendOnly,
    );
    assert_eq!(held.rtp, None);
    call.relay.set_remote(call.start, Leg::Callee, held);
    call.relay.set_remote(
        call.start,
        Leg::Caller,
        RemoteMedia::from_sdp(a, MediaDirection::RecvOnly),
    );
    assert_eq!(
        call.send(Leg::Caller, a, &rtp(1, 2)),
        Decision {
            action: Action::Drop(DropReason::NoDestination),
            record: true
        }
    );
    // Music on hold from B still reaches A.
    assert_eq!(
        call.send(Leg::Callee, b, &rtp(2, 2)),
        forward(a, Leg::Caller)
    );
    call.relay.set_remote(call.start, Leg::Callee, sendrecv(b));
    call.relay.set_remote(call.start, Leg::Caller, sendrecv(a));
    assert_eq!(
        call.send(Leg::Caller, a, &rtp(1, 3)),
        forward(b, Leg::Callee)
    );
    assert_eq!(
        call.send(Leg::Callee, b, &rtp(2, 3)),
        forward(a, Leg::Caller)
    );
    assert_eq!(call.relay.stats().dropped.no_destination, 1);
}

#[test]
fn ssrc_changes_and_sequence_jumps_are_followed() {
    let mut call = answered_call();
    let (a, b) = (call.phone_a, call.phone_b);
    let stream = [
        (1, 100),
        (1, 101),
        (7, 5000),
        (7, 5001),
        (7, 40000),
        (7, 40001),
    ];
    for (ssrc, sequence) in stream {
        assert_eq!(
            call.send(Leg::Caller, a, &rtp(ssrc, sequence)),
            forward(b, Leg::Callee)
        );
    }
    let stats = call.relay.stats();
    assert_eq!(stats.legs.caller.ssrc_changes, 1);
    assert_eq!(stats.legs.caller.sequence_jumps, 1);
    assert_eq!(stats.a_to_b.packets, 6);
}

#[test]
fn rtcp_is_forwarded_to_the_rtcp_address_and_not_recorded() {
    let mut call = answered_call();
    let a_rtcp = address(20001);
    let b_rtcp = address(30001);
    let decision = call.relay.handle_packet(
        call.start,
        Leg::Caller,
        PacketKind::Rtcp,
        a_rtcp,
        &RTCP_RECEIVER_REPORT,
    );
    assert_eq!(
        decision,
        Decision {
            action: Action::Forward {
                to: b_rtcp,
                via: Leg::Callee
            },
            record: false
        }
    );
    // Multiplexed RTCP on the RTP port follows the RTP path, unrecorded.
    let muxed = call.relay.handle_packet(
        call.start,
        Leg::Caller,
        PacketKind::Rtp,
        call.phone_a,
        &RTCP_RECEIVER_REPORT,
    );
    assert_eq!(
        muxed,
        Decision {
            action: Action::Forward {
                to: call.phone_b,
                via: Leg::Callee
            },
            record: false
        }
    );
}

#[test]
fn the_media_timeout_fires_after_the_configured_silence() {
    let mut call = answered_call();
    let (a, b) = (call.phone_a, call.phone_b);
    call.send_at(Duration::from_secs(1), Leg::Caller, a);
    call.send_at(Duration::from_secs(5), Leg::Callee, b);
    // The call is quiet once both legs are: B spoke last.
    assert_eq!(
        call.relay.poll_timeout(),
        Some(call.start + Duration::from_secs(5) + TIMEOUT)
    );
    call.relay
        .handle_timeout(call.start + Duration::from_secs(34));
    assert_eq!(
        events(&mut call.relay)
            .iter()
            .filter(|e| matches!(e, RelayEvent::MediaTimeout { .. }))
            .count(),
        0
    );
    call.relay
        .handle_timeout(call.start + Duration::from_secs(35));
    assert_eq!(
        events(&mut call.relay).pop(),
        Some(RelayEvent::MediaTimeout {
            silent_since: call.start + Duration::from_secs(5)
        })
    );
    // Reported once, then again only after media came back and stopped.
    assert_eq!(call.relay.poll_timeout(), None);
    call.relay
        .handle_timeout(call.start + Duration::from_secs(99));
    assert_eq!(events(&mut call.relay), vec![]);
    call.send_at(Duration::from_secs(100), Leg::Caller, a);
    assert_eq!(
        call.relay.poll_timeout(),
        Some(call.start + Duration::from_secs(100) + TIMEOUT)
    );
}

#[test]
fn one_leg_talking_keeps_the_call_alive() {
    let mut call = answered_call();
    let a = call.phone_a;
    for second in 1..100 {
        call.send_at(Duration::from_secs(second), Leg::Caller, a);
        call.relay
            .handle_timeout(call.start + Duration::from_secs(second));
    }
    assert!(events(&mut call.relay)
        .iter()
        .all(|event| !matches!(event, RelayEvent::MediaTimeout { .. })));
}

#[test]
fn a_held_call_does_not_time_out_and_resume_restarts_the_clock() {
    let mut call = answered_call();
    let (a, b) = (call.phone_a, call.phone_b);
    let hold_at = call.start + Duration::from_secs(10);
    call.relay.set_remote(
        hold_at,
        Leg::Caller,
        RemoteMedia::from_sdp(a, MediaDirection::SendOnly),
    );
    call.relay.set_remote(
        hold_at,
        Leg::Callee,
        RemoteMedia::from_sdp(b, MediaDirection::RecvOnly),
    );
    assert_eq!(call.relay.poll_timeout(), None);
    call.relay
        .handle_timeout(call.start + Duration::from_secs(3600));
    assert_eq!(events(&mut call.relay), vec![]);

    let resume_at = call.start + Duration::from_secs(3600);
    call.relay.set_remote(resume_at, Leg::Caller, sendrecv(a));
    call.relay.set_remote(resume_at, Leg::Callee, sendrecv(b));
    assert_eq!(call.relay.poll_timeout(), Some(resume_at + TIMEOUT));
    call.relay
        .handle_timeout(resume_at + Duration::from_secs(1));
    assert_eq!(events(&mut call.relay), vec![]);
    call.relay.handle_timeout(resume_at + TIMEOUT);
    assert_eq!(
        events(&mut call.relay),
        vec![RelayEvent::MediaTimeout {
            silent_since: resume_at
        }]
    );
}

#[test]
fn an_unanswered_call_does_not_time_out() {
    let start = Instant::now();
    let mut relay = CallRelay::new(start, config());
    relay.set_remote(start, Leg::Caller, sendrecv(address(20000)));
    assert_eq!(relay.poll_timeout(), None);
    relay.set_remote(start, Leg::Callee, RemoteMedia::default());
    assert_eq!(relay.poll_timeout(), None);
    relay.handle_timeout(start + Duration::from_secs(3600));
    assert_eq!(events(&mut relay), vec![]);
    let answered_at = start + Duration::from_secs(40);
    relay.set_remote(answered_at, Leg::Callee, sendrecv(address(30000)));
    assert_eq!(relay.poll_timeout(), Some(answered_at + TIMEOUT));
}

#[test]
fn malformed_packets_are_dropped_and_do_not_latch() {
    let mut call = answered_call();
    let garbage = address(40000);
    for datagram in [&[][..], &[0x80], &[0x40; 20], &[0x80, 0, 0, 1]] {
        assert_eq!(
            call.send(Leg::Caller, garbage, datagram),
            dropped(DropReason::Malformed)
        );
    }
    assert_eq!(
        call.relay.handle_packet(
            call.start,
            Leg::Caller,
            PacketKind::Rtcp,
            garbage,
            &rtp(1, 1)
        ),
        dropped(DropReason::Malformed)
    );
    assert_eq!(call.relay.stats().legs.caller.rtp_source, None);
    assert_eq!(call.relay.stats().dropped.malformed, 5);
    assert_eq!(
        call.send(Leg::Caller, call.phone_a, &rtp(1, 1)),
        forward(call.phone_b, Leg::Callee)
    );
}

fn any_leg() -> impl Strategy<Value = Leg> {
    prop_oneof![Just(Leg::Caller), Just(Leg::Callee)]
}

fn any_kind() -> impl Strategy<Value = PacketKind> {
    prop_oneof![Just(PacketKind::Rtp), Just(PacketKind::Rtcp)]
}

proptest! {
    #[test]
    fn random_datagrams_never_panic_and_every_one_is_accounted_for(
        packets in proptest::collection::vec(
            (any_leg(), any_kind(), 20000u16..20004, any::<u64>(), proptest::collection::vec(any::<u8>(), 0..64)),
            1..64,
        )
    ) {
        let mut call = answered_call();
        for (leg, kind, port, millis, datagram) in &packets {
            let now = call.start + Duration::from_millis(*millis % 100_000_000);
            call.relay.handle_packet(now, *leg, *kind, address(*port), datagram);
            call.relay.handle_timeout(now);
        }
        let stats = call.relay.stats();
        let forwarded = stats.a_to_b.packets + stats.b_to_a.packets;
        let dropped: u64 = DropReason::ALL.iter().map(|reason| stats.dropped.get(*reason)).sum();
        prop_assert_eq!(forwarded + dropped, packets.len() as u64);
    }
}
