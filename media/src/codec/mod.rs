//! Codecs: payload type mapping from the SDP and the decoders behind one trait.

mod comfort_noise;
mod g711;
mod g722;
mod g729;
mod map;
mod opus;
mod payload_names;

pub use comfort_noise::ComfortNoise;
pub use g711::{alaw_to_linear, ulaw_to_linear, G711Decoder};
pub use g722::G722Decoder;
pub use g729::G729Decoder;
pub use map::{CodecMap, CodecMapError, RtpFormat};
pub use opus::OpusDecoder;
pub use payload_names::{codec_label, PayloadNames};

use thiserror::Error;

/// What a payload type carries, as negotiated in the SDP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    Pcmu,
    Pcma,
    G722,
    /// G.729 Annex A, with the Annex B SID frames (payload type 18).
    G729,
    Opus,
    /// RFC 3389 comfort noise: no audio of its own, fills the following gap.
    ComfortNoise,
    /// RFC 4733 telephone-events, with the clock rate of their rtpmap.
    TelephoneEvent {
        clock_rate: u32,
    },
}

impl Codec {
    /// Clock rate of the RTP timestamps (G.722 keeps 8000 for historical reasons).
    pub fn rtp_clock_rate(self) -> u32 {
        match self {
            Codec::Pcmu | Codec::Pcma | Codec::G722 | Codec::G729 | Codec::ComfortNoise => 8000,
            Codec::Opus => 48_000,
            Codec::TelephoneEvent { clock_rate } => clock_rate,
        }
    }

    /// Rate of the decoded audio, for codecs that carry audio.
    pub fn decoded_rate(self) -> Option<u32> {
        match self {
            Codec::Pcmu | Codec::Pcma | Codec::G729 => Some(8000),
            Codec::G722 => Some(16_000),
            Codec::Opus => Some(48_000),
            Codec::ComfortNoise | Codec::TelephoneEvent { .. } => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
            Codec::G722 => "G722",
            Codec::G729 => "G729",
            Codec::Opus => "opus",
            Codec::ComfortNoise => "CN",
            Codec::TelephoneEvent { .. } => "telephone-event",
        }
    }

    /// A fresh decoder for an audio codec; `None` for CN and telephone-events.
    pub fn decoder(self) -> Result<Option<Box<dyn Decoder>>, DecodeError> {
        Ok(match self {
            Codec::Pcmu => Some(Box::new(G711Decoder::ulaw())),
            Codec::Pcma => Some(Box::new(G711Decoder::alaw())),
            Codec::G722 => Some(Box::new(G722Decoder::new())),
            Codec::G729 => Some(Box::new(G729Decoder::new()?)),
            Codec::Opus => Some(Box::new(OpusDecoder::new()?)),
            Codec::ComfortNoise | Codec::TelephoneEvent { .. } => None,
        })
    }
}

#[derive(Debug, Error)]
pub enum DecodeError {
    #[error("opus: {0}")]
    Opus(#[from] ::opus::Error),
    #[error("G.729 decoder could not be created")]
    G729Init,
    #[error("G.729 payload of {0} bytes: not 10-byte frames with at most one 2-byte SID frame at the end")]
    G729PayloadLength(usize),
}

/// Turns RTP payloads of one codec into mono 16-bit PCM at `sample_rate()`.
pub trait Decoder: Send {
    fn sample_rate(&self) -> u32;

    /// Appends the samples decoded from `payload` to `out`.
    fn decode(&mut self, payload: &[u8], out: &mut Vec<i16>) -> Result<(), DecodeError>;

    /// Appends `samples` samples standing in for lost packets; silence unless
    /// the codec has its own packet-loss concealment.
    fn conceal(&mut self, samples: usize, out: &mut Vec<i16>) -> Result<(), DecodeError> {
        out.resize(out.len() + samples, 0);
        Ok(())
    }

    /// Appends `samples` samples for a gap the sender left on purpose
    /// (discontinuous transmission); silence unless the codec carries its
    /// own comfort noise.
    fn fill_silence(&mut self, samples: usize, out: &mut Vec<i16>) -> Result<(), DecodeError> {
        out.resize(out.len() + samples, 0);
        Ok(())
    }
}
