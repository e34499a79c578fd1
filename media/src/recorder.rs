//! The call recorder (sans-IO): RTP of both legs in, a stereo WAV or Ogg/Opus
//! byte stream out (left = caller, right = callee), plus the call's metadata.

use crate::codec::{Codec, CodecMap, PayloadNames};
use crate::dtmf::{DtmfEvent, KeyPress};
use crate::jitter::JitterConfig;
use crate::leg::{LegConfig, LegPipeline, Side};
use crate::mixer::{MaskId, Mixer};
use crate::ogg_opus::{OggOpusError, OggOpusWriter};
use crate::raw_payloads::RawPayloadLog;
use crate::rtp_header::{RtpError, RtpPacket};
use crate::sink::{RecordingSink, SinkError};
use crate::wav::{wav_stream_header, write_pcm};
use bytes::Bytes;
use std::collections::VecDeque;
use std::time::{Duration, Instant};
use thiserror::Error;

/// Output is produced in steps of this much audio.
const MIX_STEP: Duration = Duration::from_millis(20);
/// Undecodable payloads kept per call: over an hour of a narrow-band codec
/// at 50 packets a second on both legs.
pub const DEFAULT_RAW_PAYLOAD_LIMIT: usize = 64 * 1024 * 1024;

/// The caller is recorded on the left channel, the callee on the right.
pub use greffier_types::{Leg, PerLeg};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// 16-bit PCM WAV with streaming sizes (see [`crate::wav`]).
    Wav,
    Opus,
}

#[derive(Debug, Clone)]
pub struct RecorderConfig {
    pub format: OutputFormat,
    /// Each leg's negotiated payload types.
    pub codecs: PerLeg<CodecMap>,
    /// Silence the audio around every telephone-event.
    pub mask_dtmf: bool,
    /// Call start: time zero of the recording.
    pub start: Instant,
    pub jitter: JitterConfig,
    /// How far behind `now` the mix runs, so late packets still find their place.
    pub mix_delay: Duration,
    /// A timestamp/arrival disagreement past this re-anchors a leg.
    pub restart_after: Duration,
    /// What the payload types of leg A and leg B are called, for those
    /// without a decoder.
    pub payload_names: [PayloadNames; 2],
    /// Bytes of undecodable payloads kept, at most; later packets are counted.
    pub raw_payload_limit: usize,
}

impl RecorderConfig {
    pub fn new(format: OutputFormat, caller: CodecMap, callee: CodecMap, start: Instant) -> Self {
        Self {
            format,
            codecs: PerLeg::new(caller, callee),
            mask_dtmf: false,
            start,
            jitter: JitterConfig::default(),
            mix_delay: Duration::from_millis(300),
            restart_after: Duration::from_secs(1),
            payload_names: [PayloadNames::default(), PayloadNames::default()],
            raw_payload_limit: DEFAULT_RAW_PAYLOAD_LIMIT,
        }
    }

    /// One rate for the whole recording, from the offered codecs: 48 kHz when a
    /// leg may carry Opus (keeps its full band), 16 kHz when one may carry
    /// G.722, else 8 kHz. Known before the first packet, so the header can go out.
    pub fn sample_rate(&self) -> u32 {
        let codecs = || {
            self.codecs
                .caller
                .negotiated_codecs()
                .chain(self.codecs.callee.negotiated_codecs())
        };
        if codecs().any(|c| c == Codec::Opus) {
            48_000
        } else if codecs().any(|c| c == Codec::G722) {
            16_000
        } else {
            8000
        }
    }
}

