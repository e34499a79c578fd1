use bytes::Bytes;

use crate::sdp::*;

pub(super) fn parse(text: &str) -> Result<SessionDescription, SdpError> {
    SessionDescription::parse(&Bytes::copy_from_slice(text.as_bytes()))
}

pub(super) const OFFER: &str = "v=0\r\n\
o=alice 2890844526 2890844526 IN IP4 192.0.2.10\r\n\
s=-\r\n\
c=IN IP4 192.0.2.10\r\n\
b=AS:84\r\n\
t=0 0\r\n\
m=audio 49170 RTP/AVP 8 0 101\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-16\r\n\
a=ptime:20\r\n\
a=maxptime:40\r\n\
a=sendrecv\r\n";

#[test]
fn session_and_media_fields_are_read() {
    let sdp = parse(OFFER).unwrap();
    let origin = sdp.origin().unwrap();
    assert_eq!(origin.session_version, "2890844526");
    assert_eq!(
        origin.connection.address,
        ConnectionAddress::Ip("192.0.2.10".parse().unwrap())
    );
    assert_eq!(
        sdp.connection().unwrap().address,
        ConnectionAddress::Ip("192.0.2.10".parse().unwrap())
    );
    let [audio] = sdp.media() else {
        panic!("one media section expected");
    };
    assert_eq!(audio.media.media, "audio");
    assert_eq!(audio.media.port, 49170);
    assert_eq!(audio.media.proto, "RTP/AVP");
    assert_eq!(audio.media.formats, ["8", "0", "101"]);
    assert_eq!(audio.connection, None);
    assert_eq!(audio.direction, Some(MediaDirection::SendRecv));
    assert_eq!(audio.rtpmaps.len(), 2);
    assert_eq!(audio.fmtps, [(101, "0-16".to_string())]);
    assert_eq!(audio.ptime, Some(20));
    assert!(!audio.rtcp_mux);
    assert_eq!(audio.rtcp, None);
}

#[test]
fn bare_lf_parses_like_crlf() {
    let lf = OFFER.replace("\r\n", "\n");
    let from_lf = parse(&lf).unwrap();
    let from_crlf = parse(OFFER).unwrap();
    assert_eq!(from_lf.media(), from_crlf.media());
    assert_eq!(from_lf.origin(), from_crlf.origin());
}

#[test]
fn session_level_direction_is_the_default() {
    let sdp = parse(
        "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\na=sendonly\r\n\
         m=audio 4000 RTP/AVP 0\r\nm=audio 4002 RTP/AVP 0\r\na=inactive\r\n",
    )
    .unwrap();
    assert_eq!(sdp.direction(), Some(MediaDirection::SendOnly));
    let [first, second] = sdp.media() else {
        panic!("two sections expected");
    };
    assert_eq!(sdp.direction_of(first), MediaDirection::SendOnly);
    assert_eq!(sdp.direction_of(second), MediaDirection::Inactive);
    let plain = parse(OFFER.replace("a=sendrecv\r\n", "").as_str()).unwrap();
    assert_eq!(
        plain.direction_of(&plain.media()[0]),
        MediaDirection::SendRecv
    );
}

#[test]
fn rtcp_attribute_and_mux_are_read_per_section() {
    let sdp = parse(
        "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\n\
         m=audio 4000 RTP/AVP 0\r\nc=IN IP4 192.0.2.1\r\na=rtcp:4005 IN IP4 192.0.2.9\r\n\
         m=video 4010 RTP/AVP 31\r\nc=IN IP4 192.0.2.1\r\na=rtcp-mux\r\n",
    )
    .unwrap();
    let [audio, video] = sdp.media() else {
        panic!("two sections expected");
    };
    let rtcp = audio.rtcp.as_ref().unwrap();
    assert_eq!(rtcp.port, 4005);
    assert_eq!(
        rtcp.connection.as_ref().unwrap().address,
        ConnectionAddress::Ip("192.0.2.9".parse().unwrap())
    );
    assert!(!audio.rtcp_mux);
    assert!(video.rtcp_mux);
    assert_eq!(video.rtcp, None);
}

