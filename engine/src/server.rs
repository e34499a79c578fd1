//! The OpenAI-compatible endpoint: `POST /v1/audio/transcriptions`
//! (multipart `file`, `model`, `language`, `response_format`,
//! `timestamp_granularities[]`), and `GET /health` for readiness.
//!
//! Nothing of what is heard is logged: only sizes, durations and outcomes.

use std::io::Cursor;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{DefaultBodyLimit, Multipart, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use greffier_transcribe::audio::resample;
use serde_json::json;

use crate::keys::KeyFile;
use crate::model::{Busy, Model};

pub struct Engine {
    pub model: Model,
    pub keys: KeyFile,
    pub max_audio_seconds: f64,
}

pub fn router(engine: Arc<Engine>, max_upload_bytes: usize) -> Router {
    Router::new()
        .route("/health", get(|| async { "ok" }))
        .route("/v1/audio/transcriptions", post(transcriptions))
        .layer(DefaultBodyLimit::max(max_upload_bytes))
        .with_state(engine)
}

/// An error in OpenAI's shape, so OpenAI clients report it as such.
fn error(status: StatusCode, kind: &str, message: impl Into<String>) -> Response {
    let body = json!({"error": {"message": message.into(), "type": kind}});
    (status, Json(body)).into_response()
}

#[derive(Default)]
struct Request {
    audio: Option<Vec<u8>>,
    language: Option<String>,
    format: Option<String>,
    granularities: Vec<String>,
}

async fn read_request(mut multipart: Multipart) -> Result<Request, Response> {
    let bad = |message: String| error(StatusCode::BAD_REQUEST, "invalid_request_error", message);
    let mut request = Request::default();
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| bad(format!("malformed multipart body: {e}")))?
    {
        let name = field.name().unwrap_or_default().to_owned();
        match name.as_str() {
            "file" => {
                let bytes = field
                    .bytes()
                    .await
                    .map_err(|e| bad(format!("reading `file`: {e}")))?;
                request.audio = Some(bytes.to_vec());
            }
            "language"
            | "response_format"
            | "timestamp_granularities[]"
            | "timestamp_granularities" => {
                let text = field
                    .text()
                    .await
                    .map_err(|e| bad(format!("reading `{name}`: {e}")))?;
                match name.as_str() {
                    "language" => request.language = Some(text.trim().to_owned()),
                    "response_format" => request.format = Some(text.trim().to_owned()),
                    _ => request.granularities.push(text.trim().to_owned()),
                }
            }
            // `model`, `temperature`, `prompt`: one model is served; the
            // rest does not apply to it.
            _ => {}
        }
    }
    Ok(request)
}

/// Mono samples in [-1, 1] and their rate, from a PCM WAV file.
fn decode_wav(bytes: &[u8]) -> Result<(Vec<f32>, u32), String> {
    let reader = hound::WavReader::new(Cursor::new(bytes))
        .map_err(|e| format!("`file` is not a WAV file this engine reads: {e}"))?;
    let spec = reader.spec();
    let channels = usize::from(spec.channels.max(1));
    let interleaved: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Int => {
            let scale = 2f32.powi(i32::from(spec.bits_per_sample.clamp(1, 32)) - 1);
            reader
                .into_samples::<i32>()
                .map(|s| s.map(|v| v as f32 / scale))
                .collect::<Result<_, _>>()
        }
        hound::SampleFormat::Float => reader.into_samples::<f32>().collect::<Result<_, _>>(),
    }
    .map_err(|e| format!("the WAV data is damaged: {e}"))?;
    let mono = interleaved
        .chunks(channels)
        .map(|frame| frame.iter().sum::<f32>() / frame.len() as f32)
        .collect();
    Ok((mono, spec.sample_rate))
}

