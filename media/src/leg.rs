//! One direction of a call: jitter buffer, timeline, decoders, resampler.
//!
//! RTP timestamps place audio on the recording's time axis, anchored on the
//! arrival time of the first packet. Where the timestamps stop agreeing with
//! arrival times by more than `restart_after` (a re-INVITE, a transfer, a new
//! SSRC), the leg re-anchors on arrival instead of inserting the jump as silence.

use crate::codec::{Codec, CodecMap, ComfortNoise, DecodeError, Decoder};
use crate::dtmf::{DtmfTracker, DtmfUpdate, KeyPress, TelephoneEvent};
use crate::inband_dtmf::{InbandDtmfDetector, ToneUpdate};
use crate::jitter::{JitterBuffer, JitterConfig, Released};
use crate::mixer::{MaskId, Mixer};
use crate::resample::Resampler;
use crate::rtp_header::RtpPacket;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Audio masked on each side of a telephone-event when DTMF masking is on.
const DTMF_MASK_MARGIN: Duration = Duration::from_millis(40);
/// Audio masked on each side of an in-band tone: the detector places a tone's
/// edges to within a block (13 ms).
const INBAND_MASK_GUARD: Duration = Duration::from_millis(20);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Left,
    Right,
}

#[derive(Debug, Clone)]
pub struct LegConfig {
    pub codecs: CodecMap,
    pub jitter: JitterConfig,
    pub start: Instant,
    pub rate: u32,
    pub side: Side,
    pub mask_dtmf: bool,
    pub restart_after: Duration,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct LegStats {
    pub packets: u64,
    pub unknown_payload_type: u64,
    pub undecodable: u64,
    pub restarts: u64,
}

/// Maps the RTP timestamps of one stream onto recording positions.
struct Anchor {
    position: i64,
    origin: i64,
    last_timestamp: u32,
    last_extended: i64,
    clock_rate: u32,
}

impl Anchor {
    fn new(position: u64, timestamp: u32, clock_rate: u32) -> Self {
        Self {
            position: position as i64,
            origin: i64::from(timestamp),
            last_timestamp: timestamp,
            last_extended: i64::from(timestamp),
            clock_rate,
        }
    }

    fn extend(&mut self, timestamp: u32) -> i64 {
        let delta = timestamp.wrapping_sub(self.last_timestamp) as i32;
        self.last_timestamp = timestamp;
        self.last_extended += i64::from(delta);
        self.last_extended
    }

    fn position_of(&self, extended: i64, rate: u32) -> i64 {
        let offset = i128::from(extended - self.origin) * i128::from(rate)
            / i128::from(self.clock_rate.max(1));
        let position = i128::from(self.position) + offset;
        position.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
    }
}

/// A stretch of continuous decoded audio being resampled into the track.
struct AudioRun {
    decoded_rate: u32,
    clock_rate: u32,
    first_timestamp: i64,
    decoded: u64,
    output_position: u64,
    resampler: Resampler,
}

pub struct LegPipeline {
    config: LegConfig,
    jitter: JitterBuffer,
    anchor: Option<Anchor>,
    run: Option<AudioRun>,
    decoders: HashMap<u8, Box<dyn Decoder>>,
    comfort_noise: Option<ComfortNoise>,
    dtmf: DtmfTracker,
    dtmf_mask: Option<MaskId>,
    key_presses: Vec<KeyPress>,
    /// Present only with DTMF masking: in-band digits are masked, never reported.
    inband: Option<InbandDtmfDetector>,
    inband_mask: Option<MaskId>,
    tone_updates: Vec<ToneUpdate>,
    codecs_seen: Vec<Codec>,
    stats: LegStats,
    decoded: Vec<i16>,
    converted: Vec<f32>,
    resampled: Vec<f32>,
}

impl LegPipeline {
    pub fn new(config: LegConfig) -> Self {
        Self {
            jitter: JitterBuffer::new(config.jitter),
            dtmf: DtmfTracker::new(config.rate),
            inband: config
                .mask_dtmf
                .then(|| InbandDtmfDetector::new(config.rate)),
            inband_mask: None,
            tone_updates: Vec::new(),
            config,
            anchor: None,
            run: None,
            decoders: HashMap::new(),
            comfort_noise: None,
            dtmf_mask: None,
            key_presses: Vec::new(),
            codecs_seen: Vec::new(),
            stats: LegStats::default(),
            decoded: Vec::new(),
            converted: Vec::new(),
            resampled: Vec::new(),
        }
    }

