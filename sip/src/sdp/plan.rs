//! Where the author of a session description wants to receive each stream, and in
//! which codecs: what the relay needs to send media to an endpoint.

use std::net::SocketAddr;

use super::attributes::MediaDirection;
use super::codec::{static_payload_type, Codec};
use super::description::{MediaDescription, SessionDescription};
use super::fields::{Connection, ConnectionAddress};

/// One entry per `m=` section, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaPlan {
    pub streams: Vec<MediaStream>,
}

/// Where to send one of the author's streams.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoteAddress {
    Socket(SocketAddr),
    /// The connection is a host name; resolving it is up to the caller.
    Host {
        name: String,
        port: u16,
    },
    /// `c=` is `0.0.0.0` or `::`: old-style hold (RFC 3264 §8.4), send nothing.
    Hold,
    /// Port 0: the stream is rejected or disabled; or it has no connection address
    /// at media or session level, so nothing can be sent to it.
    Disabled,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaStream {
    /// `audio`, `video`, `image`, ...
    pub media: String,
    pub proto: String,
    /// The `m=` formats, verbatim and in preference order.
    pub formats: Vec<String>,
    pub rtp: RemoteAddress,
    /// From `a=rtcp`, else RTP port + 1. `None` when the transport is not RTP or there
    /// is no port above the RTP port. Reported even with `rtcp_mux`: in an offer,
    /// multiplexing is only proposed, and the answer decides.
    pub rtcp: Option<RemoteAddress>,
    pub rtcp_mux: bool,
    pub direction: MediaDirection,
    /// The payload types of `formats` that are static or have an `a=rtpmap`.
    pub codecs: Vec<Codec>,
    pub ptime: Option<u32>,
}

impl MediaStream {
    pub fn codec(&self, payload_type: u8) -> Option<&Codec> {
        self.codecs
            .iter()
            .find(|codec| codec.payload_type == payload_type)
    }

    /// An audio stream over plain RTP (`RTP/AVP`, RFC 3551, or `RTP/AVPF`, RFC 4585):
    /// what the gateway can relay and record. Media types compare without regard to
    /// case (RFC 6838 §4.2, the registry `m=` names, RFC 8866 §8.2.2), and so does the
    /// transport here: `m=AUDIO 4000 rtp/avp 0` is the same stream to the peers that
    /// accept it. Secure profiles (SAVP) and non-RTP transports are not recordable.
    pub fn is_recordable_audio(&self) -> bool {
        self.media.eq_ignore_ascii_case("audio")
            && ["RTP/AVP", "RTP/AVPF"]
                .iter()
                .any(|proto| self.proto.eq_ignore_ascii_case(proto))
    }

    /// Whether the author will send media: held by direction or disabled means no.
    pub fn author_sends(&self) -> bool {
        self.rtp != RemoteAddress::Disabled && self.direction.author_sends()
    }

    /// Whether the author can receive media: needs a usable address and direction.
    pub fn author_receives(&self) -> bool {
        !matches!(self.rtp, RemoteAddress::Disabled | RemoteAddress::Hold)
            && self.direction.author_receives()
    }
}

impl SessionDescription {
    /// The media plan of every section, in `m=` order.
    pub fn media_plan(&self) -> MediaPlan {
        let streams = self
            .media()
            .iter()
            .map(|section| self.stream_of(section))
            .collect();
        MediaPlan { streams }
    }

    fn stream_of(&self, section: &MediaDescription) -> MediaStream {
        let line = &section.media;
        let connection = self.connection_of(section);
        let disabled = line.port == 0;
        let rtp = match (disabled, connection) {
            (false, Some(connection)) => remote(&connection.address, line.port),
            _ => RemoteAddress::Disabled,
        };
        let rtcp = match (&section.rtcp, connection) {
            _ if disabled || !line.is_rtp() => None,
            // No connection anywhere (RFC 8866 §5.7 broken): nowhere to send to.
            (_, None) => None,
            (Some(rtcp), _) => rtcp
                .connection
                .as_ref()
                .or(connection)
                .map(|connection: &Connection| remote(&connection.address, rtcp.port)),
            (None, Some(connection)) => line
                .port
                .checked_add(1)
                .map(|port| remote(&connection.address, port)),
        };
        MediaStream {
            media: line.media.clone(),
            proto: line.proto.clone(),
            formats: line.formats.clone(),
            rtp,
            rtcp,
            rtcp_mux: section.rtcp_mux,
            direction: self.direction_of(section),
            codecs: codecs_of(section),
            ptime: section.ptime,
        }
    }
}

fn remote(address: &ConnectionAddress, port: u16) -> RemoteAddress {
    match address {
        ConnectionAddress::Ip(ip) if ip.is_unspecified() => RemoteAddress::Hold,
        ConnectionAddress::Ip(ip) => RemoteAddress::Socket(SocketAddr::new(*ip, port)),
        ConnectionAddress::Host(name) => RemoteAddress::Host {
            name: name.clone(),
            port,
        },
    }
}

/// `a=rtpmap` wins over the static table; a dynamic type without an rtpmap (or
/// without a clock rate) is not a codec anyone can decode, so it is left out.
fn codecs_of(section: &MediaDescription) -> Vec<Codec> {
    section
        .media
        .formats
        .iter()
        .filter_map(|format| format.parse::<u8>().ok())
        .filter_map(|payload_type| {
            let known = static_payload_type(payload_type);
            let map = section
                .rtpmaps
                .iter()
                .find(|map| map.payload_type == payload_type);
            let (encoding, clock_rate, channels) = match (map, known) {
                (Some(map), _) => (
                    map.encoding.clone(),
                    map.clock_rate.or(known.map(|(_, rate, _)| rate))?,
                    map.channels
                        .or(known.map(|(_, _, channels)| channels))
                        .unwrap_or(1),
                ),
                (None, Some((name, rate, channels))) => (name.to_string(), rate, channels),
                (None, None) => return None,
            };
            let format_parameters = section
                .fmtps
                .iter()
                .find(|(fmtp_type, _)| *fmtp_type == payload_type)
                .map(|(_, parameters)| parameters.clone());
            Some(Codec {
                payload_type,
                encoding,
                clock_rate,
                channels,
                format_parameters,
            })
        })
        .collect()
}
