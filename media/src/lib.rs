//! greffier-media: a call's audio. The recorder is sans-IO: RTP parsing, jitter
//! buffering, decoding (G.711, G.722, Opus, comfort noise), DTMF, mixing, and WAV
//! or Ogg Opus written into a [`RecordingSink`]. The RTP/RTCP relay ([`relay`]) is a
//! sans-IO core with the tokio task that runs it on a call's sockets, and
//! [`ports`] binds those sockets from the configured port range.

pub mod codec;
pub mod dtmf;
pub mod inband_dtmf;
pub mod jitter;
pub mod leg;
pub mod mixer;
pub mod ogg_opus;
pub mod ports;
pub mod raw_payloads;
pub mod recorder;
pub mod relay;
pub mod resample;
pub mod rtp_header;
pub mod sink;
pub mod wav;

pub use codec::{Codec, CodecMap, Decoder, PayloadNames, RtpFormat};
pub use dtmf::DtmfEvent;
pub use raw_payloads::{RawPacket, RawPayloads};
pub use recorder::{
    Leg, OutputFormat, PauseSpan, Recorder, RecorderConfig, RecorderError, RecordingSummary,
};
pub use rtp_header::{RtpError, RtpPacket};
pub use sink::{MemorySink, RecordingSink, SinkError};
pub use wav::wav_fix_sizes;
