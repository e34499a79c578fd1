//! A call whose media stops: after the configured silence the gateway ends it
//! itself, with a BYE to each side, and frees its media ports.

mod support;

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use support::config::{GatewayConfig, TenantSpec};
use support::gateway::Gateway;
use support::ports::free_port;
use support::sipp::{scenario, SippCommand};
use support::sockets::Transport;

const PBX_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);
const CARRIER_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);

#[test]
fn a_call_without_rtp_is_ended_with_bye_on_both_sides() {
    support::sipp::require_sipp();
    let pbx = SocketAddr::from((PBX_IP, free_port(PBX_IP)));
    let carrier = SocketAddr::from((CARRIER_IP, free_port(CARRIER_IP)));
    let config = GatewayConfig::write(vec![TenantSpec::new("acme", "+33123456789", pbx, carrier)]);
    // A short media timeout, so the test lasts seconds.
    let main = std::fs::read_to_string(config.path()).unwrap();
    std::fs::write(
        config.path(),
        main.replacen("[node]\n", "[node]\nrtp_timeout_secs = 2\n", 1),
    )
    .unwrap();
    let gateway = Gateway::start(config);
    let run_dir = gateway.config.run_dir();

    let answerer = SippCommand::new(
        "carrier",
        &scenario("uas_answer.xml"),
        &run_dir,
        Transport::Udp,
        CARRIER_IP,
    )
    .local_port(carrier.port())
    .spawn();
    let caller = SippCommand::new(
        "pbx",
        &scenario("uac_silent_until_bye.xml"),
        &run_dir,
        Transport::Udp,
        PBX_IP,
    )
    .local_port(pbx.port())
    .remote(gateway.sip_addr())
    .service("+33198765432")
    .timeout(Duration::from_secs(30))
    .run();
    caller.assert_calls_succeeded(1);
    assert_eq!(
        caller.received_requests("BYE"),
        1,
        "the caller got the gateway's BYE"
    );
    let answerer = answerer.wait();
    answerer.assert_calls_succeeded(1);
    assert_eq!(
        answerer.received_requests("BYE"),
        1,
        "the callee got the gateway's BYE"
    );

    let metrics = gateway.metrics();
    assert_eq!(metrics.count("greffier_media_active_calls", &[]), 0.0);
    assert_eq!(
        metrics.count("greffier_media_ports_in_use", &[("family", "ipv4")]),
        0.0
    );
}
