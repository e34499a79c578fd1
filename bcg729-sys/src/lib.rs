//! Bindings to bcg729 1.1.1 (Debian `libbcg729-dev`), the G.729 Annex A
//! codec with the Annex B voice activity detection, discontinuous
//! transmission and comfort noise.
//!
//! [`ffi`] repeats the declarations of `bcg729/decoder.h` and
//! `bcg729/encoder.h` as installed; [`DecoderChannel`] and [`EncoderChannel`]
//! own one codec context each and take only buffers of the sizes the C code
//! reads and writes, so safe code cannot make it overrun.

use std::ptr::NonNull;

/// Samples in one G.729 frame: 10 ms at 8 kHz.
pub const FRAME_SAMPLES: usize = 80;
/// Bytes of one speech frame: the 15 parameters in 80 bits (ITU-T G.729 Table 8).
pub const SPEECH_FRAME_BYTES: usize = 10;
/// Bytes of one Annex B SID frame: 15 bits of noise parameters, padded (G.729 B.4.3).
pub const SID_FRAME_BYTES: usize = 2;

pub mod ffi {
    //! The C functions, as declared by the installed headers (version 1.1.1).

    /// `bcg729DecoderChannelContextStruct`, opaque.
    #[repr(C)]
    pub struct DecoderContext {
        _private: [u8; 0],
    }

    /// `bcg729EncoderChannelContextStruct`, opaque.
    #[repr(C)]
    pub struct EncoderContext {
        _private: [u8; 0],
    }

    extern "C" {
        pub fn initBcg729DecoderChannel() -> *mut DecoderContext;
        pub fn closeBcg729DecoderChannel(context: *mut DecoderContext);
        /// Decodes one frame into 80 samples. `bit_stream` may be null for an
        /// erased frame; `sid_frame_flag` marks a 2-byte Annex B SID frame.
        pub fn bcg729Decoder(
            context: *mut DecoderContext,
            bit_stream: *const u8,
            bit_stream_length: u8,
            frame_erasure_flag: u8,
            sid_frame_flag: u8,
            rfc3389_payload_flag: u8,
            signal: *mut i16,
        );
        pub fn initBcg729EncoderChannel(enable_vad: u8) -> *mut EncoderContext;
        pub fn closeBcg729EncoderChannel(context: *mut EncoderContext);
        /// Encodes 80 samples into 10 bytes (speech), 2 (SID) or 0 (not
        /// transmitted, with VAD on); the length is written to `bit_stream_length`.
        pub fn bcg729Encoder(
            context: *mut EncoderContext,
            input_frame: *const i16,
            bit_stream: *mut u8,
            bit_stream_length: *mut u8,
        );
        pub fn bcg729GetRFC3389Payload(context: *mut EncoderContext, payload: *mut u8);
    }
}

