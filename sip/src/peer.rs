//! Who a message came from and where one goes: transport, address and, for
//! connection-oriented transports, the connection it travels on.

use std::fmt;
use std::net::SocketAddr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    Udp,
    Tcp,
}

impl Transport {
    /// Reliable transports need no retransmission timers (RFC 3261 §17).
    pub fn is_reliable(self) -> bool {
        matches!(self, Transport::Tcp)
    }

    /// The token used in Via headers.
    pub fn via_token(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
        }
    }

    /// The lower-case name, as in a `transport=` URI parameter or a metric label.
    pub fn label(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
        }
    }

    /// Parses a `transport=` URI parameter or a Via transport token.
    pub fn from_token(token: &str) -> Option<Transport> {
        if token.eq_ignore_ascii_case("udp") {
            Some(Transport::Udp)
        } else if token.eq_ignore_ascii_case("tcp") {
            Some(Transport::Tcp)
        } else {
            None
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// Identifies one stream connection inside the transport shell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionId(pub u64);

/// The far end of a hop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Peer {
    pub transport: Transport,
    pub addr: SocketAddr,
    /// The connection a stream message arrived on, or should leave on. `None` lets the
    /// shell pick an open connection to `addr` or open one.
    pub connection: Option<ConnectionId>,
}

impl Peer {
    pub fn new(transport: Transport, addr: SocketAddr) -> Peer {
        Peer {
            transport,
            addr,
            connection: None,
        }
    }
}
