//! The latching and destination rules, one test per rule, each written as the
//! attack it stops: an intruder (`127.0.0.9`) sending to a leg's relay port.

use super::core_tests::*;
use super::*;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Instant;

fn intruder(port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 9)), port)
}

fn strict() -> RelayConfig {
    config_with(LatchRules {
        strict_source: true,
        ..LatchRules::default()
    })
}

fn rtcp_from(ssrc: u32) -> [u8; 8] {
    let [a, b, c, d] = ssrc.to_be_bytes();
    [0x80, 201, 0, 1, a, b, c, d]
}

/// The single event of `leg`'s RTP latching to `source`.
fn latched_rtp(leg: Leg, source: SocketAddr) -> Vec<RelayEvent> {
    vec![RelayEvent::Latched {
        leg,
        kind: PacketKind::Rtp,
        source,
    }]
}

impl Call {
    fn send_rtcp(&mut self, leg: Leg, source: SocketAddr, datagram: &[u8]) -> Decision {
        self.relay
            .handle_packet(self.start, leg, PacketKind::Rtcp, source, datagram)
    }
}

#[test]
fn the_sdp_source_is_accepted_from_its_first_packet() {
    let mut call = answered_call();
    let (a, b) = (call.phone_a, call.phone_b);
    assert_eq!(
        call.send(Leg::Caller, a, &rtp(1, 1)),
        forward(b, Leg::Callee)
    );
    assert_eq!(events(&mut call.relay), latched_rtp(Leg::Caller, a));
}

#[test]
fn one_packet_sent_ahead_of_the_peer_neither_steals_nor_injects() {
    let mut call = answered_call();
    let (a, b) = (call.phone_a, call.phone_b);
    let attacker = intruder(40000);
    // The attack of the old first-packet latch: one datagram before B speaks.
    assert_eq!(
        call.send(Leg::Callee, attacker, &rtp(9, 1)),
        dropped(DropReason::Learning),
        "not forwarded, and not recorded"
    );
    // A's audio still goes to B's SDP address, not to the attacker.
    assert_eq!(
        call.send(Leg::Caller, a, &rtp(1, 1)),
        forward(b, Leg::Callee)
    );
    assert_eq!(
        call.send(Leg::Callee, b, &rtp(2, 1)),
        forward(a, Leg::Caller)
    );
    assert_eq!(
        call.send(Leg::Callee, attacker, &rtp(9, 2)),
        dropped(DropReason::Bleed)
    );
    let stats = call.relay.stats();
    assert_eq!((stats.dropped.learning, stats.dropped.bleed), (1, 1));
    assert_eq!(stats.legs.callee.rtp_source, Some(b));
}

#[test]
fn a_foreign_source_is_learned_after_three_packets_of_one_ssrc() {
    let mut call = answered_call();
    let natted = address(45678);
    assert_eq!(
        call.send(Leg::Caller, natted, &rtp(5, 1)),
        dropped(DropReason::Learning)
    );
    assert_eq!(
        call.send(Leg::Caller, natted, &rtp(5, 2)),
        dropped(DropReason::Learning)
    );
    assert_eq!(events(&mut call.relay), vec![]);
    assert_eq!(
        call.send(Leg::Caller, natted, &rtp(5, 3)),
        forward(call.phone_b, Leg::Callee)
    );
    assert_eq!(events(&mut call.relay), latched_rtp(Leg::Caller, natted));
    assert_eq!(
        call.send(Leg::Callee, call.phone_b, &rtp(2, 1)),
        forward(natted, Leg::Caller)
    );
}

#[test]
fn learning_needs_consecutive_packets_of_one_ssrc_from_one_source() {
    let mut call = answered_call();
    let (natted, attacker) = (address(45678), intruder(40000));
    // Interleaved sources: neither gets three in a row.
    for sequence in 1..10 {
        let source = if sequence % 2 == 0 { natted } else { attacker };
        assert_eq!(
            call.send(Leg::Caller, source, &rtp(5, sequence)),
            dropped(DropReason::Learning)
        );
    }
    // One source, but a new SSRC on every packet.
    for ssrc in 10..20 {
        assert_eq!(
            call.send(Leg::Caller, attacker, &rtp(ssrc, 1)),
            dropped(DropReason::Learning)
        );
    }
    // A new SSRC restarts the count.
    call.send(Leg::Caller, natted, &rtp(7, 1));
    call.send(Leg::Caller, natted, &rtp(7, 2));
    assert_eq!(
        call.send(Leg::Caller, natted, &rtp(8, 3)),
        dropped(DropReason::Learning)
    );
    assert_eq!(call.relay.stats().legs.caller.rtp_source, None);
    assert_eq!(call.relay.stats().a_to_b.packets, 0);
}

