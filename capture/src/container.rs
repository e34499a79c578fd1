//! The file formats: libpcap's (both byte orders, microsecond and nanosecond
//! timestamps) and pcapng's (sections of either byte order, interfaces each with
//! its own link type and timestamp resolution, enhanced, simple and obsolete
//! packet blocks; other blocks skipped).

use std::time::Duration;

use crate::CaptureError;

const PCAP_MICROSECONDS: u32 = 0xA1B2_C3D4;
const PCAP_NANOSECONDS: u32 = 0xA1B2_3C4D;
pub(crate) const PCAPNG_SECTION_HEADER: u32 = 0x0A0D_0D0A;
pub(crate) const PCAPNG_BYTE_ORDER: u32 = 0x1A2B_3C4D;
pub(crate) const PCAPNG_INTERFACE: u32 = 1;
const PCAPNG_OBSOLETE_PACKET: u32 = 2;
pub(crate) const PCAPNG_SIMPLE_PACKET: u32 = 3;
pub(crate) const PCAPNG_ENHANCED_PACKET: u32 = 6;
const PCAP_HEADER_LEN: usize = 24;
const PCAP_RECORD_HEADER_LEN: usize = 16;

/// Which file format the capture is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Pcap { nanoseconds: bool, big_endian: bool },
    Pcapng,
}

/// The link layer of an interface (tcpdump.org's LINKTYPE_ numbers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkType {
    /// 0: BSD loopback, a 4-byte address family in the capturing host's byte order.
    Null,
    /// 1: Ethernet II, with any number of 802.1Q / 802.1ad tags.
    Ethernet,
    /// 101, and 12 or 14 where some systems wrote raw IP: IPv4 or IPv6 by version.
    RawIp(u32),
    /// 228: IPv4 only.
    Ipv4,
    /// 229: IPv6 only.
    Ipv6,
    /// 113: Linux "any" device, cooked header v1.
    LinuxCooked,
    /// 276: Linux cooked header v2.
    LinuxCooked2,
    /// A link type this reader does not decode; its frames are skipped.
    Other(u32),
}

impl LinkType {
    pub fn from_code(code: u32) -> Self {
        match code {
            0 => Self::Null,
            1 => Self::Ethernet,
            12 | 14 | 101 => Self::RawIp(code),
            113 => Self::LinuxCooked,
            228 => Self::Ipv4,
            229 => Self::Ipv6,
            276 => Self::LinuxCooked2,
            other => Self::Other(other),
        }
    }

    pub fn code(self) -> u32 {
        match self {
            Self::Null => 0,
            Self::Ethernet => 1,
            Self::RawIp(code) | Self::Other(code) => code,
            Self::LinuxCooked => 113,
            Self::Ipv4 => 228,
            Self::Ipv6 => 229,
            Self::LinuxCooked2 => 276,
        }
    }
}

pub(crate) struct Frame<'a> {
    pub(crate) time: Duration,
    pub(crate) link: LinkType,
    pub(crate) data: &'a [u8],
}

pub(crate) struct Frames<'a> {
    pub(crate) format: Format,
    pub(crate) frames: Vec<Frame<'a>>,
    pub(crate) truncated: bool,
}

#[derive(Clone, Copy)]
enum Endian {
    Little,
    Big,
}

impl Endian {
    fn u16(self, bytes: &[u8], at: usize) -> Option<u16> {
        let raw: [u8; 2] = bytes.get(at..at.checked_add(2)?)?.try_into().ok()?;
        Some(match self {
            Endian::Little => u16::from_le_bytes(raw),
            Endian::Big => u16::from_be_bytes(raw),
        })
    }

    fn u32(self, bytes: &[u8], at: usize) -> Option<u32> {
        let raw: [u8; 4] = bytes.get(at..at.checked_add(4)?)?.try_into().ok()?;
        Some(match self {
            Endian::Little => u32::from_le_bytes(raw),
            Endian::Big => u32::from_be_bytes(raw),
        })
    }

    fn u64(self, bytes: &[u8], at: usize) -> Option<u64> {
        let raw: [u8; 8] = bytes.get(at..at.checked_add(8)?)?.try_into().ok()?;
        Some(match self {
            Endian::Little => u64::from_le_bytes(raw),
            Endian::Big => u64::from_be_bytes(raw),
        })
    }
}

pub(crate) fn read_frames(bytes: &[u8]) -> Result<Frames<'_>, CaptureError> {
    let Some(magic) = Endian::Little.u32(bytes, 0) else {
        return Err(CaptureError::ShortHeader { len: bytes.len() });
    };
    match magic {
        PCAP_MICROSECONDS => read_pcap(bytes, Endian::Little, false),
        PCAP_NANOSECONDS => read_pcap(bytes, Endian::Little, true),
        PCAPNG_SECTION_HEADER => read_pcapng(bytes),
        _ if magic.swap_bytes() == PCAP_MICROSECONDS => read_pcap(bytes, Endian::Big, false),
        _ if magic.swap_bytes() == PCAP_NANOSECONDS => read_pcap(bytes, Endian::Big, true),
        _ => Err(CaptureError::UnknownFormat {
            magic: magic.swap_bytes(),
        }),
    }
}