#[derive(Debug, Error)]
pub enum RecorderError {
    #[error("not an RTP packet: {0}")]
    Rtp(#[from] RtpError),
    #[error("recording is already finished")]
    Finished,
    #[error("Ogg/Opus output: {0}")]
    Output(#[from] OggOpusError),
    #[error(transparent)]
    Sink(#[from] SinkError),
}

/// A span of the recording that was paused, in ms from call start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PauseSpan {
    pub start_ms: u64,
    pub end_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingSummary {
    pub duration: Duration,
    pub sample_rate: u32,
    /// Codecs seen in the packets, leg A's first.
    pub codecs: Vec<Codec>,
    pub dtmf: Vec<DtmfEvent>,
    pub pauses: Vec<PauseSpan>,
    pub packets: u64,
    pub lost: u64,
    /// Encodings (`name/rate`) of packets that could not be decoded: their
    /// payloads are in [`Recorder::raw_payloads`], not in the audio.
    pub undecodable: Vec<String>,
    /// Undecodable packets past the size bound, neither decoded nor kept.
    pub raw_dropped: u64,
}

enum Encoder {
    Wav,
    Opus(Box<OggOpusWriter>),
}

pub struct Recorder {
    config: RecorderConfig,
    rate: u32,
    legs: [LegPipeline; 2],
    mixer: Mixer,
    encoder: Encoder,
    output: VecDeque<Bytes>,
    pause: Option<(MaskId, u64)>,
    pauses: Vec<(u64, u64)>,
    dtmf: Vec<DtmfEvent>,
    malformed: u64,
    finished: bool,
    mixed: Vec<i16>,
    raw: RawPayloadLog,
}

impl Recorder {
    pub fn new(config: RecorderConfig) -> Result<Self, RecorderError> {
        let rate = config.sample_rate();
        let leg = |codecs: &CodecMap, side| {
            LegPipeline::new(LegConfig {
                codecs: codecs.clone(),
                jitter: config.jitter,
                start: config.start,
                rate,
                side,
                mask_dtmf: config.mask_dtmf,
                restart_after: config.restart_after,
            })
        };
        let legs = [
            leg(&config.codecs.caller, Side::Left),
            leg(&config.codecs.callee, Side::Right),
        ];
        let mut output = VecDeque::new();
        let encoder = match config.format {
            OutputFormat::Wav => {
                output.push_back(Bytes::copy_from_slice(&wav_stream_header(rate, 2)));
                Encoder::Wav
            }
            OutputFormat::Opus => {
                let mut writer = OggOpusWriter::new(rate)?;
                let mut headers = Vec::new();
                writer.write(&[], &mut headers)?;
                output.push_back(Bytes::from(headers));
                Encoder::Opus(Box::new(writer))
            }
        };
        Ok(Self {
            rate,
            legs,
            mixer: Mixer::new(),
            encoder,
            output,
            pause: None,
            pauses: Vec::new(),
            dtmf: Vec::new(),
            malformed: 0,
            finished: false,
            mixed: Vec::new(),
            raw: RawPayloadLog::new(config.raw_payload_limit),
            config,
        })
    }

    pub fn sample_rate(&self) -> u32 {
        self.rate
    }

    /// Takes a copy of one RTP datagram received on `leg` at `now`.
    pub fn handle_rtp(
        &mut self,
        now: Instant,
        leg: Leg,
        datagram: &[u8],
    ) -> Result<(), RecorderError> {
        if self.finished {
            return Err(RecorderError::Finished);
        }
        let packet = match RtpPacket::parse(datagram) {
            Ok(packet) => packet,
            Err(error) => {
                self.malformed += 1;
                return Err(error.into());
            }
        };
        let index = leg_index(leg);
        let codecs = &self.config.codecs[leg];
        // RTCP multiplexed on the RTP port reads as payload types 64–95
        // (RFC 5761 §4): not media, nothing to keep.
        let rtcp = (64..96).contains(&packet.payload_type);
        if codecs.get(packet.payload_type).is_none() && !rtcp {
            // Never silence in place of audio without a trace: the payloads
            // are kept as received, for a later decoder.
            let names = &self.config.payload_names[index];
            let arrival = now.saturating_duration_since(self.config.start).as_millis();
            self.raw.push(
                leg,
                u32::try_from(arrival).unwrap_or(u32::MAX),
                &packet,
                &names.name(packet.payload_type),
            );
        }
        if let Some(pipeline) = self.legs.get_mut(index) {
            pipeline.handle_packet(now, &packet, &mut self.mixer);
        }
        self.collect_key_presses();
        self.mix(now)
    }

    /// Advances time without a packet: releases held packets and mixes.
    pub fn handle_timeout(&mut self, now: Instant) -> Result<(), RecorderError> {
        if self.finished {
            return Ok(());
        }
        for leg in &mut self.legs {
            leg.handle_timeout(now, &mut self.mixer);
        }
        self.collect_key_presses();
        self.mix(now)
    }

    /// When `handle_timeout` next has work to do.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.finished {
            return None;
        }
        let next_mix = self.config.start
            + self.config.mix_delay
            + Duration::from_secs_f64(self.mixer.mixed() as f64 / f64::from(self.rate))
            + MIX_STEP;
        self.legs
            .iter()
            .filter_map(LegPipeline::poll_timeout)
            .chain([next_mix])
            .min()
    }

    /// Masks the audio (both channels) and drops key presses from `now` on.
    pub fn pause(&mut self, now: Instant) {
        if self.pause.is_none() && !self.finished {
            let at = self.position_at(now);
            self.pause = Some((self.mixer.open_mask(at), at));
        }
    }

    pub fn resume(&mut self, now: Instant) {
        if let Some((mask, start)) = self.pause.take() {
            let end = self.position_at(now).max(start);
            self.mixer.close_mask(mask, end);
            self.pauses.push((start, end));
        }
    }

    pub fn is_paused(&self) -> bool {
        self.pause.is_some()
    }

    /// The next chunk of the recording's byte stream.
    pub fn poll_output(&mut self) -> Option<Bytes> {
        self.output.pop_front()
    }

    /// Passes every pending chunk to `sink`.
    pub fn drain_into(&mut self, sink: &mut dyn RecordingSink) -> Result<(), RecorderError> {
        while let Some(chunk) = self.output.pop_front() {
            sink.write(&chunk)?;
        }
        Ok(())
    }

    /// Ends the recording at `now`; the last bytes are then in `poll_output`.
    pub fn finish(&mut self, now: Instant) -> Result<RecordingSummary, RecorderError> {
        if self.finished {
            return Err(RecorderError::Finished);
        }
        for leg in &mut self.legs {
            leg.finish(&mut self.mixer);
        }
        self.collect_key_presses();
        self.resume(now);
        let end = self.position_at(now).max(self.mixer.written_end());
        self.mix_to(end)?;
        let mut tail = Vec::new();
        if let Encoder::Opus(writer) = &mut self.encoder {
            writer.finish(&mut tail)?;
        }
        if !tail.is_empty() {
            self.output.push_back(Bytes::from(tail));
        }
        self.finished = true;
        let mut codecs = Vec::new();
        for codec in self.legs.iter().flat_map(|leg| leg.codecs_seen()) {
            if !codecs.contains(codec) {
                codecs.push(*codec);
            }
        }
        Ok(RecordingSummary {
            duration: Duration::from_nanos(
                (u128::from(end) * 1_000_000_000 / u128::from(self.rate)) as u64,
            ),
            sample_rate: self.rate,
            codecs,
            dtmf: self.dtmf.clone(),
            pauses: self
                .pauses
                .iter()
                .map(|&(start, end)| PauseSpan {
                    start_ms: self.millis(start),
                    end_ms: self.millis(end),
                })
                .collect(),
            packets: self.legs.iter().map(|leg| leg.stats().packets).sum(),
            lost: self.legs.iter().map(LegPipeline::lost).sum(),
            undecodable: self.raw.encodings(),
            raw_dropped: self.raw.dropped(),
        })
    }

    /// The undecodable packets kept so far (FORMAT.md §10 of the vault),
    /// or `None` when every packet had a decoder.
    pub fn raw_payloads(&self) -> Option<Vec<u8>> {
        (!self.raw.is_empty()).then(|| self.raw.to_bytes())
    }

    /// Datagrams that were not RTP.
    pub fn malformed_packets(&self) -> u64 {
        self.malformed
    }

    fn position_at(&self, instant: Instant) -> u64 {
        let elapsed = instant.saturating_duration_since(self.config.start);
        (elapsed.as_nanos() * u128::from(self.rate) / 1_000_000_000) as u64
    }

    fn millis(&self, position: u64) -> u64 {
        position.saturating_mul(1000) / u64::from(self.rate)
    }

    fn in_pause(&self, position: u64) -> bool {
        self.pause.is_some_and(|(_, start)| position >= start)
            || self
                .pauses
                .iter()
                .any(|&(start, end)| start <= position && position < end)
    }

    fn collect_key_presses(&mut self) {
        let paused_now = self.pause.is_some();
        let presses: Vec<KeyPress> = self
            .legs
            .iter_mut()
            .flat_map(LegPipeline::take_key_presses)
            .collect();
        for press in presses {
            if paused_now || self.in_pause(press.start) {
                continue;
            }
            self.dtmf.push(DtmfEvent {
                digit: press.digit,
                start_ms: self.millis(press.start),
                duration_ms: self.millis(press.length),
            });
        }
    }

    fn mix(&mut self, now: Instant) -> Result<(), RecorderError> {
        let delayed = now
            .checked_sub(self.config.mix_delay)
            .unwrap_or(self.config.start);
        let target = self.position_at(delayed);
        let step = self.position_at(self.config.start + MIX_STEP);
        if target >= self.mixer.mixed() + step {
            self.mix_to(target)?;
        }
        Ok(())
    }

    fn mix_to(&mut self, position: u64) -> Result<(), RecorderError> {
        for leg in &mut self.legs {
            leg.fill_comfort_noise(position, &mut self.mixer);
        }
        self.mixed.clear();
        self.mixer.mix_to(position, &mut self.mixed);
        if self.mixed.is_empty() {
            return Ok(());
        }
        let mut bytes = Vec::new();
        match &mut self.encoder {
            Encoder::Wav => write_pcm(&self.mixed, &mut bytes),
            Encoder::Opus(writer) => writer.write(&self.mixed, &mut bytes)?,
        }
        if !bytes.is_empty() {
            self.output.push_back(Bytes::from(bytes));
        }
        Ok(())
    }
}

fn leg_index(leg: Leg) -> usize {
    match leg {
        Leg::Caller => 0,
        Leg::Callee => 1,
    }
}
