//! Each provider dialect's response, read tolerantly: every field is
//! optional, unknown fields are ignored, and segment times are clamped to the
//! audio that was sent, so a provider's rounding or a hallucinated tail never
//! places text outside the call.

use serde_json::Value;

use crate::transcript::{ChannelTranscript, Segment};

/// The API dialects greffier speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// `POST {base}/v1/audio/transcriptions` with
    /// `response_format=verbose_json`: OpenAI and compatible hosts
    /// (Scaleway's generative APIs, self-hosted servers).
    OpenAi,
    /// Mistral AI's Voxtral on the same path; segments in its own shape.
    Mistral,
    /// Gladia's pre-recorded API: the result of polling a job.
    Gladia,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ResponseError {
    #[error("the response is not JSON: {0}")]
    NotJson(String),
    #[error("the response is not a JSON object")]
    NotAnObject,
    /// Gladia: the job is still queued or processing.
    #[error("the job is not finished yet (status `{0}`)")]
    Pending(String),
    /// Gladia: the job ended in error.
    #[error("the provider reports the job failed (status `{0}`)")]
    Failed(String),
}

/// Reads one channel's transcription from a provider's response body.
/// `audio_seconds` is the length of the audio sent.
pub fn parse_response(
    dialect: Dialect,
    body: &[u8],
    audio_seconds: f64,
) -> Result<ChannelTranscript, ResponseError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|error| ResponseError::NotJson(error.to_string()))?;
    if !value.is_object() {
        return Err(ResponseError::NotAnObject);
    }
    match dialect {
        Dialect::OpenAi | Dialect::Mistral => Ok(ChannelTranscript {
            language: string(&value, "language"),
            text: string(&value, "text"),
            segments: segments(value.get("segments"), audio_seconds),
        }),
        Dialect::Gladia => gladia(&value, audio_seconds),
    }
}

fn gladia(value: &Value, audio_seconds: f64) -> Result<ChannelTranscript, ResponseError> {
    match value.get("status").and_then(Value::as_str) {
        Some("done") | None => {}
        Some(status @ ("queued" | "processing")) => {
            return Err(ResponseError::Pending(status.to_owned()))
        }
        Some(status) => return Err(ResponseError::Failed(status.to_owned())),
    }
    let transcription = value
        .get("result")
        .and_then(|result| result.get("transcription"));
    let Some(transcription) = transcription else {
        return Ok(ChannelTranscript::default());
    };
    let language = transcription
        .get("languages")
        .and_then(Value::as_array)
        .and_then(|languages| languages.iter().find_map(Value::as_str))
        .map(str::to_owned);
    Ok(ChannelTranscript {
        language,
        text: string(transcription, "full_transcript"),
        segments: segments(transcription.get("utterances"), audio_seconds),
    })
}

fn string(value: &Value, key: &str) -> Option<String> {
    value
        .get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|text| !text.is_empty())
        .map(str::to_owned)
}

/// Segments with text, in the provider's order; times clamped to
/// `[0, audio_seconds]` with `start <= end`. A missing start is 0, a missing
/// end is the start (an instant). Non-finite times drop the segment.
fn segments(list: Option<&Value>, audio_seconds: f64) -> Vec<Segment> {
    let limit = if audio_seconds.is_finite() {
        audio_seconds.max(0.0)
    } else {
        0.0
    };
    let Some(list) = list.and_then(Value::as_array) else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|item| {
            let text = string(item, "text")?;
            let start = item.get("start").map_or(Some(0.0), Value::as_f64)?;
            let end = item.get("end").map_or(Some(start), Value::as_f64)?;
            if !start.is_finite() || !end.is_finite() {
                return None;
            }
            let start = start.clamp(0.0, limit);
            let end = end.clamp(start, limit);
            Some(Segment {
                speaker: None,
                start,
                end,
                text,
            })
        })
        .collect()
}
