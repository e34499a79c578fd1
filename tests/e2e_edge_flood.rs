//! A flood from a source no tenant owns (127.0.0.9), against the real binary:
//! padded INVITEs, OPTIONS and REGISTERs, as a scanner or a reflection attack
//! with a spoofed source would send them. Each request gets at most one response
//! and the proxy holds no transaction for any of them.

mod support;

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use support::config::{GatewayConfig, TenantSpec};
use support::flood::{self, Answers};
use support::gateway::Gateway;

const TRANSACTIONS: &str = "greffier_sip_transactions";
const DIALOGS: &str = "greffier_sip_dialogs";
const REJECTS: &str = "greffier_sip_rejects_total";
const REQUESTS: &str = "greffier_sip_requests_received_total";

const ATTACKER: &str = "127.0.0.9:0";
const PBX: &str = "127.0.0.1:5999";
const CARRIER: &str = "127.0.0.2:5998";
/// Requests in the flood, sent in parts between which the metrics are read.
const FLOOD: usize = 30_000;
const PART: usize = 5_000;
/// Bounds of the whole flood and of each wait for a response.
const FLOOD_BOUND: Duration = Duration::from_secs(300);
const RESPONSE_BOUND: Duration = Duration::from_secs(10);

fn gateway(node_settings: &str) -> Gateway {
    let pbx: SocketAddr = PBX.parse().unwrap();
    let carrier: SocketAddr = CARRIER.parse().unwrap();
    let config = GatewayConfig::write(vec![TenantSpec::new("acme", "+33199000001", pbx, carrier)])
        .with_node_settings(node_settings);
    Gateway::start(config)
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
    let started = Instant::now();
    let mut answers = Answers::new();
    let mut transaction_samples = Vec::new();
    for first in (0..FLOOD).step_by(PART) {
        assert!(
            started.elapsed() < FLOOD_BOUND,
            "the flood took longer than {FLOOD_BOUND:?}"
        );
        flood::send_windows(&attacker, target, first, PART, RESPONSE_BOUND, &mut answers)
            .unwrap_or_else(|error| {
                panic!(
                    "a response missing within {RESPONSE_BOUND:?} in requests {first}..{}: {error}",
                    first + PART
                )
            });
        transaction_samples.push(transactions(&gateway));
    }
    let flood_time = started.elapsed();
    // Every response so far was read; anything still queued is a second one.
    flood::drain(&attacker, &mut answers).unwrap();

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
    eprintln!("{FLOOD} requests in {flood_time:?}; transactions sampled: {transaction_samples:?}");
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
                .send_to(flood::request(n, target, from).as_bytes(), target)
                .unwrap();
        }
        let barrier = format!("barrier-{chunk}");
        pbx.send_to(
            flood::request(1, target, pbx_addr)
                .replace("flood-1", &barrier)
                .as_bytes(),
            target,
        )
        .unwrap();
        let (len, _) = pbx
            .recv_from(&mut buffer)
            .expect("the PBX's OPTIONS answered");
        assert_eq!(flood::parse_response(&buffer[..len]), (barrier, 200));
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
