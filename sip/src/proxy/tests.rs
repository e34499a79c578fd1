//! The proxy core driven without sockets: messages in, transmits and events out,
//! time moved by hand.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::*;
use crate::message::{HeaderName, Message, Method};

mod edge;

const PROXY: &str = "127.0.0.1:5060";
const PBX: &str = "127.0.0.1:5080";
const CARRIER: &str = "127.0.0.1:5070";

/// Routes everything from 127.0.0.1 to the carrier, refuses everything else.
#[derive(Default)]
struct TestPolicy {
    events: Vec<ProxyEvent>,
    offers: Vec<(Leg, SdpKind)>,
    /// Session descriptions this leg sends are refused.
    refuse_from: Option<(Leg, SdpRefusal)>,
    /// Every session description the policy was given, as given.
    seen: Vec<Bytes>,
}

impl ProxyPolicy for TestPolicy {
    fn is_known_source(&mut self, source: Peer) -> bool {
        source.addr.ip() == addr(PBX).ip()
    }

    fn route(&mut self, source: Peer, request: &Message) -> RouteDecision {
        if source.addr.ip() != addr(PBX).ip() {
            return RouteDecision::Refuse(Refusal::UnknownSource);
        }
        let user = request
            .request_uri()
            .and_then(|uri| uri.user().map(str::to_string))
            .unwrap_or_default();
        RouteDecision::Forward(ForwardTarget {
            tenant: "demo".parse().unwrap(),
            request_uri: format!("sip:{user}@{CARRIER}").into(),
            destination: addr(CARRIER),
            transport: source.transport,
            direction: Direction::Outbound,
        })
    }

    fn rewrite_sdp(&mut self, _: DialogId, from: Leg, kind: SdpKind, sdp: &Bytes) -> SdpDecision {
        self.offers.push((from, kind));
        self.seen.push(sdp.clone());
        if let Some((leg, refusal)) = self.refuse_from {
            if leg == from {
                return SdpDecision::Refuse(refusal);
            }
        }
        let text = String::from_utf8_lossy(sdp).replace("c=IN IP4 127.0.0.1", "c=IN IP4 127.0.0.9");
        SdpDecision::Rewritten(Bytes::from(text))
    }

    fn on_event(&mut self, event: ProxyEvent) {
        self.events.push(event);
    }
}

fn addr(text: &str) -> SocketAddr {
    text.parse().unwrap()
}

fn udp(text: &str) -> Peer {
    Peer::new(Transport::Udp, addr(text))
}

struct Harness {
    proxy: Proxy,
    policy: TestPolicy,
    now: Instant,
}

impl Harness {
    fn new() -> Harness {
        Harness::with_limit(RateLimit {
            per_second: 1000.0,
            burst: 1000.0,
        })
    }

    fn with_limit(rate_limit: RateLimit) -> Harness {
        Harness::with_admission(rate_limit, Admission::default())
    }

    fn with_admission(rate_limit: RateLimit, admission: Admission) -> Harness {
        Harness {
            proxy: Proxy::new(ProxyConfig {
                listeners: vec![(Transport::Udp, addr(PROXY)), (Transport::Tcp, addr(PROXY))],
                rate_limit,
                timers: Timers::default(),
                admission,
            }),
            policy: TestPolicy::default(),
            now: Instant::now(),
        }
    }

    fn receive(&mut self, from: Peer, text: &str) -> Vec<(Peer, Message)> {
        self.proxy
            .handle_datagram(self.now, from, text.as_bytes(), &mut self.policy);
        self.outputs()
    }

    fn advance(&mut self, by: Duration) -> Vec<(Peer, Message)> {
        let until = self.now + by;
        while let Some(at) = self.proxy.poll_timeout().filter(|at| *at <= until) {
            self.now = at.max(self.now);
            self.proxy.handle_timeout(self.now, &mut self.policy);
        }
        self.now = until;
        self.outputs()
    }

    fn outputs(&mut self) -> Vec<(Peer, Message)> {
        std::iter::from_fn(|| self.proxy.poll_transmit())
            .map(|t| {
                let message = Message::parse_datagram(&t.bytes)
                    .unwrap_or_else(|e| panic!("the proxy sent an unparsable message: {e}"));
                (t.peer, message)
            })
            .collect()
    }
}

