//! Opus decoded to mono 48 kHz, with libopus packet-loss concealment for gaps.

use super::{DecodeError, Decoder};

const RATE: u32 = 48_000;
/// 120 ms, the longest Opus packet.
const MAX_FRAME: usize = 5760;
/// libopus conceals in multiples of 2.5 ms.
const CONCEAL_STEP: usize = 120;
/// Past this, concealment only drags out the last sound: silence is more honest.
const MAX_CONCEALED: usize = 4800;

pub struct OpusDecoder {
    inner: opus::Decoder,
    scratch: Vec<i16>,
}

impl OpusDecoder {
    pub fn new() -> Result<Self, DecodeError> {
        Ok(Self {
            inner: opus::Decoder::new(RATE, opus::Channels::Mono)?,
            scratch: vec![0; MAX_FRAME],
        })
    }
}

impl Decoder for OpusDecoder {
    fn sample_rate(&self) -> u32 {
        RATE
    }

    fn decode(&mut self, payload: &[u8], out: &mut Vec<i16>) -> Result<(), DecodeError> {
        let decoded = self.inner.decode(payload, &mut self.scratch, false)?;
        out.extend_from_slice(self.scratch.get(..decoded).unwrap_or_default());
        Ok(())
    }

    fn conceal(&mut self, samples: usize, out: &mut Vec<i16>) -> Result<(), DecodeError> {
        let concealable = samples.min(MAX_CONCEALED) / CONCEAL_STEP * CONCEAL_STEP;
        let mut remaining = concealable;
        while remaining > 0 {
            let chunk = remaining.min(MAX_FRAME);
            let scratch = self.scratch.get_mut(..chunk).unwrap_or_default();
            let produced = self.inner.decode(&[], scratch, false)?.min(chunk);
            out.extend_from_slice(scratch.get(..produced).unwrap_or_default());
            if produced == 0 {
                break;
            }
            remaining -= produced;
        }
        out.resize(out.len() + (samples - (concealable - remaining)), 0);
        Ok(())
    }
}
