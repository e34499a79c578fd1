//! Harness shared by the root package's integration tests: a temporary
//! configuration tree on free loopback ports, the real `greffier` binary as a
//! child process, sipp, baresip and linphone peers, test audio and speech, the
//! transcription engine, and the admin endpoint's metrics.
//!
//! Every wait is bounded by a deadline and ends on an observed event (a line on
//! stdout, a socket in the kernel's tables, a process exit), never on a sleep.

// Each test binary uses its own part of the harness.
#![allow(dead_code)]

pub(crate) mod audio;
pub(crate) mod baresip;
pub(crate) mod browser;
pub(crate) mod config;
pub(crate) mod engine;
pub(crate) mod flood;
pub(crate) mod gateway;
pub(crate) mod http;
pub(crate) mod linphone;
pub(crate) mod metrics;
pub(crate) mod ports;
pub(crate) mod process;
pub(crate) mod recorded;
pub(crate) mod s3;
pub(crate) mod scene;
pub(crate) mod sipp;
pub(crate) mod sipp_trace;
pub(crate) mod sockets;
pub(crate) mod speech;
pub(crate) mod transcription;
pub(crate) mod udp_peer;
pub(crate) mod vault;
