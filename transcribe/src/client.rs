//! The HTTP shell of one provider: sends one channel's audio in its dialect
//! and classifies what comes back for the job state machine
//! ([`crate::job::Attempt`]).
//!
//! Only audio leaves: the request carries the audio under a random file
//! name, the model, and (OpenAI dialect) the language; never a number, a
//! name or anything from SIP. The API key is never printed.

use std::fmt;
use std::time::Duration;

use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::multipart::{Form, Part};
use reqwest::{Response, StatusCode};
use serde_json::Value;
use zeroize::Zeroizing;

use crate::job::Attempt;
use crate::response::{parse_response, Dialect, ResponseError};
use crate::transcript::ChannelTranscript;

/// A provider's API key, kept out of every `Debug` and log line.
#[derive(Clone)]
pub struct ApiKey(Zeroizing<String>);

impl ApiKey {
    pub fn new(key: String) -> Self {
        ApiKey(Zeroizing::new(key.trim().to_owned()))
    }

    fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

/// How to reach one provider.
#[derive(Debug, Clone)]
pub struct ProviderSettings {
    pub dialect: Dialect,
    /// The base address: `https://api.example.eu` (the dialect adds its path).
    pub base: String,
    pub model: String,
    /// Sent only where the dialect accepts it with segment timestamps.
    pub language: Option<String>,
    pub key: Option<ApiKey>,
    /// Each HTTP request's limit.
    pub request_timeout: Duration,
    /// Gladia: how often to poll a job, and for how long at most.
    pub poll_every: Duration,
    pub poll_for: Duration,
}

/// Why an attempt did not give a transcript, as the job state machine sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    Transient {
        reason: String,
        retry_after: Option<Duration>,
    },
    Permanent {
        reason: String,
    },
}

impl From<Failure> for Attempt {
    fn from(failure: Failure) -> Self {
        match failure {
            Failure::Transient {
                reason,
                retry_after,
            } => Attempt::Transient {
                reason,
                retry_after,
            },
            Failure::Permanent { reason } => Attempt::Permanent { reason },
        }
    }
}

pub struct ProviderClient {
    http: reqwest::Client,
    settings: ProviderSettings,
}

impl ProviderClient {
    pub fn new(settings: ProviderSettings) -> Result<Self, Failure> {
        let http = reqwest::Client::builder()
            .timeout(settings.request_timeout)
            .build()
            .map_err(|error| Failure::Permanent {
                reason: format!("HTTP client: {error}"),
            })?;
        Ok(ProviderClient { http, settings })
    }

    /// Transcribes one channel: `wav` is mono 16 kHz WAV of `audio_seconds`.
    pub async fn transcribe(
        &self,
        wav: Vec<u8>,
        audio_seconds: f64,
    ) -> Result<ChannelTranscript, Failure> {
        let body = match self.settings.dialect {
            Dialect::OpenAi | Dialect::Mistral => self.transcriptions(wav).await?,
            Dialect::Gladia => return self.gladia(wav, audio_seconds).await,
        };
        parse_response(self.settings.dialect, &body, audio_seconds).map_err(unreadable)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.settings.base.trim_end_matches('/'))
    }

    fn authorised(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match (&self.settings.key, self.settings.dialect) {
            (None, _) => request,
            (Some(key), Dialect::Gladia) => request.header("x-gladia-key", key.expose()),
            (Some(key), _) => request.bearer_auth(key.expose()),
        }
    }

    /// `POST {base}/v1/audio/transcriptions`, OpenAI's and Mistral's shape.
    async fn transcriptions(&self, wav: Vec<u8>) -> Result<Vec<u8>, Failure> {
        let mut form = Form::new()
            .part("file", audio_part(wav)?)
            .text("model", self.settings.model.clone());
        match self.settings.dialect {
            Dialect::OpenAi => {
                if let Some(language) = &self.settings.language {
                    form = form.text("language", language.clone());
                }
                form = form
                    .text("response_format", "verbose_json")
                    .text("timestamp_granularities[]", "segment");
            }
            // Mistral refuses `language` together with timestamps.
            _ => form = form.text("timestamp_granularities", "segment"),
        }
        let request = self
            .authorised(self.http.post(self.url("/v1/audio/transcriptions")))
            .multipart(form);
        body_of(request.send().await).await
    }

    /// Gladia: upload, start a job, poll it until done or `poll_for`.
    async fn gladia(&self, wav: Vec<u8>, audio_seconds: f64) -> Result<ChannelTranscript, Failure> {
        let form = Form::new().part("audio", audio_part(wav)?);
        let upload = self
            .authorised(self.http.post(self.url("/v2/upload")))
            .multipart(form);
        let uploaded = json_of(body_of(upload.send().await).await?)?;
        let audio_url = field(&uploaded, "audio_url")?;
        let start = self
            .authorised(self.http.post(self.url("/v2/pre-recorded")))
            .json(&serde_json::json!({ "audio_url": audio_url }));
        let started = json_of(body_of(start.send().await).await?)?;
        let id = field(&started, "id")?;
        // Poll the job by id on the configured base, never at an address the
        // response names: the key goes only where the operator sent it.
        let poll_url = self.url(&format!("/v2/pre-recorded/{id}"));
        let deadline = tokio::time::Instant::now() + self.settings.poll_for;
        loop {
            let poll = self.authorised(self.http.get(&poll_url));
            let body = body_of(poll.send().await).await?;
            match parse_response(Dialect::Gladia, &body, audio_seconds) {
                Err(ResponseError::Pending(_)) => {}
                other => return other.map_err(unreadable),
            }
            if tokio::time::Instant::now() + self.settings.poll_every > deadline {
                return Err(Failure::Transient {
                    reason: format!(
                        "the provider's job was not done after {} s",
                        self.settings.poll_for.as_secs()
                    ),
                    retry_after: None,
                });
            }
            tokio::time::sleep(self.settings.poll_every).await;
        }
    }
}

