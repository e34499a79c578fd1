//! Media anchoring: the SDP rewritten so the peer sends every anchored stream (RTP
//! and RTCP) to the gateway, with everything else left as the author wrote it.

use std::net::IpAddr;

use bytes::Bytes;

use super::attributes::RtcpAttribute;
use super::description::{Role, SessionDescription};
use super::fields::{replace_token, AddressType, Connection, MediaLine, Origin};

/// Where the gateway receives each media section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anchor {
    pub address: IpAddr,
    /// Gateway RTP port per media section, in `m=` order; `None` (or a missing entry)
    /// leaves the section as it is, e.g. a rejected stream with port 0.
    pub ports: Vec<Option<u16>>,
}

impl Anchor {
    fn port(&self, section: usize) -> Option<u16> {
        self.ports.get(section).copied().flatten()
    }
}

/// What to do with the `o=` session version.
///
/// RFC 3264 §8 wants the version to change exactly when the description changes. An
/// endpoint's re-offer with new content already carries a new version, and an
/// unchanged re-offer (session refresh) keeps its version and, rewritten with the same
/// anchor, gives the same bytes again: `Keep` is right for both. When the gateway
/// itself changes what it announces for an unchanged endpoint description (new ports),
/// the caller counts those changes per leg and passes `Increment(count)`: the result is
/// still a function of the input, so retransmissions are rewritten identically.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OriginVersion {
    #[default]
    Keep,
    Increment(u64),
}

impl SessionDescription {
    /// The description with every anchored section pointing at the gateway.
    ///
    /// Rules, per line:
    /// - `o=`: address type and address become the gateway's; the session version is kept
    ///   unless the caller asks for an increment (see [`OriginVersion`]).
    /// - `c=` (session level and in anchored sections): the gateway address, `IN IP4` or
    ///   `IN IP6` after its family. `0.0.0.0` and `::` are kept: that is old-style hold
    ///   (RFC 3264 §8.4) and must stay hold. A multicast TTL/count is dropped.
    /// - `m=` of an anchored section: the gateway port; a port count (`/2`) is dropped
    ///   since the gateway gives one port per section.
    /// - `a=rtcp` of an anchored section: gateway port + 1 (or the gateway port when the
    ///   author multiplexed RTCP on the RTP port), with the gateway address if an address
    ///   was given. Removed if the gateway port is 65535 (no port above it).
    /// - ICE (`a=candidate`, `a=ice-*`, `a=end-of-candidates`, `a=remote-candidates`) is
    ///   removed everywhere: candidates are the endpoint's own addresses, and an ICE peer
    ///   would check and then send to them directly, around the gateway (the call would
    ///   not be recorded), or fail its checks against a gateway that answers no STUN.
    ///   Without ICE attributes an ICE agent treats the peer as not doing ICE and uses
    ///   the default destination, `c=`/`m=` (RFC 8839).
    /// - An unreadable `a=rtcp` is removed everywhere, for the same reason: the gateway
    ///   cannot tell where it points, and a laxer peer might still send there.
    /// - Sections left as they are keep their effective address: if the session `c=` is
    ///   rewritten, a non-anchored section that inherited it and still has a port gets the
    ///   original as its own `c=`.
    /// - Every other line is copied byte for byte; lines end with CRLF; blank lines are
    ///   dropped.
    ///
    /// The same description and anchor always give the same bytes, and rewriting the
    /// output again with the same anchor changes nothing.
    pub fn rewrite_for_anchor(&self, anchor: &Anchor) -> Bytes {
        self.rewrite_with_version(anchor, OriginVersion::Keep)
    }

    /// [`Self::rewrite_for_anchor`], with control over the `o=` session version.
    pub fn rewrite_with_version(&self, anchor: &Anchor, version: OriginVersion) -> Bytes {
        let layout = Layout::new(self, anchor);
        let gateway_connection = Connection::render(anchor.address);
        let mut out = Vec::with_capacity(self.source().len() + 64);
        let mut section = None;
        let mut pending = None;
        for line in self.lines() {
            let value = self.value(line);
            if line.role == Role::Media {
                flush(&mut out, &mut pending, &gateway_connection);
                let index = section.map_or(0, |index| index + 1);
                section = Some(index);
                pending = layout.inserted.get(index).copied().flatten();
            } else if line.raw.kind != b'i' {
                flush(&mut out, &mut pending, &gateway_connection);
            }
            let anchored = section.and_then(|index| anchor.port(index));
            let media_port = section
                .and_then(|index| self.media().get(index))
                .map(|media| media.media.port);
            match (&line.role, section, anchored) {
                (Role::Ice | Role::Unreadable, _, _) => {}
                (Role::Origin, _, _) => write_line(
                    &mut out,
                    b'o',
                    origin_value(value, anchor.address, version).as_bytes(),
                ),
                (Role::Connection(connection), None, _)
                    if layout.rewrite_session_connection
                        && !connection.address.is_unspecified() =>
                {
                    write_line(&mut out, b'c', gateway_connection.as_bytes())
                }
                (Role::Connection(connection), Some(_), Some(_))
                    if !connection.address.is_unspecified() =>
                {
                    write_line(&mut out, b'c', gateway_connection.as_bytes())
                }
                (Role::Media, _, Some(port)) => {
                    let text = String::from_utf8_lossy(value);
                    let value = replace_token(&text, MediaLine::PORT_TOKEN, &port.to_string());
                    write_line(&mut out, b'm', value.as_bytes())
                }
                (Role::Rtcp(rtcp), _, Some(port)) => {
                    let media_port = media_port.unwrap_or_default();
                    if let Some(value) = rtcp_value(rtcp, media_port, port, anchor.address) {
                        write_line(&mut out, b'a', value.as_bytes())
                    }
                }
                _ => write_line(&mut out, line.raw.kind, value),
            }
        }
        flush(&mut out, &mut pending, &gateway_connection);
        Bytes::from(out)
    }
}

