//! Whether a process has bound a socket yet, read from the kernel's tables
//! (`/proc/net/udp`, `/proc/net/tcp`) so that probing never takes the port.

use std::net::{Ipv4Addr, SocketAddrV4};

/// Transport of a SIP leg.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transport {
    Udp,
    Tcp,
}

impl Transport {
    /// sipp's `-t` value: one socket for all calls.
    pub(crate) fn sipp_mode(self) -> &'static str {
        match self {
            Transport::Udp => "u1",
            Transport::Tcp => "t1",
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
        }
    }
}

const TCP_LISTEN: &str = "0A";

/// True once a UDP socket is bound, or a TCP socket listens, on `addr` (or on
/// the wildcard address with its port).
pub(crate) fn is_bound(transport: Transport, addr: SocketAddrV4) -> bool {
    let table = match transport {
        Transport::Udp => "/proc/net/udp",
        Transport::Tcp => "/proc/net/tcp",
    };
    let Ok(text) = std::fs::read_to_string(table) else {
        return false;
    };
    text.lines().skip(1).any(|line| {
        let mut fields = line.split_whitespace().skip(1);
        let (Some(local), Some(_remote), Some(state)) =
            (fields.next(), fields.next(), fields.next())
        else {
            return false;
        };
        let listening = transport == Transport::Udp || state == TCP_LISTEN;
        listening
            && parse_proc_address(local).is_some_and(|bound| {
                bound.port() == addr.port()
                    && (bound.ip() == addr.ip() || bound.ip().is_unspecified())
            })
    })
}

/// The UDP ports of `ports` bound on `ip` (not the wildcard), as the
/// kernel lists them.
pub(crate) fn bound_udp_ports(ip: Ipv4Addr, ports: std::ops::RangeInclusive<u16>) -> Vec<u16> {
    let Ok(text) = std::fs::read_to_string("/proc/net/udp") else {
        return Vec::new();
    };
    let mut bound: Vec<u16> = text
        .lines()
        .skip(1)
        .filter_map(|line| parse_proc_address(line.split_whitespace().nth(1)?))
        .filter(|addr| *addr.ip() == ip && ports.contains(&addr.port()))
        .map(|addr| addr.port())
        .collect();
    bound.sort_unstable();
    bound.dedup();
    bound
}

/// `0100007F:1F90` → 127.0.0.1:8080 (the address in host byte order, the port
/// as a plain number).
fn parse_proc_address(text: &str) -> Option<SocketAddrV4> {
    let (ip, port) = text.split_once(':')?;
    let ip = u32::from_str_radix(ip, 16).ok()?;
    let port = u16::from_str_radix(port, 16).ok()?;
    Some(SocketAddrV4::new(Ipv4Addr::from(ip.to_ne_bytes()), port))
}
