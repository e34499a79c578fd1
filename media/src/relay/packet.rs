//! What arrived on a relay socket: RTP, RTCP, or something to drop.
//!
//! RTP goes through the crate's RTP header view; RTCP only needs the common
//! header checked, since the relay forwards it untouched and records none of it.

use super::PacketKind;
use crate::rtp_header::RtpPacket;

/// RTCP packet types occupy 192..=223 (RFC 5761 §4), which is how RTCP
/// multiplexed on the RTP port (`a=rtcp-mux`) is told apart from RTP.
const RTCP_PACKET_TYPES: std::ops::RangeInclusive<u8> = 192..=223;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Classified {
    Rtp {
        ssrc: u32,
        sequence: u16,
    },
    /// `ssrc` is the sender's, from the first packet of the compound packet
    /// (RFC 3550 §6.4).
    Rtcp {
        ssrc: u32,
    },
}

impl Classified {
    /// The stream the datagram belongs to, for source learning.
    pub(super) fn ssrc(self) -> u32 {
        match self {
            Classified::Rtp { ssrc, .. } | Classified::Rtcp { ssrc } => ssrc,
        }
    }
}

/// Classifies a datagram by the socket it arrived on; `None` when malformed.
pub(super) fn classify(kind: PacketKind, datagram: &[u8]) -> Option<Classified> {
    let second = *datagram.get(1)?;
    if kind == PacketKind::Rtcp || RTCP_PACKET_TYPES.contains(&second) {
        return rtcp_sender(datagram).map(|ssrc| Classified::Rtcp { ssrc });
    }
    let packet = RtpPacket::parse(datagram).ok()?;
    Some(Classified::Rtp {
        ssrc: packet.ssrc,
        sequence: packet.sequence,
    })
}

/// The sender SSRC of a valid RTCP header: version 2, an RTCP packet type and
/// the 8 bytes up to the SSRC (RFC 3550 §6.4.1).
fn rtcp_sender(datagram: &[u8]) -> Option<u32> {
    match datagram {
        [first, packet_type, _, _, a, b, c, d, ..]
            if first >> 6 == 2 && RTCP_PACKET_TYPES.contains(packet_type) =>
        {
            Some(u32::from_be_bytes([*a, *b, *c, *d]))
        }
        _ => None,
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
                Some(Classified::Rtcp { ssrc: 42 })
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
