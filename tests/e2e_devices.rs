//! Message shapes real PBXs and carriers send that sipp's callers never do, through
//! the real binary. The tenant's PBX (127.0.0.1) and carrier (127.0.0.2) are raw
//! UDP sockets, so each test writes the exact bytes a device put on the wire; where
//! sipp itself sends the shape (its answerer), sipp is the far end.

mod support;

use std::time::{Duration, Instant};

use support::config::{GatewayConfig, TenantSpec};
use support::gateway::Gateway;
use support::ports::free_port;
use support::scene::{Scene, CARRIER_IP, DIALLED_NUMBER as DIALLED, PBX_IP, TENANT_NUMBER};
use support::sipp::scenario;
use support::sockets::Transport;
use support::udp_peer::UdpPeer;
/// How long a device waits for a message the gateway owes it.
const READ_BOUND: Duration = Duration::from_secs(5);

/// The first message for `call_id` whose start line begins with `start` (a
/// method, or `SIP/2.0 ` for any final response), passing over the others (100
/// Trying, retransmissions), within the bound.
fn receive(device: &UdpPeer, start: &str, call_id: &str) -> String {
    let deadline = Instant::now() + READ_BOUND;
    let mut seen = Vec::new();
    while let Some(text) = device.recv_until(deadline) {
        let first = text.lines().next().unwrap_or_default().to_string();
        let final_or_request = !first.starts_with("SIP/2.0 1");
        if first.starts_with(start) && final_or_request && text.contains(call_id) {
            return text;
        }
        seen.push(first);
    }
    panic!(
        "the {} got no {start:?} for {call_id} within {READ_BOUND:?}; it got {seen:?}",
        device.name
    );
}

/// The header lines named `name` (long form, as the gateway writes them).
fn header_lines<'a>(message: &'a str, name: &str) -> Vec<&'a str> {
    let head = message.split("\r\n\r\n").next().unwrap_or_default();
    head.split("\r\n")
        .filter(|line| {
            line.split_once(':')
                .is_some_and(|(key, _)| key.trim().eq_ignore_ascii_case(name))
        })
        .collect()
}

fn status(message: &str) -> Option<u16> {
    message.strip_prefix("SIP/2.0 ")?.get(..3)?.parse().ok()
}

/// A response to `request`, copying what RFC 3261 §8.2.6.2 says.
fn reply(request: &str, code: u16) -> String {
    let mut text = format!("SIP/2.0 {code} Whatever\r\n");
    for name in ["Via", "Record-Route", "From"] {
        for line in header_lines(request, name) {
            text.push_str(line);
            text.push_str("\r\n");
        }
    }
    for name in ["Call-ID", "CSeq"] {
        text.push_str(header_lines(request, name)[0]);
        text.push_str("\r\n");
    }
    text.push_str(&format!("{};tag=far\r\n", header_lines(request, "To")[0]));
    text.push_str("Content-Length: 0\r\n\r\n");
    text
}

struct Setup {
    gateway: Gateway,
    pbx: UdpPeer,
    carrier: UdpPeer,
}

impl Setup {
    fn start() -> Setup {
        let pbx = UdpPeer::on_free_port("PBX", PBX_IP);
        let carrier = UdpPeer::on_free_port("carrier", CARRIER_IP);
        let tenant = TenantSpec::new("acme", TENANT_NUMBER, pbx.addr(), carrier.addr());
        let gateway = Gateway::start(GatewayConfig::write(vec![tenant]));
        Setup {
            gateway,
            pbx,
            carrier,
        }
    }

    /// The PBX's request of `method` with `extra` header lines and no
    /// Max-Forwards, as an Alcatel OmniPCX writes its NOTIFY.
    fn request_without_max_forwards(&self, method: &str, call_id: &str, extra: &str) -> String {
        let (gateway, pbx) = (self.gateway.sip_addr(), self.pbx.addr());
        format!(
            "{method} sip:{DIALLED}@{gateway} SIP/2.0\r\n\
             Via: SIP/2.0/UDP {pbx};branch=z9hG4bK-{call_id}\r\n\
             From: <sip:{TENANT_NUMBER}@{PBX_IP}>;tag=omni\r\n\
             To: <sip:{DIALLED}@{gateway}>\r\n\
             Call-ID: {call_id}\r\n\
             CSeq: 1 {method}\r\n\
             Contact: <sip:{TENANT_NUMBER}@{pbx}>\r\n\
             User-Agent: OmniPCX Enterprise\r\n\
             {extra}Content-Length: 0\r\n\r\n"
        )
    }
}

