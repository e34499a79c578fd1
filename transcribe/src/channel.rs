//! One channel of a call as it is sent: the spans that must not leave the
//! gateway (recording paused, DTMF masked) cut out, and the way back from a
//! time in the audio sent to a time in the call.
//!
//! Cutting rather than sending the silence the recording holds there: a
//! provider never learns where or how long the call was paused, and a
//! recogniser fed long digital silence tends to invent words.

use crate::transcript::ChannelTranscript;

/// A span of the call, in seconds from the start of the recording.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Span {
    pub start: f64,
    pub end: f64,
}

/// A piece of the call that was kept: `len` seconds that start at `call`
/// in the call and at `sent` in the audio sent.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Piece {
    call: f64,
    sent: f64,
    len: f64,
}

/// A channel with its cuts made.
#[derive(Debug, Clone, PartialEq)]
pub struct CutChannel {
    /// The samples to send, at the rate of the input.
    pub samples: Vec<f32>,
    pub rate: u32,
    pieces: Vec<Piece>,
}

/// Cuts `spans` (in any order, overlapping or not, partly outside the
/// audio) out of `samples` at `rate` Hz.
pub fn cut_channel(samples: &[f32], rate: u32, spans: &[Span]) -> CutChannel {
    let total = samples.len();
    let to_index = |seconds: f64| -> usize {
        if !seconds.is_finite() || seconds <= 0.0 {
            0
        } else {
            ((seconds * f64::from(rate)).round() as usize).min(total)
        }
    };
    let mut cuts: Vec<(usize, usize)> = spans
        .iter()
        .map(|span| (to_index(span.start), to_index(span.end)))
        .filter(|(start, end)| start < end)
        .collect();
    cuts.sort_unstable();
    let mut kept = Vec::with_capacity(total);
    let mut pieces = Vec::new();
    let mut at = 0;
    let seconds = |samples: usize| samples as f64 / f64::from(rate.max(1));
    let mut keep = |from: usize, to: usize, kept: &mut Vec<f32>| {
        if from < to {
            pieces.push(Piece {
                call: seconds(from),
                sent: seconds(kept.len()),
                len: seconds(to - from),
            });
            kept.extend_from_slice(&samples[from..to]);
        }
    };
    for (start, end) in cuts {
        if start > at {
            keep(at, start, &mut kept);
        }
        at = at.max(end);
    }
    keep(at, total, &mut kept);
    CutChannel {
        samples: kept,
        rate,
        pieces,
    }
}

impl CutChannel {
    /// Seconds of audio sent.
    pub fn seconds(&self) -> f64 {
        self.samples.len() as f64 / f64::from(self.rate.max(1))
    }

    /// The call time of `sent` seconds into the audio sent. A time at a
    /// cut belongs to the piece it ends (a word ending at a cut ends there).
    pub fn call_time(&self, sent: f64) -> f64 {
        let sent = if sent.is_finite() { sent.max(0.0) } else { 0.0 };
        let piece = self
            .pieces
            .iter()
            .find(|piece| sent <= piece.sent + piece.len)
            .or(self.pieces.last());
        match piece {
            Some(piece) => piece.call + (sent - piece.sent).clamp(0.0, piece.len),
            None => 0.0,
        }
    }

    /// The provider's answer for this channel, its times moved back to the
    /// call's. A segment that straddles a cut keeps its start and end: the
    /// cut span lies inside it.
    pub fn to_call_times(&self, mut transcript: ChannelTranscript) -> ChannelTranscript {
        for segment in &mut transcript.segments {
            let start = self.call_time(segment.start);
            // An end exactly at a cut maps to the end of the piece before it.
            let end = self.call_time(segment.end).max(start);
            segment.start = start;
            segment.end = end;
        }
        transcript
    }
}

