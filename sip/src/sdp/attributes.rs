//! The `a=` attributes anchoring reads: direction, RTCP address and multiplexing,
//! codecs, packet time, and ICE (which anchoring removes).

use super::fields::Connection;

/// RFC 3264 §5.1 / §8.4 stream direction, from the point of view of the SDP's author.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MediaDirection {
    #[default]
    SendRecv,
    SendOnly,
    RecvOnly,
    Inactive,
}

impl MediaDirection {
    /// Whether the author of the SDP will send media on the stream.
    pub fn author_sends(self) -> bool {
        matches!(self, MediaDirection::SendRecv | MediaDirection::SendOnly)
    }

    /// Whether the author of the SDP wants to receive media on the stream.
    pub fn author_receives(self) -> bool {
        matches!(self, MediaDirection::SendRecv | MediaDirection::RecvOnly)
    }

    fn parse(name: &str) -> Option<MediaDirection> {
        [
            ("sendrecv", MediaDirection::SendRecv),
            ("sendonly", MediaDirection::SendOnly),
            ("recvonly", MediaDirection::RecvOnly),
            ("inactive", MediaDirection::Inactive),
        ]
        .into_iter()
        .find(|(known, _)| name.eq_ignore_ascii_case(known))
        .map(|(_, direction)| direction)
    }
}

/// RFC 3605 `a=rtcp:<port> [IN <addrtype> <address>]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtcpAttribute {
    pub port: u16,
    pub connection: Option<Connection>,
}

impl RtcpAttribute {
    fn parse(value: &str) -> Option<RtcpAttribute> {
        let mut tokens = value.split_ascii_whitespace().peekable();
        let port = tokens.next()?.parse().ok()?;
        let connection = match tokens.peek() {
            None => None,
            Some(_) => Some(Connection::parse_tokens(&mut tokens)?),
        };
        tokens
            .next()
            .is_none()
            .then_some(RtcpAttribute { port, connection })
    }
}

/// `a=rtpmap:<payload type> <encoding name>[/<clock rate>[/<channels>]]`. The clock rate
/// is optional here because real SDPs (RFC 4475 among them) omit it for static types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpMap {
    pub payload_type: u8,
    pub encoding: String,
    pub clock_rate: Option<u32>,
    pub channels: Option<u16>,
}

impl RtpMap {
    fn parse(value: &str) -> Option<RtpMap> {
        let (payload_type, encoding) = value.split_once(' ')?;
        let mut parts = encoding.trim().split('/');
        let encoding = parts.next().filter(|name| !name.is_empty())?.to_string();
        let clock_rate = parts.next().map(str::parse).transpose().ok()?;
        let channels = parts.next().map(str::parse).transpose().ok()?;
        Some(RtpMap {
            payload_type: payload_type.trim().parse().ok()?,
            encoding,
            clock_rate,
            channels,
        })
    }
}

/// What one `a=` line means to anchoring.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Attribute {
    Direction(MediaDirection),
    Rtcp(RtcpAttribute),
    RtcpMux,
    RtpMap(RtpMap),
    Fmtp {
        payload_type: u8,
        parameters: String,
    },
    Ptime(u32),
    /// ICE candidates and credentials (RFC 8839), removed by anchoring.
    Ice,
    /// An `a=rtcp` that is not `<port> [IN IP4|IP6 <address>]`: it cannot be
    /// honoured as written, so it is ignored (RTCP goes to RTP port + 1, RFC 3605
    /// §2.1) and left out of an anchored description, since a laxer peer might still
    /// read an address out of it and send RTCP around the gateway.
    MalformedRtcp,
    Other,
}

