//! RTP fixed headers (RFC 3550 §5.1) and RFC 4733 telephone-event payloads, read
//! from any bytes without panicking.

use std::ops::Range;

/// The fixed header of an RTP packet, and where its payload lies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpHeader {
    pub marker: bool,
    pub payload_type: u8,
    pub sequence: u16,
    pub timestamp: u32,
    pub ssrc: u32,
    pub csrc_count: u8,
    /// A header extension follows the CSRCs (its profile-defined words are skipped).
    pub extension: bool,
    /// The packet ends with padding, which the payload range leaves out.
    pub padding: bool,
    /// Where the payload lies in the datagram: after the CSRCs and extension,
    /// before the padding.
    pub payload: Range<usize>,
}

const FIXED_HEADER_LEN: usize = 12;

impl RtpHeader {
    /// Reads the header of an RTP version 2 packet; nothing when `datagram` is
    /// too short, of another version, or its CSRC list, extension or padding run
    /// past its end.
    pub fn parse(datagram: &[u8]) -> Option<Self> {
        let first = *datagram.first()?;
        if first >> 6 != 2 || datagram.len() < FIXED_HEADER_LEN {
            return None;
        }
        let padding = first & 0x20 != 0;
        let extension = first & 0x10 != 0;
        let csrc_count = first & 0x0f;
        let second = datagram[1];
        let mut start = FIXED_HEADER_LEN + 4 * usize::from(csrc_count);
        if extension {
            let words = datagram.get(start + 2..start + 4)?;
            start += 4 + 4 * usize::from(u16::from_be_bytes([words[0], words[1]]));
        }
        if start > datagram.len() {
            return None;
        }
        let mut end = datagram.len();
        if padding {
            let count = usize::from(*datagram.last()?);
            if count == 0 || count > end - start {
                return None;
            }
            end -= count;
        }
        Some(Self {
            marker: second & 0x80 != 0,
            payload_type: second & 0x7f,
            sequence: u16::from_be_bytes([datagram[2], datagram[3]]),
            timestamp: u32::from_be_bytes([datagram[4], datagram[5], datagram[6], datagram[7]]),
            ssrc: u32::from_be_bytes([datagram[8], datagram[9], datagram[10], datagram[11]]),
            csrc_count,
            extension,
            padding,
            payload: start..end,
        })
    }

    /// The payload of `datagram`, the packet this header was read from.
    pub fn payload_of<'a>(&self, datagram: &'a [u8]) -> &'a [u8] {
        datagram.get(self.payload.clone()).unwrap_or_default()
    }
}

/// One RFC 4733 §2.3 telephone-event payload: which event, whether it has ended,
/// its volume and how long it has lasted so far, in timestamp units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TelephoneEvent {
    /// 0-9, `*` = 10, `#` = 11, A-D = 12-15, flash = 16.
    pub event: u8,
    pub end: bool,
    pub volume: u8,
    pub duration: u16,
}

impl TelephoneEvent {
    /// Reads the first event of a telephone-event payload (redundant blocks
    /// after it are left out).
    pub fn parse(payload: &[u8]) -> Option<Self> {
        let bytes: [u8; 4] = payload.get(..4)?.try_into().ok()?;
        Some(Self {
            event: bytes[0],
            end: bytes[1] & 0x80 != 0,
            volume: bytes[1] & 0x3f,
            duration: u16::from_be_bytes([bytes[2], bytes[3]]),
        })
    }

    /// The key of a DTMF event, `None` for other events.
    pub fn digit(self) -> Option<char> {
        match self.event {
            0..=9 => Some(char::from(b'0' + self.event)),
            10 => Some('*'),
            11 => Some('#'),
            12..=15 => Some(char::from(b'A' + self.event - 12)),
            _ => None,
        }
    }
}