fn invite(call_id: &str, branch: &str) -> String {
    let sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 20000 RTP/AVP 8\r\n";
    format!(
        "INVITE sip:+33199000001@{CARRIER} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {PBX};branch={branch}\r\n\
         From: <sip:+33199000002@{PBX}>;tag=caller\r\n\
         To: <sip:+33199000001@{CARRIER}>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: <sip:pbx@{PBX}>\r\n\
         Max-Forwards: 70\r\n\
         Content-Type: application/sdp\r\n\
         Content-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    )
}

/// A response from the carrier to a forwarded request, built from what it received.
fn answer(forwarded: &Message, code: u16, to_tag: &str, body: &str) -> String {
    let mut text = format!("SIP/2.0 {code} Whatever\r\n");
    for via in forwarded.headers.get_all(&HeaderName::Via) {
        text.push_str(&format!("Via: {via}\r\n"));
    }
    for rr in forwarded.headers.get_all(&HeaderName::RecordRoute) {
        text.push_str(&format!("Record-Route: {rr}\r\n"));
    }
    let to = forwarded.headers.get(&HeaderName::To).unwrap();
    let to = if code > 100 && !to.contains("tag=") {
        format!("{to};tag={to_tag}")
    } else {
        to.to_string()
    };
    text.push_str(&format!(
        "From: {}\r\nTo: {to}\r\nCall-ID: {}\r\nCSeq: {}\r\nContact: <sip:carrier@{CARRIER}>\r\n",
        forwarded.headers.get(&HeaderName::From).unwrap(),
        forwarded.call_id().unwrap(),
        forwarded.headers.get(&HeaderName::CSeq).unwrap(),
    ));
    if body.is_empty() {
        text.push_str("Content-Length: 0\r\n\r\n");
    } else {
        text.push_str(&format!(
            "Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ));
    }
    text
}

fn only<'a>(outputs: &'a [(Peer, Message)], to: &str) -> Vec<&'a Message> {
    outputs
        .iter()
        .filter(|(peer, _)| peer.addr == addr(to))
        .map(|(_, m)| m)
        .collect()
}

fn in_dialog(method: &str, cseq: u32, call_id: &str, to_tag: &str, branch: &str) -> String {
    let tags = ("caller", to_tag);
    request_between((PBX, CARRIER), method, cseq, call_id, tags, branch)
}

/// An in-dialog request from `from` to `to` (each side's address; the PBX's
/// user is +33199000002, the carrier's +33199000001), through the proxy.
fn request_between(
    (from, to): (&str, &str),
    method: &str,
    cseq: u32,
    call_id: &str,
    (from_tag, to_tag): (&str, &str),
    branch: &str,
) -> String {
    let party = |side: &str| {
        if side == PBX {
            ("pbx", "+33199000002")
        } else {
            ("carrier", "+33199000001")
        }
    };
    let ((to_target, to_user), (_, from_user)) = (party(to), party(from));
    format!(
        "{method} sip:{to_target}@{to} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {from};branch={branch}\r\n\
         Route: <sip:{PROXY};lr>\r\n\
         From: <sip:{from_user}@{from}>;tag={from_tag}\r\n\
         To: <sip:{to_user}@{to}>;tag={to_tag}\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: {cseq} {method}\r\n\
         Max-Forwards: 70\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

#[test]
fn call_started_carries_the_parties_and_call_id_but_never_prints_them() {
    let mut h = Harness::new();
    let call_id = "a84b4c76e66710@pc33.atlanta.example.com";
    h.receive(udp(PBX), &invite(call_id, "z9hG4bK-personal"));
    let Some(ProxyEvent::CallStarted {
        caller,
        callee,
        call_id: carried,
        ..
    }) = h.policy.events.first()
    else {
        panic!("no CallStarted: {:?}", h.policy.events);
    };
    assert_eq!(carried.expose(), call_id);
    assert_eq!(
        caller.as_ref().map(|c| c.expose().as_str()),
        Some("+33199000002")
    );
    assert_eq!(
        callee.as_ref().map(|c| c.expose().as_str()),
        Some("+33199000001")
    );
    let printed = format!("{:?} {:#?}", h.policy.events, h.policy.events);
    for clear in ["33199000002", "33199000001", "a84b4c76e66710", "atlanta"] {
        assert!(
            !printed.contains(clear),
            "{clear} printed in clear: {printed}"
        );
    }
}

#[test]
fn basic_call_goes_through_and_comes_back_through_the_proxy() {
    let mut h = Harness::new();
    let out = h.receive(udp(PBX), &invite("call-1", "z9hG4bK-inv"));
    let to_pbx = only(&out, PBX);
    assert_eq!(to_pbx.len(), 1);
    assert_eq!(to_pbx[0].status_code(), Some(100));
    let to_carrier = only(&out, CARRIER);
    assert_eq!(to_carrier.len(), 1);
    let forwarded = to_carrier[0];
    assert_eq!(forwarded.headers.count(&HeaderName::Via), 2);
    assert!(forwarded.top_via().unwrap().host == "127.0.0.1");
    assert_eq!(forwarded.max_forwards(), Some(69));
    let rr = forwarded.record_routes();
    assert_eq!(rr, vec![format!("<sip:{PROXY};lr>")]);
    assert!(String::from_utf8_lossy(&forwarded.body).contains("127.0.0.9"));

    let forwarded = forwarded.clone();
    let out = h.receive(udp(CARRIER), &answer(&forwarded, 180, "callee", ""));
    assert_eq!(only(&out, PBX)[0].status_code(), Some(180));
    let sdp = "v=0\r\no=- 2 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 8\r\n";
    let out = h.receive(udp(CARRIER), &answer(&forwarded, 200, "callee", sdp));
    let ok = only(&out, PBX);
    assert_eq!(ok.len(), 1);
    assert_eq!(ok[0].status_code(), Some(200));
    assert_eq!(
        ok[0].headers.count(&HeaderName::Via),
        1,
        "our Via is removed"
    );
    assert!(String::from_utf8_lossy(&ok[0].body).contains("127.0.0.9"));
    assert_eq!(
        h.policy.offers,
        vec![
            (Leg::Caller, SdpKind::Offer),
            (Leg::Callee, SdpKind::Answer)
        ]
    );

    let out = h.receive(
        udp(PBX),
        &in_dialog("ACK", 1, "call-1", "callee", "z9hG4bK-ack"),
    );
    let acks = only(&out, CARRIER);
    assert_eq!(acks.len(), 1);
    assert_eq!(acks[0].method(), Some(&Method::Ack));
    assert!(acks[0].routes().is_empty(), "our own Route is consumed");

    let out = h.receive(
        udp(PBX),
        &in_dialog("BYE", 2, "call-1", "callee", "z9hG4bK-bye"),
    );
    let bye = only(&out, CARRIER)[0].clone();
    assert_eq!(bye.method(), Some(&Method::Bye));
    let out = h.receive(udp(CARRIER), &answer(&bye, 200, "callee", ""));
    assert_eq!(only(&out, PBX)[0].status_code(), Some(200));

    assert!(
        matches!(h.policy.events[0], ProxyEvent::CallStarted { ref tenant, direction: Direction::Outbound, .. } if tenant == "demo")
    );
    assert!(matches!(
        h.policy.events[1],
        ProxyEvent::CallAnswered { .. }
    ));
    assert!(matches!(
        h.policy.events[2],
        ProxyEvent::CallEnded {
            reason: EndReason::Hangup(Leg::Caller),
            ..
        }
    ));
    assert_eq!(h.proxy.dialog_count(), 0);
    // Every transaction ends once its timers have run.
    h.advance(Duration::from_secs(64));
    assert_eq!(h.proxy.transaction_count(), 0);
}

#[test]
fn unknown_source_is_refused_and_nothing_is_forwarded() {
    let mut h = Harness::new();
    let text = invite("call-x", "z9hG4bK-x").replace(PBX, "127.0.0.3:5080");
    let out = h.receive(udp("127.0.0.3:5080"), &text);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].0.addr, addr("127.0.0.3:5080"));
    assert_eq!(out[0].1.status_code(), Some(403));
    assert!(out[0].1.to_tag().is_some());
    // One stateless 403, never retransmitted, and never forwarded anywhere.
    assert!(h.advance(Duration::from_secs(40)).is_empty());
    assert_eq!(h.proxy.transaction_count(), 0);
}

#[test]
fn zero_max_forwards_is_answered_483() {
    let mut h = Harness::new();
    let text = invite("call-mf", "z9hG4bK-mf").replace("Max-Forwards: 70", "Max-Forwards: 0");
    let out = h.receive(udp(PBX), &text);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].1.status_code(), Some(483));
}

#[test]
fn options_to_the_gateway_is_answered_here() {
    let mut h = Harness::new();
    let text = format!(
        "OPTIONS sip:{PROXY} SIP/2.0\r\nVia: SIP/2.0/UDP {CARRIER};branch=z9hG4bK-opt\r\n\
         From: <sip:carrier@{CARRIER}>;tag=o\r\nTo: <sip:{PROXY}>\r\nCall-ID: opt-1\r\n\
         CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    );
    let out = h.receive(udp(CARRIER), &text);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].1.status_code(), Some(200));
    assert!(out[0].1.headers.get(&HeaderName::Allow).is_some());
}

