//! Test signals and how a recording is compared with them: a frequency sweep,
//! its G.729 encoding, normalised cross-correlation, RMS level, and the
//! channels of a WAV recording.

use std::ops::Range;

use bcg729_sys::{EncoderChannel, FRAME_SAMPLES, SPEECH_FRAME_BYTES};
use greffier_media::wav_fix_sizes;

/// A 300 → 1800 Hz sweep at 8 kHz with a slow swell: one best alignment with
/// its recording, unlike a steady tone.
pub fn sweep(samples: usize) -> Vec<i16> {
    let mut phase = 0f64;
    (0..samples)
        .map(|n| {
            let progress = n as f64 / samples as f64;
            phase += 2.0 * std::f64::consts::PI * (300.0 + 1500.0 * progress) / 8000.0;
            let swell = 0.5 + 0.5 * (std::f64::consts::PI * progress).sin();
            (8000.0 * swell * phase.sin()) as i16
        })
        .collect()
}

/// Encodes `signal` with bcg729 (Annex A, no VAD) into payloads of two frames
/// (20 ms) each.
pub fn encode_g729(signal: &[i16]) -> Vec<Vec<u8>> {
    let mut encoder = EncoderChannel::new(false).expect("a G.729 encoder");
    signal
        .chunks_exact(2 * FRAME_SAMPLES)
        .map(|packet| {
            let mut payload = Vec::new();
            for frame in packet.chunks_exact(FRAME_SAMPLES) {
                let mut bits = [0u8; SPEECH_FRAME_BYTES];
                payload.extend_from_slice(
                    encoder.encode(frame.try_into().expect("one frame"), &mut bits),
                );
            }
            payload
        })
        .collect()
}

/// Normalised cross-correlation of `reference` with `recorded` at the best of
/// `offsets` (positions in `recorded` where `reference` would start).
pub fn correlation_over(reference: &[i16], recorded: &[i16], offsets: Range<usize>) -> f64 {
    offsets
        .map(|offset| {
            let (mut xy, mut xx, mut yy) = (0f64, 0f64, 0f64);
            for (&x, &y) in reference.iter().zip(recorded.iter().skip(offset)) {
                let (x, y) = (f64::from(x), f64::from(y));
                xy += x * y;
                xx += x * x;
                yy += y * y;
            }
            xy / (xx * yy).sqrt().max(1.0)
        })
        .fold(f64::MIN, f64::max)
}

/// [`correlation_over`] every offset at which `reference` fits in `recorded`.
pub fn best_correlation(reference: &[i16], recorded: &[i16]) -> f64 {
    correlation_over(
        reference,
        recorded,
        0..recorded.len().saturating_sub(reference.len()),
    )
}

/// [`correlation_over`] the offsets near where `channel`'s sound starts (the
/// first non-zero sample, give or take the jitter buffer's delay).
pub fn correlation_near_first_sound(reference: &[i16], channel: &[i16]) -> f64 {
    let first_sound = channel
        .iter()
        .position(|&sample| sample != 0)
        .expect("sound in the channel");
    correlation_over(
        reference,
        channel,
        first_sound.saturating_sub(400)..first_sound + 800,
    )
}

/// Left and right channels of a streamed WAV recording, read back with hound.
pub fn wav_channels(bytes: &[u8]) -> (hound::WavSpec, Vec<i16>, Vec<i16>) {
    let mut fixed = bytes.to_vec();
    wav_fix_sizes(&mut fixed).expect("canonical header");
    let mut reader = hound::WavReader::new(std::io::Cursor::new(fixed)).expect("hound reads it");
    let spec = reader.spec();
    let samples: Vec<i16> = reader
        .samples::<i16>()
        .map(|s| s.expect("sample"))
        .collect();
    let left = samples.iter().step_by(2).copied().collect();
    let right = samples.iter().skip(1).step_by(2).copied().collect();
    (spec, left, right)
}

pub fn rms(samples: &[i16]) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    (samples.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / samples.len() as f64).sqrt()
}
