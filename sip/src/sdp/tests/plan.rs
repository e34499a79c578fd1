use std::net::SocketAddr;

use super::parse::{parse, OFFER};
use crate::sdp::*;

fn socket(text: &str) -> RemoteAddress {
    RemoteAddress::Socket(text.parse::<SocketAddr>().unwrap())
}

#[test]
fn rtp_from_session_connection_and_rtcp_at_port_plus_one() {
    let plan = parse(OFFER).unwrap().media_plan();
    let [audio] = plan.streams.as_slice() else {
        panic!("one stream expected");
    };
    assert_eq!(audio.rtp, socket("192.0.2.10:49170"));
    assert_eq!(audio.rtcp, Some(socket("192.0.2.10:49171")));
    assert_eq!(audio.direction, MediaDirection::SendRecv);
    assert_eq!(audio.ptime, Some(20));
    assert!(audio.author_sends() && audio.author_receives());
}

#[test]
fn media_level_connection_wins_and_a_rtcp_is_honoured() {
    let plan = parse(
        "v=0\r\nc=IN IP4 192.0.2.1\r\nm=audio 4000 RTP/AVP 0\r\nc=IN IP6 2001:db8::7\r\n\
         a=rtcp:4101\r\nm=audio 5000 RTP/AVP 0\r\na=rtcp:5001 IN IP4 192.0.2.99\r\na=rtcp-mux\r\n",
    )
    .unwrap()
    .media_plan();
    let [first, second] = plan.streams.as_slice() else {
        panic!("two streams expected");
    };
    assert_eq!(first.rtp, socket("[2001:db8::7]:4000"));
    assert_eq!(first.rtcp, Some(socket("[2001:db8::7]:4101")));
    assert_eq!(second.rtp, socket("192.0.2.1:5000"));
    assert_eq!(second.rtcp, Some(socket("192.0.2.99:5001")));
    assert!(second.rtcp_mux);
}

#[test]
fn hold_disabled_and_host_names() {
    let plan = parse(
        "v=0\r\nc=IN IP4 0.0.0.0\r\nm=audio 4000 RTP/AVP 0\r\nm=audio 0 RTP/AVP 0\r\n\
         m=audio 6000 RTP/AVP 0\r\nc=IN IP6 ::\r\nm=audio 7000 RTP/AVP 0\r\nc=IN IP4 media.example.com\r\n\
         m=image 8000 udptl t38\r\nc=IN IP4 192.0.2.3\r\n",
    )
    .unwrap()
    .media_plan();
    let streams = &plan.streams;
    assert_eq!(streams[0].rtp, RemoteAddress::Hold);
    assert!(!streams[0].author_receives());
    assert_eq!(streams[1].rtp, RemoteAddress::Disabled);
    assert_eq!(streams[1].rtcp, None);
    assert!(!streams[1].author_sends());
    assert_eq!(streams[2].rtp, RemoteAddress::Hold);
    assert_eq!(
        streams[3].rtp,
        RemoteAddress::Host {
            name: "media.example.com".into(),
            port: 7000
        }
    );
    assert_eq!(streams[4].rtp, socket("192.0.2.3:8000"));
    assert_eq!(streams[4].rtcp, None, "udptl carries no RTCP");
}

#[test]
fn directional_hold_is_reported() {
    let plan = parse(&OFFER.replace("a=sendrecv", "a=sendonly"))
        .unwrap()
        .media_plan();
    let audio = &plan.streams[0];
    assert_eq!(audio.direction, MediaDirection::SendOnly);
    assert!(audio.author_sends());
    assert!(!audio.author_receives());
    let plan = parse(&OFFER.replace("a=sendrecv", "a=inactive"))
        .unwrap()
        .media_plan();
    assert!(!plan.streams[0].author_sends() && !plan.streams[0].author_receives());
}

#[test]
fn codecs_static_dynamic_and_unknown() {
    let plan = parse(
        "v=0\r\nc=IN IP4 192.0.2.1\r\nm=audio 4000 RTP/AVP 111 9 0 8 13 101 96 31\r\n\
         a=rtpmap:111 opus/48000/2\r\na=fmtp:111 useinbandfec=1\r\na=rtpmap:101 telephone-event/8000\r\n\
         a=rtpmap:31 LPC\r\n",
    )
    .unwrap()
    .media_plan();
    let audio = &plan.streams[0];
    let summary: Vec<(u8, &str, u32, u16)> = audio
        .codecs
        .iter()
        .map(|codec| {
            (
                codec.payload_type,
                codec.encoding.as_str(),
                codec.clock_rate,
                codec.channels,
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (111, "opus", 48000, 2),
            (9, "G722", 8000, 1),
            (0, "PCMU", 8000, 1),
            (8, "PCMA", 8000, 1),
            (13, "CN", 8000, 1),
            (101, "telephone-event", 8000, 1),
            (31, "LPC", 90000, 1),
        ],
        "96 has no rtpmap and is left out"
    );
    assert_eq!(
        audio.codec(111).unwrap().format_parameters.as_deref(),
        Some("useinbandfec=1")
    );
    assert_eq!(audio.codec(96), None);
    assert_eq!(audio.formats.len(), 8);
}

#[test]
fn rtcp_above_the_last_port_is_absent() {
    let plan = parse("v=0\r\nc=IN IP4 192.0.2.1\r\nm=audio 65535 RTP/AVP 0\r\n")
        .unwrap()
        .media_plan();
    assert_eq!(plan.streams[0].rtp, socket("192.0.2.1:65535"));
    assert_eq!(plan.streams[0].rtcp, None);
}
