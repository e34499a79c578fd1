//! Where the relay may send media.
//!
//! An SDP `c=` line or `a=rtcp` attribute (RFC 4566 §5.7, RFC 3605) is written
//! by the peer, so on its own it would let a peer aim the relay at any address:
//! loopback services, another call's relay port (whose leg would then hear this
//! call), or a third party flooded with RTP. The relay checks every address it
//! would send to, announced or learned, against this policy; an address it
//! refuses is treated as unknown.

use crate::ports::PortPool;
use ipnet::IpNet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::ops::RangeInclusive;

/// The networks media may go to, minus the gateway's own sockets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaDestinations {
    /// `None`: any address (subject to the loopback rule).
    allowed: Option<Vec<IpNet>>,
    /// Loopback is a destination only for a node whose media address is
    /// loopback itself (a test or lab node): a public node's peers have no
    /// business naming the gateway's own host.
    loopback: bool,
    /// The relay's own port ranges: sending there would inject one call's
    /// media into another call (or loop it back into this one).
    own_ranges: Vec<(IpAddr, RangeInclusive<u16>)>,
    /// Other sockets of the gateway (its SIP listeners).
    own_sockets: Vec<SocketAddr>,
}

impl MediaDestinations {
    /// The default of a node relaying on `media_ip`, ports `relay_ports`:
    /// every address except the relay's own ports, and loopback only when
    /// `media_ip` is loopback.
    pub fn for_node(media_ip: IpAddr, relay_ports: RangeInclusive<u16>) -> Self {
        let media_ip = media_ip.to_canonical();
        Self {
            allowed: None,
            loopback: media_ip.is_loopback(),
            own_ranges: vec![(media_ip, relay_ports)],
            own_sockets: Vec::new(),
        }
    }

    /// [`MediaDestinations::for_node`] for the address and range of `pool`.
    pub fn for_pool(pool: &PortPool) -> Self {
        Self::for_node(pool.ip(), pool.range())
    }

    /// Narrows the destinations to `networks` (the operator's list). The
    /// relay's own ports and the loopback rule still apply.
    pub fn only(mut self, networks: Vec<IpNet>) -> Self {
        self.allowed = Some(networks);
        self
    }

    /// Refuses one more of the gateway's own sockets (a SIP listener). An
    /// unspecified address stands for every local address with that port that
    /// this policy knows of: the media address and loopback.
    pub fn refusing(mut self, socket: SocketAddr) -> Self {
        let ip = socket.ip().to_canonical();
        if ip.is_unspecified() {
            let local = self.own_ranges.iter().map(|(ip, _)| *ip);
            let loopback = [IpAddr::V4(Ipv4Addr::LOCALHOST), IpAddr::V6(1.into())];
            let sockets: Vec<_> = local
                .chain(loopback)
                .map(|ip| SocketAddr::new(ip, socket.port()))
                .collect();
            self.own_sockets.extend(sockets);
        } else {
            self.own_sockets.push(SocketAddr::new(ip, socket.port()));
        }
        self
    }

    /// Whether the relay may send to `to` (and so latch to it).
    pub fn allows(&self, to: SocketAddr) -> bool {
        let ip = to.ip().to_canonical();
        let to = SocketAddr::new(ip, to.port());
        if to.port() == 0 || !is_unicast(ip) || (ip.is_loopback() && !self.loopback) {
            return false;
        }
        let own_port = self
            .own_ranges
            .iter()
            .any(|(own, ports)| *own == ip && ports.contains(&to.port()));
        if own_port || self.own_sockets.contains(&to) {
            return false;
        }
        match &self.allowed {
            None => true,
            Some(networks) => networks.iter().any(|network| network.contains(&ip)),
        }
    }
}

/// Unspecified, multicast and broadcast addresses are never a peer.
fn is_unicast(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => !(v4.is_unspecified() || v4.is_multicast() || v4.is_broadcast()),
        IpAddr::V6(v6) => !(v6.is_unspecified() || v6.is_multicast()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    fn public_node() -> MediaDestinations {
        MediaDestinations::for_node("192.0.2.1".parse().unwrap(), 30000..=30999)
    }

    #[test]
    fn the_relays_own_ports_are_refused_and_its_other_ports_allowed() {
        let node = public_node();
        assert!(!node.allows(at("192.0.2.1:30000")));
        assert!(!node.allows(at("192.0.2.1:30999")));
        assert!(node.allows(at("192.0.2.1:29999")));
        assert!(node.allows(at("192.0.2.1:31000")));
        assert!(node.allows(at("192.0.2.2:30000")), "another host's port");
        assert!(
            !node.allows(at("[::ffff:192.0.2.1]:30002")),
            "an IPv4-mapped spelling of the same socket"
        );
    }

    #[test]
    fn loopback_only_for_a_loopback_node() {
        let public = public_node();
        assert!(!public.allows(at("127.0.0.1:4000")));
        assert!(!public.allows(at("127.0.0.9:4000")));
        assert!(!public.allows(at("[::1]:4000")));
        let lab = MediaDestinations::for_node("127.0.0.1".parse().unwrap(), 30000..=30999);
        assert!(lab.allows(at("127.0.0.9:4000")));
        assert!(
            !lab.allows(at("127.0.0.1:30500")),
            "still not its own ports"
        );
        let listed = public_node().only(vec!["0.0.0.0/0".parse().unwrap()]);
        assert!(
            !listed.allows(at("127.0.0.1:4000")),
            "a list that covers loopback does not lift the rule"
        );
    }

    #[test]
    fn an_operator_list_narrows_the_destinations() {
        let node = public_node().only(vec![
            "198.51.100.0/24".parse().unwrap(),
            "2001:db8::/32".parse().unwrap(),
        ]);
        assert!(node.allows(at("198.51.100.7:4000")));
        assert!(node.allows(at("[2001:db8::7]:4000")));
        assert!(!node.allows(at("203.0.113.7:4000")));
        assert!(!node.allows(at("[2001:db9::7]:4000")));
    }

    #[test]
    fn no_unspecified_multicast_broadcast_or_port_zero() {
        let node = public_node();
        for refused in [
            "0.0.0.0:4000",
            "224.0.0.1:4000",
            "255.255.255.255:4000",
            "[::]:4000",
            "[ff02::1]:4000",
            "198.51.100.7:0",
        ] {
            assert!(!node.allows(at(refused)), "{refused}");
        }
    }

    #[test]
    fn the_gateways_sip_listeners_are_refused() {
        let node = public_node()
            .refusing(at("192.0.2.1:5060"))
            .refusing(at("0.0.0.0:5080"));
        assert!(!node.allows(at("192.0.2.1:5060")));
        assert!(!node.allows(at("192.0.2.1:5080")));
        assert!(node.allows(at("198.51.100.7:5060")));
    }
}
