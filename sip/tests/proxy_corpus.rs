//! The RFC 4475 and RFC 5118 torture messages through the proxy core (no sockets:
//! these messages carry other hosts' addresses). Every invalid message is refused and
//! never forwarded; every valid request is handled without a panic, and the cases the
//! RFC names get their specific answer.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Instant;

use greffier_sip::message::{HeaderName, Message, ParseErrorKind};
use greffier_sip::proxy::{
    Direction, ForwardTarget, Proxy, ProxyConfig, ProxyPolicy, RateLimit, RouteDecision, Transmit,
};
use greffier_sip::transaction::Timers;
use greffier_sip::{Peer, Transport};

const SOURCE: &str = "127.0.0.1:5080";
const NEXT_HOP: &str = "127.0.0.1:5070";

fn corpora() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpora")
}

/// Sends every request on to one loopback next hop.
struct ForwardAll;

impl ProxyPolicy for ForwardAll {
    fn route(&mut self, source: Peer, _request: &Message) -> RouteDecision {
        RouteDecision::Forward(ForwardTarget {
            tenant: "corpus".parse().unwrap(),
            request_uri: format!("sip:corpus@{NEXT_HOP}").into(),
            destination: NEXT_HOP.parse().unwrap(),
            transport: source.transport,
            direction: Direction::Outbound,
        })
    }
}

fn proxy() -> Proxy {
    Proxy::new(ProxyConfig {
        listeners: vec![(Transport::Udp, "127.0.0.1:5060".parse().unwrap())],
        rate_limit: RateLimit {
            per_second: 1e6,
            burst: 1e6,
        },
        timers: Timers::default(),
        admission: Default::default(),
    })
}

/// Name → expectation (`valid` / `invalid`) from a corpus index.
fn index(dir: &Path) -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(dir.join("index.tsv")).expect("corpus index");
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let mut cols = line.split('\t');
            Some((cols.next()?.to_string(), cols.next()?.to_string()))
        })
        .collect()
}

fn run(bytes: &[u8]) -> Vec<Transmit> {
    let mut proxy = proxy();
    let source = Peer::new(Transport::Udp, SOURCE.parse::<SocketAddr>().unwrap());
    proxy.handle_datagram(Instant::now(), source, bytes, &mut ForwardAll);
    std::iter::from_fn(|| proxy.poll_transmit()).collect()
}

fn forwarded(transmits: &[Transmit]) -> Vec<&Transmit> {
    let next: SocketAddr = NEXT_HOP.parse().unwrap();
    transmits.iter().filter(|t| t.peer.addr == next).collect()
}

/// The status code of a reply, read from its status line only: a 400 copies the
/// request's (possibly malformed) headers verbatim.
fn status_of(transmit: &Transmit) -> Option<u16> {
    let text = String::from_utf8_lossy(&transmit.bytes);
    let line = text.lines().next()?;
    line.strip_prefix("SIP/2.0 ")?.get(..3)?.parse().ok()
}

/// Messages the index lists as invalid that the proxy accepts and forwards, where
/// RFC 4475 allows either behaviour.
const FORWARDED_INVALID: [&str; 1] = [
    // §3.1.2.12: "may reject if Date matters; otherwise ignore". The proxy never
    // reads Date, and PBXs write local time zones.
    "baddate",
];

fn check_corpus(name: &str) {
    let dir = corpora().join(name);
    let expectations = index(&dir);
    assert!(expectations.len() >= 12, "{name}: index looks empty");
    for (message, expected) in &expectations {
        let path = dir.join(expected).join(format!("{message}.sip"));
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let transmits = run(&bytes);
        match expected.as_str() {
            "invalid" if FORWARDED_INVALID.contains(&message.as_str()) => {
                assert_eq!(
                    forwarded(&transmits).len(),
                    1,
                    "{name}/{message}: accepted and forwarded"
                );
            }
            "invalid" => {
                assert!(
                    forwarded(&transmits).is_empty(),
                    "{name}/{message}: an invalid message was forwarded"
                );
                for reply in &transmits {
                    let code = status_of(reply);
                    assert!(
                        matches!(code, Some(400..=599)),
                        "{name}/{message}: only an error reply may go back, got {code:?}"
                    );
                }
            }
            "valid" => {
                let parsed = Message::parse_datagram(&bytes);
                assert!(
                    parsed.is_ok(),
                    "{name}/{message}: valid message rejected: {parsed:?}"
                );
            }
            other => panic!("{name}/{message}: unknown expectation {other}"),
        }
    }
}

#[test]
fn rfc4475_messages_get_the_handling_the_rfc_gives() {
    check_corpus("rfc4475");
}

#[test]
fn rfc5118_messages_get_the_handling_the_rfc_gives() {
    check_corpus("rfc5118");
}

