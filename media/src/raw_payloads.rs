//! The RTP payloads of a call that the recorder could not decode, kept as
//! received so that they can be decoded later. The byte layout is FORMAT.md
//! §10 of the vault ("raw payloads"):
//!
//! ```text
//! "GRTP" [4] || version 0x01 [1] || u8 name_count
//! per name: u8 leg, u8 payload_type, u8 len, encoding (ASCII `name/rate`)
//! per packet: u8 leg, u8 flags (bit 0: marker), u8 payload_type, u16 sequence,
//!             u32 timestamp, u32 ssrc, u32 arrival_ms, u16 payload_len, payload
//! ```
//!
//! Integers are big-endian; `leg` is 0 for the caller, 1 for the callee;
//! `arrival_ms` counts from the start of the recording.

use thiserror::Error;

use crate::recorder::Leg;
use crate::rtp_header::RtpPacket;

const MAGIC: &[u8; 4] = b"GRTP";
const VERSION: u8 = 1;
/// Bytes of a packet record before its payload.
const PACKET_HEAD: usize = 1 + 1 + 1 + 2 + 4 + 4 + 4 + 2;

/// One packet as it was received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawPacket {
    pub leg: Leg,
    pub marker: bool,
    pub payload_type: u8,
    pub sequence: u16,
    pub timestamp: u32,
    pub ssrc: u32,
    pub arrival_ms: u32,
    pub payload: Vec<u8>,
}

/// The packets of payload types without a decoder, as they arrive, up to a
/// size bound.
#[derive(Debug)]
pub struct RawPayloadLog {
    /// `(leg, payload type, encoding)` in order of first appearance.
    names: Vec<(Leg, u8, String)>,
    packets: Vec<u8>,
    limit: usize,
    kept: u64,
    dropped: u64,
}

impl RawPayloadLog {
    pub fn new(limit: usize) -> Self {
        Self {
            names: Vec::new(),
            packets: Vec::new(),
            limit,
            kept: 0,
            dropped: 0,
        }
    }

