//! SDP bodies from the shared corpora (RFC 4475 / RFC 5118 messages and the SIP
//! messages inside the captures) through parsing, the media plan and anchoring.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use greffier_capture::Capture;
use greffier_sip::message::{HeaderName, Message};
use greffier_sip::sdp::{
    Anchor, ConnectionAddress, MediaStream, RemoteAddress, SessionDescription,
};
use proptest::prelude::*;

fn corpora() -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/corpora")).to_path_buf()
}

struct Body {
    source: String,
    sdp: Bytes,
}

fn sdp_body(message: &Message) -> Option<Bytes> {
    let content_type = message.headers.get(&HeaderName::ContentType)?;
    let is_sdp = content_type
        .trim()
        .to_ascii_lowercase()
        .starts_with("application/sdp");
    (is_sdp && !message.body.is_empty()).then(|| message.body.clone())
}

fn corpus_bodies() -> Vec<Body> {
    let mut bodies = Vec::new();
    for corpus in ["rfc4475", "rfc5118"] {
        let dir = corpora().join(corpus).join("valid");
        let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
            .expect("corpus folder readable")
            .map(|entry| entry.expect("corpus entry").path())
            .collect();
        paths.sort();
        for path in paths {
            let bytes = std::fs::read(&path).expect("corpus file readable");
            let Ok(message) = Message::parse_datagram(&bytes) else {
                continue;
            };
            if let Some(sdp) = sdp_body(&message) {
                let name = path.file_stem().unwrap_or_default().to_string_lossy();
                bodies.push(Body {
                    source: format!("{corpus}/{name}"),
                    sdp,
                });
            }
        }
    }
    bodies
}

fn capture_bodies() -> Vec<Body> {
    let dir = corpora().join("pcaps");
    let mut bodies = Vec::new();
    for name in [
        "wssample_SIP_DTMF2.pcap",
        "wssample_nb6-telephone.pcap",
        "wssample_sip-rtp-g722.pcap",
        "wssample_sip-rtp-opus.pcap",
    ] {
        let capture = Capture::read_file(&dir.join(name)).expect("capture readable");
        let before = bodies.len();
        for message in capture.sip_messages() {
            let parsed = Message::parse_datagram(&message.bytes).ok();
            if let Some(sdp) = parsed.as_ref().and_then(sdp_body) {
                bodies.push(Body {
                    source: format!("pcaps/{name}#{}", bodies.len() - before),
                    sdp,
                });
            }
        }
        assert!(bodies.len() > before, "{name}: no SDP found");
    }
    bodies
}

fn all_bodies() -> Vec<Body> {
    let mut bodies = corpus_bodies();
    bodies.extend(capture_bodies());
    bodies
}

/// Gateway ports for every section that has a port; rejected sections stay rejected.
fn anchor_for(sdp: &SessionDescription, address: &str) -> Anchor {
    let ports = sdp
        .media()
        .iter()
        .enumerate()
        .map(|(index, section)| {
            (section.media.port != 0).then(|| 40000 + 2 * u16::try_from(index).unwrap())
        })
        .collect();
    Anchor {
        address: address.parse().unwrap(),
        ports,
    }
}

fn is_anchoring_line(line: &str) -> bool {
    let ice = [
        "a=candidate",
        "a=ice-",
        "a=end-of-candidates",
        "a=remote-candidates",
    ];
    ["c=", "m=", "o=", "a=rtcp:"]
        .iter()
        .chain(ice.iter())
        .any(|prefix| line.starts_with(prefix))
}

/// The lines anchoring must not touch, in order.
fn untouched_lines(sdp: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(sdp)
        .lines()
        .map(|line| line.trim_end_matches('\r').to_string())
        .filter(|line| !line.trim().is_empty() && !is_anchoring_line(line))
        .collect()
}

fn same_stream_apart_from_addresses(before: &MediaStream, after: &MediaStream) -> bool {
    before.media == after.media
        && before.proto == after.proto
        && before.formats == after.formats
        && before.codecs == after.codecs
        && before.direction == after.direction
        && before.rtcp_mux == after.rtcp_mux
        && before.ptime == after.ptime
}

