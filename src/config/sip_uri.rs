//! The small subset of SIP URIs a configuration names: where to send calls.

use std::fmt;
use std::net::IpAddr;

use greffier_sip::Transport;

/// `sip:` or `sips:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SipScheme {
    Sip,
    Sips,
}

/// A next-hop SIP URI: scheme, host (name or address), optional port and
/// optional `transport=` parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipUri {
    pub scheme: SipScheme,
    pub host: SipHost,
    pub port: Option<u16>,
    pub transport: Option<UriTransport>,
}

/// The `transport=` parameter of a next-hop URI (RFC 3261 §19.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UriTransport {
    Udp,
    Tcp,
    /// Parsed so that a configuration naming it gets a clear refusal: the gateway
    /// has no TLS transport yet.
    Tls,
}

impl UriTransport {
    fn parse(value: &str) -> Option<UriTransport> {
        match value.to_ascii_lowercase().as_str() {
            "udp" => Some(UriTransport::Udp),
            "tcp" => Some(UriTransport::Tcp),
            "tls" => Some(UriTransport::Tls),
            _ => None,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            UriTransport::Udp => "udp",
            UriTransport::Tcp => "tcp",
            UriTransport::Tls => "tls",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SipHost {
    Ip(IpAddr),
    Name(String),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SipUriError {
    #[error("the scheme must be `sip:` or `sips:`")]
    Scheme,
    #[error("a next-hop URI has no user part (`user@`)")]
    UserPart,
    #[error("the host is missing")]
    MissingHost,
    #[error("the host is neither an IP address nor a valid domain name")]
    Host,
    #[error("the port must be a number from 1 to 65535")]
    Port,
    #[error("only the `transport=` parameter is supported here, once; no URI headers")]
    Parameters,
    #[error("the transport must be `udp` or `tcp`")]
    Transport,
}

/// Why a well-formed next-hop URI cannot be used by this gateway.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NextHopError {
    #[error(
        "TLS next hops (`sips:` or `;transport=tls`) are not supported yet; \
         use `;transport=tcp` or `;transport=udp`"
    )]
    Tls,
}

impl SipUri {
    pub fn parse(text: &str) -> Result<Self, SipUriError> {
        let (scheme, rest) = if let Some(rest) = text.strip_prefix("sips:") {
            (SipScheme::Sips, rest)
        } else if let Some(rest) = text.strip_prefix("sip:") {
            (SipScheme::Sip, rest)
        } else {
            return Err(SipUriError::Scheme);
        };
        if rest.contains('@') {
            return Err(SipUriError::UserPart);
        }
        if rest.contains('?') {
            return Err(SipUriError::Parameters);
        }
        let mut parts = rest.split(';');
        let (host, port) = split_host_port(parts.next().unwrap_or_default())?;
        let mut transport = None;
        for parameter in parts {
            let (name, value) = parameter.split_once('=').unwrap_or((parameter, ""));
            if !name.eq_ignore_ascii_case("transport") || transport.is_some() {
                return Err(SipUriError::Parameters);
            }
            transport = Some(UriTransport::parse(value).ok_or(SipUriError::Transport)?);
        }
        Ok(Self {
            scheme,
            host,
            port,
            transport,
        })
    }

    /// The transport calls to this next hop use: the `transport=` parameter, else
    /// UDP for a `sip:` URI (RFC 3263 §4.1: a numeric host without a transport
    /// parameter is reached over UDP; the gateway resolves no names on the call
    /// path). TLS (`sips:` or `transport=tls`) is refused until the gateway has it.
    pub fn next_hop_transport(&self) -> Result<Transport, NextHopError> {
        match (self.scheme, self.transport) {
            (SipScheme::Sips, _) | (_, Some(UriTransport::Tls)) => Err(NextHopError::Tls),
            (SipScheme::Sip, None | Some(UriTransport::Udp)) => Ok(Transport::Udp),
            (SipScheme::Sip, Some(UriTransport::Tcp)) => Ok(Transport::Tcp),
        }
    }
}

fn split_host_port(text: &str) -> Result<(SipHost, Option<u16>), SipUriError> {
    if text.is_empty() {
        return Err(SipUriError::MissingHost);
    }
    if let Some(bracketed) = text.strip_prefix('[') {
        let (inside, after) = bracketed.split_once(']').ok_or(SipUriError::Host)?;
        let ip: std::net::Ipv6Addr = inside.parse().map_err(|_| SipUriError::Host)?;
        let port = match after {
            "" => None,
            _ => Some(parse_port(
                after.strip_prefix(':').ok_or(SipUriError::Port)?,
            )?),
        };
        return Ok((SipHost::Ip(IpAddr::V6(ip)), port));
    }
    let (host, port) = match text.split_once(':') {
        Some((host, port)) => (host, Some(parse_port(port)?)),
        None => (text, None),
    };
    if host.is_empty() {
        return Err(SipUriError::MissingHost);
    }
    if let Ok(ip) = host.parse::<std::net::Ipv4Addr>() {
        return Ok((SipHost::Ip(IpAddr::V4(ip)), port));
    }
    if is_domain_name(host) {
        Ok((SipHost::Name(host.to_ascii_lowercase()), port))
    } else {
        Err(SipUriError::Host)
    }
}

fn parse_port(text: &str) -> Result<u16, SipUriError> {
    match text.parse::<u16>() {
        Ok(port) if port != 0 && text.bytes().all(|b| b.is_ascii_digit()) => Ok(port),
        _ => Err(SipUriError::Port),
    }
}

fn is_domain_name(host: &str) -> bool {
    let labels_ok = host.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    });
    let all_numeric = host.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    host.len() <= 253 && labels_ok && !all_numeric
}

