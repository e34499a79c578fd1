//! G.729 Annex A with Annex B comfort noise, decoded to 8 kHz through bcg729.
//!
//! RFC 3551 §4.5.6: a payload is zero or more 10-byte speech frames, then at
//! most one 2-byte SID frame; each frame is 10 ms. Any other length is not
//! G.729 and is refused whole, before a single frame is decoded.

use super::{DecodeError, Decoder};
use bcg729_sys::{DecoderChannel, Frame, FRAME_SAMPLES, SID_FRAME_BYTES, SPEECH_FRAME_BYTES};

const RATE: u32 = 8000;
/// Past this, concealing a lost speech frame only drags out the last sound:
/// silence is more honest. Comfort noise after a SID frame is not bounded here.
const MAX_CONCEALED: usize = 800;

pub struct G729Decoder {
    channel: DecoderChannel,
    /// The last frame was a SID: a gap is untransmitted silence (Annex B DTX),
    /// filled with comfort noise, not a loss.
    in_silence: bool,
    frame: [i16; FRAME_SAMPLES],
}

impl G729Decoder {
    pub fn new() -> Result<Self, DecodeError> {
        Ok(Self {
            channel: DecoderChannel::new().ok_or(DecodeError::G729Init)?,
            in_silence: false,
            frame: [0; FRAME_SAMPLES],
        })
    }

    fn decode_frame(&mut self, frame: Frame<'_>, out: &mut Vec<i16>) {
        self.channel.decode(frame, &mut self.frame);
        out.extend_from_slice(&self.frame);
    }

    /// Appends `samples` of decoder output for frames that did not arrive.
    fn missing_frames(&mut self, samples: usize, out: &mut Vec<i16>) {
        for _ in 0..samples / FRAME_SAMPLES {
            self.decode_frame(Frame::Missing, out);
        }
        out.resize(out.len() + samples % FRAME_SAMPLES, 0);
    }
}

impl Decoder for G729Decoder {
    fn sample_rate(&self) -> u32 {
        RATE
    }

    fn decode(&mut self, payload: &[u8], out: &mut Vec<i16>) -> Result<(), DecodeError> {
        let sid_len = payload.len() % SPEECH_FRAME_BYTES;
        if payload.is_empty() || (sid_len != 0 && sid_len != SID_FRAME_BYTES) {
            return Err(DecodeError::G729PayloadLength(payload.len()));
        }
        let (speech, sid) = payload.split_at(payload.len() - sid_len);
        for frame in speech.chunks_exact(SPEECH_FRAME_BYTES) {
            if let Ok(frame) = frame.try_into() {
                self.decode_frame(Frame::Speech(frame), out);
            }
        }
        self.in_silence = false;
        if let Ok(sid) = <&[u8; SID_FRAME_BYTES]>::try_from(sid) {
            self.decode_frame(Frame::Sid(sid), out);
            self.in_silence = true;
        }
        Ok(())
    }

    fn conceal(&mut self, samples: usize, out: &mut Vec<i16>) -> Result<(), DecodeError> {
        if self.in_silence {
            self.missing_frames(samples, out);
        } else {
            let concealed = samples.min(MAX_CONCEALED);
            self.missing_frames(concealed, out);
            out.resize(out.len() + (samples - concealed), 0);
        }
        Ok(())
    }