fn check_anchored(body: &Body, gateway: &str) {
    let source = &body.source;
    let original =
        SessionDescription::parse(&body.sdp).unwrap_or_else(|error| panic!("{source}: {error}"));
    let anchor = anchor_for(&original, gateway);
    let gateway_ip: IpAddr = anchor.address;
    let rewritten = original.rewrite_for_anchor(&anchor);
    let reparsed = SessionDescription::parse(&rewritten)
        .unwrap_or_else(|error| panic!("{source}: rewritten SDP does not parse: {error}"));

    let origin = reparsed.origin().expect("corpus SDPs have o=");
    assert_eq!(
        origin.connection.address,
        ConnectionAddress::Ip(gateway_ip),
        "{source}"
    );
    if let Some(connection) = reparsed.connection() {
        let held = original
            .connection()
            .is_some_and(|c| c.address.is_unspecified());
        let expected = if held {
            original.connection().map(|c| c.address.clone())
        } else {
            Some(ConnectionAddress::Ip(gateway_ip))
        };
        assert_eq!(
            Some(connection.address.clone()),
            expected,
            "{source}: session c="
        );
    }

    let before = original.media_plan();
    let after = reparsed.media_plan();
    assert_eq!(before.streams.len(), after.streams.len(), "{source}");
    for (index, (old, new)) in before.streams.iter().zip(&after.streams).enumerate() {
        assert!(
            same_stream_apart_from_addresses(old, new),
            "{source} #{index}: {old:?} → {new:?}"
        );
        let Some(port) = anchor.ports[index] else {
            assert_eq!(old.rtp, new.rtp, "{source} #{index}: left alone");
            continue;
        };
        if old.rtp == RemoteAddress::Hold {
            assert_eq!(new.rtp, RemoteAddress::Hold, "{source} #{index}");
            continue;
        }
        assert_eq!(
            new.rtp,
            RemoteAddress::Socket(SocketAddr::new(gateway_ip, port)),
            "{source} #{index}"
        );
        if old.rtcp.is_some() {
            let rtcp = SocketAddr::new(gateway_ip, port + 1);
            assert_eq!(
                new.rtcp,
                Some(RemoteAddress::Socket(rtcp)),
                "{source} #{index}"
            );
        }
    }

    assert_eq!(
        untouched_lines(&body.sdp),
        untouched_lines(&rewritten),
        "{source}"
    );
    let text = String::from_utf8_lossy(&rewritten);
    let family = if gateway_ip.is_ipv6() {
        "IN IP6 "
    } else {
        "IN IP4 "
    };
    for line in text
        .lines()
        .filter(|line| line.starts_with("c=") || line.starts_with("o="))
    {
        assert!(line.contains(family), "{source}: {line}");
    }
    assert!(
        !text.contains("a=candidate") && !text.contains("a=ice-"),
        "{source}"
    );
    assert_eq!(
        reparsed.rewrite_for_anchor(&anchor),
        rewritten,
        "{source}: idempotent"
    );
}

#[test]
fn corpora_hold_the_expected_sdp_bodies() {
    let corpus: Vec<String> = corpus_bodies()
        .into_iter()
        .map(|body| body.source)
        .collect();
    for expected in [
        "rfc4475/sdp01",
        "rfc4475/inv2543",
        "rfc5118/ipv6-in-sdp",
        "rfc5118/mult-ip-in-sdp",
    ] {
        assert!(
            corpus.iter().any(|source| source == expected),
            "{expected} missing: {corpus:?}"
        );
    }
    assert!(capture_bodies().len() >= 8);
}

#[test]
fn every_body_anchors_to_an_ipv4_gateway() {
    for body in all_bodies() {
        check_anchored(&body, "203.0.113.1");
    }
}

#[test]
fn every_body_anchors_to_an_ipv6_gateway() {
    for body in all_bodies() {
        check_anchored(&body, "2001:db8::99");
    }
}

