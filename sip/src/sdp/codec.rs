//! Payload types: the static assignments of RFC 3551 and what `a=rtpmap` declares.

/// One payload type of a media section, as the author of the SDP will use it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Codec {
    pub payload_type: u8,
    pub encoding: String,
    pub clock_rate: u32,
    pub channels: u16,
    /// The `a=fmtp` parameters, verbatim.
    pub format_parameters: Option<String>,
}

/// RFC 3551 §6 static payload types: encoding name, clock rate, channels.
pub fn static_payload_type(payload_type: u8) -> Option<(&'static str, u32, u16)> {
    let entry = match payload_type {
        0 => ("PCMU", 8000, 1),
        3 => ("GSM", 8000, 1),
        4 => ("G723", 8000, 1),
        5 => ("DVI4", 8000, 1),
        6 => ("DVI4", 16000, 1),
        7 => ("LPC", 8000, 1),
        8 => ("PCMA", 8000, 1),
        // G.722 samples at 16 kHz but RFC 3551 fixes its RTP clock at 8000.
        9 => ("G722", 8000, 1),
        10 => ("L16", 44100, 2),
        11 => ("L16", 44100, 1),
        12 => ("QCELP", 8000, 1),
        13 => ("CN", 8000, 1),
        14 => ("MPA", 90000, 1),
        15 => ("G728", 8000, 1),
        16 => ("DVI4", 11025, 1),
        17 => ("DVI4", 22050, 1),
        18 => ("G729", 8000, 1),
        25 => ("CelB", 90000, 1),
        26 => ("JPEG", 90000, 1),
        28 => ("nv", 90000, 1),
        31 => ("H261", 90000, 1),
        32 => ("MPV", 90000, 1),
        33 => ("MP2T", 90000, 1),
        34 => ("H263", 90000, 1),
        _ => return None,
    };
    Some(entry)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_static_types_telephony_uses() {
        assert_eq!(static_payload_type(0), Some(("PCMU", 8000, 1)));
        assert_eq!(static_payload_type(8), Some(("PCMA", 8000, 1)));
        assert_eq!(static_payload_type(9), Some(("G722", 8000, 1)));
        assert_eq!(static_payload_type(13), Some(("CN", 8000, 1)));
        assert_eq!(static_payload_type(18), Some(("G729", 8000, 1)));
        assert_eq!(static_payload_type(96), None);
        assert_eq!(static_payload_type(2), None);
    }
}
