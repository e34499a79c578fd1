//! Each dialect's client against a local HTTP server that checks the request
//! the way the vendor documents it and answers with the vendor's documented
//! response shapes (tests/responses/), including its error statuses.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use greffier_transcribe::{ApiKey, Dialect, Failure, ProviderClient, ProviderSettings};

/// One request as the server saw it.
#[derive(Debug, Clone, Default)]
struct Seen {
    method: String,
    path: String,
    authorization: Option<String>,
    gladia_key: Option<String>,
    /// Multipart text fields, and `file`/`audio` as `name:<file name>`.
    fields: HashMap<String, String>,
    json: Option<serde_json::Value>,
}

/// A canned answer: status, optional Retry-After, body.
type Answer = (u16, Option<&'static str>, String);

#[derive(Clone, Default)]
struct Script {
    answers: Arc<Mutex<HashMap<String, VecDeque<Answer>>>>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Script {
    fn answer(&self, path: &str, status: u16, retry_after: Option<&'static str>, body: &str) {
        self.answers
            .lock()
            .unwrap()
            .entry(path.to_owned())
            .or_default()
            .push_back((status, retry_after, body.to_owned()));
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

async fn handle(State(script): State<Script>, request: Request) -> Response {
    let method = request.method().to_string();
    let path = request.uri().path().to_owned();
    let headers: HeaderMap = request.headers().clone();
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let mut seen = Seen {
        method,
        path: path.clone(),
        authorization: header("authorization"),
        gladia_key: header("x-gladia-key"),
        ..Seen::default()
    };
    let content_type = header("content-type").unwrap_or_default();
    if content_type.starts_with("multipart/form-data") {
        let mut multipart = axum::extract::Multipart::from_request(request, &())
            .await
            .expect("a well-formed multipart body");
        while let Some(field) = multipart.next_field().await.expect("multipart field") {
            let name = field.name().unwrap_or_default().to_owned();
            match field.file_name().map(str::to_owned) {
                Some(file_name) => {
                    let data = field.bytes().await.expect("file bytes");
                    assert!(data.starts_with(b"RIFF"), "the audio is a WAV file");
                    seen.fields.insert(name, format!("name:{file_name}"));
                }
                None => {
                    let text = field.text().await.expect("text field");
                    seen.fields.insert(name, text);
                }
            }
        }
    } else if content_type.starts_with("application/json") {
        let body = Bytes::from_request(request, &()).await.expect("body");
        seen.json = Some(serde_json::from_slice(&body).expect("a JSON body"));
    }
    script.seen.lock().unwrap().push(seen);
    let answer = script
        .answers
        .lock()
        .unwrap()
        .get_mut(&path)
        .and_then(VecDeque::pop_front);
    match answer {
        Some((status, retry_after, body)) => {
            let mut response = (
                StatusCode::from_u16(status).unwrap(),
                [("content-type", "application/json")],
                body,
            )
                .into_response();
            if let Some(after) = retry_after {
                response
                    .headers_mut()
                    .insert("retry-after", after.parse().unwrap());
            }
            response
        }
        None => (StatusCode::NOT_FOUND, "no answer scripted").into_response(),
    }
}

async fn server(script: Script) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let app = Router::new().fallback(handle).with_state(script);
    tokio::spawn(async move { axum::serve(listener, app).await });
    address
}

fn settings(dialect: Dialect, address: SocketAddr, model: &str) -> ProviderSettings {
    ProviderSettings {
        dialect,
        base: format!("http://{address}/"),
        model: model.to_owned(),
        language: Some("fr".to_owned()),
        key: Some(ApiKey::new("sk-test-0123456789".to_owned())),
        request_timeout: Duration::from_secs(10),
        poll_every: Duration::from_millis(20),
        poll_for: Duration::from_secs(5),
    }
}

/// One second of silence, 16 kHz mono, as a WAV file.
fn wav() -> Vec<u8> {
    let samples = 16_000u32;
    let mut out = Vec::new();
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + samples * 2).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&16_000u32.to_le_bytes());
    out.extend_from_slice(&32_000u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&(samples * 2).to_le_bytes());
    out.resize(out.len() + samples as usize * 2, 0);
    out
}

fn response(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/responses/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn random_wav_name(value: &str) -> bool {
    let Some(name) = value.strip_prefix("name:") else {
        return false;
    };
    let Some(stem) = name.strip_suffix(".wav") else {
        return false;
    };
    stem.len() == 24 && stem.bytes().all(|b| b.is_ascii_hexdigit())
}

#[tokio::test]
async fn openai_sends_the_documented_form_and_reads_the_segments() {
    let script = Script::default();
    let address = server(script.clone()).await;
    let path = "/v1/audio/transcriptions";
    script.answer(path, 200, None, &response("openai_verbose.json"));
    script.answer(path, 200, None, &response("openai_verbose.json"));
    let client =
        ProviderClient::new(settings(Dialect::OpenAi, address, "whisper-large-v3")).unwrap();
    let channel = client.transcribe(wav(), 8.47).await.unwrap();
    assert_eq!(channel.segments.len(), 2);
    client.transcribe(wav(), 8.47).await.unwrap();

    let seen = script.seen();
    assert_eq!(seen.len(), 2);
    let first = &seen[0];
    assert_eq!((first.method.as_str(), first.path.as_str()), ("POST", path));
    assert_eq!(
        first.authorization.as_deref(),
        Some("Bearer sk-test-0123456789")
    );
    assert_eq!(first.fields["model"], "whisper-large-v3");
    assert_eq!(first.fields["language"], "fr");
    assert_eq!(first.fields["response_format"], "verbose_json");
    assert_eq!(first.fields["timestamp_granularities[]"], "segment");
    assert!(
        random_wav_name(&first.fields["file"]),
        "{:?}",
        first.fields["file"]
    );
    // Only these fields: nothing else about the call leaves.
    let mut names: Vec<&str> = first.fields.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "file",
            "language",
            "model",
            "response_format",
            "timestamp_granularities[]"
        ]
    );
    assert_ne!(
        seen[0].fields["file"], seen[1].fields["file"],
        "a new name each time"
    );
}

