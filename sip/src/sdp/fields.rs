//! The session and media fields anchoring rewrites: `c=`, `o=` and `m=`.

use std::net::IpAddr;

/// `IP4` or `IP6`, as written in `c=`, `o=` and `a=rtcp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressType {
    Ip4,
    Ip6,
}

impl AddressType {
    pub fn of(address: IpAddr) -> AddressType {
        match address {
            IpAddr::V4(_) => AddressType::Ip4,
            IpAddr::V6(_) => AddressType::Ip6,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AddressType::Ip4 => "IP4",
            AddressType::Ip6 => "IP6",
        }
    }

    fn parse(token: &str) -> Option<AddressType> {
        if token.eq_ignore_ascii_case("IP4") {
            Some(AddressType::Ip4)
        } else if token.eq_ignore_ascii_case("IP6") {
            Some(AddressType::Ip6)
        } else {
            None
        }
    }
}

/// A connection address: a literal IP, or a host name (RFC 8866 allows a fully
/// qualified domain name; resolving it is the caller's business).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectionAddress {
    Ip(IpAddr),
    Host(String),
}

impl ConnectionAddress {
    /// `0.0.0.0` or `::`: RFC 2543 / RFC 3264 §8.4 old-style hold, "send nothing here".
    pub fn is_unspecified(&self) -> bool {
        matches!(self, ConnectionAddress::Ip(ip) if ip.is_unspecified())
    }

    fn parse(token: &str) -> Option<ConnectionAddress> {
        // Multicast connections carry `/ttl[/count]`; the gateway is unicast, so only
        // the address itself matters.
        let address = token.split('/').next().unwrap_or_default();
        if let Ok(ip) = address.parse::<IpAddr>() {
            return Some(ConnectionAddress::Ip(ip));
        }
        let host_like = !address.is_empty()
            && address
                .bytes()
                .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_'));
        host_like.then(|| ConnectionAddress::Host(address.to_string()))
    }
}

impl std::fmt::Display for ConnectionAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnectionAddress::Ip(ip) => ip.fmt(f),
            ConnectionAddress::Host(name) => f.write_str(name),
        }
    }
}

/// `c=IN <addrtype> <address>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    pub address_type: AddressType,
    pub address: ConnectionAddress,
}

impl Connection {
    pub(crate) fn parse(value: &str) -> Option<Connection> {
        let mut tokens = value.split_ascii_whitespace();
        let connection = Connection::parse_tokens(&mut tokens)?;
        tokens.next().is_none().then_some(connection)
    }

    /// `IN <addrtype> <address>` from a token stream, as in `c=`, `o=` and `a=rtcp`.
    pub(crate) fn parse_tokens<'a>(
        tokens: &mut impl Iterator<Item = &'a str>,
    ) -> Option<Connection> {
        if !tokens.next()?.eq_ignore_ascii_case("IN") {
            return None;
        }
        let address_type = AddressType::parse(tokens.next()?)?;
        let address = ConnectionAddress::parse(tokens.next()?)?;
        Some(Connection {
            address_type,
            address,
        })
    }

    /// The text after `c=` for a unicast IP address.
    pub(crate) fn render(address: IpAddr) -> String {
        format!("IN {} {address}", AddressType::of(address).as_str())
    }
}

/// `o=<username> <sess-id> <sess-version> IN <addrtype> <address>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub username: String,
    pub session_id: String,
    pub session_version: String,
    pub connection: Connection,
}

impl Origin {
    /// Token positions in the `o=` value, for rewriting one token in place.
    pub(crate) const VERSION_TOKEN: usize = 2;
    pub(crate) const ADDRESS_TYPE_TOKEN: usize = 4;
    pub(crate) const ADDRESS_TOKEN: usize = 5;

    pub(crate) fn parse(value: &str) -> Option<Origin> {
        let mut tokens = value.split_ascii_whitespace();
        let username = tokens.next()?.to_string();
        let session_id = tokens.next()?.to_string();
        let session_version = tokens.next()?.to_string();
        let connection = Connection::parse_tokens(&mut tokens)?;
        tokens.next().is_none().then_some(Origin {
            username,
            session_id,
            session_version,
            connection,
        })
    }
}

/// `m=<media> <port>[/<count>] <proto> <fmt> ...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaLine {
    pub media: String,
    pub port: u16,
    pub port_count: Option<u16>,
    pub proto: String,
    pub formats: Vec<String>,
}

impl MediaLine {
    pub(crate) const PORT_TOKEN: usize = 1;

    pub(crate) fn parse(value: &str) -> Option<MediaLine> {
        let mut tokens = value.split_ascii_whitespace();
        let media = tokens.next()?.to_string();
        let port_token = tokens.next()?;
        let (port, port_count) = match port_token.split_once('/') {
            Some((port, count)) => (port.parse().ok()?, Some(count.parse().ok()?)),
            None => (port_token.parse().ok()?, None),
        };
        let proto = tokens.next()?.to_string();
        let formats = tokens.map(str::to_string).collect();
        Some(MediaLine {
            media,
            port,
            port_count,
            proto,
            formats,
        })
    }

