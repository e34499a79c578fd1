//! Ogg/Opus writer (RFC 7845): stereo, 20 ms frames, pages flushed once a second.

use ogg::writing::{PacketWriteEndInfo, PacketWriter};
use thiserror::Error;

const CHANNELS: usize = 2;
const FRAME_MS: u32 = 20;
const FRAMES_PER_PAGE: u64 = 50;
const GRANULE_RATE: u64 = 48_000;
const STREAM_SERIAL: u32 = 0x6772_6666;
const MAX_PACKET: usize = 4000;
const BITRATE: i32 = 48_000;
/// Complexity 5 halves the encoding cost of 10 for a barely audible loss on
/// speech, and a node encodes every recorded call at once.
const COMPLEXITY: i32 = 5;

#[derive(Debug, Error)]
pub enum OggOpusError {
    #[error("opus: {0}")]
    Opus(#[from] opus::Error),
    #[error("ogg: {0}")]
    Ogg(#[from] std::io::Error),
}

pub struct OggOpusWriter {
    encoder: opus::Encoder,
    writer: PacketWriter<'static, Vec<u8>>,
    frame_len: usize,
    granule_per_sample: u64,
    pre_skip: u64,
    pending: Vec<i16>,
    /// Samples per channel fed in so far, at the input rate.
    samples_in: u64,
    frames_out: u64,
    packet: Vec<u8>,
}

impl OggOpusWriter {
    /// `sample_rate` must be one Opus accepts: 8, 12, 16, 24 or 48 kHz.
    pub fn new(sample_rate: u32) -> Result<Self, OggOpusError> {
        let mut encoder =
            opus::Encoder::new(sample_rate, opus::Channels::Stereo, opus::Application::Voip)?;
        encoder.set_bitrate(opus::Bitrate::Bits(BITRATE))?;
        encoder.set_complexity(COMPLEXITY)?;
        let granule_per_sample = GRANULE_RATE / u64::from(sample_rate.max(1));
        let pre_skip = u64::try_from(encoder.get_lookahead()?).unwrap_or(0) * granule_per_sample;
        let mut writer = PacketWriter::new(Vec::new());
        writer.write_packet(
            opus_head(pre_skip as u16, sample_rate),
            STREAM_SERIAL,
            PacketWriteEndInfo::EndPage,
            0,
        )?;
        writer.write_packet(opus_tags(), STREAM_SERIAL, PacketWriteEndInfo::EndPage, 0)?;
        Ok(Self {
            encoder,
            writer,
            frame_len: (sample_rate * FRAME_MS / 1000) as usize * CHANNELS,
            granule_per_sample,
            pre_skip,
            pending: Vec::new(),
            samples_in: 0,
            frames_out: 0,
            packet: vec![0; MAX_PACKET],
        })
    }

    /// Feeds interleaved stereo samples and appends the finished pages to `out`.
    pub fn write(&mut self, samples: &[i16], out: &mut Vec<u8>) -> Result<(), OggOpusError> {
        self.samples_in += (samples.len() / CHANNELS) as u64;
        self.pending.extend_from_slice(samples);
        let mut offset = 0;
        while self.pending.len() - offset >= self.frame_len {
            let frame = self
                .pending
                .get(offset..offset + self.frame_len)
                .unwrap_or_default()
                .to_vec();
            self.encode_frame(&frame, false)?;
            offset += self.frame_len;
        }
        self.pending.drain(..offset);
        self.take_output(out);
        Ok(())
    }

    /// Encodes what is left (padded to a frame) and ends the stream.
    pub fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), OggOpusError> {
        let mut frame = std::mem::take(&mut self.pending);
        frame.resize(self.frame_len, 0);
        self.encode_frame(&frame, true)?;
        self.take_output(out);
        Ok(())
    }

    fn encode_frame(&mut self, frame: &[i16], last: bool) -> Result<(), OggOpusError> {
        let len = self.encoder.encode(frame, &mut self.packet)?;
        self.frames_out += 1;
        let frame_granule = (self.frame_len / CHANNELS) as u64 * self.granule_per_sample;
        // The last page's granule position trims the padding of the last frame.
        let granule = if last {
            self.pre_skip + self.samples_in * self.granule_per_sample
        } else {
            self.pre_skip + self.frames_out * frame_granule
        };
        let end = if last {
            PacketWriteEndInfo::EndStream
        } else if self.frames_out.is_multiple_of(FRAMES_PER_PAGE) {
            PacketWriteEndInfo::EndPage
        } else {
            PacketWriteEndInfo::NormalPacket
        };
        let packet = self.packet.get(..len).unwrap_or_default().to_vec();
        self.writer
            .write_packet(packet, STREAM_SERIAL, end, granule)?;
        Ok(())
    }

    fn take_output(&mut self, out: &mut Vec<u8>) {
        out.append(self.writer.inner_mut());
    }
}

fn opus_head(pre_skip: u16, input_rate: u32) -> Vec<u8> {
    let mut head = b"OpusHead".to_vec();
    head.push(1);
    head.push(CHANNELS as u8);
    head.extend_from_slice(&pre_skip.to_le_bytes());
    head.extend_from_slice(&input_rate.to_le_bytes());
    head.extend_from_slice(&0i16.to_le_bytes());
    head.push(0);
    head
}

fn opus_tags() -> Vec<u8> {
    let vendor = b"greffier";
    let mut tags = b"OpusTags".to_vec();
    tags.extend_from_slice(&(vendor.len() as u32).to_le_bytes());
    tags.extend_from_slice(vendor);
    tags.extend_from_slice(&0u32.to_le_bytes());
    tags
}
