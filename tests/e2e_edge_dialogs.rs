//! Hostile peers against the dialogs the gateway carries, through the real
//! binary: nobody but a dialog's own two legs may use it, in-dialog requests go
//! only to the other leg, a recording is paused only by the tenant's PBX, and
//! a reused Call-ID neither replaces nor leaks a call.
//!
//! The tenant's PBX (127.0.0.1) and carrier (127.0.0.2) are plain UDP sockets
//! speaking raw SIP, so each test controls every tag, Route and SDP line; the
//! attacker sends from 127.0.0.9. A normal call at the end of the pool test is
//! placed with sipp.

mod support;

use std::cell::RefCell;
use std::io::ErrorKind;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::time::{Duration, Instant};

use support::config::{GatewayConfig, TenantSpec};
use support::gateway::Gateway;
use support::ports::free_port;
use support::recorded::{self, RecordedCall};
use support::udp_peer::UdpPeer;

const PBX_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);
const CARRIER_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
const ATTACKER_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 9);
const TENANT_NUMBER: &str = "+33123456789";
const DIALLED: &str = "+33198765432";
/// How long a peer waits for a message the gateway owes it.
const READ_BOUND: Duration = Duration::from_secs(5);
const RECORDING_CONTROL: &str = "greffier_recording_control_total";
const REJECTS: &str = "greffier_sip_rejects_total";
const DIALOGS: &str = "greffier_sip_dialogs";

/// A SIP message as text.
#[derive(Debug, Clone)]
struct Sip {
    text: String,
}

impl Sip {
    fn start_line(&self) -> &str {
        self.text.lines().next().unwrap_or_default()
    }

    fn method(&self) -> Option<&str> {
        let first = self.start_line();
        (!first.starts_with("SIP/2.0")).then(|| first.split(' ').next().unwrap_or_default())
    }

    fn status(&self) -> Option<u16> {
        let first = self.start_line();
        first
            .strip_prefix("SIP/2.0 ")
            .and_then(|rest| rest.get(..3))
            .and_then(|code| code.parse().ok())
    }

    fn head(&self) -> &str {
        self.text.split("\r\n\r\n").next().unwrap_or_default()
    }

    fn body(&self) -> &str {
        self.text
            .split_once("\r\n\r\n")
            .map_or("", |(_, body)| body)
    }

    /// Every value of a header, in order.
    fn headers(&self, name: &str) -> Vec<&str> {
        self.head()
            .lines()
            .skip(1)
            .filter_map(|line| line.split_once(':'))
            .filter(|(key, _)| key.trim().eq_ignore_ascii_case(name))
            .map(|(_, value)| value.trim())
            .collect()
    }

    fn header(&self, name: &str) -> &str {
        self.headers(name)
            .first()
            .copied()
            .unwrap_or_else(|| panic!("no {name} in\n{}", self.text))
    }

    fn cseq_method(&self) -> &str {
        self.header("CSeq").split(' ').nth(1).unwrap_or_default()
    }

    /// The audio port an SDP body announces.
    fn audio_port(&self) -> u16 {
        self.body()
            .lines()
            .find_map(|line| line.strip_prefix("m=audio "))
            .and_then(|rest| rest.split(' ').next())
            .and_then(|port| port.parse().ok())
            .unwrap_or_else(|| panic!("no audio port in\n{}", self.text))
    }

    /// A response to this request, copying what RFC 3261 §8.2.6.2 says, with
    /// the answerer's tag on To and its Contact.
    fn reply(&self, code: u16, to_tag: &str, contact: SocketAddr, sdp: Option<&str>) -> String {
        let mut text = format!("SIP/2.0 {code} Whatever\r\n");
        for via in self.headers("Via") {
            text.push_str(&format!("Via: {via}\r\n"));
        }
        for rr in self.headers("Record-Route") {
            text.push_str(&format!("Record-Route: {rr}\r\n"));
        }
        let to = self.header("To");
        let to = if to.contains("tag=") {
            to.to_string()
        } else {
            format!("{to};tag={to_tag}")
        };
        text.push_str(&format!(
            "From: {}\r\nTo: {to}\r\nCall-ID: {}\r\nCSeq: {}\r\nContact: <sip:peer@{contact}>\r\n",
            self.header("From"),
            self.header("Call-ID"),
            self.header("CSeq"),
        ));
        text.push_str(&with_body(sdp));
        text
    }
}