/// Root mean square of `samples` in [-1, 1].
pub fn rms(samples: &[f32]) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let sum: f64 = samples.iter().map(|s| f64::from(*s) * f64::from(*s)).sum();
    (sum / samples.len() as f64).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transcript::Segment;

    fn ramp(len: usize) -> Vec<f32> {
        (0..len).map(|i| i as f32).collect()
    }

    #[test]
    fn cuts_spans_and_maps_times_back() {
        // 10 samples a second: easy arithmetic.
        let audio = ramp(100);
        let cut = cut_channel(
            &audio,
            10,
            &[
                Span {
                    start: 2.0,
                    end: 3.0,
                },
                Span {
                    start: 6.0,
                    end: 8.0,
                },
            ],
        );
        assert_eq!(cut.samples.len(), 70);
        assert_eq!(cut.samples[19], 19.0);
        assert_eq!(cut.samples[20], 30.0, "the first cut is gone");
        assert_eq!(cut.samples[50], 80.0, "the second cut is gone");
        assert_eq!(cut.seconds(), 7.0);
        assert_eq!(cut.call_time(1.0), 1.0);
        assert_eq!(cut.call_time(2.5), 3.5);
        assert_eq!(cut.call_time(5.5), 8.5);
        assert_eq!(cut.call_time(7.0), 10.0);
        assert_eq!(cut.call_time(99.0), 10.0, "past the end clamps");
        assert_eq!(cut.call_time(f64::NAN), 0.0);
    }

    #[test]
    fn overlapping_unsorted_and_outside_spans() {
        let audio = ramp(100);
        let cut = cut_channel(
            &audio,
            10,
            &[
                Span {
                    start: 5.0,
                    end: 7.0,
                },
                Span {
                    start: 4.0,
                    end: 6.0,
                },
                Span {
                    start: 9.5,
                    end: 40.0,
                },
                Span {
                    start: -3.0,
                    end: 0.5,
                },
                Span {
                    start: 3.0,
                    end: 2.0,
                },
            ],
        );
        // Kept: 0.5–4.0 and 7.0–9.5.
        assert_eq!(cut.samples.len(), 35 + 25);
        assert_eq!(cut.samples[0], 5.0);
        assert_eq!(cut.call_time(0.0), 0.5);
        assert_eq!(cut.call_time(3.5), 4.0);
        assert_eq!(cut.call_time(3.6), 7.1);
    }

    #[test]
    fn nothing_to_cut_keeps_everything_and_times_unchanged() {
        let audio = ramp(50);
        let cut = cut_channel(&audio, 10, &[]);
        assert_eq!(cut.samples, audio);
        assert_eq!(cut.call_time(3.3), 3.3);
        let everything = cut_channel(
            &audio,
            10,
            &[Span {
                start: 0.0,
                end: 5.0,
            }],
        );
        assert!(everything.samples.is_empty());
        assert_eq!(everything.call_time(1.0), 0.0);
    }

    #[test]
    fn segments_move_back_to_call_time() {
        let cut = cut_channel(
            &ramp(100),
            10,
            &[Span {
                start: 2.0,
                end: 5.0,
            }],
        );
        let transcript = ChannelTranscript {
            language: None,
            text: None,
            segments: vec![
                Segment {
                    speaker: None,
                    start: 0.5,
                    end: 1.5,
                    text: "before".into(),
                },
                Segment {
                    speaker: None,
                    start: 1.5,
                    end: 3.0,
                    text: "across".into(),
                },
            ],
        };
        let moved = cut.to_call_times(transcript);
        assert_eq!((moved.segments[0].start, moved.segments[0].end), (0.5, 1.5));
        assert_eq!((moved.segments[1].start, moved.segments[1].end), (1.5, 6.0));
    }

    #[test]
    fn rms_of_a_square_wave() {
        assert_eq!(rms(&[]), 0.0);
        assert!((rms(&[0.5, -0.5, 0.5, -0.5]) - 0.5).abs() < 1e-9);
    }
}