#[test]
fn cancel_is_answered_and_forwarded_and_487_comes_back() {
    let mut h = Harness::new();
    let out = h.receive(udp(PBX), &invite("call-c", "z9hG4bK-c"));
    let forwarded = only(&out, CARRIER)[0].clone();
    h.receive(udp(CARRIER), &answer(&forwarded, 180, "callee", ""));
    let cancel = format!(
        "CANCEL sip:+33199000001@{CARRIER} SIP/2.0\r\nVia: SIP/2.0/UDP {PBX};branch=z9hG4bK-c\r\n\
         From: <sip:+33199000002@{PBX}>;tag=caller\r\nTo: <sip:+33199000001@{CARRIER}>\r\n\
         Call-ID: call-c\r\nCSeq: 1 CANCEL\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    );
    let out = h.receive(udp(PBX), &cancel);
    assert_eq!(only(&out, PBX)[0].status_code(), Some(200));
    let sent = only(&out, CARRIER);
    assert_eq!(sent[0].method(), Some(&Method::Cancel));
    assert_eq!(
        sent[0].top_via().unwrap().branch(),
        forwarded.top_via().unwrap().branch(),
        "a CANCEL carries its INVITE's branch"
    );
    let cancel_fwd = sent[0].clone();
    let out = h.receive(udp(CARRIER), &answer(&cancel_fwd, 200, "callee", ""));
    assert!(out.is_empty(), "the 200 to our CANCEL stops here");
    let out = h.receive(udp(CARRIER), &answer(&forwarded, 487, "callee", ""));
    assert_eq!(only(&out, PBX)[0].status_code(), Some(487));
    let ack = only(&out, CARRIER);
    assert_eq!(
        ack[0].method(),
        Some(&Method::Ack),
        "hop-by-hop ACK for the 487"
    );
    assert!(matches!(
        h.policy.events.last(),
        Some(ProxyEvent::CallEnded {
            reason: EndReason::Cancelled,
            ..
        })
    ));
}

#[test]
fn busy_is_passed_back_and_acknowledged() {
    let mut h = Harness::new();
    let out = h.receive(udp(PBX), &invite("call-b", "z9hG4bK-b"));
    let forwarded = only(&out, CARRIER)[0].clone();
    let busy = answer(&forwarded, 486, "callee", "");
    let out = h.receive(udp(CARRIER), &busy);
    assert_eq!(only(&out, PBX)[0].status_code(), Some(486));
    assert_eq!(only(&out, CARRIER)[0].method(), Some(&Method::Ack));
    // A retransmitted 486 is absorbed and answered with the same ACK.
    let out = h.receive(udp(CARRIER), &busy);
    assert!(only(&out, PBX).is_empty());
    assert_eq!(only(&out, CARRIER)[0].method(), Some(&Method::Ack));
}

#[test]
fn no_answer_from_the_next_hop_gives_408_after_retransmissions() {
    let mut h = Harness::new();
    let out = h.receive(udp(PBX), &invite("call-t", "z9hG4bK-t"));
    assert_eq!(only(&out, CARRIER).len(), 1);
    let out = h.advance(Duration::from_secs(31));
    assert!(
        only(&out, CARRIER).len() >= 5,
        "Timer A retransmits the INVITE"
    );
    assert!(only(&out, PBX).is_empty());
    let out = h.advance(Duration::from_secs(2));
    assert_eq!(only(&out, PBX)[0].status_code(), Some(408));
    assert!(matches!(
        h.policy.events.last(),
        Some(ProxyEvent::CallEnded {
            reason: EndReason::Timeout,
            ..
        })
    ));
}

#[test]
fn retransmitted_invite_is_absorbed_and_answered_again() {
    let mut h = Harness::new();
    let text = invite("call-r", "z9hG4bK-r");
    let first = h.receive(udp(PBX), &text);
    assert_eq!(only(&first, CARRIER).len(), 1);
    let again = h.receive(udp(PBX), &text);
    assert!(only(&again, CARRIER).is_empty(), "not forwarded twice");
    assert_eq!(only(&again, PBX)[0].status_code(), Some(100));
}

#[test]
fn in_dialog_request_for_an_unknown_dialog_is_refused() {
    let mut h = Harness::new();
    let out = h.receive(udp(PBX), &in_dialog("BYE", 2, "nope", "x", "z9hG4bK-n"));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].1.status_code(), Some(481));
}

#[test]
fn in_dialog_request_without_our_route_is_not_relayed() {
    let mut h = Harness::new();
    let out = h.receive(udp(PBX), &invite("call-nr", "z9hG4bK-nr"));
    let forwarded = only(&out, CARRIER)[0].clone();
    h.receive(udp(CARRIER), &answer(&forwarded, 200, "callee", ""));
    let bye = in_dialog("BYE", 2, "call-nr", "callee", "z9hG4bK-nr2")
        .replace(&format!("Route: <sip:{PROXY};lr>\r\n"), "");
    let out = h.receive(udp(PBX), &bye);
    assert!(only(&out, CARRIER).is_empty());
}

#[test]
fn a_request_that_comes_back_unchanged_is_a_loop() {
    let mut h = Harness::new();
    let out = h.receive(udp(PBX), &invite("call-l", "z9hG4bK-l"));
    let forwarded = only(&out, CARRIER)[0].clone();
    // The next hop sends our own request straight back to us, from the PBX address.
    let mut looped = forwarded.clone();
    looped.headers.prepend(
        HeaderName::Via,
        "SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bK-back",
    );
    let out = h.receive(udp(PBX), &String::from_utf8(looped.to_bytes()).unwrap());
    assert_eq!(only(&out, PBX)[0].status_code(), Some(482));
    assert!(only(&out, CARRIER).is_empty());
}

#[test]
fn a_flooding_source_is_told_to_retry_later() {
    let mut h = Harness::with_limit(RateLimit {
        per_second: 1.0,
        burst: 2.0,
    });
    for n in 0..2 {
        let out = h.receive(
            udp(PBX),
            &invite(&format!("f{n}"), &format!("z9hG4bK-f{n}")),
        );
        assert_eq!(only(&out, CARRIER).len(), 1);
    }
    let out = h.receive(udp(PBX), &invite("f2", "z9hG4bK-f2"));
    assert!(only(&out, CARRIER).is_empty());
    let refused = only(&out, PBX);
    assert_eq!(refused[0].status_code(), Some(503));
    assert_eq!(refused[0].headers.get(&HeaderName::RetryAfter), Some("1"));
}

#[test]
fn unparsable_request_gets_400_and_is_not_forwarded() {
    let mut h = Harness::new();
    let text = invite("call-bad", "z9hG4bK-bad").replace("CSeq: 1 INVITE", "CSeq: 1 BYE");
    let out = h.receive(udp(PBX), &text);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].1.status_code(), Some(400));
}

#[test]
fn extension_methods_are_proxied() {
    let mut h = Harness::new();
    let text = format!(
        "FOOBAR sip:+33199000001@{CARRIER} SIP/2.0\r\nVia: SIP/2.0/UDP {PBX};branch=z9hG4bK-e\r\n\
         From: <sip:a@{PBX}>;tag=e\r\nTo: <sip:b@{CARRIER}>\r\nCall-ID: ext-1\r\n\
         CSeq: 1 FOOBAR\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    );
    let out = h.receive(udp(PBX), &text);
    let sent = only(&out, CARRIER);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].method().map(|m| m.as_str()), Some("FOOBAR"));
}

#[test]
fn an_invite_that_rings_too_long_is_cancelled_then_ends() {
    let mut h = Harness::new();
    let out = h.receive(udp(PBX), &invite("call-ring", "z9hG4bK-ring"));
    let forwarded = only(&out, CARRIER)[0].clone();
    h.receive(udp(CARRIER), &answer(&forwarded, 180, "callee", ""));
    let out = h.advance(Duration::from_secs(180));
    assert!(
        only(&out, CARRIER).is_empty(),
        "still ringing at three minutes"
    );
    let out = h.advance(Duration::from_secs(2));
    let cancel = only(&out, CARRIER);
    assert!(!cancel.is_empty());
    assert!(cancel.iter().all(|m| m.method() == Some(&Method::Cancel)));
    // The next hop never answers: the caller gets a final response all the same.
    let out = h.advance(Duration::from_secs(40));
    let finals: Vec<_> = only(&out, PBX)
        .into_iter()
        .filter_map(|m| m.status_code())
        .filter(|code| *code >= 300)
        .collect();
    // The proxy terminated the request itself: 487 Request Terminated.
    assert_eq!(finals.first(), Some(&487));
    assert_eq!(h.proxy.dialog_count(), 0);
}

#[test]
fn a_call_over_tcp_gets_every_final_response_back() {
    let tcp = |text: &str| Peer::new(Transport::Tcp, addr(text));
    let mut h = Harness::new();
    let text = invite("call-tcp", "z9hG4bK-tcp").replace("SIP/2.0/UDP", "SIP/2.0/TCP");
    let out = h.receive(tcp(PBX), &text);
    let forwarded = only(&out, CARRIER)[0].clone();
    assert_eq!(
        forwarded.record_routes(),
        vec![format!("<sip:{PROXY};transport=tcp;lr>")]
    );
    let out = h.receive(tcp(CARRIER), &answer(&forwarded, 200, "callee", ""));
    assert_eq!(only(&out, PBX)[0].status_code(), Some(200));
    let bye = in_dialog("BYE", 2, "call-tcp", "callee", "z9hG4bK-tcpbye")
        .replace("SIP/2.0/UDP", "SIP/2.0/TCP");
    let out = h.receive(tcp(PBX), &bye);
    let sent = only(&out, CARRIER);
    assert_eq!(sent[0].method(), Some(&Method::Bye));
    assert!(out.iter().all(|(peer, _)| peer.transport == Transport::Tcp));
    let bye = sent[0].clone();
    let out = h.receive(tcp(CARRIER), &answer(&bye, 200, "callee", ""));
    assert_eq!(only(&out, PBX)[0].status_code(), Some(200));
    assert_eq!(h.proxy.dialog_count(), 0);
}

