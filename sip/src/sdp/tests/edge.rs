//! Session descriptions real carriers send that anchoring once let through
//! unanchored: each must be read, planned and rewritten so that no address of its
//! author survives in the output.

use bytes::Bytes;

use super::parse::parse;
use crate::sdp::*;

const GATEWAY: &str = "203.0.113.1";

pub(super) fn anchor_first(sdp: &SessionDescription) -> String {
    let ports = (0..sdp.media().len())
        .map(|index| Some(if index == 0 { 30000 } else { 0 }))
        .collect();
    let out = sdp.rewrite_for_anchor(&Anchor {
        address: GATEWAY.parse().unwrap(),
        ports,
    });
    String::from_utf8(out.to_vec()).unwrap()
}

#[test]
fn upper_case_tokens_are_the_same_stream() {
    let sdp = parse(
        "v=0\r\no=- 1 1 in ip4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n\
         m=AUDIO 4000 rtp/avp 8 0\r\na=RTPMAP:8 pcma/8000\r\na=SENDONLY\r\n",
    )
    .unwrap();
    let plan = sdp.media_plan();
    let stream = &plan.streams[0];
    assert!(stream.is_recordable_audio());
    assert_eq!(stream.direction, MediaDirection::SendOnly);
    assert_eq!(stream.codec(8).unwrap().encoding, "pcma");
    let out = anchor_first(&sdp);
    assert!(out.contains("m=AUDIO 30000 rtp/avp 8 0\r\n"), "{out}");
    assert!(!out.contains("192.0.2.10"), "{out}");
}

#[test]
fn an_unreadable_rtcp_attribute_is_skipped_and_dropped() {
    let sdp = parse(
        "v=0\r\no=- 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n\
         m=audio 4000 RTP/AVP 8\r\na=rtcp:abc\r\na=rtcp:4001 IN IP4 192.0.2.66 extra\r\na=ptime:20\r\n",
    )
    .unwrap();
    let section = &sdp.media()[0];
    assert_eq!(section.rtcp, None);
    assert_eq!(section.ptime, Some(20), "the rest of the section is read");
    let plan = sdp.media_plan();
    assert_eq!(
        plan.streams[0].rtcp,
        Some(RemoteAddress::Socket("192.0.2.10:4001".parse().unwrap())),
        "RTCP defaults to RTP port + 1 (RFC 3605 §2.1)"
    );
    let out = anchor_first(&sdp);
    assert!(!out.contains("rtcp"), "{out}");
    assert!(
        !out.contains("192.0.2.66") && !out.contains("192.0.2.10"),
        "{out}"
    );
    assert!(out.contains("a=ptime:20\r\n"));
}

#[test]
fn media_level_connections_without_a_session_connection_are_anchored() {
    let sdp = parse(
        "v=0\r\no=- 1 1 IN IP4 192.0.2.10\r\ns=-\r\nt=0 0\r\n\
         m=audio 4000 RTP/AVP 8\r\nc=IN IP4 192.0.2.20\r\n\
         m=video 5000 RTP/AVP 96\r\nc=IN IP4 192.0.2.30\r\na=rtpmap:96 H264/90000\r\n\
         m=image 6000 udptl t38\r\n",
    )
    .unwrap();
    assert_eq!(sdp.connection(), None);
    let plan = sdp.media_plan();
    assert_eq!(
        plan.streams[0].rtp,
        RemoteAddress::Socket("192.0.2.20:4000".parse().unwrap())
    );
    let out = anchor_first(&sdp);
    assert!(
        out.contains(&format!(
            "m=audio 30000 RTP/AVP 8\r\nc=IN IP4 {GATEWAY}\r\n"
        )),
        "{out}"
    );
    assert!(out.contains("m=video 0 RTP/AVP 96"), "{out}");
    assert!(
        out.ends_with(&format!("m=image 0 udptl t38\r\nc=IN IP4 {GATEWAY}\r\n")),
        "a section without any connection is disabled, not fatal: {out}"
    );
    for author in ["192.0.2.10", "192.0.2.20", "192.0.2.30"] {
        assert!(!out.contains(author), "{author} left in {out}");
    }
}

#[test]
fn an_unknown_transport_is_read_but_not_recordable() {
    let sdp = parse(
        "v=0\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n\
         m=audio 4000 RTP/SAVP 8\r\n\
         m=audio 4010 x-proprietary/foo 8\r\n\
         m=audio 4020 RTP/AVPF 8\r\n",
    )
    .unwrap();
    let plan = sdp.media_plan();
    let recordable: Vec<bool> = plan
        .streams
        .iter()
        .map(MediaStream::is_recordable_audio)
        .collect();
    assert_eq!(recordable, [false, false, true]);
    assert_eq!(plan.streams[1].rtcp, None, "not RTP: no RTCP port guessed");
}

#[test]
fn a_multipart_body_with_an_isup_part_is_anchored_in_place() {
    let sdp = "v=0\r\no=- 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\nm=audio 4000 RTP/AVP 8\r\n";
    let isup: &[u8] = b"\x01\x00\x49\x00\x00\x03\x02\x00\x07\x04\x10\x00\x33\x63\r\n\x00";
    let mut body = format!(
        "--sep\r\nContent-Type: application/sdp\r\n\r\n{sdp}\r\n--sep\r\n\
         Content-Type: application/ISUP;version=itu-t92+\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(isup);
    body.extend_from_slice(b"\r\n--sep--\r\n");
    let SdpLocation::At(range) = SdpLocation::find(Some("multipart/mixed; boundary=sep"), &body)
    else {
        panic!("the SDP part is not found");
    };
    let description = SessionDescription::parse(&Bytes::copy_from_slice(&body[range.clone()]))
        .expect("the SDP part parses on its own");
    let rewritten = anchor_first(&description);
    let out = splice(&body, &range, rewritten.as_bytes());
    let tail = &body[range.end..];
    assert!(out.ends_with(tail), "every byte after the SDP part is kept");
    assert!(
        out.starts_with(&body[..range.start]),
        "and every byte before it"
    );
    assert!(out.windows(isup.len()).any(|window| window == isup));
    assert!(!String::from_utf8_lossy(&out).contains("192.0.2.10"));
}
