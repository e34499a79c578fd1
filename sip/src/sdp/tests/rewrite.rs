use std::net::IpAddr;

use bytes::Bytes;

use super::parse::{parse, OFFER};
use crate::sdp::*;

fn anchor(address: &str, ports: &[Option<u16>]) -> Anchor {
    Anchor {
        address: address.parse::<IpAddr>().unwrap(),
        ports: ports.to_vec(),
    }
}

fn rewrite(text: &str, anchor: &Anchor) -> String {
    let bytes = parse(text).unwrap().rewrite_for_anchor(anchor);
    String::from_utf8(bytes.to_vec()).unwrap()
}

#[test]
fn offer_points_at_the_gateway_and_keeps_the_rest() {
    let out = rewrite(OFFER, &anchor("203.0.113.1", &[Some(30000)]));
    let expected = OFFER
        .replace("192.0.2.10", "203.0.113.1")
        .replace("m=audio 49170", "m=audio 30000");
    assert_eq!(out, expected);
}

/// Input, gateway ports, expected output.
const EXACT_CASES: &[(&str, &[Option<u16>], &str)] = &[
    // Media-level c= lines of anchored sections, all of them; others stay.
    (
        "v=0\r\nm=audio 4000 RTP/AVP 0\r\nc=IN IP4 192.0.2.1\r\nc=IN IP4 192.0.2.2\r\nm=video 5000 RTP/AVP 31\r\nc=IN IP4 192.0.2.3\r\n",
        &[Some(30000), None],
        "v=0\r\nm=audio 30000 RTP/AVP 0\r\nc=IN IP6 2001:db8::1\r\nc=IN IP6 2001:db8::1\r\nm=video 5000 RTP/AVP 31\r\nc=IN IP4 192.0.2.3\r\n",
    ),
    (
        "v=0\r\nc=IN IP4 192.0.2.1\r\nm=audio 4000 RTP/AVP 0\r\nc=IN IP6 ::\r\na=sendonly\r\n",
        &[Some(30000)],
        "v=0\r\nc=IN IP6 2001:db8::1\r\nm=audio 30000 RTP/AVP 0\r\nc=IN IP6 ::\r\na=sendonly\r\n",
    ),
    // No port above 65535 for RTCP: the attribute goes.
    (
        "v=0\r\nc=IN IP4 192.0.2.1\r\nm=audio 4000 RTP/AVP 0\r\na=rtcp:4001\r\n",
        &[Some(65535)],
        "v=0\r\nc=IN IP6 2001:db8::1\r\nm=audio 65535 RTP/AVP 0\r\n",
    ),
    // The only inheriting section is left alone: the session c= stays too.
    (
        "v=0\r\nc=IN IP4 192.0.2.1\r\nm=audio 4000 RTP/AVP 0\r\n",
        &[None],
        "v=0\r\nc=IN IP4 192.0.2.1\r\nm=audio 4000 RTP/AVP 0\r\n",
    ),
    // A section without any connection gets the gateway's, after its i= line.
    (
        "v=0\r\nm=audio 0 RTP/AVP 0\r\ni=rejected before\r\na=sendrecv\r\n",
        &[Some(30000)],
        "v=0\r\nm=audio 30000 RTP/AVP 0\r\ni=rejected before\r\nc=IN IP6 2001:db8::1\r\na=sendrecv\r\n",
    ),
    (
        "v=0\r\nc=IN IP4 224.2.1.1/127/2\r\nm=video 4000/2 RTP/AVP 31\r\n",
        &[Some(30000)],
        "v=0\r\nc=IN IP6 2001:db8::1\r\nm=video 30000 RTP/AVP 31\r\n",
    ),
];

#[test]
fn exact_rewrites() {
    for (input, ports, expected) in EXACT_CASES {
        assert_eq!(
            rewrite(input, &anchor("2001:db8::1", ports)),
            *expected,
            "{input:?}"
        );
    }
}

#[test]
fn ipv6_gateway_writes_ip6() {
    let out = rewrite(OFFER, &anchor("2001:db8::1", &[Some(30000)]));
    assert!(
        out.contains("o=alice 2890844526 2890844526 IN IP6 2001:db8::1\r\n"),
        "{out}"
    );
    assert!(out.contains("c=IN IP6 2001:db8::1\r\n"), "{out}");
    let back = rewrite(&out, &anchor("192.0.2.200", &[Some(30000)]));
    assert!(back.contains("c=IN IP4 192.0.2.200\r\n"), "{back}");
}

#[test]
fn old_style_hold_stays_hold() {
    let held = OFFER.replace("c=IN IP4 192.0.2.10", "c=IN IP4 0.0.0.0");
    let out = rewrite(&held, &anchor("203.0.113.1", &[Some(30000)]));
    assert!(out.contains("c=IN IP4 0.0.0.0\r\n"), "{out}");
    assert!(out.contains("m=audio 30000 RTP/AVP"), "{out}");
    let plan = parse(&out).unwrap().media_plan();
    assert_eq!(plan.streams[0].rtp, RemoteAddress::Hold);

    let media_hold =
        "v=0\r\nc=IN IP4 192.0.2.1\r\nm=audio 4000 RTP/AVP 0\r\nc=IN IP6 ::\r\na=sendonly\r\n";
    let out = rewrite(media_hold, &anchor("2001:db8::1", &[Some(30000)]));
    assert_eq!(
        out,
        "v=0\r\nc=IN IP6 2001:db8::1\r\nm=audio 30000 RTP/AVP 0\r\nc=IN IP6 ::\r\na=sendonly\r\n"
    );
}