#[test]
fn the_gateway_hangs_up_both_sides_of_an_answered_call() {
    let mut h = Harness::new();
    let out = h.receive(udp(PBX), &invite("call-h", "z9hG4bK-h"));
    let forwarded = only(&out, CARRIER)[0].clone();
    h.receive(udp(CARRIER), &answer(&forwarded, 200, "callee", ""));
    h.receive(
        udp(PBX),
        &in_dialog("ACK", 1, "call-h", "callee", "z9hG4bK-hack"),
    );
    let dialog = match h.policy.events[0] {
        ProxyEvent::CallStarted { dialog, .. } => dialog,
        ref other => panic!("unexpected first event {other:?}"),
    };
    let now = h.now;
    assert!(h.proxy.hang_up(now, dialog, &mut h.policy));
    let out = h.outputs();
    let to_caller = only(&out, PBX);
    let to_callee = only(&out, CARRIER);
    assert_eq!(to_caller[0].method(), Some(&Method::Bye));
    assert_eq!(to_callee[0].method(), Some(&Method::Bye));
    // Each BYE speaks as the other side, in that side's CSeq space.
    assert_eq!(to_callee[0].from_tag(), Some("caller"));
    assert_eq!(to_callee[0].to_tag(), Some("callee"));
    assert_eq!(to_callee[0].cseq().unwrap().seq, 2);
    assert_eq!(to_caller[0].from_tag(), Some("callee"));
    assert_eq!(to_caller[0].to_tag(), Some("caller"));
    assert_eq!(
        to_caller[0].request_line().unwrap().uri,
        format!("sip:pbx@{PBX}")
    );
    assert!(matches!(
        h.policy.events.last(),
        Some(ProxyEvent::CallEnded {
            reason: EndReason::Terminated,
            ..
        })
    ));
    // Their 200s stop at the gateway.
    let reply = answer(to_callee[0], 200, "callee", "");
    assert!(h.receive(udp(CARRIER), &reply).is_empty());
    assert!(!h.proxy.hang_up(now, dialog, &mut h.policy), "only once");
}

/// Answers or strips in-dialog requests as told, and remembers what it was asked.
struct InDialogPolicy {
    inner: TestPolicy,
    action: InDialogAction,
    seen: Vec<(DialogId, Leg, Method)>,
}

impl ProxyPolicy for InDialogPolicy {
    fn route(&mut self, source: Peer, request: &Message) -> RouteDecision {
        self.inner.route(source, request)
    }

    fn on_in_dialog_request(
        &mut self,
        dialog: DialogId,
        from: Leg,
        request: &Message,
    ) -> InDialogAction {
        self.seen
            .push((dialog, from, request.method().cloned().unwrap()));
        self.action.clone()
    }
}

impl InDialogPolicy {
    fn new(action: InDialogAction) -> InDialogPolicy {
        InDialogPolicy {
            inner: TestPolicy::default(),
            action,
            seen: Vec::new(),
        }
    }

    fn receive(&mut self, h: &mut Harness, from: Peer, text: &str) -> Vec<(Peer, Message)> {
        h.proxy.handle_datagram(h.now, from, text.as_bytes(), self);
        h.outputs()
    }
}

const CONTROL_HEADER: &str = "X-Greffier-Recording: pause\r\n";

/// An answered call `call_id` between the PBX and the carrier; returns its dialog.
fn answered_call(h: &mut Harness, call_id: &str) -> DialogId {
    let out = h.receive(udp(PBX), &invite(call_id, &format!("z9hG4bK-{call_id}")));
    let forwarded = only(&out, CARRIER)[0].clone();
    h.receive(udp(CARRIER), &answer(&forwarded, 200, "callee", ""));
    h.receive(
        udp(PBX),
        &in_dialog(
            "ACK",
            1,
            call_id,
            "callee",
            &format!("z9hG4bK-{call_id}-ack"),
        ),
    );
    match h.policy.events[0] {
        ProxyEvent::CallStarted { dialog, .. } => dialog,
        ref other => panic!("unexpected first event {other:?}"),
    }
}

fn with_control_header(request: &str) -> String {
    request.replacen(
        "Max-Forwards: 70\r\n",
        &format!("Max-Forwards: 70\r\n{CONTROL_HEADER}"),
        1,
    )
}

#[test]
fn an_in_dialog_request_the_policy_answers_is_answered_here_and_not_relayed() {
    let mut h = Harness::new();
    let dialog = answered_call(&mut h, "call-info");
    let mut policy = InDialogPolicy::new(InDialogAction::Answer(200));
    let info = with_control_header(&in_dialog("INFO", 2, "call-info", "callee", "z9hG4bK-info"));
    let out = policy.receive(&mut h, udp(PBX), &info);
    assert!(
        only(&out, CARRIER).is_empty(),
        "nothing goes to the carrier"
    );
    let to_pbx = only(&out, PBX);
    assert_eq!(to_pbx.len(), 1);
    assert_eq!(to_pbx[0].status_code(), Some(200));
    assert_eq!(to_pbx[0].to_tag(), Some("callee"), "the dialog's own tag");
    assert_eq!(to_pbx[0].cseq().unwrap().method, Method::Info);
    assert_eq!(policy.seen, vec![(dialog, Leg::Caller, Method::Info)]);

    // A retransmission gets the same answer from the transaction, without asking
    // the policy again.
    let out = policy.receive(&mut h, udp(PBX), &info);
    assert_eq!(only(&out, PBX)[0].status_code(), Some(200));
    assert!(only(&out, CARRIER).is_empty());
    assert_eq!(policy.seen.len(), 1);
    assert_eq!(h.proxy.dialog_count(), 1, "the call goes on");
}

#[test]
fn an_in_dialog_request_can_be_relayed_without_a_header() {
    let mut h = Harness::new();
    answered_call(&mut h, "call-strip");
    let mut policy = InDialogPolicy::new(InDialogAction::ForwardWithout(HeaderName::parse(
        "x-greffier-recording",
    )));
    let info = with_control_header(&in_dialog("INFO", 2, "call-strip", "callee", "z9hG4bK-s"));
    let out = policy.receive(&mut h, udp(PBX), &info);
    let relayed = only(&out, CARRIER);
    assert_eq!(relayed.len(), 1);
    assert_eq!(relayed[0].method(), Some(&Method::Info));
    assert_eq!(
        relayed[0]
            .headers
            .count(&HeaderName::Other("X-Greffier-Recording".into())),
        0
    );
    assert!(!String::from_utf8_lossy(&relayed[0].to_bytes()).contains("X-Greffier"));
}