/// One frame as the decoder takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame<'a> {
    Speech(&'a [u8; SPEECH_FRAME_BYTES]),
    /// Annex B silence insertion descriptor: comfort noise parameters.
    Sid(&'a [u8; SID_FRAME_BYTES]),
    /// A frame that did not arrive: concealed after speech, comfort noise
    /// continued after a SID (an untransmitted frame, Annex B.27).
    Missing,
}

/// A G.729 decoder state; each RTP stream needs its own.
pub struct DecoderChannel {
    context: NonNull<ffi::DecoderContext>,
}

// SAFETY: the context is plain memory owned by this value, used by one thread
// at a time through `&mut self`; bcg729 keeps no global or thread-local state.
unsafe impl Send for DecoderChannel {}

impl DecoderChannel {
    /// `None` when bcg729 could not allocate its context.
    pub fn new() -> Option<Self> {
        // SAFETY: no arguments; the result is checked for null.
        let context = unsafe { ffi::initBcg729DecoderChannel() };
        NonNull::new(context).map(|context| Self { context })
    }

    /// Decodes one frame (10 ms) into `out`.
    pub fn decode(&mut self, frame: Frame<'_>, out: &mut [i16; FRAME_SAMPLES]) {
        let (bits, length, erased, sid) = match frame {
            Frame::Speech(bits) => (bits.as_ptr(), SPEECH_FRAME_BYTES as u8, 0, 0),
            Frame::Sid(bits) => (bits.as_ptr(), SID_FRAME_BYTES as u8, 0, 1),
            Frame::Missing => (std::ptr::null(), 0, 1, 0),
        };
        // SAFETY: the context is live; `bits` is null (erasure, which bcg729
        // accepts) or points to `length` readable bytes, the most the decoder
        // reads for that frame type; `out` has room for the 80 samples written.
        unsafe {
            ffi::bcg729Decoder(
                self.context.as_ptr(),
                bits,
                length,
                erased,
                sid,
                0,
                out.as_mut_ptr(),
            )
        };
    }
}

impl Drop for DecoderChannel {
    fn drop(&mut self) {
        // SAFETY: the context came from initBcg729DecoderChannel and is closed once.
        unsafe { ffi::closeBcg729DecoderChannel(self.context.as_ptr()) }
    }
}

/// A G.729 encoder state; with `vad` on it sends SID frames and skips
/// frames in silence (Annex B).
pub struct EncoderChannel {
    context: NonNull<ffi::EncoderContext>,
}

// SAFETY: as for `DecoderChannel`.
unsafe impl Send for EncoderChannel {}

impl EncoderChannel {
    pub fn new(vad: bool) -> Option<Self> {
        // SAFETY: a flag argument; the result is checked for null.
        let context = unsafe { ffi::initBcg729EncoderChannel(u8::from(vad)) };
        NonNull::new(context).map(|context| Self { context })
    }

    /// Encodes 10 ms; returns the bytes of the frame: 10 (speech), 2 (SID) or
    /// none (not transmitted).
    pub fn encode<'a>(
        &mut self,
        samples: &[i16; FRAME_SAMPLES],
        bits: &'a mut [u8; SPEECH_FRAME_BYTES],
    ) -> &'a [u8] {
        let mut length = 0u8;
        // SAFETY: the context is live; 80 samples are readable, 10 bytes (the
        // longest frame) writable, and `length` is a valid out-pointer.
        unsafe {
            ffi::bcg729Encoder(
                self.context.as_ptr(),
                samples.as_ptr(),
                bits.as_mut_ptr(),
                &mut length,
            )
        };
        let length = usize::from(length).min(SPEECH_FRAME_BYTES);
        bits.get(..length).unwrap_or_default()
    }
}

impl Drop for EncoderChannel {
    fn drop(&mut self) {
        // SAFETY: the context came from initBcg729EncoderChannel and is closed once.
        unsafe { ffi::closeBcg729EncoderChannel(self.context.as_ptr()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(frame: usize) -> [i16; FRAME_SAMPLES] {
        std::array::from_fn(|i| {
            let t = (frame * FRAME_SAMPLES + i) as f64 / 8000.0;
            (8000.0 * (2.0 * std::f64::consts::PI * 440.0 * t).sin()) as i16
        })
    }

    #[test]
    fn speech_frames_are_ten_bytes_and_decode_to_eighty_samples() {
        let mut encoder = EncoderChannel::new(false).expect("encoder");
        let mut decoder = DecoderChannel::new().expect("decoder");
        let mut energy = 0f64;
        for frame in 0..50 {
            let mut bits = [0u8; SPEECH_FRAME_BYTES];
            let encoded = encoder.encode(&tone(frame), &mut bits);
            assert_eq!(encoded.len(), SPEECH_FRAME_BYTES);
            let speech: [u8; SPEECH_FRAME_BYTES] = encoded.try_into().unwrap();
            let mut out = [0i16; FRAME_SAMPLES];
            decoder.decode(Frame::Speech(&speech), &mut out);
            energy += out.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>();
        }
        assert!(energy > 1e9, "decoded tone has energy {energy}");
    }

    #[test]
    fn silence_with_vad_gives_sid_or_nothing() {
        let mut encoder = EncoderChannel::new(true).expect("encoder");
        let mut lengths = Vec::new();
        for _ in 0..100 {
            let mut bits = [0u8; SPEECH_FRAME_BYTES];
            lengths.push(encoder.encode(&[0; FRAME_SAMPLES], &mut bits).len());
        }
        assert!(lengths.contains(&SID_FRAME_BYTES), "{lengths:?}");
        assert!(lengths.contains(&0), "{lengths:?}");
    }
}
