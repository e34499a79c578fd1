//! Each side of a call on its own transport, through the real binary: the next
//! hop's transport comes from the tenant's URI (`;transport=tcp`, UDP without
//! one), never from the side the call came in on; Record-Route is written twice
//! (RFC 5658) so each side's in-dialog requests come back on its own transport;
//! and a next hop the transport cannot reach (a refused TCP connection, an ICMP
//! port unreachable) gets the caller a 503 at once instead of 100 Trying until
//! Timer C.

mod support;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::{Duration, Instant};

use support::config::{GatewayConfig, TenantSpec};
use support::gateway::Gateway;
use support::ports::free_port;
use support::recorded::{caller_scenario, wait_listed, CARRIER_IP, PBX_IP, TENANT};
use support::sipp::{peerbench_scenario, scenario, SippCommand, SippRun};
use support::sockets::Transport;
use support::udp_peer::UdpPeer;

/// The tenant's own number (calls to it come from the carrier) and a number its
/// PBX dials out to.
const TENANT_NUMBER: &str = "+33123456789";
const DIALLED: &str = "+33198765432";
/// How long the stored recording may take to appear after the call ends.
const STORED_BOUND: Duration = Duration::from_secs(20);
/// Generous bound for a final response: far below Timer C (181 s), above
/// Timer B (32 s) so a 408 from the old behaviour shows as a wrong status.
const FINAL_BOUND: Duration = Duration::from_secs(40);
const TRANSPORT_ERRORS: &str = "greffier_sip_transport_errors_total";
const REJECTS: &str = "greffier_sip_rejects_total";

/// sipp options for a call with audio: the caller plays the capture and hangs
/// up after it, the answerer echoes.
#[derive(Default)]
struct Media {
    caller: Vec<&'static str>,
    answerer: Vec<&'static str>,
}

fn played_and_echoed() -> Option<Media> {
    // The capture lasts 7.05 s; the call outlives it.
    Some(Media {
        caller: vec!["-d", "8000"],
        answerer: vec!["-rtp_echo"],
    })
}

/// Which way a call goes: the PBX calling out to the carrier, or the carrier
/// calling the tenant's number on its PBX.
#[derive(Debug, Clone, Copy)]
enum Way {
    Outbound,
    Inbound,
}

/// A gateway for one tenant whose PBX and carrier listen on their own
/// transports, named in their URIs.
struct Mixed {
    gateway: Gateway,
    pbx: SocketAddr,
    pbx_transport: Transport,
    carrier: SocketAddr,
    carrier_transport: Transport,
}

/// `sip:addr`, with `;transport=tcp` for TCP; UDP is the default of a URI
/// without the parameter (RFC 3263 §4.1), which the UDP sides rely on.
fn uri(addr: SocketAddr, transport: Transport) -> String {
    match transport {
        Transport::Udp => format!("sip:{addr}"),
        Transport::Tcp => format!("sip:{addr};transport=tcp"),
    }
}

impl Mixed {
    fn start(pbx_transport: Transport, carrier_transport: Transport, recorded: bool) -> Mixed {
        support::sipp::require_sipp();
        let pbx = SocketAddr::from((PBX_IP, free_port(PBX_IP)));
        let carrier = SocketAddr::from((CARRIER_IP, free_port(CARRIER_IP)));
        let mut tenant = TenantSpec::new(TENANT, TENANT_NUMBER, pbx, carrier);
        tenant.pbx_uri = uri(pbx, pbx_transport);
        tenant.carrier_uri = uri(carrier, carrier_transport);
        if recorded {
            tenant.recording_policy = "all".to_string();
        }
        let gateway = Gateway::start(GatewayConfig::write(vec![tenant]));
        std::fs::create_dir_all(gateway.config.run_dir()).expect("the run directory");
        Mixed {
            gateway,
            pbx,
            pbx_transport,
            carrier,
            carrier_transport,
        }
    }

    fn sipp(&self, name: &str, file: &Path, transport: Transport, ip: Ipv4Addr) -> SippCommand {
        SippCommand::new(name, file, &self.gateway.config.run_dir(), transport, ip)
            .timeout(Duration::from_secs(60))
    }

    fn pbx(&self, name: &str, file: &Path) -> SippCommand {
        self.sipp(name, file, self.pbx_transport, PBX_IP)
            .local_port(self.pbx.port())
    }

    fn carrier(&self, name: &str, file: &Path) -> SippCommand {
        self.sipp(name, file, self.carrier_transport, CARRIER_IP)
            .local_port(self.carrier.port())
    }

