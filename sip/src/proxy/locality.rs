//! The proxy's own addresses: what it puts in Via and Record-Route, and how it
//! recognises a URI that names itself.

use std::net::{IpAddr, SocketAddr};

use crate::message::SipUri;
use crate::Transport;

const DEFAULT_SIP_PORT: u16 = 5060;

#[derive(Debug, Clone)]
pub(crate) struct Locality {
    listeners: Vec<(Transport, SocketAddr)>,
}

impl Locality {
    pub(crate) fn new(listeners: Vec<(Transport, SocketAddr)>) -> Locality {
        Locality { listeners }
    }

    /// The address to advertise for traffic on `transport` towards `peer`: a
    /// listener of that transport in the same address family, else any listener of it.
    pub(crate) fn advertised(&self, transport: Transport, peer: SocketAddr) -> SocketAddr {
        let same_family = |addr: &SocketAddr| addr.is_ipv4() == peer.is_ipv4();
        self.listeners
            .iter()
            .find(|(t, addr)| *t == transport && same_family(addr))
            .or_else(|| self.listeners.iter().find(|(t, _)| *t == transport))
            .or_else(|| self.listeners.first())
            .map(|(_, addr)| *addr)
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], DEFAULT_SIP_PORT)))
    }

    /// Whether host and port name one of the listeners.
    pub(crate) fn is_local(&self, ip: IpAddr, port: Option<u16>) -> bool {
        let port = port.unwrap_or(DEFAULT_SIP_PORT);
        self.listeners
            .iter()
            .any(|(_, addr)| addr.port() == port && (addr.ip() == ip || addr.ip().is_unspecified()))
    }

    /// Whether a SIP URI names this proxy.
    pub(crate) fn is_local_uri(&self, uri: &SipUri) -> bool {
        parse_host_ip(uri.host()).is_some_and(|ip| self.is_local(ip, uri.port()))
    }

    /// Whether a Via `sent-by` (host[:port]) names this proxy.
    pub(crate) fn is_local_sent_by(&self, host: &str, port: Option<u16>) -> bool {
        parse_host_ip(host).is_some_and(|ip| self.is_local(ip, port))
    }

    /// A Record-Route value that brings in-dialog requests on `transport` back here.
    pub(crate) fn record_route(&self, transport: Transport, peer: SocketAddr) -> String {
        let addr = self.advertised(transport, peer);
        match transport {
            Transport::Udp => format!("<sip:{addr};lr>"),
            Transport::Tcp => format!("<sip:{addr};transport=tcp;lr>"),
        }
    }
}

/// An IP address from a URI or Via host, bracketed IPv6 included.
pub(crate) fn parse_host_ip(host: &str) -> Option<IpAddr> {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    bare.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn locality() -> Locality {
        Locality::new(vec![
            (Transport::Udp, "127.0.0.1:5060".parse().unwrap()),
            (Transport::Tcp, "127.0.0.1:5060".parse().unwrap()),
            (Transport::Udp, "[::1]:5062".parse().unwrap()),
        ])
    }

    #[test]
    fn recognises_own_uris() {
        let local = locality();
        assert!(local.is_local_uri(&SipUri::parse("sip:127.0.0.1;lr").unwrap()));
        assert!(local.is_local_uri(&SipUri::parse("sip:[::1]:5062;lr").unwrap()));
        assert!(!local.is_local_uri(&SipUri::parse("sip:127.0.0.1:5070").unwrap()));
        assert!(!local.is_local_uri(&SipUri::parse("sip:example.com").unwrap()));
    }

    #[test]
    fn advertises_same_family() {
        let local = locality();
        let v6 = local.advertised(Transport::Udp, "[::1]:9".parse().unwrap());
        assert_eq!(v6, "[::1]:5062".parse().unwrap());
        assert_eq!(
            local.record_route(Transport::Tcp, "127.0.0.1:9".parse().unwrap()),
            "<sip:127.0.0.1:5060;transport=tcp;lr>"
        );
    }
}
