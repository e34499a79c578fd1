//! Transport robustness of the real binary: a stream with a bad Content-Length
//! closes that connection only, and the gateway keeps serving everyone else.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

use support::config::{GatewayConfig, TenantSpec};
use support::gateway::Gateway;

const READ_BOUND: Duration = Duration::from_secs(10);

fn gateway() -> Gateway {
    let pbx: SocketAddr = "127.0.0.1:5999".parse().unwrap();
    let carrier: SocketAddr = "127.0.0.2:5998".parse().unwrap();
    Gateway::start(GatewayConfig::write(vec![TenantSpec::new(
        "acme",
        "+33199000001",
        pbx,
        carrier,
    )]))
}

fn options(gateway: SocketAddr, transport: &str, local: SocketAddr, branch: &str) -> String {
    format!(
        "OPTIONS sip:{gateway} SIP/2.0\r\nVia: SIP/2.0/{transport} {local};branch=z9hG4bK{branch}\r\n\
         From: <sip:probe@{local}>;tag={branch}\r\nTo: <sip:{gateway}>\r\nCall-ID: {branch}@probe\r\n\
         CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    )
}

/// Reads from a stream until it closes; returns what came and whether it closed.
fn read_until_closed(stream: &mut TcpStream) -> (String, bool) {
    stream.set_read_timeout(Some(READ_BOUND)).unwrap();
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => return (String::from_utf8_lossy(&received).into_owned(), true),
            Ok(len) => received.extend_from_slice(&buffer[..len]),
            Err(_) => return (String::from_utf8_lossy(&received).into_owned(), false),
        }
    }
}

/// Reads one response from a stream (headers up to the blank line).
fn read_response(stream: &mut TcpStream) -> String {
    stream.set_read_timeout(Some(READ_BOUND)).unwrap();
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    while !received.windows(4).any(|w| w == b"\r\n\r\n") {
        let len = stream
            .read(&mut buffer)
            .expect("a response before the bound");
        assert!(len > 0, "the gateway closed a healthy connection");
        received.extend_from_slice(&buffer[..len]);
    }
    String::from_utf8_lossy(&received).into_owned()
}

fn assert_still_serving(gateway: &Gateway, tag: &str) {
    let mut healthy = TcpStream::connect(gateway.sip_addr()).unwrap();
    let local = healthy.local_addr().unwrap();
    healthy
        .write_all(options(gateway.sip_addr(), "TCP", local, tag).as_bytes())
        .unwrap();
    let reply = read_response(&mut healthy);
    assert!(
        reply.starts_with("SIP/2.0 200"),
        "TCP OPTIONS answered: {reply}"
    );

    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.set_read_timeout(Some(READ_BOUND)).unwrap();
    let local = udp.local_addr().unwrap();
    udp.send_to(
        options(gateway.sip_addr(), "UDP", local, &format!("{tag}u")).as_bytes(),
        gateway.sip_addr(),
    )
    .unwrap();
    let mut buffer = [0u8; 4096];
    let (len, _) = udp.recv_from(&mut buffer).expect("UDP OPTIONS answered");
    assert!(String::from_utf8_lossy(&buffer[..len]).starts_with("SIP/2.0 200"));
}

#[test]
fn missing_content_length_on_tcp_closes_only_that_connection() {
    let gateway = gateway();
    let mut bad = TcpStream::connect(gateway.sip_addr()).unwrap();
    let local = bad.local_addr().unwrap();
    let message =
        options(gateway.sip_addr(), "TCP", local, "nocl").replace("Content-Length: 0\r\n", "");
    bad.write_all(message.as_bytes()).unwrap();
    let (_, closed) = read_until_closed(&mut bad);
    assert!(closed, "a stream without Content-Length is closed");
    assert_still_serving(&gateway, "after-nocl");
}

#[test]
fn negative_content_length_on_tcp_closes_only_that_connection() {
    let gateway = gateway();
    let mut bad = TcpStream::connect(gateway.sip_addr()).unwrap();
    let local = bad.local_addr().unwrap();
    let message = options(gateway.sip_addr(), "TCP", local, "ncl")
        .replace("Content-Length: 0", "Content-Length: -999");
    bad.write_all(message.as_bytes()).unwrap();
    let (reply, closed) = read_until_closed(&mut bad);
    assert!(closed, "a stream with a negative Content-Length is closed");
    assert!(
        reply.is_empty() || reply.starts_with("SIP/2.0 400"),
        "at most a 400 comes back: {reply}"
    );
    assert_still_serving(&gateway, "after-ncl");
}

#[test]
fn garbage_datagrams_are_counted_and_do_not_stop_the_gateway() {
    let gateway = gateway();
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    for garbage in [
        &b"\x00\x01\x02"[..],
        b"INVITE",
        b"SIP/2.0 200\r\n\r\n",
        &[0xff; 1400],
    ] {
        udp.send_to(garbage, gateway.sip_addr()).unwrap();
    }
    assert_still_serving(&gateway, "after-garbage");
    let metrics = gateway.metrics();
    assert!(metrics.count("greffier_sip_rejects_total", &[("reason", "parse_error")]) >= 3.0);
}
