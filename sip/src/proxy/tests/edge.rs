//! Hostile sources against the proxy core: spoofed floods, keep-alive floods and
//! full tables. Every refusal is one stateless response (or none), and nothing a
//! stranger sends makes the proxy keep state.

use super::*;

const ATTACKER: &str = "127.0.0.9:5099";
/// Bytes of filler per request, as in a padded flood that makes each held
/// transaction (and each retransmitted response) expensive.
const PADDING: usize = 1_000;

fn padded(method: &str, uri: &str, n: usize, from: &str) -> String {
    let cseq_method = method;
    format!(
        "{method} {uri} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {from};branch=z9hG4bK-flood-{n}\r\n\
         From: <sip:flood@{from}>;tag=f{n}\r\n\
         To: <sip:+33199000001@{CARRIER}>\r\n\
         Call-ID: flood-{n}\r\n\
         CSeq: 1 {cseq_method}\r\n\
         Contact: <sip:flood@{from}>\r\n\
         Max-Forwards: 70\r\n\
         X-Padding: {}\r\n\
         Content-Length: 0\r\n\r\n",
        "a".repeat(PADDING)
    )
}

/// The three requests a scanner sends most: a call, a keep-alive to the gateway
/// itself, a registration.
fn flood_request(n: usize, from: &str) -> String {
    match n % 3 {
        0 => padded("INVITE", &format!("sip:+33199000001@{CARRIER}"), n, from),
        1 => padded("OPTIONS", &format!("sip:{PROXY}"), n, from),
        _ => padded("REGISTER", &format!("sip:{PROXY}"), n, from),
    }
}

fn responses(outputs: &[(Peer, Message)]) -> Vec<&Message> {
    outputs
        .iter()
        .filter(|(_, m)| !m.is_request())
        .map(|(_, m)| m)
        .collect()
}

#[test]
fn a_spoofed_invite_gets_one_response_and_leaves_nothing_to_retransmit() {
    let mut h = Harness::new();
    let text = flood_request(0, ATTACKER);
    let out = h.receive(udp(ATTACKER), &text);
    assert_eq!(out.len(), 1, "exactly one response: {out:?}");
    let refusal = &out[0].1;
    assert_eq!(refusal.status_code(), Some(403));
    assert_eq!(h.proxy.transaction_count(), 0);
    assert_eq!(h.proxy.dialog_count(), 0);
    assert!(
        h.advance(Duration::from_secs(40)).is_empty(),
        "no retransmission of the 403 (Timer G) ever"
    );
    // A retransmitted request is one more request: one more response, same To tag.
    let again = h.receive(udp(ATTACKER), &text);
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].1.to_tag(), refusal.to_tag());
    // The ACK to a stateless refusal is a stray ACK: dropped quietly.
    let ack = text
        .replace("INVITE sip", "ACK sip")
        .replace("CSeq: 1 INVITE", "CSeq: 1 ACK")
        .replace(
            &format!("To: <sip:+33199000001@{CARRIER}>"),
            &format!(
                "To: <sip:+33199000001@{CARRIER}>;tag={}",
                refusal.to_tag().unwrap()
            ),
        );
    assert!(h.receive(udp(ATTACKER), &ack).is_empty());
    assert_eq!(h.proxy.transaction_count(), 0);
}

#[test]
fn a_flood_from_an_unknown_source_keeps_no_transaction_and_gets_one_response_each() {
    let mut h = Harness::new();
    const FLOOD: usize = 3_000;
    let mut answered = 0;
    for n in 0..FLOOD {
        // Many source ports, as a spoofing attacker would use.
        let from = format!("127.0.0.9:{}", 10_000 + n % 50_000);
        let out = h.receive(udp(&from), &flood_request(n, &from));
        let replies = responses(&out);
        assert_eq!(replies.len(), 1, "request {n}: {out:?}");
        assert_eq!(replies[0].status_code(), Some(403));
        assert!(out.iter().all(|(peer, _)| peer.addr == addr(&from)));
        answered += replies.len();
        assert_eq!(h.proxy.transaction_count(), 0, "after request {n}");
        if n % 500 == 0 {
            h.advance(Duration::from_millis(100));
        }
    }
    assert_eq!(answered, FLOOD);
    assert!(h.advance(Duration::from_secs(40)).is_empty());
    assert_eq!(h.proxy.transaction_count(), 0);
    assert_eq!(h.proxy.dialog_count(), 0);
    assert!(h.policy.events.is_empty(), "no call ever started");
}

#[test]
fn with_drop_an_unknown_source_gets_nothing_at_all() {
    let mut h = Harness::with_admission(
        RateLimit {
            per_second: 1000.0,
            burst: 1000.0,
        },
        Admission {
            unknown_source: UnknownSource::Drop,
            ..Admission::default()
        },
    );
    for n in 0..30 {
        assert!(h
            .receive(udp(ATTACKER), &flood_request(n, ATTACKER))
            .is_empty());
    }
    let bye = in_dialog("BYE", 2, "flood-0", "x", "z9hG4bK-drop-bye").replace(PBX, ATTACKER);
    assert!(h.receive(udp(ATTACKER), &bye).is_empty());
    assert_eq!(h.proxy.transaction_count(), 0);
    // The tenant's own PBX is still served.
    let out = h.receive(udp(PBX), &invite("call-ok", "z9hG4bK-ok"));
    assert_eq!(only(&out, CARRIER).len(), 1);
}

