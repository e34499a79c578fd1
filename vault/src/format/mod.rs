//! The `.grf` object format: header and chunked body.

pub mod chunk;
pub mod header;
