//! The RTP streams of the shared corpora's captures, replayed through the
//! recorder with their capture timing.

use crate::pcap::{corpus_pcap, read_udp, Datagram};
use greffier_media::{
    CodecMap, Leg, MemorySink, OutputFormat, Recorder, RecorderConfig, RecordingSink,
    RecordingSummary, RtpFormat, RtpPacket,
};
use greffier_sip::sdp::SessionDescription;
use std::net::IpAddr;
use std::time::{Duration, Instant};

fn is_sip(datagram: &Datagram) -> bool {
    let text = &datagram.payload;
    datagram.source.1 == 5060
        || datagram.destination.1 == 5060
        || text.starts_with(b"SIP/2.0")
        || text.windows(7).take(40).any(|w| w == b"SIP/2.0")
}

/// One RTP stream: packets of one SSRC from one source to one destination.
#[derive(Debug, Clone)]
pub struct Stream {
    pub source: (IpAddr, u16),
    pub ssrc: u32,
    pub packets: Vec<(Duration, Vec<u8>)>,
}

pub struct Capture {
    pub datagrams: Vec<Datagram>,
    pub streams: Vec<Stream>,
    /// Union of the rtpmaps of every SDP body in the capture.
    pub codecs: CodecMap,
    /// Address that sent the first INVITE, if the capture has SIP.
    pub caller: Option<IpAddr>,
}

/// Every codec the recorder decodes, at the payload types SIPp scenarios use for
/// the dynamic ones.
pub fn every_decodable_codec() -> CodecMap {
    CodecMap::from_formats(&[
        RtpFormat::new(0, "PCMU", 8000),
        RtpFormat::new(8, "PCMA", 8000),
        RtpFormat::new(9, "G722", 8000),
        RtpFormat::new(13, "CN", 8000),
        RtpFormat::new(18, "G729", 8000),
        RtpFormat::new(96, "telephone-event", 8000),
        RtpFormat::new(111, "opus", 48_000),
    ])
}

/// The payload formats of the first audio stream of an SDP body, read with the
/// gateway's own SDP parser; nothing for a body that is not SDP.
fn audio_formats(body: &str) -> Vec<RtpFormat> {
    let Ok(sdp) = SessionDescription::parse(&bytes::Bytes::copy_from_slice(body.as_bytes())) else {
        return Vec::new();
    };
    let plan = sdp.media_plan();
    plan.streams
        .iter()
        .find(|stream| stream.media.eq_ignore_ascii_case("audio"))
        .map(|stream| {
            stream
                .codecs
                .iter()
                .map(|codec| RtpFormat::new(codec.payload_type, &codec.encoding, codec.clock_rate))
                .collect()
        })
        .unwrap_or_default()
}

impl Capture {
    pub fn load(name: &str) -> Self {
        let datagrams = read_udp(&corpus_pcap(name));
        let mut formats = Vec::new();
        let mut caller = None;
        let mut streams: Vec<Stream> = Vec::new();
        for datagram in &datagrams {
            if is_sip(datagram) {
                let text = String::from_utf8_lossy(&datagram.payload);
                if text.starts_with("INVITE ") && caller.is_none() {
                    caller = Some(datagram.source.0);
                }
                if let Some((_, body)) = text.split_once("\r\n\r\n") {
                    formats.extend(audio_formats(body));
                }
                continue;
            }
            let Ok(packet) = RtpPacket::parse(&datagram.payload) else {
                continue;
            };
            // RTCP shares the version bits; its packet types 200-204 read as PT 72-76.
            if (72..=76).contains(&packet.payload_type) {
                continue;
            }
            let entry = (datagram.time, datagram.payload.clone());
            match streams
                .iter_mut()
                .find(|s| s.source == datagram.source && s.ssrc == packet.ssrc)
            {
                Some(stream) => stream.packets.push(entry),
                None => streams.push(Stream {
                    source: datagram.source,
                    ssrc: packet.ssrc,
                    packets: vec![entry],
                }),
            }
        }
        // A stream of a handful of stray packets is noise, not media.
        let longest = streams.iter().map(|s| s.packets.len()).max().unwrap_or(0);
        streams.retain(|s| s.packets.len() * 20 >= longest);
        Self {
            datagrams,
            streams,
            codecs: CodecMap::from_formats(&formats),
            caller,
        }
    }

