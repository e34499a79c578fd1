//! Captures written from packets a test makes: pcap and pcapng files, and the
//! frames, IP packets, UDP datagrams, TCP segments and RTP packets in them.
//! What this module writes, [`Capture::parse`](crate::Capture::parse) reads.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::container::{
    OPTION_TS_RESOLUTION, PCAPNG_BYTE_ORDER, PCAPNG_ENHANCED_PACKET, PCAPNG_INTERFACE,
    PCAPNG_SECTION_HEADER, PCAPNG_SIMPLE_PACKET,
};
use crate::LinkType;

/// One frame to write, with its capture time.
pub struct Frame {
    pub time: Duration,
    pub data: Vec<u8>,
}

/// How a libpcap file is written: byte order and timestamp precision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PcapLayout {
    pub big_endian: bool,
    pub nanoseconds: bool,
}

/// A libpcap file of `link` frames.
pub fn pcap(link: LinkType, frames: &[Frame], layout: PcapLayout) -> Vec<u8> {
    let u32_bytes = |value: u32| {
        if layout.big_endian {
            value.to_be_bytes()
        } else {
            value.to_le_bytes()
        }
    };
    let magic: u32 = if layout.nanoseconds {
        0xA1B2_3C4D
    } else {
        0xA1B2_C3D4
    };
    let mut out = Vec::new();
    out.extend_from_slice(&u32_bytes(magic));
    // Version 2.4, as two 16-bit fields in the file's byte order.
    out.extend_from_slice(&u32_bytes(if layout.big_endian {
        0x0002_0004
    } else {
        0x0004_0002
    }));
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(&u32_bytes(65_535));
    out.extend_from_slice(&u32_bytes(link.code()));
    for frame in frames {
        let seconds = u32::try_from(frame.time.as_secs()).unwrap_or(u32::MAX);
        let fraction = if layout.nanoseconds {
            frame.time.subsec_nanos()
        } else {
            frame.time.subsec_micros()
        };
        let len = frame.data.len() as u32;
        for field in [seconds, fraction, len, len] {
            out.extend_from_slice(&u32_bytes(field));
        }
        out.extend_from_slice(&frame.data);
    }
    out
}

/// How a pcapng file is written: in which byte order, and which packet block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PcapngLayout {
    pub big_endian: bool,
    /// Simple packet blocks (no timestamp) instead of enhanced ones.
    pub simple_packets: bool,
}

/// A pcapng file: one section, one interface of `link` with nanosecond
/// timestamps (`if_tsresol` 9), one packet block per frame.
pub fn pcapng(link: LinkType, frames: &[Frame], layout: PcapngLayout) -> Vec<u8> {
    let u16_bytes = |value: u16| {
        if layout.big_endian {
            value.to_be_bytes()
        } else {
            value.to_le_bytes()
        }
    };
    let u32_bytes = |value: u32| {
        if layout.big_endian {
            value.to_be_bytes()
        } else {
            value.to_le_bytes()
        }
    };
    let block = |out: &mut Vec<u8>, block_type: u32, body: &[u8]| {
        let padded = body.len().div_ceil(4) * 4;
        let total = (12 + padded) as u32;
        out.extend_from_slice(&u32_bytes(block_type));
        out.extend_from_slice(&u32_bytes(total));
        out.extend_from_slice(body);
        out.resize(out.len() + padded - body.len(), 0);
        out.extend_from_slice(&u32_bytes(total));
    };
    let mut out = Vec::new();
    let mut section = Vec::new();
    section.extend_from_slice(&u32_bytes(PCAPNG_BYTE_ORDER));
    section.extend_from_slice(&u16_bytes(1));
    section.extend_from_slice(&u16_bytes(0));
    section.extend_from_slice(&[0xff; 8]);
    block(&mut out, PCAPNG_SECTION_HEADER, &section);
    let mut interface = Vec::new();
    interface.extend_from_slice(&u16_bytes(link.code() as u16));
    interface.extend_from_slice(&u16_bytes(0));
    interface.extend_from_slice(&u32_bytes(0));
    interface.extend_from_slice(&u16_bytes(OPTION_TS_RESOLUTION));
    interface.extend_from_slice(&u16_bytes(1));
    interface.extend_from_slice(&[9, 0, 0, 0]);
    interface.extend_from_slice(&[0; 4]);
    block(&mut out, PCAPNG_INTERFACE, &interface);
    for frame in frames {
        let len = frame.data.len() as u32;
        let mut packet = Vec::new();
        if layout.simple_packets {
            packet.extend_from_slice(&u32_bytes(len));
            packet.extend_from_slice(&frame.data);
            block(&mut out, PCAPNG_SIMPLE_PACKET, &packet);
        } else {
            let nanos = u64::try_from(frame.time.as_nanos()).unwrap_or(u64::MAX);
            packet.extend_from_slice(&u32_bytes(0));
            packet.extend_from_slice(&u32_bytes((nanos >> 32) as u32));
            packet.extend_from_slice(&u32_bytes(nanos as u32));
            packet.extend_from_slice(&u32_bytes(len));
            packet.extend_from_slice(&u32_bytes(len));
            packet.extend_from_slice(&frame.data);
            block(&mut out, PCAPNG_ENHANCED_PACKET, &packet);
        }
    }
    out
}

const PROTOCOL_TCP: u8 = 6;
const PROTOCOL_UDP: u8 = 17;

/// An Ethernet II frame around an IP packet, with one 802.1Q tag per VLAN id
/// in `vlans` (outermost first).
pub fn ethernet(ip_packet: &[u8], vlans: &[u16]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(14 + 4 * vlans.len() + ip_packet.len());
    frame.extend_from_slice(&[0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01]);
    for vlan in vlans {
        frame.extend_from_slice(&0x8100u16.to_be_bytes());
        frame.extend_from_slice(&(vlan & 0x0fff).to_be_bytes());
    }
    frame.extend_from_slice(&ether_type(ip_packet).to_be_bytes());
    frame.extend_from_slice(ip_packet);
    frame
}

