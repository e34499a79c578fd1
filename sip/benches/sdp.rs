//! Anchoring cost per SDP: parse and rewrite of a typical two-codec audio offer with
//! DTMF, as every INVITE and 200 OK pays it.

use bytes::Bytes;
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use greffier_sip::sdp::{Anchor, SessionDescription};

const OFFER: &[u8] = b"v=0\r\n\
o=- 3912846205 3912846205 IN IP4 192.0.2.10\r\n\
s=call\r\n\
c=IN IP4 192.0.2.10\r\n\
t=0 0\r\n\
m=audio 49170 RTP/AVP 9 8 101\r\n\
a=rtpmap:9 G722/8000\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-15\r\n\
a=rtcp:49171\r\n\
a=ptime:20\r\n\
a=sendrecv\r\n";

fn bench(c: &mut Criterion) {
    let body = Bytes::from_static(OFFER);
    let anchor = Anchor {
        address: "203.0.113.1".parse().expect("literal address"),
        ports: vec![Some(30000)],
    };
    let mut group = c.benchmark_group("sdp");
    group.throughput(Throughput::Bytes(OFFER.len() as u64));
    group.bench_function("parse", |b| {
        b.iter(|| SessionDescription::parse(black_box(&body)).expect("valid offer"))
    });
    group.bench_function("parse_plan_rewrite", |b| {
        b.iter(|| {
            let sdp = SessionDescription::parse(black_box(&body)).expect("valid offer");
            let plan = sdp.media_plan();
            black_box(plan);
            sdp.rewrite_for_anchor(black_box(&anchor))
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
