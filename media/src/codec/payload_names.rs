//! What each payload type of a leg is called (`encoding/clock-rate`), for the
//! payload types the recorder cannot decode: the manifest names them so that
//! the payloads kept can be decoded later with the right codec.

use super::RtpFormat;

/// RFC 3551 Table 4: the static audio assignments.
const STATIC: [(u8, &str); 17] = [
    (0, "PCMU/8000"),
    (3, "GSM/8000"),
    (4, "G723/8000"),
    (5, "DVI4/8000"),
    (6, "DVI4/16000"),
    (7, "LPC/8000"),
    (8, "PCMA/8000"),
    (9, "G722/8000"),
    (10, "L16/44100"),
    (11, "L16/44100"),
    (12, "QCELP/8000"),
    (13, "CN/8000"),
    (14, "MPA/90000"),
    (15, "G728/8000"),
    (16, "DVI4/11025"),
    (17, "DVI4/22050"),
    (18, "G729/8000"),
];

/// Encoding names a metric label may carry: the registered audio encodings
/// (RFC 3551, RFC 4867, RFC 3952, RFC 5577, RFC 7587, 3GPP TS 26.445, …).
/// Any other name, which the remote party chose freely, is counted as `other`.
const KNOWN_ENCODINGS: [&str; 30] = [
    "PCMU",
    "GSM",
    "G723",
    "DVI4",
    "LPC",
    "PCMA",
    "G722",
    "L16",
    "QCELP",
    "CN",
    "MPA",
    "G728",
    "G729",
    "G729D",
    "G729E",
    "GSM-EFR",
    "GSM-HR-08",
    "AMR",
    "AMR-WB",
    "EVS",
    "iLBC",
    "speex",
    "SILK",
    "G7221",
    "G726-16",
    "G726-24",
    "G726-32",
    "G726-40",
    "L8",
    "opus",
];

/// The longest name kept in a manifest; real encodings are a few characters.
const MAX_NAME_LEN: usize = 32;

/// Payload type → `encoding/clock-rate` of one leg.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayloadNames {
    names: Vec<(u8, String)>,
}

impl Default for PayloadNames {
    /// The static assignments only.
    fn default() -> Self {
        Self {
            names: STATIC
                .iter()
                .map(|&(pt, name)| (pt, name.to_string()))
                .collect(),
        }
    }
}

impl PayloadNames {
    /// The static assignments, overridden by the formats a leg announced (its
    /// `a=rtpmap` lines, read once by the SDP parser). Names that are not a plain
    /// token are kept as `unnamed/<rate>`: the SDP is the remote party's free text.
    pub fn from_formats(formats: &[RtpFormat]) -> Self {
        let mut names = Self::default();
        for format in formats.iter().filter(|format| format.payload_type < 128) {
            names.insert(
                format.payload_type,
                &format!("{}/{}", format.encoding, format.clock_rate),
            );
        }
        names
    }

    fn insert(&mut self, payload_type: u8, encoding: &str) {
        let mut parts = encoding.trim().split('/');
        let name = parts.next().unwrap_or_default();
        let rate = parts.next().and_then(|rate| rate.parse::<u32>().ok());
        let name = if name.is_empty()
            || name.len() > MAX_NAME_LEN
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        {
            "unnamed"
        } else {
            name
        };
        let full = match rate {
            Some(rate) => format!("{name}/{rate}"),
            None => name.to_string(),
        };
        self.names.retain(|(pt, _)| *pt != payload_type);
        self.names.push((payload_type, full));
    }

    /// `encoding/clock-rate`, or `PT<n>` for a payload type the SDP never named.
    pub fn name(&self, payload_type: u8) -> String {
        self.names
            .iter()
            .find(|(pt, _)| *pt == payload_type)
            .map_or_else(|| format!("PT{payload_type}"), |(_, name)| name.clone())
    }
}

/// The metric label for an encoding named `encoding/rate`: its registered
/// name, or `other` for anything the remote party made up.
pub fn codec_label(encoding: &str) -> &'static str {
    let name = encoding.split('/').next().unwrap_or_default();
    KNOWN_ENCODINGS
        .iter()
        .find(|known| known.eq_ignore_ascii_case(name))
        .copied()
        .unwrap_or("other")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtpmaps_override_the_static_table() {
        let names = PayloadNames::from_formats(&[
            RtpFormat::new(18, "G729", 8000),
            RtpFormat::new(96, "AMR-WB", 16000),
            RtpFormat::new(97, "+33612345678", 8000),
        ]);
        assert_eq!(names.name(18), "G729/8000");
        assert_eq!(names.name(96), "AMR-WB/16000");
        assert_eq!(names.name(97), "unnamed/8000");
        assert_eq!(names.name(98), "PT98");
        assert_eq!(PayloadNames::default().name(3), "GSM/8000");
    }

    #[test]
    fn labels_are_registered_names_only() {
        assert_eq!(codec_label("G729/8000"), "G729");
        assert_eq!(codec_label("amr-wb/16000"), "AMR-WB");
        assert_eq!(codec_label("unnamed/8000"), "other");
        assert_eq!(codec_label("PT98"), "other");
        assert_eq!(codec_label("+33612345678/8000"), "other");
    }
}
