//! Library side of the `greffier` binary package: the parts the binary, its
//! integration tests and its benchmarks share.

pub mod config;
pub mod admin;
pub mod gateway;
pub mod cli;
pub mod vault_setup;
pub mod calls;
