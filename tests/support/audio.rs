//! Test audio that can be found again after a trip through G.711: a
//! band-limited pseudo-random signal (its autocorrelation has one sharp peak,
//! so the delay of a received copy is unambiguous), and the normalised
//! cross-correlation that finds that delay and says how alike the copy is.

use std::path::Path;

/// The rate of every test signal and of G.711.
pub(crate) const RATE: usize = 8000;
/// Peak amplitude of the test signal: loud, but far from clipping, so that
/// G.711's companding is the only distortion.
const AMPLITUDE: f64 = 12_000.0;
/// The coarse search runs on averages of this many samples.
const DECIMATION: usize = 4;

/// `seconds` of low-passed white noise from `seed`: each seed gives another
/// signal, uncorrelated with the others.
pub(crate) fn noise(seed: u64, seconds: f64) -> Vec<i16> {
    let len = (seconds * RATE as f64) as usize;
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut smoothed = 0.0_f64;
    (0..len)
        .map(|_| {
            // xorshift64*: a fixed, portable sequence.
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            let draw = state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11;
            let white = draw as f64 / (1u64 << 53) as f64 * 2.0 - 1.0;
            // One pole at 0.7: most energy below 1 kHz, as in speech.
            smoothed = 0.7 * smoothed + 0.3 * white;
            (smoothed * AMPLITUDE * 2.0).clamp(-32_000.0, 32_000.0) as i16
        })
        .collect()
}

/// Writes `samples` as a 16-bit mono WAV at 8 kHz.
pub(crate) fn write_wav(path: &Path, samples: &[i16]) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: RATE as u32,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::create(path, spec)
        .unwrap_or_else(|error| panic!("create {}: {error}", path.display()));
    for sample in samples {
        writer.write_sample(*sample).expect("write a sample");
    }
    writer.finalize().expect("finish the WAV");
}

/// The first channel of a 16-bit WAV.
pub(crate) fn read_wav_mono(path: &Path) -> Vec<i16> {
    let mut reader = hound::WavReader::open(path)
        .unwrap_or_else(|error| panic!("open {}: {error}", path.display()));
    let channels = usize::from(reader.spec().channels);
    reader
        .samples::<i16>()
        .step_by(channels)
        .map(|sample| sample.expect("a sample"))
        .collect()
}

/// Where `reference` best matches inside `received`, and how well.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Alignment {
    /// `received[offset..]` starts with the reference.
    pub(crate) offset: usize,
    /// Normalised correlation at that offset: 1.0 for an exact copy, about
    /// 0.99 after G.711, near 0 for unrelated audio.
    pub(crate) correlation: f64,
}

/// Finds `reference` in `received` by normalised cross-correlation: first on
/// averages of [`DECIMATION`] samples over every offset, then sample by
/// sample around the best coarse offset.
pub(crate) fn align(reference: &[i16], received: &[i16]) -> Option<Alignment> {
    if reference.is_empty() || received.len() < reference.len() {
        return None;
    }
    let coarse_reference = decimate(reference);
    let coarse_received = decimate(received);
    let coarse_offsets = coarse_received.len().checked_sub(coarse_reference.len())? + 1;
    let coarse_best = (0..coarse_offsets)
        .map(|offset| {
            (
                offset,
                correlation(&coarse_reference, &coarse_received[offset..]),
            )
        })
        .max_by(|a, b| a.1.total_cmp(&b.1))?
        .0;
    let reference: Vec<f64> = reference.iter().map(|s| f64::from(*s)).collect();
    let received: Vec<f64> = received.iter().map(|s| f64::from(*s)).collect();
    let centre = coarse_best * DECIMATION;
    let first = centre.saturating_sub(2 * DECIMATION);
    let last = (centre + 2 * DECIMATION).min(received.len() - reference.len());
    (first..=last)
        .map(|offset| Alignment {
            offset,
            correlation: correlation(&reference, &received[offset..]),
        })
        .max_by(|a, b| a.correlation.total_cmp(&b.correlation))
}

fn decimate(samples: &[i16]) -> Vec<f64> {
    samples
        .chunks_exact(DECIMATION)
        .map(|chunk| chunk.iter().map(|s| f64::from(*s)).sum::<f64>() / DECIMATION as f64)
        .collect()
}

/// Normalised correlation of `reference` with the start of `window`
/// (`window` is at least as long).
fn correlation(reference: &[f64], window: &[f64]) -> f64 {
    let (mut cross, mut reference_energy, mut window_energy) = (0.0, 0.0, 0.0);
    for (a, b) in reference.iter().zip(window) {
        cross += a * b;
        reference_energy += a * a;
        window_energy += b * b;
    }
    if reference_energy == 0.0 || window_energy == 0.0 {
        return 0.0;
    }
    cross / (reference_energy * window_energy).sqrt()
}