    /// A call placed `way` (`caller_file` against `answerer_file`); returns
    /// (caller, answerer) once both are done.
    fn call(
        &self,
        way: Way,
        caller_file: &Path,
        answerer_file: &Path,
        media: Option<Media>,
    ) -> (SippRun, SippRun) {
        let media = media.unwrap_or_default();
        let (answerer, caller) = match way {
            Way::Outbound => (
                self.carrier("carrier", answerer_file),
                self.pbx("pbx", caller_file).service(DIALLED),
            ),
            Way::Inbound => (
                self.pbx("pbx", answerer_file),
                self.carrier("carrier", caller_file).service(TENANT_NUMBER),
            ),
        };
        let answerer = answerer.args(media.answerer).spawn();
        let caller = caller
            .remote(self.gateway.sip_addr())
            .args(media.caller)
            .run();
        (caller, answerer.wait())
    }

    /// The recording of the call is listed, complete.
    fn assert_recording_listed(&self) {
        let entry = wait_listed(self.gateway.config.path(), STORED_BOUND);
        assert_eq!(
            entry["incomplete"], false,
            "the recording is complete: {entry}"
        );
    }

    /// Every call ended: no dialog left in the gateway.
    fn assert_no_dialog_left(&self) {
        let metrics = self.gateway.metrics();
        assert_eq!(
            metrics.sum("greffier_sip_dialogs", &[]),
            Some(0.0),
            "{}",
            metrics.text
        );
    }
}

fn report(runs: &[&SippRun], gateway: &Gateway) -> String {
    let mut text: String = runs
        .iter()
        .map(|run| run.report())
        .collect::<Vec<_>>()
        .join("\n");
    text.push_str("\ngateway log:\n");
    text.push_str(&gateway.stderr_tail(40));
    text
}

/// The INVITE the answerer received carries two Record-Route values of the
/// gateway (RFC 5658 §3.2): the one facing the answerer on top, each naming its
/// side's transport.
fn assert_double_record_route(answerer: &SippRun, gateway: SocketAddr, answerer_side: Transport) {
    let invite = answerer
        .received()
        .find(|message| message.method() == Some("INVITE"))
        .expect("the answerer got the INVITE");
    let routes: Vec<&str> = invite
        .text
        .lines()
        .filter(|line| line.to_ascii_lowercase().starts_with("record-route:"))
        .flat_map(|line| {
            line.split_once(':')
                .map(|(_, v)| v)
                .into_iter()
                .flat_map(|v| v.split(','))
        })
        .map(str::trim)
        .collect();
    let tcp = format!("<sip:{gateway};transport=tcp;lr>");
    let udp = format!("<sip:{gateway};lr>");
    let expected = match answerer_side {
        Transport::Tcp => [tcp.as_str(), udp.as_str()],
        Transport::Udp => [udp.as_str(), tcp.as_str()],
    };
    assert_eq!(routes, expected, "double Record-Route\n{}", invite.text);
}

/// A recorded call between the PBX on TCP and the carrier on UDP, placed
/// `way`: it goes through, the caller's BYE reaches the answerer on its own
/// transport, the answerer's INVITE carries both Record-Route values, and the
/// recording is listed.
fn recorded_mixed_call(way: Way, answerer_side: Transport) {
    let mixed = Mixed::start(Transport::Tcp, Transport::Udp, true);
    let caller_file = caller_scenario(&mixed.gateway.config.run_dir());
    let answerer_file = peerbench_scenario("uas.xml");
    let (caller, answerer) = mixed.call(way, &caller_file, &answerer_file, played_and_echoed());
    let all = report(&[&caller, &answerer], &mixed.gateway);
    caller.assert_calls_succeeded(1);
    assert!(answerer.succeeded(), "{way:?}\n{all}");
    assert_eq!(answerer.received_requests("BYE"), 1, "{way:?}\n{all}");
    assert_double_record_route(&answerer, mixed.gateway.sip_addr(), answerer_side);
    mixed.assert_recording_listed();
    mixed.assert_no_dialog_left();
}

#[test]
fn a_pbx_on_tcp_calls_a_carrier_on_udp_and_the_call_is_recorded() {
    recorded_mixed_call(Way::Outbound, Transport::Udp);
}

#[test]
fn a_carrier_on_udp_calls_a_pbx_on_tcp_and_the_call_is_recorded() {
    recorded_mixed_call(Way::Inbound, Transport::Tcp);
}

