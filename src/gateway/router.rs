//! Tenant routing: which tenant a request belongs to and where it goes. Calls from a
//! tenant's PBX go to its carrier; calls from its carrier to one of its numbers go
//! to its PBX; nothing else is forwarded.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, RwLock};

use greffier_sip::message::Message;
use greffier_sip::proxy::{Direction, ForwardTarget, Refusal, RouteDecision};
use greffier_sip::Peer;
use tokio::sync::watch;

use crate::config::{Config, SipHost, SipUri, SourceRole};
use greffier_types::Personal;

const DEFAULT_SIP_PORT: u16 = 5060;

/// Tenant routing, reading the configuration in force at each decision so a reload
/// applies to the next call without touching calls in progress.
pub struct TenantRouter {
    config: watch::Receiver<Arc<Config>>,
    not_served: NotServed,
}

/// The tenants whose calls are refused although still configured: their
/// keys are being shredded or were (a terminated contract). The keyring
/// says so; [`super::spawn_keyring_watch`] keeps this set in line with it.
pub type NotServed = Arc<RwLock<BTreeSet<String>>>;

impl TenantRouter {
    pub fn new(config: watch::Receiver<Arc<Config>>, not_served: NotServed) -> TenantRouter {
        TenantRouter { config, not_served }
    }

    fn serves(&self, tenant: &str) -> bool {
        // A poisoned lock (a panicked writer) refuses nobody: the keyring
        // itself still refuses to seal for a terminated tenant.
        self.not_served
            .read()
            .map_or(true, |not_served| !not_served.contains(tenant))
    }
}

/// Where a configured next-hop URI points, and how it is written in a Request-URI.
struct NextHop {
    peer: Peer,
    /// Host, port and `transport=` parameter, as the configured URI has them.
    hostport: String,
}

/// The next hop a configured URI names: its address, and its own transport, never
/// the one the request came in on (a PBX on TCP usually calls a carrier on UDP).
fn next_hop(uri: &SipUri) -> Option<NextHop> {
    let SipHost::Ip(ip) = uri.host else {
        // Next hops are configured as addresses: the gateway does no DNS on the call
        // path.
        return None;
    };
    // A TLS next hop is refused when the configuration loads; none reaches here.
    let transport = uri.next_hop_transport().ok()?;
    let addr = SocketAddr::new(ip, uri.port.unwrap_or(DEFAULT_SIP_PORT));
    let host = match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
    };
    let mut hostport = match uri.port {
        Some(port) => format!("{host}:{port}"),
        None => host,
    };
    if uri.transport.is_some() {
        // The Request-URI says how it is reached, as the configured URI does.
        hostport.push_str(&format!(";transport={}", transport.label()));
    }
    Some(NextHop {
        peer: Peer::new(transport, addr),
        hostport,
    })
}

impl TenantRouter {
    /// Whether `ip` belongs to a tenant's PBX or carrier: in their `sources`, or
    /// the address of their `uri` (the leg a call is sent to answers and sends its
    /// in-dialog requests from there). Everyone else is an unknown source.
    pub fn knows_source(&self, ip: IpAddr) -> bool {
        let config = self.config.borrow();
        if config.tenant_for_source(ip).is_some() {
            return true;
        }
        let ip = ip.to_canonical();
        config.tenants().iter().any(|tenant| {
            [&tenant.pbx.uri, &tenant.carrier.uri]
                .into_iter()
                .any(|uri| matches!(uri.host, SipHost::Ip(host) if host == ip))
        })
    }

    /// Where a new request goes: the tenant's carrier for its PBX's calls, its PBX
    /// for calls to its numbers, nowhere for anyone else.
    pub fn route(&self, source: Peer, request: &Message) -> RouteDecision {
        let config = self.config.borrow().clone();
        let Some((tenant, role)) = config.tenant_for_source(source.addr.ip()) else {
            return RouteDecision::Refuse(Refusal::UnknownSource);
        };
        if !self.serves(tenant.id.as_str()) {
            return RouteDecision::Refuse(Refusal::NotServed);
        }
        let uri = request.request_uri();
        let user = uri.as_ref().and_then(|uri| uri.user()).map(str::to_string);
        let (target, direction) = match role {
            SourceRole::Pbx => (&tenant.carrier.uri, Direction::Outbound),
            SourceRole::Carrier => {
                let own_number = user
                    .as_deref()
                    .and_then(|number| config.tenant_for_number(number))
                    .is_some_and(|owner| owner.id == tenant.id);
                if !own_number {
                    return RouteDecision::Refuse(Refusal::UnknownNumber);
                }
                (&tenant.pbx.uri, Direction::Inbound)
            }
        };
        let Some(NextHop { peer, hostport }) = next_hop(target) else {
            tracing::warn!(tenant = %tenant.id, "next hop is not an IP address");
            return RouteDecision::Refuse(Refusal::Unavailable);
        };
        let request_uri = match &user {
            Some(user) => Personal::new(format!("sip:{user}@{hostport}")),
            None => Personal::new(format!("sip:{hostport}")),
        };
        RouteDecision::Forward(ForwardTarget {
            tenant: tenant.id.clone(),
            request_uri,
            destination: peer.addr,
            transport: peer.transport,
            direction,
        })
    }
}

#[cfg(test)]
mod tests {
    use greffier_sip::Transport;

    use super::*;

    fn hop(text: &str) -> NextHop {
        next_hop(&SipUri::parse(text).unwrap()).expect("an address next hop")
    }

    #[test]
    fn the_next_hop_transport_is_the_uris_whatever_the_request_came_on() {
        let tcp = hop("sip:127.0.0.2:5070;transport=tcp");
        assert_eq!(tcp.peer.transport, Transport::Tcp);
        assert_eq!(tcp.peer.addr, "127.0.0.2:5070".parse().unwrap());
        assert_eq!(tcp.hostport, "127.0.0.2:5070;transport=tcp");
        let udp = hop("sip:[::1]");
        assert_eq!(udp.peer.transport, Transport::Udp, "RFC 3263 §4.1");
        assert_eq!(udp.peer.addr, "[::1]:5060".parse().unwrap());
        assert_eq!(udp.hostport, "[::1]");
        assert!(next_hop(&SipUri::parse("sip:trunk.example.net").unwrap()).is_none());
    }
}