    /// RTP-based transports (RTP/AVP, RTP/SAVP, UDP/TLS/RTP/SAVPF, ...) carry RTCP.
    pub fn is_rtp(&self) -> bool {
        self.proto.to_ascii_uppercase().contains("RTP")
    }
}

/// Replaces the `index`th whitespace-separated token of `value`, keeping every other
/// byte (including unusual spacing) as it was.
pub(crate) fn replace_token(value: &str, index: usize, replacement: &str) -> String {
    match token_span(value, index) {
        Some((start, end)) => {
            let mut out = String::with_capacity(value.len() + replacement.len());
            out.push_str(value.get(..start).unwrap_or_default());
            out.push_str(replacement);
            out.push_str(value.get(end..).unwrap_or_default());
            out
        }
        None => value.to_string(),
    }
}

fn token_span(value: &str, index: usize) -> Option<(usize, usize)> {
    let mut seen = 0;
    let mut start = None;
    for (at, byte) in value
        .bytes()
        .enumerate()
        .chain(std::iter::once((value.len(), b' ')))
    {
        let blank = byte.is_ascii_whitespace();
        match (start, blank) {
            (None, false) => start = Some(at),
            (Some(begin), true) => {
                if seen == index {
                    return Some((begin, at));
                }
                seen += 1;
                start = None;
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_with_ip4_ip6_host_and_multicast() {
        let ip4 = Connection::parse("IN IP4 192.0.2.5").unwrap();
        assert_eq!(
            ip4.address,
            ConnectionAddress::Ip("192.0.2.5".parse().unwrap())
        );
        assert_eq!(ip4.address_type, AddressType::Ip4);
        let ip6 = Connection::parse("IN IP6 ::ffff:192.0.2.2").unwrap();
        assert_eq!(ip6.address_type, AddressType::Ip6);
        assert_eq!(
            ip6.address,
            ConnectionAddress::Ip("::ffff:192.0.2.2".parse().unwrap())
        );
        let host = Connection::parse("IN IP4 host.example.com").unwrap();
        assert_eq!(
            host.address,
            ConnectionAddress::Host("host.example.com".into())
        );
        let multicast = Connection::parse("IN IP4 224.2.1.1/127/3").unwrap();
        assert_eq!(
            multicast.address,
            ConnectionAddress::Ip("224.2.1.1".parse().unwrap())
        );
    }

    #[test]
    fn malformed_connections_are_refused() {
        for bad in [
            "",
            "IN",
            "IN IP4",
            "ATM NSAP 47.0091",
            "IN IPX 1.2.3.4",
            "IN IP4 a b",
            "IN IP4 ?x",
        ] {
            assert_eq!(Connection::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn unspecified_addresses_mean_hold() {
        assert!(Connection::parse("IN IP4 0.0.0.0")
            .unwrap()
            .address
            .is_unspecified());
        assert!(Connection::parse("IN IP6 ::")
            .unwrap()
            .address
            .is_unspecified());
        assert!(!Connection::parse("IN IP4 192.0.2.1")
            .unwrap()
            .address
            .is_unspecified());
    }

    #[test]
    fn origin_fields() {
        let origin = Origin::parse("mhandley 29739 7272939 IN IP4 192.0.2.5").unwrap();
        assert_eq!(origin.username, "mhandley");
        assert_eq!(origin.session_id, "29739");
        assert_eq!(origin.session_version, "7272939");
        assert_eq!(
            origin.connection.address,
            ConnectionAddress::Ip("192.0.2.5".parse().unwrap())
        );
        assert_eq!(Origin::parse("mhandley 29739 7272939 IN IP4"), None);
        assert_eq!(Origin::parse("a 1 2 IN IP4 192.0.2.5 extra"), None);
    }

    #[test]
    fn media_line_with_and_without_port_count() {
        let audio = MediaLine::parse("audio 49170 RTP/AVP 0 8 101").unwrap();
        assert_eq!((audio.port, audio.port_count), (49170, None));
        assert_eq!(audio.formats, ["0", "8", "101"]);
        assert!(audio.is_rtp());
        let video = MediaLine::parse("video 49170/2 RTP/AVP 31").unwrap();
        assert_eq!((video.port, video.port_count), (49170, Some(2)));
        let fax = MediaLine::parse("image 0 udptl t38").unwrap();
        assert!(!fax.is_rtp());
        for bad in [
            "audio",
            "audio 70000 RTP/AVP 0",
            "audio x RTP/AVP 0",
            "audio 1/x RTP/AVP 0",
        ] {
            assert_eq!(MediaLine::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn replace_token_keeps_the_rest_verbatim() {
        assert_eq!(
            replace_token("audio  49170 RTP/AVP 0", 1, "40000"),
            "audio  40000 RTP/AVP 0"
        );
        assert_eq!(replace_token("a b c", 2, "z"), "a b z");
        assert_eq!(replace_token("a b", 5, "z"), "a b");
    }
}
