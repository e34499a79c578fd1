//! G.722 at 64 kbit/s (mode 1), decoded to 16 kHz.

use super::{DecodeError, Decoder};
use ezk_g722::libg722::{decoder::Decoder as Libg722Decoder, Bitrate};

pub struct G722Decoder {
    inner: Libg722Decoder,
}

impl G722Decoder {
    pub fn new() -> Self {
        Self {
            inner: Libg722Decoder::new(Bitrate::Mode1_64000, false, false),
        }
    }
}

impl Default for G722Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Decoder for G722Decoder {
    fn sample_rate(&self) -> u32 {
        16_000
    }

    fn decode(&mut self, payload: &[u8], out: &mut Vec<i16>) -> Result<(), DecodeError> {
        out.extend(self.inner.decode(payload));
        Ok(())
    }
}
