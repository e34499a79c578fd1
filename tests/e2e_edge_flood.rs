//! A flood from a source no tenant owns (127.0.0.9), against the real binary:
//! padded INVITEs, OPTIONS and REGISTERs, as a scanner or a reflection attack
//! with a spoofed source would send them. Each request gets at most one response
//! and the proxy holds no transaction for any of them.

mod support;

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use support::config::{GatewayConfig, TenantSpec};
use support::gateway::Gateway;

const TRANSACTIONS: &str = "greffier_sip_transactions";
const DIALOGS: &str = "greffier_sip_dialogs";
const REJECTS: &str = "greffier_sip_rejects_total";
const REQUESTS: &str = "greffier_sip_requests_received_total";

const ATTACKER: &str = "127.0.0.9:0";
const PBX: &str = "127.0.0.1:5999";
const CARRIER: &str = "127.0.0.2:5998";
/// Requests in the flood, and how many are in flight at once (the attacker
/// waits for the answers of a window before the next, so that no datagram is
/// lost to a full socket buffer and every one can be accounted for).
const FLOOD: usize = 30_000;
const WINDOW: usize = 50;
/// Bytes of filler per request: each request is about 1.3 kB.
const PADDING: usize = 1_000;
/// Bounds of the whole flood and of each wait for a response.
const FLOOD_BOUND: Duration = Duration::from_secs(300);
const RESPONSE_BOUND: Duration = Duration::from_secs(10);
/// Metrics are read this often during the flood.
const SAMPLE_EVERY: usize = 5_000;

fn gateway(node_settings: &str) -> Gateway {
    let pbx: SocketAddr = PBX.parse().unwrap();
    let carrier: SocketAddr = CARRIER.parse().unwrap();
    let config = GatewayConfig::write(vec![TenantSpec::new("acme", "+33199000001", pbx, carrier)])
        .with_node_settings(node_settings);
    Gateway::start(config)
}

/// Request `n` of the flood: an INVITE to a tenant's number, a keep-alive to the
/// gateway, or a registration, each padded.
fn flood_request(n: usize, gateway: SocketAddr, from: SocketAddr) -> String {
    let (method, uri) = match n % 3 {
        0 => ("INVITE", format!("sip:+33199000001@{gateway}")),
        1 => ("OPTIONS", format!("sip:{gateway}")),
        _ => ("REGISTER", format!("sip:{gateway}")),
    };
    format!(
        "{method} {uri} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {from};branch=z9hG4bK-flood-{n}\r\n\
         From: <sip:flood@{from}>;tag=f{n}\r\n\
         To: <sip:+33199000001@{gateway}>\r\n\
         Call-ID: flood-{n}\r\n\
         CSeq: 1 {method}\r\n\
         Contact: <sip:flood@{from}>\r\n\
         Max-Forwards: 70\r\n\
         X-Padding: {}\r\n\
         Content-Length: 0\r\n\r\n",
        "a".repeat(PADDING)
    )
}

