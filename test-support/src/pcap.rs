//! Packet captures: where the shared corpora's captures are, and RTP streams
//! made in a test written as a capture that sipp's `play_pcap_audio` plays
//! (Ethernet, IPv4, UDP, RTP, one packet per record, timed by the packet time).
//! Reading and writing captures is `greffier-capture`'s.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use greffier_capture::write::{self, Frame, PcapLayout};
use greffier_capture::LinkType;

/// The shared corpora, beside the repository.
pub fn corpora() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpora")
}

/// A capture of the shared corpora, by file name.
pub fn corpus_pcap(name: &str) -> PathBuf {
    corpora().join("pcaps").join(name)
}

/// One RTP payload per entry, sent `packet_time` apart with timestamps
/// advancing by `timestamp_step`: a stream to write for sipp to play.
pub struct StreamToPlay {
    pub payload_type: u8,
    pub packet_time: Duration,
    pub timestamp_step: u32,
    pub payloads: Vec<Vec<u8>>,
}

/// The SSRC of every written stream.
const STREAM_SSRC: u32 = 0x6772_6566;

impl StreamToPlay {
    /// Writes the stream into `path` as a pcap sipp can play: between two
    /// loopback addresses, which sipp rewrites with the call's.
    pub fn write_pcap(&self, path: &Path) {
        let source = SocketAddr::from(([127, 0, 0, 1], 6000));
        let destination = SocketAddr::from(([127, 0, 0, 1], 6002));
        let frames: Vec<Frame> = self
            .payloads
            .iter()
            .enumerate()
            .map(|(index, payload)| {
                let index_u32 = u32::try_from(index).expect("a short stream");
                let rtp = write::rtp_packet(
                    self.payload_type,
                    index as u16,
                    index_u32 * self.timestamp_step,
                    STREAM_SSRC,
                    payload,
                );
                Frame {
                    time: self.packet_time * index_u32,
                    data: write::ethernet(&write::udp_packet(source, destination, &rtp), &[]),
                }
            })
            .collect();
        let bytes = write::pcap(LinkType::Ethernet, &frames, PcapLayout::default());
        std::fs::write(path, bytes).expect("write the pcap");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use greffier_capture::Capture;

    #[test]
    fn a_written_stream_reads_back_as_its_rtp_packets() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stream.pcap");
        let stream = StreamToPlay {
            payload_type: 8,
            packet_time: Duration::from_millis(20),
            timestamp_step: 160,
            payloads: vec![vec![1; 160], vec![2; 160], vec![3; 80]],
        };
        stream.write_pcap(&path);
        let capture = Capture::read_file(&path).expect("the written capture reads");
        assert_eq!(capture.datagrams.len(), 3);
        for (index, datagram) in capture.datagrams.iter().enumerate() {
            assert_eq!(datagram.time, Duration::from_millis(20) * index as u32);
            assert_eq!(datagram.source, SocketAddr::from(([127, 0, 0, 1], 6000)));
            assert_eq!(
                datagram.destination,
                SocketAddr::from(([127, 0, 0, 1], 6002))
            );
            let expected = write::rtp_packet(
                8,
                index as u16,
                160 * index as u32,
                STREAM_SSRC,
                &stream.payloads[index],
            );
            assert_eq!(datagram.payload, expected);
        }
    }
}