impl fmt::Display for SipUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = match self.scheme {
            SipScheme::Sip => "sip",
            SipScheme::Sips => "sips",
        };
        write!(f, "{scheme}:")?;
        match &self.host {
            SipHost::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]")?,
            SipHost::Ip(ip) => write!(f, "{ip}")?,
            SipHost::Name(name) => write!(f, "{name}")?,
        }
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        if let Some(transport) = self.transport {
            write!(f, ";transport={}", transport.as_str())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_addresses_names_and_ports() {
        let uri = SipUri::parse("sip:127.0.0.1:5080").unwrap();
        assert_eq!(uri.host, SipHost::Ip("127.0.0.1".parse().unwrap()));
        assert_eq!(uri.port, Some(5080));
        let uri = SipUri::parse("sips:[::1]:5061").unwrap();
        assert_eq!(uri.scheme, SipScheme::Sips);
        assert_eq!(uri.to_string(), "sips:[::1]:5061");
        let uri = SipUri::parse("sip:Trunk.Example.net").unwrap();
        assert_eq!(uri.host, SipHost::Name("trunk.example.net".into()));
        assert_eq!(uri.port, None);
    }

    #[test]
    fn the_next_hop_transport_comes_from_the_uri_and_is_udp_by_default() {
        let transport = |text: &str| SipUri::parse(text).unwrap().next_hop_transport();
        assert_eq!(transport("sip:127.0.0.2:5070"), Ok(Transport::Udp));
        assert_eq!(
            transport("sip:127.0.0.2:5070;transport=udp"),
            Ok(Transport::Udp)
        );
        assert_eq!(
            transport("sip:127.0.0.2:5070;transport=tcp"),
            Ok(Transport::Tcp)
        );
        assert_eq!(transport("sip:[::1];Transport=TCP"), Ok(Transport::Tcp));
        assert_eq!(
            transport("sip:127.0.0.2;transport=tls"),
            Err(NextHopError::Tls)
        );
        assert_eq!(transport("sips:127.0.0.2"), Err(NextHopError::Tls));
        let uri = SipUri::parse("sip:[::1]:5070;transport=TCP").unwrap();
        assert_eq!(uri.to_string(), "sip:[::1]:5070;transport=tcp");
    }

    #[test]
    fn rejects_malformed_uris() {
        let cases = [
            ("http://x", SipUriError::Scheme),
            ("sip:", SipUriError::MissingHost),
            ("sip::5060", SipUriError::MissingHost),
            ("sip:alice@host", SipUriError::UserPart),
            ("sip:host:0", SipUriError::Port),
            ("sip:host:70000", SipUriError::Port),
            ("sip:host:+5", SipUriError::Port),
            ("sip:ho st", SipUriError::Host),
            ("sip:300.1.1.1", SipUriError::Host),
            ("sip:[::1", SipUriError::Host),
            ("sip:[::1]5060", SipUriError::Port),
            ("sip:host;lr", SipUriError::Parameters),
            ("sip:host;maddr=127.0.0.1", SipUriError::Parameters),
            (
                "sip:host;transport=tcp;transport=udp",
                SipUriError::Parameters,
            ),
            ("sip:host;transport=sctp", SipUriError::Transport),
            ("sip:host;transport=", SipUriError::Transport),
            ("sip:host?X=1", SipUriError::Parameters),
            ("sip:-bad-.net", SipUriError::Host),
        ];
        for (text, expected) in cases {
            assert_eq!(SipUri::parse(text), Err(expected), "{text}");
        }
    }
}
