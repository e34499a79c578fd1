//! Payload type → codec, from the static RTP/AVP table and the SDP's rtpmaps.

use super::Codec;
use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CodecMapError {
    #[error("payload type {0} is outside 0..=127")]
    PayloadTypeOutOfRange(u16),
    #[error("rtpmap encoding {0:?} is not of the form name/clock-rate[/channels]")]
    BadEncoding(String),
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

    /// Adds one `a=rtpmap:<pt> <encoding>` entry such as `telephone-event/8000`.
    /// Encodings this recorder cannot decode are recorded as unknown (`Ok(false)`),
    /// so a stale static entry for that payload type no longer applies.
    pub fn insert_rtpmap(
        &mut self,
        payload_type: u16,
        encoding: &str,
    ) -> Result<bool, CodecMapError> {
        let slot = self
            .by_payload_type
            .get_mut(usize::from(payload_type))
            .ok_or(CodecMapError::PayloadTypeOutOfRange(payload_type))?;
        let mut parts = encoding.trim().split('/');
        let name = parts.next().unwrap_or_default();
        let clock_rate: u32 = parts
            .next()
            .and_then(|rate| rate.parse().ok())
            .ok_or_else(|| CodecMapError::BadEncoding(encoding.to_owned()))?;
        let codec = match (name.to_ascii_lowercase().as_str(), clock_rate) {
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

    /// Builds the map of an SDP body: static payload types plus every
    /// `a=rtpmap` line; the payload types of `m=audio` lines are the offered ones. Lines that do not parse are skipped, not fatal: the
    /// recorder then ignores packets of that payload type.
    pub fn from_sdp(sdp: &str) -> Self {
        let mut map = Self::default();
        // rtpmaps of other media (video reuses dynamic numbers) must not apply.
        let mut in_audio = true;
        for line in sdp.lines().map(str::trim) {
            if let Some(media) = line.strip_prefix("m=") {
                in_audio = media.starts_with("audio ");
                if in_audio {
                    for format in media.split_whitespace().skip(3) {
                        if let Ok(payload_type) = format.parse() {
                            map.negotiate(payload_type);
                        }
                    }
                }
                continue;
            }
            let Some(rest) = line.strip_prefix("a=rtpmap:").filter(|_| in_audio) else {
                continue;
            };
            let Some((payload_type, encoding)) = rest.split_once(' ') else {
                continue;
            };
            if let Ok(payload_type) = payload_type.parse() {
                let _ = map.insert_rtpmap(payload_type, encoding);
            }
        }
        map
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_static_and_dynamic_entries() {
        let map = CodecMap::from_sdp(
            "v=0\r\nm=audio 4000 RTP/AVP 8 96 99\r\na=rtpmap:96 telephone-event/8000\r\n\
             a=rtpmap:99 opus/48000/2\r\na=rtpmap:18 G729/8000\r\n",
        );
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
    fn other_media_sections_do_not_override_audio() {
        let map = CodecMap::from_sdp(
            "m=audio 4000 RTP/AVP 0 96\r\na=rtpmap:96 telephone-event/8000\r\n\
             m=video 4002 RTP/AVP 96\r\na=rtpmap:96 VP8/90000\r\n",
        );
        assert_eq!(
            map.get(96),
            Some(Codec::TelephoneEvent { clock_rate: 8000 })
        );
        assert_eq!(
            map.negotiated_codecs().collect::<Vec<_>>(),
            vec![Codec::Pcmu, Codec::TelephoneEvent { clock_rate: 8000 }]
        );
    }

    #[test]
    fn rejects_malformed_entries() {
        let mut map = CodecMap::default();
        assert_eq!(
            map.insert_rtpmap(128, "PCMU/8000"),
            Err(CodecMapError::PayloadTypeOutOfRange(128))
        );
        assert!(matches!(
            map.insert_rtpmap(96, "opus"),
            Err(CodecMapError::BadEncoding(_))
        ));
        assert_eq!(map.insert_rtpmap(0, "speex/8000"), Ok(false));
        assert_eq!(map.get(0), None);
    }
}
