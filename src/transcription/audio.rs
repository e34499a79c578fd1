//! From a decrypted recording to what is sent for each channel: the
//! recorder's stereo WAV (caller left, callee right) split, the paused and
//! DTMF-masked spans of the manifest cut out, resampled to 16 kHz, and
//! written as a mono WAV. Nothing else leaves: no number, no name, no SIP.

use greffier_media::wav::{wav_fix_sizes, wav_stream_header, write_pcm};
use greffier_transcribe::audio::resample;
use greffier_transcribe::channel::rms;
use greffier_transcribe::{cut_channel, ChannelTranscript, CutChannel, Span};
use greffier_vault::catalog::Manifest;
use zeroize::Zeroizing;

/// The rate Whisper and the other providers' models work at.
pub const SEND_RATE: u32 = 16_000;
/// Audio masked on each side of a telephone-event by the recorder when DTMF
/// masking is on (media's `DTMF_MASK_MARGIN`); cut with the same margin.
const DTMF_MARGIN_SECONDS: f64 = 0.04;
/// A channel quieter than this (about −60 dBFS) holds no speech: it is not
/// sent, since recognisers invent words in silence.
const SILENCE_RMS: f64 = 0.001;
const WAV_HEADER_LEN: usize = 44;

/// One channel, ready to send.
pub struct ChannelAudio {
    cut: CutChannel,
}

/// Both channels of a call.
pub struct CallChannels {
    pub caller: ChannelAudio,
    pub callee: ChannelAudio,
    /// The recording's length in seconds: segment times end there.
    pub duration: f64,
}

impl ChannelAudio {
    /// Seconds of audio sent for this channel.
    pub fn sent_seconds(&self) -> f64 {
        self.cut.seconds()
    }

    /// The mono 16 kHz WAV to send, or `None` when the channel is silent.
    pub fn wav_to_send(&self) -> Option<Vec<u8>> {
        if rms(&self.cut.samples) < SILENCE_RMS {
            return None;
        }
        let resampled = Zeroizing::new(resample(&self.cut.samples, self.cut.rate, SEND_RATE));
        let pcm: Zeroizing<Vec<i16>> = Zeroizing::new(
            resampled
                .iter()
                .map(|sample| (sample.clamp(-1.0, 1.0) * f32::from(i16::MAX)) as i16)
                .collect(),
        );
        let mut wav = Vec::with_capacity(WAV_HEADER_LEN + pcm.len() * 2);
        wav.extend_from_slice(&wav_stream_header(SEND_RATE, 1));
        write_pcm(&pcm, &mut wav);
        // The header of a complete file: some servers refuse the streaming
        // form's unknown sizes. A buffer we just wrote is always canonical.
        wav_fix_sizes(&mut wav).ok()?;
        Some(wav)
    }

    /// The provider's segments in the call's time.
    pub fn to_call_times(&self, heard: ChannelTranscript) -> ChannelTranscript {
        self.cut.to_call_times(heard)
    }
}

/// Splits the recording of `manifest`'s call into its two channels, with
/// the spans that must not be sent cut out. Errors name the problem, never
/// the content.
pub fn call_channels(recording: &[u8], manifest: &Manifest) -> Result<CallChannels, String> {
    if !manifest.call.media_type.starts_with("audio/wav") {
        return Err(format!(
            "the recording is {}; only WAV recordings are transcribed",
            manifest.call.media_type
        ));
    }
    let header = recording
        .get(..WAV_HEADER_LEN)
        .ok_or("the recording is shorter than a WAV header")?;
    let field = |at: usize| u16::from_le_bytes([header[at], header[at + 1]]);
    let canonical = &header[..4] == b"RIFF"
        && &header[8..16] == b"WAVEfmt "
        && field(20) == 1
        && &header[36..40] == b"data";
    let channels = field(22);
    let rate = u32::from_le_bytes([header[24], header[25], header[26], header[27]]);
    let bits = field(34);
    if !canonical || channels != 2 || bits != 16 || rate == 0 {
        return Err("the recording is not the recorder's 16-bit stereo PCM WAV".to_owned());
    }
    let data = &recording[WAV_HEADER_LEN..];
    let frames = data.len() / 4;
    let mut caller = Zeroizing::new(Vec::with_capacity(frames));
    let mut callee = Zeroizing::new(Vec::with_capacity(frames));
    for frame in data.chunks_exact(4) {
        caller.push(f32::from(i16::from_le_bytes([frame[0], frame[1]])) / 32768.0);
        callee.push(f32::from(i16::from_le_bytes([frame[2], frame[3]])) / 32768.0);
    }
    let spans = cut_spans(manifest);
    Ok(CallChannels {
        caller: ChannelAudio {
            cut: cut_channel(&caller, rate, &spans),
        },
        callee: ChannelAudio {
            cut: cut_channel(&callee, rate, &spans),
        },
        duration: frames as f64 / f64::from(rate),
    })
}

