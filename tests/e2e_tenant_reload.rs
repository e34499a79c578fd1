//! A tenant file added while the gateway runs: the reload gives the tenant its
//! keys before any call is routed to it, so its very first call is recorded
//! (before, it got no keys until a restart: no recording, no call record).

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use support::config::{GatewayConfig, TenantSpec};
use support::gateway::Gateway;
use support::ports::free_port;
use support::recorded::{get_recording, wait_listed_for, RecordedCall, CARRIER_IP, PBX_IP};

const STORED_BOUND: Duration = Duration::from_secs(20);
const RELOAD_BOUND: Duration = Duration::from_secs(10);
/// The tenant present from the start, on addresses of its own.
const FIRST_PBX_IP: std::net::Ipv4Addr = std::net::Ipv4Addr::new(127, 0, 0, 5);
const FIRST_CARRIER_IP: std::net::Ipv4Addr = std::net::Ipv4Addr::new(127, 0, 0, 6);
const ADDED: &str = "globex";

#[test]
fn a_tenant_added_at_run_time_records_its_first_call() {
    support::sipp::require_sipp();
    let first = TenantSpec::new(
        "acme",
        "+33123456789",
        SocketAddr::from((FIRST_PBX_IP, free_port(FIRST_PBX_IP))),
        SocketAddr::from((FIRST_CARRIER_IP, free_port(FIRST_CARRIER_IP))),
    );
    let mut gateway = Gateway::start(GatewayConfig::write(vec![first]));
    std::fs::create_dir_all(gateway.config.run_dir()).unwrap();

    let pbx = SocketAddr::from((PBX_IP, free_port(PBX_IP)));
    let carrier = SocketAddr::from((CARRIER_IP, free_port(CARRIER_IP)));
    let mut added = TenantSpec::new(ADDED, "+33123450000", pbx, carrier);
    added.recording_policy = "all".to_string();
    gateway.config.add_tenant(added);
    gateway.wait_for_log(&["configuration reloaded", ADDED], RELOAD_BOUND);

    RecordedCall::start(&gateway, pbx, carrier, "2000").finish();

    let config = gateway.config.path().to_path_buf();
    let entry = wait_listed_for(&config, ADDED, STORED_BOUND);
    assert_eq!(entry["incomplete"], false);
    let id = entry["id"].as_str().expect("an id");
    let out = gateway.config.run_dir().join("first-call.wav");
    get_recording(
        &config,
        ADDED,
        id,
        &["--out", out.to_str().expect("a UTF-8 path")],
    );
    let reader = hound::WavReader::open(&out).expect("a playable WAV");
    assert!(reader.duration() > 8000, "the first call's audio is there");
}
