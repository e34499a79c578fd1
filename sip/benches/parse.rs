//! Parsing cost per message: a realistic INVITE with SDP (about 600 bytes) and its
//! 200 OK, by datagram and through the stream framer, plus serialisation.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use greffier_sip::message::{Message, StreamFramer};

const SDP: &str = "v=0\r\n\
o=alice 2890844526 2890844526 IN IP4 192.0.2.10\r\n\
s=-\r\n\
c=IN IP4 192.0.2.10\r\n\
t=0 0\r\n\
m=audio 49170 RTP/AVP 8 0 101\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-16\r\n\
a=ptime:20\r\n\
a=sendrecv\r\n";

fn invite() -> Vec<u8> {
    format!(
        "INVITE sip:+33123456789@pbx.example.com;user=phone SIP/2.0\r\n\
         Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776asdhds;rport\r\n\
         Max-Forwards: 70\r\n\
         To: <sip:+33123456789@pbx.example.com;user=phone>\r\n\
         From: \"Alice\" <sip:alice@example.com>;tag=1928301774\r\n\
         Call-ID: a84b4c76e66710@192.0.2.10\r\n\
         CSeq: 314159 INVITE\r\n\
         Contact: <sip:alice@192.0.2.10:5060>\r\n\
         Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, INFO\r\n\
         User-Agent: ExamplePhone/1.0\r\n\
         Content-Type: application/sdp\r\n\
         Content-Length: {}\r\n\r\n{SDP}",
        SDP.len()
    )
    .into_bytes()
}

fn ok_response() -> Vec<u8> {
    format!(
        "SIP/2.0 200 OK\r\n\
         Via: SIP/2.0/UDP 198.51.100.1:5060;branch=z9hG4bKproxy1\r\n\
         Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776asdhds;rport=5060;received=192.0.2.10\r\n\
         Record-Route: <sip:198.51.100.1;lr>\r\n\
         To: <sip:+33123456789@pbx.example.com;user=phone>;tag=a6c85cf\r\n\
         From: \"Alice\" <sip:alice@example.com>;tag=1928301774\r\n\
         Call-ID: a84b4c76e66710@192.0.2.10\r\n\
         CSeq: 314159 INVITE\r\n\
         Contact: <sip:pbx@203.0.113.5:5060>\r\n\
         Content-Type: application/sdp\r\n\
         Content-Length: {}\r\n\r\n{SDP}",
        SDP.len()
    )
    .into_bytes()
}

fn parsing(c: &mut Criterion) {
    let invite = invite();
    let ok = ok_response();
    let mut group = c.benchmark_group("parse");
    group.throughput(Throughput::Elements(1));
    group.bench_function(format!("invite_{}_bytes", invite.len()), |b| {
        b.iter(|| Message::parse_datagram(black_box(&invite)))
    });
    group.bench_function(format!("ok_{}_bytes", ok.len()), |b| {
        b.iter(|| Message::parse_datagram(black_box(&ok)))
    });
    group.bench_function("invite_stream_framer", |b| {
        let mut framer = StreamFramer::new();
        b.iter(|| {
            framer.push(black_box(&invite));
            framer.next_message()
        })
    });
    group.bench_function("invite_parse_and_type_key_headers", |b| {
        b.iter(|| {
            let message = Message::parse_datagram(black_box(&invite)).ok()?;
            Some((
                message.top_via(),
                message.cseq(),
                message.from_tag().map(str::len),
                message.request_uri(),
            ))
        })
    });
    group.finish();

    let parsed = Message::parse_datagram(&invite).expect("bench INVITE parses");
    c.bench_function("serialise/invite_to_bytes", |b| {
        b.iter(|| black_box(&parsed).to_bytes())
    });
}

criterion_group!(benches, parsing);
criterion_main!(benches);
