//! Network values of the configuration: listen addresses, port ranges, CIDRs.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;

pub use greffier_sip::Transport;

/// One SIP listener, written `udp:127.0.0.1:5060` or `tcp:[::1]:5060`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SipListen {
    pub transport: Transport,
    pub addr: SocketAddr,
}

impl SipListen {
    pub fn parse(text: &str) -> Result<Self, String> {
        let (transport, addr) = text
            .split_once(':')
            .ok_or_else(|| "expected `udp:ADDRESS:PORT` or `tcp:ADDRESS:PORT`".to_string())?;
        let transport = match transport {
            "udp" | "tcp" => Transport::from_token(transport),
            _ => None,
        }
        .ok_or_else(|| format!("unknown transport `{transport}`: expected `udp` or `tcp`"))?;
        let addr: SocketAddr = addr.parse().map_err(|_| {
            "the address must be IP:PORT, with IPv6 in brackets (`[::1]:5060`)".to_string()
        })?;
        if addr.port() == 0 {
            return Err("the port must not be 0".to_string());
        }
        Ok(Self { transport, addr })
    }
}

impl fmt::Display for SipListen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.transport, self.addr)
    }
}

/// An inclusive range of UDP ports for RTP/RTCP pairs: it starts on an even
/// port and holds an even number of ports, so each RTP port `p` (even) has its
/// RTCP port `p + 1` in the range too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    pub first: u16,
    pub last: u16,
}

impl PortRange {
    pub fn parse(text: &str) -> Result<Self, String> {
        let (first, last) = text
            .split_once('-')
            .ok_or_else(|| "expected `FIRST-LAST`, e.g. `30000-39999`".to_string())?;
        let parse = |part: &str| {
            part.trim()
                .parse::<u16>()
                .map_err(|_| format!("`{}` is not a port number", part.trim()))
        };
        let (first, last) = (parse(first)?, parse(last)?);
        if first == 0 {
            return Err("the range must not include port 0".to_string());
        }
        if first > last {
            return Err("the first port is above the last one".to_string());
        }
        if first % 2 != 0 || last % 2 != 1 {
            return Err(
                "the range must start on an even port and end on an odd one (RTP/RTCP pairs)"
                    .to_string(),
            );
        }
        Ok(Self { first, last })
    }

    pub fn contains(&self, port: u16) -> bool {
        (self.first..=self.last).contains(&port)
    }

    /// Number of ports in the range (always even, at least 2).
    pub fn len(&self) -> u32 {
        u32::from(self.last) - u32::from(self.first) + 1
    }

    pub fn is_empty(&self) -> bool {
        false
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.first, self.last)
    }
}

/// Parses a CIDR strictly: host bits must be zero, so that `10.1.2.3/8` (a
/// likely typo) is not silently widened to `10.0.0.0/8`. A bare address is
/// the single-host network.
pub(crate) fn parse_cidr(text: &str) -> Result<IpNet, String> {
    let net = match text.parse::<IpNet>() {
        Ok(net) => net,
        Err(_) => match text.parse::<IpAddr>() {
            Ok(ip) => IpNet::from(ip),
            Err(_) => return Err(format!("`{text}` is not a CIDR such as `192.0.2.0/24`")),
        },
    };
    if net.trunc() != net {
        return Err(format!(
            "`{text}` has host bits set; did you mean `{}`?",
            net.trunc()
        ));
    }
    Ok(net)
}

/// Two networks overlap when either contains the other's first address.
pub(crate) fn overlaps(a: &IpNet, b: &IpNet) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// Unwraps IPv4-mapped IPv6 addresses (`::ffff:192.0.2.1`), which a
/// dual-stack socket reports for IPv4 peers.
pub(crate) fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

/// An `http://` or `https://` endpoint: what object stores and transcription
/// services are reached at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpEndpoint {
    pub secure: bool,
    pub host: String,
    /// The endpoint as written, without a trailing `/`.
    pub url: String,
}

impl HttpEndpoint {
    pub fn parse(text: &str) -> Result<Self, String> {
        let (secure, rest) = if let Some(rest) = text.strip_prefix("https://") {
            (true, rest)
        } else if let Some(rest) = text.strip_prefix("http://") {
            (false, rest)
        } else {
            return Err("must start with `https://` or `http://`".to_string());
        };
        if rest.contains('@') {
            return Err("credentials do not belong in the URL".to_string());
        }
        if rest.contains(['?', '#']) || rest.contains(char::is_whitespace) {
            return Err("must be a plain URL, without query, fragment or spaces".to_string());
        }
        let authority = rest.split('/').next().unwrap_or_default();
        let host = match authority.strip_prefix('[') {
            Some(bracketed) => bracketed.split(']').next().unwrap_or_default(),
            None => authority.split(':').next().unwrap_or_default(),
        };
        if host.is_empty() {
            return Err("the host is missing".to_string());
        }
        Ok(Self {
            secure,
            host: host.to_ascii_lowercase(),
            url: text.trim_end_matches('/').to_string(),
        })
    }

