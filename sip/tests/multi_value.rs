//! Multi-valued headers as real agents write them, through the proxy core (no
//! sockets): comma-joined in one line (sipp's answerer, many PBXs), one value a
//! line, or both mixed. RFC 3261 §7.3.1 makes the forms equivalent, so the proxy
//! must act the same on each: a response goes back without the proxy's own Via
//! value and with every other Via exactly as written (§16.7 step 3), and Route and
//! Record-Route values route a dialog the same way whatever their form.

use std::net::SocketAddr;
use std::time::Instant;

use greffier_sip::message::{HeaderName, Message};
use greffier_sip::proxy::{
    DialogId, Direction, ForwardTarget, Proxy, ProxyConfig, ProxyEvent, ProxyPolicy, RateLimit,
    RouteDecision, Transmit,
};
use greffier_sip::transaction::Timers;
use greffier_sip::{Peer, Transport};

const PROXY: &str = "127.0.0.1:5060";
const PBX: &str = "127.0.0.1:5080";
const NEXT_HOP: &str = "127.0.0.1:5070";

/// The Vias below the proxy's: the PBX's, and the phone behind it (whose parameter
/// holds a quoted comma).
const PBX_VIA: &str = "SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bK-pbx;rport";
const PHONE_VIA: &str = "SIP/2.0/UDP phone.example.com:5062;branch=z9hG4bK-phone;note=\"a, b\"";
const PBX_EDGE: &str = "<sip:pbx-edge.example.com;lr>";
const CARRIER_EDGE: &str = "\"Edge, East\" <sip:carrier-edge.example.net;lr>";

/// Sends every new request to the next hop, and remembers the calls it is told of.
#[derive(Default)]
struct ForwardAll {
    dialogs: Vec<DialogId>,
}

impl ProxyPolicy for ForwardAll {
    fn route(&mut self, source: Peer, _request: &Message) -> RouteDecision {
        RouteDecision::Forward(ForwardTarget {
            tenant: "devices".parse().unwrap(),
            request_uri: format!("sip:+33100000001@{NEXT_HOP}").into(),
            destination: NEXT_HOP.parse().unwrap(),
            transport: source.transport,
            direction: Direction::Outbound,
        })
    }

    fn on_event(&mut self, event: ProxyEvent) {
        if let ProxyEvent::CallStarted { dialog, .. } = event {
            self.dialogs.push(dialog);
        }
    }
}

fn udp(addr: &str) -> Peer {
    Peer::new(Transport::Udp, addr.parse::<SocketAddr>().unwrap())
}

struct Run {
    proxy: Proxy,
    policy: ForwardAll,
    now: Instant,
}

impl Run {
    fn new() -> Run {
        Run {
            proxy: Proxy::new(ProxyConfig {
                listeners: vec![(Transport::Udp, PROXY.parse().unwrap())],
                rate_limit: RateLimit {
                    per_second: 1e6,
                    burst: 1e6,
                },
                timers: Timers::default(),
                admission: Default::default(),
            }),
            policy: ForwardAll::default(),
            now: Instant::now(),
        }
    }

    fn receive(&mut self, from: &str, text: &str) -> Vec<Transmit> {
        self.proxy
            .handle_datagram(self.now, udp(from), text.as_bytes(), &mut self.policy);
        std::iter::from_fn(|| self.proxy.poll_transmit()).collect()
    }

    /// The one message sent to `to` that `wanted` accepts.
    fn one(transmits: &[Transmit], to: &str, wanted: impl Fn(&Message) -> bool) -> Transmit {
        let to: SocketAddr = to.parse().unwrap();
        let mut matching = transmits.iter().filter(|t| {
            t.peer.addr == to && Message::parse_datagram(&t.bytes).is_ok_and(|m| wanted(&m))
        });
        let found = matching
            .next()
            .unwrap_or_else(|| panic!("nothing for {to} among {}", dump(transmits)))
            .clone();
        assert!(
            matching.next().is_none(),
            "two for {to}: {}",
            dump(transmits)
        );
        found
    }
}

fn dump(transmits: &[Transmit]) -> String {
    transmits
        .iter()
        .map(|t| {
            format!(
                "\n--- to {}\n{}",
                t.peer.addr,
                String::from_utf8_lossy(&t.bytes)
            )
        })
        .collect()
}

fn parsed(transmit: &Transmit) -> Message {
    Message::parse_datagram(&transmit.bytes).unwrap()
}

