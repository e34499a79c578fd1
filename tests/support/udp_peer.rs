//! A SIP device as one plain UDP socket, for tests that write every byte of
//! what it sends: the message shapes real devices use and sipp does not.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::time::Instant;

use super::ports::free_port;

/// The largest datagram a test peer reads.
const DATAGRAM_LEN: usize = 8192;

pub(crate) struct UdpPeer {
    /// Names the peer in failure messages ("pbx", "carrier", "attacker"…).
    pub(crate) name: &'static str,
    socket: UdpSocket,
}

impl UdpPeer {
    pub(crate) fn bind(name: &'static str, addr: SocketAddr) -> UdpPeer {
        let socket = UdpSocket::bind(addr).unwrap_or_else(|e| panic!("bind {name} on {addr}: {e}"));
        UdpPeer { name, socket }
    }

    pub(crate) fn on_free_port(name: &'static str, ip: Ipv4Addr) -> UdpPeer {
        UdpPeer::bind(name, SocketAddr::from((ip, free_port(ip))))
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.socket.local_addr().expect("a bound socket")
    }

    pub(crate) fn send(&self, to: SocketAddr, text: &str) {
        self.socket
            .send_to(text.as_bytes(), to)
            .unwrap_or_else(|e| panic!("{} sends to {to}: {e}", self.name));
    }

    /// The next datagram as text, or `None` once `deadline` has passed.
    pub(crate) fn recv_until(&self, deadline: Instant) -> Option<String> {
        let mut buffer = [0u8; DATAGRAM_LEN];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            self.socket.set_read_timeout(Some(left)).expect("a timeout");
            if let Ok(len) = self.socket.recv(&mut buffer) {
                return Some(String::from_utf8_lossy(&buffer[..len]).into_owned());
            }
        }
    }

    /// Every datagram already received, without waiting.
    pub(crate) fn drain(&self) -> Vec<String> {
        self.socket.set_nonblocking(true).expect("non-blocking");
        let mut buffer = [0u8; DATAGRAM_LEN];
        let mut received = Vec::new();
        while let Ok(len) = self.socket.recv(&mut buffer) {
            received.push(String::from_utf8_lossy(&buffer[..len]).into_owned());
        }
        self.socket.set_nonblocking(false).expect("blocking");
        received
    }
}
