//! From a frame to its UDP datagram or TCP segment: the link layer, IPv4 (options
//! skipped, fragments left aside rather than misread) or IPv6 (hop-by-hop,
//! routing, destination-options and authentication headers skipped), then UDP
//! or TCP.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use crate::{Datagram, LinkType, Transport};

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86DD;
const ETHERTYPE_VLAN: u16 = 0x8100;
const ETHERTYPE_QINQ: u16 = 0x88A8;
const ETHERTYPE_QINQ_OLD: u16 = 0x9100;
const PROTOCOL_TCP: u8 = 6;
const PROTOCOL_UDP: u8 = 17;

fn be16(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*bytes.get(at)?, *bytes.get(at + 1)?]))
}

fn be32(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

/// The datagram a frame carries, or nothing for a frame that carries no UDP or
/// TCP payload this reader can attribute.
pub(crate) fn decode(time: Duration, link: LinkType, frame: &[u8]) -> Option<Datagram> {
    let (ether_type, ip) = match link {
        LinkType::Ethernet => ethernet(frame)?,
        LinkType::LinuxCooked => (be16(frame, 14)?, frame.get(16..)?),
        LinkType::LinuxCooked2 => (be16(frame, 0)?, frame.get(20..)?),
        LinkType::RawIp(_) => (by_version(frame)?, frame),
        LinkType::Ipv4 => (ETHERTYPE_IPV4, frame),
        LinkType::Ipv6 => (ETHERTYPE_IPV6, frame),
        LinkType::Null => {
            // The address family is in the byte order of the host that captured:
            // whichever reading is small is the right one.
            let raw: [u8; 4] = frame.get(..4)?.try_into().ok()?;
            let family = u32::from_le_bytes(raw).min(u32::from_be_bytes(raw));
            let ether_type = match family {
                2 => ETHERTYPE_IPV4,
                24 | 28 | 30 => ETHERTYPE_IPV6,
                _ => return None,
            };
            (ether_type, frame.get(4..)?)
        }
        LinkType::Other(_) => return None,
    };
    let (source, destination, protocol, transport) = match ether_type {
        ETHERTYPE_IPV4 => ipv4(ip)?,
        ETHERTYPE_IPV6 => ipv6(ip)?,
        _ => return None,
    };
    match protocol {
        PROTOCOL_UDP => {
            let length = usize::from(be16(transport, 4)?);
            if length < 8 {
                return None;
            }
            Some(Datagram {
                time,
                source: SocketAddr::new(source, be16(transport, 0)?),
                destination: SocketAddr::new(destination, be16(transport, 2)?),
                transport: Transport::Udp,
                payload: transport.get(8..length.min(transport.len()))?.to_vec(),
            })
        }
        PROTOCOL_TCP => {
            let header_len = usize::from(*transport.get(12)? >> 4) * 4;
            if header_len < 20 {
                return None;
            }
            let payload = transport.get(header_len..)?;
            if payload.is_empty() {
                return None;
            }
            Some(Datagram {
                time,
                source: SocketAddr::new(source, be16(transport, 0)?),
                destination: SocketAddr::new(destination, be16(transport, 2)?),
                transport: Transport::Tcp {
                    sequence: be32(transport, 4)?,
                },
                payload: payload.to_vec(),
            })
        }
        _ => None,
    }
}

fn by_version(ip: &[u8]) -> Option<u16> {
    match ip.first()? >> 4 {
        4 => Some(ETHERTYPE_IPV4),
        6 => Some(ETHERTYPE_IPV6),
        _ => None,
    }
}

/// Ethernet II after any 802.1Q or 802.1ad (QinQ) tags.
fn ethernet(frame: &[u8]) -> Option<(u16, &[u8])> {
    let mut ether_type = be16(frame, 12)?;
    let mut offset = 14;
    while matches!(
        ether_type,
        ETHERTYPE_VLAN | ETHERTYPE_QINQ | ETHERTYPE_QINQ_OLD
    ) {
        ether_type = be16(frame, offset + 2)?;
        offset += 4;
    }
    Some((ether_type, frame.get(offset..)?))
}

type IpPayload<'a> = (IpAddr, IpAddr, u8, &'a [u8]);

fn ipv4(ip: &[u8]) -> Option<IpPayload<'_>> {
    let first = *ip.first()?;
    let header_len = usize::from(first & 0x0f) * 4;
    if first >> 4 != 4 || header_len < 20 {
        return None;
    }
    let total_len = usize::from(be16(ip, 2)?);
    // A fragment is only part of a datagram: more fragments follow, or it is not
    // the first one. Reading it as a whole datagram would misread it.
    let fragment = be16(ip, 6)?;
    if fragment & 0x2000 != 0 || fragment & 0x1fff != 0 {
        return None;
    }
    let source: [u8; 4] = ip.get(12..16)?.try_into().ok()?;
    let destination: [u8; 4] = ip.get(16..20)?.try_into().ok()?;
    // Ethernet pads short frames: the IP total length says where the packet ends.
    let end = total_len.min(ip.len());
    Some((
        IpAddr::V4(Ipv4Addr::from(source)),
        IpAddr::V4(Ipv4Addr::from(destination)),
        *ip.get(9)?,
        ip.get(header_len..end)?,
    ))
}

const IPV6_HOP_BY_HOP: u8 = 0;
const IPV6_ROUTING: u8 = 43;
const IPV6_FRAGMENT: u8 = 44;
const IPV6_AUTHENTICATION: u8 = 51;
const IPV6_DESTINATION_OPTIONS: u8 = 60;

fn ipv6(ip: &[u8]) -> Option<IpPayload<'_>> {
    if ip.first()? >> 4 != 6 {
        return None;
    }
    let payload_len = usize::from(be16(ip, 4)?);
    let source: [u8; 16] = ip.get(8..24)?.try_into().ok()?;
    let destination: [u8; 16] = ip.get(24..40)?.try_into().ok()?;
    let rest = ip.get(40..)?;
    // A payload length of zero is a jumbogram's: the frame says where it ends.
    let mut payload = if payload_len == 0 {
        rest
    } else {
        rest.get(..payload_len.min(rest.len()))?
    };
    let mut next = *ip.get(6)?;
    loop {
        let skip = match next {
            IPV6_HOP_BY_HOP | IPV6_ROUTING | IPV6_DESTINATION_OPTIONS => {
                (usize::from(*payload.get(1)?) + 1) * 8
            }
            IPV6_AUTHENTICATION => (usize::from(*payload.get(1)?) + 2) * 4,
            IPV6_FRAGMENT => return None,
            _ => break,
        };
        next = *payload.first()?;
        payload = payload.get(skip..)?;
    }
    Some((
        IpAddr::V6(Ipv6Addr::from(source)),
        IpAddr::V6(Ipv6Addr::from(destination)),
        next,
        payload,
    ))
}
