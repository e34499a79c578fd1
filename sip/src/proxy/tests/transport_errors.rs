//! Transport errors towards the next hop (a refused connection, an ICMP error): the
//! client transaction ends at once (RFC 3261 §17.1.1.2, §17.1.2.2) and the sender of
//! the request gets a 503 (§16.7 step 6, §8.1.3.1) instead of waiting for Timer B
//! or C; the call ends exactly once and nothing stays behind.

use super::*;

impl Harness {
    fn transport_error(&mut self, towards: Peer) -> Vec<(Peer, Message)> {
        self.proxy
            .handle_transport_error(self.now, towards, &mut self.policy);
        self.outputs()
    }

    /// Runs every timer out, acknowledging finals sent to the PBX as it would.
    fn drain_to_the_end(&mut self) {
        self.advance(Duration::from_secs(300));
    }
}

fn pbx_ack_of(call_id: &str, branch: &str, to_tag: &str) -> String {
    format!(
        "ACK sip:+33199000001@{CARRIER} SIP/2.0\r\nVia: SIP/2.0/UDP {PBX};branch={branch}\r\n\
         From: <sip:+33199000002@{PBX}>;tag=caller\r\nTo: <sip:+33199000001@{CARRIER}>;tag={to_tag}\r\n\
         Call-ID: {call_id}\r\nCSeq: 1 ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    )
}

#[test]
fn an_unreachable_next_hop_gets_the_caller_a_503_at_once_and_ends_the_call_once() {
    let mut h = Harness::new();
    let out = h.receive(udp(PBX), &invite("call-te", "z9hG4bK-te"));
    assert_eq!(statuses(&out, PBX), [100]);
    assert_eq!(
        only(&out, CARRIER).len(),
        1,
        "the INVITE went to the carrier"
    );

    let out = h.transport_error(udp(CARRIER));
    let answered = only(&out, PBX);
    assert_eq!(
        statuses(&out, PBX),
        [503],
        "503 at once, no Timer B or C wait"
    );
    assert!(
        only(&out, CARRIER).is_empty(),
        "nothing more towards the dead hop"
    );
    let to_tag = answered[0]
        .to_tag()
        .expect("the 503 has a To tag")
        .to_string();
    let dialog = started(&h.policy.events)[0];
    assert_eq!(
        ended(&h.policy.events),
        [(dialog, EndReason::Rejected(503))]
    );
    assert_eq!(h.proxy.dialog_count(), 0);

    // A second report of the same failure, and the retransmission timers of the dead
    // hop, change nothing: no second 503 reason, no second end, no retransmission.
    let out = h.transport_error(udp(CARRIER));
    assert!(only(&out, CARRIER).is_empty());
    assert!(statuses(&out, PBX).is_empty());
    h.receive(udp(PBX), &pbx_ack_of("call-te", "z9hG4bK-te", &to_tag));
    let out = h.advance(Duration::from_secs(40));
    assert!(
        only(&out, CARRIER).is_empty(),
        "Timer A stopped with the transaction"
    );
    h.drain_to_the_end();
    assert_eq!(ended(&h.policy.events).len(), 1, "the call ended once");
    assert_eq!(h.proxy.transaction_count(), 0, "nothing stays behind");
}

#[test]
fn a_failure_towards_another_address_or_transport_leaves_the_call_alone() {
    let mut h = Harness::new();
    let out = h.receive(udp(PBX), &invite("call-other", "z9hG4bK-other"));
    let forwarded = only(&out, CARRIER)[0].clone();
    let out = h.transport_error(udp("127.0.0.1:5999"));
    assert!(out.is_empty());
    let out = h.transport_error(Peer::new(Transport::Tcp, addr(CARRIER)));
    assert!(out.is_empty(), "the call runs over UDP, not TCP");
    assert!(ended(&h.policy.events).is_empty());
    let out = h.receive(udp(CARRIER), &answer(&forwarded, 200, "callee", ""));
    assert_eq!(statuses(&out, PBX), [200], "the call still goes through");
}

#[test]
fn a_failure_after_a_cancel_answers_487_and_ends_the_call_once() {
    let mut h = Harness::new();
    let out = h.receive(udp(PBX), &invite("call-tc", "z9hG4bK-tc"));
    let forwarded = only(&out, CARRIER)[0].clone();
    h.receive(udp(CARRIER), &answer(&forwarded, 180, "callee", ""));
    let out = h.receive(udp(PBX), &cancel_of("call-tc", "z9hG4bK-tc"));
    assert_eq!(statuses(&out, PBX), [200], "the CANCEL is answered here");
    assert_eq!(only(&out, CARRIER)[0].method(), Some(&Method::Cancel));

    let out = h.transport_error(udp(CARRIER));
    assert_eq!(statuses(&out, PBX), [487], "one final for the INVITE");
    let dialog = started(&h.policy.events)[0];
    assert_eq!(ended(&h.policy.events), [(dialog, EndReason::Cancelled)]);
    h.receive(udp(PBX), &pbx_ack_of("call-tc", "z9hG4bK-tc", "x"));
    h.drain_to_the_end();
    assert_eq!(ended(&h.policy.events).len(), 1);
    assert_eq!(h.proxy.transaction_count(), 0);
}

#[test]
fn a_bye_the_transport_cannot_deliver_is_answered_503_and_ends_the_call_once() {
    let mut h = Harness::new();
    let dialog = answered_call(&mut h, "call-tb");
    let out = h.receive(
        udp(PBX),
        &in_dialog("BYE", 2, "call-tb", "callee", "z9hG4bK-tb-bye"),
    );
    assert_eq!(only(&out, CARRIER)[0].method(), Some(&Method::Bye));
    let out = h.transport_error(udp(CARRIER));
    assert_eq!(statuses(&out, PBX), [503]);
    assert_eq!(
        ended(&h.policy.events),
        [(dialog, EndReason::Hangup(Leg::Caller))]
    );
    h.drain_to_the_end();
    assert_eq!(ended(&h.policy.events).len(), 1);
    assert_eq!(h.proxy.dialog_count(), 0);
    assert_eq!(h.proxy.transaction_count(), 0);
}
