//! In-band DTMF detection (sans-IO): Goertzel filters on the eight DTMF
//! frequencies over blocks of about 13 ms, with ITU-T Q.24-style checks.
//!
//! The detector runs on a leg's audio at the recording rate, after resampling,
//! so the positions it reports are track positions the mixer can mask directly.
//! A block holds a digit when one row and one column tone each stand clearly
//! above the rest of their group, their twist is within limits, and together
//! they carry most of the block's energy (speech and music spread theirs). A
//! digit is reported once three consecutive blocks (about 40 ms) agree.

/// Row (low group) frequencies in Hz.
const ROWS: [f32; 4] = [697.0, 770.0, 852.0, 941.0];
/// Column (high group) frequencies in Hz.
const COLUMNS: [f32; 4] = [1209.0, 1336.0, 1477.0, 1633.0];
const DIGITS: [[char; 4]; 4] = [
    ['1', '2', '3', 'A'],
    ['4', '5', '6', 'B'],
    ['7', '8', '9', 'C'],
    ['*', '0', '#', 'D'],
];

/// 105 samples at 8 kHz (13.1 ms): long enough to separate 697 from 770 Hz.
const BLOCK_SECONDS: f64 = 105.0 / 8000.0;
/// Consecutive matching blocks before a digit counts (about 40 ms).
const MIN_BLOCKS: u32 = 3;
/// The strongest tone of a group must exceed every other one by this (6 dB).
const GROUP_DOMINANCE: f32 = 4.0;
/// Column weaker than row by at most 8 dB.
const NORMAL_TWIST: f32 = 6.31;
/// Row weaker than column by at most 4 dB.
const REVERSE_TWIST: f32 = 2.51;
/// Share of the block's energy the two tones must carry. A block only partly
/// covered by a tone carries that share of it, so short bursts fall short.
const MIN_TONE_SHARE: f32 = 0.7;
/// Quietest tone accepted, as a mean square in 16-bit units (amplitude 200,
/// about -41 dBm0): below this, line noise could pass the ratio checks.
const MIN_TONE_POWER: f32 = 200.0 * 200.0 / 2.0;

/// A digit heard in the audio, in samples of the detector's rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ToneSpan {
    pub start: u64,
    pub end: u64,
    pub digit: char,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToneUpdate {
    /// A digit has lasted the minimum duration; it began at `start`.
    Started { start: u64, digit: char },
    /// The digit stopped, or the audio was interrupted.
    Ended(ToneSpan),
}

struct Candidate {
    digit: char,
    start: u64,
    blocks: u32,
}

pub struct InbandDtmfDetector {
    block_len: usize,
    /// 2·cos(2πf/rate) per frequency, rows then columns.
    coefficients: [f32; 8],
    /// Goertzel state (s[n-1], s[n-2]) per frequency.
    state: [(f32, f32); 8],
    energy: f32,
    filled: usize,
    block_start: u64,
    next_position: u64,
    candidate: Option<Candidate>,
}

impl InbandDtmfDetector {
    pub fn new(rate: u32) -> Self {
        let rate = rate.max(1);
        let block_len = ((f64::from(rate) * BLOCK_SECONDS).round() as usize).max(1);
        let mut coefficients = [0.0; 8];
        for (coefficient, frequency) in coefficients.iter_mut().zip(ROWS.iter().chain(&COLUMNS)) {
            let omega = 2.0 * std::f64::consts::PI * f64::from(*frequency) / f64::from(rate);
            *coefficient = (2.0 * omega.cos()) as f32;
        }
        Self {
            block_len,
            coefficients,
            state: [(0.0, 0.0); 8],
            energy: 0.0,
            filled: 0,
            block_start: 0,
            next_position: 0,
            candidate: None,
        }
    }

    /// Samples per analysis block.
    pub fn block_len(&self) -> usize {
        self.block_len
    }

    /// Feeds `samples` that sit at `position`. Audio that does not continue the
    /// previous call's ends any tone in progress first.
    pub fn process(&mut self, position: u64, samples: &[f32], updates: &mut Vec<ToneUpdate>) {
        if position != self.next_position {
            self.flush(updates);
            self.block_start = position;
        }
        for &sample in samples {
            for ((s1, s2), coefficient) in self.state.iter_mut().zip(&self.coefficients) {
                let s0 = sample + coefficient * *s1 - *s2;
                *s2 = *s1;
                *s1 = s0;
            }
            self.energy += sample * sample;
            self.filled += 1;
            if self.filled == self.block_len {
                self.end_block(updates);
            }
        }
        self.next_position = position + samples.len() as u64;
    }

    /// End of the audio: a tone in progress ends where the audio stopped; a
    /// partial block is dropped.
    pub fn flush(&mut self, updates: &mut Vec<ToneUpdate>) {
        self.reset_block();
        self.end_candidate(self.block_start, updates);
        self.block_start = self.next_position;
    }

    fn reset_block(&mut self) {
        self.state = [(0.0, 0.0); 8];
        self.energy = 0.0;
        self.filled = 0;
    }