#[test]
fn keep_alives_to_the_gateway_are_answered_without_a_transaction_after_the_rate_limit() {
    let mut h = Harness::with_limit(RateLimit {
        per_second: 1.0,
        burst: 2.0,
    });
    let options = |n: usize| flood_request(1 + 3 * n, PBX);
    for n in 0..2 {
        let out = h.receive(udp(PBX), &options(n));
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].1.status_code(), Some(200));
        assert!(out[0].1.headers.get(&HeaderName::Allow).is_some());
    }
    assert_eq!(h.proxy.transaction_count(), 0, "keep-alives hold nothing");
    let out = h.receive(udp(PBX), &options(2));
    assert_eq!(out.len(), 1);
    assert_eq!(
        out[0].1.status_code(),
        Some(503),
        "the rate limit comes first"
    );
    assert_eq!(h.proxy.transaction_count(), 0);
    assert!(h.advance(Duration::from_secs(40)).is_empty());
}

#[test]
fn the_proxys_own_refusals_are_stateless() {
    let mut h = Harness::with_limit(RateLimit {
        per_second: 0.001,
        burst: 1.0,
    });
    let zero_hops = invite("r-mf", "z9hG4bK-r-mf").replace("Max-Forwards: 70", "Max-Forwards: 0");
    let no_dialog = in_dialog("BYE", 2, "r-nd", "x", "z9hG4bK-r-nd");
    let first = invite("r-1", "z9hG4bK-r-1");
    let limited = invite("r-2", "z9hG4bK-r-2");
    let mut codes = Vec::new();
    for text in [&zero_hops, &no_dialog, &first, &limited] {
        let out = h.receive(udp(PBX), text);
        let to_pbx = only(&out, PBX);
        codes.push(to_pbx.last().and_then(|m| m.status_code()));
    }
    assert_eq!(codes, vec![Some(483), Some(481), Some(100), Some(503)]);
    // Only the forwarded INVITE holds transactions (one each way).
    assert_eq!(h.proxy.transaction_count(), 2);
    let later = h.advance(Duration::from_secs(2));
    assert!(
        only(&later, PBX).is_empty(),
        "no refusal is retransmitted: {later:?}"
    );
}

#[test]
fn past_the_dialog_cap_new_calls_get_503_with_retry_after() {
    let mut h = Harness::with_admission(
        RateLimit {
            per_second: 1000.0,
            burst: 1000.0,
        },
        Admission {
            max_dialogs: 2,
            ..Admission::default()
        },
    );
    for n in 0..2 {
        let out = h.receive(
            udp(PBX),
            &invite(&format!("cap-{n}"), &format!("z9hG4bK-cap{n}")),
        );
        assert_eq!(only(&out, CARRIER).len(), 1);
    }
    let transactions = h.proxy.transaction_count();
    let out = h.receive(udp(PBX), &invite("cap-2", "z9hG4bK-cap2"));
    assert!(only(&out, CARRIER).is_empty());
    let refusal = only(&out, PBX);
    assert_eq!(refusal.len(), 1);
    assert_eq!(refusal[0].status_code(), Some(503));
    assert!(refusal[0].headers.get(&HeaderName::RetryAfter).is_some());
    assert_eq!(h.proxy.dialog_count(), 2);
    assert_eq!(
        h.proxy.transaction_count(),
        transactions,
        "refused statelessly"
    );
}

#[test]
fn past_the_transaction_cap_new_requests_get_503_but_calls_can_still_end() {
    let mut h = Harness::with_admission(
        RateLimit {
            per_second: 1000.0,
            burst: 1000.0,
        },
        Admission {
            // New requests stop at 9: four forwarded INVITEs hold 8.
            max_transactions: 10,
            ..Admission::default()
        },
    );
    let mut forwarded = Vec::new();
    for n in 0..4 {
        let out = h.receive(
            udp(PBX),
            &invite(&format!("tx-{n}"), &format!("z9hG4bK-tx{n}")),
        );
        forwarded.push(only(&out, CARRIER)[0].clone());
    }
    assert_eq!(h.proxy.transaction_count(), 8);
    let out = h.receive(udp(PBX), &invite("tx-4", "z9hG4bK-tx4"));
    assert!(only(&out, CARRIER).is_empty());
    assert_eq!(only(&out, PBX)[0].status_code(), Some(503));
    assert!(only(&out, PBX)[0]
        .headers
        .get(&HeaderName::RetryAfter)
        .is_some());
    let out = h.receive(udp(PBX), &flood_request(7, PBX));
    assert_eq!(
        out[0].1.status_code(),
        Some(200),
        "keep-alives need no room"
    );
    // The first call is answered; its BYE still fits under the hard cap.
    h.receive(udp(CARRIER), &answer(&forwarded[0], 200, "callee", ""));
    let transactions = h.proxy.transaction_count();
    assert!(transactions + 2 <= 10, "{transactions}");
    let out = h.receive(
        udp(PBX),
        &in_dialog("BYE", 2, "tx-0", "callee", "z9hG4bK-tx0-bye"),
    );
    assert_eq!(only(&out, CARRIER)[0].method(), Some(&Method::Bye));
}
