//! G.711 A-law and µ-law expansion through tables built at compile time.

use super::{DecodeError, Decoder};

const fn alaw_expand(code: u8) -> i16 {
    let a = code ^ 0x55;
    let mantissa = ((a & 0x0f) as i16) << 4;
    let segment = (a & 0x70) >> 4;
    let magnitude = match segment {
        0 => mantissa + 8,
        _ => (mantissa + 0x108) << (segment - 1),
    };
    if a & 0x80 != 0 {
        magnitude
    } else {
        -magnitude
    }
}

const fn ulaw_expand(code: u8) -> i16 {
    let u = !code;
    let magnitude = ((((u & 0x0f) as i16) << 3) + 0x84) << ((u & 0x70) >> 4);
    if u & 0x80 != 0 {
        0x84 - magnitude
    } else {
        magnitude - 0x84
    }
}

const fn table(alaw: bool) -> [i16; 256] {
    let mut out = [0i16; 256];
    let mut code = 0;
    while code < 256 {
        out[code] = if alaw {
            alaw_expand(code as u8)
        } else {
            ulaw_expand(code as u8)
        };
        code += 1;
    }
    out
}

static ALAW: [i16; 256] = table(true);
static ULAW: [i16; 256] = table(false);

pub fn alaw_to_linear(code: u8) -> i16 {
    ALAW[usize::from(code)]
}

pub fn ulaw_to_linear(code: u8) -> i16 {
    ULAW[usize::from(code)]
}

/// Stateless G.711 decoder (8 kHz, one byte per sample).
pub struct G711Decoder {
    table: &'static [i16; 256],
}

impl G711Decoder {
    pub fn alaw() -> Self {
        Self { table: &ALAW }
    }

    pub fn ulaw() -> Self {
        Self { table: &ULAW }
    }
}

impl Decoder for G711Decoder {
    fn sample_rate(&self) -> u32 {
        8000
    }

    fn decode(&mut self, payload: &[u8], out: &mut Vec<i16>) -> Result<(), DecodeError> {
        out.extend(payload.iter().map(|&code| self.table[usize::from(code)]));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silence_codes_decode_near_zero() {
        assert_eq!(alaw_to_linear(0xd5), 8);
        assert_eq!(alaw_to_linear(0x55), -8);
        assert_eq!(ulaw_to_linear(0xff), 0);
        assert_eq!(ulaw_to_linear(0x7f), 0);
    }

    #[test]
    fn extremes_match_the_standard() {
        assert_eq!(alaw_to_linear(0xaa), 32256);
        assert_eq!(alaw_to_linear(0x2a), -32256);
        assert_eq!(ulaw_to_linear(0x80), 32124);
        assert_eq!(ulaw_to_linear(0x00), -32124);
    }
}