#[test]
fn the_sdp_source_takes_the_leg_back_from_a_learned_source() {
    let mut call = answered_call();
    let (a, b) = (call.phone_a, call.phone_b);
    let attacker = intruder(40000);
    for sequence in 1..=3 {
        call.send(Leg::Caller, attacker, &rtp(9, sequence));
    }
    assert_eq!(call.relay.stats().legs.caller.rtp_source, Some(attacker));
    assert_eq!(
        call.send(Leg::Callee, b, &rtp(2, 1)),
        forward(attacker, Leg::Caller),
        "learning accepted the attacker while A was silent"
    );
    // A speaks: the leg is A's again, for good.
    assert_eq!(
        call.send(Leg::Caller, a, &rtp(1, 1)),
        forward(b, Leg::Callee)
    );
    assert_eq!(
        call.send(Leg::Callee, b, &rtp(2, 2)),
        forward(a, Leg::Caller)
    );
    for sequence in 4..20 {
        assert_eq!(
            call.send(Leg::Caller, attacker, &rtp(9, sequence)),
            dropped(DropReason::Bleed)
        );
    }
    assert_eq!(call.relay.stats().legs.caller.rtp_source, Some(a));
}

#[test]
fn nothing_foreign_is_learned_once_the_sdp_source_has_sent() {
    let mut call = answered_call();
    let a = call.phone_a;
    call.send(Leg::Caller, a, &rtp(1, 1));
    for sequence in 1..50 {
        assert_eq!(
            call.send(Leg::Caller, intruder(40000), &rtp(9, sequence)),
            dropped(DropReason::Bleed)
        );
    }
    assert_eq!(call.relay.stats().legs.caller.rtp_source, Some(a));
}

#[test]
fn a_learned_source_keeps_the_leg_against_another_foreign_source() {
    let mut call = answered_call();
    let natted = address(45678);
    for sequence in 1..=3 {
        call.send(Leg::Caller, natted, &rtp(5, sequence));
    }
    for sequence in 1..10 {
        assert_eq!(
            call.send(Leg::Caller, intruder(40000), &rtp(9, sequence)),
            dropped(DropReason::Bleed)
        );
    }
    assert_eq!(
        call.send(Leg::Caller, natted, &rtp(5, 4)),
        forward(call.phone_b, Leg::Callee)
    );
}

#[test]
fn strict_source_drops_everything_not_from_the_sdp_address() {
    let start = Instant::now();
    let mut relay = CallRelay::new(start, strict());
    let attacker = intruder(40000);
    // Before any SDP: nothing is accepted at all.
    for sequence in 1..10 {
        assert_eq!(
            relay.handle_packet(
                start,
                Leg::Callee,
                PacketKind::Rtp,
                attacker,
                &rtp(9, sequence)
            ),
            dropped(DropReason::StrictSource)
        );
    }
    let (a, b) = (address(20000), address(30000));
    relay.set_remote(start, Leg::Caller, sendrecv(a));
    relay.set_remote(start, Leg::Callee, sendrecv(b));
    for source in [attacker, address(45678)] {
        for sequence in 1..10 {
            assert_eq!(
                relay.handle_packet(
                    start,
                    Leg::Caller,
                    PacketKind::Rtp,
                    source,
                    &rtp(9, sequence)
                ),
                dropped(DropReason::StrictSource)
            );
        }
    }
    assert_eq!(
        relay.handle_packet(start, Leg::Caller, PacketKind::Rtp, a, &rtp(1, 1)),
        forward(b, Leg::Callee)
    );
    let stats = relay.stats();
    assert_eq!(stats.dropped.strict_source, 27);
    assert_eq!(stats.legs.caller.rtp_source, Some(a));
    assert_eq!(stats.legs.callee.rtp_source, None);
}

#[test]
fn rtcp_follows_the_same_rules_on_its_own_latch() {
    let mut call = answered_call();
    let (a_rtcp, b_rtcp) = (address(20001), address(30001));
    let attacker = intruder(40001);
    let forward_rtcp = Action::Forward {
        to: b_rtcp,
        via: Leg::Callee,
    };
    // Before A's RTP is heard, no RTCP source is learned at all.
    for _ in 0..5 {
        assert_eq!(
            call.send_rtcp(Leg::Caller, attacker, &rtcp_from(9)),
            dropped(DropReason::Learning)
        );
    }
    call.send(Leg::Caller, call.phone_a, &rtp(1, 1));
    // Then only on the host A's RTP comes from: not the attacker's.
    for _ in 0..5 {
        assert_eq!(
            call.send_rtcp(Leg::Caller, attacker, &rtcp_from(9)),
            dropped(DropReason::Learning)
        );
    }
    // A behind NAT: its RTCP comes from another port of A's host, learned on
    // the third report.
    let natted_rtcp = address(45679);
    for _ in 0..2 {
        assert_eq!(
            call.send_rtcp(Leg::Caller, natted_rtcp, &rtcp_from(1)),
            dropped(DropReason::Learning)
        );
    }
    let third = call.send_rtcp(Leg::Caller, natted_rtcp, &rtcp_from(1));
    assert_eq!(third.action, forward_rtcp);
    assert!(!third.record, "RTCP is never recorded");
    // The SDP's RTCP address takes it back, and keeps it.
    assert_eq!(
        call.send_rtcp(Leg::Caller, a_rtcp, &rtcp_from(1)).action,
        forward_rtcp
    );
    assert_eq!(
        call.send_rtcp(Leg::Caller, natted_rtcp, &rtcp_from(1)),
        dropped(DropReason::Bleed)
    );
    assert_eq!(call.relay.stats().legs.caller.rtcp_source, Some(a_rtcp));

    let mut strict_call = answered_call_with(strict());
    strict_call.send(Leg::Caller, strict_call.phone_a, &rtp(1, 1));
    for _ in 0..5 {
        assert_eq!(
            strict_call.send_rtcp(Leg::Caller, natted_rtcp, &rtcp_from(1)),
            dropped(DropReason::StrictSource)
        );
    }
}

