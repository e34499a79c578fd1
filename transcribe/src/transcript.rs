//! One call's transcript: both channels, merged by time.

use serde::{Deserialize, Serialize};

/// Who spoke: the call's caller or callee (each channel is sent separately).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Speaker {
    Caller,
    Callee,
}

/// A timed piece of text, in seconds from the start of the call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Segment {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub speaker: Option<Speaker>,
    pub start: f64,
    pub end: f64,
    pub text: String,
}

/// What a provider returned for one channel.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChannelTranscript {
    pub language: Option<String>,
    /// The whole text, when the provider gave one.
    pub text: Option<String>,
    pub segments: Vec<Segment>,
}

/// The stored transcript of a call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transcript {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    pub provider: String,
    pub model: String,
    pub segments: Vec<Segment>,
}

/// Both channels' segments labelled by speaker and ordered by start time
/// (the caller first on a tie, then by end). A channel that returned text but
/// no segments contributes one segment spanning its audio, so nothing the
/// provider said is lost. The language is the caller's, else the callee's.
pub fn merge_channels(
    caller: ChannelTranscript,
    caller_seconds: f64,
    callee: ChannelTranscript,
    callee_seconds: f64,
    provider: &str,
    model: &str,
) -> Transcript {
    let language = caller.language.clone().or_else(|| callee.language.clone());
    let mut segments: Vec<Segment> = labelled(caller, Speaker::Caller, caller_seconds)
        .chain(labelled(callee, Speaker::Callee, callee_seconds))
        .collect();
    segments.sort_by(|a, b| {
        a.start
            .total_cmp(&b.start)
            .then_with(|| speaker_rank(a).cmp(&speaker_rank(b)))
            .then_with(|| a.end.total_cmp(&b.end))
    });
    Transcript {
        language,
        provider: provider.to_owned(),
        model: model.to_owned(),
        segments,
    }
}

fn speaker_rank(segment: &Segment) -> u8 {
    match segment.speaker {
        Some(Speaker::Caller) | None => 0,
        Some(Speaker::Callee) => 1,
    }
}

fn labelled(
    channel: ChannelTranscript,
    speaker: Speaker,
    seconds: f64,
) -> impl Iterator<Item = Segment> {
    let whole = match (&channel.text, channel.segments.is_empty()) {
        (Some(text), true) if !text.trim().is_empty() => Some(Segment {
            speaker: Some(speaker),
            start: 0.0,
            end: seconds.max(0.0),
            text: text.trim().to_owned(),
        }),
        _ => None,
    };
    channel
        .segments
        .into_iter()
        .map(move |segment| Segment {
            speaker: Some(speaker),
            ..segment
        })
        .chain(whole)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(start: f64, end: f64, text: &str) -> Segment {
        Segment {
            speaker: None,
            start,
            end,
            text: text.to_owned(),
        }
    }

    #[test]
    fn interleaves_the_two_channels_by_time() {
        let caller = ChannelTranscript {
            language: Some("fr".into()),
            text: None,
            segments: vec![segment(0.5, 2.0, "Bonjour"), segment(6.0, 7.0, "Merci")],
        };
        let callee = ChannelTranscript {
            language: Some("en".into()),
            text: None,
            segments: vec![segment(2.5, 5.0, "Hello"), segment(6.0, 6.5, "Bye")],
        };
        let merged = merge_channels(caller, 8.0, callee, 8.0, "local", "whisper-base");
        let order: Vec<(Option<Speaker>, &str)> = merged
            .segments
            .iter()
            .map(|s| (s.speaker, s.text.as_str()))
            .collect();
        assert_eq!(
            order,
            vec![
                (Some(Speaker::Caller), "Bonjour"),
                (Some(Speaker::Callee), "Hello"),
                (Some(Speaker::Caller), "Merci"),
                (Some(Speaker::Callee), "Bye"),
            ]
        );
        assert_eq!(merged.language.as_deref(), Some("fr"));
    }

    #[test]
    fn text_without_segments_is_kept_as_one_segment() {
        let callee = ChannelTranscript {
            language: None,
            text: Some(" Only text ".into()),
            segments: vec![],
        };
        let merged = merge_channels(ChannelTranscript::default(), 3.0, callee, 4.0, "p", "m");
        assert_eq!(
            merged.segments,
            vec![Segment {
                speaker: Some(Speaker::Callee),
                start: 0.0,
                end: 4.0,
                text: "Only text".into(),
            }]
        );
    }
}
