//! What the integration tests and benchmarks of the workspace share, in one
//! place instead of copies: captures read from the shared corpora and RTP
//! streams written as captures, replays through the recorder, test signals
//! and how to compare them, sealed vault objects, a keyring with a spool and a
//! store, and a real S3 server on loopback.
//!
//! Helpers panic on failure: they run inside tests, where a panic is the
//! failure report.

pub mod audio;
pub mod capture;
pub mod forge;
pub mod objects;
pub mod pcap;
pub mod s3;
pub mod storage;
