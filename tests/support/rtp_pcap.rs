//! RTP streams made in the test and written as a pcap that sipp's
//! `play_pcap_audio` plays: Ethernet, IPv4, UDP, RTP, one packet per record,
//! timed by the packet time.

use std::path::{Path, PathBuf};
use std::time::Duration;

use pcap_file::pcap::{PcapPacket, PcapWriter};

use super::recorded::caller_scenario_with;

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
            let mut rtp = vec![0x80, self.payload_type];
            rtp.extend_from_slice(&(index as u16).to_be_bytes());
            rtp.extend_from_slice(&(index_u32 * self.timestamp_step).to_be_bytes());
            rtp.extend_from_slice(&0x6772_6566u32.to_be_bytes());
            rtp.extend_from_slice(payload);
            let frame = udp_frame(&rtp);
            let time = self.packet_time * index_u32;
            writer
                .write_packet(&PcapPacket::new(time, frame.len() as u32, &frame))
                .expect("write a pcap record");
        }
    }

    /// Writes the pcap and a caller scenario that offers `sdp_media` (the
    /// `m=audio` formats and their attributes) and plays it; returns the
    /// scenario.
    pub fn caller_scenario(&self, dir: &Path, name: &str, sdp_media: &str) -> PathBuf {
        let pcap = dir.join(format!("{name}.pcap"));
        self.write_pcap(&pcap);
        caller_scenario_with(dir, name, &pcap, sdp_media)
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
