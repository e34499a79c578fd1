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
struct TestPolicy {
    events: Vec<ProxyEvent>,
    offers: Vec<(Leg, SdpKind)>,
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
            tenant: "demo".into(),
            request_uri: format!("sip:{user}@{CARRIER}"),
            destination: addr(CARRIER),
            transport: source.transport,
            direction: Direction::Outbound,
        })
    }

    fn rewrite_sdp(&mut self, _: DialogId, from: Leg, kind: SdpKind, sdp: &Bytes) -> Option<Bytes> {
        self.offers.push((from, kind));
        let text = String::from_utf8_lossy(sdp).replace("c=IN IP4 127.0.0.1", "c=IN IP4 127.0.0.9");
        Some(Bytes::from(text))
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
            policy: TestPolicy {
                events: Vec::new(),
                offers: Vec::new(),
            },
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
    format!(
        "{method} sip:carrier@{CARRIER} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {PBX};branch={branch}\r\n\
         Route: <sip:{PROXY};lr>\r\n\
         From: <sip:+33199000002@{PBX}>;tag=caller\r\n\
         To: <sip:+33199000001@{CARRIER}>;tag={to_tag}\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: {cseq} {method}\r\n\
         Max-Forwards: 70\r\n\
         Content-Length: 0\r\n\r\n"
    )
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
            inner: TestPolicy {
                events: Vec::new(),
                offers: Vec::new(),
            },
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
                tenant: "demo".into(),
                request_uri: "sip:+33199000001@[::1]:5070".into(),
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