async fn transcriptions(
    State(engine): State<Arc<Engine>>,
    headers: HeaderMap,
    multipart: Multipart,
) -> Response {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::to_owned);
    let engine_for_check = engine.clone();
    let key = match presented {
        Some(presented) => {
            tokio::task::spawn_blocking(move || engine_for_check.keys.check(&presented))
                .await
                .ok()
                .flatten()
        }
        None => None,
    };
    let Some(key_id) = key else {
        return error(
            StatusCode::UNAUTHORIZED,
            "invalid_request_error",
            "a valid API key is required (Authorization: Bearer …)",
        );
    };
    let request = match read_request(multipart).await {
        Ok(request) => request,
        Err(response) => return response,
    };
    let bad = |message: &str| error(StatusCode::BAD_REQUEST, "invalid_request_error", message);
    let format = request.format.as_deref().unwrap_or("json");
    if !matches!(format, "json" | "verbose_json" | "text") {
        return bad("response_format must be json, verbose_json or text");
    }
    if request.granularities.iter().any(|g| g != "segment") {
        return bad("only segment timestamps are available");
    }
    if let Some(language) = &request.language {
        let plausible =
            (2..=3).contains(&language.len()) && language.bytes().all(|b| b.is_ascii_lowercase());
        if !plausible {
            return bad("language must be an ISO 639-1 code such as `fr`");
        }
    }
    let Some(audio) = request.audio else {
        return bad("the multipart field `file` is required");
    };
    let (samples, rate) = match decode_wav(&audio) {
        Ok(decoded) => decoded,
        Err(message) => return bad(&message),
    };
    let seconds = samples.len() as f64 / f64::from(rate.max(1));
    if seconds > engine.max_audio_seconds {
        return bad("the audio is longer than this engine accepts");
    }
    let samples = resample(&samples, rate, engine.model.sampling_rate);
    let started = Instant::now();
    let transcription = match engine
        .model
        .transcribe(samples, request.language.clone())
        .await
    {
        Ok(transcription) => transcription,
        Err(Busy::Queue) => {
            let mut response = error(
                StatusCode::SERVICE_UNAVAILABLE,
                "server_error",
                "the engine is busy; retry later",
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("5"));
            return response;
        }
        Err(Busy::Failed(message)) => {
            tracing::warn!(key = %key_id, "transcription failed: {message}");
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "transcription failed",
            );
        }
    };
    let elapsed = started.elapsed().as_secs_f64();
    tracing::info!(
        key = %key_id,
        audio_seconds = seconds,
        elapsed_seconds = elapsed,
        real_time_factor = elapsed / seconds.max(1e-6),
        segments = transcription.segments.len(),
        "transcribed"
    );
    let text = transcription
        .segments
        .iter()
        .map(|segment| segment.text.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    match format {
        "text" => text.into_response(),
        "json" => Json(json!({"text": text})).into_response(),
        _ => Json(json!({
            "task": "transcribe",
            "language": request.language,
            "duration": seconds,
            "text": text,
            "segments": transcription.segments,
        }))
        .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wav(channels: u16, rate: u32, frames: &[[i16; 2]]) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        let spec = hound::WavSpec {
            channels,
            sample_rate: rate,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut writer = hound::WavWriter::new(&mut out, spec).unwrap();
        for frame in frames {
            for sample in &frame[..usize::from(channels)] {
                writer.write_sample(*sample).unwrap();
            }
        }
        writer.finalize().unwrap();
        out.into_inner()
    }

    #[test]
    fn stereo_is_mixed_down_and_the_rate_kept() {
        let (mono, rate) = decode_wav(&wav(2, 8000, &[[16384, 0], [-16384, -16384]])).unwrap();
        assert_eq!(rate, 8000);
        assert_eq!(mono, vec![0.25, -0.5]);
    }

    #[test]
    fn what_is_not_a_wav_file_is_refused_with_a_reason() {
        let message = decode_wav(b"ID3\x04 an mp3").unwrap_err();
        assert!(message.starts_with("`file` is not a WAV file"), "{message}");
    }
}
