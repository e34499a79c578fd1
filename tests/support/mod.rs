//! Harness shared by the root package's integration tests: a temporary
//! configuration tree on free loopback ports, the real `greffier` binary as a
//! child process, sipp, baresip and linphone peers, test audio, and the admin endpoint's
//! metrics.
//!
//! Every wait is bounded by a deadline and ends on an observed event (a line on
//! stdout, a socket in the kernel's tables, a process exit), never on a sleep.

// Each test binary uses its own part of the harness.
#![allow(dead_code)]

pub mod audio;
pub mod baresip;
pub mod config;
pub mod flood;
pub mod gateway;
pub mod http;
pub mod linphone;
pub mod metrics;
pub mod ports;
pub mod process;
pub mod recorded;
pub mod s3;
pub mod scene;
pub mod sipp;
pub mod sipp_trace;
pub mod sockets;
pub mod udp_peer;
pub mod vault;
