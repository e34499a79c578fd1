//! The RTP streams of a capture, one per source, destination and SSRC.
//!
//! A datagram sent to an address and port that an SDP body of the capture's SIP
//! messages offered or answered (`c=` and `m=`), or sent from one (symmetric
//! RTP, RFC 4961, through a gateway that rewrote the other side), belongs to a
//! stream found by SDP, which also names its payload types. Any other datagram that reads as
//! RTP is kept only if its stream looks like one: enough packets of one SSRC,
//! payload types outside the range RTCP packet types fall into, and sequence
//! numbers that move forward in small steps.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use crate::rtp::{RtpHeader, TelephoneEvent};
use crate::sdp::{self, MediaEndpoint};
use crate::tcp::looks_like_sip;
use crate::Capture;

/// Fewest packets a stream needs to be taken for RTP without SDP.
const HEURISTIC_MIN_PACKETS: usize = 5;
/// Largest forward sequence step (loss) still counted as steady.
const HEURISTIC_MAX_STEP: u16 = 100;
/// Share of steady sequence steps a stream needs without SDP, in percent.
const HEURISTIC_STEADY_PERCENT: usize = 90;

/// What made a flow of datagrams an RTP stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamEvidence {
    /// Its destination, or its source, is a media address of an SDP body in
    /// the capture.
    Sdp,
    /// It looks like RTP: version 2, one SSRC, steady sequence numbers and
    /// plausible payload types.
    Heuristic,
}

/// How many packets of a stream carried one payload type, and what it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayloadTypeUse {
    pub payload_type: u8,
    /// The encoding name (`PCMA`, `opus`, `telephone-event`...) from the SDP or
    /// RFC 3551's static table, when known.
    pub encoding: Option<String>,
    pub clock_rate: Option<u32>,
    pub packets: usize,
}

/// One RTP packet of a stream, with its capture time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamPacket {
    pub time: Duration,
    pub header: RtpHeader,
    /// The whole UDP payload: RTP header and payload.
    pub datagram: Vec<u8>,
}

impl StreamPacket {
    pub fn payload(&self) -> &[u8] {
        self.header.payload_of(&self.datagram)
    }
}

/// The packets of one SSRC from one source to one destination, in capture order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpStream {
    pub source: SocketAddr,
    pub destination: SocketAddr,
    pub ssrc: u32,
    pub evidence: StreamEvidence,
    /// In the order each payload type first appeared.
    pub payload_types: Vec<PayloadTypeUse>,
    pub packets: Vec<StreamPacket>,
    /// Packets with the marker bit set.
    pub marker_packets: usize,
    /// The payload type that carries RFC 4733 telephone events, if the stream
    /// has any: named so by the SDP, or, without SDP, a dynamic payload type
    /// whose every packet is a 4-byte event.
    pub telephone_event_payload_type: Option<u8>,
    pub telephone_event_packets: usize,
}

impl RtpStream {
    /// From its first packet to its last.
    pub fn duration(&self) -> Duration {
        match (self.packets.first(), self.packets.last()) {
            (Some(first), Some(last)) => last.time.saturating_sub(first.time),
            _ => Duration::ZERO,
        }
    }

    /// The packet time of its media: the usual timestamp step between packets
    /// that follow one another, over the clock rate when it is known, else the
    /// usual capture-time step rounded to the millisecond.
    pub fn ptime(&self) -> Option<Duration> {
        let media: Vec<&StreamPacket> = self
            .packets
            .iter()
            .filter(|packet| Some(packet.header.payload_type) != self.telephone_event_payload_type)
            .collect();
        let pairs = || {
            media.windows(2).filter(|pair| {
                pair[1].header.sequence == pair[0].header.sequence.wrapping_add(1)
                    && pair[1].header.payload_type == pair[0].header.payload_type
            })
        };
        let clock_rate = media.first().and_then(|packet| {
            self.payload_types
                .iter()
                .find(|used| used.payload_type == packet.header.payload_type)
                .and_then(|used| used.clock_rate)
        });
        match clock_rate.filter(|rate| *rate > 0) {
            Some(rate) => {
                let step = median(
                    pairs()
                        .map(|pair| {
                            pair[1]
                                .header
                                .timestamp
                                .wrapping_sub(pair[0].header.timestamp)
                        })
                        .collect(),
                )?;
                Some(Duration::from_micros(
                    u64::from(step) * 1_000_000 / u64::from(rate),
                ))
            }
            None => {
                let step = median(
                    pairs()
                        .map(|pair| pair[1].time.saturating_sub(pair[0].time))
                        .collect(),
                )?;
                Some(Duration::from_millis(
                    ((step.as_micros() + 500) / 1000) as u64,
                ))
            }
        }
    }

    /// The telephone events the stream carried, each packet's first event with
    /// its capture time (RFC 4733 repeats end packets: they are all here).
    pub fn telephone_events(&self) -> Vec<(Duration, TelephoneEvent)> {
        let Some(event_type) = self.telephone_event_payload_type else {
            return Vec::new();
        };
        self.packets
            .iter()
            .filter(|packet| packet.header.payload_type == event_type)
            .filter_map(|packet| Some((packet.time, TelephoneEvent::parse(packet.payload())?)))
            .collect()
    }
}

fn median<T: Ord + Copy>(mut values: Vec<T>) -> Option<T> {
    values.sort_unstable();
    values.get(values.len() / 2).copied()
}