/// The audio under a random file name: the provider learns nothing from it.
fn audio_part(wav: Vec<u8>) -> Result<Part, Failure> {
    let mut random = [0u8; 12];
    getrandom::fill(&mut random).map_err(|_| Failure::Transient {
        reason: "no randomness for the file name".into(),
        retry_after: None,
    })?;
    Part::bytes(wav)
        .file_name(format!("{}.wav", hex::encode(random)))
        .mime_str("audio/wav")
        .map_err(|error| Failure::Permanent {
            reason: format!("audio part: {error}"),
        })
}

/// The body of a successful response, or the failure its status means:
/// 429 and 5xx are transient (with `Retry-After` when given), other
/// non-success statuses permanent; timeouts and connection errors transient.
async fn body_of(sent: reqwest::Result<Response>) -> Result<Vec<u8>, Failure> {
    let response = sent.map_err(|error| Failure::Transient {
        reason: request_error(&error),
        retry_after: None,
    })?;
    let status = response.status();
    if status.is_success() {
        return response
            .bytes()
            .await
            .map(|bytes| bytes.to_vec())
            .map_err(|error| Failure::Transient {
                reason: request_error(&error),
                retry_after: None,
            });
    }
    let retry_after = retry_after(response.headers());
    let reason = format!("the provider answered {}", status_text(status));
    if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
        Err(Failure::Transient {
            reason,
            retry_after,
        })
    } else {
        Err(Failure::Permanent { reason })
    }
}

/// What went wrong with a request, without its address (which may carry a
/// job id) or any header.
fn request_error(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else if error.is_body() || error.is_decode() {
        "the response body broke off"
    } else {
        "the request failed"
    };
    format!("the provider {kind}")
}

fn status_text(status: StatusCode) -> String {
    match status.canonical_reason() {
        Some(reason) => format!("{} {reason}", status.as_u16()),
        None => status.as_u16().to_string(),
    }
}

/// `Retry-After` in seconds (the form providers use; an HTTP date is
/// ignored and the backoff applies).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let text = headers.get(RETRY_AFTER)?.to_str().ok()?;
    text.trim().parse::<u64>().ok().map(Duration::from_secs)
}

fn json_of(body: Vec<u8>) -> Result<Value, Failure> {
    serde_json::from_slice(&body)
        .map_err(|error| unreadable(ResponseError::NotJson(error.to_string())))
}

fn field(value: &Value, key: &str) -> Result<String, Failure> {
    value
        .get(key)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| Failure::Transient {
            reason: format!("the provider's response has no `{key}`"),
            retry_after: None,
        })
}

/// A 2xx whose body cannot be read: likely a proxy or a transient fault on
/// the provider's side; a job in error is final.
fn unreadable(error: ResponseError) -> Failure {
    match error {
        ResponseError::Failed(_) => Failure::Permanent {
            reason: error.to_string(),
        },
        _ => Failure::Transient {
            reason: error.to_string(),
            retry_after: None,
        },
    }
}