    pub fn stats(&self) -> LegStats {
        self.stats
    }

    pub fn lost(&self) -> u64 {
        self.jitter.stats().lost
    }

    pub fn codecs_seen(&self) -> &[Codec] {
        &self.codecs_seen
    }

    /// Key presses completed since the last call.
    pub fn take_key_presses(&mut self) -> Vec<KeyPress> {
        std::mem::take(&mut self.key_presses)
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.jitter.poll_timeout()
    }

    pub fn handle_packet(&mut self, now: Instant, packet: &RtpPacket<'_>, mixer: &mut Mixer) {
        self.stats.packets += 1;
        self.jitter.push(now, packet);
        self.handle_timeout(now, mixer);
    }

    pub fn handle_timeout(&mut self, now: Instant, mixer: &mut Mixer) {
        while let Some(released) = self.jitter.pop_ready(now) {
            self.play(released, mixer);
        }
    }

    /// Releases everything held and completes the audio and key presses in flight.
    pub fn finish(&mut self, mixer: &mut Mixer) {
        for released in self.jitter.drain() {
            self.play(released, mixer);
        }
        self.end_run(mixer);
        if let Some(detector) = self.inband.as_mut() {
            detector.flush(&mut self.tone_updates);
            self.apply_tone_updates(mixer);
        }
        if let Some(DtmfUpdate::Finished(press)) = self.dtmf.finish() {
            self.finish_key_press(press, mixer);
        }
    }

    /// Extends comfort noise up to `position` before it is mixed: the packet
    /// that ends the noise may come long after the mix has passed.
    pub fn fill_comfort_noise(&mut self, position: u64, mixer: &mut Mixer) {
        let (Some(noise), Some(run)) = (self.comfort_noise.as_mut(), self.run.as_ref()) else {
            return;
        };
        let missing = position.saturating_sub(run.output_position);
        let samples = missing * u64::from(run.decoded_rate) / u64::from(self.config.rate);
        if samples == 0 {
            return;
        }
        self.decoded.clear();
        noise.fill(samples as usize, &mut self.decoded);
        self.feed_run(mixer);
    }

    fn position_at(&self, instant: Instant) -> u64 {
        let elapsed = instant.saturating_duration_since(self.config.start);
        (elapsed.as_nanos() * u128::from(self.config.rate) / 1_000_000_000) as u64
    }

    fn samples_in(&self, duration: Duration) -> i64 {
        (duration.as_nanos() * u128::from(self.config.rate) / 1_000_000_000) as i64
    }

    fn play(&mut self, released: Released, mixer: &mut Mixer) {
        let packet = &released.packet;
        let Some(codec) = self.config.codecs.get(packet.payload_type) else {
            self.stats.unknown_payload_type += 1;
            return;
        };
        if !self.codecs_seen.contains(&codec) {
            self.codecs_seen.push(codec);
        }
        let arrival = self.position_at(packet.arrival);
        if let Codec::TelephoneEvent { clock_rate } = codec {
            if released.restart || self.anchor.is_none() {
                self.reanchor(arrival, packet.timestamp, clock_rate, mixer);
            }
            let Some(mut position) = self.place(packet.timestamp) else {
                return;
            };
            // An event keeps its start timestamp while the key is down (up to
            // the 16-bit duration field), so only a larger disagreement means
            // the timeline no longer holds.
            let longest_event =
                Duration::from_secs_f64(f64::from(u16::MAX) / f64::from(clock_rate.max(1)));
            let tolerance = self.samples_in(self.config.restart_after + longest_event);
            if (position - arrival as i64).abs() > tolerance {
                self.stats.restarts += 1;
                self.reanchor(arrival, packet.timestamp, clock_rate, mixer);
                position = arrival as i64;
            }
            self.handle_telephone_event(&released, clock_rate, position.max(0) as u64, mixer);
            return;
        }
        let clock_rate = codec.rtp_clock_rate();
        let needs_anchor = released.restart
            || self
                .anchor
                .as_ref()
                .is_none_or(|anchor| anchor.clock_rate != clock_rate);
        if needs_anchor {
            self.reanchor(arrival, packet.timestamp, clock_rate, mixer);
        }
        let Some(mut position) = self.place(packet.timestamp) else {
            return;
        };
        let disagreement = position.saturating_sub(arrival as i64).saturating_abs();
        let behind_mix = position < mixer.mixed() as i64;
        if disagreement > self.samples_in(self.config.restart_after) || behind_mix {
            self.stats.restarts += 1;
            self.reanchor(arrival, packet.timestamp, clock_rate, mixer);
            position = arrival as i64;
        }
        let position = position.max(0) as u64;
        if codec == Codec::ComfortNoise {
            self.comfort_noise = Some(ComfortNoise::from_payload(&packet.payload));
            return;
        }
        if self.play_audio(&released, codec, position, mixer).is_err() {
            self.stats.undecodable += 1;
        }
        self.comfort_noise = None;
    }

