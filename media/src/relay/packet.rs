//! What arrived on a relay socket: RTP, RTCP, or something to drop.
//!
//! RTP goes through the crate's RTP header view; RTCP only needs the common
//! header checked, since the relay forwards it untouched and records none of it.

use super::PacketKind;
use crate::rtp_header::RtpPacket;

/// RTCP packet types occupy 192..=223 (RFC 5761 §4), which is how RTCP
/// multiplexed on the RTP port (`a=rtcp-mux`) is told apart from RTP.
const RTCP_PACKET_TYPES: std::ops::RangeInclusive<u8> = 192..=223;
const RTCP_HEADER_LEN: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Classified {
    Rtp { ssrc: u32, sequence: u16 },
    Rtcp,
}

/// Classifies a datagram by the socket it arrived on; `None` when malformed.
pub(super) fn classify(kind: PacketKind, datagram: &[u8]) -> Option<Classified> {
    let second = *datagram.get(1)?;
    if kind == PacketKind::Rtcp || RTCP_PACKET_TYPES.contains(&second) {
        return is_rtcp(datagram).then_some(Classified::Rtcp);
    }
    let packet = RtpPacket::parse(datagram).ok()?;
    Some(Classified::Rtp {
        ssrc: packet.ssrc,
        sequence: packet.sequence,
    })
}

fn is_rtcp(datagram: &[u8]) -> bool {
    match datagram {
        [first, packet_type, ..] if datagram.len() >= RTCP_HEADER_LEN => {
            first >> 6 == 2 && RTCP_PACKET_TYPES.contains(packet_type)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RTP: [u8; 14] = [0x80, 0x08, 0, 7, 0, 0, 0, 160, 0, 0, 0, 42, 0xd5, 0xd5];
    const RTCP_RECEIVER_REPORT: [u8; 8] = [0x80, 201, 0, 1, 0, 0, 0, 42];

    #[test]
    fn rtp_on_the_rtp_port() {
        assert_eq!(
            classify(PacketKind::Rtp, &RTP),
            Some(Classified::Rtp {
                ssrc: 42,
                sequence: 7
            })
        );
    }

    #[test]
    fn rtcp_on_either_port() {
        for kind in [PacketKind::Rtp, PacketKind::Rtcp] {
            assert_eq!(
                classify(kind, &RTCP_RECEIVER_REPORT),
                Some(Classified::Rtcp)
            );
        }
    }

    #[test]
    fn garbage_is_malformed() {
        assert_eq!(classify(PacketKind::Rtcp, &RTP), None);
        assert_eq!(classify(PacketKind::Rtp, &[]), None);
        assert_eq!(classify(PacketKind::Rtp, &[0x80]), None);
        assert_eq!(classify(PacketKind::Rtp, &[0x40; 20]), None);
        assert_eq!(classify(PacketKind::Rtcp, &RTCP_RECEIVER_REPORT[..7]), None);
    }
}