    fn fill_silence(&mut self, samples: usize, out: &mut Vec<i16>) -> Result<(), DecodeError> {
        if self.in_silence {
            self.missing_frames(samples, out);
        } else {
            out.resize(out.len() + samples, 0);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bcg729_sys::EncoderChannel;

    /// A sweep from 300 Hz to 1800 Hz over three seconds: it has one best
    /// alignment, unlike a steady tone.
    fn sweep(samples: usize) -> Vec<i16> {
        let mut phase = 0f64;
        (0..samples)
            .map(|n| {
                let frequency = 300.0 + 1500.0 * n as f64 / 24_000.0;
                phase += 2.0 * std::f64::consts::PI * frequency / 8000.0;
                (6000.0 * phase.sin()) as i16
            })
            .collect()
    }

    /// Encodes `signal` into RTP payloads of `frames_per_packet` frames each.
    fn encode(signal: &[i16], vad: bool, frames_per_packet: usize) -> Vec<Vec<u8>> {
        let mut encoder = EncoderChannel::new(vad).unwrap();
        let mut frames = Vec::new();
        for chunk in signal.chunks_exact(FRAME_SAMPLES) {
            let mut bits = [0u8; SPEECH_FRAME_BYTES];
            frames.push(
                encoder
                    .encode(chunk.try_into().unwrap(), &mut bits)
                    .to_vec(),
            );
        }
        frames
            .chunks(frames_per_packet)
            .map(|group| group.concat())
            .collect()
    }

    #[test]
    fn several_frames_per_packet_give_ten_ms_each() {
        let signal = sweep(FRAME_SAMPLES * 12);
        for frames in [1, 3, 6] {
            let mut decoder = G729Decoder::new().unwrap();
            let mut out = Vec::new();
            let payloads = encode(&signal, false, frames);
            decoder.decode(&payloads[0], &mut out).unwrap();
            assert_eq!(out.len(), frames * FRAME_SAMPLES);
        }
    }

    #[test]
    fn sid_frames_give_comfort_noise_and_untransmitted_frames_continue_it() {
        // Speech, then silence the VAD turns into SID frames and gaps.
        let mut signal = sweep(8000);
        signal.extend(std::iter::repeat_n(0i16, 8000));
        let payloads = encode(&signal, true, 1);
        let sid_count = payloads
            .iter()
            .filter(|p| p.len() == SID_FRAME_BYTES)
            .count();
        assert!(sid_count > 0, "the encoder sent no SID frame");
        let mut decoder = G729Decoder::new().unwrap();
        let mut out = Vec::new();
        for payload in payloads.iter().filter(|p| !p.is_empty()) {
            let before = out.len();
            decoder.decode(payload, &mut out).unwrap();
            assert_eq!(out.len() - before, FRAME_SAMPLES);
        }
        // After a SID, a gap is filled with the noise, not with zeros.
        let mut gap = Vec::new();
        decoder.fill_silence(4 * FRAME_SAMPLES, &mut gap).unwrap();
        assert_eq!(gap.len(), 4 * FRAME_SAMPLES);
        let loud = gap.iter().map(|&s| i32::from(s).abs()).max().unwrap_or(0);
        assert!(loud < 2000, "comfort noise stays quiet: peak {loud}");

        // A speech frame followed by a SID in one payload (10 + 2 bytes).
        let speech = encode(&sweep(FRAME_SAMPLES), false, 1).remove(0);
        let sid = payloads
            .iter()
            .find(|p| p.len() == SID_FRAME_BYTES)
            .unwrap();
        let combined = [speech, sid.clone()].concat();
        let mut out = Vec::new();
        G729Decoder::new()
            .unwrap()
            .decode(&combined, &mut out)
            .unwrap();
        assert_eq!(out.len(), 2 * FRAME_SAMPLES);
    }

    #[test]
    fn a_gap_after_speech_is_silence_unless_packets_were_lost() {
        let mut decoder = G729Decoder::new().unwrap();
        let mut out = Vec::new();
        for payload in encode(&sweep(1600), false, 2) {
            decoder.decode(&payload, &mut out).unwrap();
        }
        let mut gap = Vec::new();
        decoder.fill_silence(160, &mut gap).unwrap();
        assert!(gap.iter().all(|&s| s == 0));
        let mut concealed = Vec::new();
        decoder.conceal(2000, &mut concealed).unwrap();
        assert_eq!(concealed.len(), 2000);
        assert!(concealed[..MAX_CONCEALED].iter().any(|&s| s != 0));
        assert!(concealed[MAX_CONCEALED..].iter().all(|&s| s == 0));
    }

    #[test]
    fn payloads_of_other_lengths_are_refused_without_output() {
        let mut decoder = G729Decoder::new().unwrap();
        for len in [0, 1, 3, 9, 11, 13, 19, 21, 25, 1499] {
            let mut out = vec![7i16];
            let result = decoder.decode(&vec![0x55; len], &mut out);
            assert!(
                matches!(result, Err(DecodeError::G729PayloadLength(l)) if l == len),
                "{len} bytes: {result:?}"
            );
            assert_eq!(out, vec![7], "{len} bytes produced output");
        }
        // Arbitrary bytes of a valid length decode without a panic.
        let mut out = Vec::new();
        decoder.decode(&[0xff; 42], &mut out).unwrap();
        assert_eq!(out.len(), 5 * FRAME_SAMPLES);
    }
}