    fn reanchor(&mut self, arrival: u64, timestamp: u32, clock_rate: u32, mixer: &mut Mixer) {
        self.end_run(mixer);
        self.anchor = Some(Anchor::new(arrival, timestamp, clock_rate));
    }

    fn place(&mut self, timestamp: u32) -> Option<i64> {
        let rate = self.config.rate;
        let anchor = self.anchor.as_mut()?;
        let extended = anchor.extend(timestamp);
        Some(anchor.position_of(extended, rate))
    }

    fn handle_telephone_event(
        &mut self,
        released: &Released,
        clock_rate: u32,
        position: u64,
        mixer: &mut Mixer,
    ) {
        let packet = &released.packet;
        let Ok(event) = TelephoneEvent::parse(&packet.payload) else {
            self.stats.undecodable += 1;
            return;
        };
        for update in self
            .dtmf
            .handle(packet.ssrc, packet.timestamp, clock_rate, position, event)
        {
            match update {
                DtmfUpdate::Started { start } => {
                    if self.config.mask_dtmf && self.dtmf_mask.is_none() {
                        let margin = self.samples_in(DTMF_MASK_MARGIN) as u64;
                        self.dtmf_mask = Some(mixer.open_mask(start.saturating_sub(margin)));
                    }
                }
                DtmfUpdate::Finished(press) => self.finish_key_press(press, mixer),
            }
        }
    }

    fn finish_key_press(&mut self, press: KeyPress, mixer: &mut Mixer) {
        if let Some(mask) = self.dtmf_mask.take() {
            let margin = self.samples_in(DTMF_MASK_MARGIN) as u64;
            mixer.close_mask(
                mask,
                press
                    .start
                    .saturating_add(press.length)
                    .saturating_add(margin),
            );
        }
        self.key_presses.push(press);
    }