#[test]
fn the_policy_learns_which_leg_sent_an_in_dialog_request_and_acks_are_not_asked() {
    let mut h = Harness::new();
    let dialog = answered_call(&mut h, "call-legs");
    let mut policy = InDialogPolicy::new(InDialogAction::Forward);
    let from_carrier = format!(
        "INFO sip:pbx@{PBX} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {CARRIER};branch=z9hG4bK-cinfo\r\n\
         Route: <sip:{PROXY};lr>\r\n\
         From: <sip:+33199000001@{CARRIER}>;tag=callee\r\n\
         To: <sip:+33199000002@{PBX}>;tag=caller\r\n\
         Call-ID: call-legs\r\n\
         CSeq: 7 INFO\r\n\
         Max-Forwards: 70\r\n\
         {CONTROL_HEADER}\
         Content-Length: 0\r\n\r\n"
    );
    let out = policy.receive(&mut h, udp(CARRIER), &from_carrier);
    let relayed = only(&out, PBX);
    assert_eq!(relayed.len(), 1, "relayed unchanged by default");
    assert!(String::from_utf8_lossy(&relayed[0].to_bytes()).contains(CONTROL_HEADER));
    let out = policy.receive(
        &mut h,
        udp(PBX),
        &in_dialog("BYE", 2, "call-legs", "callee", "z9hG4bK-lbye"),
    );
    assert_eq!(only(&out, CARRIER)[0].method(), Some(&Method::Bye));
    assert_eq!(
        policy.seen,
        vec![
            (dialog, Leg::Callee, Method::Info),
            (dialog, Leg::Caller, Method::Bye)
        ]
    );
}

#[test]
fn a_call_over_ipv6_is_routed_and_record_routed_with_bracketed_addresses() {
    struct ToV6Carrier;
    impl ProxyPolicy for ToV6Carrier {
        fn route(&mut self, source: Peer, _request: &Message) -> RouteDecision {
            RouteDecision::Forward(ForwardTarget {
                tenant: "demo".parse().unwrap(),
                request_uri: "sip:+33199000001@[::1]:5070".to_string().into(),
                destination: addr("[::1]:5070"),
                transport: source.transport,
                direction: Direction::Outbound,
            })
        }
    }
    let mut proxy = Proxy::new(ProxyConfig {
        listeners: vec![
            (Transport::Udp, addr(PROXY)),
            (Transport::Udp, addr("[::1]:5060")),
        ],
        rate_limit: RateLimit {
            per_second: 10.0,
            burst: 10.0,
        },
        timers: Timers::default(),
        admission: Default::default(),
    });
    let text = invite("call-v6", "z9hG4bK-v6")
        .replace(PBX, "[::1]:5080")
        .replace(CARRIER, "[::1]:5070");
    proxy.handle_datagram(
        Instant::now(),
        udp("[::1]:5080"),
        text.as_bytes(),
        &mut ToV6Carrier,
    );
    let sent: Vec<_> = std::iter::from_fn(|| proxy.poll_transmit()).collect();
    let forwarded = sent
        .iter()
        .find(|t| t.peer.addr == addr("[::1]:5070"))
        .map(|t| Message::parse_datagram(&t.bytes).unwrap())
        .expect("the INVITE goes to the IPv6 carrier");
    let via = forwarded.top_via().unwrap();
    assert_eq!((via.host.as_str(), via.port), ("[::1]", Some(5060)));
    assert_eq!(
        forwarded.record_routes(),
        vec!["<sip:[::1]:5060;lr>".to_string()]
    );
    assert!(
        sent.iter().any(|t| t.peer.addr == addr("[::1]:5080")),
        "100 Trying back over IPv6"
    );
}

// --- Hostile peers: only a dialog's own legs use it, and every call ends once. ---

const STRANGER: &str = "127.0.0.9:5099";
const VICTIM: &str = "127.0.0.1:25000";

/// The same request sent by someone else: only its Via says who.
fn sent_by(request: &str, sender: &str) -> String {
    request
        .replacen(
            &format!("SIP/2.0/UDP {PBX}"),
            &format!("SIP/2.0/UDP {sender}"),
            1,
        )
        .replacen(
            &format!("SIP/2.0/UDP {CARRIER}"),
            &format!("SIP/2.0/UDP {sender}"),
            1,
        )
}

fn with_sdp(request: &str, media_ip: &str) -> String {
    let sdp = format!(
        "v=0\r\no=- 3 3 IN IP4 {media_ip}\r\ns=-\r\nc=IN IP4 {media_ip}\r\nt=0 0\r\nm=audio 7000 RTP/AVP 8\r\n"
    );
    request.replace(
        "Content-Length: 0\r\n\r\n",
        &format!(
            "Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
            sdp.len()
        ),
    )
}

fn statuses(outputs: &[(Peer, Message)], to: &str) -> Vec<u16> {
    only(outputs, to)
        .iter()
        .filter_map(|m| m.status_code())
        .collect()
}

fn started(events: &[ProxyEvent]) -> Vec<DialogId> {
    events
        .iter()
        .filter_map(|event| match event {
            ProxyEvent::CallStarted { dialog, .. } => Some(*dialog),
            _ => None,
        })
        .collect()
}

fn ended(events: &[ProxyEvent]) -> Vec<(DialogId, EndReason)> {
    events
        .iter()
        .filter_map(|event| match event {
            ProxyEvent::CallEnded { dialog, reason } => Some((*dialog, *reason)),
            _ => None,
        })
        .collect()
}

fn cancel_of(call_id: &str, branch: &str) -> String {
    format!(
        "CANCEL sip:+33199000001@{CARRIER} SIP/2.0\r\nVia: SIP/2.0/UDP {PBX};branch={branch}\r\n\
         From: <sip:+33199000002@{PBX}>;tag=caller\r\nTo: <sip:+33199000001@{CARRIER}>\r\n\
         Call-ID: {call_id}\r\nCSeq: 1 CANCEL\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    )
}

#[test]
fn a_stranger_or_the_other_leg_using_a_legs_tags_gets_403_and_the_policy_never_sees_it() {
    let mut h = Harness::new();
    answered_call(&mut h, "call-s");
    let mut policy = InDialogPolicy::new(InDialogAction::Forward);
    let message = in_dialog("MESSAGE", 2, "call-s", "callee", "z9hG4bK-s1").replacen(
        &format!("MESSAGE sip:carrier@{CARRIER}"),
        &format!("MESSAGE sip:victim@{VICTIM}"),
        1,
    );
    let out = policy.receive(&mut h, udp(STRANGER), &sent_by(&message, STRANGER));
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(statuses(&out, STRANGER), [403]);
    // The carrier's own address speaking as the PBX is no better.
    let forged = in_dialog("INFO", 3, "call-s", "callee", "z9hG4bK-s2");
    let out = policy.receive(&mut h, udp(CARRIER), &sent_by(&forged, CARRIER));
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(statuses(&out, CARRIER), [403]);
    // Same tags from the PBX's own port on another host: not the PBX either.
    let out = policy.receive(&mut h, udp("127.0.0.9:5080"), &forged);
    assert_eq!(statuses(&out, "127.0.0.9:5080"), [403]);
    assert!(policy.seen.is_empty(), "{:?}", policy.seen);
    assert_eq!(h.proxy.dialog_count(), 1, "the call goes on");
}

#[test]
fn an_in_dialog_request_goes_to_the_other_leg_whatever_route_and_request_uri_name() {
    let mut h = Harness::new();
    answered_call(&mut h, "call-r");
    let message = in_dialog("MESSAGE", 2, "call-r", "callee", "z9hG4bK-r1")
        .replacen(
            &format!("MESSAGE sip:carrier@{CARRIER}"),
            &format!("MESSAGE sip:victim@{VICTIM}"),
            1,
        )
        .replacen(
            &format!("Route: <sip:{PROXY};lr>\r\n"),
            &format!("Route: <sip:{PROXY};lr>\r\nRoute: <sip:{VICTIM};transport=tcp;lr>\r\n"),
            1,
        );
    let out = h.receive(udp(PBX), &message);
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0].0, udp(CARRIER), "the callee leg, over UDP");
    assert_eq!(out[0].1.method(), Some(&Method::Message));
    // And from the carrier, to the PBX's address, whatever the Request-URI says.
    let info = request_between(
        (CARRIER, PBX),
        "INFO",
        3,
        "call-r",
        ("callee", "caller"),
        "z9hG4bK-r2",
    )
    .replacen(
        &format!("INFO sip:pbx@{PBX}"),
        &format!("INFO sip:pbx@{VICTIM}"),
        1,
    );
    let out = h.receive(udp(CARRIER), &info);
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0].0, udp(PBX));
}