/// The header lines named `name`, exactly as sent.
fn lines(transmit: &Transmit, name: &str) -> Vec<String> {
    let text = String::from_utf8_lossy(&transmit.bytes).into_owned();
    let head = text
        .split("\r\n\r\n")
        .next()
        .unwrap_or_default()
        .to_string();
    head.split("\r\n")
        .filter(|line| line.starts_with(&format!("{name}: ")))
        .map(str::to_string)
        .collect()
}

fn is_status(code: u16) -> impl Fn(&Message) -> bool {
    move |m| m.status_code() == Some(code)
}

fn is_method(method: &'static str) -> impl Fn(&Message) -> bool {
    move |m| m.method().is_some_and(|found| found.as_str() == method)
}

/// A request from the PBX, its Vias and Record-Routes given as header lines.
fn request(method: &str, call_id: &str, vias: &[&str], record_routes: &[&str]) -> String {
    let mut text = format!("{method} sip:+33100000001@{PROXY} SIP/2.0\r\n");
    for via in vias {
        text.push_str(&format!("Via: {via}\r\n"));
    }
    for rr in record_routes {
        text.push_str(&format!("Record-Route: {rr}\r\n"));
    }
    text.push_str(&format!(
        "From: <sip:+33100000002@{PBX}>;tag=pbx\r\nTo: <sip:+33100000001@{PROXY}>\r\n\
         Call-ID: {call_id}\r\nCSeq: 1 {method}\r\nContact: <sip:pbx@{PBX}>\r\n\
         Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    ));
    text
}

/// The next hop's response to `forwarded`, with `via_lines` and `rr_lines` as its
/// Via and Record-Route header lines (`v:` lines for the compact form).
fn response_to(
    forwarded: &Message,
    code: u16,
    via_lines: &[String],
    rr_lines: &[String],
) -> String {
    let mut text = format!("SIP/2.0 {code} Whatever\r\n");
    for line in via_lines {
        text.push_str(line);
        text.push_str("\r\n");
    }
    for rr in rr_lines {
        text.push_str(&format!("Record-Route: {rr}\r\n"));
    }
    let to = forwarded.headers.get(&HeaderName::To).unwrap();
    text.push_str(&format!(
        "From: {}\r\nTo: {to};tag=far\r\nCall-ID: {}\r\nCSeq: {}\r\n\
         Contact: <sip:far@{NEXT_HOP}>\r\nContent-Length: 0\r\n\r\n",
        forwarded.headers.get(&HeaderName::From).unwrap(),
        forwarded.call_id().unwrap(),
        forwarded.headers.get(&HeaderName::CSeq).unwrap(),
    ));
    text
}

/// The ways to write three values as header lines: what the sender writes, and
/// what is left once the topmost value is removed.
fn forms(name: &str, [a, b, c]: [&str; 3]) -> Vec<(&'static str, Vec<String>, Vec<String>)> {
    let line = |value: String| format!("{name}: {value}");
    vec![
        (
            "combined",
            vec![line(format!("{a}, {b}, {c}"))],
            vec![line(format!("{b}, {c}"))],
        ),
        (
            "split",
            vec![line(a.into()), line(b.into()), line(c.into())],
            vec![line(b.into()), line(c.into())],
        ),
        (
            "combined then split",
            vec![line(format!("{a},{b}")), line(c.into())],
            vec![line(b.into()), line(c.into())],
        ),
        (
            "split then combined",
            vec![line(a.into()), line(format!("{b} ,\t{c}"))],
            vec![line(format!("{b} ,\t{c}"))],
        ),
    ]
}

/// sipp's answerer copies `[last_Via:]`, one line holding every value: the 200 OK
/// went back with no Via at all.
#[test]
fn a_response_goes_back_with_every_via_but_the_proxys_as_written() {
    for method in ["INVITE", "MESSAGE"] {
        for (case, (form, via_lines, _)) in forms("Via", ["OURS", PBX_VIA, PHONE_VIA])
            .into_iter()
            .enumerate()
        {
            let what = format!("{method}, Vias {form}");
            let mut run = Run::new();
            let call_id = format!("via-{method}-{case}@devices");
            let sent = run.receive(PBX, &request(method, &call_id, &[PBX_VIA, PHONE_VIA], &[]));
            let forwarded = parsed(&Run::one(&sent, NEXT_HOP, is_method(method)));
            let vias: Vec<_> = forwarded.headers.values(&HeaderName::Via).collect();
            assert_eq!(vias[1..], [PBX_VIA, PHONE_VIA], "{what}: forwarded Vias");
            let ours = vias[0].to_string();

            let via_lines: Vec<String> = via_lines
                .iter()
                .map(|line| line.replace("OURS", &ours))
                .collect();
            let back = run.receive(NEXT_HOP, &response_to(&forwarded, 200, &via_lines, &[]));
            let ok = Run::one(&back, PBX, is_status(200));
            let (_, _, expected) = forms("Via", [&ours, PBX_VIA, PHONE_VIA])
                .into_iter()
                .nth(case)
                .unwrap();
            assert_eq!(lines(&ok, "Via"), expected, "{what}: {}", dump(&back));
        }
    }
}

#[test]
fn compact_via_lines_lose_only_the_proxys_value() {
    let mut run = Run::new();
    let sent = run.receive(PBX, &request("INVITE", "compact@devices", &[PBX_VIA], &[]));
    let forwarded = parsed(&Run::one(&sent, NEXT_HOP, is_method("INVITE")));
    let ours = forwarded.headers.first_value(&HeaderName::Via).unwrap();
    let via_lines = [format!("v: {ours} ,{PBX_VIA}")];
    let ringing = run.receive(NEXT_HOP, &response_to(&forwarded, 180, &via_lines, &[]));
    let ringing = Run::one(&ringing, PBX, is_status(180));
    assert_eq!(lines(&ringing, "Via"), [format!("Via: {PBX_VIA}")]);
}

/// What one call shows of its route sets: the PBX's BYE as the next hop gets it,
/// and the BYEs of the proxy's own hang-up of a second call.
struct Routed {
    answer_record_routes: Vec<String>,
    bye_to: SocketAddr,
    bye_routes: Vec<String>,
    hang_up_routes: Vec<(SocketAddr, Vec<String>)>,
}

/// A request of the call `call_id` from the PBX to the far end, with `route_lines`.
fn in_dialog(method: &str, cseq: u32, call_id: &str, route_lines: &[String]) -> String {
    let mut text = format!(
        "{method} sip:far@{NEXT_HOP} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {PBX};branch=z9hG4bK-{method}-{cseq}\r\n"
    );
    for line in route_lines {
        text.push_str(&format!("{line}\r\n"));
    }
    text.push_str(&format!(
        "From: <sip:+33100000002@{PBX}>;tag=pbx\r\nTo: <sip:+33100000001@{PROXY}>;tag=far\r\n\
         Call-ID: {call_id}\r\nCSeq: {cseq} {method}\r\nMax-Forwards: 70\r\n\
         Content-Length: 0\r\n\r\n"
    ));
    text
}

/// Places a call answered by a 200 OK whose Record-Route lines are `rr_lines`
/// (`OURS` standing for the proxy's value); returns the 200 OK as the PBX got it
/// and the proxy's Record-Route value.
fn answered(run: &mut Run, call_id: &str, rr_lines: &[String]) -> (Transmit, String) {
    let via = format!("SIP/2.0/UDP {PBX};branch=z9hG4bK-{call_id}");
    let sent = run.receive(PBX, &request("INVITE", call_id, &[&via], &[PBX_EDGE]));
    let forwarded = parsed(&Run::one(&sent, NEXT_HOP, is_method("INVITE")));
    let ours = forwarded
        .headers
        .first_value(&HeaderName::RecordRoute)
        .unwrap()
        .to_string();
    let vias: Vec<String> = forwarded
        .headers
        .get_all(&HeaderName::Via)
        .map(|via| format!("Via: {via}"))
        .collect();
    let rr: Vec<String> = rr_lines.iter().map(|l| l.replace("OURS", &ours)).collect();
    let back = run.receive(NEXT_HOP, &response_to(&forwarded, 200, &vias, &rr));
    (Run::one(&back, PBX, is_status(200)), ours)
}

/// A call whose 200 OK carries its Record-Route values as `rr_lines`, then a BYE
/// from the PBX with its Route values as `route_lines`; and a second call, same
/// 200 OK, that the proxy hangs up itself.
fn route_a_call(rr_lines: &[String], route_lines: &[String]) -> Routed {
    let mut run = Run::new();
    let (ok, ours) = answered(&mut run, "routes@devices", rr_lines);
    let route_lines: Vec<String> = route_lines
        .iter()
        .map(|line| line.replace("OURS", &ours))
        .collect();
    let sent = run.receive(PBX, &in_dialog("ACK", 1, "routes@devices", &route_lines));
    Run::one(&sent, NEXT_HOP, is_method("ACK"));
    let sent = run.receive(PBX, &in_dialog("BYE", 2, "routes@devices", &route_lines));
    let bye = Run::one(&sent, NEXT_HOP, is_method("BYE"));

    answered(&mut run, "hang-up@devices", rr_lines);
    let dialog = *run.policy.dialogs.last().unwrap();
    assert!(run.proxy.hang_up(run.now, dialog, &mut run.policy));
    let mut hang_up_routes: Vec<_> = std::iter::from_fn(|| run.proxy.poll_transmit())
        .filter(|t| is_method("BYE")(&parsed(t)))
        .map(|t| (t.peer.addr, parsed(&t).routes()))
        .collect();
    hang_up_routes.sort();
    Routed {
        answer_record_routes: parsed(&ok).record_routes(),
        bye_to: bye.peer.addr,
        bye_routes: lines(&bye, "Route"),
        hang_up_routes,
    }
}

#[test]
fn route_and_record_route_values_route_the_same_in_every_form() {
    let record_routes = ["<sip:carrier-edge.example.net;lr>", "OURS", PBX_EDGE];
    let routes = ["OURS", CARRIER_EDGE, "<sip:far-core.example.net;lr>"];
    for (rr_form, rr_lines, _) in forms("Record-Route", record_routes) {
        let rr_values: Vec<String> = rr_lines
            .iter()
            .map(|line| line.replacen("Record-Route: ", "", 1))
            .collect();
        for (route_form, route_lines, expected_routes) in forms("Route", routes) {
            let what = format!("Record-Route {rr_form}, Route {route_form}");
            let routed = route_a_call(&rr_values, &route_lines);
            assert_eq!(
                routed.answer_record_routes.len(),
                3,
                "{what}: the 200 OK keeps every Record-Route value"
            );
            assert_eq!(
                routed.bye_to,
                NEXT_HOP.parse::<SocketAddr>().unwrap(),
                "{what}"
            );
            assert_eq!(
                routed.bye_routes, expected_routes,
                "{what}: only the proxy's Route value is removed"
            );
            assert_eq!(
                routed.hang_up_routes,
                [
                    (
                        NEXT_HOP.parse().unwrap(),
                        vec!["<sip:carrier-edge.example.net;lr>".to_string()]
                    ),
                    (PBX.parse().unwrap(), vec![PBX_EDGE.to_string()]),
                ],
                "{what}: the route sets learned from the 200 OK"
            );
        }
    }
}

/// Loop detection (§16.3 step 4) reads the proxy's own Via value wherever the
/// returning request has put it: its own line, or joined with others. (A MESSAGE:
/// a returning INVITE would also be refused as a merged request.)
#[test]
fn a_looping_request_is_found_in_every_via_form() {
    let back = "SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bK-back";
    for (form, via_lines, _) in forms("Via", [back, "OURS", PBX_VIA]) {
        let mut run = Run::new();
        let invite = request("MESSAGE", "loop@devices", &[PBX_VIA], &[]).replace(
            &format!("MESSAGE sip:+33100000001@{PROXY}"),
            &format!("MESSAGE sip:+33100000001@{NEXT_HOP}"),
        );
        let sent = run.receive(PBX, &invite);
        let forwarded = Run::one(&sent, NEXT_HOP, is_method("MESSAGE"));
        let text = String::from_utf8_lossy(&forwarded.bytes).into_owned();
        let ours = parsed(&forwarded)
            .headers
            .first_value(&HeaderName::Via)
            .unwrap()
            .to_string();
        let mut looped = String::new();
        for line in text.split("\r\n") {
            if line.starts_with("Via: ") {
                continue;
            }
            looped.push_str(line);
            looped.push_str("\r\n");
            if line.starts_with("MESSAGE ") {
                for via in &via_lines {
                    looped.push_str(&via.replace("OURS", &ours));
                    looped.push_str("\r\n");
                }
            }
        }
        let looped = looped.trim_end_matches("\r\n").to_string() + "\r\n\r\n";
        let answered = run.receive(PBX, &looped);
        assert_eq!(
            parsed(&Run::one(&answered, PBX, |_| true)).status_code(),
            Some(482),
            "Vias {form}: {}",
            dump(&answered)
        );
        assert!(
            answered
                .iter()
                .all(|t| t.peer.addr != NEXT_HOP.parse::<SocketAddr>().unwrap()),
            "Vias {form}: a loop is not forwarded"
        );
    }
}