    /// `localhost` or a loopback address: plain HTTP never leaves the machine.
    pub fn is_loopback(&self) -> bool {
        self.host == "localhost" || self.host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_listeners() {
        let listen = SipListen::parse("udp:127.0.0.1:5060").unwrap();
        assert_eq!(listen.transport, Transport::Udp);
        assert_eq!(listen.addr, "127.0.0.1:5060".parse().unwrap());
        let listen = SipListen::parse("tcp:[::1]:5060").unwrap();
        assert_eq!(listen.to_string(), "tcp:[::1]:5060");
        for bad in [
            "127.0.0.1:5060",
            "tls:127.0.0.1:5061",
            "udp:::1:5060",
            "udp:127.0.0.1",
            "udp:127.0.0.1:0",
        ] {
            assert!(SipListen::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn parses_even_aligned_port_ranges() {
        let range = PortRange::parse("30000-39999").unwrap();
        assert_eq!(range.len(), 10_000);
        assert!(range.contains(30000) && range.contains(39999) && !range.contains(40000));
        assert_eq!(PortRange::parse("30000-30001").unwrap().len(), 2);
        for bad in [
            "30001-39999",
            "30000-39998",
            "30000-30000",
            "40000-30001",
            "0-1",
            "a-b",
            "30000",
            "30000-70001",
        ] {
            assert!(PortRange::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn parses_cidrs_strictly() {
        assert_eq!(
            parse_cidr("127.0.0.1/32").unwrap().to_string(),
            "127.0.0.1/32"
        );
        assert_eq!(parse_cidr("127.0.0.1").unwrap().to_string(), "127.0.0.1/32");
        assert_eq!(
            parse_cidr("2001:db8::/32").unwrap().to_string(),
            "2001:db8::/32"
        );
        assert!(parse_cidr("10.1.2.3/8").unwrap_err().contains("10.0.0.0/8"));
        assert!(parse_cidr("10.0.0.0/33").is_err());
        assert!(parse_cidr("pbx.example.net").is_err());
    }

    #[test]
    fn detects_overlaps() {
        let net = |t: &str| parse_cidr(t).unwrap();
        assert!(overlaps(&net("10.0.0.0/8"), &net("10.1.0.0/16")));
        assert!(overlaps(&net("10.1.0.0/16"), &net("10.0.0.0/8")));
        assert!(overlaps(&net("127.0.0.1/32"), &net("127.0.0.1/32")));
        assert!(!overlaps(&net("127.0.0.1/32"), &net("127.0.0.2/32")));
        assert!(!overlaps(&net("127.0.0.0/8"), &net("::1/128")));
    }

    #[test]
    fn unwraps_mapped_addresses() {
        let mapped: IpAddr = "::ffff:127.0.0.1".parse().unwrap();
        assert_eq!(canonical_ip(mapped), "127.0.0.1".parse::<IpAddr>().unwrap());
        let v6: IpAddr = "::1".parse().unwrap();
        assert_eq!(canonical_ip(v6), v6);
    }

    #[test]
    fn parses_http_endpoints() {
        let endpoint = HttpEndpoint::parse("https://s3.Example.net:9000/").unwrap();
        assert!(endpoint.secure);
        assert_eq!(endpoint.host, "s3.example.net");
        assert_eq!(endpoint.url, "https://s3.Example.net:9000");
        let endpoint = HttpEndpoint::parse("http://[::1]:3900").unwrap();
        assert!(!endpoint.secure && endpoint.is_loopback());
        assert!(HttpEndpoint::parse("http://localhost:3900")
            .unwrap()
            .is_loopback());
        assert!(!HttpEndpoint::parse("https://10.0.0.1")
            .unwrap()
            .is_loopback());
        for bad in [
            "s3.example.net",
            "ftp://x",
            "https://",
            "https://user:pw@host",
            "https://h/?a=b",
            "https://:9000",
        ] {
            assert!(HttpEndpoint::parse(bad).is_err(), "{bad}");
        }
    }
}