#[test]
fn before_the_answer_only_to_tags_of_relayed_responses_are_accepted() {
    let mut h = Harness::new();
    let out = h.receive(udp(PBX), &invite("call-e", "z9hG4bK-e"));
    let forwarded = only(&out, CARRIER)[0].clone();
    let update = |cseq: u32, to_tag: &str| {
        in_dialog(
            "UPDATE",
            cseq,
            "call-e",
            to_tag,
            &format!("z9hG4bK-e{cseq}"),
        )
    };
    let out = h.receive(udp(PBX), &update(2, "callee"));
    assert_eq!(statuses(&out, PBX), [481], "no response relayed yet");
    assert!(only(&out, CARRIER).is_empty());
    h.receive(udp(CARRIER), &answer(&forwarded, 180, "callee", ""));
    let out = h.receive(udp(PBX), &update(3, "invented"));
    assert_eq!(statuses(&out, PBX), [481], "a tag no response carried");
    assert!(only(&out, CARRIER).is_empty());
    let out = h.receive(udp(PBX), &update(4, "callee"));
    assert_eq!(only(&out, CARRIER)[0].method(), Some(&Method::Update));
    let out = h.receive(
        udp(CARRIER),
        &request_between(
            (CARRIER, PBX),
            "UPDATE",
            1,
            "call-e",
            ("callee", "caller"),
            "z9hG4bK-e5",
        ),
    );
    assert_eq!(only(&out, PBX)[0].method(), Some(&Method::Update));
    // The answer fixes the callee's tag: the early one of another branch is over.
    h.receive(udp(CARRIER), &answer(&forwarded, 180, "other", ""));
    h.receive(udp(CARRIER), &answer(&forwarded, 200, "callee", ""));
    let out = h.receive(udp(PBX), &update(6, "other"));
    assert_eq!(statuses(&out, PBX), [481]);
}

#[test]
fn a_forged_sdp_never_reaches_the_policy_and_a_real_one_carries_its_sources_leg() {
    let mut h = Harness::new();
    answered_call(&mut h, "call-f");
    let offers = h.policy.offers.len();
    let reinvite = |branch: &str| {
        with_sdp(
            &request_between(
                (CARRIER, PBX),
                "INVITE",
                5,
                "call-f",
                ("callee", "caller"),
                branch,
            ),
            "127.0.0.9",
        )
    };
    let out = h.receive(udp(STRANGER), &sent_by(&reinvite("z9hG4bK-f1"), STRANGER));
    assert_eq!(statuses(&out, STRANGER), [403]);
    assert!(only(&out, PBX).is_empty());
    assert_eq!(h.policy.offers.len(), offers, "the policy saw no SDP");
    let out = h.receive(udp(CARRIER), &reinvite("z9hG4bK-f2"));
    assert_eq!(only(&out, PBX)[0].method(), Some(&Method::Invite));
    assert_eq!(h.policy.offers.last(), Some(&(Leg::Callee, SdpKind::Offer)));
}

#[test]
fn a_reused_call_id_with_another_from_tag_is_a_separate_dialog_and_both_end() {
    let mut h = Harness::new();
    let out = h.receive(udp(PBX), &invite("call-dup", "z9hG4bK-d1"));
    let first = only(&out, CARRIER)[0].clone();
    let out = h.receive(
        udp(PBX),
        &invite("call-dup", "z9hG4bK-d2").replace("tag=caller", "tag=other"),
    );
    let second = only(&out, CARRIER)[0].clone();
    assert_eq!(h.proxy.dialog_count(), 2);
    let calls = started(&h.policy.events);
    assert_eq!(calls.len(), 2);
    assert_ne!(calls[0], calls[1]);

    h.receive(udp(CARRIER), &answer(&first, 486, "busy", ""));
    assert_eq!(
        ended(&h.policy.events),
        [(calls[0], EndReason::Rejected(486))]
    );
    h.receive(udp(CARRIER), &answer(&second, 200, "callee2", ""));
    h.receive(
        udp(PBX),
        &request_between(
            (PBX, CARRIER),
            "ACK",
            1,
            "call-dup",
            ("other", "callee2"),
            "z9hG4bK-d2a",
        ),
    );
    let out = h.receive(
        udp(PBX),
        &request_between(
            (PBX, CARRIER),
            "BYE",
            2,
            "call-dup",
            ("other", "callee2"),
            "z9hG4bK-d2b",
        ),
    );
    let bye = only(&out, CARRIER)[0].clone();
    h.receive(udp(CARRIER), &answer(&bye, 200, "callee2", ""));
    assert_eq!(
        ended(&h.policy.events),
        [
            (calls[0], EndReason::Rejected(486)),
            (calls[1], EndReason::Hangup(Leg::Caller))
        ]
    );
    assert_eq!(h.proxy.dialog_count(), 0);
    h.advance(Duration::from_secs(64));
    assert_eq!(h.proxy.transaction_count(), 0);
}

#[test]
fn another_invite_with_the_same_call_id_and_from_tag_is_merged_and_replaces_nothing() {
    let mut h = Harness::new();
    h.receive(udp(PBX), &invite("call-m", "z9hG4bK-m1"));
    let out = h.receive(udp(PBX), &invite("call-m", "z9hG4bK-m2"));
    assert_eq!(statuses(&out, PBX), [482]);
    assert!(only(&out, CARRIER).is_empty());
    assert_eq!(h.proxy.dialog_count(), 1);
    assert_eq!(started(&h.policy.events).len(), 1);
}

#[test]
fn an_answer_never_acknowledged_ends_the_call_with_a_bye_to_each_side() {
    let mut h = Harness::new();
    let out = h.receive(udp(PBX), &invite("call-na", "z9hG4bK-na"));
    let forwarded = only(&out, CARRIER)[0].clone();
    h.receive(udp(CARRIER), &answer(&forwarded, 200, "callee", ""));
    let byes = |out: &[(Peer, Message)], to: &str| {
        only(out, to)
            .iter()
            .filter(|m| m.method() == Some(&Method::Bye))
            .count()
    };
    let out = h.advance(Duration::from_secs(31));
    assert_eq!(byes(&out, PBX) + byes(&out, CARRIER), 0, "not yet at 64·T1");
    // Up to 64·T1 and before the BYEs' first retransmission (T1 later).
    let out = h.advance(Duration::from_millis(1_100));
    assert_eq!(byes(&out, PBX), 1);
    assert_eq!(byes(&out, CARRIER), 1);
    let calls = started(&h.policy.events);
    assert_eq!(ended(&h.policy.events), [(calls[0], EndReason::Terminated)]);
    assert_eq!(h.proxy.dialog_count(), 0);
    h.advance(Duration::from_secs(64));
    assert_eq!(h.proxy.transaction_count(), 0);
}

#[test]
fn an_acknowledged_answer_keeps_the_call_going() {
    let mut h = Harness::new();
    answered_call(&mut h, "call-ack");
    let out = h.advance(Duration::from_secs(120));
    assert!(out.iter().all(|(_, m)| m.method() != Some(&Method::Bye)));
    assert_eq!(h.proxy.dialog_count(), 1);
    assert!(ended(&h.policy.events).is_empty());
}