    /// The caller's stream is leg A; with no SIP, the first stream is.
    pub fn leg_of(&self, stream: &Stream) -> Leg {
        let is_caller = match self.caller {
            Some(caller) => stream.source.0 == caller,
            None => self
                .streams
                .first()
                .is_some_and(|first| first.source == stream.source && first.ssrc == stream.ssrc),
        };
        if is_caller {
            Leg::Caller
        } else {
            Leg::Callee
        }
    }

    /// Every RTP packet with its leg, in capture order.
    pub fn timeline(&self) -> Vec<(Duration, Leg, Vec<u8>)> {
        let mut all: Vec<_> = self
            .streams
            .iter()
            .flat_map(|stream| {
                let leg = self.leg_of(stream);
                stream
                    .packets
                    .iter()
                    .map(move |(time, bytes)| (*time, leg, bytes.clone()))
            })
            .collect();
        all.sort_by_key(|(time, _, _)| *time);
        all
    }

    pub fn first_rtp_time(&self) -> Duration {
        self.timeline()
            .first()
            .map(|(t, _, _)| *t)
            .expect("capture has RTP")
    }
}

pub struct Replay {
    pub summary: RecordingSummary,
    pub bytes: Vec<u8>,
    pub sample_rate: u32,
}

pub struct ReplayOptions {
    pub format: OutputFormat,
    pub mask_dtmf: bool,
    /// Pause spans, in capture time.
    pub pauses: Vec<(Duration, Duration)>,
}

impl Default for ReplayOptions {
    fn default() -> Self {
        Self {
            format: OutputFormat::Wav,
            mask_dtmf: false,
            pauses: Vec::new(),
        }
    }
}

enum Input<'a> {
    Pause,
    Resume,
    Rtp(Leg, &'a [u8]),
}

/// Replays `packets` (capture time, leg, datagram) the way the relay would feed
/// them: timers fired when due, the recording starting at `origin`.
pub fn replay(
    packets: &[(Duration, Leg, Vec<u8>)],
    codecs: &CodecMap,
    origin: Duration,
    options: &ReplayOptions,
) -> Replay {
    let base = Instant::now();
    let at = |time: Duration| base + time.saturating_sub(origin);
    let mut config = RecorderConfig::new(options.format, codecs.clone(), codecs.clone(), base);
    config.mask_dtmf = options.mask_dtmf;
    let mut recorder = Recorder::new(config).expect("recorder");
    let mut sink = MemorySink::new();
    let mut inputs: Vec<(Duration, Input<'_>)> = Vec::new();
    for (start, end) in &options.pauses {
        inputs.push((*start, Input::Pause));
        inputs.push((*end, Input::Resume));
    }
    for (time, leg, bytes) in packets {
        inputs.push((*time, Input::Rtp(*leg, bytes)));
    }
    // Stable: packets of the same instant keep their order.
    inputs.sort_by_key(|(time, _)| *time);
    let mut last = origin;
    for (time, input) in inputs {
        let now = at(time);
        while let Some(wake) = recorder.poll_timeout().filter(|wake| *wake <= now) {
            recorder.handle_timeout(wake).expect("timeout");
        }
        match input {
            Input::Pause => recorder.pause(now),
            Input::Resume => recorder.resume(now),
            Input::Rtp(leg, bytes) => {
                let _ = recorder.handle_rtp(now, leg, bytes);
            }
        }
        recorder.drain_into(&mut sink).expect("sink");
        last = last.max(time);
    }
    let summary = finish_into(&mut recorder, &mut sink, at(last));
    Replay {
        summary,
        sample_rate: recorder.sample_rate(),
        bytes: sink.into_bytes(),
    }
}

/// Finishes `recorder` at `end`, drains the rest of the recording into `sink`
/// and completes it.
pub fn finish_into(
    recorder: &mut Recorder,
    sink: &mut MemorySink,
    end: Instant,
) -> RecordingSummary {
    let summary = recorder.finish(end).expect("finish");
    recorder.drain_into(sink).expect("sink");
    sink.finish().expect("finish sink");
    summary
}

/// Replays a whole capture from its first RTP packet.
pub fn replay_capture(name: &str, options: &ReplayOptions) -> (Capture, Replay) {
    let capture = Capture::load(name);
    let replay = replay(
        &capture.timeline(),
        &capture.codecs,
        capture.first_rtp_time(),
        options,
    );
    (capture, replay)
}