fn read_pcap(bytes: &[u8], endian: Endian, nanoseconds: bool) -> Result<Frames<'_>, CaptureError> {
    if bytes.len() < PCAP_HEADER_LEN {
        return Err(CaptureError::ShortHeader { len: bytes.len() });
    }
    // The top bits of the link-type field carry FCS information (pcap-savefile(5)).
    let code = endian.u32(bytes, 20).unwrap_or_default() & 0x0FFF_FFFF;
    let link = LinkType::from_code(code);
    if let LinkType::Other(link_type) = link {
        return Err(CaptureError::UnsupportedLinkType {
            offset: 20,
            link_type,
        });
    }
    let mut frames = Frames {
        format: Format::Pcap {
            nanoseconds,
            big_endian: matches!(endian, Endian::Big),
        },
        frames: Vec::new(),
        truncated: false,
    };
    let mut offset = PCAP_HEADER_LEN;
    while offset < bytes.len() {
        let header = (
            endian.u32(bytes, offset),
            endian.u32(bytes, offset + 4),
            endian.u32(bytes, offset + 8),
        );
        let (Some(seconds), Some(fraction), Some(captured)) = header else {
            frames.truncated = true;
            break;
        };
        let start = offset + PCAP_RECORD_HEADER_LEN;
        let Some(data) = bytes.get(start..start.saturating_add(captured as usize)) else {
            frames.truncated = true;
            break;
        };
        let fraction = if nanoseconds {
            Duration::from_nanos(u64::from(fraction))
        } else {
            Duration::from_micros(u64::from(fraction))
        };
        frames.frames.push(Frame {
            time: Duration::from_secs(u64::from(seconds)) + fraction,
            link,
            data,
        });
        offset = start + data.len();
    }
    Ok(frames)
}

/// How an interface counts time: `if_tsresol` (units of 10^-n or 2^-n seconds)
/// and `if_tsoffset` (seconds to add).
struct Interface {
    link: LinkType,
    snap_len: u32,
    resolution: Resolution,
    offset_seconds: i64,
}

#[derive(Clone, Copy)]
enum Resolution {
    Decimal(u32),
    Binary(u32),
}

impl Resolution {
    fn from_option(value: u8) -> Option<Self> {
        let exponent = u32::from(value & 0x7f);
        if value & 0x80 == 0 {
            (exponent <= 19).then_some(Self::Decimal(exponent))
        } else {
            (exponent <= 63).then_some(Self::Binary(exponent))
        }
    }

    fn to_duration(self, units: u64, offset_seconds: i64) -> Duration {
        let (seconds, nanos) = match self {
            Self::Decimal(exponent) => {
                let per_second = 10u64.pow(exponent);
                let remainder = units % per_second;
                let nanos = if exponent <= 9 {
                    remainder * 10u64.pow(9 - exponent)
                } else {
                    remainder / 10u64.pow(exponent - 9)
                };
                (units / per_second, nanos)
            }
            Self::Binary(exponent) => {
                let remainder = units & ((1u64 << exponent) - 1);
                let nanos = (u128::from(remainder) * 1_000_000_000) >> exponent;
                (units >> exponent, nanos as u64)
            }
        };
        Duration::new(seconds.saturating_add_signed(offset_seconds), nanos as u32)
    }
}

const OPTION_END: u16 = 0;
pub(crate) const OPTION_TS_RESOLUTION: u16 = 9;
const OPTION_TS_OFFSET: u16 = 14;