#[test]
fn an_sdp_naming_the_relays_own_port_gets_nothing_and_is_not_latched() {
    let mut call = answered_call();
    let own_port = address(50010);
    assert!(OWN_PORTS.contains(&own_port.port()));
    call.relay
        .set_remote(call.start, Leg::Caller, sendrecv(own_port));
    assert_eq!(
        call.send(Leg::Callee, call.phone_b, &rtp(2, 1)),
        Decision {
            action: Action::Drop(DropReason::ForbiddenAddress),
            record: true
        },
        "B's audio is recorded, but not sent into another call"
    );
    // A datagram spoofed from that port is not a source either.
    for sequence in 1..10 {
        assert_eq!(
            call.send(Leg::Caller, own_port, &rtp(9, sequence)),
            dropped(DropReason::ForbiddenAddress)
        );
    }
    // The refused address is unknown: the real A can still be learned.
    let natted = address(45678);
    for sequence in 1..=3 {
        call.send(Leg::Caller, natted, &rtp(1, sequence));
    }
    assert_eq!(
        call.send(Leg::Callee, call.phone_b, &rtp(2, 2)),
        forward(natted, Leg::Caller)
    );
    assert_eq!(call.relay.stats().dropped.forbidden_address, 10);
}

#[test]
fn a_refused_rtcp_address_is_refused_on_its_own() {
    let mut call = answered_call();
    let remote = sendrecv(call.phone_a).with_rtcp(address(50011));
    call.relay.set_remote(call.start, Leg::Caller, remote);
    assert_eq!(
        call.send_rtcp(Leg::Callee, address(30001), &rtcp_from(2)),
        dropped(DropReason::ForbiddenAddress)
    );
    assert_eq!(
        call.send(Leg::Callee, call.phone_b, &rtp(2, 1)),
        forward(call.phone_a, Leg::Caller),
        "RTP to the allowed address still flows"
    );
}

fn public_node(destinations: MediaDestinations) -> Call {
    answered_call_with(RelayConfig {
        destinations: Arc::new(destinations),
        ..config()
    })
}

fn public(last: u8, port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(198, 51, 100, last)), port)
}

#[test]
fn loopback_is_refused_on_a_node_that_is_not_on_loopback() {
    let node = MediaDestinations::for_node("192.0.2.1".parse().unwrap(), 30000..=30999);
    let mut call = public_node(node);
    let (a, b) = (public(1, 20000), public(2, 20000));
    call.relay.set_remote(call.start, Leg::Callee, sendrecv(b));
    call.relay
        .set_remote(call.start, Leg::Caller, sendrecv(address(4000)));
    assert_eq!(
        call.send(Leg::Callee, b, &rtp(2, 1)),
        Decision {
            action: Action::Drop(DropReason::ForbiddenAddress),
            record: true
        }
    );
    // Nor is a loopback source learned.
    for sequence in 1..5 {
        assert_eq!(
            call.send(Leg::Caller, address(4000), &rtp(1, sequence)),
            dropped(DropReason::ForbiddenAddress)
        );
    }
    call.relay.set_remote(call.start, Leg::Caller, sendrecv(a));
    assert_eq!(
        call.send(Leg::Callee, b, &rtp(2, 2)),
        forward(a, Leg::Caller)
    );
}

#[test]
fn an_address_outside_the_operator_list_is_neither_sent_to_nor_learned() {
    let node = MediaDestinations::for_node("192.0.2.1".parse().unwrap(), 30000..=30999)
        .only(vec!["198.51.100.0/24".parse().unwrap()]);
    let mut call = public_node(node);
    let (a, b, third_party) = (
        public(1, 20000),
        public(2, 20000),
        SocketAddr::new(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 5)), 9),
    );
    call.relay.set_remote(call.start, Leg::Callee, sendrecv(b));
    call.relay
        .set_remote(call.start, Leg::Caller, sendrecv(third_party));
    assert_eq!(
        call.send(Leg::Callee, b, &rtp(2, 1)).action,
        Action::Drop(DropReason::ForbiddenAddress)
    );
    for sequence in 1..5 {
        assert_eq!(
            call.send(Leg::Caller, third_party, &rtp(1, sequence)),
            dropped(DropReason::ForbiddenAddress)
        );
    }
    // A listed source behind NAT is learned as usual.
    for sequence in 1..=3 {
        call.send(Leg::Caller, a, &rtp(1, sequence));
    }
    assert_eq!(
        call.send(Leg::Callee, b, &rtp(2, 2)),
        forward(a, Leg::Caller)
    );
}
