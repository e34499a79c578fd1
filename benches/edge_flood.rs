//! Memory of the real binary under a flood from a source no tenant owns: RSS
//! before and after 30,000 padded INVITE, OPTIONS and REGISTER requests from
//! 127.0.0.9 (each answered once, statelessly), and the transaction count the
//! gateway exports. A measurement to read, not a timed assertion:
//!
//!     cargo bench --bench edge_flood
//!
//! `FLOOD_REQUESTS` changes the number of requests (at most 1,000,000).

#[path = "../tests/support/mod.rs"]
mod support;

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use support::config::{GatewayConfig, TenantSpec};
use support::flood::{self, Answers};
use support::gateway::Gateway;

const DEFAULT_REQUESTS: usize = 30_000;
const MAX_REQUESTS: usize = 1_000_000;
const RESPONSE_BOUND: Duration = Duration::from_secs(10);

/// `VmRSS` and `VmHWM` (peak) of a process, in kB.
fn memory_kb(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc/PID/status");
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kb| kb.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn main() {
    // `cargo bench` passes `--bench`; a `cargo test --benches` run passes nothing
    // and only checks that the measurement still builds.
    if !std::env::args().any(|arg| arg == "--bench") {
        return;
    }
    let requests = std::env::var("FLOOD_REQUESTS")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(DEFAULT_REQUESTS)
        .min(MAX_REQUESTS);
    std::env::set_var("GREFFIER_LOG", "info");
    let pbx: SocketAddr = "127.0.0.1:5999".parse().unwrap();
    let carrier: SocketAddr = "127.0.0.2:5998".parse().unwrap();
    let gateway = Gateway::start(GatewayConfig::write(vec![TenantSpec::new(
        "acme",
        "+33199000001",
        pbx,
        carrier,
    )]));
    let pid = gateway.pid();
    let transactions = |gateway: &Gateway| {
        gateway
            .metrics()
            .sum("greffier_sip_transactions", &[])
            .unwrap_or(f64::NAN)
    };
    let (rss_before, _) = memory_kb(pid);
    let attacker = UdpSocket::bind("127.0.0.9:0").expect("bind 127.0.0.9");
    let mut answers = Answers::new();
    let started = Instant::now();
    flood::send_windows(
        &attacker,
        gateway.sip_addr(),
        0,
        requests,
        RESPONSE_BOUND,
        &mut answers,
    )
    .expect("every request answered");
    let elapsed = started.elapsed();
    flood::drain(&attacker, &mut answers).expect("drain the attacker's socket");
    let (rss_after, rss_peak) = memory_kb(pid);
    let responses: usize = answers.values().map(Vec::len).sum();
    println!(
        "edge_flood: {requests} requests of {} bytes from 127.0.0.9 in {elapsed:.2?} \
         ({:.0}/s); {responses} responses; transactions after: {}; \
         RSS before {rss_before} kB, after {rss_after} kB (+{} kB), peak {rss_peak} kB",
        flood::request(requests, gateway.sip_addr(), attacker.local_addr().unwrap()).len(),
        requests as f64 / elapsed.as_secs_f64(),
        transactions(&gateway),
        rss_after.saturating_sub(rss_before),
    );
}
