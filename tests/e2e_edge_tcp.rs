//! TCP against the real binary, as a peer that holds connections would use it:
//! more connections from one source (127.0.0.9) than the per-source cap, a
//! connection that says nothing, and RFC 5626 keep-alives.

mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use support::scene::Scene;
use support::sipp::scenario;
use support::sockets::Transport;

const REFUSED: &str = "greffier_sip_tcp_connections_refused_total";
const IDLE_CLOSED: &str = "greffier_sip_tcp_idle_closed_total";

const ATTACKER_IP: [u8; 4] = [127, 0, 0, 9];
const PER_SOURCE: usize = 8;
const EXCESS: usize = 4;
/// Bound of every read: a connection is closed, or answers, well before it.
const READ_BOUND: Duration = Duration::from_secs(15);
const PING: &[u8] = b"\r\n\r\n";

/// A TCP connection from 127.0.0.9 to `target`.
fn connect_from_attacker(runtime: &tokio::runtime::Runtime, target: SocketAddr) -> TcpStream {
    runtime.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket
            .bind(SocketAddr::from((ATTACKER_IP, 0)))
            .expect("bind 127.0.0.9");
        let stream = socket.connect(target).await.expect("the kernel accepts");
        let stream = stream.into_std().unwrap();
        stream.set_nonblocking(false).unwrap();
        stream.set_read_timeout(Some(READ_BOUND)).unwrap();
        stream
    })
}

/// What came back on a connection after a ping.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Pong,
    Closed,
}

/// Sends a keep-alive ping and waits for the pong or the end of the connection.
fn ping(stream: &mut TcpStream) -> Outcome {
    // A connection closed at accept may already refuse the write: that is closed too.
    if stream.write_all(PING).is_err() {
        return Outcome::Closed;
    }
    let mut buffer = [0u8; 16];
    match stream.read(&mut buffer) {
        Ok(0) => Outcome::Closed,
        Ok(len) => {
            assert_eq!(&buffer[..len], b"\r\n", "a pong is one CRLF");
            Outcome::Pong
        }
        Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
            panic!("neither a pong nor a close within {READ_BOUND:?}")
        }
        // Closed with the ping unread: the kernel answers with a reset.
        Err(_) => Outcome::Closed,
    }
}

#[test]
fn connections_past_the_per_source_cap_are_closed_while_a_tenant_calls_over_tcp() {
    let scene = Scene::start_with_node_settings(
        Transport::Tcp,
        &format!("tcp_max_connections_per_source = {PER_SOURCE}"),
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let target = scene.gateway.sip_addr();
    let mut held: Vec<TcpStream> = (0..PER_SOURCE + EXCESS)
        .map(|_| connect_from_attacker(&runtime, target))
        .collect();
    let outcomes: Vec<Outcome> = held.iter_mut().map(ping).collect();
    let served = outcomes.iter().filter(|o| **o == Outcome::Pong).count();
    assert_eq!(
        (served, outcomes.len() - served),
        (PER_SOURCE, EXCESS),
        "{outcomes:?}"
    );

    // The attacker still holds its share; the tenant's PBX calls over TCP.
    let carrier = scene
        .carrier_answerer("carrier", &scenario("uas_answer.xml"))
        .spawn();
    let pbx = scene.pbx_caller("pbx", &scenario("uac_call.xml")).run();
    let carrier = if pbx.succeeded() {
        carrier.wait()
    } else {
        carrier.stop()
    };
    pbx.assert_calls_succeeded(1);
    carrier.assert_calls_succeeded(1);

    let metrics = scene.gateway.metrics();
    assert_eq!(
        metrics.count(REFUSED, &[("reason", "per_source")]),
        EXCESS as f64,
        "{}",
        metrics.text
    );
    drop(held);
}

#[test]
fn an_idle_connection_is_closed_after_the_idle_timeout() {
    let scene = Scene::start_with_node_settings(Transport::Tcp, "tcp_idle_timeout_secs = 1");
    let mut idle = TcpStream::connect(scene.gateway.sip_addr()).unwrap();
    idle.set_read_timeout(Some(READ_BOUND)).unwrap();
    let mut buffer = [0u8; 16];
    let read = idle.read(&mut buffer);
    assert!(
        matches!(read, Ok(0)),
        "the gateway closes a silent connection: {read:?}"
    );
    let metrics = scene.gateway.metrics();
    assert_eq!(metrics.count(IDLE_CLOSED, &[]), 1.0, "{}", metrics.text);
}

#[test]
fn a_crlfcrlf_ping_gets_a_crlf_pong() {
    let scene = Scene::start(Transport::Tcp);
    let mut stream = TcpStream::connect(scene.gateway.sip_addr()).unwrap();
    stream.set_read_timeout(Some(READ_BOUND)).unwrap();
    for _ in 0..2 {
        assert_eq!(ping(&mut stream), Outcome::Pong);
    }
}
