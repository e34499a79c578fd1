//! Streaming WAV: 16-bit PCM, written front to back with no seek.
//!
//! The sizes in a WAV header come first, but a recording streams into an
//! encrypted object that cannot be rewritten, so the header carries the
//! "unknown length" values 0xFFFFFFFF in both the RIFF and data sizes, as
//! ffmpeg does on pipes; sox and ffmpeg then read to the end of the data.
//! Strict readers (hound among them) refuse such a header, so exports run the
//! bytes through [`wav_fix_sizes`], which writes the real sizes.

use thiserror::Error;

const HEADER_LEN: usize = 44;
const UNKNOWN_SIZE: u32 = u32::MAX;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum WavError {
    #[error("not a canonical 44-byte PCM WAV header")]
    NotCanonical,
    #[error("{0} bytes of audio do not fit in a WAV file")]
    TooLong(usize),
}

/// The header of a stream of unknown length.
pub fn wav_stream_header(sample_rate: u32, channels: u16) -> [u8; HEADER_LEN] {
    let block_align = channels * 2;
    let mut header = [0u8; HEADER_LEN];
    let fields: [&[u8]; 13] = [
        b"RIFF",
        &UNKNOWN_SIZE.to_le_bytes(),
        b"WAVE",
        b"fmt ",
        &16u32.to_le_bytes(),
        &1u16.to_le_bytes(),
        &channels.to_le_bytes(),
        &sample_rate.to_le_bytes(),
        &(sample_rate * u32::from(block_align)).to_le_bytes(),
        &block_align.to_le_bytes(),
        &16u16.to_le_bytes(),
        b"data",
        &UNKNOWN_SIZE.to_le_bytes(),
    ];
    let mut at = 0;
    for field in fields {
        header[at..at + field.len()].copy_from_slice(field);
        at += field.len();
    }
    header
}

/// Appends interleaved samples as little-endian PCM.
pub fn write_pcm(samples: &[i16], out: &mut Vec<u8>) {
    out.reserve(samples.len() * 2);
    for sample in samples {
        out.extend_from_slice(&sample.to_le_bytes());
    }
}

/// Rewrites the sizes of a streamed WAV file to its real length.
pub fn wav_fix_sizes(bytes: &mut [u8]) -> Result<(), WavError> {
    let header = bytes.get(..HEADER_LEN).ok_or(WavError::NotCanonical)?;
    let canonical = header.starts_with(b"RIFF")
        && header.get(8..16) == Some(b"WAVEfmt ")
        && header.get(36..40) == Some(b"data");
    if !canonical {
        return Err(WavError::NotCanonical);
    }
    let block_align = usize::from(u16::from_le_bytes([header[32], header[33]])).max(1);
    let data_len = (bytes.len() - HEADER_LEN) / block_align * block_align;
    let data_size = u32::try_from(data_len).map_err(|_| WavError::TooLong(data_len))?;
    let riff_size = data_size
        .checked_add((HEADER_LEN - 8) as u32)
        .ok_or(WavError::TooLong(data_len))?;
    bytes[4..8].copy_from_slice(&riff_size.to_le_bytes());
    bytes[40..44].copy_from_slice(&data_size.to_le_bytes());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixing_sizes_sets_riff_and_data_lengths() {
        let mut bytes = wav_stream_header(8000, 2).to_vec();
        write_pcm(&[1, -1, 2, -2, 3], &mut bytes);
        wav_fix_sizes(&mut bytes).unwrap();
        assert_eq!(u32::from_le_bytes(bytes[40..44].try_into().unwrap()), 8);
        assert_eq!(u32::from_le_bytes(bytes[4..8].try_into().unwrap()), 44);
        assert_eq!(wav_fix_sizes(&mut [0u8; 10]), Err(WavError::NotCanonical));
        assert_eq!(wav_fix_sizes(&mut [0u8; 60]), Err(WavError::NotCanonical));
    }
}
