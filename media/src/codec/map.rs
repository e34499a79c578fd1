//! Payload type → codec, from the static RTP/AVP table and the payload formats one
//! leg negotiated. The session description is parsed once, on the SIP side; what
//! crosses into media is the typed list of formats below, never SDP text.

use super::Codec;
use thiserror::Error;

/// One payload format a leg announced for the recorded stream: what an `m=` format
/// plus its `a=rtpmap` (or the static table of RFC 3551) say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpFormat {
    pub payload_type: u8,
    /// The encoding name as announced (compared without regard to case, RFC 4855 §3).
    pub encoding: String,
    pub clock_rate: u32,
}

impl RtpFormat {
    pub fn new(payload_type: u8, encoding: &str, clock_rate: u32) -> Self {
        Self {
            payload_type,
            encoding: encoding.to_string(),
            clock_rate,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CodecMapError {
    #[error("payload type {0} is outside 0..=127")]
    PayloadTypeOutOfRange(u16),
}

/// Which codec each payload type of one leg carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodecMap {
    by_payload_type: [Option<Codec>; 128],
    /// Bit n set: payload type n was offered in the SDP (m= line or rtpmap).
    negotiated: u128,
}

impl Default for CodecMap {
    /// The static assignments of RFC 3551 that this recorder decodes.
    fn default() -> Self {
        let mut by_payload_type = [None; 128];
        by_payload_type[0] = Some(Codec::Pcmu);
        by_payload_type[8] = Some(Codec::Pcma);
        by_payload_type[9] = Some(Codec::G722);
        by_payload_type[18] = Some(Codec::G729);
        by_payload_type[13] = Some(Codec::ComfortNoise);
        Self {
            by_payload_type,
            negotiated: 0,
        }
    }
}

impl CodecMap {
    pub fn get(&self, payload_type: u8) -> Option<Codec> {
        self.by_payload_type
            .get(usize::from(payload_type))
            .copied()
            .flatten()
    }

    /// Codecs the SDP offered; every known codec when it named none.
    pub fn negotiated_codecs(&self) -> impl Iterator<Item = Codec> + '_ {
        let everything = self.negotiated == 0;
        self.by_payload_type
            .iter()
            .enumerate()
            .filter(move |(pt, _)| everything || self.negotiated & (1 << pt) != 0)
            .filter_map(|(_, codec)| *codec)
    }

    /// Marks a payload type as offered in the SDP.
    pub fn negotiate(&mut self, payload_type: u8) {
        if payload_type < 128 {
            self.negotiated |= 1 << payload_type;
        }
    }

    /// Sets what `payload_type` carries, from an encoding name and clock rate such as
    /// `telephone-event` at 8000. Encodings this recorder cannot decode are recorded
    /// as unknown (`Ok(false)`), so a stale static entry for that payload type no
    /// longer applies.
    pub fn insert(&mut self, format: &RtpFormat) -> Result<bool, CodecMapError> {
        let payload_type = format.payload_type;
        let slot = self
            .by_payload_type
            .get_mut(usize::from(payload_type))
            .ok_or(CodecMapError::PayloadTypeOutOfRange(u16::from(
                payload_type,
            )))?;
        let codec = match (
            format.encoding.to_ascii_lowercase().as_str(),
            format.clock_rate,
        ) {
            ("pcmu", 8000) => Some(Codec::Pcmu),
            ("pcma", 8000) => Some(Codec::Pcma),
            ("g722", 8000) => Some(Codec::G722),
            ("g729", 8000) => Some(Codec::G729),
            ("opus", 48_000) => Some(Codec::Opus),
            ("cn", 8000) => Some(Codec::ComfortNoise),
            ("telephone-event", rate) if rate > 0 => {
                Some(Codec::TelephoneEvent { clock_rate: rate })
            }
            _ => None,
        };
        *slot = codec;
        self.negotiated |= 1 << payload_type;
        Ok(codec.is_some())
    }

    /// The map of one leg: the static payload types, overridden by the formats the
    /// leg announced, which are the negotiated ones. A format out of range is
    /// skipped, not fatal: the recorder then ignores packets of that payload type.
    pub fn from_formats(formats: &[RtpFormat]) -> Self {
        let mut map = Self::default();
        for format in formats {
            let _ = map.insert(format);
        }
        map
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_static_and_dynamic_entries() {
        let map = CodecMap::from_formats(&[
            RtpFormat::new(8, "PCMA", 8000),
            RtpFormat::new(18, "G729", 8000),
            RtpFormat::new(96, "telephone-event", 8000),
            RtpFormat::new(99, "opus", 48_000),
        ]);
        assert_eq!(map.get(8), Some(Codec::Pcma));
        assert_eq!(map.get(0), Some(Codec::Pcmu));
        assert_eq!(
            map.get(96),
            Some(Codec::TelephoneEvent { clock_rate: 8000 })
        );
        assert_eq!(map.get(99), Some(Codec::Opus));
        assert_eq!(map.get(18), Some(Codec::G729));
        assert_eq!(map.get(200), None);
        let offered: Vec<Codec> = map.negotiated_codecs().collect();
        assert_eq!(
            offered,
            vec![
                Codec::Pcma,
                Codec::G729,
                Codec::TelephoneEvent { clock_rate: 8000 },
                Codec::Opus
            ]
        );
        assert!(CodecMap::default()
            .negotiated_codecs()
            .any(|c| c == Codec::G722));
    }

    #[test]
    fn encoding_names_are_read_without_regard_to_case() {
        let map = CodecMap::from_formats(&[RtpFormat::new(96, "PCMU", 8000)]);
        assert_eq!(map.get(96), Some(Codec::Pcmu));
        let map = CodecMap::from_formats(&[RtpFormat::new(97, "Telephone-Event", 16000)]);
        assert_eq!(
            map.get(97),
            Some(Codec::TelephoneEvent { clock_rate: 16000 })
        );
    }

    #[test]
    fn rejects_malformed_entries() {
        let mut map = CodecMap::default();
        assert_eq!(
            map.insert(&RtpFormat::new(128, "PCMU", 8000)),
            Err(CodecMapError::PayloadTypeOutOfRange(128))
        );
        assert_eq!(map.insert(&RtpFormat::new(0, "speex", 8000)), Ok(false));
        assert_eq!(map.get(0), None);
        assert_eq!(map.insert(&RtpFormat::new(0, "PCMU", 16000)), Ok(false));
    }
}
