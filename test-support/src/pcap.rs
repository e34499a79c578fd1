//! Packet captures: the UDP datagrams of the shared corpora's captures, and
//! RTP streams made in a test written as a capture that sipp's
//! `play_pcap_audio` plays (Ethernet, IPv4, UDP, RTP, one packet per record,
//! timed by the packet time).

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use pcap_file::pcap::{PcapPacket, PcapReader, PcapWriter};

/// The shared corpora, beside the repository.
pub fn corpora() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpora")
}

/// A capture of the shared corpora, by file name.
pub fn corpus_pcap(name: &str) -> PathBuf {
    corpora().join("pcaps").join(name)
}

#[derive(Debug, Clone)]
pub struct Datagram {
    pub time: Duration,
    pub source: (IpAddr, u16),
    pub destination: (IpAddr, u16),
    pub payload: Vec<u8>,
}

/// The UDP datagrams of an Ethernet capture (IPv4 or IPv6, VLAN tags allowed).
pub fn read_udp(path: &Path) -> Vec<Datagram> {
    let file = std::fs::File::open(path)
        .unwrap_or_else(|error| panic!("capture {}: {error}", path.display()));
    let mut reader = PcapReader::new(file).expect("pcap header");
    let mut out = Vec::new();
    while let Some(packet) = reader.next_packet() {
        let packet = packet.expect("pcap record");
        if let Some(datagram) = parse_ethernet(packet.timestamp, &packet.data) {
            out.push(datagram);
        }
    }
    out
}

fn parse_ethernet(time: Duration, frame: &[u8]) -> Option<Datagram> {
    let mut ether_type = u16::from_be_bytes([*frame.get(12)?, *frame.get(13)?]);
    let mut offset = 14;
    while ether_type == 0x8100 {
        ether_type = u16::from_be_bytes([*frame.get(offset + 2)?, *frame.get(offset + 3)?]);
        offset += 4;
    }
    let ip = frame.get(offset..)?;
    let (source, destination, protocol, udp) = match ether_type {
        0x0800 => {
            let header_len = usize::from(ip.first()? & 0x0f) * 4;
            let total_len = usize::from(u16::from_be_bytes([*ip.get(2)?, *ip.get(3)?]));
            let source: [u8; 4] = ip.get(12..16)?.try_into().ok()?;
            let destination: [u8; 4] = ip.get(16..20)?.try_into().ok()?;
            (
                IpAddr::from(source),
                IpAddr::from(destination),
                *ip.get(9)?,
                ip.get(header_len..total_len.min(ip.len()))?,
            )
        }
        0x86dd => {
            let source: [u8; 16] = ip.get(8..24)?.try_into().ok()?;
            let destination: [u8; 16] = ip.get(24..40)?.try_into().ok()?;
            (
                IpAddr::from(source),
                IpAddr::from(destination),
                *ip.get(6)?,
                ip.get(40..)?,
            )
        }
        _ => return None,
    };
    if protocol != 17 {
        return None;
    }
    let source_port = u16::from_be_bytes([*udp.first()?, *udp.get(1)?]);
    let destination_port = u16::from_be_bytes([*udp.get(2)?, *udp.get(3)?]);
    let udp_len = usize::from(u16::from_be_bytes([*udp.get(4)?, *udp.get(5)?]));
    Some(Datagram {
        time,
        source: (source, source_port),
        destination: (destination, destination_port),
        payload: udp.get(8..udp_len.min(udp.len()))?.to_vec(),
    })
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
    out.extend_from_slice(&[0x80, payload_type]);
    out.extend_from_slice(&sequence.to_be_bytes());
    out.extend_from_slice(&timestamp.to_be_bytes());
    out.extend_from_slice(&ssrc.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// One RTP payload per entry, sent `packet_time` apart with timestamps
/// advancing by `timestamp_step`.
pub struct RtpStream {
    pub payload_type: u8,
    pub packet_time: Duration,
    pub timestamp_step: u32,
    pub payloads: Vec<Vec<u8>>,
}

impl RtpStream {
    /// Writes the stream into `path` as a pcap sipp can play.
    pub fn write_pcap(&self, path: &Path) {
        let file = std::fs::File::create(path).expect("create the pcap");
        let mut writer = PcapWriter::new(file).expect("write the pcap header");
        for (index, payload) in self.payloads.iter().enumerate() {
            let index_u32 = u32::try_from(index).expect("a short stream");
            let rtp = rtp_packet(
                self.payload_type,
                index as u16,
                index_u32 * self.timestamp_step,
                0x6772_6566,
                payload,
            );
            let frame = udp_frame(&rtp);
            let time = self.packet_time * index_u32;
            writer
                .write_packet(&PcapPacket::new(time, frame.len() as u32, &frame))
                .expect("write a pcap record");
        }
    }
}

/// Ethernet II, IPv4 without options (checksum filled in), UDP (no checksum),
/// between two loopback addresses: sipp rewrites the addresses and ports.
fn udp_frame(payload: &[u8]) -> Vec<u8> {
    let udp_len = 8 + payload.len();
    let ip_len = 20 + udp_len;
    let mut frame = Vec::with_capacity(14 + ip_len);
    frame.extend_from_slice(&[0; 12]);
    frame.extend_from_slice(&[0x08, 0x00]);
    let mut ip = vec![0x45, 0x00];
    ip.extend_from_slice(&(ip_len as u16).to_be_bytes());
    ip.extend_from_slice(&[0, 0, 0x40, 0, 64, 17, 0, 0]);
    ip.extend_from_slice(&[127, 0, 0, 1, 127, 0, 0, 1]);
    let checksum = !ip
        .chunks(2)
        .map(|word| u32::from(u16::from_be_bytes([word[0], word[1]])))
        .fold(0u32, |sum, word| {
            let sum = sum + word;
            (sum & 0xffff) + (sum >> 16)
        }) as u16;
    ip[10..12].copy_from_slice(&checksum.to_be_bytes());
    frame.extend_from_slice(&ip);
    frame.extend_from_slice(&6000u16.to_be_bytes());
    frame.extend_from_slice(&6002u16.to_be_bytes());
    frame.extend_from_slice(&(udp_len as u16).to_be_bytes());
    frame.extend_from_slice(&[0, 0]);
    frame.extend_from_slice(payload);
    frame
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_stream_reads_back_as_its_rtp_packets() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stream.pcap");
        let stream = RtpStream {
            payload_type: 8,
            packet_time: Duration::from_millis(20),
            timestamp_step: 160,
            payloads: vec![vec![1; 160], vec![2; 160], vec![3; 80]],
        };
        stream.write_pcap(&path);
        let datagrams = read_udp(&path);
        assert_eq!(datagrams.len(), 3);
        for (index, datagram) in datagrams.iter().enumerate() {
            assert_eq!(datagram.time, Duration::from_millis(20) * index as u32);
            assert_eq!(datagram.source, (IpAddr::from([127, 0, 0, 1]), 6000));
            assert_eq!(datagram.destination, (IpAddr::from([127, 0, 0, 1]), 6002));
            let expected = rtp_packet(
                8,
                index as u16,
                160 * index as u32,
                0x6772_6566,
                &stream.payloads[index],
            );
            assert_eq!(datagram.payload, expected);
        }
    }
}
