//! Library side of the `greffier` binary package: the parts the binary, its
//! integration tests and its benchmarks share.

pub mod admin;
pub mod api;
pub mod calls;
pub mod cli;
pub mod config;
pub mod console;
pub mod gateway;
pub mod ops;
pub mod transcription;
pub mod vault_setup;