#[test]
fn rtcp_attribute_follows_the_gateway_port() {
    let text = "v=0\r\nc=IN IP4 192.0.2.1\r\n\
                m=audio 4000 RTP/AVP 0\r\na=rtcp:4001\r\n\
                m=audio 5000 RTP/AVP 0\r\na=rtcp:5009 IN IP4 192.0.2.77\r\n\
                m=audio 6000 RTP/AVP 0\r\na=rtcp:6000\r\na=rtcp-mux\r\n\
                m=audio 7000 RTP/AVP 0\r\na=rtcp:7001 IN IP4 0.0.0.0\r\n";
    let out = rewrite(
        text,
        &anchor(
            "203.0.113.1",
            &[Some(30000), Some(30002), Some(30004), Some(30006)],
        ),
    );
    assert!(
        out.contains("m=audio 30000 RTP/AVP 0\r\na=rtcp:30001\r\n"),
        "{out}"
    );
    assert!(
        out.contains("m=audio 30002 RTP/AVP 0\r\na=rtcp:30003 IN IP4 203.0.113.1\r\n"),
        "{out}"
    );
    assert!(
        out.contains("m=audio 30004 RTP/AVP 0\r\na=rtcp:30004\r\na=rtcp-mux\r\n"),
        "multiplexed RTCP stays on the RTP port: {out}"
    );
    assert!(out.contains("a=rtcp:30007 IN IP4 0.0.0.0\r\n"), "{out}");
}

#[test]
fn ice_is_removed_everywhere() {
    let text = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n\
                a=ice-lite\r\na=ice-options:trickle\r\n\
                m=audio 4000 RTP/AVP 0\r\na=ice-ufrag:F7gI\r\na=ice-pwd:x9cml/YzichV2+XlhiMu8g\r\n\
                a=candidate:1 1 UDP 2130706431 192.0.2.1 4000 typ host\r\n\
                a=candidate:2 1 UDP 1694498815 198.51.100.3 45664 typ srflx raddr 192.0.2.1 rport 4000\r\n\
                a=end-of-candidates\r\na=remote-candidates:1 192.0.2.5 5000\r\na=fingerprint:sha-256 AB:CD\r\n";
    let out = rewrite(text, &anchor("203.0.113.1", &[Some(30000)]));
    assert!(!out.contains("ice"), "{out}");
    assert!(!out.contains("candidate"), "{out}");
    assert!(out.contains("a=fingerprint:sha-256 AB:CD\r\n"), "{out}");
}

#[test]
fn sections_left_alone_keep_their_address() {
    let text = "v=0\r\nc=IN IP4 192.0.2.1\r\n\
                m=audio 4000 RTP/AVP 0\r\n\
                m=video 0 RTP/AVP 31\r\n\
                m=application 5000 TCP/BFCP *\r\ni=floor control\r\na=setup:active\r\n";
    let out = rewrite(text, &anchor("203.0.113.1", &[Some(30000)]));
    assert_eq!(
        out,
        "v=0\r\nc=IN IP4 203.0.113.1\r\n\
         m=audio 30000 RTP/AVP 0\r\n\
         m=video 0 RTP/AVP 31\r\n\
         m=application 5000 TCP/BFCP *\r\ni=floor control\r\nc=IN IP4 192.0.2.1\r\na=setup:active\r\n"
    );
    let plan = parse(&out).unwrap().media_plan();
    assert_eq!(
        plan.streams[2].rtp,
        parse(text).unwrap().media_plan().streams[2].rtp
    );
}

#[test]
fn origin_version_is_kept_or_incremented_on_request() {
    let sdp = parse(OFFER).unwrap();
    let gateway = anchor("203.0.113.1", &[Some(30000)]);
    let kept = sdp.rewrite_with_version(&gateway, OriginVersion::Keep);
    assert_eq!(kept, sdp.rewrite_for_anchor(&gateway));
    let bumped = sdp.rewrite_with_version(&gateway, OriginVersion::Increment(2));
    let bumped = String::from_utf8(bumped.to_vec()).unwrap();
    assert!(
        bumped.contains("o=alice 2890844526 2890844528 IN IP4 203.0.113.1\r\n"),
        "{bumped}"
    );
    assert_eq!(
        sdp.rewrite_with_version(&gateway, OriginVersion::Increment(2)),
        Bytes::from(bumped.clone()),
        "the same input and request give the same bytes"
    );
    let huge = OFFER.replace("2890844526 2890844526", "1 18446744073709551615");
    let out = parse(&huge)
        .unwrap()
        .rewrite_with_version(&gateway, OriginVersion::Increment(1));
    assert!(
        String::from_utf8(out.to_vec())
            .unwrap()
            .contains(" 18446744073709551615 IN IP4 203.0.113.1"),
        "a version that cannot grow is kept"
    );
}

#[test]
fn rewriting_is_idempotent_and_normalises_line_ends() {
    let gateway = anchor("203.0.113.1", &[Some(30000)]);
    let once = rewrite(&OFFER.replace("\r\n", "\n"), &gateway);
    assert_eq!(once, rewrite(OFFER, &gateway));
    assert_eq!(rewrite(&once, &gateway), once);
}

#[test]
fn unusual_spacing_outside_rewritten_tokens_is_kept() {
    let text = "v=0\r\nc=IN IP4 192.0.2.1\r\nm=audio  4000  RTP/AVP  0 8\r\n";
    let out = rewrite(text, &anchor("203.0.113.1", &[Some(30000)]));
    assert!(out.contains("m=audio  30000  RTP/AVP  0 8\r\n"), "{out}");
}