    fn play_audio(
        &mut self,
        released: &Released,
        codec: Codec,
        position: u64,
        mixer: &mut Mixer,
    ) -> Result<(), DecodeError> {
        let packet = &released.packet;
        let Some(decoded_rate) = codec.decoded_rate() else {
            return Ok(());
        };
        let extended = self.anchor.as_ref().map_or(0, |a| a.last_extended);
        let fits_run = self.run.as_ref().is_some_and(|run| {
            run.decoded_rate == decoded_rate && run.clock_rate == codec.rtp_clock_rate()
        });
        if !fits_run {
            self.start_run(codec, decoded_rate, extended, position, mixer);
        }
        let max_fill =
            self.config.restart_after.as_millis() as i64 * i64::from(decoded_rate) / 1000;
        let gap = self.run.as_ref().map_or(0, |run| {
            let expected = (extended - run.first_timestamp) * i64::from(decoded_rate)
                / i64::from(run.clock_rate.max(1));
            expected - run.decoded as i64
        });
        // The anchor check keeps the gap within real elapsed time, so comfort
        // noise may fill all of it.
        let gap = if gap > max_fill && self.comfort_noise.is_none() {
            // A long silence (hold, DTX): the track is silent there already.
            self.start_run(codec, decoded_rate, extended, position, mixer);
            0
        } else {
            gap
        };
        let decoder = match self.decoders.entry(packet.payload_type) {
            std::collections::hash_map::Entry::Occupied(entry) => entry.into_mut(),
            std::collections::hash_map::Entry::Vacant(entry) => match codec.decoder()? {
                Some(decoder) => entry.insert(decoder),
                None => return Ok(()),
            },
        };
        self.decoded.clear();
        if gap > 0 {
            let gap = gap as usize;
            match self.comfort_noise.as_mut() {
                Some(noise) => noise.fill(gap, &mut self.decoded),
                None if released.lost_before > 0 => decoder.conceal(gap, &mut self.decoded)?,
                None => decoder.fill_silence(gap, &mut self.decoded)?,
            }
        }
        let filled = self.decoded.len();
        if let Err(error) = decoder.decode(&packet.payload, &mut self.decoded) {
            self.decoded.truncate(filled);
            self.feed_run(mixer);
            return Err(error);
        }
        if gap < 0 {
            // Overlaps audio already played: keep only the new part.
            let overlap = (gap.unsigned_abs() as usize).min(self.decoded.len());
            self.decoded.drain(..overlap);
        }
        self.feed_run(mixer);
        Ok(())
    }

    fn start_run(
        &mut self,
        codec: Codec,
        decoded_rate: u32,
        extended: i64,
        position: u64,
        mixer: &mut Mixer,
    ) {
        self.end_run(mixer);
        self.run = Some(AudioRun {
            decoded_rate,
            clock_rate: codec.rtp_clock_rate(),
            first_timestamp: extended,
            decoded: 0,
            output_position: position,
            resampler: Resampler::new(decoded_rate, self.config.rate),
        });
    }

    fn feed_run(&mut self, mixer: &mut Mixer) {
        let Some(run) = self.run.as_mut() else {
            return;
        };
        run.decoded += self.decoded.len() as u64;
        self.converted.clear();
        self.converted
            .extend(self.decoded.iter().map(|&s| f32::from(s)));
        self.resampled.clear();
        run.resampler.process(&self.converted, &mut self.resampled);
        let position = run.output_position;
        run.output_position += self.resampled.len() as u64;
        self.write_resampled(position, mixer);
    }

    fn end_run(&mut self, mixer: &mut Mixer) {
        let Some(mut run) = self.run.take() else {
            return;
        };
        self.resampled.clear();
        run.resampler.flush(&mut self.resampled);
        self.write_resampled(run.output_position, mixer);
    }

    fn write_resampled(&mut self, position: u64, mixer: &mut Mixer) {
        if self.resampled.is_empty() {
            return;
        }
        write_side(mixer, self.config.side, position, &self.resampled);
        if let Some(detector) = self.inband.as_mut() {
            detector.process(position, &self.resampled, &mut self.tone_updates);
            self.apply_tone_updates(mixer);
        }
    }

    /// Masks the leg's channel over each in-band tone. The tone is known only
    /// after its minimum duration, so its start is masked retroactively, in
    /// audio the mixer has not written yet.
    fn apply_tone_updates(&mut self, mixer: &mut Mixer) {
        let guard = self.samples_in(INBAND_MASK_GUARD) as u64;
        for update in self.tone_updates.drain(..) {
            match update {
                ToneUpdate::Started { start, .. } => {
                    if self.inband_mask.is_none() {
                        let start = start.saturating_sub(guard);
                        self.inband_mask = Some(mixer.open_channel_mask(self.config.side, start));
                    }
                }
                ToneUpdate::Ended(span) => {
                    if let Some(mask) = self.inband_mask.take() {
                        mixer.close_mask(mask, span.end.saturating_add(guard));
                    }
                }
            }
        }
    }
}

fn write_side(mixer: &mut Mixer, side: Side, position: u64, samples: &[f32]) {
    match side {
        Side::Left => mixer.left.write(position, samples),
        Side::Right => mixer.right.write(position, samples),
    }
}