fn read_pcapng(bytes: &[u8]) -> Result<Frames<'_>, CaptureError> {
    let mut frames = Frames {
        format: Format::Pcapng,
        frames: Vec::new(),
        truncated: false,
    };
    let mut endian = Endian::Little;
    let mut interfaces: Vec<Interface> = Vec::new();
    let mut last_time = Duration::ZERO;
    let mut offset = 0;
    while offset < bytes.len() {
        let Some(block_type) = endian.u32(bytes, offset) else {
            frames.truncated = true;
            break;
        };
        if block_type == PCAPNG_SECTION_HEADER {
            // The section header's byte-order magic says how everything up to the
            // next section header is written, its own length included.
            endian = match Endian::Little.u32(bytes, offset + 8) {
                Some(PCAPNG_BYTE_ORDER) => Endian::Little,
                Some(magic) if magic.swap_bytes() == PCAPNG_BYTE_ORDER => Endian::Big,
                Some(_) => {
                    return Err(block_error(
                        offset,
                        block_type,
                        "byte-order magic is not 0x1A2B3C4D",
                    ))
                }
                None => {
                    frames.truncated = true;
                    break;
                }
            };
            interfaces.clear();
        }
        let Some(total_len) = endian.u32(bytes, offset + 4) else {
            frames.truncated = true;
            break;
        };
        let total_len = total_len as usize;
        if total_len < 12 || !total_len.is_multiple_of(4) {
            return Err(block_error(
                offset,
                block_type,
                "block length is not a multiple of 4 of at least 12",
            ));
        }
        let Some(block) = bytes.get(offset..offset.saturating_add(total_len)) else {
            frames.truncated = true;
            break;
        };
        if endian.u32(block, total_len - 4) != Some(total_len as u32) {
            return Err(block_error(
                offset,
                block_type,
                "trailing block length differs from the leading one",
            ));
        }
        let body = &block[8..total_len - 4];
        let error = |what| block_error(offset, block_type, what);
        match block_type {
            PCAPNG_SECTION_HEADER if endian.u16(body, 4) != Some(1) => {
                return Err(error("section version is not 1.x"));
            }
            PCAPNG_INTERFACE => {
                let (Some(code), Some(snap_len)) = (endian.u16(body, 0), endian.u32(body, 4))
                else {
                    return Err(error("interface description shorter than 8 bytes"));
                };
                let mut interface = Interface {
                    link: LinkType::from_code(u32::from(code)),
                    snap_len,
                    resolution: Resolution::Decimal(6),
                    offset_seconds: 0,
                };
                for (option, value) in options(endian, &body[8..]).map_err(error)? {
                    match option {
                        OPTION_TS_RESOLUTION => {
                            interface.resolution = value
                                .first()
                                .and_then(|value| Resolution::from_option(*value))
                                .ok_or_else(|| error("if_tsresol finer than a u64 can count"))?;
                        }
                        OPTION_TS_OFFSET => {
                            interface.offset_seconds = endian
                                .u64(value, 0)
                                .ok_or_else(|| error("if_tsoffset shorter than 8 bytes"))?
                                as i64;
                        }
                        _ => {}
                    }
                }
                interfaces.push(interface);
            }
            PCAPNG_ENHANCED_PACKET | PCAPNG_OBSOLETE_PACKET => {
                let id = if block_type == PCAPNG_ENHANCED_PACKET {
                    endian.u32(body, 0)
                } else {
                    endian.u16(body, 0).map(u32::from)
                };
                let (Some(id), Some(high), Some(low), Some(captured)) = (
                    id,
                    endian.u32(body, 4),
                    endian.u32(body, 8),
                    endian.u32(body, 12),
                ) else {
                    return Err(error("packet block shorter than its 20-byte header"));
                };
                let interface = interfaces
                    .get(id as usize)
                    .ok_or_else(|| error("packet of an interface no description declared"))?;
                let data = body
                    .get(20..20usize.saturating_add(captured as usize))
                    .ok_or_else(|| error("captured length runs past the block"))?;
                last_time = interface.resolution.to_duration(
                    (u64::from(high) << 32) | u64::from(low),
                    interface.offset_seconds,
                );
                frames.frames.push(Frame {
                    time: last_time,
                    link: interface.link,
                    data,
                });
            }
            PCAPNG_SIMPLE_PACKET => {
                let Some(original) = endian.u32(body, 0) else {
                    return Err(error("simple packet block shorter than 4 bytes"));
                };
                let interface = interfaces
                    .first()
                    .ok_or_else(|| error("simple packet before any interface description"))?;
                let mut captured = (original as usize).min(body.len() - 4);
                if interface.snap_len != 0 {
                    captured = captured.min(interface.snap_len as usize);
                }
                // A simple packet has no timestamp: it is given the time of the
                // packet before it.
                frames.frames.push(Frame {
                    time: last_time,
                    link: interface.link,
                    data: &body[4..4 + captured],
                });
            }
            _ => {}
        }
        offset += total_len;
    }
    Ok(frames)
}

fn block_error(offset: usize, block_type: u32, what: &'static str) -> CaptureError {
    CaptureError::Block {
        offset,
        block_type,
        what,
    }
}

/// A block's options: code, length, value padded to 32 bits, up to `opt_endofopt`
/// or the end of the block.
fn options(endian: Endian, mut bytes: &[u8]) -> Result<Vec<(u16, &[u8])>, &'static str> {
    let mut out = Vec::new();
    while bytes.len() >= 4 {
        let code = endian.u16(bytes, 0).unwrap_or_default();
        let len = usize::from(endian.u16(bytes, 2).unwrap_or_default());
        if code == OPTION_END {
            break;
        }
        let value = bytes
            .get(4..4 + len)
            .ok_or("an option runs past the block")?;
        out.push((code, value));
        let padded = 4 + len.div_ceil(4) * 4;
        bytes = bytes.get(padded..).unwrap_or_default();
    }
    Ok(out)
}