/// What is not sent: the paused spans, and each telephone-event with the
/// margin the recorder masks around it.
fn cut_spans(manifest: &Manifest) -> Vec<Span> {
    let seconds = |ms: u64| ms as f64 / 1000.0;
    let pauses = manifest.pauses.iter().map(|pause| Span {
        start: seconds(pause.from_ms),
        end: seconds(pause.to_ms),
    });
    let digits = manifest.dtmf.iter().map(|event| Span {
        start: seconds(event.offset_ms) - DTMF_MARGIN_SECONDS,
        end: seconds(event.offset_ms + u64::from(event.duration_ms)) + DTMF_MARGIN_SECONDS,
    });
    pauses.chain(digits).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use greffier_vault::catalog::{CallEnd, CallInfo, Direction, DtmfEvent, PauseInterval};

    fn manifest(media_type: &str, pauses: Vec<PauseInterval>, dtmf: Vec<DtmfEvent>) -> Manifest {
        let call = CallInfo {
            tenant: greffier_vault::TenantId::new("acme").unwrap(),
            record_id: "01890a5d-ac96-774b-bcce-b302099a8057".parse().unwrap(),
            start: chrono::Utc::now(),
            caller: None,
            callee: None,
            direction: Direction::Outbound,
            codecs: vec!["PCMA/8000".into()],
            media_type: media_type.into(),
            call_id_hash: String::new(),
        };
        let end = CallEnd {
            pauses,
            dtmf,
            ..CallEnd::default()
        };
        Manifest::new(call, &end, 0)
    }

    /// Stereo 8 kHz: a 440 Hz tone on the left, silence on the right.
    fn recording(seconds: usize) -> Vec<u8> {
        let mut wav = wav_stream_header(8000, 2).to_vec();
        let samples: Vec<i16> = (0..8000 * seconds)
            .flat_map(|i| {
                let tone = (f64::from(i as u32) * 440.0 * std::f64::consts::TAU / 8000.0).sin();
                [(tone * 8000.0) as i16, 0]
            })
            .collect();
        write_pcm(&samples, &mut wav);
        wav
    }

    #[test]
    fn channels_are_split_cut_and_sent_as_mono_16_khz() {
        let manifest = manifest(
            "audio/wav",
            vec![PauseInterval {
                from_ms: 1000,
                to_ms: 2000,
            }],
            vec![DtmfEvent {
                offset_ms: 3000,
                duration_ms: 120,
                digit: '5',
            }],
        );
        let channels = call_channels(&recording(4), &manifest).unwrap();
        assert_eq!(channels.duration, 4.0);
        // 4 s − 1 s paused − (0.12 + 2 × 0.04) s around the digit.
        assert!((channels.caller.sent_seconds() - 2.8).abs() < 1e-3);
        let wav = channels.caller.wav_to_send().expect("the caller spoke");
        let (spec, samples) = {
            let reader = hound::WavReader::new(std::io::Cursor::new(&wav)).unwrap();
            let spec = reader.spec();
            let samples: Vec<i16> = reader.into_samples().map(Result::unwrap).collect();
            (spec, samples)
        };
        assert_eq!(
            (spec.channels, spec.sample_rate, spec.bits_per_sample),
            (1, 16_000, 16)
        );
        assert_eq!(samples.len(), 44_800);
        assert!(
            channels.callee.wav_to_send().is_none(),
            "silence is not sent"
        );
        // A time after the pause maps back past it.
        assert!((channels.caller.cut.call_time(1.5) - 2.5).abs() < 1e-3);
    }

    #[test]
    fn what_is_not_a_wav_recording_is_refused_with_a_reason() {
        let opus = manifest("audio/ogg; codecs=opus", vec![], vec![]);
        let error = call_channels(&recording(1), &opus).err().unwrap();
        assert!(error.contains("only WAV"), "{error}");
        let wav = manifest("audio/wav", vec![], vec![]);
        assert!(call_channels(b"RIFF", &wav).is_err());
        let mut mono = wav_stream_header(8000, 1).to_vec();
        write_pcm(&[1, 2, 3], &mut mono);
        assert!(call_channels(&mono, &wav).is_err());
    }
}