    fn end_block(&mut self, updates: &mut Vec<ToneUpdate>) {
        let digit = self.block_digit();
        let start = self.block_start;
        let end = start + self.block_len as u64;
        self.reset_block();
        self.block_start = end;
        match (&mut self.candidate, digit) {
            (Some(candidate), Some(digit)) if candidate.digit == digit => {
                candidate.blocks += 1;
                if candidate.blocks == MIN_BLOCKS {
                    updates.push(ToneUpdate::Started {
                        start: candidate.start,
                        digit,
                    });
                }
            }
            _ => {
                self.end_candidate(start, updates);
                self.candidate = digit.map(|digit| Candidate {
                    digit,
                    start,
                    blocks: 1,
                });
            }
        }
    }

    fn end_candidate(&mut self, end: u64, updates: &mut Vec<ToneUpdate>) {
        if let Some(candidate) = self.candidate.take() {
            if candidate.blocks >= MIN_BLOCKS {
                updates.push(ToneUpdate::Ended(ToneSpan {
                    start: candidate.start,
                    end,
                    digit: candidate.digit,
                }));
            }
        }
    }

    /// The digit this block carries, if it passes every check.
    fn block_digit(&self) -> Option<char> {
        let n = self.block_len as f32;
        let mut powers = [0.0f32; 8];
        for ((power, (s1, s2)), coefficient) in
            powers.iter_mut().zip(&self.state).zip(&self.coefficients)
        {
            // |X(f)|² scaled so that a sine of amplitude A reads A²/2, its mean square.
            let magnitude = s1 * s1 + s2 * s2 - coefficient * s1 * s2;
            *power = 2.0 * magnitude / (n * n);
        }
        let (row_powers, column_powers) = powers.split_at(4);
        let (row, row_power) = dominant(row_powers)?;
        let (column, column_power) = dominant(column_powers)?;
        if row_power < MIN_TONE_POWER || column_power < MIN_TONE_POWER {
            return None;
        }
        if column_power * NORMAL_TWIST < row_power || row_power * REVERSE_TWIST < column_power {
            return None;
        }
        let mean_square = self.energy / n;
        if row_power + column_power < MIN_TONE_SHARE * mean_square {
            return None;
        }
        DIGITS.get(row)?.get(column).copied()
    }
}

/// The index and power of the group's strongest tone, if it clearly dominates.
fn dominant(powers: &[f32]) -> Option<(usize, f32)> {
    let (index, &strongest) = powers
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))?;
    let clear = powers
        .iter()
        .enumerate()
        .all(|(other, &power)| other == index || power * GROUP_DOMINANCE < strongest);
    clear.then_some((index, strongest))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(rate: u32, low: f32, high: f32, seconds: f32, amplitude: f32) -> Vec<f32> {
        let count = (seconds * rate as f32) as usize;
        (0..count)
            .map(|n| {
                let t = n as f32 / rate as f32;
                amplitude
                    * ((2.0 * std::f32::consts::PI * low * t).sin()
                        + (2.0 * std::f32::consts::PI * high * t).sin())
            })
            .collect()
    }

    fn run(rate: u32, audio: &[f32]) -> Vec<ToneUpdate> {
        let mut detector = InbandDtmfDetector::new(rate);
        let mut updates = Vec::new();
        for (index, chunk) in audio.chunks(rate as usize / 50).enumerate() {
            let position = (index * (rate as usize / 50)) as u64;
            detector.process(position, chunk, &mut updates);
        }
        detector.flush(&mut updates);
        updates
    }

    #[test]
    fn a_tone_is_started_then_ended_with_its_span_at_every_recording_rate() {
        for rate in [8000, 16_000, 48_000] {
            let mut audio = vec![0.0; rate as usize / 10];
            audio.extend(tone(rate, 852.0, 1477.0, 0.1, 6000.0));
            audio.extend(vec![0.0; rate as usize / 10]);
            let updates = run(rate, &audio);
            assert_eq!(updates.len(), 2, "{rate}: {updates:?}");
            let ToneUpdate::Ended(span) = updates[1] else {
                panic!("{rate}: {updates:?}");
            };
            assert_eq!(
                updates[0],
                ToneUpdate::Started {
                    start: span.start,
                    digit: '9'
                }
            );
            assert_eq!(span.digit, '9');
            let (tone_start, tone_end) = (u64::from(rate) / 10, u64::from(rate) / 5);
            let block = InbandDtmfDetector::new(rate).block_len() as u64;
            assert!(
                span.start >= tone_start.saturating_sub(block) && span.start <= tone_start + block
            );
            assert!(
                span.end <= tone_end + block && span.end + block >= tone_end,
                "{rate}: {span:?}"
            );
        }
    }

    #[test]
    fn a_gap_in_positions_ends_the_tone_where_the_audio_stopped() {
        let audio = tone(8000, 697.0, 1209.0, 0.1, 6000.0);
        let mut detector = InbandDtmfDetector::new(8000);
        let mut updates = Vec::new();
        detector.process(0, &audio, &mut updates);
        detector.process(10_000, &audio[..100], &mut updates);
        assert!(matches!(
            updates[0],
            ToneUpdate::Started {
                start: 0,
                digit: '1'
            }
        ));
        assert!(
            matches!(updates[1], ToneUpdate::Ended(ToneSpan { start: 0, end, digit: '1' }) if (700..=800).contains(&end))
        );
    }
}
