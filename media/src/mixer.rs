//! Stereo mixer on the recording's time axis (samples since call start):
//! each leg writes where its audio belongs, and whatever nobody wrote is
//! silence. Masks silence both channels over a span (pauses, telephone-events)
//! or one channel (in-band DTMF, heard in one leg's audio only).

use crate::leg::Side;
use std::collections::VecDeque;

/// One channel's pending audio, from `base` on.
#[derive(Default)]
pub struct Track {
    base: u64,
    samples: VecDeque<f32>,
}

impl Track {
    /// Writes `samples` at `position`; anything before the already mixed part
    /// arrived too late and is dropped.
    pub fn write(&mut self, position: u64, samples: &[f32]) {
        let skip = self.base.saturating_sub(position) as usize;
        let Some(samples) = samples.get(skip..) else {
            return;
        };
        let start = (position.max(self.base) - self.base) as usize;
        if start > self.samples.len() {
            self.samples.resize(start, 0.0);
        }
        let overlap = (self.samples.len() - start).min(samples.len());
        for (slot, &sample) in self.samples.range_mut(start..start + overlap).zip(samples) {
            *slot = sample;
        }
        self.samples
            .extend(samples.get(overlap..).unwrap_or_default());
    }

    /// First position nothing has been written to yet.
    pub fn end(&self) -> u64 {
        self.base + self.samples.len() as u64
    }

    fn take(&mut self) -> f32 {
        self.base += 1;
        self.samples.pop_front().unwrap_or(0.0)
    }
}

/// Identifies a mask so it can be closed later.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaskId(u64);

struct Mask {
    id: MaskId,
    start: u64,
    end: u64,
    /// `None` silences both channels.
    side: Option<Side>,
}

impl Mask {
    fn silences(&self, side: Side, at: u64) -> bool {
        self.side.is_none_or(|only| only == side) && self.start <= at && at < self.end
    }
}

pub struct Mixer {
    pub left: Track,
    pub right: Track,
    masks: Vec<Mask>,
    next_mask: u64,
}

impl Default for Mixer {
    fn default() -> Self {
        Self::new()
    }
}

impl Mixer {
    pub fn new() -> Self {
        Self {
            left: Track::default(),
            right: Track::default(),
            masks: Vec::new(),
            next_mask: 0,
        }
    }

    /// Everything before this position has been mixed.
    pub fn mixed(&self) -> u64 {
        self.left.base
    }

    /// Position where the written audio of both channels ends.
    pub fn written_end(&self) -> u64 {
        self.left.end().max(self.right.end())
    }

    /// Silences both channels from `start` until the mask is closed.
    pub fn open_mask(&mut self, start: u64) -> MaskId {
        self.push_mask(start, None)
    }

    /// Silences one channel from `start` until the mask is closed.
    pub fn open_channel_mask(&mut self, side: Side, start: u64) -> MaskId {
        self.push_mask(start, Some(side))
    }

    fn push_mask(&mut self, start: u64, side: Option<Side>) -> MaskId {
        let id = MaskId(self.next_mask);
        self.next_mask += 1;
        self.masks.push(Mask {
            id,
            start,
            end: u64::MAX,
            side,
        });
        id
    }

    pub fn close_mask(&mut self, id: MaskId, end: u64) {
        if let Some(mask) = self.masks.iter_mut().find(|m| m.id == id) {
            mask.end = end;
        }
    }

    /// Interleaves left/right up to `position` as 16-bit samples.
    pub fn mix_to(&mut self, position: u64, out: &mut Vec<i16>) {
        let from = self.mixed();
        if position <= from {
            return;
        }
        out.reserve(2 * (position - from) as usize);
        for at in from..position {
            let (left, right) = (self.left.take(), self.right.take());
            let masked = |side| self.masks.iter().any(|m| m.silences(side, at));
            let left = if masked(Side::Left) { 0 } else { to_i16(left) };
            let right = if masked(Side::Right) {
                0
            } else {
                to_i16(right)
            };
            out.extend([left, right]);
        }
        self.masks.retain(|m| m.end > position);
    }
}

fn to_i16(sample: f32) -> i16 {
    sample
        .round()
        .clamp(f32::from(i16::MIN), f32::from(i16::MAX)) as i16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unwritten_spans_are_silence_and_late_audio_is_dropped() {
        let mut mixer = Mixer::new();
        mixer.left.write(2, &[1.0, 2.0]);
        mixer.right.write(3, &[5.0]);
        let mut out = Vec::new();
        mixer.mix_to(5, &mut out);
        assert_eq!(out, vec![0, 0, 0, 0, 1, 0, 2, 5, 0, 0]);
        mixer.left.write(3, &[9.0, 9.0, 7.0]);
        out.clear();
        mixer.mix_to(6, &mut out);
        assert_eq!(out, vec![7, 0]);
    }

    #[test]
    fn overlapping_writes_replace_and_masks_silence_both_channels() {
        let mut mixer = Mixer::new();
        mixer.left.write(0, &[1.0; 6]);
        mixer.left.write(4, &[3.0; 4]);
        mixer.right.write(0, &[2.0; 8]);
        let mask = mixer.open_mask(1);
        mixer.close_mask(mask, 3);
        let mut out = Vec::new();
        mixer.mix_to(8, &mut out);
        assert_eq!(out, vec![1, 2, 0, 0, 0, 0, 1, 2, 3, 2, 3, 2, 3, 2, 3, 2]);
        assert_eq!(mixer.mixed(), 8);
    }

    #[test]
    fn a_channel_mask_silences_that_channel_only() {
        let mut mixer = Mixer::new();
        mixer.left.write(0, &[1.0; 4]);
        mixer.right.write(0, &[2.0; 4]);
        let mask = mixer.open_channel_mask(Side::Right, 1);
        mixer.close_mask(mask, 3);
        let mut out = Vec::new();
        mixer.mix_to(4, &mut out);
        assert_eq!(out, vec![1, 2, 1, 0, 1, 0, 1, 2]);
    }
}