impl Attribute {
    /// Reads one `a=` value. Nothing here fails a description: RFC 8866 §5.13 has
    /// receivers ignore attributes they do not understand, and one unreadable
    /// attribute of a carrier's SDP must not leave the whole call unanchored.
    /// Attribute names are compared without regard to case: a peer that accepts
    /// `a=RTCP` would otherwise honour a line this parser never looked at.
    pub(crate) fn parse(value: &[u8]) -> Attribute {
        let name_end = value.iter().position(|byte| *byte == b':');
        let name = value
            .get(..name_end.unwrap_or(value.len()))
            .unwrap_or_default();
        let argument = || {
            let start = name_end.map_or(value.len(), |at| at + 1);
            std::str::from_utf8(value.get(start..).unwrap_or_default()).ok()
        };
        let name = name.to_ascii_lowercase();
        match name.as_slice() {
            b"rtcp" => argument()
                .and_then(RtcpAttribute::parse)
                .map_or(Attribute::MalformedRtcp, Attribute::Rtcp),
            b"rtcp-mux" => Attribute::RtcpMux,
            b"rtpmap" => argument()
                .and_then(RtpMap::parse)
                .map_or(Attribute::Other, Attribute::RtpMap),
            b"fmtp" => argument()
                .and_then(|text| {
                    let (payload_type, parameters) = text.split_once(' ')?;
                    Some(Attribute::Fmtp {
                        payload_type: payload_type.parse().ok()?,
                        parameters: parameters.trim().to_string(),
                    })
                })
                .unwrap_or(Attribute::Other),
            b"ptime" => argument()
                .and_then(|text| text.trim().parse().ok())
                .map_or(Attribute::Other, Attribute::Ptime),
            b"candidate" | b"end-of-candidates" | b"remote-candidates" => Attribute::Ice,
            _ if name.starts_with(b"ice-") => Attribute::Ice,
            _ => std::str::from_utf8(&name)
                .ok()
                .filter(|_| name_end.is_none())
                .and_then(MediaDirection::parse)
                .map_or(Attribute::Other, Attribute::Direction),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sdp::fields::ConnectionAddress;

    fn parse(value: &str) -> Attribute {
        Attribute::parse(value.as_bytes())
    }

    #[test]
    fn directions() {
        assert_eq!(
            parse("sendrecv"),
            Attribute::Direction(MediaDirection::SendRecv)
        );
        assert_eq!(
            parse("sendonly"),
            Attribute::Direction(MediaDirection::SendOnly)
        );
        assert_eq!(
            parse("recvonly"),
            Attribute::Direction(MediaDirection::RecvOnly)
        );
        assert_eq!(
            parse("inactive"),
            Attribute::Direction(MediaDirection::Inactive)
        );
        assert_eq!(parse("sendonly:x"), Attribute::Other);
        assert_eq!(
            parse("SendOnly"),
            Attribute::Direction(MediaDirection::SendOnly),
            "attribute names are read without regard to case"
        );
        assert!(MediaDirection::SendOnly.author_sends());
        assert!(!MediaDirection::SendOnly.author_receives());
        assert!(!MediaDirection::Inactive.author_sends());
        assert!(MediaDirection::RecvOnly.author_receives());
    }

    #[test]
    fn rtcp_with_and_without_address() {
        assert_eq!(
            parse("rtcp:53020"),
            Attribute::Rtcp(RtcpAttribute {
                port: 53020,
                connection: None
            })
        );
        let Attribute::Rtcp(with_address) = parse("rtcp:53020 IN IP6 2001:db8::1") else {
            panic!("not an rtcp attribute");
        };
        assert_eq!(
            with_address.connection.unwrap().address,
            ConnectionAddress::Ip("2001:db8::1".parse().unwrap())
        );
        assert_eq!(
            parse("RTCP:53020"),
            Attribute::Rtcp(RtcpAttribute {
                port: 53020,
                connection: None
            })
        );
        for bad in [
            "rtcp",
            "rtcp:",
            "rtcp:x",
            "rtcp:abc",
            "rtcp:70000",
            "rtcp:1 IN",
            "rtcp:1 IN IP4 a b",
        ] {
            assert_eq!(parse(bad), Attribute::MalformedRtcp, "{bad:?}");
        }
    }

    #[test]
    fn rtpmap_forms() {
        let opus = parse("rtpmap:111 opus/48000/2");
        assert_eq!(
            opus,
            Attribute::RtpMap(RtpMap {
                payload_type: 111,
                encoding: "opus".into(),
                clock_rate: Some(48000),
                channels: Some(2)
            })
        );
        let Attribute::RtpMap(lpc) = parse("rtpmap:31 LPC") else {
            panic!("not an rtpmap");
        };
        assert_eq!((lpc.encoding.as_str(), lpc.clock_rate), ("LPC", None));
        assert_eq!(parse("rtpmap:x PCMU/8000"), Attribute::Other);
        assert_eq!(parse("rtpmap:0 PCMU/fast"), Attribute::Other);
        assert_eq!(parse("rtpmap:300 PCMU/8000"), Attribute::Other);
    }

    #[test]
    fn fmtp_ptime_mux_and_ice() {
        assert_eq!(
            parse("fmtp:101 0-16"),
            Attribute::Fmtp {
                payload_type: 101,
                parameters: "0-16".into()
            }
        );
        assert_eq!(parse("ptime:20"), Attribute::Ptime(20));
        assert_eq!(parse("ptime:soon"), Attribute::Other);
        assert_eq!(parse("rtcp-mux"), Attribute::RtcpMux);
        for ice in [
            "candidate:1 1 UDP 2130706431 192.0.2.1 5000 typ host",
            "ice-ufrag:abcd",
            "ice-pwd:secret",
            "ice-options:trickle",
            "ice-lite",
            "end-of-candidates",
            "remote-candidates:1 192.0.2.1 5000",
        ] {
            assert_eq!(parse(ice), Attribute::Ice, "{ice}");
        }
        assert_eq!(parse("fingerprint:sha-256 AB:CD"), Attribute::Other);
        assert_eq!(Attribute::parse(b"tool:\xff\xfe"), Attribute::Other);
        assert_eq!(parse("ICE-UFRAG:abcd"), Attribute::Ice);
    }
}