#[test]
fn ipv6_sdps_become_ip6_everywhere() {
    for body in corpus_bodies().into_iter().filter(|body| {
        body.source.ends_with("ipv6-in-sdp") || body.source.ends_with("mult-ip-in-sdp")
    }) {
        let sdp = SessionDescription::parse(&body.sdp).unwrap();
        let rewritten = sdp.rewrite_for_anchor(&anchor_for(&sdp, "2001:db8::99"));
        let text = String::from_utf8_lossy(&rewritten);
        assert!(!text.contains("IP4"), "{}: {text}", body.source);
        assert_eq!(
            text.matches("IN IP6 2001:db8::99").count(),
            text.matches("IN IP6").count()
        );
        assert!(text.contains("c=IN IP6 2001:db8::99\r\n"), "{text}");
    }
}

#[test]
fn capture_codecs_are_read() {
    let plans: Vec<_> = capture_bodies()
        .iter()
        .map(|body| SessionDescription::parse(&body.sdp).unwrap().media_plan())
        .collect();
    let has = |name: &str, rate: u32| {
        plans.iter().any(|plan| {
            plan.streams.iter().any(|stream| {
                stream.codecs.iter().any(|codec| {
                    codec.encoding.eq_ignore_ascii_case(name) && codec.clock_rate == rate
                })
            })
        })
    };
    assert!(has("PCMA", 8000));
    assert!(has("G722", 8000));
    assert!(has("opus", 48000));
    assert!(has("telephone-event", 8000));
}

#[derive(Debug, Clone)]
enum Edit {
    Insert(usize, u8),
    Remove(usize),
    Replace(usize, u8),
}

fn apply(bytes: &[u8], edits: &[Edit]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    for edit in edits {
        match *edit {
            Edit::Insert(at, byte) => out.insert(at % (out.len() + 1), byte),
            Edit::Remove(at) if !out.is_empty() => {
                out.remove(at % out.len());
            }
            Edit::Replace(at, byte) if !out.is_empty() => {
                let at = at % out.len();
                out[at] = byte;
            }
            _ => {}
        }
    }
    out
}

fn edit() -> impl Strategy<Value = Edit> {
    let byte = prop_oneof![
        Just(b'\r'),
        Just(b'\n'),
        Just(b' '),
        Just(b'='),
        Just(b':'),
        Just(b'/'),
        Just(b'0'),
        Just(b'9'),
        any::<u8>()
    ];
    prop_oneof![
        (any::<usize>(), byte.clone()).prop_map(|(at, byte)| Edit::Insert(at, byte)),
        any::<usize>().prop_map(Edit::Remove),
        (any::<usize>(), byte).prop_map(|(at, byte)| Edit::Replace(at, byte)),
    ]
}

fn random_anchor() -> impl Strategy<Value = Anchor> {
    let address = prop_oneof![
        any::<[u8; 4]>().prop_map(IpAddr::from),
        any::<[u8; 16]>().prop_map(IpAddr::from),
    ];
    let ports = proptest::collection::vec(proptest::option::of(any::<u16>()), 0..6);
    (address, ports).prop_map(|(address, ports)| Anchor { address, ports })
}

/// Whatever parses can be planned and rewritten; the rewrite parses again and a
/// second rewrite with the same anchor changes nothing.
fn check_total(bytes: Bytes, anchor: &Anchor) -> Result<(), TestCaseError> {
    let Ok(sdp) = SessionDescription::parse(&bytes) else {
        return Ok(());
    };
    let _ = sdp.media_plan();
    let once = sdp.rewrite_for_anchor(anchor);
    let reparsed = SessionDescription::parse(&once);
    prop_assert!(
        reparsed.is_ok(),
        "{:?} → {:?}: {:?}",
        bytes,
        once,
        reparsed.err()
    );
    let reparsed = reparsed.unwrap();
    let _ = reparsed.media_plan();
    prop_assert_eq!(reparsed.rewrite_for_anchor(anchor), once);
    Ok(())
}

proptest! {
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..1024), anchor in random_anchor()) {
        check_total(Bytes::from(bytes), &anchor)?;
    }

    #[test]
    fn mutated_corpus_sdps_never_panic_and_rewrite_idempotently(
        pick in any::<usize>(),
        edits in proptest::collection::vec(edit(), 1..8),
        anchor in random_anchor(),
    ) {
        let bodies = corpus_bodies();
        let body = &bodies[pick % bodies.len()];
        check_total(Bytes::from(apply(&body.sdp, &edits)), &anchor)?;
    }
}