#[test]
fn the_gateway_ending_a_ringing_call_answers_487_and_cancels_it() {
    let mut h = Harness::new();
    let out = h.receive(udp(PBX), &invite("call-hr", "z9hG4bK-hr"));
    let forwarded = only(&out, CARRIER)[0].clone();
    h.receive(udp(CARRIER), &answer(&forwarded, 180, "callee", ""));
    let dialog = started(&h.policy.events)[0];
    let now = h.now;
    assert!(h.proxy.hang_up(now, dialog, &mut h.policy));
    let out = h.outputs();
    assert_eq!(statuses(&out, PBX), [487]);
    assert_eq!(only(&out, CARRIER)[0].method(), Some(&Method::Cancel));
    let out = h.receive(udp(CARRIER), &answer(&forwarded, 487, "callee", ""));
    assert!(statuses(&out, PBX).is_empty(), "the caller had its 487");
    assert_eq!(only(&out, CARRIER)[0].method(), Some(&Method::Ack));
    assert_eq!(ended(&h.policy.events), [(dialog, EndReason::Terminated)]);
    h.advance(Duration::from_secs(64));
    assert_eq!(h.proxy.transaction_count(), 0);
}

#[test]
fn the_gateways_bye_goes_to_each_legs_learned_address_not_to_a_contact() {
    let mut h = Harness::new();
    let elsewhere = "127.0.0.9:5999";
    let text = invite("call-ct", "z9hG4bK-ct").replace(
        &format!("Contact: <sip:pbx@{PBX}>"),
        &format!("Contact: <sip:pbx@{elsewhere}>"),
    );
    let out = h.receive(udp(PBX), &text);
    let forwarded = only(&out, CARRIER)[0].clone();
    let ok = answer(&forwarded, 200, "callee", "").replace(
        &format!("Contact: <sip:carrier@{CARRIER}>"),
        "Contact: <sip:carrier@127.0.0.9:6000;transport=tcp>",
    );
    h.receive(udp(CARRIER), &ok);
    h.receive(
        udp(PBX),
        &in_dialog("ACK", 1, "call-ct", "callee", "z9hG4bK-cta"),
    );
    // A re-INVITE with yet another Contact changes nothing either.
    let reinvite = in_dialog("INVITE", 2, "call-ct", "callee", "z9hG4bK-ctr").replace(
        "Max-Forwards: 70\r\n",
        "Max-Forwards: 70\r\nContact: <sip:pbx@127.0.0.9:7000>\r\n",
    );
    let out = h.receive(udp(PBX), &reinvite);
    let relayed = only(&out, CARRIER)[0].clone();
    h.receive(udp(CARRIER), &answer(&relayed, 200, "callee", ""));
    h.receive(
        udp(PBX),
        &in_dialog("ACK", 2, "call-ct", "callee", "z9hG4bK-ctra"),
    );
    let dialog = started(&h.policy.events)[0];
    let now = h.now;
    assert!(h.proxy.hang_up(now, dialog, &mut h.policy));
    let out = h.outputs();
    let byes: Vec<_> = out
        .iter()
        .filter(|(_, m)| m.method() == Some(&Method::Bye))
        .collect();
    assert_eq!(byes.len(), 2, "{out:?}");
    let to_pbx = byes.iter().find(|(peer, _)| *peer == udp(PBX));
    let to_carrier = byes.iter().find(|(peer, _)| *peer == udp(CARRIER));
    let (Some((_, to_pbx)), Some(_)) = (to_pbx, to_carrier) else {
        panic!("the BYEs went to {byes:?}");
    };
    assert_eq!(
        to_pbx.request_line().unwrap().uri,
        format!("sip:pbx@{elsewhere}"),
        "the Contact only fills the Request-URI"
    );
}

#[test]
fn only_the_sender_of_an_invite_may_cancel_it() {
    let mut h = Harness::new();
    h.receive(udp(PBX), &invite("call-xc", "z9hG4bK-xc"));
    let cancel = cancel_of("call-xc", "z9hG4bK-xc");
    let out = h.receive(udp(STRANGER), &cancel);
    assert_eq!(statuses(&out, STRANGER), [403]);
    assert!(only(&out, CARRIER).is_empty());
    let out = h.receive(udp(PBX), &cancel);
    assert_eq!(
        statuses(&out, PBX),
        [200],
        "the real CANCEL is not shadowed"
    );
    assert_eq!(only(&out, CARRIER)[0].method(), Some(&Method::Cancel));
}

#[test]
fn a_tcp_leg_may_come_back_on_another_connection_from_its_host_but_no_other_host() {
    let on = |text: &str, id: u64| Peer {
        transport: Transport::Tcp,
        addr: addr(text),
        connection: Some(crate::ConnectionId(id)),
    };
    let tcp = |text: &str| text.replace("SIP/2.0/UDP", "SIP/2.0/TCP");
    let mut h = Harness::new();
    let pbx_first = on("127.0.0.1:40001", 1);
    let out = h.receive(pbx_first, &tcp(&invite("call-tc", "z9hG4bK-tc")));
    let forwarded = only(&out, CARRIER)[0].clone();
    h.receive(
        Peer::new(Transport::Tcp, addr(CARRIER)),
        &answer(&forwarded, 200, "callee", ""),
    );
    let pbx_second = on("127.0.0.1:40002", 2);
    let ack = tcp(&in_dialog("ACK", 1, "call-tc", "callee", "z9hG4bK-tca"));
    let out = h.receive(pbx_second, &ack);
    assert_eq!(only(&out, CARRIER)[0].method(), Some(&Method::Ack));
    // The carrier's next request goes back on the connection that is open.
    let info = tcp(&request_between(
        (CARRIER, PBX),
        "INFO",
        1,
        "call-tc",
        ("callee", "caller"),
        "z9hG4bK-tci",
    ));
    let out = h.receive(Peer::new(Transport::Tcp, addr(CARRIER)), &info);
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0].0, pbx_second);
    // Another host over TCP is not the PBX.
    let bye = tcp(&in_dialog("BYE", 2, "call-tc", "callee", "z9hG4bK-tcb"));
    let out = h.receive(on("127.0.0.9:40003", 3), &bye);
    assert_eq!(statuses(&out, "127.0.0.9:40003"), [403]);
    // Nor the PBX's host over UDP.
    let out = h.receive(
        udp("127.0.0.1:40002"),
        &in_dialog("BYE", 3, "call-tc", "callee", "z9hG4bK-tcu"),
    );
    assert_eq!(statuses(&out, "127.0.0.1:40002"), [403]);
}

const UNUSABLE: SdpRefusal = SdpRefusal {
    status: 488,
    retry_after: None,
};

#[test]
fn an_offer_the_policy_refuses_is_answered_and_never_forwarded() {
    for (refusal, retry_after) in [
        (UNUSABLE, None),
        (
            SdpRefusal {
                status: 503,
                retry_after: Some(5),
            },
            Some("5"),
        ),
    ] {
        let mut h = Harness::new();
        h.policy.refuse_from = Some((Leg::Caller, refusal));
        let out = h.receive(udp(PBX), &invite("call-r", "z9hG4bK-r"));
        assert!(only(&out, CARRIER).is_empty(), "nothing is forwarded");
        let to_pbx = only(&out, PBX);
        assert_eq!(to_pbx.len(), 1);
        assert_eq!(to_pbx[0].status_code(), Some(refusal.status));
        assert_eq!(to_pbx[0].headers.get(&HeaderName::RetryAfter), retry_after);
        assert!(matches!(
            h.policy.events.last(),
            Some(ProxyEvent::CallEnded { reason: EndReason::Rejected(code), .. }) if *code == refusal.status
        ));
        assert_eq!(h.proxy.dialog_count(), 0);
        let later = h.advance(Duration::from_secs(2));
        assert!(later
            .iter()
            .all(|(peer, m)| peer.addr == addr(PBX) && m.status_code() == Some(refusal.status)));
    }
}

