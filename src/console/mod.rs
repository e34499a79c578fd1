//! The clients' console: a page served on the admin address at `/`, made of
//! static files compiled into the binary (no build toolchain), that works
//! through the `/v1/` JSON API with the session cookie and its CSRF header.
//!
//! The API enforces every role; the page only hides what the signed-in role
//! cannot do, from the operations `GET /v1/session` lists.
//!
//! Every answer carries a Content-Security-Policy that allows scripts, styles,
//! media and requests from this origin only, and no inline script or style,
//! so markup injected into a page (a crafted name in a list) cannot run.

mod language;

use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

pub use language::{negotiate, Language};

/// Scripts, styles, audio and API calls from this origin only; no frames, no
/// plugins, forms only to this origin.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self'; media-src 'self'; connect-src 'self'; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const INDEX: &str = include_str!("assets/index.html");

/// The files under `/console/`, with their media types.
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/app.js"),
    ),
    (
        "style.css",
        "text/css; charset=utf-8",
        include_str!("assets/style.css"),
    ),
    (
        "strings/en.json",
        "application/json",
        include_str!("assets/strings/en.json"),
    ),
    (
        "strings/fr.json",
        "application/json",
        include_str!("assets/strings/fr.json"),
    ),
];

/// `GET /` (the page, in the language `Accept-Language` prefers) and
/// `GET /console/{file}`.
pub fn router() -> Router {
    Router::new()
        .route("/", get(index))
        .route("/console/{*file}", get(asset))
}

async fn index(headers: HeaderMap) -> Response {
    let accept = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("");
    let page = INDEX.replace("{{lang}}", negotiate(accept).tag());
    with_policy(
        "text/html; charset=utf-8",
        // A session's page is never served from a cache.
        "no-store",
        page,
    )
}

async fn asset(Path(file): Path<String>) -> Response {
    match ASSETS.iter().find(|(name, _, _)| *name == file) {
        Some((_, media_type, body)) => with_policy(media_type, "no-cache", *body),
        None => (StatusCode::NOT_FOUND, "no such file\n").into_response(),
    }
}

fn with_policy(media_type: &'static str, cache: &'static str, body: impl Into<String>) -> Response {
    let mut response = body.into().into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(media_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_languages_name_the_same_strings() {
        let keys = |text: &str| -> Vec<String> {
            let table: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(text).expect("a JSON object of strings");
            assert!(table.values().all(|value| value.is_string()));
            table.keys().cloned().collect()
        };
        let english = keys(include_str!("assets/strings/en.json"));
        let french = keys(include_str!("assets/strings/fr.json"));
        assert_eq!(english, french);
    }

    #[test]
    fn every_string_the_page_uses_is_in_the_tables() {
        let table: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(include_str!("assets/strings/en.json")).expect("JSON");
        let sources = [INDEX, include_str!("assets/app.js")];
        let mut missing = Vec::new();
        for source in sources {
            for marker in ["data-text=\"", "t(\"", "data-placeholder=\""] {
                for (at, _) in source.match_indices(marker) {
                    // `t("…")` the function, not `request("…")`.
                    let previous = source[..at].chars().next_back().unwrap_or(' ');
                    if previous.is_alphanumeric() || previous == '_' || previous == '.' {
                        continue;
                    }
                    let rest = &source[at + marker.len()..];
                    let key = rest.split('"').next().unwrap_or_default();
                    if !table.contains_key(key) {
                        missing.push(key.to_string());
                    }
                }
            }
        }
        assert!(
            missing.is_empty(),
            "strings without a translation: {missing:?}"
        );
    }

    #[test]
    fn no_inline_script_or_style_in_the_page() {
        assert!(!INDEX.contains("<script>"));
        assert!(!INDEX.contains(" style="));
        let handler = INDEX.split(" on").skip(1).any(|rest| {
            let name = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
            name > 0 && rest.as_bytes().get(name) == Some(&b'=')
        });
        assert!(!handler, "an inline event handler");
        assert!(!INDEX.contains("<style"));
    }
}
