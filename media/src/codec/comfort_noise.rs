//! RFC 3389 comfort noise: a packet announces a noise level for the silence
//! that follows it, which is rendered as low-level white noise.

/// Quietest level RFC 3389 can express; anything at or below it is silence.
const SILENT_DBOV: u8 = 127;

pub struct ComfortNoise {
    amplitude: f32,
    state: u32,
}

impl ComfortNoise {
    /// `payload` starts with the noise level in -dBov; spectral parameters are ignored.
    pub fn from_payload(payload: &[u8]) -> Self {
        let level = payload.first().copied().unwrap_or(SILENT_DBOV) & 0x7f;
        let amplitude = if level >= SILENT_DBOV {
            0.0
        } else {
            // A full-scale sine is 0 dBov, hence the peak-to-RMS factor.
            32767.0 * std::f32::consts::FRAC_1_SQRT_2 * 10f32.powf(-f32::from(level) / 20.0)
        };
        Self {
            amplitude,
            state: 0x9e37_79b9,
        }
    }

    /// Appends `samples` samples of noise.
    pub fn fill(&mut self, samples: usize, out: &mut Vec<i16>) {
        out.reserve(samples);
        for _ in 0..samples {
            // xorshift32: deterministic, so a recording replays identically.
            self.state ^= self.state << 13;
            self.state ^= self.state >> 17;
            self.state ^= self.state << 5;
            let unit = (self.state as f32 / u32::MAX as f32) * 2.0 - 1.0;
            out.push((unit * self.amplitude * 3f32.sqrt()) as i16);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_sets_the_noise_energy() {
        let mut loud = Vec::new();
        ComfortNoise::from_payload(&[30]).fill(8000, &mut loud);
        let mut quiet = Vec::new();
        ComfortNoise::from_payload(&[70]).fill(8000, &mut quiet);
        let rms = |s: &[i16]| {
            (s.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>() / s.len() as f64).sqrt()
        };
        let expected_loud = 32767.0 * 0.5f64.sqrt() * 10f64.powf(-1.5);
        assert!((rms(&loud) / expected_loud - 1.0).abs() < 0.1);
        assert!(rms(&quiet) < rms(&loud) / 50.0);
        let mut silent = Vec::new();
        ComfortNoise::from_payload(&[]).fill(100, &mut silent);
        assert!(silent.iter().all(|&s| s == 0));
    }
}
