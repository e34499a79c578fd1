//! SIP messages of a capture: UDP datagrams one message each, TCP streams
//! reassembled in sequence order and split by `Content-Length` (RFC 3261 §18.3).

use std::net::SocketAddr;
use std::time::Duration;

use crate::{Capture, Datagram, Transport};

/// One direction of a TCP connection, its payload bytes put back in sequence
/// order: retransmitted bytes kept once, and the stream stopped at the first gap
/// (bytes the capture missed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpStream {
    pub source: SocketAddr,
    pub destination: SocketAddr,
    /// The sequence number of the first byte.
    pub first_sequence: u32,
    pub bytes: Vec<u8>,
    /// Where each segment's new bytes start in `bytes`, with its capture time.
    pub segments: Vec<(usize, Duration)>,
    /// Bytes are missing after `bytes`: a later segment did not follow on.
    pub gap: bool,
}

impl TcpStream {
    /// The capture time of the segment that brought the byte at `offset`.
    pub fn time_at(&self, offset: usize) -> Duration {
        let index = self
            .segments
            .partition_point(|(start, _)| *start <= offset)
            .saturating_sub(1);
        self.segments
            .get(index)
            .map(|(_, time)| *time)
            .unwrap_or_default()
    }
}

/// One SIP message as the capture carried it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipMessage {
    /// When its first byte was captured.
    pub time: Duration,
    pub source: SocketAddr,
    pub destination: SocketAddr,
    /// For TCP, the sequence number of its first byte.
    pub transport: Transport,
    pub bytes: Vec<u8>,
}

impl SipMessage {
    /// The start line, without its line end.
    pub fn start_line(&self) -> &[u8] {
        let end = self
            .bytes
            .iter()
            .position(|byte| *byte == b'\n')
            .unwrap_or(self.bytes.len());
        self.bytes[..end]
            .strip_suffix(b"\r")
            .unwrap_or(&self.bytes[..end])
    }

    /// Whether it is a request of `method` (`"INVITE"`, `"BYE"`...).
    pub fn is_request(&self, method: &str) -> bool {
        self.start_line()
            .strip_prefix(method.as_bytes())
            .is_some_and(|rest| rest.first() == Some(&b' '))
    }

    /// The body: what follows the blank line after the headers.
    pub fn body(&self) -> &[u8] {
        header_end(&self.bytes)
            .map(|end| &self.bytes[end..])
            .unwrap_or_default()
    }
}

/// Whether `payload` starts like a SIP message: a status line, or a request
/// line whose last word is the SIP version.
pub(crate) fn looks_like_sip(payload: &[u8]) -> bool {
    if payload.starts_with(b"SIP/2.0 ") {
        return true;
    }
    let line_end = payload
        .iter()
        .take(2048)
        .position(|byte| *byte == b'\n')
        .unwrap_or(0);
    let line = &payload[..line_end];
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    payload.first().is_some_and(u8::is_ascii_uppercase) && line.ends_with(b" SIP/2.0")
}

/// Where the body starts: after the first blank line.
fn header_end(bytes: &[u8]) -> Option<usize> {
    bytes
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .map(|at| at + 4)
}

/// `Content-Length` (or its compact form `l`) of a header block; zero when
/// absent, which RFC 3261 §20.14 allows only over UDP.
fn content_length(headers: &[u8]) -> Option<usize> {
    for line in headers.split(|byte| *byte == b'\n') {
        let Some(colon) = line.iter().position(|byte| *byte == b':') else {
            continue;
        };
        let name = line[..colon].trim_ascii();
        if name.eq_ignore_ascii_case(b"content-length") || name.eq_ignore_ascii_case(b"l") {
            return std::str::from_utf8(line[colon + 1..].trim_ascii())
                .ok()?
                .parse()
                .ok();
        }
    }
    Some(0)
}

pub(crate) fn reassemble(datagrams: &[Datagram]) -> Vec<TcpStream> {
    type Segments<'a> = Vec<(u32, Duration, &'a [u8])>;
    let mut directions: Vec<(SocketAddr, SocketAddr, Segments<'_>)> = Vec::new();
    for datagram in datagrams {
        let Transport::Tcp { sequence } = datagram.transport else {
            continue;
        };
        let segment = (sequence, datagram.time, datagram.payload.as_slice());
        match directions.iter_mut().find(|(source, destination, _)| {
            *source == datagram.source && *destination == datagram.destination
        }) {
            Some((_, _, segments)) => segments.push(segment),
            None => directions.push((datagram.source, datagram.destination, vec![segment])),
        }
    }
    directions
        .into_iter()
        .map(|(source, destination, mut segments)| {
            // Sequence numbers wrap: order by distance from the first one captured.
            let first_sequence = segments[0].0;
            segments.sort_by_key(|(sequence, _, _)| sequence.wrapping_sub(first_sequence));
            let mut stream = TcpStream {
                source,
                destination,
                first_sequence,
                bytes: Vec::new(),
                segments: Vec::new(),
                gap: false,
            };
            for (sequence, time, payload) in segments {
                let start = sequence.wrapping_sub(first_sequence) as usize;
                let have = stream.bytes.len();
                if start > have {
                    stream.gap = true;
                    break;
                }
                let Some(new) = payload.get(have - start..).filter(|new| !new.is_empty()) else {
                    continue;
                };
                stream.segments.push((have, time));
                stream.bytes.extend_from_slice(new);
            }
            stream
        })
        .collect()
}

/// The messages of a reassembled stream, as long as they follow one another;
/// an incomplete last message is left out.
fn split_stream(stream: &TcpStream) -> Vec<SipMessage> {
    let mut messages = Vec::new();
    let mut at = 0;
    let bytes = &stream.bytes;
    loop {
        // RFC 5626 keep-alives (blank lines) may sit between messages.
        while bytes
            .get(at)
            .is_some_and(|byte| *byte == b'\r' || *byte == b'\n')
        {
            at += 1;
        }
        let rest = &bytes[at..];
        if rest.is_empty() || !looks_like_sip(rest) {
            break;
        }
        let Some(body_start) = header_end(rest) else {
            break;
        };
        let Some(length) = content_length(&rest[..body_start]) else {
            break;
        };
        let Some(message) = rest.get(..body_start.saturating_add(length)) else {
            break;
        };
        messages.push(SipMessage {
            time: stream.time_at(at),
            source: stream.source,
            destination: stream.destination,
            transport: Transport::Tcp {
                sequence: stream.first_sequence.wrapping_add(at as u32),
            },
            bytes: message.to_vec(),
        });
        at += message.len();
    }
    messages
}

pub(crate) fn sip_messages(capture: &Capture) -> Vec<SipMessage> {
    let mut messages: Vec<SipMessage> = capture
        .udp()
        .filter(|datagram| looks_like_sip(&datagram.payload))
        .map(|datagram| SipMessage {
            time: datagram.time,
            source: datagram.source,
            destination: datagram.destination,
            transport: Transport::Udp,
            bytes: datagram.payload.clone(),
        })
        .collect();
    for stream in reassemble(&capture.datagrams) {
        messages.extend(split_stream(&stream));
    }
    // Stable: messages of one instant keep their order.
    messages.sort_by_key(|message| message.time);
    messages
}
