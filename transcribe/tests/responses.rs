//! Responses in each dialect's documented shape, read from files, and the ways
//! providers deviate from them.

use greffier_transcribe::{parse_response, Dialect, ResponseError};

fn read(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/responses/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("response file")
}

#[test]
fn openai_verbose_json_gives_text_language_and_clamped_segments() {
    let channel = parse_response(Dialect::OpenAi, &read("openai_verbose.json"), 8.47).unwrap();
    assert_eq!(channel.language.as_deref(), Some("english"));
    let texts: Vec<&str> = channel.segments.iter().map(|s| s.text.as_str()).collect();
    assert_eq!(
        texts,
        [
            "The beach was a popular spot on a hot summer day.",
            "People were swimming in the ocean."
        ]
    );
    // The second segment claims to end at 9.9 s of 8.47 s of audio.
    assert_eq!(channel.segments[1].end, 8.47);
    assert_eq!(channel.segments[0].start, 0.0);
}

#[test]
fn mistral_segments_and_a_null_language() {
    let channel = parse_response(Dialect::Mistral, &read("mistral.json"), 4.0).unwrap();
    assert_eq!(channel.language, None);
    assert_eq!(channel.segments.len(), 2);
    assert_eq!(
        channel.segments[1].text,
        "je vous appelle au sujet de ma commande."
    );
    assert_eq!(
        (channel.segments[1].start, channel.segments[1].end),
        (1.2, 3.9)
    );
}

#[test]
fn gladia_utterances_once_done_and_pending_before() {
    let channel = parse_response(Dialect::Gladia, &read("gladia_done.json"), 5.2).unwrap();
    assert_eq!(channel.language.as_deref(), Some("en"));
    assert_eq!(
        channel.text.as_deref(),
        Some("Your order will ship tomorrow. Anything else?")
    );
    assert_eq!(channel.segments.len(), 2);
    assert_eq!(
        parse_response(Dialect::Gladia, &read("gladia_processing.json"), 5.2),
        Err(ResponseError::Pending("processing".into()))
    );
    assert_eq!(
        parse_response(Dialect::Gladia, br#"{"status":"error"}"#, 5.2),
        Err(ResponseError::Failed("error".into()))
    );
}

#[test]
fn missing_and_malformed_fields_never_fail_the_parse() {
    let body = br#"{"segments":[{"text":"no times"},{"start":"x","end":1,"text":"bad start"},
        {"start":-3,"end":2,"text":"negative"},{"start":5,"end":4,"text":"reversed"},
        {"start":1,"end":2},{"start":1,"end":2,"text":"   "}], "language": 7}"#;
    let channel = parse_response(Dialect::OpenAi, body, 10.0).unwrap();
    let parsed: Vec<(&str, f64, f64)> = channel
        .segments
        .iter()
        .map(|s| (s.text.as_str(), s.start, s.end))
        .collect();
    assert_eq!(
        parsed,
        [
            ("no times", 0.0, 0.0),
            ("negative", 0.0, 2.0),
            ("reversed", 5.0, 5.0)
        ]
    );
    assert_eq!(channel.language, None);
    assert!(matches!(
        parse_response(Dialect::OpenAi, b"<html>502</html>", 1.0),
        Err(ResponseError::NotJson(_))
    ));
    assert_eq!(
        parse_response(Dialect::Mistral, b"[1,2]", 1.0),
        Err(ResponseError::NotAnObject)
    );
}