#[tokio::test]
async fn mistral_asks_for_segments_without_a_language() {
    let script = Script::default();
    let address = server(script.clone()).await;
    script.answer(
        "/v1/audio/transcriptions",
        200,
        None,
        &response("mistral.json"),
    );
    let client =
        ProviderClient::new(settings(Dialect::Mistral, address, "voxtral-mini-2507")).unwrap();
    let channel = client.transcribe(wav(), 4.0).await.unwrap();
    assert_eq!(channel.segments[0].text, "Bonjour,");
    let seen = script.seen();
    assert_eq!(seen[0].fields["timestamp_granularities"], "segment");
    assert!(!seen[0].fields.contains_key("language"));
    assert_eq!(seen[0].fields["model"], "voxtral-mini-2507");
}

#[tokio::test]
async fn gladia_uploads_starts_and_polls_until_done() {
    let script = Script::default();
    let address = server(script.clone()).await;
    let id = "45463597-20b7-4af7-b3b3-f5fb778203ab";
    script.answer(
        "/v2/upload",
        200,
        None,
        r#"{"audio_url":"https://api.gladia.io/file/636c70f6","audio_metadata":{"id":"636c70f6","filename":"x.wav","extension":"wav","size":32044,"audio_duration":1.0,"number_of_channels":1}}"#,
    );
    script.answer(
        "/v2/pre-recorded",
        201,
        None,
        &format!(
            r#"{{"id":"{id}","result_url":"https://elsewhere.example/v2/pre-recorded/{id}"}}"#
        ),
    );
    let poll = format!("/v2/pre-recorded/{id}");
    script.answer(&poll, 200, None, &response("gladia_processing.json"));
    script.answer(&poll, 200, None, &response("gladia_processing.json"));
    script.answer(&poll, 200, None, &response("gladia_done.json"));
    let client = ProviderClient::new(settings(Dialect::Gladia, address, "solaria-1")).unwrap();
    let channel = client.transcribe(wav(), 5.2).await.unwrap();
    assert_eq!(channel.segments.len(), 2);

    let seen = script.seen();
    let paths: Vec<&str> = seen.iter().map(|s| s.path.as_str()).collect();
    assert_eq!(
        paths,
        ["/v2/upload", "/v2/pre-recorded", &poll, &poll, &poll]
    );
    assert!(seen
        .iter()
        .all(|s| s.gladia_key.as_deref() == Some("sk-test-0123456789")));
    assert!(seen.iter().all(|s| s.authorization.is_none()));
    assert!(random_wav_name(&seen[0].fields["audio"]));
    assert_eq!(
        seen[1].json,
        Some(serde_json::json!({"audio_url": "https://api.gladia.io/file/636c70f6"}))
    );
}

#[tokio::test]
async fn statuses_are_classified_for_the_retry_policy() {
    let script = Script::default();
    let address = server(script.clone()).await;
    let path = "/v1/audio/transcriptions";
    script.answer(
        path,
        429,
        Some("7"),
        r#"{"error":{"message":"Rate limit"}}"#,
    );
    script.answer(path, 503, None, "upstream down");
    script.answer(path, 400, None, r#"{"error":{"message":"bad audio"}}"#);
    script.answer(path, 200, None, "<html>not json</html>");
    let client = ProviderClient::new(settings(Dialect::OpenAi, address, "m")).unwrap();
    assert_eq!(
        client.transcribe(wav(), 1.0).await,
        Err(Failure::Transient {
            reason: "the provider answered 429 Too Many Requests".into(),
            retry_after: Some(Duration::from_secs(7)),
        })
    );
    assert_eq!(
        client.transcribe(wav(), 1.0).await,
        Err(Failure::Transient {
            reason: "the provider answered 503 Service Unavailable".into(),
            retry_after: None,
        })
    );
    assert_eq!(
        client.transcribe(wav(), 1.0).await,
        Err(Failure::Permanent {
            reason: "the provider answered 400 Bad Request".into(),
        })
    );
    assert!(matches!(
        client.transcribe(wav(), 1.0).await,
        Err(Failure::Transient { .. })
    ));
}

#[tokio::test]
async fn a_provider_that_is_down_is_a_transient_failure() {
    // A port nothing listens on: bind, learn the port, close.
    let address = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let client = ProviderClient::new(settings(Dialect::OpenAi, address, "m")).unwrap();
    assert_eq!(
        client.transcribe(wav(), 1.0).await,
        Err(Failure::Transient {
            reason: "the provider could not connect".into(),
            retry_after: None,
        })
    );
}

#[test]
fn the_key_is_never_printed() {
    let key = ApiKey::new("sk-secret-value".to_owned());
    let settings = ProviderSettings {
        dialect: Dialect::OpenAi,
        base: "https://example.eu".into(),
        model: "m".into(),
        language: None,
        key: Some(key),
        request_timeout: Duration::from_secs(1),
        poll_every: Duration::from_secs(1),
        poll_for: Duration::from_secs(1),
    };
    let printed = format!("{settings:?}");
    assert!(!printed.contains("sk-secret-value"), "{printed}");
    assert!(printed.contains("<redacted>"));
}