/// Decisions that depend on the whole description: whether the session `c=` is
/// rewritten, and which sections need a `c=` of their own.
struct Layout<'a> {
    rewrite_session_connection: bool,
    /// Per section, the value of a `c=` line to add after its `m=` (and `i=`) lines.
    inserted: Vec<Option<Insert<'a>>>,
}

/// A `c=` line a section needs of its own.
#[derive(Debug, Clone, Copy)]
enum Insert<'a> {
    Gateway,
    /// The session-level `c=` value the section used to inherit.
    Original(&'a [u8]),
}

impl<'a> Layout<'a> {
    fn new(description: &'a SessionDescription, anchor: &'a Anchor) -> Layout<'a> {
        let session_line = description
            .lines()
            .iter()
            .take_while(|line| line.role != Role::Media)
            .find(|line| matches!(line.role, Role::Connection(_)));
        let session_value = session_line.map(|line| description.value(line));
        let session_is_hold = description
            .connection()
            .is_some_and(|connection| connection.address.is_unspecified());
        let mut inheriting = description
            .media()
            .iter()
            .enumerate()
            .filter(|(_, section)| section.connection.is_none())
            .peekable();
        let rewrite_session_connection = inheriting.peek().is_none()
            || inheriting.any(|(index, _)| anchor.port(index).is_some());
        let inserted = description
            .media()
            .iter()
            .enumerate()
            .map(|(index, section)| {
                if section.connection.is_some() {
                    return None;
                }
                match (anchor.port(index), session_value) {
                    (Some(_), None) => Some(Insert::Gateway),
                    (None, Some(original))
                        if rewrite_session_connection
                            && !session_is_hold
                            && section.media.port != 0 =>
                    {
                        Some(Insert::Original(original))
                    }
                    _ => None,
                }
            })
            .collect();
        Layout {
            rewrite_session_connection,
            inserted,
        }
    }
}

fn flush(out: &mut Vec<u8>, pending: &mut Option<Insert>, gateway_connection: &str) {
    match pending.take() {
        Some(Insert::Gateway) => write_line(out, b'c', gateway_connection.as_bytes()),
        Some(Insert::Original(value)) => write_line(out, b'c', value),
        None => {}
    }
}

fn write_line(out: &mut Vec<u8>, kind: u8, value: &[u8]) {
    out.push(kind);
    out.push(b'=');
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

fn origin_value(value: &[u8], address: IpAddr, version: OriginVersion) -> String {
    let text = String::from_utf8_lossy(value);
    let mut origin = replace_token(
        &text,
        Origin::ADDRESS_TYPE_TOKEN,
        AddressType::of(address).as_str(),
    );
    origin = replace_token(&origin, Origin::ADDRESS_TOKEN, &address.to_string());
    if let OriginVersion::Increment(by) = version {
        let bumped = text
            .split_ascii_whitespace()
            .nth(Origin::VERSION_TOKEN)
            .and_then(|current| current.parse::<u64>().ok())
            .and_then(|current| current.checked_add(by));
        if let Some(bumped) = bumped {
            origin = replace_token(&origin, Origin::VERSION_TOKEN, &bumped.to_string());
        }
    }
    origin
}

fn rtcp_value(
    rtcp: &RtcpAttribute,
    media_port: u16,
    gateway_port: u16,
    gateway: IpAddr,
) -> Option<String> {
    let port = if rtcp.port == media_port {
        gateway_port
    } else {
        gateway_port.checked_add(1)?
    };
    let value = match &rtcp.connection {
        None => format!("rtcp:{port}"),
        Some(connection) if connection.address.is_unspecified() => {
            format!(
                "rtcp:{port} IN {} {}",
                connection.address_type.as_str(),
                connection.address
            )
        }
        Some(_) => format!("rtcp:{port} {}", Connection::render(gateway)),
    };
    Some(value)
}