    /// Keeps one packet; past the size bound it is only counted.
    pub fn push(&mut self, leg: Leg, arrival_ms: u32, packet: &RtpPacket<'_>, encoding: &str) {
        let payload_type = packet.payload_type;
        if !self
            .names
            .iter()
            .any(|(l, pt, _)| *l == leg && *pt == payload_type)
        {
            self.names.push((leg, payload_type, encoding.to_string()));
        }
        let payload = packet.payload();
        let Ok(payload_len) = u16::try_from(payload.len()) else {
            self.dropped += 1;
            return;
        };
        if self.packets.len() + PACKET_HEAD + payload.len() > self.limit {
            self.dropped += 1;
            return;
        }
        self.packets.push(leg_code(leg));
        self.packets.push(u8::from(packet.marker));
        self.packets.push(payload_type);
        self.packets
            .extend_from_slice(&packet.sequence.to_be_bytes());
        self.packets
            .extend_from_slice(&packet.timestamp.to_be_bytes());
        self.packets.extend_from_slice(&packet.ssrc.to_be_bytes());
        self.packets.extend_from_slice(&arrival_ms.to_be_bytes());
        self.packets.extend_from_slice(&payload_len.to_be_bytes());
        self.packets.extend_from_slice(payload);
        self.kept += 1;
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The encodings seen, each once, in order of first appearance.
    pub fn encodings(&self) -> Vec<String> {
        let mut encodings: Vec<String> = Vec::new();
        for (_, _, name) in &self.names {
            if !encodings.contains(name) {
                encodings.push(name.clone());
            }
        }
        encodings
    }

    pub fn kept(&self) -> u64 {
        self.kept
    }

    /// Packets past the size bound, not kept.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// The whole log in the layout above.
    pub fn to_bytes(&self) -> Vec<u8> {
        let names = &self.names[..self.names.len().min(usize::from(u8::MAX))];
        let mut out = Vec::with_capacity(6 + names.len() * 16 + self.packets.len());
        out.extend_from_slice(MAGIC);
        out.push(VERSION);
        out.push(names.len() as u8);
        for (leg, payload_type, name) in names {
            let name = &name.as_bytes()[..name.len().min(usize::from(u8::MAX))];
            out.push(leg_code(*leg));
            out.push(*payload_type);
            out.push(name.len() as u8);
            out.extend_from_slice(name);
        }
        out.extend_from_slice(&self.packets);
        out
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RawPayloadsError {
    #[error("not a raw payload log (bad magic or version)")]
    BadMagic,
    #[error("raw payload log cut short at byte {0}")]
    Truncated(usize),
    #[error("bad leg code {0} at byte {1}")]
    BadLeg(u8, usize),
}

/// A raw payload log read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawPayloads {
    pub names: Vec<(Leg, u8, String)>,
    pub packets: Vec<RawPacket>,
}

impl RawPayloads {
    pub fn parse(bytes: &[u8]) -> Result<Self, RawPayloadsError> {
        let mut reader = Reader { bytes, at: 0 };
        if reader.take(4)? != MAGIC || reader.u8()? != VERSION {
            return Err(RawPayloadsError::BadMagic);
        }
        let mut names = Vec::new();
        for _ in 0..reader.u8()? {
            let leg = reader.leg()?;
            let payload_type = reader.u8()?;
            let len = usize::from(reader.u8()?);
            let name = String::from_utf8_lossy(reader.take(len)?).into_owned();
            names.push((leg, payload_type, name));
        }
        let mut packets = Vec::new();
        while reader.at < bytes.len() {
            let leg = reader.leg()?;
            let marker = reader.u8()? & 1 != 0;
            let payload_type = reader.u8()?;
            let sequence = u16::from_be_bytes(reader.array()?);
            let timestamp = u32::from_be_bytes(reader.array()?);
            let ssrc = u32::from_be_bytes(reader.array()?);
            let arrival_ms = u32::from_be_bytes(reader.array()?);
            let len = usize::from(u16::from_be_bytes(reader.array()?));
            let payload = reader.take(len)?.to_vec();
            packets.push(RawPacket {
                leg,
                marker,
                payload_type,
                sequence,
                timestamp,
                ssrc,
                arrival_ms,
                payload,
            });
        }
        Ok(Self { names, packets })
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, len: usize) -> Result<&'a [u8], RawPayloadsError> {
        let slice = self
            .bytes
            .get(self.at..self.at + len)
            .ok_or(RawPayloadsError::Truncated(self.at))?;
        self.at += len;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], RawPayloadsError> {
        let at = self.at;
        self.take(N)?
            .try_into()
            .map_err(|_| RawPayloadsError::Truncated(at))
    }

    fn u8(&mut self) -> Result<u8, RawPayloadsError> {
        Ok(self.array::<1>()?[0])
    }

    fn leg(&mut self) -> Result<Leg, RawPayloadsError> {
        let at = self.at;
        match self.u8()? {
            0 => Ok(Leg::Caller),
            1 => Ok(Leg::Callee),
            other => Err(RawPayloadsError::BadLeg(other, at)),
        }
    }
}

fn leg_code(leg: Leg) -> u8 {
    match leg {
        Leg::Caller => 0,
        Leg::Callee => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn datagram(payload_type: u8, sequence: u16, marker: bool, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![0x80, payload_type | if marker { 0x80 } else { 0 }];
        out.extend_from_slice(&sequence.to_be_bytes());
        out.extend_from_slice(&(u32::from(sequence) * 160).to_be_bytes());
        out.extend_from_slice(&0x1234_5678u32.to_be_bytes());
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn packets_read_back_as_written() {
        let mut log = RawPayloadLog::new(1 << 20);
        let first = datagram(96, 7, true, b"\x01\x02\x03");
        let second = datagram(96, 8, false, b"");
        log.push(
            Leg::Caller,
            20,
            &RtpPacket::parse(&first).unwrap(),
            "AMR/8000",
        );
        log.push(
            Leg::Callee,
            40,
            &RtpPacket::parse(&second).unwrap(),
            "AMR/8000",
        );
        assert_eq!(log.encodings(), vec!["AMR/8000".to_string()]);
        let read = RawPayloads::parse(&log.to_bytes()).unwrap();
        assert_eq!(
            read.names,
            vec![
                (Leg::Caller, 96, "AMR/8000".to_string()),
                (Leg::Callee, 96, "AMR/8000".to_string())
            ]
        );
        assert_eq!(
            read.packets[0],
            RawPacket {
                leg: Leg::Caller,
                marker: true,
                payload_type: 96,
                sequence: 7,
                timestamp: 7 * 160,
                ssrc: 0x1234_5678,
                arrival_ms: 20,
                payload: vec![1, 2, 3],
            }
        );
        assert_eq!(read.packets[1].leg, Leg::Callee);
        assert!(read.packets[1].payload.is_empty());
    }

    #[test]
    fn the_size_bound_counts_what_it_drops() {
        let mut log = RawPayloadLog::new(100);
        let packet = datagram(96, 1, false, &[0; 40]);
        for _ in 0..5 {
            log.push(
                Leg::Caller,
                0,
                &RtpPacket::parse(&packet).unwrap(),
                "AMR/8000",
            );
        }
        assert_eq!((log.kept(), log.dropped()), (1, 4));
        assert_eq!(
            RawPayloads::parse(&log.to_bytes()).unwrap().packets.len(),
            1
        );
    }

    #[test]
    fn damaged_logs_give_errors() {
        let mut log = RawPayloadLog::new(1 << 20);
        let packet = datagram(96, 1, false, &[9; 10]);
        log.push(
            Leg::Caller,
            0,
            &RtpPacket::parse(&packet).unwrap(),
            "AMR/8000",
        );
        let bytes = log.to_bytes();
        let names_end = bytes.len() - (PACKET_HEAD + 10);
        for cut in (0..bytes.len()).filter(|&cut| cut != names_end) {
            assert!(RawPayloads::parse(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        assert!(RawPayloads::parse(&bytes[..names_end])
            .unwrap()
            .packets
            .is_empty());
        assert_eq!(
            RawPayloads::parse(b"RIFF\x01\x00"),
            Err(RawPayloadsError::BadMagic)
        );
    }
}