/// RFC 3261 §16.6 step 3: the proxy adds `Max-Forwards: 70` to a request that has
/// none; the gateway used to answer such requests `400`.
#[test]
fn requests_without_max_forwards_from_a_pbx_are_forwarded_with_70() {
    let setup = Setup::start();
    let gateway = setup.gateway.sip_addr();
    let shapes = [
        (
            "NOTIFY",
            "notify-1@omni",
            "Event: message-summary\r\nSubscription-State: active\r\n",
        ),
        (
            "INVITE",
            "invite-1@omni",
            "Allow: INVITE, ACK, BYE, CANCEL\r\n",
        ),
    ];
    for (method, call_id, extra) in shapes {
        setup.pbx.send(
            gateway,
            &setup.request_without_max_forwards(method, call_id, extra),
        );
        let forwarded = receive(&setup.carrier, method, call_id);
        assert_eq!(
            header_lines(&forwarded, "Max-Forwards"),
            ["Max-Forwards: 70"],
            "{method}:\n{forwarded}"
        );
        setup.carrier.send(gateway, &reply(&forwarded, 486));
        let answer = receive(&setup.pbx, "SIP/2.0 ", call_id);
        assert_eq!(status(&answer), Some(486), "{method}:\n{answer}");
    }
    // An OPTIONS keep-alive to the gateway is answered by the gateway itself.
    let options = setup.request_without_max_forwards("OPTIONS", "options-1@omni", "");
    setup.pbx.send(gateway, &options);
    let answer = receive(&setup.pbx, "SIP/2.0 ", "options-1@omni");
    assert_eq!(status(&answer), Some(200), "{answer}");
}

/// RFC 4475 §3.1.2.12 (baddate): only GMT is legal in Date, but a proxy that does
/// not read it passes a PBX's local time zone on unchanged.
#[test]
fn a_date_in_a_local_time_zone_is_forwarded_unchanged() {
    let setup = Setup::start();
    let gateway = setup.gateway.sip_addr();
    let date = "Date: Fri, 04 Dec 2026 18:00:00 CET\r\n";
    let notify = setup.request_without_max_forwards("NOTIFY", "date-1@omni", date);
    setup.pbx.send(gateway, &notify);
    let forwarded = receive(&setup.carrier, "NOTIFY", "date-1@omni");
    assert_eq!(
        header_lines(&forwarded, "Date"),
        ["Date: Fri, 04 Dec 2026 18:00:00 CET"]
    );
    setup.carrier.send(gateway, &reply(&forwarded, 200));
    let answer = receive(&setup.pbx, "SIP/2.0 ", "date-1@omni");
    assert_eq!(status(&answer), Some(200), "{answer}");
}

/// sipp's answerer writes every Via of the INVITE it got in one line
/// (`[last_Via:]`): the gateway removed that whole line from the 200 OK instead of
/// its own value (RFC 3261 §16.7 step 3), and the caller, which matches responses
/// by Via as baresip does, never saw its answer.
#[test]
fn a_far_end_writing_every_via_in_one_line_answers_the_caller() {
    let scene = Scene::start(Transport::Udp);
    let carrier = scene
        .carrier_answerer("carrier", &scenario("uas_answer.xml"))
        .spawn();
    let pbx = UdpPeer::bind("PBX", scene.pbx);
    let gateway = scene.gateway.sip_addr();
    let call_id = "combined-vias@devices";
    let pbx_via = format!("SIP/2.0/UDP {};branch=z9hG4bK-combined;rport", scene.pbx);
    let offer = format!(
        "v=0\r\no=- 1 1 IN IP4 {PBX_IP}\r\ns=-\r\nc=IN IP4 {PBX_IP}\r\nt=0 0\r\n\
         m=audio {} RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\n",
        free_port(PBX_IP)
    );
    let from = format!("<sip:{TENANT_NUMBER}@{PBX_IP}>;tag=pbx");
    let invite = format!(
        "INVITE sip:{DIALLED}@{gateway} SIP/2.0\r\nVia: {pbx_via}\r\nFrom: {from}\r\n\
         To: <sip:{DIALLED}@{gateway}>\r\nCall-ID: {call_id}\r\nCSeq: 1 INVITE\r\n\
         Contact: <sip:pbx@{}>\r\nMax-Forwards: 70\r\nContent-Type: application/sdp\r\n\
         Content-Length: {}\r\n\r\n{offer}",
        scene.pbx,
        offer.len()
    );
    pbx.send(gateway, &invite);
    let ok = receive(&pbx, "SIP/2.0 ", call_id);
    assert_eq!(status(&ok), Some(200), "{ok}");
    assert_eq!(
        header_lines(&ok, "Via"),
        [format!("Via: {pbx_via}")],
        "{ok}"
    );

    // The call goes on and ends through the gateway, as sipp's scenario expects.
    let to = header_lines(&ok, "To")[0]
        .trim_start_matches("To:")
        .trim()
        .to_string();
    let routes: String = header_lines(&ok, "Record-Route")
        .iter()
        .rev()
        .map(|line| format!("{}\r\n", line.replacen("Record-Route:", "Route:", 1)))
        .collect();
    let in_dialog = |method: &str, cseq: u32| {
        format!(
            "{method} sip:{DIALLED}@{} SIP/2.0\r\n\
             Via: SIP/2.0/UDP {};branch=z9hG4bK-combined-{method}\r\n{routes}\
             From: {from}\r\nTo: {to}\r\nCall-ID: {call_id}\r\nCSeq: {cseq} {method}\r\n\
             Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
            scene.carrier, scene.pbx,
        )
    };
    pbx.send(gateway, &in_dialog("ACK", 1));
    pbx.send(gateway, &in_dialog("BYE", 2));
    let bye_ok = receive(&pbx, "SIP/2.0 ", call_id);
    assert_eq!(status(&bye_ok), Some(200), "{bye_ok}");
    assert_eq!(header_lines(&bye_ok, "Via").len(), 1, "{bye_ok}");
    carrier.wait().assert_calls_succeeded(1);
}
