//! Transcription providers' dialects, as pure functions: what each vendor's
//! response says (text, language, timed segments), and the merge of the two
//! channels of a call into one transcript. No I/O here: the HTTP client and
//! the job queue feed these with bytes and the time, and act on what they
//! return.

pub mod audio;
pub mod channel;
pub mod client;
pub mod job;
pub mod response;
pub mod transcript;

pub use channel::{cut_channel, CutChannel, Span};
pub use client::{ApiKey, Failure, ProviderClient, ProviderSettings};
pub use job::{Attempt, Event, Job, JobState, RetryPolicy, Step};
pub use response::{parse_response, Dialect, ResponseError};
pub use transcript::{merge_channels, ChannelTranscript, Segment, Speaker, Transcript};
