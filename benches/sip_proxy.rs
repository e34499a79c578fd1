//! One whole call through the proxy core, the way the shell feeds it: every message
//! parsed from bytes, routed, re-serialised. Throughput is calls per second on one
//! core, signalling only.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use greffier_sip::message::{HeaderName, Message};
use greffier_sip::proxy::{
    Direction, ForwardTarget, Proxy, ProxyConfig, ProxyPolicy, RateLimit, RouteDecision,
};
use greffier_sip::transaction::Timers;
use greffier_sip::{Peer, Transport};

const PBX: &str = "127.0.0.1:5080";
const CARRIER: &str = "127.0.0.1:5070";

struct ToCarrier;

impl ProxyPolicy for ToCarrier {
    fn route(&mut self, source: Peer, _request: &Message) -> RouteDecision {
        RouteDecision::Forward(ForwardTarget {
            tenant: "bench".parse().unwrap(),
            request_uri: format!("sip:service@{CARRIER}").into(),
            destination: CARRIER.parse().unwrap(),
            transport: source.transport,
            direction: Direction::Outbound,
        })
    }
}

fn invite(n: u64) -> String {
    let sdp = "v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 20000 RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\na=ptime:20\r\n";
    format!(
        "INVITE sip:service@{CARRIER} SIP/2.0\r\nVia: SIP/2.0/UDP {PBX};branch=z9hG4bK-{n}\r\n\
         From: sipp <sip:sipp@{PBX}>;tag={n}SIPpTag09\r\nTo: service <sip:service@{CARRIER}>\r\n\
         Call-ID: {n}-bench@127.0.0.1\r\nCSeq: 1 INVITE\r\nContact: sip:sipp@{PBX}\r\n\
         Max-Forwards: 70\r\nSubject: Performance Test\r\nContent-Type: application/sdp\r\n\
         Content-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    )
}

fn reply(forwarded: &Message, code: u16) -> String {
    let mut text = format!("SIP/2.0 {code} X\r\n");
    for via in forwarded.headers.get_all(&HeaderName::Via) {
        text.push_str(&format!("Via: {via}\r\n"));
    }
    for rr in forwarded.headers.get_all(&HeaderName::RecordRoute) {
        text.push_str(&format!("Record-Route: {rr}\r\n"));
    }
    let to = forwarded.headers.get(&HeaderName::To).unwrap_or_default();
    let to = if to.contains("tag=") {
        to.to_string()
    } else {
        format!("{to};tag=callee")
    };
    text.push_str(&format!(
        "From: {}\r\nTo: {to}\r\nCall-ID: {}\r\nCSeq: {}\r\nContact: <sip:{CARRIER};transport=UDP>\r\nContent-Length: 0\r\n\r\n",
        forwarded.headers.get(&HeaderName::From).unwrap_or_default(),
        forwarded.call_id().unwrap_or_default(),
        forwarded.headers.get(&HeaderName::CSeq).unwrap_or_default(),
    ));
    text
}

fn in_dialog(method: &str, n: u64, cseq: u32) -> String {
    format!(
        "{method} sip:{CARRIER} SIP/2.0\r\nVia: SIP/2.0/UDP {PBX};branch=z9hG4bK-{method}-{n}\r\n\
         From: sipp <sip:sipp@{PBX}>;tag={n}SIPpTag09\r\nTo: service <sip:service@{CARRIER}>;tag=callee\r\n\
         Call-ID: {n}-bench@127.0.0.1\r\nRoute: <sip:127.0.0.1:5060;lr>\r\nCSeq: {cseq} {method}\r\n\
         Contact: sip:sipp@{PBX}\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    )
}

/// Feeds one message and returns what went to the carrier.
fn feed(proxy: &mut Proxy, now: Instant, from: &str, text: &str) -> Option<Message> {
    let peer = Peer::new(Transport::Udp, from.parse::<SocketAddr>().unwrap());
    proxy.handle_datagram(now, peer, text.as_bytes(), &mut ToCarrier);
    let carrier: SocketAddr = CARRIER.parse().unwrap();
    let mut to_carrier = None;
    while let Some(t) = proxy.poll_transmit() {
        if t.peer.addr == carrier {
            to_carrier = Message::parse_datagram(&t.bytes).ok();
        }
    }
    to_carrier
}

fn whole_call(c: &mut Criterion) {
    let mut proxy = Proxy::new(ProxyConfig {
        listeners: vec![(Transport::Udp, "127.0.0.1:5060".parse().unwrap())],
        rate_limit: RateLimit {
            per_second: 1e9,
            burst: 1e9,
        },
        timers: Timers::default(),
        admission: Default::default(),
    });
    let start = Instant::now();
    let mut n = 0u64;
    let mut group = c.benchmark_group("proxy");
    group.throughput(Throughput::Elements(1));
    group.bench_function("call_invite_180_200_ack_bye_200", |b| {
        b.iter(|| {
            n += 1;
            // Time moves on so transactions expire as in a real run.
            let now = start + Duration::from_micros(n * 400);
            proxy.handle_timeout(now, &mut ToCarrier);
            let Some(forwarded) = feed(&mut proxy, now, PBX, &invite(n)) else {
                panic!("INVITE not forwarded")
            };
            feed(&mut proxy, now, CARRIER, &reply(&forwarded, 180));
            feed(&mut proxy, now, CARRIER, &reply(&forwarded, 200));
            feed(&mut proxy, now, PBX, &in_dialog("ACK", n, 1));
            let bye = feed(&mut proxy, now, PBX, &in_dialog("BYE", n, 2));
            if let Some(bye) = bye {
                feed(&mut proxy, now, CARRIER, &reply(&bye, 200));
            }
        })
    });
    group.finish();
}

criterion_group!(benches, whole_call);
criterion_main!(benches);
