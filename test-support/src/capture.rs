//! The RTP streams of the shared corpora's captures, replayed through the
//! recorder with their capture timing.

use crate::pcap::corpus_pcap;
use greffier_capture::{Datagram, RtpStream};
use greffier_media::{
    CodecMap, Leg, MemorySink, OutputFormat, Recorder, RecorderConfig, RecordingSink,
    RecordingSummary, RtpFormat,
};
use greffier_sip::sdp::SessionDescription;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// A corpus capture ready to replay: its datagrams, its RTP streams, the codecs
/// its SDP names and who called.
pub struct Capture {
    pub datagrams: Vec<Datagram>,
    pub streams: Vec<RtpStream>,
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
        let capture = greffier_capture::Capture::read_file(&corpus_pcap(name))
            .unwrap_or_else(|error| panic!("{name}: {error}"));
        let messages = capture.sip_messages();
        let caller = messages
            .iter()
            .find(|message| message.is_request("INVITE"))
            .map(|message| message.source.ip());
        let formats: Vec<RtpFormat> = messages
            .iter()
            .flat_map(|message| audio_formats(&String::from_utf8_lossy(message.body())))
            .collect();
        Self {
            streams: capture.rtp_streams(),
            datagrams: capture.datagrams,
            codecs: CodecMap::from_formats(&formats),
            caller,
        }
    }

    /// The caller's stream is leg A; with no SIP, the first stream is.
    pub fn leg_of(&self, stream: &RtpStream) -> Leg {
        let is_caller = match self.caller {
            Some(caller) => stream.source.ip() == caller,
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
                    .map(move |packet| (packet.time, leg, packet.datagram.clone()))
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
