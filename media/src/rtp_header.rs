//! Zero-copy view of an RTP packet (RFC 3550 §5.1).
//!
//! The relay parses every packet on its hot path, so the view borrows the
//! datagram and never allocates.

use thiserror::Error;

const FIXED_HEADER_LEN: usize = 12;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum RtpError {
    #[error("datagram of {0} bytes is shorter than the 12-byte RTP header")]
    TooShort(usize),
    #[error("RTP version {0} is not 2")]
    BadVersion(u8),
    #[error("CSRC list or header extension runs past the end of the datagram")]
    TruncatedHeader,
    #[error("padding length {0} is larger than the payload")]
    BadPadding(u8),
}

/// A parsed RTP packet borrowing the datagram it was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpPacket<'a> {
    pub marker: bool,
    pub payload_type: u8,
    pub sequence: u16,
    pub timestamp: u32,
    pub ssrc: u32,
    csrc_count: u8,
    raw: &'a [u8],
    extension: Option<(u16, &'a [u8])>,
    payload: &'a [u8],
}

impl<'a> RtpPacket<'a> {
    pub fn parse(datagram: &'a [u8]) -> Result<Self, RtpError> {
        let fixed: &[u8; FIXED_HEADER_LEN] = datagram
            .get(..FIXED_HEADER_LEN)
            .and_then(|head| head.try_into().ok())
            .ok_or(RtpError::TooShort(datagram.len()))?;
        let version = fixed[0] >> 6;
        if version != 2 {
            return Err(RtpError::BadVersion(version));
        }
        let has_padding = fixed[0] & 0x20 != 0;
        let has_extension = fixed[0] & 0x10 != 0;
        let csrc_count = fixed[0] & 0x0f;
        let mut offset = FIXED_HEADER_LEN + 4 * usize::from(csrc_count);
        if offset > datagram.len() {
            return Err(RtpError::TruncatedHeader);
        }
        let mut extension = None;
        if has_extension {
            let ext_head = datagram
                .get(offset..offset + 4)
                .ok_or(RtpError::TruncatedHeader)?;
            let profile = u16::from_be_bytes([ext_head[0], ext_head[1]]);
            let words = usize::from(u16::from_be_bytes([ext_head[2], ext_head[3]]));
            let body_start = offset + 4;
            let body_end = body_start + 4 * words;
            let body = datagram
                .get(body_start..body_end)
                .ok_or(RtpError::TruncatedHeader)?;
            extension = Some((profile, body));
            offset = body_end;
        }
        let mut payload = datagram.get(offset..).ok_or(RtpError::TruncatedHeader)?;
        if has_padding {
            let pad = payload.last().copied().unwrap_or(0);
            if pad == 0 || usize::from(pad) > payload.len() {
                return Err(RtpError::BadPadding(pad));
            }
            payload = payload
                .get(..payload.len() - usize::from(pad))
                .ok_or(RtpError::BadPadding(pad))?;
        }
        Ok(Self {
            marker: fixed[1] & 0x80 != 0,
            payload_type: fixed[1] & 0x7f,
            sequence: u16::from_be_bytes([fixed[2], fixed[3]]),
            timestamp: u32::from_be_bytes([fixed[4], fixed[5], fixed[6], fixed[7]]),
            ssrc: u32::from_be_bytes([fixed[8], fixed[9], fixed[10], fixed[11]]),
            csrc_count,
            raw: datagram,
            extension,
            payload,
        })
    }

    /// The contributing sources, in header order.
    pub fn csrcs(&self) -> impl Iterator<Item = u32> + 'a {
        let end = FIXED_HEADER_LEN + 4 * usize::from(self.csrc_count);
        self.raw
            .get(FIXED_HEADER_LEN..end)
            .unwrap_or_default()
            .chunks_exact(4)
            .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
    }

    /// The header extension as (profile, body), if present.
    pub fn extension(&self) -> Option<(u16, &'a [u8])> {
        self.extension
    }

    /// Media bytes, with CSRCs, extension and padding removed.
    pub fn payload(&self) -> &'a [u8] {
        self.payload
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(first: u8, second: u8) -> Vec<u8> {
        let mut bytes = vec![
            first, second, 0x12, 0x34, 0, 0, 0x01, 0x40, 0xde, 0xad, 0xbe, 0xef,
        ];
        bytes.extend_from_slice(&[1, 2, 3, 4]);
        bytes
    }

    #[test]
    fn parses_fixed_header_and_payload() {
        let bytes = header(0x80, 0x88);
        let packet = RtpPacket::parse(&bytes).unwrap();
        assert!(packet.marker);
        assert_eq!(packet.payload_type, 8);
        assert_eq!(packet.sequence, 0x1234);
        assert_eq!(packet.timestamp, 320);
        assert_eq!(packet.ssrc, 0xdead_beef);
        assert_eq!(packet.payload(), &[1, 2, 3, 4]);
        assert_eq!(packet.csrcs().count(), 0);
    }

    #[test]
    fn skips_csrcs_extension_and_padding() {
        let mut bytes = vec![0xb1, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0, 9];
        bytes.extend_from_slice(&7u32.to_be_bytes());
        bytes.extend_from_slice(&[0xbe, 0xde, 0, 1, 0xaa, 0xbb, 0xcc, 0xdd]);
        bytes.extend_from_slice(&[5, 6, 0, 0, 3]);
        let packet = RtpPacket::parse(&bytes).unwrap();
        assert_eq!(packet.csrcs().collect::<Vec<_>>(), vec![7]);
        assert_eq!(
            packet.extension(),
            Some((0xbede, &[0xaa, 0xbb, 0xcc, 0xdd][..]))
        );
        assert_eq!(packet.payload(), &[5, 6]);
    }

    #[test]
    fn rejects_bad_input_without_panicking() {
        assert_eq!(RtpPacket::parse(&[0x80; 5]), Err(RtpError::TooShort(5)));
        assert_eq!(RtpPacket::parse(&[0x40; 12]), Err(RtpError::BadVersion(1)));
        let mut csrc_overflow = header(0x8f, 0);
        csrc_overflow.truncate(14);
        assert_eq!(
            RtpPacket::parse(&csrc_overflow),
            Err(RtpError::TruncatedHeader)
        );
        let mut ext_overflow = header(0x90, 0);
        ext_overflow.extend_from_slice(&[0, 0, 0xff, 0xff]);
        assert_eq!(
            RtpPacket::parse(&ext_overflow),
            Err(RtpError::TruncatedHeader)
        );
        let mut bad_pad = header(0xa0, 0);
        bad_pad.push(200);
        assert_eq!(RtpPacket::parse(&bad_pad), Err(RtpError::BadPadding(200)));
        for len in 0..40 {
            for fill in [0x00u8, 0x80, 0xbf, 0xff] {
                let _ = RtpPacket::parse(&vec![fill; len]);
            }
        }
    }
}