/// RFC 5761 §4: payload types 64-95 collide with RTCP packet types once the
/// marker bit is read as part of them; no RTP stream should use them.
fn plausible_payload_type(payload_type: u8) -> bool {
    !(64..96).contains(&payload_type)
}

fn is_telephone_event(encoding: &str) -> bool {
    encoding.eq_ignore_ascii_case("telephone-event")
}

pub(crate) fn find(capture: &Capture) -> Vec<RtpStream> {
    let mut endpoints: Vec<MediaEndpoint> = Vec::new();
    for message in capture.sip_messages() {
        for endpoint in sdp::media_endpoints(&String::from_utf8_lossy(message.body())) {
            match endpoints
                .iter_mut()
                .find(|known| known.address == endpoint.address)
            {
                Some(known) => {
                    for format in endpoint.formats {
                        if !known.formats.iter().any(|(pt, _, _)| *pt == format.0) {
                            known.formats.push(format);
                        }
                    }
                }
                None => endpoints.push(endpoint),
            }
        }
    }

    let mut streams: Vec<RtpStream> = Vec::new();
    let mut index: HashMap<(SocketAddr, SocketAddr, u32), usize> = HashMap::new();
    for datagram in capture.udp() {
        if looks_like_sip(&datagram.payload) {
            continue;
        }
        let Some(header) = RtpHeader::parse(&datagram.payload) else {
            continue;
        };
        if !plausible_payload_type(header.payload_type) {
            continue;
        }
        let key = (datagram.source, datagram.destination, header.ssrc);
        let at = *index.entry(key).or_insert_with(|| {
            let evidence = if endpoints.iter().any(|endpoint| {
                endpoint.address == datagram.destination || endpoint.address == datagram.source
            }) {
                StreamEvidence::Sdp
            } else {
                StreamEvidence::Heuristic
            };
            streams.push(RtpStream {
                source: datagram.source,
                destination: datagram.destination,
                ssrc: header.ssrc,
                evidence,
                payload_types: Vec::new(),
                packets: Vec::new(),
                marker_packets: 0,
                telephone_event_payload_type: None,
                telephone_event_packets: 0,
            });
            streams.len() - 1
        });
        streams[at].packets.push(StreamPacket {
            time: datagram.time,
            header,
            datagram: datagram.payload.clone(),
        });
    }

    streams.retain(|stream| stream.evidence == StreamEvidence::Sdp || looks_steady(stream));
    for stream in &mut streams {
        let formats = endpoints
            .iter()
            .find(|endpoint| endpoint.address == stream.destination)
            .or_else(|| {
                endpoints
                    .iter()
                    .find(|endpoint| endpoint.address == stream.source)
            })
            .map(|endpoint| endpoint.formats.as_slice())
            .unwrap_or_default();
        describe(stream, formats);
    }
    streams
}

/// Enough packets, and sequence numbers that mostly move forward a little.
fn looks_steady(stream: &RtpStream) -> bool {
    let packets = &stream.packets;
    if packets.len() < HEURISTIC_MIN_PACKETS {
        return false;
    }
    let steady = packets
        .windows(2)
        .filter(|pair| {
            pair[1]
                .header
                .sequence
                .wrapping_sub(pair[0].header.sequence)
                <= HEURISTIC_MAX_STEP
        })
        .count();
    steady * 100 >= (packets.len() - 1) * HEURISTIC_STEADY_PERCENT
}

/// Fills in what a stream carried: payload types, markers, telephone events.
fn describe(stream: &mut RtpStream, formats: &[(u8, String, u32)]) {
    for packet in &stream.packets {
        let payload_type = packet.header.payload_type;
        match stream
            .payload_types
            .iter_mut()
            .find(|used| used.payload_type == payload_type)
        {
            Some(used) => used.packets += 1,
            None => {
                let format = formats
                    .iter()
                    .find(|(pt, _, _)| *pt == payload_type)
                    .cloned()
                    .or_else(|| sdp::static_format(payload_type));
                stream.payload_types.push(PayloadTypeUse {
                    payload_type,
                    encoding: format.as_ref().map(|(_, name, _)| name.clone()),
                    clock_rate: format.map(|(_, _, rate)| rate),
                    packets: 1,
                });
            }
        }
    }
    stream.marker_packets = stream
        .packets
        .iter()
        .filter(|packet| packet.header.marker)
        .count();
    stream.telephone_event_payload_type = stream
        .payload_types
        .iter()
        .find(|used| used.encoding.as_deref().is_some_and(is_telephone_event))
        .map(|used| used.payload_type)
        .or_else(|| {
            if !formats.is_empty() {
                return None;
            }
            // Without SDP: a dynamic payload type whose every packet is one
            // 4-byte event of a known kind (RFC 4733 §3.2 keeps them 4 bytes).
            stream
                .payload_types
                .iter()
                .map(|used| used.payload_type)
                .find(|payload_type| {
                    (96..128).contains(payload_type)
                        && stream
                            .packets
                            .iter()
                            .filter(|packet| packet.header.payload_type == *payload_type)
                            .all(|packet| packet.payload().len() == 4 && packet.payload()[0] <= 16)
                })
        });
    if let Some(event_type) = stream.telephone_event_payload_type {
        if let Some(used) = stream
            .payload_types
            .iter_mut()
            .find(|used| used.payload_type == event_type && used.encoding.is_none())
        {
            used.encoding = Some("telephone-event".to_string());
        }
        stream.telephone_event_packets = stream
            .packets
            .iter()
            .filter(|packet| packet.header.payload_type == event_type)
            .count();
    }
}