#[test]
fn refusals_say_why() {
    let cases = [
        ("", SdpError::Empty),
        ("\r\n\r\n", SdpError::Empty),
        ("s=-\r\n", SdpError::MissingVersion),
        ("v=1\r\n", SdpError::MissingVersion),
        (
            "v=0\r\nc=IN IP4\r\n",
            SdpError::line(2, "`c=` is not `IN IP4|IP6 <address>`"),
        ),
        (
            "v=0\r\nc=IN IP4 192.0.2.1\r\nm=audio port RTP/AVP 0\r\n",
            SdpError::line(3, "`m=` is not `<media> <port> <proto> <formats>`"),
        ),
        (
            "v=0\r\no=alice 1 IN IP4 192.0.2.1\r\n",
            SdpError::line(
                2,
                "`o=` is not `<user> <id> <version> IN IP4|IP6 <address>`",
            ),
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(parse(text).unwrap_err(), expected, "{text:?}");
    }
}

#[test]
fn a_section_without_any_connection_is_read_and_planned_as_unusable() {
    // RFC 8866 §5.7 wants a connection at media or session level; a section without
    // one cannot be sent to, but it does not make the other sections unreadable.
    let sdp = parse(
        "v=0\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\nc=IN IP4 192.0.2.1\r\nm=video 5000 RTP/AVP 31\r\n",
    )
    .unwrap();
    let plan = sdp.media_plan();
    assert!(matches!(plan.streams[0].rtp, RemoteAddress::Socket(_)));
    assert_eq!(plan.streams[1].rtp, RemoteAddress::Disabled);
    assert_eq!(plan.streams[1].rtcp, None);
}

#[test]
fn a_rejected_section_needs_no_connection() {
    let sdp = parse("v=0\r\nm=audio 0 RTP/AVP 0\r\n").unwrap();
    assert_eq!(sdp.media()[0].media.port, 0);
}

#[test]
fn size_and_section_limits() {
    let big = format!("v=0\r\ns={}\r\n", "x".repeat(MAX_SDP_LEN));
    assert!(matches!(parse(&big), Err(SdpError::TooLarge { .. })));
    let mut many = String::from("v=0\r\nc=IN IP4 192.0.2.1\r\n");
    for _ in 0..=MAX_MEDIA_SECTIONS {
        many.push_str("m=audio 4000 RTP/AVP 0\r\n");
    }
    assert_eq!(
        parse(&many).unwrap_err(),
        SdpError::TooManyMediaSections {
            max: MAX_MEDIA_SECTIONS
        }
    );
}

#[test]
fn errors_do_not_repeat_the_content() {
    let error = parse("v=0\r\nc=IN IP4 +33123456789\r\n").unwrap_err();
    assert!(!error.to_string().contains("33123456789"), "{error}");
}

#[test]
fn unknown_lines_and_unreadable_codec_attributes_are_kept() {
    let sdp = SessionDescription::parse(&Bytes::from_static(
        b"v=0\r\nc=IN IP4 192.0.2.1\r\nz=anything\r\nm=audio 1 RTP/AVP 96\r\n\
          a=rtpmap:96\r\na=ptime:x\r\na=tool:\xff\xfe\r\ns=\xe9\r\n",
    ))
    .unwrap();
    assert!(sdp.media()[0].rtpmaps.is_empty());
    assert_eq!(sdp.media()[0].ptime, None);
    let gateway = Anchor {
        address: "203.0.113.1".parse().unwrap(),
        ports: vec![Some(30000)],
    };
    let out = sdp.rewrite_for_anchor(&gateway);
    let tail: &[u8] = b"z=anything\r\nm=audio 30000 RTP/AVP 96\r\n\
        a=rtpmap:96\r\na=ptime:x\r\na=tool:\xff\xfe\r\ns=\xe9\r\n";
    assert!(out.ends_with(tail), "{out:?}");
}