/// A Linux cooked v1 (`LINKTYPE_LINUX_SLL`) frame around an IP packet.
pub fn linux_cooked(ip_packet: &[u8]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(16 + ip_packet.len());
    frame.extend_from_slice(&[0, 0, 0, 1, 0, 6, 0x02, 0, 0, 0, 0, 0x01, 0, 0]);
    frame.extend_from_slice(&ether_type(ip_packet).to_be_bytes());
    frame.extend_from_slice(ip_packet);
    frame
}

/// A Linux cooked v2 (`LINKTYPE_LINUX_SLL2`) frame around an IP packet.
pub fn linux_cooked2(ip_packet: &[u8]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(20 + ip_packet.len());
    frame.extend_from_slice(&ether_type(ip_packet).to_be_bytes());
    frame.extend_from_slice(&[0, 0, 0, 0, 0, 2, 0, 1, 0, 6]);
    frame.extend_from_slice(&[0x02, 0, 0, 0, 0, 0x01, 0, 0]);
    frame.extend_from_slice(ip_packet);
    frame
}

fn ether_type(ip_packet: &[u8]) -> u16 {
    match ip_packet.first().map(|byte| byte >> 4) {
        Some(6) => 0x86DD,
        _ => 0x0800,
    }
}

/// An IP packet from `source` to `destination` (both of one family) carrying
/// `transport` of `protocol`; IPv4 without options, its checksum filled in.
pub fn ip_packet(source: IpAddr, destination: IpAddr, protocol: u8, transport: &[u8]) -> Vec<u8> {
    match (source, destination) {
        (IpAddr::V6(source), IpAddr::V6(destination)) => {
            let mut packet = vec![0x60, 0, 0, 0];
            packet.extend_from_slice(&(transport.len() as u16).to_be_bytes());
            packet.extend_from_slice(&[protocol, 64]);
            packet.extend_from_slice(&source.octets());
            packet.extend_from_slice(&destination.octets());
            packet.extend_from_slice(transport);
            packet
        }
        (source, destination) => {
            let octets = |address: IpAddr| match address {
                IpAddr::V4(v4) => v4.octets(),
                IpAddr::V6(v6) => v6.to_ipv4_mapped().unwrap_or(0.into()).octets(),
            };
            let mut packet = vec![0x45, 0];
            packet.extend_from_slice(&((20 + transport.len()) as u16).to_be_bytes());
            packet.extend_from_slice(&[0, 0, 0x40, 0, 64, protocol, 0, 0]);
            packet.extend_from_slice(&octets(source));
            packet.extend_from_slice(&octets(destination));
            let checksum = !packet
                .chunks(2)
                .map(|word| u32::from(u16::from_be_bytes([word[0], word[1]])))
                .fold(0u32, |sum, word| {
                    let sum = sum + word;
                    (sum & 0xffff) + (sum >> 16)
                }) as u16;
            packet[10..12].copy_from_slice(&checksum.to_be_bytes());
            packet.extend_from_slice(transport);
            packet
        }
    }
}

/// A UDP datagram (checksum left at zero, "not computed", which IPv4 allows).
pub fn udp(source_port: u16, destination_port: u16, payload: &[u8]) -> Vec<u8> {
    let mut datagram = Vec::with_capacity(8 + payload.len());
    datagram.extend_from_slice(&source_port.to_be_bytes());
    datagram.extend_from_slice(&destination_port.to_be_bytes());
    datagram.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    datagram.extend_from_slice(&[0, 0]);
    datagram.extend_from_slice(payload);
    datagram
}

/// A TCP segment with ACK and PSH set, no options.
pub fn tcp(source_port: u16, destination_port: u16, sequence: u32, payload: &[u8]) -> Vec<u8> {
    let mut segment = Vec::with_capacity(20 + payload.len());
    segment.extend_from_slice(&source_port.to_be_bytes());
    segment.extend_from_slice(&destination_port.to_be_bytes());
    segment.extend_from_slice(&sequence.to_be_bytes());
    segment.extend_from_slice(&[0, 0, 0, 1, 0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0]);
    segment.extend_from_slice(payload);
    segment
}

/// An IP packet carrying a UDP datagram from `source` to `destination`.
pub fn udp_packet(source: SocketAddr, destination: SocketAddr, payload: &[u8]) -> Vec<u8> {
    let datagram = udp(source.port(), destination.port(), payload);
    ip_packet(source.ip(), destination.ip(), PROTOCOL_UDP, &datagram)
}

/// An IP packet carrying a TCP segment from `source` to `destination`.
pub fn tcp_packet(
    source: SocketAddr,
    destination: SocketAddr,
    sequence: u32,
    payload: &[u8],
) -> Vec<u8> {
    let segment = tcp(source.port(), destination.port(), sequence, payload);
    ip_packet(source.ip(), destination.ip(), PROTOCOL_TCP, &segment)
}

/// An RTP packet (RFC 3550 §5.1: version 2, no padding, extension or CSRC,
/// marker clear).
pub fn rtp_packet(
    payload_type: u8,
    sequence: u16,
    timestamp: u32,
    ssrc: u32,
    payload: &[u8],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(12 + payload.len());
    out.extend_from_slice(&[0x80, payload_type & 0x7f]);
    out.extend_from_slice(&sequence.to_be_bytes());
    out.extend_from_slice(&timestamp.to_be_bytes());
    out.extend_from_slice(&ssrc.to_be_bytes());
    out.extend_from_slice(payload);
    out
}