/// The end of a message's head and its body: Content-Type and Length included.
fn with_body(sdp: Option<&str>) -> String {
    match sdp {
        Some(sdp) => typed_body("application/sdp", sdp),
        None => "Content-Length: 0\r\n\r\n".to_string(),
    }
}

fn typed_body(content_type: &str, body: &str) -> String {
    format!(
        "Content-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// A text message's body, as the end of a request built with no body.
fn with_text(request: String, text: &str) -> String {
    request.replacen(
        "Content-Length: 0\r\n\r\n",
        &typed_body("text/plain", text),
        1,
    )
}

fn sdp(ip: Ipv4Addr, port: u16) -> String {
    format!(
        "v=0\r\no=- 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\n\
         m=audio {port} RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\n"
    )
}

/// A SIP peer on one UDP socket: the tests need exact control of every header.
struct Peer {
    udp: UdpPeer,
    /// Messages received while waiting for another one, for later waits.
    backlog: RefCell<Vec<Sip>>,
}

impl Peer {
    fn bind(name: &'static str, addr: SocketAddr) -> Peer {
        Peer {
            udp: UdpPeer::bind(name, addr),
            backlog: RefCell::new(Vec::new()),
        }
    }

    fn on_free_port(name: &'static str, ip: Ipv4Addr) -> Peer {
        Peer::bind(name, SocketAddr::from((ip, free_port(ip))))
    }

    fn addr(&self) -> SocketAddr {
        self.udp.addr()
    }

    fn send(&self, to: SocketAddr, text: &str) {
        self.udp.send(to, text);
    }

    /// The next message `wanted` accepts, within the bound; anything else that
    /// comes first (100 Trying, retransmissions) is passed over.
    fn wait_for(&self, what: &str, wanted: impl Fn(&Sip) -> bool) -> Sip {
        {
            let mut backlog = self.backlog.borrow_mut();
            if let Some(at) = backlog.iter().position(&wanted) {
                return backlog.remove(at);
            }
        }
        let deadline = Instant::now() + READ_BOUND;
        let mut seen = Vec::new();
        while let Some(text) = self.udp.recv_until(deadline) {
            let message = Sip { text };
            if wanted(&message) {
                return message;
            }
            seen.push(message.start_line().to_string());
            self.backlog.borrow_mut().push(message);
        }
        panic!(
            "{} got no {what} within {READ_BOUND:?}; it got:\n{}",
            self.udp.name,
            seen.join("\n")
        );
    }

    fn request(&self, method: &str) -> Sip {
        self.wait_for(&format!("{method} request"), |m| m.method() == Some(method))
    }

    fn response(&self, cseq_method: &str) -> Sip {
        self.wait_for(&format!("final response to {cseq_method}"), |m| {
            m.status().is_some_and(|code| code >= 200) && m.cseq_method() == cseq_method
        })
    }

    /// Every message received so far and not waited for.
    fn queued(&self) -> Vec<Sip> {
        let mut queued = std::mem::take(&mut *self.backlog.borrow_mut());
        queued.extend(self.udp.drain().into_iter().map(|text| Sip { text }));
        queued
    }
}

/// Which side of a call a request speaks for (its tags).
#[derive(Debug, Clone, Copy)]
enum Side {
    Pbx,
    Carrier,
}

/// What each side of an answered call knows of it.
struct Call {
    call_id: String,
    pbx_tag: String,
    carrier_tag: String,
    /// The route set each side uses (RFC 3261 §12.1): the gateway's Record-Route.
    routes: Vec<String>,
    pbx_contact: String,
    carrier_contact: String,
    /// The gateway's media port on the PBX's side.
    gateway_pbx_port: u16,
    cseq: u32,
}

/// An in-dialog request as `from` addresses it; `extra` is put before the body.
#[allow(clippy::too_many_arguments)]
fn in_dialog(
    method: &str,
    request_uri: &str,
    sender: SocketAddr,
    routes: &[String],
    (from_uri, from_tag): (&str, &str),
    (to_uri, to_tag): (&str, &str),
    call_id: &str,
    cseq: u32,
    extra: &str,
    sdp: Option<&str>,
) -> String {
    let mut text = format!(
        "{method} {request_uri} SIP/2.0\r\nVia: SIP/2.0/UDP {sender};branch=z9hG4bK-{method}-{cseq}-{}\r\n",
        sender.port()
    );
    for route in routes {
        text.push_str(&format!("Route: {route}\r\n"));
    }
    text.push_str(&format!(
        "From: <{from_uri}>;tag={from_tag}\r\nTo: <{to_uri}>;tag={to_tag}\r\nCall-ID: {call_id}\r\n\
         CSeq: {cseq} {method}\r\nMax-Forwards: 70\r\n{extra}"
    ));
    text.push_str(&with_body(sdp));
    text
}

impl Call {
    fn pbx_uri(&self) -> String {
        format!("sip:{TENANT_NUMBER}@{PBX_IP}")
    }

    fn carrier_uri(&self) -> String {
        format!("sip:{DIALLED}@{CARRIER_IP}")
    }

    /// The next request of the dialog as `side` sends it, from `sender`, with
    /// `extra` headers.
    fn request(
        &mut self,
        side: Side,
        method: &str,
        sender: SocketAddr,
        extra: &str,
        sdp: Option<&str>,
    ) -> String {
        self.cseq += 1;
        let pbx_side = (self.pbx_uri(), self.pbx_tag.clone());
        let carrier_side = (self.carrier_uri(), self.carrier_tag.clone());
        let (target, from, to) = match side {
            Side::Pbx => (&self.carrier_contact, pbx_side, carrier_side),
            Side::Carrier => (&self.pbx_contact, carrier_side, pbx_side),
        };
        in_dialog(
            method,
            target,
            sender,
            &self.routes,
            (&from.0, &from.1),
            (&to.0, &to.1),
            &self.call_id,
            self.cseq,
            extra,
            sdp,
        )
    }
}

/// One gateway with one tenant, its PBX and its carrier.
struct Setup {
    gateway: Gateway,
    pbx: Peer,
    carrier: Peer,
}

impl Setup {
    fn start(recording_policy: &str) -> Setup {
        Setup::start_with(recording_policy, |_| {})
    }

    /// `adjust` may rewrite the configuration before the gateway starts.
    fn start_with(recording_policy: &str, adjust: impl FnOnce(&GatewayConfig)) -> Setup {
        let pbx = Peer::on_free_port("pbx", PBX_IP);
        let carrier = Peer::on_free_port("carrier", CARRIER_IP);
        let mut tenant = TenantSpec::new("acme", TENANT_NUMBER, pbx.addr(), carrier.addr());
        tenant.recording_policy = recording_policy.to_string();
        let config = GatewayConfig::write(vec![tenant]);
        adjust(&config);
        let gateway = Gateway::start(config);
        Setup {
            gateway,
            pbx,
            carrier,
        }
    }

    /// The PBX's INVITE for `call_id` with its own tag, offering media at
    /// `media`; returns it as the carrier received it.
    fn invite(&self, call_id: &str, pbx_tag: &str, media: SocketAddr) -> Sip {
        self.invite_with_contact(call_id, pbx_tag, media, self.pbx.addr())
    }

    /// As [`Setup::invite`], with the PBX announcing `contact` as its target.
    fn invite_with_contact(
        &self,
        call_id: &str,
        pbx_tag: &str,
        media: SocketAddr,
        contact: SocketAddr,
    ) -> Sip {
        let gateway = self.gateway.sip_addr();
        let offer = sdp(PBX_IP, media.port());
        let invite = format!(
            "INVITE sip:{DIALLED}@{gateway} SIP/2.0\r\n\
             Via: SIP/2.0/UDP {pbx};branch=z9hG4bK-inv-{pbx_tag}\r\n\
             From: <sip:{TENANT_NUMBER}@{PBX_IP}>;tag={pbx_tag}\r\n\
             To: <sip:{DIALLED}@{gateway}>\r\n\
             Call-ID: {call_id}\r\nCSeq: 1 INVITE\r\n\
             Contact: <sip:pbx@{contact}>\r\nMax-Forwards: 70\r\n{}",
            with_body(Some(&offer)),
            pbx = self.pbx.addr(),
        );
        self.pbx.send(gateway, &invite);
        self.carrier.wait_for("the INVITE", |m| {
            m.method() == Some("INVITE") && m.text.contains(&format!("tag={pbx_tag}"))
        })
    }

    /// An outbound call answered by the carrier, media at `pbx_media` and
    /// `carrier_media`, ACKed: both sides are in the dialog.
    fn answered_call(
        &self,
        call_id: &str,
        pbx_media: SocketAddr,
        carrier_media: SocketAddr,
    ) -> Call {
        let invite = self.invite(call_id, "pbx-tag", pbx_media);
        let answer = sdp(CARRIER_IP, carrier_media.port());
        let carrier = self.carrier.addr();
        let gateway = self.gateway.sip_addr();
        self.carrier
            .send(gateway, &invite.reply(180, "carrier-tag", carrier, None));
        self.carrier.send(
            gateway,
            &invite.reply(200, "carrier-tag", carrier, Some(&answer)),
        );
        let ok = self.pbx.response("INVITE");
        assert_eq!(ok.status(), Some(200), "{}", ok.text);
        let mut call = Call {
            call_id: call_id.to_string(),
            pbx_tag: "pbx-tag".into(),
            carrier_tag: "carrier-tag".into(),
            routes: ok
                .headers("Record-Route")
                .iter()
                .map(|r| r.to_string())
                .collect(),
            pbx_contact: format!("sip:pbx@{}", self.pbx.addr()),
            carrier_contact: format!("sip:peer@{carrier}"),
            gateway_pbx_port: ok.audio_port(),
            cseq: 1,
        };
        assert!(
            !call.routes.is_empty(),
            "the gateway record-routes\n{}",
            ok.text
        );
        let ack = call.request(Side::Pbx, "ACK", self.pbx.addr(), "", None);
        let ack = ack.replace(&format!("CSeq: {} ACK", call.cseq), "CSeq: 1 ACK");
        self.pbx.send(gateway, &ack);
        self.carrier.request("ACK");
        call
    }

    /// An INFO from the PBX through the carrier and its 200 back: once it is
    /// through, the gateway has handled everything sent to it before.
    fn round_trip(&self, call: &mut Call) {
        let info = call.request(Side::Pbx, "INFO", self.pbx.addr(), "", None);
        self.pbx.send(self.gateway.sip_addr(), &info);
        let relayed = self.carrier.request("INFO");
        self.carrier.send(
            self.gateway.sip_addr(),
            &relayed.reply(200, "carrier-tag", self.carrier.addr(), None),
        );
        let ok = self.pbx.response("INFO");
        assert_eq!(ok.status(), Some(200), "{}", ok.text);
    }

    /// The PBX hangs up, the carrier agrees: the call is over on both sides.
    fn hang_up(&self, call: &mut Call) {
        let bye = call.request(Side::Pbx, "BYE", self.pbx.addr(), "", None);
        self.pbx.send(self.gateway.sip_addr(), &bye);
        let relayed = self.carrier.request("BYE");
        self.carrier.send(
            self.gateway.sip_addr(),
            &relayed.reply(200, "carrier-tag", self.carrier.addr(), None),
        );
        assert_eq!(self.pbx.response("BYE").status(), Some(200));
    }

    fn dialogs(&self) -> f64 {
        self.gateway.metrics().count(DIALOGS, &[])
    }

    /// `GET /calls`: the one call in progress.
    fn listed_call(&self) -> serde_json::Value {
        let response = self.gateway.get("/calls");
        assert_eq!(response.status, 200, "GET /calls: {}", response.body);
        let calls: serde_json::Value = serde_json::from_str(&response.body).expect("JSON");
        assert_eq!(calls.as_array().map(Vec::len), Some(1), "{calls}");
        calls[0].clone()
    }
}

fn media_socket(ip: Ipv4Addr) -> UdpSocket {
    UdpSocket::bind((ip, free_port(ip))).expect("a media socket")
}

/// (a) A MESSAGE copying a live call's Call-ID and tags, from a stranger, with a
/// Request-URI naming another service on loopback: nothing reaches it, 403.
#[test]
fn a_stranger_copying_a_dialog_cannot_relay_a_message_to_a_victim() {
    let setup = Setup::start("none");
    let victim = Peer::on_free_port("victim", PBX_IP);
    let (pbx_media, carrier_media) = (media_socket(PBX_IP), media_socket(CARRIER_IP));
    let mut call = setup.answered_call(
        "relay-a@edge",
        pbx_media.local_addr().unwrap(),
        carrier_media.local_addr().unwrap(),
    );
    let attacker = Peer::on_free_port("attacker", ATTACKER_IP);
    let mut message = with_text(
        call.request(Side::Pbx, "MESSAGE", attacker.addr(), "", None),
        "hello",
    );
    message = message.replacen(
        &call.carrier_contact,
        &format!("sip:victim@{}", victim.addr()),
        1,
    );
    attacker.send(setup.gateway.sip_addr(), &message);
    setup.round_trip(&mut call);

    let reached = victim.queued();
    assert!(reached.is_empty(), "the victim got {:?}", reached.first());
    assert_eq!(attacker.response("MESSAGE").status(), Some(403));
    let carrier_got: Vec<_> = setup.carrier.queued();
    assert!(
        carrier_got.iter().all(|m| m.method() != Some("MESSAGE")),
        "the stranger's MESSAGE reached the carrier"
    );
    // 127.0.0.9 belongs to no tenant: it is refused before any dialog is looked
    // up; a known source using another leg's tags is refused as `foreign_source`
    // (`only_the_tenants_pbx_pauses_the_recording`).
    let metrics = setup.gateway.metrics();
    assert_eq!(
        metrics.count(REJECTS, &[("reason", "unknown_source")]),
        1.0,
        "{}",
        metrics.text
    );
    setup.hang_up(&mut call);
    assert_eq!(setup.dialogs(), 0.0);
}

/// (b) A second Route naming a TCP service on loopback: the gateway opens no
/// connection to it.
#[test]
fn a_stranger_cannot_make_the_gateway_connect_to_a_route_it_names() {
    let setup = Setup::start("none");
    let victim = TcpListener::bind((PBX_IP, 0)).expect("a victim listener");
    victim.set_nonblocking(true).unwrap();
    let victim_addr = victim.local_addr().unwrap();
    let (pbx_media, carrier_media) = (media_socket(PBX_IP), media_socket(CARRIER_IP));
    let mut call = setup.answered_call(
        "relay-b@edge",
        pbx_media.local_addr().unwrap(),
        carrier_media.local_addr().unwrap(),
    );
    let attacker = Peer::on_free_port("attacker", ATTACKER_IP);
    call.routes
        .push(format!("<sip:{victim_addr};transport=tcp;lr>"));
    let message = with_text(
        call.request(Side::Pbx, "MESSAGE", attacker.addr(), "", None),
        "hello",
    );
    call.routes.pop();
    attacker.send(setup.gateway.sip_addr(), &message);
    setup.round_trip(&mut call);
    setup.round_trip(&mut call);
    setup.hang_up(&mut call);

    match victim.accept() {
        Err(error) if error.kind() == ErrorKind::WouldBlock => {}
        Ok((_, from)) => panic!("the gateway connected to the victim from {from}"),
        Err(error) => panic!("accept: {error}"),
    }
    assert_eq!(attacker.response("MESSAGE").status(), Some(403));
}

/// (c) The tenant's own PBX, while the call rings, with a To tag no response
/// carried: not relayed anywhere, 481.
#[test]
fn an_invented_to_tag_during_ringing_is_not_relayed() {
    let setup = Setup::start("none");
    let victim = Peer::on_free_port("victim", PBX_IP);
    let media = media_socket(PBX_IP);
    let invite = setup.invite("ringing-c@edge", "pbx-tag", media.local_addr().unwrap());
    let gateway = setup.gateway.sip_addr();
    setup.carrier.send(
        gateway,
        &invite.reply(180, "carrier-tag", setup.carrier.addr(), None),
    );
    let ringing = setup.pbx.wait_for("180", |m| m.status() == Some(180));
    let routes: Vec<String> = ringing
        .headers("Record-Route")
        .iter()
        .map(|r| r.to_string())
        .collect();
    let message = in_dialog(
        "MESSAGE",
        &format!("sip:victim@{}", victim.addr()),
        setup.pbx.addr(),
        &routes,
        (&format!("sip:{TENANT_NUMBER}@{PBX_IP}"), "pbx-tag"),
        (&format!("sip:{DIALLED}@{CARRIER_IP}"), "invented-tag"),
        "ringing-c@edge",
        2,
        "",
        None,
    );
    let message = with_text(message, "hello");
    setup.pbx.send(gateway, &message);
    // The answer, sent after the MESSAGE: once the PBX has it, the MESSAGE was handled.
    let answer = sdp(CARRIER_IP, 40_000);
    setup.carrier.send(
        gateway,
        &invite.reply(200, "carrier-tag", setup.carrier.addr(), Some(&answer)),
    );
    setup.pbx.wait_for("the 200", |m| m.status() == Some(200));
    let reached = victim.queued();
    assert!(reached.is_empty(), "the victim got {:?}", reached.first());
    assert!(
        setup
            .carrier
            .queued()
            .iter()
            .all(|m| m.method() != Some("MESSAGE")),
        "the MESSAGE with an invented tag reached the carrier"
    );
    let refused = setup.pbx.response("MESSAGE");
    assert_eq!(refused.status(), Some(481), "{}", refused.text);
}

/// (d) `X-Greffier-Recording: pause` from a stranger copying the PBX's dialog,
/// and from the carrier's own address (with the PBX's tags or its own): the
/// recording is not paused. The PBX's own order then is obeyed.
#[test]
fn only_the_tenants_pbx_pauses_the_recording() {
    let setup = Setup::start("all");
    let (pbx_media, carrier_media) = (media_socket(PBX_IP), media_socket(CARRIER_IP));
    let mut call = setup.answered_call(
        "pause-d@edge",
        pbx_media.local_addr().unwrap(),
        carrier_media.local_addr().unwrap(),
    );
    assert_eq!(setup.listed_call()["recorded"], true);
    let pause = "X-Greffier-Recording: pause\r\n";
    let gateway = setup.gateway.sip_addr();

    let attacker = Peer::on_free_port("attacker", ATTACKER_IP);
    attacker.send(
        gateway,
        &call.request(Side::Pbx, "INFO", attacker.addr(), pause, None),
    );
    let stranger_answer = attacker.response("INFO");
    assert_eq!(
        setup.listed_call()["paused"],
        false,
        "a stranger paused the recording"
    );
    assert_eq!(
        stranger_answer.status(),
        Some(403),
        "{}",
        stranger_answer.text
    );

    // The carrier's socket, speaking as the PBX.
    setup.carrier.send(
        gateway,
        &call.request(Side::Pbx, "INFO", setup.carrier.addr(), pause, None),
    );
    let forged = setup.carrier.response("INFO");
    assert_eq!(
        setup.listed_call()["paused"],
        false,
        "the carrier paused the recording"
    );
    assert_eq!(forged.status(), Some(403), "{}", forged.text);
    let metrics = setup.gateway.metrics();
    assert_eq!(
        metrics.count(REJECTS, &[("reason", "foreign_source")]),
        1.0,
        "the carrier using the PBX's tags is refused as a foreign source: {}",
        metrics.text
    );

    // The carrier as itself: relayed to the PBX without the order.
    setup.carrier.send(
        gateway,
        &call.request(Side::Carrier, "INFO", setup.carrier.addr(), pause, None),
    );
    let relayed = setup.pbx.request("INFO");
    assert!(
        !relayed.text.contains("X-Greffier-Recording"),
        "{}",
        relayed.text
    );
    assert_eq!(setup.listed_call()["paused"], false);
    assert_eq!(setup.gateway.metrics().count(RECORDING_CONTROL, &[]), 0.0);

    // The PBX itself: obeyed, so the listing above could have said otherwise.
    setup.pbx.send(
        gateway,
        &call.request(Side::Pbx, "INFO", setup.pbx.addr(), pause, None),
    );
    assert_eq!(setup.pbx.response("INFO").status(), Some(200));
    assert_eq!(setup.listed_call()["paused"], true);
    setup.hang_up(&mut call);
}

fn rtp_packet(sequence: u16) -> Vec<u8> {
    let mut packet = vec![0x80, 8];
    packet.extend_from_slice(&sequence.to_be_bytes());
    packet.extend_from_slice(&(u32::from(sequence) * 160).to_be_bytes());
    packet.extend_from_slice(&0x5eed_u32.to_be_bytes());
    packet.extend_from_slice(&[0xd5; 160]);
    packet
}

/// (e) A forged re-INVITE from a stranger, speaking as the carrier with
/// `c=127.0.0.9`: the PBX's audio still goes to the carrier, none to the
/// stranger.
#[test]
fn a_forged_reinvite_does_not_redirect_the_audio() {
    let setup = Setup::start("none");
    let (pbx_media, carrier_media) = (media_socket(PBX_IP), media_socket(CARRIER_IP));
    let mut call = setup.answered_call(
        "reinvite-e@edge",
        pbx_media.local_addr().unwrap(),
        carrier_media.local_addr().unwrap(),
    );
    let attacker = Peer::on_free_port("attacker", ATTACKER_IP);
    let attacker_media = media_socket(ATTACKER_IP);
    let stolen_sdp = sdp(ATTACKER_IP, attacker_media.local_addr().unwrap().port());
    let reinvite = call.request(
        Side::Carrier,
        "INVITE",
        attacker.addr(),
        "Contact: <sip:x@127.0.0.9>\r\n",
        Some(&stolen_sdp),
    );
    attacker.send(setup.gateway.sip_addr(), &reinvite);
    setup.round_trip(&mut call);

    let gateway_media = SocketAddr::from((Ipv4Addr::LOCALHOST, call.gateway_pbx_port));
    carrier_media.set_read_timeout(Some(READ_BOUND)).unwrap();
    attacker_media.set_nonblocking(true).unwrap();
    let mut buffer = [0u8; 2048];
    let mut at_carrier = 0;
    for sequence in 1..=20u16 {
        pbx_media
            .send_to(&rtp_packet(sequence), gateway_media)
            .unwrap();
        if let Ok(stolen) = attacker_media.recv(&mut buffer) {
            panic!("the stranger got {stolen} bytes of the PBX's audio");
        }
        if carrier_media.recv(&mut buffer).is_ok() {
            at_carrier += 1;
        }
        if at_carrier >= 5 {
            break;
        }
    }
    assert!(
        at_carrier >= 5,
        "the PBX's audio reaches the carrier ({at_carrier} packets)"
    );
    assert!(
        attacker_media.recv(&mut buffer).is_err(),
        "the stranger got some of the PBX's audio"
    );
    let answer = attacker.response("INVITE");
    assert_eq!(answer.status(), Some(403), "{}", answer.text);
    setup.hang_up(&mut call);
}

/// (f) Two INVITEs with the same Call-ID and different From tags, both
/// refused by the carrier, again and again on a pool of four port pairs (two
/// calls): no call is left behind, so a normal call afterwards is still
/// anchored and recorded, and no dialog remains.
#[test]
fn a_reused_call_id_leaks_no_call_and_the_pool_does_not_drain() {
    const ROUNDS: usize = 4;
    let mut setup = Setup::start_with("all", |config| {
        let first = config.media_first_port + config.media_first_port % 2;
        let main = std::fs::read_to_string(config.path()).unwrap();
        let mut lines: Vec<String> = main.lines().map(str::to_string).collect();
        for line in &mut lines {
            if line.starts_with("media_ports") {
                *line = format!("media_ports = \"{first}-{}\"", first + 7);
            }
        }
        std::fs::write(config.path(), lines.join("\n") + "\n").unwrap();
    });
    let gateway = setup.gateway.sip_addr();
    let media = media_socket(PBX_IP);
    for round in 0..ROUNDS {
        let call_id = format!("reused-{round}@edge");
        let first = setup.invite(
            &call_id,
            &format!("first-{round}"),
            media.local_addr().unwrap(),
        );
        let second = setup.invite(
            &call_id,
            &format!("second-{round}"),
            media.local_addr().unwrap(),
        );
        for invite in [&first, &second] {
            setup.carrier.send(
                gateway,
                &invite.reply(486, "busy", setup.carrier.addr(), None),
            );
            setup.carrier.request("ACK");
        }
        for tag in ["first", "second"] {
            let busy = setup.pbx.wait_for("486", |m| {
                m.status() == Some(486) && m.text.contains(&format!("tag={tag}-{round}"))
            });
            let ack = format!(
                "ACK sip:{DIALLED}@{gateway} SIP/2.0\r\nVia: {}\r\nFrom: {}\r\nTo: {}\r\n\
                 Call-ID: {call_id}\r\nCSeq: 1 ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
                busy.header("Via"),
                busy.header("From"),
                busy.header("To"),
            );
            setup.pbx.send(gateway, &ack);
        }
    }
    assert_eq!(setup.dialogs(), 0.0, "every refused call ended");
    let listed = setup.gateway.get("/calls").body;
    assert_eq!(listed.trim(), "[]", "no call is left in the directory");

    // The PBX and carrier sockets make way for sipp on the same addresses.
    let (pbx, carrier) = (setup.pbx.addr(), setup.carrier.addr());
    drop(std::mem::replace(
        &mut setup.pbx,
        Peer::on_free_port("unused", PBX_IP),
    ));
    drop(std::mem::replace(
        &mut setup.carrier,
        Peer::on_free_port("unused", CARRIER_IP),
    ));
    let call = RecordedCall::start(&setup.gateway, pbx, carrier, "1000");
    call.finish();
    let config = setup.gateway.config.path().to_path_buf();
    let entry = recorded::wait_listed(&config, Duration::from_secs(20));
    assert_eq!(entry["incomplete"], false, "{entry}");
    let id = entry["id"].as_str().expect("an id");
    let audio = recorded::fetch(
        &config,
        id,
        &setup.gateway.config.run_dir().join("call.wav"),
    );
    assert!(
        !recorded::from_first_sound(&audio.left).is_empty(),
        "the PBX's audio is in the recording"
    );
    let metrics = setup.gateway.metrics();
    assert_eq!(metrics.count(DIALOGS, &[]), 0.0, "{}", metrics.text);
    assert_eq!(
        metrics.count("greffier_media_ports_in_use", &[("family", "ipv4")]),
        0.0,
        "{}",
        metrics.text
    );
}

/// The gateway's own BYE on a media timeout goes to the address each leg used,
/// not to the Contact it announced: a PBX (or anyone writing its INVITE) cannot
/// aim the gateway's requests at a third party.
#[test]
fn the_gateways_bye_on_media_timeout_goes_to_each_leg_not_to_its_contact() {
    let setup = Setup::start_with("none", |config| {
        let main = std::fs::read_to_string(config.path()).unwrap();
        std::fs::write(
            config.path(),
            main.replacen("[node]\n", "[node]\nrtp_timeout_secs = 2\n", 1),
        )
        .unwrap();
    });
    let decoy = Peer::on_free_port("decoy", ATTACKER_IP);
    let (pbx_media, carrier_media) = (media_socket(PBX_IP), media_socket(CARRIER_IP));
    let gateway = setup.gateway.sip_addr();
    let invite = setup.invite_with_contact(
        "timeout-8@edge",
        "pbx-tag",
        pbx_media.local_addr().unwrap(),
        decoy.addr(),
    );
    let answer = sdp(CARRIER_IP, carrier_media.local_addr().unwrap().port());
    setup.carrier.send(
        gateway,
        &invite.reply(200, "carrier-tag", setup.carrier.addr(), Some(&answer)),
    );
    let ok = setup.pbx.response("INVITE");
    let routes: Vec<String> = ok
        .headers("Record-Route")
        .iter()
        .map(|r| r.to_string())
        .collect();
    let ack = in_dialog(
        "ACK",
        &format!("sip:peer@{}", setup.carrier.addr()),
        setup.pbx.addr(),
        &routes,
        (&format!("sip:{TENANT_NUMBER}@{PBX_IP}"), "pbx-tag"),
        (&format!("sip:{DIALLED}@{CARRIER_IP}"), "carrier-tag"),
        "timeout-8@edge",
        1,
        "",
        None,
    );
    setup.pbx.send(gateway, &ack);
    setup.carrier.request("ACK");

    // No media: after the timeout the gateway hangs up both legs, the PBX's
    // first, so once the carrier has its BYE the other one has arrived too.
    let bye_to_carrier = setup.carrier.request("BYE");
    let stray = decoy.queued();
    assert!(stray.is_empty(), "the decoy got {:?}", stray.first());
    let bye_to_pbx = setup.pbx.request("BYE");
    for (peer, bye) in [(&setup.pbx, &bye_to_pbx), (&setup.carrier, &bye_to_carrier)] {
        peer.send(gateway, &bye.reply(200, "x", peer.addr(), None));
    }
    assert!(
        bye_to_pbx.start_line().contains(&decoy.addr().to_string()),
        "the Contact still names the target in the Request-URI: {}",
        bye_to_pbx.start_line()
    );
    assert_eq!(setup.dialogs(), 0.0);
}