/// The Call-ID and status of a response.
fn parse_response(bytes: &[u8]) -> (String, u16) {
    let text = String::from_utf8_lossy(bytes);
    let status = text
        .strip_prefix("SIP/2.0 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("not a response: {text}"));
    let call_id = text
        .lines()
        .find_map(|line| line.strip_prefix("Call-ID: "))
        .unwrap_or_else(|| panic!("no Call-ID: {text}"))
        .to_string();
    (call_id, status)
}

fn transactions(gateway: &Gateway) -> f64 {
    let metrics = gateway.metrics();
    metrics
        .sum(TRANSACTIONS, &[])
        .unwrap_or_else(|| panic!("the gateway exports {TRANSACTIONS}\n{}", metrics.text))
}

#[test]
fn a_flood_from_an_unknown_source_gets_one_response_per_request_and_leaves_no_state() {
    let gateway = gateway("");
    let target = gateway.sip_addr();
    let attacker = UdpSocket::bind(ATTACKER).unwrap();
    attacker.set_read_timeout(Some(RESPONSE_BOUND)).unwrap();
    let from = attacker.local_addr().unwrap();
    let started = Instant::now();
    let mut answers: HashMap<String, Vec<u16>> = HashMap::new();
    let mut buffer = vec![0u8; 65_536];
    let mut transaction_samples = Vec::new();
    let mut sent = 0;
    while sent < FLOOD {
        assert!(
            started.elapsed() < FLOOD_BOUND,
            "the flood took longer than {FLOOD_BOUND:?}"
        );
        let window = WINDOW.min(FLOOD - sent);
        for n in sent..sent + window {
            attacker
                .send_to(flood_request(n, target, from).as_bytes(), target)
                .unwrap();
        }
        sent += window;
        for _ in 0..window {
            let (len, _) = attacker.recv_from(&mut buffer).unwrap_or_else(|error| {
                panic!(
                    "no response within {RESPONSE_BOUND:?} after {sent} requests: {error}\n{}",
                    gateway.stderr_tail(20)
                )
            });
            let (call_id, status) = parse_response(&buffer[..len]);
            answers.entry(call_id).or_default().push(status);
        }
        if sent % SAMPLE_EVERY == 0 {
            transaction_samples.push(transactions(&gateway));
        }
    }
    let flood_time = started.elapsed();

    // Every response so far was read; anything still queued is a second one.
    attacker.set_nonblocking(true).unwrap();
    while let Ok((len, _)) = attacker.recv_from(&mut buffer) {
        let (call_id, status) = parse_response(&buffer[..len]);
        answers.entry(call_id).or_default().push(status);
    }
    let metrics = gateway.metrics();
    assert_eq!(answers.len(), FLOOD, "every request was answered");
    let repeated: Vec<_> = answers
        .iter()
        .filter(|(_, codes)| codes.len() > 1)
        .collect();
    assert!(
        repeated.is_empty(),
        "{} requests got more than one response, e.g. {:?}",
        repeated.len(),
        repeated.first()
    );
    assert!(
        answers.values().all(|codes| codes == &[403]),
        "a stranger gets 403 and nothing else"
    );
    // No transaction at any point: nothing is left that could retransmit.
    assert!(
        transaction_samples.iter().all(|&count| count == 0.0),
        "transactions during the flood: {transaction_samples:?}"
    );
    assert_eq!(
        metrics.sum(TRANSACTIONS, &[]),
        Some(0.0),
        "{}",
        metrics.text
    );
    assert_eq!(metrics.sum(DIALOGS, &[]), Some(0.0), "{}", metrics.text);
    assert_eq!(
        metrics.count(REJECTS, &[("reason", "unknown_source")]),
        FLOOD as f64,
        "{}",
        metrics.text
    );
    eprintln!(
        "{FLOOD} requests of {} bytes in {flood_time:?}; transactions sampled: {transaction_samples:?}",
        flood_request(FLOOD, target, from).len()
    );
}

#[test]
fn with_unknown_source_drop_a_flood_gets_no_answer_at_all() {
    let gateway = gateway("unknown_source = \"drop\"");
    let target = gateway.sip_addr();
    let attacker = UdpSocket::bind(ATTACKER).unwrap();
    let from = attacker.local_addr().unwrap();
    const DROPPED: usize = 1_000;
    /// Requests between two barriers: few enough for the socket buffers.
    const CHUNK: usize = 100;
    // The gateway handles messages in order: once the tenant's PBX has the answer
    // to a keep-alive sent after a chunk, whatever the attacker was to get for that
    // chunk is already in its socket.
    let pbx = UdpSocket::bind("127.0.0.1:0").unwrap();
    pbx.set_read_timeout(Some(RESPONSE_BOUND)).unwrap();
    let pbx_addr = pbx.local_addr().unwrap();
    let mut buffer = vec![0u8; 65_536];
    for chunk in 0..DROPPED / CHUNK {
        for n in chunk * CHUNK..(chunk + 1) * CHUNK {
            attacker
                .send_to(flood_request(n, target, from).as_bytes(), target)
                .unwrap();
        }
        let barrier = format!("barrier-{chunk}");
        pbx.send_to(
            flood_request(1, target, pbx_addr)
                .replace("flood-1", &barrier)
                .as_bytes(),
            target,
        )
        .unwrap();
        let (len, _) = pbx
            .recv_from(&mut buffer)
            .expect("the PBX's OPTIONS answered");
        assert_eq!(parse_response(&buffer[..len]), (barrier, 200));
    }

    attacker.set_nonblocking(true).unwrap();
    let answered = std::iter::from_fn(|| attacker.recv_from(&mut buffer).ok()).count();
    assert_eq!(answered, 0, "the gateway stays silent to strangers");
    let metrics = gateway.metrics();
    assert_eq!(
        metrics.count(REQUESTS, &[]),
        (DROPPED + DROPPED / CHUNK) as f64,
        "every request reached the proxy\n{}",
        metrics.text
    );
    assert_eq!(
        metrics.count(REJECTS, &[("reason", "unknown_source")]),
        DROPPED as f64,
        "{}",
        metrics.text
    );
    assert_eq!(
        metrics.sum(TRANSACTIONS, &[]),
        Some(0.0),
        "{}",
        metrics.text
    );
}