#[test]
fn zeromf_is_answered_483_and_not_forwarded() {
    let bytes = std::fs::read(corpora().join("rfc4475/valid/zeromf.sip")).unwrap();
    let transmits = run(&bytes);
    assert!(forwarded(&transmits).is_empty());
    assert_eq!(transmits.len(), 1);
    assert_eq!(status_of(&transmits[0]), Some(483));
}

#[test]
fn dblreq_processes_only_the_first_request() {
    let bytes = std::fs::read(corpora().join("rfc4475/valid/dblreq.sip")).unwrap();
    let transmits = run(&bytes);
    let sent = forwarded(&transmits);
    assert_eq!(sent.len(), 1, "one request forwarded");
    let message = Message::parse_datagram(&sent[0].bytes).unwrap();
    assert_eq!(message.method().map(|m| m.as_str()), Some("REGISTER"));
    assert!(
        !String::from_utf8_lossy(&sent[0].bytes).contains("INVITE"),
        "the trailing octets are never forwarded"
    );
}

#[test]
fn invalid_responses_are_dropped_silently() {
    for message in ["scalarlg", "bigcode"] {
        let bytes =
            std::fs::read(corpora().join(format!("rfc4475/invalid/{message}.sip"))).unwrap();
        assert!(run(&bytes).is_empty(), "{message}: nothing may be sent");
    }
}

#[test]
fn clerr_and_ncl_over_udp_are_refused() {
    for message in ["clerr", "ncl"] {
        let bytes =
            std::fs::read(corpora().join(format!("rfc4475/invalid/{message}.sip"))).unwrap();
        let error = Message::parse_datagram(&bytes).expect_err("must not parse");
        assert_ne!(error.kind(), ParseErrorKind::KeepAlive);
        assert!(forwarded(&run(&bytes)).is_empty());
    }
}

/// Every value of a header of a transmit.
fn header_values(transmit: &Transmit, name: &str) -> Vec<String> {
    let message = Message::parse_datagram(&transmit.bytes).expect("the proxy sends valid SIP");
    let name = HeaderName::parse(name);
    message.headers.get_all(&name).map(str::to_string).collect()
}

/// A NOTIFY the way a PBX sends message-waiting indications (an Alcatel OmniPCX
/// in a public capture): no Max-Forwards.
const PBX_NOTIFY: &str = "NOTIFY sip:+33100000001@127.0.0.1:5060 SIP/2.0\r\n\
    Via: SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bK-omni-1\r\n\
    From: <sip:+33100000002@127.0.0.1:5080>;tag=omni\r\n\
    To: <sip:+33100000001@127.0.0.1:5060>\r\n\
    Call-ID: mwi-1@127.0.0.1\r\n\
    CSeq: 1 NOTIFY\r\n\
    Event: message-summary\r\n\
    Subscription-State: active\r\n\
    User-Agent: OmniPCX Enterprise\r\n\
    Content-Type: application/simple-message-summary\r\n\
    Content-Length: 23\r\n\r\n\
    Messages-Waiting: yes\r\n";

/// RFC 3261 §16.6 step 3: a request without Max-Forwards (RFC 2543 agents, PBXs
/// that omit it) is forwarded with `Max-Forwards: 70`, never refused.
#[test]
fn a_request_without_max_forwards_is_forwarded_with_70() {
    let inv2543 = std::fs::read(corpora().join("rfc4475/valid/inv2543.sip")).unwrap();
    for (what, bytes) in [
        ("inv2543", inv2543),
        ("NOTIFY", PBX_NOTIFY.as_bytes().to_vec()),
    ] {
        assert!(
            !String::from_utf8_lossy(&bytes).contains("Max-Forwards"),
            "{what}: the message has no Max-Forwards"
        );
        let transmits = run(&bytes);
        let sent = forwarded(&transmits);
        assert_eq!(sent.len(), 1, "{what}: forwarded once");
        assert_eq!(header_values(sent[0], "Max-Forwards"), ["70"], "{what}");
        assert!(
            transmits
                .iter()
                .all(|t| status_of(t).is_none_or(|code| code < 300)),
            "{what}: nothing refused"
        );
    }
}

#[test]
fn baddate_is_forwarded_with_its_date_unchanged() {
    let bytes = std::fs::read(corpora().join("rfc4475/invalid/baddate.sip")).unwrap();
    let transmits = run(&bytes);
    let sent = forwarded(&transmits);
    assert_eq!(sent.len(), 1, "forwarded once");
    assert_eq!(
        header_values(sent[0], "Date"),
        ["Fri, 01 Jan 2010 16:00:00 EST"]
    );
    assert_eq!(header_values(sent[0], "Max-Forwards"), ["69"]);
}
