use std::path::PathBuf;

/// Why a capture could not be read. Offsets count bytes from the start of the
/// input; block types are pcapng's (`0x0A0D0D0A` section header, `1` interface
/// description, `6` enhanced packet, `3` simple packet).
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("reading capture {path}: {source}", path = path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("not a pcap or pcapng capture: the file starts with {magic:#010x}")]
    UnknownFormat { magic: u32 },
    #[error("capture too short for its file header: {len} bytes")]
    ShortHeader { len: usize },
    #[error("pcap link type {link_type} is not one this reader decodes (offset {offset})")]
    UnsupportedLinkType { offset: usize, link_type: u32 },
    #[error("pcapng block {block_type:#x} at offset {offset}: {what}")]
    Block {
        offset: usize,
        block_type: u32,
        what: &'static str,
    },
}
