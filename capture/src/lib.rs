//! Packet captures read into what a SIP and RTP gateway cares about.
//!
//! [`Capture::parse`] reads a pcap or pcapng file from bytes (no I/O; [`Capture::read_file`]
//! is the convenience that reads a file first): every frame of a supported link type
//! (Ethernet with 802.1Q/QinQ tags, Linux cooked v1 and v2, raw IP, BSD loopback) is
//! decoded down to its UDP datagram or TCP segment over IPv4 or IPv6. From those,
//! [`Capture::sip_messages`] gives the SIP messages (UDP datagrams as they are, TCP
//! streams reassembled in order and split by `Content-Length`) and
//! [`Capture::rtp_streams`] the RTP streams of each direction, found by the SDP of
//! the capture's SIP messages when they describe them, else by heuristics.
//!
//! Bad input is a [`CaptureError`] that says what and where, never a panic; a capture
//! cut short in its last record reads as the records before it.

mod container;
mod error;
mod layers;
mod rtp;
mod sdp;
mod streams;
mod tcp;
pub mod write;

#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

pub use container::{Format, LinkType};
pub use error::CaptureError;
pub use rtp::{RtpHeader, TelephoneEvent};
pub use streams::{PayloadTypeUse, RtpStream, StreamEvidence, StreamPacket};
pub use tcp::{SipMessage, TcpStream};

/// How a datagram's payload travelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Udp,
    /// A TCP segment; `sequence` is the sequence number of its first payload byte.
    Tcp {
        sequence: u32,
    },
}

/// One UDP datagram or one TCP segment's payload, with the capture time of its
/// frame (since the Unix epoch, as the capture recorded it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Datagram {
    pub time: Duration,
    pub source: SocketAddr,
    pub destination: SocketAddr,
    pub transport: Transport,
    pub payload: Vec<u8>,
}

/// A capture read: its UDP datagrams and TCP payloads in capture order, and what
/// was left aside.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capture {
    pub format: Option<Format>,
    pub datagrams: Vec<Datagram>,
    /// Frames that carry neither UDP nor TCP payload over IPv4 or IPv6 (ARP, PPPoE,
    /// ICMP, IP fragments, frames of an interface whose link type is not read).
    pub skipped_frames: usize,
    /// The last record ran past the end of the input: the capture was cut short.
    pub truncated: bool,
}

impl Capture {
    /// Reads a pcap or pcapng capture held in memory.
    pub fn parse(bytes: &[u8]) -> Result<Self, CaptureError> {
        let frames = container::read_frames(bytes)?;
        let mut capture = Capture {
            format: Some(frames.format),
            truncated: frames.truncated,
            ..Capture::default()
        };
        for frame in &frames.frames {
            match layers::decode(frame.time, frame.link, frame.data) {
                Some(datagram) => capture.datagrams.push(datagram),
                None => capture.skipped_frames += 1,
            }
        }
        Ok(capture)
    }

    /// Reads the capture file at `path`.
    pub fn read_file(path: &Path) -> Result<Self, CaptureError> {
        let bytes = std::fs::read(path).map_err(|source| CaptureError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&bytes)
    }

    /// The UDP datagrams, in capture order.
    pub fn udp(&self) -> impl Iterator<Item = &Datagram> {
        self.datagrams
            .iter()
            .filter(|datagram| datagram.transport == Transport::Udp)
    }

    /// Each direction of each TCP connection, its payload reassembled in order.
    pub fn tcp_streams(&self) -> Vec<TcpStream> {
        tcp::reassemble(&self.datagrams)
    }

    /// The SIP messages: each UDP datagram that starts like one, and the messages
    /// of every TCP stream, split by `Content-Length`; in capture order.
    pub fn sip_messages(&self) -> Vec<SipMessage> {
        tcp::sip_messages(self)
    }

    /// The RTP streams, one per source, destination and SSRC, in the order their
    /// first packet was captured.
    pub fn rtp_streams(&self) -> Vec<RtpStream> {
        streams::find(self)
    }
}
