//! greffier-media: RTP parsing, jitter buffering, decoding, mixing and the
//! call recorder, all sans-IO.

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