#[test]
fn the_callee_hangs_up_over_its_own_transport_in_both_directions() {
    for (name, pbx_transport, carrier_transport) in [
        ("pbx on tcp", Transport::Tcp, Transport::Udp),
        ("carrier on tcp", Transport::Udp, Transport::Tcp),
    ] {
        let mixed = Mixed::start(pbx_transport, carrier_transport, false);
        // The callee answers then sends BYE, which must reach the caller over
        // the caller's transport; its 200 comes back over the callee's.
        for way in [Way::Outbound, Way::Inbound] {
            let (caller, callee) = mixed.call(
                way,
                &scenario("uac_silent_until_bye.xml"),
                &scenario("uas_answer_then_bye.xml"),
                None,
            );
            let all = report(&[&caller, &callee], &mixed.gateway);
            let context = format!("{name}, {way:?}\n{all}");
            assert!(caller.succeeded() && callee.succeeded(), "{context}");
            assert_eq!(caller.received_requests("BYE"), 1, "{context}");
            assert_eq!(callee.received_responses(200, "BYE"), 1, "{context}");
        }
        mixed.assert_no_dialog_left();
    }
}

/// An INVITE from the PBX's address, written by hand so the test sees every
/// response and when it came.
fn invite(pbx: SocketAddr, gateway: SocketAddr, call: &str) -> String {
    let sdp = format!(
        "v=0\r\no=- 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio 40000 RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\n",
        ip = pbx.ip()
    );
    format!(
        "INVITE sip:{DIALLED}@{gateway} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {pbx};branch=z9hG4bK{call}\r\n\
         From: <sip:pbx@{pbx}>;tag={call}\r\nTo: <sip:{DIALLED}@{gateway}>\r\n\
         Call-ID: {call}@pbx\r\nCSeq: 1 INVITE\r\nContact: <sip:pbx@{pbx}>\r\n\
         Max-Forwards: 70\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    )
}

fn status(response: &str) -> Option<u16> {
    response.strip_prefix("SIP/2.0 ")?.get(..3)?.parse().ok()
}

/// The PBX calls a carrier URI nothing answers at; returns the final status and
/// how long it took.
fn call_a_dead_next_hop(carrier_transport: Transport) -> (Gateway, u16, Duration) {
    let pbx = UdpPeer::on_free_port("pbx", PBX_IP);
    // A port taken from the free pool and left closed: the connection is
    // refused (TCP), or the datagram gets an ICMP port unreachable (UDP).
    let carrier = SocketAddr::from((CARRIER_IP, free_port(CARRIER_IP)));
    let mut tenant = TenantSpec::new(TENANT, TENANT_NUMBER, pbx.addr(), carrier);
    tenant.carrier_uri = uri(carrier, carrier_transport);
    let gateway = Gateway::start(GatewayConfig::write(vec![tenant]));
    let sent = Instant::now();
    pbx.send(
        gateway.sip_addr(),
        &invite(pbx.addr(), gateway.sip_addr(), "dead-hop"),
    );
    let deadline = sent + FINAL_BOUND;
    loop {
        let response = pbx.recv_until(deadline).unwrap_or_else(|| {
            panic!(
                "no final response within {FINAL_BOUND:?}\n{}",
                gateway.stderr_tail(40)
            )
        });
        match status(&response) {
            Some(code) if code >= 200 => return (gateway, code, sent.elapsed()),
            Some(_) => {}
            None => panic!("not a response: {response}"),
        }
    }
}

/// The caller of a dead next hop gets a 503, counted as a transport error of
/// that transport; the time it took is printed (measured, not asserted).
fn assert_dead_next_hop_answers_503(carrier_transport: Transport, failure: &str) {
    let (gateway, code, took) = call_a_dead_next_hop(carrier_transport);
    println!("503 after {failure} came in {took:?}");
    assert_eq!(code, 503, "{failure} is a 503 from the next hop");
    let metrics = gateway.metrics();
    let transport = carrier_transport.name();
    assert!(
        metrics.count(TRANSPORT_ERRORS, &[("transport", transport)]) >= 1.0,
        "{}",
        metrics.text
    );
    assert_eq!(
        metrics.count(REJECTS, &[("reason", "transport_error")]),
        1.0,
        "{}",
        metrics.text
    );
}

#[test]
fn a_tcp_next_hop_that_refuses_the_connection_gets_the_caller_a_503() {
    assert_dead_next_hop_answers_503(Transport::Tcp, "a refused TCP connection");
}

#[test]
fn a_udp_next_hop_with_nothing_listening_gets_the_caller_a_503() {
    assert_dead_next_hop_answers_503(Transport::Udp, "an ICMP port unreachable");
}