/// An INVITE as SIP-I carriers send it: SDP and ISUP in a multipart/mixed body.
fn multipart_invite(call_id: &str, branch: &str, isup: &[u8]) -> Vec<u8> {
    let sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 20000 RTP/AVP 8\r\n";
    let mut body = format!(
        "--isup-1\r\nContent-Type: application/sdp\r\n\r\n{sdp}\r\n--isup-1\r\n\
         Content-Type: application/ISUP;version=itu-t92+\r\nContent-Disposition: signal;handling=optional\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(isup);
    body.extend_from_slice(b"\r\n--isup-1--\r\n");
    let head = invite(call_id, branch);
    let head = head.split("Content-Type:").next().unwrap().to_string();
    let mut message = format!(
        "{head}Content-Type: multipart/mixed;boundary=isup-1\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    message.extend_from_slice(&body);
    message
}

#[test]
fn the_sdp_part_of_a_multipart_body_is_rewritten_and_the_other_parts_kept() {
    let mut h = Harness::new();
    let isup = b"\x01\x00\x49\x00\x00\x03\x02\x00\x07\x04\x10\x00\x33\x63";
    let datagram = multipart_invite("call-m", "z9hG4bK-m", isup);
    h.proxy
        .handle_datagram(h.now, udp(PBX), &datagram, &mut h.policy);
    let out = h.outputs();
    let forwarded = only(&out, CARRIER)[0].clone();
    assert_eq!(
        forwarded.headers.get(&HeaderName::ContentType),
        Some("multipart/mixed;boundary=isup-1")
    );
    let body = forwarded.body.to_vec();
    let text = String::from_utf8_lossy(&body);
    assert!(text.contains("c=IN IP4 127.0.0.9"), "{text}");
    assert!(!text.contains("c=IN IP4 127.0.0.1"), "{text}");
    assert!(body.windows(isup.len()).any(|w| w == isup));
    assert!(
        h.policy.seen[0].starts_with(b"v=0"),
        "the policy sees the SDP part only"
    );
}

#[test]
fn a_provisional_answer_the_policy_refuses_goes_on_without_its_sdp() {
    let mut h = Harness::new();
    h.policy.refuse_from = Some((Leg::Callee, UNUSABLE));
    let out = h.receive(udp(PBX), &invite("call-p", "z9hG4bK-p"));
    let forwarded = only(&out, CARRIER)[0].clone();
    let sdp = "v=0\r\no=- 2 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 8\r\n";
    let out = h.receive(udp(CARRIER), &answer(&forwarded, 183, "callee", sdp));
    let progress = only(&out, PBX);
    assert_eq!(progress[0].status_code(), Some(183));
    assert!(progress[0].body.is_empty());
    assert_eq!(progress[0].headers.get(&HeaderName::ContentType), None);
}

#[test]
fn a_2xx_the_policy_refuses_is_replaced_upstream_and_the_callee_is_acked_and_hung_up() {
    let mut h = Harness::new();
    h.policy.refuse_from = Some((Leg::Callee, UNUSABLE));
    let out = h.receive(udp(PBX), &invite("call-a", "z9hG4bK-a"));
    let forwarded = only(&out, CARRIER)[0].clone();
    let sdp = "v=0\r\no=- 2 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 8\r\n";
    let out = h.receive(udp(CARRIER), &answer(&forwarded, 200, "callee", sdp));
    let to_pbx = only(&out, PBX);
    assert_eq!(to_pbx.len(), 1);
    assert_eq!(
        to_pbx[0].status_code(),
        Some(488),
        "the 2xx never reaches the caller"
    );
    assert!(to_pbx[0].body.is_empty());
    let to_carrier = only(&out, CARRIER);
    let methods: Vec<_> = to_carrier.iter().map(|m| m.method().cloned()).collect();
    assert_eq!(methods, [Some(Method::Ack), Some(Method::Bye)]);
    let ack = to_carrier[0];
    assert_eq!(
        ack.request_line().unwrap().uri,
        format!("sip:carrier@{CARRIER}")
    );
    assert_eq!(ack.cseq().unwrap().seq, 1);
    assert_eq!(ack.to_tag(), Some("callee"));
    assert!(ack.body.is_empty());
    assert!(matches!(
        h.policy.events.last(),
        Some(ProxyEvent::CallEnded {
            reason: EndReason::Rejected(488),
            ..
        })
    ));
    assert_eq!(h.proxy.dialog_count(), 0);
    let bye = to_carrier[1].clone();
    h.receive(udp(CARRIER), &answer(&bye, 200, "callee", ""));
    // The caller acknowledges the 488; everything then ends.
    let ack = in_dialog("ACK", 1, "call-a", "x", "z9hG4bK-a")
        .replace("Route: <sip:127.0.0.1:5060;lr>\r\n", "");
    h.receive(udp(PBX), &ack);
    h.advance(Duration::from_secs(64));
    assert_eq!(h.proxy.transaction_count(), 0);
}

#[test]
fn an_answer_in_an_ack_the_policy_refuses_goes_nowhere_and_the_call_is_hung_up() {
    let mut h = Harness::new();
    // A late offer: the INVITE has no SDP, the 200 carries the offer, the ACK the
    // answer (RFC 3264 §4).
    let without_sdp = invite("call-late", "z9hG4bK-late");
    let head = without_sdp.split("Content-Type:").next().unwrap();
    let out = h.receive(udp(PBX), &format!("{head}Content-Length: 0\r\n\r\n"));
    let forwarded = only(&out, CARRIER)[0].clone();
    let offer = "v=0\r\no=- 2 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 8\r\n";
    let out = h.receive(udp(CARRIER), &answer(&forwarded, 200, "callee", offer));
    assert_eq!(only(&out, PBX)[0].status_code(), Some(200));
    h.policy.refuse_from = Some((Leg::Caller, UNUSABLE));
    let sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 20000 RTP/AVP 8\r\n";
    let ack = in_dialog("ACK", 1, "call-late", "callee", "z9hG4bK-late-ack").replace(
        "Content-Length: 0\r\n\r\n",
        &format!(
            "Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
            sdp.len()
        ),
    );
    let out = h.receive(udp(PBX), &ack);
    let to_carrier = only(&out, CARRIER);
    let methods: Vec<_> = to_carrier.iter().map(|m| m.method().cloned()).collect();
    assert_eq!(methods, [Some(Method::Ack), Some(Method::Bye)]);
    assert!(
        to_carrier[0].body.is_empty(),
        "the refused answer is not relayed"
    );
    assert_eq!(to_carrier[0].headers.get(&HeaderName::ContentType), None);
    let to_pbx = only(&out, PBX);
    assert_eq!(
        to_pbx[0].method(),
        Some(&Method::Bye),
        "the caller is hung up too"
    );
    assert_eq!(h.proxy.dialog_count(), 0);
}

#[test]
fn a_multipart_body_whose_sdp_cannot_be_isolated_is_given_whole_and_refused() {
    let mut h = Harness::new();
    h.policy.refuse_from = Some((Leg::Caller, UNUSABLE));
    let isup = b"\x01\x00";
    let datagram = multipart_invite("call-u", "z9hG4bK-u", isup);
    // The header names a boundary the body does not use.
    let text = String::from_utf8_lossy(&datagram).replace("boundary=isup-1", "boundary=other");
    let out = h.receive(udp(PBX), &text);
    assert!(only(&out, CARRIER).is_empty());
    assert_eq!(only(&out, PBX)[0].status_code(), Some(488));
    assert!(h.policy.seen[0].starts_with(b"--isup-1"), "the whole body");
}

mod lifecycle;

#[cfg(test)]
mod transport_errors;
